//! The desktop window: a QML front end bound to a Rust QObject backend. It consumes the
//! engine's event stream like the terminal printer does and holds no backup logic.
//!
//! `bridge` is the QObject (properties, invokables, the log list model); `rows` the list
//! model for hosts, failures and history, `models` what each of their rows holds; `state`
//! and `log` are the plain-Rust state it renders; `intake` carries events from the run's
//! threads to the Qt thread in batches; `native` holds the few Qt calls cxx-qt-lib lacks;
//! `copies` is the Copies view and banner (a QObject of its own); `demo` builds runs
//! from the engine's own events and words for tests and screenshots; `restore` is the
//! Restore view's QObject and `browse` what it asks the nodes; `notice` the desktop
//! notification at a run's end; `problems` the failure box's rows (problems by cause);
//! `reminder` the banner when no run passed for too long; `memory` the window's size,
//! position and view kept between starts; `palette` the light or dark palette the desktop
//! asks for; `setup` the Setup view's QObject and `draft` the configuration it edits
//! (through `config::edit`); `watch` notices when the configuration file changes on disk.
pub mod bridge;
pub mod browse;
pub mod copies;
pub mod demo;
pub mod draft;
pub mod intake;
pub mod log;
pub mod memory;
pub mod models;
pub mod native;
pub mod notice;
pub mod palette;
pub mod problems;
pub mod reminder;
pub mod restore;
pub mod rows;
pub mod setup;
pub mod state;
pub mod watch;

use cxx_qt_lib::{
    QGuiApplication, QMap, QMapPair_QString_QVariant, QQmlApplicationEngine, QString, QUrl,
    QVariant,
};
use std::pin::Pin;

/// Where `Main.qml` lives in the binary's resources.
pub const MAIN_QML: &str = "qrc:/qt/qml/org/wbackup/qml/Main.qml";

/// Settings every Qt process of ours needs before the application object exists.
/// Call it before any thread starts (it sets environment variables).
pub fn prepare_environment() {
    if std::env::var_os("QT_QUICK_CONTROLS_STYLE").is_none() {
        std::env::set_var("QT_QUICK_CONTROLS_STYLE", "Fusion");
    }
}

/// A QML engine that finds the `org.wbackup` module in the binary's resources (Qt 6.4
/// does not search `qrc:/qt/qml` by itself; later versions do).
pub fn new_engine() -> cxx::UniquePtr<QQmlApplicationEngine> {
    let mut engine = QQmlApplicationEngine::new();
    if let Some(e) = engine.as_mut() {
        e.add_import_path(&cxx_qt_lib::QString::from("qrc:/qt/qml"));
    }
    engine
}

/// Tells the windows `engine` loads next which configuration file to open (`None`: the
/// usual lookup). `Main.qml`'s `configFile` property carries it to the backend.
pub fn set_config_file(engine: Pin<&mut QQmlApplicationEngine>, config: Option<&std::path::Path>) {
    let mut properties = QMap::<QMapPair_QString_QVariant>::default();
    let file = config
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    properties.insert(
        QString::from("configFile"),
        QVariant::from(&QString::from(&file)),
    );
    engine.set_initial_properties(&properties);
}

/// Opens the window and runs the Qt event loop until it closes.
pub fn run_window(config: Option<&std::path::Path>) -> anyhow::Result<i32> {
    prepare_environment();
    let mut app = QGuiApplication::new();
    palette::apply();
    if !native::set_window_icon() {
        tracing::warn!(
            "the window icon cannot be drawn: Qt's SVG plugin is missing (apt install libqt6svg6)"
        );
    }
    let mut engine = new_engine();
    if let Some(mut engine) = engine.as_mut() {
        set_config_file(engine.as_mut(), config);
        engine.load(&QUrl::from(MAIN_QML));
    }
    let signalled = quit_on_signals();
    let code = app
        .as_mut()
        .map(|app| app.exec())
        .ok_or_else(|| anyhow::anyhow!("cannot create the Qt application"))?;
    // Destroys the window and its backend, which stops a run still going and waits for it.
    drop(engine);
    if signalled.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(crate::cli::EXIT_INTERRUPTED);
    }
    Ok(code)
}

/// SIGINT, SIGTERM and SIGHUP close the window as its close button does: a run in
/// progress is stopped on every node and recorded as interrupted, and wbackup exits 130.
/// The returned flag tells that a signal did it.
fn quit_on_signals() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let signalled = std::sync::Arc::new(AtomicBool::new(false));
    let flag = signalled.clone();
    let watcher = std::thread::Builder::new()
        .name("wbackup-signals".into())
        .spawn(move || {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(rt) = crate::runtime::current_thread() else {
                return;
            };
            rt.block_on(async {
                let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                    signal(SignalKind::hangup()),
                ) else {
                    return;
                };
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                    _ = hup.recv() => {}
                }
                flag.store(true, Ordering::SeqCst);
                // Qt 6 posts the quit to the event loop's thread.
                native::quit_application();
            });
        });
    if watcher.is_err() {
        tracing::warn!("cannot watch for signals: SIGTERM or SIGHUP would end the window at once");
    }
    signalled
}
