//! The plan: what a run will do, as a pure value built from the configuration.
//!
//! `wbackup plan` prints it; `wbackup run` and the window execute the very same value, so
//! what a person reviewed is what runs. No I/O happens here: paths keep their `~`, which
//! each node expands for itself at run time.

pub mod action;

use crate::config::{Config, Node, Role};
use crate::engine::{replication, restic};
use crate::shell;
use action::{Action, Hop, Upload, Word};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    Prepare,
    /// Copies of one repository whose last proof found damage get their damaged files
    /// replaced from a copy that was proven (`engine::heal`), before anything is written.
    Heal,
    Init,
    Backup,
    Check,
    Forget,
    Replicate,
    /// Every repository's copy in one bucket brought up to date from the uploading node,
    /// after every replicate step (the uploading node then holds them all).
    Upload,
    /// Every copy of one repository proven restorable: a restore drill on each node that
    /// holds it, and a rotating share of its data read (`[verify]`, when due).
    Verify,
    /// The orchestrator's configuration and records, kept on every other node so that a
    /// lost orchestrator can be replaced (`wbackup init --from NODE`).
    Records,
}

impl StepKind {
    /// The kind's one word, as plans, logs and the window's log tags print it.
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Prepare => "prepare",
            StepKind::Heal => "heal",
            StepKind::Init => "init",
            StepKind::Backup => "backup",
            StepKind::Check => "check",
            StepKind::Forget => "forget",
            StepKind::Replicate => "replicate",
            StepKind::Upload => "upload",
            StepKind::Verify => "verify",
            StepKind::Records => "records",
        }
    }

    pub const ALL: [StepKind; 10] = [
        StepKind::Prepare,
        StepKind::Heal,
        StepKind::Init,
        StepKind::Backup,
        StepKind::Check,
        StepKind::Forget,
        StepKind::Replicate,
        StepKind::Upload,
        StepKind::Verify,
        StepKind::Records,
    ];
}

impl std::str::FromStr for StepKind {
    type Err = ();

    /// A kind from its `name` (as run summaries record it).
    fn from_str(s: &str) -> Result<StepKind, ()> {
        StepKind::ALL.into_iter().find(|k| k.name() == s).ok_or(())
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub id: usize,
    pub kind: StepKind,
    /// The node the step runs on; for `replicate`, the repository (its owner's name).
    pub node: String,
    /// For `replicate`: the nodes whose copy is brought up to date, in order. The
    /// orchestrator, when it is not the owner, comes first: it relays to the others.
    /// For `upload`: the bucket. For `records`: the nodes that keep the orchestrator's
    /// records.
    pub targets: Vec<String>,
    /// What runs.
    pub action: Action,
}

impl Step {
    /// A replicate step of direct copies that do not all come from the owner (fed as the
    /// measured links say, `links::sources`): its hops, as "a → b, b → c".
    pub fn chosen_sources(&self, config: &Config) -> Option<String> {
        let Action::Replicate(hops) = &self.action else {
            return None;
        };
        if !config.replication.direct {
            return None;
        }
        hops.iter().any(|h| h.from != self.node).then(|| {
            hops.iter()
                .map(|h| format!("{} → {}", h.from, h.to))
                .collect::<Vec<_>>()
                .join(", ")
        })
    }

    pub fn title(&self) -> String {
        match self.kind {
            StepKind::Replicate => {
                format!("replicate {} to {}", self.node, self.targets.join(", "))
            }
            StepKind::Upload => {
                let repos = match &self.action {
                    Action::Upload(us) => us.iter().map(|u| u.repo.as_str()).collect(),
                    _ => vec![],
                };
                format!(
                    "upload {} from {} to {}",
                    repos.join(", "),
                    self.node,
                    self.targets.join(", ")
                )
            }
            StepKind::Records => format!("keep records on {}", self.targets.join(", ")),
            StepKind::Heal => format!("heal {}'s copies on {}", self.node, self.targets.join(", ")),
            StepKind::Verify => format!(
                "verify {}'s copies on {}",
                self.node,
                self.targets.join(", ")
            ),
            kind => format!("{kind} {}", self.node),
        }
    }

