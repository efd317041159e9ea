//! Reaching a node: the first address that answers, one ssh connection per node per run.
//!
//! A remote node gets one OpenSSH master connection (ControlMaster) for the whole run;
//! every later command and rsync transfer rides on it, so a run costs one handshake per
//! node. The master runs `cat` on the node with our pipe as its stdin: when wbackup ends,
//! however it ends, the pipe closes and the connection goes away with it. Nothing is left
//! running anywhere.

use crate::config::{expand_home, Config, Node};
use crate::engine::events::Route;
use crate::engine::process::{self, At, Job, Remote, Running};
use crate::shell;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A node as this run reaches it.
pub struct Conn {
    pub node: Node,
    pub remote: Option<Remote>,
    pub route: Route,
    /// The node's home directory, for `~`.
    pub home: String,
    master: Option<Running>,
}

impl Conn {
    pub fn local(node: &Node) -> Conn {
        Conn {
            node: node.clone(),
            remote: None,
            route: Route::Local,
            home: crate::config::home_dir().to_string_lossy().into_owned(),
            master: None,
        }
    }

    pub fn at(&self) -> At<'_> {
        match &self.remote {
            Some(r) => At::Remote(r),
            None => At::Local,
        }
    }

    pub fn address(&self) -> &str {
        self.remote
            .as_ref()
            .map(|r| r.address.as_str())
            .unwrap_or("local")
    }

    /// A path of this node's with `~` expanded.
    pub fn path(&self, p: &str) -> String {
        expand_home(p, &self.home)
    }

    pub fn base(&self) -> String {
        self.path(self.node.base_dir.trim_end_matches('/'))
    }

    /// Where this node keeps `owner`'s repository.
    pub fn repo(&self, owner: &str) -> String {
        format!("{}/{owner}/restic", self.base())
    }

    /// `path` as rsync names it from the orchestrator.
    pub fn rsync_spec(&self, path: &str) -> String {
        match &self.remote {
            Some(r) => rsync_spec(&r.address, path),
            None => path.to_string(),
        }
    }

    /// Runs a small constant script on this node with its arguments passed as words,
    /// and returns what it printed.
    pub async fn script(
        &self,
        script: &str,
        args: &[&str],
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<Vec<String>, ScriptError> {
        let job = Job::script(script, args.iter().copied()).timeout(Duration::from_secs(300));
        let (fin, lines) = process::capture(self.at(), job, cancel).await;
        if fin.success() {
            Ok(lines)
        } else {
            Err(ScriptError {
                node: self.node.name.clone(),
                ended: fin,
            })
        }
    }

    /// Closes the shared connection: the remote `cat` sees end of input and exits.
    pub async fn close(mut self) {
        if let Some(m) = self.master.take() {
            m.close(Duration::from_secs(5)).await;
        }
    }
}

/// A script run on a node (`Conn::script`) that did not end well: where, and how it ended.
#[derive(Debug)]
pub struct ScriptError {
    pub node: String,
    pub ended: process::Finished,
}

impl ScriptError {
    /// Why, as far as the script's end tells: stopped by the user, a full or read-only
    /// disk, or something else.
    pub fn cause(&self) -> crate::engine::events::Cause {
        self.ended.cause()
    }

    pub fn interrupted(&self) -> bool {
        self.ended.cancelled
    }
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "on {}: {}", self.node, self.ended.describe())
    }
}

impl std::error::Error for ScriptError {}

/// `path` on the host at `address`, as rsync's command line names it: an IPv6 literal
/// goes in brackets (`[::1]:/path`), since `::1:/path` would be read as host `:` and
/// rsync's daemon syntax.
pub fn rsync_spec(address: &str, path: &str) -> String {
    let (user, host) = match address.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), address),
    };
    if host.contains(':') && !host.starts_with('[') {
        format!("{user}[{host}]:{path}")
    } else {
        format!("{user}{host}:{path}")
    }
}

/// Why a node could not be reached: each address tried, with what went wrong.
#[derive(Debug, Clone)]
pub struct Unreachable {
    pub tried: Vec<(String, String)>,
    /// Set when an address answered with another host key than the one known for it:
    /// the command that forgets the old key, quoted, ready to paste.
    pub key_changed: Option<String>,
}

impl std::error::Error for Unreachable {}

impl Unreachable {
    /// No address could be tried at all, for `why`.
    pub fn before_trying(why: String) -> Unreachable {
        Unreachable {
            tried: vec![("-".into(), why)],
            key_changed: None,
        }
    }

