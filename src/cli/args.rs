//! The command line's words: every subcommand and flag, as clap parses them. Parsing
//! needs no syscall and touches no node; the commands check the configuration next.

use crate::config::{self, Config};
use crate::plan::{self, Plan};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// What `wbackup --version` prints after the name: the version and the commit built
/// (`build.rs` names it), so an installed binary says which source it came from.
pub(super) const VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (", env!("WBACKUP_COMMIT"), ")");

#[derive(Parser, Debug)]
#[command(
    name = "wbackup",
    version = VERSION,
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
    /// Run up to N steps of one kind at once, each on its own node, or `auto` for one
    /// per node of the run (default: `jobs` in the configuration, else 1); copies run
    /// side by side when they share no node
    #[arg(long, value_name = "N|auto", value_parser = parse_jobs)]
    pub jobs: Option<plan::Jobs>,
    /// End with the verification of every copy, due or not (see [verify] every_days)
    #[arg(long, conflicts_with = "no_verify")]
    pub verify: bool,
    /// Do not end with verification, even when it is due
    #[arg(long)]
    pub no_verify: bool,
}

/// `--jobs`: a number of steps from 1 to the configuration's limit, or `auto`.
fn parse_jobs(text: &str) -> Result<plan::Jobs, String> {
    if text == "auto" {
        return Ok(plan::Jobs::Auto);
    }
    match text.parse::<usize>() {
        Ok(n @ 1..=config::MAX_JOBS) => Ok(plan::Jobs::Steps(n)),
        _ => Err(format!(
            "{text:?} is neither a number of steps from 1 to {} nor \"auto\"",
            config::MAX_JOBS
        )),
    }
}

impl Selection {
    /// The plan for these nodes, `--jobs` overriding the configuration's `jobs`, ending
    /// with verification when it is due or asked for.
    pub(super) fn plan(
        &self,
        config: &Config,
        accept_shrink: &[String],
    ) -> Result<Plan, plan::PlanError> {
        let options = plan::Options {
            only: self.nodes.clone(),
            jobs: self.jobs,
            accept_shrink: accept_shrink.to_vec(),
            ..plan::Options::default()
        };
        let forced = match (self.verify, self.no_verify) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        crate::engine::verify::plan_for(config, options, forced)
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
        /// Only this path of the snapshot, and what is under it (repeatable)
        #[arg(long = "include", value_name = "PATH")]
        includes: Vec<String>,
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
    /// Change the configuration file without an editor: nodes, their paths and excludes,
    /// any setting (comments and formatting kept; checked before writing; previous version
    /// kept as .bak)
    #[command(subcommand)]
    Config(ConfigAction),
    /// Write the man pages and the bash, zsh and fish completions into DIR, for
    /// packaging (scripts/deb.sh); hidden from --help, the man pages and completions
    #[command(hide = true)]
    GenerateAssets {
        /// Where to write wbackup.1, wbackup-COMMAND.1, wbackup.bash, _wbackup, wbackup.fish
        dir: PathBuf,
    },
}

/// `wbackup config …`: each changes the file `--config` points at (created from the
/// starter file when missing), or refuses with the file untouched.
#[derive(Subcommand, Debug)]
pub enum ConfigAction {
    /// Print the configuration file (the starter file when there is none yet)
    Show,
    /// Set a key, dotted as the file nests it: `jobs 2`, `retention.keep_daily 14`,
    /// `nodes.home.user alice`, `nodes.home.addresses 192.168.1.10 home.example.org`
    Set {
        /// The key: orchestrator, base_dir, jobs, ssh.…, retention.…, check.…,
        /// replication.…, verify.…, nodes.NAME.FIELD
        key: String,
        /// Read as TOML when it is (3, true, "quoted"), as text otherwise (~/x, 5%);
        /// several values make a list
        #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
        values: Vec<String>,
    },
    /// Remove a key, so its default applies again (`retention.keep_last`, `nodes.home.port`)
    Unset { key: String },
    /// Add a machine: `add-node home --address 192.168.1.10 --address home.example.org --path '~/'`
    AddNode {
        /// Its name, also its repository's folder: lowercase letters, digits, `_` and `-`
        name: String,
        /// A host name, IP address or ~/.ssh/config alias; repeat it, LAN first
        #[arg(long = "address", value_name = "HOST")]
        addresses: Vec<String>,
        /// The user to log in as (default: whatever ssh uses)
        #[arg(long)]
        user: Option<String>,
        /// The ssh port (default: whatever ssh uses)
        #[arg(long)]
        port: Option<u16>,
        /// Where its repositories live (default: the top-level base_dir)
        #[arg(long, value_name = "DIR")]
        base_dir: Option<String>,
        /// A folder to back up, absolute or from ~ (repeatable)
        #[arg(long = "path", value_name = "PATH")]
        paths: Vec<String>,
        /// A pattern to leave out of its backups (repeatable)
        #[arg(long = "exclude", value_name = "PATTERN")]
        exclude: Vec<String>,
        /// It backs up nothing and only holds copies of the other repositories
        #[arg(long, conflicts_with_all = ["paths", "exclude"])]
        storage: bool,
    },
    /// Remove a machine from the configuration; nothing is deleted on any node
    RemoveNode { name: String },
    /// Back up these folders of NODE too
    AddPath {
        node: String,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
    /// Stop backing up these folders of NODE (what its snapshots hold stays)
    RemovePath {
        node: String,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
    /// Leave files matching these patterns out of NODE's backups (restic --exclude)
    AddExclude {
        node: String,
        #[arg(required = true, value_name = "PATTERN")]
        patterns: Vec<String>,
    },
    /// Stop leaving out these patterns
    RemoveExclude {
        node: String,
        #[arg(required = true, value_name = "PATTERN")]
        patterns: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

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
