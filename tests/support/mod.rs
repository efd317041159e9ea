//! A lab of simulated nodes for integration tests: one real `sshd` per remote node on
//! 127.0.0.1 (own port, own host key), a client key made for the lab, an ssh config with
//! one alias per node, and per node its own base_dir and data directory. Everything
//! lives in one temporary directory, so tests run in parallel; `Drop` stops the sshds.

#![allow(dead_code)]

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub mod bucket;
pub mod window;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct Lab {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<LabNode>,
    /// The orchestrator's network namespace in a lab with link speeds (`Lab::shaped`):
    /// wbackup runs in it.
    pub netns: Option<String>,
}

pub struct LabNode {
    pub name: String,
    /// None for the orchestrator (local).
    pub port: Option<u16>,
    pub base: PathBuf,
    pub data: PathBuf,
    pub storage_only: bool,
}

/// A port on 127.0.0.1 that nothing holds now, below the kernel's ephemeral range: the
/// local ports of outgoing connections (every ssh and rsync a test makes) are drawn from
/// that range, and one of them could take a port from it between this choice and the
/// server's bind. (sshd daemonizes before it binds: a port taken meanwhile shows only in
/// its log, as a pid file never written.)
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    const FLOOR: u16 = 10000;
    let ephemeral = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    if ephemeral > FLOOR + 1000 {
        for _ in 0..1000 {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            let port = FLOOR + (h.finish() % u64::from(ephemeral - FLOOR)) as u16;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn must(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Lab {
    /// A lab whose first node is the orchestrator. Names ending in `*` are storage-only.
    pub fn new(names: &[&str]) -> Lab {
        let dir = tempfile::Builder::new()
            .prefix("wb-lab-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        fs::create_dir_all("/run/sshd").unwrap();
        must(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join("id")),
        );
        fs::copy(d.join("id.pub"), d.join("authorized_keys")).unwrap();
        let mut ssh_config = String::new();
        let mut nodes = Vec::new();
        for (i, raw) in names.iter().enumerate() {
            let storage_only = raw.ends_with('*');
            let name = raw.trim_end_matches('*').to_string();
            let base = d.join("nodes").join(&name).join("backup");
            let data = d.join("nodes").join(&name).join("data");
            fs::create_dir_all(&data).unwrap();
            let port = if i == 0 { None } else { Some(free_port()) };
            let lab_node = LabNode {
                name,
                port,
                base,
                data,
                storage_only,
            };
            if let Some(port) = port {
                ssh_config.push_str(&format!(
                    "Host {}\n  HostName 127.0.0.1\n  Port {port}\n",
                    lab_node.name
                ));
            }
            nodes.push(lab_node);
        }
        ssh_config.push_str(&format!(
            "Host *\n  IdentityFile {id}\n  IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  StrictHostKeyChecking accept-new\n  BatchMode yes\n",
            id = d.join("id").display(),
            kh = d.join("known_hosts").display()
        ));
        fs::write(d.join("ssh_config"), ssh_config).unwrap();
        let lab = Lab {
            dir,
            nodes,
            netns: None,
        };
        for n in &lab.nodes {
            if n.port.is_some() {
                lab.start_sshd(&n.name);
            }
        }
        lab.write_password_file();
        lab
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn node(&self, name: &str) -> &LabNode {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no lab node {name}"))
    }

    pub fn start_sshd(&self, name: &str) {
        self.start_sshd_with(name, "");
    }

    /// Starts a node's sshd with `extra` lines appended to its configuration (another
    /// `ListenAddress`, a `SetEnv`, a `ForceCommand` that makes it a hostile node, …).
    pub fn start_sshd_with(&self, name: &str, extra: &str) {
        let d = self.path();
        let n = self.node(name);
        let key = d.join(format!("hostkey_{name}"));
        if !key.exists() {
            must(
                Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                    .arg(&key),
            );
        }
        let conf = d.join(format!("sshd_{name}.conf"));
        fs::write(
            &conf,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {key}\nPidFile {pid}\nAuthorizedKeysFile {ak}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nLogLevel VERBOSE\nMaxStartups 100\nMaxSessions 100\n{extra}",
                port = n.port.unwrap(),
                key = key.display(),
                pid = d.join(format!("sshd_{name}.pid")).display(),
                ak = d.join("authorized_keys").display(),
            ),
        )
        .unwrap();
        // sshd (9.2) forks into the background, then binds and writes its pid file: the pid
        // file says it answers, and its absence sends to the log.
        must(
            Command::new("/usr/sbin/sshd")
                .arg("-f")
                .arg(&conf)
                .arg("-E")
                .arg(self.sshd_log(name)),
        );
        // The daemon writes its pid file a moment after the listener is up.
        let pidfile = d.join(format!("sshd_{name}.pid"));
        for _ in 0..1000 {
            if fs::read_to_string(&pidfile).is_ok_and(|p| p.trim().parse::<i32>().is_ok()) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!(
            "sshd for {name} wrote no pid file; its log:\n{}",
            fs::read_to_string(self.sshd_log(name)).unwrap_or_default()
        );
    }

    pub fn sshd_log(&self, name: &str) -> PathBuf {
        self.path().join(format!("sshd_{name}.log"))
    }

    /// Stops a node's sshd (the node "vanishes").
    pub fn stop_sshd(&self, name: &str) {
        let pidfile = self.path().join(format!("sshd_{name}.pid"));
        let pid = fs::read_to_string(&pidfile)
            .unwrap_or_else(|e| panic!("no pid file for {name}'s sshd: {e}"));
        {
            let pid: i32 = pid.trim().parse().unwrap();
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
            // Wait until the listener is gone.
            for _ in 0..200 {
                if unsafe { libc::kill(pid, 0) } != 0 {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let _ = fs::remove_file(pidfile);
        }
    }

    /// Puts a `restic` running `script` (sh; the real one is /usr/bin/restic) first on
    /// the PATH of these remote nodes (their sshd restarted with `SetEnv PATH=`) and
    /// returns the folder it is in, for the orchestrator's own PATH when wanted.
    pub fn restic_first_on_path(&self, nodes: &[&str], script: &str) -> PathBuf {
        let dir = self.path().join("restic-first");
        fs::create_dir_all(&dir).unwrap();
        let restic = dir.join("restic");
        fs::write(&restic, format!("#!/bin/sh\n{script}")).unwrap();
        must(Command::new("chmod").arg("755").arg(&restic));
        for n in nodes {
            self.stop_sshd(n);
            self.start_sshd_with(
                n,
                &format!("SetEnv PATH={}:/usr/local/bin:/usr/bin:/bin", dir.display()),
            );
        }
        dir
    }

    /// How many ssh logins a node's sshd accepted so far.
    pub fn logins(&self, name: &str) -> usize {
        fs::read_to_string(self.sshd_log(name))
            .unwrap_or_default()
            .matches("Accepted publickey")
            .count()
    }

    pub fn password_file(&self) -> PathBuf {
        self.path().join("password")
    }

    fn write_password_file(&self) {
        use std::os::unix::fs::PermissionsExt;
        let p = self.password_file();
        fs::write(&p, format!("{PASSWORD}\n")).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// The configuration for this lab, with `extra` appended.
    pub fn config_text(&self, extra: &str) -> String {
        let mut t = format!(
            "orchestrator = \"{}\"\n[ssh]\nconfig_file = \"{}\"\nconnect_timeout_s = 3\n[retention]\nkeep_last = 10\n",
            self.nodes[0].name,
            self.path().join("ssh_config").display()
        );
        for n in &self.nodes {
            t.push_str(&format!(
                "[nodes.{}]\nbase_dir = {:?}\n",
                n.name,
                n.base.display().to_string()
            ));
            if n.port.is_some() {
                t.push_str(&format!("addresses = [\"{}\"]\n", n.name));
            }
            if !n.storage_only {
                t.push_str(&format!("paths = [{:?}]\n", n.data.display().to_string()));
            }
        }
        t.push_str(extra);
        t
    }

    pub fn write_config(&self, text: &str) -> PathBuf {
        let p = self.path().join("config.toml");
        fs::write(&p, text).unwrap();
        p
    }

    /// Runs wbackup with the lab's config (written if missing) and password file.
    pub fn wbackup(&self, args: &[&str]) -> Output {
        self.wbackup_cmd(args).output().unwrap()
    }

    pub fn wbackup_cmd(&self, args: &[&str]) -> Command {
        let mut c = self.wbackup_as_configured(args);
        // A first run is due for verification; the tests of other features leave it out,
        // those about it (tests/verify.rs) ask for it or use `wbackup_as_configured`.
        if args.first() == Some(&"run") && !args.contains(&"--verify") {
            c.arg("--no-verify");
        }
        c
    }

    /// wbackup with these arguments only (and the lab's password for `run`): a run
    /// verifies when it is due, as a person's would.
    pub fn wbackup_as_configured(&self, args: &[&str]) -> Command {
        if !self.path().join("config.toml").exists() {
            self.write_config(&self.config_text(""));
        }
        let mut c = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_wbackup")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_wbackup")),
        };
        c.arg("--config").arg(self.path().join("config.toml"));
        c.args(args);
        if args.first() == Some(&"run") {
            c.arg("--password-file").arg(self.password_file());
        }
        c.stdin(Stdio::null());
        c
    }

    pub fn run(&self) -> Output {
        self.wbackup(&["run"])
    }

    /// The repository of `owner` as held by `holder`.
    pub fn repo(&self, holder: &str, owner: &str) -> PathBuf {
        self.node(holder).base.join(owner).join("restic")
    }

    /// restic, run locally on a repository path (all lab nodes share this file system).
    pub fn restic(&self, repo: &Path, args: &[&str]) -> Output {
        Command::new("restic")
            .arg("-r")
            .arg(repo)
            .arg("--password-file")
            .arg(self.password_file())
            .arg("--no-cache")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Snapshot ids (short) and hosts in a repository, sorted by time.
    pub fn snapshots(&self, repo: &Path) -> Vec<(String, String)> {
        let out = self.restic(repo, &["snapshots", "--json"]);
        assert!(
            out.status.success(),
            "snapshots in {}: {}",
            repo.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["short_id"].as_str().unwrap().to_string(),
                    s["hostname"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Two runs, the second after a change on `owner`, then `owner`'s newest snapshot
    /// deleted from its own repository by hand (a loss wbackup did not forget): its two
    /// snapshots before the loss, and the deleted file's path in the repository.
    pub fn two_runs_then_lose_newest_snapshot(
        &self,
        owner: &str,
    ) -> (Vec<(String, String)>, String) {
        self.fill(2);
        assert_exit(&self.run(), 0);
        std::fs::write(self.node(owner).data.join("more.txt"), "second").unwrap();
        assert_exit(&self.run(), 0);
        let repo = self.repo(owner, owner);
        let snaps = self.snapshots(&repo);
        assert_eq!(snaps.len(), 2);
        let victim = std::fs::read_dir(repo.join("snapshots"))
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with(&snaps[1].0))
            .unwrap();
        std::fs::remove_file(victim.path()).unwrap();
        let name = format!("snapshots/{}", victim.file_name().to_string_lossy());
        (snaps, name)
    }

    pub fn check(&self, repo: &Path) {
        let out = self.restic(repo, &["check"]);
        assert!(
            out.status.success(),
            "restic check of {} failed:\n{}{}",
            repo.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Every node holds every repository, each passes `restic check` and holds exactly
    /// its owner's snapshots.
    pub fn assert_everyone_holds_everything(&self) {
        for owner in self.nodes.iter().filter(|n| !n.storage_only) {
            let source = self.snapshots(&self.repo(&owner.name, &owner.name));
            assert!(!source.is_empty(), "{} has no snapshots", owner.name);
            assert!(source.iter().all(|(_, h)| *h == owner.name), "{source:?}");
            for holder in &self.nodes {
                let repo = self.repo(&holder.name, &owner.name);
                self.check(&repo);
                assert_eq!(
                    self.snapshots(&repo),
                    source,
                    "{}'s copy of {}",
                    holder.name,
                    owner.name
                );
            }
        }
    }

    /// Puts some files (names with spaces and quotes) in every node's data directory.
    pub fn fill(&self, files: usize) {
        for n in &self.nodes {
            let sub = n.data.join("sub dir").join("it's \"quoted\"");
            fs::create_dir_all(&sub).unwrap();
            for i in 0..files {
                let content: Vec<u8> = (0..(4096 + i * 1000))
                    .map(|j| ((j * 31 + i * 7) % 251) as u8)
                    .collect();
                fs::write(sub.join(format!("{} file {i}.bin", n.name)), content).unwrap();
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.netns.is_some() {
            netlab(&["down", &self.path().display().to_string()]);
            return;
        }
        let names: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.port.is_some())
            .map(|n| n.name.clone())
            .collect();
        for n in names {
            if self.path().join(format!("sshd_{n}.pid")).exists() {
                self.stop_sshd(&n);
            }
        }
    }
}

impl Lab {
    /// Runs `wbackup run --json` in a session of its own and kills the whole session
    /// (wbackup, ssh, rsync, the commands it started on nodes through them: a power cut)
    /// at the first event of the step of `kind` on `node` whose line holds every one of
    /// `event`. Returns that line (cut to 200 characters), or None when the run never
    /// got there.
    pub fn run_killed_at(&self, kind: &str, node: &str, event: &[&str]) -> Option<String> {
        use std::io::BufRead;
        use std::os::unix::process::CommandExt;
        let mut cmd = self.wbackup_cmd(&["run", "--json"]);
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
        // SAFETY: setsid in the child before exec touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        let sid = child.id() as i32;
        let kill_session = || {
            // Processes that left the group (their own process groups) die too.
            let _ = Command::new("pkill")
                .args(["-KILL", "-s", &sid.to_string()])
                .status();
        };
        let reader = std::io::BufReader::new(child.stdout.take().unwrap());
        let (started_kind, started_node) = (
            format!("\"kind\":\"{kind}\""),
            format!("\"node\":\"{node}\""),
        );
        // The step's number (steps run side by side under `jobs`: events interleave).
        let mut the_step = None;
        let mut killed_at = None;
        for line in reader.lines() {
            let line = line.unwrap();
            let step = serde_json::from_str::<serde_json::Value>(&line)
                .ok()
                .and_then(|v| v["step"].as_u64());
            if line.contains("\"event\":\"StepStarted\"")
                && line.contains(&started_kind)
                && line.contains(&started_node)
            {
                the_step = step;
            }
            if the_step.is_some() && step == the_step && event.iter().all(|e| line.contains(e)) {
                // SAFETY: a signal to a process group this test started.
                unsafe {
                    libc::kill(-sid, libc::SIGKILL);
                }
                kill_session();
                killed_at = Some(line.chars().take(200).collect::<String>());
                break;
            }
        }
        let _ = child.wait();
        kill_session();
        killed_at
    }
}

/// Every file restic wrote (locks aside), relative to the repository; links are
/// followed, as restic follows them.
pub fn files(repo: &Path) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    if !repo.exists() {
        return out;
    }
    let mut stack = vec![repo.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(repo).unwrap().to_string_lossy().into_owned();
            if rel.starts_with("locks") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(rel);
            }
        }
    }
    out
}

/// Incompressible, unique bytes (restic deduplicates, so every call differs by `seed`).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Panics with both streams when a run did not end with `code`.
pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// Every file and folder under `dir` with its size (folders 0) and, for files, its
/// modification time: what "nothing was written" compares. The orchestrator's run
/// records are left out: its logs, and the run lock (with a folder holding only it),
/// the one thing a run takes before anything else.
pub fn tree(dir: &Path) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64, Option<std::time::SystemTime>)>) {
        let mut entries: Vec<_> = fs::read_dir(dir).into_iter().flatten().flatten().collect();
        entries.sort_by_key(|e| e.path());
        for e in entries {
            let p = e.path();
            if p.file_name()
                .is_some_and(|n| n == "logs" || n == "run.lock")
            {
                continue;
            }
            let m = fs::symlink_metadata(&p).unwrap();
            let only_the_lock = || {
                fs::read_dir(&p).is_ok_and(|d| {
                    d.flatten()
                        .map(|e| e.file_name())
                        .eq([std::ffi::OsString::from("run.lock")])
                })
            };
            if m.is_dir() && only_the_lock() {
                continue;
            }
            if m.is_dir() {
                out.push((p.clone(), 0, None));
                walk(&p, out);
            } else {
                out.push((p.clone(), m.len(), m.modified().ok()));
            }
        }
    }
    let mut out = vec![];
    walk(dir, &mut out);
    out
}

/// Every file under `dir` with its size and modification time.
pub fn state(dir: &Path) -> std::collections::BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    fn walk(
        dir: &Path,
        out: &mut std::collections::BTreeMap<PathBuf, (u64, std::time::SystemTime)>,
    ) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            let m = fs::metadata(&p).unwrap();
            if m.is_dir() {
                walk(&p, out);
            } else {
                out.insert(p, (m.len(), m.modified().unwrap()));
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, &mut out);
    out
}

/// Flips bytes inside every data pack of `repo` (a copy's files are read-only); returns
/// how many packs.
pub fn rot(repo: &Path) -> usize {
    let mut flipped = 0;
    for sub in fs::read_dir(repo.join("data")).unwrap().flatten() {
        for pack in fs::read_dir(sub.path()).unwrap().flatten() {
            let mut bytes = fs::read(pack.path()).unwrap();
            for b in bytes.iter_mut().take(64) {
                *b ^= 0xff;
            }
            let mut perm = fs::metadata(pack.path()).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            fs::set_permissions(pack.path(), perm).unwrap();
            fs::write(pack.path(), bytes).unwrap();
            flipped += 1;
        }
    }
    flipped
}

pub fn proofs(o: &std::process::Output) -> Vec<serde_json::Value> {
    serde_json::from_slice::<serde_json::Value>(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
        .as_array()
        .unwrap()
        .clone()
}

pub fn proof<'a>(all: &'a [serde_json::Value], repo: &str, holder: &str) -> &'a serde_json::Value {
    all.iter()
        .find(|p| p["repo"] == repo && p["holder"] == holder)
        .unwrap_or_else(|| panic!("no proof of {repo} on {holder}: {all:#?}"))
}

impl Lab {
    /// The failed steps of the newest run's JSON summary, as (title, cause).
    pub fn causes(&self) -> Vec<(String, String)> {
        let logs = self.node(&self.nodes[0].name).base.join("logs");
        let newest = fs::read_dir(&logs)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .max()
            .unwrap_or_else(|| panic!("no summary in {}", logs.display()));
        let s: serde_json::Value = serde_json::from_slice(&fs::read(&newest).unwrap()).unwrap();
        s["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|st| st["result"] == "failed")
            .map(|st| {
                let f = |k: &str| st[k].as_str().unwrap_or_default().to_string();
                (f("title"), f("cause"))
            })
            .collect()
    }
}

/// The checks every QML test driver uses (`find` an item by objectName, `expect` a fact,
/// `finish` with the exit status), put where a driver says `@CHECKS@`; the driver's root
/// has an `errors` list.
pub fn qml_driver(driver: &str) -> String {
    const CHECKS: &str = r#"function find(item, name) {
        if (item.objectName === name)
            return item
        for (let i = 0; i < item.children.length; ++i) {
            const found = find(item.children[i], name)
            if (found)
                return found
        }
        return null
    }
    function expect(ok, what) {
        if (!ok) {
            console.log("FAILED: " + what)
            errors.push(what)
        } else {
            console.log("ok: " + what)
        }
    }
    function finish() {
        Qt.exit(errors.length === 0 ? 0 : 1)
    }"#;
    assert!(driver.contains("@CHECKS@"), "the driver has no @CHECKS@");
    driver.replace("@CHECKS@", CHECKS)
}

/// The pids of the restic processes backing up into `repo`.
pub fn restic_backups(repo: &str) -> Vec<i32> {
    let out = Command::new("pgrep")
        .args(["-f", &format!("restic.*{repo}.*backup")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Sends `sig` to each of these processes (restic processes the test's run started).
pub fn signal(pids: &[i32], sig: i32) {
    for &p in pids {
        // SAFETY: a signal to a process this test's run started.
        unsafe {
            libc::kill(p, sig);
        }
    }
}

/// `bench/netlab.sh` with these arguments; its output.
fn netlab(args: &[&str]) -> Output {
    must(Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/netlab.sh")).args(args))
}

impl Lab {
    /// A lab whose links have speeds (`bench/netlab.sh`): each node in a network
    /// namespace of its own with its sshd, each link held to its rates by tc. `specs`
    /// are `NAME:DOWN/UP` in Mbit/s; the first is the orchestrator, in whose namespace
    /// wbackup runs. `Drop` stops the sshds and deletes the namespaces.
    pub fn shaped(specs: &[&str]) -> Lab {
        let dir = tempfile::Builder::new()
            .prefix("wb-netlab-")
            .tempdir()
            .unwrap();
        let d = dir.path().to_path_buf();
        let mut args = vec!["up".to_string(), d.display().to_string()];
        args.extend(specs.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = netlab(&args);
        eprint!("{}", stdout(&out));
        let id = fs::read_to_string(d.join("netlab.id")).unwrap();
        // The tests' own configuration (`config_text`) replaces the script's.
        fs::remove_file(d.join("config.toml")).unwrap();
        let nodes = specs
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let name = spec.split(':').next().unwrap().to_string();
                LabNode {
                    base: d.join("nodes").join(&name).join("backup"),
                    data: d.join("nodes").join(&name).join("data"),
                    port: (i > 0).then_some(22),
                    storage_only: false,
                    name,
                }
            })
            .collect::<Vec<_>>();
        let netns = Some(format!("wb{}-{}", id.trim(), nodes[0].name));
        let lab = Lab { dir, nodes, netns };
        lab.write_password_file();
        lab
    }

    /// Bytes sent and received so far on `node`'s link (a shaped lab's).
    pub fn link_bytes(&self, node: &str) -> (u64, u64) {
        let out = netlab(&["bytes", &self.path().display().to_string(), node]);
        let text = stdout(&out);
        let mut n = text.split_whitespace().map(|w| w.parse::<u64>().unwrap());
        (n.next().unwrap(), n.next().unwrap())
    }
}

/// The summary file a run's terminal output names (`run finished: … (summary: PATH)`).
pub fn summary_of(run_output: &str) -> String {
    let path = run_output
        .lines()
        .find_map(|l| {
            l.split_once("(summary: ")
                .map(|(_, p)| p.trim_end_matches(')'))
        })
        .unwrap_or_else(|| panic!("no summary named in:\n{run_output}"));
    fs::read_to_string(path).unwrap()
}

/// rsync processes whose command line holds every one of `words` and, when `cwd` is
/// given, whose working folder is `cwd` (a receiving rsync started with `-s` names no path
/// on its command line: it works in the folder it writes to).
pub fn rsync_pids(words: &[&str], cwd: Option<&str>) -> Vec<i32> {
    let out = Command::new("pgrep")
        .args(["-x", "rsync"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<i32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            let here = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
            words.iter().all(|w| cmd.contains(w))
                && cwd.is_none_or(|c| here.display().to_string() == c)
        })
        .collect()
}

/// Measured links as earlier runs would leave them (Mbit/s): home's uplink slow, server's
/// fast, so that the plan goes home → server, then server → laptop.
pub const SLOW_HOME_FAST_SERVER: [(&str, &str, u64); 4] = [
    ("home", "laptop", 20),
    ("home", "server", 20),
    ("server", "laptop", 50),
    ("server", "home", 100),
];

impl Lab {
    /// Seeds the orchestrator's record of measured links (`logs/links.toml`) as earlier
    /// runs would leave it: (from, to, Mbit/s).
    pub fn seed_links(&self, links: &[(&str, &str, u64)]) {
        let logs = self.node(&self.nodes[0].name).base.join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let mut text = String::new();
        for (from, to, mbit) in links {
            let rate = mbit * 125_000;
            text.push_str(&format!(
                "[[link]]\nfrom = \"{from}\"\nto = \"{to}\"\nrate = {rate}.0\n"
            ));
        }
        std::fs::write(logs.join("links.toml"), text).unwrap();
    }

    /// Adds to the record seeded by `seed_links` how much new data each repository's
    /// copies took in the last run: (repository, bytes).
    pub fn seed_new_data(&self, repos: &[(&str, u64)]) {
        let file = self.node(&self.nodes[0].name).base.join("logs/links.toml");
        let mut text = std::fs::read_to_string(&file).unwrap_or_default();
        for (name, bytes) in repos {
            text.push_str(&format!("[[repo]]\nname = \"{name}\"\nbytes = {bytes}\n"));
        }
        std::fs::write(file, text).unwrap();
    }
}
