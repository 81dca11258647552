//! SAML endpoints: `/saml/login`, `POST /saml/acs`, `/saml/metadata`.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};
use serde::Deserialize;

use super::AppState;
use super::start::{StartParams, begin, saml_error};
use crate::error::Error;
use crate::session::SessionStore;

/// `GET /saml/login?rd=URL`: `/oauth2/start` with the SAML provider chosen.
pub async fn login(
    State(state): State<AppState>,
    Query(params): Query<StartParams>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    begin(
        &state,
        params.rd.as_deref().unwrap_or_default(),
        Some("saml"),
        &headers,
    )
}

#[derive(Debug, Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// `POST /saml/acs`: the IdP's response, via the browser. Every rejection is a 400 with the
/// failed check named; the login cookie is spent whatever the outcome.
pub async fn acs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<AcsForm>,
) -> Response {
    let relay = form.relay_state.clone().unwrap_or_default();
    let mut response = match finish(&state, &headers, form).await {
        Ok(response) => response,
        Err(error) => {
            tracing::warn!(error = %error, "SAML response refused");
            error.into_response()
        }
    };
    if !relay.is_empty() {
        response
            .headers_mut()
            .append(SET_COOKIE, state.login.forget(&relay));
    }
    response
}

async fn finish(state: &AppState, headers: &HeaderMap, form: AcsForm) -> Result<Response, Error> {
    let saml = state.saml.as_ref().ok_or(Error::NoProvider)?;
    let relay = form.relay_state.as_deref().unwrap_or_default();
    let attempt = match state.login.recall(headers, relay) {
        Ok(attempt) if attempt.provider == "saml" => Some(attempt),
        Ok(_) => {
            return Err(Error::LoginFailed(
                "the login cookie belongs to another provider".into(),
            ));
        }
        Err(_) if saml.allows_idp_initiated() => None,
        Err(e) => return Err(Error::LoginFailed(format!("unsolicited response: {e}"))),
    };
    let session = saml
        .finish_login(
            &form.saml_response,
            attempt.as_ref(),
            state.session_lifetime,
        )
        .map_err(saml_error)?;
    if let Err(denial) = state.policy.check(&session) {
        return Err(Error::NotAllowed {
            user: session.user.clone(),
            reason: denial.to_string(),
        });
    }
    let cookies = state
        .authenticator
        .store
        .save(headers, &session)
        .await
        .map_err(Error::SessionStore)?;
    tracing::info!(user = %session.user, provider = "saml", "signed in");
    let target = match &attempt {
        Some(attempt) => attempt.rd.clone(),
        None => state.redirects.target_or_root(relay),
    };
    super::found(&target, cookies)
}

/// `GET /saml/metadata`: this SP's metadata, for import into the IdP.
pub async fn metadata(State(state): State<AppState>) -> Result<Response, Error> {
    let saml = state.saml.as_ref().ok_or(Error::NoProvider)?;
    let xml = saml.sp_metadata().map_err(saml_error)?;
    Ok((
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("application/samlmetadata+xml"),
        )],
        xml,
    )
        .into_response())
}
