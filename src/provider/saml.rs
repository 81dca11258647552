//! SAML 2.0 against a Keycloak realm (or any IdP): metadata, AuthnRequests over
//! HTTP-Redirect, and responses over HTTP-POST, verified by samael with our own additions:
//! a signing certificate is mandatory, SHA-1 is refused unless allowed, request IDs carry 128
//! random bits, and the caller accepts an assertion once (its id and lifetime come back with
//! the session, for the replay cache).

use std::collections::HashMap;

use base64::Engine;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use openssl::pkey::{PKey, Private};
use samael::crypto::{AllowedSignatureAlgorithm, CertificateDer};
use samael::metadata::{EntityDescriptor, HTTP_REDIRECT_BINDING};
use samael::schema::{Assertion, AudienceRestriction};
use samael::service_provider::{ServiceProvider, ServiceProviderBuilder};
use samael::traits::ToXml;
use url::Url;

use crate::config::SamlConfig;
use crate::readiness::ReadinessCheck;
use crate::route::Route;
use crate::session::{LoginAttempt, ProviderKind, Session};

#[derive(Debug, thiserror::Error)]
pub enum SamlError {
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
    /// A check on the response failed; the reason names it.
    #[error("{0}")]
    Rejected(String),
}

/// The SP's endpoints, derived from `public_url`.
#[derive(Clone, Debug)]
pub struct SpUrls {
    pub acs: String,
    pub slo: String,
    pub metadata: String,
}

impl SpUrls {
    pub fn new(public_url: &Url) -> Self {
        let join = |p: &str| public_url.join(p).map(String::from).unwrap_or_default();
        Self {
            acs: join(Route::SamlAcs.relative()),
            slo: join(Route::SamlSlo.relative()),
            metadata: join(Route::SamlMetadata.relative()),
        }
    }
}

/// What an IdP's metadata must provide: an SSO endpoint and a signing certificate.
pub fn check_idp_metadata(xml: &str) -> Result<EntityDescriptor, String> {
    let descriptor: EntityDescriptor =
        xml.parse().map_err(|e| format!("not SAML metadata: {e}"))?;
    let probe = ServiceProviderBuilder::default()
        .idp_metadata(descriptor.clone())
        .build()
        .map_err(|e| e.to_string())?;
    match probe.idp_signing_certs() {
        Ok(Some(certs)) if !certs.is_empty() => {}
        Ok(_) => {
            return Err(
                "the IdP metadata has no signing certificate (KeyDescriptor use=\"signing\")"
                    .into(),
            );
        }
        Err(e) => return Err(format!("the IdP's signing certificate does not parse: {e}")),
    }
    if probe.sso_binding_location(HTTP_REDIRECT_BINDING).is_none() {
        return Err(
            "the IdP metadata has no SingleSignOnService with the HTTP-Redirect binding".into(),
        );
    }
    Ok(descriptor)
}

/// How long a SAML message may take from the IdP to us through the browser.
const DELIVERY_DELAY: Duration = Duration::from_secs(90);

pub struct Saml {
    pub(super) config: SamlConfig,
    urls: SpUrls,
    http: openidconnect::reqwest::Client,
    sp: RwLock<Option<Arc<ServiceProvider>>>,
    /// Signs our requests when configured.
    pub(super) key: Option<PKey<Private>>,
    last_error: RwLock<String>,
    /// Whether the IdP's wish for signed requests Sekisho cannot sign was logged.
    noted_unsigned: AtomicBool,
}

impl std::fmt::Debug for Saml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Saml")
            .field("sp_entity_id", &self.config.sp_entity_id)
            .finish()
    }
}

/// A verified SAML response: the session it establishes, and what the replay cache must
/// remember so the assertion is accepted once.
#[derive(Debug)]
pub struct SamlSignIn {
    pub session: Session,
    pub assertion_id: String,
    /// Until the assertion could no longer be valid anyway (its NotOnOrAfter plus skew).
    pub remember_for: Duration,
}

