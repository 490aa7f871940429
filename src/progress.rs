//! The progress bar of long replays: an indicatif bar on stderr fed by the projections'
//! [`projections::Progress`] reports (events done out of the total, rate, time left).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use projections::Progress;

/// A bar for one replay; hidden when `quiet` or when stderr is not a terminal.
pub struct ReplayBar {
    bar: ProgressBar,
}

impl ReplayBar {
    pub fn new(label: &str, quiet: bool) -> ReplayBar {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        if quiet {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {pos}/{len} events, {per_sec}, {eta} left",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(label.to_owned());
        ReplayBar { bar }
    }

    /// Shows one progress report.
    pub fn update(&self, progress: &Progress) {
        if progress.events_total > 0 {
            self.bar.set_length(progress.events_total);
        }
        self.bar.set_position(progress.events_done);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
