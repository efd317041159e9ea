//! The QObject the QML window binds to. It is also the log pane's list model: each row is
//! one line of the live log (after the host, step and search filters). The host list, the
//! failure summary and the history are three more list models it owns ([`RowModel`]s,
//! the properties `hosts`, `failures`, `problems`, `history`).
//!
//! It owns no backup logic. "Backup all" builds the same `Plan` the command line runs
//! and hands it to the engine on a worker thread; the engine's events come back through
//! the [`Intake`] in batches and are folded into [`RunState`] (host rows, failures) and
//! the [`Log`] ring, then published as properties, row insertions and row changes.
//!
//! Everything a window needs lives in this object, no global state: the configuration
//! file comes from QML (`load`), and the run's thread is stopped and joined when the
//! object goes away with its window.

#[cxx_qt::bridge]
pub mod qobject {
    unsafe extern "C++" {
        include!(<QtCore/QAbstractListModel>);
        type QAbstractListModel;

        include!("cxx-qt-lib/qstring.h");
        type QString = cxx_qt_lib::QString;
        include!("cxx-qt-lib/qhash.h");
        type QHash_i32_QByteArray = cxx_qt_lib::QHash<cxx_qt_lib::QHashPair_i32_QByteArray>;
        include!("cxx-qt-lib/qvariant.h");
        type QVariant = cxx_qt_lib::QVariant;
        include!("cxx-qt-lib/qmodelindex.h");
        type QModelIndex = cxx_qt_lib::QModelIndex;
        include!("wbackup/src/gui/rows.cxxqt.h");
        type RowModel = crate::gui::rows::qobject::RowModel;
    }

    #[auto_cxx_name]
    extern "RustQt" {
        #[qobject]
        #[qml_element]
        #[base = QAbstractListModel]
        #[qproperty(bool, running)]
        #[qproperty(bool, stopping)]
        #[qproperty(bool, can_start)]
        #[qproperty(bool, confirm_password)]
        #[qproperty(QString, config_path)]
        #[qproperty(QString, config_note)]
        #[qproperty(QString, config_error)]
        #[qproperty(bool, can_save_config)]
        #[qproperty(QString, status_text)]
        #[qproperty(f64, run_progress)]
        #[qproperty(*mut RowModel, hosts, READ, CONSTANT)]
        #[qproperty(*mut RowModel, failures, READ, CONSTANT)]
        /// The last run's problems, one row per cause (`crate::problems`).
        #[qproperty(*mut RowModel, problems, READ, CONSTANT)]
        #[qproperty(*mut RowModel, history, READ, CONSTANT)]
        #[qproperty(QString, plan_text)]
        #[qproperty(QString, log_path)]
        #[qproperty(QString, log_counts)]
        #[qproperty(QString, filter_node)]
        #[qproperty(i32, filter_step)]
        #[qproperty(QString, filter_text)]
        #[qproperty(i32, failure_count)]
        #[qproperty(QString, question)]
        #[qproperty(QString, question_nodes)]
        /// Whether the window is the active one (QML binds it to `Window.active`); a run
        /// that ends while it is not is told by a desktop notification.
        #[qproperty(bool, window_active)]
        /// "" or the reminder banner's words (no recent successful run).
        #[qproperty(QString, reminder)]
        /// Counts the times the configuration file was read again after it changed on
        /// disk (the Setup and Copies views follow it).
        #[qproperty(i32, config_generation)]
        type Backend = super::BackendRust;
    }

    #[auto_cxx_name]
    unsafe extern "RustQt" {
        /// Opens this configuration file ("" for the usual lookup: `$WBACKUP_CONFIG`,
        /// then `~/.config/wbackup/config.toml`). The window calls it once it is built.
        #[qinvokable]
        fn load(self: Pin<&mut Backend>, config_file: &QString);

        /// Starts a run of the whole plan with this password; `again` is its repetition,
        /// required to match while `confirmPassword` (no repository exists yet). Returns
        /// false (and says why in `statusText`) when it cannot start.
        #[qinvokable]
        fn backup_all(self: Pin<&mut Backend>, password: &QString, again: &QString) -> bool;

        /// Cancels the run: its processes end on every node, no restic lock remains.
        #[qinvokable]
        fn stop(self: Pin<&mut Backend>);

        /// While the run waits (`question` is set): go on without the nodes that failed
        /// their checks. Returns false when no run waits.
        #[qinvokable]
        fn continue_without(self: Pin<&mut Backend>) -> bool;

        /// Writes the built-in default as a commented configuration file (never overwrites).
        #[qinvokable]
        fn save_config(self: Pin<&mut Backend>) -> bool;

        /// Opens the current (or latest) run's full log file.
        #[qinvokable]
        fn open_log(self: &Backend) -> bool;

        /// Opens a past run's log (a row of `history`).
        #[qinvokable]
        fn open_history(self: &Backend, index: i32) -> bool;

        /// Shows only this node's lines; the same node again shows every node.
        #[qinvokable]
        fn toggle_node_filter(self: Pin<&mut Backend>, node: &QString);

        /// Shows only this step's lines (from the failure summary).
        #[qinvokable]
        fn show_step(self: Pin<&mut Backend>, step: i32);

        /// Shows only lines containing this text (case-insensitive); empty shows all.
        #[qinvokable]
        fn set_search(self: Pin<&mut Backend>, text: &QString);

        /// Removes the host and step filters (the search stays).
        #[qinvokable]
        fn clear_filter(self: Pin<&mut Backend>);

        /// Reads the logs folder again.
        #[qinvokable]
        fn refresh_history(self: Pin<&mut Backend>);
    }

