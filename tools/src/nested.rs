//! The nested (pseudoknot-free) decoder on the host: the structure of canonical pairs whose
//! summed `p − threshold` is largest, by the runtime's dynamic programme
//! ([`scnn::decode::decode_nested`]) — what a firmware built with the nested decoder gives.
//! `scnn predict` and `scnn evaluate` offer it with `--decoder nested`.

use scnn::seq::Base;

/// The best nested structure of `bases` under the dense `n×n` probability map `probs`
/// (`n = bases.len()`): pairs `(i, j)`, `i < j`, sorted, each canonical, `j − i ≥ 4`, with
/// probability above `threshold`, maximizing `Σ (p − threshold)` (in steps of
/// `1 / gain_scale(n)`).
pub fn decode(
    probs: &[f32],
    bases: &[Base],
    threshold: f32,
) -> anyhow::Result<Vec<(usize, usize)>> {
    crate::runtime::decode_dense_nested(probs, bases, threshold)
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
            decode(&probs, &b, 0.5).unwrap(),
            vec![(0, 11), (1, 10), (2, 9), (3, 8)]
        );
    }

    #[test]
    fn of_two_crossing_helices_the_heavier_wins_where_greedy_would_mix_them() {
        // Helix A (0-9, 1-8) crosses helix B (5-14, 6-13); A's best pair is the single best,
        // but B weighs more in all.
        let b = bases("GGAAAGGAUCCAACCAA");
        let probs = map(17, &[(0, 9, 0.95), (1, 8, 0.6), (5, 14, 0.9), (6, 13, 0.9)]);
        assert_eq!(decode(&probs, &b, 0.5).unwrap(), vec![(5, 14), (6, 13)]);
    }

    #[test]
    fn non_canonical_close_and_weak_pairs_are_left_out() {
        let b = bases("GAAAAAAACAAAG");
        // G-G is not canonical, 0-3 too close, 1-8 (A-C) not canonical, 0-8 (G-C) too weak.
        let probs = map(
            13,
            &[(0, 12, 0.99), (0, 3, 0.99), (1, 8, 0.99), (0, 8, 0.4)],
        );
        assert!(decode(&probs, &b, 0.5).unwrap().is_empty());
    }
}
