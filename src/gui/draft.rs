//! What the Setup view edits, without Qt: the configuration file read for editing
//! (`config::edit::ConfigFile`) and the changes made in the window that are not saved yet.
//!
//! It exists so the window never holds a second idea of the configuration: every change
//! is one `config::edit::Edit`, tried on a copy and checked with the loader's own rules
//! (the same file:line:col messages) before it is kept, so the draft is always a file
//! that loads; a refused change leaves the draft (and the file on disk) as they were.
//! Saving is `ConfigFile::save`: atomic, a `.bak` kept, refused when the file changed on
//! disk meanwhile. What the view shows is read back from the draft's text (raw values,
//! as the file says them; empty means the default applies).

use crate::config::edit::{self, ConfigFile, Edit, EditError, List, NodeSpec};
use crate::config::Config;
use serde_json::json;
use std::path::{Path, PathBuf};

/// The settings the Setup view offers besides the nodes, as dotted keys of the file,
/// each with a label and what applies when the file does not say.
pub const SETTINGS: &[(&str, &str, &str)] = &[
    ("base_dir", "Backup folder on every node", "~/backup"),
    ("jobs", "Steps of one kind at once", "1"),
    ("remind_after_days", "Remind after (days)", "7"),
    ("retention.keep_last", "Keep last", ""),
    ("retention.keep_hourly", "Keep hourly", ""),
    ("retention.keep_daily", "Keep daily", "7"),
    ("retention.keep_weekly", "Keep weekly", "4"),
    ("retention.keep_monthly", "Keep monthly", "12"),
    ("retention.keep_yearly", "Keep yearly", ""),
    ("retention.keep_within", "Keep within (e.g. 30d)", ""),
    ("check.read_data_subset", "Check reads data (e.g. 5%)", ""),
    ("replication.enabled", "Replication (true/false)", "true"),
    ("replication.quarantine_days", "Quarantine (days)", "14"),
    (
        "replication.direct",
        "Direct copies between nodes (true/false)",
        "false",
    ),
    ("ssh.connect_timeout_s", "SSH connect timeout (s)", "5"),
    ("ssh.config_file", "SSH config file", ""),
    (
        "ssh.options",
        "SSH options (Key=Value, comma-separated)",
        "",
    ),
    ("verify.every_days", "Verify every (days)", "7"),
    ("verify.files", "Files per drill", "20"),
    ("verify.max_bytes", "Bytes per drill", "256MiB"),
    (
        "verify.read_data_cycle",
        "Read all data within (verifications)",
        "12",
    ),
    ("verify.warn_after_days", "Warn after (days)", "14"),
];

/// The machine form of the Setup view, as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeForm {
    pub name: String,
    /// One address per line or comma-separated, in the order they are tried.
    pub addresses: String,
    pub user: String,
    pub port: String,
    pub base_dir: String,
    /// One folder per line (a new node only; a storage node has none).
    pub paths: String,
    pub storage: bool,
}

/// The typed words of a multi-value field: split at newlines and commas, trimmed.
pub fn words(text: &str) -> Vec<String> {
    text.split(['\n', ','])
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn optional(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl NodeForm {
    /// The node this form describes, or why it cannot be one (said in the form).
    pub fn spec(&self) -> Result<NodeSpec, String> {
        let port = match self.port.trim() {
            "" => None,
            p => Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                format!("port {p:?} is not a port number (1 to 65535; empty: whatever ssh uses)")
            })?),
        };
        let paths = if self.storage {
            vec![]
        } else {
            words(&self.paths)
        };
        Ok(NodeSpec {
            name: self.name.trim().to_string(),
            addresses: words(&self.addresses),
            user: optional(&self.user),
            port,
            base_dir: optional(&self.base_dir),
            paths,
            exclude: vec![],
        })
    }
}

/// The configuration file being edited and whether it holds unsaved changes.
pub struct Draft {
    file: ConfigFile,
    config: Config,
    dirty: bool,
}

