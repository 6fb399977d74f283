//! Host bindings for the `chitin:skill/skill` world (`wit/skill.wit`). WASI interfaces
//! map to wasmtime-wasi's and wasmtime-wasi-http's own implementations.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "chitin:skill/skill",
    imports: { default: async },
    exports: { default: async },
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:cli": wasmtime_wasi::p2::bindings::cli,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:filesystem": wasmtime_wasi::p2::bindings::filesystem,
        "wasi:random": wasmtime_wasi::p2::bindings::random,
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
    },
});

pub use chitin::skill::types::{Error as SkillError, ToolSpec};
