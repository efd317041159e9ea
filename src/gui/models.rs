//! What each list of the window shows, role by role: a host row, a failed step, a past
//! run. The role names are what QML binds to (`model.lastResult`); keeping them next to
//! the values they carry means a new column is one line here and one binding in QML.

use super::rows::{Cell, Row};
use super::state::{Failure, HostRow, HostState};
use crate::logbook::Summary;

fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

/// The word QML's host list keys its colours and labels on.
pub fn state_word(state: HostState) -> &'static str {
    match state {
        HostState::Idle => "idle",
        HostState::Waiting => "waiting",
        HostState::Reached => "reached",
        HostState::Running => "running",
        HostState::Passed => "passed",
        HostState::Failed => "failed",
        HostState::Unreachable => "unreachable",
        HostState::Interrupted => "interrupted",
    }
}

impl Row for HostRow {
    const ROLES: &'static [&'static str] = &[
        "name",
        "role",
        "addresses",
        "address",
        "route",
        "state",
        "step",
        "progress",
        "activity",
        "detail",
        "stalled",
        "lastResult",
        "lastTime",
        "tried",
        "checks",
        "checksOk",
    ];
    fn cells(&self) -> Vec<Cell> {
        vec![
            text(&self.name),
            text(&self.role),
            Cell::List(self.addresses.clone()),
            text(&self.address),
            text(&self.route),
            text(state_word(self.state)),
            text(&self.step),
            Cell::Real(self.progress),
            text(&self.activity),
            text(&self.detail),
            text(&self.stalled),
            text(&self.last_result),
            text(&self.last_time),
            Cell::List(self.tried.clone()),
            Cell::List(self.checks.clone()),
            Cell::Bool(self.checks_ok),
        ]
    }
}

impl Row for Failure {
    const ROLES: &'static [&'static str] =
        &["step", "node", "title", "exitCode", "message", "stderrTail"];
    fn cells(&self) -> Vec<Cell> {
        vec![
            Cell::Int(self.step as i32),
            text(&self.node),
            text(&self.title),
            Cell::Int(self.exit_code),
            text(&self.message),
            Cell::List(self.stderr_tail.clone()),
        ]
    }
}

/// A past run as the history lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct PastRun {
    /// Local time, "2026-11-27 10:20:30".
    pub started: String,
    pub status: String,
    pub log: String,
    pub steps: usize,
    pub failed: usize,
    /// Nodes with a failed step, in step order, each once.
    pub nodes_failed: Vec<String>,
}

impl PastRun {
    pub fn from_summary(run: &Summary) -> PastRun {
        let mut nodes_failed: Vec<String> = Vec::new();
        for s in run.steps.iter().filter(|s| s.result == "failed") {
            if !nodes_failed.contains(&s.node) {
                nodes_failed.push(s.node.clone());
            }
        }
        PastRun {
            started: chrono::DateTime::parse_from_rfc3339(&run.started)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|_| run.started.clone()),
            status: run.status.clone(),
            log: run.log.to_string_lossy().into_owned(),
            steps: run.steps.len(),
            failed: run.steps.iter().filter(|s| s.result == "failed").count(),
            nodes_failed,
        }
    }
}

impl Row for PastRun {
    const ROLES: &'static [&'static str] =
        &["started", "status", "log", "steps", "failed", "nodesFailed"];
    fn cells(&self) -> Vec<Cell> {
        vec![
            text(&self.started),
            text(&self.status),
            text(&self.log),
            Cell::Int(self.steps as i32),
            Cell::Int(self.failed as i32),
            Cell::List(self.nodes_failed.clone()),
        ]
    }
}
