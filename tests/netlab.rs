//! A run over links with real speeds (issue 14, item 1): the lab of `bench/netlab.sh`,
//! every node in a network namespace of its own with its sshd, each link held to its
//! rates by tc, wbackup inside the orchestrator's namespace. Real sshd, rsync and restic,
//! as in the loopback lab; what changes is that every byte between two nodes crosses
//! shaped links, and the orchestrator's link counts what it carried.

mod support;

use std::path::Path;
use support::{assert_exit, Lab};

/// The bytes of every file under `dir`.
fn size_of(dir: &Path) -> u64 {
    support::tree(dir).iter().map(|(_, len, _)| len).sum()
}

#[test]
fn over_shaped_links_every_node_gets_every_repository_and_copies_between_others_cross_the_orchestrators_link_twice(
) {
    let lab = Lab::shaped(&["laptop:50/20", "home:100/20", "server:200/200"]);
    lab.fill(3);
    // Data that does not compress, so that what crosses a link is measurable.
    std::fs::write(
        lab.node("home").data.join("photo.raw"),
        support::noise(3 << 20, 7),
    )
    .unwrap();
    let (sent, received) = lab.link_bytes("laptop");
    let out = lab.run();
    assert_exit(&out, 0);
    lab.assert_everyone_holds_everything();
    let (sent_after, received_after) = lab.link_bytes("laptop");
    // Today every copy between two remote nodes is relayed through the orchestrator
    // (what issue 14's direct copies will change): home's repository came in over
    // laptop's link and went out again to server.
    let home = size_of(&lab.repo("home", "home"));
    assert!(
        home > 3 << 20,
        "home's repository holds the photo: {home} bytes"
    );
    assert!(
        received_after - received >= home,
        "laptop received {} bytes, home's repository is {home}",
        received_after - received
    );
    assert!(
        sent_after - sent >= home,
        "laptop sent {} bytes, home's repository is {home}",
        sent_after - sent
    );
}

/// `NODE`'s address on a shaped lab's network.
fn address(lab: &Lab, node: &str) -> String {
    let nodes = std::fs::read_to_string(lab.path().join("netlab.nodes")).unwrap();
    nodes
        .lines()
        .find_map(|l| {
            let mut w = l.split(' ');
            (w.next() == Some(node)).then(|| w.next().unwrap().to_string())
        })
        .unwrap()
}

/// `NODE`'s network namespace in a shaped lab.
fn netns(lab: &Lab, node: &str) -> String {
    let id = std::fs::read_to_string(lab.path().join("netlab.id")).unwrap();
    format!("wb{}-{node}", id.trim())
}

/// Tries to log in to `to` from inside `from`'s namespace, with the agent at `sock` or,
/// when None, the lab's key file; whether it got in.
fn login_from(lab: &Lab, from: &str, to: &str, sock: Option<&str>) -> bool {
    let kh = lab.path().join(format!("known-{from}-{to}"));
    let mut c = std::process::Command::new("ip");
    c.args(["netns", "exec", &netns(lab, from), "ssh", "-F", "/dev/null"]);
    c.args([
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=accept-new",
    ]);
    c.arg("-o")
        .arg(format!("UserKnownHostsFile={}", kh.display()));
    c.args(["-o", "ConnectTimeout=5", "-l", "root"]);
    match sock {
        Some(s) => {
            c.env("SSH_AUTH_SOCK", s);
            c.args(["-o", "IdentityFile=/nonexistent"]);
        }
        None => {
            c.env_remove("SSH_AUTH_SOCK");
            c.arg("-i").arg(lab.path().join("id"));
            c.args(["-o", "IdentitiesOnly=yes"]);
        }
    }
    c.args([&address(lab, to), "true"]);
    c.stdin(std::process::Stdio::null());
    c.status().unwrap().success()
}

/// The agent sockets that sshds of `node` (in this lab: other tests' labs run at the same
/// time, their sshds writing to the same /tmp) made for forwarded agents so far.
fn forwarded_agents(lab: &Lab, node: &str) -> Vec<std::path::PathBuf> {
    let mut found = vec![];
    for d in std::fs::read_dir("/tmp").unwrap().flatten() {
        if d.file_name().to_string_lossy().starts_with("ssh-") {
            for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                // agent.PID: the sshd that made it, in the node's network namespace.
                let Some(pid) = name.strip_prefix("agent.") else {
                    continue;
                };
                let ns = std::process::Command::new("ip")
                    .args(["netns", "identify", pid])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
                if ns.is_ok_and(|ns| ns == netns(lab, node)) {
                    found.push(f.path());
                }
            }
        }
    }
    found
}

