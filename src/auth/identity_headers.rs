use http::{HeaderMap, HeaderName};

use crate::session::Session;

/// The headers that tell an app who the user is.
#[derive(Clone, Debug)]
pub struct IdentityHeaders {
    user: HeaderName,
    email: HeaderName,
    groups: HeaderName,
    preferred_username: HeaderName,
}

impl IdentityHeaders {
    /// The `X-Auth-Request-*` names that nginx's `auth_request_set` reads.
    pub fn auth_request() -> Self {
        Self {
            user: HeaderName::from_static("x-auth-request-user"),
            email: HeaderName::from_static("x-auth-request-email"),
            groups: HeaderName::from_static("x-auth-request-groups"),
            preferred_username: HeaderName::from_static("x-auth-request-preferred-username"),
        }
    }

    pub fn names(&self) -> [&HeaderName; 4] {
        [
            &self.user,
            &self.email,
            &self.groups,
            &self.preferred_username,
        ]
    }

    /// Writes the session's identity into `headers` (see [`Session::header_values`]).
    pub fn write(&self, session: &Session, headers: &mut HeaderMap) {
        if headers.is_empty() {
            // The map is cached on the session by whichever names asked first; other names
            // (another header style) build theirs the slow way.
            let cached = session.header_map(|session| {
                let mut map = HeaderMap::new();
                self.insert(session, &mut map);
                map
            });
            if cached.keys().all(|key| self.names().contains(&key)) {
                headers.clone_from(cached);
                return;
            }
        }
        self.insert(session, headers);
    }

    fn insert(&self, session: &Session, headers: &mut HeaderMap) {
        let values = session.header_values();
        let fields = [
            (&self.user, &values.user),
            (&self.email, &values.email),
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
    }

    #[test]
    fn other_names_on_a_cached_session_get_their_own_headers() {
        let s = Session::new("alice", Duration::from_secs(60));
        let mut first = HeaderMap::new();
        IdentityHeaders::auth_request().write(&s, &mut first);
        let other = IdentityHeaders {
            user: HeaderName::from_static("x-forwarded-user"),
            email: HeaderName::from_static("x-forwarded-email"),
            groups: HeaderName::from_static("x-forwarded-groups"),
            preferred_username: HeaderName::from_static("x-forwarded-preferred-username"),
        };
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
}
