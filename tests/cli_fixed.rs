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
    let v: serde_json::Value = read_json(&run);
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

/// A fake `/sys` of a LUMI-G-like node: eight MI250X GCDs (DRM cards and KFD nodes), no
/// Vulkan driver for them. Returns the root.
fn lumi_g_root(dir: &Path) -> PathBuf {
    let root = dir.join("lumi-g");
    let w = |p: String, text: String| {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    for (i, bus) in [0xc1u32, 0xc6, 0xc9, 0xce, 0xd1, 0xd6, 0xd9, 0xde]
        .iter()
        .enumerate()
    {
        let card = format!("sys/class/drm/card{}/device", i + 1);
        w(format!("{card}/vendor"), "0x1002\n".into());
        w(format!("{card}/device"), "0x7408\n".into());
        w(format!("{card}/class"), "0x038000\n".into());
        w(
            format!("{card}/uevent"),
            format!("PCI_SLOT_NAME=0000:{bus:02x}:00.0\n"),
        );
        w(
            format!("sys/class/kfd/kfd/topology/nodes/{}/properties", i + 1),
            format!(
                "simd_count 440\ngfx_target_version 90010\nlocation_id {}\n",
                bus << 8
            ),
        );
    }
    root
}

/// A `python3` whose harness answers that it has no torch, first on PATH.
fn python_without_torch(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let py = bin.join("python3");
    std::fs::write(
        &py,
        "#!/bin/sh\necho '{\"ok\": false, \"fatal\": true, \"error\": \"this Python cannot \
         import torch: ModuleNotFoundError: No module named torch\"}'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&py, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

/// The case: a LUMI-G node whose GPUs Vulkan cannot see must get a verdict that names
/// them and says why each path failed, never "no accelerator"; probe lists all eight.
#[test]
fn a_lumi_g_node_without_vulkan_or_torch_is_told_what_it_has_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let root = lumi_g_root(dir.path());
    let path = python_without_torch(dir.path());
    let probe = hpcready()
        .args(["probe", "--baseline", "lumi-g"])
        .env("HPCREADY_TEST_NODE", cpu_node())
        .env("HPCREADY_TEST_ROOT", &root)
        .env("PATH", &path)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8_lossy(&probe);
    assert!(
        text.contains("7  AMD Instinct MI250X (gfx90a) at 0000:de:00.0"),
        "{text}"
    );
    assert!(text.contains("AMD CDNA"), "{text}");
    assert!(text.contains("8 here, 8 on LUMI-G"), "{text}");
    assert!(text.contains("this Python cannot import torch"), "{text}");
    let out = dir.path().join("assess");
    let o = hpcready()
        .args([
            "assess",
            "--baseline",
            "lumi-g",
            "--sampling",
            "smoke",
            "--out",
        ])
        .arg(&out)
        .env("HPCREADY_TEST_NODE", cpu_node())
        .env("HPCREADY_TEST_ROOT", &root)
        .env("HPCREADY_TEST_BACKEND", "cpu,1,20")
        .env("PATH", &path)
        .assert()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8_lossy(&o);
    assert!(text.contains("Verdict: NOT READY"), "{text}");
    assert!(
        text.contains("this node has 8 GPU(s) (AMD Instinct MI250X) that no path measured"),
        "{text}"
    );
    assert!(!text.contains("no accelerator on this node"), "{text}");
    let md = read(&out.join("report.md"));
    assert!(md.contains("AMD CDNA"), "{md}");
}

/// A fake RAPL package under `root` whose counter a thread advances at `watts` (wrapping at
/// 2^32 µJ, as RAPL's range does) until `stop` is set.
fn rapl_at(
    root: &Path,
    watts: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let zone = root.join("sys/class/powercap/intel-rapl:0");
    std::fs::create_dir_all(&zone).unwrap();
    std::fs::write(zone.join("name"), "package-0\n").unwrap();
    let range: u64 = 1 << 32;
    std::fs::write(zone.join("max_energy_range_uj"), format!("{range}\n")).unwrap();
    let file = zone.join("energy_uj");
    // Near the top of the range: the run's readings cross a wrap.
    let mut uj = range - 3_000_000;
    std::fs::write(&file, format!("{uj}\n")).unwrap();
    std::thread::spawn(move || {
        let start = std::time::Instant::now();
        let first = uj;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(5));
            uj = (first + (start.elapsed().as_secs_f64() * watts as f64 * 1e6) as u64) % range;
            // Written whole (a rename) so that a reader never sees half a number.
            let tmp = file.with_extension("tmp");
            std::fs::write(&tmp, format!("{uj}\n")).unwrap();
            std::fs::rename(&tmp, &file).unwrap();
        }
    })
}

