//! Notices when the configuration file changes on disk — edited by hand, written by
//! `wbackup init`, `wbackup config …` or the Setup view — so the window reads it again
//! without a restart.
//!
//! A thread looks at the file twice a second and compares what it finds (its bytes,
//! inode and modification time, or that it is missing) with what it found last; on a
//! difference it calls back, and the callback queues the reload on the Qt thread. A stat
//! and a read of a file of a few kilobytes cost nothing next to a second, and unlike
//! inotify this follows an editor's rename-over, a symbolic link's target and a file
//! that does not exist yet, all the same way. The thread ends when its [`Watch`] is
//! dropped (with the window) or the callback says the window is gone.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the file is looked at.
pub const INTERVAL: Duration = Duration::from_millis(500);

/// What the file looked like: missing, or its identity, time and bytes (up to the 1 MiB
/// the loader accepts; a larger file is told apart by its size and time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Look(Option<(u64, u64, i64, i64, u64, Vec<u8>)>);

impl Look {
    pub fn at(path: &Path) -> Look {
        let Ok(meta) = std::fs::metadata(path) else {
            return Look(None);
        };
        let bytes = if meta.len() <= 1 << 20 {
            std::fs::read(path).unwrap_or_default()
        } else {
            vec![]
        };
        Look(Some((
            meta.dev(),
            meta.ino(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.len(),
            bytes,
        )))
    }
}

/// A running watch; dropping it ends the thread.
pub struct Watch {
    stop: Arc<AtomicBool>,
    pub path: PathBuf,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Watches `path` from how it looks now; `changed` is called after each change and
/// returns false when nobody listens any more.
pub fn start(path: PathBuf, changed: impl Fn() -> bool + Send + 'static) -> Option<Watch> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let watched = path.clone();
    let mut last = Look::at(&path);
    std::thread::Builder::new()
        .name("wbackup-config-watch".into())
        .spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                std::thread::sleep(INTERVAL);
                let now = Look::at(&watched);
                if now != last {
                    last = now;
                    if flag.load(Ordering::SeqCst) || !changed() {
                        return;
                    }
                }
            }
        })
        .ok()
        .map(|_| Watch { stop, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_of_content_or_presence_is_a_different_look() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("config.toml");
        let missing = Look::at(&f);
        std::fs::write(&f, "a = 1\n").unwrap();
        let one = Look::at(&f);
        assert_ne!(missing, one);
        assert_eq!(one, Look::at(&f), "an unchanged file looks the same");
        // Same size, same second: the bytes tell.
        std::fs::write(&f, "a = 2\n").unwrap();
        assert_ne!(one, Look::at(&f));
    }

    #[test]
    fn the_callback_runs_after_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("config.toml");
        let (tx, rx) = std::sync::mpsc::channel();
        let watch = start(f.clone(), move || tx.send(()).is_ok()).unwrap();
        std::fs::write(&f, "x").unwrap();
        rx.recv().expect("told of the new file");
        drop(watch);
    }
}
