//! Command-line tests: the framework path, `--backend torch`, run for real through the CPU build
//! of PyTorch (CI installs PyPI's torch into `target/torch-venv`): matmul and attention verified,
//! the JSON-lines harness surviving a crash and a hang, and every bad `--python` refused.

mod common;

use common::*;
use predicates::prelude::*;
use std::path::Path;

/// Runs `cmd`, which must succeed; on failure, the panic shows every failed measurement's error
/// and verification from `out` besides the command's output (a CI log then says why).
fn succeeds(cmd: &mut assert_cmd::Command, out: &Path) {
    let o = cmd.output().unwrap();
    if !o.status.success() {
        let failed: Vec<String> = std::fs::read_to_string(out)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["measurements"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter(|m| m["verification"]["passed"] != true)
            .map(|m| {
                format!(
                    "{} {}: {} / {}",
                    m["bench"], m["shape"], m["error"], m["verification"]
                )
            })
            .collect();
        panic!(
            "{:?} failed ({})\nstdout: {}\nstderr: {}\nfailed measurements:\n{}",
            cmd,
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
            failed.join("\n")
        );
    }
}

fn measurements(path: &Path) -> Vec<serde_json::Value> {
    let v: serde_json::Value = read_json(path);
    v["measurements"].as_array().unwrap().clone()
}

/// The type a CPU training step defaults to on this machine, as the results file's torch says:
/// bf16 where torch has native bf16 kernels (Intel AVX-512, AMX), f32 where it only emulates
/// bf16 (AMD Zen 3, AVX2), which would take minutes a step.
fn cpu_train_dtype(path: &Path) -> &'static str {
    let v: serde_json::Value = read_json(path);
    match v["node"]["torch"]["found"]["cpu_bf16_native"].as_bool() {
        Some(false) => "f32",
        _ => "bf16",
    }
}

fn torch_run(python: &Path, out: &Path) -> assert_cmd::Command {
    let mut c = hpcready();
    c.args(["run", "--backend", "torch", "--python"])
        .arg(python)
        .args(["--sampling", "smoke", "--out"])
        .arg(out);
    c
}

