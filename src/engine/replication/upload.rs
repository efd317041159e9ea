//! The upload step: every repository's copy in one bucket brought up to date from the
//! uploading node, after the replicate steps (DESIGN §11).
//!
//! The uploading node holds every repository by then, under one folder, so each phase
//! of every copy is one `rclone copy` from that folder, its names `<repo>/restic/<path>`:
//! a pass with nothing new costs the bucket's one listing, one hash of the configs and
//! one upload per phase that has files, whatever the number of repositories. Each copy
//! keeps the rules of a node's: its source must be up to date on the uploading node in
//! this run, sound and not busy; the identity and shrink guards are its own; a copy that
//! cannot go on says why and leaves the others going.

use super::bucket::{self, Batch, CopyUp};
use super::guards::shrink_refusal;
use super::{HopError, Inventory, RepoFiles};
use crate::engine::events::{Cause, Outcome};
use crate::engine::run::Run;
use crate::plan::action::{Action, Upload};
use crate::plan::Step;
use crate::shell;
use std::collections::HashMap;

/// Why a repository's copy in the bucket is not brought up to date in this run.
enum NotNow {
    /// Its source on the uploading node is not up to date in this run (its replicate
    /// step says why): the copy keeps its last state.
    Waits(String),
    Failed(String),
}

impl Run<'_> {
    pub(crate) async fn upload(&self, step: &Step) -> Outcome {
        let Action::Upload(uploads) = &step.action else {
            unreachable!("an upload step has uploads")
        };
        let (up, t) = (&step.node, &step.targets[0]);
        let Some(from) = self.conn(up) else {
            return Outcome::failed(format!(
                "{t}'s copies were not updated: {up} (the uploading node) is not reachable"
            ));
        };
        let mut waiting = vec![];
        let mut failures = vec![];
        let mut ready: Vec<(&Upload, RepoFiles)> = vec![];
        for u in uploads {
            match self.upload_source(&u.repo, up).await {
                Ok(files) => ready.push((u, files)),
                Err(NotNow::Waits(why)) => waiting.push(why),
                Err(NotNow::Failed(why)) => failures.push(why),
            }
        }
        let mut out = super::StepOutput {
            sink: self.sink,
            step: step.id,
            node: up.clone(),
            total: 0,
            hop: Default::default(),
            done: 0,
        };
        // The sources' configs: a copy whose listed MD5 is its source's needs no hash.
        let sources: HashMap<String, (String, String)> = ready
            .iter()
            .filter_map(|(u, f)| {
                Some((
                    u.repo.clone(),
                    (f.config_sha.clone()?, f.config_md5.clone()?),
                ))
            })
            .collect();
        if let Some(first) = ready.first() {
            match self.bucket_inventory(t, &from, first.0, &sources).await {
                Ok(mut inv) => {
                    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
                    let copies = self.copies_up(t, &ready, &mut inv, &mut failures);
                    out.total = copies
                        .iter()
                        .map(|c| {
                            super::missing(c.src_files, &c.dst_files)
                                .iter()
                                .map(|(_, s)| s)
                                .sum::<u64>()
                        })
                        .sum();
                    let mut batch = Batch {
                        from: &from,
                        to: t,
                        stamp: &stamp,
                        copies,
                    };
                    // Every repository at once: no one copy's work to weigh.
                    let slot = self.transfers().take("", up, t).await;
                    let uploaded = bucket::upload(&mut batch, &self.cancel, &mut out, 0).await;
                    drop(slot);
                    if uploaded.is_err() {
                        // The listing is dropped: what the cut left is listed again.
                        self.st().listings.remove(t.as_str());
                        return Outcome::Interrupted;
                    }
                    for c in batch.copies {
                        let repo = c.upload.repo.clone();
                        if let Some(e) = c.failure {
                            failures.push(copy_failure(&repo, t, c.upload, e));
                        }
                        inv.repos.insert(repo, c.dst_files);
                    }
                    self.st().listings.insert(t.clone(), inv);
                }
                Err(e) => failures.extend(
                    ready
                        .iter()
                        .map(|(u, _)| format!("{t}'s copy of {} was not updated: {e}", u.repo)),
                ),
            }
        }
        verdict(t, &failures, &waiting, ready.is_empty())
    }

    /// `repo`'s files as its copy on the uploading node `up` holds them, up to date in
    /// this run: the owner's own repository (sound, checked, not busy), or a copy its
    /// replicate step brought up to date.
    async fn upload_source(&self, repo: &str, up: &str) -> Result<RepoFiles, NotNow> {
        let replicated = self.st().replicated.get(repo).cloned();
        match replicated {
            Some((files, fed)) if fed.contains(up) => Ok(files),
            Some(_) => Err(NotNow::Waits(format!(
                "{repo}'s copy on {up} was not brought up to date in this run (see its replicate step)"
            ))),
            None if repo == up => match self.source(repo).await {
                Ok((files, _)) => Ok(files),
                Err(Outcome::Skipped { reason }) => Err(NotNow::Waits(reason)),
                Err(Outcome::Failed { message, .. }) => Err(NotNow::Failed(message)),
                // `source` says no other way; a run cut meanwhile ends the step anyway.
                Err(_) => Err(NotNow::Waits(format!(
                    "{repo}'s repository on {up} was not read"
                ))),
            },
            None => Err(NotNow::Waits(format!(
                "{repo} was not replicated to {up} in this run (see its replicate step)"
            ))),
        }
    }

    /// The copies of the batch, each with what the guards let leave it; a copy whose
    /// listing cannot be trusted, or whose source's snapshots it holds more of than the
    /// source explains, is said in `failures` (the latter still gets what it lacks).
    fn copies_up<'a>(
        &self,
        t: &str,
        ready: &'a [(&'a Upload, RepoFiles)],
        inv: &mut Inventory,
        failures: &mut Vec<String>,
    ) -> Vec<CopyUp<'a>> {
        let mut copies = vec![];
        for (u, src) in ready {
            let repo = &u.repo;
            let dst = inv.repos.remove(repo).unwrap_or_default();
            if let Some(why) = &dst.unsound {
                failures.push(format!(
                    "{t}'s copy of {repo} was not touched: {why}. Look at {} with rclone",
                    shell::quote(&u.copy)
                ));
                inv.repos.insert(repo.clone(), dst);
                continue;
            }
            let one = HashMap::from([(t.to_string(), listing_of(repo, &dst))]);
            let unexplained = self.unexplained(repo, src, &one);
            let accepted = self.plan.accept_shrink.contains(repo);
            let gone = if unexplained.is_empty() || accepted {
                super::extras(src, &dst)
            } else {
                let path = self.conn(repo).map(|c| c.repo(repo)).unwrap_or_default();
                failures.push(shrink_refusal(repo, &path, &unexplained, 1));
                vec![]
            };
            copies.push(CopyUp {
                upload: u,
                src_files: src,
                dst_files: dst,
                gone,
                quarantined: inv.quarantine.get(repo).cloned().unwrap_or_default(),
                leftovers: inv.partial.remove(repo).unwrap_or_default(),
                failure: None,
            });
        }
        copies
    }
}

