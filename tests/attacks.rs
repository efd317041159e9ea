//! Attacks and accidents, one test each, against real restic, rsync and sshd (issue 9):
//! what a careless user, a broken disk, a changed machine or a signal can do to a run.
//! Each test failed before its fix; none may cost a copy.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// wbackup with the lab's configuration and nothing else (no password source added).
fn bare(lab: &Lab, args: &[&str]) -> Command {
    if !lab.path().join("config.toml").exists() {
        lab.write_config(&lab.config_text(""));
    }
    let mut c = Command::new(env!("CARGO_BIN_EXE_wbackup"));
    c.arg("--config").arg(lab.path().join("config.toml"));
    c.args(args);
    c.stdin(Stdio::null());
    c
}

/// A small file system mounted on `dir` for the test's lifetime (the tests run as root).
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path) -> Mount {
        fs::create_dir_all(dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success(), "cannot mount a tmpfs on {}", dir.display());
        Mount(dir.to_path_buf())
    }

    fn read_only(&self) {
        let st = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(
            st.success(),
            "cannot remount {} read-only",
            self.0.display()
        );
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The pids of processes whose argv is exactly `argv`.
fn processes(argv: &[&str]) -> Vec<u32> {
    let want: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want))
        .collect()
}

/// Runs `wbackup run --json` and sends `signal` once a backup step reports progress;
/// returns the exit status and the events.
fn signal_during_backup(lab: &Lab, signal: i32) -> (Option<i32>, Vec<String>) {
    let mut child = lab
        .wbackup_cmd(&["run", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut lines = vec![];
    let mut sent = false;
    let mut backups = std::collections::HashSet::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(out)) {
        let line = line.unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["event"] == "StepStarted" && v["kind"] == "backup" {
            backups.insert(v["step"].clone());
        }
        if !sent && v["event"] == "Progress" && backups.contains(&v["step"]) {
            // SAFETY: a signal to the child this test started.
            unsafe { libc::kill(child.id() as i32, signal) };
            sent = true;
        }
        lines.push(line);
    }
    let status = child.wait().unwrap();
    assert!(sent, "no backup reported progress:\n{}", lines.join("\n"));
    (status.code(), lines)
}

/// `count` files of 20 MB that compress and deduplicate poorly, so that a backup of
/// them takes long enough to act while it runs.
fn add_big_files(dir: &Path, count: u32) {
    let big = dir.join("big");
    fs::create_dir_all(&big).unwrap();
    for i in 0..count {
        let content: Vec<u8> = (0..20_000_000u32)
            .map(|j| (j.wrapping_mul(2654435761).wrapping_add(i) >> 13) as u8)
            .collect();
        fs::write(big.join(format!("f{i}")), content).unwrap();
    }
}

/// The newest run summary on the orchestrator.
fn last_summary(lab: &Lab) -> serde_json::Value {
    let logs = lab.nodes[0].base.join("logs");
    let mut jsons: Vec<PathBuf> = fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    jsons.sort();
    serde_json::from_slice(&fs::read(jsons.last().unwrap()).unwrap()).unwrap()
}

// 2 --------------------------------------------------------------------------------------

#[test]
fn a_password_command_printing_bytes_that_are_not_utf8_is_refused_not_altered() {
    let lab = Lab::new(&["solo"]);
    lab.fill(1);
    let o = bare(&lab, &["run", "--password-command", r"printf 'caf\351\n'"])
        .output()
        .unwrap();
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("the password from the password command is not UTF-8 text"),
        "{}",
        stderr(&o)
    );
    assert!(
        !lab.node("solo").base.exists(),
        "nothing was created with an altered password"
    );
}

// 3 --------------------------------------------------------------------------------------

#[test]
fn an_ipv6_literal_address_reaches_and_replicates() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.stop_sshd("home");
    lab.start_sshd_with("home", "ListenAddress [::1]\n");
    lab.fill(2);
    let port = lab.node("home").port.unwrap();
    let text = lab.config_text("").replace(
        "addresses = [\"home\"]",
        &format!("addresses = [\"::1\"]\nport = {port}"),
    );
    assert!(text.contains("\"::1\""), "{text}");
    lab.write_config(&text);
    let o = lab.run();
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("reached via ::1"), "{}", stdout(&o));
    lab.assert_everyone_holds_everything();
    let plan = lab.wbackup(&["plan"]);
    assert_exit(&plan, 0);
    assert!(
        stdout(&plan).contains("'[::1]:'"),
        "the plan shows rsync's real target:\n{}",
        stdout(&plan)
    );
}

