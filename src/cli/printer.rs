//! The sinks that show a run or a verification on the terminal: lines for a person
//! (`Printer`, `ProofPrinter`) or the event stream as JSON lines (`JsonPrinter`).

use crate::engine;
use crate::engine::events::{Event, Outcome, RunStatus, Sink, Stream};
use std::io::Write;

/// Prints events for a person at a terminal. Each event names its step, so the printer
/// keeps nothing.
pub(super) struct Printer;

impl Sink for Printer {
    fn emit(&self, event: Event) {
        let mut out = std::io::stdout().lock();
        let _ = match event {
            Event::RunStarted {
                log_path, steps, ..
            } => match log_path {
                Some(p) => writeln!(out, "run: {steps} steps; log: {}", p.display()),
                None => writeln!(out, "run: {steps} steps"),
            },
            Event::NodeReached {
                node,
                address,
                route,
            } => writeln!(out, "  [{node}] reached via {address} ({route:?})"),
            // Found: the run's end words what was found (`crate::problems`).
            Event::NodeUnreachable { .. } | Event::Progress { .. } | Event::Found { .. } => Ok(()),
            Event::NodeChecked { node, items } => writeln!(
                out,
                "  [{node}] checked: {}",
                crate::engine::events::checklist(&items)
            ),
            Event::Waiting { without } => {
                let names: Vec<&str> = without.iter().map(|l| l.node.as_str()).collect();
                writeln!(out, "  waiting: go on without {}?", names.join(", "))
            }
            Event::Stalled {
                node,
                quiet_secs,
                waiting_on,
                ..
            } => writeln!(
                out,
                "  [{node}] {}",
                engine::progress::stalled_text(quiet_secs, &waiting_on)
            ),
            Event::StepStarted { step, title, .. } => writeln!(out, "==> {}. {title}", step + 1),
            Event::Line {
                stream, text, node, ..
            } => match stream {
                Stream::Stderr => writeln!(out, "  [{node}] ! {text}"),
                _ => writeln!(out, "  [{node}] {text}"),
            },
            Event::StepFinished { title, outcome, .. } => match outcome {
                Outcome::Passed => writeln!(out, "    ok: {title}"),
                Outcome::Skipped { reason } => writeln!(out, "    skipped: {title}: {reason}"),
                Outcome::Failed { message, .. } => {
                    writeln!(out, "    FAILED: {title}: {message}")
                }
                Outcome::Interrupted => writeln!(out, "    interrupted: {title}"),
                Outcome::Partial { reason } => {
                    writeln!(out, "    partly done: {title}: {reason}")
                }
            },
            Event::RunFinished {
                status,
                summary_path,
            } => {
                let word = match status {
                    RunStatus::Passed => "all steps passed",
                    RunStatus::Failed => "some steps FAILED",
                    RunStatus::Interrupted => "interrupted",
                };
                match summary_path {
                    Some(p) => writeln!(out, "run finished: {word} (summary: {})", p.display()),
                    None => writeln!(out, "run finished: {word}"),
                }
            }
        };
    }
}

pub(super) struct JsonPrinter;

impl Sink for JsonPrinter {
    fn emit(&self, event: Event) {
        if let Ok(s) = serde_json::to_string(&event) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{s}");
        }
    }
}
pub(super) struct ProofPrinter {
    pub(super) json: bool,
}

impl engine::verify::ProofOutput for ProofPrinter {
    fn proof(&mut self, proof: &engine::verify::Proof) {
        if !self.json {
            println!("{}", proof.message);
        }
    }
}
