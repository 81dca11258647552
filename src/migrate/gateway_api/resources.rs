//! The Gateway API and Envoy Gateway resources written, as their CRDs spell them.

use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource<S> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: Metadata,
    pub spec: S,
}

impl<S> Resource<S> {
    pub fn new(
        api_version: &'static str,
        kind: &'static str,
        name: &str,
        namespace: Option<String>,
        spec: S,
    ) -> Self {
        Resource {
            api_version,
            kind,
            metadata: Metadata {
                name: name.to_owned(),
                namespace,
            },
            spec,
        }
    }
}

#[derive(Serialize)]
pub struct Metadata {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteSpec {
    pub parent_refs: Vec<ParentRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hostnames: Vec<String>,
    pub rules: Vec<HttpRouteRule>,
}

#[derive(Serialize)]
pub struct ParentRef {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteRule {
    pub matches: Vec<Match>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
    pub backend_refs: Vec<BackendRef>,
}

#[derive(Serialize)]
pub struct Match {
    pub path: PathMatch,
}

#[derive(Serialize)]
pub struct PathMatch {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub external_auth: ExternalAuth,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalAuth {
    pub protocol: &'static str,
    pub backend_ref: BackendRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpAuthConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcAuthConfig>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpAuthConfig {
    pub path: String,
    pub allowed_headers: Vec<String>,
    pub allowed_response_headers: Vec<String>,
}

/// Empty: every request header goes to the gRPC door.
#[derive(Serialize)]
pub struct GrpcAuthConfig {}

#[derive(Serialize)]
pub struct BackendRef {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityPolicySpec {
    pub target_refs: Vec<TargetRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext_auth: Option<ExtAuth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
}

#[derive(Serialize)]
pub struct TargetRef {
    pub group: &'static str,
    pub kind: &'static str,
    pub name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtAuth {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers_to_ext_auth: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<EnvoyHttpExtAuth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc: Option<EnvoyGrpcExtAuth>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvoyHttpExtAuth {
    pub backend_refs: Vec<BackendRef>,
    pub path: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers_to_backend: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvoyGrpcExtAuth {
    pub backend_refs: Vec<BackendRef>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    pub default_action: &'static str,
    pub rules: Vec<AuthorizationRule>,
}

#[derive(Serialize)]
pub struct AuthorizationRule {
    pub name: String,
    pub action: &'static str,
    pub principal: Principal,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    #[serde(rename = "clientCIDRs")]
    pub client_cidrs: Vec<String>,
}

#[derive(Serialize)]
pub struct ReferenceGrantSpec {
    pub from: Vec<GrantFrom>,
    pub to: Vec<GrantTo>,
}

#[derive(Serialize)]
pub struct GrantFrom {
    pub group: &'static str,
    pub kind: &'static str,
    pub namespace: String,
}

#[derive(Serialize)]
pub struct GrantTo {
    pub group: &'static str,
    pub kind: &'static str,
    pub name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPolicy {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: Metadata,
    pub spec: AccessPolicySpec,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPolicySpec {
    pub action: &'static str,
    pub target_refs: Vec<TargetRef>,
    pub rules: Vec<AccessRule>,
}

#[derive(Serialize)]
pub struct AccessRule {
    pub name: String,
    pub source: AccessSource,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessSource {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub ip_address: IpAddress,
}

#[derive(Serialize)]
pub struct IpAddress {
    pub address: String,
}
