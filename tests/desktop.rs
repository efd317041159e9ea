//! wbackup on a desktop, over real D-Bus: a private `dbus-daemon` stands for both the
//! session and the system bus, and this test itself owns `org.freedesktop.Notifications`
//! and `org.freedesktop.login1` on it, recording every call, and the desktop portal's
//! `org.freedesktop.portal.Settings` (the colour scheme the window follows). Its `Inhibit` hands out one
//! end of a socket pair and keeps the other, which reads end-of-file once wbackup (and
//! every process that inherited it) has closed its copy: the lock released.
//!
//! Checked: the notification's words, urgency and timeout for a failed and a passed run;
//! the lock taken at a run's start, held during it and released at its end, for runs of
//! `wbackup run` that pass, fail and are interrupted, and for the window's runs (a
//! failure, a Stop) in a process that goes on living; the window notifies only when it
//! is not the active window; the window's palette is the portal's colour scheme (dark,
//! light, or Qt's own when there is no preference or no such setting).
//!
//! The window's part needs a Qt application, one per process: `harness = false`.

use cxx_qt_lib::{QCoreApplication, QString};
use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wbackup::desktop::Notification;
use zbus::zvariant::{OwnedFd, OwnedValue};

const PASSWORD: &str = "correct horse battery staple";

/// One `Notify` call as the server received it.
#[derive(Debug, Clone)]
struct Shown {
    app_name: String,
    app_icon: String,
    summary: String,
    body: String,
    urgency: Option<u8>,
    expire_timeout: i32,
}

struct Notifications {
    shown: Arc<Mutex<Vec<Shown>>>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Notifications {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: String,
        _replaces_id: u32,
        app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        hints: HashMap<String, OwnedValue>,
        expire_timeout: i32,
    ) -> u32 {
        let urgency = hints.get("urgency").and_then(|v| u8::try_from(v).ok());
        let mut shown = self.shown.lock().unwrap();
        shown.push(Shown {
            app_name,
            app_icon,
            summary,
            body,
            urgency,
            expire_timeout,
        });
        shown.len() as u32
    }
}

/// One `Inhibit` call: what was asked, and our end of the lock's socket pair.
struct Lock {
    what: String,
    who: String,
    mode: String,
    ours: UnixStream,
}

impl Lock {
    /// True once every copy of the end handed out is closed.
    fn released(&self) -> bool {
        let mut byte = [0u8; 1];
        matches!((&self.ours).read(&mut byte), Ok(0))
    }
}

struct Login1 {
    locks: Arc<Mutex<Vec<Lock>>>,
}

#[zbus::interface(name = "org.freedesktop.login1.Manager")]
impl Login1 {
    fn inhibit(
        &self,
        what: String,
        who: String,
        _why: String,
        mode: String,
    ) -> zbus::fdo::Result<OwnedFd> {
        let (ours, theirs) =
            UnixStream::pair().map_err(|e| zbus::fdo::Error::Failed(e.to_string()))?;
        ours.set_nonblocking(true)
            .map_err(|e| zbus::fdo::Error::Failed(e.to_string()))?;
        self.locks.lock().unwrap().push(Lock {
            what,
            who,
            mode,
            ours,
        });
        // Sent, then closed here: wbackup's copy is the only one left.
        Ok(OwnedFd::from(std::os::fd::OwnedFd::from(theirs)))
    }
}

/// The desktop portal's settings: the `color-scheme` it says (None: it has no such key).
struct Portal {
    scheme: Arc<Mutex<Option<u32>>>,
}

#[zbus::interface(name = "org.freedesktop.portal.Settings")]
impl Portal {
    /// As older portals answer: a variant holding a variant.
    fn read(&self, namespace: String, key: String) -> zbus::fdo::Result<OwnedValue> {
        let scheme = *self.scheme.lock().unwrap();
        match scheme {
            Some(n) if namespace == "org.freedesktop.appearance" && key == "color-scheme" => {
                OwnedValue::try_from(zbus::zvariant::Value::new(zbus::zvariant::Value::U32(n)))
                    .map_err(|e| zbus::fdo::Error::Failed(e.to_string()))
            }
            _ => Err(zbus::fdo::Error::Failed(format!(
                "no setting {namespace} {key}"
            ))),
        }
    }
}

struct Desk {
    dir: tempfile::TempDir,
    scheme: Arc<Mutex<Option<u32>>>,
    shown: Arc<Mutex<Vec<Shown>>>,
    locks: Arc<Mutex<Vec<Lock>>>,
    rt: tokio::runtime::Runtime,
    _server: zbus::Connection,
}

