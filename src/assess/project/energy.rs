//! What a projection adds beyond time: the energy to train (from this node's measured joules per
//! token, or the baseline's datasheet power as an upper bound) and the time checkpoints add
//! (from the measured checkpoint write bandwidth).

use crate::bench::{BenchKind, sig};
use crate::error::input_error;
use crate::profiles::Profile;
use crate::results::Results;

/// Energy to train on one machine.
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyToTrain {
    /// kWh, best and worst (one value twice when exact).
    pub kwh: (f64, f64),
    /// Where it comes from.
    pub basis: String,
    /// Whether it is an upper bound (datasheet power).
    pub upper_bound: bool,
}

impl EnergyToTrain {
    /// `1.2 MWh`, `≤ 3.4 – 5.6 MWh`, with its cost at `price` EUR/kWh.
    pub fn text(&self, price: Option<f64>) -> String {
        let fmt = |kwh: f64| {
            if kwh >= 1e3 {
                format!("{} MWh", sig(kwh / 1e3, 3))
            } else {
                format!("{} kWh", sig(kwh, 3))
            }
        };
        let bound = if self.upper_bound { "≤ " } else { "" };
        let amount = if (self.kwh.0 - self.kwh.1).abs() <= 1e-9 * self.kwh.1 {
            format!("{bound}{}", fmt(self.kwh.0))
        } else {
            format!("{bound}{} – {}", fmt(self.kwh.0), fmt(self.kwh.1))
        };
        match price {
            Some(p) => format!(
                "{amount} (€{} – €{} at €{p}/kWh)",
                sig(self.kwh.0 * p, 3),
                sig(self.kwh.1 * p, 3)
            ),
            None => amount,
        }
    }
}

/// The energy of `tokens` tokens at this node's measured joules per token: its valid training
/// step with an energy reading (the largest model's).
pub fn measured_energy(results: &Results, tokens: f64) -> Option<EnergyToTrain> {
    let (m, j) = results
        .measurements
        .iter()
        .filter(|m| m.bench == BenchKind::Train && m.is_valid())
        .filter_map(|m| Some((m, m.joules_per_token()?)))
        .max_by(|a, b| a.0.shape.main_size().total_cmp(&b.0.shape.main_size()))?;
    let counter = results
        .energy_meter
        .as_ref()
        .map_or("a counter".into(), |s| s.describe());
    let kwh = tokens * j / 3.6e6;
    Some(EnergyToTrain {
        kwh: (kwh, kwh),
        basis: format!(
            "{} J per token measured on this node's training step {} on {} ({counter}); its \
             scope is the counter's, and a step on one of several GPUs counts the others' idle \
             power too",
            sig(j, 3),
            m.shape.display(),
            m.device
        ),
        upper_bound: false,
    })
}

/// The energy of `node_hours` at the baseline's accelerators' datasheet power: an upper bound
/// on the GPUs alone (CPUs, memory, network and cooling are not in it).
pub fn baseline_energy(profile: &Profile, node_hours: (f64, f64)) -> Option<EnergyToTrain> {
    let a = profile.accelerator.as_ref()?;
    let tdp = a.tdp_w.as_ref()?;
    let watts = tdp.value * a.count as f64;
    Some(EnergyToTrain {
        kwh: (node_hours.0 * watts / 1e3, node_hours.1 * watts / 1e3),
        basis: format!(
            "{}× {} W datasheet maximum power ({}): an upper bound, GPUs only",
            a.count,
            sig(tdp.value, 3),
            profile
                .sources
                .get(&tdp.source)
                .map_or(tdp.source.clone(), |s| format!("{}: {s}", tdp.source))
        ),
        upper_bound: true,
    })
}

/// How often a checkpoint is written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Every {
    /// Every this many minutes of training.
    Minutes(f64),
    /// Every this many optimizer steps.
    Steps(f64),
}

impl Every {
    /// `30min`, `2h`, `1000steps` (`--checkpoint-every`).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let t = text.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite() && *n > 0.0)
            .ok_or_else(|| {
                input_error(
                    format!("--checkpoint-every {text}"),
                    "give minutes, hours or steps: 30min, 2h, 1000steps",
                )
            })?;
        match unit {
            "min" | "m" => Ok(Self::Minutes(n)),
            "h" => Ok(Self::Minutes(n * 60.0)),
            "steps" | "step" => Ok(Self::Steps(n)),
            _ => Err(input_error(
                format!("--checkpoint-every {text}"),
                "give minutes, hours or steps: 30min, 2h, 1000steps",
            )),
        }
    }
}

/// Checkpoints during a training run and the time they add.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoints {
    /// Bytes of one checkpoint (the whole model's).
    pub bytes: f64,
    /// Seconds to write one at the measured aggregate bandwidth.
    pub seconds_each: f64,
    /// How many, over the best and worst training time.
    pub count: (f64, f64),
    /// Hours they add (written synchronously), best and worst.
    pub hours: (f64, f64),
}