    extern "RustQt" {
        #[inherit]
        #[cxx_name = "beginInsertRows"]
        unsafe fn begin_insert_rows(
            self: Pin<&mut Backend>,
            parent: &QModelIndex,
            first: i32,
            last: i32,
        );
        #[inherit]
        #[cxx_name = "endInsertRows"]
        unsafe fn end_insert_rows(self: Pin<&mut Backend>);
        #[inherit]
        #[cxx_name = "beginRemoveRows"]
        unsafe fn begin_remove_rows(
            self: Pin<&mut Backend>,
            parent: &QModelIndex,
            first: i32,
            last: i32,
        );
        #[inherit]
        #[cxx_name = "endRemoveRows"]
        unsafe fn end_remove_rows(self: Pin<&mut Backend>);
        #[inherit]
        #[cxx_name = "beginResetModel"]
        unsafe fn begin_reset_model(self: Pin<&mut Backend>);
        #[inherit]
        #[cxx_name = "endResetModel"]
        unsafe fn end_reset_model(self: Pin<&mut Backend>);
    }

    unsafe extern "RustQt" {
        #[qinvokable]
        #[cxx_override]
        fn data(self: &Backend, index: &QModelIndex, role: i32) -> QVariant;

        #[qinvokable]
        #[cxx_override]
        #[cxx_name = "roleNames"]
        fn role_names(self: &Backend) -> QHash_i32_QByteArray;

        #[qinvokable]
        #[cxx_override]
        #[cxx_name = "rowCount"]
        fn row_count(self: &Backend, parent: &QModelIndex) -> i32;
    }

    impl cxx_qt::Threading for Backend {}
    impl cxx_qt::Initialize for Backend {}
}

use super::intake::{Intake, IntakeSink};
use super::log::{Filter, Log, NewLine, DEFAULT_CAPACITY};
use super::models::PastRun;
use super::rows::qobject::RowModel;
use super::state::RunState;
use crate::config::{self, Config};
use crate::engine::{
    self,
    events::{Event, Stream},
};
use crate::logbook::{self, Summary};
use cxx_qt::{CxxQtType, Threading};
use cxx_qt_lib::{QByteArray, QHash, QHashPair_i32_QByteArray, QModelIndex, QString, QVariant};
use secrecy::SecretString;
use std::pin::Pin;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

const ROLE_TEXT: i32 = 0x0101;
const ROLE_TAG: i32 = 0x0102;
const ROLE_STREAM: i32 = 0x0103;
const ROLE_STEP: i32 = 0x0104;

/// A run started by this window: what closing the window must stop.
struct ActiveRun {
    cancel: CancellationToken,
    intake: Arc<Intake>,
    thread: std::thread::JoinHandle<()>,
}

/// The three list models besides the log, owned here and shown to QML through the
/// `hosts`, `failures`, `problems` and `history` pointer properties.
struct Models {
    hosts: cxx::UniquePtr<RowModel>,
    failures: cxx::UniquePtr<RowModel>,
    problems: cxx::UniquePtr<RowModel>,
    history: cxx::UniquePtr<RowModel>,
}

impl Models {
    fn new() -> Models {
        Models {
            hosts: super::native::new_row_model(),
            failures: super::native::new_row_model(),
            problems: super::native::new_row_model(),
            history: super::native::new_row_model(),
        }
    }
}

