//! `wbackup config …`: the configuration changed from the command line, for scripts and
//! for people who would rather not open an editor. Each command is one edit through
//! `config::edit` (format-preserving, checked with the loader's rules, written atomically
//! with the previous version kept as `.bak`); this module only turns the words into edits
//! and says what happened.

use super::args::ConfigAction;
use crate::config::edit::{self, ConfigFile, Edit, EditError, List, NodeSpec};
use crate::error::{self, Error, Exit};
use std::path::Path;

/// Runs one `wbackup config` command on the configuration `--config` points at.
pub(super) fn run(explicit: Option<&Path>, action: ConfigAction) -> error::Result {
    let mut file = ConfigFile::locate(explicit).map_err(failure)?;
    if let ConfigAction::Show = action {
        return show(&file);
    }
    let before = file.check().ok();
    let (edits, done) = edits_of(action)?;
    let mut notes = Vec::new();
    let mut changed = false;
    for e in &edits {
        let applied = file.apply(e).map_err(failure)?;
        changed |= applied.changed;
        notes.extend(applied.note);
    }
    if let (Some(before), Some(Edit::RemoveNode(name))) = (&before, edits.first()) {
        notes.push(edit::removal_note(before, name));
    }
    let saved = if changed {
        file.save().map_err(failure)?
    } else {
        None
    };
    match saved {
        Some(s) => {
            let mut said = format!("{done} in {}", s.path.display());
            if s.written != s.path {
                said.push_str(&format!(
                    " (written to {}, where the link leads)",
                    s.written.display()
                ));
            }
            if s.created {
                said.push_str(
                    "; the file was created from the starter configuration `wbackup init` writes",
                );
            }
            if let Some(b) = &s.backup {
                said.push_str(&format!("; previous version: {}", b.display()));
            }
            println!("{said}");
        }
        None => println!("nothing to change in {}", file.path().display()),
    }
    for note in notes {
        println!("note: {note}");
    }
    Ok(Exit::Ok)
}

fn failure(e: EditError) -> Error {
    if e.is_usage() {
        Error::Usage(e.to_string())
    } else {
        Error::Failed(e.to_string())
    }
}

/// `wbackup config show`: the file as it is, or the starter file when there is none yet.
fn show(file: &ConfigFile) -> error::Result {
    print!("{}", file.text());
    if file.is_new() {
        eprintln!(
            "note: no file at {} yet: this is the starter configuration; `wbackup init` writes it, every `wbackup config` change creates it",
            file.path().display()
        );
    }
    match file.check() {
        Ok(_) => Ok(Exit::Ok),
        Err(e) => Err(Error::Usage(e.to_string())),
    }
}

/// The edits a command asks for, and how to say they were made.
fn edits_of(action: ConfigAction) -> Result<(Vec<Edit>, String), Error> {
    let each = |node: &str, list: List, values: Vec<String>, add: bool| -> Vec<Edit> {
        values
            .into_iter()
            .map(|value| {
                let node = node.to_string();
                if add {
                    Edit::AddTo { node, list, value }
                } else {
                    Edit::RemoveFrom { node, list, value }
                }
            })
            .collect()
    };
    Ok(match action {
        ConfigAction::Show => unreachable!("shown before"),
        ConfigAction::Set { key, values } => {
            let value = edit::value_from_words(&values);
            let said = format!("set {key} = {value}");
            (vec![Edit::Set { key, value }], said)
        }
        ConfigAction::Unset { key } => {
            let said = format!("removed {key} (its default applies)");
            (vec![Edit::Unset { key }], said)
        }
        ConfigAction::AddNode {
            name,
            addresses,
            user,
            port,
            base_dir,
            paths,
            exclude,
            storage,
        } => {
            if paths.is_empty() && !storage {
                return Err(Error::Usage(format!(
                    "say what {name} backs up with --path PATH (repeatable), or that it only holds copies with --storage"
                )));
            }
            let said = format!("added node {name}");
            let spec = NodeSpec {
                name,
                addresses,
                user,
                port,
                base_dir,
                paths,
                exclude,
            };
            (vec![Edit::AddNode(spec)], said)
        }
        ConfigAction::RemoveNode { name } => {
            let said = format!("removed node {name}");
            (vec![Edit::RemoveNode(name)], said)
        }
        ConfigAction::AddPath { node, paths } => {
            let said = format!("added to the paths of {node}");
            (each(&node, List::Paths, paths, true), said)
        }
        ConfigAction::RemovePath { node, paths } => {
            let said = format!("removed from the paths of {node}");
            (each(&node, List::Paths, paths, false), said)
        }
        ConfigAction::AddExclude { node, patterns } => {
            let said = format!("added to the excludes of {node}");
            (each(&node, List::Exclude, patterns, true), said)
        }
        ConfigAction::RemoveExclude { node, patterns } => {
            let said = format!("removed from the excludes of {node}");
            (each(&node, List::Exclude, patterns, false), said)
        }
    })
}
