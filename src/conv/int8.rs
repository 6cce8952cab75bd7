//! The int8 symmetric conv (TFLite quantization spec, CMSIS-NN requantization).
//!
//! This portable kernel is the reference every optimized int8 kernel must equal bit for bit.

use super::{gather_identity_i8, run_triangle, ConvGeom, PairSource, PatchOrder};
use crate::involution::Involution;
use crate::quant::{check_zero_point, clamp_i8, requantize, Requant};
use crate::tri::TriMap;
use crate::{Buffer, Error};

/// A packed int8 map with its zero point, read by a conv as `q − zero_point`.
#[derive(Clone, Copy, Debug)]
pub struct QuantMap<'a, const L: usize> {
    map: TriMap<'a, i8, L>,
    zero_point: i32,
}

impl<'a, const L: usize> QuantMap<'a, L> {
    /// Wraps a packed int8 map; `zero_point` must be in [-128, 127].
    pub fn new(map: TriMap<'a, i8, L>, zero_point: i32) -> Result<Self, Error> {
        check_zero_point(zero_point)?;
        Ok(Self { map, zero_point })
    }

    /// The packed map.
    pub fn map(&self) -> &TriMap<'a, i8, L> {
        &self.map
    }

    /// The zero point.
    pub fn zero_point(&self) -> i32 {
        self.zero_point
    }
}

impl<const L: usize> PairSource for QuantMap<'_, L> {
    type Sample = i16;

    fn channels(&self) -> usize {
        self.map.channels()
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn involution(&self) -> Involution<'_> {
        self.map.involution()
    }

    #[inline]
    fn at(&self, i: usize, j: usize, c: usize) -> i16 {
        // q − zp lies in [-255, 255]; padding is the zero point, i.e. 0 after centering.
        self.map
            .get(i, j, c)
            .map_or(0, |q| (q as i32 - self.zero_point) as i16)
    }

    #[inline]
    fn gather_fast(
        &self,
        geom: &ConvGeom<'_>,
        i: usize,
        j: usize,
        patch: &mut [i16],
        order: PatchOrder,
    ) -> bool {
        if !matches!(geom.involution(), Involution::Identity) {
            return false;
        }
        let (data, len, ch) = (self.map.as_slice(), self.map.len(), self.map.channels());
        let offset = |a, b| crate::tri::tri_index(L, a, b) * ch;
        gather_identity_i8(
            data,
            offset,
            geom,
            (i, j),
            len,
            patch,
            order,
            self.zero_point,
        );
        true
    }
}

/// Per-output-channel requantization of an int8 layer and its output range.
#[derive(Clone, Copy, Debug)]
pub struct OutputQuant<'a> {
    /// Q31 multipliers, one per output channel.
    pub multipliers: &'a [i32],
    /// Shifts, one per output channel (see [`Requant`]).
    pub shifts: &'a [i32],
    /// Zero point of the output.
    pub zero_point: i32,
    /// Lower clamp (the fused activation's range, see
    /// [`Activation::int8_range`](crate::Activation::int8_range)).
    pub act_min: i8,
    /// Upper clamp.
    pub act_max: i8,
}

impl OutputQuant<'_> {
    pub(crate) fn check(&self, out_channels: usize) -> Result<(), Error> {
        if self.multipliers.len() != out_channels || self.shifts.len() != out_channels {
            return Err(Error::QuantLength);
        }
        for (&multiplier, &shift) in self.multipliers.iter().zip(self.shifts) {
            Requant { multiplier, shift }.check()?;
        }
        check_zero_point(self.zero_point)?;
        if self.act_min > self.act_max {
            return Err(Error::BadQuantRange);
        }
        Ok(())
    }
}

/// An int8 symmetric conv layer: geometry, packed int8 weights (per-output-channel symmetric,
/// in [-127, 127]), int32 bias and output quantization.
#[derive(Clone, Copy, Debug)]
pub struct ConvI8<'a> {
    geom: ConvGeom<'a>,
    weights: &'a [i8],
    bias: &'a [i32],
    quant: OutputQuant<'a>,
}

