//! One reading of a run's events, shared by everything that shows or records a run.
//!
//! The terminal printer, the logbook and the window all need the same facts about a run
//! in progress: which steps there are, which one each node is running, how each ended,
//! when, with which notices, and a node's result over its steps. Each used to keep its own
//! table and its own rules; `RunView::apply` is the one reducer, so the three cannot
//! disagree about what happened.

use super::events::{Activity, CheckItem, Event, Fact, Left, Outcome, Route, RunStatus, Stream};
use crate::plan::{Plan, StepKind};
use chrono::{DateTime, Local};
use std::collections::BTreeMap;
use std::time::Instant;

/// Where a step stands.
#[derive(Debug, Clone, PartialEq)]
pub enum StepStatus {
    Waiting,
    Running,
    Finished(Outcome),
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepView {
    pub id: usize,
    pub node: String,
    pub kind: StepKind,
    pub title: String,
    pub status: StepStatus,
    pub started: Option<DateTime<Local>>,
    pub finished: Option<DateTime<Local>>,
    /// Bytes done and total, from the step's last progress report.
    pub progress: Option<(u64, u64)>,
    /// What it does, from its last report (None before any: `Activity::of_kind`).
    pub activity: Option<Activity>,
    /// Files done and total, when its tool counts them.
    pub files: Option<(u64, u64)>,
    /// Bytes per second and seconds left, once the run could measure them.
    pub rate: Option<u64>,
    pub eta_secs: Option<u64>,
    /// Not moving: for how many seconds, and waiting on what. Cleared by the next
    /// report.
    pub stalled: Option<(u64, String)>,
    /// When it started, on this machine's monotonic clock (for the run's bar).
    pub since: Option<Instant>,
    /// What the step said a person must not miss (`Stream::Notice`).
    pub notes: Vec<String>,
    /// What it found that explains its failure (`Event::Found`), for `crate::problems`.
    pub facts: Vec<Fact>,
}

impl StepView {
    /// A step nothing is known of yet.
    pub fn blank() -> StepView {
        StepView {
            id: 0,
            node: String::new(),
            kind: StepKind::Prepare,
            title: String::new(),
            status: StepStatus::Waiting,
            started: None,
            finished: None,
            progress: None,
            activity: None,
            files: None,
            rate: None,
            eta_secs: None,
            stalled: None,
            since: None,
            notes: vec![],
            facts: vec![],
        }
    }

    /// Seconds it took, once it finished (None when it never started).
    pub fn elapsed(&self) -> Option<f64> {
        let (a, b) = (self.started?, self.finished?);
        Some((b - a).num_milliseconds().max(0) as f64 / 1000.0)
    }

    /// Seconds it has been running at `now`.
    pub fn running_for(&self, now: Instant) -> Option<f64> {
        Some(now.saturating_duration_since(self.since?).as_secs_f64())
    }

    /// What it is doing: its last report's activity, else its kind's.
    pub fn activity(&self) -> Activity {
        self.activity
            .clone()
            .unwrap_or_else(|| Activity::of_kind(self.kind))
    }
}

/// A node's standing in this run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeView {
    /// The address that answered and how it was reached.
    pub reached: Option<(String, Route)>,
    /// Addresses tried when none answered.
    pub unreachable: Option<Vec<String>>,
    /// The step running on it, if any.
    pub running: Option<usize>,
    /// What `prepare` found there before anything was written.
    pub checked: Option<Vec<CheckItem>>,
}

/// A node's result over the steps it ran, as history and the window name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeResult {
    Passed,
    Failed,
    Unreachable,
    Interrupted,
}

