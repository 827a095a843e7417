//! Command-line tests: the run history (`history`, `history trend`, regressions in `run` and
//! `report`, `compare --since`, `baselines save --from-history`) and advisory bundles (`bundle`,
//! `import-bundle`, `report BUNDLE`).

mod common;

use common::*;
use predicates::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A copy of a real run's results as if measured at `at` on a node whose kernel is `kernel`,
/// every figure of a benchmark in `scale` multiplied by its factor: a synthetic history built
/// from one real run, written to `dir/results.json`.
fn synthetic(base: &Value, dir: &Path, at: &str, kernel: &str, scale: &[(&str, f64)]) -> PathBuf {
    let mut v = base.clone();
    v["started_at"] = at.into();
    v["finished_at"] = at.into();
    v["node"]["kernel"] = kernel.into();
    for m in v["measurements"].as_array_mut().unwrap() {
        let f = scale
            .iter()
            .find(|(b, _)| m["bench"] == *b)
            .map_or(1.0, |(_, f)| *f);
        if let Some(t) = m["throughput"]["value"].as_f64() {
            m["throughput"]["value"] = (t * f).into();
        }
    }
    std::fs::create_dir_all(dir).unwrap();
    let out = dir.join("results.json");
    std::fs::write(&out, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    out
}

fn stdout(cmd: &mut assert_cmd::Command) -> String {
    let o = cmd.assert().success().get_output().clone();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Three runs of one host on two kernels, bundled and imported into a history: listed and
/// filtered, trended with the kernel change marked, a planted 20% fall flagged by `report`
/// while a 3% one is not, compared across dates and saved as a baseline with its spread.
#[test]
fn a_history_is_listed_trended_checked_compared_and_saved() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = read_json(&small_run(d));
    let host = base["node"]["host"].as_str().unwrap().to_string();
    let a = synthetic(&base, &d.join("a"), "2026-11-01T08:00:00Z", "6.1.0", &[]);
    synthetic(
        &base,
        &d.join("b"),
        "2026-11-10T08:00:00Z",
        "6.1.0",
        &[("matmul", 1.02)],
    );
    synthetic(&base, &d.join("c"), "2026-11-20T08:00:00Z", "6.12.0", &[]);
    let h = d.join("store/history.sqlite");
    let bundle = d.join("advisory.tar.gz");
    let out = stdout(
        hpcready()
            .arg("bundle")
            .args([d.join("a"), d.join("b"), d.join("c")])
            .arg("--out")
            .arg(&bundle),
    );
    assert!(out.contains("bundled 3 run(s)"), "{out}");
    // A bundle is never overwritten.
    hpcready()
        .arg("bundle")
        .arg(d.join("a"))
        .arg("--out")
        .arg(&bundle)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("never overwritten"));

    let imported = stdout(
        hpcready()
            .arg("import-bundle")
            .arg(&bundle)
            .arg("--history")
            .arg(&h),
    );
    assert!(imported.contains("match its SHA256SUMS"), "{imported}");
    assert_eq!(
        imported.matches(": recorded as run").count(),
        3,
        "{imported}"
    );
    let again = stdout(
        hpcready()
            .arg("import-bundle")
            .arg(&bundle)
            .arg("--history")
            .arg(&h),
    );
    assert_eq!(
        again.matches("already recorded as run").count(),
        3,
        "{again}"
    );

    // Listed, as text and JSON, and filtered.
    let list = stdout(hpcready().arg("history").arg("--history").arg(&h));
    assert!(list.starts_with("3 run(s) in "), "{list}");
    let runs: Value = serde_json::from_str(&stdout(
        hpcready().args(["history", "--json", "--history"]).arg(&h),
    ))
    .unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r["kind"] == "import-bundle"));
    assert_eq!(runs[2]["stack"]["kernel"], "6.12.0");
    let since = stdout(
        hpcready()
            .args(["history", "--since", "2026-11-05", "--history"])
            .arg(&h),
    );
    assert!(since.starts_with("2 run(s)"), "{since}");
    let last = stdout(
        hpcready()
            .args(["history", "--last", "1", "--history"])
            .arg(&h),
    );
    assert!(
        last.starts_with("1 run(s)") && last.contains("2026-11-20"),
        "{last}"
    );
    // `list` is what `history` alone prints.
    let listed = stdout(
        hpcready()
            .args(["history", "list", "--last", "1", "--history"])
            .arg(&h),
    );
    assert_eq!(listed, last);
    // `show`: one run's whole record, checked against the runs before it: the newest earlier
    // run (b) ran on another kernel, so the reference is a and b, and the change is named.
    let shown = stdout(
        hpcready()
            .args(["history", "show", "3", "--history"])
            .arg(&h),
    );
    assert!(shown.starts_with("run 3 in "), "{shown}");
    for want in [
        "started   2026-11-20T08:00:00Z",
        "kernel: 6.12.0",
        &format!("{} figure(s)", runs[2]["figures"]),
        "compared with 2 earlier run(s) up to 2026-11-10: 0 regression(s)",
    ] {
        assert!(shown.contains(want), "{want} in {shown}");
    }
    let shown: Value = serde_json::from_str(&stdout(
        hpcready()
            .args(["history", "show", "3", "--json", "--history"])
            .arg(&h),
    ))
    .unwrap();
    assert_eq!(shown["run"], runs[2]);
    assert_eq!(
        shown["figures"].as_array().unwrap().len() as u64,
        runs[2]["figures"]
    );
    assert_eq!(shown["history"]["reference_runs"], 2);
    assert_eq!(
        shown["history"]["stack_changes"],
        serde_json::json!(["kernel 6.1.0 → 6.12.0"])
    );
    // A date that is not one is refused first, whether or not the history exists.
    for store in [h.clone(), d.join("no-history-here.sqlite")] {
        hpcready()
            .args(["history", "--since", "last tuesday", "--history"])
            .arg(&store)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "invalid value 'last tuesday' for '--since <DATE>': write a date (2026-11-01)",
            ));
    }

    // The trend: three points, the kernel change marked, a plot.
    let svg = d.join("plots/matmul.svg");
    std::fs::create_dir_all(svg.parent().unwrap()).unwrap();
    let trend = stdout(
        hpcready()
            .args(["history", "trend", "matmul", "--dtype", "f32", "--history"])
            .arg(&h)
            .arg("--out")
            .arg(&svg),
    );
    assert!(trend.contains("3 run(s) on 1 machine(s)"), "{trend}");
    assert!(trend.contains("◆ kernel 6.1.0 → 6.12.0"), "{trend}");
    assert!(trend.contains("+2.0%"), "{trend}");
    let plot = read(&svg);
    assert!(
        plot.starts_with("<svg") && plot.contains("kernel 6.1.0 → 6.12.0"),
        "{plot}"
    );
    hpcready()
        .args(["history", "trend", "membw", "--history"])
        .arg(&h)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no run in"));

    // A planted regression: matmul 20% below, attention 3% below the newest stack's run.
    let now = synthetic(
        &base,
        &d.join("now"),
        "2026-11-25T08:00:00Z",
        "6.12.0",
        &[("matmul", 0.8), ("attention", 0.97)],
    );
    let rep = d.join("report");
    hpcready()
        .arg("report")
        .arg(&now)
        .args(["--format", "md", "--history"])
        .arg(&h)
        .arg("--out")
        .arg(&rep)
        .assert()
        .success();
    let md = read(&rep.join("report.md"));
    assert!(md.contains("## Against this machine's history"), "{md}");
    assert!(
        md.contains("matmul f32 −20% since 2026-11-20 (no software change recorded)"),
        "{md}"
    );
    let section = md
        .split("## Against this machine's history")
        .nth(1)
        .unwrap();
    let section = section.split("\n## ").next().unwrap();
    assert!(section.contains("| matmul f32 |"), "{section}");
    assert!(!section.contains("attention"), "{section}");
    // The same with a 25% threshold: nothing flagged.
    hpcready()
        .arg("report")
        .arg(&now)
        .args([
            "--format",
            "md",
            "--regression-threshold",
            "25",
            "--history",
        ])
        .arg(&h)
        .arg("--out")
        .arg(d.join("report25"))
        .assert()
        .success();
    assert!(read(&d.join("report25/report.md")).contains("No regression"));

    // Compared across dates from the history.
    let cmp = d.join("compare");
    hpcready()
        .args(["compare", "--since", "2026-11-01", "--history"])
        .arg(&h)
        .arg("--out")
        .arg(&cmp)
        .assert()
        .success();
    let cmp_md = read(&cmp.join("compare.md"));
    assert!(cmp_md.contains(&format!("{host} @ 2026-11-20")), "{cmp_md}");

    // Saved as a baseline: each figure the median of the three runs, with their spread.
    let profile = d.join("mine.toml");
    let saved = stdout(
        hpcready()
            .args(["baselines", "save", "--from-history", "--id", "mine"])
            .args(["--machine", &host, "--history"])
            .arg(&h)
            .arg("--out")
            .arg(&profile),
    );
    assert!(saved.contains("mine"), "{saved}");
    let toml = read(&profile);
    assert!(
        toml.contains("[measurements.spread]") || toml.contains("spread"),
        "{toml}"
    );
    assert!(toml.contains("runs = 3"), "{toml}");
    let shown = stdout(hpcready().args(["baselines", "show"]).arg(&profile));
    assert!(shown.contains("median of 3 run(s), range"), "{shown}");
    // And the baseline is usable: a report against it.
    hpcready()
        .arg("report")
        .arg(&a)
        .arg("--baseline")
        .arg(&profile)
        .args(["--format", "md", "--out"])
        .arg(d.join("vs-mine"))
        .assert()
        .success();
}

