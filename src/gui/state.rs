//! What the window knows about the run, folded from the engine's events: one row per
//! node, the failed steps, and the run's status line.
//!
//! Plain Rust with no Qt in it, so the rules ("a node is failed when one of its steps
//! failed", "progress belongs to the step a node is running") are tested without a
//! display. The QObject backend renders this state into properties for QML.

use crate::config::{Config, Role};
use crate::engine::events::{Event, Outcome, Route, RunStatus};
use crate::engine::runview::NodeResult;
use crate::logbook::Summary;
use crate::plan::StepKind;
use serde::Serialize;

/// A node's state as the host list shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostState {
    /// No run yet in this window.
    Idle,
    /// The run started; this node has not been reached or used yet.
    Waiting,
    /// Reached during `prepare`.
    Reached,
    /// One of its steps is running.
    Running,
    /// The run ended and every step of this node passed or was skipped.
    Passed,
    /// The run ended (or goes on) with a failed step on this node.
    Failed,
    /// No address answered.
    Unreachable,
    /// The run was stopped.
    Interrupted,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostRow {
    pub name: String,
    pub role: String,
    /// The configured addresses, in the order they are tried.
    pub addresses: Vec<String>,
    /// The address in use in this run, once reached ("local" for the orchestrator).
    pub address: String,
    /// "local", "lan", "public", or "" before the node was reached.
    pub route: String,
    pub state: HostState,
    /// Title of the step running on this node, "" when none.
    pub step: String,
    /// Step progress from 0 to 1; negative when the step reports none.
    pub progress: f64,
    /// "passed", "failed", "unreachable", "interrupted", or "" when never run.
    pub last_result: String,
    /// When the last result was recorded ("" when never run).
    pub last_time: String,
    /// Addresses tried when the node was unreachable.
    pub tried: Vec<String>,
    #[serde(skip)]
    current_step: Option<usize>,
    #[serde(skip)]
    failed_steps: usize,
}

/// A step that failed, for the summary shown after a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub step: usize,
    pub node: String,
    pub title: String,
    /// -1 when the step failed without an exit code (timeout, refused preflight, ...).
    pub exit_code: i32,
    pub message: String,
    pub stderr_tail: Vec<String>,
}

/// The run-level state: hosts, failures, and where the run stands.
#[derive(Debug, Clone)]
pub struct RunState {
    pub hosts: Vec<HostRow>,
    pub failures: Vec<Failure>,
    /// Step titles by id, as the plan (or `StepStarted`) named them.
    titles: Vec<String>,
    /// Step kinds by id ("backup", "check", ...).
    kinds: Vec<String>,
    /// Which node each step id belongs to, as an index into `hosts`.
    step_host: Vec<Option<usize>>,
    pub steps_total: usize,
    pub steps_done: usize,
    pub running: bool,
    pub log_path: Option<String>,
    pub finished: Option<RunStatus>,
}

fn now() -> String {
    chrono::Local::now().format("%Y-%m-%d %H:%M").to_string()
}

impl RunState {
    pub fn new(config: &Config) -> RunState {
        let hosts = config
            .nodes
            .iter()
            .map(|n| HostRow {
                name: n.name.clone(),
                role: n.role().to_string(),
                addresses: n.addresses.clone(),
                address: String::new(),
                route: String::new(),
                state: HostState::Idle,
                step: String::new(),
                progress: -1.0,
                last_result: String::new(),
                last_time: String::new(),
                tried: vec![],
                current_step: None,
                failed_steps: 0,
            })
            .collect::<Vec<_>>();
        let mut state = RunState {
            hosts,
            failures: vec![],
            titles: vec![],
            kinds: vec![],
            step_host: vec![],
            steps_total: 0,
            steps_done: 0,
            running: false,
            log_path: None,
            finished: None,
        };
        if config.nodes.iter().any(|n| n.role() == Role::Orchestrator) {
            for h in state.hosts.iter_mut().filter(|h| h.role == "orchestrator") {
                h.address = "local".into();
                h.route = "local".into();
            }
        }
        state
    }

    /// Fills each node's last result from the newest past run that involved it.
    pub fn apply_history(&mut self, history: &[Summary]) {
        for host in &mut self.hosts {
            let Some(run) = history
                .iter()
                .find(|r| r.steps.iter().any(|s| s.node == host.name))
            else {
                continue;
            };
            let mine = run.steps.iter().filter(|s| s.node == host.name);
            let result = NodeResult::of_labels(mine.map(|s| s.result.as_str()));
            host.last_result = result.label().into();
            host.last_time = short_time(run.finished.as_deref().unwrap_or(&run.started));
        }
    }

