//! The replicate step's hops, run side by side when the run may (`--jobs` above 1).
//!
//! A copy is fed as soon as its source copy is up to date and both nodes have a turn free
//! (`Transfers`), not in a fixed order. A copy that feeds others in the step takes its new
//! data in parts, and the copies it feeds take each part on while the rest is still on its
//! way: a chain home → server → laptop keeps both links busy at once instead of running
//! one after the other. With `--jobs 1` the hops run one at a time, in the plan's order.
//!
//! A part is a hop of its own in every way that matters: rsync into staging, every file
//! checked against its name on arrival, moved in by the install script in restic's order
//! (keys and config first on a first copy, then data). Index and snapshots only come with
//! the whole hop, once the source's copy is up to date, so a copy fed part of the way holds
//! at worst data that no index names yet: `restic check` accepts it, and the next hop
//! completes it. A part that fails is not an error: the whole hop that follows carries
//! what it did not, under the usual rules and messages.

use super::step::{orch_name, Copies, StepOutput};
use super::{extras, HopError, HopOutput, RepoFiles};
use crate::engine::events::Stream;
use crate::engine::node::Conn;
use crate::engine::replication;
use crate::engine::run::Run;
use crate::engine::turns::Expected;
use crate::plan::action::Hop as PlannedHop;
use crate::shell;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use crate::links::PART_MIN;

/// Where a copy of the step stands while the hops run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stand {
    /// Its hop has not ended.
    Coming,
    /// Up to date with the source in this step: it may feed others.
    Fed,
    /// Not up to date (failed, not listed, or waiting for the relay).
    NotFed,
}

/// What the step's hops share while they run.
struct Board {
    stand: RefCell<HashMap<String, Stand>>,
    /// The data put in place so far on a copy whose hop is under way, part by part.
    parts: RefCell<HashMap<String, Vec<Vec<String>>>>,
    changed: tokio::sync::Notify,
}

impl Board {
    fn stand(&self, node: &str) -> Stand {
        let stand = self.stand.borrow();
        stand.get(node).copied().unwrap_or(Stand::NotFed)
    }

    fn set(&self, node: &str, stand: Stand) {
        self.stand.borrow_mut().insert(node.to_string(), stand);
        self.changed.notify_waiters();
    }

    fn part(&self, node: &str, names: Vec<String>) {
        let mut parts = self.parts.borrow_mut();
        parts.entry(node.to_string()).or_default().push(names);
        drop(parts);
        self.changed.notify_waiters();
    }

    /// The parts of `node` from the `from`th on.
    fn parts_from(&self, node: &str, from: usize) -> Vec<Vec<String>> {
        let parts = self.parts.borrow();
        parts
            .get(node)
            .map(|p| p[from.min(p.len())..].to_vec())
            .unwrap_or_default()
    }
}

/// A copy's stand, set to "not fed" when its hop ends any other way than fed.
struct Mark<'b> {
    board: &'b Board,
    node: String,
}

impl Drop for Mark<'_> {
    fn drop(&mut self) {
        if self.board.stand(&self.node) == Stand::Coming {
            self.board.set(&self.node, Stand::NotFed);
        }
    }
}

/// The step's reports, shared by its hops.
type Shared<'s, 'o> = RefCell<&'s mut StepOutput<'o>>;

/// One hop's reports into the step's: its own bytes added to the step's progress.
struct HopOut<'r, 's, 'o> {
    step: &'r Shared<'s, 'o>,
    hop: (String, String),
    /// The bytes this transfer reported so far.
    last: u64,
}

