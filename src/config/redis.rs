//! `[session]` keys of the Redis session store: where Redis is (one server, servers watched by
//! Sentinel, or a cluster), how to trust its TLS certificate, how keys are named, how long to
//! wait for it.

use std::fmt;
use std::time::Duration;

use super::raw::RawSession;
use super::validate::duration;

/// Where Redis is, parsed from `session.redis_url`.
#[derive(Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One server: `redis://`, `rediss://`, `redis+unix://`, `unix://`. The URL is passed to
    /// the client as written.
    Standalone { url: String },
    /// Servers found through Sentinel: `redis+sentinel://[user:pass@]s1:26379,s2/master[/db]`.
    /// `nodes` are the sentinels; credentials and db apply to the master.
    Sentinel {
        nodes: Vec<RedisNode>,
        master: String,
        db: i64,
        credentials: Credentials,
        tls: bool,
    },
    /// A Redis Cluster: `redis+cluster://[user:pass@]n1:6379,n2:6379`; any reachable nodes, the
    /// rest are discovered.
    Cluster {
        nodes: Vec<RedisNode>,
        credentials: Credentials,
        tls: bool,
    },
}

/// `host:port` of one server in a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisNode {
    pub host: String,
    pub port: u16,
}

/// User name and password from a URL's user info; never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl RedisTarget {
    /// The kind, for logs: `standalone`, `sentinel`, `cluster`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Standalone { .. } => "standalone",
            Self::Sentinel { .. } => "sentinel",
            Self::Cluster { .. } => "cluster",
        }
    }

    pub fn uses_tls(&self) -> bool {
        match self {
            Self::Standalone { url } => url.starts_with("rediss://"),
            Self::Sentinel { tls, .. } | Self::Cluster { tls, .. } => *tls,
        }
    }

    /// Where Redis is, without credentials: safe for logs and `/ready`.
    pub fn describe(&self) -> String {
        match self {
            Self::Standalone { url } => redact_url(url),
            Self::Sentinel { nodes, master, .. } => {
                format!("sentinel {} master {master}", list(nodes))
            }
            Self::Cluster { nodes, .. } => format!("cluster {}", list(nodes)),
        }
    }
}

impl fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

fn list(nodes: &[RedisNode]) -> String {
    nodes
        .iter()
        .map(|n| format!("{}:{}", n.host, n.port))
        .collect::<Vec<_>>()
        .join(",")
}

/// `url` with any password replaced by `***`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{}", &rest[at + 1..])
        }
        None => url.to_owned(),
    }
}

/// The validated Redis settings.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    pub target: RedisTarget,
    /// Extra CA certificates (PEM) to trust for `rediss://`; `None`: the system's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Put in front of every key, so several deployments can share one Redis.
    pub key_prefix: String,
    /// The most one Redis operation may take, retries included; then the request fails with 503.
    pub timeout: Duration,
    /// The most one connection attempt may take.
    pub connect_timeout: Duration,
}

/// The Redis settings of `session`, when the store is Redis; every problem is reported.
pub(super) fn validate(
    s: &RawSession,
    report: &mut impl FnMut(&str, String),
) -> Option<RedisConfig> {
    let target = if s.redis_url.trim().is_empty() {
        report(
            "session.redis_url",
            "is empty; the Redis store needs a URL like redis://127.0.0.1:6379/0".into(),
        );
        None
    } else {
        parse_url(s.redis_url.trim())
            .map_err(|m| report("session.redis_url", m))
            .ok()
    };
    let ca_pem = if s.redis_ca_file.is_empty() {
        Some(None)
    } else {
        match read_ca(&s.redis_ca_file) {
            Ok(pem) => {
                if target.as_ref().is_some_and(|t| !t.uses_tls()) {
                    report(
                        "session.redis_ca_file",
                        "is set, but session.redis_url does not use TLS (rediss://)".into(),
                    );
                }
                Some(Some(pem))
            }
            Err(m) => {
                report("session.redis_ca_file", m);
                None
            }
        }
    };
    if s.redis_key_prefix
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        report(
            "session.redis_key_prefix",
            format!(
                "`{}` must not contain spaces or control characters",
                s.redis_key_prefix
            ),
        );
    }
    let timeout = bounded(&s.redis_timeout, "session.redis_timeout", report);
    let connect_timeout = bounded(
        &s.redis_connect_timeout,
        "session.redis_connect_timeout",
        report,
    );
    Some(RedisConfig {
        target: target?,
        ca_pem: ca_pem?,
        key_prefix: s.redis_key_prefix.clone(),
        timeout: timeout?,
        connect_timeout: connect_timeout?,
    })
}

