//! What the node is: host, OS, CPU, caches, memory and accelerators, read with `sysinfo` plus
//! `/sys` and `/proc` where `sysinfo` has no answer (caches, ISA flags).

pub mod adapters;
pub mod checklist;
pub mod energy;
pub mod env;
mod fabric;
pub mod gpus;
pub mod health;
pub mod hostlist;
pub mod load;

pub use fabric::Fabric;

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The node's inventory, recorded in every results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// Host name.
    pub host: String,
    /// Operating system name and version.
    pub os: String,
    /// Kernel version.
    pub kernel: String,
    /// CPU architecture (`x86_64`, `aarch64`).
    pub arch: String,
    /// The CPU.
    pub cpu: CpuInfo,
    /// Main memory.
    pub memory: MemoryInfo,
    /// Accelerators Vulkan (wgpu) sees.
    pub accelerators: Accelerators,
    /// Every GPU the system lists (vendor tools, /sys), whether Vulkan sees it or not, with the
    /// paths that reach it (empty in results written before it existed).
    #[serde(default)]
    pub gpus: Vec<gpus::GpuListing>,
    /// The user's PyTorch, when it was looked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch: Option<TorchProbe>,
    /// The porting checklist (empty in results written before it existed).
    #[serde(default)]
    pub checklist: Vec<checklist::Check>,
    /// The high-speed network found under /sys/class (Slingshot, EFA, InfiniBand), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fabric: Option<Fabric>,
}

/// A device torch sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TorchDevice {
    /// torch's device index.
    pub index: usize,
    /// The name torch reports.
    pub name: String,
    /// Its memory.
    pub memory_bytes: u64,
    /// `sm_90`, `gfx90a` …
    #[serde(default)]
    pub arch: String,
}

/// The user's PyTorch, as hpcready's harness found it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TorchInfo {
    /// The Python command that ran it.
    #[serde(default)]
    pub python_command: String,
    /// Python's version.
    pub python: String,
    /// `sys.executable` (inside the container, for a container command).
    pub executable: String,
    /// `torch.__version__`.
    pub torch: String,
    /// The CUDA version torch was built with.
    #[serde(default)]
    pub cuda: Option<String>,
    /// The HIP (ROCm) version torch was built with.
    #[serde(default)]
    pub hip: Option<String>,
    /// cuDNN (or MIOpen) version, where torch has one.
    #[serde(default)]
    pub cudnn: Option<String>,
    /// NCCL (RCCL on ROCm) version.
    #[serde(default)]
    pub nccl: Option<String>,
    /// The BLAS torch uses: `cublas`/`cublaslt`/`ck` on GPUs, `mkl (AVX512)` … on the CPU.
    #[serde(default)]
    pub blas: Option<String>,
    /// What torch drives: CUDA, ROCm, XPU or only the CPU.
    pub accelerator: TorchAccelerator,
    /// The accelerators torch sees (none for a CPU-only torch or node).
    pub devices: Vec<TorchDevice>,
    /// torch's CPU threads.
    pub cpu_threads: usize,
    /// Whether torch has native bf16 matmul kernels on this CPU (oneDNN's, on AVX-512 or AMX
    /// x86 and BF16 Arm); `false` where it emulates bf16 far slower than f32, `None` unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_bf16_native: Option<bool>,
}

/// The kind of device a torch build drives, as the harness reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TorchAccelerator {
    /// NVIDIA GPUs through CUDA.
    Cuda,
    /// AMD GPUs through ROCm (HIP behind torch's `cuda` device).
    Rocm,
    /// Intel GPUs.
    Xpu,
    /// None: torch's CPU path.
    #[default]
    Cpu,
}

impl TorchAccelerator {
    /// Its name in results and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cuda => "cuda",
            Self::Rocm => "rocm",
            Self::Xpu => "xpu",
            Self::Cpu => "cpu",
        }
    }

    /// The vendor whose GPUs it drives.
    pub fn vendor(self) -> Option<GpuVendor> {
        match self {
            Self::Cuda => Some(GpuVendor::Nvidia),
            Self::Rocm => Some(GpuVendor::Amd),
            Self::Xpu => Some(GpuVendor::Intel),
            Self::Cpu => None,
        }
    }
}

