//! The copies matrix (DESIGN §10): one row per repository, one column per node, and in
//! each cell what a person needs to trust that copy as a restore point — how old its
//! latest snapshot is, whether it holds every snapshot of its source, and what its last
//! restore drill proved and when.
//!
//! It exists so that `wbackup status` and the window's Copies view say the same thing
//! from the same facts. It is pure: the caller lists the repository files on the nodes it
//! reached (no password, no restic) and reads the proof ledger; this module compares the
//! snapshot ids each copy holds with its owner's, picks each copy's last proof, decides
//! the copy's [`State`], and words the banner the window shows when something needs a
//! person. A node that cannot be reached still has its column: the ledger's last word on
//! it, with its age.

use crate::engine::verify::Proof;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// What one copy looks like now, from its files and the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// In sync with its source, and its last drill passed within `[verify] every_days`.
    Proven,
    /// In sync, but never proven, or its last passing proof is older than `every_days`.
    Unproven,
    /// It lacks snapshots its source has (or holds some its source no longer has).
    Behind,
    /// The node holds no copy at all (or the owner lost its own repository).
    Missing,
    /// Its last drill failed, or its files cannot be listed soundly.
    Failed,
    /// The node cannot be reached now: the cell shows what the ledger last knew.
    Unknown,
}

impl State {
    /// The word the table, the JSON and QML key on.
    pub fn word(self) -> &'static str {
        match self {
            State::Proven => "proven",
            State::Unproven => "unproven",
            State::Behind => "behind",
            State::Missing => "missing",
            State::Failed => "failed",
            State::Unknown => "unknown",
        }
    }
}

/// What a reached node holds of one repository: its snapshot files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Holding {
    /// Snapshot id (the file name under `snapshots/`) -> the file's mtime (epoch seconds).
    pub snapshots: BTreeMap<String, f64>,
    /// Why the listing cannot be trusted to be complete, when it cannot.
    pub unsound: Option<String>,
}

/// What a node showed: the repositories it holds a copy of, or why it was not reached.
pub type Seen = Result<BTreeMap<String, Holding>, String>;

/// How old a proof may be and still count (`[verify]`).
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub every_days: u32,
    pub warn_after_days: u32,
}

impl Policy {
    pub fn of(config: &crate::config::Config) -> Policy {
        Policy {
            every_days: config.verify.every_days,
            warn_after_days: config.verify.warn_after_days,
        }
    }

    /// How long a passing proof counts as fresh. `every_days = 0` (verify every run)
    /// still lets a proof count for a day, or no copy could ever show as proven.
    fn fresh_for(self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.every_days.max(1)))
    }
}

/// A copy's last proof, as the matrix shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastProof {
    /// RFC 3339.
    pub time: String,
    pub proven: bool,
    pub message: String,
    pub snapshot: Option<String>,
    pub files: usize,
    pub bytes: u64,
    pub read_data: Option<String>,
}

/// One cell: repository `repo` as node `holder` holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CopyCell {
    pub repo: String,
    pub holder: String,
    pub state: State,
    /// Whether `holder` was reached now; when not, the snapshot fields are unknown.
    pub reachable: bool,
    pub snapshots: Option<usize>,
    /// Snapshots of the source this copy lacks (unknown when either side was not reached).
    pub behind: Option<usize>,
    /// Snapshots this copy holds that its source no longer has.
    pub extra: Option<usize>,
    /// The latest snapshot held (short id) and when it was written (RFC 3339).
    pub latest_snapshot: Option<String>,
    pub latest_snapshot_time: Option<String>,
    /// The last proof in the ledger, passed or not.
    pub proof: Option<LastProof>,
    /// When this copy last passed a drill (RFC 3339), if ever.
    pub last_proven: Option<String>,
    /// One sentence: why the copy is in its state.
    pub note: String,
}

/// The whole matrix: repositories (rows) by nodes (columns), cells row by row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Matrix {
    pub repos: Vec<String>,
    pub nodes: Vec<String>,
    pub cells: Vec<CopyCell>,
}

impl Matrix {
    pub fn cell(&self, repo: &str, holder: &str) -> Option<&CopyCell> {
        self.cells
            .iter()
            .find(|c| c.repo == repo && c.holder == holder)
    }
}

