//! oauth2-proxy's settings, as oauth2-proxy would use them, turned into Sekisho's keys: each
//! key written with the settings it came from, each setting that behaves differently in
//! Sekisho with a warning saying how, each one with no equivalent as an error (when it
//! changes who gets in or what the apps are told) or a warning that it is ignored.
//!
//! Every setting is taken once, by name, from [`Settings`]; a test checks that every option
//! marked [`Fate::Mapped`] is taken, so none can be dropped without a word.

use super::options::Fate;
use super::sources::{Origin, Setting, Value};

/// One Sekisho key to write, and why.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `""` for the top level, `client_ip`, `session`, ..., `upstream` for the `[[upstream]]`.
    pub section: &'static str,
    pub key: &'static str,
    pub value: toml::Value,
    /// Lines of the comment above the key.
    pub comment: Vec<String>,
    /// The oauth2-proxy settings it came from, for problems `sekisho check` finds in it.
    pub from: Vec<Origin>,
}

/// Something about one setting (or several) that the user must read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Where it was given: `--flag`, `FILE:LINE key`, `OAUTH2_PROXY_X`, `FILE: field`.
    pub at: String,
    pub text: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.at.is_empty() {
            f.write_str(&self.text)
        } else {
            write!(f, "{}: {}", self.at, self.text)
        }
    }
}

/// How the apps are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// nginx asks Sekisho with `auth_request` (oauth2-proxy's `static://` upstream, or none).
    AuthRequest,
    /// Sekisho proxies to the app (oauth2-proxy's `http://` upstream).
    Proxy,
}

/// Everything the migration says.
#[derive(Debug)]
pub struct Plan {
    pub mode: Mode,
    pub entries: Vec<Entry>,
    /// Settings carried over with no key to write (said in the header).
    pub notes: Vec<Finding>,
    /// Environment variables the user must set, with what to.
    pub secrets: Vec<(&'static str, String)>,
    pub warnings: Vec<Finding>,
    pub errors: Vec<Finding>,
}

/// The settings oauth2-proxy uses, taken one by one.
pub struct Settings(Vec<Setting>);

impl Settings {
    pub fn new(settings: Vec<Setting>) -> Self {
        Self(settings)
    }

    fn take(&mut self, key: &str) -> Option<Setting> {
        let at = self.0.iter().position(|s| s.spec.key == key)?;
        Some(self.0.remove(at))
    }

