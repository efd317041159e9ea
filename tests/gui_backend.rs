//! The window's backend QObject without a display: synthetic engine events go in through
//! its intake (the path the engine uses), the Qt event loop is pumped, and the host, failure
//! and history models, the log model and the run controls are checked against the events
//! that went in (not against words the synthetic run chose). Real local runs check Backup
//! all, Stop while restic runs, and closing the window during a run.
//!
//! One Qt application per process, so this is a `harness = false` test: `main` runs each
//! check in order and panics on the first failure.

use cxx_qt_lib::{QCoreApplication, QModelIndex, QString};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wbackup::engine::events::{Activity, Event, Outcome, Stream};
use wbackup::gui::bridge::qobject::Backend;
use wbackup::gui::demo::{self, Script};
use wbackup::gui::rows::{qobject::RowModel, Cell};
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

/// The row of the host model that shows `name`.
fn host_row(b: &Backend, name: &str) -> usize {
    let m = b.host_rows();
    (0..m.len())
        .find(|&r| m.value(r, "name") == Some(&text(name)))
        .unwrap_or_else(|| panic!("no host {name}"))
}

/// A role of the host row named `name`.
fn host(b: &Backend, name: &str, role: &str) -> Cell {
    b.host_rows()
        .value(host_row(b, name), role)
        .unwrap_or_else(|| panic!("no role {role}"))
        .clone()
}

fn text(s: &str) -> Cell {
    Cell::Text(s.into())
}

