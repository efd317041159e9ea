//! One hop: a copy brought up to date from another. rsync carries the files the copy
//! lacks into its staging folder (`transfer_argv`, run on the orchestrator), then the
//! install script (`sh/install.sh`, run on the target) checks each against its name,
//! moves them in phase by phase and sends what the source no longer has to quarantine.

use super::{direct, missing, phase_of, RepoFiles, PHASES};
use crate::config::Config;
use crate::engine::node::Conn;
use crate::engine::process::{self, At, Input, Job, Stream};
use crate::engine::run::{Slot, Transfers};
use crate::links;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Installs a hop's staged files, phase by phase, then its deletion pass.
const INSTALL: &str = include_str!("../sh/install.sh");

/// Removes a failed hop's staging folder.
const UNSTAGE: &str = include_str!("../sh/unstage.sh");

/// One hop: `src`'s copy of a repository into `dst`'s.
pub struct Hop<'a> {
    pub repo: &'a str,
    pub src: &'a Conn,
    pub dst: &'a Conn,
    pub src_files: &'a RepoFiles,
    pub dst_files: &'a mut RepoFiles,
    /// Files the replica holds that the source no longer has (see `extras`): the
    /// deletion pass moves them into `<base>/.quarantine/<repo>/<stamp>/`.
    pub gone: &'a [String],
    pub stamp: &'a str,
    /// Set when the transfer goes straight from `src` to `dst`, both remote
    /// (`[replication] direct`).
    pub direct: Option<DirectHop<'a>>,
    /// Where the transfer's rate is kept for later plans (`links`); None: not kept.
    pub measured: Option<&'a Config>,
    /// The run's turns to send and receive, taken for the transfer alone (the set-up and
    /// the check on arrival do not hold a link). None: the caller holds the hop's turn.
    pub(crate) turns: Option<std::rc::Rc<Transfers>>,
}

/// What a direct transfer needs from the run.
pub struct DirectHop<'a> {
    pub config: &'a Config,
    /// The run's private folder (the lent agent's socket goes there).
    pub dir: PathBuf,
    /// The orchestrator's copy, up to date in this step: the transfer's source when the
    /// direct path fails. None when it is not.
    pub relay: Option<std::rc::Rc<Conn>>,
}

