//! oauth2-proxy's alpha configuration (`--alpha-config`, YAML): `upstreamConfig`,
//! `injectRequestHeaders`, `injectResponseHeaders`, `server`, `metricsServer` and
//! `providers`. It replaces the legacy options of those parts; each field is read into the
//! [`Setting`] of the legacy option it stands for, so the mapping reads both the same way.
//! What has no legacy option (custom header injections, `rewriteTarget`) is returned apart.
//! `${VAR}` in a value is replaced from the environment, as oauth2-proxy does.

use std::collections::HashMap;

use serde_yaml_ng::{Mapping, Value as Y};

use super::options::{self, Fate, Kind};
use super::sources::{Origin, Setting, Value};

/// What the alpha configuration says.
#[derive(Debug, Default)]
pub struct Alpha {
    pub settings: Vec<Setting>,
    /// Fields with no equivalent in Sekisho that change who gets in or what apps are told.
    pub unsupported: Vec<(Origin, String)>,
    /// Fields left out that change neither.
    pub ignored: Vec<(Origin, String)>,
}

/// Reads the alpha configuration in `text`, from the file `path`; `env` resolves `${VAR}`.
pub fn read(path: &str, text: &str, env: &HashMap<String, String>) -> Result<Alpha, Vec<String>> {
    let root: Y = serde_yaml_ng::from_str(text).map_err(|e| {
        let line = e.location().map_or(1, |l| l.line());
        vec![format!("{path}:{line}: not valid YAML: {e}")]
    })?;
    let mut reader = Reader {
        path,
        env,
        alpha: Alpha::default(),
        problems: Vec::new(),
    };
    match &root {
        Y::Mapping(map) => reader.root(map),
        Y::Null => {}
        _ => reader
            .problems
            .push(format!("{path}: the alpha configuration is a YAML mapping")),
    }
    if reader.problems.is_empty() {
        Ok(reader.alpha)
    } else {
        Err(reader.problems)
    }
}

struct Reader<'a> {
    path: &'a str,
    env: &'a HashMap<String, String>,
    alpha: Alpha,
    problems: Vec<String>,
}

/// Provider fields that are legacy options, by their alpha name.
const PROVIDER_FIELDS: &[(&str, &str)] = &[
    ("provider", "provider"),
    ("name", "provider-display-name"),
    ("clientID", "client-id"),
    ("clientSecret", "client-secret"),
    ("clientSecretFile", "client-secret-file"),
    ("caFiles", "provider-ca-file"),
    ("useSystemTrustStore", "use-system-trust-store"),
    ("loginURL", "login-url"),
    ("authRequestResponseMode", "auth-request-response-mode"),
    ("redeemURL", "redeem-url"),
    ("profileURL", "profile-url"),
    ("skipClaimsFromProfileURL", "skip-claims-from-profile-url"),
    ("resource", "resource"),
    ("validateURL", "validate-url"),
    ("scope", "scope"),
    ("allowedGroups", "allowed-group"),
    ("code_challenge_method", "code-challenge-method"),
    ("backendLogoutURL", "backend-logout-url"),
];

const OIDC_FIELDS: &[(&str, &str)] = &[
    ("issuerURL", "oidc-issuer-url"),
    (
        "insecureAllowUnverifiedEmail",
        "insecure-oidc-allow-unverified-email",
    ),
    (
        "insecureSkipIssuerVerification",
        "insecure-oidc-skip-issuer-verification",
    ),
    ("insecureSkipNonce", "insecure-oidc-skip-nonce"),
    ("skipDiscovery", "skip-oidc-discovery"),
    ("jwksURL", "oidc-jwks-url"),
    ("publicKeyFiles", "oidc-public-key-file"),
    ("emailClaim", "oidc-email-claim"),
    ("groupsClaim", "oidc-groups-claim"),
    ("userIDClaim", "user-id-claim"),
    ("audienceClaims", "oidc-audience-claim"),
    ("extraAudiences", "oidc-extra-audience"),
    ("enabledSigningAlgs", "oidc-enabled-signing-alg"),
];

const KEYCLOAK_FIELDS: &[(&str, &str)] = &[("groups", "keycloak-group"), ("roles", "allowed-role")];

