//! `run --bench io` for real on this machine's disk and on a small tmpfs (the full file system),
//! with its refusals, the read-back check (`HPCREADY_TEST_IO_CORRUPT`) and an interrupt. Ranks
//! at once are in tests/mpi.rs. No timings are checked.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

fn io_run(dir: &Path, out: &Path, extra: &[&str]) -> assert_cmd::Command {
    let mut c = hpcready();
    c.args(["run", "--bench", "io", "--files", "64", "--dir"])
        .arg(dir)
        .arg("--out")
        .arg(out)
        .args(extra);
    c
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn checkpoint_metadata_and_loading_io_is_measured_verified_and_removed() {
    let work = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = out.path().join("io.json");
    io_run(work.path(), &r, &["--checkpoint-bytes", "40M"])
        .assert()
        .success();
    assert!(
        leftovers(work.path()).is_empty(),
        "{:?}",
        leftovers(work.path())
    );
    let v = read_json(&r);
    assert_eq!(v["complete"], true);
    let s = &v["storage"];
    assert_eq!(s["shard_bytes"], 40 << 20);
    assert_eq!(
        (s["ranks"].as_u64(), s["nodes"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(
        s["fs"]["fs_type"].as_str().is_some_and(|t| t != "unknown"),
        "{s}"
    );
    let phases = s["phases"].as_array().unwrap();
    let ops: Vec<&str> = phases.iter().map(|p| p["op"].as_str().unwrap()).collect();
    assert_eq!(
        ops,
        [
            "create",
            "stat",
            "open-read",
            "remove",
            "checkpoint-write",
            "checkpoint-read",
            "random-read"
        ]
    );
    for p in phases {
        assert!(p["rate"].as_f64().unwrap() > 0.0, "{p}");
        assert_eq!(p["rank_seconds"].as_array().unwrap().len(), 1);
    }
    assert_eq!(phases[0]["ops"], 64);
    assert_eq!(phases[5]["verified"], true);
    assert_eq!(phases[5]["bytes"], 40 << 20);
    assert_eq!(
        phases[6]["ops"], 320,
        "40 MiB / 128 KiB: one shuffled epoch"
    );
    // A small run says it may have measured caches.
    let caveats = s["caveats"].to_string();
    assert!(caveats.contains("JSC's rule"), "{caveats}");
    // The checklist names the directory's file system; the report shows the section.
    let checks = v["node"]["checklist"].as_array().unwrap();
    assert!(
        checks.iter().any(|c| c["id"] == "checkpoint-dir"),
        "{checks:?}"
    );
    let rep = out.path().join("report");
    let o = report_of(std::slice::from_ref(&r), &rep);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = read(&rep.join("report.md"));
    assert!(
        md.contains("## Storage: checkpoints and data loading"),
        "{md}"
    );
    assert!(md.contains("| checkpoint read (verified) |"), "{md}");
    assert!(md.contains("only the file-system bench ran"), "{md}");
    // What hpcready writes, hpcready reads: the report's own results.json too.
    let again = report_of(&[rep.join("results.json")], &out.path().join("again"));
    assert!(again.status.success());
    // The projection adds the checkpoints' write time at this bandwidth, and the energy.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/example/results.json");
    let o = hpcready()
        .args([
            "project",
            "--params",
            "7e9",
            "--tokens",
            "1e11",
            "--checkpoint-every",
            "30min",
        ])
        .args(["--energy-price", "0.3", "--results"])
        .arg(&example)
        .arg("--io")
        .arg(&r)
        .assert()
        .success()
        .get_output()
        .clone();
    // Reported with a compute run, the report's time to train includes the checkpoints too.
    let both = out.path().join("both");
    let o2 = report_of(&[example.clone(), r.clone()], &both);
    assert!(
        o2.status.success(),
        "{}",
        String::from_utf8_lossy(&o2.stderr)
    );
    let md = read(&both.join("report.md"));
    assert!(
        md.contains("This node's time includes its checkpoints: 78.2 GiB each"),
        "{md}"
    );
    assert!(
        md.contains("## Storage: checkpoints and data loading"),
        "{md}"
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("Checkpoints of 78.2 GiB each (12 B per parameter), every 30min"),
        "{text}"
    );
    assert!(
        text.contains("on this node's time to train (included above"),
        "{text}"
    );
    assert!(text.contains("Energy to train:"), "{text}");
    assert!(text.contains("this node: not measured"), "{text}");
    assert!(text.contains("an upper bound, GPUs only"), "{text}");
    assert!(text.contains("at €0.3/kWh"), "{text}");
    for (args, says) in [
        (vec!["--checkpoint-every", "30min"], "needs --io FILE"),
        (
            vec!["--checkpoint-every", "soon", "--io", "x"],
            "give minutes, hours or steps",
        ),
        (vec!["--energy-price=-1"], "give a price in EUR per kWh"),
    ] {
        let o = hpcready()
            .args(["project", "--params", "7e9", "--tokens", "1e11"])
            .args(&args)
            .assert()
            .code(2)
            .get_output()
            .clone();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let o = hpcready()
        .args([
            "project",
            "--params",
            "7e9",
            "--tokens",
            "1e11",
            "--checkpoint-every",
            "1h",
        ])
        .arg("--io")
        .arg(&example)
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&o.stderr).contains("it holds no I/O bench"));
}

#[test]
fn bad_directories_and_flags_are_refused_before_anything_is_written() {
    let out = tempfile::tempdir().unwrap();
    let r = out.path().join("io.json");
    let file = out.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    for (dir, says) in [
        (
            Path::new("/no/such/dir"),
            "--dir /no/such/dir: no such directory",
        ),
        (file.as_path(), "not a directory"),
        (Path::new("/proc"), "--dir /proc: not writable"),
    ] {
        let o = io_run(dir, &r, &[]).assert().code(2).get_output().clone();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{err}");
        assert!(!r.exists());
    }
    // A results file that cannot be written: refused before anything is written under --dir.
    let d = out.path().join("d");
    std::fs::create_dir(&d).unwrap();
    let o = io_run(&d, &file.join("r.json"), &[])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(leftovers(&d).is_empty());
    for (args, says) in [
        (vec!["run", "--bench", "io,matmul"], "io runs on its own"),
        (
            vec!["run", "--bench", "matmul", "--dir", "/tmp"],
            "--dir: is for `--bench io` only",
        ),
        (
            vec!["run", "--bench", "io", "--checkpoint-bytes", "4X"],
            "unknown unit",
        ),
        (
            vec!["run", "--bench", "io", "--checkpoint-bytes", "0"],
            "not a size",
        ),
    ] {
        let o = hpcready().args(&args).assert().code(2).get_output().clone();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn a_shard_that_reads_back_different_fails_verification() {
    let work = tempfile::tempdir().unwrap();
    let r = work.path().join("io.json");
    let d = work.path().join("d");
    std::fs::create_dir(&d).unwrap();
    let o = io_run(&d, &r, &["--checkpoint-bytes", "4M"])
        .env("HPCREADY_TEST_IO_CORRUPT", "1")
        .assert()
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("read back with checksum"), "{err}");
    let v = read_json(&r);
    let read = &v["storage"]["phases"][5];
    assert_eq!(read["verified"], false);
    assert!(
        read["rate"].is_null(),
        "an unverified read reports nothing: {read}"
    );
    assert!(leftovers(&d).is_empty());
}

#[test]
fn an_interrupted_bench_removes_its_files() {
    let work = tempfile::tempdir().unwrap();
    let r = work.path().join("io.json");
    let d = work.path().join("d");
    std::fs::create_dir(&d).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hpcready"))
        .args([
            "run",
            "--bench",
            "io",
            "--files",
            "64",
            "--checkpoint-bytes",
            "1G",
            "--dir",
        ])
        .arg(&d)
        .arg("--out")
        .arg(&r)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Once the shard exists, mid-write.
    let start = std::time::Instant::now();
    while !leftovers(&d)
        .iter()
        .any(|w| d.join(w).join("shard").exists())
    {
        assert!(start.elapsed().as_secs() < 60, "the shard never appeared");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    unsafe { libc_kill(child.id() as i32, 15) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(leftovers(&d).is_empty(), "{:?}", leftovers(&d));
    // The phases before it are kept.
    let v = read_json(&r);
    assert_eq!(v["complete"], false);
    assert_eq!(v["storage"]["phases"].as_array().unwrap().len(), 4);
    assert!(v["storage"]["caveats"].to_string().contains("interrupted"));
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// A small tmpfs mounted for the test (root only), unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let d = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(d.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok && std::env::var_os("HPCREADY_REQUIRE_TMPFS_TESTS").is_some() {
            panic!("mounting a tmpfs failed (HPCREADY_REQUIRE_TMPFS_TESTS is set)");
        }
        ok.then_some(Self(d))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_full_file_system_stops_the_bench_naming_the_file_and_keeps_what_was_measured() {
    let Some(fs) = Tmpfs::mount("8m") else {
        eprintln!("skipped: cannot mount a tmpfs here (not root)");
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let r = out.path().join("io.json");
    // Too large for what is free: refused before anything is written.
    let o = io_run(fs.0.path(), &r, &["--checkpoint-bytes", "16M"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("free, but this node's 1 rank(s) would write 16.0 MiB each"),
        "{err}"
    );
    assert!(!r.exists());
    // The file system fills while the shard is written (as a shared one does): exit 1 naming
    // the file, the metadata phases kept, the shard removed.
    let o = io_run(fs.0.path(), &r, &["--checkpoint-bytes", "16M"])
        .env("HPCREADY_TEST_IO_FREE", "1000000000")
        .assert()
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("/shard: write: No space left on device"),
        "{err}"
    );
    let v = read_json(&r);
    assert_eq!(v["complete"], false);
    assert_eq!(v["storage"]["phases"].as_array().unwrap().len(), 4);
    assert!(
        leftovers(fs.0.path()).is_empty(),
        "{:?}",
        leftovers(fs.0.path())
    );
    // tmpfs keeps its pages: a read there is said to come from memory.
    let o = io_run(fs.0.path(), &r, &["--checkpoint-bytes", "2M"])
        .assert()
        .success();
    drop(o);
    let caveats = read_json(&r)["storage"]["caveats"].to_string();
    assert!(
        caveats.contains("tmpfs keeps its files in memory"),
        "{caveats}"
    );
}
