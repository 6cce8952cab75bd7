//! Float weights from safetensors: naming, shape and value checks, batch-norm folding, the
//! symmetry check and packing.
//!
//! Tensor names (all f32, PyTorch layouts):
//! - `embedding.weight` `[V, D]`: a row per token (RNA: A, C, G, U, N; proteins: the 20
//!   amino acids alphabetically, then X). Optional for RNA with D = 4 and when D = V
//!   (one-hot is used).
//! - `layers.N.weight` `[O, C, k, k]`, `layers.N.bias` `[O]` (optional, zeros).
//! - `layers.N.bn.weight|bias|running_mean|running_var` `[O]` when the layer has `batch_norm`.
//! - With a pooled head, for layer `N` of `head.layers`: `head.N.weight` `[out, in]` and
//!   `head.N.bias` `[out]` (optional, zeros) for dense and scores layers, `head.N.weight`
//!   `[rows, dim]` for the side table.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use safetensors::{Dtype, SafeTensors};

use crate::config::{ModelConfig, METADATA_KEY};

/// One layer's float weights with batch norm folded in.
#[derive(Clone, Debug)]
pub struct FloatLayer {
    /// Dense `[O][C][k][k]`.
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// The one-hot table used when a file has no embedding: RNA's 4 columns (N all zero), or
/// the identity when the dimension equals the vocabulary.
fn one_hot(app: crate::config::AppName, v: usize, d: usize) -> Option<Vec<f32>> {
    if app == crate::config::AppName::Rna && d == 4 {
        return Some(scnn::seq::ONE_HOT.to_vec());
    }
    (d == v).then(|| {
        (0..v * d)
            .map(|n| if n / d == n % d { 1.0 } else { 0.0 })
            .collect()
    })
}

/// A float model: config, embedding table and folded layers.
#[derive(Clone, Debug)]
pub struct FloatModel {
    pub config: ModelConfig,
    /// `V × D`, a row per token (RNA: A, C, G, U, N).
    pub embedding: Vec<f32>,
    pub layers: Vec<FloatLayer>,
    /// The pooled head's layers, as `head.layers` (a side table: `weight` only, no bias).
    pub head: Vec<FloatLayer>,
    /// Tensors stored in another float type and read as f32, with that type.
    pub converted: Vec<(String, String)>,
    /// With `symmetrize`: each kernel averaged, the most it moved a weight, and that as a
    /// share of the kernel's largest weight.
    pub symmetrized: Vec<(String, f32, f32)>,
}

struct Tensors<'a> {
    st: SafeTensors<'a>,
    used: Vec<String>,
    converted: Vec<(String, String)>,
    /// scnn name → the file's name, for files saved with PyTorch's own names.
    aliases: std::collections::HashMap<String, String>,
}

/// The values of a tensor's little-endian bytes as f32: f32 as they are, f64, f16 and bf16
/// converted (`None` for non-float types).
fn floats_of(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32)
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => return None,
    })
}

impl Tensors<'_> {
    fn get(&mut self, scnn_name: &str, shape: &[usize]) -> Result<Option<Vec<f32>>> {
        let file_name = self
            .aliases
            .get(scnn_name)
            .map_or(scnn_name, String::as_str)
            .to_string();
        let view = match self.st.tensor(&file_name) {
            Ok(view) => view,
            Err(_) => return Ok(None),
        };
        self.used.push(file_name.clone());
        // Messages name the tensor as the file does, and as scnn reads it.
        let name = if file_name == scnn_name {
            file_name
        } else {
            format!("{file_name}` (read as `{scnn_name}")
        };
        let Some(values) = floats_of(view.dtype(), view.data()) else {
            bail!(
                "tensor `{name}` has dtype {:?}; expected a float type (F32, F64, F16, BF16)",
                view.dtype()
            );
        };
        if view.dtype() != Dtype::F32 {
            self.converted
                .push((name.to_string(), format!("{:?}", view.dtype())));
        }
        if view.shape() != shape {
            bail!(
                "tensor `{name}` has shape {:?}; expected {:?}",
                view.shape(),
                shape
            );
        }
        if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
            bail!(
                "tensor `{name}` holds a non-finite value ({}) at flat index {bad}",
                values[bad]
            );
        }
        Ok(Some(values))
    }

    fn require(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        self.get(name, shape)?.ok_or_else(|| {
            let mut names: Vec<&str> = self.st.names().into_iter().collect();
            names.sort();
            anyhow!(
                "missing tensor `{name}` (the file has: {})",
                names.join(", ")
            )
        })
    }
}

