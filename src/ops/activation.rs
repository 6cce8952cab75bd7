//! int8 TANH and LOGISTIC as TensorFlow Lite Micro's reference kernels compute them
//! (`reference_integer_ops::Tanh` / `Logistic` over gemmlowp's fixed point), and their f32
//! counterparts.
//!
//! The input is rescaled to Q4.27 by a multiplier and left shift derived from its scale
//! (TFLM's `Prepare`), inputs beyond a radius saturate, and the Q0.31 result is rounded to
//! the output's fixed quantization: tanh to scale 1/128 and zero point 0, the logistic to
//! scale 1/256 and zero point −128 (the TFLite int8 spec).

use crate::ops::fixed_point;
use crate::quant::{check_zero_point, requantize, rounding_divide_by_pot};
use crate::Error;

/// Integer bits of the rescaled input (TFLM's `kInputIntegerBits`).
const INPUT_INTEGER_BITS: i32 = 4;

/// Which function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Curve {
    /// `tanh`, output scale 1/128, zero point 0.
    Tanh,
    /// `1 / (1 + e^−x)`, output scale 1/256, zero point −128.
    Logistic,
}

impl Curve {
    /// Scale and zero point of the int8 output.
    pub const fn output_quant(self) -> (f32, i32) {
        match self {
            Curve::Tanh => (1.0 / 128.0, 0),
            Curve::Logistic => (1.0 / 256.0, -128),
        }
    }

    /// The f32 function (libm, so every target gives the same bits).
    pub fn apply_f32(self, x: f32) -> f32 {
        match self {
            Curve::Tanh => libm::tanhf(x),
            Curve::Logistic => 1.0 / (1.0 + libm::expf(-x)),
        }
    }
}

/// An int8 TANH or LOGISTIC for one input quantization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ActivationI8 {
    /// The function.
    pub curve: Curve,
    /// Zero point of the input.
    pub zero_point: i32,
    /// Centered inputs at or beyond ± this saturate.
    pub radius: i32,
    /// Q31 multiplier of the rescale to Q4.27.
    pub multiplier: i32,
    /// Left shift of the rescale.
    pub shift: i32,
}

impl ActivationI8 {
    /// The parameters for an input of `scale` and `zero_point`, as TFLM's `Prepare` derives
    /// them: `scale · 2^27 = q · 2^shift` with `q` in `[0.5, 1)`, `multiplier = round(q ·
    /// 2^31)`, `radius = ⌊15 · 2^27 / 2^shift⌋`.
    pub fn from_input_scale(curve: Curve, scale: f32, zero_point: i32) -> Result<Self, Error> {
        if !scale.is_finite() || scale <= 0.0 {
            return Err(Error::NonFinite);
        }
        let real = scale as f64 * (1u64 << (31 - INPUT_INTEGER_BITS)) as f64;
        let (q, shift) = libm::frexp(real);
        let multiplier = libm::round(q * (1u64 << 31) as f64);
        let max_rescaled =
            ((1u64 << INPUT_INTEGER_BITS) - 1) as f64 * (1u64 << (31 - INPUT_INTEGER_BITS)) as f64;
        let radius = libm::floor(max_rescaled / libm::pow(2.0, shift as f64));
        if multiplier >= (1u64 << 31) as f64 || radius > i32::MAX as f64 {
            return Err(Error::BadRequantization);
        }
        let activation = Self {
            curve,
            zero_point,
            radius: radius as i32,
            multiplier: multiplier as i32,
            shift,
        };
        activation.check()?;
        Ok(activation)
    }

    /// Checks the ranges the arithmetic relies on: a left shift of at most 30 that keeps
    /// every input inside the radius within `i32` (`radius · 2^shift <= 15 · 2^27`).
    pub fn check(&self) -> Result<(), Error> {
        check_zero_point(self.zero_point)?;
        if self.multiplier < 0 || !(0..=30).contains(&self.shift) || self.radius < 0 {
            return Err(Error::BadRequantization);
        }
        if (self.radius as i64) << self.shift > 15i64 << 27 {
            return Err(Error::BadRequantization);
        }
        Ok(())
    }

    /// The int8 result for one int8 input.
    pub fn apply(&self, q: i8) -> i8 {
        let input = q as i32 - self.zero_point;
        if input <= -self.radius {
            return i8::MIN;
        }
        if input >= self.radius {
            return i8::MAX;
        }
        let q4 = requantize(input, self.multiplier, self.shift);
        let (q0, output_bits, zero_point) = match self.curve {
            Curve::Tanh => (fixed_point::tanh(q4, INPUT_INTEGER_BITS), 7, 0),
            Curve::Logistic => (fixed_point::logistic(q4, INPUT_INTEGER_BITS), 8, -128),
        };
        let out = rounding_divide_by_pot(q0, 31 - output_bits) + zero_point;
        out.clamp(i8::MIN as i32, i8::MAX as i32) as i8
    }

    /// All 256 results, indexed by `input as u8`: a table a firmware may keep in flash
    /// instead of computing (same bits).
    pub fn table(&self) -> [i8; 256] {
        let mut table = [0i8; 256];
        for (index, slot) in table.iter_mut().enumerate() {
            *slot = self.apply(index as u8 as i8);
        }
        table
    }

    /// Applies the function to every value in place.
    pub fn run(&self, values: &mut [i8]) -> Result<(), Error> {
        self.check()?;
        for v in values.iter_mut() {
            *v = self.apply(*v);
        }
        Ok(())
    }
}
