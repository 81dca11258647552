//! The configuration as written: plain strings and lists, every key with a default.
//! Nothing here is trusted until `validate` has turned it into a [`super::Config`].

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct RawConfig {
    pub listen: String,
    pub public_url: String,
    pub trusted_ips: Vec<String>,
    pub allowed_redirect_domains: Vec<String>,
    pub shutdown_timeout: String,
    pub connections: RawConnections,
    pub client_ip: RawClientIp,
    pub session: RawSession,
    pub log: RawLog,
    pub authorization: RawAuthorization,
    /// Present only when the file (or the environment) has an `[oidc]` section.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc: Option<RawOidc>,
    /// Present only when the file (or the environment) has a `[saml]` section.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saml: Option<RawSaml>,
    pub proxy: RawProxy,
    /// `[[upstream]]` entries: apps to proxy to. None means Sekisho proxies nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstream: Vec<RawUpstream>,
}

impl RawConfig {
    /// Every key with its default, optional sections included: what environment variables
    /// are typed against.
    pub fn schema() -> Self {
        Self {
            oidc: Some(RawOidc::default()),
            saml: Some(RawSaml::default()),
            ..Self::default()
        }
    }
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:4180".into(),
            public_url: "http://127.0.0.1:4180".into(),
            trusted_ips: Vec::new(),
            allowed_redirect_domains: Vec::new(),
            shutdown_timeout: "30s".into(),
            connections: RawConnections::default(),
            client_ip: RawClientIp::default(),
            session: RawSession::default(),
            log: RawLog::default(),
            authorization: RawAuthorization::default(),
            oidc: None,
            saml: None,
            proxy: RawProxy::default(),
            upstream: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct RawConnections {
    pub max: i64,
    pub header_read_timeout: String,
    pub idle_timeout: String,
    pub body_read_timeout: String,
    pub max_header_bytes: i64,
    pub max_headers: i64,
}

impl Default for RawConnections {
    fn default() -> Self {
        Self {
            max: 10_000,
            header_read_timeout: "10s".into(),
            // Longer than nginx's upstream `keepalive_timeout` (60s by default), so nginx always
            // closes an idle connection first and never sends a request on one we are closing.
            idle_timeout: "75s".into(),
            // nginx's `client_body_timeout`.
            body_read_timeout: "60s".into(),
            max_header_bytes: 64 * 1024,
            max_headers: 100,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct RawClientIp {
    pub header: String,
    pub trusted_proxies: Vec<String>,
}

impl Default for RawClientIp {
    fn default() -> Self {
        Self {
            header: "x-forwarded-for".into(),
            trusted_proxies: vec!["127.0.0.1/32".into(), "::1/128".into()],
        }
    }
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RawSession {
    pub store: String,
    pub cookie_name: String,
    pub secret: String,
    pub lifetime: String,
    pub secure: bool,
    pub domain: String,
    pub path: String,
    /// `store = "redis"` only: where Redis is.
    pub redis_url: String,
    /// Extra CA certificates (PEM) for `rediss://`; empty: the system's.
    pub redis_ca_file: String,
    pub redis_key_prefix: String,
    pub redis_timeout: String,
    pub redis_connect_timeout: String,
}

impl Default for RawSession {
    fn default() -> Self {
        Self {
            store: "cookie".into(),
            cookie_name: "_sekisho".into(),
            secret: String::new(),
            lifetime: "12h".into(),
            secure: true,
            domain: String::new(),
            path: "/".into(),
            redis_url: String::new(),
            redis_ca_file: String::new(),
            redis_key_prefix: "sekisho:".into(),
            redis_timeout: "1s".into(),
            redis_connect_timeout: "2s".into(),
        }
    }
}

impl std::fmt::Debug for RawSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSession")
            .field("store", &self.store)
            .field("cookie_name", &self.cookie_name)
            .field("secret", &"<redacted>")
            .field("lifetime", &self.lifetime)
            .field("secure", &self.secure)
            .field("domain", &self.domain)
            .field("path", &self.path)
            .field(
                "redis_url",
                &super::redis::parse_url(&self.redis_url).map(|t| t.describe()),
            )
            .field("redis_ca_file", &self.redis_ca_file)
            .field("redis_key_prefix", &self.redis_key_prefix)
            .field("redis_timeout", &self.redis_timeout)
            .field("redis_connect_timeout", &self.redis_connect_timeout)
            .finish()
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct RawLog {
    pub format: String,
    pub level: String,
    pub access: bool,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
            access: true,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct RawAuthorization {
    pub allowed_groups: Vec<String>,
    pub allowed_roles: Vec<String>,
    pub allowed_email_domains: Vec<String>,
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RawOidc {
    pub issuer_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
    pub user_claim: String,
    pub email_claim: String,
    pub groups_claim: String,
    pub roles_claims: Vec<String>,
    pub strip_group_slash: bool,
    pub refresh_before_expiry: String,
    pub pass_access_token: bool,
    pub accept_bearer_tokens: bool,
    pub bearer_audiences: Vec<String>,
    pub ca_file: String,
    pub http_timeout: String,
    pub clock_skew: String,
    pub allow_unverified_email: bool,
}

impl Default for RawOidc {
    fn default() -> Self {
        Self {
            issuer_url: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            user_claim: "preferred_username".into(),
            email_claim: "email".into(),
            groups_claim: "groups".into(),
            roles_claims: vec![
                "realm_access.roles".into(),
                "resource_access.{client_id}.roles".into(),
            ],
            strip_group_slash: false,
            refresh_before_expiry: "60s".into(),
            pass_access_token: false,
            accept_bearer_tokens: false,
            bearer_audiences: Vec::new(),
            ca_file: String::new(),
            http_timeout: "10s".into(),
            clock_skew: "60s".into(),
            allow_unverified_email: false,
        }
    }
}

impl std::fmt::Debug for RawOidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawOidc")
            .field("issuer_url", &self.issuer_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct RawSaml {
    pub idp_metadata_url: String,
    pub idp_metadata_file: String,
    pub sp_entity_id: String,
    pub name_id_format: String,
    pub sp_key_file: String,
    pub sp_cert_file: String,
    pub allow_idp_initiated: bool,
    pub allow_sha1: bool,
    pub clock_skew: String,
    pub metadata_refresh: String,
    pub attributes: RawSamlAttributes,
}

impl Default for RawSaml {
    fn default() -> Self {
        Self {
            idp_metadata_url: String::new(),
            idp_metadata_file: String::new(),
            sp_entity_id: String::new(),
            name_id_format: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into(),
            sp_key_file: String::new(),
            sp_cert_file: String::new(),
            allow_idp_initiated: false,
            allow_sha1: false,
            clock_skew: "60s".into(),
            metadata_refresh: "1h".into(),
            attributes: RawSamlAttributes::default(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct RawSamlAttributes {
    pub user: String,
    pub email: String,
    pub groups: String,
    pub roles: String,
}

impl Default for RawSamlAttributes {
    fn default() -> Self {
        Self {
            user: "username".into(),
            email: "email".into(),
            groups: "groups".into(),
            roles: "roles".into(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct RawProxy {
    pub timeout: String,
    pub connect_timeout: String,
    pub identity_headers: String,
}

impl Default for RawProxy {
    fn default() -> Self {
        Self {
            timeout: "60s".into(),
            connect_timeout: "5s".into(),
            identity_headers: "x-auth-request".into(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct RawUpstream {
    pub host: String,
    pub url: String,
    pub allowed_groups: Vec<String>,
    pub allowed_roles: Vec<String>,
    pub allowed_email_domains: Vec<String>,
    pub skip_auth: Vec<String>,
    pub preserve_host: bool,
    /// Empty: `proxy.timeout`.
    pub timeout: String,
}

impl Default for RawUpstream {
    fn default() -> Self {
        Self {
            host: String::new(),
            url: String::new(),
            allowed_groups: Vec::new(),
            allowed_roles: Vec::new(),
            allowed_email_domains: Vec::new(),
            skip_auth: Vec::new(),
            preserve_host: true,
            timeout: String::new(),
        }
    }
}
