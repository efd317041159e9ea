//! The `prepare` step's script (`prepare.sh`) and what it reports. Its `check` command
//! reads only: which tools a node lacks, whether its repository exists and which
//! snapshots it holds, which source paths are missing, which repositories it holds and
//! their sizes, and its free space. Its `make` command creates the layout and tells
//! whether it could be written. The output comes from another machine, so it is parsed
//! into `Facts`, which hold only what the script can say (anything else is ignored).

/// The script; its header documents its arguments (the plan's prepare action builds
/// them, `plan::prepare_action`) and its output.
pub const SCRIPT: &str = include_str!("sh/prepare.sh");

/// Whether the layout could be created and written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    #[default]
    Ready,
    /// The file system is mounted read-only.
    ReadOnly,
    /// It exists but the user may not write there.
    Unwritable,
    /// `mkdir` failed for another reason.
    NotCreated,
}

/// What a node's `prepare` found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Tools not found (`restic`, `rsync`).
    pub missing_tools: Vec<String>,
    pub repo_exists: bool,
    /// The repository's snapshot ids (64 hex digits each; other names are not restic's).
    pub snapshots: Vec<String>,
    /// Indexes into the source paths given of those that do not exist.
    pub missing_paths: Vec<usize>,
    pub layout: Layout,
    pub free_kb: Option<u64>,
    /// The repositories under the node's base folder, by owner, with their size in KB.
    pub held: std::collections::BTreeMap<String, u64>,
    /// The source paths' size in KB, when the node's own repository does not exist yet
    /// (what its first backup reads at most).
    pub source_kb: Option<u64>,
    /// Of the repositories held, one digest over each one's `config` and `keys/*` (what
    /// restic reads to try a password), by owner; absent when a file could not be read.
    pub keys: std::collections::BTreeMap<String, String>,
}

impl Facts {
    /// What makes the node unusable for this run, one sentence each with its fix (a
    /// missing rsync is not among them: it only stops the node's copies).
    /// The kind of the first problem `problems` names.
    pub fn cause(&self) -> crate::engine::events::Cause {
        use crate::engine::events::Cause;
        if !self.missing_tools.is_empty() {
            return Cause::ToolMissing;
        }
        match self.layout {
            Layout::ReadOnly => Cause::ReadOnlyDisk,
            _ => Cause::Other,
        }
    }

    pub fn problems(&self, node: &str, base: &str) -> Vec<String> {
        let mut problems: Vec<String> = self
            .missing_tools
            .iter()
            .filter(|t| *t != "rsync")
            .map(|t| format!("`{t}` is not installed on {node} (install it: apt install {t})"))
            .collect();
        match self.layout {
            Layout::Ready => {}
            Layout::ReadOnly => problems.push(format!(
                "{node}'s disk is read-only: nothing can be written under {base}; remount it read-write and run again (a disk that turned read-only by itself may be failing: check it first)"
            )),
            Layout::Unwritable => problems.push(format!(
                "{base} on {node} is not writable by the backup user; make it theirs (chown) and run again"
            )),
            Layout::NotCreated => {
                problems.push(format!("cannot create the layout under {base} on {node}"))
            }
        }
        problems
    }
}

