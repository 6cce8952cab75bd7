//! Pooled models (format 3): the conv maps pooled over the triangle into a vector, dense and
//! side-table layers on that vector, and a scores layer that gives one score per item, as
//! SCosRec scores every item from the last few.
//!
//! int8 semantics are TensorFlow Lite Micro's reference kernels: AVERAGE_POOL_2D over the whole
//! map (its rounding: half away from zero; off-diagonal pairs count twice, as in the full
//! symmetric map) and MAX_POOL_2D, both keeping the input's quantization; FULLY_CONNECTED
//! (per-channel, double-rounding requantization as CMSIS-NN's `arm_fully_connected_s8`); TANH
//! and LOGISTIC ([`crate::ops::activation`]); the side table joined as QUANTIZE (int8 to int8
//! requantization of the incoming vector) then CONCATENATION at one quantization; and the
//! scores as FULLY_CONNECTED's int32 accumulators (bias included) before requantization, so
//! ranking them ranks the dequantized scores exactly (the weights share one scale).

use super::{cast, section, Model, Sequence};
use crate::blob::{
    layer as lr, u16_at, u32_at, u8_at, Precision, ACTIVATION_SIGMOID, ACTIVATION_TANH, CRC_LEN,
    I8_CONV_TAIL_WORDS, I8_CURVE_WORDS, LAYER_DENSE, LAYER_POOL, LAYER_RECORD_LEN, LAYER_SIDE,
    POOL_MAX,
};
use crate::conv::{OutputQuant, PairSource};
use crate::layers::{pool_avg_f32, pool_avg_i8, pool_max_f32, pool_max_i8};
use crate::ops::activation::{ActivationI8, Curve};
use crate::ops::fully_connected::{FullyConnectedF32, FullyConnectedI8};
use crate::params::{scale_from_bits, OutputTail, SideQuant};
use crate::quant::{clamp_i8, requantize, Activation, Requant};
use crate::tri::TriMap;
use crate::{Buffer, Error};

use super::info::Head;

/// The pool's function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// The mean over the map, off-diagonal pairs counted twice.
    Average,
    /// The maximum over the map.
    Max,
}

/// What follows a dense layer's affine map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenseActivation {
    /// None, ReLU or ReLU6, fused as a clamp.
    Clamp(Activation),
    /// tanh or the sigmoid, as its own op after the layer's requantization.
    Curve(Curve),
}

/// An int8 dense layer's parameters, read in place.
#[derive(Clone, Copy, Debug)]
pub struct DenseI8<'a> {
    /// Weights, `out × in` row-major, symmetric per output channel.
    pub weights: &'a [i8],
    /// Bias per output, int32.
    pub bias: &'a [i32],
    /// Requantization and clamp of the affine output.
    pub quant: OutputQuant<'a>,
    /// Scale of the affine output.
    pub scale: f32,
    /// The tanh or sigmoid after it, if any.
    pub curve: Option<ActivationI8>,
}

/// An int8 side table: rows quantized at the output's quantization, and the requantization
/// that brings the incoming vector there.
#[derive(Clone, Copy, Debug)]
pub struct SideI8<'a> {
    /// `rows × dim` values.
    pub table: &'a [i8],
    /// Incoming vector to output quantization.
    pub requant: Requant,
    /// Zero point of the output (and the table).
    pub zero_point: i32,
    /// Scale of the output (and the table).
    pub scale: f32,
}

/// An int8 scores layer.
#[derive(Clone, Copy, Debug)]
pub struct ScoresI8<'a> {
    /// Weights, `items × in` row-major, one symmetric scale for all.
    pub weights: &'a [i8],
    /// Bias per item, int32 at `input_scale · weight_scale`.
    pub bias: &'a [i32],
    /// Real value of one accumulator step: a score is `acc · scale`.
    pub scale: f32,
}

