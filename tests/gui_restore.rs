//! The Restore view of the real window (Main.qml and its Rust objects) offscreen, on a
//! lab of two nodes with real restic and sshd: laptop's repository is chosen, both copies
//! are listed (laptop's own first: home's copy is one snapshot behind), home's copy is
//! chosen (over ssh), a wrong password is refused in one sentence, the right one lists
//! home's snapshot, folders are opened one at a time (a file's row exists only once its
//! folder was listed), a file is picked and a target typed. The commands shown must
//! equal what `wbackup restore` prints for the same choice (the binary is run here), the
//! Copy button must put them on the clipboard, and, pasted into a shell, they restore
//! exactly that file. All along, every process's argv and environment is sampled: the
//! password must appear in none.
//!
//! The checks are QML (they need the items); `WBACKUP_RESTORE_SHOT` names where to save
//! a screenshot of the finished view (`scripts/screenshots.sh`), else it goes to the
//! lab's folder. One Qt application per process: `harness = false`.

mod support;

use cxx_qt_lib::{QByteArray, QGuiApplication, QString, QUrl};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use support::*;

const DRIVER: &str = r##"
import QtQuick
import QtQuick.Controls
import org.wbackup

Main {
    id: win
    property var errors: []
    property string stage: "start"
    readonly property var expected: @EXPECTED@

    @CHECKS@
    // The delegate of `list` whose `key` is `value` (delegates live in the view's
    // content item, created as they are shown).
    function rowOf(list, key, value) {
        list.forceLayout()
        for (let i = 0; i < list.count; ++i) {
            const item = list.itemAtIndex(i)
            if (item && item[key] === value)
                return item
        }
        return null
    }
    // A stage that throws fails the test at once.
    function guarded(stage) {
        try {
            stage()
        } catch (e) {
            fail("at " + win.stage + ": " + e)
        }
    }
    function fail(what) {
        expect(false, what)
        finish()
    }
    readonly property Item view: find(win.contentItem, "restoreView")
    readonly property var api: view ? view.api : null
    readonly property Item password: find(win.contentItem, "restorePassword")
    readonly property Item unlock: find(win.contentItem, "restoreUnlock")
    readonly property Item treeView: find(win.contentItem, "restoreTree")
    readonly property Item errorLabel: find(win.contentItem, "restoreError")

    TextEdit { id: pasted; visible: false }

    function typePassword(text) {
        expect(password.visible, "the view asks for the password")
        expect(password.echoMode === TextInput.Password, "the view's password field is masked")
        password.text = text
        unlock.clicked()
        expect(password.text === "", "the field is cleared once the password is taken")
    }

    Timer {
        running: true
        interval: 0
        onTriggered: {
            expect(view !== null && api !== null, "the window has a Restore view")
            let tab = null
            const bar = find(win.contentItem, "root")
            function findTab(item) {
                if (item.text === "Restore" && item.checkable !== undefined && item.clicked)
                    return item
                for (let i = 0; i < item.children.length; ++i) {
                    const t = findTab(item.children[i])
                    if (t)
                        return t
                }
                return null
            }
            tab = findTab(bar)
            expect(tab !== null, "a Restore tab")
            // What a click on the tab does.
            tab.checked = true
            expect(view.visible, "the Restore tab shows the view")
            expect(api.repos.count === 2, "two repositories listed: " + api.repos.count)
            expect(api.commands === "", "no commands before a copy is chosen")
            const box = find(win.contentItem, "restoreRepo")
            const i = box.indexOfValue("laptop")
            expect(i >= 0, "laptop is a repository")
            box.currentIndex = i
            box.activated(i)
            expect(api.repo === "laptop", "laptop's repository chosen")
            win.stage = "copies"
        }
    }

    Connections {
        target: win.api ? win.api.copies : null
        function onCountChanged() {
            if (win.stage !== "copies" || win.api.copies.count === 0)
                return
            Qt.callLater(win.guarded, win.copiesListed)
        }
    }
    function copiesListed() {
        const list = find(win.contentItem, "restoreCopies")
        list.forceLayout()
        expect(list.count === 2, "both copies listed: " + list.count)
        const first = list.itemAtIndex(0), second = list.itemAtIndex(1)
        expect(first.node === "laptop" && first.behind === 0 && first.status === "ready",
               "the freshest copy first: " + first.node + " " + first.status + " behind " + first.behind)
        expect(second.node === "home" && second.behind === 1 && second.status === "ready",
               "home's copy second, one snapshot behind: " + second.node + " behind " + second.behind)
        expect(first.proven === 1 && second.proven === 1 && second.proof.indexOf("proven") === 0,
               "both proven, from the ledger: " + first.proof + " / " + second.proof)
        expect(first.snapshots === 2 && second.snapshots === 1, "snapshot counts " + first.snapshots + ", " + second.snapshots)
        win.stage = "wrong password"
        second.clicked()
        expect(api.holder === "home", "home's copy chosen")
        expect(api.commands.indexOf("# Restore laptop's data from the copy held by home.") === 0,
               "commands for home's copy at once (latest snapshot)")
        typePassword("not the password")
    }

    Connections {
        target: win.api
        function onErrorChanged() {
            if (win.api.error === "")
                return
            if (win.stage === "wrong password") {
                expect(win.api.error === "restic refused the password: type it again",
                       "a wrong password in one sentence: " + win.api.error)
                expect(errorLabel.visible && errorLabel.text === win.api.error, "shown in the view")
                expect(!win.api.hasPassword && password.visible, "and asked again")
                win.stage = "snapshots"
                typePassword(win.expected.password)
                expect(win.api.error === "", "the error goes with a new password")
            } else {
                fail("unexpected error at " + win.stage + ": " + win.api.error)
            }
        }
    }

    Connections {
        target: win.api ? win.api.snapshots : null
        function onCountChanged() {
            if (win.stage !== "snapshots" || win.api.snapshots.count === 0)
                return
            Qt.callLater(win.guarded, win.snapshotsListed)
        }
    }
    function snapshotsListed() {
        const list = find(win.contentItem, "restoreSnapshots")
        expect(list.count === 1, "home's copy holds one snapshot: " + list.count)
        const snap = rowOf(list, "shortId", expected.snapshot.substring(0, 8))
        expect(snap !== null, "the snapshot is listed by its short id")
        expect(snap.host === "laptop" && snap.paths.length === 1 && snap.time !== "",
               "with its host, paths and time: " + snap.host + " " + snap.paths + " " + snap.time)
        expect(treeView.count === 0, "no files before a snapshot is chosen")
        win.stage = "browse"
        snap.clicked()
        expect(api.snapshot === expected.snapshot, "the snapshot chosen")
    }

    // Each listing that arrives opens the next folder towards the file, until the file
    // is there to pick.
    property int opened: 0
    Connections {
        target: win.api ? win.api.tree : null
        function onCountChanged() {
            if (win.stage === "browse")
                Qt.callLater(win.guarded, win.browse)
        }
    }
    Timer { id: retry; interval: 50; onTriggered: win.guarded(win.browse) }
    function browse() {
        if (win.stage !== "browse")
            return
        const file = rowOf(treeView, "path", expected.file)
        if (opened < expected.folders.length) {
            const next = expected.folders[opened]
            const folder = rowOf(treeView, "path", next)
            if (folder === null) {
                // Listed, its row not drawn yet: look again on a later frame.
                if (treeView.count > opened)
                    retry.start()
                return
            }
            const button = find(folder, "open_" + next)
            expect(file === null, "the file is not listed before its folder is opened (" + next + ")")
            const before = treeView.count
            opened += 1
            button.clicked()
            expect(treeView.count === before, "a folder is listed in the background, not at once")
            return
        }
        if (file === null) {
            retry.start()
            return
        }
        win.stage = "pick"
        expect(file.kind === "file" && file.size !== "", "the file's row: " + file.kind + " " + file.size)
        find(file, "pick_" + expected.file).clicked()
        expect(api.pickedCount === 1, "one path picked")
        const target = find(win.contentItem, "restoreTarget")
        expect(target.text.indexOf("~/restore-laptop-") === 0, "a default target: " + target.text)
        target.text = expected.target
        target.textEdited()
        expect(api.commands === expected.commands,
               "the commands equal wbackup restore's" + (api.commands === expected.commands ? ""
                   : ":\n" + api.commands + "\n---- expected:\n" + expected.commands))
        expect(find(win.contentItem, "restoreCommands").text === expected.commands, "and the view shows them")
        expect(errorLabel.text === "", "no error: " + errorLabel.text)
        find(win.contentItem, "restoreCopy").clicked()
        pasted.text = ""
        pasted.paste()
        expect(pasted.text === expected.commands, "Copy puts them on the clipboard" + (pasted.text === expected.commands ? "" : ": " + pasted.text))
        // The target with a newline is refused in one sentence, and no command is shown.
        target.text = "bad\nname"
        target.textEdited()
        expect(api.commands === "" && errorLabel.text.indexOf("control character") >= 0,
               "a target with a newline is refused: " + errorLabel.text)
        target.text = expected.target
        target.textEdited()
        win.stage = "shot"
        Qt.callLater(function() {
            find(win.contentItem, "root").grabToImage(function(result) {
                expect(result.saveToFile(expected.shot), "screenshot saved to " + expected.shot)
                win.finish()
            })
        })
    }

    Timer {
        running: true
        interval: 120000
        onTriggered: fail("finished within two minutes (stage " + win.stage + ")")
    }
}
"##;

