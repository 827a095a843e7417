//! Matmul on the CPU: f32 on AVX-512 CPUs through hpcready's own kernel (`sgemm`: measured
//! 1.01–1.06× faer on a 2-core Zen 5 VM, 2026-12-01, n = 1000–4096, interleaved rounds); every
//! other case through `faer` (its x86 kernels pick AVX-512 or AVX2 at run time), all cores via
//! rayon.
//!
//! faer rather than the lower-level `gemm` crate: measured side by side with OpenBLAS in one
//! process on a 2-core Zen 3 VM (f32, n = 2048, 25 interleaved calls each), faer's medians were
//! 168–174 GFLOP/s against OpenBLAS's 177–182, while `gemm`'s two-thread runs swung between 115
//! and 175 (median 137). `gemm` stays in use for attention's single-threaded blocks.

use super::buffer::Buffer;
use super::{Element, random_buffer};
use crate::backend::Kernel;
use crate::bench::Work;
use crate::bench::verify::{Verification, check_matmul};
use std::time::Duration;

/// Row-major C (m×n) = A (m×k) · B (k×n).
pub struct MatmulKernel<T> {
    m: usize,
    n: usize,
    k: usize,
    a: Buffer<T>,
    b: Buffer<T>,
    c: Buffer<T>,
    threads: usize,
}

impl<T: Element> MatmulKernel<T> {
    /// Allocates deterministic random inputs.
    pub fn new(m: usize, n: usize, k: usize, threads: usize) -> Self {
        Self {
            m,
            n,
            k,
            a: random_buffer(m * k, 1),
            b: random_buffer(k * n, 2),
            c: Buffer::filled(m * n, T::default()),
            threads,
        }
    }
}

/// `c = a·b`, row-major, on `threads` threads.
///
/// # Panics
/// When a buffer is smaller than its dimensions say.
pub fn gemm_into<T: Element>(
    c: &mut [T],
    a: &[T],
    b: &[T],
    (m, n, k): (usize, usize, usize),
    threads: usize,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    if T::own_gemm().is_some() {
        return T::run_own_gemm(c, a, b, (m, n, k), threads);
    }
    let par = if threads > 1 {
        faer::Par::rayon(threads)
    } else {
        faer::Par::Seq
    };
    let lhs = faer::MatRef::from_row_major_slice(&a[..m * k], m, k);
    let rhs = faer::MatRef::from_row_major_slice(&b[..k * n], k, n);
    let dst = faer::MatMut::from_row_major_slice_mut(&mut c[..m * n], m, n);
    faer::linalg::matmul::matmul(dst, faer::Accum::Replace, lhs, rhs, T::from_f64(1.0), par);
}

impl<T: Element> Kernel for MatmulKernel<T> {
    fn method(&self) -> String {
        T::own_gemm().unwrap_or("cpu/faer").into()
    }

    fn variant(&self) -> String {
        match (T::own_gemm(), super::sgemm::available()) {
            (Some(_), Some(isa)) => format!(
                "hpcready's {} {} GEMM (BLIS structure: {}×{} register tile, packed A and B, \
                 KC {}), {} threads, huge-page buffers",
                isa.name(),
                T::DTYPE,
                super::sgemm::MR,
                super::sgemm::tile_columns(isa),
                super::sgemm::depth(isa),
                self.threads
            ),
            _ => format!(
                "faer 0.24 ({}, run-time ISA dispatch), {} threads, huge-page buffers",
                T::DTYPE,
                self.threads
            ),
        }
    }

    fn work(&self) -> Work {
        crate::bench::Shape::Matmul {
            m: self.m as u64,
            n: self.n as u64,
            k: self.k as u64,
        }
        .work(T::DTYPE)
        .unwrap_or_default()
    }

    fn run(&mut self, iterations: u64) -> anyhow::Result<Option<Duration>> {
        for _ in 0..iterations {
            gemm_into(
                &mut self.c,
                &self.a,
                &self.b,
                (self.m, self.n, self.k),
                self.threads,
            );
        }
        Ok(None)
    }

    fn verify(&mut self) -> Verification {
        check_matmul(
            &self.a,
            &self.b,
            &self.c,
            (self.m, self.n, self.k),
            T::TOLERANCE,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_sizes_verify_in_both_precisions() {
        for &(m, n, k) in &[(1, 1, 1), (33, 67, 130), (64, 64, 64), (7, 129, 3)] {
            let mut k32 = MatmulKernel::<f32>::new(m, n, k, 2);
            k32.run(1).unwrap();
            let v = k32.verify();
            assert!(v.passed && v.is_full(), "f32 {m}x{n}x{k}: {v:?}");
            let mut k64 = MatmulKernel::<f64>::new(m, n, k, 1);
            k64.run(1).unwrap();
            let v = k64.verify();
            assert!(
                v.passed && v.max_rel_error < 1e-14,
                "f64 {m}x{n}x{k}: {v:?}"
            );
        }
    }

    #[test]
    fn unrun_kernel_fails_verification() {
        let mut k = MatmulKernel::<f32>::new(16, 16, 16, 1);
        assert!(!k.verify().passed);
    }
}
