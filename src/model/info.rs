//! The model checked at compile time: a `const fn` reading of a blob's header and structure
//! (magic, version, length, CRC, every record and section) that gives the buffer sizes of
//! inference as constants.
//!
//! ```
//! use scnn::blob::AlignedBlob;
//! use scnn::model::ModelInfo;
//!
//! static BLOB: &AlignedBlob<[u8]> =
//!     &AlignedBlob(*include_bytes!("../../tools/models/example.scnn"));
//! // A corrupted blob stops the build here, with the reason.
//! const INFO: ModelInfo = ModelInfo::parse(&BLOB.0);
//! const L: usize = INFO.pair_len();
//!
//! let mut arena = [0i8; INFO.stream_arena_len()];
//! let mut scratch = [0i16; INFO.scratch_len()];
//! let mut logits = [0i8; INFO.logits_len()];
//! let model = scnn::Model::<L>::from_bytes(&BLOB.0)?;
//! let last = model.layer_count() - 1;
//! let len = model.predict_i8_rows(b"GGGGAAACCCC", &mut arena, &mut scratch, |t, i, row| {
//!     if t == last {
//!         let at = scnn::tri::tri_index(L, i, i);
//!         logits[at..at + row.len()].copy_from_slice(row);
//!     }
//! })?;
//! assert_eq!(len, 11);
//! # Ok::<(), scnn::Error>(())
//! ```
//!
//! Values (weights, quantization parameters, NaNs) are not looked at here: the firmware's
//! [`Model::from_bytes`](crate::Model::from_bytes) checks them at start, and a build script
//! can run that same check on the host (the boards' build scripts do).

use crate::blob::{
    header as h, layer as lr, App, Precision, ACTIVATION_SIGMOID, ACTIVATION_TANH, ALIGN,
    ALPHABET_ENTRY_LEN, CRC32, CRC_LEN, FORMAT_V1, FORMAT_V2, FORMAT_V3, FORMAT_V4, FORMAT_VERSION,
    HEADER_LEN, I8_ADD_TABLE_WORDS, I8_ADD_WORDS, I8_CONV_TAIL_WORDS, I8_CURVE_WORDS,
    I8_SCORES_TAIL_WORDS, I8_SIDE_WORDS, LAYER_CONV, LAYER_DENSE, LAYER_POOL, LAYER_RECORD_LEN,
    LAYER_SCORES, LAYER_SIDE, MAGIC, MAX_DILATION, MAX_FEATURE_DIM, MAX_FEATURE_DIM_V1,
    MAX_SEPARATION_BINS, NO_RESIDUAL, PADDING_SAME, PADDING_VALID, POOL_AVG, POOL_MAX,
    SEGMENT_CONCAT, SEGMENT_OUTER, SEGMENT_RECORD_LEN, SEGMENT_SEPARATION,
};
use crate::involution::Segment;
use crate::model::MAX_SEGMENTS;
use crate::plan;
use crate::stream::{plan_rings, LayerRing};
use crate::tri::tri_len;
use crate::{Error, MAX_CHANNELS, MAX_LAYERS};

/// `?` for `const fn`s, where the `Try` trait cannot be used.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Err(e),
        }
    };
}

/// What a model's last layer gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Head {
    /// A one-channel conv: pair logits over the packed triangle, probabilities by a sigmoid.
    PairMap,
    /// Convs, a pool over the triangle, dense and side-table layers, then a scores layer: one
    /// score per item (int8 models: the int32 accumulators of the scores layer).
    Scores {
        /// Scores per inference (the scores layer's outputs).
        items: usize,
    },
}

/// A blob's dimensions and the sizes of every buffer inference needs, read by a `const fn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelInfo {
    format_version: u16,
    precision: Precision,
    app: App,
    vocab_size: usize,
    /// Offset and entry count of the blob's alphabet (format 2; `(0, 0)` otherwise).
    alphabet: (usize, usize),
    pair_len: usize,
    feature_dim: usize,
    layer_count: usize,
    pair_channels: usize,
    max_channels: usize,
    slots: usize,
    scratch_len: usize,
    ring_len: usize,
    /// Values of the layer-0 token-pair table of row streaming (0: none).
    pair_table_len: usize,
    stored_crc: u32,
    rings: [LayerRing; MAX_LAYERS],
    head: Head,
    conv_count: usize,
    vector_len: usize,
    side_rows: usize,
    min_len: usize,
}