impl<'r, 's, 'o> HopOut<'r, 's, 'o> {
    fn new(step: &'r Shared<'s, 'o>) -> HopOut<'r, 's, 'o> {
        HopOut {
            step,
            hop: Default::default(),
            last: 0,
        }
    }
}

impl HopOutput for HopOut<'_, '_, '_> {
    fn line(&mut self, stream: Stream, text: String) {
        self.step.borrow_mut().line(stream, text);
    }
    fn hop(&mut self, from: &str, to: &str) {
        self.hop = (from.to_string(), to.to_string());
    }
    fn progress(&mut self, done: u64) {
        let mut step = self.step.borrow_mut();
        let added = done.saturating_sub(self.last);
        self.last = self.last.max(done);
        let now = step.done + added;
        step.hop = self.hop.clone();
        step.progress(now);
    }
    fn checking(&mut self, done: u64, total: u64) {
        let mut step = self.step.borrow_mut();
        step.hop = self.hop.clone();
        step.checking(done, total);
    }
}

/// What the step's hops share.
struct Ctx<'c, 's, 'o> {
    owner: &'c str,
    src_files: &'c RepoFiles,
    guarded: &'c HashSet<String>,
    stamp: String,
    board: Board,
    /// Copies that feed others in this step: their new data comes in parts.
    feeders: HashSet<String>,
    /// Hops run side by side (`jobs` above 1); otherwise one at a time, in order.
    side_by_side: bool,
    out: &'c Shared<'s, 'o>,
}

/// How a hop ended.
enum End {
    Fed,
    Failed(String),
    /// The direct path failed before the relay's copy was up to date: the copy goes
    /// through the relay after the others.
    NoPath {
        from: String,
        gone: Vec<String>,
        why: String,
    },
}

type Running<'f> = Pin<Box<dyn Future<Output = Result<End, ()>> + 'f>>;

