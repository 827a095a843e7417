//! `hpcready assess` (and bare `hpcready`): inventory, suite, comparison, report.

use super::report::{build_report_with, summary};
use super::run::{MeasureRequest, fail_on_invalid, measure};
use super::{default_report_dir, emit};
use crate::bench::suites::Selection;
use crate::cli::AssessArgs;
use crate::node::Inventory;
use crate::profiles;
use crate::report::Format;

/// `hpcready assess`.
pub fn assess(args: &AssessArgs) -> anyhow::Result<()> {
    // Check every input before measuring anything.
    if let Some(l) =
        crate::comm::launcher::detect(|k| std::env::var(k).ok()).filter(|l| l.ranks > 1)
    {
        return Err(crate::error::input_error(
            format!("{}={}", l.var, l.ranks),
            format!(
                "{} started {} processes: assess measures one node as one process. Run it \
                 with one task (`srun -n 1 hpcready assess`), the all-reduce with \
                 `srun … hpcready run --bench allreduce`, or let `hpcready slurm` write a job \
                 that does both and one report",
                l.launcher, l.ranks
            ),
        ));
    }
    let profile = profiles::lookup(&args.baseline)?;
    let node = Inventory::probe();
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| default_report_dir(&node.host, crate::timefmt::now_unix()));
    crate::results::io::ensure_writable_dir(&dir, "--out")?;
    crate::say!(
        "hpcready {}: assessing {} ({}, {} threads) against {}",
        env!("CARGO_PKG_VERSION"),
        node.host,
        node.cpu.model,
        node.cpu.usable_threads,
        profile.name
    );
    let req = MeasureRequest {
        selection: Selection::suite(args.suite),
        backend: args.backend,
        device: args.device.clone(),
        sampling: args.sampling,
        out: dir.join("results.json"),
        python: args.python.resolve()?,
        timeout: std::time::Duration::from_secs(300),
        compile: false,
        energy: true,
    };
    let results = measure(&req, node)?;
    let history = super::remember(&args.history, "assess", &results, &req.out);
    let (comparison, _) = build_report_with(
        &results,
        &[],
        history.as_ref(),
        &profile,
        &Format::ALL,
        &dir,
    )?;
    emit(&summary(&comparison))?;
    emit(&format!(
        "\nReport: {}\n",
        dir.join("report.html").display()
    ))?;
    fail_on_invalid(&results)
}