const fn byte(bytes: &[u8], at: usize) -> Result<u8, Error> {
    if at < bytes.len() {
        // Bounds checked on the line above.
        #[allow(clippy::indexing_slicing)]
        Ok(bytes[at])
    } else {
        Err(Error::BadLength)
    }
}

const fn u16_at(bytes: &[u8], at: usize) -> Result<u16, Error> {
    let lo = tri!(byte(bytes, at));
    let hi = tri!(byte(bytes, at + 1));
    Ok(u16::from_le_bytes([lo, hi]))
}

const fn u32_at(bytes: &[u8], at: usize) -> Result<u32, Error> {
    let lo = tri!(u16_at(bytes, at));
    let hi = tri!(u16_at(bytes, at + 2));
    Ok(lo as u32 | (hi as u32) << 16)
}

/// Checks that `len` bytes at `offset` lie in the payload (after the header, before the CRC)
/// and start on a word boundary; returns the offset.
const fn section(offset: u32, len: usize, payload_end: usize) -> Result<usize, Error> {
    let offset = offset as usize;
    if !offset.is_multiple_of(ALIGN) || offset < HEADER_LEN {
        return Err(Error::BadOffset);
    }
    match offset.checked_add(len) {
        Some(end) if end <= payload_end => Ok(offset),
        _ => Err(Error::BadOffset),
    }
}

/// The CRC-32 of everything before the stored one, compared with it.
const fn check_crc(bytes: &[u8]) -> Result<u32, Error> {
    let Some((payload, stored)) = bytes.split_at_checked(bytes.len().saturating_sub(CRC_LEN))
    else {
        return Err(Error::BadLength);
    };
    let stored = tri!(u32_at(stored, 0));
    if CRC32.checksum(payload) != stored {
        return Err(Error::BadChecksum);
    }
    Ok(stored)
}

/// A format 2 header's application, vocabulary size and alphabet section (offset, entries),
/// with every alphabet entry checked: reserved byte 0, token inside the vocabulary.
const fn vocabulary(
    bytes: &[u8],
    payload_end: usize,
) -> Result<(App, usize, (usize, usize)), Error> {
    let app = tri!(App::from_code(tri!(byte(bytes, h::APP))));
    let vocab_size = tri!(u16_at(bytes, h::VOCAB_SIZE)) as usize;
    if vocab_size == 0 {
        return Err(Error::BadVocabulary);
    }
    let entries = tri!(u16_at(bytes, h::ALPHABET_LEN)) as usize;
    let offset = tri!(u32_at(bytes, h::ALPHABET_OFFSET));
    if entries == 0 {
        if offset != 0 {
            return Err(Error::BadOffset);
        }
        return Ok((app, vocab_size, (0, 0)));
    }
    let start = tri!(section(offset, entries * ALPHABET_ENTRY_LEN, payload_end));
    let mut n = 0;
    while n < entries {
        let at = start + n * ALPHABET_ENTRY_LEN;
        if tri!(byte(bytes, at + 1)) != 0 || tri!(u16_at(bytes, at + 2)) as usize >= vocab_size {
            return Err(Error::BadVocabulary);
        }
        n += 1;
    }
    Ok((app, vocab_size, (start, entries)))
}