impl Draft {
    /// Reads the file at `path` (with none, the starter file `save` would create). A file
    /// that does not load cannot be edited here: the error says where to fix it.
    pub fn open(path: &Path) -> Result<Draft, String> {
        let file = ConfigFile::open(path).map_err(|e| e.to_string())?;
        let config = file.check().map_err(|e| e.to_string())?;
        Ok(Draft {
            file,
            config,
            dirty: false,
        })
    }

    pub fn path(&self) -> PathBuf {
        self.file.path().to_path_buf()
    }

    /// Changes made here and not saved yet.
    pub fn dirty(&self) -> bool {
        self.dirty
    }

    /// The configuration the draft loads as.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Tries one change: kept only when the result loads. `Ok` carries a note worth
    /// telling (the orchestrator named, a node turned storage-only); `Err` what is wrong,
    /// in the loader's words.
    pub fn apply(&mut self, change: &Edit) -> Result<Option<String>, String> {
        let mut file = self.file.clone();
        let applied = file.apply(change).map_err(|e| match e {
            EditError::Refused(why) => why,
            other => other.to_string(),
        })?;
        let config = file.check().map_err(|e| e.to_string())?;
        if applied.changed {
            self.file = file;
            self.config = config;
            self.dirty = true;
        }
        Ok(applied.note)
    }

    /// Adds the machine the form describes.
    pub fn add_node(&mut self, form: &NodeForm) -> Result<Option<String>, String> {
        let spec = form.spec()?;
        if spec.name.is_empty() {
            return Err("give the machine a name (it becomes its repository's folder)".into());
        }
        if !form.storage && spec.paths.is_empty() {
            return Err(
                "add a folder to back up, or switch on \"storage only\" (a node that only holds copies)"
                    .into(),
            );
        }
        self.apply(&Edit::AddNode(spec))
    }

    /// Gives an existing machine the form's name fields; its folders and excludes stay,
    /// unless the form switches it to storage only (then it backs up nothing).
    pub fn update_node(&mut self, form: &NodeForm) -> Result<Option<String>, String> {
        let mut spec = form.spec()?;
        let Some(node) = self.config.node(&spec.name) else {
            return Err(format!("there is no node {:?} to change", spec.name));
        };
        spec.paths = if form.storage {
            vec![]
        } else {
            node.paths.clone()
        };
        spec.exclude = node.exclude.clone();
        self.apply(&Edit::UpdateNode(spec))
    }

    pub fn remove_node(&mut self, name: &str) -> Result<Option<String>, String> {
        let note = edit::removal_note(&self.config, name);
        self.apply(&Edit::RemoveNode(name.to_string()))
            .map(|n| Some(n.unwrap_or(note)))
    }

    /// Adds (or, with `add` false, removes) a folder or an exclude of a node.
    pub fn change_list(
        &mut self,
        node: &str,
        list: List,
        value: &str,
        add: bool,
    ) -> Result<Option<String>, String> {
        let (node, value) = (node.to_string(), value.trim().to_string());
        if value.is_empty() {
            return Err("type a path first".into());
        }
        self.apply(&if add {
            Edit::AddTo { node, list, value }
        } else {
            Edit::RemoveFrom { node, list, value }
        })
    }

    /// Sets a setting of [`SETTINGS`] to the typed text; empty text removes it from the
    /// file, so its default applies.
    pub fn set_setting(&mut self, key: &str, text: &str) -> Result<Option<String>, String> {
        if !SETTINGS.iter().any(|(k, _, _)| *k == key) {
            return Err(format!("{key} is not a setting the window changes"));
        }
        let text = text.trim();
        if text == self.setting(key) {
            return Ok(None);
        }
        if text.is_empty() {
            return self.apply(&Edit::Unset { key: key.into() });
        }
        let value = if key == "ssh.options" {
            edit::value_from_words(&words(text))
        } else {
            edit::value_from_words(&[text.to_string()])
        };
        // A list of one is still a list.
        let value = match (key, value) {
            ("ssh.options", v) if !v.is_array() => {
                toml_edit::Value::Array(std::iter::once(v).collect())
            }
            (_, v) => v,
        };
        self.apply(&Edit::Set {
            key: key.into(),
            value,
        })
    }

