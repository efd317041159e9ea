//! What `wbackup doctor` and the Setup view's **Test connection** ask a node, in one
//! place: it is reached the way a run reaches it (`node::connect`, its addresses in
//! order, the same ssh options), then `sh/doctor.sh` reports restic's and rsync's
//! versions, the free space where its `base_dir` is and whether that folder can be
//! written. Each problem comes back as one plain sentence and the command that fixes it:
//! `ssh-copy-id` for a refused key, the `ssh` command that shows a new host key for a
//! person to accept (never accepted here: ssh runs in batch mode), the apt line for a
//! missing tool.
//!
//! It writes nothing on any node: the script only reads, and no folder is created.

use super::node::{self, Conn, Unreachable};
use crate::config::{Config, Node};
use crate::shell;
use tokio_util::sync::CancellationToken;

/// The script each node runs (read-only).
pub const SCRIPT: &str = include_str!("sh/doctor.sh");

/// Less free space than this (MiB) at `base_dir` is a problem.
pub const LOW_SPACE_MB: u64 = 1024;

/// What [`SCRIPT`] found on a node.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Checkup {
    /// Each tool with its version line, None when it is missing.
    pub tools: Vec<(String, Option<String>)>,
    pub free_kib: Option<u64>,
    pub unwritable: bool,
    /// Whether each folder asked about exists, in the order asked.
    pub folders: Vec<bool>,
}

impl Checkup {
    /// Reads the script's output strictly: a line it never writes is an error.
    pub fn parse(lines: &[String]) -> Result<Checkup, String> {
        let mut c = Checkup::default();
        for l in lines {
            if let Some(kib) = l.strip_prefix("free: ") {
                let kib = kib.parse().map_err(|_| format!("unexpected line {l:?}"))?;
                c.free_kib = Some(kib);
            } else if l == "unwritable" {
                c.unwritable = true;
            } else if let Some((_, what)) = l
                .strip_prefix("folder ")
                .and_then(|rest| rest.split_once(": "))
                .filter(|(n, w)| {
                    n.parse() == Ok(c.folders.len()) && matches!(*w, "found" | "missing")
                })
            {
                c.folders.push(what == "found");
            } else if let Some((tool, what)) = l
                .split_once(": ")
                .filter(|(t, _)| matches!(*t, "restic" | "rsync"))
            {
                let version = (what != "missing").then(|| what.to_string());
                c.tools.push((tool.to_string(), version));
            } else {
                return Err(format!("unexpected line {l:?} from the checkup"));
            }
        }
        Ok(c)
    }
}

/// One problem: what is wrong, and what to do (a command to paste where there is one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub sentence: String,
    pub fix: String,
}

/// What a test of one node found.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub node: String,
    /// The address that answered, when one did.
    pub address: Option<String>,
    /// "local", "LAN" or "public".
    pub route: Option<String>,
    /// Where its `base_dir` is on it, as the node resolves it.
    pub base: Option<String>,
    pub checkup: Option<Checkup>,
    /// The node's folders to back up, as configured, with whether each exists there.
    pub folders: Vec<(String, bool)>,
    pub problems: Vec<Finding>,
}

impl Report {
    /// The lines `doctor` prints under the node's name, and the window shows.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let (Some(a), Some(r)) = (&self.address, &self.route) {
            out.push(format!("address: {a} ({r})"));
        }
        if let Some(c) = &self.checkup {
            for (tool, version) in &c.tools {
                if let Some(v) = version {
                    out.push(format!("{tool}: {v}"));
                }
            }
            if let (Some(kib), Some(base)) = (c.free_kib, &self.base) {
                out.push(format!("free space at {base}: {} MB", kib / 1024));
            }
            if let Some(base) = &self.base {
                if !c.unwritable {
                    out.push(format!("{base} can be written"));
                }
            }
        }
        for (folder, found) in &self.folders {
            if *found {
                out.push(format!("{folder} is there"));
            }
        }
        out
    }
}

/// The `ssh` destination a person types for `node` at `address`: `user@address`.
fn destination(node: &Node, address: &str) -> String {
    match &node.user {
        Some(u) => format!("{u}@{address}"),
        None => address.to_string(),
    }
}

fn port_args(node: &Node, flag: &str) -> Vec<String> {
    node.port
        .map(|p| vec![flag.to_string(), p.to_string()])
        .unwrap_or_default()
}