impl NodeResult {
    pub fn label(self) -> &'static str {
        match self {
            NodeResult::Passed => "passed",
            NodeResult::Failed => "failed",
            NodeResult::Unreachable => "unreachable",
            NodeResult::Interrupted => "interrupted",
        }
    }

    /// Folds step results (as `Outcome::label` words) into a node's result: a failed step
    /// fails the node, an interrupted one interrupts it, anything else passes.
    pub fn of_labels<'a>(labels: impl IntoIterator<Item = &'a str>) -> NodeResult {
        let mut result = NodeResult::Passed;
        for l in labels {
            match l {
                "failed" => return NodeResult::Failed,
                "interrupted" => result = NodeResult::Interrupted,
                _ => {}
            }
        }
        result
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunView {
    pub run_id: Option<String>,
    pub log_path: Option<std::path::PathBuf>,
    pub steps: Vec<StepView>,
    pub nodes: BTreeMap<String, NodeView>,
    pub status: Option<RunStatus>,
    /// The run waits for a decision: go on without these nodes, or stop.
    pub waiting: Option<Vec<Left>>,
}

impl RunView {
    /// A view that knows the plan's steps before any of them starts.
    pub fn of_plan(plan: &Plan) -> RunView {
        RunView {
            steps: plan
                .steps
                .iter()
                .map(|s| StepView {
                    id: s.id,
                    node: s.node.clone(),
                    kind: s.kind,
                    title: s.title(),
                    ..StepView::blank()
                })
                .collect(),
            nodes: plan
                .nodes
                .iter()
                .map(|n| (n.clone(), NodeView::default()))
                .collect(),
            ..RunView::default()
        }
    }

    pub fn step(&self, id: usize) -> Option<&StepView> {
        self.steps.get(id)
    }

    /// The step `id`, made known from what an event says of it.
    fn entry(&mut self, id: usize, node: &str, kind: StepKind, title: &str) -> &mut StepView {
        while self.steps.len() <= id {
            let n = self.steps.len();
            self.steps.push(StepView {
                id: n,
                kind,
                ..StepView::blank()
            });
        }
        let s = &mut self.steps[id];
        s.node = node.to_string();
        s.kind = kind;
        s.title = title.to_string();
        s
    }

    /// Folds one event in.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::RunStarted {
                run_id, log_path, ..
            } => {
                self.run_id = Some(run_id.clone());
                self.log_path = log_path.clone();
                self.status = None;
            }
            Event::NodeReached {
                node,
                address,
                route,
            } => {
                let n = self.nodes.entry(node.clone()).or_default();
                n.reached = Some((address.clone(), *route));
                n.unreachable = None;
            }
            Event::NodeUnreachable { node, tried } => {
                let n = self.nodes.entry(node.clone()).or_default();
                n.reached = None;
                n.unreachable = Some(tried.clone());
            }
            Event::StepStarted {
                step,
                node,
                kind,
                title,
            } => {
                self.waiting = None;
                let s = self.entry(*step, node, *kind, title);
                s.status = StepStatus::Running;
                s.started = Some(Local::now());
                s.since = Some(Instant::now());
                self.nodes.entry(node.clone()).or_default().running = Some(*step);
            }
            Event::Line {
                step, stream, text, ..
            } => {
                if *stream == Stream::Notice {
                    if let Some(s) = self.steps.get_mut(*step) {
                        s.notes.push(text.clone());
                    }
                }
            }
            Event::Progress {
                step,
                activity,
                done,
                total,
                files,
                rate,
                eta_secs,
                ..
            } => {
                if let Some(s) = self.steps.get_mut(*step) {
                    s.progress = Some((*done, *total));
                    s.activity = Some(activity.clone());
                    s.files = *files;
                    s.rate = *rate;
                    s.eta_secs = *eta_secs;
                    s.stalled = None;
                }
            }
            Event::Stalled {
                step,
                quiet_secs,
                waiting_on,
                ..
            } => {
                if let Some(s) = self.steps.get_mut(*step) {
                    s.stalled = Some((*quiet_secs, waiting_on.clone()));
                    s.rate = Some(0);
                    s.eta_secs = None;
                }
            }
            Event::StepFinished {
                step,
                node,
                kind,
                title,
                outcome,
            } => {
                let s = self.entry(*step, node, *kind, title);
                s.status = StepStatus::Finished(outcome.clone());
                s.stalled = None;
                if s.started.is_some() {
                    s.finished = Some(Local::now());
                }
                if let Some(n) = self.nodes.get_mut(node) {
                    if n.running == Some(*step) {
                        n.running = None;
                    }
                }
            }
            Event::NodeChecked { node, items } => {
                self.nodes.entry(node.clone()).or_default().checked = Some(items.clone());
            }
            Event::Waiting { without } => self.waiting = Some(without.clone()),
            Event::Found { step, fact, .. } => {
                if let Some(s) = self.steps.get_mut(*step) {
                    s.facts.push(fact.clone());
                }
            }
            Event::RunFinished { status, .. } => {
                self.waiting = None;
                self.status = Some(*status);
                for n in self.nodes.values_mut() {
                    n.running = None;
                }
            }
        }
    }

    /// The outcome of step `id`, once it finished.
    pub fn outcome(&self, id: usize) -> Option<&Outcome> {
        match &self.steps.get(id)?.status {
            StepStatus::Finished(o) => Some(o),
            _ => None,
        }
    }

    /// `node`'s result over the steps it ran so far: unreachable when no address
    /// answered, else failed when one of its steps failed, interrupted when one was.
    pub fn node_result(&self, node: &str) -> NodeResult {
        if self
            .nodes
            .get(node)
            .is_some_and(|n| n.unreachable.is_some())
        {
            return NodeResult::Unreachable;
        }
        NodeResult::of_labels(
            self.steps
                .iter()
                .filter(|s| s.node == node)
                .filter_map(|s| match &s.status {
                    StepStatus::Finished(o) => Some(o.label()),
                    _ => None,
                }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(step: usize, node: &str, kind: StepKind) -> Event {
        Event::StepStarted {
            step,
            node: node.into(),
            kind,
            title: format!("{kind} {node}"),
        }
    }

    fn finished(step: usize, node: &str, kind: StepKind, outcome: Outcome) -> Event {
        Event::StepFinished {
            step,
            node: node.into(),
            kind,
            title: format!("{kind} {node}"),
            outcome,
        }
    }

    #[test]
    fn a_node_fails_with_one_failed_step_and_is_unreachable_when_nothing_answered() {
        let mut v = RunView::default();
        v.apply(&started(0, "home", StepKind::Prepare));
        assert_eq!(v.nodes["home"].running, Some(0));
        v.apply(&finished(0, "home", StepKind::Prepare, Outcome::Passed));
        assert_eq!(v.nodes["home"].running, None);
        v.apply(&started(1, "home", StepKind::Backup));
        v.apply(&Event::Line {
            step: 1,
            node: "home".into(),
            stream: Stream::Notice,
            text: "brought back".into(),
        });
        v.apply(&finished(
            1,
            "home",
            StepKind::Backup,
            Outcome::failed("no"),
        ));
        v.apply(&finished(
            2,
            "home",
            StepKind::Check,
            Outcome::Skipped { reason: "x".into() },
        ));
        assert_eq!(v.node_result("home"), NodeResult::Failed);
        assert_eq!(v.steps[1].notes, ["brought back"]);
        assert!(v.steps[1].finished.is_some());
        assert!(
            v.steps[2].finished.is_none(),
            "skipped before it began: no time"
        );

        v.apply(&Event::NodeUnreachable {
            node: "nas".into(),
            tried: vec!["nas.lan".into()],
        });
        assert_eq!(v.node_result("nas"), NodeResult::Unreachable);
        v.apply(&finished(3, "vps", StepKind::Backup, Outcome::Interrupted));
        assert_eq!(v.node_result("vps"), NodeResult::Interrupted);
        v.apply(&finished(4, "vps", StepKind::Check, Outcome::Passed));
        assert_eq!(v.node_result("vps"), NodeResult::Interrupted);
        assert_eq!(v.node_result("laptop"), NodeResult::Passed);
    }
}
