//! Training on the host with burn (flex CPU backend): the SCNN in the paper's
//! parameterization ([`net`]) or a plain CNN of the same shape for comparison.

pub mod batches;
pub mod checkpoint;
pub mod contacts;
pub mod grow;
pub mod items;
pub mod net;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::commands::example::Rng;
use crate::commands::verify::f1;
use crate::config::{ActivationName, LayerConfig, ModelConfig, PairFeature};
use crate::dataset::Example;
use batches::{batch, Batch};
use net::{Layout, Net};

/// Training settings.
#[derive(Clone, Debug, Serialize)]
pub struct Options {
    pub epochs: usize,
    /// Stop after this many optimizer steps in all (0: no limit).
    pub max_steps: usize,
    pub batch: usize,
    pub learning_rate: f64,
    /// Weight of a paired position in the loss, relative to an unpaired one.
    pub pos_weight: f32,
    pub seed: u64,
    /// Train a plain CNN (no symmetry) instead of the SCNN.
    pub dense: bool,
    /// Batches of sequences of about one length (see [`batches::epoch_batches`]).
    pub bucket: bool,
    /// Write a checkpoint here after every epoch.
    pub checkpoint: Option<PathBuf>,
    /// Continue the run whose checkpoint is in `checkpoint`.
    pub resume: bool,
    /// End this run after this many epochs (0: no limit); the schedule still spans `epochs`,
    /// so a run resumed from its checkpoint carries on as if never stopped.
    pub epochs_per_run: usize,
    /// Also write a checkpoint every this many steps within an epoch (0: at epoch ends only),
    /// so a run with long epochs loses little when stopped.
    pub checkpoint_every: usize,
    /// End this run after this many steps in it (0: no limit), with a checkpoint first.
    pub steps_per_run: usize,
    /// With `resume`: train no further; write the best weights so far and score them on the
    /// test split (a run still going can be read this way; its checkpoint is written
    /// atomically).
    pub export_best: bool,
    /// Start from these weights (safetensors of the same model, or of one with fewer residual
    /// blocks or channels, see [`grow`]) instead of random ones: a fine-tune. A resumed run
    /// takes its checkpoint's weights instead.
    pub init: Option<PathBuf>,
    /// Each epoch draws at most this many training examples of every family (0: all of
    /// them), so the few large families do not outweigh the many small ones; see
    /// [`batches::FamilyCap`]. Needs a task whose examples name their family.
    pub family_cap: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            epochs: 30,
            max_steps: 0,
            batch: 8,
            learning_rate: 0.005,
            pos_weight: 4.0,
            seed: 1,
            dense: false,
            bucket: true,
            checkpoint: None,
            resume: false,
            epochs_per_run: 0,
            export_best: false,
            checkpoint_every: 0,
            steps_per_run: 0,
            init: None,
            family_cap: 0,
        }
    }
}

/// One epoch's numbers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub steps: usize,
    pub mean_loss: f64,
    pub validation_f1: f64,
    /// The validation score's mean over families ([`crate::dataset::family_mean`]), when
    /// every validation example names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_family_f1: Option<f64>,
}

/// Everything a run produced besides the weights.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub model: &'static str,
    /// What `validation_f1` and `test_f1` measure (for contact maps, a precision).
    pub score: &'static str,
    pub options: Options,
    pub trainable_parameters: usize,
    pub train_examples: usize,
    pub validation_examples: usize,
    pub test_examples: usize,
    /// Loss of every step, in order.
    pub losses: Vec<f64>,
    pub epochs: Vec<EpochReport>,
    /// Epoch whose weights were kept (best validation F1).
    pub best_epoch: usize,
    pub validation_f1: f64,
    /// Mean pair F1 on the test split (f32, this crate's forward pass).
    pub test_f1: f64,
    /// The kept epoch's validation score and the test score as means over families, when
    /// every example names one (each family's mean first, then the mean of those).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_family_f1: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_family_f1: Option<f64>,
    /// The decision threshold chosen on validation and folded into the head's bias, with the
    /// validation and test scores at it (the weights decide at 0.5 as the threshold did).
    pub tuned: Option<Tuned>,
    /// False when `epochs_per_run` ended the run before its schedule did.
    pub finished: bool,
    /// Epochs done before this run (resumed from a checkpoint), else 0.
    pub resumed_after_epoch: usize,
    pub steps_this_run: usize,
    /// Training steps per second in this run, validation passes included.
    pub steps_per_second: f64,
    /// Wall time of this run.
    pub seconds: f64,
}

