//! The `scnn` binary end to end: the shipped example, and bad input at every door (exit code,
//! a one-line message naming the problem, and no output file left behind).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

mod common;

use common::{assert_fails, manifest, scnn, stderr, Dir};
use scnn_tools::commands::example;
use scnn_tools::weights;

/// The shipped example sequences (the held-out tRNA test split).
fn example_records() -> Vec<scnn_tools::formats::fasta::Record> {
    scnn_tools::formats::fasta::read(Path::new(&manifest("data/example.fa"))).unwrap()
}

fn example_blob() -> String {
    manifest("models/example.scnn")
}

/// `scnn verify` of the shipped blob against its weights on its held-out tRNAs, plus `extra`.
fn verify_example(extra: &[&str]) -> Output {
    let (blob, weights, inputs) = (
        example_blob(),
        manifest("models/example.safetensors"),
        manifest("data/example.fa"),
    );
    let mut args = vec!["verify", &blob, "--weights", &weights, "--inputs", &inputs];
    args.extend_from_slice(extra);
    scnn(&args)
}

type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Writes the example weights with `edit` applied and returns the path.
fn weights_with(dir: &Dir, edit: impl FnOnce(&mut Tensors)) -> String {
    let mut tensors = example::tensors();
    edit(&mut tensors);
    let bytes = weights::to_bytes(&example::config(), &tensors).unwrap();
    std::fs::write(dir.path("w.safetensors"), bytes).unwrap();
    dir.s("w.safetensors")
}

/// Runs `convert` on edited weights and checks it fails with the fragments and writes nothing.
fn convert_fails(edit: impl FnOnce(&mut Tensors), fragments: &[&str]) {
    let dir = Dir::new();
    let w = weights_with(&dir, edit);
    let out = scnn(&[
        "convert",
        &w,
        "--calibrate",
        &manifest("data/calibration.fa"),
        "-o",
        &dir.s("m.scnn"),
    ]);
    assert_fails(&out, fragments);
    assert_eq!(
        dir.files(),
        vec!["w.safetensors".to_string()],
        "partial output left behind"
    );
}

