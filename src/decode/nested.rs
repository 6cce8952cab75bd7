//! The nested decoder: the pseudoknot-free structure of canonical pairs above the threshold
//! with the best score, by a Nussinov-style dynamic programme. A structure scores the summed
//! gain `p − threshold` of its pairs, less a penalty for each helix (a run of stacked pairs
//! `(i, j)`, `(i + 1, j − 1)`, …): helices must earn their place, so lone and short weak
//! stems give way to long ones, as a loop's free energy makes them in a thermodynamic model.
//!
//! Its table is one `u16` per pair of the packed `L×L` triangle
//! ([`nested_table_len`]), passed in by the caller: a firmware that can afford it (the general
//! RNA model's board has the room; the 40 KiB example board has not) decodes exactly as the
//! host does. Gains and penalties are integers (in steps of `1 / gain_scale(n)`), so the
//! programme and its ties are the same on every target.

use super::{is_canonical, structure, Structure, MIN_PAIR_DISTANCE};
use crate::seq::Base;
use crate::tri::{tri_index, tri_len};
use crate::{Buffer, Error};

/// What the nested decoder maximizes: `Σ (p − threshold)` over its pairs, less
/// `helix_penalty` for each helix.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NestedScoring {
    /// Probability above which a canonical pair is a candidate, and what its gain is
    /// measured from.
    pub threshold: f32,
    /// Subtracted once per helix, in units of probability (0: the plain sum of gains).
    pub helix_penalty: f32,
}

impl NestedScoring {
    /// The firmware's and the tools' default: threshold 0.3, helix penalty 1.0, chosen on the
    /// general RNA model's family-held-out validation split (mean pair F1 0.564 there,
    /// against 0.532 for threshold 0.5 without a penalty).
    pub const DEFAULT: NestedScoring = NestedScoring {
        threshold: 0.3,
        helix_penalty: 1.0,
    };

    /// The penalty in gain units for a sequence of `n` bases.
    fn penalty_units(&self, n: usize) -> u32 {
        // `as` saturates: a NaN or negative penalty is none, a huge one forbids every helix.
        (self.helix_penalty * gain_scale(n) as f32 + 0.5) as u32
    }
}

