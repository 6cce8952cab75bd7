//! Assembling a blob (see `tools/BLOB_FORMAT.md` and `scnn::blob`): format version 2 for
//! pair-map models, version 3 when the model needs it (valid padding, a pooled head), 4 for
//! int8 models with residual adds (their rescale tables).

use scnn::blob::{
    self, header as h, layer as lr, Precision, ALIGN, CRC_LEN, FORMAT_V2, FORMAT_V3, FORMAT_V4,
    FORMAT_VERSION, HEADER_LEN, LAYER_CONV, LAYER_RECORD_LEN, MAGIC, NO_RESIDUAL,
    SEGMENT_RECORD_LEN,
};
use scnn::Requant;

/// One layer's record and sections.
#[derive(Clone, Debug)]
pub struct LayerSpec {
    /// Layer kind code (`scnn::blob::LAYER_*`).
    pub kind: u8,
    /// The kind's option (padding, pool function, side rows); 0 before format 3.
    pub option: u16,
    /// 0 for layers without a kernel.
    pub kernel: usize,
    /// 0 for layers without a kernel.
    pub dilation: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    /// Activation code (`scnn::blob::activation_code`, or tanh/sigmoid on dense layers).
    pub activation: u8,
    pub residual: Option<usize>,
    /// Packed weights, little-endian bytes.
    pub weights: Vec<u8>,
    /// Bias and quantization, little-endian bytes.
    pub params: Vec<u8>,
}

/// Everything a blob holds.
#[derive(Clone, Debug)]
pub struct BlobSpec {
    pub precision: Precision,
    pub app: scnn::blob::App,
    /// Rows of the embedding table.
    pub vocab_size: usize,
    /// Symbol → token.
    pub alphabet: Vec<(u8, u16)>,
    pub pair_len: usize,
    pub feature_dim: usize,
    /// `(kind code, d)` per segment.
    pub segments: Vec<(u8, u16)>,
    /// Embedding table bytes (int8 values or f32 little-endian).
    pub embedding: Vec<u8>,
    pub input_scale: f32,
    pub input_zero_point: i32,
    pub product: Requant,
    pub logit_scale: f32,
    pub logit_zero_point: i32,
    pub layers: Vec<LayerSpec>,
}

fn pad(bytes: &mut Vec<u8>) {
    while !bytes.len().is_multiple_of(ALIGN) {
        bytes.push(0);
    }
}

