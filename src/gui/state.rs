//! What the window shows of a run: one row per node, the failed steps, and the run's
//! status line, all read off the engine's one reducer, [`RunView`].
//!
//! The window adds only what it alone knows: the configured nodes in their order, with
//! their roles and addresses, and each node's last result from the history before this
//! window ran anything. Everything about the run itself (who was reached, which step
//! runs where, how each ended, a node's result) is `RunView`'s, the same reading the
//! logbook records, so the window and the history cannot disagree. Plain Rust with no
//! Qt in it; the QObject backend renders it into the list models.

use crate::config::{Config, Role};
use crate::engine::events::{Activity, Event, Outcome, Route, RunStatus};
use crate::engine::progress::{self, Expected};
use crate::engine::runview::{NodeResult, RunView, StepStatus, StepView};
use crate::logbook::Summary;
use crate::plan::{Plan, StepKind};
use serde::Serialize;
use std::time::Instant;

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
    /// The run was stopped before this node's steps were done.
    Interrupted,
}

impl From<NodeResult> for HostState {
    fn from(r: NodeResult) -> HostState {
        match r {
            NodeResult::Passed => HostState::Passed,
            NodeResult::Failed => HostState::Failed,
            NodeResult::Unreachable => HostState::Unreachable,
            NodeResult::Interrupted => HostState::Interrupted,
        }
    }
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
    /// What it is doing in a word or three ("uploading", "sending to home",
    /// "receiving from laptop"); "" when nothing runs there.
    pub activity: String,
    /// The running step's figures: percent, bytes, files, rate, time left (what is known).
    pub detail: String,
    /// "stalled — no progress for 75 s, waiting on …", or "".
    pub stalled: String,
    /// "passed", "failed", "unreachable", "interrupted", or "" when never run.
    pub last_result: String,
    /// When the last result was recorded ("" when never run).
    pub last_time: String,
    /// Addresses tried when the node was unreachable.
    pub tried: Vec<String>,
    /// What `prepare` found before anything was written, one line per item ("✓ …",
    /// "✗ …"); empty before its check.
    pub checks: Vec<String>,
    /// Every item of the checklist passed (true before the check).
    pub checks_ok: bool,
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

/// A configured node, as the host list names it.
#[derive(Debug, Clone)]
struct Configured {
    name: String,
    role: Role,
    addresses: Vec<String>,
    /// Result and time of the newest past run that involved it (history).
    last: Option<(NodeResult, String)>,
}

/// The run-level state: hosts, failures, and where the run stands.
#[derive(Debug, Clone)]
pub struct RunState {
    nodes: Vec<Configured>,
    view: RunView,
    /// A run started in this window (its `RunStarted` arrived).
    started: bool,
    /// When this window's last run ended.
    ended_at: String,
    pub hosts: Vec<HostRow>,
    pub failures: Vec<Failure>,
    /// The failed steps grouped by cause, in plain sentences (`crate::problems`).
    pub problems: Vec<crate::problems::Problem>,
    pub steps_total: usize,
    pub steps_done: usize,
    pub running: bool,
    pub log_path: Option<String>,
    pub finished: Option<RunStatus>,
    /// The whole run's bar, 0 to 1, and its words ("about 4 min left").
    pub overall: f64,
    pub overall_text: String,
    /// How long earlier runs' steps took, for the run's bar.
    expected: Expected,
    jobs: usize,
}

/// How long earlier runs' steps took, from their summaries (newest first); only steps
/// that passed count.
fn expected_from(history: &[Summary]) -> Expected {
    let parse = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    Expected::from_history(history.iter().flat_map(|run| {
        run.steps.iter().filter_map(move |s| {
            let (a, b) = (parse(&s.started)?, parse(&s.finished)?);
            let kind = s.kind.parse::<StepKind>().ok()?;
            (s.result == "passed").then(|| {
                (
                    s.node.clone(),
                    kind,
                    s.title.clone(),
                    (b - a).num_milliseconds() as f64 / 1000.0,
                )
            })
        })
    }))
}

fn now() -> String {
    chrono::Local::now().format("%Y-%m-%d %H:%M").to_string()
}

fn route_name(route: Route) -> &'static str {
    match route {
        Route::Local => "local",
        Route::Lan => "lan",
        Route::Public => "public",
    }
}

