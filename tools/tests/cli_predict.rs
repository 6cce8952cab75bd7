//! `scnn predict` as RNA tools' users expect it: headers with descriptions, ambiguity codes,
//! bpseq and CT output, pair probabilities in JSON, and a large batch answered in input
//! order while it runs on every core.

mod common;

use common::{manifest, scnn, stderr, Dir};

fn blob() -> String {
    manifest("models/example.scnn")
}

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn json_carries_description_pairs_and_probabilities_above_the_floor() {
    let dir = Dir::new();
    std::fs::write(dir.path("a.fa"), ">hairpin a small one\nGGGGAAAACCCC\n").unwrap();
    let run = |min_prob: &str| {
        let out = scnn(&[
            "predict",
            &blob(),
            "--fasta",
            &dir.s("a.fa"),
            "--json",
            "--min-prob",
            min_prob,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        json_lines(&out.stdout).remove(0)
    };
    let record = run("0.01");
    assert_eq!(record["name"], "hairpin");
    assert_eq!(record["description"], "a small one");
    let probabilities = record["probabilities"].as_array().unwrap();
    assert!(!probabilities.is_empty());
    for entry in probabilities {
        let (i, j, p) = (
            entry[0].as_u64().unwrap(),
            entry[1].as_u64().unwrap(),
            entry[2].as_f64().unwrap(),
        );
        assert!(i < j && j < 12 && (0.01..=1.0).contains(&p), "{entry}");
    }
    // Every pair of the structure is there, with its probability above the threshold.
    for pair in record["pairs"].as_array().unwrap() {
        let found = probabilities
            .iter()
            .find(|e| e[0] == pair[0] && e[1] == pair[1])
            .unwrap_or_else(|| panic!("pair {pair} has no probability"));
        assert!(found[2].as_f64().unwrap() > 0.5);
    }
    // A higher floor lists fewer.
    let fewer = run("0.5")["probabilities"].as_array().unwrap().len();
    assert!(fewer < probabilities.len() && fewer >= record["pairs"].as_array().unwrap().len());
}

#[test]
fn ambiguity_codes_predict_as_n_and_print_as_given() {
    let out = scnn(&["predict", &blob(), "--seq", "GGGGARAACCCC", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let with_r = json_lines(&out.stdout).remove(0);
    let out = scnn(&["predict", &blob(), "--seq", "GGGGANAACCCC", "--json"]);
    let with_n = json_lines(&out.stdout).remove(0);
    assert_eq!(with_r["sequence"], "GGGGARAACCCC");
    assert_eq!(with_r["pairs"], with_n["pairs"]);
    assert_eq!(with_r["probabilities"], with_n["probabilities"]);
}

#[test]
fn bpseq_and_ct_number_from_one() {
    for (format, first_lines) in [
        ("bpseq", ["# seq", "1 G 12", "2 G 11"]),
        ("ct", ["12 seq", "1 G 0 2 12 1", "2 G 1 3 11 2"]),
    ] {
        let out = scnn(&[
            "predict",
            &blob(),
            "--seq",
            "GGGGAAAACCCC",
            "--format",
            format,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().take(3).collect();
        assert_eq!(lines, first_lines, "{format}:\n{text}");
        assert_eq!(text.lines().count(), 13, "{format}");
    }
    let out = scnn(&[
        "predict",
        &blob(),
        "--seq",
        "GGGGAAAACCCC",
        "--format",
        "ct",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(2), "--json and --format conflict");
}

#[test]
fn a_large_batch_is_answered_in_input_order() {
    let dir = Dir::new();
    let mut fasta = String::new();
    let mut names = Vec::new();
    for n in 0..150 {
        let stem = "GCAU".repeat(1 + n % 7);
        fasta.push_str(&format!(">r{n}\nGGG{stem}AAA{stem}CCC\n"));
        names.push(format!("r{n}"));
    }
    std::fs::write(dir.path("many.fa"), fasta).unwrap();
    let out = scnn(&["predict", &blob(), "--fasta", &dir.s("many.fa"), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got: Vec<String> = json_lines(&out.stdout)
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, names);
    // The same answers as one at a time.
    let one = scnn(&[
        "predict",
        &blob(),
        "--seq",
        "GGGGCAUGCAUAAAGCAUGCAUCCC",
        "--json",
    ]);
    let batch_r1 = &json_lines(&out.stdout)[1];
    assert_eq!(json_lines(&one.stdout)[0]["pairs"], batch_r1["pairs"]);
}

#[test]
fn the_heatmap_has_axes_letters_ticks_and_a_colour_bar() {
    let dir = Dir::new();
    let png = dir.s("map.png");
    let sequence = "GGGGCAUGCAUAAAGCAUGCAUCCC";
    let out = scnn(&["predict", &blob(), "--seq", sequence, "--png", &png]);
    assert!(out.status.success(), "{}", stderr(&out));
    let image = image::open(&png).unwrap().to_rgb8();
    let (n, cell) = (sequence.len() as u32, (512 / sequence.len() as u32).min(16));
    // Margins around the n × n map: room for the letters, ticks, title and colour bar.
    assert!(image.width() > n * cell + 60 && image.height() > n * cell + 30);
    let dark = |x0: u32, x1: u32, y0: u32, y1: u32| {
        (x0..x1)
            .flat_map(|x| (y0..y1).map(move |y| (x, y)))
            .filter(|&(x, y)| image.get_pixel(x, y).0.iter().all(|&v| v < 80))
            .count()
    };
    // Letters above the map and beside it, the title in the top-left corner.
    assert!(
        dark(40, image.width() - 70, 20, 38) > 100,
        "no letters on the top axis"
    );
    assert!(
        dark(0, 30, 45, image.height() - 20) > 100,
        "no letters on the left axis"
    );
    // The colour bar's top is the darkest blue.
    let bar = image.get_pixel(image.width() - 64 + 18, 42).0;
    assert!(bar[2] > bar[0] && bar[0] < 40, "colour bar top {bar:?}");
}

/// Width and height from a PNG's header.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[1..4], b"PNG");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn a_recommendation_is_drawn_as_its_history_and_a_bar_a_item() {
    let dir = Dir::new();
    let blob = manifest("models/recsys.scnn");
    let draw = |top: &str, file: &str| {
        let out = scnn(&[
            "predict",
            &blob,
            "--user",
            "1",
            "--history",
            "1,2,3,4,50",
            "--top",
            top,
            "--png",
            &dir.s(file),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        // The text answer is still printed, one line an item.
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).lines().count(),
            top.parse::<usize>().unwrap()
        );
        png_size(&std::fs::read(dir.path(file)).unwrap())
    };
    let (w3, h3) = draw("3", "three.png");
    let (w10, h10) = draw("10", "ten.png");
    assert_eq!(w3, w10);
    // Seven more items, seven more 14-pixel rows.
    assert_eq!(h10 - h3, 7 * 14);
}
