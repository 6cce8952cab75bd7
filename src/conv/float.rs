//! The f32 symmetric conv, for cores with an FPU and for the host.

use super::{run_triangle, ConvGeom, PairSource, PatchOrder};
use crate::quant::Activation;
use crate::tri::TriMap;
use crate::Error;

/// A float symmetric conv layer: geometry, packed weights, bias and fused activation.
#[derive(Clone, Copy, Debug)]
pub struct ConvF32<'a> {
    geom: ConvGeom<'a>,
    weights: &'a [f32],
    bias: &'a [f32],
    activation: Activation,
}

impl<'a> ConvF32<'a> {
    /// Checks the weights (`geom.weight_len()` packed values) and bias (one per output).
    pub fn new(
        geom: ConvGeom<'a>,
        weights: &'a [f32],
        bias: &'a [f32],
        activation: Activation,
    ) -> Result<Self, Error> {
        if weights.len() != geom.weight_len() {
            return Err(Error::WeightLength);
        }
        if bias.len() != geom.out_channels() {
            return Err(Error::BiasLength);
        }
        Ok(Self {
            geom,
            weights,
            bias,
            activation,
        })
    }

    /// The layer's geometry.
    pub fn geom(&self) -> &ConvGeom<'a> {
        &self.geom
    }

    /// Runs the layer over `input` into the packed `L`×`L` map `output`
    /// ([`map_len`](crate::tri::map_len)`(L, out_channels)` values), using `scratch` (at least
    /// `geom().patch_len()` values). Pairs outside the input's active length are written as 0.
    pub fn run<S: PairSource<Sample = f32>, const L: usize>(
        &self,
        input: &S,
        scratch: &mut [f32],
        output: &mut [f32],
    ) -> Result<(), Error> {
        let rows = || self.weights.chunks_exact(self.geom.patch_len().max(1));
        run_triangle::<S, f32, L>(
            &self.geom,
            input,
            scratch,
            output,
            0.0,
            PatchOrder::Packed,
            |patch, out| {
                for ((y, w), b) in out.iter_mut().zip(rows()).zip(self.bias) {
                    let dot: f32 = w.iter().zip(patch.iter()).map(|(w, x)| w * x).sum();
                    *y = self.activation.apply_f32(dot + b);
                }
            },
        )
    }
}

impl<const L: usize> PairSource for TriMap<'_, f32, L> {
    type Sample = f32;

    fn channels(&self) -> usize {
        TriMap::channels(self)
    }

    fn len(&self) -> usize {
        TriMap::len(self)
    }

    fn involution(&self) -> crate::Involution<'_> {
        TriMap::involution(self)
    }

    #[inline]
    fn at(&self, i: usize, j: usize, c: usize) -> f32 {
        self.get(i, j, c).unwrap_or(0.0)
    }
}
