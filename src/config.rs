//! The user's configuration: where it is found, its TOML schema, and validation.
//!
//! Everything a run needs is checked here, before the first ssh connection: a bad file is
//! reported with its path, line and column, the offending source line, and what to change.
//! With no file at all, wbackup runs on a built-in default (one local node).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;

mod bucket;
pub mod edit;
mod save;

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    /// No file exists at the default location: the built-in default is in use and
    /// `wbackup init` (or the window) can write it to this path.
    BuiltIn(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub source: Source,
    pub orchestrator: String,
    /// The orchestrator first, then the others in the order the file declares them.
    pub nodes: Vec<Node>,
    pub ssh: Ssh,
    pub retention: Retention,
    pub check: Check,
    pub replication: Replication,
    pub verify: Verify,
    /// How many steps of one kind a run may run at once, each on its own node (1: one
    /// step at a time, the default).
    pub jobs: usize,
    /// `jobs = "auto"`: one step per node of the run at once (`jobs` is then 1 and
    /// unused; the plan counts the nodes).
    pub jobs_auto: bool,
    /// The window reminds when the last successful run is older than this (days, >= 1).
    pub remind_after_days: u32,
    /// Storage nodes on object storage, reached with rclone (`[nodes.X] rclone = …`), in
    /// the order the file declares them. They are not in `nodes`: nothing is run on them.
    pub buckets: Vec<Bucket>,
    /// `[rclone]`: how buckets are reached.
    pub rclone: Rclone,
}

/// A storage node on object storage (DESIGN §11): `rclone = "REMOTE:PATH"`. Its copies
/// live at `REMOTE:PATH/<repo>/restic`, its quarantine at `REMOTE:PATH/.quarantine`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub name: String,
    /// `REMOTE:PATH` as written (no trailing `/`).
    pub remote: String,
}

/// `[rclone]`. wbackup never reads rclone's configuration file: it only names it to
/// rclone (`--config`), so the credentials in it stay rclone's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rclone {
    /// A path on the uploading node; rclone's own lookup when absent.
    pub config_file: Option<String>,
    /// The node that uploads; the orchestrator when absent.
    pub from: Option<String>,
    pub bwlimit: Option<String>,
    pub transfers: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    /// Empty for the orchestrator, which is local.
    pub addresses: Vec<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    /// As written by the user; `~` means the home directory on this node.
    pub base_dir: String,
    pub paths: Vec<String>,
    pub exclude: Vec<String>,
    pub is_orchestrator: bool,
}

impl Node {
    /// A node without paths only holds replicas.
    pub fn is_storage(&self) -> bool {
        self.paths.is_empty()
    }
    pub fn role(&self) -> Role {
        if self.is_orchestrator {
            Role::Orchestrator
        } else if self.is_storage() {
            Role::Storage
        } else {
            Role::Remote
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Orchestrator,
    Remote,
    Storage,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Orchestrator => "orchestrator",
            Role::Remote => "remote",
            Role::Storage => "storage",
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ssh {
    pub config_file: Option<String>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_s: u32,
    #[serde(default)]
    pub options: Vec<String>,
}

fn default_connect_timeout() -> u32 {
    5
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub keep_last: Option<u32>,
    pub keep_hourly: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
    pub keep_within: Option<String>,
}

impl Retention {
    fn standard() -> Self {
        Retention {
            keep_daily: Some(7),
            keep_weekly: Some(4),
            keep_monthly: Some(12),
            ..Default::default()
        }
    }

    fn is_empty(&self) -> bool {
        self.restic_args().is_empty()
    }

    /// The policy as `restic forget` flags.
    pub fn restic_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        let counts = [
            ("--keep-last", self.keep_last),
            ("--keep-hourly", self.keep_hourly),
            ("--keep-daily", self.keep_daily),
            ("--keep-weekly", self.keep_weekly),
            ("--keep-monthly", self.keep_monthly),
            ("--keep-yearly", self.keep_yearly),
        ];
        for (flag, n) in counts {
            if let Some(n) = n {
                out.push(flag.to_string());
                out.push(n.to_string());
            }
        }
        if let Some(w) = &self.keep_within {
            out.push("--keep-within".into());
            out.push(w.clone());
        }
        out
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub read_data_subset: Option<String>,
}

/// `[verify]`: how copies are proven restorable (DESIGN §10).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Verify {
    /// A run ends with verification when the last one is older than this.
    pub every_days: u32,
    /// Files restored per drill.
    pub files: u32,
    /// Bytes restored per copy and drill, at most.
    pub max_bytes: ByteSize,
    /// Every pack of every copy is read within this many verifications.
    pub read_data_cycle: u32,
    /// The window warns about a copy unproven, behind or failed for longer than this.
    pub warn_after_days: u32,
}

impl Default for Verify {
    fn default() -> Self {
        Verify {
            every_days: 7,
            files: 20,
            max_bytes: ByteSize(256 << 20),
            read_data_cycle: 12,
            warn_after_days: 14,
        }
    }
}

/// A size written as a number of bytes or with a unit: `"256MiB"`, `"1 GB"`, `4096`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn parse(text: &str) -> Option<ByteSize> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (n, unit) = t.split_at(split);
        let n: u64 = n.parse().ok()?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1_000,
            "kib" => 1 << 10,
            "m" | "mb" => 1_000_000,
            "mib" => 1 << 20,
            "g" | "gb" => 1_000_000_000,
            "gib" => 1 << 30,
            _ => return None,
        };
        n.checked_mul(mult).map(ByteSize)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => ByteSize::parse(&s).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "{s:?} is not a size; write it like \"256MiB\", \"2GB\" or 4096"
                ))
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replication {
    pub enabled: bool,
    pub quarantine_days: u32,
    /// Copies between two nodes other than the orchestrator go straight from the node
    /// holding the source copy to the target (`engine::replication::direct`), instead of
    /// through the orchestrator's copy.
    pub direct: bool,
    /// How many copies may go into, and how many out of, one node at once.
    pub transfers_per_node: usize,
}

