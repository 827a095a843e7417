//! `hpcready`: tells an AI team whether a supercomputer node is ready for the training they run
//! today on a hyperscaler.
//!
//! Modules depend one way, with no circle between them: the leaves [`error`], [`float`],
//! [`stats`] and [`timefmt`]; [`node`] (the machine) and [`bench`] (what is measured);
//! [`profiles`] (the baselines); [`results`] (the schema every measurement is recorded in) and
//! [`history`] (runs kept over time); the producers, which fill results in: a [`backend`]'s
//! kernels timed by [`measure`], collectives in [`comm`], file I/O in [`storage`] and other
//! tools' logs read by [`import`]; then [`assess`] decides and [`report`] renders what it
//! decided. The [`commands`] module (with [`cli`]) is the glue the binary calls; nothing below
//! it knows about the command line.

#![deny(clippy::print_stderr, clippy::print_stdout)]

/// `eprintln!` that never panics: a message to stderr that cannot be written (`2>/dev/full`, a
/// closed pipe) is dropped, so a failed diagnostic never turns into a crash (exit 101) or hides
/// the exit code.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod assess;
pub mod backend;
pub mod bench;
pub mod cli;
pub mod comm;
pub mod commands;
pub mod error;
pub mod float;
pub mod history;
pub mod import;
pub mod measure;
pub mod node;
pub mod profiles;
pub mod report;
pub mod results;
pub mod stats;
pub mod storage;
pub mod timefmt;

pub use error::InputError;
