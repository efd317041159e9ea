//! Synthetic runs: the events a run of a real plan would emit, without ssh or restic.
//!
//! The window's tests and the log benchmark feed these into the backend through the same
//! intake the engine uses. Where the engine has the words, the demo asks the engine for
//! them instead of writing its own: an unreachable node's reason is the engine's
//! [`Unreachable`] (`reason`, `Display`), a failed restic step's description is
//! [`Finished::describe`], the outcomes are the engine's [`Outcome`] values, so a change
//! in the engine's sentences shows here. (The README's screenshots come from real runs
//! on a lab of sshd nodes, not from this.) Nothing here is used by a real run.

use crate::config::Config;
use crate::engine::events::{Activity, CheckItem, Event, Fact, Outcome, Route, RunStatus, Stream};
use crate::engine::node::Unreachable;
use crate::engine::process::Finished;
use crate::plan::{Plan, Step, StepKind};

/// How the synthetic run goes wrong.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// This node's backup fails (restic exits 1: its disk is full).
    pub failing_backup: Option<String>,
    /// This node has too little free space for what the run would write there: its
    /// `prepare` leaves it out before anything is written (cause `disk-full`, with the
    /// free and needed space as facts), and its other steps are skipped.
    pub no_room: Option<String>,
    /// This node answers on none of its addresses; its steps fail.
    pub unreachable: Option<String>,
    /// Stop after the events of this many steps, as if the run were still going; the
    /// next step is left running at half its progress.
    pub stop_after_steps: Option<usize>,
}

/// The events of a run of `plan`, in order.
pub fn run_events(config: &Config, plan: &Plan, script: &Script) -> Vec<Event> {
    let mut run = Demo {
        config,
        script,
        ev: vec![Event::RunStarted {
            run_id: "synthetic".into(),
            log_path: None,
            steps: plan.steps.len(),
        }],
    };
    let mut failed = false;
    for step in &plan.steps {
        run.ev.push(Event::StepStarted {
            step: step.id,
            node: step.node.clone(),
            kind: step.kind,
            title: step.title(),
        });
        if script.stop_after_steps == Some(step.id) {
            run.ev.push(Event::Progress {
                step: step.id,
                node: step.node.clone(),
                activity: Activity::Uploading,
                done: 1_288_490_189,
                total: 3_650_722_201,
                files: Some((1_204, 5_310)),
                rate: Some(9_437_184),
                eta_secs: Some(251),
            });
            return run.ev;
        }
        let outcome = run.step(step);
        failed |= matches!(outcome, Outcome::Failed { .. });
        run.ev.push(Event::StepFinished {
            step: step.id,
            node: step.node.clone(),
            kind: step.kind,
            title: step.title(),
            outcome,
        });
    }
    run.ev.push(Event::RunFinished {
        status: if failed {
            RunStatus::Failed
        } else {
            RunStatus::Passed
        },
        summary_path: None,
    });
    run.ev
}

/// A synthetic run being written: the events so far.
struct Demo<'a> {
    config: &'a Config,
    script: &'a Script,
    ev: Vec<Event>,
}

