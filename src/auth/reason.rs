//! Why a request was allowed or refused.

/// Why a request was allowed or refused; the label in logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthReason {
    Session,
    /// A session whose tokens were refreshed on this request.
    Refreshed,
    Bearer,
    TrustedIp,
    NoSession,
    SessionExpired,
    SessionInvalid,
    /// The provider refused to refresh: the user signed out there or was logged out.
    SessionEnded,
    InvalidBearer,
    /// Signed in, but the authorization policy says no.
    Forbidden,
    StoreUnavailable,
    /// A proxied route that needs no session (`skip_auth`).
    SkipAuth,
    /// The front door asked in a way that cannot be answered safely (an unreadable
    /// `/oauth2/auth` narrowing query): refused, whoever asked.
    Misconfigured,
}

impl AuthReason {
    pub const ALL: [AuthReason; 13] = [
        Self::Session,
        Self::Refreshed,
        Self::Bearer,
        Self::TrustedIp,
        Self::NoSession,
        Self::SessionExpired,
        Self::SessionInvalid,
        Self::SessionEnded,
        Self::InvalidBearer,
        Self::Forbidden,
        Self::StoreUnavailable,
        Self::SkipAuth,
        Self::Misconfigured,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Refreshed => "refreshed",
            Self::Bearer => "bearer",
            Self::TrustedIp => "trusted_ip",
            Self::NoSession => "no_session",
            Self::SessionExpired => "session_expired",
            Self::SessionInvalid => "session_invalid",
            Self::SessionEnded => "session_ended",
            Self::InvalidBearer => "invalid_bearer",
            Self::Forbidden => "forbidden",
            Self::StoreUnavailable => "store_unavailable",
            Self::SkipAuth => "skip_auth",
            Self::Misconfigured => "misconfigured",
        }
    }
}
