//! The real Keycloak, for the end-to-end tests that must meet it rather than a lookalike.
//!
//! One Keycloak serves a whole test run: `./scripts/test` starts it (`scripts/keycloak`,
//! realm `config/keycloak/demo-realm.json` imported), waits until it is ready, names it in
//! `TEST_KEYCLOAK_URL` (`http://127.0.0.1:PORT`) and stops it at the end. Tests keep apart
//! by creating a realm of their own through the admin REST API: the shipped realm file under a
//! fresh name ([`Keycloak::create_realm`]), its clients pointed at the test's nginx and Sekisho
//! ([`Realm::point_at`]), deleted again when the [`Realm`] drops.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::oidc_stack::{OidcStack, StackOptions};

/// Where the running Keycloak is: `http://127.0.0.1:PORT`. Not `SEKISHO_*`: Sekisho reads
/// those as its own settings, and refuses to start on one it does not know.
pub const URL_ENV: &str = "TEST_KEYCLOAK_URL";
/// Its first admin, `user:password` (default `admin:admin`, as `scripts/keycloak` creates it).
pub const ADMIN_ENV: &str = "TEST_KEYCLOAK_ADMIN";
/// The realm file `docker compose` and the demo import.
pub const REALM_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/config/keycloak/demo-realm.json"
);
/// The public URL and Sekisho address the shipped realm's clients name.
pub const SHIPPED_PUBLIC_URL: &str = "http://localhost:8000";
pub const SHIPPED_SEKISHO_URL: &str = "http://127.0.0.1:4180";
/// The shipped realm's clients.
pub const OIDC_CLIENT: &str = "sekisho";
pub const OIDC_CLIENT_SECRET: &str = "sekisho-secret";
pub const SAML_CLIENT: &str = "http://localhost:8000/saml/metadata";

/// One admin call's timeout: Keycloak answers in milliseconds unless something is wrong.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The running Keycloak and its admin account.
#[derive(Clone, Debug)]
pub struct Keycloak {
    pub url: String,
    admin: (String, String),
    http: reqwest::Client,
}

/// An admin API answer: status, `Location` (where a POST created something), body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("Keycloak's answer is not JSON ({e}): {}", self.body))
    }

    /// The id at the end of `Location`.
    pub fn created_id(&self) -> String {
        let location = self
            .location
            .as_deref()
            .unwrap_or_else(|| panic!("Keycloak created something without a Location: {self:?}"));
        location.rsplit('/').next().unwrap_or_default().to_owned()
    }
}

impl Keycloak {
    /// The Keycloak of this test run; fails, saying how to get one, when there is none.
    pub fn shared() -> Self {
        let url = std::env::var(URL_ENV).unwrap_or_else(|_| {
            panic!(
                "the Keycloak tests need a running Keycloak named in {URL_ENV}: run ./scripts/test \
                 (it fetches, starts and stops one), or start one yourself with \
                 `scripts/keycloak run /tmp/kc 18080 config/keycloak/demo-realm.json` and set \
                 {URL_ENV}=http://127.0.0.1:18080"
            )
        });
        let admin = std::env::var(ADMIN_ENV).unwrap_or_else(|_| "admin:admin".to_owned());
        let (user, password) = admin
            .split_once(':')
            .unwrap_or_else(|| panic!("{ADMIN_ENV} should be user:password"));
        Self {
            url: url.trim_end_matches('/').to_owned(),
            admin: (user.to_owned(), password.to_owned()),
            http: Self::client(),
        }
    }

