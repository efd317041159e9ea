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
