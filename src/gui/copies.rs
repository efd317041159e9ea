//! The window's Copies view and banner: a QObject of its own (`Copies` in QML) that shows
//! the copies matrix `wbackup status` prints (`crate::copies`), the details and restore
//! commands of the cell the user selects, and the banner sentence when a copy needs a
//! person.
//!
//! Reaching the nodes and listing their repository files takes seconds (an unreachable
//! node, its connect timeout), so `refresh` does it on a thread of its own and the result
//! comes back to the Qt thread in one queued call; the window never waits. It needs no
//! password: status reads repository files and the proof ledger, never restic. The
//! matrix is a [`RowModel`] with one row per repository, each role a list with one value
//! per node (the `nodes` property, in column order).

#[cxx_qt::bridge]
pub mod qobject {
    unsafe extern "C++" {
        include!("cxx-qt-lib/qstring.h");
        type QString = cxx_qt_lib::QString;
        include!("cxx-qt-lib/qstringlist.h");
        type QStringList = cxx_qt_lib::QStringList;
        include!("wbackup/src/gui/rows.cxxqt.h");
        type RowModel = crate::gui::rows::qobject::RowModel;
        include!("wbackup/src/gui/clipboard.h");
        #[cxx_name = "wbackup_set_clipboard"]
        fn set_clipboard(text: &QString);
        #[cxx_name = "wbackup_clipboard_text"]
        fn clipboard_text() -> QString;
    }

    #[auto_cxx_name]
    extern "RustQt" {
        #[qobject]
        #[qml_element]
        #[qproperty(bool, loading)]
        #[qproperty(QString, banner)]
        #[qproperty(QString, checked)]
        #[qproperty(QStringList, nodes)]
        #[qproperty(*mut RowModel, rows, READ, CONSTANT)]
        #[qproperty(QString, selected_repo)]
        #[qproperty(QString, selected_holder)]
        #[qproperty(QString, selected_state)]
        #[qproperty(QString, detail)]
        #[qproperty(QString, restore_text)]
        type Copies = super::CopiesRust;
    }

    #[auto_cxx_name]
    unsafe extern "RustQt" {
        /// Reads the configuration (`""` for the usual lookup) and, on a thread of its
        /// own, reaches the nodes and builds the matrix and the banner again.
        #[qinvokable]
        fn refresh(self: Pin<&mut Copies>, config_file: &QString);

        /// Selects the copy of repository row `repo` held by node column `node`: its
        /// details and the commands to restore from it.
        #[qinvokable]
        fn select(self: Pin<&mut Copies>, repo: i32, node: i32);

        /// Puts the selected copy's restore commands on the clipboard.
        #[qinvokable]
        fn copy_restore(self: &Copies) -> bool;

        /// The clipboard's text (for tests: what Copy put there).
        #[qinvokable]
        fn clipboard(self: &Copies) -> QString;
    }

    impl cxx_qt::Threading for Copies {}
    impl cxx_qt::Initialize for Copies {}
}

use super::rows::qobject::RowModel;
use super::rows::{Cell, Row};
use crate::config::{self, Config};
use crate::copies::{self, Matrix};
use chrono::{DateTime, Utc};
use cxx_qt::{CxxQtType, Threading};
use cxx_qt_lib::{QString, QStringList};
use std::pin::Pin;

/// One repository's row of the matrix: per node (in `nodes` order) the state word and
/// the cell's two lines.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixRow {
    pub repo: String,
    pub states: Vec<String>,
    pub firsts: Vec<String>,
    pub seconds: Vec<String>,
}

impl Row for MatrixRow {
    const ROLES: &'static [&'static str] = &["repo", "states", "firsts", "seconds"];
    fn cells(&self) -> Vec<Cell> {
        vec![
            Cell::Text(self.repo.clone()),
            Cell::List(self.states.clone()),
            Cell::List(self.firsts.clone()),
            Cell::List(self.seconds.clone()),
        ]
    }
}

/// The matrix's rows as the view shows them.
pub fn matrix_rows(m: &Matrix, now: DateTime<Utc>) -> Vec<MatrixRow> {
    m.repos
        .iter()
        .map(|repo| {
            let mut row = MatrixRow {
                repo: repo.clone(),
                states: vec![],
                firsts: vec![],
                seconds: vec![],
            };
            for node in &m.nodes {
                let (state, [a, b]) = match m.cell(repo, node) {
                    Some(c) => (c.state.word().to_string(), c.lines(now)),
                    None => ("unknown".to_string(), [String::new(), String::new()]),
                };
                row.states.push(state);
                row.firsts.push(a);
                row.seconds.push(b);
            }
            row
        })
        .collect()
}

