//! What the annotations of one Ingress ask for, the same for every target. Every annotation
//! becomes a [`Use`]: what it means, and what could not be carried over. A value that
//! ingress-nginx itself would refuse (a range that is no range) is an input error.

use std::fmt;
use std::str::FromStr;

use ipnet::IpNet;
use url::Url;

use super::auth_url::{AUTH_REQUEST_PATH, AuthUrl, HOST_VARIABLES, ServiceRef, fill_variables};
use super::cli::Options;
use super::ingress::Ingress;
use super::input::FieldError;
use super::snippet::{self, Access};

/// The prefix of ingress-nginx's annotations.
pub const PREFIX: &str = "nginx.ingress.kubernetes.io/";

/// The identity headers Sekisho answers with (README, Endpoints).
pub const IDENTITY_HEADERS: &[&str] = &[
    "X-Auth-Request-User",
    "X-Auth-Request-Email",
    "X-Auth-Request-Email-Verified",
    "X-Auth-Request-Groups",
    "X-Auth-Request-Preferred-Username",
    "X-Auth-Request-Access-Token",
];

/// Sekisho's path that starts a sign-in.
pub const START_PATH: &str = "/oauth2/start";

/// An address range (`10.0.0.0/8`); a single address is read as its /32 or /128, which is
/// how it is written out (Envoy Gateway's CIDR pattern wants the length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr(pub IpNet);

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        s.parse::<IpNet>()
            .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
            .map(Cidr)
            .map_err(|_| format!("`{s}` is not an address or address range"))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What one Ingress's annotations ask for.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// External authentication, when `auth-url` is set.
    pub auth: Option<Auth>,
    /// Only these client ranges may reach the app (`whitelist-source-range`, a snippet's
    /// `allow ...; deny all;`). Empty: no restriction.
    pub allow_sources: Vec<Cidr>,
    /// These client ranges pass without signing in (a snippet's `satisfy any`).
    pub trusted_ips: Vec<Cidr>,
    /// Every annotation, in order, with what it became.
    pub uses: Vec<Use>,
}

/// External authentication as `auth-url` and its companions describe it.
#[derive(Debug, Clone)]
pub struct Auth {
    pub url: AuthUrl,
    /// The Service the gateway asks: `--service`, else the one auth-url names, else the
    /// shipped one.
    pub service: ServiceRef,
    /// The host for URLs to that Service (auth-url's own spelling when it named it).
    pub service_host: String,
    /// `auth-response-headers`; None when absent.
    pub response_headers: Option<Vec<String>>,
    /// `auth-signin`, when set.
    pub sign_in: Option<SignIn>,
}

#[derive(Debug, Clone)]
pub struct SignIn {
    /// `scheme://host[:port]` of an absolute auth-signin: Sekisho's `public_url`.
    pub public_url: Option<Url>,
}

/// One annotation and what it means.
#[derive(Debug, Clone)]
pub struct Use {
    pub key: String,
    pub value: String,
    pub meaning: Meaning,
    /// What could not be carried over, or needs a look.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meaning {
    AuthUrl,
    SignIn,
    ResponseHeaders,
    /// `auth-method`: how the auth service is asked.
    Method,
    AllowSources,
    /// A snippet whose address rules became `trusted_ips` or an access restriction.
    Snippet(Option<Access>),
    /// `kubernetes.io/ingress.class`: routes attach to the Gateway by parentRefs instead.
    IngressClass,
    /// Bookkeeping of kubectl: nothing to carry.
    Bookkeeping,
    /// Not carried over (the warning says why).
    Unmapped,
}

impl Reading {
    /// Every warning, `annotation: message`.
    pub fn warnings(&self) -> Vec<String> {
        self.uses
            .iter()
            .flat_map(|u| u.warnings.iter().map(move |w| format!("{}: {w}", u.key)))
            .collect()
    }
}

