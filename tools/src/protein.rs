//! Protein chains for contact-map models: reading the structures set (JSON lines, gzip or
//! plain: `id`, `chain`, `seq`, and Cβ coordinates `cb`, as ProMod3's structure database
//! exports them), the contacts of a chain as CASP defines them (Cβ–Cβ closer than 8 Å, Cα for
//! glycine — the set's virtual Cβ stands in — and `|i − j| ≥ 6`), and a split by sequence
//! identity: greedy clusters with a k-mer prefilter, so that no two chains in different
//! splits are more alike than the threshold.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The usual contact cutoff, Å.
pub const CONTACT_CUTOFF: f32 = 8.0;
/// The smallest sequence separation contact predictors score.
pub const MIN_SEPARATION: usize = 6;

/// One chain stretch.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    /// `ID_CHAIN`, e.g. `12AS_A`.
    pub name: String,
    /// One-letter amino acids.
    pub sequence: String,
    /// Cβ coordinates, one `[x, y, z]` a residue.
    pub cb: Vec<[f32; 3]>,
}

#[derive(Deserialize)]
struct Line {
    id: String,
    chain: String,
    seq: String,
    cb: Vec<f32>,
}

/// Reads the chains of a JSON-lines file, gzip-compressed when its name ends in `.gz`.
pub fn read(path: &Path) -> Result<Vec<Chain>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    parse(BufReader::new(reader)).with_context(|| path.display().to_string())
}