#[test]
fn shipped_example_is_reproducible() {
    // Conversion and the golden outputs are deterministic, and the shipped blob and golden
    // file are what they produce from the shipped trained weights.
    let dir = Dir::new();
    let out = scnn(&[
        "example",
        "--weights",
        &manifest("models/example.safetensors"),
        "--calibration",
        &manifest("data/calibration.fa"),
        "--sequences",
        &manifest("data/example.fa"),
        "--model",
        &dir.s("example.scnn"),
        "--golden",
        &dir.s("golden.txt"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    for (fresh, shipped) in [
        ("example.scnn", "models/example.scnn"),
        ("golden.txt", "data/golden.txt"),
    ] {
        assert_eq!(
            std::fs::read(dir.path(fresh)).unwrap(),
            std::fs::read(manifest(shipped)).unwrap(),
            "{shipped} is stale: run `scnn example` at the repository root"
        );
    }
}

#[test]
fn verify_passes_on_the_example_within_tolerance() {
    // The shipped trained model on its held-out tRNAs: the int8 blob reaches pair F1 0.85 and
    // stays within one point of the float model (`--max-f1-drop`, default 0.01). A single pair
    // near the decision boundary moves by up to about 0.19 in probability, hence the limit.
    let out = verify_example(&["--max-abs-error", "0.3", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["sequences"], example_records().len());
    assert!(report["max_abs_error"].as_f64().unwrap() <= 0.3);
    assert!(report["mean_abs_error"].as_f64().unwrap() <= 0.01);
    assert!(report["f1_runtime_vs_float"].as_f64().unwrap() >= 0.9);
    let float = report["f1_float_vs_truth"].as_f64().unwrap();
    let int8 = report["f1_runtime_vs_truth"].as_f64().unwrap();
    assert!(
        int8 >= 0.85,
        "int8 pair F1 {int8} on the test split is below 0.85"
    );
    assert!(
        float - int8 <= 0.01,
        "int8 F1 {int8} is more than a point below float {float}"
    );
    // A tighter F1 limit than the model meets fails with a named reason.
    let out = scnn(&[
        "verify",
        &example_blob(),
        "--weights",
        &manifest("models/example.safetensors"),
        "--inputs",
        &manifest("data/example.fa"),
        "--max-abs-error",
        "0.3",
        "--max-f1-drop",
        "0.0001",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("drops from"), "{}", stderr(&out));
    // Tighter limits than the model meets make verify fail with a named reason.
    let out = scnn(&[
        "verify",
        &example_blob(),
        "--weights",
        &manifest("models/example.safetensors"),
        "--inputs",
        &manifest("data/example.fa"),
        "--max-abs-error",
        "0.000001",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("max abs error"), "{}", stderr(&out));
}

#[test]
fn f32_blob_matches_the_float_reference_closely() {
    let dir = Dir::new();
    let out = scnn(&[
        "convert",
        &manifest("models/example.safetensors"),
        "--precision",
        "f32",
        "-o",
        &dir.s("f.scnn"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = scnn(&[
        "verify",
        &dir.s("f.scnn"),
        "--weights",
        &manifest("models/example.safetensors"),
        "--inputs",
        &manifest("data/example.fa"),
        "--max-abs-error",
        "0.0001",
        "--min-f1",
        "0.99",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn verify_dump_writes_npy_per_layer() {
    let dir = Dir::new();
    let fasta = dir.path("one.fa");
    std::fs::write(&fasta, ">one\nGGGGAAAACCCC\n").unwrap();
    let out = scnn(&[
        "verify",
        &example_blob(),
        "--weights",
        &manifest("models/example.safetensors"),
        "--inputs",
        &fasta.to_string_lossy(),
        "--dump",
        &dir.s("dump"),
        "--min-f1",
        "0",
        "--max-abs-error",
        "1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let layer = std::fs::read(dir.path("dump/0000_one/layer1.npy")).unwrap();
    assert_eq!(&layer[..6], b"\x93NUMPY");
    // 12×12×8 int8 values after the header.
    assert!(layer.len() >= 12 * 12 * 8);
    assert!(dir.path("dump/params/layer2_multipliers.npy").exists());
    assert!(dir.path("dump/params/quant.json").exists());
    // An existing dump directory is refused, untouched.
    let out = scnn(&[
        "verify",
        &example_blob(),
        "--weights",
        &manifest("models/example.safetensors"),
        "--inputs",
        &fasta.to_string_lossy(),
        "--dump",
        &dir.s("dump"),
    ]);
    assert_fails(&out, &["already exists"]);
}

#[test]
fn inspect_reports_counts_as_json() {
    let out = scnn(&["inspect", &example_blob(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "format_version",
        "pair_len",
        "layers",
        "params_packed",
        "params_dense",
        "weight_bytes",
        "macs_sym",
        "macs_dense",
        "arena_bytes",
        "arena_bytes_dense",
    ] {
        assert!(r.get(key).is_some(), "missing key {key}");
    }
    // Format 4: the residual adds carry their rescale tables.
    assert_eq!(r["format_version"], 4);
    assert_eq!(r["pair_len"], 128);
    assert_eq!(r["layers"].as_array().unwrap().len(), 7);
    // Layer 4: 8 outputs × 8 inputs × 15 packed weights (5×5 triangle) + 8 biases.
    assert_eq!(r["layers"][4]["params_packed"], 8 * 8 * 15 + 8);
    assert_eq!(r["layers"][4]["params_dense"], 8 * 8 * 25 + 8);
    assert_eq!(r["layers"][4]["macs_sym"], 8256 * 8 * 8 * 15);
    assert_eq!(r["layers"][4]["macs_dense"], 128 * 128 * 8 * 8 * 25);
    // Arena: features (128·4) + 3 packed maps of 8 channels, int8.
    assert_eq!(r["arena_bytes"], 128 * 4 + 3 * 8256 * 8);
    assert_eq!(r["arena_bytes_dense"], 128 * 4 + 3 * 128 * 128 * 8);
    assert_eq!(r["input_kind"], "tokens");
    assert_eq!(r["vocab_size"], 5);
    assert_eq!(r["head_kind"], "pair_map");
    // Every buffer with the constant that sizes it: the stream arena is the features (128·4),
    // the rings (Σ rows · channels = 225 per position) and the 1×1 first layer's table over
    // token pairs (5 · 5 tokens × 8 channels).
    let buffer = |name: &str| {
        r["buffers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == name)
            .unwrap_or_else(|| panic!("no buffer {name}"))
            .clone()
    };
    assert_eq!(
        buffer("stream_arena")["len"],
        128 * 4 + 128 * 225 + 5 * 5 * 8
    );
    assert_eq!(buffer("stream_arena")["rust"], "INFO.stream_arena_len()");
    assert_eq!(buffer("scratch")["len"], 1081);
    assert_eq!(buffer("scratch")["element"], "i16");
    assert_eq!(buffer("logits")["len"], 8256);
    let blob = std::fs::read(example_blob()).unwrap();
    let stored = u32::from_le_bytes(blob[blob.len() - 4..].try_into().unwrap());
    assert_eq!(r["stored_crc"], format!("{stored:08x}"));
    let text = scnn(&["inspect", &example_blob()]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("MACs"));
}

#[test]
fn predict_prints_structures_json_and_png() {
    let dir = Dir::new();
    // A held-out tRNA: the trained model finds its 7-bp acceptor stem and T arm.
    let trna = "UAGAUUGAAGCCAGUAAUAGGGUAUUUAGCUGUUAACUAAAUUUUCGUAGGUUUAAUUCCUGCCAAUCUAG";
    let out = scnn(&["predict", &example_blob(), "--seq", trna]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], ">seq");
    assert_eq!(lines[2].len(), trna.len());
    assert!(lines[2].starts_with("((((((("), "{text}");
    assert!(lines[2].ends_with("))))))))))))."), "{text}");

    let out = scnn(&[
        "predict",
        &example_blob(),
        "--fasta",
        &manifest("data/example.fa"),
        "--json",
        "--png",
        &dir.s("map.png"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), example_records().len());
    for r in &records {
        let seq = r["sequence"].as_str().unwrap();
        let structure = r["structure"].as_str().unwrap();
        assert_eq!(seq.len(), structure.len());
        for pair in r["pairs"].as_array().unwrap() {
            let (i, j) = (
                pair[0].as_u64().unwrap() as usize,
                pair[1].as_u64().unwrap() as usize,
            );
            assert!(i < j && j - i >= 4);
            let (a, b) = (seq.as_bytes()[i], seq.as_bytes()[j]);
            assert!(matches!(
                (a, b),
                (b'A', b'U')
                    | (b'U', b'A')
                    | (b'G', b'C')
                    | (b'C', b'G')
                    | (b'G', b'U')
                    | (b'U', b'G')
            ));
        }
    }
    let first = &example_records()[0].name;
    let png = std::fs::read(dir.path(&format!("map_{first}.png"))).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(dir.files().len(), example_records().len());
}

#[test]
fn bad_weights_are_named() {
    convert_fails(
        |t| {
            t.remove("layers.1.weight");
        },
        &["missing tensor `layers.1.weight`"],
    );
    convert_fails(
        |t| {
            let v = t.remove("layers.2.weight").unwrap();
            t.insert("layers.2.weights".into(), v);
        },
        &["missing tensor `layers.2.weight`", "layers.2.weights"],
    );
    convert_fails(
        |t| {
            t.get_mut("layers.1.weight").unwrap().0 = vec![4, 8, 5, 5];
        },
        &["`layers.1.weight` has shape [4, 8, 5, 5]; expected [8, 4, 5, 5]"],
    );
    convert_fails(
        |t| {
            t.get_mut("layers.2.bias").unwrap().1[3] = f32::NAN;
        },
        &["`layers.2.bias`", "non-finite", "index 3"],
    );
    convert_fails(
        |t| {
            t.get_mut("layers.0.weight").unwrap().1[7] = f32::INFINITY;
        },
        &["`layers.0.weight`", "non-finite"],
    );
    convert_fails(
        |t| {
            t.get_mut("layers.1.weight").unwrap().1[25 * 5 + 1] += 0.5;
        },
        &[
            "`layers.1.weight` is not symmetric",
            "largest asymmetry 5.000e-1",
            "(channel 1 of layer 0's output) must be a symmetric kernel",
            "--symmetrize",
        ],
    );
    // The generating layer's pair rule: channel (G,C) and (C,G) must share their 1×1 weight.
    convert_fails(
        |t| {
            t.get_mut("layers.0.weight").unwrap().1[8 + 2 * 4 + 1] = 0.25;
        },
        &[
            "`layers.0.weight` is not symmetric",
            "input channel 14 (the outer product e_i[1]·e_j[2]) must mirror channel 17 (the outer product e_i[2]·e_j[1])",
        ],
    );
    convert_fails(
        |t| {
            t.insert("layers.9.weight".into(), (vec![1], vec![0.0]));
        },
        &["unexpected tensor `layers.9.weight`"],
    );
}

#[test]
fn symmetrize_averages_instead_of_failing() {
    let dir = Dir::new();
    let w = weights_with(&dir, |t| {
        t.get_mut("layers.1.weight").unwrap().1[25 * 5 + 1] += 0.5
    });
    let out = scnn(&[
        "convert",
        &w,
        "--symmetrize",
        "--calibrate",
        &manifest("data/calibration.fa"),
        "-o",
        &dir.s("m.scnn"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path("m.scnn").exists());
    // It says what it changed.
    assert!(
        stderr(&out).contains(
            "note: --symmetrize averaged `layers.1.weight` with its mirror: weights moved by up to 2.500e-1"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_files_and_arguments_are_named() {
    let dir = Dir::new();
    std::fs::write(dir.path("junk.safetensors"), b"not a tensor file").unwrap();
    let out = scnn(&[
        "convert",
        &dir.s("junk.safetensors"),
        "--calibrate",
        &manifest("data/calibration.fa"),
        "-o",
        &dir.s("m.scnn"),
    ]);
    assert_fails(&out, &["not a safetensors file"]);

    let bytes = safetensors::tensor::serialize(
        Vec::<(String, safetensors::tensor::TensorView<'_>)>::new(),
        None,
    )
    .unwrap();
    std::fs::write(dir.path("bare.safetensors"), bytes).unwrap();
    let out = scnn(&[
        "convert",
        &dir.s("bare.safetensors"),
        "-o",
        &dir.s("m.scnn"),
        "--precision",
        "f32",
    ]);
    assert_fails(&out, &["no `scnn` model description"]);

    let out = scnn(&[
        "convert",
        &manifest("models/example.safetensors"),
        "-o",
        &dir.s("m.scnn"),
    ]);
    assert_fails(&out, &["needs --calibrate"]);
    let out = scnn(&[
        "convert",
        &manifest("models/example.safetensors"),
        "--precision",
        "f32",
        "-o",
        &dir.s("m.bin"),
    ]);
    assert_fails(&out, &["must end in .scnn"]);
    let out = scnn(&[
        "convert",
        &manifest("models/example.safetensors"),
        "--precision",
        "f32",
        "-o",
        "/nonexistent-scnn-dir/m.scnn",
    ]);
    assert_fails(&out, &["cannot write /nonexistent-scnn-dir/m.scnn"]);
    assert!(!Path::new("/nonexistent-scnn-dir").exists());
    assert_eq!(
        dir.files(),
        vec![
            "bare.safetensors".to_string(),
            "junk.safetensors".to_string()
        ]
    );

    std::fs::write(dir.path("bad.fa"), ">ok\nACGU\n>broken\nACGUZ\n").unwrap();
    let out = scnn(&[
        "convert",
        &manifest("models/example.safetensors"),
        "--calibrate",
        &dir.s("bad.fa"),
        "-o",
        &dir.s("m.scnn"),
    ]);
    assert_fails(&out, &["record `broken`", "'Z'", "position 5"]);
    std::fs::write(dir.path("empty.fa"), "\n").unwrap();
    let out = scnn(&["predict", &example_blob(), "--fasta", &dir.s("empty.fa")]);
    assert_fails(&out, &["no FASTA records"]);
    std::fs::write(dir.path("unbalanced.fa"), ">u\nGGGAAACCC\n(((...))\n").unwrap();
    let out = scnn(&[
        "predict",
        &example_blob(),
        "--fasta",
        &dir.s("unbalanced.fa"),
    ]);
    assert_fails(&out, &["record `u`", "structure has 8 characters"]);
}

#[test]
fn bad_sequences_are_named_and_print_nothing() {
    let out = scnn(&["predict", &example_blob(), "--seq", "ACGUZ"]);
    assert_fails(&out, &["invalid character 'Z' at position 5"]);
    assert!(out.stdout.is_empty());
    let long = "A".repeat(129);
    let out = scnn(&["predict", &example_blob(), "--seq", &long]);
    assert_fails(
        &out,
        &["of length 129 is longer than the model's pair length 128"],
    );
    // A batch: a bad record is reported and skipped, the good ones are predicted (the one
    // documented exception to "no output from a failing command": they are independent).
    let dir = Dir::new();
    std::fs::write(
        dir.path("mixed.fa"),
        format!(">good\nGGGGAAAACCCC\n>toolong\n{long}\n>bad\nACGUZ\n>good2\nGCGCAAAGCGC\n"),
    )
    .unwrap();
    let out = scnn(&[
        "predict",
        &example_blob(),
        "--fasta",
        &dir.s("mixed.fa"),
        "--png",
        &dir.s("p.png"),
    ]);
    // The good records are answered; the run still exits 1, its last line saying why.
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("warning: skipped: record `toolong`: sequence of length 129"),
        "{err}"
    );
    assert!(
        err.contains("warning: skipped: record `bad`: invalid character 'Z'"),
        "{err}"
    );
    assert_eq!(
        err.lines().last(),
        Some("error: 2 of 4 records skipped (see the warnings above)")
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with('>'))
            .collect::<Vec<_>>(),
        [">good", ">good2"]
    );
    assert_eq!(dir.files(), ["mixed.fa", "p_good.png", "p_good2.png"]);
    // A batch with nothing to predict is an error.
    std::fs::write(dir.path("none.fa"), "; only a comment\n").unwrap();
    let out = scnn(&["predict", &example_blob(), "--fasta", &dir.s("none.fa")]);
    assert_fails(&out, &["no FASTA records found"]);
    let out = scnn(&[
        "predict",
        &example_blob(),
        "--seq",
        "ACGU",
        "--png",
        "/nonexistent-scnn-dir/p.png",
    ]);
    assert_fails(&out, &["cannot write /nonexistent-scnn-dir/p.png"]);
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_blobs_are_named() {
    let dir = Dir::new();
    let good = std::fs::read(example_blob()).unwrap();
    std::fs::write(dir.path("short.scnn"), &good[..good.len() / 2]).unwrap();
    assert_fails(
        &scnn(&["inspect", &dir.s("short.scnn")]),
        &["invalid model blob", "length disagrees"],
    );
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x10;
    std::fs::write(dir.path("flipped.scnn"), &flipped).unwrap();
    assert_fails(
        &scnn(&["predict", &dir.s("flipped.scnn"), "--seq", "ACGU"]),
        &["CRC-32 mismatch"],
    );
    // One version past the newest this runtime reads.
    let newer = scnn::blob::FORMAT_VERSION + 1;
    let mut version = good.clone();
    version[4..6].copy_from_slice(&newer.to_le_bytes());
    std::fs::write(dir.path("newer.scnn"), &version).unwrap();
    assert_fails(
        &scnn(&["inspect", &dir.s("newer.scnn")]),
        &[&format!("unsupported blob format version {newer}")],
    );
    let mut magic = good.clone();
    magic[0] = b'X';
    std::fs::write(dir.path("magic.scnn"), &magic).unwrap();
    assert_fails(
        &scnn(&[
            "verify",
            &dir.s("magic.scnn"),
            "--weights",
            &manifest("models/example.safetensors"),
            "--inputs",
            &manifest("data/example.fa"),
        ]),
        &["bad magic"],
    );
    assert_fails(
        &scnn(&["inspect", &dir.s("missing.scnn")]),
        &["cannot read"],
    );
}

#[test]
fn the_documented_verify_passes_on_the_shipped_model_and_reports_its_limits() {
    let out = verify_example(&["--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["passed"], true);
    assert_eq!(r["limits"]["max_p999_error"], 0.1);
    assert_eq!(r["limits"]["max_f1_drop"], 0.01);
    assert!(r["limits"]["max_abs_error"].is_null());
    // The int8 model stays within a point of the float model on the held-out tRNAs.
    let drop =
        r["f1_float_vs_truth"].as_f64().unwrap() - r["f1_runtime_vs_truth"].as_f64().unwrap();
    assert!(drop <= 0.01, "F1 drop {drop}");
    // A limit it cannot meet fails the run, with passed = false in the report.
    let strict = verify_example(&["--max-abs-error", "0.01", "--json"]);
    assert!(!strict.status.success());
    let r: serde_json::Value = serde_json::from_slice(&strict.stdout).unwrap();
    assert_eq!(r["passed"], false);
    assert!(stderr(&strict).contains("max abs error"));
}
