//! Writing the configuration file so that nothing is ever lost: a crash, a full disk or a
//! hand edit made meanwhile must leave either the old file or the new one, never half of
//! one, and never overwrite what someone else wrote since it was read.
//!
//! The new text goes to a temporary file in the same folder, is flushed to the disk, then
//! renamed over the file (atomic on one filesystem); the previous version is kept beside it
//! as `NAME.bak`. A symbolic link is followed and its target written, so the link stays. The
//! file's mode is kept (0600 for a new file). Just before the rename the file is read again:
//! if it is not what the editor started from, nothing is written.

use super::edit::{EditError, Saved};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What the file held when the editor read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Before {
    /// No file: it is created (never over a file that appeared meanwhile).
    Missing,
    Bytes(Vec<u8>),
}

/// The file a write to `path` really changes: `path`, or the file its symbolic links lead
/// to (even one that does not exist yet).
pub(super) fn resolve(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io::Error::from_raw_os_error(libc::ELOOP))
}

/// Replaces the configuration at `path` (the path as located, shown in messages) with
/// `text`, if it still holds `before`. See the module's documentation.
pub(super) fn write(path: &Path, before: &Before, text: &str) -> Result<Saved, EditError> {
    let failed = |what: &Path, err: io::Error| EditError::Write {
        path: what.to_path_buf(),
        err,
    };
    let target = resolve(path).map_err(|e| failed(path, e))?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .ok_or_else(|| failed(path, io::Error::from_raw_os_error(libc::EISDIR)))?
        .to_string_lossy()
        .into_owned();
    let mode = match before {
        Before::Missing => {
            fs::create_dir_all(&dir).map_err(|e| failed(&dir, e))?;
            0o600
        }
        Before::Bytes(_) => {
            let meta = fs::metadata(&target).map_err(|_| EditError::Changed(path.into()))?;
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o200 == 0 {
                return Err(EditError::ReadOnly {
                    path: target.clone(),
                    mode,
                });
            }
            mode
        }
    };
    let tmp = Temp::write(&dir, &name, text.as_bytes(), mode).map_err(|e| failed(&dir, e))?;
    if current(&target).map_err(|e| failed(&target, e))? != *before {
        return Err(EditError::Changed(path.into()));
    }
    let backup = match before {
        Before::Missing => None,
        Before::Bytes(old) => {
            let bak = dir.join(format!("{name}.bak"));
            let t = Temp::write(&dir, &name, old, mode).map_err(|e| failed(&dir, e))?;
            t.rename_over(&bak).map_err(|e| failed(&bak, e))?;
            Some(bak)
        }
    };
    match before {
        Before::Missing => tmp.rename_new(&target).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                EditError::Changed(path.into())
            } else {
                failed(&target, e)
            }
        })?,
        Before::Bytes(_) => tmp.rename_over(&target).map_err(|e| failed(&target, e))?,
    }
    // The rename is durable once the folder's entry is on the disk.
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(Saved {
        path: path.to_path_buf(),
        written: target,
        backup,
        created: *before == Before::Missing,
    })
}

/// What the file holds now.
fn current(target: &Path) -> io::Result<Before> {
    match fs::read(target) {
        Ok(b) => Ok(Before::Bytes(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Before::Missing),
        Err(e) => Err(e),
    }
}

/// A temporary file beside the configuration, removed unless renamed into place.
struct Temp(Option<PathBuf>);

impl Temp {
    /// Writes `bytes` with `mode` to a new file in `dir`, flushed to the disk.
    fn write(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> io::Result<Temp> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let path = dir.join(format!(
            ".{name}.wbackup-{}-{}.tmp",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        let tmp = Temp(Some(path));
        f.write_all(bytes)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        Ok(tmp)
    }

    fn rename_over(mut self, to: &Path) -> io::Result<()> {
        let from = self.0.take().expect("a temporary file");
        fs::rename(&from, to).inspect_err(|_| {
            let _ = fs::remove_file(&from);
        })
    }

    /// Renames into place only if nothing is there (a file created meanwhile is kept).
    fn rename_new(mut self, to: &Path) -> io::Result<()> {
        use std::os::unix::ffi::OsStrExt;
        let from = self.0.take().expect("a temporary file");
        let c =
            |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other);
        let (a, b) = (c(&from)?, c(to)?);
        // SAFETY: two NUL-terminated paths owned for the duration of the call.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        let _ = fs::remove_file(&from);
        Err(err)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symbolic_link_is_followed_even_to_a_missing_file() {
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("real/c.toml", d.path().join("link")).unwrap();
        std::os::unix::fs::symlink("link", d.path().join("link2")).unwrap();
        assert_eq!(
            resolve(&d.path().join("link2")).unwrap(),
            d.path().join("real/c.toml")
        );
        std::os::unix::fs::symlink("loop", d.path().join("loop")).unwrap();
        assert!(resolve(&d.path().join("loop")).is_err());
    }

    #[test]
    fn nothing_is_left_behind_when_the_file_changed_meanwhile() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.toml");
        fs::write(&p, "a").unwrap();
        let e = write(&p, &Before::Bytes(b"b".to_vec()), "new").unwrap_err();
        assert!(matches!(e, EditError::Changed(_)), "{e}");
        let e = write(&p, &Before::Missing, "new").unwrap_err();
        assert!(matches!(e, EditError::Changed(_)), "{e}");
        assert_eq!(fs::read(&p).unwrap(), b"a");
        let names: Vec<_> = fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
    }

    #[test]
    fn the_mode_is_kept_and_the_previous_version_saved() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.toml");
        fs::write(&p, "old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        let s = write(&p, &Before::Bytes(b"old".to_vec()), "new").unwrap();
        assert_eq!(
            s.backup.as_deref(),
            Some(d.path().join("c.toml.bak").as_path())
        );
        assert_eq!(fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(
            fs::read_to_string(d.path().join("c.toml.bak")).unwrap(),
            "old"
        );
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&p), 0o640);
        assert_eq!(mode(&d.path().join("c.toml.bak")), 0o640);
        let n = d.path().join("sub/new.toml");
        let s = write(&n, &Before::Missing, "x").unwrap();
        assert!(s.created && s.backup.is_none());
        assert_eq!(mode(&n), 0o600);
    }
}
