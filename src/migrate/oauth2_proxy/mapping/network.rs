//! Where requests come from and go: the upstream (or none, for `auth_request`), the listener,
//! the client address and the trusted networks, the public URL and the redirect domains.

use super::{Builder, Mode, Setting, at, at_all, flag, string, strings, text};

/// `--upstream`: `static://202` means nginx asks with `auth_request`; an `http://` app means
/// Sekisho proxies.
pub(super) fn upstreams(b: &mut Builder) {
    let Some(setting) = b.settings.take("upstreams") else {
        return;
    };
    let mut apps = Vec::new();
    for upstream in setting.value.items() {
        let scheme = upstream.split("://").next().unwrap_or_default();
        match scheme {
            "static" => {
                let code = upstream.trim_start_matches("static://").trim_end_matches('/');
                if code.len() == 3 && code.starts_with('2') {
                    b.warn(
                        at(&setting),
                        format!(
                            "`{upstream}` is no longer needed: oauth2-proxy answered {code} to every \
                             signed-in request so that nginx's auth_request could ask it at any path; \
                             Sekisho answers auth_request at /oauth2/auth (202, or 401/403), so point \
                             nginx's auth_request at /oauth2/auth"
                        ),
                    );
                } else {
                    b.error(
                        at(&setting),
                        format!("`{upstream}`: Sekisho answers auth_request with 202, never {code}"),
                    );
                }
            }
            "http" => match url::Url::parse(&upstream) {
                Ok(url) if matches!(url.path(), "" | "/") && url.host_str().is_some() => {
                    apps.push(format!(
                        "http://{}:{}",
                        url.host_str().unwrap_or_default(),
                        url.port_or_known_default().unwrap_or(80)
                    ))
                }
                Ok(url) => b.error(
                    at(&setting),
                    format!(
                        "`{upstream}`: oauth2-proxy sends {}* there; Sekisho chooses an app by the \
                         request's Host, never by its path (route the path in nginx instead)",
                        url.path()
                    ),
                ),
                Err(e) => b.error(at(&setting), format!("`{upstream}` is not a URL: {e}")),
            },
            "https" => b.error(
                at(&setting),
                format!("`{upstream}`: Sekisho talks plain http to apps (they sit on loopback or a private network)"),
            ),
            _ => b.error(
                at(&setting),
                format!("`{upstream}`: Sekisho proxies to http:// apps only (no files, no unix sockets)"),
            ),
        }
    }
    match apps.as_slice() {
        [] => {}
        [app] => {
            b.plan.mode = Mode::Proxy;
            b.set(
                "upstream",
                "host",
                string("*"),
                &[&setting],
                &["oauth2-proxy proxied every host to its upstream; \"*\" does the same"],
            );
            b.set("upstream", "url", string(app.clone()), &[&setting], &[]);
        }
        _ => b.error(
            at(&setting),
            format!(
                "{} apps: oauth2-proxy chose among them by path; Sekisho chooses by Host (one \
                 [[upstream]] per host name), so say which host serves which app",
                apps.len()
            ),
        ),
    }
}

pub(super) fn listener(b: &mut Builder) {
    if let Some(setting) = b.settings.take("http_address") {
        let address = text(&setting);
        let bare = address
            .strip_prefix("http://")
            .or_else(|| address.strip_prefix("HTTP://"))
            .unwrap_or(&address);
        let listen = if let Some(port) = bare.strip_prefix(':') {
            Some(format!("0.0.0.0:{port}"))
        } else if let Some(port) = bare.strip_prefix("localhost:") {
            Some(format!("127.0.0.1:{port}"))
        } else if bare.parse::<std::net::SocketAddr>().is_ok() {
            Some(bare.to_owned())
        } else {
            None
        };
        match listen {
            Some(listen) => b.set("", "listen", string(listen), &[&setting], &[]),
            None => b.error(
                at(&setting),
                format!(
                    "`{address}`: Sekisho listens on an IP address and port (no unix socket, no fd)"
                ),
            ),
        }
    }
    if let Some(setting) = b.settings.take("https_address") {
        b.warn(
            at(&setting),
            "ignored: Sekisho does not terminate TLS; oauth2-proxy listened on it only with a \
             certificate (tls_cert_file)",
        );
    }
}

