//! The recipes of docs/gitlab.md and docs/mattermost.md, run: nginx with
//! `config/nginx/gitlab.conf` or `config/nginx/mattermost.conf` in front of an app standing in
//! for GitLab or Mattermost, and Sekisho with `config/examples/gitlab-oidc.toml`,
//! `gitlab-saml.toml` or `mattermost.toml` as written, only its URLs pointed at loopback (the
//! test OpenID provider or SAML IdP in Keycloak's place, nginx's address as `public_url`).
//!
//! For each: a browser without a session is sent to the provider; a session of an allowed
//! group reaches the app with its identity, one of another group gets 403; a client from
//! `trusted_ips` passes without one; and the paths the app authenticates itself (GitLab's API,
//! Git over HTTP, sign-in callbacks; Mattermost's webhooks and SAML callback) reach it with no
//! session and with any identity header a client sent dropped, while lookalikes stay gated.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use common::http::{Client, Response};
use common::nginx::Nginx;
use common::oidc_provider::{OidcOptions, OidcProvider};
use common::oidc_stack::start_sekisho;
use common::ports::free_port;
use common::saml_idp::{SamlIdp, SamlIdpOptions};
use common::sekisho::Sekisho;
use common::session;
use common::upstream::Upstream;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SECRET: &str = "app-recipe-test-secret-of-at-least-32-bytes";
/// In the examples' `trusted_ips` (203.0.113.0/24).
const TRUSTED_CLIENT: &str = "203.0.113.9";

/// The provider a recipe signs in with, running on loopback.
enum Provider {
    Oidc(OidcProvider),
    Saml(Box<SamlIdp>),
}

impl Provider {
    fn oidc() -> Self {
        Self::Oidc(OidcProvider::start(OidcOptions::default()))
    }

    fn saml() -> Self {
        Self::Saml(Box::new(SamlIdp::start(SamlIdpOptions::default())))
    }

    /// Where Sekisho sends a browser to sign in.
    fn sign_in_url(&self) -> String {
        match self {
            Self::Oidc(op) => op.endpoint("auth"),
            Self::Saml(idp) => idp.sso_url.clone(),
        }
    }

    /// The environment pointing the example's URLs at this provider and at nginx.
    fn env(&self, public_url: &str) -> Vec<(String, String)> {
        let mut env = vec![
            ("SEKISHO_PUBLIC_URL".to_owned(), public_url.to_owned()),
            ("SEKISHO_SESSION__SECRET".to_owned(), SECRET.to_owned()),
            ("no_proxy".to_owned(), "127.0.0.1,localhost".to_owned()),
            ("NO_PROXY".to_owned(), "127.0.0.1,localhost".to_owned()),
        ];
        match self {
            Self::Oidc(op) => {
                env.push(("SEKISHO_OIDC__ISSUER_URL".to_owned(), op.issuer.clone()));
                env.push((
                    "SEKISHO_OIDC__CLIENT_SECRET".to_owned(),
                    "sekisho-secret".to_owned(),
                ));
            }
            Self::Saml(idp) => {
                env.push((
                    "SEKISHO_SAML__IDP_METADATA_URL".to_owned(),
                    idp.metadata_url.clone(),
                ));
                env.push((
                    "SEKISHO_SAML__SP_ENTITY_ID".to_owned(),
                    format!("{public_url}/saml/metadata"),
                ));
            }
        }
        env
    }
}

/// nginx with a recipe's template, Sekisho with a recipe's configuration, the app.
struct Recipe {
    nginx: Nginx,
    sekisho: Sekisho,
    upstream: Upstream,
    provider: Provider,
}

impl Recipe {
    async fn start(template: &str, config: &str, provider: Provider) -> Self {
        let config = std::fs::read_to_string(Path::new(ROOT).join(config))
            .unwrap_or_else(|e| panic!("cannot read {config}: {e}"));
        let upstream = Upstream::start().await;
        let mut attempt = 0;
        let (nginx, sekisho) = loop {
            attempt += 1;
            let sekisho_addr =
                SocketAddr::from((Ipv4Addr::LOCALHOST, free_port(Ipv4Addr::LOCALHOST)));
            let nginx = Nginx::start(
                &Path::new(ROOT).join(template),
                &[
                    ("SEKISHO", &sekisho_addr.to_string()),
                    ("UPSTREAM", &upstream.addr().to_string()),
                ],
            )
            .await;
            let mut env = provider.env(&format!("http://{}", nginx.addr()));
            env.push(("SEKISHO_LISTEN".to_owned(), sekisho_addr.to_string()));
            match start_sekisho(config.clone(), env).await {
                Ok(sekisho) => break (nginx, sekisho),
                Err(message) if attempt < 3 && message.contains("in use") => continue,
                Err(message) => panic!("sekisho did not start: {message}"),
            }
        };
        let recipe = Self {
            nginx,
            sekisho,
            upstream,
            provider,
        };
        recipe.wait_ready().await;
        recipe
    }

