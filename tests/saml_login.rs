//! SAML 2.0 sign-in against the lookalike IdP (SimpleSAMLphp under `php -S`,
//! `tests/peers/saml`), for what Keycloak cannot be made to do: Responses and logout messages
//! forged, altered, re-signed, replayed, unsolicited or wrapped, IdP metadata without a
//! certificate, and Sekisho's own messages (AuthnRequest, LogoutRequest, LogoutResponse, SP
//! metadata) checked field by field. A scripted browser (cookie jar, redirects followed by
//! hand, forms submitted as a browser would, the HTTP-POST binding's auto-submitting form
//! included) → nginx (`config/nginx/saml.conf`, `auth_request`) → Sekisho → the IdP → back.
//! Each test starts its own IdP, Sekisho, nginx and app on loopback ports
//! (`tests/common/saml_stack.rs`) and stops them all when it ends.
//!
//! The ACS under attack: Responses altered after signing, unsigned, signed by another key,
//! re-signed with the IdP's own key after a semantic edit (so only that check can catch it),
//! replayed, unsolicited, wrapped, SHA-1-signed, with a comment inside a signed value. Every
//! refusal must be a 400 without a session cookie, and Sekisho must log why.
//!
//! What Keycloak does itself (its ways of signing, single logout both ways, signed requests,
//! NameID formats, consent, groups) is tested in `tests/keycloak_saml.rs`; that is the test
//! that counts there.
//!
//! Users (the IdP's README): alice / alice-password in `/admins` and `/dev`, bob /
//! bob-password in `/dev`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::browser_client::{Browser, Page, is_session_cookie};
use common::oidc_provider::{OidcOptions, OidcProvider};
use common::problems::Problems;
use common::process::Process;
use common::saml_forge::{
    self, KeyPair, LogoutRequestForge, RedirectQuery, element, element_range, forged_assertion,
    remove_attribute, replace_all, replace_once, resign, set_attribute, strip_signatures,
};
use common::saml_idp::{
    ALICE, ALICE_NAME_ID, BINDING_POST, BINDING_REDIRECT, BOB, BOB_NAME_ID, NAMEID_PERSISTENT,
    RSA_SHA1, RSA_SHA256, SamlIdpOptions, SignWhat,
};
use common::saml_stack::{
    ACCEPT_HTML, AcsAnswer, AcsPost, Metadata, SamlStack, SamlStackOptions, file_in, sekisho_config,
};
use common::saml_xml::{self, Element, NS_ASSERTION, NS_DSIG, NS_METADATA, NS_PROTOCOL};
use common::sekisho::BINARY;
use common::upstream::echoed_header_all;
use serde_json::{Value, json};
use url::Url;

fn stack_options(sign: SignWhat) -> SamlStackOptions {
    SamlStackOptions {
        idp: SamlIdpOptions {
            sign,
            ..SamlIdpOptions::default()
        },
        ..SamlStackOptions::default()
    }
}

fn b64(xml: &str) -> String {
    STANDARD.encode(xml)
}

fn parse(xml: &str) -> Element {
    saml_xml::parse(xml).unwrap_or_else(|e| panic!("{e}\n{xml}"))
}

/// Which elements of a Response carry a signature: (Response, Assertion).
fn signed_elements(xml: &str) -> (bool, bool) {
    let doc = parse(xml);
    let response = doc.child(NS_DSIG, "Signature").is_some();
    let assertion = doc
        .child(NS_ASSERTION, "Assertion")
        .and_then(|a| a.child(NS_DSIG, "Signature"))
        .is_some();
    (response, assertion)
}

fn expected_signatures(sign: SignWhat) -> (bool, bool) {
    match sign {
        SignWhat::Response => (true, false),
        SignWhat::Assertion => (false, true),
        SignWhat::Both => (true, true),
    }
}

/// Switches the running IdP to signing `sign` (takes effect with its next response).
fn idp_signs(stack: &SamlStack, sign: SignWhat) {
    let (response, assertion) = expected_signatures(sign);
    stack.idp.set_setting("sign_response", json!(response));
    stack.idp.set_setting("sign_assertion", json!(assertion));
}

/// The identity headers the app received, from its echo body.
fn assert_identity_at_app(page: &Page, user: &str, email: &str, groups: &str) {
    for (header, want) in [
        ("X-Auth-Request-User", user),
        ("X-Auth-Request-Email", email),
        ("X-Auth-Request-Groups", groups),
    ] {
        assert_eq!(
            echoed_header_all(&page.body, header),
            [want],
            "{header} as the app received it (the app's echo of its request):\n{}",
            page.body
        );
    }
}

/// The names of the (non-session) cookies Sekisho set when it sent the browser to the IdP:
/// the login-state cookie.
fn login_cookie_names(post: &AcsPost) -> Vec<String> {
    post.page.hops[0]
        .set_cookie_names()
        .into_iter()
        .filter(|n| !is_session_cookie(n))
        .collect()
}

/// Whether `id` looks like at least 128 random bits, as an xs:ID (an NCName): `_` + 32 hex
/// digits, or a longer base64url string.
fn is_random_id(id: &str) -> bool {
    let ncname_start = id
        .chars()
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic());
    let body = id.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let bits = if body.chars().all(|c| c.is_ascii_hexdigit()) {
        body.len() * 4
    } else if body
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        body.len() * 6
    } else {
        0
    };
    ncname_start && bits >= 128 && !id.contains([':', ' '])
}

/// The user `/oauth2/auth` reports for `browser`'s cookies, if it answers 202.
async fn signed_in_user(stack: &SamlStack, browser: &Browser) -> Option<String> {
    let auth = stack.auth(browser).await;
    (auth.status == 202).then(|| {
        auth.header("x-auth-request-user")
            .unwrap_or("(no X-Auth-Request-User)")
            .to_owned()
    })
}

/// The text of Sekisho's log lines other than the access log, without the timestamp, level
/// and target, lower case: where the reason for a refusal is looked for.
fn reason_text(answer: &AcsAnswer) -> String {
    answer
        .log
        .iter()
        .filter(|l| !l.contains("sekisho::access"))
        .map(|line| match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(mut fields)) => {
                for key in ["timestamp", "level", "target", "threadId", "threadName"] {
                    fields.remove(key);
                }
                Value::Object(fields).to_string()
            }
            _ => line.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase()
}

/// What a refused Response must look like: 400 (never 5xx, never a session), no session
/// cookie set or held, `/oauth2/auth` 401 afterwards, and a log line naming the failed check
/// (one of `keywords`, case-insensitive; none given: any line).
async fn check_refused(
    stack: &SamlStack,
    case: &str,
    keywords: &[&str],
    browser: &Browser,
    answer: &AcsAnswer,
    problems: &mut Problems,
) {
    let status = answer.response.status;
    if let Some(user) = signed_in_user(stack, browser).await {
        problems.check(false, || {
            format!(
                "{case}: ACCEPTED — the ACS answered {status} and /oauth2/auth now says user {user:?}\n{}",
                answer.describe()
            )
        });
        return;
    }
    problems.check(status == 400, || {
        format!(
            "{case}: the ACS should answer 400, answered {status}\n{}",
            answer.describe()
        )
    });
    let set = answer.session_cookies_set();
    problems.check(set.is_empty(), || {
        format!(
            "{case}: a refused Response must not set a session cookie, set {set:?}\n{}",
            answer.describe()
        )
    });
    if let Some(problem) = stack.session_problem(browser).await {
        problems.check(false, || format!("{case}: {problem}"));
    }
    let reasons = reason_text(answer);
    problems.check(!reasons.trim().is_empty(), || {
        format!(
            "{case}: Sekisho should log why it refused the Response; it logged only:\n{}",
            answer.describe()
        )
    });
    if !reasons.trim().is_empty() && !keywords.is_empty() {
        problems.check(keywords.iter().any(|k| reasons.contains(k)), || {
            format!(
                "{case}: the log line should name the failed check (one of {keywords:?}); Sekisho logged:\n    {}",
                answer.reason_log().replace('\n', "\n    ")
            )
        });
    }
}

/// What an accepted Response must look like: 302 to the page, a session for `user`.
async fn check_accepted(
    stack: &SamlStack,
    case: &str,
    user: &str,
    browser: &Browser,
    answer: &AcsAnswer,
    problems: &mut Problems,
) {
    let who = signed_in_user(stack, browser).await;
    problems.check(
        answer.response.status == 302 && who.as_deref() == Some(user),
        || {
            format!(
                "{case}: should be accepted (302 and a session for {user}); /oauth2/auth says {who:?}\n{}",
                answer.describe()
            )
        },
    );
}

/// A fresh browser signs in as alice up to the IdP's auto-submitting form; `forge` turns the
/// Response XML into what is POSTed to the ACS instead (with the form's RelayState, the
/// browser's cookies, Accept: text/html).
async fn post_forged(
    stack: &SamlStack,
    forge: impl FnOnce(&str) -> String,
) -> (Browser, AcsPost, AcsAnswer) {
    let browser = Browser::new();
    let post = stack.login_until_acs(&browser, "/app/", ALICE).await;
    let xml = forge(&post.xml());
    let answer = stack
        .post_acs(&browser, &b64(&xml), post.relay_state(), Some(ACCEPT_HTML))
        .await;
    (browser, post, answer)
}

const SIGNATURE: &[&str] = &["signature", "signed", "digest"];

// ---------------------------------------------------------------------------------------------
// The sign-in itself

