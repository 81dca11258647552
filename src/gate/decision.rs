//! What the gate decided, for a front door to translate into its own answer.

use std::net::IpAddr;
use std::sync::Arc;

use http::HeaderValue;

use crate::auth::AuthReason;
use crate::error::Error;
use crate::session::Session;

/// How a request got past the gate.
#[derive(Clone, Debug, PartialEq)]
pub enum Passage {
    /// The client address is in `trusted_ips`: no identity to pass on.
    TrustedNetwork(IpAddr),
    /// A route that needs no session (`skip_auth`).
    SkipAuth,
    /// A signed-in user, or an accepted bearer token.
    User(Arc<Session>),
}

/// The answer to "may this request pass, and as whom".
#[derive(Debug)]
pub enum Decision {
    /// Let through. `set_cookie` carries a refreshed session for the browser.
    Allow {
        passage: Passage,
        reason: AuthReason,
        set_cookie: Vec<HeaderValue>,
    },
    /// No usable session. Whether that means the sign-in page (a navigating browser) or a 401
    /// (a script, an API client) is for the doors that can tell the two apart and pass a
    /// redirect on ([`crate::gate::wants_sign_in_page`]); nginx's cannot, and does not ask.
    SignIn { reason: AuthReason },
    /// A bearer token was presented and refused: why, for `WWW-Authenticate`.
    InvalidBearer(String),
    /// Signed in, but a policy refuses. A session refreshed while deciding still goes back in
    /// `set_cookie`: the refresh token the browser holds was spent, and a provider that
    /// rotates refresh tokens ends the login when it is presented again.
    Forbidden {
        user: String,
        why: String,
        set_cookie: Vec<HeaderValue>,
    },
    /// The front door asked in a way that cannot be answered safely (an unreadable narrowing,
    /// forwarded headers from a peer that is not a trusted proxy): refused, whoever asked, with
    /// what to change.
    Misconfigured(String),
    /// A session store or provider failed: fail closed.
    Unavailable(Error),
}

impl Decision {
    pub(super) fn allow(passage: Passage, reason: AuthReason) -> Self {
        Self::Allow {
            passage,
            reason,
            set_cookie: Vec::new(),
        }
    }

    /// The label of this decision in logs and metrics.
    pub fn reason(&self) -> AuthReason {
        match self {
            Self::Allow { reason, .. } | Self::SignIn { reason, .. } => *reason,
            Self::InvalidBearer(_) => AuthReason::InvalidBearer,
            Self::Forbidden { .. } => AuthReason::Forbidden,
            Self::Misconfigured(_) => AuthReason::Misconfigured,
            Self::Unavailable(_) => AuthReason::StoreUnavailable,
        }
    }

    /// A refusal of the front door's request itself, logged with what to change.
    pub fn misconfigured(why: String) -> Self {
        tracing::warn!(reason = %why, "front door misconfigured; refused");
        crate::telemetry::record_auth_decision(AuthReason::Misconfigured);
        Self::Misconfigured(why)
    }
}