/// A timeout between 10 ms and one minute: zero would fail every request, and a request
/// waiting minutes for Redis is a hung request.
fn bounded(text: &str, key: &str, report: &mut impl FnMut(&str, String)) -> Option<Duration> {
    match duration(text) {
        Ok(d) if d < Duration::from_millis(10) || d > Duration::from_secs(60) => {
            report(key, format!("`{text}` must be between 10ms and 60s"));
            None
        }
        Ok(d) => Some(d),
        Err(m) => {
            report(key, m);
            None
        }
    }
}

fn read_ca(path: &str) -> Result<Vec<u8>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
    match openssl::x509::X509::stack_from_pem(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(pem),
        _ => Err(format!("`{path}` holds no PEM certificate")),
    }
}

/// Parses `session.redis_url`. The message of an error names what is wrong.
pub fn parse_url(url: &str) -> Result<RedisTarget, String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        format!(
            "`{}` is not a URL like redis://host:6379/0",
            redact_url(url)
        )
    })?;
    match scheme {
        "redis" | "rediss" | "redis+unix" | "unix" => {
            use redis::IntoConnectionInfo;
            url.into_connection_info()
                .map_err(|e| format!("`{}` is not a usable Redis URL: {e}", redact_url(url)))?;
            if matches!(scheme, "redis" | "rediss") && authority(rest).1.is_empty() {
                return Err(format!("`{}` has no host", redact_url(url)));
            }
            Ok(RedisTarget::Standalone {
                url: url.to_owned(),
            })
        }
        "redis+sentinel" | "rediss+sentinel" => {
            let (credentials, hosts, path) = authority(rest);
            let nodes = nodes(hosts, 26379)?;
            let mut parts = path.split('/').filter(|p| !p.is_empty());
            let master = parts.next().map(decode).ok_or_else(|| {
                "a Sentinel URL names the master after the hosts: redis+sentinel://host:26379/mymaster/0"
                    .to_owned()
            })?;
            let db = match parts.next() {
                Some(db) => db
                    .parse()
                    .map_err(|_| format!("database `{db}` is not a number"))?,
                None => 0,
            };
            if parts.next().is_some() {
                return Err("a Sentinel URL ends after /master/db".into());
            }
            Ok(RedisTarget::Sentinel {
                nodes,
                master,
                db,
                credentials: credentials?,
                tls: scheme.starts_with("rediss"),
            })
        }
        "redis+cluster" | "rediss+cluster" => {
            let (credentials, hosts, path) = authority(rest);
            if !path.trim_matches('/').is_empty() && path.trim_matches('/') != "0" {
                return Err("a Redis Cluster has only database 0".into());
            }
            Ok(RedisTarget::Cluster {
                nodes: nodes(hosts, 6379)?,
                credentials: credentials?,
                tls: scheme.starts_with("rediss"),
            })
        }
        other => Err(format!(
            "unknown scheme `{other}`; expected redis://, rediss://, redis+unix://, \
             redis+sentinel://, rediss+sentinel://, redis+cluster:// or rediss+cluster://"
        )),
    }
}

/// User info, host list and path of `rest` (what follows `scheme://`).
fn authority(rest: &str) -> (Result<Credentials, String>, &str, &str) {
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let path = path.split('?').next().unwrap_or_default();
    match authority.rfind('@') {
        Some(at) => {
            let info = &authority[..at];
            let (user, password) = match info.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (info, None),
            };
            let credentials = Credentials {
                username: (!user.is_empty()).then(|| decode(user)),
                password: password.map(decode),
            };
            (Ok(credentials), &authority[at + 1..], path)
        }
        None => (Ok(Credentials::default()), authority, path),
    }
}

