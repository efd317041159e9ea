//! The command line: parses the arguments, loads and validates the whole configuration
//! before any command touches a node, hands each subcommand to its module, and turns how
//! it ended into the exit status (`error::Exit`, the one mapping).
//!
//! `args` holds the clap definitions, `password` the password sources and signals,
//! `printer` the terminal sinks, `inspect` the commands that look (status, doctor,
//! restore), `run` the commands that run restic (run, verify), `init` the starter file,
//! `config` the configuration changed without an editor (`wbackup config …`), `assets`
//! the man page and completions (the hidden `generate-assets`).

mod args;
mod assets;
mod config;
mod init;
pub mod inspect;
mod password;
mod printer;
mod run;

pub use args::{Cli, Command, ConfigAction, PasswordArgs, Selection};
pub use password::{read_password, PASSWORD_COMMAND_TIMEOUT};

use crate::engine;
use crate::error::{self, Error, Exit};
use clap::Parser;

/// The exit status of an interrupted command, for the window (`error::Exit` is the
/// mapping).
pub const EXIT_INTERRUPTED: i32 = Exit::Interrupted.code();

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
            return if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Ok
            }
            .code();
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
                Exit::Failed.code()
            }
        };
    }
    match dispatch(cli) {
        Ok(exit) => exit.code(),
        Err(e) => {
            eprintln!("error: {e}");
            e.exit().code()
        }
    }
}

/// Runs one subcommand (not the window).
fn dispatch(cli: Cli) -> error::Result {
    let command = match cli.command {
        Some(Command::Init {
            from,
            base_dir,
            port,
            ssh_config,
        }) => {
            return match from {
                None => init::init(cli.config.as_deref()),
                Some(address) => init::init_from(
                    cli.config.as_deref(),
                    engine::records::Source {
                        address,
                        base_dir,
                        port,
                        ssh_config,
                    },
                ),
            }
        }
        Some(Command::GenerateAssets { dir }) => return assets::generate(&dir),
        Some(Command::Config(action)) => return config::run(cli.config.as_deref(), action),
        Some(c) => c,
        None => unreachable!("the window is opened by main"),
    };
    let config =
        crate::config::load(cli.config.as_deref()).map_err(|e| Error::Usage(e.to_string()))?;
    if config.is_builtin() {
        eprintln!(
            "note: no configuration at {}; using the built-in default (this machine, ~/Documents into ~/backup). `wbackup init` writes a starter file.",
            config.path().display()
        );
    }
    let rt = crate::runtime::engine().expect("tokio runtime");
    match command {
        Command::Plan { select } => {
            let plan = select
                .plan(&config, &[])
                .map_err(|e| Error::Usage(e.to_string()))?;
            print!("{}", plan.render(&config));
            Ok(Exit::Ok)
        }
        Command::Run {
            select,
            json,
            accept_shrink,
            password,
        } => run::run(&rt, &config, &select, json, accept_shrink, &password),
        Command::Status { json } => rt.block_on(inspect::status(&config, json)),
        Command::Verify {
            nodes,
            repos,
            json,
            password,
        } => run::verify(&rt, &config, &nodes, &repos, json, &password),
        Command::Doctor => rt.block_on(inspect::doctor(&config)),
        Command::Restore {
            repo,
            from,
            snapshot,
            includes,
            target,
        } => inspect::restore(
            &config,
            &crate::restore::Request {
                repo,
                from,
                snapshot,
                includes,
                target,
            },
        ),
        Command::Gui
        | Command::Init { .. }
        | Command::Config(_)
        | Command::GenerateAssets { .. } => {
            unreachable!("handled above")
        }
    }
}