/// Why a node could not be reached, as a sentence and its fix.
pub fn unreachable(config: &Config, node: &Node, u: &Unreachable) -> Finding {
    let name = shell::inert(&node.name);
    if u.key_changed.is_some() {
        return Finding {
            sentence: format!("{name}'s host key changed since it was last accepted."),
            fix: u.reason(&node.name),
        };
    }
    let answered = |needle: &str| u.tried.iter().find(|(_, why)| why.contains(needle));
    let ssh_f = config
        .ssh
        .config_file
        .as_ref()
        .map(|f| {
            let home = crate::config::home_dir();
            vec![
                "-F".to_string(),
                crate::config::expand_home(f, &home.to_string_lossy()),
            ]
        })
        .unwrap_or_default();
    if let Some((address, _)) = answered("Host key verification failed") {
        let mut words = vec!["ssh".to_string()];
        words.extend(ssh_f);
        words.extend(port_args(node, "-p"));
        words.push(destination(node, address));
        words.push("true".into());
        return Finding {
            sentence: format!(
                "{name}'s host key is not known yet at {}, and wbackup never accepts one by itself.",
                shell::inert(address)
            ),
            fix: format!(
                "Run `{}` once, check the fingerprint it shows against {name}'s own (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` there) and answer yes; then test again.",
                shell::join(&words)
            ),
        };
    }
    if let Some((address, _)) = answered("Permission denied") {
        let mut words = vec!["ssh-copy-id".to_string()];
        words.extend(port_args(node, "-p"));
        words.push(destination(node, address));
        return Finding {
            sentence: format!(
                "{name} answered at {} but refused the login: your SSH key is not authorized there{}.",
                shell::inert(address),
                node.user
                    .as_ref()
                    .map(|u| format!(" for {}", shell::inert(u)))
                    .unwrap_or_default()
            ),
            fix: format!(
                "Run `{}` (it asks for that account's password once), then test again.",
                shell::join(&words)
            ),
        };
    }
    Finding {
        sentence: format!("{name} could not be reached: {u}."),
        fix: format!(
            "Check that {name} is switched on and connected, that its SSH server runs and that `ssh {}` logs in without a prompt.",
            shell::quote(&destination(
                node,
                node.addresses.first().map(String::as_str).unwrap_or("")
            ))
        ),
    }
}

/// What the checkup found wrong on a reached node.
pub fn problems(conn: &Conn, c: &Checkup) -> Vec<Finding> {
    let name = shell::inert(&conn.node.name);
    let mut out = Vec::new();
    let missing: Vec<&str> = c
        .tools
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(t, _)| t.as_str())
        .collect();
    if !missing.is_empty() {
        let verb = if missing.len() == 1 { "is" } else { "are" };
        out.push(Finding {
            sentence: format!("{} {verb} not installed on {name}.", missing.join(" and ")),
            fix: format!(
                "Install {} on {name}: `sudo apt install {}`.",
                if missing.len() == 1 { "it" } else { "them" },
                missing.join(" ")
            ),
        });
    }
    if let Some(kib) = c.free_kib {
        if kib / 1024 < LOW_SPACE_MB {
            out.push(Finding {
                sentence: format!(
                    "{name} has only {} MB free at {}.",
                    kib / 1024,
                    shell::inert(&conn.base())
                ),
                fix: format!("Free some space on {name}, or point its backup folder (base_dir) at a bigger disk."),
            });
        }
    }
    if c.unwritable {
        let base = conn.base();
        out.push(Finding {
            sentence: format!("{} on {name} cannot be written.", shell::inert(&base)),
            fix: format!(
                "Give it to the backup user on {name}: `sudo chown -R \"$USER\" {}`.",
                shell::quote(&base)
            ),
        });
    }
    out
}

