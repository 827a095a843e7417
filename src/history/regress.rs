//! Regressions against a machine's own history: each figure of a run against the median of the
//! same host's last N earlier runs that share one software stack (the newest earlier run's), so
//! the reference never straddles an upgrade; a figure more than the threshold below it is
//! flagged, with what changed in the stack since.

use super::store::{NewRun, Store};
use crate::bench::sig;
use std::collections::BTreeMap;

/// The rule: `--regression-threshold` and `--regression-window`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Rule {
    /// A fraction: 0.10 flags a figure more than 10% below the reference median.
    pub threshold: f64,
    /// How many earlier runs make the reference.
    pub window: usize,
}

impl Default for Rule {
    fn default() -> Self {
        Self {
            threshold: 0.10,
            window: 5,
        }
    }
}

impl Rule {
    /// The rule in words, as reports state it.
    pub fn describe(&self) -> String {
        format!(
            "a figure more than {}% below the median of the same host's last {} earlier run(s) \
             with one software stack (the newest earlier run's)",
            sig(self.threshold * 100.0, 3),
            self.window
        )
    }
}

/// One figure that fell.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Regression {
    /// `matmul bf16`.
    pub label: String,
    /// Method, variant and shape.
    pub case: String,
    /// This run's figure.
    pub value: f64,
    /// The reference median.
    pub reference: f64,
    /// Runs in the reference.
    pub runs: usize,
    /// Its unit.
    pub unit: String,
}

impl Regression {
    /// value / reference − 1.
    pub fn change(&self) -> f64 {
        self.value / self.reference - 1.0
    }
}

/// A run checked against its history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Check {
    /// The rule applied.
    pub rule: Rule,
    /// Earlier runs in the reference (0: nothing to compare with).
    pub reference_runs: usize,
    /// The newest reference run's date (`2026-11-30`).
    pub since: Option<String>,
    /// What changed in the stack between the reference and this run.
    pub stack_changes: Vec<String>,
    /// Figures compared.
    pub compared: usize,
    /// Figures flagged, worst first.
    pub regressions: Vec<Regression>,
    /// Figures more than the threshold above the reference.
    pub improved: usize,
}

impl Check {
    /// `−18% since 2026-11-30 (driver 580 → 590)`.
    pub fn sentence(&self, r: &Regression) -> String {
        let changes = if self.stack_changes.is_empty() {
            "no software change recorded".to_string()
        } else {
            self.stack_changes.join(", ")
        };
        format!(
            "{} {}{}% since {} ({changes}): {} against a median of {} {} over {} run(s) — {}",
            r.label,
            if r.change() < 0.0 { "−" } else { "+" },
            sig(r.change().abs() * 100.0, 2),
            self.since.as_deref().unwrap_or("?"),
            sig(r.value, 4),
            sig(r.reference, 4),
            r.unit,
            r.runs,
            r.case
        )
    }

    /// The check as lines for the terminal.
    pub fn lines(&self) -> Vec<String> {
        if self.reference_runs == 0 {
            return vec!["no earlier run of this host to compare with".into()];
        }
        let mut out = vec![format!(
            "{} figure(s) compared with {} earlier run(s) up to {}: {} regression(s), {} \
             improvement(s) beyond {}%",
            self.compared,
            self.reference_runs,
            self.since.as_deref().unwrap_or("?"),
            self.regressions.len(),
            self.improved,
            sig(self.rule.threshold * 100.0, 3)
        )];
        out.extend(
            self.regressions
                .iter()
                .map(|r| format!("REGRESSION {}", self.sentence(r))),
        );
        out
    }
}