/// What `/saml/login` needs: where to send the browser, and what to remember.
pub struct SamlLogin {
    pub url: Url,
    pub attempt: LoginAttempt,
}

impl Saml {
    pub fn new(config: SamlConfig, public_url: &Url) -> Self {
        let http = openidconnect::reqwest::Client::builder()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let key = config
            .sp_signing
            .as_ref()
            .and_then(|s| PKey::private_key_from_pem(&s.key_pem).ok());
        let saml = Self {
            key,
            urls: SpUrls::new(public_url),
            http,
            sp: RwLock::new(None),
            last_error: RwLock::new("IdP metadata not loaded yet".into()),
            noted_unsigned: AtomicBool::new(false),
            config,
        };
        if let Some(xml) = saml.config.metadata_xml.clone() {
            if let Err(e) = saml.install(&xml) {
                saml.set_error(e);
            }
        }
        saml
    }

    /// A builder carrying our key and certificate, when configured.
    fn sp_builder(&self) -> ServiceProviderBuilder {
        let mut builder = ServiceProviderBuilder::default();
        if let (Some(key), Some(signing)) = (&self.key, &self.config.sp_signing) {
            builder.key(key.clone());
            builder.certificate(CertificateDer::from(signing.cert_der.clone()));
        }
        builder
    }

    /// How old a message's IssueInstant may be when it arrives: it travels through the
    /// browser, and clocks differ by up to `clock_skew`.
    pub(super) fn max_issue_delay(&self) -> Duration {
        self.config.clock_skew + DELIVERY_DELAY
    }

    pub fn allows_idp_initiated(&self) -> bool {
        self.config.allow_idp_initiated
    }

    pub fn urls(&self) -> &SpUrls {
        &self.urls
    }

    fn set_error(&self, error: String) {
        *self.last_error.write().unwrap_or_else(|p| p.into_inner()) = error;
    }

