//! The energy counters, read from fake /sys trees and fake vendor answers.

use super::discover::nvml;
use super::*;
use std::time::Duration;

fn root() -> (tempfile::TempDir, Env) {
    let dir = tempfile::tempdir().unwrap();
    let mut e = Env::real();
    e.root = dir.path().to_path_buf();
    (dir, e)
}

fn put(env: &Env, path: &str, text: &str) {
    let p = env.sys(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// `b` as a snapshot `secs` after `a`.
fn later(a: &Snapshot, mut b: Snapshot, secs: f64) -> Snapshot {
    b.at = a.at + Duration::from_secs_f64(secs);
    b
}

#[test]
fn pm_counters_give_the_node_and_its_breakdown() {
    let (_d, env) = root();
    let pm = "/sys/cray/pm_counters";
    put(
        &env,
        &format!("{pm}/energy"),
        "1000 J 1700000000000000 us\n",
    );
    put(
        &env,
        &format!("{pm}/accel0_energy"),
        "200 J 1700000000000000 us\n",
    );
    put(
        &env,
        &format!("{pm}/cpu_energy"),
        "100 J 1700000000000000 us\n",
    );
    put(&env, &format!("{pm}/freshness"), "41\n");
    let m = discover(&env).unwrap();
    assert_eq!(m.describe(), "pm_counters (node-level)");
    let a = m.snapshot().unwrap();
    put(
        &env,
        &format!("{pm}/energy"),
        "1600 J 1700000010000000 us\n",
    );
    put(
        &env,
        &format!("{pm}/accel0_energy"),
        "500 J 1700000010000000 us\n",
    );
    put(
        &env,
        &format!("{pm}/cpu_energy"),
        "150 J 1700000010000000 us\n",
    );
    put(&env, &format!("{pm}/freshness"), "141\n");
    let b = later(&a, m.snapshot().unwrap(), 10.0);
    let e = m.between(&a, &b).unwrap();
    assert_eq!(e.joules, 600.0);
    assert_eq!(e.watts, 60.0);
    assert_eq!(e.scope, Scope::Node);
    assert_eq!(
        e.counters,
        [
            ("energy".to_string(), 600.0),
            ("accel0_energy".to_string(), 300.0),
            ("cpu_energy".to_string(), 50.0)
        ]
    );
    // Freshness that did not move over 10 s: stale, not a figure.
    put(&env, &format!("{pm}/freshness"), "41\n");
    let c = later(&a, m.snapshot().unwrap(), 10.0);
    assert!(matches!(
        m.between(&a, &c),
        Err(EnergyError::Stale { freshness: 41, .. })
    ));
    // Backwards without a wrap.
    put(&env, &format!("{pm}/freshness"), "142\n");
    put(&env, &format!("{pm}/energy"), "900 J 1700000020000000 us\n");
    let d = later(&a, m.snapshot().unwrap(), 20.0);
    let err = m.between(&a, &d).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the energy counter went backwards (1000 → 900): the reading is not used"
    );
}

#[test]
fn rapl_wraps_at_its_range_and_sums_the_packages() {
    let (_d, env) = root();
    let z = "/sys/class/powercap";
    for (i, (uj, max)) in [
        (262_000_000_000u64, 262_143_328_850u64),
        (5_000_000, 262_143_328_850),
    ]
    .iter()
    .enumerate()
    {
        put(
            &env,
            &format!("{z}/intel-rapl:{i}/name"),
            &format!("package-{i}\n"),
        );
        put(
            &env,
            &format!("{z}/intel-rapl:{i}/energy_uj"),
            &format!("{uj}\n"),
        );
        put(
            &env,
            &format!("{z}/intel-rapl:{i}/max_energy_range_uj"),
            &format!("{max}\n"),
        );
    }
    // A subzone (dram inside package 0) is not summed twice.
    put(&env, &format!("{z}/intel-rapl:0:0/energy_uj"), "7\n");
    let m = discover(&env).unwrap();
    assert_eq!(m.describe(), "rapl (CPU-only)");
    let a = m.snapshot().unwrap();
    // Package 0 wraps: 143,328,850 µJ to its range, then 56,671,150 from zero = 200 J.
    put(&env, &format!("{z}/intel-rapl:0/energy_uj"), "56671150\n");
    put(&env, &format!("{z}/intel-rapl:1/energy_uj"), "105000000\n");
    let b = later(&a, m.snapshot().unwrap(), 4.0);
    let e = m.between(&a, &b).unwrap();
    assert!((e.joules - 300.0).abs() < 1e-6, "{e:?}");
    assert_eq!(e.counters[0].0, "package-0");
    assert!((e.counters[0].1 - 200.0).abs() < 1e-6);
    assert!((e.watts - 75.0).abs() < 1e-6);
}

#[test]
fn amdgpu_hwmon_counts_amd_gpus_only() {
    let (_d, env) = root();
    let drm = "/sys/class/drm";
    put(&env, &format!("{drm}/card0/device/vendor"), "0x1002\n");
    put(
        &env,
        &format!("{drm}/card0/device/hwmon/hwmon3/energy1_input"),
        "1000000\n",
    );
    put(&env, &format!("{drm}/card1/device/vendor"), "0x10de\n");
    put(
        &env,
        &format!("{drm}/card1/device/hwmon/hwmon4/energy1_input"),
        "9\n",
    );
    let m = discover(&env).unwrap();
    assert_eq!(m.describe(), "amdgpu-hwmon (GPU-only)");
    let a = m.snapshot().unwrap();
    put(
        &env,
        &format!("{drm}/card0/device/hwmon/hwmon3/energy1_input"),
        "51000000\n",
    );
    let b = later(&a, m.snapshot().unwrap(), 0.5);
    let e = m.between(&a, &b).unwrap();
    assert_eq!(e.counters, [("card0".to_string(), 50.0)]);
}

/// No counter: every reason, RAPL's unreadable file named, never a zero.
#[test]
fn a_node_without_a_counter_says_why() {
    let (_d, env) = root();
    let why = discover(&env).unwrap_err();
    assert_eq!(why.len(), 5, "{why:?}");
    assert!(why[0].contains("not an HPE Cray EX node"));
    assert!(why[1].starts_with("NVML: not read for a node under"));
    assert!(why[3].starts_with("sampled power: no AMD GPU power1_average"));
    assert!(why[4].contains("most VMs have none"));
    // A RAPL zone whose counter is not a number (as unreadable).
    put(
        &env,
        "/sys/class/powercap/intel-rapl:0/energy_uj",
        "denied\n",
    );
    let why = discover(&env).unwrap_err();
    assert!(
        why[4].contains("not a counter") && why[4].contains("root-only"),
        "{why:?}"
    );
}

#[test]
fn sampled_power_is_integrated_and_needs_sixty_samples() {
    let (_d, env) = root();
    // An ACPI power meter (Grace on GH200 reports there) at a steady 250 W.
    put(&env, "/sys/class/hwmon/hwmon3/name", "power_meter\n");
    put(
        &env,
        "/sys/class/hwmon/hwmon3/power1_average",
        "250000000\n",
    );
    let m = discover(&env).unwrap();
    assert_eq!(
        (m.method, m.scope),
        (Method::PowerMeterSampled, Scope::Node)
    );
    assert_eq!(m.min_seconds(), 6.0);
    let a = m.snapshot().unwrap();
    std::thread::sleep(Duration::from_millis(650));
    let b = m.snapshot().unwrap();
    // Too few samples for MLPerf's rule: said, not used.
    let short = m.record(&a, &b, 1);
    assert!(
        matches!(&short, EnergyRecord::NotMeasured { why } if why.contains("ask for at least 60")),
        "{short:?}"
    );
    // The integral itself: about 250 W over the sampled time.
    let e = m.between(&a, &b).unwrap();
    let w = e.joules / e.seconds;
    assert!((150.0..=350.0).contains(&w), "{w} W");
    // An AMD GPU with power but no energy counter is sampled as a GPU-only meter.
    let (_d2, env2) = root();
    put(&env2, "/sys/class/drm/card0/device/vendor", "0x1002\n");
    put(
        &env2,
        "/sys/class/drm/card0/device/hwmon/hwmon0/power1_average",
        "90000000\n",
    );
    let g = discover(&env2).unwrap();
    assert_eq!(
        (g.method, g.scope),
        (Method::AmdgpuPowerSampled, Scope::Gpu)
    );
}

#[test]
fn nvml_without_a_driver_is_a_reason_not_a_zero() {
    // CI has no NVIDIA driver: the reason names the library; a GPU node reads its counters.
    match nvml() {
        Err(why) => assert!(why.starts_with("NVML: "), "{why}"),
        Ok(m) => assert!(m.counters.iter().all(|c| c.name.starts_with("gpu"))),
    }
}

#[test]
fn a_region_too_short_for_the_counter_is_not_reported() {
    let (_d, env) = root();
    let pm = "/sys/cray/pm_counters";
    put(&env, &format!("{pm}/energy"), "1000 J\n");
    put(&env, &format!("{pm}/freshness"), "1\n");
    let m = discover(&env).unwrap();
    let a = m.snapshot().unwrap();
    put(&env, &format!("{pm}/energy"), "1300 J\n");
    put(&env, &format!("{pm}/freshness"), "9\n");
    let b = m.snapshot().unwrap();
    let short = m.record(&a, &later(&a, b.clone(), 1.5), 10);
    assert!(
        matches!(&short, EnergyRecord::NotMeasured { why } if why.contains("1.50 s, under the 2 s pm_counters")),
        "{short:?}"
    );
    // Freshness moved but the energy did not: a stuck counter, not zero joules.
    let mut moved = a.clone();
    moved.freshness = Some(5);
    let stuck = m.record(&a, &later(&a, moved, 3.0), 10);
    assert!(
        matches!(&stuck, EnergyRecord::NotMeasured { why } if why.contains("did not move")),
        "{stuck:?}"
    );
    let long = m.record(&a, &later(&a, b, 3.0), 10);
    let e = long.energy().unwrap();
    assert_eq!(
        (e.joules, e.runs, e.joules_per_run()),
        (300.0, 10, Some(30.0))
    );
    assert!((e.watts - 100.0).abs() < 1e-9);
    // The status a run records: the counter found, or why none, or off.
    let (meter, status) = MeterStatus::discover(&env, false);
    assert!(meter.is_some());
    assert_eq!(status.describe(), "pm_counters (node-level)");
    assert_eq!(MeterStatus::discover(&env, true).1, MeterStatus::Off);
    let json = serde_json::to_string(&long).unwrap();
    assert!(json.starts_with(r#"{"status":"measured","#), "{json}");
    assert_eq!(serde_json::from_str::<EnergyRecord>(&json).unwrap(), long);
}
