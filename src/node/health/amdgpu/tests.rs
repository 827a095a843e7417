//! The amdgpu driver's RAS files, read from a fake sysfs.

use super::*;
use crate::node::checklist::Status;

#[test]
fn error_counts_are_read_in_the_kernels_format() {
    assert_eq!(
        parse_err_count("ue: 0\nce: 3\n"),
        Some(ErrCount { ue: 0, de: None })
    );
    assert_eq!(
        parse_err_count("ue: 2\nce: 0\nde: 1\n"),
        Some(ErrCount { ue: 2, de: Some(1) })
    );
    assert_eq!(parse_err_count("Query currently inaccessible\n"), None);
    assert_eq!(parse_err_count(""), None);
}

#[test]
fn bad_pages_are_counted_by_flag() {
    let p = parse_bad_pages(
        "card3",
        "0x00000001 : 0x00001000 : R\n0x00000002 : 0x00001000 : P\n\
         0x00000003 : 0x00001000 : R\n0x00000004 : 0x00001000 : F\nnoise\n",
    );
    assert_eq!(
        (p.retired, p.pending, p.unreservable),
        (Some(2), Some(1), Some(1))
    );
    let none = parse_bad_pages("card0", "");
    assert_eq!((none.retired, none.pending), (Some(0), Some(0)));
}

/// Files under a card's `device/ras`: (name, text).
type Ras<'a> = &'a [(&'a str, &'a str)];

/// A fake /sys/class/drm: `cards` are (name, vendor, files under device/ras).
fn sysfs(cards: &[(&str, &str, Ras)]) -> (tempfile::TempDir, Env) {
    let dir = tempfile::tempdir().unwrap();
    let drm = dir.path().join("sys/class/drm");
    for (card, vendor, ras) in cards {
        let device = drm.join(card).join("device");
        std::fs::create_dir_all(&device).unwrap();
        std::fs::write(device.join("vendor"), format!("{vendor}\n")).unwrap();
        if !ras.is_empty() {
            std::fs::create_dir_all(device.join("ras")).unwrap();
        }
        for (file, text) in *ras {
            std::fs::write(device.join("ras").join(file), text).unwrap();
        }
    }
    // Connectors and render nodes sit beside the cards and are not GPUs.
    std::fs::create_dir_all(drm.join("card0-DP-1")).unwrap();
    std::fs::create_dir_all(drm.join("renderD128")).unwrap();
    let mut env = Env::real();
    env.root = dir.path().to_path_buf();
    (dir, env)
}

const HEALTHY: &[(&str, &str)] = &[
    ("umc_err_count", "ue: 0\nce: 4\nde: 0\n"),
    ("gfx_err_count", "ue: 0\nce: 0\n"),
    ("gpu_vram_bad_pages", "0x00000010 : 0x00001000 : R\n"),
    ("features", "feature mask: 0x3fff\n"),
];

fn status(c: &Check) -> (Status, &str) {
    (c.status, c.finding.as_str())
}

#[test]
fn a_healthy_node_passes_with_retired_pages_counted() {
    let (_d, env) = sysfs(&[
        ("card0", "0x1002", HEALTHY),
        ("card1", "0x1002", HEALTHY),
        ("card2", "0x10de", &[("umc_err_count", "ue: 9\nce: 0\n")]),
    ]);
    let (gpus, pages) = read_amdgpu(&env);
    assert_eq!(
        gpus.len(),
        2,
        "the NVIDIA card and the connector are left out"
    );
    let [ecc, bad, _] = amdgpu_checks(&gpus, &pages, Some(&[]), &[]);
    assert_eq!(status(&ecc), (Status::Pass, "0 on 2 of 2 GPU(s)"));
    assert_eq!(
        status(&bad),
        (
            Status::Pass,
            "none pending on 2 of 2 GPU(s) (2 retired before)"
        )
    );
}

#[test]
fn uncorrectable_errors_in_any_block_and_pending_pages_fail() {
    let (_d, env) = sysfs(&[
        ("card0", "0x1002", HEALTHY),
        (
            "card1",
            "0x1002",
            &[
                ("umc_err_count", "ue: 0\nce: 0\n"),
                ("sdma_err_count", "ue: 2\nce: 0\n"),
                ("xgmi_wafl_err_count", "Query currently inaccessible\n"),
                (
                    "gpu_vram_bad_pages",
                    "0x00000001 : 0x00001000 : P\n0x00000002 : 0x00001000 : F\n",
                ),
            ],
        ),
    ]);
    let (gpus, pages) = read_amdgpu(&env);
    let [ecc, bad, _] = amdgpu_checks(&gpus, &pages, Some(&[]), &[]);
    assert_eq!(
        status(&ecc),
        (Status::Fail, "ue (ras/*_err_count): GPU card1: 2")
    );
    assert_eq!(
        status(&bad),
        (
            Status::Fail,
            "pending: GPU card1: 1; F (could not be reserved): GPU card1: 1"
        )
    );
}

#[test]
fn deferred_errors_warn() {
    let (_d, env) = sysfs(&[(
        "card0",
        "0x1002",
        &[
            ("umc_err_count", "ue: 0\nce: 0\nde: 3\n"),
            ("gpu_vram_bad_pages", ""),
        ],
    )]);
    let (gpus, pages) = read_amdgpu(&env);
    let [ecc, _, _] = amdgpu_checks(&gpus, &pages, Some(&[]), &[]);
    assert_eq!(
        status(&ecc),
        (
            Status::Warn,
            "0 uncorrectable; de (ras/umc_err_count): GPU card0: 3"
        )
    );
}

