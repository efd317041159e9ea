//! The man pages and the shell completions, generated from the clap definitions in
//! `args.rs` so they can never disagree with what the parser accepts. The hidden
//! `wbackup generate-assets DIR` writes them; `scripts/deb.sh` packages what it wrote.

use super::args::VERSION;
use super::Cli;
use crate::error::{self, Error, Exit};
use clap::CommandFactory;
use clap_complete::Shell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes into `dir` (created if missing) the man pages, `wbackup.1` and one
/// `wbackup-COMMAND.1` per subcommand it lists, and the completions `wbackup.bash`,
/// `_wbackup` (zsh) and `wbackup.fish`. Hidden commands are in none of them.
pub fn generate(dir: &Path) -> error::Result {
    let failed =
        |e: std::io::Error| Error::Failed(format!("cannot write into {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(failed)?;
    clap_mangen::generate_to(Cli::command(), dir).map_err(failed)?;
    for (shell, name) in [
        (Shell::Bash, "wbackup.bash"),
        (Shell::Zsh, "_wbackup"),
        (Shell::Fish, "wbackup.fish"),
    ] {
        let mut out = BufWriter::new(File::create(dir.join(name)).map_err(failed)?);
        clap_complete::generate(shell, &mut visible(), "wbackup", &mut out);
        out.flush().map_err(failed)?;
    }
    Ok(Exit::Ok)
}

/// The command line as a user meets it: `Cli` without its hidden subcommands, which
/// clap_complete would otherwise offer (clap_mangen leaves them out by itself). Only
/// what completion reads is carried over: the options and the subcommands.
fn visible() -> clap::Command {
    let full = Cli::command();
    let shown: Vec<clap::Command> = full
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    clap::Command::new("wbackup")
        .version(VERSION)
        .args(full.get_arguments().cloned())
        .subcommands(shown)
}