    /// Until Sekisho's /ready answers 200 (the provider's metadata loaded).
    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let response = Client::new().get(self.sekisho.addr(), "/ready", &[]).await;
            if response.status == 200 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Sekisho did not become ready: {} {}\n{}",
                response.status,
                response.body,
                self.sekisho.output().text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        Client::from(Ipv4Addr::LOCALHOST)
            .get(self.nginx.addr(), path, headers)
            .await
    }

    async fn post(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        Client::from(Ipv4Addr::LOCALHOST)
            .request(self.nginx.addr(), "POST", path, headers, b"SAMLResponse=x")
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// A browser without a session is sent to sign in at the provider, and the app sees
    /// nothing of it.
    async fn assert_gated(&self, method: &str, path: &str) {
        let hits = self.upstream.hits();
        let response = match method {
            "POST" => self.post(path, &[]).await,
            _ => self.get(path, &[]).await,
        };
        let location = response.header("location").unwrap_or_default();
        assert!(
            response.status == 302 && location.starts_with(&self.provider.sign_in_url()),
            "{method} {path} without a session should be sent to sign in at {}; got {} (Location: {location})\n{}",
            self.provider.sign_in_url(),
            response.status,
            self.nginx.logs()
        );
        assert_eq!(
            self.upstream.hits(),
            hits,
            "{method} {path} must not reach the app"
        );
    }

    /// `path` reaches the app without a session, and the identity headers a client sent
    /// along do not.
    async fn assert_bypassed(&self, method: &str, path: &str) {
        let forged = [
            ("X-Auth-Request-User", "mallory"),
            ("X-Auth-Request-Groups", "/admins"),
        ];
        let response = match method {
            "POST" => self.post(path, &forged).await,
            _ => self.get(path, &forged).await,
        };
        assert_eq!(
            response.status,
            200,
            "{method} {path} is the app's to authenticate: it should reach the app without a session\n{}",
            self.nginx.logs()
        );
        let received = self.upstream.received();
        let request = received
            .iter()
            .rev()
            .find(|r| r.target == path)
            .unwrap_or_else(|| panic!("the app did not receive {path}: {received:?}"));
        assert_eq!(
            (
                request.header("X-Auth-Request-User"),
                request.header("X-Auth-Request-Groups")
            ),
            (None, None),
            "{method} {path}: identity headers a client sends must not reach the app"
        );
    }

    /// Sessions: an allowed group passes with its identity, another group gets 403; a
    /// trusted address passes without a session.
    async fn assert_sessions_and_trusted_ips(&self) {
        let dev = session::cookie(
            SECRET,
            &session::session("alice", Some("alice@example.com"), &["/dev"]),
        );
        let response = self.get("/dashboard", &[("Cookie", &dev)]).await;
        assert_eq!(response.status, 200, "a session in /dev reaches the app");
        let received = self.upstream.received();
        let last = received.last().expect("the app received the request");
        assert_eq!(
            (last.target.as_str(), last.header("X-Auth-Request-User")),
            ("/dashboard", Some("alice")),
            "the app sees who signed in"
        );

        let sales = session::cookie(
            SECRET,
            &session::session("carol", Some("carol@example.com"), &["/sales"]),
        );
        let hits = self.upstream.hits();
        let response = self.get("/dashboard", &[("Cookie", &sales)]).await;
        assert_eq!(
            response.status, 403,
            "a session outside allowed_groups is refused"
        );
        assert_eq!(self.upstream.hits(), hits);

        // The client connects from 127.0.0.1, which Sekisho trusts as a proxy (nginx's
        // address): the X-Forwarded-For it sends stands for a load balancer's.
        let response = self
            .get("/dashboard", &[("X-Forwarded-For", TRUSTED_CLIENT)])
            .await;
        assert_eq!(
            response.status,
            200,
            "{TRUSTED_CLIENT} is in trusted_ips: it passes without a session\n{}",
            self.sekisho.output().text()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_behind_sekisho_over_openid_connect() {
    let recipe = Recipe::start(
        "config/nginx/gitlab.conf",
        "config/examples/gitlab-oidc.toml",
        Provider::oidc(),
    )
    .await;
    gitlab_paths(&recipe).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_behind_sekisho_over_saml() {
    let recipe = Recipe::start(
        "config/nginx/gitlab.conf",
        "config/examples/gitlab-saml.toml",
        Provider::saml(),
    )
    .await;
    gitlab_paths(&recipe).await;
}

async fn gitlab_paths(recipe: &Recipe) {
    recipe.assert_gated("GET", "/").await;
    recipe.assert_gated("GET", "/group/project/-/issues").await;
    recipe.assert_gated("GET", "/explore/projects").await;
    // Lookalikes of the bypassed paths.
    recipe.assert_gated("GET", "/apiary").await;
    recipe.assert_gated("GET", "/group/project.git").await;
    recipe.assert_sessions_and_trusted_ips().await;
    for path in [
        "/api/v4/projects",
        "/group/project.git/info/refs?service=git-upload-pack",
        "/group/project.git/gitlab-lfs/objects/batch",
        "/oauth/token",
    ] {
        recipe.assert_bypassed("GET", path).await;
    }
    recipe
        .assert_bypassed("POST", "/group/project.git/git-receive-pack")
        .await;
    recipe
        .assert_bypassed("POST", "/users/auth/saml/callback")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mattermost_behind_sekisho_over_saml() {
    let recipe = Recipe::start(
        "config/nginx/mattermost.conf",
        "config/examples/mattermost.toml",
        Provider::saml(),
    )
    .await;
    recipe.assert_gated("GET", "/").await;
    recipe
        .assert_gated("GET", "/team/channels/town-square")
        .await;
    // The web app's API and WebSocket stay behind Sekisho.
    recipe.assert_gated("GET", "/api/v4/users/me").await;
    recipe.assert_gated("GET", "/api/v4/websocket").await;
    recipe.assert_sessions_and_trusted_ips().await;
    recipe
        .assert_bypassed("POST", "/hooks/xmf3kd8a1jbqjqwbrg6ktjqxyr")
        .await;
    recipe.assert_bypassed("POST", "/login/sso/saml").await;
}
