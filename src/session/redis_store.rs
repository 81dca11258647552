//! Sessions in Redis, shared by every replica. The browser holds a [`Ticket`] in one small
//! cookie; Redis holds the session encrypted with the ticket's key, under a name derived from
//! its id, for as long as the session lasts. Sessions are indexed by the provider's session
//! (OpenID Connect `sid`, SAML NameID + SessionIndex) and subject, so a logout at the provider
//! ends them on every replica. Index names are keyed hashes: a reader of Redis cannot tell
//! whose sessions they are.
//!
//! Keys (all behind `session.redis_key_prefix`): `session:<hash>` a session, `index:<kind>:<hmac>`
//! the sessions of one provider session or subject, `lock:<hash>` a refresh in progress,
//! `login:<hash>` a sign-in attempt, `seen:<kind>:<hash>` a one-time token already used.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use quick_cache::sync::Cache;
use sha2::{Digest, Sha256};

use super::cookies::{CookieWriter, request_cookie, request_cookies};
use super::redis_connection::RedisConnection;
use super::state::{ProviderKind, Session, unix_now};
use super::store::{Loaded, Rejection, SessionError, SessionStore};
use super::ticket::Ticket;
use crate::config::{CookieSettings, Secret};

/// Releases a lock only if it is still ours: a refresh that overran the lock's lifetime must
/// not release another replica's lock.
const UNLOCK: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// Sessions already decrypted, remembered by ticket and stored bytes: Redis is still asked on
/// every request (a session deleted there ends at once), but a value that has not changed since
/// is not decrypted and parsed again, and its identity headers are rendered once. Bounded.
const VERIFIED_CACHE_ENTRIES: usize = 10_000;

/// Which sessions a logout names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionIndex<'a> {
    /// OpenID Connect: the provider's session (`sid`).
    OidcSession(&'a str),
    /// OpenID Connect: every session of a user (`sub`).
    OidcSubject(&'a str),
    /// SAML: one IdP session of a user (NameID + SessionIndex).
    SamlSession {
        name_id: &'a str,
        session_index: &'a str,
    },
    /// SAML: every session of a NameID.
    SamlSubject(&'a str),
}

impl SessionIndex<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Self::OidcSession(_) => "oidc-sid",
            Self::OidcSubject(_) => "oidc-sub",
            Self::SamlSession { .. } => "saml-session",
            Self::SamlSubject(_) => "saml-subject",
        }
    }

    fn value(&self) -> String {
        match self {
            Self::OidcSession(v) | Self::OidcSubject(v) | Self::SamlSubject(v) => (*v).to_owned(),
            Self::SamlSession {
                name_id,
                session_index,
            } => format!("{name_id}\0{session_index}"),
        }
    }

    /// The indexes a session belongs to.
    fn of(session: &Session) -> Vec<SessionIndex<'_>> {
        let subject = session.subject.as_deref();
        let idp = session.idp_session.as_deref();
        match session.provider {
            Some(ProviderKind::Oidc) => [
                idp.map(SessionIndex::OidcSession),
                subject.map(SessionIndex::OidcSubject),
            ]
            .into_iter()
            .flatten()
            .collect(),
            Some(ProviderKind::Saml) => [
                subject
                    .zip(idp)
                    .map(|(name_id, session_index)| SessionIndex::SamlSession {
                        name_id,
                        session_index,
                    }),
                subject.map(SessionIndex::SamlSubject),
            ]
            .into_iter()
            .flatten()
            .collect(),
            Some(ProviderKind::Bearer) | None => Vec::new(),
        }
    }
}

pub struct RedisStore {
    redis: Arc<RedisConnection>,
    cookies: CookieWriter,
    prefix: String,
    /// Keys the index names; derived from `session.secret`.
    index_key: [u8; 32],
    /// How long an index lives after its latest session was added: no session outlives it.
    lifetime: Duration,
    verified: Cache<Box<[u8]>, Arc<Session>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("redis", &self.redis.describe())
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    pub fn new(
        redis: Arc<RedisConnection>,
        settings: CookieSettings,
        secret: &Secret,
        prefix: &str,
        lifetime: Duration,
    ) -> Self {
        let mut index_key = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(None, secret.expose())
            .expand(b"sekisho redis index names", &mut index_key)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        Self {
            redis,
            cookies: CookieWriter::new(settings),
            prefix: prefix.to_owned(),
            index_key,
            lifetime,
            verified: Cache::new(VERIFIED_CACHE_ENTRIES),
        }
    }

