//! One wasmtime `Engine` per process: pooling allocator, copy-on-write memory images,
//! epoch interruption driven by a single ticker thread, and a cache of precompiled
//! components keyed by the wasm digest and the engine's compatibility hash.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::HostError;
use crate::state::CallState;

/// How often the epoch advances. Deadlines are counted in these ticks, so a runaway
/// guest is stopped at most one tick late.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Largest linear memory any skill may have; a manifest's `limits.memory` is capped by
/// this and enforced per store below it.
pub const MAX_MEMORY_BYTES: usize = 4 << 30;

/// Linear-memory slots of the default pool: instances alive at once across all calls.
pub const DEFAULT_MEMORY_SLOTS: u32 = 512;

/// The shared engine, its linker and the compile cache.
pub struct SkillEngine {
    engine: Engine,
    linker: Linker<CallState>,
    cache_dir: PathBuf,
    /// Keeps the ticker thread alive; the thread exits when the engine is dropped.
    _ticker: Arc<()>,
}

impl SkillEngine {
    /// Build the engine and its linker. `cache_dir` must be private to this user: the
    /// files in it are native code that is loaded without further checks.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Result<Self, HostError> {
        Self::with_memory_slots(cache_dir, DEFAULT_MEMORY_SLOTS)
    }

    /// [`Self::new`] with a pool of `memories` linear-memory slots (tables, stacks and
    /// instances scaled with it). Each slot reserves 4 GiB of address space; tools that
    /// cannot reserve the default pool's 2 TiB (valgrind, for the instruction counts
    /// of `benches/invoke`) use a small one. A call's code path is the same.
    pub fn with_memory_slots(
        cache_dir: impl Into<PathBuf>,
        memories: u32,
    ) -> Result<Self, HostError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.max_memory_size(MAX_MEMORY_BYTES)
            // JS and Python components carry large tables and several core instances.
            .table_elements(200_000)
            .max_core_instances_per_component(64)
            .max_memories_per_component(16.min(memories))
            .max_tables_per_component(16.min(memories))
            .total_component_instances(memories / 2)
            .total_core_instances(memories * 4)
            .total_memories(memories)
            .total_tables(memories)
            .total_stacks(memories / 2)
            // Reusing a slot without page faults is most of the cost of a fresh
            // instance: keep pages resident and reset only the dirty ones, found with
            // Linux's PAGEMAP_SCAN (6.7+; `Auto` falls back to memset/madvise elsewhere).
            .pagemap_scan(Enabled::Auto)
            .linear_memory_keep_resident(16 << 20)
            .table_keep_resident(1 << 20);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .memory_init_cow(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(HostError::Engine)?;

        let mut linker = Linker::new(&engine);
        crate::capabilities::add_to_linker(&mut linker).map_err(HostError::Engine)?;

        let ticker = Arc::new(());
        spawn_ticker(engine.weak(), Arc::downgrade(&ticker));

        let cache_dir = cache_dir.into();
        create_private_dir(&cache_dir)?;
        Ok(Self {
            engine,
            linker,
            cache_dir,
            _ticker: ticker,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn linker(&self) -> &Linker<CallState> {
        &self.linker
    }

    /// Compile `wasm`, or load it from the cache when it was compiled before by an
    /// engine with the same settings.
    pub fn load_component(&self, wasm: &[u8]) -> Result<Component, HostError> {
        let path = self.cache_path(wasm);
        if path.exists() {
            // SAFETY: the file was written by `precompile_component` of an engine with the
            // same compatibility hash (part of the file name) into a directory only this
            // user can write; wasmtime additionally checks the header and version.
            match unsafe { Component::deserialize_file(&self.engine, &path) } {
                Ok(c) => return Ok(c),
                // A stale or damaged cache entry is not an error: recompile it.
                Err(_) => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let compiled = self
            .engine
            .precompile_component(wasm)
            .map_err(HostError::Compile)?;
        write_atomic(&path, &compiled)?;
        // SAFETY: as above; we just wrote the file from the engine's own output.
        unsafe { Component::deserialize_file(&self.engine, &path) }.map_err(HostError::Compile)
    }

    /// Delete compiled files whose wasm digest (hex) is not in `keep`, and files left
    /// by other engine versions. Returns how many were removed.
    pub fn gc_cache(&self, keep: &[String]) -> Result<usize, HostError> {
        let entries = std::fs::read_dir(&self.cache_dir)
            .map_err(|e| HostError::Io(self.cache_dir.clone(), e))?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        let suffix = format!("-{:016x}.cwasm", hasher.finish());
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let wanted = name
                .strip_suffix(&suffix)
                .is_some_and(|digest| keep.iter().any(|k| k == digest));
            if !wanted && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Where the compiled form of `wasm` lives.
    pub fn cache_path(&self, wasm: &[u8]) -> PathBuf {
        let digest = hex::encode(Sha256::digest(wasm));
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        self.cache_dir
            .join(format!("{digest}-{:016x}.cwasm", hasher.finish()))
    }
}

fn spawn_ticker(engine: wasmtime::EngineWeak, alive: Weak<()>) {
    std::thread::Builder::new()
        .name("chitin-epoch".into())
        .spawn(move || {
            while alive.strong_count() > 0 {
                std::thread::sleep(EPOCH_TICK);
                match engine.upgrade() {
                    Some(e) => e.increment_epoch(),
                    None => break,
                }
            }
        })
        .expect("spawning the epoch thread");
}

/// Create a directory (and parents) that only the current user can read or write.
pub fn create_private_dir(path: &Path) -> Result<(), HostError> {
    let io = |e| HostError::Io(path.to_path_buf(), e);
    std::fs::create_dir_all(path).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}

/// Write a private file atomically ([`chitin_registry::atomic::write`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), HostError> {
    chitin_registry::atomic::write(path, bytes).map_err(|e| HostError::Io(path.to_path_buf(), e))
}

/// [`write_atomic`] for a file the user hands on (a built or packed skill): readable
/// by others like any file a compiler writes (mode 0644), not private like a temp file.
pub fn write_atomic_shared(path: &Path, bytes: &[u8]) -> Result<(), HostError> {
    chitin_registry::atomic::write_with_mode(path, bytes, 0o644)
        .map_err(|e| HostError::Io(path.to_path_buf(), e))
}
