//! The restic commands that restore a repository from one node's copy, built once for
//! the two places that show them: `wbackup restore` prints them and the window's Restore
//! view displays them (with a Copy button). Neither runs them: restore stays manual
//! (DESIGN §1), so what a person pastes is exactly what they read.

use crate::config::Config;
use crate::engine::restic;
use crate::error::Error;
use crate::plan;
use crate::shell;

/// What to restore, as `wbackup restore REPO [--from NODE] [--snapshot ID]
/// [--include PATH]... [--target DIR]` names it; `None` takes the default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    pub repo: String,
    /// The node whose copy to restore from (default: the orchestrator).
    pub from: Option<String>,
    /// Snapshot id (default: `latest`).
    pub snapshot: Option<String>,
    /// Paths inside the snapshot to restore (default: everything).
    pub includes: Vec<String>,
    /// The directory to restore into (default: `~/restore-REPO-DATE`).
    pub target: Option<String>,
}

/// The directory a restore goes into when none is given: `~/restore-REPO-YYYYMMDD`.
pub fn default_target(repo: &str) -> String {
    format!("~/restore-{repo}-{}", chrono::Local::now().format("%Y%m%d"))
}

/// The commands, one per line (comments start with `#`), without a final newline. A
/// request the commands could not honour is a usage error naming what to change.
pub fn commands(config: &Config, req: &Request) -> Result<String, Error> {
    let repo = &req.repo;
    let Some(owner) = config.node(repo).filter(|n| !n.is_storage()) else {
        let repos: Vec<&str> = config
            .nodes
            .iter()
            .filter(|n| !n.is_storage())
            .map(|n| n.name.as_str())
            .collect();
        return Err(Error::Usage(format!(
            "no repository {repo:?}; repositories: {}",
            repos.join(", ")
        )));
    };
    let from = req.from.as_deref().unwrap_or(&config.orchestrator);
    let bucket = config.bucket(from);
    let holder = match bucket {
        Some(_) => config.node(config.uploader()),
        None => config.node(from),
    };
    let Some(holder) = holder else {
        let names: Vec<&str> = config
            .nodes
            .iter()
            .map(|n| n.name.as_str())
            .chain(config.buckets.iter().map(|b| b.name.as_str()))
            .collect();
        return Err(Error::Usage(format!(
            "unknown node {from:?} in --from; nodes: {}",
            names.join(", ")
        )));
    };
    if let Some(s) = &req.snapshot {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) && s != "latest" {
            return Err(Error::Usage(format!(
                "{s:?} is not a snapshot id (hex digits, as `restic snapshots` shows them)"
            )));
        }
    }
    if let Some(bad) = req.target.as_deref().filter(|t| shell::has_control(t)) {
        return Err(Error::Usage(format!(
            "--target {:?} holds a control character (a newline, a tab, an escape); choose a directory name without one",
            bad
        )));
    }
    if req.target.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(Error::Usage(
            "--target is empty; name the directory to restore into".into(),
        ));
    }
    if let Some(bad) = req.includes.iter().find(|p| p.is_empty()) {
        return Err(Error::Usage(format!(
            "--include {bad:?} is empty; name a path inside the snapshot, such as /home/alice/Documents"
        )));
    }
    let snapshot = req.snapshot.as_deref().unwrap_or("latest");
    let target = req
        .target
        .clone()
        .unwrap_or_else(|| default_target(&owner.name));
    let (r, env) = match bucket {
        // restic starts rclone itself (`rclone serve restic`), on the uploading node where
        // rclone is configured; rclone finds its file through RCLONE_CONFIG.
        Some(b) => (
            shell::quote(&bucket_repo(b, &owner.name)),
            match &config.rclone.config_file {
                Some(f) => format!("RCLONE_CONFIG={} ", shell::quote_path_for_user(f)),
                None => String::new(),
            },
        ),
        None => (
            shell::quote_path_for_user(&plan::repo_path(holder, &owner.name)),
            String::new(),
        ),
    };
    let t = shell::quote_path_for_user(&target);
    let held_by = match bucket {
        Some(b) => format!("the bucket {}", b.name),
        None => holder.name.clone(),
    };
    let where_ = if holder.is_orchestrator {
        "on this machine".to_string()
    } else {
        format!(
            "on {} (ssh {})",
            holder.name,
            shell::quote(holder.addresses.first().map(String::as_str).unwrap_or(""))
        )
    };
    // A path names exactly that file or folder (and what is under it): the characters
    // restic's patterns give a meaning are escaped, then the word is quoted.
    let includes: String = req
        .includes
        .iter()
        .map(|p| format!(" --include {}", shell::quote(&restic::glob_escape(p))))
        .collect();
    let what = match req.includes.len() {
        0 => format!("restore {snapshot}"),
        1 => format!("restore one path of {snapshot}"),
        n => format!("restore {n} paths of {snapshot}"),
    };
    // Every line is meant to be pasted into a shell: values in comments are kept on
    // their line, values in commands are quoted.
    Ok([
        format!(
            "# Restore {}'s data from the copy held by {}. Run these {}; restic asks for the password.",
            owner.name,
            held_by,
            shell::inert(&where_)
        ),
        "# 1. list the snapshots:".to_string(),
        format!("{env}restic -r {r} snapshots"),
        format!(
            "# 2. {what} into a new directory ({} must not exist yet):",
            shell::inert(&t)
        ),
        format!("mkdir -- {t} && {env}restic -r {r} restore {snapshot} --target {t}{includes}"),
    ]
    .join("\n"))
}

