//! `[connections]`: how long a client may take and how much it may hold before it is cut off.

use std::time::Duration;

use super::raw::RawConnections;
use super::validate::duration;

/// Limits on client connections, checked at load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionsConfig {
    /// At most this many client connections are open at once.
    pub max: usize,
    /// How long a client may take to send a whole request head, from its first byte (or from
    /// the moment it connected, for its first request).
    pub header_read_timeout: Duration,
    /// How long a connection may wait for its next request once the last one is answered.
    pub idle_timeout: Duration,
    /// How long a request body may keep its reader waiting for the next part.
    pub body_read_timeout: Duration,
    /// The largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// The most header fields in one request.
    pub max_headers: usize,
}

impl Default for ConnectionsConfig {
    /// The defaults of `[connections]`.
    fn default() -> Self {
        validate(
            &RawConnections::default(),
            &mut |key: &str, message: String| unreachable!("default {key} is invalid: {message}"),
        )
        .expect("the defaults are valid")
    }
}

/// hyper refuses a smaller read buffer, and no real client's head is this small anyway.
pub const MIN_HEADER_BYTES: usize = 8 * 1024;
const MAX_HEADER_BYTES: usize = 1024 * 1024;
const MAX_CONNECTIONS: usize = 1_000_000;
const MAX_HEADERS: usize = 1_000;
const LONGEST_TIMEOUT: Duration = Duration::from_secs(3600);

pub fn validate(
    raw: &RawConnections,
    report: &mut impl FnMut(&str, String),
) -> Option<ConnectionsConfig> {
    let mut timeout = |key: &str, text: &str| {
        bounded_duration(text)
            .map_err(|m| report(&format!("connections.{key}"), m))
            .ok()
    };
    let header_read_timeout = timeout("header_read_timeout", &raw.header_read_timeout);
    let idle_timeout = timeout("idle_timeout", &raw.idle_timeout);
    let body_read_timeout = timeout("body_read_timeout", &raw.body_read_timeout);
    let mut count = |key: &str, value: i64, range: std::ops::RangeInclusive<usize>| {
        match usize::try_from(value) {
            Ok(n) if range.contains(&n) => Some(n),
            _ => {
                report(
                    &format!("connections.{key}"),
                    format!(
                        "{value} is out of range; expected {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    };
    let max = count("max", raw.max, 1..=MAX_CONNECTIONS);
    let max_header_bytes = count(
        "max_header_bytes",
        raw.max_header_bytes,
        MIN_HEADER_BYTES..=MAX_HEADER_BYTES,
    );
    let max_headers = count("max_headers", raw.max_headers, 1..=MAX_HEADERS);
    Some(ConnectionsConfig {
        max: max?,
        header_read_timeout: header_read_timeout?,
        idle_timeout: idle_timeout?,
        body_read_timeout: body_read_timeout?,
        max_header_bytes: max_header_bytes?,
        max_headers: max_headers?,
    })
}

fn bounded_duration(text: &str) -> Result<Duration, String> {
    match duration(text)? {
        d if d.is_zero() => Err(format!("`{text}` must be longer than zero")),
        d if d > LONGEST_TIMEOUT => Err(format!("`{text}` is longer than one hour")),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &RawConnections) -> Result<ConnectionsConfig, Vec<String>> {
        let mut problems = Vec::new();
        let config = validate(raw, &mut |key: &str, _| problems.push(key.to_owned()));
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(problems),
        }
    }

    #[test]
    fn defaults_are_valid() {
        let config = check(&RawConnections::default()).expect("defaults");
        assert_eq!(config.max, 10_000);
        assert_eq!(config.header_read_timeout, Duration::from_secs(10));
        assert_eq!(config.idle_timeout, Duration::from_secs(75));
        assert_eq!(config.body_read_timeout, Duration::from_secs(60));
        assert_eq!(config.max_header_bytes, 64 * 1024);
        assert_eq!(config.max_headers, 100);
    }

    #[test]
    fn every_bad_key_is_reported() {
        let cases: &[(RawConnections, &[&str])] = &[
            (
                RawConnections {
                    max: 0,
                    header_read_timeout: "0s".into(),
                    idle_timeout: "soon".into(),
                    body_read_timeout: "-1s".into(),
                    max_header_bytes: 4096,
                    max_headers: 0,
                },
                &[
                    "connections.header_read_timeout",
                    "connections.idle_timeout",
                    "connections.body_read_timeout",
                    "connections.max",
                    "connections.max_header_bytes",
                    "connections.max_headers",
                ],
            ),
            (
                RawConnections {
                    max: -1,
                    header_read_timeout: "2h".into(),
                    max_header_bytes: 2 * 1024 * 1024,
                    max_headers: 1001,
                    ..RawConnections::default()
                },
                &[
                    "connections.header_read_timeout",
                    "connections.max",
                    "connections.max_header_bytes",
                    "connections.max_headers",
                ],
            ),
            (
                RawConnections {
                    max: 1,
                    header_read_timeout: "1s".into(),
                    idle_timeout: "1h".into(),
                    body_read_timeout: "1s".into(),
                    max_header_bytes: 8192,
                    max_headers: 1,
                },
                &[],
            ),
        ];
        for (raw, expected) in cases {
            let problems = check(raw).err().unwrap_or_default();
            assert_eq!(problems, *expected, "{raw:?}");
        }
    }
}
