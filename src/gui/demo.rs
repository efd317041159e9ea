//! Synthetic runs: the events a run of a real plan would emit, without ssh or restic.
//!
//! The window's tests, the screenshot script and the log benchmark feed these into the
//! backend through the same intake the engine uses, so what they show is what a person
//! sees during a real run. Nothing here is used by a real run.

use crate::config::Config;
use crate::engine::events::{Event, Outcome, Route, RunStatus, Stream};
use crate::plan::{Plan, StepKind};

/// How the synthetic run goes wrong.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// This node's backup fails (restic exit code 3, some files unreadable).
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
                let tried = config
                    .node(&node)
                    .map(|n| n.addresses.clone())
                    .unwrap_or_default();
                ev.push(Event::NodeUnreachable {
                    node: node.clone(),
                    tried: tried.clone(),
                });
                for a in &tried {
                    ev.push(line(
                        Stream::Stderr,
                        format!("ssh: connect to host {a} port 22: Connection refused"),
                    ));
                }
                Outcome::Failed {
                    exit_code: Some(255),
                    message: format!("{node} is unreachable (tried {})", tried.join(", ")),
                    stderr_tail: tried
                        .iter()
                        .map(|a| format!("ssh: connect to host {a} port 22: Connection refused"))
                        .collect(),
                }
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
                        "error: lstat /home/alice/Downloads/partial.iso: no such file or directory".to_string(),
                        "Warning: at least one source file could not be read".to_string(),
                    ];
                    for t in &tail {
                        ev.push(line(Stream::Stderr, t.clone()));
                    }
                    failed = true;
                    Outcome::Failed {
                        exit_code: Some(3),
                        message: "restic backup finished, but some files could not be read".into(),
                        stderr_tail: tail,
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
            StepKind::Verify => Outcome::Passed,
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
            node: step.node.clone(),
            kind: step.kind,
            title: step.title(),
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
