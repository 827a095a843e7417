//! The file operations the I/O bench times: a checkpoint shard written and fsynced, dropped from
//! the page cache and read back against its checksum; random 128 KiB reads as a data loader makes;
//! and mdtest's pattern of small files (create, stat, open-read, remove). Each returns what it
//! did; the caller times it across ranks.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Bytes per write and read call of the checkpoint: large, as torch.save's and DCP's writers are.
pub const CHUNK: usize = 16 << 20;
/// A data loader's read: one 128 KiB sample.
pub const SAMPLE: u64 = 128 << 10;
/// Bytes of each small file of the metadata test (mdtest's `-w 4096 -e 4096`).
pub const SMALL_FILE: usize = 4096;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// From here on SIGINT and SIGTERM only set a flag, which the loops below check between
/// operations, so that the bench removes its files before it exits.
pub fn catch_interrupts() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

/// Whether SIGINT or SIGTERM arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// What went wrong in an operation: the file, and what happened.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// An I/O call failed (a full file system: `No space left on device`).
    #[error("{path}: {what}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The call.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// SIGINT or SIGTERM.
    #[error("interrupted")]
    Interrupted,
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> OpError + 'a {
    move |source| OpError::Io {
        path: path.to_path_buf(),
        what,
        source,
    }
}

fn check_interrupt() -> Result<(), OpError> {
    if interrupted() {
        Err(OpError::Interrupted)
    } else {
        Ok(())
    }
}

/// The data of a shard: random bytes (incompressible), every 4 KiB block stamped with its
/// position and the rank (no two blocks alike, so nothing deduplicates).
#[derive(Debug)]
pub struct Pattern {
    base: Vec<u8>,
    rank: u64,
}

