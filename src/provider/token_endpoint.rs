//! The HTTP client for the provider's token endpoint: reqwest, with one correction to the
//! answer before it is parsed.
//!
//! Keycloak writes `expires_in` as the access token's `exp` minus the current second. With an
//! Access Token Lifespan of 0 (or a token issued just before a second turns) that is `-1`,
//! which the token response's unsigned field refuses: the whole sign-in failed with "failed
//! to parse server response" instead of reaching the check that explains the lifespan. A
//! negative lifetime means "already expired", so it is read as 0.

use std::future::Future;
use std::pin::Pin;

use openidconnect::reqwest;
use openidconnect::{AsyncHttpClient, HttpClientError, HttpRequest, HttpResponse};
use serde_json::Value;

type Answer<'c> = Pin<
    Box<
        dyn Future<Output = Result<HttpResponse, HttpClientError<reqwest::Error>>>
            + Send
            + Sync
            + 'c,
    >,
>;

/// `http` for the token endpoint: its answers come back with a negative `expires_in` read as 0.
pub(super) struct TokenEndpoint<'a>(pub &'a reqwest::Client);

impl<'c> AsyncHttpClient<'c> for TokenEndpoint<'_> {
    type Error = HttpClientError<reqwest::Error>;
    type Future = Answer<'c>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let mut response = self.0.call(request).await?;
            if let Some(corrected) = without_negative_expiry(response.body()) {
                *response.body_mut() = corrected;
            }
            Ok(response)
        })
    }
}

/// The body again with `expires_in: 0` when it is a JSON object whose `expires_in` is a
/// negative number; `None` when nothing needs changing.
fn without_negative_expiry(body: &[u8]) -> Option<Vec<u8>> {
    let mut answer: Value = serde_json::from_slice(body).ok()?;
    let expires_in = answer.get_mut("expires_in")?;
    if !expires_in.as_f64().is_some_and(|seconds| seconds < 0.0) {
        return None;
    }
    *expires_in = Value::from(0);
    serde_json::to_vec(&answer).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corrected(body: &str) -> Option<Value> {
        without_negative_expiry(body.as_bytes()).map(|b| serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn a_negative_lifetime_reads_as_expired() {
        let fixed = corrected(r#"{"access_token":"a","token_type":"Bearer","expires_in":-1}"#)
            .expect("corrected");
        assert_eq!(fixed["expires_in"], 0);
        assert_eq!(fixed["access_token"], "a", "the rest is kept");
        assert_eq!(
            corrected(r#"{"expires_in":-0.5}"#).unwrap()["expires_in"],
            0
        );
    }

    #[test]
    fn other_answers_are_left_as_they_are() {
        for body in [
            r#"{"access_token":"a","expires_in":300}"#,
            r#"{"access_token":"a","expires_in":0}"#,
            r#"{"access_token":"a"}"#,
            r#"{"error":"invalid_grant"}"#,
            r#"{"expires_in":"-1"}"#,
            "not json",
            "",
        ] {
            assert_eq!(corrected(body), None, "{body}");
        }
    }
}