    fn install(&self, xml: &str) -> Result<(), String> {
        let descriptor = check_idp_metadata(xml)?;
        self.note_unsigned_requests(&descriptor);
        // SHA-1 is broken for signatures: only SHA-2 families unless explicitly allowed.
        let algorithms = (!self.config.allow_sha1).then(|| {
            vec![
                AllowedSignatureAlgorithm::RsaSha256,
                AllowedSignatureAlgorithm::RsaSha384,
                AllowedSignatureAlgorithm::RsaSha512,
                AllowedSignatureAlgorithm::EcdsaSha256,
                AllowedSignatureAlgorithm::EcdsaSha384,
                AllowedSignatureAlgorithm::EcdsaSha512,
            ]
        });
        let skew = chrono::Duration::from_std(self.config.clock_skew).unwrap_or_default();
        let max_issue_delay =
            chrono::Duration::from_std(self.max_issue_delay()).unwrap_or_default();
        let sp = self
            .sp_builder()
            .entity_id(self.config.sp_entity_id.clone())
            .acs_url(self.urls.acs.clone())
            .slo_url(self.urls.slo.clone())
            .metadata_url(self.urls.metadata.clone())
            .idp_metadata(descriptor)
            .authn_name_id_format(self.config.name_id_format.clone())
            .allow_idp_initiated(self.config.allow_idp_initiated)
            .max_clock_skew(skew)
            .max_issue_delay(max_issue_delay)
            .allowed_signature_algorithms(algorithms)
            .build()
            .map_err(|e| e.to_string())?;
        *self.sp.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(sp));
        Ok(())
    }

    /// Says once, when the IdP's metadata asks for signed AuthnRequests and Sekisho has no key
    /// to sign them, what the IdP will do. Keycloak's realm descriptor always asks, whatever its
    /// clients require, and refuses an unsigned request only when the client's "Client
    /// signature required" is on: then the user sees Keycloak's "Invalid requester" page and
    /// Sekisho receives nothing, so this line is all Sekisho can say about it.
    fn note_unsigned_requests(&self, descriptor: &EntityDescriptor) {
        let wants_signed = descriptor
            .idp_sso_descriptors
            .iter()
            .flatten()
            .any(|d| d.want_authn_requests_signed == Some(true));
        if wants_signed && self.key.is_none() && !self.noted_unsigned.swap(true, Ordering::Relaxed)
        {
            tracing::info!(
                "the IdP's metadata asks for signed AuthnRequests (WantAuthnRequestsSigned) and \
                 saml.sp_key_file / saml.sp_cert_file are not set: if the IdP answers sign-ins \
                 with \"Invalid requester\", turn off \"Client signature required\" in the \
                 Keycloak SAML client's Keys tab (saml.client.signature), or set both and import \
                 <public_url>/saml/metadata into the client"
            );
        }
    }

    /// Fetches the metadata from its URL, retrying with backoff, then refreshes it now and
    /// then. Metadata from a file was loaded at start and is not watched.
    pub fn spawn_metadata_refresh(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let url = self.config.metadata_url.clone()?;
        let this = Arc::clone(self);
        Some(tokio::spawn(async move {
            let mut delay = Duration::from_millis(500);
            loop {
                match this.fetch(&url).await {
                    Ok(()) => {
                        delay = Duration::from_millis(500);
                        tokio::time::sleep(this.config.metadata_refresh).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in = ?delay, "SAML IdP metadata not loaded");
                        this.set_error(e);
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(30));
                    }
                }
            }
        }))
    }

    /// One fetch of the metadata URL. A document without a signing certificate is refused
    /// (and the previous metadata, if any, stays in use).
    pub async fn fetch(&self, url: &Url) -> Result<(), String> {
        let xml = fetch_text(&self.http, url)
            .await
            .map_err(|e| e.to_string())?;
        self.install(&xml).map_err(|e| format!("{url}: {e}"))?;
        tracing::info!(%url, "SAML IdP metadata loaded");
        Ok(())
    }

    pub(super) fn current(&self) -> Result<Arc<ServiceProvider>, SamlError> {
        self.sp
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| {
                SamlError::Unavailable(
                    self.last_error
                        .read()
                        .unwrap_or_else(|p| p.into_inner())
                        .clone(),
                )
            })
    }

    /// An AuthnRequest over HTTP-Redirect, with a 128-bit random ID as the attempt's state.
    pub fn login_redirect(&self, rd: String) -> Result<SamlLogin, SamlError> {
        let sp = self.current()?;
        let sso = sp
            .sso_binding_location(HTTP_REDIRECT_BINDING)
            .ok_or_else(|| SamlError::Unavailable("no HTTP-Redirect SSO endpoint".into()))?;
        let mut request = sp
            .make_authentication_request(&sso)
            .map_err(|e| SamlError::Unavailable(e.to_string()))?;
        request.id = format!("_{:032x}", rand::random::<u128>());
        // RelayState names the attempt so the ACS can find this browser's login cookie.
        let signed = match &self.key {
            Some(key) => request.signed_redirect(&request.id, key),
            None => request.redirect(&request.id),
        };
        let url = signed
            .map_err(|e| SamlError::Unavailable(e.to_string()))?
            .ok_or_else(|| SamlError::Unavailable("AuthnRequest has no destination".into()))?;
        let attempt = LoginAttempt {
            provider: ProviderKind::Saml,
            state: request.id.clone(),
            nonce: None,
            pkce_verifier: None,
            rd,
            expires_at: LoginAttempt::expiry(),
        };
        Ok(SamlLogin { url, attempt })
    }

    /// Verifies a base64 `SAMLResponse` for `attempt` (`None`: unsolicited) and returns the
    /// session it establishes. The caller checks the assertion against the replay cache.
    pub fn finish_login(
        &self,
        saml_response: &str,
        attempt: Option<&LoginAttempt>,
        lifetime: Duration,
    ) -> Result<SamlSignIn, SamlError> {
        let sp = self.current()?;
        let ids: Vec<&str> = attempt.map(|a| a.state.as_str()).into_iter().collect();
        let possible = attempt.is_some().then_some(ids.as_slice());
        let xml = base64::engine::general_purpose::STANDARD
            .decode(saml_response.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| SamlError::Rejected("SAMLResponse is not base64 of UTF-8 XML".into()))?;
        let outcome = super::saml_shape::check_shape(&xml).map_err(SamlError::Rejected)?;
        if let Some(status) = outcome.failure() {
            tracing::warn!(%status, hint = status_hint(&status), "the IdP refused the sign-in");
            return Err(SamlError::Rejected(format!(
                "the identity provider refused the sign-in ({status})"
            )));
        }
        // samael's error is not Send: it becomes a string before anything else happens.
        let assertion = sp.parse_xml_response(&xml, possible).map_err(|e| {
            let reason = crate::error::error_chain(&e);
            if !outcome.signed {
                tracing::warn!(
                    hint = "in Keycloak, turn on the SAML client's \"Sign documents\" or \"Sign assertions\" \
                            (saml.server.signature / saml.assertion.signature)",
                    "the IdP signs neither its Response nor the assertion"
                );
                SamlError::Rejected("the response is not signed".into())
            } else if !self.config.allow_sha1 && uses_sha1(&xml) {
                SamlError::Rejected(format!(
                    "{reason}: the signature uses SHA-1, refused unless saml.allow_sha1 = true"
                ))
            } else {
                SamlError::Rejected(reason)
            }
        })?;
        check_audience(&assertion, &self.config.sp_entity_id).map_err(SamlError::Rejected)?;
        let keep_until = assertion
            .conditions
            .as_ref()
            .and_then(|c| c.not_on_or_after)
            .and_then(|t| (t - chrono::Utc::now()).to_std().ok())
            .unwrap_or(Duration::from_secs(600))
            + self.config.clock_skew;
        Ok(SamlSignIn {
            session: session_from(&assertion, &self.config, lifetime)?,
            assertion_id: assertion.id.clone(),
            remember_for: keep_until,
        })
    }

    /// The SP metadata for import into the IdP.
    pub fn sp_metadata(&self) -> Result<String, SamlError> {
        let sp = match self.current() {
            Ok(sp) => sp,
            // Metadata describes us, not the IdP: serve it even before the IdP's is loaded.
            Err(_) => Arc::new(
                self.sp_builder()
                    .entity_id(self.config.sp_entity_id.clone())
                    .acs_url(self.urls.acs.clone())
                    .slo_url(self.urls.slo.clone())
                    .metadata_url(self.urls.metadata.clone())
                    .build()
                    .map_err(|e| SamlError::Unavailable(e.to_string()))?,
            ),
        };
        let mut descriptor = sp
            .metadata()
            .map_err(|e| SamlError::Unavailable(e.to_string()))?;
        // samael advertises HTTP-POST for logout; `/saml/slo` speaks HTTP-Redirect.
        for sp_descriptor in descriptor.sp_sso_descriptors.iter_mut().flatten() {
            sp_descriptor.authn_requests_signed = Some(self.key.is_some());
            for endpoint in sp_descriptor.single_logout_services.iter_mut().flatten() {
                endpoint.binding = HTTP_REDIRECT_BINDING.to_owned();
            }
        }
        descriptor
            .to_string()
            .map_err(|e| SamlError::Unavailable(format!("{e:?}")))
    }

    pub fn idp_slo_url(&self) -> Option<String> {
        self.current()
            .ok()?
            .slo_binding_location(HTTP_REDIRECT_BINDING)
    }
}

