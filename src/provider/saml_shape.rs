//! The shape a SAML response must have before its signature is even looked at. samael reads
//! only signed content, but a response that also carries unsigned assertions, a second Response
//! or assertions in odd places is a signature-wrapping attempt (or a broken IdP): refuse it
//! outright rather than trust that the right part was picked.

use quick_xml::Reader;
use quick_xml::events::Event;

/// Checks the shape of `xml` and, in the same pass, reads what it says of its outcome and its
/// signing (see [`Outcome`]). A Response whose status is not Success may carry no assertion:
/// the caller reports the refusal it states.
pub fn check_shape(xml: &str) -> Result<Outcome, String> {
    let mut reader = Reader::from_str(xml);
    let mut depth = 0usize;
    let mut responses = 0;
    let mut assertions = 0;
    let mut outcome = Outcome::default();
    // The depth of the Status element's children while inside it.
    let mut in_status = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("malformed XML: {e}"))?;
        let (element, opens) = match &event {
            Event::Start(e) => (e, true),
            Event::Empty(e) => (e, false),
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if in_status.is_some_and(|d| depth < d) {
                    in_status = None;
                }
                continue;
            }
            Event::DocType(_) => return Err("a DOCTYPE is not allowed in a SAML response".into()),
            // The reader does not mind a document that stops inside an element.
            Event::Eof if depth > 0 => return Err("malformed XML: elements left open".into()),
            Event::Eof => break,
            _ => continue,
        };
        match element.local_name().as_ref() {
            b"Response" if depth == 0 => responses += 1,
            b"Response" => {
                return Err("a Response nested inside the response (signature wrapping)".into());
            }
            b"Assertion" | b"EncryptedAssertion" if depth == 1 => assertions += 1,
            b"Assertion" | b"EncryptedAssertion" => {
                return Err(
                    "an assertion outside its place under the Response (signature wrapping)".into(),
                );
            }
            _ if depth == 0 => return Err("the document is not a SAML Response".into()),
            b"Signature" => outcome.signed = true,
            b"Status" if depth == 1 => in_status = Some(depth + 1),
            b"StatusCode" if in_status.is_some() => outcome.status.push(status_code(element)),
            _ => {}
        }
        if opens {
            depth += 1;
        }
    }
    match (responses, assertions) {
        (1, _) if outcome.failure().is_some() => Ok(outcome),
        (1, 1) => Ok(outcome),
        (1, 0) => Err("the response carries no assertion".into()),
        (1, _) => Err("the response carries more than one assertion (signature wrapping)".into()),
        _ => Err("the document is not a SAML Response".into()),
    }
}

/// A StatusCode's Value, the URN prefix taken off (`RequestDenied`).
fn status_code(element: &quick_xml::events::BytesStart<'_>) -> String {
    let value = element
        .try_get_attribute("Value")
        .ok()
        .flatten()
        // A status is a URN: nothing to unescape.
        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
        .unwrap_or_default();
    let value = value.trim();
    value
        .strip_prefix(STATUS_PREFIX)
        .unwrap_or(value)
        .to_owned()
}

/// What a Response says of its outcome and its signing, read before it is verified, only to
/// explain a refusal: an IdP that refused the sign-in (a StatusCode other than Success, as
/// Keycloak sends when consent is denied) and one that signs nothing are misconfigurations to
/// name, not forgeries to report as a broken signature.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The Response's StatusCode values, outermost first, with the URN prefix taken off
    /// (`["Responder", "RequestDenied"]`); empty when there is none.
    pub status: Vec<String>,
    /// Whether any element of the document is an XML Signature.
    pub signed: bool,
}

const STATUS_PREFIX: &str = "urn:oasis:names:tc:SAML:2.0:status:";

