//! SAML single logout over the HTTP-Redirect binding: our LogoutRequest when a user signs out
//! here, and our LogoutResponse when the IdP asks us to end a session.

use std::io::{Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use samael::crypto::UrlVerifier;
use samael::metadata::HTTP_REDIRECT_BINDING;
use samael::schema::LogoutRequest;
use url::Url;

use super::saml::{Saml, SamlError};

/// A LogoutRequest the IdP sent, checked.
#[derive(Debug)]
pub struct IdpLogout {
    pub name_id: Option<String>,
    pub session_index: Option<String>,
    /// Where to send the browser with our LogoutResponse.
    pub respond_to: Url,
}

impl Saml {
    /// The IdP's SLO URL carrying a LogoutRequest for this user and session, returning to `rd`.
    pub fn logout_redirect(
        &self,
        name_id: &str,
        session_index: Option<&str>,
        rd: &str,
    ) -> Option<Url> {
        let sp = self.current().ok()?;
        let slo = sp.slo_binding_location(HTTP_REDIRECT_BINDING)?;
        let index = session_index
            .map(|i| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", escape(i)))
            .unwrap_or_default();
        let xml = format!(
            r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}" Destination="{dest}"><saml:Issuer>{issuer}</saml:Issuer><saml:NameID Format="{format}">{name_id}</saml:NameID>{index}</samlp:LogoutRequest>"#,
            id = new_id(),
            now = now(),
            dest = escape(&slo),
            issuer = escape(&self.config.sp_entity_id),
            format = escape(&self.config.name_id_format),
            name_id = escape(name_id),
        );
        let url = redirect_url(&slo, "SAMLRequest", &xml, rd)?;
        match &self.key {
            Some(key) => samael::crypto::sign_url(url, key).ok(),
            None => Some(url),
        }
    }

    /// Checks a LogoutRequest that arrived at `/saml/slo` (`uri`: path and query as received):
    /// it must be signed by the IdP and name the IdP as issuer.
    pub fn idp_logout(&self, uri: &str) -> Result<IdpLogout, SamlError> {
        let sp = self.current()?;
        let url = Url::parse(&format!("http://sekisho.invalid{uri}"))
            .map_err(|e| SamlError::Rejected(e.to_string()))?;
        if !url.query_pairs().any(|(k, _)| k == "Signature") {
            return Err(SamlError::Rejected("LogoutRequest is not signed".into()));
        }
        let certs = sp.idp_signing_certs().ok().flatten().unwrap_or_default();
        let verified = certs.iter().any(|cert| {
            UrlVerifier::from_x509(cert)
                .ok()
                .and_then(|v| {
                    v.verify_percent_encoded_request_uri_string(&uri.to_owned())
                        .ok()
                })
                .unwrap_or(false)
        });
        if !verified {
            return Err(SamlError::Rejected(
                "LogoutRequest signature does not verify".into(),
            ));
        }
        let encoded = query(&url, "SAMLRequest")
            .ok_or_else(|| SamlError::Rejected("no SAMLRequest".into()))?;
        let xml = inflate(&encoded)
            .ok_or_else(|| SamlError::Rejected("SAMLRequest does not decode".into()))?;
        let request: LogoutRequest = xml
            .parse()
            .map_err(|_| SamlError::Rejected("SAMLRequest is not a LogoutRequest".into()))?;
        let issuer = request.issuer.as_ref().and_then(|i| i.value.clone());
        if issuer != sp.idp_metadata.entity_id {
            return Err(SamlError::Rejected(format!(
                "LogoutRequest from {issuer:?}, not our IdP"
            )));
        }
        let slo = sp
            .slo_binding_location(HTTP_REDIRECT_BINDING)
            .ok_or_else(|| {
                SamlError::Unavailable("the IdP has no HTTP-Redirect SLO endpoint".into())
            })?;
        let xml = format!(
            r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}" Destination="{dest}" InResponseTo="{irt}"><saml:Issuer>{issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>"#,
            id = new_id(),
            now = now(),
            dest = escape(&slo),
            irt = escape(request.id.as_deref().unwrap_or_default()),
            issuer = escape(&self.config.sp_entity_id),
        );
        let relay = query(&url, "RelayState").unwrap_or_default();
        let respond_to = redirect_url(&slo, "SAMLResponse", &xml, &relay)
            .and_then(|url| match &self.key {
                Some(key) => samael::crypto::sign_url(url, key).ok(),
                None => Some(url),
            })
            .ok_or_else(|| SamlError::Unavailable("cannot build the LogoutResponse".into()))?;
        Ok(IdpLogout {
            name_id: request.name_id.map(|n| n.value),
            session_index: request.session_index,
            respond_to,
        })
    }
}

fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn redirect_url(endpoint: &str, param: &str, xml: &str, relay_state: &str) -> Option<Url> {
    let mut deflated = Vec::new();
    DeflateEncoder::new(&mut deflated, Compression::default())
        .write_all(xml.as_bytes())
        .ok()?;
    let mut url = Url::parse(endpoint).ok()?;
    url.query_pairs_mut()
        .append_pair(param, &STANDARD.encode(&deflated));
    if !relay_state.is_empty() {
        url.query_pairs_mut().append_pair("RelayState", relay_state);
    }
    Some(url)
}

fn inflate(encoded: &str) -> Option<String> {
    let bytes = STANDARD.decode(encoded.trim()).ok()?;
    let mut xml = String::new();
    DeflateDecoder::new(bytes.as_slice())
        .take(1 << 20)
        .read_to_string(&mut xml)
        .ok()?;
    Some(xml)
}

fn new_id() -> String {
    format!("_{:032x}", rand::random::<u128>())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_binding_round_trip() {
        let url = redirect_url(
            "https://idp.example.com/slo?x=1",
            "SAMLRequest",
            "<a>&amp;</a>",
            "/back",
        )
        .unwrap();
        let encoded = query(&url, "SAMLRequest").unwrap();
        assert_eq!(inflate(&encoded).as_deref(), Some("<a>&amp;</a>"));
        assert_eq!(query(&url, "RelayState").as_deref(), Some("/back"));
        assert_eq!(query(&url, "x").as_deref(), Some("1"));
    }

    #[test]
    fn escaping() {
        assert_eq!(escape(r#"a<b>"c"&"#), "a&lt;b&gt;&quot;c&quot;&amp;");
    }
}