    /// What kind of failure it is: a changed host key, a refused login (every address
    /// answered and said no), or no answer.
    pub fn cause(&self) -> crate::engine::events::Cause {
        use crate::engine::events::Cause;
        if self.key_changed.is_some() {
            Cause::HostKeyChanged
        } else if !self.tried.is_empty()
            && self
                .tried
                .iter()
                .all(|(_, w)| w.contains("Permission denied"))
        {
            Cause::LoginRefused
        } else {
            Cause::Unreachable
        }
    }

    /// The step's one-line reason: what to do about a changed host key, or each
    /// address tried.
    pub fn reason(&self, node: &str) -> String {
        match &self.key_changed {
            Some(cmd) => format!(
                "{node}'s host key changed — if you reinstalled it, remove the old key with `{cmd}` and run again; if you did not, someone may be in the way: do not connect"
            ),
            None => format!("{node} is {self}"),
        }
    }
}

/// What ssh's complaint about a changed host key says to run, rebuilt with every word
/// quoted (`ssh-keygen -f FILE -R HOST`); `fallback_host` when ssh did not say.
pub(crate) fn forget_key_command(ssh_stderr: &str, fallback_host: &str) -> String {
    /// The word after `flag` in `line`, unquoted ('…' or "…") as ssh wrote it.
    fn arg_after(line: &str, flag: &str) -> Option<String> {
        let rest = line.split_once(flag)?.1.trim_start();
        let mut chars = rest.chars();
        let word: String = match chars.next()? {
            q @ ('\'' | '"') => chars.take_while(|c| *c != q).collect(),
            c => std::iter::once(c)
                .chain(chars.take_while(|c| !c.is_whitespace()))
                .collect(),
        };
        (!word.is_empty()).then_some(word)
    }
    let line = ssh_stderr
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("ssh-keygen ") && l.contains(" -R "));
    let file = line.and_then(|l| arg_after(l, " -f "));
    let host = line
        .and_then(|l| arg_after(l, " -R "))
        .unwrap_or_else(|| fallback_host.to_string());
    let mut words = vec!["ssh-keygen".to_string()];
    if let Some(f) = file {
        words.extend(["-f".into(), f]);
    }
    words.extend(["-R".into(), host]);
    shell::inert(&shell::join(&words))
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .tried
            .iter()
            .map(|(a, why)| format!("{a} ({why})"))
            .collect();
        write!(f, "unreachable; tried {}", parts.join(", "))
    }
}

/// The ssh options every connection of the run shares, before the control options.
pub(crate) fn ssh_base(config: &Config, node: &Node) -> Vec<String> {
    let mut a = vec!["ssh".to_string()];
    if let Some(f) = &config.ssh.config_file {
        a.push("-F".into());
        a.push(expand_home(f, &crate::config::home_dir().to_string_lossy()));
    }
    let mut o = |kv: String| {
        a.push("-o".into());
        a.push(kv);
    };
    o("BatchMode=yes".into());
    o(format!(
        "ConnectTimeout={}",
        config.ssh.connect_timeout_s.max(1)
    ));
    o("ServerAliveInterval=15".into());
    o("ServerAliveCountMax=4".into());
    for opt in &config.ssh.options {
        o(opt.clone());
    }
    if let Some(p) = node.port {
        a.push("-p".into());
        a.push(p.to_string());
    }
    if let Some(u) = &node.user {
        a.push("-l".into());
        a.push(u.clone());
    }
    a
}

/// Is this address on the local network (private or loopback IP, or a bare or `.lan`
/// style host name) or out on the internet?
pub fn route_of(address: &str) -> Route {
    if let Ok(ip) = address.parse::<IpAddr>() {
        let lan = match ip {
            IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
            IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
        };
        return if lan { Route::Lan } else { Route::Public };
    }
    let lan_suffix = [
        ".lan",
        ".local",
        ".home",
        ".internal",
        ".home.arpa",
        ".localdomain",
    ];
    if !address.contains('.') || lan_suffix.iter().any(|s| address.ends_with(s)) {
        Route::Lan
    } else {
        Route::Public
    }
}

