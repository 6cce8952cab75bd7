//! Training on the host with burn (flex CPU backend): the SCNN in the paper's
//! parameterization ([`net`]) or a plain CNN of the same shape for comparison.

pub mod net;

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Result};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;

use crate::commands::example::Rng;
use crate::commands::verify::f1;
use crate::config::{ActivationName, LayerConfig, ModelConfig, PairFeature};
use crate::dataset::Example;
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
}

/// One epoch's numbers.
#[derive(Clone, Debug, Serialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub steps: usize,
    pub mean_loss: f64,
    pub validation_f1: f64,
}

/// Everything a run produced besides the weights.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub model: &'static str,
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
    pub seconds: f64,
}

/// Tensors by name: shape and values.
pub type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// The trained weights, named as `scnn convert` reads them.
pub struct Trained {
    pub config: ModelConfig,
    pub tensors: Tensors,
    pub report: Report,
}

/// The example model's architecture: a 1×1 generating layer over `[e_i ; e_j] ⊕ e_i ⊗ e_j`,
/// five 3×3/5×5 layers with dilations 1, 2, 4 and residual adds, and a 1×1 head.
pub fn example_config(pair_len: usize, width: usize) -> ModelConfig {
    let layer = |out_channels, kernel, dilation, activation, residual| LayerConfig {
        out_channels,
        kernel,
        dilation,
        activation,
        residual,
        batch_norm: false,
    };
    let relu = ActivationName::Relu;
    ModelConfig {
        pair_len,
        embedding_dim: 4,
        pair_features: vec![PairFeature::Concat, PairFeature::Outer],
        layers: vec![
            layer(width, 1, 1, relu, None),
            layer(width, 3, 1, relu, None),
            layer(width, 3, 2, relu, Some(1)),
            layer(width, 3, 4, relu, Some(2)),
            layer(width, 5, 1, relu, Some(3)),
            layer(width, 3, 2, relu, Some(4)),
            layer(1, 1, 1, ActivationName::None, None),
        ],
        bn_eps: 1e-5,
    }
}

/// A batch as tensors: pair features, the inside-sequence mask and the pair targets.
struct Batch {
    features: Tensor<4>,
    mask: Tensor<4>,
    target: Tensor<4>,
    n: usize,
}

fn one_hot(base: u8) -> [f32; 4] {
    match base {
        b'A' => [1.0, 0.0, 0.0, 0.0],
        b'C' => [0.0, 1.0, 0.0, 0.0],
        b'G' => [0.0, 0.0, 1.0, 0.0],
        b'U' => [0.0, 0.0, 0.0, 1.0],
        _ => [0.0; 4],
    }
}

/// Builds a batch cropped to its longest sequence, with the runtime's pair features.
fn batch(config: &ModelConfig, examples: &[&Example], device: &Device) -> Batch {
    let n = examples.iter().map(|e| e.sequence.len()).max().unwrap_or(1);
    let c0 = config.pair_channels();
    let b = examples.len();
    let mut features = vec![0f32; b * c0 * n * n];
    let mut mask = vec![0f32; b * n * n];
    let mut target = vec![0f32; b * n * n];
    for (e_index, example) in examples.iter().enumerate() {
        let codes: Vec<[f32; 4]> = example.sequence.bytes().map(one_hot).collect();
        let len = codes.len();
        let plane = |ch: usize, i: usize, j: usize| ((e_index * c0 + ch) * n + i) * n + j;
        for i in 0..len {
            for j in 0..len {
                mask[(e_index * n + i) * n + j] = 1.0;
                let mut ch = 0;
                for feature in &config.pair_features {
                    match feature {
                        PairFeature::Concat => {
                            for f in 0..4 {
                                features[plane(ch + f, i, j)] = codes[i][f];
                                features[plane(ch + 4 + f, i, j)] = codes[j][f];
                            }
                            ch += 8;
                        }
                        PairFeature::Outer => {
                            for a in 0..4 {
                                for c in 0..4 {
                                    features[plane(ch + a * 4 + c, i, j)] =
                                        codes[i][a] * codes[j][c];
                                }
                            }
                            ch += 16;
                        }
                    }
                }
            }
        }
        for &(i, j) in &example.pairs {
            target[(e_index * n + i) * n + j] = 1.0;
            target[(e_index * n + j) * n + i] = 1.0;
        }
    }
    Batch {
        features: Tensor::from_data(TensorData::new(features, [b, c0, n, n]), device),
        mask: Tensor::from_data(TensorData::new(mask, [b, 1, n, n]), device),
        target: Tensor::from_data(TensorData::new(target, [b, 1, n, n]), device),
        n,
    }
}

/// Weighted binary cross-entropy on logits, in the stable form
/// `max(z, 0) − z·y + log(1 + e^−|z|)`, averaged over pairs inside the sequences.
fn loss(logits: Tensor<4>, batch: &Batch, pos_weight: f32) -> Tensor<1> {
    let y = batch.target.clone();
    let per_pair = logits.clone().clamp_min(0.0) - logits.clone() * y.clone()
        + logits.abs().neg().exp().add_scalar(1.0).log();
    let weight = (y.mul_scalar(pos_weight - 1.0).add_scalar(1.0)) * batch.mask.clone();
    (per_pair * weight).sum() / batch.mask.clone().sum()
}