    /// What the step runs, as a person could type it on each node (restic asks for the
    /// password itself there; wbackup gives it on stdin).
    pub fn commands(&self, config: &Config) -> Vec<String> {
        let node = |name: &str| config.node(name).expect("plan nodes are configured");
        match &self.action {
            Action::Prepare {
                addresses, args, ..
            } => {
                let n = node(&self.node);
                let mut out = vec![];
                if !addresses.is_empty() {
                    let quoted: Vec<String> = addresses.iter().map(|a| shell::quote(a)).collect();
                    out.push(format!(
                        "ssh {}  (first address that answers; one connection for the whole run)",
                        quoted.join(" | ")
                    ));
                }
                let args = action::display(args);
                out.push(on(
                    n,
                    format!(
                        "sh -c \"$(prepare.sh)\" -- check {args}  (reads only: tools, repository and snapshots, source paths and their size, the repositories held and their sizes, free space)"
                    ),
                ));
                out.push(on(
                    n,
                    format!(
                        "restic -r {}/OWNER/restic --no-lock cat config  (for each repository held: the password tried, read-only)",
                        shell::quote_path_for_user(n.base_dir.trim_end_matches('/'))
                    ),
                ));
                out.push(on(
                    n,
                    format!(
                        "sh -c \"$(prepare.sh)\" -- make {args}  (once every node of the run was checked, the password accepted and room found for what the run writes here: layout; quarantine folders older than {} days purged)",
                        config.replication.quarantine_days
                    ),
                ));
                out
            }
            Action::Restic(words) => {
                let c = action::display(words);
                let c = match self.kind {
                    StepKind::Init => {
                        let repo = repo_path(node(&self.node), &self.node);
                        format!(
                            "{c}  (only if {}/config is missing and no other node holds a copy of it; else the freshest copy that passes restic check is brought back, copied like a replica with its config last)",
                            shell::quote_path_for_user(&repo)
                        )
                    }
                    StepKind::Forget => format!("{c}  (only after check passed)"),
                    _ => c,
                };
                vec![on(node(&self.node), c)]
            }
            Action::Replicate(hops) => hops
                .iter()
                .flat_map(|h| {
                    if !node(&h.from).is_orchestrator && !node(&h.to).is_orchestrator {
                        direct_commands(config, &self.node, node(&h.from), node(&h.to))
                    } else {
                        hop_commands(&self.node, node(&h.from), node(&h.to))
                    }
                })
                .collect(),
            Action::Upload(uploads) => replication::bucket::commands(uploads)
                .into_iter()
                .map(|c| on(node(&self.node), c))
                .collect(),
            Action::Records => records_commands(config, node(&self.node), &self.targets),
            Action::Heal { donors } => self
                .targets
                .iter()
                .flat_map(|h| heal_commands(config, &self.node, node(h), donors))
                .collect(),
            Action::Verify => self
                .targets
                .iter()
                .flat_map(|h| match config.bucket(h) {
                    Some(b) => bucket_verify_commands(config, &self.node, b),
                    None => verify_commands(config, &self.node, node(h)),
                })
                .collect(),
        }
    }
}

/// A path of `n`'s as rsync on the orchestrator names it, quoted: a remote side through
/// the node's first address (an IPv6 literal in brackets); the run uses the first
/// address that answers.
fn spec(n: &Node, p: String) -> String {
    match n.addresses.first() {
        Some(a) if !n.is_orchestrator => format!(
            "{}{}",
            shell::quote(&crate::engine::node::rsync_spec(a, "")),
            shell::quote_path_for_user(&p)
        ),
        _ => shell::quote_path_for_user(&p),
    }
}

/// A hop's two commands: the transfer, run on the orchestrator, and the install on the
/// target. Built by the same functions the engine runs.
fn hop_commands(repo: &str, from: &Node, to: &Node) -> Vec<String> {
    let base = to.base_dir.trim_end_matches('/');
    let stage = replication::stage_path(base, repo);
    let remote = !from.is_orchestrator || !to.is_orchestrator;
    let transfer = replication::transfer_argv(
        spec(from, format!("{}/", repo_path(from, repo))),
        spec(to, format!("{stage}/")),
        remote.then(|| "ssh".to_string()),
    );
    let last_two = transfer.len() - 2;
    // The two specs are quoted above, piece by piece.
    let transfer: Vec<String> = transfer
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if i >= last_two {
                w.clone()
            } else {
                shell::quote(w)
            }
        })
        .collect();
    let install = replication::install_args(
        &stage,
        &repo_path(to, repo),
        "CONFIG_SHA256",
        &format!("{}/TIME", replication::quarantine_path(base, repo)),
    );
    vec![
        format!(
            "{}   (over the run's ssh connection; the names the copy lacks on stdin, in phase order)",
            transfer.join(" ")
        ),
        on(
            to,
            format!(
                "sh -c \"$(install.sh)\" -- {}   (names on stdin: `+ NAME` checked sha256 = name and installed, phase by phase; `- NAME` the source no longer has, moved to quarantine)",
                install
                    .iter()
                    .map(|w| shell::quote_path_for_user(w))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ),
    ]
}

/// A direct hop's commands: the transfer run on the source through a connection that
/// forwards a private agent restricted to this one path, then the install on the target
/// as for any hop; the relay's transfer when the direct path fails.
fn direct_commands(config: &Config, repo: &str, from: &Node, to: &Node) -> Vec<String> {
    let orch = config.orchestrator();
    let base = to.base_dir.trim_end_matches('/');
    let stage = replication::stage_path(base, repo);
    let mut transfer = vec!["rsync".to_string()];
    transfer.extend(replication::transfer::transfer_flags());
    let transfer: Vec<String> = transfer.iter().map(|w| shell::quote(w)).collect();
    let target = to.addresses.first().map(String::as_str).unwrap_or("");
    let mut out = vec![on(
        from,
        format!(
            "{} -e 'ssh -o StrictHostKeyChecking=yes …' {}/ {}{}/   (on a new connection to {} that forwards a private ssh-agent holding this machine's key, usable only for {} > {}; {}'s host key as this machine knows it; the names on stdin)",
            transfer.join(" "),
            shell::quote_path_for_user(&repo_path(from, repo)),
            shell::quote(&crate::engine::node::rsync_spec(target, "")),
            shell::quote_path_for_user(&stage),
            from.name,
            from.name,
            to.name,
            to.name,
        ),
    )];
    let relayed = hop_commands(repo, orch, to);
    out.push(format!(
        "if that fails (no route, key refused): {}",
        relayed[0]
    ));
    out.extend(relayed.into_iter().skip(1));
    out
}

