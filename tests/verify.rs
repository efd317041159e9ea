//! `wbackup verify` on a lab of real sshd nodes with real restic: every copy proven by a
//! restore drill on its holder, rot found and named, a changed source told apart from a
//! damaged copy, and nothing written into any repository or left in scratch.

mod support;

use std::fs;
use std::path::PathBuf;
use support::{assert_exit, proof, proofs, rot, state, stdout, Lab};

fn verify(lab: &Lab, extra: &[&str]) -> std::process::Output {
    let pw = lab.password_file();
    let mut args = vec!["verify", "--password-file", pw.to_str().unwrap()];
    args.extend_from_slice(extra);
    lab.wbackup(&args)
}

const NODES: [&str; 3] = ["laptop", "home", "server"];

#[test]
fn every_copy_is_proven_and_nothing_is_written() {
    let lab = Lab::new(&NODES);
    lab.fill(3);
    assert_exit(&lab.run(), 0);
    let lab = &lab;
    let repos: Vec<_> = NODES
        .iter()
        .flat_map(|h| NODES.iter().map(move |o| lab.repo(h, o)))
        .map(|r| (r.clone(), state(&r)))
        .collect();
    let o = verify(lab, &["--json"]);
    assert_exit(&o, 0);
    let all = proofs(&o);
    assert_eq!(all.len(), 9, "{all:#?}");
    for repo in NODES {
        for holder in NODES {
            let p = proof(&all, repo, holder);
            assert_eq!(p["proven"], true, "{p:#}");
            assert!(p["files"].as_u64().unwrap() >= 1, "{p:#}");
            // Nothing changed since the backup: every file equals the live one.
            assert_eq!(p["matched_source"], p["files"], "{p:#}");
            assert_eq!(p["read_data"], "1/12", "{p:#}");
        }
    }
    for (r, before) in &repos {
        assert_eq!(
            &state(r),
            before,
            "verify wrote nothing into {}",
            r.display()
        );
    }
    for n in NODES {
        let drill = lab.node(n).base.join(".wbackup-drill");
        assert_eq!(state(&drill).len(), 0, "no scratch left on {n}");
    }
    // The ledger holds one line per copy, and the next data read moves on.
    let ledger = lab.node("laptop").base.join("logs/proofs.jsonl");
    assert_eq!(fs::read_to_string(&ledger).unwrap().lines().count(), 9);
    let o = verify(lab, &["--json", "--repo", "home", "--node", "server"]);
    assert_exit(&o, 0);
    let all = proofs(&o);
    assert_eq!(all.len(), 1);
    assert_eq!(proof(&all, "home", "server")["read_data"], "2/12");
}

#[test]
fn rot_in_one_copy_is_named_and_a_changed_source_is_not_a_failure() {
    let lab = Lab::new(&NODES);
    lab.fill(3);
    assert_exit(&lab.run(), 0);
    // home's live files change after the snapshot: compared with home's own repository.
    for e in fs::read_dir(lab.node("home").data.join("sub dir/it's \"quoted\"")).unwrap() {
        fs::write(e.unwrap().path(), "changed since the backup").unwrap();
    }
    // Bytes flipped inside every data pack of server's copy of laptop.
    assert!(rot(&lab.repo("server", "laptop")) > 0);
    let o = verify(&lab, &["--json"]);
    assert_exit(&o, 1);
    let all = proofs(&o);
    let bad = proof(&all, "laptop", "server");
    assert_eq!(bad["proven"], false, "{bad:#}");
    let why = bad["message"].as_str().unwrap();
    assert!(why.starts_with("laptop on server"), "{why}");
    for p in &all {
        if p["repo"] != "laptop" || p["holder"] != "server" {
            assert_eq!(p["proven"], true, "{p:#}");
        }
    }
    for holder in NODES {
        let p = proof(&all, "home", holder);
        assert!(p["matched_owner_copy"].as_u64().unwrap() >= 1, "{p:#}");
    }
    for n in NODES {
        let drill = lab.node(n).base.join(".wbackup-drill");
        assert_eq!(state(&drill).len(), 0, "no scratch left on {n}");
    }
    // The terminal says the same in sentences.
    let o = verify(&lab, &["--repo", "laptop"]);
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(out.contains("laptop on server FAILED"), "{out}");
    assert!(out.contains("2 of 3 copies proven"), "{out}");
}

