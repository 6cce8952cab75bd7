//! Running a blob with the scnn runtime on the host, exactly as a firmware does.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use scnn::blob::Precision;
use scnn::decode::{decode, decode_logits};
use scnn::model::{Buffers, Model};
use scnn::tri::{tri_index, tri_len};

/// Blob bytes held 4-byte aligned, as the loader requires.
#[derive(Clone, Debug)]
pub struct Blob {
    words: Vec<u32>,
    len: usize,
    /// Where it came from, for messages.
    name: String,
}

impl Blob {
    pub fn new(bytes: &[u8]) -> Self {
        let mut words = vec![0u32; bytes.len().div_ceil(4)];
        bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Self {
            words,
            len: bytes.len(),
            name: "the blob".into(),
        }
    }

    pub fn read(path: &Path) -> Result<Self> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut blob = Self::new(&bytes);
        blob.name = path.display().to_string();
        Ok(blob)
    }

    /// Why the runtime refused it, naming the file; a weights file given where a blob
    /// belongs gets said so.
    pub fn load_error(&self, error: scnn::Error) -> anyhow::Error {
        let bytes = self.bytes();
        let safetensors = bytes.len() > 9
            && bytes[8] == b'{'
            && u64::from_le_bytes(bytes[..8].try_into().unwrap_or([0xFF; 8])) < bytes.len() as u64;
        if safetensors && error == scnn::Error::BadMagic {
            return anyhow!(
                "{}: a safetensors weights file, not an scnn blob: make a blob with `scnn convert`",
                self.name
            );
        }
        anyhow!("{}: invalid model blob: {error}", self.name)
    }

    /// The path it was read from (or "the blob").
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The CRC-32 stored in its last four bytes: what a firmware's hello reports.
    pub fn stored_crc(&self) -> u32 {
        let bytes = self.bytes();
        bytes.len().checked_sub(4).map_or(0, |end| {
            u32::from_le_bytes(bytes[end..].try_into().unwrap_or([0; 4]))
        })
    }

    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u32, u8>(&self.words)[..self.len]
    }

    /// The pair length the header declares (0 if the blob is too short to say).
    pub fn pair_len(&self) -> usize {
        self.bytes()
            .get(16..18)
            .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as usize)
    }
}

/// What one sequence gives.
#[derive(Clone, Debug)]
pub struct Prediction {
    pub len: usize,
    /// Dense `len×len` probabilities.
    pub probs: Vec<f32>,
    pub pairs: Vec<(usize, usize)>,
    pub structure: String,
    /// Pairs the dot-bracket leaves out (past its 30 bracket levels); `pairs` has them.
    pub unbracketed: usize,
    /// Each layer's packed output over the firmware's `L` (int8 blobs, when asked for).
    pub layers_i8: Vec<Vec<i8>>,
    /// The `L` the runtime was instantiated with.
    pub l: usize,
    /// What the model is for.
    pub app: scnn::blob::App,
}

/// Facts about a loaded model for reports.
pub struct Summary {
    pub precision: Precision,
    pub app: scnn::blob::App,
    pub pair_len: usize,
    pub feature_dim: usize,
    pub slots: usize,
    pub max_channels: usize,
    pub arena_len: usize,
    pub scratch_len: usize,
    /// `Σ rows · channels` of the streaming rings (int8 models).
    pub stream_ring_len: Option<usize>,
}

/// Calls `$body` with a const `L` at least the blob's pair length.
macro_rules! with_l {
    ($pair_len:expr, $f:ident ( $($arg:expr),* )) => {{
        let n = $pair_len;
        if n <= 32 { $f::<32>($($arg),*) }
        else if n <= 64 { $f::<64>($($arg),*) }
        else if n <= 128 { $f::<128>($($arg),*) }
        else if n <= 256 { $f::<256>($($arg),*) }
        else if n <= 512 { $f::<512>($($arg),*) }
        else { $f::<1024>($($arg),*) }
    }};
}