/// An inventory holding one repository's copy (what the shrink guard reads).
fn listing_of(repo: &str, files: &RepoFiles) -> Inventory {
    let mut inv = Inventory::default();
    inv.repos.insert(repo.to_string(), files.clone());
    inv
}

/// What the step says of a copy that could not be brought up to date.
fn copy_failure(repo: &str, t: &str, u: &Upload, e: HopError) -> String {
    match e {
        HopError::Foreign => format!(
            "{t} holds a different repository under {repo}'s name (its config is not the source's); it was not touched: move {} aside with rclone and rerun",
            shell::quote(&u.copy),
        ),
        HopError::Failed(e) | HopError::NoPath(e) => format!("{t}'s copy of {repo}: {e}"),
        HopError::Cancelled => format!("{t}'s copy of {repo}: cancelled"),
    }
}

/// The step's outcome: failed when a copy could not be made, partial when some wait for
/// their source, skipped when none could start.
fn verdict(t: &str, failures: &[String], waiting: &[String], none_ready: bool) -> Outcome {
    if !failures.is_empty() {
        return Outcome::Failed {
            cause: Cause::Other,
            exit_code: None,
            message: format!("uploading to {t}: {}", failures.join("; ")),
            stderr_tail: vec![],
        };
    }
    if waiting.is_empty() {
        return Outcome::Passed;
    }
    let reason = format!("{t}'s copies wait for the next run: {}", waiting.join("; "));
    if none_ready {
        Outcome::Skipped { reason }
    } else {
        Outcome::Partial { reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_says_failures_first_then_what_waits() {
        let f = verdict("cloud", &["a broke".into()], &["b waits".into()], false);
        assert!(
            matches!(f, Outcome::Failed { ref message, .. } if message == "uploading to cloud: a broke")
        );
        let p = verdict("cloud", &[], &["b waits".into()], false);
        assert!(matches!(p, Outcome::Partial { ref reason } if reason.contains("b waits")));
        let s = verdict("cloud", &[], &["b waits".into()], true);
        assert!(matches!(s, Outcome::Skipped { .. }));
        assert_eq!(verdict("cloud", &[], &[], false), Outcome::Passed);
    }
}
