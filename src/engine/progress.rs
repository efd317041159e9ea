//! Live progress, as a person reads it: what a step is doing (one word), how fast it
//! goes, when it should end, whether it stalled, and where the whole run stands.
//!
//! Steps report only what their tool says (restic's `--json` status lines, rsync's
//! `--info=progress2`): bytes and files done of a total. Rate and time left are
//! measured here, the same way for every tool, by a [`Meter`] that the run's
//! [`Metered`] layer keeps per step between the steps and every consumer; so the
//! terminal, the log and the window read the same figures. The layer also watches the
//! running steps and says when one has not moved for [`STALL_AFTER`] (`Event::Stalled`),
//! since a hung connection says nothing at all. [`Expected`] and [`overall`] give the
//! run's own bar, from this run's progress and the durations of earlier runs' steps.
//!
//! Everything that reads the clock takes the instant as an argument, so the arithmetic is
//! tested without waiting.

use super::events::{Event, Sink};
use super::runview::{RunView, StepStatus, StepView};
use crate::plan::StepKind;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A step whose numbers have not moved for this long is said to have stalled.
pub const STALL_AFTER: Duration = Duration::from_secs(60);
/// Sets another `STALL_AFTER` in seconds (for tests that stop a process for real and
/// would rather not wait a minute).
pub const STALL_AFTER_ENV: &str = "WBACKUP_STALL_AFTER_SECS";
/// While a step stays stalled, it is said again this often (with the new duration).
const STALL_REPEAT: Duration = Duration::from_secs(30);
/// The rate is measured over this much of the recent past.
const RATE_WINDOW: Duration = Duration::from_secs(20);
/// No rate (and no time left) before the samples span this long: the first second of a
/// transfer says little about the rest.
const RATE_MIN_SPAN: Duration = Duration::from_secs(2);

/// Times left beyond this are not forecasts.
const ETA_BOUND: Duration = Duration::from_secs(365 * 24 * 3600);

/// What a step is doing, in the words the window and the terminal show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Activity {
    Connecting,
    /// restic walks the source and has read nothing yet.
    Scanning,
    /// restic reads and uploads what changed (walking the rest of the source meanwhile).
    Uploading,
    Checking,
    Pruning,
    /// A hop of replication: `from`'s copy brought to `to`.
    Copying {
        from: String,
        to: String,
    },
    /// `to` reads what arrived from `from`, each file against its name, before it
    /// moves in.
    Landing {
        from: String,
        to: String,
    },
    Verifying,
    Healing,
    Initialising,
    Recording,
}

impl Activity {
    /// What a step of `kind` does when its tool says nothing more precise.
    pub fn of_kind(kind: StepKind) -> Activity {
        match kind {
            StepKind::Prepare | StepKind::Backup => Activity::Connecting,
            StepKind::Heal => Activity::Healing,
            StepKind::Init => Activity::Initialising,
            StepKind::Check => Activity::Checking,
            StepKind::Forget => Activity::Pruning,
            StepKind::Replicate | StepKind::Upload => Activity::Copying {
                from: String::new(),
                to: String::new(),
            },
            StepKind::Verify => Activity::Verifying,
            StepKind::Records => Activity::Recording,
        }
    }

    /// The activity as `node`'s row says it: a hop is "sending to" on its source's row
    /// and "receiving from" on its target's.
    pub fn word_for(&self, node: &str) -> String {
        match self {
            Activity::Connecting => "connecting".into(),
            Activity::Scanning => "scanning".into(),
            Activity::Uploading => "uploading".into(),
            Activity::Checking => "checking".into(),
            Activity::Pruning => "pruning".into(),
            Activity::Copying { from, .. } if from.is_empty() => "copying".into(),
            Activity::Copying { from, to } if from == node => format!("sending to {to}"),
            Activity::Copying { from, to } if to == node => format!("receiving from {from}"),
            Activity::Copying { from, to } => format!("copying {from} → {to}"),
            Activity::Landing { to, .. } if to == node => "checking what arrived".into(),
            Activity::Landing { to, .. } => format!("checking what arrived on {to}"),
            Activity::Verifying => "verifying".into(),
            Activity::Healing => "healing".into(),
            Activity::Initialising => "creating the repository".into(),
            Activity::Recording => "saving the records".into(),
        }
    }

