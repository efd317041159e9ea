//! The configuration of storage nodes on object storage (DESIGN §11): a `[nodes.X]`
//! table with `rclone = "REMOTE:PATH"` and the `[rclone]` table. Checked apart from the
//! nodes reached over SSH because a bucket takes none of their keys: nothing runs there,
//! it has no addresses, no user, no port, no folders of its own.

use super::{absolute, find_span, Bucket, Located, Node, RawNode, RawRclone, Rclone};
use crate::config::ConfigError;
use std::ops::Range;
use toml::Spanned;

/// The most parallel uploads `[rclone] transfers` may ask for.
pub const MAX_TRANSFERS: i64 = 64;

/// The place of `key = …` inside the table at `span`, for an error that points at it.
/// (A table's span may cover its header alone: its keys run to the next header.)
fn key_span(loc: &Located, span: &Range<usize>, key: &str) -> Range<usize> {
    let start = span.start.min(loc.text.len());
    let rest = &loc.text[start..];
    let end = rest[1.min(rest.len())..]
        .find("\n[")
        .map(|i| start + i + 2)
        .unwrap_or(loc.text.len());
    let table = &loc.text[start..end];
    table
        .match_indices(key)
        .find(|(i, _)| {
            (*i == 0 || table.as_bytes()[i - 1] == b'\n')
                && table[i + key.len()..].trim_start().starts_with('=')
        })
        .map(|(i, _)| span.start + i..span.start + i + key.len())
        .unwrap_or_else(|| span.clone())
}

/// Is `remote` a `REMOTE:PATH` rclone reads as a configured remote and a path in it?
/// (`:backend:` strings and connection strings would carry settings, perhaps secrets,
/// in the configuration: a remote is named here and configured in rclone's file.)
pub fn valid_remote(remote: &str) -> bool {
    let Some((name, path)) = remote.split_once(':') else {
        return false;
    };
    let name_ok = !name.is_empty()
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let path_ok = !path.contains('\n')
        && path
            .split('/')
            .all(|part| part != ".." && part != "." && !part.starts_with(".quarantine"));
    name_ok && path_ok && !path.trim_matches('/').is_empty()
}

/// A `[nodes.NAME]` table that has `rclone`: storage only, and no key of an SSH host.
pub(super) fn bucket_of(
    loc: &Located,
    name: String,
    span: Range<usize>,
    raw: &RawNode,
    orchestrator: &str,
) -> Result<Bucket, ConfigError> {
    let remote = raw.rclone.as_deref().unwrap_or_default();
    if name == orchestrator {
        return Err(loc.error(
            Some(key_span(loc, &span, "rclone")),
            format!("the orchestrator {name:?} cannot be an rclone remote"),
            Some(
                "the orchestrator is the machine wbackup runs on: name another node `orchestrator`"
                    .into(),
            ),
        ));
    }
    let refused = [
        ("addresses", !raw.addresses.is_empty()),
        ("user", raw.user.is_some()),
        ("port", raw.port.is_some()),
        ("base_dir", raw.base_dir.is_some()),
        ("paths", !raw.paths.is_empty()),
        ("exclude", !raw.exclude.is_empty()),
    ];
    if let Some((key, _)) = refused.iter().find(|(_, set)| *set) {
        return Err(loc.error(
            Some(key_span(loc, &span, key)),
            format!("node {name:?} is an rclone remote: it takes no `{key}`"),
            Some(format!(
                "a bucket is storage only, reached with rclone from the uploading node: remove `{key}` from [nodes.{name}], or remove `rclone` to make it a node reached over SSH"
            )),
        ));
    }
    if !valid_remote(remote) {
        return Err(loc.error(
            find_span(loc.text, remote).or(Some(key_span(loc, &span, "rclone"))),
            format!("node {name:?}: {remote:?} is not REMOTE:PATH"),
            Some("write the name of a remote of your rclone.conf, a colon, and a folder in it: \"b2:my-bucket/wbackup\" (configure the remote itself with `rclone config`)".into()),
        ));
    }
    Ok(Bucket {
        remote: remote.trim_end_matches('/').to_string(),
        name,
    })
}

