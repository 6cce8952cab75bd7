//! The one command that reproduces the shipped RNA model, `tools/models/rna-train.sh`, run
//! end to end on a tiny Rfam-like file with one step a stage: each stage starts from the one
//! before, the last trains on closed domains, the int8 blob is converted and scored on the
//! test split, and a second run finds every stage done and trains nothing again.

mod common;

use common::{manifest, rfam_like, stderr, Dir};
use std::path::Path;
use std::process::{Command, Output};

fn report(dir: &Dir, name: &str) -> serde_json::Value {
    let path = dir.path(&format!("out/{name}-training.json"));
    serde_json::from_slice(&std::fs::read(&path).expect("stage report")).unwrap()
}

#[test]
fn the_rna_training_script_chains_its_stages_converts_and_resumes() {
    let dir = Dir::new();
    std::fs::write(dir.path("rfam.fa"), rfam_like(11)).unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_scnn")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = || -> Output {
        Command::new("sh")
            .arg(manifest("models/rna-train.sh"))
            .args(["--max-steps", "1", "--validation", "0.2", "--test", "0.2"])
            .current_dir(manifest(".."))
            .env("PATH", &path)
            .env("DATA", dir.s("rfam.fa"))
            .env("OUT", dir.s("out"))
            // The shipped 256-sequence calibration takes minutes; the training split serves.
            .env("CAL", dir.s("out/splits/train.fa"))
            .output()
            .expect("run sh")
    };

    let out = run();
    assert!(out.status.success(), "{}", stderr(&out));
    let (base, first, last) = (
        report(&dir, "base"),
        report(&dir, "first-ft"),
        report(&dir, "rna"),
    );
    assert!(base["options"]["init"].is_null(), "{base}");
    let init = |r: &serde_json::Value| r["options"]["init"].as_str().unwrap_or("").to_string();
    assert!(init(&first).ends_with("out/base.safetensors"), "{first}");
    assert!(init(&last).ends_with("out/first-ft.safetensors"), "{last}");
    assert_eq!(first["decoder"], "nested");
    assert_eq!(last["decoder"], "nested");
    assert!(
        last["split"]["train_domains"]["sequences"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(base["split"]["train_domains"].is_null());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("nested decoder") && stdout.contains("mean pair F1"),
        "{stdout}"
    );
    assert!(dir.path("out/rna.scnn").is_file());

    let modified = |name: &str| {
        std::fs::metadata(dir.path(&format!("out/{name}")))
            .unwrap()
            .modified()
            .unwrap()
    };
    let outputs = [
        "base.safetensors",
        "first-ft.safetensors",
        "rna.safetensors",
        "rna.scnn",
    ];
    let before = outputs.map(modified);
    let again = run();
    assert!(again.status.success(), "{}", stderr(&again));
    let after = outputs.map(modified);
    assert_eq!(before, after, "a finished stage ran again");
    assert!(!stderr(&again).contains("step "), "{}", stderr(&again));
}
