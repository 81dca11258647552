//! Headers about one connection rather than the message (RFC 9110 section 7.6.1): each hop
//! has its own, so they are never forwarded.

use http::header::{
    CONNECTION, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, HeaderName, HeaderValue};

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Every hop-by-hop header, besides those a message names in `Connection`.
const HOP_BY_HOP: [HeaderName; 9] = [
    CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
];

/// What [`strip`] found, besides the headers it removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Stripped {
    /// The protocol the message asks to switch to (`Upgrade` together with
    /// `Connection: upgrade`), which the proxy forwards on its own terms, with [`set_upgrade`].
    pub upgrade: Option<HeaderValue>,
    /// The message came with `Transfer-Encoding`: its body is framed anew on the next hop.
    pub chunked: bool,
}

/// Removes hop-by-hop headers, those named in `Connection` included.
///
/// Every removal from a `HeaderMap` hashes the name, and most messages carry none of these
/// (or only `Connection`), so the names present are found first by comparing, and only those
/// are removed.
pub fn strip(headers: &mut HeaderMap) -> Stripped {
    let present: Vec<HeaderName> = headers
        .keys()
        .filter(|name| HOP_BY_HOP.contains(name))
        .cloned()
        .collect();
    if present.is_empty() {
        return Stripped::default();
    }
    let mut named = Vec::new();
    let mut upgrade_asked = false;
    if present.contains(&CONNECTION) {
        for value in headers.get_all(CONNECTION) {
            for token in value.to_str().unwrap_or_default().split(',') {
                let token = token.trim();
                if token.eq_ignore_ascii_case("upgrade") {
                    upgrade_asked = true;
                } else if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                    if !present.contains(&name) && headers.keys().any(|k| *k == name) {
                        named.push(name);
                    }
                }
            }
        }
    }
    let upgrade = (upgrade_asked && present.contains(&UPGRADE))
        .then(|| headers.get(UPGRADE).cloned())
        .flatten();
    let chunked = present.contains(&TRANSFER_ENCODING);
    for name in named.into_iter().chain(present) {
        headers.remove(name);
    }
    Stripped { upgrade, chunked }
}

/// Asks the next hop to switch to `protocol`.
pub fn set_upgrade(headers: &mut HeaderMap, protocol: HeaderValue) {
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, protocol);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
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

    #[test]
    fn connection_headers_go_and_the_rest_stays() {
        let mut h = headers(&[
            ("connection", "keep-alive, X-Hop"),
            ("keep-alive", "timeout=5"),
            ("x-hop", "1"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("proxy-authorization", "Basic eA=="),
            ("proxy-connection", "keep-alive"),
            ("trailer", "x-checksum"),
            ("accept", "*/*"),
            ("authorization", "Bearer t"),
            ("content-length", "3"),
        ]);
        assert_eq!(
            strip(&mut h),
            Stripped {
                upgrade: None,
                chunked: true
            }
        );
        let mut left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["accept", "authorization", "content-length"]);
    }

    #[test]
    fn upgrades_need_both_headers() {
        let mut h = headers(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert_eq!(
            strip(&mut h).upgrade,
            Some(HeaderValue::from_static("websocket"))
        );
        assert!(h.is_empty());
        let mut h = headers(&[("upgrade", "websocket")]);
        assert_eq!(
            strip(&mut h),
            Stripped::default(),
            "Upgrade alone is not a request to switch"
        );
        let mut h = headers(&[("connection", "upgrade")]);
        assert_eq!(strip(&mut h), Stripped::default());
        let mut h = headers(&[("accept", "*/*"), ("x-app", "1")]);
        assert_eq!(strip(&mut h), Stripped::default());
        assert_eq!(h.len(), 2, "nothing to strip, nothing stripped");
        let mut h = HeaderMap::new();
        set_upgrade(&mut h, HeaderValue::from_static("websocket"));
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h["upgrade"], "websocket");
    }
}
