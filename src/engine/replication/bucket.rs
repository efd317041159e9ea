//! Copies in a bucket (DESIGN §11): copies on object storage brought up to date with
//! rclone, run on the uploading node, under the rules of §6 that the SSH hops keep.
//!
//! Nothing runs on a bucket, so the install script's work is done by rclone from the
//! uploading node: the whole bucket folder is listed once a run for every copy and its
//! quarantine (`lsjson`, read as strictly as `sh/list.sh`'s output: only names restic
//! writes), the copies' `config` files hashed in one call to prove each is the same
//! repository as its source. Then the files the copies lack are uploaded one phase at a
//! time in restic's write order (`PHASES`: keys, config, data, index, snapshots), one
//! `rclone copy` per phase for every copy at once, each phase whole before the next
//! starts: rclone checks every upload's size and the backend's hash of it (MD5 on S3,
//! SHA-1 on B2) against the source, and fails rather than leave a mismatch. An object
//! store shows an object under its name only once its upload completed, so no
//! half-written file is ever visible under a real name; a backend with folders uploads
//! under rclone's `.partial` name and renames, and what a cut leaves of that is deleted
//! by the next upload. Then what each source no longer has is moved (server-side where
//! the backend can) under `PATH/.quarantine/<repo>/<time>/`, snapshots first, then
//! index, then data.
//!
//! The words of every command are built here, once: `wbackup plan` prints them and the
//! engine runs them. wbackup names rclone's configuration file to rclone and nothing
//! more; the credentials stay rclone's.

use super::{missing, phase_of, HopError, HopOutput, Inventory, RepoFiles, PHASES};
use crate::config::{Bucket, Config, Node};
use crate::engine::node::Conn;
use crate::engine::process::{self, Input, Job, Stream};
use crate::plan::action::{self, Upload, Word};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// `rclone` and the options of `[rclone]` every command starts with.
pub fn rclone_words(r: &crate::config::Rclone) -> Vec<Word> {
    let mut w = vec![Word::lit("rclone")];
    if let Some(f) = &r.config_file {
        w.extend([Word::lit("--config"), Word::path(f.clone())]);
    }
    if let Some(b) = &r.bwlimit {
        w.extend([Word::lit("--bwlimit"), Word::lit(b.clone())]);
    }
    if let Some(t) = r.transfers {
        w.extend([Word::lit("--transfers"), Word::lit(t.to_string())]);
    }
    w
}

/// restic's `-o` value that names rclone's configuration file `file` to the rclone that
/// restic's rclone backend starts (an argument, so it reaches a remote uploader). Two
/// layers read it: restic's option flag is a CSV list (a comma or a `"` would break it),
/// so the whole value is one CSV field; inside, restic splits `rclone.args` itself (see
/// `shell::restic_field`). Err when restic cannot be given that path.
pub fn restic_rclone_args(file: &str) -> Result<String, String> {
    let quoted = crate::shell::restic_field(file).ok_or_else(|| {
        format!(
            "rclone's configuration file {file:?} cannot be named to restic's rclone backend (a path holding both kinds of quote, or ending in a backslash); move it to a plainer path"
        )
    })?;
    let value = format!("rclone.args=serve restic --stdio --b2-hard-delete --config {quoted}");
    Ok(format!("\"{}\"", value.replace('"', "\"\"")))
}

/// The upload of `owner`'s copy held by the uploading node `up` into the bucket `b`.
pub fn upload_for(config: &Config, up: &Node, owner: &str, b: &Bucket) -> Upload {
    Upload {
        repo: owner.to_string(),
        rclone: rclone_words(&config.rclone),
        base: Word::path(up.base_dir.trim_end_matches('/').to_string()),
        source: Word::path(crate::plan::repo_path(up, owner)),
        bucket: b.remote.clone(),
        copy: format!("{}/{owner}/restic", b.remote),
        quarantine: format!("{}/.quarantine/{owner}", b.remote),
        quarantine_days: config.replication.quarantine_days,
    }
}

/// How long listing a copy (or hashing its config) may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(600);

fn words(u: &Upload, args: &[&str]) -> Vec<Word> {
    u.rclone
        .iter()
        .cloned()
        .chain(args.iter().map(|a| Word::lit(*a)))
        .collect()
}

/// Lists the bucket's folder once for every copy and quarantine in it: every object,
/// with size and hashes (`--fast-list`: one listing request per 1000 objects on S3).
pub fn list_words(u: &Upload) -> Vec<Word> {
    let mut w = words(
        u,
        &[
            "lsjson",
            "-R",
            "--files-only",
            "--hash",
            "--no-mimetype",
            "--fast-list",
        ],
    );
    w.push(Word::lit(&u.bucket));
    w
}

/// The SHA-256 of the copies' `config` files (`<repo>/restic/config` on stdin, one per
/// copy that has one), downloaded and hashed by rclone on the uploading node.
pub fn config_hash_words(u: &Upload) -> Vec<Word> {
    let mut w = words(
        u,
        &["hashsum", "sha256", "--download", "--files-from-raw", "-"],
    );
    w.push(Word::lit(&u.bucket));
    w
}

/// Uploads the names on stdin (`<repo>/restic/<path>`, of any number of repositories)
/// from the uploading node's folder of repositories to the bucket's, with one JSON stats
/// line a second on stderr (the bytes so far, for progress). `--no-check-dest`: every
/// name given is one the copy lacks (restic never changes a file once written).
pub fn copy_words(u: &Upload) -> Vec<Word> {
    let mut w = words(
        u,
        &[
            "copy",
            "--files-from-raw",
            "-",
            "--no-traverse",
            "--no-check-dest",
            "--use-json-log",
            "--stats",
            "1s",
            "--stats-log-level",
            "NOTICE",
        ],
    );
    w.push(u.base.clone());
    w.push(Word::lit(&u.bucket));
    w
}

