//! Build script: records the git revision and embeds every profile under `profiles/`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

fn main() {
    #[cfg(feature = "mpi")]
    mpi_shim();
    println!("cargo:rerun-if-changed=profiles");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/index");
    println!("cargo:rerun-if-env-changed=HPCREADY_GIT_REVISION");

    let revision = std::env::var("HPCREADY_GIT_REVISION")
        .ok()
        .or_else(git_revision);
    println!(
        "cargo:rustc-env=HPCREADY_GIT_REVISION={}",
        revision.as_deref().unwrap_or("unknown")
    );
    let profile = std::env::var("PROFILE").unwrap_or_default();
    println!("cargo:rustc-env=HPCREADY_BUILD_PROFILE={profile}");
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=HPCREADY_BUILD_TARGET={target}");

    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    println!(
        "cargo:rustc-env=HPCREADY_RUSTC_VERSION={}",
        rustc_version.trim()
    );
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    println!(
        "cargo:rustc-env=HPCREADY_RUSTFLAGS={}",
        flags.replace('\x1f', " ")
    );

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("profiles/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    names.sort();
    let mut out =
        String::from("/// Every profile shipped in `profiles/`: (file name, TOML text).\n");
    out.push_str("pub static EMBEDDED: &[(&str, &str)] = &[\n");
    for path in names {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        writeln!(
            out,
            "    ({file:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("embedded_profiles.rs");
    std::fs::write(dest, out).expect("write embedded_profiles.rs");
}

fn git_revision() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut rev = String::from_utf8(out.stdout).ok()?.trim().to_string();
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .is_some_and(|o| !o.stdout.is_empty());
    if dirty {
        rev.push_str("-dirty");
    }
    Some(rev)
}

/// Compiles the C shim for MPI constants rsmpi does not export, with the MPI compiler wrapper
/// (`$MPICC`, else `mpicc`), as rsmpi's own build does.
#[cfg(feature = "mpi")]
fn mpi_shim() {
    println!("cargo:rerun-if-changed=src/comm/mpi_shim.c");
    println!("cargo:rerun-if-env-changed=MPICC");
    let mpicc = std::env::var("MPICC").unwrap_or_else(|_| "mpicc".into());
    cc::Build::new()
        .compiler(mpicc)
        .file("src/comm/mpi_shim.c")
        .compile("hpcready_mpi_shim");
}