// 4 --------------------------------------------------------------------------------------

#[test]
fn a_read_only_orchestrator_base_dir_runs_nothing_that_cannot_be_recorded() {
    let lab = Lab::new(&["laptop", "home"]);
    let mount = Mount::tmpfs(&lab.node("laptop").base);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    let logins = lab.logins("home");
    let home_before = lab.snapshots(&lab.repo("home", "home"));
    fs::write(lab.node("home").data.join("new.txt"), "new").unwrap();
    mount.read_only();
    let o = lab.run();
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert_eq!(
        lab.logins("home"),
        logins,
        "no node was even contacted:\n{out}"
    );
    assert_eq!(lab.snapshots(&lab.repo("home", "home")), home_before);
    assert!(
        out.contains("cannot take the run lock") && out.contains("Read-only file system"),
        "{out}"
    );
    assert!(out.contains("nothing was run"), "{out}");
    assert!(
        out.contains("skipped: backup home: not run: the run cannot be recorded"),
        "{out}"
    );
}

// 5 --------------------------------------------------------------------------------------

#[test]
fn a_password_command_that_hangs_ends_with_the_run_on_sigterm() {
    let lab = Lab::new(&["solo"]);
    let secs = (100_000 + std::process::id()).to_string();
    let child = bare(
        &lab,
        &[
            "run",
            "--password-command",
            &format!("sleep {secs}; echo pw"),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while processes(&["sleep", &secs]).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the password command never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = child.wait_with_output().unwrap();
    assert_exit(&o, 130);
    assert!(stderr(&o).contains("interrupted while the password command ran"));
    assert_eq!(
        processes(&["sleep", &secs]),
        Vec::<u32>::new(),
        "the password command outlived wbackup"
    );
}

// 6 --------------------------------------------------------------------------------------

#[test]
fn a_backup_of_a_folder_holding_base_dir_leaves_the_backups_out() {
    let lab = Lab::new(&["solo"]);
    lab.fill(1);
    // The node's folder holds both its data and its base_dir, like `paths = ["~/"]`
    // with `base_dir = "~/backup"`.
    let solo = lab.node("solo");
    let home = solo.base.parent().unwrap().to_path_buf();
    let text = lab.config_text("").replace(
        &format!("paths = [{:?}]", solo.data.display().to_string()),
        &format!("paths = [{:?}]", home.display().to_string()),
    );
    assert!(text.contains(&format!("{:?}", home.display().to_string())));
    lab.write_config(&text);
    assert_exit(&lab.run(), 0);
    assert_exit(&lab.run(), 0);
    let repo = lab.repo("solo", "solo");
    let ls = lab.restic(&repo, &["ls", "latest"]);
    assert!(ls.status.success(), "{}", stderr(&ls));
    let listed = stdout(&ls);
    assert!(listed.contains("file 0.bin"), "the data is there: {listed}");
    // Of base_dir only the folders that hold wbackup's folders remain, empty.
    let base = solo.base.display().to_string();
    let inside: Vec<&str> = listed.lines().filter(|l| l.starts_with(&base)).collect();
    assert!(
        inside
            .iter()
            .all(|l| *l == base || *l == format!("{base}/solo")),
        "the backups were backed up into themselves:\n{}",
        inside.join("\n")
    );
    let plan = stdout(&lab.wbackup(&["plan"]));
    assert!(
        plan.contains(&format!("--exclude {}/solo/restic ", solo.base.display())),
        "{plan}"
    );
}

// 7 --------------------------------------------------------------------------------------

#[test]
fn restore_commands_pasted_into_a_shell_inject_nothing() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let cfg = d.join("c.toml");
    fs::write(
        &cfg,
        "orchestrator = \"laptop\"\n[nodes.laptop]\npaths = [\"/x\"]\n[nodes.home]\naddresses = [\"h\\ntouch pwned-by-address\"]\nbase_dir = \"/srv/it's $(touch pwned-by-base)\"\npaths = [\"/y\"]\n",
    )
    .unwrap();
    let restore = |target: &str| {
        Command::new(env!("CARGO_BIN_EXE_wbackup"))
            .args(["--config", cfg.to_str().unwrap(), "restore", "laptop"])
            .args(["--from", "home", "--target", target])
            .output()
            .unwrap()
    };
    // A control character in --target is refused, naming it.
    let o = restore("r\ntouch pwned-by-target");
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("control character"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());

    // Any other target is quoted; comments stay on their line.
    let target = "restored $(touch pwned-by-target) it's";
    let o = restore(target);
    assert_exit(&o, 0);
    let script = stdout(&o);
    let bin = d.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let stub = bin.join("restic");
    fs::write(
        &stub,
        "#!/bin/sh\nprintf '%s\\n' \"$@\" >> \"$RESTIC_CALLS\"\n",
    )
    .unwrap();
    fs::set_permissions(&stub, fs::Permissions::from_mode(0o755)).unwrap();
    let calls = d.join("calls");
    let sh = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(d)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("RESTIC_CALLS", &calls)
        .output()
        .unwrap();
    assert!(sh.status.success(), "{script}\n{}", stderr(&sh));
    let names: Vec<String> = fs::read_dir(d)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with("pwned")),
        "pasting ran an injected command: {names:?}\n{script}"
    );
    assert!(d.join(target).is_dir(), "{names:?}\n{script}");
    let repo = "/srv/it's $(touch pwned-by-base)/laptop/restic";
    assert_eq!(
        fs::read_to_string(&calls).unwrap(),
        format!("-r\n{repo}\nsnapshots\n-r\n{repo}\nrestore\nlatest\n--target\n{target}\n")
    );
}

