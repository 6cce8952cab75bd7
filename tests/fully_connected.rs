//! The int8 fully connected layer against an independent reference of TFLite's int8
//! FULLY_CONNECTED (= CMSIS-NN's `arm_fully_connected_s8`): i64 sums, the double-rounding
//! requantization written from the spec, then the output zero point and clamp.

mod reference;

use proptest::prelude::*;
use scnn::ops::{FullyConnectedF32, FullyConnectedI8};
use scnn::{Activation, Buffer, Error, OutputQuant};

#[allow(clippy::too_many_arguments)]
fn reference_fc(
    input: &[i8],
    weights: &[i8],
    bias: &[i32],
    zp_in: i32,
    multipliers: &[i32],
    shifts: &[i32],
    zp_out: i32,
    (min, max): (i8, i8),
) -> Vec<i8> {
    let n = input.len();
    (0..bias.len())
        .map(|o| {
            let sum: i64 = bias[o] as i64
                + (0..n)
                    .map(|i| weights[o * n + i] as i64 * (input[i] as i64 - zp_in as i64))
                    .sum::<i64>();
            let acc = i32::try_from(sum).expect("test sizes keep the sum in i32");
            let y = reference::requant(acc, multipliers[o], shifts[o]) as i64 + zp_out as i64;
            y.clamp(min as i64, max as i64) as i8
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn int8_fully_connected_matches_the_reference(
        n_in in 1usize..40,
        n_out in 1usize..12,
        seed in any::<u64>(),
        zp_in in -128i32..=127,
        zp_out in -128i32..=127,
        min in -128i32..=0,
        max in 0i32..=127,
    ) {
        // A small LCG fills the tensors, so every size gets fresh values.
        let mut state = seed | 1;
        let mut next = move || { state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); (state >> 33) as u32 };
        let input: Vec<i8> = (0..n_in).map(|_| next() as i8).collect();
        let weights: Vec<i8> = (0..n_in * n_out).map(|_| ((next() % 255) as i32 - 127) as i8).collect();
        let bias: Vec<i32> = (0..n_out).map(|_| (next() % 20001) as i32 - 10000).collect();
        let multipliers: Vec<i32> = (0..n_out).map(|_| (1 << 30) + (next() % (1 << 30)) as i32).collect();
        let shifts: Vec<i32> = (0..n_out).map(|_| (next() % 14) as i32 - 12).collect();
        let quant = OutputQuant {
            multipliers: &multipliers,
            shifts: &shifts,
            zero_point: zp_out,
            act_min: min as i8,
            act_max: max as i8,
        };
        let fc = FullyConnectedI8::new(n_in, &weights, &bias, zp_in, quant).unwrap();
        let mut out = vec![0i8; n_out];
        fc.run(&input, &mut out).unwrap();
        let want = reference_fc(&input, &weights, &bias, zp_in, &multipliers, &shifts, zp_out, (min as i8, max as i8));
        prop_assert_eq!(out, want);
    }
}

#[test]
fn a_hand_worked_case() {
    // x − zp_in = [3, −2], w = [[2, 5], [−1, 4]], bias [10, 0]:
    // acc = [10 + 6 − 10, 0 − 3 − 8] = [6, −11]; multiplier 2^30 with shift 0 halves:
    // [3, −5] (gemmlowp's high multiply nudges a negative product by 1 − 2^30, so −5.5
    // becomes −5); plus zp_out 1: [4, −4].
    let quant = OutputQuant {
        multipliers: &[1 << 30, 1 << 30],
        shifts: &[0, 0],
        zero_point: 1,
        act_min: -128,
        act_max: 127,
    };
    let fc = FullyConnectedI8::new(2, &[2, 5, -1, 4], &[10, 0], -1, quant).unwrap();
    let mut out = [0i8; 2];
    fc.run(&[2, -3], &mut out).unwrap();
    assert_eq!(out, [4, -4]);
}

#[test]
fn bad_shapes_and_parameters_are_errors() {
    let quant = OutputQuant {
        multipliers: &[1 << 30],
        shifts: &[0],
        zero_point: 0,
        act_min: -128,
        act_max: 127,
    };
    assert_eq!(
        FullyConnectedI8::new(3, &[1, 2], &[0], 0, quant).unwrap_err(),
        Error::WeightLength
    );
    assert_eq!(
        FullyConnectedI8::new(2, &[1, -128], &[0], 0, quant).unwrap_err(),
        Error::WeightOutOfRange
    );
    assert_eq!(
        FullyConnectedI8::new(1, &[1, 2], &[0, 0], 0, quant).unwrap_err(),
        Error::QuantLength
    );
    let fc = FullyConnectedI8::new(2, &[1, 2], &[0], 0, quant).unwrap();
    assert_eq!(
        fc.run(&[1], &mut [0]).unwrap_err(),
        Error::too_small(Buffer::Input, 2)
    );
    assert_eq!(
        fc.run(&[1, 2], &mut []).unwrap_err(),
        Error::too_small(Buffer::Output, 1)
    );
}

#[test]
fn f32_fully_connected_with_activation() {
    let fc =
        FullyConnectedF32::new(2, &[1.0, -2.0, 0.5, 0.5], &[0.25, -3.0], Activation::Relu).unwrap();
    let mut out = [0f32; 2];
    fc.run(&[2.0, 1.0], &mut out).unwrap();
    assert_eq!(out, [0.25, 0.0]);
}
