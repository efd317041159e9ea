//! The window's live progress (issue 12, item 2), in the real Main.qml offscreen, fed
//! the engine's own events through the backend's intake: each host row says what its
//! node does ("uploading — backup home", "sending to vps", "receiving from laptop"),
//! its figures (percent, bytes, files, rate, time left), and that it stalled and on
//! what; the run bar moves and the status line says how long is left.
//!
//! One Qt application per process: `harness = false`.

mod support;

use support::window::{self, Window};
use wbackup::engine::events::{Activity, Event, RunStatus};
use wbackup::plan::StepKind;

const DRIVER: &str = r#"
import QtQuick
import QtQuick.Controls
import org.wbackup

Main {
    id: win
    property var errors: []
    property string stage: "running"

    @CHECKS@
    function inRow(node, name) {
        const row = find(win.contentItem, "host_" + node)
        return row ? find(row, name) : null
    }
    function text(node, name) {
        const item = inRow(node, name)
        return item ? item.text : "(no " + name + " in " + node + "'s row)"
    }
    function shown(node, name) {
        const item = inRow(node, name)
        return item !== null && item.visible
    }

    // Checks once the backend's rows say what each stage sent.
    Timer {
        running: true
        repeat: true
        interval: 50
        onTriggered: {
            if (win.stage === "running" && text("vps", "activity") === "receiving from laptop") {
                expect(text("home", "activity") === "uploading — backup home",
                       "home's row: " + text("home", "activity"))
                expect(shown("home", "detail")
                       && text("home", "detail") === "35 % · 1.2 GB of 3.4 GB · 1204 of 5310 files · 9.0 MB/s · 5 min left",
                       "home's figures: " + text("home", "detail"))
                expect(!shown("home", "stalled"), "home has not stalled")
                expect(text("laptop", "activity") === "sending to vps — replicate laptop",
                       "laptop's row: " + text("laptop", "activity"))
                const bar = find(win.contentItem, "runProgress")
                expect(bar !== null && bar.visible && bar.value > 0 && bar.value < 1,
                       "the run's bar is shown, part done: " + (bar ? bar.value : "none"))
                expect(backend.statusText.indexOf("Running: 0 of 3 steps done · about ") === 0
                       && backend.statusText.endsWith(" left"),
                       "the status says how long is left: " + backend.statusText)
                win.stage = "stalled"
                backend.filterText = "stall"
            } else if (win.stage === "stalled" && shown("home", "stalled")) {
                expect(text("home", "stalled") === "stalled — no progress for 75 s, waiting on restic on home",
                       "home's stall: " + text("home", "stalled"))
                expect(!shown("home", "detail"), "a stalled row shows the stall, not its old pace")
                expect(text("laptop", "activity") === "checking what arrived on vps — replicate laptop",
                       "laptop's row while vps checks: " + text("laptop", "activity"))
                expect(text("vps", "activity") === "checking what arrived",
                       "vps's row: " + text("vps", "activity"))
                expect(text("laptop", "detail").indexOf("3 of 37 files") >= 0,
                       "the files checked so far: " + text("laptop", "detail"))
                win.stage = "ended"
                backend.filterText = "end"
            } else if (win.stage === "ended" && !backend.running) {
                expect(!find(win.contentItem, "runProgress").visible, "no run bar once the run ended")
                expect(text("home", "activity") === "—", "nothing runs on home: " + text("home", "activity"))
                win.finish()
            }
        }
    }

    Timer {
        running: true
        interval: 60000
        onTriggered: {
            expect(false, "finished within a minute (stage " + win.stage + ")")
            win.finish()
        }
    }
}
"#;

fn started(step: usize, node: &str, kind: StepKind) -> Event {
    Event::StepStarted {
        step,
        node: node.into(),
        kind,
        title: format!("{kind} {node}"),
    }
}

const CONFIG: &str = "orchestrator = \"laptop\"\nbase_dir = \"~/backup\"\n[nodes.laptop]\npaths = [\"~/Documents\"]\n\
     [nodes.home]\naddresses = [\"home.lan\"]\npaths = [\"~/\"]\n[nodes.vps]\naddresses = [\"vps.example.org\"]\n";

fn main() {
    match window::phase().as_deref() {
        Some("synthetic") => std::process::exit(window::open(DRIVER, synthetic_feed)),
        Some("lab") => std::process::exit(window::open(
            &LAB_DRIVER
                .replace("@PASSWORD@", support::PASSWORD)
                .replace("@SHOTS@", &shots_dir()),
            freezer,
        )),
        Some(other) => panic!("no phase {other}"),
        None => {}
    }
    Window::new(CONFIG).run("synthetic");
    on_a_lab();
    println!("gui_progress: all checks passed");
}