/// What QML reads: the model's data for a role name, through Qt.
fn qt_text(m: &RowModel, row: usize, role: &str) -> String {
    let role = m.role(role).expect("role exists");
    assert!(
        m.role_names().get(&role).is_some(),
        "role {role} is named for QML"
    );
    let index = m.index(row as i32, 0, &QModelIndex::default());
    String::from(
        &m.data(&index, role)
            .value::<QString>()
            .expect("a text role"),
    )
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
    // What Main.qml does once the window is built ("": the usual lookup).
    b.as_mut().load(&QString::default());

    check("opens the configured topology", || {
        assert!(*b.can_start(), "Backup all is possible with a valid config");
        assert!(!*b.running());
        assert_eq!(String::from(b.config_note()), "");
        let m = b.host_rows();
        assert_eq!(m.row_count(&QModelIndex::default()), 3, "one row per node");
        assert_eq!(*m.count(), 3);
        let roles: Vec<String> = (0..3).map(|r| qt_text(m, r, "role")).collect();
        assert_eq!(roles, ["orchestrator", "remote", "storage"]);
        assert_eq!(host(&b, "laptop", "route"), text("local"));
        assert_eq!(qt_text(m, host_row(&b, "home"), "state"), "idle");
        assert_eq!(
            host(&b, "home", "addresses"),
            Cell::List(vec!["192.168.1.10".into(), "home.example.org".into()])
        );
        assert_eq!(b.failure_rows().len(), 0);
        assert_eq!(b.history_rows().len(), 0, "no run yet");
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
        ..Script::default()
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
            .position(|e| matches!(e, Event::Progress { step, done, total, .. } if *step == home_backup && done * 2 == *total))
            .unwrap();
            fx.feed(b.as_mut(), events[..=pause].to_vec());
            fx.pump_until(b.as_mut(), "the run to start", |b| *b.running());
            assert!(!*b.can_start(), "no second run while one runs");
            assert_eq!(host(&b, "home", "state"), text("running"));
            assert_eq!(host(&b, "home", "step"), text("backup home"));
            assert_eq!(host(&b, "home", "progress"), Cell::Real(0.5));
            assert_eq!(host(&b, "home", "address"), text("home.example.org"));
            assert_eq!(host(&b, "home", "route"), text("public"));
            assert_eq!(host(&b, "nas", "state"), text("unreachable"));
            assert_eq!(host(&b, "nas", "tried"), Cell::List(vec!["nas.lan".into()]));

            // One host's progress moves: one dataChanged, for that row and that role only.
            let changes = Arc::new(Mutex::new(Vec::<(i32, i32, Vec<i32>)>::new()));
            let seen = changes.clone();
            let guard = b
                .as_mut()
                .host_model()
                .on_data_changed(move |_, top, bottom, roles| {
                    seen.lock().unwrap().push((
                        top.row(),
                        bottom.row(),
                        roles.iter().copied().collect(),
                    ));
                });
            let rows_before = b.host_rows().len();
            fx.feed(
                b.as_mut(),
                vec![Event::Progress {
                    step: home_backup,
                    node: "home".into(),
                    activity: Activity::Uploading,
                    done: 768_000,
                    total: 1_024_000,
                    files: Some((3, 4)),
                    rate: Some(128_000),
                    eta_secs: Some(2),
                }],
            );
            fx.pump_until(b.as_mut(), "the progress to show", |b| {
                host(b, "home", "progress") == Cell::Real(0.75)
            });
            drop(guard);
            let home = host_row(&b, "home") as i32;
            let role = |name: &str| b.host_rows().role(name).unwrap();
            let mut changed = changes.lock().unwrap().clone();
            for c in &mut changed {
                c.2.sort();
            }
            let allowed = [role("progress"), role("activity"), role("detail")];
            assert!(
                changed.len() == 1
                    && changed[0].0 == home
                    && changed[0].1 == home
                    && changed[0].2.contains(&role("progress"))
                    && changed[0].2.contains(&role("detail"))
                    && changed[0].2.iter().all(|r| allowed.contains(r)),
                "only home's row changed, only its progress, activity and figures: {changed:?}"
            );
            assert_eq!(host(&b, "home", "activity"), Cell::Text("uploading".into()));
            assert_eq!(
                host(&b, "home", "detail"),
                Cell::Text(
                    "75 % · 750.0 kB of 1000.0 kB · 3 of 4 files · 125.0 kB/s · a few seconds left"
                        .into()
                )
            );
            assert_eq!(b.host_rows().len(), rows_before, "no rows added or removed");

            fx.feed(b.as_mut(), events[pause + 1..].to_vec());
            fx.pump_until(b.as_mut(), "the run to end", |b| !*b.running());
            assert!(*b.can_start());
        },
    );

    check(
        "host rows after a run with a failure and an unreachable node",
        || {
            assert_eq!(host(&b, "laptop", "state"), text("passed"));
            assert_eq!(host(&b, "home", "state"), text("failed"));
            assert_eq!(host(&b, "home", "lastResult"), text("failed"));
            assert_ne!(host(&b, "home", "lastTime"), text(""));
            assert_eq!(host(&b, "nas", "state"), text("unreachable"));
            assert_eq!(host(&b, "nas", "lastResult"), text("unreachable"));
            // The status counts the failed steps the events reported.
            let failed = failed_steps(&events).len();
            assert!(failed > 0);
            assert_eq!(
                String::from(b.status_text()),
                format!("Last run failed: {failed} steps failed")
            );
        },
    );

    check(
        "the failure summary names node, step, exit code and stderr",
        || {
            // One row per failed step, in order, each carrying what its event said.
            let failed = failed_steps(&events);
            let m = b.failure_rows();
            assert_eq!(*b.failure_count(), failed.len() as i32);
            assert_eq!(m.len(), failed.len());
            for (row, (step, exit_code, message, tail)) in failed.iter().enumerate() {
                let s = &plan.steps[*step];
                assert_eq!(m.value(row, "step"), Some(&Cell::Int(*step as i32)));
                assert_eq!(m.value(row, "node"), Some(&text(&s.node)));
                assert_eq!(m.value(row, "title"), Some(&text(&s.title())));
                assert_eq!(
                    m.value(row, "exitCode"),
                    Some(&Cell::Int(exit_code.unwrap_or(-1)))
                );
                assert_eq!(qt_text(m, row, "message"), *message);
                assert_eq!(m.value(row, "stderrTail"), Some(&Cell::List(tail.clone())));
            }
            assert!(failed.iter().any(|f| f.0 == home_backup));
        },
    );

    check(
        "the problem cards give each failure's cause in plain sentences",
        || {
            // The causes are not written by the demo: the unreachable one is the engine's
            // reading of ssh's answers, the full disk its reading of restic's stderr.
            let m = b.problem_rows();
            let cards: Vec<(String, String)> = (0..m.len())
                .map(|r| (qt_text(m, r, "cause"), qt_text(m, r, "sentence")))
                .collect();
            let causes: Vec<&str> = cards.iter().map(|c| c.0.as_str()).collect();
            assert_eq!(causes, ["unreachable", "disk-full"], "{cards:?}");
            // The address tried is the configuration's; what it answered, ssh's.
            let nas = &config.node("nas").unwrap().addresses;
            assert!(
                cards[0]
                    .1
                    .starts_with(&format!("nas could not be reached (tried {}: ", nas[0]))
                    && cards[0].1.contains("Connection refused"),
                "{}",
                cards[0].1
            );
            assert_eq!(
                cards[1].1, "home's disk is full: backup home could not write.",
                "restic's 'no space left on device' read as a full disk"
            );
            assert_eq!(m.value(1, "nodes"), Some(&Cell::List(vec!["home".into()])));
            assert_eq!(host(&b, "nas", "checksOk"), Cell::Bool(false));
            assert_eq!(host(&b, "laptop", "checksOk"), Cell::Bool(true));
        },
    );

    check(
        "every line is a row, tagged with node and step, stderr marked",
        || {
            assert_eq!(rows(&b) as usize, line_count);
            let all: Vec<String> = (0..line_count).map(|r| b.log_row(r).unwrap()).collect();
            let home_err = events
                .iter()
                .find_map(|e| match e {
                    Event::Line {
                        step,
                        stream: Stream::Stderr,
                        text,
                        ..
                    } if *step == home_backup => Some(text.clone()),
                    _ => None,
                })
                .expect("home's backup wrote on stderr");
            assert!(all.contains(&format!("home · backup|err|{home_err}")));
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
            // The search ignores case: a capitalised word of a stderr line, searched in
            // another case, finds every line that holds it.
            let needle = events
                .iter()
                .find_map(|e| match e {
                    Event::Line {
                        stream: Stream::Stderr,
                        text,
                        ..
                    } => text
                        .split_whitespace()
                        .find(|w| w.chars().any(char::is_uppercase))
                        .map(str::to_string),
                    _ => None,
                })
                .expect("the run wrote a capitalised word on stderr");
            let holding = events
                .iter()
                .filter(|e| matches!(e, Event::Line { text, .. } if text.to_lowercase().contains(&needle.to_lowercase())))
                .count();
            b.as_mut()
                .set_search(&QString::from(&needle.to_uppercase()));
            assert_eq!(rows(&b) as usize, holding, "search {needle:?}");
            assert!(holding > 0 && holding < line_count);
            b.as_mut().set_search(&QString::from(""));
            assert_eq!(rows(&b) as usize, line_count);
        },
    );

    check(
        "a node without room is left out with its free and needed space",
        || {
            let script = Script {
                no_room: Some("home".into()),
                ..Script::default()
            };
            let short = demo::run_events(&config, &plan, &script);
            let (free_kb, need_kb) = short
                .iter()
                .find_map(|e| match e {
                    Event::Found {
                        fact: wbackup::engine::events::Fact::Room { free_kb, need_kb },
                        ..
                    } => Some((*free_kb, *need_kb)),
                    _ => None,
                })
                .expect("preflight found the room home lacks");
            assert!(free_kb < need_kb);
            fx.feed(b.as_mut(), short.clone());
            fx.pump_until(b.as_mut(), "the run to end", |b| {
                !*b.running() && b.problem_rows().len() == 1
            });
            let m = b.problem_rows();
            assert_eq!(qt_text(m, 0, "cause"), "disk-full");
            let sentence = qt_text(m, 0, "sentence");
            // Sizes as a person reads them: KiB to decimal units, to one decimal.
            let human = |kb: u64| format!("{:.1} GB", kb as f64 * 1024.0 / 1e9);
            assert_eq!(
                sentence,
                format!(
                    "home has {} free and this run would write up to about {} there; nothing was written on home.",
                    human(free_kb),
                    human(need_kb)
                )
            );
            // Only its prepare failed: its other steps were skipped, not failed.
            assert_eq!(failed_steps(&short).len(), 1);
            assert_eq!(*b.failure_count(), 1);
            assert_eq!(host(&b, "home", "checksOk"), Cell::Bool(false));
            let checks = host(&b, "home", "checks");
            assert!(
                matches!(&checks, Cell::List(l) if l.iter().any(|c| c.starts_with('✗'))),
                "{checks:?}"
            );
            assert_eq!(host(&b, "home", "state"), text("failed"));
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
        assert_eq!(host(&b, "laptop", "state"), text("passed"));
        assert!(!String::from(b.log_path()).is_empty(), "the run's log file");
        let history = b.history_rows();
        assert_eq!(history.len(), 1);
        assert_eq!(qt_text(history, 0, "status"), "passed");
        assert_eq!(
            history.value(0, "log"),
            Some(&text(&String::from(b.log_path())))
        );
        assert!(
            !*b.confirm_password(),
            "once the repository exists, restic checks the password: asked once"
        );
    });

    let repo = fx.dir.path().join("backup/laptop/restic");
    // Enough data that the next backups are still running when Stop or Close comes.
    add_big_files(&fx.dir.path().join("Documents/big"), 6);

    check(
        "Stop pressed while restic backs up kills it on the spot",
        || {
            let pw = QString::from("correct horse");
            let snapshots = count(&repo.join("snapshots"));
            assert!(b.as_mut().backup_all(&pw, &QString::default()));
            fx.pump_until(b.as_mut(), "restic to report backup progress", |b| {
                backing_up(b, &repo)
            });
            let running = restic_backups(&repo);
            let pressed = Instant::now();
            b.as_mut().stop();
            assert!(*b.stopping());
            fx.pump_until(b.as_mut(), "the stopped run to end", |b| !*b.running());
            assert!(
                pressed.elapsed() < Duration::from_secs(15),
                "stopping took {:?}",
                pressed.elapsed()
            );
            assert!(!*b.stopping());
            let status = String::from(b.status_text());
            assert!(status.contains("stopped"), "status: {status}");
            assert!(*b.can_start());
            let alive: Vec<i32> = running.into_iter().filter(|p| alive(*p)).collect();
            assert!(alive.is_empty(), "restic still runs: {alive:?}");
            assert_eq!(
                count(&repo.join("snapshots")),
                snapshots,
                "the backup was cut short: no new snapshot"
            );
            assert_eq!(count(&repo.join("locks")), 0, "no restic lock stays");
            assert_eq!(host(&b, "laptop", "state"), text("interrupted"));
        },
    );

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
        "closing the window during a backup stops it and leaves no restic lock",
        || {
            let mut b = backend.pin_mut();
            let local = wbackup::config::parse(
                &fx.dir.path().join("local.toml"),
                "orchestrator = \"laptop\"\nbase_dir = \"~/backup\"\n[nodes.laptop]\npaths = [\"~/Documents\"]\n",
            )
            .unwrap();
            b.as_mut().open(local);
            let pw = QString::from("correct horse");
            let snapshots = count(&repo.join("snapshots"));
            assert!(b.as_mut().backup_all(&pw, &pw));
            fx.pump_until(b.as_mut(), "restic to report backup progress", |b| {
                backing_up(b, &repo)
            });
            let running = restic_backups(&repo);
            // What closing the window does: QML destroys the backend; no events are pumped.
            drop(backend);
            let alive: Vec<i32> = running.into_iter().filter(|p| alive(*p)).collect();
            assert!(alive.is_empty(), "restic still runs: {alive:?}");
            let left: Vec<_> = std::fs::read_dir(repo.join("locks"))
                .expect("restic's locks folder")
                .flatten()
                .map(|e| e.path())
                .collect();
            assert!(left.is_empty(), "restic locks left behind: {left:?}");
            assert_eq!(count(&repo.join("snapshots")), snapshots, "cut short");
        },
    );

    drop(fx);
    println!("gui_backend: all checks passed");
}

