//! Which app a request is for, by the host it asked for.

use std::fmt;
use std::str::FromStr;

use http::Request;
use http::header::HOST;
use http::uri::Authority;

use crate::auth::DomainRule;

/// The hosts an upstream serves: one name on any port, one name on one port, or `*` for
/// every host no other upstream claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostPattern {
    Any,
    Name(String),
    NameAndPort(String, u16),
}

impl HostPattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "*" {
            return Ok(Self::Any);
        }
        if text.contains('*') {
            return Err(format!(
                "`{text}`: only `*` alone is a wildcard (the default upstream)"
            ));
        }
        let host = RequestHost::parse(text)
            .filter(|h| !h.name.is_empty())
            .ok_or_else(|| format!("`{text}` is not a host name like gitlab.example.com"))?;
        Ok(match host.port {
            Some(port) => Self::NameAndPort(host.name, port),
            None => Self::Name(host.name),
        })
    }

    pub fn matches(&self, host: Option<&RequestHost>) -> bool {
        match (self, host) {
            (Self::Any, _) => true,
            (Self::Name(name), Some(host)) => host.name == *name,
            (Self::NameAndPort(name, port), Some(host)) => {
                host.name == *name && host.port == Some(*port)
            }
            (_, None) => false,
        }
    }

    /// Higher wins when several patterns match: a name and port over a name over `*`.
    pub fn specificity(&self) -> u8 {
        match self {
            Self::NameAndPort(..) => 2,
            Self::Name(_) => 1,
            Self::Any => 0,
        }
    }

    /// A browser may be sent back to this host after sign-in; `*` names no host.
    pub fn redirect_rule(&self) -> Option<DomainRule> {
        DomainRule::parse(&match self {
            Self::Any => return None,
            Self::Name(name) => name.clone(),
            Self::NameAndPort(name, port) => format!("{name}:{port}"),
        })
        .ok()
    }

    /// The bare host name, if the pattern has one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Any => None,
            Self::Name(name) | Self::NameAndPort(name, _) => Some(name),
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Name(name) => f.write_str(name),
            Self::NameAndPort(name, port) => write!(f, "{name}:{port}"),
        }
    }
}

/// The host a request asked for: its `Host` header, or for HTTP/2 the URI's authority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHost {
    /// Lower case, without the port and without a trailing dot.
    pub name: String,
    pub port: Option<u16>,
    /// As the client sent it, for `X-Forwarded-Host` and for sending the browser back.
    pub authority: Authority,
}

/// The request named a host that cannot be one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a valid Host")]
pub struct BadHost(pub String);

impl RequestHost {
    /// `Ok(None)` when the request names no host at all (HTTP/1.0): only `*` serves it.
    pub fn of<B>(req: &Request<B>) -> Result<Option<Self>, BadHost> {
        let text = match req.headers().get(HOST) {
            Some(value) => value
                .to_str()
                .map_err(|_| BadHost(String::from_utf8_lossy(value.as_bytes()).into_owned()))?,
            None => match req.uri().authority() {
                Some(authority) => authority.as_str(),
                None => return Ok(None),
            },
        };
        Self::parse(text)
            .map(Some)
            .ok_or_else(|| BadHost(text.into()))
    }

    /// The host as the client sent it, for `X-Forwarded-Host` (and `Host`, when preserved).
    pub fn header_value(&self) -> Option<http::HeaderValue> {
        http::HeaderValue::from_str(self.authority.as_str()).ok()
    }

    /// Runs for every proxied request, so the host and port are found with one search from
    /// the right rather than through `Authority`'s own accessors, which search again each.
    fn parse(text: &str) -> Option<Self> {
        if text.is_empty() || text.contains('@') {
            return None;
        }
        let authority = Authority::from_str(text).ok()?;
        let whole = authority.as_str();
        let bytes = whole.as_bytes();
        // `[v6]` or `[v6]:port` end their host at the bracket; anything else at the last colon
        // (`Authority` refuses more than one outside brackets).
        let host_end = match bytes.iter().rposition(|&b| b == b']') {
            Some(close) => close + 1,
            None => bytes
                .iter()
                .rposition(|&b| b == b':')
                .unwrap_or(bytes.len()),
        };
        let (host, after_host) = whole.split_at(host_end);
        let port = match after_host.strip_prefix(':') {
            None if after_host.is_empty() => None,
            Some(digits) => Some(digits.parse::<u16>().ok()?),
            None => return None,
        };
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        let valid = if let Some(inner) = name.strip_prefix('[') {
            inner
                .strip_suffix(']')
                .is_some_and(|v6| v6.parse::<std::net::Ipv6Addr>().is_ok())
        } else {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        };
        valid.then_some(Self {
            name,
            port,
            authority,
        })
    }
}

