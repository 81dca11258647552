//! A scripted browser for the login end-to-end tests, on loopback only:
//!
//! - a cookie jar that keeps cookies the way browsers do: host-only or `Domain` cookies,
//!   `Path` scoping (the provider's cookies live under `/realms/demo/...`), `Max-Age` over
//!   `Expires`, removal by an expiry in the past, `Secure` cookies refused over plain http
//!   (every refusal is recorded, with the reason, for failure messages), ports ignored as
//!   browsers ignore them;
//! - redirects (301, 302, 303 → GET; 307, 308 keep the method) followed by hand, each hop
//!   recorded, stopping at any target that is not loopback (an open redirect is seen, never
//!   followed) or that the caller wants to look at first;
//! - the provider's login form (`kc-form-login`) and logout confirmation (`op.logoutForm`)
//!   found in a page and submitted.
//!
//! Every request goes through [`super::http::Client`]: one request per connection.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use url::Url;

use super::http::{Client, Response};

/// Redirects followed before a navigation is taken for a loop.
const MAX_REDIRECTS: usize = 20;
/// What a browser sends when it navigates: the server may answer with an HTML error page.
const ACCEPT_HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const USER_AGENT: &str = "Mozilla/5.0 (sekisho end-to-end test browser)";
/// How much of a body failure messages show.
const BODY_EXCERPT: usize = 1500;

/// The default `session.cookie_name`; chunks are `_sekisho_0`, `_sekisho_1`, ...
pub const SESSION_COOKIE: &str = "_sekisho";

/// Whether `name` is Sekisho's session cookie (`_sekisho`) or one of its chunks
/// (`_sekisho_<digits>`), as opposed to, say, its short-lived login-state cookie.
pub fn is_session_cookie(name: &str) -> bool {
    name == SESSION_COOKIE
        || name
            .strip_prefix(SESSION_COOKIE)
            .and_then(|rest| rest.strip_prefix('_'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A cookie as the jar keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    /// Lower-case host (host-only) or `Domain` without its leading dot.
    pub domain: String,
    pub host_only: bool,
    pub path: String,
    /// `None`: a session cookie, kept until the browser closes.
    pub expires: Option<SystemTime>,
    pub secure: bool,
    pub http_only: bool,
    pub same_site: Option<String>,
    /// Which response set it (for messages).
    pub set_by: String,
    created: u64,
}

impl Cookie {
    fn expired(&self, now: SystemTime) -> bool {
        self.expires.is_some_and(|at| at <= now)
    }

    fn matches(&self, url: &Url, secure_context: bool, now: SystemTime) -> bool {
        let host = host_of(url);
        let domain_ok = if self.host_only {
            host == self.domain
        } else {
            domain_match(&host, &self.domain)
        };
        domain_ok
            && path_match(url.path(), &self.path)
            && (!self.secure || secure_context)
            && !self.expired(now)
    }
}

impl fmt::Display for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={} (domain {}{}, path {}, {}{}{}{})",
            self.name,
            excerpt(&self.value, 24),
            if self.host_only { "" } else { "." },
            self.domain,
            self.path,
            match self.expires {
                None => "session".to_owned(),
                Some(at) => match at.duration_since(SystemTime::now()) {
                    Ok(left) => format!("expires in {}s", left.as_secs()),
                    Err(_) => "expired".to_owned(),
                },
            },
            if self.secure { ", Secure" } else { "" },
            if self.http_only { ", HttpOnly" } else { "" },
            self.same_site
                .as_deref()
                .map(|s| format!(", SameSite={s}"))
                .unwrap_or_default(),
        )
    }
}

/// A `Set-Cookie` the jar refused, as a browser would have.
#[derive(Clone, Debug)]
pub struct Refused {
    pub url: String,
    pub header: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default)]
struct Jar {
    cookies: Vec<Cookie>,
    refused: Vec<Refused>,
    sequence: u64,
    /// Plain-http origins taken for secure contexts, as Chromium takes loopback ones (see
    /// [`Browser::with_secure_origin`]).
    secure_origins: Vec<String>,
}

impl Jar {
    /// Whether `url` is a secure context: https, or an origin the test said to take for one.
    fn secure_context(&self, url: &Url) -> bool {
        url.scheme() == "https"
            || self
                .secure_origins
                .contains(&url.origin().ascii_serialization())
    }

