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
use crate::engine::events::{Event, Outcome, Route, RunStatus, Stream};
use crate::engine::node::Unreachable;
use crate::engine::process::Finished;
use crate::plan::{Plan, StepKind};

/// How the synthetic run goes wrong.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// This node's backup fails (restic exits 1: its disk is full).
    pub failing_backup: Option<String>,
    /// This node answers on none of its addresses; its steps fail.
    pub unreachable: Option<String>,
    /// Stop after the events of this many steps, as if the run were still going; the
    /// next step is left running at half its progress.
    pub stop_after_steps: Option<usize>,
}

/// The events of a run of `plan`, in order.
pub fn run_events(config: &Config, plan: &Plan, script: &Script) -> Vec<Event> {
    let mut ev = vec![Event::RunStarted {
        run_id: "synthetic".into(),
        log_path: None,
        steps: plan.steps.len(),
    }];
    let unreachable = |node: &str| script.unreachable.as_deref() == Some(node);
    // What ssh says when nothing listens, as the engine keeps it for each address.
    let why_unreachable = |node: &str| Unreachable {
        tried: config
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
    };
    let mut failed = false;
    for step in &plan.steps {
        let node = step.node.clone();
        if script.stop_after_steps == Some(step.id) {
            ev.push(Event::StepStarted {
                step: step.id,
                node: node.clone(),
                kind: step.kind,
                title: step.title(),
            });
            ev.push(Event::Progress {
                step: step.id,
                done: 512,
                total: 1024,
            });
            return ev;
        }
        ev.push(Event::StepStarted {
            step: step.id,
            node: node.clone(),
            kind: step.kind,
            title: step.title(),
        });
        let line = |stream, text: String| Event::Line {
            step: step.id,
            node: node.clone(),
            stream,
            text,
        };
        let blocked = unreachable(&node)
            || (step.kind == StepKind::Replicate && step.targets.iter().any(|t| unreachable(t)));
        let outcome = match step.kind {
            StepKind::Prepare if unreachable(&node) => {
                let u = why_unreachable(&node);
                let tried: Vec<String> = u.tried.iter().map(|(a, _)| a.clone()).collect();
                ev.push(line(
                    Stream::Info,
                    format!("connecting to {node} ({})", tried.join(", ")),
                ));
                ev.push(Event::NodeUnreachable {
                    node: node.clone(),
                    tried: u.tried.iter().map(|(a, _)| a.clone()).collect(),
                });
                // The engine's words for it, as its prepare step reports them.
                Outcome::failed(u.reason(&node))
            }
            StepKind::Prepare => {
                let n = config.node(&node);
                let (address, route) = match n {
                    Some(n) if n.is_orchestrator => ("local".to_string(), Route::Local),
                    Some(n) => {
                        let public = n.addresses.len() > 1;
                        let a = n.addresses.last().cloned().unwrap_or_default();
                        (a, if public { Route::Public } else { Route::Lan })
                    }
                    None => (String::new(), Route::Local),
                };
                ev.push(Event::NodeReached {
                    node: node.clone(),
                    address: address.clone(),
                    route,
                });
                ev.push(line(Stream::Info, format!("reached {node} via {address}")));
                ev.push(line(
                    Stream::Stdout,
                    "restic 0.14.0 compiled with go1.19".into(),
                ));
                ev.push(line(
                    Stream::Stdout,
                    "rsync  version 3.2.7  protocol version 31".into(),
                ));
                Outcome::Passed
            }
            // The engine skips an unreachable node's own steps with the same reason.
            _ if unreachable(&node) => Outcome::Skipped {
                reason: why_unreachable(&node).reason(&node),
            },
            _ if blocked => Outcome::Skipped {
                reason: "a node it needs is unreachable".into(),
            },
            StepKind::Backup => {
                ev.push(line(
                    Stream::Stdout,
                    format!("open repository {}/{node}/restic", base(config, &node)),
                ));
                for i in 1..=4u64 {
                    ev.push(Event::Progress {
                        step: step.id,
                        done: i * 256,
                        total: 1024,
                    });
                    ev.push(line(
                        Stream::Stdout,
                        format!("[0:0{i}] {}%  {} files {} MiB", i * 25, i * 310, i * 42),
                    ));
                }
                if script.failing_backup.as_deref() == Some(node.as_str()) {
                    let tail = vec![
                        "error: open /home/alice/.local/share/keyrings/login.keyring: permission denied".to_string(),
                        format!("Fatal: unable to save snapshot: write {}/{node}/restic/data/3f/3f9c: no space left on device", base(config, &node)),
                    ];
                    for t in &tail {
                        ev.push(line(Stream::Stderr, t.clone()));
                    }
                    failed = true;
                    let fin = Finished {
                        code: Some(1),
                        stderr_tail: tail,
                        cancelled: false,
                        timed_out: false,
                        spawn_error: None,
                    };
                    // As the engine words a failed restic step.
                    Outcome::Failed {
                        exit_code: fin.code,
                        message: format!("restic backup on {node}: {}", fin.describe()),
                        stderr_tail: fin.stderr_tail,
                    }
                } else {
                    ev.push(line(
                        Stream::Stdout,
                        "snapshot 4f2a9c1e saved: 1240 files, 168 MiB added".into(),
                    ));
                    Outcome::Passed
                }
            }
            StepKind::Check => {
                ev.push(line(Stream::Stdout, "load indexes".into()));
                ev.push(line(Stream::Stdout, "check all packs".into()));
                ev.push(line(Stream::Stdout, "no errors were found".into()));
                Outcome::Passed
            }
            StepKind::Forget => {
                ev.push(line(
                    Stream::Stdout,
                    "Applying Policy: keep 7 daily, 4 weekly, 12 monthly snapshots".into(),
                ));
                ev.push(line(Stream::Stdout, "remove 1 snapshots".into()));
                Outcome::Passed
            }
            StepKind::Replicate => {
                for t in &step.targets {
                    ev.push(line(
                        Stream::Info,
                        format!("{t}: 37 new files to copy (12.4 MiB)"),
                    ));
                    ev.push(Event::Progress {
                        step: step.id,
                        done: 1,
                        total: 2,
                    });
                    ev.push(line(Stream::Info, format!("{t}: verified 37 files")));
                }
                Outcome::Passed
            }
            StepKind::Records => {
                for t in step.targets.iter().filter(|t| !unreachable(t)) {
                    ev.push(line(
                        Stream::Info,
                        format!("records kept on {t}: config.toml, forgotten snapshots of 3 repositories"),
                    ));
                }
                Outcome::Passed
            }
            StepKind::Init => {
                ev.push(line(
                    Stream::Info,
                    "repository exists; nothing to do".into(),
                ));
                Outcome::Skipped {
                    reason: "repository exists".into(),
                }
            }
        };
        if matches!(outcome, Outcome::Failed { .. }) {
            failed = true;
        }
        ev.push(Event::StepFinished {
            step: step.id,
            outcome,
        });
    }
    ev.push(Event::RunFinished {
        status: if failed {
            RunStatus::Failed
        } else {
            RunStatus::Passed
        },
        summary_path: None,
    });
    ev
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
