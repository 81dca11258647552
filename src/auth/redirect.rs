//! Where a browser may be sent after sign-in or sign-out: back to a path on this host, or to
//! a host the operator allowed. Everything else is an open redirect and falls back to `/`.

use url::Url;

/// An allowed redirect host: exact (`app.example.com`) or a suffix (`.example.com`, which
/// matches `example.com` and every subdomain).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainRule(String);

impl DomainRule {
    pub fn parse(text: &str) -> Result<Self, String> {
        let rule = text.trim().to_ascii_lowercase();
        let host = rule.strip_prefix('.').unwrap_or(&rule);
        let valid = !host.is_empty()
            && host.split(':').next().is_some_and(|h| !h.is_empty())
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b));
        if valid {
            Ok(Self(rule))
        } else {
            Err(format!(
                "`{text}` is not a domain like app.example.com or .example.com"
            ))
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self.0.strip_prefix('.') {
            Some(suffix) => {
                host == suffix
                    || host
                        .strip_suffix(suffix)
                        .is_some_and(|rest| rest.ends_with('.'))
            }
            None => host == self.0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct RedirectPolicy {
    own_host: String,
    allowed: Vec<DomainRule>,
}

impl RedirectPolicy {
    /// `public_url` is Sekisho's own address; its host is always allowed.
    pub fn new(public_url: &Url, allowed: Vec<DomainRule>) -> Self {
        Self {
            own_host: host_port(public_url),
            allowed,
        }
    }

    /// The target to redirect to, or why `rd` was refused.
    pub fn check(&self, rd: &str) -> Result<String, &'static str> {
        if rd.is_empty() {
            return Ok("/".into());
        }
        // Decoding repeatedly exposes `%2F%2Fevil`, `%252F...` and friends in the form a
        // browser or the app might eventually see.
        if rd.chars().any(|c| c.is_whitespace()) {
            return Err("whitespace");
        }
        let mut decoded = rd.to_owned();
        for _ in 0..3 {
            if decoded.chars().any(|c| c.is_control() || c == '\\') {
                return Err("control characters or backslashes");
            }
            let next = percent_decode(&decoded);
            if next == decoded {
                break;
            }
            decoded = next;
        }
        if rd.starts_with('/') {
            if decoded.starts_with("//") || rd.starts_with("//") {
                return Err("protocol-relative URL");
            }
            return Ok(rd.to_owned());
        }
        let lower = rd.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err("neither a path nor an http(s) URL");
        }
        let url = Url::parse(rd).map_err(|_| "unparseable URL")?;
        if !url.username().is_empty() || url.password().is_some() || rd.contains('@') {
            return Err("credentials in URL");
        }
        let host = host_port(&url);
        let bare_host = url.host_str().unwrap_or_default();
        if host == self.own_host
            || self
                .allowed
                .iter()
                .any(|rule| rule.matches(bare_host) || rule.matches(&host))
        {
            Ok(url.into())
        } else {
            Err("host not in allowed_redirect_domains")
        }
    }

    /// [`Self::check`], falling back to `/` and logging the refusal.
    pub fn target_or_root(&self, rd: &str) -> String {
        self.check(rd).unwrap_or_else(|why| {
            tracing::warn!(rd, reason = why, "redirect target refused");
            "/".into()
        })
    }
}

fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).and_then(|&b| hex(b)),
            bytes.get(i + 2).and_then(|&b| hex(b)),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, ..) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RedirectPolicy {
        let rules = vec![
            DomainRule::parse(".example.com").unwrap(),
            DomainRule::parse("app.example.org:8443").unwrap(),
        ];
        RedirectPolicy::new(&Url::parse("https://auth.example.net").unwrap(), rules)
    }

    #[test]
    fn accepted() {
        for rd in [
            "/",
            "/app/page?x=1&y=%2F#frag",
            "/a%20b",
            "https://example.com/",
            "https://gitlab.example.com/group/project?tab=1",
            "http://deep.sub.example.com:8080/x",
            "https://app.example.org:8443/",
            "https://auth.example.net/after",
        ] {
            assert!(policy().check(rd).is_ok(), "{rd} should be accepted");
        }
        assert_eq!(policy().check("").unwrap(), "/");
    }

    #[test]
    fn refused() {
        for rd in [
            "//evil.com",
            "///evil.com",
            "/\\evil.com",
            "\\\\evil.com",
            "/%2Fevil.com",
            "/%2f%2fevil.com",
            "%2F%2Fevil.com",
            "/%252F%252Fevil.com",
            "/%5Cevil.com",
            "https:evil.com",
            "https:/evil.com",
            "http:\\\\evil.com",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "java\tscript:alert(1)",
            " https://evil.com",
            "/\t/evil.com",
            "/%09/evil.com",
            "/\r\nLocation: https://evil.com",
            "data:text/html,<script>alert(1)</script>",
            "https://evil.com",
            "https://example.com.evil.com/",
            "https://evilexample.com/",
            "https://gitlab.example.com@evil.com/",
            "https://user:pass@gitlab.example.com/",
            "https://gitlab.example.com%40evil.com/",
            "https://app.example.org/",
            "ftp://gitlab.example.com/",
            "evil.com",
        ] {
            assert!(policy().check(rd).is_err(), "{rd:?} should be refused");
        }
    }

    #[test]
    fn fallback_is_root() {
        assert_eq!(policy().target_or_root("//evil.com"), "/");
        assert_eq!(policy().target_or_root("/ok"), "/ok");
    }

    #[test]
    fn rules() {
        assert!(DomainRule::parse("").is_err());
        assert!(DomainRule::parse(".").is_err());
        assert!(DomainRule::parse("exa mple.com").is_err());
        assert!(DomainRule::parse("*.example.com").is_err());
        assert!(
            DomainRule::parse("Example.COM")
                .unwrap()
                .matches("example.com")
        );
    }
}