impl Run<'_> {
    /// The plan's hops: the relay's copy (the orchestrator's) is fed from the owner, every
    /// other copy from the one the plan names once that is up to date (from the owner when
    /// it cannot be, copies going direct). Every hop brings its target to the owner's file
    /// set. Returns the copies fed; Err when the run was cancelled.
    pub(super) async fn hops(
        &self,
        owner: &str,
        hops: &[PlannedHop],
        src_files: &RepoFiles,
        guarded: &HashSet<String>,
        copies: &mut Copies,
        out: &mut StepOutput<'_>,
    ) -> Result<HashSet<String>, ()> {
        let side_by_side = self.plan.jobs > 1;
        let step_out: Shared<'_, '_> = RefCell::new(out);
        let listed = |h: &&PlannedHop| copies.inventories.contains_key(&h.to);
        let board = Board {
            stand: RefCell::new(
                hops.iter()
                    .filter(listed)
                    .map(|h| (h.to.clone(), Stand::Coming))
                    .chain([(owner.to_string(), Stand::Fed)])
                    .collect(),
            ),
            parts: Default::default(),
            changed: Default::default(),
        };
        let feeders = match side_by_side {
            true => hops.iter().filter(listed).map(|h| h.from.clone()).collect(),
            false => HashSet::new(),
        };
        let ctx = Ctx {
            owner,
            src_files,
            guarded,
            stamp: chrono::Local::now().format("%Y%m%d-%H%M%S").to_string(),
            board,
            feeders,
            side_by_side,
            out: &step_out,
        };
        let ends = {
            let mut dsts: HashMap<&str, &mut RepoFiles> = copies
                .inventories
                .iter_mut()
                .map(|(t, inv)| (t.as_str(), inv.repos.entry(owner.to_string()).or_default()))
                .collect();
            // The new data each copy lacks: what the turns weigh, and what the next
            // plan counts on.
            let lacks: HashMap<&str, u64> = dsts
                .iter()
                .map(|(t, dst)| {
                    let missing = replication::missing(src_files, dst);
                    (*t, missing.iter().map(|(_, size)| size).sum())
                })
                .collect();
            if let Some(bytes) = median(lacks.values().copied().collect()) {
                crate::links::record_new_data(self.config, owner, bytes);
            }
            let mut expected = self.expected(owner, hops, &lacks, side_by_side);
            let running: Vec<(String, Running<'_>)> = hops
                .iter()
                .filter_map(|h| {
                    let dst = dsts.remove(h.to.as_str())?;
                    let e = expected.remove(h.to.as_str());
                    Some((
                        h.to.clone(),
                        Box::pin(self.one_hop(&ctx, h, dst, e)) as Running<'_>,
                    ))
                })
                .collect();
            // Copies not listed are not made.
            drop(expected);
            all(running, side_by_side).await?
        };
        let mut fed: HashSet<String> = HashSet::new();
        for (t, end) in ends {
            match end {
                End::Fed => {
                    fed.insert(t);
                }
                End::Failed(why) => copies.failures.push(why),
                End::NoPath { from, gone, why } => {
                    let inv = copies.inventories.get_mut(&t).expect("a hop's copy");
                    let dst = inv.repos.entry(owner.to_string()).or_default();
                    match self.relayed(&ctx, &from, &t, dst, &gone, &why).await? {
                        End::Fed => {
                            fed.insert(t);
                        }
                        End::Failed(why) => copies.failures.push(why),
                        End::NoPath { .. } => unreachable!("a relayed copy has no direct path"),
                    }
                }
            }
        }
        fed.insert(owner.to_string());
        Ok(fed)
    }

    /// What each hop of the step will ask of its two nodes, told to the run's turns so
    /// that a freed turn goes to the copy with the most work behind it (`turns`): the new
    /// data its target lacks at the links' measured rate, and for each copy the work of
    /// the copies it feeds. Nothing when the hops run one at a time, in the plan's order.
    fn expected(
        &self,
        owner: &str,
        hops: &[PlannedHop],
        lacks: &HashMap<&str, u64>,
        side_by_side: bool,
    ) -> HashMap<String, Expected> {
        if !side_by_side {
            return HashMap::new();
        }
        let links = crate::links::Links::load(self.config);
        let work = |h: &PlannedHop| {
            let bytes = lacks.get(h.to.as_str()).copied().unwrap_or(0);
            bytes as f64 * links.secs_per_byte(&h.from, &h.to)
        };
        let turns = self.transfers();
        hops.iter()
            .map(|h| {
                let feeds: f64 = hops.iter().filter(|c| c.from == h.to).map(work).sum();
                let e = turns.expect((owner, &h.from, &h.to), work(h), feeds, h.rank);
                (h.to.clone(), e)
            })
            .collect()
    }

    /// One copy brought up to date from its source, once that source is. `_expected`,
    /// its place in the turns' reckoning, is let go when it ends.
    async fn one_hop(
        &self,
        ctx: &Ctx<'_, '_, '_>,
        h: &PlannedHop,
        dst: &mut RepoFiles,
        _expected: Option<Expected>,
    ) -> Result<End, ()> {
        if self.cancel.is_cancelled() {
            return Err(());
        }
        let (owner, t) = (ctx.owner, h.to.as_str());
        let mark = Mark {
            board: &ctx.board,
            node: t.to_string(),
        };
        let Some(from) = self.source_of(ctx, h, dst).await? else {
            return Ok(End::Failed(format!(
                "{t}'s copy was not updated: the relay's copy on {} is not up to date",
                h.from
            )));
        };
        // Deletion pass: what the source no longer has goes to quarantine, snapshots
        // first, then index, then data.
        let gone = match ctx.guarded.contains(t) {
            true => vec![],
            false => extras(ctx.src_files, dst),
        };
        if ctx.feeders.contains(t) {
            self.in_parts(ctx, &from, t, dst).await?;
        }
        let relay_fed = ctx.board.stand(orch_name(self)) == Stand::Fed;
        let copied = self
            .ssh_hop(
                ctx,
                &from,
                t,
                dst,
                &gone,
                relay_fed,
                &mut HopOut::new(ctx.out),
            )
            .await;
        match copied {
            Ok(()) => {
                ctx.board.set(t, Stand::Fed);
                drop(mark);
                Ok(End::Fed)
            }
            Err(HopError::Cancelled) => Err(()),
            Err(HopError::NoPath(why)) => Ok(End::NoPath { from, gone, why }),
            Err(e) => Ok(End::Failed(self.hop_failure(owner, &from, t, e).await)),
        }
    }

    /// The copy that feeds `h.to`: the plan's, once it is up to date (meanwhile taking on
    /// the parts that reach it), or the owner's when it will not be (copies going direct
    /// only; None for a relayed copy, which needs the relay).
    async fn source_of(
        &self,
        ctx: &Ctx<'_, '_, '_>,
        h: &PlannedHop,
        dst: &mut RepoFiles,
    ) -> Result<Option<String>, ()> {
        let (owner, from, t) = (ctx.owner, h.from.as_str(), h.to.as_str());
        let mut taken = 0;
        let mut feeding = true;
        loop {
            let changed = ctx.board.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match ctx.board.stand(from) {
                Stand::Fed => return Ok(Some(from.to_string())),
                Stand::Coming if ctx.side_by_side => {}
                _ if !self.config.replication.direct => return Ok(None),
                _ => {
                    ctx.out.borrow_mut().line(
                        Stream::Info,
                        format!("{t}'s copy of {owner} comes from {owner}: {from}'s copy is not up to date"),
                    );
                    return Ok(Some(owner.to_string()));
                }
            }
            let parts = ctx.board.parts_from(from, taken);
            if feeding && !parts.is_empty() {
                taken += parts.len();
                let names: HashSet<String> = parts.into_iter().flatten().collect();
                match self.feed(ctx, from, t, dst, &names).await {
                    // What landed feeds the copies fed from this one in turn.
                    Ok(_) => ctx.board.part(
                        t,
                        names
                            .into_iter()
                            .filter(|n| dst.files.contains_key(n))
                            .collect(),
                    ),
                    Err(HopError::Cancelled) => return Err(()),
                    // Said by the whole copy, which meets it again.
                    Err(HopError::Foreign) => feeding = false,
                    Err(e) => {
                        feeding = false;
                        let why = self.hop_failure(owner, from, t, e).await;
                        ctx.out.borrow_mut().line(
                            Stream::Info,
                            format!("{from} → {t}: the rest comes with the whole copy ({why})"),
                        );
                    }
                }
                continue;
            }
            tokio::select! {
                _ = changed => {}
                _ = self.cancel.cancelled() => return Err(()),
            }
        }
    }

    /// The new data of a copy that feeds others, part by part, each made known on the
    /// board once it is in place (the whole hop that follows carries the rest).
    async fn in_parts(
        &self,
        ctx: &Ctx<'_, '_, '_>,
        from: &str,
        t: &str,
        dst: &mut RepoFiles,
    ) -> Result<(), ()> {
        let data: Vec<(String, u64)> = replication::missing(ctx.src_files, dst)
            .into_iter()
            .filter(|(p, _)| replication::phase_of(p) == Some("data"))
            .collect();
        let parts = parts(data);
        if parts.len() < 2 {
            return Ok(());
        }
        for part in parts {
            let names: HashSet<String> = part.into_iter().collect();
            match self.feed(ctx, from, t, dst, &names).await {
                Ok(_) => ctx.board.part(t, names.into_iter().collect()),
                Err(HopError::Cancelled) => return Err(()),
                Err(HopError::Foreign) => break,
                Err(e) => {
                    let why = self.hop_failure(ctx.owner, from, t, e).await;
                    ctx.out.borrow_mut().line(
                        Stream::Info,
                        format!("{from} → {t}: the rest comes in one transfer ({why})"),
                    );
                    break;
                }
            }
        }
        Ok(())
    }

    /// One part: the data in `names` that `t`'s copy lacks, from `from`'s copy (straight
    /// when the copies go direct; no relay: a part that fails is left to the whole hop).
    async fn feed(
        &self,
        ctx: &Ctx<'_, '_, '_>,
        from: &str,
        t: &str,
        dst: &mut RepoFiles,
        names: &HashSet<String>,
    ) -> Result<u64, HopError> {
        let (Some(src), Some(to)) = (self.conn(from), self.conn(t)) else {
            return Err(HopError::Failed(format!("{from} or {t} is not reachable")));
        };
        let direct = self
            .direct_hop(&src, &to, false)
            .map_err(HopError::Failed)?;
        let hop = replication::Hop {
            repo: ctx.owner,
            src: &src,
            dst: &to,
            src_files: ctx.src_files,
            dst_files: dst,
            gone: &[],
            stamp: &ctx.stamp,
            direct,
            measured: Some(self.config),
            // One copy into and one out of each node at a time (unless raised): each
            // transfer waits for both, while other hops go on.
            turns: Some(self.transfers()),
        };
        replication::feed(hop, names, &self.cancel, &mut HopOut::new(ctx.out)).await
    }

    /// A direct copy that found no path, through the relay's copy when that is up to date.
    async fn relayed(
        &self,
        ctx: &Ctx<'_, '_, '_>,
        from: &str,
        t: &str,
        dst: &mut RepoFiles,
        gone: &[String],
        why: &str,
    ) -> Result<End, ()> {
        let (owner, orch) = (ctx.owner, orch_name(self));
        if ctx.board.stand(orch) != Stand::Fed {
            return Ok(End::Failed(format!(
                "copying {owner} straight from {from} to {t} failed ({why}), and the relay's copy is not up to date"
            )));
        }
        ctx.out.borrow_mut().line(
            Stream::Notice,
            format!("{from} → {t}: no direct path ({why}); {owner}'s copy relayed through {orch}"),
        );
        let mut out = HopOut::new(ctx.out);
        match self.ssh_hop(ctx, orch, t, dst, gone, true, &mut out).await {
            Ok(()) => Ok(End::Fed),
            Err(HopError::Cancelled) => Err(()),
            Err(e) => Ok(End::Failed(self.hop_failure(owner, from, t, e).await)),
        }
    }

    /// One copy between two nodes over SSH: `from`'s copy of the owner's repository into
    /// `t`'s, straight between them when both are remote and copies go direct (through
    /// the orchestrator's copy when that fails and `relay_fed`).
    #[allow(clippy::too_many_arguments)]
    async fn ssh_hop(
        &self,
        ctx: &Ctx<'_, '_, '_>,
        from: &str,
        t: &str,
        dst_files: &mut RepoFiles,
        gone: &[String],
        relay_fed: bool,
        out: &mut dyn HopOutput,
    ) -> Result<(), HopError> {
        let (Some(src), Some(dst)) = (self.conn(from), self.conn(t)) else {
            return Err(HopError::Failed(format!(
                "{t}: {from} or {t} is not reachable"
            )));
        };
        let direct = self
            .direct_hop(&src, &dst, relay_fed)
            .map_err(|e| HopError::Failed(format!("{t}: {e}")))?;
        let hop = replication::Hop {
            repo: ctx.owner,
            src: &src,
            dst: &dst,
            src_files: ctx.src_files,
            dst_files,
            gone,
            stamp: &ctx.stamp,
            direct,
            measured: Some(self.config),
            // One copy into and one out of each node at a time (unless raised): each
            // transfer waits for both, while other hops go on.
            turns: Some(self.transfers()),
        };
        replication::hop(hop, &self.cancel, out, 0).await.map(drop)
    }

    /// A hop between two remote nodes goes direct (the plan made it so under
    /// `[replication] direct`); the orchestrator's copy, when `relay_fed` (up to date in
    /// this step), is its way round.
    fn direct_hop(
        &self,
        src: &Conn,
        dst: &Conn,
        relay_fed: bool,
    ) -> Result<Option<replication::DirectHop<'_>>, String> {
        if src.remote.is_none() || dst.remote.is_none() {
            return Ok(None);
        }
        let dir = self
            .control_dir()
            .map_err(|e| format!("no private folder for the run: {e}"))?;
        let relay = self.conn(orch_name(self)).filter(|_| relay_fed);
        Ok(Some(replication::DirectHop {
            config: self.config,
            dir,
            relay,
        }))
    }

    /// What the step says of a copy that failed.
    async fn hop_failure(&self, owner: &str, from: &str, t: &str, e: HopError) -> String {
        match e {
            HopError::Foreign => {
                let src_id = self.repo_id(from, owner).await;
                let dst_id = self.repo_id(t, owner).await;
                let path = self.conn(t).map(|c| c.repo(owner)).unwrap_or_default();
                format!(
                    "{t} holds a different repository under {owner}'s name (repository id {dst_id} there, {src_id} at the source); it was not touched: move {} aside and rerun",
                    shell::quote(&path),
                )
            }
            HopError::Failed(e) | HopError::NoPath(e) => e,
            HopError::Cancelled => "cancelled".to_string(),
        }
    }
}

