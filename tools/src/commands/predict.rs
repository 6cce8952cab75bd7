//! `scnn predict`: pair probabilities and the decoded structure of each sequence, or for a
//! recommendation model the best items of each history.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;

use crate::formats::fasta::{self, Record};
use crate::heatmap;
use crate::output::Staged;
use crate::runtime::{self, Blob};
use crate::target::parity::{self, TargetArgs};

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("input").required(true).args(["seq", "fasta", "histories", "history"]))]
pub struct PredictArgs {
    /// The blob.
    pub model: PathBuf,
    /// One sequence (A C G U T N, either case).
    #[arg(long)]
    pub seq: Option<String>,
    /// A FASTA file (`-`: standard input), read as a stream; a dot-bracket line after a
    /// sequence is ignored here. A record that cannot be predicted is reported and skipped.
    #[arg(long)]
    pub fasta: Option<PathBuf>,
    /// Item histories for a recommendation model (`name<TAB>user<TAB>items`, see
    /// `scnn random --app items`).
    #[arg(long)]
    pub histories: Option<PathBuf>,
    /// Recommendation models: one history, item ids as the data file writes them, oldest
    /// first, comma-separated; the last 5 are used, a shorter one is padded as in training.
    #[arg(long, value_delimiter = ',')]
    pub history: Option<Vec<String>>,
    /// Recommendation models: the user of `--history`, as the data file writes it.
    #[arg(long, requires = "history")]
    pub user: Option<String>,
    /// Recommendation models: item ids to leave out of the list (one a line), besides the
    /// history's own.
    #[arg(long, requires = "history")]
    pub exclude: Option<PathBuf>,
    /// Recommendation models: a RecBole `.item` file, to print titles.
    #[arg(long, requires = "history")]
    pub items: Option<PathBuf>,
    /// Recommendation models: the model's item and user ids (default: the blob's path with
    /// `.ids.json`, as `scnn train --task items` writes it).
    #[arg(long, requires = "history")]
    pub ids: Option<PathBuf>,
    /// Recommendation models: how many items to list (the history's own left out); more
    /// than there are gives the full ranking.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Print one JSON object per record instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write the probability heatmap as PNG (one file per record when there are several:
    /// OUT's stem, an underscore and the record name).
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Pair probability above which a canonical pair is a candidate.
    #[arg(long, default_value_t = scnn::decode::DEFAULT_THRESHOLD, value_parser = super::threshold)]
    pub threshold: f32,
    #[command(flatten)]
    pub device: TargetArgs,
}

#[derive(Serialize)]
struct JsonRecord<'a> {
    name: &'a str,
    sequence: &'a str,
    structure: &'a str,
    pairs: Vec<[usize; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<DeviceJson>,
}

#[derive(Serialize)]
struct DeviceJson {
    machine: String,
    count: u64,
    unit: &'static str,
    stack_bytes: u32,
    bit_identical_to_host: bool,
}

impl DeviceJson {
    /// What one answer cost on the device (parity already checked).
    fn new(
        args: &PredictArgs,
        device: &crate::target::device::Device,
        out: &crate::target::device::DeviceOutput,
    ) -> Self {
        Self {
            machine: args.device.place(),
            count: out.count,
            unit: device.unit.name(),
            stack_bytes: out.stack,
            bit_identical_to_host: true,
        }
    }
}