/// Reports for the step's log.
pub trait HopOutput {
    fn line(&mut self, stream: Stream, text: String);
    fn progress(&mut self, done: u64);
    /// The hop that the next reports are about.
    fn hop(&mut self, _from: &str, _to: &str) {}
    /// The target read `done` of the `total` files that arrived (checking each against
    /// its name).
    fn checking(&mut self, _done: u64, _total: u64) {}
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HopError {
    /// The replica holds another repository: nothing was touched.
    Foreign,
    Failed(String),
    /// A direct path failed (why) and the relay's copy was not up to date yet: the hop
    /// can go through the relay once it is.
    NoPath(String),
    Cancelled,
}

/// Where a hop stages what it carries to a node whose `base_dir` is `base`.
pub fn stage_path(base: &str, repo: &str) -> String {
    format!("{base}/.wbackup-incoming/{repo}")
}

/// The quarantine of `repo`'s copy on a node whose `base_dir` is `base` (one folder per
/// hop under it, named by the hop's time).
pub fn quarantine_path(base: &str, repo: &str) -> String {
    format!("{base}/.quarantine/{repo}")
}

/// The transfer of a hop, run on the orchestrator: the names come on stdin. `shell` is
/// rsync's `-e` when a side is remote.
pub fn transfer_argv(src: String, dst: String, shell: Option<String>) -> Vec<String> {
    // -I: a file left in staging by an interrupted hop is never trusted for its size
    // and time (after a power cut it may hold anything); rsync compares its content
    // with the source's and sends only what differs. Staging is empty otherwise.
    // -L: a file the source reaches through a link (a data/ moved to a bigger disk and
    // linked back) is sent as the file it points to, as restic reads it.
    let mut argv = vec!["rsync".to_string()];
    argv.extend(transfer_flags());
    if let Some(sh) = shell {
        argv.push("-e".into());
        argv.push(sh);
    }
    argv.push(src);
    argv.push(dst);
    argv
}

/// rsync's flags for a hop's transfer, relayed or direct (`transfer_argv` says why each).
pub fn transfer_flags() -> Vec<String> {
    [
        "-tpIL",
        "-s",
        "--files-from=-",
        "--info=progress2",
        "--no-motd",
    ]
    .map(String::from)
    .to_vec()
}

/// The install script's arguments (its header in `sh/install.sh` says what each is);
/// the phase order is handed in from `PHASES`, defined once.
pub fn install_args(stage: &str, repo: &str, config_sha: &str, quarantine: &str) -> Vec<String> {
    [stage, repo, config_sha, quarantine]
        .into_iter()
        .chain(PHASES)
        .map(String::from)
        .collect()
}

/// Brings `hop.dst` up to date with `hop.src`: the additive pass (one rsync of the missing
/// files into the replica's staging folder, then `INSTALL`), then the deletion pass.
/// Two commands in all, whatever the number of files.
pub async fn hop(
    hop: Hop<'_>,
    cancel: &CancellationToken,
    out: &mut dyn HopOutput,
    done: u64,
) -> Result<u64, HopError> {
    let src_sha = same_repository(&hop)?;
    out.hop(&hop.src.node.name, &hop.dst.node.name);
    let todo = in_order(missing(hop.src_files, hop.dst_files));
    let need_config = hop.dst_files.config_sha.is_none();
    if todo.is_empty() && !need_config && hop.gone.is_empty() {
        out.line(
            Stream::Info,
            format!("{} on {}: up to date", hop.repo, hop.dst.node.name),
        );
        return Ok(done);
    }
    bring(hop, &src_sha, need_config, &todo, cancel, out, done).await
}

/// Part of a hop, taken while the rest of the source's data is still on its way: the data
/// files named in `only` that the replica lacks, after the keys and config a first copy
/// needs (restic's write order holds). Nothing leaves the copy (`hop.gone` is not read).
/// Ok(0) when the copy lacks none of them.
pub async fn feed(
    hop: Hop<'_>,
    only: &std::collections::HashSet<String>,
    cancel: &CancellationToken,
    out: &mut dyn HopOutput,
) -> Result<u64, HopError> {
    let src_sha = same_repository(&hop)?;
    let todo = in_order(
        missing(hop.src_files, hop.dst_files)
            .into_iter()
            .filter(|(p, _)| phase_of(p) == Some("keys") || only.contains(p))
            .collect(),
    );
    if !todo.iter().any(|(p, _)| phase_of(p) == Some("data")) {
        return Ok(0);
    }
    out.hop(&hop.src.node.name, &hop.dst.node.name);
    let need_config = hop.dst_files.config_sha.is_none();
    let hop = Hop { gone: &[], ..hop };
    bring(hop, &src_sha, need_config, &todo, cancel, out, 0).await
}

/// The source's config, once the replica is known to hold the same repository (or none).
fn same_repository(hop: &Hop<'_>) -> Result<String, HopError> {
    let src_sha = hop.src_files.config_sha.clone().ok_or_else(|| {
        HopError::Failed(format!(
            "{}'s copy on {} has no config",
            hop.repo, hop.src.node.name
        ))
    })?;
    match &hop.dst_files.config_sha {
        Some(dst_sha) if *dst_sha != src_sha => Err(HopError::Foreign),
        _ => Ok(src_sha),
    }
}

/// Files in restic's write order.
fn in_order(mut todo: Vec<(String, u64)>) -> Vec<(String, u64)> {
    todo.sort_by_key(|(p, _)| PHASES.iter().position(|ph| Some(*ph) == phase_of(p)));
    todo
}

/// The transfer of `todo` (and the config when `need_config`), then the install with the
/// hop's deletion pass.
async fn bring(
    hop: Hop<'_>,
    src_sha: &str,
    need_config: bool,
    todo: &[(String, u64)],
    cancel: &CancellationToken,
    out: &mut dyn HopOutput,
    done: u64,
) -> Result<u64, HopError> {
    // `prepare` made `.wbackup-incoming`; INSTALL empties this hop's folder in it.
    let stage = stage_path(&hop.dst.base(), hop.repo);
    let mut list: Vec<u8> = vec![];
    if need_config || !todo.is_empty() {
        let names: Vec<&str> = need_config
            .then_some("config")
            .into_iter()
            .chain(todo.iter().map(|(p, _)| p.as_str()))
            .collect();
        send(&hop, &stage, &names, todo, cancel, out, done).await?;
        list = names
            .iter()
            .flat_map(|n| format!("+ {n}\n").into_bytes())
            .collect();
    }
    list.extend(
        hop.gone
            .iter()
            .flat_map(|g| format!("- {g}\n").into_bytes()),
    );
    install(hop, &stage, src_sha, list, todo, cancel, out, done).await
}

/// The transfer: `names` (config first when the copy has none, then `todo` in phase
/// order) into `stage` on the target: straight from the source when the hop is direct,
/// through the relay's copy when the direct path fails (said once, as a notice).
async fn send(
    hop: &Hop<'_>,
    stage: &str,
    names: &[&str],
    todo: &[(String, u64)],
    cancel: &CancellationToken,
    out: &mut dyn HopOutput,
    done: u64,
) -> Result<(), HopError> {
    let (src_name, dst_name) = (&hop.src.node.name, &hop.dst.node.name);
    let bytes: u64 = todo.iter().map(|(_, s)| s).sum();
    let counts = phase_counts(names.first() == Some(&"config"), todo);
    let how = if hop.direct.is_some() {
        " directly"
    } else {
        ""
    };
    out.line(
        Stream::Info,
        format!(
            "{src_name} → {dst_name}: copying {} file(s){how}, {} ({})",
            names.len(),
            human_bytes(bytes),
            counts.join(", ")
        ),
    );
    let mut src = hop.src;
    if let Some(d) = &hop.direct {
        let opening = Instant::now();
        let opened = direct::open(d.config, &d.dir, hop.src, hop.dst, cancel).await;
        tracing::debug!(
            "{src_name} → {dst_name} ({}): direct path set up in {:.2} s",
            hop.repo,
            opening.elapsed().as_secs_f64()
        );
        let why = match opened {
            Ok(path) => {
                let job = path.job(
                    &transfer_flags(),
                    &hop.src.repo(hop.repo),
                    stage,
                    lines_of(names),
                );
                let at = At::Remote(&path.remote);
                let fin = in_turn(hop, src_name, at, job, bytes, cancel, out, done).await;
                if fin.cancelled {
                    return Err(HopError::Cancelled);
                }
                if fin.success() {
                    return Ok(());
                }
                direct::failure(&fin)
            }
            Err(why) => why,
        };
        // Not planned again from an old measurement.
        if let Some(config) = hop.measured {
            links::forget(config, src_name, dst_name);
        }
        let Some(relay) = d.relay.as_deref() else {
            return Err(HopError::NoPath(why));
        };
        out.line(
            Stream::Notice,
            format!(
                "{src_name} → {dst_name}: no direct path ({why}); {}'s copy relayed through {}",
                hop.repo, relay.node.name
            ),
        );
        src = relay;
    }
    let argv = transfer_argv(
        format!("{}/", src.rsync_spec(&src.repo(hop.repo))),
        format!("{}/", hop.dst.rsync_spec(stage)),
        src.remote
            .as_ref()
            .or(hop.dst.remote.as_ref())
            .map(|r| r.rsync_shell()),
    );
    let job = Job::new(argv)
        .stdin(Input::Bytes(lines_of(names)))
        .carriage_returns();
    // A relay taking over a direct copy waits for its own turn to send.
    let from = &src.node.name;
    let fin = in_turn(hop, from, At::Local, job, bytes, cancel, out, done).await;
    if fin.cancelled {
        return Err(HopError::Cancelled);
    }
    if fin.success() {
        return Ok(());
    }
    let why = if fin.code == Some(24) {
        "files vanished at the source while copying (a prune ran there?); retry later".to_string()
    } else {
        fin.describe()
    };
    // After a lost connection what arrived stays staged: the next run's rsync finds it
    // and sends only the rest (checked on arrival like everything else). After anything
    // else, a full disk above all, nothing of it is kept. (Best effort: the target may be
    // the thing that failed.)
    let disk_full = fin
        .stderr_tail
        .iter()
        .any(|l| l.contains("No space left") || l.contains("quota exceeded"));
    let connection_lost = matches!(fin.code, Some(10 | 12 | 30 | 35 | 255));
    if disk_full || !connection_lost {
        let _ = hop.dst.script(UNSTAGE, &[stage], cancel).await;
    }
    Err(HopError::Failed(format!(
        "copying {} to {dst_name} failed: {why}",
        hop.repo
    )))
}

/// A transfer of `bytes` from `from` to the hop's target, in its turn: carried, timed at
/// the log's debug level, and its rate kept when it succeeds.
#[allow(clippy::too_many_arguments)]
async fn in_turn(
    hop: &Hop<'_>,
    from: &str,
    at: At<'_>,
    job: Job<'_>,
    bytes: u64,
    cancel: &CancellationToken,
    out: &mut dyn HopOutput,
    done: u64,
) -> process::Finished {
    let waiting = Instant::now();
    let turn = turn(hop, from).await;
    let start = Instant::now();
    let fin = carry(at, job, cancel, out, done).await;
    drop(turn);
    tracing::debug!(
        "{from} → {} ({}): turn after {:.2} s, transfer {:.2} s",
        hop.dst.node.name,
        hop.repo,
        (start - waiting).as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    if fin.success() {
        measured(hop, from, bytes, start);
    }
    fin
}

/// The turn for a transfer from `from` to the hop's target, when the hop takes its own.
async fn turn(hop: &Hop<'_>, from: &str) -> Option<Slot> {
    match &hop.turns {
        Some(t) => Some(t.take(hop.repo, from, &hop.dst.node.name).await),
        None => None,
    }
}

/// How many files of each phase a transfer carries, as "data 3, index 1".
fn phase_counts(need_config: bool, todo: &[(String, u64)]) -> Vec<String> {
    PHASES
        .iter()
        .filter_map(|ph| {
            let n = if *ph == "config" {
                usize::from(need_config)
            } else {
                todo.iter().filter(|(p, _)| phase_of(p) == Some(ph)).count()
            };
            (n > 0).then(|| format!("{ph} {n}"))
        })
        .collect()
}

/// Keeps the rate of a transfer of `bytes` from `from` to the hop's target that started
/// at `start`, when the hop keeps them.
fn measured(hop: &Hop<'_>, from: &str, bytes: u64, start: Instant) {
    if let Some(config) = hop.measured {
        let secs = start.elapsed().as_secs_f64();
        links::record(config, from, &hop.dst.node.name, bytes, secs);
    }
}

/// Runs a transfer, its progress lines counted, its other lines passed to the log.
async fn carry(
    at: At<'_>,
    job: Job<'_>,
    cancel: &CancellationToken,
    out: &mut dyn HopOutput,
    done: u64,
) -> process::Finished {
    process::run(at, job, cancel, |stream, text| {
        match parse_progress(&text) {
            Some(n) if stream == Stream::Stdout => out.progress(done + n),
            _ if text.trim().is_empty() => {}
            _ => out.line(stream, text),
        }
    })
    .await
}

/// The install on the target: `list` (`+ NAME` staged files, `- NAME` files the source no
/// longer has) checked, moved in phase by phase, then the deletion pass. The copy's
/// listing (`hop.dst_files`) follows what the script reports done.
#[allow(clippy::too_many_arguments)]
async fn install(
    hop: Hop<'_>,
    stage: &str,
    src_sha: &str,
    list: Vec<u8>,
    todo: &[(String, u64)],
    cancel: &CancellationToken,
    out: &mut dyn HopOutput,
    done: u64,
) -> Result<u64, HopError> {
    let dst_name = &hop.dst.node.name;
    let src_name = &hop.src.node.name;
    let quarantine = format!(
        "{}/{}",
        quarantine_path(&hop.dst.base(), hop.repo),
        hop.stamp
    );
    let dst_repo = hop.dst.repo(hop.repo);
    let mut corrupt: Vec<String> = vec![];
    let mut landed = done;
    let (mut checked, to_check) = (0, todo.len() as u64);
    let installing = Instant::now();
    let fin = process::run(
        hop.dst.at(),
        Job::script(INSTALL, install_args(stage, &dst_repo, src_sha, &quarantine))
            .stdin(Input::Bytes(list))
            .timeout(Duration::from_secs(3600)),
        cancel,
        |stream, text| {
            let mut w = text.split(' ');
            match (w.next(), w.next(), w.next()) {
                (Some("checked"), Some(_), None) => {
                    checked += 1;
                    out.checking(checked, to_check);
                }
                (Some("in-place"), Some(phase), Some(n)) => {
                    if phase == "config" {
                        hop.dst_files.config_sha = Some(src_sha.to_string());
                    }
                    let here = todo
                        .iter()
                        .filter(|(p, _)| phase_of(p) == Some(phase) && !corrupt.contains(p));
                    for (p, size) in here {
                        hop.dst_files.files.insert(p.clone(), (*size, 0.0));
                        landed += size;
                    }
                    out.line(
                        Stream::Info,
                        format!("{src_name} → {dst_name}: {phase}: {n} file(s) in place"),
                    );
                }
                (Some("quarantined"), Some(phase), Some(n)) => {
                    for g in hop.gone.iter().filter(|g| g.starts_with(&format!("{phase}/"))) {
                        hop.dst_files.files.remove(g);
                    }
                    out.line(
                        Stream::Info,
                        format!(
                            "{} on {dst_name}: {phase}: {n} file(s) the source removed moved to quarantine",
                            hop.repo
                        ),
                    );
                }
                (Some("corrupt"), Some(path), _) => {
                    corrupt.push(path.to_string());
                    out.line(
                        Stream::Stderr,
                        format!(
                            "{} on {dst_name}: {path} arrived corrupt (content does not match its name; not kept)",
                            hop.repo
                        ),
                    );
                }
                _ if !text.trim().is_empty() => out.line(stream, text),
                _ => {}
            }
        },
    )
    .await;
    tracing::debug!(
        "{src_name} → {dst_name} ({}): installed in {:.2} s",
        hop.repo,
        installing.elapsed().as_secs_f64()
    );
    out.progress(landed);
    if fin.cancelled {
        return Err(HopError::Cancelled);
    }
    if !corrupt.is_empty() {
        return Err(HopError::Failed(format!(
            "{} file(s) of {} arrived corrupt on {dst_name} (the source copy may be damaged: run `restic check --read-data` on it)",
            corrupt.len(),
            hop.repo
        )));
    }
    if !fin.success() {
        return Err(HopError::Failed(format!(
            "installing {} on {dst_name} failed: {}",
            hop.repo,
            fin.describe()
        )));
    }
    Ok(done + todo.iter().map(|(_, s)| s).sum::<u64>())
}

/// "12.3 MB", for log lines.
pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GB", n as f64 / f64::from(1u32 << 30)),
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / f64::from(1u32 << 20)),
        n if n >= 1 << 10 => format!("{:.1} kB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// rsync's `--info=progress2` line: the first field is the bytes moved so far.
pub fn parse_progress(line: &str) -> Option<u64> {
    let t = line.trim();
    if !t.contains('%') {
        return None;
    }
    let first = t.split_whitespace().next()?;
    first.replace(',', "").parse().ok()
}

/// Names, one per line, as a file list on stdin.
fn lines_of<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Vec<u8> {
    let mut out = Vec::new();
    for n in names {
        out.extend_from_slice(n.as_ref().as_bytes());
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::put;
    use super::*;

    /// Runs INSTALL through a real `sh`, as on a node.
    fn commit(
        stage: &std::path::Path,
        repo: &std::path::Path,
        q: &std::path::Path,
        list: &[String],
    ) -> (Option<i32>, Vec<String>) {
        use std::io::Write;
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(INSTALL)
            .arg("sh")
            .args([stage, repo])
            .arg("want")
            .arg(q)
            .args(PHASES)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        for l in list {
            writeln!(stdin, "{l}").unwrap();
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let lines = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        (out.status.code(), lines)
    }

    #[test]
    fn commit_installs_in_order_then_quarantines() {
        let tmp = tempfile::tempdir().unwrap();
        let (stage, repo, q) = (
            tmp.path().join("in g"),
            tmp.path().join("re'po"),
            tmp.path().join("q $x"),
        );
        let old: Vec<String> = ["snapshots", "index", "data"]
            .iter()
            .map(|f| put(&repo, f, f.as_bytes()))
            .collect();
        let new: Vec<String> = ["keys", "data", "index", "snapshots"]
            .iter()
            .map(|f| put(&stage, f, format!("new {f}").as_bytes()))
            .collect();
        // A leftover of an interrupted hop, not in this hop's list.
        let stray = put(&stage, "snapshots", b"stray");
        let mut list: Vec<String> = new.iter().map(|n| format!("+ {n}")).collect();
        list.extend(old.iter().map(|o| format!("- {o}")));
        let (code, lines) = commit(&stage, &repo, &q, &list);
        assert_eq!(code, Some(0), "{lines:?}");
        let (checked, lines): (Vec<String>, Vec<String>) =
            lines.into_iter().partition(|l| l.starts_with("checked "));
        assert_eq!(
            checked,
            new.iter()
                .map(|n| format!("checked {n}"))
                .collect::<Vec<_>>(),
            "each staged file is said as it is read, in the list's order"
        );
        assert_eq!(
            lines,
            [
                "in-place keys 1",
                "in-place data 1",
                "in-place index 1",
                "in-place snapshots 1",
                "quarantined snapshots 1",
                "quarantined index 1",
                "quarantined data 1"
            ]
        );
        for n in &new {
            assert!(repo.join(n).is_file(), "{n} installed");
        }
        for o in &old {
            assert!(
                !repo.join(o).exists() && q.join(o).is_file(),
                "{o} quarantined"
            );
        }
        assert!(!repo.join(&stray).exists(), "leftovers are never moved in");
        assert!(!stage.exists(), "staging emptied");
    }

    #[test]
    fn commit_stops_at_a_corrupt_file() {
        let tmp = tempfile::tempdir().unwrap();
        let (stage, repo, q) = (
            tmp.path().join("stage"),
            tmp.path().join("repo"),
            tmp.path().join("q"),
        );
        let old = put(&repo, "snapshots", b"old");
        let good = put(&stage, "data", b"good");
        let bad = put(&stage, "data", b"will be damaged");
        std::fs::write(stage.join(&bad), b"damaged").unwrap();
        let index = put(&stage, "index", b"index");
        let list = [
            format!("+ {good}"),
            format!("+ {bad}"),
            format!("+ {index}"),
            format!("- {old}"),
        ];
        let (code, lines) = commit(&stage, &repo, &q, &list);
        assert_eq!(code, Some(4), "{lines:?}");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("corrupt {bad} "))),
            "{lines:?}"
        );
        assert!(lines.contains(&"in-place data 1".to_string()), "{lines:?}");
        assert!(repo.join(&good).is_file());
        assert!(
            !repo.join(&bad).exists() && !stage.join(&bad).exists(),
            "not kept under its name"
        );
        assert!(
            !repo.join(&index).exists(),
            "nothing after the damaged phase"
        );
        assert!(repo.join(&old).exists(), "no deletion pass after a failure");
    }

    #[test]
    fn progress_lines() {
        assert_eq!(
            parse_progress("      1,234,567  45%   10.00MB/s    0:00:01 (xfr#3, to-chk=0/10)"),
            Some(1234567)
        );
        assert_eq!(parse_progress("sending incremental file list"), None);
    }

    #[test]
    fn a_failed_hops_staging_is_removed_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let stage = tmp.path().join("in coming");
        std::fs::create_dir_all(stage.join("data/ab")).unwrap();
        std::fs::write(stage.join("data/ab/x"), "half").unwrap();
        let (code, said) = crate::engine::shtest::run(UNSTAGE, &[&stage], "");
        assert_eq!((code, said), (Some(0), vec!["removed".to_string()]));
        assert!(!stage.exists());
    }
}
