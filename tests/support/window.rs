//! One harness for the window's tests: the real Main.qml wrapped in a QML driver (its
//! checks, `support::qml_driver`), in a home of its own.
//!
//! Qt allows one application per process, and a window test often needs several (a
//! window started again, a dark palette, a lab run after a synthetic one), so each
//! window runs in a child process of the test binary (`harness = false`): the parent
//! makes the home and says which phase to run; the child, seeing the phase in its
//! environment, opens the window and exits with its checks' status. Every window gets
//! `HOME`, `XDG_STATE_HOME` and a private `XDG_RUNTIME_DIR` in its home, so nothing of
//! the person running the tests is read or written; offscreen by default, or on an Xvfb
//! server of its own.
//!
//! ```ignore
//! fn main() {
//!     if let Some(phase) = support::window::phase() {
//!         std::process::exit(support::window::open(DRIVER, |_backend| {}));
//!     }
//!     support::window::Window::new(CONFIG).run("only");
//! }
//! ```

use cxx_qt_lib::{QByteArray, QGuiApplication, QString, QUrl};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use wbackup::gui::bridge::qobject::Backend;

/// Names the phase a child process runs.
const PHASE: &str = "WBACKUP_WINDOW_TEST_PHASE";

/// The window's backend, to queue work on its Qt thread.
pub type BackendThread = cxx_qt::CxxQtThread<Backend>;

/// A home for windows: a configuration, `Documents/note.txt`, a runtime folder (0700)
/// and a state folder.
pub struct Window {
    dir: tempfile::TempDir,
    config: PathBuf,
    env: Vec<(String, String)>,
    xvfb: bool,
}

impl Window {
    /// A home whose `config.toml` holds `config`.
    pub fn new(config: &str) -> Window {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, config).unwrap();
        Window::home_in(dir, path)
    }

    /// A home for a configuration written elsewhere (a lab's).
    pub fn with_config(config: &Path) -> Window {
        Window::home_in(tempfile::tempdir().expect("temp dir"), config.to_path_buf())
    }

    fn home_in(dir: tempfile::TempDir, config: PathBuf) -> Window {
        let runtime = dir.path().join("runtime");
        std::fs::create_dir(&runtime).unwrap();
        std::fs::set_permissions(
            &runtime,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("Documents")).unwrap();
        std::fs::write(dir.path().join("Documents/note.txt"), "hello").unwrap();
        Window {
            dir,
            config,
            env: vec![],
            xvfb: false,
        }
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> &Path {
        &self.config
    }

    /// Where the window keeps its size, position and view.
    pub fn state_file(&self) -> PathBuf {
        self.home().join("state/wbackup/window.json")
    }

    /// A variable for the windows of this home (after the harness's own, so it wins).
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Window {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Windows on an Xvfb server of their own (the xcb platform), not offscreen.
    pub fn xvfb(mut self) -> Window {
        self.xvfb = true;
        self
    }

    /// Runs `phase` in a child process of this test binary, with `env` on top; its
    /// checks must pass.
    pub fn run_with(&self, phase: &str, env: &[(&str, &str)]) {
        let home = self.home();
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.env(PHASE, phase)
            .env("HOME", home)
            .env("XDG_STATE_HOME", home.join("state"))
            .env("XDG_RUNTIME_DIR", home.join("runtime"))
            .env("WBACKUP_CONFIG", &self.config)
            .env("QT_QPA_PLATFORM", "offscreen")
            .env_remove("WBACKUP_PALETTE")
            .env_remove("QT_SCALE_FACTOR");
        let _server = self.xvfb.then(|| {
            let x = Xvfb::start();
            cmd.env("QT_QPA_PLATFORM", "xcb").env("DISPLAY", &x.name);
            x
        });
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(env.iter().copied());
        let status = cmd.status().expect("the test binary starts again");
        assert!(
            status.success(),
            "window phase {phase} failed: {status} (see its FAILED lines above)"
        );
    }

    pub fn run(&self, phase: &str) {
        self.run_with(phase, &[])
    }
}

/// The phase this process runs, when it is a window's child process.
pub fn phase() -> Option<String> {
    std::env::var(PHASE).ok()
}

/// The configuration file of this window's home (in a child process).
pub fn config_file() -> PathBuf {
    PathBuf::from(std::env::var_os("WBACKUP_CONFIG").expect("set by the parent"))
}

/// In a child process: opens the real window wrapped in `driver` (a QML document whose
/// root is `Main`, with `@CHECKS@`), hands its backend to `start` (to feed it events from
/// another thread, say), runs the event loop and returns its exit status (the driver's
/// `finish()`: 0 when every check passed; 2 when the window did not load).
pub fn open(driver: &str, start: impl FnOnce(BackendThread)) -> i32 {
    let config = config_file();
    wbackup::gui::prepare_environment();
    let mut app = QGuiApplication::new();
    wbackup::gui::palette::apply();
    let mut engine = wbackup::gui::new_engine();
    wbackup::gui::set_config_file(engine.pin_mut(), Some(&config));
    let url = QUrl::from_user_input(
        &QString::from(
            &*std::env::temp_dir()
                .join(format!("{}.qml", phase().unwrap_or_default()))
                .to_string_lossy(),
        ),
        &QString::default(),
    );
    let source = super::qml_driver(driver);
    engine
        .as_mut()
        .expect("engine")
        .load_data(&QByteArray::from(source.as_str()), &url);
    let Some(backend) = wbackup::gui::native::window_backend(&engine) else {
        eprintln!("the window did not load (see the QML errors above)");
        return 2;
    };
    start(backend);
    app.as_mut().expect("app").exec()
}

/// The backend's event intake, asked for on its Qt thread (answers once the event loop
/// runs: call it from another thread).
pub fn intake(backend: &BackendThread) -> Option<std::sync::Arc<wbackup::gui::intake::Intake>> {
    let (tx, rx) = std::sync::mpsc::channel();
    backend
        .queue(move |b| {
            let _ = tx.send(b.intake());
        })
        .ok()?;
    rx.recv().ok()
}

/// Waits until the driver sets the log's filter to `word` (how a driver asks its feeder
/// for the next stage); false when the window is gone.
pub fn asked(backend: &BackendThread, word: &str) -> bool {
    loop {
        let (tx, rx) = std::sync::mpsc::channel();
        let w = word.to_string();
        if backend
            .queue(move |b| {
                let _ = tx.send(b.filter_text().to_string() == w);
            })
            .is_err()
        {
            return false;
        }
        match rx.recv() {
            Ok(true) => return true,
            Ok(false) => std::thread::sleep(std::time::Duration::from_millis(50)),
            Err(_) => return false,
        }
    }
}

/// An Xvfb server on a free display; killed on drop.
pub struct Xvfb {
    server: Child,
    pub name: String,
}

impl Xvfb {
    pub fn start() -> Xvfb {
        // -displayfd: Xvfb picks a free display and prints its number once it accepts
        // connections, so reading that line is the wait.
        let mut server = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x900x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is installed");
        let mut line = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("Xvfb prints its display");
        let name = format!(":{}", line.trim());
        assert!(name.len() > 1, "Xvfb did not start");
        Xvfb { server, name }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
