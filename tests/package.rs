//! What the Debian package ships besides the binary comes from the binary itself: the
//! man page and completions written by the hidden `generate-assets`, and the commit
//! `--version` names. These tests run the built binary; `scripts/check-deb.sh` installs
//! the real package and checks it as a user meets it.

use std::path::Path;
use std::process::Command;

const SUBCOMMANDS: &[&str] = &[
    "gui", "plan", "run", "status", "verify", "doctor", "restore", "init", "config",
];

/// `wbackup config`'s own subcommands, each with its page `wbackup-config-NAME.1`.
const CONFIG_SUBCOMMANDS: &[&str] = &[
    "show",
    "set",
    "unset",
    "add-node",
    "remove-node",
    "add-path",
    "remove-path",
    "add-exclude",
    "remove-exclude",
];

fn wbackup(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_wbackup"))
        .args(args)
        .output()
        .expect("run wbackup");
    assert!(
        out.status.success(),
        "wbackup {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn generated_man_pages_and_completions_name_every_subcommand() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("assets");
    wbackup(&["generate-assets".as_ref(), dir.as_os_str()]);
    let man = read(&dir, "wbackup.1");
    assert!(man.contains(".TH wbackup 1"), "{man}");
    for sub in SUBCOMMANDS {
        // The page lists each subcommand as wbackup-NAME(1), and that page exists.
        assert!(
            man.contains(&format!("wbackup\\-{sub}(1)")),
            "{sub} in {man}"
        );
        let page = read(&dir, &format!("wbackup-{sub}.1"));
        assert!(page.contains(&format!(".TH wbackup-{sub} 1")), "{page}");
    }
    let bash = read(&dir, "wbackup.bash");
    let zsh = read(&dir, "_wbackup");
    let fish = read(&dir, "wbackup.fish");
    for sub in SUBCOMMANDS {
        assert!(bash.contains(&format!(" {sub} ")), "{sub} in bash: {bash}");
        assert!(zsh.contains(&format!("'{sub}:")), "{sub} in zsh: {zsh}");
        assert!(
            fish.contains(&format!("-a \"{sub}\"")),
            "{sub} in fish: {fish}"
        );
    }
    assert!(bash.contains("complete -F _wbackup"), "{bash}");
    assert!(zsh.starts_with("#compdef wbackup"), "{zsh}");
    // The generator itself is for packaging, not for users: in no page, no completion.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<String> = SUBCOMMANDS
        .iter()
        .map(|s| format!("wbackup-{s}.1"))
        .chain(
            CONFIG_SUBCOMMANDS
                .iter()
                .map(|s| format!("wbackup-config-{s}.1")),
        )
        .chain(["wbackup.1", "wbackup.bash", "_wbackup", "wbackup.fish"].map(String::from))
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    for text in [&man, &bash, &zsh, &fish] {
        assert!(!text.contains("generate"), "hidden command in {text}");
    }
}

#[test]
fn hidden_generator_is_not_in_help() {
    let out = wbackup(&["--help".as_ref()]);
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("restore"), "{help}");
    assert!(!help.contains("generate-assets"), "{help}");
}

#[test]
fn version_names_the_commit() {
    let out = wbackup(&["--version".as_ref()]);
    let version = String::from_utf8(out.stdout).unwrap();
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git");
    assert!(
        head.status.success(),
        "this test runs in wbackup's git checkout"
    );
    let head = String::from_utf8(head.stdout).unwrap();
    let expected = format!("wbackup {} ({})\n", env!("CARGO_PKG_VERSION"), head.trim());
    assert_eq!(version, expected);
}
