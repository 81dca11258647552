//! Prints a `Cookie` request header value carrying a session sealed with the given secret,
//! exactly as a browser would send it back to Sekisho. For benchmarks and manual testing.
//!
//! Usage: `mint_session [SECRET]` — the secret may instead come from `SEKISHO_SESSION__SECRET`.
//! The session is for `MINT_USER` (default `alice`), with `MINT_EMAIL` (default
//! `alice@example.com`), comma-separated `MINT_GROUPS` (default `admins,dev`) and
//! `MINT_LIFETIME_SECS` (default 3600). The cookie name is `_sekisho`.
//!
//! With `MINT_REDIS_URL` (`redis://127.0.0.1:6379/0`) the session is stored in that Redis, as
//! Sekisho's Redis store keeps it (keys behind `MINT_REDIS_KEY_PREFIX`, default `sekisho:`),
//! and the cookie is its ticket.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use sekisho::config::{CookieSettings, RedisConfig, Secret};
use sekisho::session::{CookieStore, RedisConnection, RedisStore, Session};

fn main() -> ExitCode {
    let Some(secret) = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("SEKISHO_SESSION__SECRET").ok())
    else {
        eprintln!("usage: mint_session SECRET   (or set SEKISHO_SESSION__SECRET)");
        return ExitCode::from(2);
    };
    let secret = match Secret::parse(&secret) {
        Ok(secret) => secret,
        Err(problem) => {
            eprintln!("mint_session: the secret {problem}");
            return ExitCode::from(2);
        }
    };
    let var =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let lifetime = match var("MINT_LIFETIME_SECS", "3600").parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            eprintln!("mint_session: MINT_LIFETIME_SECS is not a number of seconds");
            return ExitCode::from(2);
        }
    };

    let settings = CookieSettings {
        name: "_sekisho".into(),
        secure: false,
        domain: None,
        path: "/".into(),
    };
    let mut session = Session::new(var("MINT_USER", "alice"), lifetime);
    session.email = Some(var("MINT_EMAIL", "alice@example.com")).filter(|e| !e.is_empty());
    session.groups = var("MINT_GROUPS", "admins,dev")
        .split(',')
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect();
    let minted = match std::env::var("MINT_REDIS_URL") {
        Ok(url) => in_redis(
            &url,
            &var("MINT_REDIS_KEY_PREFIX", "sekisho:"),
            settings,
            &secret,
            &session,
        ),
        Err(_) => CookieStore::new(settings, &secret)
            .request_cookie(&session)
            .map_err(|e| e.to_string()),
    };
    match minted {
        Ok(cookie) => {
            println!("{cookie}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("mint_session: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The session stored in the Redis at `url`; its ticket as a `Cookie` header value.
fn in_redis(
    url: &str,
    prefix: &str,
    settings: CookieSettings,
    secret: &Secret,
    session: &Session,
) -> Result<String, String> {
    let target = sekisho::config::RedisTarget::Standalone {
        url: url.to_owned(),
    };
    let config = RedisConfig {
        target,
        ca_pem: None,
        key_prefix: prefix.to_owned(),
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(5),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let connection = Arc::new(RedisConnection::new(&config)?);
        let lifetime = session.remaining(sekisho::session::unix_now());
        let store = RedisStore::new(connection, settings, secret, prefix, lifetime);
        store
            .request_cookie(session)
            .await
            .map_err(|e| e.to_string())
    })
}
