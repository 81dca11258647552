//! Keycloak's admin console, photographed for the Keycloak guide (docs/keycloak.md): headless
//! Chromium (tests/peers/browser/console.js) signs in to the console of the run's Keycloak as
//! its admin and opens the pages the guide shows, in a realm of this test's own made from the
//! shipped realm file: the realm's clients, the OpenID Connect client `sekisho` (access,
//! capability and logout settings, credentials, its dedicated mappers and the groups mapper),
//! the SAML client (capabilities and signatures, keys, endpoints, mappers) and the realm's keys.
//! Each page must show what config/keycloak/demo-realm.json says, so the guide's pictures and
//! its words describe the realm that runs; and the certificate Sekisho reads from the realm's
//! SAML descriptor must be the realm's RS256 signing key the keys page lists.
//!
//! With `KEYCLOAK_SCREENSHOTS_DIR=DIR` the pictures are copied into DIR once every check
//! has passed: `scripts/keycloak-screenshots` refreshes docs/images/keycloak/ that way.
//!
//! Needs the run's Keycloak (`./scripts/test` starts one), Chromium and the browser driver;
//! fails, saying how to get them, without.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::browser_driver::{DRIVER_DIR, check_driver, chromium, screenshot_path};
use common::keycloak::{Keycloak, OIDC_CLIENT, Realm, SAML_CLIENT};
use common::process::Process;
use serde_json::{Value, json};

/// Where the pictures go besides the test's own directory, when set.
const SCREENSHOTS_ENV: &str = "KEYCLOAK_SCREENSHOTS_DIR";
/// How long one page may take in the console (it loads each tab's data after routing).
const PAGE_TIMEOUT_MS: u64 = 60_000;
/// How long the whole visit may take: a loaded machine renders the console slowly.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(240);

/// One page of the console to photograph: `route` after the console's `#/`, shown once
/// `wait_text` is; `section` scrolled to the top, `click` (a link) followed first.
struct Page {
    name: &'static str,
    route: String,
    wait_text: &'static str,
    section: Option<&'static str>,
    click: Option<(&'static str, &'static str)>,
    /// Without the console's navigation, for a wide table.
    wide: bool,
}

impl Page {
    fn new(name: &'static str, route: String, wait_text: &'static str) -> Self {
        Self {
            name,
            route,
            wait_text,
            section: None,
            click: None,
            wide: false,
        }
    }

    fn wide(self) -> Self {
        Self { wide: true, ..self }
    }

    fn section(self, heading: &'static str) -> Self {
        Self {
            section: Some(heading),
            ..self
        }
    }

    fn click(self, link: &'static str, then_shown: &'static str) -> Self {
        Self {
            click: Some((link, then_shown)),
            ..self
        }
    }

    fn to_json(&self) -> Value {
        let mut page = json!({
            "name": self.name,
            "route": self.route,
            "wait_text": self.wait_text,
            "wide": self.wide,
        });
        if let Some(section) = self.section {
            page["section"] = json!(section);
        }
        if let Some((link, shown)) = self.click {
            page["click"] = json!(link);
            page["wait_after_click"] = json!(shown);
        }
        page
    }
}

