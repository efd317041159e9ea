//! The live log the window shows: a ring of the most recent lines plus the filtered view
//! the list model exposes as rows.
//!
//! The full log is on disk (the logbook writes every line); the window only keeps the
//! last `capacity` lines so a run that prints millions of lines costs bounded memory.
//! This module is plain Rust with no Qt in it: it reports which rows appeared and which
//! disappeared, and the list model turns those into one `beginInsertRows` /
//! `beginRemoveRows` per batch.

use crate::engine::events::Stream;
use std::collections::VecDeque;

/// How many lines the window keeps in memory by default.
pub const DEFAULT_CAPACITY: usize = 20_000;

/// One line of output as the window keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Position in the run (0 for the first line ever pushed), never reused.
    pub seq: u64,
    pub step: usize,
    /// Index into the node names the log was created with.
    pub node: u16,
    pub stream: Stream,
    pub text: Box<str>,
}

/// Which lines the view shows. Every condition that is set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub node: Option<u16>,
    pub step: Option<usize>,
    /// Lowercased; empty means no search.
    pub search: String,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.node.is_none() && self.step.is_none() && self.search.is_empty()
    }

    fn matches(&self, node: u16, step: usize, text: &str) -> bool {
        if self.node.is_some_and(|n| n != node) {
            return false;
        }
        if self.step.is_some_and(|s| s != step) {
            return false;
        }
        self.search.is_empty() || contains_ignore_case(text, &self.search)
    }
}

/// `needle` must already be lowercase. ASCII fast path; other text goes through
/// `to_lowercase` (rare in tool output, and only while a search is active).
fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    if hay.is_ascii() && needle.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle.as_bytes());
        n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
    } else {
        hay.to_lowercase().contains(needle)
    }
}

/// What a batch did to the rows of the view, in the order the model must announce it:
/// first `removed_front` rows disappear from the top, then `inserted` rows appear at the
/// bottom.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowChange {
    pub removed_front: usize,
    pub inserted: usize,
}

/// The ring of recent lines and the rows of the filtered view.
#[derive(Debug)]
pub struct Log {
    capacity: usize,
    lines: VecDeque<LogLine>,
    /// `seq` of every line in the view, ascending. Empty while the filter is empty:
    /// then every line is a row and no index is needed.
    view: VecDeque<u64>,
    filter: Filter,
    next_seq: u64,
}

