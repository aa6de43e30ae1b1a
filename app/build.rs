//! The portal's build id: a digest of everything that shapes what the server renders and the
//! browser hydrates (the portal's sources, its texts, the shared types, the build's
//! `erase_components` setting). The server and the WASM
//! are compiled from the same sources in one build, so they carry the same id; a WASM from
//! another build (an old site beside a new binary) sees a different one in the page and says so
//! instead of hydrating a page it does not match.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let roots = [
        manifest.join("src"),
        manifest.join("locales"),
        manifest.join("../types/src"),
    ];
    let mut all = Vec::new();
    for root in &roots {
        println!("cargo::rerun-if-changed={}", root.display());
        files(root, &mut all);
    }
    // The same order wherever the build runs.
    all.sort();
    let mut digest = Sha256::new();
    for path in &all {
        let relative = path.strip_prefix(&manifest).unwrap_or(path);
        digest.update(relative.to_string_lossy().as_bytes());
        digest.update([0]);
        digest.update(std::fs::read(path).unwrap_or_default());
        digest.update([0]);
    }
    // Debug builds carry `--cfg erase_components` (scripts/env.sh), which changes the markup
    // views render: a debug server and a release WASM (or the reverse) do not hydrate each other.
    println!("cargo::rerun-if-env-changed=CARGO_CFG_ERASE_COMPONENTS");
    if std::env::var_os("CARGO_CFG_ERASE_COMPONENTS").is_some() {
        digest.update(b"erase_components");
    }
    let id: String = digest.finalize()[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("build_id.rs");
    std::fs::write(out, format!("{id:?}")).expect("OUT_DIR is writable");
}
