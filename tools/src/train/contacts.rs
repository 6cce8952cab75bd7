//! Protein contact maps on the shared training loop: 21 tokens through a learned embedding,
//! the runtime's pair features `[e_i ; e_j] ⊕ e_i ⊗ e_j` built inside the graph, the same
//! residual SCNN as RNA, and a 1-channel contact logit. Chains longer than the crop are trained
//! on a window chosen from the step number and the chain's name, so a resumed run crops
//! exactly as the first would have.

use anyhow::Result;
use burn::module::{Module, Param};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::net::{Layout, Net};
use super::{batches, fnv, Task, EVAL_BATCH};
use crate::commands::example::Rng;
use crate::config::{AppName, ModelConfig, PairFeature};
use crate::protein::{self, token, Chain, Range, UNKNOWN, VOCAB};

/// One chain: its tokens and its true contacts (sorted `(i, j)`, `j − i ≥ 6`).
#[derive(Clone, Debug, PartialEq)]
pub struct ContactExample {
    pub name: String,
    pub tokens: Vec<u16>,
    pub contacts: Vec<(usize, usize)>,
}

impl ContactExample {
    pub fn new(chain: &Chain) -> Self {
        Self {
            name: chain.name.clone(),
            tokens: chain.sequence.bytes().map(token).collect(),
            contacts: protein::contacts(&chain.cb),
        }
    }
}

/// A contact model: a `dim`-wide learned embedding, `[e_i ; e_j] ⊕ e_i ⊗ e_j`, a 1×1
/// generating layer, one residual layer per `(kernel, dilation)` and a 1×1 logit head.
pub fn config(pair_len: usize, dim: usize, width: usize, blocks: &[(usize, usize)]) -> ModelConfig {
    let mut config = super::rna_config(pair_len, width, blocks);
    config.app = AppName::Protein;
    config.embedding_dim = dim;
    config.pair_features = vec![PairFeature::Concat, PairFeature::Outer];
    config
}

/// Contact training: windows of at most `crop` residues.
pub struct Contacts {
    pub crop: usize,
}

/// Where example `name`'s window starts at `step`: fixed by both, so runs repeat exactly.
fn window_start(name: &str, step: usize, len: usize, crop: usize) -> usize {
    if len <= crop {
        return 0;
    }
    let mut hash = 0xCBF2_9CE4_8422_2325;
    fnv(&mut hash, name.as_bytes());
    fnv(&mut hash, &(step as u64).to_le_bytes());
    Rng(hash).below(len - crop + 1)
}

/// A batch of windows: tokens `[B·n]` (padding is X, masked), the sequence mask `[B, 1, n, n]`,
/// the loss mask (pairs `j − i ≥ 6` inside the window) and the contact targets.
struct Windows {
    tokens: Tensor<1, Int>,
    mask: Tensor<4>,
    loss_mask: Tensor<4>,
    target: Tensor<4>,
    b: usize,
    n: usize,
}

fn windows(examples: &[(&ContactExample, usize, usize)], device: &Device) -> Windows {
    let n = examples.iter().map(|e| e.2).max().unwrap_or(1).max(1);
    let b = examples.len();
    let mut tokens = vec![i64::from(UNKNOWN); b * n];
    let mut mask = vec![0f32; b * n * n];
    let mut loss_mask = vec![0f32; b * n * n];
    let mut target = vec![0f32; b * n * n];
    for (e, &(example, start, len)) in examples.iter().enumerate() {
        for i in 0..len {
            tokens[e * n + i] = i64::from(example.tokens[start + i]);
            for j in 0..len {
                mask[(e * n + i) * n + j] = 1.0;
                if i.abs_diff(j) >= protein::MIN_SEPARATION {
                    loss_mask[(e * n + i) * n + j] = 1.0;
                }
            }
        }
        for &(i, j) in &example.contacts {
            if i >= start && j < start + len {
                let (a, c) = (i - start, j - start);
                target[(e * n + a) * n + c] = 1.0;
                target[(e * n + c) * n + a] = 1.0;
            }
        }
    }
    let plane = |values: Vec<f32>| Tensor::from_data(TensorData::new(values, [b, 1, n, n]), device);
    Windows {
        tokens: Tensor::from_data(TensorData::new(tokens, [b * n]), device),
        mask: plane(mask),
        loss_mask: plane(loss_mask),
        target: plane(target),
        b,
        n,
    }
}

