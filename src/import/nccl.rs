//! nccl-tests (and rccl-tests, which prints the same table): the text log and the `-J` JSON.

use super::{
    Hints, Parsed, Row, SourceCheck, Tool, dtype_of, is_library_noise, strip_launcher_prefix,
};

/// The run a table belongs to: what its header lines said.
#[derive(Debug, Default, Clone)]
struct Run {
    collective: Option<String>,
    threads_gpus: Option<u64>,
    ranks: Vec<(u64, String, String)>,
    columns: Vec<String>,
    rows: usize,
}

impl Run {
    fn ranks(&self, hints: &Hints) -> u64 {
        hints.ranks.unwrap_or(if self.ranks.is_empty() {
            self.threads_gpus.unwrap_or(1)
        } else {
            self.ranks.len() as u64
        })
    }

    fn hosts(&self) -> Vec<String> {
        let mut h: Vec<String> = Vec::new();
        for (_, host, _) in &self.ranks {
            if !h.contains(host) {
                h.push(host.clone());
            }
        }
        h
    }

    fn devices(&self) -> Vec<String> {
        let mut d: Vec<String> = Vec::new();
        for (_, _, dev) in &self.ranks {
            if !dev.is_empty() && !d.contains(dev) {
                d.push(dev.clone());
            }
        }
        d
    }

    /// Whether the table is an all-reduce's; `None` when the log does not say.
    fn is_all_reduce(&self) -> Option<bool> {
        self.collective
            .as_deref()
            .map(|c| c.contains("all_reduce") || c.contains("allreduce"))
    }
}

/// `all_reduce_perf` from `./build/all_reduce_perf` or `/path/all_reduce_perf_mpi`.
fn collective_of(program: &str) -> String {
    let base = program.rsplit('/').next().unwrap_or(program);
    base.trim().to_string()
}

/// `#  Rank  0 Group  0 Pid  123 on host-1 device  0 [0x1b] NVIDIA H100 80GB HBM3` (newer) or
/// `#   Rank  0 Pid  123 on host-1 device  0 [0x1b] Tesla V100` (older).
fn rank_line(body: &str) -> Option<(u64, String, String)> {
    let t: Vec<&str> = body.split_whitespace().collect();
    if t.first() != Some(&"Rank") {
        return None;
    }
    let rank = t.get(1)?.parse().ok()?;
    let on = t.iter().position(|w| *w == "on")?;
    let host = t.get(on + 1)?.to_string();
    let device = body
        .find(']')
        .map(|i| body[i + 1..].trim().to_string())
        .unwrap_or_default();
    Some((rank, host, device))
}

fn num(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|x| x.is_finite())
}

