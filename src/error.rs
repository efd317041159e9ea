//! Why a command failed, and the one place where the way a command ended becomes its exit
//! status.
//!
//! DESIGN §4 fixes the statuses: 0 when all passed, 1 when anything failed, 2 for a usage
//! or configuration error (nothing was done), 130 when interrupted. `Exit` is that mapping;
//! the command line, the window and a run's `RunStatus` all end through it. `Error` holds
//! the causes a caller may want to tell apart, each worded as a plain sentence a person
//! can act on: its `Display` is what the terminal shows after `error: `.

use crate::engine::node::Unreachable;

/// How a command ended, as its exit status tells a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done.
    Ok,
    /// Something failed (a step, a node, a proof).
    Failed,
    /// The command line or the configuration was wrong; nothing was done.
    Usage,
    /// Ctrl-C, SIGTERM or SIGHUP stopped it.
    Interrupted,
}

impl Exit {
    /// The process exit status (DESIGN §4).
    pub const fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Interrupted => 130,
        }
    }
}

impl From<crate::engine::events::RunStatus> for Exit {
    fn from(status: crate::engine::events::RunStatus) -> Exit {
        use crate::engine::events::RunStatus;
        match status {
            RunStatus::Passed => Exit::Ok,
            RunStatus::Failed => Exit::Failed,
            RunStatus::Interrupted => Exit::Interrupted,
        }
    }
}

/// Why a command could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A wrong argument, configuration or password source: nothing was done.
    #[error("{0}")]
    Usage(String),
    /// Stopped by Ctrl-C, SIGTERM or SIGHUP; what ran was stopped.
    #[error("{0}")]
    Interrupted(String),
    /// No address of `node` answered, or its host key changed.
    #[error("{}", .cause.reason(.node))]
    Unreachable { node: String, cause: Unreachable },
    /// A program wbackup needs is not installed where it must run.
    #[error("{tool} is not installed; fix: sudo apt install {tool}")]
    ToolMissing { tool: String },
    /// Anything else that failed, said with what to do about it.
    #[error("{0}")]
    Failed(String),
}

impl Error {
    /// How a command that failed this way ends.
    pub fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) => Exit::Usage,
            Error::Interrupted(_) => Exit::Interrupted,
            Error::Unreachable { .. } | Error::ToolMissing { .. } | Error::Failed(_) => {
                Exit::Failed
            }
        }
    }
}

/// A command's result: how it ended when it could run, or why it could not.
pub type Result<T = Exit, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_are_the_designs() {
        let codes = [Exit::Ok, Exit::Failed, Exit::Usage, Exit::Interrupted].map(Exit::code);
        assert_eq!(codes, [0, 1, 2, 130]);
        assert_eq!(Error::Usage("x".into()).exit(), Exit::Usage);
        assert_eq!(Error::Interrupted("x".into()).exit(), Exit::Interrupted);
        assert_eq!(Error::Failed("x".into()).exit(), Exit::Failed);
    }

    #[test]
    fn causes_read_as_sentences() {
        let e = Error::ToolMissing {
            tool: "rsync".into(),
        };
        assert_eq!(
            e.to_string(),
            "rsync is not installed; fix: sudo apt install rsync"
        );
        let e = Error::Unreachable {
            node: "home".into(),
            cause: Unreachable {
                tried: vec![("10.0.0.1".into(), "no answer within 16s".into())],
                key_changed: None,
            },
        };
        assert_eq!(
            e.to_string(),
            "home is unreachable; tried 10.0.0.1 (no answer within 16s)"
        );
        assert_eq!(e.exit(), Exit::Failed);
    }
}
