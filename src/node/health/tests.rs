use super::*;
use std::os::unix::fs::PermissionsExt;

/// A fake `nvidia-smi` for 8 GPUs: `known` are the fields it accepts (others are rejected as
/// an old driver does), each of `values` a field and its 8 answers, `apps` its compute-apps rows.
fn fake_nvidia_smi(known: &[&str], values: &[(&str, [&str; 8])], apps: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let mut s = String::from(
        "#!/bin/sh\npick() { n=$1; shift; for x; do [ $n -eq 0 ] && { echo \"$x\"; return; }; \
         n=$((n-1)); done; }\n",
    );
    s += &format!("known=\" {} \"\n", known.join(" "));
    s += &format!(
        "case \"$1\" in --query-compute-apps=*) printf '%s' '{apps}'; exit 0;; \
         --query-gpu=*) q=\"${{1#--query-gpu=}}\";; *) exit 1;; esac\n"
    );
    s += "for f in $(echo \"$q\" | tr ',' ' '); do case \"$known\" in *\" $f \"*) ;; \
          *) echo \"Field \\\"$f\\\" is not a valid field to query.\"; exit 2;; esac; done\n";
    s += "for i in 0 1 2 3 4 5 6 7; do line=''; for f in $(echo \"$q\" | tr ',' ' '); do\n  case \"$f\" in\n    pci.bus_id) v=\"00000000:1$i:00.0\";;\n";
    for (field, vals) in values {
        s += &format!(
            "    {field}) v=$(pick $i {});;\n",
            vals.map(|v| format!("'{v}'")).join(" ")
        );
    }
    s += "    *) v='[N/A]';;\n  esac\n  line=\"$line${line:+, }$v\"\ndone; echo \"$line\"; done\n";
    let script = bin.join("nvidia-smi");
    std::fs::write(&script, s).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn env(dir: &tempfile::TempDir) -> Env {
    let mut e = Env::real();
    e.root = dir.path().to_path_buf();
    e.vars
        .insert("PATH".into(), dir.path().join("bin").display().to_string());
    e
}

const ALL: [&str; 5] = NVIDIA_FIELDS;
const ZEROS: [&str; 8] = ["0"; 8];
const NO: [&str; 8] = ["No"; 8];
const IDLE: [&str; 8] = ["0x0000000000000001"; 8];

fn healthy() -> Vec<(&'static str, [&'static str; 8])> {
    vec![
        ("ecc.errors.uncorrected.volatile.total", ZEROS),
        ("remapped_rows.pending", NO),
        ("remapped_rows.failure", NO),
        ("clocks_event_reasons.active", IDLE),
    ]
}

