//! Sessions: the cookie, the secret (never written) and Redis.

use super::{Builder, Setting, at, at_all, flag, string, text};

pub(super) fn session(b: &mut Builder) {
    let section = "session";
    if let Some(n) = b.settings.take("cookie_name") {
        b.set(section, "cookie_name", string(text(&n)), &[&n], &[]);
    }
    if let Some(d) = b.settings.take("cookie_domains") {
        match d.value.items().as_slice() {
            [] => {}
            [one] => b.set(section, "domain", string(one.clone()), &[&d], &[]),
            many => b.error(
                at(&d),
                format!(
                    "{} domains: oauth2-proxy chose one by the request's host; Sekisho sets one \
                     cookie domain (session.domain)",
                    many.len()
                ),
            ),
        }
    }
    if let Some(p) = b.settings.take("cookie_path") {
        b.set(section, "path", string(text(&p)), &[&p], &[]);
    }
    if let Some(s) = b.settings.take("cookie_secure") {
        b.set(
            section,
            "secure",
            toml::Value::Boolean(flag(Some(&s)).unwrap_or(true)),
            &[&s],
            &[],
        );
    }
    if let Some(e) = b.settings.take("cookie_expire") {
        let given = text(&e);
        match humantime::parse_duration(&given) {
            Ok(d) if d.is_zero() => b.warn(
                at(&e),
                "0 (a cookie for the browser's session): Sekisho's sessions always have a lifetime; \
                 session.lifetime keeps its default (12h)",
            ),
            Ok(d) if d.as_secs() < 60 => b.error(at(&e), format!("`{given}`: Sekisho's sessions last at least one minute")),
            Ok(_) => b.set(section, "lifetime", string(given), &[&e], &[]),
            Err(_) => b.error(at(&e), format!("`{given}` is not a duration like 168h or 12h30m")),
        }
    }
    if let Some(r) = b.settings.take("cookie_refresh") {
        if matches!(text(&r).as_str(), "" | "0" | "0s") {
            b.note(at(&r), "no refresh on a timer, as in Sekisho");
        } else {
            b.warn(
                at(&r),
                "ignored: Sekisho refreshes the provider's tokens shortly before they expire \
                 (oidc.refresh_before_expiry), not on a fixed interval",
            );
        }
    }
    if let Some(h) = b.settings.take("cookie_httponly") {
        if flag(Some(&h)) == Some(false) {
            b.warn(at(&h), "ignored: Sekisho's cookies are always HttpOnly");
        } else {
            b.note(at(&h), "Sekisho's cookies are always HttpOnly");
        }
    }
    if let Some(s) = b.settings.take("cookie_samesite") {
        if text(&s).is_empty() {
            b.note(at(&s), "Sekisho's session cookie is SameSite=Lax");
        } else {
            b.warn(
                at(&s),
                format!(
                    "ignored: `{}`: Sekisho's session cookie is SameSite=Lax",
                    text(&s)
                ),
            );
        }
    }
    let secret = b.settings.take("cookie_secret");
    let secret_file = b.settings.take("cookie_secret_file");
    let mut what = "a new secret: run `sekisho secret`".to_owned();
    if let Some(s) = &secret {
        if let Some(len) = s.value.as_text().map(oauth2_proxy_secret_len) {
            if len < 32 {
                b.warn(
                    at(s),
                    format!(
                        "the cookie secret is {len} bytes; Sekisho's session.secret needs at \
                         least 32: generate one with `sekisho secret`"
                    ),
                );
            }
        }
        what.push_str(&format!(" (it replaces cookie_secret, {})", at(s)));
    } else if let Some(f) = &secret_file {
        what.push_str(&format!(" (it replaces cookie_secret_file, {})", at(f)));
    }
    what.push_str("; sessions of oauth2-proxy are not carried over: users sign in once more");
    b.plan.secrets.push(("SEKISHO_SESSION__SECRET", what));
}

/// How many bytes oauth2-proxy makes of a cookie secret: base64 of 16, 24 or 32 bytes is
/// decoded, anything else taken as it is.
pub(super) fn oauth2_proxy_secret_len(secret: &str) -> usize {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let decoded = [URL_SAFE, URL_SAFE_NO_PAD, STANDARD, STANDARD_NO_PAD]
        .iter()
        .find_map(|e| e.decode(secret.trim()).ok())
        .map(|b| b.len())
        .filter(|n| [16, 24, 32].contains(n));
    decoded.unwrap_or(secret.trim().len())
}

