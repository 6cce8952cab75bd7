//! Sequential recommendation: the last few item ids (and the user, as the side token) in,
//! one score per item out, the best few kept.

/// An item and its score (a pooled model's int32 accumulator, or any score scaled alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ItemScore {
    /// The item's token.
    pub item: u16,
    /// Its score.
    pub score: i32,
}

impl ItemScore {
    /// The ranking rule host and device share: higher score first, then the lower item id.
    pub fn ranks_before(&self, other: &ItemScore) -> bool {
        (self.score, other.item) > (other.score, self.item)
    }
}

/// The best `K` items offered, best first, by [`ItemScore::ranks_before`].
#[derive(Clone, Debug, Default)]
pub struct TopItems<const K: usize> {
    best: heapless::Vec<ItemScore, K>,
}

impl<const K: usize> TopItems<K> {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            best: heapless::Vec::new(),
        }
    }

    /// Forgets every item.
    pub fn clear(&mut self) {
        self.best.clear();
    }

    /// Offers one item.
    pub fn offer(&mut self, candidate: ItemScore) {
        if self.best.is_full() {
            match self.best.last() {
                Some(worst) if candidate.ranks_before(worst) => {
                    self.best.pop();
                }
                _ => return,
            }
        }
        let at = self
            .best
            .iter()
            .position(|c| candidate.ranks_before(c))
            .unwrap_or(self.best.len());
        // Not full here (a full list lost its worst above): append, then rotate into place.
        if self.best.push(candidate).is_ok() {
            // Non-empty (it holds the new entry), which the optimizer must see to drop
            // `rotate_right`'s panic.
            if let Some(tail) = self.best.get_mut(at..).filter(|t| !t.is_empty()) {
                tail.rotate_right(1);
            }
        }
    }

    /// The items kept, best first.
    pub fn items(&self) -> &[ItemScore] {
        &self.best
    }
}
