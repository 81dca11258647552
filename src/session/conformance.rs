//! One suite the sessions interface must pass over every store behind it; the suite plays the
//! browser, applying `Set-Cookie` lines to a cookie jar between requests.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

use super::{Loaded, Session, Sessions, unix_now};

#[derive(Default)]
struct Browser {
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn apply(&mut self, lines: &[HeaderValue]) {
        for line in lines {
            let parsed = cookie::Cookie::parse(line.to_str().unwrap().to_owned()).unwrap();
            let expired = parsed
                .max_age()
                .is_some_and(|age| age.is_zero() || age.is_negative());
            if expired {
                self.cookies.remove(parsed.name());
            } else {
                self.cookies
                    .insert(parsed.name().to_owned(), parsed.value().to_owned());
            }
        }
    }

    fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        if !self.cookies.is_empty() {
            let line: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            h.insert(COOKIE, HeaderValue::from_str(&line.join("; ")).unwrap());
        }
        h
    }
}

fn session(user: &str, groups: usize) -> Session {
    let mut s = Session::new(user, Duration::from_secs(600));
    s.email = Some(format!("{user}@example.com"));
    s.groups = (0..groups).map(|i| format!("/team-{i:04}")).collect();
    s.roles = vec!["admin".into()];
    s
}

pub async fn run(store: &Sessions) {
    let mut browser = Browser::default();
    assert_eq!(
        store.load(&browser.headers()).await.unwrap(),
        Loaded::Missing,
        "no cookies: no session"
    );

    let alice = session("alice", 2);
    browser.apply(&store.save(&browser.headers(), &alice).await.unwrap());
    assert_eq!(
        store.load(&browser.headers()).await.unwrap(),
        Loaded::Valid(Arc::new(alice)),
        "round trip"
    );

    let large = session("alice", 800);
    browser.apply(&store.save(&browser.headers(), &large).await.unwrap());
    assert_eq!(
        store.load(&browser.headers()).await.unwrap(),
        Loaded::Valid(Arc::new(large)),
        "large session"
    );

    let bob = session("bob", 1);
    browser.apply(&store.save(&browser.headers(), &bob).await.unwrap());
    assert_eq!(
        store.load(&browser.headers()).await.unwrap(),
        Loaded::Valid(Arc::new(bob)),
        "replaced session"
    );

    let mut expired = session("carol", 0);
    expired.expires_at = unix_now() - 10;
    let mut stale = Browser {
        cookies: browser.cookies.clone(),
    };
    stale.apply(&store.save(&stale.headers(), &expired).await.unwrap());
    assert!(
        matches!(
            store.load(&stale.headers()).await.unwrap(),
            Loaded::Rejected(_) | Loaded::Missing
        ),
        "expired"
    );

    browser.apply(&store.end(&browser.headers()).await.unwrap());
    assert_eq!(
        store.load(&browser.headers()).await.unwrap(),
        Loaded::Missing,
        "cleared"
    );
}

#[tokio::test]
async fn cookie_store_conforms() {
    use crate::config::{CookieSettings, Secret};
    let settings = CookieSettings {
        name: "_sekisho".into(),
        secure: false,
        domain: None,
        path: "/".into(),
    };
    let store = super::CookieStore::new(
        settings,
        &Secret::parse("conformance-secret-of-at-least-32-bytes").unwrap(),
    );
    let sessions = Sessions::in_cookies(Arc::new(store));
    assert!(
        sessions.load_now(&HeaderMap::new()).is_some(),
        "cookie sessions load without waiting"
    );
    run(&sessions).await;
}

#[tokio::test]
async fn redis_store_conforms() {
    let server = super::test_redis::RedisServer::start();
    let store = super::redis_store::tests::store(&server.url());
    let sessions = Sessions::in_redis(Arc::new(store));
    assert!(
        sessions.load_now(&HeaderMap::new()).is_none(),
        "sessions in Redis are loaded over the network"
    );
    run(&sessions).await;
    // Replacing a browser's session and clearing it end the older sessions in Redis too.
    assert_eq!(
        server.keys("sekisho:session:*"),
        Vec::<String>::new(),
        "sessions left in Redis after the suite"
    );
}
