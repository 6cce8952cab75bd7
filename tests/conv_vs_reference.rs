//! Property tests: every conv path against the dense reference in `reference/`, over random
//! pair lengths, active lengths, involutions, kernel sizes, dilations and channel counts.

mod reference;

use proptest::prelude::*;
use reference::{Dense, I8Out, Run};
use scnn::conv::Padding;
use scnn::generate::{PairFeaturesF32, PairFeaturesI8};
use scnn::{
    Activation, ConvF32, ConvGeom, ConvI8, Involution, OutputQuant, QuantMap, Requant, TriMap,
};

/// Deterministic value stream for filling tensors from one proptest seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    fn real(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

/// A random map that obeys `X[j][i][c] = X[i][j][π(c)]`, diagonal included.
fn random_pair_map<T: Copy + Default>(
    rng: &mut Rng,
    len: usize,
    partners: &[usize],
    mut value: impl FnMut(&mut Rng) -> T,
) -> Dense<T> {
    let mut x = Dense::zeros(len, partners.len());
    for i in 0..len {
        for j in i..len {
            for (ch, &p) in partners.iter().enumerate() {
                if i == j && p < ch {
                    continue; // set together with its partner
                }
                let v = value(rng);
                x.set(i, j, ch, v);
                if i == j {
                    x.set(i, i, p, v);
                } else {
                    x.set(j, i, p, v);
                }
            }
        }
    }
    x
}

fn runs_strategy() -> impl Strategy<Value = Vec<Run>> {
    let run = prop_oneof![
        (1usize..=3).prop_map(Run::Fixed),
        (1usize..=3).prop_map(Run::Halves),
        (1usize..=2).prop_map(Run::Outer),
    ];
    prop::collection::vec(run, 1..=3)
}

fn feature_runs_strategy() -> impl Strategy<Value = (usize, Vec<Run>)> {
    (1usize..=3).prop_flat_map(|dim| {
        let run = prop_oneof![
            Just(Run::Halves(dim)),
            Just(Run::Outer(dim)),
            (1usize..=12).prop_map(Run::Separation),
        ];
        (Just(dim), prop::collection::vec(run, 1..=2))
    })
}

#[derive(Clone, Debug)]
struct Shape {
    l: usize,
    len: usize,
    out_channels: usize,
    kernel: usize,
    dilation: usize,
    activation: Activation,
    seed: u64,
}

const LS: [usize; 5] = [1, 3, 6, 11, 17];

fn shape_strategy() -> impl Strategy<Value = Shape> {
    (
        prop::sample::select(LS.to_vec()),
        1usize..=4,
        prop::sample::select(vec![1usize, 3, 5, 7]),
        prop::sample::select(vec![1usize, 2, 4]),
        prop::sample::select(vec![Activation::None, Activation::Relu, Activation::Relu6]),
        any::<u64>(),
    )
        .prop_flat_map(|(l, out_channels, kernel, dilation, activation, seed)| {
            (1..=l).prop_map(move |len| Shape {
                l,
                len,
                out_channels,
                kernel,
                dilation,
                activation,
                seed,
            })
        })
}

/// Calls `$f::<L>` with the const `L` matching the runtime value.
macro_rules! with_l {
    ($l:expr, $f:ident ( $($arg:expr),* )) => {
        match $l {
            1 => $f::<1>($($arg),*),
            3 => $f::<3>($($arg),*),
            6 => $f::<6>($($arg),*),
            11 => $f::<11>($($arg),*),
            17 => $f::<17>($($arg),*),
            other => panic!("no instance for L = {other}"),
        }
    };
}

fn relu_cap(activation: Activation) -> Option<f64> {
    match activation {
        Activation::None => None,
        Activation::Relu => Some(f64::INFINITY),
        Activation::Relu6 => Some(6.0),
    }
}

/// Compares a packed f32 output with the dense reference on every active pair (both
/// triangles) and checks the masked pairs are zero.
fn assert_close_f32<const L: usize>(out: &[f32], y: &Dense<f64>, mag: &Dense<f64>, exact: bool) {
    let c = y.c;
    for i in 0..L {
        for j in 0..L {
            for o in 0..c {
                let got = reference::packed_at(out, L, c, i, j, o) as f64;
                if i >= y.l || j >= y.l {
                    assert_eq!(got, 0.0, "masked pair ({i}, {j}) channel {o}");
                    continue;
                }
                let want = y.at(i, j, o);
                if exact {
                    assert_eq!(got, want, "pair ({i}, {j}) channel {o}");
                    assert_eq!(y.at(i, j, o), y.at(j, i, o), "reference not symmetric");
                } else {
                    let tolerance = 1e-5 * mag.at(i, j, o) + 1e-30;
                    assert!(
                        (got - want).abs() <= tolerance,
                        "pair ({i}, {j}) channel {o}: runtime {got} vs reference {want}"
                    );
                }
            }
        }
    }
}