/// The AuthnRequest Sekisho sent (HTTP-Redirect binding) and its RelayState.
fn check_authn_request(stack: &SamlStack, post: &AcsPost, problems: &mut Problems) -> String {
    let url = &post.authn_request;
    problems.check(
        url.as_str().starts_with(&format!("{}?", stack.idp.sso_url)),
        || {
            format!(
                "Sekisho should send the browser to the IdP's SSO endpoint {} (from its metadata), not {url}",
                stack.idp.sso_url
            )
        },
    );
    let relay_state = url
        .query_pairs()
        .find(|(n, _)| n == "RelayState")
        .map(|(_, v)| v.into_owned());
    problems.check(
        relay_state.as_deref().is_some_and(|r| !r.is_empty()),
        || format!("the redirect to the IdP should carry a RelayState: {url}"),
    );
    let xml = match saml_xml::redirect_message(url, "SAMLRequest") {
        Ok(xml) => xml,
        Err(e) => {
            problems.check(false, || {
                format!("the SAMLRequest of the redirect to the IdP: {e}")
            });
            return String::new();
        }
    };
    let request = match saml_xml::parse(&xml) {
        Ok(request) => request,
        Err(e) => {
            problems.check(false, || format!("the AuthnRequest is not XML: {e}\n{xml}"));
            return String::new();
        }
    };
    problems.check(request.is(NS_PROTOCOL, "AuthnRequest"), || {
        format!("the SAMLRequest should be a samlp:AuthnRequest:\n{xml}")
    });
    let id = request.attr("ID").unwrap_or_default().to_owned();
    problems.check(is_random_id(&id), || {
        format!(
            "the AuthnRequest ID should be 128 random bits as an xs:ID (e.g. `_` + 32 hex digits), is {id:?}"
        )
    });
    problems.check(request.attr("Version") == Some("2.0"), || {
        format!("AuthnRequest Version should be 2.0:\n{xml}")
    });
    let issued = request
        .attr("IssueInstant")
        .and_then(saml_xml::parse_time)
        .map(|t| {
            std::time::SystemTime::now()
                .duration_since(t)
                .unwrap_or_else(|e| e.duration())
        });
    problems.check(issued.is_some_and(|d| d < Duration::from_secs(60)), || {
        format!("AuthnRequest IssueInstant should be now (UTC, xs:dateTime):\n{xml}")
    });
    problems.check(
        request.attr("Destination") == Some(stack.idp.sso_url.as_str()),
        || {
            format!(
                "AuthnRequest Destination should be the IdP's SSO URL {}:\n{xml}",
                stack.idp.sso_url
            )
        },
    );
    let issuer = request
        .child(NS_ASSERTION, "Issuer")
        .map(|i| i.text().trim().to_owned());
    problems.check(
        issuer.as_deref() == Some(stack.sp_entity_id().as_str()),
        || {
            format!(
                "AuthnRequest Issuer should be the SP entity ID {}, is {issuer:?}",
                stack.sp_entity_id()
            )
        },
    );
    if let Some(acs) = request.attr("AssertionConsumerServiceURL") {
        problems.check(acs == stack.acs_url(), || {
            format!(
                "AssertionConsumerServiceURL should be {}, is {acs}",
                stack.acs_url()
            )
        });
    }
    if let Some(binding) = request.attr("ProtocolBinding") {
        problems.check(binding == BINDING_POST, || {
            format!("ProtocolBinding should be HTTP-POST, is {binding}")
        });
    }
    if let Some(policy) = request.child(NS_PROTOCOL, "NameIDPolicy")
        && let Some(format) = policy.attr("Format")
    {
        problems.check(format == NAMEID_PERSISTENT, || {
            format!("NameIDPolicy Format should be saml.name_id_format (persistent), is {format}")
        });
    }
    id
}

/// Lookalike: Sekisho's AuthnRequest, its cookies and the IdP's request count in detail, which
/// `tests/keycloak_saml.rs` (every way Keycloak signs) does not assert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_through_nginx_works_whichever_element_the_idp_signs() {
    let stack = SamlStack::start(stack_options(SignWhat::Response)).await;
    let mut request_ids = Vec::new();

    for sign in [SignWhat::Response, SignWhat::Assertion, SignWhat::Both] {
        idp_signs(&stack, sign);
        let browser = Browser::new();
        let target = stack.url("/app/page?x=1&y=two");
        let hits_before = stack.upstream.hits();

        // Not signed in: nginx's 401 becomes /oauth2/sign_in, which redirects to the IdP.
        let post = stack
            .login_until_acs(&browser, "/app/page?x=1&y=two", ALICE)
            .await;
        let first = &post.page.hops[0];
        assert_eq!(
            first.status,
            302,
            "[{sign:?}] an unauthenticated browser should be redirected to the IdP (auth 401 → error_page → /oauth2/sign_in → 302):\n{}",
            post.page.describe()
        );
        assert!(
            post.page
                .hops
                .iter()
                .any(|h| h.url.path().ends_with("loginuserpass.php")),
            "[{sign:?}] the IdP should have shown its login form:\n{}",
            post.page.describe()
        );
        let mut problems = Problems::default();
        request_ids.push(check_authn_request(&stack, &post, &mut problems));
        problems.assert_none(&format!("[{sign:?}] the redirect to the IdP"));
        let login_cookies = login_cookie_names(&post);
        assert!(
            !login_cookies.is_empty()
                && first
                    .set_cookie_names()
                    .iter()
                    .all(|n| !is_session_cookie(n)),
            "[{sign:?}] the redirect to the IdP should set a login-state cookie (and no session cookie); it set {:?}:\n{}",
            first.set_cookie_names(),
            post.page.describe()
        );
        assert_eq!(
            stack.upstream.hits(),
            hits_before,
            "[{sign:?}] the app must not be reached before signing in"
        );
        assert_eq!(
            signed_elements(&post.xml()),
            expected_signatures(sign),
            "[{sign:?}] the IdP should sign (Response, Assertion) so:\n{}",
            post.xml()
        );
        assert_eq!(
            post.form.action.as_str(),
            stack.acs_url(),
            "[{sign:?}] the IdP posts to the ACS"
        );

        // The browser submits the auto-submitting form: POST /saml/acs, 302 back to the page.
        let page = stack.submit_acs(&browser, &post).await;
        let acs = &page.hops[0];
        let back_to = acs.location.as_deref().and_then(|l| acs.url.join(l).ok());
        assert_eq!(
            (
                acs.method.as_str(),
                acs.status,
                back_to.as_ref().map(Url::as_str)
            ),
            ("POST", 302, Some(target.as_str())),
            "[{sign:?}] the ACS should answer 302 to the page first asked for, query included:\n{}\n{}",
            page.describe(),
            stack.sekisho_log_excerpt("saml")
        );
        assert_eq!(
            (page.status, page.url.as_str()),
            (200, target.as_str()),
            "[{sign:?}] the browser should end up at the page:\n{}{}",
            page.describe(),
            browser.describe_cookies()
        );
        let session = browser.session_cookies();
        assert!(
            !session.is_empty(),
            "[{sign:?}] the ACS should set the session cookie (_sekisho or _sekisho_0..):\n{}",
            browser.describe_cookies()
        );
        for cookie in &session {
            assert!(
                cookie.http_only && cookie.path == "/",
                "session cookies are HttpOnly with Path=/: {cookie}"
            );
        }
        let left: Vec<String> = browser
            .cookies()
            .into_iter()
            .filter(|c| login_cookies.contains(&c.name))
            .map(|c| c.to_string())
            .collect();
        assert!(
            left.is_empty(),
            "[{sign:?}] the ACS should clear the login-state cookie, still there: {left:?}"
        );

        // The app got the request as asked, with alice's identity.
        assert_eq!(
            page.body.lines().next(),
            Some("GET /app/page?x=1&y=two"),
            "the app's echo:\n{}",
            page.body
        );
        assert_identity_at_app(&page, "alice", "alice@example.com", "/admins,/dev");

        // The decision itself, asked directly.
        let auth = stack.auth(&browser).await;
        assert_eq!(
            (
                auth.status,
                auth.header("x-auth-request-user"),
                auth.header("x-auth-request-email"),
                auth.header("x-auth-request-groups")
            ),
            (
                202,
                Some("alice"),
                Some("alice@example.com"),
                Some("/admins,/dev")
            ),
            "[{sign:?}] /oauth2/auth with alice's session: {auth:?}"
        );

        if sign == SignWhat::Response {
            let info = browser.get(&stack.url("/oauth2/userinfo")).await;
            assert_eq!(info.status, 200, "/oauth2/userinfo:\n{}", info.describe());
            let info = info.json();
            assert_eq!(
                (info["user"].as_str(), info["email"].as_str()),
                (Some("alice"), Some("alice@example.com")),
                "/oauth2/userinfo: {info}"
            );
            assert_eq!(
                info["groups"],
                json!(["/admins", "/dev"]),
                "/oauth2/userinfo groups: {info}"
            );

            // Signed in: the next page needs no trip to the IdP.
            let sso = stack.idp.count_requests(&stack.idp_sso_path());
            let next = browser.navigate(&stack.url("/app/other")).await;
            assert_eq!(
                (next.status, next.hops.len()),
                (200, 1),
                "a signed-in browser goes straight through:\n{}",
                next.describe()
            );
            assert_eq!(stack.idp.count_requests(&stack.idp_sso_path()), sso);
        }
    }
    request_ids.sort();
    request_ids.dedup();
    assert_eq!(
        request_ids.len(),
        3,
        "every AuthnRequest needs its own ID: {request_ids:?}"
    );
}

/// Lookalike: Sekisho's own start endpoints and hostile `rd` targets; the IdP only completes the
/// sign-ins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saml_login_and_oauth2_start_begin_a_sign_in_that_returns_to_rd() {
    let stack = SamlStack::start(SamlStackOptions::default()).await;
    let mut problems = Problems::default();
    for (start, rd) in [
        (
            "/saml/login?rd=%2Fapp%2Ffrom-login%3Fa%3D1",
            "/app/from-login?a=1",
        ),
        (
            "/oauth2/start?provider=saml&rd=%2Fapp%2Ffrom-start%3Fb%3D2",
            "/app/from-start?b=2",
        ),
        // Off the site: refused, and the sign-in returns to the root instead.
        ("/saml/login?rd=https%3A%2F%2Fevil.example%2Fphish", "/"),
        ("/saml/login?rd=%2F%2Fevil.example%2F", "/"),
    ] {
        let browser = Browser::new();
        let first = browser.navigate(&stack.url(start)).await;
        let redirect = &first.hops[0];
        let to_idp = redirect
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with(&format!("{}?", stack.idp.sso_url)));
        problems.check(redirect.status == 302 && to_idp, || {
            format!(
                "GET {start} should answer 302 to the IdP's SSO endpoint:\n{}",
                first.describe()
            )
        });
        if !to_idp {
            continue;
        }
        let post = stack.sign_in_at_idp(&browser, first, ALICE).await;
        let page = browser.submit_until(&post.form, &[], |_| true).await;
        let acs = &page.hops[0];
        let back_to = acs.location.as_deref().and_then(|l| acs.url.join(l).ok());
        let want = stack.url(rd);
        problems.check(
            acs.status == 302 && back_to.as_ref().map(Url::as_str) == Some(want.as_str()),
            || {
                format!(
                    "after GET {start} and signing in, the ACS should redirect to {want}:\n{}",
                    page.describe()
                )
            },
        );
    }
    problems.assert_none("starting a sign-in");
}

