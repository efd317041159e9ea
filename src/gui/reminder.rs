//! The reminder banner: a backup nobody runs protects nothing, and nothing of wbackup runs
//! in the background to notice. So the window says so when the newest run that passed,
//! in the logbook's history, is older than `remind_after_days` — or when none ever did.
//!
//! The rule is plain Rust (history and "now" in, words out), tested without a display;
//! the backend publishes its words as the `reminder` property whenever it reads the
//! history (on opening a configuration, after each run).

use super::bridge::qobject;
use crate::logbook::Summary;
use chrono::{DateTime, FixedOffset};
use cxx_qt::CxxQtType;
use cxx_qt_lib::QString;
use std::pin::Pin;

/// What the banner asks the person to do. (It alone tells how long ago a run passed: the
/// copies banner says nothing of it, so the window never says it twice.)
const ACTION: &str = "type the restic password and click Backup all.";

/// The banner's words for this history at `now`; None when the last pass is recent.
pub fn reminder(
    history: &[Summary],
    now: DateTime<FixedOffset>,
    remind_after_days: u32,
) -> Option<String> {
    let last_pass = history
        .iter()
        .filter(|run| run.status == "passed")
        .filter_map(|run| {
            let when = run.finished.as_deref().unwrap_or(&run.started);
            DateTime::parse_from_rfc3339(when).ok()
        })
        .max();
    let Some(last_pass) = last_pass else {
        return Some(format!("No successful backup yet: {ACTION}"));
    };
    let age = now.signed_duration_since(last_pass);
    if age <= chrono::Duration::days(i64::from(remind_after_days)) {
        return None;
    }
    let days = age.num_days();
    Some(format!(
        "Your last successful backup was {days} day{} ago: {ACTION}",
        if days == 1 { "" } else { "s" }
    ))
}

impl qobject::Backend {
    /// Publishes the reminder for the history last read ("" when none is due).
    pub(super) fn publish_reminder(mut self: Pin<&mut Self>) {
        let rust = self.rust();
        let Some(config) = rust.config.as_ref() else {
            return;
        };
        let now = chrono::Local::now().fixed_offset();
        let text = reminder(&rust.past_runs, now, config.remind_after_days).unwrap_or_default();
        self.as_mut().set_reminder(QString::from(&text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(status: &str, started: &str, finished: Option<&str>) -> Summary {
        Summary {
            started: started.into(),
            finished: finished.map(Into::into),
            status: status.into(),
            log: "/l".into(),
            steps: vec![],
            problems: vec![],
        }
    }

    fn at(t: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(t).unwrap()
    }

    #[test]
    fn no_pass_ever_is_said() {
        let now = at("2025-03-10T12:00:00+01:00");
        assert_eq!(
            reminder(&[], now, 7).as_deref(),
            Some("No successful backup yet: type the restic password and click Backup all.")
        );
        let failed = [
            run("failed", "2025-03-10T10:00:00+01:00", None),
            run("interrupted", "2025-03-09T10:00:00+01:00", None),
        ];
        assert_eq!(
            reminder(&failed, now, 7).as_deref(),
            Some("No successful backup yet: type the restic password and click Backup all.")
        );
    }

    #[test]
    fn a_recent_pass_needs_no_reminder_and_an_old_one_is_counted_in_days() {
        let history = [
            // Newer, but failed: it does not count.
            run("failed", "2025-03-09T10:00:00+01:00", None),
            run(
                "passed",
                "2025-03-01T09:00:00+01:00",
                Some("2025-03-01T09:30:00+01:00"),
            ),
            run("passed", "2025-02-01T09:00:00+01:00", None),
        ];
        // Exactly 7 days after the pass ended: not yet.
        assert_eq!(reminder(&history, at("2025-03-08T09:30:00+01:00"), 7), None);
        // A minute later: due, counted in whole days.
        assert_eq!(
            reminder(&history, at("2025-03-08T09:31:00+01:00"), 7).as_deref(),
            Some("Your last successful backup was 7 days ago: type the restic password and click Backup all.")
        );
        assert_eq!(
            reminder(&history, at("2025-03-10T12:00:00Z"), 7).as_deref(),
            Some("Your last successful backup was 9 days ago: type the restic password and click Backup all.")
        );
        // A longer interval allowed: no reminder.
        assert_eq!(reminder(&history, at("2025-03-10T12:00:00Z"), 30), None);
        // One day allowed.
        assert_eq!(
            reminder(&history, at("2025-03-02T09:31:00+01:00"), 1).as_deref(),
            Some("Your last successful backup was 1 day ago: type the restic password and click Backup all.")
        );
    }
}
