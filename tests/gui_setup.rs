//! The window's Setup view and live reload, through the real window (Main.qml and the
//! Rust backends, offscreen), each phase in a child process with a home of its own
//! (`support::window`).
//!
//! - refuse: a duplicate name, a relative folder, a remote machine without addresses, a
//!   bad port and a wrong setting are each refused beside their field with the loader's
//!   words, and the file on disk stays byte for byte as it was (checked by the parent).
//! - add: two machines and a folder typed and clicked in, an exclude and a setting, Save:
//!   the window reads the saved file again (three host rows), and the parent finds the
//!   comment that was in the file, every change, a file that loads and the `.bak`.
//! - reload: the file edited by hand while the window is open is read again; a syntax
//!   error is shown in place (file:line:col) in the banner and the Setup view, Backup all
//!   is off; fixed by hand, the window recovers without a restart. During a run, a
//!   change waits for the run's end (the run keeps its plan), then is read.
//!
//! - lab (under Xvfb, on a 3-node sshd lab): from the built-in default, two machines and
//!   a folder (through the picker) added by typing and clicking, both connections tested
//!   (address, restic, rsync, free space, base_dir writable), Save, Backup all: every node
//!   holds every repository (checked with restic) and the saved file keeps the starter
//!   file's comments and loads.
//! - failures: a refused key, an unknown host key and a missing restic each show their
//!   sentence and fix; nothing on any node changes and the unknown key is not accepted.
//!
//! Screenshots of the Setup view (`setup.png`, `setup-connection-failed.png`) are saved
//! to `$WBACKUP_SETUP_SHOTS` when set.
//!
//! One Qt application per process: `harness = false`.

mod support;

use std::time::Duration;
use support::window::{self, BackendThread, Window};
use support::{Lab, PASSWORD};
use wbackup::engine::events::{Event, RunStatus};
use wbackup::gui::bridge::qobject::Backend;

const CONFIG: &str = r#"# my backups: this comment must survive the Setup view
orchestrator = "laptop"

[nodes.laptop]
paths = ["~/Documents"]   # what matters
"#;

const REFUSE: &str = r#"
import QtQuick
import QtQuick.Controls
import org.wbackup

Main {
    id: win
    property var errors: []
    @CHECKS@

    // The Setup view, shown (its tab chosen).
    function setupView() {
        find(win.contentItem, "tab_setup").checked = true
        return find(win.contentItem, "setupView")
    }
    function field(name) { return find(setupView(), name) }
    function addNode(name, addresses, paths, port) {
        field("addName").text = name
        field("addAddresses").text = addresses
        field("addPaths").text = paths
        field("addPort").text = port
        field("addNodeButton").clicked()
        return field("addError")
    }

    function check() {
        const setup = setupView().setup
        expect(setup.editable, "the file can be edited here")
        let e = addNode("laptop", "127.0.0.1", "~/x", "")
        expect(e.visible && e.text.indexOf("already exists") >= 0, "a duplicate name is refused in place: " + e.text)
        e = addNode("home", "127.0.0.1", "Documents", "")
        expect(e.visible && e.text.indexOf("relative path") >= 0 && e.text.indexOf("config.toml:") >= 0,
               "a relative folder is refused with the loader's file:line:col message: " + e.text)
        e = addNode("home", "", "~/x", "")
        expect(e.visible && e.text.indexOf("has no addresses") >= 0, "a remote machine needs an address: " + e.text)
        e = addNode("home", "127.0.0.1", "~/x", "http")
        expect(e.visible && e.text.indexOf("not a port") >= 0, "a port must be a number: " + e.text)
        e = addNode("Home Box", "127.0.0.1", "~/x", "")
        expect(e.visible && e.text.indexOf("invalid node name") >= 0, "a name that cannot be a folder is refused: " + e.text)
        const laptop = find(setupView(), "node_laptop")
        find(laptop, "nodeNewPath").text = "some/where"
        find(laptop, "nodeAddPath").clicked()
        const ne = find(laptop, "nodeError")
        expect(ne.visible && ne.text.indexOf("relative path") >= 0, "a relative folder of a node is refused beside it: " + ne.text)
        const jobs = field("setting_jobs")
        jobs.text = "many"
        jobs.editingFinished()
        expect(setup.errorPlace === "setting:jobs" && setup.error.indexOf("jobs") >= 0,
               "a wrong setting is refused beside it: " + setup.error)
        expect(!setup.dirty, "nothing refused is kept")
        expect(!field("setupSave").enabled, "so there is nothing to save")
        expect(JSON.parse(setup.nodes).length === 1, "still one machine")
        finish()
    }
    Timer { running: true; interval: 50; onTriggered: win.check() }
}
"#;

