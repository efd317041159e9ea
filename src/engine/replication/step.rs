//! The replicate step: one repository's copies brought up to date, hop by hop as the
//! plan says, after the source's listing proved sound and the guards said what may leave
//! each copy.

use super::guards::{shrink_refusal, unexplained};
use super::{ledger, HopOutput, Inventory, RepoFiles};
use crate::engine::events::{Activity, Cause, Event, Outcome, Sink, Stream};
use crate::engine::replication;
use crate::engine::run::{Run, Unusable};
use crate::plan::action::Action;
use crate::plan::Step;
use crate::shell;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What one replicate step gathers before its hops run.
pub(super) struct Copies {
    /// The targets' listings, taken out of the kept ones while hops change them and put
    /// back at the end (a step that ends early leaves them to be listed again).
    pub(super) inventories: HashMap<String, Inventory>,
    /// Why some copies were not touched.
    pub(super) failures: Vec<String>,
    /// Copies that wait for the next run (their node failed `prepare`, reported there).
    waiting: Vec<String>,
}

impl Run<'_> {
    pub(crate) async fn replicate(&self, step: &Step) -> Outcome {
        let owner = step.node.clone();
        let (src_files, owner_repo) = match self.source(&owner).await {
            Ok(s) => s,
            Err(o) => return o,
        };
        let mut out = StepOutput {
            sink: self.sink,
            step: step.id,
            node: owner.clone(),
            total: 0,
            hop: Default::default(),
            done: 0,
        };
        let mut copies = self.copies(step, &mut out).await;
        // Total bytes for the progress bar, over every hop.
        out.total = copies
            .inventories
            .values()
            .map(|i| {
                let dst = i.repos.get(&owner).cloned().unwrap_or_default();
                replication::missing(&src_files, &dst)
                    .iter()
                    .map(|(_, s)| s)
                    .sum::<u64>()
            })
            .sum();
        let unexplained = self.unexplained(&owner, &src_files, &copies.inventories);
        let accepted = self.plan.accept_shrink.contains(&owner);
        if accepted && !unexplained.is_empty() {
            let n = unexplained.values().flatten().collect::<HashSet<_>>().len();
            out.line(
                Stream::Info,
                format!("--accept-shrink {owner}: removing {n} lost snapshot(s) from the copies"),
            );
        }
        let guarded: HashSet<String> = if accepted {
            HashSet::new()
        } else {
            unexplained.keys().cloned().collect()
        };
        let Action::Replicate(hops) = &step.action else {
            unreachable!("a replicate step has hops")
        };
        let hopped = self
            .hops(&owner, hops, &src_files, &guarded, &mut copies, &mut out)
            .await;
        let Ok(fed) = hopped else {
            // The listings are dropped: the next step lists those nodes again.
            let mut st = self.st();
            for t in copies.inventories.keys() {
                st.listings.remove(t);
            }
            return Outcome::Interrupted;
        };
        self.st()
            .replicated
            .insert(owner.clone(), (src_files.clone(), fed));
        self.keep_listings(&owner, std::mem::take(&mut copies.inventories));
        if !guarded.is_empty() {
            copies.failures.push(shrink_refusal(
                &owner,
                &owner_repo,
                &unexplained,
                step.targets.len() - copies.waiting.len(),
            ));
        }
        verdict(&owner, &copies)
    }

    /// The source's files, from a listing known sound, or why the step does not run.
    /// (The source's locks say whether another restic is busy there. A lock taken after
    /// the listing is harmless: only listed files are copied, in order, and a prune that
    /// removes one of them stops the copy.)
    pub(super) async fn source(&self, owner: &str) -> Result<(RepoFiles, String), Outcome> {
        let skip = |reason: String| Err(Outcome::Skipped { reason });
        if !self.st().checked.contains(owner) {
            return skip(format!("{owner}'s repository did not pass its check in this run; replicas keep their last good state"));
        }
        let Some(owner_conn) = self.conn(owner) else {
            return skip(format!("{owner} is not reachable"));
        };
        if self.st().unusable.get(owner) == Some(&Unusable::NoRsync) {
            return skip(format!("{owner} has no rsync (see its prepare step): its copies keep their last state until it is installed"));
        }
        // The listing its forget step just took, or a new one.
        {
            let mut st = self.st();
            if !st.listed_after_forget.remove(owner) {
                st.listings.remove(owner);
            }
        }
        self.listing(owner).await.map_err(Outcome::failed)?;
        let (src_files, now) = {
            let st = self.st();
            let inv = &st.listings[owner];
            (inv.repos.get(owner).cloned().unwrap_or_default(), inv.now)
        };
        let owner_repo = owner_conn.repo(owner);
        // Only a listing known complete may say what the copies should lose: a folder
        // that could not be read, or that the listing did not follow, would otherwise
        // look deleted.
        if let Err(why) = src_files.as_source() {
            return Err(Outcome::failed(format!(
                "{owner}'s repository cannot be replicated: {why}; its copies were not touched. Look at {} on {owner}",
                shell::quote(&owner_repo),
            )));
        }
        let busy = src_files.fresh_locks(now);
        if !busy.is_empty() {
            return skip(format!("{owner}'s repository is busy (a restic lock younger than 30 minutes: {}); replication skipped this time", busy.join(", ")));
        }
        Ok((src_files, owner_repo))
    }

    /// The targets' listings; a copy whose listing cannot be trusted is not written (what
    /// it seems to lack may be there, what it seems to have may not).
    async fn copies(&self, step: &Step, out: &mut StepOutput<'_>) -> Copies {
        let owner = &step.node;
        let mut c = Copies {
            inventories: HashMap::new(),
            failures: vec![],
            waiting: vec![],
        };
        for t in &step.targets {
            // A node that failed `prepare` is that step's failure, reported there once;
            // here its copy only waits for the next run.
            let unreachable = self.st().unusable.get(t).cloned();
            if let Some(why) = unreachable {
                out.line(
                    Stream::Info,
                    format!("{t} is {why}: its copy of {owner} waits for the next run"),
                );
                c.waiting.push(t.clone());
                continue;
            }
            if let Err(e) = self.listing(t).await {
                c.failures.push(e);
                continue;
            }
            // A copy: other replicate steps may run meanwhile and keep their own
            // repositories' part of the same node's listing (`keep_listings`).
            let inv = self.st().listings.get(t).cloned().expect("just listed");
            if let Some(why) = inv.repos.get(owner).and_then(|f| f.unsound.clone()) {
                let path = self.conn(t).map(|c| c.repo(owner)).unwrap_or_default();
                c.failures.push(format!(
                    "{t}'s copy of {owner} was not touched: {why}. Look at {} on {t}",
                    shell::quote(&path)
                ));
                continue;
            }
            c.inventories.insert(t.clone(), inv);
        }
        c
    }

    /// Puts back what this step's hops made of `owner`'s copies into the kept listings,
    /// leaving the other repositories' parts as other steps left them.
    fn keep_listings(&self, owner: &str, inventories: HashMap<String, Inventory>) {
        let mut st = self.st();
        for (t, mut inv) in inventories {
            let files = inv.repos.remove(owner).unwrap_or_default();
            match st.listings.get_mut(&t) {
                Some(kept) => {
                    kept.repos.insert(owner.to_string(), files);
                }
                None => {
                    inv.repos.insert(owner.to_string(), files);
                    st.listings.insert(t, inv);
                }
            }
        }
    }

    /// Shrink guard, copy by copy: the snapshots each copy holds that the source does not
    /// have and wbackup's own forget did not remove (see `guards`).
    pub(super) fn unexplained(
        &self,
        owner: &str,
        src_files: &RepoFiles,
        inventories: &HashMap<String, Inventory>,
    ) -> BTreeMap<String, Vec<String>> {
        let forgotten = self
            .st()
            .forgotten
            .entry(owner.to_string())
            .or_insert_with(|| ledger::load(self.config, owner))
            .clone();
        let copies = inventories
            .iter()
            .filter_map(|(t, inv)| Some((t.as_str(), inv.repos.get(owner)?)));
        unexplained(src_files, copies, &forgotten)
    }
}