/// How many days without a successful run the window lets pass before it reminds.
pub const DEFAULT_REMIND_AFTER_DAYS: u32 = 7;

/// The most steps `jobs` (or `--jobs`) lets run at once.
pub const MAX_JOBS: usize = 64;

// ---- the file as written -------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    orchestrator: Option<Spanned<String>>,
    base_dir: Option<String>,
    jobs: Option<Spanned<RawJobs>>,
    remind_after_days: Option<Spanned<i64>>,
    #[serde(default)]
    ssh: Ssh,
    retention: Option<Spanned<Retention>>,
    #[serde(default)]
    check: Check,
    #[serde(default)]
    replication: RawReplication,
    #[serde(default)]
    verify: Verify,
    #[serde(default)]
    nodes: BTreeMap<Spanned<String>, Spanned<RawNode>>,
    rclone: Option<Spanned<RawRclone>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRclone {
    config_file: Option<String>,
    from: Option<String>,
    bwlimit: Option<String>,
    transfers: Option<i64>,
}

/// `jobs`: a number of steps, or `"auto"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawJobs {
    Count(i64),
    Word(String),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawReplication {
    enabled: Option<bool>,
    quarantine_days: Option<u32>,
    direct: Option<bool>,
    transfers_per_node: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    #[serde(default)]
    addresses: Vec<String>,
    user: Option<String>,
    port: Option<u16>,
    base_dir: Option<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    rclone: Option<String>,
}

// ---- errors ---------------------------------------------------------------------------

/// A configuration problem, worded for the person who has to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    /// 1-based line and column, when the problem has a place in the file.
    pub at: Option<(usize, usize)>,
    pub message: String,
    /// The source line the problem is on.
    pub line_text: Option<String>,
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((line, col)) => write!(
                f,
                "{}:{}:{}: {}",
                self.path.display(),
                line,
                col,
                self.message
            )?,
            None => write!(f, "{}: {}", self.path.display(), self.message)?,
        }
        if let (Some(text), Some((line, col))) = (&self.line_text, self.at) {
            let gutter = line.to_string().len();
            write!(
                f,
                "\n{:gutter$} |\n{line} | {text}\n{:gutter$} | {:>col$}",
                "", "", "^"
            )?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nhelp: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

struct Located<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Located<'_> {
    fn error(
        &self,
        span: Option<std::ops::Range<usize>>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> ConfigError {
        let (at, line_text) = match span {
            Some(span) => {
                let start = span.start.min(self.text.len());
                let before = &self.text[..start];
                let line = before.matches('\n').count() + 1;
                let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
                let col = self.text[line_start..start].chars().count() + 1;
                let text = self.text[line_start..]
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                (Some((line, col)), Some(text))
            }
            None => (None, None),
        };
        ConfigError {
            path: self.path.to_path_buf(),
            at,
            message: message.into(),
            line_text,
            hint,
        }
    }
}

// ---- loading --------------------------------------------------------------------------

/// Where to look for the configuration (DESIGN §3): `--config`, `$WBACKUP_CONFIG`,
/// `$XDG_CONFIG_HOME/wbackup/config.toml`, `~/.config/wbackup/config.toml`.
pub fn locate(explicit: Option<&Path>) -> (PathBuf, bool) {
    if let Some(p) = explicit {
        return (p.to_path_buf(), true);
    }
    if let Some(p) = std::env::var_os("WBACKUP_CONFIG").filter(|p| !p.is_empty()) {
        return (PathBuf::from(p), true);
    }
    let dir = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| home_dir().join(".config"));
    (dir.join("wbackup").join("config.toml"), false)
}

