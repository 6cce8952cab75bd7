//! `scnn bench`: builds the benchmark firmware, runs it on QEMU's Cortex-M4F (mps2-an386)
//! with `-icount`, and writes executed instructions, activation RAM and stack to
//! `target/bench/report.json`, with a markdown table on stdout.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::output::write_atomic;
use crate::target::qemu;

/// CMSIS-NN's `arm_convolve_s8` on the same machine (arm-none-eabi-gcc 12.2 -O3, CMSIS-NN
/// v7.0.0-43, SMLAD path), the anchors the targets are set against.
const CMSIS_REF64: u64 = 21_940_000;
const CMSIS_REF32: u64 = 2_050_000;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A prebuilt benchmark firmware (default: build boards/bench).
    #[arg(long)]
    pub firmware: Option<PathBuf>,
    /// Where to write the JSON report (default `target/bench/report.json`, with
    /// `--portable` `target/bench/report-portable.json`).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Build the firmware without the SMLAD kernels (the `dsp` feature off): the portable
    /// kernels an M0+ runs, counted on the same M4F.
    #[arg(long)]
    pub portable: bool,
}

const KEYS: [&str; 18] = [
    "ref64.sym_instructions",
    "ref64.dense_instructions",
    "ref32.sym_instructions",
    "ref32.dense_instructions",
    "ref64_c8.sym_instructions",
    "ref64_c8.dense_instructions",
    "ref64_c32.sym_instructions",
    "ref64_c32.dense_instructions",
    "model.instructions",
    "model.probs_instructions",
    "model.sequence_length",
    "model.peak_activation_bytes",
    "model.stack_bytes",
    "model.full_map_instructions",
    "model.full_map_activation_bytes",
    "decode.greedy_instructions",
    "decode.nested_instructions",
    "decode.nested_table_bytes",
];

fn build(portable: bool) -> Result<PathBuf> {
    let dir = PathBuf::from("boards/bench");
    if !dir.join("Cargo.toml").exists() {
        bail!(
            "run `scnn bench` at the repository root (boards/bench not found), or pass --firmware"
        );
    }
    let kernels = if portable { "portable" } else { "SMLAD" };
    eprintln!("building the benchmark firmware (boards/bench, {kernels} kernels)");
    let mut cargo = Command::new("cargo");
    cargo.args(["build", "--release", "--bin", "bench"]);
    if portable {
        cargo.arg("--no-default-features");
    }
    let status = cargo
        .current_dir(&dir)
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("building the benchmark firmware failed");
    }
    Ok(PathBuf::from("target/thumbv7em-none-eabihf/release/bench"))
}

/// Parses the firmware's `bench <key> <value>` lines.
pub fn parse(stdout: &str) -> Result<BTreeMap<String, u64>> {
    let mut values = BTreeMap::new();
    for line in stdout.lines() {
        let mut fields = line.split_whitespace();
        if let (Some("bench"), Some(key), Some(value)) =
            (fields.next(), fields.next(), fields.next())
        {
            let value = value
                .parse::<u64>()
                .with_context(|| format!("bad benchmark line `{line}`"))?;
            values.insert(key.to_string(), value);
        }
    }
    if let Some(missing) = KEYS.iter().find(|k| !values.contains_key(**k)) {
        bail!(
            "the benchmark firmware reported no `{missing}` (output: {})",
            stdout.trim()
        );
    }
    Ok(values)
}

/// The streaming path's stages in run order, from the `model.profile.*` keys: the
/// per-position pair features, then each layer's conv (the last is the head) and residual add.
pub fn layers(values: &BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    if let Some(&v) = values.get("model.profile.pair_features") {
        out.push(("pair features".to_string(), v));
    }
    let convs = (0..).take_while(|t| values.contains_key(&format!("model.profile.conv.{t}")));
    let count = convs.count();
    for t in 0..count {
        let conv = values[&format!("model.profile.conv.{t}")];
        let name = if t + 1 == count {
            format!("head (conv {t})")
        } else {
            format!("conv {t}")
        };
        out.push((name, conv));
        if let Some(&add) = values.get(&format!("model.profile.add.{t}")) {
            out.push((format!("add {t}"), add));
        }
    }
    out
}

/// `{"ref64": {"sym_instructions": …}, …}` from the flat keys (the profile goes to
/// `model.layers`).
pub fn nest(values: &BTreeMap<String, u64>) -> serde_json::Value {
    let mut root = serde_json::Map::new();
    for (key, value) in values {
        if key.starts_with("model.profile.") {
            continue;
        }
        let (group, name) = key.split_once('.').unwrap_or(("other", key));
        let entry = root
            .entry(group.to_string())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let serde_json::Value::Object(map) = entry {
            map.insert(name.to_string(), (*value).into());
        }
    }
    serde_json::Value::Object(root)
}

