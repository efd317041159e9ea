//! The command line: argument definitions, the password sources, the terminal printer,
//! and the subcommands that are not the window. Every command loads and validates the
//! whole configuration before it touches a node.

use crate::config::{self, Config};
use crate::engine::events::{Event, Outcome, RunStatus, Sink, Stream};
use crate::engine::node::{self, Conn};
use crate::engine::process::{self, Job};
use crate::engine::{self, replicate};
use crate::password::{self, Wiped};
use crate::plan::{self, Plan};
use crate::shell;
use clap::{Parser, Subcommand};
use secrecy::SecretString;
use std::io::Write;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// Exit statuses (DESIGN §4).
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Parser, Debug)]
#[command(
    name = "wbackup",
    version,
    about = "Backups with restic on every node, verified copies everywhere (rsync over SSH)."
)]
pub struct Cli {
    /// Configuration file (default: $WBACKUP_CONFIG, then ~/.config/wbackup/config.toml)
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Which nodes a plan covers and how many of its steps may run at once (`plan`, `run`).
#[derive(clap::Args, Debug, Default, Clone)]
pub struct Selection {
    /// Limit to this node (repeatable)
    #[arg(long = "node", value_name = "NAME")]
    pub nodes: Vec<String>,
    /// Run up to N steps of one kind at once, each on its own node (default: `jobs`
    /// in the configuration, else 1); replication steps always run one at a time
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=config::MAX_JOBS as i64))]
    pub jobs: Option<u16>,
}

impl Selection {
    /// The plan for these nodes, `--jobs` overriding the configuration's `jobs`.
    fn plan(&self, config: &Config) -> Result<Plan, plan::PlanError> {
        let mut plan = Plan::build(config, &self.nodes)?;
        if let Some(j) = self.jobs {
            plan.jobs = j.into();
        }
        Ok(plan)
    }
}

#[derive(clap::Args, Debug, Default, Clone)]
pub struct PasswordArgs {
    /// Run this shell command and use the first line it prints as the password
    #[arg(long, value_name = "CMD", conflicts_with = "password_file")]
    pub password_command: Option<String>,
    /// Read the password from the first line of this file (only its owner may read it)
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Open the window (the default with no command)
    Gui,
    /// Print the steps of a run and their exact commands, without running anything
    Plan {
        #[command(flatten)]
        select: Selection,
    },
    /// Back up, check, prune and replicate, as `wbackup plan` shows
    Run {
        #[command(flatten)]
        select: Selection,
        /// Print the event stream as JSON lines
        #[arg(long)]
        json: bool,
        /// Let replication remove from the copies of REPO the snapshots its source lost
        /// without wbackup forgetting them (after you checked the source; repeatable)
        #[arg(long = "accept-shrink", value_name = "REPO")]
        accept_shrink: Vec<String>,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Per node: how it is reached, which repositories it holds, their latest snapshot
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Per node: address, restic and rsync versions, free space, and what to fix
    Doctor,
    /// Print the restic commands that restore REPO from NODE's copy (never runs them)
    Restore {
        /// The repository: the name of the node it belongs to
        repo: String,
        /// The node whose copy to restore from (default: the orchestrator)
        #[arg(long, value_name = "NODE")]
        from: Option<String>,
        /// Snapshot id (default: latest)
        #[arg(long, value_name = "ID")]
        snapshot: Option<String>,
        /// Directory to restore into; must not exist yet (default: ~/restore-REPO-DATE)
        #[arg(long, value_name = "DIR")]
        target: Option<String>,
    },
    /// Prove copies restorable: a restore drill of a sample of files on the node that
    /// holds each copy, compared with the source, and a rotating read of its data
    Verify {
        /// Only the copies held by this node (repeatable)
        #[arg(long = "node", value_name = "NODE")]
        nodes: Vec<String>,
        /// Only the copies of this repository (repeatable)
        #[arg(long = "repo", value_name = "REPO")]
        repos: Vec<String>,
        /// Print the proofs as JSON
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Write a commented starter configuration (never overwrites), or with --from bring
    /// back the configuration and records a lost orchestrator kept on another node
    Init {
        /// An ssh destination of a node that took part in the lost orchestrator's runs
        /// (`home.example.org`, `alice@192.168.1.10`, an ~/.ssh/config alias)
        #[arg(long, value_name = "ADDRESS")]
        from: Option<String>,
        /// That node's base_dir, when it is not ~/backup
        #[arg(
            long,
            value_name = "DIR",
            requires = "from",
            default_value = "~/backup"
        )]
        base_dir: String,
        /// That node's ssh port, when it is not ssh's default
        #[arg(long, value_name = "PORT", requires = "from")]
        port: Option<u16>,
        /// An ssh configuration file, given to ssh as -F
        #[arg(long, value_name = "FILE", requires = "from")]
        ssh_config: Option<String>,
    },
}

