//! int8 arithmetic of the TFLite quantization spec, with CMSIS-NN's default requantization.
//!
//! A real value `r` is stored as `q` with `r = scale · (q − zero_point)`. Weights are symmetric
//! (zero point 0, values in [-127, 127]) with one scale per output channel; activations are
//! asymmetric int8; biases are int32 with scale `input_scale · weight_scale`.
//!
//! An int32 accumulator goes back to int8 through a Q31 `multiplier` and a power-of-two
//! `shift` that together stand for the real factor `input_scale · weight_scale / output_scale`:
//!
//! ```text
//! requantize(acc) = rounding_divide_by_pot(
//!                       saturating_rounding_doubling_high_mul(acc · 2^max(shift, 0), multiplier),
//!                       max(-shift, 0))
//! ```
//!
//! This is **double rounding**, CMSIS-NN's default (`arm_nn_requantize` without
//! `CMSIS_NN_USE_SINGLE_ROUNDING`) and gemmlowp's: the high multiply rounds to nearest with the
//! gemmlowp nudge (ties of a positive product go up, of a negative product towards zero),
//! then the shift rounds to nearest with ties away from zero.

use crate::Error;

/// Smallest int8 activation value.
pub const I8_MIN: i32 = i8::MIN as i32;
/// Largest int8 activation value.
pub const I8_MAX: i32 = i8::MAX as i32;

/// `round(a · b / 2^31)` with the gemmlowp nudge, saturating the one overflowing case
/// (`i32::MIN · i32::MIN`) to `i32::MAX`. CMSIS-NN's `arm_nn_doubling_high_mult`.
#[inline]
pub const fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    // gemmlowp writes this as (a·b + nudge) / 2^31 with a sign-dependent nudge and C's
    // truncating division; for a·b < 0 that is −⌊(|a·b| + 2^30 − 1) / 2^31⌋ = ⌊(a·b + 2^30) / 2^31⌋,
    // so one rounding add and an arithmetic shift give the same value in fewer instructions
    // (as CMSIS-NN's arm_nn_doubling_high_mult_no_sat does).
    ((a as i64 * b as i64 + (1 << 30)) >> 31) as i32
}

/// `x / 2^exponent` rounded to nearest, ties away from zero. CMSIS-NN's
/// `arm_nn_divide_by_power_of_two`. `exponent` is clamped to [0, 31].
#[inline]
pub const fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let exponent = if exponent < 0 {
        0
    } else if exponent > 31 {
        31
    } else {
        exponent
    };
    // 2^exponent − 1 in 32 bits (0x7fff_ffff for 31).
    let mask = (1u32 << exponent).wrapping_sub(1) as i32;
    let remainder = x & mask;
    let mut result = x >> exponent;
    let mut threshold = mask >> 1;
    if result < 0 {
        threshold += 1;
    }
    if remainder > threshold {
        result += 1;
    }
    result
}

/// A Q31 multiplier and a power-of-two shift standing for a positive real factor
/// `multiplier / 2^31 · 2^shift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Requant {
    /// Q31 fixed-point multiplier in `[2^30, 2^31)`, or 0.
    pub multiplier: i32,
    /// Power-of-two exponent in [-31, 30]; positive shifts left before the multiply.
    pub shift: i32,
}

impl Requant {
    /// Checks the ranges the arithmetic relies on.
    pub const fn check(&self) -> Result<(), Error> {
        if self.multiplier < 0 || self.shift < -31 || self.shift > 30 {
            return Err(Error::BadRequantization);
        }
        Ok(())
    }

    /// Scales `acc` by the factor with CMSIS-NN's double rounding (see the module docs).
    #[inline]
    pub const fn apply(&self, acc: i32) -> i32 {
        requantize(acc, self.multiplier, self.shift)
    }

    /// The multiplier and shift for a positive real `factor` (TFLite's `QuantizeMultiplier`).
    ///
    /// Factors too small to represent give a zero multiplier; factors of `2^31` and more
    /// saturate. A factor that is negative, zero or not finite is an error.
    pub fn from_real(factor: f64) -> Result<Self, Error> {
        if !factor.is_finite() || factor <= 0.0 {
            return Err(Error::BadRequantization);
        }
        let (fraction, exponent) = libm::frexp(factor);
        let mut q = libm::round(fraction * (1u64 << 31) as f64) as i64;
        let mut shift = exponent;
        if q == 1i64 << 31 {
            q /= 2;
            shift += 1;
        }
        if shift < -31 {
            return Ok(Self {
                multiplier: 0,
                shift: 0,
            });
        }
        if shift > 30 {
            return Ok(Self {
                multiplier: i32::MAX,
                shift: 30,
            });
        }
        Ok(Self {
            multiplier: q as i32,
            shift,
        })
    }

