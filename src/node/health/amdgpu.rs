//! AMD GPU memory health from the amdgpu driver's own files, where `amd-smi` is not on PATH (ROCm
//! before 6, or a container without it); amd-smi and rocm-smi read the same files. Per card
//! (`/sys/class/drm/cardN/device`, PCI vendor 0x1002):
//! - `ras/<block>_err_count`, one per RAS block (umc, gfx, sdma, mmhub, xgmi_wafl, …): lines
//!   `ue: N` and `ce: N`, and on newer kernels `de: N` (deferred) for UMC. The uncorrectable
//!   counts of all blocks are summed, as amd-smi's `total_uncorrectable_count` is. A block the
//!   driver cannot query now answers `Query currently inaccessible`, and is left out.
//! - `ras/gpu_vram_bad_pages`: a line per retired page, `0x… : 0x… : R|P|F` (R reserved, P
//!   pending reservation at the next reset, F could not be reserved).
//!
//! Both formats are the kernel's (`drivers/gpu/drm/amd/amdgpu/amdgpu_ras.c`, its sysfs readers
//! and the DOC comment of `gpu_vram_bad_pages`). A card without a `ras` directory (RAS off or not
//! supported) reports neither, and the items say unknown.
//!
//! The processes on the GPUs come from the compute driver: `/sys/class/kfd/kfd/proc` holds a
//! directory per process that opened a KFD context (named by its pid, readable by every user,
//! which rocm-smi's process list reads too), and `/proc/<pid>/comm` names it. In it, KFD writes
//! a `vram_<gpu_id>` file per GPU the process opened, holding the VRAM it has allocated there in
//! bytes (`kfd_procfs_add_sysfs_files` in `amdkfd/kfd_process.c`); a GPU id is the one in the
//! topology's `nodes/<n>/gpu_id`, whose `properties` give its `drm_render_minor`, the render
//! node listed under the card's `device/drm`. So a finding names the cards where a process holds
//! VRAM, and the process alone where it holds none (or the kernel predates those files).

use super::Check;
use super::Env;
use super::amd::{AmdBadPages, AmdGpu, Unknown, Wording, memory_checks, processes_item};

/// The items' words for the driver's files.
const AMDGPU: Wording = Wording {
    uncorrectable: "ue (ras/*_err_count)",
    deferred: "de (ras/umc_err_count)",
    deferred_advice: "deferred errors are poisoned memory not yet read: watch the node (cat /sys/class/drm/card*/device/ras/umc_err_count) and tell the site",
    unreservable: "F (could not be reserved)",
    ecc_unknown: Unknown {
        silent: "unknown: no AMD GPU in /sys/class/drm",
        na: "unknown: the amdgpu driver reports no RAS counts (no ras/*_err_count: ECC off or not supported); amd-smi is not on PATH",
        fix: "load a ROCm 6 module for amd-smi (amd-smi metric --ecc shows the counts)",
    },
    pages_unknown: Unknown {
        silent: "unknown: no AMD GPU in /sys/class/drm",
        na: "unknown: the amdgpu driver lists no bad pages (no ras/gpu_vram_bad_pages)",
        fix: "load a ROCm 6 module for amd-smi (amd-smi bad-pages --pending lists them)",
    },
};

/// The ECC counts and bad pages of every AMD card the node's sysfs lists (both empty when it
/// lists none).
pub fn read_amdgpu(env: &Env) -> (Vec<AmdGpu>, Vec<AmdBadPages>) {
    let mut gpus = Vec::new();
    let mut pages = Vec::new();
    for card in env.list("/sys/class/drm") {
        if !is_card(&card) {
            continue;
        }
        let device = format!("/sys/class/drm/{card}/device");
        let vendor = std::fs::read_to_string(env.sys(&format!("{device}/vendor")));
        if !vendor.is_ok_and(|v| v.trim() == "0x1002") {
            continue;
        }
        let ras = format!("{device}/ras");
        let counts: Vec<ErrCount> = env
            .list(&ras)
            .iter()
            .filter(|f| f.ends_with("_err_count"))
            .filter_map(|f| std::fs::read_to_string(env.sys(&format!("{ras}/{f}"))).ok())
            .filter_map(|t| parse_err_count(&t))
            .collect();
        let any = !counts.is_empty();
        gpus.push(AmdGpu {
            gpu: card.clone(),
            uncorrectable: any.then(|| counts.iter().map(|c| c.ue).sum()),
            deferred: any.then(|| counts.iter().filter_map(|c| c.de).sum()),
        });
        let list = std::fs::read_to_string(env.sys(&format!("{ras}/gpu_vram_bad_pages")));
        pages.push(match list {
            Ok(text) => parse_bad_pages(&card, &text),
            Err(_) => AmdBadPages {
                gpu: card,
                ..AmdBadPages::default()
            },
        });
    }
    (gpus, pages)
}

