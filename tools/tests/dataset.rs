//! Structure readers (Stockholm, 3-line FASTA, bpseq), cleaning and splitting.

use std::collections::{HashMap, HashSet};

use scnn_tools::dataset::{
    clean, closed_domains, count, dot_bracket, family, has_families, read_file, split,
    split_by_family, Example,
};
use scnn_tools::formats::{bpseq, stockholm, Structured};

const STOCKHOLM: &str = "# STOCKHOLM 1.0
#=GF AU test

s1          GG.GAAA.CC
#=GR s1 SS  <<.....>>.
//
";

#[test]
fn stockholm_per_sequence_structures_drop_gaps_and_pairs_to_gaps() {
    let records = stockholm::parse(STOCKHOLM).unwrap();
    assert_eq!(records.len(), 1);
    // Columns 2 and 7 are gaps: the pair (1, 7) goes, and (0, 8) becomes (0, 6).
    assert_eq!(
        records[0],
        Structured {
            name: "s1".into(),
            sequence: "GGGAAACC".into(),
            pairs: vec![(0, 6)],
        }
    );
}

#[test]
fn stockholm_without_a_sequence_structure_uses_the_consensus() {
    let text = "# STOCKHOLM 1.0\na GGGAAACCC\nb GG.AAAC.C\n#=GC SS_cons <<<...>>>\n//\n";
    let records = stockholm::parse(text).unwrap();
    assert_eq!(records[0].pairs, vec![(0, 8), (1, 7), (2, 6)]);
    // b: columns 2 and 7 are gaps, so (1, 7) and (2, 6) go and (0, 8) becomes (0, 6).
    assert_eq!(records[1].sequence, "GGAAACC");
    assert_eq!(records[1].pairs, vec![(0, 6)]);
}

#[test]
fn rfam_seed_alignments_name_their_family_so_training_splits_by_it() {
    // Two families in one file, as in Rfam.seed: the accession and ID lead each name.
    let text = "# STOCKHOLM 1.0\n#=GF ID tRNA\n#=GF AC RF00005\n\
                a/1-9 GG-GAAACCC\n#=GC SS_cons <<.<...>>>\n//\n\
                # STOCKHOLM 1.0\n#=GF AC RF00001\n#=GF ID 5S_rRNA\n\
                b/2-10 GGGAAGCCC\n#=GC SS_cons <<<...>>>\n//\n";
    let records = stockholm::parse(text).unwrap();
    let names: Vec<&str> = records.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["RF00005|tRNA|a/1-9", "RF00001|5S_rRNA|b/2-10"]);
    assert_eq!(records[0].sequence, "GGGAAACCC");
    assert_eq!(records[0].pairs, [(0, 8), (1, 7), (2, 6)]);
    let (examples, _) = scnn_tools::dataset::clean(records, 128).unwrap();
    assert!(scnn_tools::dataset::has_families(&examples));
    assert_eq!(
        scnn_tools::dataset::family(&examples[1].name),
        Some("RF00001")
    );
}

#[test]
fn stockholm_errors_name_the_problem() {
    let missing = stockholm::parse("# STOCKHOLM 1.0\na GGGAAACCC\n//\n").unwrap_err();
    assert!(
        format!("{missing:#}").contains("no `#=GR a SS`"),
        "{missing:#}"
    );
    let unclosed = stockholm::parse("# STOCKHOLM 1.0\na GGG\n#=GC SS_cons <..\n").unwrap_err();
    assert!(
        format!("{unclosed:#}").contains("closing `//`"),
        "{unclosed:#}"
    );
    let length = stockholm::parse("# STOCKHOLM 1.0\na GGG\n#=GC SS_cons <.\n//\n").unwrap_err();
    assert!(
        format!("{length:#}").contains("2 columns for an aligned row of 3"),
        "{length:#}"
    );
    let header = stockholm::parse(">x\nACGU\n").unwrap_err();
    assert!(
        format!("{header:#}").contains("not a Stockholm file"),
        "{header:#}"
    );
}

#[test]
fn bpseq_reads_pairs_and_rejects_inconsistent_partners() {
    let text = "Filename: x\n# comment\n1 G 6\n2 G 5\n3 A 0\n4 A 0\n5 C 2\n6 C 1\n";
    let record = bpseq::parse("x", text).unwrap();
    assert_eq!(record.sequence, "GGAACC");
    assert_eq!(record.pairs, vec![(0, 5), (1, 4)]);
    let bad = bpseq::parse("x", "1 G 3\n2 A 0\n3 C 2\n").unwrap_err();
    assert!(
        format!("{bad:#}").contains("residue 1 pairs with 3, but 3 pairs with 2"),
        "{bad:#}"
    );
    let order = bpseq::parse("x", "1 G 0\n3 A 0\n").unwrap_err();
    assert!(format!("{order:#}").contains("out of order"), "{order:#}");
    let beyond = bpseq::parse("x", "1 G 9\n").unwrap_err();
    assert!(
        format!("{beyond:#}").contains("beyond the last residue"),
        "{beyond:#}"
    );
}

