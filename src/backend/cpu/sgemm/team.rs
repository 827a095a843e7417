//! What the threads of one product share: a spinning barrier and the packing arena.
//!
//! The barrier spins, as the thread teams of BLIS and OpenBLAS do, rather than putting a waiting
//! thread to sleep: a 2048³ product passes two barriers per slice (4 to 16), and a thread that
//! slept must be woken by the kernel, which in a VM means an idle virtual CPU halted and then
//! interrupted by the hypervisor. After [`SPINS`] spins a waiter yields its CPU on each check, so a team that
//! outnumbers the CPUs it may run on still finishes.
//!
//! The arena holds the packed panels. It is allocated once and kept in a pool across calls, in
//! [`Buffer`]s of at least 2 MiB (aligned to 2 MiB and advised to use transparent huge pages), so
//! a call allocates nothing, faults in no pages, and its panels keep the same physical addresses
//! from one call to the next: with 4 KiB pages scattered at random, the panels' lines would fall
//! into different sets of a physically indexed L2 in each process.

use super::super::buffer::{Buffer, HUGE_PAGE};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Spins before a waiter starts yielding its CPU on each check.
const SPINS: u32 = 1 << 14;
/// Arenas the pool keeps (one per product running at once; more are dropped).
const POOL: usize = 2;

/// A barrier for `threads` threads that spins while it waits.
pub struct SpinBarrier {
    threads: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
}

impl SpinBarrier {
    pub fn new(threads: usize) -> Self {
        Self {
            threads,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
        }
    }

    /// Returns once all `threads` threads have called it; every write a thread made before the
    /// call is visible to every thread after it.
    pub fn wait(&self) {
        if self.threads <= 1 {
            return;
        }
        let generation = self.generation.load(Ordering::Acquire);
        // AcqRel: the arrivals form a release sequence, so the last to arrive has seen the
        // writes of all the others, and publishes them with the new generation.
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.threads {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0;
        while self.generation.load(Ordering::Acquire) == generation {
            if spins < SPINS {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// The packed panels of one product: B's slice, shared, and one A block per thread.
pub struct Arena {
    pub b: Buffer<f32>,
    pub a: Buffer<f32>,
}

static ARENAS: Mutex<Vec<Arena>> = Mutex::new(Vec::new());

/// Floats in a buffer of at least `floats`, rounded up to whole huge pages.
fn huge(floats: usize) -> usize {
    (floats * size_of::<f32>())
        .max(1)
        .next_multiple_of(HUGE_PAGE)
        / size_of::<f32>()
}

impl Arena {
    /// An arena with at least `b` floats for B and `a` for the A blocks: one from the pool
    /// when one is large enough, else a new one.
    pub fn take(b: usize, a: usize) -> Self {
        let mut pool = ARENAS.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = pool.iter().position(|x| x.b.len() >= b && x.a.len() >= a) {
            return pool.swap_remove(i);
        }
        drop(pool);
        Self {
            b: Buffer::filled(huge(b), 0.0),
            a: Buffer::filled(huge(a), 0.0),
        }
    }

    /// Returns the arena to the pool; when the pool is full, its smallest arena is dropped.
    pub fn give_back(self) {
        let mut pool = ARENAS.lock().unwrap_or_else(|p| p.into_inner());
        pool.push(self);
        if pool.len() > POOL
            && let Some(i) = (0..pool.len()).min_by_key(|&i| pool[i].b.len() + pool[i].a.len())
        {
            pool.swap_remove(i);
        }
    }
}
