// The runtime's kernels on the target: the int8 arithmetic, the symmetric conv against a
// naive dense conv written here, the generating layer against the materialized pair tensor,
// and the decoder. Included by each board's tests/kernels.rs.

use cortex_m as _;

#[cortex_m_rt::exception]
fn SysTick() {
    scnn_board::counter::on_systick();
}

/// xorshift32: deterministic test data.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
    fn i8(&mut self) -> i8 {
        let v = (self.next() % 255) as i32 - 127;
        v as i8
    }
}

const L: usize = 7;
const LEN: usize = 6;
const C_IN: usize = 4; // Fixed(2) + SwapHalves(1): π = [0, 1, 3, 2]
const C_OUT: usize = 3;
const K: usize = 3;
const PARTNER: [usize; C_IN] = [0, 1, 3, 2];
const SEGMENTS: [scnn::Segment; 2] = [scnn::Segment::Fixed(2), scnn::Segment::SwapHalves(1)];

/// Dense `X[i][j][c]` that obeys the involution, from a packed map.
fn dense_input(packed: &[i8]) -> [[[i8; C_IN]; LEN]; LEN] {
    let mut x = [[[0i8; C_IN]; LEN]; LEN];
    for i in 0..LEN {
        for j in 0..LEN {
            for c in 0..C_IN {
                x[i][j][c] = if i <= j {
                    packed[scnn::tri::tri_index(L, i, j) * C_IN + c]
                } else {
                    packed[scnn::tri::tri_index(L, j, i) * C_IN + PARTNER[c]]
                };
            }
        }
    }
    x
}

/// Dense kernels `W[o][c][u][v]` from the packed layout.
fn dense_kernels(packed: &[i8]) -> [[[[i8; K]; K]; C_IN]; C_OUT] {
    let mut w = [[[[0i8; K]; K]; C_IN]; C_OUT];
    let mut at = 0;
    for o in 0..C_OUT {
        for c in 0..C_IN {
            let p = PARTNER[c];
            if p == c {
                for u in 0..K {
                    for v in u..K {
                        w[o][c][u][v] = packed[at];
                        w[o][c][v][u] = packed[at];
                        at += 1;
                    }
                }
            } else if c < p {
                for u in 0..K {
                    for v in 0..K {
                        w[o][c][u][v] = packed[at];
                        w[o][p][v][u] = packed[at];
                        at += 1;
                    }
                }
            }
        }
    }
    assert_eq!(at, packed.len());
    w
}

const MULT: [i32; C_OUT] = [1_300_000_000, 1_800_000_000, 1_100_000_000];
const SHIFT: [i32; C_OUT] = [-8, -9, -7];
const ZP_IN: i32 = -5;
const ZP_OUT: i32 = 3;

fn dense_conv(x: &[[[i8; C_IN]; LEN]; LEN], w: &[[[[i8; K]; K]; C_IN]; C_OUT], bias: &[i32; C_OUT], dilation: usize) -> [[[i8; C_OUT]; LEN]; LEN] {
    let mut y = [[[0i8; C_OUT]; LEN]; LEN];
    let r = (K / 2) as isize;
    for i in 0..LEN {
        for j in 0..LEN {
            for o in 0..C_OUT {
                let mut acc = bias[o];
                for c in 0..C_IN {
                    for u in 0..K {
                        for v in 0..K {
                            let a = i as isize + dilation as isize * (u as isize - r);
                            let b = j as isize + dilation as isize * (v as isize - r);
                            if a < 0 || b < 0 || a >= LEN as isize || b >= LEN as isize {
                                continue;
                            }
                            let xv = x[a as usize][b as usize][c] as i32 - ZP_IN;
                            acc += w[o][c][u][v] as i32 * xv;
                        }
                    }
                }
                let v = scnn::quant::requantize(acc, MULT[o], SHIFT[o]) + ZP_OUT;
                y[i][j][o] = v.clamp(-128, 127) as i8;
            }
        }
    }
    y
}