pub struct BackendRust {
    running: bool,
    stopping: bool,
    can_start: bool,
    confirm_password: bool,
    config_path: QString,
    config_note: QString,
    config_error: QString,
    can_save_config: bool,
    status_text: QString,
    /// The whole run's bar, 0 to 1.
    run_progress: f64,
    // The models' addresses for the properties; `models` owns them.
    hosts: *mut RowModel,
    failures: *mut RowModel,
    problems: *mut RowModel,
    history: *mut RowModel,
    plan_text: QString,
    log_path: QString,
    log_counts: QString,
    filter_node: QString,
    filter_step: i32,
    filter_text: QString,
    failure_count: i32,
    question: QString,
    question_nodes: QString,
    window_active: bool,
    reminder: QString,
    config_generation: i32,

    pub(super) config: Option<Config>,
    pub(super) state: Option<RunState>,
    log: Log,
    pub(super) past_runs: Vec<Summary>,
    models: Models,
    runs: Vec<ActiveRun>,
    intake: Option<Arc<Intake>>,
    cancel: Option<CancellationToken>,
    search: String,
    /// Counts the runs started here, so a finished run's thread cannot end a newer run.
    generation: u64,
    /// The file the window named (`None`: the usual lookup), to read it again.
    explicit: Option<std::path::PathBuf>,
    /// Watches the configuration file; reading it again is queued here on a change.
    watch: Option<super::watch::Watch>,
    /// The file changed during a run: read it again when the run ends (the run keeps
    /// the plan it started with).
    reload_pending: bool,
}

impl Default for BackendRust {
    fn default() -> Self {
        BackendRust {
            running: false,
            stopping: false,
            can_start: false,
            confirm_password: false,
            config_path: QString::default(),
            config_note: QString::default(),
            config_error: QString::default(),
            can_save_config: false,
            status_text: QString::default(),
            run_progress: 0.0,
            hosts: std::ptr::null_mut(),
            failures: std::ptr::null_mut(),
            problems: std::ptr::null_mut(),
            history: std::ptr::null_mut(),
            plan_text: QString::default(),
            log_path: QString::default(),
            log_counts: QString::default(),
            filter_node: QString::default(),
            filter_step: -1,
            filter_text: QString::default(),
            failure_count: 0,
            question: QString::default(),
            question_nodes: QString::default(),
            // A backend with no window (tests, tools) has nobody to notify.
            window_active: true,
            reminder: QString::default(),
            config_generation: 0,
            config: None,
            state: None,
            log: Log::new(DEFAULT_CAPACITY),
            past_runs: vec![],
            models: Models::new(),
            runs: vec![],
            intake: None,
            cancel: None,
            search: String::new(),
            generation: 0,
            explicit: None,
            watch: None,
            reload_pending: false,
        }
    }
}

impl BackendRust {
    /// Stops every run this window started, as Stop would (its processes end on every
    /// node, no restic lock stays), and waits for each to finish.
    fn stop_runs_and_wait(&mut self) {
        for run in std::mem::take(&mut self.runs) {
            if !run.thread.is_finished() {
                eprintln!("wbackup: the window closed during a run; stopping it");
            }
            // Nobody drains events any more: let the engine's sink drop them.
            run.intake.close();
            run.cancel.cancel();
            let _ = run.thread.join();
        }
    }
}

/// The window is closing (QML destroys its objects when the engine goes): a run still
/// going is stopped and waited for. The backend's thread handle is already gone by now,
/// so the run's last queued call finds no object and does nothing.
impl Drop for BackendRust {
    fn drop(&mut self) {
        self.stop_runs_and_wait();
    }
}

