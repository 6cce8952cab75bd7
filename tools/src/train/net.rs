//! The trainable network in burn: the paper's parameterization, where the parameters of a
//! symmetric layer are exactly the runtime's packed kernels and the full `[O][C][k][k]`
//! kernel is gathered from them in every forward pass, so symmetry holds after any update.

use burn::module::{Module, Param};
use burn::tensor::activation::relu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::commands::example::Rng;
use crate::config::{ActivationName, ModelConfig};

/// Trainable parameters: one flat vector of kernel values and one bias vector per layer.
#[derive(Module, Debug)]
pub struct Net {
    pub kernels: Vec<Param<Tensor<1>>>,
    pub biases: Vec<Param<Tensor<1>>>,
    /// A learned token embedding `[V, D]` where the task has one (proteins); else empty.
    pub embedding: Vec<Param<Tensor<2>>>,
}

/// How each layer's flat parameters become a dense kernel.
#[derive(Clone, Debug)]
pub struct Layout {
    pub config: ModelConfig,
    /// Per layer: for each dense position `[o][c][u][v]`, the index of its parameter.
    pub gather: Vec<Vec<i64>>,
    /// Per layer: number of trainable kernel values.
    pub params: Vec<usize>,
    pub dense: bool,
}

/// Offset of `(u, v)`, `u <= v`, in a row-major upper triangle of a `k×k` kernel.
fn triangle_offset(k: usize, u: usize, v: usize) -> usize {
    u * k - u * (u.saturating_sub(1)) / 2 + (v - u)
}

impl Layout {
    /// The symmetric (`dense = false`) or plain CNN layout of `config`.
    pub fn new(config: &ModelConfig, dense: bool) -> Self {
        let mut gather = Vec::new();
        let mut params = Vec::new();
        for (t, layer) in config.layers.iter().enumerate() {
            let (o_count, k) = (layer.out_channels, layer.kernel);
            let partners = config.partners(t);
            let c_count = partners.len();
            let mut index = vec![0i64; o_count * c_count * k * k];
            if dense {
                for (n, slot) in index.iter_mut().enumerate() {
                    *slot = n as i64;
                }
                gather.push(index);
                params.push(o_count * c_count * k * k);
                continue;
            }
            // Block offsets in the runtime's packed order (see `weights::pack`).
            let mut base = vec![0usize; o_count * c_count];
            let mut next = 0;
            for o in 0..o_count {
                for (c, &p) in partners.iter().enumerate() {
                    if p == c {
                        base[o * c_count + c] = next;
                        next += k * (k + 1) / 2;
                    } else if c < p {
                        base[o * c_count + c] = next;
                        next += k * k;
                    }
                }
            }
            for o in 0..o_count {
                for (c, &p) in partners.iter().enumerate() {
                    for u in 0..k {
                        for v in 0..k {
                            let at = if p == c {
                                base[o * c_count + c] + triangle_offset(k, u.min(v), u.max(v))
                            } else if c < p {
                                base[o * c_count + c] + u * k + v
                            } else {
                                // W[o][c][u][v] = W[o][π(c)][v][u].
                                base[o * c_count + p] + v * k + u
                            };
                            index[((o * c_count + c) * k + u) * k + v] = at as i64;
                        }
                    }
                }
            }
            gather.push(index);
            params.push(next);
        }
        Self {
            config: config.clone(),
            gather,
            params,
            dense,
        }
    }

    /// Trainable values in all layers (kernels and biases).
    pub fn parameter_count(&self) -> usize {
        self.params.iter().sum::<usize>()
            + self
                .config
                .layers
                .iter()
                .map(|l| l.out_channels)
                .sum::<usize>()
    }

    /// Deterministic initial parameters: uniform with variance 1/fan-in, zero biases, and a
    /// head bias that starts near the rarity of pairs.
    pub fn init(&self, seed: u64, device: &Device) -> Net {
        let mut rng = Rng(seed);
        let mut kernels = Vec::new();
        let mut biases = Vec::new();
        for (t, layer) in self.config.layers.iter().enumerate() {
            let fan_in = self.config.in_channels(t) * layer.kernel * layer.kernel;
            let bound = (3.0 / fan_in as f32).sqrt();
            let values: Vec<f32> = (0..self.params[t]).map(|_| bound * rng.unit()).collect();
            kernels.push(Param::from_tensor(Tensor::from_data(
                TensorData::new(values, [self.params[t]]),
                device,
            )));
            // A pair-map head starts near the rarity of pairs; a pooled model's last conv is
            // not a head.
            let last = t + 1 == self.config.layers.len() && self.config.head.is_none();
            let bias = vec![if last { -3.0 } else { 0.0 }; layer.out_channels];
            biases.push(Param::from_tensor(Tensor::from_data(
                TensorData::new(bias, [layer.out_channels]),
                device,
            )));
        }
        Net {
            kernels,
            biases,
            embedding: Vec::new(),
        }
    }

