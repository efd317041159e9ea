//! Verification (DESIGN §10): every copy proven restorable, not trusted.
//!
//! A copy is repository R as held by node H, the owner's own included. It is proven by a
//! restore drill on H itself — a sample of files from the latest snapshot of H's copy,
//! restored by restic into a scratch folder under `<base_dir>/.wbackup-drill/`, hashed
//! there and removed — whose hashes equal the owner's live files (when those still have
//! the size and time the snapshot recorded) or the same files restored from the owner's
//! own repository; and by reading a rotating share of its data
//! (`restic check --read-data-subset=k/n`). Nothing here writes into a repository: every
//! restic command runs with `--no-lock`. Each result is appended to the proof ledger
//! (`<base_dir>/logs/proofs.jsonl` on the orchestrator), one JSON line per copy.
//!
//! A bucket's copy has no node of its own to drill on: the uploading node reads it
//! through restic's rclone backend (`Place`), into its own scratch folder.

use super::events::{Cause, Event, Outcome, Sink, Stream};
use super::run::{Run, Unusable};
use crate::config::Config;
use crate::engine::node::Conn;
use crate::engine::process::{self, Input, Job};
use crate::engine::restic;
use crate::plan::Step;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const DRILL: &str = include_str!("sh/drill.sh");
const LIVE: &str = include_str!("sh/live.sh");
/// Whether a copy has its config.
const HAS_CONFIG: &str = include_str!("sh/has-config.sh");

/// Why a restic command failed when the copy is not at fault (what [`with_password`]
/// says when restic refused the password).
pub const WRONG_PASSWORD: &str = "restic refused the password";

/// Why a copy was not proven: its own files (the next run heals it), or something else.
enum Unproven {
    Damaged(String),
    Other(String),
}

impl Unproven {
    /// `message`, blaming the copy unless restic's error `e` was the password.
    fn of(e: &str, message: String) -> Unproven {
        if e == WRONG_PASSWORD {
            Unproven::Other(message)
        } else {
            Unproven::Damaged(message)
        }
    }
}

/// Where a copy is read: the node whose restic reads it and the repository as restic
/// names it there. A bucket's copy is read by the uploading node, through rclone.
struct Place<'c> {
    conn: &'c Conn,
    /// restic's `-r`, and the options that go with it.
    repo: Vec<String>,
    /// The bucket's copy as the upload names it: its config is looked for with rclone
    /// (no folder to run `sh/has-config.sh` in).
    upload: Option<crate::plan::action::Upload>,
}

impl<'c> Place<'c> {
    /// `owner`'s repository in its folder on `conn`'s node.
    fn node(conn: &'c Conn, owner: &str) -> Place<'c> {
        Place {
            conn,
            repo: vec!["-r".into(), conn.repo(owner)],
            upload: None,
        }
    }

    /// `owner`'s copy in bucket `b`, read by `conn`'s node (the uploading node) with
    /// restic's rclone backend; rclone's configuration file named in `rclone.args` (an
    /// argument, so it reaches a remote uploader, where an environment would not).
    fn bucket(
        conn: &'c Conn,
        config: &Config,
        b: &crate::config::Bucket,
        owner: &str,
    ) -> Result<Place<'c>, String> {
        let mut repo = vec!["-r".into(), crate::restore::bucket_repo(b, owner)];
        if let Some(f) = &config.rclone.config_file {
            repo.push("-o".into());
            repo.push(crate::engine::replication::bucket::restic_rclone_args(
                &conn.path(f),
            )?);
        }
        let upload = crate::engine::replication::bucket::upload_for(config, &conn.node, owner, b);
        Ok(Place {
            conn,
            repo,
            upload: Some(upload),
        })
    }

    /// restic reading this copy with `rest`, as a person would type it.
    fn command(&self, rest: &str) -> String {
        let words: Vec<String> = self.repo.iter().map(|w| crate::shell::quote(w)).collect();
        format!("restic {} {rest}", words.join(" "))
    }
}

/// What one verification found out about one copy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Proof {
    pub repo: String,
    pub holder: String,
    /// When the drill ran (RFC 3339).
    pub time: String,
    pub proven: bool,
    /// One sentence: what was proven, or what failed and what to do.
    pub message: String,
    pub snapshot: Option<String>,
    pub files: usize,
    pub bytes: u64,
    /// Files equal to the owner's live file, and to the owner's own repository's.
    pub matched_source: usize,
    pub matched_owner_copy: usize,
    pub seconds: f64,
    /// The share of the data read this time, `k/n`.
    pub read_data: Option<String>,
    /// Estimated time to restore the whole snapshot from this copy, at the drill's rate.
    pub restore_estimate_s: Option<f64>,
    /// The copy failed because of what it holds (a restore, a listing or a data read
    /// failed, or a restored file differed): the next run heals it (`engine::heal`).
    #[serde(default)]
    pub damaged: bool,
}

/// A file of a snapshot, as `restic ls --json` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapFile {
    /// The path inside the snapshot (what `--include` matches).
    pub path: String,
    pub size: u64,
    /// Seconds and nanoseconds since the epoch.
    pub mtime: (i64, u32),
}

/// A snapshot's id and the paths it backed up.
#[derive(Debug, Clone)]
struct Snapshot {
    id: String,
    paths: Vec<String>,
}

/// The proof ledger on the orchestrator.
pub fn ledger_path(config: &Config) -> PathBuf {
    crate::logbook::logs_dir(config).join("proofs.jsonl")
}

