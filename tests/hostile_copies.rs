//! Attacks on replication (issue 9): a repository moved behind symbolic links, a listing
//! that cannot be complete, a snapshot planted in one copy, a node that lies in its
//! listing, links planted in staging. Each test failed before its fix; each ends with the
//! copies checked by restic itself.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use support::{assert_exit, files, stdout, Lab};

/// Files under a node's quarantine whose path has `part` in it.
fn quarantined(lab: &Lab, node: &str, part: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = vec![];
    walk(&lab.node(node).base.join(".quarantine"), &mut out);
    out.retain(|p| p.to_string_lossy().contains(part));
    out
}

/// Moves `path` to a folder outside every base_dir ("a bigger disk") and links it back.
fn move_behind_link(lab: &Lab, path: &Path, disk: &str) {
    let target = lab.path().join(disk);
    fs::create_dir_all(&target).unwrap();
    let moved = target.join(path.file_name().unwrap());
    fs::rename(path, &moved).unwrap();
    symlink(&moved, path).unwrap();
}

fn config_keeping(lab: &Lab, last: u32) {
    let text = lab
        .config_text("")
        .replace("keep_last = 10", &format!("keep_last = {last}"));
    lab.write_config(&text);
}

fn add_file(lab: &Lab, node: &str, name: &str) {
    fs::write(lab.node(node).data.join(name), name.repeat(100)).unwrap();
}

#[test]
fn a_repository_moved_behind_symbolic_links_keeps_every_copy() {
    let lab = Lab::new(&["laptop", "home", "server"]);
    config_keeping(&lab, 2);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    // People move a repository, or a part of it, to a bigger disk and link it back;
    // restic follows the links.
    move_behind_link(&lab, &lab.repo("laptop", "laptop").join("keys"), "disk-a");
    move_behind_link(&lab, &lab.repo("home", "home").join("data"), "disk-b");
    move_behind_link(&lab, &lab.repo("server", "server"), "disk-c");
    // Three more runs: forget (keep_last 2) removes snapshots in each repository.
    for round in 0..3 {
        for n in ["laptop", "home", "server"] {
            add_file(&lab, n, &format!("round {round}"));
        }
        let o = lab.run();
        assert_exit(&o, 0);
    }
    for owner in ["laptop", "home", "server"] {
        let source = files(&lab.repo(owner, owner));
        assert!(source.iter().any(|p| p.starts_with("keys/")));
        for holder in ["laptop", "home", "server"] {
            assert_eq!(
                files(&lab.repo(holder, owner)),
                source,
                "{holder}'s copy of {owner} holds exactly the source's files"
            );
        }
        // Nothing restic still uses went to a quarantine: no key ever, and no live
        // snapshot in the forgotten ledger.
        let live: BTreeSet<String> = source
            .iter()
            .filter_map(|p| p.strip_prefix("snapshots/"))
            .map(String::from)
            .collect();
        let ledger = lab.node("laptop").base.join("logs/forgotten").join(owner);
        let forgotten = fs::read_to_string(&ledger).unwrap_or_default();
        assert_eq!(
            forgotten.lines().count(),
            2,
            "{owner}: two runs forgot one each"
        );
        for id in forgotten.lines() {
            assert!(
                !live.contains(id),
                "{owner}: live snapshot {id} recorded as forgotten"
            );
        }
    }
    for holder in ["laptop", "home", "server"] {
        assert!(
            quarantined(&lab, holder, "/keys/").is_empty(),
            "no key of any copy on {holder} was quarantined"
        );
    }
    lab.assert_everyone_holds_everything();
}

#[test]
fn a_source_that_cannot_be_listed_completely_is_not_replicated() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    let copy = lab.repo("laptop", "home");
    let before = files(&copy);
    // A folder in home's repository the listing cannot walk (restic ignores it; `find`
    // reports a loop, as it would report a folder it may not read).
    let odd = lab.repo("home", "home").join("extra");
    fs::create_dir_all(&odd).unwrap();
    symlink("..", odd.join("loop")).unwrap();
    add_file(&lab, "home", "new");
    let o = lab.run();
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(
        out.contains("home's repository cannot be replicated")
            && out.contains("its copies were not touched"),
        "{out}"
    );
    assert_eq!(files(&copy), before, "laptop's copy of home is unchanged");
    // The other repository still replicates.
    assert_eq!(
        lab.snapshots(&lab.repo("home", "laptop")),
        lab.snapshots(&lab.repo("laptop", "laptop"))
    );
    fs::remove_dir_all(&odd).unwrap();
    assert_exit(&lab.run(), 0);
    lab.assert_everyone_holds_everything();
}