/// The failed steps among the events: (step, exit code, message, stderr tail).
fn failed_steps(events: &[Event]) -> Vec<(usize, Option<i32>, String, Vec<String>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::StepFinished {
                step,
                outcome:
                    Outcome::Failed {
                        exit_code,
                        message,
                        stderr_tail,
                        ..
                    },
                ..
            } => Some((*step, *exit_code, message.clone(), stderr_tail.clone())),
            _ => None,
        })
        .collect()
}

/// A `restic backup` runs on `repo`, holds its lock and has reported progress (restic
/// 0.14 leaves its lock behind when interrupted in the first moments after taking it,
/// before it reports anything: that is restic's, and not what these tests are about).
fn backing_up(b: &Backend, repo: &std::path::Path) -> bool {
    matches!(host(b, "laptop", "progress"), Cell::Real(p) if p >= 0.0)
        && !restic_backups(repo).is_empty()
        && count(&repo.join("locks")) > 0
}

/// Entries in a folder (0 when it does not exist).
fn count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

/// Pids of the `restic backup` processes working on `repo`.
fn restic_backups(repo: &std::path::Path) -> Vec<i32> {
    let repo = repo.to_string_lossy();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let argv: Vec<String> = argv
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            argv.first().is_some_and(|a| a.ends_with("restic"))
                && argv.iter().any(|a| a == "backup")
                && argv.iter().any(|a| a.contains(&*repo))
                && alive(*pid)
        })
        .collect()
}

/// Whether the process exists and is not a zombie.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

/// `count` files of 20 MB that compress and deduplicate poorly, so that a backup of
/// them takes long enough to act while it runs.
fn add_big_files(dir: &std::path::Path, count: u32) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..count {
        let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(i);
        let content: Vec<u8> = (0..20_000_000u32)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        std::fs::write(dir.join(format!("f{i}")), content).unwrap();
    }
}

fn check(name: &str, f: impl FnOnce()) {
    print!("test {name} ... ");
    f();
    println!("ok");
}