/// `run` and `import` record into the history and check each run against the earlier ones;
/// `--no-history` records nothing; a damaged store costs the history, never the results.
#[test]
fn runs_are_recorded_and_a_damaged_store_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let h = d.join("history.sqlite");
    let run = |out: &Path, extra: &[&str]| {
        let o = cpu_f32(out, "matmul", "64")
            .args(extra)
            .env("HPCREADY_HISTORY", &h)
            .assert()
            .success()
            .get_output()
            .clone();
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let first = run(&d.join("1.json"), &[]);
    assert!(first.contains("history: recorded as run 1 in"), "{first}");
    assert!(first.contains("no earlier run of this host"), "{first}");
    let second = run(&d.join("2.json"), &[]);
    assert!(second.contains("history: recorded as run 2"), "{second}");
    assert!(
        second.contains("compared with 1 earlier run(s)"),
        "{second}"
    );
    let off = run(&d.join("3.json"), &["--no-history"]);
    assert!(!off.contains("history:"), "{off}");
    let imported = hpcready()
        .args([
            "import",
            "nccl-tests",
            "tests/data/import/nccl-tests-2node.log",
            "--out",
        ])
        .arg(d.join("imp.json"))
        .arg("--history")
        .arg(&h)
        .assert()
        .success()
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&imported.stderr);
    assert!(err.contains("history: recorded as run 3"), "{err}");
    let runs: Value = serde_json::from_str(&stdout(
        hpcready().args(["history", "--json", "--history"]).arg(&h),
    ))
    .unwrap();
    let kinds: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 3);
    assert_eq!(
        kinds.iter().filter(|k| **k == "run").count(),
        2,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"import"), "{kinds:?}");
    let bench = stdout(
        hpcready()
            .args(["history", "--bench", "allreduce", "--history"])
            .arg(&h),
    );
    assert!(bench.starts_with("1 run(s)"), "{bench}");

    // A damaged store: the run still succeeds and its results are on disk; reading it is bad
    // input naming the file.
    let damaged = d.join("damaged.sqlite");
    std::fs::write(&damaged, vec![0x5a_u8; 8192]).unwrap();
    let o = cpu_f32(&d.join("4.json"), "matmul", "64")
        .arg("--history")
        .arg(&damaged)
        .assert()
        .success()
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: history: this run was not recorded")
            && err.contains("damaged.sqlite"),
        "{err}"
    );
    assert!(read_json(&d.join("4.json"))["measurements"][0]["verification"]["passed"] == true);
    hpcready()
        .arg("history")
        .arg("--history")
        .arg(&damaged)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("damaged.sqlite").and(predicate::str::contains("damaged")),
        );
    hpcready()
        .arg("history")
        .arg("--history")
        .arg(d.join("none.sqlite"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no history there yet"));
}

/// A bundle re-renders every run's report after checking every file against its SHA256SUMS;
/// one changed byte is refused naming the file.
#[test]
fn a_bundle_is_verified_and_re_rendered_and_a_tampered_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = small_run(d);
    let rundir = run.parent().unwrap();
    hpcready()
        .arg("report")
        .arg(&run)
        .args(["--format", "md", "--out"])
        .arg(rundir)
        .assert()
        .success();
    let bundle = d.join("b.tar.gz");
    hpcready()
        .arg("bundle")
        .arg(rundir)
        .arg("--out")
        .arg(&bundle)
        .assert()
        .success();
    let rendered = d.join("rendered");
    let out = stdout(
        hpcready()
            .arg("report")
            .arg(&bundle)
            .args(["--format", "md", "--out"])
            .arg(&rendered),
    );
    assert!(out.contains("SHA256SUMS"), "{out}");
    let reports: Vec<PathBuf> = std::fs::read_dir(&rendered)
        .unwrap()
        .map(|e| e.unwrap().path().join("report.md"))
        .filter(|p| p.is_file())
        .collect();
    assert_eq!(reports.len(), 1, "{out}");

    // Tampered: one byte of the results changed inside the archive.
    let unpacked = d.join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let tar = |args: &[&std::ffi::OsStr]| {
        let s = std::process::Command::new("tar")
            .args(args)
            .status()
            .unwrap();
        assert!(s.success());
    };
    tar(&[
        "xzf".as_ref(),
        bundle.as_os_str(),
        "-C".as_ref(),
        unpacked.as_os_str(),
    ]);
    let results = walk(&unpacked)
        .into_iter()
        .find(|p| p.ends_with("results.json"))
        .unwrap();
    let text = read(&results).replacen("\"complete\": true", "\"complete\": false ", 1);
    std::fs::write(&results, text).unwrap();
    let tampered = d.join("tampered.tar.gz");
    tar(&[
        "czf".as_ref(),
        tampered.as_os_str(),
        "-C".as_ref(),
        unpacked.as_os_str(),
        ".".as_ref(),
    ]);
    hpcready()
        .arg("report")
        .arg(&tampered)
        .arg("--out")
        .arg(d.join("never"))
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("results.json").and(predicate::str::contains("SHA256SUMS")),
        );
    hpcready()
        .arg("import-bundle")
        .arg(&tampered)
        .arg("--history")
        .arg(d.join("h.sqlite"))
        .assert()
        .code(2);
    assert!(!d.join("never").exists());
}

/// Eight processes recording into one store at once (as eight jobs finishing together): eight
/// runs, none lost, none twice, and the store still reads.
#[test]
fn eight_processes_record_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("history.sqlite");
    let children: Vec<_> = (0..8)
        .map(|i| {
            std::process::Command::new(env!("CARGO_BIN_EXE_hpcready"))
                .args([
                    "import",
                    "nccl-tests",
                    "tests/data/import/nccl-tests-2node.log",
                ])
                .arg("--out")
                .arg(dir.path().join(format!("imp{i}/results.json")))
                .arg("--history")
                .arg(&h)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success() && err.contains("history: recorded as run"),
            "{err}"
        );
    }
    let runs: Value = serde_json::from_str(&stdout(
        hpcready().args(["history", "--json", "--history"]).arg(&h),
    ))
    .unwrap();
    let mut paths: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["results_path"].as_str().unwrap())
        .collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), 8, "{runs}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
