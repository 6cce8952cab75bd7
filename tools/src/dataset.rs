//! Training data: structures read from Stockholm, 3-line FASTA and bpseq files, cleaned,
//! deduplicated and split so that no sequence is in two splits.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::commands::example::Rng;
use crate::formats::{bpseq, fasta, stockholm, Structured};

/// One cleaned example: bases `ACGUN` only, pairs sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    pub name: String,
    pub sequence: String,
    pub pairs: Vec<(usize, usize)>,
}

/// What cleaning dropped or changed, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Cleaning {
    pub read: usize,
    pub duplicates: usize,
    pub too_long: usize,
    pub ambiguous_bases: usize,
    pub kept: usize,
}

/// Reads one structure file, picking the format from its extension; a directory is read as
/// bpseq files (`*.bpseq`, sorted by name).
pub fn read_file(path: &Path) -> Result<Vec<Structured>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read directory {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "bpseq"))
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("{}: no .bpseq files in the directory", path.display());
        }
        return files.iter().map(|f| read_bpseq(f)).collect();
    }
    let text = crate::formats::read_text(path)?;
    let parsed = match ext.as_str() {
        "sto" | "stk" | "stockholm" => stockholm::parse(&text),
        "bpseq" => return Ok(vec![read_bpseq(path)?]),
        "fa" | "fas" | "fasta" | "dbn" | "db" => parse_fasta(&text),
        other => bail!(
            "{}: unknown structure format `.{other}` (use .sto, .fa/.fas/.fasta/.dbn or .bpseq)",
            path.display()
        ),
    };
    parsed.with_context(|| format!("{}", path.display()))
}

fn read_bpseq(path: &Path) -> Result<Structured> {
    let text = crate::formats::read_text(path)?;
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("bpseq")
        .to_string();
    bpseq::parse(&name, &text).with_context(|| format!("{}", path.display()))
}

/// 3-line FASTA: every record needs a structure line.
fn parse_fasta(text: &str) -> Result<Vec<Structured>> {
    // Structure files carry IUPAC codes the runtime's checker would reject; clean() maps them.
    let mut out = Vec::new();
    let mut name: Option<String> = None;
    let mut lines: Vec<String> = Vec::new();
    let flush = |name: &Option<String>, lines: &[String], out: &mut Vec<Structured>| {
        let Some(name) = name else { return Ok(()) };
        let [sequence, structure] = lines else {
            bail!(
                "record `{name}`: expected a sequence line and a dot-bracket line, found {} lines",
                lines.len()
            );
        };
        if sequence.chars().count() != structure.chars().count() {
            bail!(
                "record `{name}`: structure has {} characters for a sequence of {}",
                structure.chars().count(),
                sequence.chars().count()
            );
        }
        let pairs = fasta::pairs_of(structure).with_context(|| format!("record `{name}`"))?;
        out.push(Structured {
            name: name.clone(),
            sequence: sequence.clone(),
            pairs,
        });
        Ok(())
    };
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('>') {
            flush(&name, &lines, &mut out)?;
            name = Some(header.split_whitespace().next().unwrap_or("").to_string());
            lines.clear();
        } else if name.is_none() {
            bail!("text before the first `>` header");
        } else {
            lines.push(line.to_string());
        }
    }
    flush(&name, &lines, &mut out)?;
    if out.is_empty() {
        bail!("no FASTA records found");
    }
    Ok(out)
}

/// Normalizes a base: upper case, T to U, IUPAC ambiguity codes to N.
fn normalize(ch: char) -> Option<char> {
    match ch.to_ascii_uppercase() {
        c @ ('A' | 'C' | 'G' | 'U' | 'N') => Some(c),
        'T' => Some('U'),
        c if crate::formats::fasta::is_ambiguity_code(c) => Some('N'),
        _ => None,
    }
}

/// Cleans records: normalized bases, no sequence longer than `max_len`, each distinct
/// sequence once (the first record wins).
pub fn clean(records: Vec<Structured>, max_len: usize) -> Result<(Vec<Example>, Cleaning)> {
    let mut stats = Cleaning {
        read: records.len(),
        ..Cleaning::default()
    };
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for record in records {
        let mut sequence = String::with_capacity(record.sequence.len());
        for (i, ch) in record.sequence.chars().enumerate() {
            let Some(base) = normalize(ch) else {
                bail!(
                    "record `{}`: invalid character {ch:?} at position {}",
                    record.name,
                    i + 1
                );
            };
            if base == 'N' && !ch.eq_ignore_ascii_case(&'N') {
                stats.ambiguous_bases += 1;
            }
            sequence.push(base);
        }
        if sequence.len() > max_len {
            stats.too_long += 1;
            continue;
        }
        if !seen.insert(sequence.clone()) {
            stats.duplicates += 1;
            continue;
        }
        let mut pairs = record.pairs;
        pairs.sort_unstable();
        out.push(Example {
            name: record.name,
            sequence,
            pairs,
        });
    }
    stats.kept = out.len();
    Ok((out, stats))
}

