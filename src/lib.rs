//! wbackup: a personal backup orchestrator. restic backs up every node, rsync carries the
//! repositories between nodes as files, and every node ends up holding a verified copy
//! of every repository. This crate holds the engine, the command line and the window.

pub mod cli;
pub mod config;
pub mod copies;
pub mod desktop;
pub mod engine;
pub mod error;
pub mod gui;
pub mod links;
pub mod logbook;
pub mod password;
pub mod plan;
pub mod problems;
#[cfg(test)]
mod props;
pub mod restore;
pub mod runtime;
pub mod shell;
pub mod starter;