impl std::fmt::Display for TorchAccelerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A GPU's vendor, named as the listing and messages say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GpuVendor {
    /// PCI 0x10de.
    #[serde(rename = "NVIDIA")]
    Nvidia,
    /// PCI 0x1002.
    #[serde(rename = "AMD")]
    Amd,
    /// PCI 0x8086.
    Intel,
}

impl GpuVendor {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Nvidia => "NVIDIA",
            Self::Amd => "AMD",
            Self::Intel => "Intel",
        }
    }
}

impl std::fmt::Display for GpuVendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl TorchInfo {
    /// One line: versions and libraries.
    pub fn libraries(&self) -> String {
        let amd = self.hip.is_some();
        let mut parts = vec![format!("torch {}", self.torch)];
        if let Some(c) = &self.cuda {
            parts.push(format!("CUDA {c}"));
        }
        if let Some(h) = &self.hip {
            parts.push(format!("HIP {h}"));
        }
        if let Some(b) = &self.blas {
            parts.push(format!("BLAS {b}"));
        }
        if let Some(c) = &self.cudnn {
            parts.push(format!("{} {c}", if amd { "MIOpen" } else { "cuDNN" }));
        }
        if let Some(n) = &self.nccl {
            parts.push(format!("{} {n}", if amd { "RCCL" } else { "NCCL" }));
        }
        parts.push(format!("Python {}", self.python));
        parts.join(", ")
    }

    /// Whether torch sees an accelerator.
    pub fn has_accelerator(&self) -> bool {
        self.accelerator != TorchAccelerator::Cpu && !self.devices.is_empty()
    }
}

/// Whether the user's PyTorch was found: what was tried and what it has, or why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TorchProbe {
    /// The Python command tried.
    pub python: String,
    /// What it has, when it has torch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<TorchInfo>,
    /// Why not, when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The CPU as the OS reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuInfo {
    /// Model name.
    pub model: String,
    /// Vendor id.
    pub vendor: String,
    /// Physical cores, where known.
    pub physical_cores: Option<usize>,
    /// Hardware threads the OS sees.
    pub logical_threads: usize,
    /// Threads this process may run on (affinity, cgroup quota).
    pub usable_threads: usize,
    /// The SIMD and matrix extensions that matter for these kernels.
    pub simd: Vec<String>,
    /// Cache levels of the first core.
    pub caches: Vec<Cache>,
    /// The clock the OS reports, in MHz. Often the base or TSC rate, not the running clock.
    pub reported_mhz: Option<u64>,
}

/// One cache level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cache {
    /// 1, 2, 3.
    pub level: u32,
    /// `Data`, `Instruction` or `Unified`.
    pub kind: String,
    /// Size of one instance in bytes.
    pub size_bytes: u64,
    /// Instances of this cache on the node.
    pub instances: usize,
}

/// Main memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryInfo {
    /// Installed memory visible to the OS.
    pub total_bytes: u64,
    /// Memory available to new allocations when probed.
    pub available_bytes: u64,
}

/// Accelerators found on the node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accelerators {
    /// Whether this build looked for accelerators.
    pub probed: bool,
    /// What was looked for, and what is missing when nothing was found.
    pub note: String,
    /// Every wgpu adapter, software (CPU-type) ones included and marked as such.
    pub devices: Vec<adapters::AdapterSummary>,
}

impl Accelerators {
    /// Probes wgpu adapters.
    pub fn probe() -> Self {
        let devices = adapters::summaries();
        let note = if devices.is_empty() {
            adapters::missing_advice()
        } else if devices.iter().all(|d| d.is_cpu()) {
            "only software (CPU-type) adapters were found, e.g. Mesa's lavapipe; no GPU".into()
        } else {
            "wgpu adapters (Vulkan, Metal, DX12, GL)".into()
        };
        Self {
            probed: true,
            note,
            devices,
        }
    }

    /// Hardware GPUs usable for compute (not software adapters, not GL duplicates).
    pub fn gpus(&self) -> impl Iterator<Item = &adapters::AdapterSummary> {
        self.devices
            .iter()
            .filter(|d| d.index.is_some() && !d.is_cpu())
    }
}

