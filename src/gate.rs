//! The one decision every front door asks for: may this request pass, and as whom.
//!
//! nginx's `auth_request`, Traefik's and Caddy's forward auth, Envoy's ext_authz and the
//! reverse proxy each translate their request into [`Facts`] and a [`Location`], ask the
//! [`Gate`], and translate the [`Decision`] back into the form they can pass on. Nothing else
//! decides: the trusted-network shortcut, `skip_auth` routes, sessions, bearer tokens and the
//! authorization policies are read here and only here.

mod decision;
mod facts;
mod path;
pub(crate) mod skip_auth;

use std::net::IpAddr;

use crate::auth::{AuthReason, Authentication, Authenticator, Policy};
use crate::net::Networks;
use crate::telemetry::record_auth_decision;

pub use decision::{Decision, Passage};
pub use facts::{Facts, Location, wants_sign_in_page};
pub use path::PathReadings;
pub use skip_auth::SkipRule;

/// Decides for every front door. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Gate {
    /// `trusted_ips`: clients that pass without a session.
    trusted: Networks,
    authenticator: Authenticator,
    /// `[authorization]`, for every location.
    policy: Policy,
}

impl Gate {
    pub fn new(trusted: Networks, authenticator: Authenticator, policy: Policy) -> Self {
        Self {
            trusted,
            authenticator,
            policy,
        }
    }

    /// The decision when it needs no waiting: a trusted network, a `skip_auth` route, a cookie
    /// session not due for refresh, or none at all. `None` means [`Gate::decide`] must be
    /// awaited (bearer tokens, refresh, a store that does I/O). Kept apart so the answer paid
    /// by every request of every app boxes no future.
    pub fn decide_now(&self, facts: &Facts<'_>, location: &Location<'_>) -> Option<Decision> {
        if let Some(decision) = self.without_session(facts, location) {
            return Some(decision);
        }
        let authentication = self.authenticator.authenticate_now(facts.headers)?;
        Some(self.conclude(Ok(authentication), location))
    }

    /// The decision, whatever it takes to reach it. A failing store or provider is
    /// [`Decision::Unavailable`], never a pass.
    pub async fn decide(&self, facts: &Facts<'_>, location: &Location<'_>) -> Decision {
        if let Some(decision) = self.without_session(facts, location) {
            return decision;
        }
        let authentication = self.authenticator.authenticate(facts.headers).await;
        self.conclude(authentication, location)
    }

    /// Whether `ip` is in `trusted_ips`.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.contains(ip)
    }

    /// A trusted network or a route that needs no session: decided before any store is asked,
    /// so it keeps answering while stores and identity providers are down.
    fn without_session(&self, facts: &Facts<'_>, location: &Location<'_>) -> Option<Decision> {
        if let Some(ip) = facts.client.filter(|ip| self.trusts(*ip)) {
            return Some(counted(Decision::allow(
                Passage::TrustedNetwork(ip),
                AuthReason::TrustedIp,
            )));
        }
        let rules = location.skip_auth;
        let i = skip_auth::any_matches(rules, facts.method, facts.path)?;
        tracing::debug!(rule = %rules[i], "route needs no session");
        Some(counted(Decision::allow(
            Passage::SkipAuth,
            AuthReason::SkipAuth,
        )))
    }

    /// The decision for an authentication outcome, with `[authorization]` and the location's
    /// own policy applied.
    fn conclude(
        &self,
        authentication: Result<Authentication, crate::error::Error>,
        location: &Location<'_>,
    ) -> Decision {
        let decision = match authentication {
            Ok(Authentication::Allowed {
                session,
                reason,
                set_cookie,
            }) => {
                let allowed = self
                    .policy
                    .check(&session)
                    .and_then(|()| location.policy.map_or(Ok(()), |p| p.check(&session)));
                match allowed {
                    Ok(()) => Decision::Allow {
                        passage: Passage::User(session),
                        reason,
                        set_cookie,
                    },
                    Err(denial) => {
                        let why = denial.to_string();
                        tracing::info!(user = %session.user, reason = %why, "authenticated but not allowed");
                        Decision::Forbidden {
                            user: session.user.clone(),
                            why,
                            set_cookie,
                        }
                    }
                }
            }
            Ok(Authentication::InvalidBearer(why)) => Decision::InvalidBearer(why),
            Ok(Authentication::Denied(reason)) => Decision::SignIn { reason },
            Err(error) => Decision::Unavailable(error),
        };
        counted(decision)
    }
}