/// Connects to `node`, trying its addresses in order.
pub async fn connect(
    config: &Config,
    node: &Node,
    control_dir: &Path,
) -> Result<Conn, Unreachable> {
    let mut tried = Vec::new();
    for (i, address) in node.addresses.iter().enumerate() {
        let control_path: PathBuf = control_dir.join(format!("{}-{i}", node.name));
        let mut ssh = ssh_base(config, node);
        ssh.push("-o".into());
        ssh.push(format!("ControlPath={}", control_path.display()));
        let mut master_argv = ssh.clone();
        master_argv.extend([
            "-o".into(),
            "ControlMaster=yes".into(),
            "-o".into(),
            "ControlPersist=no".into(),
            "--".into(),
            address.clone(),
            format!(
                "exec {}",
                shell::join(&[
                    "sh",
                    "-c",
                    "printf 'home %s\\n' \"$HOME\"; echo wbackup-ready; exec cat >/dev/null",
                ])
            ),
        ]);
        let mut client = ssh;
        client.extend(["-o".into(), "ControlMaster=no".into()]);
        let limit = Duration::from_secs(u64::from(config.ssh.connect_timeout_s.max(1)) * 2 + 10);
        let known_as = match node.port {
            Some(p) => format!("[{address}]:{p}"),
            None => address.clone(),
        };
        match start_master(&master_argv, limit).await {
            Ok((child, home)) => {
                return Ok(Conn {
                    node: node.clone(),
                    remote: Some(Remote {
                        node: node.name.clone(),
                        address: address.clone(),
                        ssh: client,
                        control_path,
                    }),
                    route: route_of(address),
                    home,
                    master: Some(child),
                })
            }
            Err(Refusal::KeyChanged(stderr)) => {
                let cmd = forget_key_command(&stderr, &known_as);
                tried.push((address.clone(), "its host key changed".into()));
                // Never try the next address: the same machine may answer there with
                // the same new key, and the person must decide first.
                return Err(Unreachable {
                    tried,
                    key_changed: Some(cmd),
                });
            }
            Err(Refusal::Other(why)) => tried.push((address.clone(), why)),
        }
    }
    Err(Unreachable {
        tried,
        key_changed: None,
    })
}

/// Why ssh did not connect.
enum Refusal {
    /// The host answered with another key than the one known: ssh's full complaint.
    KeyChanged(String),
    Other(String),
}

/// Starts the master connection through the process wrapper and waits for the node to
/// say it is ready (and where its home is), for at most `limit`.
async fn start_master(argv: &[String], limit: Duration) -> Result<(Running, String), Refusal> {
    let mut master = Running::start(argv).map_err(|e| Refusal::Other(e.to_string()))?;
    let handshake = async {
        let mut home = None;
        while let Some(line) = master.next_line().await {
            if let Some(h) = line.strip_prefix("home ") {
                home = Some(h.to_string());
            } else if line == "wbackup-ready" {
                return home;
            }
        }
        None
    };
    match tokio::time::timeout(limit, handshake).await {
        Ok(Some(home)) if !home.is_empty() => Ok((master, home)),
        Ok(_) => {
            let err = master.kill(Duration::from_secs(2)).await.join("\n");
            if err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
                return Err(Refusal::KeyChanged(err));
            }
            let reason = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string())
                .unwrap_or_else(|| "ssh ended without answering".into());
            Err(Refusal::Other(reason))
        }
        Err(_) => {
            master.kill(Duration::ZERO).await;
            Err(Refusal::Other(format!(
                "no answer within {}s",
                limit.as_secs()
            )))
        }
    }
}

/// Every node of a configuration, reached at once for one command (`status`, `doctor`,
/// `verify`): the orchestrator locally, the others through `connect`, all sharing one
/// private folder of control sockets that `close` removes. An unreachable node costs its
/// connect timeouts once, not once per node after it.
pub struct Connections {
    /// One per node of the configuration, in its order: its name, and its connection or
    /// why there is none.
    pub nodes: Vec<(String, Result<Conn, Unreachable>)>,
    control_dir: Option<PathBuf>,
}

