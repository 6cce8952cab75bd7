//! int8 TANH and LOGISTIC against TensorFlow Lite Micro's reference kernels over gemmlowp's
//! fixed point: `tests/data/tflm_activations.txt` holds the reference's parameters and every
//! int8 result for 55 input quantizations a curve, and gemmlowp's raw Q4.27 results for 4,000
//! values. It is the output of `tests/reference/tflm_activations.cc` compiled against
//! gemmlowp's own header; `.ci/tflm-reference` rebuilds it and checks it is unchanged.

use scnn::ops::{fixed_point, ActivationI8, Curve};

const REFERENCE: &str = include_str!("data/tflm_activations.txt");

fn numbers(fields: std::str::SplitWhitespace<'_>) -> Vec<i64> {
    fields.map(|f| f.parse().unwrap()).collect()
}

#[test]
fn int8_tanh_and_logistic_match_tflm_bit_for_bit() {
    let mut checked = 0;
    for line in REFERENCE.lines() {
        let mut fields = line.split_whitespace();
        let curve = match fields.next() {
            Some("tanh") => Curve::Tanh,
            Some("logistic") => Curve::Logistic,
            _ => continue,
        };
        let scale: f32 = fields.next().unwrap().parse().unwrap();
        let values = numbers(fields);
        let zero_point = values[0] as i32;
        let ours = ActivationI8::from_input_scale(curve, scale, zero_point).unwrap();
        let (multiplier, shift, radius) = (values[1], values[2], values[3]);
        assert_eq!(
            (
                ours.multiplier as i64,
                ours.shift as i64,
                ours.radius as i64
            ),
            (multiplier, shift, radius),
            "{curve:?} parameters for scale {scale}, zero point {zero_point}"
        );
        let expected = &values[4..];
        assert_eq!(expected.len(), 256);
        let table = ours.table();
        for (n, &want) in expected.iter().enumerate() {
            let q = (n as i32 - 128) as i8;
            assert_eq!(
                table[q as u8 as usize] as i64, want,
                "{curve:?}, scale {scale}, zero point {zero_point}, input {q}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 2 * 55);
}

#[test]
fn fixed_point_tanh_and_logistic_match_gemmlowp() {
    let mut checked = 0;
    for line in REFERENCE.lines() {
        let mut fields = line.split_whitespace();
        if fields.next() != Some("raw") {
            continue;
        }
        let v = numbers(fields);
        let raw = v[0] as i32;
        assert_eq!(fixed_point::tanh(raw, 4) as i64, v[1], "tanh of raw {raw}");
        assert_eq!(
            fixed_point::logistic(raw, 4) as i64,
            v[2],
            "logistic of raw {raw}"
        );
        checked += 1;
    }
    assert_eq!(checked, 4000);
}

#[test]
fn int8_results_follow_the_real_functions() {
    // Within one output step of the real function (the fixed point is accurate to a few
    // units of 2^-31, the output rounding to half a step).
    for curve in [Curve::Tanh, Curve::Logistic] {
        let (out_scale, out_zero_point) = curve.output_quant();
        for (scale, zero_point) in [(0.02f32, 0), (0.05, -10), (0.1, 30)] {
            let act = ActivationI8::from_input_scale(curve, scale, zero_point).unwrap();
            for q in i8::MIN..=i8::MAX {
                let x = (q as i32 - zero_point) as f32 * scale;
                let want = curve.apply_f32(x) / out_scale + out_zero_point as f32;
                let got = act.apply(q) as f32;
                assert!(
                    (got - want.clamp(-128.0, 127.0)).abs() <= 1.0,
                    "{curve:?}({x}) = {got}, want about {want}"
                );
            }
        }
    }
}

#[test]
fn unusable_scales_are_errors() {
    for scale in [0.0f32, -1.0, f32::NAN, f32::INFINITY] {
        assert!(ActivationI8::from_input_scale(Curve::Tanh, scale, 0).is_err());
    }
    assert!(ActivationI8::from_input_scale(Curve::Tanh, 0.05, 200).is_err());
}
