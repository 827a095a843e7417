//! GPU kernels on whatever adapter the machine has; in CI that is Mesa's lavapipe. With
//! `HPCREADY_REQUIRE_GPU_TESTS=1` (set by `.ci/test`), a missing adapter fails these tests
//! instead of skipping them.

use super::*;
use crate::bench::{BenchKind, Case, DType, Shape};

/// The first compute adapter, software ones included (tests may use lavapipe).
fn backend() -> Option<GpuBackend> {
    match open(&DeviceChoice::Index(0)) {
        Ok(mut v) => Some(v.remove(0)),
        Err(e) => {
            assert!(
                std::env::var_os("HPCREADY_REQUIRE_GPU_TESTS").is_none(),
                "no wgpu adapter, and GPU tests are required: {e:#}"
            );
            crate::say!("skipping: no wgpu adapter ({e:#})");
            None
        }
    }
}

/// Parses, validates and writes SPIR-V 1.6 (as wgpu-hal's Vulkan backend does), so shader
/// compiler failures that would only show on hardware, such as naga 30's coopStore panic, show here.
fn compile(name: &str, source: &str) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let options = naga::back::spv::Options {
        lang_version: (1, 6),
        ..Default::default()
    };
    let words = naga::back::spv::write_vec(&module, &info, &options, None)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(words.len() > 5, "{name}: empty SPIR-V");
}

#[test]
fn kernels_parse_and_validate_with_naga() {
    for (name, source) in KERNELS {
        compile(name, source);
    }
}

#[test]
fn generated_variants_validate_too() {
    let variants = [
        ("matmul f16", matmul::source(DType::F16)),
        ("matmul coop, subgroup 32", matmul::coop_source(32)),
        ("matmul coop, subgroup 64", matmul::coop_source(64)),
        ("attention d=128", attention::source(128, 2, DType::F32)),
        (
            "attention d=256 f16, 4 threads",
            attention::source(256, 4, DType::F16),
        ),
        ("attention d=8 f16", attention::source(8, 1, DType::F16)),
        (
            "attention coop d=64",
            attention::coop_source(64, H100_SHARED).unwrap(),
        ),
        (
            "attention coop d=128",
            attention::coop_source(128, H100_SHARED).unwrap(),
        ),
        (
            "attention coop d=16",
            attention::coop_source(16, H100_SHARED).unwrap(),
        ),
    ];
    for (name, source) in &variants {
        compile(name, source);
    }
    assert!(matmul::source(DType::F16).starts_with("enable f16;"));
    assert!(matmul::coop_source(64).contains("const SG: u32 = 64u;"));
    assert!(attention::source(128, 2, DType::F32).contains("const D: u32 = 128u;"));
    // One thread per row: no subgroup operation, so devices without SUBGROUP can run it.
    assert!(!attention::source(64, 1, DType::F32).contains("subgroupShuffleXor"));
    assert!(attention::source(128, 2, DType::F32).contains("const T: u32 = 2u;"));
    assert!(
        attention::coop_source(128, H100_SHARED)
            .unwrap()
            .contains("const D: u32 = 128u;")
    );
}

#[test]
fn flash_attention_splits_wide_heads_across_threads_where_subgroups_allow() {
    use attention::threads_per_row as t;
    assert_eq!(t(64, Some(32)), 1);
    assert_eq!(t(128, Some(32)), 2);
    assert_eq!(t(256, Some(8)), 4);
    assert_eq!(t(96, Some(32)), 2);
    assert_eq!(t(128, None), 1, "no subgroups: one thread per row");
    assert_eq!(
        t(256, Some(2)),
        2,
        "subgroups narrower than four lanes: at most two"
    );
}

#[test]
fn attention_on_matrix_units_needs_f16_32_lanes_and_d_a_multiple_of_16() {
    use attention::use_coop;
    assert!(use_coop(DType::F16, 64, Ok(32)).is_ok());
    assert!(use_coop(DType::F16, 128, Ok(32)).is_ok());
    let why = |dtype, d, coop| use_coop(dtype, d, coop).unwrap_err();
    assert!(why(DType::F32, 64, Ok(32)).contains("f16 inputs only"));
    assert!(why(DType::F16, 64, Ok(64)).contains("32-wide"));
    assert!(why(DType::F16, 72, Ok(32)).contains("multiple of 16"));
    assert!(why(DType::F16, 256, Ok(32)).contains("up to 128"));
    assert_eq!(why(DType::F16, 64, Err("no coop")), "no coop");
}

