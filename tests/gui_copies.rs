//! The window's Copies view and banner on real data: a lab of real sshd nodes (laptop
//! here, home, and nas for storage) after a run that verified, a second run that nas
//! missed, home's proofs ten days old, and home's sshd stopped. The real `Main.qml` opens
//! offscreen; the checks (in QML, they need the items) find each cell of the matrix with
//! its state and colour, the banner's sentence, a selected cell's details and restore
//! commands (the very text `wbackup restore laptop --from nas` prints) and the Copy
//! button's clipboard; then a run from the window, after which the matrix is read again
//! by itself (nas caught up).
//!
//! A second window shows a bucket node (`rclone serve s3` on loopback) as a column of
//! its own: after a run that verified, both repositories' copies in the bucket are proven,
//! and the selected copy's restore commands are the `rclone:` ones `wbackup restore`
//! prints.
//!
//! A screenshot of the view is saved to `$WBACKUP_COPIES_SHOT` when set
//! (`docs/screenshots/copies.png`).
//!
//! One Qt application per process: `harness = false`.

mod support;

use std::fs;
use support::window::{self, Window};
use support::{assert_exit, Lab};

const DRIVER: &str = r##"
import QtQuick
import QtQuick.Controls
import org.wbackup

Main {
    id: win
    property var errors: []
    property string stage: "loading"
    readonly property string expectedRestore: @EXPECTED_RESTORE@
    readonly property string shot: @SHOT@

    @CHECKS@

    Connections {
        target: win.copies
        function onLoadingChanged() {
            if (win.copies.loading)
                return
            if (win.stage === "loading") {
                win.stage = "checking"
                Qt.callLater(win.check)
            } else if (win.stage === "run" && !win.backend.running) {
                win.stage = "after run"
                Qt.callLater(win.afterRun)
            }
        }
    }

    readonly property var fills: ({
        "proven": "#cdebd3", "unproven": "#ffe3a3", "behind": "#f6c1bf", "unknown": "#dedfe2"
    })

    function check() {
        win.showCopies()
        const nodes = win.copies.nodes
        expect(nodes.length === 3 && nodes[0] === "laptop" && nodes[1] === "home" && nodes[2] === "nas",
               "one column per node: " + nodes)
        expect(win.copies.rows.count === 2, "one row per repository: " + win.copies.rows.count)
        const want = {
            "laptop_laptop": "proven", "laptop_home": "unknown", "laptop_nas": "behind",
            "home_laptop": "unproven", "home_home": "unknown", "home_nas": "unproven"
        }
        for (const key in want) {
            const cell = find(win.contentItem, "cell_" + key)
            expect(cell !== null, "a cell for " + key)
            if (cell === null)
                continue
            expect(cell.copyState === want[key], key + " is " + want[key] + ": " + cell.copyState)
            expect(Qt.colorEqual(cell.color, fills[want[key]]), key + " is coloured for " + want[key] + ": " + cell.color)
            expect(cell.visible, key + " is shown")
        }
        const banner = find(win.contentItem, "copiesBanner")
        expect(banner.visible, "the banner is shown")
        expect(banner.text === "laptop on nas is not up to date with the source: run Backup all, and check that the node is reachable.",
               "the banner says what to do: " + banner.text)

        find(win.contentItem, "cell_laptop_nas").choose()
        expect(win.copies.selectedState === "behind", "selecting a cell selects its copy")
        expect(win.copies.detail.indexOf("laptop on nas: behind") === 0, "the details name the copy: " + win.copies.detail)
        expect(win.copies.detail.indexOf("1 snapshot(s) behind its source") >= 0, "and how far behind")
        expect(win.copies.detail.indexOf("Last drill: passed ") >= 0, "and its last proof: " + win.copies.detail)
        expect(win.copies.restoreText === win.expectedRestore, "the restore commands are wbackup restore's: " + win.copies.restoreText)
        expect(find(win.contentItem, "restoreText").text === win.expectedRestore, "and the view shows them")
        find(win.contentItem, "copyRestoreButton").clicked()
        expect(win.copies.clipboard() === win.expectedRestore, "Copy puts them on the clipboard")

        find(win.contentItem, "cell_laptop_home").choose()
        expect(win.copies.detail.indexOf("node unreachable now (") >= 0, "an unreachable node's copy says so: " + win.copies.detail)
        expect(win.copies.detail.indexOf("last proven ") >= 0, "with the ledger's last proof and its age")
        find(win.contentItem, "cell_laptop_nas").choose()

        if (win.shot === "") {
            win.startRun()
            return
        }
        // Let the selection paint, then grab the window's content.
        Qt.callLater(function() {
            const root = find(win.contentItem, "root")
            const ok = root.grabToImage(function(result) {
                expect(result.saveToFile(win.shot), "the screenshot is saved to " + win.shot)
                win.startRun()
            })
            expect(ok, "the window can be grabbed")
            if (!ok)
                win.startRun()
        })
    }

    // home's sshd is stopped: before anything is written the run asks to go on without
    // it, and the person says yes.
    Connections {
        target: win.backend
        function onQuestionChanged() {
            if (win.stage !== "run" || win.backend.question === "")
                return
            expect(win.backend.questionNodes === "home", "the run asks to go on without home: " + win.backend.questionNodes)
            expect(win.backend.continueWithout(), "Continue without home goes on")
        }
    }

    // A run from the window: once it ends, the matrix is read again by itself.
    function startRun() {
        win.stage = "run"
        expect(win.backend.backupAll(@PASSWORD@, ""), "a run starts")
    }
    function afterRun() {
        // Reached only through a refresh that began after the run ended (loading went
        // true, then false, in stage "run").
        expect(win.copies.checked.indexOf("Checked ") === 0, "the matrix was read again after the run: " + win.copies.checked)
        const cell = find(win.contentItem, "cell_laptop_nas")
        expect(cell.copyState !== "behind", "nas caught up with laptop's snapshots: " + cell.copyState)
        expect(win.copies.selectedHolder === "nas" && win.copies.detail.indexOf("laptop on nas: " + cell.copyState) === 0,
               "the selection stays on its copy, its details refreshed: " + win.copies.detail)
        win.finish()
    }

    Timer {
        running: true
        interval: 300000
        onTriggered: {
            expect(false, "finished within five minutes (stage " + win.stage + ")")
            win.finish()
        }
    }
}
"##;