pub(super) fn redis(b: &mut Builder) {
    let store = b.settings.take("session_store_type");
    let url = b.settings.take("redis_connection_url");
    let sentinel = b.settings.take("redis_use_sentinel");
    let sentinels = b.settings.take("redis_sentinel_connection_urls");
    let master = b.settings.take("redis_sentinel_master_name");
    let cluster = b.settings.take("redis_use_cluster");
    let nodes = b.settings.take("redis_cluster_connection_urls");
    let user = b.settings.take("redis_username");
    let password = b.settings.take("redis_password");
    let sentinel_password = b.settings.take("redis_sentinel_password");
    let ca = b.settings.take("redis_ca_path");
    let insecure = b.settings.take("redis_insecure_skip_tls_verify");
    let kind = store.as_ref().map(text).unwrap_or_else(|| "cookie".into());
    let redis_settings: Vec<&Setting> = [
        &url,
        &sentinel,
        &sentinels,
        &master,
        &cluster,
        &nodes,
        &user,
        &password,
        &sentinel_password,
        &ca,
        &insecure,
    ]
    .into_iter()
    .flatten()
    .collect();
    match kind.as_str() {
        "cookie" => {
            if let Some(s) = &store {
                b.set("session", "store", string("cookie"), &[s], &[]);
            }
            for s in redis_settings {
                b.warn(
                    at(s),
                    "ignored: the sessions are in cookies (session_store_type is not redis)",
                );
            }
            return;
        }
        "redis" => {}
        other => {
            b.error(
                store.as_ref().map(at).unwrap_or_default(),
                format!("`{other}`: Sekisho keeps sessions in cookies or Redis"),
            );
            return;
        }
    }
    let store = store.expect("redis was given");
    b.set("session", "store", string("redis"), &[&store], &[]);
    let hosts = |s: &Setting| -> Vec<String> {
        s.value
            .items()
            .iter()
            .map(|u| {
                let rest = u.split_once("://").map_or(u.as_str(), |(_, r)| r);
                let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
                rest.trim_end_matches('/')
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    let tls_of = |s: &Setting| s.value.items().iter().any(|u| u.starts_with("rediss://"));
    let mut from: Vec<&Setting> = vec![&store];
    let mut had_credentials = false;
    let target = if flag(sentinel.as_ref()) == Some(true) {
        match (&sentinels, &master) {
            (Some(list), Some(m)) => {
                from.extend([sentinel.as_ref().expect("set"), list, m]);
                had_credentials = list.value.items().iter().any(|u| u.contains('@'));
                let scheme = if tls_of(list) {
                    "rediss+sentinel"
                } else {
                    "redis+sentinel"
                };
                Some(format!("{scheme}://{}/{}", hosts(list).join(","), text(m)))
            }
            _ => {
                b.error(
                    at(sentinel.as_ref().expect("set")),
                    "redis_use_sentinel without redis_sentinel_connection_urls and redis_sentinel_master_name",
                );
                None
            }
        }
    } else if flag(cluster.as_ref()) == Some(true) {
        match &nodes {
            Some(list) => {
                from.extend([cluster.as_ref().expect("set"), list]);
                had_credentials = list.value.items().iter().any(|u| u.contains('@'));
                let scheme = if tls_of(list) {
                    "rediss+cluster"
                } else {
                    "redis+cluster"
                };
                Some(format!("{scheme}://{}", hosts(list).join(",")))
            }
            None => {
                b.error(
                    at(cluster.as_ref().expect("set")),
                    "redis_use_cluster without redis_cluster_connection_urls",
                );
                None
            }
        }
    } else {
        match &url {
            Some(u) => {
                from.push(u);
                let given = text(u);
                match url::Url::parse(&given) {
                    Ok(mut parsed) => {
                        had_credentials =
                            !parsed.username().is_empty() || parsed.password().is_some();
                        let _ = parsed.set_username("");
                        let _ = parsed.set_password(None);
                        let mut out = parsed.to_string();
                        if parsed.scheme() == "unix" {
                            out = format!("redis+unix://{}", parsed.path());
                        }
                        Some(out)
                    }
                    Err(e) => {
                        b.error(at(u), format!("`{given}` is not a URL: {e}"));
                        None
                    }
                }
            }
            None => {
                b.error(
                    at(&store),
                    "session_store_type redis without redis_connection_url",
                );
                None
            }
        }
    };
    for unused in [&sentinels, &master, &nodes].into_iter().flatten() {
        if !from.iter().any(|f| std::ptr::eq(*f, unused)) {
            b.warn(
                at(unused),
                "ignored: oauth2-proxy does not read it with this kind of Redis",
            );
        }
    }
    if let Some(u) = &url {
        if !from.iter().any(|f| std::ptr::eq(*f, u)) {
            b.warn(
                at(u),
                "ignored: oauth2-proxy does not read it with sentinels or a cluster",
            );
        }
    }
    if let Some(target) = target {
        b.set(
            "session",
            "redis_url",
            string(target),
            &from,
            &["without credentials: give the URL with them in SEKISHO_SESSION__REDIS_URL"],
        );
    }
    let credentials: Vec<&Setting> = [&user, &password, &sentinel_password]
        .into_iter()
        .flatten()
        .collect();
    if had_credentials || !credentials.is_empty() {
        let mut what =
            "the same URL with the user and password (redis://user:PASSWORD@host:6379/0)"
                .to_owned();
        if !credentials.is_empty() {
            what.push_str(&format!(", from {}", at_all(&credentials)));
        }
        b.plan.secrets.push(("SEKISHO_SESSION__REDIS_URL", what));
    }
    if let Some(sp) = &sentinel_password {
        b.warn(
            at(sp),
            "Sekisho uses the URL's one user and password for the sentinels and for Redis itself",
        );
    }
    if let Some(c) = &ca {
        b.set("session", "redis_ca_file", string(text(c)), &[c], &[]);
    }
    if let Some(i) = &insecure {
        if flag(Some(i)) == Some(true) {
            b.warn(at(i), "ignored: Sekisho always verifies Redis's certificate; give a private CA with session.redis_ca_file");
        } else {
            b.note(at(i), "Sekisho always verifies Redis's certificate");
        }
    }
    b.note(
        at(&store),
        "Sekisho's sessions in Redis are its own: keep them under their own prefix \
         (session.redis_key_prefix, sekisho:) or in another database",
    );
}