fn is_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Reads the script's output for a node given `npaths` source paths.
pub fn parse(lines: &[String], npaths: usize) -> Facts {
    let mut f = Facts::default();
    for l in lines {
        if let Some(t) = l.strip_prefix("missing ") {
            if matches!(t, "restic" | "rsync") {
                f.missing_tools.push(t.to_string());
            }
        } else if l == "repo exists" {
            f.repo_exists = true;
        } else if let Some(id) = l.strip_prefix("snapshot ").filter(|id| is_id(id)) {
            f.snapshots.push(id.to_string());
        } else if let Some(i) = l.strip_prefix("no-path ") {
            if let Some(i) = i.parse::<usize>().ok().filter(|i| *i < npaths) {
                f.missing_paths.push(i);
            }
        } else if l == "readonly" {
            f.layout = Layout::ReadOnly;
        } else if l == "unwritable" {
            f.layout = Layout::Unwritable;
        } else if l == "mkdir failed" {
            f.layout = Layout::NotCreated;
        } else if let Some(kb) = l.strip_prefix("free ") {
            f.free_kb = kb.parse().ok();
        } else if let Some(kb) = l.strip_prefix("source ") {
            f.source_kb = kb.parse().ok();
        } else if let Some((owner, kb)) = l.strip_prefix("holds ").and_then(|r| r.rsplit_once(' '))
        {
            if let (true, Ok(kb)) = (crate::config::valid_node_name(owner), kb.parse()) {
                f.held.insert(owner.to_string(), kb);
            }
        } else if let Some((owner, hash)) = l.strip_prefix("keys ").and_then(|r| r.split_once(' '))
        {
            if crate::config::valid_node_name(owner) && is_id(hash) {
                f.keys.insert(owner.to_string(), hash.to_string());
            }
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    /// The script through a real `sh`, as the engine runs it.
    fn run(args: &[String]) -> Vec<String> {
        let out = Command::new("sh")
            .args(["-c", SCRIPT, "sh"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    /// The arguments the plan gives the script for node `n` (the orchestrator) with this
    /// `base_dir` and these source paths: what a run passes.
    fn plan_args(base: &str, paths: &[String]) -> Vec<String> {
        use crate::plan::action::{self, Action};
        let text =
            format!("orchestrator = \"n\"\nbase_dir = {base:?}\n[nodes.n]\npaths = {paths:?}\n");
        let c = crate::config::parse(std::path::Path::new("c.toml"), &text).unwrap();
        let plan = crate::plan::Plan::build(&c, &[]).unwrap();
        let Action::Prepare { args, .. } = &plan.steps[0].action else {
            panic!("the first step prepares")
        };
        action::expand(args, "/nonexistent-home")
    }

    /// The script in `mode` with the plan's arguments.
    fn run_as(mode: &str, base: &str, paths: &[String]) -> Vec<String> {
        let mut args = vec![mode.to_string()];
        args.extend(plan_args(base, paths));
        run(&args)
    }

    #[test]
    fn a_first_prepare_creates_a_private_layout_and_names_missing_paths() {
        let d = tempfile::tempdir().unwrap();
        let p = |s: &str| d.path().join(s).to_string_lossy().into_owned();
        std::fs::create_dir_all(p("data")).unwrap();
        let paths = vec![p("data"), p("gone it's\nhere"), p("data")];
        std::fs::write(d.path().join("data/f"), vec![7u8; 64 * 1024]).unwrap();
        let lines = run_as("check", &p("b"), &paths);
        let facts = parse(&lines, paths.len());
        assert_eq!(facts.missing_paths, [1], "{lines:?}");
        assert!(!facts.repo_exists);
        assert!(facts.free_kb.is_some(), "{lines:?}");
        assert!(
            facts.source_kb.is_some_and(|kb| kb >= 128),
            "both listed copies of data counted: {lines:?}"
        );
        assert!(!d.path().join("b").exists(), "the check writes nothing");
        let lines = run_as("make", &p("b"), &paths);
        let facts = parse(&lines, paths.len());
        assert_eq!(facts.layout, Layout::Ready, "{lines:?}");
        assert!(facts.free_kb.is_some(), "{lines:?}");
        for dir in ["b", "b/.quarantine", "b/.wbackup-incoming", "b/n"] {
            let mode = std::fs::metadata(p(dir)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{dir}");
        }
        assert_eq!(
            std::fs::read_dir(p("b/.quarantine")).unwrap().count(),
            0,
            "the write probe is removed"
        );
    }

    #[test]
    fn an_existing_repository_and_its_snapshots_are_reported() {
        let d = tempfile::tempdir().unwrap();
        let repo = d.path().join("b/n/restic");
        let id = "ab".repeat(32);
        std::fs::create_dir_all(repo.join("snapshots")).unwrap();
        std::fs::write(repo.join("config"), "x").unwrap();
        std::fs::write(repo.join("snapshots").join(&id), "x").unwrap();
        std::fs::write(repo.join("snapshots/not-an-id"), "x").unwrap();
        std::fs::create_dir_all(d.path().join("b/home/restic")).unwrap();
        std::fs::write(d.path().join("b/home/restic/config"), vec![1u8; 8192]).unwrap();
        std::fs::create_dir_all(d.path().join("elsewhere/restic")).unwrap();
        std::fs::write(d.path().join("elsewhere/restic/config"), "x").unwrap();
        std::os::unix::fs::symlink(d.path().join("elsewhere"), d.path().join("b/linked")).unwrap();
        let lines = run_as("check", &d.path().join("b").to_string_lossy(), &[]);
        let facts = parse(&lines, 0);
        assert!(facts.repo_exists);
        assert_eq!(facts.snapshots, [id]);
        assert_eq!(
            facts.source_kb, None,
            "the repository exists: no first backup"
        );
        assert_eq!(
            facts.held.keys().collect::<Vec<_>>(),
            ["home", "n"],
            "a repository reached through a link is not held: {lines:?}"
        );
        assert!(facts.held["home"] >= 8, "{lines:?}");
    }

    #[test]
    fn copies_with_the_same_config_and_keys_have_the_same_digest() {
        let d = tempfile::tempdir().unwrap();
        let put = |owner: &str, key: &str| {
            let repo = d.path().join("b").join(owner).join("restic");
            std::fs::create_dir_all(repo.join("keys")).unwrap();
            std::fs::write(repo.join("config"), "the config").unwrap();
            std::fs::write(repo.join("keys").join("k1"), key).unwrap();
        };
        put("home", "key one");
        put("vps", "key one");
        put("laptop", "key two");
        let repo = d.path().join("b/nokeys/restic");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(repo.join("config"), "the config").unwrap();
        let lines = run_as("check", &d.path().join("b").to_string_lossy(), &[]);
        let facts = parse(&lines, 0);
        assert_eq!(facts.keys["home"], facts.keys["vps"], "{lines:?}");
        assert_ne!(facts.keys["home"], facts.keys["laptop"], "{lines:?}");
        assert!(
            facts.held.contains_key("nokeys") && !facts.keys.contains_key("nokeys"),
            "no key file, no digest: {lines:?}"
        );
        // The digest covers the key files' names as well as their bytes.
        let keys = d.path().join("b/vps/restic/keys");
        std::fs::rename(keys.join("k1"), keys.join("k2")).unwrap();
        let facts = parse(
            &run_as("check", &d.path().join("b").to_string_lossy(), &[]),
            0,
        );
        assert_ne!(facts.keys["home"], facts.keys["vps"]);
    }

    #[test]
    fn output_that_is_not_the_scripts_is_ignored() {
        let lines: Vec<String> = [
            "no-path 7",
            "no-path -1",
            "missing bash",
            "snapshot ../../etc",
            "free lots",
            "readonly",
            "keys ../x 0000000000000000000000000000000000000000000000000000000000000000",
            "keys home not-a-digest",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let f = parse(&lines, 2);
        assert!(f.missing_paths.is_empty() && f.missing_tools.is_empty());
        assert!(f.snapshots.is_empty() && f.free_kb.is_none());
        assert_eq!(f.layout, Layout::ReadOnly);
        assert!(f.keys.is_empty());
    }
}