    /// Loopback only, whatever proxy the machine has; redirects returned, not followed.
    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(CALL_TIMEOUT)
            .build()
            .expect("HTTP client")
    }

    pub fn port(&self) -> u16 {
        url::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.port())
            .unwrap_or_else(|| panic!("{URL_ENV} should name a port: {}", self.url))
    }

    /// A fresh admin access token (the master realm's tokens live a minute: never kept).
    async fn admin_token(&self) -> String {
        let form = [
            ("grant_type", "password"),
            ("client_id", "admin-cli"),
            ("username", self.admin.0.as_str()),
            ("password", self.admin.1.as_str()),
        ];
        let answer = self
            .send(
                self.http
                    .post(format!(
                        "{}/realms/master/protocol/openid-connect/token",
                        self.url
                    ))
                    .form(&form),
            )
            .await;
        assert_eq!(
            answer.status, 200,
            "Keycloak's admin sign-in ({ADMIN_ENV}) failed: {}",
            answer.body
        );
        answer.json()["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned()
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("Keycloak at {} did not answer: {e}", self.url));
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.unwrap_or_default();
        Answer {
            status,
            location,
            body,
        }
    }

    /// `method /admin/{path}` with a JSON `body`, as the admin; any status. Keycloak answers
    /// 500 ("Not found in database" in its log) when another test's realm is deleted while it
    /// works out the admin's permissions, before it does anything: such an answer is retried.
    pub async fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let answer = self.admin_once(method, path, body).await;
            if answer.status != 500 || attempts == 3 {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn admin_once(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let token = self.admin_token().await;
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut request = self
            .http
            .request(
                method,
                format!("{}/admin/{}", self.url, path.trim_start_matches('/')),
            )
            .bearer_auth(token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        self.send(request).await
    }

    /// A plain request to Keycloak (no admin token), any status.
    pub async fn request(&self, request: reqwest::RequestBuilder) -> Answer {
        self.send(request).await
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The shipped realm file, as JSON.
    pub fn shipped_realm() -> Value {
        let text = std::fs::read_to_string(REALM_FILE).expect("config/keycloak/demo-realm.json");
        serde_json::from_str(&text).expect("the realm file is JSON")
    }

    /// A realm of this test's own: the shipped realm file under a fresh name (`prefix-…`),
    /// changed by `edit` first (users' fixed ids dropped: ids are unique across realms).
    pub async fn create_realm(&self, prefix: &str, edit: impl FnOnce(&mut Value)) -> Realm {
        let name = format!(
            "{prefix}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let mut realm = Self::shipped_realm();
        realm["realm"] = json!(name);
        // The realm's default roles are `default-roles-<realm>`: under another name, the
        // users' `default-roles-demo` would be a plain role, and they would lack what it
        // grants (the account console's roles, offline_access).
        let default_roles = format!("default-roles-{name}");
        if let Some(users) = realm["users"].as_array_mut() {
            for user in users.iter_mut().filter_map(Value::as_object_mut) {
                user.remove("id");
                if let Some(roles) = user.get_mut("realmRoles").and_then(Value::as_array_mut) {
                    for role in roles.iter_mut().filter(|r| *r == "default-roles-demo") {
                        *role = json!(default_roles);
                    }
                }
            }
        }
        edit(&mut realm);
        let answer = self.admin("POST", "realms", Some(&realm)).await;
        assert_eq!(
            answer.status, 201,
            "Keycloak refused to create realm {name}: {}",
            answer.body
        );
        Realm {
            keycloak: self.clone(),
            name,
        }
    }
}

/// A realm created for one test; deleted when dropped.
pub struct Realm {
    pub keycloak: Keycloak,
    pub name: String,
}

impl Realm {
    /// `http://127.0.0.1:PORT/realms/NAME`
    pub fn issuer(&self) -> String {
        format!("{}/realms/{}", self.keycloak.url, self.name)
    }

    /// `{issuer}/protocol/openid-connect/{name}` (`token`, `auth`, `logout`, `certs`).
    pub fn oidc_endpoint(&self, name: &str) -> String {
        format!("{}/protocol/openid-connect/{name}", self.issuer())
    }

    /// The realm's SAML IdP metadata (its descriptor).
    pub fn saml_descriptor(&self) -> String {
        format!("{}/protocol/saml/descriptor", self.issuer())
    }

    /// `method /admin/realms/NAME/{path}`; panics unless Keycloak answers 2xx.
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let full = format!("realms/{}/{}", self.name, path.trim_start_matches('/'));
        let full = full.trim_end_matches('/');
        let answer = self.keycloak.admin(method, full, body).await;
        assert!(
            (200..300).contains(&answer.status),
            "Keycloak admin {method} /admin/{full} answered {}: {}",
            answer.status,
            answer.body
        );
        answer
    }

    pub async fn get(&self, path: &str) -> Value {
        self.call("GET", path, None).await.json()
    }

    /// The realm's representation changed by `edit`, written back (token lifespans, ...).
    pub async fn update(&self, edit: impl FnOnce(&mut Value)) {
        let mut realm = self.get("").await;
        edit(&mut realm);
        self.call("PUT", "", Some(&realm)).await;
    }

    /// The internal id of client `client_id`.
    pub async fn client_uuid(&self, client_id: &str) -> String {
        let encoded =
            url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect::<String>();
        let found = self.get(&format!("clients?clientId={encoded}")).await;
        found[0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("realm {} has no client {client_id}: {found}", self.name))
            .to_owned()
    }

    /// Client `client_id`'s representation changed by `edit`, written back.
    pub async fn update_client(&self, client_id: &str, edit: impl FnOnce(&mut Value)) {
        let id = self.client_uuid(client_id).await;
        let mut client = self.get(&format!("clients/{id}")).await;
        edit(&mut client);
        self.call("PUT", &format!("clients/{id}"), Some(&client))
            .await;
    }

    /// Creates a client from its representation; returns its internal id.
    pub async fn create_client(&self, client: &Value) -> String {
        self.call("POST", "clients", Some(client))
            .await
            .created_id()
    }

    /// Points the shipped clients at this test's front door and Sekisho: every URL of the
    /// realm file that names `http://localhost:8000` (redirect URIs, the SAML client's id and
    /// endpoints) now names `public_url`, and the back-channel logout URL `sekisho_url`.
    pub async fn point_at(&self, public_url: &str, sekisho_url: &str) {
        let clients = self.get("clients").await;
        for client in clients.as_array().into_iter().flatten() {
            let text = client.to_string();
            if !text.contains(SHIPPED_PUBLIC_URL) && !text.contains(SHIPPED_SEKISHO_URL) {
                continue;
            }
            let changed = text
                .replace(SHIPPED_PUBLIC_URL, public_url)
                .replace(SHIPPED_SEKISHO_URL, sekisho_url);
            let changed: Value = serde_json::from_str(&changed).expect("JSON stays JSON");
            let id = client["id"].as_str().expect("a client id");
            self.call("PUT", &format!("clients/{id}"), Some(&changed))
                .await;
        }
    }

    /// An OpenID Connect stack (nginx, Sekisho, the app) signing in at this realm with the
    /// shipped `sekisho` client, that client pointed at it, Sekisho ready.
    pub async fn oidc_stack(&self, options: StackOptions) -> OidcStack {
        let stack = OidcStack::start(StackOptions {
            external_issuer: Some(self.issuer()),
            ..options
        })
        .await;
        self.point_at(&stack.origin(), &format!("http://{}", stack.sekisho.addr()))
            .await;
        stack
    }

    /// The id of user `username`.
    pub async fn user_id(&self, username: &str) -> String {
        let found = self
            .get(&format!("users?exact=true&username={username}"))
            .await;
        found[0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("realm {} has no user {username}: {found}", self.name))
            .to_owned()
    }

    /// Creates user `username` with `password`, email verified, in `groups` (paths).
    pub async fn create_user(&self, username: &str, password: &str, groups: &[&str]) -> String {
        let user = json!({
            "username": username,
            "enabled": true,
            "email": format!("{username}@example.com"),
            "emailVerified": true,
            "firstName": username,
            "lastName": "Test",
            "credentials": [{"type": "password", "value": password, "temporary": false}],
            "groups": groups,
        });
        self.call("POST", "users", Some(&user)).await.created_id()
    }

    /// The id of the group at `path` (`/admins`).
    pub async fn group_id(&self, path: &str) -> String {
        let found = self
            .get(&format!("group-by-path/{}", path.trim_start_matches('/')))
            .await;
        found["id"]
            .as_str()
            .unwrap_or_else(|| panic!("realm {} has no group {path}: {found}", self.name))
            .to_owned()
    }

    /// Creates a top-level group `name`; returns its id.
    pub async fn create_group(&self, name: &str) -> String {
        self.call("POST", "groups", Some(&json!({"name": name})))
            .await
            .created_id()
    }

    pub async fn join_group(&self, username: &str, group_path: &str) {
        let (user, group) = (
            self.user_id(username).await,
            self.group_id(group_path).await,
        );
        self.call("PUT", &format!("users/{user}/groups/{group}"), None)
            .await;
    }

    pub async fn leave_group(&self, username: &str, group_path: &str) {
        let (user, group) = (
            self.user_id(username).await,
            self.group_id(group_path).await,
        );
        self.call("DELETE", &format!("users/{user}/groups/{group}"), None)
            .await;
    }

    /// Ends every Keycloak session of `username`, as an admin does in the console
    /// (Keycloak sends back-channel logouts to the clients that ask for them).
    pub async fn logout_user(&self, username: &str) {
        let user = self.user_id(username).await;
        self.call("POST", &format!("users/{user}/logout"), None)
            .await;
    }

    /// `username`'s Keycloak sessions.
    pub async fn sessions(&self, username: &str) -> Vec<Value> {
        let user = self.user_id(username).await;
        self.get(&format!("users/{user}/sessions"))
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Tokens from the realm's token endpoint for `form` (any grant); any status.
    pub async fn token_request(&self, form: &[(&str, &str)]) -> Answer {
        let request = self
            .keycloak
            .http()
            .post(self.oidc_endpoint("token"))
            .form(form);
        self.keycloak.request(request).await
    }

    /// Waits until `check` holds for the realm (polled every 200 ms), or panics with `what`.
    pub async fn wait_until<F, Fut>(&self, what: &str, timeout: Duration, check: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + timeout;
        while !check().await {
            assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Realm {
    /// Deletes the realm from a thread of its own (a drop cannot await), unless the test
    /// failed: then it stays, to be looked at in the admin console.
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "Keycloak realm {} kept for inspection: {}/admin/master/console/#/{}",
                self.name, self.keycloak.url, self.name
            );
            return;
        }
        let keycloak = self.keycloak.clone();
        let name = self.name.clone();
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            // A client of its own: the test's belongs to a runtime that may be shutting down.
            let keycloak = Keycloak {
                http: Keycloak::client(),
                ..keycloak
            };
            runtime.block_on(keycloak.admin("DELETE", &format!("realms/{name}"), None))
        })
        .join();
        match deleted {
            Ok(answer) if answer.status == 204 => {}
            other => eprintln!(
                "Keycloak realm {} could not be deleted: {other:?}",
                self.name
            ),
        }
    }
}

// Bearer tokens, key rotation and misconfigured realms (keycloak_tokens.rs, keycloak_misconfig.rs).

/// Keycloak's consent page's form (`login-actions/consent`; its keycloak.v2 theme gives the
/// form no id): its action and hidden `code`.
pub fn consent_form(page: &super::browser_client::Page) -> Option<super::browser_client::Form> {
    let body = &page.body;
    let action_at = body.find("login-actions/consent")?;
    let start = body[..action_at].rfind('"')? + 1;
    let end = action_at + body[action_at..].find('"')?;
    let action = page
        .url
        .join(&body[start..end].replace("&amp;", "&"))
        .ok()?;
    const CODE: &str = "name=\"code\" value=\"";
    let code_at = end + body[end..].find(CODE)? + CODE.len();
    let code = &body[code_at..code_at + body[code_at..].find('"')?];
    Some(super::browser_client::Form {
        id: String::new(),
        method: "post".into(),
        action,
        fields: vec![("code".into(), code.to_owned())],
    })
}

/// SAML 2.0 against a realm: the shipped SAML client, pointed at a stack of Sekisho's.
impl Realm {
    /// A SAML stack (nginx, Sekisho, the app) signing in at this realm, whose shipped SAML
    /// client (client ID = Sekisho's SP entity ID) is pointed at it; Sekisho ready.
    pub async fn saml_stack(
        &self,
        options: super::saml_stack::SamlStackOptions,
    ) -> super::saml_stack::SamlStack<super::saml_stack::ExternalIdp> {
        let stack =
            super::saml_stack::SamlStack::start_external(options, &self.saml_descriptor()).await;
        self.point_at(&stack.origin(), &format!("http://{}", stack.sekisho.addr()))
            .await;
        // Keycloak knows the SP by its entity ID: the client must be there under Sekisho's.
        self.client_uuid(&stack.sp_entity_id()).await;
        stack
    }

    /// The attributes of the SAML client that stands for `stack` (its client ID is the SP
    /// entity ID), each `(name, value)` set.
    pub async fn set_saml_client_attributes(&self, client_id: &str, attributes: &[(&str, &str)]) {
        self.update_client(client_id, |client| {
            for (name, value) in attributes {
                client["attributes"][*name] = json!(value);
            }
        })
        .await;
    }
}

/// Clients from an SP's own description, as the admin console's "Import client" makes them.
impl Realm {
    /// The client representation Keycloak makes of SAML SP metadata `xml`
    /// (`client-description-converter`), not yet created.
    pub async fn client_from_description(&self, xml: &str) -> Value {
        let token = self.keycloak.admin_token().await;
        let request = self
            .keycloak
            .http
            .post(format!(
                "{}/admin/realms/{}/client-description-converter",
                self.keycloak.url, self.name
            ))
            .bearer_auth(token)
            .header("content-type", "text/plain")
            .body(xml.to_owned());
        let answer = self.keycloak.send(request).await;
        assert_eq!(
            answer.status, 200,
            "Keycloak could not read the SP metadata: {}\n{xml}",
            answer.body
        );
        answer.json()
    }
}

/// For the admin console test (tests/keycloak_console.rs).
impl Keycloak {
    /// The admin account (user, password): the console's sign-in, as the API's.
    pub fn admin_account(&self) -> (&str, &str) {
        (&self.admin.0, &self.admin.1)
    }
}
