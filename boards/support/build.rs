//! Picks the model the firmware embeds: the blob named by `SCNN_MODEL` at build time (an
//! absolute path, or relative to the repository root), else `tools/models/example.scnn`.
//! The blob is checked here with the runtime's own loader, so a corrupted or unsuitable blob
//! stops the build with a message naming the file and the problem; the firmware then reads
//! its sizes from it at compile time (`scnn::model::ModelInfo`). `SCNN_DECODER` picks an RNA
//! firmware's decoder: `greedy` (the default) or `nested`.

use std::path::{Path, PathBuf};

fn fail(path: &Path, problem: impl std::fmt::Display) -> ! {
    eprintln!("error: model blob {}: {problem}", path.display());
    std::process::exit(1);
}

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest.join("../..");
    println!("cargo:rerun-if-env-changed=SCNN_MODEL");
    let path = match std::env::var_os("SCNN_MODEL").filter(|p| !p.is_empty()) {
        Some(p) if Path::new(&p).is_absolute() => PathBuf::from(p),
        Some(p) => root.join(p),
        None => root.join("tools/models/example.scnn"),
    };
    println!("cargo:rerun-if-changed={}", path.display());
    let bytes = std::fs::read(&path).unwrap_or_else(|e| fail(&path, e));

    // The loader reads the blob in place, 4-byte aligned.
    let mut words = vec![0u32; bytes.len().div_ceil(4)];
    bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
    let aligned = &bytemuck::cast_slice::<u32, u8>(&words)[..bytes.len()];
    let model = match scnn::Model::<{ u16::MAX as usize }>::from_bytes(aligned) {
        Ok(model) => model,
        Err(e) => fail(&path, e),
    };
    if model.precision() != scnn::blob::Precision::Int8 {
        fail(
            &path,
            "the firmware runs int8 blobs; convert with `scnn convert --precision int8`",
        );
    }

    // The RNA decoder: `SCNN_DECODER` greedy (the default) or nested (a `u16` table over the
    // triangle in RAM: 16,512 bytes at L = 128).
    println!("cargo:rerun-if-env-changed=SCNN_DECODER");
    let decoder = match std::env::var("SCNN_DECODER").ok().filter(|d| !d.is_empty()) {
        None => "greedy".to_string(),
        Some(d) if d == "greedy" => d,
        Some(d) if d == "nested" => {
            if model.app() != scnn::blob::App::Rna {
                fail(
                    &path,
                    "SCNN_DECODER=nested decodes RNA structures, and this is not an RNA model",
                );
            }
            d
        }
        Some(d) => fail(
            &path,
            format!("SCNN_DECODER is `{d}`; it must be `greedy` or `nested`"),
        ),
    };
    println!("cargo:rustc-env=SCNN_DECODER_NAME={decoder}");

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("model.scnn");
    std::fs::write(&out, &bytes).unwrap_or_else(|e| fail(&out, e));
    println!("cargo:rustc-env=SCNN_MODEL_BLOB={}", out.display());
    println!("cargo:rustc-env=SCNN_MODEL_NAME={}", path.display());
}
