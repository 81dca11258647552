//! Configuration: a TOML file, overridden by `SEKISHO_*` environment variables, validated
//! into a typed [`Config`] whose fields cannot hold invalid values.

mod connections;
mod env;
mod oidc;
mod raw;
mod redis;
mod saml;
mod upstream;
mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use crate::auth::{DomainRule, Policy};
use crate::net::{ForwardedHeader, Networks};
pub use connections::ConnectionsConfig;
pub use oidc::{ClaimNames, OidcConfig};
pub use raw::RawConfig;
pub use redis::{Credentials, RedisConfig, RedisNode, RedisTarget, parse_url as parse_redis_url};
pub use saml::{SamlAttributes, SamlConfig, SpSigning};
pub use upstream::{ProxyConfig, UpstreamConfig};

/// A configuration key and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl Problem {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Why a configuration was refused. Every variant means: do not start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{} configuration problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    /// Every problem found, one per offending key.
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            Self::Invalid(problems) => problems.clone(),
            other => vec![Problem::new("config", other.to_string())],
        }
    }
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub public_url: Url,
    /// Clients in these networks are let through without a session.
    pub trusted_ips: Networks,
    /// Hosts besides our own that `rd` may send a browser to.
    pub allowed_redirect_domains: Vec<DomainRule>,
    pub shutdown_timeout: Duration,
    pub connections: ConnectionsConfig,
    pub client_ip: ClientIpConfig,
    pub session: SessionConfig,
    pub log: LogConfig,
    /// The global authorization policy; locations may narrow it.
    pub authorization: Policy,
    pub oidc: Option<OidcConfig>,
    pub saml: Option<SamlConfig>,
    pub proxy: ProxyConfig,
    /// Apps to proxy to; empty when Sekisho only answers nginx's `auth_request`.
    pub upstreams: Vec<UpstreamConfig>,
}

#[derive(Clone, Debug)]
pub struct ClientIpConfig {
    pub header: ForwardedHeader,
    pub trusted_proxies: Networks,
}

#[derive(Clone, Debug)]
pub struct SessionConfig {
    pub store: StoreKind,
    pub cookie: CookieSettings,
    pub secret: Secret,
    pub lifetime: Duration,
}

#[derive(Clone, Debug)]
pub enum StoreKind {
    /// The whole session, sealed, in the browser's cookies.
    Cookie,
    /// A ticket in the cookie, the session (encrypted with the ticket's key) in Redis.
    Redis(RedisConfig),
}

/// How session cookies are written.
#[derive(Clone, Debug)]
pub struct CookieSettings {
    pub name: String,
    pub secure: bool,
    pub domain: Option<String>,
    pub path: String,
}

/// Key material for sessions: at least 32 bytes, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<[u8]>);

impl Secret {
    pub const MIN_LEN: usize = 32;

    /// Accepts base64 (standard or URL-safe) of at least 32 bytes, or a plain string of at
    /// least 32 bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
        let text = text.trim();
        if text.is_empty() {
            return Err("is empty; generate one with `sekisho secret`".into());
        }
        let decoded = [STANDARD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok());
        let bytes = match decoded {
            Some(bytes) if bytes.len() >= Self::MIN_LEN => bytes,
            _ => text.as_bytes().to_vec(),
        };
        if bytes.len() < Self::MIN_LEN {
            return Err(format!(
                "is {} bytes; at least {} are needed (generate one with `sekisho secret`)",
                bytes.len(),
                Self::MIN_LEN
            ));
        }
        Ok(Self(bytes.into()))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

/// A credential such as a client secret: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing_subscriber::EnvFilter` directive, checked at load.
    pub level: String,
    /// Whether every request is logged.
    pub access: bool,
}

