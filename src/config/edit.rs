//! Changes to the configuration made by a program — `wbackup config …` and the window's
//! Setup view — on the same file a person edits by hand, which stays the one source of
//! truth.
//!
//! The file is read with `toml_edit` and changed in place, so comments, the order of
//! tables and keys, quoting and spacing of everything not changed are kept (a file with
//! CRLF line endings keeps them). Every result is checked by `config::parse` — the very
//! rules and file:line:col messages of loading — before anything is written, and `save`
//! writes atomically (`save.rs`): nothing invalid, half-written or overwriting a hand edit
//! made meanwhile ever reaches the disk. With no file yet, editing starts from the
//! commented starter file `wbackup init` writes.
//!
//! The window's Setup view uses it as: `ConfigFile::open(path)`, then `apply(&Edit)` for
//! each change (a refused change leaves the file in memory as it was), `check()` to show
//! what the loader says, and `save()`.

use super::save::{self, Before};
use super::{Config, ConfigError};
use std::fmt;
use std::path::{Path, PathBuf};
use toml_edit::{Array, DocumentMut, Item, Table, TableLike, Value};

/// A machine as `wbackup config add-node` or the Setup view's form describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    /// Tried in order (LAN first); empty only for the orchestrator.
    pub addresses: Vec<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    /// `None`: the top-level `base_dir` (default `~/backup`).
    pub base_dir: Option<String>,
    /// Empty: a storage node, it only holds copies of the other repositories.
    pub paths: Vec<String>,
    pub exclude: Vec<String>,
}

/// The lists of strings a node has that one entry at a time can be added to or removed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Paths,
    Exclude,
    Addresses,
}

impl List {
    pub fn key(self) -> &'static str {
        match self {
            List::Paths => "paths",
            List::Exclude => "exclude",
            List::Addresses => "addresses",
        }
    }
}

/// One change to the configuration.
#[derive(Debug, Clone)]
pub enum Edit {
    /// A new `[nodes.NAME]` table, after the last node.
    AddNode(NodeSpec),
    /// Gives an existing node exactly these fields (`name` picks the node; a node is never
    /// renamed: its name is its repository's folder on every node). Fields whose value
    /// does not change keep their formatting and comments.
    UpdateNode(NodeSpec),
    /// Removes `[nodes.NAME]` from the file; nothing is deleted on any node.
    RemoveNode(String),
    /// Appends `value` to the node's list unless it is already there.
    AddTo {
        node: String,
        list: List,
        value: String,
    },
    /// Removes `value` from the node's list.
    RemoveFrom {
        node: String,
        list: List,
        value: String,
    },
    /// Sets a dotted key (`jobs`, `retention.keep_daily`, `nodes.home.user`).
    Set { key: String, value: Value },
    /// Removes a dotted key, so its default applies again.
    Unset { key: String },
}

/// What an edit did, for the person who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// False when the file already said so (nothing to write).
    pub changed: bool,
    /// Something worth knowing about the result, in a sentence.
    pub note: Option<String>,
}

impl Applied {
    fn changed() -> Applied {
        Applied {
            changed: true,
            note: None,
        }
    }
}

/// Where a save went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The configuration's path as located (`--config`, `$WBACKUP_CONFIG`, the default).
    pub path: PathBuf,
    /// The file written: `path`, or where its symbolic link leads.
    pub written: PathBuf,
    /// The previous version (`NAME.bak` beside `written`), when there was one.
    pub backup: Option<PathBuf>,
    /// No file existed: it was created from the starter file with the edits applied.
    pub created: bool,
}

/// Why an edit was not made; in every case nothing was written.
#[derive(Debug)]
pub enum EditError {
    /// The change does not fit this file (an unknown node, a duplicate name, the last node).
    Refused(String),
    /// The result would not load: the loader's own error, placed in the would-be file.
    /// `already`: the file on disk fails the same way (fix that first).
    Invalid { error: ConfigError, already: bool },
    /// The file cannot be read, or is not TOML, so it cannot be edited safely.
    Unreadable(ConfigError),
    /// The file is not what was read any more (edited meanwhile).
    Changed(PathBuf),
    /// The file is read-only: its owner said not to change it.
    ReadOnly { path: PathBuf, mode: u32 },
    /// The disk refused (a read-only folder, a full disk).
    Write { path: PathBuf, err: std::io::Error },
}

