//! The node's energy counters, read around a timed region: HPE Cray EX's `pm_counters` (node,
//! per accelerator, CPU, memory; LUMI), amdgpu's hwmon energy (per GPU), and RAPL under
//! `/sys/class/powercap` (CPU packages, wrapping at `max_energy_range_uj`). The best counter the
//! node has is used and named with what it covers (GPU-only, CPU-only or the whole node). A node
//! without one says why, counter by counter — never a zero. A counter that goes backwards (a
//! RAPL counter wraps, and that is handled) or stops updating (`pm_counters`' `freshness`) makes
//! the reading fail with what happened.
//!
//! Method (MLPerf Training's power rules; CEEC CoE, arXiv:2511.03029): the difference of an
//! energy counter over the timed region. NVML's counter (NVIDIA) is not read here yet.

use super::env::Env;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

/// What a counter covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// The accelerators only.
    Gpu,
    /// The CPU packages only.
    Cpu,
    /// The whole node (CPU, memory, accelerators, the rest of the board).
    Node,
}

impl Scope {
    /// In words, for results and reports.
    pub fn describe(self) -> &'static str {
        match self {
            Scope::Gpu => "GPU-only",
            Scope::Cpu => "CPU-only",
            Scope::Node => "node-level",
        }
    }
}

/// Where the counters come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// `/sys/cray/pm_counters` (HPE Cray EX).
    PmCounters,
    /// amdgpu's hwmon `energy1_input`.
    AmdgpuHwmon,
    /// RAPL under `/sys/class/powercap`.
    Rapl,
}

impl Method {
    /// The name results carry.
    pub fn name(self) -> &'static str {
        match self {
            Method::PmCounters => "pm_counters",
            Method::AmdgpuHwmon => "amdgpu-hwmon",
            Method::Rapl => "rapl",
        }
    }
}

/// One counter file.
#[derive(Debug, Clone, PartialEq)]
struct Counter {
    /// Its name in results (`energy`, `accel0_energy`, `package-0`, `card0`).
    name: String,
    path: PathBuf,
    /// Joules per unit the file counts in.
    joules_per_unit: f64,
    /// Where it wraps to zero (RAPL's `max_energy_range_uj`).
    wraps_at: Option<u64>,
    /// Whether it is summed into the total (a breakdown counter is not).
    total: bool,
}

/// The counters chosen for this node.
#[derive(Debug, Clone, PartialEq)]
pub struct Meter {
    /// Where they come from.
    pub method: Method,
    /// What the total covers.
    pub scope: Scope,
    counters: Vec<Counter>,
    /// `pm_counters`' `freshness`: it counts up while the counters update.
    freshness: Option<PathBuf>,
}

/// The counters read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    values: Vec<u64>,
    freshness: Option<u64>,
    at: Instant,
}

/// The energy a region used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Energy {
    /// `pm_counters`, `rapl`, `amdgpu-hwmon`.
    pub method: Method,
    /// What `joules` covers.
    pub scope: Scope,
    /// Joules over the region (the total counters).
    pub joules: f64,
    /// Seconds between the two readings.
    pub seconds: f64,
    /// joules / seconds.
    pub watts: f64,
    /// Every counter's joules, the breakdown ones too (`accel0_energy` …).
    pub counters: Vec<(String, f64)>,
}

/// Why there is no energy figure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnergyError {
    /// A counter could not be read.
    #[error("{0}")]
    Unreadable(String),
    /// A counter went backwards without a known wrap.
    #[error("the {counter} counter went backwards ({before} → {after}): the reading is not used")]
    Backwards {
        /// Its name.
        counter: String,
        /// First reading.
        before: u64,
        /// Second reading.
        after: u64,
    },
    /// The counters stopped updating.
    #[error(
        "the counters stopped updating (pm_counters freshness {freshness} unchanged over {seconds:.1} s): the reading is not used"
    )]
    Stale {
        /// The unchanged freshness.
        freshness: u64,
        /// Seconds between the readings.
        seconds: f64,
    },
}

/// The first number of a counter file (`pm_counters`: `123456 J 1700000000000000 us`; sysfs:
/// `123456`).
fn read_number(path: &std::path::Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.split_whitespace()
        .next()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| format!("{}: not a counter: {:?}", path.display(), text.trim()))
}

/// Finds the best counters on this node, else every reason there is none.
pub fn discover(env: &Env) -> Result<Meter, Vec<String>> {
    let mut why = Vec::new();
    match pm_counters(env) {
        Ok(m) => return Ok(m),
        Err(e) => why.push(e),
    }
    match amdgpu_hwmon(env) {
        Ok(m) => return Ok(m),
        Err(e) => why.push(e),
    }
    match rapl(env) {
        Ok(m) => return Ok(m),
        Err(e) => why.push(e),
    }
    why.push("NVML's energy counter (NVIDIA) is not read yet".into());
    Err(why)
}

