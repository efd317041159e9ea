//! Direct copies (`[replication] direct = true`, issue 14): a copy between two nodes
//! other than the orchestrator goes straight from the node holding the source to the
//! target, through a private agent restricted to that one path; a direct path that
//! fails falls back to the relay, once, said as a notice. Real sshd, rsync and restic on
//! the loopback lab; `tests/netlab.rs` measures what crosses the orchestrator's link and
//! tries the forwarded agent against other hosts.

mod support;

use std::io::BufRead;
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::{assert_exit, stdout, Lab};

fn direct_lab(names: &[&str]) -> Lab {
    let lab = Lab::new(names);
    lab.write_config(&lab.config_text("[replication]\ndirect = true\n"));
    lab
}

/// Files this lab's direct transfers left in /tmp (none once a run ended). Other tests of
/// this binary run at the same time with transfers in flight: a file counts only when it
/// holds one of this lab's host keys.
fn known_hosts_leftovers(lab: &Lab) -> Vec<String> {
    let keys: Vec<String> = lab
        .nodes
        .iter()
        .filter_map(|n| {
            let public =
                std::fs::read_to_string(lab.path().join(format!("hostkey_{}.pub", n.name)));
            public
                .ok()
                .and_then(|k| k.split_whitespace().nth(1).map(str::to_string))
        })
        .collect();
    assert!(!keys.is_empty(), "the lab has host keys");
    std::fs::read_dir("/tmp")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("wbackup-known.")
        })
        .filter(|e| {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            keys.iter().any(|k| text.contains(k))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn copies_between_two_other_nodes_go_straight_from_one_to_the_other() {
    let lab = direct_lab(&["laptop", "home", "server"]);
    lab.fill(3);
    let plan = stdout(&lab.wbackup(&["plan"]));
    assert!(
        plan.contains("usable only for home > server") && plan.contains("if that fails"),
        "the plan says which copies go direct and how:\n{plan}"
    );
    let out = lab.run();
    assert_exit(&out, 0);
    let text = stdout(&out);
    for (from, to) in [("home", "server"), ("server", "home")] {
        assert!(
            text.contains(&format!("{from} → {to}: copying")) && text.contains("directly"),
            "{from}'s copy to {to} went direct:\n{text}"
        );
    }
    assert!(!text.contains("no direct path"), "{text}");
    // Nothing went through the orchestrator's copy for them: laptop's own copy of home
    // came from home, and server's from home too (no "laptop → server" for home).
    assert!(
        !text.contains("laptop → server: copying") || !text.contains("home on server"),
        "{text}"
    );
    lab.assert_everyone_holds_everything();
    assert!(
        known_hosts_leftovers(&lab).is_empty(),
        "{:?}",
        known_hosts_leftovers(&lab)
    );
    // A second run carries its new snapshots the same way.
    let again = lab.run();
    assert_exit(&again, 0);
    let text = stdout(&again);
    assert!(
        text.contains("home → server: copying") && !text.contains("no direct path"),
        "{text}"
    );
    lab.assert_everyone_holds_everything();
}

/// A run whose direct transfer of home's repository to server is killed on one side
/// (`side`: the words of the process to kill); returns the run's output.
fn run_killing(lab: &Lab, side: &[&str], cwd: Option<&str>) -> (std::process::Output, usize) {
    let mut child = lab
        .wbackup_cmd(&["run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Watch for the process from the start: it lives for a fraction of a second.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut killed = 0;
    while Instant::now() < deadline && killed == 0 {
        let pids = support::rsync_pids(side, cwd);
        for p in &pids {
            // SAFETY: a signal to a process this test's run started.
            unsafe {
                libc::kill(*p, libc::SIGKILL);
            }
        }
        killed += pids.len();
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut out = String::new();
    for l in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        out.push_str(&l.unwrap());
        out.push('\n');
    }
    let output = child.wait_with_output().unwrap();
    (
        std::process::Output {
            stdout: out.into_bytes(),
            ..output
        },
        killed,
    )
}

#[test]
fn a_direct_transfer_killed_on_either_side_leaves_sound_copies_and_the_relay_completes_it() {
    let lab = direct_lab(&["laptop", "home", "server"]);
    lab.fill(2);
    let server_stage = lab
        .node("server")
        .base
        .join(".wbackup-incoming")
        .join("home");
    let server_stage = server_stage.display().to_string();
    let home_repo = lab.repo("home", "home").display().to_string();
    // The source's rsync (it carries the known hosts file the direct script made), then
    // the target's (it writes into server's staging folder for home).
    let sides: [(&str, Vec<&str>, Option<&str>); 2] = [
        ("source", vec!["wbackup-known.", &home_repo], None),
        ("target", vec!["--server"], Some(&server_stage)),
    ];
    for (round, (side, words, cwd)) in sides.iter().enumerate() {
        // New data on home for each round, big enough to be caught in flight.
        std::fs::write(
            lab.node("home").data.join(format!("round-{round}.raw")),
            support::noise(40 << 20, round as u64 + 11),
        )
        .unwrap();
        let (out, killed) = run_killing(&lab, words, *cwd);
        let text = stdout(&out);
        assert!(
            killed > 0,
            "round {round}: the {side} side's rsync was never seen:\n{text}"
        );
        assert_exit(&out, 0);
        assert!(
            text.contains("home → server: no direct path")
                && text.contains("relayed through laptop"),
            "round {round} ({side} killed): the fallback is said:\n{text}"
        );
        // Said once in the log, and kept with the step in the run's summary.
        assert_eq!(
            text.matches("home → server: no direct path").count(),
            1,
            "{text}"
        );
        assert!(support::summary_of(&text).contains("home → server: no direct path"));
        lab.assert_everyone_holds_everything();
    }
    // And with nothing killed, the next run goes direct again and has nothing to carry.
    let out = lab.run();
    assert_exit(&out, 0);
    assert!(!stdout(&out).contains("no direct path"), "{}", stdout(&out));
}

#[test]
fn a_direct_transfer_cut_with_the_orchestrator_leaves_sound_copies_and_the_next_run_completes() {
    let lab = direct_lab(&["laptop", "home", "server"]);
    lab.fill(2);
    std::fs::write(
        lab.node("home").data.join("big.raw"),
        support::noise(30 << 20, 5),
    )
    .unwrap();
    // A power cut of the orchestrator while home's files go straight to server.
    let at = lab.run_killed_at("replicate", "home", &["\"Progress\"", "\"to\":\"server\""]);
    assert!(at.is_some(), "the run never reached home → server");
    for holder in ["laptop", "home", "server"] {
        let repo = lab.repo(holder, "home");
        if repo.join("config").exists() {
            lab.check(&repo);
        }
    }
    let out = lab.run();
    assert_exit(&out, 0);
    lab.assert_everyone_holds_everything();
}

/// Seeds the orchestrator's record of measured links: home's uplink slow, server's fast.
fn slow_home_fast_server(lab: &Lab) {
    lab.seed_links(&support::SLOW_HOME_FAST_SERVER);
}

#[test]
fn a_slow_owner_sends_once_and_a_fast_node_feeds_the_other_copies() {
    let lab = direct_lab(&["laptop", "home", "server"]);
    lab.fill(2);
    slow_home_fast_server(&lab);
    let plan = stdout(&lab.wbackup(&["plan"]));
    assert!(
        plan.contains("copies made in the order home → server, server → laptop"),
        "{plan}"
    );
    let out = lab.run();
    assert_exit(&out, 0);
    let text = stdout(&out);
    let home = text.find("home → server: copying").expect(&text);
    let server = text[home..]
        .find("server → laptop: copying")
        .map(|i| home + i);
    assert!(
        server.is_some(),
        "laptop's copy of home came from server's:\n{text}"
    );
    assert!(
        !text.contains("home → laptop: copying"),
        "home's data left home once:\n{text}"
    );
    lab.assert_everyone_holds_everything();

    // The copy that was to feed the others fails: laptop's comes from home, then
    // server's goes through laptop's, once it is up to date.
    std::fs::write(
        lab.node("home").data.join("round.raw"),
        support::noise(40 << 20, 21),
    )
    .unwrap();
    slow_home_fast_server(&lab);
    let home_repo = lab.repo("home", "home").display().to_string();
    let (out, killed) = run_killing(&lab, &["wbackup-known.", &home_repo], None);
    let text = stdout(&out);
    assert!(killed > 0, "home's direct rsync was never seen:\n{text}");
    assert_exit(&out, 0);
    assert!(
        text.contains("laptop's copy of home comes from home: server's copy is not up to date"),
        "{text}"
    );
    let laptop = text.find("home → laptop: copying").expect(&text);
    assert!(
        text[laptop..].contains("relayed through laptop"),
        "server's copy went through laptop's after it:\n{text}"
    );
    lab.assert_everyone_holds_everything();
    // The path that failed is not planned again on its old rate.
    let plan = stdout(&lab.wbackup(&["plan"]));
    assert!(!plan.contains("copies made in the order home"), "{plan}");
}

#[test]
fn copies_side_by_side_cut_with_the_orchestrator_while_parts_flow_stay_sound_and_the_next_run_completes(
) {
    let lab = Lab::new(&["laptop", "home", "server"]);
    let config = lab.config_text("[replication]\ndirect = true\n");
    lab.write_config(&format!("jobs = \"auto\"\n{config}"));
    lab.fill(2);
    assert_exit(&lab.run(), 0);
    std::fs::write(
        lab.node("home").data.join("big.raw"),
        support::noise(48 << 20, 9),
    )
    .unwrap();
    slow_home_fast_server(&lab);
    lab.seed_new_data(&[("home", 48 << 20)]);
    // A power cut of the orchestrator at the first bytes of home's repository that reach
    // laptop: a part from server, with home's copy to server under way.
    let at = lab.run_killed_at("replicate", "home", &["\"Progress\"", "\"to\":\"laptop\""]);
    assert!(at.is_some(), "home's repository never reached laptop");
    let source = lab.snapshots(&lab.repo("home", "home"));
    for holder in ["laptop", "server"] {
        let repo = lab.repo(holder, "home");
        if repo.join("config").exists() {
            lab.check(&repo);
            let held = lab.snapshots(&repo);
            assert!(
                held.iter().all(|s| source.contains(s)),
                "{holder}: {held:?}"
            );
        }
    }
    let out = lab.run();
    assert_exit(&out, 0);
    lab.assert_everyone_holds_everything();
}
