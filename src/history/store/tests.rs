//! The store's tests: recording, concurrency, migrations, refusals.

use super::*;

pub(crate) fn run(uid: &str, host: &str, at: &str, value: f64) -> NewRun {
    NewRun {
        uid: uid.into(),
        info: RunInfo {
            kind: "run".into(),
            started_at: at.into(),
            host: host.into(),
            cpu: "a CPU".into(),
            gpus: "none".into(),
            stack: BTreeMap::from([("kernel".to_string(), "6.1".to_string())]),
            tool_version: "0.1.0".into(),
            command_line: vec!["hpcready".into(), "run".into()],
            results_path: format!("/r/{uid}.json"),
            complete: true,
            invalid: 0,
        },
        measurements: 1,
        figures: vec![Figure {
            bench: "matmul".into(),
            dtype: "f32".into(),
            method: "cpu/faer".into(),
            variant: "v".into(),
            shape: "m=64 n=64 k=64".into(),
            device: "cpu".into(),
            per: "CPU".into(),
            unit: "TFLOP/s".into(),
            value,
        }],
        bundle: None,
    }
}

fn error_text(e: anyhow::Error) -> String {
    format!("{e:#}")
}

#[test]
fn a_results_file_recorded_twice_is_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep/er/history.sqlite");
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.version().unwrap(), SCHEMA);
    assert_eq!(
        s.insert(&run("a", "n1", "2026-11-01T00:00:00Z", 1.0))
            .unwrap(),
        (1, true)
    );
    assert_eq!(
        s.insert(&run("a", "n1", "2026-11-01T00:00:00Z", 1.0))
            .unwrap(),
        (1, false)
    );
    let rows = s.runs(&Filter::default()).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].figures, 1);
    assert_eq!(s.figures(&[1]).unwrap()[&1].len(), 1);
}

/// Eight writers at once (as eight ranks or eight jobs finishing together): every run is
/// recorded once, none lost, none twice.
#[test]
fn eight_concurrent_writers_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    let mut s = Store::open(&path).unwrap();
                    // Each writer also records one run every other writer records.
                    s.insert(&run("shared", "n0", "2026-11-01T00:00:00Z", 1.0))
                        .unwrap();
                    let at = format!("2026-11-{:02}T00:00:{:02}Z", w + 1, i);
                    s.insert(&run(&format!("w{w}-{i}"), &format!("n{w}"), &at, 1.0))
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let s = Store::open_existing(&path).unwrap();
    let rows = s.runs(&Filter::default()).unwrap();
    assert_eq!(rows.len(), 81);
    let uids: std::collections::BTreeSet<i64> = rows.iter().map(|r| r.id).collect();
    assert_eq!(uids.len(), 81);
    let figures: usize = s
        .figures(&rows.iter().map(|r| r.id).collect::<Vec<_>>())
        .unwrap()
        .values()
        .map(Vec::len)
        .sum();
    assert_eq!(figures, 81);
}

#[test]
fn a_version_1_store_is_migrated_and_keeps_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch(MIGRATIONS[0]).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        c.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        c.execute(
            "INSERT INTO runs (uid, kind, started_at, recorded_at, host, cpu, gpus, stack, \
             tool_version, command_line, results_path, complete, measurements, invalid) \
             VALUES ('old', 'run', '2026-10-01T00:00:00Z', '2026-10-01T00:00:00Z', 'n1', \
             'c', 'none', '{}', '0.0.9', '[]', '/r/old.json', 1, 1, 0)",
            [],
        )
        .unwrap();
    }
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.version().unwrap(), SCHEMA);
    s.insert(&run("new", "n1", "2026-11-01T00:00:00Z", 1.0))
        .unwrap();
    let hosts: Vec<String> = s
        .runs(&Filter::default())
        .unwrap()
        .into_iter()
        .map(|r| r.info.results_path)
        .collect();
    assert_eq!(hosts, ["/r/old.json", "/r/new.json"]);
}

#[test]
fn a_newer_a_foreign_and_a_damaged_file_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let newer = dir.path().join("newer.sqlite");
    Store::open(&newer).unwrap();
    Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA + 1)
        .unwrap();
    let e = error_text(Store::open(&newer).unwrap_err());
    assert!(
        e.contains("newer.sqlite") && e.contains("newer hpcready"),
        "{e}"
    );

    let foreign = dir.path().join("foreign.sqlite");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let e = error_text(Store::open_existing(&foreign).unwrap_err());
    assert!(e.contains("not an hpcready history"), "{e}");

    let damaged = dir.path().join("damaged.sqlite");
    std::fs::write(&damaged, vec![0x5a; 8192]).unwrap();
    let e = Store::open(&damaged).unwrap_err();
    assert_eq!(crate::error::exit_code(&e), 2, "{e:#}");
    let e = error_text(e);
    assert!(e.contains("damaged.sqlite") && e.contains("damaged"), "{e}");

    let missing = dir.path().join("missing.sqlite");
    let e = error_text(Store::open_existing(&missing).unwrap_err());
    assert!(e.contains("no history there yet"), "{e}");
    assert!(!missing.exists());
}

/// A store on Lustre (NFS, GPFS …) is refused, naming the file system and the way out.
#[test]
fn a_store_on_a_parallel_file_system_is_refused() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("proc")).unwrap();
    std::fs::write(
        root.path().join("proc/mounts"),
        "/dev/sda1 / ext4 rw 0 0\n10.1.0.1@o2ib:/scratch /scratch lustre rw 0 0\n",
    )
    .unwrap();
    let env = Env {
        root: root.path().to_path_buf(),
        vars: BTreeMap::new(),
        cwd: PathBuf::from("/"),
    };
    let e = error_text(
        refuse_network_fs(&env, Path::new("/scratch/project/history.sqlite")).unwrap_err(),
    );
    assert!(
        e.contains("lustre") && e.contains("/scratch") && e.contains("--history"),
        "{e}"
    );
    refuse_network_fs(&env, Path::new("/home/me/history.sqlite")).unwrap();
}

#[test]
fn since_takes_a_date_or_a_time_and_names_a_bad_one() {
    assert_eq!(
        normalize_since("2026-11-01").unwrap(),
        "2026-11-01T00:00:00Z"
    );
    assert_eq!(
        normalize_since("2026-11-01T08:00:00Z").unwrap(),
        "2026-11-01T08:00:00Z"
    );
    let e = error_text(normalize_since("last tuesday").unwrap_err());
    assert!(e.contains("--since last tuesday"), "{e}");
}
