//! Baseline profiles: the machines a node is compared against.
//!
//! TOML files under `profiles/`, embedded in the binary (compute nodes have no internet), plus
//! any profile file the user points at. Every number carries a `source` key that must resolve in
//! the profile's `[sources]` table; a figure the source itself calls uncertain, secondary or
//! derived carries `uncertain = true`. Unknown figures are absent, never guessed.

use crate::error::input_error;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

include!(concat!(env!("OUT_DIR"), "/embedded_profiles.rs"));

/// The baseline `assess` compares against when none is named.
pub const DEFAULT_BASELINE: &str = "aws-p5.48xlarge";

/// Peak data types a profile may list.
pub const PEAK_DTYPES: [&str; 7] = ["f64", "f64-matrix", "f32", "tf32", "bf16", "f16", "fp8"];

/// A machine to compare against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Identifier used with `--baseline`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `cloud`, `hpc` or `accelerator`.
    pub kind: ProfileKind,
    /// One line: accelerators, links.
    pub summary: String,
    /// Caveats, shown with the profile.
    #[serde(default)]
    pub notes: Vec<String>,
    /// The node's accelerators.
    #[serde(default)]
    pub accelerator: Option<AcceleratorSpec>,
    /// The host CPU and memory.
    #[serde(default)]
    pub cpu: Option<CpuSpec>,
    /// Intra- and inter-node links.
    #[serde(default)]
    pub links: Vec<Link>,
    /// Price, dated.
    #[serde(default)]
    pub price: Option<Price>,
    /// Published measured results.
    #[serde(default)]
    pub references: Vec<Reference>,
    /// Source key → citation.
    pub sources: BTreeMap<String, String>,
}

/// What a profile describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileKind {
    /// A cloud instance type.
    Cloud,
    /// A supercomputer partition's node.
    Hpc,
    /// One accelerator on its own.
    Accelerator,
    /// A machine measured with hpcready (`baselines save`).
    Measured,
}

/// A sourced number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    /// The value.
    pub value: f64,
    /// Key into the profile's sources.
    pub source: String,
    /// Uncertain, secondary or derived.
    #[serde(default)]
    pub uncertain: bool,
    /// A caveat.
    #[serde(default)]
    pub note: Option<String>,
}

/// The node's accelerators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceleratorSpec {
    /// Model name.
    pub model: String,
    /// Packages per node.
    pub count: u32,
    /// Devices the OS sees per package (2 for an MI250X's GCDs).
    #[serde(default = "one")]
    pub devices_per_accelerator: u32,
    /// Source of the model and count.
    pub source: String,
    /// Whether the model and count are uncertain.
    #[serde(default)]
    pub uncertain: bool,
    /// Memory per package, GB.
    #[serde(default)]
    pub memory_gb: Option<Figure>,
    /// Memory bandwidth per package, GB/s.
    #[serde(default)]
    pub memory_bw_gbs: Option<Figure>,
    /// Maximum board power per package, W (datasheet TDP: an upper bound on the draw).
    #[serde(default)]
    pub tdp_w: Option<Figure>,
    /// Dense peaks per package, TFLOP/s.
    #[serde(default)]
    pub peaks: Vec<Peak>,
}

fn one() -> u32 {
    1
}

/// A dense peak per accelerator package, in TFLOP/s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peak {
    /// One of [`PEAK_DTYPES`].
    pub dtype: String,
    /// TFLOP/s per package, dense.
    pub value: f64,
    /// Key into the profile's sources.
    pub source: String,
    /// Uncertain, secondary or derived.
    #[serde(default)]
    pub uncertain: bool,
    /// A caveat.
    #[serde(default)]
    pub note: Option<String>,
}

/// The host side of the node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuSpec {
    /// CPU model, cores and memory, as the source states them.
    pub description: String,
    /// Key into the profile's sources.
    pub source: String,
    /// Uncertain, secondary or derived.
    #[serde(default)]
    pub uncertain: bool,
}

