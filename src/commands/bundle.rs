//! `hpcready bundle` and `hpcready import-bundle`: an advisory's runs packed with their
//! checksums, and a bundle checked and added to a history.

use super::emit;
use crate::cli::{BundleArgs, ImportBundleArgs};
use crate::error::input_error;
use crate::history::{Store, bundle};

/// `hpcready bundle RUN… --out FILE.tar.gz`.
pub fn bundle(args: &BundleArgs) -> anyhow::Result<()> {
    if !bundle::is_bundle(&args.out) {
        return Err(input_error(
            format!("--out {}", args.out.display()),
            "name a .tar.gz (or .tgz) file",
        ));
    }
    if args.out.exists() {
        return Err(input_error(
            format!("--out {}", args.out.display()),
            "the file exists; name another (a bundle is never overwritten)",
        ));
    }
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::results::io::ensure_writable_dir(dir, "--out")?;
    }
    let manifest = bundle::create(&args.runs, &args.out, std::env::args().collect())?;
    let mut text = format!(
        "bundled {} run(s) into {}\n",
        manifest.runs.len(),
        args.out.display()
    );
    for r in &manifest.runs {
        text += &format!("  {} ({} on {})\n", r.dir, r.started_at, r.host);
    }
    // SHA256SUMS shows a file changed inside the bundle; the bundle's own digest, published
    // with the advisory, shows the bundle is the one published.
    let digest = {
        use sha2::Digest;
        crate::history::hex(&sha2::Sha256::digest(std::fs::read(&args.out)?))
    };
    text += &format!(
        "sha256 {digest}  {}\ncheck and re-render it: hpcready report {} --out DIR\n",
        args.out.display(),
        args.out.display()
    );
    emit(&text)
}

/// `hpcready import-bundle FILE.tar.gz`.
pub fn import_bundle(args: &ImportBundleArgs) -> anyhow::Result<()> {
    let location = args.store.location();
    let history = location.path()?.to_path_buf();
    let opened = bundle::open(&args.bundle)?;
    let into = args.into.clone().unwrap_or_else(|| {
        history
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("bundles")
            .join(&opened.sha256[..16])
    });
    // Unpacked to stay: the history indexes the files, it does not hold them.
    crate::results::io::ensure_writable_dir(&into, "--into")?;
    let mut store = Store::open(&history)?;
    let id = store.insert_bundle(
        &opened.sha256,
        &std::fs::canonicalize(&args.bundle)
            .unwrap_or_else(|_| args.bundle.clone())
            .display()
            .to_string(),
        &opened.manifest.tool.version,
    )?;
    let mut text = format!(
        "bundle {} (sha256 {}): {} file(s) match its SHA256SUMS\n",
        args.bundle.display(),
        opened.sha256,
        opened.files
    );
    for (run, file) in opened.manifest.runs.iter().zip(opened.results_files()) {
        let results = crate::results::io::load(&file)?;
        let dest = into.join(&run.dir);
        std::fs::create_dir_all(&dest)?;
        let target = dest.join("results.json");
        crate::results::io::write_atomic(&target, &std::fs::read(&file)?)?;
        let mut rec = crate::history::new_run("import-bundle", &results, &target)?;
        rec.bundle = Some(id);
        let (rid, new) = store.insert(&rec)?;
        text += &format!(
            "  {} ({} on {}): {} run {rid}\n",
            run.dir,
            run.started_at,
            run.host,
            if new {
                "recorded as"
            } else {
                "already recorded as"
            }
        );
    }
    text += &format!("history: {}\n", history.display());
    emit(&text)
}