/// Moves the names on stdin from the copy into its quarantine folder of this run.
pub fn quarantine_words(u: &Upload, stamp: &str) -> Vec<Word> {
    let mut w = words(u, &["move", "--files-from-raw", "-", "--no-traverse"]);
    w.push(Word::lit(&u.copy));
    w.push(Word::lit(format!("{}/{stamp}", u.quarantine)));
    w
}

/// Deletes one of rclone's leftovers (`name`, a path inside the copy).
pub fn leftover_words(u: &Upload, name: &str) -> Vec<Word> {
    let mut w = words(u, &["deletefile"]);
    w.push(Word::lit(format!("{}/{name}", u.copy)));
    w
}

/// Removes one quarantine folder and everything in it.
pub fn purge_words(u: &Upload, stamp: &str) -> Vec<Word> {
    let mut w = words(u, &["purge"]);
    w.push(Word::lit(format!("{}/{stamp}", u.quarantine)));
    w
}

/// The quarantine folders among `names` older than `days` at `now`: named by the local
/// time of the run that filled them (`YYYYmmdd-HHMMSS`); any other name is left alone.
fn expired(names: &[String], now: chrono::NaiveDateTime, days: u32) -> Vec<String> {
    let limit = now - chrono::Duration::days(i64::from(days));
    names
        .iter()
        .filter(|n| {
            chrono::NaiveDateTime::parse_from_str(n, "%Y%m%d-%H%M%S").is_ok_and(|t| t < limit)
        })
        .cloned()
        .collect()
}

/// The upload step's commands as a person could type them on the uploading node.
pub fn commands(uploads: &[Upload]) -> Vec<String> {
    let Some(u) = uploads.first() else {
        return vec![];
    };
    let mut out = vec![
        format!(
            "{}   (once a run for every copy in the bucket and their quarantine, read strictly: only names restic writes)",
            action::display(&list_words(u))
        ),
        format!(
            "{}   (each copy's `<repo>/restic/config` on stdin, once a run for all: it must be the source's, or that copy is not touched)",
            action::display(&config_hash_words(u))
        ),
    ];
    for u in uploads {
        out.push(format!(
            "{}   (only after an upload was cut on a backend that renames into place: each of rclone's `NAME.XXXXXXXX.partial` files left in the copy)",
            action::display(&leftover_words(u, "NAME.XXXXXXXX.partial"))
        ));
    }
    out.push(format!(
        "{}   (one call per phase for every copy, in order keys, config, data, index, snapshots: the names the copies lack on stdin as `<repo>/restic/<path>`; rclone verifies each upload's size and hash, and the next phase starts only when every file of this one passed)",
        action::display(&copy_words(u))
    ));
    for u in uploads {
        out.push(format!(
            "{}   (names the source no longer has, snapshots, then index, then data)",
            action::display(&quarantine_words(u, "TIME"))
        ));
        out.push(format!(
            "{}   (then each quarantine folder the listing found older than {} days)",
            action::display(&purge_words(u, "TIME")),
            u.quarantine_days
        ));
    }
    out
}

/// The listing's array of files.
fn json_files(text: &str) -> Result<Vec<serde_json::Value>, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("rclone's listing is not JSON: {e}"))?;
    match v {
        serde_json::Value::Array(items) => Ok(items),
        _ => Err("rclone's listing is not a list of files".into()),
    }
}

fn entry_path(item: &serde_json::Value) -> Result<&str, String> {
    item["Path"]
        .as_str()
        .ok_or_else(|| format!("unexpected entry in rclone's listing: {item}"))
}

/// Whether `path` is rclone's temporary name for an upload of a file restic writes:
/// `<name>.<8 letters or digits>.partial` (rclone's default `--partial-suffix`), left
/// behind when an upload to a backend that renames into place was cut.
fn rclone_partial(path: &str) -> bool {
    use super::inventory::{classify, Entry};
    let Some((base, random)) = path
        .strip_suffix(".partial")
        .and_then(|p| p.rsplit_once('.'))
    else {
        return false;
    };
    random.len() == 8
        && random.bytes().all(|b| b.is_ascii_alphanumeric())
        && matches!(classify(base), Ok(Entry::Config | Entry::Content(_)))
}

/// One copy in the bucket's listing.
#[derive(Default)]
struct Copy {
    files: RepoFiles,
    has_config: bool,
    /// rclone's leftovers of uploads cut short (see `rclone_partial`).
    partial: Vec<String>,
}

