//! Gateway API: an HTTPRoute per host of each Ingress, attached to the Gateway of
//! `--gateway`, and Sekisho asked through
//!
//! - the HTTPRoute `ExternalAuth` filter (GEP-1494, experimental channel), for `standard` and
//!   NGINX Gateway Fabric (which has no CRD of its own for external auth: its
//!   AuthenticationFilter does Basic and OIDC only, and it runs ExternalAuth as nginx
//!   `auth_request`, over HTTP only);
//! - or an Envoy Gateway `SecurityPolicy` (`extAuth`) targeting the routes.
//!
//! Sekisho's doors: HTTP `path` `/oauth2/ext_authz` (the request's path is appended), gRPC
//! `envoy.service.auth.v3.Authorization` on the same port.

use super::Source;
use super::annotations::{Auth, Cidr, IDENTITY_HEADERS, Meaning, Use};
use super::auth_url::ServiceRef;
use super::cli::{GatewayImpl, GatewayOptions, Protocol};
use super::ingress::{PathKind, Port};
use super::names;
use super::output::{Doc, Rendered, source_comments};
use super::routes::{self, Route, RoutePath};
use super::sekisho_config::SekishoConfig;
use super::snippet::Access;

mod resources;

use resources::*;

/// Sekisho's HTTP door for ExternalAuth and Envoy's HTTP ext_authz.
pub const EXT_AUTHZ_PATH: &str = "/oauth2/ext_authz";

/// The request headers the gateway must send Sekisho over HTTP. Only Host, Method, Path,
/// Content-Length and Authorization go without being listed; without `cookie` no session
/// reaches Sekisho, without `x-forwarded-for` no client address (trusted_ips), without
/// `accept` it cannot tell a browser (sent to sign in) from an API client (given 401).
/// `x-forwarded-proto` and `x-request-id` are the gateway's own. Not `x-forwarded-host`: the
/// request's own Host is sent, and Envoy would pass on whatever a client wrote in that header.
pub const REQUEST_HEADERS: &[&str] = &[
    "cookie",
    "accept",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-request-id",
];

const GROUP: &str = "gateway.networking.k8s.io";
const ROUTE_VERSION: &str = "gateway.networking.k8s.io/v1";
/// ReferenceGrant v1beta1: served by every Gateway API release that has ReferenceGrant.
const GRANT_VERSION: &str = "gateway.networking.k8s.io/v1beta1";
const ENVOY_GATEWAY_VERSION: &str = "gateway.envoyproxy.io/v1alpha1";

/// Whether a list of headers sent to Sekisho over HTTP lets sessions through.
pub fn lets_sessions_through(headers: &[String]) -> bool {
    headers.iter().any(|h| h.eq_ignore_ascii_case("cookie"))
}

