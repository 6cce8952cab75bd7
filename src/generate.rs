//! The symmetry-generating input: pair features built on the fly from per-position features.
//!
//! A conv over these sources never materializes the `L×L×C` pair tensor: each value is made
//! from the features of positions `i` and `j` when a kernel tap reads it. Layouts use the
//! [`Segment`]s that can be built from a `d`-dim feature `e`:
//! [`Segment::SwapHalves`]`(d)` for `[e_i ; e_j]` and [`Segment::Transpose`]`(d)` for
//! `e_i ⊗ e_j`, in any order and number, and [`Segment::Separation`]`(n)` for the one-hot bin
//! of the sequence separation `|i − j|` ([`separation_bin`]).

use crate::conv::{ConvGeom, PairSource, PatchOrder};
use crate::involution::{Involution, Segment};
use crate::quant::{check_zero_point, clamp_i8, Requant};
use crate::{Buffer, Error};

/// The bin of the sequence separation `distance = |i − j|` among `bins`: distances 0–3 a
/// bin each, then two bins an octave (4–5, 6–7, 8–11, 12–15, 16–23, 24–31, 32–47, …), the
/// last bin holding every longer distance. Contact ranges fall on bin edges (short 6–11,
/// medium 12–23, long from 24), and so does the shortest hairpin (4).
pub const fn separation_bin(distance: usize, bins: u16) -> usize {
    let bin = if distance < 4 {
        distance
    } else {
        // ⌊log2 distance⌋ ≥ 2 here.
        let octave = (usize::BITS - 1 - distance.leading_zeros()) as usize;
        let upper_half = (distance >> (octave - 1)) & 1;
        4 + 2 * (octave - 2) + upper_half
    };
    let last = (bins as usize).saturating_sub(1);
    if bin < last {
        bin
    } else {
        last
    }
}

/// Checks a layout against the feature dimension and returns its channel count.
fn check_layout(layout: &[Segment], dim: usize) -> Result<usize, Error> {
    if layout.is_empty() || dim == 0 {
        return Err(Error::UnsupportedPairFeature);
    }
    for segment in layout {
        let fits = match *segment {
            Segment::SwapHalves(d) | Segment::Transpose(d) => d as usize == dim,
            Segment::Separation(bins) => (1..=crate::blob::MAX_SEPARATION_BINS).contains(&bins),
            Segment::Fixed(_) => false,
        };
        if !fits {
            return Err(Error::UnsupportedPairFeature);
        }
    }
    let channels = layout.iter().map(|s| s.channels()).sum();
    if channels > crate::MAX_CHANNELS {
        return Err(Error::BadChannelCount);
    }
    Ok(channels)
}

fn check_features(features_len: usize, dim: usize, len: usize) -> Result<(), Error> {
    if len == 0 {
        return Err(Error::EmptySequence);
    }
    if features_len < len * dim {
        return Err(Error::too_small(Buffer::Input, len * dim));
    }
    Ok(())
}

/// Where channel `c` comes from: the segment and the channel within it.
#[inline]
fn locate(layout: &[Segment], c: usize) -> Option<(Segment, usize)> {
    let mut start = 0;
    for &segment in layout {
        let n = segment.channels();
        if c < start + n {
            return Some((segment, c - start));
        }
        start += n;
    }
    None
}

/// Which two features make a pair channel.
enum Parts {
    /// The value is feature `a` of position `i` (first half) or of position `j`.
    Single { from_i: bool, feature: usize },
    /// The value is feature `a` of `i` times feature `b` of `j`.
    Product { a: usize, b: usize },
    /// The value is one when `|i − j|` falls in bin `bin` of `bins`, else zero.
    Separation { bin: usize, bins: u16 },
}

impl Parts {
    /// Whether the separation channel `bin` of `bins` is on at `(i, j)`.
    #[inline]
    fn separation_on(bin: usize, bins: u16, i: usize, j: usize) -> bool {
        separation_bin(i.abs_diff(j), bins) == bin
    }
}

