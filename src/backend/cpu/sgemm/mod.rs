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
//! hold B, one the broadcast of A), with its depth set by the CPU's L2 ([`avx2_depth`]). Used
//! for f32 where the CPU has either (checked at run time); elsewhere `gemm_into` uses faer.
//! Measured against NumPy's OpenBLAS and PyTorch's MKL by `benches/cpu_gemm_vs_blas.sh`.
//!
//! The threads of one product share a spinning barrier and a packing arena kept across calls
//! (`team`); the micro-kernels are in `kernels`.

use super::peak::Isa;
use kernels::{kernel, kernel_avx2};
use team::{Arena, SpinBarrier};

mod kernels;
mod team;

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
/// Rows of a packed A block (AVX-512): MC·KC·4 bytes (384 KiB) stay in L2 beside a B sliver.
const MC: usize = MR * 16;
/// Rows of a packed A block (AVX2): 120 KiB at KC 256, 180 KiB at KC 384.
const MC_AVX2: usize = MR * 20;
/// Columns of a packed B panel: KC·NC·4 bytes (4 MiB) in L3.
const NC: usize = 4096;
/// The environment variable that sets the depth of a packed slice (KC) in place of the
/// kernel's own choice, for tuning on a new machine.
pub const DEPTH_VAR: &str = "HPCREADY_SGEMM_KC";
/// The depths [`DEPTH_VAR`] may name.
const DEPTH_RANGE: std::ops::RangeInclusive<usize> = 16..=4096;

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

/// The depth `HPCREADY_SGEMM_KC` names, checked. Unset: `None`.
pub fn depth_override() -> anyhow::Result<Option<usize>> {
    let Ok(text) = std::env::var(DEPTH_VAR) else {
        return Ok(None);
    };
    match text.trim().parse::<usize>() {
        Ok(kc) if DEPTH_RANGE.contains(&kc) => Ok(Some(kc)),
        _ => Err(crate::error::input_error(
            format!("{DEPTH_VAR}={text}"),
            format!(
                "the f32 GEMM's depth (KC) must be a whole number from {} to {}",
                DEPTH_RANGE.start(),
                DEPTH_RANGE.end()
            ),
        )),
    }
}

/// The L2 cache of one core in bytes (sysfs; the smallest where cores differ), read once;
/// `None` where the system does not say.
fn l2() -> Option<usize> {
    static L2: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *L2.get_or_init(|| {
        crate::node::caches(std::path::Path::new("/sys/devices/system/cpu"))
            .iter()
            .filter(|c| c.level == 2 && c.kind != "Instruction")
            .filter_map(|c| usize::try_from(c.size_bytes).ok())
            .min()
    })
}

/// The AVX2 kernel's depth for a core with `l2` bytes of L2: 384 from 1 MiB, 256 below.
/// - 384 beat 256, 768 and 1024 by 1–6% on the Zen 5 VM (1 MiB L2) with AVX2 forced
///   (2026-12-01). On a 2-core Intel Xeon VM (2 MiB L2, 2026-12-07), depths 256 to 1024 measured
///   alike within 6% (`benches/sgemm_depth.rs`, huge-page matrices as `run` uses).
///   On a 2-core AMD EPYC Zen 4 VM (32 KiB L1d, 1 MiB L2, 2026-12-07), 256 and 384 measured
///   alike call by call, and 384 gave 0.963× OpenBLAS's Haswell kernel (`ISA=avx2`).
/// - 256 is BLIS's depth for its 6×16 kernel on Zen 3 (512 KiB L2) and Haswell (256 KiB; BLIS
///   `config/zen3/bli_cntx_init_zen3.c`, `config/haswell`). At 384 the B sliver (24 KiB) and
///   the A sliver (9 KiB) overflow such a core's 32 KiB L1 together.
/// - Unknown: 384.
pub fn avx2_depth(l2: Option<usize>) -> usize {
    match l2 {
        Some(b) if b < 1 << 20 => 256,
        _ => 384,
    }
}

/// The depth of a packed slice and the rows of a packed A block for an ISA: `HPCREADY_SGEMM_KC`
/// where set (read once; an invalid value is refused by [`depth_override`] before anything
/// runs, and ignored here). AVX-512: KC 1024 (see the module's notes). AVX2: [`avx2_depth`] of
/// this CPU's L2.
fn blocking(isa: Isa) -> (usize, usize) {
    static SET: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    let set = *SET.get_or_init(|| depth_override().ok().flatten());
    match isa {
        Isa::Avx2Fma => (set.unwrap_or_else(|| avx2_depth(l2())), MC_AVX2),
        _ => (set.unwrap_or(KC), MC),
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
    let (kc, mc) = blocking(isa);
    sgemm_with(isa, (kc, mc), c, a, b, (m, n, k), threads);
}

/// [`sgemm`] with slices `kc` deep and A blocks of `mc` rows (rounded up to whole micro-tiles;
/// `None`: the kernel's own), so that blockings can be compared in one process
/// (`benches/sgemm_depth.rs`).
///
/// # Panics
/// As [`sgemm`], and when `kc` or `mc` is 0.
pub fn sgemm_at_blocking(
    c: &mut [f32],
    a: &[f32],
    b: &[f32],
    dims: (usize, usize, usize),
    threads: usize,
    (kc, mc): (usize, Option<usize>),
) {
    assert!(kc > 0, "a packed slice has a depth");
    assert!(mc != Some(0), "a packed A block has rows");
    let isa = available().expect("sgemm needs AVX-512F or AVX2+FMA");
    let mc = mc.map_or(blocking(isa).1, |r| r.next_multiple_of(MR));
    sgemm_with(isa, (kc, mc), c, a, b, dims, threads);
}

/// [`sgemm`] with the kernel of `isa`, which the CPU must have, and blocking `(kc, mc)`.
fn sgemm_with(
    isa: Isa,
    (kc_max, mc_max): (usize, usize),
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
    // The packed panels come from a pool kept across calls (huge pages, see `team`), so a call
    // neither allocates nor faults pages in, and the panels sit at the same physical addresses
    // from one call to the next.
    let a_block = (mc_max * kc_max).next_multiple_of(16);
    let mut arena = Arena::take(kc_max * NC.min(n.next_multiple_of(nr)), a_block * threads);
    let bp_addr = arena.b.as_mut_ptr() as usize;
    let ap_addr = arena.a.as_mut_ptr() as usize;
    let c_addr = c.as_mut_ptr() as usize;
    // One team for the whole product: for each (jc, pc) slice the threads pack their share of
    // B's slivers, wait for each other, compute their rows, and wait again before B is reused.
    let barrier = SpinBarrier::new(threads);
    let work = |t: usize| {
        let rows = (t * per).min(m)..((t + 1) * per).min(m);
        // SAFETY: thread t alone uses floats t·a_block.. of the A arena, which holds
        // threads·a_block floats.
        let ap = unsafe {
            std::slice::from_raw_parts_mut((ap_addr as *mut f32).add(t * a_block), a_block)
        };
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
                        ap,
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
    arena.give_back();
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
    ap: &mut [f32],
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
        pack_a(ap, a, k, ic, mc, pc, kc);
        let ap = &*ap;
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

#[cfg(test)]
mod tests;
