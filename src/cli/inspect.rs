//! The commands that look and change nothing: `status` (what each node holds),
//! `doctor` (what to fix on each node) and `restore` (the restic commands to run by
//! hand). They reach nodes the way a run does (`engine::node`).

use crate::config::Config;
use crate::copies;
use crate::engine::checkup;
use crate::engine::node;
use crate::engine::replication;
use crate::engine::verify;
use crate::error::{self, Exit};
use crate::shell;
use std::collections::{BTreeMap, HashMap};
use tokio_util::sync::CancellationToken;

#[derive(serde::Serialize)]
struct NodeStatus {
    node: String,
    role: String,
    reachable: bool,
    address: Option<String>,
    error: Option<String>,
    repositories: Vec<RepoStatus>,
}

#[derive(serde::Serialize)]
struct RepoStatus {
    repository: String,
    snapshots: usize,
    latest_snapshot: Option<String>,
    latest_time: Option<String>,
}

/// What `status` found: per node, how it was reached and what it holds; and the copies
/// matrix built from those listings and the proof ledger.
pub struct Survey {
    nodes: Vec<NodeStatus>,
    pub matrix: copies::Matrix,
}

/// Reaches every node as a run does, lists the repository files each holds (no restic,
/// no password) and builds the copies matrix with the ledger's proofs.
pub async fn survey(config: &Config) -> Survey {
    let cancel = CancellationToken::new();
    let repos: Vec<String> = config
        .nodes
        .iter()
        .filter(|n| !n.is_storage())
        .map(|n| n.name.clone())
        .collect();
    let conns = node::Connections::open(config).await;
    let mut all = Vec::new();
    let mut seen: HashMap<String, copies::Seen> = HashMap::new();
    for (n, (_, c)) in config.nodes.iter().zip(&conns.nodes) {
        let mut st = NodeStatus {
            node: n.name.clone(),
            role: n.role().to_string(),
            reachable: c.is_ok(),
            address: None,
            error: None,
            repositories: vec![],
        };
        match c {
            Err(u) => {
                st.error = Some(u.to_string());
                seen.insert(n.name.clone(), Err(u.to_string()));
            }
            Ok(conn) => {
                st.address = Some(conn.address().to_string());
                match replication::inventory(conn, &repos, &cancel).await {
                    Err(e) => {
                        seen.insert(n.name.clone(), Err(e.clone()));
                        st.error = Some(e);
                    }
                    Ok(inv) => {
                        let mut held = BTreeMap::new();
                        for r in &repos {
                            let Some(files) = inv.repos.get(r) else {
                                continue;
                            };
                            if let Some(why) = &files.unsound {
                                let e = format!("its copy of {r} cannot be listed soundly: {why}");
                                st.error = Some(match st.error.take() {
                                    Some(prev) => format!("{prev}; {e}"),
                                    None => e,
                                });
                            }
                            if let Some(h) = holding(files) {
                                held.insert(r.clone(), h);
                            }
                            st.repositories.extend(repo_status(r, files));
                        }
                        seen.insert(n.name.clone(), Ok(held));
                    }
                }
            }
        }
        all.push(st);
    }
    for b in &config.buckets {
        let (st, held) = survey_bucket(config, &conns, b, &repos, &cancel).await;
        seen.insert(b.name.clone(), held);
        all.push(st);
    }
    conns.close().await;
    let names: Vec<String> = config
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .chain(config.buckets.iter().map(|b| b.name.clone()))
        .collect();
    let matrix = copies::matrix(
        &repos,
        &names,
        &seen,
        &verify::load_ledger(config),
        copies::Policy::of(config),
        chrono::Utc::now(),
    );
    Survey { nodes: all, matrix }
}

/// The uploading node's connection among `conns`, or why there is none (None when it
/// is not a configured node).
fn uploader_conn<'c>(
    config: &Config,
    conns: &'c node::Connections,
) -> Option<&'c Result<node::Conn, node::Unreachable>> {
    let up = config.uploader();
    config
        .nodes
        .iter()
        .zip(&conns.nodes)
        .find(|(n, _)| n.name == up)
        .map(|(_, (_, c))| c)
}

