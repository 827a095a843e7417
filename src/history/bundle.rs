//! Advisory bundles: runs' results, reports and node facts, the exact command lines and tool
//! version, and a SHA-256 manifest (`SHA256SUMS`, checkable with `sha256sum -c` too), in one
//! `.tar.gz` that `hpcready report` re-renders and `import-bundle` adds to a history. A changed
//! file fails the check, named; a bundle cannot prove who made it (no signature).

use super::hex;
use crate::error::input_error;
use crate::results::{Results, ToolInfo};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The manifest's format name.
pub const FORMAT: &str = "hpcready-bundle";
/// The manifest's version.
pub const VERSION: u32 = 1;
/// The checksum file.
pub const SUMS: &str = "SHA256SUMS";
/// Largest bundle unpacked (a damaged or hostile archive does not fill the disk).
const MAX_BYTES: u64 = 16 << 30;

/// One run in a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundledRun {
    /// Its directory in the bundle, `runs/01-node1-20261130T080000Z`.
    pub dir: String,
    /// Where it was taken from.
    pub source: String,
    /// The host.
    pub host: String,
    /// When it started.
    pub started_at: String,
    /// The command line that measured it.
    pub command_line: Vec<String>,
    /// The hpcready that measured it.
    pub tool: ToolInfo,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// The hpcready that made the bundle.
    pub tool: ToolInfo,
    /// The command line that made it.
    pub command_line: Vec<String>,
    /// When.
    pub created_at: String,
    /// The runs.
    pub runs: Vec<BundledRun>,
}

/// A bundle unpacked and verified.
#[derive(Debug)]
pub struct Opened {
    /// Where it was unpacked (removed on drop unless kept).
    pub dir: tempfile::TempDir,
    /// Its manifest.
    pub manifest: Manifest,
    /// SHA-256 of the archive file.
    pub sha256: String,
    /// Files checked.
    pub files: usize,
}

impl Opened {
    /// Each run's results file, unpacked.
    pub fn results_files(&self) -> Vec<PathBuf> {
        self.manifest
            .runs
            .iter()
            .map(|r| self.dir.path().join(&r.dir).join("results.json"))
            .collect()
    }
}

/// Whether `path` looks like a bundle (by name: `.tar.gz`, `.tgz`).
pub fn is_bundle(path: &Path) -> bool {
    let n = path.to_string_lossy();
    n.ends_with(".tar.gz") || n.ends_with(".tgz")
}

/// The files of one run to bundle: a report directory's files (it must hold `results.json`),
/// or a results file alone.
fn run_files(run: &Path) -> anyhow::Result<(PathBuf, Vec<(String, PathBuf)>)> {
    if run.is_dir() {
        let results = run.join("results.json");
        if !results.is_file() {
            return Err(input_error(
                run.display().to_string(),
                "the directory holds no results.json; name a report directory of `run`, \
                 `assess` or `report`, or a results file",
            ));
        }
        let mut files = Vec::new();
        walk(run, run, &mut files)?;
        files.sort();
        return Ok((results, files));
    }
    if run.is_file() {
        return Ok((
            run.to_path_buf(),
            vec![("results.json".into(), run.to_path_buf())],
        ));
    }
    Err(input_error(
        run.display().to_string(),
        "no such file or directory",
    ))
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| input_error(dir.display().to_string(), format!("cannot be read: {e}")))?;
    for e in entries {
        let e = e?;
        let p = e.path();
        let kind = e.file_type()?;
        if kind.is_dir() {
            walk(root, &p, out)?;
        } else if kind.is_file() {
            let rel = p.strip_prefix(root)?.to_string_lossy().replace('\\', "/");
            // Staging directories of an interrupted report are not part of it.
            if !rel.contains(".staging") {
                out.push((rel, p));
            }
        }
    }
    Ok(())
}

/// Makes the bundle: every input is read and checked before the archive is written (atomically).
pub fn create(runs: &[PathBuf], out: &Path, command_line: Vec<String>) -> anyhow::Result<Manifest> {
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    let mut manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        tool: ToolInfo::current(),
        command_line,
        created_at: crate::timefmt::rfc3339(crate::timefmt::now_unix()),
        runs: Vec::new(),
    };
    for (i, run) in runs.iter().enumerate() {
        let (results_file, files) = run_files(run)?;
        let results: Results = crate::results::io::load(&results_file)?;
        let dir = format!(
            "runs/{:02}-{}-{}",
            i + 1,
            crate::node::safe_name(&results.node.host),
            crate::timefmt::parse_rfc3339(&results.started_at)
                .map_or_else(|| "unknown".into(), crate::timefmt::compact)
        );
        for (rel, p) in files {
            let bytes = std::fs::read(&p).map_err(|e| {
                input_error(p.display().to_string(), format!("cannot be read: {e}"))
            })?;
            entries.push((format!("{dir}/{rel}"), bytes));
        }
        entries.push((
            format!("{dir}/node.json"),
            serde_json::to_vec_pretty(&results.node)?,
        ));
        manifest.runs.push(BundledRun {
            dir,
            source: run.display().to_string(),
            host: results.node.host.clone(),
            started_at: results.started_at.clone(),
            command_line: results.command_line.clone(),
            tool: results.tool.clone(),
        });
    }
    let mut commands = String::from("# The command lines behind this bundle, run by run.\n");
    for r in &manifest.runs {
        commands.push_str(&format!(
            "{} ({} on {}, hpcready {} {}):\n  {}\n",
            r.dir,
            r.started_at,
            r.host,
            r.tool.version,
            r.tool.git_revision,
            shell_words(&r.command_line)
        ));
    }
    commands.push_str(&format!(
        "bundle ({}, hpcready {} {}):\n  {}\n",
        manifest.created_at,
        manifest.tool.version,
        manifest.tool.git_revision,
        shell_words(&manifest.command_line)
    ));
    entries.push(("commands.txt".into(), commands.into_bytes()));
    entries.push((
        "manifest.json".into(),
        serde_json::to_vec_pretty(&manifest)?,
    ));
    let mut sums = String::new();
    for (name, bytes) in &entries {
        sums.push_str(&format!("{}  {name}\n", hex(&sha2::Sha256::digest(bytes))));
    }
    entries.push((SUMS.into(), sums.into_bytes()));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    {
        let mut tar = tar::Builder::new(&mut gz);
        let mtime = crate::timefmt::now_unix() as u64;
        for (name, bytes) in &entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(mtime);
            h.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut h, name, bytes.as_slice())?;
        }
        tar.finish()?;
    }
    let bytes = gz.finish()?;
    crate::results::io::write_atomic(out, &bytes)?;
    Ok(manifest)
}