/// The documents for one Ingress.
pub fn render(source: &Source, gateway: &GatewayOptions, config: &SekishoConfig) -> Rendered {
    let ingress = &source.ingress;
    let reading = &source.reading;
    let (routes, mut warnings) = routes::routes(ingress);
    let mut notes = Vec::new();
    let mut docs = Vec::new();
    let inline_auth = reading
        .auth
        .as_ref()
        .filter(|_| gateway.implementation != GatewayImpl::EnvoyGateway);
    for route in &routes {
        let spec = HttpRouteSpec {
            parent_refs: vec![ParentRef {
                name: gateway.gateway.name.clone(),
                namespace: gateway.gateway.namespace.clone(),
            }],
            hostnames: route.host.iter().cloned().collect(),
            rules: route
                .paths
                .iter()
                .map(|p| rule(p, inline_auth, gateway, config, &mut warnings, &mut notes))
                .collect(),
        };
        docs.push(Doc::new(
            Vec::new(),
            &Resource::new(
                ROUTE_VERSION,
                "HTTPRoute",
                &route.name,
                ingress.namespace.clone(),
                spec,
            ),
        ));
    }
    if gateway.implementation == GatewayImpl::EnvoyGateway {
        if let Some(policy) = security_policy(source, &routes, gateway) {
            docs.push(policy);
        }
    } else if !reading.allow_sources.is_empty() {
        docs.extend(unmapped_restriction(
            source,
            &routes,
            gateway,
            &mut warnings,
        ));
    }
    if let Some(auth) = &reading.auth {
        docs.extend(reference_grant(
            ingress.namespace.as_deref(),
            &auth.service,
            gateway,
            &mut notes,
        ));
    }
    notes.extend(ingress_notes(source, gateway));
    if reading
        .auth
        .as_ref()
        .is_some_and(|a| a.response_headers.is_none())
        && gateway.implementation != GatewayImpl::EnvoyGateway
        && gateway.protocol == Protocol::Http
    {
        notes.push(
            "no auth-response-headers: allowedResponseHeaders lists Sekisho's identity headers \
             (an empty list would copy every header of its answer to the app)"
                .to_owned(),
        );
    }
    warnings.extend(implementation_warnings(source, gateway));
    let mut all_warnings = reading.warnings();
    all_warnings.extend(warnings.iter().cloned());
    let comments = source_comments(
        source,
        |u| describe(u, reading.auth.as_ref(), gateway, &routes),
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

fn rule(
    path: &RoutePath,
    auth: Option<&Auth>,
    gateway: &GatewayOptions,
    config: &SekishoConfig,
    warnings: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> HttpRouteRule {
    if path.kind == PathKind::ImplementationSpecific && path.path != "/" {
        notes.push(format!(
            "`{}` (ImplementationSpecific): ingress-nginx matched it as a string prefix; \
             PathPrefix matches whole segments (`/app` no longer matches `/apple`)",
            path.path
        ));
    }
    HttpRouteRule {
        matches: vec![Match {
            path: PathMatch {
                kind: match path.kind {
                    PathKind::Exact => "Exact",
                    PathKind::Prefix | PathKind::ImplementationSpecific => "PathPrefix",
                },
                value: path.path.clone(),
            },
        }],
        filters: auth
            .map(|a| external_auth(a, gateway))
            .into_iter()
            .collect(),
        backend_refs: vec![BackendRef {
            name: path.service.clone(),
            namespace: None,
            port: port_number(path, config, warnings),
        }],
    }
}

/// An HTTPRoute needs the Service port's number; a named port is known only for Sekisho's.
fn port_number(
    path: &RoutePath,
    config: &SekishoConfig,
    warnings: &mut Vec<String>,
) -> Option<u16> {
    match &path.port {
        Port::Number(n) => Some(*n),
        Port::Name(name) => match config.service() {
            Some(sekisho) if sekisho.name == path.service => Some(sekisho.port),
            _ => {
                warnings.push(format!(
                    "`{}` goes to Service {} port `{name}`: an HTTPRoute needs the port's \
                     number; fill in its backendRefs port",
                    path.path, path.service
                ));
                None
            }
        },
    }
}

/// The request headers the gateway sends Sekisho. Not `accept` on NGINX Gateway Fabric: with
/// it Sekisho answers a navigating browser with a redirect, which NGF's `auth_request` turns
/// into a 500; without it the browser gets a plain 401.
fn request_headers(gateway: &GatewayOptions) -> Vec<&'static str> {
    REQUEST_HEADERS
        .iter()
        .copied()
        .filter(|h| *h != "accept" || gateway.implementation != GatewayImpl::NginxGatewayFabric)
        .collect()
}

fn external_auth(auth: &Auth, gateway: &GatewayOptions) -> Filter {
    let backend_ref = service_ref(&auth.service);
    let external_auth = match gateway.protocol {
        Protocol::Http => ExternalAuth {
            protocol: "HTTP",
            backend_ref,
            http: Some(HttpAuthConfig {
                path: EXT_AUTHZ_PATH.to_owned(),
                allowed_headers: request_headers(gateway)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                allowed_response_headers: response_headers(auth),
            }),
            grpc: None,
        },
        Protocol::Grpc => ExternalAuth {
            protocol: "GRPC",
            backend_ref,
            http: None,
            grpc: Some(GrpcAuthConfig {}),
        },
    };
    Filter {
        kind: "ExternalAuth",
        external_auth,
    }
}

/// `auth-response-headers`, or Sekisho's identity headers when it is absent: an empty list
/// would copy every header of Sekisho's answer.
fn response_headers(auth: &Auth) -> Vec<String> {
    match &auth.response_headers {
        Some(headers) if !headers.is_empty() => headers.clone(),
        _ => IDENTITY_HEADERS.iter().map(|h| (*h).to_owned()).collect(),
    }
}

fn service_ref(service: &ServiceRef) -> BackendRef {
    BackendRef {
        name: service.name.clone(),
        namespace: service.namespace.clone(),
        port: Some(service.port),
    }
}

/// Envoy Gateway: external authentication and the client address restriction, for every
/// route of the Ingress.
fn security_policy(source: &Source, routes: &[Route], gateway: &GatewayOptions) -> Option<Doc> {
    let reading = &source.reading;
    if (reading.auth.is_none() && reading.allow_sources.is_empty()) || routes.is_empty() {
        return None;
    }
    let ext_auth = reading.auth.as_ref().map(|auth| {
        let backend_refs = vec![service_ref(&auth.service)];
        match gateway.protocol {
            Protocol::Http => ExtAuth {
                headers_to_ext_auth: REQUEST_HEADERS.iter().map(|h| (*h).to_owned()).collect(),
                http: Some(EnvoyHttpExtAuth {
                    backend_refs,
                    path: EXT_AUTHZ_PATH.to_owned(),
                    headers_to_backend: auth.response_headers.clone().unwrap_or_default(),
                }),
                grpc: None,
            },
            Protocol::Grpc => ExtAuth {
                headers_to_ext_auth: Vec::new(),
                http: None,
                grpc: Some(EnvoyGrpcExtAuth { backend_refs }),
            },
        }
    });
    let authorization = (!reading.allow_sources.is_empty()).then(|| Authorization {
        default_action: "Deny",
        rules: vec![AuthorizationRule {
            name: "source-range".to_owned(),
            action: "Allow",
            principal: Principal {
                client_cidrs: reading
                    .allow_sources
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            },
        }],
    });
    let spec = SecurityPolicySpec {
        target_refs: routes
            .iter()
            .map(|r| TargetRef {
                group: GROUP,
                kind: "HTTPRoute",
                name: r.name.clone(),
            })
            .collect(),
        ext_auth,
        authorization,
    };
    Some(Doc::new(
        Vec::new(),
        &Resource::new(
            ENVOY_GATEWAY_VERSION,
            "SecurityPolicy",
            &policy_name(source),
            source.ingress.namespace.clone(),
            spec,
        ),
    ))
}

fn policy_name(source: &Source) -> String {
    names::derived(&source.ingress.name, "sekisho")
}

/// `whitelist-source-range` where the implementation has no validated resource for it:
/// NGINX Gateway Fabric's AccessPolicy, given as a comment; nothing for the standard.
fn unmapped_restriction(
    source: &Source,
    routes: &[Route],
    gateway: &GatewayOptions,
    warnings: &mut Vec<String>,
) -> Vec<Doc> {
    let ranges = list(&source.reading.allow_sources);
    let keys = restriction_keys(source);
    if gateway.implementation != GatewayImpl::NginxGatewayFabric {
        warnings.push(format!(
            "{keys}: only {ranges} may reach this app on ingress-nginx: Gateway API has no standard way to \
             say so, and this is NOT carried over; restrict it at your implementation (Envoy \
             Gateway: --gateway-impl envoy-gateway writes it) or in front of the Gateway"
        ));
        return Vec::new();
    }
    warnings.push(format!(
        "{keys}: only {ranges} may reach this app on ingress-nginx: NGINX Gateway Fabric's AccessPolicy \
         (gateway.nginx.org/v1alpha1) says so, written below as a comment; its CRD could not be \
         fetched pinned to check it, so check it against your version and apply it"
    ));
    let policy = AccessPolicy {
        api_version: "gateway.nginx.org/v1alpha1",
        kind: "AccessPolicy",
        metadata: Metadata {
            name: names::derived(&source.ingress.name, "source-range"),
            namespace: source.ingress.namespace.clone(),
        },
        spec: AccessPolicySpec {
            action: "Allow",
            target_refs: routes
                .iter()
                .map(|r| TargetRef {
                    group: GROUP,
                    kind: "HTTPRoute",
                    name: r.name.clone(),
                })
                .collect(),
            rules: source
                .reading
                .allow_sources
                .iter()
                .enumerate()
                .map(|(i, cidr)| AccessRule {
                    name: format!("range-{}", i + 1),
                    source: AccessSource {
                        kind: "IPAddress",
                        ip_address: IpAddress {
                            address: cidr.to_string(),
                        },
                    },
                })
                .collect(),
        },
    };
    vec![Doc::commented_out(
        vec!["whitelist-source-range for NGINX Gateway Fabric (not validated here; uncomment to apply):".to_owned()],
        &policy,
    )]
}

/// The annotations that restrict the client addresses.
fn restriction_keys(source: &Source) -> String {
    source
        .reading
        .uses
        .iter()
        .filter(|u| {
            matches!(
                u.meaning,
                Meaning::AllowSources | Meaning::Snippet(Some(Access::Restrict(_)))
            )
        })
        .map(|u| u.key.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A route (or SecurityPolicy) in another namespace than Sekisho's Service needs the
/// Service's namespace to allow the reference.
fn reference_grant(
    route_namespace: Option<&str>,
    service: &ServiceRef,
    gateway: &GatewayOptions,
    notes: &mut Vec<String>,
) -> Option<Doc> {
    let service_namespace = service.namespace.as_deref()?;
    let (group, kind, kinds) = match gateway.implementation {
        GatewayImpl::EnvoyGateway => (
            "gateway.envoyproxy.io",
            "SecurityPolicy",
            "SecurityPolicies",
        ),
        _ => (GROUP, "HTTPRoute", "HTTPRoutes"),
    };
    let Some(route_namespace) = route_namespace else {
        notes.push(format!(
            "Sekisho's Service is in namespace {service_namespace}: applied in another namespace, \
             the {kind} needs a ReferenceGrant there allowing {kinds} of that namespace to refer \
             to Service {}",
            service.name
        ));
        return None;
    };
    if route_namespace == service_namespace {
        return None;
    }
    let grant = Resource::new(
        GRANT_VERSION,
        "ReferenceGrant",
        &names::derived(&format!("{}-from", service.name), route_namespace),
        Some(service_namespace.to_owned()),
        ReferenceGrantSpec {
            from: vec![GrantFrom {
                group,
                kind,
                namespace: route_namespace.to_owned(),
            }],
            to: vec![GrantTo {
                group: "",
                kind: "Service",
                name: service.name.clone(),
            }],
        },
    );
    Some(Doc::new(
        vec![format!(
            "Lets {kinds} in namespace {route_namespace} refer to Sekisho's Service in {service_namespace}."
        )],
        &grant,
    ))
}

fn ingress_notes(source: &Source, gateway: &GatewayOptions) -> Vec<String> {
    let mut notes = Vec::new();
    let ingress = &source.ingress;
    if let Some(class) = &ingress.class {
        notes.push(format!(
            "ingressClassName `{class}`: the routes attach to Gateway {} (parentRefs) instead",
            gateway.gateway.name
        ));
    }
    for tls in &ingress.tls {
        notes.push(format!(
            "TLS for {} (Secret {}): certificates belong on the Gateway's HTTPS listener \
             (certificateRefs), not on routes",
            if tls.hosts.is_empty() {
                "every host".to_owned()
            } else {
                tls.hosts.join(", ")
            },
            tls.secret_name.as_deref().unwrap_or("none")
        ));
    }
    if source.reading.auth.is_some() && gateway.implementation != GatewayImpl::EnvoyGateway {
        notes.push(
            "ExternalAuth is in Gateway API's experimental channel: install its experimental CRDs"
                .to_owned(),
        );
    }
    notes
}

fn implementation_warnings(source: &Source, gateway: &GatewayOptions) -> Vec<String> {
    if source.reading.auth.is_none() || gateway.implementation != GatewayImpl::NginxGatewayFabric {
        return Vec::new();
    }
    vec![
        "NGINX Gateway Fabric runs ExternalAuth as nginx auth_request, which passes only 2xx, 401 \
         and 403 on (a redirect becomes a 500) and has no sign-in URL: a browser without a \
         session gets a bare 401; give users a link to /oauth2/start, or send 401s there with a \
         SnippetsFilter (`error_page 401 = ...`); enable NGF's experimental features"
            .to_owned(),
    ]
}

/// What an annotation became, for the comments.
fn describe(
    use_: &Use,
    auth: Option<&Auth>,
    gateway: &GatewayOptions,
    routes: &[Route],
) -> Option<String> {
    let envoy = gateway.implementation == GatewayImpl::EnvoyGateway;
    let where_auth = if envoy {
        "SecurityPolicy extAuth".to_owned()
    } else {
        "the ExternalAuth filter of every rule".to_owned()
    };
    Some(match &use_.meaning {
        Meaning::AuthUrl => {
            let auth = auth?;
            match gateway.protocol {
                Protocol::Http => format!(
                    "{where_auth}: HTTP to Service {}, path {EXT_AUTHZ_PATH}, sending {}",
                    auth.service,
                    request_headers(gateway).join(", ")
                ),
                Protocol::Grpc => format!(
                    "{where_auth}: gRPC (envoy.service.auth.v3.Authorization) to Service {}",
                    auth.service
                ),
            }
        }
        Meaning::SignIn => {
            "Sekisho's public_url (ConfigMap below); Sekisho itself sends a browser \
                            without a session to <public_url>/oauth2/start?rd=<the page>"
                .to_owned()
        }
        Meaning::ResponseHeaders => match (gateway.protocol, envoy) {
            (Protocol::Grpc, _) => {
                "the gRPC door answers with Sekisho's identity headers itself".to_owned()
            }
            (Protocol::Http, true) => "SecurityPolicy extAuth.http.headersToBackend".to_owned(),
            (Protocol::Http, false) => "externalAuth.http.allowedResponseHeaders".to_owned(),
        },
        Meaning::Method => "nothing: the gateway asks with the request's own method".to_owned(),
        Meaning::AllowSources if envoy => format!(
            "SecurityPolicy authorization: only these client ranges may reach {}",
            route_names(routes)
        ),
        Meaning::Snippet(Some(Access::SkipLogin(cidrs))) => format!(
            "trusted_ips = {} in Sekisho's configuration: these addresses pass without signing in",
            list(cidrs)
        ),
        Meaning::Snippet(Some(Access::Restrict(cidrs))) if envoy => format!(
            "SecurityPolicy authorization: only {} may reach the app",
            list(cidrs)
        ),
        Meaning::IngressClass => "nothing: routes attach to the Gateway by parentRefs".to_owned(),
        _ => return None,
    })
}

fn route_names(routes: &[Route]) -> String {
    routes
        .iter()
        .map(|r| format!("HTTPRoute {}", r.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn list(cidrs: &[Cidr]) -> String {
    cidrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