/// Lookalike: Sekisho's SP metadata and login cookie checked element by element;
/// `tests/keycloak_saml.rs` imports the metadata into Keycloak.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sp_metadata_describes_the_entity_acs_and_slo() {
    // session.secure = true: what production runs with (see the login cookie below).
    let stack = SamlStack::start(SamlStackOptions::default().set("session.secure", true)).await;
    let response = common::http::Client::new()
        .get(stack.nginx.addr(), "/saml/metadata", &[])
        .await;
    assert_eq!(response.status, 200, "GET /saml/metadata: {response:?}");
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.contains("xml"),
        "the SP metadata should be served as XML (application/samlmetadata+xml), Content-Type: {content_type:?}"
    );
    let xml = response.body.clone();
    let doc = saml_xml::parse(&xml)
        .unwrap_or_else(|e| panic!("the SP metadata is not well-formed XML: {e}\n{xml}"));
    let mut problems = Problems::default();
    problems.check(doc.is(NS_METADATA, "EntityDescriptor"), || {
        format!("the root should be md:EntityDescriptor ({NS_METADATA}):\n{xml}")
    });
    problems.check(
        doc.attr("entityID") == Some(stack.sp_entity_id().as_str()),
        || {
            format!(
                "entityID should be saml.sp_entity_id {}:\n{xml}",
                stack.sp_entity_id()
            )
        },
    );
    let sp = doc.child(NS_METADATA, "SPSSODescriptor");
    problems.check(sp.is_some(), || {
        format!("an SPSSODescriptor should be the EntityDescriptor's child:\n{xml}")
    });
    if let Some(sp) = sp {
        problems.check(
            sp.attr("protocolSupportEnumeration")
                .is_some_and(|p| p.split_whitespace().any(|p| p == NS_PROTOCOL)),
            || {
                format!(
                    "SPSSODescriptor protocolSupportEnumeration should list {NS_PROTOCOL}:\n{xml}"
                )
            },
        );
        let acs: Vec<&Element> = sp
            .elements()
            .filter(|e| e.is(NS_METADATA, "AssertionConsumerService"))
            .collect();
        problems.check(
            acs.iter().any(|e| {
                e.attr("Binding") == Some(BINDING_POST)
                    && e.attr("Location") == Some(stack.acs_url().as_str())
                    && e.attr("index").is_some()
            }),
            || {
                format!(
                    "an AssertionConsumerService with Binding HTTP-POST, Location {} and an index:\n{xml}",
                    stack.acs_url()
                )
            },
        );
        problems.check(
            acs.iter()
                .all(|e| e.attr("Location") == Some(stack.acs_url().as_str())),
            || {
                format!(
                    "no other AssertionConsumerService than {}:\n{xml}",
                    stack.acs_url()
                )
            },
        );
        problems.check(
            sp.elements().any(|e| {
                e.is(NS_METADATA, "SingleLogoutService")
                    && e.attr("Binding") == Some(BINDING_REDIRECT)
                    && e.attr("Location") == Some(stack.slo_url().as_str())
            }),
            || {
                format!(
                    "a SingleLogoutService with Binding HTTP-Redirect and Location {}:\n{xml}",
                    stack.slo_url()
                )
            },
        );
        let formats: Vec<String> = sp
            .elements()
            .filter(|e| e.is(NS_METADATA, "NameIDFormat"))
            .map(|e| e.text().trim().to_owned())
            .collect();
        problems.check(
            formats.is_empty() || formats.iter().any(|f| f == NAMEID_PERSISTENT),
            || format!("NameIDFormat should be saml.name_id_format (persistent), is {formats:?}"),
        );
    }

    // The login-state cookie must come back with the IdP's POST to the ACS, a cross-site
    // top-level POST in production (the IdP is another site): SameSite=Lax or Strict cookies
    // are not sent along it, so the cookie needs SameSite=None, hence Secure.
    let start = stack
        .sekisho_get("/saml/login?rd=%2Fapp%2F", &[("Accept", ACCEPT_HTML)])
        .await;
    let cookies: Vec<&str> = start
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect();
    let login_cookie = cookies.iter().find(|c| {
        let name = c.split('=').next().unwrap_or_default().trim();
        !is_session_cookie(name) && !c.to_ascii_lowercase().contains("max-age=0")
    });
    problems.check(
        start.status == 302
            && login_cookie.is_some_and(|c| {
                let attributes = c.to_ascii_lowercase();
                attributes.contains("samesite=none")
                    && attributes.contains("secure")
                    && attributes.contains("httponly")
            }),
        || {
            format!(
                "with session.secure = true, GET /saml/login should answer 302 and set the login-state cookie \
                 `SameSite=None; Secure; HttpOnly` (browsers do not send SameSite=Lax cookies with the IdP's \
                 cross-site POST to the ACS): {} {cookies:?}",
                start.status
            )
        },
    );
    problems.assert_none("the SP metadata and the login-state cookie");
}

// ---------------------------------------------------------------------------------------------
// Authorization and attribute mapping

/// Lookalike: the global group policy at the ACS, which no Keycloak SAML test sets
/// (`tests/keycloak_saml.rs` refuses bob at a location).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_group_policy_refuses_bob_at_the_acs() {
    let stack = SamlStack::start(
        SamlStackOptions::default().set("authorization.allowed_groups", vec!["admins"]),
    )
    .await;

    let bob = Browser::new();
    let post = stack.login_until_acs(&bob, "/app/", BOB).await;
    let page = stack.submit_acs(&bob, &post).await;
    let acs = &page.hops[0];
    assert_eq!(
        acs.status,
        403,
        "with [authorization] allowed_groups = [\"admins\"], bob's (groups /dev) Response should get 403 at the ACS:\n{}\n{}",
        page.describe(),
        stack.sekisho_log_excerpt("saml")
    );
    let text = page.body.to_lowercase();
    assert!(
        text.contains("bob"),
        "the 403 page should say who is signed in:\n{}",
        page.body
    );
    stack
        .assert_no_session(&bob, "bob refused by the global policy")
        .await;
    assert_eq!(stack.upstream.hits(), 0, "the app must not see bob");

    let alice = Browser::new();
    let login = stack.login(&alice, "/app/", ALICE).await;
    assert_identity_at_app(&login.page, "alice", "alice@example.com", "/admins,/dev");
}

/// Lookalike: Sekisho's configuration from the environment; the IdP only signs alice in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attribute_names_can_be_set_from_the_environment() {
    let stack = SamlStack::start(
        SamlStackOptions::default().env("SEKISHO_SAML__ATTRIBUTES__USER", "email"),
    )
    .await;
    let browser = Browser::new();
    let login = stack.login(&browser, "/app/", ALICE).await;
    assert_eq!(
        echoed_header_all(&login.page.body, "X-Auth-Request-User"),
        ["alice@example.com"],
        "SEKISHO_SAML__ATTRIBUTES__USER=email: the user should be the email attribute:\n{}",
        login.page.body
    );
}

// ---------------------------------------------------------------------------------------------
// The ACS under attack

/// Lookalike: Responses altered after signing or signed by another key, which Keycloak never sends
/// (its unsigned Response is `tests/keycloak_saml.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_altered_after_signing_unsigned_or_signed_by_another_key_are_refused() {
    let stack = SamlStack::start(stack_options(SignWhat::Response)).await;
    let attacker = KeyPair::generate("saml-idp");
    let mut problems = Problems::default();

    for sign in [SignWhat::Response, SignWhat::Assertion, SignWhat::Both] {
        idp_signs(&stack, sign);

        // (a) An attribute changed after signing.
        let (browser, post, answer) = post_forged(&stack, |xml| {
            replace_once(
                xml,
                "<saml:AttributeValue xsi:type=\"xs:string\">alice</saml:AttributeValue>",
                "<saml:AttributeValue xsi:type=\"xs:string\">mallory</saml:AttributeValue>",
            )
        })
        .await;
        problems.check(
            signed_elements(&post.xml()) == expected_signatures(sign),
            || format!("[{sign:?}] the IdP did not sign as asked:\n{}", post.xml()),
        );
        check_refused(
            &stack,
            &format!("[{sign:?}] username attribute changed after signing (alice → mallory)"),
            SIGNATURE,
            &browser,
            &answer,
            &mut problems,
        )
        .await;

        // (a) The NameID changed after signing.
        let (browser, _, answer) = post_forged(&stack, |xml| {
            replace_once(xml, ALICE_NAME_ID, "G-b0b00000-0000-4000-8000-000000000002")
        })
        .await;
        check_refused(
            &stack,
            &format!("[{sign:?}] NameID changed after signing (alice's → bob's)"),
            SIGNATURE,
            &browser,
            &answer,
            &mut problems,
        )
        .await;

        // (b) Every signature stripped.
        let (browser, _, answer) = post_forged(&stack, strip_signatures).await;
        check_refused(
            &stack,
            &format!("[{sign:?}] unsigned (every ds:Signature removed)"),
            SIGNATURE,
            &browser,
            &answer,
            &mut problems,
        )
        .await;

        // (c) Altered, then signed by another key, whose certificate (same subject) is in
        // KeyInfo: only the certificate from the IdP's metadata may be trusted.
        let (browser, _, answer) = post_forged(&stack, |xml| {
            let xml = replace_all(xml, ">alice<", ">mallory<");
            resign(&xml, &attacker)
        })
        .await;
        check_refused(
            &stack,
            &format!(
                "[{sign:?}] altered and re-signed with another key, its certificate in KeyInfo"
            ),
            SIGNATURE,
            &browser,
            &answer,
            &mut problems,
        )
        .await;
    }

    // An unsigned Response that then gets a Response signature by another key (the IdP signed
    // only its Assertion; the attacker strips that and signs the whole Response).
    idp_signs(&stack, SignWhat::Assertion);
    let (browser, _, answer) = post_forged(&stack, |xml| {
        let xml = replace_all(&strip_signatures(xml), ">alice<", ">mallory<");
        saml_forge::sign_response(&xml, &attacker)
    })
    .await;
    check_refused(
        &stack,
        "Assertion signature stripped, the Response signed by another key",
        SIGNATURE,
        &browser,
        &answer,
        &mut problems,
    )
    .await;

    // A refusal for a client without Accept: text/html is a short plain-text reason; with
    // it, an HTML page.
    idp_signs(&stack, SignWhat::Response);
    let browser = Browser::new();
    let post = stack.login_until_acs(&browser, "/app/", ALICE).await;
    let unsigned = b64(&strip_signatures(&post.xml()));
    let plain = stack
        .post_acs(&browser, &unsigned, post.relay_state(), None)
        .await;
    let content_type = plain.response.header("content-type").unwrap_or_default();
    problems.check(
        plain.response.status == 400
            && content_type.starts_with("text/plain")
            && !plain.response.body.trim().is_empty()
            && plain.response.body.len() < 1000,
        || {
            format!(
                "without Accept: text/html the 400 should be a short plain-text reason:\n{}",
                plain.describe()
            )
        },
    );
    let html = stack
        .post_acs(&browser, &unsigned, post.relay_state(), Some(ACCEPT_HTML))
        .await;
    let content_type = html.response.header("content-type").unwrap_or_default();
    problems.check(
        html.response.status == 400
            && content_type.starts_with("text/html")
            && html.response.body.to_ascii_lowercase().contains("<html"),
        || {
            format!(
                "with Accept: text/html the 400 should be an HTML page:\n{}",
                html.describe()
            )
        },
    );

    problems.assert_none("altered, unsigned or foreign-signed Responses");
    assert_eq!(
        stack.upstream.hits(),
        0,
        "no forged Response may reach the app: {:?}",
        stack.upstream.received()
    );
}

