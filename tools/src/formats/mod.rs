//! File formats: FASTA with optional dot-bracket lines, Stockholm, bpseq, item histories and
//! npy dumps.

pub mod bpseq;
pub mod fasta;
pub mod histories;
pub mod npy;
pub mod stockholm;

/// A sequence with its known base pairs, from any of the structure formats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Structured {
    pub name: String,
    /// As read, gaps removed.
    pub sequence: String,
    /// 0-based `(i, j)`, `i < j`.
    pub pairs: Vec<(usize, usize)>,
}
