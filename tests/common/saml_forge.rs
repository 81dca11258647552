//! Altering the test IdP's SAML Responses the way an attacker would, for the ACS's negative
//! tests: edit a signed Response and leave the signature as it is (it no longer verifies),
//! strip the signatures, re-sign with the IdP's own key (so only a semantic check can catch
//! the edit) or with another key, and the signature-wrapping shapes (a forged assertion next
//! to the signed one, the signed element moved where a careless verifier still finds it).
//!
//! Edits are plain string operations on the exact serialization SimpleSAMLphp sends (no
//! indentation outside `ds:Signature`, prefixes `samlp:`, `saml:`, `ds:`), so whatever is not
//! edited stays byte for byte what the IdP signed. Signing is `xmlsec1 --sign` (Debian package
//! `xmlsec1`): exclusive c14n, enveloped, rsa-sha256, the certificate in `ds:KeyInfo`, as the
//! IdP signs.
//!
//! Logout messages for `/saml/slo` travel over the HTTP-Redirect binding, where the signature is
//! over the query string: [`LogoutRequestForge`] writes a LogoutRequest as the IdP would, and
//! [`RedirectQuery`] holds the raw parameters so a test can sign them (`openssl dgst`, any
//! digest), then repeat, reorder, drop or swap them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

use super::saml_xml::{self, NS_ASSERTION, NS_DSIG, NS_PROTOCOL};

const INSTALL_HINT: &str = "the SAML tests re-sign responses with xmlsec1: `apt-get install \
     xmlsec1` (or run ./scripts/test)";

/// An RSA key and its self-signed certificate, as PEM files in a temporary directory.
pub struct KeyPair {
    pub key_path: PathBuf,
    pub cert_path: PathBuf,
    _dir: Option<TempDir>,
}

impl KeyPair {
    /// Files that exist already (the IdP's own pair).
    pub fn at(key_path: PathBuf, cert_path: PathBuf) -> Self {
        Self {
            key_path,
            cert_path,
            _dir: None,
        }
    }

    /// A fresh RSA-2048 pair with the subject `/CN=<common_name>` (an attacker would copy the
    /// IdP's certificate's subject: only the key differs).
    pub fn generate(common_name: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("saml-forge-")
            .tempdir()
            .expect("temporary directory");
        let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
        let out = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
            ])
            .args(["-sha256", "-subj", &format!("/CN={common_name}"), "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdin(Stdio::null())
            .output()
            .expect("run openssl req");
        assert!(
            out.status.success(),
            "openssl req failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            key_path: key,
            cert_path: cert,
            _dir: Some(dir),
        }
    }

    pub fn cert_pem(&self) -> String {
        std::fs::read_to_string(&self.cert_path).expect("read the certificate")
    }
}

/// Panics unless `xmlsec1` runs.
pub fn check_xmlsec1() {
    let ok = Command::new("xmlsec1")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{INSTALL_HINT}");
}

// ---------------------------------------------------------------------------------------------
// Editing

/// `xml` with the only occurrence of `from` replaced by `to`; panics (showing the XML) when
/// `from` occurs never or more than once, so an edit never silently misses.
pub fn replace_once(xml: &str, from: &str, to: &str) -> String {
    let count = xml.matches(from).count();
    assert_eq!(
        count, 1,
        "expected exactly one {from:?} in the response to edit, found {count}:\n{xml}"
    );
    xml.replacen(from, to, 1)
}

/// `xml` with every occurrence of `from` replaced by `to`; panics if there is none.
pub fn replace_all(xml: &str, from: &str, to: &str) -> String {
    assert!(
        xml.contains(from),
        "expected {from:?} in the response to edit:\n{xml}"
    );
    xml.replace(from, to)
}

/// Sets attribute `attribute` to `value` in the opening tag of every `<element ...>` (e.g.
/// `saml:Conditions`, `NotOnOrAfter`); panics if no such tag has the attribute.
pub fn set_attribute(xml: &str, element: &str, attribute: &str, value: &str) -> String {
    edit_attribute(xml, element, attribute, Some(value))
}

