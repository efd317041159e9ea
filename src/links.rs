//! The speeds of the links between nodes, as earlier runs' copies measured them, and how
//! much new data each repository's copies took last time, kept on the orchestrator
//! (`<base_dir>/logs/links.toml`). With `[replication] direct`, the plan uses them to
//! choose where each copy comes from: a repository whose owner sits behind a slow uplink
//! leaves it once, and a node with a faster link feeds the other copies (`sources`; for
//! steps side by side, `schedule`). Only a hint: a missing or unreadable record plans
//! every copy from its owner, as with no record at all, and nothing here decides what a
//! copy holds.

use crate::config::Config;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;

/// A transfer smaller than this says more about latency than about the link: not kept.
pub const MIN_BYTES: u64 = 4 << 20;

/// The smallest part of the new data of a copy that feeds others: restic's packs are 16
/// MiB by default, and a part costs a connection or two out of a node that may be what
/// every other copy waits for. New data under two parts goes in one transfer
/// (`engine::replication::hops`).
pub const PART_MIN: u64 = 16 << 20;

mod schedule;
pub use schedule::{schedule, Planned};

/// The record: the last measured rate (bytes a second) of each directed pair of nodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Links {
    #[serde(default)]
    link: Vec<Link>,
    #[serde(default)]
    repo: Vec<NewData>,
}

