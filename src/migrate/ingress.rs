//! An Ingress (networking.k8s.io/v1), typed. Reading one either gives every field the
//! targets need, checked, or says which field is wrong.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::input::{Document, FieldError, InputError};

/// The only Ingress version Kubernetes still serves (the beta ones went in 1.22).
pub const API_VERSION: &str = "networking.k8s.io/v1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingress {
    pub name: String,
    pub namespace: Option<String>,
    pub annotations: BTreeMap<String, String>,
    pub class: Option<String>,
    pub tls: Vec<Tls>,
    pub rules: Vec<Rule>,
    /// `spec.defaultBackend`: requests no rule matches.
    pub default_backend: Option<Backend>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub hosts: Vec<String>,
    pub secret_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// None: every host.
    pub host: Option<String>,
    pub paths: Vec<Path>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub path: String,
    pub kind: PathKind,
    pub backend: Backend,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    Exact,
    Prefix,
    /// For ingress-nginx: a prefix of the path as a string (`/app` matches `/apple`).
    ImplementationSpecific,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Service {
        name: String,
        port: Port,
    },
    /// A non-Service backend (`resource:`), which no target here can route to.
    Resource {
        kind: String,
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Port {
    Number(u16),
    Name(String),
}

impl Ingress {
    /// `namespace/name`, or `name` when the manifest has no namespace.
    pub fn display_name(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{namespace}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The hosts of the rules, in order, without repeats.
    pub fn hosts(&self) -> Vec<&str> {
        let mut hosts: Vec<&str> = Vec::new();
        for host in self.rules.iter().filter_map(|r| r.host.as_deref()) {
            if !hosts.contains(&host) {
                hosts.push(host);
            }
        }
        hosts
    }

    /// Whether `host` is served over TLS by this Ingress (`spec.tls`).
    pub fn tls_covers(&self, host: &str) -> bool {
        self.tls.iter().any(|t| t.hosts.iter().any(|h| h == host))
    }
}

/// Reads `document` as an Ingress.
pub fn parse(document: &Document) -> Result<Ingress, Vec<InputError>> {
    let name = document.name().map(|n| format!("Ingress {n}"));
    let fail = |errors: Vec<FieldError>| {
        errors
            .into_iter()
            .map(|e| InputError {
                origin: document.origin.clone(),
                object: name.clone(),
                field: Some(e.field),
                message: e.message,
            })
            .collect::<Vec<_>>()
    };
    let raw: RawIngress =
        serde_path_to_error::deserialize(document.value.clone()).map_err(|e| {
            fail(vec![FieldError::new(
                e.path().to_string(),
                e.inner().to_string(),
            )])
        })?;
    if raw.api_version != API_VERSION {
        return Err(fail(vec![FieldError::new(
            "apiVersion",
            format!(
                "`{}` is not read: convert it to {API_VERSION} (the beta versions are gone since Kubernetes 1.22)",
                raw.api_version
            ),
        )]));
    }
    raw.check().map_err(fail)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawIngress {
    api_version: String,
    metadata: RawMetadata,
    #[serde(default)]
    spec: RawSpec,
}

#[derive(Deserialize)]
struct RawMetadata {
    name: String,
    namespace: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawSpec {
    ingress_class_name: Option<String>,
    default_backend: Option<RawBackend>,
    #[serde(default)]
    tls: Vec<RawTls>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTls {
    #[serde(default)]
    hosts: Vec<String>,
    secret_name: Option<String>,
}

#[derive(Deserialize)]
struct RawRule {
    host: Option<String>,
    http: Option<RawHttp>,
}

#[derive(Deserialize)]
struct RawHttp {
    paths: Vec<RawPath>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPath {
    path: Option<String>,
    path_type: Option<PathKind>,
    backend: RawBackend,
}

#[derive(Deserialize)]
struct RawBackend {
    service: Option<RawService>,
    resource: Option<RawResource>,
}

#[derive(Deserialize)]
struct RawService {
    name: String,
    port: RawPort,
}

#[derive(Deserialize)]
struct RawPort {
    number: Option<u16>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawResource {
    kind: String,
    name: String,
}

impl RawIngress {
    /// The typed Ingress, or every field that breaks the rules the API server enforces.
    fn check(self) -> Result<Ingress, Vec<FieldError>> {
        let mut errors = Vec::new();
        let default_backend = self
            .spec
            .default_backend
            .and_then(|b| b.check("spec.defaultBackend", &mut errors));
        let mut rules = Vec::new();
        for (r, rule) in self.spec.rules.into_iter().enumerate() {
            let mut paths = Vec::new();
            for (p, path) in rule
                .http
                .map(|h| h.paths)
                .unwrap_or_default()
                .into_iter()
                .enumerate()
            {
                let at = format!("spec.rules[{r}].http.paths[{p}]");
                if let Some(path) = path.check(&at, &mut errors) {
                    paths.push(path);
                }
            }
            if let Some(host) = &rule.host {
                if !valid_host(host) {
                    errors.push(FieldError::new(
                        format!("spec.rules[{r}].host"),
                        format!("`{host}` is not a host name"),
                    ));
                }
            }
            rules.push(Rule {
                host: rule.host,
                paths,
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Ingress {
            name: self.metadata.name,
            namespace: self.metadata.namespace,
            annotations: self.metadata.annotations,
            class: self.spec.ingress_class_name,
            tls: self
                .spec
                .tls
                .into_iter()
                .map(|t| Tls {
                    hosts: t.hosts,
                    secret_name: t.secret_name,
                })
                .collect(),
            rules,
            default_backend,
        })
    }
}

impl RawPath {
    fn check(self, at: &str, errors: &mut Vec<FieldError>) -> Option<Path> {
        let backend = self.backend.check(&format!("{at}.backend"), errors);
        let Some(kind) = self.path_type else {
            errors.push(FieldError::new(
                format!("{at}.pathType"),
                "missing (Exact, Prefix or ImplementationSpecific)",
            ));
            return None;
        };
        let path = self.path.unwrap_or_else(|| "/".to_owned());
        if !path.starts_with('/') {
            errors.push(FieldError::new(
                format!("{at}.path"),
                format!("`{path}` does not start with `/`"),
            ));
            return None;
        }
        Some(Path {
            path,
            kind,
            backend: backend?,
        })
    }
}

impl RawBackend {
    fn check(self, at: &str, errors: &mut Vec<FieldError>) -> Option<Backend> {
        match (self.service, self.resource) {
            (Some(service), None) => {
                let port = match (service.port.number, service.port.name) {
                    (Some(number), None) if number > 0 => Port::Number(number),
                    (None, Some(name)) if !name.is_empty() => Port::Name(name),
                    _ => {
                        errors.push(FieldError::new(
                            format!("{at}.service.port"),
                            "needs exactly one of number (1-65535) and name",
                        ));
                        return None;
                    }
                };
                Some(Backend::Service {
                    name: service.name,
                    port,
                })
            }
            (None, Some(resource)) => Some(Backend::Resource {
                kind: resource.kind,
                name: resource.name,
            }),
            _ => {
                errors.push(FieldError::new(
                    at,
                    "needs exactly one of service and resource",
                ));
                None
            }
        }
    }
}

/// A DNS name, optionally with a leading `*.` label, as Ingress hosts are.
fn valid_host(host: &str) -> bool {
    let rest = host.strip_prefix("*.").unwrap_or(host);
    !rest.is_empty()
        && rest.len() <= 253
        && rest.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::input::{Origin, split};

    fn ingress(yaml: &str) -> Result<Ingress, Vec<String>> {
        let mut documents = Vec::new();
        let mut errors = Vec::new();
        split("in.yaml", yaml, &mut documents, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        parse(&documents[0]).map_err(|e| e.iter().map(ToString::to_string).collect())
    }

    const GOOD: &str = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: app\n  namespace: web\nspec:\n  tls:\n  - hosts: [app.example.com]\n    secretName: app-tls\n  rules:\n  - host: app.example.com\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: app\n            port:\n              number: 80\n";

    #[test]
    fn a_good_ingress_is_read_whole() {
        let ingress = ingress(GOOD).unwrap();
        assert_eq!(ingress.display_name(), "web/app");
        assert_eq!(ingress.hosts(), vec!["app.example.com"]);
        assert!(ingress.tls_covers("app.example.com"));
        assert_eq!(
            ingress.rules[0].paths[0],
            Path {
                path: "/".into(),
                kind: PathKind::Prefix,
                backend: Backend::Service {
                    name: "app".into(),
                    port: Port::Number(80)
                }
            }
        );
        let _ = Origin {
            file: String::new(),
            document: 1,
            item: None,
        };
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (
                GOOD.replace("networking.k8s.io/v1", "extensions/v1beta1"),
                "in.yaml: document 1 (Ingress app): apiVersion: `extensions/v1beta1` is not read",
            ),
            (
                GOOD.replace("  name: app\n  namespace", "  namespace"),
                "in.yaml: document 1: metadata: missing field `name`",
            ),
            (
                GOOD.replace("        pathType: Prefix\n", ""),
                "(Ingress app): spec.rules[0].http.paths[0].pathType: missing",
            ),
            (
                GOOD.replace("pathType: Prefix", "pathType: Regex"),
                "(Ingress app): spec.rules[0].http.paths[0].pathType: unknown variant `Regex`",
            ),
            (
                GOOD.replace("number: 80", "number: 80\n              name: http"),
                "spec.rules[0].http.paths[0].backend.service.port: needs exactly one",
            ),
            (
                GOOD.replace("number: 80", "number: 99999"),
                "spec.rules[0].http.paths[0].backend.service.port.number",
            ),
            (
                GOOD.replace("host: app.example.com", "host: App_Example"),
                "spec.rules[0].host: `App_Example` is not a host name",
            ),
            (
                GOOD.replace("path: /", "path: app"),
                "spec.rules[0].http.paths[0].path: `app` does not start with `/`",
            ),
            (
                GOOD.replace(
                    "  namespace: web\n",
                    "  namespace: web\n  annotations:\n    a: 1\n",
                ),
                "metadata.annotations.a: invalid type: integer `1`, expected a string",
            ),
        ];
        for (yaml, expected) in cases {
            let errors = ingress(&yaml).unwrap_err();
            assert!(
                errors.iter().any(|e| e.contains(expected)),
                "expected {expected:?} in {errors:?}"
            );
        }
    }
}