    /// Names the steps before the run starts, so lines and progress can be attributed.
    /// Each step as (node, kind, title), in id order.
    pub fn set_steps(&mut self, steps: impl IntoIterator<Item = (String, String, String)>) {
        self.titles.clear();
        self.kinds.clear();
        self.step_host.clear();
        for (node, kind, title) in steps {
            self.step_host.push(self.host_index(&node));
            self.kinds.push(kind);
            self.titles.push(title);
        }
    }

    pub fn step_kind(&self, step: usize) -> &str {
        self.kinds.get(step).map(String::as_str).unwrap_or("")
    }

    pub fn host_index(&self, node: &str) -> Option<usize> {
        self.hosts.iter().position(|h| h.name == node)
    }

    pub fn step_title(&self, step: usize) -> &str {
        self.titles.get(step).map(String::as_str).unwrap_or("")
    }

    fn host_of_step(&self, step: usize) -> Option<usize> {
        self.step_host.get(step).copied().flatten()
    }

    /// Folds one event in. Returns true when the host rows changed.
    pub fn apply(&mut self, event: &Event) -> bool {
        match event {
            Event::RunStarted {
                log_path, steps, ..
            } => self.run_started(log_path.as_deref(), *steps),
            Event::NodeReached {
                node,
                address,
                route,
            } => self.reached(node, address, *route),
            Event::NodeUnreachable { node, tried } => self.unreachable(node, tried),
            Event::StepStarted {
                step,
                node,
                kind,
                title,
            } => self.step_started(*step, node, *kind, title),
            Event::Progress { step, done, total } => self.progress(*step, *done, *total),
            Event::StepFinished { step, outcome, .. } => self.step_finished(*step, outcome),
            Event::RunFinished { status, .. } => self.run_finished(*status),
            Event::Line { .. } => false,
        }
    }

    fn run_started(&mut self, log_path: Option<&std::path::Path>, steps: usize) -> bool {
        self.running = true;
        self.finished = None;
        self.steps_total = steps;
        self.steps_done = 0;
        self.failures.clear();
        self.log_path = log_path.map(|p| p.to_string_lossy().into_owned());
        for h in &mut self.hosts {
            h.state = HostState::Waiting;
            h.step.clear();
            h.progress = -1.0;
            h.tried.clear();
            h.current_step = None;
            h.failed_steps = 0;
            if h.role != "orchestrator" {
                h.address.clear();
                h.route.clear();
            }
        }
        true
    }

    fn reached(&mut self, node: &str, address: &str, route: Route) -> bool {
        let Some(i) = self.host_index(node) else {
            return false;
        };
        let h = &mut self.hosts[i];
        h.address = address.to_string();
        h.route = match route {
            Route::Local => "local",
            Route::Lan => "lan",
            Route::Public => "public",
        }
        .into();
        if h.state == HostState::Waiting {
            h.state = HostState::Reached;
        }
        true
    }

    fn unreachable(&mut self, node: &str, tried: &[String]) -> bool {
        let Some(i) = self.host_index(node) else {
            return false;
        };
        let h = &mut self.hosts[i];
        h.state = HostState::Unreachable;
        h.tried = tried.to_vec();
        h.address.clear();
        h.route.clear();
        true
    }

    fn step_started(&mut self, step: usize, node: &str, kind: StepKind, title: &str) -> bool {
        if self.titles.len() <= step {
            self.titles.resize(step + 1, String::new());
            self.kinds.resize(step + 1, String::new());
            self.step_host.resize(step + 1, None);
        }
        self.titles[step] = title.to_string();
        self.kinds[step] = kind.to_string();
        let i = self.host_index(node);
        self.step_host[step] = i;
        let Some(i) = i else {
            return false;
        };
        let h = &mut self.hosts[i];
        h.current_step = Some(step);
        h.step = title.to_string();
        h.progress = -1.0;
        if h.state != HostState::Unreachable {
            h.state = HostState::Running;
        }
        true
    }

    fn progress(&mut self, step: usize, done: u64, total: u64) -> bool {
        let Some(i) = self.host_of_step(step) else {
            return false;
        };
        let h = &mut self.hosts[i];
        if h.current_step != Some(step) {
            return false;
        }
        h.progress = if total == 0 {
            -1.0
        } else {
            (done as f64 / total as f64).clamp(0.0, 1.0)
        };
        true
    }

    fn step_finished(&mut self, step: usize, outcome: &Outcome) -> bool {
        self.steps_done += 1;
        let host = self.host_of_step(step);
        if let Outcome::Failed {
            exit_code,
            message,
            stderr_tail,
            ..
        } = outcome
        {
            self.failures.push(Failure {
                step,
                node: host.map(|i| self.hosts[i].name.clone()).unwrap_or_default(),
                title: self.step_title(step).to_string(),
                exit_code: exit_code.unwrap_or(-1),
                message: message.clone(),
                stderr_tail: stderr_tail.clone(),
            });
        }
        let Some(i) = host else {
            return false;
        };
        let h = &mut self.hosts[i];
        if matches!(outcome, Outcome::Failed { .. }) {
            h.failed_steps += 1;
        }
        if h.current_step == Some(step) {
            h.current_step = None;
            h.step.clear();
            h.progress = -1.0;
            if h.state == HostState::Running {
                h.state = if h.failed_steps > 0 {
                    HostState::Failed
                } else {
                    HostState::Reached
                };
            }
        }
        true
    }

