//! The symmetric convolution: one layer type for both of the paper's layers.
//!
//! A layer computes, for `i <= j` only,
//!
//! ```text
//! Y[i][j][o] = bias[o] + Σ_c Σ_{u,v} W[o][c][u][v] · X[i + d(u−r)][j + d(v−r)][c]
//! ```
//!
//! with kernel size `k = 2r + 1`, dilation `d`, stride 1 and 'same' zero padding ('valid'
//! padding computes only the pairs whose window stays inside the map: output `(i, j)` is the
//! 'same' output at `(i + rd, j + rd)`, and the map shrinks by `2rd`). Its input obeys
//! `X[j][i][c] = X[i][j][π(c)]`; the output is symmetric when `W[o][π(c)] = W[o][c]ᵀ`, so only
//! one kernel per orbit of `π` is stored, packed per output channel in channel order:
//!
//! - `π(c) = c`: the upper triangle of the symmetric kernel, `(u, v)` for `u <= v`, row by
//!   row: `tri_len(k)` values;
//! - `c < π(c)`: the full `k×k` kernel of `c`, row-major (the kernel of `π(c)` is its transpose);
//! - `c > π(c)`: nothing.
//!
//! The kernels pre-add the two inputs that share a weight (`X(u,v) + X(v,u)` for a symmetric
//! kernel, `X(u,v,c) + X(v,u,π(c))` for a pair) and multiply once: a 3×3 symmetric kernel
//! takes 6 multiplies instead of 9.

mod dense;
#[cfg(all(feature = "dsp", target_arch = "arm"))]
mod dsp;
mod float;
mod int8;

pub use dense::DenseConvI8;
pub use float::ConvF32;
pub use int8::{ConvI8, OutputQuant, QuantMap};

use crate::involution::Involution;
use crate::tri::tri_len;
use crate::{Buffer, Error};

/// Largest supported kernel size.
pub const MAX_KERNEL: usize = 7;

/// One input value as a kernel consumes it: `f32` for the float path, `q − zero_point` as
/// `i16` for int8.
pub trait Sample: Copy {
    /// The padding value.
    const ZERO: Self;
    /// Sum of two inputs that share a weight. Wraps instead of panicking.
    fn pre_add(self, other: Self) -> Self;
}

impl Sample for f32 {
    const ZERO: Self = 0.0;
    #[inline]
    fn pre_add(self, other: Self) -> Self {
        self + other
    }
}

impl Sample for i16 {
    const ZERO: Self = 0;
    #[inline]
    fn pre_add(self, other: Self) -> Self {
        self.wrapping_add(other)
    }
}

/// The order of the values in a pair's pre-added input patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PatchOrder {
    /// The packed weight order: channel by channel, each channel's taps (see the module
    /// docs). The portable kernel reads the weights as stored.
    Packed,
    /// Tap by tap, each tap's channels contiguous: `(u, v)`, `u <= v`, numbered `t` in
    /// packed order, of channel `c` at `t·C + c`. Identity involution only. The SMLAD kernel
    /// asks for it (and widens its weights to match) because the channels of a pair are
    /// contiguous in a packed map, so each tap is a straight copy.
    TapMajor,
}

/// Anything a symmetric conv can read: a packed map, or pair features built on the fly from
/// per-position features ([`crate::generate`]).
#[allow(clippy::len_without_is_empty)] // a source always has at least one position
pub trait PairSource {
    /// The value type the kernel consumes.
    type Sample: Sample;
    /// Channels per pair.
    fn channels(&self) -> usize;
    /// Active length: positions `>= len` are padding.
    fn len(&self) -> usize;
    /// The source's mirror rule.
    fn involution(&self) -> Involution<'_>;
    /// Value at `(i, j, c)`, `i, j < len` in either order, `c < channels`.
    fn at(&self, i: usize, j: usize, c: usize) -> Self::Sample;
    /// Fills `patch` for output pair `(i, j)` in `order` exactly as the generic gather
    /// would, but only when the source has a faster way for this pair; returns whether it
    /// did. Packed int8 maps with the identity involution answer for every pair.
    #[inline]
    fn gather_fast(
        &self,
        geom: &ConvGeom<'_>,
        i: usize,
        j: usize,
        patch: &mut [Self::Sample],
        order: PatchOrder,
    ) -> bool {
        let _ = (geom, i, j, patch, order);
        false
    }
}