/// The runtime's pair features from the learned embedding, zero outside each sequence.
fn pair_features(layout: &Layout, net: &Net, w: &Windows) -> Tensor<4> {
    let (b, n) = (w.b, w.n);
    let d = layout.config.embedding_dim;
    let e = net.embedding[0]
        .val()
        .select(0, w.tokens.clone())
        .reshape([b, n, d])
        .swap_dims(1, 2); // [B, d, n]
    let e_i = e.clone().unsqueeze_dim::<4>(3).expand([b, d, n, n]);
    let e_j = e.unsqueeze_dim::<4>(2).expand([b, d, n, n]);
    let mut parts = Vec::new();
    for feature in &layout.config.pair_features {
        match feature {
            PairFeature::Concat => {
                parts.push(e_i.clone());
                parts.push(e_j.clone());
            }
            PairFeature::Outer => {
                // Channel a·d + c holds e_i[a]·e_j[c], as the runtime's transpose segment.
                let a = e_i.clone().unsqueeze_dim::<5>(2).expand([b, d, d, n, n]);
                let c = e_j.clone().unsqueeze_dim::<5>(1).expand([b, d, d, n, n]);
                parts.push((a * c).reshape([b, d * d, n, n]));
            }
            PairFeature::Separation(bins) => {
                // A constant: the one-hot bin of |i − j| (a window keeps its chain's offsets).
                let count = usize::from(*bins);
                let mut planes = vec![0f32; count * n * n];
                for i in 0..n {
                    for j in 0..n {
                        let bin = scnn::generate::separation_bin(i.abs_diff(j), *bins);
                        planes[(bin * n + i) * n + j] = 1.0;
                    }
                }
                let data = TensorData::new(planes, [1, count, n, n]);
                let planes: Tensor<4> = Tensor::from_data(data, &w.mask.device());
                parts.push(planes.expand([b, count, n, n]));
            }
        }
    }
    Tensor::cat(parts, 1) * w.mask.clone()
}

/// Contact probabilities `[B, 1, n, n]` of whole chains, on whatever backend `device` is.
fn probabilities(layout: &Layout, net: &Net, w: &Windows) -> Tensor<4> {
    let features = pair_features(layout, net, w);
    sigmoid(layout.forward(net, features, &w.mask))
}

impl Task for Contacts {
    type Example = ContactExample;

    fn length(&self, example: &ContactExample) -> usize {
        example.tokens.len().min(self.crop)
    }

    fn fingerprint(&self, e: &ContactExample, hash: &mut u64) {
        fnv(hash, &(self.crop as u64).to_le_bytes());
        fnv(hash, e.name.as_bytes());
        for &t in &e.tokens {
            fnv(hash, &t.to_le_bytes());
        }
        for &(i, j) in &e.contacts {
            fnv(hash, &(i as u64).to_le_bytes());
            fnv(hash, &(j as u64).to_le_bytes());
        }
    }

    fn init(&self, layout: &Layout, seed: u64, device: &Device) -> Net {
        let mut net = layout.init(seed, device);
        let d = layout.config.embedding_dim;
        let mut rng = Rng(seed ^ 0x00E4_BEDD);
        let values: Vec<f32> = (0..VOCAB * d).map(|_| rng.unit()).collect();
        net.embedding = vec![Param::from_tensor(Tensor::from_data(
            TensorData::new(values, [VOCAB, d]),
            device,
        ))];
        net
    }

    fn loss(
        &self,
        layout: &Layout,
        net: &Net,
        examples: &[&ContactExample],
        step: usize,
        pos_weight: f32,
        device: &Device,
    ) -> Tensor<1> {
        let spans: Vec<(&ContactExample, usize, usize)> = examples
            .iter()
            .map(|e| {
                let len = e.tokens.len();
                let start = window_start(&e.name, step, len, self.crop);
                (*e, start, len.min(self.crop))
            })
            .collect();
        let w = windows(&spans, device);
        let features = pair_features(layout, net, &w);
        let z = layout.forward(net, features, &w.mask);
        super::weighted_bce_sum(z, w.target, w.loss_mask.clone(), pos_weight)
            / w.loss_mask.sum().add_scalar(1.0)
    }

    fn score_name(&self) -> &'static str {
        "mean precision of the top L/5 medium+long-range contacts"
    }

    fn example_scores(
        &self,
        layout: &Layout,
        net: &Net,
        examples: &[ContactExample],
        device: &Device,
    ) -> Result<Vec<f64>> {
        let mut scores = vec![0.0; examples.len()];
        if examples.is_empty() {
            return Ok(scores);
        }
        let net = net.valid();
        let device = device.clone().inner();
        let lengths: Vec<usize> = examples.iter().map(|e| e.tokens.len()).collect();
        for indices in batches::by_length(&lengths, EVAL_BATCH) {
            let spans: Vec<(&ContactExample, usize, usize)> = indices
                .iter()
                .map(|&i| (&examples[i], 0, examples[i].tokens.len()))
                .collect();
            let w = windows(&spans, &device);
            let n = w.n;
            let values: Vec<f32> = probabilities(layout, &net, &w)
                .into_data()
                .try_to_vec()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            for (e, (&at, &(example, _, len))) in indices.iter().zip(&spans).enumerate() {
                let plane = &values[e * n * n..][..n * n];
                let ranked = protein::ranked(len, Range::MediumLong, |i, j| {
                    0.5 * (plane[i * n + j] + plane[j * n + i])
                });
                scores[at] = protein::precision(&ranked, &example.contacts, len / 5);
            }
        }
        Ok(scores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_repeat_for_a_step_and_move_between_steps() {
        assert_eq!(window_start("1ABC_A", 7, 100, 128), 0);
        let a = window_start("1ABC_A", 7, 300, 128);
        assert_eq!(a, window_start("1ABC_A", 7, 300, 128));
        assert!(a <= 300 - 128);
        let starts: std::collections::BTreeSet<usize> = (1..50)
            .map(|s| window_start("1ABC_A", s, 300, 128))
            .collect();
        assert!(starts.len() > 10, "{starts:?}");
    }
}
