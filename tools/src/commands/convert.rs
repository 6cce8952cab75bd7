//! `scnn convert`: float weights (safetensors) to a packed `.scnn` blob.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};

use crate::formats::fasta;
use crate::output::write_atomic;
use crate::runtime::{self, Blob};
use crate::weights::FloatModel;
use crate::{progress, quantize};

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum PrecisionArg {
    Int8,
    F32,
}

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// Float weights (safetensors with the `scnn` model description in its metadata).
    pub weights: PathBuf,
    /// Output blob (`.scnn`), written atomically.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Representative sequences (FASTA) for int8 calibration.
    #[arg(long)]
    pub calibrate: Option<PathBuf>,
    /// Number type of the blob.
    #[arg(long, value_enum, default_value = "int8")]
    pub precision: PrecisionArg,
    /// Average each kernel with its mirror instead of rejecting asymmetric kernels.
    #[arg(long)]
    pub symmetrize: bool,
}

/// Calibration inputs below which `convert` warns.
const MIN_CALIBRATION: usize = 8;

pub fn run(args: &ConvertArgs) -> Result<()> {
    if args.output.extension().and_then(|e| e.to_str()) != Some("scnn") {
        bail!("output {} must end in .scnn", args.output.display());
    }
    let model = FloatModel::load(&args.weights, args.symmetrize)?;
    if let Some((name, dtype)) = model.converted.first() {
        eprintln!(
            "note: {} tensor(s) read as f32 from another float type (`{name}`: {dtype})",
            model.converted.len()
        );
    }
    for (name, moved, share) in &model.symmetrized {
        eprintln!(
            "note: --symmetrize averaged `{name}` with its mirror: weights moved by up to {moved:.3e} ({:.2} % of its largest weight)",
            100.0 * share
        );
    }
    let spec = match args.precision {
        PrecisionArg::F32 => quantize::f32_blob(&model)?,
        PrecisionArg::Int8 => {
            let Some(path) = &args.calibrate else {
                bail!("int8 conversion needs --calibrate FASTA (representative sequences)");
            };
            let app = model.config.app;
            let (mut sequences, mut sides) = (Vec::new(), Vec::new());
            if app == crate::config::AppName::Items {
                // Recommendation models calibrate on item histories (with their users).
                for history in crate::formats::histories::read(path)? {
                    super::check_history(&model.config, &history)?;
                    sequences.push(history.items);
                    sides.push(history.user.unwrap_or(0));
                }
            } else {
                for record in &fasta::read_for(path, app.app())? {
                    super::check_fits(&record.name, &record.sequence, model.config.pair_len)?;
                    let tokens = fasta::tokens(&record.name, &record.sequence, app.alphabet())?;
                    sequences.push(tokens);
                }
            }
            // Ranges from a handful of short inputs clip what real inputs reach.
            let positions: usize = sequences.iter().map(Vec::len).sum();
            if sequences.len() < MIN_CALIBRATION || positions < 25 * MIN_CALIBRATION {
                eprintln!(
                    "warning: calibrating on {} input(s), {positions} positions in all, from {}: int8 ranges from so little data may clip real inputs; give a few dozen like those the model will see",
                    sequences.len(),
                    path.display()
                );
            }
            let bar = progress::bar(sequences.len(), "calibrating");
            let ranges = quantize::calibrate_with_sides(&model, &sequences, &sides, || bar.inc(1));
            bar.finish_and_clear();
            quantize::int8_blob(&model, &ranges)?
        }
    };
    let bytes = spec.to_bytes();
    // The runtime's own loader must accept what we write.
    runtime::summary(&Blob::new(&bytes))?;
    write_atomic(&args.output, &bytes)?;
    eprintln!("wrote {} ({} bytes)", args.output.display(), bytes.len());
    Ok(())
}