/// The steps of a run's JSON summary, as (kind, node, result).
fn summary_steps(o: &std::process::Output) -> Vec<(String, String, String)> {
    let text = stdout(o);
    let path = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "RunFinished")
        .and_then(|e| e["summary_path"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("no summary: {text}"));
    let s: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    s["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| {
            let f = |k: &str| st[k].as_str().unwrap_or_default().to_string();
            (f("kind"), f("node"), f("result"))
        })
        .collect()
}

fn verify_steps(steps: &[(String, String, String)]) -> Vec<&(String, String, String)> {
    steps.iter().filter(|s| s.0 == "verify").collect()
}

#[test]
fn a_run_ends_with_verification_when_it_is_due_and_the_plan_says_so() {
    let lab = Lab::new(&NODES);
    lab.fill(2);
    let ledger = lab.node("laptop").base.join("logs/proofs.jsonl");
    let as_configured = |args: &[&str]| lab.wbackup_as_configured(args).output().unwrap();

    // Never proven: due. The plan shows one verify step per repository, before the records.
    let plan = stdout(&as_configured(&["plan"]));
    for r in NODES {
        assert!(
            plan.contains(&format!("verify {r}'s copies on laptop, home, server")),
            "{plan}"
        );
    }
    assert!(
        plan.find("verify laptop's").unwrap() < plan.find("keep records on").unwrap(),
        "{plan}"
    );
    assert!(
        !stdout(&as_configured(&["plan", "--no-verify"])).contains("verify "),
        "--no-verify leaves it out"
    );

    let o = as_configured(&["run", "--json"]);
    assert_exit(&o, 0);
    let steps = summary_steps(&o);
    let verified = verify_steps(&steps);
    assert_eq!(verified.len(), 3, "{steps:#?}");
    assert!(verified.iter().all(|s| s.2 == "passed"), "{steps:#?}");
    let recorded = fs::read_to_string(&ledger).unwrap();
    let proofs: Vec<serde_json::Value> = recorded
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(proofs.len(), 9, "{recorded}");
    assert!(proofs.iter().all(|p| p["proven"] == true), "{recorded}");
    // The records step ran after the proofs: every other node keeps them.
    for n in ["home", "server"] {
        let kept = lab.node(n).base.join(".wbackup-records/proofs.jsonl");
        assert_eq!(fs::read_to_string(&kept).unwrap(), recorded, "{n}");
    }

    // Proven a moment ago: not due, and the plan says nothing of it.
    assert!(!stdout(&as_configured(&["plan"])).contains("verify "));
    let o = as_configured(&["run", "--json"]);
    assert_exit(&o, 0);
    assert!(verify_steps(&summary_steps(&o)).is_empty());

    // --verify forces it.
    let o = as_configured(&["run", "--json", "--verify"]);
    assert_exit(&o, 0);
    assert_eq!(verify_steps(&summary_steps(&o)).len(), 3);
    assert_eq!(fs::read_to_string(&ledger).unwrap().lines().count(), 18);

    // A copy whose last proof failed is due again at once (here: rot in home's copy of
    // server's repository); the run fails naming it, and the proof is recorded.
    assert!(rot(&lab.repo("home", "server")) > 0);
    let o = as_configured(&["run", "--json", "--verify"]);
    assert_exit(&o, 1);
    let steps = summary_steps(&o);
    let failed: Vec<_> = verify_steps(&steps)
        .into_iter()
        .filter(|s| s.2 == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{steps:#?}");
    assert_eq!(failed[0].1, "server", "{steps:#?}");
    assert!(stdout(&as_configured(&["plan"])).contains("verify server's copies"));
}

/// Ctrl-C while a drill restores on a remote node: wbackup ends 130, the scratch folder is
/// gone on every node, no restic runs there and no lock is left in any copy.
#[test]
fn interrupting_a_drill_leaves_no_scratch_and_no_lock() {
    let lab = Lab::new(&["laptop", "home"]);
    // Big files that compress poorly: the drill restores them for long enough to act.
    let big = lab.node("home").data.join("big");
    fs::create_dir_all(&big).unwrap();
    for i in 0..6u64 {
        fs::write(big.join(format!("f{i}")), support::noise(20_000_000, i + 1)).unwrap();
    }
    lab.write_config(&lab.config_text("[verify]\nmax_bytes = \"1GiB\"\n"));
    assert_exit(&lab.run(), 0);
    let pw = lab.password_file();
    let mut child = lab
        .wbackup_cmd(&[
            "verify",
            "--repo",
            "home",
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for restic to write into a drill's scratch folder (a change seen, not a time).
    let drills: Vec<PathBuf> = ["laptop", "home"]
        .iter()
        .map(|n| lab.node(n).base.join(".wbackup-drill"))
        .collect();
    let restoring = || {
        drills.iter().any(|d| {
            fs::read_dir(d).into_iter().flatten().flatten().any(|e| {
                let mut stack = vec![e.path()];
                while let Some(p) = stack.pop() {
                    match fs::metadata(&p) {
                        Ok(m) if m.is_dir() => stack.extend(
                            fs::read_dir(&p)
                                .into_iter()
                                .flatten()
                                .flatten()
                                .map(|e| e.path()),
                        ),
                        Ok(m) if m.len() > 0 => return true,
                        _ => {}
                    }
                }
                false
            })
        })
    };
    let mut caught = false;
    while child.try_wait().unwrap().is_none() {
        if restoring() {
            // SAFETY: a signal to the process this test started.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGINT);
            }
            caught = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert!(caught, "verify ended before any drill was seen restoring");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    for d in &drills {
        assert_eq!(state(d).len(), 0, "scratch left in {}", d.display());
    }
    for holder in ["laptop", "home"] {
        let repo = lab.repo(holder, "home");
        // A replica may have no locks/ folder at all.
        let locks = fs::read_dir(repo.join("locks"))
            .into_iter()
            .flatten()
            .count();
        assert_eq!(locks, 0, "a lock was left in {}", repo.display());
        let ps = std::process::Command::new("pgrep")
            .args(["-f", &repo.display().to_string()])
            .output()
            .unwrap();
        assert!(ps.stdout.is_empty(), "still running: {}", stdout(&ps));
    }
    // Nothing was proven, and nothing half-written went into the ledger.
    let ledger = lab.node("laptop").base.join("logs/proofs.jsonl");
    for line in fs::read_to_string(&ledger).unwrap_or_default().lines() {
        let p: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_ne!(p["proven"], true, "{p:#}");
    }
}

/// A first run with one node switched off: its repository exists nowhere, so its verify
/// step has nothing to prove and says why (skipped), instead of failing every holder with
/// "holds no snapshot"; the others' copies are proven where they can be.
#[test]
fn a_node_off_on_the_first_run_has_nothing_to_verify_and_says_why() {
    let lab = Lab::new(&NODES);
    lab.fill(2);
    lab.stop_sshd("server");
    let o = lab
        .wbackup_as_configured(&["run", "--json", "--verify"])
        .output()
        .unwrap();
    assert_exit(&o, 1);
    let text = stdout(&o);
    let steps = summary_steps(&o);
    let verified = verify_steps(&steps);
    assert_eq!(verified.len(), 3, "{steps:#?}");
    let server = verified.iter().find(|s| s.1 == "server").unwrap();
    assert_eq!(server.2, "skipped", "{steps:#?}");
    assert!(
        text.contains("server has no repository yet and took no part in this run (unreachable"),
        "{text}"
    );
    assert!(!text.contains("holds no snapshot"), "{text}");
    // home's repository is proven on laptop and home; only server's copy of it waits.
    let home = verified.iter().find(|s| s.1 == "home").unwrap();
    assert_eq!(
        home.2, "failed",
        "server's copy was not verified: {steps:#?}"
    );
    assert!(text.contains("home on server was not verified"), "{text}");
}
