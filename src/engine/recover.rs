//! Bringing a lost repository back instead of starting over (issue 15).
//!
//! After a run every node holds every repository, so a node whose own repository is gone
//! (a new disk, a deleted `base_dir`) still has its history on the others. Creating a new
//! repository there would give it a new id, and the identity guard would then refuse to
//! update the old copies forever; so the init step first asks every reachable node what
//! it holds of the repository. No copy anywhere: `restic init`, as before. Copies of two
//! different repositories: nothing is written, and the step names both ids and the choice
//! to make. Otherwise the freshest copy that passes `restic check` on its node (which also
//! proves the password before anything is written) is carried into the owner's place by
//! replication's own hops: content-checked on arrival, installed phase by phase. Its
//! `config` comes in a hop of its own, last, so that until the very end the owner's
//! folder is not a repository at all: an interrupted bring-back is never backed up into,
//! and the next run resumes it, copying only what is still missing. When neither the
//! owner nor the holder is the orchestrator, the bytes go through the orchestrator's copy
//! (rsync copies between the orchestrator and one node), so they reach the owner once.

use super::events::{Event, Outcome, Stream};
use super::node::Conn;
use super::process::{self, Input, Job};
use super::replication::StepOutput;
use super::replication::{self, Hop, HopError, RepoFiles};
use super::run::Run;
use crate::plan::Step;
use crate::shell;
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

/// A copy of the lost repository held by another node.
/// What the reachable nodes hold of a repository that is missing at its owner.
struct Survey {
    /// What the owner's own place holds (a partial bring-back, or nothing).
    own: RepoFiles,
    /// Sound copies with a config.
    copies: Vec<Copy>,
    /// Copies whose listing cannot be trusted: never a source, but proof that the
    /// repository existed, so never a reason to create a new one either.
    unsound: Vec<String>,
    /// Nodes of the run that could not be asked.
    unreachable: Vec<String>,
}

struct Copy {
    holder: String,
    conn: Rc<Conn>,
    files: RepoFiles,
}

impl Copy {
    fn snapshots(&self) -> usize {
        self.files.snapshots().len()
    }
    /// When its newest snapshot was written (replication keeps the files' times).
    fn latest(&self) -> f64 {
        self.files
            .files
            .iter()
            .filter(|(p, _)| p.starts_with("snapshots/"))
            .map(|(_, (_, mtime))| *mtime)
            .fold(0.0, f64::max)
    }
}

/// Orders copies freshest first: the newest snapshot, then the most snapshots, then the
/// orchestrator's copy (no relay needed), then by name.
fn freshest_first(copies: &mut [Copy], orchestrator: &str) {
    copies.sort_by(|a, b| {
        b.latest()
            .total_cmp(&a.latest())
            .then(b.snapshots().cmp(&a.snapshots()))
            .then((a.holder != orchestrator).cmp(&(b.holder != orchestrator)))
            .then(a.holder.cmp(&b.holder))
    });
}

/// Moves a partial folder that holds files the chosen copy lacks out of the owner's place
/// (into the quarantine), so nothing foreign ends up inside the repository brought back.
const MOVE_ASIDE: &str = include_str!("sh/move-aside.sh");

