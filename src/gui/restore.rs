//! The Restore view's QObject: repository → the copies that hold it (freshest and
//! proven first) → the chosen copy's snapshots → its folders, loaded one at a time → the
//! paths picked and a target folder → the exact commands `wbackup restore` prints for
//! that choice (`crate::restore::commands`, the same function), for a person to copy.
//! The view never runs a restore.
//!
//! Every question to a node (`browse`) runs on a worker thread of its own and comes back
//! to the Qt thread with `qt_thread().queue(..)`, so the window never waits on ssh or
//! restic. A result that no longer matches what is chosen (another repository, copy or
//! snapshot was picked meanwhile) is dropped. The password typed into the view is held
//! in memory only (`SecretString`) and reaches restic on its stdin.

#[cxx_qt::bridge]
pub mod qobject {
    unsafe extern "C++" {
        include!("cxx-qt-lib/qstring.h");
        type QString = cxx_qt_lib::QString;
        include!("wbackup/src/gui/rows.cxxqt.h");
        type RowModel = crate::gui::rows::qobject::RowModel;
    }

    #[auto_cxx_name]
    extern "RustQt" {
        #[qobject]
        #[qml_element]
        #[qproperty(*mut RowModel, repos, READ, CONSTANT)]
        #[qproperty(*mut RowModel, copies, READ, CONSTANT)]
        #[qproperty(*mut RowModel, snapshots, READ, CONSTANT)]
        #[qproperty(*mut RowModel, tree, READ, CONSTANT)]
        #[qproperty(QString, repo)]
        #[qproperty(QString, holder)]
        #[qproperty(QString, snapshot)]
        #[qproperty(QString, target)]
        #[qproperty(QString, commands)]
        #[qproperty(QString, commands_error)]
        #[qproperty(QString, error)]
        #[qproperty(QString, loading)]
        #[qproperty(bool, has_password)]
        #[qproperty(i32, picked_count)]
        type Restore = super::RestoreRust;
    }

    #[auto_cxx_name]
    unsafe extern "RustQt" {
        /// Opens this configuration file ("" for the usual lookup) and lists its
        /// repositories.
        #[qinvokable]
        fn load(self: Pin<&mut Restore>, config_file: &QString);

        /// Chooses a repository: lists every node's copy of it (in the background).
        #[qinvokable]
        fn choose_repo(self: Pin<&mut Restore>, repo: &QString);

        /// Chooses the copy to restore from: lists its snapshots once a password is known.
        #[qinvokable]
        fn choose_copy(self: Pin<&mut Restore>, node: &QString);

        /// Takes the restic password (kept in memory for this view's listings); lists the
        /// chosen copy's snapshots. False when it is empty or not text.
        #[qinvokable]
        fn set_password(self: Pin<&mut Restore>, password: &QString) -> bool;

        /// Chooses a snapshot by id ("" for the latest): its top folder is listed.
        #[qinvokable]
        fn choose_snapshot(self: Pin<&mut Restore>, id: &QString);

        /// Opens a folder of the snapshot (listing it the first time) or closes it.
        #[qinvokable]
        fn toggle_folder(self: Pin<&mut Restore>, path: &QString);

        /// Adds a path of the snapshot to what is restored, or takes it out again.
        #[qinvokable]
        fn toggle_pick(self: Pin<&mut Restore>, path: &QString);

        /// Restores the whole snapshot again (no path picked).
        #[qinvokable]
        fn clear_picks(self: Pin<&mut Restore>);

        /// The folder to restore into.
        #[qinvokable]
        fn set_target_folder(self: Pin<&mut Restore>, target: &QString);
    }

    impl cxx_qt::Threading for Restore {}
    impl cxx_qt::Initialize for Restore {}
}

use super::browse::{self, CopyRow, Entry, SnapshotRow};
use super::rows::qobject::RowModel;
use super::rows::{Cell, Row};
use crate::config::{self, Config};
use cxx_qt::{CxxQtType, Threading};
use cxx_qt_lib::QString;
use secrecy::SecretString;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::pin::Pin;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// One line of the snapshot's tree as the view shows it: folders open in place.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeRow {
    pub path: String,
    pub name: String,
    pub kind: String,
    pub depth: i32,
    pub open: bool,
    pub loading: bool,
    /// Picked itself; `within` when a folder above it is picked (it comes along).
    pub picked: bool,
    pub within: bool,
    pub size: String,
}

