//! The answer both bare benchmark servers give every request: `202 Accepted` with three small
//! headers, like Sekisho's answer for a signed-in user.

use std::convert::Infallible;

use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};

pub async fn answer(_req: Request<Incoming>) -> Result<Response<Empty<Bytes>>, Infallible> {
    let mut response = Response::new(Empty::new());
    *response.status_mut() = StatusCode::ACCEPTED;
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static("x-auth-request-user"),
        HeaderValue::from_static("alice"),
    );
    headers.insert(
        HeaderName::from_static("x-auth-request-email"),
        HeaderValue::from_static("alice@example.com"),
    );
    headers.insert(
        HeaderName::from_static("x-request-id"),
        HeaderValue::from_static("00000000-0000-4000-8000-000000000000"),
    );
    Ok(response)
}
