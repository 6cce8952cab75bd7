//! An independent float reference of a whole model: dense `n×n` maps, unpacked `k×k`
//! kernels, naive loops in f64. It never calls the runtime's kernels; `verify` compares the
//! runtime against it.

use scnn::seq::Base;

use crate::config::PairFeature;
use crate::weights::FloatModel;

/// A dense `n×n×c` map, `data[(i·n + j)·c + ch]`.
#[derive(Clone, Debug)]
pub struct DenseMap {
    pub n: usize,
    pub c: usize,
    pub data: Vec<f64>,
}

impl DenseMap {
    fn zeros(n: usize, c: usize) -> Self {
        Self {
            n,
            c,
            data: vec![0.0; n * n * c],
        }
    }
    pub fn at(&self, i: usize, j: usize, ch: usize) -> f64 {
        self.data[(i * self.n + j) * self.c + ch]
    }
    fn set(&mut self, i: usize, j: usize, ch: usize, v: f64) {
        let (n, c) = (self.n, self.c);
        self.data[(i * n + j) * c + ch] = v;
    }
}

/// Every intermediate of one forward pass.
#[derive(Clone, Debug)]
pub struct Forward {
    /// Each layer's conv output before the residual add (after the activation when the layer
    /// has no residual).
    pub conv_outputs: Vec<DenseMap>,
    /// Each layer's output.
    pub outputs: Vec<DenseMap>,
    /// Pair probabilities, `n×n` (pair-map models; empty for a pooled head).
    pub probs: DenseMap,
    /// Each pooled-head layer's output: the pooled vector first, the scores last.
    pub head: Vec<Vec<f64>>,
    /// Each layer of `head.layers` before its activation (dense layers; else its output).
    pub head_pre: Vec<Vec<f64>>,
}

fn activate(activation: crate::config::ActivationName, x: f64) -> f64 {
    use crate::config::ActivationName as A;
    match activation {
        A::None => x,
        A::Relu => x.max(0.0),
        A::Relu6 => x.clamp(0.0, 6.0),
    }
}

/// Runs the float model on RNA `bases`.
pub fn forward(model: &FloatModel, bases: &[Base]) -> Forward {
    let tokens: Vec<u16> = bases.iter().map(|&b| b as u16).collect();
    forward_tokens(model, &tokens)
}

/// Runs the float model on `tokens` (rows of its embedding table).
pub fn forward_tokens(model: &FloatModel, tokens: &[u16]) -> Forward {
    forward_side(model, tokens, None)
}

/// Runs the float model on `tokens` and, for a pooled head with a side table, row `side`
/// of it (row 0 when `None`).
pub fn forward_side(model: &FloatModel, tokens: &[u16], side: Option<usize>) -> Forward {
    forward_with(model, tokens, side, None)
}

/// Layer `t`'s conv output (before any residual add) and its output.
pub type Observer<'o> = &'o mut dyn FnMut(usize, &DenseMap, &DenseMap);

/// Like [`forward_side`], but hands each layer's maps to `observe` and keeps only the maps
/// later layers still read (the previous output and skip sources): memory of a few maps, not
/// of every layer's, so calibrating on a long sequence fits. The returned [`Forward`] holds
/// empty maps for the layers it let go.
pub fn forward_observed(
    model: &FloatModel,
    tokens: &[u16],
    side: Option<usize>,
    observe: Observer<'_>,
) -> Forward {
    forward_with(model, tokens, side, Some(observe))
}

