//! Live progress against real restic, rsync and OpenSSH (issue 12, item 2): a large
//! (1 GB) backup on a remote node reports percent, files, a rate and a time left that is the bytes left at that rate;
//! when its restic is frozen for real (SIGSTOP) the run says it stalled and on what,
//! and when it is let go the run goes on and passes; the copy that follows reports
//! "copying home → laptop" with its bytes.

mod support;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use support::*;

#[test]
fn a_large_backup_shows_its_pace_and_a_frozen_one_is_said_to_have_stalled() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.fill(1);
    // 1 GB that does not compress, in 100 files: long enough for a time left to be told
    // a few times (it takes two seconds of figures) on a fast machine too.
    let big = lab.node("home").data.join("big");
    std::fs::create_dir_all(&big).unwrap();
    for i in 0..100 {
        let st = Command::new("dd")
            .args(["if=/dev/urandom", "bs=1M", "count=10", "status=none"])
            .arg(format!(
                "of={}",
                big.join(format!("part {i}.bin")).display()
            ))
            .status()
            .unwrap();
        assert!(st.success());
    }
    let repo = lab.repo("home", "home").display().to_string();

    let mut child = lab
        .wbackup_cmd(&["run", "--json"])
        .env("WBACKUP_STALL_AFTER_SECS", "3")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = BufReader::new(child.stdout.take().unwrap());
    let mut backup_step = None;
    let mut replicate_step = None;
    let mut etas: Vec<u64> = vec![];
    let mut percents: Vec<f64> = vec![];
    let mut files_seen = false;
    let mut frozen: Vec<i32> = vec![];
    let mut stalled: Vec<Value> = vec![];
    let mut after_stall = 0;
    let mut copying: Vec<Value> = vec![];
    for line in reader.lines() {
        let line = line.unwrap();
        let e: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line}"));
        match e["event"].as_str().unwrap() {
            "StepStarted" if e["node"] == "home" && e["kind"] == "backup" => {
                backup_step = e["step"].as_u64();
            }
            "StepStarted" if e["node"] == "home" && e["kind"] == "replicate" => {
                replicate_step = e["step"].as_u64();
            }
            "Progress" if e["step"].as_u64() == backup_step => {
                assert_eq!(e["node"], "home");
                let (done, total) = (e["done"].as_u64().unwrap(), e["total"].as_u64().unwrap());
                if total > 0 {
                    percents.push(done as f64 / total as f64);
                }
                files_seen |= e["files"][1].as_u64().is_some_and(|n| n >= 100);
                if !stalled.is_empty() {
                    after_stall += 1;
                }
                if let Some(eta) = e["eta_secs"].as_u64() {
                    assert!(e["rate"].as_u64().is_some_and(|r| r > 0), "{line}");
                    // The time left is what remains at the pace told with it (whole
                    // seconds; the pace rounded to a byte per second).
                    let rate = e["rate"].as_u64().unwrap() as f64;
                    let left = total.saturating_sub(done) as f64 / rate;
                    assert!(
                        (eta as f64 - left).abs() <= 1.0 + left * 1e-3,
                        "{line}: the time left is the bytes left at the pace told ({left:.1} s)"
                    );
                    if etas.last() != Some(&eta) && frozen.is_empty() {
                        etas.push(eta);
                    }
                }
                // Once the pace is known and two times left were told: freeze restic.
                if frozen.is_empty() && etas.len() >= 2 {
                    frozen = restic_backups(&repo);
                    assert!(!frozen.is_empty(), "no restic backup of {repo} is running");
                    signal(&frozen, libc::SIGSTOP);
                }
            }
            "Stalled" => {
                assert!(
                    !stalled.is_empty() || e["step"].as_u64() == backup_step,
                    "{line}: the frozen backup stalls first (told {} times left: {etas:?})",
                    etas.len()
                );
                if stalled.is_empty() {
                    signal(&frozen, libc::SIGCONT);
                }
                stalled.push(e);
            }
            "Progress" if e["step"].as_u64() == replicate_step => copying.push(e),
            _ => {}
        }
    }
    let status = child.wait().unwrap();
    signal(&frozen, libc::SIGCONT);
    assert!(status.success(), "the run failed after the stall");

    assert!(
        etas.len() >= 2,
        "a time left was told at least twice before the freeze: {etas:?}"
    );
    assert!(
        percents.windows(2).all(|w| w[1] >= w[0]),
        "the percentage never goes back"
    );
    assert_eq!(percents.last(), Some(&1.0), "and ends at 100 %");
    assert!(files_seen, "files are counted");

    assert!(
        !frozen.is_empty(),
        "the backup ran long enough to be frozen"
    );
    let s = &stalled[0];
    assert_eq!(s["node"], "home");
    assert_eq!(s["waiting_on"], "restic on home");
    assert!(s["quiet_secs"].as_u64().unwrap() >= 3, "{s}");
    assert!(after_stall > 0, "progress went on after restic was let go");

    let last = copying
        .last()
        .expect("the copy to laptop reported progress");
    assert_eq!(
        last["activity"],
        serde_json::json!({"copying": {"from": "home", "to": "laptop"}})
    );
    assert!(last["total"].as_u64().unwrap() >= 1000 << 20, "{last}");
    assert_eq!(last["done"], last["total"]);

    // The run's log says it in the same words.
    let log = std::fs::read_dir(lab.node("laptop").base.join("logs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .unwrap();
    let text = std::fs::read_to_string(log).unwrap();
    assert!(
        text.contains("[home backup] stalled — no progress for")
            && text.contains("waiting on restic on home"),
        "{text}"
    );
}
