//! The process's limit on open files, which bounds how many connections it can hold: each
//! client connection is a socket, and in proxy mode a request in flight holds a second one to
//! the app. Many systems start services with a soft limit of 1024 and a much higher hard one.

use crate::config::ConnectionsConfig;

/// Files kept for everything that is not a client connection: the listener, logs, Redis and
/// provider connections, pooled app connections, files read at run time.
const RESERVED: u64 = 256;

/// The limit on open files before and after [`raise`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenFiles {
    pub before: u64,
    pub now: u64,
}

/// Raises the soft limit on open files to the hard one (which needs no privilege).
#[cfg(unix)]
pub fn raise() -> std::io::Result<OpenFiles> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let unlimited = u64::MAX;
    let before = limit.current.unwrap_or(unlimited);
    let hard = limit.maximum.unwrap_or(unlimited);
    if before >= hard {
        return Ok(OpenFiles {
            before,
            now: before,
        });
    }
    setrlimit(
        Resource::Nofile,
        rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    )?;
    Ok(OpenFiles { before, now: hard })
}

#[cfg(not(unix))]
pub fn raise() -> std::io::Result<OpenFiles> {
    Err(std::io::Error::other("not supported on this platform"))
}

/// `connections`, with `max` lowered if `limit` open files cannot hold that many connections
/// (two files each when proxying).
pub fn fit(connections: &ConnectionsConfig, limit: u64, proxying: bool) -> ConnectionsConfig {
    let per_connection = if proxying { 2 } else { 1 };
    let room = limit.saturating_sub(RESERVED) / per_connection;
    let max = usize::try_from(room)
        .unwrap_or(usize::MAX)
        .clamp(1, connections.max);
    ConnectionsConfig {
        max,
        ..connections.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_lowered_only_when_the_files_do_not_suffice() {
        let config = ConnectionsConfig {
            max: 10_000,
            ..ConnectionsConfig::default()
        };
        for (limit, proxying, max) in [
            (u64::MAX, true, 10_000),
            (1_048_576, true, 10_000),
            (20_000, false, 10_000),
            (20_000, true, 9_872),
            (1024, false, 768),
            (1024, true, 384),
            (100, false, 1),
        ] {
            assert_eq!(fit(&config, limit, proxying).max, max, "{limit} {proxying}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn raising_reaches_the_hard_limit() {
        let limits = raise().expect("raising to the hard limit needs no privilege");
        let now = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(now.current.unwrap_or(u64::MAX), limits.now);
        assert_eq!(now.current, now.maximum);
    }
}
