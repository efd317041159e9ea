//! The window's Setup view: a QObject of its own (`Setup` in QML) over the configuration
//! file, so a person can add, change and remove machines, choose their folders and
//! excludes and set retention, checks and jobs without editing TOML.
//!
//! It holds no rules of its own: each change goes to [`Draft`] (`config::edit` checked by
//! the loader), which refuses what would not load and says why in the loader's words;
//! the refusal is shown beside the field that caused it (`errorPlace`) and neither the
//! draft nor the file changes. Save writes through `config::edit` (atomic, `.bak`); the
//! main backend then notices the new file and reloads it, as it does for a hand edit.
//! The machines and settings reach QML as JSON text (`nodes`, `settings`), read again
//! after every change.

#[cxx_qt::bridge]
pub mod qobject {
    unsafe extern "C++" {
        include!("cxx-qt-lib/qstring.h");
        type QString = cxx_qt_lib::QString;
    }

    #[auto_cxx_name]
    extern "RustQt" {
        #[qobject]
        #[qml_element]
        #[qproperty(QString, path)]
        /// The machines as a JSON array (see `Draft::nodes_json`).
        #[qproperty(QString, nodes)]
        /// The other settings as a JSON array of {key, label, value, default}.
        #[qproperty(QString, settings)]
        /// Why the last change was refused ("" when it was not).
        #[qproperty(QString, error)]
        /// Where that refusal belongs: "add", "node:NAME", "setting:KEY", "save", "file".
        #[qproperty(QString, error_place)]
        /// What the last change or save did, in a sentence.
        #[qproperty(QString, message)]
        /// Changes not saved yet.
        #[qproperty(bool, dirty)]
        /// The file loads, so it can be edited here.
        #[qproperty(bool, editable)]
        /// The folder picker: {path, parent, dirs} of a folder on this machine.
        #[qproperty(QString, folders)]
        /// Connection tests by node name: {state: "testing"|"ok"|"problems", lines,
        /// problems: [{sentence, fix}]}, as JSON.
        #[qproperty(QString, tests)]
        type Setup = super::SetupRust;
    }

    #[auto_cxx_name]
    unsafe extern "RustQt" {
        /// Reads the configuration file (`""` for the usual lookup) for editing.
        #[qinvokable]
        fn open(self: Pin<&mut Setup>, config_file: &QString);

        /// The file changed on disk: read it again, unless changes are waiting here.
        #[qinvokable]
        fn file_changed(self: Pin<&mut Setup>);

        /// Adds a machine described by the form, as JSON: {name, addresses, user, port,
        /// baseDir, paths, storage}; `addresses` and `paths` one per line or comma-separated.
        #[qinvokable]
        fn add_node(self: Pin<&mut Setup>, form: &QString) -> bool;

        /// Changes a machine's addresses, user, port, base_dir and storage-only switch.
        #[qinvokable]
        fn update_node(
            self: Pin<&mut Setup>,
            name: &QString,
            addresses: &QString,
            user: &QString,
            port: &QString,
            base_dir: &QString,
            storage: bool,
        ) -> bool;

        /// Takes a machine out of the configuration (nothing is deleted on any node).
        #[qinvokable]
        fn remove_node(self: Pin<&mut Setup>, name: &QString) -> bool;

        /// Adds or removes a folder (`list` "paths") or an exclude ("exclude") of a node.
        #[qinvokable]
        fn change_list(
            self: Pin<&mut Setup>,
            node: &QString,
            list: &QString,
            value: &QString,
            add: bool,
        ) -> bool;

        /// Sets a setting to the typed text; empty: back to its default.
        #[qinvokable]
        fn set_setting(self: Pin<&mut Setup>, key: &QString, value: &QString) -> bool;

        /// Writes the changes to the file.
        #[qinvokable]
        fn save(self: Pin<&mut Setup>) -> bool;

        /// Forgets the changes not saved and reads the file again.
        #[qinvokable]
        fn discard(self: Pin<&mut Setup>);

        /// Shows the subfolders of a folder on this machine in the picker ("": home).
        #[qinvokable]
        fn browse(self: Pin<&mut Setup>, folder: &QString);

        /// A folder of this machine as the configuration writes it (`~/…` under home).
        #[qinvokable]
        fn config_path(self: &Setup, folder: &QString) -> QString;

        /// Tests the connection to a machine as the configuration here says it (saved
        /// or not), the way a run reaches it; writes nothing on any node. The result
        /// arrives in `tests`.
        #[qinvokable]
        fn test_connection(self: Pin<&mut Setup>, name: &QString);
    }

    impl cxx_qt::Threading for Setup {}
}

use super::draft::{Draft, NodeForm};
use crate::config::edit::List;
use cxx_qt::{CxxQtType, Threading};
use cxx_qt_lib::QString;
use std::path::{Path, PathBuf};
use std::pin::Pin;

