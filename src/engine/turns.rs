//! Turns to send and receive: at most `per_node` transfers into and out of each node at
//! once (one, unless the user raises `[replication] transfers_per_node`), so that copies
//! side by side share a node's link instead of splitting it into many slow ones.
//!
//! When a turn frees up and several transfers wait for it, they go in the order the plan
//! played the run out in, when the steps' copies were planned together
//! (`links::schedule`): the plan's trees were chosen for that order, and a copy that
//! grabs a turn out of it can leave the copy planned there waiting for its whole length.
//! Without such a plan, the one with the most work still behind it goes first, not
//! whichever woke first: the copies still to come into its target and out of its source
//! (`expect`), plus the copies its target feeds next in its step. So the laptop that must
//! still take in five repositories keeps its slow link busy from the start, and a copy
//! that feeds a chain starts before one that feeds nothing. Either way, a transfer that
//! cannot go now (one of its nodes busy) never holds back one that can.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

/// One direction of a node: (node, sending).
type Way = (String, bool);

/// The copies going into and out of each node at once, at most `per_node` each way: a
/// transfer (a hop's rsync, an upload) waits until both its source may send and its
/// target may receive, and takes both at once (so two transfers never wait on each other).
pub(crate) struct Transfers {
    per_node: usize,
    book: RefCell<Book>,
    freed: tokio::sync::Notify,
}

#[derive(Default)]
struct Book {
    /// Transfers under way, per way.
    busy: HashMap<Way, usize>,
    /// The work of the copies still to come, per way (seconds a byte, or any one unit).
    load: HashMap<Way, f64>,
    /// By (repository, target): the work the copy feeds in its step, and its place in the
    /// plan when the steps' copies were planned together.
    copies: HashMap<(String, String), (f64, Option<usize>)>,
    /// Transfers waiting for their turn, in the order they came.
    waiting: BTreeMap<u64, Waiting>,
    next: u64,
}

struct Waiting {
    ways: Vec<Way>,
    key: (String, String),
}

impl Book {
    fn free(&self, ways: &[Way], per_node: usize) -> bool {
        ways.iter()
            .all(|w| self.busy.get(w).copied().unwrap_or(0) < per_node)
    }

    /// How much work waits behind a transfer: the copies still to come through its two
    /// ways, and what its target feeds next.
    fn behind(&self, w: &Waiting) -> f64 {
        let load: f64 = w
            .ways
            .iter()
            .map(|k| self.load.get(k).copied().unwrap_or(0.0))
            .sum();
        load + self.copies.get(&w.key).map_or(0.0, |c| c.0)
    }

    /// Whether waiting transfer `a` goes before `b`: copies in the plan's order first
    /// (when their steps were planned together), then the most work behind, then the
    /// first come. One order for all, so that there is always a first.
    fn ahead(&self, (a, wa): (u64, &Waiting), (b, wb): (u64, &Waiting)) -> bool {
        let rank = |w: &Waiting| self.copies.get(&w.key).and_then(|c| c.1);
        match (rank(wa), rank(wb)) {
            (Some(x), Some(y)) if x != y => x < y,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            _ => {
                let (x, y) = (self.behind(wa), self.behind(wb));
                x > y || (x == y && a < b)
            }
        }
    }

    /// Whether the waiting transfer `id` may take its turn now: its ways are free, and no
    /// transfer that shares one of them, could go now too and goes before it (`ahead`) is
    /// waiting.
    fn first(&self, id: u64, per_node: usize) -> bool {
        let me = &self.waiting[&id];
        if !self.free(&me.ways, per_node) {
            return false;
        }
        !self.waiting.iter().any(|(&o, w)| {
            o != id
                && w.ways.iter().any(|k| me.ways.contains(k))
                && self.free(&w.ways, per_node)
                && self.ahead((o, w), (id, me))
        })
    }
}

/// A hop's place in `Transfers`, given back when dropped.
pub(crate) struct Slot {
    transfers: Rc<Transfers>,
    ways: Vec<Way>,
}

/// A copy still to come (`Transfers::expect`), forgotten when dropped.
pub(crate) struct Expected {
    transfers: Rc<Transfers>,
    ways: Vec<Way>,
    work: f64,
    key: (String, String),
}

/// A transfer's place in the queue, left when it takes its turn or is dropped.
struct Queued<'t> {
    transfers: &'t Transfers,
    id: u64,
}

impl Transfers {
    pub(crate) fn new(per_node: usize) -> Transfers {
        Transfers {
            per_node: per_node.max(1),
            book: RefCell::default(),
            freed: tokio::sync::Notify::new(),
        }
    }