const ADD: &str = r#"
import QtQuick
import QtQuick.Controls
import org.wbackup

Main {
    id: win
    property var errors: []
    property bool saved: false
    @CHECKS@

    // The Setup view, shown (its tab chosen).
    function setupView() {
        find(win.contentItem, "tab_setup").checked = true
        return find(win.contentItem, "setupView")
    }
    function field(name) { return find(setupView(), name) }

    function edit() {
        const setup = setupView().setup
        expect(win.backend.hosts.count === 1, "one host row before")
        field("addName").text = "home"
        field("addAddresses").text = "192.168.1.10, home.example.org"
        field("addUser").text = "alice"
        field("addPort").text = "2222"
        field("addPaths").text = "~/"
        field("addNodeButton").clicked()
        expect(!field("addError").visible, "home is added: " + setup.error)
        expect(field("addName").text === "", "the form is emptied for the next machine")
        field("addName").text = "nas"
        field("addAddresses").text = "nas.lan"
        field("addBaseDir").text = "/srv/backup"
        field("addStorage").checked = true
        field("addNodeButton").clicked()
        expect(!field("addError").visible, "nas is added: " + setup.error)
        const laptop = find(setupView(), "node_laptop")
        find(laptop, "nodeNewPath").text = "~/My Projects"
        find(laptop, "nodeAddPath").clicked()
        // Each change draws the machines again: find the card anew.
        const again = find(setupView(), "node_laptop")
        find(again, "nodeNewExclude").text = "**/node_modules"
        find(again, "nodeAddExclude").clicked()
        const keep = field("setting_retention.keep_daily")
        keep.text = "14"
        keep.editingFinished()
        const nodes = JSON.parse(setup.nodes)
        expect(nodes.length === 3, "three machines: " + setup.nodes)
        expect(nodes[2].storage && nodes[2].name === "nas", "nas is storage only")
        expect(find(find(setupView(), "node_nas"), "nodeRole").text === "remote · storage only", "and says so")
        expect(nodes[0].paths.indexOf("~/My Projects") >= 0, "the folder is listed")
        expect(setup.dirty && field("setupSave").enabled, "Save is offered")
        expect(win.backend.hosts.count === 1, "nothing is read before Save")
        field("setupSave").clicked()
        expect(!setup.dirty, "saved: " + setup.error)
        expect(setup.message.indexOf("Saved ") === 0, "says where: " + setup.message)
        saved = true
    }
    // The window reads the saved file again by itself.
    Connections {
        target: win.backend.hosts
        function onCountChanged() {
            if (win.saved && win.backend.hosts.count === 3) {
                expect(win.backend.configError === "", "the saved file loads")
                expect(win.backend.canStart, "Backup all is possible")
                finish()
            }
        }
    }
    Timer { running: true; interval: 50; onTriggered: win.edit() }
    Timer {
        running: true
        interval: 60000
        onTriggered: { expect(false, "the window read the saved file within a minute"); finish() }
    }
}
"#;

const RELOAD: &str = r#"
import QtQuick
import QtQuick.Controls
import org.wbackup

