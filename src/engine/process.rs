//! The one way wbackup starts a process, locally or on another node through ssh.
//!
//! argv only: a remote command line is built from quoted words (`shell::join`), never
//! from pasted user strings. stdout and stderr are read concurrently, line by line, so
//! neither pipe can fill up and stall the child. The password, when one is needed, goes
//! to the child's stdin and nowhere else. Every process runs in its own process group and
//! is ended on cancellation: a restic process gets SIGINT first (locally, or on its node
//! through the shared ssh connection) so it removes its lock, then the group is killed.

use crate::shell;
use secrecy::{ExposeSecret, SecretString};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use crate::engine::events::Stream;

/// How long a cancelled process may take to clean up (restic removes its lock) before
/// it is killed.
const GRACE: Duration = Duration::from_secs(8);

/// Variables that would make restic take a password from somewhere other than stdin.
const RESTIC_PASSWORD_VARS: [&str; 3] = [
    "RESTIC_PASSWORD",
    "RESTIC_PASSWORD_FILE",
    "RESTIC_PASSWORD_COMMAND",
];

/// An established connection to a remote node: every command to it goes through the
/// run's single ssh master connection (OpenSSH connection sharing).
#[derive(Debug, Clone)]
pub struct Remote {
    pub node: String,
    pub address: String,
    /// `ssh` plus the options every client of this node's connection uses.
    pub ssh: Vec<String>,
    pub control_path: PathBuf,
}

impl Remote {
    /// The `-e` value for rsync: the same ssh client, on the shared connection.
    pub fn rsync_shell(&self) -> String {
        shell::join(&self.ssh)
    }

    fn argv(&self, command_line: String) -> Vec<String> {
        let mut a = self.ssh.clone();
        a.push("--".into());
        a.push(self.address.clone());
        a.push(command_line);
        a
    }
}

/// Where a process runs.
#[derive(Debug, Clone, Copy)]
pub enum At<'a> {
    Local,
    Remote(&'a Remote),
}

pub enum Input<'a> {
    Null,
    Password(&'a SecretString),
    Bytes(Vec<u8>),
}

pub struct Job<'a> {
    pub argv: Vec<String>,
    pub stdin: Input<'a>,
    pub timeout: Option<Duration>,
    /// Split stdout on `\r` too (rsync's progress lines).
    pub carriage_returns: bool,
    /// Variables set for the local process (for a remote job: the local ssh).
    pub env: Vec<(String, String)>,
}

impl<'a> Job<'a> {
    pub fn new(argv: Vec<String>) -> Self {
        Job {
            argv,
            stdin: Input::Null,
            timeout: None,
            carriage_returns: false,
            env: vec![],
        }
    }
    /// A constant POSIX shell script run with `args` as its positional parameters: user
    /// data reaches the script as words, never as script text.
    pub fn script<S: Into<String>>(script: &str, args: impl IntoIterator<Item = S>) -> Self {
        let mut argv = vec!["sh".to_string(), "-c".into(), script.into(), "sh".into()];
        argv.extend(args.into_iter().map(Into::into));
        Job::new(argv)
    }
    pub fn stdin(mut self, input: Input<'a>) -> Self {
        self.stdin = input;
        self
    }
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
    pub fn carriage_returns(mut self) -> Self {
        self.carriage_returns = true;
        self
    }
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_string(), value.into()));
        self
    }
}

#[derive(Debug, Default)]
pub struct Finished {
    /// None when the process was killed by a signal or never started.
    pub code: Option<i32>,
    pub stderr_tail: Vec<String>,
    pub cancelled: bool,
    pub timed_out: bool,
    /// Set when the program could not be started at all.
    pub spawn_error: Option<String>,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.cancelled && !self.timed_out
    }
    /// What the process's own words say went wrong, where a person can act on it: a full
    /// or read-only disk, a repository locked by another restic.
    pub fn cause(&self) -> crate::engine::events::Cause {
        use crate::engine::events::Cause;
        let said = |words: &str| {
            self.stderr_tail
                .iter()
                .any(|l| l.to_lowercase().contains(words))
        };
        if said("no space left on device") || said("disk quota exceeded") {
            Cause::DiskFull
        } else if said("read-only file system") {
            Cause::ReadOnlyDisk
        } else if said("repository is already locked") {
            Cause::Locked
        } else {
            Cause::Other
        }
    }

    /// A one-line description of how the process ended, for error messages.
    pub fn describe(&self) -> String {
        if let Some(e) = &self.spawn_error {
            return e.clone();
        }
        if self.cancelled {
            return "interrupted".into();
        }
        if self.timed_out {
            return "timed out".into();
        }
        let last = self
            .stderr_tail
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .cloned();
        match (self.code, last) {
            (Some(c), Some(l)) => format!("exit code {c}: {l}"),
            (Some(c), None) => format!("exit code {c}"),
            (None, Some(l)) => format!("killed by a signal: {l}"),
            (None, None) => "killed by a signal".into(),
        }
    }
}

