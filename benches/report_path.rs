//! Criterion benchmarks of the statistics and report path, on results from a real (tiny) run.

use criterion::{Criterion, criterion_group, criterion_main};
use hpcready::assess::compare;
use hpcready::backend::cpu::CpuBackend;
use hpcready::bench::{BenchKind, Case, DType, Shape};
use hpcready::measure::SamplingPlan;
use hpcready::measure::run::measure_case;
use hpcready::node::Inventory;
use hpcready::profiles::lookup;
use hpcready::report::{Format, Page, ReportContext, exporter, plots};
use hpcready::results::Results;
use hpcready::stats::SplitMix64;
use hpcready::stats::summarize;
use std::hint::black_box;

fn tiny_run() -> Results {
    let backend = CpuBackend::with_threads(1);
    let mut r = Results::new(
        Inventory::probe(),
        vec!["bench".into()],
        Some("quick".into()),
    );
    let cases = [
        Case {
            bench: BenchKind::Peak,
            dtype: DType::F32,
            shape: Shape::Peak { threads: 1 },
        },
        Case {
            bench: BenchKind::Matmul,
            dtype: DType::F32,
            shape: Shape::square(64),
        },
        Case {
            bench: BenchKind::Matmul,
            dtype: DType::F32,
            shape: Shape::square(128),
        },
        Case {
            bench: BenchKind::Attention,
            dtype: DType::F32,
            shape: Shape::Attention {
                backward: false,
                b: 1,
                h: 2,
                s: 64,
                d: 32,
                causal: true,
            },
        },
    ];
    for case in &cases {
        r.measurements
            .push(measure_case(&backend, case, &SamplingPlan::smoke(), None).expect("supported"));
    }
    r.planned = cases.len();
    r.complete = true;
    r
}

fn statistics(c: &mut Criterion) {
    let mut rng = SplitMix64::new(1);
    let samples: Vec<f64> = (0..200).map(|_| 1.0 + 0.05 * rng.next_signed()).collect();
    c.bench_function("summarize_200_samples_with_bootstrap", |b| {
        b.iter(|| summarize(black_box(&samples)))
    });
}

fn report(c: &mut Criterion) {
    let results = tiny_run();
    let profile = lookup("aws-p5.48xlarge").unwrap();
    c.bench_function("compare", |b| {
        b.iter(|| compare(black_box(&results), &profile))
    });
    c.bench_function("plots", |b| {
        b.iter(|| plots::plots(black_box(&results), &profile).unwrap())
    });
    let comparison = compare(&results, &profile);
    let ctx = ReportContext {
        results: &results,
        comparison: &comparison,
        profile: &profile,
        plots: plots::plots(&results, &profile).unwrap(),
    };
    c.bench_function("page", |b| {
        b.iter(|| Page::report(black_box(&ctx)).unwrap())
    });
    let page = Page::report(&ctx).unwrap();
    for f in [Format::Html, Format::Md, Format::Csv] {
        let e = exporter(f);
        c.bench_function(&format!("render_{}", page.kind.file_name(f)), |b| {
            b.iter(|| e.render(black_box(&page)).unwrap())
        });
    }
}

criterion_group!(benches, statistics, report);
criterion_main!(benches);
