//! The nested decoder: the pseudoknot-free structure of canonical pairs above the threshold
//! whose summed gain `p − threshold` is largest, by a Nussinov-style dynamic programme.
//!
//! Its table is one `u16` per pair of the packed `L×L` triangle
//! ([`nested_table_len`]), passed in by the caller: a firmware that can afford it (the general
//! RNA model's board has the room; the 40 KiB example board has not) decodes exactly as the
//! host does. Gains are integers (`p − threshold` in steps of `1 / gain_scale(n)`), so the
//! programme and its ties are the same on every target.

use super::{is_canonical, structure, Structure, MIN_PAIR_DISTANCE};
use crate::seq::Base;
use crate::tri::{tri_index, tri_len};
use crate::{Buffer, Error};

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
/// best nested structure; `table` holds at least [`nested_table_len`]`(L)` values.
#[inline(never)]
pub fn decode_nested<const L: usize>(
    probs: &[f32],
    bases: &[Base],
    threshold: f32,
    table: &mut [u16],
) -> Result<Structure<L>, Error> {
    let scale = gain_scale(bases.len());
    nested::<f32, L>(probs, bases, |p| gain(p, threshold, scale), table)
}

/// Decodes a packed `L×L` triangle of int8 logits (scale and zero point of the model's
/// logits) into the best nested structure: each logit's gain is that of its probability as
/// [`sigmoid_map_i8`](crate::layers::sigmoid_map_i8) computes it, so this agrees with
/// [`decode_nested`] on those probabilities.
#[inline(never)]
pub fn decode_logits_nested<const L: usize>(
    logits: &[i8],
    bases: &[Base],
    threshold: f32,
    (scale, zero_point): (f32, i32),
    table: &mut [u16],
) -> Result<Structure<L>, Error> {
    crate::quant::check_zero_point(zero_point)?;
    let units = gain_scale(bases.len());
    let mut gains = [0u16; 256];
    for (slot, q) in gains.iter_mut().zip(i8::MIN..=i8::MAX) {
        let p = crate::layers::sigmoid(crate::quant::dequantize(q, scale, zero_point));
        *slot = gain(p, threshold, units);
    }
    let gain_of = |q: i8| gains.get(usize::from(q as u8 ^ 0x80)).copied().unwrap_or(0);
    nested::<i8, L>(logits, bases, gain_of, table)
}

/// The programme: `best(i, j)`, the largest summed gain of a nested structure within
/// `i..=j`, for growing spans, then the structure read back from the table.
fn nested<T: Copy, const L: usize>(
    scores: &[T],
    bases: &[Base],
    gain_of: impl Fn(T) -> u16,
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
    let pair_gain = |i: usize, j: usize| -> u16 {
        let canonical = matches!((bases.get(i), bases.get(j)),
            (Some(&a), Some(&b)) if is_canonical(a, b));
        match scores.get(at(i, j)) {
            Some(&s) if canonical && j >= i + MIN_PAIR_DISTANCE => gain_of(s),
            _ => 0,
        }
    };
    let best = |table: &[u16], i: usize, j: usize| -> u16 {
        if j < i + MIN_PAIR_DISTANCE {
            0
        } else {
            table.get(at(i, j)).copied().unwrap_or(0)
        }
    };
    // Sums stay below u16::MAX (gain_scale); saturating keeps a broken promise panic-free.
    for span in MIN_PAIR_DISTANCE..n {
        for i in 0..n - span {
            let j = i + span;
            let mut value = best(table, i + 1, j).max(best(table, i, j - 1));
            let g = pair_gain(i, j);
            if g > 0 {
                value = value.max(g.saturating_add(best(table, i + 1, j - 1)));
            }
            // Splits where both sides can hold a pair; the others add nothing.
            for k in i + MIN_PAIR_DISTANCE..j.saturating_sub(MIN_PAIR_DISTANCE) {
                value = value.max(best(table, i, k).saturating_add(best(table, k + 1, j)));
            }
            if let Some(slot) = table.get_mut(at(i, j)) {
                *slot = value;
            }
        }
    }

    // Read back: skip i, skip j, pair them, or split, in that order of preference.
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
        let gain = pair_gain(i, j);
        let next = if here == best(table, i + 1, j) {
            [Some((i + 1, j)), None]
        } else if here == best(table, i, j - 1) {
            [Some((i, j - 1)), None]
        } else if gain > 0 && here == gain.saturating_add(best(table, i + 1, j - 1)) {
            if let Some(slot) = partner.get_mut(i) {
                *slot = j as u16;
            }
            if let Some(slot) = partner.get_mut(j) {
                *slot = i as u16;
            }
            [Some((i + 1, j - 1)), None]
        } else {
            let split = (i + MIN_PAIR_DISTANCE..j.saturating_sub(MIN_PAIR_DISTANCE))
                .find(|&k| here == best(table, i, k).saturating_add(best(table, k + 1, j)));
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