Main {
    id: win
    property var errors: []
    property bool broken: false
    @CHECKS@

    // The Setup view, shown (its tab chosen).
    function setupView() {
        find(win.contentItem, "tab_setup").checked = true
        return find(win.contentItem, "setupView")
    }
    Connections {
        target: win.backend
        function onConfigErrorChanged() {
            if (win.backend.configError !== "") {
                win.broken = true
                const note = find(win.contentItem, "configNote")
                expect(note.visible && note.text.indexOf("config.toml:5:") >= 0, "the error is shown in place with its line: " + note.text)
                expect(!win.backend.canStart, "nothing can run on a broken file")
                const fileError = find(setupView(), "setupFileError")
                Qt.callLater(function() {
                    expect(fileError.visible && fileError.text.indexOf("config.toml:5:") >= 0,
                           "the Setup view shows it too: " + fileError.text)
                })
            } else if (win.broken) {
                expect(win.backend.hosts.count === 2, "the fixed file is read: " + win.backend.hosts.count)
                expect(win.backend.canStart, "Backup all is possible again")
                Qt.callLater(function() {
                    expect(JSON.parse(setupView().setup.nodes).length === 2, "the Setup view follows")
                    expect(setupView().setup.editable, "and can edit it again")
                    finish()
                })
            }
        }
    }
    Timer {
        running: true
        interval: 120000
        onTriggered: { expect(false, "the window recovered within two minutes"); finish() }
    }
}
"#;

/// Starting from the built-in default (no file), on a lab: two machines and a folder
/// added by typing and clicking, both connections tested, Save, Backup all.
const LAB: &str = r#"
import QtQuick
import QtQuick.Controls
import org.wbackup

