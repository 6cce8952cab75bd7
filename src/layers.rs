//! The layers around the convolutions: residual add, sigmoid head and whole-map pooling.
//!
//! Bias and the ReLU/ReLU6 clamp are fused into the convs; a 1×1 conv is a
//! [`ConvGeom`](crate::ConvGeom) with `kernel = 1`; batch norm is folded into the conv weights
//! by the converter.

use crate::quant::{check_zero_point, clamp_i8, dequantize, Activation, Requant};
use crate::tri::TriMap;
use crate::{Buffer, Error, Involution};

/// `acc[n] = activation(acc[n] + skip[n])` over two packed maps of the same shape.
pub fn residual_add_f32(
    acc: &mut [f32],
    skip: &[f32],
    activation: Activation,
) -> Result<(), Error> {
    if acc.len() != skip.len() {
        return Err(Error::ShapeMismatch);
    }
    for (a, b) in acc.iter_mut().zip(skip) {
        *a = activation.apply_f32(*a + b);
    }
    Ok(())
}

/// Quantization of an int8 residual add, as TFLite's `ADD` and CMSIS-NN's
/// `arm_elementwise_add_s8`: both inputs are centered, shifted left by
/// [`AddQuant::LEFT_SHIFT`], rescaled to a common scale, added and requantized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AddQuant {
    /// Zero point of the first input (the accumulator).
    pub a_zero_point: i32,
    /// Rescale of the first input.
    pub a: Requant,
    /// Zero point of the second input (the skip connection).
    pub b_zero_point: i32,
    /// Rescale of the second input.
    pub b: Requant,
    /// Rescale of the sum to the output scale.
    pub out: Requant,
    /// Zero point of the output.
    pub out_zero_point: i32,
    /// Lower clamp.
    pub act_min: i8,
    /// Upper clamp.
    pub act_max: i8,
}

impl AddQuant {
    /// Left shift that keeps precision through the rescale (TFLite uses 20 for int8).
    pub const LEFT_SHIFT: i32 = 20;

    /// The parameters for inputs with scales `a_scale`, `b_scale` and an output with
    /// `out_scale`, following TFLite's `PrepareGeneralSubOp`/`ADD` derivation.
    #[allow(clippy::too_many_arguments)]
    pub fn from_scales(
        a_scale: f32,
        a_zero_point: i32,
        b_scale: f32,
        b_zero_point: i32,
        out_scale: f32,
        out_zero_point: i32,
        activation: Activation,
    ) -> Result<Self, Error> {
        let twice_max = 2.0 * f64::max(a_scale as f64, b_scale as f64);
        let (act_min, act_max) = activation.int8_range(out_scale, out_zero_point);
        let quant = Self {
            a_zero_point,
            a: Requant::from_real(a_scale as f64 / twice_max)?,
            b_zero_point,
            b: Requant::from_real(b_scale as f64 / twice_max)?,
            out: Requant::from_real(
                twice_max / ((1u64 << Self::LEFT_SHIFT) as f64 * out_scale as f64),
            )?,
            out_zero_point,
            act_min,
            act_max,
        };
        quant.check()?;
        Ok(quant)
    }

    /// Checks every range the arithmetic relies on.
    pub fn check(&self) -> Result<(), Error> {
        self.a.check()?;
        self.b.check()?;
        self.out.check()?;
        check_zero_point(self.a_zero_point)?;
        check_zero_point(self.b_zero_point)?;
        check_zero_point(self.out_zero_point)?;
        if self.act_min > self.act_max {
            return Err(Error::BadQuantRange);
        }
        Ok(())
    }

    /// Adds one pair of int8 values.
    #[inline]
    pub fn add(&self, a: i8, b: i8) -> i8 {
        let sum = self
            .out
            .apply(self.rescale_a(a).wrapping_add(self.rescale_b(b)));
        clamp_i8(
            sum.wrapping_add(self.out_zero_point),
            self.act_min,
            self.act_max,
        )
    }

    /// The first input's value on the common scale: `q − zp` shifted left and rescaled, the
    /// term [`add`](Self::add) sums.
    #[inline]
    pub fn rescale_a(&self, q: i8) -> i32 {
        self.a
            .apply((q as i32 - self.a_zero_point) << Self::LEFT_SHIFT)
    }

    /// The second input's value on the common scale.
    #[inline]
    pub fn rescale_b(&self, q: i8) -> i32 {
        self.b
            .apply((q as i32 - self.b_zero_point) << Self::LEFT_SHIFT)
    }

