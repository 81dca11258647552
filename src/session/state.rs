use std::fmt;
use std::sync::OnceLock;

use http::{HeaderMap, HeaderValue};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Which kind of identity provider vouched for a session. Stored as the strings earlier
/// versions stored in its place (`oidc`, `saml`, `bearer`), so their sealed cookies and Redis
/// sessions still load; any other value makes the session malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Signed in with OpenID Connect.
    Oidc,
    /// Signed in with SAML 2.0.
    Saml,
    /// Not signed in here: an access token of the OpenID provider, presented as
    /// `Authorization: Bearer`.
    Bearer,
}

impl ProviderKind {
    /// The name used in stored sessions, `?provider=`, logs and `/oauth2/userinfo`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Saml => "saml",
            Self::Bearer => "bearer",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`ProviderKind`]'s.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no provider kind is called `{0}`")]
pub struct UnknownProviderKind(pub String);

impl std::str::FromStr for ProviderKind {
    type Err = UnknownProviderKind;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [Self::Oidc, Self::Saml, Self::Bearer]
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownProviderKind(name.to_owned()))
    }
}

/// A signed-in user, as established by an identity provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The user name passed to apps (`X-Auth-Request-User`).
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the provider vouches for `email`. Only a verified address counts for email
    /// rules (unless `oidc.allow_unverified_email`); apps are told in a header either way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub email_verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Which kind of provider vouched for the user; `None` in sessions made without one
    /// (tests, tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderKind>,
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
    /// The identity rendered as header values, once per session object: sessions come shared
    /// from the verified-session cache, so `/oauth2/auth` renders a cookie's identity once.
    #[serde(skip)]
    pub rendered: RenderedIdentity,
}

/// Header values of a session's identity; `None` where a value cannot be a header (control
/// characters) or is absent.
#[derive(Clone, Debug, Default)]
pub struct HeaderValues {
    pub user: Option<HeaderValue>,
    pub email: Option<HeaderValue>,
    /// `true` or `false`, present when `email` is.
    pub email_verified: Option<HeaderValue>,
    pub groups: Option<HeaderValue>,
    pub preferred_username: Option<HeaderValue>,
}

/// A cache, not part of the session's value: equal whatever it holds, and empty in a clone
/// (a clone is usually about to be changed, as when tokens are refreshed).
#[derive(Debug, Default)]
pub struct RenderedIdentity {
    values: OnceLock<HeaderValues>,
    /// One map per header style (see `IdentityHeaders`), by the style's slot.
    headers: [OnceLock<HeaderMap>; 2],
}

impl Clone for RenderedIdentity {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for RenderedIdentity {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for RenderedIdentity {}

impl Session {
    /// A session for `user` that lasts `lifetime` from now.
    pub fn new(user: impl Into<String>, lifetime: Duration) -> Self {
        let now = unix_now();
        Self {
            user: user.into(),
            email: None,
            email_verified: false,
            preferred_username: None,
            groups: Vec::new(),
            roles: Vec::new(),
            provider: None,
            subject: None,
            idp_session: None,
            created_at: now,
            expires_at: now.saturating_add(lifetime.as_secs()),
            tokens: None,
            rendered: RenderedIdentity::default(),
        }
    }

    pub fn is_expired_at(&self, now: u64) -> bool {
        now >= self.expires_at
    }

    pub fn remaining(&self, now: u64) -> Duration {
        Duration::from_secs(self.expires_at.saturating_sub(now))
    }

    /// Whether the access token is due for refresh at `now`: `margin` or less before it
    /// expires. A session without an access token expiry is never due.
    pub fn access_due(&self, margin: Duration, now: u64) -> bool {
        self.tokens
            .as_ref()
            .and_then(|t| t.access_expires_at)
            .is_some_and(|expires| now.saturating_add(margin.as_secs()) >= expires)
    }

    /// Whether a session someone else refreshed may be used as it is: neither it nor its
    /// access token due. Otherwise it is refreshed in turn.
    pub fn usable(&self, margin: Duration, now: u64) -> bool {
        !self.is_expired_at(now) && !self.access_due(margin, now)
    }

    /// The identity as header values, rendered on first use. Values are passed as UTF-8
    /// bytes; groups are comma-separated with `%` and `,` inside a name percent-encoded.
    pub fn header_values(&self) -> &HeaderValues {
        self.rendered.values.get_or_init(|| {
            let groups: Vec<_> = self.groups.iter().map(|g| escape_list_item(g)).collect();
            HeaderValues {
                user: header_value("user", &self.user),
                email: self.email.as_deref().and_then(|e| header_value("email", e)),
                email_verified: self.email.as_ref().map(|_| {
                    HeaderValue::from_static(if self.email_verified { "true" } else { "false" })
                }),
                groups: (!groups.is_empty())
                    .then(|| header_value("groups", &groups.join(",")))
                    .flatten(),
                preferred_username: header_value(
                    "preferred_username",
                    self.preferred_username.as_deref().unwrap_or(&self.user),
                ),
            }
        })
    }
}

impl Session {
    /// The identity as a whole header map for one header style (`slot`), built by `render`
    /// on first use. Copying a finished map is several times cheaper than hashing each header
    /// name into a new one.
    pub fn header_map(&self, slot: usize, render: impl FnOnce(&Self) -> HeaderMap) -> &HeaderMap {
        self.rendered.headers[slot].get_or_init(|| render(self))
    }
}

fn header_value(field: &str, value: &str) -> Option<HeaderValue> {
    HeaderValue::from_bytes(value.as_bytes())
        .map_err(|_| {
            tracing::warn!(
                field,
                "identity value has characters a header cannot carry; header left out"
            )
        })
        .ok()
}

/// A group name made safe inside a comma-separated list: `%` and `,` are percent-encoded, so
/// `a,b` cannot pass for two groups.
fn escape_list_item(item: &str) -> std::borrow::Cow<'_, str> {
    if item.contains([',', '%']) {
        item.replace('%', "%25").replace(',', "%2C").into()
    } else {
        item.into()
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
    fn due_means_within_the_margin_of_the_access_tokens_expiry() {
        let now = unix_now();
        let mut s = Session::new("alice", Duration::from_secs(3_600));
        s.tokens = Some(Tokens {
            access_token: Some("at-0".into()),
            id_token: None,
            refresh_token: Some("rt-0".into()),
            access_expires_at: None,
        });
        let margin = Duration::from_secs(60);
        for (expires, due) in [
            (None, false),
            (Some(now + 61), false),
            (Some(now + 60), true),
            (Some(now - 5), true),
        ] {
            s.tokens.as_mut().unwrap().access_expires_at = expires;
            assert_eq!(s.access_due(margin, now), due, "{expires:?}");
            assert_eq!(s.usable(margin, now), !due, "{expires:?}");
        }
        s.tokens.as_mut().unwrap().access_expires_at = Some(now + 3_600);
        s.expires_at = now;
        assert!(!s.usable(margin, now), "an expired session is never usable");
    }

    #[test]
    fn rendered_identity_follows_changes_made_to_a_clone() {
        let mut s = Session::new("alice", Duration::from_secs(60));
        assert_eq!(s.header_values().user.as_ref().unwrap(), "alice");
        let mut changed = s.clone();
        changed.user = "bob".into();
        assert_eq!(changed.header_values().user.as_ref().unwrap(), "bob");
        s.groups = vec!["a,b".into(), "c".into()];
        assert_eq!(
            s.clone().header_values().groups.as_ref().unwrap(),
            "a%2Cb,c"
        );
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
