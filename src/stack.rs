//! The one place the order of the request stack is written. Requests pass the layers top to
//! bottom, responses bottom to top.

use std::any::Any;

use axum::Router;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::auth::TrustedIpLayer;
use crate::config::Config;
use crate::handler::{self, AppState, ErrorPageLayer};
use crate::net::{ClientIpLayer, ClientIpResolver};
use crate::telemetry::ObserveLayer;

pub fn build(config: &Config, state: AppState) -> Router {
    let resolver = ClientIpResolver::new(
        config.client_ip.header,
        config.client_ip.trusted_proxies.clone(),
    );
    handler::routes().with_state(state).layer(
        ServiceBuilder::new()
            // Outermost, so every line logged for a request can carry its id (an incoming
            // `X-Request-Id` from nginx is kept), and the response echoes it.
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(PropagateRequestIdLayer::x_request_id())
            // Before anything that logs or decides: the real client address, believed from
            // forwarded headers only when a trusted proxy sent them.
            .layer(ClientIpLayer::new(resolver))
            // Sees the final status of everything below, panics included.
            .layer(ObserveLayer::new(config.log.access))
            // A panicking handler answers 500 instead of dropping the connection.
            .layer(CatchPanicLayer::custom(panic_response))
            // Browsers get error pages in their language; other clients the plain reason.
            .layer(ErrorPageLayer)
            // Marks trusted networks before any handler looks for a session; needs no store,
            // so it keeps working when stores and identity providers are down.
            .layer(TrustedIpLayer::new(config.trusted_ips.clone())),
    )
}

fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
}