const BUCKET_DRIVER: &str = r##"
import QtQuick
import QtQuick.Controls
import org.wbackup

Main {
    id: win
    property var errors: []
    property bool checked: false
    readonly property string expectedRestore: @EXPECTED_RESTORE@

    @CHECKS@

    Connections {
        target: win.copies
        function onLoadingChanged() {
            if (win.copies.loading || win.checked)
                return
            win.checked = true
            Qt.callLater(win.check)
        }
    }

    function check() {
        win.showCopies()
        const nodes = win.copies.nodes
        expect(nodes.length === 3 && nodes[0] === "laptop" && nodes[1] === "home" && nodes[2] === "cloud",
               "the bucket is a column after the nodes: " + nodes)
        for (const repo of ["laptop", "home"]) {
            const cell = find(win.contentItem, "cell_" + repo + "_cloud")
            expect(cell !== null && cell.visible, "a cell for " + repo + " on cloud")
            if (cell !== null)
                expect(cell.copyState === "proven", repo + " on cloud is proven: " + cell.copyState)
        }
        find(win.contentItem, "cell_home_cloud").choose()
        expect(win.copies.detail.indexOf("home on cloud: proven") === 0, "the details name the bucket's copy: " + win.copies.detail)
        expect(win.copies.restoreText === win.expectedRestore, "the restore commands are wbackup restore's: " + win.copies.restoreText)
        expect(win.copies.restoreText.indexOf("rclone:") >= 0, "read with restic's rclone backend: " + win.copies.restoreText)
        win.finish()
    }

    Timer {
        running: true
        interval: 120000
        onTriggered: {
            expect(false, "finished within two minutes")
            win.finish()
        }
    }
}
"##;

