//! Reports: one document model, rendered by one [`Exporter`] per format (HTML, Markdown, CSV,
//! JSON), so the HTML and Markdown reports say the same things. A run's report and a comparison
//! of runs are both a [`Page`], written by the same exporters through [`write_page`].
//!
//! Files are written into a staging directory inside the output directory and renamed into place
//! only when every requested format rendered, so a failed report never leaves a partial set of
//! files pretending to be complete. An incomplete run is reported as incomplete, prominently.

mod communication;
pub mod compare;
pub mod csv;
mod details;
mod document;
pub mod energy;
pub mod fleet;
pub mod history;
pub mod html;
pub mod json;
pub mod markdown;
mod model;
pub mod plots;
pub mod scaling;
mod storage;
pub mod trend;

pub use document::document;
pub use model::{Block, Cell};

use crate::assess::Comparison;
use crate::profiles::Profile;
use crate::results::Results;
use std::path::{Path, PathBuf};

/// Everything a report is rendered from.
#[derive(Debug)]
pub struct ReportContext<'a> {
    /// The run.
    pub results: &'a Results,
    /// The run compared with the baseline.
    pub comparison: &'a Comparison,
    /// The baseline.
    pub profile: &'a Profile,
    /// The plots.
    pub plots: Vec<plots::Plot>,
}

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `report.html`: self-contained, inline CSS and SVG.
    Html,
    /// `report.md`, with the plots as SVG files beside it.
    Md,
    /// `results.csv`: one row per measurement.
    Csv,
    /// `results.json`: the full results, readable by `hpcready report`.
    Json,
}

impl Format {
    /// Every format, the default for `report` and `assess`.
    pub const ALL: [Format; 4] = [Self::Html, Self::Md, Self::Csv, Self::Json];
    /// Every format, by name.
    pub const NAMES: [&'static str; 4] = ["html", "md", "csv", "json"];
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::NAMES
            .iter()
            .position(|n| *n == s)
            .map(|i| Self::ALL[i])
            .ok_or_else(|| format!("unknown format `{s}`; known: {}", Self::NAMES.join(", ")))
    }
}

/// What a report is written from: one run's report ([`Page::report`]) or a comparison of runs
/// (`compare::page`), rendered once and written by every requested [`Exporter`].
#[derive(Debug, Clone)]
pub struct Page {
    /// Which of the two it is: it names the files.
    pub kind: PageKind,
    /// The HTML page's title.
    pub title: String,
    /// The document model shared by HTML and Markdown.
    pub blocks: Vec<Block>,
    /// The plots, inline in HTML and as SVG files beside Markdown.
    pub plots: Vec<plots::Plot>,
    /// The table as CSV bytes.
    pub table: Vec<u8>,
    /// The results as JSON, readable again by `hpcready report`; a comparison has none.
    pub data: Option<Vec<u8>>,
}

/// The two kinds of page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKind {
    /// `report.html`, `report.md`, `results.csv`, `results.json`.
    Report,
    /// `compare.html`, `compare.md`, `compare.csv`.
    Compare,
    /// `fleet.html`, `fleet.md`, `fleet.csv`: an allocation's nodes.
    Fleet,
}

impl PageKind {
    /// The file a format is written to.
    pub fn file_name(self, format: Format) -> &'static str {
        match (self, format) {
            (Self::Report, Format::Html) => "report.html",
            (Self::Report, Format::Md) => "report.md",
            (Self::Report, Format::Csv) => "results.csv",
            (Self::Report, Format::Json) => "results.json",
            (Self::Compare, Format::Html) => "compare.html",
            (Self::Compare, Format::Md) => "compare.md",
            (Self::Compare, Format::Csv) => "compare.csv",
            (Self::Compare, Format::Json) => "compare.json",
            (Self::Fleet, Format::Html) => "fleet.html",
            (Self::Fleet, Format::Md) => "fleet.md",
            (Self::Fleet, Format::Csv) => "fleet.csv",
            (Self::Fleet, Format::Json) => "fleet.json",
        }
    }
}

impl Page {
    /// One run's report.
    pub fn report(ctx: &ReportContext) -> anyhow::Result<Self> {
        Ok(Self {
            kind: PageKind::Report,
            title: format!(
                "hpcready report: {} vs {}",
                ctx.results.node.host, ctx.comparison.baseline_name
            ),
            blocks: document(ctx),
            plots: ctx.plots.clone(),
            table: csv::to_csv(ctx.results)?,
            data: Some(serde_json::to_vec_pretty(ctx.results)?),
        })
    }
}

/// Renders one format of a page.
pub trait Exporter {
    /// The format it writes.
    fn format(&self) -> Format;
    /// The file's bytes; `None` where the page has nothing in this format (a comparison's JSON).
    fn render(&self, page: &Page) -> anyhow::Result<Option<Vec<u8>>>;
}

/// The exporter for a format.
pub fn exporter(format: Format) -> Box<dyn Exporter> {
    match format {
        Format::Html => Box::new(html::Html),
        Format::Md => Box::new(markdown::Markdown),
        Format::Csv => Box::new(csv::Csv),
        Format::Json => Box::new(json::Json),
    }
}

/// Writes a page in `formats` into `dir` (created if needed), staged so that all files appear
/// or none; returns the files written. Plots are written as SVG files when HTML or Markdown is
/// requested.
pub fn write_page(page: &Page, formats: &[Format], dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    crate::results::io::ensure_writable_dir(dir, "--out")?;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for &f in formats {
        if let Some(bytes) = exporter(f).render(page)? {
            files.push((page.kind.file_name(f).to_string(), bytes));
        }
    }
    if formats
        .iter()
        .any(|f| matches!(f, Format::Html | Format::Md))
    {
        for p in &page.plots {
            files.push((format!("{}.svg", p.name), p.svg.clone().into_bytes()));
        }
    }
    crate::results::io::write_staged(dir, &files)
}

/// Writes one run's report; see [`write_page`].
pub fn write_report(
    ctx: &ReportContext,
    formats: &[Format],
    dir: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    write_page(&Page::report(ctx)?, formats, dir)
}

/// `text` with every control character (ESC sequences for the terminal, characters XML forbids
/// in SVG) replaced by U+FFFD: host and device names come from the machine or from files.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// A free-text CSV cell that a spreadsheet will not run: [`printable`], and a leading `=`, `+`,
/// `-`, `@` (a formula, e.g. a device named `=HYPERLINK(…)`) gets a `'` in front, as OWASP
/// advises.
pub fn csv_text(text: &str) -> String {
    let t = printable(text);
    if t.starts_with(['=', '+', '-', '@']) {
        format!("'{t}")
    } else {
        t
    }
}

/// Lays out rows as aligned text columns.
pub fn text_table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = width[i] - c.chars().count();
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(pad + 2));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(head.to_vec());
    out.push_str(&line(
        width
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(|s| s.as_str())
            .collect(),
    ));
    for row in rows {
        out.push_str(&line(row.iter().map(|s| s.as_str()).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_formulas_are_neutralised() {
        assert_eq!(printable("node\x1b[31m1\x07"), "node\u{FFFD}[31m1\u{FFFD}");
        assert_eq!(csv_text("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        for f in ["+1", "-cmd", "@SUM(A1)"] {
            assert!(csv_text(f).starts_with('\''), "{f}");
        }
        assert_eq!(csv_text("NVIDIA H100"), "NVIDIA H100");
    }
}
