//! The speeds of the links between nodes, as earlier runs' copies measured them, kept on
//! the orchestrator (`<base_dir>/logs/links.toml`). With `[replication] direct`, the plan
//! uses them to choose where each copy comes from: a repository whose owner sits behind a
//! slow uplink leaves it once, and a node with a faster link feeds the other copies
//! (`sources`). Only a hint: a missing or unreadable record plans every copy from its
//! owner, as with no record at all, and nothing here decides what a copy holds.

use crate::config::Config;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;

/// A transfer smaller than this says more about latency than about the link: not kept.
pub const MIN_BYTES: u64 = 4 << 20;

/// The record: the last measured rate (bytes a second) of each directed pair of nodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Links {
    #[serde(default)]
    link: Vec<Link>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Link {
    from: String,
    to: String,
    /// Bytes a second.
    rate: f64,
}

fn path(config: &Config) -> PathBuf {
    crate::logbook::logs_dir(config).join("links.toml")
}

/// Steps of one run record side by side: one read-modify-write at a time.
static WRITING: Mutex<()> = Mutex::new(());

impl Links {
    /// The record of `config`'s orchestrator; empty when there is none or it cannot be read.
    pub fn load(config: &Config) -> Links {
        std::fs::read_to_string(path(config))
            .ok()
            .and_then(|t| toml::from_str(&t).ok())
            .unwrap_or_default()
    }

    fn set(&mut self, from: &str, to: &str, rate: Option<f64>) {
        self.link.retain(|l| !(l.from == from && l.to == to));
        if let Some(rate) = rate {
            self.link.push(Link {
                from: from.to_string(),
                to: to.to_string(),
                rate,
            });
        }
        self.link
            .sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    }

    /// A test's record.
    pub fn with(pairs: &[(&str, &str, f64)]) -> Links {
        let mut l = Links::default();
        for (f, t, r) in pairs {
            l.set(f, t, Some(*r));
        }
        l
    }

    /// The rate of `from` → `to` as last measured. (Not guessed from other pairs: a
    /// plan made from guesses would change with every noisy measurement.) A rate that no
    /// copy can have measured (zero, negative, not a number: a hand-edited record) is none.
    pub fn rate(&self, from: &str, to: &str) -> Option<f64> {
        self.link
            .iter()
            .find(|l| l.from == from && l.to == to)
            .map(|l| l.rate)
            .filter(|r| r.is_finite() && *r > 0.0)
    }

    pub fn is_empty(&self) -> bool {
        self.link.is_empty()
    }
}

/// Keeps the rate of a copy of `bytes` that took `secs` from `from` to `to` (small ones
/// are left out, see `MIN_BYTES`). Best effort: a record that cannot be written only
/// leaves the next plan as it was.
pub fn record(config: &Config, from: &str, to: &str, bytes: u64, secs: f64) {
    if bytes < MIN_BYTES || secs <= 0.0 {
        return;
    }
    update(config, from, to, Some(bytes as f64 / secs));
}

/// Forgets `from` → `to`: a direct path that failed is not planned again on the strength
/// of an old measurement.
pub fn forget(config: &Config, from: &str, to: &str) {
    update(config, from, to, None);
}

fn update(config: &Config, from: &str, to: &str, rate: Option<f64>) {
    let _one = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let mut links = Links::load(config);
    if rate.is_none() && !links.link.iter().any(|l| l.from == from && l.to == to) {
        return;
    }
    links.set(from, to, rate);
    let Ok(text) = toml::to_string(&links) else {
        return;
    };
    let p = path(config);
    let tmp = p.with_extension(format!("toml.{}", std::process::id()));
    let written = crate::logbook::private_dir(&crate::logbook::logs_dir(config))
        .and_then(|()| std::fs::write(&tmp, text))
        .and_then(|()| std::fs::rename(&tmp, &p));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        tracing::debug!("the links' record {} was not written: {e}", p.display());
    }
}

