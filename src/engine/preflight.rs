//! Every node checked before anything is written on any of them.
//!
//! The `prepare` steps of a run start together. Each first reaches its node and reads
//! what it has (`prepare.sh check`: tools, repositories with their sizes and a digest
//! of their key files, source paths, free space). Once every node was read, the password
//! is tried, read-only, once for each distinct repository ([`SharedTrials`]): copies
//! that open alike share one trial. Then they wait for each other at a [`Gate`] again:
//! only once every node is known does each one judge
//! its own, with the others' facts in hand (a refused password stops every node; a node
//! without room for what this run will write there is left out), and only then is its
//! layout made. So a typo in the password, or a disk too full for a first copy, costs
//! nothing anywhere.

use super::prepare::Facts;
use crate::plan::{Plan, StepKind};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use tokio::sync::{watch, Notify};

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

/// The meeting points of a run's prepare steps, and the decision between them and the
/// first write: every node read, every node checked, every node judged, then (when some
/// node is left out and the window asked for a say) the person's answer.
pub(crate) struct Gates {
    /// Every node read (reached, `prepare.sh check`), before any password trial.
    pub(crate) read: Gate,
    /// The password trials' results, shared between copies that open alike.
    pub(crate) trials: SharedTrials,
    pub(crate) checked: Gate,
    pub(crate) judged: Gate,
    asked: Cell<bool>,
    decided: Cell<Option<bool>>,
    answered: Notify,
}

impl Gates {
    pub(crate) fn new(steps: usize) -> Gates {
        Gates {
            read: Gate::new(steps),
            trials: SharedTrials::default(),
            checked: Gate::new(steps),
            judged: Gate::new(steps),
            asked: Cell::new(false),
            decided: Cell::new(None),
            answered: Notify::new(),
        }
    }

    /// A step that ended (whichever way) holds no one up.
    pub(crate) fn leave(&self, id: usize) {
        self.read.arrive(id);
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

/// Each password trial is a key derivation restic makes slow on purpose (about half a
/// second of a core). Copies of a repository whose `config` and `keys/*` are the same
/// bytes open alike, so the password is tried once for each distinct set: on the owner's
/// own node when its repository is among them (where restic will run on it), else on
/// the first node by name that holds it. Other holders wait for that result. A node that
/// lies about its digest only skips the trial of its own copy; replication's guards
/// still refuse to overwrite a copy of another repository.
#[derive(Default)]
pub(crate) struct SharedTrials {
    /// By owner and digest: the trial, once made.
    results: RefCell<HashMap<(String, String), Told>>,
}

type Told = Rc<watch::Sender<Option<Trial>>>;

impl SharedTrials {
    fn cell(&self, owner: &str, digest: &str) -> Told {
        self.results
            .borrow_mut()
            .entry((owner.to_string(), digest.to_string()))
            .or_insert_with(|| Rc::new(watch::channel(None).0))
            .clone()
    }

    /// The trial of `owner`'s repository with key files `digest`, for those who wait.
    pub(crate) fn tell(&self, owner: &str, digest: &str, trial: &Trial) {
        self.cell(owner, digest).send_replace(Some(trial.clone()));
    }

    /// The trial of `owner`'s repository with key files `digest`, once told.
    pub(crate) async fn told(&self, owner: &str, digest: &str) -> Trial {
        let mut rx = self.cell(owner, digest).subscribe();
        let told = rx.wait_for(Option::is_some).await;
        let trial = told.expect("the sender lives in self").clone();
        trial.expect("waited for it")
    }
}

/// The node that tries the password on `owner`'s repository whose key files have
/// `digest`, among the nodes that take part in the trials (`trying`): the owner itself
/// when its own repository has them, else the first by name that holds such a copy.
pub(crate) fn trier<'a>(
    checked: &'a HashMap<String, Checked>,
    trying: impl Fn(&str) -> bool,
    owner: &str,
    digest: &str,
) -> Option<&'a str> {
    let holds = |n: &str| {
        trying(n)
            && checked
                .get(n)
                .is_some_and(|c| c.facts.keys.get(owner).map(String::as_str) == Some(digest))
    };
    if let Some((n, _)) = checked.get_key_value(owner).filter(|(n, _)| holds(n)) {
        return Some(n);
    }
    checked
        .keys()
        .map(String::as_str)
        .filter(|n| holds(n))
        .min()
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
    fn the_password_is_tried_once_for_copies_that_open_alike() {
        let with = |keys: &[(&str, &str)]| Checked {
            facts: Facts {
                keys: keys
                    .iter()
                    .map(|(o, d)| (o.to_string(), d.to_string()))
                    .collect(),
                ..Facts::default()
            },
            trials: vec![],
        };
        let checked: HashMap<String, Checked> = [
            (
                "laptop",
                with(&[("laptop", "L"), ("home", "H"), ("vps", "V2")]),
            ),
            (
                "home",
                with(&[("home", "H"), ("laptop", "L"), ("vps", "V2")]),
            ),
            ("vps", with(&[("vps", "V"), ("laptop", "L"), ("home", "X")])),
            ("nas", with(&[("home", "H")])),
        ]
        .into_iter()
        .map(|(n, c)| (n.to_string(), c))
        .collect();
        let all = |_: &str| true;
        assert_eq!(
            trier(&checked, all, "home", "H"),
            Some("home"),
            "the owner first"
        );
        assert_eq!(trier(&checked, all, "laptop", "L"), Some("laptop"));
        assert_eq!(
            trier(&checked, all, "vps", "V2"),
            Some("home"),
            "the owner's own differs: the first holder by name"
        );
        assert_eq!(
            trier(&checked, all, "home", "X"),
            Some("vps"),
            "its only holder"
        );
        let no_home = |n: &str| n != "home";
        assert_eq!(
            trier(&checked, no_home, "home", "H"),
            Some("laptop"),
            "an owner out of the trials is passed over"
        );
        assert_eq!(trier(&checked, all, "home", "unknown"), None);
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
