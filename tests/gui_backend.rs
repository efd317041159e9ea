//! The window's backend QObject without a display: synthetic engine events go in through
//! its intake (the path the engine uses), the Qt event loop is pumped, and the host rows,
//! the log model, the failure summary and the run controls are checked.
//!
//! One Qt application per process, so this is a `harness = false` test: `main` runs each
//! check in order and panics on the first failure.

use cxx_qt_lib::{QCoreApplication, QModelIndex, QString};
use serde_json::Value;
use std::pin::Pin;
use std::time::{Duration, Instant};
use wbackup::engine::events::{Event, Stream};
use wbackup::gui::bridge::qobject::Backend;
use wbackup::gui::demo::{self, Script};
use wbackup::plan::Plan;

const CONFIG: &str = r#"
orchestrator = "laptop"
base_dir = "~/backup"
[nodes.laptop]
paths = ["~/Documents"]
[nodes.home]
addresses = ["192.168.1.10", "home.example.org"]
paths = ["~/"]
[nodes.nas]
addresses = ["nas.lan"]
"#;

struct Fixture {
    app: cxx::UniquePtr<QCoreApplication>,
    dir: tempfile::TempDir,
}

impl Fixture {
    /// Runs the event loop until `done` holds (the backend's queued batches arrive).
    fn pump_until(&self, backend: Pin<&mut Backend>, what: &str, done: impl Fn(&Backend) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let backend = backend.into_ref();
        while !done(&backend) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            self.app.process_events();
            std::thread::yield_now();
        }
    }

    fn feed(&self, mut backend: Pin<&mut Backend>, events: Vec<Event>) {
        let intake = backend.as_ref().intake();
        // From another thread, as the engine does.
        let feeder = std::thread::spawn(move || {
            for e in events {
                intake.push(e);
            }
        });
        while !feeder.is_finished() {
            self.app.process_events();
        }
        feeder.join().expect("feeder thread");
        // Whatever the last push queued.
        self.app.process_events();
        let _ = backend.as_mut();
    }
}

fn hosts(b: &Backend) -> Vec<Value> {
    serde_json::from_str::<Value>(&String::from(b.hosts_json()))
        .expect("hosts json")
        .as_array()
        .expect("array")
        .clone()
}

fn host<'a>(hosts: &'a [Value], name: &str) -> &'a Value {
    hosts
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no host {name}"))
}

fn rows(b: &Backend) -> i32 {
    b.row_count(&QModelIndex::default())
}