fn forward_with(
    model: &FloatModel,
    tokens: &[u16],
    side: Option<usize>,
    mut observe: Option<Observer<'_>>,
) -> Forward {
    let cfg = &model.config;
    let n = tokens.len();
    let d = cfg.embedding_dim;
    let e = |p: usize, f: usize| model.embedding[tokens[p] as usize * d + f] as f64;
    let mut pairs = DenseMap::zeros(n, cfg.pair_channels());
    for i in 0..n {
        for j in 0..n {
            let mut ch = 0;
            for feature in &cfg.pair_features {
                match feature {
                    PairFeature::Concat => {
                        for f in 0..d {
                            pairs.set(i, j, ch + f, e(i, f));
                            pairs.set(i, j, ch + d + f, e(j, f));
                        }
                        ch += 2 * d;
                    }
                    PairFeature::Outer => {
                        for a in 0..d {
                            for b in 0..d {
                                pairs.set(i, j, ch + a * d + b, e(i, a) * e(j, b));
                            }
                        }
                        ch += d * d;
                    }
                    PairFeature::Separation(bins) => {
                        let bin = scnn::generate::separation_bin(i.abs_diff(j), *bins);
                        pairs.set(i, j, ch + bin, 1.0);
                        ch += usize::from(*bins);
                    }
                }
            }
        }
    }
    let mut conv_outputs = Vec::new();
    let mut outputs: Vec<DenseMap> = Vec::new();
    for (t, layer) in cfg.layers.iter().enumerate() {
        let input = if t == 0 { &pairs } else { &outputs[t - 1] };
        let weights = &model.layers[t];
        let (o_count, c_count, k) = (layer.out_channels, input.c, layer.kernel);
        let r = (k / 2) as isize;
        let dil = layer.dilation as isize;
        // Valid padding: output (i, j) is the window whose top-left tap is input (i, j).
        let (m, origin) = match layer.padding {
            crate::config::PaddingName::Same => (input.n, -dil * r),
            crate::config::PaddingName::Valid => (input.n - (k - 1) * layer.dilation, 0),
        };
        let n_in = input.n as isize;
        let mut conv = DenseMap::zeros(m, o_count);
        for i in 0..m {
            for j in 0..m {
                for o in 0..o_count {
                    let mut acc = weights.bias[o] as f64;
                    for u in 0..k {
                        let a = i as isize + origin + dil * u as isize;
                        if a < 0 || a >= n_in {
                            continue;
                        }
                        for v in 0..k {
                            let b = j as isize + origin + dil * v as isize;
                            if b < 0 || b >= n_in {
                                continue;
                            }
                            for c in 0..c_count {
                                let w = weights.weight[((o * c_count + c) * k + u) * k + v] as f64;
                                acc += w * input.at(a as usize, b as usize, c);
                            }
                        }
                    }
                    let value = if layer.residual.is_some() {
                        acc
                    } else {
                        activate(layer.activation, acc)
                    };
                    conv.set(i, j, o, value);
                }
            }
        }
        let output = match layer.residual {
            Some(s) => {
                let mut out = conv.clone();
                for (x, skip) in out.data.iter_mut().zip(&outputs[s].data) {
                    *x = activate(layer.activation, *x + skip);
                }
                out
            }
            None => conv.clone(),
        };
        if let Some(observe) = observe.as_mut() {
            observe(t, &conv, &output);
            // What no later layer reads goes: this conv map, and the previous output unless
            // a skip comes from it.
            conv = DenseMap::zeros(0, 0);
            let read_later = |s: usize| cfg.layers[t + 1..].iter().any(|l| l.residual == Some(s));
            if t > 0 && !read_later(t - 1) {
                outputs[t - 1] = DenseMap::zeros(0, 0);
            }
        }
        conv_outputs.push(conv);
        outputs.push(output);
    }
    let last = outputs.last().expect("a model has at least one layer");
    let (probs, (head, head_pre)) = match &cfg.head {
        None => {
            let mut probs = DenseMap::zeros(n, 1);
            for (p, &x) in probs.data.iter_mut().zip(&last.data) {
                *p = 1.0 / (1.0 + (-x).exp());
            }
            (probs, (Vec::new(), Vec::new()))
        }
        Some(pooled) => (
            DenseMap::zeros(0, 1),
            head_forward(model, pooled, last, side),
        ),
    };
    Forward {
        conv_outputs,
        outputs,
        probs,
        head,
        head_pre,
    }
}

/// The pooled head on the last map: the pool over the whole symmetric map, then each layer.
fn head_forward(
    model: &FloatModel,
    pooled: &crate::config::PooledConfig,
    map: &DenseMap,
    side: Option<usize>,
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    use crate::config::{DenseActivationName as A, PoolName, VectorConfig};
    let cells = (map.n * map.n) as f64;
    let mut x: Vec<f64> = (0..map.c)
        .map(|ch| {
            let values = (0..map.n).flat_map(|i| (0..map.n).map(move |j| (i, j)));
            match pooled.pool {
                PoolName::Avg => values.map(|(i, j)| map.at(i, j, ch)).sum::<f64>() / cells,
                PoolName::Max => values
                    .map(|(i, j)| map.at(i, j, ch))
                    .fold(f64::NEG_INFINITY, f64::max),
            }
        })
        .collect();
    let mut outputs = vec![x.clone()];
    let mut pre = Vec::new();
    for (layer, weights) in pooled.layers.iter().zip(&model.head) {
        let affine = |out: usize| -> Vec<f64> {
            (0..out)
                .map(|o| {
                    let row = &weights.weight[o * x.len()..(o + 1) * x.len()];
                    row.iter()
                        .zip(&x)
                        .fold(weights.bias[o] as f64, |acc, (&w, &v)| acc + w as f64 * v)
                })
                .collect()
        };
        x = match *layer {
            VectorConfig::Dense {
                out_features,
                activation,
            } => {
                let affine = affine(out_features);
                pre.push(affine.clone());
                affine
                    .into_iter()
                    .map(|v| match activation {
                        A::None => v,
                        A::Relu => v.max(0.0),
                        A::Relu6 => v.clamp(0.0, 6.0),
                        A::Tanh => v.tanh(),
                        A::Sigmoid => 1.0 / (1.0 + (-v).exp()),
                    })
                    .collect()
            }
            VectorConfig::Side { dim, .. } => {
                let row = side.unwrap_or(0);
                let table = &weights.weight[row * dim..(row + 1) * dim];
                x.iter()
                    .copied()
                    .chain(table.iter().map(|&v| v as f64))
                    .collect()
            }
            VectorConfig::Scores { items } => affine(items),
        };
        if !matches!(layer, VectorConfig::Dense { .. }) {
            pre.push(x.clone());
        }
        outputs.push(x.clone());
    }
    (outputs, pre)
}
