//! Headers about one connection rather than the message (RFC 9110 section 7.6.1): each hop
//! has its own, so they are never forwarded.

use http::header::{
    CONNECTION, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, HeaderName, HeaderValue};

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Removes hop-by-hop headers, those named in `Connection` included. Returns the protocol
/// the message asks to switch to (`Upgrade` together with `Connection: upgrade`), which the
/// proxy forwards on its own terms, with [`set_upgrade`].
pub fn strip(headers: &mut HeaderMap) -> Option<HeaderValue> {
    let mut named = Vec::new();
    let mut upgrade_asked = false;
    for value in headers.get_all(CONNECTION) {
        for token in value.to_str().unwrap_or_default().split(',') {
            let token = token.trim();
            if token.eq_ignore_ascii_case("upgrade") {
                upgrade_asked = true;
            } else if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                named.push(name);
            }
        }
    }
    let upgrade = upgrade_asked
        .then(|| headers.get(UPGRADE).cloned())
        .flatten();
    for name in named {
        headers.remove(name);
    }
    for name in [
        CONNECTION,
        KEEP_ALIVE,
        PROXY_CONNECTION,
        PROXY_AUTHENTICATE,
        PROXY_AUTHORIZATION,
        TE,
        TRAILER,
        TRANSFER_ENCODING,
        UPGRADE,
    ] {
        headers.remove(name);
    }
    upgrade
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
        assert_eq!(strip(&mut h), None);
        let mut left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["accept", "authorization", "content-length"]);
    }

    #[test]
    fn upgrades_need_both_headers() {
        let mut h = headers(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert_eq!(strip(&mut h), Some(HeaderValue::from_static("websocket")));
        assert!(h.is_empty());
        let mut h = headers(&[("upgrade", "websocket")]);
        assert_eq!(
            strip(&mut h),
            None,
            "Upgrade alone is not a request to switch"
        );
        let mut h = headers(&[("connection", "upgrade")]);
        assert_eq!(strip(&mut h), None);
        let mut h = HeaderMap::new();
        set_upgrade(&mut h, HeaderValue::from_static("websocket"));
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h["upgrade"], "websocket");
    }
}
