//! Host memory copy bandwidth: a parallel copy of a buffer far larger than the caches, counted as
//! bytes read plus bytes written (STREAM's copy convention; write-allocate traffic is not
//! counted, so this is a lower bound on the bytes the memory system moved).

use super::buffer::Buffer;
use crate::backend::Kernel;
use crate::bench::verify::Verification;
use crate::bench::{Work, copy_bytes};
use rayon::prelude::*;
use std::time::Duration;

/// Copies `src` into `dst`, split evenly over the threads.
pub struct CopyKernel {
    src: Buffer<u64>,
    dst: Buffer<u64>,
    threads: usize,
}

fn pattern(i: usize) -> u64 {
    (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA5A5_5A5A_0F0F_F0F0
}

impl CopyKernel {
    /// A copy of `bytes` bytes (rounded down to whole 8-byte words).
    pub fn new(bytes: u64, threads: usize) -> Self {
        let words = (bytes / 8) as usize;
        Self {
            src: Buffer::from_fn(words, pattern),
            dst: Buffer::filled(words, 0u64),
            threads,
        }
    }

    fn chunk(&self) -> usize {
        self.src.len().div_ceil(self.threads).max(512)
    }
}

impl Kernel for CopyKernel {
    fn method(&self) -> String {
        "cpu/copy".into()
    }

    fn variant(&self) -> String {
        format!(
            "parallel copy_from_slice, {} threads, huge-page buffers",
            self.threads
        )
    }

    fn work(&self) -> Work {
        Work {
            flops: 0.0,
            bytes: copy_bytes(self.src.len() as u64 * 8),
        }
    }

    fn run(&mut self, iterations: u64) -> anyhow::Result<Option<Duration>> {
        let chunk = self.chunk();
        for _ in 0..iterations {
            self.dst
                .par_chunks_mut(chunk)
                .zip(self.src.par_chunks(chunk))
                .for_each(|(d, s)| d.copy_from_slice(s));
        }
        Ok(None)
    }

    fn verify(&mut self) -> Verification {
        let total = self.src.len() as u64;
        let first_bad = self
            .dst
            .par_iter()
            .zip(self.src.par_iter())
            .position_first(|(d, s)| d != s);
        Verification::exact_copy(first_bad, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_verifies_only_after_running() {
        let mut k = CopyKernel::new(1 << 20, 2);
        assert!(!k.verify().passed);
        k.run(2).unwrap();
        let v = k.verify();
        assert!(v.passed && v.is_full() && v.checked == 1 << 17);
        k.dst[1000] ^= 1;
        assert_eq!(
            k.verify().first_failure.as_deref(),
            Some("word 1000 differs from the source")
        );
    }
}