#[test]
fn torch_matmul_and_attention_run_verified_on_the_cpu() {
    let Some(py) = torch_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("torch.json");
    torch_run(&py, &out)
        .args([
            "--bench",
            "matmul,attention",
            "--dtype",
            "f32,bf16,fp8",
            "--sizes",
            "64",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("torch/matmul"));
    let ms = measurements(&out);
    for m in &ms {
        assert_eq!(m["verification"]["passed"], true, "{m}");
        assert_eq!(m["backend"], "torch");
        assert_eq!(m["family"], "vendor-library");
        assert_eq!(m["device_kind"], "cpu");
        let variant = m["variant"].as_str().unwrap();
        assert!(variant.contains("torch 2."), "{variant}");
    }
    let methods: Vec<(&str, &str)> = ms
        .iter()
        .map(|m| (m["method"].as_str().unwrap(), m["dtype"].as_str().unwrap()))
        .collect();
    for want in [
        ("torch/matmul", "f32"),
        ("torch/matmul", "bf16"),
        ("torch/matmul", "fp8"),
        ("torch/sdpa", "f32"),
        ("torch/sdpa-flash", "bf16"),
        ("torch/sdpa-math", "f32"),
    ] {
        assert!(methods.contains(&want), "{want:?} in {methods:?}");
    }
    // Attention runs as training does: forward and backward, head dims 64 and 128, causal or
    // not; the default dispatch names the backend it chose.
    let attn: Vec<&serde_json::Value> = ms.iter().filter(|m| m["bench"] == "attention").collect();
    assert!(attn.iter().all(|m| m["shape"]["backward"] == true));
    for d in [64, 128] {
        assert!(attn.iter().any(|m| m["shape"]["d"] == d));
    }
    let default = attn.iter().find(|m| m["method"] == "torch/sdpa").unwrap();
    assert!(
        default["variant"]
            .as_str()
            .unwrap()
            .contains("default dispatch, which ran the")
    );
    // FLOPs: forward 4·b·h·s²·d (halved when causal), backward 2.5× that.
    let a = attn
        .iter()
        .find(|m| m["shape"]["causal"] == false && m["shape"]["d"] == 64)
        .unwrap();
    assert_eq!(a["work"]["flops"], 3.5 * 4.0 * 8.0 * 64.0 * 64.0 * 64.0);
    // The report names each torch row's method and the torch it ran on.
    let rep = dir.path().join("report");
    hpcready()
        .arg("report")
        .arg(&out)
        .args(["--baseline", "h100-sxm", "--format", "md", "--out"])
        .arg(&rep)
        .assert()
        .success();
    let md = read(&rep.join("report.md"));
    assert!(md.contains("torch/matmul"), "{md}");
    assert!(md.contains("torch/sdpa-math"), "{md}");
    assert!(md.contains("| PyTorch | torch 2."), "{md}");
    assert!(md.contains("PyTorch path"), "{md}");
}

/// A real training step on the CPU: the CI-sized decoder trains (its loss falls from ln(vocab)),
/// with tokens/s, the model's size and FLOPs as the MFU formula counts them; a step that does
/// not train (learning rate 0) is not a training step and is reported invalid.
#[test]
fn the_ci_training_step_trains_and_a_frozen_one_fails() {
    let Some(py) = torch_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("train.json");
    succeeds(torch_run(&py, &out).args(["--bench", "train"]), &out);
    let ms = measurements(&out);
    assert_eq!(ms.len(), 1, "{ms:?}");
    let m = &ms[0];
    assert_eq!(m["method"], "torch/train-llama");
    assert_eq!(m["dtype"], cpu_train_dtype(&out));
    assert_eq!(m["verification"]["passed"], true, "{m}");
    let reference = m["verification"]["reference"].as_str().unwrap();
    assert!(reference.starts_with("loss from 6."), "{reference}");
    let t = &m["train"];
    assert_eq!(t["parameters"], 590_464);
    assert_eq!(
        t["flops_per_token"],
        6.0 * 590_464.0 + 12.0 * 2.0 * 128.0 * 128.0
    );
    assert!(t["tokens_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(
        m["work"]["flops"].as_f64().unwrap(),
        t["flops_per_token"].as_f64().unwrap() * t["tokens_per_step"].as_f64().unwrap()
    );
    let frozen = dir.path().join("frozen.json");
    torch_run(&py, &frozen)
        .args(["--bench", "train"])
        .env("HPCREADY_HARNESS_FROZEN", "1")
        .assert()
        .code(1);
    let m = &measurements(&frozen)[0];
    assert_eq!(m["verification"]["passed"], false);
    assert!(
        m["error"].as_str().unwrap().contains("does not train"),
        "{m}"
    );
}

/// On a CPU where torch only emulates bf16 (no AVX-512 or AMX: AMD Zen 3, where one bf16 step
/// of the small preset takes minutes), the suites leave bf16 out and say so, training runs in
/// f32, and `--dtype bf16` still measures bf16 when asked.
#[test]
fn a_cpu_without_native_bf16_trains_in_f32_unless_asked() {
    let Some(py) = torch_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("train.json");
    torch_run(&py, &out)
        .args(["--bench", "train"])
        .env("HPCREADY_HARNESS_CPU_BF16", "emulated")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "note: train bf16 left out: torch has no native bf16 kernels on this CPU",
        ))
        .stderr(predicate::str::contains("--dtype bf16 measures it anyway"));
    assert_eq!(cpu_train_dtype(&out), "f32");
    let ms = measurements(&out);
    assert_eq!(ms.len(), 1, "{ms:?}");
    assert_eq!(ms[0]["dtype"], "f32");
    assert_eq!(ms[0]["verification"]["passed"], true, "{}", ms[0]);
    let asked = dir.path().join("asked.json");
    torch_run(&py, &asked)
        .args(["--bench", "matmul", "--dtype", "bf16", "--sizes", "32"])
        .env("HPCREADY_HARNESS_CPU_BF16", "emulated")
        .assert()
        .success();
    let ms = measurements(&asked);
    assert_eq!(ms.len(), 1, "{ms:?}");
    assert_eq!(ms[0]["dtype"], "bf16");
}

/// `--compile`: the step runs under torch.compile (each block, inductor), says so in its
/// variant and still trains (verified); without it the variant says eager.
#[test]
fn the_training_step_runs_compiled_when_asked() {
    let Some(py) = torch_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("train.json");
    torch_run(&py, &out)
        .args(["--bench", "train", "--compile"])
        .assert()
        .success();
    let ms = measurements(&out);
    assert_eq!(ms.len(), 1, "{ms:?}");
    assert_eq!(ms[0]["verification"]["passed"], true, "{}", ms[0]);
    let variant = ms[0]["variant"].as_str().unwrap();
    assert!(
        variant.contains("torch.compile per block (inductor)"),
        "{variant}"
    );
}

