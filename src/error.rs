//! The one error type of the runtime.

/// Which caller-owned buffer an [`Error::BufferTooSmall`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Buffer {
    /// The activation arena (features and maps, or rings of rows):
    /// [`ModelInfo::stream_arena_len`](crate::model::ModelInfo::stream_arena_len) or
    /// [`arena_len`](crate::model::ModelInfo::arena_len).
    Arena,
    /// The conv scratch: [`ModelInfo::scratch_len`](crate::model::ModelInfo::scratch_len).
    Scratch,
    /// The pair probabilities: [`ModelInfo::logits_len`](crate::model::ModelInfo::logits_len).
    Probs,
    /// A packed pair map passed in or out (logits, a layer's output).
    Map,
    /// A layer's input vector or features.
    Input,
    /// A layer's output vector.
    Output,
    /// The nested decoder's table:
    /// [`nested_table_len`](crate::decode::nested_table_len).
    Decoder,
}

impl Buffer {
    /// Its name in messages.
    pub const fn name(self) -> &'static str {
        match self {
            Buffer::Arena => "arena",
            Buffer::Scratch => "scratch",
            Buffer::Probs => "probabilities",
            Buffer::Map => "pair map",
            Buffer::Input => "input",
            Buffer::Output => "output",
            Buffer::Decoder => "decoder table",
        }
    }
}

/// Everything that can go wrong in the runtime.
///
/// Every fallible function returns this instead of panicking. It is `Copy` and small, so it can
/// be logged from an interrupt or sent over a wire. With the `defmt` feature it derives
/// `defmt::Format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// Kernel size is not one of 1, 3, 5 or 7.
    UnsupportedKernelSize,
    /// Dilation is zero or above [`MAX_DILATION`](crate::blob::MAX_DILATION) (version 1
    /// blobs: not 1, 2 or 4).
    UnsupportedDilation,
    /// A channel count is zero or larger than [`MAX_CHANNELS`](crate::MAX_CHANNELS).
    BadChannelCount,
    /// The channel involution is malformed (a zero-sized segment) or covers a different number
    /// of channels than the layer's input.
    BadInvolution,
    /// The input's channel involution differs from the one the layer's kernels were packed for.
    InvolutionMismatch,
    /// The input has a different number of channels than the layer expects.
    ChannelMismatch,
    /// A weight slice does not have the packed length the layer geometry implies.
    WeightLength,
    /// A bias slice does not have one entry per output channel.
    BiasLength,
    /// A quantization slice (multipliers or shifts) does not have one entry per output channel.
    QuantLength,
    /// An int8 weight is -128; the TFLite spec keeps symmetric weights in [-127, 127].
    WeightOutOfRange,
    /// A requantization shift is outside [-31, 30], or a multiplier is negative.
    BadRequantization,
    /// An activation range has `min > max`, or an int8 zero point is outside [-128, 127].
    BadQuantRange,
    /// A residual add's rescale table (format 4) holds a value its add would not compute.
    BadAddTable,
    /// A caller-provided buffer is shorter than the size the matching `const fn` gives.
    BufferTooSmall {
        /// Which buffer.
        buffer: Buffer,
        /// Values it needs at least.
        needed: u32,
    },
    /// The sequence (or the active length) is longer than the compile-time pair length `L`.
    SequenceTooLong,
    /// The sequence is empty.
    EmptySequence,
    /// The sequence holds a character other than A, C, G, U, T or N (either case).
    InvalidBase {
        /// 0-based position of the offending character.
        position: u16,
    },
    /// The pair-feature layout uses a segment that cannot be built from per-position features,
    /// or whose size disagrees with the feature dimension.
    UnsupportedPairFeature,
    /// A residual or pooling operand has a different shape from its partner.
    ShapeMismatch,
    /// The blob does not start with the magic bytes `SCNN`.
    BadMagic,
    /// The blob's format version is not one this runtime reads.
    UnsupportedVersion {
        /// The version the blob declares.
        found: u16,
    },
    /// The blob is shorter or longer than its header says (truncated or padded).
    BadLength,
    /// The blob's CRC-32 does not match its contents.
    BadChecksum,
    /// The header's precision field is neither int8 nor f32.
    BadPrecision,
    /// The layer count is zero or above [`MAX_LAYERS`](crate::MAX_LAYERS).
    BadLayerCount,
    /// The feature dimension is zero or above [`MAX_FEATURE_DIM`](crate::blob::MAX_FEATURE_DIM)
    /// (16 in version 1 blobs).
    BadFeatureDim,
    /// The vocabulary is empty, or an alphabet entry is malformed or names a token outside it.
    BadVocabulary,
    /// The application tag is unknown.
    BadApp,
    /// A symbol of the text is not in the model's alphabet (for RNA models:
    /// [`InvalidBase`](Error::InvalidBase)).
    InvalidSymbol {
        /// 0-based position of the offending symbol.
        position: u16,
    },
    /// A token is not below the model's vocabulary size.
    TokenOutOfRange {
        /// 0-based position of the offending token.
        position: u16,
    },
    /// The blob's pair length is zero or larger than the firmware's compile-time `L`.
    PairLenTooLarge,
    /// A pair-feature segment record has an unknown kind or a wrong size.
    BadSegment,
    /// A section offset or length points outside the blob, is misaligned, or overlaps.
    BadOffset,
    /// A layer record has an unknown kind.
    BadLayerKind,
    /// A layer record has an unknown activation.
    BadActivation,
    /// A residual source is not an earlier layer, has a different channel count, or two
    /// skip connections overlap.
    BadResidual,
    /// The head is malformed: a pair-map model must end in a one-channel conv, a pooled
    /// model in a scores layer, with nothing after it.
    BadHead,
    /// A reserved field is not zero.
    NonZeroReserved,
    /// A float weight, bias or scale is NaN or infinite, or a scale is not positive.
    NonFinite,
    /// A conv's padding code is unknown, or a pair-map model uses valid padding, or the
    /// valid convs need more positions than the pair length.
    BadPadding,
    /// A blob's side table is empty, or there is more than one.
    BadSide,
    /// The sequence is shorter than the model's valid convs need.
    SequenceTooShort,
    /// A side token is missing, outside the side table, or given to a model without one.
    BadSideToken,
    /// The predict function does not fit the model's head (a pair map or scores).
    WrongHead,
}

