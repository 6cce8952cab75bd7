//! Row-streaming execution: each layer keeps a ring of its latest output rows (see
//! [`crate::stream`]), so the arena grows with `L` instead of `L²`.

use super::{mask_probs, Buffers, EmbeddingTable, LayerParams, Model, Sequence};
use crate::blob::Precision;
use crate::conv::ConvI8;
use crate::conv::PairSource;
use crate::generate::PairFeaturesI8;
use crate::layers::sigmoid_map_i8;
use crate::quant::clamp_i8;
use crate::seq::Embedding;
use crate::stream::{LayerRing, RowWindowI8};
use crate::tri::{tri_index, tri_len};
use crate::{Buffer, Error};

/// Where layer 0's rows come from.
enum FirstLayer<'a> {
    /// The pair features, through the conv.
    Pairs(PairFeaturesI8<'a>),
    /// The token-pair table of a 1×1 layer over `vocab` tokens, and the sequence's tokens
    /// (one byte each).
    Table {
        tokens: &'a [i8],
        table: &'a [i8],
        vocab: usize,
    },
}

/// Row `i` of a 1×1 first layer from its token-pair table (`vocab²` entries of `channels`):
/// pair `(i, j)` is entry `(token_i, token_j)`; pairs past the sequence are `masked`, as the
/// conv writes them.
fn table_row(
    tokens: &[i8],
    table: &[i8],
    (vocab, channels): (usize, usize),
    i: usize,
    masked: i8,
    row: &mut [i8],
) -> Result<(), Error> {
    let token = |t: i8| usize::from(t as u8);
    let a = tokens.get(i).map(|&t| token(t));
    // (An open range `i..` would carry an overflow panic path.)
    for (k, out) in row.chunks_exact_mut(channels.max(1)).enumerate() {
        match (a, tokens.get(i + k)) {
            (Some(a), Some(&b)) => {
                let at = (a * vocab + token(b)) * channels;
                let entry = table
                    .get(at..at + channels)
                    .ok_or(Error::too_small(Buffer::Arena, at + channels))?;
                for (o, &e) in out.iter_mut().zip(entry) {
                    *o = e;
                }
            }
            _ => out.fill(masked),
        }
    }
    Ok(())
}

/// A stage of row-streaming execution, as [`Model::predict_i8_rows_marked`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The per-position features and the pair tensor's sources, once per sequence.
    PairFeatures,
    /// Layer `t`'s convolution of one row.
    Conv(usize),
    /// Layer `t`'s residual add of one row.
    Add(usize),
}

