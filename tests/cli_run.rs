//! Command-line tests: `run`: backends, devices, sizes, and runs cut short.

mod common;

use common::*;
use predicates::prelude::*;
use std::path::Path;
use std::time::{Duration, Instant};

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
    let v: serde_json::Value = read_json(&out);
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
fn unwritable_out_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    // Refused before measuring: nothing on stdout (no measurement table), one error line on
    // stderr (no case started), no results file.
    let out = hpcready()
        .args([
            "run",
            "--backend",
            "cpu",
            "--bench",
            "matmul",
            "--sizes",
            "4096",
            "--out",
        ])
        .arg(file.join("r.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--out") && stderr.contains("plain-file"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(!file.join("r.json").exists());
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
fn a_killed_run_leaves_its_finished_measurements_readable() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("killed.json");
    let bin = assert_cmd::cargo::cargo_bin("hpcready");
    let sizes: Vec<String> = (64..96).map(|n| n.to_string()).collect();
    let mut child = std::process::Command::new(bin)
        .args([
            "run",
            "--backend",
            "cpu",
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
    let v: serde_json::Value = read_json(&out);
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

#[cfg(not(feature = "mpi"))]
#[test]
fn a_build_without_mpi_under_a_launcher_says_how_to_rebuild() {
    hpcready()
        .args(["run", "--bench", "allreduce"])
        .env("OMPI_COMM_WORLD_SIZE", "4")
        .env("OMPI_COMM_WORLD_RANK", "0")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("built without MPI"))
        .stderr(predicate::str::contains("--features mpi"));
    // Any run under srun with several tasks, not only all-reduce.
    hpcready()
        .arg("run")
        .env("SLURM_STEP_NUM_TASKS", "8")
        .env("SLURM_PROCID", "0")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("SLURM_STEP_NUM_TASKS=8"));
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
    let v: serde_json::Value = read_json(&dir.path().join("k.json"));
    let variant = v["measurements"][0]["variant"].as_str().unwrap();
    assert!(variant.contains("runtime checks on"), "{variant}");
    assert_eq!(v["measurements"][0]["verification"]["passed"], true);
}

/// A disk that fills up mid-run is the machine's failure, not bad input: exit 1, naming the file,
/// and the results written before it stay readable (no temporary file left behind). The run
/// writes onto a 64 KiB tmpfs, mounted in a private user and mount namespace (`unshare -rm`, no
/// root needed), with room for the first write of the results file but not for later ones (each
/// write needs the old file and its replacement at once).
#[test]
fn a_full_disk_is_exit_1_naming_the_file_and_keeps_what_was_written() {
    let ok = std::process::Command::new("unshare")
        .args(["-rm", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: `unshare -rm` is not available here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("full");
    std::fs::create_dir(&mnt).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("hpcready");
    let script = format!(
        "mount -t tmpfs -o size=64k tmpfs '{m}' && head -c 45056 /dev/zero > '{m}/filler' || \
         exit 99; '{b}' run --backend cpu --bench peak,matmul --dtype f32 --sizes 64,96,128 \
         --sampling smoke --out '{m}/results.json'; rc=$?; ls -A '{m}'; \
         '{b}' report '{m}/results.json' --format md --out '{r}' > /dev/null && echo readable; \
         exit $rc",
        m = mnt.display(),
        b = bin.display(),
        r = dir.path().join("report").display()
    );
    let out = std::process::Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("results.json") && err.contains("No space left on device"),
        "{err}"
    );
    let files: Vec<&str> = stdout.lines().collect();
    assert_eq!(files, ["filler", "results.json", "readable"], "{stdout}");
}

/// `HPCREADY_SGEMM_KC` sets the depth of hpcready's own f32 GEMM kernel, which its variant
/// names, and the product is still verified.
#[test]
fn the_gemm_depth_can_be_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kc.json");
    let m = &cpu_f32_run(&out, "matmul", "100", &[("HPCREADY_SGEMM_KC", "24")])[0];
    assert_eq!(m["verification"]["passed"], true, "{m}");
    if m["method"].as_str().unwrap().starts_with("cpu/sgemm") {
        assert!(m["variant"].as_str().unwrap().contains("KC 24"), "{m}");
    }
}

/// `HPCREADY_CPU_ISA` caps the CPU kernels' ISA (an AVX2-only node's figures, measured on an
/// AVX-512 machine); a value that is unknown or wider than the CPU is refused.
#[test]
fn the_cpu_isa_can_be_capped_and_a_bad_cap_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["sse", "avx1024"] {
        hpcready()
            .args([
                "run",
                "--backend",
                "cpu",
                "--bench",
                "matmul",
                "--sizes",
                "64",
                "--out",
            ])
            .arg(dir.path().join("bad.json"))
            .env("HPCREADY_CPU_ISA", bad)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!("HPCREADY_CPU_ISA={bad}")));
    }
    assert!(!dir.path().join("bad.json").exists());
    let probe = String::from_utf8(
        hpcready()
            .args(["probe", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    if !probe.contains("\"avx2\"") || !probe.contains("\"fma\"") {
        return;
    }
    let out = dir.path().join("avx2.json");
    let measurements = cpu_f32_run(&out, "peak,matmul", "100", &[("HPCREADY_CPU_ISA", "avx2")]);
    let methods: Vec<&str> = measurements
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert!(methods.contains(&"cpu/sgemm-avx2"), "{methods:?}");
    assert!(
        measurements
            .iter()
            .all(|m| m["verification"]["passed"] == true)
    );
}
