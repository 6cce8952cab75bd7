//! From a float model to blob contents: post-training int8 quantization calibrated on
//! representative sequences, or a plain f32 packing.

use anyhow::{bail, Result};
use scnn::blob::{
    activation_code, Precision, ACTIVATION_SIGMOID, ACTIVATION_TANH, LAYER_CONV, LAYER_DENSE,
    LAYER_POOL, LAYER_SCORES, LAYER_SIDE, PADDING_SAME, PADDING_VALID, POOL_AVG, POOL_MAX,
    SEGMENT_CONCAT, SEGMENT_OUTER,
};
use scnn::layers::AddQuant;
use scnn::ops::activation::{ActivationI8, Curve};
use scnn::params::{OutputTail, SideQuant};
use scnn::{Activation, Requant};

use crate::blobwrite::{floats, words, BlobSpec, LayerSpec};
use crate::config::{
    DenseActivationName, LayerConfig, ModelConfig, PaddingName, PairFeature, PoolName,
    PooledConfig, VectorConfig,
};
use crate::reference;
use crate::weights::FloatModel;

/// Scale and zero point of an asymmetric int8 tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QParams {
    pub scale: f32,
    pub zero_point: i32,
}

/// Asymmetric int8 parameters covering `[min, max]` (widened to include 0, as TFLite does).
pub fn asymmetric(min: f64, max: f64) -> QParams {
    let min = min.min(0.0);
    let mut max = max.max(0.0);
    if max - min < 1e-6 {
        max = min + 1e-6;
    }
    let scale = (max - min) / 255.0;
    let zero_point = (-128.0 - min / scale).round().clamp(-128.0, 127.0) as i32;
    QParams {
        scale: scale as f32,
        zero_point,
    }
}

