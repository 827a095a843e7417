//! `hpcready baselines list | show`.

use super::{emit, text_table};
use crate::assess::saved;
use crate::bench::num;
use crate::cli::{BaselinesArgs, BaselinesCommand};
use crate::error::input_error;
use crate::profiles::{self, Profile};
use crate::results::io::{ensure_writable_dir, load, write_atomic};
use std::path::{Path, PathBuf};

fn flag(uncertain: bool) -> &'static str {
    if uncertain { " ⚠ uncertain" } else { "" }
}

/// ` (caveat)` for a figure's note, else nothing.
fn note(n: &Option<String>) -> String {
    n.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
}

/// A profile as text, every figure with its source.
pub fn describe(p: &Profile) -> String {
    let mut s = format!("{} ({})\nkind: {:?}\n{}\n", p.name, p.id, p.kind, p.summary);
    if let Some(a) = &p.accelerator {
        s.push_str(&format!(
            "\naccelerators: {} × {}{}{} [{}]\n",
            a.count,
            a.model,
            if a.devices_per_accelerator > 1 {
                format!(" ({} devices each)", a.devices_per_accelerator)
            } else {
                String::new()
            },
            flag(a.uncertain),
            a.source
        ));
        if let Some(f) = &a.memory_gb {
            s.push_str(&format!(
                "  memory: {} GB per accelerator [{}]{}\n",
                num(f.value),
                f.source,
                flag(f.uncertain)
            ));
        }
        if let Some(f) = &a.memory_bw_gbs {
            s.push_str(&format!(
                "  memory bandwidth: {} GB/s [{}]{}\n",
                num(f.value),
                f.source,
                flag(f.uncertain)
            ));
        }
        if a.peaks.is_empty() {
            s.push_str("  peaks: none published for this part\n");
        }
        for pk in &a.peaks {
            s.push_str(&format!(
                "  peak {}: {} TFLOP/s dense per accelerator [{}]{}{}\n",
                pk.dtype,
                num(pk.value),
                pk.source,
                flag(pk.uncertain),
                pk.note
                    .as_ref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            ));
        }
    }
    if let Some(c) = &p.cpu {
        s.push_str(&format!(
            "\nhost: {} [{}]{}\n",
            c.description,
            c.source,
            flag(c.uncertain)
        ));
    }
    for l in &p.links {
        s.push_str(&format!(
            "link ({}): {} — {} {} {} per {} [{}]{}{}\n",
            l.scope,
            l.technology,
            num(l.value),
            l.unit,
            l.direction,
            l.per,
            l.source,
            flag(l.uncertain),
            note(&l.note)
        ));
    }
    if let Some(pr) = &p.price {
        let mut v = Vec::new();
        if let Some(h) = pr.usd_per_hour {
            v.push(format!("{h} USD/h per node"));
        }
        if let Some(h) = pr.usd_per_accelerator_hour {
            v.push(format!("{h} USD/h per accelerator"));
        }
        s.push_str(&format!(
            "\nprice: {} ({}, {}{}) [{}]{}{}\n",
            v.join(", "),
            pr.kind,
            pr.region
                .as_deref()
                .map(|r| format!("{r}, "))
                .unwrap_or_default(),
            pr.date,
            pr.source,
            flag(pr.uncertain),
            note(&pr.note)
        ));
    }
    if !p.references.is_empty() {
        s.push_str("\npublished results:\n");
    }
    for r in &p.references {
        s.push_str(&format!(
            "  {} {} {}: {} {} per {} — {} (tool: {}) [{}]{}{}\n",
            r.bench,
            r.dtype,
            r.params,
            num(r.value),
            r.unit,
            r.per,
            r.method,
            r.tool,
            r.source,
            flag(r.uncertain),
            note(&r.note)
        ));
        if let Some(sp) = &r.spread {
            s.push_str(&format!("    {}\n", sp.describe()));
        }
    }
    for n in &p.notes {
        s.push_str(&format!("\nnote: {n}\n"));
    }
    s.push_str("\nsources:\n");
    for (k, v) in &p.sources {
        s.push_str(&format!("  [{k}] {v}\n"));
    }
    s
}

