//! What a failing step found out, reported as typed facts (`Event::Found`) for the
//! problems summary (`crate::problems`): who holds a repository's lock and whether its
//! process still runs, which files restic could not read. Only what a person needs in
//! order to act, found where the step already is (its node, its restic's words).

use super::events::{Event, Fact};
use super::node::Conn;
use super::run::Run;
use crate::plan::Step;

/// Asks the repository's node whether the lock's process still runs there.
const LOCK_PROCESS: &str = include_str!("sh/lock-process.sh");

/// At most this many unreadable paths are kept for the summary; the log has every one.
pub(crate) const UNREADABLE_KEPT: usize = 100;

impl Run<'_> {
    pub(crate) fn found(&self, step: &Step, fact: Fact) {
        self.sink.emit(Event::Found {
            step: step.id,
            node: step.node.clone(),
            fact,
        });
    }

    /// restic refused to run on `repo` because of another restic's lock: reports who
    /// holds it, and whether its process is gone (only when the lock's host is the
    /// repository's node itself; otherwise nobody here can tell).
    pub(crate) async fn lock_found(&self, step: &Step, conn: &Conn, repo: &str, stderr: &[String]) {
        let Some(mut lock) = crate::problems::parse_lock(repo, stderr) else {
            return;
        };
        let pid = lock.pid.to_string();
        lock.process_gone = match conn
            .script(
                LOCK_PROCESS,
                &[lock.host.as_str(), pid.as_str()],
                &self.cancel,
            )
            .await
            .as_deref()
        {
            Ok([word]) if word == "gone" => Some(true),
            Ok([word]) if word == "running" => Some(false),
            _ => None,
        };
        self.found(step, Fact::Locked(lock));
    }
}

#[cfg(test)]
mod tests {
    use super::LOCK_PROCESS;
    use crate::engine::shtest::run;

    #[test]
    fn the_lock_process_script_tells_running_gone_and_elsewhere() {
        let host = String::from_utf8(
            std::process::Command::new("uname")
                .arg("-n")
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let host = host.trim();
        let me = std::process::id().to_string();
        assert_eq!(run(LOCK_PROCESS, &[host, me.as_str()], "").1, ["running"]);
        // A pid that cannot exist (above the kernel's pid_max limit of 2^22).
        assert_eq!(run(LOCK_PROCESS, &[host, "4194305"], "").1, ["gone"]);
        assert_eq!(
            run(LOCK_PROCESS, &["another-host; rm -rf x", me.as_str()], "").1,
            ["elsewhere"]
        );
    }
}