    /// Where a setting was given, with the lower-precedence places it overrode.
    fn peek(&self, key: &str) -> Option<&Setting> {
        self.0.iter().find(|s| s.spec.key == key)
    }
}

/// Where a setting came from, as written in messages: `--flag` (overriding `o.cfg:3 flag`).
fn at(setting: &Setting) -> String {
    setting.origin.to_string()
}

fn at_all(settings: &[&Setting]) -> String {
    settings
        .iter()
        .map(|s| at(s))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The comment line saying where a key came from.
fn source_line(settings: &[&Setting]) -> String {
    let mut line = format!("from {}", at_all(settings));
    let overridden: Vec<String> = settings
        .iter()
        .flat_map(|s| s.overrides.iter().map(ToString::to_string))
        .collect();
    if !overridden.is_empty() {
        line.push_str(&format!(" (over {})", overridden.join(", ")));
    }
    line
}

fn text(setting: &Setting) -> String {
    match &setting.value {
        Value::Text(t) => t.trim().to_owned(),
        other => other.to_string(),
    }
}

fn flag(setting: Option<&Setting>) -> Option<bool> {
    setting.and_then(|s| s.value.as_bool())
}

fn string(s: impl Into<String>) -> toml::Value {
    toml::Value::String(s.into())
}

fn strings(items: &[String]) -> toml::Value {
    toml::Value::Array(items.iter().cloned().map(toml::Value::String).collect())
}

struct Builder {
    settings: Settings,
    plan: Plan,
    /// The `provider` value, once [`provider`] has taken it.
    provider_kind: Option<String>,
}

impl Builder {
    fn set(
        &mut self,
        section: &'static str,
        key: &'static str,
        value: toml::Value,
        from: &[&Setting],
        why: &[&str],
    ) {
        let mut comment: Vec<String> = Vec::new();
        if !from.is_empty() {
            comment.push(source_line(from));
        }
        comment.extend(why.iter().map(|s| s.to_string()));
        self.plan
            .entries
            .retain(|e| !(e.section == section && e.key == key));
        self.plan.entries.push(Entry {
            section,
            key,
            value,
            comment,
            from: from.iter().map(|s| s.origin.clone()).collect(),
        });
    }

    fn warn(&mut self, at: String, text: impl Into<String>) {
        self.plan.warnings.push(Finding {
            at,
            text: text.into(),
        });
    }

    fn error(&mut self, at: String, text: impl Into<String>) {
        self.plan.errors.push(Finding {
            at,
            text: text.into(),
        });
    }

    fn note(&mut self, at: String, text: impl Into<String>) {
        self.plan.notes.push(Finding {
            at,
            text: text.into(),
        });
    }
}

/// Settings the alpha configuration set apart: (origin, why), unsupported and ignored.
pub type Apart = (Vec<(Origin, String)>, Vec<(Origin, String)>);

/// Maps the settings oauth2-proxy uses.
pub fn map(settings: Vec<Setting>, apart: Apart) -> Plan {
    let mut b = Builder {
        provider_kind: None,
        settings: Settings::new(Vec::new()),
        plan: Plan {
            mode: Mode::AuthRequest,
            entries: Vec::new(),
            notes: Vec::new(),
            secrets: Vec::new(),
            warnings: Vec::new(),
            errors: Vec::new(),
        },
    };
    let mut mapped = Vec::new();
    for setting in settings {
        match setting.spec.fate {
            Fate::Mapped => mapped.push(setting),
            Fate::Unsupported(why) if is_unset(&setting.value) => {
                b.warn(at(&setting), format!("ignored: set to nothing ({why})"))
            }
            Fate::Unsupported(why) => {
                b.error(at(&setting), format!("no equivalent in Sekisho: {why}"))
            }
            Fate::Ignored(why) => b.warn(at(&setting), format!("ignored: {why}")),
            Fate::Command => {}
        }
    }
    let (unsupported, ignored) = apart;
    for (origin, why) in unsupported {
        b.error(
            origin.to_string(),
            format!("no equivalent in Sekisho: {why}"),
        );
    }
    for (origin, why) in ignored {
        b.warn(origin.to_string(), format!("ignored: {why}"));
    }
    b.settings = Settings::new(mapped);

    upstreams(&mut b);
    listener(&mut b);
    client_ip(&mut b);
    redirects(&mut b);
    provider(&mut b);
    authorization(&mut b);
    session(&mut b);
    redis(&mut b);
    headers(&mut b);
    skip_auth(&mut b);
    logging(&mut b);
    for left in std::mem::take(&mut b.settings.0) {
        b.error(
            at(&left),
            "not carried over (the migrator does not know it)",
        );
    }
    b.plan
}

fn is_unset(value: &Value) -> bool {
    match value {
        Value::Bool(b) => !b,
        Value::Text(t) => t.trim().is_empty(),
        Value::List(items) => items.is_empty(),
        Value::Elsewhere(_) => false,
    }
}

/// `--upstream`: `static://202` means nginx asks with `auth_request`; an `http://` app means
/// Sekisho proxies.
fn upstreams(b: &mut Builder) {
    let Some(setting) = b.settings.take("upstreams") else {
        return;
    };
    let mut apps = Vec::new();
    for upstream in setting.value.items() {
        let scheme = upstream.split("://").next().unwrap_or_default();
        match scheme {
            "static" => {
                let code = upstream.trim_start_matches("static://").trim_end_matches('/');
                if code.len() == 3 && code.starts_with('2') {
                    b.warn(
                        at(&setting),
                        format!(
                            "`{upstream}` is no longer needed: oauth2-proxy answered {code} to every \
                             signed-in request so that nginx's auth_request could ask it at any path; \
                             Sekisho answers auth_request at /oauth2/auth (202, or 401/403), so point \
                             nginx's auth_request at /oauth2/auth"
                        ),
                    );
                } else {
                    b.error(
                        at(&setting),
                        format!("`{upstream}`: Sekisho answers auth_request with 202, never {code}"),
                    );
                }
            }
            "http" => match url::Url::parse(&upstream) {
                Ok(url) if matches!(url.path(), "" | "/") && url.host_str().is_some() => {
                    apps.push(format!(
                        "http://{}:{}",
                        url.host_str().unwrap_or_default(),
                        url.port_or_known_default().unwrap_or(80)
                    ))
                }
                Ok(url) => b.error(
                    at(&setting),
                    format!(
                        "`{upstream}`: oauth2-proxy sends {}* there; Sekisho chooses an app by the \
                         request's Host, never by its path (route the path in nginx instead)",
                        url.path()
                    ),
                ),
                Err(e) => b.error(at(&setting), format!("`{upstream}` is not a URL: {e}")),
            },
            "https" => b.error(
                at(&setting),
                format!("`{upstream}`: Sekisho talks plain http to apps (they sit on loopback or a private network)"),
            ),
            _ => b.error(
                at(&setting),
                format!("`{upstream}`: Sekisho proxies to http:// apps only (no files, no unix sockets)"),
            ),
        }
    }
    match apps.as_slice() {
        [] => {}
        [app] => {
            b.plan.mode = Mode::Proxy;
            b.set(
                "upstream",
                "host",
                string("*"),
                &[&setting],
                &["oauth2-proxy proxied every host to its upstream; \"*\" does the same"],
            );
            b.set("upstream", "url", string(app.clone()), &[&setting], &[]);
        }
        _ => b.error(
            at(&setting),
            format!(
                "{} apps: oauth2-proxy chose among them by path; Sekisho chooses by Host (one \
                 [[upstream]] per host name), so say which host serves which app",
                apps.len()
            ),
        ),
    }
}

fn listener(b: &mut Builder) {
    if let Some(setting) = b.settings.take("http_address") {
        let address = text(&setting);
        let bare = address
            .strip_prefix("http://")
            .or_else(|| address.strip_prefix("HTTP://"))
            .unwrap_or(&address);
        let listen = if let Some(port) = bare.strip_prefix(':') {
            Some(format!("0.0.0.0:{port}"))
        } else if let Some(port) = bare.strip_prefix("localhost:") {
            Some(format!("127.0.0.1:{port}"))
        } else if bare.parse::<std::net::SocketAddr>().is_ok() {
            Some(bare.to_owned())
        } else {
            None
        };
        match listen {
            Some(listen) => b.set("", "listen", string(listen), &[&setting], &[]),
            None => b.error(
                at(&setting),
                format!(
                    "`{address}`: Sekisho listens on an IP address and port (no unix socket, no fd)"
                ),
            ),
        }
    }
    if let Some(setting) = b.settings.take("https_address") {
        b.warn(
            at(&setting),
            "ignored: Sekisho does not terminate TLS; oauth2-proxy listened on it only with a \
             certificate (tls_cert_file)",
        );
    }
}

fn client_ip(b: &mut Builder) {
    let reverse = b.settings.take("reverse_proxy");
    let header = b.settings.take("real_client_ip_header");
    let proxies = b.settings.take("trusted_proxy_ips");
    let trusted = b.settings.take("trusted_ips");
    if let Some(trusted) = &trusted {
        b.set(
            "",
            "trusted_ips",
            strings(&trusted.value.items()),
            &[trusted],
            &["these clients pass without signing in, as with oauth2-proxy"],
        );
    }
    if flag(reverse.as_ref()) != Some(true) {
        if let Some(header) = &header {
            b.warn(
                at(header),
                "ignored: oauth2-proxy reads it only with reverse_proxy, which is not set",
            );
        }
        if let Some(proxies) = &proxies {
            b.warn(
                at(proxies),
                "ignored: oauth2-proxy reads it only with reverse_proxy",
            );
        }
        let mut from: Vec<&Setting> = Vec::new();
        if let Some(r) = &reverse {
            from.push(r);
        }
        b.set(
            "client_ip",
            "header",
            string("none"),
            &from,
            &["without reverse_proxy oauth2-proxy took the connecting address as the client's"],
        );
        return;
    }
    let reverse = reverse.expect("reverse_proxy is true");
    let name = header
        .as_ref()
        .map(text)
        .unwrap_or_else(|| "X-Real-IP".into());
    let sekisho = match name.to_ascii_lowercase().as_str() {
        "x-forwarded-for" => "x-forwarded-for",
        "x-real-ip" => "x-real-ip",
        _ => {
            b.error(
                header.as_ref().map(at).unwrap_or_else(|| at(&reverse)),
                format!(
                    "`{name}`: Sekisho reads the client address from X-Forwarded-For, X-Real-IP \
                     or Forwarded only"
                ),
            );
            return;
        }
    };
    let mut from = vec![&reverse];
    if let Some(h) = &header {
        from.push(h);
    }
    let why_header = if header.is_none() {
        "oauth2-proxy's default with reverse_proxy: X-Real-IP"
    } else {
        ""
    };
    b.set(
        "client_ip",
        "header",
        string(sekisho),
        &from,
        &[why_header]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>(),
    );
    let (what, why): (toml::Value, &str) = match &proxies {
        Some(p) => (strings(&p.value.items()), ""),
        None => (
            strings(&["127.0.0.1/32".into(), "::1/128".into()]),
            "PLACEHOLDER: loopback, right when nginx runs on this host; otherwise list the \
             addresses nginx (and any load balancer) connects to Sekisho from",
        ),
    };
    let proxy_from: Vec<&Setting> = proxies.iter().collect();
    b.set(
        "client_ip",
        "trusted_proxies",
        what,
        &proxy_from,
        &[why]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>(),
    );
    let sekisho_reads = if sekisho == "x-forwarded-for" {
        "Sekisho reads X-Forwarded-For from the right and believes it only from \
         client_ip.trusted_proxies, skipping them: the client is the first address no trusted \
         proxy vouches for"
    } else {
        "Sekisho believes X-Real-IP only when client_ip.trusted_proxies sent it"
    };
    if let Some(p) = &proxies {
        b.note(
            at(p),
            format!("as oauth2-proxy with trusted_proxy_ips: {sekisho_reads}"),
        );
        return;
    }
    let trusted_count = trusted.as_ref().map_or(0, |t| t.value.items().len());
    let how_oauth2_proxy = if sekisho == "x-forwarded-for" {
        format!(
            "oauth2-proxy took the left-most X-Forwarded-For address, which is whatever the client \
             wrote: a client anywhere could send `X-Forwarded-For: <an address in trusted_ips>` \
             and {}",
            if trusted_count > 0 {
                "pass without signing in"
            } else {
                "be logged and judged as that address"
            }
        )
    } else {
        "oauth2-proxy believed X-Real-IP from any peer, so a client could write its own".to_owned()
    };
    let mut places = vec![&reverse];
    if let Some(h) = &header {
        places.push(h);
    }
    b.warn(
        at_all(&places),
        format!(
            "{how_oauth2_proxy}. {sekisho_reads}; client_ip.trusted_proxies is a placeholder \
             (loopback): list there every proxy in front of Sekisho (oauth2-proxy's \
             trusted_proxy_ips), or every client resolves to the proxy's address"
        ),
    );
}

fn redirects(b: &mut Builder) {
    let prefix = b.settings.take("proxy_prefix");
    let prefix_path = prefix
        .as_ref()
        .map(text)
        .unwrap_or_else(|| "/oauth2".into());
    if let Some(p) = &prefix {
        if prefix_path.trim_end_matches('/') == "/oauth2" {
            b.note(at(p), "Sekisho's paths are under /oauth2 too");
        } else {
            b.warn(
                at(p),
                format!(
                    "`{prefix_path}`: Sekisho's paths are always under /oauth2 (/oauth2/auth, \
                     /oauth2/start, /oauth2/callback, ...): change nginx's locations and the \
                     provider's redirect URI"
                ),
            );
        }
    }
    match b.settings.take("redirect_url") {
        Some(setting) => match url::Url::parse(&text(&setting)) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
                let mut public =
                    format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
                if let Some(port) = url.port() {
                    public.push_str(&format!(":{port}"));
                }
                let callback = format!("{}/callback", prefix_path.trim_end_matches('/'));
                b.set(
                    "",
                    "public_url",
                    string(public),
                    &[&setting],
                    &["the provider sends browsers back to <public_url>/oauth2/callback"],
                );
                if url.path() != "/oauth2/callback" {
                    let mut msg = format!(
                        "the callback was {}; Sekisho's is /oauth2/callback: add \
                         <public_url>/oauth2/callback to the client's valid redirect URIs at the provider",
                        url.path()
                    );
                    if url.path() != callback {
                        msg.push_str(&format!(" (oauth2-proxy expected {callback})"));
                    }
                    b.warn(at(&setting), msg);
                }
            }
            _ => b.error(
                at(&setting),
                format!(
                    "`{}` is not an absolute http(s) URL; Sekisho needs one for public_url",
                    text(&setting)
                ),
            ),
        },
        None => {
            b.set(
                "",
                "public_url",
                string("https://auth.example.com"),
                &[],
                &[
                    "PLACEHOLDER: oauth2-proxy had no redirect_url (it used each request's host); \
                   Sekisho signs users in at one address: set the one browsers reach it at",
                ],
            );
            b.warn(
                String::new(),
                "no redirect_url: public_url is a placeholder (https://auth.example.com); set it to \
                 the address browsers reach Sekisho at",
            );
        }
    }
    if let Some(setting) = b.settings.take("whitelist_domains") {
        let mut rules = Vec::new();
        for domain in setting.value.items() {
            let (host, port) = match domain.rsplit_once(':') {
                Some((h, p)) if !h.contains(']') || h.ends_with(']') => {
                    (h.to_owned(), Some(p.to_owned()))
                }
                _ => (domain.clone(), None),
            };
            let host = host
                .strip_prefix("*.")
                .map(|h| format!(".{h}"))
                .unwrap_or(host);
            if let Some(port) = port {
                b.warn(
                    at(&setting),
                    format!(
                        "`{domain}`: Sekisho compares host names only, whatever the port (`:{port}` dropped)"
                    ),
                );
            }
            rules.push(host);
        }
        if rules.iter().any(|r| r.starts_with('.')) {
            b.note(
                at(&setting),
                "a domain written `.example.com` also admits example.com itself in Sekisho",
            );
        }
        b.set(
            "",
            "allowed_redirect_domains",
            strings(&rules),
            &[&setting],
            &[],
        );
    }
}