impl Default for NestedScoring {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// `u16` values of the nested decoder's table at pair length `l`: one per pair of the packed
/// triangle (16,512 bytes at `l = 128`).
pub const fn nested_table_len(l: usize) -> usize {
    tri_len(l)
}

/// Gain units per unit of probability for a sequence of `n` bases: 512, or less where a
/// structure's summed gain (at most `n / 2` pairs, each at most one unit) would not fit a
/// `u16`. It depends on the sequence, not on `L`, so every `L` decodes a sequence alike.
pub const fn gain_scale(n: usize) -> u32 {
    let most_pairs = if n < 2 { 1 } else { n / 2 };
    let fits = u16::MAX as usize / most_pairs;
    if fits < 512 {
        fits as u32
    } else {
        512
    }
}

/// The gain of a pair of probability `p`: 0 unless `p > threshold`, else
/// `(p − threshold) · scale` rounded, at least 1.
fn gain(p: f32, threshold: f32, scale: u32) -> u16 {
    // `p > threshold` is false for NaN.
    if p > threshold {
        // In [0, scale + 0.5]; `as` saturates.
        let units = ((p - threshold) * scale as f32 + 0.5) as u32;
        units.clamp(1, scale) as u16
    } else {
        0
    }
}

/// Decodes a packed `L×L` probability triangle for `bases` (`bases.len() <= L`) into the
/// best nested structure under `scoring`; `table` holds at least [`nested_table_len`]`(L)`
/// values.
#[inline(never)]
pub fn decode_nested<const L: usize>(
    probs: &[f32],
    bases: &[Base],
    scoring: NestedScoring,
    table: &mut [u16],
) -> Result<Structure<L>, Error> {
    let n = bases.len();
    let scale = gain_scale(n);
    let gain_of = |p| gain(p, scoring.threshold, scale);
    nested::<f32, L>(probs, bases, gain_of, scoring.penalty_units(n), table)
}

/// Decodes a packed `L×L` triangle of int8 logits (scale and zero point of the model's
/// logits) into the best nested structure: each logit's gain is that of its probability as
/// [`sigmoid_map_i8`](crate::layers::sigmoid_map_i8) computes it, so this agrees with
/// [`decode_nested`] on those probabilities.
#[inline(never)]
pub fn decode_logits_nested<const L: usize>(
    logits: &[i8],
    bases: &[Base],
    scoring: NestedScoring,
    (scale, zero_point): (f32, i32),
    table: &mut [u16],
) -> Result<Structure<L>, Error> {
    crate::quant::check_zero_point(zero_point)?;
    let units = gain_scale(bases.len());
    let mut gains = [0u16; 256];
    for (slot, q) in gains.iter_mut().zip(i8::MIN..=i8::MAX) {
        let p = crate::layers::sigmoid(crate::quant::dequantize(q, scale, zero_point));
        *slot = gain(p, scoring.threshold, units);
    }
    let gain_of = |q: i8| gains.get(usize::from(q as u8 ^ 0x80)).copied().unwrap_or(0);
    let penalty = scoring.penalty_units(bases.len());
    nested::<i8, L>(logits, bases, gain_of, penalty, table)
}

/// The best split of `i..=j` into `i..=k` and `k + 1..=j` where both sides can hold a pair
/// (the others add nothing): the sum of their table values. The loop is the programme's
/// innermost, so it walks the table directly: `(i, k)` runs along row `i`, contiguous, and
/// `(k + 1, j)` down column `j`, whose step shrinks by one a row.
fn best_split<const L: usize>(table: &[u16], i: usize, j: usize) -> u32 {
    let (first, end) = (i + MIN_PAIR_DISTANCE, j.saturating_sub(MIN_PAIR_DISTANCE));
    if first >= end {
        return 0;
    }
    let row = table
        .get(tri_index(L, i, first)..tri_index(L, i, end))
        .unwrap_or(&[]);
    // (first + 1, j), then down the column: from row r to r + 1 is L − r − 1 further on.
    let mut below = tri_index(L, first + 1, j);
    let mut step = L.wrapping_sub(first + 2);
    let mut value = 0;
    for &left in row {
        let right = table.get(below).copied().unwrap_or(0);
        value = value.max(u32::from(left) + u32::from(right));
        below = below.wrapping_add(step);
        step = step.wrapping_sub(1);
    }
    value
}

/// The programme: `best(i, j)`, the best score of a nested structure within `i..=j`, for
/// growing spans, then the structure read back from the table.
fn nested<T: Copy, const L: usize>(
    scores: &[T],
    bases: &[Base],
    gain_of: impl Fn(T) -> u16,
    penalty: u32,
    table: &mut [u16],
) -> Result<Structure<L>, Error> {
    let n = bases.len();
    if n > L {
        return Err(Error::SequenceTooLong);
    }
    if scores.len() < tri_len(L) {
        return Err(Error::too_small(Buffer::Map, tri_len(L)));
    }
    if table.len() < tri_len(L) {
        return Err(Error::too_small(Buffer::Decoder, tri_len(L)));
    }
    let at = |i: usize, j: usize| tri_index(L, i, j);
    let pair_gain = |i: usize, j: usize| -> u32 {
        let canonical = matches!((bases.get(i), bases.get(j)),
            (Some(&a), Some(&b)) if is_canonical(a, b));
        match scores.get(at(i, j)) {
            Some(&s) if canonical && j >= i + MIN_PAIR_DISTANCE => u32::from(gain_of(s)),
            _ => 0,
        }
    };
    let best = |table: &[u16], i: usize, j: usize| -> u32 {
        if j < i + MIN_PAIR_DISTANCE {
            0
        } else {
            table.get(at(i, j)).map_or(0, |&v| u32::from(v))
        }
    };
    // The best helix opening at (i, j): its length and score (stacked gains, less the
    // penalty, plus the best inside it), if one scores above zero. The first of equals,
    // the shortest, is taken.
    let helix = |table: &[u16], i: usize, j: usize| -> Option<(usize, u32)> {
        let mut found = None;
        let mut gains = 0u32;
        let mut m = 0;
        loop {
            let g = pair_gain(i + m, j - m);
            if g == 0 {
                return found;
            }
            gains += g;
            m += 1;
            let score = (gains + best(table, i + m, j - m)).saturating_sub(penalty);
            if score > found.map_or(0, |(_, s)| s) {
                found = Some((m, score));
            }
        }
    };
    // Scores stay below u16::MAX (gain_scale: penalties only subtract); `min` keeps a
    // broken promise panic-free.
    for span in MIN_PAIR_DISTANCE..n {
        for i in 0..n - span {
            let j = i + span;
            let mut value = best(table, i + 1, j).max(best(table, i, j - 1));
            if let Some((_, score)) = helix(table, i, j) {
                value = value.max(score);
            }
            value = value.max(best_split::<L>(table, i, j));
            if let Some(slot) = table.get_mut(at(i, j)) {
                *slot = value.min(u32::from(u16::MAX)) as u16;
            }
        }
    }

    // Read back: skip i, skip j, a helix, or split, in that order of preference.
    let mut partner = [u16::MAX; L];
    let mut pending: heapless::Vec<(u16, u16), L> = heapless::Vec::new();
    if n > 0 {
        // n <= L <= u16::MAX is checked by the pair length checks upstream.
        let _ = pending.push((0, (n - 1) as u16));
    }
    while let Some((i, j)) = pending.pop() {
        let (i, j) = (usize::from(i), usize::from(j));
        if j < i + MIN_PAIR_DISTANCE {
            continue;
        }
        let here = best(table, i, j);
        let next = if here == best(table, i + 1, j) {
            [Some((i + 1, j)), None]
        } else if here == best(table, i, j - 1) {
            [Some((i, j - 1)), None]
        } else if let Some((m, _)) = helix(table, i, j).filter(|&(_, s)| s == here) {
            for t in 0..m {
                if let Some(slot) = partner.get_mut(i + t) {
                    *slot = (j - t) as u16;
                }
                if let Some(slot) = partner.get_mut(j - t) {
                    *slot = (i + t) as u16;
                }
            }
            [Some((i + m, j - m)), None]
        } else {
            // The read-back is not the hot loop: it re-derives the splits `best_split` walks.
            let split = (i + MIN_PAIR_DISTANCE..j.saturating_sub(MIN_PAIR_DISTANCE))
                .find(|&k| here == best(table, i, k) + best(table, k + 1, j));
            match split {
                Some(k) => [Some((i, k)), Some((k + 1, j))],
                None => [None, None],
            }
        };
        // The pending intervals are disjoint, so at most L of them.
        for (a, b) in next.into_iter().flatten() {
            if pending.push((a as u16, b as u16)).is_err() {
                return Err(Error::SequenceTooLong);
            }
        }
    }
    structure::<L>(&partner, n)
}
