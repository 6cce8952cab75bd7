//! Format 2 fields: application tag, vocabulary, alphabet, feature dimension and dilation,
//! on blobs made from the format 1 example by rewriting its header (CRC fixed, so the field
//! checks must catch what is wrong), and the shipped example (format 4, with format 2's fields).

use scnn::blob::{self, header as h, layer as lr, AlignedBlob, App};
use scnn::model::{ModelInfo, Sequence};
use scnn::{Error, Model};

static EXAMPLE: &AlignedBlob<[u8]> = &AlignedBlob(*include_bytes!("data/example_v1.scnn"));
static SHIPPED: &AlignedBlob<[u8]> = &AlignedBlob(*include_bytes!("../tools/models/example.scnn"));

#[test]
fn the_shipped_example_is_a_format_4_rna_model_with_its_alphabet() {
    // Format 4: its residual adds carry their rescale tables.
    let info = ModelInfo::try_parse(&SHIPPED.0).unwrap();
    assert_eq!(info.format_version(), blob::FORMAT_V4);
    assert_eq!(info.app(), App::Rna);
    assert_eq!(info.vocab_size(), 5);
    let model = Model::<128>::from_bytes(&SHIPPED.0).unwrap();
    let symbols: Vec<u8> = model.alphabet().entries().map(|(s, _)| s).collect();
    assert_eq!(symbols, b"ACGUTNacgutn");
    assert_eq!(model.alphabet().token(b't'), Some(3));
    // An RNA model names a wrong letter a base.
    let mut arena = vec![0i8; model.stream_arena_len().unwrap()];
    let mut scratch = vec![0i16; model.scratch_len()];
    assert_eq!(
        model.predict_i8_rows(b"GGXA", &mut arena, &mut scratch, |_, _, _| {}),
        Err(Error::InvalidBase { position: 2 })
    );
}

struct Owned(Vec<u32>, usize);

impl Owned {
    fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u32, u8>(&self.0)[..self.1]
    }
}

fn sealed(mut bytes: Vec<u8>) -> Owned {
    let end = bytes.len() - blob::CRC_LEN;
    let crc = blob::checksum(&bytes[..end]);
    bytes[end..].copy_from_slice(&crc.to_le_bytes());
    let mut words = vec![0u32; bytes.len().div_ceil(4)];
    bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
    Owned(words, bytes.len())
}

/// The example as a format 2 blob without an alphabet (tokens only): app, D, vocabulary.
fn v2(edit: impl FnOnce(&mut Vec<u8>)) -> Owned {
    let mut bytes = EXAMPLE.0.to_vec();
    bytes[h::VERSION..h::VERSION + 2].copy_from_slice(&2u16.to_le_bytes());
    bytes[h::APP] = App::Generic.code();
    bytes[h::FEATURE_DIM_V2..h::FEATURE_DIM_V2 + 2].copy_from_slice(&4u16.to_le_bytes());
    bytes[h::VOCAB_SIZE..h::VOCAB_SIZE + 2].copy_from_slice(&5u16.to_le_bytes());
    edit(&mut bytes);
    sealed(bytes)
}