#[embedded_test::tests]
mod tests {
    use super::*;
    use scnn::tri::{map_len, tri_index};
    use scnn::{ConvGeom, ConvI8, Involution, OutputQuant, QuantMap, TriMap};

    #[test]
    fn tflm_tanh_and_logistic_match_the_reference_on_target() {
        // The reference table of tests/tflm_activations.rs (gemmlowp's own fixed point):
        // parameters and every int8 result for 110 input quantizations, and 4,000 raw values.
        use scnn::ops::{fixed_point, ActivationI8, Curve};
        const REFERENCE: &str = include_str!("../../tests/data/tflm_activations.txt");
        let (mut tables, mut raws) = (0, 0);
        for line in REFERENCE.lines() {
            let mut fields = line.split_whitespace();
            let kind = fields.next().unwrap();
            if kind == "raw" {
                let mut num = || fields.next().unwrap().parse::<i32>().unwrap();
                let (raw, tanh, logistic) = (num(), num(), num());
                assert_eq!(fixed_point::tanh(raw, 4), tanh);
                assert_eq!(fixed_point::logistic(raw, 4), logistic);
                raws += 1;
                continue;
            }
            let curve = if kind == "tanh" { Curve::Tanh } else { Curve::Logistic };
            let scale: f32 = fields.next().unwrap().parse().unwrap();
            let mut num = || fields.next().unwrap().parse::<i32>().unwrap();
            let zero_point = num();
            let act = ActivationI8::from_input_scale(curve, scale, zero_point).unwrap();
            assert_eq!((act.multiplier, act.shift, act.radius), (num(), num(), num()));
            for q in -128..=127i32 {
                assert_eq!(act.apply(q as i8) as i32, num());
            }
            tables += 1;
        }
        assert_eq!((tables, raws), (110, 4000));
    }

    #[test]
    fn requantize_matches_hand_worked_cases() {
        use scnn::quant::{requantize, rounding_divide_by_pot, saturating_rounding_doubling_high_mul};
        assert_eq!(saturating_rounding_doubling_high_mul(101, 1 << 30), 51);
        assert_eq!(saturating_rounding_doubling_high_mul(-101, 1 << 30), -50);
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(requantize(5, 1 << 30, -1), 2);
        assert_eq!(requantize(-3, 1 << 30, -1), -1);
        assert_eq!(requantize(1000, i32::MAX, 1), 2000);
    }

    #[test]
    fn int8_conv_equals_dense_conv() {
        let mut rng = Rng(0x1234_5678);
        let mut packed = [0i8; map_len(L, C_IN)];
        for v in packed.iter_mut() {
            *v = rng.i8();
        }
        // The diagonal must obey the involution: X[i][i][2] = X[i][i][3].
        for i in 0..L {
            let at = tri_index(L, i, i) * C_IN;
            packed[at + 3] = packed[at + 2];
        }
        let involution = Involution::Segments(&SEGMENTS);
        for dilation in [1, 2] {
            let geom = ConvGeom::new(C_IN, C_OUT, K, dilation, involution).unwrap();
            let mut weights = [0i8; 3 * (2 * 6 + 9)];
            assert_eq!(geom.weight_len(), weights.len());
            for w in weights.iter_mut() {
                *w = rng.i8();
            }
            let bias = [rng.next() as i32 % 3000, -1234, 777];
            let quant = OutputQuant { multipliers: &MULT, shifts: &SHIFT, zero_point: ZP_OUT, act_min: -128, act_max: 127 };
            let conv = ConvI8::new(geom, &weights, &bias, quant).unwrap();
            let map = TriMap::<i8, L>::with_involution(&packed, C_IN, LEN, involution).unwrap();
            let input = QuantMap::new(map, ZP_IN).unwrap();
            let mut scratch = [0i16; scnn::plan::conv_i8_scratch_len(C_IN, C_OUT, K)];
            let mut out = [0i8; map_len(L, C_OUT)];
            conv.run::<_, L>(&input, &mut scratch, &mut out).unwrap();

            let y = dense_conv(&dense_input(&packed), &dense_kernels(&weights), &bias, dilation);
            for i in 0..LEN {
                for j in 0..LEN {
                    let (a, b) = if i <= j { (i, j) } else { (j, i) };
                    for o in 0..C_OUT {
                        assert_eq!(out[tri_index(L, a, b) * C_OUT + o], y[i][j][o]);
                    }
                }
            }
            // Masked pairs hold the output zero point.
            assert_eq!(out[tri_index(L, 0, LEN) * C_OUT], ZP_OUT as i8);
        }
    }