/// Reads the annotations of `ingress`.
pub fn read(ingress: &Ingress, options: &Options) -> Result<Reading, Vec<FieldError>> {
    let host = ingress.hosts().first().map(|h| (*h).to_owned());
    let https = host.as_deref().is_some_and(|h| ingress.tls_covers(h));
    let mut reading = Reading::default();
    let mut errors = Vec::new();
    let mut sign_in = None;
    let mut response_headers = None;
    for (key, value) in &ingress.annotations {
        let field = format!("metadata.annotations.{key}");
        let mut use_ = Use {
            key: key.clone(),
            value: value.clone(),
            meaning: Meaning::Unmapped,
            warnings: Vec::new(),
        };
        let result = match key.strip_prefix(PREFIX) {
            Some("auth-url") => read_auth_url(value, host.as_deref(), https, options, &mut use_)
                .map(|auth| reading.auth = Some(auth)),
            Some("auth-signin") => {
                read_sign_in(value, host.as_deref(), https, &mut use_).map(|s| sign_in = Some(s))
            }
            Some("auth-response-headers") => {
                read_response_headers(value, &mut use_).map(|h| response_headers = Some(h))
            }
            Some("auth-method") => {
                read_method(value, &mut use_);
                Ok(())
            }
            Some("whitelist-source-range") => read_ranges(value).map(|ranges| {
                use_.meaning = Meaning::AllowSources;
                reading.allow_sources.extend(ranges);
            }),
            Some("auth-snippet" | "configuration-snippet") => {
                read_snippet(value, &mut use_, &mut reading);
                Ok(())
            }
            Some(_) => {
                use_.warnings.push(format!(
                    "not mapped: no equivalent is written for it (value `{}`)",
                    one_line(value)
                ));
                Ok(())
            }
            None => {
                other_annotation(key, value, &mut use_);
                Ok(())
            }
        };
        if let Err(message) = result {
            errors.push(FieldError::new(field, message));
        }
        reading.uses.push(use_);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    finish(&mut reading, sign_in, response_headers);
    Ok(reading)
}

/// Attaches the companions of auth-url, or says they are orphans.
fn finish(reading: &mut Reading, sign_in: Option<SignIn>, response_headers: Option<Vec<String>>) {
    match &mut reading.auth {
        Some(auth) => {
            auth.sign_in = sign_in;
            auth.response_headers = response_headers;
        }
        None => {
            for u in reading.uses.iter_mut().filter(|u| {
                matches!(
                    u.meaning,
                    Meaning::SignIn | Meaning::ResponseHeaders | Meaning::Method
                )
            }) {
                u.meaning = Meaning::Unmapped;
                u.warnings
                    .push("without auth-url nothing asks Sekisho: not mapped".to_owned());
            }
        }
    }
}

fn read_auth_url(
    value: &str,
    host: Option<&str>,
    https: bool,
    options: &Options,
    use_: &mut Use,
) -> Result<Auth, String> {
    let url = AuthUrl::parse(value, host, https)?;
    use_.meaning = Meaning::AuthUrl;
    if url.path != AUTH_REQUEST_PATH {
        use_.warnings.push(format!(
            "its path `{}` is not Sekisho's {AUTH_REQUEST_PATH}: mapped to Sekisho's door for the \
             new gateway all the same; if it is another auth service, Sekisho replaces it",
            url.path
        ));
    }
    if let Some(query) = &url.query {
        use_.warnings.push(format!(
            "its query `{query}` is not carried over (the new door is asked at a fixed path): \
             put such rules in Sekisho's [authorization] or an [[upstream]]'s allowed_groups"
        ));
    }
    let (service, service_host) = match (&options.service, &url.service) {
        (Some(flag), _) => (flag.clone(), flag.host()),
        (None, Some(named)) => (
            named.clone(),
            url.service_host.clone().unwrap_or_else(|| named.host()),
        ),
        (None, None) => {
            let shipped = ServiceRef::shipped();
            use_.warnings.push(format!(
                "its host is not a cluster Service (NAME.NAMESPACE.svc...), which a gateway \
                 needs: Sekisho's Service is taken to be {shipped} (deploy/kubernetes); \
                 --service names another"
            ));
            let host = shipped.host();
            (shipped, host)
        }
    };
    Ok(Auth {
        url,
        service,
        service_host,
        response_headers: None,
        sign_in: None,
    })
}

fn read_sign_in(
    value: &str,
    host: Option<&str>,
    https: bool,
    use_: &mut Use,
) -> Result<SignIn, String> {
    use_.meaning = Meaning::SignIn;
    let filled = fill_variables(value, host, https);
    if host.is_none() && HOST_VARIABLES.iter().any(|v| value.contains(v)) {
        use_.warnings.push(
            "it names the request's host, and the Ingress names none: set Sekisho's public_url \
             yourself"
                .to_owned(),
        );
        return Ok(SignIn { public_url: None });
    }
    let public_url = match Url::parse(&filled) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
            if url.path() != START_PATH && url.path() != "/oauth2/sign_in" {
                use_.warnings.push(format!(
                    "its path `{}` is not Sekisho's {START_PATH}: Sekisho sends browsers to its \
                     own sign-in at public_url",
                    url.path()
                ));
            }
            let mut origin = url.clone();
            origin.set_path("");
            origin.set_query(None);
            origin.set_fragment(None);
            Some(origin)
        }
        Ok(_) | Err(url::ParseError::RelativeUrlWithoutBase) if filled.starts_with('/') => None,
        _ => return Err(format!("`{value}` is not a URL")),
    };
    if public_url.is_none() {
        use_.warnings.push(
            "not an absolute URL: Sekisho's public_url is taken from the Ingress's host".to_owned(),
        );
    }
    Ok(SignIn { public_url })
}

