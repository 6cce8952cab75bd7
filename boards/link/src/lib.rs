//! What every firmware's build script does: put the crate's `memory.x` on the linker path and
//! add the linker scripts (cortex-m-rt's and defmt's for every binary, embedded-test's for the
//! on-target tests).
//!
//! A board whose part has more RAM than its `memory.x` grants (the QEMU boards cap theirs at
//! a small part's budget) lets `SCNN_RAM_KIB` raise the cap at build time, up to what the part
//! has: a bigger model then links, and its footprint says what it takes.

use std::path::PathBuf;

/// Call from `build.rs` of a crate with embedded-test suites.
pub fn configure() {
    configure_binaries();
    println!("cargo:rustc-link-arg-tests=-Tembedded-test.x");
}

/// Call from `build.rs` of a crate with binaries only.
pub fn configure_binaries() {
    place_memory_x(None);
}

/// [`configure`] for a board whose RAM cap `SCNN_RAM_KIB` may raise to `part_kib`.
pub fn configure_with_ram_up_to(part_kib: u32) {
    place_memory_x(Some(part_kib));
    println!("cargo:rustc-link-arg-tests=-Tembedded-test.x");
}

fn place_memory_x(part_kib: Option<u32>) {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-env-changed=SCNN_RAM_KIB");
    let memory = std::fs::read_to_string("memory.x").expect("the crate has a memory.x");
    let memory = match std::env::var("SCNN_RAM_KIB").ok().filter(|v| !v.is_empty()) {
        None => memory,
        Some(value) => {
            let Some(part_kib) = part_kib else {
                panic!("SCNN_RAM_KIB={value}: this board's memory.x is its part's whole RAM; it cannot be raised");
            };
            let kib: u32 = value
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("SCNN_RAM_KIB={value} is not a number of KiB"));
            if kib == 0 || kib > part_kib {
                panic!("SCNN_RAM_KIB={kib}: this part has {part_kib} KiB of RAM");
            }
            with_ram_length(&memory, kib)
        }
    };
    std::fs::write(out.join("memory.x"), memory).expect("OUT_DIR is writable");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rustc-link-arg=-Tdefmt.x");
}

/// `memory` with the `LENGTH` of its `RAM` region set to `kib` KiB.
fn with_ram_length(memory: &str, kib: u32) -> String {
    let mut found = false;
    let lines: Vec<String> = memory
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            match (trimmed.starts_with("RAM"), line.find("LENGTH")) {
                (true, Some(at)) => {
                    found = true;
                    format!("{}LENGTH = {kib}K", &line[..at])
                }
                _ => line.to_string(),
            }
        })
        .collect();
    assert!(found, "memory.x has no `RAM : ORIGIN = …, LENGTH = …` line");
    lines.join("\n") + "\n"
}
