//! Protein contact maps: amino acids in, residue contacts out.

use crate::top::{Rank, Top};

/// The 20 standard amino acids in one-letter code, alphabetical, then X (unknown): tokens
/// 0–20. The ambiguity codes B, Z, J and the rare U (selenocysteine) and O (pyrrolysine)
/// read as X. Either case.
pub const ALPHABET: &[(u8, u16)] = &[
    (b'A', 0),
    (b'C', 1),
    (b'D', 2),
    (b'E', 3),
    (b'F', 4),
    (b'G', 5),
    (b'H', 6),
    (b'I', 7),
    (b'K', 8),
    (b'L', 9),
    (b'M', 10),
    (b'N', 11),
    (b'P', 12),
    (b'Q', 13),
    (b'R', 14),
    (b'S', 15),
    (b'T', 16),
    (b'V', 17),
    (b'W', 18),
    (b'Y', 19),
    (b'X', 20),
    (b'B', 20),
    (b'Z', 20),
    (b'J', 20),
    (b'U', 20),
    (b'O', 20),
    (b'a', 0),
    (b'c', 1),
    (b'd', 2),
    (b'e', 3),
    (b'f', 4),
    (b'g', 5),
    (b'h', 6),
    (b'i', 7),
    (b'k', 8),
    (b'l', 9),
    (b'm', 10),
    (b'n', 11),
    (b'p', 12),
    (b'q', 13),
    (b'r', 14),
    (b's', 15),
    (b't', 16),
    (b'v', 17),
    (b'w', 18),
    (b'y', 19),
    (b'x', 20),
    (b'b', 20),
    (b'z', 20),
    (b'j', 20),
    (b'u', 20),
    (b'o', 20),
];

/// Tokens of the protein alphabet.
pub const VOCAB_SIZE: usize = 21;

/// Shortest sequence separation `j − i` of a reported contact (CASP's short range starts
/// at 6).
pub const MIN_SEPARATION: usize = 6;

/// One predicted contact: residues `i < j` (0-based) and the pair's int8 logit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Contact {
    /// First residue.
    pub i: u16,
    /// Second residue, `j − i >=` [`MIN_SEPARATION`].
    pub j: u16,
    /// The pair's logit (int8, the model's logit quantization).
    pub logit: i8,
}

impl Rank for Contact {
    /// True when `self` ranks before `other`: higher logit first, ties by `(i, j)` ascending
    /// (the rule host and device share).
    fn ranks_before(&self, other: &Contact) -> bool {
        (other.logit, self.i, self.j) < (self.logit, other.i, other.j)
    }
}

/// The `K` best contacts of a streamed logit map, kept sorted: a firmware offers each output
/// row as the model makes it and never holds the `L×L` map.
#[derive(Clone, Debug, Default)]
pub struct TopContacts<const K: usize> {
    best: Top<Contact, K>,
}

impl<const K: usize> TopContacts<K> {
    /// An empty list.
    pub const fn new() -> Self {
        Self { best: Top::new() }
    }

    /// Offers row `i` of the last layer's output (`row[m]` is pair `(i, i + m)`) for a
    /// sequence of `len` residues: pairs with `j − i >=` [`MIN_SEPARATION`] and `j < len`.
    pub fn offer_row(&mut self, i: usize, row: &[i8], len: usize) {
        let end = len.saturating_sub(i).min(row.len());
        let Some(tail) = row.get(MIN_SEPARATION..end) else {
            return;
        };
        for (m, &logit) in tail.iter().enumerate() {
            let j = i + MIN_SEPARATION + m;
            self.offer(Contact {
                i: i as u16,
                j: j as u16,
                logit,
            });
        }
    }

    /// Offers one contact.
    pub fn offer(&mut self, contact: Contact) {
        self.best.offer(contact);
    }

    /// The contacts kept, best first.
    pub fn contacts(&self) -> &[Contact] {
        self.best.as_slice()
    }

    /// Forgets every contact (for the next sequence).
    pub fn clear(&mut self) {
        self.best.clear();
    }
}