/// Checks `run` (recorded or not) against the earlier runs of its host in `store`.
pub fn check(store: &Store, run: &NewRun, rule: &Rule) -> anyhow::Result<Check> {
    let earlier = store.earlier_runs(&run.info.host, &run.info.started_at, &run.uid, 200)?;
    let mut check = Check {
        rule: *rule,
        reference_runs: 0,
        since: None,
        stack_changes: Vec::new(),
        compared: 0,
        regressions: Vec::new(),
        improved: 0,
    };
    let Some(newest) = earlier.first() else {
        return Ok(check);
    };
    let reference: Vec<_> = earlier
        .iter()
        .filter(|r| r.info.stack == newest.info.stack)
        .take(rule.window.max(1))
        .collect();
    let ids: Vec<i64> = reference.iter().map(|r| r.id).collect();
    let figures = store.figures(&ids)?;
    let mut by_case: BTreeMap<_, Vec<f64>> = BTreeMap::new();
    for figs in figures.values() {
        // A run's best figure per case (one device of several stands for the case).
        let mut best: BTreeMap<_, f64> = BTreeMap::new();
        for f in figs {
            let v = best.entry(f.case()).or_insert(f.value);
            *v = v.max(f.value);
        }
        for (case, v) in best {
            by_case.entry(case).or_default().push(v);
        }
    }
    let mut current: BTreeMap<_, (f64, String)> = BTreeMap::new();
    for f in &run.figures {
        let e = current.entry(f.case()).or_insert((f.value, f.unit.clone()));
        e.0 = e.0.max(f.value);
    }
    check.reference_runs = reference.len();
    check.since = Some(newest.info.started_at.chars().take(10).collect());
    check.stack_changes = super::stack_changes(&newest.info.stack, &run.info.stack);
    for (case, (value, unit)) in current {
        let Some(values) = by_case.get_mut(&case) else {
            continue;
        };
        values.sort_by(f64::total_cmp);
        let median = crate::stats::percentile_sorted(values, 0.5);
        // A zero or NaN median has no ratio.
        if median.is_nan() || median <= 0.0 {
            continue;
        }
        check.compared += 1;
        let change = value / median - 1.0;
        if change < -rule.threshold {
            let (bench, dtype, method, variant, shape, device) = case;
            check.regressions.push(Regression {
                label: format!("{bench} {dtype}"),
                case: format!("{method}, {variant}, {shape} on {device}"),
                value,
                reference: median,
                runs: values.len(),
                unit,
            });
        } else if change > rule.threshold {
            check.improved += 1;
        }
    }
    check
        .regressions
        .sort_by(|a, b| a.change().total_cmp(&b.change()));
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::store::tests::run;

    fn two_figures(uid: &str, at: &str, matmul: f64, attention: f64) -> NewRun {
        let mut r = run(uid, "n1", at, matmul);
        let mut f = r.figures[0].clone();
        f.bench = "attention".into();
        f.value = attention;
        r.figures.push(f);
        r
    }

    #[test]
    fn a_planted_20_percent_fall_is_flagged_and_3_percent_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("h.sqlite")).unwrap();
        for (i, v) in [1.0, 1.02, 0.98, 1.01, 0.99].iter().enumerate() {
            s.insert(&two_figures(
                &format!("r{i}"),
                &format!("2026-11-0{}T00:00:00Z", i + 1),
                *v,
                *v,
            ))
            .unwrap();
        }
        let now = two_figures("now", "2026-11-10T00:00:00Z", 0.8, 0.97);
        let c = check(&s, &now, &Rule::default()).unwrap();
        assert_eq!((c.reference_runs, c.compared), (5, 2));
        assert_eq!(c.regressions.len(), 1, "{c:?}");
        let r = &c.regressions[0];
        assert_eq!(r.label, "matmul f32");
        assert_eq!(r.reference, 1.0);
        assert_eq!(
            c.sentence(r).split(':').next().unwrap(),
            "matmul f32 −20% since 2026-11-05 (no software change recorded)"
        );
        // A window of 2 makes the median of the newest two (1.01, 0.99).
        let c2 = check(
            &s,
            &now,
            &Rule {
                threshold: 0.25,
                window: 2,
            },
        )
        .unwrap();
        assert_eq!((c2.reference_runs, c2.regressions.len()), (2, 0));
    }

    /// The reference never straddles an upgrade: after a stack change only the runs on the new
    /// stack count, and the sentence names the change.
    #[test]
    fn the_reference_is_the_newest_stack_and_the_change_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("h.sqlite")).unwrap();
        s.insert(&two_figures("old", "2026-11-01T00:00:00Z", 2.0, 2.0))
            .unwrap();
        let mut new = two_figures("new", "2026-11-02T00:00:00Z", 1.0, 1.0);
        new.info.stack.insert("kernel".into(), "6.12".into());
        s.insert(&new).unwrap();
        let mut now = two_figures("now", "2026-11-03T00:00:00Z", 0.95, 1.0);
        now.info.stack.insert("kernel".into(), "6.12".into());
        let c = check(&s, &now, &Rule::default()).unwrap();
        assert_eq!((c.reference_runs, c.regressions.len()), (1, 0), "{c:?}");
        // A run on the old stack against the new: the change is named.
        let back = two_figures("back", "2026-11-04T00:00:00Z", 0.5, 1.0);
        let c = check(&s, &back, &Rule::default()).unwrap();
        assert_eq!(c.stack_changes, ["kernel 6.12 → 6.1"]);
        assert!(
            c.sentence(&c.regressions[0])
                .contains("(kernel 6.12 → 6.1)"),
            "{c:?}"
        );
        // Another host has no history here.
        let mut other = now.clone();
        other.info.host = "n2".into();
        let c = check(&s, &other, &Rule::default()).unwrap();
        assert_eq!(c.reference_runs, 0);
        assert_eq!(c.lines(), ["no earlier run of this host to compare with"]);
    }
}