impl EditError {
    /// A wrong command or value (exit status 2), as opposed to a file that could not be
    /// written (1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            EditError::Refused(_) | EditError::Invalid { .. } | EditError::Unreadable(_)
        )
    }
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::Refused(why) => write!(f, "{why}; nothing was written"),
            EditError::Invalid {
                error,
                already: false,
            } => write!(
                f,
                "refused: the configuration would not load, so nothing was written:\n{error}"
            ),
            EditError::Invalid {
                error,
                already: true,
            } => write!(
                f,
                "the configuration does not load as it is; nothing was written. Fix this first:\n{error}"
            ),
            EditError::Unreadable(e) => write!(f, "{e}\nnothing was written"),
            EditError::Changed(p) => write!(
                f,
                "{} changed on disk since it was read; nothing was written, so that change is kept (read it again, then redo yours)",
                p.display()
            ),
            EditError::ReadOnly { path, mode } => write!(
                f,
                "{} is read-only (mode {mode:04o}); nothing was written (allow writing with `chmod u+w {}` if you want it changed)",
                path.display(),
                crate::shell::quote(&path.to_string_lossy())
            ),
            EditError::Write { path, err } => write!(
                f,
                "cannot write {}: {err}; the configuration was not changed (its folder must be writable: the new version is written beside it, then renamed over it)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for EditError {}

/// The configuration file, read for editing.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
    doc: DocumentMut,
    crlf: bool,
    before: Before,
}

impl ConfigFile {
    /// Reads the configuration found as every command finds it (`--config PATH`, else
    /// `$WBACKUP_CONFIG`, else the default location).
    pub fn locate(explicit: Option<&Path>) -> Result<ConfigFile, EditError> {
        ConfigFile::open(&super::locate(explicit).0)
    }

    /// Reads the configuration at `path`; with no file there, starts from the starter file
    /// (`wbackup init`'s), which `save` then creates.
    pub fn open(path: &Path) -> Result<ConfigFile, EditError> {
        match super::read_text(path).map_err(EditError::Unreadable)? {
            Some(text) => ConfigFile::from_text(path, &text, Before::Bytes(text.clone().into())),
            None => ConfigFile::from_text(
                path,
                &super::starter_file(&super::local_node_name()),
                Before::Missing,
            ),
        }
    }

    fn from_text(path: &Path, text: &str, before: Before) -> Result<ConfigFile, EditError> {
        let doc = text
            .replace("\r\n", "\n")
            .parse::<DocumentMut>()
            .map_err(|e| {
                EditError::Unreadable(super::parse(path, text).err().unwrap_or(ConfigError {
                    path: path.to_path_buf(),
                    at: None,
                    message: e.message().to_string(),
                    line_text: None,
                    hint: None,
                }))
            })?;
        Ok(ConfigFile {
            path: path.to_path_buf(),
            doc,
            crlf: text.contains("\r\n"),
            before,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// No file exists yet: saving creates it.
    pub fn is_new(&self) -> bool {
        self.before == Before::Missing
    }

    /// The file's text with the edits applied so far.
    pub fn text(&self) -> String {
        let text = self.doc.to_string();
        if self.crlf {
            text.replace('\n', "\r\n")
        } else {
            text
        }
    }

    /// The configuration the text would load as, or the loader's error, placed in it.
    pub fn check(&self) -> Result<Config, ConfigError> {
        super::parse(&self.path, &self.text())
    }

    /// Applies one edit in memory; a refused edit leaves everything as it was.
    pub fn apply(&mut self, edit: &Edit) -> Result<Applied, EditError> {
        let mut doc = self.doc.clone();
        let applied = match edit {
            Edit::AddNode(spec) => add_node(&mut doc, spec),
            Edit::UpdateNode(spec) => update_node(&mut doc, spec),
            Edit::RemoveNode(name) => remove_node(&mut doc, name),
            Edit::AddTo { node, list, value } => add_to(&mut doc, node, *list, value),
            Edit::RemoveFrom { node, list, value } => remove_from(&mut doc, node, *list, value),
            Edit::Set { key, value } => set(&mut doc, key, value.clone()),
            Edit::Unset { key } => unset(&mut doc, key),
        }
        .map_err(EditError::Refused)?;
        self.doc = doc;
        Ok(applied)
    }

    /// Checks the result with the loader's rules, then writes it atomically (see
    /// `save.rs`); `None` when the file already holds exactly this text.
    pub fn save(&mut self) -> Result<Option<Saved>, EditError> {
        let text = self.text();
        if let Err(error) = self.check() {
            let already = match &self.before {
                Before::Bytes(b) => String::from_utf8(b.clone())
                    .ok()
                    .and_then(|t| super::parse(&self.path, &t).err())
                    .is_some_and(|e| e.message == error.message),
                Before::Missing => false,
            };
            return Err(EditError::Invalid { error, already });
        }
        if self.before == Before::Bytes(text.clone().into_bytes()) {
            return Ok(None);
        }
        let saved = save::write(&self.path, &self.before, &text)?;
        self.before = Before::Bytes(text.into_bytes());
        Ok(Some(saved))
    }
}

/// What to say when a node is removed from the configuration: nothing is deleted, and
/// where its repository and the copies stay. `config` is the configuration before.
pub fn removal_note(config: &Config, name: &str) -> String {
    let Some(node) = config.node(name) else {
        return format!("node {name:?} was removed from the configuration");
    };
    let holders: Vec<String> = config
        .nodes
        .iter()
        .filter(|n| n.name != name)
        .map(|n| format!("{} on {}", dir(&n.base_dir, name), n.name))
        .collect();
    let own = if node.is_storage() {
        format!(
            "{name} held copies only; they stay in {} on {name}",
            node.base_dir
        )
    } else {
        format!(
            "its repository stays in {} on {name} and its copies in {}; the copies {name} holds of the other repositories stay in {} on {name}",
            dir(&node.base_dir, name),
            holders.join(", "),
            node.base_dir
        )
    };
    format!(
        "nothing was deleted on any node: {own}. Runs no longer back up {name} or copy anything to it; once you no longer need them, remove those folders by hand"
    )
}

fn dir(base: &str, repo: &str) -> String {
    format!("{}/{repo}/restic", base.trim_end_matches('/'))
}

// ---- the edits, on the document --------------------------------------------------------

type Outcome = Result<Applied, String>;

/// The `nodes` table, created (as `[nodes.NAME]` headers only) when missing.
fn nodes_mut(doc: &mut DocumentMut) -> Result<&mut dyn TableLike, String> {
    let root = doc.as_table_mut();
    if !root.contains_key("nodes") {
        let mut t = Table::new();
        t.set_implicit(true);
        root.insert("nodes", Item::Table(t));
    }
    root.get_mut("nodes")
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| "`nodes` in the file is not a table of nodes; fix it by hand".to_string())
}

fn node_names(doc: &DocumentMut) -> Vec<String> {
    doc.get("nodes")
        .and_then(Item::as_table_like)
        .map(|t| t.iter().map(|(k, _)| k.to_string()).collect())
        .unwrap_or_default()
}

fn unknown_node(doc: &DocumentMut, name: &str) -> String {
    format!(
        "there is no node {name:?} in the configuration (its nodes: {})",
        node_names(doc).join(", ")
    )
}

fn node_mut<'d>(doc: &'d mut DocumentMut, name: &str) -> Result<&'d mut dyn TableLike, String> {
    if !node_names(doc).iter().any(|n| n == name) {
        return Err(unknown_node(doc, name));
    }
    nodes_mut(doc)?
        .get_mut(name)
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| format!("nodes.{name} in the file is not a table; fix it by hand"))
}