fn provider(b: &mut Builder) {
    let provider = b.settings.take("provider");
    let kind = provider
        .as_ref()
        .map(text)
        .unwrap_or_else(|| "google".into());
    b.provider_kind = Some(kind.clone());
    let issuer = b.settings.take("oidc_issuer_url");
    let client_id = b.settings.take("client_id");
    let secret = b.settings.take("client_secret");
    let secret_file = b.settings.take("client_secret_file");
    let scope = b.settings.take("scope");
    let groups_claim = b.settings.take("oidc_groups_claim");
    let email_claim = b.settings.take("oidc_email_claim");
    let user_id_claim = b.settings.take("user_id_claim");
    let prefer_email = b.settings.take("prefer_email_to_user");
    let unverified = b.settings.take("insecure_oidc_allow_unverified_email");
    let bearer = b.settings.take("skip_jwt_bearer_tokens");
    let audiences = b.settings.take("oidc_extra_audiences");
    let audience_claims = b.settings.take("oidc_audience_claims");
    let ca_files = b.settings.take("provider_ca_files");
    let pkce = b.settings.take("code_challenge_method");
    let pkce_forced = b.settings.take("force_code_challenge_method");
    let button = b.settings.take("skip_provider_button");
    let pass_token = b.settings.take("pass_access_token");

    let supported = matches!(kind.as_str(), "oidc" | "keycloak-oidc");
    if !supported {
        let place = provider.as_ref().map(at).unwrap_or_default();
        let text = match (kind.as_str(), &provider) {
            (_, None) => "no provider given: oauth2-proxy then signs in with Google, which Sekisho \
                          does not have; Sekisho signs in over OpenID Connect (keycloak-oidc, oidc) \
                          or SAML"
                .to_owned(),
            ("keycloak", _) => "`keycloak` (the legacy Keycloak provider): Sekisho talks to \
                                Keycloak over OpenID Connect; use keycloak-oidc with \
                                oidc_issuer_url = https://<keycloak>/realms/<realm>"
                .to_owned(),
            (other, _) => format!(
                "`{other}`: Sekisho has no such provider; it signs in over OpenID Connect \
                 (keycloak-oidc, oidc) or SAML, e.g. at a Keycloak realm brokering {other}"
            ),
        };
        b.error(place, text);
    }
    let section = "oidc";
    let provider_from: Vec<&Setting> = provider.iter().collect();
    match (&issuer, supported) {
        (Some(issuer), true) => {
            let mut from = provider_from.clone();
            from.push(issuer);
            b.set(section, "issuer_url", string(text(issuer)), &from, &[]);
        }
        (None, true) => b.error(
            provider.as_ref().map(at).unwrap_or_default(),
            format!("{kind} without oidc_issuer_url: Sekisho needs the issuer (https://<keycloak>/realms/<realm>)"),
        ),
        _ => {}
    }
    if !supported {
        return;
    }
    match &client_id {
        Some(id) => b.set(section, "client_id", string(text(id)), &[id], &[]),
        None => b.error(
            provider.as_ref().map(at).unwrap_or_default(),
            "no client_id: Sekisho needs the client's id at the provider",
        ),
    }
    let secret_from: Vec<&Setting> = secret.iter().chain(secret_file.iter()).collect();
    let where_secret = if secret_from.is_empty() {
        "oauth2-proxy's client secret".to_owned()
    } else if let Some(file) = &secret_file {
        format!("the client secret in {} ({})", text(file), at(file))
    } else {
        format!("the client secret of {}", at_all(&secret_from))
    };
    b.plan.secrets.push((
        "SEKISHO_OIDC__CLIENT_SECRET",
        format!("{where_secret}; never written to this file"),
    ));

    // oauth2-proxy's user is the subject.
    let mut user_why = vec![
        "oauth2-proxy's user (X-Auth-Request-User) is the `sub` claim; Sekisho's default is \
         preferred_username, which oauth2-proxy sent as X-Auth-Request-Preferred-Username",
    ];
    let mut user_claim = "sub".to_owned();
    let email = match &user_id_claim {
        Some(u) if text(u) != "email" => Some(u),
        _ => email_claim.as_ref(),
    };
    let email_name = email.map(text).unwrap_or_else(|| "email".into());
    let mut user_from: Vec<&Setting> = Vec::new();
    if flag(prefer_email.as_ref()) == Some(true) {
        user_claim = email_name.clone();
        user_why = vec!["prefer_email_to_user: the user is the email address"];
        user_from.extend(prefer_email.iter());
    } else if let Some(p) = &prefer_email {
        user_from.push(p);
    }
    b.set(
        section,
        "user_claim",
        string(user_claim),
        &user_from,
        &user_why,
    );
    let email_from: Vec<&Setting> = email_claim.iter().chain(user_id_claim.iter()).collect();
    if !email_from.is_empty() {
        b.set(
            section,
            "email_claim",
            string(email_name),
            &email_from,
            &["user_id_claim is oauth2-proxy's older name for the email claim"]
                [..usize::from(user_id_claim.is_some())],
        );
    }
    if let Some(g) = &groups_claim {
        b.set(section, "groups_claim", string(text(g)), &[g], &[]);
    }
    match &scope {
        Some(s) => {
            let mut scopes: Vec<String> = text(s).split_whitespace().map(str::to_owned).collect();
            let mut why = Vec::new();
            if !scopes.iter().any(|x| x == "openid") {
                scopes.insert(0, "openid".into());
                why.push("openid added: Sekisho signs in over OpenID Connect");
            }
            b.set(section, "scopes", strings(&scopes), &[s], &why);
        }
        None if kind == "oidc" && b.settings.peek("allowed_groups").is_some() => b.set(
            section,
            "scopes",
            strings(&[
                "openid".into(),
                "email".into(),
                "profile".into(),
                "groups".into(),
            ]),
            &provider_from,
            &["oauth2-proxy asks for `groups` too with provider oidc and allowed_groups"],
        ),
        None => {}
    }
    if let Some(u) = &unverified {
        b.set(
            section,
            "allow_unverified_email",
            toml::Value::Boolean(flag(Some(u)).unwrap_or(false)),
            &[u],
            &[],
        );
    }
    if let Some(t) = &pass_token {
        b.set(
            section,
            "pass_access_token",
            toml::Value::Boolean(flag(Some(t)).unwrap_or(false)),
            &[t],
            &["true: the access token goes along as X-Auth-Request-Access-Token"],
        );
    }
    if let Some(t) = &bearer {
        let on = flag(Some(t)).unwrap_or(false);
        b.set(
            section,
            "accept_bearer_tokens",
            toml::Value::Boolean(on),
            &[t],
            &[],
        );
        if on {
            b.warn(
                at(t),
                "Sekisho accepts `Authorization: Bearer` access tokens of its issuer, signed with \
                 the issuer's keys, whose `aud` or `azp` names oidc.bearer_audiences (the client \
                 id); oauth2-proxy verified them as ID tokens for the client id",
            );
        }
    }
    if let Some(a) = &audiences {
        let mut list = vec![client_id.as_ref().map(text).unwrap_or_default()];
        list.extend(a.value.items());
        list.retain(|s| !s.is_empty());
        b.set(
            section,
            "bearer_audiences",
            strings(&list),
            &[a],
            &["the client id and oauth2-proxy's extra audiences"],
        );
        b.warn(
            at(a),
            "Sekisho accepts the extra audiences for bearer tokens only; an ID token from sign-in \
             must still name the client id",
        );
    }
    if let Some(c) = &audience_claims {
        if c.value.items() != ["aud"] {
            b.warn(
                at(c),
                "ignored: Sekisho checks `aud` (and `azp` for bearer tokens)",
            );
        } else {
            b.note(at(c), "Sekisho checks `aud` too");
        }
    }
    if let Some(ca) = &ca_files {
        match ca.value.items().as_slice() {
            [] => {}
            [one] => b.set(section, "ca_file", string(one.clone()), &[ca], &[]),
            many => b.error(
                at(ca),
                format!(
                    "{} files: Sekisho reads one CA bundle (oidc.ca_file): concatenate them into one PEM file",
                    many.len()
                ),
            ),
        }
    }
    for p in pkce.iter().chain(pkce_forced.iter()) {
        if text(p).eq_ignore_ascii_case("S256") {
            b.note(at(p), "Sekisho always uses PKCE with S256");
        } else {
            b.warn(
                at(p),
                format!("`{}`: Sekisho always uses PKCE with S256", text(p)),
            );
        }
    }
    if let Some(p) = &button {
        b.note(
            at(p),
            "Sekisho has no sign-in button: it sends browsers straight to the provider",
        );
    }
}

