//! `scnn predict` for a protein contact model: each chain's best `L` contacts (`j − i ≥ 6`),
//! as JSON or as a CASP RR file, and the true contacts of a structure to draw beside them.

use anyhow::{bail, Result};
use serde::Serialize;

use super::DeviceJson;
use crate::protein::{self, Chain, Range};
use crate::runtime::Prediction;

/// The best `len` pairs `j − i ≥ 6`: probability descending, ties by `(i, j)` ascending (the
/// firmware's order).
pub fn top_l(p: &Prediction) -> Vec<(usize, usize, f32)> {
    let n = p.len;
    let mut all = protein::ranked(n, Range::All, |i, j| p.probs[i * n + j]);
    all.truncate(n);
    all
}

#[derive(Serialize)]
struct JsonContacts<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    sequence: &'a str,
    /// `[i, j, p]`, 0-based, `i < j`, `j − i ≥ 6`, best first.
    contacts: Vec<(usize, usize, f64)>,
    /// Precision of the best L/5 medium+long-range contacts against `--structure`.
    #[serde(skip_serializing_if = "Option::is_none")]
    structure_precision_l5_medium_long: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<DeviceJson>,
}

/// One JSON line.
pub fn json(
    name: &str,
    description: Option<&str>,
    sequence: &str,
    p: &Prediction,
    truth: Option<&[(usize, usize)]>,
    device: Option<DeviceJson>,
) -> Result<String> {
    let contacts = top_l(p)
        .into_iter()
        .map(|(i, j, prob)| (i, j, (f64::from(prob) * 1e4).round() / 1e4))
        .collect();
    let record = JsonContacts {
        name,
        description,
        sequence,
        contacts,
        structure_precision_l5_medium_long: truth.map(|t| precision_l5(p, t)),
        device,
    };
    Ok(format!("{}\n", serde_json::to_string(&record)?))
}

/// Precision of the best L/5 medium+long-range pairs against `truth`.
pub fn precision_l5(p: &Prediction, truth: &[(usize, usize)]) -> f64 {
    let n = p.len;
    let ranked = protein::ranked(n, Range::MediumLong, |i, j| p.probs[i * n + j]);
    protein::precision(&ranked, truth, n / 5)
}

/// The CASP RR format: header, the sequence in lines of 50, then `i j 0 8 p` (1-based).
pub fn rr(name: &str, sequence: &str, p: &Prediction) -> String {
    let mut out = format!("PFRMAT RR\nTARGET {name}\nMODEL 1\n");
    for line in sequence.as_bytes().chunks(50) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    for (i, j, prob) in top_l(p) {
        out.push_str(&format!("{} {} 0 8 {prob:.4}\n", i + 1, j + 1));
    }
    out.push_str("END\n");
    out
}

/// The true contacts of `structure` for `sequence`: the chain must have the sequence's length,
/// residue for residue; letters that differ are counted in a warning.
pub fn true_contacts(structure: &Chain, name: &str, sequence: &str) -> Result<Vec<(usize, usize)>> {
    if structure.sequence.len() != sequence.len() {
        bail!(
            "record `{name}` has {} residues but the structure's chain {} has {} (residues in file order, amino acids with Cα or Cβ)",
            sequence.len(),
            structure.name,
            structure.sequence.len()
        );
    }
    let differ = structure
        .sequence
        .bytes()
        .zip(sequence.bytes())
        .filter(|(a, b)| !a.eq_ignore_ascii_case(b))
        .count();
    if differ > 0 {
        eprintln!(
            "warning: record `{name}` differs from the structure's chain {} at {differ} of {} residues",
            structure.name,
            sequence.len()
        );
    }
    Ok(protein::contacts(&structure.cb))
}
