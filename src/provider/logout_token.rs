//! OpenID Connect Back-Channel Logout: the logout token the provider POSTs when a user's
//! session ends there (they signed out, or an admin ended it). The registered claims are
//! checked as for every token (signature, `iss`, `aud` naming this client, `azp`, `iat`,
//! `exp`, `nbf`, `typ`, no `nonce`: see `Keys::verify`); here what only a logout token has:
//! the back-channel `events` member, `sid` and/or `sub`, a `jti`, and an age limit when the
//! provider sets no `exp`.

use std::time::Duration;

use serde_json::Value;

use super::keys::TokenKind;
use super::oidc::{Oidc, OidcError};
use crate::session::unix_now;

/// The `events` member every logout token carries.
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
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
        let expect = self.expect(TokenKind::Logout, None, None);
        let claims = self.verify_jwt(token, &expect).await?;
        let reject = |why: &str| Err(OidcError::Rejected(format!("logout token {why}")));
        let skew = expect.clock_skew;
        let now = unix_now();
        // Read as `Keys::verify` read them (NumericDate may have a fraction), which has already
        // required `iat` and checked both against the clock; here they bound the replay memory.
        let time = |name: &str| claims.get(name).and_then(Value::as_f64).map(|t| t as u64);
        let Some(iat) = time("iat") else {
            return reject("has no iat");
        };
        let exp = time("exp");
        if exp.is_none() && iat + MAX_AGE_WITHOUT_EXP + skew < now {
            return reject("is too old (iat)");
        }
        let event = claims
            .get("events")
            .and_then(Value::as_object)
            .and_then(|events| events.get(BACKCHANNEL_EVENT));
        if !event.is_some_and(Value::is_object) {
            return reject("lacks the back-channel logout event");
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
        let until = exp.unwrap_or(iat + MAX_AGE_WITHOUT_EXP) + skew;
        Ok(LogoutToken {
            sid,
            sub,
            jti,
            valid_for: Duration::from_secs(until.saturating_sub(now).max(1)),
        })
    }
}