/// Entry point for `main`: parses arguments, runs, returns the exit status.
pub fn main() -> i32 {
    // What wbackup and its processes create (logs, summaries, the run lock, the layout,
    // copies) is private to the user, like restic's own repository files.
    // SAFETY: umask only sets this process's file creation mask.
    unsafe {
        libc::umask(0o077);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("WBACKUP_LOG"))
        .with_writer(std::io::stderr)
        .init();
    if matches!(cli.command, None | Some(Command::Gui)) {
        return match crate::gui::run_window(cli.config.as_deref()) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("wbackup: {e:#}");
                EXIT_FAILED
            }
        };
    }
    if let Some(Command::Init {
        from,
        base_dir,
        port,
        ssh_config,
    }) = &cli.command
    {
        return match from {
            None => init(cli.config.as_deref()),
            Some(address) => init_from(
                cli.config.as_deref(),
                engine::records::Source {
                    address: address.clone(),
                    base_dir: base_dir.clone(),
                    port: *port,
                    ssh_config: ssh_config.clone(),
                },
            ),
        };
    }
    let config = match config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if config.is_builtin() {
        eprintln!(
            "note: no configuration at {}; using the built-in default (this machine, ~/Documents into ~/backup). `wbackup init` writes a starter file.",
            config.path().display()
        );
    }
    let rt = crate::runtime::engine().expect("tokio runtime");
    match cli.command.expect("handled above") {
        Command::Plan { select } => match select.plan(&config) {
            Ok(p) => {
                print!("{}", p.render(&config));
                EXIT_OK
            }
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_USAGE
            }
        },
        Command::Run {
            select,
            json,
            accept_shrink,
            password,
        } => {
            let mut plan = match select.plan(&config) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_USAGE;
                }
            };
            let replicated = |r: &String| {
                plan.steps
                    .iter()
                    .any(|s| s.kind == plan::StepKind::Replicate && s.node == *r)
            };
            if let Some(bad) = accept_shrink.iter().find(|r| !replicated(r)) {
                eprintln!("error: --accept-shrink {bad:?}: no repository of that name is replicated in this run");
                return EXIT_USAGE;
            }
            plan.accept_shrink = accept_shrink;
            let confirm = engine::holds_no_repository(&config);
            let (secret, cancel) = match password_and_signals(&rt, &password, confirm) {
                Ok(p) => p,
                Err(code) => return code,
            };
            rt.block_on(run(&config, &plan, secret, json, cancel))
        }
        Command::Status { json } => rt.block_on(status(&config, json)),
        Command::Verify {
            nodes,
            repos,
            json,
            password,
        } => {
            let known = |n: &String| config.node(n).is_some();
            let owners = |r: &String| config.node(r).is_some_and(|n| !n.is_storage());
            if let Some(bad) = nodes.iter().find(|n| !known(n)) {
                eprintln!(
                    "error: --node {bad:?}: no such node in {}",
                    config.path().display()
                );
                return EXIT_USAGE;
            }
            if let Some(bad) = repos.iter().find(|r| !owners(r)) {
                eprintln!("error: --repo {bad:?}: no node of that name backs up (repositories are named after the node they belong to)");
                return EXIT_USAGE;
            }
            let (secret, cancel) = match password_and_signals(&rt, &password, false) {
                Ok(p) => p,
                Err(code) => return code,
            };
            rt.block_on(verify(&config, &nodes, &repos, json, secret, cancel))
        }
        Command::Doctor => rt.block_on(doctor(&config)),
        Command::Restore {
            repo,
            from,
            snapshot,
            target,
        } => restore(&config, &repo, from, snapshot, target),
        Command::Gui | Command::Init { .. } => unreachable!("handled above"),
    }
}