/// Loads the configuration from where `locate` points. A file named explicitly must
/// exist; the default location may be empty, and then the built-in default is used.
pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
    let (path, named) = locate(explicit);
    match read_text(&path) {
        Ok(Some(text)) => parse(&path, &text),
        Ok(None) if !named => Ok(builtin_default(path)),
        Ok(None) => Err(ConfigError {
            path: path.clone(),
            at: None,
            message: format!(
                "cannot read the configuration: {}",
                std::io::Error::from_raw_os_error(libc::ENOENT)
            ),
            line_text: None,
            hint: Some(format!(
                "create it with `wbackup init --config {}`",
                crate::shell::quote(&path.to_string_lossy())
            )),
        }),
        Err(e) => Err(e),
    }
}

/// The text of the configuration file at `path`, or `None` when there is no file there;
/// refused as `load` refuses it (not a regular file, too large, not UTF-8, unreadable).
/// `load` and the editor (`edit`) read the file through this one function.
pub fn read_text(path: &Path) -> Result<Option<String>, ConfigError> {
    match read_bounded(path) {
        Ok(text) => Ok(Some(text)),
        Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(ReadError::Refused(Refused(message, hint))) => Err(ConfigError {
            path: path.to_path_buf(),
            at: None,
            message,
            line_text: None,
            hint: Some(hint),
        }),
        Err(ReadError::Io(e)) => Err(ConfigError {
            path: path.to_path_buf(),
            at: None,
            message: format!("cannot read the configuration: {e}"),
            line_text: None,
            hint: Some("check the file's permissions".into()),
        }),
    }
}

/// The largest configuration file wbackup reads: a real one is a few kilobytes.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Why a configuration file was not read at all.
struct Refused(String, String);

/// Reads the configuration, refusing before reading it all anything that is not a
/// regular file of at most `MAX_CONFIG_BYTES` (`--config /dev/zero` must not fill the
/// memory) and any text that is not UTF-8.
fn read_bounded(path: &Path) -> Result<String, ReadError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking: opening a named pipe must not wait for a writer.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::Refused(Refused(
            "the configuration is not a regular file".into(),
            "point --config (or $WBACKUP_CONFIG) at a TOML file".into(),
        )));
    }
    let too_big = || {
        ReadError::Refused(Refused(
            format!(
                "the configuration is larger than {} KiB",
                MAX_CONFIG_BYTES / 1024
            ),
            "a configuration is a few kilobytes of TOML: check that this is the right file".into(),
        ))
    };
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(too_big());
    }
    // The size may change after the check: read no more than the limit allows.
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|e| {
        ReadError::Refused(Refused(
            format!(
                "the configuration is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
            "save the file as UTF-8".into(),
        ))
    })
}

enum ReadError {
    Io(std::io::Error),
    Refused(Refused),
}

/// One local node named after this host, backing up `~/Documents` into `~/backup`.
pub fn builtin_default(path: PathBuf) -> Config {
    Config {
        source: Source::BuiltIn(path),
        orchestrator: local_node_name(),
        nodes: vec![Node {
            name: local_node_name(),
            addresses: vec![],
            user: None,
            port: None,
            base_dir: "~/backup".into(),
            paths: vec!["~/Documents".into()],
            exclude: vec![],
            is_orchestrator: true,
        }],
        ssh: Ssh {
            connect_timeout_s: default_connect_timeout(),
            ..Default::default()
        },
        retention: Retention::standard(),
        check: Check::default(),
        replication: Replication {
            enabled: false,
            quarantine_days: 14,
            direct: false,
            transfers_per_node: 1,
        },
        verify: Verify::default(),
        jobs: 1,
        jobs_auto: false,
        remind_after_days: DEFAULT_REMIND_AFTER_DAYS,
        buckets: vec![],
        rclone: Rclone::default(),
    }
}

/// The host name, lowercased, with anything outside `[a-z0-9_-]` replaced by `-`.
pub fn local_node_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "local".into());
    node_name_from_host(raw.trim())
}

pub fn node_name_from_host(host: &str) -> String {
    let mut name: String = host
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        name.insert(0, 'n');
    }
    name
}

pub fn valid_node_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// The orchestrator's name: as configured (it must be a node), or the only node.
fn orchestrator_of(
    loc: &Located,
    raw: &RawConfig,
    names: &[(String, std::ops::Range<usize>)],
) -> Result<String, ConfigError> {
    let hosts = raw
        .nodes
        .values()
        .filter(|n| n.get_ref().rclone.is_none())
        .count();
    Ok(match (&raw.orchestrator, hosts) {
        (Some(o), _) => {
            if !raw.nodes.keys().any(|k| k.get_ref() == o.get_ref()) {
                let known: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
                return Err(loc.error(
                    Some(o.span()),
                    format!("unknown orchestrator {:?}", o.get_ref()),
                    Some(format!(
                        "set `orchestrator` to one of the configured nodes: {}",
                        known.join(", ")
                    )),
                ));
            }
            o.get_ref().clone()
        }
        (None, 1) => raw
            .nodes
            .iter()
            .find(|(_, n)| n.get_ref().rclone.is_none())
            .map(|(k, _)| k.get_ref().clone())
            .expect("one node that is not a bucket"),
        (None, _) => {
            return Err(loc.error(
                None,
                "`orchestrator` is required with 2 or more nodes",
                Some(
                    "add `orchestrator = \"NAME\"` at the top, naming the node wbackup runs on"
                        .into(),
                ),
            ))
        }
    })
}

