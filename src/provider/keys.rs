//! The provider's signing keys (its JWKS) and the one verification every JWT from it goes
//! through: ID tokens, access tokens (read for claims, or presented by API clients as bearer
//! tokens) and back-channel logout tokens. The library checks the signature; the registered
//! claims are read here, once, against one clock and one skew, with the rules that keep one
//! kind of token from passing for another.

use std::collections::HashMap;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::session::unix_now;

pub type Claims = Map<String, Value>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    /// Signed with a key we do not have (yet): worth reloading the JWKS once.
    #[error("unknown signing key `{0}`")]
    UnknownKey(String),
    #[error("{0}")]
    Invalid(String),
}

/// Which token a JWT must be. Each kind has its own required claims and labels, so that one
/// kind can never pass for another (an ID token for a bearer token, an ID token for a logout
/// token).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// An ID token, from the token endpoint at sign-in or refresh.
    Id,
    /// An access token: presented as a bearer token, or read for claims at sign-in.
    Access,
    /// A back-channel logout token.
    Logout,
}

impl TokenKind {
    /// The `typ` claim Keycloak puts in this kind of token.
    fn typ_claim(self) -> &'static str {
        match self {
            Self::Id => "ID",
            Self::Access => "Bearer",
            Self::Logout => "Logout",
        }
    }

    /// The JOSE header `typ` values this kind may carry (RFC 9068 for access tokens,
    /// Back-Channel Logout 1.0 for logout tokens); a plain `JWT` or none fits every kind.
    fn header_typ_fits(self, typ: Option<&str>) -> bool {
        let Some(typ) = typ.map(str::to_ascii_lowercase) else {
            return true;
        };
        let typ = typ.strip_prefix("application/").unwrap_or(&typ);
        matches!(
            (self, typ),
            (_, "jwt") | (Self::Access, "at+jwt") | (Self::Logout, "logout+jwt")
        )
    }
}

/// Claims that only an ID token carries (the hashes) or only a logout token (`events`): a token
/// holding one is not an access token. `nonce` is not among them: Keycloak up to version 24
/// copies it into access tokens, which say what they are with `typ: Bearer`.
const NOT_IN_ACCESS_TOKENS: [&str; 4] = ["at_hash", "c_hash", "s_hash", "events"];

/// What a JWT must satisfy besides its signature. ID tokens, access tokens and logout tokens
/// are all checked by [`Keys::verify`] against one of these: one reading of the registered
/// claims and one clock skew.
pub struct Expect<'a> {
    pub kind: TokenKind,
    pub issuer: &'a str,
    /// This client. An ID or logout token must name it in `aud`; its `azp`, when present (and
    /// for an ID token with several audiences, required), must be it.
    pub client_id: &'a str,
    /// Access tokens only: accept when `aud` or `azp` names one of these (an empty list
    /// accepts none). `None` only for an access token read for claims, which is bound to the
    /// ID token's user instead.
    pub audiences: Option<&'a [String]>,
    /// ID tokens only: the nonce of the login attempt. `None` at refresh, where the provider
    /// may leave the nonce out (OpenID Connect Core 12.2).
    pub nonce: Option<&'a str>,
    /// Tolerance on `exp`, `nbf` and `iat`, in seconds.
    pub clock_skew: u64,
}

