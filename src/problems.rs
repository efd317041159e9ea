//! A finished run's problems in plain sentences, grouped by cause, each with what to do.
//!
//! A failed step says what went wrong in its own words (`Outcome::Failed`), with a cause
//! code and the facts it found (`Event::Found`: who holds a lock, which files restic could
//! not read, the room a node lacks, ...). A person wants fewer, plainer words: "nas could
//! not be reached (tried nas.lan, nas.example.org)" and what to do about it. This module
//! turns the one reading of a run's events (`RunView`) into those sentences, so the
//! terminal summary, the JSON summary (`problems`) and the window's failure box say the
//! same thing. Pure: no I/O. It also holds the parsers that turn restic's words (a lock
//! refusal, an unreadable file) into the typed facts the engine reports.

use crate::engine::events::{Cause, Fact, LockHolder, Outcome};
use crate::engine::runview::{RunView, StepStatus};
use crate::shell;
use serde::{Deserialize, Serialize};

/// restic treats a lock older than this as stale (and one whose process is gone on the
/// same host); `restic unlock` removes only such locks.
pub const STALE_AFTER_S: u64 = 30 * 60;

/// One kind of problem in a run: every failed step it concerns, in one sentence, and what
/// to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub cause: Cause,
    /// The nodes concerned, in plan order, each once.
    pub nodes: Vec<String>,
    /// The failed steps (ids, as in the summary's `steps`) it explains.
    pub steps: Vec<usize>,
    pub sentence: String,
    pub todo: String,
}

/// A failed step as the sentences need it.
struct Failed<'a> {
    node: &'a str,
    title: &'a str,
    message: &'a str,
    stderr_tail: &'a [String],
    facts: &'a [Fact],
    /// The addresses tried when the node could not be reached.
    tried: &'a [String],
}

/// The run's problems: its failed steps grouped by cause, in the order each cause first
/// failed a step.
pub fn of_view(view: &RunView) -> Vec<Problem> {
    let mut groups: Vec<(Cause, Vec<usize>)> = vec![];
    for s in &view.steps {
        if let StepStatus::Finished(Outcome::Failed { cause, .. }) = &s.status {
            match groups.iter_mut().find(|(c, _)| c == cause) {
                Some((_, ids)) => ids.push(s.id),
                None => groups.push((*cause, vec![s.id])),
            }
        }
    }
    groups
        .into_iter()
        .map(|(cause, ids)| {
            let failed: Vec<Failed> = ids.iter().filter_map(|&id| failed(view, id)).collect();
            let mut nodes: Vec<String> = vec![];
            for f in &failed {
                if !nodes.iter().any(|n| n == f.node) {
                    nodes.push(f.node.to_string());
                }
            }
            let mut sentences: Vec<String> = vec![];
            let mut todos: Vec<String> = vec![];
            for f in &failed {
                let (s, t) = words(cause, f);
                for (all, one) in [(&mut sentences, s), (&mut todos, t)] {
                    if !all.contains(&one) {
                        all.push(one);
                    }
                }
            }
            Problem {
                cause,
                nodes,
                steps: ids,
                sentence: sentences.join(" "),
                todo: todos.join(" "),
            }
        })
        .collect()
}

fn failed(view: &RunView, id: usize) -> Option<Failed<'_>> {
    let s = view.step(id)?;
    let Some(Outcome::Failed {
        message,
        stderr_tail,
        ..
    }) = view.outcome(id)
    else {
        return None;
    };
    Some(Failed {
        node: &s.node,
        title: &s.title,
        message,
        stderr_tail,
        facts: &s.facts,
        tried: view
            .nodes
            .get(&s.node)
            .and_then(|n| n.unreachable.as_deref())
            .unwrap_or(&[]),
    })
}