#[test]
fn with_direct_copies_no_byte_between_two_other_nodes_crosses_the_orchestrator_and_the_lent_agent_reaches_only_the_target(
) {
    let mut lab = Lab::shaped(&[
        "laptop:50/20",
        "home:100/20",
        "server:200/200",
        "decoy:200/200",
    ]);
    // decoy: an sshd on the lab's network that takes the lab's key, but no node of the
    // configuration.
    lab.nodes.retain(|n| n.name != "decoy");
    lab.write_config(&lab.config_text("[replication]\ndirect = true\n"));
    lab.fill(2);
    std::fs::write(
        lab.node("home").data.join("photo.raw"),
        support::noise(24 << 20, 9),
    )
    .unwrap();
    assert!(
        login_from(&lab, "home", "decoy", None),
        "decoy lets the lab's key in"
    );
    let before = forwarded_agents(&lab, "home");
    let (sent, received) = lab.link_bytes("laptop");
    let mut run = lab
        .wbackup_cmd(&["run"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // While home's photo goes to server, the agent forwarded to home is tried from home.
    let mut tried = None;
    while tried.is_none() && run.try_wait().unwrap().is_none() {
        let lent = forwarded_agents(&lab, "home")
            .into_iter()
            .find(|s| !before.contains(s));
        if let Some(sock) = lent {
            let s = sock.display().to_string();
            tried = Some((
                login_from(&lab, "home", "server", Some(&s)),
                login_from(&lab, "home", "decoy", Some(&s)),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = run.wait_with_output().unwrap();
    assert_exit(&out, 0);
    let (to_server, to_decoy) = tried.expect("the run forwarded an agent to home");
    assert!(to_server, "the lent agent lets home reach server");
    assert!(
        !to_decoy,
        "the lent agent must not let home reach any other host"
    );
    lab.assert_everyone_holds_everything();
    let (sent_after, received_after) = lab.link_bytes("laptop");
    let home = size_of(&lab.repo("home", "home"));
    // laptop's own copy of home came over its link once; nothing went out again.
    assert!(
        received_after - received >= home,
        "laptop received {} bytes of {home}",
        received_after - received
    );
    assert!(
        sent_after - sent < home / 4,
        "laptop sent {} bytes; home's repository is {home} bytes and went straight to server",
        sent_after - sent
    );
}

#[test]
fn a_direct_path_refused_falls_back_to_the_relay_once_and_the_copy_completes() {
    let lab = Lab::shaped(&["laptop:200/200", "home:200/200", "server:200/200"]);
    lab.write_config(&lab.config_text("[replication]\ndirect = true\n"));
    lab.fill(2);
    // home has no route to server (nor server to home: home's answers cannot go back);
    // laptop reaches both.
    let blocked = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &netns(&lab, "home"),
            "ip",
            "route",
            "add",
            "unreachable",
        ])
        .arg(format!("{}/32", address(&lab, "server")))
        .status()
        .unwrap();
    assert!(blocked.success());
    let out = lab.run();
    assert_exit(&out, 0);
    let text = support::stdout(&out);
    for notice in [
        "home → server: no direct path",
        "server → home: no direct path",
    ] {
        // Once in the log, and kept with the step in the run's summary.
        assert_eq!(text.matches(notice).count(), 1, "{notice}:\n{text}");
        assert!(support::summary_of(&text).contains(notice));
    }
    assert_eq!(text.matches("relayed through laptop").count(), 2, "{text}");
    lab.assert_everyone_holds_everything();
}

/// A run of a chain of direct copies side by side (`jobs = "auto"`, links and new data
/// seeded so that the plan goes home → server → laptop) with 40 MiB new on home.
fn chain_round(lab: &Lab, seed: u64) {
    std::fs::write(
        lab.node("home").data.join(format!("round-{seed}.raw")),
        support::noise(40 << 20, seed),
    )
    .unwrap();
    lab.seed_links(&support::SLOW_HOME_FAST_SERVER);
    // As the last round left it: home's copies took 40 MiB.
    lab.seed_new_data(&[("home", 40 << 20)]);
}

#[test]
fn a_chain_feeds_its_last_copy_part_by_part_and_a_part_cut_short_is_carried_by_the_whole_copy() {
    let lab = Lab::shaped(&["laptop:50/20", "home:100/20", "server:200/200"]);
    let config = lab.config_text("[replication]\ndirect = true\n");
    lab.write_config(&format!("jobs = \"auto\"\n{config}"));
    lab.fill(2);
    assert_exit(&lab.run(), 0);

    // Home's new data leaves home once, in parts; laptop takes each part on from server
    // while the next is still on its way from home.
    chain_round(&lab, 31);
    let plan = support::stdout(&lab.wbackup(&["plan"]));
    assert!(
        plan.contains("copies made in the order home → server, server → laptop"),
        "{plan}"
    );
    let out = lab.run();
    assert_exit(&out, 0);
    let text = support::stdout(&out);
    assert!(
        text.matches("[home] home → server: copying").count() >= 3,
        "two parts and the whole copy:\n{text}"
    );
    let fed_on = text.find("[home] server → laptop: copying").expect(&text);
    let whole = text.find("[home] home → server: snapshots:").expect(&text);
    assert!(
        fed_on < whole,
        "laptop took a part on before server's copy was whole:\n{text}"
    );
    assert!(!text.contains("[home] home → laptop: copying"), "{text}");
    lab.assert_everyone_holds_everything();

    // A part cut short on its way to laptop: laptop's copy stays sound, and the whole
    // copy from server carries the rest.
    chain_round(&lab, 32);
    let server_copy = format!("{}/", lab.repo("server", "home").display());
    let mut child = lab
        .wbackup_cmd(&["run"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let mut killed = 0;
    while killed == 0 && std::time::Instant::now() < deadline {
        let pids = support::rsync_pids(&[&server_copy, ".wbackup-incoming/home"], None);
        support::signal(&pids, libc::SIGKILL);
        killed = pids.len();
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let out = child.wait_with_output().unwrap();
    let text = support::stdout(&out);
    assert!(
        killed > 0,
        "no part from server to laptop was seen:\n{text}"
    );
    assert_exit(&out, 0);
    assert!(
        text.contains("[home] server → laptop: the rest comes with the whole copy"),
        "{text}"
    );
    lab.assert_everyone_holds_everything();
}