impl Run<'_> {
    /// The init step of a node whose own repository has no `config`. Returns None when
    /// no other node holds a copy (the caller creates a new repository), else the step's
    /// outcome.
    pub(super) async fn bring_back(&self, step: &Step) -> Option<Outcome> {
        let owner = step.node.clone();
        let orch = self.config.orchestrator.clone();
        let survey = match self.survey(step).await {
            Ok(s) => s,
            Err(o) => return Some(o),
        };
        let Survey {
            own,
            mut copies,
            unsound,
            unreachable,
        } = survey;
        if copies.is_empty() && !unsound.is_empty() {
            return Some(Outcome::failed(format!(
                "{owner}'s repository is missing, and the copies of it cannot be listed soundly: {}; nothing was created. Fix those copies, then run again",
                unsound.join("; ")
            )));
        }
        if !unsound.is_empty() {
            self.info(
                step,
                format!("not brought back from: {}", unsound.join("; ")),
            );
        }
        if copies.is_empty() {
            return self.without_copies(step, &unreachable);
        }
        if let Some(o) = self.disagreement(&owner, &copies).await {
            return Some(o);
        }
        freshest_first(&mut copies, &orch);
        let described: Vec<String> = copies
            .iter()
            .map(|c| format!("{} ({} snapshots)", c.holder, c.snapshots()))
            .collect();
        self.info(
            step,
            format!(
                "{owner}'s repository is missing here; copies found on {}: checking the freshest",
                described.join(", ")
            ),
        );
        let chosen = match self.choose(step, copies).await {
            Ok(c) => c,
            Err(o) => return Some(o),
        };
        self.st().password_verified = true;
        let id = self.repo_id(&chosen.holder, &owner).await;
        if self.cancel.is_cancelled() {
            return Some(Outcome::Interrupted);
        }
        match self.carry(step, &chosen, own).await {
            Ok(()) => {}
            Err(o) => return Some(o),
        }
        {
            let mut st = self.st();
            st.repo_exists.insert(owner.clone());
            // Its snapshots as they arrived: what this run's forget removes from them is
            // recorded in the ledger like any other forgotten snapshot.
            st.snapshots_before.insert(
                owner.clone(),
                chosen
                    .files
                    .snapshots()
                    .into_iter()
                    .map(String::from)
                    .collect::<HashSet<_>>(),
            );
            // Listings kept for replication no longer match these nodes.
            st.listings.remove(&owner);
            st.listings.remove(&orch);
        }
        self.sink.emit(Event::Line {
            step: step.id,
            node: owner.clone(),
            stream: Stream::Notice,
            text: format!(
                "{owner}'s repository was missing: brought back from {}'s copy ({} snapshots, repository id {id}) instead of creating a new one",
                chosen.holder,
                chosen.snapshots()
            ),
        });
        Some(Outcome::Passed)
    }

    /// What every reachable node holds of the owner's repository (the owner itself
    /// included: its place may hold a partial bring-back).
    async fn survey(&self, step: &Step) -> Result<Survey, Outcome> {
        let owner = step.node.clone();
        let (holders, unreachable) = {
            let st = self.st();
            let holders: Vec<(String, Rc<Conn>)> = self
                .plan
                .nodes
                .iter()
                .filter(|n| !st.unusable.contains_key(*n))
                .filter_map(|n| Some((n.clone(), st.conns.get(n)?.clone())))
                .collect();
            let unreachable: Vec<String> = self
                .plan
                .nodes
                .iter()
                .filter(|n| st.unusable.contains_key(*n))
                .cloned()
                .collect();
            (holders, unreachable)
        };
        let mut own = RepoFiles::default();
        let mut copies: Vec<Copy> = vec![];
        // Copies whose listing cannot be trusted: never a source, but proof that the
        // repository existed, so never a reason to create a new one either.
        let mut unsound: Vec<String> = vec![];
        for (holder, conn) in holders {
            let inv =
                match replication::inventory(&conn, std::slice::from_ref(&owner), &self.cancel).await
                {
                    Ok(inv) => inv,
                    Err(_) if self.cancel.is_cancelled() => return Err(Outcome::Interrupted),
                    Err(e) => {
                        return Err(Outcome::failed(format!(
                        "{e}; it may hold a copy of {owner}'s repository, so no new one was created: rerun when {holder} can be listed"
                    )))
                    }
                };
            let files = inv.repos.get(&owner).cloned().unwrap_or_default();
            if holder == owner {
                own = files;
            } else if let Some(why) = &files.unsound {
                unsound.push(format!("{holder}'s copy ({why})"));
            } else if files.config_sha.is_some() {
                copies.push(Copy {
                    holder,
                    conn,
                    files,
                });
            }
        }
        Ok(Survey {
            own,
            copies,
            unsound,
            unreachable,
        })
    }

    /// No reachable node holds a copy: None (create a new repository) unless a node that
    /// could not be asked may hold the only one.
    fn without_copies(&self, step: &Step, unreachable: &[String]) -> Option<Outcome> {
        let owner = &step.node;
        // A node that could not be asked may hold the only copy. When this repository
        // has a history (an earlier run backed it up, or its forgotten-snapshot ledger
        // exists), creating a new one now would fork it: wait for that node instead.
        // A new node, or a first run, creates.
        let has_history = !unreachable.is_empty()
            && (crate::logbook::logs_dir(self.config)
                .join("forgotten")
                .join(owner)
                .exists()
                || crate::logbook::history(self.config).iter().any(|run| {
                    run.steps
                        .iter()
                        .any(|s| s.node == *owner && s.kind == "backup" && s.result == "passed")
                }));
        if !unreachable.is_empty() && has_history {
            return Some(Outcome::failed(format!(
                "{owner}'s repository is missing, and {} could not be asked whether {} a copy of it; nothing was created. Run again when {} can be reached (or, if {} never held {owner}'s repository, leave {} out with `wbackup run --node`)",
                unreachable.join(", "),
                if unreachable.len() == 1 { "it holds" } else { "they hold" },
                if unreachable.len() == 1 { "it" } else { "they" },
                if unreachable.len() == 1 { "it" } else { "they" },
                if unreachable.len() == 1 { "it" } else { "them" },
            )));
        }
        if !unreachable.is_empty() {
            self.info(
                step,
                format!(
                    "no reachable node holds a copy of {owner}'s repository ({} could not be asked)",
                    unreachable.join(", ")
                ),
            );
        }
        None
    }

    /// Copies of two different repositories: the user chooses.
    async fn disagreement(&self, owner: &str, copies: &[Copy]) -> Option<Outcome> {
        let mut by_config: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for c in copies {
            by_config
                .entry(c.files.config_sha.clone().expect("copies have a config"))
                .or_default()
                .push(c.holder.clone());
        }
        if by_config.len() > 1 {
            let mut groups = vec![];
            let mut paths = vec![];
            for holders in by_config.values() {
                let id = self.repo_id(&holders[0], owner).await;
                groups.push(format!(
                    "{} hold{} repository id {id}",
                    holders.join(" and "),
                    if holders.len() == 1 { "s" } else { "" }
                ));
                for h in holders {
                    if let Some(c) = copies.iter().find(|c| c.holder == *h) {
                        paths.push(format!("{}'s {}", h, shell::quote(&c.conn.repo(owner))));
                    }
                }
            }
            return Some(Outcome::failed(format!(
                "{owner}'s repository is missing and its copies disagree: {}; nothing was written. Decide which repository is {owner}'s history (`restic -r PATH snapshots` on each node shows it), move the other copies aside (copies: {}), then run again",
                groups.join(", "),
                paths.join(", ")
            )));
        }

        None
    }

    /// The freshest copy restic accepts. Its check also proves the password: a refused
    /// password ends the run before anything is written.
    async fn choose(&self, step: &Step, copies: Vec<Copy>) -> Result<Copy, Outcome> {
        let owner = &step.node;
        let mut refused = vec![];
        let mut chosen = None;
        for c in copies {
            let repo = c.conn.repo(owner);
            self.info(
                step,
                format!("restic check of {}'s copy ({})", c.holder, repo),
            );
            let argv: Vec<String> = ["restic", "-r", &repo, "--no-lock", "check"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            let (fin, _) = process::capture(
                c.conn.at(),
                Job::new(argv).stdin(Input::Password(self.password)),
                &self.cancel,
            )
            .await;
            if fin.cancelled {
                return Err(Outcome::Interrupted);
            }
            if fin.success() {
                self.info(
                    step,
                    format!("{}'s copy passed restic check: bringing it back", c.holder),
                );
                chosen = Some(c);
                break;
            }
            if fin
                .stderr_tail
                .iter()
                .any(|l| crate::engine::restic::is_wrong_password(l))
            {
                return Err(self.restic_failure(step, &fin, "cannot open the copies"));
            }
            self.sink.emit(Event::Line {
                step: step.id,
                node: owner.clone(),
                stream: Stream::Stderr,
                text: format!(
                    "{}'s copy of {owner} failed restic check: {}",
                    c.holder,
                    fin.describe()
                ),
            });
            refused.push(format!("{}: {}", c.holder, fin.describe()));
        }
        chosen.ok_or_else(|| {
            Outcome::failed(format!(
                "{owner}'s repository is missing and no copy of it passed restic check ({}); nothing was written. Run `restic check` on each copy to see what is wrong",
                refused.join("; ")
            ))
        })
    }

    /// The owner's place as the bring-back starts from it: a partial folder holding
    /// files the chosen copy lacks (not a bring-back of this copy) is moved aside whole,
    /// into the quarantine.
    async fn clear_place(
        &self,
        step: &Step,
        dst: &Conn,
        chosen: &Copy,
        own: RepoFiles,
        stamp: &str,
    ) -> Result<RepoFiles, Outcome> {
        let owner = &step.node;
        let strays = replication::extras(&chosen.files, &own);
        if strays.is_empty() {
            return Ok(own);
        }
        let repo = dst.repo(owner);
        let q = format!("{}/.quarantine/{owner}/{stamp}-partial", dst.base());
        let said = dst
            .script(MOVE_ASIDE, &[repo.as_str(), q.as_str()], &self.cancel)
            .await
            .map_err(|e| {
                Outcome::failed_as(
                    e.cause(),
                    format!(
                        "cannot move the partial folder {} aside {e}",
                        shell::quote(&repo)
                    ),
                )
            })?;
        if !matches!(said.as_slice(), [moved] if moved == "moved") {
            return Err(Outcome::failed(format!(
                "cannot move the partial folder {} aside on {}: it said {said:?}",
                shell::quote(&repo),
                dst.node.name
            )));
        }
        self.info(
            step,
            format!(
                "{owner}'s place held {} file(s) of something else, without a config: moved to {}",
                strays.len(),
                q
            ),
        );
        Ok(RepoFiles::default())
    }

    /// Carries `chosen` into the owner's place: through the orchestrator's copy when
    /// neither end is the orchestrator; every file but `config` first, `config` last.
    async fn carry(&self, step: &Step, chosen: &Copy, own: RepoFiles) -> Result<(), Outcome> {
        let owner = &step.node;
        let orch = self.config.orchestrator.clone();
        let dst = self
            .conn(owner)
            .ok_or_else(|| Outcome::failed(format!("{owner} is not reachable")))?;
        let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
        let own = self.clear_place(step, &dst, chosen, own, &stamp).await?;
        let mut out = StepOutput {
            sink: self.sink,
            step: step.id,
            node: owner.clone(),
            total: replication::missing(&chosen.files, &own)
                .iter()
                .map(|(_, s)| s)
                .sum(),
            hop: Default::default(),
            done: 0,
        };
        let hop_error = |e: HopError| {
            match e {
            HopError::Cancelled => Outcome::Interrupted,
            HopError::Foreign => Outcome::failed(format!(
                "a copy of {owner}'s repository changed while it was being brought back; nothing was installed under {owner}'s name: run again"
            )),
            HopError::Failed(e) | HopError::NoPath(e) => Outcome::failed(format!(
                "bringing {owner}'s repository back from {}: {e}; the next run goes on from what arrived",
                chosen.holder
            )),
        }
        };
        let mut done = 0;
        // The source of the last hop: the holder, or the orchestrator's copy.
        let src: Rc<Conn> = if chosen.holder == orch || *owner == orch {
            chosen.conn.clone()
        } else {
            let relay = self
                .conn(&orch)
                .ok_or_else(|| Outcome::failed("the orchestrator is not prepared"))?;
            let mut relay_files =
                replication::inventory(&relay, std::slice::from_ref(owner), &self.cancel)
                    .await
                    .map_err(Outcome::failed)?
                    .repos
                    .remove(owner)
                    .unwrap_or_default();
            if let Some(why) = &relay_files.unsound {
                return Err(Outcome::failed(format!(
                    "the orchestrator's copy of {owner}, which the bring-back goes through, cannot be listed soundly: {why}; nothing was installed under {owner}'s name"
                )));
            }
            out.total += replication::missing(&chosen.files, &relay_files)
                .iter()
                .map(|(_, s)| s)
                .sum::<u64>();
            self.info(
                step,
                format!(
                    "{} → {owner} goes through the orchestrator's copy on {orch}",
                    chosen.holder
                ),
            );
            let hop = Hop {
                repo: owner,
                src: &chosen.conn,
                dst: &relay,
                src_files: &chosen.files,
                dst_files: &mut relay_files,
                gone: &[],
                stamp: &stamp,
                direct: None,
                measured: Some(self.config),
                turns: None,
            };
            done = replication::hop(hop, &self.cancel, &mut out, done)
                .await
                .map_err(hop_error)?;
            relay
        };
        // Everything but config: the hop takes the place for the same repository.
        let mut place = own;
        place.config_sha = chosen.files.config_sha.clone();
        let hop = Hop {
            repo: owner,
            src: &src,
            dst: &dst,
            src_files: &chosen.files,
            dst_files: &mut place,
            gone: &[],
            stamp: &stamp,
            direct: None,
            measured: Some(self.config),
            turns: None,
        };
        done = replication::hop(hop, &self.cancel, &mut out, done)
            .await
            .map_err(hop_error)?;
        // Then config: from here on the place is a repository, complete.
        place.config_sha = None;
        let hop = Hop {
            repo: owner,
            src: &src,
            dst: &dst,
            src_files: &chosen.files,
            dst_files: &mut place,
            gone: &[],
            stamp: &stamp,
            direct: None,
            measured: Some(self.config),
            turns: None,
        };
        replication::hop(hop, &self.cancel, &mut out, done)
            .await
            .map_err(hop_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(snaps: &[(&str, f64)]) -> RepoFiles {
        let mut f = RepoFiles {
            config_sha: Some("c".into()),
            ..Default::default()
        };
        for (name, t) in snaps {
            f.files.insert(format!("snapshots/{name}"), (10, *t));
        }
        f
    }

    #[test]
    fn a_partial_folder_is_moved_aside_whole() {
        let d = tempfile::tempdir().unwrap();
        let repo = d.path().join("base/home/restic");
        std::fs::create_dir_all(repo.join("keys")).unwrap();
        std::fs::write(repo.join("keys/k"), "stray").unwrap();
        let q = d
            .path()
            .join("base/.quarantine/home/20261127-090000-partial");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(MOVE_ASIDE)
            .arg("sh")
            .arg(&repo)
            .arg(&q)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "moved");
        assert!(!repo.exists());
        assert_eq!(std::fs::read_to_string(q.join("keys/k")).unwrap(), "stray");
    }

    #[test]
    fn the_freshest_copy_comes_first() {
        let conn = Rc::new(Conn::local(
            &crate::config::builtin_default("/x".into()).nodes[0],
        ));
        let copy = |holder: &str, snaps: &[(&str, f64)]| Copy {
            holder: holder.into(),
            conn: conn.clone(),
            files: files(snaps),
        };
        let mut copies = vec![
            copy("nas", &[("a", 1.0), ("b", 2.0)]),
            copy("server", &[("a", 1.0), ("b", 2.0), ("c", 3.0)]),
            copy("laptop", &[("a", 1.0), ("b", 2.0), ("c", 3.0)]),
            copy("home", &[("b", 2.0), ("c", 3.0)]),
            copy("office", &[("a", 1.0), ("b", 2.0), ("c", 3.0)]),
        ];
        freshest_first(&mut copies, "laptop");
        let order: Vec<&str> = copies.iter().map(|c| c.holder.as_str()).collect();
        assert_eq!(order, ["laptop", "office", "server", "home", "nas"]);
    }
}
