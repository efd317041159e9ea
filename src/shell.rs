//! POSIX shell quoting. Remote commands travel to sshd as one string that the remote
//! login shell splits again, so every word built from user data goes through `quote`:
//! paths and host names may hold spaces, quotes, `$(...)` or `;` and must arrive verbatim.
//! One string is split by restic instead (`-o rclone.args=`): `restic_field` quotes for it.

/// Quotes one word for a POSIX shell. Words made only of safe characters stay readable.
pub fn quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `s` as one field of a string restic splits itself (`rclone.args`), which is not a
/// shell: a quote starts and ends a field, and no escape is ever undone. Single quotes
/// around it, double ones when it holds a single quote; None when it holds both, or ends
/// in a backslash (which would keep the closing quote from closing).
pub fn restic_field(s: &str) -> Option<String> {
    let q = if !s.contains('\'') {
        '\''
    } else if !s.contains('"') {
        '"'
    } else {
        return None;
    };
    (!s.ends_with('\\')).then(|| format!("{q}{s}{q}"))
}

/// Joins words into one command line, each quoted.
pub fn join<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes a path for a person to paste into a shell on the node it belongs to: a leading
/// `~/` stays unquoted so that shell expands it.
pub fn quote_path_for_user(path: &str) -> String {
    match path.strip_prefix("~/") {
        Some(rest) if !rest.is_empty() => format!("~/{}", quote(rest)),
        _ if path == "~" || path == "~/" => "~".to_string(),
        _ => quote(path),
    }
}

/// `text` with every control character (newline, carriage return, escape, …) written as
/// a visible escape such as `\n`: for text printed where a control character would end
/// a comment or rewrite the terminal (a `# …` line meant to be pasted, a log line).
pub fn inert(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Whether `text` holds a control character (a newline, a tab, an escape, …).
pub fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// What a real shell makes of the quoted line.
    fn roundtrip(words: &[&str]) -> Vec<String> {
        let line = format!("printf '%s\\0' {}", join(words));
        let out = Command::new("sh").arg("-c").arg(&line).output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_terminator('\0')
            .map(String::from)
            .collect()
    }

    #[test]
    fn hostile_words_survive_a_real_shell() {
        let words = [
            "plain",
            "with space",
            "it's",
            "\"dq\"",
            "$(touch /tmp/wbackup-pwned)",
            "a;b",
            "`x`",
            "",
            "tab\there",
            "new\nline",
            "~/x",
            "*",
            "back\\slash",
        ];
        assert_eq!(roundtrip(&words), words);
        assert!(!std::path::Path::new("/tmp/wbackup-pwned").exists());
    }

    #[test]
    fn inert_text_keeps_one_line() {
        assert_eq!(inert("a\nb\r\u{1b}[2Jc\td"), "a\\nb\\r\\u{1b}[2Jc\\td");
        assert_eq!(inert("plain 'text' é"), "plain 'text' é");
        assert!(has_control("x\ny") && has_control("\u{85}") && !has_control("a b"));
    }

    #[test]
    fn safe_words_stay_readable() {
        assert_eq!(quote("/home/a/backup"), "/home/a/backup");
        assert_eq!(quote("--keep-daily"), "--keep-daily");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote_path_for_user("~/my docs"), "~/'my docs'");
    }
}
