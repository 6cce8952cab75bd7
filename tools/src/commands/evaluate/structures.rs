//! An RNA structure model's base-pair scores against reference structures: each sequence is
//! predicted and decoded as `scnn predict` does it, and its pairs are compared exactly with
//! the reference's.

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::EvaluateArgs;
use crate::dataset::{self, Cleaning, Example};
use crate::runtime::{self, Blob, Summary};

/// One sequence's scores.
#[derive(Clone, Debug, Serialize)]
pub struct Scored {
    pub name: String,
    pub length: usize,
    pub reference_pairs: usize,
    pub predicted_pairs: usize,
    pub correct_pairs: usize,
    pub f1: f64,
}

/// Pair precision, recall and F1, each the mean over sequences.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Means {
    pub sequences: usize,
    pub f1: f64,
    pub precision: f64,
    pub recall: f64,
}

#[derive(Serialize)]
struct Report<'a> {
    model: String,
    precision: &'static str,
    pair_len: usize,
    decoder: crate::commands::Decoder,
    threshold: f32,
    data: String,
    /// What reading the data dropped (duplicates, sequences longer than the pair length).
    cleaning: &'a Cleaning,
    #[serde(flatten)]
    means: Means,
    /// With Rfam-style names, the mean over families too.
    #[serde(skip_serializing_if = "Option::is_none")]
    families: Option<FamilyMeans>,
}

/// Pair F1 weighing every family alike: each family's mean over its sequences, then the mean
/// of those. A set where a few families hold most sequences is otherwise scored mostly on
/// them, while a user's new RNA is more likely from one of the many small ones.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FamilyMeans {
    pub families: usize,
    pub family_f1: f64,
}

impl FamilyMeans {
    /// Over `scored`, when every name is `ACC|ID|NAME` ([`dataset::family`]); else `None`.
    pub fn of(scored: &[Scored]) -> Option<Self> {
        let (families, family_f1) =
            dataset::family_mean(scored.iter().map(|s| (dataset::family(&s.name), s.f1)))?;
        Some(Self {
            families,
            family_f1,
        })
    }
}

/// Scores of one prediction against its reference.
pub fn score(
    name: &str,
    length: usize,
    predicted: &[(usize, usize)],
    truth: &[(usize, usize)],
) -> Scored {
    let correct = predicted.iter().filter(|p| truth.contains(p)).count();
    Scored {
        name: name.to_string(),
        length,
        reference_pairs: truth.len(),
        predicted_pairs: predicted.len(),
        correct_pairs: correct,
        f1: crate::commands::verify::f1(predicted, truth),
    }
}

impl Means {
    /// Means over `scored`. Precision of a sequence with no predicted pairs (recall of one
    /// with no reference pairs) counts as 1 when the other side is empty too, else 0.
    pub fn of(scored: &[Scored]) -> Self {
        let ratio = |num: usize, den: usize, other: usize| match (den, other) {
            (0, 0) => 1.0,
            (0, _) => 0.0,
            _ => num as f64 / den as f64,
        };
        let n = scored.len().max(1) as f64;
        Self {
            sequences: scored.len(),
            f1: scored.iter().map(|s| s.f1).sum::<f64>() / n,
            precision: scored
                .iter()
                .map(|s| ratio(s.correct_pairs, s.predicted_pairs, s.reference_pairs))
                .sum::<f64>()
                / n,
            recall: scored
                .iter()
                .map(|s| ratio(s.correct_pairs, s.reference_pairs, s.predicted_pairs))
                .sum::<f64>()
                / n,
        }
    }
}

/// Predicts and scores `examples` on every core, in input order.
fn score_all(
    blob: &Blob,
    examples: &[Example],
    decoder: crate::commands::Decoder,
    threshold: f32,
    bar: &indicatif::ProgressBar,
) -> Result<Vec<Scored>> {
    let one = |e: &Example| -> Result<Scored> {
        let p = runtime::predict(blob, &e.sequence, threshold, false)
            .with_context(|| format!("record `{}`", e.name))?;
        bar.inc(1);
        let pairs = decoder.pairs(&e.name, &e.sequence, &p, threshold)?;
        Ok(score(&e.name, e.sequence.len(), &pairs, &e.pairs))
    };
    crate::parallel::map(examples, one)?.into_iter().collect()
}

