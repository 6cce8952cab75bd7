//! The model description stored in a weights file's safetensors metadata under `scnn`.

use anyhow::{bail, Context, Result};
use scnn::{Activation, Involution, Segment};
use serde::{Deserialize, Serialize};

/// Metadata key of the JSON model description.
pub const METADATA_KEY: &str = "scnn";

/// How per-position features become pair features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PairFeature {
    /// `[e_i ; e_j]`: 2·dim channels.
    Concat,
    /// `e_i ⊗ e_j`: dim² channels.
    Outer,
    /// The one-hot bin of the sequence separation `|i − j|` among `n` bins
    /// ([`scnn::generate::separation_bin`]): `n` channels. Written `{"separation": n}`.
    Separation(u16),
}

/// What the model is for: its alphabet and vocabulary (the rows of the embedding table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AppName {
    /// RNA letters: 5 tokens A, C, G, U (T), N.
    #[default]
    Rna,
    /// Amino acids: 21 tokens, the 20 standard residues and X.
    Protein,
    /// Item ids (sequential recommendation): `vocab_size` tokens, no alphabet.
    Items,
}

impl AppName {
    /// The blob's application tag.
    pub fn app(self) -> scnn::blob::App {
        match self {
            AppName::Rna => scnn::blob::App::Rna,
            AppName::Protein => scnn::blob::App::Protein,
            AppName::Items => scnn::blob::App::Items,
        }
    }

    /// Symbol → token table the blob carries.
    pub fn alphabet(self) -> &'static [(u8, u16)] {
        match self {
            AppName::Rna => scnn::apps::rna::ALPHABET,
            AppName::Protein => scnn::apps::protein::ALPHABET,
            AppName::Items => &[],
        }
    }

    /// Tokens of the letter apps (rows of the embedding table); `None` for items, whose
    /// count the config gives.
    pub fn vocab_size(self) -> Option<usize> {
        match self {
            AppName::Rna => Some(scnn::apps::rna::VOCAB_SIZE),
            AppName::Protein => Some(scnn::apps::protein::VOCAB_SIZE),
            AppName::Items => None,
        }
    }
}

/// Activation names in the config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ActivationName {
    #[default]
    None,
    Relu,
    Relu6,
}

impl From<ActivationName> for Activation {
    fn from(a: ActivationName) -> Self {
        match a {
            ActivationName::None => Activation::None,
            ActivationName::Relu => Activation::Relu,
            ActivationName::Relu6 => Activation::Relu6,
        }
    }
}

/// One layer: conv (+ batch norm) (+ residual) then activation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerConfig {
    pub out_channels: usize,
    pub kernel: usize,
    #[serde(default = "one")]
    pub dilation: usize,
    #[serde(default)]
    pub activation: ActivationName,
    /// Index of an earlier layer whose output is added before the activation.
    #[serde(default)]
    pub residual: Option<usize>,
    /// Whether `layers.N.bn.*` tensors follow the conv (folded by `convert`).
    #[serde(default)]
    pub batch_norm: bool,
    /// `same` (zeros around the map, the default) or `valid` (the map shrinks by
    /// `(kernel − 1)·dilation`; pooled models only).
    #[serde(default)]
    pub padding: PaddingName,
}

/// Conv padding names in the config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PaddingName {
    #[default]
    Same,
    Valid,
}

impl From<PaddingName> for scnn::conv::Padding {
    fn from(p: PaddingName) -> Self {
        match p {
            PaddingName::Same => scnn::conv::Padding::Same,
            PaddingName::Valid => scnn::conv::Padding::Valid,
        }
    }
}

/// Pool names in the config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PoolName {
    #[default]
    Avg,
    Max,
}

/// Activations of dense layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DenseActivationName {
    #[default]
    None,
    Relu,
    Relu6,
    Tanh,
    Sigmoid,
}

/// A layer after the pool. Tensors: `head.N.weight` and `head.N.bias` for layer `N` of
/// `head.layers` (a side table has only `head.N.weight`, `[rows, dim]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum VectorConfig {
    /// Fully connected: `weight [out_features, in]`, `bias [out_features]`.
    Dense {
        out_features: usize,
        #[serde(default)]
        activation: DenseActivationName,
    },
    /// Joins row `side` of a table (a user embedding, say) to the vector.
    Side { rows: usize, dim: usize },
    /// One score per item: `weight [items, in]`, `bias [items]`. Last.
    Scores { items: usize },
}

