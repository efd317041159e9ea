//! Copies heal (DESIGN §10): a copy whose last proof found damage gets its damaged files
//! replaced from a copy that was proven, at the start of the next run.
//!
//! restic names every file of a repository but its config by the SHA-256 of its content,
//! so a damaged file is found by reading it (`sh/scan.sh`: its hash is not its name, or it
//! cannot be read), and a file of the same name in another copy is the very same bytes
//! once its hash is checked. The heal of copy R on H: scan H's copy; ask the donors the
//! plan names (copies whose last proof passed), in order, for those names, and take the
//! first whose files are all sound; carry them by rsync into a staging folder on H
//! (through the orchestrator when neither end is it); `sh/heal.sh` checks each against its
//! name, moves the damaged file into H's quarantine and renames the sound one into place;
//! then `restic check --read-data` reads the whole copy again. A copy that failed is never
//! a donor, and when no donor holds every damaged file sound, nothing is overwritten.

use super::events::{Cause, Event, Outcome, Stream};
use super::node::Conn;
use super::process::{self, At, Input, Job};
use super::replication;
use super::restic;
use super::run::Run;
use crate::plan::action::Action;
use crate::plan::Step;
use std::rc::Rc;
use std::time::Duration;

const SCAN: &str = include_str!("sh/scan.sh");
const HEAL: &str = include_str!("sh/heal.sh");

/// What reading a copy's files found wrong with one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// Its content hashes to something else than its name.
    Bad(String),
    Unreadable,
    /// Asked for by name but not there.
    Missing,
}

/// What `sh/scan.sh` reported: the damaged files by name, and how many files it read.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    pub damaged: Vec<(String, Damage)>,
    pub read: usize,
}

/// Parses the scan script's output strictly: a line it does not know is an error.
pub fn parse_scan(lines: &[String]) -> Result<Scan, String> {
    let mut scan = Scan::default();
    let mut ended = false;
    for l in lines {
        let mut w = l.splitn(3, ' ');
        let (what, name, rest) = (w.next(), w.next(), w.next());
        let name_ok = |n: &str| replication::phase_of(n).is_some();
        match (what, name, rest) {
            (Some("bad"), Some(n), Some(sha)) if name_ok(n) => scan
                .damaged
                .push((n.to_string(), Damage::Bad(sha.to_string()))),
            (Some("unreadable"), Some(n), None) if name_ok(n) => {
                scan.damaged.push((n.to_string(), Damage::Unreadable))
            }
            (Some("missing"), Some(n), None) if name_ok(n) => {
                scan.damaged.push((n.to_string(), Damage::Missing))
            }
            (Some("read"), Some(n), None) => {
                scan.read = n.parse().map_err(|_| format!("unexpected line {l:?}"))?;
                ended = true;
            }
            _ => return Err(format!("unexpected line {l:?}")),
        }
    }
    if !ended {
        return Err("the scan ended early".into());
    }
    Ok(scan)
}

/// Where a heal stages what it carries to a node whose `base_dir` is `base` (node names
/// hold no dot, so this never meets a hop's staging folder).
pub fn heal_stage(base: &str, repo: &str) -> String {
    format!("{}.heal", replication::stage_path(base, repo))
}

/// The heal script's arguments (its header in `sh/heal.sh` says what each is).
pub fn heal_args(stage: &str, repo: &str, quarantine: &str) -> Vec<String> {
    vec![stage.into(), repo.into(), quarantine.into()]
}

/// `restic check --read-data` on a healed copy: the whole copy read again, nothing
/// written into it.
pub fn reread_args(repo: &str) -> Vec<String> {
    ["restic", "-r", repo, "--no-lock", "check", "--read-data"]
        .into_iter()
        .map(String::from)
        .collect()
}

/// The names of `damaged`, one per line, for a script's stdin.
fn names_input(damaged: &[(String, Damage)]) -> Vec<u8> {
    damaged
        .iter()
        .flat_map(|(n, _)| format!("{n}\n").into_bytes())
        .collect()
}

