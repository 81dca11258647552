//! SAML 2.0 against the real Keycloak (the run's, see `tests/common/keycloak.rs`): sign-in on
//! Keycloak's own page, the ways Keycloak signs its documents, single logout in both
//! directions and the client misconfigured as users do, through nginx
//! (`config/nginx/saml.conf`) and Sekisho, each test in a realm of its own made from
//! `config/keycloak/demo-realm.json` (whose SAML client's ID is Sekisho's SP entity ID).
//!
//! Needs the run's Keycloak (`./scripts/test` starts one), and for the sign-in in a real
//! browser Chromium and the browser driver; fails, saying how to get them, without.

mod common;

use common::browser_client::{Browser, Page};
use common::browser_driver::{exactly, run_driver, screenshot_path};
use common::keycloak::{Keycloak, Realm};
use common::saml_stack::{ExternalIdp, SamlStack, SamlStackOptions, saml_post_form};
use common::saml_xml;
use serde_json::{Value, json};

type KeycloakStack = SamlStack<ExternalIdp>;

const ALICE: (&str, &str) = ("alice", "alice-password");

/// Signs `user` in with Chromium at `path` on the stack, on Keycloak's sign-in page; returns
/// the driver's result (page text, cookies), asserting it came back to `path`.
async fn chromium_sign_in(
    stack: &KeycloakStack,
    path: &str,
    user: (&str, &str),
    shot: &str,
) -> Value {
    let target = stack.url(path);
    let screenshot = screenshot_path("keycloak_saml", &format!("{shot}.png"));
    let result = run_driver(&json!({
        "start_url": target,
        "username": user.0,
        "password": user.1,
        "expect_url": exactly(&target),
        "screenshot": screenshot,
        "timeout_ms": 40_000,
    }))
    .await;
    assert_eq!(
        (result["ok"].as_bool(), result["final_url"].as_str()),
        (Some(true), Some(target.as_str())),
        "Chromium should sign {} in at Keycloak and land on {target}; the driver reported:\n{}\n\
         Sekisho's log:\n{}",
        user.0,
        serde_json::to_string_pretty(&result).unwrap_or_default(),
        stack.sekisho_log_excerpt("saml")
    );
    result
}

/// Asserts that the app's echo `text` has every line of `expected`.
fn assert_lines(text: &str, expected: &[&str]) {
    for line in expected {
        assert!(
            text.lines().any(|l| l == *line),
            "the app's page should show {line:?}:\n{text}"
        );
    }
}