/// Removes attribute `attribute` from the opening tag of every `<element ...>`; panics if no
/// such tag has it.
pub fn remove_attribute(xml: &str, element: &str, attribute: &str) -> String {
    edit_attribute(xml, element, attribute, None)
}

fn edit_attribute(xml: &str, element: &str, attribute: &str, value: Option<&str>) -> String {
    let open = format!("<{element}");
    let needle = format!(" {attribute}=\"");
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    let mut edited = 0;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i..];
        let next = after.as_bytes().get(open.len()).copied();
        let tag_end = after.find('>').expect("a complete tag");
        if !matches!(next, Some(b' ' | b'>' | b'/' | b'\n' | b'\t')) {
            out.push_str(&rest[..i + open.len()]);
            rest = &rest[i + open.len()..];
            continue;
        }
        out.push_str(&rest[..i]);
        let tag = &after[..tag_end];
        let new_tag = match tag.find(&needle) {
            Some(a) => {
                let value_start = a + needle.len();
                let value_end = value_start + tag[value_start..].find('"').expect("closing quote");
                edited += 1;
                match value {
                    Some(v) => format!(
                        "{}{}{}",
                        &tag[..value_start],
                        escape_attribute(v),
                        &tag[value_end..]
                    ),
                    None => format!("{}{}", &tag[..a], &tag[value_end + 1..]),
                }
            }
            None => tag.to_owned(),
        };
        out.push_str(&new_tag);
        rest = &after[tag_end..];
    }
    out.push_str(rest);
    assert!(
        edited > 0,
        "no <{element}> with attribute {attribute} in the response to edit:\n{xml}"
    );
    out
}

fn escape_attribute(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

/// The byte range of the first element `<tag ...>...</tag>` (or `<tag .../>`), not nested
/// within another `<tag>`.
pub fn element_range(xml: &str, tag: &str) -> std::ops::Range<usize> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let start = xml
        .match_indices(&open)
        .map(|(i, _)| i)
        .find(|&i| matches!(xml.as_bytes().get(i + open.len()), Some(b' ' | b'>' | b'/')))
        .unwrap_or_else(|| panic!("no <{tag}> in:\n{xml}"));
    let tag_end = start + xml[start..].find('>').expect("a complete tag");
    if xml[..tag_end].ends_with('/') {
        return start..tag_end + 1;
    }
    // Depth count, so a nested element of the same name is skipped over.
    let mut depth = 0usize;
    let mut i = start;
    loop {
        let next_open = xml[i..]
            .match_indices(&open)
            .map(|(j, _)| i + j)
            .find(|&j| matches!(xml.as_bytes().get(j + open.len()), Some(b' ' | b'>')));
        let next_close = xml[i..].find(&close).map(|j| i + j).expect("a closing tag");
        match next_open {
            Some(o) if o < next_close => {
                depth += 1;
                i = o + open.len();
            }
            _ => {
                depth -= 1;
                i = next_close + close.len();
                if depth == 0 {
                    return start..i;
                }
            }
        }
    }
}

/// The first `<tag>` element's text.
pub fn element<'a>(xml: &'a str, tag: &str) -> &'a str {
    &xml[element_range(xml, tag)]
}

/// `xml` without any `ds:Signature` element.
pub fn strip_signatures(xml: &str) -> String {
    let mut xml = xml.to_owned();
    while xml.contains("<ds:Signature") {
        let range = element_range(&xml, "ds:Signature");
        xml.replace_range(range, "");
    }
    xml
}

