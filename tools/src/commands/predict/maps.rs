//! `scnn predict` for a pair-map model: the structure (and pair probabilities) of each
//! sequence, as a streamed batch.

use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use serde::Serialize;

use super::{contacts, DeviceJson, Format, PredictArgs};
use crate::formats::fasta::{self, Record};
use crate::formats::structure_out;
use crate::heatmap;
use crate::output::Staged;
use crate::runtime::{self, Blob, Prediction, Summary};
use crate::target::parity;

/// Records predicted together, across the cores, before their answers are printed in order:
/// at most this many …
const CHUNK: usize = 64;
/// … and at most this many pair cells in all (each kept as an f32 map until printed).
const CHUNK_CELLS: usize = 1 << 22;

#[derive(Serialize)]
struct JsonRecord<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    sequence: &'a str,
    structure: &'a str,
    pairs: Vec<[usize; 2]>,
    /// `[i, j, p]`, `i < j`, every pair with `p ≥ --min-prob`, by `(i, j)`.
    probabilities: Vec<(usize, usize, f64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<DeviceJson>,
}

pub fn run(args: &PredictArgs, blob: &Blob, summary: &Summary) -> Result<()> {
    let mut run = Batch {
        args,
        blob,
        app: summary.app,
        images: Vec::new(),
        device: None,
        decoder: super::super::Decoder::Greedy,
        pending: Vec::new(),
        progress: ProgressBar::hidden(),
        structure: None,
        answered: 0,
    };
    match (&args.seq, &args.fasta) {
        (Some(seq), None) => {
            // One sequence given on the command line: any problem with it is the error.
            let record = Record {
                name: "seq".into(),
                description: None,
                sequence: seq.clone(),
                structure: None,
                length: seq.len(),
            };
            fasta::check_record(&readable(&record, summary.app), summary.app)?;
            super::super::check_fits(&record.name, &record.sequence, summary.pair_len)?;
            run.start()?;
            run.push(record)?;
            run.finish()
        }
        (None, Some(path)) => {
            // Letters past the pair length are counted, not kept.
            let records = fasta::open(path)?.with_max_len(summary.pair_len);
            run.start()?;
            run.progress = crate::progress::counter("predicted");
            let (mut read, mut skipped) = (0usize, 0usize);
            // Why records were skipped, held until one is predicted: a file with none to
            // predict fails with the first reason, on one line.
            let mut held: Vec<anyhow::Error> = Vec::new();
            for record in records {
                let record = match record {
                    Ok(record) => record,
                    Err(e) => {
                        // What was read before the bad part is still answered.
                        run.flush()?;
                        return Err(e.context(path.display().to_string()));
                    }
                };
                read += 1;
                let fits =
                    super::super::check_length(&record.name, record.length, summary.pair_len)
                        .and_then(|()| {
                            fasta::check_record(&readable(&record, summary.app), summary.app)
                        });
                if let Err(e) = fits {
                    skipped += 1;
                    if read == skipped {
                        held.push(e);
                    } else {
                        run.progress
                            .suspend(|| eprintln!("warning: skipped: {e:#}"));
                    }
                    continue;
                }
                for e in held.drain(..) {
                    eprintln!("warning: skipped: {e:#}");
                }
                run.push(record)?;
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
            Ok(())
        }
        _ => bail!("give exactly one of --seq or --fasta"),
    }
}

/// The record as the runtime reads it: RNA ambiguity codes (R, Y, …) as N, as `train` reads
/// them; the output shows the sequence as given.
fn readable(record: &Record, app: scnn::blob::App) -> Record {
    let mut record = record.clone();
    if app == scnn::blob::App::Rna {
        record.sequence = fasta::ambiguity_as_n(&record.sequence);
    }
    record
}

/// One prediction run over records: the blob, where images go, the device if any, and the
/// records read but not yet answered.
struct Batch<'a> {
    args: &'a PredictArgs,
    blob: &'a Blob,
    app: scnn::blob::App,
    /// Each predicted record's name and heatmap (with `--png`).
    images: Vec<(String, Vec<u8>)>,
    device: Option<crate::target::device::Device>,
    /// The RNA decoder: `--decoder`, else the device's, else greedy.
    decoder: super::super::Decoder,
    pending: Vec<Record>,
    progress: ProgressBar,
    /// Contact models: the chain of `--structure`, and whether a record was answered yet.
    structure: Option<crate::protein::Chain>,
    answered: usize,
}

