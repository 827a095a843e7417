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
            eprintln!("skipping: no wgpu adapter ({e:#})");
            None
        }
    }
}

#[test]
fn kernels_parse_and_validate_with_naga() {
    for (name, source) in KERNELS {
        let module = naga::front::wgsl::parse_str(source)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
}

#[test]
fn generated_variants_validate_too() {
    let variants = [
        ("matmul f16", matmul::source(DType::F16)),
        ("attention d=128", attention::source(128)),
        ("attention d=8", attention::source(8)),
    ];
    for (name, source) in &variants {
        let module = naga::front::wgsl::parse_str(source)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    assert!(matmul::source(DType::F16).starts_with("enable f16;"));
    assert!(attention::source(128).contains("const D: u32 = 128u;"));
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
    for &(s, d) in &[(33, 16), (67, 64), (130, 32), (64, 64), (128, 64), (1, 8)] {
        for causal in [false, true] {
            let shape = Shape::Attention {
                b: 1,
                h: 2,
                s,
                d,
                causal,
            };
            let case = Case {
                bench: BenchKind::Attention,
                dtype: DType::F32,
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

#[test]
fn unsupported_head_dimensions_are_skipped_with_a_reason() {
    let Some(gpu) = backend() else { return };
    let shape = Shape::Attention {
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
