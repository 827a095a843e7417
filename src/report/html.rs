//! The HTML report: one self-contained file, inline CSS and SVG, no scripts, nothing fetched.
//! Every string from input is escaped.

use super::{Block, Exporter, Format, Page};
use std::fmt::Write as _;

/// Writes `report.html`.
#[derive(Debug, Clone, Copy)]
pub struct Html;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
:root { --fg:#1d2330; --muted:#5b6475; --line:#d9dee7; --good:#1f7a3a; --warn:#9a6700; --bad:#b42318; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0 auto; max-width: 1180px; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 12px; }
h2 { font-size: 19px; margin: 32px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 20px 0 6px; }
.verdict { border: 2px solid var(--line); border-radius: 10px; padding: 14px 18px; margin: 8px 0 12px; }
.verdict .badge { display: inline-block; font-weight: 700; font-size: 18px; padding: 2px 12px; border-radius: 6px; color: #fff; text-transform: uppercase; letter-spacing: .03em; }
.verdict.ready .badge { background: var(--good); } .verdict.ready { border-color: var(--good); }
.verdict.ready-with-changes .badge { background: var(--warn); } .verdict.ready-with-changes { border-color: var(--warn); }
.verdict.not-ready .badge { background: var(--bad); } .verdict.not-ready { border-color: var(--bad); }
.verdict .headline { font-size: 17px; margin: 10px 0 6px; }
.verdict ul { margin: 4px 0 0 18px; padding: 0; color: var(--muted); }
.warning { background: #fff6e0; border-left: 4px solid var(--warn); padding: 8px 12px; margin: 8px 0; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-size: 13.5px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #f4f6fa; font-weight: 600; }
td.good { color: var(--good); font-weight: 600; } td.warn { color: var(--warn); font-weight: 600; } td.bad { color: var(--bad); font-weight: 600; }
figure { margin: 10px 0 18px; } figcaption { color: var(--muted); font-size: 13px; }
svg { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
pre { background: #f4f6fa; padding: 8px; overflow-x: auto; }
p { margin: 6px 0; }
@media print { body { max-width: none; padding: 0; } .verdict, table, figure { break-inside: avoid; } }
"#;

/// Renders the document model as HTML, plots by index into `plots`.
pub fn render_blocks(blocks: &[Block], plots: &[super::plots::Plot]) -> String {
    let mut h = String::new();
    for block in blocks {
        match block {
            Block::Heading(level, text) => {
                let _ = writeln!(h, "<h{level}>{}</h{level}>", escape(text));
            }
            Block::Para(text) => {
                let _ = writeln!(h, "<p>{}</p>", escape(text));
            }
            Block::Warning(text) => {
                let _ = writeln!(h, "<div class=\"warning\">{}</div>", escape(text));
            }
            Block::Verdict {
                readiness,
                headline,
                reasons,
            } => {
                let class = readiness.replace(' ', "-");
                let _ = writeln!(
                    h,
                    "<section class=\"verdict {}\"><span class=\"badge\">{}</span><p class=\"headline\">{}</p><ul>",
                    escape(&class),
                    escape(readiness),
                    escape(headline)
                );
                for r in reasons {
                    let _ = writeln!(h, "<li>{}</li>", escape(r));
                }
                h.push_str("</ul></section>\n");
            }
            Block::List(items) => {
                h.push_str("<ul>\n");
                for i in items {
                    let _ = writeln!(h, "<li>{}</li>", escape(i));
                }
                h.push_str("</ul>\n");
            }
            Block::Table { head, rows } => {
                h.push_str("<table><thead><tr>");
                for c in head {
                    let _ = write!(h, "<th>{}</th>", escape(c));
                }
                h.push_str("</tr></thead><tbody>\n");
                for row in rows {
                    h.push_str("<tr>");
                    for cell in row {
                        match cell.class {
                            Some(c) => {
                                let _ = write!(h, "<td class=\"{c}\">{}</td>", escape(&cell.text));
                            }
                            None => {
                                let _ = write!(h, "<td>{}</td>", escape(&cell.text));
                            }
                        }
                    }
                    h.push_str("</tr>\n");
                }
                h.push_str("</tbody></table>\n");
            }
            Block::Plot(i) => {
                if let Some(p) = plots.get(*i) {
                    // The SVG is generated by plotters from our own numbers and labels.
                    let _ = writeln!(
                        h,
                        "<figure id=\"plot-{}\">{}<figcaption>{}</figcaption></figure>",
                        escape(&p.name),
                        strip_xml_declaration(&p.svg),
                        escape(&p.title)
                    );
                }
            }
            Block::Code(text) => {
                let _ = writeln!(h, "<pre>{}</pre>", escape(text));
            }
        }
    }
    h
}

fn strip_xml_declaration(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

impl Exporter for Html {
    fn format(&self) -> Format {
        Format::Html
    }

    fn render(&self, p: &Page) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(Some(page(&p.title, &p.blocks, &p.plots).into_bytes()))
    }
}

/// A self-contained HTML page: inline CSS, the blocks, inline SVG plots, no scripts.
pub fn page(title: &str, blocks: &[Block], plots: &[super::plots::Plot]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        escape(title)
    );
    h.push_str(&render_blocks(blocks, plots));
    h.push_str("</body>\n</html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }
}