    /// What a stalled step of `node` is waiting on.
    pub fn waiting_on(&self, node: &str) -> String {
        match self {
            Activity::Connecting => format!("ssh to {node}"),
            Activity::Scanning | Activity::Uploading => format!("restic on {node}"),
            Activity::Copying { from, to } if !from.is_empty() => {
                format!("rsync from {from} to {to}")
            }
            Activity::Landing { to, .. } => format!("the check of what arrived on {to}"),
            _ => node.to_string(),
        }
    }
}

/// Rate, time left and stillness of one step, from its reports.
#[derive(Debug, Clone)]
pub struct Meter {
    /// Recent (when, bytes done), oldest first, spanning at most `RATE_WINDOW`.
    samples: VecDeque<(Instant, u64)>,
    /// The last figures reported (bytes, files).
    last: Option<(u64, Option<u64>)>,
    /// When the figures last changed (or the step started).
    moved: Instant,
    /// When the step was last said to be stalled.
    said: Option<Instant>,
}

impl Meter {
    pub fn new(now: Instant) -> Meter {
        Meter {
            samples: VecDeque::new(),
            last: None,
            moved: now,
            said: None,
        }
    }

    /// A report: `done` bytes (and `files` files) so far.
    pub fn sample(&mut self, now: Instant, done: u64, files: Option<u64>) {
        if self.last != Some((done, files)) {
            self.moved = now;
            self.said = None;
        }
        self.last = Some((done, files));
        // A count that went back (a new hop's figures) starts the rate afresh.
        if self.samples.back().is_some_and(|&(_, d)| d > done) {
            self.samples.clear();
        }
        self.samples.push_back((now, done));
        while self
            .samples
            .front()
            .is_some_and(|&(t, _)| now.duration_since(t) > RATE_WINDOW)
            && self.samples.len() > 2
        {
            self.samples.pop_front();
        }
    }

    /// Bytes per second over the recent past; None until the samples span enough time.
    pub fn rate(&self) -> Option<f64> {
        let (&(t0, d0), &(t1, d1)) = (self.samples.front()?, self.samples.back()?);
        let span = t1.duration_since(t0);
        (span >= RATE_MIN_SPAN).then(|| d1.saturating_sub(d0) as f64 / span.as_secs_f64())
    }

    /// Time left for `total` bytes at the current rate; None while it cannot be told
    /// (no rate yet, nothing moving, or figures that would need more than a year: a
    /// crawl or a node's nonsense, not a forecast).
    pub fn eta(&self, total: u64) -> Option<Duration> {
        let rate = self.rate().filter(|r| *r > 0.0)?;
        let (done, _) = self.last?;
        Duration::try_from_secs_f64(total.saturating_sub(done) as f64 / rate)
            .ok()
            .filter(|left| *left <= ETA_BOUND)
    }

    /// How long the figures have not moved.
    pub fn quiet(&self, now: Instant) -> Duration {
        now.duration_since(self.moved)
    }

    /// Whether a stalled step should be said (again) now: once it has been quiet for
    /// `STALL_AFTER`, then every `STALL_REPEAT`.
    fn due(&mut self, now: Instant, after: Duration) -> bool {
        if self.quiet(now) < after || self.said.is_some_and(|s| now - s < STALL_REPEAT) {
            return false;
        }
        self.said = Some(now);
        true
    }
}

/// The layer between a run's steps and its consumers that fills in rate and time left
/// on each `Progress`, and says which running steps stalled.
pub struct Metered<S> {
    inner: S,
    watched: Mutex<HashMap<usize, Watched>>,
    /// Quiet for this long is a stall (`STALL_AFTER`, or `STALL_AFTER_ENV`'s).
    after: Duration,
}

/// A running step the layer watches.
struct Watched {
    node: String,
    activity: Activity,
    meter: Meter,
}

