//! Power sampled and integrated into energy, where a node has a power reading but no energy
//! counter: amdgpu's hwmon `power1_average` (AMD GPUs without `energy1_input`) and the ACPI power
//! meter's hwmon (`name` = `power_meter`; Grace on GH200 reports its module's power there). A
//! thread reads every source every 100 ms and adds power × interval to a running total, which
//! then reads like a counter (µJ). MLPerf Training's power rules ask for at least 1 Hz and 60
//! samples: 10 Hz and a region of at least 6 s.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The sampling interval.
pub const INTERVAL: Duration = Duration::from_millis(100);
/// Fewest samples a region must hold (MLPerf: 60 at ≥ 1 Hz).
pub const MIN_SAMPLES: u64 = 60;

/// The running totals of the sampled sources.
#[derive(Debug)]
pub struct Sampler {
    /// Microjoules so far, per source.
    totals: Vec<AtomicU64>,
    /// Samples taken so far.
    samples: AtomicU64,
    /// The first read that failed, as text (the totals stop counting it).
    failed: std::sync::Mutex<Option<String>>,
}

impl Sampler {
    /// Starts a thread that integrates `files` (power in µW) for the life of the process.
    pub fn start(files: Vec<PathBuf>) -> Arc<Self> {
        let s = Arc::new(Self {
            totals: files.iter().map(|_| AtomicU64::new(0)).collect(),
            samples: AtomicU64::new(0),
            failed: std::sync::Mutex::new(None),
        });
        let me = Arc::clone(&s);
        std::thread::Builder::new()
            .name("hpcready-power".into())
            .spawn(move || {
                let mut last = Instant::now();
                loop {
                    std::thread::sleep(INTERVAL);
                    let now = Instant::now();
                    let dt = now.duration_since(last).as_secs_f64();
                    last = now;
                    for (file, total) in files.iter().zip(&me.totals) {
                        match super::read_number(file) {
                            // µW × s = µJ.
                            Ok(uw) => {
                                total.fetch_add((uw as f64 * dt) as u64, Ordering::Relaxed);
                            }
                            Err(e) => {
                                let mut f = me.failed.lock().unwrap_or_else(|p| p.into_inner());
                                f.get_or_insert(e);
                            }
                        }
                    }
                    me.samples.fetch_add(1, Ordering::Relaxed);
                }
            })
            .expect("a thread to sample power");
        s
    }

    /// Source `i`'s total, µJ, and the samples so far; the first failed read, if any.
    pub fn read(&self, i: usize) -> Result<(u64, u64), String> {
        if let Some(e) = self
            .failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Err(format!("sampling power failed: {e}"));
        }
        Ok((
            self.totals[i].load(Ordering::Relaxed),
            self.samples.load(Ordering::Relaxed),
        ))
    }
}
