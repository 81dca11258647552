//! What an app learns about the client and the address it was reached at: `X-Forwarded-For`,
//! `-Proto`, `-Host` and `X-Real-IP`, written by Sekisho whatever the client sent.

use std::net::IpAddr;

use http::header::FORWARDED;
use http::{HeaderMap, HeaderName, HeaderValue};

#[cfg(doc)]
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
        self.proto_from(headers, self.is_trusted(peer))
    }

    fn is_trusted(&self, peer: Option<IpAddr>) -> bool {
        peer.is_some_and(|p| self.trusted_proxies.contains(p))
    }

    fn proto_from(&self, headers: &HeaderMap, trusted: bool) -> HeaderValue {
        let told = trusted
            .then(|| headers.get(X_FORWARDED_PROTO))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .map(str::trim);
        match told {
            Some(p) if p.eq_ignore_ascii_case("https") => HeaderValue::from_static("https"),
            Some(p) if p.eq_ignore_ascii_case("http") => HeaderValue::from_static("http"),
            _ => self.default_proto.clone(),
        }
    }

    /// Rewrites the forwarding headers of a request going to an app, `host` being the host the
    /// client asked for (see [`RequestHost::header_value`]). `X-Forwarded-For` gets
    /// the peer appended when the peer is a trusted proxy; from anyone else the chain starts
    /// at the peer, since the entries it wrote itself are its word only. RFC 7239
    /// `Forwarded`, which Sekisho does not maintain, is dropped rather than passed on
    /// unchecked.
    ///
    /// Done on every proxied request, so it touches each header once: a header Sekisho
    /// writes is replaced by `insert`, not removed first, and addresses are written without
    /// the formatting machinery.
    pub fn apply(
        &self,
        headers: &mut HeaderMap,
        peer: Option<IpAddr>,
        client: Option<IpAddr>,
        host: Option<HeaderValue>,
    ) {
        let trusted = self.is_trusted(peer);
        let proto = self.proto_from(headers, trusted);
        // Room for a short chain and the peer, so that it is not grown piece by piece.
        let mut chain = String::with_capacity(64);
        if trusted {
            for value in headers.get_all(X_FORWARDED_FOR) {
                let Ok(value) = value.to_str() else { continue };
                let value = value.trim();
                if !value.is_empty() {
                    chain.push_str(value);
                    chain.push_str(", ");
                }
            }
        }
        remove_other_spellings(headers);
        headers.remove(FORWARDED);
        let forwarded_for = peer.and_then(|peer| {
            push_ip(&mut chain, peer.to_canonical());
            HeaderValue::try_from(chain).ok()
        });
        set_or_remove(headers, X_FORWARDED_FOR, forwarded_for);
        let real_ip = client.and_then(|c| {
            let mut text = String::with_capacity(16);
            push_ip(&mut text, c);
            HeaderValue::try_from(text).ok()
        });
        set_or_remove(headers, X_REAL_IP, real_ip);
        headers.insert(X_FORWARDED_PROTO, proto);
        set_or_remove(headers, X_FORWARDED_HOST, host);
    }
}

fn set_or_remove(headers: &mut HeaderMap, name: HeaderName, value: Option<HeaderValue>) {
    match value {
        Some(value) => {
            headers.insert(name, value);
        }
        None => {
            headers.remove(name);
        }
    }
}

/// Removes the underscore spellings of the headers Sekisho writes. Header names with an
/// underscore are rare, so they are looked for before anything is compared or removed.
fn remove_other_spellings(headers: &mut HeaderMap) {
    if !headers.keys().any(|n| n.as_str().contains('_')) {
        return;
    }
    let spelt_otherwise: Vec<HeaderName> = headers
        .keys()
        .filter(|n| n.as_str().contains('_'))
        .filter(|n| WRITTEN.contains(&n.as_str().replace('_', "-").as_str()))
        .cloned()
        .collect();
    for name in spelt_otherwise {
        headers.remove(name);
    }
}

/// Appends `ip` as `Display` writes it; IPv4 (nearly every client) without `fmt`.
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mut text = [0u8; 15];
            let mut len = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text[len] = b'.';
                    len += 1;
                }
                if octet >= 100 {
                    text[len] = b'0' + octet / 100;
                    len += 1;
                }
                if octet >= 10 {
                    text[len] = b'0' + octet / 10 % 10;
                    len += 1;
                }
                text[len] = b'0' + octet % 10;
                len += 1;
            }
            // Digits and dots only.
            out.push_str(std::str::from_utf8(&text[..len]).unwrap_or_default());
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write;
            let _ = write!(out, "{v6}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::host::RequestHost;

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

    fn host(text: &str) -> HeaderValue {
        let req = http::Request::builder()
            .header(http::header::HOST, text)
            .body(())
            .unwrap();
        RequestHost::of(&req)
            .unwrap()
            .unwrap()
            .header_value()
            .unwrap()
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
            Some(host("gitlab.example.com")),
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
            Some(host("chat.example.com:8443")),
        );
        assert_eq!(h["x-forwarded-for"], "203.0.113.9");
        assert_eq!(h["x-forwarded-proto"], "https", "public_url's scheme");
        assert_eq!(h["x-forwarded-host"], "chat.example.com:8443");
        assert_eq!(h["x-real-ip"], "203.0.113.9");
        assert!(h.get("forwarded").is_none());
        assert!(h.get("x_real_ip").is_none() && h.get("x_forwarded_for").is_none());
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for text in [
            "0.0.0.0",
            "1.2.3.4",
            "10.20.30.40",
            "100.200.255.9",
            "192.0.2.109",
            "::1",
            "2001:db8::7",
        ] {
            let ip: IpAddr = text.parse().unwrap();
            let mut out = String::from("x ");
            push_ip(&mut out, ip);
            assert_eq!(out, format!("x {ip}"));
        }
    }

    #[test]
    fn without_a_peer_or_host_no_claims_are_passed_on() {
        let mut h = request(&[
            ("x-forwarded-for", "10.0.0.1"),
            ("x-real-ip", "10.0.0.1"),
            ("x-forwarded-host", "admin.internal"),
        ]);
        forwarding().apply(&mut h, None, None, None);
        assert!(h.get("x-forwarded-for").is_none());
        assert!(h.get("x-real-ip").is_none());
        assert!(h.get("x-forwarded-host").is_none());
        assert_eq!(h["x-forwarded-proto"], "https");
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
