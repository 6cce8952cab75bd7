//! Whole-map execution: every layer's output is a packed map in one of the arena's slots.

use super::{mask_probs, Buffers, EmbeddingTable, LayerParams, Model, Sequence};
use crate::blob::Precision;
use crate::conv::PairSource;
use crate::conv::{ConvF32, ConvI8, QuantMap};
use crate::generate::{PairFeaturesF32, PairFeaturesI8};
use crate::layers::{residual_add_f32, sigmoid_map_f32, sigmoid_map_i8};
use crate::quant::Activation;
use crate::seq::Embedding;
use crate::tri::{map_len, TriMap};
use crate::{Buffer, Error};

/// Where the conv layers left their result: the slot of the last map, its active length,
/// channels and zero point.
#[derive(Clone, Copy, Debug)]
pub(super) struct MapsDone {
    pub(super) slot: usize,
    pub(super) len: usize,
    pub(super) channels: usize,
    pub(super) zero_point: i32,
}

impl MapsDone {
    /// The last map, `map_len(L, channels)` values.
    pub(super) fn map<'s, T, const L: usize>(
        &self,
        slots: &'s [&mut [T]; 3],
    ) -> Result<&'s [T], Error> {
        let len = map_len(L, self.channels);
        slots
            .get(self.slot)
            .and_then(|s| s.get(..len))
            .ok_or(Error::too_small(Buffer::Arena, len))
    }
}

impl<const L: usize> Model<'_, L> {
    /// Runs an int8 model on `sequence`, writing pair probabilities into `buffers.probs`, and
    /// returns the sequence length. `observe(layer, map)` sees each layer's packed output.
    pub fn predict_i8_with<'s>(
        &self,
        sequence: impl Into<Sequence<'s>>,
        buffers: &mut Buffers<'_, i8, i16>,
        mut observe: impl FnMut(usize, &[i8]),
    ) -> Result<usize, Error> {
        if self.precision != Precision::Int8 {
            return Err(Error::BadPrecision);
        }
        self.expect_pair_map()?;
        let (features, mut slots, scratch, probs) = self.split(buffers)?;
        let (input, zero_point) = self.pair_features_i8(sequence.into(), features)?;
        let done = self.maps_i8(&input, zero_point, &mut slots, scratch, &mut observe)?;
        let logits = done.map::<_, L>(&slots)?;
        let (scale, zero_point) = self.logit_quant;
        sigmoid_map_i8(logits, scale, zero_point, probs)?;
        mask_probs::<L>(probs, done.len);
        Ok(done.len)
    }

    /// The int8 conv layers over `input` (pair features of `zero_point`), each writing a whole
    /// map into a slot.
    pub(super) fn maps_i8(
        &self,
        input: &PairFeaturesI8<'_>,
        zero_point: i32,
        slots: &mut [&mut [i8]; 3],
        scratch: &mut [i16],
        observe: &mut impl FnMut(usize, &[i8]),
    ) -> Result<MapsDone, Error> {
        let mut len = input.len();
        let mut schedule = Schedule::default();
        let mut done = MapsDone {
            slot: 0,
            len,
            channels: input.channels(),
            zero_point,
        };
        for (t, layer) in self.layers().enumerate() {
            let LayerParams::I8(p) = layer.params else {
                return Err(Error::BadPrecision);
            };
            let geom = self.geom(t, &layer)?;
            let quant = p.conv_quant();
            let conv = ConvI8::new(geom, p.weights, p.bias, quant)?;
            let step = schedule.next(layer.residual);
            let (out, previous, skip) = step.views(slots, map_len(L, layer.out_channels))?;
            match previous {
                None => conv.run::<_, L>(input, scratch, out)?,
                Some(map) => {
                    let map = TriMap::<i8, L>::new(map, layer.in_channels, len)?;
                    conv.run::<_, L>(&QuantMap::new(map, done.zero_point)?, scratch, out)?
                }
            }
            if p.add.is_some() {
                p.add_residual(out, skip.ok_or(Error::BadResidual)?)?;
            }
            observe(t, out);
            len = geom.output_len(len)?;
            done = MapsDone {
                slot: step.output,
                len,
                channels: layer.out_channels,
                zero_point: p.output_quant().1,
            };
            schedule.finish(step, self.is_skip_source(t));
        }
        Ok(done)
    }

    /// Runs an f32 model on `sequence`; see [`Model::predict_i8_with`].
    pub fn predict_f32_with<'s>(
        &self,
        sequence: impl Into<Sequence<'s>>,
        buffers: &mut Buffers<'_, f32, f32>,
        mut observe: impl FnMut(usize, &[f32]),
    ) -> Result<usize, Error> {
        self.expect_pair_map()?;
        let (features, mut slots, scratch, probs) = self.split(buffers)?;
        let input = self.pair_features_f32(sequence.into(), features)?;
        let done = self.maps_f32(&input, &mut slots, scratch, &mut observe)?;
        let logits = done.map::<_, L>(&slots)?;
        sigmoid_map_f32(logits, probs)?;
        mask_probs::<L>(probs, done.len);
        Ok(done.len)
    }

    /// Tokenizes and embeds `input` into `features` and returns the f32 pair features.
    pub(super) fn pair_features_f32<'f>(
        &'f self,
        input: Sequence<'_>,
        features: &'f mut [f32],
    ) -> Result<PairFeaturesF32<'f>, Error> {
        let EmbeddingTable::F32(table) = self.embedding else {
            return Err(Error::BadPrecision);
        };
        let mut buffer = [0u16; L];
        let tokens = self.tokens(input, &mut buffer)?;
        Embedding::with_rows(table, self.vocab_size(), self.feature_dim)?
            .fill_tokens(tokens, features)?;
        PairFeaturesF32::new(features, self.feature_dim, tokens.len(), &self.segments)
    }

    /// The f32 conv layers over `input`; see [`maps_i8`](Self::maps_i8).
    pub(super) fn maps_f32(
        &self,
        input: &PairFeaturesF32<'_>,
        slots: &mut [&mut [f32]; 3],
        scratch: &mut [f32],
        observe: &mut impl FnMut(usize, &[f32]),
    ) -> Result<MapsDone, Error> {
        let mut len = input.len();
        let mut schedule = Schedule::default();
        let mut done = MapsDone {
            slot: 0,
            len,
            channels: input.channels(),
            zero_point: 0,
        };
        for (t, layer) in self.layers().enumerate() {
            let LayerParams::F32(p) = layer.params else {
                return Err(Error::BadPrecision);
            };
            let geom = self.geom(t, &layer)?;
            // With a skip connection the activation follows the add.
            let conv_activation = if layer.residual.is_some() {
                Activation::None
            } else {
                layer.activation
            };
            let conv = ConvF32::new(geom, p.weights, p.bias, conv_activation)?;
            let step = schedule.next(layer.residual);
            let (out, previous, skip) = step.views(slots, map_len(L, layer.out_channels))?;
            match previous {
                None => conv.run::<_, L>(input, scratch, out)?,
                Some(map) => {
                    let map = TriMap::<f32, L>::new(map, layer.in_channels, len)?;
                    conv.run::<_, L>(&map, scratch, out)?
                }
            }
            if layer.residual.is_some() {
                residual_add_f32(out, skip.ok_or(Error::BadResidual)?, layer.activation)?;
            }
            observe(t, out);
            len = geom.output_len(len)?;
            done = MapsDone {
                slot: step.output,
                len,
                channels: layer.out_channels,
                zero_point: 0,
            };
            schedule.finish(step, self.is_skip_source(t));
        }
        Ok(done)
    }
}

