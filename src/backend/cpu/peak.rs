//! The CPU's measured FMA peak: independent FMA chains on each thread.
//!
//! Each thread runs [`CHAINS`] independent chains `x ← x·½ + c/2` in the widest vector FMA the
//! CPU has (AVX-512F, else AVX2+FMA, else portable `mul_add`). Twelve chains cover an FMA latency
//! of 4 cycles on two pipes with room to spare, so the loop is throughput-bound. Every chain
//! converges to the fixed point `c`; the kernel is verified by checking that every lane holds
//! `c`, which also proves the loop was not optimised away. Work counts two flops per lane per FMA.
//! Nominal clocks lie in VMs and under turbo, so this measured figure is the ceiling every CPU
//! result is reported against.

use crate::backend::Kernel;
use crate::bench::Work;
use crate::bench::verify::{Checker, Verification};
use std::hint::black_box;
use std::time::Duration;

/// Independent FMA chains per thread.
pub const CHAINS: usize = 12;
/// Loop trips per chain in one run.
const TRIPS_PER_RUN: u64 = 1 << 16;
/// The fixed point every chain converges to (exactly representable, even mantissa).
const FIXED_POINT: f64 = 1.5;

/// The instruction set the chains run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// 512-bit FMA.
    Avx512,
    /// 256-bit FMA.
    Avx2Fma,
    /// `mul_add` on plain arrays, left to the compiler (NEON on aarch64).
    Portable,
}

impl Isa {
    /// Vector width in bytes.
    fn width(self) -> usize {
        match self {
            Self::Avx512 => 64,
            Self::Avx2Fma => 32,
            Self::Portable => 16,
        }
    }

    /// Name in results.
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512 => "avx512f",
            Self::Avx2Fma => "avx2+fma",
            Self::Portable => "portable mul_add",
        }
    }
}

/// The environment variable that caps the ISA of the CPU kernels (peak and GEMM), as
/// `OPENBLAS_CORETYPE` and `MKL_ENABLE_INSTRUCTIONS` do for those libraries: `avx2` measures an
/// AVX2-only node's kernels on an AVX-512 machine.
pub const ISA_VAR: &str = "HPCREADY_CPU_ISA";

/// The ISA `HPCREADY_CPU_ISA` names, checked against this CPU. Unset: `None`.
pub fn isa_override() -> anyhow::Result<Option<Isa>> {
    let Ok(name) = std::env::var(ISA_VAR) else {
        return Ok(None);
    };
    let wanted = match name.as_str() {
        "avx512" => Isa::Avx512,
        "avx2" => Isa::Avx2Fma,
        "portable" => Isa::Portable,
        _ => {
            return Err(crate::error::input_error(
                format!("{ISA_VAR}={name}"),
                "known values: avx512, avx2, portable",
            ));
        }
    };
    if wanted.width() > widest().width() {
        return Err(crate::error::input_error(
            format!("{ISA_VAR}={name}"),
            format!("this CPU's widest FMA is {}", widest().name()),
        ));
    }
    Ok(Some(wanted))
}

/// The ISA the CPU kernels use: the widest FMA this CPU offers, capped by `HPCREADY_CPU_ISA`
/// (an invalid value is refused by [`isa_override`] before anything runs, and ignored here).
pub fn detect_isa() -> Isa {
    isa_override().ok().flatten().unwrap_or_else(widest)
}

/// The widest FMA this CPU offers.
fn widest() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return Isa::Avx512;
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Isa::Avx2Fma;
        }
    }
    Isa::Portable
}

/// A float type the chains run in.
pub trait ChainFloat: Copy + Send + Into<f64> + 'static {
    /// Relative deviation from the fixed point tolerated.
    const TOLERANCE: f64;
    /// Runs the chains for `trips` loop trips from `start` (perturbed per chain); returns every lane.
    fn chains(isa: Isa, trips: u64, start: f64) -> Vec<Self>;
}

macro_rules! portable_chains {
    ($t:ty, $lanes:expr, $trips:expr, $start:expr) => {{
        let half: $t = black_box(0.5);
        let hc: $t = black_box((FIXED_POINT / 2.0) as $t);
        let mut x = [[0.0 as $t; $lanes]; CHAINS];
        for (i, chain) in x.iter_mut().enumerate() {
            for (j, lane) in chain.iter_mut().enumerate() {
                *lane = black_box(($start + (i * $lanes + j) as f64) as $t);
            }
        }
        for _ in 0..$trips {
            for chain in x.iter_mut() {
                for lane in chain.iter_mut() {
                    *lane = lane.mul_add(half, hc);
                }
            }
        }
        x.iter().flatten().copied().collect::<Vec<$t>>()
    }};
}

#[cfg(target_arch = "x86_64")]
macro_rules! simd_chains {
    ($name:ident, $feature:literal, $t:ty, $vec:ty, $set1:ident, $fmadd:ident, $storeu:ident) => {
        #[target_feature(enable = $feature)]
        fn $name(trips: u64, start: f64) -> Vec<$t> {
            use std::arch::x86_64::*;
            const LANES: usize = std::mem::size_of::<$vec>() / std::mem::size_of::<$t>();
            let half = $set1(black_box(0.5));
            let hc = $set1(black_box((FIXED_POINT / 2.0) as $t));
            let mut x: [$vec; CHAINS] =
                std::array::from_fn(|i| $set1(black_box((start + i as f64) as $t)));
            for _ in 0..trips {
                for xi in x.iter_mut() {
                    *xi = $fmadd(*xi, half, hc);
                }
            }
            let mut out = vec![0.0 as $t; CHAINS * LANES];
            for (i, xi) in x.iter().enumerate() {
                // SAFETY: out holds CHAINS·LANES elements; this stores LANES at offset i·LANES.
                unsafe { $storeu(out.as_mut_ptr().add(i * LANES), *xi) };
            }
            out
        }
    };
}