/// The orchestrator as the loader decides it: `orchestrator`, or the only node.
fn orchestrator(doc: &DocumentMut) -> Option<String> {
    match doc.get("orchestrator").and_then(Item::as_str) {
        Some(o) => Some(o.to_string()),
        None => match node_names(doc).as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        },
    }
}

fn strings(values: &[String]) -> Value {
    Value::Array(values.iter().map(String::as_str).collect::<Array>())
}

fn add_node(doc: &mut DocumentMut, spec: &NodeSpec) -> Outcome {
    let names = node_names(doc);
    if names.contains(&spec.name) {
        return Err(format!(
            "a node named {:?} already exists (node names are unique: each is its repository's folder)",
            spec.name
        ));
    }
    let mut note = None;
    if let ([only], None) = (names.as_slice(), doc.get("orchestrator")) {
        // The only node was the orchestrator without saying so; with two, it must be said.
        doc.as_table_mut()
            .insert("orchestrator", toml_edit::value(only.as_str()));
        note = Some(format!(
            "{only} was the only node, so it runs wbackup: `orchestrator = \"{only}\"` was added"
        ));
    }
    let mut table = Table::new();
    fill_node(&mut table, spec);
    // Comments after the last table belong to the end of the file; the new node goes
    // after them, so a commented-out key of the previous node stays with that node.
    let root_ends_with_nodes = doc.as_table().iter().last().map(|(k, _)| k) == Some("nodes");
    let trailing = doc.trailing().as_str().unwrap_or("").to_string();
    if root_ends_with_nodes && trailing.contains('#') {
        let sep = if trailing.ends_with("\n\n") { "" } else { "\n" };
        table.decor_mut().set_prefix(format!("{trailing}{sep}"));
        doc.set_trailing("");
    } else {
        table.decor_mut().set_prefix("\n");
    }
    nodes_mut(doc)?.insert(&spec.name, Item::Table(table));
    Ok(Applied {
        changed: true,
        note,
    })
}

