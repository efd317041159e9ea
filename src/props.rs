//! Property tests of the parsers of outside input: whatever a configuration file, restic,
//! rsync, ssh or a password source hands wbackup, parsing it never panics, and what is
//! accepted keeps its promises (a node's paths are absolute or start at `~`, a password is
//! exactly its source's first line). Replication's own parsers are tested beside them.

use crate::config::parse;
use crate::engine::replication::transfer::parse_progress;
use crate::engine::restic::{parse_backup_line, BackupLine};
use crate::password;
use proptest::prelude::*;
use std::path::Path;

fn absolute(p: &str) -> bool {
    p.starts_with('/') || p == "~" || p.starts_with("~/")
}

/// Text that looks like a configuration, with random values in its keys.
fn config_like() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        any::<String>().prop_map(|s| format!("{s:?}")),
        "[~/a-z./ \"]{0,12}".prop_map(|s| format!("{s:?}")),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("[]".to_string()),
        "[a-z~/. ]{0,8}".prop_map(|s| format!("[{s:?}, \"/x\"]")),
        any::<bool>().prop_map(|b| b.to_string()),
    ];
    let key = prop_oneof![
        Just("paths"),
        Just("base_dir"),
        Just("addresses"),
        Just("exclude"),
        Just("port"),
        Just("user"),
        Just("orchestrator"),
        Just("jobs"),
        Just("keep_last"),
        Just("bogus"),
    ];
    let table = prop_oneof![
        Just("[nodes.a]"),
        Just("[nodes.b]"),
        Just("[nodes.Ä]"),
        Just("[ssh]"),
        Just("[retention]"),
        Just(""),
    ];
    proptest::collection::vec((table, key, value), 0..8).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(t, k, v)| format!("{t}\n{k} = {v}\n"))
            .collect()
    })
}

proptest! {
    #[test]
    fn any_bytes_as_a_configuration_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = parse(Path::new("c.toml"), &text) {
            let _ = e.to_string();
        }
    }

    #[test]
    fn an_accepted_configuration_holds_only_absolute_paths(text in config_like()) {
        match parse(Path::new("c.toml"), &text) {
            Ok(c) => {
                for n in &c.nodes {
                    prop_assert!(absolute(&n.base_dir), "{:?} in\n{}", n.base_dir, text);
                    for p in &n.paths {
                        prop_assert!(absolute(p), "{:?} in\n{}", p, text);
                    }
                }
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }

    #[test]
    fn a_node_is_accepted_only_with_absolute_paths(
        paths in proptest::collection::vec("[~/a-z. ]{0,6}", 1..4),
        base in "[~/a-z.]{1,6}",
    ) {
        let text = format!("[nodes.a]\nbase_dir = {base:?}\npaths = {paths:?}\n");
        let accepted = parse(Path::new("c.toml"), &text);
        let all_absolute = absolute(&base) && paths.iter().all(|p| p.is_empty() || absolute(p));
        let any_empty = paths.iter().any(|p| p.is_empty());
        prop_assert_eq!(accepted.is_ok(), all_absolute && !any_empty, "{}", text);
    }

    #[test]
    fn restic_json_lines_never_panic(line in any::<String>()) {
        let _ = parse_backup_line(&line);
    }

    #[test]
    fn restic_json_with_strange_values_never_panics(
        kind in prop_oneof![Just("status".to_string()), Just("summary".to_string()), Just("error".to_string()), any::<String>()],
        id in any::<String>(),
        n in any::<i64>(),
        f in any::<f64>(),
    ) {
        let v = serde_json::json!({
            "message_type": kind, "snapshot_id": id, "files_new": n,
            "bytes_done": f, "total_bytes": n, "data_added": id,
        });
        if let BackupLine::Summary(s) = parse_backup_line(&v.to_string()) {
            prop_assert!(s.starts_with("snapshot "));
        }
    }

    #[test]
    fn rsync_progress_lines_never_panic(line in any::<String>()) {
        let _ = parse_progress(&line);
    }

    #[test]
    fn rsync_progress_reads_the_bytes_it_shows(n in any::<u64>(), pct in 0u8..=100) {
        let grouped = n
            .to_string()
            .as_bytes()
            .rchunks(3)
            .rev()
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(",");
        let line = format!("  {grouped} {pct}%  12.34MB/s    0:00:01 (xfr#1, to-chk=0/2)");
        prop_assert_eq!(parse_progress(&line), Some(n));
    }

    #[test]
    fn the_prepare_scripts_output_never_panics_nor_points_outside(
        lines in proptest::collection::vec(
            prop_oneof![
                any::<String>(),
                "(no-path|snapshot|missing|free) [-0-9a-f./]{0,70}",
            ],
            0..12,
        ),
        npaths in 0usize..4,
    ) {
        let f = crate::engine::prepare::parse(&lines, npaths);
        prop_assert!(f.missing_paths.iter().all(|i| *i < npaths));
        prop_assert!(f.snapshots.iter().all(|s| s.len() == 64 && !s.contains('/')));
    }

    #[test]
    fn a_password_is_exactly_the_first_line_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        use secrecy::ExposeSecret;
        match password::from_bytes(&bytes, "x") {
            Ok(p) => {
                let p = p.expose_secret().as_bytes();
                prop_assert!(!p.is_empty() && !p.contains(&b'\n'));
                prop_assert!(bytes.starts_with(p));
                prop_assert!(matches!(&bytes[p.len()..], [] | [b'\n', ..] | [b'\r'] | [b'\r', b'\n', ..]));
            }
            Err(e) => prop_assert!(e.starts_with("the password from x is")),
        }
    }
}