Main {
    id: win
    property var errors: []
    property string stage: "start"
    readonly property var lab: @LAB@
    readonly property string shots: @SHOTS@
    // Saves the window's content as shots/NAME (when asked), then goes on.
    function shoot(name, card, then) {
        if (shots === "") {
            then()
            return
        }
        const flick = setupView().contentItem
        flick.contentY = Math.max(0, card.mapToItem(flick.contentItem, 0, 0).y - 8)
        Qt.callLater(function() {
            const ok = find(win.contentItem, "root").grabToImage(function(result) {
                expect(result.saveToFile(shots + "/" + name), "the screenshot is saved to " + name)
                then()
            })
            expect(ok, "the window can be grabbed")
            if (!ok)
                then()
        })
    }
    @CHECKS@

    function setupView() {
        find(win.contentItem, "tab_setup").checked = true
        return find(win.contentItem, "setupView")
    }
    function field(name) { return find(setupView(), name) }
    function type(item, text) { item.forceActiveFocus(); item.text = text; item.editingFinished() }

    function edit() {
        const setup = setupView().setup
        expect(win.backend.configNote.indexOf("built-in default") >= 0, "the window starts on the built-in default")
        type(field("setting_ssh.config_file"), lab.sshConfig)
        type(field("setting_ssh.connect_timeout_s"), "3")
        for (const n of lab.nodes) {
            type(field("addName"), n.name)
            type(field("addAddresses"), n.name)
            type(field("addBaseDir"), n.base)
            type(field("addPaths"), n.data)
            field("addNodeButton").clicked()
            expect(!field("addError").visible, n.name + " is added: " + setup.error)
        }
        // A folder of this machine, through the picker.
        const local = JSON.parse(setup.nodes)[0]
        const card = find(setupView(), "node_" + local.name)
        find(card, "nodeChoose").clicked()
        const dir = find(Overlay.overlay, "pickerDir_Pictures")
        expect(dir !== null, "the picker lists the home's folders")
        dir.clicked()
        expect(find(Overlay.overlay, "pickerPath").text.endsWith("/Pictures"), "and opens one")
        find(Overlay.overlay, "pickerChoose").clicked()
        expect(JSON.parse(setup.nodes)[0].paths.indexOf("~/Pictures") >= 0, "~/Pictures is backed up: " + setup.nodes)
        stage = "testing"
        for (const n of lab.nodes)
            find(find(setupView(), "node_" + n.name), "nodeTest").clicked()
    }
    Connections {
        target: win.setupView().setup
        function onTestsChanged() {
            if (win.stage !== "testing")
                return
            const tests = JSON.parse(win.setupView().setup.tests)
            const done = win.lab.nodes.every(n => tests[n.name] && tests[n.name].state !== "testing")
            if (!done)
                return
            for (const n of win.lab.nodes) {
                const t = tests[n.name]
                expect(t.state === "ok", n.name + " passes its test: " + JSON.stringify(t))
                expect(t.lines.some(l => l.indexOf("address: " + n.name) === 0), n.name + " names the address that answered")
                expect(t.lines.some(l => l.indexOf("restic: restic ") === 0), n.name + " has restic")
                expect(t.lines.some(l => l.indexOf("rsync: rsync ") === 0), n.name + " has rsync")
                expect(t.lines.some(l => l.indexOf("free space at ") === 0), n.name + " tells its free space")
                const card = find(win.setupView(), "node_" + n.name)
                expect(find(card, "nodeTestState").text === "Everything a run needs is there", "and says so")
            }
            win.stage = "saving"
            win.shoot("setup.png", find(win.setupView(), "node_home"), function() {
                win.field("setupSave").clicked()
                expect(!win.setupView().setup.dirty, "saved: " + win.setupView().setup.error)
            })
        }
    }
    Connections {
        target: win.backend.hosts
        function onCountChanged() {
            if (win.stage !== "saving" || win.backend.hosts.count !== 3)
                return
            win.stage = "running"
            Qt.callLater(function() {
                const pw = find(win.contentItem, "passwordField")
                pw.text = "@PASSWORD@"
                const again = find(win.contentItem, "repeatField")
                if (again && again.visible)
                    again.text = "@PASSWORD@"
                find(win.contentItem, "backupAllButton").clicked()
                expect(win.backend.running, "Backup all starts a run: " + win.backend.statusText)
            })
        }
    }
    Connections {
        target: win.backend
        function onQuestionChanged() {
            if (win.backend.question !== "") {
                expect(false, "no node fails its checks: " + win.backend.question)
                win.backend.continueWithout()
            }
        }
        function onRunningChanged() {
            if (win.stage === "running" && !win.backend.running) {
                expect(win.backend.failureCount === 0, "the run passed: " + win.backend.statusText)
                finish()
            }
        }
    }
    Timer { running: true; interval: 50; onTriggered: win.edit() }
    Timer {
        running: true
        interval: 600000
        onTriggered: { expect(false, "the run ended within ten minutes (stage " + win.stage + ")"); finish() }
    }
}
"#;

/// Tests of three machines that each fail in their own way; nothing may be written on
/// any of them.
const FAILURES: &str = r#"
import QtQuick
import QtQuick.Controls
import org.wbackup

