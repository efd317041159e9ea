//! `wbackup init`: a commented starter configuration, or with `--from` the configuration
//! and records of a lost orchestrator, brought back from a node that kept them.

use crate::config;
use crate::engine;
use crate::error::{self, Error, Exit};

/// `wbackup init`: a commented starter configuration, never over an existing file.
pub(super) fn init(explicit: Option<&std::path::Path>) -> error::Result {
    let (path, _) = config::locate(explicit);
    crate::starter::write(&path, &config::local_node_name())
        .map_err(|e| Error::Failed(e.to_string()))?;
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
    let rt = crate::runtime::current_thread().expect("tokio runtime");
    let done = rt
        .block_on(engine::records::fetch(&path, &from))
        .map_err(Error::Failed)?;
    println!("{done}");
    Ok(Exit::Ok)
}
