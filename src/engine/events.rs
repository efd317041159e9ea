//! The event stream a run emits. The terminal printer, the log writer and the window are
//! three consumers of the same events; none of them knows how a step is executed.

pub use super::progress::Activity;
use crate::plan::StepKind;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
    /// wbackup's own words about the step (what it decided, what it found).
    Info,
    /// A fact a person must not miss even when the step passed (a repository brought
    /// back from a copy instead of created): the run's summary keeps it with the step.
    Notice,
}

/// How a node is reached in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    Local,
    Lan,
    Public,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    /// Nothing to do, or not done for a reason that is not a failure.
    Skipped {
        reason: String,
    },
    Failed {
        /// What kind of problem it is, for grouping and for scripts.
        cause: Cause,
        exit_code: Option<i32>,
        message: String,
        /// The last lines the step wrote on stderr.
        stderr_tail: Vec<String>,
    },
    Interrupted,
    /// Done where it could be; a part waits for the next run for a reason reported
    /// elsewhere (a copy on a node that failed `prepare`). Not a failure of its own.
    Partial {
        reason: String,
    },
}

/// Why a step failed, as a code: the message says it in a sentence, this says which kind
/// of sentence it is (`cause` in the JSON summary and events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// No address of the node answered.
    Unreachable,
    /// The node answered with another host key than the one known for it.
    HostKeyChanged,
    /// The node answered but refused the login.
    LoginRefused,
    /// restic refused the password.
    WrongPassword,
    /// restic, rsync or another tool is missing on the node.
    ToolMissing,
    DiskFull,
    ReadOnlyDisk,
    /// Another restic process holds a lock on the repository.
    Locked,
    /// Some source files could not be read (restic saved a snapshot without them).
    UnreadableFiles,
    /// A configured source path does not exist.
    MissingSource,
    /// A copy's own files are damaged (a failed proof, a heal that found no donor).
    Damaged,
    /// A replication guard refused to touch a copy (another repository, lost snapshots).
    Guarded,
    /// Another run is in progress on this machine.
    Busy,
    /// This machine cannot record the run (logs, lock or ledger not writable).
    Unrecordable,
    #[default]
    Other,
}

impl Outcome {
    pub fn failed(message: impl Into<String>) -> Outcome {
        Outcome::failed_as(Cause::Other, message)
    }

    pub fn failed_as(cause: Cause, message: impl Into<String>) -> Outcome {
        Outcome::Failed {
            cause,
            exit_code: None,
            message: message.into(),
            stderr_tail: vec![],
        }
    }

    /// Why the step failed; None when it did not.
    pub fn cause(&self) -> Option<Cause> {
        match self {
            Outcome::Failed { cause, .. } => Some(*cause),
            _ => None,
        }
    }
    pub fn is_ok(&self) -> bool {
        matches!(
            self,
            Outcome::Passed | Outcome::Skipped { .. } | Outcome::Partial { .. }
        )
    }
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Skipped { .. } => "skipped",
            Outcome::Failed { .. } => "failed",
            Outcome::Interrupted => "interrupted",
            Outcome::Partial { .. } => "partly done",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Passed,
    Failed,
    Interrupted,
}

