//! Every GPU of the node, whether or not Vulkan sees it: from the vendors' tools (`nvidia-smi`,
//! `rocm-smi`, `amd-smi`) and from the kernel (`/sys/class/drm` PCI ids, AMD's KFD topology), so
//! that a LUMI-G node (MI250X: CDNA, which no Vulkan driver supports) or an NVIDIA node without
//! the Vulkan ICD is never reported as having no accelerator. Each GPU says which measuring path
//! can reach it and, where none can, why and what to load.

use super::env::Env;
use super::{GpuVendor, TorchAccelerator};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One GPU (or GCD: each die of a multi-die package is its own device) as the system lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuListing {
    /// The name the tool gives, else the PCI id's name.
    pub name: String,
    /// `NVIDIA`, `AMD`, `Intel`.
    pub vendor: GpuVendor,
    /// PCI address, `0000:c1:00.0`, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pci: Option<String>,
    /// Device memory, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Driver version, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// `gfx90a`, `gfx942` … for AMD GPUs, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// What listed it: `nvidia-smi`, `rocm-smi`, `amd-smi`, `sysfs-drm`, `kfd`.
    pub sources: Vec<String>,
    /// Whether Vulkan (our WGSL kernels) reaches it, and why not.
    #[serde(default)]
    pub vulkan: Reach,
    /// Whether PyTorch reaches it, and why not.
    #[serde(default)]
    pub torch: Reach,
}

/// Whether a measuring path reaches a GPU.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reach {
    /// It does.
    pub yes: bool,
    /// Why not, and what to do; or how it does.
    pub why: String,
}

impl GpuListing {
    /// A listing of `vendor`'s with nothing known yet, for the listers to fill in.
    pub fn of(vendor: GpuVendor) -> Self {
        Self {
            name: String::new(),
            vendor,
            pci: None,
            memory_bytes: None,
            driver: None,
            arch: None,
            sources: Vec::new(),
            vulkan: Reach::default(),
            torch: Reach::default(),
        }
    }

    /// `AMD Instinct MI250X (gfx90a) at 0000:c1:00.0`.
    pub fn describe(&self) -> String {
        let mut s = self.name.clone();
        if let Some(a) = &self.arch {
            s.push_str(&format!(" ({a})"));
        }
        if let Some(p) = &self.pci {
            s.push_str(&format!(" at {p}"));
        }
        s
    }

    /// An AMD data-centre GPU of the CDNA family (Instinct MI100/MI200/MI300): no Vulkan driver
    /// supports it.
    pub fn is_cdna(&self) -> bool {
        self.vendor == GpuVendor::Amd
            && (self.arch.as_deref().is_some_and(|a| {
                a.starts_with("gfx908") || a.starts_with("gfx90a") || a.starts_with("gfx94")
            }) || self.name.contains("Instinct")
                || self.name.contains("MI2")
                || self.name.contains("MI3"))
    }
}

/// The GPUs `env` lists, merged by PCI address across sources.
pub fn list(env: &Env) -> Vec<GpuListing> {
    let mut all = Vec::new();
    if let Some((_, path)) = env.which(&["nvidia-smi"])
        && let Some(text) = run_tool(
            &path,
            &[
                "--query-gpu=index,name,memory.total,driver_version,pci.bus_id",
                "--format=csv,noheader,nounits",
            ],
        )
    {
        all.extend(parse_nvidia_smi(&text));
    }
    if let Some((_, path)) = env.which(&["rocm-smi"])
        && let Some(text) = run_tool(
            &path,
            &[
                "--showproductname",
                "--showmeminfo",
                "vram",
                "--showbus",
                "--showdriverversion",
                "--json",
            ],
        )
    {
        all.extend(parse_rocm_smi(&text));
    }
    if let Some((_, path)) = env.which(&["amd-smi"])
        && let Some(text) = run_tool(&path, &["list", "--json"])
    {
        all.extend(parse_amd_smi_list(&text));
    }
    all.extend(read_drm(&env.sys("/sys/class/drm")));
    all.extend(read_kfd(&env.sys("/sys/class/kfd/kfd/topology/nodes")));
    merge(all)
}

/// Runs a vendor tool with a 10 s limit (a wedged driver can hang `nvidia-smi`); its stdout on
/// success.
fn run_tool(path: &Path, args: &[&str]) -> Option<String> {
    run_captured(path, args, Duration::from_secs(10))
        .filter(|c| c.ok)
        .map(|c| c.stdout)
}

