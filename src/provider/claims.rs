//! Reading a user's identity out of OpenID claims, Keycloak's shapes by default.

use serde_json::Value;

use super::keys::Claims;
use crate::config::ClaimNames;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub email: Option<String>,
    /// Whether the provider vouches for `email` (`email_verified: true`); false when it says
    /// otherwise or says nothing.
    pub email_verified: bool,
    pub preferred_username: Option<String>,
    pub groups: Vec<String>,
    pub roles: Vec<String>,
    pub subject: Option<String>,
    pub sid: Option<String>,
}

/// The identity in `claims`, or why there is none (the user claim is missing).
pub fn identity(claims: &Claims, names: &ClaimNames) -> Result<Identity, String> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let user = text(&names.user)
        .or_else(|| text("sub"))
        .filter(|u| !u.is_empty());
    let Some(user) = user else {
        return Err(format!("the token has no `{}` claim", names.user));
    };
    let groups = strings(claims.get(&names.groups))
        .map(|g| {
            if names.strip_group_slash {
                g.trim_start_matches('/').to_owned()
            } else {
                g
            }
        })
        .filter(|g| !g.is_empty())
        .collect();
    let mut roles: Vec<String> = Vec::new();
    for path in &names.roles {
        for role in strings(lookup(claims, path)) {
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
    }
    Ok(Identity {
        user,
        email: text(&names.email),
        // `email_verified` vouches for the standard `email` claim only: an address read from
        // another claim (`oidc.email_claim`) is one nobody said was verified.
        email_verified: names.email == "email" && verified(claims.get("email_verified")),
        preferred_username: text("preferred_username"),
        groups,
        roles,
        subject: text("sub"),
        sid: text("sid"),
    })
}

/// `email_verified` as a boolean; some providers (Amazon Cognito, older Keycloak mappers)
/// send the string `"true"`. Anything else is not a promise.
fn verified(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn lookup<'a>(claims: &'a Claims, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(claims.get(first)?, |value, key| value.get(key))
}

/// A claim as a list of strings: an array of strings, or one string (some providers send a
/// single group as a plain string).
fn strings(value: Option<&Value>) -> impl Iterator<Item = String> + '_ {
    let (list, single) = match value {
        Some(Value::Array(list)) => (list.as_slice(), None),
        Some(Value::String(s)) => (&[][..], Some(s.clone())),
        _ => (&[][..], None),
    };
    list.iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .chain(single)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(strip: bool) -> ClaimNames {
        ClaimNames {
            user: "preferred_username".into(),
            email: "email".into(),
            groups: "groups".into(),
            roles: vec![
                vec!["realm_access".into(), "roles".into()],
                vec!["resource_access".into(), "sekisho".into(), "roles".into()],
            ],
            strip_group_slash: strip,
        }
    }

    fn keycloak_claims() -> Claims {
        json!({
            "sub": "a11ce", "sid": "s1", "preferred_username": "alice", "email": "alice@example.com",
            "email_verified": true,
            "groups": ["/admins", "/dev/backend"],
            "realm_access": {"roles": ["admin", "offline_access"]},
            "resource_access": {"sekisho": {"roles": ["editor", "admin"]}, "account": {"roles": ["view-profile"]}}
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn keycloak_identity() {
        let id = identity(&keycloak_claims(), &names(false)).unwrap();
        assert_eq!(id.user, "alice");
        assert_eq!(id.email.as_deref(), Some("alice@example.com"));
        assert!(id.email_verified);
        assert_eq!(id.groups, vec!["/admins", "/dev/backend"]);
        assert_eq!(id.roles, vec!["admin", "offline_access", "editor"]);
        assert_eq!(id.subject.as_deref(), Some("a11ce"));
        assert_eq!(id.sid.as_deref(), Some("s1"));
    }

    #[test]
    fn email_verified_vouches_only_for_the_standard_email_claim() {
        let mut claims = keycloak_claims();
        claims.insert("mail".into(), json!("mallory@example.com"));
        let mut custom = names(false);
        custom.email = "mail".into();
        let id = identity(&claims, &custom).unwrap();
        assert_eq!(id.email.as_deref(), Some("mallory@example.com"));
        assert!(!id.email_verified, "email_verified says nothing of `mail`");
    }

    #[test]
    fn leading_slash_can_be_stripped() {
        assert_eq!(
            identity(&keycloak_claims(), &names(true)).unwrap().groups,
            vec!["admins", "dev/backend"]
        );
    }

    #[test]
    fn other_providers_shapes() {
        let claims = json!({"sub": "123", "groups": "solo"})
            .as_object()
            .unwrap()
            .clone();
        let id = identity(&claims, &names(false)).unwrap();
        assert_eq!(id.user, "123", "falls back to sub");
        assert!(!id.email_verified, "no claim is no promise");
        assert_eq!(id.groups, vec!["solo"]);
        assert!(id.roles.is_empty());
        assert!(identity(&Claims::new(), &names(false)).is_err());
    }

    #[test]
    fn email_verified_readings() {
        for (value, expected) in [
            (json!(true), true),
            (json!("true"), true),
            (json!("TRUE"), true),
            (json!(false), false),
            (json!("false"), false),
            (json!(1), false),
            (json!(null), false),
        ] {
            assert_eq!(verified(Some(&value)), expected, "{value}");
        }
        assert!(!verified(None));
    }
}
