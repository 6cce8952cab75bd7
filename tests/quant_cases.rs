//! Requantization against cases worked by hand from the TFLite / CMSIS-NN definitions, and
//! against the independent reference over random inputs.

mod reference;

use proptest::prelude::*;
use scnn::quant::{
    clamp_i8, requantize, requantize_checked, requantize_right, rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul, Activation,
};
use scnn::Requant;

const HALF: i32 = 1 << 30; // 0.5 in Q31

#[test]
fn high_mul_rounds_like_gemmlowp() {
    // 100 · 0.5 = 50 exactly.
    assert_eq!(saturating_rounding_doubling_high_mul(100, HALF), 50);
    // 101 · 0.5 = 50.5: a positive tie goes up.
    assert_eq!(saturating_rounding_doubling_high_mul(101, HALF), 51);
    // −101 · 0.5 = −50.5: (−101·2^30 + 1 − 2^30) / 2^31 = −50.99…, truncated to −50.
    assert_eq!(saturating_rounding_doubling_high_mul(-101, HALF), -50);
    // −3 · 0.5 = −1.5 → −1 for the same reason.
    assert_eq!(saturating_rounding_doubling_high_mul(-3, HALF), -1);
    // No tie: −16 · 0.2 = −3.2 → −3.
    assert_eq!(saturating_rounding_doubling_high_mul(-16, 429_496_730), -3);
    // (2^31 − 1)² / 2^31 = 2^31 − 2 + (1 + 2^30)/2^31 → 2147483646.
    assert_eq!(
        saturating_rounding_doubling_high_mul(i32::MAX, i32::MAX),
        2_147_483_646
    );
    // The one overflowing product saturates.
    assert_eq!(
        saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
        i32::MAX
    );
    // −2^31 · (2^31 − 1) / 2^31 = −(2^31 − 1) exactly after rounding.
    assert_eq!(
        saturating_rounding_doubling_high_mul(i32::MIN, i32::MAX),
        -2_147_483_647
    );
}

#[test]
fn divide_by_power_of_two_rounds_half_away_from_zero() {
    assert_eq!(rounding_divide_by_pot(7, 2), 2); // 1.75
    assert_eq!(rounding_divide_by_pot(6, 2), 2); // 1.5 → 2
    assert_eq!(rounding_divide_by_pot(5, 2), 1); // 1.25
    assert_eq!(rounding_divide_by_pot(-5, 1), -3); // −2.5 → −3
    assert_eq!(rounding_divide_by_pot(-6, 2), -2); // −1.5 → −2
    assert_eq!(rounding_divide_by_pot(-4, 2), -1); // exact
    assert_eq!(rounding_divide_by_pot(-7, 2), -2); // −1.75
    assert_eq!(rounding_divide_by_pot(123, 0), 123);
    assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
    assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
}

#[test]
fn checked_requantize_equals_requantize_at_the_edges() {
    for acc in [
        i32::MIN,
        i32::MIN + 1,
        -1 << 30,
        -3,
        -1,
        0,
        1,
        3,
        1 << 30,
        i32::MAX,
    ] {
        for multiplier in [0, 1, 1 << 30, (1 << 30) + 1, i32::MAX - 1, i32::MAX] {
            for shift in [-31, -30, -17, -1, 0, 1, 2, 17, 29, 30] {
                assert_eq!(
                    requantize_checked(acc, multiplier, shift),
                    requantize(acc, multiplier, shift),
                    "acc {acc}, multiplier {multiplier}, shift {shift}"
                );
                if shift <= 0 {
                    assert_eq!(
                        requantize_right(acc, multiplier, shift),
                        requantize(acc, multiplier, shift),
                        "right shift: acc {acc}, multiplier {multiplier}, shift {shift}"
                    );
                }
            }
        }
    }
}