pub fn run(args: &PredictArgs) -> Result<()> {
    let blob = Blob::read(&args.model)?;
    let summary = runtime::summary(&blob)?;
    if args.history.is_some() {
        return recommend_one(args, &blob, summary.app);
    }
    if summary.app == scnn::blob::App::Items || args.histories.is_some() {
        return recommend(args, &blob, summary.app);
    }
    let mut run = Batch {
        args,
        blob: &blob,
        images: Vec::new(),
        device: None,
    };
    match (&args.seq, &args.fasta) {
        (Some(seq), None) => {
            // One sequence given on the command line: any problem with it is the error.
            let record = Record {
                name: "seq".into(),
                sequence: seq.clone(),
                structure: None,
                length: seq.len(),
            };
            fasta::check_record(&record, summary.app)?;
            super::check_fits(&record.name, &record.sequence, summary.pair_len)?;
            run.check_png_dir()?;
            run.start_device()?;
            run.one(&record)?;
        }
        (None, Some(path)) => {
            // A batch: records stream in and answers stream out; a record that cannot be
            // predicted is reported and skipped, as RNAfold does.
            // Letters past the pair length are counted, not kept.
            let records = fasta::open(path)?.with_max_len(summary.pair_len);
            run.check_png_dir()?;
            run.start_device()?;
            let (mut read, mut skipped) = (0usize, 0usize);
            // Why records were skipped, held until one is predicted: a file with none to
            // predict fails with the first reason, on one line.
            let mut held: Vec<anyhow::Error> = Vec::new();
            for record in records {
                let record = record.with_context(|| path.display().to_string())?;
                read += 1;
                let fits = super::check_length(&record.name, record.length, summary.pair_len)
                    .and_then(|()| fasta::check_record(&record, summary.app));
                if let Err(e) = fits {
                    skipped += 1;
                    if read == skipped {
                        held.push(e);
                    } else {
                        eprintln!("warning: skipped: {e:#}");
                    }
                    continue;
                }
                for e in held.drain(..) {
                    eprintln!("warning: skipped: {e:#}");
                }
                run.one(&record)?;
            }
            if read == 0 {
                bail!("{}: no FASTA records found", path.display());
            }
            if let Some(first) = held.into_iter().next() {
                let more = match skipped {
                    1 => String::new(),
                    n => format!(" (and {} more records, none predicted)", n - 1),
                };
                return Err(first.context(format!("{}{more}", path.display())));
            }
            run.finish()?;
            // The good records are answered; the run still failed for the others.
            if skipped > 0 {
                bail!("{skipped} of {read} records skipped (see the warnings above)");
            }
            return Ok(());
        }
        _ => bail!("give exactly one of --seq or --fasta"),
    }
    run.finish()
}

/// One prediction run over records: the blob, where images go, and the device if any.
struct Batch<'a> {
    args: &'a PredictArgs,
    blob: &'a Blob,
    /// Each predicted record's name and heatmap (with `--png`).
    images: Vec<(String, Vec<u8>)>,
    device: Option<crate::target::device::Device>,
}

