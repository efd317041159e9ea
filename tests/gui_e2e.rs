//! End to end through the real window: the `wbackup` binary runs under Xvfb on a lab of
//! three nodes (the laptop here, two sshd "machines"); xdotool types the password and
//! clicks "Backup all" with real input events; the run's summary on disk says when it is
//! over; restic then checks that every node holds every repository. The failure variant
//! stops one node's sshd first: the window asks to go on without it before anything is
//! written on any node (checked on disk), Space answers "Continue without", and the
//! run's summary must name that node.
//!
//! Screenshots of both finished runs are saved to `$WBACKUP_E2E_SHOTS` when set
//! (`scripts/screenshots.sh` points it at `docs/screenshots/`).
//!
//! `harness = false`: the two scenarios run one after the other (each drives a display
//! and real backups on a two-core machine).

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// An Xvfb server on a free display; killed on drop.
struct Display {
    server: Child,
    name: String,
}

impl Display {
    fn start() -> Display {
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
        Display { server, name }
    }

    fn xdotool(&self, args: &[&str]) -> String {
        let out = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &self.name)
            .output()
            .expect("xdotool is installed");
        assert!(
            out.status.success(),
            "xdotool {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn screenshot(&self, window: &str, to: &Path) {
        let status = Command::new("import")
            .args(["-window", window])
            .arg(to)
            .env("DISPLAY", &self.name)
            .status()
            .expect("imagemagick is installed");
        assert!(status.success(), "screenshot to {}", to.display());
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The window process; killed on drop.
struct Window(Child);

impl Drop for Window {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn open_window(lab: &Lab, display: &Display, config: &str) -> (Window, String) {
    let runtime = lab.path().join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let config = lab.write_config(config);
    let child = Command::new(env!("CARGO_BIN_EXE_wbackup"))
        .arg("--config")
        .arg(&config)
        .arg("gui")
        .env("DISPLAY", &display.name)
        .env("QT_QPA_PLATFORM", "xcb")
        .env("XDG_RUNTIME_DIR", &runtime)
        // The window remembers its geometry there, not in the real user's state folder.
        .env("XDG_STATE_HOME", runtime.join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let window = Window(child);
    // --sync waits for the window to be mapped.
    let id = display.xdotool(&["search", "--sync", "--onlyvisible", "--name", "^wbackup$"]);
    let id = id.lines().next().unwrap().to_string();
    (window, id)
}

/// Types the password twice (a fresh lab holds no repository yet, so the window asks
/// for it again) and starts the run like a person: a click in the field at the left of
/// the top bar (its position in docs/screenshots), Enter to reach the repeat field,
/// Enter to start.
fn type_password_twice_and_start(display: &Display, window: &str) {
    display.xdotool(&["windowfocus", "--sync", window]);
    display.xdotool(&["mousemove", "--window", window, "120", "23", "click", "1"]);
    display.xdotool(&["type", "--delay", "20", PASSWORD]);
    display.xdotool(&["key", "Return"]);
    display.xdotool(&["type", "--delay", "20", PASSWORD]);
    display.xdotool(&["key", "Return"]);
}

/// The finished run's summary (the logbook writes it when the run ends).
fn wait_for_summary(lab: &Lab, orchestrator: &str, timeout: Duration) -> serde_json::Value {
    let logs = lab.node(orchestrator).base.join("logs");
    let deadline = Instant::now() + timeout;
    loop {
        let finished = std::fs::read_dir(&logs).ok().and_then(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .filter_map(|p| std::fs::read(p).ok())
                .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .find(|s| s["status"] != "running")
        });
        if let Some(summary) = finished {
            return summary;
        }
        assert!(
            Instant::now() < deadline,
            "no finished run in {} (did the click reach the window?)",
            logs.display()
        );
        // The summary is a file another process writes; look again shortly.
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn shots_dir() -> Option<PathBuf> {
    std::env::var_os("WBACKUP_E2E_SHOTS").map(PathBuf::from)
}

/// Lets the window paint the last batch before a screenshot (only for the picture).
fn settle_for_screenshot() {
    std::thread::sleep(Duration::from_millis(800));
}

fn every_node_gets_every_repository() {
    let lab = Lab::new(&["laptop", "home", "vps"]);
    lab.fill(3);
    let display = Display::start();
    let (_window, id) = open_window(&lab, &display, &lab.config_text(""));
    type_password_twice_and_start(&display, &id);
    let summary = wait_for_summary(&lab, "laptop", Duration::from_secs(300));
    assert_eq!(summary["status"], "passed", "{summary:#}");
    lab.assert_everyone_holds_everything();
    if let Some(dir) = shots_dir() {
        settle_for_screenshot();
        display.screenshot(&id, &dir.join("e2e-passed.png"));
    }
}

/// Waits until the run's log on disk says the run waits for a decision.
fn wait_for_question(lab: &Lab, timeout: Duration) {
    let logs = lab.node("laptop").base.join("logs");
    let deadline = Instant::now() + timeout;
    loop {
        let asked = std::fs::read_dir(&logs).ok().is_some_and(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .any(|text| text.contains("waiting for a decision: go on without vps"))
        });
        if asked {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the run never asked to go on without vps"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn an_unreachable_node_is_named_before_anything_is_written() {
    let lab = Lab::new(&["laptop", "home", "vps"]);
    lab.fill(2);
    lab.stop_sshd("vps");
    let display = Display::start();
    // The window honours `jobs`: steps of one kind run side by side here.
    let config = format!("jobs = 3\n{}", lab.config_text(""));
    let (_window, id) = open_window(&lab, &display, &config);
    let before: Vec<_> = lab.nodes.iter().map(|n| tree(&n.base)).collect();
    type_password_twice_and_start(&display, &id);
    // The window asks; until the answer nothing is written on any node.
    wait_for_question(&lab, Duration::from_secs(120));
    for (n, before) in lab.nodes.iter().zip(&before) {
        assert_eq!(
            &tree(&n.base),
            before,
            "{} changed before the answer",
            n.name
        );
    }
    if let Some(dir) = shots_dir() {
        settle_for_screenshot();
        display.screenshot(&id, &dir.join("e2e-preflight.png"));
    }
    // "Continue without vps" holds the focus: a person presses Space.
    display.xdotool(&["windowfocus", "--sync", &id]);
    display.xdotool(&["key", "space"]);
    let summary = wait_for_summary(&lab, "laptop", Duration::from_secs(300));
    assert_eq!(summary["status"], "failed", "{summary:#}");
    let failed: Vec<&str> = summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["result"] == "failed")
        .map(|s| s["node"].as_str().unwrap())
        .collect();
    assert!(failed.contains(&"vps"), "failed steps: {failed:?}");
    // With jobs = 3 the two backups ran side by side.
    let step = |kind: &str, node: &str| {
        summary["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["kind"] == kind && s["node"] == node)
            .cloned()
            .unwrap()
    };
    let (laptop, home) = (step("backup", "laptop"), step("backup", "home"));
    assert!(
        home["started"].as_str().unwrap() < laptop["finished"].as_str().unwrap(),
        "the backups did not overlap: {laptop:#} {home:#}"
    );
    // The nodes that answered still hold each other's repositories.
    for (holder, owner) in [("laptop", "home"), ("home", "laptop")] {
        lab.check(&lab.repo(holder, owner));
    }
    if let Some(dir) = shots_dir() {
        settle_for_screenshot();
        display.screenshot(&id, &dir.join("e2e-unreachable.png"));
    }
}

fn main() {
    for (name, test) in [
        (
            "every node gets every repository",
            every_node_gets_every_repository as fn(),
        ),
        (
            "an unreachable node is named before anything is written",
            an_unreachable_node_is_named_before_anything_is_written,
        ),
    ] {
        println!("test {name} ...");
        test();
        println!("test {name} ... ok");
    }
}
