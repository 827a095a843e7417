//! Benchmark buffers: 64-byte aligned, and for 2 MiB and more, 2 MiB aligned and advised to use
//! transparent huge pages (Linux `madvise(MADV_HUGEPAGE)`), as NumPy does for its arrays. With
//! 4 KiB pages a 2048² GEMM's packing walks thousands of pages and the TLB misses cost ~10% on
//! the machines measured here; the kernels then run as the tuned libraries they are compared
//! with do. Whether the kernel granted huge pages is up to its THP setting (`madvise` or
//! `always`); with `never` these are ordinary pages. Elements are first written in parallel, so
//! on a NUMA node each thread's pages land in its own memory (first-touch placement).

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// Size from which buffers ask for huge pages.
pub const HUGE_PAGE: usize = 2 << 20;

/// A fixed-size, initialised, aligned array of `T`.
pub struct Buffer<T> {
    ptr: NonNull<T>,
    len: usize,
    layout: Layout,
}

// SAFETY: Buffer owns its elements exclusively, like Vec<T>.
unsafe impl<T: Send> Send for Buffer<T> {}
// SAFETY: shared access only hands out &[T], like Vec<T>.
unsafe impl<T: Sync> Sync for Buffer<T> {}

impl<T: Copy> Buffer<T> {
    /// `len` elements, element `i` being `f(i)`, written in parallel.
    pub fn from_fn(len: usize, f: impl Fn(usize) -> T + Sync) -> Self
    where
        T: Send,
    {
        use rayon::prelude::*;
        let bytes = len
            .checked_mul(size_of::<T>())
            .expect("buffer size overflows usize");
        let align = if bytes >= HUGE_PAGE { HUGE_PAGE } else { 64 }.max(align_of::<T>());
        let layout = Layout::from_size_align(bytes.max(1), align).expect("valid layout");
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc(layout) } as *mut T;
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(layout)
        };
        #[cfg(target_os = "linux")]
        if bytes >= HUGE_PAGE {
            // SAFETY: the range is the allocation just made; madvise only advises the kernel.
            unsafe { libc::madvise(raw.cast(), bytes, libc::MADV_HUGEPAGE) };
        }
        let base = raw as usize;
        (0..len)
            .into_par_iter()
            .with_min_len(1 << 16)
            .for_each(|i| {
                // SAFETY: i < len, the allocation holds len elements, and each index is written once.
                unsafe { (base as *mut T).add(i).write(f(i)) };
            });
        Self { ptr, len, layout }
    }

    /// `len` copies of `value`.
    pub fn filled(len: usize, value: T) -> Self
    where
        T: Send + Sync,
    {
        Self::from_fn(len, |_| value)
    }
}

impl<T> Deref for Buffer<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: ptr points to len initialised elements owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> DerefMut for Buffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in deref, and &mut self guarantees exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for Buffer<T> {
    fn drop(&mut self) {
        // SAFETY: allocated in from_fn (T: Copy, so no element needs dropping) with this layout.
        unsafe { dealloc(self.ptr.as_ptr().cast(), self.layout) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_buffers_are_huge_page_aligned_and_initialised() {
        let b = Buffer::from_fn(HUGE_PAGE, |i| i as u32);
        assert_eq!(b.as_ptr() as usize % HUGE_PAGE, 0);
        assert_eq!(b.len(), HUGE_PAGE);
        assert_eq!(b[12345], 12345);
        let small = Buffer::filled(3, 1.5f64);
        assert_eq!(small.as_ptr() as usize % 64, 0);
        assert_eq!(&small[..], &[1.5, 1.5, 1.5]);
        let empty = Buffer::<f32>::filled(0, 0.0);
        assert!(empty.is_empty());
    }
}
