//! Who may pass once signed in: groups, roles, email domains. The global policy comes from
//! `[authorization]`; a location can narrow it further with query parameters on the auth
//! endpoint (`/oauth2/auth?allowed_groups=admins,dev`).
//!
//! An email address counts only when the provider vouches for it (`email_verified`): Keycloak
//! lets users change their own address, and an unverified `me@our-company.com` would
//! otherwise pass a domain rule. `oidc.allow_unverified_email` lifts that.

use crate::session::{ProviderKind, Session};

/// Why an OpenID Connect session may hold no groups, and the Keycloak setting to check.
const NO_GROUPS_CLAIM: &str = "the token carries no `groups` claim (oidc.groups_claim): the \
     user is in no group, or the Keycloak client has no Group Membership mapper (Clients > the \
     client > Client scopes > its dedicated scope > Add mapper > Group Membership)";
/// The same for a SAML session.
const NO_GROUPS_ATTRIBUTE: &str = "the assertion carries no groups attribute \
     (saml.attributes.groups): the user is in no group, or the Keycloak client has no Group \
     list mapper (Clients > the client > Client scopes > its dedicated scope > Add mapper)";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    groups: Vec<String>,
    roles: Vec<String>,
    email_domains: Vec<String>,
    /// Whether an address the provider did not verify counts for `email_domains`.
    accept_unverified_email: bool,
}

/// Why a signed-in user was refused; shown on the "not allowed" page and logged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("not in any of the groups {0}")]
    Groups(String),
    /// No groups at all came with the sign-in. Keycloak leaves the groups out both when the
    /// user is in none and when the client has no group mapper (the usual cause when every
    /// user is refused), so the reason names the mapper to add.
    #[error("not in any of the groups {wanted}: {hint}")]
    NoGroups { wanted: String, hint: &'static str },
    #[error("has none of the roles {0}")]
    Roles(String),
    #[error("email not in the domains {0}")]
    EmailDomain(String),
    #[error("email not verified by the identity provider (domains {0})")]
    EmailUnverified(String),
}

