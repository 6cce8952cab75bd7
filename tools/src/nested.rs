//! The nested (pseudoknot-free) decoder on the host: the structure of canonical pairs whose
//! summed `p − threshold`, less a penalty per helix, is largest, by the runtime's dynamic
//! programme ([`scnn::decode::decode_nested`]) — what a firmware built with the nested
//! decoder gives. `scnn predict` and `scnn evaluate` offer it with `--decoder nested`.

use scnn::decode::NestedScoring;
use scnn::seq::Base;

/// The best nested structure of `bases` under the dense `n×n` probability map `probs`
/// (`n = bases.len()`): pairs `(i, j)`, `i < j`, sorted, each canonical, `j − i ≥ 4`, with
/// probability above the threshold, maximizing `Σ (p − threshold)` less the helix penalty
/// for each helix (in steps of `1 / gain_scale(n)`).
pub fn decode(
    probs: &[f32],
    bases: &[Base],
    scoring: NestedScoring,
) -> anyhow::Result<Vec<(usize, usize)>> {
    crate::runtime::decode_dense_nested(probs, bases, scoring)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bases(s: &str) -> Vec<Base> {
        s.bytes().map(|b| Base::from_ascii(b).unwrap()).collect()
    }

    /// Threshold 0.5, no helix penalty: the plain sum of gains.
    const PLAIN: NestedScoring = NestedScoring {
        threshold: 0.5,
        helix_penalty: 0.0,
    };

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
            decode(&probs, &b, PLAIN).unwrap(),
            vec![(0, 11), (1, 10), (2, 9), (3, 8)]
        );
    }

    #[test]
    fn of_two_crossing_helices_the_heavier_wins_where_greedy_would_mix_them() {
        // Helix A (0-9, 1-8) crosses helix B (5-14, 6-13); A's best pair is the single best,
        // but B weighs more in all.
        let b = bases("GGAAAGGAUCCAACCAA");
        let probs = map(17, &[(0, 9, 0.95), (1, 8, 0.6), (5, 14, 0.9), (6, 13, 0.9)]);
        assert_eq!(decode(&probs, &b, PLAIN).unwrap(), vec![(5, 14), (6, 13)]);
    }

    #[test]
    fn non_canonical_close_and_weak_pairs_are_left_out() {
        let b = bases("GAAAAAAACAAAG");
        // G-G is not canonical, 0-3 too close, 1-8 (A-C) not canonical, 0-8 (G-C) too weak.
        let probs = map(
            13,
            &[(0, 12, 0.99), (0, 3, 0.99), (1, 8, 0.99), (0, 8, 0.4)],
        );
        assert!(decode(&probs, &b, PLAIN).unwrap().is_empty());
    }

    #[test]
    fn a_lone_pair_does_not_pay_for_its_helix_where_a_stem_does() {
        // A lone sure pair (0-16) and a three-pair stem (3-12, 4-11, 5-10) of middling pairs.
        let b = bases("GAACCCAAAAGGGAAAC");
        let probs = map(
            17,
            &[(0, 16, 0.95), (3, 12, 0.7), (4, 11, 0.7), (5, 10, 0.7)],
        );
        // Without a penalty both are kept; with the default (0.3, 1.0) the lone pair's gain
        // 0.65 is below the penalty and the stem's 1.2 above it.
        assert_eq!(
            decode(&probs, &b, PLAIN).unwrap(),
            vec![(0, 16), (3, 12), (4, 11), (5, 10)]
        );
        assert_eq!(
            decode(&probs, &b, NestedScoring::DEFAULT).unwrap(),
            vec![(3, 12), (4, 11), (5, 10)]
        );
    }
}