/// The processes with a KFD context, as (GPU, pid, name): one entry per card where the process
/// holds VRAM, else one with an empty GPU; `None` without `/sys/class/kfd/kfd/proc`.
pub fn read_kfd_processes(env: &Env) -> Option<Vec<(String, u32, String)>> {
    let dir = "/sys/class/kfd/kfd/proc";
    if !env.sys(dir).is_dir() {
        return None;
    }
    let cards = kfd_cards(env);
    let mut out = Vec::new();
    for pid in env.list(dir).iter().filter_map(|p| p.parse::<u32>().ok()) {
        let comm = std::fs::read_to_string(env.sys(&format!("/proc/{pid}/comm")));
        let name = comm.map_or_else(|_| "?".to_string(), |c| c.trim().to_string());
        let held: Vec<String> = env
            .list(&format!("{dir}/{pid}"))
            .iter()
            .filter_map(|f| f.strip_prefix("vram_")?.parse::<u32>().ok())
            .filter(|id| {
                std::fs::read_to_string(env.sys(&format!("{dir}/{pid}/vram_{id}")))
                    .is_ok_and(|t| t.trim().parse::<u64>().is_ok_and(|bytes| bytes > 0))
            })
            .map(|id| {
                cards
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| format!("KFD gpu_id {id}"))
            })
            .collect();
        if held.is_empty() {
            out.push((String::new(), pid, name));
        } else {
            out.extend(held.into_iter().map(|gpu| (gpu, pid, name.clone())));
        }
    }
    Some(out)
}

/// The card (`card1`) of each KFD GPU id: the topology node's `drm_render_minor` matched with
/// the `renderD<minor>` under a card's `device/drm` (`renderD<minor>` where no card lists it).
fn kfd_cards(env: &Env) -> std::collections::BTreeMap<u32, String> {
    let mut by_minor = std::collections::BTreeMap::new();
    for card in env
        .list("/sys/class/drm")
        .into_iter()
        .filter(|c| is_card(c))
    {
        for node in env.list(&format!("/sys/class/drm/{card}/device/drm")) {
            if let Some(minor) = node
                .strip_prefix("renderD")
                .and_then(|m| m.parse::<u64>().ok())
            {
                by_minor.insert(minor, card.clone());
            }
        }
    }
    let topology = "/sys/class/kfd/kfd/topology/nodes";
    let read = |path: String| std::fs::read_to_string(env.sys(&path)).ok();
    env.list(topology)
        .iter()
        .filter_map(|n| {
            let id = read(format!("{topology}/{n}/gpu_id"))?
                .trim()
                .parse::<u32>()
                .ok()?;
            let props = read(format!("{topology}/{n}/properties"))?;
            let minor = props.lines().find_map(|l| {
                let (k, v) = l.split_once(char::is_whitespace)?;
                (k == "drm_render_minor").then(|| v.trim().parse::<u64>().ok())?
            })?;
            let card = by_minor
                .get(&minor)
                .cloned()
                .unwrap_or_else(|| format!("renderD{minor}"));
            (id != 0).then_some((id, card))
        })
        .collect()
}

/// `card0`, `card12` (not `card0-DP-1`, a connector).
fn is_card(name: &str) -> bool {
    name.strip_prefix("card")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The ECC, bad-page and process items from [`read_amdgpu`]'s and [`read_kfd_processes`]'
/// answers; `own` are this job's process ids.
pub fn amdgpu_checks(
    gpus: &[AmdGpu],
    pages: &[AmdBadPages],
    procs: Option<&[(String, u32, String)]>,
    own: &[u32],
) -> [Check; 3] {
    let [ecc, bad] = memory_checks(gpus, pages, &AMDGPU);
    let none = Unknown {
        silent: "unknown: no /sys/class/kfd/kfd/proc (the amdgpu compute driver lists no processes)",
        na: "unknown: no /sys/class/kfd/kfd/proc (the amdgpu compute driver lists no processes)",
        fix: "rocm-smi --showpids lists them",
    };
    [ecc, bad, processes_item(procs, own, none)]
}

/// One RAS block's counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrCount {
    /// Uncorrectable errors.
    pub ue: u64,
    /// Deferred errors, where the kernel reports them.
    pub de: Option<u64>,
}

/// `ue: N\nce: M\n[de: K\n]`; `None` for anything else (`Query currently inaccessible`).
pub fn parse_err_count(text: &str) -> Option<ErrCount> {
    let value = |key: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().parse::<u64>().ok())?
        })
    };
    Some(ErrCount {
        ue: value("ue")?,
        de: value("de"),
    })
}

/// `gpu_vram_bad_pages`: pages by their flag (lines of another shape are skipped).
pub fn parse_bad_pages(card: &str, text: &str) -> AmdBadPages {
    let mut p = AmdBadPages {
        gpu: card.to_string(),
        pending: Some(0),
        unreservable: Some(0),
        retired: Some(0),
    };
    for line in text.lines() {
        let slot = match line.rsplit(':').next().map(str::trim) {
            Some("R") => &mut p.retired,
            Some("P") => &mut p.pending,
            Some("F") => &mut p.unreservable,
            _ => continue,
        };
        *slot = slot.map(|n| n + 1);
    }
    p
}

#[cfg(test)]
mod tests;