/// How much new data a repository's copies took in its last run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct NewData {
    name: String,
    bytes: u64,
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

    /// The seconds a byte takes from `from` to `to`, as last measured; where that pair
    /// was never measured, the mean over the pairs that were (1 when none was): a weight
    /// for comparing copies, not a forecast.
    pub fn secs_per_byte(&self, from: &str, to: &str) -> f64 {
        match self.rate(from, to) {
            Some(r) => 1.0 / r,
            None => self.mean_secs_per_byte(),
        }
    }

    /// The mean seconds a byte took over the pairs measured (1 when none was).
    pub fn mean_secs_per_byte(&self) -> f64 {
        let known: Vec<f64> = self
            .link
            .iter()
            .filter_map(|l| self.rate(&l.from, &l.to))
            .map(|r| 1.0 / r)
            .collect();
        match known.len() {
            0 => 1.0,
            n => known.iter().sum::<f64>() / n as f64,
        }
    }

    /// The bytes of new data `repo`'s copies took in its last run; for a repository not
    /// recorded, the mean of those that are (1 when none is: all alike).
    pub fn new_data(&self, repo: &str) -> f64 {
        if let Some(n) = self.repo.iter().find(|n| n.name == repo) {
            return n.bytes.max(1) as f64;
        }
        match self.repo.len() {
            0 => 1.0,
            n => self.repo.iter().map(|r| r.bytes.max(1) as f64).sum::<f64>() / n as f64,
        }
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

/// Keeps how much new data `repo`'s copies took in this run (best effort, as `record`).
pub fn record_new_data(config: &Config, repo: &str, bytes: u64) {
    change(config, |links| {
        links.repo.retain(|n| n.name != repo);
        links.repo.push(NewData {
            name: repo.to_string(),
            bytes,
        });
        links.repo.sort_by(|a, b| a.name.cmp(&b.name));
        true
    });
}

/// Forgets `from` → `to`: a direct path that failed is not planned again on the strength
/// of an old measurement.
pub fn forget(config: &Config, from: &str, to: &str) {
    update(config, from, to, None);
}

fn update(config: &Config, from: &str, to: &str, rate: Option<f64>) {
    change(config, |links| {
        if rate.is_none() && !links.link.iter().any(|l| l.from == from && l.to == to) {
            return false;
        }
        links.set(from, to, rate);
        true
    });
}

/// Reads the record, lets `edit` change it (false: nothing to write), and writes it back
/// whole (a temporary file renamed over it), one run's steps one at a time.
fn change(config: &Config, edit: impl FnOnce(&mut Links) -> bool) {
    let _one = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let mut links = Links::load(config);
    if !edit(&mut links) {
        return;
    }
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
pub fn sources(links: &Links, owner: &str, targets: &[String]) -> Option<Vec<(String, String)>> {
    let cost = |from: &str, to: &str| links.rate(from, to).map(|r| 1.0 / r);
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
    Some(order)
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

    /// A planned step's copies as (from, to).
    fn copies(p: &Option<Vec<Planned>>) -> Option<Vec<(String, String)>> {
        p.as_ref()
            .map(|p| p.iter().map(|c| (c.from.clone(), c.to.clone())).collect())
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// The lab (laptop 50/20, home 100/20, server 1000/1000 Mbit/s) as one run's
    /// copies from each owner measured it.
    fn three_nodes() -> Links {
        Links::with(&[
            ("home", "laptop", 20.0 * MB),
            ("home", "server", 20.0 * MB),
            ("server", "laptop", 50.0 * MB),
            ("server", "home", 100.0 * MB),
            ("laptop", "home", 20.0 * MB),
            ("laptop", "server", 20.0 * MB),
        ])
    }

    #[test]
    fn a_slow_owner_sends_once_and_a_fast_node_feeds_the_others() {
        let links = three_nodes();
        let s = |owner, targets: &[&str]| sources(&links, owner, &names(targets)).unwrap();
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
            sources(&even, "a", &names(&["b", "c"])).unwrap(),
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
            .map(|o| sources(&links, o, &others(o)).unwrap())
            .collect();
        // Side by side, planned together: the busier of the two fast uplinks has less to
        // send.
        let repos: Vec<_> = owners.iter().map(|o| (o.to_string(), others(o))).collect();
        let planned = schedule(&links, &repos);
        let shared: Vec<_> = planned.iter().map(|p| copies(p).unwrap()).collect();
        // The turns' order: every copy has its own place, after the copy that feeds it.
        let mut ranks: Vec<usize> = planned.iter().flatten().flatten().map(|c| c.rank).collect();
        ranks.sort_unstable();
        assert_eq!(ranks, (0..ranks.len()).collect::<Vec<_>>());
        for plan in planned.iter().flatten() {
            for c in plan {
                if let Some(feeder) = plan.iter().find(|f| f.to == c.from) {
                    assert!(feeder.rank < c.rank, "{plan:?}");
                }
            }
        }
        assert!(
            slowest(&shared) < 0.75 * slowest(&alone),
            "{shared:?} against {alone:?}"
        );
        // Every copy made once, each from a node that holds the repository by then.
        for ((o, targets), hops) in repos.iter().zip(&shared) {
            let mut held = vec![o.clone()];
            for (from, to) in hops {
                assert!(
                    held.contains(from),
                    "{to} fed before {from} holds {o}: {hops:?}"
                );
                assert!(!held.contains(to), "{to} fed twice: {hops:?}");
                held.push(to.clone());
            }
            assert_eq!(held.len(), targets.len() + 1, "{hops:?}");
        }
        // One copy into each node at a time: the slow owners' first copies go into three
        // different nodes, not one after the other into the fastest.
        let first: HashSet<&str> = shared.iter().map(|h| h[0].1.as_str()).collect();
        assert_eq!(first.len(), 3, "{shared:?}");
    }

    #[test]
    fn side_by_side_a_slow_owners_large_new_data_leaves_once_and_is_passed_on_in_parts() {
        // With what each repository's copies took in the last run: 200 MB new on home,
        // 50 MB on server, little on laptop.
        let mut links = three_nodes();
        for (repo, bytes) in [
            ("home", 200_000_000),
            ("server", 50_000_000),
            ("laptop", 1 << 20),
        ] {
            links.repo.push(NewData {
                name: repo.to_string(),
                bytes,
            });
        }
        let repos: Vec<(String, Vec<String>)> = [
            ("laptop", ["home", "server"]),
            ("home", ["laptop", "server"]),
            ("server", ["laptop", "home"]),
        ]
        .iter()
        .map(|(o, t)| (o.to_string(), names(t)))
        .collect();
        let plans: Vec<_> = schedule(&links, &repos).iter().map(copies).collect();
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        // server takes home's data in parts and passes each on to laptop as it lands:
        // home's uplink sends it once, and the orchestrator's relays nobody's.
        assert_eq!(
            plans[1].as_deref(),
            Some(&[pair("home", "server"), pair("server", "laptop")][..])
        );
        assert_eq!(
            plans[2].as_deref(),
            Some(&[pair("server", "home"), pair("server", "laptop")][..]),
            "server's fast uplink feeds both"
        );
        for plan in plans.iter().flatten() {
            for (from, to) in plan {
                assert!(from != "laptop" || to == "home" || to == "server");
            }
        }
        // Not measured from laptop: its repository keeps the usual order.
        let partial = Links::with(&[("home", "laptop", 20.0 * MB), ("home", "server", 20.0 * MB)]);
        let plans: Vec<_> = schedule(&partial, &repos).iter().map(copies).collect();
        assert!(
            plans[0].is_none() && plans[2].is_none() && plans[1].is_some(),
            "{plans:?}"
        );
    }

    #[test]
    fn without_a_rate_from_the_owner_the_plan_keeps_its_order() {
        let links = Links::with(&[("server", "laptop", 50.0 * MB)]);
        assert_eq!(sources(&links, "home", &names(&["laptop", "server"])), None);
        assert_eq!(
            sources(&Links::default(), "home", &names(&["laptop"])),
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
        let t = names(&["laptop", "server"]);
        assert_eq!(sources(&odd, "home", &t), None);
        assert_eq!(schedule(&odd, &[("home".into(), t)]), [None]);
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
        // So is a negative size of new data (a hand-edited record).
        std::fs::write(&file, "[[repo]]\nname = \"home\"\nbytes = -5\n").unwrap();
        assert!(Links::load(&config).is_empty() && Links::load(&config).new_data("home") == 1.0);
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
        // The new data of each repository's last run, alongside: a repository not
        // recorded counts as the mean of those that are.
        assert_eq!(l.new_data("home"), 1.0, "none recorded: all alike");
        record_new_data(&config, "home", 300);
        record_new_data(&config, "server", 100);
        record_new_data(&config, "home", 200);
        let l = Links::load(&config);
        assert_eq!(l.new_data("home"), 200.0);
        assert_eq!(l.new_data("laptop"), 150.0);
        assert_eq!(
            l.rate("home", "laptop"),
            Some(f64::from(2 << 20)),
            "rates kept"
        );
    }
}