/// A pooled head: the last conv map pooled over the triangle, then `layers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PooledConfig {
    #[serde(default)]
    pub pool: PoolName,
    pub layers: Vec<VectorConfig>,
}

impl PooledConfig {
    /// Output width of head layer `n`, given the pooled width.
    pub fn width_after(&self, n: usize, pooled: usize) -> usize {
        let mut width = pooled;
        for layer in &self.layers[..=n] {
            width = match *layer {
                VectorConfig::Dense { out_features, .. } => out_features,
                VectorConfig::Side { dim, .. } => width + dim,
                VectorConfig::Scores { items } => items,
            };
        }
        width
    }

    /// Input width of head layer `n`.
    pub fn width_before(&self, n: usize, pooled: usize) -> usize {
        match n {
            0 => pooled,
            n => self.width_after(n - 1, pooled),
        }
    }

    /// Rows of the side table, if any.
    pub fn side_rows(&self) -> Option<usize> {
        self.layers.iter().find_map(|l| match *l {
            VectorConfig::Side { rows, .. } => Some(rows),
            _ => None,
        })
    }
}

impl LayerConfig {
    /// A layer without batch norm.
    pub fn new(
        out_channels: usize,
        kernel: usize,
        dilation: usize,
        activation: ActivationName,
        residual: Option<usize>,
    ) -> Self {
        Self {
            out_channels,
            kernel,
            dilation,
            activation,
            residual,
            batch_norm: false,
            padding: PaddingName::Same,
        }
    }
}

fn one() -> usize {
    1
}

fn default_eps() -> f64 {
    1e-5
}

/// The whole model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// What the model is for (default: RNA).
    #[serde(default)]
    pub app: AppName,
    /// Longest sequence (the pair map is `pair_len × pair_len`).
    pub pair_len: usize,
    /// Per-position feature dimension (4 for one-hot).
    pub embedding_dim: usize,
    /// Pair-feature segments, in channel order.
    pub pair_features: Vec<PairFeature>,
    pub layers: Vec<LayerConfig>,
    #[serde(default = "default_eps")]
    pub bn_eps: f64,
    /// Tokens (rows of the embedding table): required for items, else the app's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab_size: Option<usize>,
    /// A pooled head after the convs (recommendation); none: the last conv gives pair logits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<PooledConfig>,
}

impl ModelConfig {
    /// SCosRec's architecture (the paper's: `dim` 50, `width` 128, 150 dense): `[e_i ; e_j]` of
    /// `dim`-wide item embeddings, a 1×1 generating layer to `width`, a valid 3×3, a 1×1 to twice
    /// the width, a valid 3×3 (5×5 → 3×3 → 1×1), average pool, dense to `fc` + tanh, the user's
    /// `dim`-wide row joined, a score for each of `items` tokens.
    pub fn scosrec(dim: usize, width: usize, fc: usize, items: usize, users: usize) -> ModelConfig {
        let layer = |out, kernel, valid: bool| LayerConfig {
            padding: if valid {
                PaddingName::Valid
            } else {
                PaddingName::Same
            },
            ..LayerConfig::new(out, kernel, 1, ActivationName::Relu, None)
        };
        ModelConfig {
            app: AppName::Items,
            pair_len: 5,
            embedding_dim: dim,
            pair_features: vec![PairFeature::Concat],
            layers: vec![
                layer(width, 1, false),
                layer(width, 3, true),
                layer(2 * width, 1, false),
                layer(2 * width, 3, true),
            ],
            bn_eps: 1e-5,
            vocab_size: Some(items),
            head: Some(PooledConfig {
                pool: PoolName::Avg,
                layers: vec![
                    VectorConfig::Dense {
                        out_features: fc,
                        activation: DenseActivationName::Tanh,
                    },
                    VectorConfig::Side { rows: users, dim },
                    VectorConfig::Scores { items },
                ],
            }),
        }
    }

    /// Appends a separation pair feature of `bins` bins (none for 0).
    pub fn add_separation(&mut self, bins: u16) {
        if bins > 0 {
            self.pair_features.push(PairFeature::Separation(bins));
        }
    }

    /// Tokens: rows of the embedding table.
    pub fn vocab_size(&self) -> usize {
        self.app.vocab_size().or(self.vocab_size).unwrap_or(0)
    }