#[derive(Default)]
pub struct SetupRust {
    path: QString,
    nodes: QString,
    settings: QString,
    error: QString,
    error_place: QString,
    message: QString,
    dirty: bool,
    editable: bool,
    folders: QString,
    tests: QString,

    /// The file named by the window ("" for the usual lookup), to read it again.
    explicit: Option<PathBuf>,
    draft: Option<Draft>,
}

impl qobject::Setup {
    pub fn open(mut self: Pin<&mut Self>, config_file: &QString) {
        let file = String::from(config_file);
        let explicit = (!file.is_empty()).then(|| PathBuf::from(file));
        self.as_mut().rust_mut().explicit = explicit;
        self.read();
    }

    /// Reads the file again, dropping what was not saved.
    fn read(mut self: Pin<&mut Self>) {
        let (path, _) = crate::config::locate(self.rust().explicit.as_deref());
        self.as_mut()
            .set_path(QString::from(&*path.to_string_lossy()));
        match Draft::open(&path) {
            Ok(draft) => {
                self.as_mut().rust_mut().draft = Some(draft);
                self.as_mut().set_editable(true);
                self.as_mut().set_error(QString::default());
                self.as_mut().set_error_place(QString::default());
            }
            Err(e) => {
                self.as_mut().rust_mut().draft = None;
                self.as_mut().set_editable(false);
                self.as_mut().set_error_place(QString::from("file"));
                self.as_mut().set_error(QString::from(&format!(
                    "{e}\nFix the file by hand: the window reads it again as soon as it is saved."
                )));
            }
        }
        self.publish();
    }

    fn publish(mut self: Pin<&mut Self>) {
        let (nodes, settings, dirty) = match &self.rust().draft {
            Some(d) => (d.nodes_json(), d.settings_json(), d.dirty()),
            None => ("[]".to_string(), "[]".to_string(), false),
        };
        if String::from(&self.rust().nodes) != nodes {
            self.as_mut().set_nodes(QString::from(&nodes));
        }
        if String::from(&self.rust().settings) != settings {
            self.as_mut().set_settings(QString::from(&settings));
        }
        self.as_mut().set_dirty(dirty);
    }

    pub fn file_changed(mut self: Pin<&mut Self>) {
        if self.rust().draft.as_ref().is_some_and(Draft::dirty) {
            self.as_mut().set_message(QString::from(
                "The file changed on disk while changes here were not saved: Save would refuse, so that change is kept. Discard reads it again.",
            ));
            return;
        }
        self.read();
    }

    /// Applies one change to the draft, showing its refusal at `place`.
    fn change(
        mut self: Pin<&mut Self>,
        place: &str,
        f: impl FnOnce(&mut Draft) -> Result<Option<String>, String>,
    ) -> bool {
        let result = match self.as_mut().rust_mut().draft.as_mut() {
            Some(d) => f(d),
            None => Err("the configuration file does not load: fix it first".to_string()),
        };
        let ok = match result {
            Ok(note) => {
                self.as_mut().set_error(QString::default());
                self.as_mut().set_error_place(QString::default());
                self.as_mut().set_message(QString::from(
                    &note.unwrap_or_else(|| "Changed: not saved yet".to_string()),
                ));
                true
            }
            Err(e) => {
                self.as_mut().set_error_place(QString::from(place));
                self.as_mut().set_error(QString::from(&e));
                false
            }
        };
        self.publish();
        ok
    }

    pub fn add_node(self: Pin<&mut Self>, form: &QString) -> bool {
        match serde_json::from_str::<NodeForm>(&String::from(form)) {
            Ok(form) => self.change("add", |d| d.add_node(&form)),
            Err(e) => self.change("add", |_| Err(format!("the form could not be read: {e}"))),
        }
    }

    pub fn update_node(
        self: Pin<&mut Self>,
        name: &QString,
        addresses: &QString,
        user: &QString,
        port: &QString,
        base_dir: &QString,
        storage: bool,
    ) -> bool {
        let form = NodeForm {
            name: name.into(),
            addresses: addresses.into(),
            user: user.into(),
            port: port.into(),
            base_dir: base_dir.into(),
            paths: String::new(),
            storage,
        };
        let place = format!("node:{}", form.name);
        self.change(&place, |d| d.update_node(&form))
    }

    pub fn remove_node(self: Pin<&mut Self>, name: &QString) -> bool {
        let name = String::from(name);
        let place = format!("node:{name}");
        self.change(&place, |d| d.remove_node(&name))
    }

    pub fn change_list(
        self: Pin<&mut Self>,
        node: &QString,
        list: &QString,
        value: &QString,
        add: bool,
    ) -> bool {
        let node = String::from(node);
        let list = match String::from(list).as_str() {
            "paths" => List::Paths,
            "exclude" => List::Exclude,
            _ => List::Addresses,
        };
        let value = String::from(value);
        let place = format!("node:{node}");
        self.change(&place, |d| d.change_list(&node, list, &value, add))
    }