impl RunState {
    pub fn new(config: &Config) -> RunState {
        let mut state = RunState {
            nodes: config
                .nodes
                .iter()
                .map(|n| Configured {
                    name: n.name.clone(),
                    role: n.role(),
                    addresses: n.addresses.clone(),
                    last: None,
                })
                .collect(),
            view: RunView::default(),
            started: false,
            ended_at: String::new(),
            hosts: vec![],
            failures: vec![],
            problems: vec![],
            steps_total: 0,
            steps_done: 0,
            running: false,
            log_path: None,
            finished: None,
            overall: 0.0,
            overall_text: String::new(),
            expected: Expected::default(),
            jobs: 1,
        };
        state.render();
        state
    }

    /// Fills each node's last result from the newest past run that involved it.
    pub fn apply_history(&mut self, history: &[Summary]) {
        for node in &mut self.nodes {
            let Some(run) = history
                .iter()
                .find(|r| r.steps.iter().any(|s| s.node == node.name))
            else {
                continue;
            };
            let mine = run.steps.iter().filter(|s| s.node == node.name);
            let result = NodeResult::of_labels(mine.map(|s| s.result.as_str()));
            let time = short_time(run.finished.as_deref().unwrap_or(&run.started));
            node.last = Some((result, time));
        }
        self.expected = expected_from(history);
        self.render();
    }

    /// Knows the run's steps before it starts, so lines and progress can be attributed.
    pub fn set_plan(&mut self, plan: &Plan) {
        self.view = RunView::of_plan(plan);
        self.jobs = plan.jobs;
    }

