//! The nested decoder finds a best pseudoknot-free structure, gains less a penalty per helix
//! (checked against an exhaustive search on short sequences), keeps the pairing rules, and
//! decodes int8 logits exactly as it decodes their probabilities.

use proptest::prelude::*;
use scnn::decode::{
    decode_logits_nested, decode_nested, gain_scale, is_canonical, nested_table_len, NestedScoring,
    MIN_PAIR_DISTANCE,
};
use scnn::layers::sigmoid_map_i8;
use scnn::seq::Base;
use scnn::tri::{tri_index, tri_len};
use scnn::Error;

const L: usize = 14;
/// Long enough for several helices side by side.
const LONG: usize = 48;
const BASES: [Base; 4] = [Base::A, Base::C, Base::G, Base::U];

/// The decoder's gain, written out: `(p − t) · scale` rounded, at least 1, for `p > t`.
fn gain(p: f32, threshold: f32, n: usize) -> u32 {
    if p > threshold {
        let scale = gain_scale(n);
        (((p - threshold) * scale as f32 + 0.5) as u32).clamp(1, scale)
    } else {
        0
    }
}

/// The penalty in gain units, written out.
fn penalty(helix_penalty: f32, n: usize) -> i64 {
    (helix_penalty * gain_scale(n) as f32 + 0.5) as i64
}

/// Every nested structure of allowed pairs within `i..=j`, by brute force (no tables shared
/// with the decoder).
fn structures(
    allowed: &dyn Fn(usize, usize) -> u32,
    i: usize,
    j: usize,
) -> Vec<Vec<(usize, usize)>> {
    if j < i + MIN_PAIR_DISTANCE {
        return vec![Vec::new()];
    }
    // Position i unpaired, or paired with some k.
    let mut all = structures(allowed, i + 1, j);
    for k in i + MIN_PAIR_DISTANCE..=j {
        if allowed(i, k) == 0 {
            continue;
        }
        let inside = structures(allowed, i + 1, k - 1);
        let after = if k < j {
            structures(allowed, k + 1, j)
        } else {
            vec![Vec::new()]
        };
        for a in &inside {
            for b in &after {
                let mut s = vec![(i, k)];
                s.extend_from_slice(a);
                s.extend_from_slice(b);
                all.push(s);
            }
        }
    }
    all
}

/// A structure's score: its gains, less the penalty for each helix (a pair whose outer
/// neighbour `(i − 1, j + 1)` is not in the structure starts one).
fn score(pairs: &[(usize, usize)], allowed: &dyn Fn(usize, usize) -> u32, penalty: i64) -> i64 {
    pairs
        .iter()
        .map(|&(i, j)| {
            let stacked = i > 0 && pairs.contains(&(i - 1, j + 1));
            i64::from(allowed(i, j)) - if stacked { 0 } else { penalty }
        })
        .sum()
}

/// The programme written plainly over a dense matrix: the best score within `0..n`, to
/// check the decoder's table walk on sequences too long for [`structures`].
fn reference_best(allowed: &dyn Fn(usize, usize) -> u32, n: usize, penalty: i64) -> i64 {
    let mut w = vec![vec![0i64; n + 1]; n + 1];
    for span in MIN_PAIR_DISTANCE..n {
        for i in 0..n - span {
            let j = i + span;
            let mut v = w[i + 1][j].max(w[i][j - 1]);
            let (mut gains, mut m) = (0i64, 0);
            while j - m >= i + m + MIN_PAIR_DISTANCE && allowed(i + m, j - m) > 0 {
                gains += i64::from(allowed(i + m, j - m));
                m += 1;
                v = v.max(gains + w[i + m][j - m] - penalty);
            }
            for k in i + 1..j {
                v = v.max(w[i][k] + w[k + 1][j]);
            }
            w[i][j] = v;
        }
    }
    if n == 0 {
        0
    } else {
        w[0][n - 1]
    }
}

