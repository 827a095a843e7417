//! `results.json`: the run itself, readable again by `hpcready report`.

use super::{Exporter, Format, Page};

/// Writes `results.json`.
#[derive(Debug, Clone, Copy)]
pub struct Json;

impl Exporter for Json {
    fn format(&self) -> Format {
        Format::Json
    }

    fn render(&self, page: &Page) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(page.data.clone())
    }
}
