//! Integration tests through the binary: every subcommand and every bad input.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn hpcready() -> Command {
    Command::cargo_bin("hpcready").unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A small real run: matmul and attention at sizes 64 and 96, smoke sampling.
fn small_run(dir: &Path) -> PathBuf {
    let out = dir.join("run/results.json");
    hpcready()
        .args([
            "run",
            "--bench",
            "peak,matmul,attention",
            "--dtype",
            "f32",
            "--sizes",
            "64,96",
        ])
        .args(["--sampling", "smoke", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("results: "));
    out
}

#[test]
fn probe_prints_the_inventory() {
    hpcready()
        .arg("probe")
        .assert()
        .success()
        .stdout(predicate::str::contains("host"))
        .stdout(predicate::str::contains("simd"))
        .stdout(predicate::str::contains("caches"))
        .stdout(predicate::str::contains("accelerators (wgpu adapters):"))
        .stdout(predicate::str::contains("porting checklist"));
}

#[test]
fn the_porting_checklist_reads_the_environment_it_runs_in() {
    // A fake environment: an apptainer on PATH, offline settings, a Slurm job's variables.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("apptainer"), "#!/bin/sh\n").unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap()
    );
    let out = hpcready()
        .args(["probe", "--json", "--baseline", "lumi-g"])
        .env("PATH", path)
        .env("HF_HUB_OFFLINE", "1")
        .env("SLURM_JOB_ID", "4242")
        .env("SLURM_JOB_NUM_NODES", "2")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let checks = v["checklist"].as_array().unwrap();
    let find = |id: &str| checks.iter().find(|c| c["id"] == id).unwrap().clone();
    assert_eq!(find("containers")["status"], "pass");
    // GPUs per node against the named baseline: LUMI-G's 4 MI250X are 8 devices.
    assert_eq!(find("gpu-count")["finding"], "0 here, 8 on LUMI-G");
    hpcready()
        .args(["probe", "--baseline", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--baseline nope"));
    assert_eq!(find("offline")["status"], "pass");
    assert!(
        find("slurm")["finding"]
            .as_str()
            .unwrap()
            .contains("inside job 4242: 2 node(s)")
    );
    // The same checklist is recorded with a run and shown in its report, with the GPU count
    // against the baseline.
    let results = small_run(dir.path());
    let rep = dir.path().join("rep");
    hpcready()
        .arg("report")
        .arg(&results)
        .arg("--out")
        .arg(&rep)
        .assert()
        .success();
    let md = read(&rep.join("report.md"));
    assert!(md.contains("## Porting checklist"), "{md}");
    assert!(md.contains("Normalisation: per node."), "{md}");
    assert!(
        md.contains("| GPUs per node against the baseline | warn | 0 here, 8 on AWS p5.48xlarge |"),
        "{md}"
    );
}

#[test]
fn probe_json_is_the_inventory_schema() {
    let out = hpcready()
        .args(["probe", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(v["cpu"]["usable_threads"].as_u64().unwrap() >= 1);
    assert!(v["memory"]["total_bytes"].as_u64().unwrap() > 0);
    assert_eq!(v["accelerators"]["probed"], true);
    let devices = v["accelerators"]["devices"].as_array().unwrap();
    if require_gpu_tests() {
        let lavapipe = devices
            .iter()
            .find(|d| d["name"].as_str().unwrap().contains("llvmpipe"));
        let d = lavapipe.expect("CI installs lavapipe: it must be listed");
        assert_eq!(d["device_type"], "Cpu");
        assert_eq!(d["backend"], "Vulkan");
        assert_eq!(d["index"], 0);
        assert!(
            d["features"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "timestamp-query")
        );
        assert!(
            d["limits"]["max_storage_buffer_binding_size"]
                .as_u64()
                .unwrap()
                > 0
        );
    }
}

/// CI sets this so that a missing adapter fails the GPU tests instead of skipping them.
fn require_gpu_tests() -> bool {
    std::env::var_os("HPCREADY_REQUIRE_GPU_TESTS").is_some()
}

fn has_lavapipe() -> bool {
    let out = hpcready()
        .args(["probe", "--json"])
        .output()
        .unwrap()
        .stdout;
    let found = String::from_utf8_lossy(&out).contains("llvmpipe");
    assert!(
        found || !require_gpu_tests(),
        "no lavapipe adapter, and GPU tests are required"
    );
    found
}

#[test]
fn gpu_run_on_a_named_software_adapter_verifies_and_reports() {
    if !has_lavapipe() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gpu.json");
    hpcready()
        .args([
            "run",
            "--backend",
            "gpu",
            "--device",
            "llvmpipe",
            "--bench",
            "peak,matmul,membw,attention",
        ])
        .args(["--sizes", "67,128", "--sampling", "smoke", "--out"])
        .arg(&out)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_str(&read(&out)).unwrap();
    let ms = v["measurements"].as_array().unwrap();
    assert_eq!(
        ms.len(),
        14,
        "a peak, a copy, 2 f32 + 2 f16 matmuls, 4 f32 + 4 f16 attentions"
    );
    for m in ms {
        assert_eq!(m["backend"], "gpu");
        assert!(m["device"].as_str().unwrap().contains("llvmpipe"));
        assert_eq!(m["verification"]["passed"], true, "{m}");
        assert_eq!(m["timing"], "device-timestamps");
    }
    assert_eq!(ms[0]["method"], "wgpu/fma-chains");
    assert_eq!(ms[1]["bench"], "membw");
    assert_eq!(
        ms[1]["shape"]["bytes"], 134_217_728,
        "clamped to the 128 MiB binding limit"
    );
    assert_eq!(ms[2]["method"], "wgpu/matmul-tiled");
    assert_eq!(
        (ms[4]["bench"].as_str(), ms[4]["dtype"].as_str()),
        (Some("matmul"), Some("f16"))
    );
    assert_eq!(ms[9]["method"], "wgpu/attention-flash");
    assert_eq!(
        (ms[13]["bench"].as_str(), ms[13]["dtype"].as_str()),
        (Some("attention"), Some("f16"))
    );
    let report = dir.path().join("report");
    hpcready()
        .arg("report")
        .arg(&out)
        .arg("--out")
        .arg(&report)
        .assert()
        .success();
    assert!(read(&report.join("report.html")).contains("llvmpipe"));
}

#[test]
fn gpu_backend_without_a_hardware_gpu_says_how_to_name_one() {
    if !has_lavapipe() {
        return;
    }
    let probe = String::from_utf8(
        hpcready()
            .args(["probe", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    if probe.contains("\"DiscreteGpu\"") || probe.contains("\"IntegratedGpu\"") {
        return; // a machine with a real GPU
    }
    hpcready()
        .args(["run", "--backend", "gpu", "--sizes", "64"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no hardware GPU found"))
        .stderr(predicate::str::contains("--device NAME"))
        .stderr(predicate::str::contains("llvmpipe"));
    hpcready()
        .args(["run", "--backend", "gpu", "--device", "7", "--sizes", "64"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--device 7: no such adapter"));
    hpcready()
        .args(["run", "--backend", "cpu", "--device", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does not apply to --backend cpu"));
}

#[test]
fn baselines_list_and_show() {
    let ids = [
        "aws-p5.48xlarge",
        "aws-p4d.24xlarge",
        "azure-nd-h100-v5",
        "gcp-a3-highgpu-8g",
        "lumi-g",
        "leonardo-booster",
        "marenostrum5-acc",
        "jupiter-booster",
        "alps-gh200",
        "mi250x",
        "h100-sxm",
    ];
    let mut a = hpcready().args(["baselines", "list"]).assert().success();
    for id in ids {
        a = a.stdout(predicate::str::contains(id));
    }
    let out = hpcready()
        .args(["baselines", "list", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let listed = v.as_array().unwrap();
    assert!(listed.len() >= 23, "the full library: {}", listed.len());
    for id in ids {
        assert!(listed.iter().any(|p| p["id"] == id), "{id}");
    }
    hpcready()
        .args(["baselines", "show", "lumi-g"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "4 × AMD Instinct MI250X (2 devices each)",
        ))
        .stdout(predicate::str::contains(
            "peak f64: 47.9 TFLOP/s dense per accelerator [S30] (AMD's official figure",
        ))
        .stdout(predicate::str::contains(
            "[S10] Lumi-supercomputer/lumi-userguide",
        ));
    hpcready()
        .args(["baselines", "show", "aws-p5.48xlarge", "--json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"usd_per_hour\": 55.04"));
}

#[test]
fn unknown_baseline_lists_the_known_ids() {
    hpcready()
        .args(["baselines", "show", "aws-p9"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--baseline aws-p9: no such baseline id or profile file",
        ))
        .stderr(predicate::str::contains("lumi-g"));
    hpcready()
        .args(["assess", "--baseline", "aws-p9"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("known ids: "));
}

#[test]
fn run_then_report_writes_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let results = small_run(dir.path());
    let v: serde_json::Value = serde_json::from_str(&read(&results)).unwrap();
    assert_eq!(v["schema_version"], 2);
    assert_eq!(v["complete"], true);
    assert!(v["load"]["wall_s"].as_f64().unwrap() > 0.0);
    assert!(v["command_line"].as_array().unwrap().len() > 3);
    let ms = v["measurements"].as_array().unwrap();
    // peak f32 ×(1 + all threads if >1) + matmul ×2 + attention ×4
    let threads = std::thread::available_parallelism().unwrap().get();
    assert_eq!(ms.len(), usize::from(threads > 1) + 1 + 2 + 4);
    for m in ms {
        assert_eq!(m["verification"]["passed"], true, "{m}");
        assert!(m["throughput"]["value"].as_f64().unwrap() > 0.0);
        assert!(m["stats"]["median_ci95"].as_array().unwrap().len() == 2);
        assert!(m["work"]["flops"].as_f64().unwrap() > 0.0);
    }

    let out = dir.path().join("report");
    hpcready()
        .arg("report")
        .arg(&results)
        .arg("--out")
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("Verdict: NOT READY"))
        .stdout(predicate::str::contains("matmul f32"));
    for f in [
        "report.html",
        "report.md",
        "results.csv",
        "results.json",
        "matmul.svg",
        "attention.svg",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    assert!(!out.join("membw.svg").exists(), "no membw was measured");
    let csv = read(&out.join("results.csv"));
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("bench,backend,device,dtype,shape,median_s,min_s,cv,throughput,unit,verified")
    );
    let rows: Vec<&str> = lines.collect();
    assert!(rows.iter().any(|r| r.starts_with("matmul,cpu,")
        && r.contains(",f32,m=96 n=96 k=96,")
        && r.ends_with(",TFLOP/s,true")));
    assert!(
        rows.iter()
            .any(|r| r.contains(",b=1 h=8 s=64 d=64 causal=true,"))
    );
    let html = read(&out.join("report.html"));
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<svg") && html.contains("not-ready"));
    for fetch in [
        "<script",
        "<link",
        "src=\"http",
        "href=\"http",
        "@import",
        "url(",
    ] {
        assert!(!html.contains(fetch), "self-contained: found {fetch}");
    }
    let md = read(&out.join("report.md"));
    assert!(
        md.contains("**Verdict: NOT READY**")
            && md.contains("![Matmul throughput vs size](matmul.svg)")
    );
    // The report's results.json reads back.
    hpcready()
        .arg("report")
        .arg(out.join("results.json"))
        .arg("--out")
        .arg(dir.path().join("again"))
        .assert()
        .success();

    // --format narrows the files.
    let only = dir.path().join("csv-only");
    hpcready()
        .arg("report")
        .arg(&results)
        .args(["--format", "csv"])
        .arg("--out")
        .arg(&only)
        .assert()
        .success();
    let names: Vec<String> = std::fs::read_dir(&only)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["results.csv"]);
}

#[test]
fn report_escapes_input_strings_in_html() {
    let dir = tempfile::tempdir().unwrap();
    let results = small_run(dir.path());
    let evil = r#"<script>alert("x")</script>'"#;
    let mut v: serde_json::Value = serde_json::from_str(&read(&results)).unwrap();
    v["node"]["host"] = evil.into();
    v["node"]["cpu"]["model"] = evil.into();
    v["command_line"] =
        serde_json::json!(["hpcready", "--out", "<img src=x onerror=alert(1)>.json"]);
    let tampered = dir.path().join("evil \"<b>\".json");
    std::fs::write(&tampered, serde_json::to_string(&v).unwrap()).unwrap();
    let profile = dir.path().join("evil.toml");
    let p5 = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/aws-p5.48xlarge.toml"));
    let p5 = p5
        .replace(
            "name = \"AWS p5.48xlarge\"",
            &format!("name = {}", toml::Value::from(evil)),
        )
        .replace("summary = \"8×", "summary = \"<iframe src=x> 8×");
    std::fs::write(&profile, p5).unwrap();
    let out = dir.path().join("r");
    hpcready()
        .arg("report")
        .arg(&tampered)
        .arg("--baseline")
        .arg(&profile)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let html = read(&out.join("report.html"));
    assert!(!html.contains("<script"), "unescaped script tag");
    assert!(!html.contains("<img") && !html.contains("<iframe"));
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
}

#[test]
fn report_refuses_bad_results_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out");
    let check = |file: &Path, needle: &str| {
        hpcready()
            .arg("report")
            .arg(file)
            .arg("--out")
            .arg(&out)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(file.display().to_string()))
            .stderr(predicate::str::contains(needle))
            .stderr(predicate::str::contains("panicked").not());
    };
    check(&d.join("missing.json"), "no such file");
    std::fs::write(d.join("notjson.json"), "bench,backend\n1,2\n").unwrap();
    check(&d.join("notjson.json"), "not valid JSON");
    let results = small_run(d);
    let text = read(&results);
    std::fs::write(d.join("truncated.json"), &text[..text.len() / 2]).unwrap();
    check(&d.join("truncated.json"), "truncated");
    std::fs::write(
        d.join("future.json"),
        text.replacen("\"schema_version\": 2", "\"schema_version\": 99", 1),
    )
    .unwrap();
    check(&d.join("future.json"), "unknown schema_version 99");
    std::fs::write(d.join("other.json"), "{\"hello\": 1}").unwrap();
    check(&d.join("other.json"), "no `schema_version`");
    assert!(!out.exists(), "no report was started");
}

#[test]
fn unwritable_out_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let start = Instant::now();
    hpcready()
        .args(["run", "--bench", "matmul", "--sizes", "4096", "--out"])
        .arg(file.join("r.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--out"))
        .stderr(predicate::str::contains("plain-file"));
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "it should refuse before measuring"
    );
    let results = small_run(dir.path());
    hpcready()
        .arg("report")
        .arg(&results)
        .arg("--out")
        .arg(file.join("report"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot create the directory"));
    hpcready()
        .args(["assess", "--out"])
        .arg(file.join("report"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot create the directory"));
}

#[test]
fn bad_sizes_and_flags_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let run = |args: &[&str]| {
        let mut c = hpcready();
        c.arg("run").args(args).arg("--out").arg(&out);
        c.assert()
    };
    run(&["--sizes", "256,0"])
        .code(2)
        .stderr(predicate::str::contains("--sizes: 0 is not a valid size"));
    run(&["--sizes", "10000000"])
        .code(2)
        .stderr(predicate::str::contains(
            "matmul f32 m=10000000 n=10000000 k=10000000 needs",
        ))
        .stderr(predicate::str::contains("available"));
    run(&["--bench", "attention", "--sizes", "100000000"])
        .code(2)
        .stderr(predicate::str::contains("needs"));
    run(&["--sizes", "12x"])
        .code(2)
        .stderr(predicate::str::contains("not a whole number"));
    run(&["--bench", "fft"])
        .code(2)
        .stderr(predicate::str::contains("unknown benchmark `fft`"));
    run(&["--dtype", "f8"])
        .code(2)
        .stderr(predicate::str::contains("unknown data type `f8`"));
    run(&["--bench", "attention", "--dtype", "f64"])
        .code(2)
        .stderr(predicate::str::contains("attention runs in f32"));
    assert!(!out.exists(), "nothing was written for refused input");
}

#[test]
fn help_and_version() {
    hpcready()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("hpcready "));
    let help = hpcready().arg("--help").assert().success();
    help.stdout(predicate::str::contains("assess"))
        .stdout(predicate::str::contains("probe"))
        .stdout(predicate::str::contains("report"))
        .stdout(predicate::str::contains("baselines"));
}

#[test]
fn assess_writes_a_report_and_prints_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("assess");
    hpcready()
        .args([
            "assess",
            "--baseline",
            "lumi-g",
            "--sampling",
            "smoke",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("Compared with LUMI-G"))
        .stdout(predicate::str::contains("benchmark"))
        .stdout(predicate::str::contains("matmul f32"))
        .stdout(predicate::str::contains("Verdict: "))
        .stdout(predicate::str::contains(format!(
            "Report: {}",
            out.join("report.html").display()
        )));
    for f in [
        "report.html",
        "report.md",
        "results.csv",
        "results.json",
        "matmul.svg",
        "attention.svg",
        "membw.svg",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let v: serde_json::Value = serde_json::from_str(&read(&out.join("results.json"))).unwrap();
    assert_eq!(v["suite"], "quick");
    assert_eq!(v["complete"], true);
    let benches: Vec<&str> = v["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["bench"].as_str().unwrap())
        .collect();
    for b in ["peak", "membw", "matmul", "attention"] {
        assert!(benches.contains(&b), "{b} missing from the quick suite");
    }
}

#[test]
fn bare_command_is_assess_into_reports() {
    let dir = tempfile::tempdir().unwrap();
    hpcready()
        .current_dir(dir.path())
        .timeout(Duration::from_secs(300))
        .assert()
        .success()
        .stdout(predicate::str::contains("Report: reports/"));
    let reports: Vec<_> = std::fs::read_dir(dir.path().join("reports"))
        .unwrap()
        .collect();
    assert_eq!(reports.len(), 1);
    let report_dir = reports[0].as_ref().unwrap().path();
    let name = report_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.ends_with('Z') && name.contains("-20"),
        "reports/<host>-<UTC timestamp>: {name}"
    );
    assert!(report_dir.join("report.html").is_file());
}

#[test]
fn a_killed_run_leaves_its_finished_measurements_readable() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("killed.json");
    let bin = assert_cmd::cargo::cargo_bin("hpcready");
    let sizes: Vec<String> = (64..96).map(|n| n.to_string()).collect();
    let mut child = std::process::Command::new(bin)
        .args([
            "run",
            "--bench",
            "matmul",
            "--sizes",
            &sizes.join(","),
            "--out",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = std::fs::read_to_string(&out)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["measurements"].as_array().map(|a| a.len()))
            .unwrap_or(0);
        if done >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no measurement finished in time");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let v: serde_json::Value = serde_json::from_str(&read(&out)).unwrap();
    assert_eq!(v["complete"], false);
    assert_eq!(v["planned"], 32);
    let report = dir.path().join("report");
    hpcready()
        .arg("report")
        .arg(&out)
        .arg("--out")
        .arg(&report)
        .assert()
        .success();
    let html = read(&report.join("report.html"));
    assert!(
        html.contains("Incomplete run:"),
        "an incomplete run must say so"
    );
    assert!(read(&report.join("report.md")).contains("the run is incomplete"));
}

#[test]
fn the_committed_h100_run_reports_per_accelerator_and_never_like_for_like_with_vendor_figures() {
    // A real run on an NVIDIA H100 through Vulkan, committed with its report.
    let results = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("reports/gpu/2026-11-23-h100-assess/results.json");
    let dir = tempfile::tempdir().unwrap();
    hpcready()
        .arg("report")
        .arg(&results)
        .arg("--out")
        .arg(dir.path())
        .assert()
        .success();
    let md = read(&dir.path().join("report.md"));
    assert!(md.contains("**Verdict: READY WITH CHANGES**"), "{md}");
    assert!(
        md.contains("1 accelerator(s) on this node against 8 on AWS p5.48xlarge"),
        "{md}"
    );
    assert!(
        md.contains(
            "| peak f32 | 53.6 TFLOP/s f32, wgpu/fma-chains | 67 TFLOP/s f32, datasheet | 0.800× | measured peak vs datasheet peak |"
        ),
        "{md}"
    );
    assert!(!md.contains("| like for like |"), "{md}");
    assert!(md.contains("portable WGSL kernels"), "{md}");
    assert!(md.contains("wgpu/matmul-coop"), "{md}");
    assert!(
        md.contains("Normalisation: per device. Each figure of this node is one GPU"),
        "{md}"
    );
    // The projection section: both machines, the baseline priced.
    assert!(
        md.contains("## Time to train (example: 7B parameters on 1T tokens)"),
        "{md}"
    );
    assert!(
        md.contains("| AWS p5.48xlarge | 6356 TFLOP/s | 139 days – 219 days | $"),
        "{md}"
    );
}

#[test]
fn baselines_save_makes_a_like_for_like_baseline_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let results = small_run(dir.path());
    let file = dir.path().join("my-cloud.toml");
    hpcready()
        .args(["baselines", "save"])
        .arg(&results)
        .args(["--id", "my-cloud", "--out"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains("saved baseline my-cloud"));
    let text = read(&file);
    assert!(text.contains("kind = \"measured\""), "{text}");
    assert!(text.contains("method = \"cpu/"), "{text}");
    // It loads as any profile file does, and the same run against it is like for like, on par.
    hpcready()
        .args(["baselines", "show"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains("my-cloud"));
    let out = dir.path().join("rep");
    hpcready()
        .arg("report")
        .arg(&results)
        .arg("--baseline")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let md = read(&out.join("report.md"));
    assert!(md.contains("| 1.00× | like for like | on par |"), "{md}");
    assert!(!md.contains("fraction of own peak |"), "{md}");
    // Never overwrites; bad ids and missing results are input errors.
    hpcready()
        .args(["baselines", "save"])
        .arg(&results)
        .args(["--id", "my-cloud", "--out"])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("exists"));
    hpcready()
        .args(["baselines", "save"])
        .arg(&results)
        .args(["--id", "../evil", "--out"])
        .arg(dir.path().join("x.toml"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--id ../evil"));
    hpcready()
        .args(["baselines", "save"])
        .arg(dir.path().join("missing.json"))
        .args(["--id", "x", "--out"])
        .arg(dir.path().join("y.toml"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.json"));
}

/// Debian's `chromium` (or another Chromium) on PATH.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

#[test]
fn the_report_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("HPCREADY_REQUIRE_BROWSER_TESTS").is_none(),
            "no Chromium on PATH, and browser tests are required (apt-get install chromium)"
        );
        eprintln!("skipping: no Chromium on PATH");
        return;
    };
    // The committed real run on an H100: verdict, GPU rows and three plots.
    let results = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("reports/gpu/2026-11-23-h100-assess/results.json");
    let dir = tempfile::tempdir().unwrap();
    hpcready()
        .arg("report")
        .arg(&results)
        .arg("--out")
        .arg(dir.path())
        .assert()
        .success();
    let url = format!("file://{}", dir.path().join("report.html").display());
    let headless = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--window-size=1280,900",
        "--enable-logging=stderr",
        "--v=0",
    ];
    // The first screen, kept under target/ for a person to look at.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-first-screen.png");
    let _ = std::fs::remove_file(&shot);
    let out = std::process::Command::new(&browser)
        .args(headless)
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}\n{stderr}", shot.display()));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
    // No console message at all: the report has no scripts, so any would be an error.
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    // The DOM as rendered: the verdict and every plot, each with a size.
    let dom = std::process::Command::new(&browser)
        .args(headless)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains(">ready with changes<"), "{dom}");
    let plots: Vec<&str> = dom.split("<svg").skip(1).collect();
    assert_eq!(plots.len(), 3, "matmul, attention and membw plots");
    for p in plots {
        let head = &p[..p.find('>').unwrap()];
        assert!(
            head.contains("width=\"") && !head.contains("width=\"0\""),
            "{head}"
        );
    }
}

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
        .stdout(predicate::str::contains("portable kernels"));
    // Without results only the baseline is projected, and it says so.
    hpcready()
        .args(["project", "--params", "70b", "--tokens", "2e12"])
        .assert()
        .success()
        .stdout(predicate::str::contains("This node is not projected"));
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

#[cfg(not(feature = "mpi"))]
#[test]
fn a_build_without_mpi_under_a_launcher_says_how_to_rebuild() {
    hpcready()
        .args(["run", "--bench", "allreduce"])
        .env("OMPI_COMM_WORLD_SIZE", "4")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("built without MPI"))
        .stderr(predicate::str::contains("--features mpi"));
    // Any run under srun with several tasks, not only all-reduce.
    hpcready()
        .arg("run")
        .env("SLURM_STEP_NUM_TASKS", "8")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("SLURM_STEP_NUM_TASKS=8"));
}

#[test]
fn assess_under_several_ranks_is_refused_with_the_way_to_run_it() {
    hpcready()
        .arg("assess")
        .env("SLURM_STEP_NUM_TASKS", "4")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "assess measures one node as one process",
        ));
}

#[test]
fn allreduce_in_one_process_and_bad_sizes_are_refused() {
    hpcready()
        .args(["run", "--bench", "allreduce"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("at least 2 ranks"));
    hpcready()
        .args(["run", "--bench", "allreduce", "--sizes", "8,10"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "10 bytes is not a whole number of f32",
        ));
    hpcready()
        .args(["run", "--bench", "allreduce,matmul"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("one process per node"));
}

#[test]
fn import_nccl_tests_log_then_report_it_with_a_node_run() {
    let dir = tempfile::tempdir().unwrap();
    let imported = dir.path().join("imp/results.json");
    hpcready()
        .args([
            "import",
            "nccl-tests",
            "tests/data/import/nccl-tests-2node.log",
            "--out",
        ])
        .arg(&imported)
        .assert()
        .success()
        .stdout(predicate::str::contains("1073741824  out    14000"))
        .stderr(predicate::str::contains(
            "8 all-reduce results, 1 lines not read",
        ))
        .stderr(predicate::str::contains(
            "nccl-tests-2node.log:1: not part of a results table",
        ));
    let r: serde_json::Value = serde_json::from_str(&read(&imported)).unwrap();
    assert_eq!(r["measurements"].as_array().unwrap().len(), 8);
    assert_eq!(r["measurements"][0]["method"], "import/nccl-tests");
    assert_eq!(
        r["ranks"]["hosts"],
        serde_json::json!(["fixture-a", "fixture-b"])
    );
    // One report from the node's run and the imported all-reduce.
    let node = small_run(dir.path());
    let rep = dir.path().join("rep");
    hpcready()
        .arg("report")
        .arg(&node)
        .arg(&imported)
        .args(["--out"])
        .arg(&rep)
        .assert()
        .success()
        .stdout(predicate::str::contains("allreduce f32"))
        .stdout(predicate::str::contains("like for like"));
    let md = read(&rep.join("report.md"));
    assert!(md.contains("## Communication: all-reduce"));
    assert!(md.contains("4 ranks on 2 node"));
    assert!(md.contains("inter-node"));
    assert!(rep.join("allreduce.svg").is_file());
}

#[test]
fn import_refuses_what_it_cannot_read() {
    hpcready()
        .args(["import", "nccl-tests", "no/such.log"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no/such.log: cannot read the log"));
    let dir = tempfile::tempdir().unwrap();
    let osu = dir.path().join("osu.log");
    std::fs::write(
        &osu,
        "# OSU MPI Allreduce Latency Test v7.2\n# Size       Avg Latency(us)\n4   1.85\n",
    )
    .unwrap();
    hpcready()
        .args(["import", "osu"])
        .arg(&osu)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("pass --ranks N"));
    hpcready()
        .args(["import", "osu", "--ranks", "4", "--out"])
        .arg(dir.path().join("o.json"))
        .arg(&osu)
        .assert()
        .success();
}

#[test]
fn slurm_prints_a_job_and_checks_its_inputs() {
    hpcready()
        .args([
            "slurm",
            "--nodes",
            "4",
            "--gpus-per-node",
            "8",
            "--account",
            "ehpc-01",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("#SBATCH --nodes=4"))
        .stdout(predicate::str::contains("--ntasks-per-node=8"))
        .stdout(predicate::str::contains("run --bench allreduce"));
    hpcready()
        .args(["slurm", "--container", "no/such.sif"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no such image file"));
    hpcready()
        .args(["slurm", "--baseline", "nope"])
        .assert()
        .code(2);
}

#[test]
fn a_stdout_that_cannot_be_written_is_an_error_and_a_closed_pipe_is_not() {
    let bin = assert_cmd::cargo::cargo_bin("hpcready");
    // `> /dev/full`: nothing was written, so the command failed (exit 1, not bad input).
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = std::process::Command::new(&bin)
        .args(["baselines", "list", "--json"])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("writing to standard output"));
    // `| head -c 1`: the reader left early; that is not an error.
    let mut child = std::process::Command::new(&bin)
        .args(["baselines", "list", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn mesa_runtime_dir_complaints_stay_off_the_terminal() {
    // Under sudo, cron and batch jobs XDG_RUNTIME_DIR is unset; Mesa then prints an "error:" line
    // on every GPU enumeration that reads like hpcready's own.
    hpcready()
        .arg("probe")
        .env_remove("XDG_RUNTIME_DIR")
        .assert()
        .success()
        .stderr(predicate::str::contains("XDG_RUNTIME_DIR").not());
}

#[test]
fn files_are_never_written_through_a_symlink_or_onto_a_device() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("precious.txt");
    std::fs::write(&target, "keep me").unwrap();
    let link = dir.path().join("results.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/example/results.json");
    hpcready()
        .args(["import", "nccl-tests"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/import/nccl-tests-2node.log"))
        .arg("--out")
        .arg(&link)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("symbolic link"));
    assert_eq!(read(&target), "keep me");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // A report file that is a symlink is refused before anything is written.
    let out = dir.path().join("rep");
    std::fs::create_dir(&out).unwrap();
    std::os::unix::fs::symlink(&target, out.join("report.md")).unwrap();
    hpcready()
        .arg("report")
        .arg(&src)
        .args(["--format", "md", "--out"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("symbolic link"));
    assert_eq!(read(&target), "keep me");
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
fn kernel_overrides_run_checked_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let kernels = dir.path().join("kernels");
    std::fs::create_dir(&kernels).unwrap();
    let run = |kdir: &Path| {
        let mut c = hpcready();
        c.args(["run", "--backend", "gpu", "--device", "llvmpipe"])
            .args(["--bench", "peak", "--sampling", "smoke", "--out"])
            .arg(dir.path().join("k.json"))
            .env("HPCREADY_KERNEL_DIR", kdir);
        c
    };
    // A misspelt kernel file would be ignored silently: refused.
    std::fs::write(kernels.join("peak_fmaa.wgsl"), "x").unwrap();
    run(&kernels)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not one of hpcready's kernels"));
    std::fs::remove_file(kernels.join("peak_fmaa.wgsl")).unwrap();
    // A folder that does not exist: refused, naming the variable.
    run(&dir.path().join("nowhere"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("HPCREADY_KERNEL_DIR="));
    if !has_lavapipe() {
        return;
    }
    // A readable override runs with runtime checks, and the result says so.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels/peak_fma.wgsl");
    std::fs::copy(src, kernels.join("peak_fma.wgsl")).unwrap();
    run(&kernels).assert().success();
    let v: serde_json::Value = serde_json::from_str(&read(&dir.path().join("k.json"))).unwrap();
    let variant = v["measurements"][0]["variant"].as_str().unwrap();
    assert!(variant.contains("runtime checks on"), "{variant}");
    assert_eq!(v["measurements"][0]["verification"]["passed"], true);
}