/// Sets the node's fields to `spec`'s, leaving alone those that do not change.
fn fill_node(table: &mut dyn TableLike, spec: &NodeSpec) {
    let lists = [
        ("addresses", &spec.addresses),
        ("paths", &spec.paths),
        ("exclude", &spec.exclude),
    ];
    let scalars = [
        ("user", spec.user.clone().map(Value::from)),
        ("port", spec.port.map(|p| Value::from(i64::from(p)))),
        ("base_dir", spec.base_dir.clone().map(Value::from)),
    ];
    for key in ["addresses", "user", "port", "base_dir", "paths", "exclude"] {
        let wanted = match lists.iter().find(|(k, _)| *k == key) {
            // An empty list is the same as none: leave out a key that was not written.
            Some((_, v)) if v.is_empty() && table.get(key).is_none() => None,
            Some((_, v)) => Some(strings(v)),
            None => scalars.iter().find(|(k, _)| *k == key).unwrap().1.clone(),
        };
        match wanted {
            None => {
                table.remove(key);
            }
            Some(v) => put(table, key, v),
        }
    }
}

/// Puts `value` at `key` unless it is already there; a replaced value keeps its comments.
fn put(table: &mut dyn TableLike, key: &str, mut value: Value) {
    match table.get_mut(key) {
        Some(Item::Value(old)) => {
            if same(old, &value) {
                return;
            }
            *value.decor_mut() = old.decor().clone();
            *old = value;
        }
        _ => {
            table.insert(key, Item::Value(value));
        }
    }
}

/// The same TOML value, however it is written (`'x'` and `"x"` are the same string).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.value() == y.value(),
        (Value::Integer(x), Value::Integer(y)) => x.value() == y.value(),
        (Value::Boolean(x), Value::Boolean(y)) => x.value() == y.value(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| same(a, b))
        }
        _ => a.to_string().trim() == b.to_string().trim(),
    }
}

fn update_node(doc: &mut DocumentMut, spec: &NodeSpec) -> Outcome {
    fill_node(node_mut(doc, &spec.name)?, spec);
    Ok(Applied::changed())
}

fn remove_node(doc: &mut DocumentMut, name: &str) -> Outcome {
    let names = node_names(doc);
    if !names.iter().any(|n| n == name) {
        return Err(unknown_node(doc, name));
    }
    if names.len() == 1 {
        return Err(format!(
            "{name:?} is the only node; a configuration needs at least one (change its fields instead)"
        ));
    }
    if orchestrator(doc).as_deref() == Some(name) {
        return Err(format!(
            "{name:?} is the orchestrator, the node wbackup runs on; make another node the orchestrator first (`orchestrator = \"OTHER\"`)"
        ));
    }
    let removed = nodes_mut(doc)?.remove(name);
    // The comments right above `[nodes.NAME]` go with it; anything before a blank line
    // there belonged to the table before it, and stays.
    let prefix = removed
        .as_ref()
        .and_then(Item::as_table)
        .and_then(|t| t.decor().prefix())
        .and_then(|p| p.as_str())
        .unwrap_or("")
        .to_string();
    let kept = if prefix.ends_with("\n\n") {
        // A blank line right above the header: none of the comments were its own.
        prefix.as_str()
    } else {
        match prefix.rfind("\n\n") {
            Some(i) => &prefix[..i + 1],
            None => "",
        }
    };
    if kept.contains('#') {
        let at = names.iter().position(|n| n == name).unwrap_or(0);
        let next = names.get(at + 1).cloned();
        let next = next.and_then(|n| nodes_mut(doc).ok()?.get_mut(&n)?.as_table_mut());
        match next {
            Some(t) => {
                let p = t.decor().prefix().and_then(|p| p.as_str()).unwrap_or("");
                let p = format!("{kept}{p}");
                t.decor_mut().set_prefix(p);
            }
            None => {
                let t = doc.trailing().as_str().unwrap_or("").to_string();
                // At the end of the file, without the blank line `add_node` put after them.
                let kept = if t.is_empty() && kept.ends_with("\n\n") {
                    kept.strip_suffix('\n').unwrap_or(kept)
                } else {
                    kept
                };
                doc.set_trailing(format!("{kept}{t}"));
            }
        }
    }
    Ok(Applied::changed())
}

fn list_mut<'d>(doc: &'d mut DocumentMut, node: &str, list: List) -> Result<&'d mut Array, String> {
    let table = node_mut(doc, node)?;
    if table.get(list.key()).is_none() {
        table.insert(list.key(), Item::Value(Value::Array(Array::new())));
    }
    table
        .get_mut(list.key())
        .and_then(Item::as_array_mut)
        .ok_or_else(|| {
            format!(
                "nodes.{node}.{} in the file is not a list; fix it by hand",
                list.key()
            )
        })
}

