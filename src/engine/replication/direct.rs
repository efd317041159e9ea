//! Direct copies (`[replication] direct = true`, issue 14): a copy between two nodes other
//! than the orchestrator carried straight from the node holding the source copy to the
//! target, so that the orchestrator's link (a laptop on Wi-Fi) carries none of its bytes.
//!
//! No key is stored on any node. For each such transfer wbackup starts a private ssh-agent
//! on the orchestrator, lends it the orchestrator's own key file(s) for the target,
//! restricted with OpenSSH destination constraints (`ssh-add -h SOURCE -h
//! 'SOURCE>user@TARGET'`: the agent signs for that one path and no other), and forwards
//! that agent, never the person's own, on one new connection to the source. There rsync
//! reaches the target with ssh, which checks the target's host key against the one the
//! orchestrator knows (passed along; never accepted blindly). The agent ends with the
//! transfer.
//!
//! Whatever keeps the direct path from working (no key file that can be lent, a host key
//! the orchestrator does not know, no route from the source to the target, a refused
//! login) is returned as a reason: the caller then relays the copy through the
//! orchestrator's up-to-date copy, as without `direct`.

use crate::config::{expand_home, home_dir, Config};
use crate::engine::node::{self, Conn};
use crate::engine::process::{self, At, Input, Job, Remote, Running};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Pushes the listed files from the source to the target (`sh/direct.sh`).
const PUSH: &str = include_str!("../sh/direct.sh");

/// How a node's ssh settings resolve on the orchestrator (`ssh -G`): where it is, as whom,
/// the name its host key is known under, the known hosts files and the key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// `HostKeyAlias`, when the person's ssh configuration sets one.
    pub alias: Option<String>,
    pub known_hosts: Vec<String>,
    pub identities: Vec<String>,
}

impl Resolved {
    /// The name the host's key is known under in a known hosts file.
    pub fn known_as(&self) -> String {
        match (&self.alias, self.port) {
            (Some(a), _) => a.clone(),
            (None, 22) => self.host.clone(),
            (None, p) => format!("[{}]:{p}", self.host),
        }
    }

    /// Reads `ssh -G`'s output.
    pub fn parse(text: &str) -> Result<Resolved, String> {
        let home = home_dir().to_string_lossy().into_owned();
        let mut r = Resolved {
            host: String::new(),
            port: 22,
            user: String::new(),
            alias: None,
            known_hosts: vec![],
            identities: vec![],
        };
        for line in text.lines() {
            let Some((key, value)) = line.split_once(' ') else {
                continue;
            };
            match key {
                "hostname" => r.host = value.to_string(),
                "port" => r.port = value.parse().map_err(|_| format!("port {value}"))?,
                "user" => r.user = value.to_string(),
                "hostkeyalias" if value != "none" => r.alias = Some(value.to_string()),
                "userknownhostsfile" | "globalknownhostsfile" => r
                    .known_hosts
                    .extend(value.split(' ').map(|f| expand_home(f, &home))),
                "identityfile" => r.identities.push(expand_home(value, &home)),
                _ => {}
            }
        }
        if r.host.is_empty() || r.user.is_empty() {
            return Err("ssh -G did not say the host and user".into());
        }
        Ok(r)
    }
}

/// A node's ssh settings as the orchestrator's ssh resolves them for its connected address.
async fn resolve(
    config: &Config,
    conn: &Conn,
    cancel: &CancellationToken,
) -> Result<Resolved, String> {
    let mut argv = node::ssh_base(config, &conn.node);
    argv.extend(["-G".into(), "--".into(), conn.address().to_string()]);
    let (fin, lines) = process::capture(At::Local, Job::new(argv), cancel).await;
    if !fin.success() {
        return Err(format!("ssh -G {}: {}", conn.address(), fin.describe()));
    }
    Resolved::parse(&lines.join("\n"))
}

/// The lines the orchestrator's known hosts files hold for `r`'s host key (hashed or not).
async fn host_key_lines(r: &Resolved, cancel: &CancellationToken) -> String {
    let mut found = vec![];
    for f in r.known_hosts.iter().filter(|f| Path::new(f).is_file()) {
        let argv = ["ssh-keygen", "-F", &r.known_as(), "-f", f]
            .map(String::from)
            .to_vec();
        let (_, lines) = process::capture(At::Local, Job::new(argv), cancel).await;
        found.extend(
            lines
                .into_iter()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty()),
        );
    }
    found.join("\n")
}

