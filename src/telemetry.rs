//! Logs, metrics and the per-request access record.

mod access;
mod logging;
mod metrics;
mod request_id;

pub use access::{Observation, route_label};
pub use logging::init_logging;
pub use metrics::{
    Metrics, record_auth_decision, record_connection_closed, record_connections_open,
};
pub use request_id::{RequestId, RequestIds, X_REQUEST_ID};