impl Desk {
    /// A one-node configuration backing up `source` into its own base_dir.
    fn config(&self, name: &str, source: &Path) -> PathBuf {
        let base = self.dir.path().join(format!("backup-{name}"));
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "[nodes.laptop]\nbase_dir = {:?}\npaths = [{:?}]\n",
                base.display().to_string(),
                source.display().to_string()
            ),
        )
        .unwrap();
        path
    }

    fn data(&self) -> PathBuf {
        let data = self.dir.path().join("Documents");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("note.txt"), "the only copy").unwrap();
        data
    }

    fn locks(&self) -> usize {
        self.locks.lock().unwrap().len()
    }

    /// Checks the newest lock was asked as a run's lock must be.
    fn assert_run_lock(&self, index: usize) {
        let locks = self.locks.lock().unwrap();
        let lock = &locks[index];
        assert_eq!(lock.what, "sleep:idle");
        assert_eq!(lock.who, "wbackup");
        assert_eq!(lock.mode, "block");
    }

    fn released(&self, index: usize) -> bool {
        self.locks.lock().unwrap()[index].released()
    }

    /// Waits (up to 10 s) until the lock `index` is released.
    fn wait_released(&self, index: usize, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.released(index) {
            assert!(
                Instant::now() < deadline,
                "{what}: the lock was never released"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `wbackup run` on this configuration; `during` is called once the lock is taken.
    /// Returns the exit status and checks the lock was held while the run went on.
    fn cli_run(&self, config: &Path, during: impl FnOnce(&Child)) -> Option<i32> {
        let password = self.dir.path().join("password");
        let before = self.locks();
        let mut child = Command::new(env!("CARGO_BIN_EXE_wbackup"))
            .arg("--config")
            .arg(config)
            .args(["run", "--no-verify", "--password-file"])
            .arg(&password)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.locks() == before {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the run ended without taking the lock"
            );
            assert!(Instant::now() < deadline, "no lock taken");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(self.locks(), before + 1, "one lock per run");
        self.assert_run_lock(before);
        during(&child);
        // While the run goes on, the lock is held.
        let taken = Instant::now();
        let status = loop {
            let released = self.released(before);
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if released {
                // A process closes its files a moment before it can be waited for.
                std::thread::sleep(Duration::from_millis(500));
                let ended = child.try_wait().unwrap();
                assert!(
                    ended.is_some(),
                    "the lock was released while the run went on ({:.1} s after it was taken)",
                    taken.elapsed().as_secs_f64()
                );
                break ended.unwrap();
            }
            assert!(Instant::now() < deadline, "the run did not end");
            std::thread::sleep(Duration::from_millis(10));
        };
        self.wait_released(before, "wbackup run");
        status.code()
    }
}

/// Starts a private bus; returns the daemon and its address.
fn private_bus() -> (Daemon, String) {
    let mut daemon = Command::new("dbus-daemon")
        .args(["--session", "--print-address", "--nofork", "--nopidfile"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbus-daemon is installed (scripts/install-deps.sh)");
    let mut address = String::new();
    std::io::BufReader::new(daemon.stdout.take().unwrap())
        .read_line(&mut address)
        .unwrap();
    let address = address.trim().to_string();
    assert!(!address.is_empty(), "dbus-daemon printed no address");
    (Daemon(daemon), address)
}

/// The private bus's daemon, ended when the test ends (passed or not).
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime_dir = dir.path().join("runtime");
    std::fs::create_dir(&runtime_dir).unwrap();
    std::fs::set_permissions(
        &runtime_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, format!("{PASSWORD}\n")).unwrap();
    std::fs::set_permissions(
        &password,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let (daemon, address) = private_bus();
    // Before any thread starts: wbackup (here and in its child processes) finds both
    // buses at the private one.
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &address);
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", &address);
    std::env::set_var("XDG_RUNTIME_DIR", &runtime_dir);
    std::env::set_var("HOME", dir.path());
    std::env::remove_var("WBACKUP_CONFIG");
    std::env::remove_var("WBACKUP_PALETTE");
    std::env::set_var("QT_QPA_PLATFORM", "offscreen");

    let shown = Arc::new(Mutex::new(vec![]));
    let locks = Arc::new(Mutex::new(vec![]));
    let scheme = Arc::new(Mutex::new(None));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(async {
            zbus::connection::Builder::address(address.as_str())?
                .name("org.freedesktop.Notifications")?
                .name("org.freedesktop.login1")?
                .name("org.freedesktop.portal.Desktop")?
                .serve_at(
                    "/org/freedesktop/Notifications",
                    Notifications {
                        shown: shown.clone(),
                    },
                )?
                .serve_at(
                    "/org/freedesktop/login1",
                    Login1 {
                        locks: locks.clone(),
                    },
                )?
                .serve_at(
                    "/org/freedesktop/portal/desktop",
                    Portal {
                        scheme: scheme.clone(),
                    },
                )?
                .build()
                .await
        })
        .expect("serving on the private bus");
    let desk = Desk {
        dir,
        scheme,
        shown,
        locks,
        rt,
        _server: server,
    };

    check("a failure's notification stays until dismissed", || {
        let note = Notification {
            summary: "Backup failed on home".into(),
            body: "backup home: the disk is full".into(),
            failed: true,
        };
        desk.rt.block_on(wbackup::desktop::notify(&note)).unwrap();
        let shown = desk.shown.lock().unwrap().pop().expect("Notify was called");
        assert_eq!(shown.app_name, "wbackup");
        assert_eq!(shown.app_icon, "wbackup");
        assert_eq!(shown.summary, "Backup failed on home");
        assert_eq!(shown.body, "backup home: the disk is full");
        assert_eq!(shown.urgency, Some(2), "critical");
        assert_eq!(shown.expire_timeout, 0, "never expires");
    });

    check(
        "the window's palette follows the portal's colour scheme",
        || {
            use wbackup::gui::palette::{wanted, Scheme};
            let say = |n: Option<u32>| *desk.scheme.lock().unwrap() = n;
            say(Some(1));
            assert_eq!(wanted(), Some(Scheme::Dark), "1 prefers dark");
            say(Some(2));
            assert_eq!(wanted(), Some(Scheme::Light), "2 prefers light");
            say(Some(0));
            assert_eq!(wanted(), None, "0: no preference, Qt's own palette");
            say(None);
            assert_eq!(wanted(), None, "no such setting: Qt's own palette");
        },
    );

    check("a pass's notification goes away by itself", || {
        let note = Notification {
            summary: "Backup passed".into(),
            body: "3 nodes backed up and copied.".into(),
            failed: false,
        };
        desk.rt.block_on(wbackup::desktop::notify(&note)).unwrap();
        let shown = desk.shown.lock().unwrap().pop().expect("Notify was called");
        assert_eq!(shown.app_name, "wbackup");
        assert_eq!(shown.summary, "Backup passed");
        assert_eq!(shown.urgency, Some(1), "normal");
        assert_eq!(shown.expire_timeout, -1, "the server's default");
    });

    let data = desk.data();
    let good = desk.config("good", &data);
    let bad = desk.config("bad", &desk.dir.path().join("missing"));

    check(
        "wbackup run holds the lock from start to end (passed)",
        || {
            assert_eq!(desk.cli_run(&good, |_| {}), Some(0));
        },
    );
    check("wbackup run releases the lock when it fails", || {
        assert_eq!(desk.cli_run(&bad, |_| {}), Some(1));
    });
    check("wbackup run releases the lock when interrupted", || {
        let code = desk.cli_run(&good, |child| {
            // Ctrl-C, as a person at the terminal would.
            // SAFETY: a signal to our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        });
        assert_eq!(code, Some(130));
    });
    assert!(
        desk.shown.lock().unwrap().is_empty(),
        "the command line shows no notification"
    );

    window_checks(&desk, &good, &bad);
    drop(daemon);
}

fn window_checks(desk: &Desk, good: &Path, bad: &Path) {
    let app = QCoreApplication::new();
    let pump_until = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            app.process_events();
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let pw = QString::from(PASSWORD);

    let mut backend = wbackup::gui::native::new_backend();
    let mut b = backend.pin_mut();
    check(
        "the window's failed run: lock released, failure notified while away",
        || {
            b.as_mut().load(&QString::from(bad.to_str().unwrap()));
            assert!(*b.can_start(), "{}", String::from(b.config_error()));
            b.as_mut().set_window_active(false);
            let before = desk.locks();
            assert!(b.as_mut().backup_all(&pw, &pw));
            pump_until("the lock", &|| desk.locks() > before);
            desk.assert_run_lock(before);
            assert!(!desk.released(before), "held while the run goes on");
            pump_until("the run's end", &|| !*b.running());
            desk.wait_released(before, "the window's failed run");
            let deadline = Instant::now() + Duration::from_secs(10);
            while desk.shown.lock().unwrap().is_empty() {
                assert!(Instant::now() < deadline, "no notification");
                std::thread::sleep(Duration::from_millis(20));
            }
            let shown = desk.shown.lock().unwrap().pop().unwrap();
            assert_eq!(shown.app_name, "wbackup");
            assert_eq!(shown.summary, "Backup failed on laptop");
            assert!(shown.body.starts_with("backup laptop: "), "{}", shown.body);
            assert_eq!(shown.urgency, Some(2));
            assert_eq!(shown.expire_timeout, 0);
        },
    );

    check("the window's stopped run releases the lock", || {
        b.as_mut().load(&QString::from(good.to_str().unwrap()));
        b.as_mut().set_window_active(true);
        let before = desk.locks();
        assert!(b.as_mut().backup_all(&pw, &pw));
        pump_until("the lock", &|| desk.locks() > before);
        b.as_mut().stop();
        pump_until("the run's end", &|| !*b.running());
        desk.wait_released(before, "the window's stopped run");
    });

    check(
        "the window's passed run while active: lock released, no notification",
        || {
            let before = desk.locks();
            assert!(b.as_mut().backup_all(&pw, &pw));
            pump_until("the run's end", &|| !*b.running());
            assert_eq!(desk.locks(), before + 1);
            desk.wait_released(before, "the window's passed run");
            assert!(
                String::from(b.status_text()).contains("passed"),
                "{}",
                String::from(b.status_text())
            );
            // Give a wrong notification the time to arrive.
            std::thread::sleep(Duration::from_millis(500));
            assert!(
                desk.shown.lock().unwrap().is_empty(),
                "the active window notifies nobody"
            );
        },
    );
    b.as_mut().stop_runs_and_wait();
}

fn check(name: &str, f: impl FnOnce()) {
    let started = Instant::now();
    f();
    println!("ok: {name} ({:.1} s)", started.elapsed().as_secs_f64());
}
