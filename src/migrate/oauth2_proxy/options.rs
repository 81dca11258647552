//! Every option of oauth2-proxy v7.15 that its legacy configuration reads (the flags its
//! `--help` lists), with the name it has in each place it can be given, and what becomes of
//! it in Sekisho. An option missing from this table is unknown: the migrator lists it as an
//! error rather than drop it.
//!
//! The names follow oauth2-proxy's own rule: a flag `--foo-bar` is `foo_bar` in the TOML file
//! and `OAUTH2_PROXY_FOO_BAR` in the environment; an option that may be given several times
//! has a plural file key (`--email-domain`, `email_domains`, `OAUTH2_PROXY_EMAIL_DOMAINS`).

/// How a value is written, and so how it is read from each source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Str,
    /// Repeatable flag; a TOML array; comma-separated in a flag value or the environment.
    List,
    /// A Go duration such as `168h0m0s`.
    Duration,
    Int,
}

/// What becomes of an option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Read by [`super::mapping`], which decides from its value.
    Mapped,
    /// No equivalent in Sekisho, and carrying on without it would change who gets in or what
    /// the apps are told: an error, naming the option.
    Unsupported(&'static str),
    /// No equivalent, and nothing about who gets in changes (looks, logs, ports, or a check
    /// Sekisho always makes): a warning, and the option is left out.
    Ignored(&'static str),
    /// About running oauth2-proxy itself (`--version`, `--config-test`): nothing to migrate.
    Command,
}

/// One oauth2-proxy option.
#[derive(Debug, PartialEq, Eq)]
pub struct Spec {
    /// The flag, without its dashes.
    pub flag: &'static str,
    /// The key in the TOML configuration file; the environment variable is made from it.
    pub key: &'static str,
    pub kind: Kind,
    pub fate: Fate,
}

impl Spec {
    /// `OAUTH2_PROXY_` and the file key in upper case.
    pub fn env(&self) -> String {
        format!("{ENV_PREFIX}{}", self.key.to_ascii_uppercase())
    }
}

pub const ENV_PREFIX: &str = "OAUTH2_PROXY_";

const LOOKS: &str = "changes only how oauth2-proxy's own pages look; Sekisho sends browsers \
                     straight to the provider and shows its own error pages";
const LOGS: &str = "Sekisho logs to stdout, one access line per request (log.access) in \
                    text or JSON (log.format)";
const PROBES: &str = "Sekisho answers /ping and /ready on its own listener";
const METRICS: &str = "Sekisho serves /metrics on its own listener";
const DISCOVERY: &str = "Sekisho reads the provider's endpoints and keys from the issuer's \
                         discovery document";
const OTHER_PROVIDER: &str = "belongs to a provider Sekisho does not have (Sekisho signs in \
                              over OpenID Connect or SAML, e.g. at Keycloak): it restricts or \
                              changes who may sign in";
const TLS: &str = "Sekisho does not terminate TLS: let nginx (or the load balancer) serve \
                   https and proxy to Sekisho over http";

use Fate::{Command, Ignored, Mapped, Unsupported};
use Kind::{Bool, Duration, Int, List, Str};

macro_rules! spec {
    ($flag:literal, $key:literal, $kind:expr, $fate:expr) => {
        Spec {
            flag: $flag,
            key: $key,
            kind: $kind,
            fate: $fate,
        }
    };
}

/// Every option, in `--help` order.
pub static OPTIONS: &[Spec] = &[
    spec!(
        "acr-values",
        "acr_values",
        Str,
        Ignored(
            "Sekisho asks for no particular acr_values; require the level of authentication in the provider's flow instead"
        )
    ),
    spec!(
        "allow-query-semicolons",
        "allow_query_semicolons",
        Bool,
        Ignored("Sekisho passes query strings to apps as sent")
    ),
    spec!("allowed-group", "allowed_groups", List, Mapped),
    spec!("allowed-role", "allowed_roles", List, Mapped),
    spec!(
        "api-route",
        "api_routes",
        List,
        Ignored(
            "Sekisho answers 401 rather than a redirect to every request that is not a browser navigation (GET/HEAD with Accept: text/html)"
        )
    ),
    spec!(
        "approval-prompt",
        "approval_prompt",
        Str,
        Ignored("Sekisho sends no approval_prompt")
    ),
    spec!("auth-logging", "auth_logging", Bool, Ignored(LOGS)),
    spec!(
        "auth-logging-format",
        "auth_logging_format",
        Str,
        Ignored(LOGS)
    ),
    spec!(
        "auth-request-response-mode",
        "auth_request_response_mode",
        Str,
        Ignored("Sekisho always uses the query response mode")
    ),
    spec!(
        "authenticated-emails-file",
        "authenticated_emails_file",
        Str,
        Unsupported(
            "Sekisho has no list of allowed addresses; put those users in a Keycloak group and use allowed_groups"
        )
    ),
    spec!(
        "azure-graph-group-field",
        "azure_graph_group_field",
        Str,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!(
        "azure-tenant",
        "azure_tenant",
        Str,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!(
        "backend-logout-url",
        "backend_logout_url",
        Str,
        Ignored(
            "Sekisho signs users out at the provider through its end_session_endpoint (RP-initiated logout)"
        )
    ),
    spec!("banner", "banner", Str, Ignored(LOOKS)),
    spec!(
        "basic-auth-password",
        "basic_auth_password",
        Str,
        Unsupported(
            "Sekisho never sends apps an Authorization: Basic header; apps must read the identity headers"
        )
    ),
    spec!(
        "bearer-token-login-fallback",
        "bearer_token_login_fallback",
        Bool,
        Ignored("Sekisho answers 401 to a request with a bearer token it does not accept")
    ),
    spec!(
        "bitbucket-repository",
        "bitbucket_repository",
        Str,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!(
        "bitbucket-team",
        "bitbucket_team",
        Str,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!(
        "bitbucket-workspace",
        "bitbucket_workspace",
        Str,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!("client-id", "client_id", Str, Mapped),
    spec!("client-secret", "client_secret", Str, Mapped),
    spec!("client-secret-file", "client_secret_file", Str, Mapped),
    spec!(
        "code-challenge-method",
        "code_challenge_method",
        Str,
        Mapped
    ),
    spec!("config", "config", Str, Command),
    spec!("config-test", "config_test", Bool, Command),
    spec!(
        "convert-config-to-alpha",
        "convert_config_to_alpha",
        Bool,
        Command
    ),
    spec!(
        "cookie-csrf-expire",
        "cookie_csrf_expire",
        Duration,
        Ignored("Sekisho's sign-in state lasts 10 minutes")
    ),
    spec!(
        "cookie-csrf-per-request",
        "cookie_csrf_per_request",
        Bool,
        Ignored("Sekisho keeps one state cookie per sign-in")
    ),
    spec!(
        "cookie-csrf-per-request-limit",
        "cookie_csrf_per_request_limit",
        Int,
        Ignored("Sekisho keeps one state cookie per sign-in")
    ),
    spec!(
        "cookie-csrf-samesite",
        "cookie_csrf_samesite",
        Str,
        Ignored("Sekisho's sign-in state cookie is SameSite=Lax")
    ),
    spec!("cookie-domain", "cookie_domains", List, Mapped),
    spec!("cookie-expire", "cookie_expire", Duration, Mapped),
    spec!("cookie-httponly", "cookie_httponly", Bool, Mapped),
    spec!("cookie-name", "cookie_name", Str, Mapped),
    spec!("cookie-path", "cookie_path", Str, Mapped),
    spec!("cookie-refresh", "cookie_refresh", Duration, Mapped),
    spec!("cookie-samesite", "cookie_samesite", Str, Mapped),
    spec!("cookie-secret", "cookie_secret", Str, Mapped),
    spec!("cookie-secret-file", "cookie_secret_file", Str, Mapped),
    spec!("cookie-secure", "cookie_secure", Bool, Mapped),
    spec!(
        "custom-sign-in-logo",
        "custom_sign_in_logo",
        Str,
        Ignored(LOOKS)
    ),
    spec!(
        "custom-templates-dir",
        "custom_templates_dir",
        Str,
        Ignored(LOOKS)
    ),
    spec!(
        "disable-keep-alives",
        "disable_keep_alives",
        Bool,
        Ignored("Sekisho keeps connections to apps alive in a pool")
    ),
    spec!(
        "display-htpasswd-form",
        "display_htpasswd_form",
        Bool,
        Ignored(LOOKS)
    ),
    spec!("email-domain", "email_domains", List, Mapped),
    spec!(
        "encode-state",
        "encode_state",
        Bool,
        Ignored("Sekisho's state parameter is its own")
    ),
    spec!(
        "entra-id-allowed-tenant",
        "entra_id_allowed_tenants",
        List,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!(
        "entra-id-federated-token-auth",
        "entra_id_federated_token_auth",
        Bool,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!(
        "errors-to-info-log",
        "errors_to_info_log",
        Bool,
        Ignored(LOGS)
    ),
    spec!(
        "exclude-logging-path",
        "exclude_logging_paths",
        List,
        Ignored(LOGS)
    ),
    spec!(
        "extra-jwt-issuers",
        "extra_jwt_issuers",
        List,
        Unsupported(
            "Sekisho accepts bearer tokens from its own issuer only; clients holding tokens of another issuer would be refused"
        )
    ),
    spec!(
        "flush-interval",
        "flush_interval",
        Duration,
        Ignored("Sekisho streams responses to the client as they arrive")
    ),
    spec!("footer", "footer", Str, Ignored(LOOKS)),
    spec!(
        "force-code-challenge-method",
        "force_code_challenge_method",
        Str,
        Mapped
    ),
    spec!(
        "force-https",
        "force_https",
        Bool,
        Ignored("redirect http to https in nginx (or the load balancer) in front of Sekisho")
    ),
    spec!(
        "force-json-errors",
        "force_json_errors",
        Bool,
        Ignored("Sekisho answers API clients with 401/403 and no redirect already")
    ),
    spec!(
        "gcp-healthchecks",
        "gcp_healthchecks",
        Bool,
        Ignored(PROBES)
    ),
    spec!("github-org", "github_org", Str, Unsupported(OTHER_PROVIDER)),
    spec!(
        "github-repo",
        "github_repo",
        Str,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!(
        "github-team",
        "github_team",
        Str,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!(
        "github-token",
        "github_token",
        Str,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!(
        "github-user",
        "github_users",
        List,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!(
        "gitlab-group",
        "gitlab_groups",
        List,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!(
        "gitlab-project",
        "gitlab_projects",
        List,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!(
        "google-admin-api-user-scope",
        "google_admin_api_user_scope",
        Str,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!(
        "google-admin-email",
        "google_admin_email",
        Str,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!(
        "google-group",
        "google_groups",
        List,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!(
        "google-group",
        "google_group",
        List,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!(
        "google-service-account-json",
        "google_service_account_json",
        Str,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!(
        "google-target-principal",
        "google_target_principal",
        Str,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!(
        "google-use-application-default-credentials",
        "google_use_application_default_credentials",
        Str,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!(
        "google-use-organization-id",
        "google_use_organization_id",
        Str,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!(
        "htpasswd-file",
        "htpasswd_file",
        Str,
        Unsupported("Sekisho has no local users: move them into the provider (a Keycloak realm)")
    ),
    spec!(
        "htpasswd-user-group",
        "htpasswd_user_groups",
        List,
        Unsupported("Sekisho has no local users: move them into the provider (a Keycloak realm)")
    ),
    spec!("http-address", "http_address", Str, Mapped),
    spec!("https-address", "https_address", Str, Mapped),
    spec!(
        "insecure-oidc-allow-unverified-email",
        "insecure_oidc_allow_unverified_email",
        Bool,
        Mapped
    ),
    spec!(
        "insecure-oidc-skip-issuer-verification",
        "insecure_oidc_skip_issuer_verification",
        Bool,
        Ignored(
            "Sekisho always checks that the issuer is the one it discovered; sign-in fails if the provider says otherwise"
        )
    ),
    spec!(
        "insecure-oidc-skip-nonce",
        "insecure_oidc_skip_nonce",
        Bool,
        Ignored("Sekisho always sends and checks a nonce")
    ),
    spec!("jwt-key", "jwt_key", Str, Unsupported(OTHER_PROVIDER)),
    spec!(
        "jwt-key-file",
        "jwt_key_file",
        Str,
        Unsupported(OTHER_PROVIDER)
    ),
    spec!("keycloak-group", "keycloak_groups", List, Mapped),
    spec!("logging-compress", "logging_compress", Bool, Ignored(LOGS)),
    spec!("logging-filename", "logging_filename", Str, Ignored(LOGS)),
    spec!(
        "logging-local-time",
        "logging_local_time",
        Bool,
        Ignored(LOGS)
    ),
    spec!("logging-max-age", "logging_max_age", Int, Ignored(LOGS)),
    spec!(
        "logging-max-backups",
        "logging_max_backups",
        Int,
        Ignored(LOGS)
    ),
    spec!("logging-max-size", "logging_max_size", Int, Ignored(LOGS)),
    spec!("login-url", "login_url", Str, Ignored(DISCOVERY)),
    spec!("metrics-address", "metrics_address", Str, Ignored(METRICS)),
    spec!(
        "metrics-secure-address",
        "metrics_secure_address",
        Str,
        Ignored(METRICS)
    ),
    spec!(
        "metrics-tls-cert-file",
        "metrics_tls_cert_file",
        Str,
        Ignored(METRICS)
    ),
    spec!(
        "metrics-tls-key-file",
        "metrics_tls_key_file",
        Str,
        Ignored(METRICS)
    ),
    spec!("oidc-audience-claim", "oidc_audience_claims", List, Mapped),
    spec!("oidc-email-claim", "oidc_email_claim", Str, Mapped),
    spec!(
        "oidc-enabled-signing-alg",
        "oidc_enabled_signing_algs",
        List,
        Ignored(
            "Sekisho accepts the asymmetric algorithms of the provider's keys (RS*, PS*, ES*, EdDSA) and never none or HS*"
        )
    ),
    spec!("oidc-extra-audience", "oidc_extra_audiences", List, Mapped),
    spec!("oidc-groups-claim", "oidc_groups_claim", Str, Mapped),
    spec!("oidc-issuer-url", "oidc_issuer_url", Str, Mapped),
    spec!("oidc-jwks-url", "oidc_jwks_url", Str, Ignored(DISCOVERY)),
    spec!(
        "oidc-public-key-file",
        "oidc_public_key_files",
        List,
        Ignored(DISCOVERY)
    ),
    spec!("pass-access-token", "pass_access_token", Bool, Mapped),
    spec!(
        "pass-authorization-header",
        "pass_authorization_header",
        Bool,
        Mapped
    ),
    spec!("pass-basic-auth", "pass_basic_auth", Bool, Mapped),
    spec!("pass-host-header", "pass_host_header", Bool, Mapped),
    spec!("pass-user-headers", "pass_user_headers", Bool, Mapped),
    spec!("ping-path", "ping_path", Str, Ignored(PROBES)),
    spec!("ping-user-agent", "ping_user_agent", Str, Ignored(PROBES)),
    spec!("prefer-email-to-user", "prefer_email_to_user", Bool, Mapped),
    spec!("profile-url", "profile_url", Str, Ignored(DISCOVERY)),
    spec!(
        "prompt",
        "prompt",
        Str,
        Ignored("Sekisho sends no prompt; the provider decides whether to ask again")
    ),
    spec!("provider", "provider", Str, Mapped),
    spec!("provider-ca-file", "provider_ca_files", List, Mapped),
    spec!(
        "provider-display-name",
        "provider_display_name",
        Str,
        Ignored(LOOKS)
    ),
    spec!("proxy-prefix", "proxy_prefix", Str, Mapped),
    spec!("proxy-websockets", "proxy_websockets", Bool, Mapped),
    spec!("pubjwk-url", "pubjwk_url", Str, Unsupported(OTHER_PROVIDER)),
    spec!("ready-path", "ready_path", Str, Ignored(PROBES)),
    spec!(
        "real-client-ip-header",
        "real_client_ip_header",
        Str,
        Mapped
    ),
    spec!("redeem-url", "redeem_url", Str, Ignored(DISCOVERY)),
    spec!("redirect-url", "redirect_url", Str, Mapped),
    spec!("redis-ca-path", "redis_ca_path", Str, Mapped),
    spec!(
        "redis-cluster-connection-urls",
        "redis_cluster_connection_urls",
        List,
        Mapped
    ),
    spec!(
        "redis-connection-idle-timeout",
        "redis_connection_idle_timeout",
        Int,
        Ignored("Sekisho's Redis connections are managed and reconnected by it")
    ),
    spec!("redis-connection-url", "redis_connection_url", Str, Mapped),
    spec!(
        "redis-insecure-skip-tls-verify",
        "redis_insecure_skip_tls_verify",
        Bool,
        Mapped
    ),
    spec!("redis-password", "redis_password", Str, Mapped),
    spec!(
        "redis-sentinel-connection-urls",
        "redis_sentinel_connection_urls",
        List,
        Mapped
    ),
    spec!(
        "redis-sentinel-master-name",
        "redis_sentinel_master_name",
        Str,
        Mapped
    ),
    spec!(
        "redis-sentinel-password",
        "redis_sentinel_password",
        Str,
        Mapped
    ),
    spec!("redis-use-cluster", "redis_use_cluster", Bool, Mapped),
    spec!("redis-use-sentinel", "redis_use_sentinel", Bool, Mapped),
    spec!("redis-username", "redis_username", Str, Mapped),
    spec!(
        "relative-redirect-url",
        "relative_redirect_url",
        Bool,
        Ignored("Sekisho's redirect URL is always <public_url>/oauth2/callback")
    ),
    spec!(
        "request-id-header",
        "request_id_header",
        Str,
        Ignored("Sekisho reads and sends X-Request-Id")
    ),
    spec!("request-logging", "request_logging", Bool, Mapped),
    spec!(
        "request-logging-format",
        "request_logging_format",
        Str,
        Ignored(LOGS)
    ),
    spec!("resource", "resource", Str, Unsupported(OTHER_PROVIDER)),
    spec!("reverse-proxy", "reverse_proxy", Bool, Mapped),
    spec!("scope", "scope", Str, Mapped),
    spec!(
        "session-cookie-minimal",
        "session_cookie_minimal",
        Bool,
        Ignored("Sekisho keeps in the session only the tokens it needs")
    ),
    spec!("session-store-type", "session_store_type", Str, Mapped),
    spec!(
        "set-authorization-header",
        "set_authorization_header",
        Bool,
        Mapped
    ),
    spec!("set-basic-auth", "set_basic_auth", Bool, Mapped),
    spec!("set-xauthrequest", "set_xauthrequest", Bool, Mapped),
    spec!(
        "show-debug-on-error",
        "show_debug_on_error",
        Bool,
        Ignored("Sekisho's error pages never show internals; its log has the cause")
    ),
    spec!(
        "signature-key",
        "signature_key",
        Str,
        Unsupported(
            "Sekisho does not sign requests to apps (GAP-Signature); apps checking it would refuse them"
        )
    ),
    spec!(
        "silence-ping-logging",
        "silence_ping_logging",
        Bool,
        Ignored(LOGS)
    ),
    spec!("skip-auth-preflight", "skip_auth_preflight", Bool, Mapped),
    spec!("skip-auth-regex", "skip_auth_regex", List, Mapped),
    spec!("skip-auth-route", "skip_auth_routes", List, Mapped),
    spec!(
        "skip-auth-strip-headers",
        "skip_auth_strip_headers",
        Bool,
        Mapped
    ),
    spec!(
        "skip-claims-from-profile-url",
        "skip_claims_from_profile_url",
        Bool,
        Ignored("Sekisho reads claims from the ID token and the access token")
    ),
    spec!(
        "skip-jwt-bearer-tokens",
        "skip_jwt_bearer_tokens",
        Bool,
        Mapped
    ),
    spec!(
        "skip-oidc-discovery",
        "skip_oidc_discovery",
        Bool,
        Ignored(DISCOVERY)
    ),
    spec!("skip-provider-button", "skip_provider_button", Bool, Mapped),
    spec!(
        "ssl-insecure-skip-verify",
        "ssl_insecure_skip_verify",
        Bool,
        Ignored(
            "Sekisho always verifies the provider's certificate; give a private CA with oidc.ca_file"
        )
    ),
    spec!(
        "ssl-upstream-insecure-skip-verify",
        "ssl_upstream_insecure_skip_verify",
        Bool,
        Ignored("Sekisho talks plain http to apps")
    ),
    spec!("standard-logging", "standard_logging", Bool, Ignored(LOGS)),
    spec!(
        "standard-logging-format",
        "standard_logging_format",
        Str,
        Ignored(LOGS)
    ),
    spec!("tls-cert-file", "tls_cert_file", Str, Unsupported(TLS)),
    spec!("tls-cipher-suite", "tls_cipher_suites", List, Ignored(TLS)),
    spec!("tls-key-file", "tls_key_file", Str, Unsupported(TLS)),
    spec!("tls-min-version", "tls_min_version", Str, Ignored(TLS)),
    spec!("trusted-ip", "trusted_ips", List, Mapped),
    spec!("trusted-proxy-ip", "trusted_proxy_ips", List, Mapped),
    spec!("upstream", "upstreams", List, Mapped),
    spec!("upstream-timeout", "upstream_timeout", Duration, Mapped),
    spec!(
        "use-system-trust-store",
        "use_system_trust_store",
        Bool,
        Ignored("Sekisho trusts the system's roots, plus oidc.ca_file when given")
    ),
    spec!("user-id-claim", "user_id_claim", Str, Mapped),
    spec!("validate-url", "validate_url", Str, Ignored(DISCOVERY)),
    spec!("version", "version", Bool, Command),
    spec!("whitelist-domain", "whitelist_domains", List, Mapped),
];

/// The options the alpha configuration replaces: oauth2-proxy refuses them beside
/// `--alpha-config` (its legacy upstream, header, server and provider options).
const REPLACED_BY_ALPHA: &[&str] = &[
    "flush-interval",
    "pass-host-header",
    "proxy-websockets",
    "ssl-upstream-insecure-skip-verify",
    "upstream",
    "upstream-timeout",
    "disable-keep-alives",
    "pass-basic-auth",
    "pass-access-token",
    "pass-user-headers",
    "pass-authorization-header",
    "set-basic-auth",
    "set-xauthrequest",
    "set-authorization-header",
    "prefer-email-to-user",
    "basic-auth-password",
    "skip-auth-strip-headers",
    "metrics-address",
    "metrics-secure-address",
    "metrics-tls-cert-file",
    "metrics-tls-key-file",
    "http-address",
    "https-address",
    "tls-cert-file",
    "tls-key-file",
    "tls-min-version",
    "tls-cipher-suite",
    "client-id",
    "client-secret",
    "client-secret-file",
    "keycloak-group",
    "azure-tenant",
    "azure-graph-group-field",
    "entra-id-allowed-tenant",
    "entra-id-federated-token-auth",
    "bitbucket-team",
    "bitbucket-workspace",
    "bitbucket-repository",
    "github-org",
    "github-team",
    "github-repo",
    "github-token",
    "github-user",
    "gitlab-group",
    "gitlab-project",
    "google-group",
    "google-admin-email",
    "google-service-account-json",
    "google-use-application-default-credentials",
    "google-target-principal",
    "google-use-organization-id",
    "google-admin-api-user-scope",
    "provider",
    "provider-display-name",
    "provider-ca-file",
    "use-system-trust-store",
    "oidc-issuer-url",
    "insecure-oidc-allow-unverified-email",
    "insecure-oidc-skip-issuer-verification",
    "insecure-oidc-skip-nonce",
    "skip-oidc-discovery",
    "oidc-jwks-url",
    "oidc-email-claim",
    "oidc-groups-claim",
    "oidc-audience-claim",
    "oidc-extra-audience",
    "oidc-public-key-file",
    "oidc-enabled-signing-alg",
    "login-url",
    "auth-request-response-mode",
    "redeem-url",
    "profile-url",
    "skip-claims-from-profile-url",
    "resource",
    "validate-url",
    "scope",
    "prompt",
    "approval-prompt",
    "user-id-claim",
    "allowed-group",
    "allowed-role",
    "backend-logout-url",
    "acr-values",
    "jwt-key",
    "jwt-key-file",
    "pubjwk-url",
    "code-challenge-method",
    "force-code-challenge-method",
];

/// Whether oauth2-proxy refuses this option beside an alpha configuration.
pub fn replaced_by_alpha(spec: &Spec) -> bool {
    REPLACED_BY_ALPHA.contains(&spec.flag)
}

/// The option with this flag (without dashes).
pub fn by_flag(flag: &str) -> Option<&'static Spec> {
    OPTIONS.iter().find(|s| s.flag == flag)
}

/// The option with this TOML key. Command-line-only options (`--config`) have none.
pub fn by_key(key: &str) -> Option<&'static Spec> {
    // viper reads keys with case ignored.
    let key = key.to_ascii_lowercase();
    OPTIONS.iter().find(|s| s.key == key && s.fate != Command)
}

/// The option an `OAUTH2_PROXY_*` variable sets.
pub fn by_env(name: &str) -> Option<&'static Spec> {
    let key = name.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase();
    by_key(&key)
}

/// For a name that is not an option: the option it was probably meant to be (the plural or
/// singular form, which oauth2-proxy uses for a list in the file and the environment).
pub fn near(name: &str, find: fn(&str) -> Option<&'static Spec>) -> Option<String> {
    let s = if name.bytes().any(|b| b.is_ascii_lowercase()) {
        's'
    } else {
        'S'
    };
    let candidates = [
        format!("{name}{s}"),
        name.strip_suffix(s).unwrap_or_default().to_owned(),
    ];
    candidates
        .into_iter()
        .find(|c| !c.is_empty() && find(c).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_oauth2_proxys_rule() {
        for spec in OPTIONS {
            let plain = spec.flag.replace('-', "_");
            match spec.kind {
                // A list's file key is the plural of its flag, except for the few oauth2-proxy
                // spells otherwise.
                List => assert!(
                    spec.key == format!("{plain}s")
                        || spec.key == plain
                        || ["cookie_domains", "google_group"].contains(&spec.key),
                    "{spec:?}"
                ),
                _ => assert_eq!(spec.key, plain, "{spec:?}"),
            }
        }
    }

    #[test]
    fn lookups() {
        let cases: &[(&str, Option<&str>)] = &[
            ("trusted-ip", Some("trusted_ips")),
            ("email-domain", Some("email_domains")),
            ("google-group", Some("google_groups")),
            ("no-such-flag", None),
        ];
        for (flag, key) in cases {
            assert_eq!(by_flag(flag).map(|s| s.key), *key, "{flag}");
        }
        assert_eq!(by_key("config"), None, "--config is no file key");
        assert_eq!(by_key("google_group").map(|s| s.flag), Some("google-group"));
        assert_eq!(
            by_env("OAUTH2_PROXY_EMAIL_DOMAINS").map(|s| s.flag),
            Some("email-domain")
        );
        assert_eq!(by_env("OAUTH2_PROXY_EMAIL_DOMAIN"), None);
        assert_eq!(by_env("SEKISHO_LISTEN"), None);
        assert_eq!(
            near("OAUTH2_PROXY_EMAIL_DOMAIN", by_env).as_deref(),
            Some("OAUTH2_PROXY_EMAIL_DOMAINS")
        );
        assert_eq!(near("trusted_ip", by_key).as_deref(), Some("trusted_ips"));
        assert_eq!(near("nothing", by_key), None);
    }

    #[test]
    fn every_key_is_unique() {
        let mut keys: Vec<&str> = OPTIONS.iter().map(|s| s.key).collect();
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(before, keys.len());
    }
}
