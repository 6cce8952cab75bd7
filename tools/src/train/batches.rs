//! Batches: which examples go together, and their tensors cropped to the longest sequence.

use burn::tensor::{Device, Tensor, TensorData};

use crate::commands::example::Rng;
use crate::config::{ModelConfig, PairFeature};
use crate::dataset::Example;

/// A batch as tensors: pair features, the inside-sequence mask and the pair targets, all
/// `n×n` with `n` the batch's longest sequence.
pub struct Batch {
    pub features: Tensor<4>,
    pub mask: Tensor<4>,
    pub target: Tensor<4>,
    pub n: usize,
}

fn one_hot(base: u8) -> [f32; 4] {
    match base {
        b'A' => [1.0, 0.0, 0.0, 0.0],
        b'C' => [0.0, 1.0, 0.0, 0.0],
        b'G' => [0.0, 0.0, 1.0, 0.0],
        b'U' => [0.0, 0.0, 0.0, 1.0],
        _ => [0.0; 4],
    }
}

/// Builds a batch cropped to its longest sequence, with the runtime's pair features.
pub fn batch(config: &ModelConfig, examples: &[&Example], device: &Device) -> Batch {
    let n = examples.iter().map(|e| e.sequence.len()).max().unwrap_or(1);
    let c0 = config.pair_channels();
    let b = examples.len();
    let mut features = vec![0f32; b * c0 * n * n];
    let mut mask = vec![0f32; b * n * n];
    let mut target = vec![0f32; b * n * n];
    for (e_index, example) in examples.iter().enumerate() {
        let codes: Vec<[f32; 4]> = example.sequence.bytes().map(one_hot).collect();
        let len = codes.len();
        let plane = |ch: usize, i: usize, j: usize| ((e_index * c0 + ch) * n + i) * n + j;
        for i in 0..len {
            for j in 0..len {
                mask[(e_index * n + i) * n + j] = 1.0;
                let mut ch = 0;
                for feature in &config.pair_features {
                    match feature {
                        PairFeature::Concat => {
                            for f in 0..4 {
                                features[plane(ch + f, i, j)] = codes[i][f];
                                features[plane(ch + 4 + f, i, j)] = codes[j][f];
                            }
                            ch += 8;
                        }
                        PairFeature::Outer => {
                            for a in 0..4 {
                                for c in 0..4 {
                                    features[plane(ch + a * 4 + c, i, j)] =
                                        codes[i][a] * codes[j][c];
                                }
                            }
                            ch += 16;
                        }
                        PairFeature::Separation(bins) => {
                            let bin = scnn::generate::separation_bin(i.abs_diff(j), *bins);
                            features[plane(ch + bin, i, j)] = 1.0;
                            ch += usize::from(*bins);
                        }
                    }
                }
            }
        }
        for &(i, j) in &example.pairs {
            target[(e_index * n + i) * n + j] = 1.0;
            target[(e_index * n + j) * n + i] = 1.0;
        }
    }
    Batch {
        features: Tensor::from_data(TensorData::new(features, [b, c0, n, n]), device),
        mask: Tensor::from_data(TensorData::new(mask, [b, 1, n, n]), device),
        target: Tensor::from_data(TensorData::new(target, [b, 1, n, n]), device),
        n,
    }
}

fn shuffle<T>(items: &mut [T], rng: &mut Rng) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i + 1));
    }
}

/// At most `cap` examples of each family in one epoch: `families[i]` numbers example `i`'s.
#[derive(Clone, Copy, Debug)]
pub struct FamilyCap<'a> {
    pub families: &'a [u32],
    pub cap: usize,
}

impl FamilyCap<'_> {
    /// How many examples an epoch holds: each family's size, or `cap` if that is smaller.
    pub fn epoch_len(&self) -> usize {
        let mut all: Vec<usize> = (0..self.families.len()).collect();
        self.keep(&mut all);
        all.len()
    }

    /// Keeps the first `cap` of each family in `order` (a shuffled order, so a fresh draw).
    fn keep(&self, order: &mut Vec<usize>) {
        let mut taken = std::collections::HashMap::<u32, usize>::new();
        order.retain(|&i| {
            let n = taken.entry(self.families[i]).or_default();
            *n += 1;
            *n <= self.cap
        });
    }
}

/// One epoch's batches of indices into `lengths`, in training order.
///
/// Bucketed: shuffled, then sorted by length (ties stay shuffled) and cut into batches, whose
/// order is shuffled; each batch holds sequences of about one length, so a batch cropped to
/// its longest wastes little on padding. Otherwise: one shuffle cut into batches. With a
/// family cap, each epoch draws at most `cap` examples of every family from the shuffle, so
/// a few large families do not outweigh the many small ones; the draw costs no randomness, so
/// without a cap the order is as before.
pub fn epoch_batches(
    lengths: &[usize],
    batch: usize,
    bucketed: bool,
    family_cap: Option<FamilyCap<'_>>,
    rng: &mut Rng,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    shuffle(&mut order, rng);
    if let Some(cap) = family_cap {
        cap.keep(&mut order);
    }
    if !bucketed {
        return order.chunks(batch.max(1)).map(<[usize]>::to_vec).collect();
    }
    order.sort_by_key(|&i| lengths[i]);
    let mut batches: Vec<Vec<usize>> = order.chunks(batch.max(1)).map(<[usize]>::to_vec).collect();
    shuffle(&mut batches, rng);
    batches
}

/// Batches for evaluation: indices sorted by length, cut into batches of `batch`.
pub fn by_length(lengths: &[usize], batch: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    order.chunks(batch.max(1)).map(<[usize]>::to_vec).collect()
}
