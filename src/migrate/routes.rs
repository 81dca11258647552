//! An Ingress's rules as routes, one per host, the shape both targets write: Gateway API
//! puts one HTTPRoute per host, Traefik one route per path in an IngressRoute.

use std::collections::BTreeMap;

use super::annotations::Reading;
use super::cli::Options;
use super::ingress::{Backend, Ingress, Path, PathKind, Port, Rule};
use super::input::{Document, Origin};
use super::output::Doc;
use super::sekisho_config::SekishoConfig;
use super::{Source, gateway_api, names, traefik};

/// The paths of one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The object name for this host's route.
    pub name: String,
    /// None: every host.
    pub host: Option<String>,
    pub paths: Vec<RoutePath>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePath {
    pub path: String,
    pub kind: PathKind,
    pub service: String,
    pub port: Port,
}

/// The routes of `ingress`, and what of it could not be routed.
pub fn routes(ingress: &Ingress) -> (Vec<Route>, Vec<String>) {
    let mut by_host: BTreeMap<Option<String>, Vec<RoutePath>> = BTreeMap::new();
    let mut order: Vec<Option<String>> = Vec::new();
    let mut warnings = Vec::new();
    let mut add = |host: &Option<String>, paths: Vec<RoutePath>| {
        if !order.contains(host) {
            order.push(host.clone());
        }
        by_host.entry(host.clone()).or_default().extend(paths);
    };
    for (r, rule) in ingress.rules.iter().enumerate() {
        let Rule { host, paths } = rule;
        if paths.is_empty() {
            warnings.push(format!(
                "spec.rules[{r}] ({}) has no paths: nothing to route",
                host.as_deref().unwrap_or("every host")
            ));
        }
        let routed = paths
            .iter()
            .enumerate()
            .filter_map(|(p, path)| {
                route_path(path)
                    .map_err(|w| {
                        warnings.push(format!("spec.rules[{r}].http.paths[{p}]: {w}"));
                    })
                    .ok()
            })
            .collect();
        add(host, routed);
    }
    if let Some(backend) = &ingress.default_backend {
        let path = Path {
            path: "/".to_owned(),
            kind: PathKind::Prefix,
            backend: backend.clone(),
        };
        match route_path(&path) {
            Ok(p) => {
                warnings.push(
                    "spec.defaultBackend: written as a route for `/` on every host (a Gateway \
                     has no default backend); more specific routes of other hosts still win"
                        .to_owned(),
                );
                add(&None, vec![p]);
            }
            Err(w) => warnings.push(format!("spec.defaultBackend: {w}")),
        }
    }
    let many = order.len() > 1;
    let routes = order
        .into_iter()
        .enumerate()
        .filter_map(|(i, host)| {
            let paths = by_host.remove(&host).unwrap_or_default();
            (!paths.is_empty()).then(|| Route {
                name: if many {
                    names::derived(&ingress.name, &(i + 1).to_string())
                } else {
                    names::derived(&ingress.name, "")
                },
                host,
                paths,
            })
        })
        .collect();
    (routes, warnings)
}

fn route_path(path: &Path) -> Result<RoutePath, String> {
    match &path.backend {
        Backend::Service { name, port } => Ok(RoutePath {
            path: path.path.clone(),
            kind: path.kind,
            service: name.clone(),
            port: port.clone(),
        }),
        Backend::Resource { kind, name } => Err(format!(
            "the backend is a {kind} `{name}`, not a Service: not routed"
        )),
    }
}

/// A route for Sekisho's own paths (`/oauth2/`, `/saml/`) on the host of `public_url`, when
/// no Ingress in the input routes `/oauth2` there: the browser must reach the sign-in and
/// the callback on that host, without being asked to sign in first.
pub fn sekisho_paths(sources: &[Source], config: &SekishoConfig, options: &Options) -> Vec<Doc> {
    let (Some(host), Some(service)) = (config.public_host(), config.service()) else {
        return Vec::new();
    };
    let routed = sources.iter().any(|s| {
        s.ingress.rules.iter().any(|r| {
            r.host.as_deref() == Some(host.as_str())
                && r.paths.iter().any(|p| p.path.starts_with("/oauth2"))
        })
    });
    if routed {
        return Vec::new();
    }
    let path = |p: &str| Path {
        path: p.to_owned(),
        kind: PathKind::Prefix,
        backend: Backend::Service {
            name: service.name.clone(),
            port: Port::Number(service.port),
        },
    };
    let ingress = Ingress {
        name: "sekisho".to_owned(),
        namespace: service.namespace.clone(),
        annotations: BTreeMap::new(),
        class: None,
        tls: Vec::new(),
        rules: vec![Rule {
            host: Some(host.clone()),
            paths: vec![path("/oauth2"), path("/saml")],
        }],
        default_backend: None,
    };
    let source = Source {
        document: Document {
            origin: Origin {
                file: "(added)".to_owned(),
                document: 0,
                item: None,
            },
            value: serde_yaml_ng::Value::Null,
        },
        ingress,
        reading: Reading::default(),
    };
    let mut rendered = match &options.target {
        super::cli::Target::GatewayApi(gateway) => gateway_api::render(&source, gateway, config),
        super::cli::Target::Traefik => traefik::render(&source),
    };
    if let Some(first) = rendered.docs.first_mut() {
        first.comments = vec![format!(
            "Sekisho's own paths on {host} (sign-in, callback, sign-out, SAML), added: no \
             Ingress in the input routes /oauth2 there. They must not ask Sekisho first."
        )];
    }
    rendered.docs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::ingress::Tls;

    fn path(p: &str, backend: Backend) -> Path {
        Path {
            path: p.into(),
            kind: PathKind::Prefix,
            backend,
        }
    }

    fn service(name: &str) -> Backend {
        Backend::Service {
            name: name.into(),
            port: Port::Number(80),
        }
    }

    #[test]
    fn one_route_per_host_and_what_cannot_be_routed() {
        let ingress = Ingress {
            name: "app".into(),
            namespace: None,
            annotations: BTreeMap::new(),
            class: None,
            tls: vec![Tls {
                hosts: vec![],
                secret_name: None,
            }],
            rules: vec![
                Rule {
                    host: Some("a.example.com".into()),
                    paths: vec![path("/", service("a"))],
                },
                Rule {
                    host: Some("b.example.com".into()),
                    paths: vec![
                        path("/", service("b")),
                        path(
                            "/static",
                            Backend::Resource {
                                kind: "StorageBucket".into(),
                                name: "assets".into(),
                            },
                        ),
                    ],
                },
                Rule {
                    host: Some("a.example.com".into()),
                    paths: vec![path("/api", service("api"))],
                },
                Rule {
                    host: Some("c.example.com".into()),
                    paths: vec![],
                },
            ],
            default_backend: Some(service("fallback")),
        };
        let (routes, warnings) = routes(&ingress);
        let summary: Vec<(String, Option<String>, Vec<String>)> = routes
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    r.host.clone(),
                    r.paths
                        .iter()
                        .map(|p| format!("{}>{}", p.path, p.service))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "app-1".into(),
                    Some("a.example.com".into()),
                    vec!["/>a".into(), "/api>api".into()]
                ),
                (
                    "app-2".into(),
                    Some("b.example.com".into()),
                    vec!["/>b".into()]
                ),
                ("app-4".into(), None, vec!["/>fallback".into()]),
            ]
        );
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(
            warnings[0].contains("StorageBucket `assets`"),
            "{warnings:?}"
        );
        assert!(warnings[1].contains("spec.rules[3] (c.example.com) has no paths"));
        assert!(warnings[2].contains("spec.defaultBackend"));
    }
}
