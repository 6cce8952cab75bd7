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
use crate::quant::{requantize_checked, requantize_right};

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
        // Written in the order the kernel reads them, every slot once (padding, i.e. missing
        // channels and the half word after an odd row, as zero): this runs for every
        // streamed row, so it is one pass without a fill. Patch value p = t·channels + c
        // (tap-major) is packed weight c·taps + t of its channel's row; in packed order
        // (taps = patch_len, one "channel") that is p itself.
        let (taps, channels) = tap_major.unwrap_or((patch_len, 1));
        let mut slots = values.iter_mut();
        for group in 0..out_channels.div_ceil(GROUP) {
            let rows = [0, 1, 2, 3].map(|k| {
                let o = group * GROUP + k;
                if o < out_channels {
                    weights
                        .get(o * patch_len..(o + 1) * patch_len)
                        .unwrap_or(&[])
                } else {
                    &[]
                }
            });
            // Patch position (t, c) of the word's first value, advanced value by value.
            let (mut t, mut c) = (0, 0);
            for _ in 0..words {
                let mut source = [usize::MAX; 2];
                for slot in source.iter_mut() {
                    if t < taps {
                        *slot = c * taps + t;
                    }
                    c += 1;
                    if c == channels {
                        c = 0;
                        t += 1;
                    }
                }
                for row in &rows {
                    for &at in &source {
                        if let Some(slot) = slots.next() {
                            *slot = row.get(at).map_or(0, |&w| i16::from(w));
                        }
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
            // n = full / 4 iterations of four words; first one word if bit 0 of full is
            // set, then two if bit 1 is (each LSRS shifts the bit into the carry).
            "lsrs {n}, {n}, #1",
            "bcc 5f",
            word_step!(),
            "5:",
            "lsrs {n}, {n}, #1",
            "bcc 3f",
            word_step!(),
            word_step!(),
            // Z still holds n == 0 from the second LSRS (loads and SMLAD leave it alone).
            "3:",
            "beq 4f",
            "2:",
            word_step!(),
            word_step!(),
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
///
/// `RIGHT_ONLY`: every channel's shift is a right shift (`shift <= 0`, the usual case: a conv's
/// requantization factor is below 1), so the left shift is left out; the same values.
#[inline(always)]
pub(crate) fn dot_requant<const RIGHT_ONLY: bool>(
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
            let value = if RIGHT_ONLY {
                requantize_right(acc, multiplier, shift)
            } else {
                requantize_checked(acc, multiplier, shift)
            };
            let value = value.wrapping_add(zero_point);
            *y = value.max(min).min(max) as i8;
        }
        o += GROUP;
    }
}

/// One register-to-register DSP instruction as a function: `$asm` with operands `{o}` (the
/// result) and `{a}` (and `{b}`).
macro_rules! dsp_instruction {
    ($(#[$doc:meta])* $name:ident($a:ident $(, $b:ident)?) = $asm:literal) => {
        $(#[$doc])*
        #[inline(always)]
        fn $name($a: u32 $(, $b: u32)?) -> u32 {
            let out: u32;
            // SAFETY: one DSP instruction on registers: no memory, no stack; the only flags
            // it may set are the GE flags, which nothing here reads.
            unsafe {
                core::arch::asm!(".arch armv7e-m", $asm, o = lateout(reg) out,
                    a = in(reg) $a $(, b = in(reg) $b)?, options(pure, nomem, nostack));
            }
            out
        }
    };
}

dsp_instruction!(
    /// `SXTB16`: bytes 0 and 2 of `a`, sign-extended into the low and high halfwords.
    sxtb16(a) = "sxtb16 {o}, {a}"
);
dsp_instruction!(
    /// `SXTB16` of `a` rotated by 8: bytes 1 and 3, sign-extended into the two halfwords.
    sxtb16_odd(a) = "sxtb16 {o}, {a}, ror #8"
);
dsp_instruction!(
    /// `SADD16`: the two halfwords added lane by lane (modulo 2¹⁶).
    sadd16(a, b) = "sadd16 {o}, {a}, {b}"
);
dsp_instruction!(
    /// `SSUB16`: `a − b` lane by lane (modulo 2¹⁶).
    ssub16(a, b) = "ssub16 {o}, {a}, {b}"
);

/// Four int16 lanes `(even, odd)` as they come out of [`sxtb16`] / [`sxtb16_odd`] (values 0, 2
/// and 1, 3) back in channel order: words `(v0, v1)` and `(v2, v3)` (`PKHBT`, `PKHTB`).
#[inline(always)]
fn interleave(even: u32, odd: u32) -> (u32, u32) {
    (
        (even & 0xffff) | (odd << 16),
        (odd & 0xffff_0000) | (even >> 16),
    )
}

/// One tap of the patch from one stored pair: `channels` (a multiple of 4) values at `src`,
/// centred, as int16 words at `out`; returns where the next tap goes.
///
/// # Safety
/// `src..src + channels` must be readable and `out` must have room for `channels / 2` words.
#[inline(always)]
unsafe fn copy_tap(src: *const i8, channels: usize, zp: u32, mut out: *mut u32) -> *mut u32 {
    for c in (0..channels).step_by(4) {
        // SAFETY: within the ranges the caller vouches for; both accesses are unaligned-safe.
        unsafe {
            let x = src.add(c).cast::<u32>().read_unaligned();
            let (w0, w1) = interleave(ssub16(sxtb16(x), zp), ssub16(sxtb16_odd(x), zp));
            out.write_unaligned(w0);
            out.add(1).write_unaligned(w1);
            out = out.add(2);
        }
    }
    out
}

/// One tap of the patch from two stored pairs that share its weight, pre-added: `(x − zp) +
/// (y − zp)`, computed as `x + y − 2·zp` (exact in 16 bits: |x + y − 2·zp| <= 510).
///
/// # Safety
/// As [`copy_tap`], for both `x` and `y`.
#[inline(always)]
unsafe fn add_taps(
    x: *const i8,
    y: *const i8,
    channels: usize,
    zp2: u32,
    mut out: *mut u32,
) -> *mut u32 {
    for c in (0..channels).step_by(4) {
        // SAFETY: as in `copy_tap`.
        unsafe {
            let a = x.add(c).cast::<u32>().read_unaligned();
            let b = y.add(c).cast::<u32>().read_unaligned();
            let even = ssub16(sadd16(sxtb16(a), sxtb16(b)), zp2);
            let odd = ssub16(sadd16(sxtb16_odd(a), sxtb16_odd(b)), zp2);
            let (w0, w1) = interleave(even, odd);
            out.write_unaligned(w0);
            out.add(1).write_unaligned(w1);
            out = out.add(2);
        }
    }
    out
}

/// A tap that reads only padding: zeros.
///
/// # Safety
/// `out` must have room for `channels / 2` words.
#[inline(always)]
unsafe fn zero_tap(channels: usize, mut out: *mut u32) -> *mut u32 {
    for _ in 0..channels / 2 {
        // SAFETY: within the room the caller vouches for.
        unsafe {
            out.write_unaligned(0);
            out = out.add(1);
        }
    }
    out
}

/// Both lanes of a halfword constant.
fn lanes(value: i32) -> u32 {
    (value as u32 & 0xffff).wrapping_mul(0x0001_0001)
}

/// What both word-wise gathers check and set up: channels in fours, reads ending by
/// `reads_end <= data.len()`, room for the `tri_len(kernel)·channels` patch values; then the
/// zero point and twice it in both lanes, and the read and write pointers. `None` if a check
/// fails.
#[inline(always)]
fn gather_start(
    data: &[i8],
    reads_end: usize,
    kernel: usize,
    channels: usize,
    zero_point: i32,
    patch: &mut [i16],
) -> Option<((u32, u32), *const i8, *mut u32)> {
    let fits = reads_end <= data.len() && crate::tri::tri_len(kernel) * channels <= patch.len();
    (channels.is_multiple_of(4) && fits).then(|| {
        (
            (lanes(zero_point), lanes(2 * zero_point)),
            data.as_ptr(),
            patch.as_mut_ptr().cast::<u32>(),
        )
    })
}

/// The tap-major patch of an interior pair (see [`super::gather_interior`]) from an int8 map
/// with the identity involution, four channels a step: each tap's bytes are loaded a word
/// at a time, sign-extended two lanes at once, pre-added and centred lane-wise. `row[u]` is
/// the offset of the pair `(a_u, b_0)`; tap `(u, v)` reads `row[u] + v·step` (`step =
/// d·channels`). The same values as the generic gather: `q − zp` and `(x − zp) + (y − zp)`
/// are exact in 16 bits. `false` (nothing written) if `channels` is not a multiple of 4 or a
/// read or write would leave `data` or `patch`.
#[inline(always)]
pub(crate) fn gather_interior_i8(
    data: &[i8],
    row: &[usize; super::MAX_KERNEL],
    kernel: usize,
    step: usize,
    channels: usize,
    zero_point: i32,
    patch: &mut [i16],
) -> bool {
    if kernel > super::MAX_KERNEL {
        return false;
    }
    // Every read ends by the furthest row's last tap.
    let furthest = row.iter().take(kernel).copied().max().unwrap_or(0);
    let reads_end = furthest + (kernel.saturating_sub(1)) * step + channels;
    let Some(((zp, zp2), base, mut out)) =
        gather_start(data, reads_end, kernel, channels, zero_point, patch)
    else {
        return false;
    };
    // SAFETY: the reads are at `row[u] + v·step + c` for `c + 4 <= channels`, all below
    // `reads_end <= data.len()` (checked above). The writes are `tri_len(kernel)·channels`
    // i16 values from the patch's start, within `patch.len()` (checked above).
    unsafe {
        for u in 0..kernel {
            let upper_row = *row.get_unchecked(u);
            for v in u..kernel {
                let upper = base.add(upper_row + v * step);
                out = if u == v {
                    copy_tap(upper, channels, zp, out)
                } else {
                    // The mirrored tap (v, u) reads (a_v, b_u).
                    let lower = base.add(*row.get_unchecked(v) + u * step);
                    add_taps(upper, lower, channels, zp2, out)
                };
            }
        }
    }
    true
}

/// The tap-major patch of any pair from its tap table (see [`super::tap_offsets`]: the pair
/// each tap `(u, v)` reads, or [`super::PADDING`]) of an int8 map with the identity
/// involution, as [`gather_interior_i8`] does it. `false` (nothing written) if `channels` is
/// not a multiple of 4 or a read or write would leave `data` or `patch`.
#[inline(always)]
pub(crate) fn gather_taps_i8(
    data: &[i8],
    offsets: &[[u32; super::MAX_KERNEL]; super::MAX_KERNEL],
    kernel: usize,
    channels: usize,
    zero_point: i32,
    patch: &mut [i16],
) -> bool {
    if kernel > super::MAX_KERNEL {
        return false;
    }
    let furthest = offsets
        .iter()
        .take(kernel)
        .flat_map(|r| r.iter().take(kernel))
        .filter(|&&o| o != super::PADDING)
        .max()
        .map_or(0, |&o| o as usize + channels);
    let Some(((zp, zp2), base, mut out)) =
        gather_start(data, furthest, kernel, channels, zero_point, patch)
    else {
        return false;
    };
    // SAFETY: every offset read is a non-padding entry of the table, whose `channels` values
    // end by `furthest <= data.len()` (checked above); the writes are `tri_len(kernel)·channels`
    // i16 values from the patch's start, within `patch.len()` (checked above). `u, v <
    // kernel <= MAX_KERNEL` index the table.
    unsafe {
        for u in 0..kernel {
            for v in u..kernel {
                let upper = *offsets.get_unchecked(u).get_unchecked(v);
                let lower = if u == v {
                    super::PADDING
                } else {
                    *offsets.get_unchecked(v).get_unchecked(u)
                };
                let at = |o: u32| base.add(o as usize);
                out = match (upper != super::PADDING, lower != super::PADDING) {
                    (true, true) => add_taps(at(upper), at(lower), channels, zp2, out),
                    (true, false) => copy_tap(at(upper), channels, zp, out),
                    (false, true) => copy_tap(at(lower), channels, zp, out),
                    (false, false) => zero_tap(channels, out),
                };
            }
        }
    }
    true
}