const TAIL: usize = 20;

/// Runs `job` at `at`, giving each output line to `on_line` as it arrives (as text: a
/// byte that is not UTF-8 shows as U+FFFD).
pub async fn run(
    at: At<'_>,
    job: Job<'_>,
    cancel: &CancellationToken,
    mut on_line: impl FnMut(Stream, String),
) -> Finished {
    run_bytes(at, job, cancel, |stream, bytes| {
        on_line(stream, String::from_utf8_lossy(&bytes).into_owned())
    })
    .await
}

/// `run`, giving each line as the bytes the process wrote (without its line end), for
/// output that must arrive unaltered.
pub async fn run_bytes(
    at: At<'_>,
    job: Job<'_>,
    cancel: &CancellationToken,
    mut on_line: impl FnMut(Stream, Vec<u8>),
) -> Finished {
    let is_restic = job.argv.first().map(|p| p == "restic").unwrap_or(false);
    let argv = match at {
        At::Local => job.argv.clone(),
        At::Remote(r) => {
            // `sh -c` gives POSIX semantics whatever the login shell is, and reports the
            // pid so that a cancelled restic can be interrupted on its node. What the
            // process creates there is private to the user (umask 077), as on the
            // orchestrator.
            let mut words: Vec<String> = vec![
                "sh".into(),
                "-c".into(),
                "umask 077; echo wbackup-pid $$; exec \"$@\"".into(),
                "sh".into(),
            ];
            if is_restic {
                words.push("env".into());
                for v in RESTIC_PASSWORD_VARS {
                    words.push("-u".into());
                    words.push(v.into());
                }
            }
            words.extend(job.argv.iter().cloned());
            r.argv(format!("exec {}", shell::join(&words)))
        }
    };

    let mut child = match spawn(&argv, !matches!(job.stdin, Input::Null), &job.env) {
        Ok(c) => c,
        Err(e) => {
            return Finished {
                spawn_error: Some(e.to_string()),
                ..Default::default()
            }
        }
    };
    let pid = child.id();

    if let Some(mut stdin) = child.stdin.take() {
        match job.stdin {
            Input::Password(secret) => {
                // Written straight from the secret; a failed write shows up as restic's
                // own error, so it is not reported twice.
                let _ = stdin.write_all(secret.expose_secret().as_bytes()).await;
                let _ = stdin.write_all(b"\n").await;
                drop(stdin);
            }
            Input::Bytes(data) => {
                tokio::spawn(async move {
                    let _ = stdin.write_all(&data).await;
                });
            }
            Input::Null => {}
        }
    }

    let mut rx = read_output(&mut child, job.carriage_returns);

    let mut fin = Finished::default();
    let mut remote_pid: Option<u32> = None;
    let deadline = job.timeout.map(|t| tokio::time::Instant::now() + t);
    let mut tail = Tail::new(TAIL);
    loop {
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            line = rx.recv() => match line {
                Some((Stream::Stdout, text)) if matches!(at, At::Remote(_)) && remote_pid.is_none() && text.starts_with(b"wbackup-pid ") => {
                    remote_pid = String::from_utf8_lossy(&text["wbackup-pid ".len()..]).trim().parse().ok();
                }
                Some((stream, text)) => {
                    if stream == Stream::Stderr {
                        tail.push(&text);
                    }
                    on_line(stream, text);
                }
                None => break,
            },
            _ = cancel.cancelled(), if !fin.cancelled => {
                fin.cancelled = true;
                interrupt(at, pid, remote_pid, &mut child).await;
                break;
            }
            _ = sleep, if !fin.timed_out => {
                fin.timed_out = true;
                interrupt(at, pid, remote_pid, &mut child).await;
                break;
            }
        }
    }
    // Drain what is left (after an interruption, restic's last words are useful).
    while let Ok(Some((stream, text))) =
        tokio::time::timeout(Duration::from_millis(200), rx.recv()).await
    {
        if stream == Stream::Stderr {
            tail.push(&text);
        }
        on_line(stream, text);
    }
    let status = child.wait().await.ok();
    fin.code = status.and_then(|s| s.code());
    fin.stderr_tail = tail.lines.into_iter().collect();
    fin
}

