use std::future::Future;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue};

use super::state::Session;

/// Why a presented session was not accepted. All of these mean "no session" to the caller;
/// the distinction is for logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    Expired,
    /// Fails authentication: tampered, sealed with another key, or a chunk is missing.
    Undecryptable,
    /// Decrypts, but is not a session this version understands.
    Malformed,
    /// Chunks present without their first part.
    Incomplete,
    /// A ticket whose session is not in the store: signed out, ended at the provider, or
    /// expired there.
    Unknown,
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Undecryptable => "undecryptable",
            Self::Malformed => "malformed",
            Self::Incomplete => "incomplete",
            Self::Unknown => "unknown",
        }
    }
}

/// The result of looking for a session in a request.
#[derive(Clone, Debug, PartialEq)]
pub enum Loaded {
    Valid(Arc<Session>),
    Missing,
    Rejected(Rejection),
}

/// The store itself failed; the request must fail closed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session could not be encoded: {0}")]
    Encode(String),
    /// Redis is down, slow, or refused the command.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
}

/// Where sessions live. A store reads the session a request carries and produces the
/// `Set-Cookie` lines that save or clear one.
pub trait SessionStore: Send + Sync {
    fn load(
        &self,
        headers: &HeaderMap,
    ) -> impl Future<Output = Result<Loaded, SessionError>> + Send;

    /// `Set-Cookie` lines that store `session`, clearing cookies of an older session in `headers`.
    fn save(
        &self,
        headers: &HeaderMap,
        session: &Session,
    ) -> impl Future<Output = Result<Vec<HeaderValue>, SessionError>> + Send;

    /// `Set-Cookie` lines that remove the session from the browser (and from the store).
    fn clear(
        &self,
        headers: &HeaderMap,
    ) -> impl Future<Output = Result<Vec<HeaderValue>, SessionError>> + Send;
}
