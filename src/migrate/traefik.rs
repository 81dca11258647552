//! Traefik (traefik.io/v1alpha1): per Ingress, an IngressRoute and its Middlewares: an
//! `ipAllowList` for `whitelist-source-range`, first, so refused addresses never reach
//! Sekisho, then a `forwardAuth` to Sekisho's `/oauth2/traefik`.
//!
//! IngressRoute rather than the Ingress kept with a `router.middlewares` annotation: the
//! middlewares are then named as objects (`name`, `namespace`) instead of a
//! `<namespace>-<name>@kubernetescrd` string Traefik resolves at run time, and the whole
//! route is checked against Traefik's published CRD schema like the Middlewares.

use serde::Serialize;

use super::Source;
use super::annotations::{Auth, Cidr, Meaning, Use};
use super::ingress::{PathKind, Port};
use super::names;
use super::output::{Doc, Rendered, source_comments};
use super::routes::{self, Route, RoutePath};
use super::snippet::Access;

/// Sekisho's ForwardAuth door.
pub const FORWARD_AUTH_PATH: &str = "/oauth2/traefik";
const API_VERSION: &str = "traefik.io/v1alpha1";
/// Traefik reads the auth answer's body whole unless bounded; Sekisho's are small pages.
const MAX_RESPONSE_BODY: u64 = 65536;
/// Sekisho's session cookie and its chunks (`session.cookie_name`, at most 10 chunks).
const SESSION_COOKIES: usize = 10;

/// `trustForwardHeader: true`, and why. With `false` Traefik sends Sekisho only the address of
/// its own peer, which behind a load balancer is the balancer's: trusted_ips would then match
/// everyone or no one. With `true` it sends the chain it received plus that peer; the entry
/// point's `forwardedHeaders.trustedIPs` has already dropped every X-Forwarded-* header from
/// peers that are not trusted proxies, and Sekisho reads the chain from the right, past its own
/// trusted_proxies only, so an address a client writes in stays on the left and is never
/// believed.
///
/// `preserveLocationHeader: true`: Traefik otherwise resolves a relative `Location` of
/// Sekisho's redirect to the sign-in against Sekisho's own address, which browsers cannot reach.
const TRUST_FORWARD_HEADER_WHY: &str = "trustForwardHeader: true: Sekisho gets the X-Forwarded-For chain, not just Traefik's peer (behind a load balancer, the balancer); set the entry point's forwardedHeaders.trustedIPs to your load balancer's ranges (never insecure: true), and list them in Sekisho's trusted_proxies";

/// The documents for one Ingress.
pub fn render(source: &Source) -> Rendered {
    let ingress = &source.ingress;
    let reading = &source.reading;
    let (routes, mut warnings) = routes::routes(ingress);
    let mut docs = Vec::new();
    let mut middlewares = Vec::new();
    if !reading.allow_sources.is_empty() {
        let name = names::derived(&ingress.name, "source-range");
        docs.push(middleware(
            &name,
            ingress.namespace.clone(),
            MiddlewareSpec::IpAllowList {
                ip_allow_list: IpAllowList {
                    source_range: reading
                        .allow_sources
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                },
            },
        ));
        middlewares.push(name);
    }
    if let Some(auth) = &reading.auth {
        let name = names::derived(&ingress.name, "sekisho");
        docs.push(middleware(
            &name,
            ingress.namespace.clone(),
            MiddlewareSpec::ForwardAuth {
                forward_auth: forward_auth(auth),
            },
        ));
        middlewares.push(name);
    }
    let tls = tls(source, &mut warnings);
    if !routes.is_empty() {
        let spec = IngressRouteSpec {
            entry_points: vec![if tls.is_some() { "websecure" } else { "web" }],
            routes: routes
                .iter()
                .flat_map(|r| r.paths.iter().map(move |p| (r, p)))
                .map(|(route, path)| RouteRule {
                    kind: "Rule",
                    matcher: matcher(route, path),
                    middlewares: middlewares
                        .iter()
                        .map(|m| MiddlewareRef { name: m.clone() })
                        .collect(),
                    services: vec![ServiceRef {
                        name: path.service.clone(),
                        port: match &path.port {
                            Port::Number(n) => PortValue::Number(*n),
                            Port::Name(name) => PortValue::Name(name.clone()),
                        },
                    }],
                })
                .collect(),
            tls,
        };
        docs.push(Doc::new(
            Vec::new(),
            &Resource {
                api_version: API_VERSION,
                kind: "IngressRoute",
                metadata: Metadata {
                    name: names::derived(&ingress.name, ""),
                    namespace: ingress.namespace.clone(),
                },
                spec,
            },
        ));
    }
    let mut notes = Vec::new();
    if let Some(class) = &ingress.class {
        notes.push(format!(
            "ingressClassName `{class}`: IngressRoutes are Traefik's own; it serves every one it watches"
        ));
    }
    if reading.auth.is_some() {
        notes.push(TRUST_FORWARD_HEADER_WHY.to_owned());
    }
    let mut all_warnings = reading.warnings();
    all_warnings.append(&mut warnings);
    let comments = source_comments(
        source,
        |u| describe(u, reading.auth.as_ref()),
        &notes,
        &all_warnings,
    );
    match docs.first_mut() {
        Some(first) => first.comments = comments,
        None => docs.push(Doc::comment(comments)),
    }
    Rendered {
        docs,
        warnings: all_warnings,
    }
}

