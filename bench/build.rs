//! Records, at build time, the revision the benchmark binary is built from:
//! `git rev-parse --short HEAD`, with `-dirty` when the sources that go into
//! the binary (the crate, the spec crate and this harness) had uncommitted
//! changes. Checked at build time rather than at run time, so that editing
//! a README or a results file while a long matrix runs does not mislabel
//! its rows, and a binary built from changed sources is labelled so even if
//! the changes are committed or reverted before it runs. `unknown` outside
//! a git checkout.

use std::path::Path;
use std::process::Command;

/// The paths, relative to the repository's root, whose changes make a
/// binary `-dirty`.
const SOURCES: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "build.rs",
    "src",
    "spec",
    "bench/Cargo.toml",
    "bench/build.rs",
    "bench/src",
];

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest).join("..");
    for source in SOURCES {
        println!("cargo::rerun-if-changed={}", root.join(source).display());
    }
    // A new commit changes HEAD (or the ref it points at) and the index.
    if let Some(git_dir) = git(&root, &["rev-parse", "--absolute-git-dir"]) {
        for file in ["HEAD", "index"] {
            println!("cargo::rerun-if-changed={git_dir}/{file}");
        }
        if let Some(head_ref) = git(&root, &["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo::rerun-if-changed={git_dir}/{head_ref}");
        }
    }
    let rev = match git(&root, &["rev-parse", "--short", "HEAD"]) {
        Some(rev) => {
            let mut args = vec!["status", "--porcelain", "--"];
            args.extend_from_slice(SOURCES);
            let dirty = git(&root, &args).is_none_or(|changes| !changes.is_empty());
            if dirty { format!("{rev}-dirty") } else { rev }
        }
        None => "unknown".to_string(),
    };
    println!("cargo::rustc-env=CHANNEL_REGISTRY_BENCH_REV={rev}");
}
