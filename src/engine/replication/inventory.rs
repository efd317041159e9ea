//! What a node holds of each repository: one listing command (`sh/list.sh`, following
//! links as restic does) and a strict reading of it. Only names restic writes are
//! accepted; anything else, a listing cut short or a folder that could not be read makes
//! that copy unsound, and an unsound copy is neither copied from nor written to.

use crate::engine::node::Conn;
use crate::engine::process::{self, Job};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A lock younger than this marks the source as busy.
pub const BUSY_LOCK_S: f64 = 30.0 * 60.0;

/// Lists what a node holds of some repositories, following links as restic does.
const LIST: &str = include_str!("../sh/list.sh");

/// What one node holds of each repository.
#[derive(Debug, Default, Clone)]
pub struct Inventory {
    pub now: f64,
    /// Every repository folder the node has, sound or not (see `RepoFiles::unsound`).
    pub repos: HashMap<String, RepoFiles>,
    /// A bucket's quarantine folders per repository (`.quarantine/<repo>/<time>`), from
    /// the same listing; a node purges its own in its prepare step.
    pub quarantine: HashMap<String, Vec<String>>,
    /// A bucket's leftovers of uploads cut short, per repository: rclone's
    /// `<name>.<8 characters>.partial` files on backends that upload under a temporary
    /// name and rename (a local folder, SFTP). The next hop deletes them.
    pub partial: HashMap<String, Vec<String>>,
}

#[derive(Debug, Default, Clone)]
pub struct RepoFiles {
    pub config_sha: Option<String>,
    /// The config's MD5, where the listing tells it (a node's does; a bucket's where the
    /// backend keeps MD5s): proves a bucket's config the same without downloading it.
    pub config_md5: Option<String>,
    /// Relative path -> (size, mtime): every file restic wrote but `config`, and locks.
    /// Only names restic writes get here (see `classify`).
    pub files: BTreeMap<String, (u64, f64)>,
    /// Why this listing cannot be trusted to be complete (a folder that could not be read,
    /// a link to nothing, a file restic never writes). Such a copy is neither copied from
    /// nor written to: what it seems to lack may be there after all.
    pub unsound: Option<String>,
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

    /// Can this copy serve as the source of a hop, deletions included? Its listing must be
    /// complete, and it must look like a repository restic can open: a config and a key
    /// (a source that seems to have lost its keys was listed wrong, or is broken: either
    /// way its copies must not follow it).
    pub fn as_source(&self) -> Result<&RepoFiles, String> {
        if let Some(why) = &self.unsound {
            return Err(why.clone());
        }
        if self.config_sha.is_none() {
            return Err("it has no config".into());
        }
        if !self.files.keys().any(|p| p.starts_with("keys/")) {
            return Err("it lists no key file".into());
        }
        Ok(self)
    }
}

/// What a path in a repository folder is, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Config,
    /// A file of one of the copied phases (keys, data, index, snapshots).
    Content(&'static str),
    Lock,
    /// A file restic or rsync is writing under a temporary name: never copied, never
    /// removed.
    Temporary,
}

/// An MD5 as md5sum and rclone print it.
pub fn is_md5(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_hash(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// restic's temporary names (`<name>-tmp-<digits>`, Go's CreateTemp) and rsync's
/// (`.<name>.<6 characters>`).
fn is_temporary(name: &str, base_ok: impl Fn(&str) -> bool) -> bool {
    if let Some((base, n)) = name.split_once("-tmp-") {
        return base_ok(base) && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    }
    if let Some(rest) = name.strip_prefix('.') {
        if let Some((base, suffix)) = rest.rsplit_once('.') {
            return base_ok(base)
                && suffix.len() == 6
                && suffix.bytes().all(|b| b.is_ascii_alphanumeric());
        }
    }
    false
}

/// Classifies a path relative to a repository folder: only the names restic writes
/// (`config`, `keys/<hash>`, `data/<2 hex>/<hash>`, `index/<hash>`, `snapshots/<hash>`,
/// `locks/<hash>`, and their temporary names) are accepted; anything else, a `..` above
/// all, is an error naming it.
pub fn classify(path: &str) -> Result<Entry, String> {
    let parts: Vec<&str> = path.split('/').collect();
    let entry = match parts.as_slice() {
        ["config"] => Some(Entry::Config),
        [name] if is_temporary(name, |b| b == "config") => Some(Entry::Temporary),
        [dir @ ("keys" | "index" | "snapshots" | "locks"), name] => {
            if is_hash(name) {
                Some(match *dir {
                    "keys" => Entry::Content("keys"),
                    "index" => Entry::Content("index"),
                    "snapshots" => Entry::Content("snapshots"),
                    _ => Entry::Lock,
                })
            } else if is_temporary(name, is_hash) {
                Some(Entry::Temporary)
            } else {
                None
            }
        }
        ["data", sub, name]
            if sub.len() == 2 && sub.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            if is_hash(name) && name.starts_with(sub) {
                Some(Entry::Content("data"))
            } else if is_temporary(name, |b| is_hash(b) && b.starts_with(sub)) {
                Some(Entry::Temporary)
            } else {
                None
            }
        }
        _ => None,
    };
    entry.ok_or_else(|| format!("{path:?} is not a file restic writes"))
}

/// The phase a repository file belongs to, or None for what is never copied (config,
/// locks, temporary files, anything not named like restic names its files).
pub fn phase_of(path: &str) -> Option<&'static str> {
    match classify(path) {
        Ok(Entry::Content(phase)) => Some(phase),
        _ => None,
    }
}