fn put_u16(bytes: &mut [u8], at: usize, v: u16) {
    bytes[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Little-endian bytes of 32-bit words.
pub fn words(values: &[i32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Little-endian bytes of f32 values.
pub fn floats(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

impl BlobSpec {
    /// The oldest format version that holds the model: 2; 3 with pooled layers or valid
    /// padding; 4 with int8 residual adds, whose parameters then carry the rescale tables.
    /// Firmware that reads an older format keeps reading the models it can hold.
    pub fn format_version(&self) -> u16 {
        let needs_v5 = self
            .segments
            .iter()
            .any(|&(kind, _)| kind == blob::SEGMENT_SEPARATION);
        let needs_v4 =
            self.precision == Precision::Int8 && self.layers.iter().any(|l| l.residual.is_some());
        let needs_v3 = self
            .layers
            .iter()
            .any(|l| l.kind != LAYER_CONV || l.option != 0);
        if needs_v5 {
            FORMAT_VERSION
        } else if needs_v4 {
            FORMAT_V4
        } else if needs_v3 {
            FORMAT_V3
        } else {
            FORMAT_V2
        }
    }

    /// The blob bytes, CRC included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0u8; HEADER_LEN];
        out[h::MAGIC..h::MAGIC + 4].copy_from_slice(&MAGIC);
        put_u16(&mut out, h::VERSION, self.format_version());
        put_u16(&mut out, h::HEADER_LEN, HEADER_LEN as u16);
        out[h::PRECISION] = self.precision.code();
        out[h::LAYER_COUNT] = self.layers.len() as u8;
        out[h::APP] = self.app.code();
        put_u16(&mut out, h::FEATURE_DIM_V2, self.feature_dim as u16);
        put_u16(&mut out, h::VOCAB_SIZE, self.vocab_size as u16);
        out[h::SEGMENT_COUNT] = self.segments.len() as u8;
        put_u16(&mut out, h::PAIR_LEN, self.pair_len as u16);
        put_u32(&mut out, h::INPUT_SCALE, self.input_scale.to_bits());
        put_u32(&mut out, h::INPUT_ZERO_POINT, self.input_zero_point as u32);
        put_u32(
            &mut out,
            h::PRODUCT_MULTIPLIER,
            self.product.multiplier as u32,
        );
        put_u32(&mut out, h::PRODUCT_SHIFT, self.product.shift as u32);
        put_u32(&mut out, h::LOGIT_SCALE, self.logit_scale.to_bits());
        put_u32(&mut out, h::LOGIT_ZERO_POINT, self.logit_zero_point as u32);

        let segments_at = out.len();
        put_u32(&mut out, h::SEGMENTS_OFFSET, segments_at as u32);
        for &(kind, d) in &self.segments {
            out.extend_from_slice(&[kind, 0]);
            out.extend_from_slice(&d.to_le_bytes());
        }
        debug_assert_eq!(
            out.len() - segments_at,
            self.segments.len() * SEGMENT_RECORD_LEN
        );
        pad(&mut out);

        if !self.alphabet.is_empty() {
            let alphabet_at = out.len();
            put_u32(&mut out, h::ALPHABET_OFFSET, alphabet_at as u32);
            put_u16(&mut out, h::ALPHABET_LEN, self.alphabet.len() as u16);
            for &(symbol, token) in &self.alphabet {
                out.extend_from_slice(&[symbol, 0]);
                out.extend_from_slice(&token.to_le_bytes());
            }
        }

        let embedding_at = out.len() as u32;
        put_u32(&mut out, h::EMBEDDING_OFFSET, embedding_at);
        out.extend_from_slice(&self.embedding);
        pad(&mut out);

        let layers_at = out.len();
        put_u32(&mut out, h::LAYERS_OFFSET, layers_at as u32);
        out.resize(layers_at + self.layers.len() * LAYER_RECORD_LEN, 0);
        for (t, layer) in self.layers.iter().enumerate() {
            let record = layers_at + t * LAYER_RECORD_LEN;
            pad(&mut out);
            // Empty sections have offset 0.
            let weights_at = if layer.weights.is_empty() {
                0
            } else {
                out.len()
            };
            out.extend_from_slice(&layer.weights);
            pad(&mut out);
            let params_at = if layer.params.is_empty() {
                0
            } else {
                out.len()
            };
            out.extend_from_slice(&layer.params);
            pad(&mut out);
            out[record + lr::KIND] = layer.kind;
            out[record + lr::ACTIVATION] = layer.activation;
            put_u16(&mut out, record + lr::OPTION, layer.option);
            out[record + lr::KERNEL] = layer.kernel as u8;
            out[record + lr::DILATION] = layer.dilation as u8;
            put_u16(&mut out, record + lr::IN_CHANNELS, layer.in_channels as u16);
            put_u16(
                &mut out,
                record + lr::OUT_CHANNELS,
                layer.out_channels as u16,
            );
            let residual = layer.residual.map_or(NO_RESIDUAL, |s| s as u16);
            put_u16(&mut out, record + lr::RESIDUAL, residual);
            put_u32(&mut out, record + lr::WEIGHTS_OFFSET, weights_at as u32);
            put_u32(
                &mut out,
                record + lr::WEIGHTS_LEN,
                layer.weights.len() as u32,
            );
            put_u32(&mut out, record + lr::PARAMS_OFFSET, params_at as u32);
            put_u32(&mut out, record + lr::PARAMS_LEN, layer.params.len() as u32);
        }
        let total = out.len() + CRC_LEN;
        put_u32(&mut out, h::TOTAL_LEN, total as u32);
        let crc = blob::checksum(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }
}