/// A private ssh-agent holding keys lent for one path; ended when dropped.
pub struct Lent {
    _agent: Running,
    pub sock: PathBuf,
}

/// Starts a private agent in `dir` and lends it the orchestrator's key files for `dst`
/// (those without a passphrase: wbackup never asks for one), usable only from the
/// orchestrator to `src` and from `src` to `dst`.
async fn lend(
    dir: &Path,
    src: &Resolved,
    dst: &Resolved,
    cancel: &CancellationToken,
) -> Result<Lent, String> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let sock = dir.join(format!("agent-{}", N.fetch_add(1, Ordering::Relaxed)));
    let argv = ["ssh-agent", "-D", "-a"].map(String::from).to_vec();
    let mut agent = Running::start(&[argv, vec![sock.display().to_string()]].concat())
        .map_err(|e| e.to_string())?;
    // It prints where it listens once it does.
    let listening = tokio::time::timeout(Duration::from_secs(10), agent.next_line()).await;
    if !matches!(listening, Ok(Some(_))) {
        return Err("ssh-agent did not start".into());
    }
    let mut lendable = vec![];
    for key in dst.identities.iter().filter(|k| Path::new(k).is_file()) {
        // A key with a passphrase fails here without asking anyone.
        let probe = ["ssh-keygen", "-y", "-P", "", "-f", key]
            .map(String::from)
            .to_vec();
        let (fin, _) = process::capture(At::Local, Job::new(probe), cancel).await;
        if fin.success() {
            lendable.push(key.clone());
        }
    }
    if lendable.is_empty() {
        return Err(format!(
            "no key file without a passphrase for {} on this machine to lend (a key held only in an agent cannot be restricted to one path)",
            dst.known_as()
        ));
    }
    let mut add = vec!["ssh-add".to_string(), "-q".into()];
    for f in src.known_hosts.iter().chain(&dst.known_hosts) {
        if Path::new(f).is_file() {
            add.extend(["-H".into(), f.clone()]);
        }
    }
    let (s, d) = (src.known_as(), dst.known_as());
    add.extend([
        "-h".into(),
        s.clone(),
        "-h".into(),
        format!("{s}>{}@{d}", dst.user),
    ]);
    add.extend(lendable);
    let job = Job::new(add).env("SSH_AUTH_SOCK", sock.display().to_string());
    let (fin, lines) = process::capture(At::Local, job, cancel).await;
    if !fin.success() {
        let said = fin
            .stderr_tail
            .last()
            .or(lines.last())
            .cloned()
            .unwrap_or_default();
        return Err(format!(
            "ssh-add refused the key for the path {s} > {d}: {said}"
        ));
    }
    Ok(Lent {
        _agent: agent,
        sock,
    })
}

/// A word of rsync's `-e` value, quoted as rsync splits it (quotes, no backslashes).
fn rsync_word(w: &str) -> Result<String, String> {
    if w.contains('\'') {
        return Err(format!("{w:?} cannot be passed to rsync's -e"));
    }
    Ok(format!("'{w}'"))
}

/// A transfer ready to go straight from `src` to `dst`: the connection to the source
/// (forwarding the lent agent) and the script's words.
pub struct Direct {
    pub remote: Remote,
    pub env: Vec<(String, String)>,
    known: String,
    rshell: String,
    dst: Resolved,
    _lent: Lent,
}

