//! Replication (DESIGN §6): bring a replica up to date without ever leaving it broken,
//! and keep it from growing forever without letting a damaged source shrink it.
//!
//! restic names every file but `config` by the SHA-256 of its content and never changes
//! a file once written, so a replica only ever lacks files. One rsync per hop carries the
//! missing ones into a staging folder beside the repository (`.wbackup-incoming`); there
//! they are checked (content hash = name) and flushed to disk, and only then moved under
//! their real names phase by phase in restic's write order — keys, config, data, index,
//! snapshots — each phase on disk before the next begins. Files the source no longer has
//! then go to the node's quarantine, snapshots first, then index, then data. An
//! interruption at any moment leaves a replica that `restic check` accepts and that holds
//! no snapshot whose data is not there. (Keys come before `config` so that a replica that
//! has a config always has the key to open it; before its config lands, a first copy is
//! simply not a repository yet.)

use crate::engine::node::Conn;
use crate::engine::process::{self, At, Input, Job, Stream};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The parts of a repository in the order a replica receives them.
pub const PHASES: [&str; 5] = ["keys", "config", "data", "index", "snapshots"];

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

/// Installs one hop's staged files and applies its deletion pass, in one command on the
/// replica's node. stdin lists `+ PATH` (staged, to install) and `- PATH` (to move into
/// the quarantine). Every staged file's SHA-256 is checked against its name and the files
/// are flushed to disk; then they are moved under their real names phase by phase in
/// restic's write order (keys before `config`, so that a replica that has a config can
/// always be opened), each phase flushed before the next; then the removed files go to
/// the quarantine, snapshots first, then index, then data. A line is printed as each
/// phase lands. A file that fails the check is removed and named; its phase's good files
/// land and the command stops there with status 4, so that nothing later can reference
/// it. At the end the staging folder is emptied: leftovers of an interrupted hop are
/// never moved in.
const COMMIT: &str = r#"stage=$1; repo=$2; want=$3; q=$4
flush() { sync -f -- "$1" 2>/dev/null || sync; }
# move LIST FROM TO: the files LIST names (paths relative to FROM), folder by folder.
move() {
  for d in $(sed 's|/[^/]*$||' "$1" | sort -u); do
    mkdir -p -- "$3/$d" || return 1
    grep "^$d/[0-9a-f]*\$" "$1" | (cd "$2" && xargs -d '\n' -r mv -f -t "$3/$d" --) || return 1
  done
}
mkdir -p -- "$stage" "$repo" && cd "$stage" || exit 3
cat > .list || exit 3
: > .good; : > .bad
sed -n 's|^+ \([a-z]*/.*\)$|\1|p' .list > .add
if [ -s .add ]; then
  xargs -d '\n' sha256sum -- < .add > .sums || exit 3
  awk '{ n = $2; sub(/.*\//, "", n); if ($1 == n) print $2 > ".good"; else { print $2 > ".bad"; print "corrupt " $2 " " $1 } }' .sums
  xargs -d '\n' -r rm -f -- < .bad
  flush .
fi
for phase in keys config data index snapshots; do
  if [ "$phase" = config ]; then
    # After the keys: a replica whose config is in place can always be opened.
    grep -qx '+ config' .list || continue
    got=$(sha256sum < config | cut -c1-64)
    if [ "$got" != "$want" ]; then echo "corrupt config $got"; rm -f config; exit 4; fi
    flush config
    [ -e "$repo/config" ] || mv config "$repo/config" || exit 5
    flush "$repo"
    echo "in-place config 1"
    continue
  fi
  grep "^$phase/" .good > .now
  if [ -s .now ]; then
    move .now "$stage" "$repo" || exit 5
    flush "$repo"
    echo "in-place $phase $(wc -l < .now)"
  fi
  if grep -q "^$phase/" .bad; then exit 4; fi
done
for phase in snapshots index data keys; do
  : > .now
  sed -n "s|^- \\($phase/.*\\)\$|\\1|p" .list | while IFS= read -r f; do
    if [ -e "$repo/$f" ]; then echo "$f"; fi
  done > .now
  if [ -s .now ]; then
    move .now "$repo" "$q" || exit 5
    flush "$repo"
    echo "quarantined $phase $(wc -l < .now)"
  fi
done
cd / && rm -rf -- "$stage""#;

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

