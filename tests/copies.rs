//! The copies matrix of `wbackup status` on a lab of real sshd nodes with real restic
//! and rsync: after a run that verified, every copy is proven; a node whose sshd stopped
//! keeps its column from the proof ledger, with the proofs' age; a copy that missed a run
//! is behind its source by the snapshots it lacks.

mod support;

use std::fs;
use support::{assert_exit, stdout, Lab};

const NODES: [&str; 3] = ["laptop", "home", "server"];

fn status(lab: &Lab) -> (std::process::Output, Vec<serde_json::Value>) {
    let o = lab.wbackup(&["status", "--json"]);
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o)));
    let copies = v["copies"].as_array().expect("a copies array").clone();
    (o, copies)
}

fn copy<'a>(all: &'a [serde_json::Value], repo: &str, holder: &str) -> &'a serde_json::Value {
    all.iter()
        .find(|c| c["repo"] == repo && c["holder"] == holder)
        .unwrap_or_else(|| panic!("no copy of {repo} on {holder}: {all:#?}"))
}

/// Moves every proof in the ledger `days` into the past, as if the verification had run
/// then.
fn age_ledger(lab: &Lab, days: i64) {
    let ledger = lab.node("laptop").base.join("logs/proofs.jsonl");
    let text = fs::read_to_string(&ledger).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let mut p: serde_json::Value = serde_json::from_str(line).unwrap();
        let t = chrono::DateTime::parse_from_rfc3339(p["time"].as_str().unwrap()).unwrap();
        p["time"] = (t - chrono::Duration::days(days)).to_rfc3339().into();
        out.push_str(&format!("{p}\n"));
    }
    fs::write(&ledger, out).unwrap();
}

#[test]
fn status_shows_every_copy_proven_then_an_unreachable_node_from_the_ledger() {
    let lab = Lab::new(&NODES);
    lab.fill(2);
    assert_exit(
        &lab.wbackup_as_configured(&["run", "--verify"])
            .output()
            .unwrap(),
        0,
    );

    // Healthy: all nine copies in sync and proven.
    let (o, all) = status(&lab);
    assert_exit(&o, 0);
    assert_eq!(all.len(), 9, "{all:#?}");
    for repo in NODES {
        let source = lab.snapshots(&lab.repo(repo, repo));
        for holder in NODES {
            let c = copy(&all, repo, holder);
            assert_eq!(c["state"], "proven", "{c:#}");
            assert_eq!(c["reachable"], true, "{c:#}");
            assert_eq!(c["behind"], 0, "{c:#}");
            assert_eq!(c["snapshots"], source.len(), "{c:#}");
            assert_eq!(c["latest_snapshot"], source.last().unwrap().0, "{c:#}");
            assert!(c["latest_snapshot_time"].is_string(), "{c:#}");
            assert_eq!(c["proof"]["proven"], true, "{c:#}");
            assert!(c["proof"]["time"].is_string(), "{c:#}");
        }
    }
    // The table: node names as columns, one row per repository.
    let o = lab.wbackup(&["status"]);
    assert_exit(&o, 0);
    let text = stdout(&o);
    let header = text.lines().next().unwrap();
    let cols: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(cols, ["copies", "laptop", "home", "server"], "{text}");
    for repo in NODES {
        let row = text
            .lines()
            .find(|l| l.starts_with(&format!("{repo} ")))
            .unwrap_or_else(|| panic!("no row for {repo}:\n{text}"));
        assert_eq!(row.matches("proven").count(), 6, "{row}");
    }
    assert!(text.contains("server (remote): reached via"), "{text}");

    // server vanishes; the proofs are three days old.
    age_ledger(&lab, 3);
    lab.stop_sshd("server");
    let (o, all) = status(&lab);
    assert_exit(&o, 1);
    for repo in NODES {
        let c = copy(&all, repo, "server");
        assert_eq!(c["state"], "unknown", "{c:#}");
        assert_eq!(c["reachable"], false, "{c:#}");
        assert!(c["snapshots"].is_null(), "{c:#}");
        assert_eq!(c["proof"]["proven"], true, "{c:#}");
        let note = c["note"].as_str().unwrap();
        assert!(note.starts_with("node unreachable now ("), "{note}");
        assert!(note.ends_with("; last proven 3 d ago"), "{note}");
        for holder in ["laptop", "home"] {
            let c = copy(&all, repo, holder);
            // Proven three days ago, within every_days (server's own repository is not
            // compared with its source now, its proof still counts).
            assert_eq!(c["state"], "proven", "{c:#}");
        }
    }
    let o = lab.wbackup(&["status"]);
    assert_exit(&o, 1);
    let text = stdout(&o);
    assert!(
        text.contains("unreachable, proven 3 d ago"),
        "the table shows server's cells from the ledger:\n{text}"
    );
    assert!(
        text.contains("laptop on server: node unreachable now (")
            && text.contains("; last proven 3 d ago"),
        "{text}"
    );

    // A run while server is away: laptop's new snapshot reaches home, not server.
    fs::write(
        lab.node("laptop").data.join("new file"),
        "after the first run",
    )
    .unwrap();
    assert_exit(&lab.run(), 1);
    lab.start_sshd("server");
    let (o, all) = status(&lab);
    assert_exit(&o, 0);
    let c = copy(&all, "laptop", "server");
    assert_eq!(c["state"], "behind", "{c:#}");
    assert_eq!(c["behind"], 1, "{c:#}");
    let c = copy(&all, "laptop", "home");
    assert_eq!(c["behind"], 0, "{c:#}");
    assert_eq!(c["state"], "proven", "{c:#}");
}
