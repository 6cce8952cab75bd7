//! A bounded best-first list: what a firmware keeps of outputs it cannot hold whole (the
//! contacts of an `L×L` map, the scores of every item), offered one at a time.

/// An order for [`Top`]: which of two candidates ranks first. Host and device share it, so
/// ties must be broken (by an index, say) rather than left to arrival order.
pub trait Rank {
    /// True when `self` ranks before `other`.
    fn ranks_before(&self, other: &Self) -> bool;
}

/// The `K` best candidates offered so far, best first, by [`Rank`].
#[derive(Clone, Debug)]
pub struct Top<T, const K: usize> {
    best: heapless::Vec<T, K>,
}

impl<T, const K: usize> Default for Top<T, K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const K: usize> Top<T, K> {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            best: heapless::Vec::new(),
        }
    }

    /// Forgets every candidate (for the next input).
    pub fn clear(&mut self) {
        self.best.clear();
    }

    /// The candidates kept, best first.
    pub fn as_slice(&self) -> &[T] {
        &self.best
    }
}

impl<T: Rank, const K: usize> Top<T, K> {
    /// Offers one candidate: kept if the list has room or it ranks before the worst kept.
    pub fn offer(&mut self, candidate: T) {
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
        // The tail holds the new entry, so it is not empty, which the optimizer must see to
        // drop `rotate_right`'s panic.
        if self.best.push(candidate).is_ok() {
            if let Some(tail) = self.best.get_mut(at..).filter(|t| !t.is_empty()) {
                tail.rotate_right(1);
            }
        }
    }
}