    /// Channels of the last conv (the pooled width of a pooled head).
    pub fn conv_out_channels(&self) -> usize {
        self.layers.last().map_or(0, |l| l.out_channels)
    }

    /// The runtime segments of the pair features.
    pub fn segments(&self) -> Vec<Segment> {
        let d = self.embedding_dim as u16;
        self.pair_features
            .iter()
            .map(|f| match f {
                PairFeature::Concat => Segment::SwapHalves(d),
                PairFeature::Outer => Segment::Transpose(d),
                PairFeature::Separation(n) => Segment::Separation(*n),
            })
            .collect()
    }

    /// Channels of the pair tensor.
    pub fn pair_channels(&self) -> usize {
        self.segments().iter().map(|s| s.channels()).sum()
    }

    /// What input channel `c` of layer `t` holds, for messages: a pair feature of layer 0
    /// (`e_i[f]`, `e_j[f]` or the outer product `e_i[a]·e_j[b]`), else the previous output.
    pub fn channel_meaning(&self, t: usize, c: usize) -> String {
        if t > 0 {
            return format!("channel {c} of layer {}'s output", t - 1);
        }
        let d = self.embedding_dim;
        let mut start = 0;
        for feature in &self.pair_features {
            let width = match feature {
                PairFeature::Concat => 2 * d,
                PairFeature::Outer => d * d,
                PairFeature::Separation(n) => usize::from(*n),
            };
            if c < start + width {
                let k = c - start;
                return match feature {
                    PairFeature::Concat if k < d => format!("e_i[{k}] of [e_i ; e_j]"),
                    PairFeature::Concat => format!("e_j[{}] of [e_i ; e_j]", k - d),
                    PairFeature::Outer => {
                        format!("the outer product e_i[{}]·e_j[{}]", k / d, k % d)
                    }
                    PairFeature::Separation(_) => format!("separation bin {k}"),
                };
            }
            start += width;
        }
        format!("channel {c}")
    }

    /// The input channels of layer `t`.
    pub fn in_channels(&self, t: usize) -> usize {
        if t == 0 {
            self.pair_channels()
        } else {
            self.layers[t - 1].out_channels
        }
    }

    /// The partner table of layer `t`'s input channels.
    pub fn partners(&self, t: usize) -> Vec<usize> {
        let segments = self.segments();
        let involution = if t == 0 {
            Involution::Segments(&segments)
        } else {
            Involution::Identity
        };
        (0..self.in_channels(t))
            .map(|c| involution.partner(c))
            .collect()
    }