    /// A copy of `repo` from `from` into `to` that this run will make: `work` (its
    /// seconds as measured, in any one unit for all) counts for the transfers that wait on
    /// `from` sending or `to` receiving, and `feeds` (the work of the copies fed from
    /// `to`'s copy in the step) and `rank` (its place in a plan of all the steps' copies)
    /// for the copy itself, until the copy ends (the returned value is dropped).
    pub(crate) fn expect(
        self: &Rc<Self>,
        (repo, from, to): (&str, &str, &str),
        work: f64,
        feeds: f64,
        rank: Option<usize>,
    ) -> Expected {
        let ways = vec![(from.to_string(), true), (to.to_string(), false)];
        let key = (repo.to_string(), to.to_string());
        let mut book = self.book.borrow_mut();
        for w in &ways {
            *book.load.entry(w.clone()).or_default() += work;
        }
        book.copies.insert(key.clone(), (feeds, rank));
        Expected {
            transfers: self.clone(),
            ways,
            work,
            key,
        }
    }

    /// Waits until `from` may send and `to` may receive and no transfer with more work
    /// behind it waits for either, then holds both. `repo`'s copy on `to` is what is carried.
    pub(crate) async fn take(self: &Rc<Self>, repo: &str, from: &str, to: &str) -> Slot {
        let ways = vec![(from.to_string(), true), (to.to_string(), false)];
        let queued = {
            let mut book = self.book.borrow_mut();
            let id = book.next;
            book.next += 1;
            book.waiting.insert(
                id,
                Waiting {
                    ways: ways.clone(),
                    key: (repo.to_string(), to.to_string()),
                },
            );
            Queued {
                transfers: self,
                id,
            }
        };
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut book = self.book.borrow_mut();
                if book.first(queued.id, self.per_node) {
                    for w in &ways {
                        *book.busy.entry(w.clone()).or_default() += 1;
                    }
                    book.waiting.remove(&queued.id);
                    std::mem::forget(queued);
                    return Slot {
                        transfers: self.clone(),
                        ways,
                    };
                }
            }
            freed.await;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut book = self.transfers.book.borrow_mut();
        for k in &self.ways {
            if let Some(n) = book.busy.get_mut(k) {
                *n = n.saturating_sub(1);
            }
        }
        drop(book);
        self.transfers.freed.notify_waiters();
    }
}

