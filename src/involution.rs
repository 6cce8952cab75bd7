//! Channel involutions: the rule `X[j][i][c] = X[i][j][π(c)]` that ties the two halves of a
//! pair map together.
//!
//! `π` is its own inverse (`π(π(c)) = c`). The identity describes a symmetric map. A pair map
//! made from per-position features `e` is described by segments laid one after another:
//!
//! | segment | channels | value at `(i, j)` | `π` |
//! |---|---|---|---|
//! | [`Segment::Fixed`]`(n)` | `n` | any symmetric feature | `c ↦ c` |
//! | [`Segment::SwapHalves`]`(d)` | `2d` | outer concatenation `[e_i ; e_j]` | `a ↦ a + d`, `a + d ↦ a` |
//! | [`Segment::Transpose`]`(d)` | `d²` | outer product `e_i ⊗ e_j` at `a·d + b` | `(a, b) ↦ (b, a)` |
//! | [`Segment::Separation`]`(n)` | `n` | one-hot bin of `|i − j|` ([`crate::generate::separation_bin`]) | `c ↦ c` |

use crate::Error;

/// One run of channels with a fixed mirror rule. Sizes are `u16` so a layout fits in flash
/// tables as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Segment {
    /// `n` channels that mirror to themselves.
    Fixed(u16),
    /// `2d` channels `[a ; b]` whose halves swap: outer concatenation of `d`-dim features.
    SwapHalves(u16),
    /// `d²` channels indexed `a·d + b` that swap `(a, b)` with `(b, a)`: outer product of
    /// `d`-dim features.
    Transpose(u16),
    /// `n` channels that mirror to themselves: the one-hot bin of the sequence separation
    /// `|i − j|` among `n` bins.
    Separation(u16),
}

impl Segment {
    /// Number of channels the segment covers.
    pub const fn channels(self) -> usize {
        match self {
            Segment::Fixed(n) | Segment::Separation(n) => n as usize,
            Segment::SwapHalves(d) => 2 * d as usize,
            Segment::Transpose(d) => d as usize * d as usize,
        }
    }

    /// Channels that mirror to themselves and pairs of channels `c < π(c)` in the segment:
    /// a conv stores a symmetric `k(k+1)/2` kernel for each of the first and one full `k²`
    /// kernel for each of the second.
    pub const fn fixed_and_pairs(self) -> (usize, usize) {
        match self {
            Segment::Fixed(n) | Segment::Separation(n) => (n as usize, 0),
            Segment::SwapHalves(d) => (0, d as usize),
            Segment::Transpose(d) => {
                let d = d as usize;
                (d, d * d.saturating_sub(1) / 2)
            }
        }
    }

    /// Partner of channel `c` (relative to the segment start, `c < channels()`).
    #[inline]
    pub const fn partner(self, c: usize) -> usize {
        match self {
            Segment::Fixed(_) | Segment::Separation(_) => c,
            Segment::SwapHalves(d) => {
                let d = d as usize;
                if c < d {
                    c + d
                } else {
                    c - d
                }
            }
            Segment::Transpose(d) => {
                let d = d as usize;
                // d > 0 in any validated model; the fallback keeps a zero from panicking.
                match (c.checked_rem(d), c.checked_div(d)) {
                    (Some(r), Some(q)) => r * d + q,
                    _ => c,
                }
            }
        }
    }
}

/// A channel involution `π`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Involution<'a> {
    /// `π(c) = c` for every channel: a symmetric map. This is what every layer outputs.
    Identity,
    /// Segments laid one after another, covering all channels.
    Segments(&'a [Segment]),
}

impl<'a> Involution<'a> {
    /// `π(c)`. Channels past the last segment map to themselves.
    #[inline]
    pub fn partner(&self, c: usize) -> usize {
        match self {
            Involution::Identity => c,
            Involution::Segments(segments) => {
                let mut start = 0;
                for segment in segments.iter() {
                    let n = segment.channels();
                    if c < start + n {
                        return start + segment.partner(c - start);
                    }
                    start += n;
                }
                c
            }
        }
    }

    /// Number of channels the involution describes, or `None` for the identity (any count).
    pub fn channels(&self) -> Option<usize> {
        match self {
            Involution::Identity => None,
            Involution::Segments(segments) => {
                Some(segments.iter().map(|segment| segment.channels()).sum())
            }
        }
    }

    /// Checks that the involution is well formed and covers exactly `channels` channels.
    pub fn check(&self, channels: usize) -> Result<(), Error> {
        if let Involution::Segments(segments) = self {
            if segments.iter().any(|segment| segment.channels() == 0) {
                return Err(Error::BadInvolution);
            }
            if self.channels() != Some(channels) {
                return Err(Error::BadInvolution);
            }
        }
        Ok(())
    }

    /// True when both involutions give the same partner for each of `channels` channels.
    pub fn same_as(&self, other: &Involution<'_>, channels: usize) -> bool {
        (0..channels).all(|c| self.partner(c) == other.partner(c))
    }

    /// Number of channels with `π(c) = c`, and number of pairs `c < π(c)`, among `channels`.
    pub fn counts(&self, channels: usize) -> (usize, usize) {
        let mut fixed = 0;
        let mut pairs = 0;
        for c in 0..channels {
            let p = self.partner(c);
            if p == c {
                fixed += 1;
            } else if c < p {
                pairs += 1;
            }
        }
        (fixed, pairs)
    }
}