fn init(explicit: Option<&std::path::Path>) -> i32 {
    let (path, _) = config::locate(explicit);
    match crate::starter::write(&path, &config::local_node_name()) {
        Ok(()) => {
            println!(
                "wrote {}; edit it, then check it with `wbackup plan`",
                path.display()
            );
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_FAILED
        }
    }
}

/// `wbackup init --from ADDRESS`: the configuration and records kept on that node.
fn init_from(explicit: Option<&std::path::Path>, from: engine::records::Source) -> i32 {
    if from.address.is_empty() || from.address.starts_with('-') {
        eprintln!(
            "error: --from {:?} is not an ssh destination (a host name, user@host or an alias)",
            from.address
        );
        return EXIT_USAGE;
    }
    let (path, _) = config::locate(explicit);
    let rt = crate::runtime::current_thread().expect("tokio runtime");
    match rt.block_on(engine::records::fetch(&path, &from)) {
        Ok(done) => {
            println!("{done}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_FAILED
        }
    }
}

/// How long `--password-command` may run: generous, since it may wait for a person at a
/// prompt (a pinentry, a security key), yet bounded, so an unattended run never hangs on
/// it.
pub const PASSWORD_COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Gets the password from the source the user chose, or asks on the terminal: twice
/// when `confirm` (no repository exists yet to try it on). `cancel` ends a password
/// command early (Ctrl-C, SIGTERM, SIGHUP).
pub async fn read_password(
    args: &PasswordArgs,
    confirm: bool,
    cancel: &CancellationToken,
) -> Result<SecretString, String> {
    if let Some(file) = &args.password_file {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(file)
            .map_err(|e| format!("cannot read the password file {}: {e}", file.display()))?;
        if meta.mode() & 0o077 != 0 {
            return Err(format!(
                "the password file {} can be read by others (mode {:o}); make it private: chmod 600 {}",
                file.display(),
                meta.mode() & 0o777,
                shell::quote(&file.to_string_lossy())
            ));
        }
        let bytes = Wiped::new(
            std::fs::read(file)
                .map_err(|e| format!("cannot read the password file {}: {e}", file.display()))?,
        );
        return password::from_bytes(&bytes, &format!("the file {}", file.display()));
    }
    if let Some(cmd) = &args.password_command {
        return password_from_command(cmd, PASSWORD_COMMAND_TIMEOUT, cancel).await;
    }
    let first = password::from_bytes(&prompt_password("restic password: ")?, "the terminal")?;
    if confirm {
        let again = prompt_password(
            "no repository exists yet, this run creates them with it; type it again: ",
        )?;
        use secrecy::ExposeSecret;
        let again = again.strip_suffix(b"\r").unwrap_or(&again);
        if first.expose_secret().as_bytes() != again {
            return Err("the two passwords differ; nothing was done".into());
        }
    }
    Ok(first)
}

/// Runs `--password-command` (in its own process group, ended on `cancel` or after
/// `timeout`) and takes the first line it prints, byte for byte.
async fn password_from_command(
    cmd: &str,
    timeout: std::time::Duration,
    cancel: &CancellationToken,
) -> Result<SecretString, String> {
    let mut first: Option<Wiped> = None;
    let fin = process::run_bytes(
        process::At::Local,
        Job::new(vec!["sh".into(), "-c".into(), cmd.to_string()]).timeout(timeout),
        cancel,
        |stream, bytes| {
            let bytes = Wiped::new(bytes);
            if stream == process::Stream::Stdout && first.is_none() {
                first = Some(bytes);
            }
        },
    )
    .await;
    if fin.cancelled {
        return Err("interrupted while the password command ran; it was stopped".into());
    }
    if fin.timed_out {
        let limit = match timeout.as_secs() {
            s if s >= 60 && s % 60 == 0 => format!("{} minutes", s / 60),
            s => format!("{s} seconds"),
        };
        return Err(format!(
            "the password command did not finish within {limit} and was stopped; it must print the password on its first line and exit"
        ));
    }
    if !fin.success() {
        return Err(format!("the password command failed ({})", fin.describe()));
    }
    password::from_bytes(
        first.as_deref().map(Vec::as_slice).unwrap_or_default(),
        "the password command",
    )
}

/// Asks on the controlling terminal with echo off; returns the line typed, without its
/// line end, as bytes (wiped when dropped).
fn prompt_password(prompt: &str) -> Result<Wiped, String> {
    use std::io::BufRead;
    use std::os::fd::AsRawFd;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| "no terminal to ask for the password: use --password-file FILE or --password-command CMD".to_string())?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios calls on a descriptor we own; the old state is restored below.
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    let have_termios = unsafe { libc::tcgetattr(fd, &mut old) } == 0;
    if have_termios {
        let mut quiet = old;
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut w = &tty;
    let _ = write!(w, "{prompt}");
    let _ = w.flush();
    let mut line = Wiped::new(Vec::new());
    let r = std::io::BufReader::new(&tty).read_until(b'\n', &mut line);
    if have_termios {
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
    }
    r.map_err(|e| format!("cannot read the password: {e}"))?;
    while matches!(line.last(), Some(b'\n')) {
        line.pop();
    }
    Ok(line)
}

/// Prints events for a person at a terminal.
struct Printer {
    titles: Vec<String>,
}

impl Sink for Printer {
    fn emit(&self, event: Event) {
        let mut out = std::io::stdout().lock();
        let _ = match event {
            Event::RunStarted {
                log_path, steps, ..
            } => match log_path {
                Some(p) => writeln!(out, "run: {steps} steps; log: {}", p.display()),
                None => writeln!(out, "run: {steps} steps"),
            },
            Event::NodeReached {
                node,
                address,
                route,
            } => writeln!(out, "  [{node}] reached via {address} ({route:?})"),
            Event::NodeUnreachable { .. } | Event::Progress { .. } => Ok(()),
            Event::StepStarted { step, title, .. } => writeln!(out, "==> {}. {title}", step + 1),
            Event::Line {
                stream, text, node, ..
            } => match stream {
                Stream::Stderr => writeln!(out, "  [{node}] ! {text}"),
                _ => writeln!(out, "  [{node}] {text}"),
            },
            Event::StepFinished { step, outcome } => {
                let title = self.titles.get(step).cloned().unwrap_or_default();
                match outcome {
                    Outcome::Passed => writeln!(out, "    ok: {title}"),
                    Outcome::Skipped { reason } => writeln!(out, "    skipped: {title}: {reason}"),
                    Outcome::Failed { message, .. } => {
                        writeln!(out, "    FAILED: {title}: {message}")
                    }
                    Outcome::Interrupted => writeln!(out, "    interrupted: {title}"),
                    Outcome::Partial { reason } => {
                        writeln!(out, "    partly done: {title}: {reason}")
                    }
                }
            }
            Event::RunFinished {
                status,
                summary_path,
            } => {
                let word = match status {
                    RunStatus::Passed => "all steps passed",
                    RunStatus::Failed => "some steps FAILED",
                    RunStatus::Interrupted => "interrupted",
                };
                match summary_path {
                    Some(p) => writeln!(out, "run finished: {word} (summary: {})", p.display()),
                    None => writeln!(out, "run finished: {word}"),
                }
            }
        };
    }
}

struct JsonPrinter;

impl Sink for JsonPrinter {
    fn emit(&self, event: Event) {
        if let Ok(s) = serde_json::to_string(&event) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{s}");
        }
    }
}