/// A damaged copy's heal: its files read, the donors asked in order for the damaged
/// names, the sound files carried and put in place, the copy read again. Which files and
/// which donor are found at run time (`engine::heal`).
fn heal_commands(config: &Config, repo: &str, holder: &Node, donors: &[String]) -> Vec<String> {
    let path = repo_path(holder, repo);
    let base = holder.base_dir.trim_end_matches('/');
    let stage = crate::engine::heal::heal_stage(base, repo);
    let quarantine = format!("{}/TIME-healed", replication::quarantine_path(base, repo));
    let words = |args: Vec<String>| {
        args.iter()
            .map(|w| shell::quote_path_for_user(w))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let donors: Vec<&String> = donors.iter().filter(|d| **d != holder.name).collect();
    let from = if donors.is_empty() {
        "none was proven: nothing is overwritten and the step fails".to_string()
    } else {
        donors
            .iter()
            .map(|d| d.as_str())
            .collect::<Vec<_>>()
            .join(", then ")
    };
    let first = donors
        .first()
        .and_then(|d| config.node(d))
        .map(|d| spec(d, format!("{}/", repo_path(d, repo))))
        .unwrap_or_else(|| "DONOR:REPO/".into());
    vec![
        on(
            holder,
            format!(
                "sh -c \"$(scan.sh)\" -- {}   (every file read: one whose sha256 is not its name, or that cannot be read, is damaged)",
                shell::quote_path_for_user(&path)
            ),
        ),
        format!(
            "[on each donor in turn: {from}] sh -c \"$(scan.sh)\" -- REPO   (the damaged names on stdin: the first donor holding every one of them sound gives them)"
        ),
        format!(
            "rsync -tpIL -s --files-from=- {first} {}   (the damaged names on stdin; through a folder on this machine when neither end is it)",
            spec(holder, format!("{stage}/"))
        ),
        on(
            holder,
            format!(
                "sh -c \"$(heal.sh)\" -- {}   (each staged file checked sha256 = name, the damaged one moved to the quarantine, the sound one renamed into place)",
                words(crate::engine::heal::heal_args(&stage, &path, &quarantine))
            ),
        ),
        on(holder, words(crate::engine::heal::reread_args(&path))),
    ]
}

/// A copy's proof: a restore drill on the node that holds it, then a share of its data
/// read. The files and the share are chosen at run time (`engine::verify`).
fn verify_commands(config: &Config, repo: &str, holder: &Node) -> Vec<String> {
    let v = &config.verify;
    let path = shell::quote_path_for_user(&repo_path(holder, repo));
    let drill = shell::quote_path_for_user(&format!(
        "{}/.wbackup-drill",
        holder.base_dir.trim_end_matches('/')
    ));
    vec![
        on(
            holder,
            format!(
                "sh -c \"$(drill.sh)\" -- {drill} restic -r {path} --no-lock restore LATEST --include FILE...   (up to {} files, at most {}, restored into a scratch folder there, hashed with sha256sum, compared with the owner's live files or its own repository; the folder removed)",
                v.files,
                replication::human_bytes(v.max_bytes.0)
            ),
        ),
        on(
            holder,
            format!(
                "restic -r {path} --no-lock check --read-data-subset=K/{}   (K moves on by one each time: every pack read within {} verifications)",
                v.read_data_cycle, v.read_data_cycle
            ),
        ),
    ]
}

/// A bucket copy's proof: the same drill and data read, by the uploading node through
/// restic's rclone backend.
fn bucket_verify_commands(config: &Config, repo: &str, b: &crate::config::Bucket) -> Vec<String> {
    let up = config
        .node(config.uploader())
        .expect("validated: the uploader is a node");
    let mut r = format!("-r {}", shell::quote(&crate::restore::bucket_repo(b, repo)));
    if let Some(f) = &config.rclone.config_file {
        r.push_str(&format!(
            " -o {}",
            shell::quote(&replication::bucket::restic_rclone_args(f).expect("validated at load"))
        ));
    }
    let drill = shell::quote_path_for_user(&format!(
        "{}/.wbackup-drill",
        up.base_dir.trim_end_matches('/')
    ));
    let v = &config.verify;
    vec![
        on(
            up,
            format!(
                "sh -c \"$(drill.sh)\" -- {drill} restic {r} --no-lock restore LATEST --include FILE...   ({}'s copy: up to {} files, at most {}, restored here, hashed and compared as for a node's copy)",
                b.name,
                v.files,
                replication::human_bytes(v.max_bytes.0)
            ),
        ),
        on(
            up,
            format!(
                "restic {r} --no-lock check --read-data-subset=K/{}",
                v.read_data_cycle
            ),
        ),
    ]
}

fn records_commands(config: &Config, orch: &Node, targets: &[String]) -> Vec<String> {
    let base = orch.base_dir.trim_end_matches('/');
    let mut what = vec![];
    if !config.is_builtin() {
        what.push(format!(
            "config.toml = {}",
            shell::quote(&config.path().to_string_lossy())
        ));
    }
    what.push(format!(
        "forgotten/ = {}",
        shell::quote_path_for_user(&format!("{base}/logs/forgotten/"))
    ));
    what.push(format!(
        "proofs.jsonl = {}",
        shell::quote_path_for_user(&format!("{base}/logs/proofs.jsonl"))
    ));
    let mut commands = vec![format!(
        "copy into a private staging folder: {}",
        what.join(", ")
    )];
    for t in targets {
        let t = config.node(t).expect("record targets are nodes");
        commands.push(format!(
            "rsync -rtp --chmod=D700,F600 STAGING/ {}:{}/   (each file replaced whole) then flush",
            t.name,
            shell::quote_path_for_user(&format!(
                "{}/{}",
                t.base_dir.trim_end_matches('/'),
                crate::engine::records::RECORDS_DIR
            ))
        ));
    }
    commands
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Nodes taking part, orchestrator first.
    pub nodes: Vec<String>,
    pub steps: Vec<Step>,
    /// Repositories whose lost snapshots the user consented to propagate
    /// (`--accept-shrink REPO`), after checking the source.
    pub accept_shrink: Vec<String>,
    /// How many steps of one kind may run at once, each on its own node (`jobs` in the
    /// configuration, or `--jobs`); copies run side by side when they share no node.
    pub jobs: usize,
    /// `jobs` came from "auto": one step per node of this run.
    pub jobs_auto: bool,
}

/// How many steps of one kind may run at once: a number, or one per node of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jobs {
    Steps(usize),
    Auto,
}