/// Builds the matrix: `repos` are the repositories (one per node that backs up, named
/// after it), `nodes` every node, `seen` what each node showed (a node absent from it
/// counts as not reached), `ledger` the proofs oldest first.
pub fn matrix(
    repos: &[String],
    nodes: &[String],
    seen: &HashMap<String, Seen>,
    ledger: &[Proof],
    policy: Policy,
    now: DateTime<Utc>,
) -> Matrix {
    let mut cells = Vec::new();
    for repo in repos {
        let source = match seen.get(repo) {
            Some(Ok(held)) => held.get(repo).filter(|h| h.unsound.is_none()),
            _ => None,
        };
        for holder in nodes {
            let proofs = Proofs::of(ledger, repo, holder);
            let held = match seen.get(holder) {
                Some(Ok(held)) => Ok(held.get(repo)),
                Some(Err(why)) => Err(why.as_str()),
                None => Err("not reached"),
            };
            cells.push(cell(repo, holder, held, source, &proofs, policy, now));
        }
    }
    Matrix {
        repos: repos.to_vec(),
        nodes: nodes.to_vec(),
        cells,
    }
}

/// The ledger's last word on one copy: its last proof and its last passing one.
struct Proofs<'a> {
    last: Option<&'a Proof>,
    last_passed: Option<&'a Proof>,
}

