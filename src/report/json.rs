//! `results.json`: the run itself, readable again by `hpcready report`.

use super::{Exporter, ReportContext};

/// Writes `results.json`.
#[derive(Debug, Clone, Copy)]
pub struct Json;

impl Exporter for Json {
    fn file_name(&self) -> &'static str {
        "results.json"
    }

    fn render(&self, ctx: &ReportContext) -> anyhow::Result<Vec<u8>> {
        Ok(serde_json::to_vec_pretty(ctx.results)?)
    }
}
