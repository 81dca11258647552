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
mod skip_auth;

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
        Some(self.conclude(Ok(authentication), facts, location))
    }

    /// The decision, whatever it takes to reach it. A failing store or provider is
    /// [`Decision::Unavailable`], never a pass.
    pub async fn decide(&self, facts: &Facts<'_>, location: &Location<'_>) -> Decision {
        if let Some(decision) = self.without_session(facts, location) {
            return decision;
        }
        let authentication = self.authenticator.authenticate(facts.headers).await;
        self.conclude(authentication, facts, location)
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
        facts: &Facts<'_>,
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
            Ok(Authentication::Denied(reason)) => Decision::SignIn {
                reason,
                navigation: wants_sign_in_page(facts.method, facts.headers),
            },
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