/// What a person may ask of a plan beyond the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Only these nodes (all when empty).
    pub only: Vec<String>,
    /// `--jobs`, instead of the configuration's `jobs`.
    pub jobs: Option<Jobs>,
    /// `--accept-shrink REPO`: repositories whose lost snapshots may leave their copies.
    pub accept_shrink: Vec<String>,
    /// End with the verification of every copy (`[verify]`; when due, or `--verify`).
    pub verify: bool,
    /// Copies to heal before anything is written (the proof ledger says which).
    pub heal: Vec<Heal>,
}

/// Damaged copies of one repository, and the copies that may heal them, best first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heal {
    pub repo: String,
    pub copies: Vec<String>,
    pub donors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("unknown node {0:?} in --node; configured nodes: {1}")]
    UnknownNode(String, String),
    #[error(
        "--accept-shrink {0}: this run replicates no repository of that name (replicated: {1})"
    )]
    NotReplicated(String, String),
}

/// The folders wbackup keeps under `node`'s `base_dir` (`~` unexpanded): every
/// repository and copy it may hold, the quarantine, staging, drill and records folders,
/// and on the orchestrator the logs. Its backups exclude them.
pub fn own_folders(config: &Config, node: &Node) -> Vec<String> {
    let base = node.base_dir.trim_end_matches('/');
    let mut out: Vec<String> = config
        .nodes
        .iter()
        .filter(|n| !n.is_storage())
        .map(|n| repo_path(node, &n.name))
        .collect();
    for dir in [
        ".quarantine",
        ".wbackup-incoming",
        ".wbackup-drill",
        ".wbackup-records",
    ] {
        out.push(format!("{base}/{dir}"));
    }
    if node.is_orchestrator {
        out.push(format!("{base}/logs"));
    }
    out
}

/// The repository of `owner` as stored on `holder`, with `~` unexpanded.
pub fn repo_path(holder: &Node, owner: &str) -> String {
    format!("{}/{}/restic", holder.base_dir.trim_end_matches('/'), owner)
}

fn on(node: &Node, command: String) -> String {
    if node.is_orchestrator {
        command
    } else {
        format!("[on {}] {command}", node.name)
    }
}

/// The prepare script's arguments for `n` (DIR... with the quarantine first: the script
/// purges its old folders).
fn prepare_action(config: &Config, n: &Node) -> Action {
    let base = n.base_dir.trim_end_matches('/');
    let mut dirs = vec![
        format!("{base}/.quarantine"),
        format!("{base}/.wbackup-incoming"),
    ];
    if !n.is_storage() {
        dirs.push(format!("{base}/{}", n.name));
    }
    if n.is_orchestrator {
        dirs.push(format!("{base}/logs"));
    }
    let minutes = u64::from(config.replication.quarantine_days) * 24 * 60;
    let mut args = vec![
        Word::path(repo_path(n, &n.name)),
        Word::lit(minutes.to_string()),
        Word::lit(n.paths.len().to_string()),
    ];
    args.extend(n.paths.iter().map(Word::path));
    args.extend(dirs.into_iter().map(Word::Path));
    Action::Prepare {
        addresses: if n.is_orchestrator {
            vec![]
        } else {
            n.addresses.clone()
        },
        args,
        paths: n.paths.len(),
    }
}

/// The restic command of step `kind` on `n`'s own repository.
fn restic_action(config: &Config, n: &Node, kind: StepKind) -> Action {
    let repo = repo_path(n, &n.name);
    Action::Restic(match kind {
        StepKind::Init => restic::init_args(&repo),
        StepKind::Backup => restic::backup_args(
            &repo,
            &n.name,
            &n.paths,
            &n.exclude,
            &own_folders(config, n),
        ),
        StepKind::Check => restic::check_args(&repo, config.check.read_data_subset.as_deref()),
        StepKind::Forget => restic::forget_args(&repo, &config.retention),
        _ => unreachable!("{kind} is not a restic step"),
    })
}

/// The hops that bring every copy of `owner`'s repository on `targets` up to date: the
/// orchestrator's copy from the owner, every other copy from the orchestrator's (or from
/// the owner, when the owner is the orchestrator or copies go `direct`).
fn hops(owner: &str, orch: &str, targets: &[String], direct: bool) -> Vec<Hop> {
    targets
        .iter()
        .map(|t| Hop {
            from: if direct || owner == orch || t == orch {
                owner.to_string()
            } else {
                orch.to_string()
            },
            to: t.clone(),
            rank: None,
        })
        .collect()
}

