use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A signed-in user, as established by an identity provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The user name passed to apps (`X-Auth-Request-User`).
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Which provider signed the user in (`oidc`, `saml`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub provider: String,
    /// The provider's stable id for the user (`sub`, SAML NameID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The provider's session (`sid`, SAML SessionIndex), for logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_session: Option<String>,
    pub created_at: u64,
    pub expires_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Tokens>,
}

impl Session {
    /// A session for `user` that lasts `lifetime` from now.
    pub fn new(user: impl Into<String>, lifetime: Duration) -> Self {
        let now = unix_now();
        Self {
            user: user.into(),
            email: None,
            preferred_username: None,
            groups: Vec::new(),
            roles: Vec::new(),
            provider: String::new(),
            subject: None,
            idp_session: None,
            created_at: now,
            expires_at: now.saturating_add(lifetime.as_secs()),
            tokens: None,
        }
    }

    pub fn is_expired_at(&self, now: u64) -> bool {
        now >= self.expires_at
    }

    pub fn remaining(&self, now: u64) -> Duration {
        Duration::from_secs(self.expires_at.saturating_sub(now))
    }
}

/// Tokens from the identity provider, kept for refresh, logout and passing on to apps.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_expires_at: Option<u64>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |t: &Option<String>| t.as_ref().map(|_| "<redacted>");
        f.debug_struct("Tokens")
            .field("access_token", &shown(&self.access_token))
            .field("id_token", &shown(&self.id_token))
            .field("refresh_token", &shown(&self.refresh_token))
            .field("access_expires_at", &self.access_expires_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry() {
        let s = Session::new("alice", Duration::from_secs(60));
        assert!(!s.is_expired_at(s.created_at));
        assert!(s.is_expired_at(s.created_at + 60));
        assert_eq!(s.remaining(s.created_at + 20), Duration::from_secs(40));
        assert_eq!(s.remaining(s.created_at + 100), Duration::ZERO);
    }

    #[test]
    fn tokens_are_not_printed() {
        let t = Tokens {
            access_token: Some("sekrit".into()),
            id_token: None,
            refresh_token: None,
            access_expires_at: None,
        };
        assert!(!format!("{t:?}").contains("sekrit"));
    }
}
