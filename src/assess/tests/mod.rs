mod allreduce;

use super::*;
use crate::bench::verify::Verification;
use crate::bench::{Throughput, Unit, Work};
use crate::node::Inventory;
use crate::profiles::lookup;
use crate::results::TimingSource;
use crate::stats::summarize;

fn measurement(bench: BenchKind, dtype: DType, shape: Shape, tflops: f64, ok: bool) -> Measurement {
    let unit = Unit::for_bench(bench);
    Measurement {
        bench,
        backend: "cpu".into(),
        device_kind: crate::results::DeviceKind::Cpu,
        family: crate::results::MethodFamily::OwnKernel,
        device: "Test CPU".into(),
        method: "cpu/test".into(),
        variant: "fixed".into(),
        dtype,
        shape,
        threads: Some(2),
        started_at: "2026-11-23T00:00:00Z".into(),
        timing: TimingSource::WallClock,
        iterations_per_sample: 1,
        samples_s: vec![1.0; 3],
        stats: ok.then(|| summarize(&[1.0; 3]).unwrap()),
        work: Work::default(),
        throughput: ok.then_some(Throughput {
            value: tflops,
            unit,
        }),
        verification: Verification {
            passed: ok,
            max_rel_error: if ok { 1e-7 } else { 0.5 },
            tolerance: 1e-4,
            checked: 1,
            total: 1,
            reference: "test".into(),
            first_failure: (!ok).then(|| "C[0][0]: got 1, expected 2".into()),
        },
        error: None,
        collective: None,
        train: None,
        energy: None,
    }
}

fn results(ms: Vec<Measurement>) -> Results {
    let mut r = Results::new(
        Inventory::fixture(),
        vec!["hpcready".into()],
        Some("quick".into()),
    );
    r.planned = ms.len();
    r.measurements = ms;
    r.complete = true;
    r
}

fn cpu_run() -> Results {
    results(vec![
        measurement(
            BenchKind::Peak,
            DType::F32,
            Shape::Peak { threads: 1 },
            0.1,
            true,
        ),
        measurement(
            BenchKind::Peak,
            DType::F32,
            Shape::Peak { threads: 2 },
            0.2,
            true,
        ),
        measurement(
            BenchKind::Matmul,
            DType::F32,
            Shape::square(256),
            0.15,
            true,
        ),
        measurement(
            BenchKind::Matmul,
            DType::F32,
            Shape::square(1024),
            0.18,
            true,
        ),
        measurement(
            BenchKind::Membw,
            DType::Bytes,
            Shape::Membw { bytes: 1 << 28 },
            20.0,
            true,
        ),
    ])
}

#[test]
fn cpu_matmul_is_compared_by_fraction_of_peak() {
    let p5 = lookup("aws-p5.48xlarge").unwrap();
    let c = compare(&cpu_run(), &p5);
    let row = c
        .rows
        .iter()
        .find(|r| r.bench == BenchKind::Matmul)
        .unwrap();
    assert_eq!(row.basis, Basis::FractionOfPeak);
    assert_eq!(row.ours_at.as_deref(), Some("m=1024 n=1024 k=1024"));
    assert!((row.our_fraction_of_peak.unwrap() - 0.9).abs() < 1e-12);
    let theirs = row.baseline.as_ref().unwrap().fraction_of_peak.unwrap();
    assert!((theirs - 794.5 / 989.0).abs() < 1e-12);
    assert!((row.ratio.unwrap() - 0.9 / theirs).abs() < 1e-12);
    assert_eq!(row.verdict, Verdict::Faster);
}

#[test]
fn peak_is_compared_with_the_node_datasheet_peak() {
    let p5 = lookup("aws-p5.48xlarge").unwrap();
    let c = compare(&cpu_run(), &p5);
    let row = c.rows.iter().find(|r| r.bench == BenchKind::Peak).unwrap();
    assert_eq!(row.basis, Basis::PeakVsPeak);
    assert_eq!(row.baseline.as_ref().unwrap().value, 8.0 * 67.0);
    assert!((row.ratio.unwrap() - 0.2 / 536.0).abs() < 1e-15);
    assert_eq!(row.verdict, Verdict::MuchSlower);
}