impl Row for TreeRow {
    const ROLES: &'static [&'static str] = &[
        "path", "name", "kind", "depth", "open", "loading", "picked", "within", "size",
    ];
    fn cells(&self) -> Vec<Cell> {
        vec![
            Cell::Text(self.path.clone()),
            Cell::Text(crate::shell::inert(&self.name)),
            Cell::Text(self.kind.clone()),
            Cell::Int(self.depth),
            Cell::Int(i32::from(self.open)),
            Cell::Int(i32::from(self.loading)),
            Cell::Int(i32::from(self.picked)),
            Cell::Int(i32::from(self.within)),
            Cell::Text(self.size.clone()),
        ]
    }
}

/// The four list models, owned here and shown through pointer properties.
struct Models {
    repos: cxx::UniquePtr<RowModel>,
    copies: cxx::UniquePtr<RowModel>,
    snapshots: cxx::UniquePtr<RowModel>,
    tree: cxx::UniquePtr<RowModel>,
}

/// What the chosen snapshot's tree holds so far.
#[derive(Default)]
struct Tree {
    /// Folder -> its entries, once listed.
    listed: HashMap<String, Vec<Entry>>,
    open: HashSet<String>,
    loading: HashSet<String>,
    picked: BTreeSet<String>,
}

pub struct RestoreRust {
    repos: *mut RowModel,
    copies: *mut RowModel,
    snapshots: *mut RowModel,
    tree: *mut RowModel,
    repo: QString,
    holder: QString,
    snapshot: QString,
    target: QString,
    commands: QString,
    commands_error: QString,
    error: QString,
    loading: QString,
    has_password: bool,
    picked_count: i32,

    config: Option<Config>,
    models: Models,
    password: Option<Arc<SecretString>>,
    snapshot_rows: Vec<SnapshotRow>,
    files: Tree,
    /// The target field still holds the default for the repository chosen.
    default_target: Option<String>,
    /// Questions to nodes still running, for the busy line.
    pending: usize,
    cancel: CancellationToken,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Default for RestoreRust {
    fn default() -> Self {
        RestoreRust {
            repos: std::ptr::null_mut(),
            copies: std::ptr::null_mut(),
            snapshots: std::ptr::null_mut(),
            tree: std::ptr::null_mut(),
            repo: QString::default(),
            holder: QString::default(),
            snapshot: QString::default(),
            target: QString::default(),
            commands: QString::default(),
            commands_error: QString::default(),
            error: QString::default(),
            loading: QString::default(),
            has_password: false,
            picked_count: 0,
            config: None,
            models: Models {
                repos: super::native::new_row_model(),
                copies: super::native::new_row_model(),
                snapshots: super::native::new_row_model(),
                tree: super::native::new_row_model(),
            },
            password: None,
            snapshot_rows: vec![],
            files: Tree::default(),
            default_target: None,
            pending: 0,
            cancel: CancellationToken::new(),
            workers: vec![],
        }
    }
}

/// The view goes away with its window: questions still running are cancelled (their
/// restic and ssh processes end) and waited for.
impl Drop for RestoreRust {
    fn drop(&mut self) {
        self.cancel.cancel();
        for w in std::mem::take(&mut self.workers) {
            let _ = w.join();
        }
    }
}

impl cxx_qt::Initialize for qobject::Restore {
    fn initialize(mut self: Pin<&mut Self>) {
        let rust = self.as_mut().rust_mut();
        let rust = rust.get_mut();
        rust.repos = model_ptr(&mut rust.models.repos);
        rust.copies = model_ptr(&mut rust.models.copies);
        rust.snapshots = model_ptr(&mut rust.models.snapshots);
        rust.tree = model_ptr(&mut rust.models.tree);
    }
}

/// The model's address for a pointer property; it stays valid while `models` owns it.
fn model_ptr(model: &mut cxx::UniquePtr<RowModel>) -> *mut RowModel {
    model.as_mut().map_or(std::ptr::null_mut(), |m| {
        // SAFETY: only the address is taken; Qt never moves a QObject.
        let m: &mut RowModel = unsafe { Pin::into_inner_unchecked(m) };
        m as *mut RowModel
    })
}

fn q(s: &str) -> QString {
    QString::from(s)
}

impl qobject::Restore {
    pub fn load(mut self: Pin<&mut Self>, config_file: &QString) {
        let file = String::from(config_file);
        let explicit = (!file.is_empty()).then(|| std::path::PathBuf::from(file));
        match config::load(explicit.as_deref()) {
            Ok(config) => {
                let repos = browse::repositories(&config);
                self.as_mut().rust_mut().config = Some(config);
                self.as_mut().model(|m| &mut m.repos).show(&repos);
                self.as_mut().set_error(QString::default());
            }
            Err(e) => self.as_mut().set_error(q(&e.to_string())),
        }
    }

