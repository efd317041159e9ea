//! For unit tests: runs one of the scripts that go to the nodes (`engine/sh/`) through a
//! real `sh`, as a node would, so each is tested with the parser that reads it.

use std::ffi::OsStr;
use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `script` with `args` and `stdin`: its exit status and its stdout's lines.
pub fn run<A: AsRef<OsStr>>(script: &str, args: &[A], stdin: &str) -> (Option<i32>, Vec<String>) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sh runs");
    // A script may end without reading its input.
    let _ = child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes());
    let out = child.wait_with_output().expect("sh ends");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    (out.status.code(), lines)
}