/// Samples every process's argv and environment until told to stop: (samples, leaks).
fn watch_for_the_password(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(usize, Vec<String>)> {
    std::thread::spawn(move || {
        let (mut samples, mut leaks) = (0, vec![]);
        while !stop.load(Ordering::SeqCst) {
            for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                for f in ["cmdline", "environ"] {
                    if let Ok(bytes) = std::fs::read(entry.path().join(f)) {
                        if String::from_utf8_lossy(&bytes).contains(PASSWORD) {
                            leaks.push(format!("{}/{f}", entry.path().display()));
                        }
                    }
                }
            }
            samples += 1;
        }
        (samples, leaks)
    })
}

fn main() {
    let lab = Lab::new(&["laptop", "home"]);
    lab.fill(4);
    let run = lab.wbackup(&["run", "--verify"]);
    assert_exit(&run, 0);
    // A second snapshot of laptop that home's copy lacks: laptop's own copy is fresher.
    let laptop_repo = lab.repo("laptop", "laptop");
    let more = lab.restic(
        &laptop_repo,
        &[
            "backup",
            "--host",
            "laptop",
            lab.node("laptop").data.to_str().unwrap(),
        ],
    );
    assert!(more.status.success(), "{}", stderr(&more));

    // The choice the test makes, and what the command line prints for it.
    let home_repo = lab.repo("home", "laptop");
    let snaps = lab.restic(&home_repo, &["snapshots", "--json"]);
    let snaps: serde_json::Value = serde_json::from_slice(&snaps.stdout).unwrap();
    let snapshot = snaps[0]["id"].as_str().unwrap().to_string();
    let listing = lab.restic(&home_repo, &["ls", "--json", &snapshot]);
    let file = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["path"].as_str().map(String::from))
        .find(|p| p.ends_with("/laptop file 1.bin"))
        .expect("the snapshot holds laptop file 1.bin");
    let folders: Vec<String> = {
        let mut f = vec![];
        let mut at = String::new();
        let parts: Vec<&str> = file.trim_start_matches('/').split('/').collect();
        for p in &parts[..parts.len() - 1] {
            at = format!("{at}/{p}");
            f.push(at.clone());
        }
        f
    };
    let target = lab
        .path()
        .join("restored here")
        .to_string_lossy()
        .into_owned();
    let printed = lab.wbackup(&[
        "restore",
        "laptop",
        "--from",
        "home",
        "--snapshot",
        &snapshot,
        "--include",
        &file,
        "--target",
        &target,
    ]);
    assert_exit(&printed, 0);
    let commands = stdout(&printed)
        .strip_suffix('\n')
        .expect("ends its last line")
        .to_string();
    let shot = std::env::var("WBACKUP_RESTORE_SHOT").unwrap_or_else(|_| {
        lab.path()
            .join("restore.png")
            .to_string_lossy()
            .into_owned()
    });
    let expected = serde_json::json!({
        "password": PASSWORD,
        "snapshot": snapshot,
        "file": file,
        "folders": folders,
        "target": target,
        "commands": commands,
        "shot": shot,
    });
    let driver = support::qml_driver(DRIVER).replace("@EXPECTED@", &expected.to_string());

    let runtime = lab.path().join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    std::fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    // Before any thread starts.
    std::env::set_var("XDG_RUNTIME_DIR", &runtime);
    // The window remembers its geometry there: never in the real user's state folder.
    std::env::set_var("XDG_STATE_HOME", runtime.join("state"));
    std::env::set_var("QT_QPA_PLATFORM", "offscreen");
    wbackup::gui::prepare_environment();

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_for_the_password(stop.clone());
    let code = {
        let mut app = QGuiApplication::new();
        let mut engine = wbackup::gui::new_engine();
        let config = lab.path().join("config.toml");
        wbackup::gui::set_config_file(engine.pin_mut(), Some(&config));
        let url = QUrl::from_user_input(
            &QString::from(&*lab.path().join("driver.qml").to_string_lossy()),
            &QString::default(),
        );
        engine
            .as_mut()
            .expect("engine")
            .load_data(&QByteArray::from(&*driver), &url);
        assert!(
            wbackup::gui::native::window_backend(&engine).is_some(),
            "the window did not load (see the QML errors above)"
        );
        app.as_mut().expect("app").exec()
    };
    stop.store(true, Ordering::SeqCst);
    let (samples, leaks) = watcher.join().unwrap();
    assert_eq!(code, 0, "the view's checks failed (see FAILED lines above)");
    assert!(
        samples > 5,
        "only {samples} samples of the processes were taken"
    );
    assert!(leaks.is_empty(), "the password was seen in {leaks:?}");

    // Pasted into a shell (the lab's nodes share this file system), the commands
    // restore exactly the file picked; restic reads the password from stdin.
    let line = commands.lines().last().unwrap();
    let mut sh = std::process::Command::new("sh")
        .arg("-c")
        .arg(line)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    sh.stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = sh.wait_with_output().unwrap();
    assert!(out.status.success(), "{line}: {}", stderr(&out));
    let restored = std::path::Path::new(&target).join(file.trim_start_matches('/'));
    let live = lab
        .node("laptop")
        .data
        .join("sub dir/it's \"quoted\"/laptop file 1.bin");
    assert_eq!(
        std::fs::read(&restored).unwrap(),
        std::fs::read(&live).unwrap(),
        "{} restored",
        restored.display()
    );
    let count = walk(std::path::Path::new(&target));
    assert_eq!(count, 1, "only the picked file was restored");
    println!("gui_restore: all checks passed ({samples} samples of every process)");
}

/// Regular files under `dir`.
fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                walk(&e.path())
            } else {
                usize::from(t.is_file())
            }
        })
        .sum()
}