impl RunStatus {
    /// The word a summary and the history use.
    pub fn label(self) -> &'static str {
        match self {
            RunStatus::Passed => "passed",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// The process exit status for a run that ended this way (DESIGN §4).
    pub fn exit_code(self) -> i32 {
        crate::error::Exit::from(self).code()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event")]
pub enum Event {
    RunStarted {
        run_id: String,
        log_path: Option<PathBuf>,
        steps: usize,
    },
    /// A node answered (or not) during `prepare`.
    NodeReached {
        node: String,
        address: String,
        route: Route,
    },
    NodeUnreachable {
        node: String,
        tried: Vec<String>,
    },
    StepStarted {
        step: usize,
        node: String,
        kind: StepKind,
        title: String,
    },
    Line {
        step: usize,
        node: String,
        stream: Stream,
        text: String,
    },
    /// How far a step is, as its tool says; `rate` (bytes/s) and `eta_secs` are
    /// measured by the run (`progress::Metered`), None until they can be told.
    Progress {
        step: usize,
        node: String,
        activity: Activity,
        done: u64,
        total: u64,
        /// Files done and total, when the tool counts them.
        files: Option<(u64, u64)>,
        rate: Option<u64>,
        eta_secs: Option<u64>,
    },
    /// A running step's figures have not moved for `quiet_secs` (`progress::STALL_AFTER`
    /// at least); said again while it lasts.
    Stalled {
        step: usize,
        node: String,
        quiet_secs: u64,
        /// What it waits on, in words: "rsync from laptop to home".
        waiting_on: String,
    },
    /// A step ended; it names its node, kind and title again, so that a consumer needs no
    /// table of its own to say which step it was.
    StepFinished {
        step: usize,
        node: String,
        kind: StepKind,
        title: String,
        outcome: Outcome,
    },
    RunFinished {
        status: RunStatus,
        summary_path: Option<PathBuf>,
    },
    /// What `prepare` found on a node before anything was written anywhere: its
    /// checklist (reached, tools, password, room).
    NodeChecked {
        node: String,
        items: Vec<CheckItem>,
    },
    /// Nodes failed their checks and nothing is written yet: the run waits until it is
    /// told to go on without them, or is stopped. Only when the sink asks for a say
    /// (`Sink::ask`); the command line goes on by itself.
    Waiting {
        without: Vec<Left>,
    },
    /// A fact a step found that explains its failure, in typed form: the problems summary
    /// (`crate::problems`) words it for the terminal, the logbook and the window.
    Found {
        step: usize,
        node: String,
        fact: Fact,
    },
}

/// What a failing step found out, beyond its cause: the figures and names a person
/// needs to act (the paths restic could not read, who holds a lock, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "fact", rename_all = "kebab-case")]
pub enum Fact {
    /// restic could not read these source paths; its snapshot was saved without them.
    Unreadable { paths: Vec<String> },
    /// Another restic process holds a lock on the repository.
    Locked(LockHolder),
    /// The node answered with another host key: the command (quoted) that forgets the old
    /// one, for when the node was reinstalled.
    HostKeyChanged { forget: String },
    /// Programs the node lacks (`restic`, `rsync`).
    ToolsMissing { tools: Vec<String> },
    /// Not enough free space for what this run would write there, in KiB.
    Room { free_kb: u64, need_kb: u64 },
}

/// Who holds a restic lock, as restic's refusal and the lock's node tell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LockHolder {
    /// The repository, as its node names it.
    pub repo: String,
    pub pid: u32,
    pub host: String,
    pub user: String,
    /// When restic created it, as restic printed it ("2026-11-27 21:49:58").
    pub created: String,
    /// Its age when restic refused, in seconds.
    pub age_s: u64,
    pub exclusive: bool,
    /// Some(true) when the lock's host is the node itself and no process has that pid
    /// there; Some(false) when one has; None when wbackup could not look (another host).
    pub process_gone: Option<bool>,
}

impl Event {
    /// A progress report as a step makes it: its tool's figures, before the run
    /// measured rate and time left.
    pub fn progress(step: usize, node: &str, activity: Activity, done: u64, total: u64) -> Event {
        Event::Progress {
            step,
            node: node.to_string(),
            activity,
            done,
            total,
            files: None,
            rate: None,
            eta_secs: None,
        }
    }
}

/// One line of a node's checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckItem {
    pub ok: bool,
    pub text: String,
}

/// A checklist on one line: "✓ reached via nas.lan (Lan) · ✗ restic is not installed".
pub fn checklist(items: &[CheckItem]) -> String {
    items
        .iter()
        .map(|i| format!("{} {}", if i.ok { "✓" } else { "✗" }, i.text))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// A node the run would go on without, and why, in one sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Left {
    pub node: String,
    pub why: String,
}

/// Anything that consumes events. Called from the engine's tasks: keep it quick.
pub trait Sink: Send + Sync {
    fn emit(&self, event: Event);

    /// Whether the run should wait for a decision before it goes on without the nodes
    /// that failed their checks: a receiver that says go on (the window's "Continue
    /// without"), or None to go on at once (the command line). Stopping the run is the
    /// other answer.
    fn ask(&self) -> Option<tokio::sync::oneshot::Receiver<()>> {
        None
    }
}

impl<F: Fn(Event) + Send + Sync> Sink for F {
    fn emit(&self, event: Event) {
        self(event)
    }
}

/// Sends every event to each of several consumers, in order.
pub struct Fanout(pub Vec<Box<dyn Sink>>);

impl Sink for Fanout {
    fn emit(&self, event: Event) {
        if let Some((last, rest)) = self.0.split_last() {
            for s in rest {
                s.emit(event.clone());
            }
            last.emit(event);
        }
    }

    fn ask(&self) -> Option<tokio::sync::oneshot::Receiver<()>> {
        self.0.iter().find_map(|s| s.ask())
    }
}
