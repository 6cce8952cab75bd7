//! `scnn verify` for a protein contact model: the runtime's contact probabilities against the
//! float model's, and how many of the float model's best `L` contacts the runtime's best `L`
//! hold (the list a firmware sends).

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::VerifyArgs;
use crate::formats::fasta;
use crate::protein;
use crate::reference;
use crate::runtime::{self, Blob};
use crate::weights::FloatModel;

#[derive(Serialize)]
struct ContactsReport {
    chains: usize,
    max_abs_error: f64,
    p999_abs_error: f64,
    mean_abs_error: f64,
    /// Mean share of the float model's top-L contacts (`j − i ≥ 6`) in the runtime's top L.
    top_l_overlap: f64,
    limits: Limits,
    passed: bool,
}

#[derive(Serialize)]
struct Limits {
    max_abs_error: Option<f64>,
    max_p999_error: f64,
    max_mean_error: f64,
    min_top_overlap: f64,
}

/// The best `L` pairs `j − i ≥ 6` of a dense `n×n` map, in the firmware's order.
fn top_l(probs: &[f32], n: usize) -> Vec<(usize, usize)> {
    let mut ranked = protein::ranked(n, protein::Range::All, |i, j| probs[i * n + j]);
    ranked.truncate(n);
    ranked.into_iter().map(|(i, j, _)| (i, j)).collect()
}

pub fn verify(args: &VerifyArgs, blob: &Blob, model: &FloatModel) -> Result<()> {
    if args.dump.is_some() {
        bail!("--dump is for RNA models");
    }
    let records = fasta::read_for(&args.inputs, scnn::blob::App::Protein)?;
    let bar = crate::progress::bar(records.len(), "verifying");
    let mut errors: Vec<f64> = Vec::new();
    let mut overlap = 0.0;
    for record in &records {
        super::super::check_fits(&record.name, &record.sequence, model.config.pair_len)?;
        let tokens: Vec<u16> = record.sequence.bytes().map(protein::token).collect();
        let float = reference::forward_tokens(model, &tokens);
        let got = runtime::predict(
            blob,
            &record.sequence,
            scnn::decode::DEFAULT_THRESHOLD,
            false,
        )
        .with_context(|| format!("record `{}`", record.name))?;
        let n = tokens.len();
        let mut float_probs = vec![0f32; n * n];
        for i in 0..n {
            for j in i..n {
                let p = float.probs.at(i, j, 0);
                float_probs[i * n + j] = p as f32;
                errors.push((f64::from(got.probs[i * n + j]) - p).abs());
            }
        }
        let want = top_l(&float_probs, n);
        let have = top_l(&got.probs, n);
        overlap +=
            have.iter().filter(|p| want.contains(p)).count() as f64 / want.len().max(1) as f64;
        bar.inc(1);
    }
    bar.finish_and_clear();
    if records.is_empty() {
        bail!("{}: no sequences", args.inputs.display());
    }
    errors.sort_by(f64::total_cmp);
    let quantile = |q: f64| errors[((errors.len() - 1) as f64 * q).round() as usize];
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    let max = *errors.last().unwrap_or(&0.0);
    let overlap = overlap / records.len() as f64;
    let passed = args.max_abs_error.is_none_or(|limit| max <= limit)
        && quantile(0.999) <= args.max_p999_error
        && mean <= args.max_mean_error
        && overlap >= args.min_top_overlap;
    let report = ContactsReport {
        chains: records.len(),
        max_abs_error: max,
        p999_abs_error: quantile(0.999),
        mean_abs_error: mean,
        top_l_overlap: overlap,
        limits: Limits {
            max_abs_error: args.max_abs_error,
            max_p999_error: args.max_p999_error,
            max_mean_error: args.max_mean_error,
            min_top_overlap: args.min_top_overlap,
        },
        passed,
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        outln!("chains                 {}", report.chains)?;
        outln!("max |Δp|               {:.5}", report.max_abs_error)?;
        outln!(
            "99.9th pct |Δp|        {:.5} (limit {})",
            report.p999_abs_error,
            args.max_p999_error
        )?;
        outln!(
            "mean |Δp|              {:.5} (limit {})",
            report.mean_abs_error,
            args.max_mean_error
        )?;
        outln!(
            "top-L overlap          {:.3} (limit {})",
            report.top_l_overlap,
            args.min_top_overlap
        )?;
    }
    if !passed {
        bail!(
            "the runtime's contacts differ from the float model's beyond the limits (99.9th pct |Δp| {:.4}, mean {:.5}, top-L overlap {:.3})",
            report.p999_abs_error,
            report.mean_abs_error,
            report.top_l_overlap
        );
    }
    Ok(())
}