Main {
    id: win
    property var errors: []
    readonly property var expected: @EXPECTED@
    height: shots === "" ? 780 : 1500
    readonly property string shots: @SHOTS@
    // Saves the window's content as shots/NAME (when asked), then goes on.
    function shoot(name, card, then) {
        if (shots === "") {
            then()
            return
        }
        const flick = setupView().contentItem
        flick.contentY = Math.max(0, card.mapToItem(flick.contentItem, 0, 0).y - 8)
        Qt.callLater(function() {
            const ok = find(win.contentItem, "root").grabToImage(function(result) {
                expect(result.saveToFile(shots + "/" + name), "the screenshot is saved to " + name)
                then()
            })
            expect(ok, "the window can be grabbed")
            if (!ok)
                then()
        })
    }
    @CHECKS@

    function setupView() {
        find(win.contentItem, "tab_setup").checked = true
        return find(win.contentItem, "setupView")
    }
    function start() {
        for (const name in expected)
            find(find(setupView(), "node_" + name), "nodeTest").clicked()
    }
    Connections {
        target: win.setupView().setup
        function onTestsChanged() {
            const tests = JSON.parse(win.setupView().setup.tests)
            for (const name in win.expected) {
                if (!tests[name] || tests[name].state === "testing")
                    return
            }
            for (const name in win.expected) {
                const [sentence, fix] = win.expected[name]
                const card = find(win.setupView(), "node_" + name)
                expect(find(card, "nodeTestState").text === "1 problem", name + " has one problem: " + JSON.stringify(tests[name]))
                const s = find(card, "testSentence"), f = find(card, "testFix")
                expect(s !== null && s.text.indexOf(sentence) >= 0, name + " says " + sentence + ": " + (s ? s.text : "nothing"))
                expect(f !== null && f.text.indexOf(fix) >= 0, name + "'s fix holds " + fix + ": " + (f ? f.text : "nothing"))
            }
            win.shoot("setup-connection-failed.png", find(win.setupView(), "node_home"), win.finish)
        }
    }
    Timer { running: true; interval: 50; onTriggered: win.start() }
    Timer {
        running: true
        interval: 120000
        onTriggered: { expect(false, "the tests ended within two minutes"); finish() }
    }
}
"#;

/// Asks the window's backend on its Qt thread; `None` when the window is gone.
fn ask<T: Send + 'static>(
    backend: &BackendThread,
    f: impl FnOnce(&Backend) -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    backend
        .queue(move |b| {
            let _ = tx.send(f(&b));
        })
        .ok()?;
    rx.recv().ok()
}

/// Waits (looking again every 50 ms) until `f` holds; exits the child when the window is
/// gone first.
fn until(backend: &BackendThread, what: &str, f: fn(&Backend) -> bool) {
    loop {
        match ask(backend, f) {
            Some(true) => return,
            Some(false) => std::thread::sleep(Duration::from_millis(50)),
            None => {
                eprintln!("FAILED: the window closed before {what}");
                std::process::exit(1);
            }
        }
    }
}

fn fail(what: &str) -> ! {
    eprintln!("FAILED: {what}");
    std::process::exit(1)
}

/// The hand edits of the reload phase, from another thread of the window's process.
fn edit_by_hand(backend: BackendThread) {
    let cfg = window::config_file();
    let two = format!("{CONFIG}\n[nodes.home]\naddresses = [\"192.168.1.10\"]\npaths = [\"~/\"]\n");
    until(&backend, "the window opened", |b| *b.can_start());
    // During a run, a change waits for its end: the run keeps its plan.
    let intake = window::intake(&backend).unwrap_or_else(|| fail("the intake"));
    intake.push(Event::RunStarted {
        run_id: "test".into(),
        log_path: None,
        steps: 1,
    });
    until(&backend, "the run shows", |b| *b.running());
    std::fs::write(&cfg, &two).unwrap();
    until(&backend, "the change is noticed", |b| {
        b.config_note().to_string().contains("plan it started with")
    });
    if ask(&backend, |b| b.host_rows().row_count(&Default::default())) != Some(1) {
        fail("during the run the window keeps the run's hosts");
    }
    intake.push(Event::RunFinished {
        status: RunStatus::Passed,
        summary_path: None,
    });
    until(&backend, "read once the run ended", |b| {
        !*b.running() && b.host_rows().row_count(&Default::default()) == 2
    });
    // A syntax error on line 5, then fixed.
    std::fs::write(
        &cfg,
        "# my backups\norchestrator = \"laptop\"\n\n[nodes.laptop]\npaths = [\"~/Documents\"\n",
    )
    .unwrap();
    until(&backend, "the error is shown", |b| {
        !b.config_error().is_empty()
    });
    std::fs::write(&cfg, &two).unwrap();
}

