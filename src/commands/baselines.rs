//! `hpcready baselines list | show`.

use super::{emit, text_table};
use crate::bench::num;
use crate::cli::{BaselinesArgs, BaselinesCommand};
use crate::profiles::{self, Profile};

fn flag(uncertain: bool) -> &'static str {
    if uncertain { " ⚠ uncertain" } else { "" }
}

/// A profile as text, every figure with its source.
pub fn describe(p: &Profile) -> String {
    let mut s = format!("{} ({})\nkind: {:?}\n{}\n", p.name, p.id, p.kind, p.summary);
    if let Some(a) = &p.accelerator {
        s.push_str(&format!(
            "\naccelerators: {} × {}{}{} [{}]\n",
            a.count,
            a.model,
            if a.devices_per_accelerator > 1 {
                format!(" ({} devices each)", a.devices_per_accelerator)
            } else {
                String::new()
            },
            flag(a.uncertain),
            a.source
        ));
        if let Some(f) = &a.memory_gb {
            s.push_str(&format!(
                "  memory: {} GB per accelerator [{}]{}\n",
                num(f.value),
                f.source,
                flag(f.uncertain)
            ));
        }
        if let Some(f) = &a.memory_bw_gbs {
            s.push_str(&format!(
                "  memory bandwidth: {} GB/s [{}]{}\n",
                num(f.value),
                f.source,
                flag(f.uncertain)
            ));
        }
        if a.peaks.is_empty() {
            s.push_str("  peaks: none published for this part\n");
        }
        for pk in &a.peaks {
            s.push_str(&format!(
                "  peak {}: {} TFLOP/s dense per accelerator [{}]{}{}\n",
                pk.dtype,
                num(pk.value),
                pk.source,
                flag(pk.uncertain),
                pk.note
                    .as_ref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            ));
        }
    }
    if let Some(c) = &p.cpu {
        s.push_str(&format!(
            "\nhost: {} [{}]{}\n",
            c.description,
            c.source,
            flag(c.uncertain)
        ));
    }
    for l in &p.links {
        s.push_str(&format!(
            "link ({}): {} — {} {} {} per {} [{}]{}\n",
            l.scope,
            l.technology,
            num(l.value),
            l.unit,
            l.direction,
            l.per,
            l.source,
            flag(l.uncertain)
        ));
    }
    if let Some(pr) = &p.price {
        let mut v = Vec::new();
        if let Some(h) = pr.usd_per_hour {
            v.push(format!("{h} USD/h per node"));
        }
        if let Some(h) = pr.usd_per_accelerator_hour {
            v.push(format!("{h} USD/h per accelerator"));
        }
        s.push_str(&format!(
            "\nprice: {} ({}, {}{}) [{}]{}\n",
            v.join(", "),
            pr.kind,
            pr.region
                .as_deref()
                .map(|r| format!("{r}, "))
                .unwrap_or_default(),
            pr.date,
            pr.source,
            flag(pr.uncertain)
        ));
    }
    if !p.references.is_empty() {
        s.push_str("\npublished results:\n");
    }
    for r in &p.references {
        s.push_str(&format!(
            "  {} {} {}: {} {} per {} — {} [{}]{}\n",
            r.bench,
            r.dtype,
            r.params,
            num(r.value),
            r.unit,
            r.per,
            r.method,
            r.source,
            flag(r.uncertain)
        ));
    }
    for n in &p.notes {
        s.push_str(&format!("\nnote: {n}\n"));
    }
    s.push_str("\nsources:\n");
    for (k, v) in &p.sources {
        s.push_str(&format!("  [{k}] {v}\n"));
    }
    s
}

/// `hpcready baselines`.
pub fn baselines(args: &BaselinesArgs) -> anyhow::Result<()> {
    match &args.command {
        BaselinesCommand::List { json } => {
            let all = profiles::embedded();
            if *json {
                emit(&(serde_json::to_string_pretty(&all)? + "\n"));
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|p| {
                        vec![
                            p.id.clone(),
                            format!("{:?}", p.kind).to_lowercase(),
                            p.summary.clone(),
                        ]
                    })
                    .collect();
                emit(&text_table(&["id", "kind", "summary"], &rows));
            }
        }
        BaselinesCommand::Show { id, json } => {
            let p = profiles::lookup(id)?;
            if *json {
                emit(&(serde_json::to_string_pretty(&p)? + "\n"));
            } else {
                emit(&describe(&p));
            }
        }
    }
    Ok(())
}
