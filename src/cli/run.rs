//! The commands that run restic on the nodes: `run` (the plan, as `wbackup plan` shows
//! it) and `verify` (restore drills of the copies, recorded in the proof ledger).

use super::args::{PasswordArgs, Selection};
use super::password::password_and_signals;
use super::printer::{JsonPrinter, Printer, ProofPrinter};
use crate::config::Config;
use crate::engine;
use crate::engine::events::{Event, Fanout, Sink};
use crate::engine::node;
use crate::engine::runview::RunView;
use crate::error::{self, Error, Exit};
use crate::plan::Plan;
use secrecy::SecretString;
use std::io::Write;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// `wbackup run`: checks the flags against the plan, gets the password, runs the plan.
pub(super) fn run(
    rt: &tokio::runtime::Runtime,
    config: &Config,
    select: &Selection,
    json: bool,
    accept_shrink: Vec<String>,
    password: &PasswordArgs,
) -> error::Result {
    let plan = select
        .plan(config, &accept_shrink)
        .map_err(|e| Error::Usage(e.to_string()))?;
    let confirm = engine::holds_no_repository(config);
    let (secret, cancel) = password_and_signals(rt, password, confirm)?;
    Ok(rt.block_on(execute(config, &plan, secret, json, cancel)))
}

/// `wbackup verify`: checks the selection, gets the password, proves the copies.
pub(super) fn verify(
    rt: &tokio::runtime::Runtime,
    config: &Config,
    nodes: &[String],
    repos: &[String],
    json: bool,
    password: &PasswordArgs,
) -> error::Result {
    let known = |n: &String| config.node(n).is_some() || config.bucket(n).is_some();
    let owners = |r: &String| config.node(r).is_some_and(|n| !n.is_storage());
    if let Some(bad) = nodes.iter().find(|n| !known(n)) {
        return Err(Error::Usage(format!(
            "--node {bad:?}: no such node in {}",
            config.path().display()
        )));
    }
    if let Some(bad) = repos.iter().find(|r| !owners(r)) {
        return Err(Error::Usage(format!("--repo {bad:?}: no node of that name backs up (repositories are named after the node they belong to)")));
    }
    let (secret, cancel) = password_and_signals(rt, password, false)?;
    rt.block_on(prove(config, nodes, repos, json, secret, cancel))
}

async fn execute(
    config: &Config,
    plan: &Plan,
    password: SecretString,
    json: bool,
    cancel: CancellationToken,
) -> Exit {
    let printer: Box<dyn Sink> = if json {
        Box::new(JsonPrinter)
    } else {
        Box::new(Printer)
    };
    // The run as its events tell it, for the problems summary at the end.
    let view = Arc::new(Mutex::new(RunView::of_plan(plan)));
    let seen = view.clone();
    let reader = move |e: Event| {
        if let Ok(mut v) = seen.lock() {
            v.apply(&e);
        }
    };
    let sink = Box::new(Fanout(vec![printer, Box::new(reader)]));
    // Held until this function returns, however the run ends.
    let _awake = crate::desktop::Inhibitor::for_run().await;
    let report = engine::execute(config, plan, &password, cancel, sink).await;
    let problems = view
        .lock()
        .map(|v| crate::problems::of_view(&v))
        .unwrap_or_default();
    if !json && !problems.is_empty() {
        // stdout may be a terminal that hung up: never panic on it.
        let _ = write!(
            std::io::stdout(),
            "problems:\n{}",
            crate::problems::render(&problems)
        );
    }
    report.status.into()
}
/// Every selected copy drilled on its holder, every result recorded in the proof ledger.
async fn prove(
    config: &Config,
    nodes: &[String],
    repos: &[String],
    json: bool,
    password: SecretString,
    cancel: CancellationToken,
) -> error::Result {
    // One run or verification at a time: a drill must not race a run's replication.
    let _lock = match engine::runlock::acquire(&engine::runlock::lock_dir(config)) {
        Ok(engine::runlock::Acquired::Held(l)) => l,
        Ok(engine::runlock::Acquired::Busy(who)) => {
            return Err(Error::Failed(format!("{who} is still in progress on this machine; wait for it to finish (or stop it), then verify again")));
        }
        Err(e) => {
            return Err(Error::Failed(format!(
                "cannot take the run lock in {}: {e}",
                engine::runlock::lock_dir(config).display()
            )));
        }
    };
    let conns = node::Connections::open(config).await;
    let mut reached = std::collections::HashMap::new();
    let mut unreachable = std::collections::HashMap::new();
    for (name, c) in &conns.nodes {
        match c {
            Ok(conn) => {
                reached.insert(name.clone(), conn);
            }
            Err(u) => {
                unreachable.insert(name.clone(), u.to_string());
            }
        }
    }
    // A bucket's copies are read by the uploading node.
    let holders: Vec<String> = config
        .nodes
        .iter()
        .map(|n| &n.name)
        .chain(config.buckets.iter().map(|b| &b.name))
        .filter(|n| nodes.is_empty() || nodes.contains(n))
        .cloned()
        .collect();
    let owners: Vec<String> = config
        .nodes
        .iter()
        .filter(|n| !n.is_storage() && (repos.is_empty() || repos.contains(&n.name)))
        .map(|n| n.name.clone())
        .collect();
    let verifier = engine::verify::Verifier {
        config,
        conns: reached,
        unreachable,
        password: &password,
        cancel: &cancel,
    };
    let ledger = engine::verify::load_ledger(config);
    let mut printer = ProofPrinter { json };
    let mut all = vec![];
    for r in &owners {
        let proofs = verifier
            .repository(r, &holders, &ledger, &mut printer)
            .await;
        if let Err(e) = engine::verify::record(config, &proofs) {
            eprintln!(
                "error: cannot write the proof ledger {}: {e}",
                engine::verify::ledger_path(config).display()
            );
        }
        all.extend(proofs);
        if cancel.is_cancelled() {
            break;
        }
    }
    drop(verifier);
    conns.close().await;
    if json {
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
    }
    if cancel.is_cancelled() {
        return Ok(Exit::Interrupted);
    }
    let proven = all.iter().filter(|p| p.proven).count();
    if !json {
        println!("{proven} of {} copies proven", all.len());
    }
    Ok(if proven == all.len() {
        Exit::Ok
    } else {
        Exit::Failed
    })
}
