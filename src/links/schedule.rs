//! Where every copy of every repository comes from when the replicate steps run side by
//! side, and the order their turns go in. One greedy rule chosen once plans well on the
//! figures it was tuned on and badly a few percent away: min-min (the copy that ends first
//! goes first) leaves a slow owner's first copy for last, and once the run's real times
//! wander from the measured ones that copy is what everything waits for. So several rules
//! each make a plan, every plan is played out many times with each copy taking somewhat
//! more or less than its measured time, as copies that share the nodes' CPUs do, and the
//! plan that ends soonest on average is the one the run gets. Deterministic: the same
//! record always gives the same plan.

use super::{Links, PART_MIN};
use std::collections::HashMap;

/// A copy as `schedule` planned it: `rank` is its place among all the run's copies by
/// when it starts as the run was played out (the turns go in that order).
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub from: String,
    pub to: String,
    pub rank: usize,
}

/// Where every copy of every repository comes from when the steps run side by side
/// (`repos`: each owner and its targets, in the order preferred among equals), and the
/// order each step makes its copies in. The steps share the nodes' links, one transfer
/// into and one out of each node at a time, so the copies are planned together: the run
/// is played out at the measured rates, each repository bringing as much new data as it
/// did last time (`Links::new_data`), and copies are taken one by one, each from a node
/// that holds the repository by then, its two nodes busy until it ends (list
/// scheduling). The rules that choose the next copy (`Rule`) each give a plan; each plan
/// is played `PLAYS` times with every copy's time varied by -20 % to +40 %, and the
/// plan with the lowest mean end is kept (among equals, the first rule's).
///
/// A copy fed from a copy that takes its new data in parts (enough of it for two, see
/// `PART_MIN`) starts once the first half is there and ends after its source's last
/// part, as the steps run it.
///
/// A repository whose owner has no rate to some target keeps the plan's usual order (None
/// in its place), its copies played from the owner at the mean measured rate so the
/// others plan around them. Only measured pairs are chosen: a copy between two nodes no
/// earlier copy went between is not planned on a guess.
pub fn schedule(links: &Links, repos: &[(String, Vec<String>)]) -> Vec<Option<Vec<Planned>>> {
    let run = Run::new(links, repos);
    let chosen = run.best();
    let mut plans: Vec<Vec<Planned>> = vec![vec![]; repos.len()];
    for (rank, c) in chosen.iter().enumerate() {
        plans[c.repo].push(Planned {
            from: c.from.to_string(),
            to: c.to.to_string(),
            rank,
        });
    }
    plans
        .into_iter()
        .zip(run.measured)
        .map(|(hops, m)| m.then_some(hops))
        .collect()
}

/// How often each plan is played with varied times before one is chosen.
const PLAYS: usize = 24;

/// How the next copy is chosen while a plan is made. Of the copies that can be made next
/// (their source holds the repository by then), those ending within `near` of the first
/// to end are alike (measurements wander that much), and among them the one whose target
/// feeds the repository's other targets fastest goes: a slow owner's data goes to the
/// node that passes it on best. With `lone_first`, a repository that only its owner holds
/// yet goes before all others, the slowest to leave its owner first: everything else can
/// happen while a slow uplink sends, nothing can hide after it.
#[derive(Debug, Clone, Copy)]
struct Rule {
    lone_first: bool,
    near: f64,
}

/// The rules tried, the first being the plain "the copy that ends first goes first".
const RULES: [Rule; 10] = [
    rule(false, 1.05),
    rule(false, 1.0),
    rule(false, 1.15),
    rule(false, 1.3),
    rule(true, 1.0),
    rule(true, 1.05),
    rule(true, 1.1),
    rule(true, 1.15),
    rule(true, 1.2),
    rule(true, 1.3),
];

const fn rule(lone_first: bool, near: f64) -> Rule {
    Rule { lone_first, near }
}

/// One copy of a plan, in the order the plan starts them.
#[derive(Debug, Clone)]
struct Copy<'a> {
    repo: usize,
    from: &'a str,
    to: &'a str,
    start: f64,
}

