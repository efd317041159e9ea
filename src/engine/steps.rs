//! The steps that run on one node: `prepare` (reach it, learn what it has, make its
//! layout), and the restic steps on its own repository (`init`, `backup`, `check`,
//! `forget`), each executing the action the plan gave it.

use super::events::{Activity, Cause, CheckItem, Event, Fact, Left, Outcome, Stream};
use super::node::{self, Conn};
use super::process::{self, Input, Job};
use super::replication::{self, ledger};
use super::run::{Halt, Run, State, Unusable};
use super::{found, preflight, prepare, restic};
use crate::plan::action::{self, Action};
use crate::plan::{Step, StepKind};
use crate::shell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

/// Password trials run side by side on one node.
const PROBES_AT_ONCE: usize = 4;

/// The checked nodes that can send their repositories in this run (a node left out, or
/// without rsync, sends none), and the node being judged.
fn senders(st: &State, node: &str) -> std::collections::HashMap<String, preflight::Checked> {
    st.preflight
        .iter()
        .filter(|(n, _)| *n == node || !st.unusable.contains_key(*n))
        .map(|(n, c)| (n.clone(), c.clone()))
        .collect()
}

impl Run<'_> {
    /// The node's connection for this run: the orchestrator's own, or the first of its
    /// addresses that answers.
    async fn reach(&self, step: &Step, node: &crate::config::Node) -> Result<Conn, Outcome> {
        if node.is_orchestrator {
            return Ok(Conn::local(node));
        }
        let dir = self.control_dir().map_err(|e| {
            Outcome::failed(format!(
                "cannot create a directory for ssh control sockets: {e}"
            ))
        })?;
        self.info(
            step,
            format!(
                "connecting to {} ({})",
                node.name,
                node.addresses.join(", ")
            ),
        );
        node::connect(self.config, node, &dir).await.map_err(|u| {
            self.st()
                .unusable
                .insert(node.name.clone(), Unusable::Unreachable(u.to_string()));
            self.sink.emit(Event::NodeUnreachable {
                node: node.name.clone(),
                tried: node.addresses.clone(),
            });
            if let Some(cmd) = &u.key_changed {
                let forget = cmd.clone();
                self.found(step, Fact::HostKeyChanged { forget });
            }
            Outcome::Failed {
                cause: u.cause(),
                exit_code: None,
                message: u.reason(&node.name),
                stderr_tail: u.tried.iter().map(|(a, w)| format!("{a}: {w}")).collect(),
            }
        })
    }

    /// Reaches the node and reads what it has; once every node of the run was read
    /// (`preflight::Gate`), judges it with the others' facts in hand, and only then makes
    /// its layout.
    pub(crate) async fn prepare(&self, step: &Step) -> Outcome {
        let gates = self.st().gates.clone();
        // The node's own repository is tried as soon as the node was read: no other
        // node tries it for it, and its trial then overlaps the others' reading.
        let read = self.read_node(step).await.and_then(|(no_rsync, early)| {
            let own = self.try_own(step, gates.as_deref(), early)?;
            Ok((no_rsync, own))
        });
        if let Some(g) = &gates {
            g.read.arrive(step.id);
            tokio::select! {
                _ = g.read.wait() => {}
                _ = self.cancel.cancelled() => return Outcome::Interrupted,
            }
        }
        let checked = match read {
            Ok((no_rsync, own)) => self
                .try_password(step, gates.as_deref(), own)
                .await
                .map(|()| no_rsync),
            Err(o) => Err(o),
        };
        if let Some(g) = &gates {
            g.checked.arrive(step.id);
            tokio::select! {
                _ = g.checked.wait() => {}
                _ = self.cancel.cancelled() => return Outcome::Interrupted,
            }
        }
        let verdict = checked.and_then(|no_rsync| self.judge(step).map_or(Ok(no_rsync), Err));
        let items = self.checklist(step, verdict.as_ref().err());
        self.sink.emit(Event::NodeChecked {
            node: step.node.clone(),
            items,
        });
        let no_rsync = match verdict {
            Ok(no_rsync) => no_rsync,
            Err(o) => {
                let mut st = self.st();
                if let Outcome::Failed { message, .. } = &o {
                    st.unusable
                        .entry(step.node.clone())
                        .or_insert(Unusable::Failed);
                    st.left.push(Left {
                        node: step.node.clone(),
                        why: message.clone(),
                    });
                }
                return o;
            }
        };
        if let Some(g) = &gates {
            g.judged.arrive(step.id);
            tokio::select! {
                _ = g.judged.wait() => {}
                _ = self.cancel.cancelled() => return Outcome::Interrupted,
            }
            if !self.go_on(g).await {
                return Outcome::Interrupted;
            }
        }
        if let Some(o) = self.make_layout(step).await {
            return o;
        }
        if no_rsync {
            // Backups need only restic: the node keeps its own steps; copies to and from
            // it wait until rsync is there.
            return Outcome::failed_as(Cause::ToolMissing, format!(
                "`rsync` is not installed on {0} (install it: apt install rsync); {0} still backs up, but no copy goes to or from it",
                step.node
            ));
        }
        Outcome::Passed
    }

    /// Whether to go on without the nodes left out: at once, unless the sink asks for a
    /// say (the window); then the run waits for "Continue without", or is stopped.
    async fn go_on(&self, gates: &preflight::Gates) -> bool {
        if gates.ask_first() {
            let left = self.st().left.clone();
            let asked = if left.is_empty() {
                None
            } else {
                self.sink.ask()
            };
            let go_on = match asked {
                None => true,
                Some(answer) => {
                    self.sink.emit(Event::Waiting { without: left });
                    tokio::select! {
                        said = answer => said.is_ok(),
                        _ = self.cancel.cancelled() => false,
                    }
                }
            };
            gates.decide(go_on);
        }
        tokio::select! {
            go_on = gates.decision() => go_on,
            _ = self.cancel.cancelled() => false,
        }
    }

    /// The node's checklist, as far as its check went: reached, tools, password, room.
    fn checklist(&self, step: &Step, failure: Option<&Outcome>) -> Vec<CheckItem> {
        let item = |ok: bool, text: String| CheckItem { ok, text };
        let st = self.st();
        let mut items = vec![];
        if let Some(c) = st.conns.get(&step.node) {
            items.push(item(
                true,
                match c.remote {
                    None => "this machine".to_string(),
                    Some(_) => format!("reached via {} ({:?})", c.address(), c.route),
                },
            ));
        }
        if let Some(checked) = st.preflight.get(&step.node) {
            let f = &checked.facts;
            items.push(if f.missing_tools.is_empty() {
                item(true, "restic and rsync installed".into())
            } else {
                item(
                    false,
                    format!("missing: {} (apt install {0})", f.missing_tools.join(" ")),
                )
            });
            let refused: Vec<&str> = checked
                .trials
                .iter()
                .filter(|(_, t)| *t != preflight::Trial::Accepted)
                .map(|(o, _)| o.as_str())
                .collect();
            items.push(match (checked.trials.len(), refused.is_empty()) {
                (0, _) => item(true, "no repository here yet".into()),
                (n, true) => item(
                    true,
                    format!(
                        "password accepted by {n} repositor{}",
                        if n == 1 { "y" } else { "ies" }
                    ),
                ),
                (_, false) => item(
                    false,
                    format!(
                        "password not accepted by {}'s repository",
                        refused.join("'s, ")
                    ),
                ),
            });
            if let Some(free) = f.free_kb {
                let need: u64 = preflight::needs(self.plan, &senders(&st, &step.node), &step.node)
                    .iter()
                    .map(|n| n.kb)
                    .sum();
                items.push(item(
                    need <= free,
                    format!(
                        "{} free, this run writes up to about {}",
                        preflight::human_kb(free),
                        preflight::human_kb(need)
                    ),
                ));
            }
        }
        if let Some(Outcome::Failed { message, .. }) = failure {
            if items.iter().all(|i| i.ok) {
                items.push(item(false, message.clone()));
            }
        }
        items
    }

    /// `prepare.sh` with `mode` and the plan's arguments, on the node's connection.
    async fn prepare_script(&self, step: &Step, mode: &str) -> Result<Vec<String>, Outcome> {
        let Action::Prepare { args, .. } = &step.action else {
            unreachable!("a prepare step prepares")
        };
        let conn = self.conn(&step.node).expect("checked nodes are connected");
        let mut words = vec![mode.to_string()];
        words.extend(action::expand(args, &conn.home));
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        conn.script(prepare::SCRIPT, &words, &self.cancel)
            .await
            .map_err(|e| {
                self.st()
                    .unusable
                    .insert(step.node.clone(), Unusable::Failed);
                Outcome::failed_as(
                    e.cause(),
                    format!("cannot prepare {}: {}", step.node, e.ended.describe()),
                )
            })
    }

    /// Reads only: reaches the node and learns what it has (`prepare.sh check`).
    /// Ok(true) when it lacks only rsync.
    async fn read_node(&self, step: &Step) -> Result<(bool, Option<process::Finished>), Outcome> {
        let Action::Prepare {
            addresses,
            args,
            paths: npaths,
        } = &step.action
        else {
            unreachable!("a prepare step prepares")
        };
        let mut node = self
            .config
            .node(&step.node)
            .expect("plan nodes exist")
            .clone();
        node.addresses = addresses.clone();
        let conn = self.reach(step, &node).await?;
        self.sink.emit(Event::NodeReached {
            node: node.name.clone(),
            address: conn.address().to_string(),
            route: conn.route,
        });
        let base = conn.base();
        let paths: Vec<String> = action::expand(args, &conn.home)[3..3 + npaths].to_vec();
        let conn = Rc::new(conn);
        self.st().conns.insert(node.name.clone(), conn.clone());
        // The password is tried on the node's own repository while the check runs: its
        // key derivation is the longest part of the check; the answer counts only if
        // the check finds the repository (`try_own`).
        let own = [&step.node];
        let (lines, early) = tokio::join!(
            self.prepare_script(step, "check"),
            self.trial_runs(step, &own)
        );
        let lines = lines?;
        let early = early.into_iter().next();
        let facts = prepare::parse(&lines, paths.len());
        if !facts.missing_tools.is_empty() {
            let tools = facts.missing_tools.clone();
            self.found(step, Fact::ToolsMissing { tools });
        }
        if let Some(kb) = facts.free_kb {
            self.info(
                step,
                format!(
                    "{}: reached via {} ({:?}); {} free under {base}",
                    node.name,
                    conn.address(),
                    conn.route,
                    preflight::human_kb(kb)
                ),
            );
        }
        {
            let mut st = self.st();
            if facts.repo_exists {
                st.repo_exists.insert(node.name.clone());
                st.snapshots_before
                    .entry(node.name.clone())
                    .or_default()
                    .extend(facts.snapshots.iter().cloned());
            }
            let missing_paths: Vec<String> = facts
                .missing_paths
                .iter()
                .map(|&i| paths[i].clone())
                .collect();
            if !missing_paths.is_empty() {
                st.missing_paths.insert(node.name.clone(), missing_paths);
            }
        }
        self.st().preflight.insert(
            node.name.clone(),
            preflight::Checked {
                facts: facts.clone(),
                trials: vec![],
            },
        );
        // Problems that make the node unusable; a missing rsync only stops its copies.
        let no_rsync = facts.missing_tools.iter().any(|t| t == "rsync");
        let mut problems = facts.problems(&node.name, &base);
        if !problems.is_empty() {
            if no_rsync {
                problems.push(format!(
                    "`rsync` is not installed on {} (install it: apt install rsync)",
                    node.name
                ));
            }
            self.st()
                .unusable
                .insert(node.name.clone(), Unusable::Failed);
            return Err(Outcome::failed_as(facts.cause(), problems.join("; ")));
        }
        if no_rsync {
            self.st()
                .unusable
                .insert(node.name.clone(), Unusable::NoRsync);
        }
        Ok((no_rsync, early))
    }

    /// The password tried, read-only, on the node's own repository when it holds one
    /// (`early`: restic's answer, asked while the node was read), told to the nodes that
    /// hold copies which open alike.
    fn try_own(
        &self,
        step: &Step,
        gates: Option<&preflight::Gates>,
        early: Option<process::Finished>,
    ) -> Result<Tried, Outcome> {
        let facts = self.st().preflight[&step.node].facts.clone();
        let mut tried = Tried::new();
        if let (true, Some(fin)) = (facts.held.contains_key(&step.node), early) {
            let trial = self.verdict(step, &step.node, &fin)?;
            tried.insert(step.node.clone(), trial);
        }
        tell(gates, &facts, &tried);
        Ok(tried)
    }

    /// The password tried, read-only, on every other repository the node holds: here,
    /// or on the node that tries it for copies that open alike
    /// (`preflight::SharedTrials`). `tried`: those tried already.
    async fn try_password(
        &self,
        step: &Step,
        gates: Option<&preflight::Gates>,
        tried: Tried,
    ) -> Result<(), Outcome> {
        let facts = self.st().preflight[&step.node].facts.clone();
        let mut here: Vec<&String> = vec![];
        let mut there: Vec<(&String, &String, String)> = vec![];
        {
            let st = self.st();
            let trying = |n: &str| {
                !matches!(
                    st.unusable.get(n),
                    Some(Unusable::Failed | Unusable::Unreachable(_))
                )
            };
            for owner in facts.held.keys().filter(|o| !tried.contains_key(*o)) {
                let tried_by = match (gates, facts.keys.get(owner)) {
                    (Some(_), Some(digest)) => {
                        preflight::trier(&st.preflight, trying, owner, digest)
                            .filter(|n| *n != step.node)
                            .map(|n| (digest, n.to_string()))
                    }
                    _ => None,
                };
                match tried_by {
                    Some((digest, n)) => there.push((owner, digest, n)),
                    None => here.push(owner),
                }
            }
        }
        let mut trials = self.probe(step, &here).await?;
        tell(gates, &facts, &trials);
        trials.extend(tried);
        if let Some(g) = gates {
            let mut again = vec![];
            let mut taken = vec![];
            for (owner, digest, n) in there {
                let trial = tokio::select! {
                    t = g.trials.told(owner, digest) => t,
                    _ = self.cancel.cancelled() => return Err(Outcome::Interrupted),
                };
                if let preflight::Trial::Unreadable(_) = trial {
                    // Perhaps only there: tried here too.
                    again.push(owner);
                } else {
                    taken.push(format!("{owner}'s (tried on {n})"));
                    trials.insert(owner.clone(), trial);
                }
            }
            trials.extend(self.probe(step, &again).await?);
            if !taken.is_empty() {
                self.info(
                    step,
                    format!(
                        "the copies of {} on {} have the same config and key files as where the password was tried: not tried again",
                        taken.join(", "),
                        step.node
                    ),
                );
            }
        }
        self.st()
            .preflight
            .get_mut(&step.node)
            .expect("read before")
            .trials = trials.into_iter().collect();
        Ok(())
    }

    /// The password tried on these owners' repositories on the node, a few at once.
    async fn probe(&self, step: &Step, owners: &[&String]) -> Result<Tried, Outcome> {
        let runs = self.trial_runs(step, owners).await;
        let mut trials = Tried::new();
        for (owner, fin) in owners.iter().zip(runs) {
            trials.insert((*owner).clone(), self.verdict(step, owner, &fin)?);
        }
        Ok(trials)
    }

    /// restic opening these owners' repositories on the node with the password, a few
    /// at once: each open costs restic a key derivation (about half a second by
    /// design), and sshd allows 10 sessions per connection.
    async fn trial_runs(&self, step: &Step, owners: &[&String]) -> Vec<process::Finished> {
        let conn = self.conn(&step.node).expect("read nodes are connected");
        let mut done = vec![];
        for some in owners.chunks(PROBES_AT_ONCE) {
            let probes = some.iter().map(|owner| {
                let job = Job::new(restic::unlock_probe_args(&conn.repo(owner)))
                    .stdin(Input::Password(self.password))
                    .timeout(Duration::from_secs(120));
                process::capture(conn.at(), job, &self.cancel)
            });
            done.extend(
                super::run::all(probes.collect())
                    .await
                    .into_iter()
                    .map(|(fin, _)| fin),
            );
        }
        done
    }

    /// What restic's open of `owner`'s repository on the node says of the password.
    fn verdict(
        &self,
        step: &Step,
        owner: &str,
        fin: &process::Finished,
    ) -> Result<preflight::Trial, Outcome> {
        if fin.cancelled {
            return Err(Outcome::Interrupted);
        }
        Ok(if fin.success() {
            preflight::Trial::Accepted
        } else if fin.stderr_tail.iter().any(|l| restic::is_wrong_password(l)) {
            preflight::Trial::Refused
        } else {
            self.info(
                step,
                format!(
                    "{owner}'s repository on {} could not be read: {}",
                    step.node,
                    fin.describe()
                ),
            );
            preflight::Trial::Unreadable(fin.describe())
        })
    }

    /// With every node checked: whether this one may be written. A password that no
    /// repository accepted and at least one refused stops every node; a node without
    /// room for what this run would write there is left out.
    fn judge(&self, step: &Step) -> Option<Outcome> {
        let mut st = self.st();
        let trials = || st.preflight.values().flat_map(|c| c.trials.iter());
        let accepted = trials().any(|(_, t)| *t == preflight::Trial::Accepted);
        let refused = trials().any(|(_, t)| *t == preflight::Trial::Refused);
        if accepted {
            st.password_verified = true;
        }
        if refused && !accepted {
            // Said once, by the first node in the plan that holds a repository which
            // refused it; every other node skips, saying why.
            st.fatal = Some(Halt::PasswordRefused);
            let refusals: Vec<(String, String)> = self
                .plan
                .steps
                .iter()
                .filter(|s| s.kind == StepKind::Prepare)
                .filter_map(|s| Some((s.node.clone(), st.preflight.get(&s.node)?)))
                .flat_map(|(node, c)| {
                    c.trials
                        .iter()
                        .filter(|(_, t)| *t == preflight::Trial::Refused)
                        .map(move |(owner, _)| (owner.clone(), node.clone()))
                })
                .collect();
            return Some(match refusals.first() {
                Some((owner, node)) if *node == step.node => {
                    let more = match refusals.len() - 1 {
                        0 => String::new(),
                        1 => " and 1 more repository".into(),
                        n => format!(" and {n} more repositories"),
                    };
                    Outcome::failed_as(
                        Cause::WrongPassword,
                        format!(
                            "wrong password: restic refused it for {owner}'s repository on {node}{more}; nothing was written on any node"
                        ),
                    )
                }
                _ => Outcome::Skipped {
                    reason: Halt::PasswordRefused.to_string(),
                },
            });
        }
        if let Some(c) = st.preflight.get(&step.node) {
            for (owner, t) in &c.trials {
                if *t == preflight::Trial::Refused {
                    self.info(step, format!(
                        "the copy of {owner}'s repository on {} does not open with the password other repositories accepted: it is not the same repository, and replication will not overwrite it",
                        step.node
                    ));
                }
            }
        }
        let conn = st.conns.get(&step.node)?.clone();
        let needs = preflight::needs(self.plan, &senders(&st, &step.node), &step.node);
        let free = st.preflight.get(&step.node)?.facts.free_kb;
        drop(st);
        let why = preflight::lacks_room(&step.node, &conn.base(), free, &needs)?;
        let (free_kb, need_kb) = (free.unwrap_or(0), needs.iter().map(|n| n.kb).sum());
        self.found(step, Fact::Room { free_kb, need_kb });
        Some(Outcome::failed_as(Cause::DiskFull, why))
    }

    /// `prepare.sh make`: the layout, and the purge of old quarantine folders.
    async fn make_layout(&self, step: &Step) -> Option<Outcome> {
        let lines = match self.prepare_script(step, "make").await {
            Ok(l) => l,
            Err(o) => return Some(o),
        };
        let facts = prepare::parse(&lines, 0);
        let base = self.conn(&step.node)?.base();
        let problems = facts.problems(&step.node, &base);
        if problems.is_empty() {
            return None;
        }
        self.st()
            .unusable
            .insert(step.node.clone(), Unusable::Failed);
        Some(Outcome::failed_as(facts.cause(), problems.join("; ")))
    }

    pub(crate) async fn init(&self, step: &Step) -> Outcome {
        if self.st().repo_exists.contains(&step.node) {
            return Outcome::Skipped {
                reason: "the repository exists".into(),
            };
        }
        // Copies on other nodes are brought back rather than starting over.
        if let Some(o) = self.bring_back(step).await {
            return o;
        }
        // A typo must never initialise a repository with a different password: try it
        // on one that exists first.
        let probe = {
            let st = self.st();
            if st.password_verified {
                None
            } else {
                self.plan
                    .nodes
                    .iter()
                    .filter(|n| st.repo_exists.contains(*n))
                    .find_map(|n| Some((n.clone(), st.conns.get(n)?.clone())))
            }
        };
        if let Some((other, conn)) = probe {
            let argv = restic::unlock_probe_args(&conn.repo(&other));
            self.info(
                step,
                format!("trying the password on {other}'s repository before creating a new one"),
            );
            let (fin, _) = process::capture(
                conn.at(),
                Job::new(argv)
                    .stdin(Input::Password(self.password))
                    .timeout(Duration::from_secs(600)),
                &self.cancel,
            )
            .await;
            if !fin.success() {
                return self.restic_failure(step, &fin, "cannot verify the password");
            }
            self.st().password_verified = true;
        }
        let o = self.restic_step(step).await;
        if o == Outcome::Passed {
            self.st().repo_exists.insert(step.node.clone());
        }
        o
    }

    /// The node's backup; a source path that does not exist fails it, naming the path
    /// (restic 0.14 only warns and saves a snapshot without it).
    pub(crate) async fn backup(&self, step: &Step) -> Outcome {
        let o = self.restic_step(step).await;
        let missing = self.st().missing_paths.get(&step.node).cloned();
        match (missing, &o) {
            (Some(paths), Outcome::Passed | Outcome::Failed { .. }) => {
                let quoted: Vec<String> = paths.iter().map(|p| shell::quote(p)).collect();
                // restic exits 3 when it saved a snapshot without some files.
                let saved = if o.is_ok()
                    || matches!(
                        o,
                        Outcome::Failed {
                            exit_code: Some(3),
                            ..
                        }
                    ) {
                    "the other paths were backed up"
                } else {
                    "nothing was backed up"
                };
                Outcome::Failed {
                    cause: Cause::MissingSource,
                    exit_code: match &o {
                        Outcome::Failed { exit_code, .. } => *exit_code,
                        _ => None,
                    },
                    message: format!(
                        "{} of {}'s source paths {} not exist: {} ({saved}); create {}, or fix `paths` in [nodes.{}]",
                        paths.len(),
                        step.node,
                        if paths.len() == 1 { "does" } else { "do" },
                        shell::inert(&quoted.join(", ")),
                        if paths.len() == 1 { "it" } else { "them" },
                        step.node
                    ),
                    stderr_tail: match o {
                        Outcome::Failed { stderr_tail, .. } => stderr_tail,
                        _ => vec![],
                    },
                }
            }
            _ => o,
        }
    }

    pub(crate) fn restic_failure(
        &self,
        step: &Step,
        fin: &process::Finished,
        what: &str,
    ) -> Outcome {
        if fin.stderr_tail.iter().any(|l| restic::is_wrong_password(l)) {
            let msg = format!(
                "wrong password: restic refused it for {}'s repository; nothing was changed",
                step.node
            );
            self.st().fatal = Some(Halt::PasswordRefused);
            return Outcome::Failed {
                cause: Cause::WrongPassword,
                exit_code: fin.code,
                message: msg,
                stderr_tail: fin.stderr_tail.clone(),
            };
        }
        if let Some(line) = fin
            .stderr_tail
            .iter()
            .find(|l| l.to_lowercase().contains("read-only file system"))
        {
            return Outcome::Failed {
                cause: Cause::ReadOnlyDisk,
                exit_code: fin.code,
                message: format!(
                    "{}'s disk is read-only: {what} cannot write ({}); remount it read-write and run again (a disk that turned read-only by itself may be failing: check it first)",
                    step.node,
                    line.trim()
                ),
                stderr_tail: fin.stderr_tail.clone(),
            };
        }
        let cause = fin.cause();
        // restic's last words on a lock advise `unlock`, which is wrong while the lock's
        // process runs: the problems summary says who holds it and what to do.
        let said = match cause {
            Cause::Locked => "its repository is locked by another restic".to_string(),
            _ => fin.describe(),
        };
        Outcome::Failed {
            cause,
            exit_code: fin.code,
            message: format!("{what} on {}: {said}", step.node),
            stderr_tail: fin.stderr_tail.clone(),
        }
    }

    /// init, backup, check, forget: one restic command on the node's own repository.
    /// The connection a restic step runs on, or why it cannot run.
    fn restic_ready(&self, step: &Step) -> Result<Rc<Conn>, Outcome> {
        let Some(conn) = self.conn(&step.node) else {
            return Err(Outcome::Skipped {
                reason: "not prepared".into(),
            });
        };
        if step.kind == StepKind::Backup && !self.st().repo_exists.contains(&step.node) {
            return Err(Outcome::Skipped {
                reason: "no repository (init did not run)".into(),
            });
        }
        Ok(conn)
    }

    pub(crate) async fn restic_step(&self, step: &Step) -> Outcome {
        let conn = match self.restic_ready(step) {
            Ok(c) => c,
            Err(o) => return o,
        };
        let Action::Restic(words) = &step.action else {
            unreachable!("a restic step runs restic")
        };
        let argv = action::expand(words, &conn.home);
        // `restic -r REPO …`: the repository, should another restic's lock stop this one.
        let argv_repo = argv.get(2).cloned().unwrap_or_default();
        let sink = self.sink;
        let id = step.id;
        let name = step.node.clone();
        let mut unreadable: Vec<String> = vec![];
        // The last status line's totals (bytes, files), for the end of the bar.
        let mut last_status: Option<(u64, u64)> = None;
        let fin = process::run(
            conn.at(),
            Job::new(argv).stdin(Input::Password(self.password)),
            &self.cancel,
            |stream, text| {
                if stream == Stream::Stdout && restic::is_password_notice(&text) {
                    return;
                }
                if step.kind == StepKind::Forget && stream == Stream::Stdout {
                    if let Some(ids) = restic::parse_forget_line(&text) {
                        self.st()
                            .forget_removed
                            .entry(name.clone())
                            .or_default()
                            .extend(ids);
                        return;
                    }
                }
                if step.kind == StepKind::Backup {
                    keep_unreadable(&mut unreadable, &text);
                }
                if step.kind == StepKind::Backup && stream == Stream::Stdout {
                    match restic::parse_backup_line(&text) {
                        restic::BackupLine::Status {
                            done,
                            total,
                            files,
                            reading,
                        } => {
                            last_status = Some((total, files.1));
                            let activity = if reading {
                                Activity::Uploading
                            } else {
                                Activity::Scanning
                            };
                            sink.emit(backup_progress(id, &name, activity, (done, total), files));
                            return;
                        }
                        restic::BackupLine::Summary(s) => {
                            // restic's last status may stop short of the whole; the
                            // snapshot saved, the step is done.
                            if let Some((total, files)) = last_status.take() {
                                let all = (total, total);
                                sink.emit(backup_progress(
                                    id,
                                    &name,
                                    Activity::Uploading,
                                    all,
                                    (files, files),
                                ));
                            }
                            sink.emit(Event::Line {
                                step: id,
                                node: name.clone(),
                                stream: Stream::Info,
                                text: s,
                            });
                            return;
                        }
                        restic::BackupLine::Other => {}
                    }
                }
                sink.emit(Event::Line {
                    step: id,
                    node: name.clone(),
                    stream,
                    text,
                });
            },
        )
        .await;
        if fin.success() {
            self.st().password_verified = true;
            return Outcome::Passed;
        }
        if fin.cancelled {
            return Outcome::Interrupted;
        }
        // restic exits 3 when a backup could not read some files but saved a snapshot.
        if step.kind == StepKind::Backup && fin.code == Some(3) {
            self.found(step, Fact::Unreadable { paths: unreadable });
            return Outcome::Failed {
                cause: Cause::UnreadableFiles,
                exit_code: fin.code,
                message: format!(
                    "backup of {} saved a snapshot, but some source files could not be read",
                    step.node
                ),
                stderr_tail: fin.stderr_tail.clone(),
            };
        }
        if fin.cause() == Cause::Locked {
            self.lock_found(step, &conn, &argv_repo, &fin.stderr_tail)
                .await;
        }
        let what = format!("restic {}", step.kind);
        self.restic_failure(step, &fin, &what)
    }

    /// `forget --prune`, recording which snapshots it removed so that replication can
    /// tell them from snapshots the source lost some other way. Only snapshots restic
    /// itself reported removing, and that a complete listing taken afterwards no longer
    /// shows, are recorded: a live snapshot in that record would never be guarded again.
    pub(crate) async fn forget(&self, step: &Step) -> Outcome {
        self.st().forget_removed.remove(&step.node);
        let o = self.restic_step(step).await;
        if o != Outcome::Passed {
            return o;
        }
        self.st().listings.remove(&step.node);
        if let Err(e) = self.listing(&step.node).await {
            return Outcome::failed(e);
        }
        let mut st = self.st();
        let own = st.listings[&step.node]
            .repos
            .get(&step.node)
            .cloned()
            .unwrap_or_default();
        st.listed_after_forget.insert(step.node.clone());
        let before = st.snapshots_before.remove(&step.node).unwrap_or_default();
        let reported = st.forget_removed.remove(&step.node);
        drop(st);
        if let Err(why) = own.as_source() {
            return Outcome::failed(format!(
                "after forget, {}'s repository cannot be listed as a whole: {why}; nothing was recorded and its copies will not be touched",
                step.node
            ));
        }
        let after: HashSet<&str> = own.snapshots().into_iter().collect();
        let mut removed: Vec<String> = match reported {
            Some(ids) => ids,
            None => {
                self.info(
                    step,
                    "restic did not report which snapshots it removed; using the listings before and after",
                );
                before.into_iter().collect()
            }
        };
        removed.retain(|id| {
            !after.contains(id.as_str())
                && replication::phase_of(&format!("snapshots/{id}")) == Some("snapshots")
        });
        removed.sort();
        removed.dedup();
        if !removed.is_empty() {
            if let Err(e) = ledger::record(self.config, &step.node, &removed) {
                return Outcome::failed(format!("cannot record the forgotten snapshots: {e}"));
            }
            self.info(
                step,
                format!(
                    "forgot {} snapshot(s): {}",
                    removed.len(),
                    removed
                        .iter()
                        .map(|s| &s[..8])
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            );
        }
        Outcome::Passed
    }
}