fn put_u16(bytes: &mut [u8], at: usize, v: u16) {
    bytes[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn layer_field(bytes: &[u8], t: usize, field: usize) -> usize {
    let layers = u32::from_le_bytes(
        bytes[h::LAYERS_OFFSET..h::LAYERS_OFFSET + 4]
            .try_into()
            .unwrap(),
    );
    layers as usize + t * blob::LAYER_RECORD_LEN + field
}

#[test]
fn a_format_2_blob_runs_on_tokens_like_the_format_1_blob_on_text() {
    let blob = v2(|_| {});
    let info = ModelInfo::try_parse(blob.bytes()).unwrap();
    assert_eq!(info.format_version(), 2);
    assert_eq!(info.app(), App::Generic);
    assert_eq!(info.vocab_size(), 5);
    let v1 = Model::<128>::from_bytes(&EXAMPLE.0).unwrap();
    let v2 = Model::<128>::from_bytes(blob.bytes()).unwrap();
    assert!(v2.alphabet().is_empty());
    let run = |model: &Model<'_, 128>, input: Sequence<'_>| {
        let mut arena = vec![0i8; model.stream_arena_len().unwrap()];
        let mut scratch = vec![0i16; model.scratch_len()];
        let mut logits = Vec::new();
        let last = model.layer_count() - 1;
        model
            .predict_i8_rows(input, &mut arena, &mut scratch, |t, _, row| {
                if t == last {
                    logits.extend_from_slice(row);
                }
            })
            .map(|_| logits)
    };
    // G G C A U U C C: tokens 2 2 1 0 3 3 1 1.
    let text = run(&v1, Sequence::Text(b"GGCAUUCCAGGAUUCC")).unwrap();
    let tokens = run(
        &v2,
        Sequence::Tokens(&[2, 2, 1, 0, 3, 3, 1, 1, 0, 2, 2, 0, 3, 3, 1, 1]),
    )
    .unwrap();
    assert_eq!(text, tokens);
    // No alphabet: text is refused symbol by symbol; tokens outside the vocabulary too.
    assert_eq!(
        run(&v2, Sequence::Text(b"GGC")),
        Err(Error::InvalidSymbol { position: 0 })
    );
    assert_eq!(
        run(&v2, Sequence::Tokens(&[1, 2, 5])),
        Err(Error::TokenOutOfRange { position: 2 })
    );
}

#[test]
fn format_2_fields_are_checked() {
    let cases: Vec<(&str, Owned, Error)> = vec![
        ("app", v2(|b| b[h::APP] = 9), Error::BadApp),
        (
            "vocabulary",
            v2(|b| put_u16(b, h::VOCAB_SIZE, 0)),
            Error::BadVocabulary,
        ),
        (
            "feature dimension",
            v2(|b| put_u16(b, h::FEATURE_DIM_V2, 257)),
            Error::BadFeatureDim,
        ),
        (
            "alphabet without entries but an offset",
            v2(|b| b[h::ALPHABET_OFFSET] = 64),
            Error::BadOffset,
        ),
        (
            "alphabet entry names a token outside the vocabulary",
            v2(|b| {
                // The segment records sit at 64: point one alphabet entry at them, whose token
                // field (the segment's D = 4) is fine, then shrink the vocabulary below it.
                put_u16(b, h::ALPHABET_LEN, 1);
                b[h::ALPHABET_OFFSET] = 64;
                put_u16(b, h::VOCAB_SIZE, 4);
            }),
            Error::BadVocabulary,
        ),
        (
            "dilation 17",
            v2(|b| {
                let at = layer_field(b, 1, lr::DILATION);
                b[at] = 17;
            }),
            Error::UnsupportedDilation,
        ),
    ];
    for (name, blob, expected) in &cases {
        assert_eq!(
            ModelInfo::try_parse(blob.bytes()).map(|_| ()),
            Err(*expected),
            "ModelInfo, case `{name}`"
        );
        assert_eq!(
            Model::<128>::from_bytes(blob.bytes()).map(|_| ()),
            Err(*expected),
            "loader, case `{name}`"
        );
    }
}

#[test]
fn dilations_beyond_4_are_format_2_only() {
    let dilated = |version: u16| {
        let mut bytes = EXAMPLE.0.to_vec();
        let at = layer_field(&bytes, 1, lr::DILATION);
        bytes[at] = 8;
        if version == 2 {
            bytes[h::VERSION..h::VERSION + 2].copy_from_slice(&2u16.to_le_bytes());
            bytes[h::APP] = App::Rna.code();
            put_u16(&mut bytes, h::FEATURE_DIM_V2, 4);
            put_u16(&mut bytes, h::VOCAB_SIZE, 5);
        }
        sealed(bytes)
    };
    assert_eq!(
        ModelInfo::try_parse(dilated(1).bytes()).map(|_| ()),
        Err(Error::UnsupportedDilation)
    );
    let info = ModelInfo::try_parse(dilated(2).bytes()).unwrap();
    // Layer 1 now reaches 8 rows each way: layer 0's ring holds 2·8 + 1 rows.
    assert_eq!(info.rings()[0].rows, 17);
    assert!(Model::<128>::from_bytes(dilated(2).bytes()).is_ok());
}
