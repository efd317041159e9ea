//! Replication's safety rules against real restic, rsync and sshd: the deletion pass and
//! its quarantine, the shrink guard, the identity guard, verification on arrival.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::Instant;
use support::*;

fn count_files(dir: &Path) -> usize {
    if !dir.exists() {
        return 0;
    }
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn with_retention_replicas_hold_exactly_the_source_and_removed_files_go_to_quarantine() {
    let lab = Lab::new(&["laptop", "home", "server"]);
    lab.write_config(
        &lab.config_text("")
            .replace("keep_last = 10", "keep_last = 2"),
    );
    for round in 0..4 {
        for n in &lab.nodes {
            // Each round replaces a file: old data becomes garbage that prune removes.
            let content: Vec<u8> = (0..300_000u32)
                .map(|j| (j.wrapping_mul(round * 7 + 13) >> 3) as u8)
                .collect();
            fs::write(n.data.join("changing.bin"), content).unwrap();
        }
        assert_exit(&lab.run(), 0);
    }
    for owner in ["laptop", "home", "server"] {
        let source = files(&lab.repo(owner, owner));
        assert_eq!(lab.snapshots(&lab.repo(owner, owner)).len(), 2);
        for holder in ["laptop", "home", "server"] {
            assert_eq!(
                files(&lab.repo(holder, owner)),
                source,
                "{holder}'s copy of {owner}"
            );
            if holder != owner {
                let q = lab.node(holder).base.join(".quarantine").join(owner);
                assert!(
                    count_files(&q) >= 2,
                    "{holder} quarantined what {owner}'s prune removed"
                );
            }
        }
    }
    lab.assert_everyone_holds_everything();
}

#[test]
fn a_source_that_lost_snapshots_is_not_propagated_without_consent() {
    let lab = Lab::new(&["laptop", "home", "server"]);
    // Someone deletes home's newest snapshot by hand.
    let (snaps, _) = lab.two_runs_then_lose_newest_snapshot("home");

    let o = lab.run();
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "home's repository lost 1 snapshot(s) that wbackup did not forget ({})",
            snaps[1].0
        )),
        "{out}"
    );
    assert!(out.contains("--accept-shrink home"), "{out}");
    for holder in ["laptop", "server"] {
        let held = lab.snapshots(&lab.repo(holder, "home"));
        assert!(held.contains(&snaps[1]), "{holder} keeps the lost snapshot");
        // ... and still received the snapshot this run made.
        assert_eq!(held.len(), 3, "{holder}: {held:?}");
        lab.check(&lab.repo(holder, "home"));
    }
    // The other repositories were replicated as usual.
    assert_eq!(lab.snapshots(&lab.repo("server", "laptop")).len(), 3);

    let o = lab.wbackup(&["run", "--accept-shrink", "home"]);
    assert_exit(&o, 0);
    let source = files(&lab.repo("home", "home"));
    for holder in ["laptop", "server"] {
        assert_eq!(files(&lab.repo(holder, "home")), source);
        lab.check(&lab.repo(holder, "home"));
        let q = lab.node(holder).base.join(".quarantine/home");
        assert!(count_files(&q) >= 1);
    }
}

