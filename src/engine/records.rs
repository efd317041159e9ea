//! The orchestrator's records, kept on every other node, and brought back from one of
//! them to a new orchestrator (issue 15).
//!
//! Only the orchestrator holds the configuration and the records replication relies on
//! (the forgotten-snapshot ledger, `<base_dir>/logs/forgotten/<repo>`: without it the
//! shrink guard cannot tell a snapshot wbackup forgot from one that was lost). A stolen
//! laptop would take them along. So the last step of every run copies them into
//! `<base_dir>/.wbackup-records/` on every other node, private to the user (0700/0600),
//! each file replaced whole (rsync writes a temporary file and renames it) and flushed.
//! `wbackup init --from ADDRESS` fetches them back: whatever comes from the node is
//! untrusted, so names and sizes are checked, the configuration is parsed by the normal
//! loader and the ledger's lines must be snapshot ids before anything is written; the
//! configuration never overwrites an existing file.

use super::events::Outcome;
use super::node::{self, Conn};
use super::process::{self, At, Input, Job};
use super::run::Run;
use crate::config::{self, Config, Node};
use crate::plan::Step;
use crate::shell;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// The folder under each node's `base_dir` that holds the orchestrator's records.
pub const RECORDS_DIR: &str = ".wbackup-records";
/// The configuration's name there.
pub const CONFIG_NAME: &str = "config.toml";
/// The ledger's folder there (one file per repository, as in `logs/forgotten`).
pub const LEDGER_DIR: &str = "forgotten";
/// The proof ledger's name there (as in `logs/`).
pub const PROOFS_NAME: &str = "proofs.jsonl";

/// Limits for what `init --from` accepts from a node.
const MAX_CONFIG_BYTES: u64 = 1 << 20;
const MAX_LEDGER_BYTES: u64 = 16 << 20;
const MAX_LEDGERS: usize = 1000;
const MAX_PROOFS_BYTES: u64 = 64 << 20;

/// Flushes the records folder and makes it private again.
const SEAL: &str = include_str!("sh/records-seal.sh");

/// Lists the records folder (read by `parse_listing`).
const LIST: &str = include_str!("sh/records-list.sh");

/// A private folder (0700) that removes itself.
struct Private(PathBuf);

