//! Problems in plain sentences on a real lab (real sshd, restic and rsync): a node whose
//! host key was made anew, and a repository locked by another restic — first one that
//! still runs (no unlock offered), then one killed with -9 so that its lock stays (a safe
//! `restic unlock` offered, and pasting it lets the next run pass). Each time the JSON
//! summary's `problems` and the terminal summary must say the same sentence and advice.
//! (Unreadable files are left to the unit tests, from a real restic run as an
//! unprivileged user: the lab runs as root, which reads every file.)

mod support;

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// The problems of the newest run's JSON summary.
fn problems(lab: &Lab) -> Vec<serde_json::Value> {
    let logs = lab.node(&lab.nodes[0].name).base.join("logs");
    let newest = fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .max()
        .expect("a summary");
    let s: serde_json::Value = serde_json::from_slice(&fs::read(newest).unwrap()).unwrap();
    s["problems"].as_array().expect("a problems list").clone()
}

fn text<'a>(p: &'a serde_json::Value, key: &str) -> &'a str {
    p[key].as_str().unwrap_or_else(|| panic!("no {key} in {p}"))
}

/// The problem with this cause; the terminal must print it as the summary holds it.
fn problem(lab: &Lab, out: &str, cause: &str) -> serde_json::Value {
    let all = problems(lab);
    let p = all
        .iter()
        .find(|p| p["cause"] == cause)
        .unwrap_or_else(|| panic!("no {cause} problem in {all:#?}"))
        .clone();
    let nodes: Vec<&str> = p["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let printed = format!(
        "  {cause} ({}): {}\n    what to do: {}\n",
        nodes.join(", "),
        text(&p, "sentence"),
        text(&p, "todo")
    );
    assert!(out.contains("problems:\n"), "{out}");
    assert!(
        out.contains(&printed),
        "the terminal says\n{printed}\nin\n{out}"
    );
    p
}

/// The commands a piece of advice gives between backticks.
fn commands(todo: &str) -> Vec<&str> {
    todo.split('`').skip(1).step_by(2).collect()
}

#[test]
fn a_changed_host_key_is_explained_with_the_command_for_a_reinstalled_node() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    assert!(problems(&lab).is_empty(), "a passing run has no problems");
    // home is reinstalled: its sshd gets a new host key.
    lab.stop_sshd("home");
    fs::remove_file(lab.path().join("hostkey_home")).unwrap();
    fs::remove_file(lab.path().join("hostkey_home.pub")).unwrap();
    lab.start_sshd("home");
    let known_hosts = fs::read_to_string(lab.path().join("known_hosts")).unwrap();
    let o = lab.run();
    assert_exit(&o, 1);
    let p = problem(&lab, &stdout(&o), "host-key-changed");
    assert_eq!(p["nodes"], serde_json::json!(["home"]));
    assert!(
        text(&p, "sentence")
            .starts_with("home answered with another host key than the one known for it"),
        "{p}"
    );
    assert!(text(&p, "sentence").contains("wbackup did not connect"));
    assert_eq!(
        fs::read_to_string(lab.path().join("known_hosts")).unwrap(),
        known_hosts,
        "the old key is kept: nothing bypasses the check"
    );
    let todo = text(&p, "todo");
    let port = lab.node("home").port.unwrap();
    let cmd = commands(todo)[0];
    assert_eq!(
        cmd,
        format!(
            "ssh-keygen -f {} -R '[127.0.0.1]:{port}'",
            lab.path().join("known_hosts").display()
        )
    );
    assert!(todo.contains("If you did not, do not connect"), "{todo}");
    // Pasted, the command forgets the old key; the lab's ssh accepts the new one.
    let fix = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(fix.status.success(), "{cmd}: {}", stderr(&fix));
    assert_exit(&lab.run(), 0);
    assert!(problems(&lab).is_empty());
}

/// `restic backup --stdin` fed by a pipe that never ends: it holds a lock on `repo` until
/// it is killed.
fn hold_lock(lab: &Lab, repo: &Path) -> Child {
    let before = fs::read_dir(repo.join("locks")).unwrap().count();
    let child = Command::new("restic")
        .arg("-r")
        .arg(repo)
        .args(["--no-cache", "--password-file"])
        .arg(lab.password_file())
        .args(["backup", "--stdin", "--stdin-filename", "endless"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while fs::read_dir(repo.join("locks")).unwrap().count() == before {
        assert!(Instant::now() < deadline, "restic took no lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

#[test]
fn a_locked_repository_names_its_holder_and_offers_unlock_only_when_its_process_is_gone() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    let repo = lab.repo("home", "home");
    let host = String::from_utf8(Command::new("uname").arg("-n").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();

    // A restic that still runs holds the lock: wait for it, never unlock.
    let mut holder = hold_lock(&lab, &repo);
    let pid = holder.id();
    let o = lab.run();
    assert_exit(&o, 1);
    let p = problem(&lab, &stdout(&o), "locked");
    assert_eq!(p["nodes"], serde_json::json!(["home"]));
    let sentence = text(&p, "sentence");
    assert!(
        sentence.starts_with(&format!(
            "home's repository is locked by restic PID {pid} on {host} (user root), since "
        )),
        "{sentence}"
    );
    assert!(
        sentence.ends_with(&format!("Process {pid} still runs on {host}.")),
        "{sentence}"
    );
    assert!(!text(&p, "todo").contains("unlock"), "{p}");
    assert!(
        text(&p, "todo").starts_with("Wait for that restic to finish"),
        "{p}"
    );

    // Killed with -9, it leaves its lock behind: stale, and its process gone.
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(
        fs::read_dir(repo.join("locks")).unwrap().count() > 0,
        "the lock stayed"
    );
    let o = lab.run();
    assert_exit(&o, 1);
    let p = problem(&lab, &stdout(&o), "locked");
    let sentence = text(&p, "sentence");
    assert!(
        sentence.contains(&format!("PID {pid} on {host}")),
        "{sentence}"
    );
    assert!(
        sentence.ends_with(&format!(
            "No process {pid} runs on {host} any more: the lock is stale."
        )),
        "{sentence}"
    );
    let cmd = commands(text(&p, "todo"))[0];
    assert_eq!(cmd, format!("restic -r {} unlock", repo.display()));
    // Pasted on home (the same machine here), with the password restic asks for, it
    // removes that lock, and the next run passes.
    let unlock = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("RESTIC_PASSWORD_FILE", lab.password_file())
        .output()
        .unwrap();
    assert!(unlock.status.success(), "{cmd}: {}", stderr(&unlock));
    assert_eq!(fs::read_dir(repo.join("locks")).unwrap().count(), 0);
    assert_exit(&lab.run(), 0);
    assert!(problems(&lab).is_empty());
    lab.check(&repo);
}
