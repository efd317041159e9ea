//! The window as a desktop citizen, the real Main.qml offscreen: it opens with the size,
//! position and view it was closed with (and not at a position no screen shows any
//! more); every interactive item has an accessible name and is reached by Tab, with the
//! focus ring around it; host rows, failed steps and tabs answer Space and Enter; and
//! with a dark palette forced the window is dark and its status colours stay readable
//! (contrast 4.5:1 or more, checked on the light palette too).
//!
//! "Started again" means a new process, and Qt allows one application per process, so
//! each phase runs in a child process of this binary (`harness = false`), in a home of
//! its own; the parent checks what the phases leave in the state file.

mod support;

use std::path::Path;
use support::window::{self, Window};
use wbackup::gui::memory::{self, Remembered};

const CONFIG: &str =
    "orchestrator = \"laptop\"\nbase_dir = \"~/backup\"\n[nodes.laptop]\npaths = [\"~/Documents\"]\n";

fn main() {
    match window::phase() {
        Some(phase) => std::process::exit(child(&phase)),
        None => parent(),
    }
}

fn parent() {
    let home = Window::new(CONFIG);
    home.run("remember-first");
    assert_eq!(
        memory::load(&home.state_file()),
        Some(Remembered {
            position: Some((37, 21)),
            width: 900,
            height: 640,
            maximized: false,
            view: "history".into(),
        }),
        "closing the window remembers its size, position and view in {}",
        home.state_file().display()
    );
    home.run("remember-again");

    // The screen it was on is gone: the size and view come back, not the position.
    memory::save(
        &home.state_file(),
        &Remembered {
            position: Some((5000, 3000)),
            width: 1000,
            height: 700,
            maximized: false,
            view: "copies".into(),
        },
    )
    .unwrap();
    home.run("elsewhere");

    let home = Window::new(CONFIG);
    home.run("keyboard");
    home.run_with("dark", &[("WBACKUP_PALETTE", "dark")]);
    println!("gui_desktop: all phases passed");
}

/// One phase: the real window, wrapped in that phase's checks. Exit code 0 when all pass.
fn child(phase: &str) -> i32 {
    let driver = match phase {
        "remember-first" => REMEMBER_FIRST,
        "remember-again" => REMEMBER_AGAIN,
        "elsewhere" => ELSEWHERE,
        "keyboard" => KEYBOARD,
        "dark" => DARK,
        other => panic!("no phase {other}"),
    };
    let config_path = window::config_file();
    let feed = phase == "keyboard";
    if feed {
        earlier_run(&config_path);
    }
    window::open(&driver.replace("@HELPERS@", HELPERS), |backend| {
        if feed {
            feed_failing_run(&config_path, backend);
        }
    })
}

/// A run that passed, in the logbook before the window opens: History has a row.
fn earlier_run(config_path: &Path) {
    use wbackup::engine::events::Sink;
    let config = wbackup::config::load(Some(config_path)).expect("config");
    let plan = wbackup::plan::Plan::build(&config, &[]).expect("plan");
    let logbook = wbackup::logbook::Logbook::open(&config, &plan).expect("logbook");
    for e in wbackup::gui::demo::run_events(&config, &plan, &Default::default()) {
        logbook.emit(e);
    }
    // The window's run gets a log of its own name.
    std::thread::sleep(std::time::Duration::from_millis(1100));
}

/// A run whose backup fails, fed through the window's own intake: the failure summary
/// has a row to reach.
fn feed_failing_run(config_path: &Path, backend: window::BackendThread) {
    use wbackup::engine::events::Sink;
    let config = wbackup::config::load(Some(config_path)).expect("config");
    let plan = wbackup::plan::Plan::build(&config, &[]).expect("plan");
    let script = wbackup::gui::demo::Script {
        failing_backup: Some("laptop".into()),
        ..Default::default()
    };
    let events = wbackup::gui::demo::run_events(&config, &plan, &script);
    std::thread::spawn(move || {
        let Some(intake) = window::intake(&backend) else {
            return;
        };
        let sink = wbackup::gui::intake::IntakeSink(intake);
        for e in events {
            sink.emit(e);
        }
    });
}