    /// Stores one `Set-Cookie` header received from `url` (RFC 6265, section 5.3).
    fn store(&mut self, url: &Url, header: &str) {
        let refuse = |jar: &mut Self, reason: &str| {
            jar.refused.push(Refused {
                url: url.to_string(),
                header: header.to_owned(),
                reason: reason.to_owned(),
            });
        };
        let mut parts = header.split(';');
        let pair = parts.next().unwrap_or_default();
        let Some((name, value)) = pair.split_once('=') else {
            return refuse(self, "no `=` in the name-value pair");
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return refuse(self, "empty cookie name");
        }
        let host = host_of(url);
        let now = SystemTime::now();
        let mut cookie = Cookie {
            name: name.to_owned(),
            value: value.trim_matches('"').to_owned(),
            domain: host.clone(),
            host_only: true,
            path: default_path(url.path()),
            expires: None,
            secure: false,
            http_only: false,
            same_site: None,
            set_by: format!("{url}"),
            created: self.sequence,
        };
        self.sequence += 1;
        let mut max_age = None;
        let mut expires = None;
        for attribute in parts {
            let (key, val) = attribute
                .split_once('=')
                .map_or((attribute.trim(), ""), |(k, v)| (k.trim(), v.trim()));
            match key.to_ascii_lowercase().as_str() {
                "max-age" => match val.parse::<i64>() {
                    Ok(seconds) if seconds <= 0 => max_age = Some(UNIX_EPOCH),
                    Ok(seconds) => {
                        max_age = Some(now + Duration::from_secs(seconds.unsigned_abs()))
                    }
                    Err(_) => {}
                },
                "expires" => {
                    if let Some(at) = parse_http_date(val) {
                        expires = Some(at);
                    }
                }
                "domain" if !val.is_empty() => {
                    let domain = val.trim_start_matches('.').to_ascii_lowercase();
                    if !domain_match(&host, &domain) {
                        return refuse(
                            self,
                            &format!("Domain={domain} does not domain-match the host {host}"),
                        );
                    }
                    if host.parse::<IpAddr>().is_ok() && domain != host {
                        return refuse(self, "Domain on a request to an IP address");
                    }
                    cookie.domain = domain;
                    cookie.host_only = false;
                }
                "path" if val.starts_with('/') => cookie.path = val.to_owned(),
                "secure" => cookie.secure = true,
                "httponly" => cookie.http_only = true,
                "samesite" => cookie.same_site = Some(val.to_owned()),
                _ => {}
            }
        }
        cookie.expires = max_age.or(expires);
        if cookie.secure && !self.secure_context(url) {
            return refuse(
                self,
                "Secure cookie set over plain http: browsers drop it (is session.secure = false honoured?)",
            );
        }
        // A new cookie replaces the one with the same name, domain and path; an expiry in the
        // past just removes it.
        let old = self.cookies.iter().position(|c| {
            c.name == cookie.name && c.domain == cookie.domain && c.path == cookie.path
        });
        if let Some(i) = old {
            cookie.created = self.cookies[i].created;
            self.cookies.remove(i);
        }
        if !cookie.expired(now) {
            self.cookies.push(cookie);
        }
    }

    fn live(&mut self) -> &mut Vec<Cookie> {
        let now = SystemTime::now();
        self.cookies.retain(|c| !c.expired(now));
        &mut self.cookies
    }

    /// The `Cookie` header a browser sends to `url`: longer paths first, then older cookies.
    fn header_for(&mut self, url: &Url) -> Option<String> {
        let now = SystemTime::now();
        let secure = self.secure_context(url);
        let mut matching: Vec<&Cookie> = self
            .live()
            .iter()
            .filter(|c| c.matches(url, secure, now))
            .collect();
        matching.sort_by(|a, b| {
            b.path
                .len()
                .cmp(&a.path.len())
                .then(a.created.cmp(&b.created))
        });
        let pairs: Vec<String> = matching
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }
}

/// One request and its response within a navigation.
#[derive(Clone, Debug)]
pub struct Hop {
    pub method: String,
    pub url: Url,
    pub status: u16,
    pub location: Option<String>,
    /// Raw `Set-Cookie` values of the response.
    pub set_cookies: Vec<String>,
    /// Names of the cookies sent with the request.
    pub sent_cookies: Vec<String>,
}

impl Hop {
    /// Names of the cookies this response set (removals included).
    pub fn set_cookie_names(&self) -> Vec<String> {
        self.set_cookies
            .iter()
            .filter_map(|h| h.split(';').next()?.split_once('='))
            .map(|(name, _)| name.trim().to_owned())
            .collect()
    }

