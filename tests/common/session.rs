//! Session cookies minted with the library, exactly as a signed-in browser would send them.

use std::time::Duration;

use sekisho::config::{CookieSettings, Secret};
use sekisho::session::{CookieStore, Session};

/// The default cookie name, `session.cookie_name`.
pub const COOKIE_NAME: &str = "_sekisho";

/// A session for `user` that lasts an hour.
pub fn session(user: &str, email: Option<&str>, groups: &[&str]) -> Session {
    let mut session = Session::new(user, Duration::from_secs(3600));
    session.email = email.map(str::to_owned);
    session.groups = groups.iter().map(|g| (*g).to_owned()).collect();
    session
}

/// The `Cookie` request header value (`_sekisho=...`) carrying `session`, sealed with `secret`,
/// which must be the Sekisho process's `session.secret`.
pub fn cookie(secret: &str, session: &Session) -> String {
    let settings = CookieSettings {
        name: COOKIE_NAME.into(),
        secure: false,
        domain: None,
        path: "/".into(),
    };
    let store = CookieStore::new(
        settings,
        &Secret::parse(secret).expect("test secret is valid"),
    );
    store.request_cookie(session).expect("session seals")
}

/// `cookie` with one character in the middle of its (single) value changed to another
/// base64 character: same length, still well-formed, no longer what was sealed.
pub fn tampered(cookie: &str) -> String {
    let (name, value) = cookie.split_once('=').expect("cookie is name=value");
    assert!(
        !value.contains(';'),
        "tampered() expects a single, unchunked cookie: {cookie}"
    );
    let mut bytes = value.as_bytes().to_vec();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let value = String::from_utf8(bytes).expect("base64 is ASCII");
    assert_ne!(value, cookie.split_once('=').unwrap().1);
    format!("{name}={value}")
}