/// Runs the checkup on a reached node (or says why it could not be reached).
pub async fn report(
    config: &Config,
    node: &Node,
    conn: &Result<Conn, Unreachable>,
    cancel: &CancellationToken,
) -> Report {
    let mut r = Report {
        node: node.name.clone(),
        address: None,
        route: None,
        base: None,
        checkup: None,
        folders: vec![],
        problems: vec![],
    };
    let conn = match conn {
        Err(u) => {
            r.problems.push(unreachable(config, node, u));
            return r;
        }
        Ok(c) => c,
    };
    r.address = Some(conn.address().to_string());
    r.route = Some(format!("{:?}", conn.route).to_lowercase());
    r.base = Some(conn.base());
    let base = conn.base();
    let resolved: Vec<String> = node.paths.iter().map(|p| conn.path(p)).collect();
    let mut args = vec![base.as_str()];
    args.extend(resolved.iter().map(String::as_str));
    match conn
        .script(SCRIPT, &args, cancel)
        .await
        .map_err(|e| e.to_string())
        .and_then(|lines| Checkup::parse(&lines))
    {
        Err(e) => r.problems.push(Finding {
            sentence: format!("the checkup on {} failed: {e}.", shell::inert(&node.name)),
            fix: "Run `wbackup doctor` in a terminal to see ssh's own words.".into(),
        }),
        Ok(c) => {
            r.problems = problems(conn, &c);
            r.folders = node
                .paths
                .iter()
                .cloned()
                .zip(c.folders.iter().copied())
                .collect();
            for (folder, _) in r.folders.iter().filter(|(_, found)| !found) {
                r.problems.push(Finding {
                    sentence: format!(
                        "{} does not exist on {}: its backup would fail, naming it.",
                        shell::inert(folder),
                        shell::inert(&node.name)
                    ),
                    fix: "Check its spelling (a path on that machine, ~ being its home there), or remove it from the folders to back up.".into(),
                });
            }
            r.checkup = Some(c);
        }
    }
    r
}

/// The report for a node that is not in the configuration.
/// A bucket's checkup, from the uploading node `conn` (DESIGN §11): rclone is installed
/// there, the remote exists and takes a probe object under `PATH/.wbackup-probe` (written,
/// then removed), and its free space where the backend tells it (`rclone about`).
/// Returns the lines to show and what to fix.
pub async fn bucket(
    config: &Config,
    b: &crate::config::Bucket,
    conn: &Conn,
    cancel: &CancellationToken,
) -> (Vec<String>, Vec<Finding>) {
    use crate::engine::process::{self, Input, Job};
    use crate::engine::replication::bucket::rclone_words;
    use crate::plan::action::{self, Word};
    let up = shell::inert(&conn.node.name);
    let name = shell::inert(&b.name);
    let cmd = |args: &[&str]| {
        let mut w = rclone_words(&config.rclone);
        w.extend(args.iter().map(|a| Word::lit(*a)));
        Job::new(action::expand(&w, &conn.home)).timeout(std::time::Duration::from_secs(120))
    };
    let mut lines = vec![format!("uploads from: {up}")];
    let (fin, out) = process::capture(conn.at(), cmd(&["version"]), cancel).await;
    if !fin.success() {
        return (
            lines,
            vec![Finding {
                sentence: format!(
                    "rclone does not run on {up}, the node that uploads to {name}: {}.",
                    fin.describe()
                ),
                fix: format!("install rclone on {up} (apt install rclone), version 1.60 or later"),
            }],
        );
    }
    lines.push(format!(
        "rclone: {}",
        out.first().map(String::as_str).unwrap_or("?")
    ));
    let probe = format!("{}/.wbackup-probe", b.remote);
    let job = cmd(&["rcat", &probe]).stdin(Input::Bytes(b"wbackup probe\n".to_vec()));
    let (fin, _) = process::capture(conn.at(), job, cancel).await;
    if !fin.success() {
        let conf = match &config.rclone.config_file {
            Some(f) => format!(" --config {}", shell::quote_path_for_user(f)),
            None => String::new(),
        };
        let remote = b.remote.split(':').next().unwrap_or_default();
        return (
            lines,
            vec![Finding {
                sentence: format!(
                    "{name} ({}) cannot be written to from {up}: {}.",
                    shell::inert(&b.remote),
                    fin.describe()
                ),
                fix: format!(
                    "on {up}, check the remote with `rclone{conf} lsd {}` and fix it with `rclone{conf} config`",
                    shell::quote(&format!("{remote}:"))
                ),
            }],
        );
    }
    let (fin, _) = process::capture(conn.at(), cmd(&["deletefile", &probe]), cancel).await;
    lines.push(if fin.success() {
        "writable: a probe object was written and removed".into()
    } else {
        format!(
            "writable, but deletions are refused ({}): files the sources remove will be kept there",
            fin.describe()
        )
    });
    let root = format!("{}:", b.remote.split(':').next().unwrap_or_default());
    let (fin, out) = process::capture(conn.at(), cmd(&["about", "--json", &root]), cancel).await;
    let free = fin
        .success()
        .then(|| serde_json::from_str::<serde_json::Value>(&out.join("\n")).ok())
        .flatten()
        .and_then(|v| v["free"].as_u64());
    lines.push(match free {
        Some(f) => format!("free: {}", crate::engine::replication::human_bytes(f)),
        None => "free: unknown (the backend does not tell)".into(),
    });
    (lines, vec![])
}

