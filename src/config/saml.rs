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
    pub name_id_format: String,
    pub allow_idp_initiated: bool,
    pub allow_sha1: bool,
    pub clock_skew: Duration,
    pub metadata_refresh: Duration,
    pub attributes: SamlAttributes,
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
    if !raw.sp_key_file.is_empty() || !raw.sp_cert_file.is_empty() {
        report(
            "saml.sp_key_file",
            "signed AuthnRequests are not supported yet; leave sp_key_file and sp_cert_file empty"
                .into(),
        );
        ok = false;
    }
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
