//! The machine's load during a run, so a noisy run is recognisable: load average, CPU steal time
//! (hypervisor), and our own share of the CPU time available to us.
//!
//! - steal fraction = Δsteal / Δtotal over the run, from the first line of `/proc/stat`;
//! - own CPU share = our CPU time (getrusage) / (wall time × usable threads);
//! - other load ≈ the 1-minute load average at the start, before our own threads ran.

use serde::{Deserialize, Serialize};
use std::time::Instant;

/// A reading of the counters, taken at the start and end of a run.
#[derive(Debug, Clone)]
pub struct LoadSnapshot {
    at: Instant,
    load_avg: [f64; 3],
    stat: Option<(u64, u64)>,
    own_cpu_s: Option<f64>,
}

/// The load over a run, as recorded in results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// 1, 5, 15-minute load averages at the start.
    pub load_avg_start: [f64; 3],
    /// 1, 5, 15-minute load averages at the end.
    pub load_avg_end: [f64; 3],
    /// Fraction of CPU time stolen by the hypervisor during the run (Linux), where known.
    pub steal_fraction: Option<f64>,
    /// Our CPU time over wall time × usable threads.
    pub own_cpu_share: Option<f64>,
    /// Wall time covered, in seconds.
    pub wall_s: f64,
    /// Threads the load is relative to.
    pub usable_threads: usize,
    /// Plain-language warnings (`steal 12%`, `load 3.1 on 2 threads before the run`).
    pub warnings: Vec<String>,
}

fn proc_stat() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    parse_proc_stat(&text)
}

/// (steal, total) jiffies from the aggregate `cpu` line of `/proc/stat`.
pub fn parse_proc_stat(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
    // included in user and nice, so the total stops at steal.
    let total = fields.iter().take(8).sum();
    Some((fields.get(7).copied().unwrap_or(0), total))
}

fn own_cpu_seconds() -> Option<f64> {
    #[cfg(unix)]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage writes a full rusage into the pointer it is given.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
        if rc != 0 {
            return None;
        }
        // SAFETY: getrusage returned 0, so the struct is initialised.
        let u = unsafe { usage.assume_init() };
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
        Some(tv(u.ru_utime) + tv(u.ru_stime))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

impl LoadSnapshot {
    /// Reads the counters now.
    pub fn take() -> Self {
        let load_avg = sysinfo::System::load_average()
            .map(|la| [la.one, la.five, la.fifteen])
            .unwrap_or([0.0; 3]);
        Self {
            at: Instant::now(),
            load_avg,
            stat: proc_stat(),
            own_cpu_s: own_cpu_seconds(),
        }
    }

    /// The load between this snapshot and now.
    pub fn report(&self, usable_threads: usize) -> LoadReport {
        let end = Self::take();
        let wall_s = end.at.duration_since(self.at).as_secs_f64();
        let steal_fraction = match (self.stat, end.stat) {
            (Some((s0, t0)), Some((s1, t1))) if t1 > t0 => {
                Some(s1.saturating_sub(s0) as f64 / (t1 - t0) as f64)
            }
            _ => None,
        };
        let own_cpu_share = match (self.own_cpu_s, end.own_cpu_s) {
            (Some(a), Some(b)) if wall_s > 0.0 => Some((b - a) / (wall_s * usable_threads as f64)),
            _ => None,
        };
        let mut warnings = Vec::new();
        if let Some(steal) = steal_fraction.filter(|&s| s > 0.02) {
            warnings.push(format!(
                "the hypervisor stole {:.1}% of CPU time during the run",
                steal * 100.0
            ));
        }
        if self.load_avg[0] > 0.5 * usable_threads as f64 {
            warnings.push(format!(
                "load average was {:.2} on {usable_threads} threads before the run started: \
                 other work was competing",
                self.load_avg[0]
            ));
        }
        LoadReport {
            load_avg_start: self.load_avg,
            load_avg_end: end.load_avg,
            steal_fraction,
            own_cpu_share,
            wall_s,
            usable_threads,
            warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat() {
        let text = "cpu  100 5 50 1000 10 1 2 30 7 0\ncpu0 1 2 3\n";
        assert_eq!(parse_proc_stat(text), Some((30, 1198)));
        assert_eq!(parse_proc_stat("intr 1 2"), None);
    }

    #[test]
    fn reports_a_share_between_zero_and_one() {
        let snap = LoadSnapshot::take();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(x);
        let r = snap.report(1);
        assert!(r.wall_s > 0.0);
        // Other tests run in this process at the same time, so only the sign is certain.
        assert!(r.own_cpu_share.is_none_or(|s| s >= 0.0));
    }
}
