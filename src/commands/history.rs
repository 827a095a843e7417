//! `hpcready history`: the runs recorded, and `history trend`: a figure over time per machine.

use super::{emit, text_table};
use crate::cli::{HistoryArgs, HistoryCommand};
use crate::error::input_error;
use crate::history::{Store, trend};

/// `hpcready history`.
pub fn history(args: &HistoryArgs) -> anyhow::Result<()> {
    match &args.command {
        None => list(args),
        Some(HistoryCommand::Trend {
            bench,
            dtype,
            method,
            filter,
            store,
            out,
        }) => {
            // `--history` after `trend`, else before it.
            let location = if store.path.is_some() {
                store.location()
            } else {
                args.store.location()
            };
            let path = location.path()?;
            if let Some(out) = out {
                check_svg(out)?;
            }
            let store = Store::open_existing(path)?;
            let dtype = match dtype {
                Some(d) => d.clone(),
                None => {
                    let known = store.dtypes(bench)?;
                    match known.as_slice() {
                        [] => {
                            return Err(input_error(
                                format!("history trend {bench}"),
                                format!("no run in {} has a {bench} figure", path.display()),
                            ));
                        }
                        [one] => one.clone(),
                        many => {
                            return Err(input_error(
                                "--dtype",
                                format!("{bench} is recorded in {}; name one", many.join(", ")),
                            ));
                        }
                    }
                }
            };
            let points = store.trend(bench, &dtype, method.as_deref(), &filter.filter(None))?;
            let points = match filter.last {
                Some(n) => points[points.len().saturating_sub(n as usize)..].to_vec(),
                None => points,
            };
            if points.is_empty() {
                return Err(input_error(
                    format!("history trend {bench} --dtype {dtype}"),
                    format!("no run in {} matches", path.display()),
                ));
            }
            let lines = trend::lines(&points);
            let title = format!(
                "{bench} {dtype}{}: each run's best",
                method
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            );
            let mut text = format!(
                "{title}, {} run(s) on {} machine(s); ◆ marks a software-stack change\n\n",
                points.len(),
                lines.len()
            );
            text += &trend::table(&lines);
            if let Some(out) = out {
                let svg = trend::plot(&title, &lines)?;
                crate::results::io::write_atomic(out, svg.as_bytes())?;
                text += &format!("\nplot: {}\n", out.display());
            }
            emit(&text)
        }
    }
}

/// An --out for a plot: its directory must exist and be writable.
fn check_svg(out: &std::path::Path) -> anyhow::Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::results::io::ensure_writable_dir(dir, "--out")?;
    }
    Ok(())
}

fn list(args: &HistoryArgs) -> anyhow::Result<()> {
    let location = args.store.location();
    let path = location.path()?;
    let store = Store::open_existing(path)?;
    let runs = store.runs(&args.filter.filter(args.bench.clone()))?;
    if args.json {
        return emit(&(serde_json::to_string_pretty(&runs)? + "\n"));
    }
    if runs.is_empty() {
        return emit(&format!("no run in {} matches\n", path.display()));
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let stack = ["driver", "torch", "hip", "cuda", "kernel"]
                .iter()
                .filter_map(|k| r.info.stack.get(*k).map(|v| format!("{k} {v}")))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                r.id.to_string(),
                r.info.started_at.clone(),
                r.info.kind.clone(),
                r.info.host.clone(),
                r.info.gpus.clone(),
                format!(
                    "{}{}",
                    r.figures,
                    if r.info.invalid > 0 {
                        format!(" ({} invalid)", r.info.invalid)
                    } else {
                        String::new()
                    }
                ),
                if stack.is_empty() {
                    format!("hpcready {}", r.info.tool_version)
                } else {
                    stack
                },
                r.info.results_path.clone(),
            ]
        })
        .collect();
    emit(&format!(
        "{} run(s) in {}\n\n{}",
        runs.len(),
        path.display(),
        text_table(
            &[
                "run", "started", "kind", "host", "GPUs", "figures", "stack", "results"
            ],
            &rows
        )
    ))
}