impl Batch<'_> {
    /// Fails early, before anything is printed, when `--png` names something other than a
    /// regular file or its directory cannot take files.
    fn check_png_dir(&self) -> Result<()> {
        let Some(png) = &self.args.png else {
            return Ok(());
        };
        crate::output::check_replaceable(png)?;
        let dir = png
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        tempfile::tempfile_in(dir).with_context(|| {
            format!(
                "cannot write {}: directory {} is not writable",
                png.display(),
                dir.display()
            )
        })?;
        Ok(())
    }

    fn start_device(&mut self) -> Result<()> {
        self.device = self.args.device.start(self.blob)?;
        if self.device.is_some() && self.args.threshold != scnn::decode::DEFAULT_THRESHOLD {
            bail!(
                "--threshold cannot change the device's decoder (it uses {})",
                scnn::decode::DEFAULT_THRESHOLD
            );
        }
        Ok(())
    }

    /// Writes the heatmaps, only once every answer is in (a failure leaves none of them),
    /// and lets the device go.
    fn finish(&mut self) -> Result<()> {
        if let Some(png) = &self.args.png {
            let names: Vec<&str> = self.images.iter().map(|(name, _)| name.as_str()).collect();
            let paths = heatmap::paths_for(png, &names);
            let mut staged = Staged::default();
            for (path, (_, bytes)) in paths.iter().zip(std::mem::take(&mut self.images)) {
                staged.add(path, bytes)?;
            }
            staged.commit()?;
        }
        if let Some(d) = self.device.take() {
            d.close()?;
        }
        Ok(())
    }

    /// Predicts one record and prints it at once; its heatmap waits for the end.
    fn one(&mut self, record: &Record) -> Result<()> {
        let args = self.args;
        let p = runtime::predict(self.blob, &record.sequence, args.threshold, false)
            .with_context(|| format!("record `{}`", record.name))?;
        if p.unbracketed > 0 {
            eprintln!(
                "warning: record `{}`: {} pairs cross all 30 bracket levels; the dot-bracket leaves them out, the pairs keep them",
                record.name, p.unbracketed
            );
        }
        // On a device the structure is the one decoded there, checked against the host's.
        let on_device = match self.device.as_mut() {
            Some(d) => {
                let out = parity::compare(self.blob, d, &record.name, &record.sequence)?;
                Some(DeviceJson::new(args, d, &out))
            }
            None => None,
        };
        if args.json {
            let json = JsonRecord {
                name: &record.name,
                sequence: &record.sequence,
                structure: &p.structure,
                pairs: p.pairs.iter().map(|&(i, j)| [i, j]).collect(),
                device: on_device,
            };
            outln!("{}", serde_json::to_string(&json)?)?;
        } else {
            outln!(">{}\n{}\n{}", record.name, record.sequence, p.structure)?;
            if let Some(d) = &on_device {
                outln!(
                    "# decoded on {}: {} {}, stack {} bytes; logits, probabilities and structure bit-identical to the host runtime",
                    d.machine, d.count, d.unit, d.stack_bytes
                )?;
            }
        }
        if args.png.is_some() {
            let image = heatmap::render(&p.probs, p.len, &p.pairs)?;
            self.images.push((record.name.clone(), image));
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct JsonItems<'a> {
    name: &'a str,
    user: Option<u16>,
    history: &'a [u16],
    /// `[item, score]`, best first.
    items: Vec<(u16, f64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<DeviceJson>,
}

/// The best items of each history, from the host runtime (and checked on a device).
fn recommend(args: &PredictArgs, blob: &Blob, app: scnn::blob::App) -> Result<()> {
    let Some(path) = &args.histories else {
        bail!(
            "{} is a recommendation model: give --histories",
            args.model.display()
        );
    };
    if app != scnn::blob::App::Items {
        bail!(
            "--histories needs a recommendation model; {} is a {} model",
            args.model.display(),
            app.name()
        );
    }
    if args.top == 0 {
        bail!("--top must be at least 1");
    }
    let histories = crate::formats::histories::read(path)?;
    // Every history is scored before any output, so bad input prints nothing.
    let mut results = Vec::new();
    for history in &histories {
        let scores = runtime::scores(blob, &history.items, history.user)
            .with_context(|| format!("history `{}`", history.name))?;
        results.push(scores);
    }
    let mut device = args.device.start(blob)?;
    let mut text = String::new();
    for (history, scores) in histories.iter().zip(&results) {
        let on_device = match device.as_mut() {
            Some(d) => {
                let out = parity::compare_items(blob, d, history)?;
                Some(DeviceJson::new(args, d, &out))
            }
            None => None,
        };
        // int8 models rank by their int32 scores, as the device does.
        let mut ranked: Vec<(u16, f64)> = scores
            .ranking(0, |t| history.items.contains(&t))
            .into_iter()
            .map(|t| (t, scores.real[usize::from(t)]))
            .collect();
        ranked.truncate(args.top);
        if args.json {
            let json = JsonItems {
                name: &history.name,
                user: history.user,
                history: &history.items,
                items: ranked,
                device: on_device,
            };
            text.push_str(&serde_json::to_string(&json)?);
            text.push('\n');
        } else {
            let items: Vec<String> = ranked.iter().map(|(i, s)| format!("{i}:{s:.4}")).collect();
            text.push_str(&format!("{}\t{}\n", history.name, items.join(" ")));
            if let Some(d) = &on_device {
                text.push_str(&format!(
                    "# scored on {}: {} {}, stack {} bytes; scores and top items bit-identical to the host runtime\n",
                    d.machine, d.count, d.unit, d.stack_bytes
                ));
            }
        }
    }
    if let Some(d) = device {
        d.close()?;
    }
    out!("{text}")?;
    Ok(())
}

/// Titles by item id from a RecBole `.item` file (`item_id` and `movie_title` columns, or the
/// second column).
fn titles(path: &std::path::Path) -> Result<std::collections::HashMap<String, String>> {
    let text = crate::formats::read_text(path)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or("")
        .split('\t')
        .map(|h| h.split(':').next().unwrap_or(h))
        .collect();
    let id = header.iter().position(|&h| h == "item_id");
    let title = header.iter().position(|&h| h.contains("title")).or(Some(1));
    let (Some(id), Some(title)) = (id, title) else {
        bail!("{}: no item_id column", path.display());
    };
    Ok(lines
        .filter_map(|l| {
            let fields: Vec<&str> = l.split('\t').collect();
            Some((fields.get(id)?.to_string(), fields.get(title)?.to_string()))
        })
        .collect())
}

#[derive(Serialize)]
struct JsonRanking {
    user: Option<String>,
    history: Vec<String>,
    /// Item ids, best first (ties by the lower item id).
    items: Vec<String>,
    /// The model's score of each.
    scores: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<DeviceJson>,
}

/// `--history` (and `--user`): one ranking, named with the data file's ids.
fn recommend_one(args: &PredictArgs, blob: &Blob, app: scnn::blob::App) -> Result<()> {
    use crate::recsys::{IdMap, HISTORY};
    if app != scnn::blob::App::Items {
        bail!(
            "--history needs a recommendation model; {} is a {} model",
            args.model.display(),
            app.name()
        );
    }
    if args.top == 0 {
        bail!("--top must be at least 1");
    }
    let ids_path = args
        .ids
        .clone()
        .unwrap_or_else(|| IdMap::path_for(&args.model));
    let ids = IdMap::read(&ids_path)?;
    let history_ids = args.history.clone().unwrap_or_default();
    let tokens = history_ids
        .iter()
        .map(|id| ids.item_token(id.trim()))
        .collect::<Result<Vec<u16>>>()?;
    let mut history = [0u16; HISTORY];
    let take = tokens.len().min(HISTORY);
    history[HISTORY - take..].copy_from_slice(&tokens[tokens.len() - take..]);
    let user = args.user.as_deref().map(|u| ids.user_row(u)).transpose()?;
    let mut excluded: std::collections::HashSet<u16> = tokens.iter().copied().collect();
    if let Some(path) = &args.exclude {
        let text = crate::formats::read_text(path)?;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            excluded.insert(
                ids.item_token(line)
                    .with_context(|| format!("{}", path.display()))?,
            );
        }
    }
    let titles = args.items.as_deref().map(titles).transpose()?;
    let scores = runtime::scores(blob, &history, user)?;
    // On a device, its scores and top items are checked against these first.
    let on_device = match args.device.start(blob)? {
        Some(mut device) => {
            let request = crate::formats::histories::History {
                name: "history".into(),
                user,
                items: history.to_vec(),
            };
            let out = parity::compare_items(blob, &mut device, &request)?;
            let note = DeviceJson::new(args, &device, &out);
            device.close()?;
            Some(note)
        }
        None => None,
    };
    if scores.real.len() != ids.items.len() + 1 {
        bail!(
            "{} scores {} tokens but {} lists {} items: not this model's id map",
            args.model.display(),
            scores.real.len(),
            ids_path.display(),
            ids.items.len()
        );
    }
    // int8 models rank by their int32 scores, as the device does; ties by the lower token,
    // which is the lower item id.
    let mut order = scores.ranking(1, |t| excluded.contains(&t));
    order.truncate(args.top);
    let item_id = |t: u16| ids.items[usize::from(t) - 1].clone();
    if args.json {
        let json = JsonRanking {
            user: args.user.clone(),
            history: history_ids,
            items: order.iter().map(|&t| item_id(t)).collect(),
            scores: order.iter().map(|&t| scores.real[usize::from(t)]).collect(),
            device: on_device,
        };
        outln!("{}", serde_json::to_string(&json)?)?;
        return Ok(());
    }
    for (rank, &t) in order.iter().enumerate() {
        let id = item_id(t);
        let title = titles
            .as_ref()
            .and_then(|m| m.get(&id))
            .map_or(String::new(), |title| format!("\t{title}"));
        outln!(
            "{}\t{id}\t{:.4}{title}",
            rank + 1,
            scores.real[usize::from(t)]
        )?;
    }
    if let Some(d) = on_device {
        outln!(
            "# scored on {}: {} {}, stack {} bytes; scores and top 10 bit-identical to the host runtime",
            d.machine, d.count, d.unit, d.stack_bytes
        )?;
    }
    Ok(())
}
