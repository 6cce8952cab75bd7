//! The int8 parameter blocks of a blob's layers, each word layout defined once: the tools write
//! them with `to_words` and the loader reads them with `from_words`, which also checks every
//! value (see `tools/BLOB_FORMAT.md`).

use crate::blob::{I8_ADD_WORDS, I8_CONV_TAIL_WORDS, I8_CURVE_WORDS, I8_SIDE_WORDS};
use crate::layers::AddQuant;
use crate::ops::activation::{ActivationI8, Curve};
use crate::quant::{check_zero_point, Requant};
use crate::Error;

/// Word `i` of a block, or [`Error::BadOffset`] past its end.
fn word(words: &[i32], i: usize) -> Result<i32, Error> {
    words.get(i).copied().ok_or(Error::BadOffset)
}

/// A positive, finite scale from its f32 bits, else [`Error::NonFinite`].
pub(crate) fn scale_from_bits(bits: i32) -> Result<f32, Error> {
    let x = f32::from_bits(bits as u32);
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(Error::NonFinite)
    }
}

/// An int8 clamp from two words, `min <= max`.
fn i8_range(min: i32, max: i32) -> Result<(i8, i8), Error> {
    let min = i8::try_from(min).map_err(|_| Error::BadQuantRange)?;
    let max = i8::try_from(max).map_err(|_| Error::BadQuantRange)?;
    if min > max {
        return Err(Error::BadQuantRange);
    }
    Ok((min, max))
}

/// The words after a conv's or dense layer's per-channel bias, multipliers and shifts: the
/// output zero point, clamp and scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutputTail {
    /// Zero point of the output.
    pub zero_point: i32,
    /// Lower clamp.
    pub act_min: i8,
    /// Upper clamp.
    pub act_max: i8,
    /// Scale of the output.
    pub scale: f32,
}

impl OutputTail {
    /// The block's words.
    pub fn to_words(&self) -> [i32; I8_CONV_TAIL_WORDS] {
        [
            self.zero_point,
            self.act_min as i32,
            self.act_max as i32,
            self.scale.to_bits() as i32,
        ]
    }

    /// Reads and checks the block at the start of `words`.
    pub fn from_words(words: &[i32]) -> Result<Self, Error> {
        let zero_point = word(words, 0)?;
        check_zero_point(zero_point)?;
        let (act_min, act_max) = i8_range(word(words, 1)?, word(words, 2)?)?;
        Ok(Self {
            zero_point,
            act_min,
            act_max,
            scale: scale_from_bits(word(words, 3)?)?,
        })
    }
}

impl AddQuant {
    /// The residual-add block with its output `scale`: first input zero point, multiplier and
    /// shift; second input's; output multiplier and shift; output zero point; clamp; scale.
    pub fn to_words(&self, scale: f32) -> [i32; I8_ADD_WORDS] {
        [
            self.a_zero_point,
            self.a.multiplier,
            self.a.shift,
            self.b_zero_point,
            self.b.multiplier,
            self.b.shift,
            self.out.multiplier,
            self.out.shift,
            self.out_zero_point,
            self.act_min as i32,
            self.act_max as i32,
            scale.to_bits() as i32,
        ]
    }

    /// Reads and checks the block at the start of `words`: the add and its output scale.
    pub fn from_words(words: &[i32]) -> Result<(Self, f32), Error> {
        let w = |i| word(words, i);
        let (act_min, act_max) = i8_range(w(9)?, w(10)?)?;
        let add = AddQuant {
            a_zero_point: w(0)?,
            a: Requant {
                multiplier: w(1)?,
                shift: w(2)?,
            },
            b_zero_point: w(3)?,
            b: Requant {
                multiplier: w(4)?,
                shift: w(5)?,
            },
            out: Requant {
                multiplier: w(6)?,
                shift: w(7)?,
            },
            out_zero_point: w(8)?,
            act_min,
            act_max,
        };
        add.check()?;
        Ok((add, scale_from_bits(w(11)?)?))
    }
}

impl ActivationI8 {
    /// A dense layer's tanh or sigmoid block: the input multiplier, left shift and radius (its
    /// curve is the layer's activation code, its input zero point the layer's output's).
    pub fn to_words(&self) -> [i32; I8_CURVE_WORDS] {
        [self.multiplier, self.shift, self.radius]
    }

    /// Reads and checks the block at the start of `words`.
    pub fn from_words(curve: Curve, zero_point: i32, words: &[i32]) -> Result<Self, Error> {
        let activation = Self {
            curve,
            zero_point,
            multiplier: word(words, 0)?,
            shift: word(words, 1)?,
            radius: word(words, 2)?,
        };
        activation.check()?;
        Ok(activation)
    }
}

/// A side-table layer's quantization: the incoming vector's requantization to the output,
/// and the output's (and the table's) zero point and scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SideQuant {
    /// Incoming vector to the output's scale.
    pub requant: Requant,
    /// Zero point of the output and the table.
    pub zero_point: i32,
    /// Scale of the output and the table.
    pub scale: f32,
}

impl SideQuant {
    /// The block's words: multiplier, shift, zero point, scale.
    pub fn to_words(&self) -> [i32; I8_SIDE_WORDS] {
        [
            self.requant.multiplier,
            self.requant.shift,
            self.zero_point,
            self.scale.to_bits() as i32,
        ]
    }

    /// Reads and checks the block.
    pub fn from_words(words: &[i32]) -> Result<Self, Error> {
        let requant = Requant {
            multiplier: word(words, 0)?,
            shift: word(words, 1)?,
        };
        requant.check()?;
        let zero_point = word(words, 2)?;
        check_zero_point(zero_point)?;
        Ok(Self {
            requant,
            zero_point,
            scale: scale_from_bits(word(words, 3)?)?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's failures are panics
mod tests {
    use super::*;

    #[test]
    fn blocks_read_back_what_was_written() {
        let tail = OutputTail {
            zero_point: -7,
            act_min: -128,
            act_max: 90,
            scale: 0.03,
        };
        assert_eq!(OutputTail::from_words(&tail.to_words()).unwrap(), tail);
        let add = AddQuant::from_scales(0.1, 3, 0.2, -4, 0.25, 1, crate::Activation::Relu).unwrap();
        assert_eq!(
            AddQuant::from_words(&add.to_words(0.25)).unwrap(),
            (add, 0.25)
        );
        let tanh = ActivationI8::from_input_scale(Curve::Tanh, 0.05, 12).unwrap();
        assert_eq!(
            ActivationI8::from_words(Curve::Tanh, 12, &tanh.to_words()).unwrap(),
            tanh
        );
        let side = SideQuant {
            requant: Requant::from_real(0.7).unwrap(),
            zero_point: 5,
            scale: 0.01,
        };
        assert_eq!(SideQuant::from_words(&side.to_words()).unwrap(), side);
        // A short block is an offset error, a bad value its own error.
        assert_eq!(OutputTail::from_words(&[0, 1]), Err(Error::BadOffset));
        assert_eq!(
            SideQuant::from_words(&[1 << 30, 40, 0, 0x3c23_d70a]),
            Err(Error::BadRequantization)
        );
    }
}