#[derive(Clone, Default)]
pub struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    /// Keys without a `kid`, tried in turn.
    anonymous: Vec<DecodingKey>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("kids", &self.by_kid.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keys {
    /// The signing keys of a JWKS document; encryption keys and types we cannot use are skipped.
    pub fn from_jwks(jwks: &Value) -> Self {
        let mut keys = Self::default();
        for raw in jwks
            .get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if raw
                .get("use")
                .and_then(Value::as_str)
                .is_some_and(|u| u != "sig")
            {
                continue;
            }
            let Ok(jwk) = serde_json::from_value::<Jwk>(raw.clone()) else {
                continue;
            };
            let Ok(key) = DecodingKey::from_jwk(&jwk) else {
                continue;
            };
            match jwk.common.key_id {
                Some(kid) => {
                    keys.by_kid.insert(kid, key);
                }
                None => keys.anonymous.push(key),
            }
        }
        keys
    }

    pub fn is_empty(&self) -> bool {
        self.by_kid.is_empty() && self.anonymous.is_empty()
    }

    /// The claims of `token` if it is signed by one of these keys and meets `expect`.
    pub fn verify(&self, token: &str, expect: &Expect<'_>) -> Result<Claims, JwtError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| JwtError::Invalid(format!("malformed token: {e}")))?;
        if !matches!(
            header.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
                | Algorithm::ES256
                | Algorithm::ES384
                | Algorithm::EdDSA
        ) {
            return Err(JwtError::Invalid(format!(
                "algorithm {:?} not accepted",
                header.alg
            )));
        }
        if !expect.kind.header_typ_fits(header.typ.as_deref()) {
            return Err(JwtError::Invalid(format!(
                "header typ `{}` does not fit {}",
                header.typ.as_deref().unwrap_or_default(),
                expect.kind.describe()
            )));
        }
        // The library checks the signature only: every claim is checked in `check_claims`,
        // against one clock.
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();

        let candidates: Vec<&DecodingKey> = match &header.kid {
            Some(kid) => vec![
                self.by_kid
                    .get(kid)
                    .ok_or_else(|| JwtError::UnknownKey(kid.clone()))?,
            ],
            None => self.anonymous.iter().chain(self.by_kid.values()).collect(),
        };
        let mut last = JwtError::UnknownKey(String::new());
        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => {
                    check_claims(&data.claims, expect, header.typ.as_deref(), unix_now())?;
                    return Ok(data.claims);
                }
                Err(e) => last = JwtError::Invalid(describe(&e)),
            }
        }
        Err(last)
    }
}

impl TokenKind {
    fn describe(self) -> &'static str {
        match self {
            Self::Id => "an ID token",
            Self::Access => "an access token",
            Self::Logout => "a logout token",
        }
    }
}

/// The registered claims of a signature-checked token, as `expect` and the clock at `now`
/// require.
fn check_claims(
    claims: &Claims,
    expect: &Expect<'_>,
    header_typ: Option<&str>,
    now: u64,
) -> Result<(), JwtError> {
    let invalid = |why: String| Err(JwtError::Invalid(why));
    let kind = expect.kind;
    if claims.get("iss").and_then(Value::as_str) != Some(expect.issuer) {
        return invalid("wrong issuer".into());
    }
    let time = |name: &str| -> Result<Option<f64>, JwtError> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| JwtError::Invalid(format!("claim {name} is not a number"))),
        }
    };
    let (exp, nbf, iat) = (time("exp")?, time("nbf")?, time("iat")?);
    let (now, skew) = (now as f64, expect.clock_skew as f64);
    let timing = |why: &str| invalid(timing_failure(kind, why));
    match exp {
        Some(exp) if exp + skew <= now => return timing("token expired"),
        // A logout token without `exp` is judged by its age, by the caller.
        None if kind != TokenKind::Logout => return invalid("missing claim exp".into()),
        _ => {}
    }
    if nbf.is_some_and(|nbf| nbf > now + skew) {
        return timing("token not yet valid (nbf)");
    }
    match iat {
        Some(iat) if iat > now + skew => return timing("token issued in the future (iat)"),
        None if kind != TokenKind::Access => return invalid("missing claim iat".into()),
        _ => {}
    }

    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(aud)) => vec![aud.as_str()],
        _ => Vec::new(),
    };
    let azp = claims.get("azp").and_then(Value::as_str);
    match kind {
        TokenKind::Id | TokenKind::Logout => {
            if !audiences.contains(&expect.client_id) {
                return invalid(format!("{} for another client (aud)", kind.describe()));
            }
            if kind == TokenKind::Id && audiences.len() > 1 && azp.is_none() {
                return invalid("ID token with several audiences lacks azp".into());
            }
            if azp.is_some_and(|azp| azp != expect.client_id) {
                return invalid(format!(
                    "{} issued to another client (azp)",
                    kind.describe()
                ));
            }
        }
        TokenKind::Access => {
            if let Some(accepted) = expect.audiences {
                let wanted = |name: &str| accepted.iter().any(|w| w == name);
                if !audiences.iter().any(|a| wanted(a)) && !azp.is_some_and(wanted) {
                    return invalid("audience not accepted".into());
                }
            }
        }
    }

    let typ = claims.get("typ").and_then(Value::as_str);
    if typ.is_some_and(|typ| !typ.eq_ignore_ascii_case(kind.typ_claim())) {
        return invalid(format!(
            "typ `{}` is not {}",
            typ.unwrap_or_default(),
            kind.describe()
        ));
    }
    match kind {
        TokenKind::Id => {
            if claims.contains_key("events") {
                return invalid("an ID token carries no events".into());
            }
            if claims
                .get("sub")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return invalid("missing claim sub".into());
            }
            if let Some(nonce) = expect.nonce {
                if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
                    return invalid("nonce does not match the login attempt".into());
                }
            }
        }
        TokenKind::Access => {
            if let Some(name) = NOT_IN_ACCESS_TOKENS
                .iter()
                .find(|n| claims.contains_key(**n))
            {
                return invalid(format!("not an access token (carries {name})"));
            }
            // Labelled by the provider (`typ: Bearer`, checked above, or the RFC 9068 header
            // type), it is what it says. Unlabelled, it must still show it is an access token:
            // an ID token (refreshed ones carry no nonce) has the same issuer, audience and
            // subject, but never a scope or a client_id; and a nonce marks an ID token.
            let labelled = typ.is_some()
                || header_typ.is_some_and(|t| {
                    let t = t.to_ascii_lowercase();
                    t == "at+jwt" || t == "application/at+jwt"
                });
            let looks_like_one = ["scope", "scp", "client_id"]
                .iter()
                .any(|n| claims.contains_key(*n))
                && !claims.contains_key("nonce");
            if !labelled && !looks_like_one {
                return invalid(
                    "not an access token (no typ, no at+jwt header, or no scope or client_id \
                     without a nonce)"
                        .into(),
                );
            }
        }
        TokenKind::Logout => {
            if claims.contains_key("nonce") {
                return invalid("a logout token carries no nonce".into());
            }
        }
    }
    Ok(())
}