/// Parses chains from JSON lines; every error names its line.
pub fn parse(reader: impl BufRead) -> Result<Vec<Chain>> {
    let mut chains = Vec::new();
    for (number, line) in reader.lines().enumerate() {
        let number = number + 1;
        let line = line.with_context(|| format!("line {number}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let raw: Line = serde_json::from_str(&line)
            .with_context(|| format!("line {number}: not a chain record"))?;
        let n = raw.seq.chars().count();
        if raw.cb.len() != 3 * n {
            bail!(
                "line {number} ({}_{}): {} Cβ coordinates for {n} residues (want 3 each)",
                raw.id,
                raw.chain,
                raw.cb.len()
            );
        }
        if let Some(bad) = raw.cb.iter().position(|v| !v.is_finite()) {
            bail!(
                "line {number} ({}_{}): coordinate {bad} is not a number",
                raw.id,
                raw.chain
            );
        }
        chains.push(Chain {
            name: format!("{}_{}", raw.id, raw.chain),
            sequence: raw.seq,
            cb: raw.cb.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect(),
        });
    }
    Ok(chains)
}

/// The residue pairs `(i, j)`, `i + MIN_SEPARATION ≤ j`, whose Cβ atoms are closer than
/// [`CONTACT_CUTOFF`].
pub fn contacts(cb: &[[f32; 3]]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for i in 0..cb.len() {
        for j in i + MIN_SEPARATION..cb.len() {
            let d2: f32 = (0..3).map(|k| (cb[i][k] - cb[j][k]).powi(2)).sum();
            if d2 < CONTACT_CUTOFF * CONTACT_CUTOFF {
                out.push((i, j));
            }
        }
    }
    out
}

/// Identity of two sequences: the matches of their best overlap alignment (end gaps free;
/// match 1, mismatch −1, internal gap −2), over the shorter length. Unrelated chains score
/// near 0: placing gaps cannot buy matches.
pub fn identity(a: &[u8], b: &[u8]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    const GAP: i32 = 2;
    // Each cell holds (score, matches) of the best path; ties prefer more matches.
    let mut previous: Vec<(i32, u32)> = vec![(0, 0); b.len() + 1];
    let mut best = (i32::MIN, 0u32);
    for &x in a {
        let mut row = vec![(0, 0u32); b.len() + 1];
        for (j, &y) in b.iter().enumerate() {
            let same = x == y;
            let diagonal = (
                previous[j].0 + if same { 1 } else { -1 },
                previous[j].1 + u32::from(same),
            );
            let up = (previous[j + 1].0 - GAP, previous[j + 1].1);
            let left = (row[j].0 - GAP, row[j].1);
            row[j + 1] = diagonal.max(up).max(left);
        }
        // Free trailing gaps in `b`: the alignment may end at the last column.
        best = best.max(row[b.len()]);
        previous = row;
    }
    // … or in `a`: at the last row.
    let best = previous.into_iter().fold(best, std::cmp::max);
    f64::from(best.1) / a.len().min(b.len()) as f64
}

const K: usize = 3;
/// Representatives aligned per chain at most: those sharing the most 3-mers with it.
const CANDIDATES: usize = 16;

fn kmers(sequence: &[u8]) -> Vec<u32> {
    let mut out: Vec<u32> = sequence
        .windows(K)
        .map(|w| w.iter().fold(0u32, |h, &c| h * 32 + u32::from(c & 31)))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Greedy clusters at `threshold` identity: chains longest first; each joins the first
/// cluster whose representative it matches at `threshold` or more, else starts one. Only the
/// representatives sharing the most 3-mers with it (enough to possibly reach the threshold,
/// at most 16) are aligned, as cd-hit's word filter does; so, as with cd-hit, a chain is
/// within the threshold of its representative, not necessarily below it to every other
/// cluster's members. Returns each chain's cluster number. (2,000 chains of the PDB set:
/// 1,941 clusters at 0.4 in 32 s on one core.)
pub fn clusters(sequences: &[&str], threshold: f64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..sequences.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sequences[i].len()));
    let mut cluster_of = vec![0usize; sequences.len()];
    let mut representatives: Vec<usize> = Vec::new();
    let mut index: HashMap<u32, Vec<usize>> = HashMap::new();
    let words: Vec<Vec<u32>> = sequences.iter().map(|s| kmers(s.as_bytes())).collect();
    for &i in &order {
        // Shared 3-mers with each representative.
        let mut shared: HashMap<usize, usize> = HashMap::new();
        for word in &words[i] {
            for &r in index.get(word).into_iter().flatten() {
                *shared.entry(r).or_default() += 1;
            }
        }
        let n = sequences[i].len();
        // At identity t over the shorter length, at least about t·n − K·(1 − t)·n of the
        // 3-mers survive; a tenth of the shorter length's 3-mers is a safe floor.
        let floor = |m: usize| (m.min(n).saturating_sub(K - 1) as f64 * threshold * 0.1) as usize;
        let mut candidates: Vec<(usize, usize)> = shared
            .into_iter()
            .filter(|&(c, s)| s >= floor(sequences[representatives[c]].len()).max(1))
            .collect();
        candidates.sort_by_key(|&(c, s)| (std::cmp::Reverse(s), c));
        // The representatives sharing the most 3-mers are aligned, at most CANDIDATES.
        candidates.truncate(CANDIDATES);
        let joined = candidates.into_iter().map(|(c, _)| c).find(|&c| {
            identity(
                sequences[i].as_bytes(),
                sequences[representatives[c]].as_bytes(),
            ) >= threshold
        });
        cluster_of[i] = match joined {
            Some(c) => c,
            None => {
                let c = representatives.len();
                representatives.push(i);
                for &word in &words[i] {
                    index.entry(word).or_default().push(c);
                }
                c
            }
        };
    }
    cluster_of
}

/// Chains split by cluster: a seeded shuffle of the clusters, then whole clusters to
/// validation and test until each holds its share of the chains.
pub fn split_by_cluster(
    cluster_of: &[usize],
    validation: f64,
    test: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let count = cluster_of.iter().max().map_or(0, |m| m + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (i, &c) in cluster_of.iter().enumerate() {
        members[c].push(i);
    }
    let mut order: Vec<usize> = (0..count).collect();
    let mut rng = crate::commands::example::Rng(seed);
    for k in (1..order.len()).rev() {
        order.swap(k, rng.below(k + 1));
    }
    let total = cluster_of.len() as f64;
    let (mut train, mut val, mut tst) = (Vec::new(), Vec::new(), Vec::new());
    for c in order {
        let target = if (val.len() as f64) < validation * total {
            &mut val
        } else if (tst.len() as f64) < test * total {
            &mut tst
        } else {
            &mut train
        };
        target.extend(&members[c]);
    }
    (train, val, tst)
}

/// Tokens of the protein alphabet: the 20 standard residues, then X for anything else.
pub const VOCAB: usize = 21;
/// The token of X (any residue outside the 20).
pub const UNKNOWN: u16 = 20;

/// The runtime's token of a one-letter residue code (X for anything outside the 20).
pub fn token(residue: u8) -> u16 {
    scnn::apps::protein::ALPHABET
        .iter()
        .find(|(s, _)| *s == residue.to_ascii_uppercase())
        .map_or(UNKNOWN, |&(_, t)| t.min(UNKNOWN))
}

/// The one-letter code of a residue name (selenomethionine as M); `None` for anything that
/// is not an amino acid.
fn one_letter(name: &str) -> Option<char> {
    const CODES: [(&str, char); 21] = [
        ("ALA", 'A'),
        ("ARG", 'R'),
        ("ASN", 'N'),
        ("ASP", 'D'),
        ("CYS", 'C'),
        ("GLN", 'Q'),
        ("GLU", 'E'),
        ("GLY", 'G'),
        ("HIS", 'H'),
        ("ILE", 'I'),
        ("LEU", 'L'),
        ("LYS", 'K'),
        ("MET", 'M'),
        ("PHE", 'F'),
        ("PRO", 'P'),
        ("SER", 'S'),
        ("THR", 'T'),
        ("TRP", 'W'),
        ("TYR", 'Y'),
        ("VAL", 'V'),
        ("MSE", 'M'),
    ];
    CODES.iter().find(|(n, _)| *n == name).map(|&(_, c)| c)
}

/// One chain of a PDB or mmCIF file (gzip allowed), read with pdbtbx: the first model's
/// `chain` (default its first chain), amino-acid residues in file order, each with its Cβ
/// (Cα for glycine, or where Cβ is missing); residues with neither are left out.
pub fn read_structure(path: &Path, chain: Option<&str>) -> Result<Chain> {
    let text = path
        .to_str()
        .with_context(|| format!("{}: the path is not UTF-8", path.display()))?;
    let (pdb, _warnings) = pdbtbx::ReadOptions::new()
        .set_level(pdbtbx::StrictnessLevel::Loose)
        .set_only_first_model(true)
        .set_discard_hydrogens(true)
        .read(text)
        .map_err(|errors| {
            let first = errors.first().map_or("unreadable".to_string(), |e| {
                e.short_description().to_string()
            });
            anyhow::anyhow!("{}: not a PDB or mmCIF structure ({first})", path.display())
        })?;
    let mut chains = pdb.chains();
    let found = match chain {
        Some(id) => pdb.chains().find(|c| c.id() == id),
        None => chains.next(),
    };
    let Some(found) = found else {
        let ids: Vec<&str> = pdb.chains().map(|c| c.id()).collect();
        match chain {
            Some(id) => bail!(
                "{}: no chain {id} (chains: {})",
                path.display(),
                ids.join(", ")
            ),
            None => bail!("{}: no chains", path.display()),
        }
    };
    let mut sequence = String::new();
    let mut cb = Vec::new();
    for residue in found.residues() {
        let Some(conformer) = residue.conformers().next() else {
            continue;
        };
        let Some(letter) = one_letter(conformer.name()) else {
            continue;
        };
        let atom = |name: &str| conformer.atoms().find(|a| a.name() == name);
        let Some(atom) = atom("CB").or_else(|| atom("CA")) else {
            continue;
        };
        let (x, y, z) = atom.pos();
        sequence.push(letter);
        cb.push([x as f32, y as f32, z as f32]);
    }
    if sequence.is_empty() {
        bail!(
            "{}: chain {} has no amino acids with Cα or Cβ atoms",
            path.display(),
            found.id()
        );
    }
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = stem.split('.').next().unwrap_or("").to_string();
    Ok(Chain {
        name: format!("{stem}_{}", found.id()),
        sequence,
        cb,
    })
}

/// Sequence separation classes of contacts, as CASP scores them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Range {
    /// 6 ≤ j − i < 12.
    Short,
    /// 12 ≤ j − i < 24.
    Medium,
    /// j − i ≥ 24.
    Long,
    /// j − i ≥ 12.
    MediumLong,
    /// j − i ≥ 6: every contact.
    All,
}

impl Range {
    pub const ALL: [Range; 4] = [Range::Short, Range::Medium, Range::Long, Range::MediumLong];

    /// Whether a pair `separation` apart is in this range.
    pub fn holds(self, separation: usize) -> bool {
        match self {
            Range::Short => (6..12).contains(&separation),
            Range::Medium => (12..24).contains(&separation),
            Range::Long => separation >= 24,
            Range::MediumLong => separation >= 12,
            Range::All => separation >= MIN_SEPARATION,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Range::Short => "short",
            Range::Medium => "medium",
            Range::Long => "long",
            Range::MediumLong => "medium+long",
            Range::All => "all",
        }
    }
}

/// Pairs `(i, j, p)` of a `len`-residue chain in `range`, best first (p descending, ties by
/// `(i, j)` ascending, the firmware's order); `prob(i, j)` gives the score of `i < j`.
pub fn ranked(
    len: usize,
    range: Range,
    prob: impl Fn(usize, usize) -> f32,
) -> Vec<(usize, usize, f32)> {
    let mut pairs: Vec<(usize, usize, f32)> = (0..len)
        .flat_map(|i| (i + MIN_SEPARATION..len).map(move |j| (i, j)))
        .filter(|&(i, j)| range.holds(j - i))
        .map(|(i, j)| (i, j, prob(i, j)))
        .collect();
    pairs.sort_by(|a, b| b.2.total_cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
    pairs
}

/// Precision of the best `top` pairs of `ranked` against the true `contacts` (sorted): the
/// share of them in contact. `top` is at least 1.
pub fn precision(ranked: &[(usize, usize, f32)], contacts: &[(usize, usize)], top: usize) -> f64 {
    let top = top.max(1);
    let hits = ranked
        .iter()
        .take(top)
        .filter(|&&(i, j, _)| contacts.binary_search(&(i, j)).is_ok())
        .count();
    hits as f64 / top as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residues_map_to_the_runtime_tokens_and_the_rest_to_x() {
        assert_eq!(token(b'A'), 0);
        assert_eq!(token(b'y'), 19);
        assert_eq!(token(b'X'), 20);
        assert_eq!(token(b'B'), 20);
        assert_eq!(token(b'*'), 20);
    }

    #[test]
    fn records_read_and_bad_ones_are_named() {
        let good = r#"{"id":"1ABC","chain":"A","start_resnum":1,"seq":"GAV","dssp":"CCC","ca":[0,0,0,0,0,0,0,0,0],"cb":[0,0,0,1,0,0,9,0,0]}"#;
        let chains = parse(format!("{good}\n\n").as_bytes()).unwrap();
        assert_eq!(chains[0].name, "1ABC_A");
        assert_eq!(chains[0].cb[2], [9.0, 0.0, 0.0]);
        let short = good.replace("[0,0,0,1,0,0,9,0,0]", "[0,0,0]");
        let error = parse(short.as_bytes()).unwrap_err().to_string();
        assert!(
            error.contains("line 1 (1ABC_A): 3 Cβ coordinates for 3 residues"),
            "{error}"
        );
    }

    #[test]
    fn contacts_need_distance_and_separation() {
        // A line of residues 1 Å apart, folded back on itself after residue 9.
        let cb: Vec<[f32; 3]> = (0..20)
            .map(|i| {
                if i < 10 {
                    [i as f32, 0.0, 0.0]
                } else {
                    [(19 - i) as f32, 5.0, 0.0]
                }
            })
            .collect();
        let got = contacts(&cb);
        assert!(got.iter().all(|&(i, j)| j >= i + MIN_SEPARATION));
        assert!(got.contains(&(0, 19)), "5 Å apart, 19 apart in sequence");
        assert!(got.contains(&(0, 6)), "6 Å apart, 6 apart in sequence");
        assert!(!got.contains(&(0, 9)), "9 Å apart: no contact");
        assert!(!got.contains(&(0, 3)), "too close in sequence");
    }

    #[test]
    fn identity_counts_aligned_matches() {
        assert_eq!(identity(b"ACDEFGHIK", b"ACDEFGHIK"), 1.0);
        assert_eq!(
            identity(b"ACDEFGHIK", b"ACDEGHIK"),
            1.0,
            "one gap, all 8 match"
        );
        assert!(identity(b"AAAAAAAAAA", b"WWWWWWWWWW") < 0.01);
        // A short chain inside a long one, and two unrelated chains of different lengths.
        assert_eq!(identity(b"XXXXACDEFGHIKXXXX", b"ACDEFGHIK"), 1.0);
        assert!(
            identity(
                b"AYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQ",
                b"GSHMLETEDVVRARDAHLRSILDTVPDATVVSATDGTIV"
            ) < 0.2
        );
    }

    #[test]
    fn similar_chains_cluster_together_and_splits_keep_clusters_whole() {
        let base = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQ";
        let variant = base.replace("KSHF", "KSHW").replace("LGLI", "LGMI");
        let other = "GSHMSEQLTKCEVFRELKDLKGYGGVSLPEWVCTTFHTSGYDTQAIVQNNDSTEYG";
        let sequences = [base, &variant, other, &other.replace("TTF", "TSF")];
        let cluster_of = clusters(&sequences, 0.4);
        assert_eq!(cluster_of[0], cluster_of[1]);
        assert_eq!(cluster_of[2], cluster_of[3]);
        assert_ne!(cluster_of[0], cluster_of[2]);
        let (train, val, test) = split_by_cluster(&cluster_of, 0.25, 0.0, 1);
        assert_eq!(train.len() + val.len() + test.len(), 4);
        for split in [&train, &val, &test] {
            let ids: std::collections::HashSet<usize> =
                split.iter().map(|&i| cluster_of[i]).collect();
            for other in [&train, &val, &test] {
                if !std::ptr::eq(split, other) {
                    assert!(other.iter().all(|i| !ids.contains(&cluster_of[*i])));
                }
            }
        }
    }
}