    /// The build's int8 kernels (SMLAD where the board enables `dsp`) against the portable
    /// reference, bit for bit: identity-involution layers of several shapes (odd channel
    /// counts, patches that are not a multiple of four, dilations, partial lengths), symmetric
    /// and dense.
    #[test]
    fn optimized_int8_kernels_equal_the_portable_kernels() {
        use scnn::DenseConvI8;
        const L2: usize = 12;
        const MAX_C: usize = 8;
        let mut rng = Rng(0xD5B0_0001);
        let mut input = [0i8; L2 * L2 * MAX_C];
        let mut weights = [0i8; MAX_C * MAX_C * 25];
        let mut bias = [0i32; MAX_C];
        let mut mult = [0i32; MAX_C];
        let mut shift = [0i32; MAX_C];
        // One spare value: every case also runs on scratch that starts mid-word.
        let mut scratch = [0i16; scnn::plan::dense_i8_scratch_len(MAX_C, MAX_C, 5) + 1];
        let mut fast = [0i8; L2 * L2 * MAX_C];
        let mut reference = [0i8; L2 * L2 * MAX_C];
        // Channels in fours take the SXTB16 gather for interior pairs, with the input zero
        // point at both ends of its range too.
        for (c_in, c_out, k, d, len, zp_in) in [
            (4, 4, 3, 1, 12, -7),
            (5, 3, 3, 2, 11, -7),
            (3, 7, 5, 1, 12, -7),
            (7, 2, 3, 4, 12, -7),
            (1, 1, 3, 1, 5, -7),
            (6, 5, 1, 1, 9, -7),
            (8, 8, 3, 2, 12, -128),
            (8, 5, 5, 1, 11, 127),
            (4, 6, 3, 1, 12, 0),
        ] {
            for v in input.iter_mut().chain(weights.iter_mut()) {
                *v = rng.i8();
            }
            for o in 0..c_out {
                bias[o] = (rng.next() % 40_001) as i32 - 20_000;
                mult[o] = (1 << 30) + (rng.next() % (1 << 30)) as i32;
                // Mostly right shifts; every third case has left shifts too, so both
                // requantization paths of the SMLAD kernel run.
                shift[o] = -((rng.next() % 8) as i32);
                if c_out % 3 == 0 && o % 2 == 1 {
                    shift[o] = (rng.next() % 3) as i32;
                }
            }
            let quant = OutputQuant {
                multipliers: &mult[..c_out],
                shifts: &shift[..c_out],
                zero_point: 3,
                act_min: -100,
                act_max: 127,
            };
            let geom = ConvGeom::new(c_in, c_out, k, d, Involution::Identity).unwrap();
            let conv = ConvI8::new(geom, &weights[..geom.weight_len()], &bias[..c_out], quant).unwrap();
            let map = TriMap::<i8, L2>::new(&input[..map_len(L2, c_in)], c_in, len).unwrap();
            let source = QuantMap::new(map, zp_in).unwrap();
            let n = c_out * k * k * c_in;
            let dense = DenseConvI8::new(c_in, c_out, k, d, &weights[..n], &bias[..c_out], quant).unwrap();
            let pixels = L2 * L2 * c_in;
            for skip in [0, 1] {
                let scratch = &mut scratch[skip..];
                conv.run::<_, L2>(&source, scratch, &mut fast).unwrap();
                conv.run_portable::<_, L2>(&source, scratch, &mut reference).unwrap();
                assert_eq!(fast[..map_len(L2, c_out)], reference[..map_len(L2, c_out)]);

                dense.run::<L2>(&input[..pixels], len, zp_in, scratch, &mut fast).unwrap();
                dense.run_portable::<L2>(&input[..pixels], len, zp_in, scratch, &mut reference).unwrap();
                assert_eq!(fast[..L2 * L2 * c_out], reference[..L2 * L2 * c_out]);
            }
        }
    }

