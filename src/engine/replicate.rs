//! Replication's additive pass (DESIGN §6): bring a replica up to date without ever
//! leaving it broken.
//!
//! restic names every file but `config` by the SHA-256 of its content and never changes
//! a file once written, so a replica only ever lacks files. They are copied in restic's
//! own write order — config, keys, data, index, snapshots — each phase finished before
//! the next, into a staging directory beside the repository (`.wbackup-incoming`), checked
//! there (content hash = name), flushed to disk, and only then moved under their real
//! names. An interruption at any moment leaves a replica that `restic check` accepts and
//! that holds no snapshot whose data is not there.

use crate::engine::node::Conn;
use crate::engine::process::{self, At, Input, Job, Stream};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The directories of a repository in the order restic writes them.
pub const PHASES: [&str; 5] = ["config", "keys", "data", "index", "snapshots"];

/// A lock younger than this marks the source as busy.
pub const BUSY_LOCK_S: f64 = 30.0 * 60.0;

/// What one node holds of each repository.
#[derive(Debug, Default, Clone)]
pub struct Inventory {
    pub now: f64,
    pub repos: HashMap<String, RepoFiles>,
}

#[derive(Debug, Default, Clone)]
pub struct RepoFiles {
    pub config_sha: Option<String>,
    /// Relative path -> (size, mtime), every file but `config`.
    pub files: BTreeMap<String, (u64, f64)>,
}

impl RepoFiles {
    /// Files that restic wrote and a replica carries (no locks, nothing temporary).
    pub fn content(&self) -> impl Iterator<Item = (&String, &(u64, f64))> {
        self.files.iter().filter(|(p, _)| phase_of(p).is_some())
    }

    pub fn fresh_locks(&self, now: f64) -> Vec<String> {
        self.files
            .iter()
            .filter(|(p, (_, mtime))| p.starts_with("locks/") && now - mtime < BUSY_LOCK_S)
            .map(|(p, _)| p.clone())
            .collect()
    }

    pub fn snapshots(&self) -> Vec<&str> {
        self.files
            .keys()
            .filter_map(|p| p.strip_prefix("snapshots/"))
            .collect()
    }
}

/// The phase a repository file belongs to, or None for what is never copied (locks,
/// temporary files, anything not named like restic names its files).
pub fn phase_of(path: &str) -> Option<&'static str> {
    let (dir, name) = path.split_once('/')?;
    let name = name.rsplit('/').next()?;
    let hashed = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
    if !hashed {
        return None;
    }
    match dir {
        "keys" => Some("keys"),
        "data" => Some("data"),
        "index" => Some("index"),
        "snapshots" => Some("snapshots"),
        _ => None,
    }
}

const INVENTORY: &str = r#"base=$1; shift
echo "now $(date +%s)"
for r in "$@"; do
  d="$base/$r/restic"
  [ -d "$d" ] || continue
  echo "repo $r"
  if [ -f "$d/config" ]; then echo "config $(sha256sum < "$d/config" | cut -c1-64)"; fi
  find "$d" -mindepth 2 -type f -printf 'file %P %s %T@\n'
done"#;

/// Lists what `conn` holds of the named repositories, in one command.
pub async fn inventory(
    conn: &Conn,
    repos: &[String],
    cancel: &CancellationToken,
) -> Result<Inventory, String> {
    let args = std::iter::once(conn.base()).chain(repos.iter().cloned());
    let (fin, lines) = process::capture(
        conn.at(),
        Job::script(INVENTORY, args).timeout(Duration::from_secs(300)),
        cancel,
    )
    .await;
    if !fin.success() {
        return Err(format!(
            "cannot list the repositories on {}: {}",
            conn.node.name,
            fin.describe()
        ));
    }
    Ok(parse_inventory(&lines))
}