fn range(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    values
        .into_iter()
        .fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// Min and max of each layer's conv output and layer output over the calibration set, and of
/// each pooled-head layer's output (`head[0]`: the pooled vector) and pre-activation.
pub struct Ranges {
    pub conv: Vec<(f64, f64)>,
    pub output: Vec<(f64, f64)>,
    pub head: Vec<(f64, f64)>,
    pub head_pre: Vec<(f64, f64)>,
}

fn widen(slot: &mut (f64, f64), values: &[f64]) {
    let (lo, hi) = range(values.iter().copied());
    *slot = (slot.0.min(lo), slot.1.max(hi));
}

pub fn calibrate(model: &FloatModel, sequences: &[Vec<u16>], progress: impl FnMut()) -> Ranges {
    calibrate_with_sides(model, sequences, &[], progress)
}

/// [`calibrate`] with the side token of each sequence (`sides[i]`; row 0 when missing).
pub fn calibrate_with_sides(
    model: &FloatModel,
    sequences: &[Vec<u16>],
    sides: &[u16],
    mut progress: impl FnMut(),
) -> Ranges {
    let count = model.config.layers.len();
    let head_len = model.config.head.as_ref().map_or(0, |h| h.layers.len());
    let mut ranges = Ranges {
        conv: vec![(0.0, 0.0); count],
        output: vec![(0.0, 0.0); count],
        head: vec![(0.0, 0.0); head_len + usize::from(head_len > 0)],
        head_pre: vec![(0.0, 0.0); head_len],
    };
    for (n, tokens) in sequences.iter().enumerate() {
        let side = sides.get(n).map(|&s| s as usize);
        // Each layer's range as it is made: the maps are not all kept.
        let (conv, output) = (&mut ranges.conv, &mut ranges.output);
        let forward = reference::forward_observed(model, tokens, side, &mut |t, c, o| {
            widen(&mut conv[t], &c.data);
            widen(&mut output[t], &o.data);
        });
        for (slot, values) in ranges.head.iter_mut().zip(&forward.head) {
            widen(slot, values);
        }
        for (slot, values) in ranges.head_pre.iter_mut().zip(&forward.head_pre) {
            widen(slot, values);
        }
        progress();
    }
    ranges
}

/// A conv layer's record fields other than its sections.
fn conv_spec(cfg: &ModelConfig, t: usize, layer: &LayerConfig) -> LayerSpec {
    LayerSpec {
        kind: LAYER_CONV,
        option: match layer.padding {
            PaddingName::Same => PADDING_SAME,
            PaddingName::Valid => PADDING_VALID,
        },
        kernel: layer.kernel,
        dilation: layer.dilation,
        in_channels: cfg.in_channels(t),
        out_channels: layer.out_channels,
        activation: activation_code(layer.activation.into()),
        residual: layer.residual,
        weights: Vec::new(),
        params: Vec::new(),
    }
}

/// The record fields of pooled-head layer `n` (`None`: the pool itself) other than its
/// sections.
fn head_spec(cfg: &ModelConfig, head: &PooledConfig, n: Option<usize>) -> LayerSpec {
    let pooled = cfg.conv_out_channels();
    let mut spec = LayerSpec {
        kind: LAYER_POOL,
        option: match head.pool {
            PoolName::Avg => POOL_AVG,
            PoolName::Max => POOL_MAX,
        },
        kernel: 0,
        dilation: 0,
        in_channels: pooled,
        out_channels: pooled,
        activation: 0,
        residual: None,
        weights: Vec::new(),
        params: Vec::new(),
    };
    let Some(n) = n else {
        return spec;
    };
    spec.in_channels = head.width_before(n, pooled);
    spec.out_channels = head.width_after(n, pooled);
    match head.layers[n] {
        VectorConfig::Dense { activation, .. } => {
            spec.kind = LAYER_DENSE;
            spec.option = 0;
            spec.activation = match activation {
                DenseActivationName::None => activation_code(Activation::None),
                DenseActivationName::Relu => activation_code(Activation::Relu),
                DenseActivationName::Relu6 => activation_code(Activation::Relu6),
                DenseActivationName::Tanh => ACTIVATION_TANH,
                DenseActivationName::Sigmoid => ACTIVATION_SIGMOID,
            };
        }
        VectorConfig::Side { rows, .. } => {
            spec.kind = LAYER_SIDE;
            spec.option = rows as u16;
        }
        VectorConfig::Scores { .. } => {
            spec.kind = LAYER_SCORES;
            spec.option = 0;
        }
    }
    spec
}

fn segments(model: &FloatModel) -> Vec<(u8, u16)> {
    let d = model.config.embedding_dim as u16;
    model
        .config
        .pair_features
        .iter()
        .map(|f| match f {
            PairFeature::Concat => (SEGMENT_CONCAT, d),
            PairFeature::Outer => (SEGMENT_OUTER, d),
            PairFeature::Separation(n) => (scnn::blob::SEGMENT_SEPARATION, *n),
        })
        .collect()
}

/// The f32 blob: packed float kernels, no quantization.
pub fn f32_blob(model: &FloatModel) -> Result<BlobSpec> {
    let cfg = &model.config;
    let mut layers: Vec<LayerSpec> = cfg
        .layers
        .iter()
        .enumerate()
        .map(|(t, layer)| LayerSpec {
            weights: floats(&model.packed(t)),
            params: floats(&model.layers[t].bias),
            ..conv_spec(cfg, t, layer)
        })
        .collect();
    if let Some(head) = &cfg.head {
        layers.push(head_spec(cfg, head, None));
        for (n, weights) in model.head.iter().enumerate() {
            layers.push(LayerSpec {
                weights: floats(&weights.weight),
                params: floats(&weights.bias),
                ..head_spec(cfg, head, Some(n))
            });
        }
    }
    Ok(BlobSpec {
        precision: Precision::F32,
        app: cfg.app.app(),
        vocab_size: cfg.vocab_size(),
        alphabet: cfg.app.alphabet().to_vec(),
        pair_len: cfg.pair_len,
        feature_dim: cfg.embedding_dim,
        segments: segments(model),
        embedding: floats(&model.embedding),
        input_scale: 1.0,
        input_zero_point: 0,
        product: Requant {
            multiplier: 0,
            shift: 0,
        },
        logit_scale: 1.0,
        logit_zero_point: 0,
        layers,
    })
}

/// Largest logit magnitude the int8 head represents: probabilities beyond `sigmoid(±16)`
/// (1e-7 from 0 or 1) saturate there.
pub const LOGIT_RANGE: f64 = 16.0;

/// Quantizes the float model per the TFLite spec with the calibrated ranges.
pub fn int8_blob(model: &FloatModel, ranges: &Ranges) -> Result<BlobSpec> {
    let cfg = &model.config;
    // The pair tensor shares one scale: it must hold every table value and every product.
    let table = &model.embedding;
    let mut values: Vec<f64> = table.iter().map(|&v| v as f64).collect();
    if cfg.pair_features.contains(&PairFeature::Outer) {
        let d = cfg.embedding_dim;
        for row in table.chunks(d) {
            for other in table.chunks(d) {
                for a in row {
                    for b in other {
                        values.push(*a as f64 * *b as f64);
                    }
                }
            }
        }
    }
    // A separation channel holds 0.0 or 1.0.
    if cfg
        .pair_features
        .iter()
        .any(|f| matches!(f, PairFeature::Separation(_)))
    {
        values.extend([0.0, 1.0]);
    }
    let (lo, hi) = range(values);
    let input = asymmetric(lo, hi);
    let embedding: Vec<u8> = table
        .iter()
        .map(|&v| scnn::quant::quantize(v, input.scale, input.zero_point) as u8)
        .collect();
    let product = Requant::from_real(input.scale as f64)?;

    let mut outputs: Vec<QParams> = Vec::new();
    let mut layers = Vec::new();
    let last = cfg.layers.len() - 1;
    for (t, layer) in cfg.layers.iter().enumerate() {
        let in_q = if t == 0 { input } else { outputs[t - 1] };
        let activation: Activation = layer.activation.into();
        // The head's logits only matter near the decision threshold: clip their range to
        // ±LOGIT_RANGE, so the int8 steps there are fine (a calibrated range reaching −100
        // would move a probability near 0.5 by 0.12 a step).
        let clip = |(lo, hi): (f64, f64)| {
            if t == last {
                (lo.max(-LOGIT_RANGE), hi.min(LOGIT_RANGE))
            } else {
                (lo, hi)
            }
        };
        // A pooled head's map is not the pair logits: no clip.
        let clip = |r: (f64, f64)| if cfg.head.is_some() { r } else { clip(r) };
        let (out_lo, out_hi) = clip(ranges.output[t]);
        let out_q = asymmetric(out_lo, out_hi);
        let (conv_lo, conv_hi) = clip(ranges.conv[t]);
        let (conv_q, conv_range) = match layer.residual {
            Some(_) => (asymmetric(conv_lo, conv_hi), (i8::MIN, i8::MAX)),
            None => (out_q, activation.int8_range(out_q.scale, out_q.zero_point)),
        };
        let weights = &model.layers[t];
        let o_count = layer.out_channels;
        let packed = model.packed(t);
        // Each output's scale from its dense kernels; the packed values are among them.
        let per_channel = PerChannel::new(
            &format!("layer {t}"),
            weights.weight.chunks(weights.weight.len() / o_count),
            packed.chunks(packed.len() / o_count),
            &weights.bias,
            in_q.scale,
            conv_q.scale,
        )?;
        let q_weights = per_channel.weights.clone();
        let mut params = per_channel.params(&OutputTail {
            zero_point: conv_q.zero_point,
            act_min: conv_range.0,
            act_max: conv_range.1,
            scale: conv_q.scale,
        });
        if let Some(s) = layer.residual {
            let skip = outputs[s];
            let add = AddQuant::from_scales(
                conv_q.scale,
                conv_q.zero_point,
                skip.scale,
                skip.zero_point,
                out_q.scale,
                out_q.zero_point,
                activation,
            )?;
            params.extend(words(&add.to_words(out_q.scale)));
            // Format 4: both inputs' rescale tables, for the device to read from flash.
            params.extend(words(&add.rescale_tables()));
        }
        outputs.push(if layer.residual.is_some() {
            out_q
        } else {
            conv_q
        });
        layers.push(LayerSpec {
            weights: q_weights,
            params,
            ..conv_spec(cfg, t, layer)
        });
    }
    let logits = *outputs.last().expect("validated: at least one layer");
    if let Some(head) = &cfg.head {
        int8_head(model, head, ranges, logits, &mut layers)?;
    }
    // A pooled model's header logit fields describe nothing; 1.0 and 0 keep the loader happy.
    let logits = if cfg.head.is_some() {
        QParams {
            scale: 1.0,
            zero_point: 0,
        }
    } else {
        logits
    };
    Ok(BlobSpec {
        precision: Precision::Int8,
        app: cfg.app.app(),
        vocab_size: cfg.vocab_size(),
        alphabet: cfg.app.alphabet().to_vec(),
        pair_len: cfg.pair_len,
        feature_dim: cfg.embedding_dim,
        segments: segments(model),
        embedding,
        input_scale: input.scale,
        input_zero_point: input.zero_point,
        product,
        logit_scale: logits.scale,
        logit_zero_point: logits.zero_point,
        layers,
    })
}

/// An affine layer quantized per output channel: int8 weights, int32 biases and the
/// requantization of each output.
struct PerChannel {
    weights: Vec<u8>,
    bias: Vec<i32>,
    multipliers: Vec<i32>,
    shifts: Vec<i32>,
}

impl PerChannel {
    /// Output `o`'s weights are `value_rows[o]` at the symmetric scale of `scale_rows[o]`
    /// (the same row, or one holding the same values and more); its bias is at `in_scale ·
    /// weight scale`, requantized to `out_scale`.
    fn new<'a>(
        what: &str,
        scale_rows: impl Iterator<Item = &'a [f32]>,
        value_rows: impl Iterator<Item = &'a [f32]>,
        biases: &[f32],
        in_scale: f32,
        out_scale: f32,
    ) -> Result<Self> {
        let mut out = Self {
            weights: Vec::new(),
            bias: Vec::new(),
            multipliers: Vec::new(),
            shifts: Vec::new(),
        };
        for (o, ((scale_row, values), &b)) in scale_rows.zip(value_rows).zip(biases).enumerate() {
            let (_, w_scale) = symmetric(scale_row);
            out.weights.extend(
                values
                    .iter()
                    .map(|&w| (w / w_scale).round().clamp(-127.0, 127.0) as i8 as u8),
            );
            let bias_scale = in_scale as f64 * w_scale as f64;
            out.bias
                .push(int32_bias(&format!("{what}: bias {o}"), b, bias_scale)?);
            let r = Requant::from_real(bias_scale / out_scale as f64)?;
            out.multipliers.push(r.multiplier);
            out.shifts.push(r.shift);
        }
        Ok(out)
    }

    /// The parameter block: biases, multipliers, shifts, then the output's `tail`.
    fn params(&self, tail: &OutputTail) -> Vec<u8> {
        let mut params = words(&self.bias);
        params.extend(words(&self.multipliers));
        params.extend(words(&self.shifts));
        params.extend(words(&tail.to_words()));
        params
    }
}