impl Pattern {
    /// The pattern of `rank`'s shard.
    pub fn new(rank: usize) -> Self {
        let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (rank as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut base = vec![0u8; CHUNK];
        for w in base.chunks_exact_mut(8) {
            // xorshift64*
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            w.copy_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
        Self {
            base,
            rank: rank as u64,
        }
    }

    /// Chunk `index` of the shard (`len` bytes) into `buf`.
    pub fn fill(&self, index: u64, len: usize, buf: &mut Vec<u8>) {
        buf.clear();
        buf.extend_from_slice(&self.base[..len]);
        for (b, block) in buf.chunks_mut(4096).enumerate() {
            let stamp = (index << 20 | b as u64) ^ (self.rank << 48);
            let n = block.len().min(8);
            block[..n].copy_from_slice(&stamp.to_le_bytes()[..n]);
        }
    }

    /// The checksum the whole shard of `bytes` bytes must read back as.
    pub fn checksum(&self, bytes: u64) -> u64 {
        let mut sum = Checksum::default();
        let mut buf = Vec::with_capacity(CHUNK);
        let mut done = 0u64;
        let mut index = 0;
        while done < bytes {
            let len = (bytes - done).min(CHUNK as u64) as usize;
            self.fill(index, len, &mut buf);
            sum.update(&buf);
            done += len as u64;
            index += 1;
        }
        sum.finish()
    }
}

/// A fast order-dependent checksum: four lanes of multiply-xor over 8-byte words, the tail
/// zero-padded, each update's length folded in. Not cryptographic: it catches corrupted or
/// misplaced data.
#[derive(Debug, Default, Clone)]
pub struct Checksum {
    lanes: [u64; 4],
    bytes: u64,
}

impl Checksum {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;

    /// Adds `data`. Updates must come in the same sizes to compare (the shard's chunks).
    pub fn update(&mut self, data: &[u8]) {
        let mut words = data.chunks_exact(32);
        for c in &mut words {
            for (l, w) in self.lanes.iter_mut().zip(c.chunks_exact(8)) {
                let v = u64::from_le_bytes(w.try_into().expect("8 bytes"));
                *l = (*l ^ v).wrapping_mul(Self::K).rotate_left(29);
            }
        }
        for (i, w) in words.remainder().chunks(8).enumerate() {
            let mut b = [0u8; 8];
            b[..w.len()].copy_from_slice(w);
            let l = &mut self.lanes[i % 4];
            *l = (*l ^ u64::from_le_bytes(b))
                .wrapping_mul(Self::K)
                .rotate_left(29);
        }
        self.bytes += data.len() as u64;
    }

    /// The sum.
    pub fn finish(&self) -> u64 {
        self.lanes
            .iter()
            .fold(self.bytes.wrapping_mul(Self::K), |h, l| {
                (h ^ l).wrapping_mul(Self::K).rotate_left(31)
            })
    }
}

/// Writes `bytes` of `pattern` to a new file at `path` in [`CHUNK`]s, then fsyncs it: a
/// checkpoint shard is not saved until it is on the file system.
pub fn write_shard(path: &Path, pattern: &Pattern, bytes: u64) -> Result<(), OpError> {
    let mut f = File::create_new(path).map_err(io(path, "create"))?;
    let mut buf = Vec::with_capacity(CHUNK);
    let mut done = 0u64;
    let mut index = 0;
    while done < bytes {
        check_interrupt()?;
        let len = (bytes - done).min(CHUNK as u64) as usize;
        pattern.fill(index, len, &mut buf);
        f.write_all(&buf).map_err(io(path, "write"))?;
        done += len as u64;
        index += 1;
    }
    f.sync_all().map_err(io(path, "fsync"))
}

/// Asks the kernel to drop `path`'s pages from the page cache (written back first: call after
/// fsync), then returns the fraction of its pages still resident (`mincore`), so that a read
/// after it is known to come from the file system, or known not to (tmpfs keeps its pages).
pub fn drop_cache(path: &Path) -> Result<f64, OpError> {
    let f = File::open(path).map_err(io(path, "open"))?;
    let fd = f.as_raw_fd();
    // SAFETY: a valid descriptor; offset 0 and length 0 mean the whole file.
    let rc = unsafe { libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        return Err(OpError::Io {
            path: path.into(),
            what: "posix_fadvise(DONTNEED)",
            source: std::io::Error::from_raw_os_error(rc),
        });
    }
    resident(&f).map_err(io(path, "mincore"))
}

/// The fraction of `f`'s pages in the page cache.
fn resident(f: &File) -> std::io::Result<f64> {
    let len = f.metadata()?.len() as usize;
    if len == 0 {
        return Ok(0.0);
    }
    // SAFETY: a read-only shared mapping of a regular file, unmapped below; mincore writes one
    // byte per page into a vector of that many bytes.
    unsafe {
        let addr = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        );
        if addr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let page = libc::sysconf(libc::_SC_PAGESIZE).max(4096) as usize;
        let pages = len.div_ceil(page);
        let mut vec = vec![0u8; pages];
        let rc = libc::mincore(addr, len, vec.as_mut_ptr());
        let err = std::io::Error::last_os_error();
        libc::munmap(addr, len);
        if rc != 0 {
            return Err(err);
        }
        Ok(vec.iter().filter(|b| *b & 1 == 1).count() as f64 / pages as f64)
    }
}

/// Reads `path` whole in [`CHUNK`]s and returns its checksum. The sum runs on a second thread
/// over the chunk read before, so that the reads follow one another as a plain reader's would.
pub fn read_shard(path: &Path) -> Result<u64, OpError> {
    let mut f = File::open(path).map_err(io(path, "open"))?;
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, usize)>(1);
    let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
    for _ in 0..2 {
        empty_tx
            .send(vec![0u8; CHUNK])
            .expect("room for two buffers");
    }
    std::thread::scope(|s| {
        let hasher = s.spawn(move || {
            let mut sum = Checksum::default();
            for (buf, len) in full_rx {
                sum.update(&buf[..len]);
                // The reader may have stopped; then the buffer is not needed.
                let _ = empty_tx.send(buf);
            }
            sum.finish()
        });
        let read = (|| {
            loop {
                check_interrupt()?;
                let mut buf = empty_rx.recv().expect("the hasher returns every buffer");
                // Fill whole chunks, as they were written, so that the sums compare.
                let mut got = 0;
                while got < CHUNK {
                    let n = f.read(&mut buf[got..]).map_err(io(path, "read"))?;
                    if n == 0 {
                        break;
                    }
                    got += n;
                }
                if got == 0 {
                    return Ok(());
                }
                full_tx
                    .send((buf, got))
                    .expect("the hasher runs until the reader stops");
                if got < CHUNK {
                    return Ok(());
                }
            }
        })();
        drop(full_tx);
        let sum = hasher.join().expect("the checksum thread does not panic");
        read.map(|()| sum)
    })
}

