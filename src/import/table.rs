//! rccl-tests' machine-readable output (`-Z csv` / `-Z json`), read by column names rather than
//! positions: `size`/`bytes`, `type`, `time`, `algbw`, `busbw`, `#wrong`/`wrong`/`errors`, an
//! in-place flag (`inplace`, `in_place`, `placement` = in-place/out-of-place) or columns
//! prefixed `oop_`/`ip_` (`out_of_place_`/`in_place_`), and a collective name where present.
//! Keys are compared lower-case with everything but letters and digits removed.

use super::{Hints, Parsed, Row, SourceCheck, dtype_of};

/// `Size (B)` → `sizeb`, `#wrong` → `wrong`, `out_of_place.busbw` → `outofplacebusbw`.
fn key(k: &str) -> String {
    k.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .flat_map(|c| c.to_lowercase())
        .collect()
}

/// Whether the text is a CSV table (a header line with commas naming busbw).
pub fn looks_like_csv(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l.contains(',') && key(l).contains("busbw"))
}

/// The fields of one record, by normalised key.
struct Record<'a> {
    fields: Vec<(String, &'a str)>,
}

impl Record<'_> {
    fn get(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| {
            self.fields
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.trim())
        })
    }

    fn num(&self, names: &[&str]) -> Option<f64> {
        self.get(names)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|x| x.is_finite())
    }
}

const SIZE: &[&str] = &["size", "sizeb", "sizebytes", "bytes", "messagesize"];
const TYPE: &[&str] = &["type", "datatype", "dtype"];
const COLL: &[&str] = &["collective", "coll", "name", "test", "op", "operation"];
const RANKS: &[&str] = &["ranks", "nranks", "nprocs", "worldsize"];
const PLACE: &[&str] = &["inplace", "placement", "mode"];

/// Rows from one record; `prefix` selects the out-of-place or in-place block of a wide record.
fn rows_of(rec: &Record, origin: &str, hints: &Hints) -> Result<Vec<Row>, String> {
    if let Some(c) = rec.get(COLL) {
        let c = key(c);
        if !(c.contains("allreduce") || c == "sum") {
            return Err(format!("collective `{c}` (hpcready imports all-reduce)"));
        }
    }
    let bytes = rec
        .num(SIZE)
        .map(|b| b as u64)
        .ok_or("no size column (size, bytes)")?;
    let dtype = match rec.get(TYPE) {
        Some(t) => dtype_of(t).ok_or(format!("type `{t}` is not one hpcready compares"))?,
        None => crate::bench::DType::F32,
    };
    let ranks = hints
        .ranks
        .or_else(|| rec.num(RANKS).map(|r| r as u64))
        .unwrap_or(1);
    let block = |p: &str| -> Option<Row> {
        let k = |n: &str| format!("{p}{n}");
        let time_us = rec.num(&[&k("time"), &k("timeus")])?;
        let algbw = rec.num(&[&k("algbw"), &k("algbwgbs")])?;
        let busbw = rec.num(&[&k("busbw"), &k("busbwgbs")])?;
        let check = rec
            .num(&[&k("wrong"), &k("nwrong"), &k("errors"), &k("error")])
            .map_or(SourceCheck::NotChecked, SourceCheck::Wrong);
        Some(Row {
            bytes,
            dtype,
            inplace: false,
            time_us,
            algbw,
            busbw,
            check,
            ranks,
            hosts: Vec::new(),
            devices: Vec::new(),
            origin: origin.to_string(),
        })
    };
    let mut rows = Vec::new();
    for (p, inplace) in [
        ("oop", false),
        ("outofplace", false),
        ("ip", true),
        ("inplace", true),
    ] {
        if let Some(mut r) = block(p) {
            r.inplace = inplace;
            rows.push(r);
        }
    }
    if rows.is_empty() {
        let mut r = block("").ok_or("no time, algbw and busbw columns")?;
        r.inplace = rec.get(PLACE).is_some_and(|v| {
            let v = key(v);
            v == "1" || v == "true" || v == "inplace" || v == "ip"
        });
        rows.push(r);
    }
    Ok(rows)
}

/// The CSV form.
pub fn parse_csv(name: &str, text: &str, hints: &Hints) -> Parsed {
    let mut out = Parsed::default();
    let mut header: Option<Vec<String>> = None;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if super::is_library_noise(t) {
            out.noise += 1;
            continue;
        }
        let Some(cells) = csv_cells(t) else {
            out.unread
                .push((line_no, "not a CSV record".into(), t.to_string()));
            continue;
        };
        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
        let Some(h) = &header else {
            header = Some(cells.iter().map(|c| key(c)).collect());
            continue;
        };
        if cells.len() != h.len() {
            out.unread.push((
                line_no,
                format!("{} values where the header has {}", cells.len(), h.len()),
                t.to_string(),
            ));
            continue;
        }
        let rec = Record {
            fields: h.iter().cloned().zip(cells).collect(),
        };
        match rows_of(&rec, &format!("{name}:{line_no}"), hints) {
            Ok(rows) => out.rows.extend(rows),
            Err(why) if why.starts_with("collective") => out
                .other_collectives
                .push(format!("{name}:{line_no}: {why}")),
            Err(why) => out.unread.push((line_no, why, t.to_string())),
        }
    }
    out
}

/// The cells of one CSV line, quotes removed (rccl-tests' `-Z csv` quotes its strings:
/// `"AllReduce","float","sum"`, and `"0"` for #wrong).
fn csv_cells(line: &str) -> Option<Vec<String>> {
    let mut r = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(line.as_bytes());
    let rec = r.records().next()?.ok()?;
    Some(rec.iter().map(|c| c.trim().to_string()).collect())
}

/// JSON records: a list of flat objects (or `{"results": [...]}` without nccl-tests' nesting).
pub fn parse_records(
    name: &str,
    doc: &serde_json::Value,
    hints: &Hints,
    out: &mut Parsed,
) -> Vec<Row> {
    let list: Vec<&serde_json::Value> = match doc {
        serde_json::Value::Array(a) => a.iter().collect(),
        serde_json::Value::Object(_) => vec![doc],
        _ => Vec::new(),
    };
    let mut rows = Vec::new();
    for (j, item) in list.iter().enumerate() {
        let Some(obj) = item.as_object() else {
            out.unread.push((
                0,
                format!("{name}: record {j} is not an object"),
                item.to_string(),
            ));
            continue;
        };
        // Flatten one level: {"in_place": {"busbw": 1}} → inplacebusbw.
        let mut texts: Vec<(String, String)> = Vec::new();
        for (k, v) in obj {
            match v {
                serde_json::Value::Object(inner) => {
                    for (k2, v2) in inner {
                        texts.push((key(&format!("{k}{k2}")), scalar(v2)));
                    }
                }
                v => texts.push((key(k), scalar(v))),
            }
        }
        let rec = Record {
            fields: texts.iter().map(|(k, v)| (k.clone(), v.as_str())).collect(),
        };
        match rows_of(&rec, &format!("{name}: record {j}"), hints) {
            Ok(r) => rows.extend(r),
            Err(why) if why.starts_with("collective") => out
                .other_collectives
                .push(format!("{name}: record {j}: {why}")),
            Err(why) => out
                .unread
                .push((0, format!("record {j}: {why}"), item.to_string())),
        }
    }
    rows
}

fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}
