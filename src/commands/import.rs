//! `hpcready import TOOL LOGFILE...`: another tool's all-reduce output → a results file.

use super::{emit, safe_name};
use crate::cli::ImportArgs;
use crate::error::input_error;
use crate::import::{self, Hints, Row};
use crate::node::Inventory;
use crate::results::io::write_atomic;
use crate::results::{RankLayout, Results};
use std::path::PathBuf;

/// Lines listed per file before "… and N more".
const LIST: usize = 20;

/// `hpcready import`.
pub fn import(args: &ImportArgs) -> anyhow::Result<()> {
    let hints = Hints { ranks: args.ranks };
    let mut rows: Vec<Row> = Vec::new();
    let mut report = String::new();
    for path in &args.logs {
        let name = path.display().to_string();
        let bytes = std::fs::read(path)
            .map_err(|e| input_error(&name, format!("cannot read the log: {e}")))?;
        let text = String::from_utf8_lossy(&bytes);
        let parsed = import::parse(args.tool, &name, &text, &hints);
        report.push_str(&format!(
            "{name}: {} all-reduce results, {} lines not read, {} library log lines passed over\n",
            parsed.rows.len(),
            parsed.unread.len(),
            parsed.noise
        ));
        for (line, why, text) in parsed.unread.iter().take(LIST) {
            let at = if *line > 0 {
                format!("{name}:{line}")
            } else {
                name.clone()
            };
            let shown: String = text.chars().take(100).collect();
            report.push_str(&format!("  not read: {at}: {why}: {shown}\n"));
        }
        if parsed.unread.len() > LIST {
            report.push_str(&format!(
                "  … and {} more lines not read\n",
                parsed.unread.len() - LIST
            ));
        }
        for o in &parsed.other_collectives {
            report.push_str(&format!("  passed over: {o}\n"));
        }
        for n in &parsed.notes {
            report.push_str(&format!("  note: {n}\n"));
        }
        rows.extend(parsed.rows);
    }
    {
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), "{report}");
    }
    if rows.is_empty() {
        return Err(input_error(
            args.logs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            format!(
                "no all-reduce results found in {} output (see the lines listed above)",
                args.tool.name()
            ),
        ));
    }
    let mut hosts: Vec<String> = Vec::new();
    let mut devices: Vec<String> = Vec::new();
    for r in &rows {
        for h in &r.hosts {
            if !hosts.contains(h) {
                hosts.push(h.clone());
            }
        }
        for d in &r.devices {
            if !devices.contains(d) {
                devices.push(d.clone());
            }
        }
    }
    let ranks = rows.iter().map(|r| r.ranks).max().unwrap_or(1);
    let host = hosts.first().cloned().unwrap_or_else(|| "imported".into());
    let node = Inventory::not_probed(
        &host,
        &format!(
            "not probed: all-reduce figures imported from {} output{}",
            args.tool.name(),
            if devices.is_empty() {
                String::new()
            } else {
                format!(" (devices in the log: {})", devices.join(", "))
            }
        ),
    );
    let mut results = Results::new(node, std::env::args().collect(), None);
    let nodes = hosts.len().max(1);
    let device = format!(
        "{ranks} ranks on {}{}",
        if hosts.is_empty() {
            "unknown nodes".to_string()
        } else {
            format!("{nodes} node{}", if nodes == 1 { "" } else { "s" })
        },
        if devices.is_empty() {
            String::new()
        } else {
            format!(" ({})", devices.join(", "))
        }
    );
    results.measurements = rows
        .iter()
        .map(|r| import::measurement(args.tool, r, &device))
        .collect();
    results.ranks = Some(RankLayout {
        size: ranks as usize,
        // Distinct hosts: a log lists them per device, not always per rank.
        hosts: hosts.clone(),
        library: args.tool.name().into(),
        launcher: "imported".into(),
        transport: None,
    });
    results.planned = results.measurements.len();
    results.complete = true;
    results.finished_at = Some(results.started_at.clone());
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("reports")
            .join(format!(
                "import-{}-{}",
                safe_name(args.tool.name()),
                crate::timefmt::compact(crate::timefmt::now_unix())
            ))
            .join("results.json")
    });
    if let Some(dir) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::results::io::ensure_writable_dir(dir, "--out")?;
    }
    write_atomic(&out, &serde_json::to_vec_pretty(&results)?)?;
    let table: Vec<Vec<String>> = results
        .measurements
        .iter()
        .map(super::run::allreduce_row)
        .collect();
    emit(&super::run::allreduce_table(&table))?;
    emit(&format!("\nresults: {}\n", out.display()))?;
    super::remember(&args.history, "import", &results, &out);
    super::run::fail_on_invalid(&results)
}
