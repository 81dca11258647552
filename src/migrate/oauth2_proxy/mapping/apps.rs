//! What apps receive and which of their routes need no sign-in: identity headers, proxying
//! settings, `skip_auth`.

use super::{Builder, Mode, Setting, at, at_all, flag, string, strings, text};

/// Identity headers, and what oauth2-proxy did that Sekisho does not.
pub(super) fn headers(b: &mut Builder) {
    let pass_user = b.settings.take("pass_user_headers");
    let pass_basic = b.settings.take("pass_basic_auth");
    let pass_authz = b.settings.take("pass_authorization_header");
    let set_authz = b.settings.take("set_authorization_header");
    let set_basic = b.settings.take("set_basic_auth");
    let set_xauth = b.settings.take("set_xauthrequest");
    let strip = b.settings.take("skip_auth_strip_headers");
    let host = b.settings.take("pass_host_header");
    let websockets = b.settings.take("proxy_websockets");
    let timeout = b.settings.take("upstream_timeout");
    for (s, what) in [
        (&pass_authz, "the ID token to apps in Authorization: Bearer"),
        (&set_authz, "the ID token to nginx in Authorization: Bearer"),
        (&set_basic, "Basic credentials to nginx"),
    ] {
        if let Some(s) = s {
            if flag(Some(s)) == Some(true) {
                b.error(
                    at(s),
                    format!("no equivalent in Sekisho: oauth2-proxy sent {what}; Sekisho sends identity headers only (and the access token with oidc.pass_access_token)"),
                );
            }
        }
    }
    if let Some(s) = &set_xauth {
        b.note(
            at(s),
            "Sekisho always answers auth_request with X-Auth-Request-User, -Email, -Groups and -Preferred-Username",
        );
    }
    if let Some(s) = &strip {
        if flag(Some(s)) == Some(false) {
            b.warn(
                at(s),
                "ignored: Sekisho always removes identity headers a client sent",
            );
        } else {
            b.note(
                at(s),
                "Sekisho always removes identity headers a client sent",
            );
        }
    }
    let proxy_only: Vec<&Setting> = [&pass_user, &pass_basic, &host, &websockets, &timeout]
        .into_iter()
        .flatten()
        .collect();
    if b.plan.mode == Mode::AuthRequest {
        for s in proxy_only {
            b.note(
                at(s),
                "only about proxying to an upstream: nginx does it here",
            );
        }
        return;
    }
    // oauth2-proxy's defaults: both true, X-Forwarded-User and friends to the app.
    let forwarded =
        flag(pass_user.as_ref()).unwrap_or(true) || flag(pass_basic.as_ref()).unwrap_or(true);
    let from: Vec<&Setting> = pass_user.iter().chain(pass_basic.iter()).collect();
    if forwarded {
        b.set(
            "proxy",
            "identity_headers",
            string("x-forwarded"),
            &from,
            &["oauth2-proxy sent apps X-Forwarded-User, -Email, -Groups and -Preferred-Username"],
        );
    } else {
        b.warn(
            at_all(&from),
            "Sekisho always sends apps the identity headers (X-Auth-Request-User, ...)",
        );
    }
    if let Some(h) = &host {
        b.set(
            "upstream",
            "preserve_host",
            toml::Value::Boolean(flag(Some(h)).unwrap_or(true)),
            &[h],
            &[],
        );
    }
    if let Some(w) = &websockets {
        if flag(Some(w)) == Some(false) {
            b.warn(
                at(w),
                "ignored: Sekisho always passes WebSocket upgrades to the app",
            );
        } else {
            b.note(at(w), "Sekisho always passes WebSocket upgrades to the app");
        }
    }
    if let Some(t) = &timeout {
        match humantime::parse_duration(&text(t)) {
            Ok(d) if !d.is_zero() => b.set(
                "proxy",
                "timeout",
                string(text(t)),
                &[t],
                &["Sekisho's is how long an app may go without progress, not the whole answer"],
            ),
            _ => b.error(at(t), format!("`{}` is not a duration like 30s", text(t))),
        }
    }
}

/// `skip_auth_regex`, `skip_auth_routes`, `skip_auth_preflight`: routes with no sign-in.
pub(super) fn skip_auth(b: &mut Builder) {
    let regexes = b.settings.take("skip_auth_regex");
    let routes = b.settings.take("skip_auth_routes");
    let preflight = b.settings.take("skip_auth_preflight");
    if let Some(p) = preflight.as_ref().filter(|p| flag(Some(p)) != Some(true)) {
        b.note(at(p), "OPTIONS requests need a session, as in Sekisho");
    }
    let preflight = preflight.filter(|p| flag(Some(p)) == Some(true));
    let given: Vec<&Setting> = regexes
        .iter()
        .chain(routes.iter())
        .chain(preflight.iter())
        .collect();
    if given.is_empty() {
        return;
    }
    if b.plan.mode == Mode::AuthRequest {
        for s in &given {
            b.warn(
                at(s),
                "not carried over: Sekisho answering nginx's auth_request has no routes without \
                 sign-in; nginx decides: serve those paths from a location without auth_request \
                 (and answer OPTIONS there for skip_auth_preflight). oauth2-proxy applied it only \
                 when nginx passed X-Forwarded-Uri",
            );
        }
        return;
    }
    let mut rules = Vec::new();
    let mut unanchored = false;
    let mut add = |method: Option<&str>, regex: &str, rules: &mut Vec<String>| {
        let anchored = regex.starts_with('^');
        if !anchored {
            unanchored = true;
        }
        let pattern = if anchored {
            regex.to_owned()
        } else {
            format!(".*(?:{regex})")
        };
        rules.push(match method {
            Some(m) => format!("{m} {pattern}"),
            None => pattern,
        });
    };
    if let Some(r) = &regexes {
        for regex in r.value.items() {
            add(None, &regex, &mut rules);
        }
    }
    if let Some(r) = &routes {
        for route in r.value.items() {
            if route.contains("!=") {
                b.error(
                    at(r),
                    format!("`{route}`: Sekisho has no negated route (every path but ...); list the paths that need no sign-in"),
                );
                continue;
            }
            match route.split_once('=') {
                Some((method, regex))
                    if !method.is_empty() && method.bytes().all(|c| c.is_ascii_alphabetic()) =>
                {
                    add(Some(&method.to_ascii_uppercase()), regex, &mut rules)
                }
                _ => add(None, &route, &mut rules),
            }
        }
    }
    if preflight.is_some() {
        rules.push("OPTIONS ^/".to_owned());
    }
    let mut why =
        vec!["anchored at the start of the path, matched against every way servers read it"];
    if unanchored {
        why.push("`.*(?:...)`: oauth2-proxy's pattern had no `^` and matched anywhere in the path");
    }
    b.set("upstream", "skip_auth", strings(&rules), &given, &why);
    let mut text = "oauth2-proxy matched each pattern, unanchored, against the percent-decoded \
                    path (the query left out); Sekisho anchors a rule at the start of the path \
                    and lets a request through only when the rule matches the path as every kind \
                    of server reads it (as sent, decoded, dot segments resolved, `;` parameters \
                    dropped) and with case ignored; where they differ the request needs a session"
        .to_owned();
    if unanchored {
        text.push_str(
            ". A pattern without `^` is written `.*(?:pattern)`, matching anywhere as before: \
             anchor it if you can (`/public/` also matched /admin/public/)",
        );
    }
    b.warn(at_all(&given), text);
}
