//! Running an embedded-test binary under QEMU, one QEMU per test, with libtest's output.

use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::elf::{self, TestCase};
use super::qemu::{self, Machine};

/// What one test did.
#[derive(Debug)]
pub enum Outcome {
    Passed,
    Failed { output: String },
    Ignored,
}

/// Runs one test: `run_addr <address>` on the semihosting command line; exit 0 passes.
pub fn run_one(machine: Machine, elf: &Path, case: &TestCase) -> Result<Outcome> {
    let address = case.address.to_string();
    let mut child = qemu::command(machine, elf, &["run_addr", &address])
        .args(["-serial", "none"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", qemu::QEMU))?;
    let deadline = Instant::now() + Duration::from_secs(case.timeout);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut output = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut output);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut output);
    }
    let passed = match status {
        Some(s) => s.success() != case.should_panic,
        None => {
            output.push_str(&format!("timed out after {} s\n", case.timeout));
            false
        }
    };
    Ok(if passed {
        Outcome::Passed
    } else {
        if let Some(s) = status {
            output.push_str(&format!("qemu exit status: {s}\n"));
        }
        Outcome::Failed { output }
    })
}

/// Runs every test whose name contains `filter`, printing as libtest does. Returns whether
/// all passed.
pub fn run_all(machine: Machine, elf: &Path, filter: Option<&str>) -> Result<bool> {
    qemu::check_installed()?;
    let started = Instant::now();
    let all = elf::tests(elf)?;
    let cases: Vec<&TestCase> = all
        .iter()
        .filter(|c| filter.is_none_or(|f| c.name.contains(f)))
        .collect();
    let filtered = all.len() - cases.len();
    outln!()?;
    outln!(
        "running {} tests ({} on {})",
        cases.len(),
        elf.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        machine.name
    )?;
    let (mut passed, mut ignored) = (0, 0);
    let mut failures = Vec::new();
    for case in cases {
        let outcome = if case.ignored {
            Outcome::Ignored
        } else {
            run_one(machine, elf, case)?
        };
        match outcome {
            Outcome::Passed => {
                passed += 1;
                outln!("test {} ... ok", case.name)?;
            }
            Outcome::Ignored => {
                ignored += 1;
                outln!("test {} ... ignored", case.name)?;
            }
            Outcome::Failed { output } => {
                outln!("test {} ... FAILED", case.name)?;
                failures.push((case.name.clone(), output));
            }
        }
    }
    if !failures.is_empty() {
        outln!()?;
        outln!("failures:")?;
        for (name, output) in &failures {
            outln!()?;
            outln!("---- {name} ----")?;
            out!("{output}")?;
        }
        outln!()?;
        outln!("failures:")?;
        for (name, _) in &failures {
            outln!("    {name}")?;
        }
    }
    outln!()?;
    outln!(
        "test result: {}. {} passed; {} failed; {} ignored; 0 measured; {} filtered out; finished in {:.2}s",
        if failures.is_empty() { "ok" } else { "FAILED" },
        passed,
        failures.len(),
        ignored,
        filtered,
        started.elapsed().as_secs_f64()
    )?;
    outln!()?;
    Ok(failures.is_empty())
}
