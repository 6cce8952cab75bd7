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
use crate::quant::requantize_checked;

/// Output channels one pass of the inner loop computes (the 4 of [`widened_weight_len`]).
const GROUP: usize = 4;

/// A layer's int8 weights widened to int16 in the inner loop's order: for each group of four
/// output channels, for each patch word `t` (inputs `2t`, `2t + 1`), the four channels' words
/// `(w[o][2t], w[o][2t + 1])`. Missing channels and the pad after an odd row are zero.
/// `values` starts on a word boundary, as `LDM` needs; only [`WideWeights::new`] builds one.
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
        // Tap-major only where every channel has the same taps (identity involution).
        if tap_major.is_some_and(|(taps, channels)| taps * channels != patch_len) {
            return None;
        }
        // Padding (missing channels, the half word after an odd row) stays zero.
        values.fill(0);
        let stride = 2 * GROUP;
        for o in 0..out_channels {
            let row = weights.get(o * patch_len..(o + 1) * patch_len)?;
            let lane = values.get_mut(o / GROUP * words * stride + 2 * (o % GROUP)..)?;
            // Patch value p of this channel goes to lane[p / 2 · stride + p % 2].
            let mut put = |p: usize, w: i8| {
                if let Some(slot) = lane.get_mut(p / 2 * stride + p % 2) {
                    *slot = i16::from(w);
                }
            };
            match tap_major {
                // The packed row is channel by channel, `taps` each: weight (c, t) is patch
                // value t·channels + c.
                Some((taps, channels)) => {
                    for (c, kernel) in row.chunks_exact(taps.max(1)).enumerate() {
                        for (t, &w) in kernel.iter().enumerate() {
                            put(t * channels + c, w);
                        }
                    }
                }
                None => {
                    for (p, &w) in row.iter().enumerate() {
                        put(p, w);
                    }
                }
            }
        }
        Some(Self { values, words })
    }
}

/// One patch word into the four accumulators: load the word, `LDM` the four channels'
/// matching weight words, four SMLADs. A macro so the loop can repeat it in one asm block.
macro_rules! word_step {
    () => {
        concat!(
            "ldr {x}, [{px}], #4\n",
            "ldm {pw}!, {{r0, r1, r2, r3}}\n",
            "smlad {a0}, r0, {x}, {a0}\n",
            "smlad {a1}, r1, {x}, {a1}\n",
            "smlad {a2}, r2, {x}, {a2}\n",
            "smlad {a3}, r3, {x}, {a3}",
        )
    };
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
            word_step!(),
            // Z still holds n == 0 from the LSRS (loads and SMLAD leave it alone).
            "3:",
            "beq 4f",
            "2:",
            word_step!(),
            word_step!(),
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
    let group_len = 2 * GROUP * words;
    let (zero_point, min, max) = (q.zero_point, i32::from(q.act_min), i32::from(q.act_max));
    // The lengths were checked against the layer when it was built; the shortest wins here.
    let channels = out
        .len()
        .min(bias.len())
        .min(q.multipliers.len())
        .min(q.shifts.len());
    let mut o = 0;
    while o < channels {
        let (Some(w), Some(y)) = (
            weights.values.get(o / GROUP * group_len..),
            out.get_mut(o..channels),
        ) else {
            return;
        };
        // Missing channels of the last group start at 0 and are not written.
        let at = |k: usize| bias.get(o + k).copied().unwrap_or(0);
        let acc = dot4(w, patch, words, [at(0), at(1), at(2), at(3)]);
        for (k, (y, acc)) in y.iter_mut().zip(acc).enumerate() {
            let (Some(&multiplier), Some(&shift)) = (q.multipliers.get(o + k), q.shifts.get(o + k))
            else {
                return;
            };
            // OutputQuant::check ran on these (ConvI8::new, DenseConvI8::new).
            let value = requantize_checked(acc, multiplier, shift).wrapping_add(zero_point);
            *y = value.max(min).min(max) as i8;
        }
        o += GROUP;
    }
}