/// Runs the hops side by side, or one after the other in order; their ends in order. Err
/// when one found the run cancelled.
async fn all<'f>(
    mut running: Vec<(String, Running<'f>)>,
    side_by_side: bool,
) -> Result<Vec<(String, End)>, ()> {
    let mut ends: Vec<Option<(String, End)>> = running.iter().map(|_| None).collect();
    if !side_by_side {
        let mut out = vec![];
        for (t, f) in running {
            out.push((t, f.await?));
        }
        return Ok(out);
    }
    let mut left: Vec<usize> = (0..running.len()).collect();
    while !left.is_empty() {
        let (k, end) = std::future::poll_fn(|cx| {
            for (k, i) in left.iter().enumerate() {
                if let Poll::Ready(e) = running[*i].1.as_mut().poll(cx) {
                    return Poll::Ready((k, e));
                }
            }
            Poll::Pending
        })
        .await;
        let i = left.swap_remove(k);
        ends[i] = Some((running[i].0.clone(), end?));
    }
    Ok(ends
        .into_iter()
        .map(|e| e.expect("every hop ended"))
        .collect())
}

/// The middle value (the lower of the two middle ones); None for none. A copy that was
/// lost, or one already up to date, does not make the new data of a run.
fn median(mut v: Vec<u64>) -> Option<u64> {
    v.sort_unstable();
    v.get(v.len().saturating_sub(1) / 2).copied()
}

