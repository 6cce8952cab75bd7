//! Pooled models (blob format 3) on `tests/data/items.scnn`: SCosRec's shape at width 8 with
//! random weights, made by
//! `scnn random --app items --width 8 --items 300 --users 40 --seed 7 -o w.safetensors
//! --sequences h.tsv --count 64` and `scnn convert w.safetensors --calibrate h.tsv
//! -o tests/data/items.scnn`.
//!
//! The scores are recomputed here from the observed vectors with independent integer
//! arithmetic (TFLite's average pool rounding, the spec's requantization, plain i64 sums), so
//! the layers after the convs are checked one by one; the loader is checked on corrupted
//! fields of the new layer kinds.

mod reference;

use proptest::prelude::*;
use scnn::blob::{self, header as h, layer as lr, AlignedBlob};
use scnn::model::{Buffers, DenseActivation, Head, ModelInfo, VectorLayer, VectorParams};
use scnn::{Error, Model};

static ITEMS: &AlignedBlob<[u8]> = &AlignedBlob(*include_bytes!("data/items.scnn"));
static EXAMPLE: &AlignedBlob<[u8]> = &AlignedBlob(*include_bytes!("../tools/models/example.scnn"));

/// Owned bytes, 4-byte aligned.
struct Owned(Vec<u32>, usize);

impl Owned {
    fn new(bytes: &[u8]) -> Self {
        let mut words = vec![0u32; bytes.len().div_ceil(4)];
        bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Owned(words, bytes.len())
    }
    fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u32, u8>(&self.0)[..self.1]
    }
}

fn read_u32(bytes: &[u8], at: usize) -> usize {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
}

fn record(t: usize, field: usize) -> usize {
    read_u32(&ITEMS.0, h::LAYERS_OFFSET) + t * blob::LAYER_RECORD_LEN + field
}

/// The items blob with `value` at `at` and its CRC fixed, so the field check must catch it.
fn patched(at: usize, value: &[u8]) -> Owned {
    let mut bytes = ITEMS.0.to_vec();
    bytes[at..at + value.len()].copy_from_slice(value);
    let end = bytes.len() - blob::CRC_LEN;
    let crc = blob::checksum(&bytes[..end]);
    bytes[end..].copy_from_slice(&crc.to_le_bytes());
    Owned::new(&bytes)
}

const HISTORY: [u16; 5] = [17, 250, 3, 99, 42];

fn scores<const L: usize>(history: &[u16], user: Option<u16>) -> Result<Vec<i32>, Error> {
    let model = Model::<L>::from_bytes(&ITEMS.0)?;
    let mut arena = vec![0i8; model.arena_len()];
    let mut scratch = vec![0i16; model.scratch_len()];
    let mut out = Vec::new();
    model.predict_scores_i8(history, user, &mut arena, &mut scratch, |item, s| {
        assert_eq!(usize::from(item), out.len(), "scores arrive in item order");
        out.push(s);
    })?;
    Ok(out)
}

#[test]
fn the_items_blob_is_a_format_3_pooled_model() {
    const INFO: ModelInfo = ModelInfo::parse(&ITEMS.0);
    assert_eq!(INFO.format_version(), blob::FORMAT_V3);
    assert_eq!(INFO.app(), blob::App::Items);
    assert_eq!(INFO.head(), Head::Scores { items: 300 });
    assert_eq!((INFO.pair_len(), INFO.min_len()), (5, 5));
    assert_eq!((INFO.conv_count(), INFO.layer_count()), (4, 8));
    assert_eq!((INFO.side_rows(), INFO.vector_len()), (40, 32));
    // The const arena holds what the loaded model asks for.
    let model = Model::<{ INFO.pair_len() }>::from_bytes(&ITEMS.0).unwrap();
    assert_eq!(model.arena_len(), INFO.arena_len());
}

#[test]
fn scores_do_not_depend_on_the_firmware_pair_length() {
    let exact = scores::<5>(&HISTORY, Some(7)).unwrap();
    assert_eq!(exact.len(), 300);
    assert_eq!(scores::<8>(&HISTORY, Some(7)).unwrap(), exact);
    assert_eq!(scores::<64>(&HISTORY, Some(7)).unwrap(), exact);
    // The user matters, and so does the order of the history.
    assert_ne!(scores::<5>(&HISTORY, Some(8)).unwrap(), exact);
    let mut reordered = HISTORY;
    reordered.swap(0, 4);
    assert_ne!(scores::<5>(&reordered, Some(7)).unwrap(), exact);
}

