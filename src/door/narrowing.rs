//! Per-location narrowing, written in the auth address a front door is given:
//! `/oauth2/auth?allowed_groups=admins,dev&allowed_roles=editor`.

use serde::Deserialize;

use crate::auth::Policy;

/// Per-location narrowing: `/oauth2/auth?allowed_groups=admins,dev&allowed_roles=editor`.
/// Only these keys, each at most once and naming at least one entry: a typo, a repeated key or
/// an empty value (an nginx variable that came out empty) would otherwise narrow nothing, and
/// a location meant for one group would let in every signed-in user.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Narrowing {
    allowed_groups: Option<String>,
    allowed_roles: Option<String>,
    allowed_email_domains: Option<String>,
}

/// The location's narrowing, read strictly (see [`Narrowing`]).
pub(super) fn narrowing(query: &str, accept_unverified_email: bool) -> Result<Policy, String> {
    let narrowing: Narrowing = serde_urlencoded::from_str(query)
        .map_err(|e| format!("`/oauth2/auth?{query}`: {e}; the keys are allowed_groups, allowed_roles and allowed_email_domains, each once"))?;
    for (key, value) in [
        ("allowed_groups", &narrowing.allowed_groups),
        ("allowed_roles", &narrowing.allowed_roles),
        ("allowed_email_domains", &narrowing.allowed_email_domains),
    ] {
        if value
            .as_deref()
            .is_some_and(|v| v.split(',').all(|entry| entry.trim().is_empty()))
        {
            return Err(format!("`/oauth2/auth?{query}`: `{key}` names nothing"));
        }
    }
    Ok(Policy::from_lists(
        narrowing.allowed_groups.as_deref(),
        narrowing.allowed_roles.as_deref(),
        narrowing.allowed_email_domains.as_deref(),
    )
    .accepting_unverified_email(accept_unverified_email))
}

#[cfg(test)]
mod tests {
    use super::narrowing;

    #[test]
    fn a_narrowing_query_that_would_narrow_nothing_is_refused() {
        for query in [
            "allowed_group=admins",
            "allowed_groups=admins&allowed_groups=dev",
            "allowed_groups=",
            "allowed_groups=,%20,",
            "allowed_roles=&allowed_groups=admins",
            "allowed_groups=admins&rd=/x",
        ] {
            assert!(narrowing(query, false).is_err(), "{query} must be refused");
        }
        for query in [
            "",
            "allowed_groups=admins",
            "allowed_groups=admins,dev&allowed_roles=editor",
            "allowed_email_domains=example.com",
        ] {
            assert!(narrowing(query, false).is_ok(), "{query} must be read");
        }
        assert!(narrowing("allowed_groups=admins", false).is_ok_and(|p| !p.is_empty()));
    }
}