pub(super) fn client_ip(b: &mut Builder) {
    let reverse = b.settings.take("reverse_proxy");
    let header = b.settings.take("real_client_ip_header");
    let proxies = b.settings.take("trusted_proxy_ips");
    let trusted = b.settings.take("trusted_ips");
    if let Some(trusted) = &trusted {
        b.set(
            "",
            "trusted_ips",
            strings(&trusted.value.items()),
            &[trusted],
            &["these clients pass without signing in, as with oauth2-proxy"],
        );
    }
    if flag(reverse.as_ref()) != Some(true) {
        if let Some(header) = &header {
            b.warn(
                at(header),
                "ignored: oauth2-proxy reads it only with reverse_proxy, which is not set",
            );
        }
        if let Some(proxies) = &proxies {
            b.warn(
                at(proxies),
                "ignored: oauth2-proxy reads it only with reverse_proxy",
            );
        }
        let mut from: Vec<&Setting> = Vec::new();
        if let Some(r) = &reverse {
            from.push(r);
        }
        b.set(
            "client_ip",
            "header",
            string("none"),
            &from,
            &["without reverse_proxy oauth2-proxy took the connecting address as the client's"],
        );
        return;
    }
    let reverse = reverse.expect("reverse_proxy is true");
    let name = header
        .as_ref()
        .map(text)
        .unwrap_or_else(|| "X-Real-IP".into());
    let sekisho = match name.to_ascii_lowercase().as_str() {
        "x-forwarded-for" => "x-forwarded-for",
        "x-real-ip" => "x-real-ip",
        _ => {
            b.error(
                header.as_ref().map(at).unwrap_or_else(|| at(&reverse)),
                format!(
                    "`{name}`: Sekisho reads the client address from X-Forwarded-For, X-Real-IP \
                     or Forwarded only"
                ),
            );
            return;
        }
    };
    let mut from = vec![&reverse];
    if let Some(h) = &header {
        from.push(h);
    }
    let why_header = if header.is_none() {
        "oauth2-proxy's default with reverse_proxy: X-Real-IP"
    } else {
        ""
    };
    b.set(
        "client_ip",
        "header",
        string(sekisho),
        &from,
        &[why_header]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>(),
    );
    let (what, why): (toml::Value, &str) = match &proxies {
        Some(p) => (strings(&p.value.items()), ""),
        None => (
            strings(&["127.0.0.1/32".into(), "::1/128".into()]),
            "PLACEHOLDER: loopback, right when nginx runs on this host; otherwise list the \
             addresses nginx (and any load balancer) connects to Sekisho from",
        ),
    };
    let proxy_from: Vec<&Setting> = proxies.iter().collect();
    b.set(
        "client_ip",
        "trusted_proxies",
        what,
        &proxy_from,
        &[why]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>(),
    );
    let sekisho_reads = if sekisho == "x-forwarded-for" {
        "Sekisho reads X-Forwarded-For from the right and believes it only from \
         client_ip.trusted_proxies, skipping them: the client is the first address no trusted \
         proxy vouches for"
    } else {
        "Sekisho believes X-Real-IP only when client_ip.trusted_proxies sent it"
    };
    if let Some(p) = &proxies {
        b.note(
            at(p),
            format!("as oauth2-proxy with trusted_proxy_ips: {sekisho_reads}"),
        );
        return;
    }
    let trusted_count = trusted.as_ref().map_or(0, |t| t.value.items().len());
    let how_oauth2_proxy = if sekisho == "x-forwarded-for" {
        format!(
            "oauth2-proxy took the left-most X-Forwarded-For address, which is whatever the client \
             wrote: a client anywhere could send `X-Forwarded-For: <an address in trusted_ips>` \
             and {}",
            if trusted_count > 0 {
                "pass without signing in"
            } else {
                "be logged and judged as that address"
            }
        )
    } else {
        "oauth2-proxy believed X-Real-IP from any peer, so a client could write its own".to_owned()
    };
    let mut places = vec![&reverse];
    if let Some(h) = &header {
        places.push(h);
    }
    b.warn(
        at_all(&places),
        format!(
            "{how_oauth2_proxy}. {sekisho_reads}; client_ip.trusted_proxies is a placeholder \
             (loopback): list there every proxy in front of Sekisho (oauth2-proxy's \
             trusted_proxy_ips), or every client resolves to the proxy's address"
        ),
    );
}