impl<const L: usize> Model<'_, L> {
    /// The ring of every layer for row-streaming execution, in `rings[..layer_count()]`
    /// (planned once, when the blob was read).
    pub fn stream_rings(&self, rings: &mut [LayerRing; crate::MAX_LAYERS]) -> Result<(), Error> {
        *rings = *self.info.rings();
        Ok(())
    }

    /// `Σ rows · channels` over the layers' rings: the streaming arena is
    /// [`plan::stream_arena_len`](crate::plan::stream_arena_len)`(L, feature_dim, this)`.
    pub fn stream_ring_len(&self) -> Result<usize, Error> {
        Ok(self.info.stream_ring_len())
    }

    /// Arena values of row-streaming execution: the per-position features, every layer's
    /// ring and, for a 1×1 first layer, its token-pair table.
    pub fn stream_arena_len(&self) -> Result<usize, Error> {
        Ok(
            crate::plan::stream_arena_len(L, self.feature_dim, self.info.stream_ring_len())
                + self.pair_table_len(),
        )
    }

    /// Values of the layer-0 token-pair table at this `L` (it is built from two-token
    /// sequences, so `L` must hold two).
    fn pair_table_len(&self) -> usize {
        if L >= 2 {
            self.info.pair_table_len()
        } else {
            0
        }
    }

    /// Layer 0's output for every ordered token pair `(a, b)` at `table[(a·V + b)·C..][..C]`:
    /// each computed by the conv itself, as the pair `(0, 1)` of the sequence `a b`, so the
    /// table holds exactly what the conv would give. `features` and `row` (one output row)
    /// are scratch space here.
    #[inline(never)]
    fn build_pair_table(
        &self,
        features: &mut [i8],
        scratch: &mut [i16],
        row: &mut [i8],
        table: &mut [i8],
    ) -> Result<(), Error> {
        let EmbeddingTable::I8 {
            table: embedding,
            scale,
            zero_point,
            product,
        } = self.embedding
        else {
            return Err(Error::BadPrecision);
        };
        let layer = self.layer(0)?;
        let LayerParams::I8(p) = layer.params else {
            return Err(Error::BadPrecision);
        };
        let conv = ConvI8::new(self.geom(0, &layer)?, p.weights, p.bias, p.conv_quant())?;
        let vocab = self.info.vocab_size();
        let c = layer.out_channels;
        let embedding = Embedding::with_rows(embedding, vocab, self.feature_dim)?;
        let mut entries = table.chunks_exact_mut(c.max(1));
        for a in 0..vocab {
            for b in 0..vocab {
                // vocab ≤ 256 (plan::pair_table_len), so both fit a u16.
                let tokens = [a as u16, b as u16];
                embedding.fill_tokens(&tokens, features)?;
                let pairs = PairFeaturesI8::new(
                    features,
                    self.feature_dim,
                    2,
                    &self.segments,
                    (zero_point, crate::quant::quantize(1.0, scale, zero_point)),
                    product,
                )?;
                conv.run_row::<_, L>(&pairs, 0, scratch, row)?;
                let entry = entries
                    .next()
                    .ok_or(Error::too_small(Buffer::Arena, vocab * vocab * c))?;
                let made = row
                    .get(c..2 * c)
                    .ok_or(Error::too_small(Buffer::Map, 2 * c))?;
                for (slot, &value) in entry.iter_mut().zip(made) {
                    *slot = value;
                }
            }
        }
        Ok(())
    }

    /// The sequence's tokens, one byte each, into `out` (the table's vocabulary fits a byte);
    /// returns the length.
    #[inline(never)]
    fn byte_tokens(&self, input: Sequence<'_>, out: &mut [i8]) -> Result<usize, Error> {
        let mut buffer = [0u16; L];
        let tokens = self.tokens(input, &mut buffer)?;
        let out = out
            .get_mut(..tokens.len())
            .ok_or(Error::too_small(Buffer::Arena, tokens.len()))?;
        for (slot, &token) in out.iter_mut().zip(tokens) {
            *slot = token as u8 as i8;
        }
        Ok(tokens.len())
    }

    /// [`predict_i8_with`](Self::predict_i8_with) with row streaming: every layer keeps a
    /// ring of its latest output rows instead of a whole map, so `buffers.arena` needs only
    /// [`stream_arena_len`](Self::stream_arena_len) values. Bit-identical results.
    /// `observe(layer, i, row)` sees each output row `i` (pairs `(i, j)`, `j = i..L`) as it
    /// is made; rows at or past the sequence length are not made. The probabilities are
    /// written to `buffers.probs`; [`predict_i8_rows`](Self::predict_i8_rows) does without.
    pub fn predict_i8_streaming<'s>(
        &self,
        sequence: impl Into<Sequence<'s>>,
        buffers: &mut Buffers<'_, i8, i16>,
        mut observe: impl FnMut(usize, usize, &[i8]),
    ) -> Result<usize, Error> {
        if buffers.probs.len() < tri_len(L) {
            return Err(Error::too_small(Buffer::Probs, tri_len(L)));
        }
        let Buffers {
            arena,
            scratch,
            probs,
        } = buffers;
        let (scale, zero_point) = self.logit_quant;
        let last = self.layer_count.saturating_sub(1);
        let mut failed = None;
        let len = self.predict_i8_rows(sequence, arena, scratch, |t, i, row| {
            if t == last {
                let at = tri_index(L, i, i);
                let written = probs
                    .get_mut(at..at + row.len())
                    .ok_or(Error::too_small(Buffer::Probs, tri_len(L)))
                    .and_then(|p| sigmoid_map_i8(row, scale, zero_point, p));
                if let Err(e) = written {
                    failed = Some(e);
                }
            }
            observe(t, i, row);
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        mask_probs::<L>(probs, len);
        Ok(len)
    }

    /// Row-streaming execution with no output map: the last layer's int8 logits reach only
    /// `observe(layer, i, row)`, row by row, so a firmware keeps what its decoder needs (the
    /// logits of an RNA structure, a bounded top-K of contacts) instead of an `L×L` f32
    /// map. `arena` and `scratch` need [`stream_arena_len`](Self::stream_arena_len) and
    /// [`scratch_len`](Self::scratch_len) values (or [`ModelInfo`](super::ModelInfo)'s).
    #[inline]
    pub fn predict_i8_rows<'s>(
        &self,
        sequence: impl Into<Sequence<'s>>,
        arena: &mut [i8],
        scratch: &mut [i16],
        observe: impl FnMut(usize, usize, &[i8]),
    ) -> Result<usize, Error> {
        self.rows(sequence.into(), arena, scratch, observe, |_| {})
    }

    /// [`predict_i8_rows`](Self::predict_i8_rows) that also calls `mark(stage)` as each
    /// stage of the work ends (the pair features once, then every layer's conv and residual
    /// add for each row), so a benchmark can say where the time goes. The same results.
    #[inline]
    pub fn predict_i8_rows_marked<'s>(
        &self,
        sequence: impl Into<Sequence<'s>>,
        arena: &mut [i8],
        scratch: &mut [i16],
        observe: impl FnMut(usize, usize, &[i8]),
        mark: impl FnMut(Stage),
    ) -> Result<usize, Error> {
        self.rows(sequence.into(), arena, scratch, observe, mark)
    }

    /// The row-streaming loop behind both.
    // Kept out of line: inlined into a caller, its buffers would add to the caller's frame
    // for the caller's whole lifetime, decoding included.
    #[inline(never)]
    fn rows(
        &self,
        sequence: Sequence<'_>,
        arena: &mut [i8],
        scratch: &mut [i16],
        mut observe: impl FnMut(usize, usize, &[i8]),
        mut mark: impl FnMut(Stage),
    ) -> Result<usize, Error> {
        if self.precision != Precision::Int8 {
            return Err(Error::BadPrecision);
        }
        self.expect_pair_map()?;
        let rings = self.info.rings();
        let arena_len = self.stream_arena_len()?;
        if arena.len() < arena_len {
            return Err(Error::too_small(Buffer::Arena, arena_len));
        }
        if scratch.len() < self.scratch_len() {
            return Err(Error::too_small(Buffer::Scratch, self.scratch_len()));
        }
        let too_small = Error::too_small(Buffer::Arena, arena_len);
        let (features, rest) = arena
            .split_at_mut_checked(L * self.feature_dim)
            .ok_or(too_small)?;
        let (maps, table) = rest
            .split_at_mut_checked(L * self.info.stream_ring_len())
            .ok_or(too_small)?;
        let table_len = self.pair_table_len();
        let table = table.get_mut(..table_len).ok_or(too_small)?;
        // Layer 0 reads the pair features, or, as a 1×1 layer, looks each pair's two tokens
        // up in its table (built first, in its own ring's first row).
        let first = if table_len > 0 {
            let row0 = maps
                .get_mut(..L * self.layer(0)?.out_channels)
                .ok_or(too_small)?;
            self.build_pair_table(features, scratch, row0, table)?;
            let len = self.byte_tokens(sequence, features)?;
            FirstLayer::Table {
                tokens: features.get(..len).ok_or(too_small)?,
                table,
                vocab: self.info.vocab_size(),
            }
        } else {
            FirstLayer::Pairs(self.pair_features_i8(sequence, features)?.0)
        };
        let len = match &first {
            FirstLayer::Pairs(pairs) => pairs.len(),
            FirstLayer::Table { tokens, .. } => tokens.len(),
        };
        mark(Stage::PairFeatures);
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
                // from_bytes checked this layer with ConvI8::new.
                let conv = ConvI8::trusted(self.geom(t, &layer)?, p.weights, p.bias, quant);
                let (Some(&begin), Some(&end)) = (start.get(t), start.get(t + 1)) else {
                    return Err(Error::BadLayerCount);
                };
                // Earlier layers' rings are read, this layer's is written.
                let (before, rest) = maps.split_at_mut_checked(begin).ok_or(too_small)?;
                let own = rest.get_mut(..end - begin).ok_or(too_small)?;
                let slot_len = L * layer.out_channels;
                let slot = (i % usize::from(ring.rows.max(1))) * slot_len;
                let row_len = (L - i) * layer.out_channels;
                let row = own.get_mut(slot..slot + row_len).ok_or(too_small)?;
                let ring_of = |s: usize| -> Result<(&[i8], usize), Error> {
                    let (Some(&b), Some(&e), Some(r)) =
                        (start.get(s), start.get(s + 1), rings.get(s))
                    else {
                        return Err(Error::BadLayerCount);
                    };
                    let data = before.get(b..e).ok_or(too_small)?;
                    Ok((data, usize::from(r.rows)))
                };
                if t == 0 {
                    match &first {
                        FirstLayer::Pairs(pairs) => conv.run_row::<_, L>(pairs, i, scratch, row)?,
                        FirstLayer::Table {
                            tokens,
                            table,
                            vocab,
                        } => {
                            let masked = clamp_i8(quant.zero_point, i8::MIN, i8::MAX);
                            let shape = (*vocab, layer.out_channels);
                            table_row(tokens, table, shape, i, masked, row)?;
                        }
                    }
                } else {
                    let (data, rows) = ring_of(t - 1)?;
                    let zp = i32::from(out_zero_point.get(t - 1).copied().unwrap_or(0));
                    let window = RowWindowI8::<L>::new(data, rows, layer.in_channels, len, zp)?;
                    conv.run_row::<_, L>(&window, i, scratch, row)?;
                }
                mark(Stage::Conv(t));
                if p.add.is_some() {
                    let s = layer.residual.ok_or(Error::BadResidual)?;
                    let (data, rows) = ring_of(s)?;
                    let source_slot = (i % rows.max(1)) * slot_len;
                    let skip = data
                        .get(source_slot..source_slot + row_len)
                        .ok_or(too_small)?;
                    p.add_residual(row, skip)?;
                    mark(Stage::Add(t));
                }
                observe(t, i, row);
            }
        }
        Ok(len)
    }
}
