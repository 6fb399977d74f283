//! `chitin:skill/log`: structured lines from the skill, kept with the call's result.

use crate::bindings::chitin::skill::log::{Host, Level};
use crate::state::CallState;

/// Lines kept per call; more are counted but dropped, so logging cannot exhaust memory.
const MAX_LINES: usize = 1000;
/// Longest kept line.
const MAX_LINE: usize = 4096;

/// One line the skill logged.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogLine {
    pub level: &'static str,
    pub message: String,
}

impl Host for CallState {
    async fn log(&mut self, level: Level, message: String) {
        if self.logs.len() >= MAX_LINES {
            return;
        }
        let level = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        let mut message = message;
        if message.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        self.logs.push(LogLine { level, message });
    }
}