/// The closed domains of structures longer than `max_len`, as records of their own: every
/// stretch `a..=b` whose ends pair with each other, that fits in `max_len`, holds at least
/// `min_len` bases, lies in no longer stretch that also fits, and that no pair crosses
/// (so its labels are whole: every base paired in the full structure is paired inside it).
/// Names are the record's with `/a-b` (1-based) appended, so the family stays readable.
/// Records that fit in `max_len` give none; they train whole.
pub fn closed_domains(records: &[Structured], max_len: usize, min_len: usize) -> Vec<Structured> {
    let mut out = Vec::new();
    for record in records {
        let len = record.sequence.chars().count();
        if len <= max_len {
            continue;
        }
        // Spans that fit, widest first, so an enclosing stretch is claimed before its insides.
        let mut fitting: Vec<(usize, usize)> = record
            .pairs
            .iter()
            .copied()
            .filter(|&(a, b)| a < b && b < len && b - a < max_len)
            .collect();
        fitting.sort_unstable_by_key(|&(a, b)| (std::cmp::Reverse(b - a), a));
        let mut taken: Vec<(usize, usize)> = Vec::new();
        for (a, b) in fitting {
            if taken.iter().any(|&(c, d)| c < a && b < d) {
                continue;
            }
            // The outermost fitting stretch decides: a crossed one is dropped below, not
            // replaced by its insides.
            taken.push((a, b));
        }
        let bases: Vec<char> = record.sequence.chars().collect();
        for (a, b) in taken {
            if b - a + 1 < min_len {
                continue;
            }
            let crossed = record
                .pairs
                .iter()
                .any(|&(x, y)| (x < a && a <= y && y <= b) || (a <= x && x <= b && b < y));
            if crossed {
                continue;
            }
            let pairs = record
                .pairs
                .iter()
                .filter(|&&(x, y)| a <= x && y <= b)
                .map(|&(x, y)| (x - a, y - a))
                .collect();
            out.push(Structured {
                name: format!("{}/{}-{}", record.name, a + 1, b + 1),
                sequence: bases[a..=b].iter().collect(),
                pairs,
            });
        }
    }
    out
}

/// Train, validation and test examples.
#[derive(Clone, Debug, Default)]
pub struct Splits {
    pub train: Vec<Example>,
    pub validation: Vec<Example>,
    pub test: Vec<Example>,
}

/// Shuffles with `seed` and splits by the given fractions (the test split takes the rest).
/// Examples are distinct sequences already, so no sequence lands in two splits.
pub fn split(mut examples: Vec<Example>, validation: f64, test: f64, seed: u64) -> Splits {
    let mut rng = Rng(seed);
    for i in (1..examples.len()).rev() {
        examples.swap(i, rng.below(i + 1));
    }
    let n = examples.len();
    let n_val = (n as f64 * validation).round() as usize;
    let n_test = ((n as f64 * test).round() as usize).min(n - n_val.min(n));
    let test_set = examples.split_off(n - n_test);
    let val_set = examples.split_off(examples.len() - n_val.min(examples.len()));
    Splits {
        train: examples,
        validation: val_set,
        test: test_set,
    }
}

/// The family accession of a record named `ACC|ID|NAME` (Rfam-style headers): the first
/// `|`-separated field, when there is one and it is not empty.
pub fn family(name: &str) -> Option<&str> {
    match name.split_once('|') {
        Some((acc, _)) if !acc.is_empty() => Some(acc),
        _ => None,
    }
}