/// Brings `hop.dst` up to date with `hop.src`: the additive pass (one rsync of the missing
/// files into the replica's staging folder, then `COMMIT`), then the deletion pass.
/// Two commands in all, whatever the number of files.
pub async fn hop(
    hop: Hop<'_>,
    cancel: &CancellationToken,
    out: &mut dyn HopOutput,
    done: u64,
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
    let (src_name, dst_name) = (&hop.src.node.name, &hop.dst.node.name);
    let mut todo = missing(hop.src_files, hop.dst_files);
    todo.sort_by_key(|(p, _)| PHASES.iter().position(|ph| Some(*ph) == phase_of(p)));
    let need_config = hop.dst_files.config_sha.is_none();
    if todo.is_empty() && !need_config && hop.gone.is_empty() {
        out.line(
            Stream::Info,
            format!("{} on {dst_name}: up to date", hop.repo),
        );
        return Ok(done);
    }
    let src_repo = hop.src.repo(hop.repo);
    let dst_repo = hop.dst.repo(hop.repo);
    // `prepare` made `.wbackup-incoming`; COMMIT empties this hop's folder in it.
    let stage = format!("{}/.wbackup-incoming/{}", hop.dst.base(), hop.repo);
    let mut list: Vec<u8> = vec![];
    let bytes: u64 = todo.iter().map(|(_, s)| s).sum();

    if need_config || !todo.is_empty() {
        let names: Vec<&str> = need_config
            .then_some("config")
            .into_iter()
            .chain(todo.iter().map(|(p, _)| p.as_str()))
            .collect();
        let counts: Vec<String> = PHASES
            .iter()
            .filter_map(|ph| {
                let n = if *ph == "config" {
                    usize::from(need_config)
                } else {
                    todo.iter().filter(|(p, _)| phase_of(p) == Some(ph)).count()
                };
                (n > 0).then(|| format!("{ph} {n}"))
            })
            .collect();
        out.line(
            Stream::Info,
            format!(
                "{src_name} → {dst_name}: copying {} file(s), {} ({})",
                names.len(),
                human_bytes(bytes),
                counts.join(", ")
            ),
        );
        // -I: a file left in staging by an interrupted hop is never trusted for its size
        // and time (after a power cut it may hold anything); rsync compares its content
        // with the source's and sends only what differs. Staging is empty otherwise.
        let mut argv: Vec<String> = [
            "rsync",
            "-tpI",
            "-s",
            "--files-from=-",
            "--info=progress2",
            "--no-motd",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(r) = hop.src.remote.as_ref().or(hop.dst.remote.as_ref()) {
            argv.push("-e".into());
            argv.push(r.rsync_shell());
        }
        argv.push(format!("{}/", hop.src.rsync_spec(&src_repo)));
        argv.push(format!("{}/", hop.dst.rsync_spec(&stage)));
        let fin = process::run(
            At::Local,
            Job::new(argv)
                .stdin(Input::Bytes(lines_of(&names)))
                .carriage_returns(),
            cancel,
            |stream, text| match parse_progress(&text) {
                Some(n) if stream == Stream::Stdout => out.progress(done + n),
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
            // After a lost connection what arrived stays staged: the next run's rsync finds
            // it and sends only the rest (checked on arrival like everything else). After
            // anything else, a full disk above all, nothing of it is kept. (Best effort:
            // the target may be the thing that failed.)
            let disk_full = fin
                .stderr_tail
                .iter()
                .any(|l| l.contains("No space left") || l.contains("quota exceeded"));
            let connection_lost = matches!(fin.code, Some(10 | 12 | 30 | 35 | 255));
            if disk_full || !connection_lost {
                let _ = hop.dst.script("rm -rf -- \"$1\"", &[&stage], cancel).await;
            }
            return Err(HopError::Failed(format!(
                "copying {} to {dst_name} failed: {why}",
                hop.repo
            )));
        }
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

    let quarantine = format!("{}/.quarantine/{}/{}", hop.dst.base(), hop.repo, hop.stamp);
    let mut corrupt: Vec<String> = vec![];
    let mut landed = done;
    let fin = process::run(
        hop.dst.at(),
        Job::script(COMMIT, [&stage, &dst_repo, &src_sha, &quarantine])
            .stdin(Input::Bytes(list))
            .timeout(Duration::from_secs(3600)),
        cancel,
        |stream, text| {
            let mut w = text.split(' ');
            match (w.next(), w.next(), w.next()) {
                (Some("in-place"), Some(phase), Some(n)) => {
                    if phase == "config" {
                        hop.dst_files.config_sha = Some(src_sha.clone());
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
    Ok(done + bytes)
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

    /// A file named as restic names it: the SHA-256 of its content.
    fn put(dir: &std::path::Path, folder: &str, content: &[u8]) -> String {
        use sha2::Digest;
        let name = format!("{:x}", sha2::Sha256::digest(content));
        let rel = if folder == "data" {
            format!("data/{}/{name}", &name[..2])
        } else {
            format!("{folder}/{name}")
        };
        let path = dir.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        rel
    }

    /// Runs COMMIT through a real `sh`, as on a node.
    fn commit(
        stage: &std::path::Path,
        repo: &std::path::Path,
        q: &std::path::Path,
        list: &[String],
    ) -> (Option<i32>, Vec<String>) {
        use std::io::Write;
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(COMMIT)
            .arg("sh")
            .args([stage, repo])
            .arg("want")
            .arg(q)
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
}
