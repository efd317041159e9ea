//! wbackup as a citizen of the desktop it runs on, over D-Bus: the laptop is kept awake
//! while a run goes on (a logind inhibitor lock), and the window tells the desktop when a
//! run ended while nobody was looking (a freedesktop notification).
//!
//! Both are courtesies, never conditions: no bus, no logind or no notification server
//! costs a warning in the log and nothing else. A run never fails because of them.
//!
//! zbus finds the buses as every D-Bus client does: `DBUS_SYSTEM_BUS_ADDRESS` (else the
//! standard system socket) and `DBUS_SESSION_BUS_ADDRESS` (else `$XDG_RUNTIME_DIR/bus`),
//! which is also how the tests point both at a private bus of their own.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::time::Duration;
use zbus::zvariant::Value;

/// How long a bus may take to answer before wbackup goes on without it.
const BUS_TIMEOUT: Duration = Duration::from_secs(5);

/// A logind "sleep:idle" block inhibitor, held while it lives. logind keeps the lock as
/// long as a copy of the file descriptor it handed out is open; dropping this closes
/// ours, which releases the lock — after a pass, a failure, a Stop, an error or a panic
/// alike, as long as the value is held for the whole run.
#[derive(Debug)]
pub struct Inhibitor {
    _fd: OwnedFd,
}

impl Inhibitor {
    /// The lock a run holds from its start to its end, whatever the end.
    pub async fn for_run() -> Option<Inhibitor> {
        Inhibitor::take("a backup is running; it ends by itself").await
    }

    /// Asks logind on the system bus to block sleep and idle for `why` (shown by
    /// `systemd-inhibit --list`). None, with a warning, when it cannot be had.
    pub async fn take(why: &str) -> Option<Inhibitor> {
        match tokio::time::timeout(BUS_TIMEOUT, inhibit(why)).await {
            Ok(Ok(fd)) => Some(Inhibitor { _fd: fd }),
            Ok(Err(e)) => {
                tracing::warn!("cannot keep the computer awake during the run (logind): {e}");
                None
            }
            Err(_) => {
                tracing::warn!(
                    "cannot keep the computer awake during the run: logind did not answer within {} s",
                    BUS_TIMEOUT.as_secs()
                );
                None
            }
        }
    }
}

async fn inhibit(why: &str) -> zbus::Result<OwnedFd> {
    let bus = zbus::Connection::system().await?;
    let reply = bus
        .call_method(
            Some("org.freedesktop.login1"),
            "/org/freedesktop/login1",
            Some("org.freedesktop.login1.Manager"),
            "Inhibit",
            &("sleep:idle", "wbackup", why, "block"),
        )
        .await?;
    let fd: zbus::zvariant::OwnedFd = reply.body().deserialize()?;
    let fd = OwnedFd::from(fd);
    // The lock must end with this process's copy: restic, rsync and ssh started during
    // the run must not inherit it and keep the computer awake after we let go.
    close_on_exec(&fd);
    Ok(fd)
}

fn close_on_exec(fd: &OwnedFd) {
    use std::os::fd::AsRawFd;
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, with flags it accepts.
    unsafe {
        let flags = libc::fcntl(raw, libc::F_GETFD);
        if flags >= 0 {
            libc::fcntl(raw, libc::F_SETFD, flags | libc::FD_CLOEXEC);
        }
    }
}

/// A desktop notification about a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub summary: String,
    pub body: String,
    /// A failure stays until dismissed (no timeout, critical urgency); anything else
    /// goes away when the desktop decides (its default timeout, normal urgency).
    pub failed: bool,
}

/// Shows `note` through `org.freedesktop.Notifications` on the session bus; returns the
/// server's id for it.
pub async fn notify(note: &Notification) -> zbus::Result<u32> {
    let bus = zbus::Connection::session().await?;
    let urgency: u8 = if note.failed { 2 } else { 1 };
    let hints = HashMap::from([("urgency", Value::from(urgency))]);
    // 0: never expires; -1: the server's default.
    let timeout: i32 = if note.failed { 0 } else { -1 };
    let reply = bus
        .call_method(
            Some("org.freedesktop.Notifications"),
            "/org/freedesktop/Notifications",
            Some("org.freedesktop.Notifications"),
            "Notify",
            &(
                "wbackup",
                0u32,
                "wbackup",
                note.summary.as_str(),
                note.body.as_str(),
                Vec::<&str>::new(),
                hints,
                timeout,
            ),
        )
        .await?;
    reply.body().deserialize()
}

/// [`notify`] on a thread of its own, so the caller (the Qt thread) never waits for the
/// bus; a failure is logged.
pub fn notify_in_background(note: Notification) {
    let spawned = std::thread::Builder::new()
        .name("wbackup-notify".into())
        .spawn(move || {
            let shown = crate::runtime::current_thread()
                .map_err(|e| e.to_string())
                .and_then(|rt| {
                    rt.block_on(async {
                        match tokio::time::timeout(BUS_TIMEOUT, notify(&note)).await {
                            Ok(r) => r.map_err(|e| e.to_string()),
                            Err(_) => Err("the notification server did not answer".into()),
                        }
                    })
                });
            if let Err(e) = shown {
                tracing::warn!("cannot show a desktop notification: {e}");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot show a desktop notification: {e}");
    }
}