/// The pages the guide shows, in the order it shows them.
async fn pages(realm: &Realm) -> Vec<Page> {
    let r = &realm.name;
    let oidc = realm.client_uuid(OIDC_CLIENT).await;
    let saml = realm.client_uuid(SAML_CLIENT).await;
    vec![
        Page::new("clients", format!("{r}/clients"), OIDC_CLIENT).wide(),
        Page::new(
            "oidc-access",
            format!("{r}/clients/{oidc}/settings"),
            "Access settings",
        )
        .section("Access settings"),
        Page::new(
            "oidc-capability",
            format!("{r}/clients/{oidc}/settings"),
            "Capability config",
        )
        .section("Capability config"),
        Page::new(
            "oidc-logout",
            format!("{r}/clients/{oidc}/settings"),
            "Logout settings",
        )
        .section("Logout settings"),
        Page::new(
            "oidc-credentials",
            format!("{r}/clients/{oidc}/credentials"),
            "Client Authenticator",
        ),
        Page::new(
            "oidc-mappers",
            format!("{r}/clients/{oidc}/clientScopes/dedicated"),
            "Group Membership",
        ),
        Page::new(
            "oidc-groups-mapper",
            format!("{r}/clients/{oidc}/clientScopes/dedicated"),
            "Group Membership",
        )
        .click("groups", "Full group path"),
        Page::new(
            "saml-signature",
            format!("{r}/clients/{saml}/settings"),
            "Signature and Encryption",
        )
        .section("SAML capabilities"),
        Page::new(
            "saml-keys",
            format!("{r}/clients/{saml}/keys"),
            "Client signature required",
        ),
        Page::new(
            "saml-advanced",
            format!("{r}/clients/{saml}/advanced"),
            "Assertion Consumer Service",
        )
        .section("Fine Grain SAML Endpoint Configuration"),
        Page::new(
            "saml-mappers",
            format!("{r}/clients/{saml}/clientScopes/dedicated"),
            "Group list",
        ),
        Page::new("realm-keys", format!("{r}/realm-settings/keys"), "RS256").wide(),
    ]
}

/// What the driver saw on one page.
struct Shown {
    name: String,
    screenshot: PathBuf,
    text: String,
    fields: Vec<Value>,
}

impl Shown {
    fn from_json(page: &Value) -> Self {
        Self {
            name: page["name"].as_str().unwrap_or_default().to_owned(),
            screenshot: PathBuf::from(page["screenshot"].as_str().unwrap_or_default()),
            text: page["text"].as_str().unwrap_or_default().to_owned(),
            fields: page["fields"].as_array().cloned().unwrap_or_default(),
        }
    }

    /// The form field labelled `label`; panics, listing the fields, when there is none.
    fn field(&self, label: &str) -> &Value {
        self.fields
            .iter()
            .find(|f| f["label"].as_str() == Some(label))
            .unwrap_or_else(|| {
                panic!(
                    "the console's page {} should have a field {label:?}; its fields: {:#?}",
                    self.name, self.fields
                )
            })
    }

    fn assert_value(&self, label: &str, expected: &str) {
        assert_eq!(
            self.field(label)["value"].as_str(),
            Some(expected),
            "the console's page {} should show {label} = {expected:?}",
            self.name
        );
    }

    /// A switch or check box `label` is on (`true`) or off.
    fn assert_switch(&self, label: &str, on: bool) {
        assert_eq!(
            self.field(label)["checked"].as_bool(),
            Some(on),
            "the console's page {} should show {label} {}",
            self.name,
            if on { "on" } else { "off" }
        );
    }

    /// The page's text shows `label` with `value` on the next line (a drop-down's choice).
    fn assert_shows(&self, label: &str, value: &str) {
        let lines: Vec<&str> = self
            .text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        assert!(
            lines.windows(2).any(|w| w[0] == label && w[1] == value),
            "the console's page {} should show {label}: {value}; its text:\n{}",
            self.name,
            self.text
        );
    }

    fn assert_contains(&self, expected: &str) {
        assert!(
            self.text.contains(expected),
            "the console's page {} should show {expected:?}; its text:\n{}",
            self.name,
            self.text
        );
    }
}