/// Symmetric int8 weights of one row (or a whole matrix): values and scale.
fn symmetric(values: &[f32]) -> (Vec<u8>, f32) {
    let max = values.iter().fold(0.0f32, |m, w| m.max(w.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    let q = values
        .iter()
        .map(|&w| (w / scale).round().clamp(-127.0, 127.0) as i8 as u8)
        .collect();
    (q, scale)
}

/// An int32 bias at `scale`, or an error naming it.
fn int32_bias(what: &str, value: f32, scale: f64) -> Result<i32> {
    let b = (value as f64 / scale).round();
    if b.abs() > i32::MAX as f64 / 2.0 {
        bail!("{what} does not fit int32 at scale {scale:e}");
    }
    Ok(b as i32)
}

/// The pooled head in int8: the pool keeps the last map's quantization; dense layers are
/// per-channel FULLY_CONNECTED (then TFLite's TANH or LOGISTIC, whose output quantization is
/// fixed); the side table is quantized at the joined vector's quantization, which covers the
/// incoming vector and the table; the scores share one weight scale so their int32
/// accumulators rank as the real scores do.
fn int8_head(
    model: &FloatModel,
    head: &PooledConfig,
    ranges: &Ranges,
    pooled_q: QParams,
    layers: &mut Vec<LayerSpec>,
) -> Result<()> {
    let cfg = &model.config;
    layers.push(head_spec(cfg, head, None));
    let mut in_q = pooled_q;
    for (n, (layer, weights)) in head.layers.iter().zip(&model.head).enumerate() {
        let spec = head_spec(cfg, head, Some(n));
        let c = spec.in_channels;
        let what = format!("head.{n}");
        let (q_weights, params, out_q) = match *layer {
            VectorConfig::Dense { activation, .. } => {
                let curve = match activation {
                    DenseActivationName::Tanh => Some(Curve::Tanh),
                    DenseActivationName::Sigmoid => Some(Curve::Logistic),
                    _ => None,
                };
                // The affine output's quantization: from its own range before a curve,
                // else from the output's (the clamp is the activation).
                let (lo, hi) = if curve.is_some() {
                    ranges.head_pre[n]
                } else {
                    ranges.head[n + 1]
                };
                let affine_q = asymmetric(lo, hi);
                let clamp: Activation = match activation {
                    DenseActivationName::Relu => Activation::Relu,
                    DenseActivationName::Relu6 => Activation::Relu6,
                    _ => Activation::None,
                };
                let (act_min, act_max) = clamp.int8_range(affine_q.scale, affine_q.zero_point);
                let rows = || weights.weight.chunks(c);
                let per_channel = PerChannel::new(
                    &what,
                    rows(),
                    rows(),
                    &weights.bias,
                    in_q.scale,
                    affine_q.scale,
                )?;
                let q_weights = per_channel.weights.clone();
                let mut params = per_channel.params(&OutputTail {
                    zero_point: affine_q.zero_point,
                    act_min,
                    act_max,
                    scale: affine_q.scale,
                });
                let out_q = match curve {
                    Some(curve) => {
                        let a = ActivationI8::from_input_scale(
                            curve,
                            affine_q.scale,
                            affine_q.zero_point,
                        )?;
                        params.extend(words(&a.to_words()));
                        let (scale, zero_point) = curve.output_quant();
                        QParams { scale, zero_point }
                    }
                    None => affine_q,
                };
                (q_weights, params, out_q)
            }
            VectorConfig::Side { .. } => {
                // The joined vector holds the incoming values and the table's.
                let incoming = (
                    (-128 - in_q.zero_point) as f64 * in_q.scale as f64,
                    (127 - in_q.zero_point) as f64 * in_q.scale as f64,
                );
                let (t_lo, t_hi) = range(weights.weight.iter().map(|&v| v as f64));
                let out_q = asymmetric(incoming.0.min(t_lo), incoming.1.max(t_hi));
                let table = weights
                    .weight
                    .iter()
                    .map(|&v| scnn::quant::quantize(v, out_q.scale, out_q.zero_point) as u8)
                    .collect();
                let r = Requant::from_real(in_q.scale as f64 / out_q.scale as f64)?;
                let params = words(
                    &SideQuant {
                        requant: r,
                        zero_point: out_q.zero_point,
                        scale: out_q.scale,
                    }
                    .to_words(),
                );
                (table, params, out_q)
            }
            VectorConfig::Scores { .. } => {
                let (q_weights, w_scale) = symmetric(&weights.weight);
                let scale = in_q.scale as f64 * w_scale as f64;
                let bias = weights
                    .bias
                    .iter()
                    .enumerate()
                    .map(|(i, &b)| int32_bias(&format!("{what}: bias {i}"), b, scale))
                    .collect::<Result<Vec<_>>>()?;
                let mut params = words(&bias);
                params.extend(words(&[(scale as f32).to_bits() as i32]));
                (
                    q_weights,
                    params,
                    QParams {
                        scale: scale as f32,
                        zero_point: 0,
                    },
                )
            }
        };
        layers.push(LayerSpec {
            weights: q_weights,
            params,
            ..spec
        });
        in_q = out_q;
    }
    Ok(())
}