/// Fills `patch` for output pair `(i, j)` of a map whose involution is the identity: `data`
/// holds `channels` values a pair, the pair `(a, b)`, `a <= b`, starting at `pair_offset(a,
/// b)`, for an active length `len`; `value` centres one stored value. Same values as
/// [`gather`], in `order`.
///
/// Where a tap lands (a pair index, mirrored or not, or padding) is worked out once per tap
/// rather than once per tap and channel; then each pre-added tap runs along the channels,
/// which are contiguous in the map, writing contiguously ([`PatchOrder::TapMajor`]) or with
/// a stride of `tri_len(k)` ([`PatchOrder::Packed`]). A packed row must be contiguous:
/// `pair_offset(a, b + 1) = pair_offset(a, b) + channels`.
///
/// Interior pairs, whose window neither leaves the active map nor crosses the diagonal, take
/// a shorter way in tap-major order: one offset per window row, every tap a fixed step from
/// it, no padding and no mirroring to check.
#[inline]
#[allow(clippy::too_many_arguments)] // one call per source type; a struct would only rename them
pub(crate) fn gather_identity<T: Copy, S: Sample>(
    data: &[T],
    pair_offset: impl Fn(usize, usize) -> usize,
    geom: &ConvGeom<'_>,
    (i, j): (usize, usize),
    len: usize,
    patch: &mut [S],
    order: PatchOrder,
    value: impl Fn(T) -> S,
) {
    let (k, ch) = (geom.kernel, geom.in_channels);
    if order == PatchOrder::TapMajor && interior(geom, (i, j), len) {
        gather_interior(data, pair_offset, geom, (i, j), patch, value);
        return;
    }
    let offsets = tap_offsets(&pair_offset, geom, (i, j), len);
    let pixel = |at: Option<u32>| {
        at.filter(|&at| at != PADDING)
            .and_then(|at| data.get(at as usize..at as usize + ch))
            .unwrap_or(&[])
    };
    // At least 1 (tri_len(k) for k >= 1); max(1) lets the optimizer see step_by cannot panic.
    let stride = tri_len(k).max(1);
    let mut t = 0;
    for u in 0..k {
        let row_u = offsets.get(u).copied().unwrap_or([PADDING; MAX_KERNEL]);
        for v in u..k {
            let upper = pixel(row_u.get(v).copied());
            let lower = if u == v {
                &[]
            } else {
                pixel(offsets.get(v).and_then(|r| r.get(u)).copied())
            };
            match order {
                PatchOrder::TapMajor => {
                    let slots = patch.get_mut(t * ch..).unwrap_or(&mut []);
                    fill_tap(upper, lower, slots.iter_mut().take(ch), &value);
                }
                PatchOrder::Packed => {
                    let slots = patch.iter_mut().skip(t).step_by(stride).take(ch);
                    fill_tap(upper, lower, slots, &value);
                }
            }
            t += 1;
        }
    }
}

/// Marks a tap of [`tap_offsets`] that reads padding.
const PADDING: u32 = u32::MAX;

/// For output pair `(i, j)` of an identity-involution map, the offset of channel 0 of the pair
/// each tap `(u, v)` reads, or [`PADDING`]: a window crossing the diagonal reads the mirrored
/// pair. u32 keeps the table small on the stack (offsets index a map in RAM, far below 4 GiB).
#[inline(always)]
fn tap_offsets(
    pair_offset: &impl Fn(usize, usize) -> usize,
    geom: &ConvGeom<'_>,
    (i, j): (usize, usize),
    len: usize,
) -> [[u32; MAX_KERNEL]; MAX_KERNEL] {
    let (k, d) = (geom.kernel, geom.dilation);
    let rows = taps(i, k, d, len);
    let cols = taps(j, k, d, len);
    let mut offsets = [[PADDING; MAX_KERNEL]; MAX_KERNEL];
    for (row, &a) in offsets.iter_mut().zip(&rows) {
        for (slot, &b) in row.iter_mut().zip(&cols) {
            if let (Some(a), Some(b)) = (a, b) {
                let (a, b) = if a <= b { (a, b) } else { (b, a) };
                *slot = u32::try_from(pair_offset(a, b)).unwrap_or(PADDING);
            }
        }
    }
    offsets
}