fn load<const L: usize>(blob: &Blob) -> Result<Model<'_, L>> {
    Model::<L>::from_bytes(blob.bytes()).map_err(|e| blob.load_error(e))
}

fn summary_at<const L: usize>(blob: &Blob) -> Result<Summary> {
    let m = load::<L>(blob)?;
    Ok(Summary {
        precision: m.precision(),
        app: m.app(),
        pair_len: m.pair_len(),
        feature_dim: m.feature_dim(),
        slots: m.slots(),
        max_channels: m.max_channels(),
        // At the blob's own pair length (L may be larger here).
        arena_len: m.info().arena_len(),
        scratch_len: m.scratch_len(),
        // Row streaming runs pair-map heads only.
        stream_ring_len: match (m.precision(), m.head()) {
            (Precision::Int8, scnn::model::Head::PairMap) => m.stream_ring_len().ok(),
            _ => None,
        },
    })
}

/// Checks that float weights describe the blob's network: the same convs with the same
/// channels, kernels, dilations, padding and skips, so that comparing the two layer by layer
/// compares like with like. The error names the first difference.
pub fn check_same_network(blob: &Blob, config: &crate::config::ModelConfig) -> Result<()> {
    let shapes: Vec<(usize, usize, usize, bool, Option<usize>)> = with_model(blob, |model| {
        model
            .layers()
            .map(|l| {
                let valid = l.padding == scnn::conv::Padding::Valid;
                (l.out_channels, l.kernel, l.dilation, valid, l.residual)
            })
            .collect()
    })?;
    if shapes.len() != config.layers.len() {
        bail!(
            "the weights describe {} conv layers, the blob {}: they are not the same network",
            config.layers.len(),
            shapes.len()
        );
    }
    for (t, (layer, &(out, kernel, dilation, valid, residual))) in
        config.layers.iter().zip(&shapes).enumerate()
    {
        let want = (
            layer.out_channels,
            layer.kernel,
            layer.dilation,
            layer.padding == crate::config::PaddingName::Valid,
            layer.residual,
        );
        if want != (out, kernel, dilation, valid, residual) {
            bail!(
                "layer {t}: the weights have {} channels, kernel {}, dilation {}{}, the blob {out} channels, kernel {kernel}, dilation {dilation}{}: they are not the same network",
                want.0,
                want.1,
                want.2,
                skip_text(want.4),
                skip_text(residual)
            );
        }
    }
    Ok(())
}

fn skip_text(residual: Option<usize>) -> String {
    residual.map_or_else(String::new, |r| format!(", skip from layer {r}"))
}

/// Validates the blob and summarizes it (with `L` = its pair length, as a firmware sized
/// exactly for it would).
pub fn summary(blob: &Blob) -> Result<Summary> {
    with_l!(blob.pair_len(), summary_at(blob))
}

