//! Errors of the request path, and the one place they become responses. Errors of the parts
//! below (session stores, sign-in state, identity providers, redirects) are kept as they are,
//! converted by `?`; what each means to the client is decided here.

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::provider::{OidcError, SamlError};
use crate::response::{InvalidRedirect, Page};
use crate::route::Route;
use crate::session::{EndError, LoginStateError, SessionError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request carries no usable session.
    #[error("no session")]
    Unauthenticated,
    /// Signed in, but not allowed here.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The client sent something we cannot accept.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A redirect target from the request cannot be sent back as a header.
    #[error("bad request: {0}")]
    InvalidRedirect(#[from] InvalidRedirect),
    #[error("session store failed")]
    SessionStore(#[from] SessionError),
    /// Sign-in could not be completed: the callback lacks something, an assertion came again.
    #[error("sign-in failed: {0}")]
    LoginFailed(String),
    /// This browser's sign-in state is missing, altered or expired, or its store failed.
    #[error("sign-in failed: {0}")]
    LoginState(#[from] LoginStateError),
    /// The OpenID provider cannot be asked, or its answer (or the callback) failed a check.
    #[error(transparent)]
    Oidc(#[from] OidcError),
    /// The SAML IdP's metadata is not usable, or its response failed a check.
    #[error(transparent)]
    Saml(#[from] SamlError),
    /// Signed in, but the authorization policy refuses.
    #[error("{user} is not allowed: {reason}")]
    NotAllowed { user: String, reason: String },
    /// Login was asked for but no provider is configured.
    #[error("no identity provider is configured")]
    NoProvider,
    #[error("not found")]
    NotFound,
    /// A feature this configuration cannot offer.
    #[error("not supported: {0}")]
    NotSupported(String),
    /// The app behind the proxy cannot be reached, or broke off its answer.
    #[error("upstream {upstream} unavailable: {reason}")]
    UpstreamUnavailable { upstream: String, reason: String },
    /// The app behind the proxy made no progress within its timeout.
    #[error("upstream {upstream} did not answer within {}", humantime::format_duration(*.timeout))]
    UpstreamTimeout {
        upstream: String,
        timeout: std::time::Duration,
    },
}

/// Ending sessions by the provider's session: with cookie sessions a setting that does not
/// fit, else the store's failure.
impl From<EndError> for Error {
    fn from(error: EndError) -> Self {
        match error {
            EndError::InCookies => Self::NotSupported(error.to_string()),
            EndError::Store(e) => Self::SessionStore(e),
        }
    }
}

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::NotAllowed { .. } => StatusCode::FORBIDDEN,
            Self::BadRequest(_) | Self::InvalidRedirect(_) => StatusCode::BAD_REQUEST,
            Self::SessionStore(_) | Self::LoginState(LoginStateError::Unavailable) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::LoginFailed(_)
            | Self::LoginState(_)
            | Self::Oidc(OidcError::Rejected(_))
            | Self::Saml(SamlError::Rejected(_)) => StatusCode::BAD_REQUEST,
            Self::Oidc(OidcError::Unavailable(_)) | Self::Saml(SamlError::Unavailable(_)) => {
                StatusCode::BAD_GATEWAY
            }
            Self::NotFound | Self::NoProvider => StatusCode::NOT_FOUND,
            Self::NotSupported(_) => StatusCode::NOT_IMPLEMENTED,
            Self::UpstreamUnavailable { .. } => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// What the client is told: short, and never the internals.
    fn public_reason(&self) -> String {
        match self {
            Self::Unauthenticated => "sign-in required".into(),
            Self::Forbidden(why) => format!("forbidden: {why}"),
            Self::BadRequest(why) => format!("bad request: {why}"),
            Self::InvalidRedirect(why) => format!("bad request: {why}"),
            Self::SessionStore(_) | Self::LoginState(LoginStateError::Unavailable) => {
                "session store unavailable".into()
            }
            Self::LoginFailed(why)
            | Self::Oidc(OidcError::Rejected(why))
            | Self::Saml(SamlError::Rejected(why)) => format!("sign-in failed: {why}"),
            Self::LoginState(e) => format!("sign-in failed: {e}"),
            Self::Oidc(OidcError::Unavailable(_)) | Self::Saml(SamlError::Unavailable(_)) => {
                "identity provider unavailable; try again shortly".into()
            }
            Self::NotFound => "not found".into(),
            Self::NotSupported(why) => format!("not supported: {why}"),
            Self::NoProvider => "no identity provider is configured".into(),
            Self::NotAllowed { user, reason } => {
                format!("signed in as {user}, but not allowed here: {reason}")
            }
            Self::UpstreamUnavailable { .. } => {
                "the application is unavailable; try again shortly".into()
            }
            Self::UpstreamTimeout { .. } => "the application did not answer in time".into(),
        }
    }
}

impl Error {
    /// The page a browser sees instead of the plain-text reason.
    fn page(&self) -> Page {
        let login_failed = |reason: String| Page::LoginFailed {
            reason,
            retry_href: Route::Start.path().into(),
        };
        match self {
            Self::LoginFailed(why)
            | Self::Oidc(OidcError::Rejected(why))
            | Self::Saml(SamlError::Rejected(why)) => login_failed(why.clone()),
            Self::LoginState(e) if *e != LoginStateError::Unavailable => {
                login_failed(e.to_string())
            }
            Self::Oidc(OidcError::Unavailable(_)) | Self::Saml(SamlError::Unavailable(_)) => {
                Page::ProviderUnavailable {
                    retry_href: Route::Start.path().into(),
                }
            }
            Self::NotAllowed { user, reason } => Page::NotAllowed {
                user: user.clone(),
                reason: reason.clone(),
                sign_out_href: Route::SignOut.path().into(),
            },
            Self::BadRequest(reason) => Page::BadRequest {
                reason: reason.clone(),
            },
            Self::InvalidRedirect(why) => Page::BadRequest {
                reason: why.to_string(),
            },
            other => Page::Error {
                status: other.status().as_u16(),
                reason: other.public_reason(),
            },
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if matches!(self, Self::NotSupported(_)) {
            // A setting that does not fit (Keycloak's back-channel logout URL with cookie
            // sessions): nothing failed here, the log names what to change.
            tracing::warn!(error = %self, "request refused");
        } else if status.is_server_error() {
            tracing::error!(error = %error_chain(&self), "request failed");
        } else {
            tracing::info!(error = %self, "request refused");
        }
        let page = self.page();
        let body = format!("{}\n", self.public_reason());
        let mut response =
            (status, [(http::header::CACHE_CONTROL, "no-store")], body).into_response();
        response.extensions_mut().insert(page);
        response
    }
}

/// A redirect that cannot be sent answers as the bad request it is.
impl IntoResponse for InvalidRedirect {
    fn into_response(self) -> Response {
        Error::from(self).into_response()
    }
}

/// The error and all of its causes, for logs.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(Error::Unauthenticated.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(Error::Forbidden("x".into()).status(), StatusCode::FORBIDDEN);
        assert_eq!(
            Error::BadRequest("x".into()).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            Error::SessionStore(SessionError::Encode("x".into())).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let upstream = || "gitlab.example.com (127.0.0.1:8081)".to_owned();
        assert_eq!(
            Error::UpstreamUnavailable {
                upstream: upstream(),
                reason: "connection refused".into()
            }
            .status(),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(
            Error::UpstreamTimeout {
                upstream: upstream(),
                timeout: std::time::Duration::from_secs(60)
            }
            .status(),
            StatusCode::GATEWAY_TIMEOUT
        );
    }

    /// Status, body and page of `error`'s response.
    async fn answer(error: Error) -> (StatusCode, String, Option<Page>) {
        let mut response = error.into_response();
        let page = response.extensions_mut().remove::<Page>();
        let status = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned(), page)
    }

    #[tokio::test]
    async fn a_refusal_from_a_provider_is_a_failed_sign_in_and_its_absence_a_502() {
        for refused in [
            Error::from(OidcError::Rejected("nonce mismatch".into())),
            Error::from(SamlError::Rejected("nonce mismatch".into())),
        ] {
            let (status, body, page) = answer(refused).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(body, "sign-in failed: nonce mismatch\n");
            assert!(
                matches!(page, Some(Page::LoginFailed { reason, .. }) if reason == "nonce mismatch")
            );
        }
        for down in [
            Error::from(OidcError::Unavailable("10.0.0.5 refused".into())),
            Error::from(SamlError::Unavailable("10.0.0.5 refused".into())),
        ] {
            let (status, body, page) = answer(down).await;
            assert_eq!(status, StatusCode::BAD_GATEWAY);
            assert_eq!(body, "identity provider unavailable; try again shortly\n");
            assert!(matches!(page, Some(Page::ProviderUnavailable { .. })));
        }
    }

    #[tokio::test]
    async fn sign_in_state_is_the_browsers_problem_unless_its_store_failed() {
        let (status, body, page) = answer(LoginStateError::Expired.into()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body, "sign-in failed: sign-in took too long\n");
        assert!(matches!(page, Some(Page::LoginFailed { .. })));
        let (status, body, _) = answer(LoginStateError::Unavailable.into()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "session store unavailable\n");
    }

    #[tokio::test]
    async fn ending_cookie_sessions_by_the_providers_session_is_not_supported() {
        let (status, _, _) = answer(EndError::InCookies.into()).await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
        let store = EndError::Store(SessionError::Unavailable("down".into()));
        assert_eq!(
            answer(store.into()).await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test]
    async fn a_redirect_that_cannot_be_sent_is_a_bad_request() {
        let response =
            crate::response::found("/a\rb", Vec::new()).unwrap_or_else(IntoResponse::into_response);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(body, "bad request: redirect target is not a valid header\n");
    }

    #[tokio::test]
    async fn upstream_addresses_stay_in_the_log() {
        let response = Error::UpstreamUnavailable {
            upstream: "gitlab.example.com (10.0.0.5:8081)".into(),
            reason: "connection refused".into(),
        }
        .into_response();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let body = String::from_utf8_lossy(&body);
        assert!(
            !body.contains("10.0.0.5") && !body.contains("refused"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn internals_stay_in_the_log() {
        let response =
            Error::SessionStore(SessionError::Encode("redis at 10.0.0.5 said no".into()))
                .into_response();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let body = String::from_utf8_lossy(&body);
        assert!(!body.contains("10.0.0.5"), "{body}");
        assert_eq!(body.trim(), "session store unavailable");
    }
}
