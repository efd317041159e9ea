//! Where the restic password comes from: a file only its owner may read, a command
//! (stopped at a timeout or on Ctrl-C), or the terminal with echo off; and the signals
//! that, from the moment the password is known, cancel a run instead of killing wbackup.

use super::args::PasswordArgs;
use crate::engine::process::{self, Job};
use crate::error::Error;
use crate::password::{self, Wiped};
use crate::shell;
use secrecy::SecretString;
use std::io::Write;
use tokio_util::sync::CancellationToken;

/// How long `--password-command` may run: generous, since it may wait for a person at a
/// prompt (a pinentry, a security key), yet bounded, so an unattended run never hangs on
/// it.
pub const PASSWORD_COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Gets the password from the source the user chose, or asks on the terminal: twice
/// when `confirm` (no repository exists yet to try it on). `cancel` ends a password
/// command early (Ctrl-C, SIGTERM, SIGHUP).
pub async fn read_password(
    args: &PasswordArgs,
    confirm: bool,
    cancel: &CancellationToken,
) -> Result<SecretString, Error> {
    if let Some(file) = &args.password_file {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(file).map_err(|e| {
            usage(format!(
                "cannot read the password file {}: {e}",
                file.display()
            ))
        })?;
        if meta.mode() & 0o077 != 0 {
            return Err(usage(format!(
                "the password file {} can be read by others (mode {:o}); make it private: chmod 600 {}",
                file.display(),
                meta.mode() & 0o777,
                shell::quote(&file.to_string_lossy())
            )));
        }
        let bytes = Wiped::new(std::fs::read(file).map_err(|e| {
            usage(format!(
                "cannot read the password file {}: {e}",
                file.display()
            ))
        })?);
        return password::from_bytes(&bytes, &format!("the file {}", file.display()))
            .map_err(usage);
    }
    if let Some(cmd) = &args.password_command {
        return password_from_command(cmd, PASSWORD_COMMAND_TIMEOUT, cancel).await;
    }
    let first = password::from_bytes(&prompt_password("restic password: ")?, "the terminal")
        .map_err(usage)?;
    if confirm {
        let again = prompt_password(
            "no repository exists yet, this run creates them with it; type it again: ",
        )?;
        use secrecy::ExposeSecret;
        let again = again.strip_suffix(b"\r").unwrap_or(&again);
        if first.expose_secret().as_bytes() != again {
            return Err(usage("the two passwords differ; nothing was done".into()));
        }
    }
    Ok(first)
}

/// Runs `--password-command` (in its own process group, ended on `cancel` or after
/// `timeout`) and takes the first line it prints, byte for byte.
async fn password_from_command(
    cmd: &str,
    timeout: std::time::Duration,
    cancel: &CancellationToken,
) -> Result<SecretString, Error> {
    let mut first: Option<Wiped> = None;
    let fin = process::run_bytes(
        process::At::Local,
        Job::new(vec!["sh".into(), "-c".into(), cmd.to_string()]).timeout(timeout),
        cancel,
        |stream, bytes| {
            let bytes = Wiped::new(bytes);
            if stream == process::Stream::Stdout && first.is_none() {
                first = Some(bytes);
            }
        },
    )
    .await;
    if fin.cancelled {
        return Err(Error::Interrupted(
            "interrupted while the password command ran; it was stopped".into(),
        ));
    }
    if fin.timed_out {
        let limit = match timeout.as_secs() {
            s if s >= 60 && s % 60 == 0 => format!("{} minutes", s / 60),
            s => format!("{s} seconds"),
        };
        return Err(usage(format!(
            "the password command did not finish within {limit} and was stopped; it must print the password on its first line and exit"
        )));
    }
    if !fin.success() {
        return Err(usage(format!(
            "the password command failed ({})",
            fin.describe()
        )));
    }
    password::from_bytes(
        first.as_deref().map(Vec::as_slice).unwrap_or_default(),
        "the password command",
    )
    .map_err(usage)
}