    #[test]
    fn generating_layer_equals_conv_over_materialized_pairs() {
        use scnn::generate::PairFeaturesI8;
        use scnn::{Requant, Segment};
        let mut rng = Rng(0xBEEF);
        const D: usize = 2;
        const LAYOUT: [Segment; 2] = [Segment::SwapHalves(2), Segment::Transpose(2)];
        const CH: usize = 8;
        let mut features = [0i8; LEN * D];
        for f in features.iter_mut() {
            *f = rng.i8();
        }
        let product = Requant { multiplier: 1_500_000_000, shift: -7 };
        let source = PairFeaturesI8::new(&features, D, LEN, &LAYOUT, (ZP_IN, 0), product).unwrap();
        // Materialize the same pairs, packed, through the source's own definition.
        let mut packed = [0i8; map_len(L, CH)];
        for i in 0..LEN {
            for j in i..LEN {
                for c in 0..CH {
                    let e = |p: usize, f: usize| features[p * D + f] as i32 - ZP_IN;
                    let value = match c {
                        0..=1 => e(i, c),
                        2..=3 => e(j, c - 2),
                        _ => {
                            let (a, b) = ((c - 4) / D, (c - 4) % D);
                            let q = scnn::quant::requantize(e(i, a) * e(j, b), product.multiplier, product.shift) + ZP_IN;
                            q.clamp(-128, 127) - ZP_IN
                        }
                    };
                    packed[tri_index(L, i, j) * CH + c] = (value + ZP_IN) as i8;
                }
            }
        }
        let involution = Involution::Segments(&LAYOUT);
        let geom = ConvGeom::new(CH, C_OUT, K, 1, involution).unwrap();
        let mut weights = [0i8; 128];
        let weights = &mut weights[..geom.weight_len()];
        for w in weights.iter_mut() {
            *w = rng.i8();
        }
        let bias = [10, -20, 30];
        let quant = OutputQuant { multipliers: &MULT, shifts: &SHIFT, zero_point: ZP_OUT, act_min: -100, act_max: 100 };
        let conv = ConvI8::new(geom, weights, &bias, quant).unwrap();
        let mut scratch = [0i16; scnn::plan::conv_i8_scratch_len(CH, C_OUT, K)];
        let mut from_features = [0i8; map_len(L, C_OUT)];
        conv.run::<_, L>(&source, &mut scratch, &mut from_features).unwrap();
        let map = TriMap::<i8, L>::with_involution(&packed, CH, LEN, involution).unwrap();
        let mut from_tensor = [0i8; map_len(L, C_OUT)];
        conv.run::<_, L>(&QuantMap::new(map, ZP_IN).unwrap(), &mut scratch, &mut from_tensor).unwrap();
        assert_eq!(from_features, from_tensor);
        assert!(from_features.iter().any(|&v| v != ZP_OUT as i8));
    }

    #[test]
    fn decoder_takes_the_most_probable_canonical_pairs() {
        use scnn::decode::decode;
        use scnn::seq::{encode, Base};
        const N: usize = 12;
        let mut bases = [Base::N; N];
        encode(b"GGGAAAAUCCCU", &mut bases).unwrap();
        let mut probs = [0f32; scnn::tri::tri_len(N)];
        for (i, j, p) in [(0, 10, 0.9f32), (1, 9, 0.95), (2, 8, 0.8), (0, 11, 0.85), (3, 7, 0.99), (4, 6, 0.99)] {
            probs[tri_index(N, i, j)] = p;
        }
        let s = decode::<N>(&probs, &bases, 0.5).unwrap();
        // (3,7) A-U and (1,9), (0,10), (2,8) G-C; (4,6) is too close; (0,11) G-U loses (0) to (0,10).
        assert_eq!(s.dot_bracket_str(), "((((...)))).");
    }


}