fn random_f32_layer(
    rng: &mut Rng,
    shape: &Shape,
    partners: &[usize],
    integer: bool,
) -> (Vec<f32>, Vec<f32>) {
    let per_output = reference::packed_len_per_output(partners, shape.kernel);
    let draw = |rng: &mut Rng| {
        if integer {
            rng.int(-3, 3) as f32
        } else {
            rng.real() as f32
        }
    };
    let weights = (0..per_output * shape.out_channels)
        .map(|_| draw(rng))
        .collect();
    let bias = (0..shape.out_channels).map(|_| draw(rng)).collect();
    (weights, bias)
}

fn check_f32_map<const L: usize>(shape: &Shape, runs: &[Run], integer: bool) {
    let mut rng = Rng(shape.seed);
    let partners = reference::partner_table(runs);
    let segments: Vec<_> = runs.iter().map(|r| r.to_segment()).collect();
    let x = random_pair_map(&mut rng, shape.len, &partners, |rng| {
        if integer {
            rng.int(-4, 4) as f64
        } else {
            rng.real() as f32 as f64
        }
    });
    let packed: Vec<f32> = x.pack(L, 0.0).iter().map(|&v| v as f32).collect();
    let (weights, bias) = random_f32_layer(&mut rng, shape, &partners, integer);

    let involution = Involution::Segments(&segments);
    let geom = ConvGeom::new(
        partners.len(),
        shape.out_channels,
        shape.kernel,
        shape.dilation,
        involution,
    )
    .unwrap();
    assert_eq!(
        geom.patch_len(),
        reference::packed_len_per_output(&partners, shape.kernel)
    );
    let conv = ConvF32::new(geom, &weights, &bias, shape.activation).unwrap();
    let input =
        TriMap::<f32, L>::with_involution(&packed, partners.len(), shape.len, involution).unwrap();
    let mut scratch = vec![f32::NAN; scnn::plan::conv_scratch_len(partners.len(), shape.kernel)];
    let mut out = vec![f32::NAN; scnn::tri::map_len(L, shape.out_channels)];
    conv.run::<_, L>(&input, &mut scratch, &mut out).unwrap();

    let dense_w: Vec<f64> =
        reference::expand_kernels(&weights, shape.out_channels, &partners, shape.kernel)
            .iter()
            .map(|&v| v as f64)
            .collect();
    let bias64: Vec<f64> = bias.iter().map(|&v| v as f64).collect();
    let (y, mag) = reference::conv_f64(
        &x,
        shape.len,
        &dense_w,
        &bias64,
        shape.kernel,
        shape.dilation,
        relu_cap(shape.activation),
    );
    assert_close_f32::<L>(&out, &y, &mag, integer);
}

fn random_output_quant(rng: &mut Rng, out_channels: usize) -> (Vec<i32>, Vec<i32>, i32, i8, i8) {
    let multipliers = (0..out_channels)
        .map(|_| rng.int(1 << 30, (1i64 << 31) - 1) as i32)
        .collect();
    let shifts = (0..out_channels).map(|_| rng.int(-14, 1) as i32).collect();
    let zero_point = rng.int(-128, 127) as i32;
    let a = rng.int(-128, 127) as i8;
    let b = rng.int(-128, 127) as i8;
    (multipliers, shifts, zero_point, a.min(b), a.max(b))
}

/// Runs the int8 reference on a centered input and compares bit for bit, both triangles, and
/// checks the masked pairs hold the output zero point.
fn check_i8_against_reference<const L: usize>(
    out: &[i8],
    centered: &Dense<i32>,
    len: usize,
    dense_w: &[i8],
    bias: &[i32],
    shape: &Shape,
    q: &I8Out<'_>,
) {
    let y = reference::conv_i8(
        centered,
        len,
        dense_w,
        bias,
        shape.kernel,
        shape.dilation,
        q,
    );
    let c = bias.len();
    for i in 0..L {
        for j in 0..L {
            for o in 0..c {
                let got = reference::packed_at(out, L, c, i, j, o);
                if i >= len || j >= len {
                    assert_eq!(
                        got as i32,
                        q.zero_point.clamp(-128, 127),
                        "masked ({i}, {j})"
                    );
                    continue;
                }
                assert_eq!(
                    y.at(i, j, o),
                    y.at(j, i, o),
                    "reference not symmetric at ({i}, {j})"
                );
                assert_eq!(got, y.at(i, j, o), "pair ({i}, {j}) channel {o}");
            }
        }
    }
}

