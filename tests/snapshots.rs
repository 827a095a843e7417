//! Snapshots of what `report` and `compare` write for the committed runs (the CPU example and
//! the H100 run), so a wrong sentence or figure shows up as a diff. Update with
//! `INSTA_UPDATE=always cargo test --test snapshots` and review the `.snap` files.

mod common;

use common::{hpcready, import_nccl_2node};
use std::path::{Path, PathBuf};

fn committed(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Writes the Markdown and CSV report of `results` against `baseline`; returns the directory.
fn report(results: &str, baseline: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    hpcready()
        .arg("report")
        .arg(committed(results))
        .args(["--baseline", baseline, "--format", "md,csv", "--out"])
        .arg(dir.path())
        .assert()
        .success();
    dir
}

#[test]
fn cpu_example_report() {
    let dir = report("reports/example/results.json", "aws-p5.48xlarge");
    insta::assert_snapshot!("cpu_report_md", read(&dir.path().join("report.md")));
    insta::assert_snapshot!("cpu_results_csv", read(&dir.path().join("results.csv")));
}

#[test]
fn h100_report() {
    let dir = report(
        "reports/gpu/2026-11-23-h100-assess/results.json",
        "aws-p5.48xlarge",
    );
    insta::assert_snapshot!("h100_report_md", read(&dir.path().join("report.md")));
    insta::assert_snapshot!("h100_results_csv", read(&dir.path().join("results.csv")));
}

#[test]
fn cpu_node_with_imported_allreduce_report() {
    let dir = tempfile::tempdir().unwrap();
    let nccl = dir.path().join("nccl.json");
    // A relative log path: the import records where each row came from.
    import_nccl_2node(&nccl);
    let out = dir.path().join("rep");
    hpcready()
        .arg("report")
        .arg(committed("reports/example/results.json"))
        .arg(&nccl)
        .args(["--format", "md", "--out"])
        .arg(&out)
        .assert()
        .success();
    let md = read(&out.join("report.md"));
    // A CPU node stays per node with an imported collective beside it.
    assert!(md.contains("Normalisation: per node"), "{md}");
    assert!(!md.contains("Each figure of this node is one GPU"));
    insta::assert_snapshot!("cpu_with_nccl_report_md", md);
}

#[test]
fn compare_cpu_and_h100() {
    let dir = tempfile::tempdir().unwrap();
    // Relative paths: the file names are in the output, and CI's clone is elsewhere.
    hpcready()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("compare")
        .arg("reports/example/results.json")
        .arg("reports/gpu/2026-11-23-h100-assess/results.json")
        .arg("--out")
        .arg(dir.path())
        .assert()
        .success();
    insta::assert_snapshot!("compare_md", read(&dir.path().join("compare.md")));
    insta::assert_snapshot!("compare_csv", read(&dir.path().join("compare.csv")));
}