/// Sections for providers Sekisho does not have.
const OTHER_PROVIDERS: &[&str] = &[
    "azureConfig",
    "microsoftEntraIDConfig",
    "ADFSConfig",
    "bitbucketConfig",
    "githubConfig",
    "gitlabConfig",
    "googleConfig",
    "loginGovConfig",
];

const UPSTREAM_FIELDS: &[(&str, &str)] = &[
    ("insecureSkipTLSVerify", "ssl-upstream-insecure-skip-verify"),
    ("flushInterval", "flush-interval"),
    ("passHostHeader", "pass-host-header"),
    ("proxyWebSockets", "proxy-websockets"),
    ("timeout", "upstream-timeout"),
    ("disableKeepAlives", "disable-keep-alives"),
];

/// Identity headers oauth2-proxy's legacy options inject, and the option each stands for:
/// (header, claim, option).
const REQUEST_HEADERS: &[(&str, &str, &str)] = &[
    ("X-Forwarded-User", "user", "pass-user-headers"),
    ("X-Forwarded-User", "email", "prefer-email-to-user"),
    ("X-Forwarded-Email", "email", "pass-user-headers"),
    ("X-Forwarded-Groups", "groups", "pass-user-headers"),
    (
        "X-Forwarded-Preferred-Username",
        "preferred_username",
        "pass-user-headers",
    ),
    (
        "X-Forwarded-Access-Token",
        "access_token",
        "pass-access-token",
    ),
];

const RESPONSE_HEADERS: &[(&str, &str, &str)] = &[
    ("X-Auth-Request-User", "user", "set-xauthrequest"),
    ("X-Auth-Request-Email", "email", "set-xauthrequest"),
    ("X-Auth-Request-Groups", "groups", "set-xauthrequest"),
    (
        "X-Auth-Request-Preferred-Username",
        "preferred_username",
        "set-xauthrequest",
    ),
    (
        "X-Auth-Request-Access-Token",
        "access_token",
        "pass-access-token",
    ),
];