    /// `net` with its parameters taken from `model`: layer `t` from `model`'s layer
    /// `sources[t]`, or zeros where that is `None` (a new block, see [`super::grow`]); where
    /// that layer is narrower, the new channels keep `net`'s values. Each
    /// parameter is the mean of the dense kernel values gathered from it, so a symmetric kernel
    /// comes back exactly and a plain CNN's is projected onto the symmetric ones. A learned
    /// embedding is taken too where `net` has one.
    pub fn net_from(
        &self,
        mut net: Net,
        model: &crate::weights::FloatModel,
        sources: &[Option<usize>],
        device: &Device,
    ) -> anyhow::Result<Net> {
        for (t, source) in sources.iter().enumerate() {
            let out_channels = self.config.layers[t].out_channels;
            let (values, bias) = match source {
                Some(f) => {
                    let (layer, k) = (&model.layers[*f], self.config.layers[t].kernel);
                    // The file's layer may be narrower (see `super::grow`): its dense kernel is
                    // the corner `[..o_file][..c_file]` of this one.
                    let o_file = model.config.layers[*f].out_channels;
                    let c_file = model.config.in_channels(*f);
                    let c_count = self.config.in_channels(t);
                    let fresh: Vec<f32> = net.kernels[t]
                        .val()
                        .into_data()
                        .try_to_vec()
                        .map_err(|e| anyhow::anyhow!("layer {t}'s initial kernel: {e:?}"))?;
                    let mut sums = vec![0f64; self.params[t]];
                    let mut counts = vec![0u32; self.params[t]];
                    for (n, &at) in self.gather[t].iter().enumerate() {
                        let (o, c, uv) =
                            (n / (c_count * k * k), n / (k * k) % c_count, n % (k * k));
                        // A parameter is shared within one output channel (`W[o][c][u][v] =
                        // W[o][π(c)][v][u]`), so a new channel's are never counted.
                        if o >= o_file {
                            continue;
                        }
                        // An old channel takes nothing from a new one.
                        if c < c_file {
                            sums[at as usize] += layer.weight[(o * c_file + c) * k * k + uv] as f64;
                        }
                        counts[at as usize] += 1;
                    }
                    let values: Vec<f32> = (0..self.params[t])
                        .map(|p| match counts[p] {
                            0 => fresh[p],
                            n => (sums[p] / n as f64) as f32,
                        })
                        .collect();
                    let fresh_bias: Vec<f32> = net.biases[t]
                        .val()
                        .into_data()
                        .try_to_vec()
                        .map_err(|e| anyhow::anyhow!("layer {t}'s initial bias: {e:?}"))?;
                    let mut bias = layer.bias.clone();
                    bias.extend_from_slice(&fresh_bias[layer.bias.len().min(out_channels)..]);
                    (values, bias)
                }
                None => (vec![0.0; self.params[t]], vec![0.0; out_channels]),
            };
            net.kernels[t] = Param::from_tensor(Tensor::from_data(
                TensorData::new(values, [self.params[t]]),
                device,
            ));
            net.biases[t] = Param::from_tensor(Tensor::from_data(
                TensorData::new(bias, [out_channels]),
                device,
            ));
        }
        if let Some(slot) = net.embedding.first_mut() {
            let dims = slot.val().dims();
            if dims[0] * dims[1] != model.embedding.len() {
                anyhow::bail!(
                    "embedding has {} values; the model learns {:?}",
                    model.embedding.len(),
                    dims
                );
            }
            *slot = Param::from_tensor(Tensor::from_data(
                TensorData::new(model.embedding.clone(), dims),
                device,
            ));
        }
        Ok(net)
    }

    /// Layer `t`'s dense `[O, C, k, k]` kernel from its parameters.
    pub fn kernel(&self, net: &Net, t: usize, device: &Device) -> Tensor<4> {
        let layer = &self.config.layers[t];
        let index = Tensor::<1, Int>::from_data(
            TensorData::new(self.gather[t].clone(), [self.gather[t].len()]),
            device,
        );
        net.kernels[t].val().select(0, index).reshape([
            layer.out_channels,
            self.config.in_channels(t),
            layer.kernel,
            layer.kernel,
        ])
    }

    /// Pair logits `[B, 1, n, n]` for pair features `[B, C, n, n]`; `mask` `[B, 1, n, n]` is 1
    /// on pairs inside each sequence and zeroes the rest after every layer, as the runtime does.
    pub fn forward(&self, net: &Net, x: Tensor<4>, mask: &Tensor<4>) -> Tensor<4> {
        self.forward_maps(net, x, Some(mask))
    }

    /// The convs over `x` `[B, C, n, n]`, with `same` or `valid` padding per layer (valid
    /// layers shrink the map by `(k − 1)·d`), and the mask after every layer when given.
    pub fn forward_maps(&self, net: &Net, x: Tensor<4>, mask: Option<&Tensor<4>>) -> Tensor<4> {
        let device = x.device();
        let mut outputs: Vec<Tensor<4>> = Vec::new();
        let mut x = x;
        for (t, layer) in self.config.layers.iter().enumerate() {
            let pad = match layer.padding {
                crate::config::PaddingName::Same => layer.dilation * (layer.kernel - 1) / 2,
                crate::config::PaddingName::Valid => 0,
            };
            let options = ConvOptions::new([1, 1], [pad, pad], [layer.dilation, layer.dilation], 1);
            let mut y = conv2d(
                x,
                self.kernel(net, t, &device),
                Some(net.biases[t].val()),
                options,
            );
            if let Some(s) = layer.residual {
                y = y + outputs[s].clone();
            }
            y = match layer.activation {
                ActivationName::None => y,
                ActivationName::Relu => relu(y),
                ActivationName::Relu6 => relu(y).clamp_max(6.0),
            };
            if let Some(mask) = mask {
                y = y * mask.clone();
            }
            outputs.push(y.clone());
            x = y;
        }
        x
    }
}