    pub fn connection(&self) -> &Arc<RedisConnection> {
        &self.redis
    }

    fn name(&self) -> &str {
        self.cookies.base_name()
    }

    fn key(&self, kind: &str, ticket: &Ticket) -> String {
        format!("{}{kind}:{}", self.prefix, ticket.storage_name())
    }

    fn session_key(&self, ticket: &Ticket) -> String {
        self.key("session", ticket)
    }

    fn index_name(&self, index: &SessionIndex<'_>) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.index_key)
            .expect("HMAC takes a key of any length");
        mac.update(index.kind().as_bytes());
        mac.update(b"\0");
        mac.update(index.value().as_bytes());
        let tag = mac.finalize().into_bytes();
        format!(
            "{}index:{}:{}",
            self.prefix,
            index.kind(),
            URL_SAFE_NO_PAD.encode(&tag[..24])
        )
    }

    /// The ticket the request carries: `Ok(None)` without the cookie.
    pub fn ticket(&self, headers: &HeaderMap) -> Result<Option<Ticket>, Rejection> {
        match request_cookie(headers, self.name()) {
            None => Ok(None),
            Some(value) => Ticket::parse(value).map(Some).ok_or(Rejection::Malformed),
        }
    }

    /// The session a ticket stands for, as stored now.
    pub async fn read(&self, ticket: &Ticket) -> Result<Loaded, SessionError> {
        let key = self.session_key(ticket);
        let sealed: Option<Vec<u8>> = self.redis.query(redis::cmd("GET").arg(&key)).await?;
        let Some(sealed) = sealed else {
            return Ok(Loaded::Rejected(Rejection::Unknown));
        };
        // The ticket is part of the name: bytes copied under another ticket's key never match
        // an entry that was decrypted with this one.
        let mut name = ticket.encode().into_bytes();
        name.extend_from_slice(&sealed);
        let name = name.into_boxed_slice();
        let session = match self.verified.get(&name) {
            Some(session) => session,
            None => {
                let Some(json) = ticket.open(&key, &sealed) else {
                    return Ok(Loaded::Rejected(Rejection::Undecryptable));
                };
                let Ok(session) = serde_json::from_slice::<Session>(&json) else {
                    return Ok(Loaded::Rejected(Rejection::Malformed));
                };
                let session = Arc::new(session);
                self.verified.insert(name, session.clone());
                session
            }
        };
        if session.is_expired_at(unix_now()) {
            return Ok(Loaded::Rejected(Rejection::Expired));
        }
        Ok(Loaded::Valid(session))
    }

    /// Stores `session` under `ticket` until it expires, and indexes it. With `existing`, only
    /// overwrites a session still there: a refresh must not bring back a session that was
    /// signed out meanwhile. `false` when nothing was written.
    async fn write(
        &self,
        ticket: &Ticket,
        session: &Session,
        existing: bool,
    ) -> Result<bool, SessionError> {
        let ttl = session.remaining(unix_now());
        if ttl.is_zero() {
            return Ok(false);
        }
        let key = self.session_key(ticket);
        let json = serde_json::to_vec(session).map_err(|e| SessionError::Encode(e.to_string()))?;
        let mut set = redis::cmd("SET");
        set.arg(&key)
            .arg(ticket.seal(&key, &json))
            .arg("PX")
            .arg(millis(ttl));
        if existing {
            set.arg("XX");
        }
        let written: Option<String> = self.redis.query(&set).await?;
        if written.is_none() {
            return Ok(false);
        }
        // One command per key: in a cluster the index and the session live on different nodes.
        for index in SessionIndex::of(session) {
            let name = self.index_name(&index);
            self.redis
                .query::<()>(redis::cmd("SADD").arg(&name).arg(&key))
                .await?;
            self.redis
                .query::<()>(
                    redis::cmd("PEXPIRE")
                        .arg(&name)
                        .arg(millis(self.lifetime.max(ttl))),
                )
                .await?;
        }
        Ok(true)
    }

