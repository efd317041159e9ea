//! Light or dark: the window follows the desktop's choice.
//!
//! Qt 6.4 has no `styleHints.colorScheme`, and on most Debian desktops no platform theme
//! hands it a dark palette (the GTK theme of 6.4 gives a light one; only qt6ct or a KDE
//! theme set a palette of their own). The desktop's choice is published instead by the
//! XDG desktop portal (`org.freedesktop.appearance color-scheme`: 1 prefers dark, 2
//! prefers light; GNOME 42+ and KDE Plasma 5.24+ publish it). So at start, before the
//! window is built, the application palette is made dark or light when the desktop asks
//! for it and the platform's palette is the other one; a theme that already gives the
//! right palette is left alone. `WBACKUP_PALETTE=dark` (or `light`) forces a choice, for
//! a desktop without a portal and for the tests and screenshots.
//!
//! The window binds its palette to `SystemPalette`, that is to this application palette,
//! and picks its status colours (`Tones.qml`) by how light that palette's window is.

use std::time::Duration;

/// How long the portal may take to answer before the window opens without it.
const PORTAL_TIMEOUT: Duration = Duration::from_millis(500);

/// The two palettes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Light,
    Dark,
}

/// `WBACKUP_PALETTE`'s meaning: Some(choice) for "dark" or "light", None for anything
/// else ("", "system", unset: follow the desktop).
pub fn forced(value: Option<&str>) -> Option<Scheme> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        Some("dark") => Some(Scheme::Dark),
        Some("light") => Some(Scheme::Light),
        _ => None,
    }
}

/// The portal's `color-scheme` number as a choice: 1 dark, 2 light, 0 (no preference)
/// or anything else none.
pub fn from_portal_value(value: u32) -> Option<Scheme> {
    match value {
        1 => Some(Scheme::Dark),
        2 => Some(Scheme::Light),
        _ => None,
    }
}

/// What the desktop (or `WBACKUP_PALETTE`) asks for; None: keep Qt's own palette.
pub fn wanted() -> Option<Scheme> {
    let env = std::env::var("WBACKUP_PALETTE").ok();
    if let Some(choice) = forced(env.as_deref()) {
        return Some(choice);
    }
    portal_scheme().and_then(from_portal_value)
}

/// Makes the application palette the one wanted, if it is not already. Call it after the
/// Qt application exists and before the window loads. Returns the choice applied.
pub fn apply() -> Option<Scheme> {
    let scheme = wanted()?;
    if super::native::set_palette(scheme == Scheme::Dark) {
        tracing::debug!("window palette: {scheme:?}");
    }
    Some(scheme)
}

/// The portal's `color-scheme`, or None without a session bus, a portal or an answer
/// within [`PORTAL_TIMEOUT`].
fn portal_scheme() -> Option<u32> {
    let rt = crate::runtime::current_thread().ok()?;
    rt.block_on(async {
        match tokio::time::timeout(PORTAL_TIMEOUT, read_portal()).await {
            Ok(Ok(value)) => value,
            Ok(Err(e)) => {
                tracing::debug!("no colour scheme from the desktop portal: {e}");
                None
            }
            Err(_) => {
                tracing::debug!("the desktop portal did not say its colour scheme in time");
                None
            }
        }
    })
}

async fn read_portal() -> zbus::Result<Option<u32>> {
    let bus = zbus::Connection::session().await?;
    let reply = bus
        .call_method(
            Some("org.freedesktop.portal.Desktop"),
            "/org/freedesktop/portal/desktop",
            Some("org.freedesktop.portal.Settings"),
            "Read",
            &("org.freedesktop.appearance", "color-scheme"),
        )
        .await?;
    let value: zbus::zvariant::OwnedValue = reply.body().deserialize()?;
    Ok(number(&value))
}

/// `Read` answers a variant holding a variant (older portals) or the number itself.
fn number(value: &zbus::zvariant::Value<'_>) -> Option<u32> {
    use zbus::zvariant::Value;
    match value {
        Value::U32(n) => Some(*n),
        Value::Value(inner) => number(inner),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::zvariant::Value;

    #[test]
    fn the_environment_forces_a_palette_or_leaves_it_to_the_desktop() {
        assert_eq!(forced(Some("dark")), Some(Scheme::Dark));
        assert_eq!(forced(Some(" Dark\n")), Some(Scheme::Dark));
        assert_eq!(forced(Some("light")), Some(Scheme::Light));
        for other in [None, Some(""), Some("system"), Some("darkish")] {
            assert_eq!(forced(other), None, "{other:?}");
        }
    }

    #[test]
    fn the_portal_number_means_dark_light_or_no_preference() {
        assert_eq!(from_portal_value(1), Some(Scheme::Dark));
        assert_eq!(from_portal_value(2), Some(Scheme::Light));
        assert_eq!(from_portal_value(0), None);
        assert_eq!(from_portal_value(7), None);
        assert_eq!(number(&Value::U32(1)), Some(1));
        assert_eq!(number(&Value::Value(Box::new(Value::U32(2)))), Some(2));
        assert_eq!(number(&Value::Str("dark".into())), None);
    }
}
