//! An allocation judged as a whole: every node's figures against the allocation's own median
//! (not the datasheet), outliers by a stated robust rule, the failing nodes with their reasons,
//! and how many nodes are ready. Nodes that did not measure a figure are not counted for it.

use crate::stats::percentile_sorted;

/// One measured figure of one node (per GPU where `gpu` is set).
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// What it is, the same text on every node (`matmul bf16 8192³ torch/matmul`).
    pub key: String,
    /// The GPU it ran on (its index or PCI address), `None` for a node-wide figure.
    pub gpu: Option<String>,
    /// The value.
    pub value: f64,
    /// Its unit (`TFLOP/s`).
    pub unit: String,
    /// Larger is better (a rate); otherwise smaller is (a time).
    pub higher_is_better: bool,
}

/// What one node brought: its figures, and why it failed where it did (a failed health item, a
/// measurement that did not verify, a GPU that hung).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Node {
    /// The host name.
    pub host: String,
    /// Its figures.
    pub figures: Vec<Figure>,
    /// Its own failures, each in words.
    pub failures: Vec<String>,
}

/// How a figure is called an outlier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OutlierRule {
    /// Worse than the allocation's median by more than this fraction (0.10: 10% below the
    /// median for a rate, 10% above it for a time).
    BelowMedian(f64),
    /// A robust z-score, 0.6745 · (x − median) / MAD (Iglewicz and Hoaglin), worse than this
    /// many units (3.5 is their usual cut); a spread of zero flags nothing.
    Mad(f64),
}

impl Default for OutlierRule {
    fn default() -> Self {
        Self::BelowMedian(0.10)
    }
}

impl OutlierRule {
    /// `10%` (or `0.1`) for [`OutlierRule::BelowMedian`], `mad:3.5` for [`OutlierRule::Mad`].
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let bad = || {
            format!(
                "`{text}`: give a fraction below the allocation's median (`10%` or `0.1`) or a \
                 robust z-score cut (`mad:3.5`)"
            )
        };
        if let Some(z) = t.strip_prefix("mad:") {
            let z: f64 = z.parse().map_err(|_| bad())?;
            return (z.is_finite() && z > 0.0)
                .then_some(Self::Mad(z))
                .ok_or_else(bad);
        }
        let f: f64 = match t.strip_suffix('%') {
            Some(p) => p.trim().parse::<f64>().map_err(|_| bad())? / 100.0,
            None => t.parse().map_err(|_| bad())?,
        };
        (f.is_finite() && f > 0.0 && f < 1.0)
            .then_some(Self::BelowMedian(f))
            .ok_or_else(bad)
    }

    /// In words, for the report.
    pub fn describe(self) -> String {
        match self {
            Self::BelowMedian(f) => format!(
                "more than {}% worse than the allocation's median",
                crate::bench::sig(f * 100.0, 3)
            ),
            Self::Mad(z) => format!(
                "a robust z-score, 0.6745·(x − median)/MAD, worse than {}",
                crate::bench::sig(z, 3)
            ),
        }
    }
}

/// One figure across the allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Spread {
    /// The figure.
    pub key: String,
    /// Nodes (× GPUs) that measured it.
    pub count: usize,
    /// The median.
    pub median: f64,
    /// The smallest and largest value.
    pub range: (f64, f64),
    /// The median absolute deviation.
    pub mad: f64,
    /// Where the rule starts calling a value an outlier (below it for a rate, above it for a
    /// time); `None` where the rule cannot call one (a MAD of zero).
    pub threshold: Option<f64>,
    /// Every value, sorted ascending (for the spread plot).
    pub values: Vec<f64>,
    /// The unit.
    pub unit: String,
    /// Larger is better.
    pub higher_is_better: bool,
}

/// A figure of one node (and GPU) that the rule calls an outlier.
#[derive(Debug, Clone, PartialEq)]
pub struct Outlier {
    /// The host.
    pub host: String,
    /// The GPU, where the figure is one GPU's.
    pub gpu: Option<String>,
    /// The figure.
    pub key: String,
    /// Its value.
    pub value: f64,
    /// value / the allocation's median.
    pub ratio: f64,
}

