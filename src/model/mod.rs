//! A validated model read in place from a blob, and inference over caller-owned buffers.

use crate::alphabet::Alphabet;
use crate::blob::App;
use crate::blob::{
    activation_from_code, f32_at, header as h, i32_at, layer as lr, u16_at, u32_at, u8_at,
    Precision, ALIGN, CRC_LEN, HEADER_LEN, I8_ADD_TABLE_WORDS, I8_ADD_WORDS, I8_CONV_TAIL_WORDS,
    LAYER_CONV, LAYER_RECORD_LEN, NO_RESIDUAL, PADDING_VALID, SEGMENT_CONCAT, SEGMENT_OUTER,
    SEGMENT_RECORD_LEN,
};
use crate::conv::{ConvF32, ConvGeom, ConvI8, OutputQuant, Padding};
use crate::generate::PairFeaturesI8;
use crate::involution::{Involution, Segment};
use crate::layers::{residual_add_i8, residual_add_i8_tables, AddQuant, AddTables};
use crate::params::OutputTail;
use crate::quant::{check_zero_point, Activation, Requant};
use crate::seq::Embedding;
use crate::tri::{map_len, tri_len};
use crate::{Buffer, Error, MAX_LAYERS};

mod info;
mod map;
mod pooled;
mod streaming;

pub use info::{Head, ModelInfo};
pub use pooled::{DenseActivation, DenseI8, PoolKind, ScoresI8, SideI8, VectorLayer, VectorParams};
pub use streaming::Stage;

/// Largest per-position feature dimension a blob may declare (format 2; 16 in format 1).
pub const MAX_FEATURE_DIM: usize = crate::blob::MAX_FEATURE_DIM;
/// Largest number of pair-feature segments a blob may declare.
pub const MAX_SEGMENTS: usize = 4;

/// int8 parameters of one layer, read in place.
#[derive(Clone, Copy, Debug)]
pub struct LayerI8<'a> {
    /// Packed weights.
    pub weights: &'a [i8],
    /// Bias per output channel.
    pub bias: &'a [i32],
    /// Requantization multipliers per output channel.
    pub multipliers: &'a [i32],
    /// Requantization shifts per output channel.
    pub shifts: &'a [i32],
    /// Zero point of the conv output.
    pub conv_zero_point: i32,
    /// Clamp of the conv output.
    pub conv_range: (i8, i8),
    /// Scale of the conv output.
    pub conv_scale: f32,
    /// The residual add and the scale of its output, when the layer has a skip connection.
    pub add: Option<(AddQuant, f32)>,
    /// The add's rescale tables, when the blob stores them (format 4).
    pub add_tables: Option<AddTables<'a>>,
}

impl<'a> LayerI8<'a> {
    /// Requantization and clamp of the conv's output, as the int8 conv takes them.
    pub fn conv_quant(&self) -> OutputQuant<'a> {
        OutputQuant {
            multipliers: self.multipliers,
            shifts: self.shifts,
            zero_point: self.conv_zero_point,
            act_min: self.conv_range.0,
            act_max: self.conv_range.1,
        }
    }

    /// Adds the skip connection's `skip` to `acc` (this layer's conv output, the same
    /// shape): through the rescale tables when the blob has them, else computing each
    /// rescale. Does nothing for a layer without a residual add.
    pub fn add_residual(&self, acc: &mut [i8], skip: &[i8]) -> Result<(), Error> {
        match (&self.add, &self.add_tables) {
            (Some((add, _)), Some(tables)) => residual_add_i8_tables(acc, skip, add, tables),
            (Some((add, _)), None) => residual_add_i8(acc, skip, add),
            (None, _) => Ok(()),
        }
    }

    /// Scale and zero point of the layer's output (after the residual add, if any).
    pub fn output_quant(&self) -> (f32, i32) {
        match self.add {
            Some((add, scale)) => (scale, add.out_zero_point),
            None => (self.conv_scale, self.conv_zero_point),
        }
    }
}

