//! A plain int8 conv over the full `L×L` map: the baseline the symmetric layer is measured
//! against. Same arithmetic and the same inner loop as [`ConvI8`](super::ConvI8), no symmetry:
//! every output pair, all `k×k` taps, nothing pre-added.

use super::int8::{Kernel, OutputQuant};
use super::MAX_KERNEL;
use crate::quant::{check_zero_point, clamp_i8};
use crate::{Buffer, Error};

/// A dense int8 conv layer: kernels `[O][u][v][C]` (tap-major, channels innermost, the order
/// of its input patch), stride 1, 'same' zero padding.
#[derive(Clone, Copy, Debug)]
pub struct DenseConvI8<'a> {
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    dilation: usize,
    weights: &'a [i8],
    bias: &'a [i32],
    quant: OutputQuant<'a>,
}

impl<'a> DenseConvI8<'a> {
    /// Checks the shapes: `weights` has `O·k·k·C` values, `bias` `O`.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        dilation: usize,
        weights: &'a [i8],
        bias: &'a [i32],
        quant: OutputQuant<'a>,
    ) -> Result<Self, Error> {
        if !matches!(kernel, 1 | 3 | 5 | 7) {
            return Err(Error::UnsupportedKernelSize);
        }
        if !matches!(dilation, 1 | 2 | 4) {
            return Err(Error::UnsupportedDilation);
        }
        if in_channels == 0 || out_channels == 0 {
            return Err(Error::BadChannelCount);
        }
        if weights.len() != out_channels * kernel * kernel * in_channels {
            return Err(Error::WeightLength);
        }
        if bias.len() != out_channels {
            return Err(Error::BiasLength);
        }
        quant.check(out_channels)?;
        Ok(Self {
            in_channels,
            out_channels,
            kernel,
            dilation,
            weights,
            bias,
            quant,
        })
    }

    /// Values in one output pixel's input patch.
    pub fn patch_len(&self) -> usize {
        self.kernel * self.kernel * self.in_channels
    }

    /// Scratch values [`run`](Self::run) needs: the patch and the weights widened for the
    /// SMLAD kernel ([`plan::dense_i8_scratch_len`](crate::plan::dense_i8_scratch_len)).
    pub fn scratch_len(&self) -> usize {
        crate::plan::conv_i8_scratch_len_for(self.patch_len(), self.out_channels)
    }

    /// Runs over the `len×len` top-left of dense `[L][L][C]` `input` (zero point
    /// `input_zero_point`) into dense `[L][L][O]` `output`; pixels outside `len×len` get the
    /// output zero point.
    pub fn run<const L: usize>(
        &self,
        input: &[i8],
        len: usize,
        input_zero_point: i32,
        scratch: &mut [i16],
        output: &mut [i8],
    ) -> Result<(), Error> {
        self.run_with::<L>(input, len, input_zero_point, scratch, output, true)
    }

    /// [`run`](Self::run) with the portable inner loop, whatever the build.
    pub fn run_portable<const L: usize>(
        &self,
        input: &[i8],
        len: usize,
        input_zero_point: i32,
        scratch: &mut [i16],
        output: &mut [i8],
    ) -> Result<(), Error> {
        self.run_with::<L>(input, len, input_zero_point, scratch, output, false)
    }

    fn run_with<const L: usize>(
        &self,
        input: &[i8],
        len: usize,
        input_zero_point: i32,
        scratch: &mut [i16],
        output: &mut [i8],
        fast: bool,
    ) -> Result<(), Error> {
        check_zero_point(input_zero_point)?;
        if len == 0 || len > L {
            return Err(Error::SequenceTooLong);
        }
        let c_count = self.in_channels;
        let input = input
            .get(..L * L * c_count)
            .ok_or(Error::too_small(Buffer::Input, L * L * c_count))?;
        let output_len = L * L * self.out_channels;
        let output = output
            .get_mut(..output_len)
            .ok_or(Error::too_small(Buffer::Output, output_len))?;
        // The dense patch is already in weight order, channels contiguous.
        let (patch, kernel, _) = Kernel::prepare(
            self.weights,
            (self.patch_len(), self.out_channels),
            self.quant.shifts,
            scratch,
            fast,
            None,
        )?;
        let masked = clamp_i8(self.quant.zero_point, i8::MIN, i8::MAX);
        let (k, d, r) = (self.kernel, self.dilation, self.kernel / 2);
        let mut pixels = output.chunks_exact_mut(self.out_channels.max(1));
        for i in 0..L {
            for j in 0..L {
                let Some(out) = pixels.next() else {
                    return Err(Error::too_small(Buffer::Output, output_len));
                };
                if i >= len || j >= len {
                    out.fill(masked);
                    continue;
                }
                let center = |q: i8| (q as i32 - input_zero_point) as i16;
                let reach = d * r;
                if i >= reach && j >= reach && i + reach < len && j + reach < len {
                    // Interior: every tap is inside; rows of `k` taps, `C` values each.
                    let mut slots = patch.iter_mut();
                    for u in 0..k {
                        let row = ((i + d * u - reach) * L + j - reach) * c_count;
                        for v in 0..k {
                            let start = row + d * v * c_count;
                            let pixel = input.get(start..start + c_count).unwrap_or(&[]);
                            // Pixel first: zip must not take a slot it has no value for.
                            for (&q, slot) in pixel.iter().zip(&mut slots) {
                                *slot = center(q);
                            }
                        }
                    }
                    kernel.dot_requant(self.bias, &self.quant, patch, out);
                    continue;
                }
                let mut slots = patch.iter_mut();
                for u in 0..k.min(MAX_KERNEL) {
                    let a = (i + d * u).checked_sub(d * r).filter(|&a| a < len);
                    for v in 0..k {
                        let b = (j + d * v).checked_sub(d * r).filter(|&b| b < len);
                        let pixel = match (a, b) {
                            (Some(a), Some(b)) => input.get((a * L + b) * c_count..),
                            _ => None,
                        };
                        for c in 0..c_count {
                            let value = pixel.and_then(|p| p.get(c)).map_or(0, |&q| center(q));
                            if let Some(slot) = slots.next() {
                                *slot = value;
                            }
                        }
                    }
                }
                kernel.dot_requant(self.bias, &self.quant, patch, out);
            }
        }
        Ok(())
    }
}