#[cfg(test)]
impl Inventory {
    /// A fixed inventory for tests, independent of the machine they run on: the CPU node of the
    /// committed example run (2 cores, no GPU, nothing missing from its checklist's inputs).
    pub fn fixture() -> Self {
        let run: serde_json::Value =
            serde_json::from_str(include_str!("../../reports/example/results.json"))
                .expect("the committed example results");
        serde_json::from_value(run["node"].clone()).expect("its inventory")
    }
}

#[cfg(feature = "test-hooks")]
impl Inventory {
    /// The fixed node `HPCREADY_TEST_NODE` names (a results file or an inventory as JSON), for
    /// tests that must mean the same on every machine; its checklist is run again on the real
    /// environment. A file that cannot be read is a test bug: it panics.
    fn test_node() -> Option<Self> {
        let path = std::env::var_os("HPCREADY_TEST_NODE")?;
        let text = std::fs::read_to_string(&path).expect("HPCREADY_TEST_NODE: readable");
        let v: serde_json::Value = serde_json::from_str(&text).expect("HPCREADY_TEST_NODE: JSON");
        let node = if v.get("node").is_some() {
            v["node"].clone()
        } else {
            v
        };
        Some(serde_json::from_value(node).expect("HPCREADY_TEST_NODE: an inventory"))
    }
}

impl Inventory {
    /// Probes this node. Never fails: what cannot be read is left empty.
    pub fn probe() -> Self {
        #[cfg(feature = "test-hooks")]
        if let Some(node) = Self::test_node() {
            return node.with_checklist(&env::Env::real());
        }
        use sysinfo::System;
        let mut sys = System::new().ok();
        if let Some(sys) = sys.as_mut() {
            sys.refresh_cpu_all();
            sys.refresh_memory();
        }
        let cpus = sys.as_ref().map(|s| s.cpus()).unwrap_or_default();
        let model = cpus
            .first()
            .map(|c| c.brand().trim().to_string())
            .filter(|b| !b.is_empty())
            .unwrap_or_else(cpu_model);
        Self {
            host: hostname(),
            os: System::long_os_version()
                .or_else(|_| System::name())
                .unwrap_or_else(|_| std::env::consts::OS.into()),
            kernel: System::kernel_version().unwrap_or_default(),
            arch: std::env::consts::ARCH.into(),
            cpu: CpuInfo {
                model,
                vendor: cpus
                    .first()
                    .map(|c| c.vendor_id().to_string())
                    .unwrap_or_default(),
                physical_cores: System::physical_core_count().ok(),
                logical_threads: cpus.len().max(1),
                usable_threads: usable_threads(),
                simd: simd_features(),
                caches: caches(Path::new("/sys/devices/system/cpu")),
                reported_mhz: cpus.first().map(|c| c.frequency()).filter(|&f| f > 0),
            },
            memory: MemoryInfo {
                total_bytes: sys.as_ref().map_or(0, |s| s.total_memory()),
                available_bytes: sys.as_ref().map_or(0, |s| s.available_memory()),
            },
            accelerators: Accelerators::probe(),
            gpus: Vec::new(),
            torch: None,
            checklist: Vec::new(),
            fabric: None,
        }
        .with_checklist(&env::Env::real())
    }

    /// The inventory with the system's GPU list read and the porting checklist run on `env`.
    pub fn with_checklist(mut self, env: &env::Env) -> Self {
        let listed = gpus::list(env);
        // A fixed node (tests) keeps its own list when this machine lists none.
        if !listed.is_empty() || self.gpus.is_empty() {
            self.gpus = listed;
        }
        gpus::reach(
            &mut self.gpus,
            &self.accelerators.devices,
            self.torch.as_ref(),
        );
        let vulkan: Vec<String> = self.accelerators.gpus().map(|g| g.name.clone()).collect();
        self.fabric = checklist::fabric(env);
        self.checklist = checklist::run(
            env,
            &vulkan,
            &self.gpus,
            &self.arch,
            &self.accelerators.note,
        );
        self
    }