/// Everything a direct transfer from `src` to `dst` needs, or why there is no direct path.
pub async fn open(
    config: &Config,
    dir: &Path,
    src: &Conn,
    dst: &Conn,
    cancel: &CancellationToken,
) -> Result<Direct, String> {
    let (Some(src_remote), Some(_)) = (&src.remote, &dst.remote) else {
        return Err("a direct copy joins two remote nodes".into());
    };
    let s = resolve(config, src, cancel).await?;
    let d = resolve(config, dst, cancel).await?;
    let known = host_key_lines(&d, cancel).await;
    if known.is_empty() {
        return Err(format!(
            "{}'s host key is not known on this machine under {}",
            dst.node.name,
            d.known_as()
        ));
    }
    let lent = lend(dir, &s, &d, cancel).await?;
    let timeout = config.ssh.connect_timeout_s.max(1).to_string();
    let mut words: Vec<String> = [
        "ssh",
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "ForwardAgent=no",
        "-o",
        "ControlPath=none",
        "-o",
        "ServerAliveInterval=15",
        "-o",
        "ServerAliveCountMax=4",
    ]
    .map(String::from)
    .to_vec();
    words.extend(["-o".into(), format!("ConnectTimeout={timeout}")]);
    if let Some(a) = &d.alias {
        words.extend(["-o".into(), format!("HostKeyAlias={a}")]);
    }
    words.extend(["-p".into(), d.port.to_string(), "-l".into(), d.user.clone()]);
    let rshell = words
        .iter()
        .map(|w| rsync_word(w))
        .collect::<Result<Vec<_>, _>>()?
        .join(" ");
    // The connection to the source: a new one (the run's shared one forwards nothing),
    // forwarding the lent agent. The forward only happens when ssh sees an agent in its
    // environment (OpenSSH 9.2): the person's own, or else the lent one.
    let base = node::ssh_base(config, &src.node);
    let mut ssh = vec![base[0].clone()];
    ssh.extend([
        "-o".into(),
        format!("ForwardAgent={}", lent.sock.display()),
        "-o".into(),
        "ControlPath=none".into(),
        "-o".into(),
        "ControlMaster=no".into(),
    ]);
    ssh.extend(base[1..].iter().cloned());
    let agent = std::env::var("SSH_AUTH_SOCK")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| lent.sock.display().to_string());
    Ok(Direct {
        remote: Remote {
            node: src_remote.node.clone(),
            address: src_remote.address.clone(),
            ssh,
            control_path: PathBuf::new(),
        },
        env: vec![("SSH_AUTH_SOCK".into(), agent)],
        known,
        rshell,
        dst: d,
        _lent: lent,
    })
}

impl Direct {
    /// The job that pushes `names` (on stdin) from `src_dir` on the source into `stage`
    /// on the target, with rsync's flags `flags` (those of a relayed transfer).
    pub fn job(
        &self,
        flags: &[String],
        src_dir: &str,
        stage: &str,
        names: Vec<u8>,
    ) -> Job<'static> {
        let mut args = vec![self.known.clone(), self.rshell.clone()];
        args.extend(flags.iter().cloned());
        args.push(format!("{src_dir}/"));
        args.push(format!("{}/", node::rsync_spec(&self.dst.host, stage)));
        let mut job = Job::script(PUSH, args)
            .stdin(Input::Bytes(names))
            .carriage_returns();
        for (k, v) in &self.env {
            job = job.env(k, v.clone());
        }
        job
    }
}

/// Why a direct transfer failed, in ssh's words where it said something (no route, a
/// refused key, an unknown host key), else as the transfer ended.
pub fn failure(fin: &process::Finished) -> String {
    let ssh_said = fin.stderr_tail.iter().find(|l| {
        l.starts_with("ssh:") || l.contains("Permission denied") || l.contains("Host key")
    });
    match ssh_said {
        Some(l) => l.trim().to_string(),
        None => fin.describe(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_g_output_is_read_for_the_name_its_key_is_known_under() {
        let out = "user alice\nhostname 10.0.0.3\nport 2222\nuserknownhostsfile ~/.ssh/known_hosts /etc/kh2\nglobalknownhostsfile /etc/ssh/ssh_known_hosts\nidentityfile ~/.ssh/id_ed25519\nidentityfile /k/id\nhostkeyalias none\n";
        let r = Resolved::parse(out).unwrap();
        assert_eq!(r.known_as(), "[10.0.0.3]:2222");
        assert_eq!(r.user, "alice");
        assert_eq!(r.known_hosts.len(), 3);
        assert!(!r.known_hosts[0].starts_with('~'));
        assert_eq!(r.identities[1], "/k/id");
        let r = Resolved::parse(&out.replace("port 2222", "port 22")).unwrap();
        assert_eq!(r.known_as(), "10.0.0.3");
        let r = Resolved::parse(&format!("{out}hostkeyalias backup-box\n")).unwrap();
        assert_eq!(r.known_as(), "backup-box");
        assert!(Resolved::parse("port 22\n").is_err());
    }

    #[test]
    fn words_with_a_quote_are_not_given_to_rsync() {
        assert_eq!(rsync_word("-p").unwrap(), "'-p'");
        assert!(rsync_word("it's").is_err());
    }
}
