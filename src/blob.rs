//! The packed model blob, format versions 1, 2 and 3: constants, field layout and the parsing of
//! its fixed-size records. The full specification is in `tools/BLOB_FORMAT.md`;
//! [`Model::from_bytes`](crate::Model::from_bytes) validates a blob against it.
//!
//! Everything is little-endian. Sections start on 4-byte boundaries, so a blob that is itself
//! 4-byte aligned in memory (see [`AlignedBlob`]) is read in place: int8 weights as `&[i8]`,
//! int32 and f32 arrays as `&[i32]` and `&[f32]`, with no copy into RAM.

use crate::quant::Activation;
use crate::Error;

#[cfg(target_endian = "big")]
compile_error!("scnn reads its little-endian blobs in place; big-endian targets are not supported");

/// The first four bytes of every blob.
pub const MAGIC: [u8; 4] = *b"SCNN";

/// The newest format version; this runtime reads it, [`FORMAT_V4`], [`FORMAT_V3`],
/// [`FORMAT_V2`] and [`FORMAT_V1`]. The tools write the oldest version that can hold a model,
/// so a pair-map model stays readable by format 2 firmware.
///
/// Version 5 adds the sequence-separation pair feature: segment kind
/// [`SEGMENT_SEPARATION`], whose size field is its number of bins.
pub const FORMAT_VERSION: u16 = 5;
/// The fourth format.
///
/// Version 4 adds the residual add's rescale tables: after an int8 add block, each input's
/// rescaled value for every int8 value ([`I8_ADD_TABLE_WORDS`]), kept in flash so an add
/// costs two table reads instead of two requantizations.
pub const FORMAT_V4: u16 = 4;
/// The third format.
///
/// Version 3 adds pooled models: valid padding for the conv (the layer record's option field),
/// the layer kinds pool, dense, side table and scores, and the activations tanh and sigmoid on
/// dense layers.
pub const FORMAT_V3: u16 = 3;
/// The second format.
///
/// Version 2 adds a token vocabulary of any size (`vocab_size × D` embedding rows) with an
/// alphabet (symbol → token) and an application tag, feature dimensions up to
/// [`MAX_FEATURE_DIM`], and dilations up to [`MAX_DILATION`].
///
/// Bump it for any change an older loader would misread: a field moved, resized or given a
/// new meaning, a new enum value (layer kind, activation, segment kind, precision), or a
/// reserved field put to use. Loaders reject every version they do not know, so an old
/// firmware refuses a new blob with [`Error::UnsupportedVersion`] instead of running it
/// wrongly. Adding a new CLI-side convenience that leaves the bytes unchanged needs no bump.
pub const FORMAT_V2: u16 = 2;
/// The first format: RNA letters only (5 embedding rows A, C, G, U, N), `D <= 16`, dilations
/// 1, 2, 4. Still read.
pub const FORMAT_V1: u16 = 1;

/// Largest per-position feature dimension of a version 2 blob (16 in version 1).
pub const MAX_FEATURE_DIM: usize = 256;
/// Largest feature dimension of a version 1 blob.
pub const MAX_FEATURE_DIM_V1: usize = 16;
/// Largest dilation of a version 2 blob (version 1: 1, 2 or 4).
pub const MAX_DILATION: usize = 16;
/// Bytes of one alphabet entry: symbol `u8`, reserved `u8` (0), token `u16`.
pub const ALPHABET_ENTRY_LEN: usize = 4;