pub fn parse_inventory(lines: &[String]) -> Inventory {
    let mut inv = Inventory::default();
    let mut current: Option<String> = None;
    for line in lines {
        let mut words = line.split(' ');
        match words.next() {
            Some("now") => inv.now = words.next().and_then(|w| w.parse().ok()).unwrap_or(0.0),
            Some("repo") => {
                let name = words.next().unwrap_or_default().to_string();
                inv.repos.entry(name.clone()).or_default();
                current = Some(name);
            }
            Some("config") => {
                if let Some(r) = current.as_ref().and_then(|c| inv.repos.get_mut(c)) {
                    r.config_sha = words.next().map(String::from);
                }
            }
            Some("file") => {
                let (Some(path), Some(size), Some(mtime)) =
                    (words.next(), words.next(), words.next())
                else {
                    continue;
                };
                if let Some(r) = current.as_ref().and_then(|c| inv.repos.get_mut(c)) {
                    r.files.insert(
                        path.to_string(),
                        (size.parse().unwrap_or(0), mtime.parse().unwrap_or(0.0)),
                    );
                }
            }
            _ => {}
        }
    }
    inv
}

/// Checks the staged files of one phase (listed on stdin; content hash = name), flushes
/// them to disk and moves them under their real names; then empties the phase's staging
/// folder (leftovers of an interrupted hop are never moved in). A file that fails the check
/// is removed and named on stdout; the phase then ends with status 4 so that no later
/// phase can reference it.
const COMMIT: &str = r#"stage=$1; repo=$2; phase=$3; want=$4
mkdir -p -- "$repo" && cd "$stage" || exit 3
if [ "$phase" = config ]; then
  got=$(sha256sum < config | cut -c1-64)
  if [ "$got" != "$want" ]; then echo "corrupt config $got"; rm -f config; exit 4; fi
  sync
  [ -e "$repo/config" ] || mv config "$repo/config" || exit 5
  sync
  exit 0
fi
xargs -d '\n' -r sha256sum -- > ".sums-$phase" || exit 3
bad=0
: > ".good-$phase"
while read -r sum path; do
  if [ "$sum" = "${path##*/}" ]; then echo "$path" >> ".good-$phase"
  else echo "corrupt $path $sum"; rm -f -- "$path"; bad=1; fi
done < ".sums-$phase"
sync
for d in $(sed 's|/[^/]*$||' ".good-$phase" | sort -u); do
  mkdir -p -- "$repo/$d" && grep -x "$d/[0-9a-f]*" ".good-$phase" | xargs -d '\n' -r mv -f -t "$repo/$d" -- || exit 5
done
sync
rm -rf -- "$phase" ".sums-$phase" ".good-$phase"
exit $((bad * 4))"#;

/// One hop: `src`'s copy of a repository into `dst`'s.
pub struct Hop<'a> {
    pub repo: &'a str,
    pub src: &'a Conn,
    pub dst: &'a Conn,
    pub src_files: &'a RepoFiles,
    pub dst_files: &'a mut RepoFiles,
}

/// Reports for the step's log.
pub trait HopOutput {
    fn line(&mut self, stream: Stream, text: String);
    fn progress(&mut self, done: u64);
}

#[derive(Debug)]
pub enum HopError {
    /// The replica holds another repository: nothing was touched.
    Foreign,
    Failed(String),
    Cancelled,
}

/// Bytes a hop will carry.
pub fn missing(src: &RepoFiles, dst: &RepoFiles) -> Vec<(String, u64)> {
    src.content()
        .filter(|(p, _)| !dst.files.contains_key(*p))
        .map(|(p, (size, _))| (p.clone(), *size))
        .collect()
}

