//! `hpcready report`: results file → report directory.

use super::{default_report_dir, emit, text_table};
use crate::assess::{Comparison, compare};
use crate::bench::{num, sig};
use crate::cli::ReportArgs;
use crate::profiles::{self, Profile};
use crate::report::{Format, ReportContext, plots, write_report};
use crate::results::{Results, io};
use std::path::{Path, PathBuf};

/// Compares, plots and writes a report; returns the comparison and the files written.
pub fn build_report(
    results: &Results,
    profile: &Profile,
    formats: &[Format],
    dir: &Path,
) -> anyhow::Result<(Comparison, Vec<PathBuf>)> {
    build_report_with(results, &[], None, profile, formats, dir)
}

/// [`build_report`] with a scaling section when the files made curves across node counts, and
/// a history section when the run was checked against the history.
pub fn build_report_with(
    results: &Results,
    curves: &[crate::assess::scaling::Judged],
    history: Option<&crate::history::regress::Check>,
    profile: &Profile,
    formats: &[Format],
    dir: &Path,
) -> anyhow::Result<(Comparison, Vec<PathBuf>)> {
    let comparison = compare(results, profile);
    let ctx = ReportContext {
        results,
        comparison: &comparison,
        profile,
        plots: plots::plots(results, profile)?,
    };
    if curves.is_empty() && history.is_none() {
        let files = write_report(&ctx, formats, dir)?;
        return Ok((comparison, files));
    }
    let mut page = crate::report::Page::report(&ctx)?;
    let (blocks, extra) = crate::report::scaling::section(curves, page.plots.len())?;
    page.blocks.extend(blocks);
    page.plots.extend(extra);
    if let Some(check) = history {
        page.blocks.extend(crate::report::history::section(check));
    }
    let files = crate::report::write_page(&page, formats, dir)?;
    Ok((comparison, files))
}

/// The summary table printed after a report: benchmark, ours, baseline's, ratio, verdict.
pub fn summary(c: &Comparison) -> String {
    let rows: Vec<Vec<String>> = c
        .rows
        .iter()
        .map(|r| {
            vec![
                r.label(),
                r.ours.map(|t| t.to_string()).unwrap_or_else(|| "—".into()),
                // The baseline's data type and tool where they differ from ours: an f32 row
                // may stand beside a 16-bit library figure.
                r.baseline
                    .as_ref()
                    .map(|b| {
                        let other =
                            !b.dtype.is_empty() && b.dtype != "bytes" && b.dtype != r.dtype.name();
                        match (other, b.method.as_str()) {
                            (true, m) if !m.is_empty() => {
                                format!("{} {} ({}, {m})", num(b.value), b.unit, b.dtype)
                            }
                            _ => format!("{} {}", num(b.value), b.unit),
                        }
                    })
                    .unwrap_or_else(|| "—".into()),
                r.ratio
                    .map(|x| format!("{}×", sig(x, 3)))
                    .unwrap_or_else(|| "—".into()),
                format!("{} ({})", r.verdict_text(), r.basis.describe()),
            ]
        })
        .collect();
    let mut s = format!(
        "Compared with {} — {}\n\n",
        c.baseline_name, c.baseline_summary
    );
    s.push_str(&text_table(
        &["benchmark", "this node", "baseline", "ratio", "verdict"],
        &rows,
    ));
    s.push_str(&format!(
        "\nVerdict: {}\n",
        c.readiness.describe().to_uppercase()
    ));
    s.push_str(&format!("{}\n", c.headline));
    for r in &c.reasons {
        s.push_str(&format!("  - {r}\n"));
    }
    s
}

