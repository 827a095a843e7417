//! The `hpcready` binary: parse, run, print the error chain, exit with the code DESIGN.md sets.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match hpcready::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with 0; usage errors to stderr with 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match hpcready::commands::dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(hpcready::error::exit_code(&err))
        }
    }
}