/// The allocation judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// The rule used.
    pub rule: OutlierRule,
    /// Each figure's spread, in the order figures were first seen.
    pub spreads: Vec<Spread>,
    /// Every outlier.
    pub outliers: Vec<Outlier>,
    /// The nodes that are not ready, each with its reasons, in host order.
    pub failing: Vec<(String, Vec<String>)>,
    /// Nodes judged.
    pub nodes: usize,
}

impl Fleet {
    /// Nodes ready: neither failing on their own nor an outlier.
    pub fn ready(&self) -> usize {
        self.nodes - self.failing.len()
    }

    /// The failing hosts in Slurm's compressed form, for `sbatch --exclude`.
    pub fn exclude_list(&self) -> String {
        let hosts: Vec<&str> = self.failing.iter().map(|(h, _)| h.as_str()).collect();
        crate::node::hostlist::compress(&hosts)
    }
}

impl Node {
    /// A node's figures from its results file (`hpcready smoke` writes one per node): each
    /// valid measurement keyed by what it measured, per GPU where smoke named the device
    /// (`GPU 3 (…): name`); its failures are the failed health items and the measurements that
    /// did not verify.
    pub fn from_results(r: &crate::results::Results) -> Self {
        use crate::node::checklist::Status;
        use crate::node::health::HEALTH_ITEMS;
        let device = |m: &crate::results::Measurement| -> Option<String> {
            let (label, _) = m.device.split_once(": ")?;
            let rest = label.strip_prefix("GPU ")?;
            Some(rest.split(' ').next().unwrap_or(rest).to_string())
        };
        let what = |m: &crate::results::Measurement| {
            format!("{} {} {} {}", m.bench, m.dtype, m.shape.display(), m.method)
        };
        let mut failures: Vec<String> = r
            .node
            .checklist
            .iter()
            .filter(|c| c.status == Status::Fail && HEALTH_ITEMS.contains(&c.id.as_str()))
            .map(|c| format!("{}: {}", c.item, c.finding))
            .collect();
        failures.extend(r.measurements.iter().filter(|m| !m.is_valid()).map(|m| {
            format!(
                "{} on {}: {}",
                what(m),
                m.device,
                m.error
                    .as_deref()
                    .or(m.verification.first_failure.as_deref())
                    .unwrap_or("not verified")
            )
        }));
        let figures = r
            .measurements
            .iter()
            .filter_map(|m| {
                Some(Figure {
                    key: what(m),
                    gpu: device(m),
                    value: m.value()?,
                    unit: m.throughput.as_ref().map(|t| t.unit.to_string())?,
                    higher_is_better: true,
                })
            })
            .collect();
        Self {
            host: r.node.host.clone(),
            figures,
            failures,
        }
    }
}

fn median(sorted: &[f64]) -> f64 {
    percentile_sorted(sorted, 0.5)
}

