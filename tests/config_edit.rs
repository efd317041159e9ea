//! `wbackup config …` as a script uses it, through the real binary: a commented file
//! edited step by step keeps its comments and loads (`wbackup plan`) after each step, the
//! previous version is kept as `.bak`, and every invalid or impossible edit is refused with
//! the file unchanged byte for byte. No node is contacted.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const COMMENTED: &str = r#"# my backups: every comment here must survive
orchestrator = "laptop"   # this machine
base_dir = "~/backup"

# what is kept
[retention]
keep_daily = 7            # a week of days
keep_weekly = 4

[nodes.laptop]
# the folders that matter
paths = ["~/Documents"]
# exclude = ["*.iso"]
"#;

fn wbackup(cfg: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wbackup"))
        .arg("--config")
        .arg(cfg)
        .args(args)
        .env("HOME", cfg.parent().unwrap())
        .env_remove("WBACKUP_CONFIG")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap()
}

fn said(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn comments(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.find('#').map(|i| l[i..].trim_end_matches('\r')))
        .collect()
}

fn bak(cfg: &Path) -> PathBuf {
    cfg.with_file_name(format!(
        "{}.bak",
        cfg.file_name().unwrap().to_string_lossy()
    ))
}

#[test]
fn a_commented_file_edited_step_by_step_keeps_its_comments_and_loads_after_each() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("config.toml");
    fs::write(&cfg, COMMENTED).unwrap();
    let steps: &[&[&str]] = &[
        &[
            "add-node",
            "home",
            "--address",
            "192.168.1.10",
            "--address",
            "home.example.org",
            "--user",
            "alice",
            "--path",
            "~/",
        ],
        &[
            "add-node",
            "nas",
            "--address",
            "nas.lan",
            "--storage",
            "--base-dir",
            "/srv/backup",
        ],
        &["add-path", "laptop", "~/Projects", "/etc/my dir"],
        &["add-exclude", "laptop", "**/node_modules"],
        &["set", "retention.keep_daily", "14"],
        &["set", "retention.keep_within", "30d"],
        &["set", "nodes.home.addresses", "10.0.0.9"],
        &["remove-node", "nas"],
    ];
    for step in steps {
        let before = fs::read_to_string(&cfg).unwrap();
        let o = wbackup(&cfg, &[&["config"], *step].concat());
        assert_eq!(o.status.code(), Some(0), "{step:?}: {}", said(&o));
        let after = fs::read_to_string(&cfg).unwrap();
        assert_ne!(after, before, "{step:?} changed the file");
        assert_eq!(
            fs::read_to_string(bak(&cfg)).unwrap(),
            before,
            "{step:?}: .bak"
        );
        for c in comments(COMMENTED) {
            assert!(after.contains(c), "{step:?} lost {c:?}:\n{after}");
        }
        let plan = wbackup(&cfg, &["plan"]);
        assert_eq!(plan.status.code(), Some(0), "{step:?}: {}", said(&plan));
    }
    let text = fs::read_to_string(&cfg).unwrap();
    assert!(
        text.contains("keep_daily = 14            # a week of days"),
        "{text}"
    );
    assert!(
        text.contains("paths = [\"~/Documents\", \"~/Projects\", \"/etc/my dir\"]"),
        "{text}"
    );
    assert!(text.contains("addresses = [\"10.0.0.9\"]"), "{text}");
    assert!(!text.contains("nas"), "{text}");
    let plan = String::from_utf8(wbackup(&cfg, &["plan"]).stdout).unwrap();
    assert!(plan.contains("--keep-daily 14"), "{plan}");
    assert!(plan.contains("--keep-within 30d"), "{plan}");
    assert!(plan.contains("/etc/my dir"), "{plan}");
    assert!(plan.contains("10.0.0.9"), "{plan}");
    let o = wbackup(&cfg, &["config", "show"]);
    assert_eq!(String::from_utf8(o.stdout).unwrap(), text);
}

