//! `nginx.ingress.kubernetes.io/auth-url`: which Service the gateway must ask. ingress-nginx
//! resolves it with nginx's resolver, without search domains, so a Service is named in full
//! (`http://sekisho.sekisho.svc.cluster.local:4180/oauth2/auth`); any other host is outside
//! the cluster, or an Ingress in front of the auth service, which a gateway cannot point at.

use std::fmt;
use std::str::FromStr;

use url::Url;

use super::names;

/// Sekisho's Service, as a gateway refers to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    pub name: String,
    /// None: the Ingress's own namespace.
    pub namespace: Option<String>,
    /// The Service's port (not the container's).
    pub port: u16,
}

impl ServiceRef {
    /// The Service of deploy/kubernetes: `sekisho` in namespace `sekisho`, port 4180.
    pub fn shipped() -> Self {
        ServiceRef {
            name: "sekisho".to_owned(),
            namespace: Some("sekisho".to_owned()),
            port: 4180,
        }
    }

    /// The cluster DNS name, for URLs (Traefik's ForwardAuth address).
    pub fn host(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{}.{namespace}.svc.cluster.local", self.name),
            None => self.name.clone(),
        }
    }
}

impl fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{}.{namespace}:{}", self.name, self.port),
            None => write!(f, "{}:{}", self.name, self.port),
        }
    }
}

impl FromStr for ServiceRef {
    type Err = String;

    /// `NAME[.NAMESPACE]:PORT`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, port) = s
            .rsplit_once(':')
            .ok_or("give the port: NAME[.NAMESPACE]:PORT")?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("`{port}` is not a port"))?;
        let (name, namespace) = match name.split_once('.') {
            Some((name, namespace)) => (name, Some(namespace)),
            None => (name, None),
        };
        for part in std::iter::once(name).chain(namespace) {
            if !names::is_label(part) {
                return Err(format!("`{part}` is not a Service or namespace name"));
            }
        }
        Ok(ServiceRef {
            name: name.to_owned(),
            namespace: namespace.map(str::to_owned),
            port,
        })
    }
}

/// What an auth-url says, once its nginx variables are filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUrl {
    /// The value as written.
    pub value: String,
    /// The Service it names, when it names one.
    pub service: Option<ServiceRef>,
    /// The host as written, when it is a Service's name (kept for URLs).
    pub service_host: Option<String>,
    pub path: String,
    pub query: Option<String>,
}

/// Sekisho's path for ingress-nginx (`auth_request`).
pub const AUTH_REQUEST_PATH: &str = "/oauth2/auth";

impl AuthUrl {
    /// Reads `value`; `host` fills `$host` (and its kin), `https` fills `$scheme`.
    pub fn parse(value: &str, host: Option<&str>, https: bool) -> Result<AuthUrl, String> {
        let filled = fill_variables(value, host, https);
        let url = Url::parse(&filled).map_err(|e| format!("`{value}` is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("`{value}`: only http and https URLs"));
        }
        let url_host = url.host_str().unwrap_or_default().to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let service = cluster_service(&url_host).map(|(name, namespace)| ServiceRef {
            name,
            namespace,
            port,
        });
        Ok(AuthUrl {
            value: value.to_owned(),
            service_host: service.as_ref().map(|_| match url.port() {
                Some(p) => format!("{url_host}:{p}"),
                None => url_host.clone(),
            }),
            service,
            path: url.path().to_owned(),
            query: url.query().map(str::to_owned),
        })
    }
}

/// `$host`, `$http_host`, `$best_http_host` and `$scheme`, as ingress-nginx fills them in for
/// a request to this Ingress. Without a host (an Ingress for every host) the host variables
/// become `host.invalid`, which names no Service. Any other variable stays, and is reported
/// by the URL parser or later as a query.
pub fn fill_variables(value: &str, host: Option<&str>, https: bool) -> String {
    let mut filled = value.replace("$scheme", if https { "https" } else { "http" });
    for variable in HOST_VARIABLES {
        filled = filled.replace(variable, host.unwrap_or("host.invalid"));
    }
    filled
}

/// nginx's variables for the request's host, longest first (`$host` is a prefix of the others).
pub const HOST_VARIABLES: [&str; 3] = ["$best_http_host", "$http_host", "$host"];

/// `NAME.NAMESPACE.svc[.DOMAIN]` → (NAME, NAMESPACE).
fn cluster_service(host: &str) -> Option<(String, Option<String>)> {
    let labels: Vec<&str> = host.split('.').collect();
    match labels.as_slice() {
        [name, namespace, "svc", ..] if names::is_label(name) && names::is_label(namespace) => {
            Some(((*name).to_owned(), Some((*namespace).to_owned())))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_urls_name_services_or_not() {
        // (auth-url, host, service, path, query)
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            &'a str,
            Option<&'a str>,
        );
        let cases: &[Case] = &[
            (
                "http://sekisho.sekisho.svc.cluster.local:4180/oauth2/auth",
                None,
                Some("sekisho.sekisho:4180"),
                "/oauth2/auth",
                None,
            ),
            (
                "http://oauth2-proxy.auth.svc/oauth2/auth?allowed_groups=admins",
                None,
                Some("oauth2-proxy.auth:80"),
                "/oauth2/auth",
                Some("allowed_groups=admins"),
            ),
            (
                "https://$host/oauth2/auth",
                Some("app.example.com"),
                None,
                "/oauth2/auth",
                None,
            ),
            (
                "$scheme://auth.example.com/verify",
                None,
                None,
                "/verify",
                None,
            ),
            (
                "http://10.0.0.7:4180/oauth2/auth",
                None,
                None,
                "/oauth2/auth",
                None,
            ),
        ];
        for (value, host, service, path, query) in cases {
            let parsed = AuthUrl::parse(value, *host, true).unwrap();
            assert_eq!(
                parsed.service.as_ref().map(ToString::to_string).as_deref(),
                *service,
                "{value}"
            );
            assert_eq!(parsed.path, *path, "{value}");
            assert_eq!(parsed.query.as_deref(), *query, "{value}");
        }
        for (value, host, error) in [
            ("not a url", None, "is not a URL"),
            ("ftp://sekisho.sekisho.svc/oauth2/auth", None, "only http"),
        ] {
            let e = AuthUrl::parse(value, host, true).unwrap_err();
            assert!(e.contains(error), "{value}: {e}");
        }
    }

    #[test]
    fn service_flags() {
        assert_eq!(
            "sekisho.auth:4180".parse::<ServiceRef>().unwrap(),
            ServiceRef {
                name: "sekisho".into(),
                namespace: Some("auth".into()),
                port: 4180
            }
        );
        assert_eq!("sekisho:80".parse::<ServiceRef>().unwrap().namespace, None);
        for bad in [
            "sekisho",
            "sekisho:0",
            "Sekisho:80",
            "a.b.c:80",
            "sekisho:http",
        ] {
            assert!(bad.parse::<ServiceRef>().is_err(), "{bad}");
        }
        assert_eq!(
            ServiceRef::shipped().host(),
            "sekisho.sekisho.svc.cluster.local"
        );
    }
}
