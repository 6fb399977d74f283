//! One module per capability. Each turns its part of the [`Grants`](crate::Grants) into
//! per-call state and enforces it on every use; refusals are recorded as denials.
//! What each one declares, and how it is checked before anything runs, is in the
//! module of the same name in `chitin_registry::capability`.

pub mod env;
pub mod exec;
pub mod fs;
pub mod http;
pub mod limits;
pub mod log;
pub mod secrets;

use wasmtime::component::{HasSelf, Linker};

use crate::bindings::chitin::skill as chitin_if;
use crate::state::CallState;

/// Add every interface of the `platform` world to the linker.
pub fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    chitin_if::types::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
    exec::add_to_linker(linker)?;
    log::add_to_linker(linker)?;
    fs::add_audit_to_linker(linker)?;
    Ok(())
}

impl chitin_if::types::Host for CallState {}