fn random_i8_weights(rng: &mut Rng, n: usize) -> Vec<i8> {
    (0..n).map(|_| rng.int(-127, 127) as i8).collect()
}

fn check_i8_map<const L: usize>(shape: &Shape, runs: &[Run]) {
    let mut rng = Rng(shape.seed);
    let partners = reference::partner_table(runs);
    let segments: Vec<_> = runs.iter().map(|r| r.to_segment()).collect();
    let in_zp = rng.int(-128, 127) as i32;
    let x = random_pair_map(&mut rng, shape.len, &partners, |rng| {
        rng.int(-128, 127) as i8
    });
    let packed = x.pack(L, 0);
    let per_output = reference::packed_len_per_output(&partners, shape.kernel);
    let weights = random_i8_weights(&mut rng, per_output * shape.out_channels);
    let bias: Vec<i32> = (0..shape.out_channels)
        .map(|_| rng.int(-20_000, 20_000) as i32)
        .collect();
    let (multipliers, shifts, out_zp, min, max) = random_output_quant(&mut rng, shape.out_channels);

    let involution = Involution::Segments(&segments);
    let geom = ConvGeom::new(
        partners.len(),
        shape.out_channels,
        shape.kernel,
        shape.dilation,
        involution,
    )
    .unwrap();
    let quant = OutputQuant {
        multipliers: &multipliers,
        shifts: &shifts,
        zero_point: out_zp,
        act_min: min,
        act_max: max,
    };
    let conv = ConvI8::new(geom, &weights, &bias, quant).unwrap();
    let map =
        TriMap::<i8, L>::with_involution(&packed, partners.len(), shape.len, involution).unwrap();
    let input = QuantMap::new(map, in_zp).unwrap();
    let mut scratch =
        vec![
            0i16;
            scnn::plan::conv_i8_scratch_len(partners.len(), shape.out_channels, shape.kernel)
        ];
    let mut out = vec![0x55i8; scnn::tri::map_len(L, shape.out_channels)];
    conv.run::<_, L>(&input, &mut scratch, &mut out).unwrap();

    let centered = Dense {
        l: x.l,
        c: x.c,
        data: x.data.iter().map(|&q| q as i32 - in_zp).collect(),
    };
    let dense_w = reference::expand_kernels(&weights, shape.out_channels, &partners, shape.kernel);
    let q = I8Out {
        multipliers: &multipliers,
        shifts: &shifts,
        zero_point: out_zp,
        min,
        max,
    };
    check_i8_against_reference::<L>(&out, &centered, shape.len, &dense_w, &bias, shape, &q);

    // Valid padding: the same layer computes only the windows inside the map, so output
    // (i, j) is the reference's (i + rd, j + rd), over a map (k − 1)·d shorter.
    let shrink = (shape.kernel - 1) * shape.dilation;
    let valid = ConvI8::new(geom.with_padding(Padding::Valid), &weights, &bias, quant).unwrap();
    let mut out = vec![0x55i8; scnn::tri::map_len(L, shape.out_channels)];
    let ran = valid.run::<_, L>(&input, &mut scratch, &mut out);
    if shape.len <= shrink {
        assert_eq!(ran, Err(scnn::Error::SequenceTooShort));
        return;
    }
    ran.unwrap();
    let y = reference::conv_i8(
        &centered,
        shape.len,
        &dense_w,
        &bias,
        shape.kernel,
        shape.dilation,
        &q,
    );
    let (m, offset) = (shape.len - shrink, shrink / 2);
    for i in 0..L {
        for j in i..L {
            for o in 0..shape.out_channels {
                let got = reference::packed_at(&out, L, shape.out_channels, i, j, o);
                let want = if j < m {
                    y.at(i + offset, j + offset, o)
                } else {
                    out_zp.clamp(-128, 127) as i8
                };
                assert_eq!(got, want, "valid pair ({i}, {j}) channel {o}");
            }
        }
    }
}

