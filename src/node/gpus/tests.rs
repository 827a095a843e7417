use super::*;
use crate::node::env::Env;
use std::collections::BTreeMap;

/// The PCI buses of a LUMI-G node's eight MI250X GCDs.
const LUMI_BUSES: [u32; 8] = [0xc1, 0xc6, 0xc9, 0xce, 0xd1, 0xd6, 0xd9, 0xde];

/// A fake `/sys` of a LUMI-G-like node: eight MI250X GCDs as DRM cards (with their connector
/// entries, which are not GPUs) and KFD topology nodes (node 0 the CPU), plus a BMC's VGA.
pub fn lumi_g_sys(root: &Path) {
    let w = |p: &str, text: &str| {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    w(
        "sys/class/kfd/kfd/topology/nodes/0/properties",
        "cpu_cores_count 64\nsimd_count 0\n",
    );
    for (i, bus) in LUMI_BUSES.iter().enumerate() {
        let card = format!("sys/class/drm/card{}/device", i + 1);
        w(&format!("{card}/vendor"), "0x1002\n");
        w(&format!("{card}/device"), "0x7408\n");
        w(&format!("{card}/class"), "0x038000\n");
        w(
            &format!("{card}/uevent"),
            &format!("DRIVER=amdgpu\nPCI_SLOT_NAME=0000:{bus:02x}:00.0\n"),
        );
        w(&format!("{card}/mem_info_vram_total"), "68702699520\n");
        w(
            &format!("sys/class/kfd/kfd/topology/nodes/{}/properties", i + 1),
            &format!(
                "cpu_cores_count 0\nsimd_count 440\ngfx_target_version 90010\nlocation_id {}\ndomain 0\n",
                bus << 8
            ),
        );
    }
    w("sys/class/drm/card1-DP-1/status", "disconnected\n");
    // The management controller's VGA (ASPEED, vendor 0x1a03): not a GPU we measure.
    w("sys/class/drm/card0/device/vendor", "0x1a03\n");
    w("sys/class/drm/card0/device/class", "0x030000\n");
}

fn env(root: &Path, path: &str) -> Env {
    let mut vars = BTreeMap::new();
    vars.insert("PATH".into(), path.into());
    Env {
        root: root.to_path_buf(),
        vars,
        cwd: root.to_path_buf(),
    }
}

#[test]
fn a_lumi_g_node_lists_eight_gcds_from_sys_with_no_tool_and_no_vulkan() {
    let dir = tempfile::tempdir().unwrap();
    lumi_g_sys(dir.path());
    let mut gpus = list(&env(dir.path(), ""));
    assert_eq!(gpus.len(), 8, "{gpus:#?}");
    let g = &gpus[0];
    assert_eq!(g.name, "AMD Instinct MI250X");
    assert_eq!(g.arch.as_deref(), Some("gfx90a"));
    assert_eq!(g.pci.as_deref(), Some("0000:c1:00.0"));
    assert_eq!(g.memory_bytes, Some(68702699520));
    assert_eq!(g.sources, ["kfd", "sysfs-drm"]);
    assert!(g.is_cdna());
    reach(&mut gpus, &[], None);
    assert!(!gpus[7].vulkan.yes);
    assert!(
        gpus[7].vulkan.why.contains("CDNA"),
        "{}",
        gpus[7].vulkan.why
    );
    assert!(gpus[7].torch.why.contains("not looked for"));
    // A torch that is a CPU build reaches none, and says what to load.
    let cpu_torch = crate::node::TorchProbe {
        python: "python3".into(),
        found: Some(crate::node::TorchInfo {
            torch: "2.5.1".into(),
            accelerator: crate::node::TorchAccelerator::Cpu,
            ..Default::default()
        }),
        problem: None,
    };
    reach(&mut gpus, &[], Some(&cpu_torch));
    assert!(!gpus[0].torch.yes);
    assert!(
        gpus[0].torch.why.contains("apptainer exec --rocm"),
        "{}",
        gpus[0].torch.why
    );
    // A ROCm torch that sees eight devices reaches all eight.
    let rocm = crate::node::TorchProbe {
        python: "python3".into(),
        found: Some(crate::node::TorchInfo {
            torch: "2.5.1+rocm6.2".into(),
            accelerator: crate::node::TorchAccelerator::Rocm,
            devices: (0..8)
                .map(|i| crate::node::TorchDevice {
                    index: i,
                    name: "AMD Instinct MI250X".into(),
                    memory_bytes: 68702699520,
                    arch: "gfx90a".into(),
                })
                .collect(),
            ..Default::default()
        }),
        problem: None,
    };
    reach(&mut gpus, &[], Some(&rocm));
    assert!(gpus.iter().all(|g| g.torch.yes));
}

#[test]
fn vendor_tools_are_read_and_merged_with_sys_by_pci_address() {
    let dir = tempfile::tempdir().unwrap();
    lumi_g_sys(dir.path());
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    // rocm-smi's JSON (ROCm 5.x key names) for two of the GCDs, and its driver.
    let rocm = r#"{"card0": {"Card series": "AMD INSTINCT MI250X", "Card model": "0x7408",
        "PCI Bus": "0000:C1:00.0", "VRAM Total Memory (B)": "68702699520", "GFX Version": "gfx90a"},
        "card1": {"Card series": "AMD INSTINCT MI250X", "PCI Bus": "0000:C6:00.0"},
        "system": {"Driver version": "6.3.6"}}"#;
    let script = bin.join("rocm-smi");
    std::fs::write(&script, format!("#!/bin/sh\ncat <<'EOF'\n{rocm}\nEOF\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let gpus = list(&env(dir.path(), bin.to_str().unwrap()));
    assert_eq!(gpus.len(), 8, "{gpus:#?}");
    assert_eq!(gpus[0].name, "AMD INSTINCT MI250X");
    assert_eq!(gpus[0].driver.as_deref(), Some("6.3.6"));
    assert_eq!(gpus[0].sources, ["kfd", "rocm-smi", "sysfs-drm"]);
    assert_eq!(gpus[1].sources, ["kfd", "rocm-smi", "sysfs-drm"]);
    assert_eq!(gpus[2].sources, ["kfd", "sysfs-drm"]);
}

#[test]
fn nvidia_smi_lines_are_read() {
    let text = "0, NVIDIA H100 80GB HBM3, 81559, 550.54.15, 00000000:18:00.0\n\
                1, NVIDIA H100 80GB HBM3, 81559, 550.54.15, 00000000:2A:00.0\n\
                No devices were found\n";
    let g = parse_nvidia_smi(text);
    assert_eq!(g.len(), 2);
    assert_eq!(g[1].pci.as_deref(), Some("0000:2a:00.0"));
    assert_eq!(g[0].memory_bytes, Some(81559 << 20));
    assert_eq!(g[0].driver.as_deref(), Some("550.54.15"));
    let mut g = g;
    reach(&mut g, &[], None);
    assert!(g[0].vulkan.why.contains("NVIDIA_DRIVER_CAPABILITIES"));
}

/// An NVIDIA node whose driver has no Vulkan ICD: `nvidia-smi` on PATH lists its GPUs, merged
/// with `/sys` by PCI address.
#[test]
fn a_fake_nvidia_smi_lists_the_gpus() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let script = bin.join("nvidia-smi");
    std::fs::write(
        &script,
        "#!/bin/sh\nfor i in 0 1 2 3 4 5 6 7; do echo \"$i, NVIDIA H100 80GB HBM3, 81559, \
         550.54.15, 00000000:1$i:00.0\"; done\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let card = dir.path().join("sys/class/drm/card0/device");
    std::fs::create_dir_all(&card).unwrap();
    std::fs::write(card.join("vendor"), "0x10de\n").unwrap();
    std::fs::write(card.join("device"), "0x2330\n").unwrap();
    std::fs::write(card.join("class"), "0x030200\n").unwrap();
    std::fs::write(card.join("uevent"), "PCI_SLOT_NAME=0000:10:00.0\n").unwrap();
    let gpus = list(&env(dir.path(), bin.to_str().unwrap()));
    assert_eq!(gpus.len(), 8, "{gpus:#?}");
    assert_eq!(gpus[0].name, "NVIDIA H100 80GB HBM3");
    assert_eq!(gpus[0].sources, ["nvidia-smi", "sysfs-drm"]);
    assert_eq!(gpus[7].sources, ["nvidia-smi"]);
}

#[test]
fn amd_smi_and_broken_outputs() {
    let g = parse_amd_smi_list(r#"[{"gpu": 0, "bdf": "0000:0c:00.0", "uuid": "x"}]"#);
    assert_eq!(g[0].pci.as_deref(), Some("0000:0c:00.0"));
    assert!(parse_amd_smi_list("not json").is_empty());
    assert!(parse_rocm_smi("{").is_empty());
    assert!(parse_nvidia_smi("garbage, line").is_empty());
    assert_eq!(norm_pci("C1:00.0").as_deref(), Some("0000:c1:00.0"));
    assert_eq!(norm_pci("nonsense"), None);
}