#[test]
fn cooperative_matrix_selection_says_why_it_is_skipped() {
    use wgpu::{CooperativeMatrixProperties as P, CooperativeScalarType as T, Features as F};
    let prop = |m, ab, cr| P {
        m_size: m,
        n_size: m,
        k_size: m,
        ab_type: ab,
        cr_type: cr,
        saturating_accumulation: false,
    };
    let coop = F::EXPERIMENTAL_COOPERATIVE_MATRIX | F::SHADER_F16;
    let good = [prop(16, T::F16, T::F32)];
    assert_eq!(coop_support(coop, &good, [32, 32]), Ok(32));
    assert!(
        coop_support(F::SHADER_F16, &good, [32, 32])
            .unwrap_err()
            .contains("no cooperative matrix")
    );
    let only8 = [prop(8, T::F16, T::F32), prop(16, T::F16, T::F16)];
    assert!(
        coop_support(coop, &only8, [32, 32])
            .unwrap_err()
            .contains("16×16×16 f16 → f32")
    );
    assert!(
        coop_support(coop, &good, [32, 64])
            .unwrap_err()
            .contains("varies (32–64)")
    );
}

#[test]
fn lavapipe_f16_matmul_records_why_matrix_units_were_not_used() {
    let Some(gpu) = backend() else { return };
    let Err(why) = gpu.context().coop() else {
        return;
    }; // hardware with matrix units
    assert!(!why.is_empty());
    if !gpu.context().has_f16() {
        return;
    }
    let case = Case {
        bench: BenchKind::Matmul,
        dtype: DType::F16,
        shape: Shape::square(16),
    };
    let kernel = gpu.prepare(&case).unwrap();
    assert_eq!(kernel.method(), "wgpu/matmul-tiled");
    assert!(
        kernel.variant().contains("matrix units not used"),
        "{}",
        kernel.variant()
    );
}

#[test]
fn every_kernel_file_is_embedded() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".wgsl"))
        .collect();
    files.sort();
    let mut embedded: Vec<String> = KERNELS.iter().map(|(n, _)| n.to_string()).collect();
    embedded.sort();
    assert_eq!(files, embedded);
}

#[test]
fn matmul_is_correct_at_odd_sizes_and_tile_multiples() {
    let Some(gpu) = backend() else { return };
    for &(m, n, k) in &[
        (33, 67, 130),
        (64, 64, 64),
        (1, 1, 1),
        (130, 33, 67),
        (128, 192, 64),
        (256, 256, 256),
        (129, 257, 31),
    ] {
        let case = Case {
            bench: BenchKind::Matmul,
            dtype: DType::F32,
            shape: Shape::Matmul { m, n, k },
        };
        let mut kernel = gpu.prepare(&case).unwrap();
        assert!(!kernel.verify().passed, "an unrun kernel must not verify");
        let t = kernel.run(2).unwrap();
        let v = kernel.verify();
        assert!(v.passed && v.is_full(), "{m}x{n}x{k}: {v:?}");
        assert!(v.max_rel_error < 1e-5, "{m}x{n}x{k}: {}", v.max_rel_error);
        if gpu.context().has_timestamps() {
            assert!(
                t.is_some_and(|d| d.as_nanos() > 0),
                "timestamps must time the pass"
            );
        }
    }
}