/// A link inside or between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// `intra-node` or `inter-node`.
    pub scope: String,
    /// What it is.
    pub technology: String,
    /// Its rate in `unit`.
    pub value: f64,
    /// `GB/s` or `Gb/s`.
    pub unit: String,
    /// `unidirectional`, `bidirectional`, `aggregate`, `unstated`.
    pub direction: String,
    /// `GPU`, `GPU pair`, `node`.
    pub per: String,
    /// Key into the profile's sources.
    pub source: String,
    /// Uncertain, secondary or derived.
    #[serde(default)]
    pub uncertain: bool,
    /// A caveat.
    #[serde(default)]
    pub note: Option<String>,
}

/// A dated price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// USD per node-hour.
    #[serde(default)]
    pub usd_per_hour: Option<f64>,
    /// USD per accelerator-hour.
    #[serde(default)]
    pub usd_per_accelerator_hour: Option<f64>,
    /// Region.
    #[serde(default)]
    pub region: Option<String>,
    /// When the price was retrieved (YYYY-MM-DD or YYYY-MM).
    pub date: String,
    /// `on-demand`, …
    pub kind: String,
    /// Key into the profile's sources.
    pub source: String,
    /// Uncertain, secondary or derived.
    #[serde(default)]
    pub uncertain: bool,
    /// A caveat.
    #[serde(default)]
    pub note: Option<String>,
}

/// A published measured result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// Benchmark name, as in results (`matmul`, `attention`, `allreduce`).
    pub bench: String,
    /// Data type.
    pub dtype: String,
    /// Parameters, `key=value` or prose.
    pub params: String,
    /// The result.
    pub value: f64,
    /// `TFLOP/s` or `GB/s`.
    pub unit: String,
    /// `accelerator`, `device` (e.g. one GCD), `node`, `busbw`.
    pub per: String,
    /// Tool, version and setup, in words.
    pub method: String,
    /// The tool that measured it, the key for like-for-like matching: `mamf-finder`,
    /// `flash-attention-3`, `nccl-tests`, `rccl-tests`, `osu`, `hpl`, or an hpcready method
    /// (`cpu/faer`, `wgpu/matmul-coop-tiled`, `mpi`) for a profile saved from a run. Required:
    /// a file without it (saved before 2026-12-01) is refused naming the reference.
    #[serde(default)]
    pub tool: String,
    /// The hpcready method that measures the way this tool did, when one does: mamf-finder is
    /// `torch.mm` timed as `torch/matmul` times it; FlashAttention's benchmark is matched by
    /// `torch/sdpa-flash` (SDPA's flash backend is FlashAttention-2 — a FlashAttention-3 figure
    /// is the faster kernel's, and the report says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpcready_method: Option<String>,
    /// Key into the profile's sources.
    pub source: String,
    /// Uncertain, secondary or derived.
    #[serde(default)]
    pub uncertain: bool,
    /// A caveat.
    #[serde(default)]
    pub note: Option<String>,
    /// For a baseline built from many runs (`baselines save --from-history`): how the runs
    /// spread around the value, which is their median.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<Spread>,
}

/// How a figure measured in many runs spread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Runs (or nodes) measured.
    pub runs: u32,
    /// The lowest.
    pub min: f64,
    /// The first quartile.
    pub p25: f64,
    /// The third quartile.
    pub p75: f64,
    /// The highest.
    pub max: f64,
}

impl Spread {
    /// Of the values (at least one).
    pub fn of(values: &mut [f64]) -> Self {
        values.sort_by(f64::total_cmp);
        let q = |p| crate::stats::percentile_sorted(values, p);
        Self {
            runs: values.len() as u32,
            min: values[0],
            p25: q(0.25),
            p75: q(0.75),
            max: values[values.len() - 1],
        }
    }

    /// `median of 12 runs, range 0.91–1.02, IQR 0.95–0.99`.
    pub fn describe(&self) -> String {
        let n = crate::bench::num;
        format!(
            "median of {} run(s), range {}–{}, IQR {}–{}",
            self.runs,
            n(self.min),
            n(self.max),
            n(self.p25),
            n(self.p75)
        )
    }
}