/// Validates the blob and returns the model's layers for reports.
pub fn with_model<R>(blob: &Blob, f: impl FnOnce(&Model<'_, 1024>) -> R) -> Result<R> {
    let model = load::<1024>(blob)?;
    Ok(f(&model))
}

fn predict_at<const L: usize>(
    blob: &Blob,
    sequence: &str,
    threshold: f32,
    keep_layers: bool,
) -> Result<Prediction> {
    let model = Model::<L>::from_bytes_up_to_l(blob.bytes()).map_err(|e| blob.load_error(e))?;
    let mut probs = zeroed(tri_len(L), 0f32, "the probability map")?;
    let mut layers_i8 = Vec::new();
    let mut logits = Vec::new();
    let last = model.layer_count() - 1;
    let run = match model.precision() {
        Precision::Int8 => {
            let mut arena = zeroed(model.arena_len(), 0i8, "the activation arena")?;
            let mut scratch = zeroed(model.scratch_len(), 0i16, "the conv scratch")?;
            let mut buffers = Buffers {
                arena: &mut arena,
                scratch: &mut scratch,
                probs: &mut probs,
            };
            model.predict_i8_with(sequence.as_bytes(), &mut buffers, |t, map| {
                if t == last {
                    logits = map.to_vec();
                }
                if keep_layers {
                    layers_i8.push(map.to_vec());
                }
            })
        }
        Precision::F32 => {
            let mut arena = zeroed(model.arena_len(), 0f32, "the activation arena")?;
            let mut scratch = zeroed(model.scratch_len(), 0f32, "the conv scratch")?;
            let mut buffers = Buffers {
                arena: &mut arena,
                scratch: &mut scratch,
                probs: &mut probs,
            };
            model.predict_f32_with(sequence.as_bytes(), &mut buffers, |_, _| {})
        }
    };
    let len = run.map_err(|e| anyhow!("{e}"))?;
    // RNA models decode a structure; int8 ones from their logits, as a firmware does.
    let structure = if model.app() == scnn::blob::App::Rna {
        let mut bases = vec![scnn::seq::Base::N; len];
        scnn::seq::encode(sequence.as_bytes(), &mut bases).map_err(|e| anyhow!("{e}"))?;
        match model.precision() {
            Precision::Int8 => {
                let (scale, zero_point) = model.logit_quant();
                decode_logits::<L>(&logits, &bases, threshold, scale, zero_point)
            }
            Precision::F32 => decode::<L>(&probs, &bases, threshold),
        }
        .map_err(|e| anyhow!("{e}"))?
    } else {
        scnn::decode::Structure::default()
    };
    let mut dense = vec![0f32; len * len];
    for i in 0..len {
        for j in i..len {
            let p = probs[tri_index(L, i, j)];
            dense[i * len + j] = p;
            dense[j * len + i] = p;
        }
    }
    Ok(Prediction {
        len,
        probs: dense,
        pairs: structure
            .pairs
            .iter()
            .map(|&(i, j)| (i as usize, j as usize))
            .collect(),
        structure: structure.dot_bracket_str().to_string(),
        unbracketed: usize::from(structure.unbracketed),
        layers_i8,
        l: L,
        app: model.app(),
    })
}

/// Runs the blob on one sequence and decodes the structure.
pub fn predict(
    blob: &Blob,
    sequence: &str,
    threshold: f32,
    keep_layers: bool,
) -> Result<Prediction> {
    // Buffers sized to the sequence, not to the blob's longest: a short sequence through a
    // model built for long ones costs what the short sequence needs. (A pooled head needs
    // its whole pair length.)
    let pooled = scnn::model::ModelInfo::try_parse(blob.bytes())
        .is_ok_and(|info| !matches!(info.head(), scnn::model::Head::PairMap));
    let l = if pooled {
        blob.pair_len()
    } else {
        sequence.len().clamp(1, blob.pair_len().max(1))
    };
    with_l!(l, predict_at(blob, sequence, threshold, keep_layers))
}

/// `n` copies of `value`, or an error naming `what` when memory runs out (instead of the
/// abort a failed allocation otherwise is).
pub fn zeroed<T: Clone>(n: usize, value: T, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        anyhow!(
            "cannot allocate {what} ({n} values of {} bytes)",
            std::mem::size_of::<T>()
        )
    })?;
    v.resize(n, value);
    Ok(v)
}

fn decode_dense_at<const L: usize>(
    probs: &[f32],
    bases: &[scnn::seq::Base],
    threshold: f32,
) -> Result<(Vec<(usize, usize)>, String)> {
    let packed = pack_dense::<L>(probs, bases.len())?;
    let s = decode::<L>(&packed, bases, threshold).map_err(|e| anyhow!("{e}"))?;
    Ok((
        s.pairs
            .iter()
            .map(|&(i, j)| (i as usize, j as usize))
            .collect(),
        s.dot_bracket_str().to_string(),
    ))
}

