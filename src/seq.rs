//! Sequence text to per-position features.

use crate::{Buffer, Error};

/// A nucleotide. T reads as U; N is any base.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Base {
    /// Adenine.
    A = 0,
    /// Cytosine.
    C = 1,
    /// Guanine.
    G = 2,
    /// Uracil (or thymine).
    U = 3,
    /// Unknown.
    N = 4,
}

impl Base {
    /// Number of distinct codes, and so of rows in an [`Embedding`] table.
    pub const COUNT: usize = 5;

    /// Reads `A C G U T N` in either case.
    pub const fn from_ascii(byte: u8) -> Option<Self> {
        match byte.to_ascii_uppercase() {
            b'A' => Some(Base::A),
            b'C' => Some(Base::C),
            b'G' => Some(Base::G),
            b'U' | b'T' => Some(Base::U),
            b'N' => Some(Base::N),
            _ => None,
        }
    }

    /// The upper-case letter (U for uracil).
    pub const fn to_ascii(self) -> u8 {
        match self {
            Base::A => b'A',
            Base::C => b'C',
            Base::G => b'G',
            Base::U => b'U',
            Base::N => b'N',
        }
    }
}

/// Encodes `text` into `out` and returns the length. Errors name the first bad position; an
/// empty text or one longer than `out` is an error too.
pub fn encode(text: &[u8], out: &mut [Base]) -> Result<usize, Error> {
    if text.is_empty() {
        return Err(Error::EmptySequence);
    }
    if text.len() > out.len() {
        return Err(Error::SequenceTooLong);
    }
    for (position, (&byte, slot)) in text.iter().zip(out.iter_mut()).enumerate() {
        *slot = Base::from_ascii(byte).ok_or(Error::InvalidBase {
            position: u16::try_from(position).unwrap_or(u16::MAX),
        })?;
    }
    Ok(text.len())
}

/// One-hot rows for A, C, G, U and N (N is all zeros), 4 values a row.
pub const ONE_HOT: [f32; 20] = [
    1.0, 0.0, 0.0, 0.0, //
    0.0, 1.0, 0.0, 0.0, //
    0.0, 0.0, 1.0, 0.0, //
    0.0, 0.0, 0.0, 1.0, //
    0.0, 0.0, 0.0, 0.0, //
];

/// A table of feature rows of `dim` values, one per token (for RNA letters, [`Base::COUNT`]
/// rows indexed by [`Base`]).
#[derive(Clone, Copy, Debug)]
pub struct Embedding<'a, T> {
    table: &'a [T],
    dim: usize,
}

impl<'a, T: Copy> Embedding<'a, T> {
    /// `table` holds `5 · dim` values, row-major in the order A, C, G, U, N.
    pub fn new(table: &'a [T], dim: usize) -> Result<Self, Error> {
        Self::with_rows(table, Base::COUNT, dim)
    }

    /// `table` holds `rows · dim` values, row-major, row `t` for token `t`.
    pub fn with_rows(table: &'a [T], rows: usize, dim: usize) -> Result<Self, Error> {
        if dim == 0 || rows == 0 || rows.checked_mul(dim) != Some(table.len()) {
            return Err(Error::WeightLength);
        }
        Ok(Self { table, dim })
    }

    /// Writes the features of `tokens` into `out` (`tokens.len() · dim` values,
    /// position-major); a token without a row is an error naming its position.
    pub fn fill_tokens(&self, tokens: &[u16], out: &mut [T]) -> Result<(), Error> {
        let needed = tokens.len() * self.dim;
        let out = out
            .get_mut(..needed)
            .ok_or(Error::too_small(Buffer::Arena, needed))?;
        let rows = tokens.iter().zip(out.chunks_exact_mut(self.dim.max(1)));
        for (position, (&token, row)) in rows.enumerate() {
            let start = usize::from(token) * self.dim;
            let source = self
                .table
                .get(start..start + self.dim)
                .ok_or(Error::TokenOutOfRange {
                    position: u16::try_from(position).unwrap_or(u16::MAX),
                })?;
            row.copy_from_slice(source);
        }
        Ok(())
    }

    /// Feature dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Writes the features of `bases` into `out` (`bases.len() · dim` values, position-major).
    pub fn fill(&self, bases: &[Base], out: &mut [T]) -> Result<(), Error> {
        let needed = bases.len() * self.dim;
        let out = out
            .get_mut(..needed)
            .ok_or(Error::too_small(Buffer::Arena, needed))?;
        // `new` rejects dim 0; max(1) lets the optimizer see chunks_exact_mut can't panic.
        for (&base, row) in bases.iter().zip(out.chunks_exact_mut(self.dim.max(1))) {
            let start = base as usize * self.dim;
            let source = self
                .table
                .get(start..start + self.dim)
                .ok_or(Error::WeightLength)?;
            for (slot, &value) in row.iter_mut().zip(source) {
                *slot = value;
            }
        }
        Ok(())
    }
}
