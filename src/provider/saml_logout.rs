//! SAML single logout over the HTTP-Redirect binding: our LogoutRequest when a user signs out
//! here, and the IdP's logout messages at `/saml/slo` (its LogoutRequest, answered with our
//! LogoutResponse; its LogoutResponse ending a sign-out that began here). samael checks none of
//! an incoming logout message: not its signature's coverage, Destination, IssueInstant, Issuer
//! or ID. Those checks are all here.

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::write::DeflateEncoder;
use std::time::Duration;

use chrono::{DateTime, Utc};
use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use samael::metadata::HTTP_REDIRECT_BINDING;
use samael::schema::{LogoutRequest, LogoutResponse};
use samael::service_provider::ServiceProvider;
use url::Url;

use super::saml::{Saml, SamlError};
use super::saml_redirect::{Kind, Redirect};
use crate::session::{ProviderKind, Session};

const PROTOCOL: &[u8] = b"urn:oasis:names:tc:SAML:2.0:protocol";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// A logout message at `/saml/slo`, verified and checked.
#[derive(Debug)]
pub enum SloMessage {
    /// The IdP asks us to end a session.
    Request(IdpLogout),
    /// The IdP's answer to our LogoutRequest.
    Response(LogoutReturned),
}

impl SloMessage {
    /// The message's ID, for the replay cache.
    pub fn once(&self) -> &OnceId {
        match self {
            Self::Request(r) => &r.once,
            Self::Response(r) => &r.once,
        }
    }
}

/// A message ID to accept only once, and for how long to remember it (after that its
/// IssueInstant refuses it anyway).
#[derive(Debug)]
pub struct OnceId {
    pub id: String,
    pub remember_for: Duration,
}

/// A LogoutRequest the IdP sent, checked.
#[derive(Debug)]
pub struct IdpLogout {
    pub name_id: Option<String>,
    /// The IdP sessions to end (none: every session of the NameID).
    pub session_indexes: Vec<String>,
    /// Where to send the browser with our LogoutResponse.
    pub respond_to: Url,
    pub once: OnceId,
}

impl IdpLogout {
    /// Whether this request ends `session`: a SAML session of the same NameID and, when the
    /// request names IdP sessions, of one of them. A request without a NameID names whoever
    /// brings it: ending a session is the safe side.
    pub fn names(&self, session: &Session) -> bool {
        let Some(name_id) = &self.name_id else {
            return true;
        };
        session.provider == Some(ProviderKind::Saml)
            && session.subject.as_deref() == Some(name_id.as_str())
            && (self.session_indexes.is_empty()
                || session
                    .idp_session
                    .as_ref()
                    .is_some_and(|index| self.session_indexes.contains(index)))
    }
}

/// The IdP's LogoutResponse, checked.
#[derive(Debug)]
pub struct LogoutReturned {
    pub relay_state: String,
    pub success: bool,
    pub status: String,
    pub once: OnceId,
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

    /// Reads a logout message that arrived at `/saml/slo` over HTTP-Redirect (`query`: the raw
    /// query string): refused unless every SAML parameter appears once, the IdP's signature
    /// verifies over exactly those bytes, and the message so verified is a LogoutRequest or
    /// LogoutResponse from the IdP, to our SLO endpoint, issued within `clock_skew` plus the
    /// usual delivery delay. The caller remembers its ID so it is accepted once.
    pub fn slo_message(&self, query: &str) -> Result<SloMessage, SamlError> {
        let sp = self.current()?;
        let rejected = SamlError::Rejected;
        let redirect = Redirect::parse(query).map_err(rejected)?;
        let certs = sp.idp_signing_certs().ok().flatten().unwrap_or_default();
        redirect
            .verify(&certs, self.config.allow_sha1)
            .map_err(|why| {
                if !redirect.is_signed() {
                    tracing::warn!(
                        hint = "Keycloak signs logout messages only with the SAML client's \
                                \"Sign documents\" on (saml.server.signature); \"Sign assertions\" \
                                alone leaves them unsigned",
                        "the IdP's logout message is unsigned"
                    );
                }
                rejected(why)
            })?;
        let xml = redirect.xml().map_err(rejected)?;
        let shape = LogoutShape::read(&xml).map_err(rejected)?;
        match (redirect.kind, shape.root.as_str()) {
            (Kind::Request, "LogoutRequest") => self.idp_logout(&sp, &xml, shape, &redirect),
            (Kind::Response, "LogoutResponse") => self.logout_returned(&sp, &xml, &redirect),
            (kind, root) => Err(rejected(format!(
                "a {} carrying a {root}",
                kind.parameter()
            ))),
        }
    }

