//! How engine events cross from the run's threads to the Qt thread: in batches.
//!
//! The engine's sink pushes each event into a shared vector. Only the first event of a
//! batch asks the Qt thread to drain it (one queued call); every event that arrives while
//! that call waits joins the same batch. So the Qt thread does one model update per batch,
//! however fast the engine talks, and the event loop keeps running between batches.
//! When the Qt thread falls far behind, producers wait (bounded memory) instead of piling
//! up events.

use crate::engine::events::{Event, Sink};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Events waiting beyond this make producers wait for the Qt thread.
pub const MAX_PENDING: usize = 50_000;

struct Pending {
    events: Vec<Event>,
    /// A drain has been asked for and has not run yet.
    queued: bool,
    /// The window is gone: events are dropped.
    closed: bool,
}

/// The shared batch. `wake` asks the Qt thread to call [`Intake::take`]; it returns false
/// when the window no longer exists.
pub struct Intake {
    pending: Mutex<Pending>,
    drained: Condvar,
    wake: Box<dyn Fn() -> bool + Send + Sync>,
}

impl Intake {
    pub fn new(wake: impl Fn() -> bool + Send + Sync + 'static) -> Intake {
        Intake {
            pending: Mutex::new(Pending {
                events: Vec::new(),
                queued: false,
                closed: false,
            }),
            drained: Condvar::new(),
            wake: Box::new(wake),
        }
    }

    /// Adds one event to the current batch. Call it from any thread but the Qt thread
    /// when many events may come (it can wait for the Qt thread to catch up).
    pub fn push(&self, event: Event) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        while p.events.len() >= MAX_PENDING && !p.closed {
            p = self
                .drained
                .wait_timeout(p, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        if p.closed {
            return;
        }
        p.events.push(event);
        if !p.queued {
            p.queued = true;
            drop(p);
            if !(self.wake)() {
                self.close();
            }
        }
    }

    /// Takes the batch (on the Qt thread, from the queued call).
    pub fn take(&self) -> Vec<Event> {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.queued = false;
        let events = std::mem::take(&mut p.events);
        drop(p);
        self.drained.notify_all();
        events
    }

    /// Stops accepting events (the window closed).
    pub fn close(&self) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.closed = true;
        p.events = Vec::new();
        drop(p);
        self.drained.notify_all();
    }
}

/// The engine's sink for a run shown in the window.
pub struct IntakeSink(pub std::sync::Arc<Intake>);

impl Sink for IntakeSink {
    fn emit(&self, event: Event) {
        self.0.push(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn progress(done: u64) -> Event {
        Event::Progress {
            step: 0,
            done,
            total: 10,
        }
    }

    #[test]
    fn one_wake_per_batch() {
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = wakes.clone();
        let intake = Intake::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
            true
        });
        for i in 0..5 {
            intake.push(progress(i));
        }
        assert_eq!(wakes.load(Ordering::SeqCst), 1);
        assert_eq!(intake.take().len(), 5);
        intake.push(progress(6));
        assert_eq!(wakes.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_closed_window_drops_events() {
        let intake = Intake::new(|| false);
        intake.push(progress(1));
        intake.push(progress(2));
        assert!(intake.take().is_empty());
    }
}