/// From now on SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal closed) cancel the run
/// instead of killing wbackup: its processes on every node are interrupted, restic removes
/// its locks, the summary says "interrupted" and the exit status is 130.
/// The password for a command that runs restic, and the token that Ctrl-C, SIGTERM and
/// SIGHUP set from then on. A password command is ended by them too; the terminal prompt
/// keeps the default actions (Ctrl-C there ends wbackup at once, before anything started).
/// On failure, the exit status.
fn password_and_signals(
    rt: &tokio::runtime::Runtime,
    password: &PasswordArgs,
    confirm: bool,
) -> Result<(SecretString, CancellationToken), i32> {
    let cancel = CancellationToken::new();
    if password.password_command.is_some() {
        rt.block_on(cancel_on_signals(&cancel));
    }
    let secret = rt
        .block_on(read_password(password, confirm, &cancel))
        .map_err(|e| {
            eprintln!("error: {e}");
            if cancel.is_cancelled() {
                EXIT_INTERRUPTED
            } else {
                EXIT_USAGE
            }
        })?;
    if password.password_command.is_none() {
        rt.block_on(cancel_on_signals(&cancel));
    }
    Ok((secret, cancel))
}

async fn cancel_on_signals(cancel: &CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    for (kind, name) in [
        (SignalKind::interrupt(), "interrupted"),
        (SignalKind::terminate(), "terminated (SIGTERM)"),
        (SignalKind::hangup(), "hung up (SIGHUP)"),
    ] {
        let Ok(mut s) = signal(kind) else { continue };
        let c = cancel.clone();
        tokio::spawn(async move {
            if s.recv().await.is_some() && !c.is_cancelled() {
                // stderr may be a terminal that is gone (SIGHUP): never fail on it.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n{name}: stopping the run's processes on every node…"
                );
                c.cancel();
            }
        });
    }
}