/// The sentence and what to do, for one failed step of a cause.
fn words(cause: Cause, f: &Failed) -> (String, String) {
    let node = shell::inert(f.node);
    let fact = |pick: fn(&Fact) -> bool| f.facts.iter().find(|x| pick(x));
    match cause {
        // A step of a reached node that failed for another node out of reach (a
        // verification of its copies there): its own message names that node.
        Cause::Unreachable if f.tried.is_empty() => (
            sentence(f.message),
            "Check that the node named is switched on and connected, and that its SSH server runs; then run again.".into(),
        ),
        Cause::Unreachable => (
            format!("{node} could not be reached (tried {}).", tried(f)),
            format!("Check that {node} is switched on and connected, and that its SSH server runs; then run again."),
        ),
        Cause::LoginRefused => (
            format!("{node} answered but refused the login (tried {}).", tried(f)),
            format!("Check `user` in [nodes.{node}] and that your SSH key is authorized there (`ssh-copy-id`), then run again."),
        ),
        Cause::HostKeyChanged => host_key(&node, fact(|x| matches!(x, Fact::HostKeyChanged { .. }))),
        Cause::WrongPassword => (
            sentence(f.message),
            "Type the password again (the one every repository was created with) and run again.".into(),
        ),
        Cause::ToolMissing => {
            let tools = match fact(|x| matches!(x, Fact::ToolsMissing { .. })) {
                Some(Fact::ToolsMissing { tools }) => tools.clone(),
                _ => vec!["restic".into(), "rsync".into()],
            };
            let tools: Vec<String> = tools.iter().map(|t| shell::inert(t)).collect();
            let verb = if tools.len() == 1 { "is" } else { "are" };
            (
                format!("{} {verb} not installed on {node}.", and_list(&tools)),
                format!("Install {} on {node}: `sudo apt install {}`.", if tools.len() == 1 { "it" } else { "them" }, tools.join(" ")),
            )
        }
        Cause::DiskFull => (
            match fact(|x| matches!(x, Fact::Room { .. })) {
                Some(Fact::Room { free_kb, need_kb }) => format!(
                    "{node} has {} free and this run would write up to about {} there; nothing was written on {node}.",
                    crate::engine::human_kb(*free_kb),
                    crate::engine::human_kb(*need_kb)
                ),
                _ => format!("{node}'s disk is full: {} could not write.", shell::inert(f.title)),
            },
            format!("Free some space on {node} (or give it a bigger disk), then run again."),
        ),
        Cause::ReadOnlyDisk => (
            format!("{node}'s disk is read-only: {} could not write.", shell::inert(f.title)),
            format!("Remount it read-write on {node} (a disk that turned read-only by itself may be failing: check it first), then run again."),
        ),
        Cause::Locked => match fact(|x| matches!(x, Fact::Locked(_))) {
            Some(Fact::Locked(lock)) => locked(&node, lock),
            _ => (
                sentence(f.message),
                "Wait for the other restic to finish, then run again.".into(),
            ),
        },
        Cause::UnreadableFiles => unreadable(&node, f),
        Cause::MissingSource => (sentence(f.message), format!("Create the missing paths on {node}, or fix `paths` in [nodes.{node}], then run again.")),
        Cause::Damaged => (sentence(f.message), "The next run heals a damaged copy from a proven one; choose the problem to read what was found.".into()),
        Cause::Guarded => (sentence(f.message), "Nothing was overwritten. Choose the problem to read the step's log; use `--accept-shrink REPO` only after checking the source.".into()),
        Cause::Busy => (sentence(f.message), "Wait for the other run to finish, then run again.".into()),
        Cause::Unrecordable => (sentence(f.message), "Make the orchestrator's base_dir writable, then run again.".into()),
        Cause::Other => (sentence(f.message), "Choose the problem to read the step's log.".into()),
    }
}

/// The addresses tried, each with what went wrong there when the step said.
fn tried(f: &Failed) -> String {
    let mut out: Vec<String> = f
        .tried
        .iter()
        .map(|a| {
            let why = f
                .stderr_tail
                .iter()
                .find_map(|l| l.strip_prefix(&format!("{a}: ")));
            match why {
                Some(w) => format!("{a}: {}", w.trim_end_matches('.')),
                None => a.clone(),
            }
        })
        .collect();
    if out.is_empty() {
        out = f.stderr_tail.to_vec();
    }
    shell::inert(&out.join("; "))
}

