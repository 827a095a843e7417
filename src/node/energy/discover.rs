//! Which energy counters this node has, best first: HPE Cray pm_counters, NVML, amdgpu's hwmon
//! energy, sampled power (amdgpu or an ACPI power meter), RAPL; each reader says why it found
//! none.

use super::*;

/// Finds the best counters on this node, else every reason there is none.
pub fn discover(env: &Env) -> Result<Meter, Vec<String>> {
    let mut why = Vec::new();
    match pm_counters(env) {
        Ok(m) => return Ok(m),
        Err(e) => why.push(e),
    }
    // NVML reads the real driver: a fake node (tests) is never mixed with it.
    if env.root == std::path::Path::new("/") {
        match nvml() {
            Ok(m) => return Ok(m),
            Err(e) => why.push(e),
        }
    } else {
        why.push(format!(
            "NVML: not read for a node under {}",
            env.root.display()
        ));
    }
    match amdgpu_hwmon(env) {
        Ok(m) => return Ok(m),
        Err(e) => why.push(e),
    }
    match sampled_power(env) {
        Ok(m) => return Ok(m),
        Err(e) => why.push(e),
    }
    match rapl(env) {
        Ok(m) => return Ok(m),
        Err(e) => why.push(e),
    }
    Err(why)
}

pub(super) fn nvml() -> Result<Meter, String> {
    let lib = nvml_wrapper::Nvml::init()
        .map_err(|e| format!("NVML: libnvidia-ml.so.1 not loaded ({e}): no NVIDIA driver"))?;
    let n = lib
        .device_count()
        .map_err(|e| format!("NVML: counting GPUs failed: {e}"))?;
    let mut counters = Vec::new();
    let mut unsupported = Vec::new();
    for i in 0..n {
        match lib
            .device_by_index(i)
            .and_then(|d| d.total_energy_consumption())
        {
            Ok(_) => counters.push(Counter {
                name: format!("gpu{i}"),
                source: Source::Nvml(i),
                joules_per_unit: 1e-3,
                wraps_at: None,
                total: true,
            }),
            Err(e) => unsupported.push(format!("GPU {i}: {e}")),
        }
    }
    if counters.is_empty() {
        return Err(if n == 0 {
            "NVML: loaded, but it sees no GPU".into()
        } else {
            format!(
                "NVML: no GPU has an energy counter (Volta and later): {}",
                unsupported.join("; ")
            )
        });
    }
    if !unsupported.is_empty() {
        // A partial sum would understate the node's GPUs: refuse it.
        return Err(format!(
            "NVML: {} of {n} GPUs have no energy counter: {}",
            unsupported.len(),
            unsupported.join("; ")
        ));
    }
    Ok(Meter {
        method: Method::Nvml,
        scope: Scope::Gpu,
        counters,
        freshness: None,
        nvml: Some(NvmlLib(std::sync::Arc::new(lib))),
        sampler: None,
    })
}

fn pm_counters(env: &Env) -> Result<Meter, String> {
    let dir = env.sys("/sys/cray/pm_counters");
    if !dir.is_dir() {
        return Err("pm_counters: no /sys/cray/pm_counters (not an HPE Cray EX node)".into());
    }
    let node = dir.join("energy");
    read_number(&node).map_err(|e| format!("pm_counters: {e}"))?;
    let mut counters = vec![Counter {
        name: "energy".into(),
        source: Source::File(node),
        joules_per_unit: 1.0,
        wraps_at: None,
        total: true,
    }];
    let mut extra: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("pm_counters: {}: {e}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with("_energy"))
        .collect();
    extra.sort();
    for name in extra {
        let path = dir.join(&name);
        if read_number(&path).is_ok() {
            counters.push(Counter {
                name,
                source: Source::File(path),
                joules_per_unit: 1.0,
                wraps_at: None,
                total: false,
            });
        }
    }
    let freshness = Some(dir.join("freshness")).filter(|p| read_number(p).is_ok());
    Ok(Meter {
        method: Method::PmCounters,
        scope: Scope::Node,
        counters,
        freshness,
        nvml: None,
        sampler: None,
    })
}

/// Every AMD card (`card0` …) with its hwmon directories, sorted.
fn amd_cards(env: &Env) -> Vec<(String, Vec<PathBuf>)> {
    let drm = env.sys("/sys/class/drm");
    let mut cards: Vec<(String, PathBuf)> = std::fs::read_dir(&drm)
        .map(|d| {
            d.filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().into_string().ok()?;
                (name.starts_with("card") && !name.contains('-')).then(|| (name, e.path()))
            })
            .collect()
        })
        .unwrap_or_default();
    cards.sort();
    cards
        .into_iter()
        .filter_map(|(card, path)| {
            let dev = path.join("device");
            let amd = std::fs::read_to_string(dev.join("vendor"))
                .is_ok_and(|v| v.trim().eq_ignore_ascii_case("0x1002"));
            let mut hw: Vec<PathBuf> = std::fs::read_dir(dev.join("hwmon"))
                .ok()?
                .filter_map(|e| Some(e.ok()?.path()))
                .collect();
            hw.sort();
            amd.then_some((card, hw))
        })
        .collect()
}

