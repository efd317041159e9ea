//! Run logs on the orchestrator: one text log and one JSON summary per run under
//! `<base_dir>/logs`, so every run can be read again later (the window's history, a
//! person with `less`). The logbook is one more consumer of the engine's events.

use crate::config::Config;
use crate::engine::events::{Event, Outcome, Sink, Stream};
use crate::engine::runview::RunView;
use crate::plan::Plan;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct Logbook {
    log_path: PathBuf,
    summary_path: PathBuf,
    inner: Mutex<Inner>,
}

struct Inner {
    log: BufWriter<File>,
    summary: Summary,
    /// The run as the engine's events tell it (steps, their times and notices).
    view: RunView,
}

/// The JSON summary of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub started: String,
    pub finished: Option<String>,
    /// "passed", "failed", "interrupted"; "running" while the run goes on (or when it
    /// was killed before it could say).
    pub status: String,
    pub log: PathBuf,
    pub steps: Vec<StepSummary>,
    /// The failed steps grouped by cause, each in a plain sentence with what to do
    /// (`crate::problems`); absent from summaries written before they were recorded.
    #[serde(default)]
    pub problems: Vec<crate::problems::Problem>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepSummary {
    pub step: usize,
    pub node: String,
    pub kind: String,
    pub title: String,
    pub result: String,
    /// Why it failed, as a code (`engine::events::Cause`); absent unless it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<crate::engine::events::Cause>,
    pub exit_code: Option<i32>,
    pub message: Option<String>,
    pub stderr_tail: Vec<String>,
    /// When the step started and finished (absent for a step skipped before it began,
    /// and in summaries written before these were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// What the step did that a person must know even when it passed (a repository
    /// brought back from another node's copy instead of created).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Creates `dir` and its missing parents readable by the user only (0700); what wbackup
/// writes there is nobody else's business.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates (or truncates) `path` readable by the user only (0600).
pub fn private_file(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// The orchestrator's logs folder.
pub fn logs_dir(config: &Config) -> PathBuf {
    config.local_base_dir().join("logs")
}

impl Logbook {
    pub fn open(config: &Config, plan: &Plan) -> std::io::Result<Logbook> {
        let dir = logs_dir(config);
        private_dir(&dir)?;
        let now = chrono::Local::now();
        let stem = now.format("run-%Y%m%d-%H%M%S").to_string();
        let mut n = 0;
        let (log_path, summary_path) = loop {
            let s = if n == 0 {
                stem.clone()
            } else {
                format!("{stem}-{n}")
            };
            let l = dir.join(format!("{s}.log"));
            if !l.exists() {
                break (l, dir.join(format!("{s}.json")));
            }
            n += 1;
        };
        let log = BufWriter::new(private_file(&log_path)?);
        let summary = Summary {
            started: now.to_rfc3339(),
            finished: None,
            status: "running".into(),
            log: log_path.clone(),
            steps: vec![],
            problems: vec![],
        };
        let book = Logbook {
            log_path,
            summary_path,
            inner: Mutex::new(Inner {
                log,
                summary,
                view: RunView::of_plan(plan),
            }),
        };
        book.write_summary(&book.inner.lock().expect("fresh lock").summary)?;
        Ok(book)
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
    pub fn summary_path(&self) -> &Path {
        &self.summary_path
    }

    fn write_summary(&self, summary: &Summary) -> std::io::Result<()> {
        let tmp = self.summary_path.with_extension("json.tmp");
        private_file(&tmp)?.write_all(&serde_json::to_vec_pretty(summary)?)?;
        std::fs::rename(&tmp, &self.summary_path)
    }
}

fn stamp() -> String {
    chrono::Local::now().format("%H:%M:%S").to_string()
}

impl Sink for Logbook {
    fn emit(&self, event: Event) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let inner = &mut *inner;
        inner.view.apply(&event);
        let t = stamp();
        let line = match &event {
            Event::RunStarted { run_id, steps, .. } => {
                format!("{t} run {run_id} started: {steps} steps")
            }
            Event::NodeReached {
                node,
                address,
                route,
            } => format!("{t} [{node}] reached via {address} ({route:?})"),
            Event::NodeUnreachable { node, tried } => {
                format!("{t} [{node}] unreachable; tried {}", tried.join(", "))
            }
            Event::StepStarted { step, title, .. } => {
                format!("{t} == step {}: {title}", step + 1)
            }
            Event::Line {
                step,
                node,
                stream,
                text,
            } => {
                let kind = inner.view.step(*step).map(|s| s.kind.to_string());
                let mark = match stream {
                    Stream::Stdout => " ",
                    Stream::Stderr => "!",
                    Stream::Info => "*",
                    Stream::Notice => ">",
                };
                format!("{t} {mark} [{node} {}] {text}", kind.unwrap_or_default())
            }
            Event::Progress { .. } => return,
            Event::Stalled {
                node,
                step,
                quiet_secs,
                waiting_on,
            } => {
                let kind = inner.view.step(*step).map(|s| s.kind.to_string());
                format!(
                    "{t} * [{node} {}] {}",
                    kind.unwrap_or_default(),
                    crate::engine::progress::stalled_text(*quiet_secs, waiting_on)
                )
            }
            Event::NodeChecked { node, items } => format!(
                "{t} [{node}] checked: {}",
                crate::engine::events::checklist(items)
            ),
            Event::Waiting { without } => {
                let names: Vec<&str> = without.iter().map(|l| l.node.as_str()).collect();
                format!(
                    "{t} waiting for a decision: go on without {}",
                    names.join(", ")
                )
            }
            Event::Found { step, node, fact } => {
                let kind = inner.view.step(*step).map(|s| s.kind.to_string());
                let fact = serde_json::to_string(fact).unwrap_or_default();
                format!("{t} > [{node} {}] found: {fact}", kind.unwrap_or_default())
            }
            Event::StepFinished { step, outcome, .. } => {
                inner.summary.problems = crate::problems::of_view(&inner.view);
                let summary = step_summary(&inner.view, *step);
                let line = match &summary.message {
                    Some(m) => format!(
                        "{t} == step {} {}: {}: {m}",
                        step + 1,
                        outcome.label(),
                        summary.title
                    ),
                    None => format!(
                        "{t} == step {} {}: {}",
                        step + 1,
                        outcome.label(),
                        summary.title
                    ),
                };
                // In plan order, also when steps finish side by side (`jobs`).
                let at = inner.summary.steps.partition_point(|s| s.step < *step);
                inner.summary.steps.insert(at, summary);
                line
            }
            Event::RunFinished { status, .. } => {
                inner.summary.finished = Some(chrono::Local::now().to_rfc3339());
                inner.summary.status = status.label().into();
                format!("{t} run finished: {}", inner.summary.status)
            }
        };
        let _ = writeln!(inner.log, "{line}");
        // A waiting run is seen on disk at once (a person may look at the log to see why).
        if matches!(
            event,
            Event::StepFinished { .. } | Event::RunFinished { .. } | Event::Waiting { .. }
        ) {
            let _ = inner.log.flush();
            let _ = self.write_summary(&inner.summary);
        }
    }
}

/// A finished step as the run's summary keeps it.
fn step_summary(view: &RunView, id: usize) -> StepSummary {
    let s = view.step(id).expect("the view knows every finished step");
    let (exit_code, message, stderr_tail) = match view.outcome(id) {
        Some(Outcome::Failed {
            exit_code,
            message,
            stderr_tail,
            ..
        }) => (*exit_code, Some(message.clone()), stderr_tail.clone()),
        Some(Outcome::Skipped { reason } | Outcome::Partial { reason }) => {
            (None, Some(reason.clone()), vec![])
        }
        _ => (None, None, vec![]),
    };
    let millis = chrono::SecondsFormat::Millis;
    StepSummary {
        step: id,
        node: s.node.clone(),
        kind: s.kind.to_string(),
        title: s.title.clone(),
        result: view.outcome(id).map(Outcome::label).unwrap_or("").into(),
        cause: view.outcome(id).and_then(Outcome::cause),
        exit_code,
        message,
        stderr_tail,
        started: s.started.map(|t| t.to_rfc3339_opts(millis, false)),
        finished: s.finished.map(|t| t.to_rfc3339_opts(millis, false)),
        notes: s.notes.clone(),
    }
}

/// Past runs, newest first.
pub fn history(config: &Config) -> Vec<Summary> {
    let Ok(entries) = std::fs::read_dir(logs_dir(config)) else {
        return vec![];
    };
    let mut runs: Vec<Summary> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect();
    runs.sort_by(|a: &Summary, b| b.started.cmp(&a.started));
    runs
}