/// A command line as a shell would take it back.
fn shell_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shlex::try_quote(w).map_or_else(|_| w.clone(), |q| q.into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A path inside the archive that stays inside it.
fn safe_relative(name: &Path) -> bool {
    !name.as_os_str().is_empty() && name.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Unpacks `path` into a private directory and checks every file against `SHA256SUMS`: a file
/// changed, added or missing is refused, named.
pub fn open(path: &Path) -> anyhow::Result<Opened> {
    let name = path.display().to_string();
    let bad = |why: String| input_error(format!("bundle {name}"), why);
    let raw = std::fs::read(path).map_err(|e| bad(format!("cannot be read: {e}")))?;
    let sha256 = hex(&sha2::Sha256::digest(&raw));
    let dir = tempfile::Builder::new()
        .prefix("hpcready-bundle-")
        .tempdir()?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(raw.as_slice()));
    let mut files: Vec<(String, String)> = Vec::new();
    let mut total = 0u64;
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("not a .tar.gz archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("damaged archive: {e}")))?;
        let rel = entry
            .path()
            .map_err(|e| bad(format!("damaged archive: {e}")))?
            .into_owned();
        // `./` prefixes (a bundle repacked with `tar -C DIR .`) mean nothing; directories are
        // made as their files are written.
        let rel: std::path::PathBuf = rel
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        if entry.header().entry_type().is_dir()
            && (rel.as_os_str().is_empty() || safe_relative(&rel))
        {
            continue;
        }
        if !entry.header().entry_type().is_file() || !safe_relative(&rel) {
            return Err(bad(format!(
                "{} is not a plain file inside the bundle; refused",
                rel.display()
            )));
        }
        total += entry.header().size().unwrap_or(0);
        if total > MAX_BYTES {
            return Err(bad("it unpacks to more than 16 GiB; refused".into()));
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("damaged archive at {}: {e}", rel.display())))?;
        let to = dir.path().join(&rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&to, &bytes)?;
        files.push((
            rel.to_string_lossy().into_owned(),
            hex(&sha2::Sha256::digest(&bytes)),
        ));
    }
    let sums_text = files
        .iter()
        .find(|(n, _)| n == SUMS)
        .map(|_| std::fs::read_to_string(dir.path().join(SUMS)))
        .transpose()?
        .ok_or_else(|| bad(format!("it has no {SUMS}: not an hpcready bundle")))?;
    let mut listed = std::collections::BTreeMap::new();
    for line in sums_text.lines().filter(|l| !l.trim().is_empty()) {
        let (sum, file) = line.split_once("  ").ok_or_else(|| {
            bad(format!(
                "{SUMS} has a line that is not `SHA256  FILE`: {line}"
            ))
        })?;
        listed.insert(file.to_string(), sum.to_string());
    }
    for (file, sum) in &files {
        if file == SUMS {
            continue;
        }
        match listed.get(file) {
            None => {
                return Err(bad(format!(
                    "{file} is not in {SUMS}: it was added after the bundle was made"
                )));
            }
            Some(s) if s != sum => {
                return Err(bad(format!(
                    "{file} does not match its checksum in {SUMS}: it was changed after the \
                     bundle was made"
                )));
            }
            Some(_) => {}
        }
    }
    for file in listed.keys() {
        if !files.iter().any(|(f, _)| f == file) {
            return Err(bad(format!("{file} is listed in {SUMS} but missing")));
        }
    }
    let manifest: Manifest = std::fs::read(dir.path().join("manifest.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad("its manifest.json is missing or not a bundle manifest".into()))?;
    if manifest.format != FORMAT || manifest.version > VERSION {
        return Err(bad(format!(
            "manifest format {} version {}; this hpcready reads {FORMAT} up to version {VERSION}",
            manifest.format, manifest.version
        )));
    }
    for r in &manifest.runs {
        if !safe_relative(Path::new(&r.dir))
            || !dir.path().join(&r.dir).join("results.json").is_file()
        {
            return Err(bad(format!(
                "run {} has no results.json in the bundle",
                r.dir
            )));
        }
    }
    Ok(Opened {
        dir,
        manifest,
        sha256,
        files: files.len(),
    })
}