/// Adds a problem when `value` (the profile's `key`) is not a finite number above zero: a zero,
/// negative or NaN figure would reach a division and read as "faster".
fn positive(out: &mut Vec<String>, key: &str, value: f64) {
    if !(value > 0.0 && value.is_finite() && value < 1e15) {
        out.push(format!(
            "`{key}` is {value}: it must be a positive, finite number"
        ));
    }
}

impl Reference {
    /// A `key=true|false` flag from the parameters (`causal=true`).
    pub fn param_bool(&self, key: &str) -> Option<bool> {
        self.params
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
    }

    /// A `key=value` number from the parameters (`bytes=134217728 ranks=16`).
    pub fn param_u64(&self, key: &str) -> Option<u64> {
        self.params
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
    }
}

impl Profile {
    /// The all-reduce busbw figures, each with its message size in bytes.
    pub fn allreduce_refs(&self) -> Vec<(&Reference, u64)> {
        self.references
            .iter()
            .filter(|r| r.bench == "allreduce" && r.unit == "GB/s")
            .filter_map(|r| r.param_u64("bytes").map(|b| (r, b)))
            .collect()
    }

    /// Parses TOML; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> anyhow::Result<Self> {
        let profile: Profile = toml::from_str(text)
            .map_err(|e| input_error(origin, format!("not a valid profile: {}", e.message())))?;
        let problems = profile.problems();
        if !problems.is_empty() {
            return Err(input_error(origin, problems.join("; ")));
        }
        Ok(profile)
    }

    /// Every (what, source key) pair of the profile's numbers.
    fn cited(&self) -> Vec<(String, &str)> {
        let mut v: Vec<(String, &str)> = Vec::new();
        if let Some(a) = &self.accelerator {
            v.push(("accelerator".into(), &a.source));
            if let Some(f) = &a.memory_gb {
                v.push(("accelerator.memory_gb".into(), &f.source));
            }
            if let Some(f) = &a.memory_bw_gbs {
                v.push(("accelerator.memory_bw_gbs".into(), &f.source));
            }
            for p in &a.peaks {
                v.push((format!("peak {}", p.dtype), &p.source));
            }
        }
        if let Some(c) = &self.cpu {
            v.push(("cpu".into(), &c.source));
        }
        for l in &self.links {
            v.push((format!("link {}", l.technology), &l.source));
        }
        if let Some(p) = &self.price {
            v.push(("price".into(), &p.source));
        }
        for r in &self.references {
            v.push((format!("reference {} {}", r.bench, r.params), &r.source));
        }
        v
    }

    /// What is wrong with the profile: unresolved sources, unknown dtypes, impossible values.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.id.trim().is_empty() {
            out.push("`id` is empty".to_string());
        }
        for (what, key) in self.cited() {
            if !self.sources.contains_key(key) {
                out.push(format!(
                    "{what} cites source `{key}`, which is not in [sources]"
                ));
            }
        }
        if let Some(a) = &self.accelerator {
            for p in &a.peaks {
                if !PEAK_DTYPES.contains(&p.dtype.as_str()) {
                    out.push(format!(
                        "peak dtype `{}` is not one of {}",
                        p.dtype,
                        PEAK_DTYPES.join(", ")
                    ));
                }
                positive(
                    &mut out,
                    &format!("accelerator.peaks ({})", p.dtype),
                    p.value,
                );
            }
            if a.count == 0 {
                out.push("`accelerator.count` is 0".into());
            }
            if a.devices_per_accelerator == 0 {
                out.push("`accelerator.devices_per_accelerator` is 0".into());
            }
            if let Some(f) = &a.memory_gb {
                positive(&mut out, "accelerator.memory_gb", f.value);
            }
            if let Some(f) = &a.memory_bw_gbs {
                positive(&mut out, "accelerator.memory_bw_gbs", f.value);
            }
        }
        for l in &self.links {
            positive(&mut out, &format!("links ({})", l.technology), l.value);
        }
        for r in &self.references {
            positive(
                &mut out,
                &format!("references ({} {} {})", r.bench, r.dtype, r.params),
                r.value,
            );
            if r.tool.trim().is_empty() {
                out.push(format!(
                    "`references` ({} {} {}): `tool` is missing or empty (name the tool that \
                     measured it: mamf-finder, nccl-tests, …; a baseline saved before 2026-12-01: \
                     save it again with `hpcready baselines save`)",
                    r.bench, r.dtype, r.params
                ));
            }
        }
        if let Some(p) = &self.price {
            if let Some(v) = p.usd_per_hour {
                positive(&mut out, "price.usd_per_hour", v);
            }
            if let Some(v) = p.usd_per_accelerator_hour {
                positive(&mut out, "price.usd_per_accelerator_hour", v);
            }
        }
        if let Some(p) = &self.price
            && p.usd_per_hour.is_none()
            && p.usd_per_accelerator_hour.is_none()
        {
            out.push("price has neither usd_per_hour nor usd_per_accelerator_hour".into());
        }
        out
    }

    /// The dense peak per accelerator package in `dtype`, TFLOP/s.
    pub fn peak(&self, dtype: &str) -> Option<&Peak> {
        self.accelerator
            .as_ref()?
            .peaks
            .iter()
            .find(|p| p.dtype == dtype)
    }

    /// Accelerator packages per node (0 when none).
    pub fn accelerator_count(&self) -> u32 {
        self.accelerator.as_ref().map_or(0, |a| a.count)
    }

    /// The citation for a source key.
    pub fn cite<'a>(&'a self, key: &'a str) -> &'a str {
        self.sources.get(key).map(String::as_str).unwrap_or(key)
    }
}