/// New data split for a copy that feeds others: each part half of what is left (at least
/// `PART_MIN`), so that the copies fed from it start early and the last part, the one
/// they wait for at the end, is small. Files stay whole and in their order.
fn parts(data: Vec<(String, u64)>) -> Vec<Vec<String>> {
    let mut left: u64 = data.iter().map(|(_, s)| s).sum();
    let mut parts = vec![];
    let mut part = vec![];
    let mut size = 0;
    for (name, s) in data {
        let goal = if left < 2 * PART_MIN {
            left
        } else {
            (left / 2).max(PART_MIN)
        };
        part.push(name);
        size += s;
        if size >= goal {
            parts.push(std::mem::take(&mut part));
            left -= size;
            size = 0;
        }
    }
    if !part.is_empty() {
        parts.push(part);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(sizes: &[u64]) -> Vec<(String, u64)> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("data/00/{i:064}"), s << 20))
            .collect()
    }

    #[test]
    fn new_data_comes_in_halves_down_to_a_small_last_part() {
        // 13 packs of 16 MiB: 208 MiB in parts of 112, 48, 32, 16 MiB.
        let p = parts(files(&[16; 13]));
        let sizes: Vec<usize> = p.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![7, 3, 2, 1]);
        assert_eq!(
            p.concat(),
            files(&[16; 13])
                .into_iter()
                .map(|f| f.0)
                .collect::<Vec<_>>()
        );
        // Under two minimum parts: one transfer, no parts.
        assert_eq!(parts(files(&[4, 4, 4])).len(), 1);
        assert!(parts(vec![]).is_empty());
        // One file larger than the rest: parts never split a file.
        assert_eq!(parts(files(&[100, 1, 1])).len(), 2);
    }
}