    /// The value of query parameter `name` of this hop's URL.
    pub fn query(&self, name: &str) -> Option<String> {
        query_param(&self.url, name)
    }
}

impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.method, self.url, self.status)?;
        if let Some(location) = &self.location {
            write!(f, " Location: {location}")?;
        }
        if !self.sent_cookies.is_empty() {
            write!(f, "\n      sent cookies: {}", self.sent_cookies.join(", "))?;
        }
        for cookie in &self.set_cookies {
            let (pair, attributes) = cookie.split_once(';').unwrap_or((cookie, ""));
            let shown = match pair.split_once('=') {
                Some((name, value)) => format!("{name}={}", excerpt(value, 24)),
                None => pair.to_owned(),
            };
            write!(f, "\n      Set-Cookie: {shown};{attributes}")?;
        }
        Ok(())
    }
}

/// The last response of a navigation, with every hop that led to it.
#[derive(Clone, Debug)]
pub struct Page {
    pub url: Url,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub hops: Vec<Hop>,
    /// Where the last response redirects to when the navigation stopped instead of following
    /// it: a target that is not loopback, or one the caller's `stop` picked.
    pub next: Option<Url>,
}

impl Page {
    /// The first value of response header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first hop whose URL path is `path`.
    pub fn hop(&self, path: &str) -> Option<&Hop> {
        self.hops.iter().find(|h| h.url.path() == path)
    }

    /// The first hop whose URL path ends with `suffix`.
    pub fn hop_ending(&self, suffix: &str) -> Option<&Hop> {
        self.hops.iter().find(|h| h.url.path().ends_with(suffix))
    }

    /// The form with `id` in this page, if any.
    pub fn form(&self, id: &str) -> Option<Form> {
        html::form(&self.body, id, &self.url)
    }

    /// The provider's sign-in form.
    pub fn login_form(&self) -> Option<Form> {
        self.form("kc-form-login")
    }

    /// The provider's logout confirmation form.
    pub fn logout_form(&self) -> Option<Form> {
        self.form("op.logoutForm")
    }

    /// The text of the element with `id` (tags stripped), e.g. the provider's `input-error`.
    pub fn element_text(&self, id: &str) -> Option<String> {
        html::element_text(&self.body, id)
    }

    /// The body as JSON; panics with [`Self::describe`] if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "expected a JSON body ({e}) from {}:\n{}",
                self.url,
                self.describe()
            )
        })
    }

    /// Every hop, the final status and the start of the body: for failure messages.
    pub fn describe(&self) -> String {
        let mut text = String::from("  hops:\n");
        for (i, hop) in self.hops.iter().enumerate() {
            text.push_str(&format!("    {}. {hop}\n", i + 1));
        }
        if let Some(next) = &self.next {
            text.push_str(&format!("  stopped before following to {next}\n"));
        }
        text.push_str(&format!(
            "  final: {} {}\n  body: {}\n",
            self.status,
            self.url,
            excerpt(&self.body, BODY_EXCERPT)
        ));
        text
    }
}

/// A form found in a page.
#[derive(Clone, Debug)]
pub struct Form {
    pub id: String,
    pub method: String,
    /// Resolved against the page's URL.
    pub action: Url,
    /// Named `input` fields (submit buttons and unchecked boxes left out), in order.
    pub fields: Vec<(String, String)>,
}

impl Form {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A browser: a cookie jar and a way to navigate. Clones share the jar; [`Self::fork`]
/// copies it.
#[derive(Clone, Debug, Default)]
pub struct Browser {
    jar: Arc<Mutex<Jar>>,
}

impl Browser {
    pub fn new() -> Self {
        Self::default()
    }

    /// This browser, taking plain-http `origin` (`http://127.0.0.1:PORT`) for a secure context
    /// as Chromium and Firefox take loopback origins: `Secure` cookies set there are kept and
    /// sent back. Keycloak marks its cookies `Secure; SameSite=None` even over plain http.
    /// Other origins stay plain, so a `Secure` cookie from Sekisho is still refused.
    pub fn with_secure_origin(self, origin: &str) -> Self {
        let origin = Url::parse(origin)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|e| panic!("{origin} is no URL: {e}"));
        self.jar().secure_origins.push(origin);
        self
    }

    /// Another browser starting with a copy of this one's cookies (an attacker who stole
    /// them, or the same browser replaying a request later).
    pub fn fork(&self) -> Self {
        Self {
            jar: Arc::new(Mutex::new(self.jar().clone())),
        }
    }

