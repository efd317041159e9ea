//! Builds the Qt side: cxx-qt generates the C++ for the QObject backend in `src/gui/`
//! and packs the QML files into a module the binary loads from `qrc:/`.
use cxx_qt_build::{CxxQtBuilder, QmlModule};

fn main() {
    CxxQtBuilder::new_qml_module(QmlModule::new("org.wbackup").qml_files(["qml/Main.qml"]))
        .files(["src/gui/bridge.rs"])
        .build();
}
