//! The disk limit (`limits.disk`): bytes one call may write into its read-write folders.
//!
//! Every way WASI writes file data is metered against one budget per call: `write`
//! (positional), the output streams of `write-via-stream` and `append-via-stream`
//! (which is what Rust's `std::fs`, wasi-libc, Python and JavaScript use), and growth
//! by `set-size`. A write past the budget fails with `quota` and the call's audit gets
//! one `limits` denial. Not metered: new empty files and folders (inodes).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use wasmtime_wasi::p2::{DynOutputStream, OutputStream, Pollable, StreamError, StreamResult};

/// One call's disk budget, shared by its file streams.
#[derive(Debug)]
pub struct DiskBudget {
    limit: u64,
    used: AtomicU64,
    exceeded: AtomicBool,
}

impl DiskBudget {
    pub fn new(limit: u64) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicU64::new(0),
            exceeded: AtomicBool::new(false),
        })
    }

    /// Take `n` bytes from the budget; `false` (and nothing taken) if they do not fit.
    pub fn charge(&self, n: u64) -> bool {
        let fits = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(n).filter(|&total| total <= self.limit)
            })
            .is_ok();
        if !fits {
            self.exceeded.store(true, Ordering::SeqCst);
        }
        fits
    }

    /// Did the call try to write past its limit?
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::SeqCst)
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }
}

/// A file's output stream that takes what it writes from the call's budget.
pub struct MeteredStream {
    inner: DynOutputStream,
    budget: Arc<DiskBudget>,
}

impl MeteredStream {
    pub fn wrap(inner: DynOutputStream, budget: Arc<DiskBudget>) -> DynOutputStream {
        Box::new(Self { inner, budget })
    }

    fn charge(&self, n: usize) -> StreamResult<()> {
        if self.budget.charge(n as u64) {
            Ok(())
        } else {
            Err(StreamError::LastOperationFailed(wasmtime::format_err!(
                "the call's disk limit of {} bytes is used up",
                self.budget.limit
            )))
        }
    }
}

#[async_trait::async_trait]
impl Pollable for MeteredStream {
    async fn ready(&mut self) {
        self.inner.ready().await
    }
}

#[async_trait::async_trait]
impl OutputStream for MeteredStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.charge(bytes.len())?;
        self.inner.write(bytes)
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.inner.check_write()
    }

    async fn blocking_write_and_flush(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.charge(bytes.len())?;
        self.inner.blocking_write_and_flush(bytes).await
    }

    fn write_zeroes(&mut self, nelem: usize) -> StreamResult<()> {
        self.charge(nelem)?;
        self.inner.write_zeroes(nelem)
    }

    async fn write_ready(&mut self) -> StreamResult<usize> {
        self.inner.write_ready().await
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_takes_what_fits_and_remembers_what_did_not() {
        let budget = DiskBudget::new(100);
        // (bytes, taken?)
        let steps = [(60, true), (50, false), (40, true), (1, false), (0, true)];
        for (n, taken) in steps {
            assert_eq!(budget.charge(n), taken, "{n}");
        }
        assert!(budget.exceeded());
        assert!(!DiskBudget::new(0).exceeded());
        assert!(!DiskBudget::new(10).charge(u64::MAX));
    }
}
