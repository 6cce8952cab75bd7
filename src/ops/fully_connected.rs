//! Fully connected layers: int8 as CMSIS-NN's `arm_fully_connected_s8` and TFLite's int8
//! FULLY_CONNECTED reference compute it, and f32.

use crate::conv::OutputQuant;
use crate::quant::{check_zero_point, clamp_i8, requantize, Activation, Requant};
use crate::{Buffer, Error};

/// The first `n_in` input and `n_out` output values, or which buffer is too short.
fn vectors<'i, 'o, T>(
    input: &'i [T],
    out: &'o mut [T],
    n_in: usize,
    n_out: usize,
) -> Result<(&'i [T], &'o mut [T]), Error> {
    let input = input
        .get(..n_in)
        .ok_or(Error::too_small(Buffer::Input, n_in))?;
    let out = out
        .get_mut(..n_out)
        .ok_or(Error::too_small(Buffer::Output, n_out))?;
    Ok((input, out))
}

/// `out[o] = clamp(requantize(bias[o] + Σ_i w[o][i]·(x[i] − zp_in)) + zp_out)`, weights
/// row-major `out_features × in_features`, symmetric (zero point 0) and in [-127, 127].
/// Per-output-channel multipliers and shifts; a per-tensor layer repeats one pair.
#[derive(Clone, Copy, Debug)]
pub struct FullyConnectedI8<'a> {
    in_features: usize,
    weights: &'a [i8],
    bias: &'a [i32],
    input_zero_point: i32,
    quant: OutputQuant<'a>,
}

impl<'a> FullyConnectedI8<'a> {
    /// Checks every length and quantization parameter.
    pub fn new(
        in_features: usize,
        weights: &'a [i8],
        bias: &'a [i32],
        input_zero_point: i32,
        quant: OutputQuant<'a>,
    ) -> Result<Self, Error> {
        let out_features = bias.len();
        if in_features == 0 || out_features == 0 {
            return Err(Error::BadChannelCount);
        }
        if in_features.checked_mul(out_features) != Some(weights.len()) {
            return Err(Error::WeightLength);
        }
        if weights.contains(&i8::MIN) {
            return Err(Error::WeightOutOfRange);
        }
        if quant.multipliers.len() != out_features || quant.shifts.len() != out_features {
            return Err(Error::QuantLength);
        }
        for (&multiplier, &shift) in quant.multipliers.iter().zip(quant.shifts) {
            Requant { multiplier, shift }.check()?;
        }
        check_zero_point(input_zero_point)?;
        check_zero_point(quant.zero_point)?;
        if quant.act_min > quant.act_max {
            return Err(Error::BadQuantRange);
        }
        Self::checked_at_load(in_features, weights, bias, input_zero_point, quant)
    }

    /// A layer whose weights and quantization the blob loader has already checked: only the
    /// lengths are checked again, not every weight (a model runs its dense layers on every
    /// inference).
    pub(crate) fn checked_at_load(
        in_features: usize,
        weights: &'a [i8],
        bias: &'a [i32],
        input_zero_point: i32,
        quant: OutputQuant<'a>,
    ) -> Result<Self, Error> {
        if in_features == 0 || in_features.checked_mul(bias.len()) != Some(weights.len()) {
            return Err(Error::WeightLength);
        }
        Ok(Self {
            in_features,
            weights,
            bias,
            input_zero_point,
            quant,
        })
    }

    /// Input features.
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// Output features.
    pub fn out_features(&self) -> usize {
        self.bias.len()
    }

    /// Runs the layer on `input` (`in_features` values) into `out` (`out_features`).
    pub fn run(&self, input: &[i8], out: &mut [i8]) -> Result<(), Error> {
        let (input, out) = vectors(input, out, self.in_features, self.bias.len())?;
        let rows = self.weights.chunks_exact(self.in_features.max(1));
        let quant = self.quant.multipliers.iter().zip(self.quant.shifts);
        for (((slot, row), &bias), (&multiplier, &shift)) in
            out.iter_mut().zip(rows).zip(self.bias).zip(quant)
        {
            let mut acc = bias;
            for (&w, &x) in row.iter().zip(input) {
                acc = acc.wrapping_add(w as i32 * (x as i32 - self.input_zero_point));
            }
            let scaled = requantize(acc, multiplier, shift).wrapping_add(self.quant.zero_point);
            *slot = clamp_i8(scaled, self.quant.act_min, self.quant.act_max);
        }
        Ok(())
    }
}

/// `out[o] = activation(bias[o] + Σ_i w[o][i]·x[i])`, weights row-major.
#[derive(Clone, Copy, Debug)]
pub struct FullyConnectedF32<'a> {
    in_features: usize,
    weights: &'a [f32],
    bias: &'a [f32],
    activation: Activation,
}

impl<'a> FullyConnectedF32<'a> {
    /// Checks the lengths.
    pub fn new(
        in_features: usize,
        weights: &'a [f32],
        bias: &'a [f32],
        activation: Activation,
    ) -> Result<Self, Error> {
        if in_features == 0 || bias.is_empty() {
            return Err(Error::BadChannelCount);
        }
        if in_features.checked_mul(bias.len()) != Some(weights.len()) {
            return Err(Error::WeightLength);
        }
        Ok(Self {
            in_features,
            weights,
            bias,
            activation,
        })
    }

    /// Runs the layer on `input` into `out`.
    pub fn run(&self, input: &[f32], out: &mut [f32]) -> Result<(), Error> {
        let (input, out) = vectors(input, out, self.in_features, self.bias.len())?;
        let rows = self.weights.chunks_exact(self.in_features.max(1));
        for ((slot, row), &bias) in out.iter_mut().zip(rows).zip(self.bias) {
            let sum = row
                .iter()
                .zip(input)
                .fold(bias, |acc, (&w, &x)| acc + w * x);
            *slot = self.activation.apply_f32(sum);
        }
        Ok(())
    }
}
