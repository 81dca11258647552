//! Prints a `Cookie` request header value carrying a session sealed with the given secret,
//! exactly as a browser would send it back to Sekisho. For benchmarks and manual testing.
//!
//! Usage: `mint_session [SECRET]` — the secret may instead come from `SEKISHO_SESSION__SECRET`.
//! The session is for `MINT_USER` (default `alice`), with `MINT_EMAIL` (default
//! `alice@example.com`), comma-separated `MINT_GROUPS` (default `admins,dev`) and
//! `MINT_LIFETIME_SECS` (default 3600). The cookie name is `_sekisho`.

use std::process::ExitCode;
use std::time::Duration;

use sekisho::config::{CookieSettings, Secret};
use sekisho::session::{CookieStore, Session};

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

    let store = CookieStore::new(
        CookieSettings {
            name: "_sekisho".into(),
            secure: false,
            domain: None,
            path: "/".into(),
        },
        &secret,
    );
    let mut session = Session::new(var("MINT_USER", "alice"), lifetime);
    session.email = Some(var("MINT_EMAIL", "alice@example.com")).filter(|e| !e.is_empty());
    session.groups = var("MINT_GROUPS", "admins,dev")
        .split(',')
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect();
    match store.request_cookie(&session) {
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
