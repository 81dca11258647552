//! The paths Sekisho answers itself, in one table: the router, the proxy's "own path or the
//! app's" test, the metrics' route labels and every link Sekisho writes (pages, redirect URIs,
//! SAML endpoints) take them from here, so a path is spelled once.

/// One of Sekisho's own endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// nginx `auth_request`.
    Auth,
    /// Traefik ForwardAuth.
    Traefik,
    /// Caddy `forward_auth`.
    Caddy,
    /// Envoy HTTP ext_authz and Gateway API `ExternalAuth`: a prefix, the original path follows.
    ExtAuthz,
    /// Envoy gRPC ext_authz (`envoy.service.auth.v3.Authorization/Check`, over h2c).
    EnvoyCheck,
    Start,
    SignIn,
    Callback,
    SignOut,
    BackchannelLogout,
    Userinfo,
    SamlLogin,
    SamlAcs,
    SamlMetadata,
    SamlSlo,
    Ping,
    Ready,
    Metrics,
}

/// Everything under these prefixes is Sekisho's on every host, a route of its own or not (an
/// unknown `/oauth2/x` is Sekisho's 404, never the app's page).
const OWN_PREFIXES: [&str; 2] = ["/oauth2", "/saml"];

impl Route {
    pub const ALL: [Route; 18] = [
        Route::Auth,
        Route::Traefik,
        Route::Caddy,
        Route::ExtAuthz,
        Route::EnvoyCheck,
        Route::Start,
        Route::SignIn,
        Route::Callback,
        Route::SignOut,
        Route::BackchannelLogout,
        Route::Userinfo,
        Route::SamlLogin,
        Route::SamlAcs,
        Route::SamlMetadata,
        Route::SamlSlo,
        Route::Ping,
        Route::Ready,
        Route::Metrics,
    ];

    /// The absolute path (`/oauth2/auth`).
    pub const fn path(self) -> &'static str {
        match self {
            Route::Auth => "/oauth2/auth",
            Route::Traefik => "/oauth2/traefik",
            Route::Caddy => "/oauth2/caddy",
            Route::ExtAuthz => "/oauth2/ext_authz",
            Route::EnvoyCheck => "/envoy.service.auth.v3.Authorization/Check",
            Route::Start => "/oauth2/start",
            Route::SignIn => "/oauth2/sign_in",
            Route::Callback => "/oauth2/callback",
            Route::SignOut => "/oauth2/sign_out",
            Route::BackchannelLogout => "/oauth2/backchannel_logout",
            Route::Userinfo => "/oauth2/userinfo",
            Route::SamlLogin => "/saml/login",
            Route::SamlAcs => "/saml/acs",
            Route::SamlMetadata => "/saml/metadata",
            Route::SamlSlo => "/saml/slo",
            Route::Ping => "/ping",
            Route::Ready => "/ready",
            Route::Metrics => "/metrics",
        }
    }

    /// The path without its leading slash, to join onto `public_url` (which may have a path).
    pub fn relative(self) -> &'static str {
        &self.path()[1..]
    }

    /// The route at exactly `path`.
    pub fn of(path: &str) -> Option<Route> {
        Self::ALL.into_iter().find(|route| route.path() == path)
    }

    /// The route at `path`, or the prefix route `path` is under (`/oauth2/ext_authz/app/x`).
    /// The auth endpoints come first: they are asked once for every request of every app.
    pub fn of_prefixed(path: &str) -> Option<Route> {
        match path {
            "/oauth2/auth" => Some(Route::Auth),
            "/oauth2/traefik" => Some(Route::Traefik),
            "/oauth2/caddy" => Some(Route::Caddy),
            _ => match path.strip_prefix(Route::ExtAuthz.path()) {
                Some(rest) if rest.starts_with('/') || rest.is_empty() => Some(Route::ExtAuthz),
                _ => Self::of(path),
            },
        }
    }

    /// The original request's path behind a prefix route's (`/app/x` of
    /// `/oauth2/ext_authz/app/x`); `None` when `path` is not under it or names nothing after it.
    pub fn after_prefix(self, path: &str) -> Option<&str> {
        path.strip_prefix(self.path())
            .filter(|rest| rest.starts_with('/'))
    }
}

/// Whether `path` is Sekisho's own, on every host, rather than an app's behind the proxy:
/// everything under `/oauth2/` and `/saml/`, and every route of the table.
pub fn is_own_path(path: &str) -> bool {
    OWN_PREFIXES.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }) || Route::of(path).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_paths() {
        for own in [
            "/oauth2/auth",
            "/oauth2/start",
            "/oauth2",
            "/oauth2/../admin",
            "/oauth2/unknown",
            "/saml/acs",
            "/ping",
            "/ready",
            "/metrics",
        ] {
            assert!(is_own_path(own), "{own}");
        }
        for app in [
            "/",
            "/oauth2x",
            "/api/v4/oauth2/x",
            "/pings",
            "/metrics/x",
            "/samlx",
        ] {
            assert!(!is_own_path(app), "{app}");
        }
    }

    #[test]
    fn every_route_is_own_and_found_by_its_path() {
        for route in Route::ALL {
            assert_eq!(Route::of(route.path()), Some(route));
            assert_eq!(Route::of_prefixed(route.path()), Some(route));
            assert!(is_own_path(route.path()), "{route:?}");
            assert_eq!(format!("/{}", route.relative()), route.path());
        }
        assert_eq!(Route::of("/oauth2/auth/"), None);
    }

    #[test]
    fn the_ext_authz_route_is_a_prefix() {
        assert_eq!(
            Route::of_prefixed("/oauth2/ext_authz/app/x"),
            Some(Route::ExtAuthz)
        );
        assert_eq!(Route::of_prefixed("/oauth2/ext_authzx"), None);
        assert_eq!(Route::of_prefixed("/oauth2/auth/x"), None);
        assert_eq!(
            Route::ExtAuthz.after_prefix("/oauth2/ext_authz/app?x"),
            Some("/app?x")
        );
        assert_eq!(Route::ExtAuthz.after_prefix("/oauth2/ext_authz"), None);
        assert_eq!(Route::ExtAuthz.after_prefix("/oauth2/ext_authzx/a"), None);
    }
}