impl Connections {
    pub async fn open(config: &Config) -> Connections {
        let dir = control_dir();
        let control = dir.as_ref().ok().cloned();
        let attempts: Vec<_> = config
            .nodes
            .iter()
            .map(|n| {
                let (config, n) = (config.clone(), n.clone());
                let dir = dir
                    .as_ref()
                    .map(Clone::clone)
                    .map_err(|e| format!("cannot create a directory for ssh control sockets: {e}"));
                tokio::spawn(async move {
                    if n.is_orchestrator {
                        return Ok(Conn::local(&n));
                    }
                    match dir {
                        Ok(d) => connect(&config, &n, &d).await,
                        Err(why) => Err(Unreachable::before_trying(why)),
                    }
                })
            })
            .collect();
        let mut nodes = Vec::new();
        for (n, attempt) in config.nodes.iter().zip(attempts) {
            let conn = attempt.await.unwrap_or_else(|e| {
                Err(Unreachable::before_trying(format!(
                    "connecting failed: {e}"
                )))
            });
            nodes.push((n.name.clone(), conn));
        }
        Connections {
            nodes,
            control_dir: control,
        }
    }

    /// Closes every connection and removes the control sockets' folder.
    pub async fn close(self) {
        for (_, c) in self.nodes {
            if let Ok(c) = c {
                c.close().await;
            }
        }
        if let Some(d) = self.control_dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// A private directory for the run's control sockets (short path: sockets have a
/// length limit).
pub fn control_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir();
    for n in 0..1000u32 {
        let dir = base.join(format!("wbackup-{}-{n}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free control directory"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_node_says_which_kind_of_failure_it_is() {
        use crate::engine::events::Cause;
        let tried = |words: &[&str]| Unreachable {
            tried: words
                .iter()
                .map(|w| ("a".to_string(), w.to_string()))
                .collect(),
            key_changed: None,
        };
        assert_eq!(tried(&["Connection refused"]).cause(), Cause::Unreachable);
        assert_eq!(
            tried(&["Permission denied (publickey).", "Connection timed out"]).cause(),
            Cause::Unreachable
        );
        assert_eq!(
            tried(&[
                "Permission denied (publickey).",
                "Permission denied (publickey)."
            ])
            .cause(),
            Cause::LoginRefused
        );
        let mut changed = tried(&["Host key verification failed."]);
        changed.key_changed = Some("ssh-keygen -R a".into());
        assert_eq!(changed.cause(), Cause::HostKeyChanged);
    }

    #[test]
    fn ipv6_literals_are_bracketed_for_rsync() {
        assert_eq!(rsync_spec("::1", "/b/x/"), "[::1]:/b/x/");
        assert_eq!(rsync_spec("fe80::1%eth0", "/p"), "[fe80::1%eth0]:/p");
        assert_eq!(
            rsync_spec("alice@2001:db8::5", "/p"),
            "alice@[2001:db8::5]:/p"
        );
        assert_eq!(rsync_spec("[::1]", "/p"), "[::1]:/p");
        assert_eq!(rsync_spec("192.168.1.10", "/p"), "192.168.1.10:/p");
        assert_eq!(rsync_spec("home", "/my dir"), "home:/my dir");
    }

    #[test]
    fn a_changed_host_key_is_told_with_the_command_that_forgets_it() {
        let ssh = "@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nOffending ED25519 key in /tmp/my lab/known_hosts:2\n  remove with:\n  ssh-keygen -f \"/tmp/my lab/known_hosts\" -R \"[127.0.0.1]:2222\"\nHost key verification failed.\n";
        assert_eq!(
            forget_key_command(ssh, "x"),
            "ssh-keygen -f '/tmp/my lab/known_hosts' -R '[127.0.0.1]:2222'"
        );
        let ssh = "  ssh-keygen -f '/root/.ssh/known_hosts' -R 'home'\n";
        assert_eq!(
            forget_key_command(ssh, "x"),
            "ssh-keygen -f /root/.ssh/known_hosts -R home"
        );
        assert_eq!(
            forget_key_command("Host key verification failed.", "[h;rm x]:22"),
            "ssh-keygen -R '[h;rm x]:22'"
        );
        let u = Unreachable {
            tried: vec![],
            key_changed: Some("ssh-keygen -R home".into()),
        };
        assert!(u
            .reason("home")
            .starts_with("home's host key changed — if you reinstalled it, remove the old key with `ssh-keygen -R home`"));
    }

    #[test]
    fn routes() {
        assert_eq!(route_of("192.168.1.10"), Route::Lan);
        assert_eq!(route_of("127.0.0.1"), Route::Lan);
        assert_eq!(route_of("home"), Route::Lan);
        assert_eq!(route_of("nas.lan"), Route::Lan);
        assert_eq!(route_of("home.example.org"), Route::Public);
        assert_eq!(route_of("8.8.8.8"), Route::Public);
    }
}
