use http::{HeaderValue, Method, Request, Response, Uri};
use quanta::Instant;

use super::RequestId;
use super::metrics::record_request;
use crate::auth::AuthReason;
use crate::net::Origin;
use crate::route::Route;

/// A bounded label for a path: Sekisho's own routes by name, everything else `other`, so a
/// scanner cannot blow up the metrics' cardinality.
pub fn route_label(path: &str) -> &'static str {
    label(Route::of_prefixed(path), path)
}

/// [`route_label`] when the path's route (`Route::of_prefixed`) is known already.
fn label(route: Option<Route>, path: &str) -> &'static str {
    match route {
        Some(
            route @ (Route::Auth
            | Route::Traefik
            | Route::Caddy
            | Route::ExtAuthz
            | Route::EnvoyCheck
            | Route::Ping
            | Route::Ready
            | Route::Metrics),
        ) => route.path(),
        _ if path.starts_with("/oauth2/") => "/oauth2/*",
        _ => "other",
    }
}

/// One request as the metrics and, if enabled, the access log see it: begun when it arrives,
/// ended with its final response (route, status, latency, the resolved client address and the
/// authentication decision).
pub struct Observation {
    start: Instant,
    route: &'static str,
    /// Only with the access log on: the metrics need none of it.
    logged: Option<Logged>,
}

struct Logged {
    method: Method,
    uri: Uri,
    origin: Option<Origin>,
    request_id: HeaderValue,
}

impl Observation {
    /// Call after the request's client address is known. `route` is the path's
    /// (`Route::of_prefixed`).
    pub fn begin<B>(
        req: &Request<B>,
        origin: Option<Origin>,
        route: Option<Route>,
        id: &RequestId,
        access_log: bool,
    ) -> Self {
        Self {
            start: Instant::now(),
            route: label(route, req.uri().path()),
            logged: access_log.then(|| Logged {
                method: req.method().clone(),
                uri: req.uri().clone(),
                origin,
                request_id: id.value().clone(),
            }),
        }
    }

    pub fn end<B>(self, response: &Response<B>) {
        record(self, response);
    }
}

fn record<B>(seen: Observation, response: &Response<B>) {
    let elapsed = seen.start.elapsed();
    let status = response.status();
    record_request(
        seen.route,
        status.as_u16(),
        status_label(status.as_u16()),
        elapsed.as_secs_f64(),
    );
    let Some(seen) = seen.logged else { return };
    let reason = response.extensions().get::<AuthReason>().copied();
    tracing::info!(
        target: "sekisho::access",
        method = %seen.method,
        path = seen.uri.path(),
        status = status.as_u16(),
        client_ip = %seen.origin.and_then(|o| o.client()).map_or_else(|| "-".to_owned(), |c| c.to_string()),
        peer = %seen.origin.map_or_else(|| "-".to_owned(), |o| o.peer().to_string()),
        decision = reason.map_or("-", AuthReason::as_str),
        request_id = seen.request_id.to_str().unwrap_or("-"),
        latency_us = elapsed.as_micros() as u64,
        "request"
    );
}

/// Static status labels for the common codes avoid formatting a string per request.
fn status_label(code: u16) -> &'static str {
    match code {
        200 => "200",
        202 => "202",
        204 => "204",
        302 => "302",
        303 => "303",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        _ => match code / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(route_label("/oauth2/auth"), "/oauth2/auth");
        assert_eq!(route_label("/oauth2/whatever"), "/oauth2/*");
        assert_eq!(route_label("/wp-admin/x.php"), "other");
        assert_eq!(status_label(418), "4xx");
        assert_eq!(status_label(202), "202");
    }
}