impl Policy {
    /// Each non-empty list is a requirement (any one entry satisfies it); all requirements
    /// must hold. Groups match with or without Keycloak's leading `/`.
    pub fn new(groups: Vec<String>, roles: Vec<String>, email_domains: Vec<String>) -> Self {
        let clean = |list: Vec<String>| {
            list.into_iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let email_domains: Vec<String> = clean(email_domains);
        Self {
            groups: clean(groups)
                .into_iter()
                .map(|g: String| g.trim_start_matches('/').to_owned())
                .collect(),
            roles: clean(roles),
            email_domains: email_domains
                .into_iter()
                .map(|d| d.trim_start_matches('@').to_ascii_lowercase())
                .collect(),
            accept_unverified_email: false,
        }
    }

    /// This policy, counting addresses the provider did not verify when `accept` is true.
    pub fn accepting_unverified_email(mut self, accept: bool) -> Self {
        self.accept_unverified_email = accept;
        self
    }

    pub fn accepts_unverified_email(&self) -> bool {
        self.accept_unverified_email
    }

    /// A policy from comma-separated query values.
    pub fn from_lists(
        groups: Option<&str>,
        roles: Option<&str>,
        email_domains: Option<&str>,
    ) -> Self {
        let split = |v: Option<&str>| {
            v.map(|v| v.split(',').map(str::to_owned).collect())
                .unwrap_or_default()
        };
        Self::new(split(groups), split(roles), split(email_domains))
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.roles.is_empty() && self.email_domains.is_empty()
    }

    pub fn check(&self, session: &Session) -> Result<(), Denial> {
        if !self.groups.is_empty()
            && !session
                .groups
                .iter()
                .any(|g| self.groups.iter().any(|a| a == g.trim_start_matches('/')))
        {
            let wanted = self.groups.join(", ");
            if !session.groups.is_empty() {
                return Err(Denial::Groups(wanted));
            }
            let hint = if session.provider == Some(ProviderKind::Saml) {
                NO_GROUPS_ATTRIBUTE
            } else {
                NO_GROUPS_CLAIM
            };
            return Err(Denial::NoGroups { wanted, hint });
        }
        if !self.roles.is_empty() && !session.roles.iter().any(|r| self.roles.contains(r)) {
            return Err(Denial::Roles(self.roles.join(", ")));
        }
        if !self.email_domains.is_empty() {
            let domain = session
                .email
                .as_deref()
                .and_then(|e| e.rsplit_once('@'))
                .map(|(_, d)| d.to_ascii_lowercase());
            if !domain.is_some_and(|d| self.email_domains.contains(&d)) {
                return Err(Denial::EmailDomain(self.email_domains.join(", ")));
            }
            if !session.email_verified && !self.accept_unverified_email {
                return Err(Denial::EmailUnverified(self.email_domains.join(", ")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn user(groups: &[&str], roles: &[&str], email: &str) -> Session {
        let mut s = Session::new("u", Duration::from_secs(60));
        s.groups = groups.iter().map(|g| g.to_string()).collect();
        s.roles = roles.iter().map(|r| r.to_string()).collect();
        s.email = Some(email.into());
        s.email_verified = true;
        s
    }

    #[test]
    fn empty_policy_allows_everyone_signed_in() {
        assert!(Policy::default().check(&user(&[], &[], "x@y")).is_ok());
    }

    #[test]
    fn groups_match_with_or_without_leading_slash() {
        let p = Policy::from_lists(Some("admins,/dev"), None, None);
        assert!(p.check(&user(&["/admins"], &[], "a@x")).is_ok());
        assert!(p.check(&user(&["dev"], &[], "a@x")).is_ok());
        assert!(p.check(&user(&["/parent/dev"], &[], "a@x")).is_err());
        assert_eq!(
            p.check(&user(&["/ops"], &[], "a@x")),
            Err(Denial::Groups("admins, dev".into()))
        );
    }

    #[test]
    fn no_groups_at_all_names_the_mapper_to_add() {
        let p = Policy::from_lists(Some("admins"), None, None);
        let mut none = user(&[], &[], "a@x");
        none.provider = Some(ProviderKind::Oidc);
        let why = p.check(&none).unwrap_err().to_string();
        assert!(
            why.starts_with("not in any of the groups admins: the token carries no `groups` claim")
                && why.contains("Group Membership mapper"),
            "{why}"
        );
        none.provider = Some(ProviderKind::Saml);
        let why = p.check(&none).unwrap_err().to_string();
        assert!(why.contains("Group list mapper"), "{why}");
        // Some groups, none of them wanted: the plain reason.
        assert_eq!(
            p.check(&user(&["/dev"], &[], "a@x")),
            Err(Denial::Groups("admins".into()))
        );
    }

    #[test]
    fn every_requirement_must_hold() {
        let p = Policy::new(
            vec!["admins".into()],
            vec!["editor".into()],
            vec!["example.com".into()],
        );
        assert!(
            p.check(&user(&["/admins"], &["editor"], "a@Example.com"))
                .is_ok()
        );
        assert!(matches!(
            p.check(&user(&["/admins"], &["viewer"], "a@example.com")),
            Err(Denial::Roles(_))
        ));
        assert!(matches!(
            p.check(&user(&["/admins"], &["editor"], "a@evil.com")),
            Err(Denial::EmailDomain(_))
        ));
        assert!(matches!(
            p.check(&user(&["/admins"], &["editor"], "a@example.com.evil.com")),
            Err(Denial::EmailDomain(_))
        ));
    }

    #[test]
    fn blank_entries_are_ignored() {
        assert!(Policy::from_lists(Some(" , "), Some(""), None).is_empty());
    }

    #[test]
    fn only_a_verified_address_counts_unless_told_otherwise() {
        let mut unverified = user(&[], &[], "mallory@example.com");
        unverified.email_verified = false;
        let p = Policy::from_lists(None, None, Some("example.com"));
        assert_eq!(
            p.check(&unverified),
            Err(Denial::EmailUnverified("example.com".into()))
        );
        assert!(p.check(&user(&[], &[], "alice@example.com")).is_ok());
        let lenient = p.accepting_unverified_email(true);
        assert!(lenient.check(&unverified).is_ok());
        // Groups and roles do not depend on the address.
        let groups = Policy::from_lists(Some("admins"), None, None);
        let mut admin = user(&["/admins"], &[], "x@elsewhere.org");
        admin.email_verified = false;
        assert!(groups.check(&admin).is_ok());
    }
}