/// The run to plan: each repository's owner and targets, its new data, and whether its
/// owner's every pair is measured.
struct Run<'a> {
    repos: &'a [(String, Vec<String>)],
    sizes: Vec<f64>,
    measured: Vec<bool>,
    /// The record's usable rates, looked up once (the plays ask for them often).
    rates: HashMap<(&'a str, &'a str), f64>,
    /// Seconds a byte takes between two nodes never measured (`Links::secs_per_byte`).
    unmeasured: f64,
}

/// Where a repository is held: the node, and the start and end of the copy that brought
/// it (0, 0 for its owner).
type Held<'a> = Vec<(&'a str, f64, f64)>;

impl<'a> Run<'a> {
    fn new(links: &'a Links, repos: &'a [(String, Vec<String>)]) -> Run<'a> {
        let rates: HashMap<(&str, &str), f64> = links
            .link
            .iter()
            .filter_map(|l| {
                Some((
                    (l.from.as_str(), l.to.as_str()),
                    links.rate(&l.from, &l.to)?,
                ))
            })
            .collect();
        Run {
            repos,
            sizes: repos.iter().map(|(o, _)| links.new_data(o)).collect(),
            measured: repos
                .iter()
                .map(|(o, ts)| {
                    ts.iter()
                        .all(|t| rates.contains_key(&(o.as_str(), t.as_str())))
                })
                .collect(),
            unmeasured: links.mean_secs_per_byte(),
            rates,
        }
    }

    /// The plan, of those the rules make, whose last copy ends soonest on average over
    /// `PLAYS` plays with varied times.
    fn best(&self) -> Vec<Copy<'a>> {
        let samples = jitter(SEED, PLAYS, self.copies());
        let mut best: Option<(f64, Vec<Copy>)> = None;
        for rule in RULES {
            let plan = self.greedy(rule);
            let mean = self.mean_end(&plan, &samples);
            tracing::debug!(
                "copies planned by {rule:?}: their last ends after {mean:.1} s on average"
            );
            if best.as_ref().is_none_or(|(b, _)| mean < *b) {
                best = Some((mean, plan));
            }
        }
        best.map(|(_, p)| p).unwrap_or_default()
    }

    /// The mean end of `plan` over plays where copy `i` takes `factor[i]` times its time.
    fn mean_end(&self, plan: &[Copy<'a>], samples: &[Vec<f64>]) -> f64 {
        // The nodes by number, for the plays.
        let mut ids: HashMap<&str, usize> = HashMap::new();
        let mut id = |n: &'a str| {
            let next = ids.len();
            *ids.entry(n).or_insert(next)
        };
        let owners: Vec<usize> = self.repos.iter().map(|(o, _)| id(o)).collect();
        let copies: Vec<(usize, usize, usize)> = plan
            .iter()
            .map(|c| (c.repo, id(c.from), id(c.to)))
            .collect();
        let secs: Vec<f64> = plan
            .iter()
            .map(|c| self.secs(c.repo, c.from, c.to).unwrap_or(f64::INFINITY))
            .collect();
        let play = |f: &Vec<f64>| {
            let took: Vec<f64> = secs.iter().zip(f).map(|(s, f)| s * f).collect();
            self.play(&owners, &copies, &took, ids.len())
        };
        samples.iter().map(play).sum::<f64>() / samples.len().max(1) as f64
    }

    fn copies(&self) -> usize {
        self.repos.iter().map(|(_, ts)| ts.len()).sum()
    }

    /// The seconds `s` → `t` takes for repository `r` (None: not planned that way).
    fn secs(&self, r: usize, s: &str, t: &str) -> Option<f64> {
        let (owner, bytes) = (self.repos[r].0 == s, self.sizes[r]);
        match (self.rate(s, t), self.measured[r]) {
            (Some(rate), true) => Some(bytes / rate),
            (rate, false) if owner => Some(bytes * rate.map_or(self.unmeasured, |r| 1.0 / r)),
            _ => None,
        }
    }

    fn rate(&self, from: &str, to: &str) -> Option<f64> {
        self.rates.get(&(from, to)).copied()
    }

    /// When a copy of `r` taking `d` seconds may start once its two nodes are free at
    /// `free`, and when it ends, its source having got the repository by a copy from
    /// `got.0` to `got.1` (`fed`; else it is the owner): a source that takes its new data
    /// in parts passes on each as it lands.
    fn times(&self, r: usize, got: (f64, f64), fed: bool, d: f64, free: f64) -> (f64, f64) {
        let (from, to) = got;
        if fed && self.sizes[r] >= 2.0 * PART_MIN as f64 {
            let start = free.max(from + (to - from) / 2.0);
            let end = (start + d).max(to + d * PART_MIN as f64 / self.sizes[r]);
            (start, end)
        } else {
            let start = free.max(to);
            (start, start + d)
        }
    }

    /// The plan `rule` makes, in the order its copies start.
    fn greedy(&self, rule: Rule) -> Vec<Copy<'a>> {
        let repos = self.repos;
        let mut out_free: HashMap<&str, f64> = HashMap::new();
        let mut in_free: HashMap<&str, f64> = HashMap::new();
        let mut held: Vec<Held> = repos
            .iter()
            .map(|(o, _)| vec![(o.as_str(), 0.0, 0.0)])
            .collect();
        let mut todo: Vec<(usize, &str)> = repos
            .iter()
            .enumerate()
            .flat_map(|(r, (_, ts))| ts.iter().map(move |t| (r, t.as_str())))
            .collect();
        let mut chosen: Vec<Copy> = vec![];
        while !todo.is_empty() {
            // (end, index in todo, source, start) of every copy that can be made next.
            let mut next: Vec<(f64, usize, &str, f64)> = vec![];
            for (k, &(r, t)) in todo.iter().enumerate() {
                for (i, &(s, from, to)) in held[r].iter().enumerate() {
                    let Some(d) = self.secs(r, s, t) else {
                        continue;
                    };
                    let free = out_free.get(s).copied().unwrap_or(0.0);
                    let free = free.max(in_free.get(t).copied().unwrap_or(0.0));
                    let (start, end) = self.times(r, (from, to), i > 0, d, free);
                    next.push((end, k, s, start));
                }
            }
            if rule.lone_first {
                // The repository only its owner holds whose quickest way out is slowest.
                let leave = |r: usize| {
                    let quickest = next.iter().filter(|n| todo[n.1].0 == r).map(|n| n.0);
                    quickest.reduce(f64::min).unwrap_or(0.0)
                };
                let lone = (0..repos.len()).filter(|&r| held[r].len() == 1);
                let lone = lone.filter(|&r| next.iter().any(|n| todo[n.1].0 == r));
                if let Some(r) = lone.max_by(|&a, &b| leave(a).total_cmp(&leave(b))) {
                    next.retain(|n| todo[n.1].0 == r);
                }
            }
            let Some(first) = next.iter().map(|n| n.0).reduce(f64::min) else {
                break;
            };
            next.retain(|n| n.0 <= first * rule.near);
            // How fast each target feeds the other targets of its repository still to come.
            let mut onward: HashMap<usize, f64> = HashMap::new();
            for n in &next {
                let (r, t) = todo[n.1];
                onward.entry(n.1).or_insert_with(|| {
                    let others = todo.iter().filter(|&&(r2, t2)| r2 == r && t2 != t);
                    others.filter_map(|&(_, t2)| self.rate(t, t2)).sum()
                });
            }
            let &(end, k, s, start) = next
                .iter()
                .max_by(|a, b| {
                    onward[&a.1]
                        .total_cmp(&onward[&b.1])
                        .then(b.0.total_cmp(&a.0))
                })
                .expect("the first is among them");
            let (r, t) = todo.remove(k);
            out_free.insert(s, end);
            in_free.insert(t, end);
            held[r].push((t, start, end));
            chosen.push(Copy {
                repo: r,
                from: s,
                to: t,
                start,
            });
        }
        // In the order they start as played (a copy starts after the one that feeds it).
        chosen.sort_by(|a, b| a.start.total_cmp(&b.start));
        chosen
    }

    /// When the last copy of a plan ends when the run goes as the turns run it: a copy
    /// waits until its source holds the repository and its two nodes are free, and a freed
    /// turn goes to the waiting copy planned first. The plan's copies (repository, source,
    /// target: nodes by number, `nodes` of them, `owners` per repository) in the order it
    /// starts them, copy `i` taking `took[i]` seconds.
    fn play(
        &self,
        owners: &[usize],
        plan: &[(usize, usize, usize)],
        took: &[f64],
        nodes: usize,
    ) -> f64 {
        let (mut out_free, mut in_free) = (vec![0.0; nodes], vec![0.0; nodes]);
        // When each repository reached each node: the start and end of its copy.
        let mut got: Vec<Vec<Option<(f64, f64)>>> = vec![vec![None; nodes]; owners.len()];
        for (r, &o) in owners.iter().enumerate() {
            got[r][o] = Some((0.0, 0.0));
        }
        let mut waiting: Vec<usize> = (0..plan.len()).collect();
        // The moments a node or a copy's first half frees up.
        let mut moments: Vec<f64> = vec![];
        let (mut now, mut last) = (0.0_f64, 0.0_f64);
        while !waiting.is_empty() {
            // The first waiting copy that can go now, with its end.
            let go = waiting.iter().enumerate().find_map(|(w, &i)| {
                let (r, s, t) = plan[i];
                let free = f64::max(out_free[s], in_free[t]);
                let (start, end) = self.times(r, got[r][s]?, s != owners[r], took[i], free);
                (start <= now).then_some((w, end))
            });
            if let Some((w, end)) = go {
                let (r, s, t) = plan[waiting.remove(w)];
                (out_free[s], in_free[t]) = (end, end);
                got[r][t] = Some((now, end));
                moments.extend([(now + end) / 2.0, end]);
                last = last.max(end);
                continue;
            }
            // Nothing can go: time moves on to the next such moment.
            match moments
                .iter()
                .copied()
                .filter(|&m| m > now)
                .reduce(f64::min)
            {
                Some(m) => now = m,
                None => return f64::INFINITY,
            }
        }
        last
    }
}