/// An ID token comes straight from the token endpoint: when its times do not fit our clock,
/// the clocks disagree or the provider's token lifespan leaves nothing to spare, never a token
/// that merely aged. Other kinds can age on the way, and keep the plain reason.
fn timing_failure(kind: TokenKind, why: &str) -> String {
    if kind != TokenKind::Id {
        return why.to_owned();
    }
    format!(
        "{why} on arrival: check that this host's and the identity provider's clocks agree \
         (NTP), and the provider's token lifespan (Keycloak: Realm settings > Tokens > Access \
         Token Lifespan, which ID tokens share); oidc.clock_skew tolerates up to 5m"
    )
}

/// Whether `id_token`'s `at_hash` (when it has one) is the hash of `access_token`: the left half
/// of the digest that goes with the ID token's algorithm, base64url (OpenID Connect Core
/// 3.1.3.6). An ID token without `at_hash` binds nothing and passes.
pub fn at_hash_matches(id_token: &str, id_claims: &Claims, access_token: &str) -> bool {
    use base64::Engine;
    use sha2::Digest;
    let Some(expected) = id_claims.get("at_hash") else {
        return true;
    };
    let Ok(header) = jsonwebtoken::decode_header(id_token) else {
        return false;
    };
    let digest: Vec<u8> = match header.alg {
        Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256 | Algorithm::HS256 => {
            sha2::Sha256::digest(access_token).to_vec()
        }
        Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 | Algorithm::HS384 => {
            sha2::Sha384::digest(access_token).to_vec()
        }
        Algorithm::RS512 | Algorithm::PS512 | Algorithm::HS512 | Algorithm::EdDSA => {
            sha2::Sha512::digest(access_token).to_vec()
        }
    };
    let half = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2]);
    expected.as_str() == Some(half.as_str())
}

