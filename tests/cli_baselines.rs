//! Command-line tests: `baselines list|show|save`.

mod common;

use common::*;
use predicates::prelude::*;

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
            "peak f64: 47.9 TFLOP/s dense per accelerator [S36] (AMD's launch figure (vector)",
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