/// Every embedded profile, parsed. Panics only if a shipped profile is broken, which the test
/// suite rules out.
pub fn embedded() -> Vec<Profile> {
    EMBEDDED
        .iter()
        .map(|(file, text)| {
            Profile::from_toml(text, file)
                .unwrap_or_else(|e| panic!("shipped profile {file} is invalid: {e:#}"))
        })
        .collect()
}

/// The embedded profiles' ids.
/// The datasheet peak per device of the accelerator named `device` (`NVIDIA H100 80GB HBM3`,
/// `AMD Instinct MI250X`) in `dtype`, from the embedded profile whose accelerator is the same
/// model (matched by its model number: H100, H200, GH200, A100, MI250X, MI300X …), with that
/// profile's id. A multi-die package's peak is divided among its devices (one MI250X GCD).
pub fn device_peak(device: &str, dtype: &str) -> Option<(f64, String)> {
    let key = |name: &str| -> Option<String> {
        name.split(|c: char| !c.is_ascii_alphanumeric())
            .find(|w| {
                let w = w.to_ascii_uppercase();
                [
                    "H100", "H200", "GH200", "A100", "MI250X", "MI250", "MI300X", "MI210", "B200",
                ]
                .contains(&w.as_str())
            })
            .map(str::to_ascii_uppercase)
    };
    let want = key(device)?;
    embedded().into_iter().find_map(|p| {
        let acc = p.accelerator.as_ref()?;
        if key(&acc.model)? != want {
            return None;
        }
        let peak = p.peak(dtype)?;
        Some((
            peak.value / f64::from(acc.devices_per_accelerator.max(1)),
            p.id.clone(),
        ))
    })
}

pub fn ids() -> Vec<String> {
    embedded().into_iter().map(|p| p.id).collect()
}

/// A profile by embedded id, or from a TOML file at that path.
pub fn lookup(id_or_path: &str) -> anyhow::Result<Profile> {
    if let Some(p) = embedded().into_iter().find(|p| p.id == id_or_path) {
        return Ok(p);
    }
    let path = Path::new(id_or_path);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| input_error(id_or_path, format!("cannot read the profile file: {e}")))?;
        return Profile::from_toml(&text, id_or_path);
    }
    Err(input_error(
        format!("--baseline {id_or_path}"),
        format!(
            "no such baseline id or profile file; known ids: {}",
            ids().join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests;