    fn idp_logout(
        &self,
        sp: &ServiceProvider,
        xml: &str,
        shape: LogoutShape,
        redirect: &Redirect<'_>,
    ) -> Result<SloMessage, SamlError> {
        let request: LogoutRequest = xml.parse().map_err(|e| {
            // The parser's wording stays in the log: it quotes what it choked on.
            tracing::debug!(error = %e, "LogoutRequest does not parse");
            SamlError::Rejected("the LogoutRequest does not parse".into())
        })?;
        let once = self.check_envelope(
            sp,
            "LogoutRequest",
            Envelope {
                id: request.id.as_deref(),
                issuer: request.issuer.as_ref().and_then(|i| i.value.as_deref()),
                destination: request.destination.as_deref(),
                issue_instant: request.issue_instant,
            },
        )?;
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
            irt = escape(&once.id),
            issuer = escape(&self.config.sp_entity_id),
        );
        let respond_to = redirect_url(&slo, "SAMLResponse", &xml, &redirect.relay_state())
            .and_then(|url| match &self.key {
                Some(key) => samael::crypto::sign_url(url, key).ok(),
                None => Some(url),
            })
            .ok_or_else(|| SamlError::Unavailable("cannot build the LogoutResponse".into()))?;
        Ok(SloMessage::Request(IdpLogout {
            name_id: request
                .name_id
                .map(|n| n.value.trim().to_owned())
                .filter(|n| !n.is_empty()),
            session_indexes: shape.session_indexes,
            respond_to,
            once,
        }))
    }

    /// The IdP's answer to our LogoutRequest: the sign-out it ends already cleared the
    /// session, so only the way back (RelayState) is taken from it, and only once verified.
    fn logout_returned(
        &self,
        sp: &ServiceProvider,
        xml: &str,
        redirect: &Redirect<'_>,
    ) -> Result<SloMessage, SamlError> {
        let response: LogoutResponse = xml.parse().map_err(|e| {
            // The parser's wording stays in the log: it quotes what it choked on.
            tracing::debug!(error = %e, "LogoutResponse does not parse");
            SamlError::Rejected("the LogoutResponse does not parse".into())
        })?;
        let once = self.check_envelope(
            sp,
            "LogoutResponse",
            Envelope {
                id: response.id.as_deref(),
                issuer: response.issuer.as_ref().and_then(|i| i.value.as_deref()),
                destination: response.destination.as_deref(),
                issue_instant: response.issue_instant,
            },
        )?;
        let status = response
            .status
            .and_then(|s| s.status_code.value)
            .unwrap_or_default();
        Ok(SloMessage::Response(LogoutReturned {
            relay_state: redirect.relay_state(),
            success: status == SUCCESS,
            status,
            once,
        }))
    }

    /// What every logout message from the IdP must say of itself once its signature holds.
    fn check_envelope(
        &self,
        sp: &ServiceProvider,
        what: &str,
        envelope: Envelope<'_>,
    ) -> Result<OnceId, SamlError> {
        let rejected = |why: String| SamlError::Rejected(format!("{what} {why}"));
        let issuer = envelope.issuer.map(str::trim);
        // Both must be there: no Issuer is no IdP of ours, even when the metadata names none.
        if issuer.is_none() || issuer != sp.idp_metadata.entity_id.as_deref() {
            return Err(rejected(format!("from {issuer:?}, not our IdP")));
        }
        if envelope.destination != Some(self.urls().slo.as_str()) {
            return Err(rejected(format!(
                "Destination {:?} is not our SLO endpoint {}",
                envelope.destination,
                self.urls().slo
            )));
        }
        let issued = envelope
            .issue_instant
            .ok_or_else(|| rejected("has no IssueInstant".into()))?;
        check_issue_instant(
            issued,
            chrono::Utc::now(),
            self.config.clock_skew,
            self.max_issue_delay(),
        )
        .map_err(rejected)?;
        let id = envelope
            .id
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| rejected("has no ID".into()))?;
        Ok(OnceId {
            id: id.to_owned(),
            remember_for: self.max_issue_delay() + self.config.clock_skew,
        })
    }
}