    /// Both inputs' rescaled values for every int8 value, as a format 4 blob stores them:
    /// `[rescale_a(q) for q in -128..=127]`, then `rescale_b`'s.
    pub fn rescale_tables(&self) -> [i32; 512] {
        let mut tables = [0; 512];
        let (a, b) = tables.split_at_mut(256);
        for (k, (a, b)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
            let q = (k as i32 - 128) as i8;
            *a = self.rescale_a(q);
            *b = self.rescale_b(q);
        }
        tables
    }
}

/// A residual add's rescale tables, read in place from a format 4 blob and checked entry by
/// entry against the add's own arithmetic, so that adding through them gives exactly
/// [`AddQuant::add`]: `a[q + 128] = rescale_a(q)`, `b[q + 128] = rescale_b(q)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddTables<'a> {
    a: &'a [i32; 256],
    b: &'a [i32; 256],
}

impl<'a> AddTables<'a> {
    /// Checks `words` ([`I8_ADD_TABLE_WORDS`](crate::blob::I8_ADD_TABLE_WORDS) of them) against
    /// `quant`: every entry must be the value `quant` gives.
    pub fn new(words: &'a [i32], quant: &AddQuant) -> Result<Self, Error> {
        let tables = Self::trusted(words)?;
        for (k, (&ta, &tb)) in tables.a.iter().zip(tables.b).enumerate() {
            let q = (k as i32 - 128) as i8;
            if ta != quant.rescale_a(q) || tb != quant.rescale_b(q) {
                return Err(Error::BadAddTable);
            }
        }
        Ok(tables)
    }

    /// The tables of a blob whose values [`new`](Self::new) has checked already (only the
    /// length is checked here).
    pub(crate) fn trusted(words: &'a [i32]) -> Result<Self, Error> {
        let (a, b) = words.split_at_checked(256).ok_or(Error::BadOffset)?;
        let a: &[i32; 256] = a.try_into().map_err(|_| Error::BadOffset)?;
        let b: &[i32; 256] = b.try_into().map_err(|_| Error::BadOffset)?;
        Ok(Self { a, b })
    }
}

/// [`residual_add_i8`] through the add's rescale tables: two reads from flash instead of two
/// requantizations an element, the same values.
pub fn residual_add_i8_tables(
    acc: &mut [i8],
    skip: &[i8],
    quant: &AddQuant,
    tables: &AddTables<'_>,
) -> Result<(), Error> {
    quant.check()?;
    if acc.len() != skip.len() {
        return Err(Error::ShapeMismatch);
    }
    let Requant { multiplier, shift } = quant.out;
    for (a, &b) in acc.iter_mut().zip(skip) {
        // q + 128 as a byte: below 256, so the table reads need no bounds check.
        let at = |q: i8| usize::from(q as u8 ^ 0x80);
        let read = |table: &[i32; 256], q| table.get(at(q)).copied().unwrap_or(0);
        let sum = read(tables.a, *a).wrapping_add(read(tables.b, b));
        // `check` passed: the checked form gives what `Requant::apply` gives.
        let out = crate::quant::requantize_checked(sum, multiplier, shift);
        *a = clamp_i8(
            out.wrapping_add(quant.out_zero_point),
            quant.act_min,
            quant.act_max,
        );
    }
    Ok(())
}

/// `acc[n] = acc[n] ⊕ skip[n]` over two packed int8 maps of the same shape.
pub fn residual_add_i8(acc: &mut [i8], skip: &[i8], quant: &AddQuant) -> Result<(), Error> {
    quant.check()?;
    if acc.len() != skip.len() {
        return Err(Error::ShapeMismatch);
    }
    for (a, &b) in acc.iter_mut().zip(skip) {
        *a = quant.add(*a, b);
    }
    Ok(())
}

/// The logistic function `1 / (1 + e^−x)`, with libm's `expf` so that every target gives the
/// same bits.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + libm::expf(-x))
}

/// Probabilities from float logits: `probs[n] = sigmoid(logits[n])`.
pub fn sigmoid_map_f32(logits: &[f32], probs: &mut [f32]) -> Result<(), Error> {
    let probs = probs
        .get_mut(..logits.len())
        .ok_or(Error::too_small(Buffer::Probs, logits.len()))?;
    for (p, &x) in probs.iter_mut().zip(logits) {
        *p = sigmoid(x);
    }
    Ok(())
}