/// Where each of `targets`' copies of `owner`'s repository comes from, in the order the
/// copies are made (each source already up to date when its turn comes): the sum of the
/// copies' times, one after the other at the links' rates, made as small as a search from
/// "every copy from the owner" finds, moving one copy at a time to a faster source.
/// None when a copy from the owner has no rate to compare with: the plan's usual order.
/// `targets` come in the order preferred among equals (the orchestrator's first: its copy
/// is the relay when a direct path fails).
///
/// `busy`, when steps run side by side, holds what the copies of the steps planned before
/// this one already ask of each node's uplink (one transfer out of a node at a time): a
/// copy from a node counts the wait behind them, and this step's copies are added to it.
/// So the copies of six repositories do not all pass through the one node whose links
/// measured fastest, to queue there while other fast nodes stand idle.
pub fn sources(
    links: &Links,
    owner: &str,
    targets: &[String],
    busy: Option<&mut Busy>,
) -> Option<Vec<(String, String)>> {
    let queued = |from: &str| busy.as_deref().map_or(0.0, |b| b.out(from));
    let cost = |from: &str, to: &str| links.rate(from, to).map(|r| 1.0 / r + queued(from));
    let mut parent: BTreeMap<&str, (&str, f64)> = BTreeMap::new();
    for t in targets {
        parent.insert(t, (owner, cost(owner, t)?));
    }
    loop {
        let mut best: Option<(&str, &str, f64)> = None;
        for t in targets {
            let now = parent[t.as_str()].1;
            for s in targets {
                if under(&parent, s, t) {
                    continue;
                }
                let Some(c) = cost(s, t) else { continue };
                // Only a clear gain moves a copy: measurements wander by a few percent.
                if c < now * 0.9 && best.is_none_or(|(_, _, g)| now - c > g) {
                    best = Some((t, s, now - c));
                }
            }
        }
        let Some((t, s, _)) = best else { break };
        let c = cost(s, t).expect("compared above");
        parent.insert(t, (s, c));
    }
    // Parents before children, the preferred order kept among those ready.
    let mut order = vec![];
    let mut fed: HashSet<&str> = HashSet::from([owner]);
    while order.len() < targets.len() {
        let next = targets
            .iter()
            .find(|t| !fed.contains(t.as_str()) && fed.contains(parent[t.as_str()].0))
            .expect("a tree rooted at the owner");
        order.push((parent[next.as_str()].0.to_string(), next.clone()));
        fed.insert(next);
    }
    if let Some(b) = busy {
        for (from, to) in &order {
            let r = links.rate(from, to).expect("every chosen copy has a rate");
            *b.out.entry(from.clone()).or_default() += 1.0 / r;
        }
    }
    Some(order)
}

/// The seconds per byte of new data that the copies planned so far send out of each
/// node (`sources`).
#[derive(Debug, Default)]
pub struct Busy {
    out: BTreeMap<String, f64>,
}

impl Busy {
    fn out(&self, node: &str) -> f64 {
        self.out.get(node).copied().unwrap_or(0.0)
    }
}