/// The fields every logout message is checked on.
struct Envelope<'a> {
    id: Option<&'a str>,
    issuer: Option<&'a str>,
    destination: Option<&'a str>,
    issue_instant: Option<DateTime<Utc>>,
}

/// `issued` must be neither ahead of `now` by more than `skew` nor older than `max_delay`.
fn check_issue_instant(
    issued: DateTime<Utc>,
    now: DateTime<Utc>,
    skew: Duration,
    max_delay: Duration,
) -> Result<(), String> {
    let skew = chrono::Duration::from_std(skew).unwrap_or_default();
    let max_delay = chrono::Duration::from_std(max_delay).unwrap_or_default();
    if issued > now + skew {
        return Err(format!("IssueInstant {issued} is in the future"));
    }
    if issued + max_delay < now {
        return Err(format!(
            "IssueInstant {issued} is too old (stale or replayed)"
        ));
    }
    Ok(())
}

/// The root element of a logout message and its `SessionIndex` elements (which samael's
/// `LogoutRequest` reads as an attribute, so never finds).
#[derive(Debug)]
pub(crate) struct LogoutShape {
    pub(crate) root: String,
    session_indexes: Vec<String>,
}

impl LogoutShape {
    pub(crate) fn read(xml: &str) -> Result<Self, String> {
        let mut reader = NsReader::from_str(xml);
        let mut depth = 0usize;
        let mut root = None;
        let mut in_index = false;
        let mut session_indexes = Vec::new();
        loop {
            let (namespace, event) = reader.read_resolved_event().map_err(|e| malformed(&e))?;
            let protocol = matches!(namespace, ResolveResult::Bound(Namespace(PROTOCOL)));
            match event {
                Event::DocType(_) => return Err("a DOCTYPE is not allowed".into()),
                Event::Start(ref e) | Event::Empty(ref e) if depth == 0 => {
                    if root.is_some() {
                        return Err("more than one root element".into());
                    }
                    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    if !protocol {
                        return Err(format!("{name} is not in the SAML protocol namespace"));
                    }
                    root = Some(name);
                    if matches!(event, Event::Start(_)) {
                        depth = 1;
                    }
                }
                Event::Start(e) => {
                    in_index = depth == 1 && protocol && e.local_name().as_ref() == b"SessionIndex";
                    depth += 1;
                }
                Event::Text(text) if in_index => {
                    let text = text.decode().map_err(|e| malformed(&e))?;
                    session_indexes.push(text.trim().to_owned());
                }
                Event::End(_) => {
                    in_index = false;
                    depth = depth.saturating_sub(1);
                }
                // The reader does not mind a document that stops inside an element.
                Event::Eof if depth > 0 => return Err("malformed XML: elements left open".into()),
                Event::Eof => break,
                _ => {}
            }
        }
        Ok(Self {
            root: root.ok_or("no root element")?,
            session_indexes,
        })
    }
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

/// "malformed XML" for the client; the reader's wording, which quotes the input, to the log.
fn malformed(e: &dyn std::fmt::Display) -> String {
    tracing::debug!(error = %e, "logout message is not well-formed XML");
    "malformed XML".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idp_logout_names_only_its_own_sessions() {
        let logout = |name_id: Option<&str>, indexes: &[&str]| IdpLogout {
            name_id: name_id.map(str::to_owned),
            session_indexes: indexes.iter().map(|i| i.to_string()).collect(),
            respond_to: Url::parse("https://idp.example.com/slo").unwrap(),
            once: OnceId {
                id: "_x".into(),
                remember_for: Duration::from_secs(1),
            },
        };
        let mut alice = Session::new("alice", Duration::from_secs(60));
        alice.provider = Some(ProviderKind::Saml);
        alice.subject = Some("alice-id".into());
        alice.idp_session = Some("s1".into());
        assert!(logout(Some("alice-id"), &[]).names(&alice));
        assert!(logout(Some("alice-id"), &["s0", "s1"]).names(&alice));
        assert!(logout(None, &[]).names(&alice));
        assert!(!logout(Some("bob-id"), &[]).names(&alice));
        assert!(!logout(Some("alice-id"), &["s2"]).names(&alice));
        alice.provider = Some(ProviderKind::Oidc);
        assert!(!logout(Some("alice-id"), &[]).names(&alice));
    }

    #[test]
    fn redirect_binding_round_trip() {
        let url = redirect_url(
            "https://idp.example.com/slo?x=1",
            "SAMLRequest",
            "<a>&amp;</a>",
            "/back",
        )
        .unwrap();
        let redirect = Redirect::parse(url.query().unwrap()).unwrap();
        assert_eq!(redirect.kind, Kind::Request);
        assert_eq!(redirect.xml().unwrap(), "<a>&amp;</a>");
        assert_eq!(redirect.relay_state(), "/back");
        assert!(url.query_pairs().any(|(k, v)| k == "x" && v == "1"));
    }

    #[test]
    fn issue_instant_window() {
        let now = Utc::now();
        let skew = Duration::from_secs(60);
        let delay = Duration::from_secs(150);
        let at = |seconds: i64| now + chrono::Duration::seconds(seconds);
        let cases = [
            (0, None),
            (59, None),
            (61, Some("in the future")),
            (-149, None),
            (-151, Some("too old")),
            (-3600, Some("too old")),
        ];
        for (offset, refused) in cases {
            let got = check_issue_instant(at(offset), now, skew, delay);
            match refused {
                None => assert!(got.is_ok(), "{offset}: {got:?}"),
                Some(why) => assert!(got.is_err_and(|e| e.contains(why)), "{offset}"),
            }
        }
    }

    #[test]
    fn logout_shapes() {
        const NS: &str = r#"xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion""#;
        let shape = LogoutShape::read(&format!(
            r#"<samlp:LogoutRequest {NS} ID="a"><saml:Issuer>i</saml:Issuer><saml:NameID>n</saml:NameID><samlp:SessionIndex> s1 </samlp:SessionIndex><samlp:SessionIndex>s2</samlp:SessionIndex></samlp:LogoutRequest>"#
        ))
        .unwrap();
        assert_eq!(shape.root, "LogoutRequest");
        assert_eq!(shape.session_indexes, ["s1", "s2"]);
        // A SessionIndex anywhere but directly under the root does not count.
        let shape = LogoutShape::read(&format!(
            r#"<samlp:LogoutRequest {NS}><samlp:Extensions><samlp:SessionIndex>x</samlp:SessionIndex></samlp:Extensions></samlp:LogoutRequest>"#
        ))
        .unwrap();
        assert!(shape.session_indexes.is_empty());
        let shape = LogoutShape::read(&format!(r#"<samlp:LogoutResponse {NS}/>"#)).unwrap();
        assert_eq!(shape.root, "LogoutResponse");

        for bad in [
            r#"<LogoutRequest ID="a"/>"#.to_owned(),
            r#"<x:LogoutRequest xmlns:x="urn:other"/>"#.to_owned(),
            format!(r#"<!DOCTYPE x [<!ENTITY e "y">]><samlp:LogoutRequest {NS}/>"#),
            format!(r#"<samlp:LogoutRequest {NS}/><samlp:LogoutRequest {NS}/>"#),
            "".to_owned(),
            "<unclosed".to_owned(),
            // Found by fuzzing: a message that stops inside its root.
            format!(r#"<samlp:LogoutRequest {NS} ID="_1">"#),
            format!(r#"<samlp:LogoutRequest {NS}><samlp:SessionIndex>s</samlp:SessionIndex>"#),
        ] {
            assert!(LogoutShape::read(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn escaping() {
        assert_eq!(escape(r#"a<b>"c"&"#), "a&lt;b&gt;&quot;c&quot;&amp;");
        assert_eq!(escape("plain_ID-1.2"), "plain_ID-1.2");
        // A value cannot close its attribute or open an element of its own.
        let hostile = escape(r#"x" Destination="https://evil.example/"><a>"#);
        assert!(!hostile.contains(['"', '<', '>']), "{hostile}");
        // Already escaped text is escaped again, not taken for markup.
        assert_eq!(escape("&amp;"), "&amp;amp;");
    }
}