/// A shuffled epoch over a file of `bytes` bytes: every [`SAMPLE`]-aligned offset once, in a
/// random order (Fisher–Yates from `seed`), at most `max` of them.
pub fn shuffled_samples(bytes: u64, seed: u64, max: usize) -> Vec<u64> {
    let slots = (bytes / SAMPLE).max(1);
    let mut v: Vec<u64> = (0..slots).map(|s| s * SAMPLE).collect();
    let mut x = seed | 1;
    for i in (1..v.len()).rev() {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let j = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v.truncate(max);
    v
}

/// Reads [`SAMPLE`] bytes of `path` at each offset, as a data loader reads shuffled samples;
/// returns the bytes read. The file is marked `POSIX_FADV_RANDOM` first (as fio does for random
/// reads), so that the kernel's read-ahead does not bring in neighbouring samples: each read
/// goes to the file system.
pub fn random_reads(path: &Path, offsets: &[u64]) -> Result<u64, OpError> {
    let f = File::open(path).map_err(io(path, "open"))?;
    // SAFETY: a valid descriptor; the whole file.
    let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_RANDOM) };
    if rc != 0 {
        return Err(OpError::Io {
            path: path.into(),
            what: "posix_fadvise(RANDOM)",
            source: std::io::Error::from_raw_os_error(rc),
        });
    }
    let mut buf = vec![0u8; SAMPLE as usize];
    let mut total = 0;
    for (i, &offset) in offsets.iter().enumerate() {
        if i % 64 == 0 {
            check_interrupt()?;
        }
        let n = f.read_at(&mut buf, offset).map_err(io(path, "pread"))?;
        total += n as u64;
    }
    Ok(total)
}

/// The small files of the metadata test, in `dir`.
pub fn small_files(dir: &Path, count: u64) -> Vec<PathBuf> {
    (0..count).map(|i| dir.join(format!("f{i:07}"))).collect()
}

/// Creates each file with [`SMALL_FILE`] bytes.
pub fn create_files(files: &[PathBuf]) -> Result<(), OpError> {
    let data = [0x5Au8; SMALL_FILE];
    for (i, p) in files.iter().enumerate() {
        if i % 64 == 0 {
            check_interrupt()?;
        }
        let mut f = File::create_new(p).map_err(io(p, "create"))?;
        f.write_all(&data).map_err(io(p, "write"))?;
    }
    Ok(())
}

/// Stats each file.
pub fn stat_files(files: &[PathBuf]) -> Result<(), OpError> {
    for (i, p) in files.iter().enumerate() {
        if i % 64 == 0 {
            check_interrupt()?;
        }
        std::fs::metadata(p).map_err(io(p, "stat"))?;
    }
    Ok(())
}

/// Opens and reads each file whole.
pub fn read_files(files: &[PathBuf]) -> Result<(), OpError> {
    let mut buf = [0u8; SMALL_FILE];
    for (i, p) in files.iter().enumerate() {
        if i % 64 == 0 {
            check_interrupt()?;
        }
        let mut f = File::open(p).map_err(io(p, "open"))?;
        f.read_exact(&mut buf).map_err(io(p, "read"))?;
    }
    Ok(())
}

/// Removes each file.
pub fn remove_files(files: &[PathBuf]) -> Result<(), OpError> {
    for (i, p) in files.iter().enumerate() {
        if i % 64 == 0 {
            check_interrupt()?;
        }
        std::fs::remove_file(p).map_err(io(p, "remove"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_reads_back_as_its_checksum_and_a_flipped_byte_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("shard");
        let pattern = Pattern::new(3);
        // Two whole chunks and a tail.
        let bytes = 2 * CHUNK as u64 + 12_345;
        write_shard(&p, &pattern, bytes).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), bytes);
        assert_eq!(read_shard(&p).unwrap(), pattern.checksum(bytes));
        // Another rank's data differs.
        assert_ne!(Pattern::new(4).checksum(bytes), pattern.checksum(bytes));
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.write_at(&[0xFF ^ pattern.base[777]], CHUNK as u64 + 777)
            .unwrap();
        assert_ne!(read_shard(&p).unwrap(), pattern.checksum(bytes));
        // A shard is never written over an existing file.
        assert!(matches!(
            write_shard(&p, &pattern, 10),
            Err(OpError::Io { what: "create", .. })
        ));
    }

    #[test]
    fn random_reads_and_small_files_do_what_they_say() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("shard");
        write_shard(&p, &Pattern::new(0), 10 * SAMPLE).unwrap();
        let offsets = shuffled_samples(10 * SAMPLE, 7, 100);
        let mut sorted = offsets.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            (0..10).map(|s| s * SAMPLE).collect::<Vec<_>>(),
            "one epoch"
        );
        assert_eq!(random_reads(&p, &offsets).unwrap(), 10 * SAMPLE);
        assert_eq!(shuffled_samples(10 * SAMPLE, 7, 4).len(), 4);
        let resident = drop_cache(&p).unwrap();
        assert!((0.0..=1.0).contains(&resident));
        let files = small_files(dir.path(), 20);
        create_files(&files).unwrap();
        stat_files(&files).unwrap();
        read_files(&files).unwrap();
        remove_files(&files).unwrap();
        assert!(files.iter().all(|f| !f.exists()));
        let e = stat_files(&files).unwrap_err().to_string();
        assert!(e.contains("f0000000: stat: "), "{e}");
    }
}