/// The selected copy's details: state, note, snapshots and its last proof.
pub fn detail_text(c: &copies::CopyCell, now: DateTime<Utc>) -> String {
    let mut lines = vec![
        format!("{} on {}: {}", c.repo, c.holder, c.state.word()),
        c.note.clone(),
    ];
    if let Some(n) = c.snapshots {
        let latest = match (&c.latest_snapshot, &c.latest_snapshot_time) {
            (Some(id), Some(t)) => format!(", latest {id} written {}", when(t, now)),
            _ => String::new(),
        };
        lines.push(format!("Snapshots held: {n}{latest}"));
    }
    match &c.proof {
        None => lines.push("Never proven by a restore drill.".into()),
        Some(p) => {
            let mut what = format!(
                "Last drill: {} {}",
                if p.proven { "passed" } else { "FAILED" },
                when(&p.time, now)
            );
            if let Some(s) = &p.snapshot {
                what.push_str(&format!(", snapshot {}", s.get(..8).unwrap_or(s)));
            }
            what.push_str(&format!(", {} file(s), {} bytes", p.files, p.bytes));
            if let Some(r) = &p.read_data {
                what.push_str(&format!(", data read {r}"));
            }
            lines.push(what);
            lines.push(p.message.clone());
        }
    }
    lines.join("\n")
}

/// "3 h ago (2026-11-27 14:02)" in local time.
fn when(time: &str, now: DateTime<Utc>) -> String {
    match DateTime::parse_from_rfc3339(time) {
        Ok(t) => format!(
            "{} ({})",
            copies::age(t.with_timezone(&Utc), now),
            t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M")
        ),
        Err(_) => time.to_string(),
    }
}

/// What a refresh found, handed to the Qt thread in one piece.
struct Found {
    matrix: Matrix,
    banner: Option<String>,
    now: DateTime<Utc>,
}

/// Reaches the nodes and builds the matrix and the banner (off the Qt thread).
fn survey(config: &Config) -> Found {
    let matrix = match crate::runtime::current_thread() {
        Ok(rt) => rt.block_on(crate::cli::inspect::survey(config)).matrix,
        Err(_) => Matrix {
            repos: vec![],
            nodes: vec![],
            cells: vec![],
        },
    };
    let now = Utc::now();
    let runs = copies::RunTimes::of(&crate::logbook::history(config));
    let banner = copies::banner(&matrix, copies::Policy::of(config), runs, now);
    Found {
        matrix,
        banner,
        now,
    }
}

pub struct CopiesRust {
    loading: bool,
    banner: QString,
    checked: QString,
    nodes: QStringList,
    rows: *mut RowModel,
    selected_repo: QString,
    selected_holder: QString,
    selected_state: QString,
    detail: QString,
    restore_text: QString,

    model: cxx::UniquePtr<RowModel>,
    config: Option<Config>,
    found: Option<Found>,
    /// Counts refreshes, so an older one that ends late does not overwrite a newer one.
    generation: u64,
}

impl Default for CopiesRust {
    fn default() -> Self {
        CopiesRust {
            loading: false,
            banner: QString::default(),
            checked: QString::default(),
            nodes: QStringList::default(),
            rows: std::ptr::null_mut(),
            selected_repo: QString::default(),
            selected_holder: QString::default(),
            selected_state: QString::default(),
            detail: QString::default(),
            restore_text: QString::default(),
            model: super::native::new_row_model(),
            config: None,
            found: None,
            generation: 0,
        }
    }
}

impl cxx_qt::Initialize for qobject::Copies {
    fn initialize(self: Pin<&mut Self>) {
        let mut rust = self.rust_mut();
        let rust = rust.as_mut().get_mut();
        rust.rows = rust.model.as_mut().map_or(std::ptr::null_mut(), |m| {
            // SAFETY: only the address is taken; Qt never moves a QObject, and `model`
            // owns it as long as this object lives.
            let m: &mut RowModel = unsafe { Pin::into_inner_unchecked(m) };
            m as *mut RowModel
        });
    }
}

impl qobject::Copies {
    /// The matrix rows as QML sees them (tests).
    pub fn matrix_model(&self) -> &RowModel {
        self.rust().model.as_ref().expect("created with the object")
    }

    pub fn refresh(mut self: Pin<&mut Self>, config_file: &QString) {
        let file = String::from(config_file);
        let explicit = (!file.is_empty()).then(|| std::path::PathBuf::from(file));
        let config = match config::load(explicit.as_deref()) {
            Ok(c) => c,
            Err(e) => {
                self.as_mut().set_checked(QString::from(&format!(
                    "cannot read the configuration: {e}"
                )));
                return;
            }
        };
        let generation = self.rust().generation + 1;
        self.as_mut().rust_mut().generation = generation;
        self.as_mut().rust_mut().config = Some(config.clone());
        self.as_mut().set_loading(true);
        self.as_mut()
            .set_checked(QString::from("Reaching the nodes…"));
        let thread = self.qt_thread();
        let spawned = std::thread::Builder::new()
            .name("wbackup-copies".into())
            .spawn(move || {
                let found = survey(&config);
                let _ = thread.queue(move |copies| {
                    if copies.rust().generation == generation {
                        copies.show(found);
                    }
                });
            });
        if spawned.is_err() {
            self.as_mut().set_loading(false);
            self.set_checked(QString::from(
                "cannot start the thread that reaches the nodes",
            ));
        }
    }

