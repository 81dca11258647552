//! The shape a SAML response must have before its signature is even looked at. samael reads
//! only signed content, but a response that also carries unsigned assertions, a second Response
//! or assertions in odd places is a signature-wrapping attempt (or a broken IdP): refuse it
//! outright rather than trust that the right part was picked.

use quick_xml::Reader;
use quick_xml::events::Event;

pub fn check_shape(xml: &str) -> Result<(), String> {
    let mut reader = Reader::from_str(xml);
    let mut depth = 0usize;
    let mut responses = 0;
    let mut assertions = 0;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("malformed XML: {e}"))?;
        let (element, opens) = match &event {
            Event::Start(e) => (Some(e.local_name().as_ref().to_vec()), true),
            Event::Empty(e) => (Some(e.local_name().as_ref().to_vec()), false),
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                continue;
            }
            Event::DocType(_) => return Err("a DOCTYPE is not allowed in a SAML response".into()),
            Event::Eof => break,
            _ => continue,
        };
        if let Some(name) = element {
            match name.as_slice() {
                b"Response" if depth == 0 => responses += 1,
                b"Response" => {
                    return Err("a Response nested inside the response (signature wrapping)".into());
                }
                b"Assertion" | b"EncryptedAssertion" if depth == 1 => assertions += 1,
                b"Assertion" | b"EncryptedAssertion" => {
                    return Err(
                        "an assertion outside its place under the Response (signature wrapping)"
                            .into(),
                    );
                }
                _ if depth == 0 => return Err("the document is not a SAML Response".into()),
                _ => {}
            }
            if opens {
                depth += 1;
            }
        }
    }
    match (responses, assertions) {
        (1, 1) => Ok(()),
        (1, 0) => Err("the response carries no assertion".into()),
        (1, _) => Err("the response carries more than one assertion (signature wrapping)".into()),
        _ => Err("the document is not a SAML Response".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = r#"xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion""#;

    #[test]
    fn one_assertion_under_the_response_passes() {
        let xml = format!(
            r#"<samlp:Response {P}><saml:Issuer>x</saml:Issuer><saml:Assertion ID="a"><saml:Subject/></saml:Assertion></samlp:Response>"#
        );
        check_shape(&xml).unwrap();
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