impl Private {
    fn new(parent: &Path, stem: &str) -> std::io::Result<Private> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::create_dir_all(parent)?;
        for n in 0..1000u32 {
            let dir = parent.join(format!("{stem}-{}-{n}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(Private(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other("no free folder name"))
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `bytes` to `path` whole: a private temporary file beside it, flushed, then
/// renamed over it (a reader sees the old file or the new one, never half of one).
fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// The ledger files of the orchestrator, by repository name (only names a node can have).
fn local_ledgers(config: &Config) -> Vec<(String, Vec<u8>)> {
    let dir = crate::logbook::logs_dir(config).join("forgotten");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            config::valid_node_name(&name).then_some(name)
        })
        .filter_map(|name| {
            let bytes = std::fs::read(
                crate::logbook::logs_dir(config)
                    .join("forgotten")
                    .join(&name),
            )
            .ok()?;
            Some((name, bytes))
        })
        .collect();
    out.sort();
    out
}

impl Run<'_> {
    /// The last step: the orchestrator's configuration and ledger into every other
    /// node's `<base_dir>/.wbackup-records/`.
    pub(super) async fn records(&self, step: &Step) -> Outcome {
        let staging = match Private::new(
            &self.config.local_base_dir().join(".wbackup-incoming"),
            ".records",
        ) {
            Ok(p) => p,
            Err(e) => {
                return Outcome::failed(format!(
                    "cannot create a staging folder under {}: {e}",
                    self.config.local_base_dir().display()
                ))
            }
        };
        let mut what = vec![];
        if !self.config.is_builtin() {
            let path = self.config.path();
            // Only a configuration that loads is worth keeping: the nodes keep their last
            // good copy otherwise.
            match std::fs::read_to_string(path) {
                Ok(text) if config::parse(path, &text).is_ok() => {
                    if let Err(e) = write_whole(&staging.0.join(CONFIG_NAME), text.as_bytes()) {
                        return Outcome::failed(format!("cannot stage the configuration: {e}"));
                    }
                    what.push(CONFIG_NAME.to_string());
                }
                _ => self.info(
                    step,
                    format!(
                        "{} does not load as it is now: the nodes keep their previous copy of it",
                        path.display()
                    ),
                ),
            }
        }
        let ledgers = local_ledgers(self.config);
        if !ledgers.is_empty() {
            let dir = staging.0.join(LEDGER_DIR);
            let staged = std::fs::create_dir_all(&dir).and_then(|()| {
                ledgers
                    .iter()
                    .try_for_each(|(name, bytes)| write_whole(&dir.join(name), bytes))
            });
            if let Err(e) = staged {
                return Outcome::failed(format!("cannot stage the forgotten-snapshot ledger: {e}"));
            }
            what.push(format!(
                "the forgotten-snapshot ledger of {} repositor{}",
                ledgers.len(),
                if ledgers.len() == 1 { "y" } else { "ies" }
            ));
        }
        // The proof ledger: which copies were proven restorable, and when.
        let proofs = crate::engine::verify::ledger_path(self.config);
        if let Ok(bytes) = std::fs::read(&proofs) {
            if let Err(e) = write_whole(&staging.0.join(PROOFS_NAME), &bytes) {
                return Outcome::failed(format!("cannot stage the proof ledger: {e}"));
            }
            what.push("the proof ledger".to_string());
        }
        if what.is_empty() {
            return Outcome::Skipped {
                reason: "no records to keep yet".into(),
            };
        }
        let mut reached = vec![];
        for t in &step.targets {
            let unreachable = self.st().unusable.get(t).cloned();
            if let Some(why) = unreachable {
                self.info(
                    step,
                    format!("{t} is {why}: its copy of the records waits for the next run"),
                );
            } else if let Some(conn) = self.conn(t) {
                reached.push((t, conn));
            }
        }
        // Each node on its own connection: the copies go side by side.
        let staged = &staging.0;
        let puts = reached
            .iter()
            .map(|(_, conn)| put(conn, staged, &self.cancel))
            .collect();
        let mut failures = vec![];
        for ((t, _), put) in reached.iter().zip(super::run::all(puts).await) {
            match put {
                Ok(()) => self.info(step, format!("records kept on {t}: {}", what.join(", "))),
                Err(e) => failures.push(e),
            }
        }
        if self.cancel.is_cancelled() {
            return Outcome::Interrupted;
        }
        if failures.is_empty() {
            Outcome::Passed
        } else {
            Outcome::failed(format!("keeping records: {}", failures.join("; ")))
        }
    }
}

/// rsync with `flags` from `src` to `dst`, over `conn`'s connection when it is remote.
fn rsync_argv(conn: &Conn, flags: &[&str], src: String, dst: String) -> Vec<String> {
    let mut argv: Vec<String> = std::iter::once("rsync")
        .chain(flags.iter().copied())
        .chain(["--no-motd"])
        .map(String::from)
        .collect();
    if let Some(r) = &conn.remote {
        argv.push("-e".into());
        argv.push(r.rsync_shell());
    }
    argv.push(src);
    argv.push(dst);
    argv
}

/// Copies the staged records into `conn`'s records folder and seals it.
async fn put(conn: &Conn, staging: &Path, cancel: &CancellationToken) -> Result<(), String> {
    let dest = format!("{}/{RECORDS_DIR}", conn.base());
    let argv = rsync_argv(
        conn,
        &["-rtp", "--chmod=D700,F600"],
        format!("{}/", staging.display()),
        format!("{}/", conn.rsync_spec(&dest)),
    );
    let (fin, _) = process::capture(At::Local, Job::new(argv), cancel).await;
    if !fin.success() {
        return Err(format!(
            "copying them to {} failed: {}",
            conn.node.name,
            fin.describe()
        ));
    }
    conn.script(SEAL, &[dest.as_str()], cancel)
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot flush the records {e}"))
}

/// Where `wbackup init --from` fetches the records.
#[derive(Debug, Clone)]
pub struct Source {
    /// An ssh destination as the user types it (`host`, `user@host`, an alias).
    pub address: String,
    /// That node's `base_dir` (default `~/backup`).
    pub base_dir: String,
    pub port: Option<u16>,
    /// Given to ssh as -F.
    pub ssh_config: Option<String>,
}

/// A records folder as listed on the node, checked: only what wbackup writes there.
#[derive(Debug, Default, PartialEq)]
struct Listing {
    config: bool,
    proofs: bool,
    ledgers: Vec<String>,
    ignored: Vec<String>,
}

fn parse_listing(lines: &[String]) -> Result<Option<Listing>, String> {
    let mut l = Listing::default();
    for line in lines {
        if line == "none" {
            return Ok(None);
        }
        // Any other line is not the script's: nothing is concluded from such a listing.
        let odd = || {
            format!("its records listing holds an unexpected line {line:?}; nothing was written")
        };
        let rest = line.strip_prefix("file ").ok_or_else(odd)?;
        let (path, size) = rest.rsplit_once(' ').ok_or_else(odd)?;
        let size: u64 = size.parse().map_err(|_| odd())?;
        if path == CONFIG_NAME {
            if size > MAX_CONFIG_BYTES {
                return Err(format!(
                    "its {CONFIG_NAME} is {size} bytes, more than a configuration can be; nothing was written"
                ));
            }
            l.config = true;
        } else if path == PROOFS_NAME {
            if size > MAX_PROOFS_BYTES {
                return Err(format!(
                    "its {PROOFS_NAME} is {size} bytes, more than a proof ledger can be; nothing was written"
                ));
            }
            l.proofs = true;
        } else if let Some(name) = path
            .strip_prefix(&format!("{LEDGER_DIR}/"))
            .filter(|n| config::valid_node_name(n))
        {
            if size > MAX_LEDGER_BYTES {
                return Err(format!(
                    "its ledger {path} is {size} bytes, more than a ledger can be; nothing was written"
                ));
            }
            l.ledgers.push(name.to_string());
        } else {
            l.ignored.push(path.to_string());
        }
    }
    if l.ledgers.len() > MAX_LEDGERS {
        return Err(format!(
            "it holds {} ledgers, more than wbackup writes; nothing was written",
            l.ledgers.len()
        ));
    }
    l.ledgers.sort();
    Ok(Some(l))
}

/// The snapshot ids of a ledger, each checked.
fn parse_ledger(name: &str, bytes: &[u8]) -> Result<BTreeSet<String>, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| format!("the ledger of {name} is not text; nothing was written"))?;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            if l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(l.to_ascii_lowercase())
            } else {
                Err(format!(
                    "the ledger of {name} holds {:?}, which is not a snapshot id; nothing was written",
                    l.chars().take(80).collect::<String>()
                ))
            }
        })
        .collect()
}