/// Reads the text log.
pub fn parse_text(name: &str, text: &str, hints: &Hints) -> Parsed {
    let mut out = Parsed::default();
    let mut run = Run::default();
    let mut skipped_table: Option<(String, usize, usize)> = None;
    let mut guessed = false;
    let flush_skip = |out: &mut Parsed, s: &mut Option<(String, usize, usize)>| {
        if let Some((c, a, b)) = s.take() {
            out.other_collectives
                .push(format!("{name}:{a}–{b}: {c} (hpcready imports all-reduce)"));
        }
    };
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = strip_launcher_prefix(raw.trim_end());
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if is_library_noise(line) {
            out.noise += 1;
            continue;
        }
        if let Some(body) = trimmed.strip_prefix('#') {
            let body = body.trim();
            let new_run = body.starts_with("nccl-tests version")
                || body.starts_with("rccl-tests version")
                || body.starts_with("Collective test starting")
                || body.starts_with("nThread");
            if new_run && (run.rows > 0 || !run.columns.is_empty()) {
                flush_skip(&mut out, &mut skipped_table);
                run = Run::default();
            }
            if let Some(c) = body.strip_prefix("Collective test starting:") {
                run.collective = Some(collective_of(c));
            } else if let Some(rest) = body.strip_prefix("nThread") {
                let t: Vec<&str> = rest.split_whitespace().collect();
                let threads = t.first().and_then(|x| x.parse::<u64>().ok());
                let gpus = t
                    .iter()
                    .position(|w| *w == "nGpus")
                    .and_then(|p| t.get(p + 1))
                    .and_then(|x| x.parse::<u64>().ok());
                if let (Some(a), Some(b)) = (threads, gpus) {
                    run.threads_gpus = Some(a * b);
                }
            } else if let Some(r) = rank_line(body) {
                run.ranks.push(r);
            } else if body.split_whitespace().next() == Some("size") && body.contains("busbw") {
                run.columns = body.split_whitespace().map(str::to_string).collect();
            }
            continue;
        }
        // A command line echoed into the log names the collective.
        if let Some(pos) = trimmed.find("_perf") {
            let start = trimmed[..pos].rfind([' ', '/']).map_or(0, |p| p + 1);
            let program = &trimmed[start..pos + 5];
            if program
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !program.is_empty()
            {
                if run.rows > 0 || !run.columns.is_empty() {
                    flush_skip(&mut out, &mut skipped_table);
                    run = Run::default();
                }
                run.collective = Some(program.to_string());
                continue;
            }
        }
        let tokens: Vec<&str> = trimmed.split_whitespace().collect();
        let is_row = tokens.first().is_some_and(|t| t.parse::<u64>().is_ok());
        if !is_row {
            out.unread.push((
                line_no,
                "not part of a results table".into(),
                trimmed.to_string(),
            ));
            continue;
        }
        if run.columns.is_empty() {
            out.unread.push((
                line_no,
                "a results row before any column header (`# size count type …`)".into(),
                trimmed.to_string(),
            ));
            continue;
        }
        run.rows += 1;
        match run.is_all_reduce() {
            Some(false) => {
                let c = run.collective.clone().unwrap_or_default();
                match &mut skipped_table {
                    Some((sc, _, b)) if *sc == c => *b = line_no,
                    _ => {
                        flush_skip(&mut out, &mut skipped_table);
                        skipped_table = Some((c, line_no, line_no));
                    }
                }
                continue;
            }
            None if !guessed => {
                guessed = true;
                out.notes.push(format!(
                    "{name}: the log does not name its collective (no `Collective test \
                     starting` line or command); its tables are read as all-reduce"
                ));
            }
            _ => {}
        }
        match row_of(&run, &tokens, hints) {
            Ok(rows) => {
                for mut r in rows {
                    r.origin = format!("{name}:{line_no}");
                    out.rows.push(r);
                }
            }
            Err(why) => out.unread.push((line_no, why, trimmed.to_string())),
        }
    }
    flush_skip(&mut out, &mut skipped_table);
    out
}

/// The out-of-place and in-place results of one table line.
fn row_of(run: &Run, tokens: &[&str], hints: &Hints) -> Result<Vec<Row>, String> {
    let cols = &run.columns;
    let first_time = cols
        .iter()
        .position(|c| c == "time" || c == "cputime")
        .ok_or("the header has no time column")?;
    let lead = &cols[..first_time];
    let group: Vec<&String> = {
        let second = cols[first_time + 1..]
            .iter()
            .position(|c| c == "time" || c == "cputime")
            .map(|p| p + first_time + 1);
        cols[first_time..second.unwrap_or(cols.len())]
            .iter()
            .collect()
    };
    // nccl-tests leaves the out-of-place block blank for some runs: count what is there.
    let width = group.len();
    let groups = (tokens.len().saturating_sub(lead.len())) / width.max(1);
    if tokens.len() < lead.len() + width || groups == 0 {
        return Err(format!(
            "{} values where the header has {} columns",
            tokens.len(),
            cols.len()
        ));
    }
    let at = |name: &str| lead.iter().position(|c| c == name).map(|i| tokens[i]);
    let bytes: u64 = at("size")
        .and_then(|s| s.parse().ok())
        .ok_or("the size is not a whole number")?;
    let dtype = match at("type") {
        Some(t) => dtype_of(t).ok_or(format!("type `{t}` is not one hpcready compares"))?,
        None => crate::bench::DType::F32,
    };
    let mut rows = Vec::new();
    for g in 0..groups.min(2) {
        let base = lead.len() + g * width;
        let field = |name: &str| {
            group
                .iter()
                .position(|c| c.as_str() == name)
                .map(|i| tokens[base + i])
        };
        let time_us = field("time")
            .or_else(|| field("cputime"))
            .and_then(num)
            .ok_or("the time is not a number")?;
        let algbw = field("algbw")
            .and_then(num)
            .ok_or("algbw is not a number")?;
        let busbw = field("busbw")
            .and_then(num)
            .ok_or("busbw is not a number")?;
        // `#wrong` counts elements (N/A without a check); the old `error` column (before
        // nccl-tests 2.10) is the largest absolute deviation, within the type's bound when correct.
        let check = match (field("#wrong"), field("error")) {
            (Some("N/A"), _) | (None, Some("N/A")) | (None, None) => SourceCheck::NotChecked,
            (Some(v), _) => {
                SourceCheck::Wrong(num(v).ok_or(format!("`{v}` is not a wrong-element count"))?)
            }
            (None, Some(v)) => SourceCheck::MaxDeviation {
                value: num(v).ok_or(format!("`{v}` is not a deviation"))?,
                tolerance: SourceCheck::deviation_tolerance(dtype),
            },
        };
        rows.push(Row {
            bytes,
            dtype,
            inplace: if groups == 1 { true } else { g == 1 },
            time_us,
            algbw,
            busbw,
            check,
            ranks: run.ranks(hints),
            hosts: run.hosts(),
            devices: run.devices(),
            origin: String::new(),
        });
    }
    Ok(rows)
}