fn pm_counters(env: &Env) -> Result<Meter, String> {
    let dir = env.sys("/sys/cray/pm_counters");
    if !dir.is_dir() {
        return Err("pm_counters: no /sys/cray/pm_counters (not an HPE Cray EX node)".into());
    }
    let node = dir.join("energy");
    read_number(&node).map_err(|e| format!("pm_counters: {e}"))?;
    let mut counters = vec![Counter {
        name: "energy".into(),
        path: node,
        joules_per_unit: 1.0,
        wraps_at: None,
        total: true,
    }];
    let mut extra: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("pm_counters: {}: {e}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with("_energy"))
        .collect();
    extra.sort();
    for name in extra {
        let path = dir.join(&name);
        if read_number(&path).is_ok() {
            counters.push(Counter {
                name,
                path,
                joules_per_unit: 1.0,
                wraps_at: None,
                total: false,
            });
        }
    }
    let freshness = Some(dir.join("freshness")).filter(|p| read_number(p).is_ok());
    Ok(Meter {
        method: Method::PmCounters,
        scope: Scope::Node,
        counters,
        freshness,
    })
}

fn amdgpu_hwmon(env: &Env) -> Result<Meter, String> {
    let drm = env.sys("/sys/class/drm");
    let mut cards: Vec<(String, PathBuf)> = std::fs::read_dir(&drm)
        .map(|d| {
            d.filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().into_string().ok()?;
                (name.starts_with("card") && !name.contains('-')).then(|| (name, e.path()))
            })
            .collect()
        })
        .unwrap_or_default();
    cards.sort();
    let mut counters = Vec::new();
    for (card, path) in cards {
        let dev = path.join("device");
        let amd = std::fs::read_to_string(dev.join("vendor"))
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("0x1002"));
        if !amd {
            continue;
        }
        let Ok(hw) = std::fs::read_dir(dev.join("hwmon")) else {
            continue;
        };
        let mut hw: Vec<PathBuf> = hw.filter_map(|e| Some(e.ok()?.path())).collect();
        hw.sort();
        if let Some(file) = hw
            .iter()
            .map(|h| h.join("energy1_input"))
            .find(|f| read_number(f).is_ok())
        {
            counters.push(Counter {
                name: card,
                path: file,
                joules_per_unit: 1e-6,
                wraps_at: None,
                total: true,
            });
        }
    }
    if counters.is_empty() {
        return Err("amdgpu hwmon: no AMD GPU with a readable energy1_input".into());
    }
    Ok(Meter {
        method: Method::AmdgpuHwmon,
        scope: Scope::Gpu,
        counters,
        freshness: None,
    })
}

fn rapl(env: &Env) -> Result<Meter, String> {
    let dir = env.sys("/sys/class/powercap");
    let mut zones: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().into_string().ok()?;
                // Top-level packages only (`intel-rapl:0`); `intel-rapl:0:1` is inside one.
                (name.starts_with("intel-rapl:") && name.matches(':').count() == 1)
                    .then(|| e.path())
            })
            .collect()
        })
        .unwrap_or_default();
    zones.sort();
    if zones.is_empty() {
        return Err("RAPL: no /sys/class/powercap/intel-rapl:* (most VMs have none)".into());
    }
    let mut counters = Vec::new();
    let mut unreadable = Vec::new();
    for z in zones {
        let file = z.join("energy_uj");
        match read_number(&file) {
            Ok(_) => counters.push(Counter {
                name: std::fs::read_to_string(z.join("name"))
                    .map(|n| n.trim().to_string())
                    .unwrap_or_else(|_| z.display().to_string()),
                path: file,
                joules_per_unit: 1e-6,
                wraps_at: read_number(&z.join("max_energy_range_uj")).ok(),
                total: true,
            }),
            Err(e) => unreadable.push(e),
        }
    }
    if counters.is_empty() {
        return Err(format!(
            "RAPL: {} (energy_uj is root-only on most kernels since 2020)",
            unreadable.join("; ")
        ));
    }
    Ok(Meter {
        method: Method::Rapl,
        scope: Scope::Cpu,
        counters,
        freshness: None,
    })
}

impl Meter {
    /// In words: `pm_counters (node-level)`.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.method.name(), self.scope.describe())
    }

    /// Reads every counter now.
    pub fn snapshot(&self) -> Result<Snapshot, EnergyError> {
        let values = self
            .counters
            .iter()
            .map(|c| read_number(&c.path))
            .collect::<Result<Vec<u64>, String>>()
            .map_err(EnergyError::Unreadable)?;
        let freshness = match &self.freshness {
            Some(p) => Some(read_number(p).map_err(EnergyError::Unreadable)?),
            None => None,
        };
        Ok(Snapshot {
            values,
            freshness,
            at: Instant::now(),
        })
    }

    /// The energy between two snapshots of this meter.
    pub fn between(&self, a: &Snapshot, b: &Snapshot) -> Result<Energy, EnergyError> {
        let seconds = b.at.duration_since(a.at).as_secs_f64();
        if let (Some(fa), Some(fb)) = (a.freshness, b.freshness)
            && fa == fb
            && seconds > 1.0
        {
            return Err(EnergyError::Stale {
                freshness: fa,
                seconds,
            });
        }
        let mut counters = Vec::new();
        let mut joules = 0.0;
        for ((c, &before), &after) in self.counters.iter().zip(&a.values).zip(&b.values) {
            let units = if after >= before {
                after - before
            } else {
                match c.wraps_at {
                    // One wrap: up to the range, then from zero.
                    Some(max) if before <= max => max - before + after,
                    _ => {
                        return Err(EnergyError::Backwards {
                            counter: c.name.clone(),
                            before,
                            after,
                        });
                    }
                }
            };
            let j = units as f64 * c.joules_per_unit;
            if c.total {
                joules += j;
            }
            counters.push((c.name.clone(), j));
        }
        Ok(Energy {
            method: self.method,
            scope: self.scope,
            joules,
            seconds,
            watts: if seconds > 0.0 { joules / seconds } else { 0.0 },
            counters,
        })
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(why.len(), 4, "{why:?}");
        assert!(why[0].contains("not an HPE Cray EX node"));
        assert!(why[2].contains("most VMs have none"));
        assert!(why[3].contains("NVML"));
        // A RAPL zone whose counter is not a number (as unreadable).
        put(
            &env,
            "/sys/class/powercap/intel-rapl:0/energy_uj",
            "denied\n",
        );
        let why = discover(&env).unwrap_err();
        assert!(
            why[2].contains("not a counter") && why[2].contains("root-only"),
            "{why:?}"
        );
    }
}