fn config() -> wbackup::config::Config {
    wbackup::config::load(None).expect("the test configuration loads")
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = dir.path().join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    std::fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    std::fs::write(dir.path().join("config.toml"), CONFIG).unwrap();
    std::fs::create_dir_all(dir.path().join("Documents")).unwrap();
    std::fs::write(dir.path().join("Documents/note.txt"), "hello").unwrap();
    // Before any thread starts.
    std::env::set_var("XDG_RUNTIME_DIR", &runtime);
    std::env::set_var("HOME", dir.path());
    std::env::set_var("WBACKUP_CONFIG", dir.path().join("config.toml"));
    std::env::set_var("QT_QPA_PLATFORM", "offscreen");

    let fx = Fixture {
        app: QCoreApplication::new(),
        dir,
    };
    let mut backend = wbackup::gui::native::new_backend();
    let mut b = backend.pin_mut();

    check("opens the configured topology", || {
        assert!(*b.can_start(), "Backup all is possible with a valid config");
        assert!(!*b.running());
        assert_eq!(String::from(b.config_note()), "");
        let h = hosts(&b);
        let roles: Vec<&str> = h.iter().map(|h| h["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["orchestrator", "remote", "storage"]);
        assert_eq!(host(&h, "laptop")["route"], "local");
        assert_eq!(host(&h, "home")["state"], "idle");
        let plan = String::from(b.plan_text());
        assert!(plan.contains("backup laptop"), "plan preview: {plan}");
    });

    check("an empty password starts nothing", || {
        assert!(!b
            .as_mut()
            .backup_all(&QString::from(""), &QString::from("")));
        assert!(!*b.running());
        assert!(*b.can_start());
    });

    let config = config();
    let plan = Plan::build(&config, &[]).unwrap();
    let script = Script {
        failing_backup: Some("home".into()),
        unreachable: Some("nas".into()),
        stop_after_steps: None,
    };
    let events = demo::run_events(&config, &plan, &script);
    let line_count = events
        .iter()
        .filter(|e| matches!(e, Event::Line { .. }))
        .count();
    let home_backup = plan
        .steps
        .iter()
        .find(|s| s.node == "home" && s.kind == wbackup::plan::StepKind::Backup)
        .unwrap()
        .id;

    check(
        "a run in progress disables Backup all and shows progress",
        || {
            let pause = events
            .iter()
            .position(|e| matches!(e, Event::Progress { step, done: 512, .. } if *step == home_backup))
            .unwrap();
            fx.feed(b.as_mut(), events[..=pause].to_vec());
            fx.pump_until(b.as_mut(), "the run to start", |b| *b.running());
            assert!(!*b.can_start(), "no second run while one runs");
            let h = hosts(&b);
            assert_eq!(host(&h, "home")["state"], "running");
            assert_eq!(host(&h, "home")["step"], "backup home");
            assert_eq!(host(&h, "home")["progress"], 0.5);
            assert_eq!(host(&h, "home")["address"], "home.example.org");
            assert_eq!(host(&h, "home")["route"], "public");
            assert_eq!(host(&h, "nas")["state"], "unreachable");
            assert_eq!(host(&h, "nas")["tried"], serde_json::json!(["nas.lan"]));
            fx.feed(b.as_mut(), events[pause + 1..].to_vec());
            fx.pump_until(b.as_mut(), "the run to end", |b| !*b.running());
            assert!(*b.can_start());
        },
    );

    check(
        "host rows after a run with a failure and an unreachable node",
        || {
            let h = hosts(&b);
            assert_eq!(host(&h, "laptop")["state"], "passed");
            assert_eq!(host(&h, "home")["state"], "failed");
            assert_eq!(host(&h, "home")["lastResult"], "failed");
            assert_ne!(host(&h, "home")["lastTime"], "");
            assert_eq!(host(&h, "nas")["state"], "unreachable");
            assert_eq!(host(&h, "nas")["lastResult"], "unreachable");
            assert!(String::from(b.status_text()).contains("2 steps failed"));
        },
    );

    check(
        "the failure summary names node, step, exit code and stderr",
        || {
            assert_eq!(*b.failure_count(), 2);
            let f: Vec<Value> = serde_json::from_str(&String::from(b.failures_json())).unwrap();
            let home = f.iter().find(|f| f["node"] == "home").expect("home failed");
            assert_eq!(home["title"], "backup home");
            assert_eq!(home["exitCode"], 3);
            assert_eq!(home["step"], home_backup);
            let tail = home["stderrTail"].as_array().unwrap();
            assert!(tail
                .last()
                .unwrap()
                .as_str()
                .unwrap()
                .contains("could not be read"));
            let nas = f.iter().find(|f| f["node"] == "nas").expect("nas failed");
            assert!(nas["message"].as_str().unwrap().contains("unreachable"));
        },
    );

    check(
        "every line is a row, tagged with node and step, stderr marked",
        || {
            assert_eq!(rows(&b) as usize, line_count);
            let all: Vec<String> = (0..line_count).map(|r| b.log_row(r).unwrap()).collect();
            assert!(all
                .iter()
                .any(|r| r.starts_with("home · backup|err|error: open")));
            assert!(all.iter().any(|r| r.starts_with("laptop · check|out|")));
        },
    );

    check("choosing a failure shows that step's lines only", || {
        b.as_mut().show_step(home_backup as i32);
        let n = rows(&b) as usize;
        let expected = events
            .iter()
            .filter(|e| matches!(e, Event::Line { step, .. } if *step == home_backup))
            .count();
        assert_eq!(n, expected);
        assert!((0..n).all(|r| b.log_row(r).unwrap().starts_with("home · backup|")));
        assert_eq!(*b.filter_step(), home_backup as i32);
        assert!(String::from(b.filter_text()).contains("backup home"));
    });

    check(
        "clicking a host filters by node, again shows all; search narrows",
        || {
            b.as_mut().toggle_node_filter(&QString::from("nas"));
            assert_eq!(String::from(b.filter_node()), "nas");
            let n = rows(&b) as usize;
            assert!(n > 0);
            assert!((0..n).all(|r| b.log_row(r).unwrap().starts_with("nas")));
            b.as_mut().toggle_node_filter(&QString::from("nas"));
            assert_eq!(rows(&b) as usize, line_count);
            b.as_mut().set_search(&QString::from("CONNECTION REFUSED"));
            assert_eq!(rows(&b), 1);
            b.as_mut().set_search(&QString::from(""));
            assert_eq!(rows(&b) as usize, line_count);
        },
    );

    check("the log keeps a bounded number of lines", || {
        b.as_mut().set_log_capacity(1000);
        let mut flood = vec![Event::RunStarted {
            run_id: "flood".into(),
            log_path: None,
            steps: 1,
        }];
        flood.extend(demo::lines("laptop", 5000));
        flood.push(Event::Line {
            step: 0,
            node: "laptop".into(),
            stream: Stream::Stdout,
            text: "the very last line".into(),
        });
        fx.feed(b.as_mut(), flood);
        fx.pump_until(b.as_mut(), "5001 lines", |b| b.log_totals().0 == 5001);
        assert_eq!(rows(&b), 1000);
        assert_eq!(b.log_totals(), (5001, 1000));
        assert!(b.log_row(999).unwrap().ends_with("the very last line"));
        assert!(String::from(b.log_counts()).contains("5,001 lines"));
        // The flood never finished: end it so the next check starts idle.
        fx.feed(
            b.as_mut(),
            vec![Event::RunFinished {
                status: wbackup::engine::events::RunStatus::Interrupted,
                summary_path: None,
            }],
        );
        fx.pump_until(b.as_mut(), "the flood to end", |b| !*b.running());
    });

    check("Backup all runs the real plan; Stop interrupts it", || {
        // Only the local node, so the run needs no ssh.
        let local = wbackup::config::parse(
            &fx.dir.path().join("local.toml"),
            "orchestrator = \"laptop\"\nbase_dir = \"~/backup\"\n[nodes.laptop]\npaths = [\"~/Documents\"]\n",
        )
        .unwrap();
        b.as_mut().open(local);
        // No repository yet: the password is asked twice, and must match.
        assert!(
            *b.confirm_password(),
            "a first run asks for the password twice"
        );
        let pw = QString::from("correct horse");
        assert!(!b.as_mut().backup_all(&pw, &QString::from("correct hose")));
        assert!(!*b.running());
        let status = String::from(b.status_text());
        assert!(status.contains("differ"), "status: {status}");
        assert!(b.as_mut().backup_all(&pw, &pw));
        assert!(*b.running());
        assert!(!*b.can_start());
        assert!(
            !b.as_mut()
                .backup_all(&QString::from("again"), &QString::from("again")),
            "one run at a time"
        );
        fx.pump_until(b.as_mut(), "the run to pass", |b| !*b.running());
        let status = String::from(b.status_text());
        assert!(status.contains("passed"), "status: {status}");
        assert_eq!(hosts(&b)[0]["state"], "passed");
        assert!(!String::from(b.log_path()).is_empty(), "the run's log file");
        let history: Vec<Value> = serde_json::from_str(&String::from(b.history_json())).unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0]["status"], "passed");
        assert!(
            !*b.confirm_password(),
            "once the repository exists, restic checks the password: asked once"
        );

        assert!(b.as_mut().backup_all(&pw, &QString::default()));
        b.as_mut().stop();
        assert!(*b.stopping());
        fx.pump_until(b.as_mut(), "the stopped run to end", |b| !*b.running());
        assert!(!*b.stopping());
        let status = String::from(b.status_text());
        assert!(status.contains("stopped"), "status: {status}");
        assert!(*b.can_start());
    });

    check(
        "the built-in default shows a note and saves once, never overwriting",
        || {
            let path = fx.dir.path().join("xdg/wbackup/config.toml");
            b.as_mut()
                .open(wbackup::config::builtin_default(path.clone()));
            assert!(String::from(b.config_note()).contains("built-in default"));
            assert!(*b.can_save_config());
            assert!(b.as_mut().save_config());
            let saved = std::fs::read_to_string(&path).unwrap();
            assert!(saved.starts_with("# wbackup configuration"));
            assert_eq!(String::from(b.config_note()), "", "now on the saved file");
            assert!(!*b.can_save_config());
            assert!(!b.as_mut().save_config(), "nothing to save any more");
            // Saving again from a built-in default must not overwrite what the user has.
            std::fs::write(&path, "# edited by hand\n").unwrap();
            b.as_mut()
                .open(wbackup::config::builtin_default(path.clone()));
            assert!(!b.as_mut().save_config());
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                "# edited by hand\n"
            );
            assert!(String::from(b.status_text()).contains("cannot save"));
        },
    );

    check(
        "closing the window stops a run and leaves no restic lock",
        || {
            let local = wbackup::config::parse(
            &fx.dir.path().join("local.toml"),
            "orchestrator = \"laptop\"\nbase_dir = \"~/backup\"\n[nodes.laptop]\npaths = [\"~/Documents\"]\n",
        )
        .unwrap();
            b.as_mut().open(local);
            let pw = QString::from("correct horse");
            assert!(b.as_mut().backup_all(&pw, &pw));
            // What run_window does once the event loop has returned: no events are pumped.
            wbackup::gui::bridge::stop_runs_and_wait();
            let locks = fx.dir.path().join("backup/laptop/restic/locks");
            let left: Vec<_> = std::fs::read_dir(&locks)
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            assert!(left.is_empty(), "restic locks left behind: {left:?}");
        },
    );

    drop(backend);
    drop(fx);
    println!("gui_backend: all checks passed");
}

fn check(name: &str, f: impl FnOnce()) {
    print!("test {name} ... ");
    f();
    println!("ok");
}
