//! `wbackup init`: a commented starter configuration, or with `--from` the configuration
//! and records of a lost orchestrator, brought back from a node that kept them.

use crate::config;
use crate::engine;
use crate::error::{self, Error, Exit};
use std::io::Write;

/// `wbackup init`: a commented starter configuration, never over an existing file.
pub(super) fn init(explicit: Option<&std::path::Path>) -> error::Result {
    let (path, _) = config::locate(explicit);
    if path.exists() {
        return Err(Error::Failed(format!(
            "{} already exists; nothing was written (edit it, or remove it first)",
            path.display()
        )));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Failed(format!("cannot create {}: {e}", dir.display())))?;
    }
    let text = config::starter_file(&config::local_node_name());
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| Error::Failed(format!("cannot write {}: {e}", path.display())))?;
    println!(
        "wrote {}; edit it, then check it with `wbackup plan`",
        path.display()
    );
    Ok(Exit::Ok)
}

/// `wbackup init --from ADDRESS`: the configuration and records kept on that node.
pub(super) fn init_from(
    explicit: Option<&std::path::Path>,
    from: engine::records::Source,
) -> error::Result {
    if from.address.is_empty() || from.address.starts_with('-') {
        return Err(Error::Usage(format!(
            "--from {:?} is not an ssh destination (a host name, user@host or an alias)",
            from.address
        )));
    }
    let (path, _) = config::locate(explicit);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let done = rt
        .block_on(engine::records::fetch(&path, &from))
        .map_err(Error::Failed)?;
    println!("{done}");
    Ok(Exit::Ok)
}
