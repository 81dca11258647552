//! The checks behind the fuzz targets of `fuzz/`, one function per parser family, each taking
//! the fuzzer's bytes. They live in the crate so that they reach what they check without
//! widening its API, and so that `tests/fuzz_corpus.rs` runs every seed and every regression
//! input through them on the stable toolchain. Each panics on a broken invariant, which is
//! what the fuzzer reports as a crash.
//!
//! Inputs are text where the parser reads text: the first lines say how to set the parser up
//! (trusted proxies, allowed hosts, a rule), the rest is what an attacker sends. Seeds stay
//! readable and the fuzzer's mutations stay meaningful.

mod client_ip;
mod config;
mod forwarded;
mod jwt;
mod path;
mod rd;
mod saml;
mod session_cookie;

pub use client_ip::client_ip;
pub use config::config;
pub use forwarded::forwarded;
pub use jwt::jwt;
pub use path::path;
pub use rd::rd;
pub use saml::{saml_logout, saml_shape};
pub use session_cookie::session_cookie;

/// The checks of one target, on one input.
pub type Check = fn(&[u8]);

/// Every target by name, as `fuzz/fuzz_targets/` and the corpus directories name them.
pub const TARGETS: &[(&str, Check)] = &[
    ("client_ip", client_ip),
    ("config", config),
    ("forwarded", forwarded),
    ("jwt", jwt),
    ("path", path),
    ("rd", rd),
    ("saml_logout", saml_logout),
    ("saml_shape", saml_shape),
    ("session_cookie", session_cookie),
];

/// The input as text, invalid UTF-8 replaced (the parsers take `&str`).
fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// The first line of `text` and the rest after its newline.
fn first_line(text: &str) -> (&str, &str) {
    text.split_once('\n').unwrap_or((text, ""))
}