/// One copy's files, each `(path inside the copy, rclone's entry)`.
fn parse_entries<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a serde_json::Value)>,
) -> Result<Copy, String> {
    use super::inventory::{classify, Entry};
    let mut c = Copy::default();
    for (path, item) in entries {
        let (Some(size), Some(false)) = (item["Size"].as_u64(), item["IsDir"].as_bool()) else {
            return Err(format!("unexpected entry in rclone's listing: {item}"));
        };
        if rclone_partial(path) {
            c.partial.push(path.to_string());
            continue;
        }
        match classify(path) {
            Ok(Entry::Config) => {
                c.has_config = true;
                c.files.config_md5 = item["Hashes"]["md5"]
                    .as_str()
                    .filter(|m| super::inventory::is_md5(m))
                    .map(String::from);
            }
            Ok(Entry::Temporary) => {
                c.files.unsound.get_or_insert(format!(
                    "{path} is a temporary name, never uploaded by wbackup"
                ));
            }
            Ok(_) => {
                let time = item["ModTime"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map_or(0.0, |t| t.timestamp() as f64);
                c.files.files.insert(path.to_string(), (size, time));
            }
            Err(e) => {
                c.files.unsound.get_or_insert(e);
            }
        }
    }
    Ok(c)
}

/// Reads the listing of the whole bucket folder: for each of `owners`, its copy
/// (`<repo>/restic/...`, read as strictly as one copy's listing) and its quarantine
/// folders (`.quarantine/<repo>/<time>/...`). Other folders are not wbackup's and are
/// left out. Returns the owners whose copy has a `config`.
pub fn parse_bucket(text: &str, owners: &[String]) -> Result<(Inventory, Vec<String>), String> {
    let items = json_files(text)?;
    let mut per: HashMap<&str, Vec<(&str, &serde_json::Value)>> = HashMap::new();
    let mut quarantine: HashMap<String, BTreeSet<String>> = HashMap::new();
    for item in &items {
        let path = entry_path(item)?;
        if let Some(rest) = path.strip_prefix(".quarantine/") {
            if let Some((repo, tail)) = rest.split_once('/') {
                if let Some((stamp, _)) = tail.split_once('/') {
                    quarantine
                        .entry(repo.to_string())
                        .or_default()
                        .insert(stamp.to_string());
                }
            }
            continue;
        }
        if let Some((repo, inside)) = path.split_once("/restic/") {
            if owners.iter().any(|o| o == repo) {
                per.entry(repo).or_default().push((inside, item));
            }
        }
    }
    let mut inv = Inventory::default();
    let mut with_config = vec![];
    for (repo, entries) in per {
        let c = parse_entries(entries)?;
        if c.has_config {
            with_config.push(repo.to_string());
        }
        if !c.partial.is_empty() {
            inv.partial.insert(repo.to_string(), c.partial);
        }
        inv.repos.insert(repo.to_string(), c.files);
    }
    with_config.sort();
    inv.quarantine = quarantine
        .into_iter()
        .map(|(r, s)| (r, s.into_iter().collect()))
        .collect();
    Ok((inv, with_config))
}

/// What the bucket holds of `owners`' copies, their configs' hashes and their
/// quarantine folders: one rclone call for every copy, whatever their number, and one
/// more to hash the configs that `sources` (each repository's config as its source
/// holds it: SHA-256 and MD5) does not prove by the MD5 the listing shows.
pub async fn listing(
    conn: &Conn,
    u: &Upload,
    owners: &[String],
    sources: &HashMap<String, (String, String)>,
    cancel: &CancellationToken,
) -> Result<Inventory, String> {
    let argv = action::expand(&list_words(u), &conn.home);
    let (fin, lines) =
        process::capture(conn.at(), Job::new(argv).timeout(LIST_TIMEOUT), cancel).await;
    // A backend with real folders (a local folder, SFTP, Drive, Dropbox) says "directory
    // not found", exit status 3, where nothing was uploaded yet; an object store lists
    // nothing. Either way every copy is still to be made, and nothing is removed from
    // an empty copy.
    if fin.code == Some(3) {
        return Ok(Inventory::default());
    }
    if !fin.success() {
        return Err(format!("cannot list {}: {}", u.bucket, fin.describe()));
    }
    let (mut inv, with_config) = parse_bucket(&lines.join("\n"), owners)?;
    let with_config = unproven(&mut inv, with_config, sources);
    if with_config.is_empty() {
        return Ok(inv);
    }
    let names: Vec<String> = with_config
        .iter()
        .map(|r| format!("{r}/restic/config"))
        .collect();
    let argv = action::expand(&config_hash_words(u), &conn.home);
    let job = Job::new(argv)
        .stdin(Input::Bytes(names_in(
            &names.iter().map(String::as_str).collect::<Vec<_>>(),
        )))
        .timeout(LIST_TIMEOUT);
    let (fin, lines) = process::capture(conn.at(), job, cancel).await;
    if !fin.success() {
        return Err(format!(
            "cannot read the copies' config in {}: {}",
            u.bucket,
            fin.describe()
        ));
    }
    for (repo, sha) in parse_config_hashes(&lines, &with_config)? {
        if let Some(files) = inv.repos.get_mut(&repo) {
            files.config_sha = Some(sha);
        }
    }
    Ok(inv)
}

/// The copies among `with_config` whose config the listing's MD5 does not prove to be
/// their source's (`sources`: SHA-256 and MD5 of each source's config); the others get
/// their source's SHA-256 as their config's.
fn unproven(
    inv: &mut Inventory,
    mut with_config: Vec<String>,
    sources: &HashMap<String, (String, String)>,
) -> Vec<String> {
    with_config.retain(|repo| {
        let Some(files) = inv.repos.get_mut(repo) else {
            return true;
        };
        match (sources.get(repo), &files.config_md5) {
            (Some((sha, md5)), Some(m)) if m == md5 => {
                files.config_sha = Some(sha.clone());
                false
            }
            _ => true,
        }
    });
    with_config
}

/// Whether the copy on the bucket has its config: one listing of its top level (rclone
/// says "directory not found", exit status 3, where nothing was ever uploaded). Asked
/// once (`--retries 1`): a server out of reach is said at once, not after minutes of
/// rclone's back-off, and verification tells it apart from a damaged copy.
pub async fn has_config(
    conn: &Conn,
    u: &Upload,
    cancel: &CancellationToken,
) -> Result<bool, String> {
    let mut w = words(
        u,
        &["lsjson", "--files-only", "--no-mimetype", "--retries", "1"],
    );
    w.push(Word::lit(&u.copy));
    let argv = action::expand(&w, &conn.home);
    let (fin, lines) =
        process::capture(conn.at(), Job::new(argv).timeout(LIST_TIMEOUT), cancel).await;
    match fin.code {
        Some(0) => {
            let top: Vec<serde_json::Value> = serde_json::from_str(&lines.join("\n"))
                .map_err(|e| format!("rclone lsjson {}: {e}", u.copy))?;
            Ok(top.iter().any(|f| f["Path"] == "config"))
        }
        Some(3) => Ok(false),
        _ => Err(format!("cannot list {}: {}", u.copy, fin.describe())),
    }
}

/// `rclone hashsum sha256` of the copies' configs: one line `<64 hex>  <repo>/restic/config`
/// for each of `repos`, and nothing else.
fn parse_config_hashes(
    lines: &[String],
    repos: &[String],
) -> Result<Vec<(String, String)>, String> {
    let mut out = vec![];
    for l in lines {
        let parsed = l.split_once("  ").and_then(|(h, name)| {
            let repo = name.strip_suffix("/restic/config")?;
            let hex = h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            (hex && repos.iter().any(|r| r == repo)).then(|| (repo.to_string(), h.to_string()))
        });
        match parsed {
            Some(p) if !out.iter().any(|(r, _)| *r == p.0) => out.push(p),
            _ => return Err(format!("unexpected hash line {l:?}")),
        }
    }
    if out.len() != repos.len() {
        return Err(format!(
            "expected {} hash line(s), got {}",
            repos.len(),
            out.len()
        ));
    }
    Ok(out)
}

/// One repository's copy in an upload step.
pub struct CopyUp<'a> {
    pub upload: &'a Upload,
    /// The source's files (the uploading node's copy holds exactly these).
    pub src_files: &'a RepoFiles,
    /// The bucket's copy as listed; brought up to date as phases complete.
    pub dst_files: RepoFiles,
    /// Files the copy holds that the source no longer has, in deletion order (`extras`).
    pub gone: Vec<String>,
    /// The copy's quarantine folders, as the bucket's listing found them.
    pub quarantined: Vec<String>,
    /// rclone's leftovers of uploads cut short in the copy (`Inventory::partial`).
    pub leftovers: Vec<String>,
    /// Why this copy was left as it was (set by `upload`); None when it is up to date.
    pub failure: Option<HopError>,
}