/// The orchestrator's name.
pub(super) fn orch_name<'r>(run: &'r Run<'_>) -> &'r str {
    &run.config.orchestrator().name
}

/// The step's outcome from what its copies went through.
fn verdict(owner: &str, copies: &Copies) -> Outcome {
    if !copies.failures.is_empty() {
        return Outcome::Failed {
            cause: Cause::Other,
            exit_code: None,
            message: format!("replicating {owner}: {}", copies.failures.join("; ")),
            stderr_tail: vec![],
        };
    }
    let waiting = &copies.waiting;
    if !waiting.is_empty() {
        return Outcome::Partial {
            reason: format!(
                "{} not updated: {} could not be reached or used (see {} prepare step); the others are up to date",
                waiting.iter().map(|t| format!("{t}'s copy")).collect::<Vec<_>>().join(", "),
                waiting.join(", "),
                if waiting.len() == 1 { "its" } else { "their" },
            ),
        };
    }
    Outcome::Passed
}

pub(crate) struct StepOutput<'a> {
    pub(crate) sink: &'a dyn Sink,
    pub(crate) step: usize,
    pub(crate) node: String,
    pub(crate) total: u64,
    /// The hop under way: (from, to).
    pub(crate) hop: (String, String),
    /// Bytes carried so far, over every hop.
    pub(crate) done: u64,
}

impl HopOutput for StepOutput<'_> {
    fn line(&mut self, stream: Stream, text: String) {
        self.sink.emit(Event::Line {
            step: self.step,
            node: self.node.clone(),
            stream,
            text,
        });
    }
    fn hop(&mut self, from: &str, to: &str) {
        self.hop = (from.to_string(), to.to_string());
    }
    fn progress(&mut self, done: u64) {
        let (from, to) = self.hop.clone();
        self.done = done.min(self.total);
        self.sink.emit(Event::Progress {
            step: self.step,
            node: self.node.clone(),
            activity: Activity::Copying { from, to },
            done: self.done,
            total: self.total,
            files: None,
            rate: None,
            eta_secs: None,
        });
    }
    fn checking(&mut self, done: u64, total: u64) {
        let (from, to) = self.hop.clone();
        self.sink.emit(Event::Progress {
            step: self.step,
            node: self.node.clone(),
            activity: Activity::Landing { from, to },
            done: self.done,
            total: self.total,
            files: Some((done, total)),
            rate: None,
            eta_secs: None,
        });
    }
}