    fn jar(&self) -> MutexGuard<'_, Jar> {
        self.jar.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every live cookie.
    pub fn cookies(&self) -> Vec<Cookie> {
        self.jar().live().clone()
    }

    /// The live cookie called `name` (the first, if several paths have one).
    pub fn cookie(&self, name: &str) -> Option<Cookie> {
        self.cookies().into_iter().find(|c| c.name == name)
    }

    /// Sekisho's session cookies (`_sekisho`, `_sekisho_<n>`) in the jar.
    pub fn session_cookies(&self) -> Vec<Cookie> {
        self.cookies()
            .into_iter()
            .filter(|c| is_session_cookie(&c.name))
            .collect()
    }

    /// Removes every cookie for which `remove` is true; returns how many went.
    pub fn remove_cookies(&self, remove: impl Fn(&Cookie) -> bool) -> usize {
        let mut jar = self.jar();
        let before = jar.cookies.len();
        jar.cookies.retain(|c| !remove(c));
        before - jar.cookies.len()
    }

    /// `Set-Cookie` headers this browser refused, with the reasons.
    pub fn refused(&self) -> Vec<Refused> {
        self.jar().refused.clone()
    }

    /// The `Cookie` header this browser would send to `url`.
    pub fn cookie_header(&self, url: &str) -> Option<String> {
        self.jar().header_for(&parse_url(url))
    }

    /// Stores the `Set-Cookie` headers of a response to `url` obtained some other way.
    pub fn accept_cookies(&self, url: &str, response: &Response) {
        let url = parse_url(url);
        let mut jar = self.jar();
        for (name, value) in &response.headers {
            if name.eq_ignore_ascii_case("set-cookie") {
                jar.store(&url, value);
            }
        }
    }

    /// The jar and its refusals, for failure messages.
    pub fn describe_cookies(&self) -> String {
        let mut text = String::from("  cookies in the browser:\n");
        for cookie in self.cookies() {
            text.push_str(&format!("    {cookie}\n"));
        }
        for refused in self.refused() {
            text.push_str(&format!(
                "    REFUSED from {}: {} ({})\n",
                refused.url, refused.header, refused.reason
            ));
        }
        text
    }

    /// One request, no redirect followed: cookies sent and stored as a browser would.
    pub async fn get(&self, url: &str) -> Page {
        let url = parse_url(url);
        self.run("GET", url, Vec::new(), &[], |_| true).await
    }

    /// `GET url`, following redirects on loopback.
    pub async fn navigate(&self, url: &str) -> Page {
        self.navigate_until(url, |_| false).await
    }

    /// `GET url`, following redirects on loopback until one would go to a URL for which
    /// `stop` is true: the page is then that redirect, with the target in [`Page::next`].
    pub async fn navigate_until(&self, url: &str, stop: impl Fn(&Url) -> bool) -> Page {
        self.run("GET", parse_url(url), Vec::new(), &[], stop).await
    }

    /// `GET url` with extra request headers, following redirects on loopback.
    pub async fn navigate_with(&self, url: &str, headers: &[(&str, &str)]) -> Page {
        self.run("GET", parse_url(url), Vec::new(), headers, |_| false)
            .await
    }

    /// Goes on from a page that stopped at a redirect (see [`Page::next`]).
    pub async fn resume(&self, page: &Page, stop: impl Fn(&Url) -> bool) -> Page {
        let next = page.next.clone().unwrap_or_else(|| {
            panic!(
                "resume: the page did not stop at a redirect:\n{}",
                page.describe()
            )
        });
        let mut resumed = self.run("GET", next, Vec::new(), &[], stop).await;
        let mut hops = page.hops.clone();
        hops.append(&mut resumed.hops);
        resumed.hops = hops;
        resumed
    }

    /// Answers "yes" on the provider's logout confirmation shown on `page` (its
    /// `form#op.logoutForm`), as a user ending their provider session would.
    pub async fn confirm_logout(&self, page: &Page) -> Page {
        let form = page.logout_form().unwrap_or_else(|| {
            panic!(
                "the provider should ask to confirm the logout (form#op.logoutForm):\n{}",
                page.describe()
            )
        });
        self.submit_until(&form, &[("logout", "yes")], |_| false)
            .await
    }