async fn run(
    config: &Config,
    plan: &Plan,
    password: SecretString,
    json: bool,
    cancel: CancellationToken,
) -> i32 {
    let sink: Box<dyn Sink> = if json {
        Box::new(JsonPrinter)
    } else {
        Box::new(Printer {
            titles: plan.steps.iter().map(|s| s.title()).collect(),
        })
    };
    let report = engine::execute(config, plan, &password, cancel, sink).await;
    if !json {
        let failed: Vec<_> = report
            .outcomes
            .iter()
            .zip(&plan.steps)
            .filter_map(|(o, s)| match o {
                Outcome::Failed { message, .. } => Some(format!("  {}: {message}", s.title())),
                _ => None,
            })
            .collect();
        if !failed.is_empty() {
            // stdout may be a terminal that hung up: never panic on it.
            let _ = writeln!(std::io::stdout(), "failed steps:\n{}", failed.join("\n"));
        }
    }
    report.status.exit_code()
}

struct ProofPrinter {
    json: bool,
}

impl engine::verify::ProofOutput for ProofPrinter {
    fn proof(&mut self, proof: &engine::verify::Proof) {
        if !self.json {
            println!("{}", proof.message);
        }
    }
}

/// `wbackup verify`: every selected copy drilled on its holder, every result recorded in
/// the proof ledger.
async fn verify(
    config: &Config,
    nodes: &[String],
    repos: &[String],
    json: bool,
    password: SecretString,
    cancel: CancellationToken,
) -> i32 {
    // One run or verification at a time: a drill must not race a run's replication.
    let _lock = match engine::runlock::acquire(&engine::runlock::lock_dir(config)) {
        Ok(engine::runlock::Acquired::Held(l)) => l,
        Ok(engine::runlock::Acquired::Busy(who)) => {
            eprintln!("error: {who} is still in progress on this machine; wait for it to finish (or stop it), then verify again");
            return EXIT_FAILED;
        }
        Err(e) => {
            eprintln!(
                "error: cannot take the run lock in {}: {e}",
                engine::runlock::lock_dir(config).display()
            );
            return EXIT_FAILED;
        }
    };
    let (conns, dir) = connect_all(config).await;
    let mut reached = std::collections::HashMap::new();
    let mut unreachable = std::collections::HashMap::new();
    for c in &conns {
        match c {
            Ok(conn) => {
                reached.insert(conn.node.name.clone(), conn);
            }
            Err((name, u)) => {
                unreachable.insert(name.clone(), u.to_string());
            }
        }
    }
    let holders: Vec<String> = config
        .nodes
        .iter()
        .filter(|n| nodes.is_empty() || nodes.contains(&n.name))
        .map(|n| n.name.clone())
        .collect();
    let owners: Vec<String> = config
        .nodes
        .iter()
        .filter(|n| !n.is_storage() && (repos.is_empty() || repos.contains(&n.name)))
        .map(|n| n.name.clone())
        .collect();
    let verifier = engine::verify::Verifier {
        config,
        conns: reached,
        unreachable,
        password: &password,
        cancel: &cancel,
    };
    let ledger = engine::verify::load_ledger(config);
    let mut printer = ProofPrinter { json };
    let mut all = vec![];
    for r in &owners {
        let proofs = verifier
            .repository(r, &holders, &ledger, &mut printer)
            .await;
        if let Err(e) = engine::verify::record(config, &proofs) {
            eprintln!(
                "error: cannot write the proof ledger {}: {e}",
                engine::verify::ledger_path(config).display()
            );
        }
        all.extend(proofs);
        if cancel.is_cancelled() {
            break;
        }
    }
    drop(verifier);
    close_all(conns, dir).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
    }
    if cancel.is_cancelled() {
        return EXIT_INTERRUPTED;
    }
    let proven = all.iter().filter(|p| p.proven).count();
    if !json {
        println!("{proven} of {} copies proven", all.len());
    }
    if proven == all.len() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// Reaches every node of the configuration (the orchestrator locally), all at once: an