    /// Records what PyTorch was found, and which GPUs it reaches.
    pub fn set_torch(&mut self, probe: TorchProbe) {
        self.torch = Some(probe);
        gpus::reach(
            &mut self.gpus,
            &self.accelerators.devices,
            self.torch.as_ref(),
        );
        self.checklist.retain(|c| c.id != "torch");
        if let Some(c) = checklist::torch_check(self) {
            let at = self
                .checklist
                .iter()
                .position(|c| c.id == "gpu-tools")
                .unwrap_or(self.checklist.len().min(1));
            self.checklist.insert(at, c);
        }
    }

    /// The GPUs (or GCDs) of the node: those the system lists, else those Vulkan sees.
    pub fn gpu_count(&self) -> usize {
        self.gpus.len().max(self.accelerators.gpus().count())
    }

    /// `L1 data 32 KiB ×2, L2 unified 512 KiB ×2, …`, or `unknown`.
    pub fn caches_summary(&self) -> String {
        let s = self
            .cpu
            .caches
            .iter()
            .map(|c| {
                format!(
                    "L{} {} {} ×{}",
                    c.level,
                    c.kind.to_lowercase(),
                    human_bytes(c.size_bytes),
                    c.instances
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        if s.is_empty() { "unknown".into() } else { s }
    }

    /// Total last-level cache on the node, in bytes (0 when unknown).
    pub fn last_level_cache_bytes(&self) -> u64 {
        self.cpu
            .caches
            .iter()
            .filter(|c| c.kind != "Instruction")
            .max_by_key(|c| c.level)
            .map(|c| c.size_bytes * c.instances as u64)
            .unwrap_or(0)
    }
}

/// Threads this process may run on.
impl Inventory {
    /// The inventory of a node this process did not probe (results imported from another tool's
    /// log): its host name where the log gives one, nothing else claimed.
    pub fn not_probed(host: &str, why: &str) -> Self {
        Self {
            host: host.into(),
            os: String::new(),
            kernel: String::new(),
            arch: String::new(),
            cpu: CpuInfo {
                model: String::new(),
                vendor: String::new(),
                physical_cores: None,
                logical_threads: 0,
                usable_threads: 0,
                simd: Vec::new(),
                caches: Vec::new(),
                reported_mhz: None,
            },
            memory: MemoryInfo {
                total_bytes: 0,
                available_bytes: 0,
            },
            accelerators: Accelerators {
                probed: false,
                note: why.into(),
                devices: Vec::new(),
            },
            gpus: Vec::new(),
            torch: None,
            checklist: Vec::new(),
            fabric: None,
        }
    }
}

/// A name safe in a directory name: letters, digits, `.`, `_`, `-`, at most 64 of them (a
/// host name can be longer than a file name may be).
pub fn safe_name(text: &str) -> String {
    let s: String = text
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "node".into() } else { s }
}

/// This machine's host name (`unknown-host` when it cannot be read).
pub fn hostname() -> String {
    sysinfo::System::host_name().unwrap_or_else(|_| "unknown-host".into())
}

pub fn usable_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The CPU's model name (`/proc/cpuinfo`'s `model name`, else the architecture).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Model"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("{} CPU", std::env::consts::ARCH))
}

/// Memory available to new allocations now, in bytes (0 when unknown).
pub fn available_memory() -> u64 {
    let Ok(mut sys) = sysinfo::System::new() else {
        return 0;
    };
    sys.refresh_memory();
    let avail = sys.available_memory();
    // Respect a cgroup limit (a Slurm job's memory) when one is set.
    match sys.cgroup_limits() {
        Some(limits) if limits.free_memory > 0 => avail.min(limits.free_memory),
        _ => avail,
    }
}

/// `1.5 GiB`, `256 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{} {}", crate::float::sig(value, 3), UNITS[unit])
    }
}

/// SIMD and matrix extensions relevant to these kernels, detected at run time.
pub fn simd_features() -> Vec<String> {
    let mut found = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($f:tt),*) => {
                $(if std::is_x86_feature_detected!($f) { found.push($f.to_string()); })*
            };
        }
        probe!(
            "sse4.2",
            "avx",
            "avx2",
            "fma",
            "f16c",
            "avx512f",
            "avx512bw",
            "avx512vl",
            "avx512vnni",
            "avx512bf16",
            "avx512fp16"
        );
    }
    #[cfg(target_arch = "aarch64")]
    {
        macro_rules! probe {
            ($($f:tt),*) => {
                $(if std::arch::is_aarch64_feature_detected!($f) { found.push($f.to_string()); })*
            };
        }
        probe!("neon", "fp16", "bf16", "i8mm", "sve", "sve2");
    }
    found
}

