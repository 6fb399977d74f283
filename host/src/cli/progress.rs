//! Progress on a terminal: a bar for downloads, a spinner for steps that take a
//! second or more (compiling, pushing, building). Nothing when stderr is not a
//! terminal, with `--quiet`, or with `CHITIN_NO_PROGRESS` set.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

static QUIET: AtomicBool = AtomicBool::new(false);

/// `--quiet`: no progress, whatever stderr is.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether progress is shown at all.
pub fn shown() -> bool {
    !QUIET.load(Ordering::Relaxed)
        && std::env::var_os("CHITIN_NO_PROGRESS").is_none_or(|v| v.is_empty())
        && std::io::stderr().is_terminal()
}

/// A byte-counting bar, `label` right-aligned like the status lines. It shows from
/// the first [`set_length`] (before, an empty bar would be drawn full).
pub fn bar(label: &str) -> ProgressBar {
    if !shown() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {bytes}/{total_bytes}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}

/// Set the length of a [`bar`], showing it from now on.
pub fn set_length(bar: &ProgressBar, total: u64) {
    bar.set_length(total);
    if bar.is_hidden() && shown() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
    }
}

/// A spinner: `{label} {message}`, ticking while the step runs.
pub fn spinner(label: &str, message: &str) -> ProgressBar {
    if !shown() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    to_spinner(&bar, label, message);
    bar
}

/// Turn a bar (e.g. a finished download) into a spinner for the next step.
pub fn to_spinner(bar: &ProgressBar, label: &str, message: &str) {
    if bar.is_hidden() {
        return;
    }
    bar.set_style(
        ProgressStyle::with_template("{prefix:>12} {msg} {spinner}").expect("valid template"),
    );
    bar.set_prefix(label.to_string());
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(100));
}