/// Lists what `conn` holds of the named repositories, in one command.
pub async fn inventory(
    conn: &Conn,
    repos: &[String],
    cancel: &CancellationToken,
) -> Result<Inventory, String> {
    let args = std::iter::once(conn.base()).chain(repos.iter().cloned());
    let (fin, lines) = process::capture(
        conn.at(),
        Job::script(LIST, args).timeout(Duration::from_secs(300)),
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
    let mut inv = parse_inventory(&lines)
        .map_err(|e| format!("cannot list the repositories on {}: {e}", conn.node.name))?;
    // find's own words say which folder it could not read.
    for files in inv.repos.values_mut() {
        if let Some(why) = &mut files.unsound {
            if let Some(l) = fin
                .stderr_tail
                .iter()
                .rev()
                .find(|l| l.starts_with("find:"))
            {
                why.push_str(&format!(" ({})", l.trim()));
            }
        }
    }
    Ok(inv)
}

/// Reads the listing command's output. Every line must be one the command prints; each
/// repository's entries are checked name by name, and a repository whose listing did not
/// end with "complete" is unsound (its files are kept, for reports, but never trusted).
pub fn parse_inventory(lines: &[String]) -> Result<Inventory, String> {
    const CUT_SHORT: &str = "its listing was cut short";
    fn unsound(files: &mut RepoFiles, why: String) {
        files.unsound.get_or_insert(why);
    }
    let mut inv = Inventory::default();
    let mut now = None;
    // The repository being listed: its entries follow until "complete" or "incomplete".
    let mut current: Option<String> = None;
    for line in lines {
        let (word, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let open = current.as_ref().and_then(|c| inv.repos.get_mut(c));
        match (word, open) {
            ("now", _) => {
                now = Some(
                    rest.parse::<f64>()
                        .map_err(|_| format!("unexpected line {line:?}"))?,
                )
            }
            ("repo" | "dangling", open) => {
                if let Some(files) = open {
                    unsound(files, CUT_SHORT.into());
                }
                let files = inv.repos.entry(rest.to_string()).or_default();
                if word == "dangling" {
                    unsound(files, "its folder is a symbolic link to nothing".into());
                    current = None;
                } else {
                    current = Some(rest.to_string());
                }
            }
            ("config", Some(files)) if is_hash(rest) => files.config_sha = Some(rest.to_string()),
            ("configmd5", Some(files)) if is_md5(rest) => files.config_md5 = Some(rest.to_string()),
            ("badconfig", Some(files)) => unsound(files, "its config cannot be read".into()),
            ("entry", Some(files)) => {
                let mut f = rest.splitn(4, ' ');
                let (Some(kind), Some(Ok(size)), Some(Ok(mtime)), Some(path)) = (
                    f.next(),
                    f.next().map(str::parse::<u64>),
                    f.next().map(str::parse::<f64>),
                    f.next(),
                ) else {
                    return Err(format!("unexpected line {line:?}"));
                };
                match classify(path) {
                    Ok(Entry::Temporary) => {}
                    Ok(_) if kind == "l" => {
                        unsound(files, format!("{path} is a symbolic link to nothing"))
                    }
                    Ok(_) if kind != "f" => unsound(files, format!("{path} is not a regular file")),
                    Ok(Entry::Config) => {}
                    Ok(_) => {
                        files.files.insert(path.to_string(), (size, mtime));
                    }
                    Err(e) => unsound(files, e),
                }
            }
            ("complete" | "incomplete", Some(files)) if current.as_deref() == Some(rest) => {
                if word == "incomplete" {
                    unsound(files, "it could not be listed completely".into());
                }
                current = None;
            }
            _ => return Err(format!("unexpected line {line:?}")),
        }
    }
    if let Some(files) = current.as_ref().and_then(|c| inv.repos.get_mut(c)) {
        unsound(files, CUT_SHORT.into());
    }
    inv.now = now.ok_or("the listing did not say what time it is")?;
    Ok(inv)
}

/// Bytes a hop will carry.
pub fn missing(src: &RepoFiles, dst: &RepoFiles) -> Vec<(String, u64)> {
    src.content()
        .filter(|(p, _)| !dst.files.contains_key(*p))
        .map(|(p, (size, _))| (p.clone(), *size))
        .collect()
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
    fn only_names_restic_writes_are_accepted() {
        for ok in [
            format!("keys/{H}"),
            format!("index/{H}"),
            format!("snapshots/{H}"),
            format!("locks/{H}"),
            format!("data/01/{H}"),
            "config".to_string(),
            format!("data/01/{H}-tmp-123456"),
            format!("index/.{H}.a1B2c3"),
            "config-tmp-42".to_string(),
        ] {
            assert!(classify(&ok).is_ok(), "{ok}");
        }
        for bad in [
            format!("data/../../{H}"),
            format!("data/ab/{H}"),
            format!("data/01/../{H}"),
            format!("keys/../{H}"),
            format!("keys/{}", H.to_uppercase()),
            format!("snapshots/{H}/x"),
            format!("./keys/{H}"),
            format!("/keys/{H}"),
            format!("keys//{H}"),
            format!("index/{H}x"),
            format!("index/{H}-tmp-"),
            format!("other/{H}"),
            "config.bak".to_string(),
            String::new(),
            format!("keys/{H}?file data/01/{H} 1 1"),
        ] {
            let e = classify(&bad).unwrap_err();
            assert!(e.contains("not a file restic writes"), "{bad}: {e}");
        }
    }

    #[test]
    fn inventory_parses() {
        let inv = parse_inventory(&[
            "now 1000".to_string(),
            "repo a".into(),
            format!("config {H}"),
            "entry f 155 900 config".into(),
            format!("entry f 10 900.5 data/01/{H}"),
            format!("entry f 1 990 locks/{H}"),
            format!("entry f 1 990 data/01/{H}-tmp-77"),
            "complete a".into(),
        ])
        .unwrap();
        let a = &inv.repos["a"];
        assert_eq!(a.config_sha.as_deref(), Some(H));
        assert_eq!(a.unsound, None);
        assert_eq!(a.content().count(), 1);
        assert_eq!(a.fresh_locks(inv.now).len(), 1);
        assert!(a.fresh_locks(inv.now + 3600.0).is_empty());
    }

    #[test]
    fn a_listing_is_complete_or_unsound() {
        let base = [
            "now 1000".to_string(),
            "repo a".into(),
            format!("config {H}"),
        ];
        let verdict = |tail: &[String]| {
            let mut l = base.to_vec();
            l.extend_from_slice(tail);
            parse_inventory(&l).unwrap().repos["a"].unsound.clone()
        };
        let key = format!("entry f 10 900 keys/{H}");
        assert_eq!(verdict(&[key.clone(), "complete a".into()]), None);
        // No verdict: the command was cut off.
        assert!(verdict(std::slice::from_ref(&key))
            .unwrap()
            .contains("cut short"));
        // find could not read a folder.
        assert!(verdict(&[key.clone(), "incomplete a".into()])
            .unwrap()
            .contains("could not be listed completely"));
        // A name restic never writes, and one with a newline (shown as '?').
        for odd in [
            format!("entry f 1 1 data/../../{H}"),
            format!("entry f 1 1 keys/{H}?entry f 1 1 keys/{H}"),
        ] {
            let why = verdict(&[odd, key.clone(), "complete a".into()]).unwrap();
            assert!(why.contains("not a file restic writes"), "{why}");
        }
        // A link to nothing where a pack should be.
        let why = verdict(&[format!("entry l 9 1 data/01/{H}"), "complete a".into()]).unwrap();
        assert!(why.contains("symbolic link to nothing"), "{why}");
        // A dangling repository folder.
        let inv = parse_inventory(&["now 1".to_string(), "dangling b".into()]).unwrap();
        assert!(inv.repos["b"].unsound.is_some());
        // Lines the command never prints are an error, not ignored.
        for bad in ["hello", "entry f x 1 keys/a", "complete b", "config nothex"] {
            let mut l = base.to_vec();
            l.push(bad.into());
            assert!(parse_inventory(&l).is_err(), "{bad}");
        }
        assert!(parse_inventory(&["repo a".to_string()]).is_err(), "no time");
    }

    #[test]
    fn a_source_without_keys_is_not_a_source() {
        let mut r = RepoFiles {
            config_sha: Some(H.into()),
            ..Default::default()
        };
        r.files.insert(format!("snapshots/{H}"), (1, 1.0));
        assert!(r.as_source().unwrap_err().contains("no key"));
        r.files.insert(format!("keys/{H}"), (1, 1.0));
        assert!(r.as_source().is_ok());
        r.unsound = Some("x".into());
        assert!(r.as_source().is_err());
    }

    /// Runs the listing command through a real `sh`, as on a node.
    fn list(base: &std::path::Path, repos: &[&str]) -> (bool, Inventory) {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(LIST)
            .arg("sh")
            .arg(base)
            .args(repos)
            .output()
            .unwrap();
        let lines: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        (out.status.success(), parse_inventory(&lines).unwrap())
    }

    #[test]
    fn the_listing_follows_links_as_restic_does() {
        use super::super::put;
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("base dir");
        let elsewhere = tmp.path().join("bigger disk");
        let repo = base.join("a/restic");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(repo.join("config"), b"cfg").unwrap();
        let key = put(&repo, "keys", b"key");
        let snap = put(&repo, "snapshots", b"snap");
        let pack = put(&elsewhere.join("data"), "data", b"pack");
        // data/ moved to another disk and linked back.
        std::os::unix::fs::symlink(elsewhere.join("data/data"), repo.join("data")).unwrap();
        // The whole repository folder of "b" is a link.
        std::fs::create_dir_all(base.join("b")).unwrap();
        std::os::unix::fs::symlink(&repo, base.join("b/restic")).unwrap();
        let (ok, inv) = list(&base, &["a", "b", "none"]);
        assert!(ok);
        for r in ["a", "b"] {
            let files = &inv.repos[r];
            assert_eq!(files.unsound, None, "{r}");
            let got: Vec<&String> = files.content().map(|(p, _)| p).collect();
            assert_eq!(got.len(), 3, "{r}: {got:?}");
            for p in [&key, &snap, &pack] {
                assert!(files.files.contains_key(p), "{r} lists {p}");
            }
            assert!(files.config_sha.is_some());
            // md5sum of "cfg": a bucket's listing is compared with it.
            assert_eq!(
                files.config_md5.as_deref(),
                Some("011134986548f3458aa3e7e2a7fceb8d")
            );
        }
        assert!(!inv.repos.contains_key("none"));

        // A folder that cannot be read makes the listing unsound, not short.
        let sub = repo.join("index");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::create_dir_all(sub.join("loop")).unwrap();
        std::os::unix::fs::symlink(&repo, sub.join("loop/up")).unwrap();
        let (_, inv) = list(&base, &["a"]);
        assert!(inv.repos["a"].unsound.is_some(), "a link loop is noticed");
    }
}

#[cfg(test)]
mod attacks {
    //! Whatever another node prints, the listing parser neither panics nor accepts a
    //! path that could leave its repository.
    use super::*;
    use proptest::prelude::*;

    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("now".to_string()),
            Just("repo".to_string()),
            Just("entry".to_string()),
            Just("config".to_string()),
            Just("complete".to_string()),
            Just("incomplete".to_string()),
            Just("dangling".to_string()),
            Just("badconfig".to_string()),
            "[a-z]{0,8}",
        ]
    }

    fn path() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                Just("..".to_string()),
                Just(".".to_string()),
                Just("data".to_string()),
                Just("keys".to_string()),
                Just("snapshots".to_string()),
                Just("ab".to_string()),
                Just("ab".repeat(32)),
                Just(String::new()),
                "[ -~]{0,70}",
            ],
            0..5,
        )
        .prop_map(|parts| parts.join("/"))
    }

    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            (word(), "[ -~]{0,80}").prop_map(|(w, r)| format!("{w} {r}")),
            ("[fld?]", "[0-9]{1,4}", "[0-9.]{1,6}", path())
                .prop_map(|(t, s, m, p)| format!("entry {t} {s} {m} {p}")),
            "\\PC{0,40}",
        ]
    }

    proptest! {
        #[test]
        fn hostile_listings_never_escape(lines in prop::collection::vec(line(), 0..30)) {
            let mut all = vec!["now 1".to_string(), "repo r".to_string()];
            all.extend(lines);
            if let Ok(inv) = parse_inventory(&all) {
                for files in inv.repos.values() {
                    for p in files.files.keys() {
                        prop_assert!(classify(p).is_ok(), "{p}");
                        prop_assert!(p.split('/').all(|c| !c.is_empty() && c != "." && c != ".."), "{p}");
                    }
                    if let Some(sha) = &files.config_sha {
                        prop_assert!(is_hash(sha));
                    }
                }
            }
        }

        #[test]
        fn classify_accepts_only_restic_names(p in path()) {
            if let Ok(e) = classify(&p) {
                let parts: Vec<&str> = p.split('/').collect();
                prop_assert!(parts.iter().all(|c| !c.is_empty() && *c != "." && *c != ".."));
                if let Entry::Content(phase) = e {
                    prop_assert_eq!(parts[0], phase);
                    prop_assert!(is_hash(parts[parts.len() - 1]));
                }
            }
        }
    }
}