impl<S: Sink> Metered<S> {
    pub fn new(inner: S) -> Metered<S> {
        let after = std::env::var(STALL_AFTER_ENV)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|s| *s > 0)
            .map_or(STALL_AFTER, Duration::from_secs);
        Metered {
            inner,
            watched: Mutex::new(HashMap::new()),
            after,
        }
    }

    /// Says, for each watched step quiet for too long, that it stalled. Called every few
    /// seconds while the run goes on.
    pub fn look(&self, now: Instant) {
        let stalled: Vec<Event> = {
            let mut w = self.watched.lock().expect("meters");
            let mut watched: Vec<_> = w.iter_mut().collect();
            watched.sort_by_key(|(&step, _)| step);
            watched
                .into_iter()
                .filter_map(|(&step, x)| {
                    x.meter.due(now, self.after).then(|| Event::Stalled {
                        step,
                        node: x.node.clone(),
                        quiet_secs: x.meter.quiet(now).as_secs(),
                        waiting_on: x.activity.waiting_on(&x.node),
                    })
                })
                .collect()
        };
        for e in stalled {
            self.inner.emit(e);
        }
    }

    /// `look`s every few seconds, for ever: run it beside the steps, dropped with them.
    pub async fn watch(&self) {
        let every = (self.after / 4).clamp(Duration::from_millis(250), Duration::from_secs(5));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.look(Instant::now());
        }
    }

    fn meter(&self, event: Event, now: Instant) -> Event {
        let mut w = self.watched.lock().expect("meters");
        match event {
            Event::StepStarted {
                step,
                ref node,
                kind,
                ..
            } => {
                // Steps whose tool reports progress are watched from their start, so a
                // connection that hangs before the first report is seen too.
                if matches!(
                    kind,
                    StepKind::Backup | StepKind::Replicate | StepKind::Upload
                ) {
                    w.insert(
                        step,
                        Watched {
                            node: node.clone(),
                            activity: Activity::of_kind(kind),
                            meter: Meter::new(now),
                        },
                    );
                }
                event
            }
            Event::StepFinished { step, .. } => {
                w.remove(&step);
                event
            }
            Event::Progress {
                step,
                node,
                activity,
                done,
                total,
                files,
                ..
            } => {
                let x = w.entry(step).or_insert_with(|| Watched {
                    node: node.clone(),
                    activity: activity.clone(),
                    meter: Meter::new(now),
                });
                x.activity = activity.clone();
                x.meter.sample(now, done, files.map(|(d, _)| d));
                Event::Progress {
                    step,
                    node,
                    activity,
                    done,
                    total,
                    files,
                    rate: x.meter.rate().map(|r| r as u64),
                    eta_secs: x.meter.eta(total).map(|d| d.as_secs()),
                }
            }
            other => other,
        }
    }
}

impl<S: Sink> Sink for Metered<S> {
    fn emit(&self, event: Event) {
        let event = self.meter(event, Instant::now());
        self.inner.emit(event);
    }

    fn ask(&self) -> Option<tokio::sync::oneshot::Receiver<()>> {
        self.inner.ask()
    }
}

/// How long each step took in earlier runs, to foresee this one's.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    /// Seconds by (node, kind, title): the newest passed run's.
    steps: HashMap<(String, StepKind, String), f64>,
    /// Seconds by kind, the median over every earlier step of that kind.
    kinds: HashMap<StepKind, f64>,
}

/// What a step of a kind takes when no earlier run says (seconds): a guess, used only
/// until the history has one.
fn guess(kind: StepKind) -> f64 {
    match kind {
        StepKind::Backup | StepKind::Replicate | StepKind::Upload => 60.0,
        StepKind::Check | StepKind::Forget | StepKind::Verify | StepKind::Heal => 20.0,
        StepKind::Prepare | StepKind::Init | StepKind::Records => 3.0,
    }
}

impl Expected {
    /// From earlier steps' (node, kind, title, seconds), newest run first.
    pub fn from_history(steps: impl IntoIterator<Item = (String, StepKind, String, f64)>) -> Self {
        let mut e = Expected::default();
        let mut by_kind: HashMap<StepKind, Vec<f64>> = HashMap::new();
        for (node, kind, title, secs) in steps {
            if !(secs.is_finite() && secs >= 0.0) {
                continue;
            }
            // No step takes less than a second or so (a round trip, a process started):
            // a near-zero record would make its step weigh nothing.
            let secs = secs.max(1.0);
            e.steps.entry((node, kind, title)).or_insert(secs);
            by_kind.entry(kind).or_default().push(secs);
        }
        for (kind, mut v) in by_kind {
            v.sort_by(f64::total_cmp);
            e.kinds.insert(kind, v[v.len() / 2]);
        }
        e
    }

    /// Seconds a step is expected to take.
    pub fn secs(&self, node: &str, kind: StepKind, title: &str) -> f64 {
        self.steps
            .get(&(node.to_string(), kind, title.to_string()))
            .or_else(|| self.kinds.get(&kind))
            .copied()
            .unwrap_or_else(|| guess(kind))
    }
}

/// Where the whole run stands: the share done (0 to 1) and, once it can be told, the
/// time left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overall {
    pub fraction: f64,
    pub left: Option<Duration>,
}

