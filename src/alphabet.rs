//! Text to tokens through a model's alphabet: a table of `(symbol, token)` entries that the
//! blob carries (format 2) or that the application defines (format 1 blobs are RNA).

use crate::blob::{App, ALPHABET_ENTRY_LEN};
use crate::Error;

/// Where a model's symbols come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alphabet<'a> {
    /// `(symbol, token)` pairs: entries of [`ALPHABET_ENTRY_LEN`] bytes read in place from the
    /// blob (symbol `u8`, reserved `u8`, token `u16` little-endian).
    Blob(&'a [u8]),
    /// A table in the program: [`apps::rna::ALPHABET`](crate::apps::rna::ALPHABET) and the like.
    Table(&'static [(u8, u16)]),
}

impl Alphabet<'_> {
    /// The token of `symbol`, if the alphabet has it (symbols are matched exactly; alphabets
    /// list both cases where both are accepted).
    pub fn token(&self, symbol: u8) -> Option<u16> {
        match self {
            Alphabet::Table(entries) => entries
                .iter()
                .find(|(s, _)| *s == symbol)
                .map(|&(_, token)| token),
            Alphabet::Blob(bytes) => bytes
                .chunks_exact(ALPHABET_ENTRY_LEN)
                .find(|entry| entry.first() == Some(&symbol))
                .and_then(|entry| match *entry {
                    [_, _, lo, hi] => Some(u16::from_le_bytes([lo, hi])),
                    _ => None,
                }),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        match self {
            Alphabet::Table(entries) => entries.len(),
            Alphabet::Blob(bytes) => bytes.len() / ALPHABET_ENTRY_LEN,
        }
    }

    /// True when the alphabet has no entries (the caller supplies tokens).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries, in order.
    pub fn entries(&self) -> impl Iterator<Item = (u8, u16)> + '_ {
        (0..self.len()).filter_map(move |n| match self {
            Alphabet::Table(entries) => entries.get(n).copied(),
            Alphabet::Blob(bytes) => {
                match bytes.get(n * ALPHABET_ENTRY_LEN..(n + 1) * ALPHABET_ENTRY_LEN) {
                    Some(&[symbol, _, lo, hi]) => Some((symbol, u16::from_le_bytes([lo, hi]))),
                    _ => None,
                }
            }
        })
    }

    /// Tokens of `text` into `out`; returns the length. Errors: empty text, text longer than
    /// `out`, and a symbol outside the alphabet (named by position; RNA models say "base").
    pub fn tokenize(&self, text: &[u8], app: App, out: &mut [u16]) -> Result<usize, Error> {
        if text.is_empty() {
            return Err(Error::EmptySequence);
        }
        if text.len() > out.len() {
            return Err(Error::SequenceTooLong);
        }
        for (position, (&symbol, slot)) in text.iter().zip(out.iter_mut()).enumerate() {
            let position = u16::try_from(position).unwrap_or(u16::MAX);
            *slot = self.token(symbol).ok_or(match app {
                App::Rna => Error::InvalidBase { position },
                _ => Error::InvalidSymbol { position },
            })?;
        }
        Ok(text.len())
    }
}
