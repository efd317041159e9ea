//! What the window remembers between starts: its size, its position and the view (tab)
//! that was showing, so that it opens as the user left it.
//!
//! It is per-user state, not configuration: one small JSON file in the XDG state folder
//! (`$XDG_STATE_HOME/wbackup/window.json`, else `~/.local/state/wbackup/window.json`),
//! private like everything else wbackup writes. A missing, unreadable or nonsensical file
//! means "nothing remembered": the window opens at its default size and never fails for
//! it. Whether a remembered position is still on a screen is decided by the window, which
//! knows the screens; this side only reads and writes.
//!
//! `WindowMemory` (QML) reads the file when it is created and writes it when the window
//! saves (on closing, and when the application quits).

#[cxx_qt::bridge]
pub mod qobject {
    unsafe extern "C++" {
        include!("cxx-qt-lib/qstring.h");
        type QString = cxx_qt_lib::QString;
    }

    #[auto_cxx_name]
    extern "RustQt" {
        #[qobject]
        #[qml_element]
        /// Whether a size was remembered (false on a first start).
        #[qproperty(bool, known, READ, CONSTANT)]
        /// Whether a position was remembered (`left`, `top`).
        #[qproperty(bool, positioned, READ, CONSTANT)]
        #[qproperty(i32, left, READ, CONSTANT)]
        #[qproperty(i32, top, READ, CONSTANT)]
        #[qproperty(i32, width, READ, CONSTANT)]
        #[qproperty(i32, height, READ, CONSTANT)]
        #[qproperty(bool, maximized, READ, CONSTANT)]
        /// The view that was showing ("log", "plan", "history", "copies", "restore"), or "".
        #[qproperty(QString, view, READ, CONSTANT)]
        type WindowMemory = super::MemoryRust;
    }

    #[auto_cxx_name]
    unsafe extern "RustQt" {
        /// Remembers this position, size and view for the next start. False, with a
        /// warning, when it cannot be written.
        #[qinvokable]
        fn save(
            self: &WindowMemory,
            left: i32,
            top: i32,
            width: i32,
            height: i32,
            view: &QString,
        ) -> bool;

        /// Remembers a maximized window showing `view`: its normal size and position
        /// stay the ones remembered before (or none).
        #[qinvokable]
        fn save_maximized(self: &WindowMemory, view: &QString) -> bool;

        /// The file it reads and writes (for the README and tests).
        #[qinvokable]
        fn file(self: &WindowMemory) -> QString;
    }
}

use cxx_qt_lib::QString;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Sizes beyond this are not a window anyone had: the file is ignored.
const MAX_SIDE: i32 = 32_000;

/// Main.qml's size when nothing is remembered (kept for a maximized first start).
const DEFAULT_SIZE: (i32, i32) = (1180, 780);

/// What one start leaves for the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    /// The top-left corner on the virtual desktop, when the platform tells it (Wayland
    /// does not; then there is none).
    #[serde(default)]
    pub position: Option<(i32, i32)>,
    pub width: i32,
    pub height: i32,
    #[serde(default)]
    pub maximized: bool,
    #[serde(default)]
    pub view: String,
}

impl Remembered {
    /// Whether a window could have had this geometry.
    fn sensible(&self) -> bool {
        let side = 1..=MAX_SIDE;
        let coordinate = -MAX_SIDE..=MAX_SIDE;
        side.contains(&self.width)
            && side.contains(&self.height)
            && self
                .position
                .is_none_or(|(x, y)| coordinate.contains(&x) && coordinate.contains(&y))
            && self.view.len() <= 32
    }
}

/// `$XDG_STATE_HOME/wbackup/window.json`, else `~/.local/state/wbackup/window.json`;
/// None without a home directory.
pub fn state_file() -> Option<PathBuf> {
    state_file_in(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
}

/// [`state_file`] for these values of `XDG_STATE_HOME` and `HOME` (a relative
/// `XDG_STATE_HOME` is ignored, as the XDG rules say).
fn state_file_in(xdg_state: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let base = xdg_state
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            home.filter(|h| !h.is_empty())
                .map(|h| Path::new(&h).join(".local/state"))
        })?;
    Some(base.join("wbackup").join("window.json"))
}

/// What the file at `path` remembers; None when there is no file or it makes no sense
/// (a warning then: the window opens at its defaults).
pub fn load(path: &Path) -> Option<Remembered> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(
                "cannot read the window's size and position from {}: {e}",
                path.display()
            );
            return None;
        }
    };
    match serde_json::from_str::<Remembered>(&text) {
        Ok(r) if r.sensible() => Some(r),
        Ok(_) | Err(_) => {
            tracing::warn!(
                "{} does not hold a window's size and position: the window opens at its defaults",
                path.display()
            );
            None
        }
    }
}