/// The `[rclone]` table, checked against the nodes.
pub(super) fn rclone(
    loc: &Located,
    raw: Option<Spanned<RawRclone>>,
    nodes: &[Node],
) -> Result<Rclone, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Rclone::default());
    };
    let span = raw.span();
    let raw = raw.into_inner();
    if let Some(bad) = raw.config_file.as_deref().filter(|p| !absolute(p)) {
        return Err(loc.error(
            find_span(loc.text, bad).or(Some(span.clone())),
            format!("[rclone] config_file {bad:?} is not an absolute path"),
            Some("write it from the root or from the home directory (\"~/.config/rclone/rclone.conf\")".into()),
        ));
    }
    if let Some(bad) = raw
        .config_file
        .as_deref()
        .filter(|p| crate::shell::restic_field(p).is_none())
    {
        return Err(loc.error(
            find_span(loc.text, bad)
                .or_else(|| {
                    let key = "config_file";
                    loc.text.find(key).map(|i| i..i + key.len())
                })
                .or(Some(span.clone())),
            format!("[rclone] config_file {bad:?} cannot be passed to restic's rclone backend, which reads copies in the bucket (it holds both kinds of quote, or ends in a backslash)"),
            Some("move rclone's configuration to a plainer path and name that one".into()),
        ));
    }
    if let Some(from) = &raw.from {
        if !nodes.iter().any(|n| n.name == *from) {
            let known: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
            return Err(loc.error(
                find_span(loc.text, from).or(Some(span.clone())),
                format!(
                    "[rclone] from = {from:?} is not a node reached over SSH or the orchestrator"
                ),
                Some(format!(
                    "name the node that uploads to the buckets, one of: {}",
                    known.join(", ")
                )),
            ));
        }
    }
    if let Some(bad) = raw
        .bwlimit
        .as_deref()
        .filter(|b| b.is_empty() || b.starts_with('-'))
    {
        return Err(loc.error(
            find_span(loc.text, bad).or(Some(span.clone())),
            format!("[rclone] bwlimit {bad:?} is not a bandwidth"),
            Some("write it as rclone's --bwlimit takes it: \"10M\", \"512k\"".into()),
        ));
    }
    let transfers = match raw.transfers {
        None => None,
        Some(n @ 1..=MAX_TRANSFERS) => Some(n as u32),
        Some(n) => {
            return Err(loc.error(
                Some(key_span(loc, &span, "transfers")),
                format!("[rclone] transfers = {n} is out of range"),
                Some(format!(
                    "set transfers from 1 to {MAX_TRANSFERS} (rclone's default is 4)"
                )),
            ))
        }
    };
    Ok(Rclone {
        config_file: raw.config_file,
        from: raw.from,
        bwlimit: raw.bwlimit,
        transfers,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::parse;
    use std::path::Path;

    fn err(text: &str) -> String {
        parse(Path::new("/c.toml"), text).unwrap_err().to_string()
    }

    const BASE: &str = "orchestrator = \"a\"\n[nodes.a]\npaths = [\"/x\"]\n";

    #[test]
    fn a_bucket_node_and_the_rclone_table_load() {
        let c = parse(
            Path::new("c.toml"),
            &format!("{BASE}[rclone]\nconfig_file = \"~/rc.conf\"\nbwlimit = \"10M\"\ntransfers = 8\n[nodes.cloud]\nrclone = \"b2:my-bucket/wbackup/\"\n"),
        )
        .unwrap();
        assert_eq!(c.nodes.len(), 1, "a bucket is not a node reached over SSH");
        assert_eq!(c.buckets.len(), 1);
        assert_eq!(c.buckets[0].remote, "b2:my-bucket/wbackup");
        assert_eq!(c.rclone.transfers, Some(8));
        assert_eq!(c.uploader(), "a");
        assert!(c.replication.enabled, "one node and a bucket replicate");
        // One node and a bucket need no `orchestrator`.
        let c = parse(
            Path::new("c.toml"),
            "[nodes.a]\npaths = [\"/x\"]\n[nodes.cloud]\nrclone = \"s3:b/p\"\n",
        )
        .unwrap();
        assert_eq!(c.orchestrator, "a");
    }

    #[test]
    fn a_bucket_takes_no_key_of_an_ssh_host_and_errors_point_at_it() {
        for key in [
            "addresses = [\"h\"]",
            "user = \"u\"",
            "port = 22",
            "paths = [\"/y\"]",
            "base_dir = \"/b\"",
        ] {
            let e = err(&format!(
                "{BASE}[nodes.cloud]\nrclone = \"b2:x/y\"\n{key}\n"
            ));
            let k = key.split(' ').next().unwrap();
            assert!(
                e.starts_with(&format!(
                    "/c.toml:6:1: node \"cloud\" is an rclone remote: it takes no `{k}`"
                )),
                "{e}"
            );
        }
        for bad in [
            "nocolon",
            ":s3,access_key_id=x:b",
            "b2:",
            "b2:x/../y",
            "-x:y",
            "b2:a/.quarantine",
        ] {
            let e = err(&format!("{BASE}[nodes.cloud]\nrclone = \"{bad}\"\n"));
            assert!(e.starts_with("/c.toml:5:10: node \"cloud\""), "{bad}: {e}");
        }
        let e = err("orchestrator = \"cloud\"\n[nodes.cloud]\nrclone = \"b2:x\"\n");
        assert!(e.contains("cannot be an rclone remote"), "{e}");
    }

    #[test]
    fn the_rclone_table_is_checked() {
        let e = err(&format!(
            "{BASE}[rclone]\nfrom = \"cloud\"\n[nodes.cloud]\nrclone = \"b2:x\"\n"
        ));
        assert!(
            e.starts_with("/c.toml:5:8: [rclone] from = \"cloud\""),
            "{e}"
        );
        let e = err(&format!("{BASE}[rclone]\ntransfers = 0\n"));
        assert!(e.starts_with("/c.toml:5:1: [rclone] transfers = 0"), "{e}");
        let e = err(&format!("{BASE}[rclone]\nconfig_file = \"rc.conf\"\n"));
        assert!(e.contains("not an absolute path"), "{e}");
        let e = err(&format!(
            "{BASE}[rclone]\nconfig_file = \"/it's \\\"rc\\\".conf\"\n"
        ));
        assert!(
            e.starts_with("/c.toml:5:")
                && e.contains("cannot be passed to restic's rclone backend")
                && e.contains("plainer path"),
            "{e}"
        );
        // One kind of quote is fine.
        let c = crate::config::parse(
            std::path::Path::new("/c.toml"),
            &format!("{BASE}[rclone]\nconfig_file = \"/home/it's/rc.conf\"\n[nodes.cloud]\nrclone = \"b2:b/w\"\n"),
        )
        .unwrap();
        assert_eq!(c.rclone.config_file.as_deref(), Some("/home/it's/rc.conf"));
        let e = err(&format!("{BASE}[rclone]\nsecret = \"x\"\n"));
        assert!(e.starts_with("/c.toml:5:1: unknown field `secret`"), "{e}");
    }
}
