//! Training a sequential recommender: SCosRec (the symmetric convs of [`super::net`]) or, with
//! `dense`, CosRec (the same network with plain kernels), as the authors' code builds them:
//! item embeddings, the pair grid `[e_i ; e_j]` of the last `L = 5` items, a 1×1 generating
//! conv, valid 3×3 convs (5×5 → 3×3 → 1×1), average pooling, a dense layer with tanh and
//! dropout, the user's embedding joined, and per-item output vectors and biases; trained on
//! windows of `L` items followed by `T` targets, each target against sampled negatives, with
//! binary cross-entropy and Adam with an L2 penalty. Batch norm is left out (the runtime folds
//! it, but training with it is not built yet).
//!
//! Tokens and user rows are [`ItemsData`]'s: they follow from the data file alone, so
//! `scnn evaluate` rebuilds them.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use anyhow::{bail, Result};
use burn::module::{Module, Param};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::Serialize;

use super::net::{Layout, Net};
use super::Tensors;
use crate::commands::example::Rng;
use crate::config::ModelConfig;
use crate::recsys::{Evaluation, ItemsData, Metrics, Stage, HISTORY};

/// Settings of a recommendation run.
#[derive(Clone, Debug, Serialize)]
pub struct ItemsOptions {
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f64,
    /// Adam's L2 penalty.
    pub l2: f32,
    /// Dropout after the dense layer.
    pub dropout: f32,
    /// Targets `T` after each window.
    pub targets: usize,
    /// Negatives sampled per target.
    pub negatives: usize,
    /// Item and user embedding size.
    pub dim: usize,
    /// Channels of the first convs (the second pair has twice as many).
    pub width: usize,
    /// Outputs of the dense layer.
    pub fc: usize,
    pub seed: u64,
    /// CosRec (plain kernels) instead of SCosRec.
    pub dense: bool,
}

impl Default for ItemsOptions {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch: 512,
            learning_rate: 1e-3,
            l2: 5e-6,
            dropout: 0.5,
            targets: 3,
            negatives: 3,
            dim: 50,
            width: 128,
            fc: 150,
            seed: 1,
            dense: false,
        }
    }
}

/// One training window: a user, the `L` items before a position, the `T` items from it.
struct Window {
    user: u16,
    history: [u16; HISTORY],
    targets: Vec<u16>,
}

fn windows(data: &ItemsData, targets: usize) -> Vec<Window> {
    let mut out = Vec::new();
    for (u, user) in data.users.iter().enumerate() {
        let seq = data.tokens(&user.train);
        for start in 1..=seq.len().saturating_sub(targets) {
            let mut history = [0u16; HISTORY];
            let from = start.saturating_sub(HISTORY);
            history[HISTORY - (start - from)..].copy_from_slice(&seq[from..start]);
            out.push(Window {
                user: u as u16,
                history,
                targets: seq[start..start + targets].to_vec(),
            });
        }
    }
    out
}

/// The recommender's trainable parameters.
#[derive(Module, Debug)]
pub struct RecNet {
    pub convs: Net,
    /// `[V, d]`, row 0 the padding token.
    pub items: Param<Tensor<2>>,
    /// `[U, d]`.
    pub users: Param<Tensor<2>>,
    /// `[fc, C]` and `[fc]`.
    pub fc_weight: Param<Tensor<2>>,
    pub fc_bias: Param<Tensor<1>>,
    /// `[V, fc + d]` and `[V]`: each item's output vector and bias.
    pub out_weight: Param<Tensor<2>>,
    pub out_bias: Param<Tensor<1>>,
}