/// Bytes in the header.
pub const HEADER_LEN: usize = 64;
/// Bytes in one pair-feature segment record.
pub const SEGMENT_RECORD_LEN: usize = 4;
/// Bytes in one layer record.
pub const LAYER_RECORD_LEN: usize = 32;
/// Bytes of the trailing CRC-32.
pub const CRC_LEN: usize = 4;
/// The residual field of a layer without a skip connection.
pub const NO_RESIDUAL: u16 = 0xFFFF;
/// Alignment of every section.
pub const ALIGN: usize = 4;
/// 32-bit words of int8 layer parameters after the three per-channel arrays.
pub const I8_CONV_TAIL_WORDS: usize = 4;
/// 32-bit words of an int8 residual-add block.
pub const I8_ADD_WORDS: usize = 12;
/// 32-bit words of an int8 residual add's rescale tables (version 4): the first input's
/// rescaled value for `q = -128 ..= 127`, then the second input's
/// ([`AddQuant::rescale_tables`](crate::layers::AddQuant::rescale_tables)).
pub const I8_ADD_TABLE_WORDS: usize = 512;
/// 32-bit words of a dense layer's int8 tanh or sigmoid: multiplier, shift, radius.
pub const I8_CURVE_WORDS: usize = 3;
/// 32-bit words of an int8 side-table layer: multiplier, shift, output zero point, scale.
pub const I8_SIDE_WORDS: usize = 4;
/// 32-bit words of an int8 scores layer after its biases: the score scale.
pub const I8_SCORES_TAIL_WORDS: usize = 1;

/// Byte offsets of the header fields.
pub mod header {
    /// `[u8; 4]` magic.
    pub const MAGIC: usize = 0;
    /// `u16` format version.
    pub const VERSION: usize = 4;
    /// `u16` header length (64).
    pub const HEADER_LEN: usize = 6;
    /// `u32` total blob length, CRC included.
    pub const TOTAL_LEN: usize = 8;
    /// `u8` precision: 0 int8, 1 f32.
    pub const PRECISION: usize = 12;
    /// `u8` layer count.
    pub const LAYER_COUNT: usize = 13;
    /// Version 1: `u8` per-position feature dimension.
    pub const FEATURE_DIM: usize = 14;
    /// Version 2: `u8` application tag ([`super::App`]).
    pub const APP: usize = 14;
    /// `u8` pair-feature segment count.
    pub const SEGMENT_COUNT: usize = 15;
    /// `u16` pair length `L` the model was built for.
    pub const PAIR_LEN: usize = 16;
    /// Version 1: `u16` reserved, zero.
    pub const RESERVED_A: usize = 18;
    /// Version 2: `u16` per-position feature dimension `D`.
    pub const FEATURE_DIM_V2: usize = 18;
    /// `u32` offset of the segment records.
    pub const SEGMENTS_OFFSET: usize = 20;
    /// `u32` offset of the embedding table.
    pub const EMBEDDING_OFFSET: usize = 24;
    /// `u32` offset of the layer records.
    pub const LAYERS_OFFSET: usize = 28;
    /// `f32` scale of the features and pair tensor (1.0 in f32 blobs).
    pub const INPUT_SCALE: usize = 32;
    /// `i32` zero point of the features and pair tensor (0 in f32 blobs).
    pub const INPUT_ZERO_POINT: usize = 36;
    /// `i32` Q31 multiplier of outer-product channels.
    pub const PRODUCT_MULTIPLIER: usize = 40;
    /// `i32` shift of outer-product channels.
    pub const PRODUCT_SHIFT: usize = 44;
    /// `f32` scale of the logits (1.0 in f32 blobs).
    pub const LOGIT_SCALE: usize = 48;
    /// `i32` zero point of the logits (0 in f32 blobs).
    pub const LOGIT_ZERO_POINT: usize = 52;
    /// Version 1: 8 reserved bytes, zero.
    pub const RESERVED_B: usize = 56;
    /// Version 2: `u16` vocabulary size `V` (embedding rows).
    pub const VOCAB_SIZE: usize = 56;
    /// Version 2: `u16` alphabet entries (0: the caller supplies tokens).
    pub const ALPHABET_LEN: usize = 58;
    /// Version 2: `u32` offset of the alphabet entries.
    pub const ALPHABET_OFFSET: usize = 60;
}

