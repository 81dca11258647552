use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

use super::raw::RawConfig;
use super::{
    ClientIpConfig, Config, CookieSettings, LogConfig, LogFormat, Problem, Secret, SessionConfig,
    StoreKind, connections, oidc, saml, upstream,
};
use crate::auth::{DomainRule, Policy};
use crate::net::{ForwardedHeader, Networks};

/// Checks every key, recording every problem; returns a `Config` only if all keys were valid.
pub fn validate(
    raw: &RawConfig,
    problems: &mut Vec<Problem>,
    name: &dyn Fn(String) -> String,
) -> Option<Config> {
    let mut report =
        |key: &str, message: String| problems.push(Problem::new(name(key.to_owned()), message));

    let listen = raw
        .listen
        .parse::<SocketAddr>()
        .map_err(|_| {
            report(
                "listen",
                format!("`{}` is not an address like 127.0.0.1:4180", raw.listen),
            )
        })
        .ok();
    let public_url = parse_public_url(&raw.public_url)
        .map_err(|m| report("public_url", m))
        .ok();
    let trusted_ips = networks(&raw.trusted_ips, "trusted_ips", &mut report);
    let shutdown_timeout = duration(&raw.shutdown_timeout)
        .map_err(|m| report("shutdown_timeout", m))
        .ok();

    let connections = connections::validate(&raw.connections, &mut report);

    let header = ForwardedHeader::from_name(&raw.client_ip.header)
        .ok_or_else(|| {
            report(
                "client_ip.header",
                format!(
                    "unknown header `{}`; expected one of {}",
                    raw.client_ip.header,
                    ForwardedHeader::NAMES
                ),
            )
        })
        .ok();
    let trusted_proxies = networks(
        &raw.client_ip.trusted_proxies,
        "client_ip.trusted_proxies",
        &mut report,
    );

    let s = &raw.session;
    let store = match s.store.as_str() {
        "cookie" => Some(StoreKind::Cookie),
        "redis" => super::redis::validate(s, &mut report).map(StoreKind::Redis),
        other => {
            report(
                "session.store",
                format!("unknown store `{other}`; expected `cookie` or `redis`"),
            );
            None
        }
    };
    if !is_cookie_name(&s.cookie_name) {
        report(
            "session.cookie_name",
            format!("`{}` is not a valid cookie name", s.cookie_name),
        );
    }
    let secret = Secret::parse(&s.secret)
        .map_err(|m| report("session.secret", m))
        .ok();
    let lifetime = match duration(&s.lifetime) {
        Ok(d) if d < Duration::from_secs(60) => {
            report(
                "session.lifetime",
                format!("`{}` is shorter than one minute", s.lifetime),
            );
            None
        }
        Ok(d) => Some(d),
        Err(m) => {
            report("session.lifetime", m);
            None
        }
    };
    if !s.path.starts_with('/') || s.path.contains(';') {
        report(
            "session.path",
            format!("`{}` must be a path starting with `/`", s.path),
        );
    }
    if s.domain.contains([';', ',', ' ']) {
        report("session.domain", format!("`{}` is not a domain", s.domain));
    }

    let format = match raw.log.format.as_str() {
        "text" => Some(LogFormat::Text),
        "json" => Some(LogFormat::Json),
        other => {
            report(
                "log.format",
                format!("unknown format `{other}`; expected `text` or `json`"),
            );
            None
        }
    };
    if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&raw.log.level) {
        report(
            "log.level",
            format!("`{}` is not a log filter: {e}", raw.log.level),
        );
    }

    let mut redirect_domains = Vec::new();
    for (i, entry) in raw.allowed_redirect_domains.iter().enumerate() {
        match DomainRule::parse(entry) {
            Ok(rule) => redirect_domains.push(rule),
            Err(m) => report(&format!("allowed_redirect_domains[{i}]"), m),
        }
    }
    let a = &raw.authorization;
    // Unverified addresses exist only with OpenID providers (SAML has no such notion).
    let accept_unverified_email = raw.oidc.as_ref().is_some_and(|o| o.allow_unverified_email);
    let authorization = Policy::new(
        a.allowed_groups.clone(),
        a.allowed_roles.clone(),
        a.allowed_email_domains.clone(),
    )
    .accepting_unverified_email(accept_unverified_email);
    // `None` when absent, `Some(None)` when present but invalid.
    let oidc = raw
        .oidc
        .as_ref()
        .map(|section| oidc::validate(section, &mut report));
    let saml = raw
        .saml
        .as_ref()
        .map(|section| saml::validate(section, &mut report));
    let proxy = upstream::validate_proxy(&raw.proxy, &mut report);
    let upstreams = upstream::validate_upstreams(
        &raw.upstream,
        proxy.as_ref().map(|p| p.timeout),
        &mut report,
    )
    .map(|list| {
        list.into_iter()
            .map(|mut u| {
                u.policy = u.policy.accepting_unverified_email(accept_unverified_email);
                u
            })
            .collect::<Vec<_>>()
    });

    Some(Config {
        listen: listen?,
        allowed_redirect_domains: redirect_domains,
        authorization,
        oidc: oidc.map(|section| section.ok_or(())).transpose().ok()?,
        saml: saml.map(|section| section.ok_or(())).transpose().ok()?,
        proxy: proxy?,
        upstreams: upstreams?,
        public_url: public_url?,
        trusted_ips: trusted_ips?,
        shutdown_timeout: shutdown_timeout?,
        connections: connections?,
        client_ip: ClientIpConfig {
            header: header?,
            trusted_proxies: trusted_proxies?,
        },
        session: SessionConfig {
            store: store?,
            cookie: CookieSettings {
                name: s.cookie_name.clone(),
                secure: s.secure,
                domain: (!s.domain.is_empty()).then(|| s.domain.clone()),
                path: s.path.clone(),
            },
            secret: secret?,
            lifetime: lifetime?,
        },
        log: LogConfig {
            format: format?,
            level: raw.log.level.clone(),
            access: raw.log.access,
        },
    })
}

fn networks(
    entries: &[String],
    key: &str,
    report: &mut impl FnMut(&str, String),
) -> Option<Networks> {
    Networks::parse(entries)
        .map_err(|bad| {
            for (i, reason) in bad {
                report(&format!("{key}[{i}]"), reason);
            }
        })
        .ok()
}

pub(super) fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|_| format!("`{text}` is not a duration like 30s, 15m or 12h"))
}

fn parse_public_url(text: &str) -> Result<Url, String> {
    let url = http_url(text)?;
    // Every redirect to Sekisho's own pages is built on it: a browser would carry these
    // credentials to each one (found by fuzzing `rd`).
    if !url.username().is_empty() || url.password().is_some() {
        // Not echoed: the message would put the password in the log.
        return Err(
            "carries a user name or password; write the URL browsers reach Sekisho at, without them"
                .to_owned(),
        );
    }
    Ok(url)
}

pub(super) fn http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("`{text}` must be an http or https URL with a host"));
    }
    Ok(url)
}

/// RFC 6265 `token`: visible ASCII except separators.
fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}