/// Lookalike: Responses edited and re-signed with the IdP's key, which Keycloak never sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_re_signed_after_a_semantic_edit_are_refused() {
    let stack = SamlStack::start(stack_options(SignWhat::Response)).await;
    let idp_key = KeyPair::at(stack.idp.key_path(), stack.idp.cert_path());
    let mut problems = Problems::default();
    let other_sp = "http://127.0.0.1:1";

    // Controls: re-signing an untouched Response with the IdP's key, and moving the expiry
    // to 20 s ago (within clock_skew = 60s), keep it acceptable: the refusals below are the
    // edits' doing, not the re-signing's.
    let (browser, post, answer) = post_forged(&stack, |xml| resign(xml, &idp_key)).await;
    let resigned = resign(&post.xml(), &idp_key);
    let id = parse(&resigned).attr("ID").unwrap_or_default().to_owned();
    if let Err(e) = saml_forge::verify(&resigned, &stack.idp.cert_path(), &id) {
        panic!("test tooling: the re-signed Response does not verify with xmlsec1: {e}");
    }
    check_accepted(
        &stack,
        "control: the Response re-signed unchanged with the IdP's key",
        "alice",
        &browser,
        &answer,
        &mut problems,
    )
    .await;
    let (browser, _, answer) = post_forged(&stack, |xml| {
        let xml = set_attribute(
            xml,
            "saml:Conditions",
            "NotOnOrAfter",
            &saml_xml::xml_time(-20),
        );
        let xml = set_attribute(
            &xml,
            "saml:SubjectConfirmationData",
            "NotOnOrAfter",
            &saml_xml::xml_time(-20),
        );
        resign(&xml, &idp_key)
    })
    .await;
    check_accepted(
        &stack,
        "control: NotOnOrAfter 20 s ago is within clock_skew (60 s)",
        "alice",
        &browser,
        &answer,
        &mut problems,
    )
    .await;
    let (browser, _, answer) = post_forged(&stack, |xml| {
        let ours = element(xml, "saml:AudienceRestriction").to_owned();
        let both = format!(
            "<saml:AudienceRestriction><saml:Audience>{other_sp}/saml/metadata</saml:Audience><saml:Audience>{}</saml:Audience></saml:AudienceRestriction>",
            stack.sp_entity_id()
        );
        resign(&replace_once(xml, &ours, &format!("{ours}{both}")), &idp_key)
    })
    .await;
    check_accepted(
        &stack,
        "control: a second AudienceRestriction naming another SP and us",
        "alice",
        &browser,
        &answer,
        &mut problems,
    )
    .await;
    std::mem::take(&mut problems)
        .assert_none("the re-signing controls (the cases below would prove nothing)");

    type Forge = Box<dyn Fn(&str) -> String>;
    let t = saml_xml::xml_time;
    let sp_entity_id = stack.sp_entity_id();
    let cases: Vec<(&str, &[&str], Forge)> = vec![
        (
            "(d) expired: issued 15 min ago, valid for 5 min",
            &[
                "expired",
                "notonorafter",
                "not on or after",
                "too old",
                "stale",
            ],
            Box::new(move |xml: &str| {
                let xml = set_attribute(xml, "samlp:Response", "IssueInstant", &t(-900));
                let xml = set_attribute(&xml, "saml:Assertion", "IssueInstant", &t(-900));
                let xml = set_attribute(&xml, "saml:Conditions", "NotBefore", &t(-930));
                let xml = set_attribute(&xml, "saml:Conditions", "NotOnOrAfter", &t(-600));
                let xml = set_attribute(
                    &xml,
                    "saml:SubjectConfirmationData",
                    "NotOnOrAfter",
                    &t(-600),
                );
                set_attribute(&xml, "saml:AuthnStatement", "AuthnInstant", &t(-900))
            }),
        ),
        (
            "(d) Conditions NotOnOrAfter 5 min ago (SubjectConfirmationData still valid)",
            &["expired", "notonorafter", "not on or after", "condition"],
            Box::new(move |xml: &str| {
                set_attribute(xml, "saml:Conditions", "NotOnOrAfter", &t(-300))
            }),
        ),
        (
            "(d) SubjectConfirmationData NotOnOrAfter 5 min ago (Conditions still valid)",
            &[
                "expired",
                "notonorafter",
                "not on or after",
                "subjectconfirmation",
                "confirmation",
            ],
            Box::new(move |xml: &str| {
                set_attribute(
                    xml,
                    "saml:SubjectConfirmationData",
                    "NotOnOrAfter",
                    &t(-300),
                )
            }),
        ),
        (
            "(d) Conditions NotBefore 10 min ahead",
            &[
                "notbefore",
                "not before",
                "not yet",
                "not valid until",
                "future",
            ],
            Box::new(move |xml: &str| set_attribute(xml, "saml:Conditions", "NotBefore", &t(600))),
        ),
        (
            "(f) Audience of another SP",
            &["audience"],
            Box::new(move |xml: &str| {
                replace_once(
                    xml,
                    &format!("<saml:Audience>{sp_entity_id}</saml:Audience>"),
                    &format!("<saml:Audience>{other_sp}/saml/metadata</saml:Audience>"),
                )
            }),
        ),
        (
            "(f) no AudienceRestriction (the SSO profile requires one)",
            &["audiencerestriction"],
            Box::new(|xml: &str| {
                let restriction = element(xml, "saml:AudienceRestriction").to_owned();
                replace_once(xml, &restriction, "")
            }),
        ),
        (
            "(f) a second AudienceRestriction naming only another SP",
            &["audiencerestriction", "audience"],
            Box::new(move |xml: &str| {
                let ours = element(xml, "saml:AudienceRestriction").to_owned();
                let theirs = format!(
                    "<saml:AudienceRestriction><saml:Audience>{other_sp}/saml/metadata</saml:Audience></saml:AudienceRestriction>"
                );
                replace_once(xml, &ours, &format!("{ours}{theirs}"))
            }),
        ),
        (
            "(f) a first AudienceRestriction naming only another SP, then ours",
            &["audiencerestriction", "audience"],
            Box::new(move |xml: &str| {
                let ours = element(xml, "saml:AudienceRestriction").to_owned();
                let theirs = format!(
                    "<saml:AudienceRestriction><saml:Audience>{other_sp}/saml/metadata</saml:Audience></saml:AudienceRestriction>"
                );
                replace_once(xml, &ours, &format!("{theirs}{ours}"))
            }),
        ),
        (
            "(g) Destination of another SP's ACS",
            &["destination"],
            Box::new(move |xml: &str| {
                set_attribute(
                    xml,
                    "samlp:Response",
                    "Destination",
                    &format!("{other_sp}/saml/acs"),
                )
            }),
        ),
        (
            "(g) SubjectConfirmationData Recipient of another SP's ACS",
            &["recipient"],
            Box::new(move |xml: &str| {
                set_attribute(
                    xml,
                    "saml:SubjectConfirmationData",
                    "Recipient",
                    &format!("{other_sp}/saml/acs"),
                )
            }),
        ),
        (
            "(h) InResponseTo of another request (Response and SubjectConfirmationData)",
            &[
                "inresponseto",
                "in_response_to",
                "in response to",
                "request id",
                "request_id",
            ],
            Box::new(|xml: &str| {
                let other = "_0123456789abcdef0123456789abcdef";
                let xml = set_attribute(xml, "samlp:Response", "InResponseTo", other);
                set_attribute(&xml, "saml:SubjectConfirmationData", "InResponseTo", other)
            }),
        ),
        (
            "(h) InResponseTo removed (an unsolicited Response, allow_idp_initiated = false)",
            &[
                "inresponseto",
                "in_response_to",
                "in response to",
                "unsolicited",
                "idp-initiated",
                "idp initiated",
            ],
            Box::new(|xml: &str| {
                let xml = remove_attribute(xml, "samlp:Response", "InResponseTo");
                remove_attribute(&xml, "saml:SubjectConfirmationData", "InResponseTo")
            }),
        ),
        (
            "Issuer of another IdP (Response and Assertion)",
            &["issuer"],
            Box::new(|xml: &str| {
                let issuer = element(xml, "saml:Issuer").to_owned();
                replace_all(
                    xml,
                    &issuer,
                    "<saml:Issuer>http://127.0.0.1:1/simplesaml/saml2/idp/metadata.php</saml:Issuer>",
                )
            }),
        ),
        (
            "Status Requester (not Success), the assertion left in",
            &["status", "requester"],
            Box::new(|xml: &str| {
                replace_once(
                    xml,
                    "urn:oasis:names:tc:SAML:2.0:status:Success",
                    "urn:oasis:names:tc:SAML:2.0:status:Requester",
                )
            }),
        ),
    ];
    for (case, keywords, forge) in cases {
        let (browser, _, answer) = post_forged(&stack, |xml| resign(&forge(xml), &idp_key)).await;
        check_refused(&stack, case, keywords, &browser, &answer, &mut problems).await;
    }

    // The assertion's own SubjectConfirmationData InResponseTo names another request while
    // the Response's is right. With only the Assertion signed, the Response around it is
    // anyone's to rewrite: the signed InResponseTo is the one that counts.
    for sign in [SignWhat::Response, SignWhat::Assertion] {
        idp_signs(&stack, sign);
        let (browser, _, answer) = post_forged(&stack, |xml| {
            let xml = set_attribute(
                xml,
                "saml:SubjectConfirmationData",
                "InResponseTo",
                "_0123456789abcdef0123456789abcdef",
            );
            resign(&xml, &idp_key)
        })
        .await;
        check_refused(
            &stack,
            &format!(
                "[{sign:?}] (h) SubjectConfirmationData InResponseTo of another request, the Response's right"
            ),
            &[
                "inresponseto",
                "in_response_to",
                "in response to",
                "request id",
                "request_id",
                "subjectconfirmation",
            ],
            &browser,
            &answer,
            &mut problems,
        )
        .await;
    }
    problems.assert_none("Responses re-signed with the IdP's key after a semantic edit");
}

/// Lookalike: a Response replayed, an attacker's act.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_response_is_refused() {
    let stack = SamlStack::start(SamlStackOptions::default()).await;
    let browser = Browser::new();
    let post = stack.login_until_acs(&browser, "/app/", ALICE).await;
    // Everything the browser holds before the POST, the login-state cookie for this very
    // request included: only a server-side record of the used assertion can stop a replay.
    let replayer = browser.fork();

    let first = stack.submit_acs(&browser, &post).await;
    assert_eq!(
        (first.hops[0].status, first.status),
        (302, 200),
        "the first POST of the Response signs in:\n{}",
        first.describe()
    );

    let mut problems = Problems::default();
    let replay = stack
        .post_acs(
            &replayer,
            post.saml_response(),
            post.relay_state(),
            Some(ACCEPT_HTML),
        )
        .await;
    check_refused(
        &stack,
        "(e) the same SAMLResponse and RelayState again, with the same (still valid) login-state cookie",
        &["replay", "already", "used", "seen", "reuse"],
        &replayer,
        &replay,
        &mut problems,
    )
    .await;

    // In another browser that has a sign-in of its own under way.
    let other = Browser::new();
    let _ = stack.login_until_acs(&other, "/app/", BOB).await;
    let answer = stack
        .post_acs(
            &other,
            post.saml_response(),
            post.relay_state(),
            Some(ACCEPT_HTML),
        )
        .await;
    check_refused(
        &stack,
        "(e) alice's used Response posted in another browser with its own sign-in under way",
        &[],
        &other,
        &answer,
        &mut problems,
    )
    .await;

    // And in the browser that signed in: whatever it answers, no new session.
    let again = stack
        .post_acs(
            &browser,
            post.saml_response(),
            post.relay_state(),
            Some(ACCEPT_HTML),
        )
        .await;
    let set = again.session_cookies_set();
    problems.check(set.is_empty() && again.response.status < 500, || {
        format!(
            "the Response posted a second time in the signed-in browser must not set a new session: {set:?}\n{}",
            again.describe()
        )
    });
    problems.assert_none("replayed Response");
}

