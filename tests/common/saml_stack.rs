//! The SAML sign-in stack on loopback, for the SAML end-to-end tests:
//!
//! - the IdP ([`super::saml_idp`]: SimpleSAMLphp under `php -S`), started first without an SP
//!   and told about Sekisho (`SpRegistration::at(public_url)`) once nginx's port is known;
//! - the app: the echoing [`super::upstream::Upstream`];
//! - nginx with `config/nginx/saml.conf`: `auth_request` on `/` and `/admin/` (the latter
//!   narrowed to `allowed_groups=admins`), 401 turned into `/oauth2/sign_in`, `/oauth2/` and
//!   `/saml/` proxied to Sekisho;
//! - Sekisho with a `[saml]` section whose `public_url` is nginx's address: its entity ID is
//!   `http://127.0.0.1:NGINX/saml/metadata`, its ACS `.../saml/acs`, its SLO `.../saml/slo`.
//!
//! The browser is [`super::browser_client::Browser`]; this module adds what SAML needs on top:
//! the IdP's login form (no id, inputs `username`/`password`/`AuthState`) and the
//! auto-submitting form of the HTTP-POST binding, which a scripted browser must submit itself.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use toml::Table;
use url::Url;

use super::browser_client::{Browser, Form, Page};
use super::http::{Client, Response};
use super::nginx::Nginx;
use super::oidc_stack::start_behind_nginx;
use super::saml_idp::{SamlIdp, SamlIdpOptions, SpRegistration};
use super::saml_xml;
use super::sekisho::Sekisho;
use super::upstream::Upstream;

pub const TEMPLATE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/nginx/saml.conf");
pub const SECRET: &str = "saml-end-to-end-test-secret-of-at-least-32-bytes";
/// In Sekisho's `trusted_ips`.
pub const TRUSTED_CLIENT: &str = "203.0.113.7";
/// How long Sekisho may take to become ready (the IdP's metadata) once the IdP is up.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// What a browser sends when it navigates.
pub const ACCEPT_HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// Where Sekisho reads the IdP's metadata from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Metadata {
    /// `saml.idp_metadata_url` = the IdP's metadata URL.
    #[default]
    Url,
    /// `saml.idp_metadata_file` = a file holding the IdP's metadata, as served.
    File,
}

/// What to start, and how to configure Sekisho.
pub struct SamlStackOptions {
    /// The IdP; its SP fields are ignored (the SP is registered once nginx's port is known).
    pub idp: SamlIdpOptions,
    pub metadata: Metadata,
    /// Sekisho settings on top of the base configuration, dotted keys
    /// (`saml.allow_idp_initiated`, `authorization.allowed_groups`).
    pub settings: Vec<(String, toml::Value)>,
    /// Extra environment for Sekisho (`SEKISHO_SAML__ATTRIBUTES__USER`).
    pub env: Vec<(String, String)>,
    /// Wait until `/ready` answers 200 before returning.
    pub wait_ready: bool,
    /// The host name browsers reach the IdP by (its metadata's endpoints); `None`: 127.0.0.1.
    /// `localhost` makes the IdP another *site* than Sekisho (127.0.0.1), as in production:
    /// browsers then apply SameSite rules to the IdP's POST to the ACS.
    pub idp_host: Option<String>,
}

impl Default for SamlStackOptions {
    fn default() -> Self {
        Self {
            idp: SamlIdpOptions::default(),
            metadata: Metadata::Url,
            settings: Vec::new(),
            env: Vec::new(),
            wait_ready: true,
            idp_host: None,
        }
    }
}