fn decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn nodes(hosts: &str, default_port: u16) -> Result<Vec<RedisNode>, String> {
    if hosts.is_empty() {
        return Err("no host".into());
    }
    hosts
        .split(',')
        .map(|entry| {
            let entry = entry.trim();
            let (host, port) = if let Some(v6) = entry.strip_prefix('[') {
                let (host, after) = v6
                    .split_once(']')
                    .ok_or_else(|| format!("`{entry}` is not host:port"))?;
                (host, after.strip_prefix(':'))
            } else {
                match entry.rsplit_once(':') {
                    Some((host, port)) => (host, Some(port)),
                    None => (entry, None),
                }
            };
            if host.is_empty() || host.contains(['/', '@', ' ']) {
                return Err(format!("`{entry}` is not host:port"));
            }
            let port = match port {
                Some(p) => p
                    .parse::<u16>()
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| format!("`{p}` in `{entry}` is not a port"))?,
                None => default_port,
            };
            Ok(RedisNode {
                host: host.to_owned(),
                port,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("redis://127.0.0.1:6379/0", Ok("standalone")),
            ("rediss://redis.example.com:6380/2", Ok("standalone")),
            ("redis://:pw@127.0.0.1", Ok("standalone")),
            ("redis+unix:///run/redis.sock", Ok("standalone")),
            (
                "redis+sentinel://s1:26379,s2,[::1]:26380/mymaster/1",
                Ok("sentinel"),
            ),
            ("rediss+sentinel://u:p@s1/mymaster", Ok("sentinel")),
            ("redis+cluster://n1:7000,n2:7001", Ok("cluster")),
            ("http://127.0.0.1:6379", Err("unknown scheme `http`")),
            ("memcached://x", Err("unknown scheme")),
            ("127.0.0.1:6379", Err("not a URL")),
            ("redis://127.0.0.1:notaport", Err("not a usable Redis URL")),
            ("redis+sentinel://s1:26379", Err("names the master")),
            ("redis+sentinel://s1:26379/m/x", Err("not a number")),
            ("redis+cluster://n1:0", Err("not a port")),
            ("redis+cluster://n1:7000/3", Err("only database 0")),
            ("redis+cluster://", Err("no host")),
        ];
        for (url, want) in cases {
            match (parse_url(url), want) {
                (Ok(target), Ok(kind)) => assert_eq!(target.kind(), *kind, "{url}"),
                (Err(message), Err(part)) => assert!(message.contains(part), "{url}: {message}"),
                (got, want) => panic!("{url}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn sentinel_and_cluster_parts() {
        let RedisTarget::Sentinel {
            nodes,
            master,
            db,
            credentials,
            tls,
        } = parse_url("rediss+sentinel://app:s%40cret@s1,[::1]:26380/my-master/3").unwrap()
        else {
            panic!("not sentinel")
        };
        assert_eq!(
            nodes,
            [
                RedisNode {
                    host: "s1".into(),
                    port: 26379
                },
                RedisNode {
                    host: "::1".into(),
                    port: 26380
                }
            ]
        );
        assert_eq!((master.as_str(), db, tls), ("my-master", 3, true));
        assert_eq!(credentials.username.as_deref(), Some("app"));
        assert_eq!(credentials.password.as_deref(), Some("s@cret"));
    }

    #[test]
    fn passwords_are_not_shown() {
        let target = parse_url("redis://user:hunter2@10.0.0.5:6379/0").unwrap();
        assert!(!format!("{target:?}").contains("hunter2"));
        assert!(target.describe().contains("10.0.0.5"));
        let sentinel = parse_url("redis+sentinel://:hunter2@s1/m").unwrap();
        assert!(!format!("{sentinel:?}").contains("hunter2"));
        let err = parse_url("redis://user:hunter2@host:bad").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
