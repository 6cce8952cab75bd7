//! The sequence-separation pair feature in the blob: format 5, its own segment kind, and the
//! loader's rules for it (not in an older format, 1 to 32 bins).

mod common;

use common::{scnn, stderr, Dir};
use scnn::blob::{self, header as h, SEGMENT_RECORD_LEN, SEGMENT_SEPARATION};
use scnn::model::ModelInfo;
use scnn::Error;

/// A random RNA model with `[e_i ; e_j]` and a separation segment of 12 bins, converted.
fn separation_blob(dir: &Dir) -> Vec<u8> {
    let out = scnn(&[
        "random",
        "--pair-len",
        "32",
        "--separation",
        "12",
        "-o",
        &dir.s("s.safetensors"),
        "--sequences",
        &dir.s("s.fa"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = scnn(&[
        "convert",
        &dir.s("s.safetensors"),
        "--calibrate",
        &dir.s("s.fa"),
        "-o",
        &dir.s("s.scnn"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::read(dir.path("s.scnn")).unwrap()
}

/// `bytes` with `value` written at `at` and the CRC fixed, so the field check must catch it.
fn patched(bytes: &[u8], at: usize, value: &[u8]) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    bytes[at..at + value.len()].copy_from_slice(value);
    let end = bytes.len() - blob::CRC_LEN;
    let crc = blob::checksum(&bytes[..end]);
    bytes[end..].copy_from_slice(&crc.to_le_bytes());
    bytes
}

fn parse(bytes: &[u8]) -> Result<ModelInfo, Error> {
    // The parser reads in place: give it an aligned copy.
    let mut words = vec![0u32; bytes.len().div_ceil(4)];
    bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    ModelInfo::try_parse(&bytemuck::cast_slice::<u32, u8>(&words)[..bytes.len()])
}

#[test]
fn a_separation_segment_needs_format_5_and_1_to_32_bins() {
    let dir = Dir::new();
    let bytes = separation_blob(&dir);
    let info = parse(&bytes).unwrap();
    assert_eq!(info.format_version(), blob::FORMAT_VERSION);
    // [e_i ; e_j] of 4 features and 12 bins.
    assert_eq!(info.pair_channels(), 8 + 12);
    // Layer 0 reads the separation, so it is not a table over token pairs.
    assert_eq!(info.pair_table_len(), 0);

    let segments = u32::from_le_bytes(bytes[h::SEGMENTS_OFFSET..][..4].try_into().unwrap());
    let record = segments as usize + SEGMENT_RECORD_LEN;
    assert_eq!(bytes[record], SEGMENT_SEPARATION);
    assert_eq!(
        u16::from_le_bytes([bytes[record + 2], bytes[record + 3]]),
        12
    );

    let older = patched(&bytes, h::VERSION, &blob::FORMAT_V4.to_le_bytes());
    assert_eq!(parse(&older).unwrap_err(), Error::BadSegment);
    for bins in [0u16, blob::MAX_SEPARATION_BINS + 1] {
        let bad = patched(&bytes, record + 2, &bins.to_le_bytes());
        assert_eq!(parse(&bad).unwrap_err(), Error::BadSegment, "{bins} bins");
    }
    let unknown = patched(&bytes, record, &[SEGMENT_SEPARATION + 1]);
    assert_eq!(parse(&unknown).unwrap_err(), Error::BadSegment);
}

#[test]
fn an_items_model_refuses_the_separation_feature() {
    let dir = Dir::new();
    let out = scnn(&[
        "random",
        "--app",
        "items",
        "--separation",
        "8",
        "-o",
        &dir.s("i.safetensors"),
    ]);
    common::assert_fails(&out, &["--separation is a pair-map feature"]);
    assert!(!dir.path("i.safetensors").exists());
}