#[test]
fn removing_a_node_says_nothing_is_deleted_and_the_orchestrator_or_last_node_stay() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("config.toml");
    fs::write(&cfg, COMMENTED).unwrap();
    let o = wbackup(
        &cfg,
        &[
            "config",
            "add-node",
            "home",
            "--address",
            "h",
            "--path",
            "/srv",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    let o = wbackup(&cfg, &["config", "remove-node", "home"]);
    let out = said(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("nothing was deleted on any node"), "{out}");
    assert!(out.contains("~/backup/home/restic on laptop"), "{out}");
    for (args, says) in [
        (vec!["remove-node", "laptop"], "\"laptop\" is the only node"),
        (vec!["remove-node", "home"], "there is no node \"home\""),
    ] {
        let before = fs::read(&cfg).unwrap();
        let o = wbackup(&cfg, &[&["config"], args.as_slice()].concat());
        assert_eq!(o.status.code(), Some(2), "{}", said(&o));
        assert!(said(&o).contains(says), "{}", said(&o));
        assert_eq!(fs::read(&cfg).unwrap(), before);
    }
    let two = COMMENTED.replace(
        "[nodes.laptop]",
        "[nodes.home]\naddresses = [\"h\"]\n\n[nodes.laptop]",
    );
    fs::write(&cfg, &two).unwrap();
    let o = wbackup(&cfg, &["config", "remove-node", "laptop"]);
    assert_eq!(o.status.code(), Some(2), "{}", said(&o));
    assert!(said(&o).contains("is the orchestrator"), "{}", said(&o));
    assert_eq!(fs::read_to_string(&cfg).unwrap(), two);
}

#[test]
fn every_invalid_edit_is_refused_and_the_file_is_unchanged_byte_for_byte() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("config.toml");
    // CRLF line endings and comments everywhere: refusals must not even normalise them.
    let crlf = COMMENTED.replace('\n', "\r\n");
    fs::write(&cfg, &crlf).unwrap();
    let attacks: &[(&[&str], &str)] = &[
        (
            &["add-node", "../x", "--address", "h", "--storage"],
            "invalid node name \"../x\"",
        ),
        (
            &["add-node", "a/b", "--address", "h", "--storage"],
            "invalid node name",
        ),
        (
            &["add-node", "a\nb", "--address", "h", "--storage"],
            "invalid node name",
        ),
        (
            &["add-node", "a\"b", "--address", "h", "--storage"],
            "invalid node name",
        ),
        (
            &["add-node", "maschine-ü", "--address", "h", "--storage"],
            "invalid node name",
        ),
        (
            &["add-node", "Home", "--address", "h", "--storage"],
            "invalid node name",
        ),
        (
            &["add-node", "laptop", "--address", "h", "--storage"],
            "already exists",
        ),
        (
            &["add-node", "home", "--path", "/x"],
            "\"home\" has no addresses",
        ),
        (&["add-node", "home", "--address", "h"], "--storage"),
        (
            &["add-node", "home", "--address", "", "--storage"],
            "invalid address",
        ),
        (
            &[
                "add-node",
                "home",
                "--address=-oProxyCommand=x",
                "--storage",
            ],
            "invalid address",
        ),
        (
            &["add-path", "laptop", "Documents"],
            "relative path \"Documents\"",
        ),
        (&["add-path", "nope", "/x"], "no node \"nope\""),
        (
            &["remove-path", "laptop", "/not/there"],
            "is not in nodes.laptop.paths",
        ),
        (&["set", "jobs", "many"], "is neither a number of steps"),
        (&["set", "jobs", "0"], "out of range"),
        (&["set", "retention.keep_daily", "-1"], "invalid value"),
        (&["set", "replication.enabled", "yes"], "invalid type"),
        (&["set", "nodes.laptop.paths", "relative"], "relative path"),
        (&["set", "retention", "3"], "is a table"),
        (
            &["set", "retention.keep_daly", "3"],
            "unknown field `keep_daly`",
        ),
        (&["set", "orchestrator", "nas"], "unknown orchestrator"),
        (&["set", "base_dir", "backup"], "not an absolute path"),
        (&["set", "nodes..user", "x"], "is not a key"),
        (&["unset", "check.read_data_subset"], "is not set"),
        (&["unset", "nodes.laptop"], "remove-node"),
    ];
    for (args, says) in attacks {
        let o = wbackup(&cfg, &[&["config"], *args].concat());
        let out = said(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {out}");
        assert!(out.contains(says), "{args:?} should say {says:?}: {out}");
        assert!(
            out.contains("nothing was written") || out.contains("--storage"),
            "{args:?}: {out}"
        );
        assert_eq!(
            fs::read_to_string(&cfg).unwrap(),
            crlf,
            "{args:?} changed the file"
        );
        assert!(!bak(&cfg).exists(), "{args:?} wrote a .bak");
    }
    // A valid edit of the same file keeps its CRLF line endings and its comments.
    let o = wbackup(&cfg, &["config", "add-path", "laptop", "~/Music"]);
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    let text = fs::read_to_string(&cfg).unwrap();
    assert_eq!(
        text,
        crlf.replace("[\"~/Documents\"]", "[\"~/Documents\", \"~/Music\"]")
    );
    assert_eq!(fs::read_to_string(bak(&cfg)).unwrap(), crlf);
}

#[test]
fn a_symbolic_link_stays_a_link_and_its_target_is_edited() {
    let d = tempfile::tempdir().unwrap();
    let real = d.path().join("dotfiles/wbackup.toml");
    fs::create_dir_all(real.parent().unwrap()).unwrap();
    fs::write(&real, COMMENTED).unwrap();
    let link = d.path().join("config.toml");
    std::os::unix::fs::symlink("dotfiles/wbackup.toml", &link).unwrap();
    let o = wbackup(&link, &["config", "set", "jobs", "2"]);
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    assert!(said(&o).contains("where the link leads"), "{}", said(&o));
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(fs::read_to_string(&real).unwrap().contains("jobs = 2"));
    assert_eq!(fs::read_to_string(bak(&real)).unwrap(), COMMENTED);
}

#[test]
fn without_a_file_the_first_edit_writes_the_starter_file_with_it() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("sub/config.toml");
    let o = wbackup(&cfg, &["config", "set", "jobs", "nope"]);
    assert_eq!(o.status.code(), Some(2), "{}", said(&o));
    assert!(!cfg.exists(), "nothing invalid is ever written");
    let o = wbackup(&cfg, &["config", "add-exclude", &local(&cfg), "*.iso"]);
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    assert!(
        said(&o).contains("created from the starter configuration"),
        "{}",
        said(&o)
    );
    let text = fs::read_to_string(&cfg).unwrap();
    assert!(text.starts_with("# wbackup configuration."), "{text}");
    assert!(text.contains("exclude = [\"*.iso\"]"), "{text}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&cfg).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(wbackup(&cfg, &["plan"]).status.code(), Some(0));
}

/// The node the starter file names after this host, as `wbackup config show` prints it.
fn local(cfg: &Path) -> String {
    let shown = String::from_utf8(wbackup(cfg, &["config", "show"]).stdout).unwrap();
    shown
        .lines()
        .find_map(|l| l.strip_prefix("orchestrator = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_string()
}

/// A small file system mounted on `dir`, remounted read-only (the tests run as root, for
/// whom permissions alone do not stop a write).
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_read_only_folder_or_file_is_refused_with_the_file_unchanged() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("ro");
    fs::create_dir_all(&dir).unwrap();
    let mount = |args: &[&str]| {
        let st = Command::new("mount").args(args).arg(&dir).status().unwrap();
        assert!(st.success(), "mount {args:?}");
    };
    mount(&["-t", "tmpfs", "-o", "size=1m", "tmpfs"]);
    let _m = Mount(dir.clone());
    let cfg = dir.join("config.toml");
    fs::write(&cfg, COMMENTED).unwrap();
    mount(&["-o", "remount,ro"]);
    let o = wbackup(&cfg, &["config", "add-path", "laptop", "/x"]);
    assert_eq!(o.status.code(), Some(1), "{}", said(&o));
    assert!(said(&o).contains("cannot write"), "{}", said(&o));
    assert!(said(&o).contains("was not changed"), "{}", said(&o));
    assert_eq!(fs::read_to_string(&cfg).unwrap(), COMMENTED);

    let w = d.path().join("config.toml");
    fs::write(&w, COMMENTED).unwrap();
    fs::set_permissions(&w, std::os::unix::fs::PermissionsExt::from_mode(0o400)).unwrap();
    let o = wbackup(&w, &["config", "add-path", "laptop", "/x"]);
    assert_eq!(o.status.code(), Some(1), "{}", said(&o));
    assert!(
        said(&o).contains("is read-only (mode 0400)"),
        "{}",
        said(&o)
    );
    assert_eq!(fs::read_to_string(&w).unwrap(), COMMENTED);
}
