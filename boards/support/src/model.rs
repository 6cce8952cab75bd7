//! The model a serving firmware embeds — `SCNN_MODEL` at build time, else the example — with
//! every buffer sized from the blob itself at compile time.

use scnn::blob::{AlignedBlob, Precision};
use scnn::model::ModelInfo;
use static_cell::ConstStaticCell;

/// The blob, 4-byte aligned in flash (checked by the build script with the runtime's loader).
pub static BLOB: &AlignedBlob<[u8]> = &AlignedBlob(*include_bytes!(env!("SCNN_MODEL_BLOB")));
/// The blob's path at build time, for logs.
pub const NAME: &str = env!("SCNN_MODEL_NAME");

/// The blob's structure and buffer sizes; a corrupted blob fails the build here too.
pub const INFO: ModelInfo = ModelInfo::parse(&BLOB.0);
const _: () = assert!(
    matches!(INFO.precision(), Precision::Int8),
    "the firmware runs int8 blobs"
);

/// Pair length: the model's own.
pub const L: usize = INFO.pair_len();
/// The streaming activation arena: per-position features and every layer's ring of rows.
pub static ARENA: ConstStaticCell<[i8; INFO.stream_arena_len()]> =
    ConstStaticCell::new([0; INFO.stream_arena_len()]);
/// The conv scratch of the widest layer.
pub static SCRATCH: ConstStaticCell<[i16; INFO.scratch_len()]> =
    ConstStaticCell::new([0; INFO.scratch_len()]);
/// The last layer's int8 logits over the packed triangle: what the decoder reads and the
/// host compares.
pub static LOGITS: ConstStaticCell<[i8; INFO.logits_len()]> =
    ConstStaticCell::new([0; INFO.logits_len()]);