/// Judges the allocation.
pub fn judge(nodes: &[Node], rule: OutlierRule) -> Fleet {
    let mut keys: Vec<(&str, bool, &str)> = Vec::new();
    for n in nodes {
        for f in &n.figures {
            if !keys.iter().any(|(k, _, _)| *k == f.key) {
                keys.push((&f.key, f.higher_is_better, &f.unit));
            }
        }
    }
    let mut spreads = Vec::new();
    let mut outliers = Vec::new();
    for (key, higher, unit) in keys {
        let all: Vec<(&Node, &Figure)> = nodes
            .iter()
            .flat_map(|n| n.figures.iter().map(move |f| (n, f)))
            .filter(|(_, f)| f.key == key && f.value.is_finite())
            .collect();
        let mut v: Vec<f64> = all.iter().map(|(_, f)| f.value).collect();
        if v.is_empty() {
            continue;
        }
        v.sort_by(f64::total_cmp);
        let med = median(&v);
        let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
        dev.sort_by(f64::total_cmp);
        let mad = median(&dev);
        // How much worse than the median: positive when worse.
        let worse = |x: f64| if higher { med - x } else { x - med };
        let sign = if higher { -1.0 } else { 1.0 };
        let threshold = match rule {
            OutlierRule::BelowMedian(frac) => Some(med + sign * frac * med.abs()),
            OutlierRule::Mad(z) => (mad > 0.0).then(|| med + sign * z * mad / 0.6745),
        };
        for (n, f) in &all {
            let is_out = match rule {
                OutlierRule::BelowMedian(frac) => worse(f.value) > frac * med.abs(),
                OutlierRule::Mad(z) => mad > 0.0 && 0.6745 * worse(f.value) / mad > z,
            };
            if is_out {
                outliers.push(Outlier {
                    host: n.host.clone(),
                    gpu: f.gpu.clone(),
                    key: key.to_string(),
                    value: f.value,
                    ratio: if med != 0.0 { f.value / med } else { f64::NAN },
                });
            }
        }
        spreads.push(Spread {
            key: key.to_string(),
            count: v.len(),
            median: med,
            range: (v[0], v[v.len() - 1]),
            mad,
            threshold,
            unit: unit.to_string(),
            higher_is_better: higher,
            values: v,
        });
    }
    let mut failing: Vec<(String, Vec<String>)> = Vec::new();
    for n in nodes {
        let mut reasons = n.failures.clone();
        reasons.extend(outliers.iter().filter(|o| o.host == n.host).map(|o| {
            let unit = spreads
                .iter()
                .find(|s| s.key == o.key)
                .map(|s| format!(" {}", s.unit))
                .unwrap_or_default();
            format!(
                "{}{}: {}{unit} ({:.0}% of the allocation's median)",
                o.key,
                o.gpu
                    .as_deref()
                    .map(|g| format!(" on GPU {g}"))
                    .unwrap_or_default(),
                crate::bench::sig(o.value, 3),
                o.ratio * 100.0
            )
        }));
        if reasons.is_empty() {
            continue;
        }
        match failing.iter_mut().find(|(h, _)| *h == n.host) {
            Some((_, r)) => r.extend(reasons),
            None => failing.push((n.host.clone(), reasons)),
        }
    }
    failing.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hosts: Vec<&str> = nodes.iter().map(|n| n.host.as_str()).collect();
    hosts.sort_unstable();
    hosts.dedup();
    Fleet {
        rule,
        spreads,
        outliers,
        failing,
        nodes: hosts.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(host: &str, gemm: f64, copy: f64) -> Node {
        Node {
            host: host.into(),
            figures: (0..4)
                .flat_map(|g| {
                    [
                        Figure {
                            key: "matmul bf16".into(),
                            gpu: Some(g.to_string()),
                            value: gemm,
                            unit: "TFLOP/s".into(),
                            higher_is_better: true,
                        },
                        Figure {
                            key: "copy".into(),
                            gpu: Some(g.to_string()),
                            value: copy,
                            unit: "GB/s".into(),
                            higher_is_better: true,
                        },
                    ]
                })
                .collect(),
            failures: Vec::new(),
        }
    }

    /// 1,000 synthetic nodes whose figures vary by a few per cent, one planted 20% slow: only
    /// it is found, by either rule, and the host list names it.
    #[test]
    fn a_planted_outlier_is_found_among_a_thousand_nodes() {
        let mut nodes: Vec<Node> = (0..1000)
            .map(|i| {
                // A deterministic ±3% wobble.
                let w = 1.0 + 0.03 * (((i * 7919) % 200) as f64 / 100.0 - 1.0);
                node(&format!("nid{i:04}"), 700.0 * w, 3000.0 * w)
            })
            .collect();
        nodes[417].figures[2].value = 560.0; // GPU 1's matmul, 20% below
        for rule in [OutlierRule::BelowMedian(0.10), OutlierRule::Mad(3.5)] {
            let f = judge(&nodes, rule);
            assert_eq!(f.nodes, 1000);
            assert_eq!(f.outliers.len(), 1, "{rule:?}: {:?}", f.outliers);
            assert_eq!(f.outliers[0].host, "nid0417");
            assert_eq!(f.outliers[0].gpu.as_deref(), Some("1"));
            assert_eq!(f.ready(), 999);
            assert_eq!(f.exclude_list(), "nid0417");
            let m = &f.spreads[0];
            assert_eq!((m.key.as_str(), m.count), ("matmul bf16", 4000));
            assert!((m.median - 700.0).abs() < 10.0, "{m:?}");
        }
    }

    #[test]
    fn failures_and_outliers_make_the_failing_list_in_host_list_form() {
        let mut nodes: Vec<Node> = (1..=8)
            .map(|i| node(&format!("nid{i:03}"), 700.0, 3000.0))
            .collect();
        nodes[2]
            .failures
            .push("gpu-ecc: uncorrectable ECC errors".into());
        nodes[6].figures[1].value = 1000.0; // a third of the median copy rate
        nodes[1]
            .failures
            .push("GPU 3: hung (no answer within 60 s)".into());
        let f = judge(&nodes, OutlierRule::default());
        assert_eq!(f.exclude_list(), "nid[002-003,007]");
        assert_eq!(f.ready(), 5);
        assert_eq!(
            f.failing[2],
            (
                "nid007".to_string(),
                vec!["copy on GPU 0: 1000 GB/s (33% of the allocation's median)".to_string()]
            )
        );
    }

    #[test]
    fn a_time_is_worse_above_the_median_and_a_flat_fleet_flags_nothing() {
        let t = |h: &str, v| Node {
            host: h.into(),
            figures: vec![Figure {
                key: "step time".into(),
                gpu: None,
                value: v,
                unit: "s".into(),
                higher_is_better: false,
            }],
            failures: Vec::new(),
        };
        let f = judge(
            &[t("a", 1.0), t("b", 1.0), t("c", 1.3)],
            OutlierRule::default(),
        );
        assert_eq!(f.exclude_list(), "c");
        // A time: the threshold is above the median.
        assert_eq!(f.spreads[0].threshold, Some(1.1));
        assert_eq!(f.spreads[0].values, vec![1.0, 1.0, 1.3]);
        let flat = judge(&[t("a", 1.0), t("b", 1.0)], OutlierRule::Mad(3.5));
        assert!(flat.outliers.is_empty());
        assert_eq!(flat.spreads[0].threshold, None);
    }

    /// A node's results file (as smoke writes it) becomes its figures per GPU and its failures:
    /// failed health items and measurements that did not verify, not the porting advice.
    #[test]
    fn a_results_file_becomes_a_node() {
        use crate::node::checklist::{Check, Status};
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/reports/example/results.json");
        let mut r = crate::results::io::load(std::path::Path::new(path)).unwrap();
        r.node.host = "nid005".into();
        for m in &mut r.measurements {
            m.device = format!("GPU 2 (NVIDIA H100, torch): {}", m.device);
        }
        let fail = |id: &str| Check {
            id: id.into(),
            item: format!("item {id}"),
            status: Status::Fail,
            finding: "found".into(),
            advice: String::new(),
        };
        r.node.checklist.push(fail("gpu-ecc"));
        r.node.checklist.push(fail("mpi"));
        r.measurements[0].verification.passed = false;
        let valid = r.measurements.iter().filter(|m| m.is_valid()).count();
        let invalid = r.measurements.len() - valid;
        let n = Node::from_results(&r);
        assert_eq!(n.host, "nid005");
        assert_eq!(n.figures.len(), valid);
        assert!(n.figures.iter().all(|f| f.gpu.as_deref() == Some("2")));
        assert_eq!(n.failures[0], "item gpu-ecc: found");
        assert_eq!(n.failures.len(), 1 + invalid);
    }

    #[test]
    fn rules_parse_and_refuse() {
        assert_eq!(OutlierRule::parse("10%"), Ok(OutlierRule::BelowMedian(0.1)));
        assert_eq!(
            OutlierRule::parse("0.05"),
            Ok(OutlierRule::BelowMedian(0.05))
        );
        assert_eq!(OutlierRule::parse("mad:3.5"), Ok(OutlierRule::Mad(3.5)));
        for bad in ["", "150%", "mad:", "mad:-1", "x", "0", "NaN"] {
            assert!(OutlierRule::parse(bad).is_err(), "{bad}");
        }
    }
}
