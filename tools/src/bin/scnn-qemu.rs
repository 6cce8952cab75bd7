//! The cargo runner of the QEMU boards: runs an embedded-test binary one QEMU per test with
//! libtest's output, or a firmware with its serial port on stdio.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use scnn_tools::target::{elf, qemu, tests};

#[derive(Parser, Debug)]
#[command(
    name = "scnn-qemu",
    about = "Run Cortex-M firmware and on-target tests under QEMU"
)]
struct Args {
    /// QEMU machine (mps2-an386, mps2-an505).
    #[arg(long)]
    machine: String,
    /// The ELF file (cargo passes it).
    elf: PathBuf,
    /// Only run tests whose name contains this (and other arguments cargo forwards).
    rest: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = (|| -> anyhow::Result<bool> {
        let machine = qemu::machine(&args.machine)?;
        if elf::has_tests(&args.elf)? {
            let filter = args
                .rest
                .iter()
                .find(|a| !a.starts_with('-'))
                .map(String::as_str);
            tests::run_all(machine, &args.elf, filter)
        } else {
            qemu::check_installed()?;
            let status = qemu::command(machine, &args.elf, &[])
                .args(["-serial", "stdio"])
                .status()?;
            Ok(status.success())
        }
    })();
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(101),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
