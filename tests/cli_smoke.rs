//! `hpcready smoke`, one task per node: the health items, a device that hangs (killed at its
//! time limit and named), bad input, and four ranks under `mpirun`, each standing for another
//! node through the `test-hooks` host override. Built with `--features test-hooks`.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// (id, status) of the health items smoke adds.
fn items(r: &serde_json::Value) -> Vec<(String, String)> {
    r["node"]["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            [
                "gpu-count",
                "gpu-kernel-log",
                "dev-shm",
                "device-measurement",
            ]
            .contains(&c["id"].as_str().unwrap())
        })
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// (status, finding) of the checklist item `id`.
fn checklist_item(r: &serde_json::Value, id: &str) -> (String, String) {
    r["node"]["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .map(|c| {
            (
                c["status"].as_str().unwrap().to_string(),
                c["finding"].as_str().unwrap().to_string(),
            )
        })
        .unwrap_or_else(|| panic!("no {id} in {r}"))
}

fn s(a: &str, b: &str) -> (String, String) {
    (a.into(), b.into())
}

/// A clean kernel log, so the real one (readable or not) does not decide the test.
fn quiet_log(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("kernel.log");
    std::fs::write(&p, "[    1.0] Linux version 6.1\n").unwrap();
    p
}

#[test]
fn a_cpu_node_passes_and_its_file_holds_the_measurements() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("smoke");
    let history = dir.path().join("history.sqlite");
    hpcready()
        .args(["smoke", "--gpus-per-node", "0", "--timeout", "300", "--out"])
        .arg(&out)
        .env("HPCREADY_HISTORY", &history)
        .env("HPCREADY_TEST_HOSTS", "nid007")
        .env("HPCREADY_TEST_KERNEL_LOG", quiet_log(dir.path()))
        .env("HPCREADY_PYTHON", "/nonexistent/python3")
        .assert()
        .success();
    let r = read_json(&out.join("nid007.json"));
    assert_eq!(r["complete"], true);
    assert_eq!(
        items(&r)[..2],
        [s("gpu-count", "pass"), s("gpu-kernel-log", "pass")]
    );
    let ms = r["measurements"].as_array().unwrap();
    assert!(ms.iter().any(|m| m["bench"] == "matmul"), "{ms:?}");
    assert!(
        ms.iter()
            .all(|m| m["device"].as_str().unwrap().starts_with("CPU: "))
    );
    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["nid007.json"]);
    // The history holds the smoke run once, with its node file; not each device's own run of
    // a temporary file.
    let listed = hpcready()
        .args(["history", "--json", "--history"])
        .arg(&history)
        .output()
        .unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let runs: Vec<(&str, &str)> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap(),
                r["results_path"].as_str().unwrap(),
            )
        })
        .collect();
    let file = out.join("nid007.json").canonicalize().unwrap();
    assert_eq!(runs, [("smoke", file.to_str().unwrap())]);
}

#[test]
fn a_missing_gpu_a_hung_device_and_gpu_errors_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("kernel.log");
    std::fs::write(
        &log,
        "[  812.0] NVRM: Xid (PCI:0000:13:00): 79, pid=0, GPU has fallen off the bus.\n",
    )
    .unwrap();
    let o = hpcready()
        .args(["smoke", "--gpus-per-node", "4", "--timeout", "2", "--out"])
        .arg(dir.path())
        .env("HPCREADY_TEST_HOSTS", "nid003")
        .env("HPCREADY_TEST_SMOKE_HANG", "nid003")
        .env("HPCREADY_TEST_KERNEL_LOG", &log)
        .env("HPCREADY_PYTHON", "/nonexistent/python3")
        .assert()
        .success()
        .get_output()
        .clone();
    let all = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(all.contains("nid003: NOT READY"), "{all}");
    assert!(
        all.contains("FAILED: CPU: no answer within 2 s: killed (a hung GPU or driver)"),
        "{all}"
    );
    let r = read_json(&dir.path().join("nid003.json"));
    assert_eq!(
        items(&r),
        [
            s("gpu-count", "fail"),
            s("gpu-kernel-log", "fail"),
            s("dev-shm", items(&r)[2].1.as_str()),
            s("device-measurement", "fail"),
        ]
    );
    assert_eq!(r["measurements"].as_array().unwrap().len(), 0);
}