impl<'a> ConvI8<'a> {
    /// Checks every length and range the kernel relies on.
    pub fn new(
        geom: ConvGeom<'a>,
        weights: &'a [i8],
        bias: &'a [i32],
        quant: OutputQuant<'a>,
    ) -> Result<Self, Error> {
        if weights.len() != geom.weight_len() {
            return Err(Error::WeightLength);
        }
        if weights.contains(&i8::MIN) {
            return Err(Error::WeightOutOfRange);
        }
        if bias.len() != geom.out_channels() {
            return Err(Error::BiasLength);
        }
        quant.check(geom.out_channels())?;
        Ok(Self {
            geom,
            weights,
            bias,
            quant,
        })
    }

    /// The layer of a model whose blob [`Model::from_bytes`](crate::Model::from_bytes) has
    /// checked with [`new`](Self::new) already: row streaming builds each layer again for
    /// every row, and the weights are not scanned again each time.
    pub(crate) fn trusted(
        geom: ConvGeom<'a>,
        weights: &'a [i8],
        bias: &'a [i32],
        quant: OutputQuant<'a>,
    ) -> Self {
        Self {
            geom,
            weights,
            bias,
            quant,
        }
    }

    /// The layer's geometry.
    pub fn geom(&self) -> &ConvGeom<'a> {
        &self.geom
    }

    /// The output quantization.
    pub fn quant(&self) -> &OutputQuant<'a> {
        &self.quant
    }

    /// Runs the layer over `input` into the packed `L`×`L` int8 map `output`
    /// ([`map_len`](crate::tri::map_len)`(L, out_channels)` values), using `scratch` (at least
    /// `geom().scratch_len_i8()` values: the patch, and the weights widened for the SMLAD
    /// kernel). Pairs outside the input's active length are written as the output zero point.
    ///
    /// Accumulation is int32 and wraps on overflow like the C kernels; a converter keeps
    /// biases in range so it never does.
    pub fn run<S: PairSource<Sample = i16>, const L: usize>(
        &self,
        input: &S,
        scratch: &mut [i16],
        output: &mut [i8],
    ) -> Result<(), Error> {
        self.run_with::<S, L>(input, scratch, output, true)
    }

    /// Output row `i` only (pairs `(i, j)`, `j = i..L`, `(L − i)·O` values) into `row`: the
    /// step of row-streaming execution. Same values as the row of [`run`](Self::run).
    pub fn run_row<S: PairSource<Sample = i16>, const L: usize>(
        &self,
        input: &S,
        i: usize,
        scratch: &mut [i16],
        row: &mut [i8],
    ) -> Result<(), Error> {
        let q = &self.quant;
        let masked = clamp_i8(q.zero_point, i8::MIN, i8::MAX);
        let (patch, kernel, order) = self.prepare(scratch, true)?;
        let mut compute =
            |patch: &[i16], out: &mut [i8]| kernel.dot_requant(self.bias, q, patch, out);
        super::run_row::<S, i8, L>(
            &self.geom,
            input,
            i,
            patch,
            row,
            masked,
            order,
            &mut compute,
        )
    }

    /// [`run`](Self::run) with the portable inner loop, whatever the build: the reference an
    /// optimized build is checked against.
    pub fn run_portable<S: PairSource<Sample = i16>, const L: usize>(
        &self,
        input: &S,
        scratch: &mut [i16],
        output: &mut [i8],
    ) -> Result<(), Error> {
        self.run_with::<S, L>(input, scratch, output, false)
    }

    fn prepare<'s>(
        &'s self,
        scratch: &'s mut [i16],
        fast: bool,
    ) -> Result<(&'s mut [i16], Kernel<'s>, PatchOrder), Error> {
        let geom = &self.geom;
        // Tap-major patches (contiguous copies from the map) wherever the order is ours to
        // choose: identity involution, and a kernel that widens its weights anyway.
        let tap_major = matches!(geom.involution(), Involution::Identity)
            .then(|| (crate::tri::tri_len(geom.kernel()), geom.in_channels()));
        Kernel::prepare(
            self.weights,
            (geom.patch_len(), geom.out_channels()),
            self.quant.shifts,
            scratch,
            fast,
            tap_major,
        )
    }

    fn run_with<S: PairSource<Sample = i16>, const L: usize>(
        &self,
        input: &S,
        scratch: &mut [i16],
        output: &mut [i8],
        fast: bool,
    ) -> Result<(), Error> {
        let q = &self.quant;
        let masked = clamp_i8(q.zero_point, i8::MIN, i8::MAX);
        let (patch, kernel, order) = self.prepare(scratch, fast)?;
        run_triangle::<S, i8, L>(
            &self.geom,
            input,
            patch,
            output,
            masked,
            order,
            |patch, out| kernel.dot_requant(self.bias, q, patch, out),
        )
    }
}