/// Sekisho's log lines containing `needle`, once there are at least `count` of them (its
/// output is read by another thread, so a line may follow the response it was written for).
async fn log_lines(stack: &KeycloakStack, needle: &str, count: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let lines: Vec<String> = stack
            .sekisho
            .output()
            .lines()
            .into_iter()
            .filter(|l| l.contains(needle))
            .collect();
        if lines.len() >= count {
            return lines;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Sekisho should have logged {count} line(s) with {needle:?}:\n{}",
            stack.sekisho_log_excerpt("saml")
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A realm of the test's own and a stack signing in at it.
async fn realm_and_stack(prefix: &str, options: SamlStackOptions) -> (Realm, KeycloakStack) {
    let realm = Keycloak::shared().create_realm(prefix, |_| {}).await;
    let stack = realm.saml_stack(options).await;
    (realm, stack)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_at_keycloak_over_saml_and_the_app_gets_alices_attributes() {
    let (realm, stack) = realm_and_stack("saml-signin", SamlStackOptions::default()).await;

    let result = chromium_sign_in(&stack, "/admin/page?x=1", ALICE, "alice-signed-in").await;
    let text = result["text"].as_str().unwrap_or_default();
    // The realm's mappers: username and email as Basic attributes, groups with full path.
    assert_lines(
        text,
        &[
            "GET /admin/page?x=1",
            "X-Auth-Request-User: alice",
            "X-Auth-Request-Email: alice@example.com",
            "X-Auth-Request-Groups: /admins",
        ],
    );
    let navigations = result["navigations"].to_string();
    assert!(
        navigations.contains(&format!("{}/protocol/saml", realm.issuer())),
        "Chromium should have been at Keycloak's SAML endpoint: {navigations}"
    );
    assert_eq!(
        realm.sessions("alice").await.len(),
        1,
        "alice has one Keycloak session"
    );
}

/// The scripted browser, taking Keycloak's plain-http origin for a secure context as Chromium
/// does (Keycloak's cookies are `Secure; SameSite=None` even over http).
fn browser(realm: &Realm) -> Browser {
    Browser::new().with_secure_origin(&realm.keycloak.url)
}

/// A sign-in in the scripted browser stopped at Keycloak's auto-submitting form: the page
/// showing it and the SAMLResponse XML it carries.
struct KeycloakPost {
    page: Page,
    xml: String,
}

/// Opens `path` in `browser` and signs `user` in on Keycloak's form, up to the
/// auto-submitting SAMLResponse form (nothing posted to the ACS yet); `None` when Keycloak
/// shows no such form (the page it showed instead comes back as the error).
async fn keycloak_sign_in(
    stack: &KeycloakStack,
    browser: &Browser,
    path: &str,
    user: (&str, &str),
) -> Result<KeycloakPost, Page> {
    let first = browser.navigate(&stack.url(path)).await;
    if first.login_form().is_none() {
        return Err(first);
    }
    let page = browser.sign_in(&first, user.0, user.1).await;
    let Some(form) = saml_post_form(&page) else {
        return Err(page);
    };
    let encoded = form.field("SAMLResponse").unwrap_or_default();
    let xml = saml_xml::post_message(encoded)
        .unwrap_or_else(|e| panic!("Keycloak's SAMLResponse does not decode: {e}"));
    Ok(KeycloakPost { page, xml })
}

/// Posts Keycloak's auto-submitting form as the browser does, following redirects.
async fn submit_post(browser: &Browser, post: &KeycloakPost) -> Page {
    let form = saml_post_form(&post.page).expect("the auto-submitting form");
    browser.submit_until(&form, &[], |_| false).await
}

/// The whole scripted sign-in; panics unless it ends at `path` with 200.
async fn scripted_sign_in(
    stack: &KeycloakStack,
    browser: &Browser,
    path: &str,
    user: (&str, &str),
) -> (KeycloakPost, Page) {
    let post = keycloak_sign_in(stack, browser, path, user)
        .await
        .unwrap_or_else(|page| {
            panic!(
                "signing {} in at Keycloak should end at its SAMLResponse form:\n{}",
                user.0,
                page.describe()
            )
        });
    let page = submit_post(browser, &post).await;
    assert_eq!(
        (page.status, page.url.as_str()),
        (200, stack.url(path).as_str()),
        "after Keycloak's SAMLResponse the browser should be back at {path}:\n{}\n{}\n{}",
        page.describe(),
        post.xml,
        stack.sekisho_log_excerpt("saml")
    );
    (post, page)
}

/// Where the SAMLResponse `xml` carries an XML signature: on the Response (a Signature
/// before the Assertion) and on the Assertion (one inside it).
fn signatures(xml: &str) -> (bool, bool) {
    const NAME: &str = ":Signature";
    let assertion = xml.find(":Assertion ").or_else(|| xml.find("<Assertion "));
    // Opening `<prefix:Signature ...>` tags: not `</...>`, not `:SignatureValue`.
    let signature_at: Vec<usize> = xml
        .match_indices(NAME)
        .map(|(i, _)| i)
        .filter(|&i| matches!(xml.as_bytes().get(i + NAME.len()), Some(b' ' | b'>')))
        .filter(|&i| {
            xml[..i]
                .rfind('<')
                .is_some_and(|lt| xml.as_bytes().get(lt + 1) != Some(&b'/'))
        })
        .collect();
    match assertion {
        Some(a) => (
            signature_at.iter().any(|i| *i < a),
            signature_at.iter().any(|i| *i > a),
        ),
        None => (!signature_at.is_empty(), false),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_way_keycloak_signs_its_response_signs_in_and_an_unsigned_one_is_refused() {
    let (realm, stack) = realm_and_stack("saml-signing", SamlStackOptions::default()).await;
    let client = stack.sp_entity_id();
    // (saml.server.signature, saml.assertion.signature): the realm file's first.
    for (response, assertion) in [("true", "false"), ("false", "true"), ("true", "true")] {
        realm
            .set_saml_client_attributes(
                &client,
                &[
                    ("saml.server.signature", response),
                    ("saml.assertion.signature", assertion),
                ],
            )
            .await;
        let browser = browser(&realm);
        let (post, page) = scripted_sign_in(&stack, &browser, "/page", ALICE).await;
        assert_eq!(
            signatures(&post.xml),
            (response == "true", assertion == "true"),
            "Keycloak with server signature {response}, assertion signature {assertion} \
             should sign exactly that:\n{}",
            post.xml
        );
        assert_lines(&page.body, &["X-Auth-Request-User: alice"]);
    }

    realm
        .set_saml_client_attributes(
            &client,
            &[
                ("saml.server.signature", "false"),
                ("saml.assertion.signature", "false"),
            ],
        )
        .await;
    let browser = browser(&realm);
    let post = keycloak_sign_in(&stack, &browser, "/page", ALICE)
        .await
        .unwrap_or_else(|page| panic!("Keycloak should still answer:\n{}", page.describe()));
    assert_eq!(signatures(&post.xml), (false, false), "{}", post.xml);
    let page = submit_post(&browser, &post).await;
    assert_eq!(
        page.status,
        400,
        "an unsigned SAMLResponse must be refused:\n{}",
        page.describe()
    );
    assert!(
        page.body.contains("the response is not signed"),
        "the refusal should say why:\n{}",
        page.describe()
    );
    let log = log_lines(&stack, "signs neither", 1).await.join("\n");
    assert!(
        log.contains("Sign documents") && log.contains("saml.assertion.signature"),
        "Sekisho's log should name Keycloak's settings:\n{log}"
    );
    stack
        .assert_no_session(&browser, "after an unsigned response")
        .await;
}

/// The first hop of `page` at `path` whose query has `parameter`.
fn hop_with<'a>(
    page: &'a Page,
    path: &str,
    parameter: &str,
) -> Option<&'a common::browser_client::Hop> {
    page.hops
        .iter()
        .find(|h| h.url.path() == path && h.query(parameter).is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_at_sekisho_ends_alices_keycloak_session_by_a_logout_request() {
    let (realm, stack) = realm_and_stack("saml-sp-slo", SamlStackOptions::default()).await;
    let browser = browser(&realm);
    scripted_sign_in(&stack, &browser, "/page", ALICE).await;
    assert_eq!(
        realm.sessions("alice").await.len(),
        1,
        "signed in at Keycloak"
    );

    let page = browser
        .navigate(&stack.url("/oauth2/sign_out?rd=/bye"))
        .await;
    let keycloak_path = format!("/realms/{}/protocol/saml", realm.name);
    assert!(
        hop_with(&page, &keycloak_path, "SAMLRequest").is_some(),
        "Sekisho's sign-out should send a LogoutRequest to Keycloak's SLO endpoint:\n{}",
        page.describe()
    );
    let back = hop_with(&page, "/saml/slo", "SAMLResponse").unwrap_or_else(|| {
        panic!(
            "Keycloak should answer with a LogoutResponse to Sekisho's /saml/slo:\n{}",
            page.describe()
        )
    });
    assert_eq!(
        (back.status, back.location.as_deref()),
        (302, Some("/bye")),
        "Sekisho should take Keycloak's LogoutResponse and go on to rd:\n{}\n{}",
        page.describe(),
        stack.sekisho_log_excerpt("logout")
    );
    // /bye is behind Sekisho too: a new sign-in, which Keycloak must ask a password for.
    assert!(
        page.login_form().is_some(),
        "without a Keycloak session, signing in again shows Keycloak's form:\n{}",
        page.describe()
    );
    assert_eq!(
        realm.sessions("alice").await,
        Vec::<Value>::new(),
        "Keycloak's session ended"
    );
    stack.assert_no_session(&browser, "after signing out").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_at_keycloak_ends_the_sekisho_session_by_a_front_channel_logout_request() {
    let (realm, stack) = realm_and_stack("saml-idp-slo", SamlStackOptions::default()).await;
    let browser = browser(&realm);
    scripted_sign_in(&stack, &browser, "/page", ALICE).await;
    assert_eq!(
        stack.auth(&browser).await.status,
        202,
        "signed in at Sekisho"
    );

    // The user signs out at Keycloak in the same browser: its end-session endpoint asks to
    // confirm, then logs every client of the session out, SAML ones by front channel.
    let page = sign_out_at_keycloak(&realm, &browser).await;
    let request = hop_with(&page, "/saml/slo", "SAMLRequest").unwrap_or_else(|| {
        panic!(
            "Keycloak should send a LogoutRequest to Sekisho's /saml/slo (redirect binding):\n{}",
            page.describe()
        )
    });
    assert!(
        request.query("Signature").is_some(),
        "Keycloak signs its LogoutRequest (saml.server.signature): {}",
        request.url
    );
    let answered = request.location.as_deref().unwrap_or_default();
    assert!(
        request.status == 302
            && answered.starts_with(&format!("{}/protocol/saml?SAMLResponse=", realm.issuer())),
        "Sekisho should answer with a LogoutResponse to Keycloak's SLO endpoint:\n{}\n{}",
        page.describe(),
        stack.sekisho_log_excerpt("logout")
    );
    assert_eq!(
        page.status,
        200,
        "Keycloak's logged-out page:\n{}",
        page.describe()
    );
    log_lines(&stack, "IdP ended the session", 1).await;
    assert_eq!(
        realm.sessions("alice").await,
        Vec::<Value>::new(),
        "Keycloak's session ended"
    );
    stack
        .assert_no_session(&browser, "after signing out at Keycloak")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_signature_required_without_a_key_shows_keycloaks_invalid_requester_and_sekisho_names_the_setting()
 {
    let (realm, stack) = realm_and_stack("saml-client-sig", SamlStackOptions::default()).await;
    // Keycloak's realm descriptor asks for signed requests whatever the client says; Sekisho,
    // with no key of its own, says once at start which Keycloak setting that is about.
    let note = log_lines(&stack, "WantAuthnRequestsSigned", 1)
        .await
        .join("\n");
    assert!(
        note.contains("Client signature required") && note.contains("saml.sp_key_file"),
        "the note should name Keycloak's setting and Sekisho's: {note}"
    );

    realm
        .set_saml_client_attributes(&stack.sp_entity_id(), &[("saml.client.signature", "true")])
        .await;
    let browser = browser(&realm);
    let page = browser.navigate(&stack.url("/page")).await;
    let error = page.element_text("kc-error-message").unwrap_or_default();
    assert!(
        page.status == 400 && error.contains("Invalid requester"),
        "Keycloak refuses the unsigned AuthnRequest on a page of its own:\n{}",
        page.describe()
    );
    assert!(
        page.hop("/saml/acs").is_none(),
        "Keycloak sends Sekisho nothing back:\n{}",
        page.describe()
    );

    // The way out the note names: the setting off again, and the sign-in works.
    realm
        .set_saml_client_attributes(&stack.sp_entity_id(), &[("saml.client.signature", "false")])
        .await;
    scripted_sign_in(&stack, &self::browser(&realm), "/page", ALICE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_denied_at_keycloak_is_a_clear_refusal_naming_keycloaks_status() {
    let (realm, stack) = realm_and_stack("saml-consent", SamlStackOptions::default()).await;
    realm
        .update_client(&stack.sp_entity_id(), |client| {
            client["consentRequired"] = json!(true)
        })
        .await;
    let browser = browser(&realm);
    let first = browser.navigate(&stack.url("/page")).await;
    let page = browser.sign_in(&first, ALICE.0, ALICE.1).await;
    let consent = common::saml_stack::forms(&page.body, &page.url)
        .into_iter()
        .find(|f| f.action.path().ends_with("/login-actions/consent"))
        .unwrap_or_else(|| panic!("Keycloak should ask for consent:\n{}", page.describe()));
    let denied = browser
        .submit_until(&consent, &[("cancel", "No")], |_| false)
        .await;
    let form = saml_post_form(&denied).unwrap_or_else(|| {
        panic!(
            "Keycloak should post its refusal to Sekisho's ACS:\n{}",
            denied.describe()
        )
    });
    let xml = saml_xml::post_message(form.field("SAMLResponse").unwrap_or_default())
        .expect("the SAMLResponse decodes");
    assert!(
        xml.contains("status:Responder") && xml.contains("status:RequestDenied"),
        "Keycloak's refusal is Responder/RequestDenied:\n{xml}"
    );
    let answer = browser.submit_until(&form, &[], |_| false).await;
    assert_eq!(answer.status, 400, "{}", answer.describe());
    assert!(
        answer
            .body
            .contains("the identity provider refused the sign-in (Responder/RequestDenied)"),
        "Sekisho's page should say the IdP refused, with its status:\n{}",
        answer.describe()
    );
    let log = log_lines(&stack, "the IdP refused the sign-in", 1)
        .await
        .join("\n");
    assert!(
        log.contains("consent"),
        "Sekisho's log should say what RequestDenied means at Keycloak:\n{log}"
    );
    stack
        .assert_no_session(&browser, "after consent denied")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak_forces_the_clients_name_id_format_and_otherwise_gives_the_one_sekisho_asks_for() {
    let (realm, stack) = realm_and_stack("saml-name-id", SamlStackOptions::default()).await;
    let client = stack.sp_entity_id();
    const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
    const EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
    // (client's format, forced, the format Keycloak then uses); Sekisho asks for persistent.
    for (format, force, expected) in [
        ("persistent", "true", PERSISTENT),
        ("email", "true", EMAIL),
        ("email", "false", PERSISTENT),
    ] {
        realm
            .set_saml_client_attributes(
                &client,
                &[
                    ("saml_name_id_format", format),
                    ("saml_force_name_id_format", force),
                ],
            )
            .await;
        let browser = browser(&realm);
        let (post, page) = scripted_sign_in(&stack, &browser, "/page", ALICE).await;
        let name_id = name_id(&post.xml);
        assert_eq!(
            name_id.0, expected,
            "client format {format}, forced {force}: the NameID Keycloak gave:\n{}",
            post.xml
        );
        if expected == EMAIL {
            assert_eq!(name_id.1, "alice@example.com");
        }
        // The username attribute, not the NameID, is the user, whatever the format.
        assert_lines(&page.body, &["X-Auth-Request-User: alice"]);
        // Signing out names the user as Keycloak did; its session must end.
        browser
            .navigate(&stack.url("/oauth2/sign_out?rd=/bye"))
            .await;
        assert_eq!(
            realm.sessions("alice").await,
            Vec::<Value>::new(),
            "signing out after a {expected} NameID should end Keycloak's session"
        );
    }
}

/// The Format and value of the assertion's NameID in `xml`.
fn name_id(xml: &str) -> (String, String) {
    let start = xml
        .find(":NameID ")
        .unwrap_or_else(|| panic!("no NameID:\n{xml}"));
    let element = &xml[start..];
    let format = element
        .split("Format=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default();
    let value = element
        .split_once('>')
        .and_then(|(_, rest)| rest.split('<').next())
        .unwrap_or_default();
    (format.to_owned(), value.to_owned())
}

/// Replaces the realm file's SAML client by the one Keycloak makes of Sekisho's own SP
/// metadata (`/saml/metadata`), as "Import client" in the admin console does; returns it.
async fn import_sp_metadata(realm: &Realm, stack: &KeycloakStack) -> Value {
    let metadata = stack.sekisho_get("/saml/metadata", &[]).await;
    assert_eq!(metadata.status, 200, "Sekisho's SP metadata: {metadata:?}");
    let shipped = realm.client_uuid(&stack.sp_entity_id()).await;
    realm
        .call("DELETE", &format!("clients/{shipped}"), None)
        .await;
    let client = realm.client_from_description(&metadata.body).await;
    assert_eq!(
        client["clientId"].as_str(),
        Some(stack.sp_entity_id().as_str()),
        "Keycloak takes the entity ID for the client ID: {client}"
    );
    let id = realm.create_client(&client).await;
    realm.get(&format!("clients/{id}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sp_metadata_without_a_key_imported_into_keycloak_needs_client_signature_turned_off() {
    let (realm, stack) = realm_and_stack("saml-import", SamlStackOptions::default()).await;
    let metadata = stack.sekisho_get("/saml/metadata", &[]).await.body;
    assert!(
        metadata.contains(r#"AuthnRequestsSigned="false""#),
        "{metadata}"
    );
    let client = import_sp_metadata(&realm, &stack).await;
    // Keycloak ignores AuthnRequestsSigned="false": the imported client requires signed
    // requests (and holds a key pair Keycloak made up for it).
    assert_eq!(
        client["attributes"]["saml.client.signature"].as_str(),
        Some("true"),
        "{client}"
    );
    let page = browser(&realm).navigate(&stack.url("/page")).await;
    assert!(
        page.status == 400
            && page
                .element_text("kc-error-message")
                .unwrap_or_default()
                .contains("Invalid requester"),
        "Keycloak refuses Sekisho's unsigned AuthnRequest:\n{}",
        page.describe()
    );

    realm
        .set_saml_client_attributes(&stack.sp_entity_id(), &[("saml.client.signature", "false")])
        .await;
    scripted_sign_in(&stack, &browser(&realm), "/page", ALICE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sp_metadata_with_a_key_imported_into_keycloak_signs_in_and_out_with_signed_requests() {
    let keys = common::saml_forge::KeyPair::generate("sekisho-sp");
    let options = SamlStackOptions::default()
        .set("saml.sp_key_file", keys.key_path.display().to_string())
        .set("saml.sp_cert_file", keys.cert_path.display().to_string());
    let (realm, stack) = realm_and_stack("saml-import-key", options).await;
    let client = import_sp_metadata(&realm, &stack).await;
    let cert_pem = std::fs::read_to_string(&keys.cert_path).expect("the SP certificate");
    let cert_body: String = cert_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let metadata = stack.sekisho_get("/saml/metadata", &[]).await.body;
    assert!(
        metadata.contains(&cert_body) && metadata.contains(r#"AuthnRequestsSigned="true""#),
        "the SP metadata should carry the signing certificate and announce signed requests:\n{metadata}"
    );
    assert_eq!(
        (
            client["attributes"]["saml.client.signature"].as_str(),
            client["attributes"]["saml.signing.certificate"].as_str()
        ),
        (Some("true"), Some(cert_body.as_str())),
        "Keycloak takes Sekisho's certificate from its metadata to verify its requests: {client}"
    );

    // Keycloak requires the signature, so signing in proves it verified.
    let browser = browser(&realm);
    scripted_sign_in(&stack, &browser, "/page", ALICE).await;
    assert_eq!(realm.sessions("alice").await.len(), 1);
    let page = browser
        .navigate(&stack.url("/oauth2/sign_out?rd=/bye"))
        .await;
    assert!(
        hop_with(&page, "/saml/slo", "SAMLResponse").is_some(),
        "Keycloak should accept Sekisho's signed LogoutRequest and answer:\n{}",
        page.describe()
    );
    assert_eq!(
        realm.sessions("alice").await,
        Vec::<Value>::new(),
        "Keycloak's session ended by the signed LogoutRequest"
    );
}

/// Signs `browser` out at Keycloak (its end-session endpoint, confirmed), following every
/// loopback redirect; returns the last page.
async fn sign_out_at_keycloak(realm: &Realm, browser: &Browser) -> Page {
    let ask = browser.navigate(&realm.oidc_endpoint("logout")).await;
    let confirm = common::saml_stack::forms(&ask.body, &ask.url)
        .into_iter()
        .find(|f| f.action.path().ends_with("/logout-confirm"))
        .unwrap_or_else(|| {
            panic!(
                "Keycloak should ask to confirm the logout:\n{}",
                ask.describe()
            )
        });
    browser
        .submit_until(&confirm, &[("confirmLogout", "Logout")], |_| false)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_only_assertions_signed_keycloaks_unsigned_logout_messages_are_refused_naming_sign_documents()
 {
    let (realm, stack) = realm_and_stack("saml-slo-unsigned", SamlStackOptions::default()).await;
    realm
        .set_saml_client_attributes(
            &stack.sp_entity_id(),
            &[
                ("saml.server.signature", "false"),
                ("saml.assertion.signature", "true"),
            ],
        )
        .await;
    // Sekisho's log names Keycloak's setting for each refusal (`count` so far).
    let hint = |count: usize| {
        let stack = &stack;
        async move {
            let log = log_lines(stack, "logout message is unsigned", count).await;
            assert!(
                log.iter()
                    .all(|l| l.contains("Sign documents") && l.contains("saml.server.signature")),
                "Sekisho's log should name Keycloak's setting:\n{}",
                log.join("\n")
            );
        }
    };

    // Signing out here: Keycloak ends its session, but its LogoutResponse is unsigned, so
    // the way back to rd is refused (the session here ended before).
    let browser = browser(&realm);
    scripted_sign_in(&stack, &browser, "/page", ALICE).await;
    let page = browser
        .navigate(&stack.url("/oauth2/sign_out?rd=/bye"))
        .await;
    let back = hop_with(&page, "/saml/slo", "SAMLResponse")
        .unwrap_or_else(|| panic!("Keycloak should answer:\n{}", page.describe()));
    assert!(
        back.status == 400 && back.query("Signature").is_none(),
        "an unsigned LogoutResponse is refused:\n{}",
        page.describe()
    );
    hint(1).await;
    assert_eq!(realm.sessions("alice").await, Vec::<Value>::new());
    stack.assert_no_session(&browser, "after signing out").await;

    // Signing out at Keycloak: its LogoutRequest is unsigned, so Sekisho ends nothing.
    let browser = self::browser(&realm);
    scripted_sign_in(&stack, &browser, "/page", ALICE).await;
    let page = sign_out_at_keycloak(&realm, &browser).await;
    let request = hop_with(&page, "/saml/slo", "SAMLRequest")
        .unwrap_or_else(|| panic!("Keycloak should send a LogoutRequest:\n{}", page.describe()));
    assert!(
        request.status == 400 && request.query("Signature").is_none(),
        "an unsigned LogoutRequest is refused:\n{}",
        page.describe()
    );
    assert_eq!(
        stack.auth(&browser).await.status,
        202,
        "a refused LogoutRequest ends nothing"
    );
    hint(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bob_of_dev_signed_in_over_saml_is_refused_where_only_admins_may_go() {
    let (realm, stack) = realm_and_stack("saml-groups", SamlStackOptions::default()).await;
    let browser = browser(&realm);
    let post = keycloak_sign_in(&stack, &browser, "/admin/page", ("bob", "bob-password"))
        .await
        .unwrap_or_else(|page| panic!("bob signs in at Keycloak:\n{}", page.describe()));
    assert!(
        post.xml.contains(">/dev<")
            && post.xml.contains(
                r#"Name="groups" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic""#
            ),
        "the realm's group mapper sends the full path, as a Basic attribute:\n{}",
        post.xml
    );
    let page = submit_post(&browser, &post).await;
    assert_eq!(
        (page.status, page.url.as_str()),
        (403, stack.url("/admin/page").as_str()),
        "bob is signed in but not in /admins:\n{}",
        page.describe()
    );
    let page = browser.navigate(&stack.url("/page")).await;
    assert_lines(
        &page.body,
        &["X-Auth-Request-User: bob", "X-Auth-Request-Groups: /dev"],
    );
}