/// The short reason a client may see; the library's own wording (which can quote the token's
/// parts) goes to the log only. Claims are checked by us, so the signature and the token's
/// form are all that can fail here.
fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidSignature => "bad signature".into(),
        _ => {
            tracing::debug!(error = %e, "token not readable");
            "token not readable".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "https://idp.example/realms/demo";
    const CLIENT: &str = "sekisho";

    /// One RSA key for every test (generating one takes a while): its signing half, and the
    /// JWKS publishing it as `k1`.
    fn rsa() -> &'static (EncodingKey, Value) {
        static KEY: OnceLock<(EncodingKey, Value)> = OnceLock::new();
        KEY.get_or_init(|| {
            let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
            let b64 = |n: &openssl::bn::BigNumRef| URL_SAFE_NO_PAD.encode(n.to_vec());
            let jwks = json!({"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
                "n": b64(rsa.n()), "e": b64(rsa.e())}]});
            let pem = rsa.private_key_to_pem().unwrap();
            (EncodingKey::from_rsa_pem(&pem).unwrap(), jwks)
        })
    }

    fn sign(header_typ: Option<&str>, kid: &str, claims: Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = header_typ.map(str::to_owned);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, &claims, &rsa().0).unwrap()
    }

    fn keys() -> Keys {
        Keys::from_jwks(&rsa().1)
    }

    fn expect(kind: TokenKind) -> Expect<'static> {
        static AUDIENCES: OnceLock<Vec<String>> = OnceLock::new();
        Expect {
            kind,
            issuer: ISSUER,
            client_id: CLIENT,
            audiences: Some(AUDIENCES.get_or_init(|| vec![CLIENT.to_owned()])),
            nonce: None,
            clock_skew: 60,
        }
    }

    /// Keycloak's shapes of the three kinds, valid now, with `edit` applied.
    fn token(kind: TokenKind, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
        let now = unix_now();
        let mut claims = match kind {
            TokenKind::Id => json!({"typ": "ID", "aud": CLIENT, "azp": CLIENT, "nonce": "n-1",
                "at_hash": "x", "sid": "s1"}),
            TokenKind::Access => json!({"typ": "Bearer", "aud": "account", "azp": CLIENT,
                "scope": "openid email", "sid": "s1"}),
            TokenKind::Logout => json!({"typ": "Logout", "aud": CLIENT, "sid": "s1", "jti": "j1",
                "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}),
        };
        let map = claims.as_object_mut().unwrap();
        map.insert("iss".into(), ISSUER.into());
        map.insert("sub".into(), "a11ce".into());
        map.insert("iat".into(), now.into());
        map.insert("exp".into(), (now + 300).into());
        edit(map);
        sign(None, "k1", claims)
    }

    fn check(kind: TokenKind, token: &str) -> Result<Claims, JwtError> {
        keys().verify(token, &expect(kind))
    }

    #[test]
    fn each_kind_passes_as_itself_only() {
        use TokenKind::*;
        for made in [Id, Access, Logout] {
            for read in [Id, Access, Logout] {
                let result = check(read, &token(made, |_| {}));
                assert_eq!(
                    result.is_ok(),
                    made == read,
                    "{made:?} read as {read:?}: {result:?}"
                );
            }
        }
    }

    #[test]
    fn an_unlabelled_id_token_without_nonce_is_no_access_token() {
        // A refreshed ID token from a provider that sets no `typ`: same issuer, audience
        // (this client) and subject as an access token for us.
        let refreshed = token(TokenKind::Id, |c| {
            for name in ["typ", "nonce", "at_hash"] {
                c.remove(name);
            }
        });
        assert!(check(TokenKind::Id, &refreshed).is_ok());
        let as_bearer = check(TokenKind::Access, &refreshed).unwrap_err();
        assert!(
            as_bearer.to_string().contains("not an access token"),
            "{as_bearer}"
        );
    }

    #[test]
    fn access_tokens_may_say_what_they_are_in_several_ways() {
        let plain = |c: &mut Map<String, Value>| {
            c.remove("typ");
            c.remove("scope");
        };
        let now = unix_now();
        let base =
            json!({"iss": ISSUER, "sub": "a11ce", "aud": CLIENT, "iat": now, "exp": now + 60});
        assert!(check(TokenKind::Access, &sign(Some("at+jwt"), "k1", base.clone())).is_ok());
        assert!(check(TokenKind::Access, &token(TokenKind::Access, plain)).is_err());
        for (name, value) in [
            ("scp", json!(["read"])),
            ("client_id", json!("other")),
            ("scope", json!("x")),
        ] {
            let t = token(TokenKind::Access, |c| {
                plain(c);
                c.insert(name.into(), value);
            });
            assert!(check(TokenKind::Access, &t).is_ok(), "{name}");
        }
        // A header type of another kind never passes.
        assert!(
            check(
                TokenKind::Access,
                &sign(Some("logout+jwt"), "k1", base.clone())
            )
            .is_err()
        );
        assert!(check(TokenKind::Id, &sign(Some("at+jwt"), "k1", base)).is_err());
    }

    #[test]
    fn an_id_token_out_of_time_names_the_clocks_and_the_lifespan() {
        // Keycloak with an Access Token Lifespan of 0: exp = iat, expired on arrival.
        let born_expired = |c: &mut Map<String, Value>| {
            let iat = c["iat"].clone();
            c.insert("exp".into(), iat);
        };
        let mut strict = expect(TokenKind::Id);
        strict.clock_skew = 0;
        let why = keys()
            .verify(&token(TokenKind::Id, born_expired), &strict)
            .unwrap_err()
            .to_string();
        assert!(
            why.starts_with("token expired on arrival")
                && why.contains("clocks")
                && why.contains("Access Token Lifespan")
                && why.contains("oidc.clock_skew"),
            "{why}"
        );
        let future = |c: &mut Map<String, Value>| {
            c.insert("iat".into(), (unix_now() + 120).into());
        };
        let why = check(TokenKind::Id, &token(TokenKind::Id, future))
            .unwrap_err()
            .to_string();
        assert!(
            why.contains("(iat) on arrival") && why.contains("oidc.clock_skew"),
            "{why}"
        );
        // An access token can have aged on the way: the plain reason.
        let mut strict = expect(TokenKind::Access);
        strict.clock_skew = 0;
        assert_eq!(
            keys().verify(&token(TokenKind::Access, born_expired), &strict),
            Err(JwtError::Invalid("token expired".into()))
        );
    }

    #[test]
    fn registered_claims_table() {
        let now = unix_now() as i64;
        type Edit = fn(&mut Map<String, Value>, i64);
        let cases: &[(&str, TokenKind, Edit, bool)] = &[
            (
                "exp missing",
                TokenKind::Id,
                |c, _| {
                    c.remove("exp");
                },
                false,
            ),
            (
                "exp missing",
                TokenKind::Access,
                |c, _| {
                    c.remove("exp");
                },
                false,
            ),
            (
                "exp missing, logout judged by age",
                TokenKind::Logout,
                |c, _| {
                    c.remove("exp");
                },
                true,
            ),
            (
                "exp past, within skew",
                TokenKind::Access,
                |c, n| {
                    c.insert("exp".into(), (n - 30).into());
                },
                true,
            ),
            (
                "exp past skew",
                TokenKind::Access,
                |c, n| {
                    c.insert("exp".into(), (n - 61).into());
                },
                false,
            ),
            (
                "exp past skew",
                TokenKind::Logout,
                |c, n| {
                    c.insert("exp".into(), (n - 61).into());
                },
                false,
            ),
            (
                "exp a string",
                TokenKind::Id,
                |c, _| {
                    c.insert("exp".into(), "never".into());
                },
                false,
            ),
            (
                "nbf within skew",
                TokenKind::Access,
                |c, n| {
                    c.insert("nbf".into(), (n + 30).into());
                },
                true,
            ),
            (
                "nbf future",
                TokenKind::Access,
                |c, n| {
                    c.insert("nbf".into(), (n + 120).into());
                },
                false,
            ),
            (
                "nbf future",
                TokenKind::Id,
                |c, n| {
                    c.insert("nbf".into(), (n + 120).into());
                },
                false,
            ),
            (
                "iat future",
                TokenKind::Id,
                |c, n| {
                    c.insert("iat".into(), (n + 120).into());
                },
                false,
            ),
            (
                "iat future",
                TokenKind::Access,
                |c, n| {
                    c.insert("iat".into(), (n + 120).into());
                },
                false,
            ),
            (
                "iat future",
                TokenKind::Logout,
                |c, n| {
                    c.insert("iat".into(), (n + 120).into());
                },
                false,
            ),
            (
                "iat missing",
                TokenKind::Id,
                |c, _| {
                    c.remove("iat");
                },
                false,
            ),
            (
                "iat missing",
                TokenKind::Logout,
                |c, _| {
                    c.remove("iat");
                },
                false,
            ),
            (
                "iat missing",
                TokenKind::Access,
                |c, _| {
                    c.remove("iat");
                },
                true,
            ),
            (
                "iss other",
                TokenKind::Id,
                |c, _| {
                    c.insert("iss".into(), "https://evil/realms/demo".into());
                },
                false,
            ),
            (
                "iss missing",
                TokenKind::Access,
                |c, _| {
                    c.remove("iss");
                },
                false,
            ),
            (
                "aud other",
                TokenKind::Id,
                |c, _| {
                    c.insert("aud".into(), "other".into());
                },
                false,
            ),
            (
                "aud list with us",
                TokenKind::Id,
                |c, _| {
                    c.insert("aud".into(), json!([CLIENT, "x"]));
                },
                true,
            ),
            (
                "aud list, no azp",
                TokenKind::Id,
                |c, _| {
                    c.insert("aud".into(), json!([CLIENT, "x"]));
                    c.remove("azp");
                },
                false,
            ),
            (
                "azp other",
                TokenKind::Id,
                |c, _| {
                    c.insert("azp".into(), "other".into());
                },
                false,
            ),
            (
                "aud other",
                TokenKind::Logout,
                |c, _| {
                    c.insert("aud".into(), "other".into());
                },
                false,
            ),
            (
                "azp other",
                TokenKind::Logout,
                |c, _| {
                    c.insert("azp".into(), "other".into());
                },
                false,
            ),
            ("aud other, azp us", TokenKind::Access, |_, _| {}, true),
            (
                "neither aud nor azp us",
                TokenKind::Access,
                |c, _| {
                    c.insert("azp".into(), "other".into());
                },
                false,
            ),
            (
                "sub missing",
                TokenKind::Id,
                |c, _| {
                    c.remove("sub");
                },
                false,
            ),
            (
                "typ other",
                TokenKind::Id,
                |c, _| {
                    c.insert("typ".into(), "Refresh".into());
                },
                false,
            ),
            (
                "typ lower case",
                TokenKind::Access,
                |c, _| {
                    c.insert("typ".into(), "bearer".into());
                },
                true,
            ),
            (
                "nonce, typ Bearer (Keycloak up to 24)",
                TokenKind::Access,
                |c, _| {
                    c.insert("nonce".into(), "n".into());
                },
                true,
            ),
            (
                "nonce and scope, unlabelled",
                TokenKind::Access,
                |c, _| {
                    c.remove("typ");
                    c.insert("nonce".into(), "n".into());
                },
                false,
            ),
            (
                "scope, unlabelled",
                TokenKind::Access,
                |c, _| {
                    c.remove("typ");
                },
                true,
            ),
            (
                "at_hash",
                TokenKind::Access,
                |c, _| {
                    c.insert("at_hash".into(), "h".into());
                },
                false,
            ),
            (
                "nonce",
                TokenKind::Logout,
                |c, _| {
                    c.insert("nonce".into(), "n".into());
                },
                false,
            ),
            (
                "events",
                TokenKind::Id,
                |c, _| {
                    c.insert("events".into(), json!({}));
                },
                false,
            ),
        ];
        for (name, kind, edit, ok) in cases {
            let t = token(*kind, |c| edit(c, now));
            let result = check(*kind, &t);
            assert_eq!(result.is_ok(), *ok, "{name} ({kind:?}): {result:?}");
        }
    }

    #[test]
    fn id_token_nonce_is_checked_when_expected() {
        let t = token(TokenKind::Id, |_| {});
        let mut e = expect(TokenKind::Id);
        e.nonce = Some("n-1");
        assert!(keys().verify(&t, &e).is_ok());
        e.nonce = Some("n-2");
        assert!(keys().verify(&t, &e).is_err());
    }

    #[test]
    fn a_key_we_do_not_have_is_named_by_kid() {
        let t = sign(None, "k2", json!({"iss": ISSUER}));
        assert_eq!(
            keys().verify(&t, &expect(TokenKind::Access)),
            Err(JwtError::UnknownKey("k2".into()))
        );
    }

    #[test]
    fn at_hash_is_the_left_half_of_the_digest() {
        // OpenID Connect Core's example (A.3): RS256 over this access token.
        let access = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        let claims: Claims = json!({"at_hash": "77QmUPtjPfzWtF2AnpK9RQ"})
            .as_object()
            .unwrap()
            .clone();
        let id = sign(None, "k1", json!({}));
        assert!(at_hash_matches(&id, &claims, access));
        assert!(!at_hash_matches(&id, &claims, "another-token"));
        assert!(at_hash_matches(&id, &Claims::new(), "anything"));
    }
}