/// `hpcready report`.
pub fn report(args: &ReportArgs) -> anyhow::Result<()> {
    let rule = crate::assess::fleet::OutlierRule::parse(&args.outlier)
        .map_err(|e| crate::error::input_error("--outlier", e))?;
    let profile = profiles::lookup(&args.baseline)?;
    if args
        .results
        .iter()
        .any(|p| crate::history::bundle::is_bundle(p))
    {
        return bundle_report(args, &profile);
    }
    let mut all = Vec::new();
    for path in &args.results {
        all.push(io::load(path)?);
    }
    // Node files of `hpcready smoke`: the allocation, node by node.
    if all
        .iter()
        .all(|r| r.command_line.get(1).map(String::as_str) == Some("smoke"))
    {
        return fleet_report(args, &all, rule);
    }
    let curves = crate::assess::scaling::judged(&all);
    let results = crate::results::merge(all);
    let start =
        crate::timefmt::parse_rfc3339(&results.started_at).unwrap_or_else(crate::timefmt::now_unix);
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| default_report_dir(&results.node.host, start));
    // One file is one run of the history (several merged are checked as one, none of them
    // left out of its own reference).
    let own = match args.results.as_slice() {
        [one] => one.clone(),
        _ => std::path::PathBuf::new(),
    };
    let history = crate::history::check_existing(
        &args.history.location(),
        &args.history.rule(),
        &results,
        &own,
    );
    let (comparison, files) = build_report_with(
        &results,
        &curves,
        history.as_ref(),
        &profile,
        &args.format,
        &dir,
    )?;
    emit(&summary(&comparison))?;
    for j in &curves {
        if let Some(k) = &j.check {
            emit(&format!("Scaling ({}): {}\n", j.curve.model, k.describe()))?;
        }
    }
    emit("\n")?;
    for f in files {
        emit(&format!("wrote {}\n", f.display()))?;
    }
    Ok(())
}

/// A bundle's reports, re-rendered from its results alone after every file matched its
/// checksum: one report directory per run under --out.
fn bundle_report(args: &ReportArgs, profile: &Profile) -> anyhow::Result<()> {
    let [bundle] = args.results.as_slice() else {
        return Err(crate::error::input_error(
            "RESULTS.json",
            "a bundle is reported alone: name one .tar.gz and no other file",
        ));
    };
    let opened = crate::history::bundle::open(bundle)?;
    let out = args.out.clone().unwrap_or_else(|| {
        Path::new("reports").join(format!(
            "bundle-{}",
            crate::timefmt::compact(crate::timefmt::now_unix())
        ))
    });
    io::ensure_writable_dir(&out, "--out")?;
    let m = &opened.manifest;
    let mut text = format!(
        "bundle {}: {} file(s) match its SHA256SUMS; made {} by hpcready {} ({}), {} run(s)\n",
        bundle.display(),
        opened.files,
        m.created_at,
        m.tool.version,
        m.tool.git_revision,
        m.runs.len()
    );
    for (run, file) in m.runs.iter().zip(opened.results_files()) {
        let results = io::load(&file)?;
        let name = Path::new(&run.dir)
            .file_name()
            .map_or_else(|| run.dir.clone(), |n| n.to_string_lossy().into_owned());
        let dir = out.join(name);
        build_report(&results, profile, &args.format, &dir)?;
        text += &format!(
            "  {} ({} on {}): {}\n    measured with: {}\n",
            run.dir,
            run.started_at,
            run.host,
            dir.join("report.html").display(),
            run.command_line.join(" ")
        );
    }
    emit(&text)
}

/// The fleet report of smoke's node files: `fleet.{html,md,csv}` and `failing-nodes.txt` (the
/// failing nodes in Slurm's host-list form, empty when every node is ready).
fn fleet_report(
    args: &ReportArgs,
    all: &[crate::results::Results],
    rule: crate::assess::fleet::OutlierRule,
) -> anyhow::Result<()> {
    use crate::assess::fleet::{Node, judge};
    let nodes: Vec<Node> = all.iter().map(Node::from_results).collect();
    let fleet = judge(&nodes, rule);
    let mut hosts: Vec<String> = nodes.iter().map(|n| n.host.clone()).collect();
    hosts.sort();
    hosts.dedup();
    let dir = args.out.clone().unwrap_or_else(|| {
        std::path::Path::new("reports").join(format!(
            "fleet-{}",
            crate::timefmt::compact(crate::timefmt::now_unix())
        ))
    });
    let page = crate::report::fleet::page(&fleet, &hosts)?;
    let mut files = crate::report::write_page(&page, &args.format, &dir)?;
    let list = dir.join("failing-nodes.txt");
    let text = fleet.exclude_list();
    io::write_atomic(
        &list,
        if text.is_empty() {
            Vec::new()
        } else {
            (text.clone() + "\n").into_bytes()
        }
        .as_slice(),
    )?;
    files.push(list);
    let mut out = format!(
        "{} of {} node(s) ready (outliers: {})\n",
        fleet.ready(),
        fleet.nodes,
        rule.describe()
    );
    for (h, why) in &fleet.failing {
        out += &format!("  {h}: {}\n", why.join("; "));
    }
    if !text.is_empty() {
        out += &format!("exclude: sbatch --exclude={text}\n");
    }
    out += "\n";
    for f in files {
        out += &format!("wrote {}\n", f.display());
    }
    emit(&out)
}
