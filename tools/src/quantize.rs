//! From a float model to blob contents: post-training int8 quantization calibrated on
//! representative sequences, or a plain f32 packing.

use anyhow::{bail, Result};
use scnn::blob::{Precision, SEGMENT_CONCAT, SEGMENT_OUTER};
use scnn::layers::AddQuant;
use scnn::{Activation, Requant};

use crate::blobwrite::{floats, words, BlobSpec, LayerSpec};
use crate::config::PairFeature;
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

/// Min and max of each layer's conv output and layer output over the calibration set.
pub struct Ranges {
    pub conv: Vec<(f64, f64)>,
    pub output: Vec<(f64, f64)>,
}

pub fn calibrate(model: &FloatModel, sequences: &[Vec<u16>], mut progress: impl FnMut()) -> Ranges {
    let count = model.config.layers.len();
    let mut ranges = Ranges {
        conv: vec![(0.0, 0.0); count],
        output: vec![(0.0, 0.0); count],
    };
    for tokens in sequences {
        let forward = reference::forward_tokens(model, tokens);
        for t in 0..count {
            let (lo, hi) = range(forward.conv_outputs[t].data.iter().copied());
            ranges.conv[t] = (ranges.conv[t].0.min(lo), ranges.conv[t].1.max(hi));
            let (lo, hi) = range(forward.outputs[t].data.iter().copied());
            ranges.output[t] = (ranges.output[t].0.min(lo), ranges.output[t].1.max(hi));
        }
        progress();
    }
    ranges
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
        })
        .collect()
}

/// The f32 blob: packed float kernels, no quantization.
pub fn f32_blob(model: &FloatModel) -> Result<BlobSpec> {
    let cfg = &model.config;
    let layers = cfg
        .layers
        .iter()
        .enumerate()
        .map(|(t, layer)| LayerSpec {
            kernel: layer.kernel,
            dilation: layer.dilation,
            in_channels: cfg.in_channels(t),
            out_channels: layer.out_channels,
            activation: layer.activation.into(),
            residual: layer.residual,
            weights: floats(&model.packed(t)),
            params: floats(&model.layers[t].bias),
        })
        .collect();
    Ok(BlobSpec {
        precision: Precision::F32,
        app: cfg.app.app(),
        vocab_size: cfg.app.vocab_size(),
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
        let (out_lo, out_hi) = clip(ranges.output[t]);
        let out_q = asymmetric(out_lo, out_hi);
        let (conv_lo, conv_hi) = clip(ranges.conv[t]);
        let (conv_q, conv_range) = match layer.residual {
            Some(_) => (asymmetric(conv_lo, conv_hi), (-128, 127)),
            None => {
                let (lo, hi) = activation.int8_range(out_q.scale, out_q.zero_point);
                (out_q, (lo as i32, hi as i32))
            }
        };
        let weights = &model.layers[t];
        let o_count = layer.out_channels;
        let per_output = weights.weight.len() / o_count;
        let packed = model.packed(t);
        let packed_per_output = packed.len() / o_count;
        let mut q_weights = Vec::with_capacity(packed.len());
        let (mut bias, mut multipliers, mut shifts) = (Vec::new(), Vec::new(), Vec::new());
        for o in 0..o_count {
            let dense = &weights.weight[o * per_output..(o + 1) * per_output];
            let max = dense.iter().fold(0.0f32, |m, w| m.max(w.abs()));
            let w_scale = if max > 0.0 { max / 127.0 } else { 1.0 };
            for &w in &packed[o * packed_per_output..(o + 1) * packed_per_output] {
                q_weights.push((w / w_scale).round().clamp(-127.0, 127.0) as i8 as u8);
            }
            let bias_scale = in_q.scale as f64 * w_scale as f64;
            let b = (weights.bias[o] as f64 / bias_scale).round();
            if b.abs() > i32::MAX as f64 / 2.0 {
                bail!("layer {t}: bias {o} does not fit int32 at scale {bias_scale:e}");
            }
            bias.push(b as i32);
            let factor = bias_scale / conv_q.scale as f64;
            let r = Requant::from_real(factor)?;
            multipliers.push(r.multiplier);
            shifts.push(r.shift);
        }
        let mut params = words(&bias);
        params.extend(words(&multipliers));
        params.extend(words(&shifts));
        params.extend(words(&[
            conv_q.zero_point,
            conv_range.0,
            conv_range.1,
            conv_q.scale.to_bits() as i32,
        ]));
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
            params.extend(words(&[
                add.a_zero_point,
                add.a.multiplier,
                add.a.shift,
                add.b_zero_point,
                add.b.multiplier,
                add.b.shift,
                add.out.multiplier,
                add.out.shift,
                add.out_zero_point,
                add.act_min as i32,
                add.act_max as i32,
                out_q.scale.to_bits() as i32,
            ]));
        }
        outputs.push(if layer.residual.is_some() {
            out_q
        } else {
            conv_q
        });
        layers.push(LayerSpec {
            kernel: layer.kernel,
            dilation: layer.dilation,
            in_channels: cfg.in_channels(t),
            out_channels: o_count,
            activation,
            residual: layer.residual,
            weights: q_weights,
            params,
        });
    }
    let logits = *outputs.last().expect("validated: at least one layer");
    Ok(BlobSpec {
        precision: Precision::Int8,
        app: cfg.app.app(),
        vocab_size: cfg.app.vocab_size(),
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