/// A password source that gave no password: nothing was done, the user fixes the source.
fn usage(why: String) -> Error {
    Error::Usage(why)
}

/// Asks on the controlling terminal with echo off; returns the line typed, without its
/// line end, as bytes (wiped when dropped).
fn prompt_password(prompt: &str) -> Result<Wiped, Error> {
    use std::io::BufRead;
    use std::os::fd::AsRawFd;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| usage("no terminal to ask for the password: use --password-file FILE or --password-command CMD".into()))?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios calls on a descriptor we own; the old state is restored below.
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    let have_termios = unsafe { libc::tcgetattr(fd, &mut old) } == 0;
    if have_termios {
        let mut quiet = old;
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut w = &tty;
    let _ = write!(w, "{prompt}");
    let _ = w.flush();
    let mut line = Wiped::new(Vec::new());
    let r = std::io::BufReader::new(&tty).read_until(b'\n', &mut line);
    if have_termios {
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
    }
    r.map_err(|e| usage(format!("cannot read the password: {e}")))?;
    while matches!(line.last(), Some(b'\n')) {
        line.pop();
    }
    Ok(line)
}
/// From now on SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal closed) cancel the run
/// instead of killing wbackup: its processes on every node are interrupted, restic removes
/// its locks, the summary says "interrupted" and the exit status is 130.
/// The password for a command that runs restic, and the token that Ctrl-C, SIGTERM and
/// SIGHUP set from then on. A password command is ended by them too; the terminal prompt
/// keeps the default actions (Ctrl-C there ends wbackup at once, before anything started).
/// A password source that fails once Ctrl-C, SIGTERM or SIGHUP came is an interruption.
pub(super) fn password_and_signals(
    rt: &tokio::runtime::Runtime,
    password: &PasswordArgs,
    confirm: bool,
) -> Result<(SecretString, CancellationToken), Error> {
    let cancel = CancellationToken::new();
    if password.password_command.is_some() {
        rt.block_on(cancel_on_signals(&cancel));
    }
    let secret = rt
        .block_on(read_password(password, confirm, &cancel))
        .map_err(|e| match e {
            Error::Usage(why) if cancel.is_cancelled() => Error::Interrupted(why),
            e => e,
        })?;
    if password.password_command.is_none() {
        rt.block_on(cancel_on_signals(&cancel));
    }
    Ok((secret, cancel))
}

async fn cancel_on_signals(cancel: &CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    for (kind, name) in [
        (SignalKind::interrupt(), "interrupted"),
        (SignalKind::terminate(), "terminated (SIGTERM)"),
        (SignalKind::hangup(), "hung up (SIGHUP)"),
    ] {
        let Ok(mut s) = signal(kind) else { continue };
        let c = cancel.clone();
        tokio::spawn(async move {
            if s.recv().await.is_some() && !c.is_cancelled() {
                // stderr may be a terminal that is gone (SIGHUP): never fail on it.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n{name}: stopping the run's processes on every node…"
                );
                c.cancel();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_command_that_hangs_is_stopped_at_its_timeout() {
        assert_eq!(
            PASSWORD_COMMAND_TIMEOUT,
            std::time::Duration::from_secs(300)
        );
        let started = std::time::Instant::now();
        let e = password_from_command(
            "sleep 1000",
            std::time::Duration::from_secs(2),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("the password command did not finish within 2 seconds"),
            "{e}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    #[tokio::test]
    async fn a_password_command_gives_its_first_line_unaltered_or_is_refused() {
        use secrecy::ExposeSecret;
        let cancel = CancellationToken::new();
        let t = PASSWORD_COMMAND_TIMEOUT;
        let p = password_from_command("printf ' p\\303\\244ss \\nnext\\n'", t, &cancel)
            .await
            .unwrap();
        assert_eq!(p.expose_secret(), " päss ");
        let e = password_from_command("printf 'caf\\351\\n'", t, &cancel)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("not UTF-8"), "{e}");
        let e = password_from_command("exit 3", t, &cancel)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("failed (exit code 3)"), "{e}");
    }
}