/// Why a program could not be started at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot start {program}: {source}")]
pub struct SpawnError {
    pub program: String,
    #[source]
    pub source: std::io::Error,
}

impl SpawnError {
    /// Is the program missing (not installed, or not on the PATH)?
    pub fn is_missing(&self) -> bool {
        self.source.kind() == std::io::ErrorKind::NotFound
    }
}

/// Starts `argv` locally the one way: its own process group (Ctrl-C reaches wbackup,
/// which then ends its processes in order), killed when dropped, stdout and stderr
/// piped, no restic password variable inherited.
fn spawn(
    argv: &[String],
    piped_stdin: bool,
    env: &[(String, String)],
) -> Result<tokio::process::Child, SpawnError> {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(if piped_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for v in RESTIC_PASSWORD_VARS {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.spawn().map_err(|source| SpawnError {
        program: argv[0].clone(),
        source,
    })
}

/// Reads the child's stdout and stderr concurrently, line by line, into one channel.
fn read_output(
    child: &mut tokio::process::Child,
    carriage_returns: bool,
) -> mpsc::Receiver<(Stream, Vec<u8>)> {
    let (tx, rx) = mpsc::channel::<(Stream, Vec<u8>)>(256);
    let out = child.stdout.take().expect("piped");
    let err = child.stderr.take().expect("piped");
    tokio::spawn(read_lines(
        out,
        Stream::Stdout,
        carriage_returns,
        tx.clone(),
    ));
    tokio::spawn(read_lines(err, Stream::Stderr, false, tx));
    rx
}

/// The last lines a process wrote on stderr, as text.
struct Tail {
    lines: std::collections::VecDeque<String>,
    max: usize,
}

impl Tail {
    fn new(max: usize) -> Tail {
        Tail {
            lines: Default::default(),
            max,
        }
    }
    fn push(&mut self, bytes: &[u8]) {
        if self.lines.len() == self.max {
            self.lines.pop_front();
        }
        self.lines
            .push_back(String::from_utf8_lossy(bytes).into_owned());
    }
}

/// A process that keeps running while wbackup talks to it, for as long as wbackup
/// needs it (the ssh master connection of a node): started like every other process
/// (`spawn`), its stdin held open, its stdout read line by line, its stderr kept.
pub struct Running {
    child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    output: mpsc::Receiver<(Stream, Vec<u8>)>,
    stderr: Tail,
}

/// How many of a long-running process's stderr lines are kept: enough for ssh's whole
/// complaint about a changed host key.
const RUNNING_TAIL: usize = 200;

impl Running {
    /// Starts `argv` locally, its stdin a pipe that stays open until `close`.
    pub fn start(argv: &[String]) -> Result<Running, SpawnError> {
        let mut child = spawn(argv, true, &[])?;
        let stdin = child.stdin.take();
        let output = read_output(&mut child, false);
        Ok(Running {
            child,
            stdin,
            output,
            stderr: Tail::new(RUNNING_TAIL),
        })
    }

    /// The next line it prints on stdout (stderr lines meanwhile are kept); None once
    /// its output ended.
    pub async fn next_line(&mut self) -> Option<String> {
        while let Some((stream, text)) = self.output.recv().await {
            match stream {
                Stream::Stderr => self.stderr.push(&text),
                _ => return Some(String::from_utf8_lossy(&text).into_owned()),
            }
        }
        None
    }

    /// Ends it at once (its whole process group) and returns what it said on stderr,
    /// reading what is still coming for up to `wait`.
    pub async fn kill(mut self, wait: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Some((stream, text))) =
            tokio::time::timeout_at(deadline, self.output.recv()).await
        {
            if stream == Stream::Stderr {
                self.stderr.push(&text);
            }
        }
        self.kill_group().await;
        self.stderr.lines.into_iter().collect()
    }

    /// Closes its stdin (the way it is asked to end) and waits up to `grace` for it to
    /// exit, then kills it.
    pub async fn close(mut self, grace: Duration) {
        drop(self.stdin.take());
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            self.kill_group().await;
        }
    }

    async fn kill_group(&mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: plain syscall on the child's own process group.
            unsafe {
                libc::kill(-(pid as i32), libc::SIGKILL);
            }
        }
        let _ = self.child.kill().await;
    }
}

