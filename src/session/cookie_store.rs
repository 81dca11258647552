//! Sessions kept entirely in the browser: sealed with AES-256-GCM (the `cookie` crate's
//! private jar, key derived from the configured secret) and split into numbered cookies when
//! larger than one cookie may be.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue};
use quick_cache::sync::Cache;

use super::cookies::{CookieWriter, request_cookie_bytes, request_cookies};
use super::seal::Sealer;
use super::state::{Session, unix_now};
use super::store::{Loaded, Rejection, SessionError, SessionStore};
use crate::config::{CookieSettings, Secret};

/// Browsers keep at least 4096 bytes per cookie, name and attributes included.
const MAX_CHUNK: usize = 3800;
/// Chunks beyond this many are ignored (and so is the session): 40 KB is beyond any
/// browser's per-domain budget anyway.
const MAX_CHUNKS: usize = 10;
/// Verified sessions remembered by their sealed bytes, so a repeat request skips the
/// decryption and parsing. Bounded; expiry is still checked on every hit.
const VERIFIED_CACHE_ENTRIES: usize = 10_000;

pub struct CookieStore {
    sealer: Sealer,
    cookies: CookieWriter,
    verified: Cache<Box<[u8]>, Arc<Session>>,
}

impl std::fmt::Debug for CookieStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieStore")
            .field("cookies", &self.cookies)
            .finish_non_exhaustive()
    }
}

impl CookieStore {
    pub fn new(settings: CookieSettings, secret: &Secret) -> Self {
        Self {
            sealer: Sealer::new(secret),
            cookies: CookieWriter::new(settings),
            verified: Cache::new(VERIFIED_CACHE_ENTRIES),
        }
    }

    /// The session sealed into one cookie value (before chunking).
    pub fn seal(&self, session: &Session) -> Result<String, SessionError> {
        let json =
            serde_json::to_string(session).map_err(|e| SessionError::Encode(e.to_string()))?;
        Ok(self.sealer.seal(self.name(), &json))
    }

    fn name(&self) -> &str {
        self.cookies.base_name()
    }

    /// A `Cookie` request header value carrying `session`, as a browser would send it.
    pub fn request_cookie(&self, session: &Session) -> Result<String, SessionError> {
        let sealed = self.seal(session)?;
        Ok(self
            .parts(&sealed)
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; "))
    }

    fn parts<'a>(&self, sealed: &'a str) -> Vec<(String, &'a str)> {
        if sealed.len() <= MAX_CHUNK {
            return vec![(self.name().to_owned(), sealed)];
        }
        // Sealed values are base64, so byte offsets are character boundaries.
        sealed
            .as_bytes()
            .chunks(MAX_CHUNK)
            .enumerate()
            .map(|(i, chunk)| {
                (
                    self.chunk_name(i),
                    std::str::from_utf8(chunk).unwrap_or_default(),
                )
            })
            .collect()
    }

    fn chunk_name(&self, i: usize) -> String {
        format!("{}_{i}", self.name())
    }