/// One `[nodes.NAME]` table, checked.
fn node_of(
    loc: &Located,
    name: String,
    span: std::ops::Range<usize>,
    raw_node: RawNode,
    is_orchestrator: bool,
    default_base: &str,
) -> Result<Node, ConfigError> {
    let text = loc.text;
    if !is_orchestrator && raw_node.addresses.is_empty() {
        return Err(loc.error(
            Some(span.clone()),
            format!("node {name:?} has no addresses"),
            Some(format!(
                "add `addresses = [\"host-or-ip\"]` to [nodes.{name}] (LAN address first), or make it the orchestrator"
            )),
        ));
    }
    if let Some(bad) = raw_node
        .addresses
        .iter()
        .find(|a| a.is_empty() || a.starts_with('-'))
    {
        return Err(loc.error(
            find_span(text, bad).or(Some(span.clone())),
            format!("node {name:?} has an invalid address {bad:?}"),
            Some("an address is a host name, an IP address or an ~/.ssh/config alias".into()),
        ));
    }
    if let Some(bad) = raw_node.paths.iter().find(|p| p.is_empty()) {
        return Err(loc.error(
            find_span(text, bad).or(Some(span.clone())),
            format!("node {name:?} has an empty path"),
            Some("remove the empty string from `paths`".into()),
        ));
    }
    if let Some(bad) = raw_node.paths.iter().find(|p| !absolute(p)) {
        return Err(loc.error(
            find_span(text, bad).or(Some(span.clone())),
            format!("node {name:?} has a relative path {bad:?}"),
            Some(format!(
                "write it from the root (\"/{p}\") or from the home directory (\"~/{p}\"): a relative path would mean a different folder depending on where wbackup starts",
                p = bad.trim_start_matches("./")
            )),
        ));
    }
    if let Some(bad) = raw_node.base_dir.as_deref().filter(|b| !absolute(b)) {
        return Err(relative_base(loc, bad));
    }
    Ok(Node {
        base_dir: raw_node
            .base_dir
            .unwrap_or_else(|| default_base.to_string()),
        name,
        addresses: raw_node.addresses,
        user: raw_node.user,
        port: raw_node.port,
        paths: raw_node.paths,
        exclude: raw_node.exclude,
        is_orchestrator,
    })
}

/// Paths are used on several machines: a relative one would mean a different place on
/// each (the current directory here, the login directory over ssh).
fn absolute(p: &str) -> bool {
    p.starts_with('/') || p == "~" || p.starts_with("~/")
}

fn relative_base(loc: &Located, p: &str) -> ConfigError {
    loc.error(
        find_span(loc.text, p),
        format!("base_dir {p:?} is not an absolute path"),
        Some(
            "write it from the root (\"/srv/backup\") or from the home directory (\"~/backup\")"
                .into(),
        ),
    )
}

/// The counts a file sets, each read within its range.
struct Counts {
    jobs: usize,
    jobs_auto: bool,
    remind_after_days: u32,
    transfers_per_node: usize,
}

/// `jobs`, `remind_after_days` and `[replication] transfers_per_node`, each within its
/// range.
fn counts(loc: &Located, raw: &RawConfig) -> Result<Counts, ConfigError> {
    let out_of_range = |span, what: String| {
        Err(loc.error(
            Some(span),
            what,
            Some(format!(
                "set jobs from 1 (one step at a time) to {MAX_JOBS}, or to \"auto\" (one step per node at once)"
            )),
        ))
    };
    let (jobs, jobs_auto) = match &raw.jobs {
        None => (1, false),
        Some(j) => match j.get_ref() {
            RawJobs::Word(w) if w == "auto" => (1, true),
            RawJobs::Word(w) => {
                return out_of_range(
                    j.span(),
                    format!("jobs = {w:?} is neither a number of steps nor \"auto\""),
                )
            }
            RawJobs::Count(n) => match usize::try_from(*n) {
                Ok(n @ 1..=MAX_JOBS) => (n, false),
                _ => return out_of_range(j.span(), format!("jobs = {n} is out of range")),
            },
        },
    };
    let transfers_per_node = match &raw.replication.transfers_per_node {
        None => 1,
        Some(t) => match usize::try_from(*t.get_ref()) {
            Ok(n @ 1..=MAX_JOBS) => n,
            _ => {
                return Err(loc.error(
                    Some(t.span()),
                    format!("transfers_per_node = {} is out of range", t.get_ref()),
                    Some(format!(
                        "set it from 1 (one copy into and one out of each node at once, the default) to {MAX_JOBS}"
                    )),
                ))
            }
        },
    };

    let remind_after_days = match &raw.remind_after_days {
        None => DEFAULT_REMIND_AFTER_DAYS,
        Some(d) => match u32::try_from(*d.get_ref()) {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(loc.error(
                    Some(d.span()),
                    format!(
                        "remind_after_days = {} is not a positive number of days",
                        d.get_ref()
                    ),
                    Some(format!(
                        "set remind_after_days to 1 or more (the default is {DEFAULT_REMIND_AFTER_DAYS}): the window reminds you when the last successful backup is older than that"
                    )),
                ))
            }
        },
    };
    Ok(Counts {
        jobs,
        jobs_auto,
        remind_after_days,
        transfers_per_node,
    })
}