/// The parameters of a layer after the pool, in the blob's precision.
#[derive(Clone, Copy, Debug)]
pub enum VectorParams<'a> {
    /// Pooling has none.
    None,
    /// int8 dense.
    DenseI8(DenseI8<'a>),
    /// f32 dense: weights `out × in`, bias.
    DenseF32(&'a [f32], &'a [f32]),
    /// int8 side table.
    SideI8(SideI8<'a>),
    /// f32 side table, `rows × dim`.
    SideF32(&'a [f32]),
    /// int8 scores.
    ScoresI8(ScoresI8<'a>),
    /// f32 scores: weights `items × in`, bias.
    ScoresF32(&'a [f32], &'a [f32]),
}

/// A layer of a pooled model after its convs.
#[derive(Clone, Copy, Debug)]
pub enum VectorLayer<'a> {
    /// The map to a vector of its channels.
    Pool {
        /// Mean or maximum.
        kind: PoolKind,
        /// Channels.
        width: usize,
    },
    /// `out = activation(W·x + b)`.
    Dense {
        /// Input width.
        in_width: usize,
        /// Output width.
        out_width: usize,
        /// What follows the affine map.
        activation: DenseActivation,
        /// Weights and quantization.
        params: VectorParams<'a>,
    },
    /// `out = [x ; table[side token]]`.
    Side {
        /// Input width.
        in_width: usize,
        /// Rows of the table.
        rows: usize,
        /// Values per row.
        dim: usize,
        /// The table and quantization.
        params: VectorParams<'a>,
    },
    /// One score per item: `W·x + b`.
    Scores {
        /// Input width.
        in_width: usize,
        /// Items.
        items: usize,
        /// Weights and bias.
        params: VectorParams<'a>,
    },
}

impl<'a> VectorLayer<'a> {
    /// Scale and zero point of the layer's int8 output, given its input's zero point (the
    /// input scale does not matter: pools keep it, the others store theirs). Scores have
    /// no int8 output: `(scale, 0)` of their accumulators.
    pub fn output_quant(&self, input_zero_point: i32) -> (f32, i32) {
        match self.params() {
            VectorParams::DenseI8(d) => match d.curve {
                Some(curve) => curve.curve.output_quant(),
                None => (d.scale, d.quant.zero_point),
            },
            VectorParams::SideI8(s) => (s.scale, s.zero_point),
            VectorParams::ScoresI8(s) => (s.scale, 0),
            _ => (1.0, input_zero_point),
        }
    }

    /// The layer's parameters.
    pub fn params(&self) -> VectorParams<'a> {
        match *self {
            VectorLayer::Pool { .. } => VectorParams::None,
            VectorLayer::Dense { params, .. }
            | VectorLayer::Side { params, .. }
            | VectorLayer::Scores { params, .. } => params,
        }
    }
}

/// Splits int32 words `[a; n] [b; n] [c; n] rest` of a parameter section.
#[allow(clippy::type_complexity)] // four views of one section, named by the caller
fn three_arrays(words: &[i32], n: usize) -> Result<(&[i32], &[i32], &[i32], &[i32]), Error> {
    let (a, rest) = words.split_at_checked(n).ok_or(Error::BadOffset)?;
    let (b, rest) = rest.split_at_checked(n).ok_or(Error::BadOffset)?;
    let (c, rest) = rest.split_at_checked(n).ok_or(Error::BadOffset)?;
    Ok((a, b, c, rest))
}

fn word(words: &[i32], i: usize) -> Result<i32, Error> {
    words.get(i).copied().ok_or(Error::BadOffset)
}

fn finite(values: &[f32]) -> Result<(), Error> {
    if values.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(Error::NonFinite)
    }
}

fn dense_i8<'a>(
    weights: &'a [i8],
    words: &'a [i32],
    out: usize,
    curve: Option<Curve>,
) -> Result<DenseI8<'a>, Error> {
    let (bias, multipliers, shifts, tail) = three_arrays(words, out)?;
    for (&multiplier, &shift) in multipliers.iter().zip(shifts) {
        Requant { multiplier, shift }.check()?;
    }
    let output = OutputTail::from_words(tail)?;
    let curve = match curve {
        None => None,
        Some(curve) => {
            let block = tail.get(I8_CONV_TAIL_WORDS..).ok_or(Error::BadOffset)?;
            Some(ActivationI8::from_words(curve, output.zero_point, block)?)
        }
    };
    Ok(DenseI8 {
        weights,
        bias,
        quant: OutputQuant {
            multipliers,
            shifts,
            zero_point: output.zero_point,
            act_min: output.act_min,
            act_max: output.act_max,
        },
        scale: output.scale,
        curve,
    })
}

