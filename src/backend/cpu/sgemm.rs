//! f32 GEMM with an AVX-512 register-blocked micro-kernel, in the structure of BLIS (Van Zee &
//! van de Geijn, "BLIS: A Framework for Rapidly Instantiating BLAS Functionality", ACM TOMS
//! 2015): C is computed in NC-wide column panels; for each KC-deep slice, the slice of B is
//! packed once into NR-wide slivers (each thread packs its share; all read all of it), each
//! thread packs MC×KC blocks of A into MR-tall slivers, and the micro-kernel keeps an MR×NR tile
//! of C in registers (6 × 64 f32 = 24 of the 32 zmm registers: four B vectors and one broadcast
//! of A per k step) while it streams one A sliver and one B sliver. Threads split the rows of C.
//!
//! The sizes were tuned on a 2-core Zen 5 VM (1 MiB L2 per core, 2026-12-01): a deep KC (1024)
//! halves the passes over C, which cost more than the B sliver (256 KiB) leaving L1 for L2;
//! 6×64 beat 14×32 by needing 10 loads per 24 FMAs instead of 16 per 28.
//!
//! On AVX2+FMA CPUs without AVX-512 (or with `HPCREADY_CPU_ISA=avx2`) the same structure runs
//! the classic 6×16 tile (BLIS's Haswell kernel shape: 12 of the 16 ymm registers hold C, two
//! hold B, one the broadcast of A). Used for f32 where the CPU has either (checked at run time);
//! elsewhere `gemm_into` uses faer. Measured against NumPy's OpenBLAS and PyTorch's MKL by
//! `benches/cpu_gemm_vs_blas.sh`.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::peak::Isa;

/// Rows of C per micro-tile.
pub const MR: usize = 6;
/// 16-lane vectors per row of an AVX-512 micro-tile.
const NV: usize = 4;
/// 8-lane vectors per row of an AVX2 micro-tile.
const NV2: usize = 2;
/// The widest micro-tile's columns.
const NR_MAX: usize = 16 * NV;
/// Depth of a packed slice (AVX-512).
pub const KC: usize = 1024;
/// Depth of a packed slice for the AVX2 kernel.
const KC_AVX2: usize = 384;
/// Rows of a packed A block: MC·KC·4 bytes (384 KiB) stay in L2 beside a B sliver.
const MC: usize = MR * 16;
/// Columns of a packed B panel: KC·NC·4 bytes (4 MiB) in L3.
const NC: usize = 4096;

/// The kernel this CPU runs (the ISA [`super::peak::detect_isa`] picks), if it has one.
pub fn available() -> Option<Isa> {
    match super::peak::detect_isa() {
        Isa::Portable => None,
        isa => Some(isa),
    }
}

/// Columns of C per micro-tile.
pub fn tile_columns(isa: Isa) -> usize {
    match isa {
        Isa::Avx2Fma => 8 * NV2,
        _ => NR_MAX,
    }
}

/// The depth of a packed slice and the rows of a packed A block for an ISA. The AVX2 tile's B
/// sliver is a quarter of the AVX-512 one's, so its slice is shallower: KC 384 keeps the
/// sliver (24 KiB) in L1 beside the A sliver; on the Zen 5 VM with AVX2 forced it beat 256,
/// 768 and 1024 by 1–6% (2026-12-01).
fn blocking(isa: Isa) -> (usize, usize) {
    match isa {
        Isa::Avx2Fma => (KC_AVX2, MR * 20),
        _ => (KC, MC),
    }
}

/// The depth of a packed slice for an ISA.
pub fn depth(isa: Isa) -> usize {
    blocking(isa).0
}

/// The micro-kernel of an ISA.
type MicroKernel = unsafe fn(usize, *const f32, *const f32, *mut f32, usize, bool);

fn micro_kernel(isa: Isa) -> MicroKernel {
    match isa {
        Isa::Avx2Fma => kernel_avx2,
        _ => kernel,
    }
}

/// The method name of the kernel for `isa`.
pub fn method(isa: Isa) -> &'static str {
    match isa {
        Isa::Avx2Fma => "cpu/sgemm-avx2",
        _ => "cpu/sgemm-avx512",
    }
}

/// 64-byte aligned scratch for packed panels.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

fn scratch(floats: usize) -> Vec<Line> {
    vec![Line([0.0; 16]); floats.div_ceil(16)]
}

fn as_floats(v: &mut [Line]) -> &mut [f32] {
    // SAFETY: Line is 16 f32 with no padding (repr(C), size 64).
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<f32>(), v.len() * 16) }
}