/// Parses and validates a configuration file's text.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let loc = Located { path, text };
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().to_string();
        let hint = hint_for_parse_error(&message);
        loc.error(e.span(), message, hint)
    })?;

    if raw.nodes.is_empty() {
        return Err(loc.error(
            None,
            "no nodes are configured",
            Some("add a `[nodes.NAME]` table for each machine (see `wbackup init`)".into()),
        ));
    }

    let mut names: Vec<(String, std::ops::Range<usize>)> = Vec::new();
    for key in raw.nodes.keys() {
        if !valid_node_name(key.get_ref()) {
            return Err(loc.error(
                Some(key.span()),
                format!("invalid node name {:?}", key.get_ref()),
                Some(
                    "node names become directory names: use lowercase letters, digits, `_` and `-`, starting with a letter or digit".into(),
                ),
            ));
        }
        names.push((key.get_ref().clone(), key.span()));
    }

    let orchestrator = orchestrator_of(&loc, &raw, &names)?;
    let Counts {
        jobs,
        jobs_auto,
        remind_after_days,
        transfers_per_node,
    } = counts(&loc, &raw)?;

    let retention = match raw.retention {
        None => Retention::standard(),
        Some(r) => {
            if r.get_ref().is_empty() {
                return Err(loc.error(
                    Some(r.span()),
                    "the retention policy keeps nothing",
                    Some("set at least one of keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within — or remove [retention] to use the default (7 daily, 4 weekly, 12 monthly)".into()),
                ));
            }
            r.into_inner()
        }
    };

    for opt in &raw.ssh.options {
        if !opt.contains('=') || opt.starts_with('-') {
            return Err(loc.error(
                find_span(text, opt),
                format!("ssh option {opt:?} is not of the form Key=Value"),
                Some("write options as \"Key=Value\", e.g. \"ServerAliveInterval=15\"".into()),
            ));
        }
    }

    let default_base = raw.base_dir.clone().unwrap_or_else(|| "~/backup".into());
    if !absolute(&default_base) {
        return Err(relative_base(&loc, &default_base));
    }
    let mut nodes: Vec<(usize, Node)> = Vec::new();
    let mut buckets: Vec<(usize, Bucket)> = Vec::new();
    for (key, value) in raw.nodes {
        let span = value.span();
        let name = key.into_inner();
        if value.get_ref().rclone.is_some() {
            let b = bucket::bucket_of(&loc, name, span.clone(), value.get_ref(), &orchestrator)?;
            buckets.push((span.start, b));
            continue;
        }
        let is_orchestrator = name == orchestrator;
        let node = node_of(
            &loc,
            name,
            span.clone(),
            value.into_inner(),
            is_orchestrator,
            &default_base,
        )?;
        nodes.push((span.start, node));
    }
    nodes.sort_by_key(|(start, n)| (!n.is_orchestrator, *start));
    let nodes: Vec<Node> = nodes.into_iter().map(|(_, n)| n).collect();
    buckets.sort_by_key(|(start, _)| *start);
    let buckets: Vec<Bucket> = buckets.into_iter().map(|(_, b)| b).collect();
    let rclone = bucket::rclone(&loc, raw.rclone, &nodes)?;

    let replication = Replication {
        enabled: raw
            .replication
            .enabled
            .unwrap_or(nodes.len() + buckets.len() >= 2),
        quarantine_days: raw.replication.quarantine_days.unwrap_or(14),
        direct: raw.replication.direct.unwrap_or(false),
        transfers_per_node,
    };

    Ok(Config {
        source: Source::File(path.to_path_buf()),
        orchestrator,
        nodes,
        ssh: raw.ssh,
        retention,
        check: raw.check,
        replication,
        verify: raw.verify,
        jobs,
        jobs_auto,
        remind_after_days,
        buckets,
        rclone,
    })
}