impl Drop for Expected {
    fn drop(&mut self) {
        let mut book = self.transfers.book.borrow_mut();
        for w in &self.ways {
            if let Some(l) = book.load.get_mut(w) {
                *l = (*l - self.work).max(0.0);
            }
        }
        book.copies.remove(&self.key);
        drop(book);
        // Priorities changed: a waiting transfer may be first now.
        self.transfers.freed.notify_waiters();
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        // Gave up waiting (cancelled): the transfers it held back may go.
        self.transfers.book.borrow_mut().waiting.remove(&self.id);
        self.transfers.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::Pin;

    #[tokio::test]
    async fn a_hop_waits_until_its_source_may_send_and_its_target_may_receive() {
        let t = Rc::new(Transfers::new(1));
        let first = t.take("r", "home", "server").await;
        // Another node's copy into home, and server's out to laptop, share no direction.
        let into_home = t.take("r", "laptop", "home").await;
        let out_of_server = t.take("r", "server", "laptop_b").await;
        drop((into_home, out_of_server));
        // home → laptop must wait for home's first copy out to end.
        let waiting = t.take("r", "home", "laptop");
        tokio::pin!(waiting);
        assert!(!ready(waiting.as_mut()), "two copies out of home at once");
        drop(first);
        assert!(
            ready(waiting.as_mut()),
            "home's turn came when its copy ended"
        );
        // Raised by the user: two at once.
        let two = Rc::new(Transfers::new(2));
        let _a = two.take("r", "home", "server").await;
        let _b = two.take("r", "home", "laptop").await;
    }

    #[tokio::test]
    async fn a_freed_turn_goes_to_the_copy_with_the_most_work_behind_it() {
        let t = Rc::new(Transfers::new(1));
        // laptop must still take in three copies, nas one; vps's copy into nas feeds
        // office's in its step.
        let _e = [
            t.expect(("vps", "vps", "laptop"), 1.0, 0.0, None),
            t.expect(("home", "server", "laptop"), 1.0, 0.0, None),
            t.expect(("nas", "server", "laptop"), 1.0, 0.0, None),
            t.expect(("vps", "vps", "nas"), 1.0, 0.0, None),
            t.expect(("server", "vps", "nas"), 1.0, 0.0, None),
            t.expect(("server", "nas", "office"), 1.0, 0.0, None),
        ];
        let busy = t.take("x", "vps", "somewhere").await;
        // Came first, least behind it: vps → nas of vps's repository (nas: 2 to come);
        // laptop has 3 to come.
        let laptop = ("vps", "vps", "laptop");
        assert_eq!(goes_first(&t, busy, ("vps", "vps", "nas"), laptop), laptop);

        // What a copy feeds counts: server's repository into nas, which then feeds office,
        // goes before vps's own (as much load on the ways otherwise).
        let t2 = Rc::new(Transfers::new(1));
        let _f = [
            t2.expect(("vps", "vps", "nas"), 1.0, 0.0, None),
            t2.expect(("server", "vps", "nas"), 1.0, 1.0, None),
        ];
        let busy = t2.take("x", "vps", "elsewhere").await;
        let feeding = ("server", "vps", "nas");
        assert_eq!(
            goes_first(&t2, busy, feeding, ("vps", "vps", "nas")),
            feeding
        );
    }

    #[tokio::test]
    async fn copies_planned_together_take_their_turns_in_the_plans_order() {
        let t = Rc::new(Transfers::new(1));
        // Planned: vps's own copy into nas first, though laptop has more still to come.
        let _e = [
            t.expect(("vps", "vps", "nas"), 1.0, 0.0, Some(0)),
            t.expect(("home", "vps", "laptop"), 1.0, 0.0, Some(1)),
            t.expect(("nas", "server", "laptop"), 1.0, 0.0, Some(2)),
        ];
        let busy = t.take("x", "vps", "somewhere").await;
        let to_nas = ("vps", "vps", "nas");
        assert_eq!(
            goes_first(&t, busy, ("home", "vps", "laptop"), to_nas),
            to_nas
        );

        // A transfer outside the plan (a bucket upload, a relay taking over) comes after
        // the planned ones, whatever its work: one order for all, so one always goes.
        let t2 = Rc::new(Transfers::new(1));
        let _f = [t2.expect(("vps", "vps", "nas"), 1.0, 0.0, Some(3))];
        let busy = t2.take("x", "vps", "elsewhere").await;
        assert_eq!(goes_first(&t2, busy, ("", "vps", "bucket"), to_nas), to_nas);
    }

    #[tokio::test]
    async fn a_copy_that_cannot_go_never_holds_back_one_that_can() {
        let t = Rc::new(Transfers::new(1));
        let _e = [
            t.expect(("a", "vps", "laptop"), 5.0, 0.0, None),
            t.expect(("b", "vps", "nas"), 1.0, 0.0, None),
        ];
        let out = t.take("x", "vps", "somewhere").await;
        // laptop still receives: the copy with more behind it cannot go, the other goes.
        let _into_laptop = t.take("y", "home", "laptop").await;
        let small = ("b", "vps", "nas");
        assert_eq!(goes_first(&t, out, ("a", "vps", "laptop"), small), small);

        // A waiting copy that gives up lets the one it held back go.
        let t2 = Rc::new(Transfers::new(1));
        let _f = [t2.expect(("a", "vps", "laptop"), 5.0, 0.0, None)];
        let busy = t2.take("x", "vps", "elsewhere").await;
        let first = Box::pin(t2.take("a", "vps", "laptop"));
        let mut first = Some(first);
        assert!(!ready(first.as_mut().unwrap().as_mut()));
        let second = t2.take("b", "vps", "nas");
        tokio::pin!(second);
        assert!(!ready(second.as_mut()));
        drop(busy);
        assert!(!ready(second.as_mut()), "the first in line goes first");
        first = None;
        assert!(first.is_none());
        assert!(ready(second.as_mut()), "cancelled: the next goes");
    }

    /// A copy waiting for its turn: (repository, from, to).
    type Copy<'a> = (&'a str, &'a str, &'a str);

    /// `a`, then `b`, wait for their turn while `busy` holds one of their ways; once it is
    /// let go, which of the two goes (the other still waits).
    fn goes_first<'a>(t: &Rc<Transfers>, busy: Slot, a: Copy<'a>, b: Copy<'a>) -> Copy<'a> {
        let fa = t.take(a.0, a.1, a.2);
        tokio::pin!(fa);
        let fb = t.take(b.0, b.1, b.2);
        tokio::pin!(fb);
        assert!(
            !ready(fa.as_mut()) && !ready(fb.as_mut()),
            "busy, yet one went"
        );
        drop(busy);
        // Polled in the order they came, as the executor would after a wake; a turn taken
        // is held meanwhile.
        let (ta, tb) = (taken(fa.as_mut()), taken(fb.as_mut()));
        match (ta.is_some(), tb.is_some()) {
            (true, false) => a,
            (false, true) => b,
            both => panic!("not one of {a:?}, {b:?} went alone: {both:?}"),
        }
    }

    /// The turn, when the waiting transfer takes it as polled once now.
    fn taken<F: Future<Output = Slot>>(f: Pin<&mut F>) -> Option<Slot> {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.poll(&mut cx) {
            std::task::Poll::Ready(slot) => Some(slot),
            std::task::Poll::Pending => None,
        }
    }

    /// Whether the future is ready when polled once now.
    fn ready<F: Future>(f: Pin<&mut F>) -> bool {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        f.poll(&mut cx).is_ready()
    }
}
