//! A validated model read in place from a blob, and inference over caller-owned buffers.

use crate::blob::{
    self, activation_from_code, f32_at, header as h, i32_at, layer as lr, u16_at, u32_at, u8_at,
    Precision, ALIGN, CRC_LEN, FORMAT_VERSION, HEADER_LEN, I8_ADD_WORDS, I8_CONV_TAIL_WORDS,
    LAYER_CONV, LAYER_RECORD_LEN, MAGIC, NO_RESIDUAL, SEGMENT_CONCAT, SEGMENT_OUTER,
    SEGMENT_RECORD_LEN,
};
use crate::conv::{ConvF32, ConvGeom, ConvI8, OutputQuant, PairSource, QuantMap};
use crate::generate::{PairFeaturesF32, PairFeaturesI8};
use crate::involution::{Involution, Segment};
use crate::layers::{residual_add_f32, residual_add_i8, sigmoid_map_f32, sigmoid_map_i8, AddQuant};
use crate::quant::{check_zero_point, Activation, Requant};
use crate::seq::{encode, Base, Embedding};
use crate::stream::{plan_rings, LayerRing, RowWindowI8};
use crate::tri::{map_len, tri_index, tri_len, TriMap};
use crate::{Error, MAX_LAYERS};

/// Largest per-position feature dimension a blob may declare.
pub const MAX_FEATURE_DIM: usize = 16;
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
        /// `5 × dim` values.
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

/// A model validated against the firmware's pair length `L`. Weights stay in the blob.
#[derive(Clone, Debug)]
pub struct Model<'a, const L: usize> {
    precision: Precision,
    pair_len: usize,
    feature_dim: usize,
    segments: heapless::Vec<Segment, MAX_SEGMENTS>,
    embedding: EmbeddingTable<'a>,
    /// The whole blob: layer records are read from it when needed, so the model stays small.
    bytes: &'a [u8],
    layers_offset: usize,
    layer_count: usize,
    logit_quant: (f32, i32),
    slots: usize,
    max_channels: usize,
    max_scratch: usize,
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

fn i8_range(min: i32, max: i32) -> Result<(i8, i8), Error> {
    let min = i8::try_from(min).map_err(|_| Error::BadQuantRange)?;
    let max = i8::try_from(max).map_err(|_| Error::BadQuantRange)?;
    if min > max {
        return Err(Error::BadQuantRange);
    }
    Ok((min, max))
}