/// What a tool printed, and whether it exited with 0.
#[derive(Debug)]
pub struct Captured {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a tool with a time limit; `None` when it could not start or ran past the limit (it is
/// killed then).
pub fn run_captured(path: &Path, args: &[&str], limit: Duration) -> Option<Captured> {
    let mut cmd = Command::new(path);
    cmd.args(args);
    run_command(cmd, limit)
}

/// [`run_captured`] for a command already set up (arguments, environment).
pub fn run_command(mut cmd: Command, limit: Duration) -> Option<Captured> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut s);
            }
            s
        })
    };
    let out = read(child.stdout.take().map(|p| Box::new(p) as _));
    let err = read(child.stderr.take().map(|p| Box::new(p) as _));
    let end = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return Some(Captured {
                    ok: status.success(),
                    stdout: out.join().unwrap_or_default(),
                    stderr: err.join().unwrap_or_default(),
                });
            }
            Err(_) => return None,
            Ok(None) if Instant::now() > end => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// `0000:C1:00.0`, `00000000:18:00.0` → `0000:c1:00.0`.
fn norm_pci(text: &str) -> Option<String> {
    let t = text.trim().to_ascii_lowercase();
    let (rest, func) = t.rsplit_once('.')?;
    let mut parts: Vec<&str> = rest.split(':').collect();
    if parts.len() == 2 {
        parts.insert(0, "0000");
    }
    if parts.len() != 3 {
        return None;
    }
    let domain = u32::from_str_radix(parts[0], 16).ok()?;
    let bus = u32::from_str_radix(parts[1], 16).ok()?;
    let dev = u32::from_str_radix(parts[2], 16).ok()?;
    let f = u32::from_str_radix(func, 16).ok()?;
    Some(format!("{domain:04x}:{bus:02x}:{dev:02x}.{f:x}"))
}

/// `nvidia-smi --query-gpu=index,name,memory.total,driver_version,pci.bus_id
/// --format=csv,noheader,nounits`: one GPU per line, memory in MiB.
pub fn parse_nvidia_smi(text: &str) -> Vec<GpuListing> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            if f.len() < 5 || f[0].parse::<u32>().is_err() {
                return None;
            }
            Some(GpuListing {
                name: f[1].to_string(),
                vendor: GpuVendor::Nvidia,
                pci: norm_pci(f[4]),
                memory_bytes: f[2].parse::<u64>().ok().map(|mib| mib << 20),
                driver: Some(f[3].to_string()).filter(|d| !d.is_empty()),
                arch: None,
                sources: vec!["nvidia-smi".into()],
                ..GpuListing::of(GpuVendor::Nvidia)
            })
        })
        .collect()
}

/// `rocm-smi --showproductname --showmeminfo vram --showbus --showdriverversion --json`: an
/// object with one `cardN` entry per GPU (GCD) and a `system` entry. Key names vary between
/// ROCm releases, so each field is looked up by the words it contains.
pub fn parse_rocm_smi(text: &str) -> Vec<GpuListing> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    let Some(obj) = v.as_object() else {
        return Vec::new();
    };
    let driver = obj
        .get("system")
        .and_then(|s| s.as_object())
        .and_then(|s| {
            s.iter()
                .find(|(k, _)| k.to_lowercase().contains("driver version"))
        })
        .and_then(|(_, v)| v.as_str())
        .map(String::from);
    let mut cards: Vec<(&String, &serde_json::Value)> =
        obj.iter().filter(|(k, _)| k.starts_with("card")).collect();
    cards.sort_by_key(|(k, _)| k[4..].parse::<u32>().unwrap_or(u32::MAX));
    cards
        .into_iter()
        .filter_map(|(_, card)| {
            let c = card.as_object()?;
            let get = |words: &[&str]| {
                c.iter()
                    .find(|(k, _)| {
                        let k = k.to_lowercase();
                        words.iter().all(|w| k.contains(w))
                    })
                    .and_then(|(_, v)| v.as_str())
                    .map(str::trim)
                    .filter(|s| !s.is_empty() && *s != "N/A")
            };
            let name = get(&["card", "series"])
                .or_else(|| get(&["device", "name"]))
                .or_else(|| get(&["market", "name"]))
                .unwrap_or("AMD GPU");
            Some(GpuListing {
                name: if name.contains("AMD") {
                    name.to_string()
                } else {
                    format!("AMD {name}")
                },
                vendor: GpuVendor::Amd,
                pci: get(&["pci", "bus"]).and_then(norm_pci),
                memory_bytes: get(&["vram", "total", "memory"]).and_then(|m| m.parse().ok()),
                driver: driver.clone(),
                arch: get(&["gfx", "version"]).map(str::to_lowercase),
                sources: vec!["rocm-smi".into()],
                ..GpuListing::of(GpuVendor::Amd)
            })
        })
        .collect()
}

