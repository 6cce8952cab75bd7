//! `ModelInfo`, the compile-time reading of a blob: it agrees with the runtime loader on every
//! blob (valid or not) and gives the buffer sizes the loader's model asks for.

use proptest::prelude::*;
use scnn::blob::{self, AlignedBlob};
use scnn::model::ModelInfo;
use scnn::{Buffer, Error, Model};

static EXAMPLE: &AlignedBlob<[u8]> = &AlignedBlob(*include_bytes!("../tools/models/example.scnn"));

/// Evaluated at compile time: a bad example blob would fail this test's build.
const INFO: ModelInfo = ModelInfo::parse(&EXAMPLE.0);

/// A 4-byte aligned copy of `bytes`.
fn aligned(bytes: &[u8]) -> Vec<u32> {
    let mut words = vec![0u32; bytes.len().div_ceil(4)];
    bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    words
}

fn with_crc_fixed(mut bytes: Vec<u8>) -> Vec<u8> {
    let end = bytes.len() - blob::CRC_LEN;
    let crc = blob::checksum(&bytes[..end]);
    bytes[end..].copy_from_slice(&crc.to_le_bytes());
    bytes
}

#[test]
fn sizes_are_the_loaded_models() {
    let model = Model::<{ INFO.pair_len() }>::from_bytes(&EXAMPLE.0).unwrap();
    assert_eq!(INFO.pair_len(), model.pair_len());
    assert_eq!(INFO.feature_dim(), model.feature_dim());
    assert_eq!(INFO.layer_count(), model.layer_count());
    assert_eq!(INFO.max_channels(), model.max_channels());
    assert_eq!(INFO.slots(), model.slots());
    assert_eq!(INFO.scratch_len(), model.scratch_len());
    assert_eq!(INFO.arena_len(), model.arena_len());
    assert_eq!(INFO.stream_arena_len(), model.stream_arena_len().unwrap());
    assert_eq!(INFO.logits_len(), scnn::tri::tri_len(model.pair_len()));
    assert_eq!(INFO.format_version(), blob::FORMAT_V4);
    assert_eq!(INFO.app(), blob::App::Rna);
    assert_eq!(INFO.vocab_size(), 5);
    let end = EXAMPLE.0.len() - blob::CRC_LEN;
    assert_eq!(
        INFO.stored_crc(),
        u32::from_le_bytes(EXAMPLE.0[end..].try_into().unwrap())
    );
}

#[test]
fn a_model_runs_in_buffers_sized_by_model_info() {
    const L: usize = INFO.pair_len();
    let mut arena = [0i8; INFO.stream_arena_len()];
    let mut scratch = [0i16; INFO.scratch_len()];
    let model = Model::<L>::from_bytes(&EXAMPLE.0).unwrap();
    let len = model
        .predict_i8_rows(b"GGGGAAACCCCAUG", &mut arena, &mut scratch, |_, _, _| {})
        .unwrap();
    assert_eq!(len, 14);
    // One value short of either size is refused.
    let mut small = [0i8; INFO.stream_arena_len() - 1];
    assert_eq!(
        model.predict_i8_rows(b"GGGAAACCC", &mut small, &mut scratch, |_, _, _| {}),
        Err(Error::too_small(Buffer::Arena, INFO.stream_arena_len()))
    );
}

#[test]
fn the_stored_crc_differs_between_models() {
    // A model with one different weight is another model: its stored CRC differs (the CRC of
    // the whole blob, stored CRC included, is the same constant for every valid blob).
    let model = Model::<128>::from_bytes(&EXAMPLE.0).unwrap();
    let scnn::model::LayerParams::I8(p) = model.layer(1).unwrap().params else {
        panic!("int8 example")
    };
    let at = p.weights.as_ptr() as usize - EXAMPLE.0.as_ptr() as usize;
    let mut bytes = EXAMPLE.0.to_vec();
    bytes[at] = bytes[at].wrapping_add(1) & 0x3f;
    let words = aligned(&with_crc_fixed(bytes.clone()));
    let other = &bytemuck::cast_slice::<u32, u8>(&words)[..bytes.len()];
    let info = ModelInfo::try_parse(other).unwrap();
    assert_ne!(info.stored_crc(), INFO.stored_crc());
    assert_eq!(
        blob::checksum(other),
        blob::checksum(&EXAMPLE.0),
        "a valid blob's whole-blob CRC is a constant"
    );
}

#[test]
#[should_panic(expected = "blob CRC-32 mismatch (corrupted)")]
fn parse_panics_naming_the_problem() {
    let mut bytes = EXAMPLE.0.to_vec();
    bytes[200] ^= 0x10;
    let words = aligned(&bytes);
    ModelInfo::parse(&bytemuck::cast_slice::<u32, u8>(&words)[..bytes.len()]);
}

/// Whatever `ModelInfo` rejects, the loader rejects with the same error; whatever the loader
/// accepts, `ModelInfo` accepts with the loader's sizes.
fn agree(bytes: &[u8]) {
    let words = aligned(bytes);
    let bytes = &bytemuck::cast_slice::<u32, u8>(&words)[..bytes.len()];
    let info = ModelInfo::try_parse(bytes);
    let model = Model::<128>::from_bytes(bytes);
    match (&info, &model) {
        (Err(a), Err(b)) => assert_eq!(a, b),
        (Ok(_), Err(_)) => {} // a bad value: found by the loader only
        (Err(e), Ok(_)) => panic!("ModelInfo rejects a blob the loader takes: {e}"),
        (Ok(info), Ok(model)) => {
            assert_eq!(info.scratch_len(), model.scratch_len());
            // Sizes at L = 128 here, at L = pair_len in `info`: compare what depends on
            // the layers alone.
            assert_eq!(info.stream_ring_len(), model.stream_ring_len().unwrap());
            assert_eq!(info.pair_len(), model.pair_len());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Header and layer-record bytes changed (CRC fixed, so the structure checks must act).
    #[test]
    fn model_info_and_the_loader_agree(at in 0usize..400, value in any::<u8>()) {
        let mut bytes = EXAMPLE.0.to_vec();
        let at = at.min(bytes.len() - blob::CRC_LEN - 1);
        bytes[at] = value;
        agree(&with_crc_fixed(bytes));
    }

    /// Truncated or raw-corrupted blobs.
    #[test]
    fn model_info_and_the_loader_agree_on_damage(cut in 0usize..17000, at in 0usize..17000) {
        let mut bytes = EXAMPLE.0.to_vec();
        let at = at % bytes.len();
        bytes[at] ^= 0x5a;
        bytes.truncate(cut.max(1).min(bytes.len()));
        agree(&bytes);
    }
}

#[test]
fn wide_layers_run_portably_instead_of_widening_into_ram() {
    use scnn::plan::{conv_i8_scratch_len, widened_weight_len, widens, MAX_WIDENED_WEIGHTS};
    // The benchmark's 64-channel 3×3 layers, symmetric and dense, widen for SMLAD.
    assert!(widens(64 * 6, 64) && widens(64 * 9, 64));
    assert_eq!(
        conv_i8_scratch_len(64, 64, 3),
        64 * 6 + widened_weight_len(64 * 6, 64) + 1
    );
    // SCosRec's 256-channel 3×3 layer would take 786 KB widened: it keeps only its patch.
    assert!(widened_weight_len(256 * 6, 256) > MAX_WIDENED_WEIGHTS);
    assert_eq!(conv_i8_scratch_len(256, 256, 3), 256 * 6);
}
