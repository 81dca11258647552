//! Turns error responses into HTML pages for browsers, in their language. Other clients
//! (nginx sub-requests, API clients, curl) keep the short plain-text reason.

use axum::body::Body;
use http::header::{ACCEPT, ACCEPT_LANGUAGE, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Request, Response};

use super::page::{Lang, Page, render};

/// A request whose client wants HTML error pages, with its `Accept-Language` if it sent one.
#[derive(Debug)]
pub struct PageWanted(Option<HeaderValue>);

impl PageWanted {
    /// `Some` when the client accepts `text/html`. nginx passes the browser's headers to every
    /// `auth_request` sub-request, so most requests want HTML; the language is only worked out
    /// for the few that fail.
    pub fn of<B>(req: &Request<B>) -> Option<Self> {
        let wants_html = req
            .headers()
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
        wants_html.then(|| Self(req.headers().get(ACCEPT_LANGUAGE).cloned()))
    }

    /// Replaces the body of an error response that carries a [`Page`] with that page in the
    /// client's language; any other response passes unchanged.
    pub fn render(self, mut response: Response<Body>) -> Response<Body> {
        let Some(page) = response.extensions_mut().remove::<Page>() else {
            return response;
        };
        let html = render(&page, Lang::from_accept_language(self.0.as_ref()));
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.remove(CONTENT_LENGTH);
        *response.body_mut() = Body::from(html);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn failing() -> Response<Body> {
        let mut response = Response::new(Body::from("bad request: x\n"));
        *response.status_mut() = StatusCode::BAD_REQUEST;
        response
            .headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from_static("15"));
        response
            .extensions_mut()
            .insert(Page::BadRequest { reason: "x".into() });
        response
    }

    fn request(accept: &str, language: Option<&str>) -> Request<()> {
        let mut builder = Request::builder().header(ACCEPT, accept);
        if let Some(language) = language {
            builder = builder.header(ACCEPT_LANGUAGE, language);
        }
        builder.body(()).unwrap()
    }

    #[tokio::test]
    async fn browsers_get_the_page_in_their_language_others_the_short_reason() {
        let browser = PageWanted::of(&request("text/html,*/*;q=0.8", Some("ja"))).unwrap();
        let page = browser.render(failing());
        assert_eq!(page.status(), StatusCode::BAD_REQUEST);
        assert_eq!(page.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(page.headers().get(CONTENT_LENGTH).is_none());
        let html = axum::body::to_bytes(page.into_body(), 1 << 20)
            .await
            .unwrap();
        assert!(html.starts_with(b"<!doctype html>"));
        assert!(String::from_utf8_lossy(&html).contains("<html lang=\"ja\">"));

        assert!(
            PageWanted::of(&request("*/*", None)).is_none(),
            "curl, nginx, APIs"
        );

        let ok = PageWanted::of(&request("text/html", None))
            .unwrap()
            .render(Response::new(Body::from("fine")));
        assert!(
            ok.headers().get(CONTENT_TYPE).is_none(),
            "no page, no change"
        );
    }
}
