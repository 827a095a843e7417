//! OSU Micro-Benchmarks' `osu_allreduce` (and `osu_xccl_allreduce`): the latency table, with
//! the optional min/max/iterations (`-f`) and validation (`-c`) columns. OSU does not print the
//! rank count: it comes from a launch line shown in the log (`mpirun -np 32 …`, `srun -n 64 …`),
//! `--ranks` overriding it; sizes are bytes; the latency is the average over
//! ranks of each rank's mean, which is what OSU reports.

use super::{Hints, Parsed, Row, SourceCheck, dtype_of, is_library_noise, strip_launcher_prefix};
use crate::bench::DType;

/// Reads the log.
pub fn parse(name: &str, text: &str, hints: &Hints) -> Parsed {
    let mut out = Parsed::default();
    let mut in_allreduce = None::<bool>;
    let mut dtype = DType::F32;
    let mut columns: Vec<String> = Vec::new();
    // The rank count from a launch line shown in the log (`mpirun -np 32 ./osu_allreduce`);
    // `--ranks` overrides it.
    let mut launched = None::<u64>;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = strip_launcher_prefix(raw.trim_end()).trim();
        if line.is_empty() {
            continue;
        }
        if is_library_noise(line) {
            out.noise += 1;
            continue;
        }
        if let Some(body) = line.strip_prefix('#') {
            let body = body.trim();
            if body.starts_with("OSU") {
                in_allreduce = Some(body.contains("Allreduce"));
                if in_allreduce == Some(false) {
                    out.other_collectives.push(format!(
                        "{name}:{line_no}: {body} (hpcready imports all-reduce)"
                    ));
                }
            } else if let Some(t) = body.strip_prefix("Datatype:") {
                dtype = dtype_of(t.trim().trim_end_matches('.')).unwrap_or(DType::F32);
            } else if body.starts_with("Size") {
                // "Size       Avg Latency(us)   Min Latency(us) …": split on runs of 2+ spaces.
                columns = body
                    .split("  ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| c.to_ascii_lowercase())
                    .collect();
            }
            continue;
        }
        if let Some(n) = super::launch_ranks(line) {
            launched = Some(n);
            continue;
        }
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let Some(bytes) = tokens.first().and_then(|t| t.parse::<u64>().ok()) else {
            out.unread.push((
                line_no,
                "not part of the latency table".into(),
                line.to_string(),
            ));
            continue;
        };
        if in_allreduce == Some(false) {
            continue;
        }
        if columns.is_empty() {
            out.unread.push((
                line_no,
                "a row before the `# Size  Avg Latency(us)` header".into(),
                line.to_string(),
            ));
            continue;
        }
        let col = |prefix: &str| columns.iter().position(|c| c.starts_with(prefix));
        let Some(time_us) = col("avg latency")
            .and_then(|c| tokens.get(c))
            .and_then(|t| t.parse::<f64>().ok())
        else {
            out.unread.push((
                line_no,
                "no average latency in this row".into(),
                line.to_string(),
            ));
            continue;
        };
        let Some(ranks) = hints.ranks.or(launched) else {
            out.unread.push((
                line_no,
                "OSU does not print the rank count and the log shows no launch line \
                 (`mpirun -np N`, `srun -n N`): pass --ranks N"
                    .into(),
                line.to_string(),
            ));
            continue;
        };
        let check =
            col("validation")
                .and_then(|c| tokens.get(c))
                .map_or(SourceCheck::NotChecked, |v| {
                    SourceCheck::Wrong(if v.eq_ignore_ascii_case("pass") {
                        0.0
                    } else {
                        1.0
                    })
                });
        let algbw = bytes as f64 / (time_us * 1e-6) / 1e9;
        out.rows.push(Row {
            bytes,
            dtype,
            inplace: false,
            time_us,
            algbw,
            busbw: algbw * crate::bench::allreduce_bus_bytes(1, ranks),
            check,
            ranks,
            hosts: Vec::new(),
            devices: Vec::new(),
            origin: format!("{name}:{line_no}"),
        });
    }
    if in_allreduce.is_none() && !out.rows.is_empty() {
        out.notes.push(format!(
            "{name}: no `# OSU … Allreduce` title line; the table is read as osu_allreduce"
        ));
    }
    out
}