/// Every copy of one upload step into one bucket.
pub struct Batch<'a> {
    /// The uploading node (the copies read are its own).
    pub from: &'a Conn,
    pub to: &'a str,
    pub stamp: &'a str,
    pub copies: Vec<CopyUp<'a>>,
}

/// The bytes uploaded so far, from one of rclone's JSON stats lines.
fn stats_bytes(line: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    v.get("stats")?.get("bytes")?.as_u64()
}

/// Names, one per line, for `--files-from-raw -`.
fn names_in(names: &[&str]) -> Vec<u8> {
    names
        .iter()
        .flat_map(|n| format!("{n}\n").into_bytes())
        .collect()
}

/// The files a copy lacks (`todo`) and whether it lacks its config.
fn lacks(c: &CopyUp<'_>) -> (Vec<(String, u64)>, bool) {
    (
        missing(c.src_files, &c.dst_files),
        c.dst_files.config_sha.is_none(),
    )
}

/// Brings every copy of the batch up to date with its source: each copy's identity
/// proven and rclone's leftovers removed, then the additive pass phase by phase, one
/// `rclone copy` per phase for every copy, then each copy's deletion pass. A copy that
/// cannot go on gets its `failure`; the others go on. Returns the bytes carried so far.
/// Err only when the run was cancelled.
pub async fn upload(
    b: &mut Batch<'_>,
    cancel: &CancellationToken,
    out: &mut dyn HopOutput,
    done: u64,
) -> Result<u64, ()> {
    out.hop(&b.from.node.name, b.to);
    for k in 0..b.copies.len() {
        if let Err(e) = prelude(b, &b.copies[k], cancel, out).await {
            if e == HopError::Cancelled {
                return Err(());
            }
            b.copies[k].failure = Some(e);
        }
    }
    let live = |c: &CopyUp<'_>| c.failure.is_none();
    let todos: Vec<(Vec<(String, u64)>, bool)> = b.copies.iter().map(lacks).collect();
    let work = b
        .copies
        .iter()
        .zip(&todos)
        .filter(|(c, _)| live(c))
        .any(|(c, (todo, need_config))| !todo.is_empty() || *need_config || !c.gone.is_empty());
    if !work {
        for c in b.copies.iter().filter(|c| live(c)) {
            out.line(
                Stream::Info,
                format!("{} on {}: up to date", c.upload.repo, b.to),
            );
        }
    } else {
        say_uploading(b, &todos, out);
    }
    let mut done = done;
    for phase in PHASES {
        let names: Vec<String> = b
            .copies
            .iter()
            .zip(&todos)
            .filter(|(c, _)| live(c))
            .flat_map(|(c, (todo, need_config))| {
                let repo = &c.upload.repo;
                let files: Vec<String> = if phase == "config" {
                    need_config
                        .then(|| "config".to_string())
                        .into_iter()
                        .collect()
                } else {
                    todo.iter()
                        .filter(|(p, _)| phase_of(p) == Some(phase))
                        .map(|(p, _)| p.clone())
                        .collect()
                };
                files.into_iter().map(move |f| format!("{repo}/restic/{f}"))
            })
            .collect();
        if names.is_empty() {
            continue;
        }
        let bytes: u64 = todos
            .iter()
            .flat_map(|(t, _)| t)
            .filter(|(p, _)| phase_of(p) == Some(phase))
            .map(|(_, s)| s)
            .sum();
        match phase_upload(b, phase, &names, cancel, out, done).await {
            Ok(()) => done += bytes,
            Err(HopError::Cancelled) => return Err(()),
            Err(e) => {
                // Every copy with work left keeps its earlier phases whole and nothing
                // of this one or later ones.
                let from_here = |p: &str| {
                    let at = |x: &str| PHASES.iter().position(|y| *y == x);
                    at(p) >= at(phase)
                };
                for (c, (todo, need_config)) in b.copies.iter_mut().zip(&todos) {
                    let left = *need_config && from_here("config")
                        || todo.iter().any(|(p, _)| phase_of(p).is_some_and(from_here));
                    if c.failure.is_none() && left {
                        c.failure = Some(e.clone());
                    }
                }
                break;
            }
        }
        for (c, (todo, _)) in b.copies.iter_mut().zip(&todos) {
            if c.failure.is_some() {
                continue;
            }
            if phase == "config" && c.dst_files.config_sha.is_none() {
                c.dst_files.config_sha = c.src_files.config_sha.clone();
            }
            for (p, size) in todo.iter().filter(|(p, _)| phase_of(p) == Some(phase)) {
                c.dst_files.files.insert(p.clone(), (*size, 0.0));
            }
        }
    }
    for k in 0..b.copies.len() {
        if b.copies[k].failure.is_some() {
            continue;
        }
        let one = One::of(b, &b.copies[k]);
        let finished = match quarantine(&one, cancel, out).await {
            Ok(moved) => purge(&one, cancel, out).await.map(|()| moved),
            Err(e) => Err(e),
        };
        let c = &mut b.copies[k];
        match finished {
            Ok(true) => {
                for g in std::mem::take(&mut c.gone) {
                    c.dst_files.files.remove(&g);
                }
            }
            Ok(false) => {}
            Err(HopError::Cancelled) => return Err(()),
            Err(e) => c.failure = Some(e),
        }
    }
    Ok(done)
}

