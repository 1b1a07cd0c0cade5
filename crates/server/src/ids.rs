//! Identifiers that arrive from the network (Vonage `uuid`, Twilio `callSid`/`streamSid`,
//! AudioSocket UUIDs) and the URL path segments built from data.
//!
//! A call id is accepted when it matches [`CALL_ID_PATTERN`] and has no `..`; anything else is
//! refused by name before it reaches the registry, a log line used as a key, or a URL.

/// The documented shape of an accepted id: an ASCII letter or digit, then up to 127 letters,
/// digits, `.`, `_`, `:` or `-`; never two dots in a row.
pub const CALL_ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$ (and no `..`)";
/// Longest id accepted, in bytes (ids are ASCII).
pub const MAX_ID_LEN: usize = 128;

/// Check a platform-provided id; `what` names the field in the error (`uuid`, `callSid`, ...).
pub fn validate_id(what: &str, id: &str) -> Result<(), String> {
    let shown: String = id.chars().take(40).flat_map(char::escape_default).collect();
    let bad = |why: &str| {
        Err(format!(
            "{what} `{shown}` refused: {why}; ids match {CALL_ID_PATTERN}"
        ))
    };
    if id.is_empty() {
        return bad("empty");
    }
    if id.len() > MAX_ID_LEN {
        return bad(&format!("longer than {MAX_ID_LEN} bytes"));
    }
    let b = id.as_bytes();
    if !b[0].is_ascii_alphanumeric() {
        return bad("must start with a letter or digit");
    }
    if let Some(p) = b
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-')))
    {
        return bad(&format!("character {} not allowed", p + 1));
    }
    if id.contains("..") {
        return bad("contains `..`");
    }
    Ok(())
}

/// A call id from a platform field, or a fresh UUID when the field is absent or empty.
pub fn call_id_or_new(what: &str, v: Option<&str>) -> Result<String, String> {
    match v {
        None | Some("") => Ok(uuid::Uuid::new_v4().to_string()),
        Some(s) => validate_id(what, s).map(|()| s.to_owned()),
    }
}

/// Percent-encode one URL path segment: everything but RFC 3986 unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`) becomes `%XX`, and a segment that is only dots is encoded too,
/// so the result can never be `.`, `..`, contain `/`, `?` or `#`.
pub fn encode_segment(s: &str) -> String {
    let only_dots = !s.is_empty() && s.bytes().all(|c| c == b'.');
    let mut out = String::with_capacity(s.len());
    for c in s.bytes() {
        let keep = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'_' | b'~')
            || (c == b'.' && !only_dots);
        if keep {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_ids_are_refused_by_name() {
        for id in [
            "..", "%2e%2e", "abc?x=1", "a/b", "a..b", ".hidden", "-x", "a b", "a\nb", "é",
        ] {
            let e = validate_id("uuid", id).unwrap_err();
            assert!(e.starts_with("uuid `"), "{id}: {e}");
            assert!(e.contains("refused"), "{id}: {e}");
        }
        assert!(validate_id("uuid", &"a".repeat(MAX_ID_LEN + 1)).is_err());
        assert!(validate_id("uuid", "").is_err());
    }

    #[test]
    fn platform_ids_pass() {
        for id in [
            "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
            "CA0123456789abcdef0123456789abcdef",
            "MZ18ad3ab5a668481ce02b83e7395059f0",
            "call.1:leg_2",
            &"a".repeat(MAX_ID_LEN),
        ] {
            validate_id("uuid", id).unwrap();
        }
        assert_eq!(call_id_or_new("uuid", None).unwrap().len(), 36);
        assert_eq!(call_id_or_new("uuid", Some("abc")).unwrap(), "abc");
        assert!(call_id_or_new("uuid", Some("..")).is_err());
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("abc"), "abc");
        assert_eq!(encode_segment("a.b-c_d~"), "a.b-c_d~");
        assert_eq!(encode_segment(".."), "%2E%2E");
        assert_eq!(encode_segment("."), "%2E");
        assert_eq!(encode_segment("abc?x=1"), "abc%3Fx%3D1");
        assert_eq!(encode_segment("a/b#c"), "a%2Fb%23c");
        assert_eq!(encode_segment("%2e"), "%252e");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }
}
