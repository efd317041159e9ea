//! A machine that lost its disk comes back with its whole history (issue 15), against
//! real restic, rsync and sshd: a lost repository is brought back from the freshest copy
//! instead of being created anew; a lost orchestrator gets its configuration and records
//! back from another node; an interrupted bring-back never leaves a broken repository.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use support::*;

/// Bytes of every file restic wrote (locks aside).
fn size(repo: &Path) -> u64 {
    files(repo)
        .iter()
        .map(|f| fs::metadata(repo.join(f)).unwrap().len())
        .sum()
}

/// The repository id, as restic reports it.
fn repo_id(lab: &Lab, repo: &Path) -> String {
    let out = lab.restic(repo, &["cat", "config"]);
    assert!(
        out.status.success(),
        "cat config of {}: {}",
        repo.display(),
        stderr(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["id"].as_str().unwrap().to_string()
}

/// The newest run summary on the orchestrator.
fn last_summary(lab: &Lab) -> serde_json::Value {
    let logs = lab.node("laptop").base.join("logs");
    let newest: PathBuf = fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .max_by_key(|p| fs::metadata(p).unwrap().modified().unwrap())
        .unwrap();
    serde_json::from_slice(&fs::read(newest).unwrap()).unwrap()
}

/// The `--json` events of a run, parsed.
fn events(o: &std::process::Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The id of the step of `kind` on `node` in a run's events.
fn step_id(events: &[serde_json::Value], kind: &str, node: &str) -> serde_json::Value {
    events
        .iter()
        .find(|e| e["event"] == "StepStarted" && e["kind"] == kind && e["node"] == node)
        .unwrap_or_else(|| panic!("no {kind} step on {node}"))["step"]
        .clone()
}

/// The texts of the lines a step wrote.
fn texts(events: &[serde_json::Value], step: &serde_json::Value) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "Line" && e["step"] == *step)
        .map(|e| e["text"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_remote_node_that_lost_its_base_dir_gets_its_whole_history_back() {
    let lab = Lab::new(&["laptop", "home", "server"]);
    lab.fill(1);
    fs::write(lab.node("home").data.join("big.bin"), noise(6 << 20, 1)).unwrap();
    assert_exit(&lab.run(), 0);
    fs::write(lab.node("home").data.join("second.txt"), "2").unwrap();
    assert_exit(&lab.run(), 0);
    let copy = lab.repo("laptop", "home");
    let before = lab.snapshots(&copy);
    assert_eq!(before.len(), 2);
    let id = repo_id(&lab, &copy);
    let bytes = size(&copy);

    // home gets a new, empty disk.
    fs::remove_dir_all(&lab.node("home").base).unwrap();
    let o = lab.wbackup(&["run", "--json"]);
    assert_exit(&o, 0);
    let ev = events(&o);
    let init = texts(&ev, &step_id(&ev, "init", "home"));
    let sentence = format!(
        "home's repository was missing: brought back from laptop's copy (2 snapshots, repository id {}) instead of creating a new one",
        &id[..10]
    );
    assert!(init.contains(&sentence), "{init:#?}");
    assert!(
        !init.iter().any(|l| l.contains("created restic repository")),
        "{init:#?}"
    );

    // Same repository, every old snapshot and one new, deduplicated against the old data.
    let own = lab.repo("home", "home");
    assert_eq!(repo_id(&lab, &own), id);
    let after = lab.snapshots(&own);
    assert_eq!(after.len(), 3, "{after:?}");
    assert_eq!(after[..2], before[..]);
    let backup = texts(&ev, &step_id(&ev, "backup", "home"));
    let added: u64 = backup
        .iter()
        .find(|l| l.ends_with(" bytes added"))
        .and_then(|l| l.rsplit("; ").next())
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{backup:#?}"));
    assert!(
        added < 1 << 20,
        "the backup re-added the old data: {added} bytes"
    );
    lab.assert_everyone_holds_everything();
    for holder in ["laptop", "server"] {
        assert_eq!(files(&lab.repo(holder, "home")), files(&own), "{holder}");
    }

    // The repository crossed to home once: one hop of every file but config, then one
    // of config alone, and the bytes that landed are the copy's size.
    let hops: Vec<&String> = init.iter().filter(|l| l.contains(": copying ")).collect();
    assert_eq!(hops.len(), 2, "{init:#?}");
    assert!(
        hops.iter()
            .all(|l| l.starts_with("laptop → home: copying ")),
        "{hops:?}"
    );
    assert!(
        hops[1].contains("copying 1 file(s)") && hops[1].ends_with("(config 1)"),
        "{hops:?}"
    );
    let step = step_id(&ev, "init", "home");
    let landed = ev
        .iter()
        .filter(|e| e["event"] == "Progress" && e["step"] == step)
        .map(|e| e["done"].as_u64().unwrap())
        .max()
        .unwrap();
    let config = fs::metadata(copy.join("config")).unwrap().len();
    assert_eq!(landed, bytes - config, "bytes carried to home");

    // The log and the summary say so.
    let summary = last_summary(&lab);
    let init = summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "init" && s["node"] == "home")
        .unwrap();
    assert_eq!(init["result"], "passed");
    assert_eq!(init["notes"][0], sentence.as_str());
    let log = fs::read_to_string(summary["log"].as_str().unwrap()).unwrap();
    assert!(log.contains(&sentence), "{log}");
}

#[test]
fn a_copy_held_only_by_another_remote_node_comes_back_through_the_orchestrator() {
    let lab = Lab::new(&["laptop", "home", "server"]);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    let source = files(&lab.repo("home", "home"));
    let id = repo_id(&lab, &lab.repo("home", "home"));
    // home lost its disk, and laptop's copy of home is gone too: only server has one.
    fs::remove_dir_all(&lab.node("home").base).unwrap();
    fs::remove_dir_all(lab.repo("laptop", "home")).unwrap();
    let o = lab.run();
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains("brought back from server's copy (1 snapshots"),
        "{out}"
    );
    assert!(out.contains("server → laptop: copying"), "{out}");
    assert!(out.contains("laptop → home: copying"), "{out}");
    assert_eq!(repo_id(&lab, &lab.repo("home", "home")), id);
    assert!(files(&lab.repo("home", "home")).is_superset(&source));
    lab.assert_everyone_holds_everything();
}

#[test]
fn a_lost_orchestrator_comes_back_from_a_node_with_its_history_and_guards() {
    use std::os::unix::fs::PermissionsExt;
    let lab = Lab::new(&["laptop", "home", "server"]);
    lab.write_config(
        &lab.config_text("")
            .replace("keep_last = 10", "keep_last = 2"),
    );
    // Enough runs that forget removed snapshots: the ledger has entries.
    for round in 0..3u64 {
        for n in &lab.nodes {
            fs::write(n.data.join("changing.bin"), noise(200_000, round + 1)).unwrap();
        }
        assert_exit(&lab.run(), 0);
    }
    // A verification, then a run: the proof ledger travels with the records too.
    let pw = lab.password_file();
    let o = lab.wbackup(&[
        "verify",
        "--repo",
        "server",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    assert_exit(&lab.run(), 0);
    let proofs_path = lab.node("laptop").base.join("logs/proofs.jsonl");
    let proofs = fs::read_to_string(&proofs_path).unwrap();
    assert_eq!(proofs.lines().count(), 3, "{proofs}");
    let config_path = lab.path().join("config.toml");
    let config = fs::read_to_string(&config_path).unwrap();
    let ledger_dir = lab.node("laptop").base.join("logs/forgotten");
    let ledger = |repo: &str| -> BTreeSet<String> {
        fs::read_to_string(ledger_dir.join(repo))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    };
    let ledgers: Vec<BTreeSet<String>> = ["laptop", "home", "server"]
        .iter()
        .map(|r| ledger(r))
        .collect();
    assert!(ledgers.iter().all(|l| !l.is_empty()), "{ledgers:?}");
    // Every other node keeps them, privately.
    for holder in ["home", "server"] {
        let dir = lab.node(holder).base.join(".wbackup-records");
        assert_eq!(fs::read_to_string(dir.join("config.toml")).unwrap(), config);
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(
            fs::metadata(dir.join("config.toml"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        assert_eq!(
            fs::read_to_string(dir.join("forgotten/home")).unwrap(),
            fs::read_to_string(ledger_dir.join("home")).unwrap()
        );
    }
    let laptop_snapshots = lab.snapshots(&lab.repo("home", "laptop"));
    let laptop_id = repo_id(&lab, &lab.repo("home", "laptop"));

    // The laptop is stolen: a new one has neither base_dir nor configuration.
    fs::remove_dir_all(&lab.node("laptop").base).unwrap();
    fs::remove_file(&config_path).unwrap();
    let ssh_config = lab.path().join("ssh_config");
    let home_base = lab.node("home").base.to_str().unwrap().to_string();
    let init = |extra: &[&str]| {
        let mut args = vec![
            "init",
            "--from",
            "home",
            "--ssh-config",
            ssh_config.to_str().unwrap(),
        ];
        args.extend(extra);
        std::process::Command::new(env!("CARGO_BIN_EXE_wbackup"))
            .arg("--config")
            .arg(&config_path)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    // Without the node's base_dir the records are not found, and nothing is written.
    let o = init(&["--base-dir", "/nonexistent/wbackup-records-test"]);
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("--base-dir"), "{}", stderr(&o));
    assert!(!config_path.exists());
    let o = init(&["--base-dir", &home_base]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("brought back from home"),
        "{}",
        stdout(&o)
    );
    assert_eq!(fs::read_to_string(&config_path).unwrap(), config);
    for (r, before) in ["laptop", "home", "server"].iter().zip(&ledgers) {
        assert_eq!(&ledger(r), before, "the ledger of {r}");
    }
    assert_eq!(fs::read_to_string(&proofs_path).unwrap(), proofs);
    assert!(stdout(&o).contains("3 proof(s)"), "{}", stdout(&o));
    // Never over an existing configuration.
    let o = init(&["--base-dir", &home_base]);
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));

    // The first run brings laptop's repository back and goes on with its history.
    let o = lab.run();
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains("laptop's repository was missing: brought back from home's copy"),
        "{out}"
    );
    assert_eq!(repo_id(&lab, &lab.repo("laptop", "laptop")), laptop_id);
    let now = lab.snapshots(&lab.repo("laptop", "laptop"));
    for s in &laptop_snapshots[1..] {
        assert!(now.contains(s), "{s:?} kept: {now:?}");
    }
    lab.assert_everyone_holds_everything();
    for (r, before) in ["laptop", "home", "server"].iter().zip(&ledgers) {
        assert!(ledger(r).is_superset(before), "the ledger of {r} kept");
    }

    // The shrink guard still refuses a snapshot deleted by hand.
    let snaps = lab.snapshots(&lab.repo("home", "home"));
    let victim = fs::read_dir(lab.repo("home", "home").join("snapshots"))
        .unwrap()
        .flatten()
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&snaps.last().unwrap().0)
        })
        .unwrap();
    fs::remove_file(victim.path()).unwrap();
    let o = lab.run();
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(
        out.contains("home's repository lost 1 snapshot(s) that wbackup did not forget"),
        "{out}"
    );
}

/// Kills the whole orchestrator at moments of bringing home's repository back; after
/// each, home's place is either not a repository yet (no config, and only files of the
/// copy) or a complete one; the next run completes with the whole history.
#[test]
fn killed_while_bringing_a_repository_back_nothing_broken_is_left_and_the_next_run_completes() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.fill(1);
    fs::write(lab.node("home").data.join("big.bin"), noise(8 << 20, 5)).unwrap();
    assert_exit(&lab.run(), 0);
    let id = repo_id(&lab, &lab.repo("laptop", "home"));
    let points: [(&[&str], &str); 7] = [
        (&["checking the freshest"], "checking the copy"),
        (&["laptop → home: copying"], "rsync starting"),
        (&["\"event\":\"Progress\""], "rsync transferring"),
        (&["laptop → home: data: ", "in place"], "installing index"),
        (
            &["laptop → home: index: ", "in place"],
            "installing snapshots",
        ),
        (
            &["laptop → home: snapshots: ", "in place"],
            "copying config",
        ),
        (&["laptop → home: config: ", "in place"], "after config"),
    ];
    for (k, (event, what)) in points.iter().enumerate() {
        let history: BTreeSet<String> = lab
            .snapshots(&lab.repo("laptop", "home"))
            .into_iter()
            .map(|s| s.0)
            .collect();
        let copy = files(&lab.repo("laptop", "home"));
        fs::remove_dir_all(&lab.node("home").base).unwrap();
        let killed = lab.run_killed_at("init", "home", event).is_some();
        assert!(killed, "kill {k} ({what}): the run never reached {event:?}");
        let place = lab.repo("home", "home");
        let held = files(&place);
        if place.join("config").exists() {
            lab.check(&place);
            let snaps: BTreeSet<String> = lab.snapshots(&place).into_iter().map(|s| s.0).collect();
            assert_eq!(snaps, history, "kill {k} ({what}): a complete copy");
        } else {
            let stray: Vec<&String> = held.iter().filter(|f| !copy.contains(*f)).collect();
            assert!(
                stray.is_empty(),
                "kill {k} ({what}): home's unfinished place holds {stray:?}"
            );
        }
        eprintln!(
            "kill {k} ({what}): {} of {} files in place, config {}",
            held.len(),
            copy.len(),
            place.join("config").exists()
        );
        // The next run goes on from there and completes.
        let o = lab.run();
        assert_exit(&o, 0);
        assert_eq!(repo_id(&lab, &place), id, "kill {k} ({what})");
        let snaps: BTreeSet<String> = lab.snapshots(&place).into_iter().map(|s| s.0).collect();
        assert!(snaps.is_superset(&history), "kill {k} ({what})");
        assert_eq!(snaps.len(), history.len() + 1, "kill {k} ({what})");
    }
    lab.assert_everyone_holds_everything();
}

#[test]
fn copies_of_two_different_repositories_are_never_chosen_between() {
    let lab = Lab::new(&["laptop", "home", "server"]);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    let id = repo_id(&lab, &lab.repo("laptop", "home"));
    // server's copy of home is replaced by another repository.
    let other = lab.repo("server", "home");
    fs::remove_dir_all(&other).unwrap();
    let out = lab.restic(&other, &["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let other_id = repo_id(&lab, &other);
    let held = (files(&lab.repo("laptop", "home")), files(&other));
    fs::remove_dir_all(&lab.node("home").base).unwrap();

    let o = lab.run();
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(
        out.contains("home's repository is missing and its copies disagree"),
        "{out}"
    );
    assert!(
        out.contains(&format!("laptop holds repository id {}", &id[..10])),
        "{out}"
    );
    assert!(
        out.contains(&format!("server holds repository id {}", &other_id[..10])),
        "{out}"
    );
    assert!(out.contains("nothing was written"), "{out}");
    assert!(
        files(&lab.repo("home", "home")).is_empty(),
        "nothing under home's name"
    );
    assert_eq!((files(&lab.repo("laptop", "home")), files(&other)), held);
}

#[test]
fn with_no_copy_anywhere_a_new_repository_is_created_as_before() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.fill(1);
    let o = lab.run();
    assert_exit(&o, 0);
    assert!(!stdout(&o).contains("brought back"), "{}", stdout(&o));
    let old = repo_id(&lab, &lab.repo("home", "home"));
    // home's repository and every copy of it are gone.
    fs::remove_dir_all(&lab.node("home").base).unwrap();
    fs::remove_dir_all(lab.repo("laptop", "home")).unwrap();
    let o = lab.run();
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(!out.contains("brought back"), "{out}");
    assert!(out.contains("created restic repository"), "{out}");
    let new = repo_id(&lab, &lab.repo("home", "home"));
    assert_ne!(new, old);
    assert_eq!(lab.snapshots(&lab.repo("home", "home")).len(), 1);
    lab.assert_everyone_holds_everything();
}

#[test]
fn a_wrong_password_brings_nothing_back() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    let copy = files(&lab.repo("laptop", "home"));
    fs::remove_dir_all(&lab.node("home").base).unwrap();
    fs::write(lab.password_file(), "not the password\n").unwrap();
    let o = lab.run();
    fs::write(lab.password_file(), format!("{PASSWORD}\n")).unwrap();
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(
        out.contains("wrong password: restic refused it for home's repository on laptop")
            && out.contains("nothing was written on any node"),
        "{out}"
    );
    assert!(!out.contains("brought back"), "{out}");
    assert!(
        files(&lab.repo("home", "home")).is_empty(),
        "nothing under home's name"
    );
    assert_eq!(files(&lab.repo("laptop", "home")), copy);
    // With the right password the next run brings it back.
    let o = lab.run();
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("home's repository was missing: brought back from laptop's copy"));
    lab.assert_everyone_holds_everything();
}