/// Ends a running process: SIGINT to the real worker (restic cleans up its lock), then,
/// after a grace period, SIGKILL to the local process group.
async fn interrupt(
    at: At<'_>,
    pid: Option<u32>,
    remote_pid: Option<u32>,
    child: &mut tokio::process::Child,
) {
    match (at, remote_pid) {
        (At::Remote(r), Some(rpid)) => {
            let argv = r.argv(format!("kill -INT {rpid}"));
            let _ = tokio::time::timeout(
                Duration::from_secs(5),
                Command::new(&argv[0])
                    .args(&argv[1..])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status(),
            )
            .await;
        }
        _ => {
            if let Some(pid) = pid {
                // SAFETY: plain syscall on the child's process group.
                unsafe {
                    libc::kill(-(pid as i32), libc::SIGINT);
                }
            }
        }
    }
    if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
        if let Some(pid) = pid {
            // SAFETY: as above.
            unsafe {
                libc::kill(-(pid as i32), libc::SIGKILL);
            }
        }
        let _ = child.kill().await;
    }
}

async fn read_lines<R: tokio::io::AsyncRead + Unpin>(
    reader: R,
    stream: Stream,
    carriage_returns: bool,
    tx: mpsc::Sender<(Stream, Vec<u8>)>,
) {
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = if carriage_returns {
            read_until_any(&mut reader, &mut buf).await
        } else {
            reader.read_until(b'\n', &mut buf).await
        };
        match n {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                while matches!(buf.last(), Some(b'\n' | b'\r')) {
                    buf.pop();
                }
                if tx.send((stream, std::mem::take(&mut buf))).await.is_err() {
                    break;
                }
            }
        }
    }
}

async fn read_until_any<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(total);
        }
        if let Some(i) = available.iter().position(|&b| b == b'\n' || b == b'\r') {
            buf.extend_from_slice(&available[..=i]);
            reader.consume(i + 1);
            return Ok(total + i + 1);
        }
        let n = available.len();
        buf.extend_from_slice(available);
        reader.consume(n);
        total += n;
    }
}

/// Runs a short housekeeping command and collects its stdout.
pub async fn capture(
    at: At<'_>,
    job: Job<'_>,
    cancel: &CancellationToken,
) -> (Finished, Vec<String>) {
    let mut lines = Vec::new();
    let fin = run(at, job, cancel, |stream, text| {
        if stream == Stream::Stdout {
            lines.push(text);
        }
    })
    .await;
    (fin, lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ending_names_the_disk_or_lock_it_hit() {
        use crate::engine::events::Cause;
        let ended = |line: &str| Finished {
            code: Some(1),
            stderr_tail: vec!["first".into(), line.into()],
            ..Finished::default()
        };
        let cases = [
            ("mv: write error: No space left on device", Cause::DiskFull),
            ("cp: Disk quota exceeded", Cause::DiskFull),
            ("touch: cannot touch 'x': Read-only file system", Cause::ReadOnlyDisk),
            ("Fatal: unable to create lock in backend: repository is already locked by PID 7 on nas", Cause::Locked),
            ("mv: cannot stat 'x': No such file or directory", Cause::Other),
        ];
        for (line, cause) in cases {
            assert_eq!(ended(line).cause(), cause, "{line}");
        }
    }

    #[tokio::test]
    async fn a_running_process_gives_its_lines_and_its_complaint() {
        let argv: Vec<String> = ["sh", "-c", "echo first; echo 'bad news' >&2; exit 3"]
            .map(String::from)
            .to_vec();
        let mut p = Running::start(&argv).unwrap();
        assert_eq!(p.next_line().await.as_deref(), Some("first"));
        assert_eq!(p.next_line().await, None);
        assert_eq!(p.kill(Duration::from_secs(2)).await, ["bad news"]);
    }

    #[tokio::test]
    async fn a_running_process_ends_when_its_input_closes_or_is_killed() {
        let argv: Vec<String> = ["sh", "-c", "echo ready; exec cat >/dev/null"]
            .map(String::from)
            .to_vec();
        let mut p = Running::start(&argv).unwrap();
        assert_eq!(p.next_line().await.as_deref(), Some("ready"));
        let started = std::time::Instant::now();
        p.close(Duration::from_secs(20)).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "cat saw end of input"
        );
        let argv: Vec<String> = ["sh", "-c", "trap '' HUP; sleep 1000"]
            .map(String::from)
            .to_vec();
        let p = Running::start(&argv).unwrap();
        let started = std::time::Instant::now();
        p.close(Duration::from_millis(200)).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "killed after its grace"
        );
    }

    #[test]
    fn a_missing_program_is_told_apart() {
        let e = Running::start(&["wbackup-no-such-program".to_string()])
            .err()
            .unwrap();
        assert!(e.is_missing());
        assert!(e
            .to_string()
            .starts_with("cannot start wbackup-no-such-program: "));
    }
}
