//! `scnn verify`: the runtime on the host against the independent float reference.
//!
//! Tolerances (defaults; each can be changed by a flag): the largest absolute difference of
//! any pair probability at most 0.1, the mean at most 0.01, and the pairs decoded from the
//! int8 map agree with those decoded from the float map with F1 at least 0.9.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use scnn::blob::Precision;
use scnn::model::LayerParams;
use serde::Serialize;

use crate::formats::{fasta, npy};
use crate::reference;
use crate::runtime::{self, Blob};
use crate::target::parity::{self, TargetArgs};
use crate::weights::FloatModel;

mod contacts;

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The blob.
    pub model: PathBuf,
    /// The float weights it was converted from (not needed with --target).
    #[arg(long, required_unless_present = "target")]
    pub weights: Option<PathBuf>,
    /// Sequences (FASTA); dot-bracket lines, where present, add accuracy against them.
    #[arg(long)]
    pub inputs: PathBuf,
    /// Average asymmetric kernels, as `convert --symmetrize` did.
    #[arg(long)]
    pub symmetrize: bool,
    /// Write every layer's quantized parameters and int8 activations (dense, `.npy`) here.
    #[arg(long)]
    pub dump: Option<PathBuf>,
    /// Largest allowed absolute probability error of any single pair (not checked unless
    /// given: one pair whose logit sits at the sigmoid's steepest point can move by a few
    /// int8 steps without changing any structure; the quantile below judges the model).
    #[arg(long, value_parser = super::limit)]
    pub max_abs_error: Option<f64>,
    /// Largest allowed 99.9th percentile of the absolute probability error over all pairs.
    #[arg(long, default_value_t = 0.1, value_parser = super::limit)]
    pub max_p999_error: f64,
    /// Largest allowed mean absolute probability error.
    #[arg(long, default_value_t = 0.01, value_parser = super::limit)]
    pub max_mean_error: f64,
    /// Smallest allowed F1 of the runtime's pairs against the float model's pairs.
    #[arg(long, default_value_t = 0.9, value_parser = super::limit)]
    pub min_f1: f64,
    /// Recommendation models: largest allowed |score_runtime − score_float| over all items,
    /// as a fraction of the float scores' spread (their standard deviation, mean over the
    /// histories).
    #[arg(long, default_value_t = 0.25, value_parser = super::limit)]
    pub max_score_error: f64,
    /// Recommendation models: smallest allowed mean share of the float model's top 10 items
    /// that the runtime's top 10 holds; contact models: of its top `L` contacts in the
    /// runtime's top `L`.
    #[arg(long, default_value_t = 0.8, value_parser = super::limit)]
    pub min_top_overlap: f64,
    /// Largest allowed drop of the runtime's pair F1 below the float model's, against the
    /// structures in `--inputs` (when it has them).
    #[arg(long, default_value_t = 0.01, value_parser = super::limit)]
    pub max_f1_drop: f64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Pair probability threshold of the decoder.
    #[arg(long, default_value_t = scnn::decode::DEFAULT_THRESHOLD, value_parser = super::threshold)]
    pub threshold: f32,
    #[command(flatten)]
    pub device: TargetArgs,
}

#[derive(Serialize, Debug, Clone)]
pub struct ParityReport {
    pub sequences: usize,
    pub bit_identical: bool,
    pub unit: &'static str,
    pub count_min: u64,
    pub count_mean: f64,
    pub count_max: u64,
    pub stack_bytes_max: u32,
}

/// What a parity run feeds the device.
enum Inputs {
    /// FASTA records (RNA, proteins).
    Sequences(Vec<fasta::Record>),
    /// Item histories (recommendation).
    Histories(Vec<crate::formats::histories::History>),
}

