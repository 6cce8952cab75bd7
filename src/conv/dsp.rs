//! The int8 dot products on cores with the DSP extension (Cortex-M4, M7, M33, M55): SMLAD
//! does two 16×16 multiply-accumulates an instruction, SXTB16 widens two int8 weights at once.
//!
//! The weights stay int8 in flash; a word of four, `w0 w1 w2 w3`, widens to `(w0, w2)` and
//! `(w1, w3)`. So the patch is put in the matching order once per pair (`x0 x2 x1 x3` in each
//! group of four) and every output channel reuses it. Accumulators wrap exactly as in the
//! portable kernel (SMLAD is modulo 2³²), so the results are equal bit for bit.
#![allow(unsafe_code)]

use super::int8::OutputQuant;
use crate::quant::{clamp_i8, requantize};

/// `acc + lo(a)·lo(b) + hi(a)·hi(b)` on signed halfwords, wrapping.
#[inline(always)]
fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    let out: i32;
    // SAFETY: SMLAD only reads three registers and writes one; it touches no memory or stack.
    unsafe {
        core::arch::asm!(
            "smlad {out}, {a}, {b}, {acc}",
            out = lateout(reg) out, a = in(reg) a, b = in(reg) b, acc = in(reg) acc,
            options(pure, nomem, nostack),
        );
    }
    out
}