/// Cache levels from `/sys/devices/system/cpu/cpu*/cache/index*`, counting distinct instances by
/// their `shared_cpu_list`.
pub fn caches(root: &Path) -> Vec<Cache> {
    use std::collections::BTreeMap;
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let mut seen: BTreeMap<(u32, String, u64), std::collections::BTreeSet<String>> =
        BTreeMap::new();
    let Ok(cpus) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    for cpu in cpus.flatten() {
        let name = cpu.file_name().to_string_lossy().into_owned();
        if !name.starts_with("cpu") || !name[3..].chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(indices) = std::fs::read_dir(cpu.path().join("cache")) else {
            continue;
        };
        for index in indices.flatten() {
            let dir = index.path();
            let (Some(level), Some(kind), Some(size)) = (
                read(&dir.join("level")).and_then(|l| l.parse().ok()),
                read(&dir.join("type")),
                read(&dir.join("size")).and_then(|s| parse_cache_size(&s)),
            ) else {
                continue;
            };
            let shared = read(&dir.join("shared_cpu_list")).unwrap_or_else(|| name.clone());
            seen.entry((level, kind, size)).or_default().insert(shared);
        }
    }
    seen.into_iter()
        .map(|((level, kind, size_bytes), sets)| Cache {
            level,
            kind,
            size_bytes,
            instances: sets.len(),
        })
        .collect()
}

/// `32K` → 32768, `1M` → 1048576, `512` → 512.
pub fn parse_cache_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, mult) = match text.chars().last()? {
        'K' | 'k' => (&text[..text.len() - 1], 1024),
        'M' | 'm' => (&text[..text.len() - 1], 1024 * 1024),
        'G' | 'g' => (&text[..text.len() - 1], 1024 * 1024 * 1024),
        _ => (text, 1),
    };
    digits.trim().parse::<u64>().ok().map(|n| n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sysfs_cache_sizes() {
        assert_eq!(parse_cache_size("32K"), Some(32768));
        assert_eq!(parse_cache_size("32768K"), Some(32 << 20));
        assert_eq!(parse_cache_size("2M"), Some(2 << 20));
        assert_eq!(parse_cache_size("512"), Some(512));
        assert_eq!(parse_cache_size("lots"), None);
    }

    #[test]
    fn reads_a_fake_sysfs_tree() {
        let dir = tempfile::tempdir().unwrap();
        for cpu in 0..4 {
            for (idx, level, kind, size, shared) in [
                (0, "1", "Data", "32K", cpu.to_string()),
                (1, "2", "Unified", "512K", cpu.to_string()),
                (
                    2,
                    "3",
                    "Unified",
                    "32768K",
                    if cpu < 2 { "0-1" } else { "2-3" }.to_string(),
                ),
            ] {
                let d = dir.path().join(format!("cpu{cpu}/cache/index{idx}"));
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(d.join("level"), level).unwrap();
                std::fs::write(d.join("type"), kind).unwrap();
                std::fs::write(d.join("size"), size).unwrap();
                std::fs::write(d.join("shared_cpu_list"), shared).unwrap();
            }
        }
        std::fs::create_dir_all(dir.path().join("cpufreq")).unwrap();
        let caches = caches(dir.path());
        assert_eq!(caches.len(), 3);
        assert_eq!((caches[0].level, caches[0].instances), (1, 4));
        assert_eq!(
            (caches[2].level, caches[2].size_bytes, caches[2].instances),
            (3, 32 << 20, 2)
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(268_435_456), "256 MiB");
        assert_eq!(human_bytes(25_276_063_744), "23.5 GiB");
    }

    #[test]
    fn probe_sees_this_machine() {
        let inv = Inventory::probe();
        assert!(!inv.host.is_empty());
        assert!(inv.cpu.usable_threads >= 1);
        assert!(inv.memory.total_bytes > 0);
        assert!(inv.accelerators.probed);
    }
}