impl FloatModel {
    /// Reads and checks a weights file. With `symmetrize`, kernels that break the symmetry
    /// rule are averaged with their mirror instead of rejected.
    pub fn load(path: &Path, symmetrize: bool) -> Result<Self> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::from_bytes(&bytes, symmetrize).with_context(|| format!("{}", path.display()))
    }

    pub fn from_bytes(bytes: &[u8], symmetrize: bool) -> Result<Self> {
        let (_, metadata) = SafeTensors::read_metadata(bytes).context("not a safetensors file")?;
        let text = metadata
            .metadata()
            .as_ref()
            .and_then(|m| m.get(METADATA_KEY))
            .ok_or_else(|| {
                anyhow!("safetensors metadata has no `{METADATA_KEY}` model description")
            })?;
        let config = ModelConfig::from_json(text)?;
        let st = SafeTensors::deserialize(bytes).context("not a safetensors file")?;
        let shapes: Vec<(String, Vec<usize>)> = st
            .tensors()
            .into_iter()
            .map(|(name, view)| (name, view.shape().to_vec()))
            .collect();
        let aliases = crate::pytorch_names::map(&shapes, &config)?.unwrap_or_default();
        let mut tensors = Tensors {
            st,
            used: Vec::new(),
            converted: Vec::new(),
            aliases,
        };

        let d = config.embedding_dim;
        let v = config.vocab_size();
        let embedding = match tensors.get("embedding.weight", &[v, d])? {
            Some(table) => table,
            None => match one_hot(config.app, v, d) {
                Some(table) => table,
                None => bail!(
                    "missing tensor `embedding.weight` [{v}, {d}] (one-hot is used without it only for RNA with embedding_dim 4 and for embedding_dim = vocabulary size)"
                ),
            },
        };

        let mut layers = Vec::new();
        let mut symmetrized = Vec::new();
        for (t, layer) in config.layers.iter().enumerate() {
            let (o, c, k) = (layer.out_channels, config.in_channels(t), layer.kernel);
            let mut weight = tensors.require(&format!("layers.{t}.weight"), &[o, c, k, k])?;
            let mut bias = tensors
                .get(&format!("layers.{t}.bias"), &[o])?
                .unwrap_or_else(|| vec![0.0; o]);
            if layer.batch_norm {
                let gamma = tensors.require(&format!("layers.{t}.bn.weight"), &[o])?;
                let beta = tensors.require(&format!("layers.{t}.bn.bias"), &[o])?;
                let mean = tensors.require(&format!("layers.{t}.bn.running_mean"), &[o])?;
                let var = tensors.require(&format!("layers.{t}.bn.running_var"), &[o])?;
                if let Some(bad) = var.iter().position(|&v| v < 0.0) {
                    bail!("tensor `layers.{t}.bn.running_var` is negative at index {bad}");
                }
                fold_batch_norm(
                    &mut weight,
                    &mut bias,
                    &gamma,
                    &beta,
                    &mean,
                    &var,
                    config.bn_eps,
                )
                .map_err(|e| anyhow!("batch norm `layers.{t}.bn`: {e}"))?;
            }
            let name = format!("layers.{t}.weight");
            let asymmetry = check_symmetry(
                &name,
                &mut weight,
                o,
                &config.partners(t),
                k,
                symmetrize,
                |c| config.channel_meaning(t, c),
            )?;
            if symmetrize && asymmetry > 0.0 {
                let largest = weight.iter().fold(0f32, |m, w| m.max(w.abs())).max(1e-30);
                symmetrized.push((name.clone(), asymmetry / 2.0, asymmetry / 2.0 / largest));
            }
            layers.push(FloatLayer { weight, bias });
        }
        let mut head = Vec::new();
        if let Some(pooled) = &config.head {
            let width = config.conv_out_channels();
            for (n, layer) in pooled.layers.iter().enumerate() {
                let (c, o) = (pooled.width_before(n, width), pooled.width_after(n, width));
                let weight_name = format!("head.{n}.weight");
                head.push(match *layer {
                    crate::config::VectorConfig::Side { rows, dim } => FloatLayer {
                        weight: tensors.require(&weight_name, &[rows, dim])?,
                        bias: Vec::new(),
                    },
                    _ => FloatLayer {
                        weight: tensors.require(&weight_name, &[o, c])?,
                        bias: tensors
                            .get(&format!("head.{n}.bias"), &[o])?
                            .unwrap_or_else(|| vec![0.0; o]),
                    },
                });
            }
        }
        let mut extra: Vec<&str> = tensors
            .st
            .names()
            .into_iter()
            .filter(|n| !tensors.used.iter().any(|u| u == n))
            // PyTorch's BatchNorm2d counter: nothing the model computes with.
            .filter(|n| !n.ends_with(".num_batches_tracked"))
            .collect();
        extra.sort();
        if !extra.is_empty() {
            bail!(
                "unexpected tensor `{}` (not named by the model description)",
                extra[0]
            );
        }
        Ok(Self {
            config,
            embedding,
            layers,
            head,
            converted: tensors.converted,
            symmetrized,
        })
    }

    /// Packs layer `t`'s kernels in the runtime's order: for each output channel and input
    /// channel `c`, the upper triangle when `π(c) = c`, the full kernel when `c < π(c)`.
    pub fn packed(&self, t: usize) -> Vec<f32> {
        let layer = &self.layers[t];
        let cfg = &self.config.layers[t];
        let partners = self.config.partners(t);
        pack(&layer.weight, cfg.out_channels, &partners, cfg.kernel)
    }
}

