use http::{HeaderMap, HeaderName, HeaderValue};

use crate::session::Session;

/// Which family of names identity headers use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderStyle {
    /// `X-Auth-Request-User`, ... as nginx's `auth_request_set` reads them.
    AuthRequest,
    /// `X-Forwarded-User`, ... as apps behind oauth2-proxy's reverse proxy expect them.
    Forwarded,
}

impl HeaderStyle {
    pub const NAMES: &'static str = "x-auth-request, x-forwarded";

    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "x-auth-request" => Some(Self::AuthRequest),
            "x-forwarded" => Some(Self::Forwarded),
            _ => None,
        }
    }
}

/// The headers that tell an app who the user is.
#[derive(Clone, Debug)]
pub struct IdentityHeaders {
    style: HeaderStyle,
    user: HeaderName,
    email: HeaderName,
    email_verified: HeaderName,
    groups: HeaderName,
    preferred_username: HeaderName,
    access_token: HeaderName,
}

/// Every identity header name of the `X-Forwarded-*` family; the `X-Auth-Request-*` family is
/// matched by its prefix.
const FORWARDED_IDENTITY: [&str; 6] = [
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-email-verified",
    "x-forwarded-groups",
    "x-forwarded-preferred-username",
    "x-forwarded-access-token",
];
const AUTH_REQUEST_PREFIX: &str = "x-auth-request-";

impl IdentityHeaders {
    /// The `X-Auth-Request-*` names that nginx's `auth_request_set` reads.
    pub fn auth_request() -> Self {
        Self::new(HeaderStyle::AuthRequest)
    }

    pub fn new(style: HeaderStyle) -> Self {
        // Static names: cloning them into every response costs no reference counting.
        let names = match style {
            HeaderStyle::AuthRequest => [
                "x-auth-request-user",
                "x-auth-request-email",
                "x-auth-request-email-verified",
                "x-auth-request-groups",
                "x-auth-request-preferred-username",
                "x-auth-request-access-token",
            ],
            HeaderStyle::Forwarded => FORWARDED_IDENTITY,
        }
        .map(HeaderName::from_static);
        let [
            user,
            email,
            email_verified,
            groups,
            preferred_username,
            access_token,
        ] = names;
        Self {
            style,
            user,
            email,
            email_verified,
            groups,
            preferred_username,
            access_token,
        }
    }

    pub fn names(&self) -> [&HeaderName; 5] {
        [
            &self.user,
            &self.email,
            &self.email_verified,
            &self.groups,
            &self.preferred_username,
        ]
    }

    /// Every name of this family, the access token's included.
    pub fn all_names(&self) -> [&HeaderName; 6] {
        [
            &self.user,
            &self.email,
            &self.email_verified,
            &self.groups,
            &self.preferred_username,
            &self.access_token,
        ]
    }

    /// Writes the session's identity into `headers` (see [`Session::header_values`]).
    pub fn write(&self, session: &Session, headers: &mut HeaderMap) {
        if !headers.is_empty() {
            self.insert(session, headers);
            return;
        }
        let slot = match self.style {
            HeaderStyle::AuthRequest => 0,
            HeaderStyle::Forwarded => 1,
        };
        headers.clone_from(session.header_map(slot, |session| {
            let mut map = HeaderMap::new();
            self.insert(session, &mut map);
            map
        }));
    }

    fn insert(&self, session: &Session, headers: &mut HeaderMap) {
        let values = session.header_values();
        let fields = [
            (&self.user, &values.user),
            (&self.email, &values.email),
            (&self.email_verified, &values.email_verified),
            (&self.groups, &values.groups),
            (&self.preferred_username, &values.preferred_username),
        ];
        headers.reserve(fields.len());
        for (name, value) in fields {
            if let Some(value) = value {
                headers.insert(name.clone(), value.clone());
            }
        }
    }

    /// Writes the session's access token, if it has one that fits in a header.
    pub fn write_access_token(&self, session: &Session, headers: &mut HeaderMap) {
        let token = session
            .tokens
            .as_ref()
            .and_then(|t| t.access_token.as_deref());
        if let Some(value) = token.and_then(|t| HeaderValue::from_str(t).ok()) {
            headers.insert(self.access_token.clone(), value);
        }
    }

    /// Whether `name` is an identity header of either family, also when spelt with
    /// underscores: Rack, CGI and PHP read `X-Auth-Request_User` as `X-Auth-Request-User`.
    pub fn is_identity_name(name: &str) -> bool {
        // Asked for every header of every proxied request: compared in place, no copy.
        let same = |a: &[u8], b: &[u8]| {
            a.len() == b.len()
                && a.iter().zip(b).all(|(&x, &y)| {
                    let x = if x == b'_' {
                        b'-'
                    } else {
                        x.to_ascii_lowercase()
                    };
                    x == y
                })
        };
        let name = name.as_bytes();
        let prefix = AUTH_REQUEST_PREFIX.as_bytes();
        (name.len() >= prefix.len() && same(&name[..prefix.len()], prefix))
            || FORWARDED_IDENTITY
                .iter()
                .any(|known| same(name, known.as_bytes()))
    }