/// Whether `a` is fed, through any number of copies, from `t`'s (or is `t`).
fn under<'a>(parent: &BTreeMap<&'a str, (&'a str, f64)>, mut a: &'a str, t: &str) -> bool {
    loop {
        if a == t {
            return true;
        }
        match parent.get(a) {
            Some((p, _)) => a = p,
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: f64 = 1e6 / 8.0;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_slow_owner_sends_once_and_a_fast_node_feeds_the_others() {
        // The lab: laptop 50/20, home 100/20, server 1000/1000 Mbit/s, as one
        // run's copies from each owner measured them.
        let links = Links::with(&[
            ("home", "laptop", 20.0 * MB),
            ("home", "server", 20.0 * MB),
            ("server", "laptop", 50.0 * MB),
            ("server", "home", 100.0 * MB),
            ("laptop", "home", 20.0 * MB),
            ("laptop", "server", 20.0 * MB),
        ]);
        let s = |owner, targets: &[&str]| sources(&links, owner, &names(targets), None).unwrap();
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            s("home", &["laptop", "server"]),
            [pair("home", "server"), pair("server", "laptop")]
        );
        // server's own fast uplink feeds both; laptop's slow one sends once too.
        assert_eq!(
            s("server", &["laptop", "home"]),
            [pair("server", "laptop"), pair("server", "home")]
        );
        assert_eq!(
            s("laptop", &["home", "server"]),
            [pair("laptop", "server"), pair("server", "home")]
        );
        // Equal links keep the plan's order: every copy from the owner.
        let even = Links::with(&[
            ("a", "b", 5.0),
            ("a", "c", 5.0),
            ("b", "c", 5.0),
            ("c", "b", 5.0),
        ]);
        assert_eq!(
            sources(&even, "a", &names(&["b", "c"]), None).unwrap(),
            [pair("a", "b"), pair("a", "c")]
        );
    }

    #[test]
    fn steps_side_by_side_spread_their_copies_over_the_fast_uplinks() {
        // hub's uplink measured a little faster than spare's; a, b and c sit behind slow
        // uplinks (20 Mbit/s) and receive at 100.
        let ups = [
            ("hub", 1000.0),
            ("spare", 900.0),
            ("a", 20.0),
            ("b", 20.0),
            ("c", 20.0),
        ];
        let mut pairs = vec![];
        for (from, up) in ups {
            for (to, to_up) in ups {
                if from != to {
                    let down = if to_up > 100.0 { to_up } else { 100.0 };
                    pairs.push((from, to, f64::min(up, down) * MB));
                }
            }
        }
        let links = Links::with(&pairs);
        let others = |owner: &str| {
            let all = ups.map(|(n, _)| n);
            names(&all.into_iter().filter(|n| *n != owner).collect::<Vec<_>>())
        };
        // Seconds per byte sent out of `node` by the steps' copies.
        let out = |steps: &[Vec<(String, String)>], node: &str| -> f64 {
            let hops = steps.iter().flatten().filter(|(f, _)| f == node);
            hops.map(|(f, t)| 1.0 / links.rate(f, t).unwrap()).sum()
        };
        let slowest = |steps: &[Vec<(String, String)>]| {
            ["hub", "spare"]
                .map(|n| out(steps, n))
                .into_iter()
                .fold(0.0, f64::max)
        };
        let owners = ["a", "b", "c"];
        // One step at a time: every step plans the same tree, hub feeding the slow nodes.
        let alone: Vec<_> = owners
            .iter()
            .map(|o| sources(&links, o, &others(o), None).unwrap())
            .collect();
        // Side by side: later steps leave hub's queue to the first; the busier of the two
        // fast uplinks has less to send.
        let mut busy = Busy::default();
        let shared: Vec<_> = owners
            .iter()
            .map(|o| sources(&links, o, &others(o), Some(&mut busy)).unwrap())
            .collect();
        assert!(
            slowest(&shared) < 0.75 * slowest(&alone),
            "{shared:?} against {alone:?}"
        );
        // Each slow owner still sends its data once.
        for (o, hops) in owners.iter().zip(&shared) {
            assert_eq!(hops.iter().filter(|(f, _)| f == o).count(), 1, "{hops:?}");
        }
    }

    #[test]
    fn without_a_rate_from_the_owner_the_plan_keeps_its_order() {
        let links = Links::with(&[("server", "laptop", 50.0 * MB)]);
        assert_eq!(
            sources(&links, "home", &names(&["laptop", "server"]), None),
            None
        );
        assert_eq!(
            sources(&Links::default(), "home", &names(&["laptop"]), None),
            None
        );
        // A record no copy can have written counts as none: a negative rate would make a
        // node look better the busier it is.
        let odd = Links::with(&[
            ("home", "laptop", -5.0),
            ("home", "server", f64::NAN),
            ("server", "laptop", 0.0),
        ]);
        assert_eq!(odd.rate("home", "laptop"), None);
        assert_eq!(odd.rate("server", "laptop"), None);
        let mut busy = Busy::default();
        let t = names(&["laptop", "server"]);
        assert_eq!(sources(&odd, "home", &t, Some(&mut busy)), None);
        assert!(busy.out.is_empty(), "{busy:?}");
        // Only measured pairs count: home → x and y → server say nothing of home → server.
        let links = Links::with(&[("home", "x", 2.0), ("y", "server", 1.0)]);
        assert_eq!(links.rate("home", "server"), None);
        assert_eq!(links.rate("home", "x"), Some(2.0));
    }

    #[test]
    fn the_record_keeps_large_copies_and_forgets_a_failed_path() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "orchestrator = \"laptop\"\n[nodes.laptop]\npaths = [\"~/d\"]\nbase_dir = \"{}\"\n",
            dir.path().display()
        );
        let config = crate::config::parse(std::path::Path::new("c.toml"), &text).unwrap();
        // A damaged record is no record: the plan keeps its order, and the next
        // measurement writes a sound one over it.
        let file = crate::logbook::logs_dir(&config).join("links.toml");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "[[link]]\nfrom = \"home\"\nrate = \"fast\"\n\0").unwrap();
        assert!(Links::load(&config).is_empty());
        record(&config, "home", "server", 1000, 1.0);
        assert!(Links::load(&config).is_empty(), "too small to say anything");
        record(&config, "home", "server", 8 << 20, 2.0);
        record(&config, "home", "laptop", 8 << 20, 4.0);
        let l = Links::load(&config);
        assert_eq!(l.rate("home", "server"), Some(f64::from(4 << 20)));
        forget(&config, "home", "server");
        let l = Links::load(&config);
        assert_eq!(l.rate("home", "server"), None);
        assert_eq!(l.rate("home", "laptop"), Some(f64::from(2 << 20)));
    }
}
