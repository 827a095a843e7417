//! `hpcready history` (or `history list`): the runs recorded; `history show`: one run's whole
//! record; `history trend`: a figure over time per machine.

use super::{emit, text_table};
use crate::bench::sig;
use crate::cli::{HistoryArgs, HistoryCommand, HistoryPath, ListArgs};
use crate::error::input_error;
use crate::history::store::{Figure, NewRun, RunRow};
use crate::history::{Store, regress};
use crate::report::trend;

/// `hpcready history`.
pub fn history(args: &HistoryArgs) -> anyhow::Result<()> {
    match &args.command {
        None => list(&args.list),
        Some(HistoryCommand::List(list_args)) => list(list_args),
        Some(HistoryCommand::Show { run, store, json }) => {
            show(*run, either(store, &args.list.store), *json)
        }
        Some(HistoryCommand::Trend {
            bench,
            dtype,
            method,
            filter,
            store,
            out,
        }) => {
            let location = either(store, &args.list.store).location();
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

/// `--history` after the subcommand, else before it.
fn either<'a>(after: &'a HistoryPath, before: &'a HistoryPath) -> &'a HistoryPath {
    if after.path.is_some() { after } else { before }
}

fn list(args: &ListArgs) -> anyhow::Result<()> {
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

/// `hpcready history show RUN`: what the run was, its whole software stack, every figure, and
/// the regression check against the same host's earlier runs (the default rule, as `run` applies
/// it when it records).
fn show(id: i64, store: &HistoryPath, json: bool) -> anyhow::Result<()> {
    let location = store.location();
    let path = location.path()?;
    let store = Store::open_existing(path)?;
    let Some((row, uid)) = store.run(id)? else {
        return Err(input_error(
            format!("history show {id}"),
            format!(
                "no run {id} in {} (`hpcready history` lists the runs and their numbers)",
                path.display()
            ),
        ));
    };
    let figures = store.figures(&[id])?.remove(&id).unwrap_or_default();
    let run = NewRun {
        uid,
        info: row.info.clone(),
        measurements: 0,
        figures,
        bundle: None,
    };
    let check = regress::check(&store, &run, &regress::Rule::default())?;
    if json {
        /// `history show --json`: the run as `history --json` lists it, its identity, its
        /// figures and the regression check.
        #[derive(serde::Serialize)]
        struct Shown<'a> {
            run: &'a RunRow,
            results_sha256: &'a str,
            figures: &'a [Figure],
            history: &'a regress::Check,
        }
        let shown = Shown {
            run: &row,
            results_sha256: &run.uid,
            figures: &run.figures,
            history: &check,
        };
        return emit(&(serde_json::to_string_pretty(&shown)? + "\n"));
    }
    emit(&show_text(&row, &run, &check, path))
}

/// `history show` as text.
fn show_text(row: &RunRow, run: &NewRun, check: &regress::Check, path: &std::path::Path) -> String {
    let info = &row.info;
    let state = match (info.complete, info.invalid) {
        (true, 0) => "complete".to_string(),
        (true, n) => format!("complete, {n} invalid measurement(s)"),
        (false, 0) => "incomplete (stopped before its last case)".to_string(),
        (false, n) => format!("incomplete, {n} invalid measurement(s)"),
    };
    let facts: Vec<Vec<String>> = [
        ("kind", info.kind.clone()),
        ("started", info.started_at.clone()),
        ("host", info.host.clone()),
        ("CPU", info.cpu.clone()),
        ("GPUs", info.gpus.clone()),
        ("hpcready", info.tool_version.clone()),
        ("command", info.command_line.join(" ")),
        ("results", format!("{} ({state})", info.results_path)),
        ("SHA-256", run.uid.clone()),
    ]
    .into_iter()
    .map(|(k, v)| vec![k.to_string(), v])
    .collect();
    let mut text = format!("run {} in {}\n\n", row.id, path.display());
    text += &text_table(&["", ""], &facts)
        .lines()
        .skip(2)
        .map(|l| format!("{}\n", l.trim_end()))
        .collect::<String>();
    text += "\nsoftware stack\n";
    if info.stack.is_empty() {
        text += "  (none recorded)\n";
    }
    for (k, v) in &info.stack {
        text += &format!("  {k}: {v}\n");
    }
    text += &format!("\n{} figure(s)\n", run.figures.len());
    if !run.figures.is_empty() {
        let rows: Vec<Vec<String>> = run
            .figures
            .iter()
            .map(|f| {
                vec![
                    f.bench.clone(),
                    f.dtype.clone(),
                    format!("{} {}", sig(f.value, 4), f.unit),
                    format!("per {}", f.per),
                    f.method.clone(),
                    f.variant.clone(),
                    f.shape.clone(),
                    f.device.clone(),
                ]
            })
            .collect();
        text += &text_table(
            &[
                "bench", "dtype", "figure", "per", "method", "variant", "shape", "device",
            ],
            &rows,
        );
    }
    text += "\nagainst this host's history\n";
    text += &format!("  rule: {}\n", check.rule.describe());
    for line in check.lines() {
        text += &format!("  {line}\n");
    }
    text
}