/// `c = a·b` for row-major `a` (m×k), `b` (k×n), `c` (m×n), on `threads` threads.
///
/// # Panics
/// When the CPU lacks AVX-512F and AVX2+FMA (check [`available`]) or a slice is shorter than
/// its dimensions say.
pub fn sgemm(
    c: &mut [f32],
    a: &[f32],
    b: &[f32],
    (m, n, k): (usize, usize, usize),
    threads: usize,
) {
    let isa = available().expect("sgemm needs AVX-512F or AVX2+FMA");
    sgemm_with(isa, c, a, b, (m, n, k), threads);
}

/// [`sgemm`] with the kernel of `isa`, which the CPU must have.
fn sgemm_with(
    isa: Isa,
    c: &mut [f32],
    a: &[f32],
    b: &[f32],
    (m, n, k): (usize, usize, usize),
    threads: usize,
) {
    let nr = tile_columns(isa);
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c[..m * n].fill(0.0);
        return;
    }
    let threads = threads.clamp(1, m.div_ceil(MR));
    // Each thread's rows: whole micro-tiles, as even as they divide.
    let tiles = m.div_ceil(MR);
    let per = tiles.div_ceil(threads) * MR;
    let (kc_max, mc_max) = blocking(isa);
    let mut bp = scratch(kc_max * NC.min(n.next_multiple_of(nr)));
    let bp_addr = bp.as_mut_ptr() as usize;
    let c_addr = c.as_mut_ptr() as usize;
    // One team for the whole product: for each (jc, pc) slice the threads pack their share of
    // B's slivers, wait for each other, compute their rows, and wait again before B is reused.
    let barrier = std::sync::Barrier::new(threads);
    let work = |t: usize| {
        let rows = (t * per).min(m)..((t + 1) * per).min(m);
        let mut ap = scratch(mc_max * kc_max);
        for jc in (0..n).step_by(NC) {
            let nc = NC.min(n - jc);
            let slivers = nc.div_ceil(nr);
            for pc in (0..k).step_by(kc_max) {
                let kc = kc_max.min(k - pc);
                let mine = (slivers * t / threads)..(slivers * (t + 1) / threads);
                // SAFETY: the packed B holds `slivers` slivers of kc·NR floats; each thread
                // writes only its own slivers, and nobody reads them until the barrier.
                unsafe { pack_b(bp_addr as *mut f32, b, n, nr, (pc, kc), (jc, nc), mine) };
                barrier.wait();
                // SAFETY: B is packed and only read until the next barrier; each thread writes
                // only C rows in its own range.
                unsafe {
                    let bp = std::slice::from_raw_parts(bp_addr as *const f32, slivers * kc * nr);
                    rows_block(
                        isa,
                        c_addr,
                        a,
                        bp,
                        &mut ap,
                        (n, k),
                        rows.clone(),
                        mc_max,
                        (pc, kc),
                        (jc, nc),
                    );
                }
                barrier.wait();
            }
        }
    };
    std::thread::scope(|s| {
        for t in 1..threads {
            let work = &work;
            s.spawn(move || work(t));
        }
        work(0);
    });
    drop(bp);
}

/// Computes rows `rows` of C's panel (jc, nc) for the slice (pc, kc): written on the first
/// slice, added to on the others.
///
/// # Safety
/// `c_addr` is C's base pointer, `rows` are this thread's alone, and the CPU has `isa`.
#[allow(clippy::too_many_arguments)]
unsafe fn rows_block(
    isa: Isa,
    c_addr: usize,
    a: &[f32],
    bp: &[f32],
    ap: &mut [Line],
    (n, k): (usize, usize),
    rows: std::ops::Range<usize>,
    mc_max: usize,
    (pc, kc): (usize, usize),
    (jc, nc): (usize, usize),
) {
    let c = c_addr as *mut f32;
    let first = pc == 0;
    let (nr_full, kernel) = (tile_columns(isa), micro_kernel(isa));
    let mut ic = rows.start;
    while ic < rows.end {
        let mc = mc_max.min(rows.end - ic);
        pack_a(as_floats(ap), a, k, ic, mc, pc, kc);
        let ap = as_floats(ap);
        for jr in (0..nc).step_by(nr_full) {
            let nr = nr_full.min(nc - jr);
            let bs = &bp[jr * kc..];
            for ir in (0..mc).step_by(MR) {
                let mr = MR.min(mc - ir);
                let asl = &ap[ir * kc..];
                // SAFETY: the C tile (ic+ir.., jc+jr..) of mr×nr lies inside C and in this
                // thread's rows; the slivers hold kc·MR and kc·NR floats.
                unsafe {
                    let ct = c.add((ic + ir) * n + jc + jr);
                    if mr == MR && nr == nr_full {
                        kernel(kc, asl.as_ptr(), bs.as_ptr(), ct, n, first);
                    } else {
                        let mut tile = [0f32; MR * NR_MAX];
                        kernel(
                            kc,
                            asl.as_ptr(),
                            bs.as_ptr(),
                            tile.as_mut_ptr(),
                            nr_full,
                            true,
                        );
                        for i in 0..mr {
                            for j in 0..nr {
                                let dst = ct.add(i * n + j);
                                *dst = if first { 0.0 } else { *dst } + tile[i * nr_full + j];
                            }
                        }
                    }
                }
            }
        }
        ic += mc;
    }
}