impl<'a, const L: usize> Model<'a, L> {
    /// Layer `t` after the convs of a pooled model (`conv_count() <= t < layer_count()`).
    /// With `check_values`, every weight and parameter is checked too (the loader does; the
    /// executors rely on it and skip the weight scan).
    pub fn vector_layer(&self, t: usize, check_values: bool) -> Result<VectorLayer<'a>, Error> {
        if t < self.info.conv_count() || t >= self.layer_count {
            return Err(Error::BadLayerCount);
        }
        let bytes = self.bytes;
        let at = self.layers_offset + t * LAYER_RECORD_LEN;
        let payload_end = bytes.len() - CRC_LEN;
        let in_width = u16_at(bytes, at + lr::IN_CHANNELS)? as usize;
        let out_width = u16_at(bytes, at + lr::OUT_CHANNELS)? as usize;
        let option = u16_at(bytes, at + lr::OPTION)?;
        let kind = u8_at(bytes, at + lr::KIND)?;
        if kind == LAYER_POOL {
            let kind = if option == POOL_MAX {
                PoolKind::Max
            } else {
                PoolKind::Average
            };
            return Ok(VectorLayer::Pool {
                kind,
                width: in_width,
            });
        }
        // ModelInfo has checked the record: lengths, sections and codes.
        let sized = |offset: usize, len: usize| -> Result<&'a [u8], Error> {
            let len_field = u32_at(bytes, at + len)? as usize;
            if len_field == 0 {
                return Ok(&[]);
            }
            section(bytes, u32_at(bytes, at + offset)?, len_field, payload_end)
        };
        let weights = sized(lr::WEIGHTS_OFFSET, lr::WEIGHTS_LEN)?;
        let params = sized(lr::PARAMS_OFFSET, lr::PARAMS_LEN)?;
        let int8 = self.precision == Precision::Int8;
        let checked_i8 = |w: &'a [u8]| -> Result<&'a [i8], Error> {
            let w: &'a [i8] = bytemuck::cast_slice(w);
            if check_values && w.contains(&i8::MIN) {
                return Err(Error::WeightOutOfRange);
            }
            Ok(w)
        };
        let checked_f32 = |w: &'a [u8]| -> Result<&'a [f32], Error> {
            let w: &'a [f32] = cast(w)?;
            if check_values {
                finite(w)?;
            }
            Ok(w)
        };
        let layer = match kind {
            LAYER_DENSE => {
                let code = u8_at(bytes, at + lr::ACTIVATION)?;
                let activation = match code {
                    ACTIVATION_TANH => DenseActivation::Curve(Curve::Tanh),
                    ACTIVATION_SIGMOID => DenseActivation::Curve(Curve::Logistic),
                    code => DenseActivation::Clamp(crate::blob::activation_from_code(code)?),
                };
                let params = if int8 {
                    let curve = match activation {
                        DenseActivation::Curve(curve) => Some(curve),
                        DenseActivation::Clamp(_) => None,
                    };
                    let dense = dense_i8(checked_i8(weights)?, cast(params)?, out_width, curve)?;
                    let expected = 3 * out_width
                        + I8_CONV_TAIL_WORDS
                        + if curve.is_some() { I8_CURVE_WORDS } else { 0 };
                    if params.len() != 4 * expected {
                        return Err(Error::BadOffset);
                    }
                    VectorParams::DenseI8(dense)
                } else {
                    VectorParams::DenseF32(checked_f32(weights)?, checked_f32(params)?)
                };
                VectorLayer::Dense {
                    in_width,
                    out_width,
                    activation,
                    params,
                }
            }
            LAYER_SIDE => {
                let params = if int8 {
                    let quant = SideQuant::from_words(cast(params)?)?;
                    VectorParams::SideI8(SideI8 {
                        table: bytemuck::cast_slice(weights),
                        requant: quant.requant,
                        zero_point: quant.zero_point,
                        scale: quant.scale,
                    })
                } else {
                    VectorParams::SideF32(checked_f32(weights)?)
                };
                VectorLayer::Side {
                    in_width,
                    rows: option as usize,
                    dim: out_width - in_width,
                    params,
                }
            }
            _ => {
                let params = if int8 {
                    let words: &'a [i32] = cast(params)?;
                    let (bias, tail) = words.split_at_checked(out_width).ok_or(Error::BadOffset)?;
                    VectorParams::ScoresI8(ScoresI8 {
                        weights: checked_i8(weights)?,
                        bias,
                        scale: scale_from_bits(word(tail, 0)?)?,
                    })
                } else {
                    VectorParams::ScoresF32(checked_f32(weights)?, checked_f32(params)?)
                };
                VectorLayer::Scores {
                    in_width,
                    items: out_width,
                    params,
                }
            }
        };
        Ok(layer)
    }

    /// What both pooled executors start with: a scores head, the side row, a scratch of
    /// `scratch_len` values that fits, and the arena split into the features, the map slots
    /// and two vectors.
    #[allow(clippy::type_complexity)]
    fn pooled_start<'b, T>(
        &self,
        side: Option<u16>,
        arena: &'b mut [T],
        scratch_len: usize,
    ) -> Result<(usize, &'b mut [T], [&'b mut [T]; 3], [&'b mut [T]; 2]), Error> {
        let Head::Scores { .. } = self.info.head() else {
            return Err(Error::WrongHead);
        };
        let side = self.side_row(side)?;
        if scratch_len < self.scratch_len() {
            return Err(Error::too_small(Buffer::Scratch, self.scratch_len()));
        }
        let (features, slots, vectors) = self.split_arena(arena)?;
        let too_small = Error::too_small(Buffer::Arena, self.arena_len());
        let width = self.info.vector_len();
        let (x, rest) = vectors.split_at_mut_checked(width).ok_or(too_small)?;
        let y = rest.get_mut(..width).ok_or(too_small)?;
        Ok((side, features, slots, [x, y]))
    }

    /// The side row a pooled model joins: required exactly when the model has a side table.
    fn side_row(&self, side: Option<u16>) -> Result<usize, Error> {
        match (side, self.info.side_rows()) {
            (None, 0) => Ok(0),
            (Some(s), rows) if usize::from(s) < rows => Ok(usize::from(s)),
            _ => Err(Error::BadSideToken),
        }
    }

    /// Runs an int8 pooled model on `sequence` (and the `side` token, e.g. the user, when the
    /// model has a side table) and hands every item's score to `score(item, acc)`, in item
    /// order: the scores layer's int32 accumulator, worth `acc · scale` (see
    /// [`ScoresI8::scale`]). `arena` and `scratch` need [`arena_len`](Self::arena_len) and
    /// [`scratch_len`](Self::scratch_len) values; returns the sequence length.
    pub fn predict_scores_i8<'s>(
        &self,
        sequence: impl Into<Sequence<'s>>,
        side: Option<u16>,
        arena: &mut [i8],
        scratch: &mut [i16],
        score: impl FnMut(u16, i32),
    ) -> Result<usize, Error> {
        self.predict_scores_i8_with(sequence, side, arena, scratch, |_, _| {}, score)
    }

    /// [`predict_scores_i8`](Self::predict_scores_i8), with `observe(layer, values)` seeing
    /// each conv's packed map and each later layer's vector (not the scores).
    pub fn predict_scores_i8_with<'s>(
        &self,
        sequence: impl Into<Sequence<'s>>,
        side: Option<u16>,
        arena: &mut [i8],
        scratch: &mut [i16],
        mut observe: impl FnMut(usize, &[i8]),
        mut score: impl FnMut(u16, i32),
    ) -> Result<usize, Error> {
        if self.precision != Precision::Int8 {
            return Err(Error::BadPrecision);
        }
        let (side, features, mut slots, [mut x, mut y]) =
            self.pooled_start(side, arena, scratch.len())?;
        let (input, zero_point) = self.pair_features_i8(sequence.into(), features)?;
        let len = input.len();
        let done = self.maps_i8(&input, zero_point, &mut slots, scratch, &mut observe)?;
        let mut zero_point = done.zero_point;
        for t in self.info.conv_count()..self.layer_count {
            let layer = self.vector_layer(t, false)?;
            let written = match (layer, layer.params()) {
                (VectorLayer::Pool { kind, width }, _) => {
                    let map = TriMap::<i8, L>::new(done.map::<_, L>(&slots)?, width, done.len)?;
                    match kind {
                        PoolKind::Average => pool_avg_i8(&map, y)?,
                        PoolKind::Max => pool_max_i8(&map, y)?,
                    }
                    width
                }
                (
                    VectorLayer::Dense {
                        in_width,
                        out_width,
                        ..
                    },
                    VectorParams::DenseI8(d),
                ) => {
                    // Checked by the loader (`vector_layer(t, true)`).
                    FullyConnectedI8::checked_at_load(
                        in_width, d.weights, d.bias, zero_point, d.quant,
                    )?
                    .run(x, y)?;
                    if let (Some(curve), Some(out)) = (d.curve, y.get_mut(..out_width)) {
                        curve.run(out)?;
                    }
                    out_width
                }
                (VectorLayer::Side { in_width, dim, .. }, VectorParams::SideI8(s)) => {
                    let row = s
                        .table
                        .get(side * dim..(side + 1) * dim)
                        .ok_or(Error::BadSideToken)?;
                    let (head, tail) = y.split_at_mut_checked(in_width).ok_or(Error::BadSide)?;
                    for (out, &q) in head.iter_mut().zip(x.iter()) {
                        let scaled = requantize(
                            q as i32 - zero_point,
                            s.requant.multiplier,
                            s.requant.shift,
                        );
                        *out = clamp_i8(scaled.wrapping_add(s.zero_point), i8::MIN, i8::MAX);
                    }
                    // Zipped copies: lengths the optimizer cannot tie together can't panic.
                    for (out, &q) in tail.iter_mut().zip(row) {
                        *out = q;
                    }
                    in_width + dim
                }
                (VectorLayer::Scores { in_width, .. }, VectorParams::ScoresI8(s)) => {
                    let input = x
                        .get(..in_width)
                        .ok_or(Error::too_small(Buffer::Arena, in_width))?;
                    for (item, (row, &bias)) in s
                        .weights
                        .chunks_exact(in_width.max(1))
                        .zip(s.bias)
                        .enumerate()
                    {
                        let mut acc = bias;
                        for (&w, &q) in row.iter().zip(input) {
                            acc = acc.wrapping_add(w as i32 * (q as i32 - zero_point));
                        }
                        score(item as u16, acc);
                    }
                    return Ok(len);
                }
                _ => return Err(Error::BadPrecision),
            };
            zero_point = layer.output_quant(zero_point).1;
            observe(t, y.get(..written).unwrap_or_default());
            core::mem::swap(&mut x, &mut y);
        }
        Err(Error::BadHead)
    }

    /// Runs an f32 pooled model; see [`predict_scores_i8`](Self::predict_scores_i8). Scores
    /// reach `score(item, value)` in item order.
    pub fn predict_scores_f32<'s>(
        &self,
        sequence: impl Into<Sequence<'s>>,
        side: Option<u16>,
        arena: &mut [f32],
        scratch: &mut [f32],
        mut score: impl FnMut(u16, f32),
    ) -> Result<usize, Error> {
        let (side, features, mut slots, [mut x, mut y]) =
            self.pooled_start(side, arena, scratch.len())?;
        let input = self.pair_features_f32(sequence.into(), features)?;
        let len = input.len();
        let done = self.maps_f32(&input, &mut slots, scratch, &mut |_, _| {})?;
        for t in self.info.conv_count()..self.layer_count {
            let layer = self.vector_layer(t, false)?;
            match (layer, layer.params()) {
                (VectorLayer::Pool { kind, width }, _) => {
                    let map = TriMap::<f32, L>::new(done.map::<_, L>(&slots)?, width, done.len)?;
                    match kind {
                        PoolKind::Average => pool_avg_f32(&map, y)?,
                        PoolKind::Max => pool_max_f32(&map, y)?,
                    }
                }
                (
                    VectorLayer::Dense {
                        in_width,
                        out_width,
                        activation,
                        ..
                    },
                    VectorParams::DenseF32(weights, bias),
                ) => {
                    let clamp = match activation {
                        DenseActivation::Clamp(a) => a,
                        DenseActivation::Curve(_) => Activation::None,
                    };
                    FullyConnectedF32::new(in_width, weights, bias, clamp)?.run(x, y)?;
                    if let (DenseActivation::Curve(curve), Some(out)) =
                        (activation, y.get_mut(..out_width))
                    {
                        for v in out {
                            *v = curve.apply_f32(*v);
                        }
                    }
                }
                (VectorLayer::Side { in_width, dim, .. }, VectorParams::SideF32(table)) => {
                    let row = table
                        .get(side * dim..(side + 1) * dim)
                        .ok_or(Error::BadSideToken)?;
                    let (head, tail) = y.split_at_mut_checked(in_width).ok_or(Error::BadSide)?;
                    for (out, &v) in head.iter_mut().zip(x.iter()) {
                        *out = v;
                    }
                    // Zipped copies: lengths the optimizer cannot tie together can't panic.
                    for (out, &q) in tail.iter_mut().zip(row) {
                        *out = q;
                    }
                }
                (VectorLayer::Scores { in_width, .. }, VectorParams::ScoresF32(weights, bias)) => {
                    let input = x
                        .get(..in_width)
                        .ok_or(Error::too_small(Buffer::Arena, in_width))?;
                    for (item, (row, &b)) in
                        weights.chunks_exact(in_width.max(1)).zip(bias).enumerate()
                    {
                        let sum = row.iter().zip(input).fold(b, |acc, (&w, &v)| acc + w * v);
                        score(item as u16, sum);
                    }
                    return Ok(len);
                }
                _ => return Err(Error::BadPrecision),
            }
            core::mem::swap(&mut x, &mut y);
        }
        Err(Error::BadHead)
    }
}
