//! Each cause's sentence, from what the tools really wrote: the `.txt` files beside this
//! one were captured here from restic 0.14.0 and OpenSSH 9.2p1 (a repository locked by a
//! restic killed with -9, a backup run as an unprivileged user over files it cannot
//! read, an sshd whose host key was made anew, a key it does not accept, a closed port).
//! The runs are folded by the engine's own reducer from the engine's own event types.

use super::*;
use crate::engine::events::{Event, RunStatus};
use crate::engine::node::{forget_key_command, Unreachable};
use crate::plan::StepKind;

const LOCKED: &str = include_str!("restic-0.14-locked.txt");
const UNREADABLE: &str = include_str!("restic-0.14-unreadable.txt");
const KEY_CHANGED: &str = include_str!("openssh-9.2-host-key-changed.txt");
const DENIED: &str = include_str!("openssh-9.2-permission-denied.txt");
const REFUSED: &str = include_str!("openssh-9.2-connection-refused.txt");

fn lines(text: &str) -> Vec<String> {
    text.lines().map(String::from).collect()
}

/// A run of failed steps, each (node, kind, outcome, facts), and nodes no address of
/// which answered (node, addresses): its problems.
struct Run {
    events: Vec<Event>,
}

impl Run {
    fn new() -> Run {
        Run { events: vec![] }
    }

    fn unreachable(mut self, node: &str, u: &Unreachable) -> Run {
        self.events.push(Event::NodeUnreachable {
            node: node.into(),
            tried: u.tried.iter().map(|(a, _)| a.clone()).collect(),
        });
        let outcome = Outcome::Failed {
            cause: u.cause(),
            exit_code: None,
            message: u.reason(node),
            stderr_tail: u.tried.iter().map(|(a, w)| format!("{a}: {w}")).collect(),
        };
        let mut facts = vec![];
        if let Some(cmd) = &u.key_changed {
            facts.push(Fact::HostKeyChanged {
                forget: cmd.clone(),
            });
        }
        self.step(node, StepKind::Prepare, outcome, facts)
    }

    fn step(mut self, node: &str, kind: StepKind, outcome: Outcome, facts: Vec<Fact>) -> Run {
        let step = self
            .events
            .iter()
            .filter(|e| matches!(e, Event::StepStarted { .. }))
            .count();
        let title = format!("{kind} {node}");
        self.events.push(Event::StepStarted {
            step,
            node: node.into(),
            kind,
            title: title.clone(),
        });
        for fact in facts {
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
        self
    }

    fn problems(mut self) -> Vec<Problem> {
        self.events.push(Event::RunFinished {
            status: RunStatus::Failed,
            summary_path: None,
        });
        let mut view = RunView::default();
        for e in &self.events {
            view.apply(e);
        }
        of_view(&view)
    }
}

fn failed(cause: Cause, exit_code: Option<i32>, message: &str, stderr: &str) -> Outcome {
    Outcome::Failed {
        cause,
        exit_code,
        message: message.into(),
        stderr_tail: lines(stderr),
    }
}

/// ssh's last words, as `node::connect` keeps them for each address.
fn last_line(ssh: &str) -> String {
    ssh.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap()
        .trim()
        .into()
}

#[test]
fn unreachable_nodes_are_one_problem_naming_every_address_tried() {
    let refused = last_line(REFUSED);
    let nas = Unreachable {
        tried: vec![
            ("nas.lan".into(), refused.clone()),
            ("nas.example.org".into(), "no answer within 20s".into()),
        ],
        key_changed: None,
    };
    let vps = Unreachable {
        tried: vec![("10.0.0.5".into(), refused.clone())],
        key_changed: None,
    };
    let p = Run::new()
        .step("laptop", StepKind::Prepare, Outcome::Passed, vec![])
        .unreachable("nas", &nas)
        .unreachable("vps", &vps)
        .problems();
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].cause, Cause::Unreachable);
    assert_eq!(p[0].nodes, ["nas", "vps"]);
    assert_eq!(p[0].steps, [1, 2]);
    assert_eq!(
        p[0].sentence,
        "nas could not be reached (tried nas.lan: ssh: connect to host 127.0.0.1 port 22991: Connection refused; nas.example.org: no answer within 20s). \
         vps could not be reached (tried 10.0.0.5: ssh: connect to host 127.0.0.1 port 22991: Connection refused)."
    );
    assert!(
        p[0].todo.starts_with("Check that nas is switched on"),
        "{}",
        p[0].todo
    );
    assert!(
        p[0].todo.contains("Check that vps is switched on"),
        "{}",
        p[0].todo
    );
}