    /// Removes every identity header a client sent, of both families, so that only the ones
    /// Sekisho writes reach an app.
    pub fn remove_all(headers: &mut HeaderMap) {
        let spoofed: Vec<HeaderName> = headers
            .keys()
            .filter(|name| Self::is_identity_name(name.as_str()))
            .cloned()
            .collect();
        for name in spoofed {
            headers.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn writes_identity() {
        let mut s = Session::new("alice", Duration::from_secs(60));
        s.email = Some("alice@example.com".into());
        s.groups = vec!["/admins".into(), "dev".into()];
        let mut h = HeaderMap::new();
        IdentityHeaders::auth_request().write(&s, &mut h);
        assert_eq!(h["x-auth-request-user"], "alice");
        assert_eq!(h["x-auth-request-email"], "alice@example.com");
        assert_eq!(h["x-auth-request-groups"], "/admins,dev");
        assert_eq!(h["x-auth-request-preferred-username"], "alice");
        assert_eq!(h["x-auth-request-email-verified"], "false");
        // Sessions are changed as clones: a clone renders its headers anew.
        let mut s = s.clone();
        s.email_verified = true;
        let mut h = HeaderMap::new();
        IdentityHeaders::new(HeaderStyle::Forwarded).write(&s, &mut h);
        assert_eq!(h["x-forwarded-email-verified"], "true");
        let mut h = HeaderMap::new();
        IdentityHeaders::auth_request()
            .write(&Session::new("bob", Duration::from_secs(60)), &mut h);
        assert!(
            h.get("x-auth-request-email-verified").is_none(),
            "no address, nothing to verify"
        );
    }

    #[test]
    fn other_names_on_a_cached_session_get_their_own_headers() {
        let s = Session::new("alice", Duration::from_secs(60));
        let mut first = HeaderMap::new();
        IdentityHeaders::auth_request().write(&s, &mut first);
        let other = IdentityHeaders::new(HeaderStyle::Forwarded);
        let mut second = HeaderMap::new();
        other.write(&s, &mut second);
        assert_eq!(second["x-forwarded-user"], "alice");
        assert!(second.get("x-auth-request-user").is_none());
        let mut again = HeaderMap::new();
        IdentityHeaders::auth_request().write(&s, &mut again);
        assert_eq!(again, first);
        let mut busy = HeaderMap::new();
        busy.insert("x-request-id", "1".parse().unwrap());
        IdentityHeaders::auth_request().write(&s, &mut busy);
        assert_eq!(busy["x-auth-request-user"], "alice");
        assert_eq!(busy["x-request-id"], "1");
    }

    #[test]
    fn commas_inside_group_names_are_escaped() {
        let mut s = Session::new("alice", Duration::from_secs(60));
        s.groups = vec!["a,b".into(), "100%".into(), "c".into()];
        let mut h = HeaderMap::new();
        IdentityHeaders::auth_request().write(&s, &mut h);
        assert_eq!(h["x-auth-request-groups"], "a%2Cb,100%25,c");
    }

    #[test]
    fn non_ascii_names_pass_and_control_characters_do_not() {
        let mut h = HeaderMap::new();
        IdentityHeaders::auth_request()
            .write(&Session::new("関所", Duration::from_secs(60)), &mut h);
        assert_eq!(h["x-auth-request-user"].as_bytes(), "関所".as_bytes());
        let mut h = HeaderMap::new();
        IdentityHeaders::auth_request().write(
            &Session::new("evil\r\nx: y", Duration::from_secs(60)),
            &mut h,
        );
        assert!(h.get("x-auth-request-user").is_none());
    }

    #[test]
    fn forwarded_style_and_access_token() {
        let mut s = Session::new("alice", Duration::from_secs(60));
        s.tokens = Some(crate::session::Tokens {
            access_token: Some("at-123".into()),
            id_token: None,
            refresh_token: None,
            access_expires_at: None,
        });
        let mut h = HeaderMap::new();
        let names = IdentityHeaders::new(HeaderStyle::Forwarded);
        names.write(&s, &mut h);
        names.write_access_token(&s, &mut h);
        assert_eq!(h["x-forwarded-user"], "alice");
        assert_eq!(h["x-forwarded-preferred-username"], "alice");
        assert_eq!(h["x-forwarded-access-token"], "at-123");
        assert!(h.get("x-auth-request-user").is_none());
        assert_eq!(
            HeaderStyle::from_name("X-Forwarded"),
            Some(HeaderStyle::Forwarded)
        );
        assert_eq!(HeaderStyle::from_name("remote-user"), None);
    }

    #[test]
    fn client_copies_of_either_family_are_removed() {
        let mut h = HeaderMap::new();
        for name in [
            "x-auth-request-user",
            "x-auth-request_email",
            "x_auth_request_groups",
            "x-auth-request-anything",
            "x-forwarded-user",
            "x_forwarded_email",
            "x-forwarded-access-token",
            "x-forwarded-email-verified",
            "X_Forwarded_Email_Verified",
            "x-forwarded-for",
            "x-forwarded-proto",
            "accept",
        ] {
            h.insert(
                HeaderName::try_from(name).unwrap(),
                HeaderValue::from_static("x"),
            );
        }
        IdentityHeaders::remove_all(&mut h);
        let mut left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["accept", "x-forwarded-for", "x-forwarded-proto"]);
    }
}