    /// Overwrites the session behind `ticket` with `session` (refreshed tokens), keeping the
    /// ticket, so every copy of the cookie sees the new session. `false` if the session is gone.
    pub async fn replace(&self, ticket: &Ticket, session: &Session) -> Result<bool, SessionError> {
        self.write(ticket, session, true).await
    }

    /// Deletes the session behind `ticket`: every copy of its cookie stops working.
    pub async fn delete(&self, ticket: &Ticket) -> Result<(), SessionError> {
        self.redis
            .query::<()>(redis::cmd("DEL").arg(self.session_key(ticket)))
            .await
    }

    /// Ends, on every replica, each session in `index`; how many there were.
    pub async fn end_sessions(&self, index: SessionIndex<'_>) -> Result<usize, SessionError> {
        let name = self.index_name(&index);
        let keys: Vec<String> = self.redis.query(redis::cmd("SMEMBERS").arg(&name)).await?;
        let mut ended = 0;
        for key in &keys {
            let deleted: usize = self.redis.query(redis::cmd("DEL").arg(key)).await?;
            ended += deleted;
        }
        self.redis.query::<()>(redis::cmd("DEL").arg(&name)).await?;
        Ok(ended)
    }

    /// The `Cookie` header value of a session stored now, as a browser would send it back.
    pub async fn request_cookie(&self, session: &Session) -> Result<String, SessionError> {
        let ticket = Ticket::generate();
        self.write(&ticket, session, false).await?;
        Ok(format!("{}={}", self.name(), ticket.encode()))
    }

    /// True the first time `id` (of `kind`: an assertion, a logout token) is offered within
    /// `keep`, on any replica.
    pub async fn first_time(
        &self,
        kind: &str,
        id: &str,
        keep: Duration,
    ) -> Result<bool, SessionError> {
        let digest = Sha256::digest(id.as_bytes());
        let key = format!(
            "{}seen:{kind}:{}",
            self.prefix,
            URL_SAFE_NO_PAD.encode(&digest[..24])
        );
        self.set_once(&key, &Ticket::generate().encode(), keep)
            .await
    }

    /// `SET key token NX PX ttl`: true when this call set it. The answer to a SET that did
    /// succeed can be lost with a dropped connection, and the command retried: the token tells
    /// that the key is ours all the same.
    async fn set_once(&self, key: &str, token: &str, ttl: Duration) -> Result<bool, SessionError> {
        let set: Option<String> = self
            .redis
            .query(
                redis::cmd("SET")
                    .arg(key)
                    .arg(token)
                    .arg("NX")
                    .arg("PX")
                    .arg(millis(ttl).max(1)),
            )
            .await?;
        if set.is_some() {
            return Ok(true);
        }
        let holder: Option<String> = self.redis.query(redis::cmd("GET").arg(key)).await?;
        Ok(holder.as_deref() == Some(token))
    }

