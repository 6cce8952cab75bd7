//! `scnn evaluate`: how good a blob is at its job on data with answers, from the host runtime
//! (the same int8 arithmetic and decoder as the firmware). One command for every
//! application: base-pair F1 for RNA structure models, contact precision for protein
//! contact models, ranking metrics for recommenders.

mod contacts;
mod items;
mod structures;

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use crate::runtime::{self, Blob};

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// The blob (int8 or f32).
    pub model: PathBuf,
    /// Data with answers: RNA structures (FASTA with a dot-bracket line, bpseq, Stockholm with
    /// `#=GC SS_cons`) for an RNA model; chains (JSON lines as `scnn train --task contacts`
    /// reads and writes them, a PDB or mmCIF file, or a directory of them) for a contact
    /// model; the interaction file it was trained on (RecBole `.inter`, or `user item rating`
    /// lines) for a recommender.
    #[arg(long)]
    pub data: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// RNA: the decoder, `greedy` (the default firmware's) or `nested` (the best
    /// pseudoknot-free structure; firmware built with `SCNN_DECODER=nested`).
    #[arg(long, value_enum, default_value_t = crate::commands::Decoder::Greedy)]
    pub decoder: crate::commands::Decoder,
    /// RNA: the decoder's probability threshold. Default: the firmware's, 0.5 for greedy and
    /// 0.3 for nested (a model built with `scnn convert --threshold` carries its own in the
    /// head's bias).
    #[arg(long, value_parser = crate::commands::threshold)]
    pub threshold: Option<f32>,
    /// RNA and contacts: also print each sequence's scores (JSON lines with `--json`).
    #[arg(long)]
    pub per_sequence: bool,
}

pub fn run(args: &EvaluateArgs) -> Result<()> {
    let blob = Blob::read(&args.model)?;
    let summary = runtime::summary(&blob)?;
    match summary.app {
        scnn::blob::App::Items => items::run(args, &blob, &summary),
        scnn::blob::App::Rna => structures::run(args, &blob, &summary),
        scnn::blob::App::Protein => contacts::run(args, &blob, &summary),
        scnn::blob::App::Generic => bail!(
            "{} is a generic pair-map model: nothing says what its answers mean, so there is nothing to score against",
            args.model.display()
        ),
    }
}

/// `"int8"` or `"f32"`.
fn precision_name(precision: scnn::blob::Precision) -> &'static str {
    match precision {
        scnn::blob::Precision::Int8 => "int8",
        scnn::blob::Precision::F32 => "f32",
    }
}