/// A copy's identity proven (its config, when it has one, is the source's) and rclone's
/// leftovers of cut uploads removed from it.
async fn prelude(
    b: &Batch<'_>,
    c: &CopyUp<'_>,
    cancel: &CancellationToken,
    out: &mut dyn HopOutput,
) -> Result<(), HopError> {
    let repo = &c.upload.repo;
    let src_sha = c.src_files.config_sha.as_ref().ok_or_else(|| {
        HopError::Failed(format!(
            "{repo}'s copy on {} has no config",
            b.from.node.name
        ))
    })?;
    if c.dst_files
        .config_sha
        .as_ref()
        .is_some_and(|d| d != src_sha)
    {
        return Err(HopError::Foreign);
    }
    remove_leftovers(&One::of(b, c), cancel, out).await
}

/// One copy of a batch, for the passes that work copy by copy.
struct One<'b> {
    from: &'b Conn,
    to: &'b str,
    stamp: &'b str,
    repo: &'b str,
    upload: &'b Upload,
    gone: &'b [String],
    quarantined: &'b [String],
    leftovers: &'b [String],
}

impl<'b> One<'b> {
    fn of(b: &'b Batch<'_>, c: &'b CopyUp<'_>) -> One<'b> {
        One {
            from: b.from,
            to: b.to,
            stamp: b.stamp,
            repo: &c.upload.repo,
            upload: c.upload,
            gone: &c.gone,
            quarantined: &c.quarantined,
            leftovers: &c.leftovers,
        }
    }
}

/// Says what the step uploads, copy by copy.
fn say_uploading(b: &Batch<'_>, todos: &[(Vec<(String, u64)>, bool)], out: &mut dyn HopOutput) {
    for (c, (todo, need_config)) in b.copies.iter().zip(todos) {
        if c.failure.is_some() {
            continue;
        }
        let bytes: u64 = todo.iter().map(|(_, s)| s).sum();
        let n = todo.len() + usize::from(*need_config);
        out.line(
            Stream::Info,
            if n == 0 {
                format!("{} on {}: nothing to upload", c.upload.repo, b.to)
            } else {
                format!(
                    "{} → {}: uploading {}: {n} file(s), {}",
                    b.from.node.name,
                    b.to,
                    c.upload.repo,
                    super::human_bytes(bytes)
                )
            },
        );
    }
}

/// One phase of every copy: `names` (`<repo>/restic/<path>`) uploaded in one call.
/// rclone verifies every file it uploads against the source, by size and by the hash
/// the backend computed of what it received where there is one (MD5 on S3, SHA-1 on
/// B2), and deletes an upload that does not match: exit status 0 means every file of
/// the phase is there, whole. Err leaves every later phase not started.
async fn phase_upload(
    b: &Batch<'_>,
    phase: &str,
    names: &[String],
    cancel: &CancellationToken,
    out: &mut dyn HopOutput,
    done: u64,
) -> Result<(), HopError> {
    let u = b.copies[0].upload;
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let fin = process::run(
        b.from.at(),
        Job::new(action::expand(&copy_words(u), &b.from.home))
            .stdin(Input::Bytes(names_in(&names))),
        cancel,
        |stream, text| match stats_bytes(&text) {
            Some(n) => out.progress(done + n),
            None if text.trim().is_empty() => {}
            None => out.line(stream, text),
        },
    )
    .await;
    if fin.cancelled {
        return Err(HopError::Cancelled);
    }
    if !fin.success() {
        return Err(HopError::Failed(format!(
            "uploading {phase} to {} failed: {}; the copy holds every earlier phase whole and nothing of later ones",
            b.to,
            fin.describe()
        )));
    }
    out.line(
        Stream::Info,
        format!(
            "{} → {}: {phase}: {} file(s) uploaded and verified",
            b.from.node.name,
            b.to,
            names.len()
        ),
    );
    Ok(())
}

