//! Work over a slice on every core, answers in input order.

use anyhow::{bail, Result};

/// `f` of every item, the slice cut into one contiguous part a core; the answers come back in
/// the items' order. Fails only when a worker thread dies.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Result<Vec<R>> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = items.len().div_ceil(workers).max(1);
    let f = &f;
    let answers: Vec<R> = std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    if answers.len() != items.len() {
        bail!("a worker thread failed");
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    #[test]
    fn answers_come_back_in_order() {
        let items: Vec<u32> = (0..1000).collect();
        let squares = super::map(&items, |x| x * x).unwrap();
        assert_eq!(squares, items.iter().map(|x| x * x).collect::<Vec<_>>());
        assert!(super::map(&[] as &[u32], |x| *x).unwrap().is_empty());
    }
}