    fn model(
        self: Pin<&mut Self>,
        which: fn(&mut Models) -> &mut cxx::UniquePtr<RowModel>,
    ) -> Pin<&mut RowModel> {
        which(&mut self.rust_mut().get_mut().models).pin_mut()
    }

    pub fn choose_repo(mut self: Pin<&mut Self>, repo: &QString) {
        let repo = String::from(repo);
        if self.rust().config.is_none() {
            return;
        }
        self.as_mut().set_repo(q(&repo));
        self.as_mut().set_holder(QString::default());
        self.as_mut().model(|m| &mut m.copies).show::<CopyRow>(&[]);
        self.as_mut().clear_snapshots();
        // The default folder follows the repository unless the user typed another.
        let typed = String::from(&self.rust().target);
        if typed.is_empty() || self.rust().default_target.as_deref() == Some(&typed) {
            let t = crate::restore::default_target(&repo);
            self.as_mut().rust_mut().default_target = Some(t.clone());
            self.as_mut().set_target(q(&t));
        }
        self.as_mut().set_error(QString::default());
        let asked = repo.clone();
        self.as_mut().work(
            format!("Looking for the copies of {repo} on every node…"),
            move |config, cancel| async move { Ok(browse::copies(&config, &asked, &cancel).await) },
            move |view, copies: Vec<CopyRow>| {
                if String::from(&view.rust().repo) == repo {
                    view.model(|m| &mut m.copies).show(&copies);
                }
            },
        );
        self.refresh_commands();
    }

    pub fn choose_copy(mut self: Pin<&mut Self>, node: &QString) {
        self.as_mut().set_holder(node.clone());
        self.as_mut().clear_snapshots();
        self.as_mut().set_error(QString::default());
        self.as_mut().list_snapshots();
        self.refresh_commands();
    }

    pub fn set_password(mut self: Pin<&mut Self>, password: &QString) -> bool {
        if password.is_empty() {
            return false;
        }
        match crate::password::from_utf16(password.as_slice(), "the window") {
            Ok(p) => {
                self.as_mut().rust_mut().password = Some(Arc::new(p));
                self.as_mut().set_has_password(true);
                self.as_mut().set_error(QString::default());
                if self.rust().snapshot_rows.is_empty() {
                    self.list_snapshots();
                }
                true
            }
            Err(e) => {
                self.set_error(q(&e));
                false
            }
        }
    }

    /// Asks the chosen copy for its snapshots, when a copy is chosen and the password
    /// is known.
    fn list_snapshots(self: Pin<&mut Self>) {
        let (repo, holder) = self.choice();
        if repo.is_empty() || holder.is_empty() {
            return;
        }
        let Some(password) = self.rust().password.clone() else {
            return;
        };
        let key = (repo.clone(), holder.clone());
        self.work(
            format!("Listing the snapshots of {repo} on {holder}…"),
            move |config, cancel| async move {
                browse::snapshots(&config, &holder, &repo, &password, &cancel).await
            },
            move |mut view, rows: Vec<SnapshotRow>| {
                if view.choice() != key {
                    return;
                }
                view.as_mut().model(|m| &mut m.snapshots).show(&rows);
                view.as_mut().rust_mut().snapshot_rows = rows;
            },
        );
    }

    pub fn choose_snapshot(mut self: Pin<&mut Self>, id: &QString) {
        let id = String::from(id);
        self.as_mut().set_snapshot(q(&id));
        self.as_mut().rust_mut().files = Tree::default();
        self.as_mut().set_error(QString::default());
        self.as_mut().publish_tree();
        if !id.is_empty() {
            self.as_mut().list_folder("/".into());
            self.as_mut().measure(id);
        }
        self.refresh_commands();
    }