/// What a model is for: which tokenizer and decoder the tools and boards put around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum App {
    /// No application layer: tokens in, the head's output out. Code 0.
    Generic,
    /// RNA secondary structure: bases in, base pairs out. Code 1 (every version 1 blob).
    Rna,
    /// Protein contact map: amino acids in, residue contacts out. Code 2.
    Protein,
    /// Sequential recommendation: item ids in, item scores out. Code 3.
    Items,
}

impl App {
    /// The header code.
    pub const fn code(self) -> u8 {
        match self {
            App::Generic => 0,
            App::Rna => 1,
            App::Protein => 2,
            App::Items => 3,
        }
    }

    /// Reads a header code.
    pub const fn from_code(code: u8) -> Result<Self, Error> {
        match code {
            0 => Ok(App::Generic),
            1 => Ok(App::Rna),
            2 => Ok(App::Protein),
            3 => Ok(App::Items),
            _ => Err(Error::BadApp),
        }
    }

    /// Its name in reports.
    pub const fn name(self) -> &'static str {
        match self {
            App::Generic => "generic",
            App::Rna => "rna",
            App::Protein => "protein",
            App::Items => "items",
        }
    }
}

/// Byte offsets of the fields of a layer record.
pub mod layer {
    /// `u8` kind: 1 symmetric conv, 2 pool, 3 dense, 4 side table, 5 scores.
    pub const KIND: usize = 0;
    /// `u8` activation: 0 none, 1 ReLU, 2 ReLU6 (after the residual add, if any).
    pub const ACTIVATION: usize = 1;
    /// `u8` kernel size.
    pub const KERNEL: usize = 2;
    /// `u8` dilation.
    pub const DILATION: usize = 3;
    /// `u16` input channels.
    pub const IN_CHANNELS: usize = 4;
    /// `u16` output channels.
    pub const OUT_CHANNELS: usize = 6;
    /// `u16` index of the earlier layer whose output is added, or [`super::NO_RESIDUAL`].
    pub const RESIDUAL: usize = 8;
    /// `u16` reserved, zero, in formats 1 and 2; the kind's option in format 3 ([`OPTION`]).
    pub const RESERVED_A: usize = 10;
    /// Format 3: `u16` option of the kind: the conv's padding ([`super::PADDING_SAME`],
    /// [`super::PADDING_VALID`]), the pool's function ([`super::POOL_AVG`],
    /// [`super::POOL_MAX`]), the side table's rows; zero for dense and scores layers.
    pub const OPTION: usize = 10;
    /// `u32` offset of the packed weights.
    pub const WEIGHTS_OFFSET: usize = 12;
    /// `u32` byte length of the packed weights.
    pub const WEIGHTS_LEN: usize = 16;
    /// `u32` offset of the parameters (bias, quantization).
    pub const PARAMS_OFFSET: usize = 20;
    /// `u32` byte length of the parameters.
    pub const PARAMS_LEN: usize = 24;
    /// `u32` reserved, zero.
    pub const RESERVED_B: usize = 28;
}

/// Number type of a blob's weights and activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Precision {
    /// int8 weights and activations (TFLite spec), code 0.
    Int8,
    /// f32 weights and activations, for cores with an FPU, code 1.
    F32,
}

impl Precision {
    /// The header code.
    pub const fn code(self) -> u8 {
        match self {
            Precision::Int8 => 0,
            Precision::F32 => 1,
        }
    }

    /// Reads a header code.
    pub const fn from_code(code: u8) -> Result<Self, Error> {
        match code {
            0 => Ok(Precision::Int8),
            1 => Ok(Precision::F32),
            _ => Err(Error::BadPrecision),
        }
    }
}

/// Activation codes of layer records.
pub const fn activation_code(activation: Activation) -> u8 {
    match activation {
        Activation::None => 0,
        Activation::Relu => 1,
        Activation::Relu6 => 2,
    }
}

/// Reads an activation code.
pub const fn activation_from_code(code: u8) -> Result<Activation, Error> {
    match code {
        0 => Ok(Activation::None),
        1 => Ok(Activation::Relu),
        2 => Ok(Activation::Relu6),
        _ => Err(Error::BadActivation),
    }
}

