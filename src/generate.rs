//! The symmetry-generating input: pair features built on the fly from per-position features.
//!
//! A conv over these sources never materializes the `L×L×C` pair tensor: each value is made
//! from the features of positions `i` and `j` when a kernel tap reads it. Layouts use the
//! [`Segment`]s that can be built from a `d`-dim feature `e`:
//! [`Segment::SwapHalves`]`(d)` for `[e_i ; e_j]` and [`Segment::Transpose`]`(d)` for
//! `e_i ⊗ e_j`, in any order and number.

use crate::conv::{ConvGeom, PairSource, PatchOrder};
use crate::involution::{Involution, Segment};
use crate::quant::{check_zero_point, clamp_i8, Requant};
use crate::{Buffer, Error};

/// Checks a layout against the feature dimension and returns its channel count.
fn check_layout(layout: &[Segment], dim: usize) -> Result<usize, Error> {
    if layout.is_empty() || dim == 0 {
        return Err(Error::UnsupportedPairFeature);
    }
    for segment in layout {
        let d = match *segment {
            Segment::SwapHalves(d) | Segment::Transpose(d) => d as usize,
            Segment::Fixed(_) => return Err(Error::UnsupportedPairFeature),
        };
        if d != dim {
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
}

#[inline]
fn parts(layout: &[Segment], dim: usize, c: usize) -> Option<Parts> {
    let (segment, k) = locate(layout, c)?;
    Some(match segment {
        Segment::SwapHalves(_) => Parts::Single {
            from_i: k < dim,
            feature: k.checked_rem(dim)?,
        },
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
            None => 0.0,
        }
    }
}

/// int8 pair features: per-position features quantized with one scale and `zero_point`,
/// which the pair tensor shares.
///
/// Concatenated channels carry a feature as it is. Product channels are a TFLite `MUL`:
/// `clamp(product.apply((e_a − zp)(e_b − zp)) + zp)`, with `product` standing for
/// `scale² / scale = scale`.
#[derive(Clone, Copy, Debug)]
pub struct PairFeaturesI8<'a> {
    features: &'a [i8],
    dim: usize,
    len: usize,
    layout: &'a [Segment],
    channels: usize,
    zero_point: i32,
    product: Requant,
}

impl<'a> PairFeaturesI8<'a> {
    /// `features` holds `len · dim` values, position-major.
    pub fn new(
        features: &'a [i8],
        dim: usize,
        len: usize,
        layout: &'a [Segment],
        zero_point: i32,
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
            None => 0,
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
