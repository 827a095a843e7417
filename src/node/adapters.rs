//! GPU adapters through wgpu: what `probe` lists and what the GPU backend chooses from.
//!
//! wgpu loads Vulkan (or Metal, DX12, GL) at run time, so a node without a Vulkan loader or GPU
//! driver simply has no adapters; `probe` says which piece is missing instead of failing.

use serde::{Deserialize, Serialize};

/// One adapter, as recorded in the inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterSummary {
    /// Index among the adapters `--device N` picks from (Vulkan, Metal, DX12); `None` for GL
    /// adapters, which are listed but not used for compute.
    pub index: Option<usize>,
    /// Device name.
    pub name: String,
    /// PCI vendor, named where known (`NVIDIA (0x10de)`).
    pub vendor: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `VirtualGpu`, `Cpu`, `Other`.
    pub device_type: String,
    /// `Vulkan`, `Metal`, `Dx12`, `Gl`.
    pub backend: String,
    /// Driver name.
    pub driver: String,
    /// Driver version and details.
    pub driver_info: String,
    /// The features that matter for these kernels.
    pub features: Vec<String>,
    /// Cooperative-matrix (tensor core) shapes, `MxNxK A→C`.
    pub cooperative_matrix: Vec<String>,
    /// Subgroup sizes, min and max.
    pub subgroup_sizes: [u32; 2],
    /// Key limits.
    pub limits: AdapterLimits,
}

/// The limits that size the work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterLimits {
    /// Largest buffer, bytes.
    pub max_buffer_size: u64,
    /// Largest storage-buffer binding, bytes.
    pub max_storage_buffer_binding_size: u64,
    /// Workgroup (shared) memory, bytes.
    pub max_compute_workgroup_storage_size: u32,
    /// Invocations per workgroup.
    pub max_compute_invocations_per_workgroup: u32,
    /// Workgroups per dispatch dimension.
    pub max_compute_workgroups_per_dimension: u32,
}

impl AdapterSummary {
    /// Whether this is a software (CPU) adapter such as lavapipe.
    pub fn is_cpu(&self) -> bool {
        self.device_type == "Cpu"
    }
}

/// The name of a PCI vendor id.
pub fn vendor_name(id: u32) -> String {
    let name = match id {
        0x10de => "NVIDIA",
        0x1002 | 0x1022 => "AMD",
        0x8086 => "Intel",
        0x106b => "Apple",
        0x13b5 => "ARM",
        0x5143 => "Qualcomm",
        0x10005 => "Mesa",
        _ => return format!("0x{id:x}"),
    };
    format!("{name} (0x{id:x})")
}

/// Every adapter wgpu finds on the primary backends (Vulkan, Metal, DX12), plus GL when
/// `WGPU_BACKEND` names it, in a stable order: compute backends first (these get indices).
/// GL is left out by default: it duplicates the Vulkan devices for drawing, is not used for
/// compute, and on headless nodes its display probing only prints noise.
pub fn enumerate() -> Vec<wgpu::Adapter> {
    let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY);
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends;
    let instance = wgpu::Instance::new(desc);
    let mut adapters = pollster::block_on(instance.enumerate_adapters(backends));
    adapters.sort_by_key(|a| {
        let info = a.get_info();
        (
            info.backend == wgpu::Backend::Gl,
            info.device_type == wgpu::DeviceType::Cpu,
        )
    });
    adapters
}

/// Whether an adapter's backend is used for compute (GL is listed only).
pub fn is_compute_backend(info: &wgpu::AdapterInfo) -> bool {
    info.backend != wgpu::Backend::Gl
}

/// A summary of `adapter`, with its compute index when it has one.
pub fn summarize(adapter: &wgpu::Adapter, index: Option<usize>) -> AdapterSummary {
    let info = adapter.get_info();
    let f = adapter.features();
    let l = adapter.limits();
    let mut features = Vec::new();
    for (flag, name) in [
        (wgpu::Features::SHADER_F16, "shader-f16"),
        (wgpu::Features::SUBGROUP, "subgroup"),
        (wgpu::Features::TIMESTAMP_QUERY, "timestamp-query"),
        (
            wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX,
            "cooperative-matrix",
        ),
        (wgpu::Features::SHADER_INT64, "shader-int64"),
        (wgpu::Features::PIPELINE_CACHE, "pipeline-cache"),
    ] {
        if f.contains(flag) {
            features.push(name.to_string());
        }
    }
    let cooperative_matrix = if f.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX) {
        adapter
            .cooperative_matrix_properties()
            .iter()
            .map(|p| {
                format!(
                    "{}x{}x{} {:?}→{:?}",
                    p.m_size, p.n_size, p.k_size, p.ab_type, p.cr_type
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    AdapterSummary {
        index,
        name: info.name.clone(),
        vendor: vendor_name(info.vendor),
        device_type: format!("{:?}", info.device_type),
        backend: format!("{:?}", info.backend),
        driver: info.driver.clone(),
        driver_info: info.driver_info.clone(),
        features,
        cooperative_matrix,
        subgroup_sizes: [info.subgroup_min_size, info.subgroup_max_size],
        limits: AdapterLimits {
            max_buffer_size: l.max_buffer_size,
            max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
            max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
            max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
        },
    }
}

/// Summaries of every adapter, compute ones numbered for `--device N`.
pub fn summaries() -> Vec<AdapterSummary> {
    let mut next = 0;
    enumerate()
        .iter()
        .map(|a| {
            let index = is_compute_backend(&a.get_info()).then(|| {
                next += 1;
                next - 1
            });
            summarize(a, index)
        })
        .collect()
}

/// Why no adapter was found, in one line of advice.
pub fn missing_advice() -> String {
    let loader = ["libvulkan.so.1", "libvulkan.so"].iter().any(|name| {
        std::fs::read_to_string("/proc/self/maps").is_ok_and(|m| m.contains(name))
            || [
                "/usr/lib/x86_64-linux-gnu",
                "/usr/lib/aarch64-linux-gnu",
                "/usr/lib64",
                "/usr/lib",
            ]
            .iter()
            .any(|d| std::path::Path::new(d).join(name).exists())
    });
    if cfg!(target_os = "linux") && !loader {
        "no wgpu adapter: the Vulkan loader (libvulkan.so.1) is not installed; install it \
         (Debian: libvulkan1) and the GPU driver's Vulkan ICD"
            .into()
    } else {
        "no wgpu adapter: a Vulkan loader is present but no driver (ICD) answered; GPU drivers \
         installed for compute only often lack their Vulkan ICD"
            .into()
    }
}