/// Lookalike: unsolicited Responses built and signed by the test with the IdP's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsolicited_responses_are_refused() {
    let stack = SamlStack::start(SamlStackOptions::default()).await;
    let mut problems = Problems::default();
    let unsolicited = &[
        "unsolicited",
        "idp-initiated",
        "idp initiated",
        "inresponseto",
        "in_response_to",
        "in response to",
        "login state",
        "login-state",
        "login_state",
        "cookie",
    ];

    // (i) IdP-initiated sign-in (allow_idp_initiated = false): a Response without
    // InResponseTo, posted by a browser that never started a sign-in here.
    let browser = Browser::new();
    let first = browser
        .navigate(
            &stack
                .idp
                .idp_initiated_sso_url(&stack.sp_entity_id(), Some(&stack.url("/app/"))),
        )
        .await;
    let post = stack.sign_in_at_idp(&browser, first, ALICE).await;
    assert!(
        parse(&post.xml()).attr("InResponseTo").is_none(),
        "an IdP-initiated Response has no InResponseTo:\n{}",
        post.xml()
    );
    let answer = stack
        .post_acs(
            &browser,
            post.saml_response(),
            post.relay_state(),
            Some(ACCEPT_HTML),
        )
        .await;
    check_refused(
        &stack,
        "(i) IdP-initiated Response (no InResponseTo) with allow_idp_initiated = false",
        unsolicited,
        &browser,
        &answer,
        &mut problems,
    )
    .await;

    // The same, in a browser that has a sign-in of its own under way.
    let browser = Browser::new();
    let _ = browser.navigate(&stack.url("/app/")).await;
    let first = browser
        .navigate(
            &stack
                .idp
                .idp_initiated_sso_url(&stack.sp_entity_id(), Some(&stack.url("/app/"))),
        )
        .await;
    let post = stack.sign_in_at_idp(&browser, first, ALICE).await;
    let answer = stack
        .post_acs(
            &browser,
            post.saml_response(),
            post.relay_state(),
            Some(ACCEPT_HTML),
        )
        .await;
    check_refused(
        &stack,
        "(i) IdP-initiated Response in a browser with its own sign-in under way",
        unsolicited,
        &browser,
        &answer,
        &mut problems,
    )
    .await;

    // A solicited Response whose login-state cookie is gone.
    let browser = Browser::new();
    let post = stack.login_until_acs(&browser, "/app/", ALICE).await;
    let login_cookies = login_cookie_names(&post);
    browser.remove_cookies(|c| login_cookies.contains(&c.name));
    let answer = stack
        .post_acs(
            &browser,
            post.saml_response(),
            post.relay_state(),
            Some(ACCEPT_HTML),
        )
        .await;
    check_refused(
        &stack,
        "(i) a Response to a real request, the login-state cookie removed",
        unsolicited,
        &browser,
        &answer,
        &mut problems,
    )
    .await;

    // Login CSRF: the attacker's Response (bob), posted from a victim's browser that has a
    // sign-in of its own under way.
    let attacker = Browser::new();
    let attackers = stack.login_until_acs(&attacker, "/app/", BOB).await;
    let victim = Browser::new();
    let _ = stack.login_until_acs(&victim, "/app/", ALICE).await;
    let answer = stack
        .post_acs(
            &victim,
            attackers.saml_response(),
            attackers.relay_state(),
            Some(ACCEPT_HTML),
        )
        .await;
    check_refused(
        &stack,
        "(i) another browser's Response (login CSRF: bob's Response in alice's browser)",
        unsolicited,
        &victim,
        &answer,
        &mut problems,
    )
    .await;
    // ... even with the victim's own RelayState.
    let victim = Browser::new();
    let victims = stack.login_until_acs(&victim, "/app/", ALICE).await;
    let answer = stack
        .post_acs(
            &victim,
            attackers.saml_response(),
            victims.relay_state(),
            Some(ACCEPT_HTML),
        )
        .await;
    check_refused(
        &stack,
        "(i) bob's Response with the RelayState of alice's own sign-in",
        unsolicited,
        &victim,
        &answer,
        &mut problems,
    )
    .await;

    problems.assert_none("unsolicited Responses");
}

/// `xml` (Assertion signed) with the signed assertion's place and neighbourhood rearranged
/// by `arrange(original, forged)`, which returns what replaces the original assertion.
fn rearrange_assertion(xml: &str, arrange: impl Fn(&str, &str) -> String) -> String {
    let range = element_range(xml, "saml:Assertion");
    let original = &xml[range.clone()];
    let forged = forged_assertion(original, "_e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e");
    format!(
        "{}{}{}",
        &xml[..range.start],
        arrange(original, &forged),
        &xml[range.end..]
    )
}

/// Lookalike: signature-wrapping forgeries of a signed Response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_wrapping_is_refused() {
    let stack = SamlStack::start(stack_options(SignWhat::Assertion)).await;
    let mut problems = Problems::default();
    type Forge = Box<dyn Fn(&str) -> String>;

    // The IdP signs only the Assertion: the Response around it is the attacker's to shape.
    let assertion_cases: Vec<(&str, Forge)> = vec![
        (
            "(j) a forged unsigned assertion (mallory) before the signed one",
            Box::new(|xml: &str| {
                rearrange_assertion(xml, |orig, forged| format!("{forged}{orig}"))
            }),
        ),
        (
            "(j) a forged unsigned assertion (mallory) after the signed one",
            Box::new(|xml: &str| {
                rearrange_assertion(xml, |orig, forged| format!("{orig}{forged}"))
            }),
        ),
        (
            "(j) a forged assertion carrying the signed one's ID, before it",
            Box::new(|xml: &str| {
                let range = element_range(xml, "saml:Assertion");
                let original = &xml[range.clone()];
                let id = parse(xml)
                    .child(NS_ASSERTION, "Assertion")
                    .and_then(|a| a.attr("ID"))
                    .expect("assertion ID")
                    .to_owned();
                let forged = forged_assertion(original, &id);
                format!("{}{forged}{}", &xml[..range.start], &xml[range.start..])
            }),
        ),
        (
            "(j) the signed assertion moved into the Response's Extensions, a forged one in its place",
            Box::new(|xml: &str| {
                let moved = rearrange_assertion(xml, |_, forged| forged.to_owned());
                let original = element(xml, "saml:Assertion");
                let issuer_end =
                    moved.find("</saml:Issuer>").expect("Response Issuer") + "</saml:Issuer>".len();
                format!(
                    "{}<samlp:Extensions>{original}</samlp:Extensions>{}",
                    &moved[..issuer_end],
                    &moved[issuer_end..]
                )
            }),
        ),
        (
            "(j) the signed assertion inside the forged one's Advice",
            Box::new(|xml: &str| {
                rearrange_assertion(xml, |orig, forged| {
                    replace_once(
                        forged,
                        "</saml:Conditions>",
                        &format!("</saml:Conditions><saml:Advice>{orig}</saml:Advice>"),
                    )
                })
            }),
        ),
    ];
    for (case, forge) in assertion_cases {
        let (browser, post, answer) = post_forged(&stack, |xml| {
            let forged = forge(xml);
            if let Err(e) = saml_xml::parse(&forged) {
                panic!("test tooling: {case} is not well-formed: {e}\n{forged}");
            }
            forged
        })
        .await;
        problems.check(signed_elements(&post.xml()) == (false, true), || {
            format!(
                "the IdP should sign only the Assertion here:\n{}",
                post.xml()
            )
        });
        check_refused(&stack, case, &[], &browser, &answer, &mut problems).await;
    }

    // The IdP signs the Response: the attacker moves the whole signed Response.
    idp_signs(&stack, SignWhat::Response);
    let response_cases: Vec<(&str, Forge)> = vec![
        (
            "(j) XSW1: a forged Response whose Signature holds the signed Response in ds:Object",
            Box::new(|xml: &str| {
                let signature = element(xml, "ds:Signature");
                let original = strip_signatures(xml);
                let object = replace_once(
                    signature,
                    "</ds:Signature>",
                    &format!("<ds:Object>{original}</ds:Object></ds:Signature>"),
                );
                forged_response(xml, &object)
            }),
        ),
        (
            "(j) the signed Response in a forged Response's Extensions",
            Box::new(|xml: &str| {
                forged_response(xml, &format!("<samlp:Extensions>{xml}</samlp:Extensions>"))
            }),
        ),
    ];
    for (case, forge) in response_cases {
        let (browser, post, answer) = post_forged(&stack, |xml| {
            let forged = forge(xml);
            if let Err(e) = saml_xml::parse(&forged) {
                panic!("test tooling: {case} is not well-formed: {e}\n{forged}");
            }
            forged
        })
        .await;
        problems.check(signed_elements(&post.xml()) == (true, false), || {
            format!(
                "the IdP should sign only the Response here:\n{}",
                post.xml()
            )
        });
        check_refused(&stack, case, &[], &browser, &answer, &mut problems).await;
    }

    problems.assert_none("signature wrapping");
    let mallory: Vec<_> = stack
        .upstream
        .received()
        .into_iter()
        .filter(|r| r.header("X-Auth-Request-User") == Some("mallory"))
        .collect();
    assert!(mallory.is_empty(), "mallory reached the app: {mallory:?}");
}

/// A forged Response around `inner` (placed after its Issuer): the signed Response's opening
/// tag with another ID, its Issuer and Status, and a forged assertion for mallory.
fn forged_response(xml: &str, inner: &str) -> String {
    let open_end = xml.find('>').expect("Response tag") + 1;
    let id = parse(xml).attr("ID").expect("Response ID").to_owned();
    let open = replace_once(
        &xml[..open_end],
        &format!("ID=\"{id}\""),
        "ID=\"_f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f\"",
    );
    let issuer = element(xml, "saml:Issuer");
    let status = element(xml, "samlp:Status");
    let forged = forged_assertion(
        element(xml, "saml:Assertion"),
        "_e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e",
    );
    format!("{open}{issuer}{inner}{status}{forged}</samlp:Response>")
}

