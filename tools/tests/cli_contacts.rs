//! `scnn predict` on a protein contact model: the best `L` contacts in the firmware's order,
//! the CASP RR text format, and the true contacts of a PDB file (read with pdbtbx) to score
//! and draw beside the prediction.

mod common;

use common::{scnn, stderr, Dir};

/// A random-weight contact model (21 tokens, L = 64) and its FASTA of random chains.
fn model(dir: &Dir) -> String {
    let out = scnn(&[
        "random",
        "--app",
        "protein",
        "--pair-len",
        "64",
        "--width",
        "4",
        "--dilations",
        "1,2",
        "-o",
        &dir.s("p.safetensors"),
        "--sequences",
        &dir.s("p.fa"),
        "--count",
        "4",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = scnn(&[
        "convert",
        &dir.s("p.safetensors"),
        "--calibrate",
        &dir.s("p.fa"),
        "-o",
        &dir.s("p.scnn"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    dir.s("p.scnn")
}

/// A PDB file of one chain (`id`) of `sequence` on a helix-like path: CA and CB atoms, no CB
/// for glycine.
fn pdb(sequence: &str, id: char) -> String {
    let three = |c: char| match c {
        'A' => "ALA",
        'C' => "CYS",
        'D' => "ASP",
        'E' => "GLU",
        'F' => "PHE",
        'G' => "GLY",
        'H' => "HIS",
        'I' => "ILE",
        'K' => "LYS",
        'L' => "LEU",
        'M' => "MET",
        'N' => "ASN",
        'P' => "PRO",
        'Q' => "GLN",
        'R' => "ARG",
        'S' => "SER",
        'T' => "THR",
        'V' => "VAL",
        'W' => "TRP",
        _ => "TYR",
    };
    let mut out = String::new();
    let mut serial = 1;
    for (n, c) in sequence.chars().enumerate() {
        let t = n as f64;
        let (x, y, z) = (2.3 * (t * 1.745).cos(), 2.3 * (t * 1.745).sin(), 1.5 * t);
        let mut atoms = vec![("CA", x, y, z)];
        if c != 'G' {
            atoms.push(("CB", x * 1.6, y * 1.6, z));
        }
        for (name, x, y, z) in atoms {
            out.push_str(&format!(
                "ATOM  {serial:>5}  {name:<3} {} {id}{:>4}    {x:>8.3}{y:>8.3}{z:>8.3}  1.00  0.00           C\n",
                three(c),
                n + 1
            ));
            serial += 1;
        }
    }
    out.push_str("TER\nEND\n");
    out
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn json_lists_the_best_l_contacts_in_the_firmware_order() {
    let dir = Dir::new();
    let blob = model(&dir);
    let sequence = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEK";
    let v = json(&scnn(&["predict", &blob, "--seq", sequence, "--json"]));
    assert_eq!(v["sequence"], sequence);
    let contacts = v["contacts"].as_array().unwrap();
    assert_eq!(contacts.len(), sequence.len());
    let list: Vec<(u64, u64, f64)> = contacts
        .iter()
        .map(|c| {
            (
                c[0].as_u64().unwrap(),
                c[1].as_u64().unwrap(),
                c[2].as_f64().unwrap(),
            )
        })
        .collect();
    for w in list.windows(2) {
        let ((i, j, p), (k, l, q)) = (w[0], w[1]);
        assert!(
            p > q || (p == q && (i, j) < (k, l)),
            "{:?} before {:?}",
            w[0],
            w[1]
        );
    }
    assert!(list.iter().all(|&(i, j, _)| i < j && j - i >= 6));

    let text = scnn(&["predict", &blob, "--seq", sequence]);
    let text = String::from_utf8_lossy(&text.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(&lines[..3], ["PFRMAT RR", "TARGET seq", "MODEL 1"]);
    assert_eq!(lines[3], &sequence[..50]);
    assert_eq!(lines[4], &sequence[50..]);
    let (i, j, p) = list[0];
    assert_eq!(lines[5], format!("{} {} 0 8 {p:.4}", i + 1, j + 1));
    assert_eq!(*lines.last().unwrap(), "END");
}

#[test]
fn a_structure_scores_and_draws_the_true_contacts() {
    let dir = Dir::new();
    let blob = model(&dir);
    let sequence = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEK";
    std::fs::write(dir.path("x.pdb"), pdb(sequence, 'B')).unwrap();
    let v = json(&scnn(&[
        "predict",
        &blob,
        "--seq",
        sequence,
        "--json",
        "--structure",
        &dir.s("x.pdb"),
        "--png",
        &dir.s("map.png"),
    ]));
    let precision = v["structure_precision_l5_medium_long"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&precision));
    let image = std::fs::read(dir.path("map.png")).unwrap();
    assert_eq!(&image[1..4], b"PNG");

    let out = scnn(&[
        "predict",
        &blob,
        "--seq",
        &sequence[1..],
        "--structure",
        &dir.s("x.pdb"),
    ]);
    common::assert_fails(
        &out,
        &["has 52 residues but the structure's chain x_B has 53"],
    );
    let out = scnn(&[
        "predict",
        &blob,
        "--seq",
        sequence,
        "--structure",
        &dir.s("x.pdb"),
        "--chain",
        "A",
    ]);
    common::assert_fails(&out, &["no chain A (chains: B)"]);
    std::fs::write(
        dir.path("two.fa"),
        format!(">a\n{sequence}\n>b\n{sequence}\n"),
    )
    .unwrap();
    let out = scnn(&[
        "predict",
        &blob,
        "--fasta",
        &dir.s("two.fa"),
        "--structure",
        &dir.s("x.pdb"),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--structure goes with one record"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty(), "nothing is answered");
    std::fs::write(dir.path("bad.pdb"), "not a structure\n").unwrap();
    let out = scnn(&[
        "predict",
        &blob,
        "--seq",
        sequence,
        "--structure",
        &dir.s("bad.pdb"),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("bad.pdb"), "{}", stderr(&out));
}

/// A chains file of one chain of `sequence` whose Cβ atoms sit `spacing` Å apart on a line.
fn line_chain(sequence: &str, spacing: f32) -> String {
    let cb: Vec<f32> = (0..sequence.len())
        .flat_map(|n| [n as f32 * spacing, 0.0, 0.0])
        .collect();
    serde_json::json!({"id": "1LIN", "chain": "A", "seq": sequence, "cb": cb}).to_string() + "\n"
}

#[test]
fn evaluate_scores_every_range_at_l5_l2_and_l() {
    let dir = Dir::new();
    let blob = model(&dir);
    let sequence = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEK";
    let run = |file: &str| {
        let out = scnn(&["evaluate", &blob, "--data", &dir.s(file), "--json"]);
        json(&out)
    };
    // Every pair in contact (all within 8 Å): any ranking is right.
    std::fs::write(dir.path("tight.jsonl"), line_chain(sequence, 0.1)).unwrap();
    let v = run("tight.jsonl");
    assert_eq!(v["chains"], 1);
    for range in ["short", "medium", "long", "medium_long"] {
        for depth in ["l5", "l2", "l"] {
            assert_eq!(v[range][depth], 1.0, "{range} {depth}: {v}");
        }
    }
    // No pair in contact: any ranking is wrong.
    std::fs::write(dir.path("far.jsonl"), line_chain(sequence, 9.0)).unwrap();
    let v = run("far.jsonl");
    for range in ["short", "medium", "long", "medium_long"] {
        assert_eq!(v[range]["l5"], 0.0, "{range}: {v}");
    }
    // A PDB file scores as predict --structure does.
    std::fs::write(dir.path("x.pdb"), pdb(sequence, 'A')).unwrap();
    let evaluated = run("x.pdb");
    let predicted = json(&scnn(&[
        "predict",
        &blob,
        "--seq",
        sequence,
        "--json",
        "--structure",
        &dir.s("x.pdb"),
    ]));
    assert_eq!(
        evaluated["medium_long"]["l5"],
        predicted["structure_precision_l5_medium_long"]
    );
    // Chains longer than the model are counted, not scored.
    let long = "A".repeat(70);
    std::fs::write(dir.path("long.jsonl"), line_chain(&long, 3.8)).unwrap();
    let out = scnn(&["evaluate", &blob, "--data", &dir.s("long.jsonl")]);
    common::assert_fails(&out, &["no chains of at most 64 residues"]);
}