/// Under Xvfb on a real lab (issue 12's test): the window backs up 600 MB on the lab
/// node home, whose row shows a percent that never goes back and a time left that falls;
/// when its restic is frozen (SIGSTOP), the row says it stalled, and when restic is let
/// go (SIGCONT) the figures come back and the run passes.
fn on_a_lab() {
    let lab = support::Lab::new(&["laptop", "home"]);
    lab.fill(1);
    // The window words a time left under 10 s "a few seconds", so the backup must last
    // well beyond that for a falling time left to be seen: on a quiet machine restic
    // backs up 1 GB in 8 s. home's restic is therefore held to 15 MB/s (its own
    // --limit-upload, added by a `restic` first on home's PATH), and backs up 600 MB
    // that do not compress: about 40 s however fast the machine.
    lab.restic_first_on_path(
        &["home"],
        "for a in \"$@\"; do\n  [ \"$a\" = backup ] && exec /usr/bin/restic --limit-upload 15000 \"$@\"\ndone\nexec /usr/bin/restic \"$@\"\n",
    );
    let big = lab.node("home").data.join("big");
    std::fs::create_dir_all(&big).unwrap();
    for i in 0..60 {
        let st = std::process::Command::new("dd")
            .args(["if=/dev/urandom", "bs=1M", "count=10", "status=none"])
            .arg(format!(
                "of={}",
                big.join(format!("part {i}.bin")).display()
            ))
            .status()
            .unwrap();
        assert!(st.success());
    }
    let config = lab.write_config(&lab.config_text(""));
    let repo = lab.repo("home", "home").display().to_string();
    Window::with_config(&config)
        .xvfb()
        .env("WBACKUP_STALL_AFTER_SECS", "3")
        .env(REPO, repo)
        .run("lab");
    // What the window ran was a real run: home's repository holds its snapshot.
    assert_eq!(lab.snapshots(&lab.repo("home", "home")).len(), 1);
}

/// Where the lab phase saves its screenshots (`scripts/screenshots.sh` sets
/// `WBACKUP_E2E_SHOTS` to `docs/screenshots`), as a QML string's content; empty for none.
fn shots_dir() -> String {
    let dir = std::env::var("WBACKUP_E2E_SHOTS").unwrap_or_default();
    assert!(
        !dir.contains(['"', '\\', '\n']),
        "WBACKUP_E2E_SHOTS must be a plain path: {dir:?}"
    );
    dir
}

/// Names, for the lab phase, the repository whose restic backup it freezes.
const REPO: &str = "WBACKUP_TEST_FREEZE_REPO";

/// Freezes home's restic backup when the driver asks ("freeze"), lets it go when the
/// driver saw the stall ("thaw"); whatever happens, nothing stays frozen.
fn freezer(backend: window::BackendThread) {
    let repo = std::env::var(REPO).expect("set by the parent");
    std::thread::spawn(move || {
        if !window::asked(&backend, "freeze") {
            return;
        }
        let frozen = support::restic_backups(&repo);
        if frozen.is_empty() {
            eprintln!("FAILED: no restic backup of {repo} was running to freeze");
        }
        support::signal(&frozen, libc::SIGSTOP);
        window::asked(&backend, "thaw");
        support::signal(&frozen, libc::SIGCONT);
    });
}

const LAB_DRIVER: &str = r#"
import QtQuick
import QtQuick.Controls
import org.wbackup