#[test]
fn a_replica_of_another_repository_is_never_written() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    // laptop's copy of home is replaced by an unrelated repository.
    let copy = lab.repo("laptop", "home");
    fs::remove_dir_all(&copy).unwrap();
    let out = lab.restic(&copy, &["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = files(&copy);
    let o = lab.run();
    assert_exit(&o, 1);
    let text = stdout(&o);
    assert!(
        text.contains("laptop holds a different repository under home's name"),
        "{text}"
    );
    assert_eq!(
        files(&copy),
        before,
        "the foreign repository was not touched"
    );
}

#[test]
fn a_corrupt_file_is_reported_and_not_kept_under_its_name() {
    let lab = Lab::new(&["laptop", "home", "server"]);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    // New data on home reaches laptop while server is away.
    lab.fill(6);
    lab.stop_sshd("server");
    assert_exit(&lab.run(), 1);
    lab.start_sshd("server");
    // The relay's copy of one new pack rots.
    let on_server = files(&lab.repo("server", "home"));
    let new_pack = files(&lab.repo("laptop", "home"))
        .into_iter()
        .find(|f| f.starts_with("data/") && !on_server.contains(f))
        .unwrap();
    let p = lab.repo("laptop", "home").join(&new_pack);
    let mut bytes = fs::read(&p).unwrap();
    bytes[10] ^= 0xff;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(&p, bytes).unwrap();

    let o = lab.run();
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(out.contains("arrived corrupt on server"), "{out}");
    assert!(out.contains(&new_pack), "the file is named: {out}");
    assert!(
        !lab.repo("server", "home").join(&new_pack).exists(),
        "not kept under its real name"
    );
    lab.check(&lab.repo("server", "home"));
}

/// A file an interrupted hop left in staging under the name of a file the replica lacks,
/// with the source's size and time but other bytes (a power cut can leave that): the next
/// run does not trust it, and the copy ends with the source's bytes.
#[test]
fn a_damaged_leftover_in_staging_is_not_trusted() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    // home's repository gains packs its copy on laptop lacks.
    fs::write(lab.node("home").data.join("new.bin"), noise(2 << 20, 3)).unwrap();
    let src = lab.repo("home", "home");
    let out = lab.restic(
        &src,
        &[
            "backup",
            "--host",
            "home",
            lab.node("home").data.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let held = files(&lab.repo("laptop", "home"));
    let pack = files(&src)
        .into_iter()
        .filter(|f| f.starts_with("data/") && !held.contains(f))
        .max_by_key(|f| fs::metadata(src.join(f)).unwrap().len())
        .unwrap();
    let leftover = lab
        .node("laptop")
        .base
        .join(".wbackup-incoming/home")
        .join(&pack);
    fs::create_dir_all(leftover.parent().unwrap()).unwrap();
    let len = fs::metadata(src.join(&pack)).unwrap().len() as usize;
    fs::write(&leftover, vec![0u8; len]).unwrap();
    let st = std::process::Command::new("touch")
        .arg("-r")
        .arg(src.join(&pack))
        .arg(&leftover)
        .status()
        .unwrap();
    assert!(st.success());

    let o = lab.run();
    assert_exit(&o, 0);
    assert!(!stdout(&o).contains("corrupt"), "{}", stdout(&o));
    assert_eq!(
        fs::read(lab.repo("laptop", "home").join(&pack)).unwrap(),
        fs::read(src.join(&pack)).unwrap()
    );
    lab.assert_everyone_holds_everything();
}

/// Where a kill lands: in the replicate step of `owner`'s repository, on the first event
/// of that step whose JSON text contains every part of `event`, so that the processes die
/// during what comes next (`what`). `fresh`: the replica is removed before the run, so
/// that the first-copy phases (keys, config) happen.
struct KillPoint {
    owner: &'static str,
    event: &'static [&'static str],
    fresh: bool,
    what: &'static str,
}

/// Every moment of both passes, for both directions: laptop's repository is pushed to
/// home (installed there by a command over ssh), home's is pulled to laptop (installed
/// locally).
fn kill_points() -> Vec<KillPoint> {
    const STARTED: &[&str] = &["\"event\":\"StepStarted\""];
    const PROGRESS: &[&str] = &["\"event\":\"Progress\""];
    let one_direction: [(&'static [&'static str], bool, &'static str); 12] = [
        (STARTED, false, "listing the source"),
        (&[": copying "], false, "rsync starting"),
        (PROGRESS, false, "rsync transferring"),
        (&[": data: ", "in place"], false, "installing index"),
        (&[": index: ", "in place"], false, "installing snapshots"),
        (
            &[": snapshots: ", "in place"],
            false,
            "quarantining snapshots",
        ),
        (
            &[": snapshots: ", "the source removed"],
            false,
            "quarantining index",
        ),
        (
            &[": index: ", "the source removed"],
            false,
            "quarantining data",
        ),
        (&[": data: ", "the source removed"], false, "cleaning up"),
        (&[": copying "], true, "first copy: rsync starting"),
        (
            &[": keys: ", "in place"],
            true,
            "first copy: installing config",
        ),
        (
            &[": config: ", "in place"],
            true,
            "first copy: installing data",
        ),
    ];
    ["laptop", "home"]
        .into_iter()
        .flat_map(|owner| {
            one_direction
                .into_iter()
                .map(move |(event, fresh, what)| KillPoint {
                    owner,
                    event,
                    fresh,
                    what,
                })
        })
        .collect()
}

/// Kills the whole orchestrator (wbackup, its rsync, ssh and install commands: a power
/// cut) at every moment of replication listed in `kill_points`; after every kill each
/// replica passes `restic check` and holds only snapshots its source has (or, for a
/// first copy, is not a repository yet and holds nothing but keys), and a clean rerun
/// completes every copy.
#[test]
fn killed_at_any_moment_of_replication_every_replica_stays_sound() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.write_config(
        &lab.config_text("")
            .replace("keep_last = 10", "keep_last = 3"),
    );
    lab.fill(2);
    // Enough snapshots that every run's forget removes one: every run has a deletion pass.
    for _ in 0..3 {
        assert_exit(&lab.run(), 0);
    }
    let mut report = vec![];
    for (k, point) in kill_points().iter().enumerate() {
        // New data on both nodes, so both repositories have every phase to carry; the
        // oldest snapshot goes, so the deletion pass has snapshots, index and data to move.
        for n in &lab.nodes {
            let content: Vec<u8> = (0..1_500_000u32)
                .map(|j| (j.wrapping_mul(k as u32 * 7 + 3) >> 5) as u8)
                .collect();
            fs::write(n.data.join(format!("round {k}.bin")), content).unwrap();
        }
        let holder = if point.owner == "laptop" {
            "home"
        } else {
            "laptop"
        };
        let replica = lab.repo(holder, point.owner);
        if point.fresh && replica.exists() {
            fs::remove_dir_all(&replica).unwrap();
        }
        let killed_at = lab.run_killed_at("replicate", point.owner, point.event);
        let killed_at = killed_at.unwrap_or_else(|| {
            panic!(
                "kill {k} ({} in {}'s replication): the run never reached {:?}",
                point.what, point.owner, point.event
            )
        });
        // The invariant, right after the kill.
        let mut held_snapshots = 0;
        for owner in ["laptop", "home"] {
            let source: BTreeSet<String> = lab
                .snapshots(&lab.repo(owner, owner))
                .into_iter()
                .map(|s| s.0)
                .collect();
            for holder in ["laptop", "home"] {
                if holder == owner {
                    continue;
                }
                let repo = lab.repo(holder, owner);
                if !repo.join("config").exists() {
                    // A first copy before its config landed is not a repository yet: it
                    // may only hold keys.
                    let stray: Vec<String> = files(&repo)
                        .into_iter()
                        .filter(|f| !f.starts_with("keys/"))
                        .collect();
                    assert!(stray.is_empty(), "kill {k} ({}): {holder}'s unfinished first copy of {owner} holds {stray:?}", point.what);
                    continue;
                }
                lab.check(&repo);
                let held: BTreeSet<String> =
                    lab.snapshots(&repo).into_iter().map(|s| s.0).collect();
                if owner == point.owner {
                    held_snapshots = held.len();
                }
                // Snapshots the source forgot may linger until the next deletion pass;
                // none may be unknown to the source's history.
                let ledger =
                    fs::read_to_string(lab.node("laptop").base.join("logs/forgotten").join(owner))
                        .unwrap_or_default();
                for s in held.difference(&source) {
                    assert!(
                        ledger.lines().any(|l| l.starts_with(s.as_str())),
                        "kill {k} ({}): {holder}'s copy of {owner} has a foreign snapshot {s}",
                        point.what
                    );
                }
            }
        }
        report.push(format!(
            "{k:2} {:6} {:32} replica: {:>2} snapshot(s) | {}",
            point.owner, point.what, held_snapshots, killed_at
        ));
        eprintln!("{}", report.last().unwrap());
    }
    eprintln!("kill points:\n{}", report.join("\n"));
    // A clean run completes every copy.
    assert_exit(&lab.run(), 0);
    for owner in ["laptop", "home"] {
        let source = files(&lab.repo(owner, owner));
        for holder in ["laptop", "home"] {
            assert_eq!(
                files(&lab.repo(holder, owner)),
                source,
                "{holder}'s copy of {owner}"
            );
        }
    }
    lab.assert_everyone_holds_everything();
}