fn find_span(text: &str, needle: &str) -> Option<std::ops::Range<usize>> {
    let quoted = format!("\"{needle}\"");
    text.find(&quoted).map(|i| i..i + quoted.len())
}

fn hint_for_parse_error(message: &str) -> Option<String> {
    if message.starts_with("unknown field") {
        Some(format!(
            "remove or rename the key; {}",
            message
                .split_once(", expected ")
                .map(|(_, e)| format!("valid keys here: {e}"))
                .unwrap_or_else(|| "see `wbackup init` for every key".into())
        ))
    } else if message.starts_with("invalid type") {
        Some("change the value to the expected type (strings are quoted, lists use [ ])".into())
    } else if message.contains("duplicate key") {
        Some("each key and each [table] may appear only once".into())
    } else {
        None
    }
}

impl Config {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
    pub fn bucket(&self, name: &str) -> Option<&Bucket> {
        self.buckets.iter().find(|b| b.name == name)
    }
    /// The node that uploads to the buckets (`[rclone] from`, else the orchestrator).
    pub fn uploader(&self) -> &str {
        self.rclone.from.as_deref().unwrap_or(&self.orchestrator)
    }
    pub fn orchestrator(&self) -> &Node {
        self.node(&self.orchestrator)
            .expect("validated: the orchestrator is a node")
    }
    /// The orchestrator's `base_dir` on this machine (where wbackup runs), `~` expanded.
    pub fn local_base_dir(&self) -> PathBuf {
        let base = expand_home(&self.orchestrator().base_dir, &home_dir().to_string_lossy());
        PathBuf::from(base.trim_end_matches('/'))
    }
    pub fn is_builtin(&self) -> bool {
        matches!(self.source, Source::BuiltIn(_))
    }
    pub fn path(&self) -> &Path {
        match &self.source {
            Source::File(p) | Source::BuiltIn(p) => p,
        }
    }
}

pub fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Expands a leading `~` against the given home directory.
pub fn expand_home(path: &str, home: &str) -> String {
    if path == "~" {
        home.to_string()
    } else if let Some(rest) = path.strip_prefix("~/") {
        format!("{}/{}", home.trim_end_matches('/'), rest)
    } else {
        path.to_string()
    }
}