    /// Writes the draft (checked again, atomically, the previous version kept as `.bak`).
    pub fn save(&mut self) -> Result<String, String> {
        match self.file.save().map_err(|e| e.to_string())? {
            None => {
                self.dirty = false;
                Ok(format!(
                    "{} already says this: nothing to save",
                    self.file.path().display()
                ))
            }
            Some(saved) => {
                self.dirty = false;
                let kept = saved
                    .backup
                    .map(|b| format!("; the previous version is {}", b.display()))
                    .unwrap_or_default();
                Ok(format!("Saved {}{kept}", saved.written.display()))
            }
        }
    }

    /// The file as the draft would write it.
    pub fn text(&self) -> String {
        self.file.text()
    }

    fn raw(&self) -> toml::Table {
        toml::from_str(&self.file.text()).unwrap_or_default()
    }

    /// A setting's text as the file says it ("" when the file does not set it).
    pub fn setting(&self, key: &str) -> String {
        let raw = self.raw();
        let mut item = None::<&toml::Value>;
        let mut table = Some(&raw);
        for part in key.split('.') {
            item = table.and_then(|t| t.get(part));
            table = item.and_then(toml::Value::as_table);
        }
        item.map(value_text).unwrap_or_default()
    }

    /// The settings as the view lists them: key, label, text, default.
    pub fn settings_json(&self) -> String {
        let rows: Vec<_> = SETTINGS
            .iter()
            .map(|(key, label, default)| {
                json!({"key": key, "label": label, "value": self.setting(key), "default": default})
            })
            .collect();
        serde_json::Value::Array(rows).to_string()
    }

    /// The machines, in the file's order, as the view shows them: raw fields, whether
    /// it is the orchestrator (this machine) and whether it only holds copies.
    pub fn nodes_json(&self) -> String {
        let raw = self.raw();
        let empty = toml::Table::new();
        let nodes = raw
            .get("nodes")
            .and_then(toml::Value::as_table)
            .unwrap_or(&empty);
        let empty_node = toml::Value::Table(toml::Table::new());
        // The configuration's order: this machine first, then the file's.
        let rows: Vec<_> = self
            .config
            .nodes
            .iter()
            .map(|n| (&n.name, nodes.get(&n.name).unwrap_or(&empty_node)))
            .map(|(name, fields)| {
                let field = |k: &str| fields.get(k).map(value_text).unwrap_or_default();
                let list = |k: &str| -> Vec<String> {
                    fields
                        .get(k)
                        .and_then(toml::Value::as_array)
                        .map(|a| a.iter().map(value_text).collect())
                        .unwrap_or_default()
                };
                let node = self.config.node(name.as_str());
                json!({
                    "name": name,
                    "addresses": list("addresses"),
                    "user": field("user"),
                    "port": field("port"),
                    "baseDir": field("base_dir"),
                    "effectiveBaseDir": node.map(|n| n.base_dir.clone()).unwrap_or_default(),
                    "paths": list("paths"),
                    "exclude": list("exclude"),
                    "storage": list("paths").is_empty(),
                    "orchestrator": node.is_some_and(|n| n.is_orchestrator),
                })
            })
            .collect();
        serde_json::Value::Array(rows).to_string()
    }
}

