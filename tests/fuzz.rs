//! A bounded fuzz pass over every reader of outside input: results JSON, profile TOML and the
//! nccl-tests / rccl-tests / OSU logs. Inputs are the committed files and logs mutated at random
//! (bytes flipped, inserted or deleted, lines duplicated or dropped, numbers replaced by extreme
//! ones: 0, -1, 1e308, NaN, 2^64). Each reader must return (a value or a clear error), never
//! panic; a results file that reads must also compare and plot. The counts tried are printed
//! (`cargo test --test fuzz -- --nocapture`); `HPCREADY_FUZZ_CASES` raises them for a longer run.

use hpcready::import::{self, Hints, Tool};
use hpcready::profiles::Profile;
use hpcready::results::io;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::path::Path;

fn cases(default: u32) -> u32 {
    std::env::var("HPCREADY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn file(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

const EXTREMES: [&str; 9] = [
    "0",
    "-1",
    "1e308",
    "-1e308",
    "NaN",
    "18446744073709551616",
    "1e-320",
    "\"x\"",
    "null",
];

/// Applies `ops` (from the fuzzer) to `seed`: each op picks a kind and a position.
fn mutate(seed: &str, ops: &[(u8, u32, u8)]) -> String {
    let mut bytes = seed.as_bytes().to_vec();
    for &(kind, pos, byte) in ops {
        if bytes.is_empty() {
            bytes.push(byte);
            continue;
        }
        let at = pos as usize % bytes.len();
        match kind % 7 {
            0 => bytes[at] = byte,
            1 => bytes.insert(at, byte),
            2 => {
                let end = (at + 1 + byte as usize % 64).min(bytes.len());
                bytes.drain(at..end);
            }
            3 => {
                // Duplicate the line at `at`.
                let start = bytes[..at]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |p| p + 1);
                let end = bytes[at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |p| at + p + 1);
                let line = bytes[start..end].to_vec();
                bytes.splice(start..start, line);
            }
            4 => {
                // Replace the number at or after `at` with an extreme one.
                if let Some(s) = bytes[at..].iter().position(u8::is_ascii_digit) {
                    let s = at + s;
                    let e = bytes[s..]
                        .iter()
                        .position(|b| !(b.is_ascii_digit() || *b == b'.' || *b == b'e'))
                        .map_or(bytes.len(), |p| s + p);
                    let x = EXTREMES[byte as usize % EXTREMES.len()].as_bytes().to_vec();
                    bytes.splice(s..e, x);
                }
            }
            5 => bytes.truncate(at),
            _ => {
                // Drop the line at `at`.
                let start = bytes[..at]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |p| p + 1);
                let end = bytes[at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |p| at + p + 1);
                bytes.drain(start..end);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn ops() -> impl Strategy<Value = Vec<(u8, u32, u8)>> {
    proptest::collection::vec((any::<u8>(), any::<u32>(), any::<u8>()), 1..12)
}

/// Runs `check` on `n` mutations of each seed; returns how many inputs were tried.
fn fuzz(name: &str, seeds: &[String], n: u32, check: impl Fn(&str)) -> u32 {
    fuzz_with(name, seeds.len(), n, |i, ops| mutate(&seeds[i], ops), check)
}

/// Runs `check` on `n` inputs, each made by `input` from a seed index and the fuzzer's ops.
fn fuzz_with(
    name: &str,
    seeds: usize,
    n: u32,
    input: impl Fn(usize, &[(u8, u32, u8)]) -> String,
    check: impl Fn(&str),
) -> u32 {
    let mut runner = TestRunner::new(Config {
        cases: n,
        failure_persistence: None,
        ..Config::default()
    });
    let tried = std::cell::Cell::new(0u32);
    runner
        .run(&(0..seeds, ops()), |(i, ops)| {
            tried.set(tried.get() + 1);
            check(&input(i, &ops));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    println!("fuzz {name}: {} inputs, none panicked", tried.get());
    tried.get()
}

/// Replaces leaves of `v` chosen by `ops` with extreme numbers and odd strings, keeping it JSON.
fn mutate_json(v: &mut serde_json::Value, ops: &[(u8, u32, u8)]) {
    // JSON pointers to every leaf.
    fn leaves(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    leaves(x, format!("{at}/{i}"), out);
                }
            }
            serde_json::Value::Object(o) => {
                for (k, x) in o {
                    leaves(
                        x,
                        format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                        out,
                    );
                }
            }
            _ => out.push(at),
        }
    }
    let mut all = Vec::new();
    leaves(v, String::new(), &mut all);
    for &(kind, pos, byte) in ops {
        let Some(path) = all.get(pos as usize % all.len().max(1)) else {
            return;
        };
        let Some(leaf) = v.pointer_mut(path) else {
            continue;
        };
        *leaf = match (leaf.is_number(), kind % 4) {
            (true, 0) => serde_json::json!(0),
            (true, 1) => serde_json::json!([1e308, -1e308, 1e-320, -1.0, 0.5][byte as usize % 5]),
            (true, 2) => serde_json::json!(u64::MAX - byte as u64),
            (true, _) => serde_json::json!(["NaN", "inf", "-inf"][byte as usize % 3]),
            (false, 0) => serde_json::json!("=HYPERLINK(\"x\")\u{1b}[31m\u{7}"),
            (false, 1) => serde_json::json!("x".repeat(byte as usize * 8)),
            (false, _) => serde_json::json!(byte),
        };
    }
}

/// Reads a results file's text; when it reads, compares, plots, renders and CSVs it (what reads
/// must also report). Returns whether it read.
fn read_and_report(text: &str, profile: &Profile) -> bool {
    let Ok(r) = io::parse(text, "fuzzed.json") else {
        return false;
    };
    let c = hpcready::assess::compare(&r, profile);
    let plots = hpcready::report::plots::plots(&r, profile).unwrap_or_default();
    let ctx = hpcready::report::ReportContext {
        results: &r,
        comparison: &c,
        profile,
        plots,
    };
    let _ = hpcready::report::document(&ctx);
    let _ = hpcready::report::csv::to_csv(&r);
    true
}

#[test]
fn results_files_with_extreme_values() {
    let seeds: Vec<serde_json::Value> = [
        "reports/example/results.json",
        "reports/gpu/2026-11-23-h100-assess/results.json",
    ]
    .iter()
    .map(|f| serde_json::from_str(&file(f)).unwrap())
    .collect();
    let profile = hpcready::profiles::lookup("aws-p5.48xlarge").unwrap();
    let read = std::cell::Cell::new(0);
    let tried = fuzz_with(
        "results JSON (extreme values)",
        seeds.len(),
        cases(400),
        |i, ops| {
            let mut v = seeds[i].clone();
            mutate_json(&mut v, ops);
            v.to_string()
        },
        |text| read.set(read.get() + u32::from(read_and_report(text, &profile))),
    );
    println!(
        "fuzz results JSON (extreme values): {tried} inputs, {} read, compared, plotted and \
         rendered",
        read.get()
    );
}

#[test]
fn results_files() {
    let seeds = vec![
        file("reports/example/results.json"),
        file("reports/gpu/2026-11-23-h100-assess/results.json"),
    ];
    let profile = hpcready::profiles::lookup("aws-p5.48xlarge").unwrap();
    let read = std::cell::Cell::new(0);
    fuzz("results JSON", &seeds, cases(400), |text| {
        read.set(read.get() + u32::from(read_and_report(text, &profile)));
    });
    println!(
        "fuzz results JSON: {} of them read, compared, plotted and rendered",
        read.get()
    );
}

#[test]
fn profiles() {
    let seeds: Vec<String> = ["aws-p5.48xlarge", "lumi-g", "gcp-a3-highgpu-8g"]
        .iter()
        .map(|id| file(&format!("profiles/{id}.toml")))
        .collect();
    fuzz("profile TOML", &seeds, cases(2000), |text| {
        let _ = Profile::from_toml(text, "fuzzed.toml");
    });
}

#[test]
fn logs() {
    let nccl = file("tests/data/import/nccl-tests-2node.log");
    let osu = "\
$ srun -n 32 ./osu_allreduce -c
# OSU MPI Allreduce Latency Test v7.2
# Datatype: MPI_FLOAT.
# Size       Avg Latency(us)   Min Latency(us)   Max Latency(us)  Iterations  Validation
4                       1.85              1.60              2.10        1000        Pass
1048576               470.00            460.00            480.00         100        Pass
"
    .to_string();
    let rccl = "\
\"collective\",\"size\",\"count\",\"type\",\"redop\",\"root\",\"oop_time\",\"oop_algbw\",\"oop_busbw\",\"oop_#wrong\",\"ip_time\",\"ip_algbw\",\"ip_busbw\",\"ip_#wrong\"
\"AllReduce\",1048576,262144,\"float\",\"sum\",-1,98.10,10.69,18.71,\"0\",97.50,10.75,18.82,\"0\"
"
    .to_string();
    let json = r#"[{"name":"AllReduce","size":1048576,"type":"float","inPlace":0,"time":98.1,"algBw":10.69,"busBw":18.71,"wrong":0,"nRanks":8}]"#.to_string();
    let seeds = vec![nccl, osu, rccl, json];
    let hints = Hints { ranks: None };
    let mut total = 0;
    for tool in [Tool::NcclTests, Tool::RcclTests, Tool::Osu] {
        total += fuzz(tool.name(), &seeds, cases(1500), |text| {
            let p = import::parse(tool, "fuzzed.log", text, &hints);
            for row in &p.rows {
                // What is imported can be measured, scored and plotted.
                assert!(row.time_us > 0.0 && row.time_us.is_finite(), "{row:?}");
                assert!(row.busbw.is_finite() && row.busbw >= 0.0, "{row:?}");
                let _ = import::measurement(tool, row, "fuzzed");
            }
        });
    }
    println!("fuzz logs: {total} inputs in all");
}