/// Whether output pair `(i, j)`'s window stays inside the active map (`len` positions) and
/// above the diagonal: then every tap reads a stored pair, unmirrored.
#[inline(always)]
fn interior(geom: &ConvGeom<'_>, (i, j): (usize, usize), len: usize) -> bool {
    let reach = geom.dilation * (geom.kernel / 2);
    i >= reach && i + 2 * reach <= j && j + reach < len
}

/// [`gather_identity`] for a packed int8 map read as `q − zero_point`. On cores with the DSP
/// extension, interior pairs in tap-major order with channels in fours take
/// [`dsp::gather_interior_i8`], four channels an instruction; the rest, and every other
/// build, the generic gather. The same values either way.
// Out of line with SMLAD: its tap tables then live in its own frame, only while it runs,
// instead of adding to the frame of the row loop that calls it (and to the firmware's peak
// stack). The portable build keeps the generic gather inlined, as it was.
#[cfg_attr(all(feature = "dsp", target_arch = "arm"), inline(never))]
#[cfg_attr(not(all(feature = "dsp", target_arch = "arm")), inline)]
#[allow(clippy::too_many_arguments)] // gather_identity's, with the zero point for `value`
pub(crate) fn gather_identity_i8(
    data: &[i8],
    pair_offset: impl Fn(usize, usize) -> usize,
    geom: &ConvGeom<'_>,
    (i, j): (usize, usize),
    len: usize,
    patch: &mut [i16],
    order: PatchOrder,
    zero_point: i32,
) {
    #[cfg(all(feature = "dsp", target_arch = "arm"))]
    if order == PatchOrder::TapMajor {
        let (k, d, ch) = (geom.kernel, geom.dilation, geom.in_channels);
        let done = if interior(geom, (i, j), len) {
            let reach = d * (k / 2);
            let mut row = [0usize; MAX_KERNEL];
            for (u, slot) in row.iter_mut().enumerate().take(k) {
                *slot = pair_offset(i + d * u - reach, j - reach);
            }
            dsp::gather_interior_i8(data, &row, k, d * ch, ch, zero_point, patch)
        } else {
            let offsets = tap_offsets(&pair_offset, geom, (i, j), len);
            dsp::gather_taps_i8(data, &offsets, k, ch, zero_point, patch)
        };
        if done {
            return;
        }
    }
    let zero_point = zero_point as i16;
    gather_identity(data, pair_offset, geom, (i, j), len, patch, order, |q| {
        q as i16 - zero_point
    });
}

/// [`gather_identity`] for an interior pair in tap-major order: window rows `a_u = i + d(u −
/// r)`, columns `b_v = j + d(v − r)`, all active, `a_u <= b_0`.
#[inline(always)]
fn gather_interior<T: Copy, S: Sample>(
    data: &[T],
    pair_offset: impl Fn(usize, usize) -> usize,
    geom: &ConvGeom<'_>,
    (i, j): (usize, usize),
    patch: &mut [S],
    value: impl Fn(T) -> S,
) {
    let (k, d, ch) = (geom.kernel, geom.dilation, geom.in_channels);
    let reach = d * (k / 2);
    // Offset of (a_u, b_0); tap (u, v) then reads (a_u, b_v) at row[u] + v·d·ch.
    let mut row = [0usize; MAX_KERNEL];
    for (u, slot) in row.iter_mut().enumerate().take(k) {
        *slot = pair_offset(i + d * u - reach, j - reach);
    }
    let step = d * ch;
    let mut slots = patch.chunks_exact_mut(ch.max(1));
    for u in 0..k {
        let row_u = row.get(u).copied().unwrap_or(0);
        for v in u..k {
            let Some(dst) = slots.next() else {
                return;
            };
            let upper = data.get(row_u + v * step..).unwrap_or(&[]);
            if u == v {
                for (slot, &x) in dst.iter_mut().zip(upper) {
                    *slot = value(x);
                }
            } else {
                // The mirrored tap (v, u) reads (a_v, b_u): still above the diagonal.
                let row_v = row.get(v).copied().unwrap_or(0);
                let lower = data.get(row_v + u * step..).unwrap_or(&[]);
                for ((slot, &x), &y) in dst.iter_mut().zip(upper).zip(lower) {
                    *slot = value(x).pre_add(value(y));
                }
            }
        }
    }
}

