//! `chitin`: run signed WebAssembly skills with exactly the capabilities they declare.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`chitin skill audit x | head`) instead of panicking on a broken pipe.
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // wasmtime builds an error, and with it a backtrace, each time a store is dropped:
    // with `RUST_BACKTRACE` set (common on developers' machines) that was a fifth of a
    // call's instructions (`benches/invoke`). Library backtraces are off unless asked
    // for by name; panics still honour `RUST_BACKTRACE`.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: as above, no other thread exists yet.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    cli::main()
}