impl Demo<'_> {
    fn unreachable(&self, node: &str) -> bool {
        self.script.unreachable.as_deref() == Some(node)
    }

    /// Why `node` could not be reached, as the engine keeps it: what ssh says for each
    /// address when nothing listens.
    fn why_unreachable(&self, node: &str) -> Unreachable {
        Unreachable {
            tried: self
                .config
                .node(node)
                .map(|n| n.addresses.clone())
                .unwrap_or_default()
                .into_iter()
                .map(|a| {
                    let why = format!("ssh: connect to host {a} port 22: Connection refused");
                    (a, why)
                })
                .collect(),
            key_changed: None,
        }
    }

    fn line(&mut self, step: &Step, stream: Stream, text: impl Into<String>) {
        self.ev.push(Event::Line {
            step: step.id,
            node: step.node.clone(),
            stream,
            text: text.into(),
        });
    }

    /// The step's lines and progress; its outcome.
    fn step(&mut self, step: &Step) -> Outcome {
        let node = step.node.as_str();
        let blocked =
            step.kind == StepKind::Replicate && step.targets.iter().any(|t| self.unreachable(t));
        match step.kind {
            StepKind::Prepare => self.prepare(step),
            // The engine skips an unreachable node's own steps with the same reason.
            _ if self.unreachable(node) => Outcome::Skipped {
                reason: self.why_unreachable(node).reason(node),
            },
            // ... and those of a node its prepare left out with these words.
            _ if self.no_room(node) => Outcome::Skipped {
                reason: format!("{node} is not usable (see its prepare step)"),
            },
            _ if blocked => Outcome::Skipped {
                reason: "a node it needs is unreachable".into(),
            },
            StepKind::Backup => self.backup(step),
            StepKind::Check => {
                self.line(step, Stream::Stdout, "load indexes");
                self.line(step, Stream::Stdout, "check all packs");
                self.line(step, Stream::Stdout, "no errors were found");
                Outcome::Passed
            }
            StepKind::Forget => {
                self.line(
                    step,
                    Stream::Stdout,
                    "Applying Policy: keep 7 daily, 4 weekly, 12 monthly snapshots",
                );
                self.line(step, Stream::Stdout, "remove 1 snapshots");
                Outcome::Passed
            }
            StepKind::Replicate | StepKind::Upload => {
                for t in &step.targets {
                    self.line(
                        step,
                        Stream::Info,
                        format!("{t}: 37 new files to copy (12.4 MiB)"),
                    );
                    self.ev.push(Event::progress(
                        step.id,
                        &step.node,
                        Activity::Copying {
                            from: step.node.clone(),
                            to: t.to_string(),
                        },
                        1,
                        2,
                    ));
                    self.line(step, Stream::Info, format!("{t}: verified 37 files"));
                }
                Outcome::Passed
            }
            StepKind::Heal => {
                for t in &step.targets {
                    self.line(
                        step,
                        Stream::Info,
                        format!(
                            "{} on {t}: healed — restic check --read-data passed",
                            step.node
                        ),
                    );
                }
                Outcome::Passed
            }
            StepKind::Verify | StepKind::Records => {
                let reached: Vec<String> = step
                    .targets
                    .iter()
                    .filter(|t| !self.unreachable(t))
                    .cloned()
                    .collect();
                for t in reached {
                    let text = if step.kind == StepKind::Verify {
                        format!(
                            "{} on {t}: proven — 20 file(s), 12.4 MB restored",
                            step.node
                        )
                    } else {
                        format!("records kept on {t}: config.toml, forgotten snapshots of 3 repositories")
                    };
                    self.line(step, Stream::Info, text);
                }
                Outcome::Passed
            }
            StepKind::Init => {
                self.line(step, Stream::Info, "repository exists; nothing to do");
                Outcome::Skipped {
                    reason: "repository exists".into(),
                }
            }
        }
    }

    fn prepare(&mut self, step: &Step) -> Outcome {
        let node = step.node.as_str();
        if self.unreachable(node) {
            let u = self.why_unreachable(node);
            let tried: Vec<String> = u.tried.iter().map(|(a, _)| a.clone()).collect();
            self.line(
                step,
                Stream::Info,
                format!("connecting to {node} ({})", tried.join(", ")),
            );
            self.ev.push(Event::NodeUnreachable {
                node: node.to_string(),
                tried,
            });
            // The engine's outcome for it, as its prepare step reports it: the cause
            // ssh's answers make it, each address tried with what it answered.
            // Its checklist holds that one failure.
            self.ev.push(Event::NodeChecked {
                node: node.to_string(),
                items: vec![CheckItem {
                    ok: false,
                    text: u.reason(node),
                }],
            });
            return Outcome::Failed {
                cause: u.cause(),
                exit_code: None,
                message: u.reason(node),
                stderr_tail: u.tried.iter().map(|(a, w)| format!("{a}: {w}")).collect(),
            };
        }
        let (address, route) = match self.config.node(node) {
            Some(n) if n.is_orchestrator => ("local".to_string(), Route::Local),
            Some(n) => {
                let public = n.addresses.len() > 1;
                let a = n.addresses.last().cloned().unwrap_or_default();
                (a, if public { Route::Public } else { Route::Lan })
            }
            None => (String::new(), Route::Local),
        };
        self.ev.push(Event::NodeReached {
            node: node.to_string(),
            address: address.clone(),
            route,
        });
        self.line(step, Stream::Info, format!("reached {node} via {address}"));
        self.line(step, Stream::Stdout, "restic 0.14.0 compiled with go1.19");
        self.line(
            step,
            Stream::Stdout,
            "rsync  version 3.2.7  protocol version 31",
        );
        let reached = match route {
            Route::Local => "this machine".to_string(),
            _ => format!("reached via {address} ({route:?})"),
        };
        if self.no_room(node) {
            return self.lacks_room(step, reached);
        }
        self.checked(node, reached, (48_300_000, 1_210_000));
        Outcome::Passed
    }

    fn no_room(&self, node: &str) -> bool {
        self.script.no_room.as_deref() == Some(node)
    }

    /// The node's checklist in the engine's words: reached, tools, password, room (KiB
    /// free and needed).
    fn checked(&mut self, node: &str, reached: String, (free_kb, need_kb): (u64, u64)) {
        let item = |ok: bool, text: String| CheckItem { ok, text };
        let held = self
            .config
            .nodes
            .iter()
            .filter(|n| !n.paths.is_empty())
            .count();
        let items = vec![
            item(true, reached),
            item(true, "restic and rsync installed".into()),
            item(true, format!("password accepted by {held} repositories")),
            item(
                need_kb <= free_kb,
                format!(
                    "{} free, this run writes up to about {}",
                    crate::engine::human_kb(free_kb),
                    crate::engine::human_kb(need_kb)
                ),
            ),
        ];
        self.ev.push(Event::NodeChecked {
            node: node.to_string(),
            items,
        });
    }

    /// Preflight finds less free space on the node than the run would write there: the
    /// facts (free and needed, in KiB) and the step's failure, as the engine reports
    /// them, so the problem's sentence is the one a real run gives.
    fn lacks_room(&mut self, step: &Step, reached: String) -> Outcome {
        let node = step.node.as_str();
        let (free_kb, need_kb) = (1_210_000, 3_565_000);
        let (free, need) = (
            crate::engine::human_kb(free_kb),
            crate::engine::human_kb(need_kb),
        );
        self.checked(node, reached, (free_kb, need_kb));
        self.ev.push(Event::Found {
            step: step.id,
            node: node.to_string(),
            fact: Fact::Room { free_kb, need_kb },
        });
        let base = base(self.config, node);
        Outcome::failed_as(
            crate::engine::events::Cause::DiskFull,
            format!(
                "not enough space on {node}: {free} free under {base}, and this run would write up to about {need} there ({need} first backup of {node}); nothing was written on {node}: free some space there (or give it a bigger disk) and run again"
            ),
        )
    }

    fn backup(&mut self, step: &Step) -> Outcome {
        let node = step.node.as_str();
        let base = base(self.config, node);
        self.line(
            step,
            Stream::Stdout,
            format!("open repository {base}/{node}/restic"),
        );
        // A quarter at a time of 3.4 GB in 5310 files, at 9 MB/s once measured.
        let (total, files, rate) = (3_650_722_200u64, 5_310u64, 9_437_184u64);
        for i in 1..=4u64 {
            self.ev.push(Event::Progress {
                step: step.id,
                node: step.node.clone(),
                activity: Activity::Uploading,
                done: total * i / 4,
                total,
                files: Some((files * i / 4, files)),
                rate: (i > 1).then_some(rate),
                eta_secs: (i > 1).then(|| total * (4 - i) / 4 / rate),
            });
            self.line(
                step,
                Stream::Stdout,
                format!(
                    "[{}:{:02}] {}%  {} files {} MiB",
                    i * 97 / 60,
                    i * 97 % 60,
                    i * 25,
                    files * i / 4,
                    (total * i / 4) >> 20
                ),
            );
        }
        if self.script.failing_backup.as_deref() != Some(node) {
            self.line(
                step,
                Stream::Stdout,
                format!(
                    "snapshot 4f2a9c1e saved: {files} files, {} MiB added",
                    total >> 20
                ),
            );
            return Outcome::Passed;
        }
        let tail = vec![
            "error: open /home/alice/.local/share/keyrings/login.keyring: permission denied".to_string(),
            format!("Fatal: unable to save snapshot: write {base}/{node}/restic/data/3f/3f9c: no space left on device"),
        ];
        for t in &tail {
            self.line(step, Stream::Stderr, t.clone());
        }
        let fin = Finished {
            code: Some(1),
            stderr_tail: tail,
            cancelled: false,
            timed_out: false,
            spawn_error: None,
        };
        // As the engine words a failed restic step, and classifies it by what restic said.
        Outcome::Failed {
            cause: fin.cause(),
            exit_code: fin.code,
            message: format!("restic backup on {node}: {}", fin.describe()),
            stderr_tail: fin.stderr_tail,
        }
    }
}

fn base(config: &Config, node: &str) -> String {
    config
        .node(node)
        .map(|n| n.base_dir.trim_end_matches('/').to_string())
        .unwrap_or_default()
}

/// `n` log lines of step 0 on `node`, the kind of output a long backup prints.
pub fn lines(node: &str, n: usize) -> impl Iterator<Item = Event> + '_ {
    (0..n).map(move |i| Event::Line {
        step: 0,
        node: node.to_string(),
        stream: if i % 50 == 49 {
            Stream::Stderr
        } else {
            Stream::Stdout
        },
        text: format!("[{:>7}] /home/alice/Documents/projects/file-{i:07}.txt", i),
    })
}
