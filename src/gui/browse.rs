//! What the Restore view asks the nodes, in plain Rust (the QObject in `restore.rs` runs
//! these off the Qt thread and shows their results): which nodes hold a copy of a
//! repository and how fresh and proven each is, a copy's snapshots, and one folder of a
//! snapshot at a time. Everything a node answers is parsed into what restic writes;
//! anything else is left out. Every restic command reads only (`--no-lock`) and gets the
//! password on its stdin.

use super::rows::{Cell, Row};
use crate::config::Config;
use crate::engine::node::{self, Conn};
use crate::engine::replication;
use crate::engine::verify::{self, Proof};
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long one listing may take on a node.
const TIMEOUT: Duration = Duration::from_secs(600);

fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

/// One node's copy of the repository, as the view lists it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CopyRow {
    pub node: String,
    /// "owner" for the repository's own node, else "copy".
    pub role: String,
    /// "ready" (holds it), "missing" (holds none), "unreachable".
    pub state: String,
    pub snapshots: usize,
    /// The newest snapshot's local time, "2026-11-27 10:20".
    pub latest: String,
    /// Snapshots that another copy holds and this one lacks.
    pub behind: usize,
    /// The last proof from the ledger in words ("proven 2 days ago", "never proven").
    pub proof: String,
    pub proven: bool,
    /// Why the node could not be reached or read; empty otherwise.
    pub note: String,
    latest_ts: f64,
}

impl Row for CopyRow {
    const ROLES: &'static [&'static str] = &[
        "node",
        "role",
        "status",
        "snapshots",
        "latest",
        "behind",
        "proof",
        "proven",
        "note",
    ];
    fn cells(&self) -> Vec<Cell> {
        vec![
            text(&self.node),
            text(&self.role),
            text(&self.state),
            Cell::Int(self.snapshots as i32),
            text(&self.latest),
            Cell::Int(self.behind as i32),
            text(&self.proof),
            Cell::Int(i32::from(self.proven)),
            text(&self.note),
        ]
    }
}

/// A repository the configuration names (a node with paths), for the first list.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoRow {
    pub name: String,
}

impl Row for RepoRow {
    const ROLES: &'static [&'static str] = &["name"];
    fn cells(&self) -> Vec<Cell> {
        vec![text(&self.name)]
    }
}

/// The repositories of a configuration: one per node that backs up.
pub fn repositories(config: &Config) -> Vec<RepoRow> {
    config
        .nodes
        .iter()
        .filter(|n| !n.is_storage())
        .map(|n| RepoRow {
            name: n.name.clone(),
        })
        .collect()
}

/// Every node's copy of `repo`: the copies that hold it first, the freshest (fewest
/// snapshots behind, newest snapshot) and proven before the others, the owner before
/// the replicas when all else is equal; then the nodes that hold none or could not be
/// reached.
pub async fn copies(config: &Config, repo: &str, cancel: &CancellationToken) -> Vec<CopyRow> {
    let ledger = verify::load_ledger(config);
    let conns = node::Connections::open(config).await;
    let mut rows = vec![];
    let mut held: Vec<BTreeSet<String>> = vec![];
    for (name, c) in &conns.nodes {
        let mut row = CopyRow {
            node: name.clone(),
            role: if name == repo { "owner" } else { "copy" }.into(),
            ..CopyRow::default()
        };
        let (proof, proven) = proof_words(&ledger, repo, name, chrono::Local::now());
        row.proof = proof;
        row.proven = proven;
        let mut snaps = BTreeSet::new();
        match c {
            Err(u) => {
                row.state = "unreachable".into();
                row.note = u.reason(name);
            }
            Ok(conn) => match replication::inventory(conn, &[repo.to_string()], cancel).await {
                Err(e) => {
                    row.state = "unreachable".into();
                    row.note = e;
                }
                Ok(inv) => match inv.repos.get(repo).filter(|f| f.config_sha.is_some()) {
                    None => row.state = "missing".into(),
                    Some(files) => {
                        row.state = "ready".into();
                        if let Some(why) = &files.unsound {
                            row.note = format!("its listing is incomplete: {why}");
                        }
                        let latest = files
                            .files
                            .iter()
                            .filter(|(p, _)| p.starts_with("snapshots/"))
                            .map(|(_, (_, t))| *t)
                            .fold(0.0, f64::max);
                        row.latest_ts = latest;
                        row.latest = local_time(latest);
                        snaps = files.snapshots().into_iter().map(String::from).collect();
                        row.snapshots = snaps.len();
                    }
                },
            },
        }
        rows.push(row);
        held.push(snaps);
    }
    conns.close().await;
    let all: BTreeSet<&String> = held.iter().flatten().collect();
    for (row, snaps) in rows.iter_mut().zip(&held) {
        if row.state == "ready" {
            row.behind = all.iter().filter(|s| !snaps.contains(**s)).count();
        }
    }
    rows.sort_by(|a, b| {
        let rank = |r: &CopyRow| match r.state.as_str() {
            "ready" => 0,
            "missing" => 1,
            _ => 2,
        };
        rank(a)
            .cmp(&rank(b))
            .then(a.behind.cmp(&b.behind))
            .then(b.proven.cmp(&a.proven))
            .then(b.latest_ts.total_cmp(&a.latest_ts))
            .then((b.role == "owner").cmp(&(a.role == "owner")))
            .then(a.node.cmp(&b.node))
    });
    rows
}