fn host_key(node: &str, fact: Option<&Fact>) -> (String, String) {
    let said = format!("{node} answered with another host key than the one known for it: either it was reinstalled (or its SSH keys were made anew), or another machine is answering in its place. wbackup did not connect, and never does with a changed key.");
    let todo = match fact {
        Some(Fact::HostKeyChanged { forget }) => format!(
            "If you reinstalled {node}, forget its old key with `{}`, then `ssh` to it once to accept the new one (compare its fingerprint), and run again. If you did not, do not connect: find out who answers.",
            shell::inert(forget)
        ),
        _ => format!("If you reinstalled {node}, remove its old key with `ssh-keygen -R HOST`, then `ssh` to it once to accept the new one, and run again. If you did not, do not connect: find out who answers."),
    };
    (said, todo)
}

fn locked(node: &str, lock: &LockHolder) -> (String, String) {
    let host = shell::inert(&lock.host);
    let mut said = format!(
        "{node}'s repository is locked by restic PID {} on {host} (user {}), since {} ({} ago){}.",
        lock.pid,
        shell::inert(&lock.user),
        shell::inert(&lock.created),
        age(lock.age_s),
        if lock.exclusive { ", exclusively" } else { "" }
    );
    let unlock = format!(
        "restic -r {} unlock",
        shell::inert(&shell::quote(&lock.repo))
    );
    let todo = match lock.process_gone {
        Some(true) => {
            said.push_str(&format!(
                " No process {} runs on {host} any more: the lock is stale.",
                lock.pid
            ));
            format!("Remove the stale lock: on {node}, run `{unlock}` (it removes only stale locks, and asks for the password), then run again.")
        }
        Some(false) => {
            said.push_str(&format!(" Process {} still runs on {host}.", lock.pid));
            format!("Wait for that restic to finish (or stop it on {host}), then run again. Never remove a lock whose process still runs.")
        }
        None => {
            said.push_str(&format!(
                " wbackup cannot see from {node} whether it still runs on {host}{}.",
                if lock.age_s > STALE_AFTER_S {
                    ", though the lock is older than 30 minutes"
                } else {
                    ""
                }
            ));
            format!("On {host}, check whether restic PID {} still runs (`ps -p {}`); wait for it to finish, then run again.", lock.pid, lock.pid)
        }
    };
    (said, todo)
}

fn unreadable(node: &str, f: &Failed) -> (String, String) {
    let paths: &[String] = match f
        .facts
        .iter()
        .find(|x| matches!(x, Fact::Unreadable { .. }))
    {
        Some(Fact::Unreadable { paths }) => paths,
        _ => &[],
    };
    if paths.is_empty() {
        return (
            format!(
                "restic could not read some files on {node}; the snapshot was saved without them."
            ),
            "Choose the problem to see which, in the step's log.".into(),
        );
    }
    const SHOWN: usize = 5;
    const EXCLUDED: usize = 10;
    let quoted: Vec<String> = paths
        .iter()
        .take(SHOWN)
        .map(|p| shell::inert(&shell::quote(p)))
        .collect();
    let more = |n: usize| {
        if paths.len() > n {
            format!(" and {} more (the log lists them)", paths.len() - n)
        } else {
            String::new()
        }
    };
    let n = paths.len();
    let said = format!(
        "restic could not read {n} file{} on {node}: {}{}; the snapshot was saved without {}.",
        if n == 1 { "" } else { "s" },
        quoted.join(", "),
        more(SHOWN),
        if n == 1 { "it" } else { "them" }
    );
    let todo = format!(
        "Give your user read access to {}, or leave {} out: add to `exclude` in [nodes.{node}]: {}{}.",
        if n == 1 { "it" } else { "them" },
        if n == 1 { "it" } else { "them" },
        exclude_line(&paths[..n.min(EXCLUDED)]),
        more(EXCLUDED)
    );
    (said, todo)
}

