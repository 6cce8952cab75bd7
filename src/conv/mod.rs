//! The symmetric convolution: one layer type for both of the paper's layers.
//!
//! A layer computes, for `i <= j` only,
//!
//! ```text
//! Y[i][j][o] = bias[o] + Σ_c Σ_{u,v} W[o][c][u][v] · X[i + d(u−r)][j + d(v−r)][c]
//! ```
//!
//! with kernel size `k = 2r + 1`, dilation `d`, stride 1 and 'same' zero padding. Its input obeys
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
use crate::Error;

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
    /// Fills `patch` for output pair `(i, j)` exactly as the generic gather would, but only
    /// when the source has a faster way for this pair; returns whether it did. Packed maps
    /// answer for interior pairs, whose window neither leaves the map nor crosses the diagonal.
    #[inline]
    fn gather_fast(
        &self,
        geom: &ConvGeom<'_>,
        i: usize,
        j: usize,
        patch: &mut [Self::Sample],
    ) -> bool {
        let _ = (geom, i, j, patch);
        false
    }
}

/// Fills `patch` for output pair `(i, j)` of a map whose involution is the identity: `data`
/// holds `channels` values a pair, the pair `(a, b)`, `a <= b`, starting at `pair_offset(a,
/// b)`, for an active length `len`; `value` centres one stored value. Same order and values as
/// [`gather`].
///
/// Where a tap lands (a pair index, mirrored or not, or padding) is worked out once per tap
/// rather than once per tap and channel; then each pre-added tap runs along the channels,
/// which are contiguous in the map, writing with a stride of `tri_len(k)` (the patch is
/// channel-major).
#[inline]
pub(crate) fn gather_identity<T: Copy, S: Sample>(
    data: &[T],
    pair_offset: impl Fn(usize, usize) -> usize,
    geom: &ConvGeom<'_>,
    (i, j): (usize, usize),
    len: usize,
    patch: &mut [S],
    value: impl Fn(T) -> S,
) {
    let (k, d, ch) = (geom.kernel, geom.dilation, geom.in_channels);
    let rows = taps(i, k, d, len);
    let cols = taps(j, k, d, len);
    // Offset of channel 0 of the pair tap (u, v) reads, or PADDING. u32 keeps the table
    // small on the stack (offsets index a map in RAM, far below 4 GiB).
    const PADDING: u32 = u32::MAX;
    let mut offsets = [[PADDING; MAX_KERNEL]; MAX_KERNEL];
    for (row, &a) in offsets.iter_mut().zip(&rows) {
        for (slot, &b) in row.iter_mut().zip(&cols) {
            if let (Some(a), Some(b)) = (a, b) {
                // A window crossing the diagonal reads the mirrored pair (same channel).
                let (a, b) = if a <= b { (a, b) } else { (b, a) };
                *slot = u32::try_from(pair_offset(a, b)).unwrap_or(PADDING);
            }
        }
    }
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
            let slots = patch.iter_mut().skip(t).step_by(stride).take(ch);
            if u == v {
                if upper.is_empty() {
                    slots.for_each(|slot| *slot = S::ZERO);
                } else {
                    upper
                        .iter()
                        .zip(slots)
                        .for_each(|(&x, slot)| *slot = value(x));
                }
            } else {
                let lower = pixel(offsets.get(v).and_then(|r| r.get(u)).copied());
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
            t += 1;
        }
    }
}

/// Shape of a symmetric conv layer: channels, kernel size, dilation and input involution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConvGeom<'a> {
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    dilation: usize,
    involution: Involution<'a>,
    patch_len: usize,
}

impl<'a> ConvGeom<'a> {
    /// A layer reading `in_channels` with mirror rule `involution` and writing `out_channels`.
    ///
    /// `kernel` must be 1, 3, 5 or 7 and `dilation` 1, 2 or 4.
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
        if !matches!(dilation, 1 | 2 | 4) {
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
            involution,
            patch_len: fixed * tri_len(kernel) + pairs * kernel * kernel,
        })
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
    /// patch a kernel needs as scratch (at most [`crate::plan::conv_scratch_len`]).
    pub fn patch_len(&self) -> usize {
        self.patch_len
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
) {
    let k = geom.kernel;
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
    for c in 0..geom.in_channels {
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
    mut compute: impl FnMut(&mut [S::Sample], &mut [T]),
) -> Result<(), Error> {
    let out_channels = geom.out_channels();
    let mut rest = output
        .get_mut(..crate::tri::map_len(L, out_channels))
        .ok_or(Error::BufferTooSmall)?;
    for i in 0..L {
        let (row, tail) = rest
            .split_at_mut_checked((L - i) * out_channels)
            .ok_or(Error::BufferTooSmall)?;
        run_row::<S, T, L>(geom, input, i, scratch, row, masked, &mut compute)?;
        rest = tail;
    }
    Ok(())
}

/// Output row `i` of the triangle, pairs `(i, j)` for `j = i..L`, into `row` (`(L − i)·O`
/// values): the unit both the full-map and the row-streaming execution are made of.
fn run_row<S: PairSource, T: Copy, const L: usize>(
    geom: &ConvGeom<'_>,
    input: &S,
    i: usize,
    scratch: &mut [S::Sample],
    row: &mut [T],
    masked: T,
    compute: &mut impl FnMut(&mut [S::Sample], &mut [T]),
) -> Result<(), Error> {
    geom.check_source::<S, L>(input)?;
    let patch = scratch
        .get_mut(..geom.patch_len())
        .ok_or(Error::BufferTooSmall)?;
    let out_channels = geom.out_channels();
    let row = row
        .get_mut(..L.saturating_sub(i) * out_channels)
        .ok_or(Error::BufferTooSmall)?;
    let len = input.len();
    // out_channels > 0 (ConvGeom::new); max(1) keeps chunks_exact_mut visibly panic-free.
    for (j, out) in (i..L).zip(row.chunks_exact_mut(out_channels.max(1))) {
        if j >= len || i >= len {
            out.fill(masked);
            continue;
        }
        if !input.gather_fast(geom, i, j, patch) {
            gather(input, geom, i, j, patch);
        }
        compute(patch, out);
    }
    Ok(())
}