    /// The chosen snapshot's size when restic did not record it (before 0.17).
    fn measure(mut self: Pin<&mut Self>, id: String) {
        let (repo, holder) = self.choice();
        let Some(password) = self.rust().password.clone() else {
            return;
        };
        if self
            .rust()
            .snapshot_rows
            .iter()
            .any(|s| s.id == id && !s.size.is_empty())
        {
            return;
        }
        let asked = id.clone();
        self.as_mut().work(
            format!("Measuring snapshot {}…", &id[..8.min(id.len())]),
            move |config, cancel| async move {
                browse::snapshot_size(&config, &holder, &repo, &asked, &password, &cancel).await
            },
            move |mut view, size: String| {
                let mut rows = view.rust().snapshot_rows.clone();
                if let Some(r) = rows.iter_mut().find(|r| r.id == id) {
                    r.size = size;
                    view.as_mut().model(|m| &mut m.snapshots).show(&rows);
                    view.as_mut().rust_mut().snapshot_rows = rows;
                }
            },
        );
    }

    fn list_folder(mut self: Pin<&mut Self>, dir: String) {
        let (repo, holder) = self.choice();
        let snapshot = String::from(&self.rust().snapshot);
        let Some(password) = self.rust().password.clone() else {
            return;
        };
        self.as_mut().rust_mut().files.loading.insert(dir.clone());
        self.as_mut().publish_tree();
        let key = (repo.clone(), holder.clone(), snapshot.clone());
        let asked = dir.clone();
        self.work(
            format!(
                "Listing {} in snapshot {}…",
                crate::shell::inert(&dir),
                &snapshot[..8.min(snapshot.len())]
            ),
            move |config, cancel| async move {
                browse::list_dir(
                    &config, &holder, &repo, &snapshot, &asked, &password, &cancel,
                )
                .await
            },
            move |mut view, entries: Vec<Entry>| {
                let (r, h) = view.choice();
                if (r, h, String::from(&view.rust().snapshot)) != key {
                    return;
                }
                {
                    let mut rust = view.as_mut().rust_mut();
                    rust.files.loading.remove(&dir);
                    rust.files.listed.insert(dir.clone(), entries);
                }
                view.publish_tree();
            },
        );
    }

    pub fn toggle_folder(mut self: Pin<&mut Self>, path: &QString) {
        let path = String::from(path);
        let open = {
            let files = &mut self.as_mut().rust_mut().files;
            if files.open.remove(&path) {
                false
            } else {
                files.open.insert(path.clone());
                true
            }
        };
        if open
            && !self.rust().files.listed.contains_key(&path)
            && !self.rust().files.loading.contains(&path)
        {
            self.list_folder(path);
        } else {
            self.publish_tree();
        }
    }

    pub fn toggle_pick(mut self: Pin<&mut Self>, path: &QString) {
        let path = String::from(path);
        {
            let picked = &mut self.as_mut().rust_mut().files.picked;
            if !picked.remove(&path) {
                // A folder picked brings everything under it: nothing below stays picked
                // on its own.
                picked.retain(|p| !p.starts_with(&format!("{path}/")));
                picked.insert(path);
            }
        }
        self.as_mut().publish_tree();
        self.refresh_commands();
    }

    pub fn clear_picks(mut self: Pin<&mut Self>) {
        self.as_mut().rust_mut().files.picked.clear();
        self.as_mut().publish_tree();
        self.refresh_commands();
    }

    pub fn set_target_folder(mut self: Pin<&mut Self>, target: &QString) {
        self.as_mut().set_target(target.clone());
        self.refresh_commands();
    }

    fn choice(&self) -> (String, String) {
        (
            String::from(&self.rust().repo),
            String::from(&self.rust().holder),
        )
    }

    fn clear_snapshots(mut self: Pin<&mut Self>) {
        self.as_mut().rust_mut().snapshot_rows.clear();
        self.as_mut()
            .model(|m| &mut m.snapshots)
            .show::<SnapshotRow>(&[]);
        self.as_mut().set_snapshot(QString::default());
        self.as_mut().rust_mut().files = Tree::default();
        self.publish_tree();
    }

    /// The tree as it is open: each listed folder's entries under it, depth first.
    fn publish_tree(mut self: Pin<&mut Self>) {
        let files = &self.rust().files;
        let mut rows = vec![];
        walk(files, "/", 0, false, &mut rows);
        let picked = files.picked.len() as i32;
        self.as_mut().model(|m| &mut m.tree).show(&rows);
        if picked != self.rust().picked_count {
            self.set_picked_count(picked);
        }
    }