/// f32 parameters of one layer, read in place.
#[derive(Clone, Copy, Debug)]
pub struct LayerF32<'a> {
    /// Packed weights.
    pub weights: &'a [f32],
    /// Bias per output channel.
    pub bias: &'a [f32],
}

/// The weights of a layer in the blob's precision.
#[derive(Clone, Copy, Debug)]
pub enum LayerParams<'a> {
    /// int8 layer.
    I8(LayerI8<'a>),
    /// f32 layer.
    F32(LayerF32<'a>),
}

/// One layer of a model: a symmetric conv, optionally followed by a residual add, then an
/// activation.
#[derive(Clone, Copy, Debug)]
pub struct Layer<'a> {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel size.
    pub kernel: usize,
    /// Dilation.
    pub dilation: usize,
    /// Same or valid padding.
    pub padding: Padding,
    /// Activation, applied after the residual add if there is one.
    pub activation: Activation,
    /// Index of the earlier layer whose output is added.
    pub residual: Option<usize>,
    /// Weights and quantization.
    pub params: LayerParams<'a>,
}

/// Input embedding and pair features of a model.
#[derive(Clone, Copy, Debug)]
pub enum EmbeddingTable<'a> {
    /// int8 table with the features' scale and zero point, and the outer-product requantization.
    I8 {
        /// `vocab_size × dim` values, a row per token.
        table: &'a [i8],
        /// Scale of features and pair tensor.
        scale: f32,
        /// Zero point of features and pair tensor.
        zero_point: i32,
        /// Requantization of outer-product channels.
        product: Requant,
    },
    /// f32 table.
    F32(&'a [f32]),
}

/// Caller-owned buffers of one inference. Size them with [`Model::arena_len`],
/// [`Model::scratch_len`] and [`tri_len`]`(L)`, or at compile time with
/// [`plan::model_arena_len`](crate::plan::model_arena_len) and friends.
pub struct Buffers<'b, T, S> {
    /// Per-position features followed by the activation maps.
    pub arena: &'b mut [T],
    /// One conv's pre-added input patch.
    pub scratch: &'b mut [S],
    /// The output: pair probabilities as a packed `L×L` triangle; masked pairs are 0.
    pub probs: &'b mut [f32],
}

/// What a model runs on: text, read through the model's alphabet, or tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sequence<'s> {
    /// Symbols of the model's alphabet (for RNA: A, C, G, U, T, N in either case).
    Text(&'s [u8]),
    /// Token ids below the model's vocabulary size.
    Tokens(&'s [u16]),
}

impl<'s> From<&'s [u8]> for Sequence<'s> {
    fn from(text: &'s [u8]) -> Self {
        Sequence::Text(text)
    }
}

impl<'s, const N: usize> From<&'s [u8; N]> for Sequence<'s> {
    fn from(text: &'s [u8; N]) -> Self {
        Sequence::Text(text)
    }
}

impl<'s> From<&'s [u16]> for Sequence<'s> {
    fn from(tokens: &'s [u16]) -> Self {
        Sequence::Tokens(tokens)
    }
}

impl<'s, const N: usize> From<&'s [u16; N]> for Sequence<'s> {
    fn from(tokens: &'s [u16; N]) -> Self {
        Sequence::Tokens(tokens)
    }
}

impl<'s> From<&'s str> for Sequence<'s> {
    fn from(text: &'s str) -> Self {
        Sequence::Text(text.as_bytes())
    }
}

/// A model validated against the firmware's pair length `L`. Weights stay in the blob.
#[derive(Clone, Debug)]
pub struct Model<'a, const L: usize> {
    precision: Precision,
    pair_len: usize,
    feature_dim: usize,
    alphabet: Alphabet<'a>,
    segments: heapless::Vec<Segment, MAX_SEGMENTS>,
    embedding: EmbeddingTable<'a>,
    /// The whole blob: layer records are read from it when needed, so the model stays small.
    bytes: &'a [u8],
    layers_offset: usize,
    layer_count: usize,
    logit_quant: (f32, i32),
    info: ModelInfo,
}

