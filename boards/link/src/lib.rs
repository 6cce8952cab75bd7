//! What every firmware's build script does: put the crate's `memory.x` on the linker path and
//! add the linker scripts (cortex-m-rt's and defmt's for every binary, embedded-test's for the
//! on-target tests).

use std::path::PathBuf;

/// Call from `build.rs` of a crate with embedded-test suites.
pub fn configure() {
    configure_binaries();
    println!("cargo:rustc-link-arg-tests=-Tembedded-test.x");
}

/// Call from `build.rs` of a crate with binaries only.
pub fn configure_binaries() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::copy("memory.x", out.join("memory.x")).expect("the crate has a memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rustc-link-arg=-Tdefmt.x");
}