/// The run's bar: each step weighs what it is expected to take; a running step counts
/// by its own progress (or, without any, by its time so far, never quite done); the
/// steps still waiting take their expected time scaled by this run's pace so far (how
/// long its finished steps took against what was expected of them), shared among
/// `jobs` when steps run side by side.
pub fn overall(view: &RunView, expected: &Expected, jobs: usize, now: Instant) -> Overall {
    let mut total = 0.0;
    let mut done = 0.0;
    let (mut took, mut foreseen) = (0.0, 0.0);
    let mut running_left = 0.0f64;
    let mut waiting = 0.0;
    for s in &view.steps {
        let e = expected.secs(&s.node, s.kind, &s.title);
        match &s.status {
            StepStatus::Finished(_) => {
                let secs = s.elapsed();
                if let Some(secs) = secs {
                    took += secs;
                    foreseen += e;
                    total += e;
                    done += e;
                }
            }
            StepStatus::Running => {
                total += e;
                let elapsed = s.running_for(now).unwrap_or(0.0);
                let share = match s.progress {
                    Some((d, t)) if t > 0 => (d as f64 / t as f64).clamp(0.0, 1.0),
                    _ => (elapsed / e).min(0.95),
                };
                done += e * share;
                let own = s.eta_secs.map(|x| x as f64);
                running_left = running_left.max(own.unwrap_or(e * (1.0 - share)));
            }
            StepStatus::Waiting => {
                total += e;
                waiting += e;
            }
        }
    }
    let pace = if foreseen > 0.0 {
        (took / foreseen).clamp(0.1, 10.0)
    } else {
        1.0
    };
    let fraction = if total > 0.0 {
        (done / total).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let finished = view.status.is_some();
    let left = (!finished && (took > 0.0 || running_left > 0.0))
        .then_some(())
        .and_then(|()| {
            Duration::try_from_secs_f64(running_left + waiting * pace / jobs.max(1) as f64).ok()
        });
    Overall {
        fraction: if finished { 1.0 } else { fraction },
        left,
    }
}

/// "4 min left", "about 1 h 20 min left", "a few seconds left".
pub fn human_left(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=9 => "a few seconds left".into(),
        10..=59 => format!("{s} s left"),
        60..=3599 => format!("{} min left", s.div_ceil(60)),
        _ => format!("{} h {} min left", s / 3600, (s % 3600) / 60),
    }
}

/// A running step's figures in one line: "35 % · 1.2 GB of 3.4 GB · 1204 of 5310 files
/// · 9.0 MB/s · 5 min left"; only what is known.
pub fn detail(step: &StepView) -> String {
    let human = super::replication::human_bytes;
    let mut parts: Vec<String> = vec![];
    if let Some((done, total)) = step.progress.filter(|&(_, t)| t > 0) {
        let pct = (done as f64 * 100.0 / total as f64).clamp(0.0, 100.0);
        parts.push(format!("{pct:.0} %"));
        parts.push(format!("{} of {}", human(done), human(total)));
    }
    if let Some((done, total)) = step.files.filter(|&(_, t)| t > 0) {
        parts.push(format!("{done} of {total} files"));
    }
    if let Some(rate) = step.rate.filter(|_| step.stalled.is_none()) {
        parts.push(human_rate(rate));
    }
    if let Some(eta) = step.eta_secs.filter(|_| step.stalled.is_none()) {
        parts.push(human_left(Duration::from_secs(eta)));
    }
    parts.join(" · ")
}

/// "stalled — no progress for 75 s, waiting on rsync from laptop to home".
pub fn stalled_text(quiet_secs: u64, waiting_on: &str) -> String {
    let quiet = if quiet_secs < 120 {
        format!("{quiet_secs} s")
    } else {
        format!("{} min", quiet_secs / 60)
    };
    format!("stalled — no progress for {quiet}, waiting on {waiting_on}")
}