/// Checks that no two sections share a byte (each was already checked to lie inside the
/// payload): the header's four and each layer's weights and parameters. A blob whose
/// sections overlap is not one `convert` writes, and one value read two ways is a blob
/// crafted to confuse.
// Indexing of the fixed-size arrays below uses slots `< 4 + 2 · MAX_LAYERS`, checked first.
#[allow(clippy::indexing_slicing)]
const fn no_overlap(
    bytes: &[u8],
    layer_count: usize,
    embedding_len: usize,
    alphabet_len: usize,
    segments_len: usize,
) -> Result<(), Error> {
    const SLOTS: usize = 4 + 2 * MAX_LAYERS;
    if layer_count > MAX_LAYERS {
        return Err(Error::BadLayerCount);
    }
    // Slot k: [start, end) of a section; an empty section is [0, 0) and meets nothing.
    let mut starts = [0usize; SLOTS];
    let mut ends = [0usize; SLOTS];
    let header = [
        (h::SEGMENTS_OFFSET, segments_len),
        (h::EMBEDDING_OFFSET, embedding_len),
        (h::LAYERS_OFFSET, layer_count * LAYER_RECORD_LEN),
        (h::ALPHABET_OFFSET, alphabet_len),
    ];
    let mut k = 0;
    while k < 4 {
        let (field, len) = header[k];
        // Format 1 has no alphabet: its length is 0 and its field is not read.
        if len > 0 {
            starts[k] = tri!(u32_at(bytes, field)) as usize;
            ends[k] = starts[k].saturating_add(len);
        }
        k += 1;
    }
    let layers = tri!(u32_at(bytes, h::LAYERS_OFFSET)) as usize;
    let fields = [
        (lr::WEIGHTS_OFFSET, lr::WEIGHTS_LEN),
        (lr::PARAMS_OFFSET, lr::PARAMS_LEN),
    ];
    let mut t = 0;
    while t < layer_count {
        let at = layers + t * LAYER_RECORD_LEN;
        let mut f = 0;
        while f < 2 {
            let len = tri!(u32_at(bytes, at + fields[f].1)) as usize;
            if len > 0 {
                let slot = 4 + 2 * t + f;
                starts[slot] = tri!(u32_at(bytes, at + fields[f].0)) as usize;
                ends[slot] = starts[slot].saturating_add(len);
            }
            f += 1;
        }
        t += 1;
    }
    let mut a = 0;
    while a < SLOTS {
        let mut b = a + 1;
        while b < SLOTS {
            if starts[a] < ends[b] && starts[b] < ends[a] {
                return Err(Error::BadOffset);
            }
            b += 1;
        }
        a += 1;
    }
    Ok(())
}

/// One layer record's structure: what [`ModelInfo`] needs of it.
struct LayerShape {
    kind: u8,
    out_channels: usize,
    reach: u16,
    /// How much shorter the output map is than the input (valid padding).
    shrink: usize,
    residual: Option<u16>,
    scratch_len: usize,
    /// Rows of a side table.
    side_rows: usize,
}

/// Where the walk over the layer records is: building maps, reducing the pooled vector, or
/// past the scores layer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Maps,
    Vector,
    Done,
}

