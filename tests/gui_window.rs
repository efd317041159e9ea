//! The real window (Main.qml and the Rust backend) under `QT_QPA_PLATFORM=offscreen`:
//! title, the masked password field, "Backup all" enablement, the field cleared once the
//! password is taken, Enter starting a run, Stop, a real local run's result in the
//! host list and history, and the live log following its tail unless scrolled up. The checks are QML (they need the items); this file gives them
//! a temporary home and a one-node configuration, and fails when the QML reports errors.
//!
//! One Qt application per process: `harness = false`.

mod support;

use support::window::{self, Window};

/// Wraps the real `Main` and drives it; every expectation that fails is printed and
/// makes the exit code 1. Steps advance on the backend's property changes, not on time.
const DRIVER: &str = r#"
import QtQuick
import QtQuick.Controls
import org.wbackup

Main {
    id: win
    property var errors: []
    property string stage: "static"

    @CHECKS@
    readonly property Item field: find(win.contentItem, "passwordField")
    readonly property Item button: find(win.contentItem, "backupAllButton")
    readonly property Item again: find(win.contentItem, "repeatField")
    readonly property Item stopButton: find(win.contentItem, "stopButton")

    Timer {
        running: true
        interval: 0
        onTriggered: {
            expect(win.title === "wbackup", "the window is titled wbackup")
            expect(field !== null && button !== null && stopButton !== null, "the run controls exist")
            expect(field.echoMode === TextInput.Password, "the password field is masked")
            expect(field.placeholderText === "Restic password", "placeholder text")
            expect(!button.enabled, "Backup all is disabled while the field is empty")
            expect(!stopButton.enabled, "Stop is disabled while nothing runs")
            expect(find(win.contentItem, "host_laptop") !== null, "the host list shows laptop")
            field.text = "correct horse"
            // No repository exists yet: the password is asked twice.
            expect(again !== null && again.visible, "a first run shows the repeat field")
            expect(again.echoMode === TextInput.Password, "the repeat field is masked")
            expect(!button.enabled, "Backup all waits for the repetition")
            field.accepted()
            expect(again.activeFocus, "Enter in the first field moves to the repeat field")
            expect(!backend.running, "and starts nothing")
            again.text = "correct hose"
            expect(!button.enabled, "Backup all stays disabled while the two differ")
            again.text = "correct horse"
            expect(button.enabled, "Backup all is enabled once the two match")
            // A short window, so that the log overflows its view early in the run.
            win.height = 300
            win.stage = "first run"
            button.clicked()
            expect(field.text === "" && again.text === "", "the fields are cleared once the password is taken")
            expect(backend.running, "the run started")
            expect(!button.enabled, "Backup all is disabled while running")
            expect(stopButton.enabled, "Stop is enabled while running")
        }
    }

    // Following the tail, driven by the first run's lines as they arrive: once the log
    // overflows, the user scrolls up; later lines leave the view where it is; back at
    // the end, the log follows again.
    property string follow: "following"
    property int topLine: -1
    property int linesAt: 0
    function topIndex() {
        return logView.indexAt(0, logView.contentY + 1)
    }
    Connections {
        target: win.logView
        function onCountChanged() {
            if (win.stage !== "first run")
                return
            Qt.callLater(win.followStep)
        }
    }
    function followStep() {
        const count = logView.count
        if (win.follow === "following" && logView.contentHeight > logView.height) {
            expect(logView.atYEnd, "the live log follows its tail")
            // What a flick or the scroll bar ends with.
            logView.contentY = logView.originY
            logView.movementEnded()
            expect(!logView.follow, "scrolled up, the log stops following")
            win.topLine = topIndex()
            win.linesAt = count
            win.follow = "scrolled up"
        } else if (win.follow === "scrolled up" && count > win.linesAt) {
            expect(topIndex() === win.topLine && !logView.atYEnd, "new lines leave a scrolled-up log where the user put it (top line " + topIndex() + ", was " + win.topLine + ")")
            logView.positionViewAtEnd()
            logView.movementEnded()
            expect(logView.follow, "back at the end, the log follows again")
            win.linesAt = count
            win.follow = "back at the end"
        } else if (win.follow === "back at the end" && count > win.linesAt) {
            expect(logView.atYEnd, "new lines keep a following log at its tail")
            win.follow = "checked"
        }
    }

    Connections {
        target: win.backend
        function onRunningChanged() {
            if (win.backend.running)
                return
            if (win.stage === "first run") {
                const laptop = find(win.contentItem, "host_laptop")
                expect(laptop.hostState === "passed", "laptop passed: " + laptop.hostState)
                expect(laptop.lastResult === "passed", "laptop's last result: " + laptop.lastResult)
                expect(!again.visible, "once the repository exists, the password is asked once")
                expect(win.backend.statusText.indexOf("passed") >= 0, "status: " + win.backend.statusText)
                expect(win.backend.history.count === 1, "the run is in the history")
                expect(find(win.contentItem, "historyList").count === 1, "the history list shows it")
                expect(logView.count > 0, "the live log has lines")
                expect(win.follow === "back at the end" || win.follow === "checked", "the run's lines came in enough batches to check following the tail (got to: " + win.follow + ")")
                // A following log stays at its tail when the window shrinks.
                win.stage = "shrink"
                win.height = 260
            } else if (win.stage === "enter") {
                expect(win.backend.statusText.indexOf("stopped") >= 0, "stopped: " + win.backend.statusText)
                expect(!stopButton.enabled, "Stop is disabled again")
                win.finish()
            }
        }
    }
    readonly property Item logView: find(win.contentItem, "logView")
    Connections {
        target: win.logView
        function onHeightChanged() {
            if (win.stage !== "shrink")
                return
            win.stage = "enter"
            Qt.callLater(function() {
                Qt.callLater(function() {
                    expect(logView.atYEnd, "a following log stays at its tail when the window shrinks")
                    field.text = "correct horse"
                    field.accepted()
                    expect(win.backend.running, "Enter in the field starts a run")
                    expect(field.text === "", "the field is cleared again")
                    stopButton.clicked()
                    expect(win.backend.stopping, "Stop was taken")
                })
            })
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

fn main() {
    match window::phase().as_deref() {
        Some("window") => std::process::exit(window::open(DRIVER, |_| {
            assert!(
                wbackup::gui::native::set_window_icon(),
                "the window icon (assets/wbackup.svg in the binary's resources) cannot be drawn"
            );
        })),
        Some(other) => panic!("no phase {other}"),
        None => {}
    }
    Window::new(
        "orchestrator = \"laptop\"\nbase_dir = \"~/backup\"\n[nodes.laptop]\npaths = [\"~/Documents\"]\n",
    )
    .run("window");
    println!("gui_window: all checks passed");
}
