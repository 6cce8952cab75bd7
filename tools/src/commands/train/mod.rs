//! `scnn train`: train an SCNN (or, with `--dense`, a plain CNN of the same shape) on RNA
//! structures, or with `--task items` a sequential recommender (SCosRec, or CosRec with
//! `--dense`) on interactions, and write safetensors that `scnn convert` reads, plus a JSON
//! report.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::dataset::{self, Example};
use crate::output::Staged;
use crate::train::{self, Options, Progress};
use crate::weights;

mod contacts;
mod separation;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// What to train: `rna` (structures in, base pairs out) or `items` (a recommender on an
    /// interaction file: RecBole `.inter` or `user item rating` lines).
    #[arg(long, value_enum, default_value_t = Task::Rna)]
    pub task: Task,
    /// Structure files: Stockholm (.sto, per-sequence `#=GR SS` or `#=GC SS_cons`), 3-line
    /// FASTA with dot-bracket (.fa/.fas/.fasta/.dbn), bpseq (.bpseq, or a directory of them);
    /// for `--task items`, one interaction file.
    #[arg(long = "data", required = true, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// Output weights (safetensors), written atomically.
    #[arg(short, long)]
    pub output: PathBuf,
    /// JSON report (default: the output path with `.json`).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Also write the splits as 3-line FASTA (`train.fa`, `validation.fa`, `test.fa`) here;
    /// items: every user's validation and test history (`validation.tsv`, `test.tsv`).
    #[arg(long)]
    pub splits: Option<PathBuf>,
    /// Train a plain CNN (kernels unconstrained) of the same depth and width instead.
    #[arg(long)]
    pub dense: bool,
    /// Pair length L of the model (default 128; contacts 256). RNA: longer sequences are left
    /// out; contacts: longer chains train on crops and are left out of validation and test.
    #[arg(long)]
    pub pair_len: Option<usize>,
    /// Contacts: train on windows of at most this many residues (default 128).
    #[arg(long)]
    pub crop: Option<usize>,
    /// Contacts: chains in one identity cluster share more than this (default 0.4); the
    /// splits keep clusters whole.
    #[arg(long)]
    pub identity: Option<f64>,
    /// Channels of the hidden layers (default 8; items: the first convs, default 128, the
    /// second pair twice as many).
    #[arg(long)]
    pub width: Option<usize>,
    /// RNA: the residual layers as `KERNEL:DILATION`, comma-separated (default the example's
    /// `3:1,3:2,3:4,5:1,3:2`; `3:1,3:2,3:4,3:8,3:16` reaches across a 128-nt map).
    #[arg(long, value_delimiter = ',', value_parser = block)]
    pub blocks: Vec<(usize, usize)>,
    /// Epochs (default 30; items 20).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Stop after this many optimizer steps (0: run all epochs).
    #[arg(long, default_value_t = 0)]
    pub max_steps: usize,
    /// Batch size (default 8; items 512).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Adam's learning rate (default 0.005; items 0.001).
    #[arg(long)]
    pub learning_rate: Option<f64>,
    /// Size of the learned embeddings (items: item and user, default 50; contacts: residue,
    /// default 8).
    #[arg(long)]
    pub dim: Option<usize>,
    /// RNA and contacts: also give the first layer the sequence separation `|i − j|`, one-hot
    /// in this many bins (0: none; 16 reaches 192 positions; blob format 5).
    #[arg(long, default_value_t = 0)]
    pub separation: u16,
    /// Items: outputs of the dense layer after the pool.
    #[arg(long, default_value_t = 150)]
    pub fc: usize,
    /// Items: dropout after the dense layer.
    #[arg(long, default_value_t = 0.5)]
    pub dropout: f32,
    /// Items: Adam's L2 penalty.
    #[arg(long, default_value_t = 5e-6)]
    pub l2: f32,
    /// Loss weight of a paired position relative to an unpaired one.
    #[arg(long, default_value_t = 4.0)]
    pub pos_weight: f32,
    /// RNA: also train on the closed domains, at least this many bases long, of the training
    /// families' sequences longer than the pair length (stretches whose ends pair and that no
    /// pair crosses; see the RNA model card). Validation and test stay whole sequences.
    #[arg(long, value_name = "MIN_BASES")]
    pub domains: Option<usize>,
    /// RNA: each epoch trains on at most this many sequences of every family (a fresh draw
    /// each epoch; domains count with their family), so the few large families do not outweigh
    /// the many small ones. Needs `ACC|ID|NAME` headers, as in Rfam (0: every sequence).
    #[arg(long, value_name = "SEQUENCES", default_value_t = 0)]
    pub family_cap: usize,
    /// Fraction of the distinct sequences held out for validation.
    #[arg(long, default_value_t = 0.1)]
    pub validation: f64,
    /// Fraction of the distinct sequences held out for the test.
    #[arg(long, default_value_t = 0.1)]
    pub test: f64,
    /// Seed of the initial weights, the batch order and (unless --split-seed) the split.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Seed of the split alone (default: --seed), so runs of several --seed values hold out
    /// the same validation and test sequences.
    #[arg(long, value_name = "SEED")]
    pub split_seed: Option<u64>,
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
    /// Also checkpoint every this many steps within an epoch (0: at epoch ends only).
    #[arg(long, default_value_t = 0, requires = "checkpoint")]
    pub checkpoint_every: usize,
    /// End this run after this many steps (0: no limit), checkpointing first; continue with
    /// --resume.
    #[arg(long, default_value_t = 0, requires = "checkpoint")]
    pub steps_per_run: usize,
    /// RNA: choose the decoder's threshold on validation (greedy 0.2 to 0.6, nested 0.15 to
    /// 0.5) and fold it into the head's bias, so a device deciding at its own threshold
    /// (greedy 0.5, nested 0.3) decides as the chosen one would.
    #[arg(long)]
    pub tune_threshold: bool,
    /// With `--resume`: train no further, write the best weights so far and the report (test
    /// scored); works on the checkpoint of a run that is still going.
    #[arg(long, requires = "resume")]
    pub export_best: bool,
    /// Start from these weights (a safetensors file of the same model, e.g. a shipped one)
    /// instead of random ones: a fine-tune, on the same or on your own data. `--blocks` may
    /// also insert residual blocks into the file's model: they start at zero, passing their
    /// input on; a larger `--width` adds channels that start at random and feed no old one.
    /// Either way the grown model starts where the file's stood.
    #[arg(long, value_name = "WEIGHTS")]
    pub init: Option<PathBuf>,
    /// RNA: the decoder whose validation F1 selects the epoch and whose test F1 is reported
    /// (`nested`: the one of `--decoder nested` and `SCNN_DECODER=nested` firmware).
    #[arg(long, value_enum, default_value_t = crate::commands::Decoder::Greedy)]
    pub decoder: crate::commands::Decoder,
}

