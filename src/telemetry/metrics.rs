use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::auth::AuthReason;
use crate::route::Route;

pub const REQUESTS: &str = "sekisho_http_requests_total";
pub const DURATION: &str = "sekisho_http_request_duration_seconds";
pub const AUTH_DECISIONS: &str = "sekisho_auth_decisions_total";
pub const CONNECTIONS_OPEN: &str = "sekisho_connections_open";
pub const CONNECTIONS_CLOSED: &str = "sekisho_connections_closed_total";

const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The Prometheus registry. The `metrics` facade is process-wide by design, so the recorder
/// is installed once per process and every app in it shares the handle.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn install() -> Self {
        static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
        let handle = HANDLE.get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(DURATION.into()), LATENCY_BUCKETS)
                .expect("latency buckets are not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            ::metrics::describe_counter!(REQUESTS, "HTTP requests by route and status");
            ::metrics::describe_histogram!(
                DURATION,
                ::metrics::Unit::Seconds,
                "HTTP request latency by route"
            );
            ::metrics::describe_counter!(AUTH_DECISIONS, "Authentication decisions by reason");
            ::metrics::describe_gauge!(CONNECTIONS_OPEN, "Client connections open");
            ::metrics::describe_counter!(
                CONNECTIONS_CLOSED,
                "Client connections closed by Sekisho, by reason: header_timeout, idle, evicted (for room under connections.max), refused (connections.max reached, all busy)"
            );
            handle
        });
        Self {
            handle: handle.clone(),
        }
    }

    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Folds recorded histogram samples into buckets; without it they pile up between scrapes.
    pub fn spawn_upkeep(&self) -> tokio::task::JoinHandle<()> {
        let handle = self.handle.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        })
    }
}

/// Metric handles of `/oauth2/auth`, registered once: the macros look a handle up on every
/// call (building, hashing and locking a label set), which this endpoint pays per request of
/// every protected app.
struct AuthEndpointMetrics {
    accepted: Counter,
    unauthorized: Counter,
    forbidden: Counter,
    duration: Histogram,
    decisions: Vec<Counter>,
}

static AUTH_ENDPOINT: OnceLock<AuthEndpointMetrics> = OnceLock::new();

fn auth_endpoint() -> &'static AuthEndpointMetrics {
    AUTH_ENDPOINT.get_or_init(|| {
        let requests = |status: &'static str| ::metrics::counter!(REQUESTS, "route" => AUTH_ROUTE, "status" => status);
        AuthEndpointMetrics {
            accepted: requests("202"),
            unauthorized: requests("401"),
            forbidden: requests("403"),
            duration: ::metrics::histogram!(DURATION, "route" => AUTH_ROUTE),
            decisions: AuthReason::ALL.iter().map(|r| ::metrics::counter!(AUTH_DECISIONS, "reason" => r.as_str())).collect(),
        }
    })
}

const AUTH_ROUTE: &str = Route::Auth.path();

pub fn record_auth_decision(reason: AuthReason) {
    let index = AuthReason::ALL
        .iter()
        .position(|r| *r == reason)
        .unwrap_or_default();
    auth_endpoint().decisions[index].increment(1);
}

/// Counts a finished request and its latency.
pub fn record_request(route: &'static str, status: u16, status_label: &'static str, seconds: f64) {
    if route == AUTH_ROUTE {
        let hot = auth_endpoint();
        let counter = match status {
            202 => Some(&hot.accepted),
            401 => Some(&hot.unauthorized),
            403 => Some(&hot.forbidden),
            _ => None,
        };
        if let Some(counter) = counter {
            counter.increment(1);
            hot.duration.record(seconds);
            return;
        }
    }
    ::metrics::counter!(REQUESTS, "route" => route, "status" => status_label).increment(1);
    ::metrics::histogram!(DURATION, "route" => route).record(seconds);
}

/// Client connections open now.
pub fn record_connections_open(open: usize) {
    ::metrics::gauge!(CONNECTIONS_OPEN).set(open as f64);
}

/// A client connection Sekisho closed (or refused), and why.
pub fn record_connection_closed(reason: &'static str) {
    ::metrics::counter!(CONNECTIONS_CLOSED, "reason" => reason).increment(1);
}