/// [`section`], except that an empty section must have offset 0.
const fn optional_section(offset: u32, len: usize, payload_end: usize) -> Result<(), Error> {
    if len == 0 {
        if offset != 0 {
            return Err(Error::BadOffset);
        }
        return Ok(());
    }
    match section(offset, len, payload_end) {
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Checks a record's weight and parameter lengths and sections; an empty section has offset 0.
const fn record_sections(
    bytes: &[u8],
    at: usize,
    weight_bytes: usize,
    params_bytes: usize,
    payload_end: usize,
) -> Result<(), Error> {
    if tri!(u32_at(bytes, at + lr::WEIGHTS_LEN)) as usize != weight_bytes
        || tri!(u32_at(bytes, at + lr::PARAMS_LEN)) as usize != params_bytes
    {
        return Err(Error::BadOffset);
    }
    tri!(optional_section(
        tri!(u32_at(bytes, at + lr::WEIGHTS_OFFSET)),
        weight_bytes,
        payload_end
    ));
    tri!(optional_section(
        tri!(u32_at(bytes, at + lr::PARAMS_OFFSET)),
        params_bytes,
        payload_end
    ));
    Ok(())
}

/// Reads layer record `t`, checking its fields and sections.
const fn layer_shape(
    bytes: &[u8],
    at: usize,
    precision: Precision,
    payload_end: usize,
    expected_in: usize,
    patch_counts: (usize, usize),
    version: u16,
) -> Result<LayerShape, Error> {
    let kind = tri!(byte(bytes, at + lr::KIND));
    if kind != LAYER_CONV && (version < FORMAT_V3 || kind > LAYER_SCORES) {
        return Err(Error::BadLayerKind);
    }
    let option = tri!(u16_at(bytes, at + lr::OPTION));
    if (version < FORMAT_V3 && option != 0) || tri!(u32_at(bytes, at + lr::RESERVED_B)) != 0 {
        return Err(Error::NonZeroReserved);
    }
    let in_channels = tri!(u16_at(bytes, at + lr::IN_CHANNELS)) as usize;
    let out_channels = tri!(u16_at(bytes, at + lr::OUT_CHANNELS)) as usize;
    if in_channels != expected_in {
        return Err(Error::ChannelMismatch);
    }
    if kind != LAYER_CONV {
        return vector_shape(
            bytes,
            at,
            kind,
            option,
            precision,
            payload_end,
            (in_channels, out_channels),
        );
    }
    let activation = tri!(byte(bytes, at + lr::ACTIVATION));
    if activation > 2 {
        return Err(Error::BadActivation);
    }
    let kernel = tri!(byte(bytes, at + lr::KERNEL)) as usize;
    let dilation = tri!(byte(bytes, at + lr::DILATION)) as usize;
    if !matches!(kernel, 1 | 3 | 5 | 7) {
        return Err(Error::UnsupportedKernelSize);
    }
    let dilation_ok = if version == FORMAT_V1 {
        matches!(dilation, 1 | 2 | 4)
    } else {
        dilation >= 1 && dilation <= MAX_DILATION
    };
    if !dilation_ok {
        return Err(Error::UnsupportedDilation);
    }
    if in_channels == 0
        || in_channels > MAX_CHANNELS
        || out_channels == 0
        || out_channels > MAX_CHANNELS
    {
        return Err(Error::BadChannelCount);
    }
    let shrink = match option {
        PADDING_SAME => 0,
        PADDING_VALID => (kernel - 1) * dilation,
        _ => return Err(Error::BadPadding),
    };
    let residual = match tri!(u16_at(bytes, at + lr::RESIDUAL)) {
        NO_RESIDUAL => None,
        s => Some(s),
    };
    // The patch: a symmetric kernel's triangle per self-mirrored channel, a full kernel per
    // pair of mirrored channels (the layer's packed weights per output channel).
    let (fixed, pairs) = patch_counts;
    let patch_len = fixed * tri_len(kernel) + pairs * kernel * kernel;
    let (elem, scratch_len, params_len) = match precision {
        Precision::Int8 => {
            let add = match (residual, version >= FORMAT_V4) {
                (None, _) => 0,
                (Some(_), false) => I8_ADD_WORDS,
                (Some(_), true) => I8_ADD_WORDS + I8_ADD_TABLE_WORDS,
            };
            let words = 3 * out_channels + I8_CONV_TAIL_WORDS + add;
            let scratch = plan::conv_i8_scratch_len_for(patch_len, out_channels);
            (1, scratch, 4 * words)
        }
        Precision::F32 => (4, patch_len, 4 * out_channels),
    };
    tri!(record_sections(
        bytes,
        at,
        out_channels * patch_len * elem,
        params_len,
        payload_end
    ));
    Ok(LayerShape {
        kind,
        out_channels,
        reach: (dilation * (kernel / 2)) as u16,
        shrink,
        residual,
        scratch_len,
        side_rows: 0,
    })
}

/// The record of a pool, dense, side-table or scores layer (format 3): no kernel, dilation
/// or residual; its option, activation, widths and sections.
const fn vector_shape(
    bytes: &[u8],
    at: usize,
    kind: u8,
    option: u16,
    precision: Precision,
    payload_end: usize,
    (in_width, out_width): (usize, usize),
) -> Result<LayerShape, Error> {
    if tri!(byte(bytes, at + lr::KERNEL)) != 0 || tri!(byte(bytes, at + lr::DILATION)) != 0 {
        return Err(Error::NonZeroReserved);
    }
    if tri!(u16_at(bytes, at + lr::RESIDUAL)) != NO_RESIDUAL {
        return Err(Error::BadResidual);
    }
    let activation = tri!(byte(bytes, at + lr::ACTIVATION));
    let max_activation = if kind == LAYER_DENSE {
        ACTIVATION_SIGMOID
    } else {
        0
    };
    if activation > max_activation {
        return Err(Error::BadActivation);
    }
    let (elem, word) = match precision {
        Precision::Int8 => (1, 0),
        Precision::F32 => (4, 1),
    };
    let int8 = word == 0;
    // Widths: a vector holds at most MAX_CHANNELS values; scores are never stored.
    let max_out = if kind == LAYER_SCORES {
        u16::MAX as usize
    } else {
        MAX_CHANNELS
    };
    if in_width == 0 || in_width > MAX_CHANNELS || out_width == 0 || out_width > max_out {
        return Err(Error::BadChannelCount);
    }
    let mut side_rows = 0;
    let (weight_bytes, params_bytes) = match kind {
        LAYER_POOL => {
            if option != POOL_AVG && option != POOL_MAX {
                return Err(Error::BadLayerKind);
            }
            if out_width != in_width {
                return Err(Error::ChannelMismatch);
            }
            (0, 0)
        }
        LAYER_DENSE => {
            if option != 0 {
                return Err(Error::NonZeroReserved);
            }
            let curve = if activation >= ACTIVATION_TANH {
                I8_CURVE_WORDS
            } else {
                0
            };
            let params = if int8 {
                4 * (3 * out_width + I8_CONV_TAIL_WORDS + curve)
            } else {
                4 * out_width
            };
            (out_width * in_width * elem, params)
        }
        LAYER_SIDE => {
            if option == 0 || out_width <= in_width {
                return Err(Error::BadSide);
            }
            side_rows = option as usize;
            let params = if int8 { 4 * I8_SIDE_WORDS } else { 0 };
            (side_rows * (out_width - in_width) * elem, params)
        }
        _ => {
            if option != 0 {
                return Err(Error::NonZeroReserved);
            }
            let params = if int8 {
                4 * (out_width + I8_SCORES_TAIL_WORDS)
            } else {
                4 * out_width
            };
            (out_width * in_width * elem, params)
        }
    };
    tri!(record_sections(
        bytes,
        at,
        weight_bytes,
        params_bytes,
        payload_end
    ));
    Ok(LayerShape {
        kind,
        out_channels: out_width,
        reach: 0,
        shrink: 0,
        residual: None,
        scratch_len: 0,
        side_rows,
    })
}

/// What the pair-feature segments add up to.
struct SegmentSummary {
    /// Channels of the pair tensor.
    channels: usize,
    /// Layer 0's conv patch counts: channels that mirror to themselves, pairs of channels.
    patch_counts: (usize, usize),
    /// A separation segment: layer 0's output depends on more than the two tokens.
    separation: bool,
}

/// Reads the pair-feature segments: each an outer concatenation or product of the `dim`
/// features, or (format 5) a separation segment of 1 ..= [`MAX_SEPARATION_BINS`] bins.
const fn segments(
    bytes: &[u8],
    count: usize,
    (dim, version): (usize, u16),
    payload_end: usize,
) -> Result<SegmentSummary, Error> {
    if count == 0 || count > MAX_SEGMENTS {
        return Err(Error::BadSegment);
    }
    let start = tri!(section(
        tri!(u32_at(bytes, h::SEGMENTS_OFFSET)),
        count * SEGMENT_RECORD_LEN,
        payload_end
    ));
    let (mut channels, mut fixed, mut pairs) = (0, 0, 0);
    let mut separation = false;
    let mut n = 0;
    while n < count {
        let at = start + n * SEGMENT_RECORD_LEN;
        let d = tri!(u16_at(bytes, at + 2));
        if tri!(byte(bytes, at + 1)) != 0 {
            return Err(Error::BadSegment);
        }
        let segment = match tri!(byte(bytes, at)) {
            SEGMENT_CONCAT if d as usize == dim => Segment::SwapHalves(d),
            SEGMENT_OUTER if d as usize == dim => Segment::Transpose(d),
            SEGMENT_SEPARATION
                if version >= FORMAT_VERSION && d >= 1 && d <= MAX_SEPARATION_BINS =>
            {
                separation = true;
                Segment::Separation(d)
            }
            _ => return Err(Error::BadSegment),
        };
        let (f, p) = segment.fixed_and_pairs();
        channels += segment.channels();
        fixed += f;
        pairs += p;
        n += 1;
    }
    Ok(SegmentSummary {
        channels,
        patch_counts: (fixed, pairs),
        separation,
    })
}

impl ModelInfo {
    /// Reads `bytes` as a blob and returns its dimensions and buffer sizes; panics, naming
    /// the problem, on a blob that [`try_parse`](Self::try_parse) rejects. Meant for a
    /// `const` item, where the panic is a build error:
    /// `const INFO: ModelInfo = ModelInfo::parse(&BLOB.0);`.
    // The panic is the point: in a `const` item it stops the build with the message. Code
    // that runs on the device calls `try_parse` (or `Model::from_bytes`) instead.
    #[allow(clippy::panic)]
    pub const fn parse(bytes: &[u8]) -> ModelInfo {
        match Self::try_parse(bytes) {
            Ok(info) => info,
            Err(e) => panic!("{}", e.message()),
        }
    }

    /// Reads `bytes` as a blob: magic, version, length, CRC-32, header fields, the segment
    /// and layer records, their sections, and the rules that tie the layers together
    /// (channel chain, skip connections, a one-channel head).
    // Indexing of the fixed-size arrays below uses `t < layer_count <= MAX_LAYERS`.
    #[allow(clippy::indexing_slicing)]
    pub const fn try_parse(bytes: &[u8]) -> Result<ModelInfo, Error> {
        // Identity and integrity first, so that the most telling error wins.
        let (Some(magic), _) = (bytes.first_chunk::<4>(), ()) else {
            return Err(Error::BadMagic);
        };
        if u32::from_le_bytes(*magic) != u32::from_le_bytes(MAGIC) {
            return Err(Error::BadMagic);
        }
        let format_version = tri!(u16_at(bytes, h::VERSION));
        if format_version != FORMAT_VERSION
            && format_version != FORMAT_V4
            && format_version != FORMAT_V3
            && format_version != FORMAT_V2
            && format_version != FORMAT_V1
        {
            return Err(Error::UnsupportedVersion {
                found: format_version,
            });
        }
        if bytes.len() < HEADER_LEN + CRC_LEN
            || tri!(u32_at(bytes, h::TOTAL_LEN)) as usize != bytes.len()
            || tri!(u16_at(bytes, h::HEADER_LEN)) as usize != HEADER_LEN
        {
            return Err(Error::BadLength);
        }
        let stored_crc = tri!(check_crc(bytes));
        let payload_end = bytes.len() - CRC_LEN;

        let precision = tri!(Precision::from_code(tri!(byte(bytes, h::PRECISION))));
        let layer_count = tri!(byte(bytes, h::LAYER_COUNT)) as usize;
        if layer_count == 0 || layer_count > MAX_LAYERS {
            return Err(Error::BadLayerCount);
        }
        let v1 = format_version == FORMAT_V1;
        let (feature_dim, max_dim) = if v1 {
            (
                tri!(byte(bytes, h::FEATURE_DIM)) as usize,
                MAX_FEATURE_DIM_V1,
            )
        } else {
            (
                tri!(u16_at(bytes, h::FEATURE_DIM_V2)) as usize,
                MAX_FEATURE_DIM,
            )
        };
        if feature_dim == 0 || feature_dim > max_dim {
            return Err(Error::BadFeatureDim);
        }
        let segment_count = tri!(byte(bytes, h::SEGMENT_COUNT)) as usize;
        let pair_len = tri!(u16_at(bytes, h::PAIR_LEN)) as usize;
        if pair_len == 0 {
            return Err(Error::PairLenTooLarge);
        }
        if v1
            && (tri!(u16_at(bytes, h::RESERVED_A)) != 0
                || tri!(u32_at(bytes, h::RESERVED_B)) != 0
                || tri!(u32_at(bytes, h::RESERVED_B + 4)) != 0)
        {
            return Err(Error::NonZeroReserved);
        }
        let (app, vocab_size, alphabet) = if v1 {
            (App::Rna, crate::apps::rna::VOCAB_SIZE, (0, 0))
        } else {
            tri!(vocabulary(bytes, payload_end))
        };
        let SegmentSummary {
            channels: pair_channels,
            patch_counts,
            separation,
        } = tri!(segments(
            bytes,
            segment_count,
            (feature_dim, format_version),
            payload_end
        ));
        let elem = match precision {
            Precision::Int8 => 1,
            Precision::F32 => 4,
        };
        tri!(section(
            tri!(u32_at(bytes, h::EMBEDDING_OFFSET)),
            vocab_size * feature_dim * elem,
            payload_end
        ));

        let layers = tri!(section(
            tri!(u32_at(bytes, h::LAYERS_OFFSET)),
            layer_count * LAYER_RECORD_LEN,
            payload_end
        ));
        let mut out_channels = [0usize; MAX_LAYERS];
        let mut reach = [0u16; MAX_LAYERS];
        let mut residual = [None; MAX_LAYERS];
        let mut is_skip_source = [false; MAX_LAYERS];
        let mut live_skip_until: Option<usize> = None;
        let (mut max_channels, mut scratch_len) = (0, 0);
        let mut stage = Stage::Maps;
        let (mut conv_count, mut vector_len, mut side_rows, mut shrink) = (0, 0, 0, 0);
        let mut t = 0;
        while t < layer_count {
            // Layer 0 reads the pair features with their involution, later layers the
            // previous output (every channel mirrors to itself).
            let (expected_in, counts) = if t == 0 {
                (pair_channels, patch_counts)
            } else {
                (out_channels[t - 1], (out_channels[t - 1], 0))
            };
            let at = layers + t * LAYER_RECORD_LEN;
            let shape = tri!(layer_shape(
                bytes,
                at,
                precision,
                payload_end,
                expected_in,
                counts,
                format_version
            ));
            if let Some(s) = shape.residual {
                let s = s as usize;
                // One live skip at a time: it must start at or after the previous one ended.
                let starts_after_previous = match live_skip_until {
                    Some(end) => s >= end,
                    None => true,
                };
                if s >= t
                    || out_channels[s] != shape.out_channels
                    || is_skip_source[s]
                    || !starts_after_previous
                {
                    return Err(Error::BadResidual);
                }
                is_skip_source[s] = true;
                live_skip_until = Some(t);
            }
            // Convs build maps; a pool turns the last map into a vector, which dense and
            // side-table layers transform until the scores layer ends the model.
            stage = match (stage, shape.kind) {
                (Stage::Maps, LAYER_CONV) => {
                    conv_count += 1;
                    shrink += shape.shrink;
                    if shape.out_channels > max_channels {
                        max_channels = shape.out_channels;
                    }
                    Stage::Maps
                }
                (Stage::Maps, LAYER_POOL) => Stage::Vector,
                (Stage::Vector, LAYER_DENSE) => Stage::Vector,
                (Stage::Vector, LAYER_SIDE) => {
                    if side_rows != 0 {
                        return Err(Error::BadSide);
                    }
                    side_rows = shape.side_rows;
                    Stage::Vector
                }
                (Stage::Vector, LAYER_SCORES) => Stage::Done,
                _ => return Err(Error::BadHead),
            };
            if matches!(stage, Stage::Vector) && shape.out_channels > vector_len {
                vector_len = shape.out_channels;
            }
            out_channels[t] = shape.out_channels;
            reach[t] = shape.reach;
            residual[t] = shape.residual;
            if shape.scratch_len > scratch_len {
                scratch_len = shape.scratch_len;
            }
            t += 1;
        }
        let head = match stage {
            Stage::Maps if out_channels[layer_count - 1] == 1 => Head::PairMap,
            Stage::Done => Head::Scores {
                items: out_channels[layer_count - 1],
            },
            _ => return Err(Error::BadHead),
        };
        // Valid padding shrinks the map: a pair-map head must keep it whole, and a pooled
        // model needs at least one position left.
        if (shrink > 0 && matches!(head, Head::PairMap)) || shrink >= pair_len {
            return Err(Error::BadPadding);
        }

        tri!(no_overlap(
            bytes,
            layer_count,
            vocab_size * feature_dim * elem,
            alphabet.1 * ALPHABET_ENTRY_LEN,
            segment_count * SEGMENT_RECORD_LEN,
        ));

        // Row streaming: pair-map models only.
        let mut rings = [LayerRing { lead: 0, rows: 0 }; MAX_LAYERS];
        let mut ring_len = 0;
        if let Head::PairMap = head {
            tri!(plan_rings(layer_count, &reach, &residual, &mut rings));
            let mut t = 0;
            while t < layer_count {
                ring_len += rings[t].rows as usize * out_channels[t];
                t += 1;
            }
        }
        // A 1×1 first layer reads one pair's two tokens and nothing else (unless it also
        // reads their separation): streamed, it is a table over token pairs.
        let pair_table_len = match head {
            Head::PairMap if reach[0] == 0 && !separation => {
                plan::pair_table_len(vocab_size, out_channels[0])
            }
            _ => 0,
        };
        Ok(ModelInfo {
            format_version,
            precision,
            app,
            vocab_size,
            alphabet,
            pair_len,
            feature_dim,
            layer_count,
            pair_channels,
            max_channels,
            slots: if live_skip_until.is_some() { 3 } else { 2 },
            scratch_len,
            ring_len,
            pair_table_len,
            stored_crc,
            rings,
            head,
            conv_count,
            vector_len,
            side_rows,
            min_len: shrink + 1,
        })
    }

    /// What the last layer gives.
    pub const fn head(&self) -> Head {
        self.head
    }

    /// The conv layers, which come first (all layers of a pair-map model).
    pub const fn conv_count(&self) -> usize {
        self.conv_count
    }

    /// Widest vector after the pool (0 in pair-map models).
    pub const fn vector_len(&self) -> usize {
        self.vector_len
    }

    /// Rows of the side table (a user embedding, say); 0 when the model has none.
    pub const fn side_rows(&self) -> usize {
        self.side_rows
    }

    /// Shortest sequence the model takes: 1, or more when valid convs shrink the map.
    pub const fn min_len(&self) -> usize {
        self.min_len
    }

    /// The blob's `format_version`.
    pub const fn format_version(&self) -> u16 {
        self.format_version
    }

    /// Number type of weights and activations.
    pub const fn precision(&self) -> Precision {
        self.precision
    }

    /// What the model is for (every format 1 blob is RNA).
    pub const fn app(&self) -> App {
        self.app
    }

    /// Tokens the model takes: rows of its embedding table.
    pub const fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Byte offset and entry count of the blob's alphabet; `(0, 0)` when the blob has none
    /// (format 1 blobs use the RNA alphabet, [`crate::apps::rna::ALPHABET`]).
    pub const fn alphabet_section(&self) -> (usize, usize) {
        self.alphabet
    }

    /// The pair length `L` the model was built for: the longest sequence it takes, and the
    /// `L` to run it with.
    pub const fn pair_len(&self) -> usize {
        self.pair_len
    }

    /// Per-position feature dimension.
    pub const fn feature_dim(&self) -> usize {
        self.feature_dim
    }

    /// Channels of the pair features the first layer reads.
    pub const fn pair_channels(&self) -> usize {
        self.pair_channels
    }

    /// Number of layers.
    pub const fn layer_count(&self) -> usize {
        self.layer_count
    }

    /// Widest layer output.
    pub const fn max_channels(&self) -> usize {
        self.max_channels
    }

    /// Activation maps alive at once on the whole-map path: 2, or 3 with skip connections.
    pub const fn slots(&self) -> usize {
        self.slots
    }

    /// The CRC-32 stored in the blob's last four bytes: different for different models, so a
    /// firmware can tell a host which model it embeds.
    pub const fn stored_crc(&self) -> u32 {
        self.stored_crc
    }

    /// Ring of each layer for row streaming, `rings()[..layer_count()]`.
    pub const fn rings(&self) -> &[LayerRing; MAX_LAYERS] {
        &self.rings
    }

    /// `Σ rows · channels` over the layers' rings.
    pub const fn stream_ring_len(&self) -> usize {
        self.ring_len
    }

    /// Values of the token-pair table a 1×1 first layer becomes in row streaming (0: it runs
    /// as a conv); see [`plan::pair_table_len`].
    pub const fn pair_table_len(&self) -> usize {
        self.pair_table_len
    }

    /// Arena values of row-streaming execution at `L = pair_len()`
    /// ([`Model::stream_arena_len`](crate::Model::stream_arena_len)): the features, the
    /// rings and the token-pair table.
    pub const fn stream_arena_len(&self) -> usize {
        plan::stream_arena_len(self.pair_len, self.feature_dim, self.ring_len) + self.pair_table_len
    }

    /// Arena values of whole-map execution at `L = pair_len()`
    /// ([`Model::arena_len`](crate::Model::arena_len)): the features and the maps, and for a
    /// scores head two vectors after them.
    pub const fn arena_len(&self) -> usize {
        plan::model_arena_len(
            self.pair_len,
            self.feature_dim,
            self.max_channels,
            self.slots,
        ) + 2 * self.vector_len
    }

    /// Scratch values of the widest layer ([`Model::scratch_len`](crate::Model::scratch_len)).
    pub const fn scratch_len(&self) -> usize {
        self.scratch_len
    }

    /// Values of the packed `L×L` logit (or probability) triangle at `L = pair_len()`.
    pub const fn logits_len(&self) -> usize {
        tri_len(self.pair_len)
    }
}
