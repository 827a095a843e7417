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
    s.push_str("\naccelerators (wgpu adapters):\n");
    if n.accelerators.devices.is_empty() {
        s.push_str(&format!("  (none) — {}\n", n.accelerators.note));
    }
    for d in &n.accelerators.devices {
        let index = d.index.map_or("  -".to_string(), |i| format!("{i:>3}"));
        s.push_str(&format!(
            "{index}  {} — {}, {}, {} via {} ({}){}\n",
            d.name,
            d.vendor,
            d.device_type,
            d.backend,
            d.driver,
            d.driver_info,
            if d.is_cpu() {
                " [software adapter: used only when named with --device]"
            } else {
                ""
            }
        ));
        s.push_str(&format!(
            "       features: {}; subgroup {}–{}; max binding {}, workgroup memory {}, {} invocations, {} groups/dim\n",
            if d.features.is_empty() { "none of note".into() } else { d.features.join(" ") },
            d.subgroup_sizes[0],
            d.subgroup_sizes[1],
            human_bytes(d.limits.max_storage_buffer_binding_size),
            human_bytes(d.limits.max_compute_workgroup_storage_size as u64),
            d.limits.max_compute_invocations_per_workgroup,
            d.limits.max_compute_workgroups_per_dimension
        ));
        if !d.cooperative_matrix.is_empty() {
            s.push_str(&format!(
                "       cooperative matrix: {}\n",
                d.cooperative_matrix.join(", ")
            ));
        }
    }
    if n.accelerators.devices.iter().any(|d| d.index.is_none()) {
        s.push_str("  (- : GL adapters are listed but not used for compute)\n");
    }
    s.push_str(&gpus_text(n));
    s.push_str(&torch_text(n));
    if !n.checklist.is_empty() {
        s.push_str("\nporting checklist (read locally; nothing is sent over the network):\n");
        let rows: Vec<Vec<String>> = n
            .checklist
            .iter()
            .map(|c| {
                vec![
                    c.status.name().to_string(),
                    c.item.clone(),
                    format!("{} — {}", c.finding, c.advice),
                ]
            })
            .collect();
        s.push_str(&text_table(&["status", "item", "finding — advice"], &rows));
    }
    s
}

/// Every GPU the system lists, and which path reaches it.
pub fn gpus_text(n: &Inventory) -> String {
    let mut s = String::from("\nGPUs the system lists (nvidia-smi, rocm-smi, amd-smi, /sys):\n");
    if n.gpus.is_empty() {
        s.push_str("  (none)\n");
    }
    for (i, g) in n.gpus.iter().enumerate() {
        let mut facts = vec![g.vendor.to_string()];
        if let Some(m) = g.memory_bytes {
            facts.push(human_bytes(m));
        }
        if let Some(d) = &g.driver {
            facts.push(format!("driver {d}"));
        }
        facts.push(format!("from {}", g.sources.join(", ")));
        s.push_str(&format!(
            "{i:>3}  {} — {}\n",
            g.describe(),
            facts.join(", ")
        ));
        let path = |yes: bool| if yes { "yes" } else { "no " };
        s.push_str(&format!(
            "       Vulkan: {} {}\n       PyTorch: {} {}\n",
            path(g.vulkan.yes),
            g.vulkan.why,
            path(g.torch.yes),
            g.torch.why
        ));
    }
    s
}

/// The user's PyTorch, as found.
pub fn torch_text(n: &Inventory) -> String {
    let Some(t) = &n.torch else {
        return String::new();
    };
    let mut s = format!("\nPyTorch ({}):\n", t.python);
    match &t.found {
        Some(info) => {
            s.push_str(&format!("  {}\n  {}\n", info.libraries(), info.executable));
            if info.devices.is_empty() {
                s.push_str(
                    "  devices: none (torch sees no accelerator); `--backend torch` measures its CPU path\n",
                );
            }
            for d in &info.devices {
                s.push_str(&format!(
                    "  {}:{}  {} ({}, {})\n",
                    if info.accelerator == crate::node::TorchAccelerator::Xpu {
                        "xpu"
                    } else {
                        "cuda"
                    },
                    d.index,
                    d.name,
                    d.arch,
                    human_bytes(d.memory_bytes)
                ));
            }
        }
        None => s.push_str(&format!(
            "  not usable: {}\n",
            t.problem.as_deref().unwrap_or("unknown")
        )),
    }
    s
}

/// `hpcready probe`.
pub fn probe(args: &ProbeArgs) -> anyhow::Result<()> {
    let profile = crate::profiles::lookup(&args.baseline)?;
    let mut inv = Inventory::probe();
    let python = args.python.resolve()?;
    inv.set_torch(crate::backend::torch::probe(
        &python,
        std::time::Duration::from_secs(120),
    ));
    inv.checklist = crate::assess::checklist(&inv, &profile);
    if args.json {
        emit(&(serde_json::to_string_pretty(&inv)? + "\n"))?;
    } else {
        emit(&describe(&inv))?;
    }
    Ok(())
}