    fn show(mut self: Pin<&mut Self>, found: Found) {
        let rows = matrix_rows(&found.matrix, found.now);
        let mut nodes = QStringList::default();
        for n in &found.matrix.nodes {
            nodes.append(QString::from(n.as_str()));
        }
        self.as_mut().set_nodes(nodes);
        self.as_mut().rust_mut().model.pin_mut().show(&rows);
        self.as_mut()
            .set_banner(QString::from(found.banner.as_deref().unwrap_or_default()));
        self.as_mut().set_checked(QString::from(&format!(
            "Checked {}",
            found.now.with_timezone(&chrono::Local).format("%H:%M:%S")
        )));
        let selected = (
            String::from(&self.rust().selected_repo),
            String::from(&self.rust().selected_holder),
        );
        self.as_mut().rust_mut().found = Some(found);
        // The selection stays on the same copy, its details refreshed.
        let m = &self.rust().found.as_ref().expect("just set").matrix;
        let repo = m.repos.iter().position(|r| *r == selected.0);
        let node = m.nodes.iter().position(|n| *n == selected.1);
        if let (Some(r), Some(n)) = (repo, node) {
            self.as_mut().select(r as i32, n as i32);
        }
        self.set_loading(false);
    }

    pub fn select(mut self: Pin<&mut Self>, repo: i32, node: i32) {
        let Some(found) = self.rust().found.as_ref() else {
            return;
        };
        let m = &found.matrix;
        let (Some(repo), Some(node)) = (
            usize::try_from(repo).ok().and_then(|i| m.repos.get(i)),
            usize::try_from(node).ok().and_then(|i| m.nodes.get(i)),
        ) else {
            return;
        };
        let Some(cell) = m.cell(repo, node) else {
            return;
        };
        let detail = detail_text(cell, found.now);
        let state = cell.state.word();
        let restore = self
            .rust()
            .config
            .as_ref()
            .map(|config| {
                let request = crate::restore::Request {
                    repo: repo.clone(),
                    from: Some(node.clone()),
                    ..Default::default()
                };
                crate::restore::commands(config, &request).unwrap_or_else(|e| format!("# {e}"))
            })
            .unwrap_or_default();
        let (repo, node) = (QString::from(repo.as_str()), QString::from(node.as_str()));
        self.as_mut().set_selected_repo(repo);
        self.as_mut().set_selected_holder(node);
        self.as_mut().set_selected_state(QString::from(state));
        self.as_mut().set_detail(QString::from(&detail));
        self.set_restore_text(QString::from(&restore));
    }

    pub fn copy_restore(&self) -> bool {
        let text = &self.rust().restore_text;
        if text.is_empty() {
            return false;
        }
        qobject::set_clipboard(text);
        true
    }

    pub fn clipboard(&self) -> QString {
        qobject::clipboard_text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::verify::Proof;
    use std::collections::{BTreeMap, HashMap};

    #[test]
    fn a_row_per_repository_with_one_value_per_node_and_details_of_a_cell() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let held = copies::Holding {
            snapshots: BTreeMap::from([("0123456789abcdef".to_string(), 1.0e9)]),
            unsound: None,
        };
        let seen = HashMap::from([
            (
                "laptop".to_string(),
                Ok(BTreeMap::from([("laptop".to_string(), held.clone())])),
            ),
            ("nas".to_string(), Err("refused".to_string())),
        ]);
        let ledger = [Proof {
            repo: "laptop".into(),
            holder: "laptop".into(),
            time: "2026-11-27T10:00:00Z".into(),
            proven: true,
            message: "laptop on laptop: 3 files restored".into(),
            snapshot: Some("0123456789abcdef".into()),
            files: 3,
            bytes: 42,
            read_data: Some("1/12".into()),
            ..Default::default()
        }];
        let m = copies::matrix(
            &["laptop".to_string()],
            &["laptop".to_string(), "nas".to_string()],
            &seen,
            &ledger,
            copies::Policy {
                every_days: 7,
                warn_after_days: 14,
            },
            now,
        );
        let rows = matrix_rows(&m, now);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].states, ["proven", "unknown"]);
        assert_eq!(rows[0].firsts[0], "proven 2 h ago");
        assert_eq!(rows[0].firsts[1], "unreachable, never proven");
        let d = detail_text(m.cell("laptop", "laptop").unwrap(), now);
        let lines: Vec<&str> = d.lines().collect();
        assert_eq!(lines[0], "laptop on laptop: proven");
        assert!(
            lines[2].starts_with("Snapshots held: 1, latest 01234567 written "),
            "{d}"
        );
        assert!(lines[3].starts_with("Last drill: passed 2 h ago ("), "{d}");
        assert!(
            lines[3].ends_with(", snapshot 01234567, 3 file(s), 42 bytes, data read 1/12"),
            "{d}"
        );
        assert_eq!(lines[4], "laptop on laptop: 3 files restored");
    }
}
