//! The desktop window: a QML front end bound to a Rust QObject backend. It consumes the
//! engine's event stream like the terminal printer does and holds no backup logic.
//!
//! `bridge` is the QObject (properties, invokables, the log list model); `state` and
//! `log` are the plain-Rust state it renders; `intake` carries events from the run's
//! threads to the Qt thread in batches; `native` holds the few Qt calls cxx-qt-lib lacks.
pub mod bridge;
pub mod demo;
pub mod intake;
pub mod log;
pub mod native;
pub mod state;

use cxx_qt_lib::{QGuiApplication, QQmlApplicationEngine, QUrl};

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

/// Opens the window and runs the Qt event loop until it closes.
pub fn run_window(config: Option<&std::path::Path>) -> anyhow::Result<i32> {
    prepare_environment();
    bridge::set_startup_config(config);
    let mut app = QGuiApplication::new();
    if !native::set_window_icon() {
        tracing::warn!(
            "the window icon cannot be drawn: Qt's SVG plugin is missing (apt install libqt6svg6)"
        );
    }
    let mut engine = new_engine();
    if let Some(engine) = engine.as_mut() {
        engine.load(&QUrl::from(MAIN_QML));
    }
    let code = app
        .as_mut()
        .map(|app| app.exec())
        .ok_or_else(|| anyhow::anyhow!("cannot create the Qt application"))?;
    bridge::stop_runs_and_wait();
    Ok(code)
}
