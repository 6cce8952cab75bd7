//! The blob loader against the format 1 example blob (`tests/data/example_v1.scnn`, the
//! example as it shipped before format 2: format 1 blobs must keep loading) and every class
//! of corruption of its fields.

use scnn::blob::{self, header as h, layer as lr, AlignedBlob};
use scnn::model::{Buffers, LayerParams};
use scnn::{Buffer, Error, Model};

static EXAMPLE: &AlignedBlob<[u8]> = &AlignedBlob(*include_bytes!("data/example_v1.scnn"));

/// An aligned, owned copy of blob bytes.
struct Owned(Vec<u32>, usize);

impl Owned {
    fn new(bytes: &[u8]) -> Self {
        let mut words = vec![0u32; bytes.len().div_ceil(4)];
        bytemuck_copy(&mut words, bytes);
        Owned(words, bytes.len())
    }
    fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u32, u8>(&self.0)[..self.1]
    }
}

fn bytemuck_copy(words: &mut [u32], bytes: &[u8]) {
    bytemuck::cast_slice_mut::<u32, u8>(words)[..bytes.len()].copy_from_slice(bytes);
}

fn load<const L: usize>(bytes: &[u8]) -> Result<Model<'_, L>, Error> {
    Model::<L>::from_bytes(bytes)
}

fn example() -> Vec<u8> {
    EXAMPLE.0.to_vec()
}

fn read_u32(bytes: &[u8], at: usize) -> usize {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
}

/// Writes `value` at `at` and fixes the CRC, so that the field check (not the CRC) must
/// catch it.
fn patched(at: usize, value: &[u8]) -> Owned {
    let mut bytes = example();
    bytes[at..at + value.len()].copy_from_slice(value);
    let end = bytes.len() - blob::CRC_LEN;
    let crc = blob::checksum(&bytes[..end]);
    bytes[end..].copy_from_slice(&crc.to_le_bytes());
    Owned::new(&bytes)
}

fn layer_field(t: usize, field: usize) -> usize {
    read_u32(&example(), h::LAYERS_OFFSET) + t * blob::LAYER_RECORD_LEN + field
}

fn params_of(t: usize) -> usize {
    read_u32(&example(), layer_field(t, lr::PARAMS_OFFSET))
}

#[test]
fn example_blob_loads_and_predicts() {
    let model = load::<128>(&EXAMPLE.0).unwrap();
    assert_eq!(model.pair_len(), 128);
    assert_eq!(model.layer_count(), 7);
    let mut arena = vec![0i8; model.arena_len()];
    assert_eq!(arena.len(), scnn::plan::model_arena_len(128, 4, 8, 3));
    let mut scratch = vec![0i16; model.scratch_len()];
    let mut probs = vec![0f32; scnn::plan::model_probs_len(128)];
    let mut buffers = Buffers {
        arena: &mut arena,
        scratch: &mut scratch,
        probs: &mut probs,
    };
    let mut seen = Vec::new();
    let len = model
        .predict_i8_with(b"GGGGAAAACCCCuuuu", &mut buffers, |t, map| {
            seen.push((t, map.len()))
        })
        .unwrap();
    assert_eq!(len, 16);
    assert_eq!(seen.len(), 7);
    {
        let probs = &buffers.probs;
        assert!(probs.iter().all(|p| (0.0..=1.0).contains(p)));
        // Masked pairs are zero; active ones are sigmoid outputs (never exactly zero here).
        assert_eq!(probs[scnn::tri::tri_index(128, 0, 16)], 0.0);
        assert!(probs[scnn::tri::tri_index(128, 0, 15)] > 0.0);
    }
    // Bad sequences are errors, not panics.
    let long = [b'A'; 129];
    assert_eq!(
        model.predict_i8_with(&long[..], &mut buffers, |_, _| {}),
        Err(Error::SequenceTooLong)
    );
    assert_eq!(
        model.predict_i8_with(b"ACGZ", &mut buffers, |_, _| {}),
        Err(Error::InvalidBase { position: 3 })
    );
    let mut small = vec![0i8; 10];
    let mut probs = vec![0f32; scnn::plan::model_probs_len(128)];
    let mut buffers = Buffers {
        arena: &mut small,
        scratch: &mut scratch,
        probs: &mut probs,
    };
    assert_eq!(
        model.predict_i8_with(b"ACGU", &mut buffers, |_, _| {}),
        Err(Error::too_small(Buffer::Arena, model.arena_len()))
    );
}

#[test]
fn firmware_with_a_smaller_pair_length_rejects_the_blob() {
    assert_eq!(load::<64>(&EXAMPLE.0).unwrap_err(), Error::PairLenTooLarge);
    assert!(load::<256>(&EXAMPLE.0).is_ok());
}