/// Why a request names its host ambiguously, if it does: more than one `Host` header, or an
/// absolute-form target (or HTTP/2 `:authority`) whose authority is not its `Host` (RFC 9112
/// 3.2, RFC 9113 8.3.1). Sekisho, nginx and the app could each pick a different one, so such a
/// request is refused at every door rather than routed by whichever comes first.
pub fn ambiguous_host<B>(req: &Request<B>) -> Option<&'static str> {
    let mut hosts = req.headers().get_all(HOST).iter();
    let first = hosts.next();
    if hosts.next().is_some() {
        return Some("more than one Host header");
    }
    match (first, req.uri().authority()) {
        (Some(host), Some(authority))
            if !host
                .as_bytes()
                .eq_ignore_ascii_case(authority.as_str().as_bytes()) =>
        {
            Some("the request target names another host than the Host header")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(text: &str) -> Option<RequestHost> {
        RequestHost::parse(text)
    }

    #[test]
    fn patterns() {
        assert_eq!(HostPattern::parse("*"), Ok(HostPattern::Any));
        assert_eq!(
            HostPattern::parse("GitLab.Example.com"),
            Ok(HostPattern::Name("gitlab.example.com".into()))
        );
        assert_eq!(
            HostPattern::parse("chat.example.com:8443"),
            Ok(HostPattern::NameAndPort("chat.example.com".into(), 8443))
        );
        for bad in [
            "",
            "*.example.com",
            "http://gitlab.example.com",
            "a b",
            "user@host",
            "host/path",
        ] {
            assert!(
                HostPattern::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn matching() {
        let name = HostPattern::parse("gitlab.example.com").unwrap();
        let with_port = HostPattern::parse("gitlab.example.com:8080").unwrap();
        assert!(name.matches(host("gitlab.example.com").as_ref()));
        assert!(name.matches(host("GITLAB.example.com.:443").as_ref()));
        assert!(!name.matches(host("gitlab.example.com.evil.com").as_ref()));
        assert!(!name.matches(None));
        assert!(with_port.matches(host("gitlab.example.com:8080").as_ref()));
        assert!(!with_port.matches(host("gitlab.example.com").as_ref()));
        assert!(HostPattern::Any.matches(None));
        assert!(with_port.specificity() > name.specificity());
        assert!(name.specificity() > HostPattern::Any.specificity());
    }

    #[test]
    fn request_hosts() {
        assert_eq!(host("[::1]:8080").map(|h| h.port), Some(Some(8080)));
        for bad in [
            "",
            "a@b",
            "exa mple.com",
            "[zz]:1",
            "host:port",
            "host:",
            "host:99999",
            "a/b",
            "a\\b",
        ] {
            assert!(host(bad).is_none(), "{bad:?} should be refused");
        }
        let req = Request::builder()
            .uri("https://Chat.Example.com/api")
            .body(())
            .unwrap();
        let from_uri = RequestHost::of(&req).unwrap().unwrap();
        assert_eq!(from_uri.name, "chat.example.com");
        let req = Request::builder().header(HOST, "x y").body(()).unwrap();
        assert!(RequestHost::of(&req).is_err());
        let req = Request::builder().body(()).unwrap();
        assert_eq!(RequestHost::of(&req), Ok(None));
    }

    #[test]
    fn ambiguous_hosts() {
        // (target, Host lines, ambiguous)
        let cases: &[(&str, &[&str], bool)] = &[
            ("/x", &["a.example.com"], false),
            ("/x", &[], false),
            ("http://a.example.com/x", &[], false),
            ("http://a.example.com/x", &["a.example.com"], false),
            (
                "http://A.example.com:8080/x",
                &["a.EXAMPLE.com:8080"],
                false,
            ),
            ("/x", &["a.example.com", "b.example.com"], true),
            ("/x", &["a.example.com", "a.example.com"], true),
            ("http://b.example.com/x", &["a.example.com"], true),
            ("http://a.example.com:8080/x", &["a.example.com"], true),
            ("http://a.example.com/x", &["a.example.com:80"], true),
            ("http://user@a.example.com/x", &["a.example.com"], true),
        ];
        for (target, hosts, want) in cases {
            let mut req = Request::builder().uri(*target);
            for host in *hosts {
                req = req.header(HOST, *host);
            }
            let req = req.body(()).unwrap();
            assert_eq!(ambiguous_host(&req).is_some(), *want, "{target} {hosts:?}");
        }
    }
}