#[inline]
fn parts(layout: &[Segment], dim: usize, c: usize) -> Option<Parts> {
    let (segment, k) = locate(layout, c)?;
    Some(match segment {
        Segment::SwapHalves(_) => Parts::Single {
            from_i: k < dim,
            feature: k.checked_rem(dim)?,
        },
        Segment::Separation(bins) => Parts::Separation { bin: k, bins },
        _ => Parts::Product {
            a: k.checked_div(dim)?,
            b: k.checked_rem(dim)?,
        },
    })
}

/// Float pair features of a sequence of `len` positions with `dim` features each.
#[derive(Clone, Copy, Debug)]
pub struct PairFeaturesF32<'a> {
    features: &'a [f32],
    dim: usize,
    len: usize,
    layout: &'a [Segment],
    channels: usize,
}

impl<'a> PairFeaturesF32<'a> {
    /// `features` holds `len · dim` values, position-major.
    pub fn new(
        features: &'a [f32],
        dim: usize,
        len: usize,
        layout: &'a [Segment],
    ) -> Result<Self, Error> {
        let channels = check_layout(layout, dim)?;
        check_features(features.len(), dim, len)?;
        Ok(Self {
            features,
            dim,
            len,
            layout,
            channels,
        })
    }

    #[inline]
    fn feature(&self, position: usize, f: usize) -> f32 {
        self.features
            .get(position * self.dim + f)
            .copied()
            .unwrap_or(0.0)
    }
}

impl PairSource for PairFeaturesF32<'_> {
    type Sample = f32;

    fn channels(&self) -> usize {
        self.channels
    }

    fn len(&self) -> usize {
        self.len
    }

    fn involution(&self) -> Involution<'_> {
        Involution::Segments(self.layout)
    }

    #[inline]
    fn at(&self, i: usize, j: usize, c: usize) -> f32 {
        match parts(self.layout, self.dim, c) {
            Some(Parts::Single { from_i, feature }) => {
                self.feature(if from_i { i } else { j }, feature)
            }
            Some(Parts::Product { a, b }) => self.feature(i, a) * self.feature(j, b),
            Some(Parts::Separation { bin, bins }) if Parts::separation_on(bin, bins, i, j) => 1.0,
            Some(Parts::Separation { .. }) | None => 0.0,
        }
    }
}

/// int8 pair features: per-position features quantized with one scale and `zero_point`,
/// which the pair tensor shares.
///
/// Concatenated channels carry a feature as it is. Product channels are a TFLite `MUL`:
/// `clamp(product.apply((e_a − zp)(e_b − zp)) + zp)`, with `product` standing for
/// `scale² / scale = scale`. Separation channels are `one` (1.0 in this quantization) or
/// `zp` (0.0).
#[derive(Clone, Copy, Debug)]
pub struct PairFeaturesI8<'a> {
    features: &'a [i8],
    dim: usize,
    len: usize,
    layout: &'a [Segment],
    channels: usize,
    zero_point: i32,
    product: Requant,
    /// A separation channel's value when on, centered: `one − zero_point`.
    unit: i32,
}

impl<'a> PairFeaturesI8<'a> {
    /// `features` holds `len · dim` values, position-major; `one` is 1.0 in the features'
    /// quantization (what a separation channel holds when on).
    pub fn new(
        features: &'a [i8],
        dim: usize,
        len: usize,
        layout: &'a [Segment],
        (zero_point, one): (i32, i8),
        product: Requant,
    ) -> Result<Self, Error> {
        let channels = check_layout(layout, dim)?;
        check_features(features.len(), dim, len)?;
        check_zero_point(zero_point)?;
        product.check()?;
        Ok(Self {
            features,
            dim,
            len,
            layout,
            channels,
            zero_point,
            product,
            unit: i32::from(one) - zero_point,
        })
    }

