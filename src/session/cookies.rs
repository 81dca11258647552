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
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|line| line.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            Some((name.trim(), value.trim().trim_matches('"')))
        })
}

/// The first value of cookie `name` in the request.
pub fn request_cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    request_cookies(headers)
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}
