//! `scnn train --task items` end to end on a small synthetic interaction file: the report's
//! metrics, and the same metrics from `scnn evaluate` on the converted f32 blob (the runtime
//! scores exactly as the trainer's network does), the int8 blob close behind.

use std::path::Path;
use std::process::{Command, Output};

fn scnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scnn"))
        .args(args)
        .output()
        .expect("run scnn")
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// 80 users, 40 items: user `u` watches items `u, u + 3, u + 6, …` (mod 40) in time order, so
/// the next items follow from the last few.
fn interactions(path: &Path) {
    let mut text = String::from("user_id:token\titem_id:token\trating:float\ttimestamp:float\n");
    for u in 0..80 {
        for k in 0..14 {
            let item = (u + 3 * k) % 40 + 1;
            text.push_str(&format!("u{u}\t{item}\t4\t{}\n", 1000 * k + u));
        }
    }
    std::fs::write(path, text).unwrap();
}

/// `scnn train --task items` on the toy interactions in `dir`, into `dir/w.safetensors`,
/// with `options`.
fn train_toy(dir: &Path, options: &[&str]) -> Output {
    interactions(&dir.join("toy.inter"));
    let (data, out) = (dir.join("toy.inter"), dir.join("w.safetensors"));
    let mut args = vec!["train", "--task", "items", "--data"];
    let (data, out) = (data.to_string_lossy(), out.to_string_lossy());
    args.extend([data.as_ref(), "-o", out.as_ref()]);
    args.extend_from_slice(options);
    scnn(&args)
}

#[test]
fn a_trained_recommender_scores_the_same_in_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    ok(&train_toy(
        dir.path(),
        &[
            "--epochs",
            "3",
            "--width",
            "8",
            "--dim",
            "8",
            "--fc",
            "16",
            "--batch",
            "64",
            "--learning-rate",
            "0.01",
            "--splits",
            &p("splits"),
        ],
    ));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p("w.json")).unwrap()).unwrap();
    assert_eq!(report["model"], "scosrec");
    assert_eq!(
        (report["items"].as_u64(), report["users"].as_u64()),
        (Some(40), Some(80))
    );
    assert_eq!(report["epochs"].as_array().unwrap().len(), 3);
    let test_map = report["test"]["map"].as_f64().unwrap();
    // The pattern is learnable: well above a random ranking of ~37 candidates.
    assert!(test_map > 0.15, "test MAP {test_map}");

    ok(&scnn(&[
        "convert",
        &p("w.safetensors"),
        "--precision",
        "f32",
        "-o",
        &p("f32.scnn"),
    ]));
    ok(&scnn(&[
        "convert",
        &p("w.safetensors"),
        "--calibrate",
        &p("splits/validation.tsv"),
        "-o",
        &p("int8.scnn"),
    ]));
    let evaluate = |blob: &str| -> serde_json::Value {
        let out = ok(&scnn(&[
            "evaluate",
            &p(blob),
            "--data",
            &p("toy.inter"),
            "--json",
        ]));
        serde_json::from_str(&out).unwrap()
    };
    let f32 = evaluate("f32.scnn");
    let map = |v: &serde_json::Value, split: &str| v[split]["map"].as_f64().unwrap();
    assert!((map(&f32, "test") - test_map).abs() < 1e-6, "{f32}");
    assert!((map(&f32, "validation") - report["validation"]["map"].as_f64().unwrap()).abs() < 1e-6);
    let int8 = evaluate("int8.scnn");
    assert!(
        (map(&int8, "test") - test_map).abs() < 0.1 * test_map,
        "int8 test MAP {} against {test_map}",
        map(&int8, "test")
    );

    // One history named with the data's ids: the best items, the history left out.
    let out = ok(&scnn(&[
        "predict",
        &p("int8.scnn"),
        "--user",
        "u7",
        "--history",
        "8,11,14",
        "--ids",
        &p("w.ids.json"),
        "--top",
        "10",
        "--json",
    ]));
    let ranking: serde_json::Value = serde_json::from_str(&out).unwrap();
    let items: Vec<&str> = ranking["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    let scores: Vec<f64> = ranking["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_f64().unwrap())
        .collect();
    assert_eq!(items.len(), 10);
    assert!(
        items.iter().all(|i| !["8", "11", "14"].contains(i)),
        "{items:?}"
    );
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    // The full ranking when asked for more than there are.
    let all = ok(&scnn(&[
        "predict",
        &p("int8.scnn"),
        "--user",
        "u7",
        "--history",
        "8",
        "--ids",
        &p("w.ids.json"),
        "--top",
        "1000",
    ]));
    assert_eq!(all.lines().count(), 39);
    let unknown = scnn(&[
        "predict",
        &p("int8.scnn"),
        "--user",
        "nobody",
        "--history",
        "8",
        "--ids",
        &p("w.ids.json"),
    ]);
    assert!(String::from_utf8_lossy(&unknown.stderr)
        .contains("user `nobody` is not one of the model's 80 users"));

    // A blob of other data is refused, saying why.
    let other = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/items.scnn");
    let wrong = scnn(&[
        "evaluate",
        &other.to_string_lossy(),
        "--data",
        &p("toy.inter"),
    ]);
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("not the data it was trained on"));
    assert!(!wrong.status.success());
}

#[test]
fn a_run_that_fails_at_its_end_leaves_none_of_its_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    // The report goes to a directory that does not exist: the last file the run writes.
    let out = train_toy(
        dir.path(),
        &[
            "--epochs",
            "1",
            "--width",
            "4",
            "--dim",
            "4",
            "--fc",
            "4",
            "--splits",
            &p("splits"),
            "--report",
            &p("missing/report.json"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("report.json"), "{stderr}");
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["toy.inter"], "a failed run left files behind");
}
