//! Criterion benchmarks of the run history, on a store holding 10,000 runs of four hosts (24
//! figures each, a kernel upgrade every 1,000 runs): recording one more run with its regression
//! check (the bound: 20 ms), a trend over all 10,000 runs as a table and an SVG plot
//! (bound: 1 s), and the store's size per run (printed once). The store is made in a temporary
//! directory on the local disk; the first use fills it (about a minute).
//!
//! `cargo bench --bench history`; `HISTORY_RUNS=N` changes the store's size.

use criterion::{Criterion, criterion_group, criterion_main};
use hpcready::history::regress::{Rule, check};
use hpcready::history::{Figure, Filter, NewRun, RunInfo, Store};
use hpcready::report::trend;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;

/// A run of `host` at `unix`, its 24 figures a little noisy around fixed rates.
fn run(i: usize, host: &str, unix: f64) -> NewRun {
    let kernel = format!("6.{}", i / 1000);
    let mut figures = Vec::new();
    for (b, bench) in ["matmul", "attention", "allreduce"].iter().enumerate() {
        for (d, dtype) in ["f32", "bf16"].iter().enumerate() {
            for s in 0..4 {
                let noise = 1.0 + 0.02 * (((i * 7 + s * 3 + d) % 11) as f64 / 10.0 - 0.5);
                figures.push(Figure {
                    bench: bench.to_string(),
                    dtype: dtype.to_string(),
                    method: format!("torch/{bench}"),
                    variant: "a variant as long as real ones, naming the library and its version"
                        .into(),
                    shape: format!("m={0} n={0} k={0}", 1024 << s),
                    device: "NVIDIA H200".into(),
                    per: "GPU".into(),
                    unit: "TFLOP/s".into(),
                    value: (100.0 * (b + 1) as f64 + 10.0 * s as f64) * noise,
                });
            }
        }
    }
    NewRun {
        uid: format!("bench-{host}-{i}"),
        info: RunInfo {
            kind: "run".into(),
            started_at: hpcready::timefmt::rfc3339(unix),
            host: host.into(),
            cpu: "AMD EPYC 9654".into(),
            gpus: "8× NVIDIA H200".into(),
            stack: BTreeMap::from([
                ("kernel".to_string(), kernel),
                ("torch".to_string(), "2.9.0".to_string()),
                ("cuda".to_string(), "12.8".to_string()),
            ]),
            tool_version: "0.1.0".into(),
            command_line: vec![
                "hpcready".into(),
                "run".into(),
                "--backend".into(),
                "torch".into(),
            ],
            results_path: format!("/scratch/project/reports/{host}-{i}/results.json"),
            complete: true,
            invalid: 0,
        },
        measurements: figures.len(),
        figures,
        bundle: None,
    }
}

fn fill(path: &Path, n: usize) -> f64 {
    let mut store = Store::open(path).expect("store");
    let start = 1.75e9;
    for i in 0..n {
        let host = format!("nid00{}", i % 4);
        store
            .insert(&run(i, &host, start + 3600.0 * i as f64))
            .expect("insert");
    }
    start + 3600.0 * n as f64
}

fn history(c: &mut Criterion) {
    let n: usize = std::env::var("HISTORY_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("history.sqlite");
    let end = fill(&path, n);
    let bytes = std::fs::metadata(&path).expect("store").len();
    println!(
        "history: {n} runs of 24 figures take {:.1} MB, {:.0} bytes a run",
        bytes as f64 / 1e6,
        bytes as f64 / n as f64
    );

    let mut group = c.benchmark_group("history");
    group.sample_size(20);
    let mut i = n;
    group.bench_function(format!("record one run and check it, store of {n}"), |b| {
        b.iter(|| {
            let mut store = Store::open(&path).expect("store");
            let r = run(i, "nid000", end + i as f64);
            i += 1;
            store.insert(&r).expect("insert");
            black_box(check(&store, &r, &Rule::default()).expect("check"))
        })
    });
    group.bench_function(format!("trend over {n} runs, table and SVG"), |b| {
        b.iter(|| {
            let store = Store::open_existing(&path).expect("store");
            let points = store
                .trend("matmul", "bf16", None, &Filter::default())
                .expect("trend");
            let lines = trend::lines(&points);
            let table = trend::table(&lines);
            let svg = trend::plot("matmul bf16", &lines).expect("plot");
            black_box((table.len(), svg.len()))
        })
    });
    group.finish();
}

criterion_group!(benches, history);
criterion_main!(benches);
