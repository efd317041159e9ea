//! A run in progress: the state its steps share, and the scheduler that starts them.
//!
//! `Run` holds what one `execute` call knows (connections, which repositories exist and
//! passed their check, listings, the password's standing); steps borrow it briefly, never
//! across an `.await`, so steps of one wave run concurrently on one thread. `wave` starts
//! them (up to `jobs` at once, one at a time until restic accepted the password), `start`
//! brackets each with its events, and `step` sends it to the code for its kind.

use super::events::{Cause, Event, Outcome, Sink, Stream};
use super::node::{self, Conn};
use super::process::{self, Input, Job};
use super::replication::{self, Inventory};
use super::restic;
pub(crate) use super::turns::{Slot, Transfers};
use crate::config::Config;
use crate::plan::{Plan, Step, StepKind};
use secrecy::SecretString;
use std::cell::{RefCell, RefMut};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Why a node takes no part in the rest of a run, or only in its own steps; read as
/// "NODE is …" in the steps that skip it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unusable {
    /// No address answered: ssh's words for each one tried.
    Unreachable(String),
    /// `prepare` could not run there, or found it unusable (that step says why).
    Failed,
    /// rsync is missing: the node runs its own steps, but no copy goes to or from it.
    NoRsync,
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::Unreachable(tried) => f.write_str(tried),
            Unusable::Failed => f.write_str("not usable (see its prepare step)"),
            Unusable::NoRsync => f.write_str("missing rsync (install it: apt install rsync)"),
        }
    }
}

/// Why a run stops before its end; the steps not run say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Halt {
    /// restic refused the password: nothing more is tried with it.
    PasswordRefused,
    /// Another run holds the run lock.
    AnotherRun,
    /// The run could not be recorded (lock, log or ledger not writable).
    Unrecordable,
}

impl std::fmt::Display for Halt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Halt::PasswordRefused => "not run: the password was refused",
            Halt::AnotherRun => "not run: another run is in progress",
            Halt::Unrecordable => "not run: the run cannot be recorded on this machine",
        })
    }
}

pub(crate) struct Run<'a> {
    pub(crate) config: &'a Config,
    pub(crate) plan: &'a Plan,
    pub(crate) password: &'a SecretString,
    pub(crate) cancel: CancellationToken,
    pub(crate) sink: &'a dyn Sink,
    /// What the steps learn and share. Steps of one wave run concurrently on this one
    /// thread; each borrows the state briefly, never across an `.await`.
    pub(crate) state: RefCell<State>,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) conns: HashMap<String, Rc<Conn>>,
    /// Nodes that take no part in the rest of the run, or only in their own steps.
    pub(crate) unusable: HashMap<String, Unusable>,
    /// Nodes whose own repository exists (found, or made by this run's init).
    pub(crate) repo_exists: HashSet<String>,
    /// Nodes whose own repository passed this run's check.
    pub(crate) checked: HashSet<String>,
    /// restic accepted the password in this run.
    pub(crate) password_verified: bool,
    /// Snapshots wbackup's own forget removed, per repository (this run and earlier
    /// ones): their absence at the source is expected, any other loss is not.
    pub(crate) forgotten: HashMap<String, HashSet<String>>,
    /// Each node's own snapshots as `prepare` found them (before this run's forget).
    pub(crate) snapshots_before: HashMap<String, HashSet<String>>,
    /// The snapshots each node's `forget` said it removed (restic's `--json` report).
    pub(crate) forget_removed: HashMap<String, Vec<String>>,
    /// The latest listing of what each node holds of every repository in the plan,
    /// kept up to date as replication changes it: one listing per node serves every
    /// replication step.
    pub(crate) listings: HashMap<String, Inventory>,
    /// Nodes listed right after their own forget: that listing serves as the source's
    /// for its replication step.
    pub(crate) listed_after_forget: HashSet<String>,
    /// Each repository whose replicate step ran: its source's files as that step read
    /// them, and the nodes whose copy it left equal to them (the owner's among them).
    pub(crate) replicated: HashMap<String, (replication::RepoFiles, HashSet<String>)>,
    /// Set when the run cannot go on: every later step is skipped, saying why.
    pub(crate) fatal: Option<Halt>,
    /// The run must not go on (another run holds the run lock, or nothing could be
    /// recorded): the first step fails with the first text, the rest are skipped with
    /// the second.
    pub(crate) refused: Option<(String, Halt)>,
    pub(crate) control_dir: Option<std::path::PathBuf>,
    /// Source paths `prepare` did not find, per node (expanded): the node's backup step
    /// fails naming them.
    pub(crate) missing_paths: HashMap<String, Vec<String>>,
    /// What each node's check found, before anything was written (`preflight`).
    pub(crate) preflight: HashMap<String, super::preflight::Checked>,
    /// Where the prepare steps wait for each other between checking and writing.
    pub(crate) gates: Option<Rc<super::preflight::Gates>>,
    /// The nodes a prepare step left out before anything was written, and why.
    pub(crate) left: Vec<super::events::Left>,
    /// Copies under way into and out of each node (replicate steps run side by side).
    pub(crate) transfers: Option<Rc<Transfers>>,
}