#[test]
fn membw_is_context_only_and_verdict_names_the_missing_accelerator() {
    let p5 = lookup("aws-p5.48xlarge").unwrap();
    let c = compare(&cpu_run(), &p5);
    let row = c.rows.iter().find(|r| r.bench == BenchKind::Membw).unwrap();
    assert_eq!((row.basis, row.ratio), (Basis::ContextOnly, None));
    assert_eq!(c.readiness, Readiness::NotReady);
    assert!(
        c.reasons[0].starts_with("no accelerator on this node"),
        "{:?}",
        c.reasons
    );
    assert!(
        c.headline.contains("0.180 TFLOP/s of f32 matmul"),
        "{}",
        c.headline
    );
    assert!(
        c.headline.contains("90% of its own measured peak"),
        "{}",
        c.headline
    );
}

#[test]
fn suspect_and_invalid_measurements_are_never_scored() {
    let mut run = cpu_run();
    run.measurements.push(measurement(
        BenchKind::Matmul,
        DType::F32,
        Shape::square(512),
        5.0,
        true,
    ));
    run.measurements.push(measurement(
        BenchKind::Matmul,
        DType::F32,
        Shape::square(2048),
        0.0,
        false,
    ));
    let c = compare(&run, &lookup("aws-p5.48xlarge").unwrap());
    let row = c
        .rows
        .iter()
        .find(|r| r.bench == BenchKind::Matmul)
        .unwrap();
    assert_eq!(row.ours.unwrap().value, 0.18);
    assert_eq!(c.suspects.len(), 1);
    assert!(c.suspects[0].contains("m=512"));
    assert_eq!(c.invalid.len(), 1);
    assert!(c.invalid[0].contains("first at C[0][0]"), "{:?}", c.invalid);
    assert!(
        c.reasons
            .iter()
            .any(|r| r.contains("1 measurement(s) failed"))
    );
}

#[test]
fn leonardo_without_peaks_gives_no_ratio() {
    let c = compare(&cpu_run(), &lookup("leonardo-booster").unwrap());
    let peak = c.rows.iter().find(|r| r.bench == BenchKind::Peak).unwrap();
    assert_eq!(
        (peak.basis, peak.verdict),
        (Basis::NoReference, Verdict::NotComparable)
    );
}

#[test]
fn incomplete_runs_say_so() {
    let mut run = cpu_run();
    run.complete = false;
    run.planned = 14;
    let c = compare(&run, &lookup("lumi-g").unwrap());
    assert!(
        c.reasons.iter().any(|r| r.contains("5 of 14 planned")),
        "{:?}",
        c.reasons
    );
}

#[test]
fn verdict_thresholds() {
    assert_eq!(Verdict::from_ratio(1.1), Verdict::Faster);
    assert_eq!(Verdict::from_ratio(0.9), Verdict::OnPar);
    assert_eq!(Verdict::from_ratio(0.89), Verdict::Slower);
    assert_eq!(Verdict::from_ratio(0.49), Verdict::MuchSlower);
    assert_eq!(percent(0.000373), "0.037%");
    assert_eq!(percent(0.893), "89%");
}

#[test]
fn gpu_figures_are_compared_per_accelerator() {
    let mut m = measurement(
        BenchKind::Matmul,
        DType::F32,
        Shape::square(4096),
        33.5,
        true,
    );
    m.backend = "gpu".into();
    m.device_kind = crate::results::DeviceKind::Gpu;
    m.device = "NVIDIA H100 80GB HBM3 (Vulkan, 550.54)".into();
    let c = compare(&results(vec![m]), &lookup("aws-p5.48xlarge").unwrap());
    assert!(
        c.headline
            .contains("on one device: 50% of one NVIDIA H100 SXM 80GB's f32 peak (67 TFLOP/s"),
        "{}",
        c.headline
    );
}

