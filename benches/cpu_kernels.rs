//! Criterion benchmarks of the CPU kernels at small sizes (the tool itself measures the large
//! ones): GEMM through `gemm`, blocked attention, and the FMA-chain peak.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hpcready::backend::Backend;
use hpcready::backend::cpu::{CpuBackend, attention_forward, gemm_into};
use hpcready::bench::verify::AttentionDims;
use hpcready::bench::{BenchKind, Case, DType, Shape};
use std::hint::black_box;

fn matmul(c: &mut Criterion) {
    let threads = hpcready::node::usable_threads();
    let mut g = c.benchmark_group("matmul_f32");
    for n in [128usize, 256] {
        let a = vec![0.5f32; n * n];
        let b = vec![0.25f32; n * n];
        let mut out = vec![0.0f32; n * n];
        g.throughput(Throughput::Elements((2 * n * n * n) as u64));
        g.bench_function(format!("n={n}"), |bench| {
            bench.iter(|| gemm_into(&mut out, black_box(&a), black_box(&b), (n, n, n), threads))
        });
    }
    g.finish();
}

fn attention(c: &mut Criterion) {
    let mut g = c.benchmark_group("attention_f32");
    for causal in [false, true] {
        let dims = AttentionDims {
            b: 1,
            h: 4,
            s: 256,
            d: 64,
            causal,
        };
        let len = dims.b * dims.h * dims.s * dims.d;
        let (q, k, v) = (vec![0.01f32; len], vec![0.02f32; len], vec![0.03f32; len]);
        let mut o = vec![0.0f32; len];
        g.bench_function(format!("s=256 d=64 causal={causal}"), |bench| {
            bench.iter(|| attention_forward(black_box(&q), &k, &v, &mut o, dims))
        });
    }
    g.finish();
}

fn peak(c: &mut Criterion) {
    let backend = CpuBackend::with_threads(1);
    let case = Case {
        bench: BenchKind::Peak,
        dtype: DType::F32,
        shape: Shape::Peak { threads: 1 },
    };
    let mut kernel = backend.prepare(&case).expect("peak kernel");
    c.bench_function("peak_f32_one_thread_run", |bench| {
        bench.iter(|| kernel.run(1).unwrap())
    });
}

criterion_group!(benches, matmul, attention, peak);
criterion_main!(benches);