/// Runs console.js over `pages` as the run's admin; returns what each page showed, by name.
async fn visit(keycloak: &Keycloak, pages: &[Page]) -> Vec<Shown> {
    let chromium = chromium();
    check_driver();
    let out_dir = screenshot_path("keycloak_console", "pages");
    let (user, password) = keycloak.admin_account();
    let args = json!({
        "keycloak": keycloak.url,
        "username": user,
        "password": password,
        "out_dir": out_dir,
        "timeout_ms": PAGE_TIMEOUT_MS,
        "pages": pages.iter().map(Page::to_json).collect::<Vec<_>>(),
    });
    let mut command = Command::new("node");
    command
        .arg(Path::new(DRIVER_DIR).join("console.js"))
        .arg(args.to_string())
        .current_dir(DRIVER_DIR)
        .env("CHROMIUM_BINARY", chromium);
    let mut driver = Process::spawn("browser driver (console.js)", command);
    let line = driver
        .wait_for_line("its result line", DRIVER_TIMEOUT, |line| {
            line.starts_with("{\"result\"")
        })
        .await;
    let result: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("the driver's result is not JSON ({e}): {line}"));
    let result = &result["result"];
    assert_eq!(
        result["ok"].as_bool(),
        Some(true),
        "Chromium should sign in to the admin console and open every page: {}\nthe driver's output:\n{}",
        result["error"],
        driver.output().text()
    );
    let shown: Vec<Shown> = result["pages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(Shown::from_json)
        .collect();
    let names: Vec<&str> = shown.iter().map(|s| s.name.as_str()).collect();
    let asked: Vec<&str> = pages.iter().map(|p| p.name).collect();
    assert_eq!(
        names, asked,
        "the driver should report every page, in order"
    );
    shown
}

/// The shipped realm's client `client_id`, as the file has it.
fn shipped_client(client_id: &str) -> Value {
    let realm = Keycloak::shipped_realm();
    realm["clients"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["clientId"] == client_id)
        .cloned()
        .unwrap_or_else(|| panic!("the realm file has no client {client_id}"))
}

fn attribute<'a>(client: &'a Value, name: &str) -> &'a str {
    client["attributes"][name]
        .as_str()
        .unwrap_or_else(|| panic!("the realm file's client has no attribute {name}"))
}

fn assert_oidc_client(shown: &[Shown]) {
    let client = shipped_client(OIDC_CLIENT);
    let page = |name: &str| shown.iter().find(|s| s.name == name).expect("the page");

    let access = page("oidc-access");
    access.assert_value("Client ID", OIDC_CLIENT);
    access.assert_value(
        "Valid redirect URIs",
        client["redirectUris"][0].as_str().unwrap_or_default(),
    );
    access.assert_value(
        "Valid post logout redirect URIs",
        attribute(&client, "post.logout.redirect.uris"),
    );

    let capability = page("oidc-capability");
    capability.assert_switch("Client authentication", true);
    capability.assert_switch("Standard flow", true);
    capability.assert_switch("Implicit flow", false);
    capability.assert_switch("Direct access grants", false);
    capability.assert_shows(
        "PKCE Method",
        attribute(&client, "pkce.code.challenge.method"),
    );

    let logout = page("oidc-logout");
    logout.assert_switch("Front channel logout", false);
    logout.assert_value(
        "Backchannel logout URL",
        attribute(&client, "backchannel.logout.url"),
    );
    logout.assert_switch("Backchannel logout session required", true);

    let credentials = page("oidc-credentials");
    credentials.assert_contains("Client Id and Secret");
    credentials.assert_value(
        "Client Secret",
        client["secret"].as_str().unwrap_or_default(),
    );

    let mappers = page("oidc-mappers");
    mappers.assert_contains("groups");
    mappers.assert_contains("Group Membership");

    let groups = page("oidc-groups-mapper");
    groups.assert_value("Token Claim Name", "groups");
    for switch in [
        "Full group path",
        "Add to ID token",
        "Add to access token",
        "Add to userinfo",
    ] {
        groups.assert_switch(switch, true);
    }
}