/// Folds `y = γ (x − μ) / √(σ² + ε) + β` into the preceding conv; an output channel whose
/// folded weights or bias are not finite f32 values (a zero variance with no ε, an overflow)
/// is an error naming it.
pub fn fold_batch_norm(
    weight: &mut [f32],
    bias: &mut [f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f64,
) -> std::result::Result<(), String> {
    let per_output = weight.len() / bias.len();
    for o in 0..bias.len() {
        let factor = gamma[o] as f64 / (var[o] as f64 + eps).sqrt();
        let row = &mut weight[o * per_output..(o + 1) * per_output];
        for w in row.iter_mut() {
            *w = (*w as f64 * factor) as f32;
        }
        bias[o] = ((bias[o] as f64 - mean[o] as f64) * factor + beta[o] as f64) as f32;
        if !factor.is_finite() || !bias[o].is_finite() || row.iter().any(|w| !w.is_finite()) {
            return Err(format!(
                "output channel {o} folds to a non-finite value (weight {}, running_var {}, eps {eps}: factor {factor})",
                gamma[o], var[o]
            ));
        }
    }
    Ok(())
}

fn dense_index(c_count: usize, k: usize, o: usize, c: usize, u: usize, v: usize) -> usize {
    ((o * c_count + c) * k + u) * k + v
}

/// Checks `W[o][π(c)][v][u] = W[o][c][u][v]`; averages the two with `symmetrize`. Returns
/// the largest asymmetry found (what averaging moved a weight by, twice over). `meaning`
/// names an input channel for the error.
pub fn check_symmetry(
    name: &str,
    weight: &mut [f32],
    out: usize,
    partners: &[usize],
    k: usize,
    symmetrize: bool,
    meaning: impl Fn(usize) -> String,
) -> Result<f32> {
    let c_count = partners.len();
    let scale = weight.iter().fold(0.0f32, |m, w| m.max(w.abs())).max(1e-30);
    let mut worst = (0.0f32, [0usize; 4]);
    for o in 0..out {
        for (c, &p) in partners.iter().enumerate() {
            for u in 0..k {
                for v in 0..k {
                    let a = dense_index(c_count, k, o, c, u, v);
                    let b = dense_index(c_count, k, o, p, v, u);
                    let diff = (weight[a] - weight[b]).abs();
                    if diff > worst.0 {
                        worst = (diff, [o, c, u, v]);
                    }
                    if symmetrize && a < b {
                        let mean = 0.5 * (weight[a] + weight[b]);
                        weight[a] = mean;
                        weight[b] = mean;
                    }
                }
            }
        }
    }
    // Float noise from an export is tolerated; anything larger is a wrong model.
    if !symmetrize && worst.0 > 1e-5 * scale {
        let [o, c, u, v] = worst.1;
        let p = partners[c];
        let pairing = if p == c {
            format!(
                "input channel {c} ({}) must be a symmetric kernel",
                meaning(c)
            )
        } else {
            format!(
                "input channel {c} ({}) must mirror channel {p} ({}) with its kernel transposed",
                meaning(c),
                meaning(p)
            )
        };
        bail!(
            "tensor `{name}` is not symmetric: largest asymmetry {:.3e} between [{o}, {c}, {u}, {v}] and [{o}, {p}, {v}, {u}]: {pairing} (pass --symmetrize to average)",
            worst.0
        );
    }
    Ok(worst.0)
}

/// Packs dense `[O][C][k][k]` kernels in the runtime's order.
pub fn pack<T: Copy>(dense: &[T], out: usize, partners: &[usize], k: usize) -> Vec<T> {
    let c_count = partners.len();
    let mut packed = Vec::new();
    for o in 0..out {
        for (c, &p) in partners.iter().enumerate() {
            if p == c {
                for u in 0..k {
                    for v in u..k {
                        packed.push(dense[dense_index(c_count, k, o, c, u, v)]);
                    }
                }
            } else if c < p {
                for u in 0..k {
                    for v in 0..k {
                        packed.push(dense[dense_index(c_count, k, o, c, u, v)]);
                    }
                }
            }
        }
    }
    packed
}

/// Writes a weights file: tensors by name (shape, values) and the model description.
pub fn save(
    path: &Path,
    config: &ModelConfig,
    tensors: &BTreeMap<String, (Vec<usize>, Vec<f32>)>,
) -> Result<()> {
    let bytes = to_bytes(config, tensors)?;
    crate::output::write_atomic(path, &bytes)
}

pub fn to_bytes(
    config: &ModelConfig,
    tensors: &BTreeMap<String, (Vec<usize>, Vec<f32>)>,
) -> Result<Vec<u8>> {
    let raw: BTreeMap<String, (Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, (shape, values))| {
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.clone(), (shape.clone(), bytes))
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = raw
        .iter()
        .map(|(name, (shape, bytes))| {
            let view = safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map_err(|e| anyhow!("tensor `{name}`: {e}"))?;
            Ok((name.clone(), view))
        })
        .collect::<Result<_>>()?;
    let mut metadata = std::collections::HashMap::new();
    metadata.insert(METADATA_KEY.to_string(), serde_json::to_string(config)?);
    safetensors::tensor::serialize(views, Some(metadata)).context("cannot serialize safetensors")
}