/// Tensors by name: shape and values.
pub type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// What one kind of model brings to the shared training loop ([`train`]): its examples, its
/// loss on a batch and its validation score. RNA structures ([`Structures`]) and protein
/// contacts ([`contacts::Contacts`]) are the two.
pub trait Task: Sync {
    type Example: Sync;
    /// The example's length (batches are bucketed by it).
    fn length(&self, example: &Self::Example) -> usize;
    /// Feeds what identifies `example` into a run's fingerprint.
    fn fingerprint(&self, example: &Self::Example, hash: &mut u64);
    /// The family `example` belongs to, if the task knows families (for
    /// [`Options::family_cap`]).
    fn family<'a>(&self, _example: &'a Self::Example) -> Option<&'a str> {
        None
    }
    /// A fresh net for `layout`: its convs, plus whatever else the task learns.
    fn init(&self, layout: &Layout, seed: u64, device: &Device) -> Net {
        layout.init(seed, device)
    }
    /// The training loss of one batch; `step` (1-based) numbers it, for reproducible crops.
    fn loss(
        &self,
        layout: &Layout,
        net: &Net,
        examples: &[&Self::Example],
        step: usize,
        pos_weight: f32,
        device: &Device,
    ) -> Tensor<1>;
    /// A decision threshold chosen on `validation` for the best net, if the task has one.
    fn tune(
        &self,
        _layout: &Layout,
        _net: &Net,
        _validation: &[Self::Example],
        _test: &[Self::Example],
        _device: &Device,
    ) -> Result<Option<Tuned>> {
        Ok(None)
    }
    /// What [`Task::example_scores`] measures, for reports.
    fn score_name(&self) -> &'static str;
    /// The score of each of `examples` (higher is better), in their order, on the inner
    /// backend: the run selects on their mean.
    fn example_scores(
        &self,
        layout: &Layout,
        net: &Net,
        examples: &[Self::Example],
        device: &Device,
    ) -> Result<Vec<f64>>;
}

/// The mean of `task`'s scores over `examples` and, when the task knows every example's
/// family ([`Task::family`]), their mean over families.
fn scores<T: Task>(
    task: &T,
    layout: &Layout,
    net: &Net,
    examples: &[T::Example],
    device: &Device,
) -> Result<(f64, Option<f64>)> {
    let values = task.example_scores(layout, net, examples, device)?;
    let families = examples.iter().map(|e| task.family(e));
    let by_family = crate::dataset::family_mean(families.zip(values.iter().copied()));
    Ok((mean(&values), by_family.map(|(_, f1)| f1)))
}

/// RNA secondary structure: one-hot pair features built on the host, all pairs in the loss,
/// mean pair F1 of the decoded structures as the score.
#[derive(Clone, Copy, Debug, Default)]
pub struct Structures {
    /// Choose the decoder's threshold on validation and fold it into the head's bias.
    pub tune_threshold: bool,
    /// Score (and so select epochs) with the nested decoder at this scoring instead of the
    /// greedy one at 0.5.
    pub nested: Option<scnn::decode::NestedScoring>,
}

impl Task for Structures {
    type Example = Example;

    fn length(&self, example: &Example) -> usize {
        example.sequence.len()
    }