    /// The kind of step `step` ("backup", "check", ...), "" when unknown.
    pub fn step_kind(&self, step: usize) -> &'static str {
        self.view.step(step).map_or("", |s| s.kind.name())
    }

    pub fn host_index(&self, node: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == node)
    }

    pub fn step_title(&self, step: usize) -> &str {
        self.view.step(step).map_or("", |s| s.title.as_str())
    }

    /// Folds one event in. Returns true when the host rows changed.
    pub fn apply(&mut self, event: &Event) -> bool {
        match event {
            Event::RunStarted { steps, .. } => {
                self.started = true;
                self.steps_total = *steps;
            }
            Event::RunFinished { .. } => self.ended_at = now(),
            _ => {}
        }
        self.view.apply(event);
        if let Event::RunStarted { steps, .. } = event {
            self.foresee(*steps);
        }
        let before = std::mem::take(&mut self.hosts);
        self.render();
        self.hosts != before
    }

    /// Makes the run's `steps` known to the view before they start, when no plan was
    /// handed over (a run begun elsewhere, a demo): the run's bar then weighs every step
    /// from the first event, not only those seen so far. A step not yet seen weighs what
    /// a check is expected to take (between a prepare's seconds and a backup's minutes);
    /// its own `StepStarted` names it.
    fn foresee(&mut self, steps: usize) {
        while self.view.steps.len() < steps {
            self.view.steps.push(StepView {
                id: self.view.steps.len(),
                kind: StepKind::Check,
                ..StepView::blank()
            });
        }
    }

    /// Reads the rows, the failures and the counts off the view.
    fn render(&mut self) {
        self.finished = self.view.status;
        self.running = self.started && self.finished.is_none();
        self.hosts = self.nodes.iter().map(|n| self.row(n)).collect();
        self.failures = self
            .view
            .steps
            .iter()
            .filter_map(|s| match &s.status {
                StepStatus::Finished(Outcome::Failed {
                    exit_code,
                    message,
                    stderr_tail,
                    ..
                }) => Some(Failure {
                    step: s.id,
                    node: s.node.clone(),
                    title: s.title.clone(),
                    exit_code: exit_code.unwrap_or(-1),
                    message: message.clone(),
                    stderr_tail: stderr_tail.clone(),
                }),
                _ => None,
            })
            .collect();
        self.problems = crate::problems::of_view(&self.view);
        self.steps_done = self
            .view
            .steps
            .iter()
            .filter(|s| matches!(s.status, StepStatus::Finished(_)))
            .count();
        self.log_path = self
            .view
            .log_path
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        let o = progress::overall(&self.view, &self.expected, self.jobs, Instant::now());
        self.overall = if self.started { o.fraction } else { 0.0 };
        self.overall_text = match o.left {
            Some(left) if self.running && left.as_secs() >= 60 => {
                format!("about {}", progress::human_left(left))
            }
            Some(left) if self.running => progress::human_left(left),
            _ => String::new(),
        };
    }

    fn row(&self, node: &Configured) -> HostRow {
        let seen = self.view.nodes.get(&node.name).filter(|_| self.started);
        let reached = seen.and_then(|n| n.reached.as_ref());
        let (address, route) = match reached {
            Some((address, route)) => (address.clone(), route_name(*route).to_string()),
            None if node.role == Role::Orchestrator => ("local".into(), "local".into()),
            None => (String::new(), String::new()),
        };
        let running = seen
            .and_then(|n| n.running)
            .and_then(|id| self.view.step(id));
        let tried = seen.and_then(|n| n.unreachable.clone()).unwrap_or_default();
        // A node with nothing of its own running may be the far end of a copy.
        let activity = match running {
            Some(step) => step.activity().word_for(&node.name),
            None => self.receiving(&node.name).unwrap_or_default(),
        };
        let result = self.view.node_result(&node.name);
        let state = if !self.started {
            HostState::Idle
        } else if !tried.is_empty() || result == NodeResult::Unreachable {
            HostState::Unreachable
        } else if running.is_some() {
            HostState::Running
        } else if self.finished.is_some() || result == NodeResult::Failed {
            result.into()
        } else if reached.is_some() {
            HostState::Reached
        } else {
            HostState::Waiting
        };
        let (last_result, last_time) = match (&self.finished, &node.last) {
            (Some(_), _) => (result.label().to_string(), self.ended_at.clone()),
            (None, Some((r, t))) => (r.label().to_string(), t.clone()),
            (None, None) => (String::new(), String::new()),
        };
        HostRow {
            name: node.name.clone(),
            role: node.role.to_string(),
            addresses: node.addresses.clone(),
            address,
            route,
            state,
            step: running.map(|s| s.title.clone()).unwrap_or_default(),
            progress: match running.and_then(|s| s.progress) {
                Some((done, total)) if total > 0 => (done as f64 / total as f64).clamp(0.0, 1.0),
                _ => -1.0,
            },
            activity,
            detail: running.map(progress::detail).unwrap_or_default(),
            stalled: running
                .and_then(|s| s.stalled.as_ref())
                .map(|(quiet, on)| progress::stalled_text(*quiet, on))
                .unwrap_or_default(),
            last_result,
            last_time,
            tried,
            checks: seen
                .and_then(|n| n.checked.as_ref())
                .map(|items| {
                    items
                        .iter()
                        .map(|i| format!("{} {}", if i.ok { "✓" } else { "✗" }, i.text))
                        .collect()
                })
                .unwrap_or_default(),
            checks_ok: seen
                .and_then(|n| n.checked.as_ref())
                .is_none_or(|items| items.iter().all(|i| i.ok)),
        }
    }

    /// "receiving from X" when a running copy goes to `node`.
    fn receiving(&self, node: &str) -> Option<String> {
        self.view
            .nodes
            .values()
            .filter_map(|n| n.running)
            .filter_map(|id| self.view.step(id))
            .map(|s| s.activity())
            .find(|a| matches!(a, Activity::Copying { to, .. } | Activity::Landing { to, .. } if to == node))
            .map(|a| a.word_for(node))
    }

    /// The person answered the question: it is no longer asked.
    pub fn answered(&mut self) {
        self.view.waiting = None;
    }

    /// While the run waits to be told to go on without nodes that failed their checks:
    /// the question, in plain sentences, and the nodes' names.
    pub fn question(&self) -> Option<(String, Vec<String>)> {
        let left = self.view.waiting.as_ref()?;
        let names: Vec<String> = left.iter().map(|l| l.node.clone()).collect();
        let reasons: Vec<String> = left.iter().map(|l| l.why.clone()).collect();
        Some((
            format!(
                "Nothing has been written yet. {} Go on without {}, or cancel the run?",
                reasons.join(" "),
                names.join(" and ")
            ),
            names,
        ))
    }

    /// One line for the status bar.
    pub fn status_text(&self) -> String {
        if self.running {
            let left = if self.overall_text.is_empty() {
                String::new()
            } else {
                format!(" · {}", self.overall_text)
            };
            return format!(
                "Running: {} of {} steps done{left}",
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
        s.apply(&Event::progress(0, "n", Activity::Uploading, 1, 4));
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

    #[test]
    fn a_stopped_run_reads_as_its_history_will_and_progress_follows_the_running_step() {
        let mut s = RunState::new(&config());
        assert!(s.hosts.iter().all(|h| h.state == HostState::Idle));
        assert_eq!(
            s.hosts[0].address, "local",
            "the orchestrator is this machine"
        );
        s.apply(&Event::RunStarted {
            run_id: "r".into(),
            log_path: None,
            steps: 4,
        });
        assert_eq!(s.hosts[1].state, HostState::Waiting);
        s.apply(&started(0, "laptop"));
        s.apply(&Event::StepFinished {
            step: 0,
            node: "laptop".into(),
            kind: StepKind::Backup,
            title: "backup laptop".into(),
            outcome: Outcome::Passed,
        });
        s.apply(&started(1, "home"));
        assert!(!s.apply(&Event::progress(0, "n", Activity::Uploading, 1, 2)));
        assert_eq!(s.hosts[1].progress, -1.0, "not the running step's progress");
        assert!(s.apply(&Event::progress(1, "n", Activity::Uploading, 1, 2)));
        assert_eq!(s.hosts[1].progress, 0.5);
        for (step, node) in [(1, "home"), (2, "nas")] {
            s.apply(&Event::StepFinished {
                step,
                node: node.into(),
                kind: StepKind::Backup,
                title: format!("backup {node}"),
                outcome: Outcome::Interrupted,
            });
        }
        s.apply(&Event::RunFinished {
            status: RunStatus::Interrupted,
            summary_path: None,
        });
        let states: Vec<HostState> = s.hosts.iter().map(|h| h.state).collect();
        assert_eq!(
            states,
            [
                HostState::Passed,
                HostState::Interrupted,
                HostState::Interrupted
            ],
            "laptop finished before the stop, as its history records it"
        );
        assert_eq!(s.hosts[0].last_result, "passed");
        assert_eq!(s.hosts[1].last_result, "interrupted");
        assert_eq!(s.status_text(), "Last run was stopped");
    }

    #[test]
    fn without_a_plan_the_run_bar_weighs_every_step_from_run_started() {
        let mut s = RunState::new(&config());
        s.apply(&Event::RunStarted {
            run_id: "r".into(),
            log_path: None,
            steps: 4,
        });
        assert_eq!(s.overall, 0.0);
        s.apply(&started(0, "laptop"));
        s.apply(&Event::progress(0, "n", Activity::Uploading, 1, 2));
        assert!(
            s.overall > 0.0 && s.overall < 0.5,
            "half of one step of four, not half the run: {}",
            s.overall
        );
        s.apply(&Event::StepFinished {
            step: 0,
            node: "laptop".into(),
            kind: StepKind::Backup,
            title: "backup laptop".into(),
            outcome: Outcome::Passed,
        });
        assert!(s.overall < 1.0, "three steps still to come: {}", s.overall);
        assert!(s.status_text().starts_with("Running: 1 of 4 steps done"));
        for step in 1..4 {
            s.apply(&started(step, "home"));
            let before = s.overall;
            s.apply(&Event::StepFinished {
                step,
                node: "home".into(),
                kind: StepKind::Backup,
                title: "backup home".into(),
                outcome: Outcome::Passed,
            });
            assert!(s.overall >= before, "the bar never goes back");
        }
        assert_eq!(s.steps_done, 4);
        assert!(s.hosts.iter().all(|h| h.progress == -1.0));
    }
}
