//! `scnn evaluate` on an RNA structure model: its F1 is the F1 of what `scnn predict` answers,
//! scored pair by pair against the reference.

mod common;

use common::{manifest, rfam_like, scnn, stderr, Dir};

fn blob() -> String {
    manifest("models/example.scnn")
}

/// `(name, sequence, structure)` of the first `n` records of the example's test split, as
/// `scnn predict --json` answers them.
fn predicted(n: usize, dir: &Dir) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(manifest("data/example.fa")).unwrap();
    let fasta: String = text
        .lines()
        .filter(|l| !l.starts_with(';'))
        .collect::<Vec<_>>()
        .chunks(3)
        .take(n)
        .map(|r| format!("{}\n{}\n", r[0], r[1]))
        .collect();
    std::fs::write(dir.path("in.fa"), fasta).unwrap();
    let out = scnn(&["predict", &blob(), "--fasta", &dir.s("in.fa"), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let s = |k: &str| v[k].as_str().unwrap().to_string();
            (s("name"), s("sequence"), s("structure"))
        })
        .collect()
}

fn evaluate_json(data: &str) -> Vec<serde_json::Value> {
    let out = scnn(&[
        "evaluate",
        &blob(),
        "--data",
        data,
        "--json",
        "--per-sequence",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_reference_equal_to_the_prediction_scores_one_and_an_empty_one_zero() {
    let dir = Dir::new();
    let records = predicted(6, &dir);
    assert!(records.iter().all(|r| r.2.contains('(')), "{records:?}");
    let same: String = records
        .iter()
        .map(|(n, s, db)| format!(">{n}\n{s}\n{db}\n"))
        .collect();
    std::fs::write(dir.path("same.fa"), same).unwrap();
    let lines = evaluate_json(&dir.s("same.fa"));
    assert_eq!(lines.len(), 7);
    for (line, (name, _, db)) in lines.iter().zip(&records) {
        assert_eq!(line["name"], name.as_str());
        assert_eq!(line["f1"], 1.0);
        let opened = db
            .chars()
            .filter(|c| "([{<".contains(*c) || c.is_ascii_uppercase());
        assert_eq!(line["predicted_pairs"], opened.count());
    }
    assert_eq!(lines[6]["sequences"], 6);
    assert_eq!(lines[6]["f1"], 1.0);

    // Every predicted pair is wrong against an open chain: F1, precision and recall 0.
    let open: String = records
        .iter()
        .map(|(n, s, _)| format!(">{n}\n{s}\n{}\n", ".".repeat(s.len())))
        .collect();
    std::fs::write(dir.path("open.fa"), open).unwrap();
    let summary = evaluate_json(&dir.s("open.fa")).pop().unwrap();
    assert_eq!(summary["f1"], 0.0);
    assert_eq!(summary["precision"], 0.0);
    assert_eq!(summary["recall"], 0.0);
}

#[test]
fn the_reference_structures_give_a_mean_f1_between_the_extremes() {
    let out = scnn(&["evaluate", &blob(), "--data", &manifest("data/example.fa")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("sequences 129 "), "{text}");
    let f1: f64 = text
        .split("mean pair F1 ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no F1 in {text}"));
    // The tRNA model on unseen tRNAs: good, not perfect.
    assert!((0.8..1.0).contains(&f1), "{f1}");
}

#[test]
fn sequences_longer_than_the_model_are_counted_and_warned_about() {
    let dir = Dir::new();
    let long = "GC".repeat(80);
    let fa = format!(
        ">short\nGGGGAAAACCCC\n((((....))))\n>long\n{long}\n{}\n",
        ".".repeat(160)
    );
    std::fs::write(dir.path("d.fa"), fa).unwrap();
    let out = scnn(&["evaluate", &blob(), "--data", &dir.s("d.fa"), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 of 2 records are longer than the model's 128 positions"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sequences"], 1);
    assert_eq!(v["cleaning"]["too_long"], 1);

    std::fs::write(
        dir.path("all-long.fa"),
        format!(">long\n{long}\n{}\n", ".".repeat(160)),
    )
    .unwrap();
    let out = scnn(&["evaluate", &blob(), "--data", &dir.s("all-long.fa")]);
    common::assert_fails(&out, &["no structures of at most 128 nt", "1 longer"]);
}

#[test]
fn train_blocks_must_be_odd_kernels_with_dilations() {
    for (bad, says) in [
        ("4:1", "kernel 4 must be odd"),
        ("3", "is not KERNEL:DILATION"),
        ("3:0", "dilation 0 must be 1 to 64"),
    ] {
        let out = scnn(&[
            "train",
            "--data",
            "x.fa",
            "-o",
            "x.safetensors",
            "--blocks",
            bad,
        ]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(says), "{bad}: {}", stderr(&out));
    }
}

#[test]
fn train_blocks_shape_the_network() {
    let dir = Dir::new();
    let weights = dir.s("b.safetensors");
    let out = scnn(&[
        "train",
        "--data",
        &manifest("data/example.fa"),
        "-o",
        &weights,
        "--blocks",
        "3:1,5:8",
        "--width",
        "4",
        "--max-steps",
        "2",
        "--split",
        "random",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let blob = dir.s("b.scnn");
    let calibrate = manifest("data/calibration.fa");
    let out = scnn(&["convert", &weights, "--calibrate", &calibrate, "-o", &blob]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = scnn(&["inspect", &blob]);
    let table = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| #"))
        .collect();
    // Generating 1×1, the two blocks, the 1×1 head.
    assert_eq!(rows.len(), 4, "{table}");
    assert!(rows[1].contains("| 4→4 | 3 | 1 |"), "{}", rows[1]);
    assert!(
        rows[2].contains("| 4→4 | 5 | 8 |") && rows[2].contains("| 1 |"),
        "{}",
        rows[2]
    );
}

/// One step of a width-2, one-block model on `data`, a fifth each held out for validation
/// and test, the splits written to `splits`.
fn tiny_train(data: &str, weights: &str, splits: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        "--data",
        data,
        "-o",
        weights,
        "--splits",
        splits,
        "--width",
        "2",
        "--blocks",
        "3:1",
        "--max-steps",
        "1",
        "--validation",
        "0.2",
        "--test",
        "0.2",
    ];
    args.extend_from_slice(extra);
    scnn(&args)
}

#[test]
fn train_domains_come_from_long_sequences_of_training_families_only() {
    let dir = Dir::new();
    std::fs::write(dir.path("d.fa"), rfam_like(7)).unwrap();
    let (data, weights, report, splits) = (
        dir.s("d.fa"),
        dir.s("w.safetensors"),
        dir.s("r.json"),
        dir.s("s"),
    );
    let train = |extra: &[&str]| {
        let mut args = vec!["--report", &report, "--domains", "30"];
        args.extend_from_slice(extra);
        tiny_train(&data, &weights, &splits, &args)
    };
    let out = train(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path("r.json")).unwrap()).unwrap();
    let split = &report["split"];
    let train_families = split["train"]["families"].as_u64().unwrap();
    assert_eq!(split["train_domains"]["sequences"], train_families);
    assert!(train_families > 0);
    let text = std::fs::read_to_string(dir.path("s/train.fa")).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with(';')).collect();
    let mut domains = Vec::new();
    for record in lines.chunks(3) {
        if record[0].ends_with("|long/11-60") {
            // The stretch whole, its stem at its ends.
            assert_eq!(record[1].len(), 50);
            assert_eq!(record[2], format!("(((({}))))", ".".repeat(42)));
            domains.push(record[0]);
        }
    }
    assert_eq!(domains.len() as u64, train_families);
    for held_out in ["validation", "test"] {
        let text = std::fs::read_to_string(dir.path(&format!("s/{held_out}.fa"))).unwrap();
        for family in text.lines().filter_map(|l| l.strip_prefix('>')) {
            let acc = family.split('|').next().unwrap();
            assert!(
                !domains.iter().any(|d| d[1..].starts_with(acc)),
                "{acc} is held out but trained on"
            );
        }
    }
    let out = train(&["--split", "random"]);
    common::assert_fails(&out, &["--domains needs the family split"]);
}

#[test]
fn split_seed_holds_out_the_same_sequences_whatever_the_seed() {
    let dir = Dir::new();
    std::fs::write(dir.path("d.fa"), rfam_like(7)).unwrap();
    let data = dir.s("d.fa");
    // The held-out sequences (validation then test) and the weights of one run.
    let train = |name: &str, extra: &[&str]| {
        let (weights, splits) = (dir.s(&format!("{name}.safetensors")), dir.s(name));
        let out = tiny_train(&data, &weights, &splits, extra);
        assert!(out.status.success(), "{}", stderr(&out));
        let read = |f: &str| std::fs::read_to_string(dir.path(&format!("{name}/{f}"))).unwrap();
        let held_out = read("validation.fa") + &read("test.fa");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path(&format!("{name}.json"))).unwrap())
                .unwrap();
        let seed = report["split"]["seed"].as_u64();
        (held_out, std::fs::read(&weights).unwrap(), seed)
    };
    let (held_one, weights_one, seed_one) = train("one", &["--seed", "1"]);
    let (held_two, weights_two, seed_two) = train("two", &["--seed", "2", "--split-seed", "1"]);
    let (held_other, _, seed_other) = train("other", &["--seed", "2"]);
    // The report names the seed of the split.
    assert_eq!(
        (seed_one, seed_two, seed_other),
        (Some(1), Some(1), Some(2))
    );
    assert_eq!(held_one, held_two);
    assert_ne!(
        weights_one, weights_two,
        "--seed no longer seeds the weights"
    );
    assert_ne!(held_one, held_other, "--seed no longer seeds the split");
    let out = scnn(&[
        "train",
        "--task",
        "items",
        "--data",
        &data,
        "-o",
        &dir.s("i.safetensors"),
        "--split-seed",
        "3",
    ]);
    common::assert_fails(&out, &["--split-seed is for RNA and contacts"]);
}

/// Whether any two pairs cross (a pseudoknot).
fn crossing(pairs: &[(usize, usize)]) -> bool {
    pairs
        .iter()
        .any(|&(a, b)| pairs.iter().any(|&(i, j)| a < i && i < b && b < j))
}

#[test]
fn the_nested_decoder_gives_pseudoknot_free_canonical_structures() {
    let dir = Dir::new();
    let text = std::fs::read_to_string(manifest("data/example.fa")).unwrap();
    let fasta: String = text
        .lines()
        .filter(|l| !l.starts_with(';'))
        .collect::<Vec<_>>()
        .chunks(3)
        .map(|r| format!("{}\n{}\n", r[0], r[1]))
        .collect();
    std::fs::write(dir.path("in.fa"), fasta).unwrap();
    let run = |decoder: &str| {
        let out = scnn(&[
            "predict",
            &blob(),
            "--fasta",
            &dir.s("in.fa"),
            "--json",
            "--decoder",
            decoder,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let pairs: Vec<(usize, usize)> = v["pairs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        (
                            p[0].as_u64().unwrap() as usize,
                            p[1].as_u64().unwrap() as usize,
                        )
                    })
                    .collect();
                (v["sequence"].as_str().unwrap().to_string(), pairs)
            })
            .collect::<Vec<_>>()
    };
    let greedy = run("greedy");
    let nested = run("nested");
    assert_eq!(greedy.len(), 129);
    // Greedy leaves some pseudoknots on these tRNAs; nested never does.
    assert!(greedy.iter().any(|(_, p)| crossing(p)));
    for (sequence, pairs) in &nested {
        assert!(!crossing(pairs), "{sequence}: {pairs:?}");
        for &(i, j) in pairs {
            let pair = [sequence.as_bytes()[i], sequence.as_bytes()[j]];
            assert!(j - i >= 4, "{sequence}: ({i}, {j})");
            assert!(
                matches!(&pair, b"AU" | b"UA" | b"GC" | b"CG" | b"GU" | b"UG"),
                "{sequence}: ({i}, {j})"
            );
        }
    }
    // A device's decoder is checked against --decoder in .ci/any-model (it needs firmware).
}

#[test]
fn the_general_model_answers_up_to_its_pair_length_in_json() {
    let dir = Dir::new();
    let blob = manifest("models/rna.scnn");
    let mut rng = scnn_tools::commands::example::Rng(17);
    let mut random =
        |n: usize| -> String { (0..n).map(|_| b"ACGU"[rng.below(4)] as char).collect() };
    let fasta = format!(
        ">full length 128\n{}\n>too_long\n{}\n>short\n{}\n",
        random(128),
        random(129),
        "GGGGAAACCCC"
    );
    std::fs::write(dir.path("in.fa"), fasta).unwrap();
    let out = scnn(&["predict", &blob, "--fasta", &dir.s("in.fa"), "--json"]);
    // The over-long record is skipped and named; the others are answered; the exit says so.
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("too_long"), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["name"], "full");
    assert_eq!(lines[0]["sequence"].as_str().unwrap().len(), 128);
    for line in &lines {
        let structure = line["structure"].as_str().unwrap();
        assert_eq!(structure.len(), line["sequence"].as_str().unwrap().len());
        let opened = structure.chars().filter(|c| "([{<".contains(*c)).count();
        assert_eq!(line["pairs"].as_array().unwrap().len(), opened);
    }
    // Its test split's first sequences score as F1 should: between 0 and 1, and all counted.
    let out = scnn(&[
        "evaluate",
        &blob,
        "--data",
        &manifest("data/rna-parity.fa"),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sequences"], 4);
    assert!((0.0..=1.0).contains(&v["f1"].as_f64().unwrap()));
    // Rfam-style names: the mean over families too, here four families of one sequence each.
    assert_eq!(v["families"]["families"], 4, "{v}");
    let by_family = v["families"]["family_f1"].as_f64().unwrap();
    assert!((by_family - v["f1"].as_f64().unwrap()).abs() < 1e-12, "{v}");
}

#[test]
fn each_decoder_scores_at_its_own_threshold_unless_told() {
    let threshold = |extra: &[&str]| -> f64 {
        let mut args = vec![
            "evaluate",
            "models/rna.scnn",
            "--data",
            "data/rna-parity.fa",
            "--json",
        ];
        args.extend_from_slice(extra);
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                if a.starts_with("models/") || a.starts_with("data/") {
                    manifest(a)
                } else {
                    a.to_string()
                }
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = scnn(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let last = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap()
            .to_string();
        let report: serde_json::Value = serde_json::from_str(&last).unwrap();
        report["threshold"].as_f64().unwrap()
    };
    let near = |a: f64, b: f64| (a - b).abs() < 1e-6;
    assert!(near(threshold(&[]), 0.5));
    assert!(near(threshold(&["--decoder", "nested"]), 0.3));
    assert!(near(
        threshold(&["--decoder", "nested", "--threshold", "0.4"]),
        0.4
    ));
}
