//! restic's command lines and the parts of its output wbackup reads.
//!
//! The plan's restic steps are built here (as typed words: paths are expanded on their
//! node); `wbackup plan` renders them and the engine runs them. The password is
//! never among the arguments: restic reads it from stdin.

use crate::config::Retention;
use crate::plan::action::Word;

pub fn init_args(repo: &str) -> Vec<Word> {
    with_repo(repo, &["init"])
}

/// The node's backup. The folders wbackup keeps under its `base_dir` (`own`: the
/// repositories and copies, logs, the `.quarantine` and `.wbackup-*` folders) are always
/// excluded, each by its exact path: a backup of `~/` must not hold the backups
/// themselves, and with `base_dir = "~"` the rest of the home folder is still backed up.
pub fn backup_args(
    repo: &str,
    host: &str,
    paths: &[String],
    exclude: &[String],
    own: &[String],
) -> Vec<Word> {
    let mut a = with_repo(repo, &["backup", "--json", "--host", host]);
    for o in own {
        a.push(Word::lit("--exclude"));
        a.push(Word::ExactPattern(o.clone()));
    }
    for e in exclude {
        a.push(Word::lit("--exclude"));
        a.push(Word::lit(e));
    }
    a.push(Word::lit("--"));
    a.extend(paths.iter().map(Word::path));
    a
}

pub fn check_args(repo: &str, read_data_subset: Option<&str>) -> Vec<Word> {
    let mut a = with_repo(repo, &["check"]);
    if let Some(s) = read_data_subset {
        a.push(Word::lit(format!("--read-data-subset={s}")));
    }
    a
}

pub fn forget_args(repo: &str, retention: &Retention) -> Vec<Word> {
    // --json: restic says which snapshots it removed (the shrink guard's ledger records
    // exactly those); prune's report stays plain text.
    let mut a = with_repo(repo, &["forget", "--prune", "--json"]);
    a.extend(retention.restic_args().into_iter().map(Word::Lit));
    a
}

/// `restic -r REPO` and then `rest`.
fn with_repo(repo: &str, rest: &[&str]) -> Vec<Word> {
    let mut a = vec![Word::lit("restic"), Word::lit("-r"), Word::path(repo)];
    a.extend(rest.iter().map(|w| Word::lit(*w)));
    a
}

/// A read-only command that proves the password opens `repo`.
pub fn unlock_probe_args(repo: &str) -> Vec<String> {
    words(&["restic", "-r", repo, "--no-lock", "cat", "config"])
}

/// `path` as a restic exclude pattern that matches exactly it: the characters its
/// patterns give a meaning (`*`, `?`, `[`, `\`) are escaped with a backslash.
pub fn glob_escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

/// What restic says on stderr when the password opens no key of the repository.
pub fn is_wrong_password(stderr: &str) -> bool {
    stderr.contains("wrong password or no key found")
}

/// restic 0.14–0.17 announce on stdout that they read the password from stdin; that
/// line is noise (and breaks `--json` parsing).
pub fn is_password_notice(line: &str) -> bool {
    line.trim() == "reading repository password from stdin"
}

/// One line of `restic backup --json`, as far as wbackup cares.
#[derive(Debug, PartialEq)]
pub enum BackupLine {
    Status {
        done: u64,
        total: u64,
        files: (u64, u64),
        /// restic reads files (it walks the source meanwhile): bytes are done, or it
        /// says how long is left. Before that it only walks the source.
        reading: bool,
    },
    Summary(String),
    Other,
}

pub fn parse_backup_line(line: &str) -> BackupLine {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return BackupLine::Other;
    };
    let n = |k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
    match v.get("message_type").and_then(|m| m.as_str()) {
        Some("status") => BackupLine::Status {
            done: n("bytes_done"),
            total: n("total_bytes"),
            files: (n("files_done"), n("total_files")),
            reading: n("bytes_done") > 0 || v.get("seconds_remaining").is_some(),
        },
        Some("summary") => BackupLine::Summary(format!(
            "snapshot {} saved: {} new, {} changed, {} unmodified files; {} bytes added",
            // Its first 8 characters (not bytes: the line comes from outside, and a
            // character cut in half would panic), made inert for the log.
            v.get("snapshot_id")
                .and_then(|s| s.as_str())
                .map(|s| crate::shell::inert(&s.chars().take(8).collect::<String>()))
                .unwrap_or_else(|| "?".into()),
            n("files_new"),
            n("files_changed"),
            n("files_unmodified"),
            n("data_added"),
        )),
        _ => BackupLine::Other,
    }
}