/// Deletes rclone's leftovers of uploads a cut left in the copy, one file at a time
/// (`deletefile` names one file: no filter that could widen it): a temporary name of
/// rclone's is nothing restic wrote or reads, and the file it stood for is uploaded
/// again when the copy lacks it.
async fn remove_leftovers(
    h: &One<'_>,
    cancel: &CancellationToken,
    out: &mut dyn HopOutput,
) -> Result<(), HopError> {
    for name in h.leftovers {
        let job = Job::new(action::expand(
            &leftover_words(h.upload, name),
            &h.from.home,
        ));
        let (fin, said) = process::capture(h.from.at(), job, cancel).await;
        if fin.cancelled {
            return Err(HopError::Cancelled);
        }
        if !fin.success() {
            return Err(HopError::Failed(format!(
                "removing {name}, an upload cut short, from {}'s copy of {} failed: {}{}",
                h.to,
                h.repo,
                fin.describe(),
                said.last().map(|l| format!(" ({l})")).unwrap_or_default()
            )));
        }
    }
    if !h.leftovers.is_empty() {
        out.line(
            Stream::Info,
            format!(
                "{} on {}: {} upload(s) cut short in an earlier run removed ({})",
                h.repo,
                h.to,
                h.leftovers.len(),
                h.leftovers.join(", ")
            ),
        );
    }
    Ok(())
}

/// The deletion pass: `gone` moved into this run's quarantine folder, one phase at a
/// time in the order `extras` gives (snapshots, index, data, keys). Ok(false) when the
/// bucket refused and kept them.
async fn quarantine(
    h: &One<'_>,
    cancel: &CancellationToken,
    out: &mut dyn HopOutput,
) -> Result<bool, HopError> {
    let mut phases: Vec<&str> = vec![];
    for g in h.gone {
        if let Some(p) = phase_of(g) {
            if !phases.contains(&p) {
                phases.push(p);
            }
        }
    }
    for phase in phases {
        let names: Vec<&str> = h
            .gone
            .iter()
            .filter(|g| phase_of(g) == Some(phase))
            .map(String::as_str)
            .collect();
        let mut said: Vec<(Stream, String)> = vec![];
        let fin = process::run(
            h.from.at(),
            Job::new(action::expand(
                &quarantine_words(h.upload, h.stamp),
                &h.from.home,
            ))
            .stdin(Input::Bytes(names_in(&names))),
            cancel,
            |stream, text| {
                if !text.trim().is_empty() {
                    said.push((stream, text))
                }
            },
        )
        .await;
        if fin.cancelled {
            return Err(HopError::Cancelled);
        }
        if !fin.success() && deletion_refused(said.iter().map(|(_, t)| t.as_str())) {
            // The bucket keeps what it holds (object lock, a key without the right to
            // delete): the copy is complete and sound, only larger than its source.
            // What rclone already copied into this run's quarantine folder goes again,
            // so that refused runs do not pile up copies there (best effort: a bucket
            // that locks every new object keeps them, and says so the same way).
            let home = &h.from.home;
            let job = Job::new(action::expand(&purge_words(h.upload, h.stamp), home));
            let _ = process::capture(h.from.at(), job, cancel).await;
            out.line(
                Stream::Notice,
                format!(
                    "{} refuses deletions (object lock or a key that may not delete): {}'s copy keeps the {} file(s) the source removed; nothing else is affected",
                    h.to,
                    h.repo,
                    h.gone.len()
                ),
            );
            return Ok(false);
        }
        for (stream, text) in said {
            out.line(stream, text);
        }
        if !fin.success() {
            return Err(HopError::Failed(format!(
                "moving {} {phase} file(s) the source removed into {}/{} failed: {}; the copy keeps them",
                names.len(),
                h.upload.quarantine,
                h.stamp,
                fin.describe()
            )));
        }
        out.line(
            Stream::Info,
            format!(
                "{} on {}: {phase}: {} file(s) the source removed moved to quarantine",
                h.repo,
                h.to,
                names.len()
            ),
        );
    }
    Ok(true)
}

/// Purges the copy's quarantine folders older than `quarantine_days` (as the bucket's
/// listing found them), as a node's prepare step purges its own. A purge that fails is
/// said and left to the next run: the copy itself is complete either way.
async fn purge(
    h: &One<'_>,
    cancel: &CancellationToken,
    out: &mut dyn HopOutput,
) -> Result<(), HopError> {
    let home = &h.from.home;
    let now = chrono::Local::now().naive_local();
    for stamp in expired(h.quarantined, now, h.upload.quarantine_days) {
        let job = Job::new(action::expand(&purge_words(h.upload, &stamp), home));
        let fin = process::run(h.from.at(), job, cancel, |_, _| {}).await;
        if fin.cancelled {
            return Err(HopError::Cancelled);
        }
        out.line(
            Stream::Info,
            if fin.success() {
                format!(
                    "{} on {}: quarantine folder {stamp} purged (older than {} days)",
                    h.repo, h.to, h.upload.quarantine_days
                )
            } else {
                format!(
                    "{} on {}: quarantine folder {stamp} could not be purged ({}); a later run tries again",
                    h.repo,
                    h.to,
                    fin.describe()
                )
            },
        );
    }
    Ok(())
}