    fn family<'a>(&self, example: &'a Example) -> Option<&'a str> {
        crate::dataset::family(&example.name)
    }

    fn fingerprint(&self, e: &Example, hash: &mut u64) {
        fnv(hash, e.name.as_bytes());
        fnv(hash, e.sequence.as_bytes());
        for &(i, j) in &e.pairs {
            fnv(hash, &(i as u64).to_le_bytes());
            fnv(hash, &(j as u64).to_le_bytes());
        }
    }

    fn loss(
        &self,
        layout: &Layout,
        net: &Net,
        examples: &[&Example],
        _step: usize,
        pos_weight: f32,
        device: &Device,
    ) -> Tensor<1> {
        let b = batch(&layout.config, examples, device);
        let logits = layout.forward(net, b.features.clone(), &b.mask);
        loss(logits, &b, pos_weight)
    }

    fn score_name(&self) -> &'static str {
        "mean pair F1"
    }

    fn tune(
        &self,
        layout: &Layout,
        net: &Net,
        validation: &[Example],
        test: &[Example],
        device: &Device,
    ) -> Result<Option<Tuned>> {
        if !self.tune_threshold || validation.is_empty() {
            return Ok(None);
        }
        // The decoder's own threshold τ; a candidate t becomes the head-bias shift that moves
        // a probability t to τ, so the decoder at τ decides as it would at t.
        let (own, candidates): (f32, &[f32]) = match self.nested {
            Some(scoring) => (scoring.threshold, &NESTED_THRESHOLDS),
            None => (scnn::decode::DEFAULT_THRESHOLD, &THRESHOLDS),
        };
        let logit = |p: f32| (p / (1.0 - p)).ln();
        let decode = |t: f32| match self.nested {
            Some(scoring) => Decode::Nested(scoring, logit(own) - logit(t)),
            None => Decode::Greedy(t),
        };
        let decoders: Vec<Decode> = candidates.iter().map(|&t| decode(t)).collect();
        let scores = evaluate_decoded(layout, net, validation, device, &decoders)?;
        // Ties go to the threshold nearest the decoder's own (the untuned decoder).
        let best = (0..candidates.len())
            .max_by(|&a, &b| {
                scores[a].total_cmp(&scores[b]).then(
                    (candidates[b] - own)
                        .abs()
                        .total_cmp(&(candidates[a] - own).abs()),
                )
            })
            .unwrap_or(0);
        let threshold = candidates[best];
        let test_score = evaluate_decoded(layout, net, test, device, &[decode(threshold)])?[0];
        Ok(Some(Tuned {
            threshold,
            bias_shift: logit(own) - logit(threshold),
            validation_score: scores[best],
            test_score,
        }))
    }

    fn example_scores(
        &self,
        layout: &Layout,
        net: &Net,
        examples: &[Example],
        device: &Device,
    ) -> Result<Vec<f64>> {
        // One decoder: one list of scores.
        let scores = scores_decoded(layout, net, examples, device, &[self.decode()])?;
        Ok(scores.into_iter().next().unwrap_or_default())
    }
}

impl Structures {
    /// The decoder the run scores with.
    fn decode(&self) -> Decode {
        match self.nested {
            Some(scoring) => Decode::Nested(scoring, 0.0),
            None => Decode::Greedy(scnn::decode::DEFAULT_THRESHOLD),
        }
    }
}

/// The mean of `values` (0 for none).
fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// The trained weights, named as `scnn convert` reads them.
pub struct Trained {
    pub config: ModelConfig,
    pub tensors: Tensors,
    pub report: Report,
}

/// The example model's residual blocks as `(kernel, dilation)`: 3×3 at dilations 1, 2, 4,
/// a 5×5, and a 3×3 at dilation 2.
pub const EXAMPLE_BLOCKS: [(usize, usize); 5] = [(3, 1), (3, 2), (3, 4), (5, 1), (3, 2)];

/// The example model's architecture: a 1×1 generating layer over `[e_i ; e_j] ⊕ e_i ⊗ e_j`,
/// five 3×3/5×5 layers with dilations 1, 2, 4 and residual adds, and a 1×1 head.
pub fn example_config(pair_len: usize, width: usize) -> ModelConfig {
    rna_config(pair_len, width, &EXAMPLE_BLOCKS)
}

/// An RNA structure model: a 1×1 generating layer over `[e_i ; e_j] ⊕ e_i ⊗ e_j` (the outer
/// product's AU, GC, GU channels already give the first layer a canonical-pair indicator), one
/// layer per `(kernel, dilation)` in `blocks`, each after the first adding its input back, and a
/// 1×1 head.
pub fn rna_config(pair_len: usize, width: usize, blocks: &[(usize, usize)]) -> ModelConfig {
    let relu = ActivationName::Relu;
    let mut layers = vec![LayerConfig::new(width, 1, 1, relu, None)];
    for (b, &(kernel, dilation)) in blocks.iter().enumerate() {
        let residual = (b > 0).then_some(b);
        layers.push(LayerConfig::new(width, kernel, dilation, relu, residual));
    }
    layers.push(LayerConfig::new(1, 1, 1, ActivationName::None, None));
    ModelConfig {
        app: crate::config::AppName::Rna,
        pair_len,
        embedding_dim: 4,
        pair_features: vec![PairFeature::Concat, PairFeature::Outer],
        layers,
        bn_eps: 1e-5,
        vocab_size: None,
        head: None,
    }
}

/// Weighted binary cross-entropy on logits, in the stable form
/// `max(z, 0) − z·y + log(1 + e^−|z|)`, averaged over pairs inside the sequences.
fn loss(logits: Tensor<4>, batch: &Batch, pos_weight: f32) -> Tensor<1> {
    weighted_bce_sum(logits, batch.target.clone(), batch.mask.clone(), pos_weight)
        / batch.mask.clone().sum()
}