/// Functions the drivers share: what counts as interactive, the walk, contrast.
const HELPERS: &str = r#"
    // "button" (every AbstractButton: buttons, tabs, check boxes, list delegates),
    // "combo", "text" (fields and text areas), "mouse" (a MouseArea: it stands for the
    // row or cell it lies on), or "".
    function kindOf(item) {
        if (typeof item.toggle === "function" && item.autoExclusive !== undefined)
            return "button"
        if (item.displayText !== undefined && item.popup !== undefined && item.currentIndex !== undefined)
            return "combo"
        if (item.cursorPosition !== undefined && item.selectByMouse !== undefined)
            return "text"
        if (item.pressedButtons !== undefined && item.preventStealing !== undefined)
            return "mouse"
        return ""
    }
    // Every interactive item shown under `item`, in tree order.
    function interactive(item, found) {
        if (!item.visible)
            return found
        const kind = kindOf(item)
        if (kind === "mouse") {
            if (found.indexOf(item.parent) < 0)
                found.push(item.parent)
            return found
        }
        if (kind !== "") {
            if (found.indexOf(item) < 0)
                found.push(item)
            if (kind !== "text")
                return found
        }
        for (let i = 0; i < item.children.length; ++i)
            interactive(item.children[i], found)
        return found
    }
    function describe(item) {
        const text = typeof item.text === "string" && item.text !== "" ? " '" + item.text.split("\n")[0].slice(0, 40) + "'" : ""
        return (item.objectName !== "" ? item.objectName : String(item)) + text
    }
    function luminance(c) {
        const f = function (v) { return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4) }
        return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b)
    }
    function contrast(a, b) {
        const x = luminance(a), y = luminance(b)
        return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05)
    }
    // The status colours against the window and base colours of the palette in use.
    function checkTones(tones, what) {
        for (const name of ["good", "bad", "warn", "busy", "muted"]) {
            for (const ground of ["window", "base", "alternateBase"]) {
                const ratio = contrast(tones[name], win.palette[ground])
                expect(ratio >= 4.5, what + ": " + name + " " + tones[name] + " on " + ground + " "
                       + win.palette[ground] + " has contrast " + ratio.toFixed(2))
            }
        }
        expect(contrast(tones.noticeText, tones.noticeFill) >= 4.5, what + ": a banner's text is readable")
        expect(contrast(tones.noticeText, tones.alertFill) >= 4.5, what + ": an alert's text is readable")
        expect(contrast(tones.errorText, tones.errorRow) >= 4.5, what + ": an error line is readable")
    }
"#;

const REMEMBER_FIRST: &str = r#"
import QtQuick
import QtQuick.Controls
import org.wbackup

Main {
    id: win
    property var errors: []
    @CHECKS@
    @HELPERS@
    Timer {
        running: true
        interval: 300
        onTriggered: {
            expect(!win.memory.known, "a first start remembers nothing")
            expect(win.width === 1180 && win.height === 780, "it opens at the default size: " + win.width + "x" + win.height)
            expect(find(win.contentItem, "tab_log").checked, "on the live log")
            win.width = 900
            win.height = 640
            win.x = 37
            win.y = 21
            find(win.contentItem, "tab_history").toggle()
            expect(find(win.contentItem, "views").currentIndex === 2, "History is showing")
            Qt.callLater(function () {
                expect(win.x === 37 && win.y === 21, "the window moved: " + win.x + "," + win.y)
                if (win.errors.length > 0)
                    Qt.exit(1)
                else
                    win.close()
            })
        }
    }
    Timer { running: true; interval: 30000; onTriggered: { expect(false, "done within 30 s"); Qt.exit(1) } }
}
"#;

const REMEMBER_AGAIN: &str = r#"
import QtQuick
import QtQuick.Controls
import org.wbackup