/// A backup's progress as restic's status says it: bytes and files done of the totals.
/// Password trials by the owner of the repository tried.
type Tried = std::collections::BTreeMap<String, preflight::Trial>;

/// Tells the nodes that wait for them the trials made here on repositories with a
/// digest (copies elsewhere that open alike take them).
fn tell(gates: Option<&preflight::Gates>, facts: &prepare::Facts, trials: &Tried) {
    let Some(g) = gates else { return };
    for (owner, trial) in trials {
        if let Some(digest) = facts.keys.get(owner) {
            g.trials.tell(owner, digest, trial);
        }
    }
}

fn backup_progress(
    step: usize,
    node: &str,
    activity: Activity,
    (done, total): (u64, u64),
    files: (u64, u64),
) -> Event {
    Event::Progress {
        step,
        node: node.to_string(),
        activity,
        done,
        total,
        files: Some(files),
        rate: None,
        eta_secs: None,
    }
}

/// Keeps the path a `restic backup --json` error line names (a file it could not read),
/// up to `found::UNREADABLE_KEPT` of them.
fn keep_unreadable(unreadable: &mut Vec<String>, line: &str) {
    if unreadable.len() < found::UNREADABLE_KEPT {
        if let Some(path) = crate::problems::unreadable_item(line) {
            if !unreadable.contains(&path) {
                unreadable.push(path);
            }
        }
    }
}
