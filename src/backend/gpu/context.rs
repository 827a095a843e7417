//! An opened wgpu device: buffers, pipelines, timed dispatches and readback.

use crate::node::adapters::{AdapterSummary, summarize};
use anyhow::{Context, anyhow};
use std::time::Duration;
use wgpu::util::DeviceExt;

/// A device opened with the adapter's own limits, ready for compute.
pub struct GpuContext {
    /// What the adapter is.
    pub summary: AdapterSummary,
    device: wgpu::Device,
    queue: wgpu::Queue,
    timestamps: bool,
    f16: bool,
    coop: Result<u32, String>,
    /// The smallest subgroup width, where the device has subgroup operations (SUBGROUP).
    subgroup_min: Option<u32>,
    /// Tests only: cooperative-matrix kernels are lowered to plain WGSL (`coop_emu`).
    #[cfg(test)]
    emulate_coop: bool,
}

/// Whether an adapter can run the 16×16×16 f16 → f32 cooperative-matrix kernel: `Ok(subgroup
/// size)` or the reason it cannot, for the results.
pub fn coop_support(
    features: wgpu::Features,
    properties: &[wgpu::CooperativeMatrixProperties],
    subgroup_sizes: [u32; 2],
) -> Result<u32, String> {
    let needs = wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX | wgpu::Features::SHADER_F16;
    if !features.contains(needs) {
        return Err(
            "the adapter exposes no cooperative matrix (EXPERIMENTAL_COOPERATIVE_MATRIX \
                    with SHADER_F16)"
                .into(),
        );
    }
    let shape = properties.iter().any(|p| {
        (p.m_size, p.n_size, p.k_size) == (16, 16, 16)
            && p.ab_type == wgpu::CooperativeScalarType::F16
            && p.cr_type == wgpu::CooperativeScalarType::F32
    });
    if !shape {
        return Err("no 16×16×16 f16 → f32 cooperative-matrix configuration".into());
    }
    match subgroup_sizes {
        [min, max] if min == max && min > 0 => Ok(min),
        [min, max] => Err(format!(
            "the subgroup size varies ({min}–{max}); the cooperative kernel needs one fixed size"
        )),
    }
}

fn scope_error(e: Option<wgpu::Error>) -> anyhow::Result<()> {
    match e {
        None => Ok(()),
        Some(e) => Err(anyhow!("{e}")),
    }
}