    pub fn set_setting(self: Pin<&mut Self>, key: &QString, value: &QString) -> bool {
        let (key, value) = (String::from(key), String::from(value));
        let place = format!("setting:{key}");
        self.change(&place, |d| d.set_setting(&key, &value))
    }

    pub fn save(mut self: Pin<&mut Self>) -> bool {
        let result = match self.as_mut().rust_mut().draft.as_mut() {
            Some(d) => d.save(),
            None => Err("the configuration file does not load: fix it first".to_string()),
        };
        let ok = match result {
            Ok(said) => {
                self.as_mut().set_error(QString::default());
                self.as_mut().set_error_place(QString::default());
                self.as_mut().set_message(QString::from(&said));
                true
            }
            Err(e) => {
                self.as_mut().set_error_place(QString::from("save"));
                self.as_mut().set_error(QString::from(&e));
                false
            }
        };
        self.publish();
        ok
    }

    pub fn discard(mut self: Pin<&mut Self>) {
        self.as_mut()
            .set_message(QString::from("Changes discarded"));
        self.read();
    }

    pub fn browse(mut self: Pin<&mut Self>, folder: &QString) {
        let home = crate::config::home_dir();
        let wanted = String::from(folder);
        let path = if wanted.is_empty() {
            home.clone()
        } else {
            PathBuf::from(crate::config::expand_home(&wanted, &home.to_string_lossy()))
        };
        let listing = folder_listing(&path);
        self.as_mut()
            .set_folders(QString::from(&listing.to_string()));
    }

    pub fn test_connection(mut self: Pin<&mut Self>, name: &QString) {
        let name = String::from(name);
        let Some(config) = self.rust().draft.as_ref().map(|d| d.config().clone()) else {
            return;
        };
        self.as_mut().set_test(
            &name,
            serde_json::json!({"state": "testing", "lines": [], "problems": []}),
        );
        let thread = self.qt_thread();
        let spawned = std::thread::Builder::new()
            .name("wbackup-test-connection".into())
            .spawn(move || {
                let cancel = tokio_util::sync::CancellationToken::new();
                let report = match crate::runtime::current_thread() {
                    Ok(rt) => {
                        rt.block_on(crate::engine::checkup::test_node(&config, &name, &cancel))
                    }
                    Err(e) => {
                        let mut r = crate::engine::checkup::test_node_refused(&name);
                        r.problems[0].sentence = format!("cannot start the test: {e}");
                        r
                    }
                };
                let _ = thread.queue(move |setup| setup.set_test(&name, test_json(&report)));
            });
        if spawned.is_err() {
            tracing::warn!("cannot start a thread to test the connection");
        }
    }

    fn set_test(mut self: Pin<&mut Self>, name: &str, result: serde_json::Value) {
        let mut all: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&String::from(&self.rust().tests)).unwrap_or_default();
        all.insert(name.to_string(), result);
        let text = serde_json::Value::Object(all).to_string();
        self.as_mut().set_tests(QString::from(&text));
    }

    pub fn config_path(&self, folder: &QString) -> QString {
        let home = crate::config::home_dir();
        QString::from(&as_config_path(Path::new(&String::from(folder)), &home))
    }
}

/// A test's result as the view shows it.
fn test_json(r: &crate::engine::checkup::Report) -> serde_json::Value {
    let problems: Vec<_> = r
        .problems
        .iter()
        .map(|p| serde_json::json!({"sentence": p.sentence, "fix": p.fix}))
        .collect();
    serde_json::json!({
        "state": if r.problems.is_empty() { "ok" } else { "problems" },
        "lines": r.lines(),
        "problems": problems,
    })
}

/// The subfolders of `path` (hidden ones last), for the picker.
fn folder_listing(path: &Path) -> serde_json::Value {
    let mut dirs: Vec<String> = std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort_by_key(|d| (d.starts_with('.'), d.to_lowercase()));
    serde_json::json!({
        "path": path.to_string_lossy(),
        "parent": path.parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default(),
        "dirs": dirs,
    })
}

/// A local folder as the configuration writes it: `~/…` under the home directory (the
/// same folder wherever the home is), else absolute.
pub fn as_config_path(folder: &Path, home: &Path) -> String {
    match folder.strip_prefix(home) {
        Ok(rest) if rest.as_os_str().is_empty() => "~/".to_string(),
        Ok(rest) => format!("~/{}", rest.to_string_lossy()),
        Err(_) => folder.to_string_lossy().into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_under_home_are_written_from_home() {
        let home = Path::new("/home/alice");
        assert_eq!(
            as_config_path(Path::new("/home/alice/My Docs"), home),
            "~/My Docs"
        );
        assert_eq!(as_config_path(home, home), "~/");
        assert_eq!(as_config_path(Path::new("/srv/www"), home), "/srv/www");
        assert_eq!(
            as_config_path(Path::new("/home/alicex"), home),
            "/home/alicex"
        );
    }
}
