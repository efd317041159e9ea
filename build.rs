//! Builds the Qt side: cxx-qt generates the C++ for the QObject backend in `src/gui/`
//! and packs the QML files into a module the binary loads from `qrc:/`.
use cxx_qt_build::{CxxQtBuilder, QmlModule};

const QML: &[&str] = &[
    "qml/Main.qml",
    "qml/ConfigNote.qml",
    "qml/RunBar.qml",
    "qml/HostList.qml",
    "qml/FailureSummary.qml",
    "qml/LogPane.qml",
    "qml/PlanPreview.qml",
    "qml/HistoryList.qml",
    "qml/RestoreView.qml",
    "qml/CopiesView.qml",
    "qml/CopiesBanner.qml",
    "qml/ReminderBanner.qml",
];

fn main() {
    println!("cargo::rerun-if-changed=src/gui/native.h");
    println!("cargo::rerun-if-changed=src/gui/clipboard.h");
    CxxQtBuilder::new_qml_module(QmlModule::new("org.wbackup").qml_files(QML))
        .qt_module("Gui")
        .files([
            "src/gui/bridge.rs",
            "src/gui/rows.rs",
            "src/gui/native.rs",
            "src/gui/restore.rs",
            "src/gui/copies.rs",
        ])
        // The window's icon, drawn by Qt's SVG plugin (libqt6svg6).
        .qrc_resources(["assets/wbackup.svg"])
        .build();
}