/// The hops between nodes for `owner`'s copies on `targets` (the orchestrator's first):
/// direct ones as the measured `links` make fastest, when they say enough.
fn ssh_hops(
    config: &Config,
    links: &crate::links::Links,
    owner: &str,
    targets: &[String],
) -> Vec<Hop> {
    let direct = config.replication.direct;
    let chosen = direct
        .then(|| crate::links::sources(links, owner, targets))
        .flatten();
    match chosen {
        Some(pairs) => as_hops(pairs),
        None => hops(owner, &config.orchestrator().name, targets, direct),
    }
}

fn as_hops(pairs: Vec<(String, String)>) -> Vec<Hop> {
    pairs
        .into_iter()
        .map(|(from, to)| Hop {
            from,
            to,
            rank: None,
        })
        .collect()
}

/// A step to be: its kind, node, targets and action.
type StepOf = (StepKind, String, Vec<String>, Action);

/// The steps that carry copies: one replicate step per repository that has copies on
/// other nodes of the run, then one upload step per bucket (the uploading node then
/// holds every repository). Also the repositories they replicate. `side_by_side`: the
/// steps run at the same time (`jobs` above 1).
fn copy_steps(
    config: &Config,
    options: &Options,
    nodes: &[&Node],
    owners: &[&Node],
    side_by_side: bool,
) -> (Vec<StepOf>, Vec<String>) {
    let orch = config.orchestrator();
    let links = crate::links::Links::load(config);
    let repos: Vec<(String, Vec<String>)> = owners
        .iter()
        .map(|owner| {
            let mut targets: Vec<String> = nodes
                .iter()
                .filter(|t| t.name != owner.name)
                .map(|t| t.name.clone())
                .collect();
            // The orchestrator's own copy is the relay: first, unless the links say.
            targets.sort_by_key(|t| *t != orch.name);
            (owner.name.clone(), targets)
        })
        .filter(|(_, targets)| !targets.is_empty())
        .collect();
    // Steps side by side share the nodes' links: their copies are planned together.
    let together = match side_by_side && config.replication.direct {
        true => crate::links::schedule(&links, &repos),
        false => vec![None; repos.len()],
    };
    let mut steps = vec![];
    let mut replicated = vec![];
    for ((owner, targets), planned) in repos.into_iter().zip(together) {
        let hops = match planned {
            Some(copies) => copies
                .into_iter()
                .map(|c| Hop {
                    from: c.from,
                    to: c.to,
                    rank: Some(c.rank),
                })
                .collect(),
            None => ssh_hops(config, &links, &owner, &targets),
        };
        replicated.push(owner.clone());
        steps.push((StepKind::Replicate, owner, targets, Action::Replicate(hops)));
    }
    for (up, bucket, each) in uploads(config, options, nodes, owners) {
        for u in &each {
            if !replicated.contains(&u.repo) {
                replicated.push(u.repo.clone());
            }
        }
        steps.push((StepKind::Upload, up, vec![bucket], Action::Upload(each)));
    }
    (steps, replicated)
}

/// The upload steps of this run: per bucket, every repository of `owners` brought up to
/// date there from the uploading node (which holds every repository once the replicate
/// steps ran). None when the uploading node is not part of the run.
fn uploads(
    config: &Config,
    options: &Options,
    nodes: &[&Node],
    owners: &[&Node],
) -> Vec<(String, String, Vec<Upload>)> {
    let from = config.uploader();
    let Some(up) = nodes.iter().find(|n| n.name == from) else {
        return vec![];
    };
    buckets_in(config, options, nodes)
        .map(|b| {
            let each = owners
                .iter()
                .map(|o| crate::engine::replication::bucket::upload_for(config, up, &o.name, b))
                .collect();
            (from.to_string(), b.name.clone(), each)
        })
        .collect()
}

/// The buckets of a run on `nodes`: those `options` select, when the uploading node is
/// one of `nodes`.
fn buckets_in<'c>(
    config: &'c Config,
    options: &Options,
    nodes: &[&Node],
) -> impl Iterator<Item = &'c crate::config::Bucket> {
    let up = nodes.iter().any(|n| n.name == config.uploader());
    let only = options.only.clone();
    config
        .buckets
        .iter()
        .filter(move |b| up && (only.is_empty() || only.contains(&b.name)))
}

/// The heal steps of `options` for a plan on `nodes`: per repository owned in it, the
/// damaged copies on its nodes (in their order) and the donors among them that are not
/// damaged themselves.
fn heals(
    options: &Options,
    nodes: &[&Node],
    owners: &[&Node],
) -> Vec<(String, Vec<String>, Vec<String>)> {
    let in_plan = |n: &String| nodes.iter().any(|p| p.name == *n);
    options
        .heal
        .iter()
        .filter(|h| owners.iter().any(|o| o.name == h.repo))
        .filter_map(|heal| {
            let copies: Vec<String> = nodes
                .iter()
                .filter(|n| heal.copies.contains(&n.name))
                .map(|n| n.name.clone())
                .collect();
            let donors = heal
                .donors
                .iter()
                .filter(|d| in_plan(d) && !copies.contains(d))
                .cloned()
                .collect();
            (!copies.is_empty()).then(|| (heal.repo.clone(), copies, donors))
        })
        .collect()
}

