//! Pair scores to an RNA secondary structure: base pairs and dot-bracket.
//!
//! Rules: only canonical pairs (AU, GC, GU, either order) with `j − i >= 4` and probability
//! above the threshold; each base has at most one partner. Pairs are taken greedily by
//! descending score (ties: the first in row order), which every target computes
//! identically. The scores are f32 probabilities ([`decode`]) or, for int8 models, the int8
//! logits themselves ([`decode_logits`]): the probability is a non-decreasing function of
//! the logit, so a firmware needs no `L×L` f32 map to decode. The nested decoder
//! ([`decode_nested`], [`decode_logits_nested`]) gives the best pseudoknot-free structure
//! instead, scoring each helix as a whole ([`NestedScoring`]), at the cost of a `u16` table
//! over the triangle. Crossing pairs (pseudoknots) get further bracket levels: `()`, then `[]`,
//! `{}`, `<>`, then `Aa`, `Bb`, … (upper case opens).

use crate::seq::Base;
use crate::tri::tri_index;
use crate::{Buffer, Error};

mod nested;
pub use nested::{
    decode_logits_nested, decode_nested, gain_scale, nested_table_len, NestedScoring,
};

/// Shortest distance `j − i` of a pair (a hairpin loop holds at least 3 bases).
pub const MIN_PAIR_DISTANCE: usize = 4;
/// Probability above which a pair is a candidate, by default, for the greedy decoder (the
/// nested one's is in [`NestedScoring::DEFAULT`]).
pub const DEFAULT_THRESHOLD: f32 = 0.5;

/// Which decoder turns pair scores into a structure: what a firmware was built with, as its
/// hello tells the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Decoder {
    /// [`decode`] / [`decode_logits`]: canonical pairs above the threshold, best first,
    /// pseudoknots allowed. No table. Code 0.
    Greedy,
    /// [`decode_nested`] / [`decode_logits_nested`]: the best pseudoknot-free structure
    /// under [`NestedScoring::DEFAULT`], with a `u16` table over the triangle. Code 1.
    Nested,
}

impl Decoder {
    /// The wire code.
    pub const fn code(self) -> u8 {
        match self {
            Decoder::Greedy => 0,
            Decoder::Nested => 1,
        }
    }

    /// Reads a wire code.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Decoder::Greedy),
            1 => Some(Decoder::Nested),
            _ => None,
        }
    }

    /// Its name, as the tools' `--decoder` and the firmware's `SCNN_DECODER` spell it.
    pub const fn name(self) -> &'static str {
        match self {
            Decoder::Greedy => "greedy",
            Decoder::Nested => "nested",
        }
    }
}

/// Whether two bases can pair: Watson-Crick or GU wobble.
pub const fn is_canonical(a: Base, b: Base) -> bool {
    matches!(
        (a, b),
        (Base::A, Base::U)
            | (Base::U, Base::A)
            | (Base::G, Base::C)
            | (Base::C, Base::G)
            | (Base::G, Base::U)
            | (Base::U, Base::G)
    )
}

/// A decoded structure of up to `L` bases: pairs `(i, j)` with `i < j`, sorted by `i`, and the
/// dot-bracket string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Structure<const L: usize> {
    /// Base pairs, 0-based, `i < j`, sorted by `i`.
    pub pairs: heapless::Vec<(u16, u16), L>,
    /// Dot-bracket notation, one ASCII byte per base: `()[]{}<>`, then `Aa` … `Zz`.
    pub dot_bracket: heapless::Vec<u8, L>,
    /// Pairs the dot-bracket leaves out (shown as `.`): each crosses a pair on every one of
    /// the 30 bracket levels. They are in `pairs` all the same.
    pub unbracketed: u16,
}

impl<const L: usize> Structure<L> {
    /// The dot-bracket string.
    pub fn dot_bracket_str(&self) -> &str {
        core::str::from_utf8(&self.dot_bracket).unwrap_or("")
    }
}

/// The opening bracket of each dot-bracket level, innermost kind first.
pub const OPEN: &[u8] = b"([{<ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// The closing bracket of each level, matching [`OPEN`].
pub const CLOSE: &[u8] = b")]}>abcdefghijklmnopqrstuvwxyz";

/// Decodes a packed `L×L` probability triangle for `bases` (`bases.len() <= L`).
// Out of line, so that its tables don't sit in the caller's frame while the model runs.
#[inline(never)]
pub fn decode<const L: usize>(
    probs: &[f32],
    bases: &[Base],
    threshold: f32,
) -> Result<Structure<L>, Error> {
    // `p > threshold` is false for NaN.
    greedy::<f32, L>(probs, bases, |p| p > threshold)
}

/// Decodes a packed `L×L` triangle of int8 logits (scale and zero point of the model's
/// logits) for `bases`: the pairs whose probability exceeds `threshold`, greedily by
/// descending logit. Host and firmware decode int8 models this way.
#[inline(never)]
pub fn decode_logits<const L: usize>(
    logits: &[i8],
    bases: &[Base],
    threshold: f32,
    scale: f32,
    zero_point: i32,
) -> Result<Structure<L>, Error> {
    let cutoff = logit_cutoff(threshold, scale, zero_point);
    greedy::<i8, L>(logits, bases, |q| i16::from(q) >= cutoff)
}

