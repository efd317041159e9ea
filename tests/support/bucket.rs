//! A bucket for tests: `rclone serve s3` (a real S3 API over a folder) on a free
//! 127.0.0.1 port with an access key, and an rclone.conf naming it as the remote `lab`.
//! The folder shows what the bucket holds object by object; restic reads the copies over
//! S3 as a user would. `Drop` stops the server.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const ACCESS_KEY: &str = "wbackuplabkey";
pub const SECRET_KEY: &str = "wbackuplabsecret0123";

pub struct Bucket {
    pub port: u16,
    /// The folder served: `<root>/bucket/...` are the bucket's objects.
    pub root: PathBuf,
    pub conf: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Bucket {
    /// Starts a server over `dir/s3` with one bucket, `bucket`.
    pub fn start(dir: &Path) -> Bucket {
        let root = dir.join("s3");
        std::fs::create_dir_all(root.join("bucket")).unwrap();
        let port = super::free_port();
        // rclone's configuration in a folder whose name holds a quote, a comma and a
        // space: it reaches rclone over ssh and restic's rclone backend verbatim.
        let conf = dir.join("it's, rclone").join("rclone.conf");
        std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
        std::fs::write(
            &conf,
            format!(
                "[lab]\ntype = s3\nprovider = Rclone\nendpoint = http://127.0.0.1:{port}\naccess_key_id = {ACCESS_KEY}\nsecret_access_key = {SECRET_KEY}\n"
            ),
        )
        .unwrap();
        let mut b = Bucket {
            port,
            root,
            conf,
            log: dir.join("rclone-serve.log"),
            child: None,
        };
        b.restart();
        b
    }

    /// Starts the server (again): returns once it said it listens.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        let mut child = Command::new("rclone")
            .args(["serve", "s3", "--config", "/dev/null", "--addr"])
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--auth-key")
            .arg(format!("{ACCESS_KEY},{SECRET_KEY}"))
            .arg(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rclone is installed (scripts/install-deps.sh)");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let mut said = vec![];
        loop {
            match lines.next() {
                Some(Ok(l)) => {
                    let up = l.contains("Starting s3 server");
                    said.push(l);
                    if up {
                        break;
                    }
                }
                _ => panic!("rclone serve s3 ended before listening: {said:?}"),
            }
        }
        // The rest of its log goes to a file (read when a test fails).
        let log = self.log.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::File::create(log).unwrap();
            for l in lines.map_while(Result::ok) {
                let _ = writeln!(f, "{l}");
            }
        });
        self.child = Some(child);
    }

    /// Stops the server (the bucket "vanishes").
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The remote path of the lab's bucket node.
    pub fn remote(&self) -> String {
        "lab:bucket/wb".into()
    }

    /// The objects of `owner`'s copy, as files in the served folder.
    pub fn copy_dir(&self, owner: &str) -> PathBuf {
        self.root.join("bucket/wb").join(owner).join("restic")
    }

    /// The configuration lines of a lab with this bucket as node `name`.
    pub fn config(&self, name: &str) -> String {
        format!(
            "[rclone]\nconfig_file = {:?}\n[nodes.{name}]\nrclone = \"{}\"\n",
            self.conf.display().to_string(),
            self.remote()
        )
    }

    /// rclone with the lab's configuration, through the server (which caches its
    /// folder's listings: the bucket is changed through it, never behind its back).
    pub fn rclone(&self, args: &[&str]) {
        let out = Command::new("rclone")
            .arg("--config")
            .arg(&self.conf)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "rclone {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// restic on `owner`'s copy, read over S3 with no help from wbackup.
    pub fn restic(&self, owner: &str, password_file: &Path, args: &[&str]) -> Output {
        Command::new("restic")
            .arg("-r")
            .arg(format!(
                "s3:http://127.0.0.1:{}/bucket/wb/{owner}/restic",
                self.port
            ))
            .arg("--password-file")
            .arg(password_file)
            .arg("--no-cache")
            .args(args)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

/// Objects made undeletable (`chattr +i`, as an object lock would): the server answers a
/// DELETE of them with an error, and writes new objects beside them as usual. `Drop`
/// unlocks them (so the lab's folder can be removed).
pub struct Locked(Vec<PathBuf>);

impl Bucket {
    /// Locks every object of `owner`'s copy as it is now.
    pub fn lock(&self, owner: &str) -> Locked {
        let dir = self.copy_dir(owner);
        let paths: Vec<PathBuf> = super::files(&dir).iter().map(|f| dir.join(f)).collect();
        assert!(!paths.is_empty(), "{owner}'s copy holds objects");
        chattr("+i", &paths);
        Locked(paths)
    }
}

fn chattr(flag: &str, paths: &[PathBuf]) {
    let out = Command::new("chattr")
        .arg(flag)
        .args(paths)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chattr {flag} (needs root and ext4): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Drop for Locked {
    fn drop(&mut self) {
        chattr("-i", &self.0);
    }
}

impl Drop for Bucket {
    fn drop(&mut self) {
        self.stop();
    }
}