fn add_to(doc: &mut DocumentMut, node: &str, list: List, value: &str) -> Outcome {
    let array = list_mut(doc, node, list)?;
    if array.iter().any(|v| v.as_str() == Some(value)) {
        return Ok(Applied {
            changed: false,
            note: Some(format!(
                "{value:?} is already in nodes.{node}.{}",
                list.key()
            )),
        });
    }
    let mut new = Value::from(value);
    // Like its neighbours: on its own line in a list written one per line; what stood
    // before `]` after the last one now stands after the new one.
    if let Some(last) = array.iter_mut().last() {
        let prefix = last.decor().prefix().and_then(|p| p.as_str()).unwrap_or("");
        let prefix = match prefix.rfind('\n') {
            Some(i) => format!("\n{}", &prefix[i + 1..]),
            None => " ".to_string(),
        };
        let suffix = last
            .decor()
            .suffix()
            .and_then(|p| p.as_str())
            .unwrap_or("")
            .to_string();
        last.decor_mut().set_suffix("");
        new.decor_mut().set_prefix(prefix);
        new.decor_mut().set_suffix(suffix);
    }
    array.push_formatted(new);
    Ok(Applied::changed())
}

fn remove_from(doc: &mut DocumentMut, node: &str, list: List, value: &str) -> Outcome {
    let array = list_mut(doc, node, list)?;
    let Some(at) = array.iter().position(|v| v.as_str() == Some(value)) else {
        let has: Vec<String> = array
            .iter()
            .map(|v| v.to_string().trim().to_string())
            .collect();
        return Err(format!(
            "{value:?} is not in nodes.{node}.{} (it holds: {})",
            list.key(),
            if has.is_empty() {
                "nothing".into()
            } else {
                has.join(", ")
            }
        ));
    };
    let removed = array.remove(at);
    if at == 0 {
        if let Some(first) = array.get_mut(0) {
            let prefix = removed.decor().prefix().cloned().unwrap_or_default();
            first.decor_mut().set_prefix(prefix);
        }
    }
    if at == array.len() && at > 0 {
        if let Some(last) = array.get_mut(at - 1) {
            let suffix = removed.decor().suffix().cloned().unwrap_or_default();
            last.decor_mut().set_suffix(suffix);
        }
    }
    // A comment after the previous entry's comma, on its line, stays with that entry.
    let prefix = removed
        .decor()
        .prefix()
        .and_then(|p| p.as_str())
        .unwrap_or("");
    if let Some((line, _)) = prefix
        .split_once('\n')
        .filter(|(l, _)| at > 0 && l.contains('#'))
    {
        match array.get_mut(at) {
            Some(next) => {
                let p = next.decor().prefix().and_then(|p| p.as_str()).unwrap_or("");
                let p = format!("{line}{p}");
                next.decor_mut().set_prefix(p);
            }
            None => {
                let t = format!("{line}{}", array.trailing().as_str().unwrap_or(""));
                array.set_trailing(t);
            }
        }
    }
    let note = (list == List::Paths && array.is_empty()).then(|| {
        format!("{node} has no paths left: it is a storage node now, holding copies only (its repository is kept, no longer backed up)")
    });
    Ok(Applied {
        changed: true,
        note,
    })
}

/// The parts of a dotted key, refused when it cannot name a setting.
fn key_parts(key: &str) -> Result<Vec<&str>, String> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "{key:?} is not a key; write it as the file nests it: jobs, retention.keep_daily, nodes.home.user"
        ));
    }
    if parts[0] == "nodes" && parts.len() < 3 {
        return Err(
            "add or remove nodes with `add-node` and `remove-node`; set one node's field as nodes.NAME.FIELD"
                .into(),
        );
    }
    Ok(parts)
}

/// The table `path` leads to, created (if `create`) where missing, except nodes.
fn table_at<'t>(
    table: &'t mut dyn TableLike,
    path: &[&str],
    done: &str,
    create: bool,
) -> Result<&'t mut dyn TableLike, String> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(table);
    };
    let here = if done.is_empty() {
        first.to_string()
    } else {
        format!("{done}.{first}")
    };
    if table.get(first).is_none() {
        if !create || done == "nodes" {
            return Err(if done == "nodes" {
                format!("there is no node {first:?} in the configuration (add it with add-node)")
            } else {
                format!("{here} is not set")
            });
        }
        let mut t = Table::new();
        t.decor_mut().set_prefix("\n");
        t.set_implicit(!rest.is_empty());
        table.insert(first, Item::Table(t));
    }
    match table.get_mut(first).and_then(Item::as_table_like_mut) {
        Some(t) => table_at(t, rest, &here, create),
        None => Err(format!("{here} is a value, not a table")),
    }
}