/// A section of the blob: offset and length, checked to lie inside the payload.
fn section(bytes: &[u8], offset: u32, len: usize, payload_end: usize) -> Result<&[u8], Error> {
    let offset = offset as usize;
    if !offset.is_multiple_of(ALIGN) || offset < HEADER_LEN {
        return Err(Error::BadOffset);
    }
    let end = offset.checked_add(len).ok_or(Error::BadOffset)?;
    if end > payload_end {
        return Err(Error::BadOffset);
    }
    bytes.get(offset..end).ok_or(Error::BadOffset)
}

fn cast<T: bytemuck::AnyBitPattern>(bytes: &[u8]) -> Result<&[T], Error> {
    bytemuck::try_cast_slice(bytes).map_err(|_| Error::BadOffset)
}

fn finite_scale(x: f32) -> Result<f32, Error> {
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(Error::NonFinite)
    }
}

fn parse_i8_params<'a>(
    params: &'a [u8],
    out: usize,
    residual: bool,
    (tables, check): (bool, bool),
) -> Result<LayerI8<'a>, Error> {
    let words = cast::<i32>(params)?;
    let add_words = match (residual, tables) {
        (false, _) => 0,
        (true, false) => I8_ADD_WORDS,
        (true, true) => I8_ADD_WORDS + I8_ADD_TABLE_WORDS,
    };
    let expected = 3 * out + I8_CONV_TAIL_WORDS + add_words;
    if words.len() != expected {
        return Err(Error::BadOffset);
    }
    let (bias, rest) = words.split_at_checked(out).ok_or(Error::BadOffset)?;
    let (multipliers, rest) = rest.split_at_checked(out).ok_or(Error::BadOffset)?;
    let (shifts, tail) = rest.split_at_checked(out).ok_or(Error::BadOffset)?;
    let conv = OutputTail::from_words(tail)?;
    let add = if residual {
        let block = tail.get(I8_CONV_TAIL_WORDS..).ok_or(Error::BadOffset)?;
        let (add, scale) = AddQuant::from_words(block)?;
        if add.a_zero_point != conv.zero_point {
            return Err(Error::BadQuantRange);
        }
        Some((add, scale))
    } else {
        None
    };
    let add_tables = match (&add, tables) {
        (Some((quant, _)), true) => {
            let table_words = tail
                .get(I8_CONV_TAIL_WORDS + I8_ADD_WORDS..)
                .ok_or(Error::BadOffset)?;
            Some(if check {
                AddTables::new(table_words, quant)?
            } else {
                AddTables::trusted(table_words)?
            })
        }
        _ => None,
    };
    Ok(LayerI8 {
        weights: &[],
        bias,
        multipliers,
        shifts,
        conv_zero_point: conv.zero_point,
        conv_range: (conv.act_min, conv.act_max),
        conv_scale: conv.scale,
        add,
        add_tables,
    })
}

/// How [`parse_layer`] reads a record.
#[derive(Clone, Copy)]
struct Read {
    /// The blob's format version.
    version: u16,
    /// Check every value (loading), or trust a blob [`Model::from_bytes`] has checked
    /// (inference, which reads each layer again for every row it streams).
    check: bool,
}