fn read_response_headers(value: &str, use_: &mut Use) -> Result<Vec<String>, String> {
    use_.meaning = Meaning::ResponseHeaders;
    let headers: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .collect();
    for header in &headers {
        if http::HeaderName::from_bytes(header.as_bytes()).is_err() {
            return Err(format!("`{header}` is not a header name"));
        }
        if !IDENTITY_HEADERS
            .iter()
            .any(|h| h.eq_ignore_ascii_case(header))
        {
            use_.warnings.push(format!(
                "Sekisho never answers with `{header}`: kept in the list, but it will not reach the app"
            ));
        }
    }
    Ok(headers)
}

fn read_method(value: &str, use_: &mut Use) {
    use_.meaning = Meaning::Method;
    if !matches!(value.trim().to_ascii_uppercase().as_str(), "GET" | "HEAD") {
        use_.warnings.push(format!(
            "`{value}`: the new doors ask Sekisho with GET (Traefik) or the request's own \
             method (ExternalAuth), never a chosen one; Sekisho answers any method"
        ));
    }
}

fn read_ranges(value: &str) -> Result<Vec<Cidr>, String> {
    let ranges: Vec<Cidr> = value
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    if ranges.is_empty() {
        return Err("no address range".to_owned());
    }
    Ok(ranges)
}

fn read_snippet(value: &str, use_: &mut Use, reading: &mut Reading) {
    let snippet = snippet::read(value);
    match &snippet.access {
        Some(Access::SkipLogin(cidrs)) => reading.trusted_ips.extend(cidrs.iter().copied()),
        Some(Access::Restrict(cidrs)) => reading.allow_sources.extend(cidrs.iter().copied()),
        None => {}
    }
    for directive in &snippet.unmapped {
        use_.warnings.push(format!(
            "not mapped: nginx directive `{directive};` has no equivalent on the new gateway"
        ));
    }
    use_.meaning = if snippet.access.is_some() {
        Meaning::Snippet(snippet.access)
    } else {
        Meaning::Unmapped
    };
}

fn other_annotation(key: &str, value: &str, use_: &mut Use) {
    match key {
        "kubernetes.io/ingress.class" => use_.meaning = Meaning::IngressClass,
        "kubectl.kubernetes.io/last-applied-configuration" => use_.meaning = Meaning::Bookkeeping,
        _ => use_.warnings.push(format!(
            "not ingress-nginx's: not carried over (value `{}`)",
            one_line(value)
        )),
    }
}

