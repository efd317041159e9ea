//! A storage node on object storage (DESIGN §11) against real parts: restic, rsync, sshd
//! and `rclone serve s3` on 127.0.0.1. After a run restic reads every repository from the
//! bucket over S3 and `restic check` passes there; later runs upload only what is new;
//! the identity guard and a vanished server are handled as for any node.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use support::bucket::Bucket;
use support::*;

const OWNERS: [&str; 2] = ["laptop", "home"];

fn lab_with_bucket(extra: &str) -> (Lab, Bucket) {
    let lab = Lab::new(&OWNERS);
    let bucket = Bucket::start(lab.path());
    lab.write_config(&lab.config_text(&format!("{}{extra}", bucket.config("cloud"))));
    (lab, bucket)
}

/// Every object's inode: a re-uploaded object is a new file.
fn inodes(dir: &Path) -> BTreeMap<String, u64> {
    files(dir)
        .into_iter()
        .map(|f| {
            let ino = fs::metadata(dir.join(&f)).unwrap().ino();
            (f, ino)
        })
        .collect()
}

/// The bucket's copy of `owner` holds exactly the source's files, restic reads it over
/// S3, its check passes, and it holds the source's snapshots.
fn assert_bucket_matches(lab: &Lab, bucket: &Bucket, owner: &str) {
    let src = lab.repo(owner, owner);
    assert_eq!(
        files(&bucket.copy_dir(owner)),
        files(&src),
        "the bucket's copy of {owner} holds the source's files"
    );
    let ids = checked_snapshots(lab, bucket, owner, "");
    let source: Vec<String> = lab.snapshots(&src).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, source, "{owner}'s snapshots over S3");
}

