//! The original request, as Traefik's and Caddy's forward auth describe it in
//! `X-Forwarded-Method`, `-Proto`, `-Host` and `-Uri`. Those headers are believed only from a
//! trusted proxy: from anyone else they are the client's word, and a client that can name the
//! path it is "really" asking for can pick the one a rule lets through (the 2026 advisories
//! against forward-auth servers were exactly that).

use std::net::IpAddr;

use http::request::Parts;
use http::uri::{Authority, PathAndQuery};
use http::{HeaderMap, Method};

use super::Door;
use crate::net::Networks;

const METHOD: &str = "x-forwarded-method";
const PROTO: &str = "x-forwarded-proto";
const HOST: &str = "x-forwarded-host";
const URI: &str = "x-forwarded-uri";

/// What the front door says the client asked for.
#[derive(Debug)]
pub struct ForwardedRequest<'a> {
    pub method: Method,
    pub scheme: &'static str,
    pub host: &'a str,
    /// Path and query, as the client sent them.
    pub target: &'a str,
}

impl<'a> ForwardedRequest<'a> {
    /// The original request, or why the door's request cannot be answered (naming the
    /// setting to change): a peer that is not a trusted proxy, a missing, repeated or
    /// unreadable header.
    pub fn read(
        parts: &'a Parts,
        peer: Option<IpAddr>,
        trusted_proxies: &Networks,
        door: Door,
    ) -> Result<Self, String> {
        if !peer.is_some_and(|ip| trusted_proxies.contains(ip)) {
            return Err(untrusted(peer, door));
        }
        let headers = &parts.headers;
        let method = one(headers, METHOD, door)?;
        let method = Method::from_bytes(method.as_bytes()).map_err(|_| {
            format!(
                "{door_name}: {METHOD} `{method}` is not a method",
                door_name = door.name()
            )
        })?;
        let scheme = match one(headers, PROTO, door)? {
            p if p.eq_ignore_ascii_case("https") => "https",
            p if p.eq_ignore_ascii_case("http") => "http",
            other => {
                return Err(format!(
                    "{}: {PROTO} `{other}` is neither http nor https",
                    door.name()
                ));
            }
        };
        let host = one(headers, HOST, door)?;
        let authority_ok = host
            .parse::<Authority>()
            .is_ok_and(|a| !a.as_str().contains('@') && !a.host().is_empty());
        if !authority_ok {
            return Err(format!("{}: {HOST} `{host}` is not a host", door.name()));
        }
        let target = one(headers, URI, door)?;
        let target_ok = target.starts_with('/')
            && !target.starts_with("//")
            && !target.contains('#')
            && target.parse::<PathAndQuery>().is_ok();
        if !target_ok {
            return Err(format!("{}: {URI} `{target}` is not a path", door.name()));
        }
        Ok(Self {
            method,
            scheme,
            host,
            target,
        })
    }

    /// The path, without the query.
    pub fn path(&self) -> &'a str {
        self.target.split('?').next().unwrap_or(self.target)
    }

    /// The page asked for, for sign-in to come back to.
    pub fn url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host, self.target)
    }
}

fn untrusted(peer: Option<IpAddr>, door: Door) -> String {
    let peer = peer.map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string());
    format!(
        "{} asked from {peer}, which is not in client_ip.trusted_proxies: its X-Forwarded-* \
         headers cannot be believed; add the proxy's address there",
        door.name()
    )
}

/// The one value of `name`, as text.
fn one<'h>(headers: &'h HeaderMap, name: &'static str, door: Door) -> Result<&'h str, String> {
    let mut values = headers.get_all(name).iter();
    let value = values
        .next()
        .ok_or_else(|| format!("{} sent no {name}; it sends one by default, so something between it and Sekisho drops it", door.name()))?;
    if values.next().is_some() {
        return Err(format!("{}: {name} appears more than once", door.name()));
    }
    value
        .to_str()
        .map(str::trim)
        .map_err(|_| format!("{}: {name} is not readable text", door.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut req = http::Request::builder().uri("/oauth2/traefik");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.body(()).unwrap().into_parts().0
    }

    fn peer(ip: &str) -> Option<IpAddr> {
        Some(ip.parse().unwrap())
    }

    fn trusted() -> Networks {
        Networks::parse(&["127.0.0.1/32"]).unwrap()
    }

    const GOOD: [(&str, &str); 4] = [
        ("x-forwarded-method", "GET"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "app.example.com"),
        ("x-forwarded-uri", "/projects/x?tab=1"),
    ];

    #[test]
    fn a_trusted_proxy_describes_the_original_request() {
        let parts = parts(&GOOD);
        let original =
            ForwardedRequest::read(&parts, peer("127.0.0.1"), &trusted(), Door::Traefik).unwrap();
        assert_eq!(original.method, Method::GET);
        assert_eq!(original.path(), "/projects/x");
        assert_eq!(original.url(), "https://app.example.com/projects/x?tab=1");
    }

    #[test]
    fn anyone_else_is_refused_naming_the_setting() {
        let parts = parts(&GOOD);
        let why =
            ForwardedRequest::read(&parts, peer("192.0.2.1"), &trusted(), Door::Caddy).unwrap_err();
        assert!(
            why.contains("192.0.2.1") && why.contains("client_ip.trusted_proxies"),
            "{why}"
        );
    }

    #[test]
    fn missing_repeated_and_odd_headers_are_refused() {
        let cases: [&[(&str, &str)]; 9] = [
            &GOOD[1..],
            &[GOOD[0], GOOD[1], GOOD[2]],
            &[
                GOOD[0],
                GOOD[1],
                GOOD[2],
                GOOD[3],
                ("x-forwarded-uri", "/admin"),
            ],
            &[("x-forwarded-method", "G E T"), GOOD[1], GOOD[2], GOOD[3]],
            &[GOOD[0], ("x-forwarded-proto", "gopher"), GOOD[2], GOOD[3]],
            &[
                GOOD[0],
                GOOD[1],
                ("x-forwarded-host", "user@evil.example"),
                GOOD[3],
            ],
            &[
                GOOD[0],
                GOOD[1],
                GOOD[2],
                ("x-forwarded-uri", "https://evil.example/"),
            ],
            &[
                GOOD[0],
                GOOD[1],
                GOOD[2],
                ("x-forwarded-uri", "//evil.example/"),
            ],
            &[GOOD[0], GOOD[1], GOOD[2], ("x-forwarded-uri", "/a#b")],
        ];
        for headers in cases {
            let parts = parts(headers);
            assert!(
                ForwardedRequest::read(&parts, peer("127.0.0.1"), &trusted(), Door::Traefik)
                    .is_err(),
                "{headers:?}"
            );
        }
    }
}
