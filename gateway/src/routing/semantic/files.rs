//! Reading the router model's files, and what can be wrong with them.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    #[error("router model file {0} is missing")]
    Missing(PathBuf),
    #[error("router model file {path} cannot be read: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("router model file {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "router model file {path} has format version {found}, this build reads version {expected}"
    )]
    Version {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error(
        "router head {head} was trained on another embedding table (expects sha256 {expected}, {table} is {found})"
    )]
    Mismatch {
        head: PathBuf,
        table: PathBuf,
        expected: String,
        found: String,
    },
}

/// A model file's bytes; a missing file is told apart from one that cannot be read.
pub(super) fn read(path: &Path) -> Result<Vec<u8>, ModelError> {
    std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ModelError::Missing(path.to_owned())
        } else {
            ModelError::Unreadable {
                path: path.to_owned(),
                reason: e.to_string(),
            }
        }
    })
}
