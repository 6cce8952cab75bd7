//! Resumable checkpoints: model and optimizer state in burnpack files (burn's record API),
//! plus the loop state (steps, losses, batch-order RNG, best epoch) in JSON.
//!
//! Layout of a checkpoint directory: `epoch-NNNN/{model,optimizer,best}.bpk` and
//! `checkpoint.json`, which names the current `epoch-NNNN`. A checkpoint is written into a
//! fresh subdirectory first and `checkpoint.json` is replaced atomically last, so a run killed
//! at any moment leaves the previous checkpoint whole.

use std::path::Path;

use anyhow::{bail, Context, Result};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use serde::{Deserialize, Serialize};

use super::net::Net;
use super::EpochReport;
use crate::output::write_atomic;

const INDEX: &str = "checkpoint.json";

/// The training loop's state at the end of an epoch. Floats are kept as their bits: JSON
/// readers may round a decimal float by an ulp, and a resumed run must match exactly.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    /// Hash of the model, the options that shape the run and the training data: a checkpoint
    /// only resumes the run it came from.
    pub fingerprint: u64,
    pub epochs_done: usize,
    /// Batch-order RNG at the start of epoch `epochs_done + 1`.
    pub rng: u64,
    losses: Vec<u64>,
    epochs: Vec<SavedEpoch>,
    /// Validation F1 and epoch of the best weights so far.
    best: Option<(u64, usize)>,
    /// Steps of the next epoch already taken (a checkpoint within an epoch; then `rng` is the
    /// state at that epoch's start).
    #[serde(default)]
    pub steps_into_epoch: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct SavedEpoch {
    epoch: usize,
    steps: usize,
    mean_loss: u64,
    validation_f1: u64,
    /// Absent in checkpoints written before it was reported, and for data without families.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    validation_family_f1: Option<u64>,
}

impl State {
    pub fn new(
        fingerprint: u64,
        epochs_done: usize,
        rng: u64,
        losses: &[f64],
        epochs: &[EpochReport],
        best: Option<(f64, usize)>,
    ) -> Self {
        Self {
            fingerprint,
            epochs_done,
            rng,
            losses: losses.iter().map(|l| l.to_bits()).collect(),
            epochs: epochs
                .iter()
                .map(|e| SavedEpoch {
                    epoch: e.epoch,
                    steps: e.steps,
                    mean_loss: e.mean_loss.to_bits(),
                    validation_f1: e.validation_f1.to_bits(),
                    validation_family_f1: e.validation_family_f1.map(f64::to_bits),
                })
                .collect(),
            best: best.map(|(f1, epoch)| (f1.to_bits(), epoch)),
            steps_into_epoch: 0,
        }
    }

    /// The state `steps` steps into epoch `epochs_done + 1`.
    pub fn within_epoch(mut self, steps: usize) -> Self {
        self.steps_into_epoch = steps;
        self
    }

    pub fn losses(&self) -> Vec<f64> {
        self.losses.iter().map(|&b| f64::from_bits(b)).collect()
    }

    pub fn epochs(&self) -> Vec<EpochReport> {
        self.epochs
            .iter()
            .map(|e| EpochReport {
                epoch: e.epoch,
                steps: e.steps,
                mean_loss: f64::from_bits(e.mean_loss),
                validation_f1: f64::from_bits(e.validation_f1),
                validation_family_f1: e.validation_family_f1.map(f64::from_bits),
            })
            .collect()
    }

    pub fn best(&self) -> Option<(f64, usize)> {
        self.best.map(|(f1, epoch)| (f64::from_bits(f1), epoch))
    }
}

#[derive(Serialize, Deserialize)]
struct Index {
    files: String,
    state: State,
}

/// Whether `dir` holds a checkpoint.
pub fn exists(dir: &Path) -> bool {
    dir.join(INDEX).is_file()
}

fn save_net(net: &Net, path: &Path) -> Result<()> {
    net.clone()
        .into_record()
        .save(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

fn load_net(template: Net, path: &Path) -> Result<Net> {
    let record = ModuleRecord::load(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    template
        .try_load_record(record)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Writes a checkpoint of the state after `state.epochs_done` epochs.
pub fn save(
    dir: &Path,
    state: &State,
    net: &Net,
    optimizer: &ModuleOptimizer,
    best: &Net,
) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create checkpoint directory {}", dir.display()))?;
    let name = format!("epoch-{:04}", state.epochs_done);
    let staging = dir.join(format!("{name}.partial"));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("cannot remove {}", staging.display()))?;
    }
    std::fs::create_dir(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    save_net(net, &staging.join("model.bpk"))?;
    save_net(best, &staging.join("best.bpk"))?;
    let path = staging.join("optimizer.bpk");
    optimizer
        .save(&path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    let target = dir.join(&name);
    if target.exists() {
        // Left by a run that died before its index pointed here, or by an earlier run.
        std::fs::remove_dir_all(&target)
            .with_context(|| format!("cannot replace {}", target.display()))?;
    }
    std::fs::rename(&staging, &target)
        .with_context(|| format!("cannot move {} into place", staging.display()))?;
    let index = Index {
        files: name.clone(),
        state: state.clone(),
    };
    write_atomic(&dir.join(INDEX), serde_json::to_string(&index)?.as_bytes())?;
    remove_stale(dir, &name);
    Ok(())
}

/// Removes other epochs' files; failing to is harmless, so errors are ignored.
fn remove_stale(dir: &Path, keep: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("epoch-") && name != keep && entry.path().is_dir() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// What a checkpoint restores.
pub struct Restored {
    pub state: State,
    pub net: Net,
    pub optimizer: ModuleOptimizer,
    pub best: Net,
}

/// Reads the checkpoint in `dir` into `template` (a freshly initialized net of the same
/// layout) and `optimizer` (a fresh one of the same kind); `fingerprint` must match.
pub fn load(
    dir: &Path,
    template: &Net,
    optimizer: ModuleOptimizer,
    fingerprint: u64,
) -> Result<Restored> {
    let index_path = dir.join(INDEX);
    let text = std::fs::read_to_string(&index_path)
        .with_context(|| format!("cannot read {}", index_path.display()))?;
    let index: Index = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a checkpoint index", index_path.display()))?;
    if index.state.fingerprint != fingerprint {
        bail!(
            "checkpoint {} comes from a different run (model, training options or training data differ); use the same command and data, or another --checkpoint directory",
            dir.display()
        );
    }
    if index.files.contains(['/', '\\']) || index.files.starts_with('.') {
        bail!(
            "{}: bad file directory `{}`",
            index_path.display(),
            index.files
        );
    }
    let files = dir.join(&index.files);
    let net = load_net(template.clone(), &files.join("model.bpk"))?;
    let best = load_net(template.clone(), &files.join("best.bpk"))?;
    let path = files.join("optimizer.bpk");
    let optimizer = optimizer
        .load(&path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    Ok(Restored {
        state: index.state,
        net,
        optimizer,
        best,
    })
}