/// The problems as the terminal shows them after a run: each cause with its nodes, its
/// sentence, and what to do. Empty when there are none.
pub fn render(problems: &[Problem]) -> String {
    let mut out = String::new();
    for p in problems {
        out.push_str(&format!(
            "  {} ({}): {}\n    what to do: {}\n",
            code(p.cause),
            shell::inert(&p.nodes.join(", ")),
            p.sentence,
            p.todo
        ));
    }
    out
}

/// The cause's code, as the JSON summary writes it ("host-key-changed").
pub fn code(cause: Cause) -> String {
    serde_json::to_value(cause)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// The configuration line that excludes exactly `paths`: TOML strings holding restic
/// patterns with `*`, `?`, `[`, `]` and `\` escaped, so each matches only its path.
pub fn exclude_line(paths: &[String]) -> String {
    let items: Vec<String> = paths
        .iter()
        .map(|p| toml::Value::String(crate::engine::restic::glob_escape(p)).to_string())
        .collect();
    shell::inert(&format!("exclude = [{}]", items.join(", ")))
}

/// "a", "a and b", "a, b and c".
pub fn and_list<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [rest @ .., last] => {
            let rest: Vec<&str> = rest.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", rest.join(", "), last.as_ref())
        }
    }
}

/// A step's own message as a sentence: a capital first letter and a full stop.
fn sentence(message: &str) -> String {
    let m = shell::inert(message.trim());
    let mut c = m.chars();
    let mut out: String = match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// An age for people: "40 s", "12 min", "3 h 5 min", "2 days".
fn age(s: u64) -> String {
    match s {
        0..=99 => format!("{s} s"),
        100..=5999 => format!("{} min", s / 60),
        6000..=172_799 => format!("{} h {} min", s / 3600, s / 60 % 60),
        _ => format!("{} days", s / 86400),
    }
}

/// Who holds the lock that made restic refuse, from its words on stderr:
/// "repository is already locked [exclusively] by PID N on HOST by USER (UID …)" and
/// "lock was created at DATE TIME (AGE ago)" (restic 0.14 to 0.19). `repo` is the
/// repository restic was run on; whether the process is gone is not known here.
pub fn parse_lock(repo: &str, stderr: &[String]) -> Option<LockHolder> {
    let at = stderr
        .iter()
        .position(|l| l.contains("repository is already locked "))?;
    let rest = stderr[at].split_once("repository is already locked ")?.1;
    let (exclusive, rest) = match rest.strip_prefix("exclusively ") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.strip_prefix("by PID ")?;
    let (pid, rest) = rest.split_once(" on ")?;
    let (host, rest) = rest.split_once(" by ")?;
    let user = rest.split(" (").next()?.trim();
    let created_line = stderr[at..]
        .iter()
        .find_map(|l| l.trim().strip_prefix("lock was created at "))?;
    let (created, ago) = created_line.rsplit_once(" (")?;
    let age = ago.strip_suffix(" ago)")?;
    Some(LockHolder {
        repo: repo.to_string(),
        pid: pid.trim().parse().ok()?,
        host: host.trim().to_string(),
        user: user.to_string(),
        created: created.trim().to_string(),
        age_s: go_duration_s(age)?,
        exclusive,
        process_gone: None,
    })
}

/// A Go duration as restic prints it ("4.493809268s", "1h2m3.5s", "350ms"), in whole
/// seconds.
fn go_duration_s(text: &str) -> Option<u64> {
    let mut total = 0f64;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..end].parse().ok()?;
        rest = &rest[end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Some(total as u64)
}

/// The path of a file restic could not read, from one of `restic backup --json`'s error
/// lines (`{"message_type":"error",…,"item":PATH}`, on stderr); None for any other line.
pub fn unreadable_item(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
    if v.get("message_type")?.as_str()? != "error" {
        return None;
    }
    let item = v.get("item")?.as_str()?;
    (!item.is_empty()).then(|| item.to_string())
}

#[cfg(test)]
mod tests;