/// nccl-tests' `-J` JSON: `config` (with `devices`), `results` with `out_of_place`/`in_place`
/// objects, the command in `args`.
pub fn parse_json(tool: Tool, name: &str, text: &str, hints: &Hints) -> Parsed {
    let mut out = Parsed::default();
    let doc: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            out.unread.push((
                e.line(),
                format!("not valid JSON ({e}); a run cut short leaves the file unclosed"),
                text.lines()
                    .nth(e.line().saturating_sub(1))
                    .unwrap_or("")
                    .to_string(),
            ));
            return out;
        }
    };
    let docs: Vec<&serde_json::Value> = match &doc {
        serde_json::Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    for (k, d) in docs.iter().enumerate() {
        let Some(results) = d.get("results").and_then(|r| r.as_array()) else {
            if tool == Tool::RcclTests {
                let rows = super::table::parse_records(name, d, hints, &mut out);
                out.rows.extend(rows);
            } else {
                out.unread.push((
                    1,
                    format!("document {k} has no `results` list"),
                    String::new(),
                ));
            }
            continue;
        };
        let program = d
            .get("args")
            .and_then(|a| a.get(0))
            .and_then(|a| a.as_str())
            .map(collective_of);
        let devices: Vec<(u64, String, String)> = d
            .pointer("/config/devices")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .map(|x| {
                        (
                            x.get("rank").and_then(|v| v.as_u64()).unwrap_or(0),
                            x.get("hostname")
                                .and_then(|v| v.as_str())
                                .unwrap_or("")
                                .to_string(),
                            x.get("device_info")
                                .and_then(|v| v.as_str())
                                .unwrap_or("")
                                .to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let tg = d
            .pointer("/config/nthreads")
            .and_then(|v| v.as_u64())
            .zip(d.pointer("/config/ngpus").and_then(|v| v.as_u64()))
            .map(|(a, b)| a * b);
        let run = Run {
            collective: program.clone(),
            threads_gpus: tg,
            ranks: devices,
            ..Run::default()
        };
        if run.is_all_reduce() == Some(false) {
            out.other_collectives.push(format!(
                "{name}: document {k}: {} (hpcready imports all-reduce)",
                program.unwrap_or_default()
            ));
            continue;
        }
        if program.is_none() {
            out.notes.push(format!(
                "{name}: `args` does not name the program; read as all-reduce"
            ));
        }
        for (j, r) in results.iter().enumerate() {
            let origin = format!("{name}: results[{j}]");
            let bytes = r.get("size").and_then(|v| v.as_u64());
            let dtype = r.get("type").and_then(|v| v.as_str()).and_then(dtype_of);
            let (Some(bytes), Some(dtype)) = (bytes, dtype) else {
                out.unread.push((
                    0,
                    format!("{origin}: no size or an unknown type"),
                    r.to_string(),
                ));
                continue;
            };
            for (key, inplace) in [("out_of_place", false), ("in_place", true)] {
                let Some(p) = r.get(key).filter(|p| !p.is_null()) else {
                    continue;
                };
                let f = |k: &str| p.get(k).and_then(|v| v.as_f64());
                let (Some(time_us), Some(algbw), Some(busbw)) = (
                    f("time").or_else(|| f("cpu_time")),
                    f("alg_bw"),
                    f("bus_bw"),
                ) else {
                    out.unread.push((
                        0,
                        format!("{origin}.{key}: time, alg_bw or bus_bw missing"),
                        p.to_string(),
                    ));
                    continue;
                };
                out.rows.push(Row {
                    bytes,
                    dtype,
                    inplace,
                    time_us,
                    algbw,
                    busbw,
                    check: f("nwrong").map_or(SourceCheck::NotChecked, SourceCheck::Wrong),
                    ranks: run.ranks(hints),
                    hosts: run.hosts(),
                    devices: run.devices(),
                    origin: format!("{origin}.{key}"),
                });
            }
        }
    }
    out
}
