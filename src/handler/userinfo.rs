//! `GET /oauth2/userinfo`: the signed-in identity as JSON.

use axum::Json;
use axum::extract::{Request, State};
use serde::Serialize;

use super::AppState;
use crate::auth::Authentication;
use crate::error::Error;
use crate::session::ProviderKind;

#[derive(Debug, Serialize)]
pub struct UserInfo {
    user: String,
    email: Option<String>,
    email_verified: bool,
    preferred_username: Option<String>,
    groups: Vec<String>,
    roles: Vec<String>,
    /// `oidc`, `saml` or `bearer`; empty for a session no provider made.
    provider: &'static str,
    expires_at: u64,
}

pub async fn userinfo(
    State(state): State<AppState>,
    req: Request,
) -> Result<Json<UserInfo>, Error> {
    let (parts, _) = req.into_parts();
    match state.authenticator.authenticate(&parts.headers).await? {
        Authentication::Allowed { session: s, .. } => Ok(Json(UserInfo {
            user: s.user.clone(),
            email: s.email.clone(),
            email_verified: s.email_verified,
            preferred_username: s.preferred_username.clone(),
            groups: s.groups.clone(),
            roles: s.roles.clone(),
            provider: s.provider.map_or("", ProviderKind::as_str),
            expires_at: s.expires_at,
        })),
        _ => Err(Error::Unauthenticated),
    }
}
