//! Limits: memory per instance, wall-clock time per call (epoch interruption plus a
//! timer around host calls), and output size (result, stdout, stderr).

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

/// Refuses linear-memory growth past the grant, and remembers that it did, so the host
/// can tell the user "memory limit" instead of a bare trap.
pub struct MemoryLimiter {
    inner: StoreLimits,
    max: usize,
    pub(crate) hit: bool,
}

impl MemoryLimiter {
    pub fn new(max: usize) -> Self {
        Self {
            inner: StoreLimitsBuilder::new().memory_size(max).build(),
            max,
            hit: false,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.hit = true;
            // An error (not `Ok(false)`) traps at once: a guest that ignores a failed
            // `memory.grow` cannot go on.
            wasmtime::bail!("memory limit of {} bytes exceeded", self.max);
        }
        self.inner.memory_growing(current, desired, maximum)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }
}
