//! Screenshots of the window for `docs/screenshots/` (run by `scripts/screenshots.sh`).
//!
//! Opens the real window offscreen on a sample configuration and feeds it a synthetic run
//! (home's backup fails, the NAS is unreachable) through the backend's event intake,
//! while `examples/screenshots/Shots.qml` grabs the window at each stage. The run is also
//! written to the logbook, so History and "Open full log" show it as a real run's.
//!
//! Usage: gui-screenshots OUT_DIR CONFIG [SUFFIX]
//!
//! SUFFIX is added to each picture's name (`idle-dark.png`): the script runs it again
//! with `WBACKUP_PALETTE=dark` and with `QT_SCALE_FACTOR=2`.

use cxx_qt_lib::{QGuiApplication, QString, QUrl};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;
use wbackup::config;
use wbackup::engine::events::{Event, Fanout, Sink};
use wbackup::gui::demo::{self, Script};
use wbackup::gui::intake::IntakeSink;
use wbackup::logbook::Logbook;
use wbackup::plan::Plan;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (out, config_path, suffix) = match args.as_slice() {
        [_, out, config] => (out, config, ""),
        [_, out, config, suffix] => (out, config, suffix.as_str()),
        _ => anyhow::bail!("usage: gui-screenshots OUT_DIR CONFIG [SUFFIX]"),
    };
    let out = std::fs::canonicalize(out)?;
    let config = config::load(Some(Path::new(config_path))).map_err(|e| anyhow::anyhow!("{e}"))?;
    let plan = Plan::build(&config, &[])?;

    // An earlier run that passed, so the window opens with a last result and history.
    let earlier = Logbook::open(&config, &plan)?;
    for e in demo::run_events(&config, &plan, &Script::default()) {
        earlier.emit(e);
    }
    drop(earlier);
    std::thread::sleep(Duration::from_millis(1100)); // the next log gets its own name

    wbackup::gui::prepare_environment();
    let mut app = QGuiApplication::new();
    wbackup::gui::palette::apply();
    let mut engine = wbackup::gui::new_engine();
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/screenshots/Shots.qml");
    let url = QUrl::from_user_input(
        &QString::from(&*shots.to_string_lossy()),
        &QString::default(),
    );
    if let Some(mut engine) = engine.as_mut() {
        wbackup::gui::set_config_file(engine.as_mut(), Some(Path::new(config_path)));
        engine.load(&url);
    }
    let backend = wbackup::gui::native::window_backend(&engine)
        .ok_or_else(|| anyhow::anyhow!("the window did not create its backend"))?;
    let (tx, rx) = mpsc::channel();
    backend
        .queue(move |b| {
            let _ = tx.send(b.intake());
        })
        .map_err(|_| anyhow::anyhow!("the backend is gone"))?;

    let failing = Script {
        failing_backup: Some("home".into()),
        unreachable: Some("nas".into()),
        ..Script::default()
    };
    let mut events = demo::run_events(&config, &plan, &failing);
    let logbook = Logbook::open(&config, &plan)?;
    if let Some(Event::RunStarted { log_path, .. }) = events.first_mut() {
        *log_path = Some(logbook.log_path().to_path_buf());
    }
    // Pause the feed in the middle of home's backup for the "running" shot.
    let pause = events
        .iter()
        .position(|e| matches!(e, Event::Progress { done, total, .. } if done * 2 == *total))
        .map_or(events.len() / 2, |p| p + 1);
    let out_dir = out.clone();
    let suffix = suffix.to_owned();
    std::thread::spawn(move || {
        let Ok(intake) = rx.recv() else { return };
        let sink = Fanout(vec![Box::new(logbook), Box::new(IntakeSink(intake))]);
        let wait_for = |name: &str| {
            while !out_dir.join(format!("{name}{suffix}.png")).exists() {
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        wait_for("idle");
        let mut rest = events.split_off(pause);
        for e in events {
            sink.emit(e);
        }
        wait_for("running");
        for e in rest.drain(..) {
            sink.emit(e);
        }
    });
    let code = app.as_mut().map(|a| a.exec()).unwrap_or(1);
    anyhow::ensure!(code == 0, "the screenshot driver exited with {code}");
    Ok(())
}