#[test]
fn a_snapshot_planted_in_one_copy_blames_that_copy_and_the_others_replicate() {
    use sha2::Digest;
    let lab = Lab::new(&["laptop", "home", "server"]);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    // server's copy of laptop gets a snapshot laptop never had.
    let content = b"not a snapshot of laptop's";
    let name = format!("{:x}", sha2::Sha256::digest(content));
    let planted = lab.repo("server", "laptop").join("snapshots").join(&name);
    fs::write(&planted, content).unwrap();
    add_file(&lab, "laptop", "new");
    let o = lab.run();
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "server's copy holds 1 snapshot(s) that laptop's repository does not have and wbackup never forgot ({})",
            &name[..8]
        )),
        "{out}"
    );
    assert!(
        !out.contains("laptop's repository lost"),
        "the source is not blamed: {out}"
    );
    assert!(planted.exists(), "nothing was removed from server's copy");
    // home's copy, and server's too, received laptop's new snapshot.
    let source = lab.snapshots(&lab.repo("laptop", "laptop"));
    assert_eq!(source.len(), 2);
    assert_eq!(lab.snapshots(&lab.repo("home", "laptop")), source);
    assert!(files(&lab.repo("server", "laptop")).is_superset(&files(&lab.repo("laptop", "laptop"))));
}

#[test]
fn links_planted_in_staging_are_never_written_through() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    let outside = lab.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    let victim = outside.join("precious");
    fs::write(&victim, "precious").unwrap();
    // On home: laptop's staging folder is a link to a folder outside base_dir, and the
    // staging folder of home's repository on laptop holds links named like the install
    // command's bookkeeping files once had.
    let home_stage = lab.node("home").base.join(".wbackup-incoming/laptop");
    let _ = fs::remove_dir_all(&home_stage);
    symlink(&outside, &home_stage).unwrap();
    let laptop_stage = lab.node("laptop").base.join(".wbackup-incoming/home");
    fs::create_dir_all(&laptop_stage).unwrap();
    for f in [".list", ".good", ".add", ".sums", ".now", ".bad"] {
        symlink(&victim, laptop_stage.join(f)).unwrap();
    }
    add_file(&lab, "laptop", "new");
    add_file(&lab, "home", "new");
    let o = lab.run();
    assert_exit(&o, 0);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    let stray: Vec<_> = fs::read_dir(&outside)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        stray.len(),
        1,
        "nothing was written outside base_dir: {stray:?}"
    );
    lab.assert_everyone_holds_everything();
}

#[test]
fn a_node_that_lies_in_its_listing_cannot_reach_outside_its_repository() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    // A file of laptop's, outside every repository, named like a pack.
    let hash = "ab".repeat(32);
    let victim = lab.node("laptop").base.join(&hash);
    fs::write(&victim, "laptop's own file").unwrap();
    // home answers every listing with one more "pack" of its own repository, whose
    // name climbs out of laptop's staging folder to that file.
    let liar = lab.path().join("liar.sh");
    fs::write(
        &liar,
        format!(
            "#!/bin/sh\ncase \"$SSH_ORIGINAL_COMMAND\" in\n  *'find -L'*) sh -c \"$SSH_ORIGINAL_COMMAND\" | sed -u '/^repo home$/a entry f 17 1 data/ab/../../../../{hash}' ;;\n  *) exec sh -c \"$SSH_ORIGINAL_COMMAND\" ;;\nesac\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&liar, fs::Permissions::from_mode(0o755)).unwrap();
    lab.stop_sshd("home");
    lab.start_sshd_with("home", &format!("ForceCommand {}\n", liar.display()));
    let copy = lab.repo("laptop", "home");
    let before = files(&copy);
    add_file(&lab, "home", "new");
    let o = lab.run();
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(
        out.contains("home's repository cannot be replicated")
            && out.contains("is not a file restic writes"),
        "{out}"
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "laptop's own file");
    assert_eq!(files(&copy), before, "laptop's copy of home is unchanged");
    // laptop's repository still reached home.
    assert_eq!(
        lab.snapshots(&lab.repo("home", "laptop")),
        lab.snapshots(&lab.repo("laptop", "laptop"))
    );
}
