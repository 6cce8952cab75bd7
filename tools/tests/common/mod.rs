//! What the CLI tests share: running the binary, paths in the tools crate, temporary
//! directories, and the check that a command failed the way every command must.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `scnn` binary.
pub fn scnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scnn"))
        .args(args)
        .output()
        .expect("run scnn")
}

/// A path inside the tools crate.
pub fn manifest(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .to_string_lossy()
        .into_owned()
}

/// What a command wrote to standard error.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts failure with exit code 1 and one `error:` line containing every fragment.
pub fn assert_fails(out: &Output, fragments: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "expected exit 1, stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for fragment in fragments {
        assert!(err.contains(fragment), "`{fragment}` missing from: {err}");
    }
}

/// `n` bases from a small linear congruential generator, so every record differs.
pub fn random_bases(n: usize, state: &mut u64) -> String {
    (0..n)
        .map(|_| {
            *state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            b"ACGU"[(*state >> 62) as usize] as char
        })
        .collect()
}

/// A tiny Rfam-like FASTA with dot-brackets: ten families (`RF00000`…), each with two
/// 40-base hairpins and one 150-base sequence holding one closed 50-base stretch at 11..=60
/// (1-based) with a stem at its ends, so training with `--domains` has domains to take.
pub fn rfam_like(seed: u64) -> String {
    let mut state = seed;
    let mut fa = String::new();
    for family in 0..10 {
        let acc = format!("RF{family:05}");
        for k in 0..2 {
            let seq = random_bases(40, &mut state);
            fa += &format!(
                ">{acc}|f{family}|short{k}\n{seq}\n((((....)))){}\n",
                ".".repeat(28)
            );
        }
        let seq = random_bases(150, &mut state);
        let structure = format!(
            "{}(((({})))){}",
            ".".repeat(10),
            ".".repeat(42),
            ".".repeat(90)
        );
        fa += &format!(">{acc}|f{family}|long\n{seq}\n{structure}\n");
    }
    fa
}

/// A temporary directory.
pub struct Dir(tempfile::TempDir);

impl Dir {
    pub fn new() -> Self {
        Dir(tempfile::tempdir().unwrap())
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
    pub fn s(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }
    /// Names of the files in the directory.
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.0.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}