    /// Takes the refresh lock of the session behind `ticket` for `ttl`; `token` identifies
    /// the holder.
    pub async fn lock(
        &self,
        ticket: &Ticket,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, SessionError> {
        self.set_once(&self.key("lock", ticket), token, ttl).await
    }

    pub async fn unlock(&self, ticket: &Ticket, token: &str) -> Result<(), SessionError> {
        self.redis
            .query::<()>(
                redis::cmd("EVAL")
                    .arg(UNLOCK)
                    .arg(1)
                    .arg(self.key("lock", ticket))
                    .arg(token),
            )
            .await
    }

    /// Keeps `value` (already sealed by the caller where needed) for `ttl` under a fresh
    /// ticket of `kind`; the ticket's cookie value is returned.
    pub async fn put_once(
        &self,
        kind: &str,
        plaintext: &[u8],
        ttl: Duration,
    ) -> Result<String, SessionError> {
        let ticket = Ticket::generate();
        let key = self.key(kind, &ticket);
        self.redis
            .query::<()>(
                redis::cmd("SET")
                    .arg(&key)
                    .arg(ticket.seal(&key, plaintext))
                    .arg("NX")
                    .arg("PX")
                    .arg(millis(ttl)),
            )
            .await?;
        Ok(ticket.encode())
    }

    /// What [`Self::put_once`] kept under `cookie_value`, removed as it is read: a second
    /// read finds nothing. `None` for an unknown, used or altered ticket.
    pub async fn take_once(
        &self,
        kind: &str,
        cookie_value: &str,
    ) -> Result<Option<Vec<u8>>, SessionError> {
        let Some(ticket) = Ticket::parse(cookie_value) else {
            return Ok(None);
        };
        let key = self.key(kind, &ticket);
        let sealed: Option<Vec<u8>> = self.redis.query(redis::cmd("GETDEL").arg(&key)).await?;
        Ok(sealed.and_then(|sealed| ticket.open(&key, &sealed)))
    }

    /// Removal lines for cookies of the cookie store (`_sekisho_0`, ...) left from before the
    /// switch to Redis.
    fn stale_chunks(&self, headers: &HeaderMap) -> Vec<HeaderValue> {
        let chunk = |name: &str| {
            name.strip_prefix(self.name())
                .and_then(|rest| rest.strip_prefix('_'))
                .is_some_and(|d| {
                    !d.is_empty() && d.len() <= 2 && d.bytes().all(|b| b.is_ascii_digit())
                })
        };
        request_cookies(headers)
            .map(|(name, _)| name)
            .filter(|name| chunk(name))
            .map(|name| self.cookies.removal(name))
            .collect()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl SessionStore for RedisStore {
    async fn load(&self, headers: &HeaderMap) -> Result<Loaded, SessionError> {
        match self.ticket(headers) {
            Ok(Some(ticket)) => self.read(&ticket).await,
            Ok(None) => Ok(Loaded::Missing),
            Err(rejection) => Ok(Loaded::Rejected(rejection)),
        }
    }

    /// Always a new ticket: a session never takes over a ticket that existed before it was
    /// signed in (which someone else may know). The older session of this browser is ended.
    async fn save(
        &self,
        headers: &HeaderMap,
        session: &Session,
    ) -> Result<Vec<HeaderValue>, SessionError> {
        if let Ok(Some(old)) = self.ticket(headers) {
            self.delete(&old).await?;
        }
        let ticket = Ticket::generate();
        self.write(&ticket, session, false).await?;
        let mut lines = vec![self.cookies.set(
            self.name().to_owned(),
            ticket.encode(),
            session.remaining(unix_now()),
        )];
        lines.extend(self.stale_chunks(headers));
        Ok(lines)
    }

    async fn clear(&self, headers: &HeaderMap) -> Result<Vec<HeaderValue>, SessionError> {
        if let Ok(Some(ticket)) = self.ticket(headers) {
            self.delete(&ticket).await?;
        }
        let mut lines = vec![self.cookies.removal(self.name())];
        lines.extend(self.stale_chunks(headers));
        Ok(lines)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{RedisConfig, RedisTarget};
    use crate::session::Tokens;
    use crate::session::test_redis::{RedisServer, Reply};
    use http::header::COOKIE;

    /// A store on the Redis at `url`, with short timeouts.
    pub(crate) fn store(url: &str) -> RedisStore {
        store_trusting(url, None)
    }

    fn store_trusting(url: &str, ca_pem: Option<Vec<u8>>) -> RedisStore {
        let config = RedisConfig {
            target: RedisTarget::Standalone { url: url.into() },
            ca_pem,
            key_prefix: "sekisho:".into(),
            timeout: Duration::from_millis(300),
            connect_timeout: Duration::from_millis(300),
        };
        let settings = CookieSettings {
            name: "_sekisho".into(),
            secure: true,
            domain: None,
            path: "/".into(),
        };
        RedisStore::new(
            Arc::new(RedisConnection::new(&config).unwrap()),
            settings,
            &Secret::parse("redis-store-test-secret-0123456789abcdef").unwrap(),
            "sekisho:",
            Duration::from_secs(3600),
        )
    }

    fn oidc_session(user: &str, sid: &str) -> Session {
        let mut s = Session::new(user, Duration::from_secs(600));
        s.provider = Some(ProviderKind::Oidc);
        s.email = Some(format!("{user}@example.com"));
        s.subject = Some(format!("sub-{user}"));
        s.idp_session = Some(sid.into());
        s.tokens = Some(Tokens {
            access_token: Some("access-token-plaintext".into()),
            id_token: Some("id-token-plaintext".into()),
            refresh_token: Some("refresh-token-plaintext".into()),
            access_expires_at: Some(unix_now() + 300),
        });
        s
    }

    fn request(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
        h
    }

    #[test]
    fn indexes_of_a_session() {
        let mut s = Session::new("alice", Duration::from_secs(60));
        assert!(SessionIndex::of(&s).is_empty());
        s.provider = Some(ProviderKind::Oidc);
        s.subject = Some("sub-1".into());
        s.idp_session = Some("sid-1".into());
        assert_eq!(
            SessionIndex::of(&s),
            [
                SessionIndex::OidcSession("sid-1"),
                SessionIndex::OidcSubject("sub-1")
            ]
        );
        s.provider = Some(ProviderKind::Saml);
        assert_eq!(
            SessionIndex::of(&s),
            [
                SessionIndex::SamlSession {
                    name_id: "sub-1",
                    session_index: "sid-1"
                },
                SessionIndex::SamlSubject("sub-1")
            ]
        );
        s.idp_session = None;
        assert_eq!(SessionIndex::of(&s), [SessionIndex::SamlSubject("sub-1")]);
    }

    #[tokio::test]
    async fn redis_holds_nothing_readable_and_the_cookie_only_a_ticket() {
        let server = RedisServer::start();
        let store = store(&server.url());
        let session = oidc_session("alice", "sid-a");
        let lines = store.save(&HeaderMap::new(), &session).await.unwrap();
        assert_eq!(lines.len(), 1);
        let line = lines[0].to_str().unwrap();
        let cookie = line.split(';').next().unwrap();
        assert!(!line.contains("alice") && cookie.len() < 80, "{line}");
        for key in server.keys("*") {
            assert!(
                !key.contains("alice") && !key.contains("sid-a") && !key.contains("sub-alice"),
                "a key names the user: {key}"
            );
            let value = match server.command(&["TYPE", &key]).text().as_str() {
                "string" => server.get(&key).unwrap_or_default(),
                _ => server
                    .command(&["SMEMBERS", &key])
                    .texts()
                    .join(" ")
                    .into_bytes(),
            };
            {
                let text = String::from_utf8_lossy(&value);
                for secret in ["alice", "example.com", "plaintext"] {
                    assert!(!text.contains(secret), "{key} holds `{secret}`: {text}");
                }
            }
        }
        assert_eq!(
            store.load(&request(cookie)).await.unwrap(),
            Loaded::Valid(Arc::new(session))
        );
        // Another ticket, even for an existing key's id, does not open the value.
        let forged = format!("_sekisho={}", Ticket::generate().encode());
        assert_eq!(
            store.load(&request(&forged)).await.unwrap(),
            Loaded::Rejected(Rejection::Unknown)
        );
        assert_eq!(
            store.load(&request("_sekisho=not-a-ticket")).await.unwrap(),
            Loaded::Rejected(Rejection::Malformed)
        );
    }

    #[tokio::test]
    async fn a_value_copied_under_another_ticket_does_not_open_even_when_cached() {
        let server = RedisServer::start();
        let store = store(&server.url());
        let cookie = store
            .request_cookie(&oidc_session("alice", "s"))
            .await
            .unwrap();
        let victim = store.ticket(&request(&cookie)).unwrap().unwrap();
        assert!(matches!(
            store.load(&request(&cookie)).await.unwrap(),
            Loaded::Valid(_)
        ));
        let sealed: Vec<u8> = store
            .redis
            .query(redis::cmd("GET").arg(store.session_key(&victim)))
            .await
            .unwrap();
        let attacker = Ticket::generate();
        store
            .redis
            .query::<()>(
                redis::cmd("SET")
                    .arg(store.session_key(&attacker))
                    .arg(sealed),
            )
            .await
            .unwrap();
        let forged = format!("_sekisho={}", attacker.encode());
        assert_eq!(
            store.load(&request(&forged)).await.unwrap(),
            Loaded::Rejected(Rejection::Undecryptable)
        );
    }

    #[tokio::test]
    async fn ending_a_provider_session_ends_its_sessions_everywhere() {
        let server = RedisServer::start();
        let store = store(&server.url());
        let first = store
            .request_cookie(&oidc_session("alice", "sid-1"))
            .await
            .unwrap();
        let second = store
            .request_cookie(&oidc_session("alice", "sid-1"))
            .await
            .unwrap();
        let other = store
            .request_cookie(&oidc_session("alice", "sid-2"))
            .await
            .unwrap();
        let bob = store
            .request_cookie(&oidc_session("bob", "sid-3"))
            .await
            .unwrap();
        let ended = store
            .end_sessions(SessionIndex::OidcSession("sid-1"))
            .await
            .unwrap();
        assert_eq!(ended, 2);
        for gone in [&first, &second] {
            assert_eq!(
                store.load(&request(gone)).await.unwrap(),
                Loaded::Rejected(Rejection::Unknown)
            );
        }
        assert!(matches!(
            store.load(&request(&other)).await.unwrap(),
            Loaded::Valid(_)
        ));
        let ended = store
            .end_sessions(SessionIndex::OidcSubject("sub-alice"))
            .await
            .unwrap();
        assert_eq!(ended, 1, "sid-2 is left of alice's sessions");
        assert!(matches!(
            store.load(&request(&bob)).await.unwrap(),
            Loaded::Valid(_)
        ));
        assert_eq!(
            store
                .end_sessions(SessionIndex::OidcSession("sid-unknown"))
                .await
                .unwrap(),
            0
        );
    }

    #[tokio::test]
    async fn a_refresh_keeps_the_ticket_but_never_brings_a_session_back() {
        let server = RedisServer::start();
        let store = store(&server.url());
        let cookie = store
            .request_cookie(&oidc_session("alice", "s"))
            .await
            .unwrap();
        let ticket = store.ticket(&request(&cookie)).unwrap().unwrap();
        let mut refreshed = oidc_session("alice", "s");
        refreshed.tokens.as_mut().unwrap().refresh_token = Some("rotated".into());
        assert!(store.replace(&ticket, &refreshed).await.unwrap());
        assert_eq!(
            store.load(&request(&cookie)).await.unwrap(),
            Loaded::Valid(Arc::new(refreshed.clone()))
        );
        store.clear(&request(&cookie)).await.unwrap();
        assert!(!store.replace(&ticket, &refreshed).await.unwrap());
        assert_eq!(
            store.load(&request(&cookie)).await.unwrap(),
            Loaded::Rejected(Rejection::Unknown)
        );
    }

    #[tokio::test]
    async fn locks_once_tokens_and_sign_in_state() {
        let server = RedisServer::start();
        let store = store(&server.url());
        let ticket = Ticket::generate();
        let ttl = Duration::from_secs(5);
        assert!(store.lock(&ticket, "a", ttl).await.unwrap());
        assert!(!store.lock(&ticket, "b", ttl).await.unwrap());
        assert!(
            store.lock(&ticket, "a", ttl).await.unwrap(),
            "the holder again"
        );
        store.unlock(&ticket, "b").await.unwrap();
        assert!(
            !store.lock(&ticket, "b", ttl).await.unwrap(),
            "b released nothing"
        );
        store.unlock(&ticket, "a").await.unwrap();
        assert!(store.lock(&ticket, "b", ttl).await.unwrap());

        let minute = Duration::from_secs(60);
        assert!(store.first_time("logout", "jti-1", minute).await.unwrap());
        assert!(!store.first_time("logout", "jti-1", minute).await.unwrap());
        assert!(
            store
                .first_time("saml-assertion", "jti-1", minute)
                .await
                .unwrap()
        );

        let handle = store.put_once("login", b"attempt", minute).await.unwrap();
        assert!(!server.keys("sekisho:login:*").is_empty());
        assert_eq!(
            store.take_once("login", &handle).await.unwrap().as_deref(),
            Some(&b"attempt"[..])
        );
        assert_eq!(store.take_once("login", &handle).await.unwrap(), None);
        assert_eq!(store.take_once("login", "garbage").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_connection_redis_closed_is_replaced_without_failing_a_request() {
        let server = RedisServer::start();
        let store = store(&server.url());
        let cookie = store
            .request_cookie(&oidc_session("alice", "s"))
            .await
            .unwrap();
        assert!(matches!(
            store.load(&request(&cookie)).await.unwrap(),
            Loaded::Valid(_)
        ));
        // As Redis does to idle clients (`timeout`), or a proxy in between on a restart.
        let killed = server.command(&["CLIENT", "KILL", "TYPE", "normal"]);
        assert!(matches!(killed, Reply::Integer(n) if n >= 1), "{killed:?}");
        let after = store.load(&request(&cookie)).await;
        assert!(matches!(after, Ok(Loaded::Valid(_))), "{after:?}");
    }

    #[tokio::test]
    async fn a_dead_or_hung_redis_fails_fast_and_is_used_again_when_back() {
        let mut server = RedisServer::start();
        let store = store(&server.url());
        let cookie = store
            .request_cookie(&oidc_session("alice", "s"))
            .await
            .unwrap();

        server.freeze();
        let started = std::time::Instant::now();
        let hung = store.load(&request(&cookie)).await;
        assert!(
            matches!(hung, Err(SessionError::Unavailable(_))),
            "{hung:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        server.thaw();

        server.stop();
        let started = std::time::Instant::now();
        let down = store.load(&request(&cookie)).await;
        assert!(
            matches!(down, Err(SessionError::Unavailable(_))),
            "{down:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        use crate::readiness::ReadinessCheck;
        assert!(store.connection().status().is_err());

        server.restart();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match store.load(&request(&cookie)).await {
                Ok(Loaded::Valid(s)) => {
                    assert_eq!(s.user, "alice");
                    break;
                }
                other => assert!(
                    std::time::Instant::now() < deadline,
                    "not back after restart: {other:?}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    #[tokio::test]
    async fn over_tls_with_the_configured_ca_and_not_without() {
        let server = RedisServer::start_tls();
        let ca = std::fs::read(server.ca_file()).unwrap();
        let store = store_trusting(&server.tls_url(), Some(ca));
        let session = oidc_session("alice", "tls");
        let cookie = store.request_cookie(&session).await.unwrap();
        assert_eq!(
            store.load(&request(&cookie)).await.unwrap(),
            Loaded::Valid(Arc::new(session))
        );
        // The system's roots do not know the test CA: the certificate is really checked.
        let untrusting = store_trusting(&server.tls_url(), None);
        let refused = untrusting.load(&request(&cookie)).await;
        assert!(
            matches!(refused, Err(SessionError::Unavailable(_))),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn through_sentinel_and_across_a_failover() {
        use crate::session::test_redis::RedisSentinel;
        let mut master = RedisServer::start();
        let replica = RedisServer::start();
        let port = master.port().to_string();
        replica.command(&["REPLICAOF", "127.0.0.1", &port]);
        let sentinel = RedisSentinel::start(&master);
        let config = RedisConfig {
            target: crate::config::RedisTarget::Sentinel {
                nodes: vec![crate::config::RedisNode {
                    host: "127.0.0.1".into(),
                    port: sentinel_port(&sentinel.url()),
                }],
                master: RedisSentinel::MASTER.into(),
                db: 0,
                credentials: Default::default(),
                tls: false,
            },
            ca_pem: None,
            key_prefix: "sekisho:".into(),
            timeout: Duration::from_millis(300),
            connect_timeout: Duration::from_millis(300),
        };
        let connection = Arc::new(RedisConnection::new(&config).unwrap());
        let upkeep = connection.spawn_upkeep();
        let store = RedisStore::new(
            connection,
            CookieSettings {
                name: "_sekisho".into(),
                secure: true,
                domain: None,
                path: "/".into(),
            },
            &Secret::parse("redis-store-test-secret-0123456789abcdef").unwrap(),
            "sekisho:",
            Duration::from_secs(3600),
        );
        let session = oidc_session("alice", "sentinel");
        let cookie = eventually(|| store.request_cookie(&session)).await;
        assert!(
            !master.keys("sekisho:session:*").is_empty(),
            "written to the master"
        );
        // Replicated before the master goes away.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while replica.keys("sekisho:session:*").is_empty() {
            assert!(std::time::Instant::now() < deadline, "not replicated");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        master.crash();
        // The sentinel promotes the replica; Sekisho asks it again and follows.
        let headers = request(&cookie);
        let loaded = eventually(|| store.load(&headers)).await;
        assert_eq!(loaded, Loaded::Valid(Arc::new(session.clone())));
        let after = eventually(|| store.request_cookie(&session)).await;
        assert!(matches!(
            store.load(&request(&after)).await.unwrap(),
            Loaded::Valid(_)
        ));
        assert_eq!(replica.command(&["ROLE"]).texts_first(), "master");
        upkeep.abort();
    }

    fn sentinel_port(url: &str) -> u16 {
        url.split(':')
            .nth(2)
            .and_then(|p| p.split('/').next())
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Retries `op` for up to 20 s until it succeeds (the master may be moving meanwhile).
    async fn eventually<T, F, Fut>(op: F) -> T
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SessionError>>,
    {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            match op().await {
                Ok(value) => return value,
                Err(e) => assert!(std::time::Instant::now() < deadline, "still failing: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    #[tokio::test]
    async fn on_a_cluster() {
        use crate::session::test_redis::RedisCluster;
        let cluster = RedisCluster::start();
        let config = RedisConfig {
            target: crate::config::parse_redis_url(&cluster.url()).unwrap(),
            ca_pem: None,
            key_prefix: "sekisho:".into(),
            timeout: Duration::from_millis(500),
            connect_timeout: Duration::from_millis(500),
        };
        let connection = Arc::new(RedisConnection::new(&config).unwrap());
        let upkeep = connection.spawn_upkeep();
        let store = RedisStore::new(
            connection,
            CookieSettings {
                name: "_sekisho".into(),
                secure: true,
                domain: None,
                path: "/".into(),
            },
            &Secret::parse("redis-store-test-secret-0123456789abcdef").unwrap(),
            "sekisho:",
            Duration::from_secs(3600),
        );
        // Sessions, indexes, locks and one-time keys land in different slots and nodes.
        let mut cookies = Vec::new();
        for i in 0..6 {
            let session = oidc_session("alice", &format!("sid-{}", i % 2));
            cookies.push(eventually(|| store.request_cookie(&session)).await);
        }
        let nodes_with_sessions = cluster
            .nodes
            .iter()
            .filter(|n| !n.keys("sekisho:session:*").is_empty())
            .count();
        assert!(nodes_with_sessions > 1, "sessions on one node only");
        for cookie in &cookies {
            assert!(matches!(
                store.load(&request(cookie)).await.unwrap(),
                Loaded::Valid(_)
            ));
        }
        let ticket = store.ticket(&request(&cookies[0])).unwrap().unwrap();
        assert!(
            store
                .lock(&ticket, "a", Duration::from_secs(5))
                .await
                .unwrap()
        );
        store.unlock(&ticket, "a").await.unwrap();
        assert!(
            store
                .first_time("logout", "j", Duration::from_secs(5))
                .await
                .unwrap()
        );
        let handle = store
            .put_once("login", b"x", Duration::from_secs(5))
            .await
            .unwrap();
        assert!(store.take_once("login", &handle).await.unwrap().is_some());
        assert_eq!(
            store
                .end_sessions(SessionIndex::OidcSession("sid-0"))
                .await
                .unwrap(),
            3
        );
        let left = cluster.keys("sekisho:session:*").len();
        assert_eq!(left, 3, "sid-1's sessions stay");
        upkeep.abort();
    }
}