/// `Σ mask · w · bce(z, y)` with `w = pos_weight` on positives and 1 elsewhere, in the stable
/// form `max(z, 0) − z·y + log(1 + e^−|z|)`.
fn weighted_bce_sum(z: Tensor<4>, y: Tensor<4>, mask: Tensor<4>, pos_weight: f32) -> Tensor<1> {
    let per_pair = z.clone().clamp_min(0.0) - z.clone() * y.clone()
        + z.abs().neg().exp().add_scalar(1.0).log();
    let weight = (y.mul_scalar(pos_weight - 1.0).add_scalar(1.0)) * mask;
    (per_pair * weight).sum()
}

/// Sequences per evaluation batch.
const EVAL_BATCH: usize = 16;

/// Mean pair F1 of the greedy decoder at each of `thresholds` ([`evaluate_decoded`]).
pub fn evaluate_at(
    layout: &Layout,
    net: &Net,
    examples: &[Example],
    device: &Device,
    thresholds: &[f32],
) -> Result<Vec<f64>> {
    let decoders: Vec<Decode> = thresholds.iter().map(|&t| Decode::Greedy(t)).collect();
    evaluate_decoded(layout, net, examples, device, &decoders)
}

/// How a probability map becomes a structure for scoring.
#[derive(Clone, Copy, Debug)]
pub enum Decode {
    /// The greedy canonical decoder at this threshold.
    Greedy(f32),
    /// The nested (pseudoknot-free) decoder, on the probabilities of the logits plus this
    /// shift (a candidate head-bias shift; 0: as the net gives them).
    Nested(scnn::decode::NestedScoring, f32),
}

/// Mean pair F1 of the network's structures over `examples`, decoded by each of `decoders`
/// (one forward pass; [`scores_decoded`]).
pub fn evaluate_decoded(
    layout: &Layout,
    net: &Net,
    examples: &[Example],
    device: &Device,
    decoders: &[Decode],
) -> Result<Vec<f64>> {
    let scores = scores_decoded(layout, net, examples, device, decoders)?;
    Ok(scores.iter().map(|f1s| mean(f1s)).collect())
}

/// Pair F1 of each example's structure (in `examples`' order), decoded by each of `decoders`
/// (one forward pass): a list a decoder.
///
/// Runs on the inner (non-autodiff) backend: a forward pass on the autodiff backend records
/// its graph, with every activation, and only a backward pass frees it, so evaluating there
/// holds the whole evaluated set's activations at once. Batches are cut from the examples
/// sorted by length, and each batch's outputs are scored and dropped before the next.
pub fn scores_decoded(
    layout: &Layout,
    net: &Net,
    examples: &[Example],
    device: &Device,
    decoders: &[Decode],
) -> Result<Vec<Vec<f64>>> {
    let mut scores = vec![vec![0.0; examples.len()]; decoders.len()];
    if examples.is_empty() {
        return Ok(scores);
    }
    let net = net.valid();
    let device = device.clone().inner();
    let lengths: Vec<usize> = examples.iter().map(|e| e.sequence.len()).collect();
    for indices in batches::by_length(&lengths, EVAL_BATCH) {
        let chunk: Vec<&Example> = indices.iter().map(|&i| &examples[i]).collect();
        let b = batch(&layout.config, &chunk, &device);
        let probs = sigmoid(layout.forward(&net, b.features.clone(), &b.mask));
        let values: Vec<f32> = probs
            .into_data()
            .try_to_vec()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        for (e_index, (&i, example)) in indices.iter().zip(&chunk).enumerate() {
            let plane = &values[e_index * b.n * b.n..][..b.n * b.n];
            for (f1s, &decode) in scores.iter_mut().zip(decoders) {
                f1s[i] = score(example, plane, b.n, decode)?;
            }
        }
    }
    Ok(scores)
}

/// Pair F1 of one example's decoded structure; `plane` is its `n×n` probability map.
fn score(example: &Example, plane: &[f32], n: usize, decode: Decode) -> Result<f64> {
    let len = example.sequence.len();
    // The mean of both triangles: exact for the SCNN, a fair reading of a plain CNN.
    let mut dense = vec![0f32; len * len];
    for i in 0..len {
        for j in 0..len {
            dense[i * len + j] = 0.5 * (plane[i * n + j] + plane[j * n + i]);
        }
    }
    let bases = crate::commands::bases(&example.name, &example.sequence)?;
    let pairs = match decode {
        Decode::Greedy(threshold) => crate::runtime::decode_dense(&dense, &bases, threshold)?.0,
        Decode::Nested(scoring, shift) => {
            if shift != 0.0 {
                // σ(z + s) from p = σ(z): p·eˢ / (p·eˢ + 1 − p).
                let scale = shift.exp();
                for p in dense.iter_mut() {
                    *p = *p * scale / (*p * scale + 1.0 - *p);
                }
            }
            crate::runtime::decode_dense_nested(&dense, &bases, scoring)?
        }
    };
    Ok(f1(&pairs, &example.pairs))
}