fn on_gpu(mut m: Measurement, method: &str) -> Measurement {
    m.backend = "gpu".into();
    m.device_kind = crate::results::DeviceKind::Gpu;
    m.device = "NVIDIA H100 80GB HBM3 (Vulkan, 580.159.04)".into();
    m.method = method.into();
    m
}

#[test]
fn gpu_kernels_are_not_compared_like_for_like_with_vendor_libraries() {
    let ms = vec![
        on_gpu(
            measurement(
                BenchKind::Peak,
                DType::F32,
                Shape::Peak { threads: 1 },
                53.6,
                true,
            ),
            "wgpu/fma-chains",
        ),
        on_gpu(
            measurement(
                BenchKind::Attention,
                DType::F16,
                Shape::square(4096),
                37.0,
                true,
            ),
            "wgpu/attention-coop",
        ),
        on_gpu(
            measurement(
                BenchKind::Matmul,
                DType::F32,
                Shape::square(4096),
                36.9,
                true,
            ),
            "wgpu/matmul-tiled",
        ),
    ];
    let mut profile = lookup("aws-p5.48xlarge").unwrap();
    let c = compare(&results(ms.clone()), &profile);
    let row = |c: &Comparison, bench, dtype| {
        c.rows
            .iter()
            .find(|r| r.bench == bench && r.dtype == dtype)
            .cloned()
            .unwrap()
    };
    // FlashAttention's f16 figure beside our WGSL kernel: no f16 peak of ours, so context only.
    let att = row(&c, BenchKind::Attention, DType::F16);
    assert_eq!(att.basis, Basis::ContextOnly, "{att:?}");
    assert_eq!(att.ratio, None);
    // f32 matmul: fractions of each machine's own peak.
    assert_eq!(
        row(&c, BenchKind::Matmul, DType::F32).basis,
        Basis::FractionOfPeak
    );
    // A baseline measured with the same kernels (e.g. `baselines save`) is like for like.
    for r in &mut profile.references {
        if r.bench == "attention" && r.dtype == "f16" {
            r.method = "wgpu/attention-coop on an H100, hpcready 0.1.0".into();
            r.tool = "wgpu/attention-coop".into();
        }
    }
    let c = compare(&results(ms), &profile);
    assert_eq!(
        row(&c, BenchKind::Attention, DType::F16).basis,
        Basis::LikeForLike
    );
}

#[test]
fn gpu_copy_bandwidth_is_compared_with_the_datasheet() {
    let m = on_gpu(
        measurement(
            BenchKind::Membw,
            DType::Bytes,
            Shape::Membw { bytes: 1 << 31 },
            2961.0,
            true,
        ),
        "wgpu/copy",
    );
    let c = compare(&results(vec![m]), &lookup("aws-p5.48xlarge").unwrap());
    let row = &c.rows[0];
    assert_eq!(row.basis, Basis::PeakVsPeak);
    let ratio = row.ratio.unwrap();
    assert!((ratio - 2961.0 / 3350.0).abs() < 1e-9, "{ratio}");
}

/// One MI250X GCD copies from its half of the package's HBM: compared with half the package's
/// datasheet bandwidth, as its peak is.
#[test]
fn a_gcd_copy_is_compared_with_its_share_of_the_package_bandwidth() {
    let m = on_gpu(
        measurement(
            BenchKind::Membw,
            DType::Bytes,
            Shape::Membw { bytes: 1 << 31 },
            1400.0,
            true,
        ),
        "wgpu/copy",
    );
    let profile = lookup("lumi-g").unwrap();
    let package = profile.accelerator.as_ref().unwrap();
    let per_gcd = package.memory_bw_gbs.as_ref().unwrap().value / 2.0;
    assert_eq!(package.devices_per_accelerator, 2);
    let c = compare(&results(vec![m]), &profile);
    let row = &c.rows[0];
    assert_eq!(row.basis, Basis::PeakVsPeak);
    assert!(
        (row.ratio.unwrap() - 1400.0 / per_gcd).abs() < 1e-9,
        "{row:?}"
    );
    assert!(row.baseline.as_ref().unwrap().what.contains("÷ 2 devices"));
}

