//! What the checks read: system paths under a root, PATH, the loader's directories,
//! environment variables and mounts — the real node, or a fake one in tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the checks read from: the real node, or a fake one in tests.
#[derive(Debug, Clone)]
pub struct Env {
    /// Prefix for absolute system paths (/sys, /proc, /etc, library directories): `/` for real.
    pub root: PathBuf,
    /// Environment variables.
    pub vars: BTreeMap<String, String>,
    /// The working directory.
    pub cwd: PathBuf,
}

impl Env {
    /// This process's environment on this node.
    pub fn real() -> Self {
        // Tests read a fake node's /sys through HPCREADY_TEST_ROOT (test-hooks builds only).
        #[cfg(feature = "test-hooks")]
        let root = std::env::var_os("HPCREADY_TEST_ROOT")
            .map_or_else(|| PathBuf::from("/"), PathBuf::from);
        #[cfg(not(feature = "test-hooks"))]
        let root = PathBuf::from("/");
        Self {
            root,
            vars: std::env::vars().collect(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        }
    }

    pub(super) fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A system path under the root.
    pub fn sys(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    /// The first of `programs` found on PATH.
    pub fn which(&self, programs: &[&str]) -> Option<(String, PathBuf)> {
        let path = self.var("PATH")?;
        programs.iter().find_map(|p| {
            std::env::split_paths(path)
                .map(|d| d.join(p))
                .find(|f| f.is_file())
                .map(|f| (p.to_string(), f))
        })
    }

    /// Entries of a system directory, sorted.
    pub(super) fn list(&self, abs: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.sys(abs))
            .map(|it| {
                it.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Directories the dynamic loader searches: LD_LIBRARY_PATH, the standard ones and those
    /// named in /etc/ld.so.conf.d.
    fn lib_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self
            .var("LD_LIBRARY_PATH")
            .map(|p| std::env::split_paths(p).collect())
            .unwrap_or_default();
        for d in [
            "/lib",
            "/lib64",
            "/usr/lib",
            "/usr/lib64",
            "/usr/local/lib",
            "/usr/local/lib64",
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/opt/rocm/lib",
        ] {
            dirs.push(self.sys(d));
        }
        for conf in self.list("/etc/ld.so.conf.d") {
            if let Ok(text) =
                std::fs::read_to_string(self.sys(&format!("/etc/ld.so.conf.d/{conf}")))
            {
                dirs.extend(
                    text.lines()
                        .map(str::trim)
                        .filter(|l| l.starts_with('/'))
                        .map(|l| self.sys(l)),
                );
            }
        }
        dirs
    }

    /// The first library whose file name starts with one of `prefixes`.
    pub(super) fn find_lib(&self, prefixes: &[&str]) -> Option<PathBuf> {
        self.lib_dirs().into_iter().find_map(|d| {
            let mut names: Vec<PathBuf> = std::fs::read_dir(&d)
                .ok()?
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| prefixes.iter().any(|x| n.starts_with(x)))
                })
                .collect();
            names.sort();
            names.into_iter().next()
        })
    }

    /// The file system type of the mount holding `path` (longest mount point that prefixes it).
    pub fn fs_type(&self, path: &Path) -> Option<(String, String)> {
        let mounts = std::fs::read_to_string(self.sys("/proc/mounts")).ok()?;
        mounts
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let (_, mnt, fstype) = (f.next()?, f.next()?, f.next()?);
                Some((mnt.replace("\\040", " "), fstype.to_string()))
            })
            .filter(|(mnt, _)| path.starts_with(mnt))
            .max_by_key(|(mnt, _)| mnt.len())
    }
}
