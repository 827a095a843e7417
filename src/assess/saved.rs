//! `hpcready baselines save`: a results file measured on the machine to compare against (say the
//! user's own cloud instance) turned into a baseline profile. Every figure in it is a measurement
//! of that run, cited as such; its references carry hpcready's method, so a later run of the same
//! kernels is compared with it like for like — the most exact comparison there is.

use crate::bench::{BenchKind, Unit};
use crate::error::input_error;
use crate::profiles::{AcceleratorSpec, CpuSpec, Figure, Peak, Profile, ProfileKind, Reference};
use crate::results::{DeviceKind, Measurement, Results};
use std::collections::BTreeMap;

/// The source key every figure of a saved baseline cites.
pub const RUN_SOURCE: &str = "run";

/// Whether `id` is usable as a baseline id and file name.
fn check_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && !id.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(input_error(
            format!("--id {id}"),
            "use letters, digits, '.', '-' and '_' only (it becomes a file name), not starting with '.'",
        ))
    }
}

/// The best valid measurement of each (bench, dtype, shape); across devices of one node the
/// fastest device stands for one accelerator.
fn best_per_case(results: &Results) -> Vec<&Measurement> {
    let mut best: BTreeMap<(String, String, String), &Measurement> = BTreeMap::new();
    let peaks = results.peak_index();
    for m in results.measurements.iter().filter(|m| m.is_valid()) {
        if peaks.is_suspect(m) {
            continue;
        }
        let key = (
            m.bench.name().to_string(),
            m.dtype.name().to_string(),
            m.shape.display(),
        );
        let better = best
            .get(&key)
            .is_none_or(|b| m.value().unwrap_or(0.0) > b.value().unwrap_or(0.0));
        if better {
            best.insert(key, m);
        }
    }
    best.into_values().collect()
}

/// The profile for `results`, named `id` (and `name`, else one made of the id and the host).
pub fn from_results(results: &Results, id: &str, name: Option<&str>) -> anyhow::Result<Profile> {
    check_id(id)?;
    let node = &results.node;
    let cases = best_per_case(results);
    if cases.is_empty() {
        return Err(input_error(
            "the results file",
            "it holds no valid measurement to make a baseline from",
        ));
    }
    let gpus: Vec<_> = node.accelerators.gpus().collect();
    let references = cases
        .iter()
        .map(|m| Reference {
            bench: m.bench.name().to_string(),
            dtype: m.dtype.name().to_string(),
            params: m.shape.display(),
            value: m.value().unwrap_or(0.0),
            unit: m
                .throughput
                .map_or(Unit::for_bench(m.bench), |t| t.unit)
                .to_string(),
            per: match m.device_kind {
                DeviceKind::Cpu => "node",
                DeviceKind::Gpu => "accelerator",
                DeviceKind::Collective => "busbw",
            }
            .into(),
            method: format!("{} — {}", m.method, m.variant),
            tool: m.tool().to_string(),
            hpcready_method: None,
            source: RUN_SOURCE.into(),
            uncertain: false,
            note: Some(format!("on {}", m.device)),
            spread: None,
        })
        .collect();
    let measured = |bench: BenchKind| {
        cases
            .iter()
            .copied()
            .filter(|m| m.bench == bench && m.device_kind.per_device())
            .max_by(crate::results::by_value)
    };
    let accelerator = (!gpus.is_empty()).then(|| AcceleratorSpec {
        model: gpus[0].name.clone(),
        count: gpus.len() as u32,
        devices_per_accelerator: 1,
        source: RUN_SOURCE.into(),
        uncertain: false,
        memory_gb: None,
        tdp_w: None,
        memory_bw_gbs: measured(BenchKind::Membw).map(|m| Figure {
            value: m.value().unwrap_or(0.0),
            source: RUN_SOURCE.into(),
            uncertain: false,
            note: Some(
                "measured device copy (bytes read + written), not a datasheet figure".into(),
            ),
        }),
        peaks: cases
            .iter()
            .filter(|m| m.bench == BenchKind::Peak && m.device_kind.per_device())
            .map(|m| Peak {
                dtype: m.dtype.name().to_string(),
                value: m.value().unwrap_or(0.0),
                source: RUN_SOURCE.into(),
                uncertain: false,
                note: Some("measured FMA chains, not a datasheet figure".into()),
            })
            .fold(Vec::<Peak>::new(), |mut v, p| {
                match v.iter_mut().find(|q| q.dtype == p.dtype) {
                    Some(q) if q.value >= p.value => {}
                    Some(q) => *q = p,
                    None => v.push(p),
                }
                v
            }),
    });
    let mut notes = vec![
        "Measured with hpcready: every figure is one run's measurement, not a datasheet or a \
         vendor library's result."
            .to_string(),
    ];
    let failed = results
        .measurements
        .iter()
        .filter(|m| !m.is_valid())
        .count();
    if failed > 0 {
        notes.push(format!(
            "{failed} measurement(s) of the run failed or were invalid and are left out."
        ));
    }
    if !results.complete {
        notes.push(format!(
            "The run was incomplete: {} of {} planned measurements finished.",
            results.measurements.len(),
            results.planned.max(results.measurements.len())
        ));
    }
    let date = results.started_at.get(..10).unwrap_or(&results.started_at);
    let hardware = if gpus.is_empty() {
        format!("{} ({} threads)", node.cpu.model, node.cpu.logical_threads)
    } else {
        format!("{}× {}", gpus.len(), gpus[0].name)
    };
    let mut sources = BTreeMap::new();
    sources.insert(
        RUN_SOURCE.to_string(),
        format!(
            "hpcready {} ({}) run on host {} ({}, {}), started {}, suite {}",
            results.tool.version,
            results.tool.git_revision,
            node.host,
            node.cpu.model,
            node.os,
            results.started_at,
            results.suite.as_deref().unwrap_or("custom")
        ),
    );
    let profile = Profile {
        id: id.to_string(),
        name: name.map_or_else(
            || format!("{id} (measured on {})", node.host),
            str::to_string,
        ),
        kind: ProfileKind::Measured,
        summary: format!("{hardware}, measured with hpcready on {date}"),
        notes,
        accelerator,
        cpu: Some(CpuSpec {
            description: format!(
                "{}, {} threads, {} memory",
                node.cpu.model,
                node.cpu.logical_threads,
                crate::node::human_bytes(node.memory.total_bytes)
            ),
            source: RUN_SOURCE.into(),
            uncertain: false,
        }),
        links: Vec::new(),
        price: None,
        references,
        sources,
    };
    let problems = profile.problems();
    if !problems.is_empty() {
        anyhow::bail!("the baseline made from the results is inconsistent: {problems:?}");
    }
    Ok(profile)
}