/// One tap of [`gather_identity`]: the pre-added `upper` and `lower` channels (either may be
/// empty: padding, or the diagonal tap's missing partner) into `slots`.
#[inline(always)]
fn fill_tap<'p, T: Copy, S: Sample + 'p>(
    upper: &[T],
    lower: &[T],
    slots: impl Iterator<Item = &'p mut S>,
    value: &impl Fn(T) -> S,
) {
    match (upper.is_empty(), lower.is_empty()) {
        (false, false) => upper
            .iter()
            .zip(lower)
            .zip(slots)
            .for_each(|((&x, &y), slot)| *slot = value(x).pre_add(value(y))),
        (false, true) => upper
            .iter()
            .zip(slots)
            .for_each(|(&x, slot)| *slot = value(x)),
        (true, false) => lower
            .iter()
            .zip(slots)
            .for_each(|(&y, slot)| *slot = value(y)),
        (true, true) => slots.for_each(|slot| *slot = S::ZERO),
    }
}

/// How a conv treats the map's border.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Padding {
    /// Zeros outside the map; the output is as large as the input.
    #[default]
    Same,
    /// Only windows inside the map; the output is `(k − 1)·d` shorter (SCosRec's 3×3 convs).
    Valid,
}

/// Shape of a symmetric conv layer: channels, kernel size, dilation, padding and input
/// involution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConvGeom<'a> {
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    dilation: usize,
    padding: Padding,
    involution: Involution<'a>,
    patch_len: usize,
}