/// The nodes taking part in a plan for `only` (all when empty), and the owners among them
/// (the nodes with data to back up). Replication relays through the orchestrator, so it
/// takes part whenever there is something to carry between two selected nodes.
fn participants<'c>(
    config: &'c Config,
    only: &[String],
) -> Result<(Vec<&'c Node>, Vec<&'c Node>), PlanError> {
    for name in only {
        if config.node(name).is_none() && config.bucket(name).is_none() {
            let known: Vec<&str> = config
                .nodes
                .iter()
                .map(|n| n.name.as_str())
                .chain(config.buckets.iter().map(|b| b.name.as_str()))
                .collect();
            return Err(PlanError::UnknownNode(name.clone(), known.join(", ")));
        }
    }
    let selected: Vec<&Node> = config
        .nodes
        .iter()
        .filter(|n| only.is_empty() || only.contains(&n.name))
        .collect();
    let owners: Vec<&Node> = selected
        .iter()
        .copied()
        .filter(|n| !n.is_storage())
        .collect();
    let replicate = config.replication.enabled && config.nodes.len() > 1;
    let mut nodes: Vec<&Node> = selected.clone();
    if replicate
        && !owners.is_empty()
        && selected.len() > 1
        && !nodes.iter().any(|n| n.is_orchestrator)
    {
        nodes.insert(0, config.orchestrator());
    }
    Ok((nodes, owners))
}

impl Plan {
    /// Builds the plan for the nodes in `only` (all when empty).
    pub fn build(config: &Config, only: &[String]) -> Result<Plan, PlanError> {
        Plan::build_with(
            config,
            &Options {
                only: only.to_vec(),
                ..Options::default()
            },
        )
    }

    /// Builds the plan with a person's options.
    pub fn build_with(config: &Config, options: &Options) -> Result<Plan, PlanError> {
        let (nodes, owners) = participants(config, &options.only)?;
        let replicate = config.replication.enabled && config.nodes.len() + config.buckets.len() > 1;
        let plan_nodes = nodes.len() + config.buckets.len();
        let jobs_as = options.jobs.unwrap_or(if config.jobs_auto {
            Jobs::Auto
        } else {
            Jobs::Steps(config.jobs)
        });
        let jobs = match jobs_as {
            Jobs::Steps(n) => n,
            Jobs::Auto => plan_nodes,
        }
        .max(1);
        let jobs_auto = jobs_as == Jobs::Auto;

        let mut steps = Vec::new();
        let mut push = |kind, node: &str, targets: Vec<String>, action: Action| {
            steps.push(Step {
                id: steps.len(),
                kind,
                node: node.to_string(),
                targets,
                action,
            })
        };

        for n in &nodes {
            push(
                StepKind::Prepare,
                &n.name,
                vec![],
                prepare_action(config, n),
            );
        }
        // Damaged copies healed first: the backups then add to sound repositories.
        for (repo, copies, donors) in heals(options, &nodes, &owners) {
            push(StepKind::Heal, &repo, copies, Action::Heal { donors });
        }
        for kind in [
            StepKind::Init,
            StepKind::Backup,
            StepKind::Check,
            StepKind::Forget,
        ] {
            for n in &owners {
                push(kind, &n.name, vec![], restic_action(config, n, kind));
            }
        }
        let (copying, replicated) = if replicate {
            copy_steps(config, options, &nodes, &owners, jobs > 1)
        } else {
            (vec![], vec![])
        };
        for (kind, node, targets, action) in copying {
            push(kind, &node, targets, action);
        }
        // Every copy proven, before the records carry the proofs.
        if options.verify {
            // A bucket's copies are read by the uploading node: proven when it is in the run.
            let holders: Vec<String> = nodes
                .iter()
                .map(|n| n.name.clone())
                .chain(buckets_in(config, options, &nodes).map(|b| b.name.clone()))
                .collect();
            for owner in &owners {
                push(
                    StepKind::Verify,
                    &owner.name,
                    holders.clone(),
                    Action::Verify,
                );
            }
        }
        // Last: the orchestrator's records on every other node of the run.
        if let Some(orch) = nodes.iter().find(|n| n.is_orchestrator) {
            let targets: Vec<String> = nodes
                .iter()
                .filter(|n| !n.is_orchestrator)
                .map(|n| n.name.clone())
                .collect();
            if !targets.is_empty() {
                push(StepKind::Records, &orch.name, targets, Action::Records);
            }
        }
        if let Some(bad) = options
            .accept_shrink
            .iter()
            .find(|r| !replicated.contains(r))
        {
            let known = if replicated.is_empty() {
                "none".to_string()
            } else {
                replicated.join(", ")
            };
            return Err(PlanError::NotReplicated(bad.clone(), known));
        }
        Ok(Plan {
            nodes: nodes.iter().map(|n| n.name.clone()).collect(),
            steps,
            accept_shrink: options.accept_shrink.clone(),
            jobs,
            jobs_auto,
        })
    }

    pub fn step(&self, id: usize) -> &Step {
        &self.steps[id]
    }

