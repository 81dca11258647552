//! `[proxy]` and `[[upstream]]`: the apps Sekisho stands in front of as a reverse proxy.

use std::str::FromStr;
use std::time::Duration;

use http::HeaderValue;
use http::uri::Authority;
use url::Url;

use super::raw::{RawProxy, RawUpstream};
use super::validate::duration;
use crate::auth::{HeaderStyle, Policy};
use crate::gate::SkipRule;
use crate::upstream::HostPattern;

/// Settings shared by every upstream.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// How long an app may go without making progress: accepting the request body, sending
    /// the response head, or sending the next part of the response body.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// The names identity headers are sent to apps under.
    pub identity_headers: HeaderStyle,
}

/// One app behind the proxy.
#[derive(Clone, Debug)]
pub struct UpstreamConfig {
    pub host: HostPattern,
    /// Where the app listens: `host:port`, from `url`.
    pub authority: Authority,
    /// The same, ready to be sent as `Host` when the client's is not preserved.
    pub authority_header: HeaderValue,
    /// On top of `[authorization]`: who may reach this app.
    pub policy: Policy,
    pub skip_auth: Vec<SkipRule>,
    /// Send the client's `Host` to the app rather than the app's own address.
    pub preserve_host: bool,
    /// `proxy.timeout`, unless the upstream sets its own.
    pub timeout: Duration,
}

impl UpstreamConfig {
    /// How logs and errors name this upstream.
    pub fn label(&self) -> String {
        format!("{} ({})", self.host, self.authority)
    }
}

pub fn validate_proxy(
    raw: &RawProxy,
    report: &mut impl FnMut(&str, String),
) -> Option<ProxyConfig> {
    let timeout = positive_duration(&raw.timeout)
        .map_err(|m| report("proxy.timeout", m))
        .ok();
    let connect_timeout = positive_duration(&raw.connect_timeout)
        .map_err(|m| report("proxy.connect_timeout", m))
        .ok();
    let identity_headers = HeaderStyle::from_name(&raw.identity_headers)
        .ok_or_else(|| {
            report(
                "proxy.identity_headers",
                format!(
                    "unknown style `{}`; expected one of {}",
                    raw.identity_headers,
                    HeaderStyle::NAMES
                ),
            )
        })
        .ok();
    Some(ProxyConfig {
        timeout: timeout?,
        connect_timeout: connect_timeout?,
        identity_headers: identity_headers?,
    })
}

/// Every `[[upstream]]`; `default_timeout` is `proxy.timeout` (absent when that was invalid,
/// which is reported already).
pub fn validate_upstreams(
    raw: &[RawUpstream],
    default_timeout: Option<Duration>,
    report: &mut impl FnMut(&str, String),
) -> Option<Vec<UpstreamConfig>> {
    let mut upstreams = Vec::with_capacity(raw.len());
    let mut hosts: Vec<Option<HostPattern>> = Vec::with_capacity(raw.len());
    let mut valid = true;
    for (i, entry) in raw.iter().enumerate() {
        // Checked apart from the rest of the entry, so a duplicate shows with other mistakes.
        let host = HostPattern::parse(&entry.host).ok();
        if let Some(j) = host
            .as_ref()
            .and_then(|h| hosts.iter().position(|seen| seen.as_ref() == Some(h)))
        {
            report(
                &format!("upstream[{i}].host"),
                format!("`{}` is already served by upstream[{j}]", entry.host.trim()),
            );
            valid = false;
        }
        hosts.push(host);
        match validate_one(i, entry, default_timeout, report) {
            Some(upstream) => upstreams.push(upstream),
            None => valid = false,
        }
    }
    valid.then_some(upstreams)
}

fn validate_one(
    i: usize,
    raw: &RawUpstream,
    default_timeout: Option<Duration>,
    report: &mut impl FnMut(&str, String),
) -> Option<UpstreamConfig> {
    let key = |field: &str| format!("upstream[{i}].{field}");
    let host = if raw.host.trim().is_empty() {
        report(
            &key("host"),
            "is required: the Host this app is reached by, or \"*\" for the default".into(),
        );
        None
    } else {
        HostPattern::parse(&raw.host)
            .map_err(|m| report(&key("host"), m))
            .ok()
    };
    let authority = upstream_authority(&raw.url)
        .map_err(|m| report(&key("url"), m))
        .ok();
    let mut skip_auth = Vec::with_capacity(raw.skip_auth.len());
    let mut rules_valid = true;
    for (r, rule) in raw.skip_auth.iter().enumerate() {
        match SkipRule::parse(rule) {
            Ok(rule) => skip_auth.push(rule),
            Err(m) => {
                report(&key(&format!("skip_auth[{r}]")), m);
                rules_valid = false;
            }
        }
    }
    let timeout = if raw.timeout.trim().is_empty() {
        default_timeout
    } else {
        positive_duration(&raw.timeout)
            .map_err(|m| report(&key("timeout"), m))
            .ok()
    };
    let authority = authority?;
    Some(UpstreamConfig {
        host: host?,
        authority_header: HeaderValue::from_str(authority.as_str()).ok()?,
        authority,
        policy: Policy::new(
            raw.allowed_groups.clone(),
            raw.allowed_roles.clone(),
            raw.allowed_email_domains.clone(),
        ),
        skip_auth: rules_valid.then_some(skip_auth)?,
        preserve_host: raw.preserve_host,
        timeout: timeout?,
    })
}

/// `http://host[:port]` and nothing more: Sekisho speaks plain HTTP/1.1 to apps, which sit
/// on loopback or a private network; a path prefix would need rewriting the app's links.
fn upstream_authority(text: &str) -> Result<Authority, String> {
    if text.trim().is_empty() {
        return Err("is required, e.g. http://127.0.0.1:8080".into());
    }
    let url = Url::parse(text.trim()).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "`{text}`: only http:// upstreams are supported (Sekisho talks plain HTTP/1.1 to apps)"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("`{text}`: credentials do not belong in the URL"));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{text}`: an upstream URL has no path, query or fragment; requests keep theirs"
        ));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("`{text}` has no host"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    Authority::from_str(&format!("{host}:{port}")).map_err(|e| format!("`{text}`: {e}"))
}

fn positive_duration(text: &str) -> Result<Duration, String> {
    match duration(text)? {
        d if d.is_zero() => Err(format!("`{text}` must be longer than zero")),
        d => Ok(d),
    }
}