/// The smallest int8 logit whose probability (the sigmoid of its dequantized value, as
/// [`sigmoid_map_i8`](crate::layers::sigmoid_map_i8) computes it) exceeds `threshold`; 128
/// when none does.
pub fn logit_cutoff(threshold: f32, scale: f32, zero_point: i32) -> i16 {
    (i16::from(i8::MIN)..=i16::from(i8::MAX))
        .find(|&q| {
            let x = crate::quant::dequantize(q as i8, scale, zero_point);
            crate::layers::sigmoid(x) > threshold
        })
        .unwrap_or(128)
}

/// The greedy pairing over packed scores, then the bracket levels.
fn greedy<T: Copy + PartialOrd, const L: usize>(
    scores: &[T],
    bases: &[Base],
    candidate: impl Fn(T) -> bool,
) -> Result<Structure<L>, Error> {
    let len = bases.len();
    if len > L {
        return Err(Error::SequenceTooLong);
    }
    if scores.len() < crate::tri::tri_len(L) {
        return Err(Error::too_small(Buffer::Map, crate::tri::tri_len(L)));
    }
    let mut partner = [u16::MAX; L];
    let mut pairs: heapless::Vec<(u16, u16), L> = heapless::Vec::new();
    // Greedy: take the best-scoring free candidate until none is left.
    loop {
        let mut best: Option<(T, usize, usize)> = None;
        for i in 0..len {
            if partner.get(i) != Some(&u16::MAX) {
                continue;
            }
            for j in i + MIN_PAIR_DISTANCE..len {
                let Some(&p) = scores.get(tri_index(L, i, j)) else {
                    continue;
                };
                let beats_best = best.is_none_or(|(b, _, _)| p > b);
                if !beats_best || !candidate(p) {
                    continue;
                }
                let free = partner.get(j) == Some(&u16::MAX);
                let canonical = match (bases.get(i), bases.get(j)) {
                    (Some(&a), Some(&b)) => is_canonical(a, b),
                    _ => false,
                };
                if free && canonical {
                    best = Some((p, i, j));
                }
            }
        }
        let Some((_, i, j)) = best else { break };
        // i, j < len <= L <= u16::MAX is guaranteed by the pair length checks upstream.
        let (i16_, j16) = (i as u16, j as u16);
        if let Some(slot) = partner.get_mut(i) {
            *slot = j16;
        }
        if let Some(slot) = partner.get_mut(j) {
            *slot = i16_;
        }
        if pairs.push((i16_, j16)).is_err() {
            break;
        }
    }
    structure::<L>(&partner, len)
}

/// The structure of the first `len` positions of a partner table (`u16::MAX`: unpaired):
/// pairs in position order and the dot-bracket with its bracket levels.
fn structure<const L: usize>(partner: &[u16], len: usize) -> Result<Structure<L>, Error> {
    // In position order, read off the partner table (core's sort can panic on a bad order).
    let mut pairs: heapless::Vec<(u16, u16), L> = heapless::Vec::new();
    for (i, &p) in partner.iter().enumerate().take(len) {
        if p != u16::MAX && usize::from(p) > i && pairs.push((i as u16, p)).is_err() {
            break;
        }
    }

    // Bracket levels: each pair takes the lowest level none of whose pairs it crosses.
    let mut level = [0u8; L];
    let mut dot_bracket: heapless::Vec<u8, L> = heapless::Vec::new();
    for _ in 0..len {
        dot_bracket.push(b'.').map_err(|_| Error::SequenceTooLong)?;
    }
    let mut unbracketed = 0u16;
    for (n, &(i, j)) in pairs.iter().enumerate() {
        let mut chosen = 0usize;
        while chosen < OPEN.len() {
            let crosses = pairs.iter().take(n).enumerate().any(|(m, &(a, b))| {
                level.get(m).copied() == Some(chosen as u8) && (a < i && i < b && b < j)
            });
            if !crosses {
                break;
            }
            chosen += 1;
        }
        if let Some(slot) = level.get_mut(n) {
            // A pair past the last level takes none: it blocks no later pair's level.
            *slot = if chosen < OPEN.len() {
                chosen as u8
            } else {
                u8::MAX
            };
        }
        if chosen == OPEN.len() {
            unbracketed = unbracketed.saturating_add(1);
        }
        if let (Some(o), Some(c)) = (OPEN.get(chosen), CLOSE.get(chosen)) {
            if let Some(slot) = dot_bracket.get_mut(i as usize) {
                *slot = *o;
            }
            if let Some(slot) = dot_bracket.get_mut(j as usize) {
                *slot = *c;
            }
        }
    }
    Ok(Structure {
        pairs,
        dot_bracket,
        unbracketed,
    })
}
