//! `run --backend torch` across ranks: the command line turned into a [`torch::Plan`] for the
//! driver in `comm::torch`, and what rank 0 wrote printed.

use super::{allreduce_row, allreduce_table, emit, fail_on_invalid};
use crate::bench::{BenchKind, DType};
use crate::cli::{RunArgs, Sampling};
use crate::comm::job::Launch;
use crate::comm::{allreduce, torch};
use crate::error::input_error;
use std::time::Duration;

/// `run --backend torch` under a launcher (see [`torch::run`]).
pub(super) fn run_torch_collective(args: &RunArgs, launch: &Launch) -> anyhow::Result<()> {
    let plan = torch::Plan {
        benches: checked_request(args)?,
        sizes: args.sizes.clone(),
        dtype: args.dtype.clone(),
        suite: args.suite,
        smoke: args.sampling == Sampling::Smoke,
        timeout: Duration::from_secs(args.timeout),
        python: args.python.resolve()?,
        out: args.out.clone(),
        compile: args.compile,
        energy: !args.no_energy,
    };
    let Some(w) = torch::run(&plan, launch)? else {
        return Ok(());
    };
    let rows: Vec<Vec<String>> = w
        .results
        .measurements
        .iter()
        .filter(|m| m.bench == BenchKind::Allreduce)
        .map(allreduce_row)
        .collect();
    emit(&allreduce_table(&rows))?;
    emit(&format!("\nresults: {}\n", w.path.display()))?;
    crate::commands::remember(&args.history, "run", &w.results, &w.path);
    fail_on_invalid(&w.results)
}

/// The benchmarks asked for across ranks (all-reduce and the data-parallel step by default),
/// with the sizes and data types checked.
fn checked_request(args: &RunArgs) -> anyhow::Result<Vec<BenchKind>> {
    let benches = args
        .benches()
        .unwrap_or_else(|| vec![BenchKind::Allreduce, BenchKind::Train]);
    if let Some(other) = benches
        .iter()
        .find(|b| !matches!(b, BenchKind::Allreduce | BenchKind::Train))
    {
        return Err(input_error(
            "--bench",
            format!(
                "across ranks torch measures allreduce and train (data-parallel); {other} runs \
                 as one process per node: run it in a separate step (`hpcready run --backend \
                 torch --bench {other}` alone); `hpcready slurm` writes such a job"
            ),
        ));
    }
    if let Some(sizes) = &args.sizes {
        allreduce::check_sizes(sizes)?;
    }
    if let Some(bad) = args
        .dtype
        .iter()
        .flatten()
        .find(|d| !matches!(d, DType::F32 | DType::Bf16))
    {
        return Err(input_error(
            "--dtype",
            format!(
                "{bad}: all-reduce sums f32 buffers, and the training step runs in bf16 \
                 autocast or f32"
            ),
        ));
    }
    Ok(benches)
}
