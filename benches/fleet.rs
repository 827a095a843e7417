//! Benchmarks of the allocation check, through the binary as a user runs it:
//!
//! - `hpcready report` over 1,000 and 10,000 smoke node files: the fleet report (every figure's
//!   median and spread, the outliers, the failing nodes, `fleet.{html,md,csv,json}`, the spread
//!   plots and `failing-nodes.txt`). The bound: 2 s at 1,000 files, and linear growth;
//!   the ratio of the two medians is printed.
//! - `hpcready smoke --gpus-per-node 0` on this node (a CPU node here), timed three times and
//!   printed (the bound: 30 s); the first of them also makes the node file the fleet is cloned
//!   from, so the files are what smoke writes on this machine.
//!
//! The node files are that real file with another host name each (`nid00001` …) and every figure
//! moved by up to ±3%, one node 20% slow. `cargo bench --bench fleet`; `FLEET_SIZES=1000,10000`
//! changes the sizes.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hpcready");

/// Runs `hpcready smoke` on this node into `dir`; returns its wall time.
fn smoke(dir: &Path) -> Duration {
    let t = Instant::now();
    let out = Command::new(BIN)
        .args(["smoke", "--gpus-per-node", "0", "--no-history", "--out"])
        .arg(dir)
        .output()
        .expect("hpcready smoke starts");
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "hpcready smoke failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// The one node file smoke wrote in `dir`.
fn node_file(dir: &Path) -> Value {
    let path = std::fs::read_dir(dir)
        .expect("smoke's directory")
        .map(|e| e.expect("a directory entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("smoke wrote a node file");
    serde_json::from_str(&std::fs::read_to_string(path).expect("the node file")).expect("JSON")
}

/// Writes `n` node files cloned from `seed` into `dir`; node 7 is 20% slow.
fn fleet(seed: &Value, n: usize, dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).expect("the fleet's directory");
    (0..n)
        .map(|i| {
            let host = format!("nid{:05}", i + 1);
            let mut v = seed.clone();
            v["node"]["host"] = Value::from(host.clone());
            if let Some(ms) = v["measurements"].as_array_mut() {
                for (j, m) in ms.iter_mut().enumerate() {
                    let noise = 1.0 + 0.03 * (((i * 31 + j * 7) % 13) as f64 / 6.0 - 1.0);
                    let slow = if i == 7 { 0.8 } else { 1.0 };
                    if let Some(x) = m["throughput"]["value"].as_f64() {
                        m["throughput"]["value"] = Value::from(x * noise * slow);
                    }
                }
            }
            let path = dir.join(format!("{host}.json"));
            std::fs::write(&path, serde_json::to_vec(&v).expect("JSON")).expect("a node file");
            path
        })
        .collect()
}

fn report(files: &[PathBuf], out: &Path) {
    let status = Command::new(BIN)
        .args(["report", "--no-history", "--out"])
        .arg(out)
        .args(files)
        .output()
        .expect("hpcready report starts");
    assert!(
        status.status.success(),
        "hpcready report failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

fn benches(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let mut times: Vec<Duration> = (0..3)
        .map(|k| smoke(&tmp.path().join(format!("smoke-{k}"))))
        .collect();
    let seed = node_file(&tmp.path().join("smoke-0"));
    let each: Vec<String> = times
        .iter()
        .map(|t| format!("{:.1}", t.as_secs_f64()))
        .collect();
    times.sort();
    println!(
        "smoke --gpus-per-node 0 on this node: median {:.1} s over 3 runs ({} s)",
        times[1].as_secs_f64(),
        each.join(", ")
    );

    let sizes: Vec<usize> = std::env::var("FLEET_SIZES")
        .ok()
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().parse().expect("FLEET_SIZES: numbers"))
                .collect()
        })
        .unwrap_or_else(|| vec![1000, 10_000]);
    let mut g = c.benchmark_group("fleet_report");
    g.sample_size(10);
    let mut medians = Vec::new();
    for &n in &sizes {
        let files = fleet(&seed, n, &tmp.path().join(format!("fleet-{n}")));
        let out = tmp.path().join(format!("report-{n}"));
        let mut runs = Vec::new();
        g.bench_with_input(BenchmarkId::from_parameter(n), &files, |b, files| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    report(files, &out);
                }
                let took = t.elapsed();
                runs.push(took.as_secs_f64() / iters as f64);
                took
            })
        });
        runs.sort_by(f64::total_cmp);
        medians.push((n, runs[runs.len() / 2]));
    }
    g.finish();
    if let [(n0, t0), .., (n1, t1)] = medians[..] {
        println!(
            "fleet report: {n0} files {t0:.2} s, {n1} files {t1:.2} s: {:.1}x the time for {:.0}x the files",
            t1 / t0,
            n1 as f64 / n0 as f64
        );
    }
}

criterion_group!(fleet_benches, benches);
criterion_main!(fleet_benches);
