//! One run at a time per orchestrator. Two runs at once (the window and a cron job, say)
//! would replicate through the same staging folders and race each other's installs and
//! quarantines; the second one is refused instead, naming the first.
//!
//! The lock is an advisory `flock` on `<base_dir>/.wbackup-incoming/run.lock` on the
//! orchestrator, beside the staging folders it protects (`logs/` holds only runs' logs
//! and summaries): the kernel releases it when the holding process ends, however it
//! ends, so a crash never leaves it stuck.

use crate::config::Config;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Held for the whole run; dropping it releases the lock.
pub struct RunLock {
    _file: File,
}

pub enum Acquired {
    Held(RunLock),
    /// Another run holds it: who, as that run wrote it.
    Busy(String),
}

/// Where the orchestrator's lock lives.
pub fn lock_dir(config: &Config) -> PathBuf {
    config.local_base_dir().join(".wbackup-incoming")
}

/// Takes the lock in `dir`, or says which run holds it.
pub fn acquire(dir: &Path) -> std::io::Result<Acquired> {
    crate::logbook::private_dir(dir)?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(dir.join("run.lock"))?;
    // SAFETY: flock on a descriptor this function owns; no memory is shared.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(err);
        }
        let mut who = String::new();
        let _ = file.read_to_string(&mut who);
        let who = who.trim();
        return Ok(Acquired::Busy(if who.is_empty() {
            "another wbackup run".into()
        } else {
            who.to_string()
        }));
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(
        file,
        "a wbackup run (pid {}, started {})",
        std::process::id(),
        chrono::Local::now().format("%Y-%m-%d %H:%M:%S")
    )?;
    Ok(Acquired::Held(RunLock { _file: file }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_told_who_holds_it_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = match acquire(dir.path()).unwrap() {
            Acquired::Held(l) => l,
            Acquired::Busy(who) => panic!("busy on a fresh directory: {who}"),
        };
        // flock locks belong to the open file description: a second open is refused
        // even in the same process.
        match acquire(dir.path()).unwrap() {
            Acquired::Busy(who) => {
                assert!(
                    who.starts_with(&format!(
                        "a wbackup run (pid {}, started ",
                        std::process::id()
                    )),
                    "{who}"
                )
            }
            Acquired::Held(_) => panic!("two holders at once"),
        }
        drop(first);
        assert!(matches!(acquire(dir.path()).unwrap(), Acquired::Held(_)));
    }
}