/// Which slot each layer reads, writes and adds from.
#[derive(Clone, Copy, Debug, Default)]
struct Step {
    input: Option<usize>,
    output: usize,
    skip: Option<usize>,
}

impl Step {
    /// The layer's output (its first `out_len` values), its input map (`None`: the pair
    /// features) and its skip map (as long as the output), from the slots.
    #[allow(clippy::type_complexity)]
    fn views<'s, T>(
        &self,
        slots: &'s mut [&mut [T]; 3],
        out_len: usize,
    ) -> Result<(&'s mut [T], Option<&'s [T]>, Option<&'s [T]>), Error> {
        let (out, others) = borrow_slots(slots, self.output);
        let out = out
            .get_mut(..out_len)
            .ok_or(Error::too_small(Buffer::Arena, out_len))?;
        let read = |slot: Option<usize>| slot.and_then(|i| others.get(i).copied().flatten());
        let skip = read(self.skip).and_then(|m| m.get(..out_len));
        Ok((out, read(self.input), skip))
    }
}

/// Assigns activation slots: a layer writes to the first slot that holds neither its input
/// nor a skip map still to be added.
#[derive(Clone, Copy, Debug, Default)]
struct Schedule {
    input: Option<usize>,
    skip: Option<usize>,
    last_output: usize,
}

impl Schedule {
    fn next(&self, residual: Option<usize>) -> Step {
        let output = (0..3)
            .find(|&s| Some(s) != self.input && Some(s) != self.skip)
            .unwrap_or(0);
        Step {
            input: self.input,
            output,
            skip: residual.and(self.skip),
        }
    }

    fn finish(&mut self, step: Step, is_skip_source: bool) {
        if step.skip.is_some() {
            self.skip = None;
        }
        if is_skip_source {
            self.skip = Some(step.output);
        }
        self.input = Some(step.output);
        self.last_output = step.output;
    }
}

/// The output slot mutably and the other two shared, by slot index.
#[allow(clippy::type_complexity)]
fn borrow_slots<'s, T>(
    slots: &'s mut [&mut [T]; 3],
    output: usize,
) -> (&'s mut [T], [Option<&'s [T]>; 3]) {
    let [a, b, c] = slots;
    match output {
        0 => (&mut **a, [None, Some(&**b), Some(&**c)]),
        1 => (&mut **b, [Some(&**a), None, Some(&**c)]),
        _ => (&mut **c, [Some(&**a), Some(&**b), None]),
    }
}
