//! Replication (DESIGN §6): bring a replica up to date without ever leaving it broken,
//! and keep it from growing forever without letting a damaged source shrink it.
//!
//! restic names every file but `config` by the SHA-256 of its content and never changes
//! a file once written, so a replica only ever lacks files. One rsync per hop carries the
//! missing ones into a staging folder beside the repository (`.wbackup-incoming`); there
//! they are checked (content hash = name) and flushed to disk, and only then moved under
//! their real names phase by phase in restic's write order — keys, config, data, index,
//! snapshots — each phase on disk before the next begins. Files the source no longer has
//! then go to the node's quarantine, snapshots first, then index, then data. An
//! interruption at any moment leaves a replica that `restic check` accepts and that holds
//! no snapshot whose data is not there. (Keys come before `config` so that a replica that
//! has a config always has the key to open it; before its config lands, a first copy is
//! simply not a repository yet.)
//!
//! The parts: `inventory` (what a node holds, listed by `sh/list.sh` and read strictly),
//! `transfer` (one hop: rsync into staging, then `sh/install.sh` on the target), `guards`
//! (what may leave a copy), `ledger` (what wbackup's own forget removed), and `step` (the
//! replicate step of a run, which strings them together as the plan says, with `hops`
//! running them side by side).
//! `bucket` brings copies on object storage up to date, with rclone instead of rsync and
//! the install script, under the same rules, and `upload` is the run's step that does it
//! for every repository at once from the uploading node; `direct` carries a hop between two remote
//! nodes straight from one to the other (`[replication] direct`).

pub mod bucket;
pub mod direct;
pub mod guards;
mod hops;
pub mod inventory;
pub mod ledger;
mod step;
pub(crate) use step::StepOutput;
pub mod transfer;
mod upload;

pub use inventory::{extras, inventory, missing, phase_of, Inventory, RepoFiles};
pub use transfer::{
    feed, hop, human_bytes, install_args, quarantine_path, stage_path, transfer_argv, DirectHop,
    Hop, HopError, HopOutput,
};

/// The parts of a repository in the order a replica receives them.
pub const PHASES: [&str; 5] = ["keys", "config", "data", "index", "snapshots"];

/// A file named as restic names it (the SHA-256 of its content) under `folder` of `dir`;
/// returns its path relative to `dir`.
#[cfg(test)]
pub(crate) fn put(dir: &std::path::Path, folder: &str, content: &[u8]) -> String {
    use sha2::Digest;
    let name = format!("{:x}", sha2::Sha256::digest(content));
    let rel = if folder == "data" {
        format!("data/{}/{name}", &name[..2])
    } else {
        format!("{folder}/{name}")
    };
    let path = dir.join(&rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    rel
}
