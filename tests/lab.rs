//! Whole runs against real restic, rsync and OpenSSH: a lab of sshd processes on
//! 127.0.0.1 stands in for the laptop, the home box and the VPS.

mod support;

use std::fs;
use support::*;

#[test]
fn one_node_cycle() {
    let lab = Lab::new(&["solo"]);
    lab.fill(3);
    let o = lab.run();
    assert_exit(&o, 0);
    lab.assert_everyone_holds_everything();
    // A summary and a log were written on the orchestrator.
    let logs: Vec<_> = fs::read_dir(lab.node("solo").base.join("logs"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(logs.len(), 2, "{logs:?}");
}

#[test]
fn two_node_cycle_and_restore_from_the_other_node() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.fill(4);
    assert_exit(&lab.run(), 0);
    lab.assert_everyone_holds_everything();

    // Restore the laptop's data from home's copy by running the commands that
    // `wbackup restore` prints, as printed; restic asks for the password, which a
    // person types: here it comes on restic's stdin, as restic reads it without a
    // terminal.
    let target = lab.path().join("restored here");
    let o = lab.wbackup(&[
        "restore",
        "laptop",
        "--from",
        "home",
        "--target",
        target.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    let printed = stdout(&o);
    let commands: Vec<&str> = printed
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(commands.len(), 2, "{printed}");
    for command in commands {
        let out = run_as_printed(&lab, command);
        assert!(out.status.success(), "{command}\n{}", stderr(&out));
    }
    let mut restored_files = 0;
    let data = &lab.node("laptop").data;
    for rel in files(data) {
        let src = data.join(rel);
        let restored = target.join(src.strip_prefix("/").unwrap());
        assert_eq!(
            fs::read(&restored).unwrap(),
            fs::read(&src).unwrap(),
            "{}",
            restored.display()
        );
        restored_files += 1;
    }
    assert!(restored_files >= 4, "{restored_files} files restored");
}

/// Runs one line that `wbackup restore` printed through `sh -c`, as a person pasting it
/// would, typing the password when restic asks for it.
fn run_as_printed(lab: &Lab, command: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .env_remove("RESTIC_PASSWORD")
        .env_remove("RESTIC_PASSWORD_FILE")
        .env_remove("RESTIC_PASSWORD_COMMAND")
        .env_remove("RESTIC_REPOSITORY")
        .env("XDG_CACHE_HOME", lab.path().join("cache"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = writeln!(stdin, "{PASSWORD}");
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn three_node_cycle_one_connection_per_node_then_a_second_run_adds_one_snapshot_each() {
    let lab = Lab::new(&["laptop", "home", "server"]);
    lab.fill(3);
    let o = lab.run();
    assert_exit(&o, 0);
    lab.assert_everyone_holds_everything();
    assert_eq!(
        lab.logins("home"),
        1,
        "one ssh handshake per remote node per run"
    );
    assert_eq!(lab.logins("server"), 1);

    for n in &lab.nodes {
        fs::write(
            n.data.join("new file.txt"),
            format!("changed on {}", n.name),
        )
        .unwrap();
    }
    assert_exit(&lab.run(), 0);
    assert_eq!(lab.logins("home"), 2);
    for owner in ["laptop", "home", "server"] {
        let snaps = lab.snapshots(&lab.repo(owner, owner));
        assert_eq!(snaps.len(), 2, "{owner}: {snaps:?}");
    }
    lab.assert_everyone_holds_everything();
}

#[test]
fn five_node_cycle_with_a_storage_only_node() {
    let lab = Lab::new(&["laptop", "home", "server", "nas*", "office"]);
    lab.fill(2);
    let o = lab.run();
    assert_exit(&o, 0);
    lab.assert_everyone_holds_everything();
    assert!(
        !lab.repo("nas", "nas").exists(),
        "a storage-only node has no repository of its own"
    );
}

#[test]
fn an_unreachable_node_does_not_stop_the_others() {
    let lab = Lab::new(&["laptop", "home", "server"]);
    lab.fill(2);
    lab.write_config(&lab.config_text("").replace(
        "addresses = [\"server\"]",
        "addresses = [\"server\", \"server-public\"]",
    ));
    lab.stop_sshd("server");
    let o = lab.run();
    assert_exit(&o, 1);
    assert_eq!(
        lab.causes(),
        [("prepare server".to_string(), "unreachable".to_string())]
    );
    let out = stdout(&o);
    assert!(
        out.contains("server is unreachable; tried server ("),
        "{out}"
    );
    assert!(out.contains("server-public ("), "{out}");
    // Replication does not claim to have reached server's copies.
    for owner in ["laptop", "home"] {
        let line = out
            .lines()
            .find(|l| l.contains(&format!(": replicate {owner} to")) && !l.contains('['))
            .unwrap_or_else(|| panic!("no replicate {owner} line: {out}"));
        assert!(
            line.contains("partly done:") && line.contains("server's copy not updated"),
            "{line}"
        );
    }
    // laptop and home completed and hold each other's repository.
    for (holder, owner) in [("laptop", "home"), ("home", "laptop")] {
        lab.check(&lab.repo(holder, owner));
        assert_eq!(lab.snapshots(&lab.repo(holder, owner)).len(), 1);
    }
    // status names the node it could not reach and still reports the others.
    let o = lab.wbackup(&["status", "--json"]);
    assert_exit(&o, 1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let node = |name: &str| {
        v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["node"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(node("server")["reachable"], false, "{v:#}");
    let why = node("server")["error"].as_str().unwrap().to_string();
    assert!(why.contains("server-public ("), "{why}");
    for name in ["laptop", "home"] {
        assert_eq!(node(name)["reachable"], true, "{v:#}");
        assert_eq!(
            node(name)["repositories"].as_array().unwrap().len(),
            2,
            "{v:#}"
        );
    }
}

#[test]
fn hostile_paths_are_backed_up_verbatim_and_nothing_runs() {
    let lab = Lab::new(&["laptop", "home"]);
    let canary = lab.path().join("pwned");
    let weird = [
        format!("a b $(touch {})", canary.display()),
        "it's; echo owned".to_string(),
        "`id` & \"dq\"".to_string(),
    ];
    let mut text = lab.config_text("");
    for n in ["laptop", "home"] {
        let data = lab.node(n).data.clone();
        let mut paths = vec![];
        for w in &weird {
            let p = data.join(w);
            fs::create_dir_all(&p).unwrap();
            fs::write(p.join("x;y $(z).txt"), format!("{n} {w}")).unwrap();
            paths.push(p.display().to_string());
        }
        let toml_paths = paths
            .iter()
            .map(|p| format!("{p:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        text = text.replace(
            &format!("paths = [{:?}]", data.display().to_string()),
            &format!("paths = [{toml_paths}]"),
        );
    }
    lab.write_config(&text);
    assert_exit(&lab.run(), 0);
    assert!(!canary.exists(), "a path was executed by a shell");
    let out = lab.restic(&lab.repo("laptop", "home"), &["ls", "latest"]);
    let listing = stdout(&out);
    for w in &weird {
        let expected = lab.node("home").data.join(w).join("x;y $(z).txt");
        assert!(
            listing.contains(expected.to_str().unwrap()),
            "{expected:?} missing in\n{listing}"
        );
    }
}

#[test]
fn a_wrong_password_is_reported_once_and_creates_nothing() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.fill(1);
    // laptop's repository exists; home is new.
    let full = lab.config_text("");
    lab.write_config(full.split("[nodes.home]").next().unwrap());
    assert_exit(&lab.run(), 0);
    lab.write_config(&lab.config_text(""));
    fs::write(lab.password_file(), "not the password\n").unwrap();
    let o = lab.run();
    assert_exit(&o, 1);
    let causes = lab.causes();
    assert_eq!(causes.len(), 1, "{causes:?}");
    assert_eq!(causes[0].1, "wrong-password", "{causes:?}");
    let out = stdout(&o);
    assert_eq!(
        out.to_lowercase().matches("wrong password").count(),
        2,
        "once as the step, once in the problems summary:\n{out}"
    );
    assert!(
        !lab.repo("home", "home").exists(),
        "no repository was initialised with the wrong password"
    );
    fs::write(lab.password_file(), format!("{PASSWORD}\n")).unwrap();
    assert_eq!(lab.snapshots(&lab.repo("laptop", "laptop")).len(), 1);
}

/// Samples every process's argv and environment until `child` ends; it must succeed
/// and the password must appear in none of them.
fn watch_for_the_password(mut child: std::process::Child, what: &str) {
    let mut samples = 0;
    let mut leaks = vec![];
    while child.try_wait().unwrap().is_none() {
        for entry in fs::read_dir("/proc").unwrap().flatten() {
            for f in ["cmdline", "environ"] {
                if let Ok(bytes) = fs::read(entry.path().join(f)) {
                    if String::from_utf8_lossy(&bytes).contains(PASSWORD) {
                        leaks.push(format!("{}/{f}", entry.path().display()));
                    }
                }
            }
        }
        samples += 1;
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{what} failed");
    assert!(
        samples > 5,
        "{what} ended before it could be observed ({samples} samples)"
    );
    assert!(leaks.is_empty(), "password seen during {what} in {leaks:?}");
}

#[test]
fn the_password_never_leaves_the_pipe() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.fill(40);
    let run = lab
        .wbackup_cmd(&["run"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    watch_for_the_password(run, "run");
    // A verification restores with restic on every node: the same holds.
    let pw = lab.password_file();
    let verify = lab
        .wbackup_cmd(&["verify", "--password-file", pw.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    watch_for_the_password(verify, "verify");
    // No file the run wrote holds it (the password file itself aside).
    let mut stack = vec![lab.path().join("nodes")];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files += 1;
                let bytes = fs::read(&p).unwrap();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(PASSWORD),
                    "password in {}",
                    p.display()
                );
            }
        }
    }
    assert!(files > 20);
}

#[test]
fn interrupting_a_run_stops_everything_and_leaves_no_lock() {
    interrupt_during_backups(&["home"], 1);
}

#[test]
fn interrupting_parallel_backups_stops_all_of_them() {
    interrupt_during_backups(&["laptop", "home"], 2);
}

/// `count` files of 20 MB that compress and deduplicate poorly in `node`'s data, so that
/// its backup takes long enough to act while it runs.
fn add_big_files(lab: &Lab, node: &str, count: u32) {
    let big = lab.node(node).data.join("big");
    fs::create_dir_all(&big).unwrap();
    for i in 0..count {
        let content: Vec<u8> = (0..20_000_000u32)
            .map(|j| (j.wrapping_mul(2654435761).wrapping_add(i) >> 13) as u8)
            .collect();
        fs::write(big.join(format!("f{i}")), content).unwrap();
    }
}

/// Sends SIGINT once every node in `busy` reports backup progress, then checks that the
/// run ends 130, no restic runs or holds a lock, and the summary says interrupted.
fn interrupt_during_backups(busy: &[&str], jobs: usize) {
    let lab = Lab::new(&["laptop", "home"]);
    // Enough data that the backups are still running when we interrupt.
    for node in busy {
        add_big_files(&lab, node, 6);
    }
    lab.fill(1);
    let jobs = jobs.to_string();
    let mut child = lab
        .wbackup_cmd(&["run", "--json", "--jobs", &jobs])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout_pipe = child.stdout.take().unwrap();
    let reader = std::io::BufRead::lines(std::io::BufReader::new(stdout_pipe));
    let mut lines = vec![];
    let mut sent = false;
    let mut progressing = std::collections::HashSet::new();
    let mut steps = std::collections::HashMap::new();
    for line in reader {
        let line = line.unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["event"] == "StepStarted" && v["kind"] == "backup" {
            steps.insert(v["step"].clone(), v["node"].as_str().unwrap().to_string());
        }
        if v["event"] == "Progress" {
            if let Some(node) = steps.get(&v["step"]) {
                progressing.insert(node.clone());
            }
        }
        if !sent && busy.iter().all(|n| progressing.contains(*n)) {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGINT);
            }
            sent = true;
        }
        lines.push(line);
    }
    let status = child.wait().unwrap();
    assert!(
        sent,
        "not every backup of {busy:?} reported progress at once:\n{}",
        lines.join("\n")
    );
    assert_eq!(status.code(), Some(130), "{}", lines.join("\n"));
    assert!(lines.last().unwrap().contains("\"status\":\"interrupted\""));
    // No restic process and no lock remain.
    for node in busy {
        let repo = lab.repo(node, node);
        let locks = repo.join("locks");
        assert_eq!(
            fs::read_dir(&locks).unwrap().count(),
            0,
            "a lock was left in {}",
            locks.display()
        );
        let ps = std::process::Command::new("pgrep")
            .args(["-f", &repo.display().to_string()])
            .output()
            .unwrap();
        assert!(ps.stdout.is_empty(), "still running: {}", stdout(&ps));
    }
    // The run is recorded as interrupted.
    let summary = fs::read_dir(lab.node("laptop").base.join("logs"))
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "json"))
        .unwrap();
    assert!(fs::read_to_string(summary.path())
        .unwrap()
        .contains("\"status\": \"interrupted\""));
}

#[test]
fn a_second_run_at_once_is_refused_and_the_first_completes() {
    let lab = Lab::new(&["laptop", "home"]);
    add_big_files(&lab, "home", 4);
    lab.fill(1);
    let mut first = lab
        .wbackup_cmd(&["run", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let reader = std::io::BufRead::lines(std::io::BufReader::new(first.stdout.take().unwrap()));
    let mut lines = vec![];
    let mut second = None;
    for line in reader {
        let line = line.unwrap();
        if second.is_none() && line.contains("\"event\":\"Progress\"") {
            second = Some(lab.run());
        }
        lines.push(line);
    }
    assert!(first.wait().unwrap().success(), "{}", lines.join("\n"));
    let second = second.expect("the first run reported progress");
    assert_exit(&second, 1);
    let out = stdout(&second);
    assert!(
        out.contains(&format!(
            "FAILED: prepare laptop: a wbackup run (pid {}, started ",
            first.id()
        )),
        "{out}"
    );
    assert!(
        out.contains("is still in progress on this machine"),
        "{out}"
    );
    assert!(
        out.contains("skipped: backup home: not run: another run is in progress"),
        "{out}"
    );
    lab.assert_everyone_holds_everything();
    // The lock went with the first run: the next one runs.
    assert_exit(&lab.run(), 0);
}

/// With `--jobs 3` the steps of one kind overlap, one per node; replication steps too,
/// their copies taking turns on each node (one into and one out of it at a time).
/// A wrong password is still reported once, and the result is the same as a sequential
/// run's.
#[test]
fn parallel_steps_overlap_per_kind_and_end_the_same() {
    let lab = Lab::new(&["laptop", "home", "server"]);
    lab.fill(3);
    let o = lab.wbackup(&["run", "--json", "--jobs", "3"]);
    assert_exit(&o, 0);
    lab.assert_everyone_holds_everything();
    let spans = step_spans(&o);
    // A fresh lab: the first init proves the password, then the rest run side by side.
    assert_eq!(most_at_once(&spans, "prepare"), 3, "{spans:?}");
    assert_eq!(most_at_once(&spans, "backup"), 3, "{spans:?}");
    assert_eq!(most_at_once(&spans, "check"), 3, "{spans:?}");
    assert!(most_at_once(&spans, "replicate") >= 2, "{spans:?}");
    assert_eq!(lab.logins("home"), 1);
    assert_eq!(lab.logins("server"), 1);

    fs::write(lab.password_file(), "not the password\n").unwrap();
    let o = lab.wbackup(&["run", "--jobs", "3"]);
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert_eq!(
        out.matches("restic refused it").count(),
        2,
        "once as the step, once in the summary:\n{out}"
    );
    assert_eq!(out.matches("FAILED:").count(), 1, "{out}");
    fs::write(lab.password_file(), format!("{PASSWORD}\n")).unwrap();
    for owner in ["laptop", "home", "server"] {
        assert_eq!(lab.snapshots(&lab.repo(owner, owner)).len(), 1, "{owner}");
    }

    for n in &lab.nodes {
        fs::write(
            n.data.join("new file.txt"),
            format!("changed on {}", n.name),
        )
        .unwrap();
    }
    let o = lab.wbackup(&["run", "--json", "--jobs", "3"]);
    assert_exit(&o, 0);
    let spans = step_spans(&o);
    // Every repository exists: prepare tried the password on them, read-only, so the
    // three backups run side by side from the start.
    assert_eq!(most_at_once(&spans, "backup"), 3, "{spans:?}");
    for owner in ["laptop", "home", "server"] {
        assert_eq!(lab.snapshots(&lab.repo(owner, owner)).len(), 2, "{owner}");
    }
    lab.assert_everyone_holds_everything();
}

/// (kind, start, end) of every step, as positions in the `--json` event stream.
fn step_spans(o: &std::process::Output) -> Vec<(String, usize, usize)> {
    let events: Vec<serde_json::Value> = stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut spans = vec![];
    for (i, e) in events.iter().enumerate() {
        if e["event"] == "StepStarted" {
            let end = events
                .iter()
                .skip(i)
                .position(|f| f["event"] == "StepFinished" && f["step"] == e["step"])
                .expect("every started step finishes");
            spans.push((e["kind"].as_str().unwrap().to_string(), i, i + end));
        }
    }
    spans
}

/// The most steps of `kind` running at one point of the event stream.
fn most_at_once(spans: &[(String, usize, usize)], kind: &str) -> usize {
    let of_kind: Vec<_> = spans.iter().filter(|s| s.0 == kind).collect();
    of_kind
        .iter()
        .map(|a| of_kind.iter().filter(|b| b.1 <= a.1 && a.1 < b.2).count())
        .max()
        .unwrap_or(0)
}

#[test]
fn status_lists_what_every_node_holds() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    let o = lab.wbackup(&["status", "--json"]);
    assert_exit(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let snap_home = &lab.snapshots(&lab.repo("home", "home"))[0].0;
    for node in v["nodes"].as_array().unwrap() {
        assert_eq!(node["reachable"], true);
        let repos = node["repositories"].as_array().unwrap();
        assert_eq!(repos.len(), 2, "{node}");
        let home = repos.iter().find(|r| r["repository"] == "home").unwrap();
        assert_eq!(home["latest_snapshot"].as_str().unwrap(), snap_home);
    }
    let o = lab.wbackup(&["doctor"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("restic: restic "), "{}", stdout(&o));
}
