//! The engine executes a `Plan` and reports what happens as `Event`s.
//!
//! Steps run in plan order, one at a time unless the plan asks for more (`--jobs N`): then
//! consecutive steps of one kind (prepare, init, backup, check, forget: one per node) run up
//! to N at a time, each on its own node; replication steps always run one at a time, since
//! they relay through the orchestrator's copy. Until restic has accepted the password once,
//! steps run alone, so a typo is reported once. A failed step never stops another node's
//! independent steps: a node that cannot be reached skips its own steps; a repository
//! whose check failed is neither pruned nor replicated. A refused password ends the run
//! at once, before anything is written. Cancellation interrupts the running process on
//! its node (restic removes its lock) and marks the rest of the plan interrupted.

pub mod checkup;
pub mod events;
mod found;
pub mod heal;
pub mod node;
mod preflight;
pub mod prepare;
pub mod process;
pub mod progress;
pub mod records;
pub mod recover;
pub mod replication;
pub mod restic;
mod run;
pub mod runlock;
pub mod runview;
#[cfg(test)]
pub(crate) mod shtest;
mod steps;
mod turns;
pub mod verify;

pub(crate) use preflight::human_kb;

use crate::config::Config;
use crate::logbook::Logbook;
use crate::plan::{Plan, Step, StepKind};
use events::{Event, Fanout, Outcome, RunStatus, Sink};
use replication::ledger;
use run::Run;
use secrecy::SecretString;
use std::cell::RefCell;
use std::rc::Rc;
use tokio_util::sync::CancellationToken;

/// True when the orchestrator holds no repository yet (its own or a copy): a run may then
/// create the first repositories with the password typed, and nothing can check that
/// password, so the window and the terminal ask for it twice. After any run that
/// replicated, the orchestrator holds every repository.
pub fn holds_no_repository(config: &Config) -> bool {
    let base = config.local_base_dir();
    !config
        .nodes
        .iter()
        .any(|owner| base.join(&owner.name).join("restic/config").exists())
}

/// How a run ended, step by step.
#[derive(Debug, Clone)]
pub struct Report {
    pub status: RunStatus,
    pub outcomes: Vec<Outcome>,
}

/// Executes `plan`. Events go to `sink` and to the run's log under the orchestrator's
/// `<base_dir>/logs`.
pub async fn execute(
    config: &Config,
    plan: &Plan,
    password: &SecretString,
    cancel: CancellationToken,
    sink: Box<dyn Sink>,
) -> Report {
    // Before anything else: a second run at once is refused by its first step, and so is
    // a run that could not be recorded (no lock, no log, no ledger of what forget removed:
    // a forget whose record is lost would stop replication until --accept-shrink).
    let lock = runlock::acquire(&runlock::lock_dir(config));
    let logbook = Logbook::open(config, plan);
    let unrecordable = match (&lock, &logbook, ledger::writable(config)) {
        (Err(e), _, _) => Some(format!(
            "cannot take the run lock in {}: {e}",
            runlock::lock_dir(config).display()
        )),
        (_, Err(e), _) => Some(format!(
            "cannot write the run log in {}: {e}",
            crate::logbook::logs_dir(config).display()
        )),
        (_, _, Err(e)) => Some(format!(
            "cannot write {}: {e}",
            ledger::dir(config).display()
        )),
        _ => None,
    };
    let log_path = logbook.as_ref().ok().map(|l| l.log_path().to_path_buf());
    let summary_path = logbook
        .as_ref()
        .ok()
        .map(|l| l.summary_path().to_path_buf());
    let mut sinks: Vec<Box<dyn Sink>> = vec![];
    if let Ok(l) = logbook {
        sinks.push(Box::new(l));
    }
    sinks.push(sink);
    let sink = progress::Metered::new(Fanout(sinks));

    let run = Run {
        config,
        plan,
        password,
        cancel,
        sink: &sink,
        state: RefCell::default(),
    };
    sink.emit(Event::RunStarted {
        run_id: chrono::Local::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
        log_path,
        steps: plan.steps.len(),
    });
    let _lock = match lock {
        Ok(runlock::Acquired::Held(l)) => Some(l),
        Ok(runlock::Acquired::Busy(who)) => {
            run.st().refused = Some((
                format!("{who} is still in progress on this machine; wait for it to finish (or stop it), then run again"),
                run::Halt::AnotherRun,
            ));
            None
        }
        Err(_) => None,
    };
    if let Some(why) = unrecordable {
        run.st().refused = Some((
            format!(
                "{why}; nothing was run, since a run that cannot be recorded could lose track of what it removed: make {} writable (a disk mounted read-only, full, or not yours?) and run again",
                config.local_base_dir().display()
            ),
            run::Halt::Unrecordable,
        ));
    }

    let mut outcomes = Vec::new();
    let steps = async {
        for wave in waves(&plan.steps) {
            outcomes.extend(run.wave(wave).await);
        }
    };
    // The watch never ends by itself: it goes when the steps are done.
    tokio::select! {
        () = steps => {}
        () = sink.watch() => unreachable!("the stall watch runs until the steps end"),
    }
    let status = if run.cancel.is_cancelled() {
        RunStatus::Interrupted
    } else if outcomes.iter().all(Outcome::is_ok) {
        RunStatus::Passed
    } else {
        RunStatus::Failed
    };
    let state = run.state.into_inner();
    for (_, c) in state.conns {
        if let Ok(c) = Rc::try_unwrap(c) {
            c.close().await;
        }
    }
    if let Some(d) = &state.control_dir {
        let _ = std::fs::remove_dir_all(d);
    }
    sink.emit(Event::RunFinished {
        status,
        summary_path,
    });
    Report { status, outcomes }
}

/// Consecutive steps that may run side by side: one kind, each on its own node.
/// Replication steps share nodes, so their hops take turns on each node (`run::Transfers`);
/// heal steps come one per wave (they may relay through the orchestrator).
fn waves(steps: &[Step]) -> Vec<&[Step]> {
    let mut out = vec![];
    let mut rest = steps;
    while let Some(first) = rest.first() {
        let len = if first.kind == StepKind::Heal {
            1
        } else {
            rest.iter().take_while(|s| s.kind == first.kind).count()
        };
        let (wave, tail) = rest.split_at(len);
        out.push(wave);
        rest = tail;
    }
    out
}
