//! Session cookies and Redis tickets: anything a browser sends opens nothing and panics
//! nowhere; a genuine sealed value altered in any way no longer opens.

use std::sync::LazyLock;
use std::time::Duration;

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

use crate::config::{CookieSettings, Secret};
use crate::session::{CookieStore, Loaded, Sealer, Session, SessionStore, Ticket};

/// The fixed secret of the seed corpus's sealed cookies.
pub(super) const SECRET: &str = "fuzzing-seed-secret-0123456789abcdef";
pub(super) const COOKIE_NAME: &str = "_sekisho";
/// The only user any value sealed with [`SECRET`] names.
const USER: &str = "fuzz-seed-user";
/// The ticket whose sealed value the `ticket` mode alters.
const TICKET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v";
const CONTEXT: &str = "sekisho:session:fuzz";

static STORE: LazyLock<CookieStore> = LazyLock::new(|| {
    let settings = CookieSettings {
        name: COOKIE_NAME.into(),
        secure: true,
        domain: None,
        path: "/".into(),
    };
    CookieStore::new(settings, &secret())
});

/// One genuine sealed session per process (sealing draws a fresh nonce).
static SEALED: LazyLock<String> =
    LazyLock::new(|| STORE.seal(&session()).expect("a small session seals"));

static SEALED_TICKET: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let ticket = Ticket::parse(TICKET).expect("a ticket");
    ticket.seal(CONTEXT, br#"{"user":"fuzz-seed-user"}"#)
});

fn secret() -> Secret {
    Secret::parse(SECRET).expect("a long enough secret")
}

/// The session every seed cookie carries, fifty years long so that the seeds keep loading.
pub(super) fn session() -> Session {
    Session::new(USER, Duration::from_secs(86_400 * 365 * 50))
}

/// Input: a mode line, then its bytes.
///
/// - `cookie`: `Cookie` header lines, loaded as the cookie store loads a session: only a
///   value sealed with the seed secret (which names [`USER`]) may load.
/// - `seal`: edits (see [`edit`]) made to a genuine sealed session: unless they cancel out,
///   it must not open.
/// - `ticket`: the same for a value sealed with a Redis ticket.
/// - `parse`: a ticket cookie value: a ticket reads only from its one spelling.
pub fn session_cookie(data: &[u8]) {
    let (mode, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    match mode {
        b"cookie" => cookie(rest),
        b"seal" => {
            let altered = edit(SEALED.as_bytes(), rest);
            let altered = String::from_utf8_lossy(&altered);
            if altered != *SEALED {
                let sealer = Sealer::new(&secret());
                assert_eq!(sealer.open(COOKIE_NAME, &altered), None, "{altered}");
                if let Ok(value) = HeaderValue::from_str(&format!("{COOKIE_NAME}={altered}")) {
                    let mut headers = HeaderMap::new();
                    headers.insert(COOKIE, value);
                    assert!(!matches!(STORE.load_now(&headers), Loaded::Valid(_)));
                }
            }
        }
        b"ticket" => {
            let altered = edit(&SEALED_TICKET, rest);
            if altered != *SEALED_TICKET {
                let ticket = Ticket::parse(TICKET).expect("a ticket");
                assert_eq!(ticket.open(CONTEXT, &altered), None);
            }
        }
        b"parse" => {
            let text = String::from_utf8_lossy(rest);
            if let Some(ticket) = Ticket::parse(&text) {
                assert_eq!(ticket.encode(), text, "one spelling per ticket");
            }
        }
        _ => {}
    }
}

fn cookie(lines: &[u8]) {
    let mut headers = HeaderMap::new();
    for line in lines.split(|&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(COOKIE, value);
        }
    }
    if let Loaded::Valid(session) = STORE.load_now(&headers) {
        assert_eq!(session.user, USER, "only the seed secret's sessions open");
    }
    // Saving and clearing read the request's cookie names too; a cookie store never waits.
    now(STORE.save(&headers, &session())).expect("saves");
    now(STORE.clear(&headers)).expect("clears");
}

/// The output of a future that is ready when first polled.
fn now<T>(future: impl std::future::Future<Output = T>) -> T {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(future).poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("a cookie store waited"),
    }
}

/// `value` with `edits` applied, three bytes each: a position (two bytes, big-endian, modulo
/// the length) and a byte to XOR there; a position with its top bit set inserts the byte
/// instead, and a zero XOR cuts the value there.
pub(super) fn edit(value: &[u8], edits: &[u8]) -> Vec<u8> {
    let mut out = value.to_vec();
    for e in edits.chunks_exact(3) {
        let at = usize::from(u16::from_be_bytes([e[0] & 0x7f, e[1]]));
        let at = at % (out.len() + 1);
        match (e[0] & 0x80 != 0, e[2]) {
            (true, byte) => out.insert(at, byte),
            (false, 0) => out.truncate(at),
            (false, x) if at < out.len() => out[at] ^= x,
            (false, _) => {}
        }
    }
    out
}
