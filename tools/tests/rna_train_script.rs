//! The one command that reproduces the shipped RNA model, `tools/models/rna-train.sh`, run
//! end to end on a tiny Rfam-like file with one step a stage: each stage starts from the one
//! before, the last two train on closed domains, the last with a family cap, the int8 blob is converted and scored on the
//! test split, and a second run finds every stage done and trains nothing again. A base stage
//! stopped after its first epoch, or after both but before its export, goes on from its
//! checkpoint for what is left of its two epochs.

mod common;

use common::{manifest, rfam_like, stderr, Dir};
use std::path::Path;
use std::process::{Command, Output};

fn report(dir: &Dir, name: &str) -> serde_json::Value {
    let path = dir.path(&format!("out/{name}-training.json"));
    serde_json::from_slice(&std::fs::read(&path).expect("stage report")).unwrap()
}

/// Runs the script on `dir/rfam.fa` into `dir/out` with `extra` options for every stage.
fn run_script(dir: &Dir, extra: &[&str]) -> Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_scnn")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("sh")
        .arg(manifest("models/rna-train.sh"))
        .args(extra)
        .args(["--validation", "0.2", "--test", "0.2"])
        .current_dir(manifest(".."))
        .env("PATH", &path)
        .env("DATA", dir.s("rfam.fa"))
        .env("OUT", dir.s("out"))
        // The shipped 256-sequence calibration takes minutes; the training split serves.
        .env("CAL", dir.s("out/splits/train.fa"))
        .output()
        .expect("run sh")
}

#[test]
fn the_rna_training_script_chains_its_stages_converts_and_resumes() {
    let dir = Dir::new();
    std::fs::write(dir.path("rfam.fa"), rfam_like(11)).unwrap();
    let run = || run_script(&dir, &["--max-steps", "1"]);

    let out = run();
    assert!(out.status.success(), "{}", stderr(&out));
    let (base, first, domains, last) = (
        report(&dir, "base"),
        report(&dir, "first-ft"),
        report(&dir, "domains"),
        report(&dir, "rna"),
    );
    assert!(base["options"]["init"].is_null(), "{base}");
    let init = |r: &serde_json::Value| r["options"]["init"].as_str().unwrap_or("").to_string();
    assert!(init(&first).ends_with("out/base.safetensors"), "{first}");
    assert!(
        init(&domains).ends_with("out/first-ft.safetensors"),
        "{domains}"
    );
    assert!(init(&last).ends_with("out/domains.safetensors"), "{last}");
    for stage in [&first, &domains, &last] {
        assert_eq!(stage["decoder"], "nested");
    }
    for stage in [&domains, &last] {
        let added = &stage["split"]["train_domains"]["sequences"];
        assert!(added.as_u64().unwrap() > 0, "{stage}");
    }
    assert_eq!(last["options"]["family_cap"], 10, "{last}");
    assert_eq!(domains["options"]["family_cap"], 0, "{domains}");
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
        "domains.safetensors",
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

/// Removes every stage's outputs and the later stages' checkpoints, as a stop during the base
/// stage would have left the folder, keeping the base checkpoint.
fn keep_only_the_base_checkpoint(dir: &Dir) {
    for name in ["base", "first-ft", "domains", "rna"] {
        for file in [
            format!("out/{name}.safetensors"),
            format!("out/{name}-training.json"),
        ] {
            std::fs::remove_file(dir.path(&file)).unwrap();
        }
    }
    std::fs::remove_file(dir.path("out/rna.scnn")).unwrap();
    for name in ["first-ft", "domains", "rna"] {
        std::fs::remove_dir_all(dir.path(&format!("out/ckpt-{name}"))).unwrap();
    }
}

#[test]
fn a_stopped_base_stage_trains_only_what_is_left_of_its_two_epochs() {
    let dir = Dir::new();
    std::fs::write(dir.path("rfam.fa"), rfam_like(12)).unwrap();
    // One batch an epoch, and room in --max-steps for a third epoch the base stage must not take.
    let shape = ["--no-bucket", "--batch", "64", "--max-steps", "3"];

    // Stopped in its second epoch: --steps-per-run 1 checkpoints after epoch 1 and ends the run.
    let first = run_script(&dir, &[&shape[..], &["--steps-per-run", "1"]].concat());
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(report(&dir, "base")["epochs"].as_array().unwrap().len(), 1);
    keep_only_the_base_checkpoint(&dir);

    let resumed = run_script(&dir, &shape);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let base = report(&dir, "base");
    assert_eq!(base["resumed_after_epoch"], 1, "{base}");
    assert_eq!(base["steps_this_run"], 1, "{base}");
    assert_eq!(base["epochs"].as_array().unwrap().len(), 2, "{base}");
    assert!(dir.path("out/rna.scnn").is_file());

    // Stopped after both epochs but before the export: the best of them is written, untrained.
    let weights = std::fs::read(dir.path("out/base.safetensors")).unwrap();
    keep_only_the_base_checkpoint(&dir);
    let exported = run_script(&dir, &shape);
    assert!(exported.status.success(), "{}", stderr(&exported));
    let base = report(&dir, "base");
    assert_eq!(base["steps_this_run"], 0, "{base}");
    assert_eq!(base["epochs"].as_array().unwrap().len(), 2, "{base}");
    assert_eq!(
        std::fs::read(dir.path("out/base.safetensors")).unwrap(),
        weights
    );
}
