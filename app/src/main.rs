//! The `likeness` binary: the desktop window when run without a subcommand,
//! the command line otherwise. Both talk to the engine only through the
//! engine's `Command`/`Event` channels.

mod cli;
mod import_ui;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    likeness_engine::allocator::keep_freed_memory();
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            // The one place an error reaches the user: one line, non-zero exit.
            eprintln!("likeness: {e:#}");
            ExitCode::FAILURE
        }
    }
}
