use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::auth::AuthReason;

pub const REQUESTS: &str = "sekisho_http_requests_total";
pub const DURATION: &str = "sekisho_http_request_duration_seconds";
pub const AUTH_DECISIONS: &str = "sekisho_auth_decisions_total";

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

pub fn record_auth_decision(reason: AuthReason) {
    ::metrics::counter!(AUTH_DECISIONS, "reason" => reason.as_str()).increment(1);
}
