//! One function per subcommand: glue between the command line and the library, no domain logic.

pub mod assess;
pub mod baselines;
pub mod bundle;
pub mod compare;
pub mod history;
pub mod import;
pub mod probe;
pub mod project;
pub mod report;
pub mod run;
mod run_io;
pub mod slurm;
pub mod smoke;

use crate::cli::{Cli, Command};
pub use crate::node::safe_name;
pub use crate::report::text_table;
pub use crate::results::io::default_report_dir;
use std::io::Write;

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => assess::assess(&crate::cli::AssessArgs::default()),
        Some(Command::Assess(a)) => assess::assess(&a),
        Some(Command::Probe(a)) => probe::probe(&a),
        Some(Command::Run(a)) => run::run(&a),
        Some(Command::Report(a)) => report::report(&a),
        Some(Command::Baselines(a)) => baselines::baselines(&a),
        Some(Command::Compare(a)) => compare::compare(&a),
        Some(Command::Project(a)) => project::project(&a),
        Some(Command::Import(a)) => import::import(&a),
        Some(Command::Slurm(a)) => slurm::slurm(&a),
        Some(Command::Smoke(a)) => smoke::smoke(&a),
        Some(Command::History(a)) => history::history(&a),
        Some(Command::Bundle(a)) => bundle::bundle(&a),
        Some(Command::ImportBundle(a)) => bundle::import_bundle(&a),
    }
}

/// Records a run written to `file` in the history (unless --no-history) and says how it compares
/// with the same host's earlier runs; a history that cannot be written is said, never fatal.
pub fn remember(
    history: &crate::cli::HistoryArg,
    kind: &str,
    results: &crate::results::Results,
    file: &std::path::Path,
) -> Option<crate::history::regress::Check> {
    crate::history::record(&history.location(), &history.rule(), kind, results, file)
}

/// Prints to stdout. A closed pipe (`| head`) ends the process quietly with 0; any other write
/// error (a full disk: `> /dev/full`) is an error, exit 1.
pub fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        // The reader went away (`| head`): not an error, as for ripgrep; what was measured is
        // already on disk.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        // A full disk or a closed descriptor: the output is lost, so the command failed.
        Err(e) => Err(anyhow::anyhow!("writing to standard output: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names_and_tables() {
        assert_eq!(safe_name("node-1.cluster"), "node-1.cluster");
        assert_eq!(safe_name("<script>/x"), "_script__x");
        // A 300-character host name still makes a valid directory name.
        let long = safe_name(&"h".repeat(300));
        assert_eq!(long.len(), 64);
        let dir = default_report_dir(&"h".repeat(300), 0.0);
        assert!(dir.file_name().unwrap().len() < 255);
        let t = text_table(&["a", "bb"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "a    bb\n---  --\nxyz  1\n");
    }
}