#[test]
fn a_changed_host_key_says_what_it_means_and_the_command_never_a_bypass() {
    let u = Unreachable {
        tried: vec![("127.0.0.1".into(), "its host key changed".into())],
        key_changed: Some(forget_key_command(KEY_CHANGED, "[127.0.0.1]:22991")),
    };
    let p = Run::new().unreachable("home", &u).problems();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].cause, Cause::HostKeyChanged);
    assert_eq!(
        p[0].sentence,
        "home answered with another host key than the one known for it: either it was reinstalled (or its SSH keys were made anew), or another machine is answering in its place. wbackup did not connect, and never does with a changed key."
    );
    assert_eq!(
        p[0].todo,
        "If you reinstalled home, forget its old key with `ssh-keygen -f /tmp/cap/ssh/kh -R '[127.0.0.1]:22991'`, then `ssh` to it once to accept the new one (compare its fingerprint), and run again. If you did not, do not connect: find out who answers."
    );
    for bypass in ["StrictHostKeyChecking", "no-check", "known_hosts=/dev/null"] {
        assert!(!p[0].todo.contains(bypass));
    }
}

#[test]
fn a_refused_login_is_its_own_problem() {
    let u = Unreachable {
        tried: vec![("127.0.0.1".into(), last_line(DENIED))],
        key_changed: None,
    };
    let p = Run::new().unreachable("home", &u).problems();
    assert_eq!(p[0].cause, Cause::LoginRefused);
    assert_eq!(
        p[0].sentence,
        "home answered but refused the login (tried 127.0.0.1: root@127.0.0.1: Permission denied (publickey,keyboard-interactive))."
    );
    assert!(p[0].todo.contains("[nodes.home]") && p[0].todo.contains("ssh-copy-id"));
}

#[test]
fn a_wrong_password_is_said_once_with_what_to_do() {
    let message = "wrong password: restic refused it for laptop's repository on laptop; nothing was written on any node";
    let p = Run::new()
        .step(
            "laptop",
            StepKind::Prepare,
            Outcome::failed_as(Cause::WrongPassword, message),
            vec![],
        )
        .step(
            "home",
            StepKind::Prepare,
            Outcome::Skipped {
                reason: "not run: the password was refused".into(),
            },
            vec![],
        )
        .problems();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].nodes, ["laptop"]);
    assert_eq!(
        p[0].sentence,
        "Wrong password: restic refused it for laptop's repository on laptop; nothing was written on any node."
    );
    assert!(p[0].todo.starts_with("Type the password again"));
}

#[test]
fn missing_tools_come_with_the_apt_command() {
    let p = Run::new()
        .step(
            "nas",
            StepKind::Prepare,
            Outcome::failed_as(Cause::ToolMissing, "restic is not installed on nas"),
            vec![Fact::ToolsMissing {
                tools: vec!["restic".into(), "rsync".into()],
            }],
        )
        .step(
            "vps",
            StepKind::Prepare,
            Outcome::failed_as(Cause::ToolMissing, "`rsync` is not installed on vps"),
            vec![Fact::ToolsMissing {
                tools: vec!["rsync".into()],
            }],
        )
        .problems();
    assert_eq!(p.len(), 1);
    assert_eq!(
        p[0].sentence,
        "restic and rsync are not installed on nas. rsync is not installed on vps."
    );
    assert_eq!(
        p[0].todo,
        "Install them on nas: `sudo apt install restic rsync`. Install it on vps: `sudo apt install rsync`."
    );
}