fn uniform(rng: &mut Rng, shape: [usize; 2], bound: f32, device: &Device) -> Param<Tensor<2>> {
    let values: Vec<f32> = (0..shape[0] * shape[1])
        .map(|_| bound * rng.unit())
        .collect();
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

fn zeros(n: usize, device: &Device) -> Param<Tensor<1>> {
    Param::from_tensor(Tensor::from_data(
        TensorData::new(vec![0f32; n], [n]),
        device,
    ))
}

/// The model description of a run (the runtime's items shape).
pub fn config(data: &ItemsData, options: &ItemsOptions) -> ModelConfig {
    ModelConfig::scosrec(
        options.dim,
        options.width,
        options.fc,
        data.vocab(),
        data.users.len(),
    )
}

fn init(layout: &Layout, options: &ItemsOptions, data: &ItemsData, device: &Device) -> RecNet {
    let mut rng = Rng(options.seed ^ 0x5EED_17E5);
    let (d, fc, v) = (options.dim, options.fc, data.vocab());
    let pooled = layout.config.conv_out_channels();
    RecNet {
        convs: layout.init(options.seed, device),
        // Embeddings as the authors initialize them: normal-ish with std 1/d.
        items: uniform(&mut rng, [v, d], 1.7 / d as f32, device),
        users: uniform(&mut rng, [data.users.len(), d], 1.7 / d as f32, device),
        fc_weight: uniform(&mut rng, [fc, pooled], (3.0 / pooled as f32).sqrt(), device),
        fc_bias: zeros(fc, device),
        out_weight: uniform(&mut rng, [v, fc + d], 1.7 / (fc + d) as f32, device),
        out_bias: zeros(v, device),
    }
}

fn int1(values: Vec<i64>, device: &Device) -> Tensor<1, Int> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

/// The vector each item's output is scored against, `[B, fc + d]`, for `history` `[B, L]`
/// tokens and `users` `[B]`; `keep` is the dropout mask (already scaled), if training.
fn user_vector(
    layout: &Layout,
    net: &RecNet,
    history: &[[u16; HISTORY]],
    users: &[u16],
    keep: Option<Tensor<2>>,
    device: &Device,
) -> Tensor<2> {
    let b = history.len();
    let d = layout.config.embedding_dim;
    let tokens = int1(
        history.iter().flatten().map(|&t| t as i64).collect(),
        device,
    );
    let e = net
        .items
        .val()
        .select(0, tokens)
        .reshape([b, HISTORY, d])
        .swap_dims(1, 2); // [B, d, L]
                          // Pair (i, j) holds [e_i ; e_j]: the runtime's concat segment.
    let e_i = e
        .clone()
        .unsqueeze_dim::<4>(3)
        .expand([b, d, HISTORY, HISTORY]);
    let e_j = e.unsqueeze_dim::<4>(2).expand([b, d, HISTORY, HISTORY]);
    let pairs = Tensor::cat(vec![e_i, e_j], 1);
    let maps = layout.forward_maps(&net.convs, pairs, None); // [B, C, m, m]
    let [_, c, _, _] = maps.dims();
    let pooled = maps.mean_dims(&[2, 3]).reshape([b, c]);
    let mut h = (pooled.matmul(net.fc_weight.val().transpose())
        + net.fc_bias.val().unsqueeze_dim::<2>(0))
    .tanh();
    if let Some(keep) = keep {
        h = h * keep;
    }
    let u = net
        .users
        .val()
        .select(0, int1(users.iter().map(|&u| u as i64).collect(), device));
    Tensor::cat(vec![h, u], 1)
}

/// Scores of every item for each user vector: `[B, V]`.
fn all_scores(net: &RecNet, z: Tensor<2>) -> Tensor<2> {
    z.matmul(net.out_weight.val().transpose()) + net.out_bias.val().unsqueeze_dim::<2>(0)
}

/// Ranking metrics of `net` on `stage` over every user (the scoring is the same as the
/// runtime's: every item but the padding token, the user's seen items left out).
pub fn evaluate(
    layout: &Layout,
    net: &RecNet,
    data: &ItemsData,
    stage: Stage,
    device: &Device,
) -> Result<Metrics> {
    let net = net.valid();
    let device = device.clone().inner();
    let mut evaluation = Evaluation::default();
    let users: Vec<usize> = (0..data.users.len()).collect();
    for chunk in users.chunks(256) {
        let staged: Vec<_> = chunk.iter().map(|&u| data.stage(u, stage)).collect();
        let history: Vec<[u16; HISTORY]> = staged.iter().map(|s| s.0).collect();
        let rows: Vec<u16> = chunk.iter().map(|&u| u as u16).collect();
        let z = user_vector(layout, &net, &history, &rows, None, &device);
        let scores: Vec<f32> = all_scores(&net, z)
            .into_data()
            .try_to_vec()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let v = data.vocab();
        for (n, (_, seen, targets)) in staged.iter().enumerate() {
            let row = &scores[n * v..(n + 1) * v];
            let row: Vec<f64> = row.iter().map(|&x| x as f64).collect();
            evaluation.add(&data.rank(&row, seen), targets);
        }
    }
    Ok(evaluation.finish())
}

/// One epoch's numbers.
#[derive(Clone, Debug, Serialize)]
pub struct ItemsEpoch {
    pub epoch: usize,
    pub mean_loss: f64,
    pub validation: Metrics,
}

/// What a run produced besides the weights.
#[derive(Clone, Debug, Serialize)]
pub struct ItemsReport {
    pub model: &'static str,
    pub options: ItemsOptions,
    pub items: usize,
    pub users: usize,
    pub train_windows: usize,
    /// Parameters of the convs (the part SCosRec makes symmetric).
    pub conv_parameters: usize,
    pub epochs: Vec<ItemsEpoch>,
    /// Epoch kept: the best validation MAP.
    pub best_epoch: usize,
    pub validation: Metrics,
    /// The test split, scored once with the kept epoch.
    pub test: Metrics,
    pub seconds: f64,
}

/// What [`train`] reports as it goes.
pub enum ItemsProgress<'a> {
    /// After each optimizer step (1-based) of `total`.
    Step {
        step: usize,
        total: usize,
        loss: f64,
    },
    /// After each epoch's validation.
    Epoch(&'a ItemsEpoch),
}

/// Trains on `data`, keeps the epoch with the best validation MAP, scores it on the test
/// split and returns its weights named for `scnn convert`.
pub fn train(
    data: &ItemsData,
    options: &ItemsOptions,
    mut progress: impl FnMut(ItemsProgress<'_>),
) -> Result<(ModelConfig, Tensors, ItemsReport)> {
    if options.batch == 0 || options.epochs == 0 || options.targets == 0 {
        bail!("--batch, --epochs and the targets must be at least 1");
    }
    if !(0.0..1.0).contains(&options.dropout) {
        bail!("dropout {} must be in [0, 1)", options.dropout);
    }
    let started = Instant::now();
    let config = config(data, options);
    config.validate()?;
    let device = Device::flex().autodiff();
    device.seed(options.seed);
    let layout = Layout::new(&config, options.dense);
    let mut net = init(&layout, options, data, &device);
    let mut optimizer = AdamConfig::new()
        .with_weight_decay(Some(WeightDecayConfig::new(options.l2)))
        .init();
    let windows = windows(data, options.targets);
    if windows.is_empty() {
        bail!(
            "no training windows: every user needs more than {} training items",
            options.targets
        );
    }
    let seen: Vec<HashSet<u16>> = data
        .users
        .iter()
        .map(|u| data.tokens(&u.train).into_iter().collect())
        .collect();
    let mut rng = Rng(options.seed ^ 0x00C0_5EC5);
    let steps_per_epoch = windows.len().div_ceil(options.batch);
    let total = steps_per_epoch * options.epochs;
    let (t, k) = (options.targets, options.targets * (1 + options.negatives));
    let mut epochs = Vec::new();
    let mut best: Option<(f64, usize, RecNet)> = None;
    let mut order: Vec<usize> = (0..windows.len()).collect();
    for epoch in 1..=options.epochs {
        // Fisher–Yates with the run's generator.
        for n in (1..order.len()).rev() {
            order.swap(n, rng.below(n + 1));
        }
        let mut epoch_loss = 0.0;
        for (step, chunk) in order.chunks(options.batch).enumerate() {
            let b = chunk.len();
            let history: Vec<[u16; HISTORY]> = chunk.iter().map(|&w| windows[w].history).collect();
            let users: Vec<u16> = chunk.iter().map(|&w| windows[w].user).collect();
            // Candidates: the T targets, then T·negatives items the user never trained on.
            let mut candidates = Vec::with_capacity(b * k);
            for &w in chunk {
                let window = &windows[w];
                candidates.extend(window.targets.iter().map(|&x| x as i64));
                let mut drawn = 0;
                while drawn < k - t {
                    let item = 1 + rng.below(data.items.len()) as u16;
                    if !seen[usize::from(window.user)].contains(&item) {
                        candidates.push(item as i64);
                        drawn += 1;
                    }
                }
            }
            let keep = (options.dropout > 0.0).then(|| {
                let scale = 1.0 / (1.0 - options.dropout);
                let mask: Vec<f32> = (0..b * options.fc)
                    .map(|_| {
                        let u = 0.5 * (rng.unit() + 1.0);
                        if u < options.dropout {
                            0.0
                        } else {
                            scale
                        }
                    })
                    .collect();
                Tensor::from_data(TensorData::new(mask, [b, options.fc]), &device)
            });
            let z = user_vector(&layout, &net, &history, &users, keep, &device);
            let fc_d = options.fc + options.dim;
            let ids = int1(candidates, &device);
            let w = net
                .out_weight
                .val()
                .select(0, ids.clone())
                .reshape([b, k, fc_d]);
            let bias = net.out_bias.val().select(0, ids).reshape([b, k]);
            let logits = (w * z.unsqueeze_dim::<3>(1)).sum_dim(2).reshape([b, k]) + bias;
            // −log σ(x) for targets, −log(1 − σ(x)) for negatives, each averaged (the
            // authors' loss); softplus written stably.
            let softplus =
                |x: Tensor<2>| relu(x.clone()) + x.abs().neg().exp().add_scalar(1.0).log();
            let positive = logits.clone().slice([0..b, 0..t]);
            let negative = logits.slice([0..b, t..k]);
            let loss = softplus(positive.neg()).mean() + softplus(negative).mean();
            let value = loss
                .clone()
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?[0] as f64;
            if !value.is_finite() {
                bail!("training diverged at epoch {epoch}: loss is {value}");
            }
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optimizer.step(options.learning_rate, net, grads);
            epoch_loss += value;
            progress(ItemsProgress::Step {
                step: (epoch - 1) * steps_per_epoch + step + 1,
                total,
                loss: value,
            });
        }
        let validation = evaluate(&layout, &net, data, Stage::Validation, &device)?;
        if best.as_ref().is_none_or(|b| validation.map > b.0) {
            best = Some((validation.map, epoch, net.clone()));
        }
        let report = ItemsEpoch {
            epoch,
            mean_loss: epoch_loss / steps_per_epoch as f64,
            validation,
        };
        progress(ItemsProgress::Epoch(&report));
        epochs.push(report);
    }
    let Some((_, best_epoch, best_net)) = best else {
        bail!("no epoch ran");
    };
    let validation = epochs[best_epoch - 1].validation.clone();
    let test = evaluate(&layout, &best_net, data, Stage::Test, &device)?;
    let tensors = export(&layout, &best_net, &device)?;
    let report = ItemsReport {
        model: if options.dense { "cosrec" } else { "scosrec" },
        options: options.clone(),
        items: data.items.len(),
        users: data.users.len(),
        train_windows: windows.len(),
        conv_parameters: layout.parameter_count(),
        epochs,
        best_epoch,
        validation,
        test,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((config, tensors, report))
}

fn values<const D: usize>(t: Tensor<D>) -> Result<(Vec<usize>, Vec<f32>)> {
    let shape = t.dims().to_vec();
    let data = t
        .into_data()
        .try_to_vec()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok((shape, data))
}

/// The weights named as `scnn convert` reads an items model.
fn export(layout: &Layout, net: &RecNet, device: &Device) -> Result<Tensors> {
    let mut tensors: Tensors = super::export(layout, &net.convs, device)?;
    let named: BTreeMap<&str, (Vec<usize>, Vec<f32>)> = BTreeMap::from([
        ("embedding.weight", values(net.items.val())?),
        ("head.0.weight", values(net.fc_weight.val())?),
        ("head.0.bias", values(net.fc_bias.val())?),
        ("head.1.weight", values(net.users.val())?),
        ("head.2.weight", values(net.out_weight.val())?),
        ("head.2.bias", values(net.out_bias.val())?),
    ]);
    for (name, tensor) in named {
        tensors.insert(name.to_string(), tensor);
    }
    Ok(tensors)
}
