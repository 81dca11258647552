//! The `[oidc]` section: an OpenID Connect provider such as a Keycloak realm.

use std::time::Duration;

use url::Url;

use super::SecretString;
use super::raw::RawOidc;
use super::validate::{duration, http_url};

#[derive(Clone, Debug)]
pub struct OidcConfig {
    pub issuer_url: Url,
    pub client_id: String,
    pub client_secret: SecretString,
    pub scopes: Vec<String>,
    pub claims: ClaimNames,
    pub refresh_before_expiry: Duration,
    pub pass_access_token: bool,
    pub accept_bearer_tokens: bool,
    /// A bearer token is accepted when its `aud` or `azp` names one of these.
    pub bearer_audiences: Vec<String>,
    /// Extra trusted CA certificates (PEM) for a provider with a private CA.
    pub ca_pem: Option<Vec<u8>>,
    pub http_timeout: Duration,
    /// Tolerance on the times in every token (`exp`, `nbf`, `iat`).
    pub clock_skew: Duration,
    /// Let an address the provider marks `email_verified: false` count for email rules.
    pub allow_unverified_email: bool,
}

/// More skew than this is a clock to fix, not to tolerate: it would keep expired tokens alive.
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Where the identity is found in the provider's claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimNames {
    pub user: String,
    pub email: String,
    pub groups: String,
    /// Dotted paths to role lists (`realm_access.roles`).
    pub roles: Vec<Vec<String>>,
    pub strip_group_slash: bool,
}

pub fn validate(raw: &RawOidc, report: &mut impl FnMut(&str, String)) -> Option<OidcConfig> {
    let issuer_url = if raw.issuer_url.is_empty() {
        report(
            "oidc.issuer_url",
            "is required in [oidc], e.g. https://keycloak.example.com/realms/demo".into(),
        );
        None
    } else {
        http_url(&raw.issuer_url)
            .map_err(|m| report("oidc.issuer_url", m))
            .ok()
    };
    if raw.client_id.trim().is_empty() {
        report("oidc.client_id", "is required".into());
    }
    if raw.client_secret.is_empty() {
        report(
            "oidc.client_secret",
            "is required (or set SEKISHO_OIDC__CLIENT_SECRET)".into(),
        );
    }
    if !raw.scopes.iter().any(|s| s == "openid") {
        report("oidc.scopes", "must include `openid`".into());
    }
    for (key, value) in [
        ("oidc.user_claim", &raw.user_claim),
        ("oidc.groups_claim", &raw.groups_claim),
    ] {
        if value.trim().is_empty() {
            report(key, "must name a claim".into());
        }
    }
    let roles = raw
        .roles_claims
        .iter()
        .map(|path| {
            path.replace("{client_id}", &raw.client_id)
                .split('.')
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>();
    for (i, path) in roles.iter().enumerate() {
        if path.iter().any(String::is_empty) {
            report(
                &format!("oidc.roles_claims[{i}]"),
                format!("`{}` is not a dotted claim path", raw.roles_claims[i]),
            );
        }
    }
    let refresh_before_expiry = duration(&raw.refresh_before_expiry)
        .map_err(|m| report("oidc.refresh_before_expiry", m))
        .ok();
    let http_timeout = duration(&raw.http_timeout)
        .map_err(|m| report("oidc.http_timeout", m))
        .ok();
    let clock_skew = duration(&raw.clock_skew)
        .and_then(|skew| {
            if skew > MAX_CLOCK_SKEW {
                Err(format!("`{}` is more than the 5m allowed", raw.clock_skew))
            } else {
                Ok(skew)
            }
        })
        .map_err(|m| report("oidc.clock_skew", m))
        .ok();
    let ca_pem = if raw.ca_file.is_empty() {
        Some(None)
    } else {
        match std::fs::read(&raw.ca_file) {
            Ok(pem)
                if openidconnect::reqwest::Certificate::from_pem_bundle(&pem)
                    .is_ok_and(|certs| !certs.is_empty()) =>
            {
                Some(Some(pem))
            }
            Ok(_) => {
                report(
                    "oidc.ca_file",
                    format!("{} holds no PEM certificate", raw.ca_file),
                );
                None
            }
            Err(e) => {
                report("oidc.ca_file", format!("cannot read {}: {e}", raw.ca_file));
                None
            }
        }
    };
    let bearer_audiences = if raw.bearer_audiences.is_empty() {
        vec![raw.client_id.clone()]
    } else {
        raw.bearer_audiences.clone()
    };
    Some(OidcConfig {
        issuer_url: issuer_url?,
        client_id: raw.client_id.trim().to_owned(),
        client_secret: SecretString::new(raw.client_secret.clone()),
        scopes: raw.scopes.clone(),
        claims: ClaimNames {
            user: raw.user_claim.clone(),
            email: raw.email_claim.clone(),
            groups: raw.groups_claim.clone(),
            roles,
            strip_group_slash: raw.strip_group_slash,
        },
        refresh_before_expiry: refresh_before_expiry?,
        pass_access_token: raw.pass_access_token,
        accept_bearer_tokens: raw.accept_bearer_tokens,
        bearer_audiences,
        ca_pem: ca_pem?,
        http_timeout: http_timeout?,
        clock_skew: clock_skew?,
        allow_unverified_email: raw.allow_unverified_email,
    })
}
