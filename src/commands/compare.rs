//! `hpcready compare A.json B.json …`: machines side by side, for procurement.

use super::{emit, text_table};
use crate::bench::num;
use crate::error::input_error;
use crate::report::compare::{self, Machine};
use crate::results::io::{ensure_writable_dir, load};
use std::path::{Path, PathBuf};

/// The prices given as FILE=USD, by the results file they name.
fn prices(args: &[String], files: &[PathBuf]) -> anyhow::Result<Vec<Option<f64>>> {
    let mut out = vec![None; files.len()];
    for a in args {
        let (file, usd) = a.rsplit_once('=').ok_or_else(|| {
            input_error(
                format!("--price {a}"),
                "write it as FILE=USD, e.g. p5.json=55.04",
            )
        })?;
        let usd: f64 = usd
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v > 0.0)
            .ok_or_else(|| {
                input_error(format!("--price {a}"), "the price is not a positive number")
            })?;
        let i = files
            .iter()
            .position(|f| f == Path::new(file))
            .ok_or_else(|| {
                input_error(
                    format!("--price {a}"),
                    format!("{file} is not one of the results files compared"),
                )
            })?;
        out[i] = Some(usd);
    }
    Ok(out)
}

/// The runs `--since`/`--last` (and `--machine`) pick from the history, oldest first, each read
/// from its results file.
fn from_history_runs(
    args: &crate::cli::CompareArgs,
) -> anyhow::Result<Vec<(String, crate::results::Results)>> {
    if !args.prices.is_empty() {
        return Err(input_error(
            "--price",
            "prices name results files; compare the files themselves to price them",
        ));
    }
    let location = args.store.location();
    let path = location.path()?;
    let store = crate::history::Store::open_existing(path)?;
    let runs = store.runs(&args.filter.filter(None))?;
    if runs.len() < 2 {
        return Err(input_error(
            "--machine/--since/--last",
            format!(
                "{} run(s) in {} match; compare needs two or more",
                runs.len(),
                path.display()
            ),
        ));
    }
    let mut out = Vec::new();
    for r in runs {
        let file = PathBuf::from(&r.info.results_path);
        let results = load(&file).map_err(|e| {
            e.context(format!(
                "run {} of the history ({} on {}) points at {}",
                r.id, r.info.started_at, r.info.host, r.info.results_path
            ))
        })?;
        out.push((r.info.results_path, results));
    }
    Ok(out)
}

/// `hpcready compare`.
pub fn compare(args: &crate::cli::CompareArgs) -> anyhow::Result<()> {
    let mut prices = prices(&args.prices, &args.results)?;
    let out = args.out.clone().unwrap_or_else(|| {
        Path::new("reports").join(format!(
            "compare-{}",
            crate::timefmt::compact(crate::timefmt::now_unix())
        ))
    });
    // Every input is read before anything is created.
    let mut loaded = Vec::new();
    for f in &args.results {
        loaded.push((f.display().to_string(), load(f)?));
    }
    let from_history = args.results.is_empty();
    if from_history {
        loaded = from_history_runs(args)?;
        prices = vec![None; loaded.len()];
    } else if args.filter.any() {
        return Err(input_error(
            "--machine/--since/--last",
            "they pick runs from the history; give them or results files, not both",
        ));
    }
    ensure_writable_dir(&out, "--out")?;
    let labels = if from_history {
        // The same host at several dates: the date tells them apart.
        loaded
            .iter()
            .map(|(_, r)| format!("{} @ {}", r.node.host, r.started_at))
            .collect()
    } else {
        compare::labels(&loaded.iter().map(|(_, r)| r).collect::<Vec<_>>())
    };
    let machines: Vec<Machine> = loaded
        .into_iter()
        .zip(labels)
        .zip(prices)
        .map(|(((file, results), label), price)| Machine {
            label,
            file,
            results,
            price,
        })
        .collect();
    compare::write(&machines, &out)?;
    // The per-device summary on the terminal.
    let mut head = vec!["benchmark"];
    head.extend(machines.iter().map(|m| m.label.as_str()));
    let cases = compare::cases(&machines);
    let rows: Vec<Vec<String>> = cases
        .iter()
        .map(|&(bench, dtype)| {
            let mut row = vec![compare::label(bench, dtype)];
            for m in &machines {
                row.push(m.results.best(bench, dtype).map_or_else(
                    || "missing".into(),
                    |x| {
                        x.throughput
                            .map_or_else(|| "—".into(), |t| format!("{} {}", num(t.value), t.unit))
                    },
                ));
            }
            row
        })
        .collect();
    emit(&format!(
        "per device (best of each benchmark):\n{}\ncomparison: {}\n",
        text_table(&head, &rows),
        out.join("compare.html").display()
    ))?;
    Ok(())
}