/// A value as a person types it: strings without quotes, lists comma-separated.
fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(a) => a.iter().map(value_text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# my backups, keep this comment\norchestrator = \"laptop\"\n\n[nodes.laptop]\npaths = [\"~/Documents\"]\n";

    fn draft() -> (tempfile::TempDir, Draft) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, FILE).unwrap();
        let d = Draft::open(&path).unwrap();
        (dir, d)
    }

    fn home() -> NodeForm {
        NodeForm {
            name: "home".into(),
            addresses: "192.168.1.10\nhome.example.org".into(),
            user: "alice".into(),
            port: "2222".into(),
            paths: "~/".into(),
            ..NodeForm::default()
        }
    }

    #[test]
    fn a_machine_added_by_the_form_is_saved_with_the_comment_kept() {
        let (dir, mut d) = draft();
        d.add_node(&home()).unwrap();
        assert!(d.dirty());
        let on_disk = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
        assert_eq!(on_disk, FILE, "nothing is written before Save");
        d.save().unwrap();
        let saved = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
        assert!(saved.starts_with("# my backups, keep this comment\n"));
        let c = crate::config::parse(Path::new("x"), &saved).unwrap();
        let home = c.node("home").unwrap();
        assert_eq!(home.addresses, ["192.168.1.10", "home.example.org"]);
        assert_eq!(home.port, Some(2222));
        assert_eq!(home.user.as_deref(), Some("alice"));
        assert!(!d.dirty());
    }

    #[test]
    fn invalid_input_is_refused_and_the_draft_is_unchanged() {
        let (_dir, mut d) = draft();
        let before = d.text();
        let dup = NodeForm {
            name: "laptop".into(),
            ..home()
        };
        assert!(d.add_node(&dup).unwrap_err().contains("already exists"));
        let relative = NodeForm {
            paths: "Documents".into(),
            ..home()
        };
        let e = d.add_node(&relative).unwrap_err();
        assert!(e.contains("config.toml:") && e.contains("relative"), "{e}");
        let no_address = NodeForm {
            addresses: " ".into(),
            ..home()
        };
        let e = d.add_node(&no_address).unwrap_err();
        assert!(e.contains("config.toml:") && e.contains("address"), "{e}");
        let e = d
            .change_list("laptop", List::Paths, "some/where", true)
            .unwrap_err();
        assert!(e.contains("relative"), "{e}");
        assert!(d.set_setting("jobs", "many").is_err());
        assert!(d
            .add_node(&NodeForm {
                port: "99999".into(),
                ..home()
            })
            .is_err());
        assert_eq!(d.text(), before);
        assert!(!d.dirty());
    }

    #[test]
    fn settings_read_and_written_as_the_file_says_them() {
        let (_dir, mut d) = draft();
        assert_eq!(d.setting("retention.keep_daily"), "");
        d.set_setting("retention.keep_daily", "14").unwrap();
        d.set_setting("check.read_data_subset", "5%").unwrap();
        d.set_setting("ssh.options", "ServerAliveInterval=15")
            .unwrap();
        assert_eq!(d.setting("retention.keep_daily"), "14");
        assert_eq!(d.config().check.read_data_subset.as_deref(), Some("5%"));
        assert_eq!(d.config().ssh.options, ["ServerAliveInterval=15"]);
        // The last rule of [retention] cannot go: it would keep nothing.
        assert!(d
            .set_setting("retention.keep_daily", "")
            .unwrap_err()
            .contains("keeps nothing"));
        d.set_setting("retention.keep_weekly", "4").unwrap();
        d.set_setting("retention.keep_daily", "").unwrap();
        assert_eq!(d.setting("retention.keep_daily"), "");
        let s: serde_json::Value = serde_json::from_str(&d.settings_json()).unwrap();
        assert_eq!(s.as_array().unwrap().len(), SETTINGS.len());
    }

    #[test]
    fn nodes_are_listed_raw_with_their_roles() {
        let (_dir, mut d) = draft();
        d.add_node(&NodeForm {
            name: "nas".into(),
            addresses: "nas.lan".into(),
            storage: true,
            ..NodeForm::default()
        })
        .unwrap();
        d.change_list("laptop", List::Exclude, "*.iso", true)
            .unwrap();
        let n: serde_json::Value = serde_json::from_str(&d.nodes_json()).unwrap();
        assert_eq!(n[0]["name"], "laptop");
        assert_eq!(n[0]["orchestrator"], true);
        assert_eq!(n[0]["exclude"][0], "*.iso");
        assert_eq!(n[1]["storage"], true);
        assert_eq!(n[1]["addresses"][0], "nas.lan");
        // Storage off again needs a folder; removing the node says nothing is deleted.
        let note = d.remove_node("nas").unwrap().unwrap();
        assert!(note.contains("nothing was deleted"), "{note}");
    }
}