impl Outcome {
    /// The status, `Responder/RequestDenied`, when it is not Success. It is read before any
    /// signature is checked and shown on the error page, so only status-code names pass:
    /// anything else is `other`.
    pub fn failure(&self) -> Option<String> {
        let name = |code: &String| {
            let plain = !code.is_empty()
                && code.len() <= 40
                && code.bytes().all(|b| b.is_ascii_alphanumeric());
            if plain {
                code.clone()
            } else {
                "other".to_owned()
            }
        };
        match self.status.first().map(String::as_str) {
            None | Some("Success") => None,
            Some(_) => Some(self.status.iter().map(name).collect::<Vec<_>>().join("/")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = r#"xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion""#;

    /// Found by fuzzing: the reader reports the end of the document, not the elements still
    /// open, so a Response that stops inside its Assertion passed the shape check.
    #[test]
    fn a_document_that_stops_inside_an_element_is_refused() {
        for xml in [
            format!(r#"<samlp:Response {P}><saml:Assertion amlp:Response>"#),
            format!(r#"<samlp:Response {P}><saml:Assertion ID="a"></saml:Assertion>"#),
        ] {
            let refused = check_shape(&xml).unwrap_err();
            assert!(refused.contains("left open"), "{xml}: {refused}");
        }
    }

    #[test]
    fn one_assertion_under_the_response_passes() {
        let xml = format!(
            r#"<samlp:Response {P}><saml:Issuer>x</saml:Issuer><saml:Assertion ID="a"><saml:Subject/></saml:Assertion></samlp:Response>"#
        );
        check_shape(&xml).unwrap();
    }

    #[test]
    fn outcome_names_the_status_and_any_signature() {
        let denied = format!(
            r#"<samlp:Response {P}><saml:Issuer>x</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:RequestDenied"/></samlp:StatusCode></samlp:Status></samlp:Response>"#
        );
        let outcome = check_shape(&denied).expect("a refusal is a shape of its own");
        assert_eq!(
            outcome.failure().as_deref(),
            Some("Responder/RequestDenied")
        );
        assert!(!outcome.signed);
        let success = format!(
            r#"<samlp:Response {P}><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="a"><samlp:Status><samlp:StatusCode Value="x"/></samlp:Status></saml:Assertion></samlp:Response>"#
        );
        let outcome = check_shape(&success).expect("a signed success");
        assert_eq!(
            (outcome.failure(), outcome.signed),
            (None, true),
            "{outcome:?}"
        );
        assert!(check_shape("not xml <<").is_err());
        let odd = format!(
            r#"<samlp:Response {P}><samlp:Status><samlp:StatusCode Value="Visit evil.example to fix"/></samlp:Status></samlp:Response>"#
        );
        assert_eq!(
            check_shape(&odd).expect("a refusal").failure().as_deref(),
            Some("other")
        );
    }

    #[test]
    fn wrapping_shapes_are_refused() {
        let cases = [
            format!(
                r#"<samlp:Response {P}><saml:Assertion ID="f"/><saml:Assertion ID="a"/></samlp:Response>"#
            ),
            format!(
                r#"<samlp:Response {P}><samlp:Extensions><saml:Assertion ID="a"/></samlp:Extensions><saml:Assertion ID="f"/></samlp:Response>"#
            ),
            format!(
                r#"<samlp:Response {P}><saml:Assertion ID="f"><saml:Advice><saml:Assertion ID="a"/></saml:Advice></saml:Assertion></samlp:Response>"#
            ),
            format!(
                r#"<samlp:Response {P}><samlp:Extensions><samlp:Response ID="r"/></samlp:Extensions><saml:Assertion ID="f"/></samlp:Response>"#
            ),
            format!(r#"<samlp:Response {P}></samlp:Response>"#),
            format!(r#"<saml:Assertion {P} ID="a"/>"#),
            format!(
                r#"<!DOCTYPE x [<!ENTITY e "y">]><samlp:Response {P}><saml:Assertion ID="a"/></samlp:Response>"#
            ),
            "not xml <<".to_owned(),
        ];
        for xml in cases {
            assert!(check_shape(&xml).is_err(), "{xml}");
        }
    }
}
