//! QEMU's emulated Cortex-M machines, started the way every scnn tool starts them.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Result};

/// A QEMU machine and its core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Machine {
    pub name: &'static str,
    pub cpu: &'static str,
}

/// The machines the boards/ firmware supports.
pub const MACHINES: [Machine; 2] = [
    Machine {
        name: "mps2-an386",
        cpu: "cortex-m4",
    },
    Machine {
        name: "mps2-an505",
        cpu: "cortex-m33",
    },
];

pub fn machine(name: &str) -> Result<Machine> {
    match MACHINES.iter().find(|m| m.name == name) {
        Some(m) => Ok(*m),
        None => bail!(
            "unknown QEMU machine `{name}` (known: {})",
            MACHINES
                .iter()
                .map(|m| m.name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The QEMU executable.
pub const QEMU: &str = "qemu-system-arm";

/// `qemu-system-arm` for `elf` on `machine`: no display or monitor, semihosting on, and
/// `-icount shift=0` so that SysTick counts executed instructions.
pub fn command(machine: Machine, elf: &Path, semihosting_args: &[&str]) -> Command {
    let mut cmd = Command::new(QEMU);
    let mut semihosting = String::from("enable=on,target=native");
    for arg in semihosting_args {
        semihosting.push_str(",arg=");
        semihosting.push_str(arg);
    }
    cmd.args(["-machine", machine.name, "-cpu", machine.cpu])
        .args(["-display", "none", "-monitor", "none"])
        .args(["-icount", "shift=0"])
        .args(["-semihosting-config", &semihosting])
        .arg("-kernel")
        .arg(elf);
    cmd
}

/// Fails with a clear message when QEMU is not installed.
pub fn check_installed() -> Result<()> {
    match Command::new(QEMU).arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => bail!("{QEMU} not found: install it (Debian: apt-get install -y qemu-system-arm)"),
    }
}