/// An AMD node through a fake `amd-smi`: 7 GPUs listed where 8 are expected, one with an
/// uncorrectable ECC error: both fail the node, in amd-smi's words.
#[test]
fn an_amd_node_with_a_missing_gpu_and_an_ecc_error_fails() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let list: Vec<String> = (1..8)
        .map(|i| format!(r#"{{"gpu": {}, "bdf": "0000:{i}1:00.0"}}"#, i - 1))
        .collect();
    let ecc: Vec<String> = (0..7)
        .map(|i| {
            format!(
                r#"{{"gpu": {i}, "ecc": {{"total_uncorrectable_count": {}, "total_deferred_count": 0}}}}"#,
                u32::from(i == 2)
            )
        })
        .collect();
    std::fs::write(
        dir.path().join("list.json"),
        format!("[{}]", list.join(",")),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("ecc.json"),
        format!(r#"{{"gpu_data": [{}]}}"#, ecc.join(",")),
    )
    .unwrap();
    let d = dir.path().display();
    let tool = bin.join("amd-smi");
    std::fs::write(
        &tool,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n  list) cat '{d}/list.json';;\n  metric) cat '{d}/ecc.json';;\n  \
             process) echo '[]';;\n  *) exit 2;;\nesac\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    hpcready()
        .args(["smoke", "--gpus-per-node", "8", "--timeout", "300", "--out"])
        .arg(dir.path())
        .env("PATH", path)
        .env("HPCREADY_TEST_HOSTS", "nid004")
        .env("HPCREADY_TEST_KERNEL_LOG", quiet_log(dir.path()))
        .env("HPCREADY_PYTHON", "/nonexistent/python3")
        .env("HPCREADY_TEST_BACKEND", "cpu,1,20")
        .assert()
        .success();
    let r = read_json(&dir.path().join("nid004.json"));
    let item = |id: &str| checklist_item(&r, id);
    assert_eq!(
        item("gpu-count"),
        (
            "fail".into(),
            "7 listed, 8 expected (--gpus-per-node)".into()
        )
    );
    assert_eq!(
        item("gpu-ecc"),
        ("fail".into(), "total_uncorrectable_count: GPU 2: 1".into())
    );
    assert_eq!(
        item("gpu-processes"),
        ("pass".into(), "no other process".into())
    );
}

/// An AMD node without amd-smi (older ROCm, or a container without it): the health comes from the
/// amdgpu driver's RAS files in a fake sysfs (`HPCREADY_TEST_ROOT`). One card has a page pending
/// retirement and another job's process holds a KFD context: the node fails, in the driver's
/// words.
#[test]
fn an_amd_node_without_amd_smi_is_read_from_the_drivers_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    for (card, bad) in [("card0", ""), ("card1", "0x00000002 : 0x00001000 : P\n")] {
        let device = root.join("sys/class/drm").join(card).join("device");
        std::fs::create_dir_all(device.join("ras")).unwrap();
        std::fs::write(device.join("vendor"), "0x1002\n").unwrap();
        std::fs::write(device.join("ras/umc_err_count"), "ue: 0\nce: 1\n").unwrap();
        std::fs::write(device.join("ras/gpu_vram_bad_pages"), bad).unwrap();
    }
    // A leftover process of another job, with a KFD context.
    std::fs::create_dir_all(root.join("sys/class/kfd/kfd/proc/7777")).unwrap();
    std::fs::create_dir_all(root.join("proc/7777")).unwrap();
    std::fs::write(root.join("proc/7777/comm"), "leftover\n").unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    hpcready()
        .args(["smoke", "--gpus-per-node", "0", "--timeout", "300", "--out"])
        .arg(dir.path())
        .env("PATH", &bin)
        .env("HPCREADY_TEST_ROOT", &root)
        .env("HPCREADY_TEST_HOSTS", "nid005")
        .env("HPCREADY_TEST_KERNEL_LOG", quiet_log(dir.path()))
        .env("HPCREADY_PYTHON", "/nonexistent/python3")
        .env("HPCREADY_TEST_BACKEND", "cpu,1,20")
        .assert()
        .success();
    let r = read_json(&dir.path().join("nid005.json"));
    let item = |id: &str| checklist_item(&r, id);
    assert_eq!(
        item("gpu-ecc"),
        ("pass".into(), "0 on 2 of 2 GPU(s)".into())
    );
    assert_eq!(
        item("gpu-row-remap"),
        ("fail".into(), "pending: GPU card1: 1".into())
    );
    assert_eq!(
        item("gpu-processes"),
        ("fail".into(), "pid 7777 leftover".into())
    );
}