/// The mean of `scores`, each with its family, weighing every family alike: each family's
/// mean over its members, then the mean of those; with the number of families. `None` when
/// some score has no family or there are none.
pub fn family_mean<'a>(
    scores: impl IntoIterator<Item = (Option<&'a str>, f64)>,
) -> Option<(usize, f64)> {
    let mut by_family = std::collections::BTreeMap::<&str, (f64, usize)>::new();
    for (family, score) in scores {
        let sum = by_family.entry(family?).or_default();
        *sum = (sum.0 + score, sum.1 + 1);
    }
    let families = by_family.len();
    let means = by_family.values().map(|&(sum, n)| sum / n as f64);
    (families > 0).then(|| (families, means.sum::<f64>() / families as f64))
}

/// Whether every example names its family, so a family-wise split is possible.
pub fn has_families(examples: &[Example]) -> bool {
    !examples.is_empty() && examples.iter().all(|e| family(&e.name).is_some())
}

/// Splits whole families: families are shuffled with `seed`, then the test and validation
/// splits take whole families until they hold their fraction of the sequences (the last
/// family taken may overshoot), and training keeps the rest. No family is in two splits, so
/// validation measures families the model never saw.
pub fn split_by_family(
    examples: Vec<Example>,
    validation: f64,
    test: f64,
    seed: u64,
) -> Result<Splits> {
    let n = examples.len();
    let mut families: BTreeMap<String, Vec<Example>> = BTreeMap::new();
    for example in examples {
        let Some(acc) = family(&example.name) else {
            bail!(
                "record `{}` has no family accession (expected a header `ACC|ID|NAME`); use the random split",
                example.name
            );
        };
        families.entry(acc.to_string()).or_default().push(example);
    }
    let mut groups: Vec<Vec<Example>> = families.into_values().collect();
    let mut rng = Rng(seed);
    for i in (1..groups.len()).rev() {
        groups.swap(i, rng.below(i + 1));
    }
    let n_test = (n as f64 * test).round() as usize;
    let n_val = (n as f64 * validation).round() as usize;
    let mut splits = Splits::default();
    for group in groups {
        let into = if splits.test.len() < n_test {
            &mut splits.test
        } else if splits.validation.len() < n_val {
            &mut splits.validation
        } else {
            &mut splits.train
        };
        into.extend(group);
    }
    Ok(splits)
}

/// Sequences and families in one split, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SplitCount {
    pub sequences: usize,
    /// Distinct family accessions (0 when the names carry none).
    pub families: usize,
}

/// Counts the sequences and families of `examples`.
pub fn count(examples: &[Example]) -> SplitCount {
    let families: BTreeSet<&str> = examples.iter().filter_map(|e| family(&e.name)).collect();
    SplitCount {
        sequences: examples.len(),
        families: families.len(),
    }
}

/// 3-line FASTA (name, sequence, dot-bracket) of examples; pseudoknotted pairs get `[]`, `{}`, ….
pub fn to_fasta(examples: &[Example], comment: &str) -> String {
    let mut text = String::new();
    for line in comment.lines() {
        text.push_str(&format!("; {line}\n"));
    }
    for e in examples {
        let (structure, left_out) = dot_bracket(e.sequence.len(), &e.pairs);
        if left_out > 0 {
            eprintln!(
                "warning: record `{}`: {left_out} pairs cross all 30 bracket levels and are left out of its dot-bracket",
                e.name
            );
        }
        text.push_str(&format!(">{}\n{}\n{}\n", e.name, e.sequence, structure));
    }
    text
}

/// Dot-bracket with the fewest bracket kinds, assigned greedily: a pair takes the first
/// kind it doesn't cross, of the runtime's 30 (`()[]{}<>`, `Aa` … `Zz`). A pair that crosses
/// one of every kind is left out of the text (its bases stay `.`); the count comes back.
pub fn dot_bracket(len: usize, pairs: &[(usize, usize)]) -> (String, usize) {
    use scnn::decode::{CLOSE, OPEN};
    let mut levels: Vec<Vec<(usize, usize)>> = Vec::new();
    let mut out = vec!['.'; len];
    let mut left_out = 0;
    for &(i, j) in pairs {
        let crosses =
            |&(a, b): &(usize, usize)| (a < i && i < b && b < j) || (i < a && a < j && j < b);
        let level = match levels.iter().position(|l| !l.iter().any(crosses)) {
            Some(level) => level,
            None if levels.len() < OPEN.len() => {
                levels.push(Vec::new());
                levels.len() - 1
            }
            None => {
                left_out += 1;
                continue;
            }
        };
        levels[level].push((i, j));
        out[i] = OPEN[level] as char;
        out[j] = CLOSE[level] as char;
    }
    (out.into_iter().collect(), left_out)
}