/// unreachable node costs its connect timeouts once, not once per node after it.
async fn connect_all(
    config: &Config,
) -> (
    Vec<Result<Conn, (String, node::Unreachable)>>,
    Option<PathBuf>,
) {
    let dir = node::control_dir().ok();
    let attempts: Vec<_> = config
        .nodes
        .iter()
        .map(|n| {
            let (config, n, dir) = (config.clone(), n.clone(), dir.clone());
            tokio::spawn(async move {
                if n.is_orchestrator {
                    return Ok(Conn::local(&n));
                }
                let Some(d) = dir else {
                    return Err((
                        n.name.clone(),
                        node::Unreachable {
                            tried: vec![("-".into(), "no control directory".into())],
                            key_changed: None,
                        },
                    ));
                };
                node::connect(&config, &n, &d)
                    .await
                    .map_err(|u| (n.name.clone(), u))
            })
        })
        .collect();
    let mut out = Vec::new();
    for (n, attempt) in config.nodes.iter().zip(attempts) {
        out.push(attempt.await.unwrap_or_else(|e| {
            Err((
                n.name.clone(),
                node::Unreachable {
                    tried: vec![("-".into(), format!("connecting failed: {e}"))],
                    key_changed: None,
                },
            ))
        }));
    }
    (out, dir)
}