/// The upper triangle of a dense `n×n` map, packed over `L` (what the decoders read).
fn pack_dense<const L: usize>(probs: &[f32], n: usize) -> Result<Vec<f32>> {
    if probs.len() < n * n {
        bail!(
            "a {n}-base sequence needs {} probabilities, not {}",
            n * n,
            probs.len()
        );
    }
    let mut packed = vec![0f32; tri_len(L)];
    for i in 0..n {
        for j in i..n {
            packed[tri_index(L, i, j)] = probs[i * n + j];
        }
    }
    Ok(packed)
}

/// The best nested structure of a dense `n×n` probability map, by the runtime's nested
/// decoder (what a firmware built with it decodes).
pub fn decode_dense_nested(
    probs: &[f32],
    bases: &[scnn::seq::Base],
    scoring: scnn::decode::NestedScoring,
) -> Result<Vec<(usize, usize)>> {
    with_l!(
        bases.len().max(1),
        decode_dense_nested_at(probs, bases, scoring)
    )
}

fn decode_dense_nested_at<const L: usize>(
    probs: &[f32],
    bases: &[scnn::seq::Base],
    scoring: scnn::decode::NestedScoring,
) -> Result<Vec<(usize, usize)>> {
    let packed = pack_dense::<L>(probs, bases.len())?;
    let mut table = vec![0u16; scnn::decode::nested_table_len(L)];
    let s = scnn::decode::decode_nested::<L>(&packed, bases, scoring, &mut table)
        .map_err(|e| anyhow!("{e}"))?;
    Ok(s.pairs
        .iter()
        .map(|&(i, j)| (usize::from(i), usize::from(j)))
        .collect())
}

/// Decodes a dense `n×n` probability map with the runtime's decoder.
pub fn decode_dense(
    probs: &[f32],
    bases: &[scnn::seq::Base],
    threshold: f32,
) -> Result<(Vec<(usize, usize)>, String)> {
    with_l!(bases.len(), decode_dense_at(probs, bases, threshold))
}

/// The best `k` contacts of packed int8 logits over a `len`-residue sequence, by the rule the
/// firmware's streamed list uses (logit descending, ties by `(i, j)` ascending), written
/// here as a plain sort: an independent check of it.
pub fn top_contacts(
    logits: &[i8],
    l: usize,
    len: usize,
    k: usize,
) -> Vec<scnn::apps::protein::Contact> {
    let mut all = Vec::new();
    for i in 0..len {
        for j in i + scnn::apps::protein::MIN_SEPARATION..len {
            all.push(scnn::apps::protein::Contact {
                i: i as u16,
                j: j as u16,
                logit: logits[tri_index(l, i, j)],
            });
        }
    }
    all.sort_by_key(|c| (std::cmp::Reverse(c.logit), c.i, c.j));
    all.truncate(k);
    all
}

/// CRC-32 of the logits of the pairs `i <= j < len`, row by row (what a protein firmware
/// sends instead of the map).
pub fn logits_crc(logits: &[i8], l: usize, len: usize) -> u32 {
    let mut digest = scnn::blob::CRC32.digest();
    for i in 0..len {
        let row = tri_index(l, i, i);
        let bytes: Vec<u8> = logits[row..row + (len - i)]
            .iter()
            .map(|&q| q as u8)
            .collect();
        digest.update(&bytes);
    }
    digest.finalize()
}

/// Every item's score for one history.
#[derive(Clone, Debug)]
pub struct ItemScores {
    /// int8 models: the scores layer's int32 accumulators, as a firmware computes them.
    pub raw: Vec<i32>,
    /// Real scores (`raw · scale` for int8 models).
    pub real: Vec<f64>,
}

impl ItemScores {
    /// What ranks the items: an int8 model's int32 scores (as its device ranks them), else
    /// the real scores.
    pub fn keys(&self) -> Vec<f64> {
        if self.raw.is_empty() {
            self.real.clone()
        } else {
            self.raw.iter().map(|&s| s as f64).collect()
        }
    }

