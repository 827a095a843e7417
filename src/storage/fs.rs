//! The file system under a directory: its type and mount point from `/proc/mounts`, its free
//! space, and on Lustre the directory's default stripe count from `lfs getstripe`.

use crate::node::checklist::{Check, Status};
use crate::node::env::Env;
use std::path::Path;

pub use crate::results::storage::FsInfo;

impl FsInfo {
    /// Finds `dir`'s file system (`dir` canonical).
    pub fn of(env: &Env, dir: &Path) -> Self {
        let (mount, fs_type) = env
            .fs_type(dir)
            .unwrap_or_else(|| ("?".into(), "unknown".into()));
        let (stripe_count, stripe_note) = if fs_type == "lustre" {
            match stripe_count(env, dir) {
                Ok(c) => (Some(c), None),
                Err(e) => (None, Some(e)),
            }
        } else {
            (None, None)
        };
        Self {
            mount,
            fs_type,
            free_bytes: free_bytes(dir).unwrap_or(0),
            stripe_count,
            stripe_note,
        }
    }

    /// Whether it is a parallel file system (many nodes, metadata servers).
    pub fn parallel(&self) -> bool {
        ["lustre", "gpfs", "beegfs", "wekafs", "cephfs"].contains(&self.fs_type.as_str())
    }

    /// The porting checklist's item for a checkpoint directory.
    pub fn check(&self, dir: &Path) -> Check {
        let d = dir.display();
        let (status, finding, advice) = match (self.fs_type.as_str(), self.stripe_count) {
            ("lustre", Some(1)) => (
                Status::Warn,
                format!("{d} is on Lustre with a stripe count of 1: each checkpoint file lives on one OST"),
                format!(
                    "stripe the checkpoint directory across OSTs before writing to it: `lfs setstripe -c -1 {d}` (or `-c 8`); new files inherit it"
                ),
            ),
            ("lustre", Some(c)) => (
                Status::Pass,
                format!(
                    "{d} is on Lustre, striped over {}",
                    if c < 0 { "every OST".to_string() } else { format!("{c} OSTs") }
                ),
                "large checkpoint files spread over OSTs; keep small files out of striped directories".into(),
            ),
            ("lustre", None) => (
                Status::Info,
                format!(
                    "{d} is on Lustre; stripe count unknown ({})",
                    self.stripe_note.as_deref().unwrap_or("lfs getstripe gave none")
                ),
                format!("check it with `lfs getstripe -d {d}`; a count of 1 limits a checkpoint to one OST"),
            ),
            (fs, _) => (
                Status::Info,
                format!("{d} is on {fs} (mounted at {})", self.mount),
                if self.parallel() {
                    "a parallel file system: write checkpoints as few large files per rank".into()
                } else {
                    "not a parallel file system: checkpoints here are local to this node".into()
                },
            ),
        };
        Check {
            id: "checkpoint-dir".into(),
            item: "Checkpoint directory's file system".into(),
            status,
            finding,
            advice,
        }
    }
}

/// Bytes free to an unprivileged user under `dir` (`statvfs`).
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a struct statvfs to fill.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(s.f_bavail as u64 * s.f_frsize as u64)
}

/// `lfs getstripe -d DIR`'s `stripe_count`.
fn stripe_count(env: &Env, dir: &Path) -> Result<i64, String> {
    let (_, lfs) = env
        .which(&["lfs"])
        .ok_or("no `lfs` on PATH (load the Lustre client tools)")?;
    let out = std::process::Command::new(&lfs)
        .args(["getstripe", "-d"])
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", lfs.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_stripe_count(&text).ok_or_else(|| {
        format!(
            "`lfs getstripe -d` printed no stripe_count ({})",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })
}

/// The `stripe_count:` of `lfs getstripe` output (`stripe_count:  4 stripe_size: …`, or
/// `lcm_layout_gen` blocks of a composite layout, whose first component counts).
pub fn parse_stripe_count(text: &str) -> Option<i64> {
    let at = text.find("stripe_count:")? + "stripe_count:".len();
    text[at..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_counts_are_read_from_plain_and_composite_layouts() {
        assert_eq!(
            parse_stripe_count(
                "stripe_count:  1 stripe_size:   1048576 pattern:       raid0 stripe_offset: -1\n"
            ),
            Some(1)
        );
        let composite = "  lcm_layout_gen:    0\n  lcm_mirror_count:  1\n  lcm_entry_count:   2\n    lcme_id:             N/A\n      lcme_extent.e_start: 0\n      lcme_extent.e_end:   67108864\n      stripe_count:  -1       stripe_size:   1048576\n";
        assert_eq!(parse_stripe_count(composite), Some(-1));
        assert_eq!(parse_stripe_count("no layout"), None);
    }

    #[test]
    fn a_single_stripe_lustre_directory_is_a_warning_with_the_fix() {
        let mut fs = FsInfo {
            mount: "/scratch".into(),
            fs_type: "lustre".into(),
            free_bytes: 1 << 40,
            stripe_count: Some(1),
            stripe_note: None,
        };
        let c = fs.check(Path::new("/scratch/project_x/ckpt"));
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.advice
                .contains("lfs setstripe -c -1 /scratch/project_x/ckpt")
        );
        fs.stripe_count = Some(-1);
        assert_eq!(fs.check(Path::new("/scratch/x")).status, Status::Pass);
        fs.fs_type = "ext4".into();
        assert!(
            fs.check(Path::new("/tmp"))
                .advice
                .contains("local to this node")
        );
    }
}