/// Every proof recorded, oldest first. A line that cannot be read (the tail of a write
/// cut by a power loss) is skipped.
pub fn load_ledger(config: &Config) -> Vec<Proof> {
    std::fs::read_to_string(ledger_path(config))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Appends proofs, one line each, in one write, flushed to disk.
pub fn record(config: &Config, proofs: &[Proof]) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let path = ledger_path(config);
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    // A write cut short (a power loss) may have left a torn last line: the new lines start
    // on a line of their own, so that only the torn one is lost.
    let torn = std::fs::read(&path)
        .map(|b| b.last().is_some_and(|c| *c != b'\n'))
        .unwrap_or(false);
    let mut text = String::from(if torn { "\n" } else { "" });
    for p in proofs {
        text.push_str(&serde_json::to_string(p).map_err(std::io::Error::other)?);
        text.push('\n');
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// The share of the data to read next for this copy: one more than last time, modulo n.
pub fn next_read_data(ledger: &[Proof], repo: &str, holder: &str, n: u32) -> u32 {
    let n = n.max(1);
    let last = ledger
        .iter()
        .rev()
        .filter(|p| p.repo == repo && p.holder == holder)
        .find_map(|p| {
            let (k, m) = p.read_data.as_deref()?.split_once('/')?;
            (m.parse::<u32>().ok()? == n).then(|| k.parse::<u32>().ok())?
        });
    match last {
        Some(k) => k % n + 1,
        None => 1,
    }
}

/// Whether a run should end with verification: some copy of `repos` on `holders` has no
/// successful proof younger than `[verify] every_days` (0: every run). A copy whose last
/// proof failed is due at once, so that it is proven again as soon as it was healed.
pub fn due(
    config: &Config,
    ledger: &[Proof],
    repos: &[String],
    holders: &[String],
    now: chrono::DateTime<chrono::Local>,
) -> bool {
    let max_age = chrono::Duration::days(i64::from(config.verify.every_days));
    repos.iter().any(|r| {
        holders.iter().any(|h| {
            let last = ledger.iter().rev().find(|p| p.repo == *r && p.holder == *h);
            match last {
                Some(p) if p.proven => chrono::DateTime::parse_from_rfc3339(&p.time)
                    .map(|t| now.signed_duration_since(t) >= max_age)
                    .unwrap_or(true),
                _ => true,
            }
        })
    })
}

/// The copies whose last proof found them damaged, per repository, with the copies
/// whose last proof passed as donors: the orchestrator's first (one transfer reaches any
/// node from it), then the most recently proven.
pub fn to_heal(config: &Config, ledger: &[Proof]) -> Vec<crate::plan::Heal> {
    let mut last: BTreeMap<(&str, &str), &Proof> = BTreeMap::new();
    for p in ledger {
        last.insert((p.repo.as_str(), p.holder.as_str()), p);
    }
    let orch = config.orchestrator().name.as_str();
    let mut out = vec![];
    for owner in &config.nodes {
        let repo = owner.name.as_str();
        let of_repo: Vec<&Proof> = last
            .iter()
            .filter(|((r, h), _)| *r == repo && config.node(h).is_some())
            .map(|(_, p)| *p)
            .collect();
        let copies: Vec<String> = of_repo
            .iter()
            .filter(|p| p.damaged)
            .map(|p| p.holder.clone())
            .collect();
        if copies.is_empty() {
            continue;
        }
        let mut proven: Vec<&Proof> = of_repo.into_iter().filter(|p| p.proven).collect();
        proven.sort_by(|a, b| (b.holder == orch, &b.time).cmp(&(a.holder == orch, &a.time)));
        out.push(crate::plan::Heal {
            repo: repo.to_string(),
            copies,
            donors: proven.iter().map(|p| p.holder.clone()).collect(),
        });
    }
    out
}

/// The plan for `options`, ending with verification when `forced` says so (`--verify`,
/// `--no-verify`) or, without either, when it is due (`due`).
pub fn plan_for(
    config: &Config,
    mut options: crate::plan::Options,
    forced: Option<bool>,
) -> Result<crate::plan::Plan, crate::plan::PlanError> {
    options.verify = false;
    let ledger = load_ledger(config);
    options.heal = to_heal(config, &ledger);
    let plan = crate::plan::Plan::build_with(config, &options)?;
    let owners: Vec<String> = plan
        .steps
        .iter()
        .filter(|s| s.kind == crate::plan::StepKind::Backup)
        .map(|s| s.node.clone())
        .collect();
    options.verify =
        forced.unwrap_or_else(|| due(config, &ledger, &owners, &plan.nodes, chrono::Local::now()));
    if options.verify {
        crate::plan::Plan::build_with(config, &options)
    } else {
        Ok(plan)
    }
}

/// What `verify` works with: the nodes reached, and why the others were not.
pub struct Verifier<'a> {
    pub config: &'a Config,
    pub conns: HashMap<String, &'a Conn>,
    pub unreachable: HashMap<String, String>,
    pub password: &'a SecretString,
    pub cancel: &'a CancellationToken,
}

/// The proofs of one repository's copies as they are made, each reported at once.
struct Tally<'o> {
    repo: String,
    now: String,
    out: &'o mut dyn ProofOutput,
    proofs: Vec<Proof>,
}