/// Every decision is counted once, by its reason.
fn counted(decision: Decision) -> Decision {
    record_auth_decision(decision.reason());
    decision
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use http::header::COOKIE;
    use http::{HeaderMap, HeaderValue, Method};

    use super::*;
    use crate::config::{CookieSettings, Secret};
    use crate::session::{CookieStore, Session, Sessions};

    const SECRET: &str = "gate-test-secret-0123456789abcdef0123";

    fn store() -> CookieStore {
        let settings = CookieSettings {
            name: "_sekisho".into(),
            secure: true,
            domain: None,
            path: "/".into(),
        };
        CookieStore::new(settings, &Secret::parse(SECRET).unwrap())
    }

    fn gate(policy: Policy) -> Gate {
        let sessions = Sessions::in_cookies(Arc::new(store()));
        Gate::new(
            Networks::parse(&["198.51.100.0/24"]).unwrap(),
            Authenticator::new(sessions, None),
            policy,
        )
    }

    fn alice_cookie() -> HeaderMap {
        let mut alice = Session::new("alice", Duration::from_secs(3600));
        alice.groups = vec!["dev".into()];
        let mut headers = HeaderMap::new();
        let cookie = store().request_cookie(&alice).unwrap();
        headers.insert(COOKIE, HeaderValue::from_str(&cookie).unwrap());
        headers
    }

    fn decide(
        gate: &Gate,
        client: &str,
        path: &str,
        headers: &HeaderMap,
        location: &Location<'_>,
    ) -> Decision {
        let facts = Facts {
            client: Some(client.parse().unwrap()),
            method: &Method::GET,
            path,
            headers,
        };
        gate.decide_now(&facts, location)
            .expect("a cookie session is decided at once")
    }

    #[test]
    fn a_trusted_network_passes_before_anything_else_is_read() {
        let gate = gate(Policy::from_lists(Some("admins"), None, None));
        let decision = decide(
            &gate,
            "198.51.100.7",
            "/",
            &HeaderMap::new(),
            &Location::ANY,
        );
        assert!(matches!(
            decision,
            Decision::Allow {
                passage: Passage::TrustedNetwork(_),
                reason: AuthReason::TrustedIp,
                ..
            }
        ));
        let decision = decide(&gate, "192.0.2.7", "/", &HeaderMap::new(), &Location::ANY);
        assert!(matches!(decision, Decision::SignIn { .. }));
    }

    #[test]
    fn a_skip_auth_route_passes_without_a_session_and_only_there() {
        let gate = gate(Policy::default());
        let rules = [SkipRule::parse("^/api/").unwrap()];
        let location = Location {
            policy: None,
            skip_auth: &rules,
        };
        let none = HeaderMap::new();
        let decision = decide(&gate, "192.0.2.7", "/api/x", &none, &location);
        assert!(matches!(
            decision,
            Decision::Allow {
                passage: Passage::SkipAuth,
                ..
            }
        ));
        let decision = decide(&gate, "192.0.2.7", "/API/../admin", &none, &location);
        assert!(matches!(decision, Decision::SignIn { .. }));
    }

    #[test]
    fn both_policies_apply_to_a_session() {
        let location_policy = Policy::from_lists(Some("admins"), None, None);
        let narrowed = Location {
            policy: Some(&location_policy),
            skip_auth: &[],
        };
        let session = alice_cookie();
        let decision = decide(
            &gate(Policy::default()),
            "192.0.2.7",
            "/",
            &session,
            &Location::ANY,
        );
        assert!(matches!(
            decision,
            Decision::Allow {
                passage: Passage::User(_),
                ..
            }
        ));
        let decision = decide(
            &gate(Policy::default()),
            "192.0.2.7",
            "/",
            &session,
            &narrowed,
        );
        assert!(matches!(decision, Decision::Forbidden { ref user, .. } if user == "alice"));
        let global = gate(Policy::from_lists(Some("ops"), None, None));
        let decision = decide(&global, "192.0.2.7", "/", &session, &Location::ANY);
        assert!(matches!(decision, Decision::Forbidden { .. }));
    }
}
