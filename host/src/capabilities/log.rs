//! `chitin:skill/log`: structured lines from the skill, kept with the call's result.
//!
//! The host keeps at most [`MAX_LINES`] lines of [`MAX_LINE`] bytes per call, and it
//! checks the bound before copying: the message is read in place from the skill's
//! memory (`WasmStr`) and only its kept prefix is copied, so a skill logging megabyte
//! lines in a loop costs the host nothing beyond the bound.

use wasmtime::component::{Linker, WasmStr};

use crate::bindings::chitin::skill::log::Level;
use crate::state::CallState;

/// Lines kept per call; more are counted but dropped, so logging cannot exhaust memory.
pub const MAX_LINES: usize = 1000;
/// Longest kept line, in bytes.
pub const MAX_LINE: usize = 4096;

/// One line the skill logged.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogLine {
    pub level: &'static str,
    pub message: String,
}

/// Link `log` reading the message in place (instead of the generated binding, which
/// would copy the whole string into the host first).
pub fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    let mut inst = linker.instance("chitin:skill/log@0.1.0")?;
    inst.func_wrap("log", |mut store, (level, message): (Level, WasmStr)| {
        if store.data().logs.len() >= MAX_LINES {
            return Ok(());
        }
        let text = message.to_str(&store)?;
        let line = LogLine {
            level: level_name(level),
            message: chitin_registry::untrusted::bounded(&text, MAX_LINE).into_owned(),
        };
        store.data_mut().logs.push(line);
        Ok(())
    })?;
    Ok(())
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}