    /// Submits `form` with its fields, `values` replacing or adding fields, and follows
    /// redirects on loopback until `stop`.
    pub async fn submit_until(
        &self,
        form: &Form,
        values: &[(&str, &str)],
        stop: impl Fn(&Url) -> bool,
    ) -> Page {
        let mut fields = form.fields.clone();
        for (name, value) in values {
            match fields.iter_mut().find(|(n, _)| n == name) {
                Some(field) => field.1 = (*value).to_owned(),
                None => fields.push(((*name).to_owned(), (*value).to_owned())),
            }
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&fields)
            .finish();
        let method = form.method.to_ascii_uppercase();
        if method == "GET" {
            let mut url = form.action.clone();
            url.set_query(Some(&body));
            return self.run("GET", url, Vec::new(), &[], stop).await;
        }
        self.run(
            "POST",
            form.action.clone(),
            body.into_bytes(),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            stop,
        )
        .await
    }

    /// Signs in on the provider's form shown by `page` and follows redirects until `stop`.
    /// Panics, with the navigation so far, if `page` shows no sign-in form.
    pub async fn sign_in_until(
        &self,
        page: &Page,
        username: &str,
        password: &str,
        stop: impl Fn(&Url) -> bool,
    ) -> Page {
        let form = page.login_form().unwrap_or_else(|| {
            panic!(
                "expected the provider's sign-in form (form#kc-form-login), got:\n{}{}",
                page.describe(),
                self.describe_cookies()
            )
        });
        let mut after = self
            .submit_until(
                &form,
                &[("username", username), ("password", password)],
                stop,
            )
            .await;
        let mut hops = page.hops.clone();
        hops.append(&mut after.hops);
        after.hops = hops;
        after
    }

    /// [`Self::sign_in_until`], following every loopback redirect.
    pub async fn sign_in(&self, page: &Page, username: &str, password: &str) -> Page {
        self.sign_in_until(page, username, password, |_| false)
            .await
    }

    /// One request with `headers` and `body`, then redirects followed on loopback (the
    /// method becomes GET except for 307 and 308) until one goes elsewhere or to a URL for
    /// which `stop` is true.
    async fn run(
        &self,
        method: &str,
        mut url: Url,
        mut body: Vec<u8>,
        headers: &[(&str, &str)],
        stop: impl Fn(&Url) -> bool,
    ) -> Page {
        let mut method = method.to_owned();
        let mut headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        let mut hops = Vec::new();
        loop {
            let (response, sent_cookies) = self.fetch(&method, &url, &headers, &body, &hops).await;
            let location = response.header("location").map(str::to_owned);
            hops.push(Hop {
                method: method.clone(),
                url: url.clone(),
                status: response.status,
                location: location.clone(),
                set_cookies: response
                    .headers
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
                    .map(|(_, v)| v.clone())
                    .collect(),
                sent_cookies,
            });
            let next = match (&location, response.status) {
                (Some(location), 301 | 302 | 303 | 307 | 308) => url.join(location).ok(),
                _ => None,
            };
            let page = Page {
                url: url.clone(),
                status: response.status,
                headers: response.headers,
                body: response.body,
                hops: Vec::new(),
                next: None,
            };
            let Some(next) = next else {
                return Page { hops, ..page };
            };
            if !is_loopback(&next) || stop(&next) {
                return Page {
                    hops,
                    next: Some(next),
                    ..page
                };
            }
            if hops.len() >= MAX_REDIRECTS {
                let page = Page { hops, ..page };
                panic!(
                    "more than {MAX_REDIRECTS} redirects, a loop?\n{}",
                    page.describe()
                );
            }
            if !matches!(response.status, 307 | 308) {
                method = "GET".to_owned();
                body.clear();
                headers.retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
            }
            url = next;
        }
    }

    /// One request to a loopback `url`, cookies attached and then stored; the response and
    /// the names of the cookies sent. `hops` (the navigation so far) is for messages only.
    async fn fetch(
        &self,
        method: &str,
        url: &Url,
        headers: &[(String, String)],
        body: &[u8],
        hops: &[Hop],
    ) -> (Response, Vec<String>) {
        let addr = loopback_addr(url).unwrap_or_else(|| {
            panic!("the test browser only goes to loopback addresses, not {url}")
        });
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let cookie = self.jar().header_for(url);
        let mut all: Vec<(&str, &str)> = vec![
            ("Host", host.as_str()),
            ("User-Agent", USER_AGENT),
            ("Accept", ACCEPT_HTML),
        ];
        if let Some(cookie) = &cookie {
            all.push(("Cookie", cookie));
        }
        all.extend(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let response = Client::new()
            .request(addr, method, &target, &all, body)
            .await
            .unwrap_or_else(|e| {
                let trace: String = hops.iter().map(|h| format!("    {h}\n")).collect();
                panic!("{method} {url} failed: {e}\n  after:\n{trace}")
            });
        let mut jar = self.jar();
        for (name, value) in &response.headers {
            if name.eq_ignore_ascii_case("set-cookie") {
                jar.store(url, value);
            }
        }
        drop(jar);
        let sent = cookie
            .iter()
            .flat_map(|c| c.split("; "))
            .filter_map(|pair| pair.split_once('=').map(|(name, _)| name.to_owned()))
            .collect();
        (response, sent)
    }
}

/// The value of query parameter `name` of `url`, decoded.
pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

/// `url` with query parameter `name` set to `value` (`None` removes it), others kept in order.
pub fn with_query_param(url: &Url, name: &str, value: Option<&str>) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(n, _)| n != name)
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect();
    let mut url = url.clone();
    {
        let mut query = url.query_pairs_mut();
        query.clear();
        for (n, v) in &pairs {
            query.append_pair(n, v);
        }
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    url
}

