//! Command-line tests: `report`: every format, escaping, refusals, the committed H100 run, the browser.

mod common;

use common::*;
use predicates::prelude::*;
use std::path::Path;

#[test]
fn run_then_report_writes_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let results = small_run(dir.path());
    let v: serde_json::Value = read_json(&results);
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
    let mut v: serde_json::Value = read_json(&results);
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

/// A stderr that cannot be written (`2>/dev/full`) costs the message, never a panic: bad input
/// still exits 2.
#[test]
fn a_full_stderr_is_not_a_panic() {
    let full = || std::fs::OpenOptions::new().write(true).open("/dev/full");
    if full().is_err() {
        return;
    }
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_hpcready"))
        .args(["report", "missing.json"])
        .stderr(full().unwrap())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}

/// The README's sample report is what this build renders from the committed run: a change to
/// the report shows up here, to be committed with it (a schema-1 file, so an older results file
/// stays readable too). To update: `hpcready report reports/example/results.json --out DIR
/// --no-history` and copy DIR's report.md, report.html, results.csv and plots into
/// reports/example/ (its results.json is the run's own record and stays).
#[test]
fn the_committed_example_report_is_what_this_build_renders() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/example");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    hpcready()
        .arg("report")
        .arg(example.join("results.json"))
        .args(["--no-history", "--out"])
        .arg(&out)
        .assert()
        .success();
    for f in [
        "report.md",
        "report.html",
        "results.csv",
        "matmul.svg",
        "attention.svg",
        "membw.svg",
    ] {
        assert!(
            read(&out.join(f)) == read(&example.join(f)),
            "reports/example/{f} is not what this build renders from reports/example/results.json \
             (see this test's comment to update it)"
        );
    }
}
