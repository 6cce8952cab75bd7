//! The example model, embedded in flash, and statically sized buffers for it: what the
//! benchmark and the golden on-target tests run, whatever model the serving firmware embeds.

use scnn::blob::AlignedBlob;
use scnn::model::ModelInfo;
use static_cell::ConstStaticCell;

/// The example blob (`tools/models/example.scnn`), 4-byte aligned in flash.
pub static BLOB: &AlignedBlob<[u8]> = &AlignedBlob(*include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tools/models/example.scnn"
)));
/// Its dimensions and buffer sizes, read at compile time.
pub const INFO: ModelInfo = ModelInfo::parse(&BLOB.0);

/// Pair length the example was built for.
pub const L: usize = INFO.pair_len();
/// The streaming activation arena: per-position features and every layer's ring of rows.
pub const ARENA_LEN: usize = INFO.stream_arena_len();
/// Scratch values of the widest conv.
pub const SCRATCH_LEN: usize = INFO.scratch_len();
/// Pair probabilities (and logits) over the packed triangle.
pub const PROBS_LEN: usize = INFO.logits_len();

/// The activation arena (row streaming).
pub static ARENA: ConstStaticCell<[i8; ARENA_LEN]> = ConstStaticCell::new([0; ARENA_LEN]);
/// The conv scratch.
pub static SCRATCH: ConstStaticCell<[i16; SCRATCH_LEN]> = ConstStaticCell::new([0; SCRATCH_LEN]);
/// The output probabilities.
pub static PROBS: ConstStaticCell<[f32; PROBS_LEN]> = ConstStaticCell::new([0.0; PROBS_LEN]);
/// The last layer's int8 logits.
pub static LOGITS: ConstStaticCell<[i8; PROBS_LEN]> = ConstStaticCell::new([0; PROBS_LEN]);
