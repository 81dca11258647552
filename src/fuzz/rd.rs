//! The `rd` redirect target: whatever a link carries, the browser ends up on our own site or on
//! an allowed host, as the `url` crate (the WHATWG URL standard, what browsers do) resolves it.

use url::Url;

use super::{first_line, text};
use crate::auth::{DomainRule, RedirectPolicy};

/// Input: the public URL, the allowed redirect domains (comma-separated), then `rd`.
pub fn rd(data: &[u8]) {
    let text = text(data);
    let (public, rest) = first_line(&text);
    let (domains, rd) = first_line(rest);
    let Ok(public) = Url::parse(public.trim()) else {
        return;
    };
    // What the configuration accepts as public_url: http(s), a host, no credentials.
    if !matches!(public.scheme(), "http" | "https")
        || public.host_str().is_none()
        || !public.username().is_empty()
        || public.password().is_some()
    {
        return;
    }
    let (texts, rules): (Vec<String>, Vec<DomainRule>) = domains
        .split(',')
        .filter_map(|d| Some((d.trim().to_ascii_lowercase(), DomainRule::parse(d).ok()?)))
        .unzip();
    let policy = RedirectPolicy::new(&public, rules);
    let target = policy.target_or_root(rd);
    let Ok(checked) = policy.check(rd) else {
        assert_eq!(target, "/");
        return;
    };
    assert_eq!(target, checked);
    // Where a browser on our site goes with the target, and with `rd` itself.
    for link in [target.as_str(), rd] {
        let landing = public
            .join(link)
            .unwrap_or_else(|e| panic!("an accepted target must resolve: {link:?}: {e}"));
        assert!(
            landing.username().is_empty() && landing.password().is_none(),
            "credentials in {landing} from {rd:?}"
        );
        assert!(
            same_host(&landing, &public) || allowed(&landing, &texts),
            "{rd:?} leads to {landing}"
        );
    }
    if rd.is_empty() {
        // No target: the root.
        assert_eq!(target, "/");
    } else if target.starts_with('/') {
        assert_eq!(target, rd, "a path is kept as it is");
        // However often the app decodes it, it stays a path on this site.
        let mut decoded = rd.to_owned();
        for _ in 0..3 {
            decoded = percent_decode(&decoded);
            assert!(
                !decoded.starts_with("//") && !decoded.contains('\\'),
                "{rd:?} decodes to {decoded:?}"
            );
            let landing = public.join(&decoded).expect("a path resolves");
            assert_eq!(
                landing.origin(),
                public.origin(),
                "{rd:?} leads to {landing}"
            );
        }
    } else {
        assert!(
            matches!(
                Url::parse(&target)
                    .map(|u| u.scheme().to_owned())
                    .as_deref(),
                Ok("http" | "https")
            ),
            "{target:?}"
        );
    }
}

/// Our own host and port, whatever the scheme: `rd` may name our site over either.
fn same_host(a: &Url, b: &Url) -> bool {
    a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port() == b.port()
}

/// Whether `url`'s host is one the rules name: exactly, or as a subdomain of a `.suffix`
/// rule; a rule with a port names that port only.
fn allowed(url: &Url, rules: &[String]) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    let with_port = url.port().map(|p| format!("{host}:{p}"));
    rules.iter().any(|rule| {
        let names = |name: &str| match rule.strip_prefix('.') {
            Some(suffix) => name == suffix || name.ends_with(&format!(".{suffix}")),
            None => name == rule,
        };
        names(&host) || with_port.as_deref().is_some_and(names)
    })
}

/// Every `%XX` decoded once; bytes that do not make UTF-8 replaced.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| {
            bytes
                .get(at)
                .and_then(|&b| char::from(b).to_digit(16))
                .map(|d| d as u8)
        };
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(hi * 16 + lo);
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