/// Reads and checks layer record at `at`: every field, its sections, and its weights and
/// quantization (by the kernels' own checks). Cross-layer rules are the caller's.
fn parse_layer<'a, 'i>(
    bytes: &'a [u8],
    at: usize,
    precision: Precision,
    payload_end: usize,
    expected_in: usize,
    involution: Involution<'i>,
    read: Read,
) -> Result<(Layer<'a>, ConvGeom<'i>), Error> {
    let end = at.checked_add(LAYER_RECORD_LEN).ok_or(Error::BadOffset)?;
    let record = bytes.get(at..end).ok_or(Error::BadOffset)?;
    if u8_at(record, lr::KIND)? != LAYER_CONV {
        return Err(Error::BadLayerKind);
    }
    if u32_at(record, lr::RESERVED_B)? != 0 {
        return Err(Error::NonZeroReserved);
    }
    let activation = activation_from_code(u8_at(record, lr::ACTIVATION)?)?;
    let kernel = u8_at(record, lr::KERNEL)? as usize;
    let dilation = u8_at(record, lr::DILATION)? as usize;
    let in_channels = u16_at(record, lr::IN_CHANNELS)? as usize;
    let out_channels = u16_at(record, lr::OUT_CHANNELS)? as usize;
    if in_channels != expected_in {
        return Err(Error::ChannelMismatch);
    }
    // ModelInfo has checked the code (and that it is 0 before format 3).
    let padding = if u16_at(record, lr::OPTION)? == PADDING_VALID {
        Padding::Valid
    } else {
        Padding::Same
    };
    let geom = ConvGeom::new(in_channels, out_channels, kernel, dilation, involution)?
        .with_padding(padding);
    let residual = match u16_at(record, lr::RESIDUAL)? {
        NO_RESIDUAL => None,
        s => Some(s as usize),
    };
    let elem = match precision {
        Precision::Int8 => 1,
        Precision::F32 => 4,
    };
    let weight_bytes = geom.weight_len() * elem;
    if u32_at(record, lr::WEIGHTS_LEN)? as usize != weight_bytes {
        return Err(Error::BadOffset);
    }
    let weight_raw = section(
        bytes,
        u32_at(record, lr::WEIGHTS_OFFSET)?,
        weight_bytes,
        payload_end,
    )?;
    let params_raw = section(
        bytes,
        u32_at(record, lr::PARAMS_OFFSET)?,
        u32_at(record, lr::PARAMS_LEN)? as usize,
        payload_end,
    )?;
    let params = match precision {
        Precision::Int8 => {
            let tables = read.version >= crate::blob::FORMAT_V4;
            let mut p = parse_i8_params(
                params_raw,
                out_channels,
                residual.is_some(),
                (tables, read.check),
            )?;
            p.weights = bytemuck::cast_slice(weight_raw);
            if read.check {
                ConvI8::new(geom, p.weights, p.bias, p.conv_quant())?;
            }
            LayerParams::I8(p)
        }
        Precision::F32 => {
            let weights: &[f32] = cast(weight_raw)?;
            let bias: &[f32] = cast(params_raw)?;
            if read.check {
                if weights.iter().chain(bias).any(|x| !x.is_finite()) {
                    return Err(Error::NonFinite);
                }
                ConvF32::new(geom, weights, bias, activation)?;
            }
            LayerParams::F32(LayerF32 { weights, bias })
        }
    };
    let layer = Layer {
        in_channels,
        out_channels,
        kernel,
        dilation,
        padding,
        activation,
        residual,
        params,
    };
    Ok((layer, geom))
}

/// Output channels of layer record `t` (the records were checked by [`ModelInfo`]).
fn parse_out_channels(bytes: &[u8], layers_offset: usize, t: usize) -> Result<usize, Error> {
    let at = layers_offset + t * LAYER_RECORD_LEN;
    Ok(u16_at(bytes, at + lr::OUT_CHANNELS)? as usize)
}

impl<'a, const L: usize> Model<'a, L> {
    /// Validates `bytes` completely (magic, version, length, CRC, every field, offset, size,
    /// channel count and quantization parameter) and reads the model in place.
    ///
    /// A blob that passes cannot make inference index out of bounds. A blob built for a pair
    /// length above `L` is [`Error::PairLenTooLarge`]. The bytes must be 4-byte aligned in
    /// memory (see [`AlignedBlob`](crate::blob::AlignedBlob)), else [`Error::BadOffset`].
    // Not inlined: its large locals then never add to the caller's stack frame.
    #[inline(never)]
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, Error> {
        Self::load(bytes, false)
    }