/// The commented starter file `wbackup init` writes.
pub fn starter_file(local_name: &str) -> String {
    format!(
        r#"# wbackup configuration. Every key is described in the README.
# Lines starting with # are comments; uncomment and edit what you need.

# The node wbackup runs on (required with 2 or more nodes).
orchestrator = "{local_name}"
# Where repositories live on every node (a node can override it).
base_dir = "~/backup"
# How many steps of one kind run at once, each on its own node (backups side by side);
# replication always runs one step at a time. Default 1.
# jobs = 1
# The window reminds you when the last successful backup is older than this. Default 7.
# remind_after_days = 7

[ssh]
# config_file = "~/.ssh/config"   # given to ssh as -F
connect_timeout_s = 5             # per address tried
# options = ["ServerAliveInterval=15"]

# restic forget --prune policy, applied to each node's own repository.
[retention]
keep_daily = 7
keep_weekly = 4
keep_monthly = 12
# keep_last = 5
# keep_within = "30d"

[check]
# read_data_subset = "5%"         # also read back part of the data on every check

[replication]
# enabled = true                  # default: true with 2 or more nodes
quarantine_days = 14
# direct = true                   # copies between two other nodes go straight between them

# This machine.
[nodes.{local_name}]
paths = ["~/Documents"]
# exclude = ["**/node_modules", "*.iso"]

# Another machine, reached over SSH (addresses tried in order: LAN first).
# [nodes.home]
# addresses = ["192.168.1.10", "home.example.org"]
# user = "alice"
# paths = ["~/"]

# A storage-only node: no paths, it only holds copies of the other repositories.
# [nodes.nas]
# addresses = ["nas.lan"]
# base_dir = "/srv/backup"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ConfigError {
        parse(Path::new("/c/config.toml"), text).unwrap_err()
    }

    #[test]
    fn starter_file_parses() {
        let c = parse(Path::new("x.toml"), &starter_file("my-laptop")).unwrap();
        assert_eq!(c.nodes.len(), 1);
        assert_eq!(c.orchestrator, "my-laptop");
        assert_eq!(c.retention, Retention::standard());
    }

    /// `text` with every commented-out key and table (`# key = …`, `# [table]`) enabled.
    fn uncommented(text: &str) -> String {
        text.lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest)
                    if rest.starts_with('[')
                        || rest.split_once(" = ").is_some_and(|(k, _)| {
                            k.trim().chars().all(|c| c.is_ascii_lowercase() || c == '_')
                        }) =>
                {
                    rest
                }
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_starter_file_parses_with_every_option_enabled() {
        let text = uncommented(&starter_file("my-laptop"));
        assert!(text.contains("\n[nodes.nas]"), "{text}");
        let c = parse(Path::new("x.toml"), &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(c.nodes.len(), 3);
    }

    #[test]
    fn every_configuration_in_the_readme_parses_as_written_and_with_its_comments_enabled() {
        let readme = include_str!("../README.md");
        let blocks: Vec<&str> = readme
            .split("```toml\n")
            .skip(1)
            .map(|b| b.split("```").next().unwrap())
            .collect();
        assert!(blocks.len() >= 3, "the README shows 1, 2 and 3 nodes");
        for block in blocks {
            for text in [block.to_string(), uncommented(block)] {
                parse(Path::new("README.md"), &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            }
        }
    }

    #[test]
    fn nodes_keep_declared_order_with_orchestrator_first() {
        let c = parse(
            Path::new("x"),
            r#"orchestrator = "b"
[nodes.z]
addresses = ["z"]
[nodes.b]
[nodes.a]
addresses = ["a"]
paths = ["/x"]
"#,
        )
        .unwrap();
        let names: Vec<_> = c.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["b", "z", "a"]);
        assert!(c.replication.enabled);
        assert_eq!(c.nodes[1].role(), Role::Storage);
        assert_eq!(c.nodes[2].role(), Role::Remote);
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let e = err("[nodes.a]\npaths = [\"/x\"]\npathz = 1\n");
        assert_eq!(e.at, Some((3, 1)));
        assert!(e.message.contains("unknown field `pathz`"), "{e}");
        assert!(e.hint.unwrap().contains("paths"));
    }

    #[test]
    fn wrong_type_is_located() {
        let e = err("[nodes.a]\npaths = \"/x\"\n");
        assert_eq!(e.at.unwrap().0, 2);
        assert!(e.message.contains("invalid type"), "{e}");
    }

    #[test]
    fn unknown_orchestrator() {
        let e = err("orchestrator = \"lap\"\n[nodes.laptop]\n");
        assert_eq!(e.at, Some((1, 16)));
        assert!(e.message.contains("unknown orchestrator \"lap\""));
        assert!(e.hint.unwrap().contains("laptop"));
    }

    #[test]
    fn invalid_node_name() {
        let e = err("[nodes.Laptop]\n");
        assert_eq!(e.at.unwrap().0, 1);
        assert!(e.message.contains("invalid node name \"Laptop\""));
    }

    #[test]
    fn duplicate_node() {
        let e = err("[nodes.a]\n[nodes.a]\n");
        assert_eq!(e.at.unwrap().0, 2, "{e}");
    }

    #[test]
    fn remote_without_addresses() {
        let e = err("orchestrator = \"a\"\n[nodes.a]\n[nodes.b]\npaths = [\"/x\"]\n");
        assert_eq!(e.at.unwrap().0, 3, "{e}");
        assert!(e.message.contains("\"b\" has no addresses"));
    }

    #[test]
    fn empty_retention() {
        let e = err("[retention]\n[nodes.a]\n");
        assert_eq!(e.at.unwrap().0, 1, "{e}");
        assert!(e.message.contains("keeps nothing"));
    }

    #[test]
    fn orchestrator_required_with_two_nodes() {
        let e = err("[nodes.a]\n[nodes.b]\naddresses = [\"b\"]\n");
        assert!(e.message.contains("orchestrator"));
    }

    #[test]
    fn malformed_toml() {
        let e = err("[nodes.a\n");
        assert_eq!(e.at.unwrap().0, 1);
        let shown = e.to_string();
        assert!(shown.starts_with("/c/config.toml:1:"), "{shown}");
        assert!(shown.contains("[nodes.a"), "{shown}");
    }

    #[test]
    fn relative_base_dir() {
        let e = err("[nodes.a]\npaths = [\"/x\"]\nbase_dir = \"backup\"\n");
        assert_eq!(e.at, Some((3, 12)), "{e}");
        assert!(e.message.contains("not an absolute path"), "{e}");
        let e = err("base_dir = \"./b\"\n[nodes.a]\n");
        assert_eq!(e.at.unwrap().0, 1, "{e}");
        assert!(parse(Path::new("x"), "base_dir = \"~\"\n[nodes.a]\n").is_ok());
    }

    #[test]
    fn relative_paths_are_refused_with_their_place() {
        let e = err("[nodes.a]\npaths = [\"/x\", \"Documents\"]\n");
        assert_eq!(e.at, Some((2, 16)), "{e}");
        assert!(e.message.contains("relative path \"Documents\""), "{e}");
        assert!(e.hint.unwrap().contains("\"~/Documents\""));
        let e = err("[nodes.a]\npaths = [\"./src\"]\n");
        assert!(e.message.contains("relative path \"./src\""), "{e}");
        let e = err("[nodes.a]\npaths = [\"~alice/x\"]\n");
        assert!(e.message.contains("relative path"), "{e}");
        for good in ["/", "~", "~/", "~/Documents", "/srv/my www"] {
            let text = format!("[nodes.a]\npaths = [{good:?}]\n");
            assert!(parse(Path::new("x"), &text).is_ok(), "{good}");
        }
    }

    #[test]
    fn a_configuration_that_is_not_a_small_regular_file_is_refused_before_it_is_read() {
        let d = tempfile::tempdir().unwrap();
        for (path, says) in [
            (PathBuf::from("/dev/zero"), "not a regular file"),
            (d.path().to_path_buf(), "not a regular file"),
        ] {
            let e = load(Some(&path)).unwrap_err();
            assert!(e.message.contains(says), "{e}");
        }
        let fifo = d.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a path this test owns.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = load(Some(&fifo)).unwrap_err();
        assert!(e.message.contains("not a regular file"), "{e}");
        let big = d.path().join("big.toml");
        let mut text = "[nodes.a]\n".to_string();
        text.push_str(&"# padding\n".repeat(MAX_CONFIG_BYTES as usize / 10 + 1));
        std::fs::write(&big, &text).unwrap();
        let e = load(Some(&big)).unwrap_err();
        assert!(e.message.contains("larger than 1024 KiB"), "{e}");
        let e = load(Some(&d.path().join("missing.toml"))).unwrap_err();
        assert!(e.message.contains("cannot read"), "{e}");
        let bytes = d.path().join("latin1.toml");
        std::fs::write(&bytes, b"[nodes.a]\npaths = [\"/caf\xe9\"]\n").unwrap();
        let e = load(Some(&bytes)).unwrap_err();
        assert!(e.message.contains("not UTF-8"), "{e}");
    }

    #[test]
    fn jobs_from_1_to_64() {
        for bad in ["0", "-2", "65"] {
            let e = err(&format!("jobs = {bad}\n[nodes.a]\n"));
            assert_eq!(e.at, Some((1, 8)), "{e}");
            assert!(e.message.contains("out of range"), "{e}");
        }
        let e = err("jobs = \"3\"\n[nodes.a]\n");
        assert_eq!(e.at.map(|a| a.0), Some(1), "{e}");
        let c = parse(Path::new("x"), "jobs = 3\n[nodes.a]\n").unwrap();
        assert_eq!(c.jobs, 3);
        let c = parse(Path::new("x"), "[nodes.a]\n").unwrap();
        assert_eq!(c.jobs, 1);
        assert!(!c.jobs_auto);
        let c = parse(Path::new("x"), "jobs = \"auto\"\n[nodes.a]\n").unwrap();
        assert!(c.jobs_auto);
        let e = err("jobs = \"many\"\n[nodes.a]\n");
        assert!(
            e.message.contains("neither a number") && e.to_string().contains("auto"),
            "{e}"
        );
        let e = err("[replication]\ntransfers_per_node = 0\n[nodes.a]\n");
        assert_eq!(e.at, Some((2, 22)), "{e}");
        let c = parse(
            Path::new("x"),
            "[replication]\ntransfers_per_node = 2\ndirect = true\n[nodes.a]\n",
        )
        .unwrap();
        assert_eq!(
            (c.replication.transfers_per_node, c.replication.direct),
            (2, true)
        );
    }

    #[test]
    fn remind_after_days_is_a_positive_number_of_days() {
        for bad in ["0", "-1", "4294967296"] {
            let e = err(&format!("jobs = 1\nremind_after_days = {bad}\n[nodes.a]\n"));
            assert_eq!(e.at, Some((2, 21)), "{e}");
            assert!(e.message.contains("not a positive number of days"), "{e}");
            assert!(e.to_string().starts_with("/c/config.toml:2:21: "), "{e}");
        }
        let e = err("remind_after_days = \"7\"\n[nodes.a]\n");
        assert_eq!(e.at.map(|a| a.0), Some(1), "{e}");
        let c = parse(Path::new("x"), "remind_after_days = 30\n[nodes.a]\n").unwrap();
        assert_eq!(c.remind_after_days, 30);
        let c = parse(Path::new("x"), "[nodes.a]\n").unwrap();
        assert_eq!(c.remind_after_days, 7);
    }

    #[test]
    fn host_names_become_node_names() {
        assert_eq!(node_name_from_host("My.Laptop"), "my-laptop");
        assert!(valid_node_name(&node_name_from_host("_x")));
    }

    #[test]
    fn home_expansion() {
        assert_eq!(expand_home("~/backup", "/home/a"), "/home/a/backup");
        assert_eq!(expand_home("~", "/home/a"), "/home/a");
        assert_eq!(expand_home("/srv/~x", "/home/a"), "/srv/~x");
    }
}
