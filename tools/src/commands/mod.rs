//! One module per subcommand.

pub mod bench;
pub mod convert;
pub mod evaluate;
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

/// Reads a limit or tolerance: a finite number, at least 0 (NaN would disable every
/// comparison made with it).
pub fn limit(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(_) => Err(format!("{text} is not a finite number ≥ 0")),
        Err(e) => Err(format!("{text}: {e}")),
    }
}

/// Reads a decoder threshold: a probability in [0, 1).
pub fn threshold(text: &str) -> std::result::Result<f32, String> {
    match text.parse::<f32>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        Ok(_) => Err(format!("{text} is not a probability in [0, 1)")),
        Err(e) => Err(format!("{text}: {e}")),
    }
}

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
/// Checks a history against a recommendation model's description: length, item and user
/// tokens, and a user exactly when the model has a side table.
pub fn check_history(
    config: &crate::config::ModelConfig,
    history: &crate::formats::histories::History,
) -> Result<()> {
    let name = &history.name;
    let (n, l) = (history.items.len(), config.pair_len);
    if n != l {
        bail!("history `{name}`: {n} items; the model takes the last {l}");
    }
    if let Some(&item) = history
        .items
        .iter()
        .find(|&&i| usize::from(i) >= config.vocab_size())
    {
        bail!(
            "history `{name}`: item {item} is outside the model's {} items",
            config.vocab_size()
        );
    }
    let rows = config.head.as_ref().and_then(|h| h.side_rows());
    match (history.user, rows) {
        (None, None) => Ok(()),
        (Some(u), Some(rows)) if usize::from(u) < rows => Ok(()),
        (Some(u), Some(rows)) => {
            bail!("history `{name}`: user {u} is outside the model's {rows} users")
        }
        (None, Some(_)) => bail!("history `{name}`: the model needs a user"),
        (Some(_), None) => bail!("history `{name}`: the model has no user table"),
    }
}

pub fn check_fits(name: &str, sequence: &str, pair_len: usize) -> Result<()> {
    check_length(name, sequence.len(), pair_len)
}

/// Fails when a sequence of `length` letters is longer than `pair_len`.
pub fn check_length(name: &str, length: usize, pair_len: usize) -> Result<()> {
    if length > pair_len {
        bail!("record `{name}`: sequence of length {length} is longer than the model's pair length {pair_len}");
    }
    Ok(())
}

/// How pair probabilities become a structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decoder {
    /// The firmware's: canonical pairs above the threshold, best first, pseudoknots allowed.
    Greedy,
    /// The pseudoknot-free structure of canonical pairs above the threshold with the largest
    /// summed `p − threshold`, less a penalty per helix ([`crate::nested`]); firmware built
    /// with `SCNN_DECODER=nested`.
    Nested,
}

impl Decoder {
    /// The decoder a firmware reports in its hello.
    pub fn of_firmware(decoder: scnn::decode::Decoder) -> Self {
        match decoder {
            scnn::decode::Decoder::Greedy => Decoder::Greedy,
            scnn::decode::Decoder::Nested => Decoder::Nested,
        }
    }

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Decoder::Greedy => "greedy",
            Decoder::Nested => "nested",
        }
    }

    /// The probability threshold it decodes at unless told otherwise (the firmware's).
    pub fn default_threshold(self) -> f32 {
        match self {
            Decoder::Greedy => scnn::decode::DEFAULT_THRESHOLD,
            Decoder::Nested => scnn::decode::NestedScoring::DEFAULT.threshold,
        }
    }

    /// The pairs of `prediction` (decoded greedily at `threshold`) under this decoder, at
    /// `threshold` (the nested decoder with its default helix penalty).
    pub fn pairs(
        self,
        name: &str,
        sequence: &str,
        prediction: &crate::runtime::Prediction,
        threshold: f32,
    ) -> Result<Vec<(usize, usize)>> {
        Ok(match self {
            Decoder::Greedy => prediction.pairs.clone(),
            Decoder::Nested => {
                let scoring = scnn::decode::NestedScoring {
                    threshold,
                    ..scnn::decode::NestedScoring::DEFAULT
                };
                crate::nested::decode(&prediction.probs, &bases(name, sequence)?, scoring)?
            }
        })
    }
}