impl<'a> ConvGeom<'a> {
    /// A layer reading `in_channels` with mirror rule `involution` and writing `out_channels`.
    ///
    /// `kernel` must be 1, 3, 5 or 7 and `dilation` in `1..=16`.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        dilation: usize,
        involution: Involution<'a>,
    ) -> Result<Self, Error> {
        if !matches!(kernel, 1 | 3 | 5 | 7) {
            return Err(Error::UnsupportedKernelSize);
        }
        if dilation == 0 || dilation > crate::blob::MAX_DILATION {
            return Err(Error::UnsupportedDilation);
        }
        for channels in [in_channels, out_channels] {
            if channels == 0 || channels > crate::MAX_CHANNELS {
                return Err(Error::BadChannelCount);
            }
        }
        involution.check(in_channels)?;
        let (fixed, pairs) = involution.counts(in_channels);
        Ok(Self {
            in_channels,
            out_channels,
            kernel,
            dilation,
            padding: Padding::Same,
            involution,
            patch_len: fixed * tri_len(kernel) + pairs * kernel * kernel,
        })
    }

    /// The same layer with `padding`.
    pub fn with_padding(self, padding: Padding) -> Self {
        Self { padding, ..self }
    }

    /// The border rule.
    pub fn padding(&self) -> Padding {
        self.padding
    }

    /// How much shorter the output is than the input: `(k − 1)·d` with valid padding, else 0.
    pub fn shrink(&self) -> usize {
        match self.padding {
            Padding::Same => 0,
            Padding::Valid => (self.kernel - 1) * self.dilation,
        }
    }

    /// The output's active length for an input of `len` positions; valid padding needs more
    /// than [`shrink`](Self::shrink) of them.
    pub fn output_len(&self, len: usize) -> Result<usize, Error> {
        len.checked_sub(self.shrink())
            .filter(|&n| n > 0)
            .ok_or(Error::SequenceTooShort)
    }

    /// Input channels.
    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// Kernel size `k`.
    pub fn kernel(&self) -> usize {
        self.kernel
    }

    /// Dilation `d`.
    pub fn dilation(&self) -> usize {
        self.dilation
    }

    /// The input's mirror rule.
    pub fn involution(&self) -> Involution<'a> {
        self.involution
    }

    /// Packed weights per output channel, which is also the length of the pre-added input
    /// patch (at most [`crate::plan::conv_scratch_len`]): all the scratch a float conv
    /// needs; an int8 conv needs [`scratch_len_i8`](Self::scratch_len_i8).
    pub fn patch_len(&self) -> usize {
        self.patch_len
    }

    /// Scratch values the int8 conv of this shape needs: the patch and the weights widened
    /// for the SMLAD kernel ([`crate::plan::conv_i8_scratch_len_for`]).
    pub fn scratch_len_i8(&self) -> usize {
        crate::plan::conv_i8_scratch_len_for(self.patch_len, self.out_channels)
    }

    /// Packed weights of the whole layer.
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.patch_len
    }

    /// Weights of the same layer with dense `k×k` kernels.
    pub fn dense_weight_len(&self) -> usize {
        self.out_channels * self.in_channels * self.kernel * self.kernel
    }

    /// Checks that `source` matches the layer and `len <= L`.
    fn check_source<S: PairSource, const L: usize>(&self, source: &S) -> Result<(), Error> {
        if source.channels() != self.in_channels {
            return Err(Error::ChannelMismatch);
        }
        if !source
            .involution()
            .same_as(&self.involution, self.in_channels)
        {
            return Err(Error::InvolutionMismatch);
        }
        if source.len() == 0 {
            return Err(Error::EmptySequence);
        }
        if source.len() > L {
            return Err(Error::SequenceTooLong);
        }
        Ok(())
    }
}

/// Positions read by kernel taps `0..k` around `center`, `None` for padding.
#[inline]
fn taps(center: usize, kernel: usize, dilation: usize, len: usize) -> [Option<usize>; MAX_KERNEL] {
    let mut out = [None; MAX_KERNEL];
    let radius = kernel / 2;
    for (t, slot) in out.iter_mut().enumerate().take(kernel) {
        // center + d·(t − r), computed without going below zero.
        let forward = dilation * t;
        let back = dilation * radius;
        let position = (center + forward).checked_sub(back);
        *slot = position.filter(|&p| p < len);
    }
    out
}

/// Fills `patch` with the pre-added inputs of output pair `(i, j)`, in packed weight order.
///
/// `patch` must hold `geom.patch_len()` values; extra values are left untouched.
#[inline]
fn gather<S: PairSource>(
    source: &S,
    geom: &ConvGeom<'_>,
    i: usize,
    j: usize,
    patch: &mut [S::Sample],
    order: PatchOrder,
) {
    let k = geom.kernel;
    let channels = geom.in_channels;
    let len = source.len();
    let rows = taps(i, k, geom.dilation, len);
    let cols = taps(j, k, geom.dilation, len);
    // Tap `u` of the rows and `v` of the columns; `k <= MAX_KERNEL` makes `get` always hit.
    let read = |u: usize, v: usize, c: usize| match (
        rows.get(u).copied().flatten(),
        cols.get(v).copied().flatten(),
    ) {
        (Some(a), Some(b)) => source.at(a, b, c),
        _ => S::Sample::ZERO,
    };
    let mut slots = patch.iter_mut();
    if order == PatchOrder::TapMajor {
        // Identity involution only (the kernel asks for this order only then).
        for u in 0..k {
            for v in u..k {
                let tap = slots.by_ref().take(channels);
                for (c, slot) in tap.enumerate() {
                    let x = read(u, v, c);
                    *slot = if u == v { x } else { x.pre_add(read(v, u, c)) };
                }
            }
        }
        return;
    }
    for c in 0..channels {
        let p = geom.involution.partner(c);
        if p == c {
            for u in 0..k {
                for v in u..k {
                    let x = read(u, v, c);
                    let value = if u == v { x } else { x.pre_add(read(v, u, c)) };
                    if let Some(slot) = slots.next() {
                        *slot = value;
                    }
                }
            }
        } else if c < p {
            for u in 0..k {
                for v in 0..k {
                    let value = read(u, v, c).pre_add(read(v, u, p));
                    if let Some(slot) = slots.next() {
                        *slot = value;
                    }
                }
            }
        }
    }
}

