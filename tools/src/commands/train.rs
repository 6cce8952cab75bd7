//! `scnn train`: train an SCNN (or, with `--dense`, a plain CNN of the same shape) on RNA
//! structures and write safetensors that `scnn convert` reads, plus a JSON report.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::dataset::{self, Example};
use crate::output::write_atomic;
use crate::train::{self, Options, Progress};
use crate::weights;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Structure files: Stockholm (.sto, per-sequence `#=GR SS` or `#=GC SS_cons`), 3-line
    /// FASTA with dot-bracket (.fa/.fas/.fasta/.dbn), bpseq (.bpseq, or a directory of them).
    #[arg(long = "data", required = true, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// Output weights (safetensors), written atomically.
    #[arg(short, long)]
    pub output: PathBuf,
    /// JSON report (default: the output path with `.json`).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Also write the splits as 3-line FASTA (`train.fa`, `validation.fa`, `test.fa`) here.
    #[arg(long)]
    pub splits: Option<PathBuf>,
    /// Train a plain CNN (kernels unconstrained) of the same depth and width instead.
    #[arg(long)]
    pub dense: bool,
    /// Pair length L of the model (longer sequences are left out).
    #[arg(long, default_value_t = 128)]
    pub pair_len: usize,
    /// Channels of the hidden layers.
    #[arg(long, default_value_t = 8)]
    pub width: usize,
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Stop after this many optimizer steps (0: run all epochs).
    #[arg(long, default_value_t = 0)]
    pub max_steps: usize,
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    #[arg(long, default_value_t = 0.005)]
    pub learning_rate: f64,
    /// Loss weight of a paired position relative to an unpaired one.
    #[arg(long, default_value_t = 4.0)]
    pub pos_weight: f32,
    /// Fraction of the distinct sequences held out for validation.
    #[arg(long, default_value_t = 0.1)]
    pub validation: f64,
    /// Fraction of the distinct sequences held out for the test.
    #[arg(long, default_value_t = 0.1)]
    pub test: f64,
    /// Seed of the split, the initial weights and the batch order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How to hold out validation and test sequences: `family` keeps whole families (the
    /// first `|` field of `ACC|ID|NAME` headers, as in Rfam) in one split, `random` splits
    /// sequences, `auto` splits by family when every header names one.
    #[arg(long, value_enum, default_value_t = SplitMode::Auto)]
    pub split: SplitMode,
    /// Batches in random order of the sequences instead of sequences of about one length.
    #[arg(long)]
    pub no_bucket: bool,
    /// Write a checkpoint (weights, optimizer state, loop state) here after every epoch.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// Continue the run whose checkpoint is in --checkpoint (same command and data).
    #[arg(long, requires = "checkpoint")]
    pub resume: bool,
    /// End this run after this many epochs (0: no limit), to resume later with --resume.
    #[arg(long, default_value_t = 0)]
    pub epochs_per_run: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SplitMode {
    Auto,
    Random,
    Family,
}

/// Splits `examples` as `args` asks; returns the splits and the kind used.
fn split(examples: Vec<Example>, args: &TrainArgs) -> Result<(dataset::Splits, &'static str)> {
    let by_family = match args.split {
        SplitMode::Random => false,
        SplitMode::Family => true,
        SplitMode::Auto => dataset::has_families(&examples),
    };
    if by_family {
        let splits = dataset::split_by_family(examples, args.validation, args.test, args.seed)?;
        Ok((splits, "family"))
    } else {
        let splits = dataset::split(examples, args.validation, args.test, args.seed);
        Ok((splits, "random"))
    }
}

/// Steps with rate and time left; positions restored from a checkpoint don't count for the ETA.
fn progress_bar() -> ProgressBar {
    let bar = crate::progress::bar(0, "training");
    let template = "{msg} [{bar:30}] {pos}/{len} steps, {per_sec}, {elapsed} elapsed, ETA {eta}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn write_split(dir: &Path, name: &str, examples: &[Example], sources: &str) -> Result<()> {
    let comment = format!(
        "{name} split of {sources}: gaps removed, duplicates dropped; written by `scnn train`"
    );
    write_atomic(
        &dir.join(format!("{name}.fa")),
        dataset::to_fasta(examples, &comment).as_bytes(),
    )
}