/// Brings `hop.dst` up to date with `hop.src`, phase by phase.
pub async fn additive(
    hop: Hop<'_>,
    cancel: &CancellationToken,
    out: &mut dyn HopOutput,
    mut done: u64,
) -> Result<u64, HopError> {
    let src_sha = hop.src_files.config_sha.clone().ok_or_else(|| {
        HopError::Failed(format!(
            "{}'s copy on {} has no config",
            hop.repo, hop.src.node.name
        ))
    })?;
    if let Some(dst_sha) = &hop.dst_files.config_sha {
        if *dst_sha != src_sha {
            return Err(HopError::Foreign);
        }
    }
    let todo = missing(hop.src_files, hop.dst_files);
    let need_config = hop.dst_files.config_sha.is_none();
    if todo.is_empty() && !need_config {
        out.line(
            Stream::Info,
            format!("{} on {}: up to date", hop.repo, hop.dst.node.name),
        );
        return Ok(done);
    }
    let src_repo = hop.src.repo(hop.repo);
    let dst_repo = hop.dst.repo(hop.repo);
    // `prepare` made `.wbackup-incoming`; rsync makes the repository's folder in it, and
    // each phase's commit empties what it staged.
    let stage = format!("{}/.wbackup-incoming/{}", hop.dst.base(), hop.repo);

    let remote = hop.src.remote.as_ref().or(hop.dst.remote.as_ref());
    for phase in PHASES {
        if cancel.is_cancelled() {
            return Err(HopError::Cancelled);
        }
        let files: Vec<&(String, u64)> = if phase == "config" {
            if !need_config {
                continue;
            }
            vec![]
        } else {
            let f: Vec<_> = todo
                .iter()
                .filter(|(p, _)| phase_of(p) == Some(phase))
                .collect();
            if f.is_empty() {
                continue;
            }
            f
        };
        let list = if phase == "config" {
            lines_of(["config"])
        } else {
            lines_of(files.iter().map(|(p, _)| p))
        };
        let count = if phase == "config" { 1 } else { files.len() };
        out.line(
            Stream::Info,
            format!(
                "{} → {}: {phase}: {count} file(s)",
                hop.src.node.name, hop.dst.node.name
            ),
        );

        let mut argv: Vec<String> = [
            "rsync",
            "-tp",
            "-s",
            "--files-from=-",
            "--info=progress2",
            "--no-motd",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(r) = remote {
            argv.push("-e".into());
            argv.push(r.rsync_shell());
        }
        argv.push(format!("{}/", hop.src.rsync_spec(&src_repo)));
        argv.push(format!("{}/", hop.dst.rsync_spec(&stage)));
        let base = done;
        let fin = process::run(
            At::Local,
            Job::new(argv)
                .stdin(Input::Bytes(list.clone()))
                .carriage_returns(),
            cancel,
            |stream, text| match parse_progress(&text) {
                Some(n) if stream == Stream::Stdout => out.progress(base + n),
                _ if text.trim().is_empty() => {}
                _ => out.line(stream, text),
            },
        )
        .await;
        if fin.cancelled {
            return Err(HopError::Cancelled);
        }
        if !fin.success() {
            let why = if fin.code == Some(24) {
                "files vanished at the source while copying (a prune ran there?); retry later"
                    .to_string()
            } else {
                fin.describe()
            };
            // What did arrive is not kept: a full disk must not stay full. (Best effort:
            // the target may be the thing that failed.)
            let partial = format!("{stage}/{phase}");
            let _ = hop
                .dst
                .script("rm -rf -- \"$1\"", &[&partial], cancel)
                .await;
            return Err(HopError::Failed(format!(
                "copying {phase} to {} failed: {why}",
                hop.dst.node.name
            )));
        }
        let (fin, lines) = process::capture(
            hop.dst.at(),
            Job::script(COMMIT, [&stage, &dst_repo, phase, &src_sha])
                .stdin(Input::Bytes(list))
                .timeout(Duration::from_secs(3600)),
            cancel,
        )
        .await;
        let corrupt: Vec<&String> = lines.iter().filter(|l| l.starts_with("corrupt ")).collect();
        for c in &corrupt {
            out.line(
                Stream::Stderr,
                format!(
                    "{} on {}: {c} (content does not match its name; not kept)",
                    hop.repo, hop.dst.node.name
                ),
            );
        }
        if fin.cancelled {
            return Err(HopError::Cancelled);
        }
        if !corrupt.is_empty() {
            // Everything else of this phase is in place; later phases would reference
            // the bad file, so the hop stops here.
            for (p, (size, mtime)) in files.iter().map(|(p, s)| (p, (*s, 0.0))) {
                if !corrupt.iter().any(|c| c.contains(p.as_str())) {
                    hop.dst_files.files.insert(p.clone(), (size, mtime));
                }
            }
            return Err(HopError::Failed(format!(
                "{} file(s) of {}'s {phase} arrived corrupt on {} (the source copy may be damaged: run `restic check --read-data` on it)",
                corrupt.len(),
                hop.repo,
                hop.dst.node.name
            )));
        }
        if !fin.success() {
            return Err(HopError::Failed(format!(
                "installing {phase} on {} failed: {}",
                hop.dst.node.name,
                fin.describe()
            )));
        }
        if phase == "config" {
            hop.dst_files.config_sha = Some(src_sha.clone());
        }
        for (p, size) in &files {
            hop.dst_files.files.insert(p.clone(), (*size, 0.0));
            done += size;
        }
        out.progress(done);
    }
    Ok(done)
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

/// Moves files out of a replica into its node's quarantine, in the order given (callers
/// pass snapshots, then index, then data, so the replica stays consistent throughout).
const QUARANTINE: &str = r#"repo=$1; q=$2
mkdir -p -- "$q" || exit 3
while IFS= read -r f; do
  [ -e "$repo/$f" ] || continue
  case "$f" in */*) mkdir -p -- "$q/${f%/*}" || exit 3;; esac
  mv -f -- "$repo/$f" "$q/$f" || exit 5
done
sync"#;

/// Files a replica holds that its source no longer has, in deletion order.
pub fn extras(src: &RepoFiles, dst: &RepoFiles) -> Vec<String> {
    let mut out: Vec<String> = dst
        .content()
        .filter(|(p, _)| !src.files.contains_key(*p))
        .map(|(p, _)| p.clone())
        .collect();
    let rank = |p: &String| match phase_of(p) {
        Some("snapshots") => 0,
        Some("index") => 1,
        Some("keys") => 3,
        _ => 2,
    };
    out.sort_by_key(rank);
    out
}

/// The deletion pass on one replica: `files` go to `<base>/.quarantine/<repo>/<stamp>/`.
/// (`prepare` purges what is older than `quarantine_days`.)
pub async fn quarantine(
    conn: &Conn,
    repo: &str,
    files: &[String],
    stamp: &str,
    cancel: &CancellationToken,
) -> Result<(), String> {
    if files.is_empty() {
        return Ok(());
    }
    let dir = format!("{}/.quarantine/{repo}/{stamp}", conn.base());
    let (fin, _) = process::capture(
        conn.at(),
        Job::script(QUARANTINE, [conn.repo(repo), dir])
            .stdin(Input::Bytes(lines_of(files)))
            .timeout(Duration::from_secs(600)),
        cancel,
    )
    .await;
    if fin.success() {
        Ok(())
    } else {
        Err(format!(
            "moving removed files into the quarantine on {} failed: {}",
            conn.node.name,
            fin.describe()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn phases() {
        assert_eq!(phase_of(&format!("data/01/{H}")), Some("data"));
        assert_eq!(phase_of(&format!("snapshots/{H}")), Some("snapshots"));
        assert_eq!(phase_of(&format!("locks/{H}")), None);
        assert_eq!(phase_of(&format!("data/01/.{H}.XyZ123")), None);
        assert_eq!(phase_of("config"), None);
    }

    #[test]
    fn inventory_parses() {
        let lines: Vec<String> = [
            "now 1000".to_string(),
            "repo a".into(),
            "config abc".into(),
            format!("file data/01/{H} 10 900.5"),
            format!("file locks/{H} 1 990"),
        ]
        .into();
        let inv = parse_inventory(&lines);
        let a = &inv.repos["a"];
        assert_eq!(a.config_sha.as_deref(), Some("abc"));
        assert_eq!(a.content().count(), 1);
        assert_eq!(a.fresh_locks(inv.now).len(), 1);
        assert!(a.fresh_locks(inv.now + 3600.0).is_empty());
    }

    #[test]
    fn progress_lines() {
        assert_eq!(
            parse_progress("      1,234,567  45%   10.00MB/s    0:00:01 (xfr#3, to-chk=0/10)"),
            Some(1234567)
        );
        assert_eq!(parse_progress("sending incremental file list"), None);
    }
}
