//! The one command that reproduces the shipped RNA model, `tools/models/rna-train.sh`, run
//! end to end on a tiny Rfam-like file with one step a stage: each stage starts from the one
//! before, the last two train on closed domains, the last with a family cap, the int8 blob is converted and scored on the
//! test split, and a second run finds every stage done and trains nothing again. A base stage
//! stopped after its first epoch, or after both but before its export, goes on from its
//! checkpoint for what is left of its two epochs. And the one command of the SCNN-against-CNN
//! comparison, `tools/models/rna-compare.sh`: every model and seed on one split, summarized.

mod common;

use common::{manifest, rfam_like, stderr, Dir};
use std::path::Path;
use std::process::{Command, Output};

fn report(dir: &Dir, name: &str) -> serde_json::Value {
    let path = dir.path(&format!("out/{name}-training.json"));
    serde_json::from_slice(&std::fs::read(&path).expect("stage report")).unwrap()
}

/// Runs the training script on `dir/rfam.fa` into `dir/out` with `extra` options for every
/// stage.
fn run_script(dir: &Dir, extra: &[&str]) -> Output {
    run_named_script(dir, "rna-train.sh", extra, &[])
}

/// Runs `tools/models/SCRIPT` on `dir/rfam.fa` into `dir/out` with `extra` options for every
/// `scnn train` and `env` besides.
fn run_named_script(dir: &Dir, script: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_scnn")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("sh")
        .arg(manifest(&format!("models/{script}")))
        .args(extra)
        .args(["--validation", "0.2", "--test", "0.2"])
        .current_dir(manifest(".."))
        .env("PATH", &path)
        .env("DATA", dir.s("rfam.fa"))
        .env("OUT", dir.s("out"))
        // The shipped 256-sequence calibration takes minutes; the training split serves.
        .env("CAL", dir.s("out/splits/train.fa"))
        .envs(env.iter().copied())
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

/// The report of the comparison's run `name`.
fn run_report(dir: &Dir, name: &str) -> serde_json::Value {
    let path = dir.path(&format!("out/{name}.json"));
    serde_json::from_slice(&std::fs::read(&path).expect("run report")).unwrap()
}

#[test]
fn the_comparison_script_trains_every_model_and_seed_on_one_split_and_summarizes_them() {
    let dir = Dir::new();
    std::fs::write(dir.path("rfam.fa"), rfam_like(13)).unwrap();
    let run = || {
        run_named_script(
            &dir,
            "rna-compare.sh",
            &["--max-steps", "1"],
            &[("SEEDS", "1 2")],
        )
    };
    let out = run();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut splits = Vec::new();
    for seed in [1, 2] {
        let [scnn, cnn, wide] =
            ["scnn24", "cnn24", "scnn29"].map(|m| run_report(&dir, &format!("{m}-s{seed}")));
        assert_eq!(
            [&scnn, &cnn, &wide].map(|r| r["options"]["dense"].as_bool()),
            [Some(false), Some(true), Some(false)]
        );
        let parameters = [&scnn, &cnn, &wide].map(|r| r["trainable_parameters"].as_u64().unwrap());
        assert!(
            parameters[0] < parameters[2] && parameters[2] < parameters[1],
            "{parameters:?}"
        );
        for r in [&scnn, &cnn, &wide] {
            assert_eq!(r["options"]["seed"], seed);
            assert_eq!(r["options"]["family_cap"], 10);
            assert_eq!(r["decoder"], "nested");
            assert_eq!(r["split"]["seed"], 1);
            splits.push(r["split"].clone());
        }
    }
    // The same counts held out everywhere (cli_evaluate.rs checks the sequences themselves).
    assert!(splits.iter().all(|s| *s == splits[0]), "{splits:?}");
    let summary = std::fs::read_to_string(dir.path("out/summary.tsv")).unwrap();
    let lines: Vec<&str> = summary.lines().collect();
    assert_eq!(lines.len(), 7, "{summary}");
    // Each run's line holds its report's numbers.
    for line in &lines[1..] {
        let fields: Vec<&str> = line.split('\t').collect();
        let r = run_report(&dir, &format!("{}-s{}", fields[0], fields[1]));
        assert_eq!(fields[2], r["trainable_parameters"].to_string(), "{line}");
        for (field, key) in [(fields[3], "validation_f1"), (fields[4], "test_f1")] {
            assert_eq!(field.parse::<f64>().ok(), r[key].as_f64(), "{line}: {key}");
        }
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("2 seeds").count(), 3, "{stdout}");

    let before = std::fs::metadata(dir.path("out/scnn29-s2.safetensors"))
        .unwrap()
        .modified()
        .unwrap();
    let again = run();
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(!stderr(&again).contains("step "), "{}", stderr(&again));
    let after = std::fs::metadata(dir.path("out/scnn29-s2.safetensors"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after, "a finished run trained again");
}

#[test]
fn the_comparison_summary_reads_each_reports_own_numbers_and_their_spread() {
    // Finished runs (weights and report present) are only summarized: reports written as
    // `scnn train` writes them, with an epoch's F1 unlike the kept one.
    let dir = Dir::new();
    std::fs::create_dir(dir.path("out")).unwrap();
    for (model, parameters, scores) in [
        ("scnn24", 10, [(0.5, 0.6), (0.7, 0.6)]),
        ("cnn24", 20, [(0.4, 0.1), (0.4, 0.3)]),
        ("scnn29", 30, [(0.2, 0.2), (0.3, 0.2)]),
    ] {
        for (seed, (validation, test)) in [1, 2].into_iter().zip(scores) {
            let report = serde_json::json!({
                "epochs": [{ "epoch": 1, "validation_f1": 0.99 }],
                "tuned": { "test_f1": 0.98, "validation_f1": 0.98 },
                "test_f1": test,
                "trainable_parameters": parameters,
                "validation_f1": validation,
            });
            let name = format!("out/{model}-s{seed}");
            let text = serde_json::to_string_pretty(&report).unwrap();
            std::fs::write(dir.path(&format!("{name}.json")), text).unwrap();
            std::fs::write(dir.path(&format!("{name}.safetensors")), b"").unwrap();
        }
    }
    let out = run_named_script(&dir, "rna-compare.sh", &[], &[("SEEDS", "1 2")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "cnn24   seed 2       20 parameters  validation 0.4000  test 0.3000",
        // The sample standard deviation: |a − b| / √2 for two seeds.
        "scnn24  2 seeds  validation 0.6000 ± 0.1414  test 0.6000 ± 0.0000",
        "cnn24   2 seeds  validation 0.4000 ± 0.0000  test 0.2000 ± 0.1414",
        "scnn29  2 seeds  validation 0.2500 ± 0.0707  test 0.2000 ± 0.0000",
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line}\n{stdout}");
    }
    let summary = std::fs::read_to_string(dir.path("out/summary.tsv")).unwrap();
    assert!(summary.contains("scnn29\t1\t30\t0.2\t0.2\n"), "{summary}");

    // A report without its numbers is an error, and no summary is left half written.
    std::fs::remove_file(dir.path("out/summary.tsv")).unwrap();
    let broken = serde_json::json!({ "trainable_parameters": 10 });
    let text = serde_json::to_string_pretty(&broken).unwrap();
    std::fs::write(dir.path("out/cnn24-s2.json"), text).unwrap();
    let out = run_named_script(&dir, "rna-compare.sh", &[], &[("SEEDS", "1 2")]);
    common::assert_fails(&out, &["cnn24-s2.json has no validation_f1"]);
    assert!(!dir.path("out/summary.tsv").exists());
    assert!(!dir.path("out/summary.tsv.part").exists());
}
