//! What each step of a plan runs, as typed values: the engine executes these and
//! `wbackup plan` renders these, so the review a person reads and the run cannot differ.
//!
//! Paths keep their `~` until the node that runs the command is reached: a word says
//! whether it is a path (expanded there) or passed as it is.

use crate::config::expand_home;
use crate::engine::restic;
use crate::shell;

/// One word of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// Passed as it is.
    Lit(String),
    /// A path on the node that runs the command: `~` is expanded there.
    Path(String),
    /// A path given to restic as an exclude pattern that matches exactly it: expanded,
    /// then its pattern characters escaped.
    ExactPattern(String),
}

impl Word {
    pub fn lit(s: impl Into<String>) -> Word {
        Word::Lit(s.into())
    }
    pub fn path(s: impl Into<String>) -> Word {
        Word::Path(s.into())
    }

    /// The word as the node with home folder `home` runs it.
    pub fn expand(&self, home: &str) -> String {
        match self {
            Word::Lit(s) => s.clone(),
            Word::Path(p) => expand_home(p, home),
            Word::ExactPattern(p) => restic::glob_escape(&expand_home(p, home)),
        }
    }

    /// The word as a person could type it on that node (`~` left for their shell).
    pub fn display(&self) -> String {
        match self {
            Word::Lit(s) => shell::quote(s),
            Word::Path(p) => shell::quote_path_for_user(p),
            Word::ExactPattern(p) => shell::quote_path_for_user(&restic::glob_escape(p)),
        }
    }
}

/// A command's words as a node with home folder `home` runs them.
pub fn expand(words: &[Word], home: &str) -> Vec<String> {
    words.iter().map(|w| w.expand(home)).collect()
}

/// A command's words as a person could type them.
pub fn display(words: &[Word]) -> String {
    words
        .iter()
        .map(Word::display)
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a step runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Reach the node (through its addresses in order; none for the orchestrator), then
    /// run the prepare script (`engine/sh/prepare.sh`) with these arguments.
    Prepare {
        addresses: Vec<String>,
        args: Vec<Word>,
        /// How many source paths the arguments carry (the script reports missing ones
        /// by index).
        paths: usize,
    },
    /// One restic command on the node's own repository; the password goes on stdin.
    Restic(Vec<Word>),
    /// One repository's copies brought up to date, hop by hop, in order.
    Replicate(Vec<Hop>),
    /// Every repository's copy in one bucket (the step's target) brought up to date from
    /// the uploading node (the step's node), which holds them all once the replicate
    /// steps ran: one upload per phase for all of them (`engine::replication::upload`).
    Upload(Vec<Upload>),
    /// The orchestrator's records (configuration, forgotten ledger, proofs) sent to the
    /// step's targets.
    Records,
    /// The damaged files of the step's repository on each of its targets replaced from
    /// the first of `donors` (copies whose last proof passed) that holds them sound.
    Heal { donors: Vec<String> },
    /// The step's repository proven restorable on each of its targets, the owner's own
    /// copy included (`engine::verify`).
    Verify,
}

/// One copy of a repository brought up to date from another node's copy: the files it
/// lacks carried by rsync into its staging folder, then checked and installed on it phase
/// by phase by the install script, which also moves to quarantine what the source no
/// longer has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// The node whose copy is read: the owner, or the orchestrator relaying it.
    pub from: String,
    pub to: String,
    /// The copy's place among all the run's copies, when the steps' copies were planned
    /// together (`links::schedule`): a freed turn goes to the copy planned first.
    pub rank: Option<usize>,
}

/// A copy on object storage (DESIGN §11) brought up to date with rclone on the uploading
/// node: its listing read, the files it lacks uploaded and verified phase by phase, what
/// the source no longer has moved to its quarantine (`engine::replication::bucket` runs
/// these words; `wbackup plan` prints them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The repository (its owner's name).
    pub repo: String,
    /// `rclone` and the flags every command of the hop takes (`--config`, `--bwlimit`,
    /// `--transfers`): rclone reads its credentials itself, wbackup never does.
    pub rclone: Vec<Word>,
    /// The uploading node's folder of repositories (`<base>/<repo>/restic` in it): the
    /// uploads of every repository name their files from there.
    pub base: Word,
    /// The repository read, on the uploading node.
    pub source: Word,
    /// The bucket's folder of copies, `REMOTE:PATH`: listed once a run for every copy.
    pub bucket: String,
    /// The copy: `REMOTE:PATH/<repo>/restic`.
    pub copy: String,
    /// Its quarantine: `REMOTE:PATH/.quarantine/<repo>` (one folder per run under it).
    pub quarantine: String,
    /// Quarantine folders older than this are purged (`[replication] quarantine_days`).
    pub quarantine_days: u32,
}