/// Mean pair F1 of the network's decoded structures over `examples`.
pub fn evaluate(layout: &Layout, net: &Net, examples: &[Example], device: &Device) -> Result<f64> {
    if examples.is_empty() {
        return Ok(0.0);
    }
    let mut total = 0.0;
    for chunk in examples.chunks(16) {
        let refs: Vec<&Example> = chunk.iter().collect();
        let b = batch(&layout.config, &refs, device);
        let probs = sigmoid(layout.forward(net, b.features.clone(), &b.mask));
        let values: Vec<f32> = probs
            .into_data()
            .try_to_vec()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let n = b.n;
        for (e_index, example) in chunk.iter().enumerate() {
            let len = example.sequence.len();
            let at = |i: usize, j: usize| values[(e_index * n + i) * n + j];
            // The mean of both triangles: exact for the SCNN, a fair reading of a plain CNN.
            let mut dense = vec![0f32; len * len];
            for i in 0..len {
                for j in 0..len {
                    dense[i * len + j] = 0.5 * (at(i, j) + at(j, i));
                }
            }
            let bases = crate::commands::bases(&example.name, &example.sequence)?;
            let (pairs, _) =
                crate::runtime::decode_dense(&dense, &bases, scnn::decode::DEFAULT_THRESHOLD)?;
            total += f1(&pairs, &example.pairs);
        }
    }
    Ok(total / examples.len() as f64)
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
    Ok(tensors)
}

/// What [`train`] reports as it goes.
pub enum Progress<'a> {
    /// After each optimizer step (1-based) of `total`.
    Step {
        step: usize,
        total: usize,
        loss: f64,
    },
    /// After each epoch's validation.
    Epoch(&'a EpochReport),
}

/// Trains on `train`, keeps the epoch with the best validation F1 and scores it on `test`.
pub fn train(
    config: &ModelConfig,
    train: &[Example],
    validation: &[Example],
    test: &[Example],
    options: &Options,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Trained> {
    if train.is_empty() {
        bail!("the training split is empty");
    }
    if options.batch == 0 || options.epochs == 0 {
        bail!("--batch and --epochs must be at least 1");
    }
    let started = Instant::now();
    let device = Device::flex().autodiff();
    device.seed(options.seed);
    let layout = Layout::new(config, options.dense);
    let mut net = layout.init(options.seed, &device);
    let mut optimizer = AdamConfig::new().init();
    let mut rng = Rng(options.seed ^ 0x0BA7_C4E5);
    let steps_per_epoch = train.len().div_ceil(options.batch);
    let mut total = steps_per_epoch * options.epochs;
    if options.max_steps > 0 {
        total = total.min(options.max_steps);
    }

    let mut losses = Vec::new();
    let mut epochs = Vec::new();
    let mut best: Option<(f64, usize, Tensors, Net)> = None;
    'epochs: for epoch in 1..=options.epochs {
        let mut order: Vec<usize> = (0..train.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let mut epoch_loss = 0.0;
        let mut epoch_steps = 0;
        for chunk in order.chunks(options.batch) {
            if losses.len() == total {
                break;
            }
            let refs: Vec<&Example> = chunk.iter().map(|&i| &train[i]).collect();
            let b = batch(config, &refs, &device);
            let logits = layout.forward(&net, b.features.clone(), &b.mask);
            let loss = loss(logits, &b, options.pos_weight);
            let value: f64 = loss
                .clone()
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?[0] as f64;
            if !value.is_finite() {
                bail!(
                    "training diverged: loss is {value} at step {}",
                    losses.len() + 1
                );
            }
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            // Linear decay to a tenth of the rate: late epochs settle instead of hopping.
            let progress_fraction = losses.len() as f64 / total as f64;
            let rate = options.learning_rate * (1.0 - 0.9 * progress_fraction);
            net = optimizer.step(rate, net, grads);
            losses.push(value);
            epoch_loss += value;
            epoch_steps += 1;
            progress(Progress::Step {
                step: losses.len(),
                total,
                loss: value,
            });
        }
        if epoch_steps == 0 {
            break 'epochs;
        }
        let validation_f1 = if validation.is_empty() {
            0.0
        } else {
            evaluate(&layout, &net, validation, &device)?
        };
        epochs.push(EpochReport {
            epoch,
            steps: epoch_steps,
            mean_loss: epoch_loss / epoch_steps as f64,
            validation_f1,
        });
        if let Some(report) = epochs.last() {
            progress(Progress::Epoch(report));
        }
        if best.as_ref().is_none_or(|b| validation_f1 > b.0) {
            best = Some((
                validation_f1,
                epoch,
                export(&layout, &net, &device)?,
                net.clone(),
            ));
        }
        if losses.len() == total {
            break;
        }
    }
    let Some((validation_f1, best_epoch, tensors, best_net)) = best else {
        bail!("no training step ran");
    };
    let test_f1 = evaluate(&layout, &best_net, test, &device)?;
    Ok(Trained {
        config: config.clone(),
        tensors,
        report: Report {
            model: if options.dense { "cnn" } else { "scnn" },
            options: options.clone(),
            trainable_parameters: layout.parameter_count(),
            train_examples: train.len(),
            validation_examples: validation.len(),
            test_examples: test.len(),
            losses,
            epochs,
            best_epoch,
            validation_f1,
            test_f1,
            seconds: started.elapsed().as_secs_f64(),
        },
    })
}
