//! Header names: compact forms (RFC 3261 §7.3.3 and the registry) and the token grammar.

/// The full name for a compact form, or the name itself. Comparison stays case-insensitive;
/// this only maps the one-letter aliases.
pub fn canonical_name(name: &str) -> &str {
    if name.len() != 1 {
        return name;
    }
    match name.as_bytes()[0].to_ascii_lowercase() {
        b'i' => "Call-ID",
        b'm' => "Contact",
        b'e' => "Content-Encoding",
        b'l' => "Content-Length",
        b'c' => "Content-Type",
        b'f' => "From",
        b's' => "Subject",
        b'k' => "Supported",
        b't' => "To",
        b'v' => "Via",
        b'o' => "Event",
        b'u' => "Allow-Events",
        b'r' => "Refer-To",
        b'b' => "Referred-By",
        b'x' => "Session-Expires",
        b'a' => "Accept-Contact",
        b'j' => "Reject-Contact",
        b'd' => "Request-Disposition",
        b'y' => "Identity",
        _ => name,
    }
}

/// RFC 3261 §25.1 `token`.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_forms_map_to_full_names_in_any_case() {
        assert_eq!(canonical_name("i"), "Call-ID");
        assert_eq!(canonical_name("L"), "Content-Length");
        assert_eq!(canonical_name("v"), "Via");
        assert_eq!(canonical_name("Via"), "Via");
        assert_eq!(canonical_name("q"), "q");
    }

    #[test]
    fn extension_methods_are_tokens() {
        assert!(is_token("BENOTIFY"));
        assert!(is_token("!interesting-Method0123456789_*+`.%indeed'~"));
        assert!(!is_token("IN VITE"));
        assert!(!is_token(""));
    }
}