#[test]
fn a_gpu_is_compared_with_one_gcd_of_a_multi_die_package() {
    let m = on_gpu(
        measurement(
            BenchKind::Peak,
            DType::F32,
            Shape::Peak { threads: 1 },
            20.0,
            true,
        ),
        "wgpu/fma-chains",
    );
    let c = compare(&results(vec![m]), &lookup("lumi-g").unwrap());
    let row = &c.rows[0];
    assert_eq!(row.basis, Basis::PeakVsPeak);
    // One GCD has half an MI250X's 47.9 TFLOP/s.
    let base = row.baseline.as_ref().unwrap();
    assert!((base.value - 47.9 / 2.0).abs() < 1e-9, "{base:?}");
    assert!(base.what.contains("÷ 2 devices"), "{}", base.what);
}

#[test]
fn categories_score_compute_attention_and_the_environment() {
    use crate::node::checklist::{Check, Status};
    let check = |id: &str, status| Check {
        id: id.into(),
        item: id.into(),
        status,
        finding: "f".into(),
        advice: "a".into(),
    };
    let mut r = results(vec![measurement(
        BenchKind::Matmul,
        DType::F32,
        Shape::square(512),
        0.18,
        true,
    )]);
    // A baseline measured with the same method: like for like, on par.
    let mut profile = lookup("aws-p5.48xlarge").unwrap();
    profile.references.push(crate::profiles::Reference {
        bench: "matmul".into(),
        dtype: "f32".into(),
        params: "m=512 n=512 k=512".into(),
        value: 0.18,
        unit: "TFLOP/s".into(),
        per: "node".into(),
        method: "cpu/test — fixed".into(),
        tool: "cpu/test".into(),
        hpcready_method: None,
        source: "S1".into(),
        uncertain: false,
        note: None,
        spread: None,
    });
    r.node.checklist = vec![check("mpi", Status::Warn), check("cpu-arch", Status::Pass)];
    let c = compare(&r, &profile);
    let cat = |name: &str| {
        c.categories
            .iter()
            .find(|x| x.name == name)
            .unwrap()
            .clone()
    };
    assert_eq!(cat("compute").status, Some(Readiness::Ready));
    assert!(
        cat("compute").basis.contains("like-for-like ratio 1.00×"),
        "{:?}",
        cat("compute")
    );
    assert_eq!(cat("attention").status, None);
    assert_eq!(cat("communication").status, None);
    assert_eq!(cat("environment").status, Some(Readiness::ReadyWithChanges));
    assert!(cat("environment").basis.contains("warn: mpi"));
    r.node.checklist.push(check("containers", Status::Fail));
    let c = compare(&r, &profile);
    assert_eq!(c.readiness, Readiness::NotReady, "{:?}", c.reasons);
    assert!(c.reasons.iter().any(|x| x.contains("fail: containers")));
}