impl Batch<'_> {
    /// Checks `--png` before anything is printed (a regular file or none, in a directory
    /// that takes files) and starts the device.
    fn start(&mut self) -> Result<()> {
        if let Some(path) = &self.args.structure {
            if self.app != scnn::blob::App::Protein {
                bail!(
                    "--structure is for contact models; this is a {} model",
                    self.app.name()
                );
            }
            self.structure = Some(crate::protein::read_structure(
                path,
                self.args.chain.as_deref(),
            )?);
        }
        if let Some(png) = &self.args.png {
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
        }
        self.device = self.args.device.start(self.blob)?;
        // A device decodes as it was built to: the structures follow it.
        self.decoder = match (&self.device, self.args.decoder) {
            (None, asked) => asked.unwrap_or(super::super::Decoder::Greedy),
            (Some(d), asked) => {
                let built = super::super::Decoder::of_firmware(d.decoder);
                if let Some(asked) = asked.filter(|&a| a != built) {
                    bail!(
                        "--decoder {}: the device decodes {} (SCNN_DECODER when its firmware was built)",
                        asked.name(),
                        built.name()
                    );
                }
                built
            }
        };
        let decodes_at = self.decoder.default_threshold();
        if self.device.is_some() && self.args.threshold.is_some_and(|t| t != decodes_at) {
            bail!("--threshold cannot change the device's decoder (it uses {decodes_at})");
        }
        Ok(())
    }

    /// Takes a checked record; a full chunk is predicted and printed.
    fn push(&mut self, record: Record) -> Result<()> {
        if self.structure.is_some() && self.answered + self.pending.len() > 0 {
            bail!("--structure goes with one record; this input has more");
        }
        self.pending.push(record);
        let cells: usize = self.pending.iter().map(|r| r.length * r.length).sum();
        if self.pending.len() >= CHUNK || cells >= CHUNK_CELLS {
            self.flush()?;
        }
        Ok(())
    }

    /// Predicts the pending records on every core, then prints them in input order.
    fn flush(&mut self) -> Result<()> {
        let records = std::mem::take(&mut self.pending);
        let app = self.app;
        let threshold = self
            .args
            .threshold
            .unwrap_or(self.decoder.default_threshold());
        let blob = self.blob;
        let decoder = self.decoder;
        let predict = |record: &Record| {
            let sequence = readable(record, app).sequence;
            let mut p = runtime::predict(blob, &sequence, threshold, false)
                .with_context(|| format!("record `{}`", record.name))?;
            if decoder != super::super::Decoder::Greedy {
                p.pairs = decoder.pairs(&record.name, &sequence, &p, threshold)?;
                (p.structure, p.unbracketed) = crate::dataset::dot_bracket(p.len, &p.pairs);
            }
            Ok(p)
        };
        let predictions: Vec<Result<Prediction>> = crate::parallel::map(&records, predict)?;
        for (record, prediction) in records.iter().zip(predictions) {
            self.emit(record, prediction?)?;
        }
        Ok(())
    }

    /// Prints one answer (checked on the device first, when there is one) and keeps its
    /// heatmap for the end.
    fn emit(&mut self, record: &Record, p: Prediction) -> Result<()> {
        let args = self.args;
        if p.unbracketed > 0 {
            self.progress.suspend(|| {
                eprintln!(
                    "warning: record `{}`: {} pairs cross all 30 bracket levels; the dot-bracket leaves them out, the pairs keep them",
                    record.name, p.unbracketed
                )
            });
        }
        // On a device the structure is the one decoded there, checked against the host's.
        let on_device = match self.device.as_mut() {
            Some(d) => {
                let sequence = readable(record, p.app).sequence;
                let out = parity::compare(self.blob, d, &record.name, &sequence)?;
                Some(DeviceJson::new(args, d, &out))
            }
            None => None,
        };
        let note = on_device.as_ref().map(|d| {
            format!(
                "# decoded on {}: {} {}, stack {} bytes; logits, probabilities and structure bit-identical to the host runtime\n",
                d.machine, d.count, d.unit, d.stack_bytes
            )
        });
        let header = match &record.description {
            Some(d) => format!("{} {d}", record.name),
            None => record.name.clone(),
        };
        self.answered += 1;
        if p.app == scnn::blob::App::Protein {
            return self.emit_contacts(record, &p, on_device, note);
        }
        let mut text = if args.json {
            let probabilities = (0..p.len)
                .flat_map(|i| (i + 1..p.len).map(move |j| (i, j)))
                .filter_map(|(i, j)| {
                    let prob = f64::from(p.probs[i * p.len + j]);
                    (prob >= args.min_prob).then(|| (i, j, (prob * 1e4).round() / 1e4))
                })
                .collect();
            let json = JsonRecord {
                name: &record.name,
                description: record.description.as_deref(),
                sequence: &record.sequence,
                structure: &p.structure,
                pairs: p.pairs.iter().map(|&(i, j)| [i, j]).collect(),
                probabilities,
                device: on_device,
            };
            format!("{}\n", serde_json::to_string(&json)?)
        } else {
            match args.format {
                Format::DotBracket => {
                    structure_out::dot_bracket(&header, &record.sequence, &p.structure)
                }
                Format::Bpseq => structure_out::bpseq(&header, &record.sequence, &p.pairs),
                Format::Ct => structure_out::ct(&header, &record.sequence, &p.pairs),
            }
        };
        if let (Some(note), false) = (note, args.json) {
            text.push_str(&note);
        }
        self.progress.suspend(|| out!("{text}"))?;
        self.progress.inc(1);
        if args.png.is_some() {
            let image = heatmap::render(&record.name, &record.sequence, &p.probs, p.len, &p.pairs)?;
            self.images.push((record.name.clone(), image));
        }
        Ok(())
    }

    /// A contact model's answer: the best `L` contacts, and the map with the true contacts
    /// (or, without `--structure`, the predicted best `L`) below the diagonal.
    fn emit_contacts(
        &mut self,
        record: &Record,
        p: &Prediction,
        on_device: Option<DeviceJson>,
        note: Option<String>,
    ) -> Result<()> {
        let truth = match &self.structure {
            Some(chain) => Some(contacts::true_contacts(
                chain,
                &record.name,
                &record.sequence,
            )?),
            None => None,
        };
        let mut text = if self.args.json {
            contacts::json(
                &record.name,
                record.description.as_deref(),
                &record.sequence,
                p,
                truth.as_deref(),
                on_device,
            )?
        } else {
            contacts::rr(&record.name, &record.sequence, p)
        };
        if let (Some(note), false) = (note, self.args.json) {
            text.push_str(&note);
        }
        self.progress.suspend(|| out!("{text}"))?;
        self.progress.inc(1);
        if self.args.png.is_some() {
            let below: Vec<(usize, usize)> = match &truth {
                Some(t) => t.clone(),
                None => contacts::top_l(p)
                    .into_iter()
                    .map(|(i, j, _)| (i, j))
                    .collect(),
            };
            let image = heatmap::render(&record.name, &record.sequence, &p.probs, p.len, &below)?;
            self.images.push((record.name.clone(), image));
        }
        Ok(())
    }

    /// Predicts what is pending, lets the device go, then writes the heatmaps (only once
    /// every answer is in: a failure leaves none of them).
    fn finish(&mut self) -> Result<()> {
        self.flush()?;
        self.progress.finish_and_clear();
        if let Some(d) = self.device.take() {
            d.close()?;
        }
        if let Some(png) = &self.args.png {
            let names: Vec<&str> = self.images.iter().map(|(name, _)| name.as_str()).collect();
            let paths = heatmap::paths_for(png, &names);
            let mut staged = Staged::default();
            for (path, (_, bytes)) in paths.iter().zip(std::mem::take(&mut self.images)) {
                staged.add(path, bytes)?;
            }
            staged.commit()?;
        }
        Ok(())
    }
}
