//! The engine executes a `Plan` and reports what happens as `Event`s.
//!
//! Steps run in plan order, one at a time unless the plan asks for more (`--jobs N`): then
//! consecutive steps of one kind (prepare, init, backup, check, forget: one per node) run up
//! to N at a time, each on its own node; replication steps always run one at a time, since
//! they relay through the orchestrator's copy. Until restic has accepted the password once,
//! steps run alone, so a typo is reported once. A failed step never stops another node's
//! independent steps: a node that cannot be reached skips its own steps; a repository
//! whose check failed is neither pruned nor replicated. A refused password ends the run
//! at once, before anything is written. Cancellation interrupts the running process on
//! its node (restic removes its lock) and marks the rest of the plan interrupted.

pub mod events;
pub mod ledger;
pub mod node;
pub mod prepare;
pub mod process;
pub mod records;
pub mod recover;
pub mod replicate;
pub mod restic;
pub mod runlock;
pub mod runview;
pub mod verify;

use crate::config::Config;
use crate::logbook::Logbook;
use crate::plan::action::{self, Action};
use crate::plan::{Plan, Step, StepKind};
use crate::shell;
use events::{Event, Fanout, Outcome, RunStatus, Sink, Stream};
use node::Conn;
use process::{Input, Job};
use replicate::{HopError, HopOutput, Inventory};
use secrecy::SecretString;
use std::cell::{RefCell, RefMut};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// True when the orchestrator holds no repository yet (its own or a copy): a run may then
/// create the first repositories with the password typed, and nothing can check that
/// password, so the window and the terminal ask for it twice. After any run that
/// replicated, the orchestrator holds every repository.
pub fn holds_no_repository(config: &Config) -> bool {
    let base = config.local_base_dir();
    !config
        .nodes
        .iter()
        .any(|owner| base.join(&owner.name).join("restic/config").exists())
}

/// How a run ended, step by step.
#[derive(Debug, Clone)]
pub struct Report {
    pub status: RunStatus,
    pub outcomes: Vec<Outcome>,
}

/// Executes `plan`. Events go to `sink` and to the run's log under the orchestrator's
/// `<base_dir>/logs`.
pub async fn execute(
    config: &Config,
    plan: &Plan,
    password: &SecretString,
    cancel: CancellationToken,
    sink: Box<dyn Sink>,
) -> Report {
    // Before anything else: a second run at once is refused by its first step, and so is
    // a run that could not be recorded (no lock, no log, no ledger of what forget removed:
    // a forget whose record is lost would stop replication until --accept-shrink).
    let lock = runlock::acquire(&runlock::lock_dir(config));
    let logbook = Logbook::open(config, plan);
    let unrecordable = match (&lock, &logbook, ledger::writable(config)) {
        (Err(e), _, _) => Some(format!(
            "cannot take the run lock in {}: {e}",
            runlock::lock_dir(config).display()
        )),
        (_, Err(e), _) => Some(format!(
            "cannot write the run log in {}: {e}",
            crate::logbook::logs_dir(config).display()
        )),
        (_, _, Err(e)) => Some(format!(
            "cannot write {}: {e}",
            ledger::dir(config).display()
        )),
        _ => None,
    };
    let log_path = logbook.as_ref().ok().map(|l| l.log_path().to_path_buf());
    let summary_path = logbook
        .as_ref()
        .ok()
        .map(|l| l.summary_path().to_path_buf());
    let mut sinks: Vec<Box<dyn Sink>> = vec![];
    if let Ok(l) = logbook {
        sinks.push(Box::new(l));
    }
    sinks.push(sink);
    let sink = Fanout(sinks);

    let run = Run {
        config,
        plan,
        password,
        cancel,
        sink: &sink,
        state: RefCell::default(),
    };
    sink.emit(Event::RunStarted {
        run_id: chrono::Local::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
        log_path,
        steps: plan.steps.len(),
    });
    let _lock = match lock {
        Ok(runlock::Acquired::Held(l)) => Some(l),
        Ok(runlock::Acquired::Busy(who)) => {
            run.st().refused = Some((
                format!("{who} is still in progress on this machine; wait for it to finish (or stop it), then run again"),
                "not run: another run is in progress".into(),
            ));
            None
        }
        Err(_) => None,
    };
    if let Some(why) = unrecordable {
        run.st().refused = Some((
            format!(
                "{why}; nothing was run, since a run that cannot be recorded could lose track of what it removed: make {} writable (a disk mounted read-only, full, or not yours?) and run again",
                config.local_base_dir().display()
            ),
            "not run: the run cannot be recorded on this machine".into(),
        ));
    }

    let mut outcomes = Vec::new();
    for wave in waves(&plan.steps) {
        outcomes.extend(run.wave(wave).await);
    }
    let status = if run.cancel.is_cancelled() {
        RunStatus::Interrupted
    } else if outcomes.iter().all(Outcome::is_ok) {
        RunStatus::Passed
    } else {
        RunStatus::Failed
    };
    let state = run.state.into_inner();
    for (_, c) in state.conns {
        if let Ok(c) = Rc::try_unwrap(c) {
            c.close().await;
        }
    }
    if let Some(d) = &state.control_dir {
        let _ = std::fs::remove_dir_all(d);
    }
    sink.emit(Event::RunFinished {
        status,
        summary_path,
    });
    Report { status, outcomes }
}

