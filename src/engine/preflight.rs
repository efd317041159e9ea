//! Every node checked before anything is written on any of them.
//!
//! The `prepare` steps of a run start together. Each first reaches its node and reads
//! what it has (`prepare.sh check`: tools, repositories and their sizes, source paths,
//! free space), and tries the password on every repository there, read-only. Then they
//! wait for each other at a [`Gate`]: only once every node is known does each one judge
//! its own, with the others' facts in hand (a refused password stops every node; a node
//! without room for what this run will write there is left out), and only then is its
//! layout made. So a typo in the password, or a disk too full for a first copy, costs
//! nothing anywhere.

use super::prepare::Facts;
use crate::plan::{Plan, StepKind};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use tokio::sync::Notify;

/// Where the steps of one wave wait until each of them arrived (or was skipped).
pub(crate) struct Gate {
    left: Cell<usize>,
    arrived: RefCell<HashSet<usize>>,
    open: Notify,
}

impl Gate {
    pub(crate) fn new(steps: usize) -> Gate {
        Gate {
            left: Cell::new(steps),
            arrived: RefCell::default(),
            open: Notify::new(),
        }
    }

    /// Step `id` has arrived; the same step arriving again counts once.
    pub(crate) fn arrive(&self, id: usize) {
        if self.arrived.borrow_mut().insert(id) {
            self.left.set(self.left.get().saturating_sub(1));
            if self.left.get() == 0 {
                self.open.notify_waiters();
            }
        }
    }

    /// Until every step arrived.
    pub(crate) async fn wait(&self) {
        loop {
            // Registered before the check, so an opening in between is not missed.
            let opened = self.open.notified();
            if self.left.get() == 0 {
                return;
            }
            opened.await;
        }
    }
}

/// The two meeting points of a run's prepare steps, and the decision between them and
/// the first write: every node checked, every node judged, then (when some node is left
/// out and the window asked for a say) the person's answer.
pub(crate) struct Gates {
    pub(crate) checked: Gate,
    pub(crate) judged: Gate,
    asked: Cell<bool>,
    decided: Cell<Option<bool>>,
    answered: Notify,
}

impl Gates {
    pub(crate) fn new(steps: usize) -> Gates {
        Gates {
            checked: Gate::new(steps),
            judged: Gate::new(steps),
            asked: Cell::new(false),
            decided: Cell::new(None),
            answered: Notify::new(),
        }
    }

    /// A step that ended (whichever way) holds no one up.
    pub(crate) fn leave(&self, id: usize) {
        self.checked.arrive(id);
        self.judged.arrive(id);
    }

    /// True for the first caller only: it gets the answer, the others wait for it.
    pub(crate) fn ask_first(&self) -> bool {
        !self.asked.replace(true)
    }

    pub(crate) fn decide(&self, go_on: bool) {
        self.decided.set(Some(go_on));
        self.answered.notify_waiters();
    }

    /// The answer, once given.
    pub(crate) async fn decision(&self) -> bool {
        loop {
            let answered = self.answered.notified();
            if let Some(go_on) = self.decided.get() {
                return go_on;
            }
            answered.await;
        }
    }
}

/// What restic said when the password was tried on one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Trial {
    Accepted,
    Refused,
    /// It could not be read for another reason (its words).
    Unreadable(String),
}

/// What a node's check found: its facts, and the password tried on each repository
/// it holds (by owner).
#[derive(Debug, Clone, Default)]
pub(crate) struct Checked {
    pub(crate) facts: Facts,
    pub(crate) trials: Vec<(String, Trial)>,
}

/// One reason this run writes on a node, and about how much (KB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Need {
    pub(crate) what: String,
    pub(crate) kb: u64,
}

/// About what this run will write on `node`: its first backup (its source paths'
/// size, when its repository does not exist yet), and for every repository copied there,
/// what its copy lacks of the owner's (the owner's size, plus the owner's first backup).
/// Nodes not checked (unreachable, unusable) send nothing and are not counted.
pub(crate) fn needs(plan: &Plan, checked: &HashMap<String, Checked>, node: &str) -> Vec<Need> {
    let Some(mine) = checked.get(node) else {
        return vec![];
    };
    let mut out = vec![];
    let backs_up = plan
        .steps
        .iter()
        .any(|s| s.kind == StepKind::Backup && s.node == node);
    if let (true, Some(kb)) = (backs_up, mine.facts.source_kb) {
        out.push(Need {
            what: "its first backup (the size of its source paths)".into(),
            kb,
        });
    }
    for step in &plan.steps {
        if step.kind != StepKind::Replicate || !step.targets.iter().any(|t| t == node) {
            continue;
        }
        let owner = &step.node;
        let Some(theirs) = checked.get(owner) else {
            continue;
        };
        let first_backup = if theirs.facts.repo_exists {
            0
        } else {
            theirs.facts.source_kb.unwrap_or(0)
        };
        let size = theirs.facts.held.get(owner).copied().unwrap_or(0) + first_backup;
        let have = mine.facts.held.get(owner).copied();
        if size > have.unwrap_or(0) {
            out.push(Need {
                what: match have {
                    None => format!("a first copy of {owner}'s repository"),
                    Some(_) => format!("what its copy of {owner}'s repository lacks"),
                },
                kb: size - have.unwrap_or(0),
            });
        }
    }
    out
}