Main {
    id: win
    property var errors: []
    @CHECKS@
    @HELPERS@
    Timer {
        running: true
        interval: 300
        onTriggered: {
            expect(win.memory.known, "the second start remembers")
            expect(win.width === 900 && win.height === 640, "the size it was closed with: " + win.width + "x" + win.height)
            expect(win.x === 37 && win.y === 21, "the position it was closed at: " + win.x + "," + win.y)
            expect(find(win.contentItem, "tab_history").checked, "the view it was closed on (History)")
            expect(find(win.contentItem, "views").currentIndex === 2, "History is showing")
            win.finish()
        }
    }
    Timer { running: true; interval: 30000; onTriggered: { expect(false, "done within 30 s"); Qt.exit(1) } }
}
"#;

const ELSEWHERE: &str = r#"
import QtQuick
import QtQuick.Controls
import org.wbackup

Main {
    id: win
    property var errors: []
    @CHECKS@
    @HELPERS@
    Timer {
        running: true
        interval: 300
        onTriggered: {
            expect(win.memory.known && win.memory.left === 5000, "the remembered position is off every screen")
            expect(win.x !== 5000 && win.y !== 3000, "the window is not put where no screen shows it: " + win.x + "," + win.y)
            expect(win.width === 1000 && win.height === 700, "the size is: " + win.width + "x" + win.height)
            expect(find(win.contentItem, "copiesTab").checked, "and the view (Copies)")
            win.finish()
        }
    }
    Timer { running: true; interval: 30000; onTriggered: { expect(false, "done within 30 s"); Qt.exit(1) } }
}
"#;

/// Once the fed run has failed: for each view, every interactive item has a name and
/// takes Tab focus; Tab from the password field goes round every enabled one, the ring
/// around each; Space on the host row filters the log, Enter on the failed step shows
/// its lines; Shift+Tab goes back.
const KEYBOARD: &str = r#"
import QtQuick
import QtQuick.Controls
import QtTest
import org.wbackup