/// Segment kind codes: 1 outer concatenation (swap halves), 2 outer product (transpose),
/// 3 sequence separation (format 5).
pub const SEGMENT_CONCAT: u8 = 1;
/// See [`SEGMENT_CONCAT`].
pub const SEGMENT_OUTER: u8 = 2;
/// See [`SEGMENT_CONCAT`]: one-hot bins of `|i − j|` ([`crate::generate::separation_bin`]),
/// the record's size field holding the bin count, 1 ..= [`MAX_SEPARATION_BINS`].
pub const SEGMENT_SEPARATION: u8 = 3;
/// Most bins of a separation segment.
pub const MAX_SEPARATION_BINS: u16 = 32;
/// Layer kind code of the symmetric conv.
pub const LAYER_CONV: u8 = 1;
/// Layer kind code of the global pool over the triangle (format 3).
pub const LAYER_POOL: u8 = 2;
/// Layer kind code of the dense (fully connected) layer (format 3).
pub const LAYER_DENSE: u8 = 3;
/// Layer kind code of the side-table concatenation (format 3).
pub const LAYER_SIDE: u8 = 4;
/// Layer kind code of the scores head (format 3).
pub const LAYER_SCORES: u8 = 5;
/// Conv option: zero 'same' padding, the map keeps its size.
pub const PADDING_SAME: u16 = 0;
/// Conv option: 'valid' padding, the map shrinks by `(k − 1)·d`.
pub const PADDING_VALID: u16 = 1;
/// Pool option: the mean.
pub const POOL_AVG: u16 = 0;
/// Pool option: the maximum.
pub const POOL_MAX: u16 = 1;
/// Dense activation code of tanh (format 3; codes 0–2 are [`activation_code`]'s).
pub const ACTIVATION_TANH: u8 = 3;
/// Dense activation code of the sigmoid (format 3).
pub const ACTIVATION_SIGMOID: u8 = 4;

/// The CRC-32 used by blobs (ISO-HDLC, the one of zlib and PNG).
pub const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// CRC-32 of `bytes`.
pub fn checksum(bytes: &[u8]) -> u32 {
    CRC32.checksum(bytes)
}

/// Bounds-checked little-endian reads.
pub(crate) fn bytes_at<const N: usize>(bytes: &[u8], offset: usize) -> Result<[u8; N], Error> {
    let end = offset.checked_add(N).ok_or(Error::BadLength)?;
    let slice = bytes.get(offset..end).ok_or(Error::BadLength)?;
    let mut out = [0u8; N];
    out.copy_from_slice(slice);
    Ok(out)
}

pub(crate) fn u8_at(bytes: &[u8], offset: usize) -> Result<u8, Error> {
    bytes.get(offset).copied().ok_or(Error::BadLength)
}

pub(crate) fn u16_at(bytes: &[u8], offset: usize) -> Result<u16, Error> {
    Ok(u16::from_le_bytes(bytes_at(bytes, offset)?))
}

pub(crate) fn u32_at(bytes: &[u8], offset: usize) -> Result<u32, Error> {
    Ok(u32::from_le_bytes(bytes_at(bytes, offset)?))
}

pub(crate) fn i32_at(bytes: &[u8], offset: usize) -> Result<i32, Error> {
    Ok(i32::from_le_bytes(bytes_at(bytes, offset)?))
}

pub(crate) fn f32_at(bytes: &[u8], offset: usize) -> Result<f32, Error> {
    Ok(f32::from_le_bytes(bytes_at(bytes, offset)?))
}

/// A byte array with 4-byte alignment, so a blob embedded in flash can be read in place:
///
/// ```
/// static BLOB: &scnn::blob::AlignedBlob<[u8]> =
///     &scnn::blob::AlignedBlob(*include_bytes!("../tools/models/example.scnn"));
/// assert_eq!(BLOB.0.as_ptr() as usize % 4, 0);
/// ```
#[repr(C, align(4))]
pub struct AlignedBlob<T: ?Sized>(pub T);
