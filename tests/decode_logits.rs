//! Decoding an int8 model from its logits gives the structure decoding its f32 probabilities
//! gives, so a firmware need not hold the `L×L` f32 map.

use proptest::prelude::*;
use scnn::decode::{decode, decode_logits, logit_cutoff};
use scnn::layers::sigmoid_map_i8;
use scnn::seq::Base;
use scnn::tri::tri_len;

const L: usize = 24;
const BASES: [Base; 4] = [Base::A, Base::C, Base::G, Base::U];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn logits_and_probabilities_decode_alike(
        logits in proptest::collection::vec(any::<i8>(), tri_len(L)),
        bases in proptest::collection::vec(0usize..4, 1..=L),
        zero_point in -128i32..=127,
        threshold in 0.05f32..0.95,
    ) {
        // A scale at which neighbouring logits have distinct f32 probabilities: the
        // probability is then strictly increasing in the logit, and ranks alike.
        let scale = 0.05;
        let bases: Vec<Base> = bases.iter().map(|&b| BASES[b]).collect();
        let mut probs = vec![0f32; tri_len(L)];
        sigmoid_map_i8(&logits, scale, zero_point, &mut probs).unwrap();
        let from_probs = decode::<L>(&probs, &bases, threshold).unwrap();
        let from_logits = decode_logits::<L>(&logits, &bases, threshold, scale, zero_point).unwrap();
        prop_assert_eq!(from_probs, from_logits);
    }
}

#[test]
fn the_cutoff_is_the_first_logit_above_the_threshold() {
    // zero point 0, scale 1: logit 0 has probability 0.5 exactly, which is not above 0.5.
    assert_eq!(logit_cutoff(0.5, 1.0, 0), 1);
    assert_eq!(logit_cutoff(0.5, 1.0, -3), -2);
    // Nothing reaches probability 1.5; everything exceeds -1.
    assert_eq!(logit_cutoff(1.5, 1.0, 0), 128);
    assert_eq!(logit_cutoff(-1.0, 1.0, 0), -128);
}

#[test]
fn pairs_past_the_thirty_bracket_levels_stay_pairs_but_not_letters() {
    // 31 G·C pairs (k, 31 + k) that all cross one another: one more than the levels.
    const N: usize = 62;
    let bases: Vec<Base> = (0..N)
        .map(|p| if p < 31 { Base::G } else { Base::C })
        .collect();
    let mut probs = vec![0f32; scnn::tri::tri_len(N)];
    for k in 0..31 {
        // Earlier pairs surer, so the greedy decoder takes them in order.
        probs[scnn::tri::tri_index(N, k, 31 + k)] = 0.99 - k as f32 * 0.001;
    }
    let s = decode::<N>(&probs, &bases, 0.5).unwrap();
    assert_eq!(s.pairs.len(), 31);
    assert_eq!(s.unbracketed, 1);
    let text = s.dot_bracket_str();
    assert_eq!(text.bytes().filter(|&c| c != b'.').count(), 60, "{text}");
    // No letter used twice: Z and z once each, not reused for the 31st pair.
    assert_eq!(text.matches('Z').count(), 1, "{text}");
    assert_eq!(text.matches('z').count(), 1, "{text}");
}