/// Power read at 10 Hz and integrated: every AMD GPU's `power1_average` (or `power1_input`),
/// else the ACPI power meters' hwmon.
fn sampled_power(env: &Env) -> Result<Meter, String> {
    let mut names = Vec::new();
    let mut files = Vec::new();
    for (card, hw) in amd_cards(env) {
        if let Some(f) = hw
            .iter()
            .flat_map(|h| [h.join("power1_average"), h.join("power1_input")])
            .find(|f| read_number(f).is_ok())
        {
            names.push(card);
            files.push(f);
        }
    }
    let (method, scope) = if files.is_empty() {
        for h in env.list("/sys/class/hwmon") {
            let dir = env.sys(&format!("/sys/class/hwmon/{h}"));
            let meter =
                std::fs::read_to_string(dir.join("name")).is_ok_and(|n| n.trim() == "power_meter");
            let file = dir.join("power1_average");
            if meter && read_number(&file).is_ok() {
                names.push(h);
                files.push(file);
            }
        }
        (Method::PowerMeterSampled, Scope::Node)
    } else {
        (Method::AmdgpuPowerSampled, Scope::Gpu)
    };
    if files.is_empty() {
        return Err(
            "sampled power: no AMD GPU power1_average and no ACPI power meter in /sys/class/hwmon"
                .into(),
        );
    }
    let sampler = sampled::Sampler::start(files);
    Ok(Meter {
        method,
        scope,
        counters: names
            .into_iter()
            .enumerate()
            .map(|(i, name)| Counter {
                name,
                source: Source::Sampled(i),
                joules_per_unit: 1e-6,
                wraps_at: None,
                total: true,
            })
            .collect(),
        freshness: None,
        nvml: None,
        sampler: Some(SamplerRef(sampler)),
    })
}

fn amdgpu_hwmon(env: &Env) -> Result<Meter, String> {
    let mut counters = Vec::new();
    for (card, hw) in amd_cards(env) {
        if let Some(file) = hw
            .iter()
            .map(|h| h.join("energy1_input"))
            .find(|f| read_number(f).is_ok())
        {
            counters.push(Counter {
                name: card,
                source: Source::File(file),
                joules_per_unit: 1e-6,
                wraps_at: None,
                total: true,
            });
        }
    }
    if counters.is_empty() {
        return Err("amdgpu hwmon: no AMD GPU with a readable energy1_input".into());
    }
    Ok(Meter {
        method: Method::AmdgpuHwmon,
        scope: Scope::Gpu,
        counters,
        freshness: None,
        nvml: None,
        sampler: None,
    })
}

fn rapl(env: &Env) -> Result<Meter, String> {
    let dir = env.sys("/sys/class/powercap");
    let mut zones: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().into_string().ok()?;
                // Top-level packages only (`intel-rapl:0`); `intel-rapl:0:1` is inside one.
                (name.starts_with("intel-rapl:") && name.matches(':').count() == 1)
                    .then(|| e.path())
            })
            .collect()
        })
        .unwrap_or_default();
    zones.sort();
    if zones.is_empty() {
        return Err("RAPL: no /sys/class/powercap/intel-rapl:* (most VMs have none)".into());
    }
    let mut counters = Vec::new();
    let mut unreadable = Vec::new();
    for z in zones {
        let file = z.join("energy_uj");
        match read_number(&file) {
            Ok(_) => counters.push(Counter {
                name: std::fs::read_to_string(z.join("name"))
                    .map(|n| n.trim().to_string())
                    .unwrap_or_else(|_| z.display().to_string()),
                source: Source::File(file),
                joules_per_unit: 1e-6,
                wraps_at: read_number(&z.join("max_energy_range_uj")).ok(),
                total: true,
            }),
            Err(e) => unreadable.push(e),
        }
    }
    if counters.is_empty() {
        return Err(format!(
            "RAPL: {} (energy_uj is root-only on most kernels since 2020)",
            unreadable.join("; ")
        ));
    }
    Ok(Meter {
        method: Method::Rapl,
        scope: Scope::Cpu,
        counters,
        freshness: None,
        nvml: None,
        sampler: None,
    })
}
