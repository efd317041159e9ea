//! Copies heal, on a lab of real sshd nodes with real restic and rsync: rot found by
//! `wbackup verify` is repaired by the next run from a copy that was proven — a replica
//! from the orchestrator's copy, an owner's own repository from a replica, a copy whose
//! only sound donor is another remote node through the orchestrator — the damaged files
//! kept in the quarantine; and when no copy is sound, nothing is overwritten.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use support::{assert_exit, proof, proofs, rot, stdout, Lab};

const NODES: [&str; 3] = ["laptop", "home", "server"];

fn verify(lab: &Lab) -> std::process::Output {
    let pw = lab.password_file();
    lab.wbackup(&["verify", "--json", "--password-file", pw.to_str().unwrap()])
}

/// The bytes of every data pack of `repo`, by path.
fn packs(repo: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for sub in fs::read_dir(repo.join("data")).unwrap().flatten() {
        for pack in fs::read_dir(sub.path()).unwrap().flatten() {
            out.insert(pack.path(), fs::read(pack.path()).unwrap());
        }
    }
    out
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = vec![];
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn read_data(lab: &Lab, repo: &Path) -> std::process::Output {
    lab.restic(repo, &["check", "--read-data"])
}

#[test]
fn damaged_copies_heal_from_proven_ones_and_are_proven_again() {
    let lab = Lab::new(&NODES);
    lab.fill(3);
    assert_exit(&lab.run(), 0);
    assert_exit(&verify(&lab), 0);

    // Rot in a replica (server's copy of laptop), in an owner's own repository (home's),
    // and in the orchestrator's copy of that same repository: home's repository is then
    // sound only on server, a remote node, so home and laptop heal from it.
    let rotten = [("server", "laptop"), ("home", "home"), ("laptop", "home")];
    let mut damaged = BTreeMap::new();
    for (h, r) in rotten {
        let n = rot(&lab.repo(h, r));
        assert!(n > 0);
        damaged.insert((h, r), packs(&lab.repo(h, r)));
        assert!(!read_data(&lab, &lab.repo(h, r)).status.success());
    }
    let o = verify(&lab);
    assert_exit(&o, 1);
    let all = proofs(&o);
    for (h, r) in rotten {
        let p = proof(&all, r, h);
        assert_eq!(p["proven"], false, "{p:#}");
        assert_eq!(p["damaged"], true, "{p:#}");
    }

    // The plan shows the heal before any backup, donors proven only.
    let plan = stdout(&lab.wbackup_as_configured(&["plan"]).output().unwrap());
    assert!(plan.contains("heal laptop's copies on server"), "{plan}");
    assert!(
        plan.contains("heal home's copies on laptop, home"),
        "{plan}"
    );
    assert!(
        plan.find("heal home's").unwrap() < plan.find("backup laptop").unwrap(),
        "{plan}"
    );
    assert!(plan.contains("[on each donor in turn: server]"), "{plan}");

    // The next run heals them all, and proves them again (due: their last proofs failed).
    let o = lab.wbackup_as_configured(&["run"]).output().unwrap();
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("laptop on server: healed"), "{out}");
    assert!(out.contains("home on home: healed"), "{out}");
    assert!(out.contains("home on laptop: healed"), "{out}");
    for (h, r) in rotten {
        let repo = lab.repo(h, r);
        let check = read_data(&lab, &repo);
        assert!(
            check.status.success(),
            "{r} on {h}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        // The damaged files are kept in the quarantine, byte for byte.
        let q = lab.node(h).base.join(".quarantine").join(r);
        let healed: Vec<PathBuf> = fs::read_dir(&q)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with("-healed"))
            .collect();
        assert_eq!(healed.len(), 1, "{}", q.display());
        let kept = files_under(&healed[0]);
        assert_eq!(kept.len(), damaged[&(h, r)].len(), "{kept:?}");
        for (path, bytes) in &damaged[&(h, r)] {
            let rel = path.strip_prefix(&repo).unwrap();
            assert_eq!(&fs::read(healed[0].join(rel)).unwrap(), bytes);
        }
        // Nothing left in staging.
        let stage = lab
            .node(h)
            .base
            .join(".wbackup-incoming")
            .join(format!("{r}.heal"));
        assert!(!stage.exists(), "{}", stage.display());
    }
    let relay = lab
        .node("laptop")
        .base
        .join(".wbackup-incoming/home.heal.relay");
    assert!(!relay.exists());
    lab.assert_everyone_holds_everything();
    assert_exit(&verify(&lab), 0);

    // Healed and proven: the next plan heals nothing.
    let plan = stdout(&lab.wbackup_as_configured(&["plan"]).output().unwrap());
    assert!(!plan.contains("heal "), "{plan}");
}

#[test]
fn with_no_sound_copy_nothing_is_overwritten_and_the_run_says_so() {
    let lab = Lab::new(&NODES);
    lab.fill(2);
    assert_exit(&lab.run(), 0);
    assert_exit(&verify(&lab), 0);
    let mut before = BTreeMap::new();
    for h in NODES {
        assert!(rot(&lab.repo(h, "server")) > 0);
        before.insert(h, packs(&lab.repo(h, "server")));
    }
    assert_exit(&verify(&lab), 1);
    let o = lab.wbackup_as_configured(&["run"]).output().unwrap();
    assert_exit(&o, 1);
    assert!(lab
        .causes()
        .iter()
        .any(|(title, cause)| title.starts_with("heal server's") && cause == "damaged"));
    let out = stdout(&o);
    assert!(
        out.contains("server on server holds") && out.contains("so nothing was overwritten"),
        "{out}"
    );
    for h in NODES {
        let now = packs(&lab.repo(h, "server"));
        for (path, bytes) in &before[h] {
            assert_eq!(now.get(path), Some(bytes), "{} was changed", path.display());
        }
        let q = lab.node(h).base.join(".quarantine/server");
        assert!(
            files_under(&q)
                .iter()
                .all(|f| !f.to_string_lossy().contains("-healed")),
            "nothing moved into {}",
            q.display()
        );
    }
}
