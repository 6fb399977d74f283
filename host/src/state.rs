//! The data of one call's `Store`: built from the grants, dropped after the call.

use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::audit::{Denial, DenialKind, Denials};
use crate::capabilities::exec::ExecPolicy;
use crate::capabilities::fs::disk::DiskBudget;
use crate::capabilities::http::HttpPolicy;
use crate::capabilities::limits::MemoryLimiter;
use crate::capabilities::log::LogLine;

/// Everything one instance may touch, and what it did.
pub struct CallState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) http_ctx: WasiHttpCtx,
    pub(crate) http: HttpPolicy,
    pub(crate) exec: ExecPolicy,
    pub(crate) limits: MemoryLimiter,
    /// Bytes this call may still write into its read-write folders.
    pub(crate) disk: std::sync::Arc<DiskBudget>,
    /// When the call must be over.
    pub(crate) deadline: Instant,
    /// Capability refusals seen by host code during this call (bounded).
    pub(crate) denials: Denials,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
}

impl CallState {
    /// Record a refused capability use (also goes to the audit log after the call).
    pub(crate) fn deny(&mut self, capability: impl Into<DenialKind>, detail: String) {
        // Bounded in count and size by `Denials`.
        self.denials.push(Denial {
            capability: capability.into(),
            detail,
        });
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http_ctx,
            table: &mut self.table,
            hooks: &mut self.http,
        }
    }
}