pub fn run(args: &TrainArgs) -> Result<()> {
    if args.output.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        bail!("output {} must end in .safetensors", args.output.display());
    }
    if !(0.0..1.0).contains(&(args.validation + args.test))
        || args.validation < 0.0
        || args.test < 0.0
    {
        bail!("--validation and --test must be fractions that sum to less than 1");
    }
    let config = train::example_config(args.pair_len, args.width);
    config.validate()?;
    let mut records = Vec::new();
    for path in &args.data {
        records.extend(dataset::read_file(path)?);
    }
    let (examples, cleaning) = dataset::clean(records, args.pair_len)?;
    eprintln!(
        "data: {} records, {} duplicates and {} longer than {} left out, {} ambiguous bases read as N; {} distinct sequences",
        cleaning.read, cleaning.duplicates, cleaning.too_long, args.pair_len, cleaning.ambiguous_bases, cleaning.kept
    );
    let (splits, split_kind) = split(examples, args)?;
    if splits.train.is_empty() {
        bail!("no training examples left after the split");
    }
    let counts = serde_json::json!({
        "kind": split_kind,
        "train": dataset::count(&splits.train),
        "validation": dataset::count(&splits.validation),
        "test": dataset::count(&splits.test),
    });
    eprintln!(
        "split ({split_kind}): train {} sequences ({} families), validation {} ({}), test {} ({})",
        counts["train"]["sequences"],
        counts["train"]["families"],
        counts["validation"]["sequences"],
        counts["validation"]["families"],
        counts["test"]["sequences"],
        counts["test"]["families"]
    );
    if let Some(dir) = &args.splits {
        std::fs::create_dir_all(dir)?;
        let sources: Vec<String> = args
            .data
            .iter()
            .map(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        let sources = sources.join(", ");
        write_split(dir, "train", &splits.train, &sources)?;
        write_split(dir, "validation", &splits.validation, &sources)?;
        write_split(dir, "test", &splits.test, &sources)?;
    }
    let options = Options {
        epochs: args.epochs,
        max_steps: args.max_steps,
        batch: args.batch,
        learning_rate: args.learning_rate,
        pos_weight: args.pos_weight,
        seed: args.seed,
        dense: args.dense,
        bucket: !args.no_bucket,
        checkpoint: args.checkpoint.clone(),
        resume: args.resume,
        epochs_per_run: args.epochs_per_run,
    };
    let bar = progress_bar();
    let trained = train::train(
        &config,
        &splits.train,
        &splits.validation,
        &splits.test,
        &options,
        |event| match event {
            Progress::Start { step, total } => {
                bar.set_length(total as u64);
                bar.set_position(step as u64);
                bar.reset_eta();
                if step > 0 {
                    bar.suspend(|| eprintln!("resumed at step {step} of {total}"));
                }
            }
            Progress::Step { step, total, loss } => {
                bar.set_length(total as u64);
                bar.set_position(step as u64);
                bar.set_message(format!("loss {loss:.4}"));
            }
            Progress::Validating { epoch, sequences } => {
                bar.set_message(format!("epoch {epoch}: validating {sequences} sequences"));
            }
            Progress::Epoch(e) => bar.suspend(|| {
                eprintln!(
                    "epoch {:>3}: {} steps, mean loss {:.4}, validation F1 {:.3}",
                    e.epoch, e.steps, e.mean_loss, e.validation_f1
                )
            }),
            Progress::Checkpoint { epoch } => {
                bar.set_message(format!("checkpoint after epoch {epoch} written"));
            }
        },
    )?;
    bar.finish_and_clear();
    let report = &trained.report;
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| args.output.with_extension("json"));
    let mut json = serde_json::to_value(report)?;
    json["data"] = serde_json::to_value(&cleaning)?;
    json["split"] = counts;
    weights::save(&args.output, &trained.config, &trained.tensors)?;
    write_atomic(
        &report_path,
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    eprintln!(
        "{}: {} trainable parameters, {} steps in {:.0} s; best epoch {} (validation F1 {:.3}); test F1 {:.3} on {} sequences",
        report.model,
        report.trainable_parameters,
        report.losses.len(),
        report.seconds,
        report.best_epoch,
        report.validation_f1,
        report.test_f1,
        report.test_examples
    );
    if !report.finished {
        eprintln!(
            "stopped by --epochs-per-run after epoch {}; the weights are the best so far, continue with --resume",
            report.epochs.last().map_or(0, |e| e.epoch)
        );
    }
    eprintln!(
        "wrote {} and {}",
        args.output.display(),
        report_path.display()
    );
    Ok(())
}
