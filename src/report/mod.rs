//! Reports: one document model, rendered by one [`Exporter`] per format (HTML, Markdown, CSV,
//! JSON), so the HTML and Markdown reports say the same things.
//!
//! Files are written into a staging directory inside the output directory and renamed into place
//! only when every requested format rendered, so a failed report never leaves a partial set of
//! files pretending to be complete. An incomplete run is reported as incomplete, prominently.

mod communication;
pub mod compare;
pub mod csv;
mod details;
mod document;
pub mod html;
pub mod json;
pub mod markdown;
pub mod plots;

pub use document::{Block, Cell, document};

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

/// Renders one format.
pub trait Exporter {
    /// The file it writes.
    fn file_name(&self) -> &'static str;
    /// The file's bytes.
    fn render(&self, ctx: &ReportContext) -> anyhow::Result<Vec<u8>>;
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

/// Writes the report in `formats` into `dir` (created if needed); returns the files written.
/// Plots are written as SVG files when HTML or Markdown is requested.
pub fn write_report(
    ctx: &ReportContext,
    formats: &[Format],
    dir: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    crate::results::io::ensure_writable_dir(dir, "--out")?;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for &f in formats {
        let e = exporter(f);
        files.push((e.file_name().to_string(), e.render(ctx)?));
    }
    if formats
        .iter()
        .any(|f| matches!(f, Format::Html | Format::Md))
    {
        for p in &ctx.plots {
            files.push((format!("{}.svg", p.name), p.svg.clone().into_bytes()));
        }
    }
    crate::results::io::write_staged(dir, &files)
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