/// Drives a kernel over the output triangle: checks the source and the buffers, writes
/// `masked` to the pairs outside the input's active length, and for every active pair `i <= j`
/// gathers its pre-added patch and hands it to `compute` with the pair's output channels.
fn run_triangle<S: PairSource, T: Copy, const L: usize>(
    geom: &ConvGeom<'_>,
    input: &S,
    scratch: &mut [S::Sample],
    output: &mut [T],
    masked: T,
    order: PatchOrder,
    mut compute: impl FnMut(&[S::Sample], &mut [T]),
) -> Result<(), Error> {
    let out_channels = geom.out_channels();
    let map_len = crate::tri::map_len(L, out_channels);
    let too_small = Error::too_small(Buffer::Map, map_len);
    let mut rest = output.get_mut(..map_len).ok_or(too_small)?;
    for i in 0..L {
        let (row, tail) = rest
            .split_at_mut_checked((L - i) * out_channels)
            .ok_or(too_small)?;
        run_row::<S, T, L>(geom, input, i, scratch, row, masked, order, &mut compute)?;
        rest = tail;
    }
    Ok(())
}

/// Output row `i` of the triangle, pairs `(i, j)` for `j = i..L`, into `row` (`(L − i)·O`
/// values): the unit both the full-map and the row-streaming execution are made of.
#[allow(clippy::too_many_arguments)] // private; the callers pass their layer's parts through
fn run_row<S: PairSource, T: Copy, const L: usize>(
    geom: &ConvGeom<'_>,
    input: &S,
    i: usize,
    scratch: &mut [S::Sample],
    row: &mut [T],
    masked: T,
    order: PatchOrder,
    compute: &mut impl FnMut(&[S::Sample], &mut [T]),
) -> Result<(), Error> {
    geom.check_source::<S, L>(input)?;
    let patch = scratch
        .get_mut(..geom.patch_len())
        .ok_or(Error::too_small(Buffer::Scratch, geom.patch_len()))?;
    let out_channels = geom.out_channels();
    let row_len = L.saturating_sub(i) * out_channels;
    let row = row
        .get_mut(..row_len)
        .ok_or(Error::too_small(Buffer::Map, row_len))?;
    let len = geom.output_len(input.len())?;
    // Valid padding: output (i, j) is the window centred on (i + rd, j + rd).
    let offset = geom.shrink() / 2;
    // out_channels > 0 (ConvGeom::new); max(1) keeps chunks_exact_mut visibly panic-free.
    for (j, out) in (i..L).zip(row.chunks_exact_mut(out_channels.max(1))) {
        if j >= len || i >= len {
            out.fill(masked);
            continue;
        }
        let (a, b) = (i + offset, j + offset);
        if !input.gather_fast(geom, a, b, patch, order) {
            gather(input, geom, a, b, patch, order);
        }
        compute(patch, out);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // a test's failures are panics
mod tests {
    //! The patch orders on the host: the SMLAD kernel's tap-major patches only ever run on
    //! Arm, so their gathers are checked here against the packed order the portable kernel
    //! reads (the on-target tests then check whole layers).
    use super::*;
    use crate::tri::{map_len, TriMap};
    use crate::QuantMap;

    const L: usize = 13;

    #[test]
    fn tap_major_patches_are_the_packed_patches_transposed() {
        let mut state = 0x2545_f491_u32;
        let mut data = [0i8; map_len(L, 5)];
        for q in data.iter_mut() {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            *q = (state >> 24) as i8;
        }
        let mut interior = 0;
        for (channels, kernel, dilation, len) in [
            (5, 3, 1, 13),
            (3, 5, 1, 12),
            (4, 3, 2, 13),
            (2, 7, 1, 9),
            (1, 1, 1, 4),
        ] {
            let geom = ConvGeom::new(channels, 2, kernel, dilation, Involution::Identity).unwrap();
            let map = TriMap::<i8, L>::new(&data[..map_len(L, channels)], channels, len).unwrap();
            let source = QuantMap::new(map, -9).unwrap();
            let (taps, n) = (tri_len(kernel), geom.patch_len());
            let reach = dilation * (kernel / 2);
            for i in 0..len {
                for j in i..len {
                    let mut packed = [0i16; 5 * 28];
                    let mut tap_major = [0i16; 5 * 28];
                    let mut fast = [0i16; 5 * 28];
                    gather(&source, &geom, i, j, &mut packed[..n], PatchOrder::Packed);
                    gather(
                        &source,
                        &geom,
                        i,
                        j,
                        &mut tap_major[..n],
                        PatchOrder::TapMajor,
                    );
                    for t in 0..taps {
                        for c in 0..channels {
                            assert_eq!(tap_major[t * channels + c], packed[c * taps + t]);
                        }
                    }
                    assert!(source.gather_fast(&geom, i, j, &mut fast[..n], PatchOrder::TapMajor));
                    assert_eq!(fast[..n], tap_major[..n], "tap-major ({i}, {j})");
                    assert!(source.gather_fast(&geom, i, j, &mut fast[..n], PatchOrder::Packed));
                    assert_eq!(fast[..n], packed[..n], "packed ({i}, {j})");
                    if i >= reach && i + 2 * reach <= j && j + reach < len {
                        interior += 1;
                    }
                }
            }
        }
        // The interior shortcut was taken, not only the band path.
        assert!(interior > 50, "{interior} interior pairs");
    }

    #[test]
    fn generated_pair_features_take_the_short_way_for_1x1_kernels() {
        use crate::generate::PairFeaturesI8;
        use crate::involution::Segment;
        use crate::quant::Requant;
        let mut state = 0x9e37_79b9_u32;
        let mut features = [0i8; L * 4];
        for q in features.iter_mut() {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            *q = (state >> 24) as i8;
        }
        // A product factor large enough that some products clamp at ±127.
        let product = Requant {
            multiplier: 1 << 30,
            shift: -4,
        };
        for (dim, layout) in [
            (4, &[Segment::SwapHalves(4), Segment::Transpose(4)][..]),
            (3, &[Segment::Transpose(3)][..]),
            (2, &[Segment::SwapHalves(2)][..]),
            (1, &[Segment::Transpose(1), Segment::SwapHalves(1)][..]),
        ] {
            let len = L - dim;
            let source =
                PairFeaturesI8::new(&features[..L * dim], dim, len, layout, (5, 9), product)
                    .unwrap();
            let involution = source.involution();
            let channels = source.channels();
            let geom = ConvGeom::new(channels, 3, 1, 1, involution).unwrap();
            let n = geom.patch_len();
            for i in 0..len {
                for j in i..len {
                    let (mut generic, mut fast) = ([0i16; 32], [0i16; 32]);
                    gather(&source, &geom, i, j, &mut generic[..n], PatchOrder::Packed);
                    assert!(source.gather_fast(&geom, i, j, &mut fast[..n], PatchOrder::Packed));
                    assert_eq!(fast[..n], generic[..n], "dim {dim}, pair ({i}, {j})");
                }
            }
            // Wider kernels keep the generic gather.
            let wide = ConvGeom::new(channels, 3, 3, 1, involution).unwrap();
            assert!(!source.gather_fast(&wide, 0, 1, &mut [0; 300], PatchOrder::Packed));
        }
    }
}