/// `verify --target`: every record through the device and the host, bit for bit.
fn run_parity(args: &VerifyArgs, blob: &Blob, inputs: &Inputs) -> Result<()> {
    let Some(mut device) = args.device.start(blob)? else {
        bail!("no target")
    };
    let count = match inputs {
        Inputs::Sequences(records) => records.len(),
        Inputs::Histories(histories) => histories.len(),
    };
    let bar = crate::progress::bar(count, "device parity");
    let mut counts = Vec::new();
    let mut stack = 0;
    for n in 0..count {
        let out = match inputs {
            Inputs::Sequences(records) => {
                let record = &records[n];
                parity::compare(blob, &mut device, &record.name, &record.sequence)?
            }
            Inputs::Histories(histories) => {
                parity::compare_items(blob, &mut device, &histories[n])?
            }
        };
        counts.push(out.count);
        stack = stack.max(out.stack);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let unit = device.unit.name();
    let what = match device.app {
        scnn::blob::App::Rna => "int8 logits and structures",
        scnn::blob::App::Protein => "int8 logits (CRC) and top-L contacts",
        scnn::blob::App::Items => "int32 item scores (CRC) and top-10 items",
        _ => "int8 logits",
    };
    device.close()?;
    let report = ParityReport {
        sequences: count,
        bit_identical: true,
        unit,
        count_min: counts.iter().copied().min().unwrap_or(0),
        count_mean: counts.iter().sum::<u64>() as f64 / counts.len().max(1) as f64,
        count_max: counts.iter().copied().max().unwrap_or(0),
        stack_bytes_max: stack,
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        outln!(
            "sequences            {} on {}",
            report.sequences,
            args.device.place()
        )?;
        outln!("parity               {what} bit-identical to the host runtime")?;
        outln!(
            "{:<20} min {}, mean {:.0}, max {}",
            unit,
            report.count_min,
            report.count_mean,
            report.count_max
        )?;
        outln!(
            "stack                {} bytes at most",
            report.stack_bytes_max
        )?;
    }
    Ok(())
}

#[derive(Serialize, Debug, Clone)]
pub struct VerifyReport {
    pub sequences: usize,
    pub max_abs_error: f64,
    /// 99.9th percentile of |p_runtime − p_float| over all pairs.
    pub p999_abs_error: f64,
    pub mean_abs_error: f64,
    pub f1_runtime_vs_float: f64,
    pub f1_float_vs_truth: Option<f64>,
    pub f1_runtime_vs_truth: Option<f64>,
    /// The limits the run was judged by.
    pub limits: VerifyLimits,
    /// Whether every limit held.
    pub passed: bool,
}

/// What `verify` fails a model for.
#[derive(Serialize, Debug, Clone)]
pub struct VerifyLimits {
    pub max_abs_error: Option<f64>,
    pub max_p999_error: f64,
    pub max_mean_error: f64,
    pub min_f1_runtime_vs_float: f64,
    pub max_f1_drop: f64,
}

/// `verify` of a recommendation model: its scores against the float reference's.
#[derive(Serialize, Debug, Clone)]
pub struct ItemsReport {
    pub histories: usize,
    /// Largest |score_runtime − score_float| over every item of every history.
    pub max_abs_error: f64,
    /// The float scores' standard deviation, mean over the histories.
    pub score_spread: f64,
    /// `max_abs_error / score_spread`.
    pub relative_error: f64,
    /// Mean share of the float model's top 10 (history left out) in the runtime's top 10.
    pub top10_overlap: f64,
    pub max_relative_error: f64,
    pub min_top10_overlap: f64,
    pub passed: bool,
}

fn top10(scores: &[f64], history: &[u16]) -> Vec<usize> {
    let mut items: Vec<usize> = (0..scores.len())
        .filter(|&i| !history.contains(&(i as u16)))
        .collect();
    items.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    items.truncate(10);
    items
}

fn verify_items(args: &VerifyArgs, blob: &Blob, model: &FloatModel) -> Result<()> {
    if args.dump.is_some() {
        bail!("--dump writes pair maps; a recommendation model has none");
    }
    let histories = crate::formats::histories::read(&args.inputs)?;
    for history in &histories {
        super::check_history(&model.config, history)?;
    }
    let (mut max_err, mut spread, mut overlap) = (0f64, 0f64, 0f64);
    for history in &histories {
        let float = reference::forward_side(model, &history.items, history.user.map(usize::from));
        let want = float.head.last().cloned().unwrap_or_default();
        let got = runtime::scores(blob, &history.items, history.user)
            .with_context(|| format!("history `{}`", history.name))?;
        if got.real.len() != want.len() {
            bail!(
                "the blob scores {} items, the weights {}",
                got.real.len(),
                want.len()
            );
        }
        for (w, g) in want.iter().zip(&got.real) {
            max_err = max_err.max((w - g).abs());
        }
        let mean = want.iter().sum::<f64>() / want.len().max(1) as f64;
        let variance =
            want.iter().map(|w| (w - mean).powi(2)).sum::<f64>() / want.len().max(1) as f64;
        spread += variance.sqrt();
        let (a, b) = (
            top10(&want, &history.items),
            top10(&got.real, &history.items),
        );
        overlap += b.iter().filter(|i| a.contains(i)).count() as f64 / a.len().max(1) as f64;
    }
    let n = histories.len() as f64;
    let spread = spread / n;
    let relative_error = if spread > 0.0 {
        max_err / spread
    } else {
        max_err
    };
    let top10_overlap = overlap / n;
    let passed = relative_error <= args.max_score_error && top10_overlap >= args.min_top_overlap;
    let report = ItemsReport {
        histories: histories.len(),
        max_abs_error: max_err,
        score_spread: spread,
        relative_error,
        top10_overlap,
        max_relative_error: args.max_score_error,
        min_top10_overlap: args.min_top_overlap,
        passed,
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        outln!("histories                {}", report.histories)?;
        outln!(
            "max |score_runtime − score_float| {:.5} = {:.3} of the score spread {:.4} (limit {})",
            report.max_abs_error,
            report.relative_error,
            report.score_spread,
            args.max_score_error
        )?;
        outln!(
            "top-10 overlap with float {:.3} (limit {})",
            report.top10_overlap,
            args.min_top_overlap
        )?;
    }
    if !passed {
        bail!(
            "the runtime's scores differ from the float model's beyond the limits (relative error {:.3}, top-10 overlap {:.3})",
            report.relative_error,
            report.top10_overlap
        );
    }
    Ok(())
}

/// Pair F1 of `predicted` against `truth` (1 when both are empty).
pub fn f1(predicted: &[(usize, usize)], truth: &[(usize, usize)]) -> f64 {
    if predicted.is_empty() && truth.is_empty() {
        return 1.0;
    }
    let tp = predicted.iter().filter(|p| truth.contains(p)).count();
    2.0 * tp as f64 / (predicted.len() + truth.len()) as f64
}

fn dense_layer<T: Copy + Default>(packed: &[T], l: usize, n: usize, c: usize) -> Vec<T> {
    let mut out = vec![T::default(); n * n * c];
    for i in 0..n {
        for j in 0..n {
            let (a, b) = if i <= j { (i, j) } else { (j, i) };
            let pair = scnn::tri::tri_index(l, a, b);
            out[(i * n + j) * c..(i * n + j + 1) * c]
                .copy_from_slice(&packed[pair * c..(pair + 1) * c]);
        }
    }
    out
}

fn dump_params(blob: &Blob, dir: &Path) -> Result<()> {
    let params = dir.join("params");
    std::fs::create_dir_all(&params)?;
    let quant = runtime::with_model(blob, |model| -> Result<serde_json::Value> {
        let mut layers = Vec::new();
        for (t, layer) in model.layers().enumerate() {
            let LayerParams::I8(p) = layer.params else {
                bail!("--dump needs an int8 blob")
            };
            let o = layer.out_channels as u64;
            npy::write(
                &params.join(format!("layer{t}_weights.npy")),
                &[o, p.weights.len() as u64 / o],
                p.weights,
            )?;
            npy::write(&params.join(format!("layer{t}_bias.npy")), &[o], p.bias)?;
            npy::write(
                &params.join(format!("layer{t}_multipliers.npy")),
                &[o],
                p.multipliers,
            )?;
            npy::write(&params.join(format!("layer{t}_shifts.npy")), &[o], p.shifts)?;
            let (scale, zero_point) = p.output_quant();
            layers.push(serde_json::json!({
                "layer": t, "output_scale": scale, "output_zero_point": zero_point,
                "conv_scale": p.conv_scale, "conv_zero_point": p.conv_zero_point,
                "conv_range": [p.conv_range.0, p.conv_range.1],
                "residual_add": p.add.map(|(a, _)| format!("{a:?}")),
            }));
        }
        Ok(serde_json::json!({ "layers": layers }))
    })??;
    std::fs::write(
        params.join("quant.json"),
        serde_json::to_string_pretty(&quant)?,
    )?;
    Ok(())
}

pub fn run(args: &VerifyArgs) -> Result<()> {
    let blob = Blob::read(&args.model)?;
    let summary = runtime::summary(&blob)?;
    if args.device.target.is_some() {
        if summary.app == scnn::blob::App::Items {
            let histories = crate::formats::histories::read(&args.inputs)?;
            return run_parity(args, &blob, &Inputs::Histories(histories));
        }
        let records = fasta::read_for(&args.inputs, summary.app)?;
        for record in &records {
            super::check_fits(&record.name, &record.sequence, summary.pair_len)?;
        }
        return run_parity(args, &blob, &Inputs::Sequences(records));
    }
    let Some(weights) = &args.weights else {
        bail!("--weights is required without --target")
    };
    let model = FloatModel::load(weights, args.symmetrize)?;
    if model.config.pair_len != summary.pair_len {
        bail!(
            "weights describe pair length {} but the blob {}",
            model.config.pair_len,
            summary.pair_len
        );
    }
    runtime::check_same_network(&blob, &model.config)?;
    if summary.app == scnn::blob::App::Items {
        return verify_items(args, &blob, &model);
    }
    if summary.app == scnn::blob::App::Protein {
        return contacts::verify(args, &blob, &model);
    }
    let records = fasta::read(&args.inputs)?;
    for record in &records {
        super::check_fits(&record.name, &record.sequence, summary.pair_len)?;
    }
    let staging = match &args.dump {
        Some(dir) => {
            if dir.exists() {
                bail!(
                    "--dump {}: already exists; give a new directory",
                    dir.display()
                );
            }
            let parent = dir
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let staging = tempfile::TempDir::new_in(parent).with_context(|| {
                format!(
                    "cannot write {}: directory {} is not writable",
                    dir.display(),
                    parent.display()
                )
            })?;
            if summary.precision != Precision::Int8 {
                bail!("--dump needs an int8 blob");
            }
            dump_params(&blob, staging.path())?;
            Some(staging)
        }
        None => None,
    };

    let bar = crate::progress::bar(records.len(), "verifying");
    let (mut max_err, mut sum_err, mut count) = (0.0f64, 0.0f64, 0usize);
    let mut errors: Vec<f64> = Vec::new();
    let (mut runtime_pairs, mut float_pairs) = (0usize, 0usize);
    let mut agree = 0usize;
    let (mut truth_f1_float, mut truth_f1_runtime, mut truths) = (0.0, 0.0, 0usize);
    for (index, record) in records.iter().enumerate() {
        let bases = super::bases(&record.name, &record.sequence)?;
        let float = reference::forward(&model, &bases);
        let float_probs: Vec<f32> = float.probs.data.iter().map(|&p| p as f32).collect();
        let got = runtime::predict(&blob, &record.sequence, args.threshold, staging.is_some())
            .with_context(|| format!("record `{}`", record.name))?;
        let n = bases.len();
        for i in 0..n {
            for j in i..n {
                let e = (got.probs[i * n + j] as f64 - float.probs.at(i, j, 0)).abs();
                max_err = max_err.max(e);
                sum_err += e;
                errors.push(e);
                count += 1;
            }
        }
        let (float_structure, _) = runtime::decode_dense(&float_probs, &bases, args.threshold)?;
        agree += got
            .pairs
            .iter()
            .filter(|p| float_structure.contains(p))
            .count();
        runtime_pairs += got.pairs.len();
        float_pairs += float_structure.len();
        if let Some(truth) = &record.structure {
            let truth = fasta::pairs_of(truth)?;
            truth_f1_float += f1(&float_structure, &truth);
            truth_f1_runtime += f1(&got.pairs, &truth);
            truths += 1;
        }
        if let Some(staging) = &staging {
            let dir = staging.path().join(format!(
                "{index:04}_{}",
                record.name.replace(['/', '\\'], "_")
            ));
            std::fs::create_dir_all(&dir)?;
            for (t, packed) in got.layers_i8.iter().enumerate() {
                let c = model.config.layers[t].out_channels;
                let dense = dense_layer(packed, got.l, n, c);
                npy::write(
                    &dir.join(format!("layer{t}.npy")),
                    &[n as u64, n as u64, c as u64],
                    &dense,
                )?;
                let reference: Vec<f32> = float.outputs[t].data.iter().map(|&v| v as f32).collect();
                npy::write(
                    &dir.join(format!("reference_layer{t}.npy")),
                    &[n as u64, n as u64, c as u64],
                    &reference,
                )?;
            }
            npy::write(&dir.join("probs.npy"), &[n as u64, n as u64], &got.probs)?;
            npy::write(
                &dir.join("reference_probs.npy"),
                &[n as u64, n as u64],
                &float_probs,
            )?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    errors.sort_by(f64::total_cmp);
    let p999 = errors
        .get((errors.len() as f64 * 0.999).ceil() as usize)
        .or(errors.last())
        .copied()
        .unwrap_or(0.0);
    let limits = VerifyLimits {
        max_abs_error: args.max_abs_error,
        max_p999_error: args.max_p999_error,
        max_mean_error: args.max_mean_error,
        min_f1_runtime_vs_float: args.min_f1,
        max_f1_drop: args.max_f1_drop,
    };
    let mut report = VerifyReport {
        sequences: records.len(),
        max_abs_error: max_err,
        p999_abs_error: p999,
        mean_abs_error: sum_err / count.max(1) as f64,
        f1_runtime_vs_float: if runtime_pairs + float_pairs == 0 {
            1.0
        } else {
            2.0 * agree as f64 / (runtime_pairs + float_pairs) as f64
        },
        f1_float_vs_truth: (truths > 0).then(|| truth_f1_float / truths as f64),
        f1_runtime_vs_truth: (truths > 0).then(|| truth_f1_runtime / truths as f64),
        limits,
        passed: false,
    };
    let failure = judge(&report);
    report.passed = failure.is_none();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        outln!("sequences               {}", report.sequences)?;
        let limit = args
            .max_abs_error
            .map_or("none".to_string(), |l| l.to_string());
        outln!(
            "max |p_runtime − p_float|   {:.5}  (limit {limit})",
            report.max_abs_error
        )?;
        outln!(
            "99.9 % |p_runtime − p_float| {:.5}  (limit {})",
            report.p999_abs_error,
            args.max_p999_error
        )?;
        outln!(
            "mean |p_runtime − p_float|  {:.6} (limit {})",
            report.mean_abs_error,
            args.max_mean_error
        )?;
        outln!(
            "pair F1 runtime vs float    {:.4}  (limit {})",
            report.f1_runtime_vs_float,
            args.min_f1
        )?;
        if let (Some(f), Some(r)) = (report.f1_float_vs_truth, report.f1_runtime_vs_truth) {
            outln!(
                "pair F1 vs given structures float {f:.4}, runtime {r:.4} (largest drop {})",
                args.max_f1_drop
            )?;
        }
    }
    if let (Some(staging), Some(dir)) = (staging, &args.dump) {
        let path = staging.keep();
        std::fs::rename(&path, dir)
            .with_context(|| format!("cannot move the dump to {}", dir.display()))?;
        eprintln!("dumped layers to {}", dir.display());
    }
    match failure {
        Some(reason) => bail!("verify failed: {reason}"),
        None => Ok(()),
    }
}

/// The first limit the report breaks, if any.
fn judge(report: &VerifyReport) -> Option<String> {
    let limits = &report.limits;
    if let Some(limit) = limits.max_abs_error {
        if report.max_abs_error > limit {
            return Some(format!(
                "max abs error {:.5} exceeds {limit}",
                report.max_abs_error
            ));
        }
    }
    if report.p999_abs_error > limits.max_p999_error {
        return Some(format!(
            "99.9th percentile abs error {:.5} exceeds {}",
            report.p999_abs_error, limits.max_p999_error
        ));
    }
    if report.mean_abs_error > limits.max_mean_error {
        return Some(format!(
            "mean abs error {:.6} exceeds {}",
            report.mean_abs_error, limits.max_mean_error
        ));
    }
    if report.f1_runtime_vs_float < limits.min_f1_runtime_vs_float {
        return Some(format!(
            "pair F1 against the float model {:.4} is below {}",
            report.f1_runtime_vs_float, limits.min_f1_runtime_vs_float
        ));
    }
    if let (Some(f), Some(r)) = (report.f1_float_vs_truth, report.f1_runtime_vs_truth) {
        if f - r > limits.max_f1_drop {
            return Some(format!(
                "pair F1 against the given structures drops from {f:.4} (float) to {r:.4} (runtime), more than {}",
                limits.max_f1_drop
            ));
        }
    }
    None
}