/// The profile built from many runs of the history (`--from-history`): the newest run's
/// profile ([`from_results`]), each figure then replaced by the median of every selected run's
/// best figure of that case, with the spread. Cases the newest run lacks are left out (said).
pub fn from_history(
    newest: &Results,
    runs: &[crate::history::RunRow],
    figures: &BTreeMap<i64, Vec<crate::history::Figure>>,
    id: &str,
    name: Option<&str>,
) -> anyhow::Result<Profile> {
    use crate::profiles::Spread;
    let mut profile = from_results(newest, id, name)?;
    // Each run's best figure per (bench, dtype, shape), and per device kind for the peaks and
    // memory bandwidth.
    let mut cases: BTreeMap<(String, String, String), Vec<f64>> = BTreeMap::new();
    for r in runs {
        let mut best: BTreeMap<(String, String, String), f64> = BTreeMap::new();
        for f in figures.get(&r.id).into_iter().flatten() {
            let per_gpu = (f.bench == "peak" || f.bench == "membw") && f.per == "GPU";
            for key in [
                Some((f.bench.clone(), f.dtype.clone(), f.shape.clone())),
                per_gpu.then(|| {
                    let dtype = if f.bench == "membw" { "*" } else { &f.dtype };
                    (f.bench.clone(), dtype.to_string(), "per GPU".to_string())
                }),
            ]
            .into_iter()
            .flatten()
            {
                let v = best.entry(key).or_insert(f.value);
                *v = v.max(f.value);
            }
        }
        for (k, v) in best {
            cases.entry(k).or_default().push(v);
        }
    }
    let median = |key: &(String, String, String)| -> Option<(f64, Spread)> {
        let mut v = cases.get(key)?.clone();
        let s = Spread::of(&mut v);
        Some((crate::stats::percentile_sorted(&v, 0.5), s))
    };
    let mut missing = 0;
    profile.references.retain_mut(|r| {
        match median(&(r.bench.clone(), r.dtype.clone(), r.params.clone())) {
            Some((m, s)) => {
                r.value = m;
                r.spread = Some(s);
                true
            }
            None => {
                missing += 1;
                false
            }
        }
    });
    if let Some(acc) = profile.accelerator.as_mut() {
        for p in &mut acc.peaks {
            if let Some((m, s)) = median(&("peak".into(), p.dtype.clone(), "per GPU".into())) {
                p.value = m;
                p.note = Some(format!("measured FMA chains, {}", s.describe()));
            }
        }
        if let Some(bw) = acc.memory_bw_gbs.as_mut()
            && let Some((m, s)) = median(&("membw".into(), "*".into(), "per GPU".into()))
        {
            bw.value = m;
            bw.note = Some(format!("measured device copy, {}", s.describe()));
        }
    }
    if profile.references.is_empty() {
        return Err(input_error(
            "--from-history",
            "the runs selected share no figure with the newest of them",
        ));
    }
    let first = runs.first().map_or("?", |r| r.info.started_at.as_str());
    let last = runs.last().map_or("?", |r| r.info.started_at.as_str());
    let mut hosts: Vec<&str> = runs.iter().map(|r| r.info.host.as_str()).collect();
    hosts.sort();
    hosts.dedup();
    profile.notes = vec![format!(
        "Measured with hpcready: each figure is the median of the runs in the history that          measured it ({} run(s) on {} host(s), {first} to {last}), its spread beside it; the          newest run gives the machine's description.",
        runs.len(),
        hosts.len()
    )];
    if missing > 0 {
        profile.notes.push(format!(
            "{missing} case(s) of the newest run had no figure in the selected runs' history and              are left out."
        ));
    }
    profile.summary = format!(
        "{}; median of {} run(s) on {} host(s), {} to {}",
        profile
            .summary
            .split(", measured")
            .next()
            .unwrap_or(&profile.summary),
        runs.len(),
        hosts.len(),
        first.get(..10).unwrap_or(first),
        last.get(..10).unwrap_or(last)
    );
    profile.sources.insert(
        RUN_SOURCE.to_string(),
        format!(
            "hpcready history: {} run(s) (ids {}) on {}, {first} to {last}",
            runs.len(),
            runs.iter()
                .map(|r| r.id.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            hosts.join(", ")
        ),
    );
    let problems = profile.problems();
    if !problems.is_empty() {
        anyhow::bail!("the baseline made from the history is inconsistent: {problems:?}");
    }
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::io::load;
    use std::path::Path;

    fn h100() -> Results {
        load(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("reports/gpu/2026-11-23-h100-assess/results.json"),
        )
        .unwrap()
    }

    #[test]
    fn a_gpu_run_becomes_a_per_accelerator_baseline_citing_the_run() {
        let p = from_results(&h100(), "h100-vulkan", None).unwrap();
        assert_eq!(p.kind, ProfileKind::Measured);
        let acc = p.accelerator.as_ref().unwrap();
        assert_eq!(
            (acc.model.as_str(), acc.count),
            ("NVIDIA H100 80GB HBM3", 1)
        );
        let peak = p.peak("f32").unwrap();
        assert!((peak.value - 53.6).abs() < 0.1, "{}", peak.value);
        assert!(acc.memory_bw_gbs.as_ref().unwrap().value > 2900.0);
        assert!(
            p.references
                .iter()
                .all(|r| r.source == RUN_SOURCE && r.per == "accelerator")
        );
        assert!(p.references.iter().any(|r| r.bench == "matmul"
            && r.dtype == "f16"
            && r.method.starts_with("wgpu/matmul-coop")));
        assert!(p.sources[RUN_SOURCE].contains("2026-11-23"));
        assert!(p.problems().is_empty());
        // Compared with itself, every row is like for like and on par.
        let c = crate::assess::compare(&h100(), &p);
        assert!(
            c.rows
                .iter()
                .all(|r| r.basis == crate::assess::Basis::LikeForLike),
            "{:?}",
            c.rows
        );
        assert!(c.rows.iter().all(|r| r.ratio == Some(1.0)));
    }

    #[test]
    fn ids_must_be_file_names() {
        for bad in ["", "a/b", "../x", ".hidden", "sp ace"] {
            assert!(from_results(&h100(), bad, None).is_err(), "{bad:?}");
        }
        assert!(from_results(&h100(), "aws-p5.mine_2", None).is_ok());
    }
}