/// Packs slivers `slivers` of B[pc..pc+kc, jc..jc+nc], `w` columns each: kc rows of `w`
/// contiguous floats, zero-padded past n.
///
/// # Safety
/// `dst` holds nc.div_ceil(w) slivers of kc·w floats, and no one else touches these slivers.
unsafe fn pack_b(
    dst: *mut f32,
    b: &[f32],
    ldb: usize,
    w: usize,
    (pc, kc): (usize, usize),
    (jc, nc): (usize, usize),
    slivers: std::ops::Range<usize>,
) {
    for s in slivers {
        let jr = s * w;
        let nr = w.min(nc - jr);
        // SAFETY: sliver s lies inside dst and is this caller's alone.
        let sliver = unsafe { std::slice::from_raw_parts_mut(dst.add(s * kc * w), kc * w) };
        for p in 0..kc {
            let src = &b[(pc + p) * ldb + jc + jr..][..nr];
            let row = &mut sliver[p * w..(p + 1) * w];
            row[..nr].copy_from_slice(src);
            row[nr..].fill(0.0);
        }
    }
}

/// Packs A[ic..ic+mc, pc..pc+kc] as MR-tall slivers, each kc columns of MR floats, zero-padded
/// past mc.
fn pack_a(dst: &mut [f32], a: &[f32], lda: usize, ic: usize, mc: usize, pc: usize, kc: usize) {
    for (s, ir) in (0..mc).step_by(MR).enumerate() {
        let mr = MR.min(mc - ir);
        let sliver = &mut dst[s * kc * MR..(s + 1) * kc * MR];
        for i in 0..MR {
            if i < mr {
                let row = &a[(ic + ir + i) * lda + pc..][..kc];
                for (p, &x) in row.iter().enumerate() {
                    sliver[p * MR + i] = x;
                }
            } else {
                for p in 0..kc {
                    sliver[p * MR + i] = 0.0;
                }
            }
        }
    }
}

/// The MR×NR micro-kernel: C tile (row stride `ldc`) = (C tile unless `overwrite`) +
/// A sliver (kc × MR) · B sliver (kc × NR).
///
/// # Safety
/// The CPU has AVX-512F; `a` holds kc·MR floats, `b` kc·NR (64-byte aligned), `c` an MR×NR
/// tile with row stride `ldc`.
#[target_feature(enable = "avx512f")]
unsafe fn kernel(
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
unsafe fn kernel_avx2(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(a: &[f32], b: &[f32], (m, n, k): (usize, usize, usize)) -> Vec<f64> {
        let mut c = vec![0f64; m * n];
        for i in 0..m {
            for p in 0..k {
                let x = f64::from(a[i * k + p]);
                for j in 0..n {
                    c[i * n + j] += x * f64::from(b[p * n + j]);
                }
            }
        }
        c
    }

    /// Edge tiles in every direction, several KC slices, one and several threads, k = 0.
    /// Every kernel this CPU can run.
    fn kernels() -> Vec<Isa> {
        let mut v = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                v.push(Isa::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                v.push(Isa::Avx2Fma);
            }
        }
        v
    }

    #[test]
    fn matches_the_float64_product_at_odd_sizes() {
        for isa in kernels() {
            odd_sizes(isa);
        }
    }

    fn odd_sizes(isa: Isa) {
        for &(m, n, k, t) in &[
            (1, 1, 1, 1),
            (14, 32, 7, 1),
            (15, 33, 257, 2),
            (29, 70, 513, 3),
            (3, 100, 1, 2),
            (5, 5, 0, 1),
        ] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0)
                .collect();
            let mut c = vec![f32::NAN; m * n];
            sgemm_with(isa, &mut c, &a, &b, (m, n, k), t);
            let r = reference(&a, &b, (m, n, k));
            for (i, (&got, &want)) in c.iter().zip(&r).enumerate() {
                assert!(
                    (f64::from(got) - want).abs() <= 1e-4 * (k as f64).max(1.0),
                    "{isa:?} {m}x{n}x{k} on {t}: C[{i}] = {got}, expected {want}"
                );
            }
        }
    }
}
