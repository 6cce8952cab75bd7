//! Row-streaming execution: each layer keeps only a ring of its most recent output rows.
//!
//! Output row `i` of a layer with reach `R = d·(k/2)` reads input rows `i − R … i + R` (a
//! window crossing the diagonal reads mirrored pairs, which lie in rows of that range too).
//! So the layers run in lockstep, each `lead(t) = Σ_{u>t} R_u` rows ahead of the last one, and
//! layer `t`'s output needs a ring of `2·R_{t+1} + 1` rows (more if a later layer adds it as a
//! skip connection). Peak activation memory grows with `L·k·C·depth` instead of `L²·C`.

use crate::conv::{gather_identity_i8, ConvGeom, PairSource, PatchOrder};
use crate::involution::Involution;
use crate::quant::check_zero_point;
use crate::{Buffer, Error, MAX_LAYERS};

/// Rows of the ring a layer's output needs, given the reach of the layer reading it and the
/// skip connections from it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LayerRing {
    /// Rows this layer runs ahead of the last layer.
    pub lead: u16,
    /// Rows kept of this layer's output.
    pub rows: u16,
}

/// Ring sizes and leads for the first `n` layers, with reaches `reach[t] = d·(k/2)` and skip
/// sources (`residual[t] = Some(s)`: layer `t` adds layer `s`'s output). Writes `rings[..n]`.
///
/// A `const fn`, so that [`ModelInfo`](crate::model::ModelInfo) sizes the streaming arena at
/// compile time with the same rule the runtime uses.
// Indexing: fixed-size arrays and indices checked against `n <= MAX_LAYERS` (the link-time
// panic check proves no bounds check is left); iterators are not const.
#[allow(clippy::indexing_slicing)]
pub const fn plan_rings(
    n: usize,
    reach: &[u16; MAX_LAYERS],
    residual: &[Option<u16>; MAX_LAYERS],
    rings: &mut [LayerRing; MAX_LAYERS],
) -> Result<(), Error> {
    if n == 0 || n > MAX_LAYERS {
        return Err(Error::BadLayerCount);
    }
    let mut lead: u16 = 0;
    let mut t = n;
    while t > 0 {
        t -= 1;
        // Read by layer t + 1 over rows i − R … i + R; the last layer's rows go straight out.
        let rows = if t + 1 < n {
            match reach[t + 1].checked_mul(2) {
                Some(r) => r.saturating_add(1),
                None => return Err(Error::UnsupportedDilation),
            }
        } else {
            1
        };
        rings[t] = LayerRing { lead, rows };
        lead = lead.saturating_add(reach[t]);
    }
    let mut t = 0;
    while t < n {
        if let Some(s) = residual[t] {
            let s = s as usize;
            if s >= n {
                return Err(Error::BadResidual);
            }
            // Layer t adds row i of layer s while layer s has written up to its lead.
            let span = match rings[s].lead.checked_sub(rings[t].lead) {
                Some(span) => span.saturating_add(1),
                None => return Err(Error::BadResidual),
            };
            if span > rings[s].rows {
                rings[s].rows = span;
            }
        }
        t += 1;
    }
    Ok(())
}

/// A ring of the most recent rows of a packed int8 map: row `a` (pairs `(a, b)`, `b >= a`)
/// lives in slot `a mod rows`, `L` pairs of `channels` values a slot. The conv reads it as it
/// reads a whole map, as long as every row it asks for is still in the ring.
#[derive(Clone, Copy, Debug)]
pub struct RowWindowI8<'a, const L: usize> {
    data: &'a [i8],
    rows: usize,
    channels: usize,
    len: usize,
    zero_point: i32,
}

impl<'a, const L: usize> RowWindowI8<'a, L> {
    /// Checks that `data` holds `rows` slots of `L · channels` values.
    pub fn new(
        data: &'a [i8],
        rows: usize,
        channels: usize,
        len: usize,
        zero_point: i32,
    ) -> Result<Self, Error> {
        check_zero_point(zero_point)?;
        if rows == 0 || channels == 0 || len > L || data.len() < rows * L * channels {
            return Err(Error::too_small(Buffer::Arena, rows * L * channels));
        }
        Ok(Self {
            data,
            rows,
            channels,
            len,
            zero_point,
        })
    }

    /// Offset of channel 0 of pair `(a, b)`, `a <= b`.
    #[inline]
    fn offset(&self, a: usize, b: usize) -> usize {
        // rows > 0 (checked in `new`); max(1) lets the optimizer see the remainder can't trap.
        ((a % self.rows.max(1)) * L + (b - a)) * self.channels
    }
}

impl<const L: usize> PairSource for RowWindowI8<'_, L> {
    type Sample = i16;

    fn channels(&self) -> usize {
        self.channels
    }

    fn len(&self) -> usize {
        self.len
    }

    fn involution(&self) -> Involution<'_> {
        Involution::Identity
    }

    #[inline]
    fn at(&self, i: usize, j: usize, c: usize) -> i16 {
        if i >= self.len || j >= self.len || c >= self.channels {
            return 0;
        }
        let (a, b) = if i <= j { (i, j) } else { (j, i) };
        self.data
            .get(self.offset(a, b) + c)
            .map_or(0, |&q| (q as i32 - self.zero_point) as i16)
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
        let offset = |a, b| self.offset(a, b);
        gather_identity_i8(
            self.data,
            offset,
            geom,
            (i, j),
            self.len,
            patch,
            order,
            self.zero_point,
        );
        true
    }
}