#[test]
fn a_full_disk_gives_node_free_and_needed() {
    let p = Run::new()
        .step(
            "nas",
            StepKind::Prepare,
            Outcome::failed_as(Cause::DiskFull, "not enough space on nas"),
            vec![Fact::Room {
                free_kb: 1024,
                need_kb: 5 * 1024 * 1024,
            }],
        )
        .step(
            "home",
            StepKind::Backup,
            failed(
                Cause::DiskFull,
                Some(1),
                "restic backup on home: exit code 1",
                "Fatal: unable to save snapshot: write /b/home/restic/data/x: no space left on device",
            ),
            vec![],
        )
        .problems();
    assert_eq!(p.len(), 1);
    assert_eq!(
        p[0].sentence,
        "nas has 1.0 MB free and this run would write up to about 5.4 GB there; nothing was written on nas. home's disk is full: backup home could not write."
    );
    assert!(p[0].todo.contains("Free some space on nas") && p[0].todo.contains("on home"));
}

#[test]
fn a_lock_names_its_holder_and_offers_unlock_only_when_stale_and_gone() {
    let stderr = lines(LOCKED);
    let lock = parse_lock("/srv/my backup/home/restic", &stderr).expect("restic's words parse");
    assert_eq!(
        lock,
        LockHolder {
            repo: "/srv/my backup/home/restic".into(),
            pid: 9521,
            host: "vm".into(),
            user: "root".into(),
            created: "2026-11-27 21:49:58".into(),
            age_s: 11,
            exclusive: false,
            process_gone: None,
        }
    );
    let problem = |gone: Option<bool>| {
        let mut lock = lock.clone();
        lock.process_gone = gone;
        let o = failed(
            Cause::Locked,
            Some(1),
            "restic check on home: exit code 1",
            LOCKED,
        );
        Run::new()
            .step("home", StepKind::Check, o, vec![Fact::Locked(lock)])
            .problems()
            .remove(0)
    };
    let stale = problem(Some(true));
    assert_eq!(stale.cause, Cause::Locked);
    assert_eq!(
        stale.sentence,
        "home's repository is locked by restic PID 9521 on vm (user root), since 2026-11-27 21:49:58 (11 s ago). No process 9521 runs on vm any more: the lock is stale."
    );
    assert_eq!(
        stale.todo,
        "Remove the stale lock: on home, run `restic -r '/srv/my backup/home/restic' unlock` (it removes only stale locks, and asks for the password), then run again."
    );
    let running = problem(Some(false));
    assert!(running.sentence.ends_with("Process 9521 still runs on vm."));
    assert!(!running.todo.contains("unlock"), "{}", running.todo);
    let unknown = problem(None);
    assert!(unknown
        .sentence
        .contains("cannot see from home whether it still runs on vm"));
    assert!(!unknown.todo.contains("unlock"), "{}", unknown.todo);
    assert!(!stale.todo.contains("--remove-all"));
    assert_eq!(parse_lock("/r", &lines(UNREADABLE)), None);
}

#[test]
fn go_durations_as_restic_prints_ages() {
    assert_eq!(go_duration_s("11.178113347s"), Some(11));
    assert_eq!(go_duration_s("1h2m3.5s"), Some(3723));
    assert_eq!(go_duration_s("350ms"), Some(0));
    assert_eq!(go_duration_s("12 parsecs"), None);
    assert_eq!(go_duration_s(""), None);
}