/// Checkpoints of a `params`-parameter model (12 B per parameter: f32 weights and AdamW's two
/// moments) every `every`, over a run of `hours` (best, worst) and `steps` steps, at
/// `bandwidth` bytes/s.
pub fn checkpoints(
    params: f64,
    every: Every,
    hours: (f64, f64),
    steps: f64,
    bandwidth: f64,
) -> Checkpoints {
    let bytes = params * crate::storage::CHECKPOINT_BYTES_PER_PARAMETER as f64;
    let seconds_each = bytes / bandwidth;
    let count = match every {
        Every::Minutes(m) => ((hours.0 * 60.0 / m).floor(), (hours.1 * 60.0 / m).floor()),
        Every::Steps(s) => ((steps / s).floor(), (steps / s).floor()),
    };
    Checkpoints {
        bytes,
        seconds_each,
        count,
        hours: (
            count.0 * seconds_each / 3600.0,
            count.1 * seconds_each / 3600.0,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_time_follows_size_bandwidth_and_frequency() {
        // 7B parameters: 84 GB per checkpoint; at 10 GB/s, 8.4 s each.
        let c = checkpoints(7e9, Every::Minutes(30.0), (10.0, 20.0), 0.0, 10e9);
        assert_eq!(c.count, (20.0, 40.0));
        assert!((c.seconds_each - 8.4).abs() < 1e-9);
        assert!((c.hours.1 - 40.0 * 8.4 / 3600.0).abs() < 1e-12);
        let s = checkpoints(7e9, Every::Steps(1000.0), (10.0, 20.0), 25_000.0, 10e9);
        assert_eq!(s.count, (25.0, 25.0));
        assert_eq!(Every::parse("2h").unwrap(), Every::Minutes(120.0));
        assert_eq!(Every::parse("500steps").unwrap(), Every::Steps(500.0));
        assert!(Every::parse("often").is_err() && Every::parse("0min").is_err());
    }

    #[test]
    fn measured_joules_per_token_give_the_energy_to_train() {
        use crate::bench::verify::Verification;
        use crate::bench::{DType, Shape};
        use crate::node::energy::{Energy, EnergyRecord, Method, Scope};
        use crate::results::*;
        let shape = Shape::Train {
            layers: 2,
            hidden: 128,
            heads: 4,
            vocab: 512,
            seq: 128,
            batch: 4,
        };
        let origin = Origin {
            backend: "torch".into(),
            device_kind: DeviceKind::Gpu,
            family: MethodFamily::VendorLibrary,
            device: "GPU 0".into(),
            method: "torch/train-llama".into(),
            variant: String::new(),
        };
        let mut m = Measurement::pending(
            BenchKind::Train,
            DType::Bf16,
            shape,
            origin,
            TimingSource::WallClock,
        );
        let ok = Verification {
            passed: true,
            max_rel_error: 0.0,
            tolerance: 0.0,
            checked: 1,
            total: 1,
            reference: "loss falls".into(),
            first_failure: None,
        };
        m.record(ok, vec![0.1; 3], 1);
        m.train = Some(TrainInfo {
            tokens_per_s: 5120.0,
            step_s: 0.1,
            parameters: 1,
            micro_batch: 4,
            tokens_per_step: 512,
            flops_per_token: 1.0,
            peak_memory_bytes: 0,
            first_loss: 6.2,
            data_parallel: None,
        });
        // 10 steps over 1 s at 100 W: 10 J per step, 10/512 J per token.
        m.energy = Some(EnergyRecord::Measured(Energy {
            method: Method::Rapl,
            scope: Scope::Cpu,
            joules: 100.0,
            seconds: 1.0,
            watts: 100.0,
            counters: vec![],
            runs: 10,
        }));
        let mut r = Results::new(crate::node::Inventory::fixture(), vec![], None);
        assert!(measured_energy(&r, 1e9).is_none());
        r.measurements.push(m);
        let e = measured_energy(&r, 3.6e8).unwrap();
        assert!((e.kwh.0 - 3.6e8 * (10.0 / 512.0) / 3.6e6).abs() < 1e-12);
        assert!(!e.upper_bound);
        assert_eq!(e.text(None), "1.95 kWh");
    }

    #[test]
    fn a_datasheet_power_is_an_upper_bound_and_priced() {
        let p = crate::profiles::lookup("aws-p5.48xlarge").unwrap();
        let e = baseline_energy(&p, (10.0, 20.0)).unwrap();
        // 8 × 700 W over 10–20 node-hours.
        assert_eq!(e.kwh, (56.0, 112.0));
        assert!(e.upper_bound && e.basis.contains("an upper bound, GPUs only"));
        assert_eq!(
            e.text(Some(0.25)),
            "≤ 56.0 kWh – 112 kWh (€14.0 – €28.0 at €0.25/kWh)"
        );
    }
}