/// Why IdP metadata from a URL was not loaded: an unreachable IdP is waited for, a bad
/// document is a configuration error.
#[derive(Debug, thiserror::Error)]
pub enum MetadataFetchError {
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Invalid(String),
}

async fn fetch_text(
    http: &openidconnect::reqwest::Client,
    url: &Url,
) -> Result<String, MetadataFetchError> {
    let unreachable = |e: String| MetadataFetchError::Unreachable(format!("fetching {url}: {e}"));
    let response = http
        .get(url.clone())
        .send()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    if !response.status().is_success() {
        return Err(unreachable(format!("status {}", response.status())));
    }
    response
        .text()
        .await
        .map_err(|e| unreachable(e.to_string()))
}

/// Fetches the metadata once at start: `Err` only when the IdP answered with metadata Sekisho
/// must refuse (no signing certificate), which stops the start like any configuration error.
pub async fn preflight_metadata(url: &Url) -> Result<(), MetadataFetchError> {
    let http = openidconnect::reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| MetadataFetchError::Unreachable(e.to_string()))?;
    let xml = match fetch_text(&http, url).await {
        Ok(xml) => xml,
        Err(MetadataFetchError::Unreachable(why)) => {
            tracing::warn!(reason = %why, "SAML IdP metadata not reachable at start; will retry");
            return Ok(());
        }
        Err(other) => return Err(other),
    };
    check_idp_metadata(&xml)
        .map(|_| ())
        .map_err(|e| MetadataFetchError::Invalid(format!("{url}: {e}")))
}

