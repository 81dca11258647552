//! Bearer tokens, ID tokens and back-channel logout tokens: the JOSE header and the rest of
//! any text panic nowhere, nothing verifies without the provider's signature, and a genuine
//! token altered in any way no longer does.

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::provider::BACKCHANNEL_EVENT;
use crate::provider::keys::{Expect, Keys, TokenKind};
use crate::session::unix_now;

const ISSUER: &str = "https://idp.example/realms/fuzz";
const CLIENT: &str = "sekisho";
const KINDS: [TokenKind; 3] = [TokenKind::Id, TokenKind::Access, TokenKind::Logout];

/// The provider's key, made once per process, and its JWKS.
static PROVIDER: LazyLock<(EncodingKey, Keys)> = LazyLock::new(|| {
    let rsa = openssl::rsa::Rsa::generate(2048).expect("an RSA key");
    let b64 = |n: &openssl::bn::BigNumRef| URL_SAFE_NO_PAD.encode(n.to_vec());
    let jwks = json!({"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
        "n": b64(rsa.n()), "e": b64(rsa.e())}]});
    let pem = rsa.private_key_to_pem().expect("PEM");
    let key = EncodingKey::from_rsa_pem(&pem).expect("an encoding key");
    (key, Keys::from_jwks(&jwks))
});

/// A genuine token of each kind, valid for the life of the process.
static GENUINE: LazyLock<[String; 3]> = LazyLock::new(|| KINDS.map(genuine));

fn genuine(kind: TokenKind) -> String {
    let now = unix_now();
    let mut claims = match kind {
        TokenKind::Id => json!({"typ": "ID", "aud": CLIENT, "azp": CLIENT, "sid": "s1"}),
        TokenKind::Access => json!({"typ": "Bearer", "aud": CLIENT, "azp": CLIENT, "sid": "s1"}),
        TokenKind::Logout => json!({"typ": "Logout", "aud": CLIENT, "sid": "s1", "jti": "j1",
            "events": {BACKCHANNEL_EVENT: {}}}),
    };
    let map = claims.as_object_mut().expect("an object");
    map.insert("iss".into(), ISSUER.into());
    map.insert("sub".into(), "a11ce".into());
    map.insert("iat".into(), Value::from(now));
    map.insert("exp".into(), Value::from(now + 86_400));
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("k1".into());
    jsonwebtoken::encode(&header, &claims, &PROVIDER.0).expect("signs")
}

fn expect(kind: TokenKind) -> Expect<'static> {
    static AUDIENCES: LazyLock<Vec<String>> = LazyLock::new(|| vec![CLIENT.to_owned()]);
    Expect {
        kind,
        issuer: ISSUER,
        client_id: CLIENT,
        audiences: Some(&AUDIENCES),
        nonce: None,
        clock_skew: 60,
    }
}

/// Input: a mode line, then its bytes.
///
/// - `token`: a token as a client presents it (bearer) or a provider posts it (logout),
///   verified as each kind: none may pass.
/// - `alter`: edits (as `session_cookie`'s) made to a genuine token of each kind: unless they
///   cancel out, it must fail.
pub fn jwt(data: &[u8]) {
    let keys = &PROVIDER.1;
    let (mode, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    match mode {
        b"token" => {
            let token = String::from_utf8_lossy(rest);
            for kind in KINDS {
                assert!(
                    keys.verify(&token, &expect(kind)).is_err(),
                    "{token:?} passed as {kind:?}"
                );
            }
        }
        b"alter" => {
            for (kind, token) in KINDS.iter().zip(GENUINE.iter()) {
                assert!(
                    keys.verify(token, &expect(*kind)).is_ok(),
                    "the genuine {kind:?} passes"
                );
                let altered = super::session_cookie::edit(token.as_bytes(), rest);
                let altered = String::from_utf8_lossy(&altered);
                if altered != *token {
                    assert!(
                        keys.verify(&altered, &expect(*kind)).is_err(),
                        "an altered {kind:?} passed: {altered}"
                    );
                }
            }
        }
        _ => {}
    }
}
