//! The int8 dot products on cores with the DSP extension (Cortex-M4, M7, M33, M55): SMLAD
//! does two 16×16 multiply-accumulates an instruction.
//!
//! The weights stay int8 in flash. Before a layer (or a streamed row of it) runs, they are
//! widened once into scratch as int16, four output channels side by side
//! ([`WideWeights`]), so the inner loop is one patch word, one `LDM` of the four channels'
//! matching weight words and four SMLADs: nothing is widened per pair. Accumulators wrap
//! exactly as in the portable kernel (SMLAD is modulo 2³²), so the results are equal bit for
//! bit.
#![allow(unsafe_code)]

use super::int8::OutputQuant;
use crate::plan::widened_weight_len;
use crate::quant::{clamp_i8, requantize};

/// Output channels one pass of the inner loop computes (the 4 of [`widened_weight_len`]).
const GROUP: usize = 4;

/// A layer's int8 weights widened to int16 in the inner loop's order: for each group of four
/// output channels, for each patch word `t` (inputs `2t`, `2t + 1`), the four channels' words
/// `(w[o][2t], w[o][2t + 1])`. Missing channels and the pad after an odd row are zero.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WideWeights<'w> {
    values: &'w [i16],
    words: usize,
}

impl<'w> WideWeights<'w> {
    /// Widens `weights` (`out_channels` rows of `patch_len`, in packed order) into `buffer`
    /// in the order the patch will be in: packed, or with `tap_major = Some((taps,
    /// channels))` tap by tap ([`PatchOrder::TapMajor`](super::PatchOrder::TapMajor)), from
    /// the first word boundary. `None` if `buffer` is shorter than [`widened_weight_len`] plus
    /// that alignment, or `weights` than the rows.
    pub(crate) fn new(
        weights: &[i8],
        patch_len: usize,
        out_channels: usize,
        buffer: &'w mut [i16],
        tap_major: Option<(usize, usize)>,
    ) -> Option<Self> {
        let words = patch_len.div_ceil(2);
        // LDM needs word-aligned addresses: skip one value if `buffer` starts mid-word (it
        // is an i16 slice, so it is at least 2-aligned). Scratch has room for the skip.
        let skip = (buffer.as_ptr() as usize / 2) % 2;
        let len = widened_weight_len(patch_len, out_channels);
        let values = buffer.get_mut(skip..skip + len)?;
        if weights.len() < patch_len * out_channels {
            return None;
        }
        // Where patch value `p` takes its weight from in a packed row.
        let source = |p: usize| match tap_major {
            // p = t·C + c reads weight c·T + t.
            Some((taps, channels)) if channels > 0 => (p % channels) * taps + p / channels,
            _ => p,
        };
        // One block of four channels × two inputs per word of the row; max(1): visibly no
        // zero-sized chunks.
        let block = 2 * GROUP;
        let groups = values.chunks_exact_mut((words * block).max(1));
        for (g, group) in groups.enumerate() {
            for (t, lanes) in group.chunks_exact_mut(block).enumerate() {
                for (lane, pair) in lanes.chunks_exact_mut(2).enumerate() {
                    let o = g * GROUP + lane;
                    for (h, slot) in pair.iter_mut().enumerate() {
                        let p = 2 * t + h;
                        *slot = if o < out_channels && p < patch_len {
                            let at = o * patch_len + source(p);
                            weights.get(at).map_or(0, |&w| w as i16)
                        } else {
                            0
                        };
                    }
                }
            }
        }
        Some(Self { values, words })
    }
}