/// "1.5 GB", "320 MB", "12 KB": a size in KB as a person reads it.
pub(crate) fn human_kb(kb: u64) -> String {
    let bytes = kb as f64 * 1024.0;
    let units = [("GB", 1e9), ("MB", 1e6), ("KB", 1e3)];
    for (unit, size) in units {
        if bytes >= size {
            let n = bytes / size;
            return if n < 10.0 {
                format!("{n:.1} {unit}")
            } else {
                format!("{n:.0} {unit}")
            };
        }
    }
    format!("{bytes:.0} bytes")
}

/// The sentence for a node without room for this run, or None when it has room (or
/// its free space is unknown).
pub(crate) fn lacks_room(
    node: &str,
    base: &str,
    free_kb: Option<u64>,
    needs: &[Need],
) -> Option<String> {
    let free = free_kb?;
    let total: u64 = needs.iter().map(|n| n.kb).sum();
    if total <= free {
        return None;
    }
    let parts: Vec<String> = needs
        .iter()
        .map(|n| format!("{} {}", human_kb(n.kb), n.what))
        .collect();
    Some(format!(
        "not enough space on {node}: {} free under {base}, and this run would write up to about {} there ({}); nothing was written on {node}: free some space there (or give it a bigger disk) and run again",
        human_kb(free),
        human_kb(total),
        parts.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn plan() -> Plan {
        let c = crate::config::parse(
            Path::new("c.toml"),
            "orchestrator = \"laptop\"\n[nodes.laptop]\npaths = [\"~/D\"]\n\
             [nodes.home]\naddresses = [\"h\"]\npaths = [\"~/\"]\n[nodes.nas]\naddresses = [\"n\"]\n",
        )
        .unwrap();
        Plan::build(&c, &[]).unwrap()
    }

    fn checked(repo: bool, source: Option<u64>, held: &[(&str, u64)]) -> Checked {
        Checked {
            facts: Facts {
                repo_exists: repo,
                source_kb: source,
                held: held.iter().map(|(o, k)| (o.to_string(), *k)).collect(),
                ..Facts::default()
            },
            trials: vec![],
        }
    }

    #[test]
    fn a_node_needs_room_for_its_first_backup_and_what_its_copies_lack() {
        let mut all = HashMap::new();
        all.insert(
            "laptop".to_string(),
            checked(true, None, &[("laptop", 1000), ("home", 300)]),
        );
        all.insert("home".to_string(), checked(false, Some(5000), &[]));
        all.insert("nas".to_string(), checked(false, None, &[("laptop", 400)]));
        let laptop = needs(&plan(), &all, "laptop");
        assert_eq!(
            laptop,
            [Need {
                what: "what its copy of home's repository lacks".into(),
                kb: 4700
            }],
            "home's first backup will add up to 5000 KB to its 0"
        );
        let home = needs(&plan(), &all, "home");
        assert_eq!(home.iter().map(|n| n.kb).collect::<Vec<_>>(), [5000, 1000]);
        assert!(home[1].what.contains("first copy of laptop's"), "{home:?}");
        let nas = needs(&plan(), &all, "nas");
        assert_eq!(nas.iter().map(|n| n.kb).collect::<Vec<_>>(), [600, 5000]);
        all.remove("home");
        assert_eq!(
            needs(&plan(), &all, "nas").len(),
            1,
            "an unchecked owner sends nothing"
        );
        assert!(lacks_room("nas", "~/backup", Some(5600), &nas).is_none());
        let said = lacks_room("nas", "~/backup", Some(5599), &nas).unwrap();
        assert!(said.contains("5.7 MB free under ~/backup"), "{said}");
        assert!(
            said.contains("5.1 MB a first copy of home's repository"),
            "{said}"
        );
        assert!(
            lacks_room("nas", "~/backup", None, &nas).is_none(),
            "unknown: no claim"
        );
    }

    #[tokio::test]
    async fn the_gate_opens_when_every_step_arrived_or_was_skipped() {
        let gate = std::rc::Rc::new(Gate::new(3));
        gate.arrive(0);
        gate.arrive(0);
        let g = gate.clone();
        let waiting = async move { g.wait().await };
        tokio::pin!(waiting);
        assert!(futures_now(&mut waiting).is_none(), "two steps still out");
        gate.arrive(2);
        assert!(futures_now(&mut waiting).is_none());
        gate.arrive(1);
        assert!(futures_now(&mut waiting).is_some());
    }

    /// Polls a future once.
    fn futures_now<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        match std::pin::Pin::new(f).poll(&mut cx) {
            std::task::Poll::Ready(o) => Some(o),
            std::task::Poll::Pending => None,
        }
    }
}