/// The projection from a real step, checked on the run itself: two training steps of different
/// sizes on one device, the larger projected from the smaller (and the matmul rates at their
/// widths), the error printed in the report; `project` and the report's time-to-train use the
/// measured step's model FLOP/s with no utilisation band.
#[test]
fn the_projection_from_a_training_step_is_validated_on_the_run() {
    let Some(py) = torch_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("steps.json");
    succeeds(
        torch_run(&py, &out)
            .args(["--bench", "matmul,train", "--suite", "standard"])
            .args(["--sizes", "128,256"]),
        &out,
    );
    let rep = dir.path().join("report");
    hpcready()
        .arg("report")
        .arg(&out)
        .args(["--baseline", "h100-sxm", "--format", "md", "--out"])
        .arg(&rep)
        .assert()
        .success();
    let md = read(&rep.join("report.md"));
    let check = md
        .lines()
        .find(|l| l.starts_with("- L=4 d=256") && l.contains("projected from L=2 d=128"))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(
        check.contains("the matmul rate at m=256 n=256 k=256"),
        "{check}"
    );
    assert!(check.contains("; error "), "{check}");
    let dtype = cpu_train_dtype(&out);
    assert!(
        md.contains(&format!("measured training step {dtype} L=4 d=256")),
        "{md}"
    );
    assert!(
        md.contains("published training step L=24 d=2048 seq=2048 (MPT-1b)"),
        "{md}"
    );
    hpcready()
        .args([
            "project",
            "--params",
            "7B",
            "--tokens",
            "1T",
            "--baseline",
            "h100-sxm",
        ])
        .arg("--results")
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "this node: measured training step",
        ))
        .stdout(predicate::str::contains("no utilisation band applies"));
}

