//! The micro-kernels: an MR×NR tile of C kept in registers while one packed A sliver and one
//! packed B sliver stream through. Both ISAs' kernels are one loop, written once
//! ([`micro_kernel!`]) over their vector type and intrinsics.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::{MR, NV, NV2};

/// Defines an MR×(`$lanes`·`$nv`) micro-kernel: C tile (row stride `ldc`) = (C tile unless
/// `overwrite`) + A sliver (kc × MR) · B sliver (kc × NR), with the C tile in `MR·$nv` vector
/// registers; per k step it loads `$nv` vectors of B and broadcasts each of MR floats of A.
macro_rules! micro_kernel {
    (
        $(#[$doc:meta])*
        $name:ident: $feature:literal, $lanes:literal lanes, $nv:ident vectors,
        $zero:ident, $set1:ident, $load:ident, $loadu:ident, $storeu:ident, $add:ident, $fmadd:ident
    ) => {
        $(#[$doc])*
        #[target_feature(enable = $feature)]
        pub(super) unsafe fn $name(
            kc: usize,
            a: *const f32,
            b: *const f32,
            c: *mut f32,
            ldc: usize,
            overwrite: bool,
        ) {
            const W: usize = $lanes * $nv;
            // SAFETY: the caller guarantees the extents; every access below stays inside them.
            unsafe {
                let mut acc = [[$zero(); $nv]; MR];
                // The C tile is read or written only after the k loop: fetch it meanwhile (its
                // rows are a whole row of C apart, so the hardware prefetcher does not see them
                // coming).
                for i in 0..MR {
                    for v in 0..$nv {
                        _mm_prefetch::<_MM_HINT_T0>(c.add(i * ldc + $lanes * v).cast());
                    }
                }
                let (mut a, mut b) = (a, b);
                for _ in 0..kc {
                    _mm_prefetch::<_MM_HINT_T0>(b.add(8 * W).cast());
                    let mut bv = [$zero(); $nv];
                    for (v, x) in bv.iter_mut().enumerate() {
                        *x = $load(b.add($lanes * v));
                    }
                    for (i, row) in acc.iter_mut().enumerate() {
                        let ai = $set1(*a.add(i));
                        for v in 0..$nv {
                            row[v] = $fmadd(ai, bv[v], row[v]);
                        }
                    }
                    a = a.add(MR);
                    b = b.add(W);
                }
                for (i, row) in acc.iter().enumerate() {
                    let p = c.add(i * ldc);
                    for (v, &x) in row.iter().enumerate() {
                        let q = p.add($lanes * v);
                        if overwrite {
                            $storeu(q, x);
                        } else {
                            $storeu(q, $add($loadu(q), x));
                        }
                    }
                }
            }
        }
    };
}

micro_kernel! {
    /// The AVX-512 micro-kernel on a 6×64 tile (24 of the 32 zmm registers hold C).
    ///
    /// # Safety
    /// The CPU has AVX-512F; `a` holds kc·MR floats, `b` kc·64 (64-byte aligned), `c` an
    /// MR×64 tile with row stride `ldc`.
    kernel: "avx512f", 16 lanes, NV vectors,
    _mm512_setzero_ps, _mm512_set1_ps, _mm512_load_ps, _mm512_loadu_ps, _mm512_storeu_ps,
    _mm512_add_ps, _mm512_fmadd_ps
}

micro_kernel! {
    /// The AVX2 micro-kernel on a 6×16 tile (12 of the 16 ymm registers hold C).
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `a` holds kc·MR floats, `b` kc·16 (32-byte aligned), `c` an
    /// MR×16 tile with row stride `ldc`.
    kernel_avx2: "avx2,fma", 8 lanes, NV2 vectors,
    _mm256_setzero_ps, _mm256_set1_ps, _mm256_load_ps, _mm256_loadu_ps, _mm256_storeu_ps,
    _mm256_add_ps, _mm256_fmadd_ps
}