/// A LUMI-G-like node: eight MI250X GCDs listed by the system, none seen by Vulkan, no torch:
/// the verdict names them and why each path failed, never "no accelerator".
#[test]
fn gpus_no_path_measured_are_named_with_why() {
    use crate::node::gpus::{GpuListing, reach};
    let mut run = cpu_run();
    run.node.gpus = (0..8)
        .map(|i| GpuListing {
            name: "AMD Instinct MI250X".into(),
            vendor: crate::node::GpuVendor::Amd,
            pci: Some(format!("0000:{:02x}:00.0", 0xc1 + i)),
            arch: Some("gfx90a".into()),
            sources: vec!["kfd".into(), "sysfs-drm".into()],
            ..GpuListing::of(crate::node::GpuVendor::Amd)
        })
        .collect();
    let no_torch = crate::node::TorchProbe {
        python: "python3".into(),
        found: None,
        problem: Some("this Python cannot import torch".into()),
    };
    reach(&mut run.node.gpus, &[], Some(&no_torch));
    let c = compare(&run, &lookup("lumi-g").unwrap());
    assert_eq!(c.readiness, Readiness::NotReady);
    let why = c
        .reasons
        .iter()
        .find(|r| r.starts_with("this node has 8 GPU(s) (AMD Instinct MI250X)"))
        .unwrap_or_else(|| panic!("{:?}", c.reasons));
    assert!(why.contains("AMD CDNA"), "{why}");
    assert!(why.contains("cannot import torch"), "{why}");
    assert!(
        !c.reasons.iter().any(|r| r.contains("no accelerator")),
        "{:?}",
        c.reasons
    );
}

fn torch_gpu(
    bench: BenchKind,
    dtype: DType,
    shape: Shape,
    tflops: f64,
    method: &str,
) -> Measurement {
    let mut m = measurement(bench, dtype, shape, tflops, true);
    m.backend = "torch".into();
    m.device_kind = crate::results::DeviceKind::Gpu;
    m.family = crate::results::MethodFamily::VendorLibrary;
    m.device = "NVIDIA H100 80GB HBM3".into();
    m.method = method.into();
    m
}

/// The framework path is compared like for like: torch.mm with mamf-finder's figure, SDPA's
/// flash forward with FlashAttention's at the same head dimension (saying FA3 is not SDPA);
/// attention forward+backward has no such figure. Our WGSL kernels on the same GPU get their
/// own row.
#[test]
fn torch_rows_are_like_for_like_with_the_published_library_figures() {
    let mm = Shape::Matmul {
        m: 2048,
        n: 2048,
        k: 13312,
    };
    let attn = |backward| Shape::Attention {
        b: 8,
        h: 16,
        s: 2048,
        d: 128,
        causal: false,
        backward,
    };
    let mut wgpu = measurement(
        BenchKind::Matmul,
        DType::F16,
        Shape::square(4096),
        60.0,
        true,
    );
    wgpu.device_kind = crate::results::DeviceKind::Gpu;
    wgpu.method = "wgpu/matmul-coop-tiled".into();
    let r = results(vec![
        torch_gpu(BenchKind::Matmul, DType::Bf16, mm, 755.0, "torch/matmul"),
        torch_gpu(BenchKind::Matmul, DType::F16, mm, 700.0, "torch/matmul"),
        wgpu,
        torch_gpu(
            BenchKind::Attention,
            DType::F16,
            attn(false),
            324.0,
            "torch/sdpa-flash",
        ),
        torch_gpu(
            BenchKind::Attention,
            DType::Bf16,
            attn(true),
            300.0,
            "torch/sdpa-flash",
        ),
    ]);
    let c = compare(&r, &lookup("h100-sxm").unwrap());
    let row = |bench, dtype, method: &str| {
        c.rows
            .iter()
            .find(|x| {
                x.bench == bench && x.dtype == dtype && x.ours_method.as_deref() == Some(method)
            })
            .unwrap_or_else(|| panic!("{bench} {dtype} {method}: {:#?}", c.rows))
    };
    let mm_row = row(BenchKind::Matmul, DType::Bf16, "torch/matmul");
    assert_eq!(mm_row.basis, Basis::LikeForLike);
    assert!((mm_row.ratio.unwrap() - 755.0 / 794.5).abs() < 1e-12);
    assert_eq!(mm_row.verdict, Verdict::OnPar);
    // f16 and its two families: torch like for like where a figure exists, ours on its own row.
    let wgpu_row = row(BenchKind::Matmul, DType::F16, "wgpu/matmul-coop-tiled");
    assert_ne!(wgpu_row.basis, Basis::LikeForLike);
    let fwd = row(BenchKind::Attention, DType::F16, "torch/sdpa-flash");
    assert_eq!(fwd.basis, Basis::LikeForLike);
    assert_eq!(fwd.baseline.as_ref().unwrap().value, 648.0);
    assert!(
        fwd.baseline
            .as_ref()
            .unwrap()
            .what
            .contains("FlashAttention-3 is not SDPA")
    );
    let bwd = row(BenchKind::Attention, DType::Bf16, "torch/sdpa-flash");
    assert_ne!(bwd.basis, Basis::LikeForLike);
}

