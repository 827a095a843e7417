//! `hpcready run --bench io`: the file-system bench on a directory, alone or on every rank of
//! `srun`/`mpirun` at once (see [`crate::storage`] for the method).

use super::{default_report_dir, emit, text_table};
use crate::cli::RunArgs;
use crate::comm::{self, Communicator};
use crate::error::{WorkFailed, input_error};
use crate::node::Inventory;
use crate::node::env::Env;
use crate::results::io::ResultsWriter;
use crate::results::{RankLayout, Results};
use crate::storage::fs::FsInfo;
use crate::storage::{self, IoOp, IoPlan, StorageRun, WorkDir};
use std::path::PathBuf;

/// The directory asked for, else `$SCRATCH`, else the working directory: checked to be a
/// writable directory, canonical.
fn directory(args: &RunArgs, env: &Env) -> anyhow::Result<PathBuf> {
    let (dir, flag) = match (&args.dir, env.vars.get("SCRATCH").filter(|s| !s.is_empty())) {
        (Some(d), _) => (d.clone(), "--dir"),
        (None, Some(s)) => (PathBuf::from(s), "$SCRATCH"),
        (None, None) => (env.cwd.clone(), "the working directory"),
    };
    let name = format!("{flag} {}", dir.display());
    let meta = std::fs::metadata(&dir).map_err(|e| {
        input_error(
            &name,
            match e.kind() {
                std::io::ErrorKind::NotFound => "no such directory".to_string(),
                _ => format!("cannot be read: {e}"),
            },
        )
    })?;
    if !meta.is_dir() {
        return Err(input_error(&name, "not a directory"));
    }
    let dir = dir
        .canonicalize()
        .map_err(|e| input_error(&name, format!("cannot be resolved: {e}")))?;
    let probe = dir.join(format!(".hpcready-io-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| input_error(&name, format!("not writable: {e}")))?;
    let _ = std::fs::remove_file(probe);
    Ok(dir)
}

/// Every rank's `Ok`, or every rank fails: this rank with its own error, the others saying
/// another rank's input was refused (no rank is left waiting at a barrier).
fn agree<T>(comm: &dyn Communicator, r: anyhow::Result<T>) -> anyhow::Result<T> {
    let bad = comm.max_f64(if r.is_err() { 1.0 } else { 0.0 });
    match r {
        Ok(_) if bad > 0.0 => Err(input_error(
            "--bench io",
            "another rank refused its input (its message says why)",
        )),
        r => r,
    }
}

/// The free space the checks use: the file system's, or a test's (`HPCREADY_TEST_IO_FREE`: a
/// file system that fills up while the bench runs, as a shared one does).
fn free_space(fs: &FsInfo) -> u64 {
    #[cfg(feature = "test-hooks")]
    if let Some(b) = std::env::var("HPCREADY_TEST_IO_FREE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return b;
    }
    fs.free_bytes
}

/// `run --bench io`.
pub fn run_io(args: &RunArgs) -> anyhow::Result<()> {
    if let Some(other) = args.benches().filter(|b| !b.is_empty()) {
        return Err(input_error(
            "--bench",
            format!(
                "io runs on its own (its own results file); run {} in a separate `hpcready run`",
                other.iter().map(|b| b.name()).collect::<Vec<_>>().join(",")
            ),
        ));
    }
    let env = Env::real();
    let launch = comm::job::Launch::from_env();
    let comm = comm::world(&launch)?;
    let rank0 = comm.rank() == 0;
    let dir = agree(comm.as_ref(), directory(args, &env))?;
    let fs = FsInfo::of(&env, &dir);
    let hosts = comm.hosts();
    let hosts = crate::comm::torch::test_hosts(hosts.len()).unwrap_or(hosts);
    let me = &hosts[comm.rank()];
    let local = hosts.iter().filter(|h| *h == me).count() as u64;
    let nodes = {
        let mut h = hosts.clone();
        h.sort();
        h.dedup();
        h.len()
    };
    // Rank 0 probes the node and picks the default size; every rank gets it.
    let node = rank0.then(Inventory::probe);
    let free = free_space(&fs);
    let picked: anyhow::Result<(u64, String)> = match (args.checkpoint_bytes, &node) {
        (Some(b), _) => Ok((b, "--checkpoint-bytes".into())),
        (None, Some(n)) => {
            let presets = crate::bench::suites::train_presets(args.suite, n.gpu_count() > 0);
            storage::default_checkpoint(&presets, free)
                .map(|(total, why)| (total.div_ceil(comm.size() as u64).max(1 << 20), why))
                .ok_or_else(|| {
                    input_error(
                        format!("--dir {}", dir.display()),
                        format!(
                            "only {} free: too little for the smallest training preset's \
                             checkpoint; give a size with --checkpoint-bytes",
                            crate::node::human_bytes(free)
                        ),
                    )
                })
        }
        (None, None) => Ok((0, String::new())),
    };
    let (shard0, basis) = agree(comm.as_ref(), picked)?;
    let shard = comm.max_f64(shard0 as f64) as u64;
    let fits = if shard.saturating_mul(local) > free {
        Err(input_error(
            format!("--dir {}", dir.display()),
            format!(
                "{} free, but this node's {local} rank(s) would write {} each",
                crate::node::human_bytes(free),
                crate::node::human_bytes(shard)
            ),
        ))
    } else {
        Ok(())
    };
    agree(comm.as_ref(), fits)?;

    storage::ops::catch_interrupts();
    let (meter, status) = crate::node::energy::MeterStatus::discover(&env, args.no_energy);
    let meter = meter.filter(|_| rank0);
    let files = args.files;
    let mut created = Ok(None);
    if let Some(node) = node {
        let out = args.out.clone().unwrap_or_else(|| {
            default_report_dir(&node.host, crate::timefmt::now_unix()).join("results.json")
        });
        let mut results = Results::new(node, std::env::args().collect(), None);
        results.planned = IoOp::ALL.len();
        results.energy_meter = Some(status);
        results.node.checklist.push(fs.check(&dir));
        if comm.size() > 1 {
            results.ranks = Some(RankLayout {
                size: comm.size(),
                hosts: hosts.clone(),
                library: comm.library(),
                launcher: match &launch {
                    comm::job::Launch::Job(j) => j.launcher.to_string(),
                    _ => "single process".into(),
                },
                transport: None,
            });
        }
        results.storage = Some(StorageRun {
            dir: dir.display().to_string(),
            fs: fs.clone(),
            ranks: comm.size(),
            nodes,
            shard_bytes: shard,
            size_basis: basis,
            files_per_rank: files,
            samples_per_rank: (shard / storage::ops::SAMPLE).clamp(1, storage::MAX_SAMPLES as u64),
            phases: Vec::new(),
            caveats: Vec::new(),
        });
        created = ResultsWriter::create(out, results).map(Some);
    }
    // A refused --out stops every rank before any file is written under --dir.
    let mut writer = agree(comm.as_ref(), created)?;
    if let Some(run) = writer.as_ref().and_then(|w| w.results().storage.as_ref()) {
        crate::say!(
            "io: {} on {} ({}), {} rank(s) on {} node(s), a {} shard each ({}); files under \
             {}/hpcready-io-*, removed at the end",
            run.dir,
            run.fs.fs_type,
            run.fs.mount,
            run.ranks,
            run.nodes,
            crate::node::human_bytes(run.shard_bytes),
            run.size_basis,
            run.dir
        );
    }
    let work = agree(
        comm.as_ref(),
        WorkDir::create(&dir, comm.rank()).map_err(|e| {
            input_error(
                format!("--dir {}", dir.display()),
                format!("cannot create this rank's directory: {e}"),
            )
        }),
    )?;

    let plan = IoPlan {
        dir: dir.clone(),
        shard_bytes: shard,
        files,
        timeout: std::time::Duration::from_secs(args.timeout),
        corrupt: cfg!(feature = "test-hooks")
            && std::env::var_os("HPCREADY_TEST_IO_CORRUPT").is_some(),
    };
    let outcome = storage::run(&plan, &work, comm.as_ref(), meter.as_ref(), |p| {
        if let Some(w) = writer.as_mut() {
            crate::say!("{}: {}", p.op.name(), p.display_rate());
            w.results_mut()
                .storage
                .as_mut()
                .expect("set above")
                .phases
                .push(p.clone());
            w.save()?;
        }
        Ok(())
    });
    drop(work);
    if let Err(e) = &outcome
        && comm.size() > 1
    {
        // Every rank names its own failure; rank 0 keeps what was measured.
        crate::say!("error: rank {}: {e:#}", comm.rank());
    }
    let Some(mut w) = writer else {
        return outcome.map_err(|_| WorkFailed("the I/O bench stopped".into()).into());
    };
    let run = w.results_mut().storage.as_mut().expect("set above");
    if let Some(c) = run.size_caveat() {
        run.caveats.push(c);
    }
    for p in &run.phases {
        if let Some(r) = p.resident.filter(|r| *r > 0.05) {
            run.caveats.push(format!(
                "{}: {:.0}% of the shard was still in the page cache when the read began \
                 (posix_fadvise(DONTNEED) did not drop it{}): that part was read from memory",
                p.op.name(),
                r * 100.0,
                if fs.fs_type == "tmpfs" {
                    "; tmpfs keeps its files in memory"
                } else {
                    ""
                }
            ));
        }
    }
    if let Err(e) = &outcome {
        run.caveats.push(format!("stopped: {e:#}"));
    }
    let unverified = run.phases.iter().any(|p| p.verified == Some(false));
    let path = w.path().to_path_buf();
    let results = w.finish(outcome.is_ok())?;
    emit(&io_table(results.storage.as_ref().expect("set above")))?;
    emit(&format!("\nresults: {}\n", path.display()))?;
    super::remember(&args.history, "run", &results, &path);
    if let Err(e) = outcome {
        return Err(WorkFailed(format!("the I/O bench stopped: {e:#}")).into());
    }
    if unverified {
        return Err(WorkFailed(
            "the checkpoint read back with a different checksum: the file system returned \
             other data than was written"
                .into(),
        )
        .into());
    }
    Ok(())
}

/// The phases as a text table.
fn io_table(run: &StorageRun) -> String {
    let rows: Vec<Vec<String>> = run
        .phases
        .iter()
        .map(|p| {
            vec![
                p.op.name().into(),
                p.display_rate(),
                format!("{:.3} s", p.seconds),
                p.rank_range(),
                match p.verified {
                    Some(true) => "checksum ok".into(),
                    Some(false) => "CHECKSUM MISMATCH".into(),
                    None => String::new(),
                },
            ]
        })
        .collect();
    let mut t = text_table(
        &[
            "phase",
            "rate (all ranks)",
            "slowest rank",
            "rank range",
            "check",
        ],
        &rows,
    );
    for c in &run.caveats {
        t.push_str(&format!("note: {c}\n"));
    }
    t
}
