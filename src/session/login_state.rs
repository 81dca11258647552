//! One sign-in attempt in flight: what the callback must check, kept in a short-lived cookie
//! named after the attempt's `state`, so two tabs signing in at once do not collide. With the
//! cookie store the attempt is sealed into the cookie; with Redis the cookie holds a ticket and
//! the attempt is in Redis, taken out (and so usable once) when the provider sends the browser
//! back.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

use super::cookies::{CookieWriter, request_cookie};
use super::redis_store::RedisStore;
use super::seal::Sealer;
use super::state::{ProviderKind, unix_now};

/// How long a user may take at the identity provider.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginAttempt {
    /// `oidc` or `saml`, as in the sealed cookie.
    pub provider: ProviderKind,
    /// The OAuth `state`, or the SAML request ID.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce_verifier: Option<String>,
    /// Where to send the browser afterwards; already checked.
    pub rd: String,
    pub expires_at: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoginStateError {
    #[error("no sign-in in progress in this browser (missing or expired login cookie)")]
    Missing,
    #[error("login cookie does not verify")]
    Tampered,
    #[error("sign-in took too long")]
    Expired,
    #[error("state does not match this browser's sign-in")]
    Mismatch,
    /// Redis could not be asked; logged where it happened.
    #[error("the session store is unavailable")]
    Unavailable,
}

#[derive(Clone, Debug)]
pub struct LoginCookies {
    sealer: Sealer,
    writer: CookieWriter,
    redis: Option<Arc<RedisStore>>,
}

/// The Redis key kind of sign-in attempts.
const REDIS_KIND: &str = "login";

impl LoginCookies {
    pub fn new(sealer: Sealer, writer: CookieWriter) -> Self {
        Self {
            sealer,
            writer,
            redis: None,
        }
    }

    /// Attempts kept in Redis rather than sealed into the cookie.
    pub fn in_redis(self, redis: Arc<RedisStore>) -> Self {
        Self {
            redis: Some(redis),
            ..self
        }
    }

    fn name(&self, state: &str) -> String {
        // The state is URL-safe base64 or a SAML ID; keep only cookie-name characters.
        let tag: String = state
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(43)
            .collect();
        format!("{}_login_{tag}", self.writer.base_name())
    }

    /// The `Set-Cookie` line that remembers `attempt`.
    pub async fn remember(&self, attempt: &LoginAttempt) -> Result<HeaderValue, LoginStateError> {
        let name = self.name(&attempt.state);
        let json = serde_json::to_string(attempt).unwrap_or_default();
        let value = match &self.redis {
            Some(redis) => redis
                .put_once(REDIS_KIND, json.as_bytes(), LOGIN_TIMEOUT)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "sign-in state not stored");
                    LoginStateError::Unavailable
                })?,
            None => self.sealer.seal(&name, &json),
        };
        Ok(if attempt.provider == ProviderKind::Saml {
            self.writer.set_cross_site(name, value, LOGIN_TIMEOUT)
        } else {
            self.writer.set(name, value, LOGIN_TIMEOUT)
        })
    }

    /// The attempt whose `state` came back from the provider. From Redis it can be recalled
    /// once: a replayed callback finds nothing.
    pub async fn recall(
        &self,
        headers: &HeaderMap,
        state: &str,
    ) -> Result<LoginAttempt, LoginStateError> {
        let name = self.name(state);
        let value = request_cookie(headers, &name).ok_or(LoginStateError::Missing)?;
        let json = match &self.redis {
            Some(redis) => {
                let taken = redis.take_once(REDIS_KIND, value).await.map_err(|e| {
                    tracing::error!(error = %e, "sign-in state not read");
                    LoginStateError::Unavailable
                })?;
                let bytes = taken.ok_or(LoginStateError::Missing)?;
                String::from_utf8(bytes).map_err(|_| LoginStateError::Tampered)?
            }
            None => self
                .sealer
                .open(&name, value)
                .ok_or(LoginStateError::Tampered)?,
        };
        let attempt: LoginAttempt =
            serde_json::from_str(&json).map_err(|_| LoginStateError::Tampered)?;
        if !constant_time_eq(attempt.state.as_bytes(), state.as_bytes()) {
            return Err(LoginStateError::Mismatch);
        }
        if unix_now() >= attempt.expires_at {
            return Err(LoginStateError::Expired);
        }
        Ok(attempt)
    }

    pub fn forget(&self, state: &str) -> HeaderValue {
        self.writer.removal(&self.name(state))
    }
}

impl LoginAttempt {
    pub fn expiry() -> u64 {
        unix_now() + LOGIN_TIMEOUT.as_secs()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CookieSettings, Secret};
    use http::header::COOKIE;

    fn cookies() -> LoginCookies {
        let secret = Secret::parse("login-state-test-secret-0123456789abc").unwrap();
        let settings = CookieSettings {
            name: "_sekisho".into(),
            secure: true,
            domain: None,
            path: "/".into(),
        };
        LoginCookies::new(Sealer::new(&secret), CookieWriter::new(settings))
    }

    fn attempt(state: &str) -> LoginAttempt {
        LoginAttempt {
            provider: ProviderKind::Oidc,
            state: state.into(),
            nonce: Some("n".into()),
            pkce_verifier: Some("v".into()),
            rd: "/x".into(),
            expires_at: LoginAttempt::expiry(),
        }
    }

    fn browser(lines: &[HeaderValue]) -> HeaderMap {
        let pairs: Vec<String> = lines
            .iter()
            .map(|l| l.to_str().unwrap().split(';').next().unwrap().to_owned())
            .collect();
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_str(&pairs.join("; ")).unwrap());
        h
    }

    #[tokio::test]
    async fn two_attempts_side_by_side() {
        let c = cookies();
        let h = browser(&[
            c.remember(&attempt("tab-one")).await.unwrap(),
            c.remember(&attempt("tab-two")).await.unwrap(),
        ]);
        assert_eq!(c.recall(&h, "tab-one").await.unwrap().state, "tab-one");
        assert_eq!(c.recall(&h, "tab-two").await.unwrap().state, "tab-two");
        assert_eq!(
            c.recall(&h, "tab-three").await,
            Err(LoginStateError::Missing)
        );
    }

    #[tokio::test]
    async fn tampered_and_expired() {
        let c = cookies();
        let line = c
            .remember(&attempt("s1"))
            .await
            .unwrap()
            .to_str()
            .unwrap()
            .replacen("=", "=AAAA", 1);
        let h = browser(&[HeaderValue::from_str(&line).unwrap()]);
        assert_eq!(c.recall(&h, "s1").await, Err(LoginStateError::Tampered));
        let mut old = attempt("s2");
        old.expires_at = unix_now() - 1;
        let h = browser(&[c.remember(&old).await.unwrap()]);
        assert_eq!(c.recall(&h, "s2").await, Err(LoginStateError::Expired));
        assert!(c.forget("s2").to_str().unwrap().contains("Max-Age=0"));
    }

    #[tokio::test]
    async fn a_cookie_for_another_state_does_not_match() {
        // Same sanitised name, different state: the sealed state must match exactly.
        let c = cookies();
        let h = browser(&[c.remember(&attempt("abc")).await.unwrap()]);
        assert_eq!(c.recall(&h, "a.b.c").await, Err(LoginStateError::Mismatch));
    }
}