/// TFLite's int8 average pool over the whole `n×n` map: the sum of the raw values, divided
/// with rounding half away from zero.
fn average_pool(map: &[i8], n: usize, channels: usize) -> Vec<i8> {
    (0..channels)
        .map(|c| {
            let mut sum = 0i64;
            for i in 0..n {
                for j in 0..n {
                    let (a, b) = if i <= j { (i, j) } else { (j, i) };
                    sum += reference::packed_at(map, 5, channels, a, b, c) as i64;
                }
            }
            let count = (n * n) as i64;
            let mean = if sum >= 0 {
                (sum + count / 2) / count
            } else {
                -((-sum + count / 2) / count)
            };
            mean.clamp(-128, 127) as i8
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Over random histories and users, each layer after the convs equals independent
    /// integer arithmetic.
    #[test]
    fn each_layer_after_the_convs_matches_independent_integer_arithmetic(
        history in prop::array::uniform5(0u16..300),
        user in 0u16..40,
    ) {
        check_layers_after_the_convs(&history, user);
    }
}

fn check_layers_after_the_convs(history: &[u16; 5], user: u16) {
    let model = Model::<5>::from_bytes(&ITEMS.0).unwrap();
    let mut arena = vec![0i8; model.arena_len()];
    let mut scratch = vec![0i16; model.scratch_len()];
    let mut outputs: Vec<Vec<i8>> = Vec::new();
    let mut got = Vec::new();
    model
        .predict_scores_i8_with(
            history,
            Some(user),
            &mut arena,
            &mut scratch,
            |_, values| outputs.push(values.to_vec()),
            |_, s| got.push(s),
        )
        .unwrap();
    assert_eq!(outputs.len(), 7, "four maps and three vectors");

    // The last conv's zero point: the input zero point of the layers after it.
    let last_conv = model.layer(3).unwrap();
    let scnn::model::LayerParams::I8(p) = last_conv.params else {
        panic!("int8 blob")
    };
    let mut zero_point = p.output_quant().1;
    // Valid 3×3 convs: 5 → 3 → 1 positions; the pool reads the 1×1 map.
    let pooled = average_pool(&outputs[3], 1, 16);
    assert_eq!(outputs[4], pooled, "pool");

    let mut x = pooled;
    for (t, observed) in (5..8).zip(outputs[5..].iter().map(Some).chain([None])) {
        let layer = model.vector_layer(t, true).unwrap();
        let (y, zp): (Vec<i64>, i32) = match (layer, layer.params()) {
            (
                VectorLayer::Dense {
                    in_width,
                    activation: DenseActivation::Curve(_),
                    ..
                },
                VectorParams::DenseI8(d),
            ) => {
                let curve = d.curve.unwrap();
                let y = d
                    .weights
                    .chunks(in_width)
                    .enumerate()
                    .map(|(o, row)| {
                        let acc: i64 = d.bias[o] as i64
                            + row
                                .iter()
                                .zip(&x)
                                .map(|(&w, &q)| w as i64 * (q as i64 - zero_point as i64))
                                .sum::<i64>();
                        let r = reference::requant(
                            acc as i32,
                            d.quant.multipliers[o],
                            d.quant.shifts[o],
                        );
                        let q = (r as i64 + d.quant.zero_point as i64)
                            .clamp(d.quant.act_min as i64, d.quant.act_max as i64);
                        // TANH itself is checked against TFLM's kernel in tflm_activations.
                        curve.apply(q as i8) as i64
                    })
                    .collect();
                (y, curve.curve.output_quant().1)
            }
            (VectorLayer::Side { dim, .. }, VectorParams::SideI8(s)) => {
                let mut y: Vec<i64> = x
                    .iter()
                    .map(|&q| {
                        let r = reference::requant(
                            q as i32 - zero_point,
                            s.requant.multiplier,
                            s.requant.shift,
                        );
                        (r as i64 + s.zero_point as i64).clamp(-128, 127)
                    })
                    .collect();
                let row = usize::from(user) * dim;
                y.extend(s.table[row..row + dim].iter().map(|&q| q as i64));
                (y, s.zero_point)
            }
            (VectorLayer::Scores { in_width, .. }, VectorParams::ScoresI8(s)) => {
                let want: Vec<i32> = s
                    .weights
                    .chunks(in_width)
                    .zip(s.bias)
                    .map(|(row, &b)| {
                        let acc = b as i64
                            + row
                                .iter()
                                .zip(&x)
                                .map(|(&w, &q)| w as i64 * (q as i64 - zero_point as i64))
                                .sum::<i64>();
                        i32::try_from(acc).unwrap()
                    })
                    .collect();
                assert_eq!(got, want, "scores");
                assert!(observed.is_none());
                return;
            }
            other => panic!("unexpected layer {other:?}"),
        };
        let y: Vec<i8> = y.into_iter().map(|v| v as i8).collect();
        assert_eq!(observed.unwrap(), &y, "layer {t}");
        x = y;
        zero_point = zp;
    }
    panic!("no scores layer");
}

#[test]
fn wrong_calls_and_inputs_are_named() {
    assert_eq!(scores::<5>(&HISTORY, None), Err(Error::BadSideToken));
    assert_eq!(scores::<5>(&HISTORY, Some(40)), Err(Error::BadSideToken));
    assert_eq!(
        scores::<5>(&HISTORY[..4], Some(1)),
        Err(Error::SequenceTooShort)
    );
    assert_eq!(
        scores::<5>(&[1, 2, 300, 4, 5], Some(1)),
        Err(Error::TokenOutOfRange { position: 2 })
    );
    assert_eq!(scores::<4>(&HISTORY, Some(1)), Err(Error::PairLenTooLarge));

    // Pair-map calls on a pooled model, and scores calls on a pair-map model.
    let items = Model::<5>::from_bytes(&ITEMS.0).unwrap();
    let mut arena = vec![0i8; 4096];
    let mut scratch = vec![0i16; 4096];
    let mut probs = vec![0f32; 64];
    let mut buffers = Buffers {
        arena: &mut arena,
        scratch: &mut scratch,
        probs: &mut probs,
    };
    assert_eq!(
        items.predict_i8_with(&HISTORY, &mut buffers, |_, _| {}),
        Err(Error::WrongHead)
    );
    assert_eq!(
        items.predict_i8_rows(
            &HISTORY,
            &mut buffers.arena[..],
            &mut buffers.scratch[..],
            |_, _, _| {}
        ),
        Err(Error::WrongHead)
    );
    let example = Model::<128>::from_bytes(&EXAMPLE.0).unwrap();
    assert_eq!(
        example.predict_scores_i8(b"GGGAAACCC", None, &mut arena, &mut scratch, |_, _| {}),
        Err(Error::WrongHead)
    );
}

#[test]
fn corrupted_pooled_records_have_their_own_errors() {
    let params = |t: usize| read_u32(&ITEMS.0, record(t, lr::PARAMS_OFFSET));
    let weights = |t: usize| read_u32(&ITEMS.0, record(t, lr::WEIGHTS_OFFSET));
    let cases = [
        (
            "pool function",
            patched(record(4, lr::OPTION), &7u16.to_le_bytes()),
            Error::BadLayerKind,
        ),
        (
            "conv padding",
            patched(record(1, lr::OPTION), &2u16.to_le_bytes()),
            Error::BadPadding,
        ),
        (
            "layer kind",
            patched(record(5, lr::KIND), &[6]),
            Error::BadLayerKind,
        ),
        (
            "dense activation",
            patched(record(5, lr::ACTIVATION), &[5]),
            Error::BadActivation,
        ),
        (
            "pool activation",
            patched(record(4, lr::ACTIVATION), &[1]),
            Error::BadActivation,
        ),
        (
            "pool kernel",
            patched(record(4, lr::KERNEL), &[3]),
            Error::NonZeroReserved,
        ),
        (
            "side rows",
            patched(record(6, lr::OPTION), &0u16.to_le_bytes()),
            Error::BadSide,
        ),
        (
            "side width",
            patched(record(6, lr::OUT_CHANNELS), &24u16.to_le_bytes()),
            Error::BadSide,
        ),
        (
            "vector residual",
            patched(record(5, lr::RESIDUAL), &1u16.to_le_bytes()),
            Error::BadResidual,
        ),
        // 4 positions left: the two valid 3×3 convs need 5.
        (
            "pair length",
            patched(h::PAIR_LEN, &4u16.to_le_bytes()),
            Error::BadPadding,
        ),
        // A format 2 loader's rules: kinds 2–5 and options are unknown there.
        (
            "version 2",
            patched(h::VERSION, &2u16.to_le_bytes()),
            Error::NonZeroReserved,
        ),
        (
            "scores weight -128",
            patched(weights(7), &[0x80]),
            Error::WeightOutOfRange,
        ),
        (
            "dense weight -128",
            patched(weights(5) + 3, &[0x80]),
            Error::WeightOutOfRange,
        ),
        // Side params: multiplier, shift, zero point, scale.
        (
            "side shift",
            patched(params(6) + 4, &40i32.to_le_bytes()),
            Error::BadRequantization,
        ),
        (
            "side zero point",
            patched(params(6) + 8, &300i32.to_le_bytes()),
            Error::BadQuantRange,
        ),
        (
            "side scale",
            patched(params(6) + 12, &f32::NAN.to_le_bytes()),
            Error::NonFinite,
        ),
        // Dense params of 24 outputs: bias, multipliers, shifts, zp, min, max, scale, then
        // the tanh's multiplier, shift, radius.
        (
            "dense shift",
            patched(params(5) + 4 * 48, &40i32.to_le_bytes()),
            Error::BadRequantization,
        ),
        (
            "tanh radius",
            patched(params(5) + 4 * 78, &(-1i32).to_le_bytes()),
            Error::BadRequantization,
        ),
        // Scores params of 300 items: bias, then the scale.
        (
            "scores scale",
            patched(params(7) + 4 * 300, &0f32.to_le_bytes()),
            Error::NonFinite,
        ),
    ];
    for (name, blob, expected) in &cases {
        let got = Model::<5>::from_bytes(blob.bytes()).map(|_| ());
        assert_eq!(got, Err(*expected), "case `{name}`");
    }
}