/// The snapshots `restic forget --json` says it removed, from its one JSON line (an array
/// of groups, each with `keep` and `remove`); None for any other line.
pub fn parse_forget_line(line: &str) -> Option<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Group {
        #[serde(default)]
        remove: Option<Vec<Snap>>,
    }
    #[derive(serde::Deserialize)]
    struct Snap {
        id: String,
    }
    let groups: Vec<Group> = serde_json::from_str(line.trim()).ok()?;
    Some(
        groups
            .into_iter()
            .flat_map(|g| g.remove.unwrap_or_default())
            .map(|s| s.id)
            .filter(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines() {
        assert_eq!(
            parse_backup_line(
                r#"{"message_type":"status","percent_done":0.5,"total_bytes":200,"bytes_done":100}"#
            ),
            BackupLine::Status {
                done: 100,
                total: 200,
                files: (0, 0),
                reading: true
            }
        );
        // restic 0.14's first line: it walks the source, nothing read yet.
        assert_eq!(
            parse_backup_line(
                r#"{"message_type":"status","percent_done":0,"total_files":1,"total_bytes":10485760}"#
            ),
            BackupLine::Status {
                done: 0,
                total: 10485760,
                files: (0, 1),
                reading: false
            }
        );
        // Newer restics say how long is left.
        assert_eq!(
            parse_backup_line(
                r#"{"message_type":"status","seconds_elapsed":2,"seconds_remaining":6,"percent_done":0.25,"total_files":8,"files_done":2,"total_bytes":400,"bytes_done":100}"#
            ),
            BackupLine::Status {
                done: 100,
                total: 400,
                files: (2, 8),
                reading: true
            }
        );
        assert!(matches!(
            parse_backup_line(r#"{"message_type":"summary","files_new":2,"snapshot_id":"0123456789abcdef"}"#),
            BackupLine::Summary(s) if s.starts_with("snapshot 01234567 saved: 2 new")
        ));
        assert_eq!(parse_backup_line("scan finished"), BackupLine::Other);
        assert!(matches!(
            parse_backup_line(r#"{"message_type":"summary","snapshot_id":"aéééééééé"}"#),
            BackupLine::Summary(s) if s.starts_with("snapshot aééééééé saved")
        ));
    }

    #[test]
    fn forget_reports_what_it_removed() {
        let h = |c: char| c.to_string().repeat(64);
        let line = format!(
            r#"[{{"tags":null,"host":"a","keep":[{{"id":"{}"}}],"remove":[{{"id":"{}"}},{{"id":"{}"}}]}},{{"host":"b","keep":[],"remove":null}}]"#,
            h('a'),
            h('b'),
            h('c')
        );
        assert_eq!(parse_forget_line(&line), Some(vec![h('b'), h('c')]));
        assert_eq!(parse_forget_line("[]"), Some(vec![]));
        assert_eq!(parse_forget_line("removing 2 old packs"), None);
        assert_eq!(
            parse_forget_line(r#"[{"remove":[{"id":"../../x"}]}]"#),
            Some(vec![]),
            "only snapshot ids"
        );
    }

    #[test]
    fn paths_follow_the_separator() {
        let a = backup_args("/r", "n", &["-x".into()], &["*.iso".into()], &["/b".into()]);
        let a = crate::plan::action::expand(&a, "/h");
        assert_eq!(a[a.len() - 2..], ["--".to_string(), "-x".to_string()]);
    }

    #[test]
    fn wbackups_own_folders_are_excluded_literally() {
        let a = backup_args(
            "/b/n/restic",
            "n",
            &["/".into()],
            &[],
            &["~/a [1]/*".into()],
        );
        let a = crate::plan::action::expand(&a, "/home/x*");
        let i = a.iter().position(|w| w == "--exclude").unwrap();
        assert_eq!(a[i + 1], r"/home/x\*/a \[1\]/\*", "expanded, then escaped");
        assert_eq!(glob_escape(r"a?b\c"), r"a\?b\\c");
    }
}