/// A bucket's copy of `repo` as restic names it: `rclone:REMOTE:PATH/<repo>/restic`.
pub fn bucket_repo(b: &crate::config::Bucket, repo: &str) -> String {
    format!("rclone:{}/{repo}/restic", b.remote)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        crate::config::parse(
            std::path::Path::new("c.toml"),
            "orchestrator = \"laptop\"\n[nodes.laptop]\npaths = [\"/x\"]\n[nodes.home]\naddresses = [\"home.lan\"]\nbase_dir = \"/srv/my backups\"\n",
        )
        .unwrap()
    }

    #[test]
    fn includes_name_exact_paths_quoted() {
        let req = Request {
            repo: "laptop".into(),
            from: Some("home".into()),
            snapshot: Some("0123abcd".into()),
            includes: vec!["/x/it's [1].txt".into(), "/x/dir".into()],
            target: Some("~/back here".into()),
        };
        let text = commands(&config(), &req).unwrap();
        let last = text.lines().last().unwrap();
        assert_eq!(
            last,
            "mkdir -- ~/'back here' && restic -r '/srv/my backups/laptop/restic' restore 0123abcd --target ~/'back here' --include '/x/it'\\''s \\[1\\].txt' --include /x/dir"
        );
        assert!(
            text.contains("# 2. restore 2 paths of 0123abcd into"),
            "{text}"
        );
        assert!(text.starts_with(
            "# Restore laptop's data from the copy held by home. Run these on home (ssh home.lan);"
        ));
    }

    #[test]
    fn requests_the_commands_cannot_honour_are_refused() {
        let c = config();
        let req = |f: fn(&mut Request)| {
            let mut r = Request {
                repo: "laptop".into(),
                ..Request::default()
            };
            f(&mut r);
            commands(&c, &r)
        };
        assert!(req(|r| r.repo = "nope".into()).is_err());
        assert!(req(|r| r.from = Some("nope".into())).is_err());
        assert!(req(|r| r.snapshot = Some("xyz".into())).is_err());
        assert!(req(|r| r.target = Some("a\nb".into())).is_err());
        assert!(req(|r| r.target = Some(" ".into())).is_err());
        assert!(req(|r| r.includes = vec![String::new()]).is_err());
        let text = req(|_| {}).unwrap();
        assert!(
            text.contains("restore latest --target ~/restore-laptop-"),
            "{text}"
        );
    }
}