    fn run_finished(&mut self, status: RunStatus) -> bool {
        self.running = false;
        self.finished = Some(status);
        let time = now();
        for h in &mut self.hosts {
            h.current_step = None;
            h.step.clear();
            h.progress = -1.0;
            h.state = if h.state == HostState::Unreachable {
                HostState::Unreachable
            } else if h.failed_steps > 0 {
                HostState::Failed
            } else if status == RunStatus::Interrupted {
                HostState::Interrupted
            } else {
                HostState::Passed
            };
            h.last_result = match h.state {
                HostState::Unreachable => NodeResult::Unreachable,
                HostState::Failed => NodeResult::Failed,
                HostState::Interrupted => NodeResult::Interrupted,
                _ => NodeResult::Passed,
            }
            .label()
            .into();
            h.last_time = time.clone();
        }
        true
    }

    /// One line for the status bar.
    pub fn status_text(&self) -> String {
        if self.running {
            return format!(
                "Running: {} of {} steps done",
                self.steps_done, self.steps_total
            );
        }
        match self.finished {
            None => String::new(),
            Some(RunStatus::Passed) => "Last run passed: every step succeeded".into(),
            Some(RunStatus::Interrupted) => "Last run was stopped".into(),
            Some(RunStatus::Failed) => {
                let n = self.failures.len();
                format!(
                    "Last run failed: {n} step{} failed",
                    if n == 1 { "" } else { "s" }
                )
            }
        }
    }
}

/// "2025-01-31T10:20:30+01:00" -> "2025-01-31 10:20".
fn short_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| rfc3339.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::StepKind;
    use std::path::Path;

    fn config() -> Config {
        crate::config::parse(
            Path::new("test.toml"),
            "orchestrator = \"laptop\"\n[nodes.laptop]\npaths = [\"~/D\"]\n\
             [nodes.home]\naddresses = [\"192.168.1.2\", \"home.example.org\"]\npaths = [\"~/\"]\n\
             [nodes.nas]\naddresses = [\"nas.lan\"]\n",
        )
        .expect("valid config")
    }

    fn started(step: usize, node: &str) -> Event {
        Event::StepStarted {
            step,
            node: node.into(),
            kind: StepKind::Backup,
            title: format!("backup {node}"),
        }
    }

    #[test]
    fn folds_a_run_with_one_failure_and_one_unreachable_node() {
        let mut s = RunState::new(&config());
        assert_eq!(
            s.hosts.iter().map(|h| h.role.as_str()).collect::<Vec<_>>(),
            ["orchestrator", "remote", "storage"]
        );
        s.apply(&Event::RunStarted {
            run_id: "r".into(),
            log_path: None,
            steps: 3,
        });
        s.apply(&Event::NodeReached {
            node: "home".into(),
            address: "home.example.org".into(),
            route: Route::Public,
        });
        s.apply(&Event::NodeUnreachable {
            node: "nas".into(),
            tried: vec!["nas.lan".into()],
        });
        s.apply(&started(0, "laptop"));
        s.apply(&Event::Progress {
            step: 0,
            done: 1,
            total: 4,
        });
        assert_eq!(s.hosts[0].state, HostState::Running);
        assert_eq!(s.hosts[0].progress, 0.25);
        s.apply(&Event::StepFinished {
            step: 0,
            node: "laptop".into(),
            kind: StepKind::Backup,
            title: "backup laptop".into(),
            outcome: Outcome::Passed,
        });
        s.apply(&started(1, "home"));
        s.apply(&Event::StepFinished {
            step: 1,
            node: "home".into(),
            kind: StepKind::Backup,
            title: "backup home".into(),
            outcome: Outcome::Failed {
                cause: crate::engine::events::Cause::Other,
                exit_code: Some(3),
                message: "restic failed".into(),
                stderr_tail: vec!["error: disk full".into()],
            },
        });
        s.apply(&Event::RunFinished {
            status: RunStatus::Failed,
            summary_path: None,
        });
        let states: Vec<HostState> = s.hosts.iter().map(|h| h.state).collect();
        assert_eq!(
            states,
            [HostState::Passed, HostState::Failed, HostState::Unreachable]
        );
        assert_eq!(s.hosts[1].route, "public");
        assert_eq!(s.hosts[2].tried, ["nas.lan"]);
        assert_eq!(s.failures.len(), 1);
        assert_eq!(s.failures[0].node, "home");
        assert_eq!(s.failures[0].exit_code, 3);
        assert_eq!(s.status_text(), "Last run failed: 1 step failed");
    }
}