/// Consecutive steps that may run side by side: one kind, each on its own node.
/// Replication steps come one per wave.
fn waves(steps: &[Step]) -> Vec<&[Step]> {
    let mut out = vec![];
    let mut rest = steps;
    while let Some(first) = rest.first() {
        let len = if first.kind == StepKind::Replicate {
            1
        } else {
            rest.iter().take_while(|s| s.kind == first.kind).count()
        };
        let (wave, tail) = rest.split_at(len);
        out.push(wave);
        rest = tail;
    }
    out
}

struct Run<'a> {
    config: &'a Config,
    plan: &'a Plan,
    password: &'a SecretString,
    cancel: CancellationToken,
    sink: &'a dyn Sink,
    /// What the steps learn and share. Steps of one wave run concurrently on this one
    /// thread; each borrows the state briefly, never across an `.await`.
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    conns: HashMap<String, Rc<Conn>>,
    unreachable: HashMap<String, String>,
    /// Nodes whose own repository exists (found, or made by this run's init).
    repo_exists: HashSet<String>,
    /// Nodes whose own repository passed this run's check.
    checked: HashSet<String>,
    /// restic accepted the password in this run.
    password_verified: bool,
    /// Snapshots wbackup's own forget removed, per repository (this run and earlier
    /// ones): their absence at the source is expected, any other loss is not.
    forgotten: HashMap<String, HashSet<String>>,
    /// Each node's own snapshots as `prepare` found them (before this run's forget).
    snapshots_before: HashMap<String, HashSet<String>>,
    /// The snapshots each node's `forget` said it removed (restic's `--json` report).
    forget_removed: HashMap<String, Vec<String>>,
    /// The latest listing of what each node holds of every repository in the plan,
    /// kept up to date as replication changes it: one listing per node serves every
    /// replication step.
    listings: HashMap<String, Inventory>,
    /// Nodes listed right after their own forget: that listing serves as the source's
    /// for its replication step.
    listed_after_forget: HashSet<String>,
    /// Set when the run cannot go on (the password was refused).
    fatal: Option<String>,
    /// The run must not go on (another run holds the run lock, or nothing could be
    /// recorded): the first step fails with the first text, the rest are skipped with
    /// the second.
    refused: Option<(String, String)>,
    control_dir: Option<std::path::PathBuf>,
    /// Nodes without rsync: they run their own steps, but no copy goes to or from them
    /// (they are also in `unreachable`, which replication reads).
    no_rsync: HashSet<String>,
    /// Source paths `prepare` did not find, per node (expanded): the node's backup step
    /// fails naming them.
    missing_paths: HashMap<String, Vec<String>>,
}

