//! The node's energy counters, read around a timed region: HPE Cray EX's `pm_counters` (node,
//! per accelerator, CPU, memory; LUMI), amdgpu's hwmon energy (per GPU), and RAPL under
//! `/sys/class/powercap` (CPU packages, wrapping at `max_energy_range_uj`). The best counter the
//! node has is used and named with what it covers (GPU-only, CPU-only or the whole node). A node
//! without one says why, counter by counter — never a zero. A counter that goes backwards (a
//! RAPL counter wraps, and that is handled) or stops updating (`pm_counters`' `freshness`) makes
//! the reading fail with what happened.
//!
//! NVIDIA GPUs' energy comes from NVML's cumulative counter (`nvmlDeviceGetTotalEnergyConsumption`,
//! millijoules since the driver loaded, Volta and later), with libnvidia-ml loaded at run time.
//!
//! Method (MLPerf Training's power rules; CEEC CoE, arXiv:2511.03029): the difference of an
//! energy counter over the timed region. A region shorter than [`Meter::min_seconds`] (20 updates
//! of the counter, so that one update's step at either end stays within 10%) is not reported.

mod discover;
pub mod recorder;
mod sampled;

pub use discover::discover;

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
    /// NVML's total energy counter (NVIDIA).
    Nvml,
    /// amdgpu's hwmon `power1_average`, sampled at 10 Hz and integrated.
    AmdgpuPowerSampled,
    /// The ACPI power meter's hwmon (`power_meter`; Grace on GH200), sampled and integrated.
    PowerMeterSampled,
}

impl Method {
    /// The name results carry.
    pub fn name(self) -> &'static str {
        match self {
            Method::PmCounters => "pm_counters",
            Method::AmdgpuHwmon => "amdgpu-hwmon",
            Method::Rapl => "rapl",
            Method::Nvml => "nvml",
            Method::AmdgpuPowerSampled => "amdgpu-power-sampled",
            Method::PowerMeterSampled => "acpi-power-meter-sampled",
        }
    }
}

/// Where a counter is read.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// A sysfs file.
    File(PathBuf),
    /// NVML's counter of the GPU at this index.
    Nvml(u32),
    /// The sampler's running total of this source.
    Sampled(usize),
}

/// The power sampler; meters holding the same one compare equal.
#[derive(Debug, Clone)]
struct SamplerRef(std::sync::Arc<sampled::Sampler>);

impl PartialEq for SamplerRef {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

/// NVML, loaded once; meters holding the same library compare equal.
#[derive(Clone)]
struct NvmlLib(std::sync::Arc<nvml_wrapper::Nvml>);

impl std::fmt::Debug for NvmlLib {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NVML")
    }
}

impl PartialEq for NvmlLib {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

/// One counter.
#[derive(Debug, Clone, PartialEq)]
struct Counter {
    /// Its name in results (`energy`, `accel0_energy`, `package-0`, `card0`, `gpu0`).
    name: String,
    source: Source,
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
    /// NVML, for [`Source::Nvml`] counters.
    nvml: Option<NvmlLib>,
    /// The power sampler, for [`Source::Sampled`] counters.
    sampler: Option<SamplerRef>,
}

/// The counters read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    values: Vec<u64>,
    freshness: Option<u64>,
    /// Power samples taken so far (sampled meters).
    samples: Option<u64>,
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
    /// Runs of the measured operation over the region (steps, kernel calls); 0 when not counted.
    #[serde(default)]
    pub runs: u64,
}

impl Energy {
    /// Joules per run of the measured operation, when runs were counted.
    pub fn joules_per_run(&self) -> Option<f64> {
        (self.runs > 0).then(|| self.joules / self.runs as f64)
    }
}

/// The energy one measurement used, or why it has none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum EnergyRecord {
    /// Read from the node's counter over the timed region.
    Measured(Energy),
    /// The counter was there but this measurement's reading is not used (too short, went
    /// backwards, stopped updating, unreadable).
    NotMeasured {
        /// What happened.
        why: String,
    },
}

impl EnergyRecord {
    /// The energy, when measured.
    pub fn energy(&self) -> Option<&Energy> {
        match self {
            Self::Measured(e) => Some(e),
            Self::NotMeasured { .. } => None,
        }
    }
}

/// Which counter a run read, or why it read none: results carry it once per run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum MeterStatus {
    /// This counter was read around every long-enough measurement.
    Found {
        /// Where it comes from.
        method: Method,
        /// What it covers.
        scope: Scope,
        /// Its counters, by name (`energy`, `accel0_energy`, `gpu0` …).
        counters: Vec<String>,
    },
    /// The node has no counter this build reads: why, counter by counter.
    Missing {
        /// One line per kind of counter.
        why: Vec<String>,
    },
    /// Energy was turned off (`--no-energy`).
    Off,
}

impl MeterStatus {
    /// Discovers the node's counter (or says why there is none) unless `off`.
    pub fn discover(env: &Env, off: bool) -> (Option<Meter>, Self) {
        if off {
            return (None, Self::Off);
        }
        match discover(env) {
            Ok(m) => {
                let status = Self::Found {
                    method: m.method,
                    scope: m.scope,
                    counters: m.counters.iter().map(|c| c.name.clone()).collect(),
                };
                (Some(m), status)
            }
            Err(why) => (None, Self::Missing { why }),
        }
    }