/// What a bucket holds, listed with rclone from the uploading node as a run lists it.
async fn survey_bucket(
    config: &Config,
    conns: &node::Connections,
    b: &crate::config::Bucket,
    repos: &[String],
    cancel: &CancellationToken,
) -> (NodeStatus, copies::Seen) {
    let mut st = NodeStatus {
        node: b.name.clone(),
        role: "bucket".into(),
        reachable: false,
        address: Some(b.remote.clone()),
        error: None,
        repositories: vec![],
    };
    let up = config.uploader();
    let conn = uploader_conn(config, conns);
    let conn = match conn {
        Some(Ok(c)) => c,
        _ => {
            let e = format!("{up}, the node that uploads to it, is not reachable");
            st.error = Some(e.clone());
            return (st, Err(e));
        }
    };
    let mut held = BTreeMap::new();
    // Any repository's upload names the bucket: one listing serves them all.
    let Some(first) = repos.first() else {
        st.reachable = true;
        return (st, Ok(held));
    };
    let u = replication::bucket::upload_for(config, &conn.node, first, b);
    let none = Default::default();
    let inv = match replication::bucket::listing(conn, &u, repos, &none, cancel).await {
        Ok(inv) => inv,
        Err(e) => {
            st.error = Some(e.clone());
            return (st, Err(e));
        }
    };
    for r in repos {
        let files = inv.repos.get(r).cloned().unwrap_or_default();
        if let Some(why) = &files.unsound {
            st.error = Some(format!("its copy of {r} cannot be listed soundly: {why}"));
        }
        if let Some(h) = holding(&files) {
            held.insert(r.clone(), h);
        }
        st.repositories.extend(repo_status(r, &files));
    }
    st.reachable = true;
    (st, Ok(held))
}

/// A node's copy of a repository as the matrix compares it: None when it holds none.
fn holding(files: &replication::RepoFiles) -> Option<copies::Holding> {
    files.config_sha.as_ref()?;
    Some(copies::Holding {
        snapshots: files
            .files
            .iter()
            .filter_map(|(p, (_, t))| Some((p.strip_prefix("snapshots/")?.to_string(), *t)))
            .collect(),
        unsound: files.unsound.clone(),
    })
}

/// `status --json`: the nodes as before, and one entry per copy.
#[derive(serde::Serialize)]
struct StatusJson<'a> {
    nodes: &'a [NodeStatus],
    copies: &'a [copies::CopyCell],
}

/// `wbackup status`: the copies matrix, then per node how it is reached and the
/// repositories it holds. Exits 1 when a node cannot be reached or listed.
pub(super) async fn status(config: &Config, json: bool) -> error::Result {
    let s = survey(config).await;
    let ok = s.nodes.iter().all(|n| n.error.is_none());
    if json {
        let out = StatusJson {
            nodes: &s.nodes,
            copies: &s.matrix.cells,
        };
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        print!("{}", render_matrix(&s.matrix, chrono::Utc::now()));
        println!();
        print_status(&s.nodes);
    }
    Ok(if ok { Exit::Ok } else { Exit::Failed })
}

/// The matrix as a table: repositories down, nodes across, two lines per cell (state and
/// proof; sync and the latest snapshot's age), then one line per copy that needs a look.
pub fn render_matrix(m: &copies::Matrix, now: chrono::DateTime<chrono::Utc>) -> String {
    let mut out = String::new();
    let first_width = m
        .repos
        .iter()
        .map(|r| r.chars().count())
        .chain(["copies".len()])
        .max()
        .unwrap_or(0)
        + 2;
    let texts: Vec<[String; 2]> = m
        .cells
        .iter()
        .map(|c| {
            let [a, b] = c.lines(now);
            [format!("{:<9}{a}", c.state.word()), format!("{:<9}{b}", "")]
        })
        .collect();
    let widths: Vec<usize> = m
        .nodes
        .iter()
        .enumerate()
        .map(|(j, n)| {
            (0..m.repos.len())
                .filter_map(|i| texts.get(i * m.nodes.len() + j))
                .flat_map(|t| t.iter().map(|l| l.chars().count()))
                .chain([n.chars().count()])
                .max()
                .unwrap_or(0)
                + 3
        })
        .collect();
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
    let mut header = pad("copies", first_width);
    for (n, w) in m.nodes.iter().zip(&widths) {
        header.push_str(&pad(n, *w));
    }
    out.push_str(header.trim_end());
    out.push('\n');
    for (i, repo) in m.repos.iter().enumerate() {
        for line in 0..2 {
            let mut row = pad(if line == 0 { repo } else { "" }, first_width);
            for (j, w) in widths.iter().enumerate() {
                let t = texts
                    .get(i * m.nodes.len() + j)
                    .map_or("", |t| t[line].as_str());
                row.push_str(&pad(t, *w));
            }
            out.push_str(row.trim_end());
            out.push('\n');
        }
    }
    for c in m.cells.iter().filter(|c| c.state != copies::State::Proven) {
        out.push_str(&format!(
            "  {} on {}: {}\n",
            c.repo,
            c.holder,
            shell::inert(&c.note)
        ));
    }
    out
}

