//! The MPI communicator (rsmpi), behind the `mpi` feature.
//!
//! The all-reduce itself goes through `MPI_Allreduce`, out of place through rsmpi and in place
//! through the C API with `MPI_IN_PLACE` (from a small C shim, since its value differs between
//! libraries). The watchdog's arrival check posts one tiny message per rank and step to rank 0,
//! which tests them from its watchdog thread; that needs `MPI_THREAD_MULTIPLE`, requested at
//! start. A library that does not grant it still gets the timeout, without the rank list.

use super::Communicator;
use super::watchdog::{Arrivals, Watchdog};
use mpi::collective::SystemOperation;
use mpi::environment::{Threading, Universe};
use mpi::ffi;
use mpi::topology::Communicator as _;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::cell::{Cell, RefCell};
use std::os::raw::c_void;
use std::time::Duration;

unsafe extern "C" {
    fn hpcready_mpi_in_place() -> *mut c_void;
}

/// The most elements one MPI call takes (its count is a C int).
const MAX_COUNT: usize = i32::MAX as usize;
/// Tags of the arrival messages cycle through this range (MPI guarantees tags up to 32767).
const TAG_BASE: i32 = 17_000;
const TAG_SPAN: u64 = 15_000;

/// MPI's world communicator with the watchdog.
pub struct MpiComm {
    // Dropped last: finalizes MPI.
    _universe: Universe,
    world: SimpleCommunicator,
    multiple: bool,
    watchdog: Watchdog,
    step: Cell<u64>,
    /// This rank's pending arrival message (ranks ≥ 1), waited on at the end of the step.
    pending: RefCell<Option<(ffi::MPI_Request, Box<u32>)>>,
}

/// The world communicator handle, moved into the watchdog thread.
#[derive(Clone, Copy)]
struct World(ffi::MPI_Comm);
// SAFETY: an MPI communicator handle may be used from any thread under MPI_THREAD_MULTIPLE,
// and MPI_Abort is what the watchdog calls otherwise.
unsafe impl Send for World {}

fn abort(world: World, msg: &str) {
    crate::say!("error: {msg}");
    // SAFETY: aborting the job; the handle is the live world communicator.
    unsafe {
        ffi::MPI_Abort(world.0, 1);
    }
}

impl std::fmt::Debug for MpiComm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiComm")
            .field("rank", &self.world.rank())
            .field("size", &self.world.size())
            .finish()
    }
}

impl MpiComm {
    /// Initialises MPI (a singleton when no launcher started the process).
    pub fn init() -> anyhow::Result<Self> {
        let (universe, threading) = mpi::initialize_with_threading(Threading::Multiple)
            .ok_or_else(|| anyhow::anyhow!("MPI was already initialised"))?;
        let world = universe.world();
        let handle = World(world.as_raw());
        let rank = world.rank();
        let watchdog = Watchdog::start(Box::new(move |msg: &str| {
            abort(handle, &format!("rank {rank}: {msg}"))
        }));
        Ok(Self {
            _universe: universe,
            world,
            multiple: threading == Threading::Multiple,
            watchdog,
            step: Cell::new(0),
            pending: RefCell::new(None),
        })
    }

    /// One MPI_Allreduce of `count` (≤ [`MAX_COUNT`]) elements.
    fn raw_all_reduce(
        &self,
        send: *const c_void,
        recv: *mut c_void,
        count: usize,
        dt: ffi::MPI_Datatype,
        op: ffi::MPI_Op,
    ) {
        // Callers pass chunks of at most MAX_COUNT elements.
        let count = i32::try_from(count).unwrap_or(i32::MAX);
        // SAFETY: the buffers hold `count` elements of `dt` (or send is MPI_IN_PLACE).
        unsafe {
            ffi::MPI_Allreduce(send, recv, count, dt, op, self.world.as_raw());
        }
    }
}

/// Rank 0's check of which ranks reached the step: one receive per rank.
struct RankArrivals {
    reqs: Vec<(usize, ffi::MPI_Request)>,
    bufs: Vec<u32>,
}

// SAFETY: the requests and their buffers are owned here and only touched by the watchdog
// thread, under MPI_THREAD_MULTIPLE.
unsafe impl Send for RankArrivals {}

impl RankArrivals {
    fn post(world: ffi::MPI_Comm, size: usize, tag: i32) -> Self {
        let mut bufs = vec![0u32; size];
        let mut reqs = Vec::with_capacity(size);
        for r in 1..size {
            // SAFETY: a zeroed request is overwritten by MPI_Irecv; the buffer lives in `bufs`,
            // whose heap block does not move.
            unsafe {
                let mut req: ffi::MPI_Request = std::mem::zeroed();
                ffi::MPI_Irecv(
                    bufs.as_mut_ptr().add(r).cast(),
                    1,
                    ffi::RSMPI_UINT32_T,
                    r as i32,
                    tag,
                    world,
                    &mut req,
                );
                reqs.push((r, req));
            }
        }
        Self { reqs, bufs }
    }
}