fn set(doc: &mut DocumentMut, key: &str, mut value: Value) -> Outcome {
    let parts = key_parts(key)?;
    let (last, path) = parts.split_last().expect("at least one part");
    let new_retention = parts[0] == "retention" && !doc.contains_key("retention");
    let table = table_at(doc.as_table_mut(), path, "", true)?;
    match table.get(last) {
        Some(Item::Table(_) | Item::ArrayOfTables(_))
        | Some(Item::Value(Value::InlineTable(_))) => {
            return Err(format!(
                "{key} is a table: set one of its keys ({key}.NAME)"
            ))
        }
        Some(Item::Value(Value::Array(_))) if !value.is_array() => {
            // One value given for a list: a list of one.
            value = Value::Array(std::iter::once(value).collect());
        }
        _ => {}
    }
    value.decor_mut().clear();
    put(table, last, value);
    let note = new_retention.then(|| {
        "there was no [retention]: the default policy (keep_daily 7, keep_weekly 4, keep_monthly 12) no longer applies, only what [retention] says".to_string()
    });
    Ok(Applied {
        changed: true,
        note,
    })
}

fn unset(doc: &mut DocumentMut, key: &str) -> Outcome {
    let parts = key_parts(key)?;
    let (last, path) = parts.split_last().expect("at least one part");
    let table = table_at(doc.as_table_mut(), path, "", false)?;
    if table.remove(last).is_none() {
        return Err(format!("{key} is not set"));
    }
    Ok(Applied::changed())
}

