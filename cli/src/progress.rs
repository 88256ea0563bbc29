//! The progress bar of bulk commands: on stderr, only when stderr is a terminal, with the count
//! done, the total and the rate. Elsewhere (pipes, CI logs, tests) it draws nothing.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Shown for at least this many items; smaller runs finish before a bar helps.
const MIN_ITEMS: usize = 2;

/// A progress bar over `total` items of work, e.g. `"verify"` over SealedSecrets.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar on stderr when it is a terminal and there are at least two items, else a hidden one.
    pub fn new(what: &str, total: usize) -> Self {
        let target = if shown(std::io::stderr().is_terminal(), total) {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self::with_target(what, total, target)
    }

    fn with_target(what: &str, total: usize, target: ProgressDrawTarget) -> Self {
        let hidden = target.is_hidden();
        let bar = ProgressBar::with_draw_target(Some(total as u64), target);
        bar.set_style(style());
        bar.set_prefix(what.to_owned());
        if !hidden {
            // Keeps the rate and time left moving while one slow item runs.
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Progress { bar }
    }

    /// One more item done (safe to call from any thread).
    pub fn inc(&self) {
        self.bar.inc(1);
    }

    /// Removes the bar, leaving the terminal as it was.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Whether a bar is drawn: on a terminal, for two items or more.
fn shown(stderr_is_terminal: bool, total: usize) -> bool {
    stderr_is_terminal && total >= MIN_ITEMS
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} ({rate}/s, {eta} left)")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}", state.per_sec());
            },
        )
        .progress_chars("#>-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::{InMemoryTerm, TermLike};

    #[test]
    fn shows_counts_and_rate() {
        let term = InMemoryTerm::new(4, 100);
        let progress = Progress::with_target(
            "reseal",
            40,
            ProgressDrawTarget::term_like(Box::new(term.clone())),
        );
        for _ in 0..10 {
            progress.inc();
        }
        progress.bar.force_draw();
        let screen = term.contents();
        assert!(screen.starts_with("reseal ["), "{screen:?}");
        assert!(screen.contains("10/40"), "{screen:?}");
        assert!(screen.contains("/s,"), "{screen:?}");
        progress.finish();
        assert_eq!(term.contents().trim(), "", "cleared when done");
        let _ = term.width();
    }

    #[test]
    fn only_on_a_terminal() {
        assert!(shown(true, 100));
        assert!(!shown(false, 100), "pipes and logs get no bar");
        assert!(!shown(true, 1));
    }
}
