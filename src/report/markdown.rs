//! The Markdown report: the same content as the HTML one, plots linked as SVG files beside it.

use super::{Block, Exporter, Format, Page};
use std::fmt::Write as _;

/// Writes `report.md`.
#[derive(Debug, Clone, Copy)]
pub struct Markdown;

/// Escapes text so Markdown renders it literally (and table cells keep their shape).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '#' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

impl Exporter for Markdown {
    fn format(&self) -> Format {
        Format::Md
    }

    fn render(&self, page: &Page) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(Some(render_blocks(&page.blocks, &page.plots).into_bytes()))
    }
}

/// Renders the document model as Markdown; plots are linked as `NAME.svg` beside the file.
pub fn render_blocks(blocks: &[Block], plots: &[super::plots::Plot]) -> String {
    let mut m = String::new();
    for block in blocks.iter().cloned() {
        match block {
            Block::Heading(level, text) => {
                let _ = writeln!(m, "{} {}\n", "#".repeat(level as usize), escape(&text));
            }
            Block::Para(text) => {
                let _ = writeln!(m, "{}\n", escape(&text));
            }
            Block::Warning(text) => {
                let _ = writeln!(m, "> **Warning:** {}\n", escape(&text));
            }
            Block::Verdict {
                readiness,
                headline,
                reasons,
            } => {
                let _ = writeln!(m, "**Verdict: {}**\n", escape(&readiness.to_uppercase()));
                let _ = writeln!(m, "{}\n", escape(&headline));
                for r in reasons {
                    let _ = writeln!(m, "- {}", escape(&r));
                }
                m.push('\n');
            }
            Block::List(items) => {
                for i in items {
                    let _ = writeln!(m, "- {}", escape(&i));
                }
                m.push('\n');
            }
            Block::Table { head, rows } => {
                let _ = writeln!(
                    m,
                    "| {} |",
                    head.iter()
                        .map(|h| escape(h))
                        .collect::<Vec<_>>()
                        .join(" | ")
                );
                let _ = writeln!(m, "|{}", "---|".repeat(head.len()));
                for row in rows {
                    let _ = writeln!(
                        m,
                        "| {} |",
                        row.iter()
                            .map(|c| escape(&c.text))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    );
                }
                m.push('\n');
            }
            Block::Plot(i) => {
                if let Some(p) = plots.get(i) {
                    let _ = writeln!(m, "![{}]({}.svg)\n", escape(&p.title), p.name);
                }
            }
            Block::Code(text) => {
                let _ = writeln!(m, "```\n{text}\n```\n");
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_table_breaking_and_markup_characters() {
        assert_eq!(escape("a|b <x> *y*"), "a\\|b \\<x\\> \\*y\\*");
    }
}