/// `wbackup init --from`: fetches the records kept on `from` and writes the configuration
/// to `config_path` (never over an existing file) and the ledger into the orchestrator's
/// logs folder that configuration names (merged with any ledger already there). Returns
/// what was written, for the person.
pub async fn fetch(config_path: &Path, from: &Source) -> Result<String, String> {
    if config_path.exists() {
        return Err(format!(
            "{} already exists; nothing was written (move it aside to bring the saved configuration back)",
            config_path.display()
        ));
    }
    let mut cfg = config::builtin_default(config_path.to_path_buf());
    cfg.ssh.config_file = from.ssh_config.clone();
    let node = Node {
        name: "from".into(),
        addresses: vec![from.address.clone()],
        user: None,
        port: from.port,
        base_dir: from.base_dir.clone(),
        paths: vec![],
        exclude: vec![],
        is_orchestrator: false,
    };
    let control =
        node::control_dir().map_err(|e| format!("cannot create a folder for ssh: {e}"))?;
    let control = Private(control);
    let conn = node::connect(&cfg, &node, &control.0).await.map_err(|u| {
        format!(
            "cannot reach {}: {u}; check that `ssh {}` logs in without a prompt",
            from.address,
            shell::quote(&from.address)
        )
    })?;
    let result = fetch_over(&conn, config_path, from).await;
    conn.close().await;
    result
}