/// Writes `what` to `path` (through a temporary file and a rename, so a crash leaves the
/// old file or the new one), creating its folder private (0700) and the file 0600.
pub fn save(path: &Path, what: &Remembered) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        crate::logbook::private_dir(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(serde_json::to_string_pretty(what)?.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The QObject's state: what was remembered when it was created.
pub struct MemoryRust {
    file: Option<PathBuf>,
    known: bool,
    positioned: bool,
    left: i32,
    top: i32,
    width: i32,
    height: i32,
    maximized: bool,
    view: QString,
}

impl Default for MemoryRust {
    fn default() -> Self {
        let file = state_file();
        let found = file.as_deref().and_then(load);
        let (left, top) = found.as_ref().and_then(|r| r.position).unwrap_or((0, 0));
        MemoryRust {
            known: found.is_some(),
            positioned: found.as_ref().is_some_and(|r| r.position.is_some()),
            left,
            top,
            width: found.as_ref().map_or(0, |r| r.width),
            height: found.as_ref().map_or(0, |r| r.height),
            maximized: found.as_ref().is_some_and(|r| r.maximized),
            view: QString::from(found.as_ref().map_or("", |r| r.view.as_str())),
            file,
        }
    }
}

impl qobject::WindowMemory {
    fn save(&self, left: i32, top: i32, width: i32, height: i32, view: &QString) -> bool {
        self.write(Remembered {
            position: Some((left, top)),
            width,
            height,
            maximized: false,
            view: String::from(view),
        })
    }

    fn save_maximized(&self, view: &QString) -> bool {
        use cxx_qt::CxxQtType;
        let rust = self.rust();
        self.write(Remembered {
            position: rust.positioned.then_some((rust.left, rust.top)),
            width: if rust.known {
                rust.width
            } else {
                DEFAULT_SIZE.0
            },
            height: if rust.known {
                rust.height
            } else {
                DEFAULT_SIZE.1
            },
            maximized: true,
            view: String::from(view),
        })
    }

    fn write(&self, what: Remembered) -> bool {
        use cxx_qt::CxxQtType;
        let Some(file) = self.rust().file.as_deref() else {
            return false;
        };
        if !what.sensible() {
            return false;
        }
        match save(file, &what) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(
                    "cannot remember the window's size and position in {}: {e}",
                    file.display()
                );
                false
            }
        }
    }

    fn file(&self) -> QString {
        use cxx_qt::CxxQtType;
        let file = self
            .rust()
            .file
            .as_deref()
            .map(|f| f.to_string_lossy().into_owned());
        QString::from(file.as_deref().unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Remembered {
        Remembered {
            position: Some((40, -20)),
            width: 900,
            height: 640,
            maximized: false,
            view: "history".into(),
        }
    }

    #[test]
    fn what_is_saved_is_read_back_from_a_private_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/wbackup/window.json");
        assert_eq!(
            load(&path),
            None,
            "nothing remembered before the first save"
        );
        save(&path, &sample()).unwrap();
        assert_eq!(load(&path), Some(sample()));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        // A second save replaces the first, leaving no temporary file behind.
        let maximized = Remembered {
            position: None,
            maximized: true,
            ..sample()
        };
        save(&path, &maximized).unwrap();
        assert_eq!(load(&path), Some(maximized));
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn the_file_is_in_the_xdg_state_folder() {
        let at = |xdg: Option<&str>, home: Option<&str>| {
            state_file_in(xdg.map(Into::into), home.map(Into::into))
        };
        assert_eq!(
            at(Some("/s"), Some("/home/a")),
            Some(PathBuf::from("/s/wbackup/window.json"))
        );
        assert_eq!(
            at(None, Some("/home/a")),
            Some(PathBuf::from("/home/a/.local/state/wbackup/window.json"))
        );
        assert_eq!(
            at(Some("relative"), Some("/home/a")),
            Some(PathBuf::from("/home/a/.local/state/wbackup/window.json"))
        );
        assert_eq!(at(None, None), None);
        assert_eq!(at(None, Some("")), None);
    }

    #[test]
    fn a_broken_or_absurd_file_is_nothing_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("window.json");
        for text in [
            "",
            "not json",
            r#"{"width": 900}"#,
            r#"{"width": 0, "height": 600}"#,
            r#"{"width": 900, "height": 99999999}"#,
            r#"{"width": 900, "height": 600, "position": [1, 2147483647]}"#,
            r#"{"width": -5, "height": 600}"#,
        ] {
            std::fs::write(&path, text).unwrap();
            assert_eq!(load(&path), None, "{text}");
        }
        std::fs::write(&path, r#"{"width": 900, "height": 600}"#).unwrap();
        assert_eq!(
            load(&path),
            Some(Remembered {
                position: None,
                width: 900,
                height: 600,
                maximized: false,
                view: String::new()
            }),
            "an older or hand-written file without the optional fields is read"
        );
    }
}
