//! The non-conv layers, sequence encoding, triangle indexing and argument checks.

mod reference;

use proptest::prelude::*;
use reference::Dense;
use scnn::layers::{
    pool_avg_f32, pool_avg_i8, pool_max_f32, pool_max_i8, residual_add_f32, residual_add_i8,
    sigmoid, sigmoid_map_f32, sigmoid_map_i8, AddQuant,
};
use scnn::seq::{encode, Base, Embedding, ONE_HOT};
use scnn::tri::{map_len, tri_index, tri_len};
use scnn::{
    Activation, Buffer, ConvF32, ConvGeom, ConvI8, Error, Involution, OutputQuant, Segment, TriMap,
};

#[test]
fn triangle_index_enumerates_rows_in_order() {
    for l in [1usize, 2, 5, 16, 128] {
        let mut expected = 0;
        for i in 0..l {
            for j in i..l {
                assert_eq!(tri_index(l, i, j), expected, "L={l} ({i}, {j})");
                expected += 1;
            }
        }
        assert_eq!(expected, tri_len(l));
    }
    assert_eq!(map_len(4, 3), 30);
}

#[test]
fn mirrored_reads_apply_the_involution() {
    // L = 2, channels [a ; b] with π swapping them: X[1][0] = (X[0][1] with halves swapped).
    let layout = [Segment::SwapHalves(1)];
    let packed = [1.0f32, 1.0, 2.0, 3.0, 4.0, 4.0];
    let map =
        TriMap::<f32, 2>::with_involution(&packed, 2, 2, Involution::Segments(&layout)).unwrap();
    assert_eq!(map.get(0, 1, 0), Some(2.0));
    assert_eq!(map.get(1, 0, 0), Some(3.0));
    assert_eq!(map.get(1, 0, 1), Some(2.0));
    assert_eq!(map.get(2, 0, 0), None);
    let inv = Involution::Segments(&[
        Segment::Fixed(1),
        Segment::Transpose(2),
        Segment::SwapHalves(1),
    ]);
    let partners: Vec<usize> = (0..7).map(|c| inv.partner(c)).collect();
    assert_eq!(partners, vec![0, 1, 3, 2, 4, 6, 5]);
    assert_eq!(inv.counts(7), (3, 2));
}