#[test]
fn f16_matmul_accumulates_in_f32_and_is_skipped_without_shader_f16() {
    let Some(gpu) = backend() else { return };
    for &(m, n, k) in &[(33, 67, 130), (64, 64, 64), (7, 5, 3)] {
        let case = Case {
            bench: BenchKind::Matmul,
            dtype: DType::F16,
            shape: Shape::Matmul { m, n, k },
        };
        match gpu.prepare(&case) {
            Ok(mut kernel) => {
                assert!(gpu.context().has_f16());
                kernel.run(1).unwrap();
                let v = kernel.verify();
                assert!(v.passed && v.is_full(), "{m}x{n}x{k}: {v:?}");
                // Inputs are checked as the device saw them: only f32 accumulation error remains.
                assert!(v.max_rel_error < 1e-5, "{m}x{n}x{k}: {}", v.max_rel_error);
                assert_eq!(kernel.work().bytes, ((m * k + k * n + m * n) * 2) as f64);
            }
            Err(PrepareError::Unsupported(why)) => {
                assert!(
                    !gpu.context().has_f16() && why.contains("SHADER_F16"),
                    "{why}"
                );
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        gpu.dtypes(BenchKind::Matmul).contains(&DType::F16),
        gpu.context().has_f16()
    );
}

#[test]
fn copy_is_exact() {
    let Some(gpu) = backend() else { return };
    for bytes in [16u64, 4096, 1 << 20, (1 << 20) + 48] {
        let case = Case {
            bench: BenchKind::Membw,
            dtype: DType::Bytes,
            shape: Shape::Membw { bytes },
        };
        let mut kernel = gpu.prepare(&case).unwrap();
        kernel.run(1).unwrap();
        let v = kernel.verify();
        assert!(v.passed && v.checked == bytes / 4, "{bytes}: {v:?}");
    }
}

#[test]
fn oversized_buffers_are_refused_before_allocating() {
    let Some(gpu) = backend() else { return };
    let limit = gpu.context().max_binding();
    let n = ((limit / 4) as f64).sqrt() as u64 + 1;
    let case = Case {
        bench: BenchKind::Matmul,
        dtype: DType::F32,
        shape: Shape::square(n),
    };
    match gpu.prepare(&case) {
        Err(PrepareError::TooLarge(msg)) => assert!(msg.contains("storage-binding limit"), "{msg}"),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn software_adapters_need_to_be_named() {
    let Some(gpu) = backend() else { return };
    if !gpu.context().summary.is_cpu() {
        return; // a real GPU: nothing to check here
    }
    let err = open(&DeviceChoice::AllGpus).expect_err("lavapipe alone is not a GPU");
    assert!(format!("{err:#}").contains("--device NAME"), "{err:#}");
    let named = open(&DeviceChoice::Name("llvmpipe".into())).unwrap();
    assert!(named[0].context().summary.name.contains("llvmpipe"));
    assert_eq!(DeviceChoice::parse(Some("2")), DeviceChoice::Index(2));
    assert_eq!(DeviceChoice::parse(Some("all")), DeviceChoice::AllGpus);
}

#[test]
fn flash_attention_is_correct_at_odd_sizes_and_tile_multiples() {
    let Some(gpu) = backend() else { return };
    let sizes = [(33, 16), (67, 64), (130, 32), (64, 64), (128, 64), (1, 8)];
    // Every size in f32, and in f16 too where the adapter has SHADER_F16 (lavapipe does).
    for dtype in gpu.dtypes(BenchKind::Attention) {
        for &(s, d) in &sizes {
            for causal in [false, true] {
                let shape = Shape::Attention {
                    backward: false,
                    b: 1,
                    h: 2,
                    s,
                    d,
                    causal,
                };
                let case = Case {
                    bench: BenchKind::Attention,
                    dtype,
                    shape,
                };
                let mut kernel = gpu.prepare(&case).unwrap();
                kernel.run(1).unwrap();
                let v = kernel.verify();
                assert!(
                    v.passed && v.is_full(),
                    "s={s} d={d} causal={causal}: {v:?}"
                );
                assert!(
                    v.max_rel_error < 1e-5,
                    "s={s} d={d} causal={causal}: {}",
                    v.max_rel_error
                );
            }
        }
    }
}

#[test]
fn flash_attention_with_two_threads_per_row_is_correct() {
    let Some(gpu) = backend() else { return };
    // d = 128 takes 2 threads per row where the adapter has subgroups (lavapipe has 8 lanes);
    // lavapipe runs shuffles slowly, so one small odd size.
    for causal in [false, true] {
        let case = Case {
            bench: BenchKind::Attention,
            dtype: DType::F32,
            shape: Shape::Attention {
                backward: false,
                b: 1,
                h: 1,
                s: 37,
                d: 128,
                causal,
            },
        };
        let mut kernel = gpu.prepare(&case).unwrap();
        assert!(
            kernel.variant().contains("2 threads per row"),
            "{}",
            kernel.variant()
        );
        kernel.run(1).unwrap();
        let v = kernel.verify();
        assert!(v.passed && v.is_full(), "causal={causal}: {v:?}");
        assert!(
            v.max_rel_error < 1e-5,
            "causal={causal}: {}",
            v.max_rel_error
        );
    }
}

#[test]
fn unsupported_head_dimensions_are_skipped_with_a_reason() {
    let Some(gpu) = backend() else { return };
    let shape = Shape::Attention {
        backward: false,
        b: 1,
        h: 1,
        s: 8,
        d: 6,
        causal: false,
    };
    let case = Case {
        bench: BenchKind::Attention,
        dtype: DType::F32,
        shape,
    };
    match gpu.prepare(&case) {
        Err(PrepareError::Unsupported(why)) => assert!(why.contains("multiples of 4"), "{why}"),
        other => panic!("expected a skip, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn peak_chains_reach_their_fixed_point() {
    let Some(gpu) = backend() else { return };
    let case = Case {
        bench: BenchKind::Peak,
        dtype: DType::F32,
        shape: Shape::Peak { threads: 1024 },
    };
    let mut kernel = gpu.prepare(&case).unwrap();
    assert!(!kernel.verify().passed, "an unrun kernel must not verify");
    kernel.run(1).unwrap();
    let v = kernel.verify();
    assert!(v.passed && v.checked == 4096, "{v:?}");
    assert_eq!(kernel.work().flops, 1024.0 * 64.0 * 8.0 * 4.0 * 2.0);
}

#[test]
fn the_large_coop_kernel_needs_32_wide_subgroups_and_k_n_multiples_of_4() {
    use matmul::{Kind, coop_kind};
    assert_eq!(coop_kind(32, 4096, 4096), Kind::CoopTiled);
    assert_eq!(coop_kind(32, 36, 100), Kind::CoopTiled);
    assert_eq!(coop_kind(32, 4098, 4096), Kind::Coop(32));
    assert_eq!(coop_kind(32, 4096, 33), Kind::Coop(32));
    assert_eq!(coop_kind(64, 4096, 4096), Kind::Coop(64));
}

/// An H100's workgroup memory per workgroup as wgpu reports it (48 KiB).
const H100_SHARED: u32 = 49152;

#[test]
fn coop_attention_takes_128_rows_only_where_workgroup_memory_holds_them() {
    use attention::{const_u32, coop_shared_bytes, coop_source};
    assert_eq!(coop_shared_bytes(128, 128, 32), 45056);
    assert_eq!(coop_shared_bytes(128, 64, 32), 31232);
    // lavapipe offers 32 KiB: d = 128 runs with 64 rows.
    let small = coop_source(128, 32768).unwrap();
    assert_eq!(const_u32(&small, "BR"), Some(64));
    let why = coop_source(128, 16384).unwrap_err();
    assert!(why.contains("31232 bytes of workgroup memory"), "{why}");
}

#[test]
fn kernel_constants_are_read_from_the_source() {
    let src = attention::coop_source(128, H100_SHARED).unwrap();
    assert_eq!(attention::const_u32(&src, "BR"), Some(128));
    assert_eq!(attention::const_u32(&src, "BC"), Some(32));
    assert_eq!(
        attention::const_u32(&attention::coop_source(64, H100_SHARED).unwrap(), "BR"),
        Some(64)
    );
    assert_eq!(attention::const_u32(&src, "NOPE"), None);
}

#[test]
fn host_staged_allreduce_over_two_devices() {
    // Two devices opened on the first adapter (lavapipe in CI stands in for two GPUs): real
    // buffers, readbacks and writes on each, every element of each checked.
    if backend().is_none() {
        return;
    }
    let gpus: Vec<Arc<GpuContext>> = (0..2)
        .map(|_| open(&DeviceChoice::Index(0)).unwrap().remove(0).shared())
        .collect();
    let opts = crate::comm::allreduce::Options {
        sizes: vec![8, 1028, 65536],
        samples: 2,
        traffic_per_sample: 1 << 16,
        max_iterations: 4,
        timeout: std::time::Duration::from_secs(60),
        meter: None,
    };
    let mut seen = 0;
    let ms = crate::comm::staged::run(&gpus, &opts, &mut |_| {
        seen += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!((ms.len(), seen), (6, 6));
    for m in &ms {
        assert!(m.is_valid(), "{:?}", m.error);
        assert_eq!(m.method, "wgpu/host-staged");
        assert!(m.variant.contains("not NCCL"));
        let c = m.collective.as_ref().unwrap();
        // Two GPUs: busbw = algbw · 2(2−1)/2 = algbw.
        assert!((c.busbw_gbs - c.algbw_gbs).abs() <= 1e-9 * c.algbw_gbs);
    }
    assert_eq!(ms[3].shape.display(), "bytes=1028 ranks=2 inplace=true");
}

/// A backend whose cooperative-matrix kernels run lowered to plain WGSL (`coop_emu`): every
/// invocation holds whole matrices, so the kernels' indexing, staging, masking and edges are
/// checked on lavapipe, though not the driver's matrix code or the speed.
fn emulated() -> Option<GpuBackend> {
    let mut gpu = backend()?;
    if !gpu.context().has_f16() {
        assert!(
            std::env::var_os("HPCREADY_REQUIRE_GPU_TESTS").is_none(),
            "the test adapter has no SHADER_F16"
        );
        return None;
    }
    Arc::get_mut(&mut gpu.ctx)
        .expect("a freshly opened backend")
        .emulate_coop();
    Some(gpu)
}

#[test]
fn lowered_cooperative_kernels_validate() {
    let sources = [
        ("matmul_coop.wgsl", matmul::coop_source(32)),
        (
            "matmul_coop_tiled.wgsl",
            kernel_source("matmul_coop_tiled.wgsl").into_owned(),
        ),
        (
            "attention_coop.wgsl d=64",
            attention::coop_source(64, H100_SHARED).unwrap(),
        ),
        (
            "attention_coop.wgsl d=128",
            attention::coop_source(128, H100_SHARED).unwrap(),
        ),
    ];
    for (name, src) in &sources {
        let lowered = coop_emu::lower(src).unwrap_or_else(|e| panic!("{name}: {e}"));
        for op in [
            "coop_mat",
            "coopLoad",
            "coopStore",
            "coopMultiplyAdd",
            "enable wgpu_coop",
        ] {
            assert!(!lowered.contains(op), "{name}: {op} left");
        }
        compile(name, &lowered);
    }
}

#[test]
fn cooperative_matmul_is_correct_at_odd_sizes_and_tile_multiples() {
    let Some(gpu) = emulated() else { return };
    // The large kernel (k and n multiples of 4; edge tiles through its staging tiles) is the one
    // the suites run. Lavapipe takes minutes to compile each lowered kernel (about 9 for this one
    // on a 2-core VM with a cold shader cache): one odd size here; the small kernel, which takes
    // every other size, in `more_cooperative_kernels_on_demand`.
    coop_matmul_cases(&gpu, &[(33, 36, 20, true)]);
}

/// The lowered small matmul kernel and attention at d = 64: about 6 and 5 minutes of lavapipe
/// compilation with a cold shader cache, so not in CI; run with `cargo test -- --ignored`.
#[test]
#[ignore]
fn more_cooperative_kernels_on_demand() {
    let Some(gpu) = emulated() else { return };
    coop_matmul_cases(&gpu, &[(7, 5, 3, false), (64, 64, 33, false)]);
    coop_attention_cases(&gpu, &[(40, 64, true), (40, 64, false)]);
}

/// Runs and verifies emulated cooperative matmuls (m, n, k, whether the large kernel runs).
fn coop_matmul_cases(gpu: &GpuBackend, cases: &[(u64, u64, u64, bool)]) {
    for &(m, n, k, large) in cases {
        let case = Case {
            bench: BenchKind::Matmul,
            dtype: DType::F16,
            shape: Shape::Matmul { m, n, k },
        };
        let mut kernel = gpu.prepare(&case).unwrap();
        assert_eq!(kernel.method(), "wgpu/matmul-coop");
        let file = if large {
            "matmul_coop_tiled.wgsl"
        } else {
            "matmul_coop.wgsl:"
        };
        assert!(kernel.variant().starts_with(file), "{}", kernel.variant());
        kernel.run(1).unwrap();
        let v = kernel.verify();
        assert!(v.passed && v.is_full(), "{m}x{n}x{k}: {v:?}");
        assert!(v.max_rel_error < 1e-5, "{m}x{n}x{k}: {}", v.max_rel_error);
    }
}

#[test]
fn cooperative_attention_is_correct_at_odd_sizes_and_tile_multiples() {
    let Some(gpu) = emulated() else { return };
    // Lavapipe takes minutes to compile each lowered kernel (one per head dimension): d = 16 at
    // an odd length over three key tiles and two query blocks, causal and not (one compilation
    // where the shader cache works); d = 64 in `more_cooperative_kernels_on_demand`.
    coop_attention_cases(&gpu, &[(67, 16, false), (67, 16, true)]);
}

/// Runs and verifies emulated cooperative attention (s, d, causal), f16.
fn coop_attention_cases(gpu: &GpuBackend, cases: &[(u64, u64, bool)]) {
    for &(s, d, causal) in cases {
        let case = Case {
            bench: BenchKind::Attention,
            dtype: DType::F16,
            shape: Shape::Attention {
                backward: false,
                b: 1,
                h: 2,
                s,
                d,
                causal,
            },
        };
        let mut kernel = gpu.prepare(&case).unwrap();
        assert_eq!(kernel.method(), "wgpu/attention-coop");
        kernel.run(1).unwrap();
        let v = kernel.verify();
        assert!(
            v.passed && v.is_full(),
            "s={s} d={d} causal={causal}: {v:?}"
        );
        // P goes through f16 before P·V: the f16 tolerance, not the f32 one.
        assert!(v.max_rel_error < 1e-2, "s={s} d={d}: {}", v.max_rel_error);
    }
}