impl Run<'_> {
    fn st(&self) -> RefMut<'_, State> {
        self.state.borrow_mut()
    }

    fn conn(&self, node: &str) -> Option<Rc<Conn>> {
        self.st().conns.get(node).cloned()
    }

    /// Runs one wave's steps, at most `plan.jobs` at a time (one at a time until the
    /// password has been accepted), and returns their outcomes in plan order.
    async fn wave(&self, wave: &[Step]) -> Vec<Outcome> {
        let mut outcomes: Vec<Option<Outcome>> = vec![None; wave.len()];
        type Running<'f> = Pin<Box<dyn Future<Output = Outcome> + 'f>>;
        let mut running: Vec<(usize, Running<'_>)> = vec![];
        let mut next = 0;
        loop {
            // Preparing uses no password; other steps wait until restic accepted it.
            let slots = if wave[0].kind == StepKind::Prepare || self.st().password_verified {
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
    async fn start(&self, step: &Step) -> Outcome {
        let fatal = self.st().fatal.clone();
        let outcome = if self.cancel.is_cancelled() {
            Outcome::Interrupted
        } else if let Some(reason) = fatal {
            Outcome::Skipped { reason }
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
        self.sink.emit(Event::StepFinished {
            step: step.id,
            node: step.node.clone(),
            kind: step.kind,
            title: step.title(),
            outcome: outcome.clone(),
        });
        outcome
    }

    fn control_dir(&self) -> std::io::Result<std::path::PathBuf> {
        let mut st = self.st();
        if st.control_dir.is_none() {
            st.control_dir = Some(node::control_dir()?);
        }
        Ok(st.control_dir.clone().expect("just set"))
    }

    fn info(&self, step: &Step, text: impl Into<String>) {
        self.sink.emit(Event::Line {
            step: step.id,
            node: step.node.clone(),
            stream: Stream::Info,
            text: text.into(),
        });
    }

    async fn step(&self, step: &Step) -> Outcome {
        let refused = self.st().refused.take();
        if let Some((why, rest)) = refused {
            self.st().fatal = Some(rest);
            return Outcome::failed(why);
        }
        if step.kind != StepKind::Prepare && step.kind != StepKind::Replicate {
            let unreachable = {
                let st = self.st();
                st.unreachable
                    .get(&step.node)
                    .filter(|_| !st.no_rsync.contains(&step.node))
                    .cloned()
            };
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
            StepKind::Records => self.records(step).await,
        }
    }

    async fn prepare(&self, step: &Step) -> Outcome {
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
        let conn = if node.is_orchestrator {
            Conn::local(&node)
        } else {
            let dir = match self.control_dir() {
                Ok(d) => d,
                Err(e) => {
                    return Outcome::failed(format!(
                        "cannot create a directory for ssh control sockets: {e}"
                    ))
                }
            };
            self.info(
                step,
                format!(
                    "connecting to {} ({})",
                    node.name,
                    node.addresses.join(", ")
                ),
            );
            match node::connect(self.config, &node, &dir).await {
                Ok(c) => c,
                Err(u) => {
                    let msg = u.reason(&node.name);
                    self.st()
                        .unreachable
                        .insert(node.name.clone(), u.to_string());
                    self.sink.emit(Event::NodeUnreachable {
                        node: node.name.clone(),
                        tried: node.addresses.clone(),
                    });
                    return Outcome::Failed {
                        exit_code: None,
                        message: msg,
                        stderr_tail: u.tried.iter().map(|(a, w)| format!("{a}: {w}")).collect(),
                    };
                }
            }
        };
        self.sink.emit(Event::NodeReached {
            node: node.name.clone(),
            address: conn.address().to_string(),
            route: conn.route,
        });
        let base = conn.base();
        // Tools, repository, source paths, layout, and the purge of quarantine folders
        // older than quarantine_days: one command.
        let args = action::expand(args, &conn.home);
        let paths: Vec<String> = args[3..3 + npaths].to_vec();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let lines = match conn.script(prepare::SCRIPT, &args, &self.cancel).await {
            Ok(l) => l,
            Err(e) => {
                let mut st = self.st();
                st.conns.insert(node.name.clone(), Rc::new(conn));
                st.unreachable
                    .insert(node.name.clone(), "not usable".into());
                return Outcome::failed(format!("cannot prepare {}: {e}", node.name));
            }
        };
        let facts = prepare::parse(&lines, paths.len());
        if let Some(kb) = facts.free_kb {
            self.info(
                step,
                format!(
                    "{}: reached via {} ({:?}); {} MB free under {base}",
                    node.name,
                    conn.address(),
                    conn.route,
                    kb / 1024
                ),
            );
        }
        let mut st = self.st();
        if facts.repo_exists {
            st.repo_exists.insert(node.name.clone());
            st.snapshots_before
                .entry(node.name.clone())
                .or_default()
                .extend(facts.snapshots.iter().cloned());
        }
        // Problems that make the node unusable; a missing rsync only stops its copies.
        let no_rsync = facts.missing_tools.iter().any(|t| t == "rsync");
        let mut problems: Vec<String> = facts
            .missing_tools
            .iter()
            .filter(|t| *t != "rsync")
            .map(|t| {
                format!(
                    "`{t}` is not installed on {} (install it: apt install {t})",
                    node.name
                )
            })
            .collect();
        match facts.layout {
            prepare::Layout::Ready => {}
            prepare::Layout::ReadOnly => problems.push(format!(
                "{}'s disk is read-only: nothing can be written under {base}; remount it read-write and run again (a disk that turned read-only by itself may be failing: check it first)",
                node.name
            )),
            prepare::Layout::Unwritable => problems.push(format!(
                "{base} on {} is not writable by the backup user; make it theirs (chown) and run again",
                node.name
            )),
            prepare::Layout::NotCreated => problems.push(format!(
                "cannot create the layout under {base} on {}",
                node.name
            )),
        }
        let missing_paths: Vec<String> = facts
            .missing_paths
            .iter()
            .map(|&i| paths[i].clone())
            .collect();
        st.conns.insert(node.name.clone(), Rc::new(conn));
        if !missing_paths.is_empty() {
            st.missing_paths.insert(node.name.clone(), missing_paths);
        }
        if !problems.is_empty() {
            if no_rsync {
                problems.push(format!(
                    "`rsync` is not installed on {} (install it: apt install rsync)",
                    node.name
                ));
            }
            st.unreachable
                .insert(node.name.clone(), "not usable".into());
            return Outcome::failed(problems.join("; "));
        }
        if no_rsync {
            // Backups need only restic: the node keeps its own steps; copies to and from
            // it wait until rsync is there.
            st.no_rsync.insert(node.name.clone());
            st.unreachable.insert(
                node.name.clone(),
                "missing rsync (install it: apt install rsync)".into(),
            );
            return Outcome::failed(format!(
                "`rsync` is not installed on {0} (install it: apt install rsync); {0} still backs up, but no copy goes to or from it",
                node.name
            ));
        }
        Outcome::Passed
    }

    async fn init(&self, step: &Step) -> Outcome {
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
    async fn backup(&self, step: &Step) -> Outcome {
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

    fn restic_failure(&self, step: &Step, fin: &process::Finished, what: &str) -> Outcome {
        if fin.stderr_tail.iter().any(|l| restic::is_wrong_password(l)) {
            let msg = format!(
                "wrong password: restic refused it for {}'s repository; nothing was changed",
                step.node
            );
            self.st().fatal = Some("not run: the password was refused".into());
            return Outcome::Failed {
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
                exit_code: fin.code,
                message: format!(
                    "{}'s disk is read-only: {what} cannot write ({}); remount it read-write and run again (a disk that turned read-only by itself may be failing: check it first)",
                    step.node,
                    line.trim()
                ),
                stderr_tail: fin.stderr_tail.clone(),
            };
        }
        Outcome::Failed {
            exit_code: fin.code,
            message: format!("{what} on {}: {}", step.node, fin.describe()),
            stderr_tail: fin.stderr_tail.clone(),
        }
    }

    /// init, backup, check, forget: one restic command on the node's own repository.
    async fn restic_step(&self, step: &Step) -> Outcome {
        let Some(conn) = self.conn(&step.node) else {
            return Outcome::Skipped {
                reason: "not prepared".into(),
            };
        };
        if step.kind == StepKind::Backup && !self.st().repo_exists.contains(&step.node) {
            return Outcome::Skipped {
                reason: "no repository (init did not run)".into(),
            };
        }
        let Action::Restic(words) = &step.action else {
            unreachable!("a restic step runs restic")
        };
        let argv = action::expand(words, &conn.home);
        let sink = self.sink;
        let id = step.id;
        let name = step.node.clone();
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
                if step.kind == StepKind::Backup && stream == Stream::Stdout {
                    match restic::parse_backup_line(&text) {
                        restic::BackupLine::Status { done, total } => {
                            sink.emit(Event::Progress {
                                step: id,
                                done,
                                total,
                            });
                            return;
                        }
                        restic::BackupLine::Summary(s) => {
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
            return Outcome::Failed {
                exit_code: fin.code,
                message: format!(
                    "backup of {} saved a snapshot, but some source files could not be read",
                    step.node
                ),
                stderr_tail: fin.stderr_tail.clone(),
            };
        }
        let what = format!("restic {}", step.kind);
        self.restic_failure(step, &fin, &what)
    }

    /// A repository's id as restic reports it (only read when a copy turns out to hold
    /// another repository, to name both in the error).
    async fn repo_id(&self, holder: &str, owner: &str) -> String {
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
    async fn listing(&self, node: &str) -> Result<(), String> {
        if !self.st().listings.contains_key(node) {
            let conn = self
                .conn(node)
                .ok_or_else(|| format!("{node} is not reachable"))?;
            let repos: Vec<String> = self
                .plan
                .steps
                .iter()
                .filter(|s| s.kind == StepKind::Init)
                .map(|s| s.node.clone())
                .collect();
            let inv = replicate::inventory(&conn, &repos, &self.cancel).await?;
            self.st().listings.insert(node.to_string(), inv);
        }
        Ok(())
    }

    /// `forget --prune`, recording which snapshots it removed so that replication can
    /// tell them from snapshots the source lost some other way. Only snapshots restic
    /// itself reported removing, and that a complete listing taken afterwards no longer
    /// shows, are recorded: a live snapshot in that record would never be guarded again.
    async fn forget(&self, step: &Step) -> Outcome {
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
                && replicate::phase_of(&format!("snapshots/{id}")) == Some("snapshots")
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

    async fn replicate(&self, step: &Step) -> Outcome {
        let owner = step.node.clone();
        if !self.st().checked.contains(&owner) {
            return Outcome::Skipped {
                reason: format!("{owner}'s repository did not pass its check in this run; replicas keep their last good state"),
            };
        }
        let Some(owner_conn) = self.conn(&owner) else {
            return Outcome::Skipped {
                reason: format!("{owner} is not reachable"),
            };
        };
        if self.st().no_rsync.contains(&owner) {
            return Outcome::Skipped {
                reason: format!("{owner} has no rsync (see its prepare step): its copies keep their last state until it is installed"),
            };
        }
        // The source's listing: the one its forget step just took, or a new one. (Its
        // locks say whether another restic is busy there. A lock taken after the listing
        // is harmless: only listed files are copied, in order, and a prune that removes
        // one of them stops the copy.)
        {
            let mut st = self.st();
            if !st.listed_after_forget.remove(&owner) {
                st.listings.remove(&owner);
            }
        }
        if let Err(e) = self.listing(&owner).await {
            return Outcome::failed(e);
        }
        let (src_files, now) = {
            let st = self.st();
            let inv = &st.listings[&owner];
            (inv.repos.get(&owner).cloned().unwrap_or_default(), inv.now)
        };
        // Only a listing known complete may say what the copies should lose: a folder
        // that could not be read, or that the listing did not follow, would otherwise
        // look deleted.
        if let Err(why) = src_files.as_source() {
            return Outcome::failed(format!(
                "{owner}'s repository cannot be replicated: {why}; its copies were not touched. Look at {} on {owner}",
                shell::quote(&owner_conn.repo(&owner)),
            ));
        }
        let busy = src_files.fresh_locks(now);
        if !busy.is_empty() {
            return Outcome::Skipped {
                reason: format!("{owner}'s repository is busy (a restic lock younger than 30 minutes: {}); replication skipped this time", busy.join(", ")),
            };
        }

        let mut out = StepOutput {
            sink: self.sink,
            step: step.id,
            node: owner.clone(),
            total: 0,
        };
        let mut failures: Vec<String> = vec![];
        // Copies that wait for the next run (their node failed `prepare`, reported there).
        let mut waiting: Vec<String> = vec![];
        let mut done = 0u64;
        // The targets' listings, taken out of the kept ones while hops change them and put
        // back at the end (a step that ends early leaves them to be listed again).
        let mut inventories: HashMap<String, Inventory> = HashMap::new();
        for t in &step.targets {
            // A node that failed `prepare` is that step's failure, reported there once;
            // here its copy only waits for the next run.
            let unreachable = self.st().unreachable.get(t).cloned();
            if let Some(why) = unreachable {
                out.line(
                    Stream::Info,
                    format!("{t} is {why}: its copy of {owner} waits for the next run"),
                );
                waiting.push(t.clone());
                continue;
            }
            match self.listing(t).await {
                Ok(()) => {
                    let inv = self.st().listings.remove(t).expect("just listed");
                    // A copy whose listing cannot be trusted is not written: what it seems
                    // to lack may be there, what it seems to have may not.
                    if let Some(why) = inv.repos.get(&owner).and_then(|f| f.unsound.clone()) {
                        let path = self.conn(t).map(|c| c.repo(&owner)).unwrap_or_default();
                        failures.push(format!(
                            "{t}'s copy of {owner} was not touched: {why}. Look at {} on {t}",
                            shell::quote(&path)
                        ));
                        self.st().listings.insert(t.clone(), inv);
                        continue;
                    }
                    inventories.insert(t.clone(), inv);
                }
                Err(e) => failures.push(e),
            }
        }
        // Total bytes for the progress bar, over every hop.
        out.total = step
            .targets
            .iter()
            .filter_map(|t| inventories.get(t))
            .map(|i| {
                let dst = i.repos.get(&owner).cloned().unwrap_or_default();
                replicate::missing(&src_files, &dst)
                    .iter()
                    .map(|(_, s)| s)
                    .sum::<u64>()
            })
            .sum();

        // Shrink guard, copy by copy: snapshots a copy holds that the source does not
        // have, and that wbackup's own forget did not remove, are not taken from it without
        // the user's consent. Such a copy still receives what is new; nothing leaves it.
        let forgotten = self
            .st()
            .forgotten
            .entry(owner.clone())
            .or_insert_with(|| ledger::load(self.config, &owner))
            .clone();
        let accepted = self.plan.accept_shrink.contains(&owner);
        let mut unexplained: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (t, inv) in &inventories {
            let Some(dst) = inv.repos.get(&owner) else {
                continue;
            };
            let ids: Vec<String> = replicate::extras(&src_files, dst)
                .iter()
                .filter_map(|p| p.strip_prefix("snapshots/"))
                .filter(|id| !forgotten.contains(*id))
                .map(String::from)
                .collect();
            if !ids.is_empty() {
                unexplained.insert(t.clone(), ids);
            }
        }
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
        let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();

        // The plan's hops, in order: the relay's copy (the orchestrator's) is fed from
        // the owner, every other copy from the relay's once it is up to date. Every hop
        // brings its target to the owner's file set.
        let Action::Replicate(hops) = &step.action else {
            unreachable!("a replicate step has hops")
        };
        // Copies that may feed others: the owner's, and those brought up to date here.
        let mut fed: HashSet<&str> = HashSet::from([owner.as_str()]);
        for h in hops {
            if self.cancel.is_cancelled() {
                return Outcome::Interrupted;
            }
            let (t, from) = (&h.to, &h.from);
            let Some(inv) = inventories.get_mut(t) else {
                continue;
            };
            let dst_files = inv.repos.entry(owner.clone()).or_default();
            if !fed.contains(from.as_str()) {
                failures.push(format!(
                    "{t}'s copy was not updated: the relay's copy on {from} is not up to date"
                ));
                continue;
            }
            // Deletion pass: what the source no longer has goes to quarantine, snapshots
            // first, then index, then data.
            let gone = if guarded.contains(t) {
                vec![]
            } else {
                replicate::extras(&src_files, dst_files)
            };
            let (Some(src), Some(dst)) = (self.conn(from), self.conn(t)) else {
                failures.push(format!("{t}: {from} or {t} is not reachable"));
                continue;
            };
            let hop = replicate::Hop {
                repo: &owner,
                src: &src,
                dst: &dst,
                src_files: &src_files,
                dst_files,
                gone: &gone,
                stamp: &stamp,
            };
            match replicate::hop(hop, &self.cancel, &mut out, done).await {
                Ok(d) => {
                    done = d;
                    fed.insert(t);
                }
                Err(HopError::Cancelled) => return Outcome::Interrupted,
                Err(HopError::Foreign) => {
                    let src_id = self.repo_id(from, &owner).await;
                    let dst_id = self.repo_id(t, &owner).await;
                    failures.push(format!(
                        "{t} holds a different repository under {owner}'s name (repository id {dst_id} there, {src_id} at the source); it was not touched: move {} aside and rerun",
                        shell::quote(&dst.repo(&owner)),
                    ));
                }
                Err(HopError::Failed(e)) => failures.push(e),
            }
        }
        self.st().listings.extend(inventories);
        if !guarded.is_empty() {
            failures.push(shrink_refusal(
                &owner,
                &owner_conn.repo(&owner),
                &unexplained,
                step.targets.len() - waiting.len(),
            ));
        }
        if !failures.is_empty() {
            return Outcome::Failed {
                exit_code: None,
                message: format!("replicating {owner}: {}", failures.join("; ")),
                stderr_tail: vec![],
            };
        }
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
}

/// Why copies keep snapshots their source no longer has. When every copy reached holds
/// them, the source lost them; when only some do, those copies hold something the source
/// never had (or lost long ago): name them, so that the source is not blamed for them.
fn shrink_refusal(
    owner: &str,
    owner_repo: &str,
    unexplained: &BTreeMap<String, Vec<String>>,
    copies_reached: usize,
) -> String {
    let short = |ids: &[String]| {
        ids.iter()
            .map(|s| &s[..8.min(s.len())])
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut all: Vec<String> = unexplained.values().flatten().cloned().collect();
    all.sort();
    all.dedup();
    let consent = format!("if the loss is intended, run `wbackup run --accept-shrink {owner}`");
    let in_every_copy = unexplained.len() == copies_reached
        && all
            .iter()
            .all(|id| unexplained.values().all(|v| v.contains(id)));
    if in_every_copy {
        format!(
            "{owner}'s repository lost {} snapshot(s) that wbackup did not forget ({}); its copies keep them (they still received what is new) and nothing was removed from them. Check the source (`restic -r {} snapshots` on {owner}); {consent}",
            all.len(),
            short(&all),
            shell::quote(owner_repo),
        )
    } else {
        let each: Vec<String> = unexplained
            .iter()
            .map(|(t, ids)| {
                format!(
                    "{t}'s copy holds {} snapshot(s) that {owner}'s repository does not have and wbackup never forgot ({})",
                    ids.len(),
                    short(ids)
                )
            })
            .collect();
        format!(
            "{}; nothing was removed from {} (they still received what is new), the other copies were updated as usual. If those snapshots do not belong to {owner}, move them out of that copy's snapshots/ folder; {consent}",
            each.join("; "),
            if unexplained.len() == 1 { "that copy" } else { "those copies" },
        )
    }
}

struct StepOutput<'a> {
    sink: &'a dyn Sink,
    step: usize,
    node: String,
    total: u64,
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
    fn progress(&mut self, done: u64) {
        self.sink.emit(Event::Progress {
            step: self.step,
            done: done.min(self.total),
            total: self.total,
        });
    }
}
