//! Kubernetes object names: checking the ones given, making the ones written.

/// An RFC 1123 label: namespaces, Services, and the names this module writes.
pub fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// An RFC 1123 subdomain: most object names (Gateways, routes).
pub fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

/// `base-suffix`, shortened to fit a label (63 characters) and never ending in `-`. `base` is
/// an existing object's name (a subdomain); dots become dashes.
pub fn derived(base: &str, suffix: &str) -> String {
    let base = base.replace('.', "-");
    let joined = if suffix.is_empty() {
        base
    } else {
        format!("{base}-{suffix}")
    };
    let mut name: String = joined.chars().take(63).collect();
    while name.ends_with('-') {
        name.pop();
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_subdomains_and_derived_names() {
        for (name, label, subdomain) in [
            ("app", true, true),
            ("app-1", true, true),
            ("app.example", false, true),
            ("-app", false, false),
            ("App", false, false),
            ("", false, false),
            ("a_b", false, false),
        ] {
            assert_eq!(is_label(name), label, "{name}");
            assert_eq!(is_subdomain(name), subdomain, "{name}");
        }
        assert_eq!(derived("app", "sekisho"), "app-sekisho");
        assert_eq!(derived("app.v2", ""), "app-v2");
        let long = derived(&"a".repeat(60), "source-range");
        assert_eq!(long.len(), 63);
        assert!(is_label(&long), "{long}");
        assert!(is_label(&derived(&"a".repeat(61), "x-y")));
    }
}