    /// The real factor this pair stands for.
    pub fn to_real(&self) -> f64 {
        self.multiplier as f64 / (1u64 << 31) as f64 * libm::pow(2.0, self.shift as f64)
    }
}

/// CMSIS-NN's `arm_nn_requantize` with its default double rounding.
///
/// The left shift wraps on overflow, as the C code does on two's-complement cores; converters
/// choose shifts that keep it in range.
#[inline]
pub const fn requantize(acc: i32, multiplier: i32, shift: i32) -> i32 {
    let left = if shift > 0 { shift } else { 0 };
    let right = if shift > 0 { 0 } else { -shift };
    let left = if left > 30 { 30 } else { left };
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(acc.wrapping_mul(1 << left), multiplier),
        right,
    )
}

/// [`requantize`] for parameters that passed [`Requant::check`] (`multiplier >= 0`, `shift`
/// in [-31, 30]): the same value for every `acc`, without the branches only out-of-range
/// parameters need (the saturating `i32::MIN · i32::MIN` case and the exponent clamp). The
/// optimized kernels requantize with this; the portable kernel keeps [`requantize`].
#[inline]
pub const fn requantize_checked(acc: i32, multiplier: i32, shift: i32) -> i32 {
    let left = if shift > 0 { shift } else { 0 };
    let right = (left - shift) as u32 & 31;
    let x = ((acc.wrapping_shl(left as u32) as i64 * multiplier as i64 + (1 << 30)) >> 31) as i32;
    // Round to nearest, ties away from zero: the remainder against half the divisor, one
    // more for negative values.
    let mask = ((1u32 << right) - 1) as i32;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> right) + ((x & mask) > threshold) as i32
}

/// [`requantize_checked`] for a right shift (`shift` in [-31, 0], `multiplier >= 0`): the same
/// value without the left shift's instructions.
#[inline]
pub const fn requantize_right(acc: i32, multiplier: i32, shift: i32) -> i32 {
    let right = (-shift) as u32 & 31;
    let x = ((acc as i64 * multiplier as i64 + (1 << 30)) >> 31) as i32;
    let mask = ((1u32 << right) - 1) as i32;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> right) + ((x & mask) > threshold) as i32
}

/// Clamps an int32 to an int8 range `[min, max]`.
#[inline]
pub const fn clamp_i8(x: i32, min: i8, max: i8) -> i8 {
    if x < min as i32 {
        min
    } else if x > max as i32 {
        max
    } else {
        x as i8
    }
}

/// Checks that an int8 zero point is in [-128, 127].
pub const fn check_zero_point(zero_point: i32) -> Result<(), Error> {
    if zero_point < I8_MIN || zero_point > I8_MAX {
        return Err(Error::BadQuantRange);
    }
    Ok(())
}

/// Quantizes a real value with a scale and zero point, rounding half away from zero and
/// saturating to int8.
pub fn quantize(value: f32, scale: f32, zero_point: i32) -> i8 {
    let q = libm::roundf(value / scale) as i32 + zero_point;
    clamp_i8(q, i8::MIN, i8::MAX)
}

/// The real value of an int8 `q`.
pub fn dequantize(q: i8, scale: f32, zero_point: i32) -> f32 {
    scale * (q as i32 - zero_point) as f32
}

/// A fused activation, applied by clamping the layer's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Activation {
    /// No clamp.
    None,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
}

impl Activation {
    /// Applies the activation to a real value.
    #[inline]
    pub fn apply_f32(self, x: f32) -> f32 {
        match self {
            Activation::None => x,
            Activation::Relu => x.max(0.0),
            Activation::Relu6 => x.clamp(0.0, 6.0),
        }
    }

    /// The int8 clamp range of the activation for an output with `scale` and `zero_point`
    /// (TFLite's `CalculateActivationRangeQuantized`).
    pub fn int8_range(self, scale: f32, zero_point: i32) -> (i8, i8) {
        let clamp = |x: i32| clamp_i8(x, i8::MIN, i8::MAX);
        match self {
            Activation::None => (i8::MIN, i8::MAX),
            Activation::Relu => (clamp(zero_point), i8::MAX),
            Activation::Relu6 => (
                clamp(zero_point),
                clamp(zero_point + libm::roundf(6.0 / scale) as i32),
            ),
        }
    }
}
