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
    cli::main()
}