/// `restic check` of the bucket's copy of `owner` over S3 passes (`when` says after
/// what, in the failure); its snapshots' short ids.
fn checked_snapshots(lab: &Lab, bucket: &Bucket, owner: &str, when: &str) -> Vec<String> {
    let out = bucket.restic(owner, &lab.password_file(), &["check"]);
    assert!(
        out.status.success(),
        "{when}restic check over S3 of {owner}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = bucket.restic(owner, &lab.password_file(), &["snapshots", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let over_s3: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    over_s3
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["short_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn restic_reads_every_repository_from_the_bucket_and_later_runs_upload_only_new_files() {
    let (lab, bucket) = lab_with_bucket("");
    let plan = stdout(&lab.wbackup(&["plan"]));
    let conf = bucket.conf.display().to_string();
    assert!(
        plan.contains(&format!(
            "rclone --config {} copy --files-from-raw - --no-traverse",
            wbackup::shell::quote(&conf)
        )),
        "{plan}"
    );
    assert!(plan.contains("lab:bucket/wb/home/restic"), "{plan}");
    lab.fill(3);
    let o = lab.run();
    assert_exit(&o, 0);
    // No secret in what wbackup printed or logged: rclone's keys stay in rclone's file.
    let logs = lab.node("laptop").base.join("logs");
    let mut said = stdout(&o) + &stderr(&o);
    for f in files(&logs) {
        said.push_str(&String::from_utf8_lossy(&fs::read(logs.join(f)).unwrap()));
    }
    assert!(said.contains("cloud"), "the log speaks of the bucket");
    for secret in [
        support::bucket::SECRET_KEY,
        support::bucket::ACCESS_KEY,
        PASSWORD,
    ] {
        assert!(
            !said.contains(secret),
            "{secret} appears in the output or logs"
        );
    }
    for owner in OWNERS {
        assert_bucket_matches(&lab, &bucket, owner);
    }
    lab.assert_everyone_holds_everything();

    // New data on home: the next run uploads home's new files and laptop's new snapshot,
    // and nothing already there is uploaded again.
    let before: BTreeMap<&str, BTreeMap<String, u64>> = OWNERS
        .iter()
        .map(|o| (*o, inodes(&bucket.copy_dir(o))))
        .collect();
    let src_before: BTreeMap<&str, _> = OWNERS
        .iter()
        .map(|o| (*o, files(&lab.repo(o, o))))
        .collect();
    fs::write(lab.node("home").data.join("new.bin"), noise(1 << 20, 7)).unwrap();
    let o = lab.run();
    assert_exit(&o, 0);
    let out = stdout(&o);
    for owner in OWNERS {
        assert_bucket_matches(&lab, &bucket, owner);
        let new: Vec<String> = files(&lab.repo(owner, owner))
            .difference(&src_before[owner])
            .cloned()
            .collect();
        assert!(!new.is_empty(), "{owner} has new files");
        assert!(
            out.contains(&format!(
                "laptop → cloud: uploading {owner}: {} file(s)",
                new.len()
            )),
            "{owner}: {} new files\n{out}",
            new.len()
        );
        let after = inodes(&bucket.copy_dir(owner));
        for (f, ino) in &before[owner] {
            assert_eq!(
                after.get(f),
                Some(ino),
                "{owner}'s {f} was not uploaded again"
            );
        }
    }

    // An upload's progress carries its rate and time left, measured by the run as for
    // every tool: a limited bandwidth makes it last several of rclone's 1 s stats lines.
    let limited = bucket
        .config("cloud")
        .replace("[rclone]\n", "[rclone]\nbwlimit = \"1M\"\n");
    lab.write_config(&lab.config_text(&limited));
    fs::write(lab.node("home").data.join("big.bin"), noise(4_000_000, 9)).unwrap();
    let o = lab.wbackup(&["run", "--json"]);
    assert_exit(&o, 0);
    let uploads: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "Progress" && e["activity"]["copying"]["to"] == "cloud")
        .collect();
    assert!(
        uploads
            .iter()
            .any(|e| e["rate"].as_u64().is_some_and(|r| r > 0) && e["eta_secs"].is_u64()),
        "{uploads:#?}"
    );
    assert_bucket_matches(&lab, &bucket, "home");
}

#[test]
fn a_different_repository_in_the_bucket_is_refused_and_untouched() {
    let (lab, bucket) = lab_with_bucket("");
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    // The bucket's copy of home is replaced by another repository.
    let other = lab.path().join("other");
    let out = lab.restic(&other, &["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    bucket.rclone(&["purge", "lab:bucket/wb/home/restic"]);
    bucket.rclone(&["copy", other.to_str().unwrap(), "lab:bucket/wb/home/restic"]);
    let foreign = inodes(&bucket.copy_dir("home"));
    fs::write(lab.node("home").data.join("more.txt"), "more").unwrap();
    let o = lab.run();
    assert_exit(&o, 1);
    let text = stdout(&o);
    assert!(
        text.contains("cloud holds a different repository under home's name"),
        "{text}"
    );
    assert_eq!(
        inodes(&bucket.copy_dir("home")),
        foreign,
        "the foreign repository was not touched"
    );
    // laptop's copy in the bucket was brought up to date as usual.
    assert_bucket_matches(&lab, &bucket, "laptop");
}

#[test]
fn a_vanished_server_fails_the_bucket_alone_and_the_next_run_completes_it() {
    let (lab, mut bucket) = lab_with_bucket("");
    lab.fill(1);
    assert_exit(&lab.run(), 0);
    bucket.stop();
    fs::write(lab.node("home").data.join("more.bin"), noise(300_000, 3)).unwrap();
    // rclone's retries (their back-off grows to minutes) are left to one try each here.
    let o = lab
        .wbackup_cmd(&["run"])
        .env("RCLONE_RETRIES", "1")
        .env("RCLONE_LOW_LEVEL_RETRIES", "1")
        .output()
        .unwrap();
    assert_exit(&o, 1);
    let text = stdout(&o);
    assert!(
        text.contains("cloud's copy of home was not updated"),
        "{text}"
    );
    // The nodes reached over SSH completed.
    lab.assert_everyone_holds_everything();
    bucket.restart();
    assert_exit(&lab.run(), 0);
    for owner in OWNERS {
        assert_bucket_matches(&lab, &bucket, owner);
    }
}

#[test]
fn with_retention_the_bucket_holds_exactly_the_source_and_removed_files_go_to_quarantine() {
    let (lab, bucket) = lab_with_bucket("");
    let text = fs::read_to_string(lab.path().join("config.toml"))
        .unwrap()
        .replace("keep_last = 10", "keep_last = 2");
    lab.write_config(&text);
    for round in 0..3u32 {
        for n in &lab.nodes {
            let content: Vec<u8> = (0..300_000u32)
                .map(|j| (j.wrapping_mul(round * 7 + 13) >> 3) as u8)
                .collect();
            fs::write(n.data.join("changing.bin"), content).unwrap();
        }
        assert_exit(&lab.run(), 0);
    }
    for owner in OWNERS {
        assert_eq!(lab.snapshots(&lab.repo(owner, owner)).len(), 2);
        assert_bucket_matches(&lab, &bucket, owner);
        let q = bucket.root.join("bucket/wb/.quarantine").join(owner);
        let moved = files(&q);
        assert!(
            moved.iter().any(|f| f.contains("/snapshots/")),
            "{owner}: forgotten snapshots in quarantine: {moved:?}"
        );
    }
    // A quarantine folder older than quarantine_days is purged by the next run (as a
    // node's are); this run's folders stay.
    let q = bucket.root.join("bucket/wb/.quarantine/home");
    let recent = files(&q);
    let old = lab.path().join("old-quarantine");
    fs::create_dir_all(old.join("snapshots")).unwrap();
    fs::write(old.join("snapshots/forgotten"), "x").unwrap();
    bucket.rclone(&[
        "copy",
        old.to_str().unwrap(),
        "lab:bucket/wb/.quarantine/home/20200101-000000",
    ]);
    assert!(q.join("20200101-000000/snapshots/forgotten").exists());
    let o = lab.run();
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("quarantine folder 20200101-000000 purged"),
        "{}",
        stdout(&o)
    );
    assert!(!q.join("20200101-000000/snapshots/forgotten").exists());
    let now = files(&q);
    assert!(
        now.is_superset(&recent),
        "recent quarantine folders are kept"
    );
}

/// `status`, `restore` and `doctor` know the bucket: status lists its copies, restore
/// prints restic commands that read them through rclone (and they work as printed), and
/// doctor checks rclone, the remote's writability and its free space.
#[test]
fn status_restore_and_doctor_know_the_bucket() {
    let (lab, bucket) = lab_with_bucket("");
    lab.fill(1);
    assert_exit(&lab.run(), 0);

    let o = lab.wbackup(&["status", "--json"]);
    assert_exit(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let cloud = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == "cloud")
        .unwrap_or_else(|| panic!("status lists the bucket: {v:#}"));
    assert_eq!(cloud["role"], "bucket");
    assert_eq!(cloud["reachable"], true);
    let mut held: Vec<&str> = cloud["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["repository"].as_str().unwrap())
        .collect();
    held.sort();
    assert_eq!(held, ["home", "laptop"]);
    for r in cloud["repositories"].as_array().unwrap() {
        let owner = r["repository"].as_str().unwrap();
        let n = lab.snapshots(&lab.repo(owner, owner)).len();
        assert_eq!(r["snapshots"], n, "{owner}");
    }
    let cells: Vec<&serde_json::Value> = v["copies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["holder"] == "cloud")
        .collect();
    assert_eq!(cells.len(), 2, "the copies matrix has the bucket's column");
    let text = stdout(&lab.wbackup(&["status"]));
    assert!(text.contains("cloud (bucket): lab:bucket/wb"), "{text}");

    // restore: the printed commands, run as printed, read the bucket's copy.
    let target = lab.path().join("restored");
    let o = lab.wbackup(&[
        "restore",
        "home",
        "--from",
        "cloud",
        "--target",
        target.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    let text = stdout(&o);
    assert!(
        text.contains("restic -r rclone:lab:bucket/wb/home/restic snapshots"),
        "{text}"
    );
    assert!(text.contains("RCLONE_CONFIG="), "{text}");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let out = std::process::Command::new("sh")
            .args(["-c", line])
            .env("RESTIC_PASSWORD_FILE", lab.password_file())
            .env("HOME", lab.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{line}: {}", stderr(&out));
    }
    let data = lab.node("home").data.clone();
    let restored = target.join(data.strip_prefix("/").unwrap());
    assert_eq!(files(&restored), files(&data), "home's files came back");

    // doctor: rclone, the remote writable (the probe removed), free space.
    let text = stdout(&lab.wbackup(&["doctor"]));
    assert!(text.contains("cloud (bucket lab:bucket/wb)"), "{text}");
    assert!(text.contains("rclone: rclone v"), "{text}");
    assert!(
        text.contains("writable: a probe object was written and removed"),
        "{text}"
    );
    assert!(text.contains("free: "), "{text}");
    assert!(!bucket.root.join("bucket/wb/.wbackup-probe").exists());
    // A remote rclone does not know is a problem named with its fix.
    let conf = fs::read_to_string(lab.path().join("config.toml"))
        .unwrap()
        .replace("rclone = \"lab:bucket/wb\"", "rclone = \"nope:bucket/wb\"");
    lab.write_config(&conf);
    let o = lab.wbackup(&["doctor"]);
    assert_exit(&o, 1);
    let text = stdout(&o);
    assert!(
        text.contains("PROBLEM: cloud (nope:bucket/wb) cannot be written to from laptop"),
        "{text}"
    );
    assert!(text.contains("lsd nope:"), "{text}");
}

/// A bucket that refuses deletions (its objects locked: `rclone serve s3` over files that
/// cannot be removed answers each DELETE with an error) keeps the files the source
/// removed; the run says so once, in its output and its summary, and passes.
#[test]
fn a_bucket_that_refuses_deletions_keeps_its_files_and_says_so_once() {
    let (lab, bucket) = lab_with_bucket("");
    let text = fs::read_to_string(lab.path().join("config.toml"))
        .unwrap()
        .replace("keep_last = 10", "keep_last = 2");
    lab.write_config(&text);
    let change = |round: u32| {
        for n in &lab.nodes {
            let content: Vec<u8> = (0..300_000u32)
                .map(|j| (j.wrapping_mul(round * 7 + 13) >> 3) as u8)
                .collect();
            fs::write(n.data.join("changing.bin"), content).unwrap();
        }
    };
    for round in 0..2 {
        change(round);
        assert_exit(&lab.run(), 0);
    }
    let _locked = bucket.lock("home");
    let held = files(&bucket.copy_dir("home"));
    change(2);
    // One try per request: the locked objects' DELETE answers 500, which rclone retries.
    let o = lab
        .wbackup_cmd(&["run"])
        .env("RCLONE_RETRIES", "1")
        .env("RCLONE_LOW_LEVEL_RETRIES", "1")
        .output()
        .unwrap();
    let out = stdout(&o);
    assert_exit(&o, 0);
    let notice = "cloud refuses deletions";
    assert_eq!(out.matches(notice).count(), 1, "{out}");
    assert!(
        out.contains("home's copy keeps the"),
        "the notice names the copy: {out}"
    );
    // The summary keeps it with its step.
    let logs = lab.node("laptop").base.join("logs");
    let newest = files(&logs)
        .into_iter()
        .filter(|f| f.ends_with(".json"))
        .max()
        .unwrap();
    let summary = fs::read_to_string(logs.join(newest)).unwrap();
    assert_eq!(summary.matches(notice).count(), 1, "{summary}");
    // home's copy kept every object and has the new ones: it reads as a repository.
    let src = files(&lab.repo("home", "home"));
    assert_eq!(lab.snapshots(&lab.repo("home", "home")).len(), 2);
    let now = files(&bucket.copy_dir("home"));
    assert!(
        now.is_superset(&held),
        "no object of home's copy was removed"
    );
    assert!(
        now.is_superset(&src),
        "home's copy holds the source's files"
    );
    assert!(
        now.len() > src.len(),
        "the files the source removed are kept"
    );
    let check = bucket.restic("home", &lab.password_file(), &["check"]);
    assert!(check.status.success(), "{}", stderr(&check));
    // laptop's copy (not locked) and the nodes went on as usual.
    assert_bucket_matches(&lab, &bucket, "laptop");
    lab.assert_everyone_holds_everything();
}

/// Killed (wbackup and everything it started, rclone included) at each moment of a first
/// upload and of an incremental one: the bucket's copy passes `restic check` over S3 or is
/// not a repository yet, and holds no snapshot its source lacks; the next run completes it.
/// A stand-in for rclone, first on wbackup's PATH: it cuts the power (every process of
/// the run's session dies at once, as in `Lab::run_killed_at`) at the first call on
/// home's copy, or on the whole bucket (the run's one listing, each phase's one upload), that
/// matches `$KILL_AT`, "VERB [PHASE]" (the phase of the first name the call is given): "copy config" lets that upload finish first (the object store holds
/// it, wbackup never hears of it); "during copy data" kills the upload one second in
/// (the bandwidth is limited, so mid-object). It writes `$KILL_AT` to `$KILLED` when it
/// cuts. Matching rclone's own calls, not the log, makes each cut land where it says.
const RCLONE_SHIM: &str = r#"#!/bin/sh
case " $* " in *" --files-from-raw "*) names=$(cat) ;; *) names= ;; esac
first=$(printf '%s\n' "$names" | head -n 1)
verb=
for w in "$@"; do
  case "$w" in lsjson|copy|check|hashsum|move|lsf|purge) verb=$w; break ;; esac
done
first=${first#*/restic/}
phase=${first%%/*}
key="$verb${phase:+ $phase}"
case " $* " in *"/home/restic "*|*" lab:bucket/wb ") ;; *) key= ;; esac
if [ -n "$key" ] && [ "during $key" = "$KILL_AT" ]; then
  printf '%s\n' "$names" | "$REAL" "$@" &
  sleep 1
  echo "$KILL_AT" > "$KILLED"; pkill -KILL -s 0; kill -KILL $$
fi
if [ -n "$key" ] && [ "$key" = "$KILL_AT" ]; then
  printf '%s\n' "$names" | "$REAL" "$@"
  echo "$KILL_AT" > "$KILLED"; pkill -KILL -s 0; kill -KILL $$
fi
printf '%s\n' "$names" | exec "$REAL" "$@"
"#;

/// One `wbackup run` in a session of its own with the shim first on its PATH, cut where
/// `kill_at` says. Returns whether it was (else the run went on to its end).
fn run_cut_at(lab: &Lab, shim: &Path, kill_at: &str) -> bool {
    use std::os::unix::process::CommandExt;
    let killed = shim.join("killed");
    let _ = fs::remove_file(&killed);
    let path = format!("{}:{}", shim.display(), std::env::var("PATH").unwrap());
    let mut cmd = lab.wbackup_cmd(&["run"]);
    cmd.env("PATH", path)
        .env("KILLED", &killed)
        .env("KILL_AT", kill_at)
        .env("REAL", which("rclone"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: setsid in the child before exec touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let sid = child.id().to_string();
    let _ = child.wait();
    let _ = std::process::Command::new("pkill")
        .args(["-KILL", "-s", &sid])
        .status();
    fs::read_to_string(&killed).is_ok_and(|k| k.trim() == kill_at)
}

fn which(tool: &str) -> String {
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// After a cut: each copy in the bucket passes `restic check` over S3 and holds only
/// snapshots its source ever had (`ever`, brought up to date here: a snapshot the
/// source's retention forgot stays in the copy until a deletion pass), or is not yet a
/// repository (no config) and then never was.
fn assert_sound_or_not_yet(
    lab: &Lab,
    bucket: &Bucket,
    cut: &str,
    round: usize,
    ever: &mut BTreeMap<&'static str, std::collections::BTreeSet<String>>,
) {
    for owner in OWNERS {
        let source = lab.snapshots(&lab.repo(owner, owner));
        ever.entry(owner)
            .or_default()
            .extend(source.into_iter().map(|(id, _)| id));
        let copy = bucket.copy_dir(owner);
        if !copy.join("config").exists() {
            assert_eq!(round, 0, "cut at {cut}: a copy never loses its config");
            continue;
        }
        for id in checked_snapshots(lab, bucket, owner, &format!("cut at {cut}: ")) {
            assert!(
                ever[owner].contains(&id),
                "cut at {cut}: {owner}'s copy holds {id}, a snapshot its source never had"
            );
        }
    }
}

/// The power cut at each moment of an upload of home's copy: after each of rclone's
/// calls and in the middle of a data upload, for the first copy (the bucket's copy of
/// home removed before each cut) and for incremental ones (new data before each): every
/// copy passes `restic check` over S3 or is not yet a repository, holds no snapshot its
/// source never had, and the next whole run completes it.
#[test]
fn killed_during_an_upload_the_copy_is_sound_or_not_yet_a_repository() {
    let lab = Lab::new(&OWNERS);
    let bucket = Bucket::start(lab.path());
    let conf = bucket
        .config("cloud")
        .replace("[rclone]\n", "[rclone]\nbwlimit = \"1M\"\n");
    lab.write_config(&lab.config_text(&conf));
    let shim = lab.path().join("shim");
    fs::create_dir_all(&shim).unwrap();
    fs::write(shim.join("rclone"), RCLONE_SHIM).unwrap();
    fs::set_permissions(shim.join("rclone"), fs::Permissions::from_mode(0o755)).unwrap();
    lab.fill(2);
    fs::write(lab.node("home").data.join("big.bin"), noise(2_500_000, 5)).unwrap();
    let mut ever = BTreeMap::new();
    let first_copy: &[&str] = &[
        "lsjson",
        "copy keys",
        "during copy config",
        "copy config",
        "during copy data",
        "copy data",
        "during copy index",
        "copy index",
        "during copy snapshots",
        "copy snapshots",
    ];
    let incremental: &[&str] = &[
        "lsjson",
        "during copy data",
        "copy data",
        "copy index",
        "copy snapshots",
        "move snapshots",
    ];
    for (round, points) in [first_copy, incremental].into_iter().enumerate() {
        for (i, kill_at) in points.iter().enumerate() {
            if round == 0 && bucket.copy_dir("home").exists() {
                bucket.rclone(&["purge", "lab:bucket/wb/home/restic"]);
            }
            if round == 1 {
                let new = lab.node("home").data.join(format!("new {i}.bin"));
                fs::write(new, noise(1_500_000, 20 + i as u64)).unwrap();
            }
            assert!(
                run_cut_at(&lab, &shim, kill_at),
                "round {round} reached {kill_at:?}"
            );
            assert_sound_or_not_yet(&lab, &bucket, kill_at, round, &mut ever);
        }
        assert_exit(&lab.run(), 0);
        for owner in OWNERS {
            assert_bucket_matches(&lab, &bucket, owner);
        }
    }
}

/// Three nodes and a bucket: after a run restic reads every repository from the bucket
/// over S3, its check passes there, and each copy holds exactly its source's files.
#[test]
fn a_three_node_lab_and_a_bucket_hold_every_repository() {
    let owners = ["laptop", "home", "office"];
    let lab = Lab::new(&owners);
    let bucket = Bucket::start(lab.path());
    lab.write_config(&lab.config_text(&bucket.config("cloud")));
    lab.fill(2);
    assert_exit(&lab.run(), 0);
    for owner in owners {
        assert_bucket_matches(&lab, &bucket, owner);
    }
    lab.assert_everyone_holds_everything();

    // A run with nothing new lists the bucket once for all three copies and their
    // quarantine (the configs' MD5s in that listing prove them their sources': no
    // download), and uploads each phase (the run's new snapshots, and what restic wrote
    // with them) of all three copies in one call: rclone's calls counted.
    let shim = lab.path().join("counting");
    fs::create_dir_all(&shim).unwrap();
    fs::write(shim.join("rclone"), COUNTING_SHIM).unwrap();
    fs::set_permissions(shim.join("rclone"), fs::Permissions::from_mode(0o755)).unwrap();
    let calls = shim.join("calls");
    let path = format!("{}:{}", shim.display(), std::env::var("PATH").unwrap());
    let o = lab
        .wbackup_cmd(&["run"])
        .env("PATH", path)
        .env("CALLS", &calls)
        .env("REAL", which("rclone"))
        .output()
        .unwrap();
    assert_exit(&o, 0);
    let said = fs::read_to_string(&calls).unwrap();
    let count = |verb: &str| said.lines().filter(|l| *l == verb).count();
    assert_eq!(
        (count("lsjson"), count("hashsum"), count("lsf")),
        (1, 0, 0),
        "{said}"
    );
    let uploads = count("copy");
    assert!(
        (1..=3).contains(&uploads),
        "one upload per phase with new files (data, index, snapshots) for all three copies: {said}"
    );
    for owner in owners {
        assert_bucket_matches(&lab, &bucket, owner);
    }
}

/// A stand-in for rclone that writes the verb of each call to `$CALLS`.
const COUNTING_SHIM: &str = r#"#!/bin/sh
for w in "$@"; do
  case "$w" in lsjson|copy|check|hashsum|move|lsf|purge) echo "$w" >> "$CALLS"; break ;; esac
done
exec "$REAL" "$@"
"#;

/// A bucket's copies are proven like a node's, drilled and read by the uploading node
/// through restic's rclone backend: in a run that ends with verification and by
/// `wbackup verify`; rot in the bucket is named with what to do, and a server out of
/// reach is not called damage.
#[test]
fn the_buckets_copies_are_proven_from_the_uploading_node() {
    let (lab, mut bucket) = lab_with_bucket("");
    lab.fill(2);
    let plan = stdout(&lab.wbackup_as_configured(&["plan"]).output().unwrap());
    assert!(
        plan.contains("verify home's copies on laptop, home, cloud"),
        "{plan}"
    );
    assert!(
        plan.contains("restic -r rclone:lab:bucket/wb/home/restic -o '\"rclone.args=serve restic --stdio --b2-hard-delete --config "),
        "{plan}"
    );
    let o = lab.wbackup_as_configured(&["run"]).output().unwrap();
    assert_exit(&o, 0);
    let text = stdout(&o);
    for owner in OWNERS {
        assert!(
            text.contains(&format!("{owner} on cloud: proven")),
            "{text}"
        );
    }
    let verify = |extra: &[&str]| {
        let pw = lab.password_file();
        let mut args = vec!["verify", "--json", "--password-file", pw.to_str().unwrap()];
        args.extend_from_slice(extra);
        // rclone's retries (their back-off grows to minutes) are left to one try each.
        let o = lab
            .wbackup_cmd(&args)
            .env("RCLONE_RETRIES", "1")
            .env("RCLONE_LOW_LEVEL_RETRIES", "1")
            .output()
            .unwrap();
        (o.status.code(), proofs(&o))
    };
    let (code, all) = verify(&[]);
    assert_eq!(code, Some(0), "{all:#?}");
    for owner in OWNERS {
        let p = proof(&all, owner, "cloud");
        assert_eq!(p["proven"], true, "{p:#}");
        assert!(p["files"].as_u64().unwrap() >= 1, "{p:#}");
    }
    let drill = lab.node("laptop").base.join(".wbackup-drill");
    assert_eq!(state(&drill).len(), 0, "no scratch left on laptop");

    // Rot in the bucket's copy of home: named, with what to do; laptop's copy there is
    // still proven, and no other holder is asked (--node cloud).
    assert!(rot(&bucket.copy_dir("home")) > 0);
    let (code, all) = verify(&["--node", "cloud"]);
    assert_eq!(code, Some(1), "{all:#?}");
    assert_eq!(all.len(), 2, "{all:#?}");
    let bad = proof(&all, "home", "cloud");
    assert_eq!(bad["proven"], false, "{bad:#}");
    let why = bad["message"].as_str().unwrap();
    assert!(why.starts_with("home on cloud FAILED"), "{why}");
    assert!(why.contains("move its folder aside"), "{why}");
    assert_eq!(proof(&all, "laptop", "cloud")["proven"], true);

    // The server gone: not proven, and not damaged.
    bucket.stop();
    let (code, all) = verify(&["--node", "cloud", "--repo", "laptop"]);
    assert_eq!(code, Some(1), "{all:#?}");
    let p = proof(&all, "laptop", "cloud");
    assert_eq!(
        (&p["proven"], &p["damaged"]),
        (&false.into(), &false.into()),
        "{p:#}"
    );
    let why = p["message"].as_str().unwrap();
    assert!(why.contains("cannot be read from laptop"), "{why}");
}

/// A remote with real folders (`type = local` here; SFTP, Drive and Dropbox behave the
/// same): its PATH does not exist before the first upload (rclone lists it as "directory
/// not found", exit status 3), and an upload cut there leaves rclone's own temporary
/// `NAME.XXXXXXXX.partial` file in the copy. The first run makes every copy; the next
/// removes the leftover and completes the copy.
#[test]
fn a_folder_remote_takes_a_first_upload_and_leftovers_of_a_cut_are_removed() {
    let lab = Lab::new(&OWNERS);
    let conf = lab.path().join("rclone-local.conf");
    fs::write(&conf, "[disk]\ntype = local\n").unwrap();
    let base = lab.path().join("usb drive").join("wb");
    let remote = format!("disk:{}", base.display());
    lab.write_config(&lab.config_text(&format!(
        "[rclone]\nconfig_file = {:?}\n[nodes.usb]\nrclone = {remote:?}\n",
        conf.display().to_string()
    )));
    lab.fill(1);
    assert!(!base.exists());
    // Before anything was uploaded, status reaches the remote and finds no copy.
    let o = lab.wbackup_cmd(&["status"]).output().unwrap();
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        text.contains("usb") && !text.contains("cannot list"),
        "{text}"
    );
    let o = lab.run();
    assert_exit(&o, 0);
    let holds_the_source = |owner: &str| {
        let copy = base.join(owner).join("restic");
        assert_eq!(
            files(&copy),
            files(&lab.repo(owner, owner)),
            "usb's copy of {owner}"
        );
        let out = lab.restic(&copy, &["check", "--read-data"]);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    for owner in OWNERS {
        holds_the_source(owner);
    }
    // What rclone leaves of a data file whose upload was cut: part of it, under the
    // file's name with rclone's random suffix.
    let copy = base.join("home/restic");
    let data = files(&copy)
        .into_iter()
        .find(|f| f.starts_with("data/"))
        .unwrap();
    let leftover = format!("{data}.0f0f117c.partial");
    fs::write(copy.join(&leftover), b"half of a pack").unwrap();
    fs::write(lab.node("home").data.join("more.bin"), noise(300_000, 9)).unwrap();
    let o = lab.run();
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("1 upload(s) cut short in an earlier run removed"),
        "{}",
        stdout(&o)
    );
    assert!(!copy.join(&leftover).exists());
    for owner in OWNERS {
        holds_the_source(owner);
    }
}

/// The shrink guard holds for the bucket's copy as for a node's: snapshots the source
/// lost (not forgotten by wbackup) stay in the bucket, which still receives what is new,
/// until the user consents with `--accept-shrink`; then they go to its quarantine.
#[test]
fn a_source_that_lost_snapshots_does_not_shrink_the_buckets_copy_without_consent() {
    let (lab, bucket) = lab_with_bucket("");
    let (snaps, name) = lab.two_runs_then_lose_newest_snapshot("home");

    let o = lab.run();
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(
        out.contains(
            "uploading to cloud: home's repository lost 1 snapshot(s) that wbackup did not forget"
        ),
        "{out}"
    );
    assert!(
        files(&bucket.copy_dir("home")).contains(&name),
        "the bucket keeps {name}"
    );
    // ... and still received the snapshot this run made.
    let held = checked_snapshots(&lab, &bucket, "home", "after the refusal: ");
    assert_eq!(held.len(), 3, "{held:?}");
    assert!(held.contains(&snaps[1].0));
    assert_bucket_matches(&lab, &bucket, "laptop");

    assert_exit(&lab.wbackup(&["run", "--accept-shrink", "home"]), 0);
    assert_bucket_matches(&lab, &bucket, "home");
    let q = bucket.root.join("bucket/wb/.quarantine/home");
    assert!(
        files(&q).iter().any(|f| f.ends_with(&name)),
        "{name} went to the bucket's quarantine: {:?}",
        files(&q)
    );
}