impl Tally<'_> {
    /// A proof of `holder`'s copy that proves nothing yet.
    fn blank(&self, holder: &str) -> Proof {
        Proof {
            repo: self.repo.clone(),
            holder: holder.to_string(),
            time: self.now.clone(),
            ..Proof::default()
        }
    }

    fn fail(&mut self, holder: &str, message: String) {
        let mut p = self.blank(holder);
        p.message = message;
        self.push(p);
    }

    /// A failed proof of a copy whose own files are at fault.
    fn fail_damaged(&mut self, holder: &str, message: String) {
        let mut p = self.blank(holder);
        p.message = message;
        p.damaged = true;
        self.push(p);
    }

    fn push(&mut self, p: Proof) {
        self.out.proof(&p);
        self.proofs.push(p);
    }
}

/// What the drills of one repository share: a sample and a reference per snapshot.
#[derive(Default)]
struct Seen {
    /// The files drilled and the snapshot's total size, per snapshot.
    samples: HashMap<String, (Vec<SnapFile>, u64)>,
    /// Reference hashes per snapshot and path, and whether each is the live source's.
    references: HashMap<String, HashMap<String, (String, bool)>>,
}

/// Each sampled file restored on the copy against its reference: what is wrong, and how
/// many matched the live source and the owner's copy.
fn compare(
    sample: &[SnapFile],
    restored: &HashMap<String, String>,
    reference: &HashMap<String, (String, bool)>,
) -> (Vec<String>, usize, usize) {
    let mut bad: Vec<String> = vec![];
    let (mut source, mut owner_copy) = (0, 0);
    for f in sample {
        match (restored.get(&f.path), reference.get(&f.path)) {
            (Some(got), Some((want, live))) if got == want => {
                if *live {
                    source += 1
                } else {
                    owner_copy += 1
                }
            }
            (None, _) => bad.push(format!("{} was not restored", f.path)),
            (Some(_), None) => bad.push(format!("{} has nothing to compare with", f.path)),
            (Some(_), Some((_, live))) => bad.push(format!(
                "{} differs from {}",
                f.path,
                if *live {
                    "the source"
                } else {
                    "the owner's copy"
                }
            )),
        }
    }
    (bad, source, owner_copy)
}

/// Reports each copy's result as it is known.
pub trait ProofOutput {
    fn proof(&mut self, proof: &Proof);
}

impl Run<'_> {
    /// Why `repo` has nothing to verify in this run: its owner took no part (unreachable,
    /// unusable) and no node checked in this run holds a repository of it, as on a first
    /// run with the owner switched off. Its own step already said why.
    fn nothing_to_verify(&self, repo: &str) -> Option<String> {
        let st = self.st();
        let why = st.unusable.get(repo).filter(|u| **u != Unusable::NoRsync)?;
        let held = st.repo_exists.contains(repo)
            || st
                .preflight
                .values()
                .any(|c| c.facts.held.contains_key(repo));
        (!held).then(|| {
            format!("{repo} has no repository yet and took no part in this run ({why}): there is no copy of it to verify; the first run that reaches {repo} makes one")
        })
    }
}

/// A run's verify step reports each proof as a line of its log.
struct StepProofs<'a> {
    sink: &'a dyn Sink,
    step: usize,
    node: String,
}

impl ProofOutput for StepProofs<'_> {
    fn proof(&mut self, proof: &Proof) {
        self.sink.emit(Event::Line {
            step: self.step,
            node: self.node.clone(),
            stream: if proof.proven {
                Stream::Info
            } else {
                Stream::Stderr
            },
            text: proof.message.clone(),
        });
    }
}

impl Run<'_> {
    /// A run's verify step: every copy of the step's repository on its targets proven,
    /// the proofs added to the ledger. Fails naming each copy that could not be proven.
    pub(crate) async fn verify(&self, step: &Step) -> Outcome {
        let repo = &step.node;
        if let Some(reason) = self.nothing_to_verify(repo) {
            return Outcome::Skipped { reason };
        }
        let (conns, unreachable) = {
            let st = self.st();
            // A node without rsync holds no copies, but its own repository is proven.
            let out = |h: &String| {
                st.unusable
                    .get(h)
                    .filter(|u| **u != Unusable::NoRsync)
                    .map(|u| u.to_string())
            };
            let conns: Vec<Rc<Conn>> = step
                .targets
                .iter()
                .filter(|h| out(h).is_none())
                .filter_map(|h| st.conns.get(h).cloned())
                .collect();
            let unreachable: HashMap<String, String> = step
                .targets
                .iter()
                .filter_map(|h| Some((h.clone(), out(h)?)))
                .collect();
            (conns, unreachable)
        };
        let verifier = Verifier {
            config: self.config,
            conns: conns.iter().map(|c| (c.node.name.clone(), &**c)).collect(),
            unreachable,
            password: self.password,
            cancel: &self.cancel,
        };
        let ledger = load_ledger(self.config);
        let mut out = StepProofs {
            sink: self.sink,
            step: step.id,
            node: repo.clone(),
        };
        let proofs = verifier
            .repository(repo, &step.targets, &ledger, &mut out)
            .await;
        if let Err(e) = record(self.config, &proofs) {
            return Outcome::failed(format!(
                "cannot write the proof ledger {}: {e}",
                ledger_path(self.config).display()
            ));
        }
        if self.cancel.is_cancelled() {
            return Outcome::Interrupted;
        }
        let failed: Vec<&str> = proofs
            .iter()
            .filter(|p| !p.proven)
            .map(|p| p.message.as_str())
            .collect();
        let cause = if proofs.iter().any(|p| p.damaged) {
            Cause::Damaged
        } else if proofs
            .iter()
            .all(|p| p.proven || verifier.unreachable.contains_key(&p.holder))
        {
            Cause::Unreachable
        } else {
            Cause::Other
        };
        if failed.is_empty() {
            Outcome::Passed
        } else {
            Outcome::failed_as(cause, failed.join("; "))
        }
    }
}

