//! Reading request cookies and writing `Set-Cookie` lines with the configured attributes.

use std::time::Duration;

use cookie::{Cookie, SameSite};
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

use crate::config::CookieSettings;

/// Writes Sekisho's cookies: always `HttpOnly`, `SameSite=Lax` (but see `set_cross_site`), `Secure`, domain and path
/// as configured.
#[derive(Clone, Debug)]
pub struct CookieWriter {
    settings: CookieSettings,
}

impl CookieWriter {
    pub fn new(settings: CookieSettings) -> Self {
        Self { settings }
    }

    /// The configured session cookie name; other cookies are named after it.
    pub fn base_name(&self) -> &str {
        &self.settings.name
    }

    pub fn set(&self, name: String, value: String, max_age: Duration) -> HeaderValue {
        self.build(name, value, max_age, SameSite::Lax)
    }

    /// A cookie the browser must send along a cross-site POST (a SAML response arriving from
    /// the IdP's site): `SameSite=None`, which browsers accept only with `Secure`; without
    /// `secure` (plain-http development) it stays `Lax`.
    pub fn set_cross_site(&self, name: String, value: String, max_age: Duration) -> HeaderValue {
        let same_site = if self.settings.secure {
            SameSite::None
        } else {
            SameSite::Lax
        };
        self.build(name, value, max_age, same_site)
    }

    fn build(
        &self,
        name: String,
        value: String,
        max_age: Duration,
        same_site: SameSite,
    ) -> HeaderValue {
        let seconds = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
        let mut cookie = Cookie::build((name, value))
            .http_only(true)
            .same_site(same_site)
            .secure(self.settings.secure)
            .path(self.settings.path.clone())
            .max_age(cookie::time::Duration::seconds(seconds));
        if let Some(domain) = &self.settings.domain {
            cookie = cookie.domain(domain.clone());
        }
        HeaderValue::try_from(cookie.build().to_string())
            .expect("cookie attributes are header-safe")
    }

    pub fn removal(&self, name: &str) -> HeaderValue {
        self.set(name.to_owned(), String::new(), Duration::ZERO)
    }
}

/// `name=value` pairs of every `Cookie` header, without allocating.
pub fn request_cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    request_cookie_bytes(headers).filter_map(|(name, value)| {
        Some((
            std::str::from_utf8(name).ok()?,
            std::str::from_utf8(value).ok()?,
        ))
    })
}

/// The `;`-separated pairs of one `Cookie` line, found with a vectorised search: the values
/// are long and the search runs on every request.
fn pairs(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(line);
    std::iter::from_fn(move || {
        let line = rest?;
        match memchr::memchr(b';', line) {
            Some(i) => {
                rest = Some(&line[i + 1..]);
                Some(&line[..i])
            }
            None => {
                rest = None;
                Some(line)
            }
        }
    })
}

/// [`request_cookies`] as bytes: nothing is validated, so a caller after one cookie does not
/// pay for checking every other (a session cookie is hundreds of bytes, on every request).
pub fn request_cookie_bytes(headers: &HeaderMap) -> impl Iterator<Item = (&[u8], &[u8])> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|line| pairs(line.as_bytes()))
        .filter_map(|pair| {
            let eq = memchr::memchr(b'=', pair)?;
            let (name, value) = (&pair[..eq], &pair[eq + 1..]);
            let value = value.trim_ascii();
            let value = value
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(value);
            Some((name.trim_ascii(), value))
        })
}

/// The first value of cookie `name` in the request.
pub fn request_cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    request_cookies(headers)
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(COOKIE, HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    #[test]
    fn pairs_of_every_cookie_line_in_order() {
        let h = headers(&[" a=1; b = \"two\" ;c=x=y", "d=; novalue; e=5"]);
        let pairs: Vec<_> = request_cookies(&h).collect();
        assert_eq!(
            pairs,
            [
                ("a", "1"),
                ("b", "two"),
                ("c", "x=y"),
                ("d", ""),
                ("e", "5")
            ]
        );
        assert_eq!(request_cookie(&h, "c"), Some("x=y"));
        assert_eq!(request_cookie(&h, "novalue"), None);
        assert_eq!(request_cookies(&headers(&[""])).count(), 0);
    }

    #[test]
    fn a_pair_that_is_not_utf8_is_skipped_not_the_line() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_bytes(b"bad=\xff\xfe; good=1").unwrap(),
        );
        assert_eq!(request_cookies(&h).collect::<Vec<_>>(), [("good", "1")]);
        assert_eq!(request_cookie_bytes(&h).count(), 2);
    }
}
