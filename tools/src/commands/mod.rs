//! One module per subcommand.

pub mod bench;
pub mod convert;
pub mod example;
pub mod footprint;
pub mod inspect;
pub mod predict;
pub mod random;
#[cfg(feature = "train")]
pub mod train;
pub mod verify;

use anyhow::{bail, Result};
use scnn::seq::Base;

/// Encodes a checked sequence for the reference and decoder.
pub fn bases(name: &str, sequence: &str) -> Result<Vec<Base>> {
    sequence
        .bytes()
        .enumerate()
        .map(|(i, b)| match Base::from_ascii(b) {
            Some(base) => Ok(base),
            None => bail!(
                "record `{name}`: invalid character {:?} at position {}",
                b as char,
                i + 1
            ),
        })
        .collect()
}

/// Checks that a record fits the model's pair length.
pub fn check_fits(name: &str, sequence: &str, pair_len: usize) -> Result<()> {
    if sequence.len() > pair_len {
        bail!(
            "record `{name}`: sequence of {} nt is longer than the model's pair length {pair_len}",
            sequence.len()
        );
    }
    Ok(())
}