/// The last layer's logits over `i ≤ j < n`, row by row, from a model at `L`.
fn logits<const L: usize>(model: &Model<'_, L>, sequence: &[u8]) -> Result<Vec<i8>, Error> {
    let mut arena = vec![0i8; model.arena_len()];
    let mut scratch = vec![0i16; model.scratch_len()];
    let mut probs = vec![0f32; scnn::plan::model_probs_len(L)];
    let mut buffers = Buffers {
        arena: &mut arena,
        scratch: &mut scratch,
        probs: &mut probs,
    };
    let last = model.layer_count() - 1;
    let mut out = Vec::new();
    let n = model.predict_i8_with(sequence, &mut buffers, |t, map| {
        if t == last {
            out = map.to_vec();
        }
    })?;
    Ok((0..n)
        .flat_map(|i| (i..n).map(move |j| (i, j)))
        .map(|(i, j)| out[scnn::tri::tri_index(L, i, j)])
        .collect())
}

#[test]
fn a_host_may_size_l_to_its_sequences_and_gets_the_same_logits() {
    let full = load::<128>(&EXAMPLE.0).unwrap();
    let small = Model::<32>::from_bytes_up_to_l(&EXAMPLE.0).unwrap();
    assert_eq!(small.pair_len(), 32);
    assert!(small.arena_len() < full.arena_len() / 10);
    for sequence in [
        &b"G"[..],
        b"GGGGAAAACCCCUUUU",
        b"GCGGAUUUAGCUCAGUUGGGAGAGCGCCAGAC",
    ] {
        assert_eq!(logits(&small, sequence), logits(&full, sequence));
    }
    assert_eq!(
        logits(&small, &[b'A'; 33]).unwrap_err(),
        Error::SequenceTooLong
    );
}

#[test]
fn every_corrupted_field_has_its_own_error() {
    let cases: Vec<(&str, Owned, Error)> = vec![
        ("magic", patched(h::MAGIC, b"SCNM"), Error::BadMagic),
        (
            "version",
            patched(h::VERSION, &(blob::FORMAT_VERSION + 1).to_le_bytes()),
            Error::UnsupportedVersion {
                found: blob::FORMAT_VERSION + 1,
            },
        ),
        (
            "header length",
            patched(h::HEADER_LEN, &60u16.to_le_bytes()),
            Error::BadLength,
        ),
        (
            "total length",
            patched(h::TOTAL_LEN, &12u32.to_le_bytes()),
            Error::BadLength,
        ),
        (
            "precision",
            patched(h::PRECISION, &[7]),
            Error::BadPrecision,
        ),
        (
            "layer count zero",
            patched(h::LAYER_COUNT, &[0]),
            Error::BadLayerCount,
        ),
        (
            "layer count large",
            patched(h::LAYER_COUNT, &[33]),
            Error::BadLayerCount,
        ),
        (
            "feature dim",
            patched(h::FEATURE_DIM, &[0]),
            Error::BadFeatureDim,
        ),
        (
            "pair length zero",
            patched(h::PAIR_LEN, &0u16.to_le_bytes()),
            Error::PairLenTooLarge,
        ),
        (
            "pair length large",
            patched(h::PAIR_LEN, &200u16.to_le_bytes()),
            Error::PairLenTooLarge,
        ),
        (
            "reserved header",
            patched(h::RESERVED_B + 3, &[1]),
            Error::NonZeroReserved,
        ),
        (
            "segment count",
            patched(h::SEGMENT_COUNT, &[0]),
            Error::BadSegment,
        ),
        (
            "segment kind",
            patched(read_u32(&example(), h::SEGMENTS_OFFSET), &[9]),
            Error::BadSegment,
        ),
        (
            "segment size",
            patched(
                read_u32(&example(), h::SEGMENTS_OFFSET) + 2,
                &3u16.to_le_bytes(),
            ),
            Error::BadSegment,
        ),
        (
            "segments offset",
            patched(h::SEGMENTS_OFFSET, &0x0010_0000u32.to_le_bytes()),
            Error::BadOffset,
        ),
        (
            "misaligned offset",
            patched(
                h::EMBEDDING_OFFSET,
                &(read_u32(&example(), h::EMBEDDING_OFFSET) as u32 + 1).to_le_bytes(),
            ),
            Error::BadOffset,
        ),
        (
            "logit scale",
            patched(h::LOGIT_SCALE, &f32::NAN.to_le_bytes()),
            Error::NonFinite,
        ),
        (
            "input zero point",
            patched(h::INPUT_ZERO_POINT, &300i32.to_le_bytes()),
            Error::BadQuantRange,
        ),
        (
            "product shift",
            patched(h::PRODUCT_SHIFT, &40i32.to_le_bytes()),
            Error::BadRequantization,
        ),
        (
            "layer kind",
            patched(layer_field(1, lr::KIND), &[5]),
            Error::BadLayerKind,
        ),
        (
            "params of two layers in one place",
            patched(
                layer_field(2, lr::PARAMS_OFFSET),
                &(params_of(1) as u32).to_le_bytes(),
            ),
            Error::BadOffset,
        ),
        (
            "layer params over the layer records",
            patched(
                layer_field(0, lr::PARAMS_OFFSET),
                &(read_u32(&example(), h::LAYERS_OFFSET) as u32).to_le_bytes(),
            ),
            Error::BadOffset,
        ),
        (
            "activation",
            patched(layer_field(1, lr::ACTIVATION), &[9]),
            Error::BadActivation,
        ),
        (
            "kernel size",
            patched(layer_field(1, lr::KERNEL), &[4]),
            Error::UnsupportedKernelSize,
        ),
        (
            "dilation",
            patched(layer_field(1, lr::DILATION), &[3]),
            Error::UnsupportedDilation,
        ),
        (
            "in channels",
            patched(layer_field(1, lr::IN_CHANNELS), &5u16.to_le_bytes()),
            Error::ChannelMismatch,
        ),
        (
            "residual later",
            patched(layer_field(2, lr::RESIDUAL), &3u16.to_le_bytes()),
            Error::BadResidual,
        ),
        (
            "overlapping skips",
            patched(layer_field(3, lr::RESIDUAL), &1u16.to_le_bytes()),
            Error::BadResidual,
        ),
        (
            "reserved record",
            patched(layer_field(0, lr::RESERVED_B), &[1]),
            Error::NonZeroReserved,
        ),
        (
            "weights length",
            patched(layer_field(1, lr::WEIGHTS_LEN), &7u32.to_le_bytes()),
            Error::BadOffset,
        ),
        (
            "params length",
            patched(layer_field(1, lr::PARAMS_LEN), &4u32.to_le_bytes()),
            Error::BadOffset,
        ),
        (
            "weight -128",
            patched(
                read_u32(&example(), layer_field(1, lr::WEIGHTS_OFFSET)),
                &[0x80],
            ),
            Error::WeightOutOfRange,
        ),
        // Params of layer 1 (8 outputs): bias[8], multipliers[8], shifts[8], zp, min, max, scale.
        (
            "requant shift",
            patched(params_of(1) + 4 * 16, &31i32.to_le_bytes()),
            Error::BadRequantization,
        ),
        (
            "output zero point",
            patched(params_of(1) + 4 * 24, &200i32.to_le_bytes()),
            Error::BadQuantRange,
        ),
        (
            "activation range",
            patched(params_of(1) + 4 * 26, &(-129i32).to_le_bytes()),
            Error::BadQuantRange,
        ),
        (
            "conv scale",
            patched(params_of(1) + 4 * 27, &(-1.0f32).to_le_bytes()),
            Error::NonFinite,
        ),
        (
            "residual zero point",
            patched(params_of(2) + 4 * 28, &5i32.to_le_bytes()),
            Error::BadQuantRange,
        ),
    ];
    for (name, blob, expected) in &cases {
        let got = load::<128>(blob.bytes()).map(|_| ());
        assert_eq!(got, Err(*expected), "case `{name}`");
    }
    // The first case of each error class above is distinct: each class names its problem.
    let mut distinct: Vec<Error> = cases.iter().map(|c| c.2).collect();
    distinct.dedup();
    assert!(distinct.len() >= 20);
}

