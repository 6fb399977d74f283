//! The floor: what wasmtime itself needs for a fresh instance and one call of the same
//! component, with the same engine (`Config`, pooling allocator, epoch interruption) —
//! an `InstancePre`, a store holding an empty WASI context, nothing of chitin's (no
//! grants, no policies, no limits, no audit). chitin's own `exec` import refuses
//! everything: `noop` calls it not.

use chitin_host::SkillEngine;
use chitin_host::bindings::chitin::skill as chitin_if;
use chitin_host::bindings::{SkillError, SkillPre};
use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub struct FloorState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
}

impl WasiView for FloorState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for FloorState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: wasmtime_wasi_http::default_hooks(),
        }
    }
}

impl chitin_if::types::Host for FloorState {}

impl chitin_if::exec::Host for FloorState {
    async fn run(
        &mut self,
        _program: String,
        _args: Vec<String>,
        _cwd: Option<String>,
    ) -> Result<chitin_if::exec::Output, SkillError> {
        Err(SkillError::Denied("the floor runs no programs".into()))
    }
}

/// The component linked once, ready to instantiate.
pub struct Floor {
    engine: wasmtime::Engine,
    pre: SkillPre<FloorState>,
}

impl Floor {
    pub fn new(skills: &SkillEngine, wasm: &[u8]) -> Self {
        let component = skills.load_component(wasm).unwrap();
        let mut linker = Linker::new(skills.engine());
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
        chitin_if::types::add_to_linker::<FloorState, HasSelf<FloorState>>(&mut linker, |s| s)
            .unwrap();
        chitin_if::exec::add_to_linker::<FloorState, HasSelf<FloorState>>(&mut linker, |s| s)
            .unwrap();
        let pre = SkillPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
        Self {
            engine: skills.engine().clone(),
            pre,
        }
    }

    /// A fresh store and instance, one call of `tool`, the store dropped.
    pub async fn call(&self, tool: &str, args: &str) -> String {
        let state = FloorState {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
        };
        let mut store = Store::new(&self.engine, state);
        // The engine interrupts on epochs: without a deadline the guest would trap at
        // once. Yield at every tick, as chitin's stores do.
        store.epoch_deadline_async_yield_and_update(1);
        let bindings = self.pre.instantiate_async(&mut store).await.unwrap();
        bindings
            .chitin_skill_guest()
            .call_invoke(&mut store, tool, args)
            .await
            .unwrap()
            .unwrap()
    }
}