impl Verifier<'_> {
    /// Verifies repository `repo` on each of `holders`; returns one proof per holder.
    pub async fn repository(
        &self,
        repo: &str,
        holders: &[String],
        ledger: &[Proof],
        out: &mut dyn ProofOutput,
    ) -> Vec<Proof> {
        let mut t = Tally {
            repo: repo.to_string(),
            now: chrono::Local::now().to_rfc3339(),
            out,
            proofs: vec![],
        };
        let latest = self.latest_snapshots(repo, holders, &mut t).await;
        let mut seen = Seen::default();
        for (h, snap) in &latest {
            if self.cancel.is_cancelled() {
                break;
            }
            match self.prove(repo, h, snap, ledger, &mut seen, &t).await {
                Ok(Some(p)) => t.push(p),
                Ok(None) => break,
                Err(Unproven::Damaged(message)) => t.fail_damaged(h, message),
                Err(Unproven::Other(message)) => t.fail(h, message),
            }
        }
        t.proofs
    }

    /// The latest snapshot of each copy reached; a copy that has none, cannot be read or
    /// cannot be reached gets its failed proof here.
    async fn latest_snapshots(
        &self,
        repo: &str,
        holders: &[String],
        t: &mut Tally<'_>,
    ) -> BTreeMap<String, Snapshot> {
        let mut latest = BTreeMap::new();
        for h in holders {
            if self.cancel.is_cancelled() {
                break;
            }
            let place = match self.place(h, repo) {
                Ok(place) => place,
                Err(why) => {
                    t.fail(h, format!("{repo} on {h} was not verified: {why}; switch it on or check its address, then run `wbackup verify --node {h}`"));
                    continue;
                }
            };
            match self.latest_snapshot(&place).await {
                Ok(Some(s)) => {
                    latest.insert(h.clone(), s);
                }
                Ok(None) => t.fail(h, format!("{repo} on {h} holds no snapshot to restore (a copy not made yet?); run `wbackup run` first")),
                Err(e) if place.upload.is_some() => t.fail(h, format!("{repo} on {h} cannot be read from {}: {e}; the server may be out of reach, or the copy damaged: run `{}` on {}", place.conn.node.name, place.command("check"), place.conn.node.name)),
                Err(e) => {
                    let message = format!("{repo} on {h} cannot be read: {e}; it may be damaged: run `{}` on {h}", place.command("check"));
                    if e == WRONG_PASSWORD {
                        t.fail(h, message)
                    } else {
                        t.fail_damaged(h, message)
                    }
                }
            }
        }
        latest
    }

    /// Where `h`'s copy of `repo` is read, or why it cannot be: `h`, or for a bucket the
    /// uploading node, was not reached.
    fn place(&self, h: &str, repo: &str) -> Result<Place<'_>, String> {
        let why = |n: &str| {
            self.unreachable
                .get(n)
                .cloned()
                .unwrap_or_else(|| "not reached".into())
        };
        match self.config.bucket(h) {
            Some(_) if self.unreachable.contains_key(h) => Err(format!("{h} is {}", why(h))),
            Some(b) => {
                let up = self.config.uploader();
                match self.conns.get(up) {
                    Some(conn) => Place::bucket(conn, self.config, b, repo),
                    None => Err(format!("{up}, the node that reads it, is {}", why(up))),
                }
            }
            None => match self.conns.get(h) {
                Some(conn) => Ok(Place::node(conn, repo)),
                None => Err(format!("{h} is {}", why(h))),
            },
        }
    }

    /// One copy's drill and data read: its proof, None when the run was cancelled, or
    /// why it could not be proven.
    async fn prove(
        &self,
        repo: &str,
        h: &str,
        snap: &Snapshot,
        ledger: &[Proof],
        seen: &mut Seen,
        t: &Tally<'_>,
    ) -> Result<Option<Proof>, Unproven> {
        let place = self.place(h, repo).map_err(Unproven::Other)?;
        let damaged = |what: String| {
            if place.upload.is_some() {
                format!(
                    "{repo} on {h} FAILED {what}. Do not restore from it; wbackup does not mend a bucket's copy: move its folder aside with rclone and the next `wbackup run` uploads it whole again (to look yourself: `{}` on {})",
                    place.command("check --read-data"),
                    place.conn.node.name
                )
            } else {
                format!(
                    "{repo} on {h} FAILED {what}. Do not restore from it; the next `wbackup run` replaces its damaged files from a copy that was proven (to look yourself: `{}` on {h})",
                    place.command("check --read-data")
                )
            }
        };
        // One sample per snapshot: copies in sync restore the same files.
        if !seen.samples.contains_key(&snap.id) {
            let files = self.list_files(&place, &snap.id).await.map_err(|e| {
                Unproven::of(
                    &e,
                    format!(
                        "{repo} on {h}: the snapshot {} cannot be listed: {e}",
                        short(&snap.id)
                    ),
                )
            })?;
            let total = files.iter().map(|f| f.size).sum();
            let seed = seed_for(repo, &snap.id);
            let verify = &self.config.verify;
            let picked = sample(
                &files,
                verify.files.max(1) as usize,
                verify.max_bytes.0,
                seed,
            );
            seen.samples.insert(snap.id.clone(), (picked, total));
        }
        let (sample, total) = seen.samples[&snap.id].clone();
        let started = Instant::now();
        let restored = self.drill(&place, &snap.id, &sample).await.map_err(|e| {
            Unproven::of(
                &e,
                damaged(format!(
                    "its restore drill: restic could not restore {} file(s) of snapshot {} ({e})",
                    sample.len(),
                    short(&snap.id)
                )),
            )
        })?;
        let seconds = started.elapsed().as_secs_f64();
        if !seen.references.contains_key(&snap.id) {
            let r = self.reference(repo, snap, &sample).await.map_err(|e| {
                Unproven::Other(format!("{repo} on {h} was restored but not compared: {e}"))
            })?;
            seen.references.insert(snap.id.clone(), r);
        }
        let (bad, source, owner_copy) = compare(&sample, &restored, &seen.references[&snap.id]);
        if self.cancel.is_cancelled() {
            return Ok(None);
        }
        let n = self.config.verify.read_data_cycle.max(1);
        let k = next_read_data(ledger, repo, h, n);
        let read = self.read_data(&place, k, n).await;
        let bytes: u64 = sample.iter().map(|f| f.size).sum();
        let rate = (seconds > 0.0 && bytes > 0).then(|| bytes as f64 / seconds);
        let mut p = t.blank(h);
        p.snapshot = Some(snap.id.clone());
        p.files = sample.len();
        p.bytes = bytes;
        p.matched_source = source;
        p.matched_owner_copy = owner_copy;
        p.seconds = seconds;
        p.read_data = Some(format!("{k}/{n}"));
        p.restore_estimate_s = rate.map(|r| total as f64 / r);
        p.message = if !bad.is_empty() {
            p.damaged = true;
            damaged(format!("its restore drill: {}", bad.join("; ")))
        } else if let Err(e) = read {
            p.damaged = e != WRONG_PASSWORD;
            damaged(format!("the data read {k}/{n}: {e}"))
        } else {
            p.proven = true;
            let human = crate::engine::replication::human_bytes;
            format!(
                "{repo} on {h}: proven — {} file(s), {} restored in {seconds:.1}s{}, {source} equal to the source, {owner_copy} to the owner's copy; data read {k}/{n}",
                sample.len(),
                human(bytes),
                rate.map(|r| format!(" ({}/s)", human(r as u64)))
                    .unwrap_or_default(),
            )
        };
        Ok(Some(p))
    }

    /// A restic command on `conn` that reads `repo` and writes nothing into it.
    async fn restic(&self, conn: &Conn, args: Vec<String>) -> Result<Vec<String>, String> {
        let lines = self.with_password(conn, Job::new(args)).await?;
        Ok(lines
            .into_iter()
            .filter(|l| !restic::is_password_notice(l))
            .collect())
    }

    fn argv(place: &Place, rest: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = vec!["restic".into()];
        a.extend(place.repo.iter().cloned());
        a.push("--no-lock".into());
        a.extend(rest.iter().map(|s| s.to_string()));
        a
    }

    async fn latest_snapshot(&self, place: &Place<'_>) -> Result<Option<Snapshot>, String> {
        let conn = place.conn;
        match &place.upload {
            Some(u) => {
                if !crate::engine::replication::bucket::has_config(conn, u, self.cancel).await? {
                    return Ok(None);
                }
            }
            None => {
                let has_config = conn
                    .script(HAS_CONFIG, &[&place.repo[1]], self.cancel)
                    .await
                    .map_err(|e| e.to_string())?;
                match has_config.as_slice() {
                    [yes] if yes == "yes" => {}
                    [no] if no == "no" => return Ok(None),
                    _ => return Err(format!("it said {has_config:?} when asked for its config")),
                }
            }
        }
        let lines = self
            .restic(conn, Self::argv(place, &["snapshots", "--json"]))
            .await?;
        parse_latest(&lines.concat())
    }

    async fn list_files(&self, place: &Place<'_>, id: &str) -> Result<Vec<SnapFile>, String> {
        let lines = self
            .restic(place.conn, Self::argv(place, &["ls", "--json", id]))
            .await?;
        Ok(lines.iter().filter_map(|l| parse_ls_line(l)).collect())
    }

    /// Restores `sample` of snapshot `id` of the copy at `place`, on the node that reads
    /// it, and hashes it there; the hashes by snapshot path.
    async fn drill(
        &self,
        place: &Place<'_>,
        id: &str,
        sample: &[SnapFile],
    ) -> Result<HashMap<String, String>, String> {
        if sample.is_empty() {
            return Ok(HashMap::new());
        }
        let conn = place.conn;
        let mut argv = vec![format!("{}/.wbackup-drill", conn.base())];
        argv.extend(Self::argv(place, &["restore", id]));
        for f in sample {
            argv.push("--include".into());
            argv.push(restic::glob_escape(&f.path));
        }
        let lines = self.with_password(conn, Job::script(DRILL, argv)).await?;
        Ok(lines.iter().filter_map(|l| parse_sum_line(l)).collect())
    }

    /// Runs a job that gives restic the password on its stdin; its output lines.
    async fn with_password(&self, conn: &Conn, job: Job<'_>) -> Result<Vec<String>, String> {
        with_password(
            conn,
            job,
            self.password,
            Duration::from_secs(6 * 3600),
            self.cancel,
        )
        .await
    }

    /// What each sampled file should hash to: the owner's live file when it still has
    /// the recorded size and time (true), else the same file restored from the owner's
    /// own repository (false).
    async fn reference(
        &self,
        repo: &str,
        snap: &Snapshot,
        sample: &[SnapFile],
    ) -> Result<HashMap<String, (String, bool)>, String> {
        let owner = repo;
        let Some(conn) = self.conns.get(owner) else {
            return Err(format!(
                "{owner}, the owner, could not be reached to compare with"
            ));
        };
        let mut out = HashMap::new();
        let mut args: Vec<String> = vec![];
        let mut asked: Vec<&SnapFile> = vec![];
        for f in sample {
            if let Some(live) = live_path(&snap.paths, &f.path) {
                args.extend([
                    live,
                    f.size.to_string(),
                    format!("{}.{:09}", f.mtime.0, f.mtime.1),
                ]);
                asked.push(f);
            }
        }
        if !asked.is_empty() {
            let job = Job::script(LIVE, args).timeout(Duration::from_secs(6 * 3600));
            let (fin, lines) = process::capture(conn.at(), job, self.cancel).await;
            if !fin.success() {
                return Err(format!(
                    "cannot read {owner}'s live files: {}",
                    fin.describe()
                ));
            }
            for l in lines {
                let mut w = l.split(' ');
                if let (Some("same"), Some(i), Some(sha)) = (w.next(), w.next(), w.next()) {
                    if let Some(f) = i
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| asked.get(i.wrapping_sub(1)))
                    {
                        out.insert(f.path.clone(), (sha.to_string(), true));
                    }
                }
            }
        }
        let rest: Vec<SnapFile> = sample
            .iter()
            .filter(|f| !out.contains_key(&f.path))
            .cloned()
            .collect();
        if !rest.is_empty() {
            let restored = self
                .drill(&Place::node(conn, repo), &snap.id, &rest)
                .await
                .map_err(|e| {
                    format!("restoring from {owner}'s own repository to compare failed: {e}")
                })?;
            for (path, sha) in restored {
                out.entry(path).or_insert((sha, false));
            }
        }
        Ok(out)
    }

    async fn read_data(&self, place: &Place<'_>, k: u32, n: u32) -> Result<(), String> {
        let subset = format!("--read-data-subset={k}/{n}");
        self.restic(place.conn, Self::argv(place, &["check", &subset]))
            .await
            .map(|_| ())
    }
}