/// A time in seconds since the epoch as the view shows it, in local time.
fn local_time(t: f64) -> String {
    if t <= 0.0 {
        return String::new();
    }
    chrono::DateTime::from_timestamp(t as i64, 0)
        .map(|d| {
            d.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// The last proof of `holder`'s copy of `repo` in words, and whether it proved the copy.
pub fn proof_words(
    ledger: &[Proof],
    repo: &str,
    holder: &str,
    now: chrono::DateTime<chrono::Local>,
) -> (String, bool) {
    let Some(p) = ledger
        .iter()
        .rev()
        .find(|p| p.repo == repo && p.holder == holder)
    else {
        return ("never proven".into(), false);
    };
    let age = chrono::DateTime::parse_from_rfc3339(&p.time)
        .map(|t| age_words(now.signed_duration_since(t)))
        .unwrap_or_else(|_| "at an unknown time".into());
    if p.proven {
        (format!("proven {age}"), true)
    } else {
        (format!("proof failed {age}"), false)
    }
}

fn age_words(d: chrono::Duration) -> String {
    let m = d.num_minutes().max(0);
    match m {
        0 => "just now".into(),
        1..=59 => format!("{m} min ago"),
        60..=2879 => format!("{} h ago", m / 60),
        _ => format!("{} days ago", m / 1440),
    }
}

/// A snapshot of a copy, as the view lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotRow {
    pub id: String,
    pub short_id: String,
    /// Local time, "2026-11-27 10:20:30".
    pub time: String,
    pub host: String,
    pub paths: Vec<String>,
    /// The size of its files ("12.5 MiB"), when restic recorded it or it was measured.
    pub size: String,
    seconds: i64,
}

impl Row for SnapshotRow {
    const ROLES: &'static [&'static str] =
        &["snapshotId", "shortId", "time", "host", "paths", "size"];
    fn cells(&self) -> Vec<Cell> {
        vec![
            text(&self.id),
            text(&self.short_id),
            text(&self.time),
            text(&self.host),
            Cell::List(self.paths.clone()),
            text(&self.size),
        ]
    }
}

/// The snapshots in `restic snapshots --json` output, newest first. One without a
/// 64-digit hex id or a readable time is left out.
pub fn parse_snapshots(json: &str) -> Result<Vec<SnapshotRow>, String> {
    #[derive(Deserialize)]
    struct Summary {
        total_bytes_processed: Option<u64>,
    }
    #[derive(Deserialize)]
    struct S {
        id: String,
        time: String,
        #[serde(default)]
        hostname: String,
        #[serde(default)]
        paths: Vec<String>,
        summary: Option<Summary>,
    }
    let all: Vec<S> = serde_json::from_str(json.trim())
        .map_err(|e| format!("restic's snapshot list cannot be read ({e})"))?;
    let mut rows: Vec<SnapshotRow> = all
        .into_iter()
        .filter(|s| s.id.len() == 64 && s.id.bytes().all(|b| b.is_ascii_hexdigit()))
        .filter_map(|s| {
            let t = chrono::DateTime::parse_from_rfc3339(&s.time).ok()?;
            Some(SnapshotRow {
                short_id: s.id[..8].to_string(),
                time: t
                    .with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
                host: crate::shell::inert(&s.hostname),
                paths: s.paths.iter().map(|p| crate::shell::inert(p)).collect(),
                size: s
                    .summary
                    .and_then(|s| s.total_bytes_processed)
                    .map(replication::human_bytes)
                    .unwrap_or_default(),
                seconds: t.timestamp(),
                id: s.id,
            })
        })
        .collect();
    rows.sort_by(|a, b| b.seconds.cmp(&a.seconds).then(a.id.cmp(&b.id)));
    Ok(rows)
}

/// One entry of a snapshot's folder, as `restic ls --json SNAPSHOT DIR` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The path inside the snapshot (what `--include` names).
    pub path: String,
    pub name: String,
    /// "dir", "file", "symlink", … as restic says.
    pub kind: String,
    pub size: u64,
}