/// FlashAttention-3's forward figures are matched on the mask: a causal forward at head dim 128
/// gets the causal 616, a non-causal one the 648 (FLOPs halved for causal on both sides).
#[test]
fn attention_figures_are_matched_on_the_causal_mask() {
    let attn = |causal, d| Shape::Attention {
        b: 8,
        h: 16,
        s: 2048,
        d,
        causal,
        backward: false,
    };
    for (causal, d, want) in [
        (false, 128, 648.0),
        (true, 128, 616.0),
        (false, 64, 497.0),
        (true, 64, 475.0),
    ] {
        let r = results(vec![torch_gpu(
            BenchKind::Attention,
            DType::F16,
            attn(causal, d),
            300.0,
            "torch/sdpa-flash",
        )]);
        let c = compare(&r, &lookup("h100-sxm").unwrap());
        let row = c
            .rows
            .iter()
            .find(|x| x.bench == BenchKind::Attention)
            .unwrap();
        assert_eq!(row.basis, Basis::LikeForLike, "causal={causal} d={d}");
        assert_eq!(
            row.baseline.as_ref().unwrap().value,
            want,
            "causal={causal} d={d}"
        );
    }
}

/// A training step of the 1B preset on an H100 is compared with llm-foundry's MPT-1b figure in
/// model FLOP/s, saying the models and setups differ; a step of another size has no figure.
#[test]
fn a_training_step_is_compared_with_the_published_step_of_its_size() {
    let one_b = Shape::Train {
        layers: 24,
        hidden: 2048,
        heads: 16,
        vocab: 32000,
        seq: 2048,
        batch: 8,
    };
    let r = results(vec![torch_gpu(
        BenchKind::Train,
        DType::Bf16,
        one_b,
        380.0,
        "torch/train-llama",
    )]);
    let c = compare(&r, &lookup("h100-sxm").unwrap());
    let row = &c.rows[0];
    assert_eq!(row.basis, Basis::LikeForLike, "{row:#?}");
    assert_eq!(row.baseline.as_ref().unwrap().value, 413.8);
    assert!(
        row.baseline
            .as_ref()
            .unwrap()
            .what
            .contains("MPT of the same depth")
    );
    // Beside a faster single-GPU step, the sharded (FSDP2) step is the one compared, as
    // llm-foundry's figure was measured sharded.
    let r = results(vec![
        torch_gpu(
            BenchKind::Train,
            DType::Bf16,
            one_b,
            400.0,
            "torch/train-llama",
        ),
        torch_gpu(
            BenchKind::Train,
            DType::Bf16,
            one_b,
            350.0,
            "torch/train-llama-fsdp",
        ),
    ]);
    let c = compare(&r, &lookup("h100-sxm").unwrap());
    let row = &c.rows[0];
    assert_eq!(row.ours_method.as_deref(), Some("torch/train-llama-fsdp"));
    assert!(
        row.baseline
            .as_ref()
            .unwrap()
            .what
            .contains("sharded with FSDP2"),
        "{row:#?}"
    );
    let small = Shape::Train {
        layers: 2,
        hidden: 128,
        heads: 4,
        vocab: 512,
        seq: 128,
        batch: 4,
    };
    let r = results(vec![torch_gpu(
        BenchKind::Train,
        DType::Bf16,
        small,
        1.0,
        "torch/train-llama",
    )]);
    let c = compare(&r, &lookup("h100-sxm").unwrap());
    assert_eq!(c.rows[0].basis, Basis::NoReference);
}