    /// The commands for what is chosen, as `wbackup restore` prints them.
    fn refresh_commands(mut self: Pin<&mut Self>) {
        let (repo, holder) = self.choice();
        let Some(config) = self.rust().config.as_ref() else {
            return;
        };
        if repo.is_empty() || holder.is_empty() {
            self.as_mut().set_commands(QString::default());
            self.set_commands_error(QString::default());
            return;
        }
        let snapshot = String::from(&self.rust().snapshot);
        let request = crate::restore::Request {
            repo,
            from: Some(holder),
            snapshot: (!snapshot.is_empty()).then_some(snapshot),
            includes: self.rust().files.picked.iter().cloned().collect(),
            target: Some(String::from(&self.rust().target)),
        };
        match crate::restore::commands(config, &request) {
            Ok(text) => {
                self.as_mut().set_commands(q(&text));
                self.set_commands_error(QString::default());
            }
            Err(e) => {
                self.as_mut().set_commands(QString::default());
                self.set_commands_error(q(&e.to_string()));
            }
        }
    }

    /// Runs `job` on a worker thread of its own; `done` gets its result on the Qt thread
    /// (an error goes to `error` as one sentence). `what` is shown while it runs.
    fn work<T, F, Fut>(
        mut self: Pin<&mut Self>,
        what: String,
        job: F,
        done: impl FnOnce(Pin<&mut qobject::Restore>, T) + Send + 'static,
    ) where
        T: Send + 'static,
        F: FnOnce(Config, CancellationToken) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, String>>,
    {
        let Some(config) = self.rust().config.clone() else {
            return;
        };
        let cancel = self.rust().cancel.clone();
        let thread = self.qt_thread();
        let spawned = std::thread::Builder::new()
            .name("wbackup-restore".into())
            .spawn(move || {
                let out = match crate::runtime::current_thread() {
                    Ok(rt) => rt.block_on(job(config, cancel)),
                    Err(e) => Err(format!("cannot start the work: {e}")),
                };
                let _ = thread.queue(move |mut view| {
                    view.as_mut().finished_one();
                    match out {
                        Ok(v) => done(view, v),
                        Err(e) => view.failed(e),
                    }
                });
            });
        match spawned {
            Ok(handle) => {
                let mut rust = self.as_mut().rust_mut();
                rust.workers.retain(|w| !w.is_finished());
                rust.workers.push(handle);
                rust.pending += 1;
                self.set_loading(q(&what));
            }
            Err(e) => self.set_error(q(&format!("cannot start the work: {e}"))),
        }
    }

    fn finished_one(mut self: Pin<&mut Self>) {
        let left = self.rust().pending.saturating_sub(1);
        self.as_mut().rust_mut().pending = left;
        if left == 0 {
            self.set_loading(QString::default());
        }
    }

    /// A question to a node failed: one sentence in the view. A refused password is
    /// forgotten, so the next one typed is used.
    fn failed(mut self: Pin<&mut Self>, why: String) {
        if self.rust().cancel.is_cancelled() {
            return;
        }
        let sentence = if why == crate::engine::verify::WRONG_PASSWORD {
            self.as_mut().rust_mut().password = None;
            self.as_mut().set_has_password(false);
            "restic refused the password: type it again".to_string()
        } else {
            let (repo, holder) = self.choice();
            format!("{repo} on {holder} could not be read: {why}")
        };
        // What was waiting for that answer waits no more.
        self.as_mut().rust_mut().files.loading.clear();
        self.as_mut().publish_tree();
        self.set_error(q(&crate::shell::inert(&sentence)));
    }

    /// The rows of the tree as QML sees them (tests).
    pub fn tree_rows(&self) -> &RowModel {
        self.rust()
            .models
            .tree
            .as_ref()
            .expect("created with the view")
    }
}

/// Appends `dir`'s entries (and, under each open folder, its own) to `rows`.
fn walk(files: &Tree, dir: &str, depth: i32, within: bool, rows: &mut Vec<TreeRow>) {
    let Some(entries) = files.listed.get(dir) else {
        return;
    };
    for e in entries {
        let picked = files.picked.contains(&e.path);
        let open = files.open.contains(&e.path);
        rows.push(TreeRow {
            path: e.path.clone(),
            name: e.name.clone(),
            kind: e.kind.clone(),
            depth,
            open,
            loading: files.loading.contains(&e.path),
            picked,
            within,
            size: if e.kind == "file" {
                crate::engine::replication::human_bytes(e.size)
            } else {
                String::new()
            },
        });
        if open && e.kind == "dir" {
            walk(files, &e.path, depth + 1, within || picked, rows);
        }
    }
}
