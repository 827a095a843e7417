//! `results.csv`: one row per measurement.
//!
//! Header, exactly: `bench,backend,device,dtype,shape,median_s,min_s,cv,throughput,unit,verified`.
//! `shape` is space-separated `key=value` pairs; throughput is in the unit named. An invalid
//! measurement keeps its row with empty figures and `verified=false`; an imported figure whose
//! tool ran without its data check has `verified=not-checked`.

use super::{Exporter, Format, Page};
use crate::results::Results;

/// Writes `results.csv`.
#[derive(Debug, Clone, Copy)]
pub struct Csv;

/// The CSV header.
pub const HEADER: [&str; 11] = [
    "bench",
    "backend",
    "device",
    "dtype",
    "shape",
    "median_s",
    "min_s",
    "cv",
    "throughput",
    "unit",
    "verified",
];

/// The CSV text of a run.
pub fn to_csv(results: &Results) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(HEADER)?;
    for m in &results.measurements {
        let stat = |f: fn(&crate::stats::Stats) -> f64| {
            m.stats
                .as_ref()
                .filter(|_| m.is_valid())
                .map(|s| format!("{:e}", f(s)))
                .unwrap_or_default()
        };
        let throughput = m.value().map(|v| format!("{v}")).unwrap_or_default();
        let unit = crate::bench::Unit::for_bench(m.bench).symbol();
        w.write_record([
            m.bench.name(),
            &super::csv_text(&m.backend),
            &super::csv_text(&m.device),
            m.dtype.name(),
            &m.shape.display(),
            &stat(|s| s.median),
            &stat(|s| s.min),
            &stat(|s| s.cv),
            &throughput,
            unit,
            match (m.is_valid(), m.is_verified()) {
                (true, true) => "true",
                (true, false) => "not-checked",
                _ => "false",
            },
        ])?;
    }
    w.into_inner()
        .map_err(|e| anyhow::anyhow!("writing CSV: {e}"))
}

impl Exporter for Csv {
    fn format(&self) -> Format {
        Format::Csv
    }

    fn render(&self, page: &Page) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(Some(page.table.clone()))
    }
}
