//! Helpers shared by the command-line tests (`tests/cli_*.rs`, one file per subcommand).
#![allow(dead_code)] // each test binary uses its own share of these

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

/// The binary, with a history store of its own (a fresh file per command, so no test's runs are
/// compared with another's; a test that wants a shared history names one with `--history` or
/// `HPCREADY_HISTORY`, which overrides this).
pub fn hpcready() -> Command {
    let mut c = Command::cargo_bin("hpcready").unwrap();
    c.env("HPCREADY_HISTORY", own_history());
    c
}

/// A history store path no other command uses, under the test target's temporary directory.
pub fn own_history() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("history")
        .join(format!("{}-{n}.sqlite", std::process::id()))
}

/// `hpcready report FILES --out OUT`, which must succeed; its output.
pub fn report_of(files: &[std::path::PathBuf], out: &Path) -> std::process::Output {
    hpcready()
        .arg("report")
        .args(files)
        .arg("--out")
        .arg(out)
        .assert()
        .success()
        .get_output()
        .clone()
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A JSON file hpcready wrote (results, a history answer), parsed.
pub fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&read(p)).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `hpcready run --backend cpu --bench BENCHES --dtype f32 --sizes SIZES --sampling smoke`
/// into `out`, to run.
pub fn cpu_f32(out: &Path, benches: &str, sizes: &str) -> Command {
    let mut c = hpcready();
    c.args([
        "run",
        "--backend",
        "cpu",
        "--bench",
        benches,
        "--dtype",
        "f32",
    ])
    .args(["--sizes", sizes, "--sampling", "smoke", "--out"])
    .arg(out);
    c
}

/// [`cpu_f32`] with the environment `env`, which must succeed; its measurements.
pub fn cpu_f32_run(
    out: &Path,
    benches: &str,
    sizes: &str,
    env: &[(&str, &str)],
) -> Vec<serde_json::Value> {
    let mut c = cpu_f32(out, benches, sizes);
    c.envs(env.iter().copied()).assert().success();
    read_json(out)["measurements"].as_array().unwrap().clone()
}

/// A small real run on the CPU backend (named, so the test means the same on a GPU node):
/// matmul and attention at sizes 64 and 96, smoke sampling.
pub fn small_run(dir: &Path) -> PathBuf {
    let out = dir.join("run/results.json");
    hpcready()
        .args([
            "run",
            "--backend",
            "cpu",
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

/// CI sets this so that a missing adapter fails the GPU tests instead of skipping them.
pub fn require_gpu_tests() -> bool {
    std::env::var_os("HPCREADY_REQUIRE_GPU_TESTS").is_some()
}

pub fn has_lavapipe() -> bool {
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

/// Debian's `chromium` (or another Chromium) on PATH.
pub fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// A Python with torch for the framework-path tests: `HPCREADY_TEST_PYTHON`, else the venv
/// `.ci/test` makes (`target/torch-venv`). CI sets `HPCREADY_REQUIRE_TORCH_TESTS` so that a
/// missing one fails the tests instead of skipping them.
pub fn torch_python() -> Option<PathBuf> {
    let found = std::env::var_os("HPCREADY_TEST_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/torch-venv/bin/python");
            venv.exists().then_some(venv)
        });
    assert!(
        found.is_some() || std::env::var_os("HPCREADY_REQUIRE_TORCH_TESTS").is_none(),
        "no Python with torch (HPCREADY_TEST_PYTHON or target/torch-venv), and torch tests are \
         required"
    );
    found
}

/// Each all-reduce measurement of a results file as (bytes, in place), in file order.
pub fn placements(results: &serde_json::Value) -> Vec<(u64, bool)> {
    results["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["shape"]["bytes"].as_u64().unwrap(),
                m["shape"]["inplace"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// `run --backend torch --bench allreduce --python` (the Python follows).
pub const TORCH_ALLREDUCE: [&str; 6] = [
    "run",
    "--backend",
    "torch",
    "--bench",
    "allreduce",
    "--python",
];

/// The arguments of `hpcready run --backend torch --bench allreduce` (after the launcher): the
/// binary under test, the given Python, `sizes`, smoke sampling and a `timeout` (s) per step.
pub fn torch_allreduce(py: &Path, sizes: &str, timeout: &str) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec![env!("CARGO_BIN_EXE_hpcready").into()];
    for a in TORCH_ALLREDUCE {
        args.push(a.into());
    }
    args.push(py.into());
    for a in [
        "--sizes",
        sizes,
        "--sampling",
        "smoke",
        "--timeout",
        timeout,
    ] {
        args.push(a.into());
    }
    args
}

/// `hpcready import nccl-tests` of the committed two-node log into `out`, run from the
/// repository so that the import records the log's relative path.
pub fn import_nccl_2node(out: &Path) {
    hpcready()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "import",
            "nccl-tests",
            "tests/data/import/nccl-tests-2node.log",
        ])
        .arg("--out")
        .arg(out)
        .assert()
        .success();
}