fn parse_i8_params<'a>(params: &'a [u8], out: usize, residual: bool) -> Result<LayerI8<'a>, Error> {
    let words = cast::<i32>(params)?;
    let expected = 3 * out + I8_CONV_TAIL_WORDS + if residual { I8_ADD_WORDS } else { 0 };
    if words.len() != expected {
        return Err(Error::BadOffset);
    }
    let (bias, rest) = words.split_at_checked(out).ok_or(Error::BadOffset)?;
    let (multipliers, rest) = rest.split_at_checked(out).ok_or(Error::BadOffset)?;
    let (shifts, tail) = rest.split_at_checked(out).ok_or(Error::BadOffset)?;
    let word = |i: usize| tail.get(i).copied().ok_or(Error::BadOffset);
    let conv_zero_point = word(0)?;
    check_zero_point(conv_zero_point)?;
    let conv_range = i8_range(word(1)?, word(2)?)?;
    let conv_scale = finite_scale(f32::from_bits(word(3)? as u32))?;
    let add = if residual {
        let w = |i: usize| word(I8_CONV_TAIL_WORDS + i);
        let (act_min, act_max) = i8_range(w(9)?, w(10)?)?;
        let add = AddQuant {
            a_zero_point: w(0)?,
            a: Requant {
                multiplier: w(1)?,
                shift: w(2)?,
            },
            b_zero_point: w(3)?,
            b: Requant {
                multiplier: w(4)?,
                shift: w(5)?,
            },
            out: Requant {
                multiplier: w(6)?,
                shift: w(7)?,
            },
            out_zero_point: w(8)?,
            act_min,
            act_max,
        };
        add.check()?;
        if add.a_zero_point != conv_zero_point {
            return Err(Error::BadQuantRange);
        }
        Some((add, finite_scale(f32::from_bits(w(11)? as u32))?))
    } else {
        None
    };
    Ok(LayerI8 {
        weights: &[],
        bias,
        multipliers,
        shifts,
        conv_zero_point,
        conv_range,
        conv_scale,
        add,
    })
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
) -> Result<(Layer<'a>, ConvGeom<'i>), Error> {
    let end = at.checked_add(LAYER_RECORD_LEN).ok_or(Error::BadOffset)?;
    let record = bytes.get(at..end).ok_or(Error::BadOffset)?;
    if u8_at(record, lr::KIND)? != LAYER_CONV {
        return Err(Error::BadLayerKind);
    }
    if u16_at(record, lr::RESERVED_A)? != 0 || u32_at(record, lr::RESERVED_B)? != 0 {
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
    let geom = ConvGeom::new(in_channels, out_channels, kernel, dilation, involution)?;
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
            let mut p = parse_i8_params(params_raw, out_channels, residual.is_some())?;
            p.weights = bytemuck::cast_slice(weight_raw);
            let quant = p.conv_quant();
            ConvI8::new(geom, p.weights, p.bias, quant)?;
            LayerParams::I8(p)
        }
        Precision::F32 => {
            let weights: &[f32] = cast(weight_raw)?;
            let bias: &[f32] = cast(params_raw)?;
            if weights.iter().chain(bias).any(|x| !x.is_finite()) {
                return Err(Error::NonFinite);
            }
            ConvF32::new(geom, weights, bias, activation)?;
            LayerParams::F32(LayerF32 { weights, bias })
        }
    };
    let layer = Layer {
        in_channels,
        out_channels,
        kernel,
        dilation,
        activation,
        residual,
        params,
    };
    Ok((layer, geom))
}