/// Candidate decision thresholds for [`Task::tune`].
const THRESHOLDS: [f32; 9] = [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6];

/// Candidate thresholds for the nested decoder's [`Task::tune`] (its own is 0.3).
const NESTED_THRESHOLDS: [f32; 8] = [0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5];

/// A decision threshold chosen on validation and folded into the head's bias, so that the
/// firmware's fixed threshold (greedy 0.5, nested 0.3) decides as the chosen one would.
#[derive(Clone, Debug, Serialize)]
pub struct Tuned {
    pub threshold: f32,
    /// Added to the head's bias: `logit(τ) − logit(threshold)`, `τ` the decoder's own
    /// threshold (greedy 0.5, so `−logit(threshold)`; nested 0.3).
    pub bias_shift: f32,
    pub validation_score: f64,
    pub test_score: f64,
}

/// Dense `[O, C, k, k]` kernels and biases of every layer, named for `scnn convert`.
pub fn export(layout: &Layout, net: &Net, device: &Device) -> Result<Tensors> {
    let mut tensors = BTreeMap::new();
    for (t, layer) in layout.config.layers.iter().enumerate() {
        let kernel = layout.kernel(net, t, device);
        let shape = kernel.dims().to_vec();
        let values: Vec<f32> = kernel
            .into_data()
            .try_to_vec()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        tensors.insert(format!("layers.{t}.weight"), (shape, values));
        let bias: Vec<f32> = net.biases[t]
            .val()
            .into_data()
            .try_to_vec()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        tensors.insert(format!("layers.{t}.bias"), (vec![layer.out_channels], bias));
    }
    if let Some(embedding) = net.embedding.first() {
        let table = embedding.val();
        let shape = table.dims().to_vec();
        let values: Vec<f32> = table
            .into_data()
            .try_to_vec()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        tensors.insert("embedding.weight".to_string(), (shape, values));
    }
    Ok(tensors)
}

/// What [`train`] reports as it goes.
pub enum Progress<'a> {
    /// Before the first step of this run: `step` steps of `total` are done already (resumed).
    Start { step: usize, total: usize },
    /// After each optimizer step (1-based) of `total`.
    Step {
        step: usize,
        total: usize,
        loss: f64,
    },
    /// Before each epoch's validation pass over `sequences`.
    Validating { epoch: usize, sequences: usize },
    /// After each epoch's validation.
    Epoch(&'a EpochReport),
    /// After a checkpoint was written.
    Checkpoint { epoch: usize },
}

/// FNV-1a, stable across builds (a checkpoint names the run it belongs to with it).
fn fnv(hash: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *hash ^= b as u64;
        *hash = hash.wrapping_mul(0x0000_0100_0000_01B3);
    }
}

/// Each training example's family as a number, when `family_cap` asks for them.
fn family_numbers<T: Task>(
    task: &T,
    train: &[T::Example],
    family_cap: usize,
) -> Result<Option<Vec<u32>>> {
    if family_cap == 0 {
        return Ok(None);
    }
    let mut numbers = std::collections::HashMap::new();
    let mut families = Vec::with_capacity(train.len());
    for (n, example) in train.iter().enumerate() {
        let Some(family) = task.family(example) else {
            bail!("--family-cap: training example {n} names no family (headers `ACC|ID|NAME`, as in Rfam)");
        };
        let next = numbers.len() as u32;
        families.push(*numbers.entry(family).or_insert(next));
    }
    Ok(Some(families))
}

