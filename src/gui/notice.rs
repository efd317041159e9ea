//! What the window tells the desktop when a run ends while the window is not the active
//! one: a notification worded from the run's state as the window shows it (the host
//! rows, the failed steps, the run's status), so it says what the window would.
//!
//! The wording is plain Rust, tested without a display; sending it is `crate::desktop`'s.

use super::bridge::qobject;
use super::state::RunState;
use crate::desktop::Notification;
use crate::engine::events::RunStatus;
use crate::problems::and_list;
use cxx_qt::CxxQtType;

/// The notification for a run that ended (None while it runs or before any run).
pub fn run_ended(state: &RunState) -> Option<Notification> {
    if state.running {
        return None;
    }
    let status = state.finished?;
    let nodes = |n: usize| format!("{n} node{}", if n == 1 { "" } else { "s" });
    Some(match status {
        RunStatus::Passed => {
            let backing_up = state.hosts.iter().filter(|h| h.role != "storage").count();
            let copied = if state.hosts.len() > 1 {
                " and copied"
            } else {
                ""
            };
            Notification {
                summary: "Backup passed".into(),
                body: format!("{} backed up{copied}.", nodes(backing_up)),
                failed: false,
            }
        }
        RunStatus::Failed => {
            let mut where_ = Vec::<&str>::new();
            for f in &state.failures {
                if !f.node.is_empty() && !where_.contains(&f.node.as_str()) {
                    where_.push(&f.node);
                }
            }
            let summary = if where_.is_empty() {
                "Backup failed".to_string()
            } else {
                format!("Backup failed on {}", and_list(&where_))
            };
            let body = match state.failures.split_first() {
                Some((first, rest)) => {
                    let more = match rest.len() {
                        0 => String::new(),
                        1 => " (and 1 more step failed)".into(),
                        n => format!(" (and {n} more steps failed)"),
                    };
                    format!("{}: {}{more}", first.title, first.message)
                }
                None => "The run failed.".into(),
            };
            Notification {
                summary,
                body,
                failed: true,
            }
        }
        RunStatus::Interrupted => Notification {
            summary: "Backup stopped".into(),
            body: "The run was stopped before it finished; the next run picks up from there."
                .into(),
            failed: false,
        },
    })
}

impl qobject::Backend {
    /// At a run's end: a notification, unless the window is the active one (whoever
    /// looks at it sees the result already).
    pub(super) fn notify_run_end(&self) {
        if *self.window_active() {
            return;
        }
        if let Some(note) = self.rust().state.as_ref().and_then(run_ended) {
            crate::desktop::notify_in_background(note);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::events::{Cause, Event, Outcome};
    use crate::plan::StepKind;
    use std::path::Path;

    fn state() -> RunState {
        let config = crate::config::parse(
            Path::new("test.toml"),
            "orchestrator = \"laptop\"\n[nodes.laptop]\npaths = [\"~/D\"]\n\
             [nodes.home]\naddresses = [\"h\"]\npaths = [\"~/\"]\n\
             [nodes.vps]\naddresses = [\"v\"]\npaths = [\"~/\"]\n\
             [nodes.nas]\naddresses = [\"nas.lan\"]\n",
        )
        .expect("valid config");
        let mut s = RunState::new(&config);
        s.apply(&Event::RunStarted {
            run_id: "r".into(),
            log_path: None,
            steps: 3,
        });
        s
    }

    fn fail(s: &mut RunState, step: usize, node: &str, message: &str) {
        s.apply(&Event::StepStarted {
            step,
            node: node.into(),
            kind: StepKind::Backup,
            title: format!("backup {node}"),
        });
        s.apply(&Event::StepFinished {
            step,
            node: node.into(),
            kind: StepKind::Backup,
            title: format!("backup {node}"),
            outcome: Outcome::Failed {
                cause: Cause::DiskFull,
                exit_code: Some(1),
                message: message.into(),
                stderr_tail: vec![],
            },
        });
    }

    fn finish(s: &mut RunState, status: RunStatus) {
        s.apply(&Event::RunFinished {
            status,
            summary_path: None,
        });
    }

    #[test]
    fn nothing_while_running_or_before_a_run() {
        let s = state();
        assert_eq!(run_ended(&s), None);
    }

    #[test]
    fn a_pass_counts_the_nodes_that_back_up() {
        let mut s = state();
        finish(&mut s, RunStatus::Passed);
        let n = run_ended(&s).unwrap();
        assert_eq!(n.summary, "Backup passed");
        assert_eq!(n.body, "3 nodes backed up and copied.");
        assert!(!n.failed);
    }

    #[test]
    fn a_failure_names_its_nodes_and_first_reason_and_stays() {
        let mut s = state();
        fail(&mut s, 0, "home", "the disk is full");
        fail(&mut s, 1, "vps", "restic failed");
        fail(&mut s, 2, "home", "again");
        finish(&mut s, RunStatus::Failed);
        let n = run_ended(&s).unwrap();
        assert_eq!(n.summary, "Backup failed on home and vps");
        assert_eq!(
            n.body,
            "backup home: the disk is full (and 2 more steps failed)"
        );
        assert!(n.failed);
    }

    #[test]
    fn a_stop_is_said_and_goes_away() {
        let mut s = state();
        finish(&mut s, RunStatus::Interrupted);
        let n = run_ended(&s).unwrap();
        assert_eq!(n.summary, "Backup stopped");
        assert!(!n.failed);
    }

    #[test]
    fn lists_read_as_sentences() {
        assert_eq!(and_list(&["a"]), "a");
        assert_eq!(and_list(&["a", "b", "c"]), "a, b and c");
    }
}