    /// Centered feature `q − zp`.
    #[inline]
    fn feature(&self, position: usize, f: usize) -> i32 {
        self.features
            .get(position * self.dim + f)
            .map_or(0, |&q| q as i32 - self.zero_point)
    }
}

impl PairSource for PairFeaturesI8<'_> {
    type Sample = i16;

    fn channels(&self) -> usize {
        self.channels
    }

    fn len(&self) -> usize {
        self.len
    }

    fn involution(&self) -> Involution<'_> {
        Involution::Segments(self.layout)
    }

    #[inline]
    fn at(&self, i: usize, j: usize, c: usize) -> i16 {
        let centered = match parts(self.layout, self.dim, c) {
            Some(Parts::Single { from_i, feature }) => {
                self.feature(if from_i { i } else { j }, feature)
            }
            Some(Parts::Product { a, b }) => self.product(self.feature(i, a), self.feature(j, b)),
            Some(Parts::Separation { bin, bins }) if Parts::separation_on(bin, bins, i, j) => {
                self.unit
            }
            Some(Parts::Separation { .. }) | None => 0,
        };
        centered as i16
    }

    /// 1×1 kernels (the usual generating layer) in packed order: the patch is the pair's
    /// features with each transposed pair pre-added, `x(c) + x(π(c))`, read straight from
    /// the two positions' features instead of channel by channel.
    #[inline]
    fn gather_fast(
        &self,
        geom: &ConvGeom<'_>,
        i: usize,
        j: usize,
        patch: &mut [i16],
        order: PatchOrder,
    ) -> bool {
        let dim = self.dim;
        let (Some(fi), Some(fj)) = (
            self.features.get(i * dim..(i + 1) * dim),
            self.features.get(j * dim..(j + 1) * dim),
        ) else {
            return false;
        };
        if geom.kernel() != 1 || order != PatchOrder::Packed {
            return false;
        }
        let zero_point = self.zero_point;
        let centered = |q: i8| q as i32 - zero_point;
        // Wraps like the generic gather's `at` and `pre_add`.
        let sum = |x: i32, y: i32| (x as i16).wrapping_add(y as i16);
        let mut slots = patch.iter_mut();
        for segment in self.layout {
            match *segment {
                // Channel k < dim is e_i[k], its partner k + dim is e_j[k].
                Segment::SwapHalves(_) => {
                    for ((&x, &y), slot) in fi.iter().zip(fj).zip(&mut slots) {
                        *slot = sum(centered(x), centered(y));
                    }
                }
                // Channel (a, b) is e_i[a]·e_j[b]; (a, a) stands alone, (a, b) for a < b is
                // pre-added with (b, a).
                Segment::Transpose(_) => {
                    for (a, &xa) in fi.iter().enumerate() {
                        let ya = fj.get(a).map_or(0, |&y| centered(y));
                        for (b, (&xb, &yb)) in fi.iter().zip(fj).enumerate().skip(a) {
                            let Some(slot) = slots.next() else {
                                return true;
                            };
                            let ab = self.product(centered(xa), centered(yb));
                            *slot = if a == b {
                                ab as i16
                            } else {
                                sum(ab, self.product(centered(xb), ya))
                            };
                        }
                    }
                }
                // Channel k is on for the separation's bin; it mirrors to itself.
                Segment::Separation(bins) => {
                    let on = separation_bin(i.abs_diff(j), bins);
                    for (k, slot) in (&mut slots).take(usize::from(bins)).enumerate() {
                        *slot = if k == on { self.unit as i16 } else { 0 };
                    }
                }
                Segment::Fixed(_) => return false,
            }
        }
        true
    }
}

impl PairFeaturesI8<'_> {
    /// The requantized product channel of two centered features, centered.
    #[inline(always)]
    fn product(&self, x: i32, y: i32) -> i32 {
        let q = self.product.apply(x * y).wrapping_add(self.zero_point);
        clamp_i8(q, i8::MIN, i8::MAX) as i32 - self.zero_point
    }
}