impl Reader<'_> {
    fn origin(&self, field: &str) -> Origin {
        Origin::Alpha {
            path: self.path.to_owned(),
            field: field.to_owned(),
        }
    }

    fn unknown(&mut self, field: &str) {
        let origin = self.origin(field);
        self.problems.push(format!(
            "{origin}: unknown field of oauth2-proxy's alpha configuration"
        ));
    }

    fn root(&mut self, map: &Mapping) {
        for (key, value) in map {
            let key = key.as_str().unwrap_or_default();
            let name = canonical(
                key,
                &[
                    "upstreamConfig",
                    "injectRequestHeaders",
                    "injectResponseHeaders",
                    "server",
                    "metricsServer",
                    "providers",
                ],
            );
            match name {
                "upstreamConfig" => self.upstream_config(value),
                "injectRequestHeaders" => self.headers(name, value, REQUEST_HEADERS),
                "injectResponseHeaders" => self.headers(name, value, RESPONSE_HEADERS),
                "server" => self.server(key, value, "http-address", "https-address"),
                "metricsServer" => {
                    self.server(key, value, "metrics-address", "metrics-secure-address")
                }
                "providers" => self.providers(value),
                _ => self.unknown(key),
            }
        }
    }

    /// A legacy option's value from a YAML value, `${VAR}` resolved (not for secrets, which
    /// are never read).
    fn set(&mut self, field: &str, flag: &str, value: &Y) {
        let spec = options::by_flag(flag).expect("the alpha tables name known flags");
        let origin = self.origin(field);
        let secret = matches!(flag, "client-secret" | "client-secret-file");
        let text = |y: &Y| match y {
            Y::String(s) => Some(s.clone()),
            Y::Bool(b) => Some(b.to_string()),
            Y::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let value = match (spec.kind, value) {
            (Kind::List, Y::Sequence(items)) => items
                .iter()
                .map(text)
                .collect::<Option<Vec<_>>>()
                .map(Value::List),
            (Kind::Bool, Y::Bool(b)) => Some(Value::Bool(*b)),
            (_, y) => text(y).map(|t| match spec.kind {
                Kind::List => Value::List(vec![t]),
                Kind::Bool => Value::Text(t),
                _ => Value::Text(t),
            }),
        };
        let Some(mut value) = value else {
            self.problems
                .push(format!("{origin}: not a {}", kind_name(spec.kind)));
            return;
        };
        if !secret {
            match self.substitute(&value) {
                Ok(resolved) => value = resolved,
                Err(var) => {
                    self.problems.push(format!(
                        "{origin}: ${{{var}}} is not set in the environment"
                    ));
                    return;
                }
            }
        }
        if spec.kind == Kind::Bool {
            if let Value::Text(t) = &value {
                match t.as_str() {
                    "true" => value = Value::Bool(true),
                    "false" => value = Value::Bool(false),
                    _ => {
                        self.problems
                            .push(format!("{origin}: `{t}` is not true or false"));
                        return;
                    }
                }
            }
        }
        self.alpha.settings.retain(|s| !std::ptr::eq(s.spec, spec));
        self.alpha.settings.push(Setting {
            spec,
            value,
            origin,
            overrides: Vec::new(),
        });
    }

    fn substitute(&self, value: &Value) -> Result<Value, String> {
        Ok(match value {
            Value::Text(t) => Value::Text(substitute(t, self.env)?),
            Value::List(items) => Value::List(
                items
                    .iter()
                    .map(|i| substitute(i, self.env))
                    .collect::<Result<_, _>>()?,
            ),
            other => other.clone(),
        })
    }

    fn fields(&mut self, prefix: &str, value: &Y, table: &[(&str, &str)]) {
        let Some(map) = self.mapping(prefix, value) else {
            return;
        };
        for (key, value) in map {
            let key = key.as_str().unwrap_or_default();
            self.legacy(&format!("{prefix}.{key}"), key, value, table);
        }
    }

    /// The field `key` (at `field`) as the legacy option `table` names for it, or unknown.
    fn legacy(&mut self, field: &str, key: &str, value: &Y, table: &[(&str, &str)]) {
        match table
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
        {
            Some((_, flag)) => self.set(field, flag, value),
            None => self.unknown(field),
        }
    }

    fn mapping<'y>(&mut self, field: &str, value: &'y Y) -> Option<&'y Mapping> {
        match value {
            Y::Mapping(map) => Some(map),
            Y::Null => None,
            _ => {
                let origin = self.origin(field);
                self.problems.push(format!("{origin}: not a mapping"));
                None
            }
        }
    }

    fn sequence<'y>(&mut self, field: &str, value: &'y Y) -> &'y [Y] {
        match value {
            Y::Sequence(items) => items,
            Y::Null => &[],
            _ => {
                let origin = self.origin(field);
                self.problems.push(format!("{origin}: not a list"));
                &[]
            }
        }
    }

    fn providers(&mut self, value: &Y) {
        let providers = self.sequence("providers", value);
        if providers.len() > 1 {
            let origin = self.origin("providers");
            self.alpha.unsupported.push((
                origin,
                format!(
                    "{} providers: Sekisho signs in at one OpenID provider (and optionally one SAML IdP)",
                    providers.len()
                ),
            ));
        }
        for (i, provider) in providers.iter().enumerate() {
            let prefix = format!("providers[{i}]");
            let Some(map) = self.mapping(&prefix, provider) else {
                continue;
            };
            for (key, value) in map {
                let key = key.as_str().unwrap_or_default();
                let field = format!("{prefix}.{key}");
                let mut names = vec![
                    "oidcConfig",
                    "keycloakConfig",
                    "id",
                    "loginURLParameters",
                    "additionalClaims",
                ];
                names.extend(OTHER_PROVIDERS);
                let name = canonical(key, &names);
                match name {
                    "oidcConfig" => self.fields(&field, value, OIDC_FIELDS),
                    "keycloakConfig" => self.fields(&field, value, KEYCLOAK_FIELDS),
                    "id" => {}
                    "loginURLParameters" => self.alpha.ignored.push((
                        self.origin(&field),
                        "Sekisho sends no extra parameters to the provider's login page".into(),
                    )),
                    "additionalClaims" => self.alpha.ignored.push((
                        self.origin(&field),
                        "Sekisho reads the user, email, groups and roles claims only".into(),
                    )),
                    _ if OTHER_PROVIDERS.contains(&name) => {
                        if !is_empty(value) {
                            self.alpha.unsupported.push((
                                self.origin(&field),
                                "belongs to a provider Sekisho does not have".into(),
                            ));
                        }
                    }
                    _ => self.legacy(&field, key, value, PROVIDER_FIELDS),
                }
            }
        }
    }

    fn upstream_config(&mut self, value: &Y) {
        let Some(map) = self.mapping("upstreamConfig", value) else {
            return;
        };
        for (key, value) in map {
            let key = key.as_str().unwrap_or_default();
            match canonical(key, &["proxyRawPath", "upstreams"]) {
                "proxyRawPath" => self.alpha.ignored.push((
                    self.origin("upstreamConfig.proxyRawPath"),
                    "Sekisho always passes the path to the app exactly as the client sent it"
                        .into(),
                )),
                "upstreams" => self.upstreams(value),
                _ => self.unknown(&format!("upstreamConfig.{key}")),
            }
        }
    }

    fn upstreams(&mut self, value: &Y) {
        let mut urls = Vec::new();
        for (i, upstream) in self
            .sequence("upstreamConfig.upstreams", value)
            .iter()
            .enumerate()
        {
            let prefix = format!("upstreamConfig.upstreams[{i}]");
            let Some(map) = self.mapping(&prefix, upstream) else {
                continue;
            };
            let text = |key: &str| map.get(key).and_then(Y::as_str).map(str::to_owned);
            let is_static = map.get("static").and_then(Y::as_bool).unwrap_or(false);
            for (key, value) in map {
                let key = key.as_str().unwrap_or_default();
                let field = format!("{prefix}.{key}");
                match canonical(
                    key,
                    &["id", "path", "uri", "static", "staticCode", "rewriteTarget"],
                ) {
                    "id" | "path" | "uri" | "static" | "staticCode" => {}
                    "rewriteTarget" => self.alpha.unsupported.push((
                        self.origin(&field),
                        "Sekisho passes paths to apps unchanged".into(),
                    )),
                    _ => self.legacy(&field, key, value, UPSTREAM_FIELDS),
                }
            }
            let url = if is_static {
                let code = map.get("staticCode").and_then(Y::as_u64).unwrap_or(200);
                format!("static://{code}")
            } else {
                let Some(uri) = text("uri") else {
                    let origin = self.origin(&format!("{prefix}.uri"));
                    self.problems.push(format!("{origin}: missing"));
                    continue;
                };
                match (text("path"), url::Url::parse(&uri)) {
                    (Some(path), Ok(mut parsed)) if !matches!(path.as_str(), "" | "/") => {
                        parsed.set_path(&path);
                        parsed.to_string()
                    }
                    _ => uri,
                }
            };
            urls.push(url);
        }
        if !urls.is_empty() {
            let spec = options::by_flag("upstream").expect("known");
            self.alpha.settings.push(Setting {
                spec,
                value: Value::List(urls),
                origin: self.origin("upstreamConfig.upstreams"),
                overrides: Vec::new(),
            });
        }
    }

    fn server(&mut self, prefix: &str, value: &Y, http: &str, https: &str) {
        let Some(map) = self.mapping(prefix, value) else {
            return;
        };
        for (key, value) in map {
            let key = key.as_str().unwrap_or_default();
            let field = format!("{prefix}.{key}");
            match canonical(key, &["bindAddress", "secureBindAddress", "tls"]) {
                "bindAddress" => self.set(&field, http, value),
                "secureBindAddress" => self.set(&field, https, value),
                "tls" if !is_empty(value) => {
                    let why = match options::by_flag("tls-cert-file").map(|s| s.fate) {
                        Some(Fate::Unsupported(why)) => why,
                        _ => "Sekisho does not terminate TLS",
                    };
                    self.alpha
                        .unsupported
                        .push((self.origin(&field), why.to_owned()));
                }
                "tls" => {}
                _ => self.unknown(&field),
            }
        }
    }

    /// Header injections: those the legacy options write stand for those options; any other
    /// is something Sekisho cannot send.
    fn headers(&mut self, prefix: &str, value: &Y, known: &[(&str, &str, &str)]) {
        for (i, header) in self.sequence(prefix, value).iter().enumerate() {
            let field = format!("{prefix}[{i}]");
            let Some(map) = self.mapping(&field, header) else {
                continue;
            };
            let name = map.get("name").and_then(Y::as_str).unwrap_or_default();
            for key in map.keys().filter_map(Y::as_str) {
                if ![
                    "name",
                    "values",
                    "preserveRequestValue",
                    "InsecureSkipHeaderNormalization",
                ]
                .contains(&key)
                {
                    self.unknown(&format!("{field}.{key}"));
                }
            }
            if map.get("preserveRequestValue").and_then(Y::as_bool) == Some(true) {
                self.set(
                    &format!("{field}.preserveRequestValue"),
                    "skip-auth-strip-headers",
                    &Y::Bool(false),
                );
            }
            let values = map.get("values").and_then(Y::as_sequence);
            let claims: Vec<(Option<&str>, Option<&str>)> = values
                .map(|vs| {
                    vs.iter()
                        .map(|v| {
                            let claim = v.get("claimSource");
                            (
                                claim.and_then(|c| c.get("claim")).and_then(Y::as_str),
                                claim.and_then(|c| c.get("prefix")).and_then(Y::as_str),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let legacy = match claims.as_slice() {
                [(Some(claim), None)] => known
                    .iter()
                    .find(|(h, c, _)| h.eq_ignore_ascii_case(name) && c == claim)
                    .map(|(_, _, flag)| *flag),
                [(Some("id_token"), Some("Bearer "))]
                    if name.eq_ignore_ascii_case("Authorization") =>
                {
                    Some(if prefix == "injectRequestHeaders" {
                        "pass-authorization-header"
                    } else {
                        "set-authorization-header"
                    })
                }
                _ => None,
            };
            match legacy {
                Some(flag) => self.set(&format!("{field} ({name})"), flag, &Y::Bool(true)),
                None => self.alpha.unsupported.push((
                    self.origin(&format!("{field} ({name})")),
                    "Sekisho sends apps only its identity headers (user, email, groups, preferred \
                     username, access token): a custom header, a fixed secret or Basic credentials \
                     cannot be injected"
                        .into(),
                )),
            }
        }
    }
}

/// `key` as spelled in `names` when it is one of them with case ignored (oauth2-proxy decodes
/// the alpha configuration so), else `key` itself.
fn canonical<'a>(key: &'a str, names: &[&'a str]) -> &'a str {
    names
        .iter()
        .find(|n| n.eq_ignore_ascii_case(key))
        .copied()
        .unwrap_or(key)
}

fn is_empty(value: &Y) -> bool {
    match value {
        Y::Null => true,
        Y::Mapping(m) => m.is_empty(),
        Y::Sequence(s) => s.is_empty(),
        Y::String(s) => s.is_empty(),
        _ => false,
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Bool => "boolean",
        Kind::List => "list of strings",
        Kind::Int => "number",
        Kind::Str | Kind::Duration => "string",
    }
}

/// `${VAR}` and `$VAR` replaced from `env`; the name of the first one not set, if any.
fn substitute(text: &str, env: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, len) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        let is_name = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !is_name {
            out.push('$');
            rest = after;
            continue;
        }
        match env.get(name) {
            Some(value) => out.push_str(value),
            None => return Err(name.to_owned()),
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
upstreamConfig:
  upstreams:
  - id: app
    path: /
    uri: http://127.0.0.1:8080
    passHostHeader: true
injectRequestHeaders:
- name: X-Forwarded-User
  values:
  - claimSource:
      claim: user
injectResponseHeaders:
- name: X-Auth-Request-Email
  values:
  - claimSource:
      claim: email
server:
  bindAddress: 0.0.0.0:4180
providers:
- id: keycloak
  provider: keycloak-oidc
  clientID: app
  clientSecret: ${CLIENT_SECRET}
  allowedGroups: [/admins]
  oidcConfig:
    issuerURL: ${ISSUER}
    emailClaim: email
  keycloakConfig:
    roles: [app:editor]
"#;

    fn env() -> HashMap<String, String> {
        HashMap::from([(
            "ISSUER".to_owned(),
            "https://id.example.com/realms/corp".to_owned(),
        )])
    }

    fn value(alpha: &Alpha, key: &str) -> (String, String) {
        let s = alpha
            .settings
            .iter()
            .find(|s| s.spec.key == key)
            .unwrap_or_else(|| panic!("{key} in {:?}", alpha.settings));
        (s.value.to_string(), s.origin.to_string())
    }

    #[test]
    fn fields_become_the_legacy_options() {
        let alpha = read("alpha.yaml", EXAMPLE, &env()).unwrap();
        let cases: &[(&str, &str, &str)] = &[
            (
                "upstreams",
                "http://127.0.0.1:8080",
                "alpha.yaml: upstreamConfig.upstreams",
            ),
            (
                "pass_host_header",
                "true",
                "alpha.yaml: upstreamConfig.upstreams[0].passHostHeader",
            ),
            (
                "pass_user_headers",
                "true",
                "alpha.yaml: injectRequestHeaders[0] (X-Forwarded-User)",
            ),
            (
                "set_xauthrequest",
                "true",
                "alpha.yaml: injectResponseHeaders[0] (X-Auth-Request-Email)",
            ),
            (
                "http_address",
                "0.0.0.0:4180",
                "alpha.yaml: server.bindAddress",
            ),
            (
                "provider",
                "keycloak-oidc",
                "alpha.yaml: providers[0].provider",
            ),
            (
                "oidc_issuer_url",
                "https://id.example.com/realms/corp",
                "alpha.yaml: providers[0].oidcConfig.issuerURL",
            ),
            (
                "client_secret",
                "${CLIENT_SECRET}",
                "alpha.yaml: providers[0].clientSecret",
            ),
            (
                "allowed_groups",
                "/admins",
                "alpha.yaml: providers[0].allowedGroups",
            ),
            (
                "allowed_roles",
                "app:editor",
                "alpha.yaml: providers[0].keycloakConfig.roles",
            ),
        ];
        for (key, wanted, origin) in cases {
            assert_eq!(value(&alpha, key), (wanted.to_string(), origin.to_string()));
        }
        assert!(alpha.unsupported.is_empty(), "{:?}", alpha.unsupported);
    }

    #[test]
    fn what_has_no_legacy_option_is_set_apart() {
        let text = "injectRequestHeaders:\n- name: X-Secret\n  values:\n  - secretSource:\n      value: c2VjcmV0\n\
                    upstreamConfig:\n  upstreams:\n  - id: a\n    path: /a/\n    uri: http://a:1\n    rewriteTarget: /\n";
        let alpha = read("a.yaml", text, &env()).unwrap();
        let fields: Vec<String> = alpha
            .unsupported
            .iter()
            .map(|(o, _)| o.to_string())
            .collect();
        assert_eq!(
            fields,
            [
                "a.yaml: injectRequestHeaders[0] (X-Secret)",
                "a.yaml: upstreamConfig.upstreams[0].rewriteTarget"
            ]
        );
        assert_eq!(value(&alpha, "upstreams").0, "http://a:1/a/");
    }

    #[test]
    fn bad_input_names_the_field() {
        let cases: &[(&str, &str)] = &[
            (
                "providers:\n- oidcConfig:\n    issuer: x\n",
                "a.yaml: providers[0].oidcConfig.issuer: unknown field",
            ),
            ("servers: {}\n", "a.yaml: servers: unknown field"),
            ("providers: {}\n", "a.yaml: providers: not a list"),
            (
                "providers:\n- clientID: [a]\n",
                "a.yaml: providers[0].clientID: not a string",
            ),
            (
                "providers:\n- oidcConfig:\n    issuerURL: ${NOPE}\n",
                "${NOPE} is not set",
            ),
            ("providers:\n  - a: [\n", "a.yaml:"),
        ];
        for (text, wanted) in cases {
            let problems = read("a.yaml", text, &env()).err().unwrap_or_default();
            assert!(
                problems.iter().any(|p| p.contains(wanted)),
                "{text:?}: {problems:?}"
            );
        }
    }

    #[test]
    fn substitution() {
        let env = HashMap::from([("A".to_owned(), "1".to_owned())]);
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("x${A}y", Ok("x1y")),
            ("$A/b", Ok("1/b")),
            ("^/api$", Ok("^/api$")),
            ("cost $5", Ok("cost $5")),
            ("${B}", Err("B")),
        ];
        for (given, wanted) in cases {
            assert_eq!(
                substitute(given, &env).as_deref().map_err(String::as_str),
                *wanted,
                "{given}"
            );
        }
    }
}