impl GpuContext {
    /// Opens `adapter` (compute index `index`) with its limits and timestamp queries if offered.
    pub fn open(adapter: &wgpu::Adapter, index: usize) -> anyhow::Result<Self> {
        let summary = summarize(adapter, Some(index));
        let offered = adapter.features();
        let timestamps = offered.contains(wgpu::Features::TIMESTAMP_QUERY);
        let f16 = offered.contains(wgpu::Features::SHADER_F16);
        let info = adapter.get_info();
        let coop = coop_support(
            offered,
            &adapter.cooperative_matrix_properties(),
            [info.subgroup_min_size, info.subgroup_max_size],
        );
        let mut required_features = offered
            & (wgpu::Features::TIMESTAMP_QUERY
                | wgpu::Features::SHADER_F16
                | wgpu::Features::SUBGROUP);
        let subgroup_min = offered
            .contains(wgpu::Features::SUBGROUP)
            .then_some(info.subgroup_min_size)
            .filter(|&n| n > 0);
        if coop.is_ok() {
            required_features |= wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX;
        }
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("hpcready"),
            required_features,
            required_limits: adapter.limits(),
            // SAFETY: experimental features are only used when the adapter advertises them, for
            // the cooperative-matrix kernel, whose output is verified before it is timed.
            experimental_features: if coop.is_ok() {
                unsafe { wgpu::ExperimentalFeatures::enabled() }
            } else {
                wgpu::ExperimentalFeatures::disabled()
            },
            ..Default::default()
        }))
        .with_context(|| format!("opening {} ({:?})", summary.name, summary.backend))?;
        // Errors are caught with error scopes; anything else is reported, not a panic.
        device.on_uncaptured_error(std::sync::Arc::new(|e| crate::say!("wgpu error: {e}")));
        Ok(Self {
            summary,
            device,
            queue,
            timestamps,
            f16,
            coop,
            subgroup_min,
            #[cfg(test)]
            emulate_coop: false,
        })
    }

    /// `timestamp-query` or `wall-clock`: how this device's kernels are timed, for variants.
    pub fn timing_name(&self) -> &'static str {
        if self.timestamps {
            "timestamp-query"
        } else {
            "wall-clock"
        }
    }

    /// Whether times come from the device's timestamp queries.
    pub fn has_timestamps(&self) -> bool {
        self.timestamps
    }

    /// The subgroup size for the cooperative-matrix kernel, or why it cannot run here.
    pub fn coop(&self) -> Result<u32, &str> {
        self.coop.as_ref().copied().map_err(String::as_str)
    }

    /// Tests only: from now on the cooperative-matrix kernels are chosen as on a device with
    /// 32-wide subgroups and run lowered to plain WGSL, so their logic is checked on lavapipe.
    #[cfg(test)]
    pub(super) fn emulate_coop(&mut self) {
        self.coop = Ok(32);
        self.emulate_coop = true;
    }

    /// The smallest subgroup width, where subgroup operations (SUBGROUP) are enabled.
    pub fn subgroup_min(&self) -> Option<u32> {
        self.subgroup_min
    }

    /// Whether f16 kernels can run (SHADER_F16).
    pub fn has_f16(&self) -> bool {
        self.f16
    }

    /// The largest storage-buffer binding, bytes.
    pub fn max_binding(&self) -> u64 {
        self.device.limits().max_storage_buffer_binding_size
    }

    /// Workgroup (shared) memory per workgroup, bytes.
    pub fn max_workgroup_memory(&self) -> u32 {
        self.device.limits().max_compute_workgroup_storage_size
    }

    /// Workgroups allowed per dispatch dimension.
    pub fn max_groups(&self) -> u32 {
        self.device.limits().max_compute_workgroups_per_dimension
    }

    /// A storage buffer holding `data`.
    pub fn storage(&self, label: &str, data: &[u8]) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: data,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
            })
    }

    /// A zeroed storage buffer of `size` bytes.
    pub fn storage_zeroed(&self, label: &str, size: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// A uniform buffer holding `data`.
    pub fn uniform(&self, label: &str, data: &[u8]) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: data,
                usage: wgpu::BufferUsages::UNIFORM,
            })
    }

    /// Compiles `source` (WGSL, entry point `main`) and binds `buffers` to group 0 in order.
    pub fn pipeline(
        &self,
        label: &str,
        source: &str,
        buffers: &[&wgpu::Buffer],
    ) -> anyhow::Result<(wgpu::ComputePipeline, wgpu::BindGroup)> {
        #[cfg(test)]
        let lowered;
        #[cfg(test)]
        let source = if self.emulate_coop && source.contains("enable wgpu_cooperative_matrix;") {
            lowered = super::coop_emu::lower(source).map_err(|e| anyhow!("{label}: {e}"))?;
            lowered.as_str()
        } else {
            source
        };
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        // SAFETY: our kernels are trusted code: every storage access is guarded by an explicit
        // bounds test in the kernel (odd sizes are verified on lavapipe in tests), every loop has a
        // finite trip count, and every divisor is a nonzero constant. Without naga's injected
        // checks (index clamping, loop-bounding counters, division guards) the driver's compiler
        // can unroll the register-tiled loops; with them, local arrays fall back to memory.
        // A kernel file overridden through HPCREADY_KERNEL_DIR is not our reviewed code: it runs
        // with every runtime check on.
        let checks = if super::kernel_override(label).is_some() {
            wgpu::ShaderRuntimeChecks::checked()
        } else {
            wgpu::ShaderRuntimeChecks::unchecked()
        };
        let module = unsafe {
            self.device.create_shader_module_trusted(
                wgpu::ShaderModuleDescriptor {
                    label: Some(label),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                },
                checks,
            )
        };
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
        let layout = pipeline.get_bind_group_layout(0);
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout: &layout,
            entries: &entries,
        });
        scope_error(pollster::block_on(scope.pop()))
            .with_context(|| format!("building {label}"))?;
        Ok((pipeline, bind))
    }

    /// Runs `iterations` dispatches of `groups` in one compute pass and waits. Returns the pass's
    /// device time from timestamp queries when the device has them.
    pub fn dispatch(
        &self,
        pipeline: &wgpu::ComputePipeline,
        bind: &wgpu::BindGroup,
        groups: (u32, u32, u32),
        iterations: u64,
    ) -> anyhow::Result<Option<Duration>> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let queries = self.timestamps.then(|| {
            let set = self.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            });
            let resolve = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps resolve"),
                size: 16,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            (set, resolve)
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("timed"),
                timestamp_writes: queries.as_ref().map(|(set, _)| {
                    wgpu::ComputePassTimestampWrites {
                        query_set: set,
                        beginning_of_pass_write_index: Some(0),
                        end_of_pass_write_index: Some(1),
                    }
                }),
            });
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, bind, &[]);
            for _ in 0..iterations {
                pass.dispatch_workgroups(groups.0, groups.1, groups.2);
            }
        }
        if let Some((set, resolve)) = &queries {
            encoder.resolve_query_set(set, 0..2, resolve, 0);
        }
        self.queue.submit([encoder.finish()]);
        self.wait()?;
        scope_error(pollster::block_on(scope.pop())).context("running a kernel")?;
        let Some((_, resolve)) = queries else {
            return Ok(None);
        };
        // Copy in a separate encoder: Vulkan timestamps can read 0 when resolve and copy share one.
        let bytes = self.read(&resolve, 16)?;
        let t: &[u64] = bytemuck::cast_slice(&bytes);
        let ticks = t[1].saturating_sub(t[0]);
        let ns = ticks as f64 * self.queue.get_timestamp_period() as f64;
        if ns <= 0.0 {
            return Err(anyhow!(
                "the device's timestamps read zero; cannot time on this adapter"
            ));
        }
        Ok(Some(Duration::from_nanos(ns as u64)))
    }

    fn wait(&self) -> anyhow::Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| anyhow!("waiting for the device: {e}"))
    }

    /// Writes `data` at the start of `buffer` and waits until the device has it.
    pub fn write(&self, buffer: &wgpu::Buffer, data: &[u8]) -> anyhow::Result<()> {
        self.queue.write_buffer(buffer, 0, data);
        self.queue.submit([]);
        self.wait()
    }

    /// Copies the first `size` bytes of `buffer` back to the host.
    pub fn read(&self, buffer: &wgpu::Buffer, size: u64) -> anyhow::Result<Vec<u8>> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, size);
        self.queue.submit([encoder.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv()
            .map_err(|_| anyhow!("the readback never completed"))?
            .map_err(|e| anyhow!("mapping the readback buffer: {e}"))?;
        let data = staging
            .get_mapped_range(..)
            .map_err(|e| anyhow!("{e:?}"))?
            .to_vec();
        staging.unmap();
        Ok(data)
    }
}