/// Copies `names` (relative to `dir` on `conn`) into `staging`: regular files only, each
/// at most 64 MiB.
async fn download(
    conn: &Conn,
    dir: &str,
    names: &[String],
    staging: &Path,
    cancel: &CancellationToken,
) -> Result<(), String> {
    let argv = rsync_argv(
        conn,
        &["-t", "--files-from=-", "--max-size=64m"],
        format!("{}/", conn.rsync_spec(dir)),
        format!("{}/", staging.display()),
    );
    let list: Vec<u8> = names
        .iter()
        .flat_map(|n| format!("{n}\n").into_bytes())
        .collect();
    let (fin, _) =
        process::capture(At::Local, Job::new(argv).stdin(Input::Bytes(list)), cancel).await;
    if fin.success() {
        Ok(())
    } else {
        Err(fin.describe())
    }
}
/// Writes the forgotten-snapshot ledgers (merged with those already here) and the
/// proofs (before those already here) of the configuration `saved`; returns the
/// ledgers' folder.
fn write_ledgers(
    saved: &Config,
    ledgers: &[(String, BTreeSet<String>)],
    proofs: &[String],
) -> Result<PathBuf, String> {
    let local = crate::logbook::logs_dir(saved).join("forgotten");
    std::fs::create_dir_all(&local)
        .map_err(|e| format!("cannot create {}: {e}", local.display()))?;
    for (name, ids) in ledgers {
        let path = local.join(name);
        let mut all: BTreeSet<String> = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        all.extend(ids.iter().cloned());
        let body: String = all.iter().map(|id| format!("{id}\n")).collect();
        write_whole(&path, body.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if !proofs.is_empty() {
        // Proofs already here stay; the node's come first, as the older history.
        let path = crate::engine::verify::ledger_path(saved);
        let here = std::fs::read_to_string(&path).unwrap_or_default();
        let mut body: String = proofs
            .iter()
            .filter(|l| !here.lines().any(|h| h == l.as_str()))
            .map(|l| format!("{l}\n"))
            .collect();
        body.push_str(&here);
        write_whole(&path, body.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(local)
}

/// Writes the configuration `text` at `config_path`, which must not exist: never over a
/// file that appeared meanwhile.
fn write_config(tmp_parent: &Path, text: &str, config_path: &Path) -> Result<(), String> {
    std::fs::create_dir_all(tmp_parent)
        .map_err(|e| format!("cannot create {}: {e}", tmp_parent.display()))?;
    let tmp = tmp_parent.join(format!(".config.toml.tmp-{}", std::process::id()));
    write_whole(&tmp, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    // A hard link never replaces an existing file: the check above, made atomic.
    let linked = std::fs::hard_link(&tmp, config_path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(format!(
            "{} appeared meanwhile; it was left as it is",
            config_path.display()
        )),
        Err(e) => Err(format!("cannot write {}: {e}", config_path.display())),
    }
}

async fn fetch_over(conn: &Conn, config_path: &Path, from: &Source) -> Result<String, String> {
    let cancel = CancellationToken::new();
    let dir = format!("{}/{RECORDS_DIR}", conn.base());
    let lines = conn
        .script(LIST, &[dir.as_str()], &cancel)
        .await
        .map_err(|e| format!("cannot list the records {e}"))?;
    let Some(listing) = parse_listing(&lines)? else {
        return Err(format!(
            "{} holds no wbackup records at {dir}; if that node's base_dir is elsewhere, pass it with --base-dir DIR",
            from.address
        ));
    };
    if !listing.config {
        return Err(format!(
            "the records at {}:{dir} hold no {CONFIG_NAME}; nothing was written",
            from.address
        ));
    }
    // Only the checked names travel, and rsync writes nothing but regular files.
    let tmp_parent = config_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let staging = Private::new(&std::env::temp_dir(), "wbackup-records")
        .map_err(|e| format!("cannot create a private folder: {e}"))?;
    let mut names = vec![CONFIG_NAME.to_string()];
    if listing.proofs {
        names.push(PROOFS_NAME.to_string());
    }
    names.extend(listing.ledgers.iter().map(|l| format!("{LEDGER_DIR}/{l}")));
    download(conn, &dir, &names, &staging.0, &cancel)
        .await
        .map_err(|e| format!("copying the records from {} failed: {e}", from.address))?;
    let read = |rel: &str, max: u64| -> Result<Vec<u8>, String> {
        let p = staging.0.join(rel);
        let meta =
            std::fs::symlink_metadata(&p).map_err(|e| format!("{rel} did not arrive: {e}"))?;
        if !meta.is_file() || meta.len() > max {
            return Err(format!(
                "{rel} from {} is not a small regular file; nothing was written",
                from.address
            ));
        }
        std::fs::read(&p).map_err(|e| format!("cannot read {rel}: {e}"))
    };
    let text = String::from_utf8(read(CONFIG_NAME, MAX_CONFIG_BYTES)?).map_err(|_| {
        format!(
            "the {CONFIG_NAME} kept on {} is not text; nothing was written",
            from.address
        )
    })?;
    let saved = config::parse(config_path, &text).map_err(|e| {
        format!(
            "the configuration kept on {} does not load; nothing was written:\n{e}",
            from.address
        )
    })?;
    let mut ledgers = vec![];
    for name in &listing.ledgers {
        if saved.node(name).is_none() {
            continue;
        }
        let ids = parse_ledger(
            name,
            &read(&format!("{LEDGER_DIR}/{name}"), MAX_LEDGER_BYTES)?,
        )?;
        ledgers.push((name.clone(), ids));
    }

    // The proof ledger: only lines that read as proofs of this configuration's copies
    // (a torn last line is dropped).
    let proofs: Vec<String> = if listing.proofs {
        String::from_utf8_lossy(&read(PROOFS_NAME, MAX_PROOFS_BYTES)?)
            .lines()
            .filter(|l| {
                serde_json::from_str::<crate::engine::verify::Proof>(l)
                    .is_ok_and(|p| saved.node(&p.repo).is_some() && saved.node(&p.holder).is_some())
            })
            .map(String::from)
            .collect()
    } else {
        vec![]
    };

    // Everything checked: the ledgers first (merged with what is there), the
    // configuration last, so that a failure leaves no configuration and can be rerun.
    let local = write_ledgers(&saved, &ledgers, &proofs)?;
    write_config(&tmp_parent, &text, config_path)?;
    let mut out = format!(
        "brought back from {}: the configuration ({}; orchestrator {}, nodes {}) and the forgotten-snapshot ledger of {} repositor{} (into {}).",
        from.address,
        config_path.display(),
        saved.orchestrator,
        saved.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", "),
        ledgers.len(),
        if ledgers.len() == 1 { "y" } else { "ies" },
        local.display()
    );
    if !proofs.is_empty() {
        out.push_str(&format!(
            "\nand {} proof(s) of restorable copies (wbackup verify).",
            proofs.len()
        ));
    }
    if !listing.ignored.is_empty() {
        out.push_str(&format!(
            "\nignored there (not written by wbackup): {}",
            listing.ignored.join(", ")
        ));
    }
    out.push_str(&format!(
        "\nnext: `wbackup plan` to review, then `wbackup run`: {}'s repository comes back from the other nodes' copies.",
        saved.orchestrator
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_listing_keeps_only_what_wbackup_writes() {
        let l = parse_listing(&lines(&[
            "file config.toml 300",
            "file forgotten/home 130",
            "file forgotten/../etc 10",
            "file forgotten/Home 10",
            "file notes.txt 5",
            "file proofs.jsonl 5000",
        ]))
        .unwrap()
        .unwrap();
        assert!(l.config);
        assert!(l.proofs);
        assert_eq!(l.ledgers, ["home"]);
        assert_eq!(
            l.ignored,
            ["forgotten/../etc", "forgotten/Home", "notes.txt"]
        );
        assert_eq!(parse_listing(&lines(&["none"])).unwrap(), None);
        assert!(parse_listing(&lines(&["file config.toml 99999999"]))
            .unwrap_err()
            .contains("more than a configuration"));
        assert!(parse_listing(&lines(&["file proofs.jsonl 999999999"]))
            .unwrap_err()
            .contains("more than a proof ledger"));
    }

    #[test]
    fn a_ledger_holds_only_snapshot_ids() {
        let id = "ab".repeat(32);
        assert_eq!(
            parse_ledger("home", format!("{id}\n\n").as_bytes()).unwrap(),
            BTreeSet::from([id.clone()])
        );
        let err = parse_ledger("home", b"$(rm -rf ~)\n").unwrap_err();
        assert!(err.contains("not a snapshot id"), "{err}");
    }

    #[test]
    fn a_whole_file_replaces_the_old_one_and_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, "old").unwrap();
        write_whole(&p, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn the_records_listing_is_read_as_the_script_writes_it() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("my records");
        let (_, said) = crate::engine::shtest::run(LIST, &[&d], "");
        assert_eq!(parse_listing(&said).unwrap(), None);
        std::fs::create_dir_all(d.join("forgotten/deep")).unwrap();
        std::fs::write(d.join(CONFIG_NAME), "x = 1\n").unwrap();
        std::fs::write(d.join("forgotten/home"), "").unwrap();
        std::fs::write(d.join("forgotten/deep/no"), "").unwrap();
        std::fs::write(d.join("a name with spaces"), "").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.join(PROOFS_NAME)).unwrap();
        let (code, said) = crate::engine::shtest::run(LIST, &[&d], "");
        assert_eq!(code, Some(0));
        let l = parse_listing(&said).unwrap().unwrap();
        assert!(l.config);
        // A link is not a regular file: never fetched.
        assert!(!l.proofs);
        assert_eq!(l.ledgers, ["home"]);
        assert_eq!(l.ignored, ["a name with spaces"]);
        // A line the script never writes: nothing is concluded.
        assert!(parse_listing(&lines(&["file config.toml 3", "hello"])).is_err());
        assert!(parse_listing(&lines(&["file config.toml many"])).is_err());
        // Sealed: private again.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (code, _) = crate::engine::shtest::run(SEAL, &[&d], "");
        assert_eq!(code, Some(0));
        let mode = std::fs::metadata(&d).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
