//! The configuration as written: plain strings and lists, every key with a default.
//! Nothing here is trusted until `validate` has turned it into a [`super::Config`].

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct RawConfig {
    pub listen: String,
    pub public_url: String,
    pub trusted_ips: Vec<String>,
    pub shutdown_timeout: String,
    pub client_ip: RawClientIp,
    pub session: RawSession,
    pub log: RawLog,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:4180".into(),
            public_url: "http://127.0.0.1:4180".into(),
            trusted_ips: Vec::new(),
            shutdown_timeout: "30s".into(),
            client_ip: RawClientIp::default(),
            session: RawSession::default(),
            log: RawLog::default(),
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