    /// Like [`from_bytes`](Self::from_bytes), but a pair-map model built for a pair length
    /// above `L` loads too, and serves sequences of up to `L`: for a host that sizes `L`, and
    /// so its buffers, to the sequences at hand rather than to the blob. A sequence's output
    /// does not depend on `L`. A model with a pooled head still needs `L` ≥ its pair length.
    #[inline(never)]
    pub fn from_bytes_up_to_l(bytes: &'a [u8]) -> Result<Self, Error> {
        Self::load(bytes, true)
    }

    fn load(bytes: &'a [u8], up_to_l: bool) -> Result<Self, Error> {
        // Identity, integrity and structure (the rules `ModelInfo` checks at compile time);
        // the values follow.
        let info = ModelInfo::try_parse(bytes)?;
        let capped = up_to_l && matches!(info.head(), Head::PairMap);
        if info.pair_len() > L && !capped {
            return Err(Error::PairLenTooLarge);
        }
        let payload_end = bytes.len() - CRC_LEN;

        let precision = info.precision();
        let layer_count = info.layer_count();
        let dim = info.feature_dim();
        let pair_len = info.pair_len().min(L);
        let segment_count = u8_at(bytes, h::SEGMENT_COUNT)? as usize;
        let records = section(
            bytes,
            u32_at(bytes, h::SEGMENTS_OFFSET)?,
            segment_count * SEGMENT_RECORD_LEN,
            payload_end,
        )?;
        let mut segments = heapless::Vec::new();
        for record in records.chunks_exact(SEGMENT_RECORD_LEN) {
            let d = u16_at(record, 2)?;
            let segment = match u8_at(record, 0)? {
                SEGMENT_CONCAT => Segment::SwapHalves(d),
                SEGMENT_OUTER => Segment::Transpose(d),
                crate::blob::SEGMENT_SEPARATION => Segment::Separation(d),
                _ => return Err(Error::BadSegment),
            };
            segments.push(segment).map_err(|_| Error::BadSegment)?;
        }
        let pair_channels = info.pair_channels();

        // Embedding and input quantization.
        let embedding_offset = u32_at(bytes, h::EMBEDDING_OFFSET)?;
        let input_scale = f32_at(bytes, h::INPUT_SCALE)?;
        let input_zero_point = i32_at(bytes, h::INPUT_ZERO_POINT)?;
        let product = Requant {
            multiplier: i32_at(bytes, h::PRODUCT_MULTIPLIER)?,
            shift: i32_at(bytes, h::PRODUCT_SHIFT)?,
        };
        let logit_scale = finite_scale(f32_at(bytes, h::LOGIT_SCALE)?)?;
        let logit_zero_point = i32_at(bytes, h::LOGIT_ZERO_POINT)?;
        check_zero_point(logit_zero_point)?;
        // An f32 model runs unquantized: the format fixes these fields to the identity.
        if precision == Precision::F32
            && (input_scale != 1.0
                || input_zero_point != 0
                || logit_scale != 1.0
                || logit_zero_point != 0)
        {
            return Err(Error::BadQuantRange);
        }
        let entries = info.vocab_size() * dim;
        let alphabet = match info.alphabet_section() {
            (_, 0) if info.format_version() == crate::blob::FORMAT_V1 => {
                Alphabet::Table(crate::apps::rna::ALPHABET)
            }
            (start, count) => Alphabet::Blob(
                bytes
                    .get(start..start + count * crate::blob::ALPHABET_ENTRY_LEN)
                    .ok_or(Error::BadOffset)?,
            ),
        };
        let embedding = match precision {
            Precision::Int8 => {
                check_zero_point(input_zero_point)?;
                product.check()?;
                let raw = section(bytes, embedding_offset, entries, payload_end)?;
                EmbeddingTable::I8 {
                    table: bytemuck::cast_slice(raw),
                    scale: finite_scale(input_scale)?,
                    zero_point: input_zero_point,
                    product,
                }
            }
            Precision::F32 => {
                let raw = section(bytes, embedding_offset, 4 * entries, payload_end)?;
                let table: &[f32] = cast(raw)?;
                if table.iter().any(|x| !x.is_finite()) {
                    return Err(Error::NonFinite);
                }
                EmbeddingTable::F32(table)
            }
        };

        // Layers: each record on its own, then what ties them together.
        let layers_offset = u32_at(bytes, h::LAYERS_OFFSET)?;
        section(
            bytes,
            layers_offset,
            layer_count * LAYER_RECORD_LEN,
            payload_end,
        )?;
        // Structure (channel chain, skip rules) is settled: check each layer's values, and
        // that each residual add's second zero point is its source's output zero point.
        let mut zero_points = [0i32; MAX_LAYERS];
        let mut last_zero_point = None;
        for t in 0..info.conv_count() {
            let (expected_in, involution) = match t.checked_sub(1) {
                None => (pair_channels, Involution::Segments(&segments)),
                Some(previous) => (
                    parse_out_channels(bytes, layers_offset as usize, previous)?,
                    Involution::Identity,
                ),
            };
            let (layer, _) = parse_layer(
                bytes,
                layers_offset as usize + t * LAYER_RECORD_LEN,
                precision,
                payload_end,
                expected_in,
                involution,
                Read {
                    version: info.format_version(),
                    check: true,
                },
            )?;
            let zero_point = match layer.params {
                LayerParams::I8(p) => {
                    if let (Some((add, _)), Some(s)) = (p.add, layer.residual) {
                        let source = zero_points.get(s).ok_or(Error::BadResidual)?;
                        if add.b_zero_point != *source {
                            return Err(Error::BadQuantRange);
                        }
                    }
                    p.output_quant().1
                }
                LayerParams::F32(_) => 0,
            };
            if let Some(slot) = zero_points.get_mut(t) {
                *slot = zero_point;
            }
            last_zero_point = Some((layer.out_channels, zero_point));
        }
        let Some((_, maps_zero_point)) = last_zero_point else {
            return Err(Error::BadLayerCount);
        };
        // The logit fields describe the pair-map head's output; a scores head gives its own.
        let logit_quant = match (precision, info.head()) {
            (Precision::Int8, Head::PairMap) => {
                if maps_zero_point != logit_zero_point {
                    return Err(Error::BadQuantRange);
                }
                (logit_scale, logit_zero_point)
            }
            _ => (1.0, 0),
        };
        let model = Self {
            precision,
            pair_len,
            feature_dim: dim,
            alphabet,
            segments,
            embedding,
            bytes,
            layers_offset: layers_offset as usize,
            layer_count,
            logit_quant,
            info,
        };
        // The layers after the pool: every value, and each input's zero point.
        let mut zero_point = maps_zero_point;
        for t in info.conv_count()..layer_count {
            zero_point = model.vector_layer(t, true)?.output_quant(zero_point).1;
        }
        Ok(model)
    }