    /// Index of a chunk cookie (`_sekisho_3` → 3), `None` for other names.
    fn chunk_index(&self, name: &str) -> Option<usize> {
        let digits = name.strip_prefix(self.name())?.strip_prefix('_')?;
        if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    fn is_ours(&self, name: &str) -> bool {
        name == self.name() || self.chunk_index(name).is_some()
    }

    /// The sealed value the request carries, joined from its chunks if needed.
    fn sealed_value<'h>(
        &self,
        headers: &'h HeaderMap,
    ) -> Result<Option<std::borrow::Cow<'h, [u8]>>, Rejection> {
        let mut chunks: [Option<&[u8]>; MAX_CHUNKS] = [None; MAX_CHUNKS];
        let mut any_chunk = false;
        for (name, value) in request_cookie_bytes(headers) {
            if name == self.name().as_bytes() {
                return Ok(Some(value.into()));
            }
            let index = std::str::from_utf8(name)
                .ok()
                .and_then(|name| self.chunk_index(name));
            if let Some(i) = index.filter(|&i| i < MAX_CHUNKS) {
                chunks[i].get_or_insert(value);
                any_chunk = true;
            }
        }
        if !any_chunk {
            return Ok(None);
        }
        let present: Vec<&[u8]> = chunks.iter().map_while(|c| *c).collect();
        if present.is_empty() || chunks[present.len()..].iter().any(Option::is_some) {
            return Err(Rejection::Incomplete);
        }
        Ok(Some(present.concat().into()))
    }

    fn open(&self, sealed: &[u8]) -> Result<Session, Rejection> {
        let sealed = std::str::from_utf8(sealed).map_err(|_| Rejection::Undecryptable)?;
        let json = self
            .sealer
            .open(self.name(), sealed)
            .ok_or(Rejection::Undecryptable)?;
        serde_json::from_str(&json).map_err(|_| Rejection::Malformed)
    }

    /// The session in `headers`: a cookie store never waits, so this is synchronous.
    pub fn load_now(&self, headers: &HeaderMap) -> Loaded {
        let sealed = match self.sealed_value(headers) {
            Ok(Some(sealed)) => sealed,
            Ok(None) => return Loaded::Missing,
            Err(rejection) => return Loaded::Rejected(rejection),
        };
        let now = unix_now();
        let session = match self.verified.get(sealed.as_ref()) {
            Some(session) => session,
            None => match self.open(&sealed) {
                Ok(session) => {
                    let session = Arc::new(session);
                    if !session.is_expired_at(now) {
                        self.verified
                            .insert(sealed.as_ref().into(), session.clone());
                    }
                    session
                }
                Err(rejection) => return Loaded::Rejected(rejection),
            },
        };
        if session.is_expired_at(now) {
            return Loaded::Rejected(Rejection::Expired);
        }
        Loaded::Valid(session)
    }
}

impl SessionStore for CookieStore {
    async fn load(&self, headers: &HeaderMap) -> Result<Loaded, SessionError> {
        Ok(self.load_now(headers))
    }

    async fn save(
        &self,
        headers: &HeaderMap,
        session: &Session,
    ) -> Result<Vec<HeaderValue>, SessionError> {
        let sealed = self.seal(session)?;
        let parts = self.parts(&sealed);
        let max_age = session.remaining(unix_now());
        // Live chunks first: a proxy that forwards only the first Set-Cookie line (nginx's
        // `$upstream_http_set_cookie`) then forwards a live one, never a removal.
        let stale: Vec<&str> = request_cookies(headers)
            .map(|(name, _)| name)
            .filter(|name| self.is_ours(name) && !parts.iter().any(|(new, _)| new == name))
            .collect();
        let mut lines: Vec<HeaderValue> = parts
            .iter()
            .map(|(name, value)| self.cookies.set(name.clone(), (*value).to_owned(), max_age))
            .collect();
        lines.extend(stale.into_iter().map(|name| self.cookies.removal(name)));
        Ok(lines)
    }