/// The four accumulators of one channel group over the whole patch: `patch` holds
/// `2 · words − 1` or `2 · words` values, `weights` the group's `GROUP · words` words.
#[inline(always)]
fn dot4(weights: &[i16], patch: &[i16], words: usize, mut acc: [i32; GROUP]) -> [i32; GROUP] {
    // Whole patch words; an odd last value is done below.
    let full = patch.len() / 2;
    if full > words || weights.len() < 2 * GROUP * words {
        return acc;
    }
    let [a0, a1, a2, a3] = &mut acc;
    // SAFETY: the asm reads `full` words from `patch` (2·full <= patch.len()) with LDR, which
    // allows the 2-byte alignment of an i16 slice on these cores, and `GROUP·full` words from
    // `weights` (full <= words, and the length is checked above) with LDM, which needs
    // 4-byte alignment: `WideWeights::new` starts them on a word boundary and every group is
    // a whole number of words. It writes only its register operands: r0–r3 are declared
    // clobbered, the pointers and count are discarded.
    unsafe {
        core::arch::asm!(
            // Armv8-M Mainline targets (M33, M55) leave the DSP extension out of their
            // baseline, so the assembler is told the instructions exist (the directive holds
            // for this block only); the crate's `dsp` feature is the promise that the core
            // has them. Every instruction here encodes the same in v7E-M and v8-M Mainline.
            ".arch armv7e-m",
            // n = full / 2 iterations of two words; an odd word first.
            "lsrs {n}, {n}, #1",
            "bcc 3f",
            "ldr {x}, [{px}], #4",
            "ldm {pw}!, {{r0, r1, r2, r3}}",
            "smlad {a0}, r0, {x}, {a0}",
            "smlad {a1}, r1, {x}, {a1}",
            "smlad {a2}, r2, {x}, {a2}",
            "smlad {a3}, r3, {x}, {a3}",
            // Z still holds n == 0 from the LSRS (loads and SMLAD leave it alone).
            "3:",
            "beq 4f",
            "2:",
            "ldr {x}, [{px}], #4",
            "ldm {pw}!, {{r0, r1, r2, r3}}",
            "smlad {a0}, r0, {x}, {a0}",
            "smlad {a1}, r1, {x}, {a1}",
            "smlad {a2}, r2, {x}, {a2}",
            "smlad {a3}, r3, {x}, {a3}",
            "ldr {x}, [{px}], #4",
            "ldm {pw}!, {{r0, r1, r2, r3}}",
            "smlad {a0}, r0, {x}, {a0}",
            "smlad {a1}, r1, {x}, {a1}",
            "smlad {a2}, r2, {x}, {a2}",
            "smlad {a3}, r3, {x}, {a3}",
            "subs {n}, {n}, #1",
            "bne 2b",
            "4:",
            px = inout(reg) patch.as_ptr() => _,
            pw = inout(reg) weights.as_ptr() => _,
            n = inout(reg) full => _,
            x = out(reg) _,
            a0 = inout(reg) *a0,
            a1 = inout(reg) *a1,
            a2 = inout(reg) *a2,
            a3 = inout(reg) *a3,
            out("r0") _,
            out("r1") _,
            out("r2") _,
            out("r3") _,
            options(nostack, readonly),
        );
    }
    if patch.len() % 2 == 1 {
        // The odd last value: its weights are the low halves of the group's last word.
        let x = patch.get(2 * full).map_or(0, |&x| x as i32);
        let last = weights.get(2 * GROUP * full..).unwrap_or(&[]);
        for (a, w) in acc.iter_mut().zip(last.chunks_exact(2)) {
            *a = a.wrapping_add(w.first().map_or(0, |&w| w as i32) * x);
        }
    }
    acc
}

/// [`super::int8::dot_requant`] with SMLAD on widened weights: the patch in the order the
/// weights were widened for, same results.
#[inline]
pub(crate) fn dot_requant(
    weights: &WideWeights<'_>,
    bias: &[i32],
    q: &OutputQuant<'_>,
    patch: &[i16],
    out: &mut [i8],
) {
    let words = weights.words;
    let group_len = (2 * GROUP * words).max(1);
    let groups = weights.values.chunks_exact(group_len);
    let mut biases = bias.chunks(GROUP);
    let mut factors = q.multipliers.chunks(GROUP).zip(q.shifts.chunks(GROUP));
    for (w, y) in groups.zip(out.chunks_mut(GROUP)) {
        let (Some(bias), Some((multipliers, shifts))) = (biases.next(), factors.next()) else {
            return;
        };
        // Missing channels of the last group start at 0 and are not written.
        let at = |k: usize| bias.get(k).copied().unwrap_or(0);
        let acc = dot4(w, patch, words, [at(0), at(1), at(2), at(3)]);
        let lanes = y.iter_mut().zip(acc).zip(multipliers.iter().zip(shifts));
        for ((y, acc), (&multiplier, &shift)) in lanes {
            let value = requantize(acc, multiplier, shift).wrapping_add(q.zero_point);
            *y = clamp_i8(value, q.act_min, q.act_max);
        }
    }
}