/// A value typed on the command line: TOML when it reads as TOML (`3`, `true`,
/// `["a", "b"]`, `"quoted text"`), a string otherwise (`~/Documents`, `5%`); several words
/// make a list of strings.
pub fn value_from_words(words: &[String]) -> Value {
    match words {
        [one] => one
            .parse::<Value>()
            .unwrap_or_else(|_| Value::from(one.as_str())),
        many => strings(many),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const COMMENTED: &str = r#"# my backups
orchestrator = "laptop"   # this machine

[retention]               # keep a while
keep_daily = 7

[nodes.laptop]
# what matters
paths = ["~/Documents"]
# exclude = ["*.iso"]
"#;

    fn open(text: &str) -> (tempfile::TempDir, PathBuf, ConfigFile) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.toml");
        fs::write(&p, text).unwrap();
        let f = ConfigFile::open(&p).unwrap();
        (d, p, f)
    }

    fn home() -> NodeSpec {
        NodeSpec {
            name: "home".into(),
            addresses: vec!["192.168.1.10".into(), "home.example.org".into()],
            user: Some("alice".into()),
            port: Some(2222),
            paths: vec!["~/".into()],
            ..NodeSpec::default()
        }
    }

    #[test]
    fn adding_a_node_keeps_every_comment_and_the_order() {
        let (_d, p, mut f) = open(COMMENTED);
        f.apply(&Edit::AddNode(home())).unwrap();
        let saved = f.save().unwrap().unwrap();
        let text = fs::read_to_string(&p).unwrap();
        assert!(text.starts_with(COMMENTED), "{text}");
        assert!(
            text.ends_with(
                "\n[nodes.home]\naddresses = [\"192.168.1.10\", \"home.example.org\"]\nuser = \"alice\"\nport = 2222\npaths = [\"~/\"]\n"
            ),
            "{text}"
        );
        assert_eq!(
            fs::read_to_string(saved.backup.unwrap()).unwrap(),
            COMMENTED
        );
        let c = crate::config::parse(&p, &text).unwrap();
        assert_eq!(c.node("home").unwrap().port, Some(2222));
    }

    #[test]
    fn the_only_node_becomes_the_named_orchestrator_when_a_second_comes() {
        let (_d, _p, mut f) = open("[nodes.laptop]\npaths = [\"~/x\"]\n");
        let a = f.apply(&Edit::AddNode(home())).unwrap();
        assert!(a.note.unwrap().contains("orchestrator"));
        assert_eq!(f.check().unwrap().orchestrator, "laptop");
    }

    #[test]
    fn crlf_line_endings_stay_crlf() {
        let crlf = COMMENTED.replace('\n', "\r\n");
        let (_d, p, mut f) = open(&crlf);
        f.apply(&Edit::AddTo {
            node: "laptop".into(),
            list: List::Paths,
            value: "~/Music".into(),
        })
        .unwrap();
        f.save().unwrap();
        let text = fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            crlf.replace("\"~/Documents\"]", "\"~/Documents\", \"~/Music\"]")
        );
    }

    #[test]
    fn a_list_written_one_per_line_stays_so() {
        let (_d, _p, mut f) = open("[nodes.a]\npaths = [\n  \"/x\", # first\n  \"/y\",\n]\n");
        let add = |v: &str| Edit::AddTo {
            node: "a".into(),
            list: List::Paths,
            value: v.into(),
        };
        f.apply(&add("/z")).unwrap();
        assert_eq!(
            f.text(),
            "[nodes.a]\npaths = [\n  \"/x\", # first\n  \"/y\",\n  \"/z\",\n]\n"
        );
        assert!(!f.apply(&add("/z")).unwrap().changed);
        f.apply(&Edit::RemoveFrom {
            node: "a".into(),
            list: List::Paths,
            value: "/y".into(),
        })
        .unwrap();
        assert_eq!(
            f.text(),
            "[nodes.a]\npaths = [\n  \"/x\", # first\n  \"/z\",\n]\n"
        );
    }

    #[test]
    fn set_keeps_the_comment_and_refuses_what_would_not_load() {
        let (_d, p, mut f) = open(COMMENTED);
        f.apply(&Edit::Set {
            key: "orchestrator".into(),
            value: value_from_words(&["laptop".into()]),
        })
        .unwrap();
        assert_eq!(f.text(), COMMENTED, "the same value: nothing changes");
        f.apply(&Edit::Set {
            key: "retention.keep_daily".into(),
            value: value_from_words(&["14".into()]),
        })
        .unwrap();
        assert!(f.text().contains("keep_daily = 14\n"), "{}", f.text());
        f.apply(&Edit::Set {
            key: "jobs".into(),
            value: value_from_words(&["many".into()]),
        })
        .unwrap();
        let e = f.save().unwrap_err();
        let shown = e.to_string();
        assert!(shown.contains("config.toml:"), "{shown}");
        assert!(shown.contains("jobs = \"many\" is neither"), "{shown}");
        assert!(e.is_usage());
        assert_eq!(fs::read_to_string(&p).unwrap(), COMMENTED);
    }

    #[test]
    fn refused_edits_change_nothing() {
        let (_d, _p, mut f) = open(COMMENTED);
        let mut two = home();
        f.apply(&Edit::AddNode(two.clone())).unwrap();
        let before = f.text();
        for (edit, says) in [
            (Edit::AddNode(two.clone()), "already exists"),
            (Edit::RemoveNode("laptop".into()), "is the orchestrator"),
            (Edit::RemoveNode("nas".into()), "no node \"nas\""),
            (
                Edit::RemoveFrom {
                    node: "home".into(),
                    list: List::Paths,
                    value: "/nope".into(),
                },
                "is not in nodes.home.paths",
            ),
            (
                Edit::Set {
                    key: "retention".into(),
                    value: Value::from(3),
                },
                "is a table",
            ),
            (
                Edit::Set {
                    key: "nodes.nas.user".into(),
                    value: Value::from("x"),
                },
                "no node \"nas\"",
            ),
            (
                Edit::Unset {
                    key: "nodes.home".into(),
                },
                "remove-node",
            ),
            (
                Edit::Unset {
                    key: "check.read_data_subset".into(),
                },
                "is not set",
            ),
        ] {
            let e = f.apply(&edit).unwrap_err();
            assert!(e.to_string().contains(says), "{edit:?}: {e}");
            assert_eq!(f.text(), before, "{edit:?}");
        }
        two.name = "nas".into();
        two.paths.clear();
        f.apply(&Edit::AddNode(two)).unwrap();
        f.apply(&Edit::RemoveNode("home".into())).unwrap();
        let c = f.check().unwrap();
        assert_eq!(c.nodes.len(), 2);
        let e = {
            let (_d, _p, mut one) = open("[nodes.a]\n");
            one.apply(&Edit::RemoveNode("a".into())).unwrap_err()
        };
        assert!(e.to_string().contains("only node"), "{e}");
    }

    #[test]
    fn names_and_paths_the_loader_refuses_are_never_written() {
        for (spec, says) in [
            (
                NodeSpec {
                    name: "../x".into(),
                    ..home()
                },
                "invalid node name",
            ),
            (
                NodeSpec {
                    name: "a/b".into(),
                    ..home()
                },
                "invalid node name",
            ),
            (
                NodeSpec {
                    name: "a\nb".into(),
                    ..home()
                },
                "invalid node name",
            ),
            (
                NodeSpec {
                    name: "a\"b".into(),
                    ..home()
                },
                "invalid node name",
            ),
            (
                NodeSpec {
                    name: "café".into(),
                    ..home()
                },
                "invalid node name",
            ),
            (
                NodeSpec {
                    addresses: vec![],
                    ..home()
                },
                "has no addresses",
            ),
            (
                NodeSpec {
                    addresses: vec!["".into()],
                    ..home()
                },
                "invalid address",
            ),
            (
                NodeSpec {
                    paths: vec!["Documents".into()],
                    ..home()
                },
                "relative path",
            ),
            (
                NodeSpec {
                    base_dir: Some("b".into()),
                    ..home()
                },
                "not an absolute path",
            ),
        ] {
            let (_d, p, mut f) = open(COMMENTED);
            f.apply(&Edit::AddNode(spec.clone())).unwrap();
            let e = f.save().unwrap_err();
            assert!(e.to_string().contains(says), "{spec:?}: {e}");
            assert!(e.to_string().contains("config.toml:"), "{e}");
            assert_eq!(fs::read_to_string(&p).unwrap(), COMMENTED);
            assert!(!p.with_extension("toml.bak").exists());
        }
    }

    #[test]
    fn a_hand_edit_made_meanwhile_is_never_overwritten() {
        let (_d, p, mut f) = open(COMMENTED);
        fs::write(&p, format!("{COMMENTED}# mine\n")).unwrap();
        f.apply(&Edit::AddNode(home())).unwrap();
        let e = f.save().unwrap_err();
        assert!(matches!(e, EditError::Changed(_)), "{e}");
        assert!(fs::read_to_string(&p).unwrap().ends_with("# mine\n"));
    }

    #[test]
    fn with_no_file_the_starter_file_is_the_start_and_its_comments_stay() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("new/config.toml");
        let mut f = ConfigFile::open(&p).unwrap();
        assert!(f.is_new());
        f.apply(&Edit::AddNode(home())).unwrap();
        let s = f.save().unwrap().unwrap();
        assert!(s.created && s.backup.is_none());
        let text = fs::read_to_string(&p).unwrap();
        let starter = crate::config::starter_file(&crate::config::local_node_name());
        assert!(text.starts_with(&starter), "{text}");
        assert!(text.ends_with("paths = [\"~/\"]\n"), "{text}");
        crate::config::parse(&p, &text).unwrap();
    }

    #[test]
    fn a_symbolic_link_stays_and_its_target_is_written() {
        let (d, real, _) = open(COMMENTED);
        let link = d.path().join("link.toml");
        std::os::unix::fs::symlink("config.toml", &link).unwrap();
        let mut f = ConfigFile::open(&link).unwrap();
        f.apply(&Edit::Set {
            key: "jobs".into(),
            value: Value::from(2),
        })
        .unwrap();
        let s = f.save().unwrap().unwrap();
        assert_eq!(s.written, real);
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(fs::read_to_string(&real).unwrap().contains("jobs = 2"));
        assert_eq!(
            fs::read_to_string(d.path().join("config.toml.bak")).unwrap(),
            COMMENTED
        );
    }

    #[test]
    fn removing_a_node_keeps_the_comments_of_the_node_before() {
        let text = "orchestrator = \"a\"\n[nodes.a]\npaths = [\"/x\"]\n# exclude = [\"*.iso\"]\n\n# the NAS\n[nodes.nas]\naddresses = [\"nas\"]\n";
        let (_d, _p, mut f) = open(text);
        let before = f.check().unwrap();
        f.apply(&Edit::RemoveNode("nas".into())).unwrap();
        assert_eq!(
            f.text(),
            "orchestrator = \"a\"\n[nodes.a]\npaths = [\"/x\"]\n# exclude = [\"*.iso\"]\n"
        );
        let note = removal_note(&before, "nas");
        assert!(
            note.starts_with("nothing was deleted on any node"),
            "{note}"
        );
    }

    #[test]
    fn a_node_added_then_removed_leaves_the_starter_file_as_it_was() {
        let starter = crate::config::starter_file("laptop");
        let (_d, _p, mut f) = open(&starter);
        f.apply(&Edit::AddNode(home())).unwrap();
        f.apply(&Edit::AddNode(NodeSpec {
            name: "nas".into(),
            paths: vec![],
            ..home()
        }))
        .unwrap();
        assert!(f.text().starts_with(&starter), "{}", f.text());
        f.apply(&Edit::RemoveNode("nas".into())).unwrap();
        f.apply(&Edit::RemoveNode("home".into())).unwrap();
        assert_eq!(f.text(), starter);
    }

    #[test]
    fn update_node_touches_only_what_changes() {
        let text = "[nodes.a]\npaths = ['/x']   # mine\nuser = \"bob\"\n";
        let (_d, _p, mut f) = open(text);
        f.apply(&Edit::UpdateNode(NodeSpec {
            name: "a".into(),
            paths: vec!["/x".into()],
            port: Some(22),
            ..NodeSpec::default()
        }))
        .unwrap();
        assert_eq!(f.text(), "[nodes.a]\npaths = ['/x']   # mine\nport = 22\n");
    }
}
