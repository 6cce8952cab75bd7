//! A host-only decoder: the nested (pseudoknot-free) structure of canonical pairs whose summed
//! `p − threshold` is largest, by a Nussinov-style dynamic programme over an `n×n` table.
//!
//! The firmware keeps the greedy decoder ([`scnn::decode`]): this one needs an `n²` table and
//! `O(n³)` time. It is offered by `scnn predict` and `scnn evaluate` with `--decoder nested`,
//! where it is measured against greedy.

use scnn::decode::{is_canonical, MIN_PAIR_DISTANCE};
use scnn::seq::Base;

/// The best nested structure of `bases` under the dense `n×n` probability map `probs`
/// (`n = bases.len()`): pairs `(i, j)`, `i < j`, sorted, each canonical, `j − i ≥ 4`, with
/// probability above `threshold`, maximizing `Σ (p − threshold)`.
pub fn decode(probs: &[f32], bases: &[Base], threshold: f32) -> Vec<(usize, usize)> {
    let n = bases.len();
    if n == 0 || probs.len() < n * n {
        return Vec::new();
    }
    let gain = |i: usize, j: usize| -> Option<f64> {
        let p = 0.5 * (probs[i * n + j] + probs[j * n + i]);
        (j - i >= MIN_PAIR_DISTANCE && p > threshold && is_canonical(bases[i], bases[j]))
            .then(|| f64::from(p - threshold))
    };
    // best[i][j]: the best score within i..=j (0 when j < i + MIN_PAIR_DISTANCE).
    let mut best = vec![0f64; n * n];
    for span in MIN_PAIR_DISTANCE..n {
        for i in 0..n - span {
            let j = i + span;
            let mut value = best[(i + 1) * n + j].max(best[i * n + j - 1]);
            if let Some(g) = gain(i, j) {
                value = value.max(g + best[(i + 1) * n + j - 1]);
            }
            for k in i + 1..j {
                value = value.max(best[i * n + k] + best[(k + 1) * n + j]);
            }
            best[i * n + j] = value;
        }
    }
    let mut pairs = Vec::new();
    let mut stack = vec![(0usize, n - 1)];
    while let Some((i, j)) = stack.pop() {
        if j < i + MIN_PAIR_DISTANCE {
            continue;
        }
        let here = best[i * n + j];
        if here == best[(i + 1) * n + j] {
            stack.push((i + 1, j));
        } else if here == best[i * n + j - 1] {
            stack.push((i, j - 1));
        } else if gain(i, j).is_some_and(|g| here == g + best[(i + 1) * n + j - 1]) {
            pairs.push((i, j));
            stack.push((i + 1, j - 1));
        } else if let Some(k) =
            (i + 1..j).find(|&k| here == best[i * n + k] + best[(k + 1) * n + j])
        {
            stack.push((i, k));
            stack.push((k + 1, j));
        }
    }
    pairs.sort_unstable();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bases(s: &str) -> Vec<Base> {
        s.bytes().map(|b| Base::from_ascii(b).unwrap()).collect()
    }

    fn map(n: usize, pairs: &[(usize, usize, f32)]) -> Vec<f32> {
        let mut probs = vec![0.0; n * n];
        for &(i, j, p) in pairs {
            probs[i * n + j] = p;
            probs[j * n + i] = p;
        }
        probs
    }

    #[test]
    fn a_hairpin_is_read_off() {
        let b = bases("GGGGAAAACCCC");
        let probs = map(12, &[(0, 11, 0.9), (1, 10, 0.9), (2, 9, 0.8), (3, 8, 0.7)]);
        assert_eq!(
            decode(&probs, &b, 0.5),
            vec![(0, 11), (1, 10), (2, 9), (3, 8)]
        );
    }

    #[test]
    fn of_two_crossing_helices_the_heavier_wins_where_greedy_would_mix_them() {
        // Helix A (0-9, 1-8) crosses helix B (5-14, 6-13); A's best pair is the single best,
        // but B weighs more in all.
        let b = bases("GGAAAGGAUCCAACCAA");
        let probs = map(17, &[(0, 9, 0.95), (1, 8, 0.6), (5, 14, 0.9), (6, 13, 0.9)]);
        assert_eq!(decode(&probs, &b, 0.5), vec![(5, 14), (6, 13)]);
    }

    #[test]
    fn non_canonical_close_and_weak_pairs_are_left_out() {
        let b = bases("GAAAAAAACAAAG");
        // G-G is not canonical, 0-3 too close, 1-8 (A-C) not canonical, 0-8 (G-C) too weak.
        let probs = map(
            13,
            &[(0, 12, 0.99), (0, 3, 0.99), (1, 8, 0.99), (0, 8, 0.4)],
        );
        assert!(decode(&probs, &b, 0.5).is_empty());
    }
}
