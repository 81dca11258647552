//! The shape checks made on SAML messages before (and besides) their signatures: arbitrary
//! bytes panic nowhere, and only a well-formed message of the expected shape passes.

use std::sync::LazyLock;

use quick_xml::Reader;
use quick_xml::events::Event;
use samael::crypto::CertificateDer;

use super::{first_line, text};
use crate::provider::saml_logout::LogoutShape;
use crate::provider::saml_redirect::Redirect;
use crate::provider::saml_shape::check_shape;

/// A certificate whose private key no input can know: nothing may verify with it.
static IDP_CERT: LazyLock<CertificateDer> = LazyLock::new(|| {
    let pem = include_bytes!("../../tests/fixtures/redis-ca.pem");
    let x509 = openssl::x509::X509::from_pem(pem).expect("a certificate");
    CertificateDer::from(x509.to_der().expect("DER"))
});

/// Input: a SAML response's XML, as it arrives (base64-decoded) at the ACS.
pub fn saml_shape(data: &[u8]) {
    let xml = text(data);
    let Ok(outcome) = check_shape(&xml) else {
        return;
    };
    let shape = Shape::read(&xml).unwrap_or_else(|e| panic!("passed, but {e}: {xml:?}"));
    assert_eq!(shape.roots, ["Response"], "{xml:?}");
    let failure = outcome.failure();
    if failure.is_none() {
        assert_eq!(shape.assertions, [1], "{xml:?}");
    } else {
        assert!(shape.assertions.iter().all(|&depth| depth == 1), "{xml:?}");
    }
    assert!(
        failure.is_none_or(|f| f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'/')),
        "a refusal shown on the error page says only status names"
    );
}

/// Input: `xml` and a logout message's XML, or `query` and the query string of one arriving at
/// `/saml/slo` over HTTP-Redirect.
pub fn saml_logout(data: &[u8]) {
    let text = text(data);
    match first_line(&text) {
        ("xml", xml) => logout_shape(xml),
        ("query", query) => {
            let Ok(redirect) = Redirect::parse(query) else {
                return;
            };
            for allow_sha1 in [false, true] {
                assert!(redirect.verify(&[], allow_sha1).is_err(), "no key, no pass");
                assert!(
                    redirect
                        .verify(std::slice::from_ref(&IDP_CERT), allow_sha1)
                        .is_err(),
                    "{query:?} verifies without the IdP's key"
                );
            }
            let _ = redirect.relay_state();
            if let Ok(xml) = redirect.xml() {
                logout_shape(&xml);
            }
        }
        _ => {}
    }
}

fn logout_shape(xml: &str) {
    let Ok(shape) = LogoutShape::read(xml) else {
        return;
    };
    let read = Shape::read(xml).unwrap_or_else(|e| panic!("passed, but {e}: {xml:?}"));
    assert_eq!(read.roots, [shape.root.as_str()], "{xml:?}");
    assert!(
        xml.contains("urn:oasis:names:tc:SAML:2.0:protocol"),
        "a root outside the protocol namespace passed: {xml:?}"
    );
}

/// What a plain reading of a document finds: its root elements' local names and the depth of
/// every assertion.
struct Shape {
    roots: Vec<String>,
    assertions: Vec<usize>,
}

impl Shape {
    fn read(xml: &str) -> Result<Self, String> {
        let mut reader = Reader::from_str(xml);
        let mut open: Vec<Vec<u8>> = Vec::new();
        let (mut roots, mut assertions) = (Vec::new(), Vec::new());
        loop {
            let event = reader.read_event().map_err(|e| e.to_string())?;
            let (element, opens) = match &event {
                Event::Start(e) => (e, true),
                Event::Empty(e) => (e, false),
                Event::End(e) => {
                    if open.pop().as_deref() != Some(e.name().as_ref()) {
                        return Err("an end tag that closes nothing open".into());
                    }
                    continue;
                }
                Event::DocType(_) => return Err("a DOCTYPE".into()),
                Event::Eof => break,
                _ => continue,
            };
            let local = element.local_name();
            if open.is_empty() {
                roots.push(String::from_utf8_lossy(local.as_ref()).into_owned());
            }
            if matches!(local.as_ref(), b"Assertion" | b"EncryptedAssertion") {
                assertions.push(open.len());
            }
            if opens {
                open.push(element.name().as_ref().to_vec());
            }
        }
        if !open.is_empty() {
            return Err("elements left open".into());
        }
        Ok(Self { roots, assertions })
    }
}
