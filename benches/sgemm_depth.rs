//! hpcready's f32 GEMM at several depths (KC), or depths and A-block rows (KCxMC), calls
//! alternating between them in one process, so that a slow spell of a shared machine hits every
//! blocking alike (the way hyperfine alternates commands). Prints each one's median, p10 and p90
//! in GFLOP/s over the timed rounds.
//!
//!   cargo bench --bench sgemm_depth -- 256 384 1024        (default: 256 384 512 1024)
//!   cargo bench --bench sgemm_depth -- 1024x96 1024x192    (MC too; without it, the kernel's)
//!   HPCREADY_CPU_ISA=avx2 cargo bench --bench sgemm_depth  (the AVX2 kernel)
//!   N=4096 ROUNDS=15 cargo bench --bench sgemm_depth
//!   EACH=1 cargo bench --bench sgemm_depth -- 384     (also every call's rate, in order)

use hpcready::backend::cpu::buffer::Buffer;
use hpcready::backend::cpu::sgemm;
use std::time::Instant;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `KC` or `KCxMC`, both positive; anything else (such as cargo's `--bench`) is not a blocking.
fn blocking(arg: &str) -> Option<(usize, Option<usize>)> {
    let positive = |s: &str| s.parse::<usize>().ok().filter(|&v| v > 0);
    match arg.split_once('x') {
        Some((kc, mc)) => Some((positive(kc)?, Some(positive(mc)?))),
        None => Some((positive(arg)?, None)),
    }
}

fn main() {
    let Some(isa) = sgemm::available() else {
        eprintln!("this CPU has neither AVX-512F nor AVX2+FMA: hpcready's f32 GEMM does not run");
        return;
    };
    // cargo bench passes --bench; blockings are the arguments of the form KC or KCxMC.
    let mut depths: Vec<(usize, Option<usize>)> = std::env::args()
        .skip(1)
        .filter_map(|a| blocking(&a))
        .collect();
    if depths.is_empty() {
        depths = [256, 384, 512, 1024].map(|kc| (kc, None)).to_vec();
    }
    let (n, rounds) = (env_or("N", 2048), env_or("ROUNDS", 25).max(2));
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let a = Buffer::from_fn(n * n, |i| ((i * 37 % 101) as f32 - 50.0) / 50.0);
    let b = Buffer::from_fn(n * n, |i| ((i * 53 % 97) as f32 - 48.0) / 48.0);
    let mut c = Buffer::filled(n * n, 0f32);
    // EACH=1: every timed call's rate too, in call order (a bimodal split or a warm-up shows).
    let each = std::env::var_os("EACH").is_some();
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); depths.len()];
    // Round 0 warms up (the packing arena, the pages of C) and is not kept.
    for round in 0..rounds {
        for (i, &kc) in depths.iter().enumerate() {
            let t0 = Instant::now();
            sgemm::sgemm_at_blocking(&mut c, &a, &b, (n, n, n), threads, kc);
            let s = t0.elapsed().as_secs_f64();
            if round > 0 {
                rates[i].push(2.0 * (n as f64).powi(3) / s / 1e9);
            }
        }
    }
    println!(
        "{} f32 GEMM, n = {n}, {threads} threads, {} alternating rounds",
        sgemm::method(isa),
        rounds - 1
    );
    for (&(kc, mc), mut r) in depths.iter().zip(rates) {
        let kc = match mc {
            Some(mc) => format!("{kc}x{mc}"),
            None => kc.to_string(),
        };
        if each {
            let calls: Vec<String> = r.iter().map(|x| format!("{x:.0}")).collect();
            println!("KC {kc:>8}, call by call: {}", calls.join(" "));
        }
        r.sort_by(f64::total_cmp);
        let at = |q: f64| r[((r.len() - 1) as f64 * q).round() as usize];
        println!(
            "KC {kc:>8}: median {:>7.1} GFLOP/s  (p10 {:.1}, p90 {:.1})",
            at(0.5),
            at(0.1),
            at(0.9)
        );
    }
}