/// `assertion` (an `<saml:Assertion>` element) turned into a forgery: unsigned, a new ID, and
/// the user `mallory` (username, email, NameID) in alice's groups. No verifier may accept it.
pub fn forged_assertion(assertion: &str, new_id: &str) -> String {
    let unsigned = strip_signatures(assertion);
    let id = saml_xml::parse(&format!(
        "<r xmlns:saml=\"{NS_ASSERTION}\" xmlns:ds=\"{NS_DSIG}\">{unsigned}</r>"
    ))
    .ok()
    .and_then(|r| {
        r.child(NS_ASSERTION, "Assertion")?
            .attr("ID")
            .map(str::to_owned)
    })
    .expect("the assertion has an ID");
    let forged = replace_once(
        &unsigned,
        &format!("ID=\"{id}\""),
        &format!("ID=\"{new_id}\""),
    );
    let forged = replace_all(&forged, ">alice<", ">mallory<");
    let forged = replace_all(&forged, "alice@example.com", "mallory@example.com");
    replace_all(
        &forged,
        "G-a11ce000-0000-4000-8000-000000000001",
        "G-ma110000-0000-4000-8000-000000000666",
    )
}

// ---------------------------------------------------------------------------------------------
// Signing

/// Re-signs every signature `xml` carries, with `keys`: the Assertion's first (it is inside
/// the Response's), then the Response's. The signatures keep their algorithms and references;
/// digests, values and the certificate in KeyInfo are made anew. Re-signing an untouched
/// response with the IdP's key yields a response the SP must accept.
pub fn resign(xml: &str, keys: &KeyPair) -> String {
    check_xmlsec1();
    let doc = saml_xml::parse(xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    assert!(
        doc.is(NS_PROTOCOL, "Response"),
        "resign expects a samlp:Response"
    );
    let response_signed = doc.child(NS_DSIG, "Signature").is_some();
    let assertion_signed = doc
        .child(NS_ASSERTION, "Assertion")
        .and_then(|a| a.child(NS_DSIG, "Signature"))
        .is_some();
    assert!(
        response_signed || assertion_signed,
        "resign: nothing to re-sign (no ds:Signature in the Response or its Assertion):\n{xml}"
    );
    let mut xml = blank_signature_values(xml);
    if assertion_signed {
        xml = xmlsec_sign(
            &xml,
            keys,
            "/*[local-name()='Response']/*[local-name()='Assertion']/*[local-name()='Signature']",
        );
    }
    if response_signed {
        xml = xmlsec_sign(
            &xml,
            keys,
            "/*[local-name()='Response']/*[local-name()='Signature']",
        );
    }
    xml
}

/// Adds an enveloped signature template (exc-c14n, rsa-sha256, sha256) to the Response (after
/// its Issuer) and signs it with `keys`: an unsigned response signed by someone else.
pub fn sign_response(xml: &str, keys: &KeyPair) -> String {
    let doc = saml_xml::parse(xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    let id = doc.attr("ID").expect("Response ID").to_owned();
    let issuer_end = xml.find("</saml:Issuer>").expect("an Issuer") + "</saml:Issuer>".len();
    let mut with_template = xml.to_owned();
    with_template.insert_str(issuer_end, &signature_template(&id));
    xmlsec_sign(
        &with_template,
        keys,
        "/*[local-name()='Response']/*[local-name()='Signature']",
    )
}

fn signature_template(reference_id: &str) -> String {
    format!(
        "<ds:Signature xmlns:ds=\"{NS_DSIG}\"><ds:SignedInfo>\
         <ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>\
         <ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>\
         <ds:Reference URI=\"#{reference_id}\"><ds:Transforms>\
         <ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\
         <ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>\
         <ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/>\
         <ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>\
         <ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data>\
         <ds:X509Certificate></ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"
    )
}

/// Empties DigestValue, SignatureValue and X509Certificate: xmlsec1 fills them in.
fn blank_signature_values(xml: &str) -> String {
    let mut out = xml.to_owned();
    for tag in ["ds:DigestValue", "ds:SignatureValue", "ds:X509Certificate"] {
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        let mut from = 0;
        while let Some(i) = out[from..].find(&open) {
            let start = from + i + open.len();
            let end = start + out[start..].find(&close).expect("closing tag");
            out.replace_range(start..end, "");
            from = start + close.len();
        }
    }
    out
}

/// `xmlsec1 --sign` of the signature template at `node_xpath`, with the Response's and the
/// Assertion's `ID` attributes registered as IDs.
fn xmlsec_sign(xml: &str, keys: &KeyPair, node_xpath: &str) -> String {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (input, output) = (dir.path().join("in.xml"), dir.path().join("out.xml"));
    std::fs::write(&input, xml).expect("write the template");
    let out = Command::new("xmlsec1")
        .arg("--sign")
        .arg("--privkey-pem")
        .arg(format!(
            "{},{}",
            path_str(&keys.key_path),
            path_str(&keys.cert_path)
        ))
        .args(["--id-attr:ID", &format!("{NS_PROTOCOL}:Response")])
        .args(["--id-attr:ID", &format!("{NS_ASSERTION}:Assertion")])
        .args(["--node-xpath", node_xpath])
        .arg("--output")
        .arg(&output)
        .arg(&input)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run xmlsec1 ({e}): {INSTALL_HINT}"));
    assert!(
        out.status.success(),
        "xmlsec1 --sign ({node_xpath}) failed: {}\n{}\ninput:\n{xml}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let signed = std::fs::read_to_string(&output).expect("read xmlsec1's output");
    // xmlsec1 adds an XML declaration and a final newline; the IdP sends neither.
    let signed = match signed.strip_prefix("<?xml") {
        Some(rest) => rest[rest.find("?>").expect("declaration end") + 2..]
            .trim_start()
            .to_owned(),
        None => signed,
    };
    signed.trim_end().to_owned()
}

/// Verifies the signature of the element with `ID` = `id` with `xmlsec1 --verify` against
/// `cert_path`: `Ok` or xmlsec1's complaint. For checking the forging tools themselves.
pub fn verify(xml: &str, cert_path: &Path, id: &str) -> Result<(), String> {
    check_xmlsec1();
    let dir = tempfile::tempdir().expect("temporary directory");
    let input = dir.path().join("in.xml");
    std::fs::write(&input, xml).expect("write the document");
    let out = Command::new("xmlsec1")
        .arg("--verify")
        .arg("--pubkey-cert-pem")
        .arg(cert_path)
        .args(["--enabled-key-data", "rsa"])
        .args(["--id-attr:ID", &format!("{NS_PROTOCOL}:Response")])
        .args(["--id-attr:ID", &format!("{NS_ASSERTION}:Assertion")])
        .args(["--node-id", id])
        .arg(&input)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run xmlsec1 ({e}): {INSTALL_HINT}"));
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temporary path")
}

// ---------------------------------------------------------------------------------------------
// Logout messages over the HTTP-Redirect binding.

/// A LogoutRequest as the IdP sends one (SimpleSAMLphp's prefixes); every field the SP
/// checks can be set.
#[derive(Clone, Debug)]
pub struct LogoutRequestForge {
    pub id: String,
    pub issue_instant: String,
    pub destination: Option<String>,
    pub issuer: String,
    pub name_id: String,
    pub session_index: Option<String>,
}

impl LogoutRequestForge {
    /// For `name_id` (persistent), from `issuer` to `destination`, issued now, a fresh ID.
    pub fn new(issuer: &str, destination: &str, name_id: &str) -> Self {
        Self {
            id: format!("_{:032x}", rand::random::<u128>()),
            issue_instant: saml_xml::xml_time(0),
            destination: Some(destination.to_owned()),
            issuer: issuer.to_owned(),
            name_id: name_id.to_owned(),
            session_index: None,
        }
    }

    pub fn xml(&self) -> String {
        use super::saml_idp::{NAMEID_PERSISTENT, xml_escape};
        let destination = self
            .destination
            .as_deref()
            .map(|d| format!(" Destination=\"{}\"", xml_escape(d)))
            .unwrap_or_default();
        let session_index = self
            .session_index
            .as_deref()
            .map(|s| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", xml_escape(s)))
            .unwrap_or_default();
        format!(
            "<samlp:LogoutRequest xmlns:samlp=\"{NS_PROTOCOL}\" xmlns:saml=\"{NS_ASSERTION}\" \
             ID=\"{}\" Version=\"2.0\" IssueInstant=\"{}\"{destination}>\
             <saml:Issuer>{}</saml:Issuer>\
             <saml:NameID Format=\"{NAMEID_PERSISTENT}\">{}</saml:NameID>{session_index}\
             </samlp:LogoutRequest>",
            xml_escape(&self.id),
            xml_escape(&self.issue_instant),
            xml_escape(&self.issuer),
            xml_escape(&self.name_id),
        )
    }
}

/// The query string of an HTTP-Redirect message: (name, raw percent-encoded value) pairs in
/// the order they are sent, so a test can repeat, reorder, drop or swap them after signing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedirectQuery(pub Vec<(String, String)>);

impl RedirectQuery {
    /// `param` (`SAMLRequest`, `SAMLResponse`) carrying `xml`: DEFLATE, base64, URL-encoded.
    pub fn message(param: &str, xml: &str) -> Self {
        use super::saml_idp::{base64_encode, deflate_stored, url_encode};
        Self(vec![(
            param.to_owned(),
            url_encode(&base64_encode(&deflate_stored(xml.as_bytes()))),
        )])
    }

    /// The raw pairs of a URL's query (`...?a=1&b=2`, or the query alone), as received.
    pub fn of_url(url: &str) -> Self {
        let query = url.split_once('?').map_or(url, |(_, q)| q);
        Self(
            query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (k.to_owned(), v.to_owned())
                })
                .collect(),
        )
    }

    /// Appends `name=raw` (`raw` is sent as is).
    pub fn with(mut self, name: &str, raw: &str) -> Self {
        self.0.push((name.to_owned(), raw.to_owned()));
        self
    }

    /// Appends a RelayState, URL-encoded.
    pub fn relay_state(self, relay_state: &str) -> Self {
        let raw = super::saml_idp::url_encode(relay_state);
        self.with("RelayState", &raw)
    }

    /// The first raw value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Without any `name`.
    pub fn without(mut self, name: &str) -> Self {
        self.0.retain(|(k, _)| k != name);
        self
    }

    /// Every `name`'s value replaced by `raw`.
    pub fn replace(mut self, name: &str, raw: &str) -> Self {
        for (k, v) in &mut self.0 {
            if k == name {
                *v = raw.to_owned();
            }
        }
        self
    }

    /// Appends `SigAlg=sig_alg` and a `Signature` made with the RSA key `key_pem` and `digest`
    /// over `SAMLRequest=..[&RelayState=..]&SigAlg=..` from the values already here (SAML
    /// bindings 3.4.4.1). The digest need not match `sig_alg`: that is for the tests to decide.
    pub fn signed(self, key_pem: &str, sig_alg: &str, digest: &str) -> Self {
        use super::saml_idp::{base64_encode, openssl_sign, url_encode};
        let with_alg = self.with("SigAlg", &url_encode(sig_alg));
        let octets: Vec<String> = ["SAMLRequest", "SAMLResponse", "RelayState", "SigAlg"]
            .into_iter()
            .filter_map(|name| with_alg.get(name).map(|v| format!("{name}={v}")))
            .collect();
        let signature = openssl_sign(key_pem, digest, octets.join("&").as_bytes());
        with_alg.with("Signature", &url_encode(&base64_encode(&signature)))
    }

    /// `endpoint?query`.
    pub fn url(&self, endpoint: &str) -> String {
        let query: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{endpoint}?{}", query.join("&"))
    }
}