impl Config {
    /// Settings that are valid but probably not what was meant; logged at start.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let proxies = &self.client_ip.trusted_proxies;
        if self.trusted_ips.overlaps(proxies) {
            warnings.push(
                "trusted_ips overlaps client_ip.trusted_proxies: a request whose forwarded chain holds only trusted \
                 proxies resolves to one of them and skips login"
                    .into(),
            );
        }
        if self.client_ip.header != ForwardedHeader::None && proxies.is_empty() {
            warnings.push(
                "client_ip.trusted_proxies is empty: forwarded headers are never believed".into(),
            );
        }
        if self.public_url.scheme() == "https" && !self.session.cookie.secure {
            warnings.push("public_url is https but session.secure is false: session cookies may travel in clear".into());
        }
        if self.connections.idle_timeout <= Duration::from_secs(60) {
            warnings.push(format!(
                "connections.idle_timeout is {:?}: if nginx keeps idle connections to Sekisho longer (its upstream \
                 keepalive_timeout is 60s by default), a request it sends just as Sekisho closes one fails; \
                 keep idle_timeout above nginx's",
                self.connections.idle_timeout
            ));
        }
        warnings.extend(self.proxy_warnings());
        warnings
    }

    /// Proxying that cannot work as configured: the session cookie not reaching an app's
    /// host (sign-in would loop), or no way to sign in at all.
    fn proxy_warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if !self.upstreams.is_empty() && self.oidc.is_none() && self.saml.is_none() {
            warnings.push(
                "upstreams are configured without [oidc] or [saml]: only trusted networks and skip_auth routes reach them"
                    .into(),
            );
        }
        let cookie_domain = self
            .session
            .cookie
            .domain
            .as_deref()
            .map(|d| d.trim_start_matches('.').to_ascii_lowercase());
        for (i, upstream) in self.upstreams.iter().enumerate() {
            let Some(name) = upstream.host.name() else {
                continue;
            };
            let reached = match &cookie_domain {
                Some(domain) => name == domain || name.ends_with(&format!(".{domain}")),
                None => self.public_url.host_str() == Some(name),
            };
            if !reached {
                warnings.push(format!(
                    "upstream[{i}] serves {name}, but the session cookie is set for {}: browsers will not send it there and sign-in will loop; set session.domain",
                    cookie_domain.as_deref().or(self.public_url.host_str()).unwrap_or("public_url's host")
                ));
            }
        }
        warnings
    }

    /// Hosts `rd` may send a browser to: `allowed_redirect_domains` and every upstream's host.
    pub fn redirect_domains(&self) -> Vec<DomainRule> {
        let mut rules = self.allowed_redirect_domains.clone();
        rules.extend(self.upstreams.iter().filter_map(|u| u.host.redirect_rule()));
        rules
    }

    /// Reads `path`, applies the process environment, validates.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        Self::from_toml(&text, std::env::vars()).map_err(|e| match e {
            ConfigError::Syntax { message, .. } => ConfigError::Syntax {
                path: path.into(),
                message,
            },
            other => other,
        })
    }

    /// Parses `text` with the given environment (only `SEKISHO_*` variables are read).
    pub fn from_toml(
        text: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: PathBuf::new(),
                    message: e.to_string(),
                })?;
        let defaults = toml::Table::try_from(RawConfig::schema()).expect("defaults serialise");
        let mut problems = Vec::new();
        let origins = env::overlay(&mut table, &defaults, vars, &mut problems);
        let name = |key: String| match origins.get(key.split('[').next().unwrap_or_default()) {
            Some(var) => format!("{key} (from {var})"),
            None => key,
        };

        let mut unknown = Vec::new();
        let mut note_unknown = |path: serde_ignored::Path| unknown.push(path.to_string());
        let ignoring =
            serde_ignored::Deserializer::new(toml::Value::Table(table), &mut note_unknown);
        let raw: Option<RawConfig> = serde_path_to_error::deserialize(ignoring)
            .map_err(|e| {
                problems.push(Problem::new(
                    name(e.path().to_string()),
                    e.inner().to_string(),
                ))
            })
            .ok();
        problems.extend(
            unknown
                .into_iter()
                .map(|key| Problem::new(indexed(&key), "unknown key")),
        );

        let config = raw.and_then(|raw| validate::validate(&raw, &mut problems, &name));
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(ConfigError::Invalid(problems)),
        }
    }
}

/// `upstream.0.hots` as `upstream[0].hots`, the way every other problem names list entries.
fn indexed(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 2);
    for (i, part) in path.split('.').enumerate() {
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            if i > 0 {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests;