// 11 -------------------------------------------------------------------------------------

#[test]
fn what_wbackup_writes_is_private_on_every_node() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    let mut open = vec![];
    let mut seen = 0;
    for n in &lab.nodes {
        let mut todo = vec![n.base.clone()];
        while let Some(p) = todo.pop() {
            let meta = fs::symlink_metadata(&p).unwrap();
            seen += 1;
            if meta.permissions().mode() & 0o077 != 0 {
                open.push(format!("{:o} {}", meta.permissions().mode(), p.display()));
            }
            if meta.is_dir() {
                todo.extend(fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
            }
        }
    }
    assert!(
        seen > 50,
        "the walk saw the layout, logs and copies ({seen})"
    );
    assert!(open.is_empty(), "readable by others:\n{}", open.join("\n"));
}

// 13 -------------------------------------------------------------------------------------

#[test]
fn a_missing_source_path_fails_the_backup_naming_it() {
    let lab = Lab::new(&["solo"]);
    lab.fill(1);
    let solo = lab.node("solo");
    let gone = solo.data.parent().unwrap().join("photos it's");
    let text = lab.config_text("").replace(
        &format!("paths = [{:?}]", solo.data.display().to_string()),
        &format!(
            "paths = [{:?}, {:?}]",
            solo.data.display().to_string(),
            gone.display().to_string()
        ),
    );
    lab.write_config(&text);
    let o = lab.run();
    assert_exit(&o, 1);
    let out = stdout(&o);
    let quoted = format!("'{}'", gone.display().to_string().replace('\'', r"'\''"));
    assert!(
        out.contains(&format!(
            "FAILED: backup solo: 1 of solo's source paths does not exist: {quoted} (the other paths were backed up)"
        )),
        "{out}"
    );
    assert_eq!(
        lab.snapshots(&lab.repo("solo", "solo")).len(),
        1,
        "what exists was backed up"
    );
}

// 14 -------------------------------------------------------------------------------------

#[test]
fn sighup_interrupts_the_run_like_sigterm() {
    let lab = Lab::new(&["laptop", "home"]);
    add_big_files(&lab.node("home").data, 6);
    lab.fill(1);
    let (code, lines) = signal_during_backup(&lab, libc::SIGHUP);
    assert_eq!(code, Some(130), "{}", lines.join("\n"));
    assert!(lines.last().unwrap().contains("\"status\":\"interrupted\""));
    assert_eq!(last_summary(&lab)["status"], "interrupted");
    let locks = lab.repo("home", "home").join("locks");
    assert_eq!(fs::read_dir(&locks).unwrap().count(), 0, "a lock was left");
}

// 15 -------------------------------------------------------------------------------------

