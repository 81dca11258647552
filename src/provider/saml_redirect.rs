//! A SAML message received over the HTTP-Redirect binding, verified over exactly the bytes that
//! arrived. samael's `UrlVerifier` is not used: it collects the query into a map (so with a
//! repeated `SAMLRequest` it verifies the last while a reader of the first acts on another
//! message), re-encodes the values before verifying (the binding signs them as sent), indexes
//! `SigAlg` and `Signature` without checking they are there (a panic), knows only rsa-sha256 and
//! ecdsa-sha256, and panics on sha256-rsa-MGF1, which it parses but cannot verify. Here a repeated SAML parameter refuses the query, the signed
//! octet string is built from the raw values (SAML bindings 3.4.4.1), and the message handed on
//! is decoded from the very value that was verified.

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flate2::read::DeflateDecoder;
use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Public};
use openssl::sign::Verifier;
use openssl::x509::X509;
use samael::crypto::CertificateDer;
use url::form_urlencoded;

/// The only `SAMLEncoding` the binding defines (and the one assumed when it is absent).
const DEFLATE: &str = "urn:oasis:names:tc:SAML:2.0:bindings:URL-Encoding:DEFLATE";

/// The most a message may inflate to.
const MAX_XML: u64 = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Request,
    Response,
}

impl Kind {
    /// The query parameter that carries this kind of message.
    pub fn parameter(self) -> &'static str {
        match self {
            Self::Request => "SAMLRequest",
            Self::Response => "SAMLResponse",
        }
    }
}

/// The SAML parameters of one query, each still percent-encoded as received.
#[derive(Debug)]
pub struct Redirect<'q> {
    pub kind: Kind,
    message: &'q str,
    relay_state: Option<&'q str>,
    sig_alg: Option<&'q str>,
    signature: Option<&'q str>,
}

impl<'q> Redirect<'q> {
    /// Splits a raw query string. Any SAML parameter given twice refuses the whole query:
    /// which copy a verifier and a reader pick is how a signature ends up covering another
    /// message than the one acted on.
    pub fn parse(query: &'q str) -> Result<Self, String> {
        let (mut request, mut response, mut relay_state, mut sig_alg, mut signature) =
            (None, None, None, None, None);
        let mut encoding = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            // The name is compared decoded, so `SAML%52equest` is a SAMLRequest too.
            let Some((name, _)) = form_urlencoded::parse(pair.as_bytes()).next() else {
                continue;
            };
            let raw = pair.split_once('=').map_or("", |(_, v)| v);
            let slot = match name.as_ref() {
                "SAMLRequest" => &mut request,
                "SAMLResponse" => &mut response,
                "RelayState" => &mut relay_state,
                "SigAlg" => &mut sig_alg,
                "Signature" => &mut signature,
                "SAMLEncoding" => &mut encoding,
                _ => continue,
            };
            if slot.replace(raw).is_some() {
                return Err(format!("the query repeats {name}"));
            }
        }
        if let Some(encoding) = encoding {
            if decode(encoding) != DEFLATE {
                return Err(format!("unsupported SAMLEncoding {:?}", decode(encoding)));
            }
        }
        let (kind, message) = match (request, response) {
            (Some(m), None) => (Kind::Request, m),
            (None, Some(m)) => (Kind::Response, m),
            (Some(_), Some(_)) => return Err("both SAMLRequest and SAMLResponse".into()),
            (None, None) => return Err("neither SAMLRequest nor SAMLResponse".into()),
        };
        Ok(Self {
            kind,
            message,
            relay_state,
            sig_alg,
            signature,
        })
    }

    /// What the signature covers: `SAMLRequest=..[&RelayState=..]&SigAlg=..`, the values
    /// exactly as they arrived (the binding says to verify over the original encoding).
    fn signed_octets(&self, sig_alg: &str) -> String {
        let mut octets = format!("{}={}", self.kind.parameter(), self.message);
        if let Some(relay_state) = self.relay_state {
            octets.push_str("&RelayState=");
            octets.push_str(relay_state);
        }
        octets.push_str("&SigAlg=");
        octets.push_str(sig_alg);
        octets
    }

    /// Checks the signature against the IdP's certificates. Unsigned, a missing or unknown
    /// `SigAlg`, SHA-1 unless allowed, a key of the wrong type: all refusals, never a panic.
    /// Whether the query carries a Signature at all (verified or not).
    pub fn is_signed(&self) -> bool {
        self.signature.is_some()
    }

    pub fn verify(&self, certs: &[CertificateDer], allow_sha1: bool) -> Result<(), String> {
        let what = self.kind.parameter();
        let signature = self
            .signature
            .ok_or_else(|| format!("the {what} is not signed (no Signature)"))?;
        let sig_alg = self
            .sig_alg
            .ok_or_else(|| format!("the {what} has a Signature but no SigAlg"))?;
        let algorithm = Algorithm::from_uri(&decode(sig_alg), allow_sha1)?;
        let signature = STANDARD
            .decode(decode(signature).trim())
            .map_err(|_| "the Signature is not base64".to_owned())?;
        let octets = self.signed_octets(sig_alg);
        let verified = certs.iter().any(|cert| {
            X509::from_der(cert.der_data())
                .and_then(|x509| x509.public_key())
                .is_ok_and(|key| algorithm.verifies(&key, octets.as_bytes(), &signature))
        });
        if verified {
            Ok(())
        } else {
            Err(format!(
                "the {what} signature does not verify with the IdP's certificate"
            ))
        }
    }

    /// The message's XML: the value that was verified, percent-decoded, base64-decoded and
    /// inflated.
    pub fn xml(&self) -> Result<String, String> {
        let what = self.kind.parameter();
        let deflated = STANDARD
            .decode(decode(self.message).trim())
            .map_err(|_| format!("the {what} is not base64"))?;
        let mut xml = String::new();
        DeflateDecoder::new(deflated.as_slice())
            .take(MAX_XML)
            .read_to_string(&mut xml)
            .map_err(|_| format!("the {what} does not inflate to UTF-8"))?;
        Ok(xml)
    }

    /// `RelayState`, decoded; empty when absent.
    pub fn relay_state(&self) -> String {
        self.relay_state.map(decode).unwrap_or_default()
    }
}

