//! OpenID Connect Back-Channel Logout: the logout token the provider POSTs when a user's
//! session ends there (they signed out, or an admin ended it). Checked as the specification
//! says: signed by the provider's keys, `iss`, `aud` naming this client, `iat`, the
//! back-channel `events` member, `sid` and/or `sub`, a `jti`, and no `nonce` (so an ID token
//! cannot pass for one).

use std::time::Duration;

use serde_json::Value;

use super::keys::Expect;
use super::oidc::{Oidc, OidcError};
use crate::session::unix_now;

/// The `events` member every logout token carries.
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Clock skew tolerated on `iat` and `exp`.
const LEEWAY_SECS: u64 = 60;
/// How old a token without `exp` may be.
const MAX_AGE_WITHOUT_EXP: u64 = 300;

/// A verified logout token: which sessions to end, and what to remember against a replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutToken {
    pub sid: Option<String>,
    pub sub: Option<String>,
    pub jti: String,
    /// How long the token could still be presented: the replay cache keeps `jti` that long.
    pub valid_for: Duration,
}

impl Oidc {
    /// Verifies `token` as a logout token for this client.
    pub async fn verify_logout_token(&self, token: &str) -> Result<LogoutToken, OidcError> {
        let expect = Expect {
            issuer: self.issuer(),
            // `aud` is checked below: `azp` must not stand in for it here.
            audiences: None,
            leeway_secs: LEEWAY_SECS,
            require_exp: false,
        };
        let claims = self.verify_jwt(token, &expect).await?;
        let reject = |why: &str| Err(OidcError::Rejected(format!("logout token {why}")));
        let client_id = self.config().client_id.as_str();
        let aud_ok = match claims.get("aud") {
            Some(Value::String(aud)) => aud == client_id,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(client_id)),
            _ => false,
        };
        if !aud_ok {
            return reject("is not for this client (aud)");
        }
        let now = unix_now();
        let Some(iat) = claims.get("iat").and_then(Value::as_u64) else {
            return reject("has no iat");
        };
        if iat > now + LEEWAY_SECS {
            return reject("is issued in the future (iat)");
        }
        let exp = claims.get("exp").and_then(Value::as_u64);
        if exp.is_none() && iat + MAX_AGE_WITHOUT_EXP + LEEWAY_SECS < now {
            return reject("is too old (iat)");
        }
        let event = claims
            .get("events")
            .and_then(Value::as_object)
            .and_then(|events| events.get(BACKCHANNEL_EVENT));
        if !event.is_some_and(Value::is_object) {
            return reject("lacks the back-channel logout event");
        }
        if claims.contains_key("nonce") {
            return reject("carries a nonce");
        }
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let (sid, sub) = (text("sid"), text("sub"));
        if sid.is_none() && sub.is_none() {
            return reject("names neither sid nor sub");
        }
        let Some(jti) = text("jti") else {
            return reject("has no jti");
        };
        let until = exp.unwrap_or(iat + MAX_AGE_WITHOUT_EXP) + LEEWAY_SECS;
        Ok(LogoutToken {
            sid,
            sub,
            jti,
            valid_for: Duration::from_secs(until.saturating_sub(now).max(1)),
        })
    }
}
