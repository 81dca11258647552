//! The `[saml]` section: a SAML 2.0 IdP such as a Keycloak realm.

use std::time::Duration;

use url::Url;

use super::raw::RawSaml;
use super::validate::{duration, http_url};

#[derive(Clone, Debug)]
pub struct SamlConfig {
    /// Fetched at start and refreshed; or
    pub metadata_url: Option<Url>,
    /// read from `idp_metadata_file` at load, already checked for a signing certificate.
    pub metadata_xml: Option<String>,
    pub sp_entity_id: String,
    /// Signs AuthnRequests and LogoutRequests (Keycloak's "client signature required").
    pub sp_signing: Option<SpSigning>,
    pub name_id_format: String,
    pub allow_idp_initiated: bool,
    pub allow_sha1: bool,
    pub clock_skew: Duration,
    pub metadata_refresh: Duration,
    pub attributes: SamlAttributes,
}

/// The SP's own key pair, PEM key and DER certificate, both checked at load.
#[derive(Clone)]
pub struct SpSigning {
    pub key_pem: Vec<u8>,
    pub cert_der: Vec<u8>,
}

impl std::fmt::Debug for SpSigning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpSigning(<key>)")
    }
}

fn sp_signing(key_file: &str, cert_file: &str) -> Result<SpSigning, (&'static str, String)> {
    let key_pem = std::fs::read(key_file)
        .map_err(|e| ("saml.sp_key_file", format!("cannot read {key_file}: {e}")))?;
    openssl::pkey::PKey::private_key_from_pem(&key_pem).map_err(|_| {
        (
            "saml.sp_key_file",
            format!("{key_file} holds no PEM private key"),
        )
    })?;
    let cert_pem = std::fs::read(cert_file)
        .map_err(|e| ("saml.sp_cert_file", format!("cannot read {cert_file}: {e}")))?;
    let cert_der = openssl::x509::X509::from_pem(&cert_pem)
        .and_then(|c| c.to_der())
        .map_err(|_| {
            (
                "saml.sp_cert_file",
                format!("{cert_file} holds no PEM certificate"),
            )
        })?;
    Ok(SpSigning { key_pem, cert_der })
}

/// SAML attribute names for each identity field.
#[derive(Clone, Debug)]
pub struct SamlAttributes {
    pub user: String,
    pub email: String,
    pub groups: String,
    pub roles: String,
}

pub fn validate(raw: &RawSaml, report: &mut impl FnMut(&str, String)) -> Option<SamlConfig> {
    let (url, file) = (raw.idp_metadata_url.trim(), raw.idp_metadata_file.trim());
    let mut metadata_url = None;
    let mut metadata_xml = None;
    let mut ok = true;
    match (url.is_empty(), file.is_empty()) {
        (true, true) => {
            report(
                "saml.idp_metadata_url",
                "one of idp_metadata_url or idp_metadata_file is required".into(),
            );
            ok = false;
        }
        (false, false) => {
            report(
                "saml.idp_metadata_file",
                "set idp_metadata_url or idp_metadata_file, not both".into(),
            );
            ok = false;
        }
        (false, true) => match http_url(url) {
            Ok(u) => metadata_url = Some(u),
            Err(m) => {
                report("saml.idp_metadata_url", m);
                ok = false;
            }
        },
        (true, false) => match std::fs::read_to_string(file) {
            Ok(xml) => match crate::provider::check_idp_metadata(&xml) {
                Ok(_) => metadata_xml = Some(xml),
                Err(m) => {
                    report("saml.idp_metadata_file", format!("{file}: {m}"));
                    ok = false;
                }
            },
            Err(e) => {
                report("saml.idp_metadata_file", format!("cannot read {file}: {e}"));
                ok = false;
            }
        },
    }
    if raw.sp_entity_id.trim().is_empty() {
        report(
            "saml.sp_entity_id",
            "is required, e.g. https://app.example.com/saml/metadata".into(),
        );
        ok = false;
    }
    let signing = match (raw.sp_key_file.trim(), raw.sp_cert_file.trim()) {
        ("", "") => None,
        (key, cert) if key.is_empty() || cert.is_empty() => {
            report(
                "saml.sp_key_file",
                "sp_key_file and sp_cert_file go together".into(),
            );
            ok = false;
            None
        }
        (key, cert) => match sp_signing(key, cert) {
            Ok(signing) => Some(signing),
            Err((field, message)) => {
                report(field, message);
                ok = false;
                None
            }
        },
    };
    let clock_skew = duration(&raw.clock_skew)
        .map_err(|m| report("saml.clock_skew", m))
        .ok();
    let metadata_refresh = duration(&raw.metadata_refresh)
        .map_err(|m| report("saml.metadata_refresh", m))
        .ok();
    let a = &raw.attributes;
    for (key, value) in [
        ("saml.attributes.user", &a.user),
        ("saml.attributes.groups", &a.groups),
    ] {
        if value.trim().is_empty() {
            report(key, "must name an attribute".into());
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    Some(SamlConfig {
        metadata_url,
        metadata_xml,
        sp_entity_id: raw.sp_entity_id.trim().to_owned(),
        sp_signing: signing,
        name_id_format: raw.name_id_format.clone(),
        allow_idp_initiated: raw.allow_idp_initiated,
        allow_sha1: raw.allow_sha1,
        clock_skew: clock_skew?,
        metadata_refresh: metadata_refresh?,
        attributes: SamlAttributes {
            user: a.user.clone(),
            email: a.email.clone(),
            groups: a.groups.clone(),
            roles: a.roles.clone(),
        },
    })
}
