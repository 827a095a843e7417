//! All-reduce across real MPI ranks: `mpirun -np 4` on this machine (Debian's Open MPI in CI).
//! Built only with `--features mpi` (`cargo test --features mpi --test mpi`).
#![cfg(feature = "mpi")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const RANKS: &str = "4";

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hpcready"))
}

/// `mpirun --oversubscribe -np 4 hpcready ARGS`, allowed to run as root (CI containers).
fn mpirun(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new("mpirun");
    c.args(["--oversubscribe", "-np", RANKS])
        .arg(bin())
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output()
        .expect("mpirun must be installed for the mpi tests (openmpi-bin)")
}

fn load(p: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const SIZES: &str = "8,12,1024,65536,1048576,4194304";

#[test]
fn sums_are_correct_at_every_size_and_busbw_follows_nccl_tests() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ar/results.json");
    let out_s = out.display().to_string();
    let o = mpirun(
        &[
            "run",
            "--bench",
            "allreduce",
            "--sizes",
            SIZES,
            "--sampling",
            "smoke",
            "--out",
            &out_s,
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let r = load(&out);
    assert_eq!(r["complete"], true);
    assert_eq!(r["ranks"]["size"], 4);
    assert_eq!(r["ranks"]["hosts"].as_array().unwrap().len(), 4);
    let ms = r["measurements"].as_array().unwrap();
    assert_eq!(ms.len(), 12, "6 sizes × out-of-place and in-place");
    for m in ms {
        assert_eq!(m["bench"], "allreduce");
        assert_eq!(m["verification"]["passed"], true, "{m}");
        let bytes = m["shape"]["bytes"].as_f64().unwrap();
        assert_eq!(
            m["verification"]["checked"].as_f64().unwrap(),
            bytes / 4.0 * 4.0
        );
        let c = &m["collective"];
        let (alg, bus, t) = (
            c["algbw_gbs"].as_f64().unwrap(),
            c["busbw_gbs"].as_f64().unwrap(),
            c["time_us"].as_f64().unwrap(),
        );
        // algbw = bytes / time; busbw = algbw · 2(n−1)/n = 1.5 · algbw for 4 ranks.
        assert!(
            (alg - bytes / (t * 1e-6) / 1e9).abs() <= 1e-9 * alg.max(1.0),
            "{c}"
        );
        assert!((bus - 1.5 * alg).abs() <= 1e-9 * bus.max(1.0), "{c}");
        assert_eq!(m["throughput"]["value"].as_f64().unwrap(), bus);
        assert_eq!(m["throughput"]["unit"], "GB/s");
    }
    // Only rank 0 wrote: one results file in the directory.
    assert_eq!(std::fs::read_dir(out.parent().unwrap()).unwrap().count(), 1);
    // The CSV row: shape `bytes=N ranks=R inplace=false`, busbw as throughput.
    let rep = dir.path().join("rep");
    let o = Command::new(bin())
        .arg("report")
        .arg(&out)
        .args(["--format", "csv,html", "--out"])
        .arg(&rep)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let csv = std::fs::read_to_string(rep.join("results.csv")).unwrap();
    assert!(csv.contains("bytes=1048576 ranks=4 inplace=false"), "{csv}");
    let html = std::fs::read_to_string(rep.join("report.html")).unwrap();
    assert!(html.contains("Communication: all-reduce"));
    assert!(html.contains("busbw = algbw · 2(n−1)/n"));
}

/// Runs a faulty job with a 10 s per-size limit (a loaded 2-core machine can take seconds for 8 B across 4 oversubscribed ranks); returns its output and how long it took.
fn faulty(fault: &str, out: &Path) -> (Output, Duration) {
    let t = Instant::now();
    let out = out.display().to_string();
    let o = mpirun(
        &[
            "run",
            "--bench",
            "allreduce",
            "--sizes",
            "8,1024,4096,65536",
            "--sampling",
            "smoke",
            "--timeout",
            "10",
            "--out",
            &out,
        ],
        &[("HPCREADY_FAULT", fault)],
    );
    (o, t.elapsed())
}

fn finished_sizes(out: &Path) -> Vec<u64> {
    let r = load(out);
    assert_eq!(r["complete"], false);
    r["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["shape"]["bytes"].as_u64().unwrap())
        .collect()
}

#[test]
fn a_hung_rank_aborts_the_job_within_the_timeout_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let (o, took) = faulty("hang:2:4096", &out);
    let all = text(&o);
    assert!(!o.status.success(), "{all}");
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert!(
        all.contains("allreduce of 4096 B did not finish within 10 s"),
        "{all}"
    );
    assert!(all.contains("rank 2 did not answer"), "{all}");
    assert_eq!(finished_sizes(&out), vec![8, 8, 1024, 1024]);
}

#[test]
fn a_killed_rank_ends_the_job_and_finished_sizes_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let (o, took) = faulty("kill:1:4096", &out);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(took < Duration::from_secs(60), "took {took:?}");
    // Seen once in a fresh-clone CI run on the loaded 2-core machine: no results file at all.
    // Say what mpirun printed when that happens, to find out why.
    assert!(out.exists(), "no results file; the job said:\n{}", text(&o));
    assert_eq!(finished_sizes(&out), vec![8, 8, 1024, 1024]);
}

#[test]
fn a_wrong_element_fails_the_size_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let (o, _) = faulty("corrupt:3:1024", &out);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(all.contains("wrong elements (first at index 255)"), "{all}");
    let r = load(&out);
    let bad: Vec<&serde_json::Value> = r["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["verification"]["passed"] == false)
        .collect();
    assert_eq!(bad.len(), 2, "out-of-place and in-place at 1024 B");
    assert!(bad[0]["throughput"].is_null());
}

#[test]
fn a_launcher_mpi_cannot_see_is_refused_with_the_fix() {
    // One process that the environment says is one of 4: what a PMI mismatch looks like.
    let o = Command::new(bin())
        .args(["run", "--bench", "allreduce"])
        .env("SLURM_STEP_NUM_TASKS", "4")
        .env("SLURM_STEP_ID", "0")
        .env("SLURM_PROCID", "0")
        .output()
        .unwrap();
    let all = text(&o);
    assert_eq!(o.status.code(), Some(2), "{all}");
    assert!(all.contains("MPI sees 1"), "{all}");
    assert!(all.contains("--mpi=pmix"), "{all}");
}
