//! The example model, embedded in flash, and statically sized buffers for it.

use scnn::blob::AlignedBlob;
use scnn::plan;
use static_cell::ConstStaticCell;

/// Pair length the firmware is built for.
pub const L: usize = 128;
/// The example blob (`tools/models/example.scnn`), 4-byte aligned in flash.
pub static BLOB: &AlignedBlob<[u8]> = &AlignedBlob(*include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tools/models/example.scnn"
)));

/// The example's dimensions, as `scnn inspect` reports them: feature dim 4, rings of
/// `Σ rows · channels = 225` for row-streaming execution, widest conv 8→8 channels of 5×5
/// (scratch of 120 patch values and 960 widened weights).
pub const RING_LEN: usize = 225;
/// The streaming activation arena: per-position features and every layer's ring of rows.
pub const ARENA_LEN: usize = plan::stream_arena_len(L, 4, RING_LEN);
/// Scratch values of the widest conv.
pub const SCRATCH_LEN: usize = plan::conv_i8_scratch_len(8, 8, 5);
/// Pair probabilities.
pub const PROBS_LEN: usize = plan::model_probs_len(L);

/// The activation arena (row streaming).
pub static ARENA: ConstStaticCell<[i8; ARENA_LEN]> = ConstStaticCell::new([0; ARENA_LEN]);
/// The conv scratch.
pub static SCRATCH: ConstStaticCell<[i16; SCRATCH_LEN]> = ConstStaticCell::new([0; SCRATCH_LEN]);
/// The output probabilities.
pub static PROBS: ConstStaticCell<[f32; PROBS_LEN]> = ConstStaticCell::new([0.0; PROBS_LEN]);
/// The last layer's int8 logits, copied out for the host's bit-exact comparison.
pub static LOGITS: ConstStaticCell<[i8; PROBS_LEN]> = ConstStaticCell::new([0; PROBS_LEN]);
