//! Bulk work on every core: one function over many items, results in input order, with a
//! progress bar (see [`crate::progress`]). `RAYON_NUM_THREADS` limits the threads.

use anyhow::Result;
use rayon::prelude::*;

use crate::progress::Progress;

/// Runs `f` on every item on all cores; results come back in the items' order.
pub fn map<T: Sync, R: Send>(what: &str, items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let progress = Progress::new(what, items.len());
    let out = items
        .par_iter()
        .map(|item| {
            let r = f(item);
            progress.inc();
            r
        })
        .collect();
    progress.finish();
    out
}

/// Like [`map`] for work that can fail: every item runs, and the error reported is the first
/// in the items' order (the same whatever the scheduling).
pub fn try_map<T: Sync, R: Send>(
    what: &str,
    items: &[T],
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    map(what, items, f).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_first_error_are_deterministic() {
        let items: Vec<u32> = (0..200).collect();
        assert_eq!(
            map("t", &items, |i| i * 2),
            (0..200).map(|i| i * 2).collect::<Vec<_>>()
        );
        let err = try_map("t", &items, |i| {
            if i % 50 == 49 {
                anyhow::bail!("item {i}")
            } else {
                Ok(*i)
            }
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "item 49");
    }
}