pub fn run(args: &EvaluateArgs, blob: &Blob, summary: &Summary) -> Result<()> {
    let records = dataset::read_file(&args.data)?;
    let (examples, cleaning) = dataset::clean(records, summary.pair_len)?;
    if examples.is_empty() {
        bail!(
            "{}: no structures of at most {} nt to score ({} read, {} longer)",
            args.data.display(),
            summary.pair_len,
            cleaning.read,
            cleaning.too_long
        );
    }
    if cleaning.too_long > 0 {
        eprintln!(
            "warning: {} of {} records are longer than the model's {} positions and are not scored",
            cleaning.too_long, cleaning.read, summary.pair_len
        );
    }
    let bar = crate::progress::bar(examples.len(), "evaluating");
    let threshold = args.threshold.unwrap_or(args.decoder.default_threshold());
    let scored = score_all(blob, &examples, args.decoder, threshold, &bar)?;
    bar.finish_and_clear();
    let report = Report {
        model: args.model.display().to_string(),
        precision: super::precision_name(summary.precision),
        pair_len: summary.pair_len,
        decoder: args.decoder,
        threshold,
        data: args.data.display().to_string(),
        cleaning: &cleaning,
        means: Means::of(&scored),
        families: FamilyMeans::of(&scored),
    };
    if args.json {
        if args.per_sequence {
            for s in &scored {
                outln!("{}", serde_json::to_string(s)?)?;
            }
        }
        outln!("{}", serde_json::to_string(&report)?)?;
        return Ok(());
    }
    if args.per_sequence {
        outln!("| name | nt | reference pairs | predicted | correct | F1 |")?;
        outln!("|---|---|---|---|---|---|")?;
        for s in &scored {
            outln!(
                "| {} | {} | {} | {} | {} | {:.3} |",
                s.name,
                s.length,
                s.reference_pairs,
                s.predicted_pairs,
                s.correct_pairs,
                s.f1
            )?;
        }
        outln!()?;
    }
    outln!(
        "{} ({}, pair length {}, {} decoder) on {}",
        report.model,
        report.precision,
        report.pair_len,
        args.decoder.name(),
        report.data
    )?;
    outln!(
        "sequences {} ({} duplicates and {} longer than {} left out)",
        report.means.sequences,
        cleaning.duplicates,
        cleaning.too_long,
        summary.pair_len
    )?;
    outln!(
        "mean pair F1 {:.4}, precision {:.4}, recall {:.4}",
        report.means.f1,
        report.means.precision,
        report.means.recall
    )?;
    if let Some(f) = &report.families {
        outln!(
            "families {}: mean pair F1 over families {:.4}",
            f.families,
            f.family_f1
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(name: &str, f1: f64) -> Scored {
        Scored {
            name: name.to_string(),
            length: 10,
            reference_pairs: 1,
            predicted_pairs: 1,
            correct_pairs: 0,
            f1,
        }
    }

    #[test]
    fn every_family_weighs_alike_and_unnamed_sets_have_no_family_mean() {
        let set = [
            scored("RF1|a|x", 1.0),
            scored("RF1|a|y", 1.0),
            scored("RF1|a|z", 1.0),
            scored("RF2|b|w", 0.0),
        ];
        assert_eq!(
            FamilyMeans::of(&set),
            Some(FamilyMeans {
                families: 2,
                family_f1: 0.5
            })
        );
        assert_eq!(Means::of(&set).f1, 0.75);
        assert_eq!(
            FamilyMeans::of(&[scored("RF1|a|x", 1.0), scored("plain", 1.0)]),
            None
        );
        assert_eq!(FamilyMeans::of(&[]), None);
    }
}