/// A value on one line, shortened: for messages.
pub fn one_line(value: &str) -> String {
    let squeezed = value.split_whitespace().collect::<Vec<_>>().join(" ");
    if squeezed.chars().count() > 100 {
        format!("{}...", squeezed.chars().take(97).collect::<String>())
    } else {
        squeezed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::cli::{InputFile, Target};
    use crate::migrate::ingress::{Rule, Tls};
    use std::collections::BTreeMap;

    fn options(service: Option<&str>) -> Options {
        Options {
            target: Target::Traefik,
            service: service.map(|s| s.parse().unwrap()),
            files: vec![InputFile::Stdin],
            command: String::new(),
        }
    }

    fn ingress(annotations: &[(&str, &str)]) -> Ingress {
        Ingress {
            name: "app".into(),
            namespace: Some("web".into()),
            annotations: annotations
                .iter()
                .map(|(k, v)| {
                    (
                        format!("{PREFIX}{k}").replace(&format!("{PREFIX}="), ""),
                        (*v).to_owned(),
                    )
                })
                .collect::<BTreeMap<_, _>>(),
            class: None,
            tls: vec![Tls {
                hosts: vec!["app.example.com".into()],
                secret_name: None,
            }],
            rules: vec![Rule {
                host: Some("app.example.com".into()),
                paths: vec![],
            }],
            default_backend: None,
        }
    }

    const URL: (&str, &str) = (
        "auth-url",
        "http://sekisho.sekisho.svc.cluster.local:4180/oauth2/auth",
    );

    /// (annotations, expected meaning of the last one, warnings expected (substrings)).
    #[test]
    fn each_annotation_means_something_or_is_warned() {
        type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, Meaning, Vec<&'a str>);
        let cases: Vec<Case> = vec![
            (vec![URL], "auth-url", Meaning::AuthUrl, vec![]),
            (
                vec![(
                    "auth-url",
                    "http://sekisho.sekisho.svc:4180/verify?allowed_groups=a",
                )],
                "auth-url",
                Meaning::AuthUrl,
                vec![
                    "path `/verify` is not Sekisho's",
                    "query `allowed_groups=a`",
                ],
            ),
            (
                vec![("auth-url", "https://$host/oauth2/auth")],
                "auth-url",
                Meaning::AuthUrl,
                vec!["not a cluster Service"],
            ),
            (
                vec![
                    URL,
                    (
                        "auth-signin",
                        "https://$host/oauth2/start?rd=$escaped_request_uri",
                    ),
                ],
                "auth-signin",
                Meaning::SignIn,
                vec![],
            ),
            (
                vec![URL, ("auth-signin", "https://login.example.com/signin")],
                "auth-signin",
                Meaning::SignIn,
                vec!["path `/signin`"],
            ),
            (
                vec![("auth-signin", "https://$host/oauth2/start")],
                "auth-signin",
                Meaning::Unmapped,
                vec!["without auth-url"],
            ),
            (
                vec![
                    URL,
                    (
                        "auth-response-headers",
                        "X-Auth-Request-User, X-Auth-Request-Email",
                    ),
                ],
                "auth-response-headers",
                Meaning::ResponseHeaders,
                vec![],
            ),
            (
                vec![
                    URL,
                    ("auth-response-headers", "X-Auth-Request-User,X-Remote-Role"),
                ],
                "auth-response-headers",
                Meaning::ResponseHeaders,
                vec!["never answers with `X-Remote-Role`"],
            ),
            (
                vec![URL, ("auth-method", "GET")],
                "auth-method",
                Meaning::Method,
                vec![],
            ),
            (
                vec![URL, ("auth-method", "POST")],
                "auth-method",
                Meaning::Method,
                vec!["`POST`"],
            ),
            (
                vec![("whitelist-source-range", "10.0.0.0/8, 192.0.2.7")],
                "whitelist-source-range",
                Meaning::AllowSources,
                vec![],
            ),
            (
                vec![
                    URL,
                    ("auth-snippet", "satisfy any; allow 10.0.0.0/8; deny all;"),
                ],
                "auth-snippet",
                Meaning::Snippet(Some(Access::SkipLogin(vec!["10.0.0.0/8".parse().unwrap()]))),
                vec![],
            ),
            (
                vec![URL, ("auth-snippet", "proxy_set_header X-A b;")],
                "auth-snippet",
                Meaning::Unmapped,
                vec!["`proxy_set_header X-A b;`"],
            ),
            (
                vec![("proxy-body-size", "8m")],
                "proxy-body-size",
                Meaning::Unmapped,
                vec!["not mapped: no equivalent is written for it (value `8m`)"],
            ),
            (
                vec![("=cert-manager.io/cluster-issuer", "letsencrypt")],
                "cert-manager.io/cluster-issuer",
                Meaning::Unmapped,
                vec!["not ingress-nginx's"],
            ),
            (
                vec![("=kubernetes.io/ingress.class", "nginx")],
                "kubernetes.io/ingress.class",
                Meaning::IngressClass,
                vec![],
            ),
        ];
        for (annotations, key, meaning, warnings) in cases {
            let reading = read(&ingress(&annotations), &options(None)).unwrap();
            let use_ = reading
                .uses
                .iter()
                .find(|u| u.key.ends_with(key))
                .unwrap_or_else(|| panic!("{key} read"));
            assert_eq!(use_.meaning, meaning, "{annotations:?}");
            assert_eq!(
                use_.warnings.len(),
                warnings.len(),
                "{annotations:?}: {:?}",
                use_.warnings
            );
            for (got, wanted) in use_.warnings.iter().zip(warnings) {
                assert!(got.contains(wanted), "{annotations:?}: {got}");
            }
        }
    }

    #[test]
    fn settings_are_gathered() {
        let reading = read(
            &ingress(&[
                URL,
                (
                    "auth-signin",
                    "https://$host/oauth2/start?rd=$escaped_request_uri",
                ),
                ("auth-response-headers", "X-Auth-Request-User"),
                (
                    "auth-snippet",
                    "satisfy any; allow 10.0.0.0/8; allow 192.0.2.7; deny all;",
                ),
                ("whitelist-source-range", "203.0.113.0/24"),
            ]),
            &options(None),
        )
        .unwrap();
        let auth = reading.auth.unwrap();
        assert_eq!(auth.service.to_string(), "sekisho.sekisho:4180");
        assert_eq!(auth.service_host, "sekisho.sekisho.svc.cluster.local:4180");
        assert_eq!(
            auth.sign_in.unwrap().public_url.unwrap().as_str(),
            "https://app.example.com/"
        );
        assert_eq!(auth.response_headers.unwrap(), vec!["X-Auth-Request-User"]);
        let shown = |c: &[Cidr]| c.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(
            shown(&reading.trusted_ips),
            vec!["10.0.0.0/8", "192.0.2.7/32"]
        );
        assert_eq!(shown(&reading.allow_sources), vec!["203.0.113.0/24"]);

        let flagged = read(&ingress(&[URL]), &options(Some("gate.auth:8080"))).unwrap();
        assert_eq!(
            flagged.auth.unwrap().service_host,
            "gate.auth.svc.cluster.local"
        );
    }

    #[test]
    fn values_ingress_nginx_would_refuse_are_errors() {
        for (annotations, field) in [
            (
                vec![("whitelist-source-range", "10.0.0.0/33")],
                "whitelist-source-range",
            ),
            (
                vec![("whitelist-source-range", " , ")],
                "whitelist-source-range",
            ),
            (vec![("auth-url", "sekisho")], "auth-url"),
            (
                vec![URL, ("auth-response-headers", "X-A,Bad Header")],
                "auth-response-headers",
            ),
            (
                vec![URL, ("auth-signin", "https://exa mple.com/oauth2/start")],
                "auth-signin",
            ),
        ] {
            let errors = read(&ingress(&annotations), &options(None)).unwrap_err();
            assert_eq!(errors.len(), 1, "{annotations:?}");
            assert_eq!(
                errors[0].field,
                format!("metadata.annotations.{PREFIX}{field}")
            );
        }
    }
}
