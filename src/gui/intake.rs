//! How engine events cross from the run's threads to the Qt thread: in batches.
//!
//! The engine's sink pushes each event into a shared vector. Only the first event of a
//! batch asks the Qt thread to drain it (one queued call); every event that arrives while
//! that call waits joins the same batch. So the Qt thread does one model update per batch,
//! however fast the engine talks, and the event loop keeps running between batches.
//! A drain takes at most [`MAX_BATCH`] events and asks for another drain when more wait,
//! so input and painting get their turn between batches even when the engine floods.
//! When the Qt thread falls far behind, producers wait (bounded memory) instead of piling
//! up events.

use crate::engine::events::{Event, Sink};
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Events waiting beyond this make producers wait for the Qt thread.
pub const MAX_PENDING: usize = 50_000;

/// The most events one drain applies before the event loop runs again.
pub const MAX_BATCH: usize = 8_192;

struct Pending {
    events: VecDeque<Event>,
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
    /// Set while the run waits to be told to go on without the nodes that failed their
    /// checks ("Continue without"); dropped, it stops the run.
    answer: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl Intake {
    pub fn new(wake: impl Fn() -> bool + Send + Sync + 'static) -> Intake {
        Intake {
            pending: Mutex::new(Pending {
                events: VecDeque::new(),
                queued: false,
                closed: false,
            }),
            drained: Condvar::new(),
            wake: Box::new(wake),
            answer: Mutex::new(None),
        }
    }

    /// Tells a waiting run to go on without the nodes that failed their checks. False
    /// when no run waits.
    pub fn go_on(&self) -> bool {
        let sender = self.answer.lock().unwrap_or_else(|e| e.into_inner()).take();
        sender.is_some_and(|s| s.send(()).is_ok())
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
        p.events.push_back(event);
        if !p.queued {
            p.queued = true;
            drop(p);
            if !(self.wake)() {
                self.close();
            }
        }
    }

    /// Takes the next batch (on the Qt thread, from the queued call): at most `max`
    /// events. When more wait, another drain has already been asked for.
    pub fn take(&self, max: usize) -> Vec<Event> {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let n = p.events.len().min(max);
        let events: Vec<Event> = p.events.drain(..n).collect();
        let more = !p.events.is_empty() && !p.closed;
        p.queued = more;
        drop(p);
        self.drained.notify_all();
        if more && !(self.wake)() {
            self.close();
        }
        events
    }

    /// Stops accepting events (the window closed).
    pub fn close(&self) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.closed = true;
        p.events = VecDeque::new();
        drop(p);
        self.drained.notify_all();
        // A run waiting for an answer gets none: it stops.
        self.answer.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// The engine's sink for a run shown in the window.
pub struct IntakeSink(pub std::sync::Arc<Intake>);

impl Sink for IntakeSink {
    fn emit(&self, event: Event) {
        self.0.push(event);
    }

    /// The window has a say: the run waits for "Continue without" (or Stop).
    fn ask(&self) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        *self.0.answer.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        Some(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn progress(done: u64) -> Event {
        Event::progress(
            0,
            "home",
            crate::engine::events::Activity::Uploading,
            done,
            10,
        )
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
        assert_eq!(intake.take(MAX_BATCH).len(), 5);
        intake.push(progress(6));
        assert_eq!(wakes.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_large_batch_is_taken_in_parts() {
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = wakes.clone();
        let intake = Intake::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
            true
        });
        for i in 0..5 {
            intake.push(progress(i));
        }
        assert_eq!(intake.take(3).len(), 3);
        assert_eq!(wakes.load(Ordering::SeqCst), 2, "asks for the next part");
        assert_eq!(intake.take(3).len(), 2);
        intake.push(progress(9));
        assert_eq!(wakes.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_closed_window_drops_events() {
        let intake = Intake::new(|| false);
        intake.push(progress(1));
        intake.push(progress(2));
        assert!(intake.take(MAX_BATCH).is_empty());
    }
}