#[test]
fn files_are_read_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    let fa = dir.path().join("x.fa");
    std::fs::write(&fa, ">a\nGGGAAACCC\n(((...)))\n>b\nacgu\n.[.]\n").unwrap();
    let records = read_file(&fa).unwrap();
    assert_eq!(records[1].pairs, vec![(1, 3)]);
    let missing = dir.path().join("y.fa");
    std::fs::write(&missing, ">a\nGGGAAACCC\n").unwrap();
    let err = read_file(&missing).unwrap_err();
    assert!(
        format!("{err:#}").contains("expected a sequence line and a dot-bracket line"),
        "{err:#}"
    );
    let sto = dir.path().join("x.sto");
    std::fs::write(&sto, STOCKHOLM).unwrap();
    assert_eq!(read_file(&sto).unwrap().len(), 1);
    let bp_dir = dir.path().join("bp");
    std::fs::create_dir(&bp_dir).unwrap();
    std::fs::write(bp_dir.join("r1.bpseq"), "1 G 2\n2 C 1\n").unwrap();
    let records = read_file(&bp_dir).unwrap();
    assert_eq!(
        (records[0].name.as_str(), records[0].pairs.clone()),
        ("r1", vec![(0, 1)])
    );
    let other = dir.path().join("x.csv");
    std::fs::write(&other, "").unwrap();
    let err = read_file(&other).unwrap_err();
    assert!(
        format!("{err:#}").contains("unknown structure format `.csv`"),
        "{err:#}"
    );
}

fn record(name: &str, sequence: &str) -> Structured {
    Structured {
        name: name.into(),
        sequence: sequence.into(),
        pairs: vec![],
    }
}

#[test]
fn cleaning_normalizes_drops_duplicates_and_long_sequences() {
    let records = vec![
        record("a", "acgt"),
        record("b", "ACGU"),
        record("c", "ACRY"),
        record("d", "ACGUACGU"),
    ];
    let (examples, stats) = clean(records, 6).unwrap();
    let kept: Vec<(&str, &str)> = examples
        .iter()
        .map(|e| (e.name.as_str(), e.sequence.as_str()))
        .collect();
    assert_eq!(kept, vec![("a", "ACGU"), ("c", "ACNN")]);
    assert_eq!(
        (stats.duplicates, stats.too_long, stats.ambiguous_bases),
        (1, 1, 2)
    );
    let err = clean(vec![record("z", "AC-GU")], 10).unwrap_err();
    assert!(
        format!("{err:#}").contains("record `z`: invalid character '-' at position 3"),
        "{err:#}"
    );
}

#[test]
fn splits_are_disjoint_and_cover_everything() {
    let records: Vec<Structured> = (0..200)
        .map(|n| {
            record(
                &format!("r{n}"),
                &format!("{:b}", n + 1).replace('0', "A").replace('1', "C"),
            )
        })
        .chain((0..50).map(|n| {
            record(
                &format!("dup{n}"),
                &format!("{:b}", n + 1).replace('0', "A").replace('1', "C"),
            )
        }))
        .collect();
    let (examples, stats) = clean(records, 128).unwrap();
    assert_eq!((stats.kept, stats.duplicates), (200, 50));
    let s = split(examples, 0.1, 0.1, 5);
    assert_eq!(
        (s.train.len(), s.validation.len(), s.test.len()),
        (160, 20, 20)
    );
    let mut seen = HashSet::new();
    for e in s.train.iter().chain(&s.validation).chain(&s.test) {
        assert!(
            seen.insert(e.sequence.clone()),
            "{} is in two splits",
            e.sequence
        );
    }
    let again = split(
        clean(
            (0..200)
                .map(|n| {
                    record(
                        &format!("r{n}"),
                        &format!("{:b}", n + 1).replace('0', "A").replace('1', "C"),
                    )
                })
                .collect(),
            128,
        )
        .unwrap()
        .0,
        0.1,
        0.1,
        5,
    );
    assert_eq!(again.test, s.test, "a seed fixes the split");
}

#[test]
fn dot_bracket_round_trips_pseudoknots() {
    let pairs = vec![(0, 5), (1, 8), (2, 4), (6, 9)];
    let (text, left_out) = dot_bracket(10, &pairs);
    assert_eq!((text.as_str(), left_out), ("([(.))(.])", 0));
    let mut back = scnn_tools::formats::fasta::pairs_of(&text).unwrap();
    back.sort();
    assert_eq!(back, pairs);
}

