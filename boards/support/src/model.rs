//! The model a serving firmware embeds — `SCNN_MODEL` at build time, else the example — with
//! every buffer sized from the blob itself at compile time.

use scnn::apps::items::TopItems;
use scnn::apps::protein::TopContacts;
use scnn::blob::{AlignedBlob, App, Precision};
use scnn::decode::{nested_table_len, Decoder};
use scnn::model::{Head, ModelInfo};
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
/// True for a model with a scores head (recommendation): whole maps (tiny at `L` = 5), then
/// vectors, and the best items kept.
pub const ITEMS: bool = matches!(INFO.head(), Head::Scores { .. });
/// Arena values: the streaming arena (per-position features and every layer's ring of rows)
/// for a pair-map model, the whole-map arena for a scores head.
pub const ARENA_LEN: usize = if ITEMS {
    INFO.arena_len()
} else {
    INFO.stream_arena_len()
};
/// The activation arena.
pub static ARENA: ConstStaticCell<[i8; ARENA_LEN]> = ConstStaticCell::new([0; ARENA_LEN]);
/// Bytes of the longest request: the sequence, or for items the user and `L` item tokens.
pub const REQUEST_LEN: usize = if ITEMS { 2 + 2 * L } else { L };
/// Received bytes of one request frame (a longer frame is dropped whole).
pub static FRAME: ConstStaticCell<[u8; scnn::wire::frame::encoded_len(REQUEST_LEN)]> =
    ConstStaticCell::new([0; scnn::wire::frame::encoded_len(REQUEST_LEN)]);
/// An items model's best items (the history left out), offered item by item.
pub static TOP_ITEMS: ConstStaticCell<TopItems<{ scnn::wire::TOP_ITEMS }>> =
    ConstStaticCell::new(TopItems::new());
/// The conv scratch of the widest layer.
pub static SCRATCH: ConstStaticCell<[i16; INFO.scratch_len()]> =
    ConstStaticCell::new([0; INFO.scratch_len()]);
/// True for a protein model: the firmware keeps the best `L` contacts, not the logit map.
pub const PROTEIN: bool = matches!(INFO.app(), App::Protein);
/// The last layer's int8 logits over the packed triangle: what the RNA decoder reads and the
/// host compares (not linked into a protein firmware).
pub static LOGITS: ConstStaticCell<[i8; INFO.logits_len()]> =
    ConstStaticCell::new([0; INFO.logits_len()]);
/// A protein model's best `L` contacts, offered row by row as the model makes them.
pub static CONTACTS: ConstStaticCell<TopContacts<L>> = ConstStaticCell::new(TopContacts::new());
/// The RNA decoder the firmware was built with: `SCNN_DECODER` at build time, `greedy` (the
/// default) or `nested`.
pub const DECODER: Decoder = if matches!(env!("SCNN_DECODER_NAME").as_bytes(), b"nested") {
    Decoder::Nested
} else {
    Decoder::Greedy
};
/// `u16` values of the nested decoder's table: one per pair of the triangle, or none for the
/// greedy decoder.
pub const NESTED_TABLE_LEN: usize = match DECODER {
    Decoder::Nested => nested_table_len(L),
    Decoder::Greedy => 0,
};
/// The nested decoder's table (empty with the greedy decoder).
pub static NESTED_TABLE: ConstStaticCell<[u16; NESTED_TABLE_LEN]> =
    ConstStaticCell::new([0; NESTED_TABLE_LEN]);