fn with(field: &str, gpu: usize, value: &'static str) -> Vec<(&'static str, [&'static str; 8])> {
    let mut v = healthy();
    for (f, vals) in &mut v {
        if *f == field {
            vals[gpu] = value;
        }
    }
    v
}

fn summary(checks: &[Check]) -> Vec<(String, Status, String)> {
    checks
        .iter()
        .map(|c| (c.id.clone(), c.status, c.finding.clone()))
        .collect()
}

fn run(known: &[&str], values: &[(&str, [&str; 8])], apps: &str) -> Vec<(String, Status, String)> {
    let dir = fake_nvidia_smi(known, values, apps);
    let h = query_nvidia(&env(&dir)).expect("nvidia-smi answered");
    summary(&nvidia_checks(&h, &[4242]))
}

fn s(x: &str) -> String {
    x.to_string()
}

#[test]
fn a_healthy_eight_gpu_node_passes_every_item() {
    assert_eq!(
        run(&ALL, &healthy(), ""),
        [
            (s("gpu-ecc"), Status::Pass, s("0 on 8 of 8 GPU(s)")),
            (
                s("gpu-row-remap"),
                Status::Pass,
                s("no pending or failed remap on 8 GPU(s)")
            ),
            (s("gpu-clocks"), Status::Pass, s("none on 8 GPU(s)")),
            (
                s("gpu-processes"),
                Status::Pass,
                s("no other compute process")
            ),
        ]
    );
}

#[test]
fn an_uncorrectable_ecc_error_fails_naming_the_gpu() {
    let r = run(
        &ALL,
        &with("ecc.errors.uncorrected.volatile.total", 3, "2"),
        "",
    );
    assert_eq!(
        r[0],
        (
            s("gpu-ecc"),
            Status::Fail,
            s("ecc.errors.uncorrected.volatile.total: 00000000:13:00.0: 2")
        )
    );
    assert!(r[1..].iter().all(|c| c.1 == Status::Pass), "{r:?}");
}

#[test]
fn a_pending_row_remap_and_a_failed_one_fail() {
    let r = run(&ALL, &with("remapped_rows.pending", 5, "Yes"), "");
    assert_eq!(
        r[1],
        (
            s("gpu-row-remap"),
            Status::Fail,
            s("remapped_rows.pending: Yes on 00000000:15:00.0")
        )
    );
    let r = run(&ALL, &with("remapped_rows.failure", 0, "Yes"), "");
    assert_eq!(
        r[1],
        (
            s("gpu-row-remap"),
            Status::Fail,
            s("remapped_rows.failure: Yes on 00000000:10:00.0")
        )
    );
}

#[test]
fn an_active_slowdown_warns_with_its_reasons_and_idle_does_not() {
    let r = run(
        &ALL,
        &with("clocks_event_reasons.active", 7, "0x0000000000000048"),
        "",
    );
    assert_eq!(
        r[2],
        (
            s("gpu-clocks"),
            Status::Warn,
            s("00000000:17:00.0: hardware slowdown, hardware thermal slowdown (0x48)")
        )
    );
}

#[test]
fn a_foreign_process_fails_and_our_own_does_not() {
    let apps = "00000000:12:00.0, 4242, hpcready, 100\n00000000:12:00.0, 977, python3, 40000\n";
    let r = run(&ALL, &healthy(), apps);
    assert_eq!(
        r[3],
        (
            s("gpu-processes"),
            Status::Fail,
            s("00000000:12:00.0: pid 977 python3 (40000 MiB)")
        )
    );
}

/// An old driver knows neither the row remapper nor the newer clock-event name: the remap item
/// is unknown (not passed) and the clocks come from the older field.
#[test]
fn an_old_tool_without_a_field_is_unknown_not_passed() {
    let known = [
        "pci.bus_id",
        "ecc.errors.uncorrected.volatile.total",
        "clocks_throttle_reasons.active",
    ];
    let values = vec![
        ("ecc.errors.uncorrected.volatile.total", ZEROS),
        ("clocks_throttle_reasons.active", IDLE),
    ];
    let r = run(&known, &values, "");
    assert_eq!(r[0].1, Status::Pass);
    assert_eq!(
        r[1],
        (
            s("gpu-row-remap"),
            Status::Info,
            s(
                "unknown: this nvidia-smi does not report remapped_rows.pending/failure (an older driver)"
            )
        )
    );
    assert_eq!(r[2], (s("gpu-clocks"), Status::Pass, s("none on 8 GPU(s)")));
    // ECC off: [N/A] everywhere is unknown too.
    let r = run(&ALL, &healthy()[1..], "");
    assert_eq!(r[0].1, Status::Info, "{r:?}");
}

#[test]
fn kernel_log_limits_and_shm() {
    let log = "[  12.3] NVRM: loading NVIDIA UNIX x86_64 Kernel Module\n\
               [ 812.0] NVRM: Xid (PCI:0000:13:00): 79, pid=0, GPU has fallen off the bus.\n";
    let c = kernel_log_check(Some(log));
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        c.finding,
        "1 line(s), e.g. \"[ 812.0] NVRM: Xid (PCI:0000:13:00): 79, pid=0, GPU has fallen off the bus.\""
    );
    let amd = "amdgpu 0000:c1:00.0: amdgpu: GPU reset begin!\n";
    assert_eq!(kernel_log_check(Some(amd)).status, Status::Fail);
    assert_eq!(kernel_log_check(Some("all quiet\n")).status, Status::Pass);
    assert_eq!(kernel_log_check(None).status, Status::Info);
    assert_eq!(memlock_check(None).status, Status::Pass);
    assert_eq!(memlock_check(Some(64 << 10)).status, Status::Warn);
    assert_eq!(memlock_check(Some(64 << 30)).status, Status::Pass);
    assert_eq!(shm_check(Some(64 << 20)).status, Status::Warn);
    assert_eq!(shm_check(Some(256 << 30)).status, Status::Pass);
    assert_eq!(shm_check(None).status, Status::Warn);
}