/// The entries directly inside `dir` among `restic ls --json` lines: folders first, then
/// by name. A line that is not a node of that folder (the snapshot line, the folder
/// itself, a path with `..`) is left out.
pub fn parse_dir(lines: &[String], dir: &str) -> Vec<Entry> {
    #[derive(Deserialize)]
    struct N {
        #[serde(rename = "type")]
        kind: String,
        path: String,
        #[serde(default)]
        size: u64,
        struct_type: Option<String>,
    }
    let parent = dir.trim_end_matches('/');
    let mut out: Vec<Entry> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<N>(l).ok())
        .filter(|n| n.struct_type.as_deref().is_none_or(|s| s == "node"))
        .filter_map(|n| {
            let (up, name) = n.path.rsplit_once('/')?;
            let sound = n.path.starts_with('/')
                && up == parent
                && !name.is_empty()
                && name != "."
                && name != "..";
            sound.then(|| Entry {
                name: name.to_string(),
                path: n.path.clone(),
                kind: n.kind,
                size: n.size,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (b.kind == "dir")
            .cmp(&(a.kind == "dir"))
            .then(a.name.cmp(&b.name))
    });
    out.dedup_by(|a, b| a.path == b.path);
    out
}

/// A node reached for the view's work, closed when done.
struct Reached {
    conns: node::Connections,
}

impl Reached {
    /// Reaches only `holder` (the view works on one copy at a time).
    async fn open(config: &Config, holder: &str) -> Result<Reached, String> {
        let Some(n) = config.node(holder) else {
            return Err(format!("{holder} is not a node of this configuration"));
        };
        let mut one = config.clone();
        one.nodes = vec![n.clone()];
        let conns = node::Connections::open(&one).await;
        if let Some((name, Err(u))) = conns.nodes.first() {
            let why = u.reason(name);
            conns.close().await;
            return Err(why);
        }
        Ok(Reached { conns })
    }

    fn conn(&self) -> &Conn {
        match self.conns.nodes.first() {
            Some((_, Ok(c))) => c,
            _ => unreachable!("open returns only a reached node"),
        }
    }
}

/// A read-only restic command on `holder`'s copy of `repo`, from reaching the node to
/// closing the connection.
async fn restic_on(
    config: &Config,
    holder: &str,
    repo: &str,
    args: &[&str],
    password: &SecretString,
    cancel: &CancellationToken,
) -> Result<Vec<String>, String> {
    let reached = Reached::open(config, holder).await?;
    let out = verify::read_only(reached.conn(), repo, args, password, TIMEOUT, cancel).await;
    reached.conns.close().await;
    out
}

/// The snapshots of `holder`'s copy of `repo`, newest first.
pub async fn snapshots(
    config: &Config,
    holder: &str,
    repo: &str,
    password: &SecretString,
    cancel: &CancellationToken,
) -> Result<Vec<SnapshotRow>, String> {
    let lines = restic_on(
        config,
        holder,
        repo,
        &["snapshots", "--json"],
        password,
        cancel,
    )
    .await?;
    parse_snapshots(&lines.concat())
}

/// The entries of folder `dir` of snapshot `id` in `holder`'s copy of `repo`.
pub async fn list_dir(
    config: &Config,
    holder: &str,
    repo: &str,
    id: &str,
    dir: &str,
    password: &SecretString,
    cancel: &CancellationToken,
) -> Result<Vec<Entry>, String> {
    let lines = restic_on(
        config,
        holder,
        repo,
        &["ls", "--json", id, dir],
        password,
        cancel,
    )
    .await?;
    Ok(parse_dir(&lines, dir))
}

/// The size of snapshot `id`'s files ("12.5 MiB"), as `restic stats` counts a restore.
pub async fn snapshot_size(
    config: &Config,
    holder: &str,
    repo: &str,
    id: &str,
    password: &SecretString,
    cancel: &CancellationToken,
) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Stats {
        total_size: u64,
    }
    let lines = restic_on(
        config,
        holder,
        repo,
        &["stats", "--json", id],
        password,
        cancel,
    )
    .await?;
    let s: Stats = serde_json::from_str(lines.concat().trim())
        .map_err(|e| format!("restic's statistics cannot be read ({e})"))?;
    Ok(replication::human_bytes(s.total_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_lists_only_its_own_entries() {
        let lines: Vec<String> = [
            r#"{"time":"2026-11-27T14:46:21Z","paths":["/x"],"id":"b9","struct_type":"snapshot"}"#,
            r#"{"name":"sub","type":"dir","path":"/rt/data/sub","struct_type":"node"}"#,
            r#"{"name":"b.txt","type":"file","path":"/rt/data/sub/b.txt","size":2,"struct_type":"node"}"#,
            r#"{"name":"deep","type":"dir","path":"/rt/data/sub/deep","struct_type":"node"}"#,
            r#"{"name":"..","type":"file","path":"/rt/data/sub/..","struct_type":"node"}"#,
            r#"{"name":"x","type":"file","path":"/elsewhere/x","struct_type":"node"}"#,
            "not json",
        ]
        .map(String::from)
        .to_vec();
        let got = parse_dir(&lines, "/rt/data/sub");
        let names: Vec<&str> = got.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["deep", "b.txt"]);
        assert_eq!(got[1].size, 2);
        let root = parse_dir(
            &[r#"{"name":"rt","type":"dir","path":"/rt","struct_type":"node"}"#.to_string()],
            "/",
        );
        assert_eq!(root.len(), 1);
        assert_eq!(root[0].path, "/rt");
    }

    #[test]
    fn snapshots_newest_first_and_only_sound_ones() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let json = format!(
            r#"[{{"time":"2026-11-27T10:00:00Z","hostname":"laptop","paths":["/d"],"id":"{a}"}},
               {{"time":"2026-11-27T12:00:00Z","hostname":"laptop","paths":["/d"],"id":"{b}","summary":{{"total_bytes_processed":2048}}}},
               {{"time":"2026-11-27T13:00:00Z","hostname":"x","paths":[],"id":"../etc"}}]"#
        );
        let rows = parse_snapshots(&json).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].id, b);
        assert_eq!(rows[0].short_id, "bbbbbbbb");
        assert_eq!(rows[0].size, replication::human_bytes(2048));
        assert_eq!(rows[1].size, "");
        assert!(parse_snapshots("garbage").is_err());
    }

    #[test]
    fn proofs_in_words() {
        let now = chrono::Local::now();
        let p = |h: i64, proven| Proof {
            repo: "r".into(),
            holder: "h".into(),
            time: (now - chrono::Duration::hours(h)).to_rfc3339(),
            proven,
            ..Proof::default()
        };
        assert_eq!(
            proof_words(&[], "r", "h", now),
            ("never proven".into(), false)
        );
        assert_eq!(
            proof_words(&[p(50, true)], "r", "h", now),
            ("proven 2 days ago".into(), true)
        );
        assert_eq!(
            proof_words(&[p(50, true), p(3, false)], "r", "h", now),
            ("proof failed 3 h ago".into(), false)
        );
    }
}