/// Lookalike: SimpleSAMLphp switched to SHA-1 by a test option; not yet run against Keycloak,
/// whose client setting "Signature algorithm" RSA_SHA1 would do the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sha1_signatures_are_refused_by_default() {
    let stack = SamlStack::start(SamlStackOptions {
        idp: SamlIdpOptions {
            sha1: true,
            ..SamlIdpOptions::default()
        },
        ..SamlStackOptions::default()
    })
    .await;
    let (browser, post, answer) = post_forged(&stack, str::to_owned).await;
    let doc = parse(&post.xml());
    let method = doc
        .find(NS_DSIG, "SignatureMethod")
        .and_then(|m| m.attr("Algorithm"))
        .unwrap_or_default()
        .to_owned();
    assert_eq!(method, RSA_SHA1, "the IdP should sign with rsa-sha1 here");
    let mut problems = Problems::default();
    check_refused(
        &stack,
        "(k) a Response signed with rsa-sha1 (allow_sha1 = false)",
        &["sha1", "sha-1", "algorithm"],
        &browser,
        &answer,
        &mut problems,
    )
    .await;

    // With allow_sha1 = true the same kind of Response signs in.
    let lenient = SamlStack::start(SamlStackOptions {
        idp: SamlIdpOptions {
            sha1: true,
            ..SamlIdpOptions::default()
        },
        ..SamlStackOptions::default().set("saml.allow_sha1", true)
    })
    .await;
    let (browser, _, answer) = post_forged(&lenient, str::to_owned).await;
    check_accepted(
        &lenient,
        "a Response signed with rsa-sha1 and allow_sha1 = true",
        "alice",
        &browser,
        &answer,
        &mut problems,
    )
    .await;
    problems.assert_none("SHA-1");
}

/// Lookalike: a comment forged into a signed value, which keeps the IdP's signature valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_inside_a_signed_value_never_truncates_the_identity() {
    let stack = SamlStack::start(stack_options(SignWhat::Response)).await;
    let mut problems = Problems::default();

    // (l) Exclusive c14n without comments drops comments, so `ali<!---->ce` still carries the
    // IdP's valid signature (checked with xmlsec1 below). A parser reading only the first or
    // the last text node would make the user `ali` or `ce`. Sekisho must refuse it (400) or
    // read the whole value, `alice`.
    for sign in [SignWhat::Response, SignWhat::Assertion] {
        idp_signs(&stack, sign);
        let cert = stack.idp.cert_path();
        let (browser, _, answer) = post_forged(&stack, |xml| {
            let forged = replace_once(
                xml,
                "<saml:AttributeValue xsi:type=\"xs:string\">alice</saml:AttributeValue>",
                "<saml:AttributeValue xsi:type=\"xs:string\">ali<!---->ce</saml:AttributeValue>",
            );
            let doc = parse(&forged);
            let signed = match sign {
                SignWhat::Assertion => doc.child(NS_ASSERTION, "Assertion").expect("assertion"),
                _ => &doc,
            };
            let id = signed.attr("ID").expect("ID");
            if let Err(e) = saml_forge::verify(&forged, &cert, id) {
                panic!("test premise: the signature should still verify with the comment: {e}");
            }
            forged
        })
        .await;
        let case = format!("[{sign:?}] username `ali<!---->ce` (signature still valid)");
        let outcome = signed_in_user(&stack, &browser).await;
        eprintln!(
            "{case}: ACS {}, signed in as {outcome:?}",
            answer.response.status
        );
        match outcome {
            Some(user) => problems.check(user == "alice", || {
                format!(
                    "{case}: accepted with user {user:?}: the comment split the value and Sekisho kept only part of it\n{}",
                    answer.describe()
                )
            }),
            None => {
                check_refused(&stack, &case, &[], &browser, &answer, &mut problems).await;
            }
        }
    }

    // The same in the NameID, which single logout sends back to the IdP.
    idp_signs(&stack, SignWhat::Response);
    let (browser, _, answer) = post_forged(&stack, |xml| {
        replace_once(
            xml,
            &format!(">{ALICE_NAME_ID}<"),
            &format!(">{}<!---->{}<", &ALICE_NAME_ID[..10], &ALICE_NAME_ID[10..]),
        )
    })
    .await;
    let case = "NameID `G-a11ce000<!---->-0000-...` (signature still valid)";
    let outcome = signed_in_user(&stack, &browser).await;
    eprintln!(
        "{case}: ACS {}, signed in as {outcome:?}",
        answer.response.status
    );
    if outcome.is_some() {
        // Accepted: the NameID Sekisho kept must be whole; its LogoutRequest shows it.
        let out = browser
            .navigate_until(&stack.url("/oauth2/sign_out?rd=/"), |url| {
                url.path() == stack.idp_slo_path()
            })
            .await;
        let name_id = out
            .next
            .as_ref()
            .and_then(|next| saml_xml::redirect_message(next, "SAMLRequest").ok())
            .and_then(|xml| saml_xml::parse(&xml).ok())
            .and_then(|r| r.find(NS_ASSERTION, "NameID").map(|n| n.text()));
        problems.check(name_id.as_deref() == Some(ALICE_NAME_ID), || {
            format!(
                "{case}: accepted, but the LogoutRequest's NameID is {name_id:?}, not {ALICE_NAME_ID}:\n{}",
                out.describe()
            )
        });
    } else {
        check_refused(&stack, case, &[], &browser, &answer, &mut problems).await;
    }
    problems.assert_none("comments inside signed values");
}

// ---------------------------------------------------------------------------------------------
// Single logout

/// Lookalike: Sekisho's LogoutRequest checked field by field (ID, Destination, Issuer, NameID,
/// SessionIndex), which `tests/keycloak_saml.rs` does not assert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sp_initiated_logout_ends_the_idp_session_and_returns_to_rd() {
    let stack = SamlStack::start(SamlStackOptions::default()).await;
    let browser = Browser::new();
    let login = stack.login(&browser, "/app/", ALICE).await;
    let response = parse(&login.post.xml());
    let session_index = response
        .find(NS_ASSERTION, "AuthnStatement")
        .and_then(|s| s.attr("SessionIndex"))
        .expect("the IdP's AuthnStatement has a SessionIndex")
        .to_owned();

    let rd = stack.url("/app/bye");
    let out = browser
        .navigate_until(&stack.url("/oauth2/sign_out?rd=%2Fapp%2Fbye"), |url| {
            url.as_str() == rd
        })
        .await;
    let sign_out = &out.hops[0];
    let to_idp = sign_out
        .location
        .as_deref()
        .is_some_and(|l| l.starts_with(&format!("{}?", stack.idp.slo_url)));
    assert!(
        sign_out.status == 302 && to_idp,
        "/oauth2/sign_out with a SAML session should redirect to the IdP's SLO endpoint {}:\n{}\n{}",
        stack.idp.slo_url,
        out.describe(),
        stack.sekisho_log_excerpt("sign_out")
    );
    let cleared: Vec<String> = sign_out
        .set_cookie_names()
        .into_iter()
        .filter(|n| is_session_cookie(n))
        .collect();
    assert!(
        !cleared.is_empty(),
        "/oauth2/sign_out should clear the session cookies:\n{}",
        out.describe()
    );

    // The LogoutRequest: NameID and SessionIndex of alice's session at the IdP.
    let slo_hop = out
        .hop(&stack.idp_slo_path())
        .expect("the IdP's SLO endpoint");
    let xml = saml_xml::redirect_message(&slo_hop.url, "SAMLRequest")
        .unwrap_or_else(|e| panic!("the LogoutRequest: {e}"));
    let request = parse(&xml);
    let mut problems = Problems::default();
    problems.check(request.is(NS_PROTOCOL, "LogoutRequest"), || {
        format!("the SAMLRequest should be a samlp:LogoutRequest:\n{xml}")
    });
    problems.check(request.attr("ID").is_some_and(is_random_id), || {
        format!("the LogoutRequest needs a random ID:\n{xml}")
    });
    problems.check(
        request.attr("Destination") == Some(stack.idp.slo_url.as_str()),
        || {
            format!(
                "LogoutRequest Destination should be {}:\n{xml}",
                stack.idp.slo_url
            )
        },
    );
    problems.check(
        request
            .child(NS_ASSERTION, "Issuer")
            .is_some_and(|i| i.text().trim() == stack.sp_entity_id()),
        || {
            format!(
                "LogoutRequest Issuer should be {}:\n{xml}",
                stack.sp_entity_id()
            )
        },
    );
    let name_id = request.child(NS_ASSERTION, "NameID");
    problems.check(
        name_id.is_some_and(|n| {
            n.text() == ALICE_NAME_ID && n.attr("Format").is_none_or(|f| f == NAMEID_PERSISTENT)
        }),
        || {
            format!(
                "LogoutRequest NameID should be alice's persistent NameID {ALICE_NAME_ID}:\n{xml}"
            )
        },
    );
    problems.check(
        request
            .child(NS_PROTOCOL, "SessionIndex")
            .is_some_and(|s| s.text() == session_index),
        || format!("LogoutRequest SessionIndex should be {session_index}:\n{xml}"),
    );
    problems.assert_none("the LogoutRequest");

    // The IdP's LogoutResponse comes back to /saml/slo, which sends the browser to rd.
    let slo = out.hop("/saml/slo").unwrap_or_else(|| {
        panic!(
            "the IdP should send its LogoutResponse to /saml/slo:\n{}\n{}",
            out.describe(),
            stack.idp.log_summary()
        )
    });
    assert!(
        slo.url.query_pairs().any(|(n, _)| n == "SAMLResponse"),
        "/saml/slo should get the IdP's LogoutResponse: {}",
        slo.url
    );
    assert_eq!(
        (slo.status, out.next.as_ref().map(Url::as_str)),
        (302, Some(rd.as_str())),
        "/saml/slo with the IdP's LogoutResponse should redirect to rd:\n{}\n{}",
        out.describe(),
        stack.sekisho_log_excerpt("slo")
    );
    stack
        .assert_no_session(&browser, "after SP-initiated single logout")
        .await;

    // The IdP session is over too: a new sign-in asks for the password.
    let again = browser.navigate(&stack.url("/app/again")).await;
    assert!(
        common::saml_stack::idp_login_form(&again).is_some(),
        "after single logout, a new sign-in must show the IdP's login form (no silent SSO):\n{}",
        again.describe()
    );
}