    /// In words, for reports: `pm_counters (node-level)`, or why there is none.
    pub fn describe(&self) -> String {
        match self {
            Self::Found { method, scope, .. } => {
                format!("{} ({})", method.name(), scope.describe())
            }
            Self::Missing { why } => format!("no energy counter: {}", why.join("; ")),
            Self::Off => "energy not read (--no-energy)".into(),
        }
    }
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

impl Meter {
    /// In words: `pm_counters (node-level)`.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.method.name(), self.scope.describe())
    }

    /// The shortest region whose reading is reported: 20 of the counter's updates, so that a
    /// step of one update at either end stays within 10%. pm_counters update at 10 Hz (HPE Cray
    /// docs) and NVML's counter about as often on recent drivers; RAPL and amdgpu's hwmon every
    /// millisecond or so, where half a second is still asked for.
    pub fn min_seconds(&self) -> f64 {
        match self.method {
            Method::PmCounters | Method::Nvml => 2.0,
            Method::AmdgpuHwmon | Method::Rapl => 0.5,
            // 60 samples at 10 Hz.
            Method::AmdgpuPowerSampled | Method::PowerMeterSampled => {
                sampled::MIN_SAMPLES as f64 * sampled::INTERVAL.as_secs_f64()
            }
        }
    }

    fn read(&self, c: &Counter) -> Result<u64, String> {
        match &c.source {
            Source::File(p) => read_number(p),
            Source::Nvml(i) => {
                let lib = self.nvml.as_ref().ok_or("NVML not loaded")?;
                lib.0
                    .device_by_index(*i)
                    .and_then(|d| d.total_energy_consumption())
                    .map_err(|e| format!("NVML GPU {i}: {e}"))
            }
            Source::Sampled(i) => {
                let s = self
                    .sampler
                    .as_ref()
                    .ok_or("the power sampler is not running")?;
                s.0.read(*i).map(|(uj, _)| uj)
            }
        }
    }

    /// Reads the counters around `region`, which returns the runs it made; the record says
    /// why when the reading is not used.
    pub fn around<T, E>(
        &self,
        region: impl FnOnce() -> Result<(T, u64), E>,
    ) -> Result<(T, EnergyRecord), E> {
        let before = self.snapshot();
        let (out, runs) = region()?;
        let after = self.snapshot();
        let record = match (before, after) {
            (Ok(a), Ok(b)) => self.record(&a, &b, runs),
            (Err(e), _) | (_, Err(e)) => EnergyRecord::NotMeasured { why: e.to_string() },
        };
        Ok((out, record))
    }

    /// Reads the counters now and records the region since `before`, in which `runs` runs were
    /// made (`before` from [`Meter::snapshot`] at its start).
    pub fn since(&self, before: Result<Snapshot, EnergyError>, runs: u64) -> EnergyRecord {
        match (before, self.snapshot()) {
            (Ok(a), Ok(b)) => self.record(&a, &b, runs),
            (Err(e), _) | (_, Err(e)) => EnergyRecord::NotMeasured { why: e.to_string() },
        }
    }

    /// The record of the region between two snapshots in which `runs` runs were made.
    pub fn record(&self, a: &Snapshot, b: &Snapshot, runs: u64) -> EnergyRecord {
        if let (Some(x), Some(y)) = (a.samples, b.samples)
            && y.saturating_sub(x) < sampled::MIN_SAMPLES
        {
            return EnergyRecord::NotMeasured {
                why: format!(
                    "{} power samples over the region: MLPerf's power rules ask for at least {}",
                    y.saturating_sub(x),
                    sampled::MIN_SAMPLES
                ),
            };
        }
        match self.between(a, b) {
            Ok(e) if e.seconds < self.min_seconds() => EnergyRecord::NotMeasured {
                why: format!(
                    "the timed region lasted {:.2} s, under the {} s {} needs",
                    e.seconds,
                    self.min_seconds(),
                    self.method.name()
                ),
            },
            // A real load always moves a counter within 20 updates: a zero is a stuck counter.
            Ok(e) if e.joules <= 0.0 => EnergyRecord::NotMeasured {
                why: format!(
                    "the {} counter did not move over {:.1} s: it is not updating",
                    self.method.name(),
                    e.seconds
                ),
            },
            Ok(mut e) => {
                e.runs = runs;
                EnergyRecord::Measured(e)
            }
            Err(e) => EnergyRecord::NotMeasured { why: e.to_string() },
        }
    }

    /// Reads every counter now.
    pub fn snapshot(&self) -> Result<Snapshot, EnergyError> {
        let values = self
            .counters
            .iter()
            .map(|c| self.read(c))
            .collect::<Result<Vec<u64>, String>>()
            .map_err(EnergyError::Unreadable)?;
        let freshness = match &self.freshness {
            Some(p) => Some(read_number(p).map_err(EnergyError::Unreadable)?),
            None => None,
        };
        let samples = match &self.sampler {
            Some(s) => Some(s.0.read(0).map_err(EnergyError::Unreadable)?.1),
            None => None,
        };
        Ok(Snapshot {
            values,
            freshness,
            samples,
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
            runs: 0,
        })
    }
}

#[cfg(test)]
mod tests;