/// What `status` says of one node's copy of `repo`: None when it holds none.
fn repo_status(repo: &str, files: &replication::RepoFiles) -> Option<RepoStatus> {
    files.config_sha.as_ref()?;
    let latest = files
        .files
        .iter()
        .filter(|(p, _)| p.starts_with("snapshots/"))
        .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1));
    Some(RepoStatus {
        repository: repo.to_string(),
        snapshots: files.snapshots().len(),
        latest_snapshot: latest.map(|(p, _)| short_id(&p["snapshots/".len()..]).to_string()),
        latest_time: latest.and_then(|(_, (_, t))| {
            chrono::DateTime::from_timestamp(*t as i64, 0).map(|d| {
                d.with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
            })
        }),
    })
}

/// A snapshot's id as restic shortens it (8 characters), or the whole name when it is
/// shorter: a stray file under `snapshots/` may have any name.
fn short_id(name: &str) -> &str {
    name.get(..8).unwrap_or(name)
}

fn print_status(all: &[NodeStatus]) {
    for s in all {
        match (&s.address, &s.error) {
            (_, Some(e)) => println!("{} ({}): {e}", s.node, s.role),
            (Some(a), None) if s.role == "bucket" => {
                println!("{} (bucket): {a}", s.node)
            }
            (Some(a), None) => println!("{} ({}): reached via {a}", s.node, s.role),
            _ => {}
        }
        if s.reachable && s.repositories.is_empty() && s.error.is_none() {
            println!("  no repositories yet");
        }
        for r in &s.repositories {
            match (&r.latest_snapshot, &r.latest_time) {
                (Some(id), Some(t)) => println!(
                    "  {:<12} {} snapshots, latest {id} at {t}",
                    r.repository, r.snapshots
                ),
                _ => println!("  {:<12} no snapshots", r.repository),
            }
        }
    }
}

/// `wbackup doctor`: per node, its address, tools and free space, and what to fix: the
/// same checkup as the window's Test connection (`engine::checkup`).
pub(super) async fn doctor(config: &Config) -> error::Result {
    let cancel = CancellationToken::new();
    let conns = node::Connections::open(config).await;
    let mut problems = 0;
    for (n, (_, c)) in config.nodes.iter().zip(&conns.nodes) {
        println!("{} ({})", n.name, n.role());
        let report = checkup::report(config, n, c, &cancel).await;
        for line in report.lines() {
            println!("  {line}");
        }
        for p in &report.problems {
            println!("  PROBLEM: {}", p.sentence);
            println!("  fix: {}", p.fix);
        }
        problems += report.problems.len();
    }
    for b in &config.buckets {
        println!("{} (bucket {})", b.name, b.remote);
        let up = config.uploader();
        let conn = uploader_conn(config, &conns);
        let (lines, found) = match conn {
            Some(Ok(c)) => checkup::bucket(config, b, c, &cancel).await,
            _ => (
                vec![],
                vec![checkup::Finding {
                    sentence: format!(
                        "{up}, the node that uploads to {}, is not reachable.",
                        b.name
                    ),
                    fix: format!("fix {up} first (see above)"),
                }],
            ),
        };
        for line in lines {
            println!("  {line}");
        }
        for p in &found {
            println!("  PROBLEM: {}", p.sentence);
            println!("  fix: {}", p.fix);
        }
        problems += found.len();
    }
    conns.close().await;
    if problems == 0 {
        println!("no problems found");
        Ok(Exit::Ok)
    } else {
        println!("{problems} problem(s) found");
        Ok(Exit::Failed)
    }
}

