//! The window's live progress (issue 12, item 2), in the real Main.qml offscreen, fed
//! the engine's own events through the backend's intake: each host row says what its
//! node does ("uploading — backup home", "sending to vps", "receiving from laptop"),
//! its figures (percent, bytes, files, rate, time left), and that it stalled and on
//! what; the run bar moves and the status line says how long is left.
//!
//! One Qt application per process: `harness = false`.

mod support;

use cxx_qt_lib::{QByteArray, QGuiApplication, QString, QUrl};
use std::sync::mpsc;
use std::time::Duration;
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

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = dir.path().join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    std::fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "orchestrator = \"laptop\"\nbase_dir = \"~/backup\"\n[nodes.laptop]\npaths = [\"~/Documents\"]\n\
         [nodes.home]\naddresses = [\"home.lan\"]\npaths = [\"~/\"]\n[nodes.vps]\naddresses = [\"vps.example.org\"]\n",
    )
    .unwrap();
    std::env::set_var("XDG_RUNTIME_DIR", &runtime);
    std::env::set_var("HOME", dir.path());
    std::env::set_var("QT_QPA_PLATFORM", "offscreen");
    wbackup::gui::prepare_environment();

    let mut app = QGuiApplication::new();
    let mut engine = wbackup::gui::new_engine();
    wbackup::gui::set_config_file(engine.pin_mut(), Some(&config));
    let url = QUrl::from_user_input(
        &QString::from(&*dir.path().join("driver.qml").to_string_lossy()),
        &QString::default(),
    );
    engine.as_mut().expect("engine").load_data(
        &QByteArray::from(support::qml_driver(DRIVER).as_str()),
        &url,
    );
    let backend = wbackup::gui::native::window_backend(&engine)
        .expect("the window did not load (see the QML errors above)");

    // The feed: each stage's events once the driver asks for them (it sets the log
    // filter, read here on the Qt thread).
    let (tx, rx) = mpsc::channel();
    backend
        .queue(move |b| {
            let _ = tx.send(b.intake());
        })
        .unwrap();
    let asked = move |word: &str| loop {
        let (tx, rx) = mpsc::channel();
        let w = word.to_string();
        if backend
            .queue(move |b| {
                let _ = tx.send(b.filter_text().to_string() == w);
            })
            .is_err()
        {
            return false;
        }
        if rx.recv().unwrap_or(false) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // On a thread of its own: the queued calls run once the event loop does.
    let feeder = std::thread::spawn(move || {
        let Ok(intake) = rx.recv() else { return };
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
        if !asked("stall") {
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
        if !asked("end") {
            return;
        }
        intake.push(Event::RunFinished {
            status: RunStatus::Interrupted,
            summary_path: None,
        });
    });
    let code = app.as_mut().expect("app").exec();
    drop(feeder);
    assert_eq!(
        code, 0,
        "the window's checks failed (see FAILED lines above)"
    );
    println!("gui_progress: all checks passed");
}