/// Whether rclone's words say the bucket refused to delete (the server-side copy into
/// quarantine worked, the removal of the original did not): `Couldn't delete` is rclone's
/// line for a refused removal, whatever the status the server answered with (403 from an
/// append-only key, 403 or 500 from a locked object).
fn deletion_refused<'a>(mut lines: impl Iterator<Item = &'a str>) -> bool {
    lines.any(|l| l.contains("Couldn't delete") || l.contains("AccessDenied"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn upload() -> Upload {
        Upload {
            repo: "a".into(),
            rclone: vec![
                Word::lit("rclone"),
                Word::lit("--config"),
                Word::path("~/my rc.conf"),
            ],
            base: Word::path("~/backup"),
            source: Word::path("~/backup/a/restic"),
            bucket: "lab:bucket/w".into(),
            copy: "lab:bucket/w/a/restic".into(),
            quarantine: "lab:bucket/w/.quarantine/a".into(),
            quarantine_days: 14,
        }
    }

    #[test]
    fn listings_are_read_strictly() {
        // One copy's part of the bucket's listing.
        fn one(text: &str) -> Result<(RepoFiles, bool), String> {
            let (mut inv, with_config) = parse_bucket(text, &["a".to_string()])?;
            let files = inv.repos.remove("a").unwrap_or_default();
            Ok((files, with_config == ["a"]))
        }
        let text = format!(
            r#"[{{"Path":"a/restic/config","Size":155,"IsDir":false}},
               {{"Path":"a/restic/keys/{H}","Size":400,"IsDir":false,"Hashes":{{"md5":"x"}}}},
               {{"Path":"a/restic/data/01/{H}","Size":10,"IsDir":false}}]"#
        );
        let (files, has_config) = one(&text).unwrap();
        assert!(has_config);
        assert_eq!(files.unsound, None);
        assert_eq!(files.content().count(), 2);
        // A name restic never writes makes the copy unsound.
        let (files, _) =
            one(r#"[{"Path":"a/restic/data/../../x","Size":1,"IsDir":false}]"#).unwrap();
        assert!(files.unsound.unwrap().contains("not a file restic writes"));
        for bad in [
            "{}",
            "[1]",
            r#"[{"Path":"a/restic/config","Size":-1,"IsDir":false}]"#,
            "nope",
        ] {
            assert!(one(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_listing_of_the_bucket_reads_every_copy_and_quarantine_strictly() {
        let owners: Vec<String> = ["a", "b", "c"].map(String::from).into();
        let text = format!(
            r#"[{{"Path":"a/restic/config","Size":155,"IsDir":false}},
               {{"Path":"a/restic/data/01/{H}","Size":10,"IsDir":false}},
               {{"Path":"b/restic/config","Size":155,"IsDir":false}},
               {{"Path":"b/restic/data/../../a/restic/x","Size":1,"IsDir":false}},
               {{"Path":".quarantine/a/20261101-000000/snapshots/{H}","Size":3,"IsDir":false}},
               {{"Path":".quarantine/a/20261101-000000/index/{H}","Size":3,"IsDir":false}},
               {{"Path":".quarantine/a/20261120-000000/data/01/{H}","Size":3,"IsDir":false}},
               {{"Path":"notes.txt","Size":3,"IsDir":false}},
               {{"Path":"other/restic/whatever","Size":3,"IsDir":false}}]"#
        );
        let (inv, with_config) = parse_bucket(&text, &owners).unwrap();
        assert_eq!(with_config, ["a", "b"]);
        let a = &inv.repos["a"];
        assert_eq!((a.unsound.clone(), a.content().count()), (None, 1));
        // A name restic never writes spoils its own copy, not its neighbours'.
        assert!(inv.repos["b"]
            .unsound
            .as_ref()
            .unwrap()
            .contains("not a file restic writes"));
        assert!(!inv.repos.contains_key("c") && !inv.repos.contains_key("other"));
        assert_eq!(inv.quarantine["a"], ["20261101-000000", "20261120-000000"]);
        assert!(parse_bucket(r#"[{"Path":"a/restic/config","IsDir":false}]"#, &owners).is_err());
        // rclone's leftovers of a cut upload are set aside for the hop to remove; a name
        // that only looks like one spoils its copy.
        let text = format!(
            r#"[{{"Path":"a/restic/config","Size":155,"IsDir":false}},
               {{"Path":"a/restic/data/01/{H}.0f0f117c.partial","Size":7,"IsDir":false}},
               {{"Path":"a/restic/config.Ab3dE6g8.partial","Size":7,"IsDir":false}},
               {{"Path":"b/restic/data/01/{H}.0f0f117.partial","Size":7,"IsDir":false}},
               {{"Path":"c/restic/locks/{H}.0f0f117c.partial","Size":7,"IsDir":false}}]"#
        );
        let (inv, _) = parse_bucket(&text, &owners).unwrap();
        assert_eq!(
            inv.partial["a"],
            [
                format!("data/01/{H}.0f0f117c.partial"),
                "config.Ab3dE6g8.partial".to_string()
            ]
        );
        assert_eq!(inv.repos["a"].unsound, None);
        for spoiled in ["b", "c"] {
            assert!(inv.repos[spoiled].unsound.is_some(), "{spoiled}");
            assert!(!inv.partial.contains_key(spoiled), "{spoiled}");
        }
        // A config whose listed MD5 is its source's is proven without a download; one
        // whose MD5 differs, or is not listed, is hashed.
        let m = |c: char| c.to_string().repeat(32);
        let text = format!(
            r#"[{{"Path":"a/restic/config","Size":1,"IsDir":false,"Hashes":{{"md5":"{}"}}}},
               {{"Path":"b/restic/config","Size":1,"IsDir":false,"Hashes":{{"md5":"{}"}}}},
               {{"Path":"c/restic/config","Size":1,"IsDir":false}}]"#,
            m('a'),
            m('b')
        );
        let (mut inv, with_config) = parse_bucket(&text, &owners).unwrap();
        let sources: HashMap<String, (String, String)> = ["a", "b", "c"]
            .map(|r| (r.to_string(), (H.to_string(), m('a'))))
            .into();
        assert_eq!(unproven(&mut inv, with_config, &sources), ["b", "c"]);
        assert_eq!(inv.repos["a"].config_sha.as_deref(), Some(H));
        assert_eq!(inv.repos["b"].config_sha, None);
        // Each copy's config hashed once, by name; anything else is refused.
        let line = |r: &str| format!("{H}  {r}/restic/config");
        let two: Vec<String> = ["a", "b"].map(String::from).into();
        let got = parse_config_hashes(&[line("b"), line("a")], &two).unwrap();
        assert_eq!(got, [("b".into(), H.into()), ("a".into(), H.into())]);
        for bad in [
            vec![line("a")],
            vec![line("a"), line("a")],
            vec![line("a"), line("c")],
            vec![line("a"), format!("{H}  b/restic/keys/x")],
            vec![line("a"), line("b"), "hello".into()],
        ] {
            assert!(parse_config_hashes(&bad, &two).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rclones_configuration_reaches_restic_as_one_field_whatever_its_name() {
        // restic's own splitter, as restic/internal/backend/shell_split.go has it.
        fn split(data: &str) -> Vec<String> {
            let (mut quote, mut last, mut out, mut field) = (None, ' ', vec![], None::<String>);
            for c in data.chars() {
                let split = if last != '\\' && quote == Some(c) {
                    quote = None;
                    true
                } else if last != '\\' && quote.is_none() && (c == '"' || c == '\'') {
                    quote = Some(c);
                    true
                } else {
                    last = c;
                    quote.is_none() && (c == '\\' || c.is_whitespace())
                };
                match (split, field.as_mut()) {
                    (true, Some(_)) => out.push(field.take().unwrap()),
                    (true, None) => {}
                    (false, Some(f)) => f.push(c),
                    (false, None) => field = Some(c.to_string()),
                }
            }
            assert!(quote.is_none(), "unterminated quote in {data:?}");
            out.extend(field);
            out
        }
        for path in [
            "/home/a/rclone.conf",
            "/home/a b/rclone.conf",
            "/home/it's/rclone.conf",
            "/home/say \"hi\"/rclone.conf",
            "/home/back\\slash/r.conf",
            "/home/tab\there/r.conf",
            "/home/a,b/r.conf",
        ] {
            // The flag's CSV layer first: one quoted field, its quotes doubled.
            let field = restic_rclone_args(path).unwrap();
            let inner = field.strip_prefix('"').unwrap().strip_suffix('"').unwrap();
            assert!(!inner.replace("\"\"", "").contains('"'), "{field}");
            let args = inner.replace("\"\"", "\"");
            let value = args.strip_prefix("rclone.args=").unwrap();
            assert_eq!(
                split(value),
                [
                    "serve",
                    "restic",
                    "--stdio",
                    "--b2-hard-delete",
                    "--config",
                    path
                ],
                "{value}"
            );
        }
        for path in ["/home/it's \"both\"/r.conf", "/home/trailing\\"] {
            let e = restic_rclone_args(path).unwrap_err();
            assert!(e.contains("move it to a plainer path"), "{e}");
        }
    }

    #[test]
    fn commands_are_words_with_the_users_paths_quoted() {
        let u = upload();
        let copy = action::expand(&copy_words(&u), "/home/me");
        assert_eq!(copy[..3], ["rclone", "--config", "/home/me/my rc.conf"]);
        assert_eq!(copy[copy.len() - 2..], ["/home/me/backup", "lab:bucket/w"]);
        let shown = commands(std::slice::from_ref(&u)).join("\n");
        assert!(
            shown.contains("rclone --config ~/'my rc.conf' copy"),
            "{shown}"
        );
        assert!(shown.contains("lab:bucket/w/.quarantine/a/TIME"), "{shown}");
        let now =
            chrono::NaiveDateTime::parse_from_str("20261128-120000", "%Y%m%d-%H%M%S").unwrap();
        let names: Vec<String> = ["20261101-000000", "20261120-000000", "notes", "2026"]
            .map(String::from)
            .into();
        assert_eq!(expired(&names, now, 14), ["20261101-000000"]);
        assert!(deletion_refused(
            [
                "x",
                "ERROR : f1: Couldn't delete: operation error S3: DeleteObject"
            ]
            .into_iter()
        ));
        assert!(!deletion_refused(
            ["ERROR : connection refused"].into_iter()
        ));
        assert_eq!(
            stats_bytes(r#"{"level":"notice","stats":{"bytes":1110021}}"#),
            Some(1110021)
        );
    }
}