/// `wbackup restore`: the restic commands that restore a repository from a node's copy,
/// printed for a person to run (never run here). The window's Restore view shows the
/// same text (`crate::restore::commands`).
pub(super) fn restore(config: &Config, request: &crate::restore::Request) -> error::Result {
    println!("{}", crate::restore::commands(config, request)?);
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stray_file_with_a_short_name_among_the_snapshots_is_reported_not_a_panic() {
        let mut files = replication::RepoFiles {
            config_sha: Some("c".repeat(64)),
            ..Default::default()
        };
        files.files.insert("snapshots/ab".into(), (10, 2.0));
        files.files.insert(
            format!("snapshots/{}", "0123456789".repeat(6) + "abcd"),
            (10, 1.0),
        );
        let st = repo_status("home", &files).expect("a repository");
        assert_eq!(st.latest_snapshot.as_deref(), Some("ab"));
        files.files.insert("snapshots/é".into(), (10, 3.0));
        let st = repo_status("home", &files).expect("a repository");
        assert_eq!(st.latest_snapshot.as_deref(), Some("é"));
        files.files.insert("snapshots/0123456é".into(), (10, 4.0));
        let st = repo_status("home", &files).expect("a repository");
        assert_eq!(st.latest_snapshot.as_deref(), Some("0123456é"));
    }

    #[test]
    fn the_matrix_table_has_a_column_per_node_and_two_lines_per_repository() {
        use crate::engine::verify::Proof;
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let held = |ids: &[&str]| copies::Holding {
            snapshots: ids
                .iter()
                .map(|i| (i.to_string(), now.timestamp() as f64 - 7200.0))
                .collect(),
            unsound: None,
        };
        let all = |laptop: &[&str]| {
            Ok(BTreeMap::from([
                ("laptop".to_string(), held(laptop)),
                ("home".to_string(), held(&["bbbb1111"])),
            ]))
        };
        let seen = HashMap::from([
            ("laptop".to_string(), all(&["aaaa1111", "aaaa2222"])),
            ("home".to_string(), all(&["aaaa1111"])),
            ("server".to_string(), Err("refused".to_string())),
        ]);
        let proof = |repo: &str, holder: &str, hours: i64| Proof {
            repo: repo.into(),
            holder: holder.into(),
            time: (now - chrono::Duration::hours(hours)).to_rfc3339(),
            proven: true,
            ..Default::default()
        };
        let mut ledger = vec![];
        for r in ["laptop", "home"] {
            for h in ["laptop", "home", "server"] {
                ledger.push(proof(r, h, 2));
            }
        }
        ledger.push(proof("home", "home", 24 * 9));
        ledger.retain(|p| !(p.repo == "home" && p.holder == "home" && p.time.contains("T10")));
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let m = copies::matrix(
            &names(&["laptop", "home"]),
            &names(&["laptop", "home", "server"]),
            &seen,
            &ledger,
            copies::Policy {
                every_days: 7,
                warn_after_days: 14,
            },
            now,
        );
        let text = render_matrix(&m, now);

        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["copies", "laptop", "home", "server"]
        );
        assert!(
            lines[1].starts_with("laptop  proven   proven 2 h ago"),
            "{text}"
        );
        assert!(lines[1].contains("behind   proven 2 h ago"), "{text}");
        assert!(
            lines[1].ends_with("unknown  unreachable, proven 2 h ago"),
            "{text}"
        );
        assert!(lines[2].contains("1 behind, latest 2 h ago"), "{text}");
        assert!(
            lines[3].starts_with("home    proven   proven 2 h ago"),
            "{text}"
        );
        assert!(lines[3].contains("unproven proven 9 d ago"), "{text}");
        assert!(
            text.contains("\n  laptop on home: 1 snapshot(s) behind its source: run a backup"),
            "{text}"
        );
        assert!(
            text.contains(
                "\n  home on server: node unreachable now (refused); last proven 2 h ago"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_snapshot_id_is_shortened_as_restic_does() {
        let id = "0123456789".repeat(6) + "abcd";
        assert_eq!(short_id(&id), "01234567");
    }
}
