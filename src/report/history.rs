//! The report's history section: the run against the same host's earlier runs, the rule stated,
//! each regression with what changed in the software stack.

use super::model::{Block, Cell};
use crate::bench::sig;
use crate::history::regress::Check;

/// The section.
pub fn section(check: &Check) -> Vec<Block> {
    let mut b = vec![Block::Heading(2, "Against this machine's history".into())];
    b.push(Block::Para(format!(
        "Rule: {}. Settable with --regression-threshold and --regression-window.",
        check.rule.describe()
    )));
    if check.reference_runs == 0 {
        b.push(Block::Para(
            "No earlier run of this host is in the history: nothing to compare with yet.".into(),
        ));
        return b;
    }
    b.push(Block::Para(format!(
        "{} figure(s) compared with the median of {} earlier run(s), the newest on {}; \
         software changes since: {}.",
        check.compared,
        check.reference_runs,
        check.since.as_deref().unwrap_or("?"),
        if check.stack_changes.is_empty() {
            "none recorded".to_string()
        } else {
            check.stack_changes.join(", ")
        }
    )));
    if check.regressions.is_empty() {
        b.push(Block::Para(format!(
            "No regression: no figure fell more than {}% ({} improved by more).",
            sig(check.rule.threshold * 100.0, 3),
            check.improved
        )));
        return b;
    }
    b.push(Block::Warning(format!(
        "{} figure(s) regressed: {}",
        check.regressions.len(),
        check.sentence(&check.regressions[0])
    )));
    b.push(Block::Table {
        head: [
            "figure",
            "case",
            "this run",
            "reference median",
            "change",
            "runs",
        ]
        .map(String::from)
        .to_vec(),
        rows: check
            .regressions
            .iter()
            .map(|r| {
                vec![
                    Cell::plain(r.label.clone()),
                    Cell::plain(r.case.clone()),
                    Cell::plain(format!("{} {}", sig(r.value, 4), r.unit)),
                    Cell::plain(format!("{} {}", sig(r.reference, 4), r.unit)),
                    Cell::plain(format!("{:+.1}%", r.change() * 100.0)),
                    Cell::plain(r.runs.to_string()),
                ]
            })
            .collect(),
    });
    b
}
