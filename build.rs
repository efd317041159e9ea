//! Builds the Qt side: cxx-qt generates the C++ for the QObject backend in `src/gui/`
//! and packs the QML files into a module the binary loads from `qrc:/`. It also names
//! the commit being built (`WBACKUP_COMMIT`), so `wbackup --version` says which source a
//! binary, or an installed package, came from.
use cxx_qt_build::{CxxQtBuilder, QmlModule};
use std::path::{Path, PathBuf};
use std::process::Command;

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
    "qml/PreflightQuestion.qml",
    "qml/ReminderBanner.qml",
    "qml/Tones.qml",
    "qml/FocusRing.qml",
    "qml/SetupView.qml",
];

fn main() {
    commit();
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
            "src/gui/memory.rs",
            "src/gui/setup.rs",
        ])
        // The window's icon, drawn by Qt's SVG plugin (libqt6svg6).
        .qrc_resources(["assets/wbackup.svg"])
        .build();
}

/// Sets `WBACKUP_COMMIT` to the short hash of HEAD, or "unknown commit" when the source
/// is not this crate's own git checkout (a tarball, or a crate unpacked inside some other
/// repository): a build never fails for want of git.
fn commit() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let ours = git(&dir, &["rev-parse", "--show-toplevel"])
        .is_some_and(|top| Path::new(&top).canonicalize().ok() == dir.canonicalize().ok());
    let hash = ours
        .then(|| git(&dir, &["rev-parse", "--short", "HEAD"]))
        .flatten();
    if hash.is_some() {
        watch_head(&dir);
    }
    let hash = hash.unwrap_or_else(|| "unknown commit".to_owned());
    println!("cargo::rustc-env=WBACKUP_COMMIT={hash}");
}

/// Reruns this script when HEAD moves: HEAD itself (a checkout), the branch it points at
/// (a commit) and packed-refs (where git may move that branch). A worktree keeps HEAD in
/// its own git dir and the branches in the shared one. Only files that exist are named:
/// cargo reruns a script on every build while a named file is missing.
fn watch_head(dir: &Path) {
    let git_dir = git(dir, &["rev-parse", "--git-dir"]).map(|d| dir.join(d));
    let common = git(dir, &["rev-parse", "--git-common-dir"]).map(|d| dir.join(d));
    let branch = git(dir, &["symbolic-ref", "-q", "HEAD"]);
    let mut files = Vec::new();
    if let Some(git_dir) = &git_dir {
        files.push(git_dir.join("HEAD"));
    }
    if let Some(common) = &common {
        files.push(common.join("packed-refs"));
        if let Some(branch) = &branch {
            files.push(common.join(branch));
        }
    }
    for f in files.iter().filter(|f| f.exists()) {
        println!("cargo::rerun-if-changed={}", f.display());
    }
}

/// One git command's trimmed output, or None when git is missing or fails.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_owned())
}