/// Probabilities from int8 logits with `scale` and `zero_point`.
pub fn sigmoid_map_i8(
    logits: &[i8],
    scale: f32,
    zero_point: i32,
    probs: &mut [f32],
) -> Result<(), Error> {
    check_zero_point(zero_point)?;
    let probs = probs
        .get_mut(..logits.len())
        .ok_or(Error::too_small(Buffer::Probs, logits.len()))?;
    for (p, &q) in probs.iter_mut().zip(logits) {
        *p = sigmoid(dequantize(q, scale, zero_point));
    }
    Ok(())
}

/// Checks a pooling input: a symmetric map and one output per channel.
fn check_pool<T: Copy, const L: usize>(
    map: &TriMap<'_, T, L>,
    out_len: usize,
) -> Result<(), Error> {
    if !map
        .involution()
        .same_as(&Involution::Identity, map.channels())
    {
        return Err(Error::InvolutionMismatch);
    }
    if out_len < map.channels() {
        return Err(Error::too_small(Buffer::Output, map.channels()));
    }
    Ok(())
}

/// Calls `visit(c, value, weight)` for every active pair, with weight 1 on the diagonal and
/// 2 off it (each off-diagonal entry stands for itself and its mirror).
fn for_each_active<T: Copy, const L: usize>(
    map: &TriMap<'_, T, L>,
    mut visit: impl FnMut(usize, T, u32),
) {
    for i in 0..map.len() {
        for j in i..map.len() {
            let weight = if i == j { 1 } else { 2 };
            for c in 0..map.channels() {
                if let Some(value) = map.get(i, j, c) {
                    visit(c, value, weight);
                }
            }
        }
    }
}

/// Max over the whole active `len×len` map, one value per channel.
pub fn pool_max_f32<const L: usize>(
    map: &TriMap<'_, f32, L>,
    out: &mut [f32],
) -> Result<(), Error> {
    check_pool(map, out.len())?;
    let out = out
        .get_mut(..map.channels())
        .ok_or(Error::too_small(Buffer::Output, map.channels()))?;
    out.fill(f32::NEG_INFINITY);
    for_each_active(map, |c, x, _| {
        if let Some(m) = out.get_mut(c) {
            *m = m.max(x);
        }
    });
    Ok(())
}

/// Mean over the whole active `len×len` map (off-diagonal entries count twice), one value per
/// channel.
pub fn pool_avg_f32<const L: usize>(
    map: &TriMap<'_, f32, L>,
    out: &mut [f32],
) -> Result<(), Error> {
    check_pool(map, out.len())?;
    let out = out
        .get_mut(..map.channels())
        .ok_or(Error::too_small(Buffer::Output, map.channels()))?;
    out.fill(0.0);
    for_each_active(map, |c, x, weight| {
        if let Some(s) = out.get_mut(c) {
            *s += weight as f32 * x;
        }
    });
    let count = (map.len() * map.len()) as f32;
    for s in out.iter_mut() {
        *s /= count;
    }
    Ok(())
}

/// Max over the whole active map of an int8 map (output keeps the input's quantization).
pub fn pool_max_i8<const L: usize>(map: &TriMap<'_, i8, L>, out: &mut [i8]) -> Result<(), Error> {
    check_pool(map, out.len())?;
    let out = out
        .get_mut(..map.channels())
        .ok_or(Error::too_small(Buffer::Output, map.channels()))?;
    out.fill(i8::MIN);
    for_each_active(map, |c, x, _| {
        if let Some(m) = out.get_mut(c) {
            *m = (*m).max(x);
        }
    });
    Ok(())
}

/// Mean over the whole active map of an int8 map, off-diagonal entries counted twice, rounded
/// half away from zero as TFLite's average pool does (output keeps the input's quantization).
pub fn pool_avg_i8<const L: usize>(map: &TriMap<'_, i8, L>, out: &mut [i8]) -> Result<(), Error> {
    check_pool(map, out.len())?;
    let channels = map.channels();
    let out = out
        .get_mut(..channels)
        .ok_or(Error::too_small(Buffer::Output, channels))?;
    // One pass per channel keeps the int64 sum in a register: no scratch buffer needed.
    for (c, slot) in out.iter_mut().enumerate() {
        let mut sum: i64 = 0;
        for i in 0..map.len() {
            for j in i..map.len() {
                let weight = if i == j { 1 } else { 2 };
                sum += weight * map.get(i, j, c).map_or(0, i64::from);
            }
        }
        let count = ((map.len() * map.len()) as i64).max(1);
        let half = count / 2;
        let mean = if sum >= 0 {
            (sum + half) / count
        } else {
            (sum - half) / count
        };
        *slot = clamp_i8(mean as i32, i8::MIN, i8::MAX);
    }
    Ok(())
}
