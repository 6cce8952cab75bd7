//! File formats: FASTA with optional dot-bracket lines, and npy dumps.

pub mod fasta;
pub mod npy;
