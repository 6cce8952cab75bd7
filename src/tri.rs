//! Packed upper-triangle storage of symmetric pair maps.
//!
//! An `L`×`L` map with `C` channels is stored as its upper triangle with the diagonal,
//! row by row, channel-last:
//!
//! ```text
//! offset(i, j, c) = tri_index(L, i, j) * C + c          for i <= j
//! tri_index(L, i, j) = i * (2L - i + 1) / 2 + (j - i)
//! ```
//!
//! Row `i` starts at entry `i * (2L - i + 1) / 2` and holds the `L - i` pairs `(i, i..L)`.
//! The whole map takes [`map_len`]`(L, C) = L(L+1)/2 * C` values. An entry below the diagonal
//! is read from its mirror: `X[j][i][c] = X[i][j][π(c)]`, with `π` the map's
//! [`Involution`] (the identity for every map a symmetric layer produces).
//!
//! `L` is a const generic: the buffer sizes are fixed at compile time. A sequence of length
//! `len < L` uses the same layout; pairs with `j >= len` are masked (never read, and written
//! as zero by every layer).

use crate::involution::Involution;
use crate::Error;

/// Number of pairs `(i, j)` with `i <= j < l`: `l(l+1)/2`.
pub const fn tri_len(l: usize) -> usize {
    l * (l + 1) / 2
}

/// Number of values in a packed `l`×`l` map with `channels` channels.
pub const fn map_len(l: usize, channels: usize) -> usize {
    tri_len(l) * channels
}

/// Position of pair `(i, j)` in the packed triangle of an `l`×`l` map, for `i <= j < l`.
///
/// Callers keep `i <= j < l`; other arguments give a meaningless (but panic-free) index.
pub const fn tri_index(l: usize, i: usize, j: usize) -> usize {
    // Wrapping keeps this panic-free for out-of-contract arguments; the slice access that
    // follows then fails softly instead.
    (i.wrapping_mul((2 * l).wrapping_sub(i).wrapping_add(1)) / 2).wrapping_add(j.wrapping_sub(i))
}

/// Position of pair `(i, j)` for either order, and whether it was mirrored (`i > j`).
#[inline]
pub const fn tri_index_any(l: usize, i: usize, j: usize) -> (usize, bool) {
    if i <= j {
        (tri_index(l, i, j), false)
    } else {
        (tri_index(l, j, i), true)
    }
}

/// Checks the common arguments of a packed map: `0 < len <= L` and a large enough buffer.
pub(crate) fn check_map<const L: usize>(
    buffer_len: usize,
    channels: usize,
    len: usize,
) -> Result<(), Error> {
    if len == 0 {
        return Err(Error::EmptySequence);
    }
    if len > L {
        return Err(Error::SequenceTooLong);
    }
    if channels == 0 || channels > crate::MAX_CHANNELS {
        return Err(Error::BadChannelCount);
    }
    if buffer_len < map_len(L, channels) {
        return Err(Error::too_small(crate::Buffer::Map, map_len(L, channels)));
    }
    Ok(())
}

/// A read-only packed triangular map of `L`×`L` pairs, of which the first `len` rows and
/// columns are active.
#[derive(Clone, Copy, Debug)]
pub struct TriMap<'a, T, const L: usize> {
    data: &'a [T],
    channels: usize,
    len: usize,
    involution: Involution<'a>,
}

impl<'a, T: Copy, const L: usize> TriMap<'a, T, L> {
    /// A map whose mirror rule is the identity: `X[j][i][c] = X[i][j][c]`.
    pub fn new(data: &'a [T], channels: usize, len: usize) -> Result<Self, Error> {
        Self::with_involution(data, channels, len, Involution::Identity)
    }

    /// A map whose mirror rule is `X[j][i][c] = X[i][j][π(c)]`.
    ///
    /// Its diagonal must satisfy `X[i][i][c] = X[i][i][π(c)]`; the map reads the stored
    /// value as it is.
    pub fn with_involution(
        data: &'a [T],
        channels: usize,
        len: usize,
        involution: Involution<'a>,
    ) -> Result<Self, Error> {
        check_map::<L>(data.len(), channels, len)?;
        involution.check(channels)?;
        Ok(Self {
            data,
            channels,
            len,
            involution,
        })
    }

    /// Channels per pair.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Active length: pairs with an index `>= len` are padding.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a map has at least one active position.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The map's mirror rule.
    pub fn involution(&self) -> Involution<'a> {
        self.involution
    }

    /// The packed values.
    pub fn as_slice(&self) -> &'a [T] {
        self.data
    }

    /// Value at `(i, j, c)` for either order of `i` and `j` (mirrored below the diagonal), or
    /// `None` outside the active `len`×`len` square or the channel range.
    #[inline]
    pub fn get(&self, i: usize, j: usize, c: usize) -> Option<T> {
        if i >= self.len || j >= self.len || c >= self.channels {
            return None;
        }
        let (pair, mirrored) = tri_index_any(L, i, j);
        let c = if mirrored {
            self.involution.partner(c)
        } else {
            c
        };
        self.data.get(pair * self.channels + c).copied()
    }
}
