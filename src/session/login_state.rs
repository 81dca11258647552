//! One sign-in attempt in flight: what the callback must check, kept in a short-lived sealed
//! cookie named after the attempt's `state`, so two tabs signing in at once do not collide.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

use super::cookies::{CookieWriter, request_cookie};
use super::seal::Sealer;
use super::state::unix_now;

/// How long a user may take at the identity provider.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginAttempt {
    /// `oidc` or `saml`.
    pub provider: String,
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
}

#[derive(Clone, Debug)]
pub struct LoginCookies {
    sealer: Sealer,
    writer: CookieWriter,
}

impl LoginCookies {
    pub fn new(sealer: Sealer, writer: CookieWriter) -> Self {
        Self { sealer, writer }
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
    pub fn remember(&self, attempt: &LoginAttempt) -> HeaderValue {
        let name = self.name(&attempt.state);
        let json = serde_json::to_string(attempt).unwrap_or_default();
        let sealed = self.sealer.seal(&name, &json);
        if attempt.provider == "saml" {
            self.writer.set_cross_site(name, sealed, LOGIN_TIMEOUT)
        } else {
            self.writer.set(name, sealed, LOGIN_TIMEOUT)
        }
    }

    /// The attempt whose `state` came back from the provider.
    pub fn recall(
        &self,
        headers: &HeaderMap,
        state: &str,
    ) -> Result<LoginAttempt, LoginStateError> {
        let name = self.name(state);
        let sealed = request_cookie(headers, &name).ok_or(LoginStateError::Missing)?;
        let json = self
            .sealer
            .open(&name, sealed)
            .ok_or(LoginStateError::Tampered)?;
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
            provider: "oidc".into(),
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

    #[test]
    fn two_attempts_side_by_side() {
        let c = cookies();
        let h = browser(&[
            c.remember(&attempt("tab-one")),
            c.remember(&attempt("tab-two")),
        ]);
        assert_eq!(c.recall(&h, "tab-one").unwrap().state, "tab-one");
        assert_eq!(c.recall(&h, "tab-two").unwrap().state, "tab-two");
        assert_eq!(c.recall(&h, "tab-three"), Err(LoginStateError::Missing));
    }

    #[test]
    fn tampered_and_expired() {
        let c = cookies();
        let line = c
            .remember(&attempt("s1"))
            .to_str()
            .unwrap()
            .replacen("=", "=AAAA", 1);
        let h = browser(&[HeaderValue::from_str(&line).unwrap()]);
        assert_eq!(c.recall(&h, "s1"), Err(LoginStateError::Tampered));
        let mut old = attempt("s2");
        old.expires_at = unix_now() - 1;
        assert_eq!(
            c.recall(&browser(&[c.remember(&old)]), "s2"),
            Err(LoginStateError::Expired)
        );
        assert!(c.forget("s2").to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn a_cookie_for_another_state_does_not_match() {
        // Same sanitised name, different state: the sealed state must match exactly.
        let c = cookies();
        let h = browser(&[c.remember(&attempt("abc"))]);
        assert_eq!(c.recall(&h, "a.b.c"), Err(LoginStateError::Mismatch));
    }
}
