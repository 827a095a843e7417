//! The `hpcready` binary: parse, run, print the error chain, exit with the code DESIGN.md sets.

use clap::Parser;
use std::process::ExitCode;

/// Mesa's Vulkan loader (through libwayland) prints "error: XDG_RUNTIME_DIR is invalid or not
/// set in the environment." on every GPU enumeration when the variable is unset, as it is under
/// `sudo`, cron, Slurm batch jobs and containers; it reads like an hpcready error. Give it a
/// private directory when there is none.
fn quiet_window_system_probe() {
    let valid = std::env::var_os("XDG_RUNTIME_DIR")
        .map(std::path::PathBuf::from)
        .is_some_and(|p| p.is_absolute() && p.is_dir());
    if valid {
        return;
    }
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let dir = std::env::temp_dir().join(format!("hpcready-runtime-{uid}"));
    let made = std::fs::DirBuilder::new()
        .recursive(true)
        .create(&dir)
        .and_then(|_| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        });
    if made.is_ok() {
        // SAFETY: called first thing in main, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}

fn main() -> ExitCode {
    quiet_window_system_probe();
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
            hpcready::say!("error: {err:#}");
            ExitCode::from(hpcready::error::exit_code(&err))
        }
    }
}