fn forward_auth(auth: &Auth) -> ForwardAuth {
    let host = if auth.service_host.contains(':') {
        auth.service_host.clone()
    } else {
        format!("{}:{}", auth.service_host, auth.service.port)
    };
    ForwardAuth {
        address: format!("http://{host}{FORWARD_AUTH_PATH}"),
        trust_forward_header: true,
        preserve_location_header: true,
        max_response_body_size: MAX_RESPONSE_BODY,
        auth_response_headers: auth.response_headers.clone().unwrap_or_default(),
        add_auth_cookies_to_response: std::iter::once("_sekisho".to_owned())
            .chain((0..SESSION_COOKIES).map(|i| format!("_sekisho_{i}")))
            .collect(),
    }
}

fn middleware(name: &str, namespace: Option<String>, spec: MiddlewareSpec) -> Doc {
    Doc::new(
        Vec::new(),
        &Resource {
            api_version: API_VERSION,
            kind: "Middleware",
            metadata: Metadata {
                name: name.to_owned(),
                namespace,
            },
            spec,
        },
    )
}

/// The IngressRoute's TLS: the first Secret; Traefik picks certificates by SNI among all it
/// has loaded, so one Secret per IngressRoute is enough to load it.
fn tls(source: &Source, warnings: &mut Vec<String>) -> Option<Tls> {
    let first = source.ingress.tls.first()?;
    let others: Vec<&str> = source.ingress.tls[1..]
        .iter()
        .filter_map(|t| t.secret_name.as_deref())
        .filter(|s| Some(*s) != first.secret_name.as_deref())
        .collect();
    if !others.is_empty() {
        warnings.push(format!(
            "spec.tls: an IngressRoute names one Secret; {} not carried over: load them with a \
             TLSStore or another IngressRoute",
            others.join(", ")
        ));
    }
    Some(Tls {
        secret_name: first.secret_name.clone(),
    })
}

/// Traefik's rule for one path of a host. Ingress `Prefix` matches whole segments, so
/// `/app` is `Path(/app) || PathPrefix(/app/)`; ingress-nginx's ImplementationSpecific is a
/// string prefix, which is Traefik's PathPrefix.
pub fn matcher(route: &Route, path: &RoutePath) -> String {
    let path_rule = match path.kind {
        PathKind::Exact => format!("Path(`{}`)", path.path),
        PathKind::ImplementationSpecific => format!("PathPrefix(`{}`)", path.path),
        PathKind::Prefix => match path.path.trim_end_matches('/') {
            "" => "PathPrefix(`/`)".to_owned(),
            p => format!("(Path(`{p}`) || PathPrefix(`{p}/`))"),
        },
    };
    match route.host.as_deref() {
        None => path_rule,
        Some(host) => match host.strip_prefix("*.") {
            Some(domain) => format!(
                "HostRegexp(`^[^.]+\\.{}$`) && {path_rule}",
                domain.replace('.', "\\.")
            ),
            None => format!("Host(`{host}`) && {path_rule}"),
        },
    }
}

