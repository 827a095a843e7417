//! The micro-kernels: an MR×NR tile of C kept in registers while one packed A sliver and one
//! packed B sliver stream through.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::{MR, NR_MAX, NV, NV2};

/// The MR×NR micro-kernel: C tile (row stride `ldc`) = (C tile unless `overwrite`) +
/// A sliver (kc × MR) · B sliver (kc × NR).
///
/// # Safety
/// The CPU has AVX-512F; `a` holds kc·MR floats, `b` kc·NR (64-byte aligned), `c` an MR×NR
/// tile with row stride `ldc`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn kernel(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    overwrite: bool,
) {
    // SAFETY: the caller guarantees the extents; every access below stays inside them.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); NV]; MR];
        // The C tile is read or written only after the k loop: fetch it meanwhile (its rows
        // are a whole row of C apart, so the hardware prefetcher does not see them coming).
        for i in 0..MR {
            for v in 0..NV {
                _mm_prefetch::<_MM_HINT_T0>(c.add(i * ldc + 16 * v).cast());
            }
        }
        let (mut a, mut b) = (a, b);
        for _ in 0..kc {
            _mm_prefetch::<_MM_HINT_T0>(b.add(8 * NR_MAX).cast());
            let mut bv = [_mm512_setzero_ps(); NV];
            for (v, x) in bv.iter_mut().enumerate() {
                *x = _mm512_load_ps(b.add(16 * v));
            }
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm512_set1_ps(*a.add(i));
                for v in 0..NV {
                    row[v] = _mm512_fmadd_ps(ai, bv[v], row[v]);
                }
            }
            a = a.add(MR);
            b = b.add(NR_MAX);
        }
        for (i, row) in acc.iter().enumerate() {
            let p = c.add(i * ldc);
            for (v, &x) in row.iter().enumerate() {
                let q = p.add(16 * v);
                if overwrite {
                    _mm512_storeu_ps(q, x);
                } else {
                    _mm512_storeu_ps(q, _mm512_add_ps(_mm512_loadu_ps(q), x));
                }
            }
        }
    }
}

/// The AVX2 micro-kernel: the same contract as [`kernel`] on a 6×16 tile.
///
/// # Safety
/// The CPU has AVX2 and FMA; `a` holds kc·MR floats, `b` kc·16 (32-byte aligned), `c` an
/// MR×16 tile with row stride `ldc`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn kernel_avx2(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    overwrite: bool,
) {
    const W: usize = 8 * NV2;
    // SAFETY: the caller guarantees the extents; every access below stays inside them.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); NV2]; MR];
        for i in 0..MR {
            for v in 0..NV2 {
                _mm_prefetch::<_MM_HINT_T0>(c.add(i * ldc + 8 * v).cast());
            }
        }
        let (mut a, mut b) = (a, b);
        for _ in 0..kc {
            _mm_prefetch::<_MM_HINT_T0>(b.add(8 * W).cast());
            let bv = [_mm256_load_ps(b), _mm256_load_ps(b.add(8))];
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm256_broadcast_ss(&*a.add(i));
                for v in 0..NV2 {
                    row[v] = _mm256_fmadd_ps(ai, bv[v], row[v]);
                }
            }
            a = a.add(MR);
            b = b.add(W);
        }
        for (i, row) in acc.iter().enumerate() {
            let p = c.add(i * ldc);
            for (v, &x) in row.iter().enumerate() {
                let q = p.add(8 * v);
                if overwrite {
                    _mm256_storeu_ps(q, x);
                } else {
                    _mm256_storeu_ps(q, _mm256_add_ps(_mm256_loadu_ps(q), x));
                }
            }
        }
    }
}