impl TrainArgs {
    /// The seed that draws the validation and test sets.
    fn seed_of_split(&self) -> u64 {
        self.split_seed.unwrap_or(self.seed)
    }
}

/// One `KERNEL:DILATION` of `--blocks`: an odd kernel of 1 to 7 and a dilation of 1 to 64.
fn block(text: &str) -> Result<(usize, usize), String> {
    let (kernel, dilation) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}` is not KERNEL:DILATION (e.g. 3:2)"))?;
    let kernel: usize = kernel
        .trim()
        .parse()
        .map_err(|_| format!("kernel `{kernel}` is not a number"))?;
    let dilation: usize = dilation
        .trim()
        .parse()
        .map_err(|_| format!("dilation `{dilation}` is not a number"))?;
    if !(1..=7).contains(&kernel) || kernel.is_multiple_of(2) {
        return Err(format!("kernel {kernel} must be odd, 1 to 7"));
    }
    if !(1..=64).contains(&dilation) {
        return Err(format!("dilation {dilation} must be 1 to 64"));
    }
    Ok((kernel, dilation))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Task {
    Rna,
    Items,
    /// Protein contact maps from a chains file (JSON lines, `.gz` allowed).
    Contacts,
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
        let splits =
            dataset::split_by_family(examples, args.validation, args.test, args.seed_of_split())?;
        Ok((splits, "family"))
    } else {
        let splits = dataset::split(examples, args.validation, args.test, args.seed_of_split());
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

/// Where the bar cannot be drawn (a run under `nohup`, its stderr a file), a line a minute
/// with the step, the recent loss, the rate and the time left.
struct StepLog {
    hidden: bool,
    since: std::time::Instant,
    last: std::time::Instant,
    first_step: Option<usize>,
    losses: f64,
    count: usize,
}

impl StepLog {
    fn new(bar: &ProgressBar) -> Self {
        let now = std::time::Instant::now();
        Self {
            hidden: bar.is_hidden(),
            since: now,
            last: now,
            first_step: None,
            losses: 0.0,
            count: 0,
        }
    }

    fn step(&mut self, step: usize, total: usize, loss: f64) {
        if !self.hidden {
            return;
        }
        let first = *self.first_step.get_or_insert(step - 1);
        self.losses += loss;
        self.count += 1;
        if self.last.elapsed().as_secs() < 60 && step != total {
            return;
        }
        let seconds = self.since.elapsed().as_secs_f64();
        let rate = (step - first) as f64 / seconds.max(1e-9);
        let left = (total - step) as f64 / rate.max(1e-9);
        eprintln!(
            "step {step}/{total}: mean loss {:.4} since the last line, {rate:.2} steps/s, about {:.0} min left",
            self.losses / self.count as f64,
            left / 60.0
        );
        self.last = std::time::Instant::now();
        self.losses = 0.0;
        self.count = 0;
    }
}

fn stage_split(
    outputs: &mut Staged,
    dir: &Path,
    name: &str,
    examples: &[Example],
    sources: &str,
) -> Result<()> {
    let comment = format!(
        "{name} split of {sources}: gaps removed, duplicates dropped; written by `scnn train`"
    );
    outputs.add(
        &dir.join(format!("{name}.fa")),
        dataset::to_fasta(examples, &comment).into_bytes(),
    )
}

/// Writes what a training run made, all at once at its end: a run that fails leaves none of
/// it (the splits directory is made only now).
fn commit(outputs: Staged, splits: Option<&Path>) -> Result<()> {
    let made = match splits {
        Some(dir) if !dir.exists() => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            Some(dir)
        }
        _ => None,
    };
    let result = outputs.commit();
    if let (Err(_), Some(dir)) = (&result, made) {
        // Empty again: the files went nowhere.
        let _ = std::fs::remove_dir(dir);
    }
    result
}

pub fn run(args: &TrainArgs) -> Result<()> {
    if args.output.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        bail!("output {} must end in .safetensors", args.output.display());
    }
    if args.task != Task::Rna && args.decoder != crate::commands::Decoder::Greedy {
        bail!("--decoder is for RNA structures (--task rna)");
    }
    if args.task != Task::Rna && args.domains.is_some() {
        bail!("--domains is for RNA structures (--task rna)");
    }
    if args.task != Task::Rna && args.family_cap > 0 {
        bail!("--family-cap is for RNA structures (--task rna)");
    }
    if args.domains.is_some() && args.split == SplitMode::Random {
        bail!("--domains needs the family split: a domain of a held-out sequence's family would leak into training");
    }
    if args.task == Task::Items && args.split_seed.is_some() {
        bail!("--split-seed is for RNA and contacts: the items split holds out every user's last items, by no seed");
    }
    if args.task == Task::Items && args.init.is_some() {
        bail!("--init is for RNA and contact models; a recommender starts from random weights");
    }
    match args.task {
        Task::Items => return run_items(args),
        Task::Contacts => return contacts::run(args),
        Task::Rna => {}
    }
    let pair_len = args.pair_len.unwrap_or(128);
    check_fractions(args)?;
    let blocks = if args.blocks.is_empty() {
        train::EXAMPLE_BLOCKS.to_vec()
    } else {
        args.blocks.clone()
    };
    let mut config = train::rna_config(pair_len, args.width.unwrap_or(8), &blocks);
    config.add_separation(args.separation);
    config.validate()?;
    let mut records = Vec::new();
    for path in &args.data {
        records.extend(dataset::read_file(path)?);
    }
    let domains = args
        .domains
        .map(|min_len| dataset::closed_domains(&records, pair_len, min_len));
    let (examples, cleaning) = dataset::clean(records, pair_len)?;
    eprintln!(
        "data: {} records, {} duplicates and {} longer than {} left out, {} ambiguous bases read as N; {} distinct sequences",
        cleaning.read, cleaning.duplicates, cleaning.too_long, pair_len, cleaning.ambiguous_bases, cleaning.kept
    );
    let (mut splits, split_kind) = split(examples, args)?;
    if splits.train.is_empty() {
        bail!("no training examples left after the split");
    }
    let mut counts = serde_json::json!({
        "kind": split_kind,
        "seed": args.seed_of_split(),
        "train": dataset::count(&splits.train),
        "validation": dataset::count(&splits.validation),
        "test": dataset::count(&splits.test),
    });
    if let Some(domains) = domains {
        let added = add_domains(&mut splits, domains, split_kind)?;
        counts["train_domains"] = serde_json::to_value(&added)?;
    }
    // Domains count: they are training sequences too.
    let window = splits.train.iter().map(|e| e.sequence.len()).max();
    separation::warn_unseen(
        window.unwrap_or(0),
        pair_len,
        args.separation,
        "train on longer sequences too, or lower --pair-len",
    );
    eprintln!(
        "split ({split_kind}): train {} sequences ({} families), validation {} ({}), test {} ({})",
        counts["train"]["sequences"],
        counts["train"]["families"],
        counts["validation"]["sequences"],
        counts["validation"]["families"],
        counts["test"]["sequences"],
        counts["test"]["families"]
    );
    let mut outputs = Staged::default();
    if let Some(dir) = &args.splits {
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
        stage_split(&mut outputs, dir, "train", &splits.train, &sources)?;
        stage_split(
            &mut outputs,
            dir,
            "validation",
            &splits.validation,
            &sources,
        )?;
        stage_split(&mut outputs, dir, "test", &splits.test, &sources)?;
    }
    let options = loop_options(args);
    let task = train::Structures {
        tune_threshold: args.tune_threshold,
        nested: (args.decoder == crate::commands::Decoder::Nested)
            .then_some(scnn::decode::NestedScoring::DEFAULT),
    };
    let trained = train::train_task(
        &task,
        &config,
        &splits.train,
        &splits.validation,
        &splits.test,
        &options,
        progress_events("F1"),
    )?;
    let mut extra = serde_json::Map::new();
    extra.insert("data".into(), serde_json::to_value(&cleaning)?);
    extra.insert("split".into(), counts);
    extra.insert("decoder".into(), args.decoder.name().into());
    finish(args, trained, extra, outputs, "sequences")
}

/// Adds the closed domains of long sequences to the training split, leaving out every domain
/// of a validation or test family and every sequence already in a split.
fn add_domains(
    splits: &mut dataset::Splits,
    domains: Vec<crate::formats::Structured>,
    split_kind: &str,
) -> Result<dataset::SplitCount> {
    if split_kind != "family" {
        bail!("--domains needs the family split: a domain of a held-out sequence's family would leak into training");
    }
    let held_out: std::collections::HashSet<&str> = splits
        .validation
        .iter()
        .chain(&splits.test)
        .filter_map(|e| dataset::family(&e.name))
        .collect();
    let kept: Vec<_> = domains
        .into_iter()
        .filter(|d| dataset::family(&d.name).is_some_and(|f| !held_out.contains(f)))
        .collect();
    let max_len = kept.iter().map(|d| d.sequence.len()).max().unwrap_or(0);
    let (examples, _) = dataset::clean(kept, max_len)?;
    let present: std::collections::HashSet<&str> = splits
        .train
        .iter()
        .chain(&splits.validation)
        .chain(&splits.test)
        .map(|e| e.sequence.as_str())
        .collect();
    let new: Vec<_> = examples
        .into_iter()
        .filter(|e| !present.contains(e.sequence.as_str()))
        .collect();
    let added = dataset::count(&new);
    eprintln!(
        "domains: {} closed domains of longer training sequences added ({} families)",
        added.sequences, added.families
    );
    splits.train.extend(new);
    Ok(added)
}

fn check_fractions(args: &TrainArgs) -> Result<()> {
    if !(0.0..1.0).contains(&(args.validation + args.test))
        || args.validation < 0.0
        || args.test < 0.0
    {
        bail!("--validation and --test must be fractions that sum to less than 1");
    }
    Ok(())
}

/// The shared loop's options from the command line.
fn loop_options(args: &TrainArgs) -> Options {
    Options {
        epochs: args.epochs.unwrap_or(30),
        max_steps: args.max_steps,
        batch: args.batch.unwrap_or(8),
        learning_rate: args.learning_rate.unwrap_or(0.005),
        pos_weight: args.pos_weight,
        seed: args.seed,
        dense: args.dense,
        bucket: !args.no_bucket,
        checkpoint: args.checkpoint.clone(),
        resume: args.resume,
        epochs_per_run: args.epochs_per_run,
        export_best: args.export_best,
        checkpoint_every: args.checkpoint_every,
        steps_per_run: args.steps_per_run,
        init: args.init.clone(),
        family_cap: args.family_cap,
    }
}

/// The bar (or, without a terminal, a line a minute) and a line per epoch; `score` names the
/// validation score in those lines.
fn progress_events(score: &'static str) -> impl FnMut(Progress<'_>) {
    let bar = progress_bar();
    let mut log = StepLog::new(&bar);
    move |event| match event {
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
            log.step(step, total, loss);
            if step == total {
                bar.finish_and_clear();
            }
        }
        Progress::Validating { epoch, sequences } => {
            bar.set_message(format!("epoch {epoch}: validating {sequences} sequences"));
        }
        Progress::Epoch(e) => bar.suspend(|| {
            let by_family = e
                .validation_family_f1
                .map(|f1| format!(" ({f1:.3} over families)"))
                .unwrap_or_default();
            eprintln!(
                "epoch {:>3}: {} steps, mean loss {:.4}, validation {score} {:.3}{by_family}",
                e.epoch, e.steps, e.mean_loss, e.validation_f1
            )
        }),
        Progress::Checkpoint { epoch } => {
            bar.set_message(format!("checkpoint after epoch {epoch} written"));
        }
    }
}

/// Stages the weights and the report (with `extra` fields) beside the splits, writes them all,
/// and says what the run did.
fn finish(
    args: &TrainArgs,
    trained: train::Trained,
    extra: serde_json::Map<String, serde_json::Value>,
    mut outputs: Staged,
    unit: &str,
) -> Result<()> {
    let report = &trained.report;
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| args.output.with_extension("json"));
    let mut json = serde_json::to_value(report)?;
    for (key, value) in extra {
        json[key] = value;
    }
    outputs.add(
        &args.output,
        weights::to_bytes(&trained.config, &trained.tensors)?,
    )?;
    outputs.add(
        &report_path,
        serde_json::to_string_pretty(&json)?.into_bytes(),
    )?;
    commit(outputs, args.splits.as_deref())?;
    eprintln!(
        "{}: {} trainable parameters, {} steps in {:.0} s; best epoch {} (validation {:.3}); test {:.3} on {} {unit} ({})",
        report.model,
        report.trainable_parameters,
        report.losses.len(),
        report.seconds,
        report.best_epoch,
        report.validation_f1,
        report.test_f1,
        report.test_examples,
        report.score
    );
    if let (Some(validation), Some(test)) = (report.validation_family_f1, report.test_family_f1) {
        eprintln!("the same over families: validation {validation:.3}, test {test:.3}");
    }
    if let Some(t) = &report.tuned {
        eprintln!(
            "decision threshold {} chosen on validation (F1 {:.3}; test {:.3}), folded into the head's bias ({:+.3})",
            t.threshold, t.validation_score, t.test_score, t.bias_shift
        );
    }
    if !report.finished {
        let after = report.epochs.last().map_or(0, |e| e.epoch);
        if args.export_best {
            eprintln!(
                "exported the best weights after epoch {after}; the run continues with --resume"
            );
        } else {
            eprintln!(
                "stopped by --epochs-per-run after epoch {after}; the weights are the best so far, continue with --resume"
            );
        }
    }
    eprintln!(
        "wrote {} and {}",
        args.output.display(),
        report_path.display()
    );
    Ok(())
}

fn run_items(args: &TrainArgs) -> Result<()> {
    let [path] = &args.data[..] else {
        bail!("--task items reads one interaction file (--data FILE)");
    };
    if args.checkpoint.is_some() || args.max_steps > 0 {
        bail!(
            "--checkpoint and --max-steps are for the RNA task (a recommender trains in minutes)"
        );
    }
    if !args.blocks.is_empty() {
        bail!("--blocks shapes RNA models; a recommender's convolutions are SCosRec's");
    }
    if args.separation > 0 {
        bail!("--separation is a pair-map feature; a recommender has none");
    }
    let interactions = crate::recsys::read(path)?;
    let data =
        crate::recsys::ItemsData::new(&interactions).with_context(|| path.display().to_string())?;
    let mut outputs = Staged::default();
    if let Some(dir) = &args.splits {
        // The histories the model is judged on, in the model's tokens: calibration for
        // `scnn convert` (validation) and device parity.
        for (name, stage) in [
            ("validation", crate::recsys::Stage::Validation),
            ("test", crate::recsys::Stage::Test),
        ] {
            let mut text = format!("{}\n", crate::formats::histories::HEADER);
            for (u, user) in data.users.iter().enumerate() {
                let (history, _, _) = data.stage(u, stage);
                let items: Vec<String> = history.iter().map(|t| t.to_string()).collect();
                text.push_str(&format!("{}\t{u}\t{}\n", user.user, items.join(" ")));
            }
            outputs.add(&dir.join(format!("{name}.tsv")), text.into_bytes())?;
        }
    }
    let options = train::items::ItemsOptions {
        epochs: args.epochs.unwrap_or(20),
        batch: args.batch.unwrap_or(512),
        learning_rate: args.learning_rate.unwrap_or(1e-3),
        l2: args.l2,
        dropout: args.dropout,
        dim: args.dim.unwrap_or(50),
        width: args.width.unwrap_or(128),
        fc: args.fc,
        seed: args.seed,
        dense: args.dense,
        ..Default::default()
    };
    eprintln!(
        "data: {} interactions, {} items, {} users with more than 5",
        interactions.len(),
        data.items.len(),
        data.users.len()
    );
    let bar = progress_bar();
    let (config, tensors, report) = train::items::train(&data, &options, |event| match event {
        train::items::ItemsProgress::Step { step, total, loss } => {
            bar.set_length(total as u64);
            bar.set_position(step as u64);
            bar.set_message(format!("loss {loss:.4}"));
        }
        train::items::ItemsProgress::Epoch(e) => bar.suspend(|| {
            eprintln!(
                "epoch {:>3}: mean loss {:.4}, validation MAP {:.4}, P@10 {:.4}",
                e.epoch, e.mean_loss, e.validation.map, e.validation.precision[2]
            )
        }),
    })?;
    bar.finish_and_clear();
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| args.output.with_extension("json"));
    outputs.add(&args.output, weights::to_bytes(&config, &tensors)?)?;
    let ids = crate::recsys::IdMap::path_for(&args.output);
    outputs.add(
        &ids,
        serde_json::to_string(&crate::recsys::IdMap::of(&data))?.into_bytes(),
    )?;
    outputs.add(
        &report_path,
        serde_json::to_string_pretty(&report)?.into_bytes(),
    )?;
    commit(outputs, args.splits.as_deref())?;
    eprintln!(
        "{}: best epoch {} (validation MAP {:.4}); test MAP {:.4}, P@10 {:.4}, R@10 {:.4} over {} users; {:.0} s",
        report.model,
        report.best_epoch,
        report.validation.map,
        report.test.map,
        report.test.precision[2],
        report.test.recall[2],
        report.test.users,
        report.seconds
    );
    eprintln!(
        "wrote {}, {} (item and user ids) and {}",
        args.output.display(),
        ids.display(),
        report_path.display()
    );
    Ok(())
}
