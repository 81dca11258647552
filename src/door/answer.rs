//! What every door has in common: the answer future, and the refusals of the doors that
//! answer browsers directly (everything but nginx's, which only reads statuses).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use http::header::{SET_COOKIE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method};
use url::Url;

use crate::auth::bearer_challenge;
use crate::error::Error;
use crate::gate::{Decision, wants_sign_in_page};

type Boxed = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

pin_project_lite::pin_project! {
    /// A door's answer. One the gate knew at once skips boxing the (large) future of a session
    /// decision.
    #[project = AnswerProjection]
    pub enum Answer {
        Ready { response: Option<Response> },
        Pending { #[pin] inner: Boxed },
    }
}

impl Answer {
    pub fn ready(response: Response) -> Self {
        Self::Ready {
            response: Some(response),
        }
    }

    pub fn pending(
        future: impl Future<Output = Result<Response, Infallible>> + Send + 'static,
    ) -> Self {
        Self::Pending {
            inner: Box::pin(future),
        }
    }
}

impl Future for Answer {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AnswerProjection::Ready { response } => {
                Poll::Ready(Ok(response.take().expect("a ready answer is polled once")))
            }
            AnswerProjection::Pending { inner } => inner.poll(cx),
        }
    }
}

/// The answer to a client for a decision that does not let it through, from a door that
/// passes Sekisho's answer on to the browser (the reverse proxy, Traefik, Caddy, Envoy): a
/// navigating browser is sent to sign in (`sign_in` builds that redirect), a script gets
/// 401; a policy's refusal is a 403 page.
///
/// `asked` is the method and headers of the request the client made, when the door knows
/// them; it tells a navigating browser from a script, and is only read for a sign-in.
pub fn refusal(
    decision: Decision,
    asked: Option<(&Method, &HeaderMap)>,
    sign_in: impl FnOnce() -> Response,
) -> Response {
    match decision {
        Decision::Allow { .. } => {
            unreachable!("an allowed request is not refused")
        }
        Decision::SignIn { .. }
            if asked.is_some_and(|(method, headers)| wants_sign_in_page(method, headers)) =>
        {
            sign_in()
        }
        Decision::SignIn { .. } => Error::Unauthenticated.into_response(),
        Decision::InvalidBearer(why) => {
            let mut response = Error::Unauthenticated.into_response();
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, bearer_challenge(&why));
            response
        }
        Decision::Forbidden {
            user,
            why,
            set_cookie,
        } => {
            let mut response = Error::NotAllowed { user, reason: why }.into_response();
            with_cookies(&mut response, set_cookie);
            response
        }
        // The client is not the one to fix it, and the setting's name and the peer's address
        // are the operator's business: the log line `Decision::misconfigured` wrote has them.
        Decision::Misconfigured(_) => {
            Error::BadRequest("front door misconfigured; see Sekisho's log".into()).into_response()
        }
        Decision::Unavailable(error) => error.into_response(),
    }
}

/// A 302 to `/oauth2/start` that comes back to `rd`, the page asked for.
pub fn sign_in_redirect(sign_in: &Url, rd: &str) -> Response {
    let mut location = sign_in.clone();
    location.query_pairs_mut().append_pair("rd", rd);
    crate::handler::found(location.as_str(), Vec::new()).unwrap_or_else(IntoResponse::into_response)
}

/// Appends `Set-Cookie` lines (a refreshed session) to a response.
pub(super) fn with_cookies(response: &mut Response, set_cookie: Vec<HeaderValue>) {
    for line in set_cookie {
        response.headers_mut().append(SET_COOKIE, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthReason;
    use http::StatusCode;
    use http::header::{ACCEPT, UPGRADE};

    fn answer(method: Method, headers: &[(http::HeaderName, &str)], known: bool) -> StatusCode {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        let decision = Decision::SignIn {
            reason: AuthReason::NoSession,
        };
        let asked = known.then_some((&method, &map));
        refusal(decision, asked, || StatusCode::FOUND.into_response()).status()
    }

    #[test]
    fn only_a_navigating_browser_is_sent_to_sign_in() {
        let html = || (ACCEPT, "text/html,application/xhtml+xml");
        assert_eq!(answer(Method::GET, &[html()], true), StatusCode::FOUND);
        assert_eq!(answer(Method::HEAD, &[html()], true), StatusCode::FOUND);
        assert_eq!(
            answer(Method::POST, &[html()], true),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            answer(Method::GET, &[html(), (UPGRADE, "websocket")], true),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(answer(Method::GET, &[], true), StatusCode::UNAUTHORIZED);
        assert_eq!(
            answer(Method::GET, &[html()], false),
            StatusCode::UNAUTHORIZED,
            "a door that could not read the original request never redirects"
        );
    }
}