impl Log {
    pub fn new(capacity: usize) -> Log {
        Log {
            capacity: capacity.max(1),
            lines: VecDeque::with_capacity(capacity.clamp(1, 1 << 16)),
            view: VecDeque::new(),
            filter: Filter::default(),
            next_seq: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Lines pushed since the log was created or cleared (kept or not).
    pub fn total(&self) -> u64 {
        self.next_seq
    }

    /// Lines held in memory.
    pub fn kept(&self) -> usize {
        self.lines.len()
    }

    pub fn rows(&self) -> usize {
        if self.filter.is_empty() {
            self.lines.len()
        } else {
            self.view.len()
        }
    }

    pub fn row(&self, row: usize) -> Option<&LogLine> {
        if self.filter.is_empty() {
            return self.lines.get(row);
        }
        let seq = *self.view.get(row)?;
        self.by_seq(seq)
    }

    fn by_seq(&self, seq: u64) -> Option<&LogLine> {
        let first = self.lines.front()?.seq;
        self.lines
            .get(usize::try_from(seq.checked_sub(first)?).ok()?)
    }

    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// Replaces the filter; the view is rebuilt (the model resets).
    pub fn set_filter(&mut self, filter: Filter) {
        self.filter = filter;
        self.view.clear();
        if !self.filter.is_empty() {
            let f = &self.filter;
            self.view.extend(
                self.lines
                    .iter()
                    .filter(|l| f.matches(l.node, l.step, &l.text))
                    .map(|l| l.seq),
            );
        }
    }

    /// Forgets every line (a new run starts); the model resets.
    pub fn clear(&mut self) {
        self.lines.clear();
        self.view.clear();
        self.next_seq = 0;
    }

    /// How many rows `make_room(incoming)` will remove from the top of the view.
    pub fn rows_to_evict(&self, incoming: usize) -> usize {
        let evict = self.evict_count(incoming);
        if self.filter.is_empty() {
            return evict;
        }
        let oldest_left = self
            .lines
            .get(evict)
            .map(|l| l.seq)
            .unwrap_or(self.next_seq);
        self.view.partition_point(|&s| s < oldest_left)
    }

    fn evict_count(&self, incoming: usize) -> usize {
        (self.lines.len() + incoming.min(self.capacity))
            .saturating_sub(self.capacity)
            .min(self.lines.len())
    }

    /// Evicts the oldest lines so that `incoming` new ones fit.
    pub fn make_room(&mut self, incoming: usize) {
        let rows = self.rows_to_evict(incoming);
        let evict = self.evict_count(incoming);
        self.lines.drain(..evict);
        if !self.filter.is_empty() {
            self.view.drain(..rows);
        }
    }

    /// How many rows `append(batch)` will add at the bottom of the view.
    pub fn rows_to_insert(&self, batch: &[NewLine]) -> usize {
        let kept = &batch[batch.len().saturating_sub(self.capacity)..];
        if self.filter.is_empty() {
            return kept.len();
        }
        kept.iter()
            .filter(|l| self.filter.matches(l.node, l.step, &l.text))
            .count()
    }

    /// Appends a batch (after `make_room`). Lines that later lines of the same batch
    /// would evict are counted but never stored.
    pub fn append(&mut self, batch: Vec<NewLine>) {
        let skip = batch.len().saturating_sub(self.capacity);
        let mut seq = self.next_seq;
        for (i, new) in batch.into_iter().enumerate() {
            if i >= skip {
                if !self.filter.is_empty() && self.filter.matches(new.node, new.step, &new.text) {
                    self.view.push_back(seq);
                }
                let line = new.into_line(seq);
                if self.lines.len() == self.capacity {
                    self.lines.pop_front();
                }
                self.lines.push_back(line);
            }
            seq += 1;
        }
        self.next_seq = seq;
    }

    /// `make_room` then `append`, reporting the row changes (for tests and callers that
    /// need no announcements).
    pub fn push_batch(&mut self, batch: Vec<NewLine>) -> RowChange {
        let removed_front = self.rows_to_evict(batch.len());
        self.make_room(batch.len());
        let inserted = self.rows_to_insert(&batch);
        self.append(batch);
        RowChange {
            removed_front,
            inserted,
        }
    }
}

/// A line as it arrives, before it gets its place in the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLine {
    pub step: usize,
    pub node: u16,
    pub stream: Stream,
    pub text: Box<str>,
}

impl NewLine {
    fn into_line(self, seq: u64) -> LogLine {
        LogLine {
            seq,
            step: self.step,
            node: self.node,
            stream: self.stream,
            text: self.text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(step: usize, node: u16, text: &str) -> NewLine {
        NewLine {
            step,
            node,
            stream: Stream::Stdout,
            text: text.into(),
        }
    }

    #[test]
    fn keeps_only_the_last_lines() {
        let mut log = Log::new(3);
        let c = log.push_batch(vec![line(0, 0, "a"), line(0, 0, "b")]);
        assert_eq!(
            c,
            RowChange {
                removed_front: 0,
                inserted: 2
            }
        );
        let c = log.push_batch(vec![line(0, 0, "c"), line(0, 0, "d")]);
        assert_eq!(
            c,
            RowChange {
                removed_front: 1,
                inserted: 2
            }
        );
        let texts: Vec<&str> = (0..log.rows())
            .map(|r| &*log.row(r).unwrap().text)
            .collect();
        assert_eq!(texts, ["b", "c", "d"]);
        assert_eq!(log.total(), 4);
    }

    #[test]
    fn a_batch_larger_than_the_ring_keeps_its_tail() {
        let mut log = Log::new(2);
        log.push_batch(vec![line(0, 0, "x")]);
        let batch: Vec<_> = (0..5).map(|i| line(0, 0, &i.to_string())).collect();
        let c = log.push_batch(batch);
        assert_eq!(
            c,
            RowChange {
                removed_front: 1,
                inserted: 2
            }
        );
        assert_eq!(&*log.row(0).unwrap().text, "3");
        assert_eq!(log.row(1).unwrap().seq, 5);
    }

    #[test]
    fn filtered_view_follows_the_ring() {
        let mut log = Log::new(4);
        log.push_batch(vec![line(0, 0, "a"), line(1, 1, "b"), line(0, 0, "c")]);
        log.set_filter(Filter {
            node: Some(0),
            ..Default::default()
        });
        assert_eq!(log.rows(), 2);
        // "a" is evicted (filtered row 0 goes), "b2" is not shown, "e" is.
        let c = log.push_batch(vec![line(1, 1, "b2"), line(0, 0, "e")]);
        assert_eq!(
            c,
            RowChange {
                removed_front: 1,
                inserted: 1
            }
        );
        let texts: Vec<&str> = (0..log.rows())
            .map(|r| &*log.row(r).unwrap().text)
            .collect();
        assert_eq!(texts, ["c", "e"]);
    }

    #[test]
    fn search_ignores_case_and_combines_with_step() {
        let mut log = Log::new(10);
        log.push_batch(vec![
            line(0, 0, "Fatal: wrong password"),
            line(1, 0, "fatal: repository is locked"),
            line(1, 0, "all good"),
        ]);
        log.set_filter(Filter {
            step: Some(1),
            search: "FATAL".to_lowercase(),
            ..Default::default()
        });
        assert_eq!(log.rows(), 1);
        assert_eq!(&*log.row(0).unwrap().text, "fatal: repository is locked");
        log.set_filter(Filter::default());
        assert_eq!(log.rows(), 3);
    }
}
