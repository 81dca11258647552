use http::{HeaderMap, HeaderName, HeaderValue};

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

    /// Writes the session's identity into `headers`. Values are passed as UTF-8 bytes; a
    /// value a header cannot carry (control characters) is left out and logged.
    pub fn write(&self, session: &Session, headers: &mut HeaderMap) {
        put(headers, &self.user, &session.user);
        if let Some(email) = &session.email {
            put(headers, &self.email, email);
        }
        if !session.groups.is_empty() {
            let groups: Vec<_> = session.groups.iter().map(|g| escape_list_item(g)).collect();
            put(headers, &self.groups, &groups.join(","));
        }
        let preferred = session
            .preferred_username
            .as_deref()
            .unwrap_or(&session.user);
        put(headers, &self.preferred_username, preferred);
    }
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

fn put(headers: &mut HeaderMap, name: &HeaderName, value: &str) {
    match HeaderValue::from_bytes(value.as_bytes()) {
        Ok(value) => {
            headers.insert(name.clone(), value);
        }
        Err(_) => {
            tracing::warn!(header = %name, "identity value has characters a header cannot carry; header left out")
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