/// Bytes 0 and 2 of `x`, sign-extended to halfwords.
#[inline(always)]
fn sxtb16(x: u32) -> u32 {
    let out: u32;
    // SAFETY: register-only instruction.
    unsafe {
        core::arch::asm!(
            "sxtb16 {out}, {x}",
            out = lateout(reg) out, x = in(reg) x,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    out
}

/// Bytes 1 and 3 of `x`, sign-extended to halfwords.
#[inline(always)]
fn sxtb16_ror8(x: u32) -> u32 {
    let out: u32;
    // SAFETY: register-only instruction.
    unsafe {
        core::arch::asm!(
            "sxtb16 {out}, {x}, ror #8",
            out = lateout(reg) out, x = in(reg) x,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    out
}

/// Two halfwords as one word, `lo` in the low half.
#[inline(always)]
fn pack(lo: i16, hi: i16) -> u32 {
    (lo as u16 as u32) | ((hi as u16 as u32) << 16)
}

/// Reorders each full group of four patch values to `x0 x2 x1 x3`.
#[inline]
fn interleave(patch: &mut [i16]) {
    for group in patch.chunks_exact_mut(4) {
        group.swap(1, 2);
    }
}

/// Four int8 weights as one word, `w0` in the low byte.
#[inline(always)]
fn word(w: &[i8]) -> u32 {
    match w {
        [w0, w1, w2, w3] => u32::from_le_bytes([*w0 as u8, *w1 as u8, *w2 as u8, *w3 as u8]),
        _ => 0,
    }
}

/// The dot products of two int8 weight rows with the interleaved patch, plus `acc`: each
/// patch word is loaded once for both rows.
#[inline(always)]
fn dot2(a: &[i8], b: &[i8], patch: &[i16], acc: (i32, i32)) -> (i32, i32) {
    let groups = patch.len() / 4;
    let (mut acc_a, mut acc_b) = acc;
    if groups > 0 && a.len() >= 4 * groups && b.len() >= 4 * groups {
        // SAFETY: the loop reads `groups` words from each of `a` and `b` and `2·groups` words
        // from `patch`, all within the lengths checked above (unaligned word loads are allowed
        // on the cores this module is built for). It writes only its register operands.
        unsafe {
            core::arch::asm!(
                "2:",
                "ldr {wa}, [{pa}], #4",
                "ldr {wb}, [{pb}], #4",
                "ldr {even}, [{px}], #4",
                "ldr {odd}, [{px}], #4",
                "sxtb16 {t}, {wa}",
                "smlad {acc_a}, {t}, {even}, {acc_a}",
                "sxtb16 {t}, {wa}, ror #8",
                "smlad {acc_a}, {t}, {odd}, {acc_a}",
                "sxtb16 {t}, {wb}",
                "smlad {acc_b}, {t}, {even}, {acc_b}",
                "sxtb16 {t}, {wb}, ror #8",
                "smlad {acc_b}, {t}, {odd}, {acc_b}",
                "subs {n}, {n}, #1",
                "bne 2b",
                pa = inout(reg) a.as_ptr() => _,
                pb = inout(reg) b.as_ptr() => _,
                px = inout(reg) patch.as_ptr() => _,
                n = inout(reg) groups => _,
                acc_a = inout(reg) acc_a,
                acc_b = inout(reg) acc_b,
                wa = out(reg) _,
                wb = out(reg) _,
                even = out(reg) _,
                odd = out(reg) _,
                t = out(reg) _,
                options(nostack, readonly),
            );
        }
    }
    // The tail (fewer than four values) is in natural order.
    let start = 4 * groups;
    let tail = patch.get(start..).unwrap_or(&[]);
    let (ta, tb) = (a.get(start..).unwrap_or(&[]), b.get(start..).unwrap_or(&[]));
    for ((&wa, &wb), &x) in ta.iter().zip(tb).zip(tail) {
        acc_a = acc_a.wrapping_add(wa as i32 * x as i32);
        acc_b = acc_b.wrapping_add(wb as i32 * x as i32);
    }
    (acc_a, acc_b)
}

/// The dot product of one int8 weight row with the interleaved patch, plus `acc`.
#[inline(always)]
fn dot(weights: &[i8], patch: &[i16], mut acc: i32) -> i32 {
    let mut w4 = weights.chunks_exact(4);
    let mut x4 = patch.chunks_exact(4);
    for (w, x) in (&mut w4).zip(&mut x4) {
        if let [x0, x2, x1, x3] = x {
            let w = word(w);
            acc = smlad(sxtb16(w), pack(*x0, *x2), acc);
            acc = smlad(sxtb16_ror8(w), pack(*x1, *x3), acc);
        }
    }
    for (&w, &x) in w4.remainder().iter().zip(x4.remainder()) {
        acc = acc.wrapping_add(w as i32 * x as i32);
    }
    acc
}

/// [`super::int8::dot_requant`] with SMLAD: same contract, same results.
#[inline]
pub(crate) fn dot_requant(
    weights: &[i8],
    bias: &[i32],
    q: &OutputQuant<'_>,
    patch: &mut [i16],
    out: &mut [i8],
) {
    interleave(patch);
    let row = patch.len();
    let requant = |acc: i32, o: usize| {
        let (Some(&multiplier), Some(&shift)) = (q.multipliers.get(o), q.shifts.get(o)) else {
            return q.act_min;
        };
        let value = requantize(acc, multiplier, shift).wrapping_add(q.zero_point);
        clamp_i8(value, q.act_min, q.act_max)
    };
    // Output channels two at a time (each patch word loaded once for both), then the last.
    let mut pairs = out.chunks_exact_mut(2);
    let mut o = 0;
    for y in &mut pairs {
        let (Some(a), Some(b), Some(&[bias_a, bias_b]), [ya, yb]) = (
            weights.get(o * row..(o + 1) * row),
            weights.get((o + 1) * row..(o + 2) * row),
            bias.get(o..o + 2),
            y,
        ) else {
            return;
        };
        let (acc_a, acc_b) = dot2(a, b, patch, (bias_a, bias_b));
        *ya = requant(acc_a, o);
        *yb = requant(acc_b, o + 1);
        o += 2;
    }
    if let ([y], Some(a), Some(&bias)) = (
        pairs.into_remainder(),
        weights.get(o * row..(o + 1) * row),
        bias.get(o),
    ) {
        *y = requant(dot(a, patch, bias), o);
    }
}