    /// The plan as `wbackup plan` prints it.
    pub fn render(&self, config: &Config) -> String {
        let mut out = String::new();
        let roles: Vec<String> = self
            .nodes
            .iter()
            .map(|n| {
                let node = config.node(n).expect("plan nodes are configured");
                match node.role() {
                    Role::Orchestrator => format!("{n} (orchestrator, local)"),
                    role => format!("{n} ({role}, {})", node.addresses.join(" | ")),
                }
            })
            .collect();
        out.push_str(&format!("nodes: {}\n", roles.join(", ")));
        if !config.buckets.is_empty() {
            let buckets: Vec<String> = config
                .buckets
                .iter()
                .map(|b| format!("{} (bucket, rclone {})", b.name, shell::quote(&b.remote)))
                .collect();
            out.push_str(&format!(
                "buckets: {}, uploaded from {}\n",
                buckets.join(", "),
                config.uploader()
            ));
        }
        if self.jobs > 1 {
            let auto = if self.jobs_auto {
                " (jobs = \"auto\": one step per node of this run)"
            } else {
                ""
            };
            let per = config.replication.transfers_per_node;
            out.push_str(&format!(
                "steps of one kind run up to {} at a time{auto}, each on its own node; copies side by side when they share no node ({per} copy into and {per} out of each node at once); a copy that feeds others takes new data in parts, each passed on as it lands\n",
                self.jobs
            ));
        }
        for step in &self.steps {
            out.push_str(&format!("{:>3}. {}\n", step.id + 1, step.title()));
            if let Some(chain) = step.chosen_sources(config) {
                // Side by side, the steps' copies were planned together.
                let shared = if self.jobs > 1 {
                    ", the steps' copies planned together, one into and one out of each node at a time"
                } else {
                    ""
                };
                out.push_str(&format!(
                    "       (copies made in the order {chain}: each from the copy the links measured by earlier runs ({}) make fastest{shared}; the owner's own when that one could not be made)\n",
                    shell::quote_path_for_user(&crate::logbook::logs_dir(config).join("links.toml").to_string_lossy())
                ));
            }
            for c in step.commands(config) {
                out.push_str(&format!("       {c}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use std::path::Path;

    fn topology(n: usize) -> Config {
        let names = ["laptop", "home", "server", "nas", "office"];
        let mut text =
            String::from("orchestrator = \"laptop\"\n[retention]\nkeep_last = 3\nkeep_daily = 7\n");
        for (i, name) in names.iter().take(n).enumerate() {
            text.push_str(&format!("[nodes.{name}]\n"));
            if i > 0 {
                text.push_str(&format!(
                    "addresses = [\"192.168.1.{i}\", \"{name}.example.org\"]\n"
                ));
            }
            match *name {
                "nas" => text.push_str("base_dir = \"/srv/backup\"\n"),
                "server" => {
                    text.push_str("paths = [\"/etc\", \"/srv/my www\"]\nexclude = [\"*.iso\"]\n")
                }
                _ => text.push_str("paths = [\"~/Documents\"]\n"),
            }
        }
        parse(Path::new("c.toml"), &text).unwrap()
    }

    #[test]
    fn jobs_auto_runs_one_step_per_node_and_direct_hops_leave_from_the_owner() {
        let mut c = topology(3);
        c.jobs_auto = true;
        c.replication.direct = true;
        let p = Plan::build(&c, &[]).unwrap();
        assert_eq!(p.jobs, 3);
        let text = p.render(&c);
        assert!(
            text.contains("up to 3 at a time (jobs = \"auto\""),
            "{text}"
        );
        let Action::Replicate(hops) = &p
            .steps
            .iter()
            .find(|s| s.kind == StepKind::Replicate && s.node == "home")
            .unwrap()
            .action
        else {
            panic!("a replicate step")
        };
        // The orchestrator's copy first, then server's straight from home.
        assert_eq!(hops[0].to, "laptop");
        assert!(hops.iter().all(|h| h.from == "home"), "{hops:?}");
        assert!(text.contains("usable only for home > server"), "{text}");
        c.replication.direct = false;
        let p = Plan::build(&c, &["home".into()]).unwrap();
        assert_eq!(p.jobs, 1, "home alone: one node, one step at a time");
    }

    #[test]
    fn direct_copies_come_from_where_the_measured_links_make_them_fastest() {
        let dir = tempfile::tempdir().unwrap();
        let text_of_config = format!(
            "orchestrator = \"laptop\"\n[replication]\ndirect = true\n[nodes.laptop]\npaths = [\"~/d\"]\nbase_dir = \"{}\"\n[nodes.home]\naddresses = [\"h\"]\npaths = [\"~/d\"]\n[nodes.server]\naddresses = [\"s\"]\npaths = [\"~/d\"]\n",
            dir.path().display()
        );
        let c = parse(Path::new("c.toml"), &text_of_config).unwrap();
        let home_hops = |p: &Plan| {
            let step = p
                .steps
                .iter()
                .find(|s| s.kind == StepKind::Replicate && s.node == "home")
                .unwrap();
            let Action::Replicate(hops) = &step.action else {
                panic!("a replicate step")
            };
            hops.iter()
                .map(|h| format!("{}>{}", h.from, h.to))
                .collect::<Vec<_>>()
        };
        // Nothing measured yet: every copy from the owner, the relay's first.
        let p = Plan::build(&c, &[]).unwrap();
        assert_eq!(home_hops(&p), ["home>laptop", "home>server"]);
        assert!(!p.render(&c).contains("copies made in the order"));
        // home's uplink is slow, server's fast: home sends once, server feeds laptop.
        for (from, to, mbit) in [
            ("home", "laptop", 20),
            ("home", "server", 20),
            ("server", "laptop", 50),
        ] {
            crate::links::record(&c, from, to, mbit << 20, 8.0);
        }
        let p = Plan::build(&c, &[]).unwrap();
        assert_eq!(home_hops(&p), ["home>server", "server>laptop"]);
        let text = p.render(&c);
        assert!(
            text.contains("copies made in the order home → server, server → laptop"),
            "{text}"
        );
        // Copies that do not go direct keep the relay.
        let relayed = text_of_config.replace("direct = true", "direct = false");
        let relayed = parse(Path::new("c.toml"), &relayed).unwrap();
        let p = Plan::build(&relayed, &[]).unwrap();
        assert_eq!(home_hops(&p), ["home>laptop", "laptop>server"]);
    }

    #[test]
    fn plans_for_1_2_3_and_5_nodes() {
        for n in [1, 2, 3, 5] {
            let c = topology(n);
            let plan = Plan::build(&c, &[]).unwrap();
            insta::assert_snapshot!(format!("plan_{n}_nodes"), plan.render(&c));
        }
    }

    #[test]
    fn every_node_ends_with_every_repository() {
        let c = topology(5);
        let plan = Plan::build(&c, &[]).unwrap();
        let owners: Vec<_> = c.nodes.iter().filter(|n| !n.is_storage()).collect();
        for owner in owners {
            let step = plan
                .steps
                .iter()
                .find(|s| s.kind == StepKind::Replicate && s.node == owner.name)
                .unwrap();
            let mut holders = step.targets.clone();
            holders.push(owner.name.clone());
            holders.sort();
            let mut all: Vec<_> = c.nodes.iter().map(|n| n.name.clone()).collect();
            all.sort();
            assert_eq!(holders, all);
            if owner.name != "laptop" {
                assert_eq!(step.targets[0], "laptop", "the relay comes first");
            }
        }
    }

    #[test]
    fn the_orchestrators_records_go_to_every_other_node_last() {
        let c = topology(5);
        let plan = Plan::build(&c, &[]).unwrap();
        let last = plan.steps.last().unwrap();
        assert_eq!(last.kind, StepKind::Records);
        assert_eq!(last.node, "laptop");
        assert_eq!(last.targets, ["home", "server", "nas", "office"]);
        let commands = last.commands(&c);
        assert!(commands[1].contains("home:~/backup/.wbackup-records/"));
        assert!(commands[3].contains("nas:/srv/backup/.wbackup-records/"));
        // Limited to some nodes, the records go to those.
        let plan = Plan::build(&c, &["home".into(), "nas".into()]).unwrap();
        assert_eq!(plan.steps.last().unwrap().targets, ["home", "nas"]);
    }

    #[test]
    fn unknown_node_is_a_usage_error() {
        let c = topology(2);
        assert!(matches!(
            Plan::build(&c, &["nope".into()]),
            Err(PlanError::UnknownNode(..))
        ));
    }

    #[test]
    fn backups_exclude_wbackups_folders_not_the_home_that_holds_them() {
        let c = parse(
            Path::new("c.toml"),
            "orchestrator = \"a\"\nbase_dir = \"~\"\n[nodes.a]\npaths = [\"~/\"]\n[nodes.b]\naddresses = [\"b\"]\npaths = [\"/x\"]\n[nodes.s]\naddresses = [\"s\"]\n",
        )
        .unwrap();
        let a = c.node("a").unwrap();
        assert_eq!(
            own_folders(&c, a),
            [
                "~/a/restic",
                "~/b/restic",
                "~/.quarantine",
                "~/.wbackup-incoming",
                "~/.wbackup-drill",
                "~/.wbackup-records",
                "~/logs"
            ]
        );
        let b = own_folders(&c, c.node("b").unwrap());
        assert!(!b.iter().any(|f| f.ends_with("logs")), "{b:?}");
        let plan = Plan::build(&c, &[]).unwrap();
        let backup = &plan
            .steps
            .iter()
            .find(|s| s.kind == StepKind::Backup)
            .unwrap();
        let commands = backup.commands(&c);
        assert!(
            commands[0]
                .contains("--exclude ~/a/restic --exclude ~/b/restic --exclude ~/.quarantine"),
            "{commands:?}"
        );
        assert!(!commands[0].contains("--exclude ~ "), "{commands:?}");
    }

    #[test]
    fn single_node_has_no_replication() {
        let c = topology(1);
        let plan = Plan::build(&c, &[]).unwrap();
        assert!(plan
            .steps
            .iter()
            .all(|s| s.kind != StepKind::Replicate && s.kind != StepKind::Records));
        assert_eq!(plan.steps.len(), 5);
    }

    #[test]
    fn damaged_copies_are_healed_first_from_proven_ones() {
        let c = topology(3);
        let options = Options {
            heal: vec![
                Heal {
                    repo: "home".into(),
                    copies: vec!["server".into(), "home".into()],
                    donors: vec!["laptop".into(), "server".into()],
                },
                // A repository outside the plan is left alone.
                Heal {
                    repo: "nas".into(),
                    copies: vec!["home".into()],
                    donors: vec!["laptop".into()],
                },
            ],
            ..Options::default()
        };
        let plan = Plan::build_with(&c, &options).unwrap();
        let heals: Vec<&Step> = plan
            .steps
            .iter()
            .filter(|s| s.kind == StepKind::Heal)
            .collect();
        assert_eq!(heals.len(), 1);
        let heal = heals[0];
        // In the plan's node order; a damaged copy is never a donor.
        assert_eq!(heal.targets, ["home", "server"]);
        assert_eq!(
            heal.action,
            Action::Heal {
                donors: vec!["laptop".into()]
            }
        );
        let first_backup = plan
            .steps
            .iter()
            .position(|s| s.kind == StepKind::Backup)
            .unwrap();
        assert!(heal.id < first_backup);
        let text = plan.render(&c);
        insta::assert_snapshot!("plan_3_nodes_heal", text);
    }
}