impl Arrivals for RankArrivals {
    fn missing(&mut self) -> Vec<usize> {
        self.reqs.retain_mut(|(_, req)| {
            let mut done = 0;
            // SAFETY: a live request posted by `post`.
            unsafe {
                ffi::MPI_Test(req, &mut done, ffi::RSMPI_STATUS_IGNORE);
            }
            done == 0
        });
        self.reqs.iter().map(|(r, _)| *r).collect()
    }

    fn settle(&mut self) {
        for (_, req) in self.reqs.iter_mut() {
            // SAFETY: the step is over, so every rank has sent its arrival.
            unsafe {
                ffi::MPI_Wait(req, ffi::RSMPI_STATUS_IGNORE);
            }
        }
        self.reqs.clear();
        let _ = &self.bufs;
    }
}

impl Communicator for MpiComm {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn library(&self) -> String {
        mpi::environment::library_version()
            .map(|v| v.split([',', '\n']).next().unwrap_or("").trim().to_string())
            .unwrap_or_else(|_| "MPI (version unknown)".into())
    }

    fn method(&self) -> String {
        "mpi".into()
    }

    fn family(&self) -> crate::results::MethodFamily {
        crate::results::MethodFamily::VendorLibrary
    }

    fn hosts(&self) -> Vec<String> {
        const W: usize = 256;
        let mut mine = [0u8; W];
        let name = crate::node::hostname();
        let n = name.len().min(W - 1);
        mine[..n].copy_from_slice(&name.as_bytes()[..n]);
        let mut all = vec![0u8; W * self.size()];
        self.world.all_gather_into(&mine[..], &mut all[..]);
        all.chunks(W)
            .map(|c| {
                let end = c.iter().position(|&b| b == 0).unwrap_or(W);
                String::from_utf8_lossy(&c[..end]).into_owned()
            })
            .collect()
    }

    fn all_reduce(&self, send: &[f32], recv: &mut [f32]) {
        // MPI counts are 32-bit: a message over 2^31 − 1 elements (8 GiB of f32) is reduced
        // in chunks, as element-wise sums allow.
        for (s, r) in send.chunks(MAX_COUNT).zip(recv.chunks_mut(MAX_COUNT)) {
            self.world.all_reduce_into(s, r, SystemOperation::sum());
        }
    }

    fn all_reduce_in_place(&self, buf: &mut [f32]) {
        // SAFETY: the shim returns the library's MPI_IN_PLACE marker.
        let in_place = unsafe { hpcready_mpi_in_place() };
        // SAFETY: reading a constant datatype/op handle exported by rsmpi's shim.
        let (dt, op) = unsafe { (ffi::RSMPI_FLOAT, ffi::RSMPI_SUM) };
        for chunk in buf.chunks_mut(MAX_COUNT) {
            self.raw_all_reduce(in_place, chunk.as_mut_ptr().cast(), chunk.len(), dt, op);
        }
    }

    fn max_f64(&self, x: f64) -> f64 {
        let mut out = 0.0;
        self.world
            .all_reduce_into(&x, &mut out, SystemOperation::max());
        out
    }

    fn sum_u64(&self, x: u64) -> u64 {
        let mut out = 0;
        self.world
            .all_reduce_into(&x, &mut out, SystemOperation::sum());
        out
    }

    fn min_u64(&self, x: u64) -> u64 {
        let mut out = 0;
        self.world
            .all_reduce_into(&x, &mut out, SystemOperation::min());
        out
    }

    fn barrier(&self) {
        self.world.barrier();
    }

    fn begin(&self, what: &str, timeout: Duration) {
        let step = self.step.get();
        self.step.set(step + 1);
        let tag = TAG_BASE + (step % TAG_SPAN) as i32;
        let size = self.size();
        let raw = self.world.as_raw();
        if self.rank() == 0 {
            let arrivals = (self.multiple && size > 1)
                .then(|| Box::new(RankArrivals::post(raw, size, tag)) as Box<dyn Arrivals>);
            self.watchdog.arm(what, timeout, arrivals);
        } else {
            // The other ranks give rank 0 time to report first, then stop on their own.
            self.watchdog
                .arm(what, timeout + timeout / 2 + Duration::from_secs(5), None);
            if self.multiple {
                let token = Box::new(step as u32);
                // SAFETY: the token is boxed and kept in `pending` until MPI_Wait in `end`.
                unsafe {
                    let mut req: ffi::MPI_Request = std::mem::zeroed();
                    ffi::MPI_Isend(
                        (&*token as *const u32).cast(),
                        1,
                        ffi::RSMPI_UINT32_T,
                        0,
                        tag,
                        raw,
                        &mut req,
                    );
                    *self.pending.borrow_mut() = Some((req, token));
                }
            }
        }
    }

    fn end(&self) {
        if let Some((mut req, token)) = self.pending.borrow_mut().take() {
            // SAFETY: the request posted in `begin`; rank 0 receives it.
            unsafe {
                ffi::MPI_Wait(&mut req, ffi::RSMPI_STATUS_IGNORE);
            }
            drop(token);
        }
        self.watchdog.disarm();
    }
}
