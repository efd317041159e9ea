//! The command line as a user meets it: configuration errors, `init`, `plan`, `restore`,
//! exit codes, the password prompt at a terminal. No remote node is contacted here; the
//! prompt's test runs a local-only cycle with real restic.

use std::fs;
use std::process::{Command, Output};

fn wbackup(home: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wbackup"))
        .args(args)
        .env("HOME", home)
        .env_remove("WBACKUP_CONFIG")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap()
}

/// wbackup with `--config FILE` first, `FILE` holding `config` (written in `home`).
fn configured(home: &std::path::Path, config: &str, args: &[&str]) -> Output {
    let file = home.join("configured.toml");
    fs::write(&file, config).unwrap();
    let mut all = vec!["--config", file.to_str().unwrap()];
    all.extend_from_slice(args);
    wbackup(home, &all)
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn a_bad_configuration_is_a_usage_error_with_its_place() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("c.toml");
    fs::write(
        &cfg,
        "orchestrator = \"laptop\"\n[nodes.laptop]\npaths = [\"~/x\"]\nkeep_daily = 3\n",
    )
    .unwrap();
    let o = wbackup(d.path(), &["--config", cfg.to_str().unwrap(), "plan"]);
    assert_eq!(o.status.code(), Some(2));
    let (_, err) = text(&o);
    assert!(
        err.contains(&format!(
            "{}:4:1: unknown field `keep_daily`",
            cfg.display()
        )),
        "{err}"
    );
    assert!(err.contains("help:"), "{err}");
}