#[test]
fn a_node_without_rsync_still_backs_up_checks_and_forgets() {
    let lab = Lab::new(&["laptop", "home"]);
    // home's sessions find every tool but rsync.
    let bin = lab.path().join("home-bin");
    fs::create_dir_all(&bin).unwrap();
    for dir in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name();
            if name != "rsync" && !bin.join(&name).exists() {
                std::os::unix::fs::symlink(e.path(), bin.join(&name)).unwrap();
            }
        }
    }
    lab.stop_sshd("home");
    lab.start_sshd_with("home", &format!("SetEnv PATH={}\n", bin.display()));
    lab.fill(1);
    let o = lab.wbackup(&["run", "--verify"]);
    assert_exit(&o, 1);
    assert!(
        lab.causes()
            .contains(&("prepare home".to_string(), "tool-missing".to_string())),
        "{:?}",
        lab.causes()
    );
    let out = stdout(&o);
    assert_eq!(lab.snapshots(&lab.repo("home", "home")).len(), 1, "{out}");
    // Its own repository is still proven there; the copy it cannot hold is named.
    let ledger = fs::read_to_string(lab.node("laptop").base.join("logs/proofs.jsonl")).unwrap();
    let proofs: Vec<serde_json::Value> = ledger
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |r: &str, h: &str| {
        proofs
            .iter()
            .find(|p| p["repo"] == r && p["holder"] == h)
            .unwrap_or_else(|| panic!("no proof of {r} on {h}: {ledger}"))
    };
    assert_eq!(of("home", "home")["proven"], true, "{ledger}");
    assert_eq!(of("laptop", "home")["proven"], false, "{ledger}");
    for step in ["backup home", "check home", "forget home"] {
        assert!(out.contains(&format!("ok: {step}")), "{step}:\n{out}");
    }
    assert!(
        out.contains("FAILED: prepare home: `rsync` is not installed on home (install it: apt install rsync); home still backs up"),
        "{out}"
    );
    lab.check(&lab.repo("laptop", "laptop"));
}

// 16 -------------------------------------------------------------------------------------

#[test]
fn a_changed_host_key_is_named_with_the_command_that_fixes_it() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    // home is reinstalled: a new host key.
    lab.stop_sshd("home");
    fs::remove_file(lab.path().join("hostkey_home")).unwrap();
    fs::remove_file(lab.path().join("hostkey_home.pub")).unwrap();
    lab.start_sshd("home");
    let o = lab.run();
    assert_exit(&o, 1);
    assert_eq!(
        lab.causes(),
        [("prepare home".to_string(), "host-key-changed".to_string())]
    );
    let out = stdout(&o);
    let says = "FAILED: prepare home: home's host key changed — if you reinstalled it, remove the old key with `";
    let at = out
        .find(says)
        .unwrap_or_else(|| panic!("no one-line reason:\n{out}"));
    let cmd = out[at + says.len()..].split('`').next().unwrap();
    assert!(cmd.starts_with("ssh-keygen "), "{cmd}");
    // The suggestion, pasted, is what fixes it.
    let fix = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(fix.status.success(), "{cmd}: {}", stderr(&fix));
    assert_exit(&lab.run(), 0);
}

#[test]
fn a_read_only_remote_disk_is_named_in_the_one_line_reason() {
    let lab = Lab::new(&["laptop", "home"]);
    let mount = Mount::tmpfs(&lab.node("home").base);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    mount.read_only();
    let o = lab.run();
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(
        out.contains(
            "FAILED: prepare home: home's disk is read-only: nothing can be written under"
        ),
        "{out}"
    );
    assert!(out.contains("ok: backup laptop"), "{out}");
}

// 17 -------------------------------------------------------------------------------------

#[test]
fn a_configuration_that_never_ends_is_refused_before_it_is_read() {
    for path in ["/dev/zero", "/dev/urandom"] {
        let o = Command::new(env!("CARGO_BIN_EXE_wbackup"))
            .args(["--config", path, "plan"])
            .output()
            .unwrap();
        assert_exit(&o, 2);
        assert!(
            stderr(&o).contains(&format!("{path}: the configuration is not a regular file")),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn sighup_closes_the_window_cleanly_with_130() {
    let d = tempfile::tempdir().unwrap();
    let runtime = d.path().join("xdg");
    fs::create_dir_all(&runtime).unwrap();
    fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).unwrap();
    let cfg = d.path().join("c.toml");
    fs::write(
        &cfg,
        format!(
            "[nodes.solo]\nbase_dir = {:?}\npaths = [{:?}]\n",
            d.path().join("backup").display().to_string(),
            d.path().display().to_string()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wbackup"))
        .args(["--config", cfg.to_str().unwrap(), "gui"])
        .env("HOME", d.path())
        .env("QT_QPA_PLATFORM", "offscreen")
        .env("XDG_RUNTIME_DIR", &runtime)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the window catches SIGHUP and SIGTERM (its SigCgt mask says so).
    let status = format!("/proc/{}/status", child.id());
    let deadline = Instant::now() + Duration::from_secs(60);
    let caught = |bits: u64| {
        fs::read_to_string(&status)
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .is_some_and(|m| m & bits == bits)
    };
    let hup_and_term = (1 << (libc::SIGHUP - 1)) | (1 << (libc::SIGTERM - 1));
    while !caught(hup_and_term) {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("the window never caught SIGHUP and SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(130));
}
