//! A storage node on object storage (DESIGN §11) against real parts: restic, rsync, sshd
//! and `rclone serve s3` on 127.0.0.1. After a run restic reads every repository from the
//! bucket over S3 and `restic check` passes there; later runs upload only what is new;
//! the identity guard and a vanished server are handled as for any node.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
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
    let out = bucket.restic(owner, &lab.password_file(), &["check"]);
    assert!(
        out.status.success(),
        "restic check over S3 of {owner}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = bucket.restic(owner, &lab.password_file(), &["snapshots", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let over_s3: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = over_s3
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["short_id"].as_str().unwrap())
        .collect();
    let source: Vec<String> = lab.snapshots(&src).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, source, "{owner}'s snapshots over S3");
}

#[test]
fn restic_reads_every_repository_from_the_bucket_and_later_runs_upload_only_new_files() {
    let (lab, bucket) = lab_with_bucket("");
    let plan = stdout(&lab.wbackup(&["plan"]));
    let conf = bucket.conf.display().to_string();
    assert!(
        plan.contains(&format!(
            "rclone --config {conf} copy --files-from-raw - --no-traverse"
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
}

/// Killed (wbackup and everything it started, rclone included) at each moment of a first
/// upload and of an incremental one: the bucket's copy passes `restic check` over S3 or is
/// not a repository yet, and holds no snapshot its source lacks; the next run completes it.
#[test]
fn killed_during_an_upload_the_copy_is_sound_or_not_yet_a_repository() {
    let (lab, bucket) = lab_with_bucket("");
    lab.fill(2);
    let points: [&[&str]; 5] = [
        &["cloud: uploading home"],
        &["cloud: keys:"],
        &["cloud: config:"],
        &["cloud: data:"],
        &["cloud: index:"],
    ];
    for round in 0..2 {
        if round == 1 {
            fs::write(lab.node("home").data.join("new.bin"), noise(500_000, 11)).unwrap();
        }
        for (i, point) in points.iter().enumerate() {
            if round == 1 && (i == 1 || i == 2) {
                continue; // keys and config are uploaded once, by the first copy
            }
            let at = lab.run_killed_at("replicate", "home", point);
            assert!(at.is_some(), "round {round}: the run reached {point:?}");
            let copy = bucket.copy_dir("home");
            if copy.join("config").exists() {
                let out = bucket.restic("home", &lab.password_file(), &["check"]);
                assert!(
                    out.status.success(),
                    "killed at {at:?}: {}{}",
                    stdout(&out),
                    stderr(&out)
                );
                let source: Vec<String> = lab
                    .snapshots(&lab.repo("home", "home"))
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect();
                let out = bucket.restic("home", &lab.password_file(), &["snapshots", "--json"]);
                let held: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                for s in held.as_array().unwrap() {
                    let id = s["short_id"].as_str().unwrap();
                    assert!(source.iter().any(|x| x == id), "killed at {at:?}: {id}");
                }
            } else {
                assert_eq!(round, 0, "a copy never loses its config");
            }
        }
        assert_exit(&lab.run(), 0);
        assert_bucket_matches(&lab, &bucket, "home");
    }
}