/// `hpcready run` of one small CPU matmul into `out`, on the fake node `root`, with `plan`
/// (`--suite quick` or `--sampling smoke`).
fn cpu_matmul(out: &Path, root: &Path, plan: [&str; 2]) -> std::process::Output {
    hpcready()
        .args([
            "run",
            "--backend",
            "cpu",
            "--bench",
            "matmul",
            "--dtype",
            "f32",
        ])
        .args(["--sizes", "96"])
        .args(plan)
        .arg("--out")
        .arg(out)
        .env("HPCREADY_TEST_ROOT", root)
        .assert()
        .success()
        .get_output()
        .clone()
}

#[test]
fn energy_is_read_around_each_measurement_and_reported_per_watt() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let meter = rapl_at(&root, 50, stop.clone());
    let results = dir.path().join("r.json");
    let o = cpu_matmul(&results, &root, ["--suite", "quick"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    meter.join().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("energy: rapl (CPU-only) around each measurement"),
        "{err}"
    );
    let v: serde_json::Value = read_json(&results);
    assert_eq!(v["energy_meter"]["status"], "found");
    assert_eq!(v["energy_meter"]["method"], "rapl");
    for m in v["measurements"].as_array().unwrap() {
        let e = &m["energy"];
        assert_eq!(e["status"], "measured", "{m}");
        // The thread's 50 W, within what a loaded 2-core machine's sleeps allow.
        let w = e["watts"].as_f64().unwrap();
        assert!((20.0..=80.0).contains(&w), "{w} W");
        assert!(e["runs"].as_u64().unwrap() > 0);
        assert!(e["seconds"].as_f64().unwrap() >= 0.5);
    }
    // The report's energy section: the counter, power, energy per run and performance per watt.
    let out = dir.path().join("report");
    let r = report_of(std::slice::from_ref(&results), &out);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let md = read(&out.join("report.md"));
    assert!(md.contains("## Energy"), "{md}");
    assert!(md.contains("Counter: rapl (CPU-only) — CPU-only"), "{md}");
    assert!(md.contains("GFLOP/s per W"), "{md}");
    let with_energy = dir.path().join("with-energy.json");
    std::fs::copy(&results, &with_energy).unwrap();

    // A counter that stops (pm_counters' freshness unchanged): said, never a zero.
    let pm = dir.path().join("pm/sys/cray/pm_counters");
    std::fs::create_dir_all(&pm).unwrap();
    std::fs::write(pm.join("energy"), "5000 J 1 us\n").unwrap();
    std::fs::write(pm.join("freshness"), "7\n").unwrap();
    cpu_matmul(&results, &dir.path().join("pm"), ["--suite", "quick"]);
    let v: serde_json::Value = read_json(&results);
    for m in v["measurements"].as_array().unwrap() {
        let why = m["energy"]["why"].as_str().unwrap_or_default();
        assert!(
            why.contains("stopped updating") || why.contains("under the 2 s pm_counters needs"),
            "{m}"
        );
    }
    // No counter at all: the run says why, the measurements carry nothing.
    cpu_matmul(&results, &dir.path().join("none"), ["--sampling", "smoke"]);
    let v: serde_json::Value = read_json(&results);
    assert_eq!(v["energy_meter"]["status"], "missing");
    let why = v["energy_meter"]["why"].to_string();
    assert!(why.contains("pm_counters") && why.contains("RAPL"), "{why}");
    assert!(v["measurements"][0].get("energy").is_none());
    // compare: performance per watt per machine, the counter named, a machine without one said.
    let cmp = dir.path().join("cmp");
    hpcready()
        .arg("compare")
        .arg(&with_energy)
        .arg(&results)
        .arg("--out")
        .arg(&cmp)
        .assert()
        .success();
    let md = read(&cmp.join("compare.md"));
    assert!(md.contains("## Performance per watt"), "{md}");
    assert!(
        md.contains("| energy counter | rapl (CPU-only) | none |"),
        "{md}"
    );
    assert!(md.contains("GFLOP/s per W | no reading |"), "{md}");
}