/// "12.3 MB/s".
pub fn human_rate(bytes_per_sec: u64) -> String {
    format!("{}/s", super::replication::human_bytes(bytes_per_sec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::events::Outcome;
    use std::sync::{Arc, Mutex as StdMutex};

    fn secs(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    #[test]
    fn rate_and_time_left_come_from_the_recent_past_and_wait_for_enough_of_it() {
        let t0 = Instant::now();
        let mut m = Meter::new(t0);
        m.sample(t0, 0, None);
        m.sample(secs(t0, 1), 100, None);
        assert_eq!(m.rate(), None, "one second says too little");
        m.sample(secs(t0, 2), 200, None);
        assert_eq!(m.rate(), Some(100.0));
        assert_eq!(m.eta(1200), Some(Duration::from_secs(10)));
        // Faster now: after the window only the new pace counts.
        for s in 3..=40 {
            m.sample(secs(t0, s), 200 + (s - 2) * 1000, None);
        }
        let r = m.rate().unwrap();
        assert!((r - 1000.0).abs() < 1e-6, "{r}");
        // Nothing moving: no time left can be told, and the quiet is measured.
        let done = 200 + 38 * 1000;
        for s in 41..=70 {
            m.sample(secs(t0, s), done, None);
        }
        assert_eq!(m.rate(), Some(0.0));
        assert_eq!(m.eta(done * 2), None);
        assert_eq!(m.quiet(secs(t0, 70)), Duration::from_secs(30));
        // A count that goes back (the next hop) starts afresh.
        m.sample(secs(t0, 71), 5, None);
        assert_eq!(m.rate(), None);
        assert_eq!(m.quiet(secs(t0, 71)), Duration::ZERO);
    }

    #[test]
    fn figures_a_node_made_up_give_no_time_left_and_no_panic() {
        let t0 = Instant::now();
        let mut m = Meter::new(t0);
        m.sample(t0, 0, None);
        m.sample(secs(t0, 20), 1, None);
        assert_eq!(
            m.eta(u64::MAX),
            None,
            "a byte in 20 s of 16 EB: no forecast"
        );
        let mut m = Meter::new(t0);
        m.sample(t0, 0, None);
        m.sample(secs(t0, 2), 1_000_000, None);
        assert_eq!(m.eta(10), Some(Duration::ZERO), "more done than the total");
    }

    #[test]
    fn files_moving_is_progress_too() {
        let t0 = Instant::now();
        let mut m = Meter::new(t0);
        m.sample(t0, 10, Some(1));
        m.sample(secs(t0, 50), 10, Some(2));
        assert_eq!(m.quiet(secs(t0, 50)), Duration::ZERO);
    }

    /// The events a `Metered` layer passes on.
    fn recorder() -> (Metered<impl Sink>, Arc<StdMutex<Vec<Event>>>) {
        let seen = Arc::new(StdMutex::new(vec![]));
        let s = seen.clone();
        (
            Metered::new(move |e: Event| s.lock().unwrap().push(e)),
            seen,
        )
    }

    fn started(step: usize, node: &str, kind: StepKind) -> Event {
        Event::StepStarted {
            step,
            node: node.into(),
            kind,
            title: format!("{kind} {node}"),
        }
    }

    #[test]
    fn the_layer_measures_each_step_and_says_once_a_minute_has_passed_without_progress() {
        let (m, seen) = recorder();
        let t0 = Instant::now();
        m.meter(started(3, "laptop", StepKind::Replicate), t0);
        m.meter(started(4, "home", StepKind::Check), t0);
        let copying = Activity::Copying {
            from: "laptop".into(),
            to: "home".into(),
        };
        for s in 0..=4 {
            let e = m.meter(
                Event::progress(3, "laptop", copying.clone(), s * 1000, 10_000),
                secs(t0, s),
            );
            if s == 4 {
                let Event::Progress { rate, eta_secs, .. } = e else {
                    panic!("{e:?}")
                };
                assert_eq!((rate, eta_secs), (Some(1000), Some(6)));
            }
        }
        m.look(secs(t0, 63));
        assert!(seen.lock().unwrap().is_empty(), "59 s quiet is not a stall");
        m.look(secs(t0, 64));
        m.look(secs(t0, 70));
        m.look(secs(t0, 94));
        let said = seen.lock().unwrap().clone();
        assert_eq!(
            said,
            [
                Event::Stalled {
                    step: 3,
                    node: "laptop".into(),
                    quiet_secs: 60,
                    waiting_on: "rsync from laptop to home".into(),
                },
                Event::Stalled {
                    step: 3,
                    node: "laptop".into(),
                    quiet_secs: 90,
                    waiting_on: "rsync from laptop to home".into(),
                },
            ],
            "said at a minute, again 30 s later; the check step (no progress of its own) is not watched"
        );
        // Moving again, then finished: nothing more is said.
        m.meter(
            Event::progress(3, "laptop", copying, 5000, 10_000),
            secs(t0, 95),
        );
        m.look(secs(t0, 150));
        m.meter(
            Event::StepFinished {
                step: 3,
                node: "laptop".into(),
                kind: StepKind::Replicate,
                title: "replicate laptop".into(),
                outcome: Outcome::Passed,
            },
            secs(t0, 151),
        );
        m.look(secs(t0, 400));
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[test]
    fn a_backup_that_hangs_before_its_first_report_is_seen() {
        let (m, seen) = recorder();
        let t0 = Instant::now();
        m.meter(started(1, "vps", StepKind::Backup), t0);
        m.look(secs(t0, 61));
        assert!(matches!(
            &seen.lock().unwrap()[..],
            [Event::Stalled { waiting_on, quiet_secs: 61, .. }] if waiting_on == "ssh to vps"
        ));
    }

    #[test]
    fn each_row_names_its_side_of_a_copy() {
        let a = Activity::Copying {
            from: "laptop".into(),
            to: "home".into(),
        };
        assert_eq!(a.word_for("laptop"), "sending to home");
        assert_eq!(a.word_for("home"), "receiving from laptop");
        assert_eq!(a.word_for("vps"), "copying laptop → home");
        assert_eq!(Activity::of_kind(StepKind::Forget).word_for("x"), "pruning");
    }

    fn plan_view(kinds: &[(StepKind, &str)]) -> RunView {
        let mut v = RunView::default();
        for (i, (k, n)) in kinds.iter().enumerate() {
            v.apply(&Event::StepFinished {
                step: i,
                node: n.to_string(),
                kind: *k,
                title: format!("{k} {n}"),
                outcome: Outcome::Skipped { reason: "".into() },
            });
        }
        for s in &mut v.steps {
            s.status = StepStatus::Waiting;
        }
        v
    }

    #[test]
    fn the_run_bar_weighs_steps_by_their_past_and_scales_by_this_runs_pace() {
        let expected = Expected::from_history([
            (
                "laptop".into(),
                StepKind::Backup,
                "backup laptop".into(),
                100.0,
            ),
            ("home".into(), StepKind::Backup, "backup home".into(), 300.0),
            // An older run: the newest one counts for the step.
            ("home".into(), StepKind::Backup, "backup home".into(), 900.0),
        ]);
        assert_eq!(
            expected.secs("home", StepKind::Backup, "backup home"),
            300.0
        );
        assert_eq!(
            expected.secs("vps", StepKind::Backup, "backup vps"),
            300.0,
            "a step never run: the median of its kind"
        );
        assert_eq!(expected.secs("vps", StepKind::Check, "check vps"), 20.0);

        let mut v = plan_view(&[(StepKind::Backup, "laptop"), (StepKind::Backup, "home")]);
        let t0 = Instant::now();
        let o = overall(&v, &expected, 1, t0);
        assert_eq!((o.fraction, o.left), (0.0, None), "nothing to go by yet");

        // laptop's backup took 200 s where 100 were expected: this run goes at half
        // the pace, so home's 300 s are foreseen as 600.
        v.steps[0].status = StepStatus::Finished(Outcome::Passed);
        let start = chrono::Local::now();
        v.steps[0].started = Some(start);
        v.steps[0].finished = Some(start + chrono::Duration::seconds(200));
        let o = overall(&v, &expected, 1, t0);
        assert_eq!(o.fraction, 0.25);
        assert_eq!(o.left, Some(Duration::from_secs(600)));

        // home runs and says it is half done with 120 s left: its own word counts.
        v.steps[1].status = StepStatus::Running;
        v.steps[1].since = Some(t0);
        v.steps[1].progress = Some((50, 100));
        v.steps[1].eta_secs = Some(120);
        let o = overall(&v, &expected, 1, secs(t0, 100));
        assert_eq!(o.fraction, (100.0 + 150.0) / 400.0);
        assert_eq!(o.left, Some(Duration::from_secs(120)));

        // Without figures, a running step counts by its time, never quite done.
        v.steps[1].progress = None;
        v.steps[1].eta_secs = None;
        let o = overall(&v, &expected, 1, secs(t0, 1000));
        assert_eq!(o.fraction, (100.0 + 300.0 * 0.95) / 400.0);
    }

    #[test]
    fn words_for_time_and_stalls() {
        assert_eq!(human_left(Duration::from_secs(4)), "a few seconds left");
        assert_eq!(human_left(Duration::from_secs(45)), "45 s left");
        assert_eq!(human_left(Duration::from_secs(61)), "2 min left");
        assert_eq!(human_left(Duration::from_secs(4000)), "1 h 6 min left");
        assert_eq!(
            stalled_text(75, "restic on home"),
            "stalled — no progress for 75 s, waiting on restic on home"
        );
        assert_eq!(
            stalled_text(600, "x"),
            "stalled — no progress for 10 min, waiting on x"
        );
    }
}