fn main() {
    if let Some(phase) = window::phase() {
        let filled;
        let driver = match phase.as_str() {
            "refuse" => REFUSE,
            "add" => ADD,
            "lab" | "failures" => {
                filled = std::env::var("GUI_SETUP_DRIVER").expect("set by the parent");
                filled.as_str()
            }
            _ => RELOAD,
        };
        std::process::exit(window::open(driver, |backend| {
            if phase == "reload" {
                std::thread::spawn(move || edit_by_hand(backend));
            }
        }));
    }

    let w = Window::new(CONFIG);
    w.run("refuse");
    assert_eq!(
        std::fs::read_to_string(w.config()).unwrap(),
        CONFIG,
        "refused input leaves the file byte for byte as it was"
    );
    assert!(
        !w.config().with_extension("toml.bak").exists(),
        "and writes no .bak"
    );
    println!("refused input: ok");

    let w = Window::new(CONFIG);
    w.run("add");
    let saved = std::fs::read_to_string(w.config()).unwrap();
    assert!(
        saved.starts_with("# my backups: this comment must survive the Setup view\n")
            && saved.contains("# what matters"),
        "the comments are kept:\n{saved}"
    );
    let c = wbackup::config::parse(w.config(), &saved).expect("the saved file loads");
    let names: Vec<&str> = c.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["laptop", "home", "nas"]);
    let home = c.node("home").unwrap();
    assert_eq!(home.addresses, ["192.168.1.10", "home.example.org"]);
    assert_eq!(
        (home.user.as_deref(), home.port),
        (Some("alice"), Some(2222))
    );
    assert_eq!(home.paths, ["~/"]);
    let nas = c.node("nas").unwrap();
    assert!(nas.is_storage() && nas.base_dir == "/srv/backup");
    let laptop = c.node("laptop").unwrap();
    assert_eq!(laptop.paths, ["~/Documents", "~/My Projects"]);
    assert_eq!(laptop.exclude, ["**/node_modules"]);
    assert_eq!(c.retention.keep_daily, Some(14));
    assert_eq!(
        std::fs::read_to_string(w.config().with_extension("toml.bak")).unwrap(),
        CONFIG,
        "the previous version is kept"
    );
    println!("machines added and saved: ok");

    let w = Window::new(CONFIG);
    w.run("reload");
    println!("live reload: ok");

    from_the_default_to_a_backup_on_a_lab();
    println!("lab set up from the window and backed up: ok");
    failed_tests_say_why_and_write_nothing();
    println!("failed connection tests: ok");
}

/// Where to save the screenshots (`$WBACKUP_SETUP_SHOTS`, `scripts/screenshots.sh`), as
/// a QML string; "" for none.
fn shots() -> String {
    serde_json::to_string(&std::env::var("WBACKUP_SETUP_SHOTS").unwrap_or_default()).unwrap()
}