fn assert_saml_client(shown: &[Shown]) {
    let client = shipped_client(SAML_CLIENT);
    let page = |name: &str| shown.iter().find(|s| s.name == name).expect("the page");

    let signature = page("saml-signature");
    signature.assert_value("Client ID", SAML_CLIENT);
    signature.assert_shows("Name ID format", attribute(&client, "saml_name_id_format"));
    signature.assert_switch("Force name ID format", true);
    signature.assert_switch("Force POST binding", true);
    signature.assert_switch("Sign documents", true);
    signature.assert_switch("Sign assertions", false);
    signature.assert_shows(
        "Signature algorithm",
        attribute(&client, "saml.signature.algorithm"),
    );

    page("saml-keys").assert_switch("Client signature required", false);

    let advanced = page("saml-advanced");
    advanced.assert_value(
        "Assertion Consumer Service POST Binding URL",
        attribute(&client, "saml_assertion_consumer_url_post"),
    );
    advanced.assert_value(
        "Logout Service Redirect Binding URL",
        attribute(&client, "saml_single_logout_service_url_redirect"),
    );

    let mappers = page("saml-mappers");
    for mapper in client["protocolMappers"].as_array().into_iter().flatten() {
        mappers.assert_contains(mapper["name"].as_str().unwrap_or_default());
    }
    mappers.assert_contains("Group list");
}

/// The keys page lists the realm's RS256 key, and its certificate is the one in the realm's
/// SAML descriptor, which Sekisho reads to check the signatures of Keycloak's responses.
async fn assert_realm_keys(realm: &Realm, shown: &[Shown]) {
    let keys = realm.get("keys").await;
    let rs256 = keys["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["algorithm"] == "RS256" && k["use"] == "SIG")
        .unwrap_or_else(|| {
            panic!(
                "realm {} should have an RS256 signing key: {keys}",
                realm.name
            )
        });
    let page = shown
        .iter()
        .find(|s| s.name == "realm-keys")
        .expect("the page");
    page.assert_contains(rs256["kid"].as_str().unwrap_or_default());

    let descriptor = realm
        .keycloak
        .request(realm.keycloak.http().get(realm.saml_descriptor()))
        .await;
    assert_eq!(
        descriptor.status, 200,
        "the SAML descriptor: {descriptor:?}"
    );
    let certificate = descriptor
        .body
        .split("X509Certificate>")
        .nth(1)
        .and_then(|c| c.split('<').next())
        .unwrap_or_else(|| panic!("the descriptor names no certificate: {}", descriptor.body));
    let squeeze = |s: &str| s.split_whitespace().collect::<String>();
    assert_eq!(
        squeeze(certificate),
        squeeze(rs256["certificate"].as_str().unwrap_or_default()),
        "the SAML descriptor's signing certificate should be the realm's RS256 key's"
    );
}

/// Copies the pictures into `KEYCLOAK_SCREENSHOTS_DIR`, when set, and removes the PNGs
/// there that are no page's any more (a page renamed or dropped).
fn publish(shown: &[Shown]) {
    let Some(dir) = std::env::var_os(SCREENSHOTS_ENV).map(PathBuf::from) else {
        return;
    };
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let names: Vec<String> = shown.iter().map(|p| format!("{}.png", p.name)).collect();
    for old in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = old.file_name().to_string_lossy().into_owned();
        if name.ends_with(".png") && !names.contains(&name) {
            let _ = std::fs::remove_file(old.path());
        }
    }
    for page in shown {
        let target = dir.join(format!("{}.png", page.name));
        std::fs::copy(&page.screenshot, &target).unwrap_or_else(|e| {
            panic!(
                "copying {} to {}: {e}",
                page.screenshot.display(),
                target.display()
            )
        });
        eprintln!("wrote {}", target.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_console_shows_the_shipped_clients_as_the_keycloak_guide_describes_them() {
    let keycloak = Keycloak::shared();
    let realm = keycloak.create_realm("console", |_| {}).await;
    let pages = pages(&realm).await;
    let shown = visit(&keycloak, &pages).await;

    let clients = &shown[0];
    clients.assert_contains(OIDC_CLIENT);
    clients.assert_contains(SAML_CLIENT);
    assert_oidc_client(&shown);
    assert_saml_client(&shown);
    assert_realm_keys(&realm, &shown).await;
    for page in &shown {
        assert!(
            page.screenshot.is_file(),
            "the driver should have saved {}",
            page.screenshot.display()
        );
    }
    publish(&shown);
}