    /// Number type of the model.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Longest sequence the model was built for (at most `L`).
    pub fn pair_len(&self) -> usize {
        self.pair_len
    }

    /// Per-position feature dimension.
    pub fn feature_dim(&self) -> usize {
        self.feature_dim
    }

    /// The pair-feature layout of the first layer's input.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The embedding table and input quantization.
    pub fn embedding(&self) -> &EmbeddingTable<'a> {
        &self.embedding
    }

    /// Number of layers: the convs, then for a scores head the pool and the layers after it.
    pub fn layer_count(&self) -> usize {
        self.layer_count
    }

    /// Number of conv layers (all of a pair-map model's layers).
    pub fn conv_count(&self) -> usize {
        self.info.conv_count()
    }

    /// What the model's last layer gives.
    pub fn head(&self) -> Head {
        self.info.head()
    }

    /// [`Error::WrongHead`] unless the model has a pair-map head.
    fn expect_pair_map(&self) -> Result<(), Error> {
        match self.info.head() {
            Head::PairMap => Ok(()),
            Head::Scores { .. } => Err(Error::WrongHead),
        }
    }

    /// Conv layer `t`, read from the blob (which [`Model::from_bytes`] has checked, so this
    /// only fails for `t >= conv_count()`).
    pub fn layer(&self, t: usize) -> Result<Layer<'a>, Error> {
        if t >= self.info.conv_count() {
            return Err(Error::BadLayerCount);
        }
        let (expected_in, involution) = match t.checked_sub(1) {
            None => (
                self.segments.iter().map(|s| s.channels()).sum(),
                Involution::Segments(&self.segments),
            ),
            Some(previous) => {
                let record = self.layers_offset + previous * LAYER_RECORD_LEN;
                let out = u16_at(self.bytes, record + lr::OUT_CHANNELS)? as usize;
                (out, Involution::Identity)
            }
        };
        let at = self.layers_offset + t * LAYER_RECORD_LEN;
        let payload_end = self.bytes.len() - CRC_LEN;
        let (layer, _) = parse_layer(
            self.bytes,
            at,
            self.precision,
            payload_end,
            expected_in,
            involution,
            // from_bytes checked every value of this very blob.
            Read {
                version: self.info.format_version(),
                check: false,
            },
        )?;
        Ok(layer)
    }

    /// The conv layers, first to last.
    pub fn layers(&self) -> impl Iterator<Item = Layer<'a>> + '_ {
        (0..self.info.conv_count()).filter_map(|t| self.layer(t).ok())
    }

    /// Scale and zero point of the int8 logits ((1.0, 0) for f32 models).
    pub fn logit_quant(&self) -> (f32, i32) {
        self.logit_quant
    }

    /// Activation maps alive at once: 2, or 3 with skip connections.
    pub fn slots(&self) -> usize {
        self.info.slots()
    }

    /// Widest layer output.
    pub fn max_channels(&self) -> usize {
        self.info.max_channels()
    }

    /// Arena values [`Buffers::arena`] needs: the features, then `slots` packed maps, and for
    /// a scores head two vectors of [`ModelInfo::vector_len`] values.
    pub fn arena_len(&self) -> usize {
        crate::plan::model_arena_len(L, self.feature_dim, self.max_channels(), self.slots())
            + 2 * self.info.vector_len()
    }

    /// Scratch values [`Buffers::scratch`] needs: the widest layer's patch, and for int8 models
    /// its weights widened for the SMLAD kernel.
    pub fn scratch_len(&self) -> usize {
        self.info.scratch_len()
    }

    /// Splits the arena into features and slots, checking every buffer.
    #[allow(clippy::type_complexity)]
    fn split<'b, T, S>(
        &self,
        buffers: &'b mut Buffers<'_, T, S>,
    ) -> Result<(&'b mut [T], [&'b mut [T]; 3], &'b mut [S], &'b mut [f32]), Error> {
        if buffers.arena.len() < self.arena_len() {
            return Err(Error::too_small(Buffer::Arena, self.arena_len()));
        }
        if buffers.scratch.len() < self.scratch_len() {
            return Err(Error::too_small(Buffer::Scratch, self.scratch_len()));
        }
        if buffers.probs.len() < tri_len(L) {
            return Err(Error::too_small(Buffer::Probs, tri_len(L)));
        }
        let (features, slots, _) = self.split_arena(buffers.arena)?;
        Ok((features, slots, buffers.scratch, buffers.probs))
    }

    /// Splits an arena of at least [`arena_len`](Self::arena_len) values into the features,
    /// the map slots (the third empty without skip connections) and the rest.
    #[allow(clippy::type_complexity)]
    fn split_arena<'b, T>(
        &self,
        arena: &'b mut [T],
    ) -> Result<(&'b mut [T], [&'b mut [T]; 3], &'b mut [T]), Error> {
        let too_small = Error::too_small(Buffer::Arena, self.arena_len());
        if arena.len() < self.arena_len() {
            return Err(too_small);
        }
        let map = map_len(L, self.max_channels());
        let (features, maps) = arena
            .split_at_mut_checked(L * self.feature_dim)
            .ok_or(too_small)?;
        let (a, rest) = maps.split_at_mut_checked(map).ok_or(too_small)?;
        let (b, rest) = rest.split_at_mut_checked(map).ok_or(too_small)?;
        let (c, rest) = if self.slots() == 3 {
            rest.split_at_mut_checked(map).ok_or(too_small)?
        } else {
            rest.split_at_mut(0)
        };
        Ok((features, [a, b, c], rest))
    }

    /// The tokens of `input` in `buffer`: text through the model's alphabet, tokens checked
    /// against its vocabulary; at most `pair_len` of them.
    fn tokens<'t>(
        &self,
        input: Sequence<'_>,
        buffer: &'t mut [u16; L],
    ) -> Result<&'t [u16], Error> {
        let len = match input {
            Sequence::Text(text) => {
                if text.len() > self.pair_len {
                    return Err(Error::SequenceTooLong);
                }
                self.alphabet.tokenize(text, self.info.app(), buffer)?
            }
            Sequence::Tokens(tokens) => {
                if tokens.is_empty() {
                    return Err(Error::EmptySequence);
                }
                if tokens.len() > self.pair_len {
                    return Err(Error::SequenceTooLong);
                }
                let vocab = self.info.vocab_size();
                for (position, (&token, slot)) in tokens.iter().zip(buffer.iter_mut()).enumerate() {
                    if usize::from(token) >= vocab {
                        let position = u16::try_from(position).unwrap_or(u16::MAX);
                        return Err(Error::TokenOutOfRange { position });
                    }
                    *slot = token;
                }
                tokens.len()
            }
        };
        buffer.get(..len).ok_or(Error::SequenceTooLong)
    }

    /// The model's alphabet (symbol → token).
    pub fn alphabet(&self) -> Alphabet<'a> {
        self.alphabet
    }

    /// What the model is for.
    pub fn app(&self) -> App {
        self.info.app()
    }

    /// Tokens the model takes.
    pub fn vocab_size(&self) -> usize {
        self.info.vocab_size()
    }

    /// The blob's structure and buffer sizes.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The start of both int8 paths: tokenizes `input`, embeds it into `features` and
    /// returns the pair features the first layer reads, with their zero point.
    fn pair_features_i8<'f>(
        &'f self,
        input: Sequence<'_>,
        features: &'f mut [i8],
    ) -> Result<(PairFeaturesI8<'f>, i32), Error> {
        let EmbeddingTable::I8 {
            table,
            scale,
            zero_point,
            product,
        } = self.embedding
        else {
            return Err(Error::BadPrecision);
        };
        let mut buffer = [0u16; L];
        let tokens = self.tokens(input, &mut buffer)?;
        Embedding::with_rows(table, self.info.vocab_size(), self.feature_dim)?
            .fill_tokens(tokens, features)?;
        let pairs = PairFeaturesI8::new(
            features,
            self.feature_dim,
            tokens.len(),
            &self.segments,
            // A separation channel's 1.0.
            (zero_point, crate::quant::quantize(1.0, scale, zero_point)),
            product,
        )?;
        Ok((pairs, zero_point))
    }

    /// The conv geometry of layer `t`: layer 0 reads the pair features' involution.
    fn geom(&self, t: usize, layer: &Layer<'_>) -> Result<ConvGeom<'_>, Error> {
        let involution = if t == 0 {
            Involution::Segments(&self.segments)
        } else {
            Involution::Identity
        };
        Ok(ConvGeom::new(
            layer.in_channels,
            layer.out_channels,
            layer.kernel,
            layer.dilation,
            involution,
        )?
        .with_padding(layer.padding))
    }

    fn is_skip_source(&self, t: usize) -> bool {
        self.layers().any(|l| l.residual == Some(t))
    }
}

/// Zeroes the probabilities of masked pairs (`j >= len`).
fn mask_probs<const L: usize>(probs: &mut [f32], len: usize) {
    let mut index = 0;
    for i in 0..L {
        for j in i..L {
            if j >= len {
                if let Some(p) = probs.get_mut(index) {
                    *p = 0.0;
                }
            }
            index += 1;
        }
    }
}
