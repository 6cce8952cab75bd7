//! The check that training reaches every separation bin: a bin no training pair falls in keeps
//! its initial first-layer weights, yet inputs up to the pair length reach it.

/// Separation bins that pairs of a pair-length input reach but no training pair does.
#[derive(Debug, PartialEq)]
pub(super) struct UnseenSeparations {
    /// The shortest separation among them.
    pub distance: usize,
    /// Their bins.
    pub bins: std::ops::Range<usize>,
}

/// Which of `bins` separation bins training never reaches when its longest window (the
/// longest training sequence, or crop of one) is `window` and the model runs on inputs up
/// to `pair_len`.
pub(super) fn unseen_separations(
    window: usize,
    pair_len: usize,
    bins: u16,
) -> Option<UnseenSeparations> {
    // Bins grow with the separation, so the unseen ones follow the window's widest pair.
    let bin = |distance| scnn::generate::separation_bin(distance, bins);
    let seen = bin(window.checked_sub(1)?);
    let distance = (window..pair_len).find(|&d| bin(d) > seen)?;
    Some(UnseenSeparations {
        distance,
        bins: seen + 1..bin(pair_len - 1) + 1,
    })
}

/// Prints a warning when training with `bins` separation bins leaves some untrained;
/// `remedy` says what would train them.
pub(super) fn warn_unseen(window: usize, pair_len: usize, bins: u16, remedy: &str) {
    if let Some(far) = unseen_separations(window, pair_len, bins) {
        eprintln!(
            "warning: the longest training window is {window}, so no training pair is {} or more apart and separation bins {}–{} of {bins} keep their initial weights, yet inputs up to {pair_len} have such pairs ({remedy})",
            far.distance,
            far.bins.start,
            far.bins.end - 1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_shorter_than_the_pair_length_leave_the_far_separation_bins_untrained() {
        // 16 bins: 96–127 is bin 13, 128–191 bin 14, 192 on bin 15.
        assert_eq!(
            unseen_separations(128, 256, 16),
            Some(UnseenSeparations {
                distance: 128,
                bins: 14..16
            })
        );
        assert_eq!(
            unseen_separations(160, 256, 16),
            Some(UnseenSeparations {
                distance: 192,
                bins: 15..16
            })
        );
        // A tRNA set (at most 93 nt here) at pair length 128: 64–95 is bin 12, 96–127 bin 13.
        assert_eq!(
            unseen_separations(93, 128, 16),
            Some(UnseenSeparations {
                distance: 96,
                bins: 13..14
            })
        );
        // Distances 193–255 fall in the window's last bin already.
        assert_eq!(unseen_separations(194, 256, 16), None);
        assert_eq!(unseen_separations(256, 256, 16), None);
        assert_eq!(unseen_separations(128, 256, 0), None);
        assert_eq!(unseen_separations(0, 256, 16), None);
        // Few bins: the last holds every distance from 12 on, which a window of 64 reaches.
        assert_eq!(unseen_separations(64, 256, 8), None);
    }
}