    /// Checks everything the runtime will need, with messages naming the field.
    pub fn validate(&self) -> Result<()> {
        if self.pair_len == 0 || self.pair_len > 1024 {
            bail!("config: pair_len {} must be in 1..=1024", self.pair_len);
        }
        if self.embedding_dim == 0 || self.embedding_dim > scnn::model::MAX_FEATURE_DIM {
            bail!(
                "config: embedding_dim {} must be in 1..={}",
                self.embedding_dim,
                scnn::model::MAX_FEATURE_DIM
            );
        }
        for feature in &self.pair_features {
            if let PairFeature::Separation(n) = *feature {
                if n == 0 || n > scnn::blob::MAX_SEPARATION_BINS {
                    bail!(
                        "config: a separation pair feature needs 1 to {} bins, not {n}",
                        scnn::blob::MAX_SEPARATION_BINS
                    );
                }
            }
        }
        if self.pair_features.is_empty() || self.pair_features.len() > scnn::model::MAX_SEGMENTS {
            bail!("config: pair_features needs 1 to 4 entries");
        }
        if !(self.bn_eps.is_finite() && self.bn_eps > 0.0) {
            bail!(
                "config: bn_eps {} must be a positive number (PyTorch's default is 1e-5)",
                self.bn_eps
            );
        }
        if self.layers.is_empty() || self.layers.len() > scnn::MAX_LAYERS {
            bail!("config: layers needs 1 to {} entries", scnn::MAX_LAYERS);
        }
        let mut used_sources = Vec::new();
        let mut live_until = 0;
        for (t, layer) in self.layers.iter().enumerate() {
            if !matches!(layer.kernel, 1 | 3 | 5 | 7) {
                bail!(
                    "config: layers[{t}].kernel {} must be 1, 3, 5 or 7",
                    layer.kernel
                );
            }
            if layer.dilation == 0 || layer.dilation > scnn::blob::MAX_DILATION {
                bail!(
                    "config: layers[{t}].dilation {} must be in 1..={}",
                    layer.dilation,
                    scnn::blob::MAX_DILATION
                );
            }
            if layer.out_channels == 0 || layer.out_channels > 1024 {
                bail!(
                    "config: layers[{t}].out_channels {} must be in 1..=1024",
                    layer.out_channels
                );
            }
            if let Some(s) = layer.residual {
                if s >= t {
                    bail!("config: layers[{t}].residual {s} must name an earlier layer");
                }
                if self.layers[s].out_channels != layer.out_channels {
                    bail!("config: layers[{t}].residual {s} has a different channel count");
                }
                if used_sources.contains(&s) || s < live_until {
                    bail!("config: layers[{t}].residual {s} overlaps another skip connection");
                }
                used_sources.push(s);
                live_until = t;
            }
        }
        match (self.app.vocab_size(), self.vocab_size) {
            (None, None) => bail!("config: vocab_size is required for app {:?}", self.app),
            (Some(app), Some(given)) if app != given => {
                bail!("config: vocab_size {given} differs from the app's {app} tokens")
            }
            _ => {}
        }
        if !(1..=65_535).contains(&self.vocab_size()) {
            bail!(
                "config: vocab_size {} must be in 1..=65535",
                self.vocab_size()
            );
        }
        let shrink: usize = self
            .layers
            .iter()
            .filter(|l| l.padding == PaddingName::Valid)
            .map(|l| (l.kernel - 1) * l.dilation)
            .sum();
        match &self.head {
            None => {
                if self.layers.last().map(|l| l.out_channels) != Some(1) {
                    bail!("config: the last layer must have out_channels 1 (the pair logits)");
                }
                if shrink > 0 {
                    bail!("config: valid padding needs a pooled head (a pair map keeps its size)");
                }
            }
            Some(head) => self.validate_head(head, shrink)?,
        }
        Ok(())
    }

    fn validate_head(&self, head: &PooledConfig, shrink: usize) -> Result<()> {
        if shrink >= self.pair_len {
            bail!(
                "config: the valid convs shrink the map by {shrink}, leaving nothing of pair_len {}",
                self.pair_len
            );
        }
        let count = self.layers.len() + 1 + head.layers.len();
        if count > scnn::MAX_LAYERS {
            bail!(
                "config: {count} layers with the head; at most {}",
                scnn::MAX_LAYERS
            );
        }
        let Some(VectorConfig::Scores { .. }) = head.layers.last() else {
            bail!("config: head.layers must end with a scores layer");
        };
        let pooled = self.conv_out_channels();
        let mut sides = 0;
        for (n, layer) in head.layers.iter().enumerate() {
            let out = head.width_after(n, pooled);
            match *layer {
                VectorConfig::Scores { items } => {
                    if n + 1 != head.layers.len() {
                        bail!("config: head.layers[{n}]: scores must be the last layer");
                    }
                    if !(1..=65_535).contains(&items) {
                        bail!("config: head.layers[{n}].items {items} must be in 1..=65535");
                    }
                }
                VectorConfig::Side { rows, dim } => {
                    sides += 1;
                    if !(1..=65_535).contains(&rows) || dim == 0 {
                        bail!("config: head.layers[{n}]: side needs 1..=65535 rows and dim >= 1");
                    }
                }
                VectorConfig::Dense { out_features, .. } => {
                    if out_features == 0 {
                        bail!("config: head.layers[{n}].out_features must be at least 1");
                    }
                }
            }
            if !matches!(layer, VectorConfig::Scores { .. }) && out > scnn::MAX_CHANNELS {
                bail!(
                    "config: head.layers[{n}] is {out} wide; at most {}",
                    scnn::MAX_CHANNELS
                );
            }
        }
        if sides > 1 {
            bail!("config: head.layers has {sides} side tables; at most one");
        }
        Ok(())
    }

    /// Parses the metadata JSON.
    pub fn from_json(text: &str) -> Result<Self> {
        let config: Self = serde_json::from_str(text).context("config: invalid JSON")?;
        config.validate()?;
        Ok(config)
    }
}
