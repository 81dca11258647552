//! The ticket a browser holds when sessions live in Redis: a random id, which names the Redis
//! key (through a hash), and a random key, which encrypts the value kept there. Redis alone
//! yields neither; the cookie alone yields nothing without Redis.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

const ID_LEN: usize = 16;
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
/// First byte of every sealed value: the format, so a later one can be told apart.
const FORMAT: u8 = 1;

/// A session's (or a sign-in attempt's) ticket. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Ticket {
    id: [u8; ID_LEN],
    key: [u8; KEY_LEN],
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ticket(<redacted>)")
    }
}

impl Ticket {
    /// A fresh ticket: 128 random bits of id, 256 of key.
    pub fn generate() -> Self {
        Self {
            id: rand::random(),
            key: rand::random(),
        }
    }

    /// The ticket in a cookie value; `None` for anything that is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let mut bytes = [0u8; ID_LEN + KEY_LEN];
        let n = URL_SAFE_NO_PAD.decode_slice(text, &mut bytes).ok()?;
        (n == bytes.len()).then(|| {
            let (id, key) = bytes.split_at(ID_LEN);
            Self {
                id: id.try_into().expect("split at ID_LEN"),
                key: key.try_into().expect("the rest is KEY_LEN"),
            }
        })
    }

    /// The cookie value: 64 URL-safe characters.
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; ID_LEN + KEY_LEN];
        bytes[..ID_LEN].copy_from_slice(&self.id);
        bytes[ID_LEN..].copy_from_slice(&self.key);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The name under which the ticket's value is kept: a hash of the id only, so a reader of
    /// Redis learns no id (and no key).
    pub fn storage_name(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"sekisho ticket id\0")
            .chain_update(self.id)
            .finalize();
        URL_SAFE_NO_PAD.encode(&digest[..24])
    }

    /// `plaintext` encrypted and authenticated with the ticket's key; `context` (the Redis key)
    /// is bound to it, so a value copied under another key does not open.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let ciphertext = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encrypts any input of sane size");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// The plaintext of a value sealed by [`Self::seal`] for `context`; `None` when it was
    /// sealed with another ticket, for another context, or altered.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        let (&format, rest) = sealed.split_first()?;
        if format != FORMAT || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .ok()
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.key.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_value_round_trip_and_garbage() {
        let ticket = Ticket::generate();
        let text = ticket.encode();
        assert_eq!(text.len(), 64);
        assert_eq!(Ticket::parse(&text), Some(ticket.clone()));
        for bad in ["", "abc", &text[1..], &format!("{text}A"), "!!!!"] {
            assert_eq!(Ticket::parse(bad), None, "{bad}");
        }
        assert_ne!(Ticket::generate(), ticket);
    }

    #[test]
    fn storage_name_hides_the_ticket() {
        let ticket = Ticket::generate();
        let name = ticket.storage_name();
        assert_eq!(name, ticket.storage_name());
        assert_eq!(name.len(), 32);
        let id = URL_SAFE_NO_PAD.encode(ticket.id);
        assert!(!name.contains(&id[..8]) && !ticket.encode().contains(&name));
        assert_ne!(Ticket::generate().storage_name(), name);
    }

    #[test]
    fn sealed_values_open_only_with_their_ticket_and_context() {
        let ticket = Ticket::generate();
        let sealed = ticket.seal("k1", b"alice@example.com");
        assert!(!sealed.windows(5).any(|w| w == b"alice"));
        assert_eq!(
            ticket.open("k1", &sealed).as_deref(),
            Some(&b"alice@example.com"[..])
        );
        assert_eq!(ticket.open("k2", &sealed), None);
        assert_eq!(Ticket::generate().open("k1", &sealed), None);
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert_eq!(ticket.open("k1", &altered), None);
        assert_eq!(ticket.open("k1", &[]), None);
        assert_eq!(ticket.open("k1", &sealed[..10]), None);
        assert_ne!(
            ticket.seal("k1", b"x"),
            ticket.seal("k1", b"x"),
            "fresh nonce"
        );
    }
}
