//! `GET /oauth2/start?rd=URL&provider=oidc|saml`: begin a sign-in at an identity provider.

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use http::HeaderMap;
use http::header::ACCEPT_LANGUAGE;
use serde::Deserialize;

use super::AppState;
use crate::error::Error;
use crate::response::{Lang, Page, render};
use crate::route::Route;
use crate::session::{Loaded, ProviderKind};

#[derive(Debug, Deserialize)]
pub struct StartParams {
    pub rd: Option<String>,
    pub provider: Option<String>,
}

pub async fn start(
    State(state): State<AppState>,
    Query(params): Query<StartParams>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    warn_if_signed_in(&state, &headers).await;
    begin(
        &state,
        params.rd.as_deref().unwrap_or_default(),
        params.provider.as_deref(),
        &headers,
    )
    .await
}

/// A browser sent to sign in while it holds a valid session: the front door asked without the
/// session's cookie. Sign-in goes ahead (it ends in a new session), but each page would loop
/// through it again, so the log says which setting passes the cookie on.
async fn warn_if_signed_in(state: &AppState, headers: &HeaderMap) {
    if let Ok(Loaded::Valid(session)) = state.sessions().load(headers).await {
        tracing::warn!(
            user = %session.user,
            "a signed-in browser was sent to sign in again: its front door asks Sekisho without \
             the Cookie header. Envoy ext_authz: add `cookie` to allowed_headers; Gateway API \
             ExternalAuth: add `cookie` to http.allowedHeaders (or use grpc); Traefik: leave \
             authRequestHeaders empty or list Cookie; nginx: keep proxy_pass_request_headers on"
        );
    }
}

/// Redirects to the chosen provider (the only one, when one is configured), remembering the
/// attempt in its own login cookie; with several and none chosen, a page to choose. A refused
/// `rd` becomes `/` (and is logged) rather than failing the sign-in.
pub(super) async fn begin(
    state: &AppState,
    rd: &str,
    provider: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, Error> {
    let rd = state.redirects.target_or_root(rd);
    let not_configured =
        |name: &str| Error::BadRequest(format!("no provider `{name}` is configured"));
    let provider = match (provider, &state.oidc, &state.saml) {
        (Some(name), ..) => name
            .parse::<ProviderKind>()
            .map_err(|_| not_configured(name))?,
        (None, Some(_), None) => ProviderKind::Oidc,
        (None, None, Some(_)) => ProviderKind::Saml,
        (None, None, None) => return Err(Error::NoProvider),
        (None, Some(_), Some(_)) => return Ok(choose(&rd, headers)),
    };
    let (url, attempt) = match (provider, &state.oidc, &state.saml) {
        (ProviderKind::Oidc, Some(oidc), _) => {
            let login = oidc.login_redirect(rd)?;
            (login.url, login.attempt)
        }
        (ProviderKind::Saml, _, Some(saml)) => {
            let login = saml.login_redirect(rd)?;
            (login.url, login.attempt)
        }
        (other, ..) => return Err(not_configured(other.as_str())),
    };
    let cookie = state.login.remember(&attempt).await?;
    Ok(super::found(url.as_str(), vec![cookie])?)
}

fn choose(rd: &str, headers: &HeaderMap) -> Response {
    let href = |provider: ProviderKind| {
        let query = serde_urlencoded::to_string([("provider", provider.as_str()), ("rd", rd)])
            .unwrap_or_default();
        format!("{}?{query}", Route::Start.path())
    };
    let options = vec![
        (
            "Keycloak (OpenID Connect)".to_owned(),
            href(ProviderKind::Oidc),
        ),
        ("Keycloak (SAML 2.0)".to_owned(), href(ProviderKind::Saml)),
    ];
    let lang = Lang::from_accept_language(headers.get(ACCEPT_LANGUAGE));
    Html(render(&Page::ChooseProvider { options }, lang)).into_response()
}