/// Every byte but RFC 3986's unreserved characters percent-encoded, so a server decodes
/// exactly `value` from a query parameter (a space becomes `%20`, never `+`).
pub fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `text` cut to `max` characters, marked if cut.
pub fn excerpt(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}… ({} bytes)", text.len())
    }
}

fn parse_url(url: &str) -> Url {
    Url::parse(url).unwrap_or_else(|e| panic!("bad URL {url:?}: {e}"))
}

fn host_of(url: &Url) -> String {
    url.host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

fn is_loopback(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https") && loopback_addr(url).is_some()
}

fn loopback_addr(url: &Url) -> Option<SocketAddr> {
    let host = host_of(url);
    let ip = if host == "localhost" {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse::<IpAddr>().ok()?
    };
    let loopback = match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
    };
    loopback.then(|| SocketAddr::new(ip, url.port_or_known_default().unwrap_or(80)))
}

/// RFC 6265 domain-match.
fn domain_match(host: &str, domain: &str) -> bool {
    host == domain
        || (host.parse::<IpAddr>().is_err()
            && host
                .strip_suffix(domain)
                .is_some_and(|rest| rest.ends_with('.')))
}

/// RFC 6265 path-match.
fn path_match(request_path: &str, cookie_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/')
                || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

/// RFC 6265 default-path: the request path up to, not including, its last `/`.
fn default_path(request_path: &str) -> String {
    match request_path.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => request_path[..i].to_owned(),
    }
}

/// A cookie date (`Thu, 01 Jan 1970 00:00:00 GMT`, `Thu, 01-Jan-1970 ...`, two-digit years),
/// leniently as RFC 6265 section 5.1.1 parses it.
fn parse_http_date(text: &str) -> Option<SystemTime> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let (mut time, mut day, mut month, mut year) = (None, None, None, None);
    for token in text.split([' ', ',', '-', '\t']).filter(|t| !t.is_empty()) {
        let lower = token.to_ascii_lowercase();
        if time.is_none() && token.contains(':') {
            let hms: Vec<u64> = token.split(':').filter_map(|p| p.parse().ok()).collect();
            if let [h, m, s] = hms[..] {
                time = Some(h * 3600 + m * 60 + s);
            }
        } else if month.is_none() && MONTHS.iter().any(|m| lower.starts_with(m)) {
            month = MONTHS.iter().position(|m| lower.starts_with(m));
        } else if let Ok(number) = token.parse::<i64>() {
            if day.is_none() && token.len() <= 2 {
                day = Some(number);
            } else if year.is_none() {
                year = Some(match number {
                    0..=69 => number + 2000,
                    70..=99 => number + 1900,
                    _ => number,
                });
            }
        }
    }
    let (time, day, month, year) = (time?, day?, month? as i64 + 1, year?);
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + time as i64;
    Some(if seconds <= 0 {
        UNIX_EPOCH
    } else {
        UNIX_EPOCH + Duration::from_secs(seconds.unsigned_abs())
    })
}

/// Just enough HTML for the provider's pages: forms, inputs, an element's text.
mod html {
    use url::Url;

    use super::Form;

    /// The form with `id`, its `action` resolved against `base`.
    pub fn form(body: &str, id: &str, base: &Url) -> Option<Form> {
        let lower = body.to_ascii_lowercase();
        let mut from = 0;
        while let Some(offset) = lower[from..].find("<form") {
            let start = from + offset;
            let (attributes, end) = tag(body, start + "<form".len());
            from = end;
            if attribute(&attributes, "id") != Some(id) {
                continue;
            }
            let close = lower[end..].find("</form").map_or(body.len(), |i| end + i);
            let action = attribute(&attributes, "action").unwrap_or_default();
            let action = base.join(action).ok()?;
            let method = attribute(&attributes, "method").unwrap_or("get").to_owned();
            return Some(Form {
                id: id.to_owned(),
                method,
                action,
                fields: inputs(&body[end..close]),
            });
        }
        None
    }