/// Reads a run's `--json` events until `stop` says so; returns the process to wait for,
/// and the events after that one, each with the moment it was read.
fn run_json_until(
    lab: &Lab,
    mut stop: impl FnMut(&str) -> bool,
) -> (
    std::process::Child,
    std::thread::JoinHandle<Vec<(Instant, String)>>,
) {
    let mut child = lab
        .wbackup_cmd(&["run", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = std::io::BufRead::lines(reader);
    for line in lines.by_ref() {
        if stop(&line.unwrap()) {
            break;
        }
    }
    // Keep draining so the run never blocks on a full pipe.
    let rest = std::thread::spawn(move || {
        lines
            .map_while(Result::ok)
            .map(|l| (Instant::now(), l))
            .collect()
    });
    (child, rest)
}

#[test]
fn a_busy_source_is_skipped_and_the_others_proceed() {
    let lab = Lab::new(&["laptop", "home", "server"]);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    fs::write(lab.node("home").data.join("second.txt"), "2").unwrap();
    fs::write(lab.node("laptop").data.join("second.txt"), "2").unwrap();
    // Another restic holds a lock in home's repository (restic's own commands ignore a
    // lock they cannot read, so the run's backup, check and forget still work).
    let lock = lab.repo("home", "home").join("locks").join("ab".repeat(32));
    fs::write(&lock, noise(200, 1)).unwrap();
    let o = lab.run();
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains("home's repository is busy (a restic lock younger than 30 minutes"),
        "{out}"
    );
    assert_eq!(
        lab.snapshots(&lab.repo("laptop", "home")).len(),
        1,
        "home's copies wait"
    );
    assert_eq!(
        lab.snapshots(&lab.repo("server", "laptop")).len(),
        2,
        "the others proceed"
    );
    fs::remove_file(&lock).unwrap();
    assert_exit(&lab.run(), 0);
    lab.assert_everyone_holds_everything();
}

/// Unmounts a small file system made for a test.
struct Mount(std::path::PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_full_disk_on_the_target_loses_nothing_and_is_named() {
    let lab = Lab::new(&["laptop", "home", "server"]);
    let base = lab.node("server").base.clone();
    fs::create_dir_all(&base).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&base)
        .status()
        .unwrap();
    assert!(st.success(), "cannot mount a tmpfs (the test runs as root)");
    let _mount = Mount(base.clone());
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    let before = files(&lab.repo("server", "home"));
    fs::write(lab.node("home").data.join("big.bin"), noise(12 << 20, 2)).unwrap();
    let o = lab.run();
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(
        out.contains("to server failed") && out.contains("No space left on device"),
        "{out}"
    );
    // server's copy is as it was, and sound.
    assert_eq!(files(&lab.repo("server", "home")), before);
    lab.check(&lab.repo("server", "home"));
    assert!(
        !base.join(".wbackup-incoming/home/data").exists(),
        "the partial transfer was removed"
    );
    // laptop got home's new snapshot all the same.
    assert_eq!(lab.snapshots(&lab.repo("laptop", "home")).len(), 2);
}

#[test]
fn a_target_vanishing_mid_transfer_keeps_a_sound_copy() {
    let lab = Lab::new(&["laptop", "home", "server"]);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    let before = lab.snapshots(&lab.repo("server", "home"));
    for i in 0..8 {
        fs::write(
            lab.node("home").data.join(format!("big {i}.bin")),
            noise(4 << 20, 10 + i),
        )
        .unwrap();
    }
    // When the push of home's data to server starts, server's sshd and every session it
    // serves disappear.
    let sshd_pid: i32 = fs::read_to_string(lab.path().join("sshd_server.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (mut child, _) = run_json_until(&lab, |l| {
        l.contains("laptop → server: copying") && l.contains("\"node\":\"home\"")
    });
    let _ = std::process::Command::new("pkill")
        .args(["-KILL", "-P", &sshd_pid.to_string()])
        .status();
    lab.stop_sshd("server");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    lab.check(&lab.repo("server", "home"));
    assert_eq!(
        lab.snapshots(&lab.repo("server", "home")),
        before,
        "no new snapshot without its data"
    );
    lab.start_sshd("server");
    assert_exit(&lab.run(), 0);
    lab.assert_everyone_holds_everything();
}

#[test]
fn a_backup_running_on_the_source_during_replication_does_not_spoil_copies() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    let extra = lab.path().join("extra");
    fs::create_dir_all(&extra).unwrap();
    for i in 0..6 {
        fs::write(extra.join(format!("e{i}")), noise(3 << 20, 100 + i)).unwrap();
    }
    fs::write(lab.node("home").data.join("new.bin"), noise(6 << 20, 7)).unwrap();
    // As soon as home's replication starts, another backup writes into home's repository.
    let mut step = None;
    let (mut child, rest) = run_json_until(&lab, |l| {
        let started = l.contains("\"event\":\"StepStarted\"") && l.contains("replicate home");
        if started {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            step = v["step"].as_u64();
        }
        started
    });
    let step = step.expect("the replication step's number");
    let other_started = Instant::now();
    let other = lab.restic(
        &lab.repo("home", "home"),
        &["backup", "--host", "home", extra.to_str().unwrap()],
    );
    assert!(other.status.success(), "{}", stderr(&other));
    let status = child.wait().unwrap();
    let events = rest.join().unwrap();
    // The other backup really ran while home's replication did: it started before the
    // replication step finished.
    let (replication_finished, finished) = events
        .iter()
        .find(|(_, l)| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["event"] == "StepFinished" && v["step"].as_u64() == Some(step)
        })
        .expect("home's replication step finished");
    assert!(
        other_started < *replication_finished,
        "the other backup started only after home's replication had finished: nothing overlapped ({finished})"
    );
    // A source written to during its replication is no failure: the copy holds what was
    // listed (or waits while the other backup's lock is fresh).
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        events
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Whatever the run managed, laptop's copy is sound and holds only home's snapshots.
    let copy = lab.repo("laptop", "home");
    lab.check(&copy);
    let source: BTreeSet<String> = lab
        .snapshots(&lab.repo("home", "home"))
        .into_iter()
        .map(|s| s.0)
        .collect();
    for (id, _) in lab.snapshots(&copy) {
        assert!(source.contains(&id), "foreign snapshot {id}");
    }
    // The next run carries everything.
    assert_exit(&lab.run(), 0);
    lab.assert_everyone_holds_everything();
}