    /// Tokens from `first` on, best first, ties by the lower token, `excluded` left out.
    pub fn ranking(&self, first: u16, excluded: impl Fn(u16) -> bool) -> Vec<u16> {
        crate::recsys::rank_tokens(&self.keys(), first, excluded)
    }
}

fn scores_at<const L: usize>(
    blob: &Blob,
    inputs: &[(&[u16], Option<u16>)],
) -> Result<Vec<ItemScores>> {
    let model = load::<L>(blob)?;
    let last = model.layer_count() - 1;
    let scale = match model.vector_layer(last, false).map(|l| l.params()) {
        Ok(scnn::model::VectorParams::ScoresI8(s)) => s.scale as f64,
        Ok(scnn::model::VectorParams::ScoresF32(..)) => 1.0,
        _ => anyhow::bail!("{}: not a model with a scores head", blob.name()),
    };
    // Buffers of the model's precision only.
    let (i8_len, f32_len) = match model.precision() {
        Precision::Int8 => ((model.arena_len(), model.scratch_len()), (0, 0)),
        Precision::F32 => ((0, 0), (model.arena_len(), model.scratch_len())),
    };
    let mut arena_i8 = zeroed(i8_len.0, 0i8, "the activation arena")?;
    let mut scratch_i8 = zeroed(i8_len.1, 0i16, "the conv scratch")?;
    let mut arena_f32 = zeroed(f32_len.0, 0f32, "the activation arena")?;
    let mut scratch_f32 = zeroed(f32_len.1, 0f32, "the conv scratch")?;
    let mut all = Vec::with_capacity(inputs.len());
    for &(items, user) in inputs {
        let mut out = ItemScores {
            raw: Vec::new(),
            real: Vec::new(),
        };
        let run = match model.precision() {
            Precision::Int8 => {
                model.predict_scores_i8(items, user, &mut arena_i8, &mut scratch_i8, |_, acc| {
                    out.raw.push(acc);
                    out.real.push(acc as f64 * scale);
                })
            }
            Precision::F32 => {
                model.predict_scores_f32(items, user, &mut arena_f32, &mut scratch_f32, |_, s| {
                    out.real.push(s as f64)
                })
            }
        };
        run.map_err(|e| anyhow!("{e}"))?;
        all.push(out);
    }
    Ok(all)
}

/// Runs a recommendation blob on many histories, loading (and checking) it once.
pub fn scores_many(blob: &Blob, inputs: &[(&[u16], Option<u16>)]) -> Result<Vec<ItemScores>> {
    with_l!(blob.pair_len(), scores_at(blob, inputs))
}

/// Runs a recommendation blob on one history (item tokens, oldest first) and user.
pub fn scores(blob: &Blob, items: &[u16], user: Option<u16>) -> Result<ItemScores> {
    let mut all = scores_many(blob, &[(items, user)])?;
    all.pop().ok_or_else(|| anyhow!("no scores"))
}

/// The best `k` items by int32 score, items of the history left out, by the rule the
/// firmware's list uses (score descending, ties by the lower item), written here as a plain
/// sort: an independent check of it.
pub fn top_items(scores: &[i32], history: &[u16], k: usize) -> Vec<scnn::apps::items::ItemScore> {
    let mut all: Vec<scnn::apps::items::ItemScore> = scores
        .iter()
        .enumerate()
        .filter(|&(item, _)| !history.contains(&(item as u16)))
        .map(|(item, &score)| scnn::apps::items::ItemScore {
            item: item as u16,
            score,
        })
        .collect();
    all.sort_by_key(|s| (std::cmp::Reverse(s.score), s.item));
    all.truncate(k);
    all
}

/// CRC-32 of every item's score, little-endian, in item order (what an items firmware sends
/// instead of the scores).
pub fn scores_crc(scores: &[i32]) -> u32 {
    let mut digest = scnn::blob::CRC32.digest();
    for s in scores {
        digest.update(&s.to_le_bytes());
    }
    digest.finalize()
}