#[test]
fn requantize_double_rounds() {
    // 5 · 0.25: the high multiply gives 2.5 → 3, the shift 1.5 → 2. (Single rounding: 1.)
    assert_eq!(requantize(5, HALF, -1), 2);
    // −3 · 0.25 = −0.75: −1.5 → −1, then −0.5 → −1.
    assert_eq!(requantize(-3, HALF, -1), -1);
    // Positive shift: 1000 · 2 · (2^31−1)/2^31 = 1999.99… → 2000.
    assert_eq!(requantize(1000, i32::MAX, 1), 2000);
    // A typical layer: factor 0.0123 = 0.7872 · 2^-6.
    let r = Requant::from_real(0.0123).unwrap();
    assert_eq!(r.shift, -6);
    assert_eq!(r.multiplier, 1_690_499_128); // round(0.7872 · 2^31)
    assert_eq!(r.apply(10_000), 123);
    assert_eq!(r.apply(-10_000), -123);
    assert_eq!(r.apply(40), 0); // 0.492
    assert_eq!(r.apply(41), 1); // 0.5043
}

#[test]
fn quantize_multiplier_matches_tflite() {
    assert_eq!(
        Requant::from_real(0.5).unwrap(),
        Requant {
            multiplier: HALF,
            shift: 0
        }
    );
    assert_eq!(
        Requant::from_real(1.0).unwrap(),
        Requant {
            multiplier: HALF,
            shift: 1
        }
    );
    assert_eq!(
        Requant::from_real(0.75).unwrap(),
        Requant {
            multiplier: 1_610_612_736,
            shift: 0
        }
    );
    assert_eq!(
        Requant::from_real(0.1).unwrap(),
        Requant {
            multiplier: 1_717_986_918,
            shift: -3
        }
    );
    // Rounding up to 2^31 renormalizes.
    let just_below_one = 1.0 - 1e-12;
    assert_eq!(
        Requant::from_real(just_below_one).unwrap(),
        Requant {
            multiplier: HALF,
            shift: 1
        }
    );
    // Too small to represent: zero.
    assert_eq!(
        Requant::from_real(1e-12).unwrap(),
        Requant {
            multiplier: 0,
            shift: 0
        }
    );
    assert!(Requant::from_real(0.0).is_err());
    assert!(Requant::from_real(-0.5).is_err());
    assert!(Requant::from_real(f64::NAN).is_err());
    assert!((Requant::from_real(0.0123).unwrap().to_real() - 0.0123).abs() < 1e-9);
}

#[test]
fn saturation_and_activation_ranges() {
    assert_eq!(clamp_i8(300, -128, 127), 127);
    assert_eq!(clamp_i8(-300, -128, 127), -128);
    assert_eq!(clamp_i8(-5, -3, 10), -3);
    // ReLU keeps values at or above the zero point.
    assert_eq!(Activation::Relu.int8_range(0.05, -20), (-20, 127));
    // ReLU6 at scale 0.05: 6 / 0.05 = 120 steps above the zero point, saturated at 127.
    assert_eq!(Activation::Relu6.int8_range(0.05, -20), (-20, 100));
    assert_eq!(Activation::Relu6.int8_range(0.01, 0), (0, 127));
    assert_eq!(Activation::None.int8_range(0.01, 5), (-128, 127));
}

#[test]
fn requant_check_rejects_bad_shifts() {
    assert!(Requant {
        multiplier: HALF,
        shift: 31
    }
    .check()
    .is_err());
    assert!(Requant {
        multiplier: HALF,
        shift: -32
    }
    .check()
    .is_err());
    assert!(Requant {
        multiplier: -1,
        shift: 0
    }
    .check()
    .is_err());
    assert!(Requant {
        multiplier: HALF,
        shift: -31
    }
    .check()
    .is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn requantize_matches_reference(acc in any::<i32>(), multiplier in 0i32..=i32::MAX, shift in -31i32..=30) {
        prop_assert_eq!(requantize(acc, multiplier, shift), reference::requant(acc, multiplier, shift));
    }

    #[test]
    fn checked_requantize_equals_requantize(acc in any::<i32>(), multiplier in 0i32..=i32::MAX, shift in -31i32..=30) {
        prop_assert_eq!(requantize_checked(acc, multiplier, shift), requantize(acc, multiplier, shift));
    }

    #[test]
    fn right_shift_requantize_equals_requantize(acc in any::<i32>(), multiplier in 0i32..=i32::MAX, shift in -31i32..=0) {
        prop_assert_eq!(requantize_right(acc, multiplier, shift), requantize(acc, multiplier, shift));
    }

    #[test]
    fn high_mul_matches_reference(a in any::<i32>(), b in any::<i32>()) {
        prop_assert_eq!(saturating_rounding_doubling_high_mul(a, b), reference::high_mul(a, b));
    }
}
