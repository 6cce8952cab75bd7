//! Host/target parity: the same sequence through the host runtime and a device must give the
//! same int8 logits (bit for bit) and the same structure, which both decode from them.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use super::device::{Device, DeviceOutput};
use super::qemu;
use crate::runtime::{self, Blob};

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum TargetKind {
    /// An emulated Cortex-M under QEMU.
    Qemu,
    /// A real board: flashed and started by `probe-rs run`, spoken to over a serial port.
    ProbeRs,
}

/// Where to run: the flags `verify` and `predict` share.
#[derive(Args, Debug, Clone)]
pub struct TargetArgs {
    /// Run on a device instead of the host runtime alone.
    #[arg(long, value_enum)]
    pub target: Option<TargetKind>,
    /// QEMU machine.
    #[arg(long, default_value = "mps2-an386")]
    pub machine: String,
    /// Firmware ELF (default for QEMU: the board crate's release build,
    /// `target/<triple>/release/qemu-<machine>`, looked for from the current directory up and
    /// beside this scnn build).
    #[arg(long)]
    pub firmware: Option<PathBuf>,
    /// probe-rs chip name (with --target probe-rs), e.g. nRF52840_xxAA.
    #[arg(long, required_if_eq("target", "probe-rs"))]
    pub chip: Option<String>,
    /// Serial port of the board's UART (with --target probe-rs), e.g. /dev/ttyACM0.
    #[arg(long, required_if_eq("target", "probe-rs"))]
    pub port: Option<PathBuf>,
}

impl TargetArgs {
    /// Starts the device and checks it embeds `blob`.
    pub fn start(&self, blob: &Blob) -> Result<Option<Device>> {
        let device = match self.target {
            None => return Ok(None),
            Some(TargetKind::Qemu) => self.start_qemu()?,
            Some(TargetKind::ProbeRs) => {
                let (Some(chip), Some(port), Some(firmware)) =
                    (&self.chip, &self.port, &self.firmware)
                else {
                    bail!("--target probe-rs needs --chip, --port and --firmware");
                };
                Device::start_probe_rs(chip, firmware, port)?
            }
        };
        let crc = blob.stored_crc();
        if device.model_crc != crc {
            bail!(
                "the firmware embeds a different model (blob CRC {:08x}) than {} (blob CRC {crc:08x}): rebuild the firmware with SCNN_MODEL set to that blob",
                device.model_crc,
                blob.name()
            );
        }
        Ok(Some(device))
    }

    /// Where the device runs, for reports: the QEMU machine or the probe-rs chip.
    pub fn place(&self) -> String {
        match (self.target, &self.chip) {
            (Some(TargetKind::ProbeRs), Some(chip)) => chip.clone(),
            _ => self.machine.clone(),
        }
    }

    fn start_qemu(&self) -> Result<Device> {
        let machine = qemu::machine(&self.machine)?;
        let firmware = match &self.firmware {
            Some(path) => path.clone(),
            None => default_firmware(machine)?,
        };
        Device::start_qemu(machine, &firmware)
    }
}

/// The board crate's release build for `machine`: `target/<triple>/release/qemu-<machine>`
/// under the repository, found from the current directory or any directory above it, or from
/// where this `scnn` binary was built.
fn default_firmware(machine: qemu::Machine) -> Result<PathBuf> {
    let triple = match machine.name {
        "mps2-an505" => "thumbv8m.main-none-eabihf",
        _ => "thumbv7em-none-eabihf",
    };
    let relative = PathBuf::from(format!("target/{triple}/release/qemu-{}", machine.name));
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(PathBuf::from));
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().map(PathBuf::from));
    }
    if let Some(found) = roots
        .iter()
        .map(|r| r.join(&relative))
        .find(|p| p.is_file())
    {
        return Ok(found);
    }
    bail!(
        "firmware {} not found in this directory, any above it, or beside this scnn build: build it with `cargo build --release` in boards/qemu-{}, or give --firmware",
        relative.display(),
        machine.name
    )
}

/// Runs a history on an items device and on the host; errors name the first difference.
pub fn compare_items(
    blob: &Blob,
    device: &mut Device,
    history: &crate::formats::histories::History,
) -> Result<DeviceOutput> {
    let name = &history.name;
    let host = runtime::scores(blob, &history.items, history.user)
        .with_context(|| format!("history `{name}`"))?;
    if host.raw.is_empty() {
        bail!("parity needs an int8 blob");
    }
    let got = device.recommend(&history.items, history.user)?;
    let crc = runtime::scores_crc(&host.raw);
    if got.scores_crc != Some(crc) {
        bail!(
            "history `{name}`: the device's scores (CRC {:08x}) differ from the host's (CRC {crc:08x})",
            got.scores_crc.unwrap_or(0)
        );
    }
    let want = runtime::top_items(&host.raw, &history.items, scnn::wire::TOP_ITEMS);
    if let Some(m) = (0..want.len().max(got.items.len())).find(|&m| want.get(m) != got.items.get(m))
    {
        bail!(
            "history `{name}`: item {m} is {:?} on the device, {:?} on the host",
            got.items.get(m),
            want.get(m)
        );
    }
    Ok(got)
}

/// Runs `sequence` on the device and the host; errors name the first difference.
pub fn compare(
    blob: &Blob,
    device: &mut Device,
    name: &str,
    sequence: &str,
) -> Result<DeviceOutput> {
    let host = runtime::predict(blob, sequence, scnn::decode::DEFAULT_THRESHOLD, true)?;
    let got = device.predict(sequence)?;
    let Some(host_logits) = host.layers_i8.last() else {
        bail!("parity needs an int8 blob")
    };
    let n = host.len;
    if got.len != n {
        bail!(
            "record `{name}`: device answered for {} positions, host {n}",
            got.len
        );
    }
    if device.app == scnn::blob::App::Protein {
        // The device keeps its best pair_len contacts and the CRC of its logits.
        let crc = runtime::logits_crc(host_logits, host.l, n);
        if got.logits_crc != Some(crc) {
            bail!(
                "record `{name}`: the device's logits (CRC {:08x}) differ from the host's (CRC {crc:08x})",
                got.logits_crc.unwrap_or(0)
            );
        }
        let want = runtime::top_contacts(host_logits, host.l, n, device.pair_len);
        if let Some(m) =
            (0..want.len().max(got.contacts.len())).find(|&m| want.get(m) != got.contacts.get(m))
        {
            bail!(
                "record `{name}`: contact {m} is {:?} on the device, {:?} on the host",
                got.contacts.get(m),
                want.get(m)
            );
        }
        return Ok(got);
    }
    let mut k = 0;
    for i in 0..n {
        for j in i..n {
            let h = host_logits[scnn::tri::tri_index(host.l, i, j)];
            if got.logits[k] != h {
                bail!("record `{name}`: int8 logit of pair ({i}, {j}) is {} on the device, {h} on the host", got.logits[k]);
            }
            k += 1;
        }
    }
    // The host decodes as the firmware was built to.
    let host_structure = match device.decoder {
        scnn::decode::Decoder::Greedy => host.structure.clone(),
        scnn::decode::Decoder::Nested => {
            let pairs = crate::nested::decode(
                &host.probs,
                &crate::commands::bases(name, sequence)?,
                scnn::decode::NestedScoring::DEFAULT,
            )?;
            crate::dataset::dot_bracket(n, &pairs).0
        }
    };
    if got.structure != host_structure {
        bail!(
            "record `{name}`: device structure {} differs from the host's {host_structure} ({} decoder)",
            got.structure,
            device.decoder.name()
        );
    }
    Ok(got)
}
