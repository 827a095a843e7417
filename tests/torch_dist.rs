//! torch.distributed across 4 ranks under `mpirun` (gloo on the CPU), with the test hooks: a
//! rank that hangs, dies or corrupts its data ends or fails the job as it should, naming the
//! rank, with the finished sizes on disk; the NCCL/RCCL transport reader runs end to end from
//! captured-style INFO lines to the report's checklist; launches that cannot form the job are
//! refused with the fix. Needs `--features test-hooks`, mpirun and target/torch-venv.
#![cfg(feature = "test-hooks")]

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn ready() -> Option<PathBuf> {
    let py = torch_python()?;
    let has_mpirun = Command::new("mpirun")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_mpirun {
        assert!(
            std::env::var_os("HPCREADY_REQUIRE_TORCH_TESTS").is_none(),
            "mpirun is missing"
        );
        return None;
    }
    Some(py)
}

/// `mpirun -np 4 hpcready run --backend torch --bench allreduce` in `dir`, sizes 8, 1000 and
/// 65536, a 15 s limit per step, with `env` set.
fn torch_mpirun(py: &Path, dir: &Path, env: &[(&str, &dyn AsRef<std::ffi::OsStr>)]) -> Output {
    let mut c = mpirun4(300);
    c.args(torch_allreduce(py, "8,1000,65536", "15"))
        .arg("--out")
        .arg(dir.join("ar.json"))
        .current_dir(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// `mpirun -np 4` (as root, oversubscribed) under `timeout LIMIT`.
fn mpirun4(limit: u32) -> Command {
    let mut c = Command::new("timeout");
    c.arg(limit.to_string()).args([
        "mpirun",
        "--allow-run-as-root",
        "--oversubscribe",
        "-np",
        "4",
    ]);
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn results(dir: &Path) -> serde_json::Value {
    read_json(&dir.join("ar.json"))
}

fn finished(dir: &Path) -> Vec<(u64, bool)> {
    placements(&results(dir))
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".hpcready"))
        .collect()
}

#[test]
fn a_hung_rank_aborts_the_job_within_the_timeout_naming_it() {
    let Some(py) = ready() else { return };
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let o = torch_mpirun(&py, dir.path(), &[("HPCREADY_FAULT", &"hang:2:1000")]);
    let all = text(&o);
    assert!(!o.status.success(), "{all}");
    assert!(t.elapsed() < Duration::from_secs(90), "{:?}", t.elapsed());
    assert!(
        all.contains(
            "allreduce of 1000 B (out of place) through torch.distributed (gloo) did not \
             finish within 15 s: rank 2 did not answer"
        ),
        "{all}"
    );
    assert_eq!(results(dir.path())["complete"], false);
    assert_eq!(finished(dir.path()), [(8, false), (8, true)]);
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}

#[test]
fn a_dead_rank_ends_the_job_naming_it_and_finished_sizes_are_kept() {
    let Some(py) = ready() else { return };
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let o = torch_mpirun(&py, dir.path(), &[("HPCREADY_FAULT", &"kill:1:1000")]);
    let all = text(&o);
    assert!(!o.status.success(), "{all}");
    assert!(t.elapsed() < Duration::from_secs(90), "{:?}", t.elapsed());
    assert!(all.contains("failed on rank 0"), "{all}");
    assert!(all.contains("rank 1 did not answer"), "{all}");
    // (The dead rank's own line may be cut: mpirun ends the job as rank 0 exits.)
    assert_eq!(finished(dir.path()), [(8, false), (8, true)]);
}

#[test]
fn a_wrong_element_fails_its_size_and_the_others_pass() {
    let Some(py) = ready() else { return };
    let dir = tempfile::tempdir().unwrap();
    let o = torch_mpirun(&py, dir.path(), &[("HPCREADY_FAULT", &"corrupt:3:1000")]);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(
        all.contains("1 wrong elements over all 4 ranks, first at index 249"),
        "{all}"
    );
    let r = results(dir.path());
    assert_eq!(r["complete"], true);
    let passed: Vec<(u64, bool)> = r["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["shape"]["bytes"].as_u64().unwrap(),
                m["verification"]["passed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        passed,
        [
            (8, true),
            (8, true),
            (1000, false),
            (1000, false),
            (65536, true),
            (65536, true)
        ]
    );
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}

/// NCCL's INFO lines as a node with Slingshot but no OFI plugin prints them: the checklist fails
/// the transport item quoting the line, with the fix, in results.json and in the report.
#[test]
fn a_socket_fallback_on_slingshot_fails_the_checklist_with_the_fix() {
    let Some(py) = ready() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("sys/class/cxi/cxi0")).unwrap();
    let log = dir.path().join("nccl.log");
    std::fs::write(
        &log,
        "nid005:77:77 [0] NCCL INFO Bootstrap : Using nmn0:10.252.1.9<0>\n\
         nid005:77:77 [0] NCCL INFO NET/Plugin: Could not find: librccl-net.so. Using internal network plugin.\n\
         nid005:77:77 [0] NCCL INFO NET/IB : No device found.\n\
         nid005:77:77 [0] NCCL INFO NET/Socket : Using [0]hsn0:10.253.6.9<0>\n\
         nid005:77:77 [0] NCCL INFO Using network Socket\n",
    )
    .unwrap();
    let o = torch_mpirun(
        &py,
        dir.path(),
        &[
            ("HPCREADY_TEST_NCCL_LOG", &log),
            ("HPCREADY_TEST_ROOT", &root),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let r = results(dir.path());
    assert_eq!(r["node"]["fabric"], "slingshot");
    assert_eq!(r["ranks"]["transport"]["network"]["kind"], "socket");
    let item = r["node"]["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "collective-transport")
        .cloned()
        .expect("a transport item");
    assert_eq!(item["status"], "fail", "{item}");
    assert!(
        item["finding"]
            .as_str()
            .unwrap()
            .contains("\"Using network Socket\""),
        "{item}"
    );
    assert!(
        item["advice"].as_str().unwrap().contains("FI_PROVIDER=cxi"),
        "{item}"
    );
    let report = dir.path().join("report");
    hpcready()
        .args(["report"])
        .arg(dir.path().join("ar.json"))
        .arg("--out")
        .arg(&report)
        .assert()
        .success();
    let md = read(&report.join("report.md"));
    assert!(md.contains("Using network Socket"), "{md}");
    assert!(md.contains("aws-ofi-rccl"), "{md}");
}

/// A launcher's rank count that torch's own variables contradict, and a batch script that
/// runs the command as one process, are refused with the fix before anything runs.
#[test]
fn launches_that_cannot_form_one_job_are_refused() {
    let Some(py) = ready() else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = |env: &[(&str, &str)]| {
        let mut c = hpcready();
        c.args(TORCH_ALLREDUCE)
            .arg(&py)
            .current_dir(dir.path())
            .env_remove("OMPI_COMM_WORLD_SIZE")
            .env_remove("SLURM_JOB_ID");
        for (k, v) in env {
            c.env(k, v);
        }
        c.assert().code(2).get_output().stderr.clone()
    };
    let e = run(&[
        ("SLURM_PROCID", "0"),
        ("SLURM_STEP_NUM_TASKS", "4"),
        ("SLURM_STEP_ID", "0"),
        ("SLURM_JOB_ID", "7"),
        ("WORLD_SIZE", "1"),
        ("RANK", "0"),
    ]);
    let e = String::from_utf8_lossy(&e);
    assert!(
        e.contains("srun started 4 ranks") && e.contains("WORLD_SIZE=1"),
        "{e}"
    );
    let e = run(&[
        ("SLURM_JOB_ID", "7"),
        ("SLURM_NTASKS", "4"),
        ("SLURM_PROCID", "0"),
    ]);
    let e = String::from_utf8_lossy(&e);
    assert!(e.contains("batch script"), "{e}");
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}

/// `mpirun -np 4 hpcready run --backend torch --bench train`, smoke sampling, in `dir`.
fn ddp_mpirun(py: &Path, dir: &Path, fault: Option<&str>, root: Option<&Path>) -> Output {
    let mut c = mpirun4(600);
    c.arg(env!("CARGO_BIN_EXE_hpcready"))
        .args([
            "run",
            "--backend",
            "torch",
            "--bench",
            "allreduce,train",
            "--python",
        ])
        .arg(py)
        // About the CI preset's gradients (656,000 f32), for the projection check.
        .args([
            "--sizes",
            "2621440",
            "--sampling",
            "smoke",
            "--timeout",
            "300",
            "--out",
        ])
        .arg(dir.join("ar.json"))
        .current_dir(dir);
    if let Some(f) = fault {
        c.env("HPCREADY_FAULT", f);
    }
    if let Some(r) = root {
        c.env("HPCREADY_TEST_ROOT", r);
    }
    c.output().unwrap()
}

/// The CI training preset alone on each of 4 ranks, then in DistributedDataParallel: both
/// verified (the loss falls; the ranks' parameters identical), the scaling efficiency recorded
/// against the single-rank step; a rank whose weights drift fails the check.
#[test]
fn the_data_parallel_step_trains_across_four_ranks_with_identical_parameters() {
    let Some(py) = ready() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Rank 0's node has a (fake, static) RAPL counter: recorded while the harness times the
    // steps, and read over the window the harness reports.
    let zone = dir.path().join("node/sys/class/powercap/intel-rapl:0");
    std::fs::create_dir_all(&zone).unwrap();
    std::fs::write(zone.join("energy_uj"), "1000\n").unwrap();
    let o = ddp_mpirun(&py, dir.path(), None, Some(&dir.path().join("node")));
    let all = text(&o);
    assert!(o.status.success(), "{all}");
    assert!(all.contains("scaling efficiency"), "{all}");
    let r = results(dir.path());
    let ms = r["measurements"].as_array().unwrap();
    assert_eq!(ms.len(), 5, "{ms:?}");
    let ms = &ms[2..];
    assert_eq!(ms[0]["method"], "torch/train-llama");
    assert_eq!(ms[1]["method"], "torch/train-llama-ddp");
    // The same step sharded (FSDP2), verified by its falling loss, scaled against the same
    // single-rank step.
    assert_eq!(ms[2]["method"], "torch/train-llama-fsdp");
    assert!(
        ms[2]["verification"]["reference"]
            .as_str()
            .unwrap()
            .contains("FSDP2, parameters sharded across 4 ranks"),
        "{}",
        ms[2]["verification"]
    );
    assert_eq!(ms[2]["train"]["data_parallel"]["ranks"], 4);
    assert!(
        ms[2]["variant"]
            .as_str()
            .unwrap()
            .contains("FSDP2 (fully_shard per block)")
    );
    assert_eq!(
        ms[1]["device"],
        ms[0]["device"]
            .as_str()
            .map(|d| format!("4 ranks × {d}"))
            .unwrap()
    );
    for m in ms {
        assert_eq!(m["verification"]["passed"], true, "{m}");
        // The smoke steps are far shorter than the counter needs: said, never a zero.
        let why = m["energy"]["why"].as_str().unwrap_or_default();
        assert!(
            why.contains("under the 0.5 s rapl needs") || why.contains("did not move"),
            "{m}"
        );
    }
    assert_eq!(r["energy_meter"]["method"], "rapl");
    // The all-reduce sizes too, over the window the harness timed.
    for m in &r["measurements"].as_array().unwrap()[..2] {
        assert_eq!(m["bench"], "allreduce");
        assert_eq!(m["energy"]["status"], "not-measured", "{m}");
    }
    assert!(
        ms[1]["verification"]["reference"]
            .as_str()
            .unwrap()
            .contains("parameters identical"),
        "{}",
        ms[1]["verification"]
    );
    let (single, dp) = (&ms[0]["train"], &ms[1]["train"]["data_parallel"]);
    assert_eq!(dp["ranks"], 4);
    assert_eq!(dp["nodes"], 1);
    let eff = dp["efficiency"].as_f64().unwrap();
    let expect =
        ms[1]["train"]["tokens_per_s"].as_f64().unwrap() / single["tokens_per_s"].as_f64().unwrap();
    assert!((eff - expect).abs() < 1e-9, "{eff} {expect}");
    assert_eq!(single["micro_batch"], ms[1]["train"]["micro_batch"]);
    let report = dir.path().join("report");
    hpcready()
        .arg("report")
        .arg(dir.path().join("ar.json"))
        .arg("--out")
        .arg(&report)
        .assert()
        .success();
    let md = read(&report.join("report.md"));
    assert!(md.contains("scaling efficiency"), "{md}");
    assert!(
        md.contains("projection check, L=2 d=128") && md.contains("measured gradient all-reduce"),
        "{md}"
    );

    let bad = tempfile::tempdir().unwrap();
    let o = ddp_mpirun(&py, bad.path(), Some("corrupt:2:0"), None);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(all.contains("parameters differ"), "{all}");
}

/// One report of one machine from three results files: torch.distributed (gloo) and MPI
/// all-reduce measured here across 4 ranks, and an imported nccl-tests log. Each is a row of
/// the communication table labelled by its method, with a note on what it measured, beside the
/// baseline's nccl-tests and all_reduce_bench rows.
#[cfg(feature = "mpi")]
#[test]
fn the_report_shows_torch_mpi_and_imported_all_reduce_each_by_method() {
    let Some(py) = ready() else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str], out: &str| {
        let o = mpirun4(300)
            .arg(env!("CARGO_BIN_EXE_hpcready"))
            .args(["run", "--bench", "allreduce", "--sizes", "1048576"])
            .args(["--sampling", "smoke", "--timeout", "60"])
            .args(extra)
            .arg("--out")
            .arg(dir.path().join(out))
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    };
    let py = py.to_str().unwrap();
    run(&["--backend", "torch", "--python", py], "torch.json");
    run(&[], "mpi.json");
    import_nccl_2node(&dir.path().join("nccl.json"));
    let rep = dir.path().join("rep");
    hpcready()
        .current_dir(dir.path())
        .args(["report", "torch.json", "mpi.json", "nccl.json"])
        .args(["--baseline", "aws-p5en.48xlarge", "--format", "md", "--out"])
        .arg(&rep)
        .assert()
        .success();
    let md = read(&rep.join("report.md"));
    let table: Vec<&str> = md
        .lines()
        .skip_while(|l| !l.starts_with("## Communication: all-reduce"))
        .filter(|l| l.starts_with('|'))
        .collect();
    let row = |label: &str| {
        table
            .iter()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("no row {label}:\n{md}"))
            .to_string()
    };
    // Measured here at 1 MiB, in and out of place, 4 ranks on one node.
    for label in [
        "torch/allreduce-gloo in-place, 4 ranks on 1 node",
        "torch/allreduce-gloo out-of-place, 4 ranks on 1 node",
        "mpi in-place, 4 ranks on 1 node",
    ] {
        let line = row(label);
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        assert!(cells[2].ends_with("GB/s"), "{label}: {cells:?}");
    }
    assert!(row("import/nccl-tests").contains("GB/s"));
    // The baseline's two methods, each one row: all_reduce_bench at 1 MiB and 1 GiB.
    // (Markdown escapes the underscores of all_reduce_bench.)
    let arb = row(r"baseline aws-p5en.48xlarge: all\_reduce\_bench");
    assert!(
        arb.contains("39.93 GB/s") && arb.contains("463.6 GB/s"),
        "{arb}"
    );
    assert!(row("baseline aws-p5en.48xlarge: nccl-tests").contains("—"));
    for note in [
        "torch/allreduce-gloo: torch.distributed on gloo",
        "import/…: figures from this machine's own nccl-tests",
        "MPI: hpcready's own all-reduce runs MPI",
    ] {
        assert!(md.contains(note), "{note}:\n{md}");
    }
    // Gloo on CPUs is not set against NCCL figures.
    assert!(!md.contains("torch/allreduce-nccl:"), "{md}");
}

/// A scaling run on one host: the CI preset alone (1 node), then data-parallel on 2 and 4
/// ranks that the test hook names as 2 and 4 nodes, with all-reduces at two sizes. The report
/// over the three files shows the curve and the check on the run (4 nodes projected from 2),
/// and `project --scaling` uses the fitted ring for 64 nodes.
#[test]
fn a_scaling_run_makes_a_curve_checked_on_itself() {
    let Some(py) = ready() else { return };
    let dir = tempfile::tempdir().unwrap();
    let common = |c: &mut Command| {
        c.args(["run", "--backend", "torch", "--python"])
            .arg(&py)
            .args(["--sampling", "smoke", "--timeout", "300"])
            .current_dir(dir.path());
    };
    let mut one = Command::new(env!("CARGO_BIN_EXE_hpcready"));
    common(&mut one);
    let o = one
        .args(["--bench", "train", "--out"])
        .arg(dir.path().join("n1.json"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    for n in [2usize, 4] {
        let mut c = Command::new("timeout");
        c.args([
            "600",
            "mpirun",
            "--allow-run-as-root",
            "--oversubscribe",
            "-np",
        ])
        .arg(n.to_string())
        .arg(env!("CARGO_BIN_EXE_hpcready"));
        common(&mut c);
        let o = c
            .args([
                "--bench",
                "allreduce,train",
                "--sizes",
                "65536,2621440",
                "--out",
            ])
            .arg(dir.path().join(format!("n{n}.json")))
            .env(
                "HPCREADY_TEST_HOSTS",
                (1..=n)
                    .map(|i| format!("nid00{i}"))
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
    let files: Vec<_> = ["n1", "n2", "n4"]
        .iter()
        .map(|f| dir.path().join(format!("{f}.json")))
        .collect();
    let report = dir.path().join("report");
    let said = text(&report_of(&files, &report));
    assert!(said.contains("4 node(s) projected from 2"), "{said}");
    let md = read(&report.join("report.md"));
    assert!(md.contains("## Scaling across nodes"), "{md}");
    assert!(
        md.contains("seq=128, DDP") && md.contains("seq=128, FSDP2"),
        "{md}"
    );
    assert!(
        md.contains("Checked on the run: 4 node(s) projected from 2"),
        "{md}"
    );
    assert!(md.contains("| 4 | 4 |"), "{md}");
    assert!(report.join("scaling-1.svg").is_file());
    let o = hpcready()
        .args([
            "project", "--params", "125M", "--tokens", "10B", "--nodes", "64",
        ])
        .arg("--scaling")
        .args(&files)
        .assert()
        .success()
        .get_output()
        .clone();
    let said = text(&o);
    assert!(
        said.contains("ring all-reduce fitted to the all-reduces measured at 2, 4 node(s)"),
        "{said}"
    );
    // The sharded step is the one projected, as production trains.
    assert!(said.contains("FSDP2's parameter all-gathers"), "{said}");
    assert!(said.contains("across 64 ranks (64 node(s) × 1)"), "{said}");
    assert!(
        said.contains("Checked on the run: 4 node(s) projected from 2"),
        "{said}"
    );
}
