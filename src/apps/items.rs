//! Sequential recommendation: the last few item ids (and the user, as the side token) in,
//! one score per item out, the best few kept.

use crate::top::{Rank, Top};

/// An item and its score (a pooled model's int32 accumulator, or any score scaled alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ItemScore {
    /// The item's token.
    pub item: u16,
    /// Its score.
    pub score: i32,
}

impl Rank for ItemScore {
    /// The ranking rule host and device share: higher score first, then the lower item id.
    fn ranks_before(&self, other: &ItemScore) -> bool {
        (self.score, other.item) > (other.score, self.item)
    }
}

/// The best `K` items offered, best first ([`Top::as_slice`]).
pub type TopItems<const K: usize> = Top<ItemScore, K>;