/// `amd-smi list --json`: one entry per GPU with its PCI address (`bdf`).
pub fn parse_amd_smi_list(text: &str) -> Vec<GpuListing> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|g| {
                    Some(GpuListing {
                        name: "AMD GPU".into(),
                        vendor: GpuVendor::Amd,
                        pci: g["bdf"].as_str().and_then(norm_pci),
                        sources: vec!["amd-smi".into()],
                        ..GpuListing::of(GpuVendor::Amd)
                    })
                    .filter(|l| l.pci.is_some())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Names of the data-centre GPUs this tool is for, by PCI vendor and device id (pci.ids).
fn pci_name(vendor: u32, device: u32) -> Option<&'static str> {
    Some(match (vendor, device) {
        (0x10de, 0x20b0) => "NVIDIA A100-SXM4-40GB",
        (0x10de, 0x20b2) => "NVIDIA A100-SXM4-80GB",
        (0x10de, 0x20b5) => "NVIDIA A100 80GB PCIe",
        (0x10de, 0x2330) => "NVIDIA H100 SXM5 80GB",
        (0x10de, 0x2331) => "NVIDIA H100 PCIe",
        (0x10de, 0x2335) => "NVIDIA H200 SXM 141GB",
        (0x10de, 0x2342) => "NVIDIA GH200",
        (0x1002, 0x7408) => "AMD Instinct MI250X",
        (0x1002, 0x740c) => "AMD Instinct MI250X/MI250",
        (0x1002, 0x740f) => "AMD Instinct MI210",
        (0x1002, 0x74a1) => "AMD Instinct MI300X",
        (0x1002, 0x74a5) => "AMD Instinct MI325X",
        _ => return None,
    })
}

fn vendor_name(vendor: u32) -> Option<GpuVendor> {
    match vendor {
        0x10de => Some(GpuVendor::Nvidia),
        0x1002 => Some(GpuVendor::Amd),
        0x8086 => Some(GpuVendor::Intel),
        _ => None,
    }
}

fn read_hex(path: &Path) -> Option<u32> {
    let t = std::fs::read_to_string(path).ok()?;
    u32::from_str_radix(t.trim().trim_start_matches("0x"), 16).ok()
}

/// `/sys/class/drm/cardN/device`: GPUs by PCI vendor and class (display controllers and
/// processing accelerators from NVIDIA, AMD and Intel); the connectors (`card0-DP-1`) skipped.
pub fn read_drm(dir: &Path) -> Vec<GpuListing> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut cards: Vec<(u32, std::path::PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.strip_prefix("card")?.parse::<u32>().ok()?;
            Some((n, e.path().join("device")))
        })
        .collect();
    cards.sort();
    cards
        .into_iter()
        .filter_map(|(_, dev)| {
            let vendor = read_hex(&dev.join("vendor"))?;
            let vname = vendor_name(vendor)?;
            // PCI class 0x03xxxx display, 0x12xxxx processing accelerator.
            let class = read_hex(&dev.join("class")).unwrap_or(0x030000) >> 16;
            if class != 0x03 && class != 0x12 {
                return None;
            }
            let device = read_hex(&dev.join("device")).unwrap_or(0);
            let pci = std::fs::read_to_string(dev.join("uevent"))
                .ok()
                .and_then(|u| {
                    u.lines()
                        .find_map(|l| l.strip_prefix("PCI_SLOT_NAME=").and_then(norm_pci))
                });
            Some(GpuListing {
                name: pci_name(vendor, device)
                    .map(String::from)
                    .unwrap_or_else(|| format!("{vname} GPU [{vendor:04x}:{device:04x}]")),
                vendor: vname,
                pci,
                memory_bytes: std::fs::read_to_string(dev.join("mem_info_vram_total"))
                    .ok()
                    .and_then(|t| t.trim().parse().ok()),
                sources: vec!["sysfs-drm".into()],
                ..GpuListing::of(vname)
            })
        })
        .collect()
}

/// AMD's KFD topology: one node per GPU die (GCD), `simd_count > 0` for GPUs; the ISA from
/// `gfx_target_version` (90010 → gfx90a) and the PCI address from `domain` and `location_id`.
pub fn read_kfd(dir: &Path) -> Vec<GpuListing> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut nodes: Vec<(u32, std::path::PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((n, e.path().join("properties")))
        })
        .collect();
    nodes.sort();
    nodes
        .into_iter()
        .filter_map(|(_, props)| {
            let text = std::fs::read_to_string(props).ok()?;
            let get = |key: &str| {
                text.lines().find_map(|l| {
                    let (k, v) = l.split_once(char::is_whitespace)?;
                    (k == key).then(|| v.trim().parse::<u64>().ok()).flatten()
                })
            };
            if get("simd_count").unwrap_or(0) == 0 {
                return None;
            }
            let arch = get("gfx_target_version")
                .filter(|v| *v > 0)
                .map(|v| format!("gfx{}{}{:x}", v / 10000, (v / 100) % 100, v % 100));
            let pci = get("location_id").map(|loc| {
                let domain = get("domain").unwrap_or(0);
                format!(
                    "{domain:04x}:{:02x}:{:02x}.{:x}",
                    loc >> 8,
                    (loc >> 3) & 0x1f,
                    loc & 0x7
                )
            });
            Some(GpuListing {
                name: "AMD GPU".into(),
                vendor: GpuVendor::Amd,
                pci,
                arch,
                sources: vec!["kfd".into()],
                ..GpuListing::of(GpuVendor::Amd)
            })
        })
        .collect()
}

