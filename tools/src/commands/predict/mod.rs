//! `scnn predict`: pair probabilities and the decoded structure of each sequence, or for a
//! recommendation model the best items of each history.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::runtime::{self, Blob};
use crate::target::parity::TargetArgs;

mod contacts;
mod items;
mod maps;

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
    /// Print one JSON object per record instead of text: `name`, `description`, `sequence`,
    /// `structure`, `pairs` (the structure's) and `probabilities` (`[i, j, p]` above
    /// `--min-prob`).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Text output: `dot-bracket` (RNAfold's record: header, sequence, structure), `bpseq` or
    /// `ct` (1-based).
    #[arg(long, value_enum, default_value_t = Format::DotBracket)]
    pub format: Format,
    /// `--json`: the smallest pair probability listed in `probabilities`.
    #[arg(long, default_value_t = 0.01, value_parser = super::limit)]
    pub min_prob: f64,
    /// Write the probability heatmap as PNG (one file per record when there are several:
    /// OUT's stem, an underscore and the record name).
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Pair probability above which a canonical pair is a candidate. Default: the
    /// firmware's, 0.5 for the greedy decoder and 0.3 for the nested one.
    #[arg(long, value_parser = super::threshold)]
    pub threshold: Option<f32>,
    /// RNA: `greedy` (canonical pairs above the threshold, best first) or `nested` (the best
    /// pseudoknot-free structure of them, each helix less a penalty). Default: the device's
    /// decoder with `--target`, else greedy.
    #[arg(long, value_enum)]
    pub decoder: Option<super::Decoder>,
    /// Contact models: a PDB or mmCIF file (one record to predict) whose chain's contacts
    /// are drawn beside the prediction with `--png` and scored in the JSON.
    #[arg(long)]
    pub structure: Option<PathBuf>,
    /// Contact models: the chain of `--structure` (default its first).
    #[arg(long, requires = "structure")]
    pub chain: Option<String>,
    #[command(flatten)]
    pub device: TargetArgs,
}

/// How a structure is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    DotBracket,
    Bpseq,
    Ct,
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
        return items::recommend_one(args, &blob, summary.app);
    }
    if summary.app == scnn::blob::App::Items || args.histories.is_some() {
        return items::recommend(args, &blob, summary.app);
    }
    maps::run(args, &blob, &summary)
}
