//! Command-line tests: `compare` and `project`.

mod common;

use common::*;
use predicates::prelude::*;
use std::path::Path;

#[test]
fn compare_puts_machines_side_by_side_and_shows_missing_benchmarks_as_missing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let gpu = root.join("reports/gpu/2026-11-23-h100-assess/results.json");
    let cpu = root.join("reports/example/results.json");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmp");
    hpcready()
        .arg("compare")
        .arg(&gpu)
        .arg(&cpu)
        .arg("--price")
        .arg(format!("{}=10", cpu.display()))
        .arg("--out")
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("vm — NVIDIA H100 80GB HBM3"))
        .stdout(predicate::str::contains("vm — AMD EPYC"));
    let md = read(&out.join("compare.md"));
    // The CPU run has no f16 matmul and the GPU run no f64 peak: missing, not zero.
    assert!(
        md.contains("| matmul f16 | 162.7 TFLOP/s at m=8192 n=8192 k=8192 | missing |"),
        "{md}"
    );
    assert!(md.contains("| peak f64 | missing |"), "{md}");
    assert!(
        md.contains("## Per node") && md.contains("## Price-performance"),
        "{md}"
    );
    // The CPU machine has a price, the GPU machine none.
    let row = md
        .lines()
        .rfind(|l| l.starts_with("| matmul f32 | no price | "))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(row.ends_with(" TFLOP/s per $/h |"), "{row}");
    let csv = read(&out.join("compare.csv"));
    assert!(csv.starts_with("machine,results_file,bench,dtype,shape,value_per_device,"));
    for f in ["compare.html", "matmul.svg", "attention.svg", "membw.svg"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    // Written through the report's staging: nothing else is left in the directory (no staging
    // directory, no JSON a comparison does not have).
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".svg"))
        .collect();
    names.sort();
    assert_eq!(names, ["compare.csv", "compare.html", "compare.md"]);
    // Bad input: one file, a malformed or unknown price, a missing file.
    hpcready().arg("compare").arg(&gpu).assert().code(2);
    for price in ["nonsense", "other.json=5", &format!("{}=-3", gpu.display())] {
        hpcready()
            .arg("compare")
            .arg(&gpu)
            .arg(&cpu)
            .args(["--price", price, "--out"])
            .arg(&out)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--price"));
    }
    hpcready()
        .arg("compare")
        .arg(&gpu)
        .arg(dir.path().join("nope.json"))
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nope.json"));
}

#[test]
fn compare_escapes_file_and_host_names_in_html() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    // A results file whose name and host carry markup and quotes.
    let text = read(&root.join("reports/example/results.json")).replacen(
        "\"host\": \"",
        "\"host\": \"<script>alert('h')</script>",
        1,
    );
    let evil = dir.path().join("<img src=x onerror=\"y\">'.json");
    std::fs::write(&evil, text).unwrap();
    let out = dir.path().join("cmp");
    hpcready()
        .arg("compare")
        .arg(&evil)
        .arg(root.join("reports/gpu/2026-11-23-h100-assess/results.json"))
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let html = read(&out.join("compare.html"));
    assert!(!html.contains("<script>alert"), "raw host name in the page");
    assert!(!html.contains("<img src=x"), "raw file name in the page");
    assert!(html.contains("&lt;script&gt;alert(&#39;h&#39;)&lt;/script&gt;"));
    assert!(html.contains("&lt;img src=x onerror=&quot;y&quot;&gt;&#39;.json"));
}

#[test]
fn compare_reads_its_inputs_before_creating_anything() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmp");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/example/results.json");
    hpcready()
        .arg("compare")
        .arg(&src)
        .arg(dir.path().join("missing.json"))
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.json"));
    assert!(!out.exists());
}

#[test]
fn project_gives_time_node_hours_and_cost_as_a_band() {
    let results = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("reports/gpu/2026-11-23-h100-assess/results.json");
    hpcready()
        .args(["project", "--params", "7B", "--tokens", "1T", "--results"])
        .arg(&results)
        .args(["--nodes", "2", "--utilisation", "0.4,0.5"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "6·N·D = 4.200e22 FLOPs, on 2 node(s)",
        ))
        .stdout(predicate::str::contains("AWS p5.48xlarge"))
        .stdout(predicate::str::contains(
            "at $55.04/node-hour (2026-11-09; us-east-1)",
        ))
        .stdout(predicate::str::contains("40–50% of the matmul rate"))
        .stdout(predicate::str::contains(
            "measured f16 matmul m=8192 n=8192 k=8192",
        ))
        .stdout(predicate::str::contains("portable kernels"))
        // Two nodes and no scaling run: linear to Megatron-LM's published loss, cited.
        .stdout(predicate::str::contains(
            "2 nodes are assumed to scale from linearly (2× one node, the faster end of each \
             band: an upper bound) to 98.0% efficiency per node (the slower end), the \
             per-doubling loss of Megatron-LM's published strong scaling",
        ));
    // Without results only the baseline is projected, and it says so.
    hpcready()
        .args(["project", "--params", "70b", "--tokens", "2e12"])
        .assert()
        .success()
        .stdout(predicate::str::contains("This node is not projected"));
    // At FP8: the baseline's published FP8 matmul (mamf-finder's, with its source), a node
    // without an FP8 measurement refused naming its file, a precision that is not one refused.
    hpcready()
        .args([
            "project", "--params", "7B", "--tokens", "1T", "--dtype", "fp8",
        ])
        .args(["--baseline", "h100-sxm"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "at FP8 (each side's FP8 matmul rate",
        ))
        .stdout(predicate::str::contains("published fp8 matmul"))
        .stdout(predicate::str::contains("mamf-finder v2 FP8"));
    hpcready()
        .args([
            "project",
            "--params",
            "7B",
            "--tokens",
            "1T",
            "--dtype",
            "fp8",
            "--results",
        ])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/reports/example/results.json"
        ))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("it holds no valid fp8 matmul"));
    hpcready()
        .args([
            "project", "--params", "7B", "--tokens", "1T", "--dtype", "fp4",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--dtype fp4: give bf16"));
    for (args, flag) in [
        (["--params", "lots", "--tokens", "1T"], "--params"),
        (["--params", "7B", "--tokens", "-1T"], "--tokens"),
        (["--params", "7B", "--tokens", "1T"], "--utilisation"),
    ] {
        let mut cmd = hpcready();
        cmd.arg("project").args(args);
        if flag == "--utilisation" {
            cmd.args(["--utilisation", "0.9,0.1"]);
        }
        cmd.assert().code(2).stderr(predicate::str::contains(flag));
    }
}