#[cfg(target_arch = "x86_64")]
simd_chains!(
    f32_avx512,
    "avx512f",
    f32,
    std::arch::x86_64::__m512,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_storeu_ps
);
#[cfg(target_arch = "x86_64")]
simd_chains!(
    f64_avx512,
    "avx512f",
    f64,
    std::arch::x86_64::__m512d,
    _mm512_set1_pd,
    _mm512_fmadd_pd,
    _mm512_storeu_pd
);
#[cfg(target_arch = "x86_64")]
simd_chains!(
    f32_avx2,
    "avx2,fma",
    f32,
    std::arch::x86_64::__m256,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_storeu_ps
);
#[cfg(target_arch = "x86_64")]
simd_chains!(
    f64_avx2,
    "avx2,fma",
    f64,
    std::arch::x86_64::__m256d,
    _mm256_set1_pd,
    _mm256_fmadd_pd,
    _mm256_storeu_pd
);

impl ChainFloat for f32 {
    const TOLERANCE: f64 = 1e-6;
    fn chains(isa: Isa, trips: u64, start: f64) -> Vec<Self> {
        match isa {
            // SAFETY: `detect_isa` returned this ISA only after detecting its features.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { f32_avx512(trips, start) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => unsafe { f32_avx2(trips, start) },
            _ => portable_chains!(f32, 4, trips, start),
        }
    }
}

impl ChainFloat for f64 {
    const TOLERANCE: f64 = 1e-12;
    fn chains(isa: Isa, trips: u64, start: f64) -> Vec<Self> {
        match isa {
            // SAFETY: as for f32.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { f64_avx512(trips, start) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => unsafe { f64_avx2(trips, start) },
            _ => portable_chains!(f64, 2, trips, start),
        }
    }
}

/// FMA chains on `threads` threads at once.
pub struct PeakKernel<T> {
    threads: usize,
    isa: Isa,
    last: Vec<Vec<T>>,
}

impl<T: ChainFloat> PeakKernel<T> {
    /// Chains on `threads` threads in the widest ISA detected.
    pub fn new(threads: usize) -> Self {
        Self {
            threads: threads.max(1),
            isa: detect_isa(),
            last: Vec::new(),
        }
    }

    fn lanes(&self) -> usize {
        self.isa.width() / std::mem::size_of::<T>()
    }
}

impl<T: ChainFloat> Kernel for PeakKernel<T> {
    fn method(&self) -> String {
        "cpu/fma-chains".into()
    }

    fn variant(&self) -> String {
        format!(
            "{}: {CHAINS} chains × {} lanes per thread, {} threads",
            self.isa.name(),
            self.lanes(),
            self.threads
        )
    }

    fn work(&self) -> Work {
        let fmas = TRIPS_PER_RUN * (CHAINS * self.lanes() * self.threads) as u64;
        Work {
            flops: 2.0 * fmas as f64,
            bytes: 0.0,
        }
    }

    fn run(&mut self, iterations: u64) -> anyhow::Result<Option<Duration>> {
        let trips = TRIPS_PER_RUN * iterations;
        let isa = self.isa;
        self.last = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..self.threads)
                .map(|t| scope.spawn(move || T::chains(isa, trips, FIXED_POINT + 1.0 + t as f64)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .map_err(|_| anyhow::anyhow!("an FMA-chain thread panicked"))
                })
                .collect::<anyhow::Result<Vec<_>>>()
        })?;
        Ok(None)
    }

    fn verify(&mut self) -> Verification {
        let mut checker = Checker::new(T::TOLERANCE);
        let lanes = self.lanes();
        for (t, values) in self.last.iter().enumerate() {
            for (i, &x) in values.iter().enumerate() {
                checker.check(x.into(), FIXED_POINT, FIXED_POINT, || {
                    format!("thread {t} chain {} lane {}", i / lanes, i % lanes)
                });
            }
        }
        let total = (self.threads * CHAINS * lanes) as u64;
        let mut v = checker.finish(total, "the chains' fixed point 1.5");
        v.passed &= v.checked == total;
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_converge_to_the_fixed_point() {
        for isa in [detect_isa(), Isa::Portable] {
            for x in f32::chains(isa, 100, 7.0) {
                assert_eq!(x, 1.5, "{isa:?}");
            }
            for x in f64::chains(isa, 100, 7.0) {
                assert_eq!(x, 1.5, "{isa:?}");
            }
        }
    }

    #[test]
    fn too_few_trips_fail_verification() {
        let mut k = PeakKernel::<f64>::new(2);
        assert!(!k.verify().passed, "no run yet");
        k.run(1).unwrap();
        let v = k.verify();
        assert!(v.passed && v.is_full(), "{v:?}");
        k.last = vec![f64::chains(k.isa, 3, 9.0); 2];
        assert!(!k.verify().passed);
    }

    #[test]
    fn work_counts_two_flops_per_lane_fma() {
        let k = PeakKernel::<f32>::new(3);
        let lanes = k.lanes() as f64;
        assert_eq!(
            k.work().flops,
            2.0 * TRIPS_PER_RUN as f64 * 12.0 * lanes * 3.0
        );
    }
}
