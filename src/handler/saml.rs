//! SAML endpoints: `/saml/login`, `POST /saml/acs`, `/saml/metadata`.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Uri};
use serde::Deserialize;

use super::AppState;
use super::start::{StartParams, begin};
use crate::error::Error;
use crate::provider::{SamlError, SloMessage};
use crate::session::{Loaded, LoginStateError, ProviderKind, SessionIndex};

/// `GET /saml/login?rd=URL`: `/oauth2/start` with the SAML provider chosen.
pub async fn login(
    State(state): State<AppState>,
    Query(params): Query<StartParams>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    begin(
        &state,
        params.rd.as_deref().unwrap_or_default(),
        Some(ProviderKind::Saml.as_str()),
        &headers,
    )
    .await
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
    let attempt = match state.login.recall(headers, relay).await {
        Ok(attempt) if attempt.provider == ProviderKind::Saml => Some(attempt),
        Ok(_) => {
            return Err(Error::LoginFailed(
                "the login cookie belongs to another provider".into(),
            ));
        }
        Err(e @ LoginStateError::Unavailable) => return Err(e.into()),
        Err(_) if saml.allows_idp_initiated() => None,
        Err(e) => return Err(Error::LoginFailed(format!("unsolicited response: {e}"))),
    };
    let signed_in = saml.finish_login(
        &form.saml_response,
        attempt.as_ref(),
        state.session_lifetime,
    )?;
    let first_use = state
        .replay
        .first_time(
            "saml-assertion",
            &signed_in.assertion_id,
            signed_in.remember_for,
        )
        .await?;
    if !first_use {
        return Err(Error::LoginFailed(format!(
            "assertion {} was already used (replay)",
            signed_in.assertion_id
        )));
    }
    let session = signed_in.session;
    if let Err(denial) = state.policy.check(&session) {
        return Err(Error::NotAllowed {
            user: session.user.clone(),
            reason: denial.to_string(),
        });
    }
    let cookies = state.sessions().save(headers, &session).await?;
    tracing::info!(user = %session.user, provider = %ProviderKind::Saml, "signed in");
    let target = match &attempt {
        Some(attempt) => attempt.rd.clone(),
        None => state.redirects.target_or_root(relay),
    };
    Ok(super::found(&target, cookies)?)
}

/// `GET /saml/metadata`: this SP's metadata, for import into the IdP.
pub async fn metadata(State(state): State<AppState>) -> Result<Response, Error> {
    let saml = state.saml.as_ref().ok_or(Error::NoProvider)?;
    let xml = saml.sp_metadata()?;
    Ok((
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("application/samlmetadata+xml"),
        )],
        xml,
    )
        .into_response())
}

/// `GET /saml/slo`: the IdP's LogoutResponse ending a sign-out that began here, or an
/// IdP-initiated LogoutRequest, which ends this browser's session (and, with Redis, every session
/// of that IdP session) and is answered with a LogoutResponse. Either is acted on only once
/// verified (see `Saml::slo_message`) and seen for the first time; a refusal is a 400 with the
/// reason and ends nothing.
pub async fn slo(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    match single_logout(&state, &uri, &headers).await {
        Ok(response) => response,
        Err(error) => {
            tracing::warn!(error = %error, "SAML logout message refused");
            error.into_response()
        }
    }
}

async fn single_logout(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, Error> {
    let saml = state.saml.as_ref().ok_or(Error::NoProvider)?;
    let message = saml
        .slo_message(uri.query().unwrap_or_default())
        .map_err(|e| match e {
            // A logout message is no sign-in: refused, it is a bad request.
            SamlError::Rejected(why) => Error::BadRequest(why),
            unavailable => unavailable.into(),
        })?;
    let once = message.once();
    let first_use = state
        .replay
        .first_time("saml-logout", &once.id, once.remember_for)
        .await?;
    if !first_use {
        return Err(Error::BadRequest(format!(
            "logout message {} was already used (replay)",
            once.id
        )));
    }
    let logout = match message {
        SloMessage::Response(returned) => {
            // The return leg of a sign-out started at /oauth2/sign_out, which already ended
            // the session. Nothing is cleared here: a genuine LogoutResponse someone kept
            // instead of following, planted in another browser, must not sign that one out.
            if !returned.success {
                tracing::warn!(status = %returned.status, "the IdP did not end its session");
            }
            let rd = state.redirects.target_or_root(&returned.relay_state);
            return Ok(super::found(&rd, Vec::new())?);
        }
        SloMessage::Request(logout) => logout,
    };
    tracing::info!(name_id = ?logout.name_id, session_indexes = ?logout.session_indexes, "IdP ended the session");
    // The browser that brings the request ends its own session only if it is the one named: a
    // genuine LogoutRequest for someone else, planted in this browser, must not sign it out.
    let sessions = state.sessions();
    let cleared = match sessions.load(headers).await? {
        Loaded::Valid(session) if !logout.names(&session) => {
            tracing::warn!(user = %session.user, "IdP logout for another user left this browser's session alone");
            Vec::new()
        }
        _ => sessions.end(headers).await?,
    };
    if let Some(name_id) = logout.name_id.as_deref()
        && sessions.can_end_by_provider_session()
    {
        // Every replica's sessions of this IdP session end, not only this browser's.
        let indexes: Vec<SessionIndex<'_>> = if logout.session_indexes.is_empty() {
            vec![SessionIndex::SamlSubject(name_id)]
        } else {
            logout
                .session_indexes
                .iter()
                .map(|session_index| SessionIndex::SamlSession {
                    name_id,
                    session_index,
                })
                .collect()
        };
        for index in indexes {
            let ended = sessions.end_by_provider_session(index).await?;
            tracing::info!(ended, "sessions of the IdP session ended");
        }
    }
    Ok(super::found(logout.respond_to.as_str(), cleared)?)
}
