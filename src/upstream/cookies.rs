//! Sekisho's own cookies stay between the browser and Sekisho: the session (and its numbered
//! chunks) and the sign-in attempts are removed before a request reaches an app, and an app
//! cannot set or clear them either.

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};

/// Cookies named `session.cookie_name`, or that name followed by `_` and anything: the
/// session chunks (`_sekisho_0`) and sign-in attempts (`_sekisho_login_...`) are named so.
#[derive(Clone, Debug)]
pub struct OwnCookies {
    name: String,
    prefix: String,
}

impl OwnCookies {
    pub fn new(cookie_name: &str) -> Self {
        Self {
            name: cookie_name.to_owned(),
            prefix: format!("{cookie_name}_"),
        }
    }

    fn is_ours(&self, name: &[u8]) -> bool {
        let name = name.trim_ascii();
        name == self.name.as_bytes() || name.starts_with(self.prefix.as_bytes())
    }

    /// Rewrites the request's `Cookie` headers into one without Sekisho's cookies (one header,
    /// as HTTP/1.1 wants it even when an HTTP/2 client sent several), or none if nothing is
    /// left.
    pub fn strip_request(&self, headers: &mut HeaderMap) {
        if !headers.contains_key(COOKIE) {
            return;
        }
        let mut kept: Vec<&[u8]> = Vec::new();
        for line in headers.get_all(COOKIE) {
            for pair in line.as_bytes().split(|&b| b == b';') {
                let pair = pair.trim_ascii();
                let name = pair.split(|&b| b == b'=').next().unwrap_or_default();
                if !pair.is_empty() && !self.is_ours(name) {
                    kept.push(pair);
                }
            }
        }
        let joined = kept.join(&b"; "[..]);
        let value = (!joined.is_empty())
            .then(|| HeaderValue::from_bytes(&joined).ok())
            .flatten();
        headers.remove(COOKIE);
        if let Some(value) = value {
            headers.insert(COOKIE, value);
        }
    }

    /// Drops an app's `Set-Cookie` lines that name one of Sekisho's cookies.
    pub fn strip_response(&self, headers: &mut HeaderMap) {
        if !headers
            .get_all(SET_COOKIE)
            .iter()
            .any(|line| self.names_ours(line))
        {
            return;
        }
        let kept: Vec<HeaderValue> = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter(|line| !self.names_ours(line))
            .cloned()
            .collect();
        headers.remove(SET_COOKIE);
        for line in kept {
            headers.append(SET_COOKIE, line);
        }
    }

    fn names_ours(&self, line: &HeaderValue) -> bool {
        let name = line
            .as_bytes()
            .split(|&b| b == b'=' || b == b';')
            .next()
            .unwrap_or_default();
        self.is_ours(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> OwnCookies {
        OwnCookies::new("_sekisho")
    }

    #[test]
    fn only_ours_are_removed_from_requests() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("_gitlab_session=abc; _sekisho=sealed; theme=dark"),
        );
        h.append(
            COOKIE,
            HeaderValue::from_static(
                "_sekisho_0=a;_sekisho_1=b; _sekisho_login_xyz=c ;sekisho=app",
            ),
        );
        own().strip_request(&mut h);
        assert_eq!(h.get_all(COOKIE).iter().count(), 1);
        assert_eq!(h[COOKIE], "_gitlab_session=abc; theme=dark; sekisho=app");
    }

    #[test]
    fn no_cookie_header_is_left_empty() {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("_sekisho=sealed"));
        own().strip_request(&mut h);
        assert!(h.get(COOKIE).is_none());
        let mut h = HeaderMap::new();
        own().strip_request(&mut h);
        assert!(h.is_empty());
    }

    #[test]
    fn apps_cannot_set_ours() {
        let mut h = HeaderMap::new();
        for line in [
            "_sekisho=; Max-Age=0",
            "_gitlab_session=abc; Path=/; HttpOnly",
            "_sekisho_3=x",
            "MMAUTHTOKEN=t; Path=/",
        ] {
            h.append(SET_COOKIE, HeaderValue::from_static(line));
        }
        own().strip_response(&mut h);
        let left: Vec<_> = h.get_all(SET_COOKIE).iter().collect();
        assert_eq!(
            left,
            [
                "_gitlab_session=abc; Path=/; HttpOnly",
                "MMAUTHTOKEN=t; Path=/"
            ]
        );
    }
}
