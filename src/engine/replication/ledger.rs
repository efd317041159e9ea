//! The record of snapshots wbackup's own `forget --prune` removed, kept on the
//! orchestrator (`<base_dir>/logs/forgotten/<repo>`). Replication uses it to tell an
//! expected absence at the source from a loss (a deleted file, an emptied disk, a prune
//! run by hand), which it refuses to propagate without consent.

use crate::config::Config;
use std::collections::HashSet;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// The folder of the records, one file per repository.
pub fn dir(config: &Config) -> PathBuf {
    crate::logbook::logs_dir(config).join("forgotten")
}

fn path(config: &Config, repo: &str) -> PathBuf {
    dir(config).join(repo)
}

/// Makes sure a record can be written before a run changes anything: its folder, or the
/// logs folder it will be created in, takes a file.
pub fn writable(config: &Config) -> std::io::Result<()> {
    let d = dir(config);
    let at = if d.exists() {
        d
    } else {
        crate::logbook::logs_dir(config)
    };
    let probe = at.join(format!(".probe-{}", std::process::id()));
    crate::logbook::private_file(&probe)?;
    std::fs::remove_file(probe)
}

pub fn load(config: &Config, repo: &str) -> HashSet<String> {
    std::fs::read_to_string(path(config, repo))
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

pub fn record(config: &Config, repo: &str, snapshots: &[String]) -> std::io::Result<()> {
    let p = path(config, repo);
    crate::logbook::private_dir(&dir(config))?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&p)?;
    for s in snapshots {
        writeln!(f, "{s}")?;
    }
    f.sync_all()
}
