//! The provider's signing keys (its JWKS) and verification of JWTs signed with them: access
//! tokens read for claims, bearer tokens from API clients, logout tokens.

use std::collections::HashMap;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

pub type Claims = Map<String, Value>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    /// Signed with a key we do not have (yet): worth reloading the JWKS once.
    #[error("unknown signing key `{0}`")]
    UnknownKey(String),
    #[error("{0}")]
    Invalid(String),
}

/// What a JWT must satisfy besides its signature.
pub struct Expect<'a> {
    pub issuer: &'a str,
    /// Accept when `aud` or `azp` names one of these; `None` skips the audience check.
    pub audiences: Option<&'a [String]>,
    pub leeway_secs: u64,
    pub require_exp: bool,
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
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[expect.issuer]);
        validation.validate_aud = false;
        validation.leeway = expect.leeway_secs;
        validation.validate_exp = true;
        validation.required_spec_claims = if expect.require_exp {
            ["exp", "iss"].map(String::from).into()
        } else {
            ["iss"].map(String::from).into()
        };

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
                    check_audience(&data.claims, expect.audiences)?;
                    return Ok(data.claims);
                }
                Err(e) => last = JwtError::Invalid(describe(&e)),
            }
        }
        Err(last)
    }
}

fn check_audience(claims: &Claims, audiences: Option<&[String]>) -> Result<(), JwtError> {
    let Some(wanted) = audiences else {
        return Ok(());
    };
    let named = |v: &Value| v.as_str().is_some_and(|s| wanted.iter().any(|w| w == s));
    let aud_ok = match claims.get("aud") {
        Some(Value::Array(list)) => list.iter().any(named),
        Some(v) => named(v),
        None => false,
    };
    if aud_ok || claims.get("azp").is_some_and(named) {
        Ok(())
    } else {
        Err(JwtError::Invalid("audience not accepted".into()))
    }
}

fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "token expired".into(),
        ErrorKind::InvalidIssuer => "wrong issuer".into(),
        ErrorKind::InvalidSignature => "bad signature".into(),
        ErrorKind::ImmatureSignature => "token not yet valid".into(),
        ErrorKind::MissingRequiredClaim(c) => format!("missing claim {c}"),
        other => format!("invalid token: {other:?}"),
    }
}