#[test]
fn a_card_without_ras_files_is_unknown_never_passed() {
    let (_d, env) = sysfs(&[("card0", "0x1002", &[])]);
    let (gpus, pages) = read_amdgpu(&env);
    assert_eq!(gpus.len(), 1);
    let [ecc, bad, _] = amdgpu_checks(&gpus, &pages, Some(&[]), &[]);
    assert_eq!(ecc.status, Status::Info);
    assert!(
        ecc.finding
            .starts_with("unknown: the amdgpu driver reports no RAS counts")
    );
    assert_eq!(bad.status, Status::Info);
    assert!(
        bad.finding
            .starts_with("unknown: the amdgpu driver lists no bad pages")
    );
}

#[test]
fn a_node_without_amd_cards_reads_nothing() {
    let (_d, env) = sysfs(&[("card0", "0x10de", &[])]);
    assert_eq!(read_amdgpu(&env), (Vec::new(), Vec::new()));
}

#[test]
fn processes_with_a_kfd_context_other_than_ours_fail() {
    let (d, env) = sysfs(&[("card0", "0x1002", HEALTHY)]);
    let (gpus, pages) = read_amdgpu(&env);
    let check = |env: &Env, own: &[u32]| {
        let procs = read_kfd_processes(env);
        amdgpu_checks(&gpus, &pages, procs.as_deref(), own)[2].clone()
    };
    let none = check(&env, &[]);
    assert_eq!(none.status, Status::Info);
    assert!(
        none.finding.contains("no /sys/class/kfd/kfd/proc"),
        "{}",
        none.finding
    );
    let kfd = d.path().join("sys/class/kfd/kfd/proc");
    std::fs::create_dir_all(kfd.join("4242")).unwrap();
    std::fs::create_dir_all(kfd.join("77")).unwrap();
    std::fs::create_dir_all(d.path().join("proc/4242")).unwrap();
    std::fs::write(d.path().join("proc/4242/comm"), "python3\n").unwrap();
    assert_eq!(
        status(&check(&env, &[77])),
        (Status::Fail, "pid 4242 python3")
    );
    assert_eq!(
        status(&check(&env, &[77, 4242])),
        (Status::Pass, "no other process")
    );
    std::fs::remove_dir(kfd.join("4242")).unwrap();
    assert_eq!(status(&check(&env, &[])), (Status::Fail, "pid 77 ?"));
}

/// A process is named with the cards where it holds VRAM (`vram_<gpu_id>` mapped through the
/// topology's render minors to the card listing that render node), and alone where it holds
/// none.
#[test]
fn a_process_is_named_with_the_cards_it_holds_vram_on() {
    let (d, env) = sysfs(&[("card0", "0x1002", HEALTHY), ("card1", "0x1002", HEALTHY)]);
    let w = |rel: &str, text: &str| {
        let p = d.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    for (card, minor) in [("card0", 128), ("card1", 129)] {
        std::fs::create_dir_all(
            d.path()
                .join(format!("sys/class/drm/{card}/device/drm/renderD{minor}")),
        )
        .unwrap();
    }
    let topology = "sys/class/kfd/kfd/topology/nodes";
    // Node 0 is the CPU (gpu_id 0); node 3's render node belongs to no card listed.
    w(&format!("{topology}/0/gpu_id"), "0\n");
    w(
        &format!("{topology}/0/properties"),
        "cpu_cores_count 64\ndrm_render_minor 0\n",
    );
    for (node, id, minor) in [(1, 53769, 128), (2, 4120, 129), (3, 777, 200)] {
        w(&format!("{topology}/{node}/gpu_id"), &format!("{id}\n"));
        w(
            &format!("{topology}/{node}/properties"),
            &format!("simd_count 440\ndrm_render_minor {minor}\nlocation_id 49408\n"),
        );
    }
    let proc = "sys/class/kfd/kfd/proc";
    // 4242 holds VRAM on card1 only; 99 on an unlisted render node; 31 on none.
    w(&format!("{proc}/4242/vram_53769"), "0\n");
    w(&format!("{proc}/4242/vram_4120"), "17179869184\n");
    w(&format!("{proc}/4242/sdma_4120"), "0\n");
    w(&format!("{proc}/99/vram_777"), "2097152\n");
    w(&format!("{proc}/31/vram_53769"), "0\n");
    w("proc/4242/comm", "python3\n");
    // In the order the directory lists them (by name).
    let procs = read_kfd_processes(&env).unwrap();
    let named: Vec<(&str, u32, &str)> = procs
        .iter()
        .map(|(g, p, n)| (g.as_str(), *p, n.as_str()))
        .collect();
    assert_eq!(
        named,
        [
            ("", 31, "?"),
            ("card1", 4242, "python3"),
            ("renderD200", 99, "?")
        ]
    );
    let (gpus, pages) = read_amdgpu(&env);
    let item = amdgpu_checks(&gpus, &pages, Some(&procs), &[31]);
    assert_eq!(
        status(&item[2]),
        (
            Status::Fail,
            "GPU card1: pid 4242 python3; GPU renderD200: pid 99 ?"
        )
    );
}