impl cxx_qt::Initialize for qobject::Backend {
    fn initialize(mut self: Pin<&mut Self>) {
        let wake_thread = self.qt_thread();
        let intake = Arc::new(Intake::new(move || {
            wake_thread.queue(|backend| backend.drain()).is_ok()
        }));
        let mut rust = self.as_mut().rust_mut();
        rust.intake = Some(intake);
        let rust = rust.get_mut();
        rust.hosts = model_ptr(&mut rust.models.hosts);
        rust.failures = model_ptr(&mut rust.models.failures);
        rust.problems = model_ptr(&mut rust.models.problems);
        rust.history = model_ptr(&mut rust.models.history);
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

impl qobject::Backend {
    pub fn load(mut self: Pin<&mut Self>, config_file: &QString) {
        let file = String::from(config_file);
        let explicit = (!file.is_empty()).then(|| std::path::PathBuf::from(file));
        self.as_mut().rust_mut().explicit = explicit.clone();
        // Watched from before it is read, so no change can slip in between.
        let (path, _) = config::locate(explicit.as_deref());
        if self.rust().watch.as_ref().map(|w| &w.path) != Some(&path) {
            let thread = self.qt_thread();
            let watch = super::watch::start(path, move || {
                thread.queue(|backend| backend.file_changed()).is_ok()
            });
            if watch.is_none() {
                tracing::warn!(
                    "cannot watch the configuration file: restart the window after changing it"
                );
            }
            self.as_mut().rust_mut().watch = watch;
        }
        self.read_config();
    }

    /// Reads the configuration file again and shows it, or its error in place (file,
    /// line and column) with the run controls off until it loads.
    fn read_config(mut self: Pin<&mut Self>) {
        match config::load(self.rust().explicit.as_deref()) {
            Ok(config) => self.open(config),
            Err(e) => {
                // Backup all is off before the error shows.
                self.as_mut().rust_mut().config = None;
                let running = self.rust().running;
                self.as_mut().set_running_and_can_start(running);
                self.as_mut().set_config_note(QString::default());
                self.as_mut().set_can_save_config(false);
                self.as_mut().set_status_text(QString::from(
                    "Fix the configuration: the window reads it again as soon as the file is saved",
                ));
                self.as_mut()
                    .set_config_error(QString::from(&e.to_string()));
            }
        }
    }

    /// The configuration file changed on disk (the watch's queued call): read it again,
    /// or, during a run, once the run has ended.
    pub fn file_changed(mut self: Pin<&mut Self>) {
        if self.rust().running || self.rust().cancel.is_some() {
            self.as_mut().rust_mut().reload_pending = true;
            self.as_mut().set_config_note(QString::from(
                "The configuration file changed: this run goes on with the plan it started with; the window reads the file again when it ends.",
            ));
            return;
        }
        self.as_mut().rust_mut().reload_pending = false;
        let had_error = !self.rust().config_error.is_empty();
        self.as_mut().read_config();
        if self.rust().config.is_some() {
            let path = String::from(&self.rust().config_path);
            self.as_mut().set_status_text(QString::from(&if had_error {
                format!("The configuration loads again: read {path}")
            } else {
                format!("The configuration changed on disk: read {path} again")
            }));
        }
        let generation = self.rust().config_generation + 1;
        self.as_mut().set_config_generation(generation);
    }

    /// Stops this window's runs and waits for them: what closing the window does (tests
    /// call it to close without destroying the object).
    pub fn stop_runs_and_wait(self: Pin<&mut Self>) {
        self.rust_mut().get_mut().stop_runs_and_wait();
    }

    /// The host list, the failure summary and the history, as QML sees them.
    pub fn host_rows(&self) -> &RowModel {
        self.rust()
            .models
            .hosts
            .as_ref()
            .expect("created with the backend")
    }
    pub fn failure_rows(&self) -> &RowModel {
        self.rust()
            .models
            .failures
            .as_ref()
            .expect("created with the backend")
    }
    pub fn problem_rows(&self) -> &RowModel {
        self.rust()
            .models
            .problems
            .as_ref()
            .expect("created with the backend")
    }
    pub fn history_rows(&self) -> &RowModel {
        self.rust()
            .models
            .history
            .as_ref()
            .expect("created with the backend")
    }

    /// The same models, to change them or connect to their signals.
    pub fn host_model(self: Pin<&mut Self>) -> Pin<&mut RowModel> {
        self.rust_mut().get_mut().models.hosts.pin_mut()
    }
    pub fn failure_model(self: Pin<&mut Self>) -> Pin<&mut RowModel> {
        self.rust_mut().get_mut().models.failures.pin_mut()
    }
    pub fn problem_model(self: Pin<&mut Self>) -> Pin<&mut RowModel> {
        self.rust_mut().get_mut().models.problems.pin_mut()
    }
    pub fn history_model(self: Pin<&mut Self>) -> Pin<&mut RowModel> {
        self.rust_mut().get_mut().models.history.pin_mut()
    }

    /// Shows this configuration: its nodes, its plan, its past runs.
    pub fn open(mut self: Pin<&mut Self>, config: Config) {
        let mut state = RunState::new(&config);
        let history = logbook::history(&config);
        state.apply_history(&history);
        // As `wbackup plan` shows it: with verification when it is due.
        let plan_text = match crate::engine::verify::plan_for(&config, Default::default(), None) {
            Ok(plan) => plan.render(&config),
            Err(e) => format!("cannot build the plan: {e}"),
        };
        let builtin = config.is_builtin();
        let path = config.path().to_string_lossy().into_owned();
        self.as_mut().set_config_path(QString::from(&path));
        self.as_mut().set_config_note(QString::from(&if builtin {
            format!(
                "No configuration file at {path}: using the built-in default \
                 (this machine, ~/Documents into ~/backup)."
            )
        } else {
            String::new()
        }));
        self.as_mut().set_can_save_config(builtin);
        self.as_mut()
            .set_confirm_password(engine::holds_no_repository(&config));
        self.as_mut().set_plan_text(QString::from(&plan_text));
        let latest_log = history
            .first()
            .map(|s| s.log.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.as_mut().set_log_path(QString::from(&latest_log));
        {
            let mut rust = self.as_mut().rust_mut();
            rust.config = Some(config);
            rust.state = Some(state);
            rust.past_runs = history;
        }
        self.as_mut().publish_history();
        self.as_mut().publish_state(true);
        self.as_mut().publish_log_counts();
        // Last: whoever watches the error's end sees the configuration in place.
        self.as_mut().set_config_error(QString::default());
    }

    /// Events from the run, a batch at a time (the intake's queued call).
    fn drain(self: Pin<&mut Self>) {
        let Some(intake) = self.rust().intake.clone() else {
            return;
        };
        let events = intake.take(super::intake::MAX_BATCH);
        self.apply_events(events);
    }

    /// Pushes one event as the engine would: through the intake, in a batch. For tests,
    /// the benchmark and scripted screenshots; the engine's runs use the same path.
    pub fn intake(&self) -> Arc<Intake> {
        self.rust()
            .intake
            .clone()
            .expect("set when the backend is created")
    }

    /// Folds a batch of events into the host rows, the failure list and the log model.
    pub fn apply_events(mut self: Pin<&mut Self>, events: Vec<Event>) {
        if self.rust().state.is_none() {
            return;
        }
        let mut lines: Vec<NewLine> = Vec::new();
        let mut hosts_changed = false;
        let mut run_changed = false;
        for event in events {
            match event {
                Event::Line {
                    step,
                    node,
                    stream,
                    text,
                } => {
                    let state = self.rust().state.as_ref().expect("checked above");
                    let node = state
                        .host_index(&node)
                        .map(|i| i as u16)
                        .unwrap_or(u16::MAX);
                    lines.push(NewLine {
                        step,
                        node,
                        stream,
                        text: text.into_boxed_str(),
                    });
                }
                other => {
                    if matches!(other, Event::RunStarted { .. }) {
                        lines.clear();
                        self.as_mut().reset_log();
                    }
                    run_changed |= matches!(
                        other,
                        Event::RunStarted { .. }
                            | Event::StepFinished { .. }
                            | Event::RunFinished { .. }
                            | Event::Waiting { .. }
                    );
                    let mut rust = self.as_mut().rust_mut();
                    let state = rust.state.as_mut().expect("checked above");
                    hosts_changed |= state.apply(&other);
                }
            }
        }
        if !lines.is_empty() {
            self.as_mut().append_lines(lines);
        }
        if hosts_changed || run_changed {
            self.as_mut().publish_state(run_changed);
        }
    }

    fn append_lines(mut self: Pin<&mut Self>, lines: Vec<NewLine>) {
        let incoming = lines.len();
        let removed = self.rust().log.rows_to_evict(incoming);
        if removed > 0 {
            // SAFETY: rows 0..removed exist; the matching end call follows the change.
            unsafe {
                self.as_mut()
                    .begin_remove_rows(&QModelIndex::default(), 0, removed as i32 - 1);
            }
            self.as_mut().rust_mut().log.make_room(incoming);
            unsafe { self.as_mut().end_remove_rows() };
        } else {
            self.as_mut().rust_mut().log.make_room(incoming);
        }
        let inserted = self.rust().log.rows_to_insert(&lines);
        let first = self.rust().log.rows() as i32;
        if inserted > 0 {
            // SAFETY: the new rows are appended after the last one, then announced.
            unsafe {
                self.as_mut().begin_insert_rows(
                    &QModelIndex::default(),
                    first,
                    first + inserted as i32 - 1,
                );
            }
            self.as_mut().rust_mut().log.append(lines);
            unsafe { self.as_mut().end_insert_rows() };
        } else {
            self.as_mut().rust_mut().log.append(lines);
        }
        self.publish_log_counts();
    }

    fn reset_log(mut self: Pin<&mut Self>) {
        // SAFETY: a reset brackets a change of every row.
        unsafe { self.as_mut().begin_reset_model() };
        self.as_mut().rust_mut().log.clear();
        unsafe { self.as_mut().end_reset_model() };
        self.publish_log_counts();
    }

    fn publish_log_counts(mut self: Pin<&mut Self>) {
        let log = &self.rust().log;
        let text = if log.total() as usize > log.kept() {
            format!(
                "{} lines, the last {} kept here",
                group(log.total()),
                group(log.kept() as u64)
            )
        } else {
            format!("{} lines", group(log.total()))
        };
        self.as_mut().set_log_counts(QString::from(&text));
    }

    /// Re-renders the host rows (and, with `run`, the failures and run status).
    fn publish_state(mut self: Pin<&mut Self>, run: bool) {
        let Some(state) = self.rust().state.as_ref() else {
            return;
        };
        let hosts = state.hosts.clone();
        let running = state.running;
        let (question, nodes) = state.question().unwrap_or_default();
        let (status, overall) = (state.status_text(), state.overall);
        let run_data = run.then(|| {
            (
                state.failures.clone(),
                super::problems::rows(&state.problems, &state.failures),
                state.log_path.clone(),
                state.finished.is_some(),
            )
        });
        self.as_mut().host_model().show(&hosts);
        if !status.is_empty() && (run || running) {
            self.as_mut().set_status_text(QString::from(&status));
        }
        self.as_mut().set_run_progress(overall);
        let question = QString::from(&question);
        if question != self.rust().question {
            self.as_mut()
                .set_question_nodes(QString::from(&nodes.join(", ")));
            self.as_mut().set_question(question);
        }
        if let Some((failures, problems, log_path, finished)) = run_data {
            self.as_mut().failure_model().show(&failures);
            self.as_mut().problem_model().show(&problems);
            self.as_mut().set_failure_count(failures.len() as i32);
            if let Some(p) = log_path {
                self.as_mut().set_log_path(QString::from(&p));
            }
            if finished && !running && self.rust().running {
                // A handler of `runningChanged` may start the next run from inside this
                // call: nothing read before it still holds, so stop here.
                self.as_mut().run_ended();
                return;
            }
        }
        // A run started here is running from the click until its thread ends, even
        // before its first event arrives.
        let running = running || self.rust().cancel.is_some();
        self.set_running_and_can_start(running);
    }

    /// The run's thread is done (or the run finished): back to idle.
    fn run_ended(mut self: Pin<&mut Self>) {
        self.notify_run_end();
        // History first: whoever watches `running` sees the finished run in it.
        self.as_mut().refresh_history();
        if let Some(config) = self.rust().config.clone() {
            self.as_mut()
                .set_confirm_password(engine::holds_no_repository(&config));
        }
        self.as_mut().rust_mut().cancel = None;
        self.as_mut().set_stopping(false);
        self.as_mut().set_running_and_can_start(false);
        if self.rust().reload_pending {
            self.file_changed();
        }
    }

    /// Updates `canStart` before `running`, so a handler of `runningChanged` already sees
    /// whether a new run may start.
    fn set_running_and_can_start(mut self: Pin<&mut Self>, running: bool) {
        let can = self.rust().config.is_some() && !running;
        if can != self.rust().can_start {
            self.as_mut().set_can_start(can);
        }
        if running != self.rust().running {
            self.as_mut().set_running(running);
        }
    }

    pub fn backup_all(mut self: Pin<&mut Self>, password: &QString, again: &QString) -> bool {
        if self.rust().running {
            return false;
        }
        let Some(config) = self.rust().config.clone() else {
            self.as_mut()
                .set_status_text(QString::from("No valid configuration: nothing to run"));
            return false;
        };
        if password.is_empty() {
            self.as_mut()
                .set_status_text(QString::from("Type the restic password first"));
            return false;
        }
        // The only copy of the password outside the field: moved into the run's thread.
        // The same rule as every other source: text, taken unaltered.
        let password = match crate::password::from_utf16(password.as_slice(), "the window") {
            Ok(p) => p,
            Err(e) => {
                self.as_mut().set_status_text(QString::from(&e));
                return false;
            }
        };
        if self.rust().confirm_password && password_differs(&password, again) {
            self.as_mut().set_status_text(QString::from(
                "The two passwords differ: no repository exists yet, so type the same password twice",
            ));
            return false;
        }
        // The same plan as `wbackup run`: verification at its end when it is due.
        let plan = match crate::engine::verify::plan_for(&config, Default::default(), None) {
            Ok(p) => p,
            Err(e) => {
                self.as_mut()
                    .set_status_text(QString::from(&format!("cannot plan the run: {e}")));
                return false;
            }
        };
        let cancel = CancellationToken::new();
        let cancel_for_close = cancel.clone();
        let intake = self.intake();
        let thread = self.qt_thread();
        let generation = self.rust().generation + 1;
        {
            let mut rust = self.as_mut().rust_mut();
            rust.generation = generation;
            rust.cancel = Some(cancel.clone());
            let state = rust.state.as_mut().expect("config implies state");
            state.set_plan(&plan);
        }
        self.as_mut().set_stopping(false);
        self.as_mut()
            .set_status_text(QString::from("Starting the run…"));
        self.as_mut().set_running_and_can_start(true);
        let spawned = std::thread::Builder::new()
            .name("wbackup-run".into())
            .spawn(move || {
                if let Ok(rt) = crate::runtime::engine() {
                    // Held until this closure ends, however the run does.
                    let _awake = rt.block_on(crate::desktop::Inhibitor::for_run());
                    rt.block_on(crate::engine::execute(
                        &config,
                        &plan,
                        &password,
                        cancel,
                        Box::new(IntakeSink(intake)),
                    ));
                }
                drop(password);
                // Queued after every drain the run asked for, so it runs after them.
                let _ = thread.queue(move |backend| {
                    if backend.rust().running && backend.rust().generation == generation {
                        backend.run_ended();
                    }
                });
            });
        let intake = self.intake();
        let spawned = spawned.map(|thread| {
            let mut rust = self.as_mut().rust_mut();
            rust.runs.retain(|r| !r.thread.is_finished());
            rust.runs.push(ActiveRun {
                cancel: cancel_for_close,
                intake,
                thread,
            });
        });
        if spawned.is_err() {
            self.as_mut().rust_mut().cancel = None;
            self.as_mut()
                .set_status_text(QString::from("cannot start the run's thread"));
            self.set_running_and_can_start(false);
            return false;
        }
        true
    }

    pub fn stop(mut self: Pin<&mut Self>) {
        if let Some(cancel) = &self.rust().cancel {
            cancel.cancel();
            self.as_mut().set_stopping(true);
            self.as_mut().set_status_text(QString::from(
                "Stopping: ending the processes on every node…",
            ));
        }
    }

    pub fn continue_without(mut self: Pin<&mut Self>) -> bool {
        let went_on = self.intake().go_on();
        if let Some(state) = self.as_mut().rust_mut().state.as_mut() {
            state.answered();
        }
        if went_on {
            self.as_mut().set_question(QString::default());
            self.as_mut().set_question_nodes(QString::default());
        }
        went_on
    }

    pub fn save_config(mut self: Pin<&mut Self>) -> bool {
        let Some(config) = self.rust().config.clone() else {
            return false;
        };
        if !config.is_builtin() {
            return false;
        }
        let path = config.path().to_path_buf();
        let written = crate::starter::write(&path, &config.orchestrator);
        match written
            .map_err(|e| e.to_string())
            .and_then(|()| config::load(Some(&path)).map_err(|e| e.to_string()))
        {
            Ok(saved) => {
                self.as_mut().open(saved);
                self.as_mut().set_status_text(QString::from(&format!(
                    "Saved {}: edit it to add nodes",
                    path.display()
                )));
                true
            }
            Err(e) => {
                // Each error names the file.
                self.as_mut()
                    .set_status_text(QString::from(&format!("cannot save: {e}")));
                false
            }
        }
    }

    pub fn open_log(&self) -> bool {
        let path = String::from(&self.rust().log_path);
        !path.is_empty() && super::native::open_local_file(std::path::Path::new(&path))
    }

    pub fn open_history(&self, index: i32) -> bool {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.rust().past_runs.get(i))
            .is_some_and(|run| super::native::open_local_file(&run.log))
    }

    pub fn toggle_node_filter(self: Pin<&mut Self>, node: &QString) {
        let name = String::from(node);
        let index = self
            .rust()
            .state
            .as_ref()
            .and_then(|s| s.host_index(&name))
            .map(|i| i as u16);
        let mut filter = self.rust().log.filter().clone();
        filter.node = if filter.node == index { None } else { index };
        filter.step = None;
        self.set_filter(filter);
    }

    pub fn show_step(self: Pin<&mut Self>, step: i32) {
        let mut filter = self.rust().log.filter().clone();
        filter.step = usize::try_from(step).ok();
        filter.node = None;
        self.set_filter(filter);
    }

    pub fn set_search(mut self: Pin<&mut Self>, text: &QString) {
        let search = String::from(text).to_lowercase();
        if search == self.rust().search {
            return;
        }
        self.as_mut().rust_mut().search = search.clone();
        let mut filter = self.rust().log.filter().clone();
        filter.search = search;
        self.set_filter(filter);
    }

    pub fn clear_filter(self: Pin<&mut Self>) {
        let mut filter = self.rust().log.filter().clone();
        filter.node = None;
        filter.step = None;
        self.set_filter(filter);
    }

    fn set_filter(mut self: Pin<&mut Self>, filter: Filter) {
        // SAFETY: a reset brackets a change of every row.
        unsafe { self.as_mut().begin_reset_model() };
        self.as_mut().rust_mut().log.set_filter(filter.clone());
        unsafe { self.as_mut().end_reset_model() };
        let state = self.rust().state.as_ref();
        let node = filter
            .node
            .and_then(|i| state.and_then(|s| s.hosts.get(i as usize)))
            .map(|h| h.name.clone())
            .unwrap_or_default();
        let step_title = filter
            .step
            .map(|s| {
                let title = state.map(|st| st.step_title(s)).unwrap_or("");
                format!("step {}: {title}", s + 1)
            })
            .unwrap_or_default();
        let text = match (node.is_empty(), step_title.is_empty()) {
            (false, _) => format!("only {node}"),
            (true, false) => format!("only {step_title}"),
            (true, true) => String::new(),
        };
        self.as_mut().set_filter_node(QString::from(&node));
        self.as_mut()
            .set_filter_step(filter.step.map_or(-1, |s| s as i32));
        self.as_mut().set_filter_text(QString::from(&text));
    }

    pub fn refresh_history(mut self: Pin<&mut Self>) {
        let Some(config) = self.rust().config.as_ref() else {
            return;
        };
        let history = logbook::history(config);
        self.as_mut().rust_mut().past_runs = history;
        self.publish_history();
    }

    fn publish_history(mut self: Pin<&mut Self>) {
        let runs: Vec<PastRun> = self
            .rust()
            .past_runs
            .iter()
            .map(PastRun::from_summary)
            .collect();
        self.as_mut().history_model().show(&runs);
        self.publish_reminder();
    }

    /// The log row as plain text, for tests: "tag|stream|text".
    pub fn log_row(&self, row: usize) -> Option<String> {
        let line = self.rust().log.row(row)?;
        Some(format!(
            "{}|{}|{}",
            self.tag(line.node, line.step),
            stream_name(line.stream),
            line.text
        ))
    }

    /// Lines pushed in this run and lines kept in memory.
    pub fn log_totals(&self) -> (u64, usize) {
        (self.rust().log.total(), self.rust().log.kept())
    }

    /// Changes how many lines the log keeps (tests; the window uses the default).
    pub fn set_log_capacity(mut self: Pin<&mut Self>, capacity: usize) {
        unsafe { self.as_mut().begin_reset_model() };
        self.as_mut().rust_mut().log = Log::new(capacity);
        unsafe { self.as_mut().end_reset_model() };
    }

    fn tag(&self, node: u16, step: usize) -> String {
        let state = self.rust().state.as_ref();
        let node = state
            .and_then(|s| s.hosts.get(node as usize))
            .map(|h| h.name.as_str())
            .unwrap_or("");
        let kind = state.map(|s| s.step_kind(step)).unwrap_or("");
        if kind.is_empty() {
            node.to_string()
        } else {
            format!("{node} · {kind}")
        }
    }

    pub fn data(&self, index: &QModelIndex, role: i32) -> QVariant {
        let Some(line) = usize::try_from(index.row())
            .ok()
            .and_then(|r| self.rust().log.row(r))
        else {
            return QVariant::default();
        };
        match role {
            ROLE_TEXT => QVariant::from(&QString::from(&*line.text)),
            ROLE_TAG => QVariant::from(&QString::from(&self.tag(line.node, line.step))),
            ROLE_STREAM => QVariant::from(&QString::from(stream_name(line.stream))),
            ROLE_STEP => QVariant::from(&(line.step as i32)),
            _ => QVariant::default(),
        }
    }

    pub fn role_names(&self) -> QHash<QHashPair_i32_QByteArray> {
        let mut roles = QHash::<QHashPair_i32_QByteArray>::default();
        roles.insert(ROLE_TEXT, QByteArray::from("text"));
        roles.insert(ROLE_TAG, QByteArray::from("tag"));
        roles.insert(ROLE_STREAM, QByteArray::from("stream"));
        roles.insert(ROLE_STEP, QByteArray::from("step"));
        roles
    }

    pub fn row_count(&self, _parent: &QModelIndex) -> i32 {
        self.rust().log.rows() as i32
    }
}

fn stream_name(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdout => "out",
        Stream::Stderr => "err",
        Stream::Info | Stream::Notice => "info",
    }
}

/// 1234567 -> "1,234,567".
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whether the repeated password differs from the first (compared without copying the
/// repetition into a plain `String` that outlives this call).
fn password_differs(password: &SecretString, again: &QString) -> bool {
    let again = SecretString::from(String::from(again));
    secrecy::ExposeSecret::expose_secret(password) != secrecy::ExposeSecret::expose_secret(&again)
}
