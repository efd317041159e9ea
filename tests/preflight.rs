//! Every node checked before anything is written on any of them (issue 12, preflight):
//! against real restic, rsync and OpenSSH, a wrong password on three nodes leaves every
//! file and folder as it was, and a node without room for a first copy is left out
//! before a byte is written there, while the others go on.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

#[test]
fn a_wrong_password_changes_nothing_on_any_of_three_nodes_and_is_said_once() {
    let lab = Lab::new(&["laptop", "home", "server"]);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    lab.assert_everyone_holds_everything();
    // What a write would change: server's incoming folder would be made again, and an
    // old quarantine folder on laptop purged.
    fs::remove_dir(lab.node("server").base.join(".wbackup-incoming")).unwrap();
    let old = lab
        .node("laptop")
        .base
        .join(".quarantine/home/2020-01-01T00-00-00");
    fs::create_dir_all(&old).unwrap();
    let st = Command::new("touch")
        .args(["-d", "2020-01-01"])
        .arg(&old)
        .status()
        .unwrap();
    assert!(st.success());
    let before: Vec<_> = lab.nodes.iter().map(|n| tree(&n.base)).collect();

    fs::write(lab.password_file(), "not the password\n").unwrap();
    let o = lab.run();
    fs::write(lab.password_file(), format!("{PASSWORD}\n")).unwrap();
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert_eq!(
        out.to_lowercase().matches("wrong password").count(),
        2,
        "one sentence, as the step and in the problems summary:\n{out}"
    );
    assert!(out.contains("nothing was written on any node"), "{out}");
    assert_eq!(lab.causes().len(), 1, "{:?}", lab.causes());
    assert_eq!(lab.causes()[0].1, "wrong-password");
    for (n, before) in lab.nodes.iter().zip(before) {
        assert_eq!(tree(&n.base), before, "something changed on {}", n.name);
    }
    assert!(old.exists(), "the purge did not run");
    // With the right password, all goes on as before.
    assert_exit(&lab.run(), 0);
    lab.assert_everyone_holds_everything();
}

/// A small file system on `dir` for the test's lifetime (the tests run as root).
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, size: &str) -> Mount {
        fs::create_dir_all(dir).unwrap();
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success(), "cannot mount a tmpfs on {}", dir.display());
        Mount(dir.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_node_without_room_for_a_first_copy_is_left_out_before_anything_is_written() {
    let lab = Lab::new(&["laptop", "home", "server"]);
    lab.fill(1);
    // home's first backup reads 24 MB that do not compress; server has 8 MB.
    for i in 0..3 {
        fs::write(
            lab.node("home").data.join(format!("big {i}.bin")),
            noise(8 << 20, 40 + i),
        )
        .unwrap();
    }
    let base = lab.node("server").base.clone();
    let _mount = Mount::tmpfs(&base, "8m");
    let o = lab.run();
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(out.contains("not enough space on server"), "{out}");
    assert!(
        out.contains("a first copy of home's repository"),
        "the sentence says what would be written:\n{out}"
    );
    let causes = lab.causes();
    assert_eq!(
        causes,
        [("prepare server".to_string(), "disk-full".to_string())],
        "{out}"
    );
    assert_eq!(
        fs::read_dir(&base).unwrap().count(),
        0,
        "nothing was written on server"
    );
    // The others went on: each holds both their repositories, proven.
    for holder in ["laptop", "home"] {
        for owner in ["laptop", "home"] {
            assert_eq!(
                lab.snapshots(&lab.repo(holder, owner)).len(),
                1,
                "{owner}'s repository on {holder}"
            );
        }
    }
}

/// Runs wbackup with a `restic` first on every node's PATH that records its arguments,
/// and returns the run and the repositories preflight tried the password on: the
/// `restic cat config` calls before any other (a later one names a repository in an
/// error).
fn run_counting_trials(lab: &Lab, shim: &Path) -> (std::process::Output, Vec<String>) {
    let log = lab.path().join("restic-calls");
    let _ = fs::remove_file(&log);
    let path = format!("{}:{}", shim.display(), std::env::var("PATH").unwrap());
    let o = lab
        .wbackup_cmd(&["run", "--json"])
        .env("PATH", path)
        .output()
        .unwrap();
    let calls = fs::read_to_string(&log).unwrap_or_default();
    let mut trials: Vec<String> = calls
        .lines()
        .take_while(|l| l.ends_with(" --no-lock cat config"))
        .map(|l| l.split(' ').nth(1).unwrap_or_default().to_string())
        .collect();
    trials.sort();
    (o, trials)
}

#[test]
fn the_password_is_tried_once_per_repository_and_again_on_a_copy_that_differs() {
    let lab = Lab::new(&["laptop", "home", "server"]);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    lab.assert_everyone_holds_everything();
    let log = lab.path().join("restic-calls");
    let shim = lab.restic_first_on_path(
        &["home", "server"],
        &format!(
            "echo \"$*\" >> {}\nexec /usr/bin/restic \"$@\"\n",
            log.display()
        ),
    );
    let own = |n: &str| lab.repo(n, n).to_string_lossy().into_owned();

    // Every copy holds the same config and key files as its owner's: three repositories,
    // three trials, each on the owner's own node (nine copies in all).
    let (o, trials) = run_counting_trials(&lab, &shim);
    assert_exit(&o, 0);
    let mut owners = vec![own("home"), own("laptop"), own("server")];
    owners.sort();
    assert_eq!(trials, owners, "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("not tried again"), "{out}");
    assert_eq!(
        out.matches("password accepted by 3 repositories").count(),
        3,
        "every node's checklist counts every copy it holds: {out}"
    );

    // server's copy of home's repository replaced by another repository of that name:
    // its key files differ, so server tries it itself, and restic refuses the password.
    let copy = lab.repo("server", "home");
    fs::remove_dir_all(&copy).unwrap();
    let other = lab.path().join("other-password");
    fs::write(&other, "another password\n").unwrap();
    succeed(
        Command::new("restic")
            .arg("init")
            .arg("-r")
            .arg(&copy)
            .arg("--password-file")
            .arg(&other),
    );
    let before = tree(&copy);
    let (o, trials) = run_counting_trials(&lab, &shim);
    let out = stdout(&o);
    let mut expected = owners.clone();
    expected.push(copy.to_string_lossy().into_owned());
    expected.sort();
    assert_eq!(trials, expected, "{out}");
    assert!(
        out.contains("the copy of home's repository on server does not open with the password"),
        "{out}"
    );
    assert_eq!(
        tree(&copy),
        before,
        "the other repository is left as it was"
    );
}

fn succeed(cmd: &mut Command) {
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{cmd:?}: {}", stderr(&o));
}