impl<'a> Proofs<'a> {
    fn of(ledger: &'a [Proof], repo: &str, holder: &str) -> Proofs<'a> {
        let mut mine = ledger
            .iter()
            .rev()
            .filter(|p| p.repo == repo && p.holder == holder);
        let last = mine.clone().next();
        Proofs {
            last,
            last_passed: mine.find(|p| p.proven),
        }
    }
}

fn parse_time(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn epoch_time(secs: f64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(secs as i64, 0)
}

/// How long ago `then` was, in the largest unit that keeps the number small: "just
/// now", "12 min", "5 h", "3 d".
pub fn age(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = now.signed_duration_since(then).num_seconds().max(0);
    match s {
        0..60 => "just now".to_string(),
        60..3600 => format!("{} min ago", s / 60),
        3600..172_800 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// The age of an RFC 3339 time, or "at an unreadable time".
fn age_of(time: &str, now: DateTime<Utc>) -> String {
    parse_time(time)
        .map(|t| age(t, now))
        .unwrap_or_else(|| "at an unreadable time".into())
}

fn cell(
    repo: &str,
    holder: &str,
    held: Result<Option<&Holding>, &str>,
    source: Option<&Holding>,
    proofs: &Proofs,
    policy: Policy,
    now: DateTime<Utc>,
) -> CopyCell {
    let mut c = CopyCell {
        repo: repo.to_string(),
        holder: holder.to_string(),
        state: State::Unknown,
        reachable: held.is_ok(),
        snapshots: None,
        behind: None,
        extra: None,
        latest_snapshot: None,
        latest_snapshot_time: None,
        proof: proofs.last.map(|p| LastProof {
            time: p.time.clone(),
            proven: p.proven,
            message: p.message.clone(),
            snapshot: p.snapshot.clone(),
            files: p.files,
            bytes: p.bytes,
            read_data: p.read_data.clone(),
        }),
        last_proven: proofs.last_passed.map(|p| p.time.clone()),
        note: String::new(),
    };
    let proof_words = proof_words(proofs, now);
    let held = match held {
        Err(why) => {
            c.note = format!("node unreachable now ({why}); {proof_words}");
            return c;
        }
        Ok(None) => {
            c.state = State::Missing;
            c.note = if repo == holder {
                format!("{holder} holds no repository of its own yet: run a backup")
            } else {
                format!("{holder} holds no copy of {repo}: run a backup to replicate it")
            };
            return c;
        }
        Ok(Some(h)) => h,
    };
    c.snapshots = Some(held.snapshots.len());
    let latest = held
        .snapshots
        .iter()
        .map(|(id, t)| (id, source.and_then(|s| s.snapshots.get(id)).unwrap_or(t)))
        .max_by(|a, b| a.1.total_cmp(b.1));
    c.latest_snapshot = latest.map(|(id, _)| id.get(..8).unwrap_or(id).to_string());
    c.latest_snapshot_time = latest
        .and_then(|(_, t)| epoch_time(*t))
        .map(|t| t.to_rfc3339());
    if let Some(why) = &held.unsound {
        c.state = State::Failed;
        c.note = format!("its files cannot be listed soundly: {why}");
        return c;
    }
    if let Some(source) = source {
        let behind = source
            .snapshots
            .keys()
            .filter(|id| !held.snapshots.contains_key(*id))
            .count();
        let extra = held
            .snapshots
            .keys()
            .filter(|id| !source.snapshots.contains_key(*id))
            .count();
        c.behind = Some(behind);
        c.extra = Some(extra);
    }
    let last_failed = proofs.last.is_some_and(|p| !p.proven);
    let fresh = proofs
        .last_passed
        .filter(|_| !last_failed)
        .and_then(|p| parse_time(&p.time))
        .is_some_and(|t| now.signed_duration_since(t) < policy.fresh_for());
    (c.state, c.note) = match (c.behind, c.extra) {
        _ if last_failed => (
            State::Failed,
            format!("{proof_words}: run a backup, which heals it from a sound copy"),
        ),
        (Some(b), _) if b > 0 => (
            State::Behind,
            format!("{b} snapshot(s) behind its source: run a backup to bring it up to date"),
        ),
        (_, Some(x)) if x > 0 => (
            State::Behind,
            format!("holds {x} snapshot(s) its source no longer has: run a backup"),
        ),
        (None, _) if fresh => (
            State::Proven,
            format!("{proof_words}; its source was not reached, so not compared"),
        ),
        (None, _) => (
            State::Unproven,
            format!("{proof_words}; its source was not reached, so not compared"),
        ),
        _ if fresh => (State::Proven, format!("in sync; {proof_words}")),
        _ => (
            State::Unproven,
            format!("in sync; {proof_words}: run `wbackup verify` to prove it"),
        ),
    };
    c
}

/// "last proven 3 d ago", "last drill failed 2 h ago: <why>", "never proven".
fn proof_words(proofs: &Proofs, now: DateTime<Utc>) -> String {
    match (proofs.last, proofs.last_passed) {
        (None, _) => "never proven".to_string(),
        (Some(p), _) if p.proven => format!("last proven {}", age_of(&p.time, now)),
        (Some(p), passed) => {
            let before = passed
                .map(|q| format!(" (last proven {})", age_of(&q.time, now)))
                .unwrap_or_default();
            format!(
                "last drill failed {}{before}: {}",
                age_of(&p.time, now),
                p.message
            )
        }
    }
}

impl CopyCell {
    /// The cell as two short lines for a table or a grid: the proof, then the snapshots.
    pub fn lines(&self, now: DateTime<Utc>) -> [String; 2] {
        let proof = match &self.proof {
            None => "never proven".to_string(),
            Some(p) if p.proven => format!("proven {}", age_of(&p.time, now)),
            Some(p) => format!("FAILED {}", age_of(&p.time, now)),
        };
        let first = match self.state {
            State::Unknown => format!("unreachable, {proof}"),
            State::Missing => "no copy".to_string(),
            _ => proof,
        };
        let latest = self
            .latest_snapshot_time
            .as_deref()
            .and_then(parse_time)
            .map(|t| format!("latest {}", age(t, now)));
        let sync = match (self.behind, self.extra) {
            (Some(0), Some(0)) => Some("in sync".to_string()),
            (Some(b), _) if b > 0 => Some(format!("{b} behind")),
            (Some(_), Some(x)) if x > 0 => Some(format!("{x} extra")),
            _ => None,
        };
        let second = match (self.state, sync, latest) {
            (State::Unknown, _, _) => "ledger only".to_string(),
            (State::Missing, _, _) => "-".to_string(),
            (_, Some(s), Some(l)) => format!("{s}, {l}"),
            (_, Some(s), None) => format!("{s}, no snapshot"),
            (_, None, Some(l)) => format!("{l}, not compared"),
            (_, None, None) => "no snapshot".to_string(),
        };
        [first, second]
    }

    /// Whether this copy has gone unproven longer than `days`: its last passing proof is
    /// older, or there is none and the copies have existed that long (`since`, the first
    /// run's time).
    fn unproven_for(&self, days: u32, since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        let limit = chrono::Duration::days(i64::from(days));
        match self.last_proven.as_deref().map(parse_time) {
            Some(Some(t)) => now.signed_duration_since(t) > limit,
            Some(None) => true,
            None => since.is_some_and(|t| now.signed_duration_since(t) > limit),
        }
    }
}

/// What the run history tells the banner. (How long ago a run last passed is the
/// window's reminder banner's to say, with the user's `remind_after_days`, not this one's:
/// the two banners never say the same thing.)
#[derive(Debug, Clone, Copy, Default)]
pub struct RunTimes {
    /// When the oldest recorded run that ended started (a run still going has not yet
    /// had the chance to make the copies it lacks).
    pub first: Option<DateTime<Utc>>,
}

impl RunTimes {
    /// From the logbook's history (newest first, as `logbook::history` returns it).
    pub fn of(history: &[crate::logbook::Summary]) -> RunTimes {
        let times = |s: &crate::logbook::Summary| parse_time(&s.started);
        RunTimes {
            first: history
                .iter()
                .filter(|s| s.finished.is_some())
                .filter_map(times)
                .min(),
        }
    }
}

/// "laptop on server", "laptop on server and home on nas", "3 copies (a on b, ...)".
fn name_copies(cells: &[&CopyCell]) -> String {
    let names: Vec<String> = cells
        .iter()
        .map(|c| format!("{} on {}", c.repo, c.holder))
        .collect();
    match names.len() {
        1 => names[0].clone(),
        2 => format!("{} and {}", names[0], names[1]),
        n => format!("{n} copies ({})", names.join(", ")),
    }
}

/// The window's banner about copies: one plain sentence with what to do, or None when
/// every copy is fine. The worst problem is named; others are counted. An old last
/// successful run is not among them: the reminder banner (`gui::reminder`) says that.
pub fn banner(m: &Matrix, policy: Policy, runs: RunTimes, now: DateTime<Utc>) -> Option<String> {
    let warn = policy.warn_after_days;
    let failed: Vec<&CopyCell> = m
        .cells
        .iter()
        // A copy not reached now, or not made yet, was not verified: its last proof says
        // so (the matrix shows it), which is not a failed verification.
        .filter(|c| {
            c.state == State::Failed
                || (!matches!(c.state, State::Unknown | State::Missing)
                    && c.proof.as_ref().is_some_and(|p| !p.proven))
        })
        .collect();
    // Before the first run every copy is missing: that is the window's first start, not
    // a problem to warn about.
    let after_a_run = |c: &&CopyCell| c.state == State::Missing && runs.first.is_some();
    // An owner that lost its own repository is not behind a source: it is the source.
    let lost: Vec<&CopyCell> = m
        .cells
        .iter()
        .filter(after_a_run)
        .filter(|c| c.repo == c.holder)
        .collect();
    let behind: Vec<&CopyCell> = m
        .cells
        .iter()
        .filter(|c| c.state == State::Behind || (after_a_run(c) && c.repo != c.holder))
        .collect();
    let unproven: Vec<&CopyCell> = m
        .cells
        .iter()
        .filter(|c| !failed.contains(c) && !behind.contains(c) && !lost.contains(c))
        .filter(|c| c.unproven_for(warn, runs.first, now))
        .collect();
    let mut sentences = Vec::new();
    if !failed.is_empty() {
        let (what, verb) = if failed.len() == 1 {
            ("it", "fails")
        } else {
            ("them", "fail")
        };
        sentences.push(format!(
            "{} failed verification: run Backup all, which heals {what} from a sound copy, and see Copies if it still {verb}",
            name_copies(&failed)
        ));
    }
    if !lost.is_empty() {
        let owners: Vec<&str> = lost.iter().map(|c| c.repo.as_str()).collect();
        sentences.push(if owners.len() == 1 {
            format!(
                "{} no longer holds its own repository: run Backup all, which brings it back from a copy",
                owners[0]
            )
        } else {
            format!(
                "{} no longer hold their own repositories: run Backup all, which brings them back from their copies",
                crate::problems::and_list(&owners)
            )
        });
    }
    if !behind.is_empty() {
        sentences.push(format!(
            "{} {} not up to date with the source: run Backup all, and check that the node is reachable",
            name_copies(&behind),
            if behind.len() == 1 { "is" } else { "are" }
        ));
    }
    if !unproven.is_empty() {
        sentences.push(format!(
            "{} {} not been proven restorable for over {warn} days: run `wbackup verify`, or Backup all with verification due",
            name_copies(&unproven),
            if unproven.len() == 1 { "has" } else { "have" }
        ));
    }
    let first = sentences.first()?;
    Some(match sentences.len() {
        1 => format!("{first}."),
        n => format!(
            "{first} (and {} more problem{} below).",
            n - 1,
            if n > 2 { "s" } else { "" }
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        parse_time("2026-11-27T12:00:00Z").unwrap()
    }

    fn days_ago(d: i64) -> String {
        (now() - chrono::Duration::days(d)).to_rfc3339()
    }

    fn holding(ids: &[&str]) -> Holding {
        Holding {
            snapshots: ids
                .iter()
                .enumerate()
                .map(|(i, id)| (id.to_string(), 1_700_000_000.0 + i as f64))
                .collect(),
            unsound: None,
        }
    }

    fn proof(repo: &str, holder: &str, days: i64, proven: bool) -> Proof {
        Proof {
            repo: repo.into(),
            holder: holder.into(),
            time: days_ago(days),
            proven,
            message: if proven {
                format!("{repo} on {holder}: 20 files restored and equal")
            } else {
                format!("{repo} on {holder}: data pack damaged")
            },
            ..Default::default()
        }
    }

    const POLICY: Policy = Policy {
        every_days: 7,
        warn_after_days: 14,
    };

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// laptop and home back up; nas stores. Everyone holds everything, in sync.
    fn healthy() -> HashMap<String, Seen> {
        let all = || {
            BTreeMap::from([
                ("laptop".to_string(), holding(&["aaaa1111", "aaaa2222"])),
                ("home".to_string(), holding(&["bbbb1111"])),
            ])
        };
        HashMap::from([
            ("laptop".to_string(), Ok(all())),
            ("home".to_string(), Ok(all())),
            ("nas".to_string(), Ok(all())),
        ])
    }

    fn build(seen: &HashMap<String, Seen>, ledger: &[Proof]) -> Matrix {
        matrix(
            &names(&["laptop", "home"]),
            &names(&["laptop", "home", "nas"]),
            seen,
            ledger,
            POLICY,
            now(),
        )
    }

    fn all_proven(days: i64) -> Vec<Proof> {
        let mut l = vec![];
        for r in ["laptop", "home"] {
            for h in ["laptop", "home", "nas"] {
                l.push(proof(r, h, days, true));
            }
        }
        l
    }

    #[test]
    fn in_sync_copies_proven_within_every_days_are_proven() {
        let m = build(&healthy(), &all_proven(1));
        assert_eq!(m.cells.len(), 6);
        for c in &m.cells {
            assert_eq!(c.state, State::Proven, "{c:#?}");
            assert_eq!(c.behind, Some(0));
            assert!(c.reachable);
        }
        let c = m.cell("laptop", "nas").unwrap();
        assert_eq!(c.snapshots, Some(2));
        assert_eq!(c.latest_snapshot.as_deref(), Some("aaaa2222"));
        assert_eq!(c.lines(now())[0], "proven 24 h ago");
        assert!(
            c.lines(now())[1].starts_with("in sync, latest "),
            "{:?}",
            c.lines(now())
        );
        assert_eq!(
            banner(&m, POLICY, RunTimes { first: Some(now()) }, now()),
            None
        );
    }

    #[test]
    fn an_old_or_missing_proof_leaves_an_in_sync_copy_unproven() {
        let mut ledger = all_proven(8);
        ledger.retain(|p| !(p.repo == "home" && p.holder == "nas"));
        let m = build(&healthy(), &ledger);
        let c = m.cell("laptop", "home").unwrap();
        assert_eq!(c.state, State::Unproven);
        assert!(c.note.contains("last proven 8 d ago"), "{}", c.note);
        let c = m.cell("home", "nas").unwrap();
        assert_eq!(c.state, State::Unproven);
        assert_eq!(c.lines(now())[0], "never proven");
    }

    #[test]
    fn a_copy_lacking_a_snapshot_of_its_source_is_behind_by_that_many() {
        let mut seen = healthy();
        if let Some(Ok(nas)) = seen.get_mut("nas") {
            nas.insert("laptop".into(), holding(&["aaaa1111"]));
        }
        let m = build(&seen, &all_proven(1));
        let c = m.cell("laptop", "nas").unwrap();
        assert_eq!(c.state, State::Behind);
        assert_eq!(c.behind, Some(1));
        assert_eq!(c.lines(now())[1].split(',').next(), Some("1 behind"));
        let b = banner(&m, POLICY, RunTimes::default(), now()).unwrap();
        assert!(b.starts_with("laptop on nas is not up to date"), "{b}");
    }

    #[test]
    fn a_copy_holding_snapshots_its_source_forgot_is_not_in_sync() {
        let mut seen = healthy();
        if let Some(Ok(nas)) = seen.get_mut("nas") {
            nas.insert("home".into(), holding(&["bbbb0000", "bbbb1111"]));
        }
        let m = build(&seen, &all_proven(1));
        let c = m.cell("home", "nas").unwrap();
        assert_eq!(c.state, State::Behind);
        assert_eq!((c.behind, c.extra), (Some(0), Some(1)));
    }

    #[test]
    fn a_run_still_going_does_not_make_missing_copies_a_problem() {
        let summary = |started: &str, finished: Option<&str>| -> crate::logbook::Summary {
            serde_json::from_value(serde_json::json!({
                "started": started, "finished": finished, "status": "running",
                "log": "/l", "steps": []
            }))
            .unwrap()
        };
        let going = [summary("2026-11-27T11:00:00Z", None)];
        assert_eq!(RunTimes::of(&going).first, None);
        let ended = [
            summary("2026-11-27T11:00:00Z", None),
            summary("2026-11-26T11:00:00Z", Some("2026-11-26T11:05:00Z")),
        ];
        assert_eq!(
            RunTimes::of(&ended).first,
            parse_time("2026-11-26T11:00:00Z")
        );
    }

    #[test]
    fn an_owner_that_lost_its_own_repository_is_told_so_not_that_it_is_behind() {
        let mut seen = healthy();
        for owner in ["laptop", "home"] {
            if let Some(Ok(held)) = seen.get_mut(owner) {
                held.remove(owner);
            }
        }
        let m = build(&seen, &all_proven(1));
        assert_eq!(m.cell("laptop", "laptop").unwrap().state, State::Missing);
        let after_a_run = RunTimes { first: Some(now()) };
        let b = banner(&m, POLICY, after_a_run, now()).unwrap();
        assert!(
            b.starts_with("laptop and home no longer hold their own repositories: run Backup all, which brings them back"),
            "{b}"
        );
        assert!(!b.contains("laptop on laptop"), "{b}");
        if let Some(Ok(held)) = seen.get_mut("home") {
            held.insert("home".into(), holding(&["bbbb1111"]));
        }
        let b = banner(&build(&seen, &all_proven(1)), POLICY, after_a_run, now()).unwrap();
        assert!(
            b.starts_with("laptop no longer holds its own repository: run Backup all"),
            "{b}"
        );
    }

    #[test]
    fn no_copy_is_missing_and_a_failed_drill_is_failed() {
        let mut seen = healthy();
        if let Some(Ok(nas)) = seen.get_mut("nas") {
            nas.remove("home");
        }
        let mut ledger = all_proven(3);
        ledger.push(proof("laptop", "home", 1, false));
        let m = build(&seen, &ledger);
        assert_eq!(m.cell("home", "nas").unwrap().state, State::Missing);
        let after_a_run = RunTimes { first: Some(now()) };
        let only_missing = build(&seen, &all_proven(1));
        let b = banner(&only_missing, POLICY, after_a_run, now()).unwrap();
        assert!(b.starts_with("home on nas is not up to date"), "{b}");
        // Before any run, every copy is missing: no banner on a first start.
        let empty: HashMap<String, Seen> = ["laptop", "home", "nas"]
            .iter()
            .map(|n| (n.to_string(), Ok(BTreeMap::new())))
            .collect();
        let fresh = build(&empty, &[]);
        assert!(fresh.cells.iter().all(|c| c.state == State::Missing));
        assert_eq!(banner(&fresh, POLICY, RunTimes::default(), now()), None);
        let c = m.cell("laptop", "home").unwrap();
        assert_eq!(c.state, State::Failed);
        assert!(c.note.contains("data pack damaged"), "{}", c.note);
        assert!(c.note.contains("last proven 3 d ago"), "{}", c.note);
        assert_eq!(c.lines(now())[0], "FAILED 24 h ago");
        let ran = RunTimes { first: Some(now()) };
        let b = banner(&m, POLICY, ran, now()).unwrap();
        assert!(
            b.starts_with("laptop on home failed verification: run Backup all"),
            "{b}"
        );
        assert!(b.ends_with("(and 1 more problem below)."), "{b}");
    }

    #[test]
    fn an_unreachable_node_shows_the_ledgers_last_word_with_its_age() {
        let mut seen = healthy();
        seen.insert("nas".into(), Err("nas.lan: connection refused".into()));
        let m = build(&seen, &all_proven(3));
        for repo in ["laptop", "home"] {
            let c = m.cell(repo, "nas").unwrap();
            assert_eq!(c.state, State::Unknown);
            assert!(!c.reachable);
            assert_eq!(c.snapshots, None);
            assert!(c.proof.as_ref().unwrap().proven);
            assert_eq!(
                c.note,
                "node unreachable now (nas.lan: connection refused); last proven 3 d ago"
            );
            assert_eq!(
                c.lines(now()),
                [
                    "unreachable, proven 3 d ago".to_string(),
                    "ledger only".into()
                ]
            );
        }
        // Not yet a reason for the banner: proven 3 days ago, warned after 14.
        let runs = RunTimes { first: Some(now()) };
        assert_eq!(banner(&m, POLICY, runs, now()), None);
        // A node absent from what was seen is not reached either.
        seen.remove("nas");
        let m = build(&seen, &all_proven(3));
        assert_eq!(m.cell("home", "nas").unwrap().state, State::Unknown);
    }

    #[test]
    fn an_unreachable_owner_leaves_its_copies_uncompared() {
        let mut seen = healthy();
        seen.insert("home".into(), Err("refused".into()));
        let m = build(&seen, &all_proven(1));
        let c = m.cell("home", "nas").unwrap();
        assert_eq!(c.behind, None);
        assert_eq!(c.state, State::Proven);
        assert!(
            c.lines(now())[1].ends_with("not compared"),
            "{:?}",
            c.lines(now())
        );
    }

    #[test]
    fn a_copy_out_of_reach_whose_last_proof_says_so_has_not_failed_verification() {
        let mut seen = healthy();
        seen.insert("nas".into(), Err("unreachable".into()));
        let mut ledger = all_proven(1);
        ledger.push(proof("laptop", "nas", 0, false));
        ledger.push(proof("home", "nas", 0, false));
        let m = build(&seen, &ledger);
        assert_eq!(m.cell("laptop", "nas").unwrap().state, State::Unknown);
        let ran = RunTimes { first: Some(now()) };
        assert!(
            banner(&m, POLICY, ran, now()).is_none_or(|b| !b.contains("failed verification")),
            "{:?}",
            banner(&m, POLICY, ran, now())
        );
        // Reached, the same failed proof is a failed verification.
        let m = build(&healthy(), &ledger);
        let b = banner(&m, POLICY, ran, now()).unwrap();
        assert!(
            b.starts_with("laptop on nas and home on nas failed verification"),
            "{b}"
        );
    }

    #[test]
    fn an_unsound_listing_is_a_failure() {
        let mut seen = healthy();
        if let Some(Ok(nas)) = seen.get_mut("nas") {
            nas.get_mut("home").unwrap().unsound = Some("a folder cannot be read".into());
        }
        let m = build(&seen, &all_proven(1));
        assert_eq!(m.cell("home", "nas").unwrap().state, State::Failed);
    }

    #[test]
    fn the_banner_warns_of_copies_unproven_too_long_and_leaves_the_last_run_to_the_reminder() {
        let m = build(&healthy(), &all_proven(15));
        let recent = RunTimes {
            first: Some(now() - chrono::Duration::days(30)),
        };
        let b = banner(&m, POLICY, recent, now()).unwrap();
        assert!(b.starts_with("6 copies (laptop on laptop, "), "{b}");
        assert!(
            b.contains("not been proven restorable for over 14 days"),
            "{b}"
        );
        // Every copy proven lately: nothing about copies to say, however long ago a run
        // last passed or whether one ever did. The reminder banner says that, once.
        let m = build(&healthy(), &all_proven(1));
        let long_ago = RunTimes {
            first: Some(now() - chrono::Duration::days(30)),
        };
        assert_eq!(banner(&m, POLICY, long_ago, now()), None);
        // Never proven, but the copies are new: no warning yet.
        let m = build(&healthy(), &[]);
        let new = RunTimes { first: Some(now()) };
        assert_eq!(banner(&m, POLICY, new, now()), None);
    }

    #[test]
    fn ages_are_short() {
        let t = now();
        assert_eq!(age(t, t), "just now");
        assert_eq!(age(t - chrono::Duration::minutes(5), t), "5 min ago");
        assert_eq!(age(t - chrono::Duration::hours(30), t), "30 h ago");
        assert_eq!(age(t - chrono::Duration::days(3), t), "3 d ago");
    }
}