impl SamlStackOptions {
    /// Sets Sekisho's `key` (dotted) to `value`.
    pub fn set(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        self.settings.push((key.to_owned(), value.into()));
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// Everything started for one test; stopped on drop (nginx, Sekisho, the app, then the IdP,
/// which prints its diagnostics if the test panicked). The IdP is SimpleSAMLphp
/// ([`SamlStack::start`]) or one running elsewhere, such as a Keycloak realm
/// ([`SamlStack::start_external`]).
pub struct SamlStack<I = SamlIdp> {
    pub nginx: Nginx,
    pub sekisho: Sekisho,
    pub upstream: Upstream,
    pub idp: I,
    /// What Sekisho was configured with.
    pub config: String,
    /// Holds the metadata file with [`Metadata::File`].
    _dir: TempDir,
}

/// An IdP this harness did not start (a Keycloak realm): Sekisho reads its metadata from
/// `metadata_url`; telling it about Sekisho is the caller's part, once the stack's URLs are
/// known.
#[derive(Clone, Debug)]
pub struct ExternalIdp {
    pub metadata_url: String,
}

impl SamlStack {
    pub async fn start(options: SamlStackOptions) -> Self {
        let idp = SamlIdp::start(SamlIdpOptions {
            sp_entity_id: String::new(),
            sp_acs_url: String::new(),
            sp_slo_url: None,
            ..options.idp.clone()
        });
        if let Some(host) = &options.idp_host {
            idp.set_setting(
                "base_url",
                serde_json::Value::String(format!("http://{host}:{}/simplesaml/", idp.port)),
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("sekisho-saml-")
            .tempdir()
            .expect("temporary directory");
        let metadata_source = match options.metadata {
            Metadata::Url => ("idp_metadata_url", idp.metadata_url.clone()),
            Metadata::File => {
                let path = dir.path().join("idp-metadata.xml");
                std::fs::write(&path, idp.metadata()).expect("write the IdP metadata");
                ("idp_metadata_file", path_string(&path))
            }
        };
        let (upstream, nginx, sekisho, config) =
            start_sp(&options, metadata_source, |public_url| {
                idp.set_sps(&[SpRegistration::at(public_url)]);
            })
            .await;
        let stack = Self {
            nginx,
            sekisho,
            upstream,
            idp,
            config,
            _dir: dir,
        };
        if options.wait_ready {
            stack.wait_ready(READY_TIMEOUT).await;
        }
        stack
    }
}

impl SamlStack<ExternalIdp> {
    /// The stack signing in at an IdP already running (`metadata_url`: its metadata, read by
    /// URL); `options.idp`, `metadata` and `idp_host` are not used. The IdP learns Sekisho's
    /// URLs from the caller ([`Self::origin`]), so readiness here is only Sekisho's having
    /// loaded the metadata.
    pub async fn start_external(options: SamlStackOptions, metadata_url: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sekisho-saml-")
            .tempdir()
            .expect("temporary directory");
        let source = ("idp_metadata_url", metadata_url.to_owned());
        let (upstream, nginx, sekisho, config) = start_sp(&options, source, |_| {}).await;
        let stack = Self {
            nginx,
            sekisho,
            upstream,
            idp: ExternalIdp {
                metadata_url: metadata_url.to_owned(),
            },
            config,
            _dir: dir,
        };
        if options.wait_ready {
            stack.wait_ready(READY_TIMEOUT).await;
        }
        stack
    }
}

/// The app, nginx and Sekisho (reading the IdP's metadata from `metadata_source`, a key and
/// its value), retried on a port another process took meanwhile; `register` tells the IdP
/// about each `public_url` tried before Sekisho starts.
async fn start_sp(
    options: &SamlStackOptions,
    metadata_source: (&str, String),
    register: impl Fn(&str),
) -> (Upstream, Nginx, Sekisho, String) {
    let upstream = Upstream::start().await;
    let mut env: Vec<(String, String)> = ["no_proxy", "NO_PROXY"]
        .into_iter()
        .map(|name| (name.to_owned(), "127.0.0.1,localhost".to_owned()))
        .collect();
    env.extend(options.env.iter().cloned());
    let (nginx, sekisho, config) =
        start_behind_nginx(Path::new(TEMPLATE), &upstream, &env, |public_url| {
            register(public_url);
            sekisho_config(public_url, metadata_source.clone(), &options.settings)
        })
        .await;
    (upstream, nginx, sekisho, config)
}

impl<I> SamlStack<I> {
    /// nginx's URL for `path` (what a browser opens).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.nginx.addr())
    }

    /// `http://127.0.0.1:NGINX`, Sekisho's `public_url`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.nginx.addr())
    }

    pub fn sp_entity_id(&self) -> String {
        self.url("/saml/metadata")
    }

    pub fn acs_url(&self) -> String {
        self.url("/saml/acs")
    }

    pub fn slo_url(&self) -> String {
        self.url("/saml/slo")
    }

    /// `GET path` straight to Sekisho (not through nginx), from 127.0.0.1.
    pub async fn sekisho_get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        Client::new().get(self.sekisho.addr(), path, headers).await
    }

    /// Polls `/ready` until it answers 200; panics with the last answer.
    pub async fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let response = self.sekisho_get("/ready", &[]).await;
            if response.status == 200 {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "sekisho's /ready still answers {} after {timeout:?} with the IdP up: {:?}\n\
                     its configuration:\n{}",
                    response.status, response.body, self.config
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Submits the auto-submitting form as a browser does (cookies and all), following
    /// redirects on loopback; returns the last page (hops from this POST on).
    pub async fn submit_acs(&self, browser: &Browser, post: &AcsPost) -> Page {
        browser.submit_until(&post.form, &[], |_| false).await
    }

    /// POSTs `saml_response` (base64) and `relay_state` to the ACS through nginx with
    /// `browser`'s cookies and stores what it sets, without following the answer. `accept`
    /// is the Accept header (`None`: none). Returns the response and Sekisho's log lines
    /// written meanwhile.
    pub async fn post_acs(
        &self,
        browser: &Browser,
        saml_response: &str,
        relay_state: Option<&str>,
        accept: Option<&str>,
    ) -> AcsAnswer {
        let acs = self.acs_url();
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        body.append_pair("SAMLResponse", saml_response);
        if let Some(relay_state) = relay_state {
            body.append_pair("RelayState", relay_state);
        }
        let body = body.finish();
        let cookie = browser.cookie_header(&acs);
        let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
        if let Some(cookie) = &cookie {
            headers.push(("Cookie", cookie));
        }
        if let Some(accept) = accept {
            headers.push(("Accept", accept));
        }
        let before = self.sekisho.output().lines().len();
        let response = Client::new()
            .request(
                self.nginx.addr(),
                "POST",
                "/saml/acs",
                &headers,
                body.as_bytes(),
            )
            .await
            .unwrap_or_else(|e| panic!("POST {acs} failed: {e}"));
        browser.accept_cookies(&acs, &response);
        // The access-log line is the last one Sekisho writes for a request.
        let deadline = Instant::now() + Duration::from_secs(2);
        let log = loop {
            let lines: Vec<String> = self.sekisho.output().lines().split_off(before);
            let done = lines
                .iter()
                .any(|l| l.contains("sekisho::access") && l.contains("/saml/acs"));
            if done || Instant::now() >= deadline {
                break lines;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        AcsAnswer {
            response,
            log,
            sent_cookies: cookie.unwrap_or_default(),
        }
    }

    /// `GET /oauth2/auth` straight to Sekisho with what `browser` would send.
    pub async fn auth(&self, browser: &Browser) -> Response {
        let cookie = browser.cookie_header(&self.url("/oauth2/auth"));
        let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("Cookie", c.as_str())).collect();
        self.sekisho_get("/oauth2/auth", &headers).await
    }

    /// Asserts that `browser` holds no Sekisho session: no session cookie and
    /// `/oauth2/auth` answers 401. `context` says what just happened.
    pub async fn assert_no_session(&self, browser: &Browser, context: &str) {
        if let Some(problem) = self.session_problem(browser).await {
            panic!("{context}: {problem}");
        }
    }

    /// Why `browser` still has a session, if it does.
    pub async fn session_problem(&self, browser: &Browser) -> Option<String> {
        let cookies = browser.session_cookies();
        if !cookies.is_empty() {
            return Some(format!(
                "the browser must not hold a session cookie, but has {}\n{}",
                cookies
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                browser.describe_cookies()
            ));
        }
        let auth = self.auth(browser).await;
        (auth.status != 401).then(|| {
            format!(
                "/oauth2/auth should answer 401 without a session, answered {} (user {:?})",
                auth.status,
                auth.header("x-auth-request-user")
            )
        })
    }

    /// Sekisho's log lines at warn level or above, those mentioning `needle`, and anything
    /// not JSON, for failure messages.
    pub fn sekisho_log_excerpt(&self, needle: &str) -> String {
        self.sekisho
            .output()
            .lines()
            .into_iter()
            .filter(|line| {
                line.contains(needle)
                    || line.contains("\"WARN\"")
                    || line.contains("\"ERROR\"")
                    || !line.starts_with('{')
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// What needs the SimpleSAMLphp IdP: its endpoints, its key, its login form.
impl SamlStack {
    /// An HTTP-Redirect URL to Sekisho's `/saml/slo` carrying a LogoutRequest as the IdP
    /// would send it for alice's session `session_index`, its query string signed with `key`
    /// (PEM; `None`: unsigned).
    pub fn idp_logout_request_url(&self, session_index: &str, key: Option<&str>) -> String {
        self.idp_logout_request_url_naming(super::saml_idp::ALICE_NAME_ID, session_index, key)
    }

    /// The same, for the user with `name_id`.
    pub fn idp_logout_request_url_naming(
        &self,
        name_id: &str,
        session_index: &str,
        key: Option<&str>,
    ) -> String {
        use super::saml_forge::{LogoutRequestForge, RedirectQuery};
        use super::saml_idp::RSA_SHA256;
        let mut request = LogoutRequestForge::new(&self.idp.entity_id, &self.slo_url(), name_id);
        request.session_index = Some(session_index.to_owned());
        let query = RedirectQuery::message("SAMLRequest", &request.xml())
            .relay_state("relay-state-of-the-idp");
        match key {
            Some(key) => query.signed(key, RSA_SHA256, "sha256"),
            None => query,
        }
        .url(&self.slo_url())
    }

    /// The path of the IdP's SSO endpoint (`/simplesaml/saml2/idp/SSOService.php`).
    pub fn idp_sso_path(&self) -> String {
        url_path(&self.idp.sso_url)
    }

    /// The path of the IdP's SLO endpoint.
    pub fn idp_slo_path(&self) -> String {
        url_path(&self.idp.slo_url)
    }

    /// Opens `path` on nginx in `browser` and signs in as `user` at the IdP, stopping at the
    /// IdP's auto-submitting form (the SAMLResponse for Sekisho's ACS): nothing has been
    /// posted to the ACS yet. Panics, with the navigation, on any other outcome.
    pub async fn login_until_acs(
        &self,
        browser: &Browser,
        path: &str,
        user: (&str, &str),
    ) -> AcsPost {
        let first = browser.navigate(&self.url(path)).await;
        self.sign_in_at_idp(browser, first, user).await
    }

    /// From a page showing the IdP's login form (or already its auto-submitting form, when the
    /// IdP session signs in silently), signs in as `user` and stops at the auto-submitting
    /// form.
    pub async fn sign_in_at_idp(
        &self,
        browser: &Browser,
        first: Page,
        user: (&str, &str),
    ) -> AcsPost {
        let authn_request = first
            .hop(&self.idp_sso_path())
            .map(|hop| hop.url.clone())
            .unwrap_or_else(|| {
                panic!(
                    "the browser never reached the IdP's SSO endpoint {}:\n{}{}",
                    self.idp_sso_path(),
                    first.describe(),
                    browser.describe_cookies()
                )
            });
        let page = match idp_login_form(&first) {
            Some(form) => {
                let mut after = browser
                    .submit_until(&form, &[("username", user.0), ("password", user.1)], |_| {
                        false
                    })
                    .await;
                let mut hops = first.hops.clone();
                hops.append(&mut after.hops);
                after.hops = hops;
                after
            }
            None => first,
        };
        let form = saml_post_form(&page).unwrap_or_else(|| {
            panic!(
                "signing in at the IdP as {} should end at its auto-submitting SAMLResponse form:\n{}\n{}",
                user.0,
                page.describe(),
                self.idp.log_summary()
            )
        });
        AcsPost {
            form,
            page,
            authn_request,
        }
    }

    /// The whole sign-in: `path` → IdP → login form → auto-submitting form → ACS → `path`.
    /// Panics, with the navigation, unless the browser ends up back at `path` with 200.
    pub async fn login(&self, browser: &Browser, path: &str, user: (&str, &str)) -> Login {
        let post = self.login_until_acs(browser, path, user).await;
        let page = self.submit_acs(browser, &post).await;
        let target = self.url(path);
        assert_eq!(
            (page.status, page.url.as_str()),
            (200, target.as_str()),
            "after signing in as {} the browser should be back at {target} with 200:\n{}\n{}{}",
            user.0,
            page.describe(),
            self.sekisho_log_excerpt("saml"),
            browser.describe_cookies()
        );
        Login { post, page }
    }
}

/// A sign-in stopped at the IdP's auto-submitting form.
#[derive(Clone, Debug)]
pub struct AcsPost {
    /// The form (action: Sekisho's ACS; fields: SAMLResponse, RelayState).
    pub form: Form,
    /// The page showing it, with every hop from the first request on.
    pub page: Page,
    /// The URL Sekisho redirected the browser to: the IdP's SSO endpoint with the
    /// AuthnRequest (HTTP-Redirect binding).
    pub authn_request: Url,
}

impl AcsPost {
    /// The SAMLResponse, base64 as in the form.
    pub fn saml_response(&self) -> &str {
        self.form
            .field("SAMLResponse")
            .expect("the form has a SAMLResponse")
    }

    pub fn relay_state(&self) -> Option<&str> {
        self.form.field("RelayState")
    }

    /// The decoded Response XML.
    pub fn xml(&self) -> String {
        saml_xml::post_message(self.saml_response())
            .unwrap_or_else(|e| panic!("the SAMLResponse does not decode: {e}"))
    }

    /// The decoded AuthnRequest XML Sekisho sent.
    pub fn authn_request_xml(&self) -> String {
        saml_xml::redirect_message(&self.authn_request, "SAMLRequest")
            .unwrap_or_else(|e| panic!("Sekisho's AuthnRequest does not decode: {e}"))
    }

    /// This form with another SAMLResponse (base64 of `xml`).
    pub fn with_response_xml(&self, xml: &str) -> AcsPost {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(xml);
        let mut post = self.clone();
        for field in &mut post.form.fields {
            if field.0 == "SAMLResponse" {
                field.1 = encoded.clone();
            }
        }
        post
    }
}

/// A finished sign-in.
pub struct Login {
    pub post: AcsPost,
    /// The page the browser ended at (the app's echo), hops from the ACS POST on.
    pub page: Page,
}

/// What the ACS answered to [`SamlStack::post_acs`].
#[derive(Debug)]
pub struct AcsAnswer {
    pub response: Response,
    /// Sekisho's log lines written while it answered.
    pub log: Vec<String>,
    /// The Cookie header sent.
    pub sent_cookies: String,
}

impl AcsAnswer {
    /// Session cookies (`_sekisho`, `_sekisho_N`) the answer set with a value (removals left
    /// out).
    pub fn session_cookies_set(&self) -> Vec<String> {
        self.response
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.clone())
            .filter(|c| {
                let (name, value) = c
                    .split(';')
                    .next()
                    .and_then(|pair| pair.split_once('='))
                    .unwrap_or_default();
                super::browser_client::is_session_cookie(name.trim())
                    && !value.trim().is_empty()
                    && !c.to_ascii_lowercase().contains("max-age=0")
            })
            .collect()
    }

    /// The log lines other than the access log (the reason for a refusal), joined.
    pub fn reason_log(&self) -> String {
        self.log
            .iter()
            .filter(|l| !l.contains("sekisho::access"))
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn describe(&self) -> String {
        let body: String = self.response.body.chars().take(600).collect();
        format!(
            "  ACS answered {} {:?}\n  headers: {:?}\n  body: {body}\n  sent cookies: {}\n  sekisho log meanwhile:\n    {}",
            self.response.status,
            self.response.header("location"),
            self.response.headers,
            self.sent_cookies,
            self.log.join("\n    ")
        )
    }
}

/// The IdP's username/password form in `page` (the form with a `password` input).
pub fn idp_login_form(page: &Page) -> Option<Form> {
    forms(&page.body, &page.url)
        .into_iter()
        .find(|f| f.fields.iter().any(|(n, _)| n == "password"))
}

/// The auto-submitting form of the HTTP-POST binding in `page` (a form with a SAMLResponse or
/// SAMLRequest input).
pub fn saml_post_form(page: &Page) -> Option<Form> {
    forms(&page.body, &page.url).into_iter().find(|f| {
        f.fields
            .iter()
            .any(|(n, _)| n == "SAMLResponse" || n == "SAMLRequest")
    })
}

/// Every `<form>` of `html`: action resolved against `base`, named inputs with their values
/// (inputs without a name, submit buttons left out).
pub fn forms(html: &str, base: &Url) -> Vec<Form> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = lower[from..].find("<form") {
        let start = from + offset;
        let tag_end = lower[start..].find('>').map_or(html.len(), |i| start + i);
        let tag = &html[start..tag_end];
        let close = lower[tag_end..]
            .find("</form")
            .map_or(html.len(), |i| tag_end + i);
        let action = attribute(tag, "action").unwrap_or_default();
        let Ok(action) = base.join(&action) else {
            from = tag_end;
            continue;
        };
        let mut fields = Vec::new();
        let body = &html[tag_end..close];
        let body_lower = &lower[tag_end..close];
        let mut i = 0;
        while let Some(offset) = body_lower[i..].find("<input") {
            let input_start = i + offset;
            let input_end = body_lower[input_start..]
                .find('>')
                .map_or(body.len(), |j| input_start + j);
            let input = &body[input_start..input_end];
            let kind = attribute(input, "type")
                .unwrap_or_default()
                .to_ascii_lowercase();
            if let (Some(name), false) = (attribute(input, "name"), kind == "submit") {
                fields.push((name, attribute(input, "value").unwrap_or_default()));
            }
            i = input_end;
        }
        found.push(Form {
            id: attribute(tag, "id")
                .or_else(|| attribute(tag, "name"))
                .unwrap_or_default(),
            method: attribute(tag, "method").unwrap_or_else(|| "get".into()),
            action,
            fields,
        });
        from = close;
    }
    found
}

/// `name="value"` (or single quotes) in a tag, entities decoded.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(offset) = lower[from..].find(&format!("{name}=")) {
        let at = from + offset;
        from = at + name.len() + 1;
        let preceded = lower[..at]
            .chars()
            .next_back()
            .is_some_and(char::is_whitespace);
        if !preceded {
            continue;
        }
        let rest = &tag[at + name.len() + 1..];
        let quote = rest.chars().next()?;
        let value = if quote == '"' || quote == '\'' {
            let end = rest[1..].find(quote)?;
            &rest[1..1 + end]
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '>')
                .unwrap_or(rest.len());
            &rest[..end]
        };
        return Some(html_unescape(value));
    }
    None
}

fn html_unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#039;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn url_path(url: &str) -> String {
    Url::parse(url)
        .map(|u| u.path().to_owned())
        .unwrap_or_default()
}

fn path_string(path: &Path) -> String {
    path.to_str().expect("UTF-8 temporary path").to_owned()
}

/// The base configuration (`metadata`: the key and value naming the IdP's metadata), then
/// `settings`.
pub fn sekisho_config(
    public_url: &str,
    metadata: (&str, String),
    settings: &[(String, toml::Value)],
) -> String {
    let (metadata_key, metadata_value) = metadata;
    let base = format!(
        r#"
public_url = "{public_url}"
trusted_ips = ["{TRUSTED_CLIENT}"]

[client_ip]
header = "x-forwarded-for"
trusted_proxies = ["127.0.0.1/32"]

[session]
secret = "{SECRET}"
secure = false

[saml]
{metadata_key} = "{metadata_value}"
sp_entity_id = "{public_url}/saml/metadata"
name_id_format = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
allow_idp_initiated = false
allow_sha1 = false
clock_skew = "60s"

[saml.attributes]
user = "username"
email = "email"
groups = "groups"
"#
    );
    let mut table: Table = base.parse().expect("the base configuration is TOML");
    for (key, value) in settings {
        let mut path: Vec<&str> = key.split('.').collect();
        let last = path.pop().expect("a key");
        let mut current = &mut table;
        for section in path {
            current = current
                .entry(section)
                .or_insert_with(|| toml::Value::Table(Table::new()))
                .as_table_mut()
                .unwrap_or_else(|| panic!("{section} in {key} is not a table"));
        }
        current.insert(last.to_owned(), value.clone());
    }
    toml::to_string(&table).expect("configuration serialises")
}

/// The path of a file in `dir`, for configurations that name files.
pub fn file_in(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}
