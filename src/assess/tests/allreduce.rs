//! The communication row and category: all-reduce busbw against the baseline's figures, scored
//! only like for like (same tool, or torch.distributed on NCCL/RCCL against nccl-tests,
//! rccl-tests or all_reduce_bench at the same size and rank count).

use super::{measurement, results};
use crate::assess::{Basis, Comparison, Row, compare};
use crate::bench::{BenchKind, DType, Shape};
use crate::profiles::lookup;
use crate::results::{DeviceKind, Measurement, MethodFamily};

/// A verified in- or out-of-place all-reduce of `bytes` over `ranks` at `busbw` GB/s by `method`
/// (`import/…` from an imported tool, `torch/…` through torch.distributed).
fn allreduce(method: &str, bytes: u64, ranks: u64, inplace: bool, busbw: f64) -> Measurement {
    let mut m = measurement(
        BenchKind::Allreduce,
        DType::F32,
        Shape::Allreduce {
            bytes,
            ranks,
            inplace,
        },
        busbw,
        true,
    );
    let (backend, family) = if method.starts_with("import/") {
        ("import", MethodFamily::ImportedTool)
    } else {
        ("torch", MethodFamily::VendorLibrary)
    };
    m.backend = backend.into();
    m.device_kind = DeviceKind::Collective;
    m.family = family;
    m.method = method.into();
    m.device = format!("{ranks} ranks");
    m
}

/// The comparison's all-reduce row.
fn row(c: &Comparison) -> Row {
    c.rows
        .iter()
        .find(|r| r.bench == BenchKind::Allreduce)
        .cloned()
        .unwrap()
}

/// A collective's busbw is the group's: a CPU node's report with an imported all-reduce stays
/// per node, and the headline names the CPU, not the ranks.
#[test]
fn an_imported_collective_does_not_make_a_cpu_node_per_device() {
    let cpu = measurement(BenchKind::Matmul, DType::F32, Shape::square(512), 0.2, true);
    let ar = allreduce("import/nccl-tests", 1 << 20, 8, false, 100.0);
    let r = results(vec![ar, cpu]);
    assert!(!r.measurements.iter().any(|m| m.device_kind.per_device()));
    let c = compare(&r, &lookup("aws-p5.48xlarge").unwrap());
    assert!(
        c.headline.starts_with("Its CPU (Test CPU)"),
        "{}",
        c.headline
    );
}

/// An imported all-reduce is scored against the baseline's figure by the same tool only when
/// that tool checked its result; an unchecked one is shown, not scored, and says why.
#[test]
fn unchecked_imported_allreduce_is_shown_not_scored() {
    let imported = |checked: bool| {
        let mut m = allreduce("import/nccl-tests", 134217728, 16, false, 300.0);
        if !checked {
            m.verification.checked = 0;
        }
        m
    };
    let p5 = lookup("aws-p5.48xlarge").unwrap();
    let scored = compare(&results(vec![imported(true)]), &p5);
    assert_eq!(row(&scored).basis, Basis::LikeForLike);
    let unchecked = compare(&results(vec![imported(false)]), &p5);
    assert_ne!(row(&unchecked).basis, Basis::LikeForLike);
    assert_eq!(row(&unchecked).ratio, None);
    let cat = unchecked
        .categories
        .iter()
        .find(|c| c.name == "communication")
        .unwrap();
    assert_eq!(cat.status, None);
    assert!(cat.basis.contains("did not check"), "{}", cat.basis);
}

/// torch.distributed on NCCL is scored like for like against the baseline's nccl-tests figure
/// at the same size and rank count; at another rank count, or on gloo, it is context only.
#[test]
fn torch_nccl_allreduce_is_scored_against_nccl_tests_at_the_same_ranks() {
    let ar = |ranks: u64, method: &str| allreduce(method, 134217728, ranks, true, 290.0);
    let p5 = lookup("aws-p5.48xlarge").unwrap();
    let c = compare(&results(vec![ar(16, "torch/allreduce-nccl")]), &p5);
    let r = row(&c);
    assert_eq!(r.basis, Basis::LikeForLike);
    // 290 against nccl-tests' 305.13 GB/s at 128 MiB over 16 ranks.
    assert!((r.ratio.unwrap() - 290.0 / 305.13).abs() < 1e-9);
    let comm = c
        .categories
        .iter()
        .find(|k| k.name == "communication")
        .unwrap();
    assert!(comm.status.is_some());
    assert!(comm.basis.contains("within 0.5%"), "{}", comm.basis);
    for other in [
        ar(8, "torch/allreduce-nccl"),
        ar(16, "torch/allreduce-gloo"),
    ] {
        let r = row(&compare(&results(vec![other]), &p5));
        assert_ne!(r.basis, Basis::LikeForLike, "{r:?}");
    }
}

/// Where a baseline holds both nccl-tests and all_reduce_bench figures at the same size and rank
/// count, torch.distributed is scored against the torch loop's (the same method); RCCL on an
/// MI300X node is scored against all_reduce_bench at its 4.0e9 B over 8 GPUs.
#[test]
fn torch_allreduce_prefers_the_torch_loop_figure() {
    let ar = |bytes: u64| allreduce("torch/allreduce-nccl", bytes, 8, true, 380.0);
    let p5en = lookup("aws-p5en.48xlarge").unwrap();
    let r = row(&compare(&results(vec![ar(134217728)]), &p5en));
    assert_eq!(r.basis, Basis::LikeForLike);
    assert!((r.ratio.unwrap() - 380.0 / 401.93).abs() < 1e-9, "{r:?}");
    assert!(r.baseline.unwrap().what.contains("all_reduce_bench"));
    let mi300x = lookup("mi300x").unwrap();
    let r = row(&compare(&results(vec![ar(4_000_000_000)]), &mi300x));
    assert_eq!(r.basis, Basis::LikeForLike);
    assert!((r.ratio.unwrap() - 380.0 / 312.912).abs() < 1e-9, "{r:?}");
}