pub fn test_node_refused(name: &str) -> Report {
    Report {
        node: name.to_string(),
        address: None,
        route: None,
        base: None,
        checkup: None,
        folders: vec![],
        problems: vec![Finding {
            sentence: format!(
                "there is no node {} in the configuration.",
                shell::inert(name)
            ),
            fix: "Add it first, then test it.".into(),
        }],
    }
}

/// Tests one node of `config` as a run would reach it: connects (the orchestrator is
/// local), runs the checkup, closes the connection.
pub async fn test_node(config: &Config, name: &str, cancel: &CancellationToken) -> Report {
    let Some(node) = config.node(name) else {
        return test_node_refused(name);
    };
    let conn = if node.is_orchestrator {
        Ok(Conn::local(node))
    } else {
        match node::control_dir() {
            Ok(dir) => {
                let c = node::connect(config, node, &dir).await;
                let r = report(config, node, &c, cancel).await;
                if let Ok(c) = c {
                    c.close().await;
                }
                let _ = std::fs::remove_dir_all(dir);
                return r;
            }
            Err(e) => Err(Unreachable::before_trying(format!(
                "cannot create a directory for ssh control sockets: {e}"
            ))),
        }
    };
    report(config, node, &conn, cancel).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkup_is_read_as_the_script_writes_it() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("not yet/made");
        let doc = tmp.path().join("Documents");
        std::fs::create_dir(&doc).unwrap();
        let gone = tmp.path().join("it's gone");
        let (code, said) = crate::engine::shtest::run(SCRIPT, &[&base, &doc, &gone], "");
        assert_eq!(code, Some(0), "{said:?}");
        let c = Checkup::parse(&said).unwrap();
        // restic and rsync are on this machine (the tests use them).
        let names: Vec<&str> = c.tools.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(names, ["restic", "rsync"]);
        assert!(c.tools.iter().all(|(_, v)| v.is_some()), "{c:?}");
        assert!(c.free_kib.is_some_and(|k| k > 0), "{c:?}");
        assert!(!c.unwritable);
        assert_eq!(c.folders, [true, false]);
        assert!(!base.exists(), "the checkup creates nothing");
        assert!(
            Checkup::parse(&["folder 1: found".to_string()]).is_err(),
            "counted from 0"
        );
        let c = Checkup::parse(&["restic: missing".to_string()]).unwrap();
        assert_eq!(c.tools, [("restic".to_string(), None)]);
        assert!(Checkup::parse(&["free: lots".to_string()]).is_err());
        assert!(Checkup::parse(&["hello".to_string()]).is_err());
    }

    fn node(user: Option<&str>, port: Option<u16>) -> Node {
        Node {
            name: "home".into(),
            addresses: vec!["192.168.1.10".into(), "home.example.org".into()],
            user: user.map(str::to_string),
            port,
            base_dir: "~/backup".into(),
            paths: vec!["~/".into()],
            exclude: vec![],
            is_orchestrator: false,
        }
    }

    fn config() -> Config {
        crate::config::parse(
            std::path::Path::new("c.toml"),
            "orchestrator = \"laptop\"\n[nodes.laptop]\npaths = [\"~/x\"]\n[nodes.home]\naddresses = [\"192.168.1.10\"]\npaths = [\"~/\"]\n",
        )
        .unwrap()
    }

    #[test]
    fn a_refused_key_is_fixed_with_ssh_copy_id_to_the_address_that_answered() {
        let u = Unreachable {
            tried: vec![
                ("192.168.1.10".into(), "no answer within 20s".into()),
                (
                    "home.example.org".into(),
                    "alice@home.example.org: Permission denied (publickey).".into(),
                ),
            ],
            key_changed: None,
        };
        let f = unreachable(&config(), &node(Some("alice"), Some(2222)), &u);
        assert!(f.sentence.contains("refused the login"), "{f:?}");
        assert!(
            f.fix
                .contains("`ssh-copy-id -p 2222 alice@home.example.org`"),
            "{f:?}"
        );
    }

    #[test]
    fn an_unknown_host_key_is_never_accepted_but_shown_how() {
        let u = Unreachable {
            tried: vec![(
                "192.168.1.10".into(),
                "Host key verification failed.".into(),
            )],
            key_changed: None,
        };
        let f = unreachable(&config(), &node(None, None), &u);
        assert!(f.sentence.contains("host key is not known yet"), "{f:?}");
        assert!(f.fix.contains("`ssh 192.168.1.10 true`"), "{f:?}");
        assert!(!f.fix.contains("accept-new") && !f.fix.contains("StrictHostKeyChecking=no"));
    }
}