/// Runs the futures side by side on this task and returns their outputs in order.
pub(crate) async fn all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(o) => *out = Some(o),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future ended"))
        .collect()
}

impl Run<'_> {
    pub(crate) fn st(&self) -> RefMut<'_, State> {
        self.state.borrow_mut()
    }

    pub(crate) fn conn(&self, node: &str) -> Option<Rc<Conn>> {
        self.st().conns.get(node).cloned()
    }

    /// Where hops take their place before they carry anything.
    pub(crate) fn transfers(&self) -> Rc<Transfers> {
        let per_node = self.config.replication.transfers_per_node;
        self.st()
            .transfers
            .get_or_insert_with(|| Rc::new(Transfers::new(per_node)))
            .clone()
    }

    /// Runs one wave's steps, at most `plan.jobs` at a time (one at a time until the
    /// password has been accepted), and returns their outcomes in plan order.
    pub(crate) async fn wave(&self, wave: &[Step]) -> Vec<Outcome> {
        let mut outcomes: Vec<Option<Outcome>> = vec![None; wave.len()];
        type Running<'f> = Pin<Box<dyn Future<Output = Outcome> + 'f>>;
        let mut running: Vec<(usize, Running<'_>)> = vec![];
        let mut next = 0;
        // Every node is checked at once, and none is written before all were checked.
        let prepare = wave[0].kind == StepKind::Prepare;
        if prepare {
            self.st().gates = Some(Rc::new(super::preflight::Gates::new(wave.len())));
        }
        loop {
            let slots = if prepare {
                wave.len()
            } else if self.st().password_verified {
                self.plan.jobs.max(1)
            } else {
                1
            };
            while next < wave.len() && running.len() < slots {
                running.push((next, Box::pin(self.start(&wave[next]))));
                next += 1;
            }
            if running.is_empty() {
                break;
            }
            let (k, outcome) = std::future::poll_fn(|cx| {
                for (k, (_, f)) in running.iter_mut().enumerate() {
                    if let Poll::Ready(o) = f.as_mut().poll(cx) {
                        return Poll::Ready((k, o));
                    }
                }
                Poll::Pending
            })
            .await;
            let (i, _) = running.swap_remove(k);
            outcomes[i] = Some(outcome);
        }
        outcomes
            .into_iter()
            .map(|o| o.expect("every step of the wave ran"))
            .collect()
    }

    /// One step from its start event to its finish event.
    pub(crate) async fn start(&self, step: &Step) -> Outcome {
        let fatal = self.st().fatal;
        let outcome = if self.cancel.is_cancelled() {
            Outcome::Interrupted
        } else if let Some(halt) = fatal {
            Outcome::Skipped {
                reason: halt.to_string(),
            }
        } else {
            self.sink.emit(Event::StepStarted {
                step: step.id,
                node: step.node.clone(),
                kind: step.kind,
                title: step.title(),
            });
            let o = self.step(step).await;
            if self.cancel.is_cancelled() && !o.is_ok() {
                Outcome::Interrupted
            } else {
                o
            }
        };
        // A prepare step that ended before the gate (skipped, unreachable, refused) must
        // not keep the others waiting.
        let gates = self.st().gates.clone();
        if let Some(g) = gates.filter(|_| step.kind == StepKind::Prepare) {
            g.leave(step.id);
        }
        self.sink.emit(Event::StepFinished {
            step: step.id,
            node: step.node.clone(),
            kind: step.kind,
            title: step.title(),
            outcome: outcome.clone(),
        });
        outcome
    }

    pub(crate) fn control_dir(&self) -> std::io::Result<std::path::PathBuf> {
        let mut st = self.st();
        if st.control_dir.is_none() {
            st.control_dir = Some(node::control_dir()?);
        }
        Ok(st.control_dir.clone().expect("just set"))
    }

    pub(crate) fn info(&self, step: &Step, text: impl Into<String>) {
        self.sink.emit(Event::Line {
            step: step.id,
            node: step.node.clone(),
            stream: Stream::Info,
            text: text.into(),
        });
    }

    pub(crate) async fn step(&self, step: &Step) -> Outcome {
        let refused = self.st().refused.take();
        if let Some((why, rest)) = refused {
            self.st().fatal = Some(rest);
            let cause = match rest {
                Halt::AnotherRun => Cause::Busy,
                Halt::Unrecordable => Cause::Unrecordable,
                Halt::PasswordRefused => Cause::WrongPassword,
            };
            return Outcome::failed_as(cause, why);
        }
        // A replicate, heal or verify step concerns every node holding a copy, not its
        // owner alone.
        if !matches!(
            step.kind,
            StepKind::Prepare | StepKind::Replicate | StepKind::Heal | StepKind::Verify
        ) {
            let unreachable = self
                .st()
                .unusable
                .get(&step.node)
                .filter(|u| !matches!(u, Unusable::NoRsync))
                .cloned();
            if let Some(why) = unreachable {
                return Outcome::Skipped {
                    reason: format!("{} is {why}", step.node),
                };
            }
        }
        match step.kind {
            StepKind::Prepare => self.prepare(step).await,
            StepKind::Init => self.init(step).await,
            StepKind::Backup => self.backup(step).await,
            StepKind::Check => {
                if !self.st().repo_exists.contains(&step.node) {
                    return Outcome::Skipped {
                        reason: "no repository".into(),
                    };
                }
                let o = self.restic_step(step).await;
                if o == Outcome::Passed {
                    self.st().checked.insert(step.node.clone());
                }
                o
            }
            StepKind::Forget => {
                if !self.st().checked.contains(&step.node) {
                    return Outcome::Skipped {
                        reason: "the check did not pass".into(),
                    };
                }
                self.forget(step).await
            }
            StepKind::Replicate => self.replicate(step).await,
            StepKind::Upload => self.upload(step).await,
            StepKind::Records => self.records(step).await,
            StepKind::Heal => self.heal(step).await,
            StepKind::Verify => self.verify(step).await,
        }
    }

    /// A repository's id as restic reports it (only read when a copy turns out to hold
    /// another repository, to name both in the error).
    pub(crate) async fn repo_id(&self, holder: &str, owner: &str) -> String {
        let Some(conn) = self.conn(holder) else {
            return "unknown".into();
        };
        let argv = restic::unlock_probe_args(&conn.repo(owner));
        let job = Job::new(argv)
            .stdin(Input::Password(self.password))
            .timeout(Duration::from_secs(120));
        let (fin, lines) = process::capture(conn.at(), job, &self.cancel).await;
        let id = lines
            .iter()
            .filter(|l| !restic::is_password_notice(l))
            .collect::<Vec<_>>();
        let text: String = id.iter().map(|l| l.as_str()).collect();
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) if fin.success() => v["id"]
                .as_str()
                .map(|s| s[..10.min(s.len())].to_string())
                .unwrap_or_else(|| "unknown".into()),
            _ => "unreadable with this password".into(),
        }
    }

    /// Makes sure the state holds a listing of what `node` holds of the plan's
    /// repositories: the kept one, or a new one.
    pub(crate) async fn listing(&self, node: &str) -> Result<(), String> {
        if !self.st().listings.contains_key(node) {
            let conn = self
                .conn(node)
                .ok_or_else(|| format!("{node} is not reachable"))?;
            let inv = replication::inventory(&conn, &self.repos(), &self.cancel).await?;
            self.st().listings.insert(node.to_string(), inv);
        }
        Ok(())
    }

    /// The bucket `node`'s listing, listed from the uploading node `from` the first time a
    /// step asks (`upload` says where the bucket is; `sources`, the configs its copies
    /// must hold), then kept like a node's.
    pub(crate) async fn bucket_inventory(
        &self,
        node: &str,
        from: &Conn,
        upload: &crate::plan::action::Upload,
        sources: &HashMap<String, (String, String)>,
    ) -> Result<Inventory, String> {
        if let Some(inv) = self.st().listings.get(node) {
            return Ok(inv.clone());
        }
        let repos = self.repos();
        let inv = replication::bucket::listing(from, upload, &repos, sources, &self.cancel).await?;
        self.st().listings.insert(node.to_string(), inv.clone());
        Ok(inv)
    }

    /// Every repository of the plan (one per node that keeps one).
    fn repos(&self) -> Vec<String> {
        self.plan
            .steps
            .iter()
            .filter(|s| s.kind == StepKind::Init)
            .map(|s| s.node.clone())
            .collect()
    }
}