/// Merges listings of the same GPU (same PCI address) from several sources; a generic name
/// gives way to a specific one.
fn merge(all: Vec<GpuListing>) -> Vec<GpuListing> {
    let generic = |n: &str| n == "AMD GPU" || n.ends_with(']');
    let mut out: Vec<GpuListing> = Vec::new();
    for g in all {
        let same = g
            .pci
            .as_ref()
            .and_then(|p| out.iter_mut().find(|o| o.pci.as_ref() == Some(p)));
        match same {
            Some(o) => {
                if generic(&o.name) && !generic(&g.name) {
                    o.name = g.name;
                }
                o.memory_bytes = o.memory_bytes.or(g.memory_bytes);
                o.driver = o.driver.take().or(g.driver);
                o.arch = o.arch.take().or(g.arch);
                let mut s: BTreeSet<String> = o.sources.drain(..).collect();
                s.extend(g.sources);
                o.sources = s.into_iter().collect();
            }
            None => out.push(g),
        }
    }
    out
}

/// Says which path reaches each GPU: Vulkan by the hardware adapters wgpu found (matched per
/// vendor, in order), PyTorch by the devices torch saw (`None`: torch was not looked for).
pub fn reach(
    gpus: &mut [GpuListing],
    vulkan: &[super::adapters::AdapterSummary],
    torch: Option<&super::TorchProbe>,
) {
    let mut vk_left: Vec<&super::adapters::AdapterSummary> = vulkan
        .iter()
        .filter(|a| a.index.is_some() && !a.is_cpu())
        .collect();
    let mut torch_left = torch
        .and_then(|t| t.found.as_ref())
        .map(|i| (i.accelerator.vendor(), i.devices.len()))
        .unwrap_or((None, 0));
    for g in gpus.iter_mut() {
        g.vulkan = match vk_left
            .iter()
            .position(|a| a.vendor.starts_with(g.vendor.name()))
        {
            Some(i) => {
                let a = vk_left.remove(i);
                Reach {
                    yes: true,
                    why: format!("Vulkan adapter {}", a.name),
                }
            }
            None if g.is_cdna() => Reach {
                yes: false,
                why: "no Vulkan driver supports AMD CDNA (Instinct) GPUs: Mesa's RADV refuses \
                      them and AMDVLK is discontinued; measure it through PyTorch (ROCm)"
                    .into(),
            },
            None if g.vendor == GpuVendor::Nvidia => Reach {
                yes: false,
                why: "no NVIDIA Vulkan ICD is visible (a compute-only driver install, or a \
                      container without it: add `graphics` to NVIDIA_DRIVER_CAPABILITIES, or \
                      point VK_ICD_FILENAMES at nvidia_icd.json); PyTorch (CUDA) reaches it \
                      without Vulkan"
                    .into(),
            },
            None => Reach {
                yes: false,
                why: "no Vulkan driver for it was found (install the vendor's Vulkan ICD)".into(),
            },
        };
        g.torch = match torch {
            None => Reach {
                yes: false,
                why: "PyTorch was not looked for (hpcready probe --python CMD)".into(),
            },
            Some(t) => match &t.found {
                None => Reach {
                    yes: false,
                    why: format!(
                        "{}: {}",
                        t.python,
                        t.problem.as_deref().unwrap_or("no torch")
                    ),
                },
                Some(info) if torch_left.0 == Some(g.vendor) && torch_left.1 > 0 => {
                    torch_left.1 -= 1;
                    Reach {
                        yes: true,
                        why: format!("torch {} ({})", info.torch, info.accelerator),
                    }
                }
                Some(info) => Reach {
                    yes: false,
                    why: format!(
                        "torch {} in {} is {} and sees no {} GPU; load the site's PyTorch \
                         module or container for {} (e.g. --python 'apptainer exec {} \
                         pytorch.sif python3')",
                        info.torch,
                        t.python,
                        if info.accelerator == TorchAccelerator::Cpu {
                            "a CPU build or cannot reach the driver".to_string()
                        } else {
                            format!("a {} build", info.accelerator)
                        },
                        g.vendor,
                        if g.vendor == GpuVendor::Amd {
                            "ROCm"
                        } else {
                            "CUDA"
                        },
                        if g.vendor == GpuVendor::Amd {
                            "--rocm"
                        } else {
                            "--nv"
                        },
                    ),
                },
            },
        };
    }
}

#[cfg(test)]
mod tests;