/// Hash of what decides a run's course: model, training options, training data.
fn fingerprint<T: Task>(
    task: &T,
    config: &ModelConfig,
    options: &Options,
    train: &[T::Example],
) -> Result<u64> {
    let mut hash = 0xCBF2_9CE4_8422_2325;
    fnv(&mut hash, serde_json::to_string(config)?.as_bytes());
    let shaping = (
        options.epochs,
        options.max_steps,
        options.batch,
        options.learning_rate,
        options.pos_weight,
        options.seed,
        options.dense,
        options.bucket,
    );
    fnv(&mut hash, serde_json::to_string(&shaping)?.as_bytes());
    // Only when set, so the runs checkpointed before the option existed still resume.
    if options.family_cap > 0 {
        fnv(&mut hash, &(options.family_cap as u64).to_le_bytes());
    }
    if let Some(path) = &options.init {
        let bytes = std::fs::read(path)
            .with_context(|| format!("--init: cannot read {}", path.display()))?;
        fnv(&mut hash, &bytes);
    }
    for e in train {
        task.fingerprint(e, &mut hash);
    }
    Ok(hash)
}

/// The loop's state: what a checkpoint holds.
struct Run {
    net: Net,
    optimizer: ModuleOptimizer,
    rng: Rng,
    losses: Vec<f64>,
    epochs: Vec<EpochReport>,
    best: Option<(f64, usize, Net)>,
    epochs_done: usize,
    /// Steps of epoch `epochs_done + 1` already taken (a checkpoint within an epoch); `rng`
    /// is then the batch-order state at that epoch's start.
    steps_into_epoch: usize,
}

/// A fresh run, or the one in `options.checkpoint` with `options.resume`.
fn start<T: Task>(
    task: &T,
    layout: &Layout,
    options: &Options,
    fingerprint: u64,
    device: &Device,
) -> Result<Run> {
    let mut net = task.init(layout, options.seed, device);
    if let (Some(path), false) = (&options.init, options.resume) {
        net = initial_net(layout, net, path, device)?;
    }
    let optimizer = AdamConfig::new().init();
    let fresh = |net, optimizer| Run {
        net,
        optimizer,
        rng: Rng(options.seed ^ 0x0BA7_C4E5),
        losses: Vec::new(),
        epochs: Vec::new(),
        best: None,
        epochs_done: 0,
        steps_into_epoch: 0,
    };
    let Some(dir) = &options.checkpoint else {
        if options.resume {
            bail!("--resume needs --checkpoint DIR");
        }
        return Ok(fresh(net, optimizer));
    };
    if !options.resume {
        if checkpoint::exists(dir) {
            bail!(
                "{} already holds a checkpoint: pass --resume to continue it, or choose another directory",
                dir.display()
            );
        }
        return Ok(fresh(net, optimizer));
    }
    if !checkpoint::exists(dir) {
        bail!("--resume: no checkpoint in {}", dir.display());
    }
    let restored = checkpoint::load(dir, &net, optimizer, fingerprint)?;
    let state = restored.state;
    Ok(Run {
        net: restored.net,
        optimizer: restored.optimizer,
        rng: Rng(state.rng),
        losses: state.losses(),
        epochs: state.epochs(),
        best: state.best().map(|(f1, epoch)| (f1, epoch, restored.best)),
        epochs_done: state.epochs_done,
        steps_into_epoch: state.steps_into_epoch,
    })
}

/// `net` with its convs (and learned embedding, where it has one) set from the weights in
/// `path`, which must describe the same model as `layout`.
fn initial_net(layout: &Layout, net: Net, path: &std::path::Path, device: &Device) -> Result<Net> {
    if layout.dense {
        bail!("--init fine-tunes an SCNN; it does not start a plain CNN (--dense)");
    }
    // A plain CNN's kernels are averaged with their mirrors: the nearest symmetric ones.
    let model = crate::weights::FloatModel::load(path, true)
        .with_context(|| format!("--init {}", path.display()))?;
    let sources = match grow::layer_sources(&model.config, &layout.config) {
        Ok(sources) => sources,
        Err(why) => bail!(
            "--init {}: its model differs from the one asked for: {why} (give the --width, --blocks, --separation and --pair-len it was trained with, adding residual blocks or widening at most)\n  file:  {}\n  asked: {}",
            path.display(),
            serde_json::to_string(&model.config)?,
            serde_json::to_string(&layout.config)?
        ),
    };
    for (t, source) in sources.iter().enumerate() {
        let asked = &layout.config.layers[t];
        match source.map(|f| model.config.layers[f].out_channels) {
            None => eprintln!(
                "init: layer {t} ({}) is new: it starts at zero, passing its input on",
                grow::describe(asked)
            ),
            Some(file) if file != asked.out_channels => eprintln!(
                "init: layer {t} is widened from {file} to {} channels: the new ones start at random and feed no old one",
                asked.out_channels
            ),
            Some(_) => {}
        }
    }
    layout.net_from(net, &model, &sources, device)
}

