//! The few fixed-point functions TensorFlow Lite's int8 TANH and LOGISTIC kernels take from
//! gemmlowp (`fixedpoint.h`), on `i32` values with a given number of integer bits: `exp` of
//! negative values, `tanh` and the logistic function. Results have 0 integer bits (Q0.31).
//!
//! Every operation is the one gemmlowp names, including where it saturates and where it
//! wraps, so the results are the same bits; `tests/tflm_activations.rs` checks them against
//! gemmlowp's own header.

use crate::quant::{rounding_divide_by_pot, saturating_rounding_doubling_high_mul as mul};

/// `1.0` in Q0.31: the largest value, as gemmlowp's `FixedPoint<int32_t, 0>::One()`.
const ONE_Q0: i32 = i32::MAX;

/// Multiplies by `2^exponent`: a saturating left shift, or a rounding right shift.
const fn mul_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent > 0 {
        let threshold = (1i32 << (31 - exponent)) - 1;
        if x > threshold {
            i32::MAX
        } else if x < -threshold {
            i32::MIN
        } else {
            x << exponent
        }
    } else if exponent < 0 {
        rounding_divide_by_pot(x, -exponent)
    } else {
        x
    }
}

/// `(a + b) / 2`, rounded half away from zero.
const fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = a as i64 + b as i64;
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// `exp(a)` for `a` in `[-1/4, 0)`, Q0.31 in and out: a fourth-order Taylor expansion around
/// `-1/8`.
const fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const EXP_MINUS_ONE_EIGHTH: i32 = 1_895_147_668;
    const ONE_THIRD: i32 = 715_827_883;
    let x = a.wrapping_add(1 << 28);
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    let x4_over_4 = mul_by_pot(x4, -2);
    let taylor = mul_by_pot(
        mul(x4_over_4.wrapping_add(x3), ONE_THIRD).wrapping_add(x2),
        -1,
    );
    EXP_MINUS_ONE_EIGHTH.wrapping_add(mul(EXP_MINUS_ONE_EIGHTH, x.wrapping_add(taylor)))
}

/// `exp(a)` for `a <= 0` with `integer_bits` integer bits (at most 5 here), Q0.31 out.
pub fn exp_on_negative_values(a: i32, integer_bits: i32) -> i32 {
    // exp(-2^e) for e = -2 ..= 4, in Q0.31.
    const BARREL: [(i32, i32); 7] = [
        (-2, 1_672_461_947),
        (-1, 1_302_514_674),
        (0, 790_015_084),
        (1, 290_630_308),
        (2, 39_332_535),
        (3, 720_401),
        (4, 242),
    ];
    let fractional_bits = 31 - integer_bits;
    let one_quarter = 1i32 << (fractional_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(mul_by_pot(
        a_mod_quarter_minus_one_quarter,
        integer_bits,
    ));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    for &(exponent, multiplier) in &BARREL {
        if integer_bits > exponent {
            let shift = fractional_bits + exponent;
            if remainder & (1i32 << shift) != 0 {
                result = mul(result, multiplier);
            }
        }
    }
    if a == 0 {
        result = ONE_Q0;
    }
    result
}

/// The Newton–Raphson reciprocal shared by the two functions below: `x ≈ 1 / half_denominator`
/// in Q2.29, for `half_denominator = (a + 1) / 2` in Q0.31.
const fn reciprocal_q2(half_denominator: i32) -> i32 {
    const FORTY_EIGHT_OVER_SEVENTEEN: i32 = 1_515_870_810;
    const MINUS_THIRTY_TWO_OVER_SEVENTEEN: i32 = -1_010_580_540;
    const ONE_Q2: i32 = 1 << 29;
    let mut x = FORTY_EIGHT_OVER_SEVENTEEN
        .wrapping_add(mul(half_denominator, MINUS_THIRTY_TWO_OVER_SEVENTEEN));
    let mut i = 0;
    while i < 3 {
        let one_minus = ONE_Q2.wrapping_sub(mul(half_denominator, x));
        // Q2 · Q2 is Q4; back to Q2.
        x = x.wrapping_add(mul_by_pot(mul(x, one_minus), 2));
        i += 1;
    }
    x
}

/// `(1 − a) / (1 + a)` for `a` in `[0, 1]`, Q0.31.
const fn one_minus_x_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let x = reciprocal_q2(rounding_half_sum(a, ONE_Q0));
    mul_by_pot(x.wrapping_sub(1 << 29), 2)
}

/// `1 / (1 + a)` for `a` in `[0, 1]`, Q0.31.
const fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let x = reciprocal_q2(rounding_half_sum(a, ONE_Q0));
    // x / 2 read as Q1.30, then to Q0.31.
    mul_by_pot(x, 1)
}

/// `tanh(a)` for `a` with `integer_bits` integer bits (at most 4), Q0.31 out.
pub fn tanh(a: i32, integer_bits: i32) -> i32 {
    if a == 0 {
        return 0;
    }
    let negative = if a < 0 { a } else { a.wrapping_neg() };
    // exp(2·n): the same raw value read with one more integer bit.
    let t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(
        negative,
        integer_bits + 1,
    ));
    if a < 0 {
        t.wrapping_neg()
    } else {
        t
    }
}

/// `1 / (1 + exp(−a))` for `a` with `integer_bits` integer bits (at most 5), Q0.31 out.
pub fn logistic(a: i32, integer_bits: i32) -> i32 {
    if a == 0 {
        return 1 << 30;
    }
    let abs = if a > 0 { a } else { a.wrapping_neg() };
    let positive =
        one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(abs.wrapping_neg(), integer_bits));
    if a > 0 {
        positive
    } else {
        ONE_Q0.wrapping_sub(positive)
    }
}
