//! The desktop window: a QML front end bound to a Rust QObject backend. It consumes the
//! engine's event stream like the terminal printer does and holds no backup logic.
pub mod bridge;

use cxx_qt_lib::{QGuiApplication, QQmlApplicationEngine, QUrl};

/// Opens the window and runs the Qt event loop until it closes.
pub fn run_window(_config: Option<&std::path::Path>) -> anyhow::Result<i32> {
    let mut app = QGuiApplication::new();
    let mut engine = QQmlApplicationEngine::new();
    if let Some(engine) = engine.as_mut() {
        engine.load(&QUrl::from("qrc:/qt/qml/org/wbackup/qml/Main.qml"));
    }
    let code = app.as_mut().map(|app| app.exec()).unwrap_or(1);
    Ok(code)
}