#[test]
fn pairs_beyond_thirty_levels_are_left_out_of_the_text_not_given_a_reused_letter() {
    // 31 pairs that all cross one another: one more than there are bracket kinds.
    let pairs: Vec<(usize, usize)> = (0..31).map(|k| (k, 31 + k)).collect();
    let (text, left_out) = dot_bracket(62, &pairs);
    assert_eq!(left_out, 1);
    assert!(
        text.bytes().all(|c| c == b'.'
            || scnn::decode::OPEN.contains(&c)
            || scnn::decode::CLOSE.contains(&c)),
        "{text}"
    );
    // The text reads back (as a split file is read by `train`) as the 30 pairs it shows.
    let mut back = scnn_tools::formats::fasta::pairs_of(&text).unwrap();
    back.sort();
    assert_eq!(back, pairs[..30]);
}

/// 60 families of 1 to 40 distinct sequences each, Rfam-style names.
fn families() -> Vec<Example> {
    let mut out = Vec::new();
    for f in 0..60 {
        for n in 0..1 + (f * 7) % 40 {
            let sequence = format!("{:b}", out.len() + 1)
                .replace('0', "A")
                .replace('1', "C");
            out.push(Example {
                name: format!("RF{f:05}|fam{f}|seq{n}/1-20"),
                sequence,
                pairs: vec![],
            });
        }
    }
    out
}

#[test]
fn a_family_split_keeps_each_family_in_one_split() {
    let examples = families();
    assert!(has_families(&examples));
    let n = examples.len();
    let s = split_by_family(examples.clone(), 0.1, 0.1, 3).unwrap();
    let mut home: HashMap<&str, &str> = HashMap::new();
    for (name, part) in [
        ("train", &s.train),
        ("validation", &s.validation),
        ("test", &s.test),
    ] {
        for e in part.iter() {
            let acc = family(&e.name).unwrap();
            let at = *home.entry(acc).or_insert(name);
            assert_eq!(at, name, "family {acc} is in {at} and {name}");
        }
    }
    assert_eq!(s.train.len() + s.validation.len() + s.test.len(), n);
    // Whole families overshoot the fractions by less than one family (at most 40 sequences).
    for part in [&s.validation, &s.test] {
        assert!(
            part.len() >= n / 10 && part.len() < n / 10 + 40,
            "{}",
            part.len()
        );
        assert!(count(part).families >= 1);
    }
    assert_eq!(
        count(&s.train).families + count(&s.validation).families + count(&s.test).families,
        60
    );
    // The seed picks the families.
    let again = split_by_family(examples.clone(), 0.1, 0.1, 3).unwrap();
    assert_eq!(again.test, s.test);
    let other = split_by_family(examples, 0.1, 0.1, 4).unwrap();
    assert_ne!(other.test, s.test);
}

#[test]
fn names_without_a_family_cannot_be_split_by_family() {
    assert_eq!(family("RF00005|tRNA|AB0001.1/1-72"), Some("RF00005"));
    assert_eq!(family("trna17"), None);
    assert_eq!(family("|x"), None);
    let mut examples = families();
    examples[5].name = "plain".into();
    assert!(!has_families(&examples));
    let err = split_by_family(examples, 0.1, 0.1, 1).unwrap_err();
    assert!(err.to_string().contains("plain"), "{err}");
}

/// A record from dot-bracket, its pairs sorted as `clean` keeps them.
fn structured(name: &str, sequence: &str, structure: &str) -> Structured {
    assert_eq!(sequence.len(), structure.len());
    let mut pairs = scnn_tools::formats::fasta::pairs_of(structure).unwrap();
    pairs.sort_unstable();
    Structured {
        name: name.into(),
        sequence: sequence.into(),
        pairs,
    }
}

#[test]
fn closed_domains_are_the_outermost_fitting_stretches_that_no_pair_crosses() {
    // 25 bases and a pair length of 10: the outer pair (0, 24) does not fit; (2, 9) fits and
    // encloses (3, 8), so the domain is 2..=9, not 3..=8. On the right, (11, 20) and the
    // pseudoknot pair (13, 21) both fit but cross each other, so neither is a domain, and
    // the hairpins inside (11, 20) are not taken in its place.
    let record = structured(
        "RF00001|5S|x",
        "GAGGCAAACCAGGCAGUCAGCGCCA",
        "(.((....)).(([..(.)))]..)",
    );
    let domains = closed_domains(std::slice::from_ref(&record), 10, 4);
    assert_eq!(
        domains,
        vec![Structured {
            name: "RF00001|5S|x/3-10".into(),
            sequence: "GGCAAACC".into(),
            pairs: vec![(0, 7), (1, 6)],
        }]
    );
    // A minimum length above the domain's leaves nothing; a record that fits gives nothing.
    assert!(closed_domains(&[record], 10, 9).is_empty());
    let short = structured("RF00001|5S|y", "GGGAAACCC", "(((...)))");
    assert!(closed_domains(&[short], 10, 4).is_empty());
}
