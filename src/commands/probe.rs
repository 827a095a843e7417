//! `hpcready probe`: the node inventory.

use super::{emit, text_table};
use crate::cli::ProbeArgs;
use crate::node::{Inventory, human_bytes};

/// The inventory as text.
pub fn describe(n: &Inventory) -> String {
    let caches = n.caches_summary();
    let rows = vec![
        vec!["host".into(), n.host.clone()],
        vec!["os".into(), n.os.clone()],
        vec!["kernel".into(), n.kernel.clone()],
        vec!["cpu".into(), n.cpu.model.clone()],
        vec!["vendor".into(), n.cpu.vendor.clone()],
        vec!["architecture".into(), n.arch.clone()],
        vec![
            "cores".into(),
            n.cpu
                .physical_cores
                .map_or("unknown".into(), |c| c.to_string()),
        ],
        vec![
            "threads".into(),
            format!(
                "{} logical, {} usable by this process",
                n.cpu.logical_threads, n.cpu.usable_threads
            ),
        ],
        vec![
            "simd".into(),
            if n.cpu.simd.is_empty() {
                "none detected".into()
            } else {
                n.cpu.simd.join(" ")
            },
        ],
        vec!["caches".into(), caches],
        vec![
            "reported clock".into(),
            n.cpu.reported_mhz.map_or("unknown".into(), |m| {
                format!("{m} MHz (as the OS reports it)")
            }),
        ],
        vec![
            "memory".into(),
            format!(
                "{} total, {} available",
                human_bytes(n.memory.total_bytes),
                human_bytes(n.memory.available_bytes)
            ),
        ],
    ];
    let mut s = text_table(&["item", "value"], &rows);
    s.push_str("\naccelerators:\n");
    if n.accelerators.devices.is_empty() {
        s.push_str(&format!("  (none) — {}\n", n.accelerators.note));
    }
    for d in &n.accelerators.devices {
        s.push_str(&format!("  {} ({}, {})\n", d.name, d.vendor, d.api));
    }
    s
}

/// `hpcready probe`.
pub fn probe(args: &ProbeArgs) -> anyhow::Result<()> {
    let inv = Inventory::probe();
    if args.json {
        emit(&(serde_json::to_string_pretty(&inv)? + "\n"));
    } else {
        emit(&describe(&inv));
    }
    Ok(())
}