fn from_the_default_to_a_backup_on_a_lab() {
    let lab = Lab::new(&["laptop", "home", "vps"]);
    lab.fill(2);
    let w = Window::new("");
    let home = w.home().to_path_buf();
    std::fs::create_dir_all(home.join("Pictures")).unwrap();
    std::fs::write(home.join("Pictures/cat.jpg"), "meow").unwrap();
    let nodes: Vec<serde_json::Value> = ["home", "vps"]
        .iter()
        .map(|n| {
            let node = lab.node(n);
            serde_json::json!({"name": n, "base": node.base, "data": node.data})
        })
        .collect();
    let facts = serde_json::json!({"sshConfig": lab.path().join("ssh_config"), "nodes": nodes});
    let driver = LAB
        .replace("@LAB@", &facts.to_string())
        .replace("@SHOTS@", &shots())
        .replace("@PASSWORD@", PASSWORD);
    let config = home.join(".config/wbackup/config.toml");
    // No file: the built-in default.
    // Kept until the end: the home holds the saved file and the laptop's repositories.
    let w = w
        .env("WBACKUP_CONFIG", "")
        .env("XDG_CONFIG_HOME", home.join(".config").to_string_lossy())
        .env("GUI_SETUP_DRIVER", driver)
        .xvfb();
    w.run("lab");
    let saved = std::fs::read_to_string(&config).expect("Save wrote the file");
    assert!(
        saved.starts_with("# wbackup configuration.") && saved.contains("# A storage-only node"),
        "the starter file's comments are kept:\n{saved}"
    );
    let c = wbackup::config::parse(&config, &saved).expect("the saved file loads");
    let local = wbackup::config::local_node_name();
    assert_eq!(c.orchestrator, local);
    assert_eq!(c.node(&local).unwrap().paths, ["~/Documents", "~/Pictures"]);
    // Every node holds every repository, each checked by restic.
    let bases = [
        home.join("backup"),
        lab.node("home").base.clone(),
        lab.node("vps").base.clone(),
    ];
    for owner in [local.as_str(), "home", "vps"] {
        let source = lab.snapshots(&bases[0].join(owner).join("restic"));
        assert!(!source.is_empty(), "{owner} was backed up");
        for base in &bases {
            let repo = base.join(owner).join("restic");
            lab.check(&repo);
            assert_eq!(lab.snapshots(&repo), source, "{}", repo.display());
        }
    }
}

fn failed_tests_say_why_and_write_nothing() {
    let lab = Lab::new(&["laptop", "home", "vps", "nas"]);
    // vps: a host key nobody accepted yet (strict checking for it alone).
    let ssh = std::fs::read_to_string(lab.path().join("ssh_config")).unwrap();
    let strict = lab.path().join("ssh_config_strict");
    std::fs::write(
        &strict,
        ssh.replace("Host vps\n", "Host vps\n  StrictHostKeyChecking yes\n"),
    )
    .unwrap();
    // nas: every tool but restic.
    let bin = lab.path().join("nas-bin");
    std::fs::create_dir_all(&bin).unwrap();
    for dir in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name();
            if name != "restic" && !bin.join(&name).exists() {
                std::os::unix::fs::symlink(e.path(), bin.join(&name)).unwrap();
            }
        }
    }
    lab.stop_sshd("nas");
    lab.start_sshd_with("nas", &format!("SetEnv PATH={}\n", bin.display()));
    let text = lab
        .config_text("")
        .replace(
            &format!(
                "config_file = \"{}\"",
                lab.path().join("ssh_config").display()
            ),
            &format!("config_file = \"{}\"", strict.display()),
        )
        // home: a user whose key is refused.
        .replace(
            "addresses = [\"home\"]",
            "addresses = [\"home\"]\nuser = \"nobody-here\"",
        );
    let cfg = lab.write_config(&text);
    let before = support::tree(&lab.path().join("nodes"));
    let known = std::fs::read_to_string(lab.path().join("known_hosts")).unwrap_or_default();
    let expected = serde_json::json!({
        "home": ["home answered at home but refused the login", "`ssh-copy-id nobody-here@home`"],
        "vps": ["vps's host key is not known yet at vps", " vps true`"],
        "nas": ["restic is not installed on nas.", "`sudo apt install restic`"],
    });
    let vps_port = lab.node("vps").port.unwrap();
    Window::with_config(&cfg)
        .env(
            "GUI_SETUP_DRIVER",
            FAILURES
                .replace("@EXPECTED@", &expected.to_string())
                .replace("@SHOTS@", &shots()),
        )
        .run("failures");
    assert_eq!(
        support::tree(&lab.path().join("nodes")),
        before,
        "a connection test writes nothing on any node"
    );
    let after = std::fs::read_to_string(lab.path().join("known_hosts")).unwrap_or_default();
    assert!(
        !after.contains(&format!("]:{vps_port} ")),
        "vps's host key was not accepted: {after}"
    );
    assert!(after.starts_with(&known));
}
