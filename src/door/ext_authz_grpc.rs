//! Envoy's gRPC external authorization (`envoy.service.auth.v3.Authorization/Check`), served on
//! Sekisho's main port over h2c.
//!
//! Envoy sends a [`CheckRequest`](super::envoy_proto::CheckRequest) describing the request it
//! holds; this door reads it into [`CheckFacts`] ([`facts`]), asks a [`Checker`], and renders
//! the [`CheckAnswer`] as a [`CheckResponse`](super::envoy_proto::CheckResponse) ([`answer`]).
//! [`service`] is the tower service that does the gRPC framing ([`GrpcCheck`]).

mod answer;
mod facts;
mod service;

pub use service::GrpcCheck;

/// The gRPC method's path: where the integrator mounts [`service`].
pub const CHECK_PATH: &str = crate::route::Route::EnvoyCheck.path();

/// What Envoy says about the request it asks about, read from a CheckRequest.
#[derive(Clone, Debug)]
pub struct CheckFacts {
    /// The address Envoy says the request came from (attributes.source), None when absent or unreadable.
    pub source: Option<std::net::SocketAddr>,
    pub method: http::Method,
    /// "http"/"https" as Envoy reports it.
    pub scheme: Option<String>,
    /// attributes.request.http.host (the :authority).
    pub host: Option<String>,
    /// The original path with its query, as Envoy reports it (":path").
    pub path: String,
    /// The request's headers (from `headers` or `header_map`; pseudo-headers dropped; lower-case).
    pub headers: http::HeaderMap,
}

/// What Sekisho answers.
#[derive(Clone, Debug, PartialEq)]
pub enum CheckAnswer {
    /// OK: headers to set on the request to the app (identity), headers to remove from it
    /// (spoofed identity headers), and headers to add to the client's response (Set-Cookie).
    Allow {
        upstream: http::HeaderMap,
        remove: Vec<http::HeaderName>,
        client: http::HeaderMap,
    },
    /// Denied: the HTTP answer Envoy gives the client (302 with Location to sign in, 401, 403, 503...),
    /// and the gRPC status code for the CheckResponse (UNAUTHENTICATED, PERMISSION_DENIED, UNAVAILABLE...).
    Deny {
        status: http::StatusCode,
        headers: http::HeaderMap,
        body: String,
        code: tonic::Code,
    },
}

/// The decision behind the door: given the gRPC connection's TCP peer and what Envoy reports,
/// answer. Implemented by the decision core.
pub trait Checker: Clone + Send + Sync + 'static {
    fn check(
        &self,
        peer: std::net::SocketAddr,
        facts: CheckFacts,
    ) -> impl std::future::Future<Output = CheckAnswer> + Send;
}

/// The door as a tower service for requests to [`CHECK_PATH`]. It reads the TCP peer from the
/// request's [`Origin`](crate::net::Origin) extension.
pub fn service<C: Checker>(checker: C) -> GrpcCheck<C> {
    GrpcCheck::new(checker)
}

#[cfg(test)]
mod testdata {
    //! Byte vectors from Envoy's own Go types (`src/door/testdata/*.hex`).

    /// The bytes of a `.hex` vector: `#` lines are comments, the rest is hex.
    pub fn bytes(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .flat_map(|line| line.trim().bytes())
            .collect();
        assert!(digits.len() % 2 == 0, "odd number of hex digits");
        digits
            .chunks(2)
            .map(|pair| {
                let pair = std::str::from_utf8(pair).expect("hex digits are ASCII");
                u8::from_str_radix(pair, 16).expect("hex digits")
            })
            .collect()
    }

    pub const HEADERS: &str = include_str!("testdata/check_request_headers.hex");
    pub const RAW_HEADERS: &str = include_str!("testdata/check_request_raw_headers.hex");
    pub const BOTH_HEADERS: &str = include_str!("testdata/check_request_both_headers.hex");
    pub const PIPE_SOURCE: &str = include_str!("testdata/check_request_pipe_source.hex");
    pub const NO_HTTP: &str = include_str!("testdata/check_request_no_http.hex");
    pub const RESPONSE_OK: &str = include_str!("testdata/check_response_ok.hex");
    pub const RESPONSE_DENIED: &str = include_str!("testdata/check_response_denied.hex");
}