    async fn clear(&self, headers: &HeaderMap) -> Result<Vec<HeaderValue>, SessionError> {
        let mut lines: Vec<HeaderValue> = request_cookies(headers)
            .map(|(name, _)| name)
            .filter(|name| self.is_ours(name))
            .map(|name| self.cookies.removal(name))
            .collect();
        if lines.is_empty() {
            lines.push(self.cookies.removal(self.name()));
        }
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::COOKIE;
    use std::time::Duration;

    pub(crate) fn store(secret: &str) -> CookieStore {
        let settings = CookieSettings {
            name: "_sekisho".into(),
            secure: true,
            domain: None,
            path: "/".into(),
        };
        CookieStore::new(settings, &Secret::parse(secret).unwrap())
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn request(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
        h
    }

    fn big_session() -> Session {
        let mut s = Session::new("alice", Duration::from_secs(3600));
        s.groups = (0..600)
            .map(|i| format!("group-with-a-long-name-{i}"))
            .collect();
        s
    }

    fn names(lines: &[HeaderValue]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.to_str().unwrap().split('=').next().unwrap().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn small_sessions_fit_one_cookie_with_safe_attributes() {
        let s = store(SECRET);
        let lines = s
            .save(
                &HeaderMap::new(),
                &Session::new("alice", Duration::from_secs(3600)),
            )
            .await
            .unwrap();
        assert_eq!(lines.len(), 1);
        let line = lines[0].to_str().unwrap();
        assert!(line.starts_with("_sekisho="), "{line}");
        for attr in [
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=3600",
        ] {
            assert!(line.contains(attr), "{attr} missing in {line}");
        }
        assert!(
            !line.contains("alice"),
            "the session must be encrypted: {line}"
        );
    }

    #[tokio::test]
    async fn large_sessions_are_chunked_and_each_chunk_fits() {
        let s = store(SECRET);
        let session = big_session();
        let lines = s.save(&HeaderMap::new(), &session).await.unwrap();
        assert!(
            lines.len() > 2,
            "expected several chunks, got {}",
            lines.len()
        );
        assert_eq!(names(&lines)[..2], ["_sekisho_0", "_sekisho_1"]);
        assert!(lines.iter().all(|l| l.len() < 4096));
        let cookie = s.request_cookie(&session).unwrap();
        assert_eq!(
            s.load(&request(&cookie)).await.unwrap(),
            Loaded::Valid(Arc::new(session))
        );
    }

    #[tokio::test]
    async fn a_missing_or_reordered_chunk_is_no_session() {
        let s = store(SECRET);
        let cookie = s.request_cookie(&big_session()).unwrap();
        let pairs: Vec<&str> = cookie.split("; ").collect();
        let without_first = pairs[1..].join("; ");
        assert_eq!(
            s.load(&request(&without_first)).await.unwrap(),
            Loaded::Rejected(Rejection::Incomplete)
        );
        let mut gap = pairs.clone();
        gap.remove(1);
        assert_eq!(
            s.load(&request(&gap.join("; "))).await.unwrap(),
            Loaded::Rejected(Rejection::Incomplete)
        );
        let without_last = pairs[..pairs.len() - 1].join("; ");
        assert_eq!(
            s.load(&request(&without_last)).await.unwrap(),
            Loaded::Rejected(Rejection::Undecryptable)
        );
        let swapped: Vec<String> = pairs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let value = pairs[if i == 0 {
                    1
                } else if i == 1 {
                    0
                } else {
                    i
                }]
                .split_once('=')
                .unwrap()
                .1;
                format!("{}={value}", p.split_once('=').unwrap().0)
            })
            .collect();
        assert_eq!(
            s.load(&request(&swapped.join("; "))).await.unwrap(),
            Loaded::Rejected(Rejection::Undecryptable)
        );
    }

    #[tokio::test]
    async fn stale_chunks_are_cleared_when_the_session_shrinks() {
        let s = store(SECRET);
        let old = s.request_cookie(&big_session()).unwrap();
        let lines = s
            .save(
                &request(&format!("{old}; other=1")),
                &Session::new("alice", Duration::from_secs(60)),
            )
            .await
            .unwrap();
        let removed: Vec<String> = lines
            .iter()
            .filter(|l| l.to_str().unwrap().contains("Max-Age=0"))
            .map(|l| names(std::slice::from_ref(l))[0].clone())
            .collect();
        assert!(
            removed.contains(&"_sekisho_0".to_owned())
                && removed.contains(&"_sekisho_1".to_owned()),
            "{removed:?}"
        );
        assert!(!removed.contains(&"other".to_owned()));
        assert!(names(&lines).contains(&"_sekisho".to_owned()));
    }

    #[tokio::test]
    async fn wrong_key_and_garbage_are_undecryptable() {
        let cookie = store(SECRET)
            .request_cookie(&Session::new("alice", Duration::from_secs(60)))
            .unwrap();
        let other = store("another-secret-that-is-32-bytes-long!");
        assert_eq!(
            other.load(&request(&cookie)).await.unwrap(),
            Loaded::Rejected(Rejection::Undecryptable)
        );
        assert_eq!(
            store(SECRET)
                .load(&request("_sekisho=garbage"))
                .await
                .unwrap(),
            Loaded::Rejected(Rejection::Undecryptable)
        );
    }

    #[tokio::test]
    async fn expired_sessions_are_rejected_even_from_the_cache() {
        let s = store(SECRET);
        let mut session = Session::new("alice", Duration::from_secs(60));
        session.expires_at = unix_now() - 1;
        let cookie = s.request_cookie(&session).unwrap();
        assert_eq!(
            s.load(&request(&cookie)).await.unwrap(),
            Loaded::Rejected(Rejection::Expired)
        );

        // A cached session that expires afterwards is still refused.
        let mut soon = Session::new("bob", Duration::from_secs(60));
        soon.expires_at = unix_now() + 1;
        let cookie = s.request_cookie(&soon).unwrap();
        assert!(matches!(
            s.load(&request(&cookie)).await.unwrap(),
            Loaded::Valid(_)
        ));
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(
            s.load(&request(&cookie)).await.unwrap(),
            Loaded::Rejected(Rejection::Expired)
        );
    }

    #[tokio::test]
    async fn other_cookies_do_not_interfere() {
        let s = store(SECRET);
        let session = Session::new("alice", Duration::from_secs(60));
        let cookie = s.request_cookie(&session).unwrap();
        let headers = request(&format!("a=1; _sekisho_x=2; {cookie}; z=\"q\""));
        assert_eq!(
            s.load(&headers).await.unwrap(),
            Loaded::Valid(Arc::new(session))
        );
    }

    #[tokio::test]
    async fn clear_removes_every_chunk() {
        let s = store(SECRET);
        let cookie = s.request_cookie(&big_session()).unwrap();
        let lines = s.clear(&request(&cookie)).await.unwrap();
        assert_eq!(lines.len(), cookie.split("; ").count());
        assert!(
            lines
                .iter()
                .all(|l| l.to_str().unwrap().contains("Max-Age=0"))
        );
    }
    /// A session sealed as an earlier version wrote it: the provider as a plain string.
    fn sealed_json(s: &CookieStore, provider: &str) -> HeaderMap {
        let now = unix_now();
        let json = format!(
            r#"{{"user":"alice","provider":"{provider}","subject":"a-1","created_at":{now},"expires_at":{}}}"#,
            now + 60
        );
        request(&format!("_sekisho={}", s.sealer.seal("_sekisho", &json)))
    }

    #[test]
    fn sessions_stored_with_the_provider_as_a_string_still_load() {
        use crate::session::ProviderKind;
        let s = store(SECRET);
        for (name, kind) in [
            ("oidc", ProviderKind::Oidc),
            ("saml", ProviderKind::Saml),
            ("bearer", ProviderKind::Bearer),
        ] {
            let Loaded::Valid(session) = s.load_now(&sealed_json(&s, name)) else {
                panic!("a session with provider `{name}` did not load");
            };
            assert_eq!(session.provider, Some(kind));
            // And it is written back the same way.
            let json = serde_json::to_string(&*session).unwrap();
            assert!(json.contains(&format!(r#""provider":"{name}""#)), "{json}");
        }
    }

    #[test]
    fn an_unknown_provider_makes_the_session_malformed() {
        let s = store(SECRET);
        for name in ["keycloak", "OIDC", ""] {
            assert_eq!(
                s.load_now(&sealed_json(&s, name)),
                Loaded::Rejected(Rejection::Malformed),
                "provider `{name}`"
            );
        }
    }
}