impl ReadinessCheck for Saml {
    fn name(&self) -> &str {
        ProviderKind::Saml.as_str()
    }

    fn status(&self) -> Result<(), String> {
        self.current().map(|_| ()).map_err(|e| e.to_string())
    }
}

fn session_from(
    assertion: &Assertion,
    config: &SamlConfig,
    lifetime: Duration,
) -> Result<Session, SamlError> {
    let name_id = assertion
        .subject
        .as_ref()
        .and_then(|s| s.name_id.as_ref())
        .map(|n| n.value.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| SamlError::Rejected("the assertion has no NameID".into()))?;
    let mut attributes: HashMap<&str, Vec<String>> = HashMap::new();
    for statement in assertion.attribute_statements.iter().flatten() {
        for attribute in &statement.attributes {
            let Some(name) = attribute
                .name
                .as_deref()
                .or(attribute.friendly_name.as_deref())
            else {
                continue;
            };
            let values = attribute.values.iter().filter_map(|v| v.value.clone());
            attributes.entry(name).or_default().extend(values);
        }
    }
    let first = |key: &str| attributes.get(key).and_then(|v| v.first()).cloned();
    let names = &config.attributes;
    let mut session = Session::new(
        first(&names.user).unwrap_or_else(|| name_id.clone()),
        lifetime,
    );
    session.provider = Some(ProviderKind::Saml);
    session.email = first(&names.email);
    // SAML has no `email_verified`: the address is an attribute the IdP signed, taken from the
    // directory the IdP's administrators keep, so it counts as vouched for. (A deployment whose
    // IdP lets users type in their own address should not base email rules on it.)
    session.email_verified = session.email.is_some();
    session.preferred_username = first(&names.user);
    session.groups = attributes
        .get(names.groups.as_str())
        .cloned()
        .unwrap_or_default();
    session.roles = attributes
        .get(names.roles.as_str())
        .cloned()
        .unwrap_or_default();
    session.subject = Some(name_id);
    session.idp_session = assertion
        .authn_statements
        .iter()
        .flatten()
        .find_map(|s| s.session_index.clone());
    Ok(session)
}

/// The SSO profile requires an AudienceRestriction naming us, and several restrictions must
/// each name us (an assertion is valid only if all its conditions hold). samael checks the
/// audience only when a restriction is present and accepts it when any one of several names
/// us: both gaps are closed here.
fn check_audience(assertion: &Assertion, entity_id: &str) -> Result<(), String> {
    let restrictions = assertion
        .conditions
        .as_ref()
        .and_then(|c| c.audience_restrictions.as_deref())
        .unwrap_or_default();
    if restrictions.is_empty() {
        return Err(format!(
            "the assertion has no AudienceRestriction (it must name {entity_id})"
        ));
    }
    let names_us = |r: &&AudienceRestriction| r.audience.iter().any(|a| a.trim() == entity_id);
    if let Some(other) = restrictions.iter().find(|r| !names_us(r)) {
        return Err(format!(
            "an AudienceRestriction of the assertion does not name {entity_id} (its audiences: {:?})",
            other.audience
        ));
    }
    Ok(())
}