fn authorization(b: &mut Builder) {
    let domains = b.settings.take("email_domains");
    let groups = b.settings.take("allowed_groups");
    let keycloak_groups = b.settings.take("keycloak_groups");
    let roles = b.settings.take("allowed_roles");
    let provider = b.provider_kind.clone();
    match &domains {
        Some(d) => {
            let items = d.value.items();
            if items.iter().any(|x| x == "*") {
                b.note(
                    at(d),
                    "`*`: any address, as Sekisho's default (no allowed_email_domains)",
                );
            } else {
                let wild: Vec<&String> = items
                    .iter()
                    .filter(|x| x.starts_with('.') || x.starts_with("*."))
                    .collect();
                if !wild.is_empty() {
                    b.error(
                        at(d),
                        format!(
                            "{}: Sekisho matches an address's domain exactly, with no subdomain \
                             wildcard; list each domain",
                            wild.iter()
                                .map(|w| format!("`{w}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                } else {
                    b.set(
                        "authorization",
                        "allowed_email_domains",
                        strings(&items),
                        &[d],
                        &["only addresses the provider marks email_verified count, as with oauth2-proxy"],
                    );
                }
            }
        }
        None => b.warn(
            String::new(),
            "no email_domains: oauth2-proxy refuses to start without it (or \
             authenticated_emails_file); Sekisho lets every signed-in user through unless \
             [authorization] restricts it",
        ),
    }
    let mut group_list = Vec::new();
    let mut group_from: Vec<&Setting> = Vec::new();
    for g in groups.iter().chain(keycloak_groups.iter()) {
        group_list.extend(g.value.items());
        group_from.push(g);
    }
    if !group_list.is_empty() {
        b.set(
            "authorization",
            "allowed_groups",
            strings(&group_list),
            &group_from,
            &["Keycloak group paths (/admins) match with or without the leading slash"],
        );
    }
    let Some(roles) = roles else {
        return;
    };
    let client_id = b
        .plan
        .entries
        .iter()
        .find(|e| e.section == "oidc" && e.key == "client_id")
        .and_then(|e| e.value.as_str().map(str::to_owned));
    let mut names = Vec::new();
    let mut claims = Vec::new();
    for role in roles.value.items() {
        match role.split_once(':') {
            Some((client, name)) => {
                if Some(client) != client_id.as_deref() {
                    claims.push(format!("resource_access.{client}.roles"));
                }
                names.push(name.to_owned());
            }
            None => names.push(role.clone()),
        }
    }
    if names.is_empty() {
        return;
    }
    if provider.as_deref() != Some("keycloak-oidc") {
        b.warn(
            at(&roles),
            "oauth2-proxy applied allowed_roles with keycloak-oidc only; Sekisho applies them \
             with any provider: they are carried over",
        );
    }
    b.set(
        "authorization",
        "allowed_roles",
        strings(&names),
        &[&roles],
        &["`client:role` is written `role`: Sekisho reads realm roles and the client roles of oidc.roles_claims"],
    );
    b.warn(
        at(&roles),
        "Sekisho puts realm roles and client roles in one list, without oauth2-proxy's \
         `client:` prefix: a realm role named like an allowed client role passes too",
    );
    if !claims.is_empty() {
        let mut all = vec![
            "realm_access.roles".to_owned(),
            "resource_access.{client_id}.roles".to_owned(),
        ];
        claims.dedup();
        all.extend(claims);
        b.set(
            "oidc",
            "roles_claims",
            strings(&all),
            &[&roles],
            &["the roles of the other clients named in allowed_roles"],
        );
    }
    if !group_list.is_empty() {
        b.warn(
            format!("{}, {}", at_all(&group_from), at(&roles)),
            "oauth2-proxy let a user in with one of the allowed groups OR one of the allowed \
             roles; Sekisho requires both: one of allowed_groups AND one of allowed_roles",
        );
    }
}

fn session(b: &mut Builder) {
    let section = "session";
    if let Some(n) = b.settings.take("cookie_name") {
        b.set(section, "cookie_name", string(text(&n)), &[&n], &[]);
    }
    if let Some(d) = b.settings.take("cookie_domains") {
        match d.value.items().as_slice() {
            [] => {}
            [one] => b.set(section, "domain", string(one.clone()), &[&d], &[]),
            many => b.error(
                at(&d),
                format!(
                    "{} domains: oauth2-proxy chose one by the request's host; Sekisho sets one \
                     cookie domain (session.domain)",
                    many.len()
                ),
            ),
        }
    }
    if let Some(p) = b.settings.take("cookie_path") {
        b.set(section, "path", string(text(&p)), &[&p], &[]);
    }
    if let Some(s) = b.settings.take("cookie_secure") {
        b.set(
            section,
            "secure",
            toml::Value::Boolean(flag(Some(&s)).unwrap_or(true)),
            &[&s],
            &[],
        );
    }
    if let Some(e) = b.settings.take("cookie_expire") {
        let given = text(&e);
        match humantime::parse_duration(&given) {
            Ok(d) if d.is_zero() => b.warn(
                at(&e),
                "0 (a cookie for the browser's session): Sekisho's sessions always have a lifetime; \
                 session.lifetime keeps its default (12h)",
            ),
            Ok(d) if d.as_secs() < 60 => b.error(at(&e), format!("`{given}`: Sekisho's sessions last at least one minute")),
            Ok(_) => b.set(section, "lifetime", string(given), &[&e], &[]),
            Err(_) => b.error(at(&e), format!("`{given}` is not a duration like 168h or 12h30m")),
        }
    }
    if let Some(r) = b.settings.take("cookie_refresh") {
        if matches!(text(&r).as_str(), "" | "0" | "0s") {
            b.note(at(&r), "no refresh on a timer, as in Sekisho");
        } else {
            b.warn(
                at(&r),
                "ignored: Sekisho refreshes the provider's tokens shortly before they expire \
                 (oidc.refresh_before_expiry), not on a fixed interval",
            );
        }
    }
    if let Some(h) = b.settings.take("cookie_httponly") {
        if flag(Some(&h)) == Some(false) {
            b.warn(at(&h), "ignored: Sekisho's cookies are always HttpOnly");
        } else {
            b.note(at(&h), "Sekisho's cookies are always HttpOnly");
        }
    }
    if let Some(s) = b.settings.take("cookie_samesite") {
        if text(&s).is_empty() {
            b.note(at(&s), "Sekisho's session cookie is SameSite=Lax");
        } else {
            b.warn(
                at(&s),
                format!(
                    "ignored: `{}`: Sekisho's session cookie is SameSite=Lax",
                    text(&s)
                ),
            );
        }
    }
    let secret = b.settings.take("cookie_secret");
    let secret_file = b.settings.take("cookie_secret_file");
    let mut what = "a new secret: run `sekisho secret`".to_owned();
    if let Some(s) = &secret {
        if let Some(len) = s.value.as_text().map(oauth2_proxy_secret_len) {
            if len < 32 {
                b.warn(
                    at(s),
                    format!(
                        "the cookie secret is {len} bytes; Sekisho's session.secret needs at \
                         least 32: generate one with `sekisho secret`"
                    ),
                );
            }
        }
        what.push_str(&format!(" (it replaces cookie_secret, {})", at(s)));
    } else if let Some(f) = &secret_file {
        what.push_str(&format!(" (it replaces cookie_secret_file, {})", at(f)));
    }
    what.push_str("; sessions of oauth2-proxy are not carried over: users sign in once more");
    b.plan.secrets.push(("SEKISHO_SESSION__SECRET", what));
}

/// How many bytes oauth2-proxy makes of a cookie secret: base64 of 16, 24 or 32 bytes is
/// decoded, anything else taken as it is.
fn oauth2_proxy_secret_len(secret: &str) -> usize {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let decoded = [URL_SAFE, URL_SAFE_NO_PAD, STANDARD, STANDARD_NO_PAD]
        .iter()
        .find_map(|e| e.decode(secret.trim()).ok())
        .map(|b| b.len())
        .filter(|n| [16, 24, 32].contains(n));
    decoded.unwrap_or(secret.trim().len())
}

fn redis(b: &mut Builder) {
    let store = b.settings.take("session_store_type");
    let url = b.settings.take("redis_connection_url");
    let sentinel = b.settings.take("redis_use_sentinel");
    let sentinels = b.settings.take("redis_sentinel_connection_urls");
    let master = b.settings.take("redis_sentinel_master_name");
    let cluster = b.settings.take("redis_use_cluster");
    let nodes = b.settings.take("redis_cluster_connection_urls");
    let user = b.settings.take("redis_username");
    let password = b.settings.take("redis_password");
    let sentinel_password = b.settings.take("redis_sentinel_password");
    let ca = b.settings.take("redis_ca_path");
    let insecure = b.settings.take("redis_insecure_skip_tls_verify");
    let kind = store.as_ref().map(text).unwrap_or_else(|| "cookie".into());
    let redis_settings: Vec<&Setting> = [
        &url,
        &sentinel,
        &sentinels,
        &master,
        &cluster,
        &nodes,
        &user,
        &password,
        &sentinel_password,
        &ca,
        &insecure,
    ]
    .into_iter()
    .flatten()
    .collect();
    match kind.as_str() {
        "cookie" => {
            if let Some(s) = &store {
                b.set("session", "store", string("cookie"), &[s], &[]);
            }
            for s in redis_settings {
                b.warn(
                    at(s),
                    "ignored: the sessions are in cookies (session_store_type is not redis)",
                );
            }
            return;
        }
        "redis" => {}
        other => {
            b.error(
                store.as_ref().map(at).unwrap_or_default(),
                format!("`{other}`: Sekisho keeps sessions in cookies or Redis"),
            );
            return;
        }
    }
    let store = store.expect("redis was given");
    b.set("session", "store", string("redis"), &[&store], &[]);
    let hosts = |s: &Setting| -> Vec<String> {
        s.value
            .items()
            .iter()
            .map(|u| {
                let rest = u.split_once("://").map_or(u.as_str(), |(_, r)| r);
                let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
                rest.trim_end_matches('/')
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    let tls_of = |s: &Setting| s.value.items().iter().any(|u| u.starts_with("rediss://"));
    let mut from: Vec<&Setting> = vec![&store];
    let mut had_credentials = false;
    let target = if flag(sentinel.as_ref()) == Some(true) {
        match (&sentinels, &master) {
            (Some(list), Some(m)) => {
                from.extend([sentinel.as_ref().expect("set"), list, m]);
                had_credentials = list.value.items().iter().any(|u| u.contains('@'));
                let scheme = if tls_of(list) {
                    "rediss+sentinel"
                } else {
                    "redis+sentinel"
                };
                Some(format!("{scheme}://{}/{}", hosts(list).join(","), text(m)))
            }
            _ => {
                b.error(
                    at(sentinel.as_ref().expect("set")),
                    "redis_use_sentinel without redis_sentinel_connection_urls and redis_sentinel_master_name",
                );
                None
            }
        }
    } else if flag(cluster.as_ref()) == Some(true) {
        match &nodes {
            Some(list) => {
                from.extend([cluster.as_ref().expect("set"), list]);
                had_credentials = list.value.items().iter().any(|u| u.contains('@'));
                let scheme = if tls_of(list) {
                    "rediss+cluster"
                } else {
                    "redis+cluster"
                };
                Some(format!("{scheme}://{}", hosts(list).join(",")))
            }
            None => {
                b.error(
                    at(cluster.as_ref().expect("set")),
                    "redis_use_cluster without redis_cluster_connection_urls",
                );
                None
            }
        }
    } else {
        match &url {
            Some(u) => {
                from.push(u);
                let given = text(u);
                match url::Url::parse(&given) {
                    Ok(mut parsed) => {
                        had_credentials =
                            !parsed.username().is_empty() || parsed.password().is_some();
                        let _ = parsed.set_username("");
                        let _ = parsed.set_password(None);
                        let mut out = parsed.to_string();
                        if parsed.scheme() == "unix" {
                            out = format!("redis+unix://{}", parsed.path());
                        }
                        Some(out)
                    }
                    Err(e) => {
                        b.error(at(u), format!("`{given}` is not a URL: {e}"));
                        None
                    }
                }
            }
            None => {
                b.error(
                    at(&store),
                    "session_store_type redis without redis_connection_url",
                );
                None
            }
        }
    };
    for unused in [&sentinels, &master, &nodes].into_iter().flatten() {
        if !from.iter().any(|f| std::ptr::eq(*f, unused)) {
            b.warn(
                at(unused),
                "ignored: oauth2-proxy does not read it with this kind of Redis",
            );
        }
    }
    if let Some(u) = &url {
        if !from.iter().any(|f| std::ptr::eq(*f, u)) {
            b.warn(
                at(u),
                "ignored: oauth2-proxy does not read it with sentinels or a cluster",
            );
        }
    }
    if let Some(target) = target {
        b.set(
            "session",
            "redis_url",
            string(target),
            &from,
            &["without credentials: give the URL with them in SEKISHO_SESSION__REDIS_URL"],
        );
    }
    let credentials: Vec<&Setting> = [&user, &password, &sentinel_password]
        .into_iter()
        .flatten()
        .collect();
    if had_credentials || !credentials.is_empty() {
        let mut what =
            "the same URL with the user and password (redis://user:PASSWORD@host:6379/0)"
                .to_owned();
        if !credentials.is_empty() {
            what.push_str(&format!(", from {}", at_all(&credentials)));
        }
        b.plan.secrets.push(("SEKISHO_SESSION__REDIS_URL", what));
    }
    if let Some(sp) = &sentinel_password {
        b.warn(
            at(sp),
            "Sekisho uses the URL's one user and password for the sentinels and for Redis itself",
        );
    }
    if let Some(c) = &ca {
        b.set("session", "redis_ca_file", string(text(c)), &[c], &[]);
    }
    if let Some(i) = &insecure {
        if flag(Some(i)) == Some(true) {
            b.warn(at(i), "ignored: Sekisho always verifies Redis's certificate; give a private CA with session.redis_ca_file");
        } else {
            b.note(at(i), "Sekisho always verifies Redis's certificate");
        }
    }
    b.note(
        at(&store),
        "Sekisho's sessions in Redis are its own: keep them under their own prefix \
         (session.redis_key_prefix, sekisho:) or in another database",
    );
}

/// Identity headers, and what oauth2-proxy did that Sekisho does not.
fn headers(b: &mut Builder) {
    let pass_user = b.settings.take("pass_user_headers");
    let pass_basic = b.settings.take("pass_basic_auth");
    let pass_authz = b.settings.take("pass_authorization_header");
    let set_authz = b.settings.take("set_authorization_header");
    let set_basic = b.settings.take("set_basic_auth");
    let set_xauth = b.settings.take("set_xauthrequest");
    let strip = b.settings.take("skip_auth_strip_headers");
    let host = b.settings.take("pass_host_header");
    let websockets = b.settings.take("proxy_websockets");
    let timeout = b.settings.take("upstream_timeout");
    for (s, what) in [
        (&pass_authz, "the ID token to apps in Authorization: Bearer"),
        (&set_authz, "the ID token to nginx in Authorization: Bearer"),
        (&set_basic, "Basic credentials to nginx"),
    ] {
        if let Some(s) = s {
            if flag(Some(s)) == Some(true) {
                b.error(
                    at(s),
                    format!("no equivalent in Sekisho: oauth2-proxy sent {what}; Sekisho sends identity headers only (and the access token with oidc.pass_access_token)"),
                );
            }
        }
    }
    if let Some(s) = &set_xauth {
        b.note(
            at(s),
            "Sekisho always answers auth_request with X-Auth-Request-User, -Email, -Groups and -Preferred-Username",
        );
    }
    if let Some(s) = &strip {
        if flag(Some(s)) == Some(false) {
            b.warn(
                at(s),
                "ignored: Sekisho always removes identity headers a client sent",
            );
        } else {
            b.note(
                at(s),
                "Sekisho always removes identity headers a client sent",
            );
        }
    }
    let proxy_only: Vec<&Setting> = [&pass_user, &pass_basic, &host, &websockets, &timeout]
        .into_iter()
        .flatten()
        .collect();
    if b.plan.mode == Mode::AuthRequest {
        for s in proxy_only {
            b.note(
                at(s),
                "only about proxying to an upstream: nginx does it here",
            );
        }
        return;
    }
    // oauth2-proxy's defaults: both true, X-Forwarded-User and friends to the app.
    let forwarded =
        flag(pass_user.as_ref()).unwrap_or(true) || flag(pass_basic.as_ref()).unwrap_or(true);
    let from: Vec<&Setting> = pass_user.iter().chain(pass_basic.iter()).collect();
    if forwarded {
        b.set(
            "proxy",
            "identity_headers",
            string("x-forwarded"),
            &from,
            &["oauth2-proxy sent apps X-Forwarded-User, -Email, -Groups and -Preferred-Username"],
        );
    } else {
        b.warn(
            at_all(&from),
            "Sekisho always sends apps the identity headers (X-Auth-Request-User, ...)",
        );
    }
    if let Some(h) = &host {
        b.set(
            "upstream",
            "preserve_host",
            toml::Value::Boolean(flag(Some(h)).unwrap_or(true)),
            &[h],
            &[],
        );
    }
    if let Some(w) = &websockets {
        if flag(Some(w)) == Some(false) {
            b.warn(
                at(w),
                "ignored: Sekisho always passes WebSocket upgrades to the app",
            );
        } else {
            b.note(at(w), "Sekisho always passes WebSocket upgrades to the app");
        }
    }
    if let Some(t) = &timeout {
        match humantime::parse_duration(&text(t)) {
            Ok(d) if !d.is_zero() => b.set(
                "proxy",
                "timeout",
                string(text(t)),
                &[t],
                &["Sekisho's is how long an app may go without progress, not the whole answer"],
            ),
            _ => b.error(at(t), format!("`{}` is not a duration like 30s", text(t))),
        }
    }
}

/// `skip_auth_regex`, `skip_auth_routes`, `skip_auth_preflight`: routes with no sign-in.
fn skip_auth(b: &mut Builder) {
    let regexes = b.settings.take("skip_auth_regex");
    let routes = b.settings.take("skip_auth_routes");
    let preflight = b.settings.take("skip_auth_preflight");
    if let Some(p) = preflight.as_ref().filter(|p| flag(Some(p)) != Some(true)) {
        b.note(at(p), "OPTIONS requests need a session, as in Sekisho");
    }
    let preflight = preflight.filter(|p| flag(Some(p)) == Some(true));
    let given: Vec<&Setting> = regexes
        .iter()
        .chain(routes.iter())
        .chain(preflight.iter())
        .collect();
    if given.is_empty() {
        return;
    }
    if b.plan.mode == Mode::AuthRequest {
        for s in &given {
            b.warn(
                at(s),
                "not carried over: Sekisho answering nginx's auth_request has no routes without \
                 sign-in; nginx decides: serve those paths from a location without auth_request \
                 (and answer OPTIONS there for skip_auth_preflight). oauth2-proxy applied it only \
                 when nginx passed X-Forwarded-Uri",
            );
        }
        return;
    }
    let mut rules = Vec::new();
    let mut unanchored = false;
    let mut add = |method: Option<&str>, regex: &str, rules: &mut Vec<String>| {
        let anchored = regex.starts_with('^');
        if !anchored {
            unanchored = true;
        }
        let pattern = if anchored {
            regex.to_owned()
        } else {
            format!(".*(?:{regex})")
        };
        rules.push(match method {
            Some(m) => format!("{m} {pattern}"),
            None => pattern,
        });
    };
    if let Some(r) = &regexes {
        for regex in r.value.items() {
            add(None, &regex, &mut rules);
        }
    }
    if let Some(r) = &routes {
        for route in r.value.items() {
            if route.contains("!=") {
                b.error(
                    at(r),
                    format!("`{route}`: Sekisho has no negated route (every path but ...); list the paths that need no sign-in"),
                );
                continue;
            }
            match route.split_once('=') {
                Some((method, regex))
                    if !method.is_empty() && method.bytes().all(|c| c.is_ascii_alphabetic()) =>
                {
                    add(Some(&method.to_ascii_uppercase()), regex, &mut rules)
                }
                _ => add(None, &route, &mut rules),
            }
        }
    }
    if preflight.is_some() {
        rules.push("OPTIONS ^/".to_owned());
    }
    let mut why =
        vec!["anchored at the start of the path, matched against every way servers read it"];
    if unanchored {
        why.push("`.*(?:...)`: oauth2-proxy's pattern had no `^` and matched anywhere in the path");
    }
    b.set("upstream", "skip_auth", strings(&rules), &given, &why);
    let mut text = "oauth2-proxy matched each pattern, unanchored, against the percent-decoded \
                    path (the query left out); Sekisho anchors a rule at the start of the path \
                    and lets a request through only when the rule matches the path as every kind \
                    of server reads it (as sent, decoded, dot segments resolved, `;` parameters \
                    dropped) and with case ignored; where they differ the request needs a session"
        .to_owned();
    if unanchored {
        text.push_str(
            ". A pattern without `^` is written `.*(?:pattern)`, matching anywhere as before: \
             anchor it if you can (`/public/` also matched /admin/public/)",
        );
    }
    b.warn(at_all(&given), text);
}

fn logging(b: &mut Builder) {
    if let Some(r) = b.settings.take("request_logging") {
        b.set(
            "log",
            "access",
            toml::Value::Boolean(flag(Some(&r)).unwrap_or(true)),
            &[&r],
            &[],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::oauth2_proxy::options::OPTIONS;
    use crate::migrate::oauth2_proxy::sources::read_flags;

    fn plan(flags: &[&str]) -> Plan {
        let words: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        map(read_flags(&words).unwrap().settings, Default::default())
    }

    fn value(plan: &Plan, section: &str, key: &str) -> Option<String> {
        plan.entries
            .iter()
            .find(|e| e.section == section && e.key == key)
            .map(|e| e.value.to_string())
    }

    const STORY: &[&str] = &[
        "--provider=keycloak-oidc",
        "--oidc-issuer-url=https://id.example.com/realms/corp",
        "--client-id=app",
        "--redirect-url=https://auth.example.com/oauth2/callback",
        "--email-domain=*",
        "--reverse-proxy",
        "--real-client-ip-header=X-Forwarded-For",
        "--trusted-ip=203.0.113.0/24",
        "--upstream=static://202",
    ];

    #[test]
    fn the_story_maps_with_its_three_warnings() {
        let plan = plan(STORY);
        assert!(plan.errors.is_empty(), "{:?}", plan.errors);
        assert_eq!(plan.mode, Mode::AuthRequest);
        let cases: &[(&str, &str, &str)] = &[
            ("", "public_url", "\"https://auth.example.com\""),
            ("", "trusted_ips", "[\"203.0.113.0/24\"]"),
            ("client_ip", "header", "\"x-forwarded-for\""),
            (
                "client_ip",
                "trusted_proxies",
                "[\"127.0.0.1/32\", \"::1/128\"]",
            ),
            (
                "oidc",
                "issuer_url",
                "\"https://id.example.com/realms/corp\"",
            ),
            ("oidc", "client_id", "\"app\""),
            ("oidc", "user_claim", "\"sub\""),
        ];
        for (section, key, wanted) in cases {
            assert_eq!(
                value(&plan, section, key).as_deref(),
                Some(*wanted),
                "{section}.{key}"
            );
        }
        let warnings: Vec<String> = plan.warnings.iter().map(ToString::to_string).collect();
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("--upstream: `static://202` is no longer needed")),
            "{warnings:#?}"
        );
        assert!(warnings.iter().any(|w| w.starts_with("--reverse-proxy, --real-client-ip-header: oauth2-proxy took the left-most X-Forwarded-For")), "{warnings:#?}");
        assert!(
            plan.secrets
                .iter()
                .any(|(v, _)| *v == "SEKISHO_OIDC__CLIENT_SECRET")
        );
        assert!(
            plan.secrets
                .iter()
                .any(|(v, _)| *v == "SEKISHO_SESSION__SECRET")
        );
    }

    #[test]
    fn proxy_mode_carries_skip_auth_with_its_warning() {
        let mut flags = STORY.to_vec();
        flags.retain(|f| !f.starts_with("--upstream"));
        flags.extend([
            "--upstream=http://127.0.0.1:8080/",
            "--skip-auth-regex=^/api/",
            "--skip-auth-route=POST=^/hooks/",
            "--skip-auth-route=/health$",
            "--skip-auth-preflight",
            "--trusted-proxy-ip=10.0.0.0/8",
        ]);
        let plan = plan(&flags);
        assert!(plan.errors.is_empty(), "{:?}", plan.errors);
        assert_eq!(plan.mode, Mode::Proxy);
        assert_eq!(value(&plan, "upstream", "host").as_deref(), Some("\"*\""));
        assert_eq!(
            value(&plan, "upstream", "url").as_deref(),
            Some("\"http://127.0.0.1:8080\"")
        );
        assert_eq!(
            value(&plan, "upstream", "skip_auth").as_deref(),
            Some("[\"^/api/\", \"POST ^/hooks/\", \".*(?:/health$)\", \"OPTIONS ^/\"]")
        );
        assert_eq!(
            value(&plan, "proxy", "identity_headers").as_deref(),
            Some("\"x-forwarded\"")
        );
        assert_eq!(
            value(&plan, "client_ip", "trusted_proxies").as_deref(),
            Some("[\"10.0.0.0/8\"]")
        );
        assert!(plan.warnings.iter().any(|w| {
            w.text
                .starts_with("oauth2-proxy matched each pattern, unanchored")
        }));
    }

    #[test]
    fn what_sekisho_cannot_do_is_an_error_naming_the_option() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--provider=github"],
                "--provider: `github`: Sekisho has no such provider",
            ),
            (
                &["--github-org=acme"],
                "--github-org: no equivalent in Sekisho",
            ),
            (
                &["--htpasswd-file=/etc/htpasswd"],
                "--htpasswd-file: no equivalent",
            ),
            (
                &["--upstream=http://a:1/app/"],
                "--upstream: `http://a:1/app/`",
            ),
            (&["--upstream=https://a"], "plain http"),
            (
                &["--upstream=http://a:1", "--upstream=http://b:1"],
                "2 apps",
            ),
            (&["--email-domain=.example.com"], "no subdomain wildcard"),
            (
                &["--cookie-domain=.a.com", "--cookie-domain=.b.com"],
                "2 domains",
            ),
            (
                &["--pass-authorization-header"],
                "--pass-authorization-header: no equivalent",
            ),
            (
                &["--skip-auth-route=GET!=^/x", "--upstream=http://a:1"],
                "no negated route",
            ),
            (
                &[
                    "--reverse-proxy",
                    "--real-client-ip-header=CF-Connecting-IP",
                ],
                "`CF-Connecting-IP`",
            ),
            (
                &["--tls-cert-file=/c.pem"],
                "--tls-cert-file: no equivalent",
            ),
        ];
        for (flags, wanted) in cases {
            let name = |f: &str| f.split('=').next().unwrap_or_default().to_owned();
            let mut all: Vec<&str> = STORY
                .iter()
                .copied()
                .filter(|f| flags.iter().all(|g| name(g) != name(f)))
                .collect();
            all.extend(flags.iter());
            let plan = plan(&all);
            let errors: Vec<String> = plan.errors.iter().map(ToString::to_string).collect();
            assert!(
                errors.iter().any(|e| e.contains(wanted)),
                "{flags:?}: {errors:#?}"
            );
        }
    }

    #[test]
    fn keycloak_roles_and_groups() {
        let mut flags = STORY.to_vec();
        flags.extend([
            "--allowed-group=/admins",
            "--allowed-role=app:editor",
            "--allowed-role=other:viewer",
            "--allowed-role=realm-admin",
        ]);
        let plan = plan(&flags);
        assert_eq!(
            value(&plan, "authorization", "allowed_groups").as_deref(),
            Some("[\"/admins\"]")
        );
        assert_eq!(
            value(&plan, "authorization", "allowed_roles").as_deref(),
            Some("[\"editor\", \"viewer\", \"realm-admin\"]")
        );
        assert_eq!(
            value(&plan, "oidc", "roles_claims").as_deref(),
            Some(
                "[\"realm_access.roles\", \"resource_access.{client_id}.roles\", \"resource_access.other.roles\"]"
            )
        );
        assert!(
            plan.warnings
                .iter()
                .any(|w| w.text.contains("Sekisho requires both"))
        );
    }

    #[test]
    fn secrets_are_never_written() {
        let mut flags = STORY.to_vec();
        flags.extend([
            "--client-secret=s3cr3t-value",
            "--cookie-secret=0123456789abcdef0123456789abcdef",
        ]);
        let plan = plan(&flags);
        for entry in &plan.entries {
            assert!(!entry.value.to_string().contains("s3cr3t"), "{entry:?}");
            assert!(
                !entry.value.to_string().contains("0123456789abcdef"),
                "{entry:?}"
            );
        }
        // 32 characters of base64 decode to 24 bytes, which oauth2-proxy uses as such.
        assert_eq!(
            oauth2_proxy_secret_len("0123456789abcdef0123456789abcdef"),
            24
        );
        assert!(plan.warnings.iter().any(|w| w.text.contains("is 24 bytes")));
    }

    #[test]
    fn redis_forms() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--redis-connection-url=redis://:pw@redis:6379/1"],
                "\"redis://redis:6379/1\"",
            ),
            (
                &[
                    "--redis-use-sentinel",
                    "--redis-sentinel-master-name=mymaster",
                    "--redis-sentinel-connection-urls=redis://s1:26379,redis://s2:26379",
                ],
                "\"redis+sentinel://s1:26379,s2:26379/mymaster\"",
            ),
            (
                &[
                    "--redis-use-cluster",
                    "--redis-cluster-connection-urls=redis://n1:6379,redis://n2:6379",
                ],
                "\"redis+cluster://n1:6379,n2:6379\"",
            ),
        ];
        for (flags, wanted) in cases {
            let mut all = STORY.to_vec();
            all.push("--session-store-type=redis");
            all.extend(flags.iter());
            let plan = plan(&all);
            assert!(plan.errors.is_empty(), "{:?}", plan.errors);
            assert_eq!(
                value(&plan, "session", "redis_url").as_deref(),
                Some(*wanted),
                "{flags:?}"
            );
        }
    }

    /// Every option the table marks Mapped is taken by the mapping, so none is dropped.
    #[test]
    fn every_mapped_option_is_taken() {
        for spec in OPTIONS.iter().filter(|s| s.fate == Fate::Mapped) {
            let value = match spec.kind {
                super::super::options::Kind::Bool => Value::Bool(true),
                super::super::options::Kind::List => Value::List(vec!["x".into()]),
                _ => Value::Text("1".into()),
            };
            let setting = Setting {
                spec,
                value,
                origin: Origin::Flag(format!("--{}", spec.flag)),
                overrides: Vec::new(),
            };
            let mut settings = vec![setting];
            for (flag, value) in [
                ("provider", "oidc"),
                ("oidc-issuer-url", "https://id.example.com/realms/corp"),
                ("client-id", "app"),
            ] {
                if flag != spec.flag {
                    settings.push(Setting {
                        spec: super::super::options::by_flag(flag).unwrap(),
                        value: Value::Text(value.into()),
                        origin: Origin::Flag(format!("--{flag}")),
                        overrides: Vec::new(),
                    });
                }
            }
            let plan = map(settings, Default::default());
            let named = |f: &Finding| f.at.contains(spec.flag);
            let said = plan
                .entries
                .iter()
                .any(|e| e.from.iter().any(|o| o.to_string().contains(spec.flag)))
                || plan.notes.iter().any(named)
                || plan.warnings.iter().any(named)
                || plan
                    .errors
                    .iter()
                    .any(|e| named(e) && !e.text.contains("does not know"))
                || plan
                    .secrets
                    .iter()
                    .any(|(_, what)| what.contains(spec.flag));
            assert!(said, "--{} is dropped without a word: {plan:#?}", spec.flag);
        }
    }
}
