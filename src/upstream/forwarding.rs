//! What an app learns about the client and the address it was reached at: `X-Forwarded-For`,
//! `-Proto`, `-Host` and `X-Real-IP`, written by Sekisho whatever the client sent.

use std::net::IpAddr;

use http::header::FORWARDED;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::host::RequestHost;
use crate::net::Networks;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Headers Sekisho writes, under the underscore spellings that Rack, CGI and PHP read as the
/// same header.
const WRITTEN: [&str; 5] = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-real-ip",
    "forwarded",
];

#[derive(Clone, Debug)]
pub struct Forwarding {
    trusted_proxies: Networks,
    /// The scheme browsers use when no trusted proxy says otherwise: `public_url`'s, since
    /// Sekisho itself speaks plain HTTP and anything terminating TLS in front of it is how
    /// `public_url` came to be https.
    default_proto: HeaderValue,
}

impl Forwarding {
    pub fn new(trusted_proxies: Networks, default_proto: &str) -> Self {
        let default_proto = if default_proto.eq_ignore_ascii_case("https") {
            HeaderValue::from_static("https")
        } else {
            HeaderValue::from_static("http")
        };
        Self {
            trusted_proxies,
            default_proto,
        }
    }

    /// The scheme the client used: a trusted proxy's `X-Forwarded-Proto`, or the default.
    pub fn proto(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> HeaderValue {
        let trusted = peer.is_some_and(|p| self.trusted_proxies.contains(p));
        let told = headers
            .get(X_FORWARDED_PROTO)
            .and_then(|v| v.to_str().ok())
            .map(str::trim);
        match told {
            Some(p) if trusted && p.eq_ignore_ascii_case("https") => {
                HeaderValue::from_static("https")
            }
            Some(p) if trusted && p.eq_ignore_ascii_case("http") => {
                HeaderValue::from_static("http")
            }
            _ => self.default_proto.clone(),
        }
    }

    /// Rewrites the forwarding headers of a request going to an app. `X-Forwarded-For` gets
    /// the peer appended when the peer is a trusted proxy; from anyone else the chain starts
    /// at the peer, since the entries it wrote itself are its word only. RFC 7239
    /// `Forwarded`, which Sekisho does not maintain, is dropped rather than passed on
    /// unchecked.
    pub fn apply(
        &self,
        headers: &mut HeaderMap,
        peer: Option<IpAddr>,
        client: Option<IpAddr>,
        host: Option<&RequestHost>,
    ) {
        let proto = self.proto(headers, peer);
        let trusted = peer.is_some_and(|p| self.trusted_proxies.contains(p));
        let chain: Vec<String> = if trusted {
            headers
                .get_all(X_FORWARDED_FOR)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect()
        } else {
            Vec::new()
        };
        let spelt_otherwise: Vec<HeaderName> = headers
            .keys()
            .filter(|n| n.as_str().contains('_'))
            .filter(|n| WRITTEN.contains(&n.as_str().replace('_', "-").as_str()))
            .cloned()
            .collect();
        for name in spelt_otherwise.into_iter().chain([
            X_FORWARDED_FOR,
            X_REAL_IP,
            X_FORWARDED_HOST,
            FORWARDED,
        ]) {
            headers.remove(name);
        }
        if let Some(peer) = peer {
            let mut chain = chain;
            chain.push(peer.to_canonical().to_string());
            if let Ok(value) = HeaderValue::try_from(chain.join(", ")) {
                headers.insert(X_FORWARDED_FOR, value);
            }
        }
        if let Some(value) = client.and_then(|c| HeaderValue::try_from(c.to_string()).ok()) {
            headers.insert(X_REAL_IP, value);
        }
        headers.insert(X_FORWARDED_PROTO, proto);
        if let Some(value) = host.and_then(|h| HeaderValue::try_from(h.authority.as_str()).ok()) {
            headers.insert(X_FORWARDED_HOST, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarding() -> Forwarding {
        Forwarding::new(Networks::parse(&["10.0.0.0/8"]).unwrap(), "https")
    }

    fn request(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    HeaderName::try_from(*n).unwrap(),
                    HeaderValue::try_from(*v).unwrap(),
                )
            })
            .collect()
    }

    fn host(text: &str) -> RequestHost {
        let req = http::Request::builder()
            .header(http::header::HOST, text)
            .body(())
            .unwrap();
        RequestHost::of(&req).unwrap().unwrap()
    }

    #[test]
    fn a_trusted_proxy_gets_its_chain_extended() {
        let mut h = request(&[
            ("x-forwarded-for", "198.51.100.7"),
            ("x-forwarded-for", "192.0.2.1"),
            ("x-forwarded-proto", "http"),
        ]);
        forwarding().apply(
            &mut h,
            Some("10.0.0.2".parse().unwrap()),
            Some("192.0.2.1".parse().unwrap()),
            Some(&host("gitlab.example.com")),
        );
        assert_eq!(h["x-forwarded-for"], "198.51.100.7, 192.0.2.1, 10.0.0.2");
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(
            h["x-forwarded-proto"], "http",
            "a trusted proxy knows the scheme"
        );
        assert_eq!(h["x-forwarded-host"], "gitlab.example.com");
        assert_eq!(h["x-real-ip"], "192.0.2.1");
    }

    #[test]
    fn anyone_else_starts_the_chain() {
        let mut h = request(&[
            ("x-forwarded-for", "127.0.0.1"),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "admin.internal"),
            ("x-real-ip", "127.0.0.1"),
            ("x_real_ip", "127.0.0.1"),
            ("x_forwarded_for", "127.0.0.1"),
            ("forwarded", "for=127.0.0.1"),
        ]);
        forwarding().apply(
            &mut h,
            Some("::ffff:203.0.113.9".parse().unwrap()),
            Some("203.0.113.9".parse().unwrap()),
            Some(&host("chat.example.com:8443")),
        );
        assert_eq!(h["x-forwarded-for"], "203.0.113.9");
        assert_eq!(h["x-forwarded-proto"], "https", "public_url's scheme");
        assert_eq!(h["x-forwarded-host"], "chat.example.com:8443");
        assert_eq!(h["x-real-ip"], "203.0.113.9");
        assert!(h.get("forwarded").is_none());
        assert!(h.get("x_real_ip").is_none() && h.get("x_forwarded_for").is_none());
    }

    #[test]
    fn unknown_schemes_are_not_believed() {
        let h = request(&[("x-forwarded-proto", "javascript")]);
        assert_eq!(
            forwarding().proto(&h, Some("10.0.0.1".parse().unwrap())),
            "https"
        );
        let plain = Forwarding::new(Networks::default(), "http");
        assert_eq!(plain.proto(&HeaderMap::new(), None), "http");
    }
}
