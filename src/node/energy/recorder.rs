//! A meter read on a thread every 100 ms, each reading stamped with Unix time, so that the energy
//! of a window another process timed (the torch harness's timed steps across ranks) can be read
//! afterwards: the counters' running total is interpolated linearly at the window's two ends.

use super::{EnergyError, EnergyRecord, Meter, Snapshot};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the recorder reads the meter.
pub const INTERVAL: Duration = Duration::from_millis(100);

type Log = Arc<Mutex<Vec<(f64, Result<Snapshot, EnergyError>)>>>;

/// The recording; stops when dropped.
#[derive(Debug)]
pub struct Recorder {
    meter: Meter,
    log: Log,
    stop: Arc<AtomicBool>,
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Recorder {
    /// Starts reading `meter` every [`INTERVAL`].
    pub fn start(meter: Meter) -> Self {
        let log: Log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, l, s) = (meter.clone(), Arc::clone(&log), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("hpcready-energy".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    let reading = (unix_now(), m.snapshot());
                    l.lock().unwrap_or_else(|p| p.into_inner()).push(reading);
                    std::thread::sleep(INTERVAL);
                }
            })
            .expect("a thread to read the energy counter");
        Self { meter, log, stop }
    }

    /// The energy of `runs` runs between Unix times `t0` and `t1`, which must have passed.
    pub fn window(&self, t0: f64, t1: f64, runs: u64) -> EnergyRecord {
        // One reading now, so that the window's end is covered.
        let now = (unix_now(), self.meter.snapshot());
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.push(now);
        let not = |why: String| EnergyRecord::NotMeasured { why };
        let seconds = t1 - t0;
        if !(seconds.is_finite() && seconds > 0.0) {
            return not(format!("the timed window {t0}–{t1} is empty"));
        }
        if seconds < self.meter.min_seconds() {
            return not(format!(
                "the timed region lasted {seconds:.2} s, under the {} s {} needs",
                self.meter.min_seconds(),
                self.meter.method.name()
            ));
        }
        let (Some(i0), Some(i1)) = (
            log.iter().rposition(|(t, _)| *t <= t0),
            log.iter().position(|(t, _)| *t >= t1),
        ) else {
            return not("the energy readings do not cover the timed window".into());
        };
        let mut span = Vec::with_capacity(i1 - i0 + 1);
        for (t, r) in &log[i0..=i1] {
            match r {
                Ok(s) => span.push((*t, s)),
                Err(e) => return not(e.to_string()),
            }
        }
        // The running total of joules (total counters) at each reading of the span.
        let mut total = vec![0.0f64];
        for w in span.windows(2) {
            match self.meter.between(w[0].1, w[1].1) {
                Ok(e) => total.push(total.last().copied().unwrap_or(0.0) + e.joules),
                Err(e) => return not(e.to_string()),
            }
        }
        let (first, last) = (span[0].1, span[span.len() - 1].1);
        let whole = last.at.duration_since(first.at).as_secs_f64();
        if let (Some(a), Some(b)) = (first.freshness, last.freshness)
            && a == b
            && whole > 1.0
        {
            return not(EnergyError::Stale {
                freshness: a,
                seconds: whole,
            }
            .to_string());
        }
        let at = |t: f64| {
            let k = span
                .windows(2)
                .position(|w| w[1].0 >= t)
                .unwrap_or(span.len() - 2);
            let (ta, tb) = (span[k].0, span[k + 1].0);
            let f = if tb > ta {
                ((t - ta) / (tb - ta)).clamp(0.0, 1.0)
            } else {
                1.0
            };
            total[k] + f * (total[k + 1] - total[k])
        };
        let joules = at(t1) - at(t0);
        let mut record = self.meter.record(first, last, runs);
        if let EnergyRecord::Measured(e) = &mut record {
            // The window, not the readings around it; the breakdown scaled alike.
            let scale = if e.joules > 0.0 {
                joules / e.joules
            } else {
                0.0
            };
            for (_, j) in &mut e.counters {
                *j *= scale;
            }
            e.joules = joules;
            e.seconds = seconds;
            e.watts = joules / seconds;
        }
        record
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::env::Env;

    #[test]
    fn a_window_timed_elsewhere_is_read_from_the_recording() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = Env::real();
        env.root = dir.path().to_path_buf();
        let zone = dir.path().join("sys/class/powercap/intel-rapl:0");
        std::fs::create_dir_all(&zone).unwrap();
        let file = zone.join("energy_uj");
        std::fs::write(&file, "0\n").unwrap();
        let meter = super::super::discover(&env).unwrap();
        let rec = Recorder::start(meter);
        // 100 W, written every 20 ms, for 1.2 s; the window is the middle 0.8 s.
        let start = unix_now();
        let t = std::time::Instant::now();
        while t.elapsed() < Duration::from_millis(1200) {
            let uj = (t.elapsed().as_secs_f64() * 100.0 * 1e6) as u64;
            let tmp = zone.join("tmp");
            std::fs::write(&tmp, format!("{uj}\n")).unwrap();
            std::fs::rename(&tmp, &file).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        let r = rec.window(start + 0.2, start + 1.0, 8);
        let e = r.energy().unwrap_or_else(|| panic!("{r:?}"));
        assert!((e.seconds - 0.8).abs() < 1e-6);
        assert!((50.0..=150.0).contains(&e.watts), "{} W", e.watts);
        assert_eq!(e.runs, 8);
        // Too short a window for the counter, or one outside the recording: said.
        assert!(rec.window(start + 0.2, start + 0.4, 1).energy().is_none());
        assert!(
            rec.window(start - 100.0, start - 99.0, 1)
                .energy()
                .is_none()
        );
    }
}