fn bases_of(indices: &[usize]) -> Vec<Base> {
    indices.iter().map(|&b| BASES[b]).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_structure_is_a_best_nested_one(
        probs in proptest::collection::vec(0f32..1.0, tri_len(L)),
        bases in proptest::collection::vec(0usize..4, 1..=L),
        threshold in 0.05f32..0.9,
        helix_penalty in prop_oneof![Just(0f32), 0f32..2.0],
    ) {
        let bases = bases_of(&bases);
        let mut table = vec![0u16; nested_table_len(L)];
        let scoring = NestedScoring { threshold, helix_penalty };
        let s = decode_nested::<L>(&probs, &bases, scoring, &mut table).unwrap();
        let allowed = |i: usize, j: usize| -> u32 {
            if is_canonical(bases[i], bases[j]) {
                gain(probs[tri_index(L, i, j)], threshold, bases.len())
            } else {
                0
            }
        };
        let mut used = vec![false; bases.len()];
        for (n, &(i, j)) in s.pairs.iter().enumerate() {
            let (i, j) = (usize::from(i), usize::from(j));
            prop_assert!(j >= i + MIN_PAIR_DISTANCE);
            prop_assert!(allowed(i, j) > 0, "pair ({i}, {j}) is not a candidate");
            prop_assert!(!used[i] && !used[j]);
            used[i] = true;
            used[j] = true;
            for &(a, b) in s.pairs.iter().take(n) {
                let (a, b) = (usize::from(a), usize::from(b));
                let crossing = (a < i && i < b && b < j) || (i < a && a < j && j < b);
                prop_assert!(!crossing, "({a}, {b}) crosses ({i}, {j})");
            }
        }
        let penalty = penalty(helix_penalty, bases.len());
        let pairs: Vec<(usize, usize)> =
            s.pairs.iter().map(|&(i, j)| (usize::from(i), usize::from(j))).collect();
        let best = structures(&allowed, 0, bases.len() - 1)
            .iter()
            .map(|p| score(p, &allowed, penalty))
            .max()
            .unwrap_or(0);
        prop_assert_eq!(score(&pairs, &allowed, penalty), best);
        // Nested pairs need one bracket kind only.
        prop_assert!(s.dot_bracket.iter().all(|c| b"().".contains(c)));
        prop_assert_eq!(s.dot_bracket.len(), bases.len());
    }

    #[test]
    fn helices_side_by_side_score_as_the_plain_programme_says(
        background in proptest::collection::vec(0f32..0.6, tri_len(LONG)),
        mut bases in proptest::collection::vec(0usize..4, LONG),
        helices in proptest::collection::vec((0usize..LONG, 8usize..30, 2usize..6, 0.5f32..1.0), 1..6),
        helix_penalty in 0f32..1.5,
    ) {
        // Planted helices (canonical G-C, strong) make multi-branch structures likely.
        let mut probs = background;
        for &(start, span, length, p) in &helices {
            for t in 0..length {
                let (i, j) = (start + t, start + span - t);
                if j < LONG && j >= i + MIN_PAIR_DISTANCE {
                    bases[i] = 2;
                    bases[j] = 1;
                    probs[tri_index(LONG, i, j)] = p;
                }
            }
        }
        let bases = bases_of(&bases);
        let scoring = NestedScoring { threshold: 0.3, helix_penalty };
        let mut table = vec![0u16; nested_table_len(LONG)];
        let s = decode_nested::<LONG>(&probs, &bases, scoring, &mut table).unwrap();
        let allowed = |i: usize, j: usize| -> u32 {
            if is_canonical(bases[i], bases[j]) && j >= i + MIN_PAIR_DISTANCE {
                gain(probs[tri_index(LONG, i, j)], 0.3, bases.len())
            } else {
                0
            }
        };
        let penalty = penalty(helix_penalty, bases.len());
        let pairs: Vec<(usize, usize)> =
            s.pairs.iter().map(|&(i, j)| (usize::from(i), usize::from(j))).collect();
        prop_assert!(pairs.iter().all(|&(i, j)| allowed(i, j) > 0));
        prop_assert_eq!(score(&pairs, &allowed, penalty), reference_best(&allowed, LONG, penalty));
    }

    #[test]
    fn logits_and_probabilities_decode_alike(
        logits in proptest::collection::vec(any::<i8>(), tri_len(L)),
        bases in proptest::collection::vec(0usize..4, 1..=L),
        zero_point in -128i32..=127,
        threshold in 0.05f32..0.95,
        helix_penalty in 0f32..2.0,
    ) {
        let scale = 0.05;
        let scoring = NestedScoring { threshold, helix_penalty };
        let bases = bases_of(&bases);
        let mut probs = vec![0f32; tri_len(L)];
        sigmoid_map_i8(&logits, scale, zero_point, &mut probs).unwrap();
        let mut table = vec![0u16; nested_table_len(L)];
        let from_probs = decode_nested::<L>(&probs, &bases, scoring, &mut table).unwrap();
        let from_logits = decode_logits_nested::<L>(
            &logits, &bases, scoring, (scale, zero_point), &mut table,
        )
        .unwrap();
        prop_assert_eq!(from_probs, from_logits);
    }
}

#[test]
fn a_hairpin_beats_a_single_stronger_crossing_pair() {
    // GGGG AAAA CCCC: the helix (0,11) (1,10) (2,9) (3,8) against one surer pair (0,8)
    // that would block all but two of them.
    let bases = bases_of(&[2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1]);
    let mut probs = vec![0f32; tri_len(L)];
    for k in 0..4 {
        probs[tri_index(L, k, 11 - k)] = 0.8;
    }
    probs[tri_index(L, 0, 8)] = 0.99;
    let mut table = vec![0u16; nested_table_len(L)];
    let s = decode_nested::<L>(&probs, &bases, NestedScoring::DEFAULT, &mut table).unwrap();
    assert_eq!(s.pairs.as_slice(), &[(0, 11), (1, 10), (2, 9), (3, 8)]);
    assert_eq!(s.dot_bracket_str(), "((((....))))");
}

#[test]
fn bad_buffers_and_lengths_are_errors() {
    let probs = vec![0.9f32; tri_len(L)];
    let bases = vec![Base::G; L + 1];
    let mut table = vec![0u16; nested_table_len(L)];
    assert_eq!(
        decode_nested::<L>(&probs, &bases, NestedScoring::DEFAULT, &mut table),
        Err(Error::SequenceTooLong)
    );
    let mut short = vec![0u16; nested_table_len(L) - 1];
    let err =
        decode_nested::<L>(&probs, &bases[..L], NestedScoring::DEFAULT, &mut short).unwrap_err();
    assert!(err.to_string().contains("decoder table"), "{err}");
    let logits = vec![0i8; tri_len(L) - 1];
    assert!(decode_logits_nested::<L>(
        &logits,
        &bases[..L],
        NestedScoring::DEFAULT,
        (0.1, 0),
        &mut table
    )
    .is_err());
    // An empty sequence decodes to nothing.
    let s = decode_nested::<L>(&probs, &[], NestedScoring::DEFAULT, &mut table).unwrap();
    assert!(s.pairs.is_empty());
}

#[test]
fn the_gain_scale_keeps_sums_in_a_u16() {
    for n in [1, 2, 64, 128, 129, 256, 1024, 4096] {
        let most_pairs = (n / 2).max(1) as u32;
        assert!(gain_scale(n) * most_pairs <= u32::from(u16::MAX), "n = {n}");
        assert!(gain_scale(n) >= 1);
    }
    assert_eq!(gain_scale(128), 512);
}
