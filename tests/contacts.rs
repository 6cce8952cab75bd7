//! The streamed top-K contact list equals sorting every candidate pair by the shared rule
//! (logit descending, then (i, j) ascending) and keeping the first K.

use proptest::prelude::*;
use scnn::apps::protein::{Contact, TopContacts, MIN_SEPARATION};

const L: usize = 24;

fn all_pairs(map: &[Vec<i8>], len: usize) -> Vec<Contact> {
    let mut all = Vec::new();
    for (i, row) in map.iter().enumerate().take(len) {
        for j in i + MIN_SEPARATION..len {
            all.push(Contact {
                i: i as u16,
                j: j as u16,
                logit: row[j - i],
            });
        }
    }
    all.sort_by_key(|c| (std::cmp::Reverse(c.logit), c.i, c.j));
    all
}

proptest! {
    #[test]
    fn top_k_of_streamed_rows_is_the_sorted_prefix(
        values in proptest::collection::vec(-3i8..=3, L * L),
        len in 1usize..=L,
    ) {
        // Row i holds pairs (i, i..L); few distinct logits make ties common.
        let map: Vec<Vec<i8>> = (0..L).map(|i| values[i * L..i * L + (L - i)].to_vec()).collect();
        let mut top = TopContacts::<10>::new();
        for (i, row) in map.iter().enumerate() {
            top.offer_row(i, row, len);
        }
        let want: Vec<Contact> = all_pairs(&map, len).into_iter().take(10).collect();
        prop_assert_eq!(top.contacts(), &want[..]);
    }
}

#[test]
fn ties_go_to_the_lower_pair() {
    let mut top = TopContacts::<2>::new();
    for (i, j) in [(5u16, 20u16), (0, 9), (3, 9), (0, 7)] {
        top.offer(Contact { i, j, logit: 4 });
    }
    let kept: Vec<(u16, u16)> = top.contacts().iter().map(|c| (c.i, c.j)).collect();
    assert_eq!(kept, [(0, 7), (0, 9)]);
    top.clear();
    assert!(top.contacts().is_empty());
}