    /// The named inputs a browser would submit (no submit buttons, no unchecked boxes).
    fn inputs(fragment: &str) -> Vec<(String, String)> {
        let lower = fragment.to_ascii_lowercase();
        let mut fields = Vec::new();
        let mut from = 0;
        while let Some(offset) = lower[from..].find("<input") {
            let (attributes, end) = tag(fragment, from + offset + "<input".len());
            from = end;
            let kind = attribute(&attributes, "type")
                .unwrap_or("text")
                .to_ascii_lowercase();
            let checked = attributes.iter().any(|(n, _)| n == "checked");
            let skip = matches!(kind.as_str(), "submit" | "button" | "image" | "reset")
                || (matches!(kind.as_str(), "checkbox" | "radio") && !checked);
            if let (false, Some(name)) = (skip, attribute(&attributes, "name")) {
                let value = attribute(&attributes, "value").unwrap_or_default();
                fields.push((name.to_owned(), value.to_owned()));
            }
        }
        fields
    }

    /// The text inside the element with `id`, tags stripped and whitespace collapsed.
    pub fn element_text(body: &str, id: &str) -> Option<String> {
        let lower = body.to_ascii_lowercase();
        let mut from = 0;
        while let Some(offset) = lower[from..].find('<') {
            let start = from + offset + 1;
            let name_end = lower[start..]
                .find(|c: char| !c.is_ascii_alphanumeric())
                .map_or(lower.len(), |i| start + i);
            let name = &lower[start..name_end];
            let (attributes, end) = tag(body, name_end);
            from = end;
            if name.is_empty() || attribute(&attributes, "id") != Some(id) {
                continue;
            }
            let close = lower[end..]
                .find(&format!("</{name}"))
                .map_or(body.len(), |i| end + i);
            let mut text = String::new();
            let mut in_tag = false;
            for c in body[end..close].chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            return Some(
                unescape(&text)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            );
        }
        None
    }