fn describe(use_: &Use, auth: Option<&Auth>) -> Option<String> {
    Some(match &use_.meaning {
        Meaning::AuthUrl => {
            let auth = auth?;
            format!(
                "Middleware forwardAuth, address {}",
                forward_auth(auth).address
            )
        }
        Meaning::SignIn => "Sekisho's public_url (ConfigMap below); Sekisho itself sends a browser \
                            without a session to <public_url>/oauth2/start?rd=<the page> (API \
                            clients keep their 401, so no authSigninURL)"
            .to_owned(),
        Meaning::ResponseHeaders => {
            "forwardAuth.authResponseHeaders (each replaces any the client sent)".to_owned()
        }
        Meaning::Method => "nothing: ForwardAuth asks with GET".to_owned(),
        Meaning::AllowSources => "Middleware ipAllowList, first in the route's middlewares \
                                  (behind a load balancer, add ipStrategy.excludedIPs with its ranges)"
            .to_owned(),
        Meaning::Snippet(Some(Access::SkipLogin(cidrs))) => format!(
            "trusted_ips = {} in Sekisho's configuration: these addresses pass without signing in",
            list(cidrs)
        ),
        Meaning::Snippet(Some(Access::Restrict(cidrs))) => format!(
            "Middleware ipAllowList: only {} may reach the app",
            list(cidrs)
        ),
        Meaning::IngressClass => "nothing: Traefik serves the IngressRoutes it watches".to_owned(),
        _ => return None,
    })
}

fn list(cidrs: &[Cidr]) -> String {
    cidrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

// --- the resources, as Traefik's CRDs spell them ---------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Resource<S> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: S,
}

#[derive(Serialize)]
struct Metadata {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum MiddlewareSpec {
    ForwardAuth {
        #[serde(rename = "forwardAuth")]
        forward_auth: ForwardAuth,
    },
    IpAllowList {
        #[serde(rename = "ipAllowList")]
        ip_allow_list: IpAllowList,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ForwardAuth {
    address: String,
    trust_forward_header: bool,
    preserve_location_header: bool,
    max_response_body_size: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    auth_response_headers: Vec<String>,
    add_auth_cookies_to_response: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IpAllowList {
    source_range: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IngressRouteSpec {
    entry_points: Vec<&'static str>,
    routes: Vec<RouteRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<Tls>,
}

#[derive(Serialize)]
struct RouteRule {
    kind: &'static str,
    #[serde(rename = "match")]
    matcher: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    middlewares: Vec<MiddlewareRef>,
    services: Vec<ServiceRef>,
}

#[derive(Serialize)]
struct MiddlewareRef {
    name: String,
}

#[derive(Serialize)]
struct ServiceRef {
    name: String,
    port: PortValue,
}

#[derive(Serialize)]
#[serde(untagged)]
enum PortValue {
    Number(u16),
    Name(String),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Tls {
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(host: Option<&str>) -> Route {
        Route {
            name: "app".into(),
            host: host.map(str::to_owned),
            paths: vec![],
        }
    }

    fn path(p: &str, kind: PathKind) -> RoutePath {
        RoutePath {
            path: p.into(),
            kind,
            service: "app".into(),
            port: Port::Number(80),
        }
    }

    #[test]
    fn rules_match_what_the_ingress_matched() {
        let cases = [
            (
                Some("app.example.com"),
                "/",
                PathKind::Prefix,
                "Host(`app.example.com`) && PathPrefix(`/`)",
            ),
            (
                Some("app.example.com"),
                "/api/",
                PathKind::Prefix,
                "Host(`app.example.com`) && (Path(`/api`) || PathPrefix(`/api/`))",
            ),
            (None, "/health", PathKind::Exact, "Path(`/health`)"),
            (
                None,
                "/app",
                PathKind::ImplementationSpecific,
                "PathPrefix(`/app`)",
            ),
            (
                Some("*.example.com"),
                "/",
                PathKind::Prefix,
                "HostRegexp(`^[^.]+\\.example\\.com$`) && PathPrefix(`/`)",
            ),
        ];
        for (host, p, kind, expected) in cases {
            assert_eq!(matcher(&route(host), &path(p, kind)), expected);
        }
    }
}