#[test]
fn unreadable_files_are_listed_with_the_exclude_line_to_add() {
    let mut paths: Vec<String> = vec![];
    for l in UNREADABLE.lines() {
        if let Some(p) = unreadable_item(l) {
            if !paths.contains(&p) {
                paths.push(p);
            }
        }
    }
    assert_eq!(
        paths,
        [
            "/tmp/cap/src/closed",
            "/tmp/cap/src/my dir/x y.txt",
            "/tmp/cap/src/secret.txt"
        ]
    );
    assert_eq!(
        unreadable_item(r#"{"message_type":"status","percent_done":0}"#),
        None
    );
    assert_eq!(
        unreadable_item("Warning: at least one source file could not be read"),
        None
    );
    let o = failed(
        Cause::UnreadableFiles,
        Some(3),
        "backup of home saved a snapshot, but some source files could not be read",
        UNREADABLE,
    );
    let p = Run::new()
        .step(
            "home",
            StepKind::Backup,
            o,
            vec![Fact::Unreadable {
                paths: paths.clone(),
            }],
        )
        .problems();
    assert_eq!(
        p[0].sentence,
        "restic could not read 3 files on home: /tmp/cap/src/closed, '/tmp/cap/src/my dir/x y.txt', /tmp/cap/src/secret.txt; the snapshot was saved without them."
    );
    assert_eq!(
        p[0].todo,
        r#"Give your user read access to them, or leave them out: add to `exclude` in [nodes.home]: exclude = ["/tmp/cap/src/closed", "/tmp/cap/src/my dir/x y.txt", "/tmp/cap/src/secret.txt"]."#
    );
}

#[test]
fn the_exclude_line_is_toml_that_matches_exactly_each_path() {
    let paths: Vec<String> = vec![
        "/h/a [1]/*.iso".into(),
        "/h/q\"uote\\".into(),
        "/h/é?".into(),
    ];
    let line = exclude_line(&paths);
    #[derive(serde::Deserialize)]
    struct Node {
        exclude: Vec<String>,
    }
    let parsed: Node = toml::from_str(&line).expect("a TOML line");
    let escaped: Vec<String> = paths
        .iter()
        .map(|p| crate::engine::restic::glob_escape(p))
        .collect();
    assert_eq!(parsed.exclude, escaped);
    assert_eq!(parsed.exclude[0], r"/h/a \[1\]/\*.iso");
}

#[test]
fn other_causes_keep_the_steps_words_and_causes_keep_their_order() {
    let p = Run::new()
        .step(
            "home",
            StepKind::Backup,
            Outcome::failed_as(Cause::MissingSource, "1 of home's source paths does not exist: /x (the other paths were backed up); create it, or fix `paths` in [nodes.home]"),
            vec![],
        )
        .step(
            "home",
            StepKind::Check,
            Outcome::failed("restic check on home: exit code 1: Fatal: pack 1234 damaged"),
            vec![],
        )
        .step(
            "nas",
            StepKind::Backup,
            Outcome::failed_as(Cause::MissingSource, "1 of nas's source paths does not exist: /y"),
            vec![],
        )
        .problems();
    let causes: Vec<Cause> = p.iter().map(|p| p.cause).collect();
    assert_eq!(causes, [Cause::MissingSource, Cause::Other]);
    assert_eq!(p[0].steps, [0, 2]);
    assert_eq!(p[0].nodes, ["home", "nas"]);
    assert!(p[1]
        .sentence
        .starts_with("Restic check on home: exit code 1"));
    assert!(p[1].sentence.ends_with("damaged."));
    let text = render(&p);
    assert!(
        text.starts_with("  missing-source (home, nas): 1 of home's"),
        "{text}"
    );
    assert!(
        text.contains("\n  other (home): Restic check on home"),
        "{text}"
    );
    assert_eq!(text.matches("    what to do: ").count(), 2);
}

#[test]
fn summaries_written_before_problems_still_read_and_new_ones_keep_them() {
    let old = r#"{"started":"2026-11-01T10:00:00+00:00","finished":null,"status":"failed","log":"/l","steps":[]}"#;
    let s: crate::logbook::Summary = serde_json::from_str(old).expect("an old summary reads");
    assert!(s.problems.is_empty());
    let p = Problem {
        cause: Cause::HostKeyChanged,
        nodes: vec!["home".into()],
        steps: vec![1],
        sentence: "s".into(),
        todo: "t".into(),
    };
    let v = serde_json::to_value(&p).unwrap();
    assert_eq!(v["cause"], "host-key-changed");
    assert_eq!(code(Cause::HostKeyChanged), "host-key-changed");
    let back: Problem = serde_json::from_value(v).unwrap();
    assert_eq!(back, p);
}