pub fn run(args: &BenchArgs) -> Result<()> {
    qemu::check_installed()?;
    let elf = match &args.firmware {
        Some(path) => path.clone(),
        None => build(args.portable)?,
    };
    let output = args.output.clone().unwrap_or_else(|| {
        PathBuf::from(if args.portable {
            "target/bench/report-portable.json"
        } else {
            "target/bench/report.json"
        })
    });
    if !elf.exists() {
        bail!("firmware {} not found", elf.display());
    }
    let machine = qemu::machine("mps2-an386")?;
    let mut child = qemu::command(machine, &elf, &[])
        .args(["-serial", "null"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("cannot start qemu-system-arm")?;
    // The benchmark takes seconds; a hung firmware must not hang the tool.
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while child.try_wait()?.is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            bail!("the benchmark firmware did not finish within 300 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "the benchmark firmware failed ({}): {}",
            out.status,
            stdout.trim()
        );
    }
    let values = parse(&stdout)?;
    let mut report = nest(&values);
    let stages = layers(&values);
    report["model"]["layers"] = stages
        .iter()
        .map(|(name, instructions)| serde_json::json!({ "name": name, "instructions": instructions }))
        .collect();
    report["machine"] =
        "QEMU mps2-an386 (Cortex-M4F), -icount shift=0: SysTick counts executed instructions"
            .into();
    report["kernels"] = if args.portable { "portable" } else { "smlad" }.into();
    report["cmsis_nn_dense"] =
        serde_json::json!({ "ref64_instructions": CMSIS_REF64, "ref32_instructions": CMSIS_REF32 });
    if let Some(dir) = output.parent() {
        std::fs::create_dir_all(dir)?;
    }
    write_atomic(&output, serde_json::to_string_pretty(&report)?.as_bytes())?;

    let v = |k: &str| values.get(k).copied().unwrap_or(0);
    let ratio = |a: u64, b: u64| a as f64 / b.max(1) as f64;
    let m = |n: u64| format!("{:.2} M", n as f64 / 1e6);
    outln!("| benchmark (int8, 3×3) | symmetric | dense (ours) | sym / dense | CMSIS-NN dense | sym / CMSIS-NN |")?;
    outln!("|---|---|---|---|---|---|")?;
    for (name, key, cmsis) in [
        ("REF-64: 64×64, 16→16", "ref64", CMSIS_REF64),
        ("REF-32: 32×32, 8→8", "ref32", CMSIS_REF32),
    ] {
        let (sym, dense) = (
            v(&format!("{key}.sym_instructions")),
            v(&format!("{key}.dense_instructions")),
        );
        outln!(
            "| {name} | {} | {} | {:.3} | {} | {:.3} |",
            m(sym),
            m(dense),
            ratio(sym, dense),
            m(cmsis),
            ratio(sym, cmsis)
        )?;
    }
    outln!()?;
    outln!("Channel width on a 64×64 map (3×3, C → C): instructions per multiply-accumulate")?;
    outln!()?;
    outln!("| C | symmetric | per MAC | dense (ours) | per MAC |")?;
    outln!("|---|---|---|---|---|")?;
    for (c, key) in [(8u64, "ref64_c8"), (16, "ref64"), (32, "ref64_c32")] {
        let (sym, dense) = (
            v(&format!("{key}.sym_instructions")),
            v(&format!("{key}.dense_instructions")),
        );
        // Symmetric: the 2,080 pairs i <= j, 6 taps; dense: 4,096 pixels, 9 taps.
        let (sym_macs, dense_macs) = (2080 * 6 * c * c, 4096 * 9 * c * c);
        outln!(
            "| {c} | {} | {:.2} | {} | {:.2} |",
            m(sym),
            ratio(sym, sym_macs),
            m(dense),
            ratio(dense, dense_macs)
        )?;
    }
    outln!()?;
    outln!(
        "Example model, L = {}, a full-length sequence:",
        v("model.sequence_length")
    )?;
    outln!()?;
    outln!("| | row streaming | whole map |")?;
    outln!("|---|---|---|")?;
    outln!(
        "| instructions, int8 logits (the firmware's path) | {} | |",
        m(v("model.instructions"))
    )?;
    outln!(
        "| instructions with the f32 probability map | {} | {} |",
        m(v("model.probs_instructions")),
        m(v("model.full_map_instructions"))
    )?;
    outln!(
        "| peak activation RAM | {} bytes | {} bytes |",
        v("model.peak_activation_bytes"),
        v("model.full_map_activation_bytes")
    )?;
    outln!(
        "| peak stack (predict) | {} bytes | |",
        v("model.stack_bytes")
    )?;
    outln!(
        "| decoding the structure: greedy / nested (a {}-byte table) | {} / {} | |",
        v("decode.nested_table_bytes"),
        m(v("decode.greedy_instructions")),
        m(v("decode.nested_instructions"))
    )?;
    if !stages.is_empty() {
        let total: u64 = stages.iter().map(|(_, n)| n).sum();
        outln!()?;
        outln!("Where the streaming path's instructions go (each stage summed over rows):")?;
        outln!()?;
        outln!("| stage | instructions | share |")?;
        outln!("|---|---|---|")?;
        for (name, n) in &stages {
            outln!(
                "| {name} | {} | {:.1} % |",
                m(*n),
                100.0 * *n as f64 / total.max(1) as f64
            )?;
        }
    }
    eprintln!("wrote {}", output.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_keys_become_stages_in_run_order() {
        let stdout = "bench model.profile.pair_features 10\nbench model.profile.conv.0 100\n\
                      bench model.profile.conv.1 200\nbench model.profile.add.1 30\n\
                      bench model.profile.conv.2 40\nbench model.instructions 380\n";
        let mut values = BTreeMap::new();
        for line in stdout.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            values.insert(f[1].to_string(), f[2].parse().unwrap());
        }
        let stages = layers(&values);
        let names: Vec<&str> = stages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "pair features",
                "conv 0",
                "conv 1",
                "add 1",
                "head (conv 2)"
            ]
        );
        assert_eq!(stages.iter().map(|(_, n)| n).sum::<u64>(), 380);
        let nested = nest(&values);
        assert!(nested["model"].get("profile.conv.0").is_none());
        assert_eq!(nested["model"]["instructions"], 380);
    }
}
