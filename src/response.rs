//! What Sekisho answers with itself, below both the handlers and the errors that use it:
//! redirects, the HTML pages people see, and the layers that turn error statuses into pages
//! and panics into a 500.

mod error_page;
pub mod page;
mod panic;

use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use http::{HeaderValue, StatusCode};

pub use error_page::PageWanted;
pub use page::{Lang, Page, render};
pub use panic::guarded;

/// A redirect target that cannot be sent in a `Location` header (control characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("redirect target is not a valid header")]
pub struct InvalidRedirect;

/// A `302 Found` to `location` that sets `cookies`; never cached, since it carries session state.
pub fn found(location: &str, cookies: Vec<HeaderValue>) -> Result<Response, InvalidRedirect> {
    let location = HeaderValue::try_from(location).map_err(|_| InvalidRedirect)?;
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    headers.insert(LOCATION, location);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for line in cookies {
        headers.append(SET_COOKIE, line);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redirect_is_never_cached_and_sets_every_cookie() {
        let cookies = vec![
            HeaderValue::from_static("a=1"),
            HeaderValue::from_static("b=2"),
        ];
        let response = found("/after?x=1", cookies).unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_eq!(response.headers()[LOCATION], "/after?x=1");
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        assert_eq!(response.headers().get_all(SET_COOKIE).iter().count(), 2);
        assert_eq!(found("/a\nb", Vec::new()).unwrap_err(), InvalidRedirect);
    }
}