fn check_f32_generating<const L: usize>(shape: &Shape, dim: usize, runs: &[Run]) {
    let mut rng = Rng(shape.seed);
    let partners = reference::partner_table(runs);
    let segments: Vec<_> = runs.iter().map(|r| r.to_segment()).collect();
    let features: Vec<f32> = (0..shape.len * dim).map(|_| rng.real() as f32).collect();
    let (weights, bias) = random_f32_layer(&mut rng, shape, &partners, false);

    let involution = Involution::Segments(&segments);
    let geom = ConvGeom::new(
        partners.len(),
        shape.out_channels,
        shape.kernel,
        shape.dilation,
        involution,
    )
    .unwrap();
    let conv = ConvF32::new(geom, &weights, &bias, shape.activation).unwrap();
    let source = PairFeaturesF32::new(&features, dim, shape.len, &segments).unwrap();
    let mut scratch = vec![0.0f32; scnn::plan::conv_scratch_len(partners.len(), shape.kernel)];
    let mut out = vec![f32::NAN; scnn::tri::map_len(L, shape.out_channels)];
    conv.run::<_, L>(&source, &mut scratch, &mut out).unwrap();

    // The materialized pair tensor, as f32 products, through the dense reference.
    let x32 = reference::materialize(&features, dim, shape.len, runs, |a, b| a * b, 1.0);
    let x = Dense {
        l: x32.l,
        c: x32.c,
        data: x32.data.iter().map(|&v| v as f64).collect(),
    };
    let dense_w: Vec<f64> =
        reference::expand_kernels(&weights, shape.out_channels, &partners, shape.kernel)
            .iter()
            .map(|&v| v as f64)
            .collect();
    let bias64: Vec<f64> = bias.iter().map(|&v| v as f64).collect();
    let (y, mag) = reference::conv_f64(
        &x,
        shape.len,
        &dense_w,
        &bias64,
        shape.kernel,
        shape.dilation,
        relu_cap(shape.activation),
    );
    assert_close_f32::<L>(&out, &y, &mag, false);
}

