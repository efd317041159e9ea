//! Writing the commented starter configuration, shared by `wbackup init` and the window's
//! "Save as my configuration": the same text, the same never-overwrite rule, the same
//! wording when it cannot be done.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why the starter file was not written; each names the path and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StarterError {
    #[error("{} already exists; nothing was written (edit it, or remove it first)", .0.display())]
    Exists(PathBuf),
    #[error("cannot create {}: {err}", .0.display(), err = .1)]
    CreateDir(PathBuf, std::io::Error),
    #[error("cannot write {}: {err}", .0.display(), err = .1)]
    Write(PathBuf, std::io::Error),
}

/// Writes the starter configuration for `local_name` at `path`, creating its folder;
/// never replaces a file that exists (not even one created a moment ago by someone else).
pub fn write(path: &Path, local_name: &str) -> Result<(), StarterError> {
    if path.exists() {
        return Err(StarterError::Exists(path.to_path_buf()));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| StarterError::CreateDir(dir.to_path_buf(), e))?;
    }
    let text = crate::config::starter_file(local_name);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => StarterError::Exists(path.to_path_buf()),
            _ => StarterError::Write(path.to_path_buf(), e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_once_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/config.toml");
        write(&path, "laptop").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# wbackup configuration"));
        std::fs::write(&path, "# mine\n").unwrap();
        let e = write(&path, "laptop").unwrap_err();
        assert!(matches!(e, StarterError::Exists(_)));
        assert!(e
            .to_string()
            .contains("already exists; nothing was written"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");
    }
}
