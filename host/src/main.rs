//! `chitin`: run signed WebAssembly skills with exactly the capabilities they declare.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
