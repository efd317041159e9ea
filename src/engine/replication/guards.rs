//! What may leave a copy. A copy loses files only when its source no longer has them;
//! snapshots that leave must be ones wbackup's own forget removed (the ledger), or the
//! user consented (`--accept-shrink`). Anything else is a loss at the source, or a copy
//! holding what its source never had: named, and nothing is taken from that copy.

use super::{extras, RepoFiles};
use crate::shell;
use std::collections::{BTreeMap, HashSet};

/// The snapshots each copy holds that the source does not have and that wbackup's own
/// forget did not remove (`forgotten`), by copy; copies with none are left out. Such
/// snapshots are not taken from a copy without the user's consent: the copy still
/// receives what is new, and nothing leaves it.
pub fn unexplained<'a>(
    src: &RepoFiles,
    copies: impl IntoIterator<Item = (&'a str, &'a RepoFiles)>,
    forgotten: &HashSet<String>,
) -> BTreeMap<String, Vec<String>> {
    copies
        .into_iter()
        .filter_map(|(t, dst)| {
            let ids: Vec<String> = extras(src, dst)
                .iter()
                .filter_map(|p| p.strip_prefix("snapshots/"))
                .filter(|id| !forgotten.contains(*id))
                .map(String::from)
                .collect();
            (!ids.is_empty()).then(|| (t.to_string(), ids))
        })
        .collect()
}

/// Why copies keep snapshots their source no longer has. When every copy reached holds
/// them, the source lost them; when only some do, those copies hold something the source
/// never had (or lost long ago): name them, so that the source is not blamed for them.
pub fn shrink_refusal(
    owner: &str,
    owner_repo: &str,
    unexplained: &BTreeMap<String, Vec<String>>,
    copies_reached: usize,
) -> String {
    let short = |ids: &[String]| {
        ids.iter()
            .map(|s| &s[..8.min(s.len())])
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut all: Vec<String> = unexplained.values().flatten().cloned().collect();
    all.sort();
    all.dedup();
    let consent = format!("if the loss is intended, run `wbackup run --accept-shrink {owner}`");
    let in_every_copy = unexplained.len() == copies_reached
        && all
            .iter()
            .all(|id| unexplained.values().all(|v| v.contains(id)));
    if in_every_copy {
        format!(
            "{owner}'s repository lost {} snapshot(s) that wbackup did not forget ({}); its copies keep them (they still received what is new) and nothing was removed from them. Check the source (`restic -r {} snapshots` on {owner}); {consent}",
            all.len(),
            short(&all),
            shell::quote(owner_repo),
        )
    } else {
        let each: Vec<String> = unexplained
            .iter()
            .map(|(t, ids)| {
                format!(
                    "{t}'s copy holds {} snapshot(s) that {owner}'s repository does not have and wbackup never forgot ({})",
                    ids.len(),
                    short(ids)
                )
            })
            .collect();
        format!(
            "{}; nothing was removed from {} (they still received what is new), the other copies were updated as usual. If those snapshots do not belong to {owner}, move them out of that copy's snapshots/ folder; {consent}",
            each.join("; "),
            if unexplained.len() == 1 { "that copy" } else { "those copies" },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(snapshots: &[&str]) -> RepoFiles {
        let mut r = RepoFiles::default();
        for s in snapshots {
            r.files
                .insert(format!("snapshots/{}", s.repeat(64)), (1, 1.0));
        }
        r
    }

    #[test]
    fn only_snapshots_wbackup_did_not_forget_are_guarded_and_the_blame_goes_where_it_belongs() {
        let src = files(&["a"]);
        let (home, nas) = (files(&["a", "b", "c"]), files(&["a", "b"]));
        let forgotten: HashSet<String> = ["c".repeat(64)].into();
        let u = unexplained(&src, [("home", &home), ("nas", &nas)], &forgotten);
        assert_eq!(u.len(), 2);
        assert_eq!(u["home"], ["b".repeat(64)], "c was forgotten by wbackup");
        // Every copy reached holds b: the source lost it.
        let why = shrink_refusal("laptop", "/r", &u, 2);
        assert!(
            why.starts_with("laptop's repository lost 1 snapshot(s)"),
            "{why}"
        );
        // A third copy without b: the two that hold it are named, the source is not blamed.
        let why = shrink_refusal("laptop", "/r", &u, 3);
        assert!(why.starts_with("home's copy holds 1 snapshot(s)"), "{why}");
        assert!(why.contains("nas's copy holds"), "{why}");
        // Nothing unexplained in a copy that matches its source.
        assert!(unexplained(&src, [("home", &src)], &forgotten).is_empty());
    }
}