#[test]
fn sequences_encode_with_clear_errors() {
    let mut bases = [Base::N; 8];
    assert_eq!(encode(b"acgUTn", &mut bases), Ok(6));
    assert_eq!(
        &bases[..6],
        &[Base::A, Base::C, Base::G, Base::U, Base::U, Base::N]
    );
    assert_eq!(
        encode(b"ACGX", &mut bases),
        Err(Error::InvalidBase { position: 3 })
    );
    assert_eq!(encode(b"", &mut bases), Err(Error::EmptySequence));
    assert_eq!(
        encode(b"ACGUACGUA", &mut bases),
        Err(Error::SequenceTooLong)
    );
    let mut features = [9.0f32; 12];
    Embedding::new(&ONE_HOT, 4)
        .unwrap()
        .fill(&[Base::G, Base::N, Base::A], &mut features)
        .unwrap();
    assert_eq!(
        features,
        [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    );
    assert_eq!(
        Embedding::new(&ONE_HOT, 3).unwrap_err(),
        Error::WeightLength
    );
    // The field is 0-based; the message counts from 1, as the CLI does.
    assert_eq!(
        Error::InvalidBase { position: 3 }.to_string(),
        "invalid base at position 4 (allowed: ACGUTN)"
    );
    assert_eq!(
        Error::InvalidSymbol { position: 0 }.to_string(),
        "symbol at position 1 is not in the model's alphabet"
    );
    assert_eq!(
        Error::TokenOutOfRange { position: 9 }.to_string(),
        "token at position 10 is outside the model's vocabulary"
    );
}

#[test]
fn layer_arguments_are_checked() {
    let id = Involution::Identity;
    assert_eq!(
        ConvGeom::new(4, 4, 2, 1, id),
        Err(Error::UnsupportedKernelSize)
    );
    assert_eq!(
        ConvGeom::new(4, 4, 9, 1, id),
        Err(Error::UnsupportedKernelSize)
    );
    assert_eq!(
        ConvGeom::new(4, 4, 3, 0, id),
        Err(Error::UnsupportedDilation)
    );
    assert_eq!(
        ConvGeom::new(4, 4, 3, 17, id),
        Err(Error::UnsupportedDilation)
    );
    assert!(ConvGeom::new(4, 4, 3, 16, id).is_ok());
    assert_eq!(ConvGeom::new(0, 4, 3, 1, id), Err(Error::BadChannelCount));
    assert_eq!(
        ConvGeom::new(4, 4, 3, 1, Involution::Segments(&[Segment::SwapHalves(1)])),
        Err(Error::BadInvolution)
    );
    assert_eq!(
        ConvGeom::new(
            1,
            4,
            3,
            1,
            Involution::Segments(&[Segment::Fixed(0), Segment::Fixed(1)])
        ),
        Err(Error::BadInvolution)
    );
    let geom = ConvGeom::new(2, 1, 3, 1, id).unwrap();
    assert_eq!(geom.weight_len(), 12);
    assert_eq!(geom.dense_weight_len(), 18);
    assert_eq!(
        ConvF32::new(geom, &[0.0; 11], &[0.0], Activation::None).unwrap_err(),
        Error::WeightLength
    );
    assert_eq!(
        ConvF32::new(geom, &[0.0; 12], &[], Activation::None).unwrap_err(),
        Error::BiasLength
    );
    let q = OutputQuant {
        multipliers: &[1 << 30],
        shifts: &[0],
        zero_point: 0,
        act_min: -128,
        act_max: 127,
    };
    let mut w = [1i8; 12];
    assert!(ConvI8::new(geom, &w, &[0], q).is_ok());
    w[5] = i8::MIN;
    assert_eq!(
        ConvI8::new(geom, &w, &[0], q).unwrap_err(),
        Error::WeightOutOfRange
    );
    let bad = OutputQuant { shifts: &[31], ..q };
    assert_eq!(
        ConvI8::new(geom, &[1; 12], &[0], bad).unwrap_err(),
        Error::BadRequantization
    );
    let bad = OutputQuant {
        act_min: 5,
        act_max: 4,
        ..q
    };
    assert_eq!(
        ConvI8::new(geom, &[1; 12], &[0], bad).unwrap_err(),
        Error::BadQuantRange
    );
    let bad = OutputQuant {
        multipliers: &[],
        ..q
    };
    assert_eq!(
        ConvI8::new(geom, &[1; 12], &[0], bad).unwrap_err(),
        Error::QuantLength
    );

    // Run-time mismatches between a layer and its input or buffers.
    let conv = ConvF32::new(geom, &[0.5; 12], &[0.0], Activation::None).unwrap();
    let data = [0.0f32; 6];
    let one_channel = TriMap::<f32, 2>::new(&data[..3], 1, 2).unwrap();
    let mut scratch = [0.0f32; 12];
    let mut out = [0.0f32; 3];
    assert_eq!(
        conv.run::<_, 2>(&one_channel, &mut scratch, &mut out),
        Err(Error::ChannelMismatch)
    );
    let swapped = TriMap::<f32, 2>::with_involution(
        &data,
        2,
        2,
        Involution::Segments(&[Segment::SwapHalves(1)]),
    )
    .unwrap();
    assert_eq!(
        conv.run::<_, 2>(&swapped, &mut scratch, &mut out),
        Err(Error::InvolutionMismatch)
    );
    let two = TriMap::<f32, 2>::new(&data, 2, 2).unwrap();
    assert!(matches!(
        conv.run::<_, 2>(&two, &mut scratch[..5], &mut out),
        Err(Error::BufferTooSmall {
            buffer: Buffer::Scratch,
            ..
        })
    ));
    assert!(matches!(
        conv.run::<_, 2>(&two, &mut scratch, &mut out[..2]),
        Err(Error::BufferTooSmall {
            buffer: Buffer::Map,
            ..
        })
    ));
    assert!(conv.run::<_, 2>(&two, &mut scratch, &mut out).is_ok());
    assert_eq!(
        TriMap::<f32, 2>::new(&data, 2, 3).unwrap_err(),
        Error::SequenceTooLong
    );
    // Two channels over the 3 pairs of a 2×2 triangle.
    assert_eq!(
        TriMap::<f32, 2>::new(&data[..5], 2, 2).unwrap_err(),
        Error::too_small(Buffer::Map, 6)
    );
    assert_eq!(
        Error::too_small(Buffer::Map, 6).to_string(),
        "the pair map buffer is too small: it needs 6 values"
    );
    assert_eq!(
        TriMap::<f32, 2>::new(&data, 2, 0).unwrap_err(),
        Error::EmptySequence
    );
}

#[test]
fn residual_add_int8_hand_cases() {
    let q = AddQuant::from_scales(0.1, 0, 0.1, 0, 0.1, 0, Activation::None).unwrap();
    assert_eq!(q.add(10, 20), 30);
    assert_eq!(q.add(-10, 3), -7);
    assert_eq!(q.add(100, 100), 127); // saturates
                                      // Different scales: 0.2·10 + 0.1·(−4 − 2) = 1.4 at output scale 0.1, zero point 5 → 19.
    let q = AddQuant::from_scales(0.2, 0, 0.1, 2, 0.1, 5, Activation::None).unwrap();
    assert_eq!(q.add(10, -4), 19);
    // ReLU clamps at the output zero point.
    let q = AddQuant::from_scales(0.1, 0, 0.1, 0, 0.1, -7, Activation::Relu).unwrap();
    assert_eq!(q.add(-50, 10), -7);
    let mut acc = [10i8, -10];
    assert_eq!(
        residual_add_i8(&mut acc, &[1], &q),
        Err(Error::ShapeMismatch)
    );
}

fn random_dense_symmetric(len: usize, c: usize, seed: u64) -> Dense<i8> {
    let mut x = Dense::zeros(len, c);
    let mut s = seed | 1;
    for i in 0..len {
        for j in i..len {
            for ch in 0..c {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let v = (s % 256) as i64 - 128;
                x.set(i, j, ch, v as i8);
                x.set(j, i, ch, v as i8);
            }
        }
    }
    x
}

fn check_pooling<const L: usize>(len: usize, c: usize, seed: u64) {
    let x = random_dense_symmetric(len, c, seed);
    let packed = x.pack(L, 0);
    let map = TriMap::<i8, L>::new(&packed, c, len).unwrap();
    let mut max = vec![0i8; c];
    let mut avg = vec![0i8; c];
    pool_max_i8(&map, &mut max).unwrap();
    pool_avg_i8(&map, &mut avg).unwrap();
    let floats: Vec<f32> = packed.iter().map(|&v| v as f32 * 0.5).collect();
    let fmap = TriMap::<f32, L>::new(&floats, c, len).unwrap();
    let mut fmax = vec![0f32; c];
    let mut favg = vec![0f32; c];
    pool_max_f32(&fmap, &mut fmax).unwrap();
    pool_avg_f32(&fmap, &mut favg).unwrap();
    for ch in 0..c {
        // Over the full, dense len×len map: every off-diagonal pair appears twice.
        let all: Vec<i64> = (0..len)
            .flat_map(|i| (0..len).map(move |j| (i, j)))
            .map(|(i, j)| x.at(i, j, ch) as i64)
            .collect();
        let sum: i64 = all.iter().sum();
        let n = all.len() as i64;
        let mean = if sum >= 0 {
            (sum + n / 2) / n
        } else {
            -((-sum + n / 2) / n)
        };
        assert_eq!(avg[ch] as i64, mean, "avg channel {ch}");
        assert_eq!(max[ch] as i64, *all.iter().max().unwrap());
        assert_eq!(fmax[ch], *all.iter().max().unwrap() as f32 * 0.5);
        let want = sum as f64 * 0.5 / n as f64;
        assert!(
            (favg[ch] as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()),
            "float avg {} vs {want}",
            favg[ch]
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn pooling_matches_dense_map(len in 1usize..=9, c in 1usize..=4, seed in any::<u64>()) {
        check_pooling::<9>(len, c, seed);
    }

    #[test]
    fn residual_add_matches_reference(a in any::<i8>(), b in any::<i8>(), sa in 0.01f32..1.0, sb in 0.01f32..1.0, so in 0.01f32..1.0, za in -128i32..=127, zb in -128i32..=127, zo in -128i32..=127) {
        let q = AddQuant::from_scales(sa, za, sb, zb, so, zo, Activation::None).unwrap();
        let shift = 1 << AddQuant::LEFT_SHIFT;
        let ra = reference::requant((a as i32 - za) * shift, q.a.multiplier, q.a.shift);
        let rb = reference::requant((b as i32 - zb) * shift, q.b.multiplier, q.b.shift);
        let want = (reference::requant(ra + rb, q.out.multiplier, q.out.shift) + zo).clamp(-128, 127);
        prop_assert_eq!(q.add(a, b) as i32, want);
        // And it is the real sum, to within rounding.
        let real = sa * (a as i32 - za) as f32 + sb * (b as i32 - zb) as f32;
        let ideal = (real / so).round() as i32 + zo;
        if (-128..=127).contains(&ideal) {
            prop_assert!((q.add(a, b) as i32 - ideal).abs() <= 1);
        }
        let mut acc = [a, a];
        residual_add_i8(&mut acc, &[b, b], &q).unwrap();
        prop_assert_eq!(acc, [q.add(a, b); 2]);
    }

    #[test]
    fn float_residual_and_sigmoid(x in -30.0f32..30.0, y in -30.0f32..30.0) {
        let mut acc = [x];
        residual_add_f32(&mut acc, &[y], Activation::Relu6).unwrap();
        prop_assert_eq!(acc[0], (x + y).clamp(0.0, 6.0));
        let want = 1.0 / (1.0 + (-(x as f64)).exp());
        prop_assert!((sigmoid(x) as f64 - want).abs() <= 1e-6 * want.max(1e-30) + 1e-7);
        let mut p = [0.0f32; 2];
        sigmoid_map_f32(&[x, y], &mut p).unwrap();
        prop_assert_eq!(p, [sigmoid(x), sigmoid(y)]);
        let mut p = [0.0f32; 1];
        sigmoid_map_i8(&[20], 0.1, -10, &mut p).unwrap();
        prop_assert_eq!(p[0], sigmoid(3.0));
    }
}
