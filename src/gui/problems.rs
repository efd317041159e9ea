//! The failure box's rows: a run's problems (`crate::problems`), one row per cause, each
//! with its sentence, what to do, and the failed steps it concerns, so that choosing one
//! shows that step's lines in the log (the raw log, one click away).

use super::rows::{Cell, Row};
use super::state::Failure;
use crate::problems::{code, Problem};

/// A problem as the window shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemRow {
    pub problem: Problem,
    /// One line per failed step it concerns: "home — step 3: backup home — exit code 1".
    pub step_labels: Vec<String>,
}

/// The rows for `problems`, each step named as the failures list names it.
pub fn rows(problems: &[Problem], failures: &[Failure]) -> Vec<ProblemRow> {
    problems
        .iter()
        .map(|p| ProblemRow {
            problem: p.clone(),
            step_labels: p
                .steps
                .iter()
                .map(|id| match failures.iter().find(|f| f.step == *id) {
                    Some(f) if f.exit_code >= 0 => format!(
                        "{} — step {}: {} — exit code {}",
                        f.node,
                        id + 1,
                        f.title,
                        f.exit_code
                    ),
                    Some(f) => format!("{} — step {}: {}", f.node, id + 1, f.title),
                    None => format!("step {}", id + 1),
                })
                .collect(),
        })
        .collect()
}

impl Row for ProblemRow {
    const ROLES: &'static [&'static str] =
        &["cause", "nodes", "steps", "stepLabels", "sentence", "todo"];
    fn cells(&self) -> Vec<Cell> {
        let p = &self.problem;
        vec![
            Cell::Text(code(p.cause)),
            Cell::List(p.nodes.clone()),
            Cell::List(p.steps.iter().map(|s| s.to_string()).collect()),
            Cell::List(self.step_labels.clone()),
            Cell::Text(p.sentence.clone()),
            Cell::Text(p.todo.clone()),
        ]
    }
}
