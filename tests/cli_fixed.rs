//! Command-line tests on a fixed node (`HPCREADY_TEST_NODE`) and a fake backend at fixed rates
//! (`HPCREADY_TEST_BACKEND`), both from the `test-hooks` feature: what `probe`, `run` and
//! `assess` decide from the node and the figures is checked exactly, and means the same on a
//! laptop, on CI's lavapipe and on a GPU node.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn committed(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The CPU node of the committed example run: 2 cores, no GPU.
fn cpu_node() -> PathBuf {
    committed("reports/example/results.json")
}

/// The H100 node of the committed GPU run.
fn h100_node() -> PathBuf {
    committed("reports/gpu/2026-11-23-h100-final.json")
}

#[test]
fn the_gpu_count_is_the_fixed_nodes() {
    let out = hpcready()
        .args(["probe", "--json", "--baseline", "lumi-g"])
        .env("HPCREADY_TEST_NODE", cpu_node())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let checks = v["checklist"].as_array().unwrap();
    let find = |id: &str| checks.iter().find(|c| c["id"] == id).unwrap().clone();
    // LUMI-G's 4 MI250X are 8 devices; the fixed node has none.
    assert_eq!(find("gpu-count")["finding"], "0 here, 8 on LUMI-G");
}

#[test]
fn assess_on_a_fixed_gpu_at_fixed_rates_gives_a_fixed_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("assess");
    let o = hpcready()
        .args([
            "assess",
            "--baseline",
            "h100-sxm",
            "--sampling",
            "smoke",
            "--out",
        ])
        .arg(&out)
        .env("HPCREADY_TEST_NODE", h100_node())
        .env("HPCREADY_TEST_BACKEND", "gpu,40,3000")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8_lossy(&o);
    // Every figure and every verdict follows from the fixed rates (peak 40, matmul 30,
    // attention 20 TFLOP/s; copy 3000 GB/s) and the profile; the rows say which basis each uses.
    for row in [
        "peak f32       40.0 TFLOP/s  67 TFLOP/s                            0.597×  slower (measured peak vs datasheet peak)",
        "membw (copy)   3000 GB/s     3350 GB/s                             0.896×  slower (measured peak vs datasheet peak)",
        "matmul f32     30.0 TFLOP/s  794.5 TFLOP/s (bf16, mamf-finder)     0.934×  as efficient (fraction of own peak)",
        "attention f32  20.0 TFLOP/s  648 TFLOP/s (f16, flash-attention-3)  0.763×  less efficient (fraction of own peak)",
    ] {
        assert!(text.contains(row), "{row}\n---\n{text}");
    }
    assert!(
        text.contains(
            "Its GPU (Test device (fake backend)) delivers 30.0 TFLOP/s of f32 matmul on one \
             device: 45% of one NVIDIA H100 SXM 80GB's f32 peak (67 TFLOP/s, datasheet)."
        ),
        "{text}"
    );
    let md = read(&out.join("report.md"));
    // A GPU run: one GPU is one device, its ceiling is the GPU's FMA kernel, never the CPU's.
    assert!(md.contains("Each figure of this node is one GPU"), "{md}");
    assert!(md.contains("the GPU's: peak\\_fma.wgsl"), "{md}");
    assert!(!md.contains("12 FMA chains"), "{md}");
}

#[test]
fn a_cpu_node_with_an_imported_all_reduce_is_per_node() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run.json");
    hpcready()
        .args([
            "run",
            "--bench",
            "matmul",
            "--sizes",
            "256",
            "--sampling",
            "smoke",
            "--out",
        ])
        .arg(&run)
        .env("HPCREADY_TEST_NODE", cpu_node())
        .env("HPCREADY_TEST_BACKEND", "cpu,1,20")
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_str(&read(&run)).unwrap();
    let m = &v["measurements"][0];
    assert_eq!(m["device_kind"], "cpu");
    assert_eq!(m["method"], "fake/matmul");
    let rate = m["throughput"]["value"].as_f64().unwrap();
    assert!((rate - 0.75).abs() < 1e-4, "{rate}");
    let nccl = dir.path().join("nccl.json");
    hpcready()
        .args(["import", "nccl-tests"])
        .arg(committed("tests/data/import/nccl-tests-2node.log"))
        .arg("--out")
        .arg(&nccl)
        .assert()
        .success();
    let out = dir.path().join("report");
    hpcready()
        .arg("report")
        .arg(&run)
        .arg(&nccl)
        .args(["--baseline", "aws-p5.48xlarge", "--format", "md", "--out"])
        .arg(&out)
        .assert()
        .success();
    let md = read(&out.join("report.md"));
    // The imported collective does not make the CPU node a GPU one.
    assert!(md.contains("Normalisation: per node."), "{md}");
    assert!(!md.contains("Each figure of this node is one GPU"), "{md}");
}