/// Writes the run's state; `rng` is the batch-order state at the start of epoch
/// `run.epochs_done + 1`, of which `steps_into_epoch` steps are taken.
fn save_checkpoint(
    dir: &std::path::Path,
    run: &Run,
    fingerprint: u64,
    rng: u64,
    steps_into_epoch: usize,
) -> Result<()> {
    let state = checkpoint::State::new(
        fingerprint,
        run.epochs_done,
        rng,
        &run.losses,
        &run.epochs,
        run.best.as_ref().map(|(f1, epoch, _)| (*f1, *epoch)),
    )
    .within_epoch(steps_into_epoch);
    // Before the first validation there is no best net yet; the current one fills its file.
    let best = run.best.as_ref().map_or(&run.net, |(_, _, net)| net);
    checkpoint::save(dir, &state, &run.net, &run.optimizer, best)
}

/// One optimizer step on `examples`: the updated net and the loss before the step.
#[allow(clippy::too_many_arguments)]
fn step<T: Task>(
    task: &T,
    layout: &Layout,
    net: Net,
    optimizer: &mut ModuleOptimizer,
    examples: &[&T::Example],
    step_number: usize,
    rate: f64,
    pos_weight: f32,
    device: &Device,
) -> Result<(Net, f64)> {
    let loss = task.loss(layout, &net, examples, step_number, pos_weight, device);
    let value: f64 = loss
        .clone()
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?[0] as f64;
    if !value.is_finite() {
        bail!("training diverged: loss is {value}");
    }
    let grads = GradientsParams::from_grads(loss.backward(), &net);
    Ok((optimizer.step(rate, net, grads), value))
}

