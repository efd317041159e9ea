//! The record of snapshots wbackup's own `forget --prune` removed, kept on the
//! orchestrator (`<base_dir>/logs/forgotten/<repo>`). Replication uses it to tell an
//! expected absence at the source from a loss (a deleted file, an emptied disk, a prune
//! run by hand), which it refuses to propagate without consent.

use crate::config::Config;
use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;

fn path(config: &Config, repo: &str) -> PathBuf {
    crate::logbook::logs_dir(config)
        .join("forgotten")
        .join(repo)
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
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&p)?;
    for s in snapshots {
        writeln!(f, "{s}")?;
    }
    f.sync_all()
}
