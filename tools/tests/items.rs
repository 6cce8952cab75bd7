//! Recommendation models end to end on the host: `scnn random --app items`, `scnn convert`
//! to int8 and f32, and the runtime's scores against the independent f64 reference
//! (`scnn_tools::reference`), the firmware's streamed top list against a plain sort, and bad
//! histories named.

use std::path::Path;
use std::process::{Command, Output};

use scnn_tools::formats::histories;
use scnn_tools::reference;
use scnn_tools::runtime::{self, Blob};
use scnn_tools::weights::FloatModel;

fn scnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scnn"))
        .args(args)
        .output()
        .expect("run scnn")
}

fn ok(output: Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

struct Made {
    _dir: tempfile::TempDir,
    weights: String,
    histories: String,
    int8: String,
    f32: String,
}

fn make(dir: tempfile::TempDir) -> Made {
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let (weights, histories, int8, f32) = (
        path("w.safetensors"),
        path("h.tsv"),
        path("m.scnn"),
        path("m32.scnn"),
    );
    ok(scnn(&[
        "random",
        "--app",
        "items",
        "--width",
        "8",
        "--items",
        "200",
        "--users",
        "30",
        "--seed",
        "3",
        "-o",
        &weights,
        "--sequences",
        &histories,
        "--count",
        "48",
    ]));
    ok(scnn(&[
        "convert",
        &weights,
        "--calibrate",
        &histories,
        "-o",
        &int8,
    ]));
    ok(scnn(&[
        "convert",
        &weights,
        "--precision",
        "f32",
        "-o",
        &f32,
    ]));
    Made {
        _dir: dir,
        weights,
        histories,
        int8,
        f32,
    }
}

fn rank(scores: &[f64], history: &[u16], k: usize) -> Vec<usize> {
    let mut items: Vec<usize> = (0..scores.len())
        .filter(|&i| !history.contains(&(i as u16)))
        .collect();
    items.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    items.truncate(k);
    items
}

#[test]
fn converted_items_models_score_like_the_float_reference() {
    let made = make(tempfile::tempdir().unwrap());
    let model = FloatModel::load(Path::new(&made.weights), false).unwrap();
    let (int8, f32) = (
        Blob::read(Path::new(&made.int8)).unwrap(),
        Blob::read(Path::new(&made.f32)).unwrap(),
    );
    let all = histories::read(Path::new(&made.histories)).unwrap();
    let (mut f32_err, mut int8_err, mut spread, mut overlap) = (0f64, 0f64, 0f64, 0usize);
    for h in &all {
        let float = reference::forward_side(&model, &h.items, h.user.map(usize::from));
        let want = float.head.last().unwrap();
        assert_eq!(want.len(), 200);
        let got32 = runtime::scores(&f32, &h.items, h.user).unwrap();
        let got8 = runtime::scores(&int8, &h.items, h.user).unwrap();
        for ((w, a), b) in want.iter().zip(&got32.real).zip(&got8.real) {
            f32_err = f32_err.max((w - a).abs());
            int8_err = int8_err.max((w - b).abs());
        }
        let mean = want.iter().sum::<f64>() / want.len() as f64;
        spread += (want.iter().map(|w| (w - mean).powi(2)).sum::<f64>() / want.len() as f64).sqrt();
        let top_float = rank(want, &h.items, 10);
        let top_int8 = rank(&got8.real, &h.items, 10);
        overlap += top_int8.iter().filter(|i| top_float.contains(i)).count();

        // The firmware's streamed list equals a plain sort of the int32 scores.
        let mut top = scnn::apps::items::TopItems::<10>::new();
        for (item, &score) in got8.raw.iter().enumerate() {
            if !h.items.contains(&(item as u16)) {
                top.offer(scnn::apps::items::ItemScore {
                    item: item as u16,
                    score,
                });
            }
        }
        assert_eq!(top.as_slice(), runtime::top_items(&got8.raw, &h.items, 10));
    }
    let spread = spread / all.len() as f64;
    let overlap = overlap as f64 / (10 * all.len()) as f64;
    eprintln!(
        "items: f32 max |Δ| {f32_err:.2e}, int8 max |Δ| {int8_err:.3} (score spread {spread:.3}), \
         int8 top-10 overlap {overlap:.2}"
    );
    assert!(
        f32_err < 1e-4 * spread.max(1.0),
        "f32 blob off by {f32_err}"
    );
    assert!(
        int8_err < 0.25 * spread,
        "int8 scores off by {int8_err} (spread {spread})"
    );
    assert!(
        overlap > 0.6,
        "int8 top-10 shares only {overlap:.2} with float"
    );
}

#[test]
fn bad_histories_are_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let made = make(tempfile::tempdir().unwrap());
    let out = dir.path().join("bad.scnn");
    let out_s = out.to_string_lossy().into_owned();
    for (text, message) in [
        (
            "name\tuser\titems\nu1\t3\t1 2 3 4\n",
            "history `u1`: 4 items; the model takes the last 5",
        ),
        (
            "name\tuser\titems\nu1\t3\t1 2 3 4 200\n",
            "item 200 is outside the model's 200 items",
        ),
        (
            "name\tuser\titems\nu1\t30\t1 2 3 4 5\n",
            "user 30 is outside the model's 30 users",
        ),
        (
            "name\tuser\titems\nu1\t\t1 2 3 4 5\n",
            "history `u1`: the model needs a user",
        ),
        ("u1\t3\t1 2 3 4 5\n", "expected the header"),
    ] {
        let path = dir.path().join("h.tsv");
        std::fs::write(&path, text).unwrap();
        let output = scnn(&[
            "convert",
            &made.weights,
            "--calibrate",
            &path.to_string_lossy(),
            "-o",
            &out_s,
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{text:?} converted");
        assert!(stderr.contains(message), "{text:?}: {stderr}");
        assert!(!out.exists(), "{text:?} left a blob behind");
    }
}

#[test]
fn verify_and_predict_take_histories() {
    let made = make(tempfile::tempdir().unwrap());
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            &made.int8,
            "--weights",
            &made.weights,
            "--inputs",
            &made.histories,
            "--json",
        ];
        args.extend(extra);
        scnn(&args)
    };
    let passed = verify(&[]);
    assert!(
        passed.status.success(),
        "{}",
        String::from_utf8_lossy(&passed.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&passed.stdout).unwrap();
    assert_eq!(report["histories"], 48);
    assert!(report["top10_overlap"].as_f64().unwrap() > 0.8);
    // A limit the model cannot meet fails the run.
    let failed = verify(&["--min-top-overlap", "1.01"]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("beyond the limits"));

    let out = scnn(&[
        "predict",
        &made.int8,
        "--histories",
        &made.histories,
        "--top",
        "7",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let all = histories::read(Path::new(&made.histories)).unwrap();
    assert_eq!(text.lines().count(), all.len());
    for (line, history) in text.lines().zip(&all) {
        let (name, items) = line.split_once('\t').unwrap();
        assert_eq!(name, history.name);
        let items: Vec<u16> = items
            .split(' ')
            .map(|pair| pair.split_once(':').unwrap().0.parse().unwrap())
            .collect();
        assert_eq!(items.len(), 7);
        assert!(items.iter().all(|i| !history.items.contains(i)), "{line}");
    }
    let wrong = scnn(&["predict", &made.int8, "--seq", "ACGU"]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("give --histories"));
}
