//! Host/target determinism on 1,000 generated sequences, edge cases included (all N, length
//! 1, length L, lower case, T for U): the firmware under QEMU must give bit-identical int8
//! logits and structures, within the 4 KiB stack budget.
//!
//! Needs qemu-system-arm and the release firmware (`cargo build --release` in
//! boards/qemu-mps2-an386), so `cargo test` leaves this target out (`test = false` in
//! Cargo.toml); `.ci/test` runs it by name: `cargo test --release -p scnn-tools --test
//! determinism`.

use std::path::Path;
use std::process::Command;

use scnn_tools::commands::example::Rng;

const L: usize = 128;
const COUNT: usize = 1000;
/// Worst-case stack of load and predict, the reliability budget.
const STACK_BUDGET: u64 = 4096;

fn sequences() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![
        ("all_n".into(), "N".repeat(L)),
        ("all_n_short".into(), "NNNNNNNNNN".into()),
        ("length_1".into(), "G".into()),
        ("length_l".into(), "GGGGAAAACCCCUUUU".repeat(L / 16)),
        (
            "lowercase".into(),
            "gggcgcaaaagcgcccaaugagcucaaagagcucau".into(),
        ),
        ("thymine".into(), "GGGTTTACCCAAAGGGTTTACCC".into()),
        ("mixed".into(), "AcGtNuacgtn".into()),
    ];
    let mut rng = Rng(0xD373_2026);
    let alphabet = [
        b'A', b'C', b'G', b'U', b'T', b'N', b'a', b'c', b'g', b'u', b't', b'n',
    ];
    while out.len() < COUNT {
        let n = out.len();
        // Mostly tRNA-like lengths, some anywhere in 1..=L.
        let len = if n.is_multiple_of(4) {
            1 + rng.below(L)
        } else {
            60 + rng.below(40)
        };
        // Every eighth sequence draws from the whole alphabet; the rest from ACGU.
        let pool = if n.is_multiple_of(8) {
            &alphabet[..]
        } else {
            &alphabet[..4]
        };
        let seq: String = (0..len)
            .map(|_| pool[rng.below(pool.len())] as char)
            .collect();
        out.push((format!("gen{n:04}"), seq));
    }
    out
}

#[test]
fn thousand_sequences_are_bit_identical_on_host_and_qemu() {
    let dir = tempfile::tempdir().unwrap();
    let fasta = dir.path().join("determinism.fa");
    let text: String = sequences()
        .iter()
        .map(|(name, seq)| format!(">{name}\n{seq}\n"))
        .collect();
    std::fs::write(&fasta, text).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO_BIN_EXE_scnn"))
        .current_dir(&root)
        .args([
            "verify",
            "tools/models/example.scnn",
            "--target",
            "qemu",
            "--json",
            "--inputs",
        ])
        .arg(&fasta)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "verify failed: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["sequences"], COUNT);
    assert_eq!(report["bit_identical"], true);
    let stack = report["stack_bytes_max"].as_u64().unwrap();
    println!(
        "{COUNT} sequences bit-identical; instructions min {} mean {} max {}; stack {stack} B",
        report["count_min"], report["count_mean"], report["count_max"]
    );
    assert!(stack > 0, "the stack was not measured");
    assert!(
        stack < STACK_BUDGET,
        "peak stack {stack} B is over the {STACK_BUDGET} B budget"
    );
}

#[test]
fn the_generated_set_has_the_edge_cases() {
    let set = sequences();
    assert_eq!(set.len(), COUNT);
    let has = |f: &dyn Fn(&str) -> bool| set.iter().any(|(_, s)| f(s));
    assert!(has(&|s| s.len() == 1));
    assert!(has(&|s| s.len() == L));
    assert!(has(&|s| s.chars().all(|c| c == 'N')));
    assert!(has(&|s| s.chars().all(|c| c.is_ascii_lowercase())));
    assert!(has(&|s| s.contains('T') || s.contains('t')));
    assert!(set.iter().all(|(_, s)| !s.is_empty() && s.len() <= L));
}
