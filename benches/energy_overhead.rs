//! Energy sampling overhead: the same measurement with the node's energy counter read around its
//! timed samples and without, in alternating rounds; prints the ratio of the median rates (goal:
//! ≥ 0.98, issue "Energy and storage"). A printout, never a pass/fail.
//!
//! The counter is a RAPL tree in a temporary directory (most machines that run this have no
//! readable RAPL), read through the same code as a real one. The measurement is a CPU matmul
//! through the sampling loop every backend's kernels use, the torch training step's included.
//!
//!   cargo bench --bench energy_overhead            (ROUNDS=7, SIZE=512 by default)

use hpcready::backend::cpu::CpuBackend;
use hpcready::bench::{BenchKind, Case, DType, Shape};
use hpcready::measure::SamplingPlan;
use hpcready::measure::run::measure_case;
use hpcready::node::energy::discover;
use hpcready::node::env::Env;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let size: u64 = std::env::var("SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let root = tempfile::tempdir().expect("a temporary directory");
    let zone = root.path().join("sys/class/powercap/intel-rapl:0");
    std::fs::create_dir_all(&zone).expect("the fake RAPL zone");
    std::fs::write(zone.join("name"), "package-0\n").unwrap();
    std::fs::write(zone.join("energy_uj"), "123456789\n").unwrap();
    std::fs::write(zone.join("max_energy_range_uj"), "262143328850\n").unwrap();
    let mut env = Env::real();
    env.root = root.path().to_path_buf();
    let meter = discover(&env).expect("the fake RAPL counter");
    let backend =
        CpuBackend::with_threads(std::thread::available_parallelism().map_or(1, |n| n.get()));
    let case = Case {
        bench: BenchKind::Matmul,
        dtype: DType::F32,
        shape: Shape::square(size),
    };
    let plan = SamplingPlan::quick();
    let rate = |m: Option<&hpcready::node::energy::Meter>| {
        measure_case(&backend, &case, &plan, m)
            .expect("f32 matmul is a CPU case")
            .value()
            .expect("a valid measurement")
    };
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        off.push(rate(None));
        on.push(rate(Some(&meter)));
    }
    let (a, b) = (median(on), median(off));
    println!(
        "f32 matmul {size}, {rounds} rounds, quick plan: energy on {a:.4} TFLOP/s, off {b:.4} \
         TFLOP/s: {:.3}x (goal >= 0.98)",
        a / b
    );
}