impl<'a, const L: usize> Model<'a, L> {
    /// Validates `bytes` completely (magic, version, length, CRC, every field, offset, size,
    /// channel count and quantization parameter) and reads the model in place.
    ///
    /// A blob that passes cannot make inference index out of bounds. A blob built for a pair
    /// length above `L` is [`Error::PairLenTooLarge`]. The bytes must be 4-byte aligned in
    /// memory (see [`blob::AlignedBlob`]), else [`Error::BadOffset`].
    // Not inlined: its large locals then never add to the caller's stack frame.
    #[inline(never)]
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, Error> {
        // Identity and integrity first, so that the most telling error wins.
        if bytes.get(..4) != Some(&MAGIC[..]) {
            return Err(Error::BadMagic);
        }
        let version = u16_at(bytes, h::VERSION)?;
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion { found: version });
        }
        if bytes.len() < HEADER_LEN + CRC_LEN
            || u32_at(bytes, h::TOTAL_LEN)? as usize != bytes.len()
            || u16_at(bytes, h::HEADER_LEN)? as usize != HEADER_LEN
        {
            return Err(Error::BadLength);
        }
        let payload_end = bytes.len() - CRC_LEN;
        let (payload, stored) = bytes
            .split_at_checked(payload_end)
            .ok_or(Error::BadLength)?;
        if blob::checksum(payload) != u32::from_le_bytes(blob::bytes_at(stored, 0)?) {
            return Err(Error::BadChecksum);
        }

        let precision = Precision::from_code(u8_at(bytes, h::PRECISION)?)?;
        let layer_count = u8_at(bytes, h::LAYER_COUNT)? as usize;
        if layer_count == 0 || layer_count > MAX_LAYERS {
            return Err(Error::BadLayerCount);
        }
        let dim = u8_at(bytes, h::FEATURE_DIM)? as usize;
        if dim == 0 || dim > MAX_FEATURE_DIM {
            return Err(Error::BadFeatureDim);
        }
        let segment_count = u8_at(bytes, h::SEGMENT_COUNT)? as usize;
        let pair_len = u16_at(bytes, h::PAIR_LEN)? as usize;
        if pair_len == 0 || pair_len > L {
            return Err(Error::PairLenTooLarge);
        }
        if u16_at(bytes, h::RESERVED_A)? != 0
            || blob::bytes_at::<8>(bytes, h::RESERVED_B)? != [0; 8]
        {
            return Err(Error::NonZeroReserved);
        }

        // Pair-feature segments.
        if segment_count == 0 || segment_count > MAX_SEGMENTS {
            return Err(Error::BadSegment);
        }
        let records = section(
            bytes,
            u32_at(bytes, h::SEGMENTS_OFFSET)?,
            segment_count * SEGMENT_RECORD_LEN,
            payload_end,
        )?;
        let mut segments = heapless::Vec::new();
        for record in records.chunks_exact(SEGMENT_RECORD_LEN) {
            let d = u16_at(record, 2)?;
            if d as usize != dim || u8_at(record, 1)? != 0 {
                return Err(Error::BadSegment);
            }
            let segment = match u8_at(record, 0)? {
                SEGMENT_CONCAT => Segment::SwapHalves(d),
                SEGMENT_OUTER => Segment::Transpose(d),
                _ => return Err(Error::BadSegment),
            };
            segments.push(segment).map_err(|_| Error::BadSegment)?;
        }
        let pair_channels: usize = segments.iter().map(|s| s.channels()).sum();

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
        let entries = Base::COUNT * dim;
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
        let mut outputs = [(0usize, 0i32); MAX_LAYERS];
        let mut is_skip_source = [false; MAX_LAYERS];
        let mut live_skip_until: Option<usize> = None;
        let mut max_channels = 0;
        let mut max_scratch = 0;
        let mut last_zero_point = None;
        for t in 0..layer_count {
            let (expected_in, involution) = match t.checked_sub(1) {
                None => (pair_channels, Involution::Segments(&segments)),
                Some(previous) => (
                    outputs.get(previous).map_or(0, |o| o.0),
                    Involution::Identity,
                ),
            };
            let (layer, geom) = parse_layer(
                bytes,
                layers_offset as usize + t * LAYER_RECORD_LEN,
                precision,
                payload_end,
                expected_in,
                involution,
            )?;
            if let Some(s) = layer.residual {
                let source = outputs.get(s).filter(|_| s < t).ok_or(Error::BadResidual)?;
                // One live skip at a time: it must start at or after the previous one ended.
                let starts_after_previous = live_skip_until.is_none_or(|end| s >= end);
                let taken = is_skip_source.get(s).copied().unwrap_or(true);
                if source.0 != layer.out_channels || taken || !starts_after_previous {
                    return Err(Error::BadResidual);
                }
                if let Some(flag) = is_skip_source.get_mut(s) {
                    *flag = true;
                }
                live_skip_until = Some(t);
                // The add's second input is the skip layer's output.
                if let LayerParams::I8(LayerI8 {
                    add: Some((add, _)),
                    ..
                }) = layer.params
                {
                    if add.b_zero_point != source.1 {
                        return Err(Error::BadQuantRange);
                    }
                }
            }
            let zero_point = match layer.params {
                LayerParams::I8(p) => p.output_quant().1,
                LayerParams::F32(_) => 0,
            };
            if let Some(slot) = outputs.get_mut(t) {
                *slot = (layer.out_channels, zero_point);
            }
            max_channels = max_channels.max(layer.out_channels);
            // int8 layers also widen their weights into scratch for the SMLAD kernel.
            let scratch = match layer.params {
                LayerParams::I8(_) => geom.scratch_len_i8(),
                LayerParams::F32(_) => geom.patch_len(),
            };
            max_scratch = max_scratch.max(scratch);
            last_zero_point = Some((layer.out_channels, zero_point));
        }
        let Some((head_channels, head_zero_point)) = last_zero_point else {
            return Err(Error::BadLayerCount);
        };
        if head_channels != 1 {
            return Err(Error::BadHead);
        }
        let logit_quant = match precision {
            Precision::Int8 => {
                if head_zero_point != logit_zero_point {
                    return Err(Error::BadQuantRange);
                }
                (logit_scale, logit_zero_point)
            }
            Precision::F32 => (1.0, 0),
        };
        let slots = if live_skip_until.is_some() { 3 } else { 2 };
        Ok(Self {
            precision,
            pair_len,
            feature_dim: dim,
            segments,
            embedding,
            bytes,
            layers_offset: layers_offset as usize,
            layer_count,
            logit_quant,
            slots,
            max_channels,
            max_scratch,
        })
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

    /// Number of layers.
    pub fn layer_count(&self) -> usize {
        self.layer_count
    }

    /// Layer `t`, read from the blob (which [`Model::from_bytes`] has checked, so this only
    /// fails for `t >= layer_count()`).
    pub fn layer(&self, t: usize) -> Result<Layer<'a>, Error> {
        if t >= self.layer_count {
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
        )?;
        Ok(layer)
    }

    /// The layers, first to last.
    pub fn layers(&self) -> impl Iterator<Item = Layer<'a>> + '_ {
        (0..self.layer_count).filter_map(|t| self.layer(t).ok())
    }

    /// Scale and zero point of the int8 logits ((1.0, 0) for f32 models).
    pub fn logit_quant(&self) -> (f32, i32) {
        self.logit_quant
    }

    /// Activation maps alive at once: 2, or 3 with skip connections.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Widest layer output.
    pub fn max_channels(&self) -> usize {
        self.max_channels
    }

    /// Arena values [`Buffers::arena`] needs: the features, then `slots` packed maps.
    pub fn arena_len(&self) -> usize {
        crate::plan::model_arena_len(L, self.feature_dim, self.max_channels, self.slots)
    }

    /// Scratch values [`Buffers::scratch`] needs: the widest layer's patch, and for int8 models
    /// its weights widened for the SMLAD kernel.
    pub fn scratch_len(&self) -> usize {
        self.max_scratch
    }

    /// Splits the arena into features and slots, checking every buffer.
    #[allow(clippy::type_complexity)]
    fn split<'b, T, S>(
        &self,
        buffers: &'b mut Buffers<'_, T, S>,
    ) -> Result<(&'b mut [T], [&'b mut [T]; 3], &'b mut [S], &'b mut [f32]), Error> {
        if buffers.arena.len() < self.arena_len()
            || buffers.scratch.len() < self.scratch_len()
            || buffers.probs.len() < tri_len(L)
        {
            return Err(Error::BufferTooSmall);
        }
        let map = map_len(L, self.max_channels);
        let too_small = Error::BufferTooSmall;
        let (features, maps) = buffers
            .arena
            .split_at_mut_checked(L * self.feature_dim)
            .ok_or(too_small)?;
        let (a, rest) = maps.split_at_mut_checked(map).ok_or(too_small)?;
        let (b, rest) = rest.split_at_mut_checked(map).ok_or(too_small)?;
        let c = if self.slots == 3 {
            rest.get_mut(..map).ok_or(Error::BufferTooSmall)?
        } else {
            &mut []
        };
        Ok((features, [a, b, c], buffers.scratch, buffers.probs))
    }

    /// Encodes `sequence` (A, C, G, U, T, N in either case) into `bases`.
    fn encode<'s>(&self, sequence: &[u8], bases: &'s mut [Base; L]) -> Result<&'s [Base], Error> {
        if sequence.len() > self.pair_len {
            return Err(Error::SequenceTooLong);
        }
        let len = encode(sequence, bases)?;
        bases.get(..len).ok_or(Error::SequenceTooLong)
    }

    /// The start of both int8 paths: encodes `sequence`, embeds it into `features` and
    /// returns the pair features the first layer reads, with their zero point.
    fn pair_features_i8<'f>(
        &'f self,
        sequence: &[u8],
        features: &'f mut [i8],
    ) -> Result<(PairFeaturesI8<'f>, i32), Error> {
        let EmbeddingTable::I8 {
            table,
            zero_point,
            product,
            ..
        } = self.embedding
        else {
            return Err(Error::BadPrecision);
        };
        let mut bases = [Base::N; L];
        let bases = self.encode(sequence, &mut bases)?;
        Embedding::new(table, self.feature_dim)?.fill(bases, features)?;
        let pairs = PairFeaturesI8::new(
            features,
            self.feature_dim,
            bases.len(),
            &self.segments,
            zero_point,
            product,
        )?;
        Ok((pairs, zero_point))
    }

    /// Runs an int8 model on `sequence`, writing pair probabilities into `buffers.probs`, and
    /// returns the sequence length. `observe(layer, map)` sees each layer's packed output.
    pub fn predict_i8_with(
        &self,
        sequence: &[u8],
        buffers: &mut Buffers<'_, i8, i16>,
        mut observe: impl FnMut(usize, &[i8]),
    ) -> Result<usize, Error> {
        if self.precision != Precision::Int8 {
            return Err(Error::BadPrecision);
        }
        let (features, mut slots, scratch, probs) = self.split(buffers)?;
        let (input, zero_point) = self.pair_features_i8(sequence, features)?;
        let len = input.len();

        let mut schedule = Schedule::default();
        let mut in_zero_point = zero_point;
        for (t, layer) in self.layers().enumerate() {
            let LayerParams::I8(p) = layer.params else {
                return Err(Error::BadPrecision);
            };
            let geom = self.geom(t, &layer)?;
            let quant = p.conv_quant();
            let conv = ConvI8::new(geom, p.weights, p.bias, quant)?;
            let step = schedule.next(layer.residual);
            let (out, previous, skip) = step.views(&mut slots, map_len(L, layer.out_channels))?;
            match previous {
                None => conv.run::<_, L>(&input, scratch, out)?,
                Some(map) => {
                    let map = TriMap::<i8, L>::new(map, layer.in_channels, len)?;
                    conv.run::<_, L>(&QuantMap::new(map, in_zero_point)?, scratch, out)?
                }
            }
            if let Some((add, _)) = p.add {
                residual_add_i8(out, skip.ok_or(Error::BadResidual)?, &add)?;
            }
            observe(t, out);
            in_zero_point = p.output_quant().1;
            schedule.finish(step, self.is_skip_source(t));
        }
        let logits = schedule.logits::<_, L>(&slots)?;
        let (scale, zero_point) = self.logit_quant;
        sigmoid_map_i8(logits, scale, zero_point, probs)?;
        mask_probs::<L>(probs, len);
        Ok(len)
    }

    /// The ring of every layer for row-streaming execution, in `rings[..layer_count()]`.
    pub fn stream_rings(&self, rings: &mut [LayerRing; crate::MAX_LAYERS]) -> Result<(), Error> {
        let mut reach = [0u8; crate::MAX_LAYERS];
        let mut residual = [None; crate::MAX_LAYERS];
        for (t, layer) in self.layers().enumerate() {
            if let (Some(r), Some(s)) = (reach.get_mut(t), residual.get_mut(t)) {
                *r = (layer.dilation * (layer.kernel / 2)) as u8;
                *s = layer.residual.map(|s| s as u8);
            }
        }
        let n = self.layer_count;
        let (Some(reach), Some(residual)) = (reach.get(..n), residual.get(..n)) else {
            return Err(Error::BadLayerCount);
        };
        plan_rings(reach, residual, rings)
    }

    /// `Σ rows · channels` over the layers' rings: the streaming arena is
    /// [`plan::stream_arena_len`](crate::plan::stream_arena_len)`(L, feature_dim, this)`.
    pub fn stream_ring_len(&self) -> Result<usize, Error> {
        let mut rings = [LayerRing::default(); crate::MAX_LAYERS];
        self.stream_rings(&mut rings)?;
        Ok(self
            .layers()
            .zip(rings.iter())
            .map(|(layer, ring)| usize::from(ring.rows) * layer.out_channels)
            .sum())
    }

    /// Arena values of row-streaming execution.
    pub fn stream_arena_len(&self) -> Result<usize, Error> {
        Ok(crate::plan::stream_arena_len(
            L,
            self.feature_dim,
            self.stream_ring_len()?,
        ))
    }

    /// [`predict_i8_with`](Self::predict_i8_with) with row streaming: every layer keeps a
    /// ring of its latest output rows instead of a whole map, so `buffers.arena` needs only
    /// [`stream_arena_len`](Self::stream_arena_len) values. Bit-identical results.
    /// `observe(layer, i, row)` sees each output row `i` (pairs `(i, j)`, `j = i..L`) as it
    /// is made; rows at or past the sequence length are not made.
    // Kept out of line: inlined into a caller, its buffers would add to the caller's frame
    // for the caller's whole lifetime, decoding included.
    #[inline(never)]
    pub fn predict_i8_streaming(
        &self,
        sequence: &[u8],
        buffers: &mut Buffers<'_, i8, i16>,
        mut observe: impl FnMut(usize, usize, &[i8]),
    ) -> Result<usize, Error> {
        if self.precision != Precision::Int8 {
            return Err(Error::BadPrecision);
        }
        let mut rings = [LayerRing::default(); crate::MAX_LAYERS];
        self.stream_rings(&mut rings)?;
        if buffers.arena.len() < self.stream_arena_len()?
            || buffers.scratch.len() < self.scratch_len()
            || buffers.probs.len() < tri_len(L)
        {
            return Err(Error::BufferTooSmall);
        }
        let (features, maps) = buffers
            .arena
            .split_at_mut_checked(L * self.feature_dim)
            .ok_or(Error::BufferTooSmall)?;
        let (pairs, _) = self.pair_features_i8(sequence, features)?;
        let len = pairs.len();
        // Output zero point and ring offset of every layer.
        let mut out_zero_point = [0i8; crate::MAX_LAYERS];
        let mut start = [0usize; crate::MAX_LAYERS + 1];
        for (t, layer) in self.layers().enumerate() {
            let LayerParams::I8(p) = layer.params else {
                return Err(Error::BadPrecision);
            };
            let ring = rings.get(t).copied().unwrap_or_default();
            let size = usize::from(ring.rows) * L * layer.out_channels;
            if let (Some(zp), Some(&begin)) = (out_zero_point.get_mut(t), start.get(t)) {
                *zp = p.output_quant().1 as i8;
                if let Some(end) = start.get_mut(t + 1) {
                    *end = begin + size;
                }
            }
        }
        let last = self.layer_count.saturating_sub(1);
        let lead0 = usize::from(rings.first().map_or(0, |r| r.lead));
        for step in 0..len + lead0 {
            for t in 0..self.layer_count {
                let ring = rings.get(t).copied().unwrap_or_default();
                // Layer t runs lead(t) rows ahead of the last layer: at this step it makes
                // row step − (lead(0) − lead(t)), after the rows it reads were made.
                let lag = lead0 - usize::from(ring.lead);
                let Some(i) = step.checked_sub(lag) else {
                    continue;
                };
                if i >= len {
                    continue;
                }
                let layer = self.layer(t)?;
                let LayerParams::I8(p) = layer.params else {
                    return Err(Error::BadPrecision);
                };
                let quant = p.conv_quant();
                let conv = ConvI8::new(self.geom(t, &layer)?, p.weights, p.bias, quant)?;
                let (Some(&begin), Some(&end)) = (start.get(t), start.get(t + 1)) else {
                    return Err(Error::BadLayerCount);
                };
                // Earlier layers' rings are read, this layer's is written.
                let (before, rest) = maps
                    .split_at_mut_checked(begin)
                    .ok_or(Error::BufferTooSmall)?;
                let own = rest.get_mut(..end - begin).ok_or(Error::BufferTooSmall)?;
                let slot_len = L * layer.out_channels;
                let slot = (i % usize::from(ring.rows.max(1))) * slot_len;
                let row_len = (L - i) * layer.out_channels;
                let row = own
                    .get_mut(slot..slot + row_len)
                    .ok_or(Error::BufferTooSmall)?;
                let ring_of = |s: usize| -> Result<(&[i8], usize), Error> {
                    let (Some(&b), Some(&e), Some(r)) =
                        (start.get(s), start.get(s + 1), rings.get(s))
                    else {
                        return Err(Error::BadLayerCount);
                    };
                    let data = before.get(b..e).ok_or(Error::BufferTooSmall)?;
                    Ok((data, usize::from(r.rows)))
                };
                if t == 0 {
                    conv.run_row::<_, L>(&pairs, i, buffers.scratch, row)?;
                } else {
                    let (data, rows) = ring_of(t - 1)?;
                    let zp = i32::from(out_zero_point.get(t - 1).copied().unwrap_or(0));
                    let window = RowWindowI8::<L>::new(data, rows, layer.in_channels, len, zp)?;
                    conv.run_row::<_, L>(&window, i, buffers.scratch, row)?;
                }
                if let Some((add, _)) = p.add {
                    let s = layer.residual.ok_or(Error::BadResidual)?;
                    let (data, rows) = ring_of(s)?;
                    let source_slot = (i % rows.max(1)) * slot_len;
                    let skip = data
                        .get(source_slot..source_slot + row_len)
                        .ok_or(Error::BufferTooSmall)?;
                    residual_add_i8(row, skip, &add)?;
                }
                if t == last {
                    let (scale, zero_point) = self.logit_quant;
                    let at = tri_index(L, i, i);
                    let probs = buffers
                        .probs
                        .get_mut(at..at + (L - i))
                        .ok_or(Error::BufferTooSmall)?;
                    sigmoid_map_i8(row, scale, zero_point, probs)?;
                }
                observe(t, i, row);
            }
        }
        mask_probs::<L>(buffers.probs, len);
        Ok(len)
    }

    /// Runs an f32 model on `sequence`; see [`Model::predict_i8_with`].
    pub fn predict_f32_with(
        &self,
        sequence: &[u8],
        buffers: &mut Buffers<'_, f32, f32>,
        mut observe: impl FnMut(usize, &[f32]),
    ) -> Result<usize, Error> {
        let EmbeddingTable::F32(table) = self.embedding else {
            return Err(Error::BadPrecision);
        };
        let mut bases = [Base::N; L];
        let bases = self.encode(sequence, &mut bases)?;
        let len = bases.len();
        let (features, mut slots, scratch, probs) = self.split(buffers)?;
        Embedding::new(table, self.feature_dim)?.fill(bases, features)?;
        let input = PairFeaturesF32::new(features, self.feature_dim, len, &self.segments)?;

        let mut schedule = Schedule::default();
        for (t, layer) in self.layers().enumerate() {
            let LayerParams::F32(p) = layer.params else {
                return Err(Error::BadPrecision);
            };
            let geom = self.geom(t, &layer)?;
            // With a skip connection the activation follows the add.
            let conv_activation = if layer.residual.is_some() {
                Activation::None
            } else {
                layer.activation
            };
            let conv = ConvF32::new(geom, p.weights, p.bias, conv_activation)?;
            let step = schedule.next(layer.residual);
            let (out, previous, skip) = step.views(&mut slots, map_len(L, layer.out_channels))?;
            match previous {
                None => conv.run::<_, L>(&input, scratch, out)?,
                Some(map) => {
                    let map = TriMap::<f32, L>::new(map, layer.in_channels, len)?;
                    conv.run::<_, L>(&map, scratch, out)?
                }
            }
            if layer.residual.is_some() {
                residual_add_f32(out, skip.ok_or(Error::BadResidual)?, layer.activation)?;
            }
            observe(t, out);
            schedule.finish(step, self.is_skip_source(t));
        }
        let logits = schedule.logits::<_, L>(&slots)?;
        sigmoid_map_f32(logits, probs)?;
        mask_probs::<L>(probs, len);
        Ok(len)
    }

    /// The conv geometry of layer `t`: layer 0 reads the pair features' involution.
    fn geom(&self, t: usize, layer: &Layer<'_>) -> Result<ConvGeom<'_>, Error> {
        let involution = if t == 0 {
            Involution::Segments(&self.segments)
        } else {
            Involution::Identity
        };
        ConvGeom::new(
            layer.in_channels,
            layer.out_channels,
            layer.kernel,
            layer.dilation,
            involution,
        )
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

/// Which slot each layer reads, writes and adds from.
#[derive(Clone, Copy, Debug, Default)]
struct Step {
    input: Option<usize>,
    output: usize,
    skip: Option<usize>,
}

impl Step {
    /// The layer's output (its first `out_len` values), its input map (`None`: the pair
    /// features) and its skip map (as long as the output), from the slots.
    #[allow(clippy::type_complexity)]
    fn views<'s, T>(
        &self,
        slots: &'s mut [&mut [T]; 3],
        out_len: usize,
    ) -> Result<(&'s mut [T], Option<&'s [T]>, Option<&'s [T]>), Error> {
        let (out, others) = borrow_slots(slots, self.output);
        let out = out.get_mut(..out_len).ok_or(Error::BufferTooSmall)?;
        let read = |slot: Option<usize>| slot.and_then(|i| others.get(i).copied().flatten());
        let skip = read(self.skip).and_then(|m| m.get(..out_len));
        Ok((out, read(self.input), skip))
    }
}

/// Assigns activation slots: a layer writes to the first slot that holds neither its input
/// nor a skip map still to be added.
#[derive(Clone, Copy, Debug, Default)]
struct Schedule {
    input: Option<usize>,
    skip: Option<usize>,
    last_output: usize,
}

impl Schedule {
    fn next(&self, residual: Option<usize>) -> Step {
        let output = (0..3)
            .find(|&s| Some(s) != self.input && Some(s) != self.skip)
            .unwrap_or(0);
        Step {
            input: self.input,
            output,
            skip: residual.and(self.skip),
        }
    }

    /// The last layer's output: one channel of logits over the packed triangle.
    fn logits<'s, T, const L: usize>(&self, slots: &'s [&mut [T]; 3]) -> Result<&'s [T], Error> {
        slots
            .get(self.last_output)
            .and_then(|s| s.get(..tri_len(L)))
            .ok_or(Error::BufferTooSmall)
    }

    fn finish(&mut self, step: Step, is_skip_source: bool) {
        if step.skip.is_some() {
            self.skip = None;
        }
        if is_skip_source {
            self.skip = Some(step.output);
        }
        self.input = Some(step.output);
        self.last_output = step.output;
    }
}

/// The output slot mutably and the other two shared, by slot index.
#[allow(clippy::type_complexity)]
fn borrow_slots<'s, T>(
    slots: &'s mut [&mut [T]; 3],
    output: usize,
) -> (&'s mut [T], [Option<&'s [T]>; 3]) {
    let [a, b, c] = slots;
    match output {
        0 => (&mut **a, [None, Some(&**b), Some(&**c)]),
        1 => (&mut **b, [Some(&**a), None, Some(&**c)]),
        _ => (&mut **c, [Some(&**a), Some(&**b), None]),
    }
}
