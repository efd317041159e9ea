//! The one rule every password source follows (the window, the terminal, a file, a
//! command), so that a password works the same whichever way it arrives: its first line,
//! byte for byte, which must be UTF-8 text and not empty. Bytes that are not UTF-8 are
//! refused, never altered: an altered password would create repositories that the real
//! one cannot open.

use secrecy::SecretString;

/// Bytes that are wiped from memory when dropped (a password on its way in).
pub type Wiped = secrecy::zeroize::Zeroizing<Vec<u8>>;

/// The password in what `source` gave: its first line (a trailing `\r` dropped).
pub fn from_bytes(bytes: &[u8], source: &str) -> Result<SecretString, String> {
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Err(format!("the password from {source} is empty"));
    }
    match std::str::from_utf8(line) {
        Ok(text) => Ok(SecretString::from(text)),
        Err(_) => Err(format!(
            "the password from {source} is not UTF-8 text; wbackup refuses it rather than alter it (it could not be typed in the window or at a terminal either): use a password made of text"
        )),
    }
}

/// The password in a UTF-16 text field (the window's): the same rule, so a field
/// holding half of a surrogate pair is refused rather than altered.
pub fn from_utf16(units: &[u16], source: &str) -> Result<SecretString, String> {
    let text = secrecy::zeroize::Zeroizing::new(
        String::from_utf16(units)
            .map_err(|_| format!("the password from {source} is not valid text; type it again"))?,
    );
    from_bytes(text.as_bytes(), source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn the_first_line_is_taken_byte_for_byte() {
        let p = from_bytes("pässwörd with spaces \r\nsecond line\n".as_bytes(), "x").unwrap();
        assert_eq!(p.expose_secret(), "pässwörd with spaces ");
        let p = from_bytes(b"  lead and tail  ", "x").unwrap();
        assert_eq!(p.expose_secret(), "  lead and tail  ");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_not_altered() {
        let e = from_bytes(b"caf\xe9\n", "the password command").unwrap_err();
        assert!(
            e.starts_with("the password from the password command is not UTF-8 text"),
            "{e}"
        );
        assert!(
            !e.contains("caf"),
            "the error holds no part of the password: {e}"
        );
        let e = from_utf16(&[0x61, 0xd800], "the window").unwrap_err();
        assert!(e.contains("not valid text"), "{e}");
        let p = from_utf16(&"pass wörd".encode_utf16().collect::<Vec<_>>(), "w").unwrap();
        assert_eq!(p.expose_secret(), "pass wörd");
    }

    #[test]
    fn an_empty_first_line_is_refused() {
        for bytes in [&b""[..], b"\n", b"\r\nsecond"] {
            let e = from_bytes(bytes, "the file /p").unwrap_err();
            assert_eq!(e, "the password from the file /p is empty");
        }
    }
}