Main {
    id: win
    property var errors: []
    @CHECKS@
    @HELPERS@
    TestEvent { id: keys }
    Tones { id: lightTones }
    readonly property var views: ["tab_log", "tab_plan", "tab_history", "copiesTab", "tab_restore", "tab_setup"]
    property int view: -1
    property bool hostTried: false
    property bool failureTried: false

    function press(key, modifiers) {
        expect(keys.keyClick(key, modifiers === undefined ? Qt.NoModifier : modifiers, -1), "a key can be sent")
    }

    Timer {
        id: start
        interval: 200
        repeat: true
        running: true
        onTriggered: {
            if (!win.active || win.backend.running || win.backend.failureCount === 0
                    || win.copies.loading || win.backend.history.count < 1)
                return
            start.stop()
            expect(win.palette.window.hslLightness > 0.5, "without WBACKUP_PALETTE the palette here is light")
            lightTones.window = win.palette.window
            checkTones(lightTones, "light")
            win.nextView()
        }
    }
    Component.onCompleted: win.requestActivate()

    function nextView() {
        win.view += 1
        if (win.view >= win.views.length) {
            win.finish()
            return
        }
        // Reach the tab with the keyboard and open it with Space.
        const tab = find(win.contentItem, win.views[win.view])
        tab.forceActiveFocus(Qt.TabFocusReason)
        press(Qt.Key_Space)
        expect(tab.checked, win.views[win.view] + " opens with Space")
        settle.restart()
    }
    Timer { id: settle; interval: 300; onTriggered: win.walk() }

    function walk() {
        const name = win.views[win.view]
        const shown = interactive(win.contentItem, [])
        expect(shown.length > 5, name + ": interactive items found: " + shown.length)
        for (const item of shown) {
            expect(item.Accessible.name !== "", name + ": " + describe(item) + " has an accessible name")
            expect(item.activeFocusOnTab === true, name + ": " + describe(item) + " is reached with Tab")
        }
        const ring = win.focusRing
        expect(ring.parent !== null && ring.parent !== win.contentItem, "the focus ring is drawn above the window's content")
        // Round the window with Tab from the password field.
        const field = find(win.contentItem, "passwordField")
        field.forceActiveFocus(Qt.TabFocusReason)
        const visited = [field]
        let previous = field
        for (let i = 0; i < 400; ++i) {
            press(Qt.Key_Tab)
            const now = win.activeFocusItem
            if (now === null) {
                expect(false, name + ": Tab lost the focus after " + describe(previous))
                break
            }
            if (now === field)
                break
            const at = now.mapToItem(ring.parent, 0, 0)
            expect(ring.visible && ring.x <= at.x && ring.y <= at.y
                   && ring.x + ring.width >= at.x + now.width && ring.y + ring.height >= at.y + now.height,
                   name + ": the focus ring shows " + describe(now))
            // Shift+Tab goes back, Tab forward again.
            if (i === 2) {
                press(Qt.Key_Backtab, Qt.ShiftModifier)
                expect(win.activeFocusItem === previous, name + ": Shift+Tab goes back to " + describe(previous))
                press(Qt.Key_Tab)
                expect(win.activeFocusItem === now, name + ": and Tab forward again")
            }
            if (!win.hostTried && now.objectName === "host_laptop") {
                win.hostTried = true
                press(Qt.Key_Space)
                expect(win.backend.filterNode === "laptop", "Space on a host row shows only its lines")
                press(Qt.Key_Space)
                expect(win.backend.filterNode === "", "and again shows every node's")
            }
            if (!win.failureTried && now.cause !== undefined && now.steps !== undefined) {
                win.failureTried = true
                press(Qt.Key_Return)
                expect(win.backend.filterStep === Number(now.steps[0]), "Enter on a problem shows its step's lines")
                win.backend.clearFilter()
                // Choosing a failed step opens the live log; come back.
                const tab = find(win.contentItem, win.views[win.view])
                tab.checked = true
                now.forceActiveFocus(Qt.TabFocusReason)
            }
            if (visited.indexOf(now) < 0)
                visited.push(now)
            previous = now
        }
        expect(win.activeFocusItem === field, name + ": Tab comes back round to the password field")
        for (const item of shown) {
            if (item.enabled)
                expect(visited.indexOf(item) >= 0, name + ": Tab reaches " + describe(item))
        }
        if (name === "tab_log") {
            expect(win.hostTried, "the host row was reached")
            expect(win.failureTried, "the problem was reached")
        }
        win.nextView()
    }
    Timer { running: true; interval: 60000; onTriggered: { expect(false, "done within a minute (view " + win.view + ")"); Qt.exit(1) } }
}
"#;

const DARK: &str = r#"
import QtQuick
import QtQuick.Controls
import org.wbackup

Main {
    id: win
    property var errors: []
    @CHECKS@
    @HELPERS@
    Tones { id: darkTones }
    Timer {
        running: true
        interval: 300
        onTriggered: {
            expect(win.palette.window.hslLightness < 0.3, "WBACKUP_PALETTE=dark makes the window dark: " + win.palette.window)
            expect(win.palette.windowText.hslLightness > 0.7, "with light text: " + win.palette.windowText)
            const root = find(win.contentItem, "root")
            expect(Qt.colorEqual(root.palette.window, win.palette.window), "the panes follow the window's palette")
            const button = find(win.contentItem, "backupAllButton")
            expect(button.palette.button.hslLightness < 0.4, "buttons are dark: " + button.palette.button)
            const host = find(win.contentItem, "host_laptop")
            expect(host.color.hslLightness < 0.3, "host rows are dark: " + host.color)
            darkTones.window = win.palette.window
            expect(darkTones.dark, "the status colours know the palette is dark")
            checkTones(darkTones, "dark")
            win.finish()
        }
    }
    Timer { running: true; interval: 30000; onTriggered: { expect(false, "done within 30 s"); Qt.exit(1) } }
}
"#;