/// Lookalike: forged LogoutRequests and another user's, and Sekisho's LogoutResponse checked field
/// by field; Keycloak's own front-channel logout is `tests/keycloak_saml.rs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idp_initiated_logout_clears_the_local_session() {
    let stack = SamlStack::start(SamlStackOptions::default()).await;
    let browser = Browser::new();
    let login = stack.login(&browser, "/app/", ALICE).await;
    assert!(!browser.session_cookies().is_empty());

    // A LogoutRequest must carry the IdP's signature: anyone can send a browser to /saml/slo
    // (a link, an image), and a forged one must not end the session.
    let session_index = parse(&login.post.xml())
        .find(NS_ASSERTION, "AuthnStatement")
        .and_then(|s| s.attr("SessionIndex"))
        .expect("the IdP's AuthnStatement has a SessionIndex")
        .to_owned();
    let attacker = KeyPair::generate("saml-idp");
    let attacker_key = std::fs::read_to_string(&attacker.key_path).expect("attacker key");
    let mut problems = Problems::default();
    for (case, key) in [
        ("an unsigned LogoutRequest", None),
        (
            "a LogoutRequest signed by another key",
            Some(attacker_key.as_str()),
        ),
    ] {
        let url = stack.idp_logout_request_url(&session_index, key);
        let page = browser.get(&url).await;
        let kept = !browser.session_cookies().is_empty()
            && signed_in_user(&stack, &browser).await.as_deref() == Some("alice");
        problems.check(kept && (400..500).contains(&page.status), || {
            format!(
                "{case} at /saml/slo should be refused (4xx) and leave the session alone:\n{}{}\n{}",
                page.describe(),
                browser.describe_cookies(),
                stack.sekisho_log_excerpt("slo")
            )
        });
    }
    problems.assert_none("forged LogoutRequests");

    let return_to = stack.url("/logged-out-at-the-idp");
    let out = browser
        .navigate_until(&stack.idp.idp_initiated_logout_url(&return_to), |url| {
            url.as_str() == return_to
        })
        .await;
    let slo = out.hop("/saml/slo").unwrap_or_else(|| {
        panic!(
            "the IdP should send its LogoutRequest to Sekisho's /saml/slo:\n{}\n{}",
            out.describe(),
            stack.idp.log_summary()
        )
    });
    let request_xml = saml_xml::redirect_message(&slo.url, "SAMLRequest")
        .unwrap_or_else(|e| panic!("the IdP's LogoutRequest: {e}"));
    let request_id = parse(&request_xml)
        .attr("ID")
        .unwrap_or_default()
        .to_owned();

    let to_idp = slo
        .location
        .as_deref()
        .is_some_and(|l| l.starts_with(&format!("{}?", stack.idp.slo_url)));
    assert!(
        slo.status == 302 && to_idp,
        "/saml/slo with the IdP's LogoutRequest should answer 302 to the IdP's SLO endpoint with a LogoutResponse:\n{}\n{}",
        out.describe(),
        stack.sekisho_log_excerpt("slo")
    );
    let cleared: Vec<String> = slo
        .set_cookie_names()
        .into_iter()
        .filter(|n| is_session_cookie(n))
        .collect();
    assert!(
        !cleared.is_empty(),
        "/saml/slo should clear the session cookies:\n{}",
        out.describe()
    );
    let response_url = slo
        .url
        .join(slo.location.as_deref().unwrap_or_default())
        .expect("URL");
    let xml = saml_xml::redirect_message(&response_url, "SAMLResponse")
        .unwrap_or_else(|e| panic!("Sekisho's LogoutResponse: {e}"));
    let response = parse(&xml);
    let mut problems = Problems::default();
    problems.check(response.is(NS_PROTOCOL, "LogoutResponse"), || {
        format!("the SAMLResponse should be a samlp:LogoutResponse:\n{xml}")
    });
    problems.check(
        response.attr("InResponseTo") == Some(request_id.as_str()),
        || {
            format!(
                "LogoutResponse InResponseTo should be the LogoutRequest's ID {request_id}:\n{xml}"
            )
        },
    );
    problems.check(
        response
            .child(NS_ASSERTION, "Issuer")
            .is_some_and(|i| i.text().trim() == stack.sp_entity_id()),
        || {
            format!(
                "LogoutResponse Issuer should be {}:\n{xml}",
                stack.sp_entity_id()
            )
        },
    );
    problems.check(
        response
            .attr("Destination")
            .is_none_or(|d| d == stack.idp.slo_url),
        || {
            format!(
                "LogoutResponse Destination should be {}:\n{xml}",
                stack.idp.slo_url
            )
        },
    );
    problems.check(
        response
            .find(NS_PROTOCOL, "StatusCode")
            .and_then(|s| s.attr("Value"))
            == Some("urn:oasis:names:tc:SAML:2.0:status:Success"),
        || format!("LogoutResponse status should be Success:\n{xml}"),
    );
    let relay_state = |url: &Url| {
        url.query_pairs()
            .find(|(n, _)| n == "RelayState")
            .map(|(_, v)| v.into_owned())
    };
    problems.check(relay_state(&response_url) == relay_state(&slo.url), || {
        format!(
            "the LogoutResponse should carry the LogoutRequest's RelayState back: {} → {response_url}",
            slo.url
        )
    });
    problems.assert_none("Sekisho's LogoutResponse");

    // The IdP took the answer and finished its logout at ReturnTo.
    assert_eq!(
        out.next.as_ref().map(Url::as_str),
        Some(return_to.as_str()),
        "the IdP should accept Sekisho's LogoutResponse and redirect to ReturnTo:\n{}\n{}",
        out.describe(),
        stack.idp.log_summary()
    );
    stack
        .assert_no_session(&browser, "after IdP-initiated single logout")
        .await;

    // Control for the forged ones above: the same LogoutRequest signed with the IdP's key
    // ends a (new) session.
    let login = stack.login(&browser, "/app/", ALICE).await;
    let session_index = parse(&login.post.xml())
        .find(NS_ASSERTION, "AuthnStatement")
        .and_then(|s| s.attr("SessionIndex"))
        .expect("SessionIndex")
        .to_owned();
    // A genuine LogoutRequest for someone else, planted in alice's browser (a link, an
    // image), is answered but leaves alice's session alone.
    let for_bob =
        stack.idp_logout_request_url_naming(BOB_NAME_ID, &session_index, Some(&stack.idp.key_pem));
    let page = browser.get(&for_bob).await;
    let kept = !browser.session_cookies().is_empty()
        && signed_in_user(&stack, &browser).await.as_deref() == Some("alice");
    assert!(
        page.status == 302 && kept,
        "bob's signed LogoutRequest in alice's browser should be answered (302) and leave alice signed in:\n{}{}\n{}",
        page.describe(),
        browser.describe_cookies(),
        stack.sekisho_log_excerpt("slo")
    );
    let url = stack.idp_logout_request_url(&session_index, Some(&stack.idp.key_pem));
    let page = browser.get(&url).await;
    assert_eq!(
        page.status,
        302,
        "control: the LogoutRequest signed with the IdP's key should be answered with a redirect to the IdP:\n{}\n{}",
        page.describe(),
        stack.sekisho_log_excerpt("slo")
    );
    stack
        .assert_no_session(&browser, "after a LogoutRequest signed with the IdP's key")
        .await;
}

