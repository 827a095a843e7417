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
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            v.push(Isa::Avx2Fma);
        }
    }
    v
}

#[test]
fn matches_the_float64_product_at_odd_sizes() {
    for isa in kernels() {
        odd_sizes(isa, blocking(isa));
        // Shallow slices and blocks: many slices, partial A blocks, several barriers.
        odd_sizes(isa, (16, MR * 2));
        odd_sizes(isa, (40, MR));
    }
}

fn odd_sizes(isa: Isa, blocking: (usize, usize)) {
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
        sgemm_with(isa, blocking, &mut c, &a, &b, (m, n, k), t);
        let r = reference(&a, &b, (m, n, k));
        for (i, (&got, &want)) in c.iter().zip(&r).enumerate() {
            assert!(
                (f64::from(got) - want).abs() <= 1e-4 * (k as f64).max(1.0),
                "{isa:?} {blocking:?} {m}x{n}x{k} on {t}: C[{i}] = {got}, expected {want}"
            );
        }
    }
}

#[test]
fn the_avx2_depth_follows_the_l2_cache() {
    // Zen 3 and Haswell (BLIS), Zen 5 (tuned), the Intel Xeon VM (alike), not said.
    assert_eq!(avx2_depth(Some(512 << 10)), 256);
    assert_eq!(avx2_depth(Some(256 << 10)), 256);
    assert_eq!(avx2_depth(Some(1 << 20)), 384);
    assert_eq!(avx2_depth(Some(2 << 20)), 384);
    assert_eq!(avx2_depth(None), 384);
}

#[test]
fn the_spin_barrier_holds_every_thread_each_round() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = 4;
    let barrier = team::SpinBarrier::new(threads);
    let counts: Vec<AtomicUsize> = (0..threads).map(|_| AtomicUsize::new(0)).collect();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (barrier, counts) = (&barrier, &counts);
            s.spawn(move || {
                for round in 0..200 {
                    counts[t].store(round + 1, Ordering::Relaxed);
                    barrier.wait();
                    // Every thread has finished this round's write, and none has begun the
                    // next one's.
                    for c in counts {
                        assert_eq!(c.load(Ordering::Relaxed), round + 1);
                    }
                    barrier.wait();
                }
            });
        }
    });
}

#[test]
fn arenas_are_whole_aligned_huge_pages() {
    let arena = team::Arena::take(100, 10);
    assert_eq!(arena.b.len() * 4 % (2 << 20), 0);
    assert!(arena.a.len() >= 10);
    let at = arena.b.as_ptr() as usize;
    assert_eq!(at % (2 << 20), 0);
    arena.give_back();
}
