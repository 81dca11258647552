//! Authenticated encryption of cookie values: the `cookie` crate's private jar (AES-256-GCM),
//! with a key derived from the configured secret. The cookie name is the associated data, so a
//! value sealed for one cookie cannot be replayed as another.

use cookie::{Cookie, CookieJar, Key};

use crate::config::Secret;

#[derive(Clone)]
pub struct Sealer {
    key: Key,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<key>)")
    }
}

impl Sealer {
    pub fn new(secret: &Secret) -> Self {
        Self {
            key: Key::derive_from(secret.expose()),
        }
    }

    pub fn seal(&self, name: &str, plaintext: &str) -> String {
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key)
            .add(Cookie::new(name.to_owned(), plaintext.to_owned()));
        jar.get(name)
            .map(|c| c.value().to_owned())
            .unwrap_or_default()
    }

    /// The plaintext, or `None` if `sealed` was not sealed for `name` with this key.
    pub fn open(&self, name: &str, sealed: &str) -> Option<String> {
        let jar = CookieJar::new();
        jar.private(&self.key)
            .decrypt(Cookie::new(name.to_owned(), sealed.to_owned()))
            .map(|c| c.value().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_bound_to_name_and_key() {
        let sealer = Sealer::new(&Secret::parse("seal-test-secret-0123456789abcdef01").unwrap());
        let sealed = sealer.seal("a", "hello");
        assert!(!sealed.contains("hello"));
        assert_eq!(sealer.open("a", &sealed).as_deref(), Some("hello"));
        assert_eq!(sealer.open("b", &sealed), None);
        let other = Sealer::new(&Secret::parse("another-secret-0123456789abcdef0123").unwrap());
        assert_eq!(other.open("a", &sealed), None);
    }
}