#[test]
fn init_writes_a_starter_file_once_and_plan_reads_it() {
    let d = tempfile::tempdir().unwrap();
    let o = wbackup(d.path(), &["init"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let path = d.path().join(".config/wbackup/config.toml");
    let written = fs::read_to_string(&path).unwrap();
    fs::write(&path, written.replace("~/Documents", "~/Photos")).unwrap();
    let o = wbackup(d.path(), &["init"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("already exists"));
    assert!(
        fs::read_to_string(&path).unwrap().contains("~/Photos"),
        "init never overwrites"
    );
    let o = wbackup(d.path(), &["plan"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(text(&o).0.contains("-- ~/Photos"), "{}", text(&o).0);
}

#[test]
fn without_a_file_the_builtin_default_is_used_and_said() {
    let d = tempfile::tempdir().unwrap();
    let o = wbackup(d.path(), &["plan"]);
    assert_eq!(o.status.code(), Some(0));
    let (out, err) = text(&o);
    assert!(err.contains("built-in default"), "{err}");
    assert!(out.contains("backup --json"), "{out}");
    assert!(out.contains("-- ~/Documents"), "{out}");
}

#[test]
fn an_unknown_node_is_a_usage_error() {
    let d = tempfile::tempdir().unwrap();
    let o = wbackup(d.path(), &["plan", "--node", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("unknown node \"nope\""));
}

#[test]
fn jobs_is_said_in_the_plan_auto_counts_the_nodes_and_zero_is_a_usage_error() {
    let d = tempfile::tempdir().unwrap();
    let o = wbackup(d.path(), &["plan", "--jobs", "3"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(
        text(&o).0.contains("run up to 3 at a time"),
        "{:?}",
        text(&o)
    );
    let o = wbackup(d.path(), &["plan"]);
    assert!(!text(&o).0.contains("at a time"), "{:?}", text(&o));
    let cfg = d.path().join("c.toml");
    fs::write(&cfg, "jobs = 2\n[nodes.laptop]\npaths = [\"~/x\"]\n").unwrap();
    let o = wbackup(d.path(), &["--config", cfg.to_str().unwrap(), "plan"]);
    assert!(
        text(&o).0.contains("run up to 2 at a time"),
        "{:?}",
        text(&o)
    );
    let o = wbackup(
        d.path(),
        &["--config", cfg.to_str().unwrap(), "plan", "--jobs", "1"],
    );
    assert!(
        !text(&o).0.contains("at a time"),
        "--jobs wins: {:?}",
        text(&o)
    );
    let o = wbackup(d.path(), &["run", "--jobs", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("--jobs"), "{:?}", text(&o));
    // `--jobs auto` on the command line, over a configured number: one step per node.
    let three = "orchestrator = \"laptop\"\njobs = 2\n[nodes.laptop]\npaths = [\"~/x\"]\n[nodes.home]\naddresses = [\"h\"]\npaths = [\"~/y\"]\n[nodes.nas]\naddresses = [\"n\"]\n";
    let o = configured(d.path(), three, &["plan", "--jobs", "auto"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(
        text(&o)
            .0
            .contains("run up to 3 at a time (jobs = \"auto\": one step per node of this run)"),
        "{:?}",
        text(&o)
    );
    let two = [
        "plan", "--jobs", "auto", "--node", "laptop", "--node", "home",
    ];
    let o = configured(d.path(), three, &two);
    assert!(
        text(&o)
            .0
            .contains("run up to 2 at a time (jobs = \"auto\""),
        "{:?}",
        text(&o)
    );
    let o = wbackup(d.path(), &["plan", "--jobs", "many"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("nor \"auto\""), "{:?}", text(&o));
}

#[test]
fn a_readable_password_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let pw = d.path().join("pw");
    fs::write(&pw, "secret\n").unwrap();
    fs::set_permissions(&pw, fs::Permissions::from_mode(0o644)).unwrap();
    let o = wbackup(d.path(), &["run", "--password-file", pw.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let (_, err) = text(&o);
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!err.contains("secret"));
}

#[test]
fn restore_prints_commands_that_quote_paths() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("c.toml");
    fs::write(
        &cfg,
        "orchestrator = \"laptop\"\n[nodes.laptop]\npaths = [\"~/x\"]\n[nodes.home]\naddresses = [\"h\"]\nbase_dir = \"/srv/my backups\"\npaths = [\"/y\"]\n",
    )
    .unwrap();
    let o = wbackup(
        d.path(),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "restore",
            "laptop",
            "--from",
            "home",
            "--target",
            "/tmp/r it",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o).0;
    assert!(
        out.contains("restic -r '/srv/my backups/laptop/restic' snapshots"),
        "{out}"
    );
    assert!(out.contains("mkdir -- '/tmp/r it' && restic -r '/srv/my backups/laptop/restic' restore latest --target '/tmp/r it'"), "{out}");
    let o = wbackup(
        d.path(),
        &["--config", cfg.to_str().unwrap(), "restore", "nas"],
    );
    assert_eq!(o.status.code(), Some(2));
}

/// `input` typed at a terminal (a pseudo-terminal made by `script`) while wbackup runs
/// `args`; returns the exit status and everything the terminal showed.
fn at_terminal(home: &std::path::Path, args: &[&str], input: &str) -> (Option<i32>, String) {
    use std::io::Write;
    let line = std::iter::once(env!("CARGO_BIN_EXE_wbackup"))
        .chain(args.iter().copied())
        .map(|w| format!("'{}'", w.replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("HOME", home)
        .env_remove("WBACKUP_CONFIG")
        .env_remove("XDG_CONFIG_HOME")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into())
}

#[test]
fn a_first_run_at_a_terminal_asks_for_the_password_twice() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("Documents");
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("photo.jpg"), "the only copy").unwrap();
    let base = d.path().join("backup");
    let cfg = d.path().join("c.toml");
    fs::write(
        &cfg,
        format!(
            "[nodes.laptop]\nbase_dir = {:?}\npaths = [{:?}]\n",
            base.display().to_string(),
            data.display().to_string()
        ),
    )
    .unwrap();
    let run = ["--config", cfg.to_str().unwrap(), "run"];

    // No repository yet: two different entries change nothing.
    let (code, out) = at_terminal(d.path(), &run, "first try\nfirst tyr\n");
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("type it again"), "{out}");
    assert!(
        out.contains("the two passwords differ; nothing was done"),
        "{out}"
    );
    assert!(!base.exists(), "nothing was created");

    // The same twice: the repository is created with it.
    let (code, out) = at_terminal(d.path(), &run, "first try\nfirst try\n");
    assert_eq!(code, Some(0), "{out}");
    assert!(base.join("laptop/restic/config").exists(), "{out}");

    // Now restic can check the password: asked once.
    let (code, out) = at_terminal(d.path(), &run, "first try\n");
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("type it again"), "{out}");
}
