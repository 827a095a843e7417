//! The document model every report is made of: blocks and table cells, format-neutral, which
//! the HTML and Markdown exporters render.

/// A table cell: text, and whether it is a status to highlight.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The text.
    pub text: String,
    /// A CSS class for HTML (`good`, `warn`, `bad`), if any.
    pub class: Option<&'static str>,
}

impl Cell {
    /// A cell with no highlight.
    pub fn plain(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            class: None,
        }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Self { text, class: None }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Self {
            text: text.into(),
            class: None,
        }
    }
}

/// A piece of the report.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A heading at level 1–3.
    Heading(u8, String),
    /// A paragraph.
    Para(String),
    /// A highlighted warning.
    Warning(String),
    /// The verdict box: readiness, headline, reasons.
    Verdict {
        /// `ready`, `ready with changes`, `not ready`.
        readiness: String,
        /// The answer in two sentences.
        headline: String,
        /// Why.
        reasons: Vec<String>,
    },
    /// A bulleted list.
    List(Vec<String>),
    /// A table.
    Table {
        /// Column headers.
        head: Vec<String>,
        /// Rows of cells.
        rows: Vec<Vec<Cell>>,
    },
    /// A plot, by index into the context's plots.
    Plot(usize),
    /// Preformatted text.
    Code(String),
}