/// GETs `url` at `/saml/slo` with `browser` and checks it is refused: 400 (never 5xx or a
/// redirect), alice still signed in, and a log line naming the failed check (one of
/// `keywords`, case-insensitive).
async fn check_slo_refused(
    stack: &SamlStack,
    browser: &Browser,
    case: &str,
    url: &str,
    keywords: &[&str],
    problems: &mut Problems,
) {
    let before = stack.sekisho.output().lines().len();
    let page = browser.get(url).await;
    let deadline = Instant::now() + Duration::from_secs(2);
    let log = loop {
        let lines = stack.sekisho.output().lines().split_off(before);
        let done = lines
            .iter()
            .any(|l| l.contains("sekisho::access") && l.contains("/saml/slo"));
        if done || Instant::now() >= deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let reasons: String = log
        .iter()
        .filter(|l| !l.contains("sekisho::access"))
        .map(|l| l.to_lowercase())
        .collect::<Vec<_>>()
        .join("\n");
    let user = signed_in_user(stack, browser).await;
    problems.check(page.status == 400 && user.as_deref() == Some("alice"), || {
        format!(
            "{case}: /saml/slo should answer 400 and leave alice's session alone; answered {} and /oauth2/auth says {user:?}\n{}{}\n{}",
            page.status,
            page.describe(),
            browser.describe_cookies(),
            log.join("\n")
        )
    });
    problems.check(
        reasons.contains("refused") && keywords.iter().any(|k| reasons.contains(k)),
        || {
            format!(
                "{case}: the log should say the logout message was refused and why (one of {keywords:?}):\n{}",
                log.join("\n")
            )
        },
    );
}

/// Lookalike: forged, misaddressed, stale and replayed logout messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_messages_are_refused_unless_verified_addressed_to_us_fresh_and_new() {
    let stack = SamlStack::start(SamlStackOptions::default()).await;
    let browser = Browser::new();
    stack.login(&browser, "/app/", ALICE).await;
    let idp_key = stack.idp.key_pem.clone();
    let slo = stack.slo_url();
    let request = || LogoutRequestForge::new(&stack.idp.entity_id, &slo, ALICE_NAME_ID);
    let query = |request: &LogoutRequestForge| {
        RedirectQuery::message("SAMLRequest", &request.xml()).relay_state("idp-relay")
    };
    let signed =
        |request: &LogoutRequestForge| query(request).signed(&idp_key, RSA_SHA256, "sha256");
    let genuine = signed(&request());
    let other_request = request();
    // A LogoutResponse from the IdP to `destination`, issued `age` seconds from now.
    let logout_response = |destination: &str, age: i64| {
        format!(
            "<samlp:LogoutResponse xmlns:samlp=\"{NS_PROTOCOL}\" xmlns:saml=\"{NS_ASSERTION}\" \
             ID=\"_{:032x}\" Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{destination}\" \
             InResponseTo=\"_0123456789abcdef0123456789abcdef\"><saml:Issuer>{}</saml:Issuer>\
             <samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/>\
             </samlp:Status></samlp:LogoutResponse>",
            rand::random::<u128>(),
            saml_xml::xml_time(age),
            stack.idp.entity_id
        )
    };
    let signed_response = |destination: &str, age: i64| {
        RedirectQuery::message("SAMLResponse", &logout_response(destination, age))
            .relay_state("/app/bye")
            .signed(&idp_key, RSA_SHA256, "sha256")
            .url(&slo)
    };
    let mut problems = Problems::default();

    let repeat = |name: &str| {
        let value = genuine.get(name).expect("parameter").to_owned();
        genuine.clone().with(name, &value).url(&slo)
    };
    let mut stale = request();
    stale.issue_instant = saml_xml::xml_time(-600);
    let mut ahead = request();
    ahead.issue_instant = saml_xml::xml_time(600);
    let mut elsewhere = request();
    elsewhere.destination = Some(stack.url("/other/slo"));
    let mut nowhere = request();
    nowhere.destination = None;
    let mut other_issuer = request();
    other_issuer.issuer = "http://127.0.0.1:1/simplesaml/saml2/idp/metadata.php".into();
    let cases: Vec<(&str, String, &[&str])> = vec![
        ("SAMLRequest repeated", repeat("SAMLRequest"), &["repeats"]),
        ("RelayState repeated", repeat("RelayState"), &["repeats"]),
        ("SigAlg repeated", repeat("SigAlg"), &["repeats"]),
        ("Signature repeated", repeat("Signature"), &["repeats"]),
        (
            "a SAMLResponse next to the SAMLRequest",
            genuine.clone().with("SAMLResponse", "x").url(&slo),
            &["both"],
        ),
        (
            "the SAMLRequest swapped for another under the same signature",
            genuine
                .clone()
                .replace(
                    "SAMLRequest",
                    query(&other_request)
                        .get("SAMLRequest")
                        .expect("SAMLRequest"),
                )
                .url(&slo),
            &["does not verify"],
        ),
        (
            "Destination of another endpoint",
            signed(&elsewhere).url(&slo),
            &["destination"],
        ),
        (
            "no Destination",
            signed(&nowhere).url(&slo),
            &["destination"],
        ),
        (
            "IssueInstant 10 min ago",
            signed(&stale).url(&slo),
            &["too old"],
        ),
        (
            "IssueInstant 10 min ahead",
            signed(&ahead).url(&slo),
            &["future"],
        ),
        (
            "Issuer of another IdP",
            signed(&other_issuer).url(&slo),
            &["not our idp"],
        ),
        ("unsigned", query(&request()).url(&slo), &["not signed"]),
        (
            "no SigAlg",
            signed(&request()).without("SigAlg").url(&slo),
            &["no sigalg"],
        ),
        (
            "an unknown SigAlg",
            query(&request())
                .signed(&idp_key, "urn:sekisho:test:no-such-algorithm", "sha256")
                .url(&slo),
            &["unknown sigalg"],
        ),
        (
            "rsa-sha1",
            query(&request())
                .signed(&idp_key, RSA_SHA1, "sha1")
                .url(&slo),
            &["sha-1"],
        ),
        (
            "an unsigned LogoutResponse",
            RedirectQuery::message("SAMLResponse", &logout_response(&slo, 0)).url(&slo),
            &["not signed"],
        ),
        (
            "a LogoutResponse to another Destination",
            signed_response(&stack.url("/other/slo"), 0),
            &["destination"],
        ),
        (
            "a LogoutResponse issued 10 min ago",
            signed_response(&slo, -600),
            &["too old"],
        ),
        (
            "SAMLResponse repeated",
            RedirectQuery::default()
                .with("SAMLResponse", "a")
                .with("SAMLResponse", "b")
                .url(&slo),
            &["repeats"],
        ),
    ];
    for (case, url, keywords) in &cases {
        check_slo_refused(&stack, &browser, case, url, keywords, &mut problems).await;
    }
    problems.assert_none("logout messages at /saml/slo");

    // Controls: a fresh LogoutResponse signed by the IdP is followed to its RelayState, once.
    let returned = signed_response(&slo, 0);
    let page = browser.get(&returned).await;
    assert_eq!(
        (
            page.status,
            page.header("location")
                .and_then(|l| page.url.join(l).ok())
                .map(String::from)
        ),
        (302, Some(stack.url("/app/bye"))),
        "control: the IdP-signed LogoutResponse should redirect to its RelayState:\n{}\n{}",
        page.describe(),
        stack.sekisho_log_excerpt("slo")
    );
    // It ends nothing: /oauth2/sign_out already did, and a kept LogoutResponse planted in
    // another browser must not sign that one out.
    assert_eq!(
        signed_in_user(&stack, &browser).await.as_deref(),
        Some("alice"),
        "a LogoutResponse leaves the browser's session alone:\n{}",
        page.describe()
    );
    let mut problems = Problems::default();
    check_slo_refused(
        &stack,
        &browser,
        "the same LogoutResponse again",
        &returned,
        &["replay"],
        &mut problems,
    )
    .await;
    problems.assert_none("a replayed LogoutResponse");

    // The genuine request ends the session, once.
    let page = browser.get(&genuine.url(&slo)).await;
    assert_eq!(
        page.status,
        302,
        "control: the IdP-signed LogoutRequest should be answered with a redirect to the IdP:\n{}\n{}",
        page.describe(),
        stack.sekisho_log_excerpt("slo")
    );
    stack
        .assert_no_session(&browser, "after the IdP-signed LogoutRequest")
        .await;
    stack.login(&browser, "/app/", ALICE).await;
    let mut problems = Problems::default();
    check_slo_refused(
        &stack,
        &browser,
        "the same LogoutRequest again",
        &genuine.url(&slo),
        &["replay"],
        &mut problems,
    )
    .await;
    problems.assert_none("a replayed LogoutRequest");
}

// ---------------------------------------------------------------------------------------------
// Configuration

/// Lookalike: IdP metadata without a signing certificate, which Keycloak always publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idp_metadata_without_a_signing_certificate_is_a_configuration_error() {
    let idp = common::saml_idp::SamlIdp::start(SamlIdpOptions::default());
    let dir = tempfile::tempdir().expect("temporary directory");
    let public_url = "http://127.0.0.1:4180";

    let run = |metadata: &str, name: &str| {
        let metadata = file_in(dir.path(), &format!("{name}.xml"), metadata);
        let config = sekisho_config(
            public_url,
            (
                "idp_metadata_file",
                metadata.to_str().expect("UTF-8 path").to_owned(),
            ),
            &[],
        );
        file_in(dir.path(), &format!("{name}.toml"), &config)
    };
    let check = |config: &std::path::Path| {
        let out = Command::new(BINARY)
            .arg("check")
            .arg("--config")
            .arg(config)
            .env_remove("SEKISHO_SESSION__SECRET")
            .output()
            .expect("run sekisho check");
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };

    // Control: the metadata as served passes.
    let good = run(&idp.metadata(), "good");
    let (code, output) = check(&good);
    assert_eq!(
        code,
        Some(0),
        "`sekisho check` should accept the IdP's metadata as served:\n{output}"
    );

    for (name, metadata) in [
        (
            "only an encryption key (the signing KeyDescriptor removed)",
            idp.metadata_without_signing_cert(),
        ),
        (
            "no KeyDescriptor at all",
            idp.metadata_without_key_descriptors(),
        ),
    ] {
        let config = run(&metadata, "bad");
        let (code, output) = check(&config);
        assert!(
            code == Some(64) && output.contains("saml.idp_metadata_file"),
            "IdP metadata with {name}: `sekisho check` should name saml.idp_metadata_file and exit 64, exited {code:?}:\n{output}"
        );

        let mut command = Command::new(BINARY);
        command
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env_remove("SEKISHO_SESSION__SECRET")
            .env("SEKISHO_LISTEN", "127.0.0.1:0");
        let mut serve = Process::spawn("sekisho serve", command);
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = serve.exit_status() {
                break Some(status);
            }
            if Instant::now() >= deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(64),
            "IdP metadata with {name}: `sekisho serve` should exit 64 at once; it {}:\n{}",
            if status.is_some() {
                "exited otherwise"
            } else {
                "kept running"
            },
            serve.output().text()
        );
    }
    let metadata = std::fs::read_to_string(dir.path().join("bad.xml")).unwrap_or_default();
    assert!(
        !metadata.contains("use=\"signing\""),
        "test premise: the altered metadata has no signing key"
    );
}

/// Lookalike: both protocols on one Sekisho, `/oauth2/start` offering the choice too;
/// `tests/demo.rs` signs in both ways at Keycloak from the choice page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_oidc_and_saml_the_sign_in_page_offers_both() {
    let provider = OidcProvider::start(OidcOptions::default());
    let stack = SamlStack::start(
        SamlStackOptions::default()
            .set("oidc.issuer_url", provider.issuer.clone())
            .set("oidc.client_id", "sekisho")
            .set("oidc.client_secret", "sekisho-secret"),
    )
    .await;

    let browser = Browser::new();
    let target = stack.url("/app/page?x=1");
    let page = browser.navigate(&target).await;
    let links = |page: &Page| -> Vec<Url> {
        let mut links = Vec::new();
        let mut rest = page.body.as_str();
        while let Some(i) = rest.find("href=\"") {
            rest = &rest[i + 6..];
            let end = rest.find('"').unwrap_or(rest.len());
            let href = rest[..end].replace("&amp;", "&");
            if let Ok(url) = page.url.join(&href) {
                links.push(url);
            }
            rest = &rest[end..];
        }
        links
    };
    let provider_link = |page: &Page, name: &str| {
        links(page)
            .into_iter()
            .find(|l| l.query_pairs().any(|(n, v)| n == "provider" && v == name))
    };
    let saml = provider_link(&page, "saml");
    let oidc = provider_link(&page, "oidc");
    assert!(
        page.status == 200
            && page
                .header("content-type")
                .is_some_and(|t| t.starts_with("text/html"))
            && saml.is_some()
            && oidc.is_some(),
        "with [oidc] and [saml], an unauthenticated page should show (200, HTML) a link per provider (provider=oidc, provider=saml):\n{}",
        page.describe()
    );
    let start = browser
        .navigate(&stack.url("/oauth2/start?rd=%2Fapp%2Fstarted"))
        .await;
    assert!(
        start.status == 200
            && provider_link(&start, "saml").is_some()
            && provider_link(&start, "oidc").is_some(),
        "/oauth2/start without provider= should show the same choice:\n{}",
        start.describe()
    );

    // The SAML link signs in and comes back to the page.
    let first = browser.navigate(saml.expect("saml link").as_str()).await;
    let post = stack.sign_in_at_idp(&browser, first, ALICE).await;
    let back = stack.submit_acs(&browser, &post).await;
    assert_eq!(
        (back.status, back.url.as_str()),
        (200, target.as_str()),
        "following the SAML link and signing in should come back to {target}:\n{}",
        back.describe()
    );
    assert_identity_at_app(&back, "alice", "alice@example.com", "/admins,/dev");

    // The OpenID Connect link goes to the OpenID provider.
    let other = Browser::new();
    let oidc_start = other
        .navigate_until(oidc.expect("oidc link").as_str(), |url| {
            url.port() == Some(provider.port)
        })
        .await;
    let authorize = oidc_start.next.as_ref().map(|u| u.path().to_owned());
    assert_eq!(
        authorize.as_deref(),
        Some("/realms/demo/protocol/openid-connect/auth"),
        "the OpenID Connect link should lead to the provider's authorization endpoint:\n{}",
        oidc_start.describe()
    );
}

/// Lookalike: Sekisho's configuration (IdP metadata from a file); the IdP only signs alice in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idp_metadata_from_a_file_works_like_the_url() {
    let stack = SamlStack::start(SamlStackOptions {
        metadata: Metadata::File,
        ..SamlStackOptions::default()
    })
    .await;
    assert!(
        stack.config.contains("idp_metadata_file"),
        "{}",
        stack.config
    );
    let browser = Browser::new();
    let login = stack.login(&browser, "/app/file", ALICE).await;
    assert_identity_at_app(&login.page, "alice", "alice@example.com", "/admins,/dev");
}