/// `assess` through torch: the quick suite on the CPU build (matmul, attention forward and
/// backward, the CI training step), the report naming torch and its libraries.
#[test]
fn assess_through_torch_measures_the_quick_suite() {
    let Some(py) = torch_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("assess");
    hpcready()
        .args(["assess", "--backend", "torch", "--python"])
        .arg(&py)
        .args(["--baseline", "h100-sxm", "--sampling", "smoke", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("Verdict: "));
    let ms = measurements(&out.join("results.json"));
    let dtype = cpu_train_dtype(&out.join("results.json"));
    assert!(
        ms.iter()
            .any(|m| m["bench"] == "train" && m["dtype"] == dtype),
        "{ms:?}"
    );
    for bench in ["matmul", "attention", "train"] {
        assert!(ms.iter().any(|m| m["bench"] == bench), "{bench}");
    }
    assert!(ms.iter().all(|m| m["verification"]["passed"] == true));
    let md = read(&out.join("report.md"));
    assert!(md.contains("## Training step"), "{md}");
    assert!(md.contains("| PyTorch | torch 2."), "{md}");
}

/// A harness that crashes or hangs costs only the case in flight: the case is kept as invalid
/// with the reason (the traceback's last line, or the deadline), the next case starts a fresh
/// harness and measures, and the run exits 1 with every result on disk.
#[test]
fn a_crashing_or_hanging_harness_costs_one_case() {
    let Some(py) = torch_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (fault, timeout, why) in [
        ("verify:crash", "60", "injected crash"),
        ("run:hang", "4", "did not answer within 4 s"),
    ] {
        let out = dir.path().join(format!("{}.json", fault.replace(':', "-")));
        let marker = dir
            .path()
            .join(format!("{}.fired", fault.replace(':', "-")));
        torch_run(&py, &out)
            .args(["--bench", "matmul", "--dtype", "f32", "--sizes", "32,48"])
            .args(["--timeout", timeout])
            .env(
                "HPCREADY_HARNESS_FAULT",
                format!("{fault}:{}", marker.display()),
            )
            .assert()
            .code(1);
        let ms = measurements(&out);
        assert_eq!(ms.len(), 2, "{ms:?}");
        let err = ms[0]["error"].as_str().unwrap_or_default();
        assert!(err.contains(why), "{fault}: {err}");
        assert_eq!(ms[1]["verification"]["passed"], true, "{fault}: {}", ms[1]);
    }
    // A case that fails to prepare is recorded under the method a success has: the default
    // dispatch's `torch/sdpa`, then the pinned backends' `torch/sdpa-flash`, `torch/sdpa-math`.
    let out = dir.path().join("prepare-crash.json");
    let marker = dir.path().join("prepare-crash.fired");
    torch_run(&py, &out)
        .args(["--bench", "attention", "--dtype", "f32", "--sizes", "64"])
        .env(
            "HPCREADY_HARNESS_FAULT",
            format!("prepare:crash:{}", marker.display()),
        )
        .assert()
        .code(1);
    let ms = measurements(&out);
    let methods: Vec<&str> = ms.iter().map(|m| m["method"].as_str().unwrap()).collect();
    assert_eq!(
        methods[..3],
        ["torch/sdpa", "torch/sdpa-flash", "torch/sdpa-math"],
        "{ms:?}"
    );
    assert!(
        ms[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("preparing it failed"),
        "{}",
        ms[0]
    );
    assert_eq!(ms[1]["verification"]["passed"], true, "{}", ms[1]);
}

#[test]
fn every_bad_python_is_refused_with_what_was_tried() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.json");
    let refused = |python: &str, env: &[(&str, &str)], says: &str| {
        let mut c = hpcready();
        c.args([
            "run",
            "--backend",
            "torch",
            "--bench",
            "matmul",
            "--python",
            python,
        ])
        .args(["--sampling", "smoke", "--out"])
        .arg(&out);
        for (k, v) in env {
            c.env(k, v);
        }
        c.assert()
            .code(2)
            .stderr(predicate::str::contains(says))
            .stderr(predicate::str::contains("panicked").not());
    };
    refused(
        "/nonexistent/python3",
        &[],
        "cannot run `/nonexistent/python3`",
    );
    refused("", &[], "not a command");
    refused("'unterminated", &[], "not a command");
    // A command that is not a Python running the harness.
    refused("true", &[], "did not run hpcready's PyTorch harness");
    // A command that answers something that is not the protocol.
    let liar = dir.path().join("liar");
    std::fs::write(&liar, "#!/bin/sh\necho 'Python 3.12.1'\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&liar, std::fs::Permissions::from_mode(0o755)).unwrap();
    refused(
        liar.to_str().unwrap(),
        &[],
        "answered something that is not JSON",
    );
    assert!(!out.exists(), "nothing is written for bad input");
    let Some(py) = torch_python() else { return };
    let py = py.display().to_string();
    // A Python without torch (`-S`: no site-packages).
    refused(&format!("{py} -S"), &[], "this Python has no torch");
    // A torch older than the oldest supported.
    let old = dir.path().join("old");
    std::fs::create_dir_all(old.join("torch")).unwrap();
    std::fs::write(old.join("torch/__init__.py"), "__version__ = '2.1.0'\n").unwrap();
    refused(
        &py,
        &[("PYTHONPATH", old.to_str().unwrap())],
        "older than the oldest supported",
    );
    // A device torch does not have.
    let mut c = hpcready();
    c.args([
        "run",
        "--backend",
        "torch",
        "--device",
        "0",
        "--python",
        &py,
    ])
    .args(["--sampling", "smoke", "--out"])
    .arg(&out)
    .assert()
    .code(2)
    .stderr(predicate::str::contains("sees no accelerator"));
    // auto with a named Python that cannot measure is an error, never a silent fallback.
    hpcready()
        .args(["run", "--python", &format!("{py} -S"), "--bench", "matmul"])
        .args(["--sampling", "smoke", "--out"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("this Python has no torch"));
    assert!(!out.exists());
}

/// torch.distributed all-reduce across 4 ranks started by `mpirun` (gloo on the CPU; no MPI in
/// this build): the rendezvous is set up by the binary, every element of every rank is checked,
/// busbw follows nccl-tests' definition, rank 0 writes the results. Without a launcher it is
/// refused with how to start the ranks.
#[test]
fn torch_allreduce_runs_across_four_ranks_under_mpirun() {
    let Some(py) = torch_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ar.json");
    hpcready()
        .args(TORCH_ALLREDUCE)
        .arg(&py)
        .args(["--sampling", "smoke", "--out"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "torch.distributed needs several ranks",
        ));
    let has_mpirun = std::process::Command::new("mpirun")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_mpirun {
        assert!(
            std::env::var_os("HPCREADY_REQUIRE_TORCH_TESTS").is_none(),
            "mpirun is missing"
        );
        return;
    }
    let o = std::process::Command::new("mpirun")
        .args(["--allow-run-as-root", "--oversubscribe", "-np", "4"])
        .args(torch_allreduce(&py, "8,1000,65536", "120"))
        .arg("--out")
        .arg(&out)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = read_json(&out);
    assert_eq!(v["ranks"]["size"], 4);
    assert_eq!(v["ranks"]["launcher"], "mpirun (Open MPI)");
    let ms = v["measurements"].as_array().unwrap();
    let sizes = placements(&v);
    assert_eq!(
        sizes,
        [
            (8, false),
            (8, true),
            (1000, false),
            (1000, true),
            (65536, false),
            (65536, true)
        ]
    );
    assert!(
        ms[0]["variant"]
            .as_str()
            .unwrap()
            .contains("functional all_reduce"),
        "{}",
        ms[0]["variant"]
    );
    for m in ms {
        assert_eq!(m["method"], "torch/allreduce-gloo");
        assert_eq!(m["family"], "vendor-library");
        assert_eq!(m["verification"]["passed"], true, "{m}");
        assert_eq!(m["collective"]["wrong"], 0);
        let (alg, bus) = (
            m["collective"]["algbw_gbs"].as_f64().unwrap(),
            m["collective"]["busbw_gbs"].as_f64().unwrap(),
        );
        assert!((bus / alg - 2.0 * 3.0 / 4.0).abs() < 1e-9, "{alg} {bus}");
    }
    // The rendezvous file is gone.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".hpcready-rdzv")
        })
        .collect();
    assert!(left.is_empty());
}
