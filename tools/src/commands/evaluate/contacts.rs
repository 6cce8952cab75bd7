//! A protein contact model's precision against structures: for each chain, the share of true
//! contacts (Cβ < 8 Å) among its best L/5, L/2 and L pairs in each separation range, the CASP
//! measures, averaged over chains.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::EvaluateArgs;
use crate::protein::{self, Chain, Range};
use crate::runtime::{self, Blob, Summary};

/// Precision at L/5, L/2 and L.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct AtDepths {
    pub l5: f64,
    pub l2: f64,
    pub l: f64,
}

/// One chain's precisions, by range.
#[derive(Clone, Debug, Serialize)]
pub struct ChainScore {
    pub name: String,
    pub length: usize,
    pub contacts: usize,
    pub short: AtDepths,
    pub medium: AtDepths,
    pub long: AtDepths,
    pub medium_long: AtDepths,
}

#[derive(Serialize)]
struct Report {
    model: String,
    precision: &'static str,
    pair_len: usize,
    data: String,
    chains: usize,
    longer_than_pair_len: usize,
    short: AtDepths,
    medium: AtDepths,
    long: AtDepths,
    medium_long: AtDepths,
}

/// Chains from a JSON-lines file (`.gz` allowed), one PDB/mmCIF file, or a directory of them.
fn read_chains(path: &Path) -> Result<Vec<Chain>> {
    let name = path.to_string_lossy().to_ascii_lowercase();
    if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        return files
            .iter()
            .map(|f| protein::read_structure(f, None))
            .collect();
    }
    if name.ends_with(".jsonl") || name.ends_with(".jsonl.gz") || name.ends_with(".json.gz") {
        return protein::read(path);
    }
    Ok(vec![protein::read_structure(path, None)?])
}

/// Scores one chain's probabilities (dense `n×n`) against its contacts.
pub fn score_chain(name: &str, probs: &[f32], n: usize, contacts: &[(usize, usize)]) -> ChainScore {
    let at = |range: Range| {
        let ranked = protein::ranked(n, range, |i, j| probs[i * n + j]);
        let truth: Vec<(usize, usize)> = contacts
            .iter()
            .copied()
            .filter(|&(i, j)| range.holds(j - i))
            .collect();
        AtDepths {
            l5: protein::precision(&ranked, &truth, n / 5),
            l2: protein::precision(&ranked, &truth, n / 2),
            l: protein::precision(&ranked, &truth, n),
        }
    };
    ChainScore {
        name: name.to_string(),
        length: n,
        contacts: contacts.len(),
        short: at(Range::Short),
        medium: at(Range::Medium),
        long: at(Range::Long),
        medium_long: at(Range::MediumLong),
    }
}

fn mean(scores: &[ChainScore], pick: impl Fn(&ChainScore) -> AtDepths) -> AtDepths {
    let n = scores.len().max(1) as f64;
    let sum = scores
        .iter()
        .map(&pick)
        .fold(AtDepths::default(), |a, b| AtDepths {
            l5: a.l5 + b.l5,
            l2: a.l2 + b.l2,
            l: a.l + b.l,
        });
    AtDepths {
        l5: sum.l5 / n,
        l2: sum.l2 / n,
        l: sum.l / n,
    }
}

pub fn run(args: &EvaluateArgs, blob: &Blob, summary: &Summary) -> Result<()> {
    let chains = read_chains(&args.data)?;
    let (fit, long): (Vec<Chain>, Vec<Chain>) = chains
        .into_iter()
        .partition(|c| c.sequence.len() <= summary.pair_len);
    if fit.is_empty() {
        bail!(
            "{}: no chains of at most {} residues to score",
            args.data.display(),
            summary.pair_len
        );
    }
    if !long.is_empty() {
        eprintln!(
            "warning: {} chains are longer than the model's {} positions and are not scored",
            long.len(),
            summary.pair_len
        );
    }
    let bar = crate::progress::bar(fit.len(), "evaluating");
    let one = |chain: &Chain| -> Result<ChainScore> {
        // The runtime reads the 20 residues and X; anything else is read as X.
        let sequence: String = chain
            .sequence
            .bytes()
            .map(|b| match protein::token(b) {
                protein::UNKNOWN => 'X',
                _ => b.to_ascii_uppercase() as char,
            })
            .collect();
        let p = runtime::predict(blob, &sequence, scnn::decode::DEFAULT_THRESHOLD, false)
            .with_context(|| format!("chain `{}`", chain.name))?;
        bar.inc(1);
        Ok(score_chain(
            &chain.name,
            &p.probs,
            p.len,
            &protein::contacts(&chain.cb),
        ))
    };
    let results = crate::parallel::map(&fit, one)?;
    bar.finish_and_clear();
    let scores: Vec<ChainScore> = results.into_iter().collect::<Result<_>>()?;
    let report = Report {
        model: args.model.display().to_string(),
        precision: super::precision_name(summary.precision),
        pair_len: summary.pair_len,
        data: args.data.display().to_string(),
        chains: scores.len(),
        longer_than_pair_len: long.len(),
        short: mean(&scores, |s| s.short),
        medium: mean(&scores, |s| s.medium),
        long: mean(&scores, |s| s.long),
        medium_long: mean(&scores, |s| s.medium_long),
    };
    if args.json {
        if args.per_sequence {
            for s in &scores {
                outln!("{}", serde_json::to_string(s)?)?;
            }
        }
        outln!("{}", serde_json::to_string(&report)?)?;
        return Ok(());
    }
    outln!(
        "{} ({}, pair length {}) on {}: {} chains ({} longer left out)",
        report.model,
        report.precision,
        report.pair_len,
        report.data,
        report.chains,
        report.longer_than_pair_len
    )?;
    outln!("| range | top L/5 | top L/2 | top L |")?;
    outln!("|---|---|---|---|")?;
    for (name, m) in [
        ("short (6–11)", report.short),
        ("medium (12–23)", report.medium),
        ("long (≥ 24)", report.long),
        ("medium+long (≥ 12)", report.medium_long),
    ] {
        outln!("| {name} | {:.4} | {:.4} | {:.4} |", m.l5, m.l2, m.l)?;
    }
    Ok(())
}