/// Runs `job` on `conn`'s node with the password on restic's stdin (never in its argv or
/// environment); its output lines, or why it failed ("restic refused the password" when
/// the password opens no key).
pub async fn with_password(
    conn: &Conn,
    job: Job<'_>,
    password: &SecretString,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<Vec<String>, String> {
    let job = job.stdin(Input::Password(password)).timeout(timeout);
    let (fin, lines) = process::capture(conn.at(), job, cancel).await;
    if !fin.success() {
        if fin.stderr_tail.iter().any(|l| restic::is_wrong_password(l)) {
            return Err(WRONG_PASSWORD.into());
        }
        return Err(fin.describe());
    }
    Ok(lines)
}

/// A read-only restic command (`--no-lock`) on `conn`'s copy of `repo`, the password on
/// its stdin; its output lines without restic's notice that it read the password.
pub async fn read_only(
    conn: &Conn,
    repo: &str,
    rest: &[&str],
    password: &SecretString,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<Vec<String>, String> {
    let argv = Verifier::argv(&Place::node(conn, repo), rest);
    let lines = with_password(conn, Job::new(argv), password, timeout, cancel).await?;
    Ok(lines
        .into_iter()
        .filter(|l| !restic::is_password_notice(l))
        .collect())
}

fn short(id: &str) -> &str {
    &id[..8.min(id.len())]
}

/// The latest snapshot in `restic snapshots --json` output.
fn parse_latest(json: &str) -> Result<Option<Snapshot>, String> {
    #[derive(Deserialize)]
    struct S {
        id: String,
        time: String,
        #[serde(default)]
        paths: Vec<String>,
    }
    let all: Vec<S> = serde_json::from_str(json.trim())
        .map_err(|e| format!("restic's snapshot list cannot be read ({e})"))?;
    Ok(all
        .into_iter()
        .filter(|s| s.id.len() == 64 && s.id.bytes().all(|b| b.is_ascii_hexdigit()))
        .filter_map(|s| {
            let t = chrono::DateTime::parse_from_rfc3339(&s.time).ok()?;
            Some((t, s))
        })
        .max_by_key(|(t, _)| *t)
        .map(|(_, s)| Snapshot {
            id: s.id,
            paths: s.paths,
        }))
}

/// One regular file from `restic ls --json`.
pub fn parse_ls_line(line: &str) -> Option<SnapFile> {
    #[derive(Deserialize)]
    struct N {
        #[serde(rename = "type")]
        kind: String,
        path: String,
        #[serde(default)]
        size: u64,
        mtime: String,
        struct_type: Option<String>,
    }
    let n: N = serde_json::from_str(line).ok()?;
    if n.kind != "file" || n.struct_type.as_deref().is_some_and(|s| s != "node") {
        return None;
    }
    if !n.path.starts_with('/') || n.path.split('/').any(|c| c == ".." || c == ".") {
        return None;
    }
    let t = chrono::DateTime::parse_from_rfc3339(&n.mtime).ok()?;
    Some(SnapFile {
        path: n.path,
        size: n.size,
        mtime: (t.timestamp(), t.timestamp_subsec_nanos()),
    })
}

/// A line of `sha256sum`: the hash and the path relative to the restore target, with
/// GNU's escaping of backslashes and newlines undone. The path comes back as the
/// snapshot names it ("/home/a/x").
pub fn parse_sum_line(line: &str) -> Option<(String, String)> {
    let (escaped, line) = match line.strip_prefix('\\') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let (sha, name) = line.split_once("  ")?;
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let name = name.strip_prefix('.')?;
    let name = if escaped {
        let mut out = String::new();
        let mut chars = name.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('r') => out.push('\r'),
                    Some('\\') => out.push('\\'),
                    _ => return None,
                }
            } else {
                out.push(c);
            }
        }
        out
    } else {
        name.to_string()
    };
    Some((name, sha.to_string()))
}