Main {
    id: win
    property var errors: []
    property string stage: "start"
    property var percents: []
    property var lefts: []
    property int thawedFigures: 0

    @CHECKS@
    function inRow(node, name) {
        const row = find(win.contentItem, "host_" + node)
        return row ? find(row, name) : null
    }
    function text(node, name) {
        const item = inRow(node, name)
        return item ? item.text : ""
    }
    function shown(node, name) {
        const item = inRow(node, name)
        return item !== null && item.visible
    }
    // "a few seconds left", "42 s left", "3 min left", "1 h 5 min left" in seconds.
    function seconds(left) {
        if (left.indexOf("a few seconds") >= 0)
            return 5
        let m = /(\d+) h (\d+) min/.exec(left)
        if (m)
            return m[1] * 3600 + m[2] * 60
        m = /(\d+) min/.exec(left)
        if (m)
            return m[1] * 60
        m = /(\d+) s/.exec(left)
        return m ? Number(m[1]) : -1
    }
    // With a folder for screenshots (WBACKUP_E2E_SHOTS), saves the window's content
    // there as `name`, then goes on; without one, goes on at once.
    function shoot(name, then) {
        const dir = "@SHOTS@"
        if (dir === "") {
            then()
            return
        }
        Qt.callLater(function() {
            const ok = find(win.contentItem, "root").grabToImage(function(result) {
                expect(result.saveToFile(dir + "/" + name), "the screenshot is saved to " + dir + "/" + name)
                then()
            })
            expect(ok, "the window can be grabbed")
            if (!ok)
                then()
        })
    }
    function falling() {
        for (let i = 1; i < lefts.length; ++i)
            if (seconds(lefts[i]) < seconds(lefts[0]))
                return true
        return false
    }
    // Reads home's figures while its backup runs: the percent, and each new time left.
    function readFigures() {
        if (text("home", "activity").indexOf("— backup home") < 0 || !shown("home", "detail"))
            return false
        const detail = text("home", "detail")
        const pct = /^(\d+) %/.exec(detail)
        if (pct) {
            const p = Number(pct[1])
            if (percents.length > 0 && p < percents[percents.length - 1])
                expect(false, "the percent never goes back: " + percents.concat([p]).join(", "))
            percents.push(p)
        }
        const left = / · ([^·]+ left)$/.exec(detail)
        if (left && left[1] !== lefts[lefts.length - 1])
            lefts.push(left[1])
        return true
    }

    Timer {
        running: true
        repeat: true
        interval: 100
        onTriggered: {
            if (win.stage === "start") {
                if (!backend.canStart)
                    return
                find(win.contentItem, "passwordField").text = "@PASSWORD@"
                const repeat = find(win.contentItem, "repeatField")
                if (repeat.visible)
                    repeat.text = "@PASSWORD@"
                find(win.contentItem, "backupAllButton").clicked()
                win.stage = "figures"
            } else if (win.stage === "figures") {
                if (readFigures() && win.percents.length === 1) {
                    // The lab's first run: nothing to remind of while it goes on, and no
                    // copy is missing yet that a run should have made.
                    expect(!find(win.contentItem, "reminderBanner").visible,
                           "no reminder to back up while a backup runs")
                    const copies = find(win.contentItem, "copiesBanner")
                    expect(!copies.visible, "no copies banner during the first run: "
                           + find(win.contentItem, "copiesBannerText").text)
                }
                if (win.lefts.length >= 2 && win.falling()) {
                    console.log("time left told: " + win.lefts.join(" → "))
                    win.stage = "shooting"
                    win.shoot("e2e-running.png", function() {
                        win.stage = "frozen"
                        backend.filterText = "freeze"
                    })
                } else if (!backend.running) {
                    expect(false, "the backup ended before its time left fell: "
                           + win.lefts.join(", ") + " (percents " + win.percents.join(", ") + ")")
                    win.finish()
                }
            } else if (win.stage === "frozen") {
                if (shown("home", "stalled")) {
                    const said = text("home", "stalled")
                    expect(/^stalled — no progress for \d+ s, waiting on restic on home$/.test(said),
                           "home's row says it stalled and on what: " + said)
                    expect(!shown("home", "detail"), "a stalled row shows the stall, not its old pace")
                    // The freezer saw "freeze" (home stalled): the log may show every line
                    // again while the picture is taken.
                    win.stage = "shooting"
                    backend.filterText = ""
                    win.shoot("e2e-stalled.png", function() {
                        win.stage = "thawed"
                        backend.filterText = "thaw"
                    })
                } else {
                    readFigures()
                    if (!backend.running) {
                        expect(false, "the frozen backup was never said to have stalled")
                        win.finish()
                    }
                }
            } else if (win.stage === "thawed") {
                if (!shown("home", "stalled") && readFigures())
                    win.thawedFigures++
                if (!backend.running) {
                    expect(win.thawedFigures > 0, "home's figures came back after restic was let go")
                    expect(backend.statusText.indexOf("Last run passed") === 0,
                           "the run passed: " + backend.statusText)
                    expect(text("home", "state") !== "" && !shown("home", "stalled"),
                           "no stall left on home's row")
                    win.finish()
                }
            }
        }
    }

    Timer {
        running: true
        interval: 900000
        onTriggered: {
            expect(false, "finished within 15 minutes (stage " + win.stage + ")")
            win.finish()
        }
    }
}
"#;

/// The feed: each stage's events once the driver asks for them (it sets the log
/// filter), on a thread of its own: the queued calls run once the event loop does.
fn synthetic_feed(backend: window::BackendThread) {
    std::thread::spawn(move || {
        let Some(intake) = window::intake(&backend) else {
            return;
        };
        for e in [
            Event::RunStarted {
                run_id: "synthetic".into(),
                log_path: None,
                steps: 3,
            },
            started(0, "home", StepKind::Backup),
            Event::Progress {
                step: 0,
                node: "home".into(),
                activity: Activity::Uploading,
                done: 1_288_490_189,
                total: 3_650_722_201,
                files: Some((1204, 5310)),
                rate: Some(9_437_184),
                eta_secs: Some(251),
            },
            started(1, "laptop", StepKind::Replicate),
            Event::progress(
                1,
                "laptop",
                Activity::Copying {
                    from: "laptop".into(),
                    to: "vps".into(),
                },
                100,
                1000,
            ),
        ] {
            intake.push(e);
        }
        if !window::asked(&backend, "stall") {
            return;
        }
        intake.push(Event::Stalled {
            step: 0,
            node: "home".into(),
            quiet_secs: 75,
            waiting_on: "restic on home".into(),
        });
        intake.push(Event::Progress {
            step: 1,
            node: "laptop".into(),
            activity: Activity::Landing {
                from: "laptop".into(),
                to: "vps".into(),
            },
            done: 1000,
            total: 1000,
            files: Some((3, 37)),
            rate: None,
            eta_secs: None,
        });
        if !window::asked(&backend, "end") {
            return;
        }
        intake.push(Event::RunFinished {
            status: RunStatus::Interrupted,
            summary_path: None,
        });
    });
}
