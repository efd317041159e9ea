//! The real window (Main.qml and the Rust backend, offscreen) shows each problem in its
//! plain sentence with what to do: a synthetic run built from the engine's own event
//! types, with one failed step for each cause the issue names (unreachable, host key
//! changed, login refused, wrong password, tool missing, disk full, unreadable files,
//! locked), goes in through the backend's intake, the path a real run's events take. The
//! facts come from what restic and ssh really wrote (the texts captured in
//! `src/problems/`). QML checks that every problem is shown with the sentence and the
//! advice `wbackup::problems` words for it (the same words the terminal and the JSON
//! summary get), and that choosing a problem's step filters the log to that step.
//!
//! One Qt application per process: `harness = false`.

mod support;

use support::window::{self, Window};
use wbackup::engine::events::{Cause, Event, Fact, Outcome, RunStatus, Stream};
use wbackup::engine::node::Unreachable;
use wbackup::engine::runview::RunView;
use wbackup::plan::StepKind;

const LOCKED: &str = include_str!("../src/problems/restic-0.14-locked.txt");
const UNREADABLE: &str = include_str!("../src/problems/restic-0.14-unreadable.txt");
const DENIED: &str = include_str!("../src/problems/openssh-9.2-permission-denied.txt");

const DRIVER: &str = r#"
import QtQuick
import QtQuick.Controls
import org.wbackup

Main {
    id: win
    height: 4000
    property var errors: []
    readonly property var expected: @EXPECTED@
    @CHECKS@

    function check() {
        const list = find(win.contentItem, "problemList")
        expect(list !== null && list.visible, "the failure box shows a list of problems")
        // Every delegate made, whatever height the window opened with.
        list.cacheBuffer = 100000
        list.forceLayout()
        expect(win.backend.failures.count === @FAILED@, "every failed step is counted: " + win.backend.failures.count)
        expect(list.count === expected.length, expected.length + " problems, one per cause: " + list.count)
        for (const p of expected) {
            const item = find(win.contentItem, "problem_" + p.cause)
            expect(item !== null, "a problem for " + p.cause)
            if (item === null)
                continue
            const sentence = find(item, "problemSentence")
            const todo = find(item, "problemTodo")
            expect(sentence.text === p.sentence, p.cause + " says: " + sentence.text)
            expect(sentence.visible && sentence.height > 0, p.cause + "'s sentence is visible")
            expect(todo.text === "What to do: " + p.todo, p.cause + " advises: " + todo.text)
            for (const s of p.steps)
                expect(find(item, "problemStep_" + s) !== null, p.cause + " names its step " + s)
        }
        // The raw log, one click away: the lock's step.
        const locked = expected.find(p => p.cause === "locked")
        const step = find(win.contentItem, "problemStep_" + locked.steps[0])
        let area = null
        for (let i = 0; i < step.children.length; ++i)
            if (step.children[i].clicked !== undefined)
                area = step.children[i]
        expect(area !== null, "the lock's step can be clicked")
        area.clicked(null)
        expect(win.backend.filterStep === locked.steps[0], "choosing it filters the log to its step: " + win.backend.filterStep)
        const log = find(win.contentItem, "logView")
        expect(log.count === @LOCKED_LINES@, "the log shows that step's lines only: " + log.count)
        finish()
    }

    Connections {
        target: win.backend.problems
        function onCountChanged() {
            if (win.backend.problems.count === win.expected.length)
                Qt.callLater(win.check)
        }
    }

    Timer {
        running: true
        interval: 60000
        onTriggered: {
            expect(false, "the problems arrived within a minute")
            finish()
        }
    }
}
"#;

/// The synthetic run: one failed step per cause, each with what the engine reports.
struct Run {
    events: Vec<Event>,
    step: usize,
}