fn decode(raw: &str) -> String {
    form_urlencoded::parse(format!("v={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A `SigAlg` we verify.
#[derive(Clone, Copy, Debug)]
struct Algorithm {
    digest: fn() -> MessageDigest,
    key: Id,
}

impl Algorithm {
    fn from_uri(uri: &str, allow_sha1: bool) -> Result<Self, String> {
        let (digest, key): (fn() -> MessageDigest, Id) = match uri {
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => (MessageDigest::sha256, Id::RSA),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => (MessageDigest::sha384, Id::RSA),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => (MessageDigest::sha512, Id::RSA),
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => {
                (MessageDigest::sha256, Id::EC)
            }
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => {
                (MessageDigest::sha384, Id::EC)
            }
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512" => {
                (MessageDigest::sha512, Id::EC)
            }
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
            | "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1"
                if !allow_sha1 =>
            {
                return Err(format!(
                    "SigAlg {uri} uses SHA-1, refused unless saml.allow_sha1 = true"
                ));
            }
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => (MessageDigest::sha1, Id::RSA),
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1" => (MessageDigest::sha1, Id::EC),
            other => return Err(format!("unknown SigAlg {other:?}")),
        };
        Ok(Self { digest, key })
    }

    fn verifies(&self, key: &PKey<Public>, data: &[u8], signature: &[u8]) -> bool {
        if key.id() != self.key {
            return false;
        }
        let check = |signature: &[u8]| {
            Verifier::new((self.digest)(), key)
                .and_then(|mut v| v.verify_oneshot(signature, data))
                .unwrap_or(false)
        };
        if check(signature) {
            return true;
        }
        // XML-DSig's ECDSA signature value is r and s concatenated, not DER.
        self.key == Id::EC && raw_ecdsa_to_der(signature).is_some_and(|der| check(&der))
    }
}

fn raw_ecdsa_to_der(signature: &[u8]) -> Option<Vec<u8>> {
    if signature.is_empty() || signature.len() % 2 != 0 {
        return None;
    }
    let (r, s) = signature.split_at(signature.len() / 2);
    let r = BigNum::from_slice(r).ok()?;
    let s = BigNum::from_slice(s).ok()?;
    EcdsaSig::from_private_components(r, s).ok()?.to_der().ok()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::DeflateEncoder;
    use openssl::pkey::Private;
    use openssl::rsa::Rsa;
    use openssl::sign::Signer;

    use super::*;

    const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

    fn encode(text: &str) -> String {
        form_urlencoded::byte_serialize(text.as_bytes()).collect()
    }

    fn message(xml: &str) -> String {
        let mut deflated = Vec::new();
        let mut encoder = DeflateEncoder::new(&mut deflated, Compression::default());
        encoder.write_all(xml.as_bytes()).unwrap();
        encoder.finish().unwrap();
        encode(&STANDARD.encode(&deflated))
    }

    fn pair() -> (PKey<Private>, CertificateDer) {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "idp").unwrap();
        let name = name.build();
        let mut cert = openssl::x509::X509Builder::new().unwrap();
        cert.set_subject_name(&name).unwrap();
        cert.set_issuer_name(&name).unwrap();
        cert.set_pubkey(&key).unwrap();
        cert.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        cert.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        cert.sign(&key, MessageDigest::sha256()).unwrap();
        let der = cert.build().to_der().unwrap();
        (key, CertificateDer::from(der))
    }

    /// `octets&Signature=..`, signed with `key` over exactly `octets`.
    fn signed(octets: &str, key: &PKey<Private>, digest: MessageDigest) -> String {
        let mut signer = Signer::new(digest, key).unwrap();
        let signature = signer.sign_oneshot_to_vec(octets.as_bytes()).unwrap();
        format!("{octets}&Signature={}", encode(&STANDARD.encode(signature)))
    }

    #[test]
    fn repeated_or_conflicting_parameters_are_refused() {
        let cases = [
            ("SAMLRequest=a&SAMLRequest=b", "repeats SAMLRequest"),
            ("SAMLResponse=a&SAMLResponse=b", "repeats SAMLResponse"),
            (
                "SAMLRequest=a&RelayState=x&RelayState=y",
                "repeats RelayState",
            ),
            ("SAMLRequest=a&SigAlg=x&SigAlg=x", "repeats SigAlg"),
            ("SAMLRequest=a&Signature=x&Signature=y", "repeats Signature"),
            ("SAMLRequest=a&SAML%52equest=b", "repeats SAMLRequest"),
            ("SAMLRequest=a&SAMLResponse=b", "both"),
            ("RelayState=x", "neither"),
            ("", "neither"),
            ("SAMLRequest=a&SAMLEncoding=urn%3Aother", "SAMLEncoding"),
        ];
        for (query, expected) in cases {
            let error = Redirect::parse(query).unwrap_err();
            assert!(error.contains(expected), "{query}: {error}");
        }
        let parsed = Redirect::parse("x=1&SAMLResponse=m&RelayState=%2Fback&y=2").unwrap();
        assert_eq!(parsed.kind, Kind::Response);
        assert_eq!(parsed.relay_state(), "/back");
    }

    #[test]
    fn the_signature_covers_the_raw_values_in_binding_order() {
        let (key, cert) = pair();
        let xml = "<samlp:LogoutRequest ID=\"a\"/>";
        // Encoded the way another implementation might (lower-case hex, `~` escaped): the
        // signature is over these bytes, not over a re-encoding of the decoded values.
        let relay = "%7e%2fback%20to*";
        let octets = format!(
            "SAMLRequest={}&RelayState={relay}&SigAlg={}",
            message(xml),
            encode(RSA_SHA256)
        );
        let query = signed(&octets, &key, MessageDigest::sha256());
        let parsed = Redirect::parse(&query).unwrap();
        parsed.verify(std::slice::from_ref(&cert), false).unwrap();
        assert_eq!(parsed.xml().unwrap(), xml);
        assert_eq!(parsed.relay_state(), "~/back to*");

        // The same parameters in another order still verify (the octet string is ours).
        let signature = query.rsplit_once("&Signature=").unwrap().1;
        let reordered = format!(
            "SigAlg={}&Signature={signature}&RelayState={relay}&SAMLRequest={}",
            encode(RSA_SHA256),
            message(xml)
        );
        Redirect::parse(&reordered)
            .unwrap()
            .verify(std::slice::from_ref(&cert), false)
            .unwrap();

        // Another message, RelayState or algorithm under the same signature does not.
        for forged in [
            query.replacen(
                &message(xml),
                &message("<samlp:LogoutRequest ID=\"b\"/>"),
                1,
            ),
            query.replacen(relay, "%2Felsewhere", 1),
            query.replacen(&format!("&RelayState={relay}"), "", 1),
            query.replacen(
                &encode(RSA_SHA256),
                &encode("http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"),
                1,
            ),
        ] {
            let error = Redirect::parse(&forged)
                .unwrap()
                .verify(std::slice::from_ref(&cert), false)
                .unwrap_err();
            assert!(error.contains("does not verify"), "{forged}: {error}");
        }
        // Another key does not.
        let (_, other) = pair();
        assert!(parsed.verify(&[other], false).is_err());
    }

    #[test]
    fn missing_unknown_or_sha1_algorithms_are_refusals() {
        let (key, cert) = pair();
        let certs = std::slice::from_ref(&cert);
        let m = message("<x/>");
        let cases = [
            (format!("SAMLRequest={m}"), "not signed"),
            (format!("SAMLRequest={m}&Signature=AAAA"), "no SigAlg"),
            (
                signed(
                    &format!("SAMLRequest={m}&SigAlg=urn%3Anonsense"),
                    &key,
                    MessageDigest::sha256(),
                ),
                "unknown SigAlg",
            ),
            (
                signed(
                    &format!(
                        "SAMLRequest={m}&SigAlg={}",
                        encode("http://www.w3.org/2000/09/xmldsig#dsa-sha1")
                    ),
                    &key,
                    MessageDigest::sha1(),
                ),
                "unknown SigAlg",
            ),
            (
                signed(
                    &format!(
                        "SAMLRequest={m}&SigAlg={}",
                        encode("http://www.w3.org/2000/09/xmldsig#rsa-sha1")
                    ),
                    &key,
                    MessageDigest::sha1(),
                ),
                "SHA-1",
            ),
            (
                signed(
                    &format!(
                        "SAMLRequest={m}&SigAlg={}",
                        encode("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256")
                    ),
                    &key,
                    MessageDigest::sha256(),
                ),
                "does not verify",
            ),
            (
                format!(
                    "SAMLRequest={m}&SigAlg={}&Signature=%%%",
                    encode(RSA_SHA256)
                ),
                "base64",
            ),
        ];
        for (query, expected) in cases {
            let error = Redirect::parse(&query)
                .unwrap()
                .verify(certs, false)
                .unwrap_err();
            assert!(error.contains(expected), "{query}: {error}");
        }
        // With allow_sha1, rsa-sha1 verifies; the other SHA-2 sizes always do.
        let sha1 = signed(
            &format!(
                "SAMLRequest={m}&SigAlg={}",
                encode("http://www.w3.org/2000/09/xmldsig#rsa-sha1")
            ),
            &key,
            MessageDigest::sha1(),
        );
        Redirect::parse(&sha1).unwrap().verify(certs, true).unwrap();
        let sha512 = signed(
            &format!(
                "SAMLRequest={m}&SigAlg={}",
                encode("http://www.w3.org/2001/04/xmldsig-more#rsa-sha512")
            ),
            &key,
            MessageDigest::sha512(),
        );
        Redirect::parse(&sha512)
            .unwrap()
            .verify(certs, false)
            .unwrap();
    }

    #[test]
    fn ecdsa_signatures_verify_as_der_or_as_xml_dsig_r_and_s() {
        use openssl::ec::{EcGroup, EcKey};
        use openssl::nid::Nid;
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "idp").unwrap();
        let name = name.build();
        let mut cert = openssl::x509::X509Builder::new().unwrap();
        cert.set_subject_name(&name).unwrap();
        cert.set_issuer_name(&name).unwrap();
        cert.set_pubkey(&key).unwrap();
        cert.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        cert.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        cert.sign(&key, MessageDigest::sha256()).unwrap();
        let cert = CertificateDer::from(cert.build().to_der().unwrap());
        let octets = format!(
            "SAMLRequest={}&SigAlg={}",
            message("<x/>"),
            encode("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256")
        );
        let der = Signer::new(MessageDigest::sha256(), &key)
            .unwrap()
            .sign_oneshot_to_vec(octets.as_bytes())
            .unwrap();
        let parsed = EcdsaSig::from_der(&der).unwrap();
        let mut raw = parsed.r().to_vec_padded(32).unwrap();
        raw.extend(parsed.s().to_vec_padded(32).unwrap());
        for signature in [der, raw] {
            let query = format!(
                "{octets}&Signature={}",
                encode(&STANDARD.encode(&signature))
            );
            Redirect::parse(&query)
                .unwrap()
                .verify(std::slice::from_ref(&cert), false)
                .unwrap();
        }
        // The right key with an RSA SigAlg is refused.
        let rsa = octets.replace("ecdsa-sha256", "rsa-sha256");
        assert!(
            Redirect::parse(&format!("{rsa}&Signature=AAAA"))
                .unwrap()
                .verify(&[cert], false)
                .is_err()
        );
    }

    #[test]
    fn undecodable_messages_are_refused() {
        for query in ["SAMLRequest=%%%", "SAMLRequest=bm90IGRlZmxhdGU%3D"] {
            assert!(Redirect::parse(query).unwrap().xml().is_err(), "{query}");
        }
    }
}