/// The weights of an int8 conv as its inner loop reads them.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kernel<'w> {
    /// Packed int8 rows, one per output channel: the portable loop.
    Portable(&'w [i8]),
    /// The same rows re-ordered tap by tap (and widened to int16) in scratch, for patches
    /// gathered tap-major: the portable loop of builds without SMLAD.
    #[cfg(not(all(feature = "dsp", target_arch = "arm")))]
    TapMajor(&'w [i16]),
    /// Widened to int16 in scratch for the SMLAD loop; `true` when every output channel's
    /// shift is a right shift, so requantization can leave out the left shift.
    #[cfg(all(feature = "dsp", target_arch = "arm"))]
    Smlad(super::dsp::WideWeights<'w>, bool),
}

impl<'w> Kernel<'w> {
    /// Splits `scratch` into the patch (`patch_len` values) and the rest, and picks the inner
    /// loop: SMLAD on weights widened into the rest when the build has it, `fast` is set and
    /// the layer [`widens`](crate::plan::widens) its weights, else the portable loop. Returns the patch order the kernel reads: `tap_major`
    /// (`(taps, channels)`, identity involution) is taken by the SMLAD kernel, which widens its
    /// weights in that order; the portable kernel reads [`PatchOrder::Packed`]. `scratch` must hold
    /// [`plan::conv_i8_scratch_len_for`](crate::plan::conv_i8_scratch_len_for) values in every
    /// build, so a buffer that fits on the host fits on the target.
    pub(crate) fn prepare(
        weights: &'w [i8],
        (patch_len, out_channels): (usize, usize),
        shifts: &[i32],
        scratch: &'w mut [i16],
        fast: bool,
        tap_major: Option<(usize, usize)>,
    ) -> Result<(&'w mut [i16], Self, PatchOrder), Error> {
        let needed = crate::plan::conv_i8_scratch_len_for(patch_len, out_channels);
        let too_small = Error::too_small(Buffer::Scratch, needed);
        if scratch.len() < needed {
            return Err(too_small);
        }
        let (patch, rest) = scratch.split_at_mut_checked(patch_len).ok_or(too_small)?;
        #[cfg(all(feature = "dsp", target_arch = "arm"))]
        if fast && crate::plan::widens(patch_len, out_channels) {
            let wide =
                super::dsp::WideWeights::new(weights, patch_len, out_channels, rest, tap_major)
                    .ok_or(too_small)?;
            let order = match tap_major {
                Some(_) => PatchOrder::TapMajor,
                None => PatchOrder::Packed,
            };
            let right_only = shifts.iter().all(|&shift| shift <= 0);
            return Ok((patch, Kernel::Smlad(wide, right_only), order));
        }
        // Without SMLAD, the weights are re-ordered tap-major into the same room, so that
        // patches can be gathered tap by tap (a straight copy per tap, and the interior
        // shortcut) instead of strided in packed order.
        #[cfg(not(all(feature = "dsp", target_arch = "arm")))]
        if let Some((taps, channels)) = tap_major.filter(|&(taps, channels)| {
            fast && crate::plan::widens(patch_len, out_channels)
                && taps * channels == patch_len
                && weights.len() >= patch_len * out_channels
        }) {
            let rows = rest.get_mut(..patch_len * out_channels).ok_or(too_small)?;
            for (row, packed) in rows
                .chunks_exact_mut(patch_len.max(1))
                .zip(weights.chunks_exact(patch_len.max(1)))
            {
                // Weight (c, t) of the packed row is patch value t·channels + c.
                for (c, kernel) in packed.chunks_exact(taps.max(1)).enumerate() {
                    for (t, &w) in kernel.iter().enumerate() {
                        if let Some(slot) = row.get_mut(t * channels + c) {
                            *slot = i16::from(w);
                        }
                    }
                }
            }
            return Ok((patch, Kernel::TapMajor(rows), PatchOrder::TapMajor));
        }
        let _ = (rest, fast, tap_major, shifts);
        Ok((patch, Kernel::Portable(weights), PatchOrder::Packed))
    }

    /// One output pixel from its patch: see [`dot_requant`].
    #[inline]
    pub(crate) fn dot_requant(
        &self,
        bias: &[i32],
        q: &OutputQuant<'_>,
        patch: &[i16],
        out: &mut [i8],
    ) {
        match self {
            Kernel::Portable(weights) => dot_requant(weights, bias, q, patch, out),
            #[cfg(not(all(feature = "dsp", target_arch = "arm")))]
            Kernel::TapMajor(weights) => dot_requant(weights, bias, q, patch, out),
            #[cfg(all(feature = "dsp", target_arch = "arm"))]
            Kernel::Smlad(wide, true) => super::dsp::dot_requant::<true>(wide, bias, q, patch, out),
            #[cfg(all(feature = "dsp", target_arch = "arm"))]
            Kernel::Smlad(wide, false) => {
                super::dsp::dot_requant::<false>(wide, bias, q, patch, out)
            }
        }
    }
}

/// One output pixel: for each output channel, the dot product of its weight row with the
/// patch, plus bias (wrapping, as the C kernels do), requantized and clamped.
///
/// Four channels at a time, so each patch value is loaded once for four weights; the sums
/// wrap, so their order does not change them.
#[inline]
pub(crate) fn dot_requant<W: Copy + Into<i32>>(
    weights: &[W],
    bias: &[i32],
    q: &OutputQuant<'_>,
    patch: &[i16],
    out: &mut [i8],
) {
    let n = patch.len().max(1);
    let channels = out
        .len()
        .min(bias.len())
        .min(q.multipliers.len())
        .min(q.shifts.len())
        .min(weights.len() / n);
    let finish = |acc: i32, o: usize| {
        let (Some(&multiplier), Some(&shift)) = (q.multipliers.get(o), q.shifts.get(o)) else {
            return q.zero_point as i8;
        };
        let value = requantize(acc, multiplier, shift).wrapping_add(q.zero_point);
        clamp_i8(value, q.act_min, q.act_max)
    };
    let four = channels / 4 * 4;
    let blocks = weights.chunks_exact(4 * n).take(four / 4);
    for (block, ((y, b), o)) in blocks.zip(
        out.chunks_exact_mut(4)
            .zip(bias.chunks_exact(4))
            .zip((0..).step_by(4)),
    ) {
        let mut rows = block.chunks_exact(n);
        let (Some(r0), Some(r1), Some(r2), Some(r3)) =
            (rows.next(), rows.next(), rows.next(), rows.next())
        else {
            return;
        };
        let mut acc = [0i32; 4];
        for (a, &b) in acc.iter_mut().zip(b) {
            *a = b;
        }
        let [mut a0, mut a1, mut a2, mut a3] = acc;
        for ((((&x, &w0), &w1), &w2), &w3) in patch.iter().zip(r0).zip(r1).zip(r2).zip(r3) {
            let x = x as i32;
            a0 = a0.wrapping_add(w0.into() * x);
            a1 = a1.wrapping_add(w1.into() * x);
            a2 = a2.wrapping_add(w2.into() * x);
            a3 = a3.wrapping_add(w3.into() * x);
        }
        for (k, (y, acc)) in y.iter_mut().zip([a0, a1, a2, a3]).enumerate() {
            *y = finish(acc, o + k);
        }
    }
    // The last channels, one at a time.
    let rows = weights
        .chunks_exact(n)
        .enumerate()
        .take(channels)
        .skip(four);
    for (o, w) in rows {
        let (Some(y), Some(&bias)) = (out.get_mut(o), bias.get(o)) else {
            return;
        };
        let acc = w
            .iter()
            .zip(patch.iter())
            .fold(bias, |acc, (&w, &x)| acc.wrapping_add(w.into() * x as i32));
        *y = finish(acc, o);
    }
}