pub(super) fn redirects(b: &mut Builder) {
    let prefix = b.settings.take("proxy_prefix");
    let prefix_path = prefix
        .as_ref()
        .map(text)
        .unwrap_or_else(|| "/oauth2".into());
    if let Some(p) = &prefix {
        if prefix_path.trim_end_matches('/') == "/oauth2" {
            b.note(at(p), "Sekisho's paths are under /oauth2 too");
        } else {
            b.warn(
                at(p),
                format!(
                    "`{prefix_path}`: Sekisho's paths are always under /oauth2 (/oauth2/auth, \
                     /oauth2/start, /oauth2/callback, ...): change nginx's locations and the \
                     provider's redirect URI"
                ),
            );
        }
    }
    match b.settings.take("redirect_url") {
        Some(setting) => match url::Url::parse(&text(&setting)) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
                let mut public =
                    format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
                if let Some(port) = url.port() {
                    public.push_str(&format!(":{port}"));
                }
                let callback = format!("{}/callback", prefix_path.trim_end_matches('/'));
                b.set(
                    "",
                    "public_url",
                    string(public),
                    &[&setting],
                    &["the provider sends browsers back to <public_url>/oauth2/callback"],
                );
                if url.path() != "/oauth2/callback" {
                    let mut msg = format!(
                        "the callback was {}; Sekisho's is /oauth2/callback: add \
                         <public_url>/oauth2/callback to the client's valid redirect URIs at the provider",
                        url.path()
                    );
                    if url.path() != callback {
                        msg.push_str(&format!(" (oauth2-proxy expected {callback})"));
                    }
                    b.warn(at(&setting), msg);
                }
            }
            _ => b.error(
                at(&setting),
                format!(
                    "`{}` is not an absolute http(s) URL; Sekisho needs one for public_url",
                    text(&setting)
                ),
            ),
        },
        None => {
            b.set(
                "",
                "public_url",
                string("https://auth.example.com"),
                &[],
                &[
                    "PLACEHOLDER: oauth2-proxy had no redirect_url (it used each request's host); \
                   Sekisho signs users in at one address: set the one browsers reach it at",
                ],
            );
            b.warn(
                String::new(),
                "no redirect_url: public_url is a placeholder (https://auth.example.com); set it to \
                 the address browsers reach Sekisho at",
            );
        }
    }
    if let Some(setting) = b.settings.take("whitelist_domains") {
        let mut rules = Vec::new();
        for domain in setting.value.items() {
            let (host, port) = match domain.rsplit_once(':') {
                Some((h, p)) if !h.contains(']') || h.ends_with(']') => {
                    (h.to_owned(), Some(p.to_owned()))
                }
                _ => (domain.clone(), None),
            };
            let host = host
                .strip_prefix("*.")
                .map(|h| format!(".{h}"))
                .unwrap_or(host);
            if let Some(port) = port {
                b.warn(
                    at(&setting),
                    format!(
                        "`{domain}`: Sekisho compares host names only, whatever the port (`:{port}` dropped)"
                    ),
                );
            }
            rules.push(host);
        }
        if rules.iter().any(|r| r.starts_with('.')) {
            b.note(
                at(&setting),
                "a domain written `.example.com` also admits example.com itself in Sekisho",
            );
        }
        b.set(
            "",
            "allowed_redirect_domains",
            strings(&rules),
            &[&setting],
            &[],
        );
    }
}