#[test]
fn checksum_catches_what_fields_do_not() {
    let mut bytes = example();
    let weights = read_u32(&bytes, layer_field(1, lr::WEIGHTS_OFFSET));
    bytes[weights] ^= 1; // a valid weight value, only the CRC can tell
    assert_eq!(
        load::<128>(Owned::new(&bytes).bytes()).unwrap_err(),
        Error::BadChecksum
    );
}

#[test]
fn every_flipped_byte_and_every_truncation_is_rejected_without_panic() {
    let original = example();
    for at in 0..original.len() {
        for mask in [0x01u8, 0x80, 0xFF] {
            let mut bytes = original.clone();
            bytes[at] ^= mask;
            let owned = Owned::new(&bytes);
            assert!(
                load::<128>(owned.bytes()).is_err(),
                "flip {mask:#x} at byte {at} accepted"
            );
        }
    }
    for len in 0..original.len() {
        let owned = Owned::new(&original[..len]);
        assert!(
            load::<128>(owned.bytes()).is_err(),
            "truncation to {len} accepted"
        );
    }
}

#[test]
fn misaligned_blobs_are_an_error_not_a_fault() {
    let mut bytes = vec![0u8; 1];
    bytes.extend(example());
    let owned = Owned::new(&bytes);
    assert_eq!(
        load::<128>(&owned.bytes()[1..]).unwrap_err(),
        Error::BadOffset
    );
}

#[test]
fn layer_params_are_read_in_place() {
    let model = load::<128>(&EXAMPLE.0).unwrap();
    let LayerParams::I8(p) = model.layer(1).unwrap().params else {
        panic!("int8 blob")
    };
    let start = EXAMPLE.0.as_ptr() as usize;
    let at = p.weights.as_ptr() as usize;
    assert!(
        at >= start && at < start + EXAMPLE.0.len(),
        "weights are not borrowed from the blob"
    );
    // 8 outputs × 8 inputs × 6 (3×3 triangle).
    assert_eq!(p.weights.len(), 8 * 8 * 6);
}