/// Moves repository `repo`'s proofs in the ledger `days` into the past.
fn age_proofs(lab: &Lab, repo: &str, days: i64) {
    let ledger = lab.node("laptop").base.join("logs/proofs.jsonl");
    let mut out = String::new();
    for line in fs::read_to_string(&ledger).unwrap().lines() {
        let mut p: serde_json::Value = serde_json::from_str(line).unwrap();
        if p["repo"] == repo {
            let t = chrono::DateTime::parse_from_rfc3339(p["time"].as_str().unwrap()).unwrap();
            p["time"] = (t - chrono::Duration::days(days)).to_rfc3339().into();
        }
        out.push_str(&format!("{p}\n"));
    }
    fs::write(&ledger, out).unwrap();
}

fn main() {
    match window::phase().as_deref() {
        Some("copies") => std::process::exit(copies()),
        Some("bucket") => std::process::exit(bucket()),
        Some(other) => panic!("no phase {other}"),
        None => {}
    }
    let lab = Lab::new(&["laptop", "home", "nas*"]);
    lab.fill(2);
    assert_exit(
        &lab.wbackup_as_configured(&["run", "--verify"])
            .output()
            .unwrap(),
        0,
    );
    // nas misses laptop's second snapshot.
    lab.stop_sshd("nas");
    fs::write(
        lab.node("laptop").data.join("later.txt"),
        "after the first run",
    )
    .unwrap();
    assert_exit(&lab.run(), 1);
    lab.start_sshd("nas");
    // home's copies were last proven ten days ago; home is away now.
    age_proofs(&lab, "home", 10);
    lab.stop_sshd("home");

    // The window, in a home of its own (its remembered geometry never in the real
    // user's state folder), offscreen.
    Window::with_config(&lab.path().join("config.toml")).run("copies");
    println!("gui_copies: the nodes' copies: all checks passed");

    let lab = Lab::new(&["laptop", "home"]);
    let bucket = support::bucket::Bucket::start(lab.path());
    lab.write_config(&lab.config_text(&bucket.config("cloud")));
    lab.fill(1);
    assert_exit(
        &lab.wbackup_as_configured(&["run", "--verify"])
            .output()
            .unwrap(),
        0,
    );
    Window::with_config(&lab.path().join("config.toml")).run("bucket");
    println!("gui_copies: the bucket's copies: all checks passed");
}

/// What `wbackup restore REPO --from FROM` prints for the window's configuration.
fn restore_text(repo: &str, from: &str) -> String {
    let config =
        wbackup::config::load(Some(&window::config_file())).expect("the lab's configuration");
    let request = wbackup::restore::Request {
        repo: repo.into(),
        from: Some(from.into()),
        ..Default::default()
    };
    wbackup::restore::commands(&config, &request).expect("restore commands")
}

/// The window on a lab with a bucket node, wrapped in the bucket column's checks.
fn bucket() -> i32 {
    let expected = restore_text("home", "cloud");
    let driver = BUCKET_DRIVER.replace(
        "@EXPECTED_RESTORE@",
        &serde_json::to_string(&expected).unwrap(),
    );
    window::open(&driver, |_| {})
}

/// The window on the lab's configuration, wrapped in the Copies view's checks; its exit
/// status.
fn copies() -> i32 {
    let expected = restore_text("laptop", "nas");
    let shot = std::env::var("WBACKUP_COPIES_SHOT").unwrap_or_default();
    let driver = DRIVER
        .replace(
            "@EXPECTED_RESTORE@",
            &serde_json::to_string(&expected).unwrap(),
        )
        .replace("@SHOT@", &serde_json::to_string(&shot).unwrap())
        .replace(
            "@PASSWORD@",
            &serde_json::to_string(support::PASSWORD).unwrap(),
        );
    window::open(&driver, |_| {})
}