/// The plays' fixed seed: the same record always gives the same plan.
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// `plays` sets of `n` factors in [0.8, 1.4), drawn from `seed` (xorshift): how much
/// longer or shorter each copy takes than measured.
fn jitter(seed: u64, plays: usize, n: usize) -> Vec<Vec<f64>> {
    let mut x = seed.max(1);
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..plays)
        .map(|_| (0..n).map(|_| 0.8 + 0.6 * next()).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::NewData;

    const MB: f64 = 1e6 / 8.0;

    /// The benchmark's lab (bench/auto.sh): each node's downlink and uplink in Mbit/s, a
    /// copy going at the slower of its source's uplink and its target's downlink, and 20
    /// MB new on every node.
    fn six_nodes() -> (Links, Vec<(String, Vec<String>)>) {
        let nodes = [
            ("laptop", 50.0, 20.0),
            ("home", 100.0, 20.0),
            ("server", 1000.0, 1000.0),
            ("nas", 1000.0, 100.0),
            ("office", 100.0, 40.0),
            ("vps", 1000.0, 1000.0),
        ];
        let mut pairs = vec![];
        for (from, _, up) in nodes {
            for (to, down, _) in nodes {
                if from != to {
                    pairs.push((from, to, f64::min(up, down) * MB));
                }
            }
        }
        let mut links = Links::with(&pairs);
        let mut repos = vec![];
        for (owner, ..) in nodes {
            links.repo.push(NewData {
                name: owner.into(),
                bytes: 20_000_000,
            });
            let others = nodes.iter().map(|n| n.0).filter(|n| *n != owner);
            repos.push((owner.to_string(), others.map(String::from).collect()));
        }
        (links, repos)
    }

    /// When the first copy out of `owner`'s own repository starts in `plan`.
    fn leaves(run: &Run, plan: &[Copy], owner: &str) -> f64 {
        let own = plan.iter().find(|c| run.repos[c.repo].0 == owner);
        own.expect("every repository is copied").start
    }

    #[test]
    fn a_slow_owners_data_leaves_at_once_not_after_the_quick_copies() {
        let (links, repos) = six_nodes();
        let run = Run::new(&links, &repos);
        // The copy that ends first goes first: home's (20 Mbit/s up, 8 s a copy) waits
        // behind the quick ones, and every copy it feeds waits behind it.
        let quickest_first = run.greedy(RULES[0]);
        assert!(
            leaves(&run, &quickest_first, "home") > 5.0,
            "{quickest_first:?}"
        );
        // The plan kept sends the slow uplinks' data out at once, and ends sooner when
        // the copies take more or less than measured.
        let kept = run.best();
        for slow in ["home", "laptop"] {
            assert_eq!(leaves(&run, &kept, slow), 0.0, "{slow}: {kept:?}");
        }
        // (Times varied otherwise than those the plan was chosen on.)
        let other = jitter(0x2545_f491_4f6c_dd1d, PLAYS, run.copies());
        let (k, q) = (
            run.mean_end(&kept, &other),
            run.mean_end(&quickest_first, &other),
        );
        assert!(k < 0.9 * q, "kept {k:.1} s, quickest first {q:.1} s");
        // The same record, the same plan.
        assert_eq!(schedule(&links, &repos), schedule(&links, &repos));
    }

    #[test]
    fn a_played_copy_waits_for_its_source_and_its_two_nodes() {
        let links = Links::with(&[("a", "b", 10.0), ("b", "c", 5.0), ("a", "c", 1.0)]);
        let repos = vec![
            ("a".to_string(), vec!["b".to_string(), "c".to_string()]),
            ("b".to_string(), vec!["c".to_string()]),
        ];
        let run = Run::new(&links, &repos);
        let copy = |repo, from, to| Copy {
            repo,
            from,
            to,
            start: 0.0,
        };
        // a's 1 byte (nothing recorded: all alike) a → b, 0.1 s; then b → c, 0.2 s, which
        // b's own copy into c (0.2 s, planned first) holds up: c takes one at a time.
        let plan = [copy(1, "b", "c"), copy(0, "a", "b"), copy(0, "b", "c")];
        let end = run.mean_end(&plan, &[vec![1.0; 3]]);
        assert!((end - 0.4).abs() < 1e-9, "{end}");
        // b's own copy twice as long: c is free 0.2 s later, and so is the last.
        let end = run.mean_end(&plan, &[vec![2.0, 1.0, 1.0]]);
        assert!((end - 0.6).abs() < 1e-9, "{end}");
    }

    #[test]
    fn a_hand_edited_record_of_extreme_figures_still_plans_every_copy_once() {
        let (a, b, c) = ("a", "b", "c");
        let mut links = Links::with(&[
            (a, b, 1e300),
            (a, c, 1e-300),
            (b, a, f64::MIN_POSITIVE),
            (b, c, 1.0),
            (c, a, f64::MAX),
            (c, b, 3.0),
        ]);
        links.repo.push(NewData {
            name: a.into(),
            bytes: u64::MAX,
        });
        links.repo.push(NewData {
            name: b.into(),
            bytes: 0,
        });
        let all = [a, b, c];
        let repos: Vec<(String, Vec<String>)> = all
            .iter()
            .map(|o| {
                (
                    o.to_string(),
                    all.iter()
                        .filter(|t| *t != o)
                        .map(|t| t.to_string())
                        .collect(),
                )
            })
            .collect();
        let plans = schedule(&links, &repos);
        let mut ranks = vec![];
        for ((owner, targets), plan) in repos.iter().zip(&plans) {
            let plan = plan.as_ref().expect("every pair is measured");
            let mut held = vec![owner.clone()];
            for c in plan {
                assert!(held.contains(&c.from) && !held.contains(&c.to), "{plan:?}");
                held.push(c.to.clone());
                ranks.push(c.rank);
            }
            assert_eq!(held.len(), targets.len() + 1, "{plan:?}");
        }
        ranks.sort_unstable();
        assert_eq!(ranks, (0..ranks.len()).collect::<Vec<_>>());
        assert_eq!(plans, schedule(&links, &repos));
    }
}