#[test]
fn bad_input_exits_2_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    hpcready()
        .args(["smoke", "--out"])
        .arg(&file)
        .assert()
        .code(2);
    hpcready()
        .args(["smoke", "--baseline", "no-such-machine", "--out"])
        .arg(dir.path())
        .assert()
        .code(2);
    hpcready()
        .args(["smoke", "--timeout", "0"])
        .assert()
        .code(2);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// Four ranks under `mpirun`, each another node by the host override, on the fake backend at
/// fixed rates; one hangs and one is slow: every node's file is written, and the fleet report
/// names exactly those two, with reasons, in failing-nodes.txt's host-list form.
#[test]
fn four_ranks_under_mpirun_write_one_file_per_node() {
    if Command::new("mpirun").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("HPCREADY_REQUIRE_SLURM_TESTS").is_none(),
            "mpirun is needed (openmpi-bin)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new("mpirun")
        .args(["--oversubscribe", "-np", "4"])
        .arg(env!("CARGO_BIN_EXE_hpcready"))
        .args(["smoke", "--gpus-per-node", "0", "--timeout", "30", "--out"])
        .arg(dir.path())
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("HPCREADY_TEST_HOSTS", "nid001,nid002,nid003,nid010")
        .env("HPCREADY_TEST_SMOKE_HANG", "nid002")
        .env("HPCREADY_TEST_SMOKE_SLOW", "nid003")
        .env("HPCREADY_TEST_BACKEND", "cpu,1,20")
        .env("HPCREADY_TEST_KERNEL_LOG", quiet_log(dir.path()))
        .env("HPCREADY_PYTHON", "/nonexistent/python3")
        .output()
        .unwrap();
    let all = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{all}");
    for host in ["nid001", "nid002", "nid003", "nid010"] {
        let r = read_json(&dir.path().join(format!("{host}.json")));
        assert_eq!(r["node"]["host"], host);
        let hung = items(&r).contains(&s("device-measurement", "fail"));
        assert_eq!(hung, host == "nid002", "{host}: {:?}", items(&r));
        assert_eq!(r["measurements"].as_array().unwrap().is_empty(), hung);
    }
    let report = dir.path().join("fleet");
    let files: Vec<_> = ["nid001", "nid002", "nid003", "nid010"]
        .iter()
        .map(|h| dir.path().join(format!("{h}.json")))
        .collect();
    let o = report_of(&files, &report);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains("2 of 4 node(s) ready"), "{said}");
    assert_eq!(
        std::fs::read_to_string(report.join("failing-nodes.txt")).unwrap(),
        "nid[002-003]\n"
    );
    let md = std::fs::read_to_string(report.join("fleet.md")).unwrap();
    assert!(
        md.contains("| nid002 | CPU: short measurement: no answer within 30 s: killed"),
        "{md}"
    );
    assert!(md.contains("| nid003 | matmul f32"), "{md}");
    assert!(md.contains("(50% of the allocation's median)"), "{md}");
    // The spread plot beside it: nid003's figure marked as the one outlier.
    assert!(md.contains("(spread-1.svg)"), "{md}");
    let svg = std::fs::read_to_string(report.join("spread-1.svg")).unwrap();
    assert_eq!(svg.matches("fill=\"#D62728\"").count(), 2, "{svg}");
    let html = std::fs::read_to_string(report.join("fleet.html")).unwrap();
    assert!(html.contains("<svg"));
}