/// Where a file of the snapshot lives on its owner. restic keeps the absolute paths it
/// backed up (newer versions), or only their last component at the root of the
/// snapshot's tree (0.14–0.16): `/Documents/a` for the backed-up `/home/u/Documents`.
pub fn live_path(backed_up: &[String], path: &str) -> Option<String> {
    for p in backed_up {
        let p = p.trim_end_matches('/');
        if path == p || path.starts_with(&format!("{p}/")) {
            return Some(path.to_string());
        }
    }
    for p in backed_up {
        let p = p.trim_end_matches('/');
        let (parent, name) = p.rsplit_once('/')?;
        let top = format!("/{name}");
        if path == top || path.starts_with(&format!("{top}/")) {
            return Some(format!("{parent}{path}"));
        }
    }
    None
}

/// A seed that differs from run to run (so that, over time, every file gets its turn).
fn seed_for(repo: &str, id: &str) -> u64 {
    let mut s: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        ^ u64::from(std::process::id());
    for b in repo.bytes().chain(id.bytes()) {
        s = s.rotate_left(5) ^ u64::from(b);
    }
    s | 1
}

/// Up to `n` files, big and small mixed, at most `max_bytes` in all, and at least one
/// when there is any (the smallest, should every file be bigger than the cap).
pub fn sample(files: &[SnapFile], n: usize, max_bytes: u64, seed: u64) -> Vec<SnapFile> {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut by_size: Vec<&SnapFile> = files.iter().collect();
    by_size.sort_by(|a, b| a.size.cmp(&b.size).then(a.path.cmp(&b.path)));
    // Half from the bigger half, half from the smaller: alternate, each pick random.
    let mid = by_size.len() / 2;
    let (mut small, mut big): (Vec<&SnapFile>, Vec<&SnapFile>) =
        (by_size[..mid].to_vec(), by_size[mid..].to_vec());
    let mut out: Vec<SnapFile> = vec![];
    let mut bytes = 0u64;
    let mut turn = 0usize;
    while out.len() < n && !(small.is_empty() && big.is_empty()) {
        let pool = if (turn % 2 == 0 && !big.is_empty()) || small.is_empty() {
            &mut big
        } else {
            &mut small
        };
        turn += 1;
        let i = (next() % pool.len() as u64) as usize;
        let f = pool.swap_remove(i);
        if bytes + f.size <= max_bytes {
            bytes += f.size;
            out.push(f.clone());
        }
    }
    if out.is_empty() {
        if let Some(f) = by_size.first() {
            out.push((*f).clone());
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(path: &str, size: u64) -> SnapFile {
        SnapFile {
            path: path.into(),
            size,
            mtime: (0, 0),
        }
    }

    #[test]
    fn samples_mix_sizes_within_the_cap() {
        let files: Vec<SnapFile> = (0..100).map(|i| f(&format!("/d/{i}"), i * 10)).collect();
        let s = sample(&files, 20, 5_000, 42);
        assert!(s.len() <= 20 && !s.is_empty());
        assert!(s.iter().map(|f| f.size).sum::<u64>() <= 5_000);
        assert!(s.iter().any(|f| f.size >= 500) && s.iter().any(|f| f.size < 500));
        // Every file bigger than the cap: still one, the smallest.
        let s = sample(&[f("/a", 10), f("/b", 5)], 20, 1, 7);
        assert_eq!(s, vec![f("/b", 5)]);
        assert!(sample(&[], 20, 1, 7).is_empty());
    }

    #[test]
    fn live_paths_for_old_and_new_restic() {
        let paths = vec!["/home/u/Documents".to_string()];
        assert_eq!(
            live_path(&paths, "/Documents/a b/x").as_deref(),
            Some("/home/u/Documents/a b/x")
        );
        assert_eq!(
            live_path(&paths, "/home/u/Documents/x").as_deref(),
            Some("/home/u/Documents/x")
        );
        assert_eq!(live_path(&paths, "/Other/x"), None);
    }

    #[test]
    fn sums_and_patterns() {
        let h = "a".repeat(64);
        assert_eq!(
            parse_sum_line(&format!("{h}  ./src/a b")),
            Some(("/src/a b".into(), h.clone()))
        );
        assert_eq!(
            parse_sum_line(&format!("\\{h}  ./src/n\\nl\\\\x")),
            Some(("/src/n\nl\\x".into(), h.clone()))
        );
        assert_eq!(parse_sum_line("garbage"), None);
        assert_eq!(
            restic::glob_escape("/a/x*[1]?.txt"),
            "/a/x\\*\\[1\\]\\?.txt"
        );
    }

    #[test]
    fn ls_lines() {
        let l = r#"{"name":"y","type":"file","path":"/src2/y","size":6,"mtime":"2026-11-27T09:12:18.787839197Z","struct_type":"node"}"#;
        let f = parse_ls_line(l).unwrap();
        assert_eq!(f.path, "/src2/y");
        assert_eq!(f.size, 6);
        assert_eq!(f.mtime.1, 787_839_197);
        assert!(parse_ls_line(&l.replace("\"file\"", "\"dir\"")).is_none());
        assert!(parse_ls_line(&l.replace("/src2/y", "/src2/../y")).is_none());
    }

    #[test]
    fn the_data_read_rotates() {
        let mut ledger: Vec<Proof> = vec![];
        let mut seen = vec![];
        for _ in 0..4 {
            let k = next_read_data(&ledger, "a", "b", 3);
            seen.push(k);
            ledger.push(Proof {
                repo: "a".into(),
                holder: "b".into(),
                proven: true,
                read_data: Some(format!("{k}/3")),
                ..Proof::default()
            });
        }
        assert_eq!(seen, [1, 2, 3, 1]);
    }

    #[test]
    fn verification_is_due_when_a_copy_has_no_recent_success() {
        let c = crate::config::parse(
            std::path::Path::new("c.toml"),
            "orchestrator = \"a\"\n[verify]\nevery_days = 7\n[nodes.a]\npaths = [\"/x\"]\n[nodes.b]\naddresses = [\"b\"]\n",
        )
        .unwrap();
        let now = chrono::Local::now();
        let proof = |holder: &str, days: i64, proven: bool| Proof {
            repo: "a".into(),
            holder: holder.into(),
            time: (now - chrono::Duration::days(days)).to_rfc3339(),
            proven,
            ..Proof::default()
        };
        let (repos, holders) = (["a".to_string()], ["a".to_string(), "b".to_string()]);
        assert!(due(&c, &[], &repos, &holders, now), "never proven");
        let fresh = [proof("a", 1, true), proof("b", 6, true)];
        assert!(!due(&c, &fresh, &repos, &holders, now));
        let old = [proof("a", 1, true), proof("b", 8, true)];
        assert!(
            due(&c, &old, &repos, &holders, now),
            "b's proof is 8 days old"
        );
        let failed = [
            proof("a", 1, true),
            proof("b", 3, true),
            proof("b", 1, false),
        ];
        assert!(
            due(&c, &failed, &repos, &holders, now),
            "b failed last time"
        );
    }

    #[test]
    fn copies_found_damaged_are_healed_from_proven_ones_orchestrator_first() {
        let c = crate::config::parse(
            std::path::Path::new("c.toml"),
            "orchestrator = \"laptop\"\n[nodes.laptop]\n[nodes.home]\naddresses = [\"h\"]\n[nodes.server]\naddresses = [\"s\"]\n",
        )
        .unwrap();
        let p = |repo: &str, holder: &str, time: &str, proven: bool, damaged: bool| Proof {
            repo: repo.into(),
            holder: holder.into(),
            time: time.into(),
            proven,
            damaged,
            ..Proof::default()
        };
        let ledger = vec![
            p("home", "server", "2026-01-01T00:00:00+00:00", false, true),
            p("home", "home", "2026-01-02T00:00:00+00:00", true, false),
            p("home", "laptop", "2026-01-01T00:00:00+00:00", true, false),
            // Only the last proof of a copy counts: server's copy of laptop was healed.
            p("laptop", "server", "2026-01-01T00:00:00+00:00", false, true),
            p("laptop", "server", "2026-01-03T00:00:00+00:00", true, false),
            // A failure that is not the copy's (an unreachable node) is not healed.
            p("server", "home", "2026-01-03T00:00:00+00:00", false, false),
            // Nor a copy of a node no longer configured.
            p("gone", "home", "2026-01-03T00:00:00+00:00", false, true),
        ];
        let heal = to_heal(&c, &ledger);
        assert_eq!(
            heal,
            vec![crate::plan::Heal {
                repo: "home".into(),
                copies: vec!["server".into()],
                donors: vec!["laptop".into(), "home".into()],
            }]
        );
    }

    #[test]
    fn a_torn_ledger_line_costs_only_itself() {
        let tmp = tempfile::tempdir().unwrap();
        let c = crate::config::parse(
            std::path::Path::new("c.toml"),
            &format!(
                "orchestrator = \"a\"\n[nodes.a]\nbase_dir = {:?}\n",
                tmp.path().display().to_string()
            ),
        )
        .unwrap();
        let p = |holder: &str| Proof {
            repo: "a".into(),
            holder: holder.into(),
            proven: true,
            ..Proof::default()
        };
        record(&c, &[p("a")]).unwrap();
        // A power loss in the middle of the next write.
        let path = ledger_path(&c);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut f, b"{\"repo\":\"a\",\"hol").unwrap();
        record(&c, &[p("b")]).unwrap();
        let holders: Vec<String> = load_ledger(&c).into_iter().map(|p| p.holder).collect();
        assert_eq!(holders, ["a", "b"]);
    }

    #[test]
    fn a_copy_without_its_config_has_nothing_to_restore() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("it's a repo");
        let ask = || crate::engine::shtest::run(HAS_CONFIG, &[&repo], "").1;
        assert_eq!(ask(), ["no"]);
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(repo.join("config"), "").unwrap();
        assert_eq!(ask(), ["yes"]);
    }
}