    fn attribute<'a>(attributes: &'a [(String, String)], name: &str) -> Option<&'a str> {
        attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The attributes of the tag whose name ends at `from`, and the index just past its `>`.
    fn tag(html: &str, from: usize) -> (Vec<(String, String)>, usize) {
        let bytes = html.as_bytes();
        let mut i = from;
        let mut attributes = Vec::new();
        loop {
            while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
                i += 1;
            }
            if i >= bytes.len() {
                return (attributes, bytes.len());
            }
            if bytes[i] == b'>' {
                return (attributes, i + 1);
            }
            let name_start = i;
            while i < bytes.len() && !b" \t\r\n=>/".contains(&bytes[i]) {
                i += 1;
            }
            let name = html[name_start..i].to_ascii_lowercase();
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let mut value = String::new();
            if i < bytes.len() && bytes[i] == b'=' {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                    let quote = bytes[i];
                    let start = i + 1;
                    let end = bytes[start..]
                        .iter()
                        .position(|&b| b == quote)
                        .map_or(bytes.len(), |p| start + p);
                    value = unescape(&html[start..end]);
                    i = (end + 1).min(bytes.len());
                } else {
                    let start = i;
                    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                        i += 1;
                    }
                    value = unescape(&html[start..i]);
                }
            }
            if !name.is_empty() {
                attributes.push((name, value));
            }
        }
    }

    /// HTML character references: the named ones the provider uses and numeric ones.
    pub fn unescape(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(amp) = rest.find('&') {
            out.push_str(&rest[..amp]);
            rest = &rest[amp..];
            let Some(semi) = rest.find(';').filter(|&i| i <= 10) else {
                out.push('&');
                rest = &rest[1..];
                continue;
            };
            let entity = &rest[1..semi];
            let decoded = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            match decoded {
                Some(c) => {
                    out.push(c);
                    rest = &rest[semi + 1..];
                }
                None => {
                    out.push('&');
                    rest = &rest[1..];
                }
            }
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn cookies_are_scoped_by_path_and_removed_by_expiry() {
        let mut jar = Jar::default();
        let op = url("http://127.0.0.1:9000/realms/demo/login-actions/authenticate/abc");
        jar.store(
            &op,
            "AUTH_SESSION_ID=x; path=/realms/demo/login-actions/authenticate/abc; httponly",
        );
        jar.store(
            &op,
            "KEYCLOAK_SESSION=s; path=/realms/demo/; samesite=lax; httponly",
        );
        jar.store(
            &url("http://127.0.0.1:8080/oauth2/callback"),
            "_sekisho_0=a; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600",
        );
        jar.store(
            &url("http://127.0.0.1:8080/oauth2/callback"),
            "_sekisho_1=b; Path=/; HttpOnly; Max-Age=3600",
        );

        assert_eq!(
            jar.header_for(&url(
                "http://127.0.0.1:9000/realms/demo/login-actions/authenticate/abc"
            ))
            .unwrap(),
            "AUTH_SESSION_ID=x; KEYCLOAK_SESSION=s; _sekisho_0=a; _sekisho_1=b"
        );
        assert_eq!(
            jar.header_for(&url("http://127.0.0.1:8080/app/page?x=1"))
                .unwrap(),
            "_sekisho_0=a; _sekisho_1=b"
        );
        // Koa removes cookies with an expiry in 1970; the cookie crate with Max-Age=0.
        jar.store(&op, "KEYCLOAK_SESSION=; path=/realms/demo/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly");
        jar.store(
            &url("http://127.0.0.1:8080/"),
            "_sekisho_1=; Path=/; Max-Age=0; Expires=Fri, 24 Nov 2023 10:00:00 GMT",
        );
        assert_eq!(
            jar.header_for(&url("http://127.0.0.1:9000/realms/demo/x"))
                .unwrap(),
            "_sekisho_0=a"
        );
        // Secure over http is refused and recorded.
        jar.store(
            &url("http://127.0.0.1:8080/"),
            "_sekisho_csrf=z; Path=/; Secure",
        );
        assert_eq!(jar.refused.len(), 1);
        // The default path is the request's directory.
        jar.store(&url("http://127.0.0.1:8080/oauth2/start"), "st=1");
        assert_eq!(
            jar.header_for(&url("http://127.0.0.1:8080/app")).unwrap(),
            "_sekisho_0=a"
        );
        assert!(
            jar.header_for(&url("http://127.0.0.1:8080/oauth2/callback"))
                .unwrap()
                .contains("st=1")
        );
    }

    #[test]
    fn dates_and_names() {
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(UNIX_EPOCH)
        );
        assert_eq!(
            parse_http_date("Sun, 06-Nov-1994 08:49:37 GMT"),
            Some(UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
        assert!(is_session_cookie("_sekisho"));
        assert!(is_session_cookie("_sekisho_0"));
        assert!(!is_session_cookie("_sekisho_csrf"));
        assert!(!is_session_cookie("_sekisho_"));
    }

    #[test]
    fn forms() {
        let body = r#"<form id="other"></form>
<form id="kc-form-login" action="http://127.0.0.1:9/realms/demo/login-actions/authenticate/u?a=1&amp;b=2" method="post">
  <input tabindex="1" id="username" name="username" value="al&quot;ice" type="text" autofocus>
  <input id="password" name="password" type="password">
  <input type="hidden" id="id-hidden-input" name="credentialId">
  <input name="login" id="kc-login" type="submit" value="Sign In">
</form><span id="input-error" class="x">Invalid <b>username</b> or password.</span>"#;
        let page = Page {
            url: url("http://127.0.0.1:9/realms/demo/x"),
            status: 200,
            headers: Vec::new(),
            body: body.to_owned(),
            hops: Vec::new(),
            next: None,
        };
        let form = page.login_form().unwrap();
        assert_eq!(
            form.action.as_str(),
            "http://127.0.0.1:9/realms/demo/login-actions/authenticate/u?a=1&b=2"
        );
        assert_eq!(form.method, "post");
        assert_eq!(
            form.fields,
            [
                ("username".to_owned(), "al\"ice".to_owned()),
                ("password".to_owned(), String::new()),
                ("credentialId".to_owned(), String::new())
            ]
        );
        assert_eq!(
            page.element_text("input-error").unwrap(),
            "Invalid username or password."
        );
        let logout = r#"<form id="op.logoutForm" method="post" action="http://127.0.0.1:9/realms/demo/protocol/openid-connect/logout/confirm"><input type="hidden" name="xsrf" value="abc"/></form>"#;
        let page = Page {
            body: logout.to_owned(),
            ..page
        };
        assert_eq!(page.logout_form().unwrap().field("xsrf"), Some("abc"));
    }
}