fn check_i8_generating<const L: usize>(shape: &Shape, dim: usize, runs: &[Run]) {
    let mut rng = Rng(shape.seed);
    let partners = reference::partner_table(runs);
    let segments: Vec<_> = runs.iter().map(|r| r.to_segment()).collect();
    let zp = rng.int(-128, 127) as i32;
    let features: Vec<i8> = (0..shape.len * dim)
        .map(|_| rng.int(-128, 127) as i8)
        .collect();
    let product = Requant {
        multiplier: rng.int(1 << 30, (1i64 << 31) - 1) as i32,
        shift: rng.int(-9, 0) as i32,
    };
    let per_output = reference::packed_len_per_output(&partners, shape.kernel);
    let weights = random_i8_weights(&mut rng, per_output * shape.out_channels);
    let bias: Vec<i32> = (0..shape.out_channels)
        .map(|_| rng.int(-20_000, 20_000) as i32)
        .collect();
    let (multipliers, shifts, out_zp, min, max) = random_output_quant(&mut rng, shape.out_channels);

    let involution = Involution::Segments(&segments);
    let geom = ConvGeom::new(
        partners.len(),
        shape.out_channels,
        shape.kernel,
        shape.dilation,
        involution,
    )
    .unwrap();
    let quant = OutputQuant {
        multipliers: &multipliers,
        shifts: &shifts,
        zero_point: out_zp,
        act_min: min,
        act_max: max,
    };
    let conv = ConvI8::new(geom, &weights, &bias, quant).unwrap();
    // 1.0 in the features' quantization: what an on separation channel holds.
    let one = rng.int(-128, 127) as i8;
    let source =
        PairFeaturesI8::new(&features, dim, shape.len, &segments, (zp, one), product).unwrap();
    let mut scratch =
        vec![
            0i16;
            scnn::plan::conv_i8_scratch_len(partners.len(), shape.out_channels, shape.kernel)
        ];
    let mut from_features = vec![0x55i8; scnn::tri::map_len(L, shape.out_channels)];
    conv.run::<_, L>(&source, &mut scratch, &mut from_features)
        .unwrap();

    // Materialize the pair tensor as int8 (a TFLite MUL for product channels) ...
    let centered_features: Vec<i32> = features.iter().map(|&q| q as i32 - zp).collect();
    let centered = reference::materialize(
        &centered_features,
        dim,
        shape.len,
        runs,
        |a, b| {
            let q = reference::requant(a * b, product.multiplier, product.shift) + zp;
            q.clamp(-128, 127) - zp
        },
        i32::from(one) - zp,
    );
    // ... check it against the dense reference ...
    let dense_w = reference::expand_kernels(&weights, shape.out_channels, &partners, shape.kernel);
    let q = I8Out {
        multipliers: &multipliers,
        shifts: &shifts,
        zero_point: out_zp,
        min,
        max,
    };
    check_i8_against_reference::<L>(
        &from_features,
        &centered,
        shape.len,
        &dense_w,
        &bias,
        shape,
        &q,
    );

    // ... and run the runtime's own conv over the materialized, packed tensor: same bits.
    let materialized = Dense {
        l: centered.l,
        c: centered.c,
        data: centered.data.iter().map(|&v| (v + zp) as i8).collect(),
    };
    let packed = materialized.pack(L, 0);
    let map =
        TriMap::<i8, L>::with_involution(&packed, partners.len(), shape.len, involution).unwrap();
    let mut from_tensor = vec![0i8; from_features.len()];
    conv.run::<_, L>(
        &QuantMap::new(map, zp).unwrap(),
        &mut scratch,
        &mut from_tensor,
    )
    .unwrap();
    assert_eq!(from_features, from_tensor);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn f32_conv_matches_dense_reference(shape in shape_strategy(), runs in runs_strategy()) {
        with_l!(shape.l, check_f32_map(&shape, &runs, false));
    }

    #[test]
    fn f32_conv_outputs_are_exactly_symmetric(shape in shape_strategy(), runs in runs_strategy()) {
        // Small integers make every float sum exact, so symmetry can be checked bit for bit.
        with_l!(shape.l, check_f32_map(&shape, &runs, true));
    }

    #[test]
    fn i8_conv_is_bit_exact_with_dense_reference(shape in shape_strategy(), runs in runs_strategy()) {
        with_l!(shape.l, check_i8_map(&shape, &runs));
    }

    #[test]
    fn f32_generating_layer_equals_conv_over_materialized_pairs(
        shape in shape_strategy(),
        (dim, runs) in feature_runs_strategy(),
    ) {
        with_l!(shape.l, check_f32_generating(&shape, dim, &runs));
    }

    #[test]
    fn i8_generating_layer_equals_conv_over_materialized_pairs(
        shape in shape_strategy(),
        (dim, runs) in feature_runs_strategy(),
    ) {
        with_l!(shape.l, check_i8_generating(&shape, dim, &runs));
    }

    #[test]
    fn identity_involution_matches_fixed_segments(shape in shape_strategy(), channels in 1usize..=5) {
        // Involution::Identity and one Fixed run describe the same layer: same packing, same output.
        with_l!(shape.l, check_identity(&shape, channels));
    }
}

fn check_identity<const L: usize>(shape: &Shape, channels: usize) {
    let mut rng = Rng(shape.seed);
    let partners: Vec<usize> = (0..channels).collect();
    let x = random_pair_map(&mut rng, shape.len, &partners, |rng| {
        rng.int(-128, 127) as i8
    });
    let packed = x.pack(L, 0);
    let weights = random_i8_weights(
        &mut rng,
        scnn::plan::packed_weight_len(channels, shape.out_channels, shape.kernel),
    );
    let bias: Vec<i32> = (0..shape.out_channels)
        .map(|_| rng.int(-500, 500) as i32)
        .collect();
    let (multipliers, shifts, zp, min, max) = random_output_quant(&mut rng, shape.out_channels);
    let quant = OutputQuant {
        multipliers: &multipliers,
        shifts: &shifts,
        zero_point: zp,
        act_min: min,
        act_max: max,
    };
    let fixed = [scnn::Segment::Fixed(channels as u16)];
    let mut outs = Vec::new();
    for involution in [Involution::Identity, Involution::Segments(&fixed)] {
        let geom = ConvGeom::new(
            channels,
            shape.out_channels,
            shape.kernel,
            shape.dilation,
            involution,
        )
        .unwrap();
        let conv = ConvI8::new(geom, &weights, &bias, quant).unwrap();
        let map = TriMap::<i8, L>::new(&packed, channels, shape.len).unwrap();
        let mut scratch = vec![0i16; geom.scratch_len_i8()];
        let mut out = vec![0i8; scnn::tri::map_len(L, shape.out_channels)];
        conv.run::<_, L>(&QuantMap::new(map, 3).unwrap(), &mut scratch, &mut out)
            .unwrap();
        outs.push(out);
    }
    assert_eq!(outs[0], outs[1]);
}