async fn close_all(conns: Vec<Result<Conn, (String, node::Unreachable)>>, dir: Option<PathBuf>) {
    for c in conns.into_iter().flatten() {
        c.close().await;
    }
    if let Some(d) = dir {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[derive(serde::Serialize)]
struct NodeStatus {
    node: String,
    role: String,
    reachable: bool,
    address: Option<String>,
    error: Option<String>,
    repositories: Vec<RepoStatus>,
}

#[derive(serde::Serialize)]
struct RepoStatus {
    repository: String,
    snapshots: usize,
    latest_snapshot: Option<String>,
    latest_time: Option<String>,
}

async fn status(config: &Config, json: bool) -> i32 {
    let cancel = CancellationToken::new();
    let repos: Vec<String> = config
        .nodes
        .iter()
        .filter(|n| !n.is_storage())
        .map(|n| n.name.clone())
        .collect();
    let (conns, dir) = connect_all(config).await;
    let mut all = Vec::new();
    for (n, c) in config.nodes.iter().zip(&conns) {
        let mut st = NodeStatus {
            node: n.name.clone(),
            role: n.role().to_string(),
            reachable: c.is_ok(),
            address: None,
            error: None,
            repositories: vec![],
        };
        match c {
            Err((_, u)) => st.error = Some(u.to_string()),
            Ok(conn) => {
                st.address = Some(conn.address().to_string());
                match replicate::inventory(conn, &repos, &cancel).await {
                    Err(e) => st.error = Some(e),
                    Ok(inv) => {
                        for r in &repos {
                            let Some(files) = inv.repos.get(r) else {
                                continue;
                            };
                            if let Some(why) = &files.unsound {
                                let e = format!("its copy of {r} cannot be listed soundly: {why}");
                                st.error = Some(match st.error.take() {
                                    Some(prev) => format!("{prev}; {e}"),
                                    None => e,
                                });
                            }
                            if files.config_sha.is_none() {
                                continue;
                            }
                            let latest = files
                                .files
                                .iter()
                                .filter(|(p, _)| p.starts_with("snapshots/"))
                                .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1));
                            st.repositories.push(RepoStatus {
                                repository: r.clone(),
                                snapshots: files.snapshots().len(),
                                latest_snapshot: latest
                                    .map(|(p, _)| p["snapshots/".len()..][..8].to_string()),
                                latest_time: latest.and_then(|(_, (_, t))| {
                                    chrono::DateTime::from_timestamp(*t as i64, 0).map(|d| {
                                        d.with_timezone(&chrono::Local)
                                            .format("%Y-%m-%d %H:%M")
                                            .to_string()
                                    })
                                }),
                            });
                        }
                    }
                }
            }
        }
        all.push(st);
    }
    close_all(conns, dir).await;
    let ok = all.iter().all(|s| s.error.is_none());
    if json {
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
    } else {
        for s in &all {
            match (&s.address, &s.error) {
                (_, Some(e)) => println!("{} ({}): {e}", s.node, s.role),
                (Some(a), None) => println!("{} ({}): reached via {a}", s.node, s.role),
                _ => {}
            }
            if s.reachable && s.repositories.is_empty() && s.error.is_none() {
                println!("  no repositories yet");
            }
            for r in &s.repositories {
                match (&r.latest_snapshot, &r.latest_time) {
                    (Some(id), Some(t)) => println!(
                        "  {:<12} {} snapshots, latest {id} at {t}",
                        r.repository, r.snapshots
                    ),
                    _ => println!("  {:<12} no snapshots", r.repository),
                }
            }
        }
    }
    if ok {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

async fn doctor(config: &Config) -> i32 {
    let cancel = CancellationToken::new();
    let (conns, dir) = connect_all(config).await;
    let mut problems = 0;
    for (n, c) in config.nodes.iter().zip(&conns) {
        println!("{} ({})", n.name, n.role());
        let conn = match c {
            Err((_, u)) if u.key_changed.is_some() => {
                problems += 1;
                println!("  PROBLEM: {}", u.reason(&n.name));
                continue;
            }
            Err((_, u)) => {
                problems += 1;
                println!("  PROBLEM: {u}");
                println!("  fix: check that `ssh {}` logs in without a prompt (ssh-copy-id, host key accepted once, sshd running)", shell::quote(n.addresses.first().map(String::as_str).unwrap_or("")));
                continue;
            }
            Ok(c) => c,
        };
        println!("  address: {} ({:?})", conn.address(), conn.route);
        let script = r#"base=$1
restic version 2>/dev/null | head -n 1 | sed 's/^/restic: /' || true
command -v restic >/dev/null || echo "restic: missing"
rsync --version 2>/dev/null | head -n 1 | sed 's/^/rsync: /'
command -v rsync >/dev/null || echo "rsync: missing"
d=$base; while [ ! -d "$d" ]; do d=$(dirname "$d"); done
df -Pk -- "$d" | awk 'NR==2 {print "free: " $4}'
if [ -d "$base" ] && [ ! -w "$base" ]; then echo "unwritable"; fi"#;
        match conn.script(script, &[&conn.base()], &cancel).await {
            Err(e) => {
                problems += 1;
                println!("  PROBLEM: {e}");
            }
            Ok(lines) => {
                for l in lines {
                    if let Some(kb) = l.strip_prefix("free: ") {
                        let mb = kb.parse::<u64>().unwrap_or(0) / 1024;
                        println!("  free space at {}: {mb} MB", conn.base());
                        if mb < 1024 {
                            problems += 1;
                            println!("  PROBLEM: less than 1 GB free at {}", conn.base());
                        }
                    } else if l.ends_with(": missing") {
                        problems += 1;
                        let tool = l.trim_end_matches(": missing");
                        println!(
                            "  PROBLEM: {tool} is not installed; fix: sudo apt install {tool}"
                        );
                    } else if l == "unwritable" {
                        problems += 1;
                        println!(
                            "  PROBLEM: {} is not writable; fix: chown it to the backup user",
                            conn.base()
                        );
                    } else {
                        println!("  {l}");
                    }
                }
            }
        }
    }
    close_all(conns, dir).await;
    if problems == 0 {
        println!("no problems found");
        EXIT_OK
    } else {
        println!("{problems} problem(s) found");
        EXIT_FAILED
    }
}

fn restore(
    config: &Config,
    repo: &str,
    from: Option<String>,
    snapshot: Option<String>,
    target: Option<String>,
) -> i32 {
    let Some(owner) = config.node(repo).filter(|n| !n.is_storage()) else {
        let repos: Vec<&str> = config
            .nodes
            .iter()
            .filter(|n| !n.is_storage())
            .map(|n| n.name.as_str())
            .collect();
        eprintln!(
            "error: no repository {repo:?}; repositories: {}",
            repos.join(", ")
        );
        return EXIT_USAGE;
    };
    let from = from.unwrap_or_else(|| config.orchestrator.clone());
    let Some(holder) = config.node(&from) else {
        let names: Vec<&str> = config.nodes.iter().map(|n| n.name.as_str()).collect();
        eprintln!(
            "error: unknown node {from:?} in --from; nodes: {}",
            names.join(", ")
        );
        return EXIT_USAGE;
    };
    if let Some(s) = &snapshot {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) && s != "latest" {
            eprintln!(
                "error: {s:?} is not a snapshot id (hex digits, as `restic snapshots` shows them)"
            );
            return EXIT_USAGE;
        }
    }
    if let Some(bad) = target.as_deref().filter(|t| shell::has_control(t)) {
        eprintln!(
            "error: --target {:?} holds a control character (a newline, a tab, an escape); choose a directory name without one",
            bad
        );
        return EXIT_USAGE;
    }
    let snapshot = snapshot.unwrap_or_else(|| "latest".into());
    let target = target.unwrap_or_else(|| {
        format!(
            "~/restore-{}-{}",
            owner.name,
            chrono::Local::now().format("%Y%m%d")
        )
    });
    let r = shell::quote_path_for_user(&plan::repo_path(holder, &owner.name));
    let t = shell::quote_path_for_user(&target);
    let where_ = if holder.is_orchestrator {
        "on this machine".to_string()
    } else {
        format!(
            "on {} (ssh {})",
            holder.name,
            shell::quote(holder.addresses.first().map(String::as_str).unwrap_or(""))
        )
    };
    // Every line is meant to be pasted into a shell: values in comments are kept on
    // their line, values in commands are quoted.
    println!(
        "# Restore {}'s data from the copy held by {}. Run these {}; restic asks for the password.",
        owner.name,
        holder.name,
        shell::inert(&where_)
    );
    println!("# 1. list the snapshots:");
    println!("restic -r {r} snapshots");
    println!(
        "# 2. restore {snapshot} into a new directory ({} must not exist yet):",
        shell::inert(&t)
    );
    println!("mkdir -- {t} && restic -r {r} restore {snapshot} --target {t}");
    EXIT_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_command_that_hangs_is_stopped_at_its_timeout() {
        assert_eq!(
            PASSWORD_COMMAND_TIMEOUT,
            std::time::Duration::from_secs(300)
        );
        let started = std::time::Instant::now();
        let e = password_from_command(
            "sleep 1000",
            std::time::Duration::from_secs(2),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
        assert!(
            e.starts_with("the password command did not finish within 2 seconds"),
            "{e}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    #[tokio::test]
    async fn a_password_command_gives_its_first_line_unaltered_or_is_refused() {
        use secrecy::ExposeSecret;
        let cancel = CancellationToken::new();
        let t = PASSWORD_COMMAND_TIMEOUT;
        let p = password_from_command("printf ' p\\303\\244ss \\nnext\\n'", t, &cancel)
            .await
            .unwrap();
        assert_eq!(p.expose_secret(), " päss ");
        let e = password_from_command("printf 'caf\\351\\n'", t, &cancel)
            .await
            .unwrap_err();
        assert!(e.contains("not UTF-8"), "{e}");
        let e = password_from_command("exit 3", t, &cancel)
            .await
            .unwrap_err();
        assert!(e.contains("failed (exit code 3)"), "{e}");
    }

    #[test]
    fn parse_run_flags() {
        let c = Cli::try_parse_from([
            "wbackup",
            "run",
            "--node",
            "a",
            "--node",
            "b",
            "--json",
            "--password-file",
            "/x",
        ])
        .unwrap();
        match c.command {
            Some(Command::Run {
                select,
                json,
                password,
                ..
            }) => {
                assert_eq!(select.nodes, ["a", "b"]);
                assert!(json);
                assert_eq!(password.password_file.unwrap(), PathBuf::from("/x"));
            }
            _ => panic!(),
        }
    }
}
