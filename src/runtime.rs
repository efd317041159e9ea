//! The tokio runtimes wbackup starts, built in one place so that the command line and the
//! window run the engine on the same kind of runtime (two worker threads: the engine's
//! work is waiting on processes, and the machine is shared with what it backs up).

use tokio::runtime::{Builder, Runtime};

/// The runtime a run of the engine executes on (`wbackup run`, the window's Backup all).
pub fn engine() -> std::io::Result<Runtime> {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// A runtime on the calling thread, for one small job: fetching records, watching signals.
pub fn current_thread() -> std::io::Result<Runtime> {
    Builder::new_current_thread().enable_all().build()
}