/// What to change when the IdP answers with `status` (`Responder/RequestDenied`), for the log.
fn status_hint(status: &str) -> &'static str {
    let second = status.split('/').nth(1).unwrap_or_default();
    match second {
        "RequestDenied" => {
            "the IdP or the user declined the sign-in (in Keycloak: consent denied on the \
             client's consent screen, or the user may not use the client)"
        }
        "InvalidNameIDPolicy" => {
            "the IdP cannot give a NameID of the format Sekisho asks for: make saml.name_id_format \
             one the client offers (in Keycloak: the SAML client's \"Name ID format\")"
        }
        "RequestUnsupported" | "UnsupportedBinding" => {
            "the IdP does not take Sekisho's request as sent: in Keycloak, check the SAML \
             client's signature settings (\"Client signature required\" needs saml.sp_key_file \
             and saml.sp_cert_file) and its \"Force POST binding\""
        }
        _ if status.starts_with("Requester") => {
            "the IdP found Sekisho's request wrong: in Keycloak, the SAML client's ID must be \
             saml.sp_entity_id, its valid redirect URIs must include the ACS \
             (<public_url>/saml/acs), and \"Client signature required\" needs saml.sp_key_file \
             and saml.sp_cert_file"
        }
        _ => "see the IdP's log (in Keycloak: the realm's events) for why it refused",
    }
}

fn uses_sha1(xml: &str) -> bool {
    xml.contains("xmldsig#rsa-sha1")
        || xml.contains("xmldsig#sha1")
        || xml.contains("xmldsig#dsa-sha1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_audience_restriction_must_name_us() {
        const US: &str = "https://sp.example.com/saml/metadata";
        let assertion = |conditions: &str| {
            format!(
                r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a" Version="2.0" IssueInstant="2024-01-01T00:00:00Z"><saml:Issuer>https://idp.example.com</saml:Issuer>{conditions}</saml:Assertion>"#
            )
        };
        let restriction = |audiences: &[&str]| {
            let inner: String = audiences
                .iter()
                .map(|a| format!("<saml:Audience>{a}</saml:Audience>"))
                .collect();
            format!("<saml:AudienceRestriction>{inner}</saml:AudienceRestriction>")
        };
        let conditions = |inner: &str| format!("<saml:Conditions>{inner}</saml:Conditions>");
        let other = "https://other.example.com";
        let cases = [
            ("no Conditions", String::new(), false),
            ("no AudienceRestriction", conditions(""), false),
            ("us", conditions(&restriction(&[US])), true),
            ("another SP", conditions(&restriction(&[other])), false),
            (
                "us or another, in one",
                conditions(&restriction(&[other, US])),
                true,
            ),
            (
                "us and us",
                conditions(&(restriction(&[US]) + &restriction(&[other, US]))),
                true,
            ),
            (
                "us, then only another",
                conditions(&(restriction(&[US]) + &restriction(&[other]))),
                false,
            ),
            (
                "only another, then us",
                conditions(&(restriction(&[other]) + &restriction(&[US]))),
                false,
            ),
            (
                "us, OneTimeUse, only another",
                conditions(&(restriction(&[US]) + "<saml:OneTimeUse/>" + &restriction(&[other]))),
                false,
            ),
        ];
        for (case, conditions, accepted) in cases {
            let xml = assertion(&conditions);
            let checked = xml
                .parse::<Assertion>()
                .map_err(|e| e.to_string())
                .and_then(|a| check_audience(&a, US));
            assert_eq!(checked.is_ok(), accepted, "{case}: {checked:?}\n{xml}");
        }
    }

    #[test]
    fn metadata_without_signing_certificate_is_refused() {
        let xml = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.com">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#;
        let err = check_idp_metadata(xml).unwrap_err();
        assert!(err.contains("no signing certificate"), "{err}");
        assert!(check_idp_metadata("<nonsense/>").is_err());
    }
}