/// Trains on `train`, keeps the epoch with the best validation F1 and scores it on `test`.
pub fn train(
    config: &ModelConfig,
    train: &[Example],
    validation: &[Example],
    test: &[Example],
    options: &Options,
    progress: impl FnMut(Progress<'_>),
) -> Result<Trained> {
    train_task(
        &Structures::default(),
        config,
        train,
        validation,
        test,
        options,
        progress,
    )
}

/// [`train`] for any [`Task`]: keeps the epoch with the best validation score and scores it
/// on `test`.
pub fn train_task<T: Task>(
    task: &T,
    config: &ModelConfig,
    train: &[T::Example],
    validation: &[T::Example],
    test: &[T::Example],
    options: &Options,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Trained> {
    if train.is_empty() {
        bail!("the training split is empty");
    }
    if options.export_best && !options.resume {
        bail!("--export-best reads a checkpoint: give --checkpoint DIR --resume");
    }
    if options.batch == 0 || options.epochs == 0 {
        bail!("--batch and --epochs must be at least 1");
    }
    let started = Instant::now();
    let device = Device::flex().autodiff();
    device.seed(options.seed);
    let layout = Layout::new(config, options.dense);
    let fingerprint = fingerprint(task, config, options, train)?;
    let mut run = start(task, &layout, options, fingerprint, &device)?;
    let resumed_after_epoch = run.epochs_done;
    let families = family_numbers(task, train, options.family_cap)?;
    let family_cap = families.as_deref().map(|families| batches::FamilyCap {
        families,
        cap: options.family_cap,
    });
    let epoch_len = family_cap.map_or(train.len(), |cap| cap.epoch_len());
    let steps_per_epoch = epoch_len.div_ceil(options.batch);
    let mut total = steps_per_epoch * options.epochs;
    if options.max_steps > 0 {
        total = total.min(options.max_steps);
    }
    let lengths: Vec<usize> = train.iter().map(|e| task.length(e)).collect();
    let steps_before = run.losses.len();
    progress(Progress::Start {
        step: steps_before,
        total,
    });

    let mut stopped_early = false;
    for epoch in run.epochs_done + 1..=options.epochs {
        if run.losses.len() == total {
            break;
        }
        if options.export_best
            || (options.epochs_per_run > 0 && epoch - resumed_after_epoch > options.epochs_per_run)
        {
            stopped_early = true;
            break;
        }
        let epoch_rng = run.rng.0;
        let batches = batches::epoch_batches(
            &lengths,
            options.batch,
            options.bucket,
            family_cap,
            &mut run.rng,
        );
        // A checkpoint within this epoch: its first steps are taken already.
        let skip = std::mem::take(&mut run.steps_into_epoch);
        let mut epoch_loss: f64 = run.losses[run.losses.len().saturating_sub(skip)..]
            .iter()
            .sum();
        let mut epoch_steps = skip;
        for indices in batches.into_iter().skip(skip) {
            if run.losses.len() == total {
                break;
            }
            let taken = run.losses.len() - steps_before;
            let every = options.checkpoint_every;
            let due = every > 0 && epoch_steps > skip && epoch_steps % every == 0;
            let stop = options.steps_per_run > 0 && taken == options.steps_per_run;
            if let (Some(dir), true) = (&options.checkpoint, due || stop) {
                save_checkpoint(dir, &run, fingerprint, epoch_rng, epoch_steps)?;
                progress(Progress::Checkpoint { epoch });
            }
            if stop {
                stopped_early = true;
                break;
            }
            let refs: Vec<&T::Example> = indices.iter().map(|&i| &train[i]).collect();
            // Linear decay to a tenth of the rate: late epochs settle instead of hopping.
            let progress_fraction = run.losses.len() as f64 / total as f64;
            let rate = options.learning_rate * (1.0 - 0.9 * progress_fraction);
            let step_number = run.losses.len() + 1;
            let (net, value) = step(
                task,
                &layout,
                run.net,
                &mut run.optimizer,
                &refs,
                step_number,
                rate,
                options.pos_weight,
                &device,
            )
            .with_context(|| format!("step {step_number}"))?;
            run.net = net;
            run.losses.push(value);
            epoch_loss += value;
            epoch_steps += 1;
            progress(Progress::Step {
                step: run.losses.len(),
                total,
                loss: value,
            });
        }
        if epoch_steps == 0 || stopped_early {
            break;
        }
        progress(Progress::Validating {
            epoch,
            sequences: validation.len(),
        });
        let (validation_f1, validation_family_f1) =
            scores(task, &layout, &run.net, validation, &device)?;
        let report = EpochReport {
            epoch,
            steps: epoch_steps,
            mean_loss: epoch_loss / epoch_steps as f64,
            validation_f1,
            validation_family_f1,
        };
        progress(Progress::Epoch(&report));
        run.epochs.push(report);
        if run.best.as_ref().is_none_or(|b| validation_f1 > b.0) {
            run.best = Some((validation_f1, epoch, run.net.clone()));
        }
        run.epochs_done = epoch;
        if let Some(dir) = &options.checkpoint {
            save_checkpoint(dir, &run, fingerprint, run.rng.0, 0)?;
            progress(Progress::Checkpoint { epoch });
        }
    }
    let steps_this_run = run.losses.len() - steps_before;
    let train_seconds = started.elapsed().as_secs_f64();
    let Some((validation_f1, best_epoch, best_net)) = run.best else {
        if let (true, Some(dir)) = (stopped_early && steps_this_run > 0, &options.checkpoint) {
            bail!(
                "stopped after {steps_this_run} steps, before the first epoch's validation, so there are no weights to write yet; continue with --resume (the checkpoint is in {})",
                dir.display()
            );
        }
        bail!("no training step ran");
    };
    let mut tensors = export(&layout, &best_net, &device)?;
    let (test_f1, test_family_f1) = scores(task, &layout, &best_net, test, &device)?;
    let kept = run.epochs.iter().find(|e| e.epoch == best_epoch);
    let validation_family_f1 = match kept.and_then(|e| e.validation_family_f1) {
        // A kept epoch from a checkpoint older than the field: score it again.
        None if test_family_f1.is_some() => {
            scores(task, &layout, &best_net, validation, &device)?.1
        }
        f1 => f1,
    };
    let tuned = task.tune(&layout, &best_net, validation, test, &device)?;
    if let Some(t) = &tuned {
        let head = format!("layers.{}.bias", config.layers.len() - 1);
        if let Some((_, bias)) = tensors.get_mut(&head) {
            for b in bias.iter_mut() {
                *b += t.bias_shift;
            }
        }
    }
    Ok(Trained {
        config: config.clone(),
        tensors,
        report: Report {
            model: if options.dense { "cnn" } else { "scnn" },
            score: task.score_name(),
            options: options.clone(),
            trainable_parameters: layout.parameter_count(),
            train_examples: train.len(),
            validation_examples: validation.len(),
            test_examples: test.len(),
            losses: run.losses,
            epochs: run.epochs,
            best_epoch,
            validation_f1,
            test_f1,
            validation_family_f1,
            test_family_f1,
            tuned,
            finished: !stopped_early,
            resumed_after_epoch,
            steps_this_run,
            steps_per_second: steps_this_run as f64 / train_seconds.max(1e-9),
            seconds: started.elapsed().as_secs_f64(),
        },
    })
}