/// A few names, for a sentence.
fn some_names(damaged: &[(String, Damage)]) -> String {
    let mut s: Vec<String> = damaged
        .iter()
        .take(3)
        .map(|(n, d)| match d {
            Damage::Bad(_) => format!("{n} (content changed)"),
            Damage::Unreadable => format!("{n} (unreadable)"),
            Damage::Missing => format!("{n} (missing)"),
        })
        .collect();
    if damaged.len() > 3 {
        s.push(format!("and {} more", damaged.len() - 3));
    }
    s.join(", ")
}

impl Run<'_> {
    /// A run's heal step: each damaged copy of the step's repository on its targets healed
    /// from the first sound donor the plan names. Fails naming each copy not healed.
    pub(crate) async fn heal(&self, step: &Step) -> Outcome {
        let Action::Heal { donors } = &step.action else {
            return Outcome::failed(format!("step {} is not a heal", step.id + 1));
        };
        let mut failures = vec![];
        for h in &step.targets {
            if self.cancel.is_cancelled() {
                return Outcome::Interrupted;
            }
            if let Err(why) = self.heal_copy(step, h, donors).await {
                if self.cancel.is_cancelled() {
                    return Outcome::Interrupted;
                }
                self.line(step, Stream::Stderr, why.clone());
                failures.push(why);
            }
        }
        if failures.is_empty() {
            Outcome::Passed
        } else {
            Outcome::failed_as(Cause::Damaged, failures.join("; "))
        }
    }

    fn line(&self, step: &Step, stream: Stream, text: String) {
        self.sink.emit(Event::Line {
            step: step.id,
            node: step.node.clone(),
            stream,
            text,
        });
    }

    /// `node`'s connection when files can be carried to and from it in this run, else
    /// why not.
    fn carrier(&self, node: &str) -> Result<Rc<Conn>, String> {
        let st = self.st();
        if let Some(why) = st.unusable.get(node) {
            return Err(format!("{node} is {why}"));
        }
        st.conns
            .get(node)
            .cloned()
            .ok_or_else(|| format!("{node} was not reached"))
    }

    async fn heal_copy(&self, step: &Step, h: &str, donors: &[String]) -> Result<(), String> {
        let repo = &step.node;
        let conn = self
            .carrier(h)
            .map_err(|why| format!("{repo} on {h} was not healed: {why}"))?;
        let found = self.scan(&conn, repo, &[]).await.map_err(|e| {
            format!("{repo} on {h} was not healed: its files could not be read: {e}")
        })?;
        if found.damaged.is_empty() {
            self.info(
                step,
                format!(
                    "{repo} on {h}: all {} file(s) match their names; nothing to replace (the verification says whether the copy is sound)",
                    found.read
                ),
            );
            return Ok(());
        }
        let damaged = found.damaged;
        self.info(
            step,
            format!(
                "{repo} on {h}: {} of {} file(s) damaged: {}",
                damaged.len(),
                found.read,
                some_names(&damaged)
            ),
        );
        let (donor, dconn) = self.donor(step, h, donors, &damaged).await.map_err(|tried| {
            format!(
                "{repo} on {h} holds {} damaged file(s) ({}) and no copy that verified holds them all sound ({tried}), so nothing was overwritten; do not restore from {h}'s copy, and run `wbackup verify --repo {repo}` to find a sound one",
                damaged.len(),
                some_names(&damaged)
            )
        })?;
        let stage = heal_stage(&conn.base(), repo);
        self.bring(step, &dconn, &conn, repo, &stage, &damaged)
            .await
            .map_err(|e| format!("{repo} on {h} was not healed: carrying the sound files from {donor} failed: {e}"))?;
        let stamp = chrono::Local::now().format("%Y-%m-%dT%H-%M-%S").to_string();
        let quarantine = format!(
            "{}/{stamp}-healed",
            replication::quarantine_path(&conn.base(), repo)
        );
        self.replace(step, &conn, repo, &stage, &quarantine, &damaged)
            .await
            .map_err(|e| format!("{repo} on {h} was not healed: {e}"))?;
        self.info(
            step,
            format!(
                "{repo} on {h}: {} file(s) replaced from {donor}'s copy (the damaged ones kept in {quarantine}); reading the whole copy again",
                damaged.len()
            ),
        );
        self.reread(step, &conn, repo).await.map_err(|e| {
            format!(
                "{repo} on {h}: {} file(s) were replaced from {donor}'s copy, but `restic check --read-data` still fails: {e}; do not restore from {h}'s copy",
                damaged.len()
            )
        })?;
        self.info(
            step,
            format!("{repo} on {h}: healed — restic check --read-data passed"),
        );
        Ok(())
    }

    /// The first of `donors` (other than `h`) that can be reached and holds every damaged
    /// name sound; else what each said, for the sentence.
    async fn donor(
        &self,
        step: &Step,
        h: &str,
        donors: &[String],
        damaged: &[(String, Damage)],
    ) -> Result<(String, Rc<Conn>), String> {
        let repo = &step.node;
        let mut tried = vec![];
        for d in donors.iter().filter(|d| *d != h) {
            if self.cancel.is_cancelled() {
                break;
            }
            let dconn = match self.carrier(d) {
                Ok(c) => c,
                Err(why) => {
                    tried.push(why);
                    continue;
                }
            };
            match self.scan(&dconn, repo, damaged).await {
                Ok(s) if s.damaged.is_empty() => return Ok((d.clone(), dconn)),
                Ok(s) => tried.push(format!(
                    "{d}'s copy lacks or has damaged {} of them",
                    s.damaged.len()
                )),
                Err(e) => tried.push(format!("{d}'s copy could not be read: {e}")),
            }
        }
        if tried.is_empty() {
            tried.push("no other copy was proven".into());
        }
        Err(tried.join("; "))
    }

    /// Reads the files named in `only` of `conn`'s copy of `repo` (all of its files when
    /// empty).
    async fn scan(
        &self,
        conn: &Conn,
        repo: &str,
        only: &[(String, Damage)],
    ) -> Result<Scan, String> {
        let job = Job::script(SCAN, [conn.repo(repo)])
            .stdin(Input::Bytes(names_input(only)))
            .timeout(Duration::from_secs(24 * 3600));
        let (fin, lines) = process::capture(conn.at(), job, &self.cancel).await;
        if !fin.success() {
            let refused = lines.iter().find(|l| l.starts_with("refused "));
            return Err(refused.cloned().unwrap_or_else(|| fin.describe()));
        }
        parse_scan(&lines)
    }

    /// The damaged names from `from`'s copy into `stage` on `to`: one rsync when one end
    /// is the orchestrator, else two through a private folder on the orchestrator.
    async fn bring(
        &self,
        step: &Step,
        from: &Conn,
        to: &Conn,
        repo: &str,
        stage: &str,
        damaged: &[(String, Damage)],
    ) -> Result<(), String> {
        let names = names_input(damaged);
        let src = format!("{}/", from.rsync_spec(&from.repo(repo)));
        let dst = format!("{}/", to.rsync_spec(stage));
        self.info(
            step,
            format!(
                "{} → {}: copying {} sound file(s)",
                from.node.name,
                to.node.name,
                damaged.len()
            ),
        );
        if from.remote.is_none() || to.remote.is_none() {
            let shell = from.remote.as_ref().or(to.remote.as_ref());
            return self
                .rsync(src, dst, shell.map(|r| r.rsync_shell()), names)
                .await;
        }
        // Through the orchestrator: a folder of its own, removed whatever happens.
        let local = self.config.local_base_dir();
        let relay = format!("{}.relay", heal_stage(&local.to_string_lossy(), repo));
        std::fs::create_dir_all(&relay)
            .map_err(|e| format!("cannot make the relay folder {relay} on this machine: {e}"))?;
        let shell = |c: &Conn| c.remote.as_ref().map(|r| r.rsync_shell());
        let mid = format!("{relay}/");
        let mut done = self
            .rsync(src, mid.clone(), shell(from), names.clone())
            .await;
        if done.is_ok() {
            done = self.rsync(mid, dst, shell(to), names).await;
        }
        let _ = std::fs::remove_dir_all(&relay);
        done
    }

    async fn rsync(
        &self,
        src: String,
        dst: String,
        shell: Option<String>,
        names: Vec<u8>,
    ) -> Result<(), String> {
        let mut argv = replication::transfer_argv(src, dst, shell);
        argv.retain(|a| a != "--info=progress2");
        let job = Job::new(argv)
            .stdin(Input::Bytes(names))
            .timeout(Duration::from_secs(24 * 3600));
        let (fin, _) = process::capture(At::Local, job, &self.cancel).await;
        if fin.success() {
            Ok(())
        } else {
            Err(fin.describe())
        }
    }

    /// `sh/heal.sh` on `conn`: each staged file checked against its name, the damaged one
    /// moved into `quarantine`, the sound one renamed into place.
    async fn replace(
        &self,
        step: &Step,
        conn: &Conn,
        repo: &str,
        stage: &str,
        quarantine: &str,
        damaged: &[(String, Damage)],
    ) -> Result<(), String> {
        let job = Job::script(HEAL, heal_args(stage, &conn.repo(repo), quarantine))
            .stdin(Input::Bytes(names_input(damaged)))
            .timeout(Duration::from_secs(3600));
        let (fin, lines) = process::capture(conn.at(), job, &self.cancel).await;
        let mut healed = 0;
        let mut corrupt = vec![];
        for l in &lines {
            let mut w = l.split(' ');
            match (w.next(), w.next()) {
                (Some("healed"), Some(_)) => healed += 1,
                (Some("corrupt"), Some(n)) => corrupt.push(n.to_string()),
                (Some("unkept"), Some(n)) => self.line(
                    step,
                    Stream::Stderr,
                    format!("{repo} on {}: the damaged {n} could not be moved into the quarantine (unreadable?); it was replaced", conn.node.name),
                ),
                _ => self.line(step, Stream::Stdout, l.clone()),
            }
        }
        if !corrupt.is_empty() {
            return Err(format!(
                "{} file(s) arrived corrupt ({}), so they were not installed and the damaged ones stay",
                corrupt.len(),
                corrupt.join(", ")
            ));
        }
        if !fin.success() {
            let refused = lines.iter().find(|l| l.starts_with("refused "));
            return Err(format!(
                "replacing the damaged files failed after {healed} of {}: {}",
                damaged.len(),
                refused.cloned().unwrap_or_else(|| fin.describe())
            ));
        }
        Ok(())
    }

    /// The whole healed copy read by restic; its words go to the log.
    async fn reread(&self, step: &Step, conn: &Conn, repo: &str) -> Result<(), String> {
        let job = Job::new(reread_args(&conn.repo(repo)))
            .stdin(Input::Password(self.password))
            .timeout(Duration::from_secs(24 * 3600));
        let started = std::time::Instant::now();
        let fin = process::run(conn.at(), job, &self.cancel, |stream, text| {
            if !restic::is_password_notice(&text) && !text.trim().is_empty() {
                self.line(step, stream, text);
            }
        })
        .await;
        if fin.success() {
            self.st().password_verified = true;
            self.info(
                step,
                format!(
                    "{repo} on {}: read in {:.1}s",
                    conn.node.name,
                    started.elapsed().as_secs_f64()
                ),
            );
            Ok(())
        } else if fin.stderr_tail.iter().any(|l| restic::is_wrong_password(l)) {
            Err("restic refused the password".into())
        } else {
            Err(fin.describe())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn lines(s: &[&str]) -> Vec<String> {
        s.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn a_scan_is_read_strictly() {
        let s = parse_scan(&lines(&[
            &format!("bad data/01/{H} ffff"),
            &format!("unreadable index/{H}"),
            &format!("missing snapshots/{H}"),
            "read 12",
        ]))
        .unwrap();
        assert_eq!(s.read, 12);
        assert_eq!(
            s.damaged,
            vec![
                (format!("data/01/{H}"), Damage::Bad("ffff".into())),
                (format!("index/{H}"), Damage::Unreadable),
                (format!("snapshots/{H}"), Damage::Missing),
            ]
        );
        // Without its last line the scan did not finish: nothing is concluded from it.
        assert!(parse_scan(&lines(&[&format!("bad data/01/{H} ffff")])).is_err());
        // A name restic never writes, or a line nobody expects, is an error, not ignored.
        assert!(parse_scan(&lines(&["bad ../../etc/passwd ffff", "read 1"])).is_err());
        assert!(parse_scan(&lines(&[&format!("bad locks/{H} ff"), "read 1"])).is_err());
        assert!(parse_scan(&lines(&["hello", "read 1"])).is_err());
    }

    fn sh(script: &str, args: &[&std::path::Path], stdin: &str) -> (Option<i32>, Vec<String>) {
        crate::engine::shtest::run(script, args, stdin)
    }

    /// Writes `content` under `dir` by restic's name for it (`data/xx/` for data); the
    /// name.
    fn put(dir: &std::path::Path, kind: &str, content: &str) -> String {
        use sha2::Digest;
        let sha = format!("{:x}", sha2::Sha256::digest(content.as_bytes()));
        let name = if kind == "data" {
            format!("data/{}/{sha}", &sha[..2])
        } else {
            format!("{kind}/{sha}")
        };
        let p = dir.join(&name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
        name
    }

    #[test]
    fn the_scan_finds_files_whose_content_is_not_their_name() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("my repo");
        let sound = put(&repo, "data", "sound pack");
        let rotten = put(&repo, "data", "rotten pack");
        let index = put(&repo, "index", "an index");
        std::fs::write(repo.join(&rotten), "rotten pacK").unwrap();
        std::fs::write(repo.join("config"), "not content-addressed").unwrap();
        let (code, lines) = sh(SCAN, &[&repo], "");
        assert_eq!(code, Some(0), "{lines:?}");
        let scan = parse_scan(&lines).unwrap();
        assert_eq!(scan.read, 3);
        assert_eq!(scan.damaged.len(), 1, "{scan:?}");
        assert_eq!(scan.damaged[0].0, rotten);
        // Asked by name: only those are read; one not there is missing.
        let gone = format!("snapshots/{}", "ab".repeat(32));
        let (_, lines) = sh(SCAN, &[&repo], &format!("{sound}\n{index}\n{gone}\n"));
        let scan = parse_scan(&lines).unwrap();
        assert_eq!(scan.read, 2);
        assert_eq!(scan.damaged, vec![(gone, Damage::Missing)]);
        // A name restic never writes is refused before anything is read.
        let (code, lines) = sh(SCAN, &[&repo], "../../etc/passwd\n");
        assert_eq!(code, Some(6));
        assert!(lines[0].starts_with("refused"), "{lines:?}");
    }

    #[test]
    fn the_heal_replaces_only_with_files_that_match_their_names() {
        let tmp = tempfile::tempdir().unwrap();
        let (repo, stage, q) = (
            tmp.path().join("repo"),
            tmp.path().join("st age"),
            tmp.path().join("q"),
        );
        let a = put(&repo, "data", "pack a");
        let b = put(&repo, "data", "pack b");
        std::fs::write(repo.join(&a), "pack A").unwrap();
        std::fs::write(repo.join(&b), "pack B").unwrap();
        put(&stage, "data", "pack a");
        // b arrives damaged too: it is not installed and the damaged one stays.
        put(&stage, "data", "pack b");
        std::fs::write(stage.join(&b), "pack b, but not quite").unwrap();
        let (code, lines) = sh(HEAL, &[&stage, &repo, &q], &format!("{a}\n{b}\n"));
        assert_eq!(code, Some(4), "{lines:?}");
        assert!(lines.contains(&format!("healed {a}")), "{lines:?}");
        assert!(lines
            .iter()
            .any(|l| l.starts_with(&format!("corrupt {b} "))));
        assert_eq!(std::fs::read_to_string(repo.join(&a)).unwrap(), "pack a");
        assert_eq!(std::fs::read_to_string(q.join(&a)).unwrap(), "pack A");
        assert_eq!(std::fs::read_to_string(repo.join(&b)).unwrap(), "pack B");
        assert!(!q.join(&b).exists());
        assert!(!stage.exists(), "staging is removed whatever happens");
        // A name restic never writes: refused, nothing done.
        std::fs::create_dir_all(&stage).unwrap();
        let (code, _) = sh(HEAL, &[&stage, &repo, &q], "config\n");
        assert_eq!(code, Some(6));
        // A staging folder that is a link (planted to reach elsewhere): refused, and the
        // folder it points to is left as it was.
        let elsewhere = tmp.path().join("elsewhere");
        put(&elsewhere, "data", "pack a");
        // (The refusal above removed staging, as the script does whatever happens.)
        assert!(!stage.exists());
        std::os::unix::fs::symlink(&elsewhere, &stage).unwrap();
        let (code, lines) = sh(HEAL, &[&stage, &repo, &q], &format!("{a}\n"));
        assert_eq!(code, Some(6), "{lines:?}");
        assert!(elsewhere.join(&a).exists());
    }
}