/// `hpcready baselines`.
pub fn baselines(args: &BaselinesArgs) -> anyhow::Result<()> {
    match &args.command {
        BaselinesCommand::List { json } => {
            let all = profiles::embedded();
            if *json {
                emit(&(serde_json::to_string_pretty(&all)? + "\n"))?;
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|p| {
                        vec![
                            p.id.clone(),
                            format!("{:?}", p.kind).to_lowercase(),
                            p.summary.clone(),
                        ]
                    })
                    .collect();
                emit(&text_table(&["id", "kind", "summary"], &rows))?;
            }
        }
        BaselinesCommand::Show { id, json } => {
            let p = profiles::lookup(id)?;
            if *json {
                emit(&(serde_json::to_string_pretty(&p)? + "\n"))?;
            } else {
                emit(&describe(&p))?;
            }
        }
        BaselinesCommand::Save {
            results,
            from_history,
            filter,
            store,
            id,
            name,
            out,
        } => {
            let from = match results {
                Some(r) if !*from_history && !filter.any() => From::Results(r),
                Some(_) => {
                    return Err(input_error(
                        "--machine/--since/--last",
                        "they pick runs with --from-history; give a results file or them",
                    ));
                }
                None => From::History(filter, store),
            };
            save(from, id, name.as_deref(), out.as_deref())?
        }
    }
    Ok(())
}

/// What a baseline is saved from.
enum From<'a> {
    /// One results file.
    Results(&'a Path),
    /// The runs of the history a filter selects.
    History(&'a crate::cli::RunFilter, &'a crate::cli::HistoryPath),
}

/// `baselines save`: checks the target before reading anything, never overwrites.
fn save(from: From, id: &str, name: Option<&str>, out: Option<&Path>) -> anyhow::Result<()> {
    let out = out.map_or_else(|| PathBuf::from(format!("{id}.toml")), Path::to_path_buf);
    if out.exists() {
        return Err(input_error(
            format!("--out {}", out.display()),
            "the file exists; name another (a baseline is never overwritten)",
        ));
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        ensure_writable_dir(dir, "--out")?;
    }
    let (profile, what) = match from {
        From::Results(results) => (
            saved::from_results(&load(results)?, id, name)?,
            results.display().to_string(),
        ),
        From::History(filter, store) => {
            let location = store.location();
            let path = location.path()?;
            let history = crate::history::Store::open_existing(path)?;
            let runs = history.runs(&filter.filter(None))?;
            let Some(newest) = runs.last() else {
                return Err(input_error(
                    "--from-history",
                    format!("no run in {} matches", path.display()),
                ));
            };
            let template = load(Path::new(&newest.info.results_path)).map_err(|e| {
                e.context(format!(
                    "the newest run selected (run {}) describes the machine",
                    newest.id
                ))
            })?;
            let ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
            let figures = history.figures(&ids)?;
            (
                saved::from_history(&template, &runs, &figures, id, name)?,
                format!("{} run(s) of the history {}", runs.len(), path.display()),
            )
        }
    };
    let text = format!(
        "# Baseline saved by `hpcready baselines save` from {}.\n# Use it with --baseline {}\n{}",
        what,
        out.display(),
        toml::to_string_pretty(&profile)?
    );
    // Read back as any profile file will be, so a saved baseline always loads.
    Profile::from_toml(&text, &out.display().to_string())?;
    write_atomic(&out, text.as_bytes())?;
    emit(&format!(
        "saved baseline {} ({} reference results) to {}\nuse it: hpcready assess --baseline {}\n",
        profile.id,
        profile.references.len(),
        out.display(),
        out.display()
    ))?;
    Ok(())
}