impl Error {
    /// [`Error::BufferTooSmall`] for `buffer`, which needs `needed` values.
    pub const fn too_small(buffer: Buffer, needed: usize) -> Self {
        Error::BufferTooSmall {
            buffer,
            needed: if needed > u32::MAX as usize {
                u32::MAX
            } else {
                needed as u32
            },
        }
    }

    /// What went wrong, in a few words (the [`Display`](core::fmt::Display) text without the
    /// numbers some variants carry). A `const fn`, so a blob rejected at compile time by
    /// [`ModelInfo::parse`](crate::model::ModelInfo::parse) fails the build with it.
    pub const fn message(&self) -> &'static str {
        match self {
            Error::UnsupportedKernelSize => "kernel size must be 1, 3, 5 or 7",
            Error::UnsupportedDilation => "dilation must be 1 ..= 16 (1, 2 or 4 in format 1)",
            Error::BadChannelCount => "channel count is zero or too large",
            Error::BadInvolution => "channel involution is malformed or has the wrong size",
            Error::InvolutionMismatch => "input involution differs from the layer's",
            Error::ChannelMismatch => "input channel count differs from the layer's",
            Error::WeightLength => "weight slice has the wrong packed length",
            Error::BiasLength => "bias slice needs one entry per output channel",
            Error::QuantLength => "quantization slices need one entry per output channel",
            Error::WeightOutOfRange => "int8 weight -128 is outside [-127, 127]",
            Error::BadRequantization => "requantization shift or multiplier out of range",
            Error::BadQuantRange => "activation range or zero point out of range",
            Error::BadAddTable => "residual-add rescale table disagrees with its add",
            Error::BufferTooSmall { .. } => "buffer is smaller than its const fn size",
            Error::SequenceTooLong => "sequence is longer than the pair length L",
            Error::EmptySequence => "sequence is empty",
            Error::InvalidBase { .. } => "invalid base (allowed: ACGUTN)",
            Error::UnsupportedPairFeature => "pair-feature segment unsupported for this input",
            Error::ShapeMismatch => "operands have different shapes",
            Error::BadMagic => "not an scnn blob (bad magic)",
            Error::UnsupportedVersion { .. } => "unsupported blob format version",
            Error::BadLength => "blob length disagrees with its header (truncated?)",
            Error::BadChecksum => "blob CRC-32 mismatch (corrupted)",
            Error::BadPrecision => "blob precision field is invalid",
            Error::BadLayerCount => "blob layer count is zero or too large",
            Error::BadFeatureDim => "blob feature dimension is zero or too large",
            Error::BadVocabulary => "blob vocabulary is empty or its alphabet is malformed",
            Error::BadApp => "blob application tag is unknown",
            Error::InvalidSymbol { .. } => "symbol not in the model's alphabet",
            Error::TokenOutOfRange { .. } => "token outside the model's vocabulary",
            Error::PairLenTooLarge => "blob pair length is zero or exceeds the firmware's L",
            Error::BadSegment => "blob pair-feature segment is invalid",
            Error::BadOffset => "blob section offset or length is out of bounds",
            Error::BadLayerKind => "blob layer kind is unknown",
            Error::BadActivation => "blob activation is unknown",
            Error::BadResidual => "blob residual source is invalid",
            Error::BadHead => "blob's head is malformed (one-channel conv or a scores layer last)",
            Error::NonZeroReserved => "blob reserved field is not zero",
            Error::NonFinite => "blob holds a NaN, infinite or non-positive scale or weight",
            Error::BadPadding => "blob conv padding is unknown or does not fit the model",
            Error::BadSide => "blob side table is empty or there is more than one",
            Error::SequenceTooShort => "sequence is shorter than the model's valid convs need",
            Error::BadSideToken => "side token is missing, out of range or not expected",
            Error::WrongHead => "this predict function does not fit the model's head",
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::InvalidBase { position } => {
                // Positions are 1-based in messages, as people and the CLI count them.
                write!(
                    f,
                    "invalid base at position {} (allowed: ACGUTN)",
                    *position as u32 + 1
                )
            }
            Error::UnsupportedVersion { found } => write!(
                f,
                "unsupported blob format version {found} (this runtime reads {} to {})",
                crate::blob::FORMAT_V1,
                crate::blob::FORMAT_VERSION
            ),
            Error::BufferTooSmall { buffer, needed } => write!(
                f,
                "the {} buffer is too small: it needs {needed} values",
                buffer.name()
            ),
            Error::InvalidSymbol { position } => {
                write!(
                    f,
                    "symbol at position {} is not in the model's alphabet",
                    *position as u32 + 1
                )
            }
            Error::TokenOutOfRange { position } => {
                write!(
                    f,
                    "token at position {} is outside the model's vocabulary",
                    *position as u32 + 1
                )
            }
            other => f.write_str(other.message()),
        }
    }
}

impl core::error::Error for Error {}