impl Run {
    fn fail(&mut self, node: &str, kind: StepKind, outcome: Outcome, found: Vec<Fact>) {
        let (step, title) = (self.step, format!("{kind} {node}"));
        self.step += 1;
        self.events.push(Event::StepStarted {
            step,
            node: node.into(),
            kind,
            title: title.clone(),
        });
        if let Outcome::Failed { stderr_tail, .. } = &outcome {
            for text in stderr_tail {
                self.events.push(Event::Line {
                    step,
                    node: node.into(),
                    stream: Stream::Stderr,
                    text: text.clone(),
                });
            }
        }
        for fact in found {
            self.events.push(Event::Found {
                step,
                node: node.into(),
                fact,
            });
        }
        self.events.push(Event::StepFinished {
            step,
            node: node.into(),
            kind,
            title,
            outcome,
        });
    }

    /// A node that could not be reached, as `prepare` reports it.
    fn unreachable(&mut self, node: &str, u: Unreachable) {
        self.events.push(Event::NodeUnreachable {
            node: node.into(),
            tried: u.tried.iter().map(|(a, _)| a.clone()).collect(),
        });
        let found = u
            .key_changed
            .iter()
            .map(|c| Fact::HostKeyChanged { forget: c.clone() })
            .collect();
        let outcome = Outcome::Failed {
            cause: u.cause(),
            exit_code: None,
            message: u.reason(node),
            stderr_tail: u.tried.iter().map(|(a, w)| format!("{a}: {w}")).collect(),
        };
        self.fail(node, StepKind::Prepare, outcome, found);
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(String::from).collect()
}

fn restic_failed(cause: Cause, code: i32, message: &str, stderr: &str) -> Outcome {
    Outcome::Failed {
        cause,
        exit_code: Some(code),
        message: message.into(),
        stderr_tail: lines(stderr),
    }
}

fn synthetic_run() -> Vec<Event> {
    let mut run = Run {
        events: vec![Event::RunStarted {
            run_id: "synthetic".into(),
            log_path: None,
            steps: 9,
        }],
        step: 0,
    };
    run.unreachable(
        "nas",
        Unreachable {
            tried: vec![
                (
                    "nas.lan".into(),
                    "ssh: connect to host nas.lan port 22: Connection refused".into(),
                ),
                ("nas.example.org".into(), "no answer within 20s".into()),
            ],
            key_changed: None,
        },
    );
    run.unreachable(
        "vps",
        Unreachable {
            tried: vec![("vps.example.org".into(), "its host key changed".into())],
            key_changed: Some("ssh-keygen -f /root/.ssh/known_hosts -R vps.example.org".into()),
        },
    );
    let denied = DENIED.trim().to_string();
    run.unreachable(
        "box",
        Unreachable {
            tried: vec![("box.lan".into(), denied)],
            key_changed: None,
        },
    );
    run.fail(
        "home",
        StepKind::Prepare,
        Outcome::failed_as(Cause::ToolMissing, "`restic` is not installed on home"),
        vec![Fact::ToolsMissing {
            tools: vec!["restic".into()],
        }],
    );
    run.fail(
        "store",
        StepKind::Prepare,
        Outcome::failed_as(Cause::DiskFull, "not enough space on store"),
        vec![Fact::Room {
            free_kb: 2048,
            need_kb: 3 * 1024 * 1024,
        }],
    );
    run.fail(
        "laptop",
        StepKind::Init,
        Outcome::failed_as(
            Cause::WrongPassword,
            "wrong password: restic refused it for laptop's repository; nothing was changed",
        ),
        vec![],
    );
    let paths: Vec<String> = UNREADABLE
        .lines()
        .filter_map(wbackup::problems::unreadable_item)
        .fold(vec![], |mut all, p| {
            if !all.contains(&p) {
                all.push(p);
            }
            all
        });
    run.fail(
        "laptop",
        StepKind::Backup,
        restic_failed(
            Cause::UnreadableFiles,
            3,
            "backup of laptop saved a snapshot, but some source files could not be read",
            UNREADABLE,
        ),
        vec![Fact::Unreadable { paths }],
    );
    let mut lock = wbackup::problems::parse_lock("/root/backup/laptop/restic", &lines(LOCKED))
        .expect("restic's lock refusal parses");
    lock.process_gone = Some(true);
    run.fail(
        "laptop",
        StepKind::Check,
        restic_failed(
            Cause::Locked,
            1,
            "restic check on laptop: exit code 1",
            LOCKED,
        ),
        vec![Fact::Locked(lock)],
    );
    run.events.push(Event::RunFinished {
        status: RunStatus::Failed,
        summary_path: None,
    });
    run.events
}

fn main() {
    match window::phase().as_deref() {
        Some("problems") => std::process::exit(problems()),
        Some(other) => panic!("no phase {other}"),
        None => {}
    }
    Window::new(
        "orchestrator = \"laptop\"\nbase_dir = \"~/backup\"\n[nodes.laptop]\npaths = [\"~/Documents\"]\n\
         [nodes.nas]\naddresses = [\"nas.lan\", \"nas.example.org\"]\n",
    )
    .run("problems");
    println!("gui_problems: all checks passed");
}

/// The window fed the synthetic run; its exit status.
fn problems() -> i32 {
    let events = synthetic_run();
    // What the window must show: the engine's own reading of those events.
    let mut view = RunView::default();
    for e in &events {
        view.apply(e);
    }
    let problems = wbackup::problems::of_view(&view);
    let causes: Vec<String> = problems
        .iter()
        .map(|p| wbackup::problems::code(p.cause))
        .collect();
    assert_eq!(
        causes,
        [
            "unreachable",
            "host-key-changed",
            "login-refused",
            "tool-missing",
            "disk-full",
            "wrong-password",
            "unreadable-files",
            "locked"
        ]
    );
    // The words carry the facts that went in (each unit-tested in src/problems/tests.rs).
    let said = |cause: &str| {
        let p = &problems[causes.iter().position(|c| c == cause).unwrap()];
        format!("{} {}", p.sentence, p.todo)
    };
    assert!(said("unreachable").contains(
        "tried nas.lan: ssh: connect to host nas.lan port 22: Connection refused; nas.example.org"
    ));
    assert!(said("host-key-changed")
        .contains("`ssh-keygen -f /root/.ssh/known_hosts -R vps.example.org`"));
    assert!(said("login-refused").contains("box answered but refused the login"));
    assert!(said("tool-missing").contains("`sudo apt install restic`"));
    assert!(said("disk-full")
        .contains("store has 2.1 MB free and this run would write up to about 3.2 GB"));
    assert!(said("unreadable-files").contains("exclude = [\"/tmp/cap/src/closed\""));
    assert!(
        said("locked").contains("PID 9521 on vm")
            && said("locked").contains("restic -r /root/backup/laptop/restic unlock")
    );
    let expected: Vec<serde_json::Value> = problems
        .iter()
        .map(|p| {
            serde_json::json!({
                "cause": wbackup::problems::code(p.cause),
                "sentence": p.sentence,
                "todo": p.todo,
                "steps": p.steps,
            })
        })
        .collect();
    let locked_step = problems.last().unwrap().steps[0];
    let locked_lines = events
        .iter()
        .filter(|e| matches!(e, Event::Line { step, .. } if *step == locked_step))
        .count();
    assert!(locked_lines > 0);
    let driver = DRIVER
        .replace("@EXPECTED@", &serde_json::to_string(&expected).unwrap())
        .replace("@FAILED@", "8")
        .replace("@LOCKED_LINES@", &locked_lines.to_string());

    // From another thread, as the engine does.
    window::open(&driver, move |backend| {
        std::thread::spawn(move || {
            let Some(intake) = window::intake(&backend) else {
                return;
            };
            for e in events {
                intake.push(e);
            }
        });
    })
}
