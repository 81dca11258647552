use super::*;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, std::iter::empty())
}

fn load_env(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_toml(
        text,
        vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

fn keys(err: ConfigError) -> Vec<String> {
    err.problems().into_iter().map(|p| p.key).collect()
}

#[test]
fn minimal_config_gets_defaults() {
    let cfg = load(&format!("[session]\nsecret = '{SECRET}'\n")).unwrap();
    assert_eq!(cfg.listen.to_string(), "127.0.0.1:4180");
    assert_eq!(cfg.session.cookie.name, "_sekisho");
    assert_eq!(cfg.session.lifetime, Duration::from_secs(12 * 3600));
    assert!(cfg.session.cookie.secure);
    assert_eq!(cfg.client_ip.header, ForwardedHeader::XForwardedFor);
    assert!(cfg.trusted_ips.is_empty());
}

#[test]
fn the_example_config_is_valid() {
    let text = include_str!("../../config/sekisho.toml");
    let cfg = load_env(text, &[("SEKISHO_SESSION__SECRET", SECRET)]).unwrap();
    assert!(cfg.trusted_ips.contains("203.0.113.7".parse().unwrap()));
}

#[test]
fn each_bad_value_names_its_key() {
    let cases: &[(&str, &str)] = &[
        ("trusted_ips = ['10.0.0.0/33']", "trusted_ips[0]"),
        ("trusted_ips = ['10.0.0.1', 'office']", "trusted_ips[1]"),
        ("listen = 'localhost'", "listen"),
        ("public_url = 'ftp://x'", "public_url"),
        ("public_url = 'not a url'", "public_url"),
        (
            "public_url = 'https://user:pw@auth.example.com'",
            "public_url",
        ),
        ("public_url = 'https://user@auth.example.com'", "public_url"),
        ("shutdown_timeout = 'soon'", "shutdown_timeout"),
        ("[client_ip]\nheader = 'x-client'", "client_ip.header"),
        (
            "[client_ip]\ntrusted_proxies = ['1.2.3']",
            "client_ip.trusted_proxies[0]",
        ),
        ("[session]\nstore = 'disk'", "session.store"),
        ("[session]\ncookie_name = 'a b'", "session.cookie_name"),
        ("[session]\nlifetime = '10s'", "session.lifetime"),
        ("[session]\nlifetime = 'forever'", "session.lifetime"),
        ("[session]\npath = 'oauth2'", "session.path"),
        ("[log]\nformat = 'xml'", "log.format"),
        ("[log]\nlevel = 'sekisho=loud'", "log.level"),
        ("colour = 'red'", "colour"),
        ("[session]\nsecrett = 'typo'", "session.secrett"),
        ("[nonsense]\nx = 1", "nonsense"),
        ("[connections]\nmax = 0", "connections.max"),
        ("[connections]\nmax = 'many'", "connections.max"),
        (
            "[connections]\nheader_read_timeout = '0s'",
            "connections.header_read_timeout",
        ),
        (
            "[connections]\nidle_timeout = 'idle'",
            "connections.idle_timeout",
        ),
        (
            "[connections]\nmax_header_bytes = 4096",
            "connections.max_header_bytes",
        ),
        ("[connections]\nmax_headers = 0", "connections.max_headers"),
    ];
    for (snippet, key) in cases {
        // the secret is supplied by the environment so each snippet shows one mistake
        let err = load_env(snippet, &[("SEKISHO_SESSION__SECRET", SECRET)]).unwrap_err();
        let got = keys(err);
        assert!(
            got.iter().any(|k| k == key),
            "{snippet:?}: expected key {key}, got {got:?}"
        );
    }
}

#[test]
fn secret_must_be_present_and_long() {
    assert_eq!(keys(load("").unwrap_err()), vec!["session.secret"]);
    let short = load("[session]\nsecret = 'short'").unwrap_err();
    assert!(short.to_string().contains("at least 32"), "{short}");
    // base64 of 32 random bytes
    load("[session]\nsecret = 'q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA='").unwrap();
}

#[test]
fn every_problem_is_listed_at_once() {
    let text =
        "listen = 'nowhere'\ntrusted_ips = ['300.1.1.1']\n[client_ip]\nheader = 'x-whatever'\n";
    let got = keys(load(text).unwrap_err());
    for key in [
        "listen",
        "trusted_ips[0]",
        "client_ip.header",
        "session.secret",
    ] {
        assert!(got.contains(&key.to_string()), "missing {key} in {got:?}");
    }
}

#[test]
fn environment_overrides_the_file() {
    let text = format!("listen = '127.0.0.1:1'\n[session]\nsecret = '{SECRET}'\n");
    let cfg = load_env(
        &text,
        &[
            ("SEKISHO_LISTEN", "127.0.0.1:2"),
            ("SEKISHO_TRUSTED_IPS", "192.0.2.0/24,198.51.100.1"),
            ("SEKISHO_SESSION__SECURE", "false"),
            ("SEKISHO_CLIENT_IP__HEADER", "x-real-ip"),
        ],
    )
    .unwrap();
    assert_eq!(cfg.listen.port(), 2);
    assert!(cfg.trusted_ips.contains("198.51.100.1".parse().unwrap()));
    assert!(!cfg.session.cookie.secure);
    assert_eq!(cfg.client_ip.header, ForwardedHeader::XRealIp);
}

#[test]
fn bad_environment_values_name_the_variable() {
    let err = load_env(
        "",
        &[
            ("SEKISHO_SESSION__SECRET", "tiny"),
            ("SEKISHO_TRUSTED_IPS", "nope"),
        ],
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("session.secret (from SEKISHO_SESSION__SECRET)"),
        "{text}"
    );
    assert!(
        text.contains("trusted_ips[0] (from SEKISHO_TRUSTED_IPS)"),
        "{text}"
    );
}

#[test]
fn wrong_types_are_problems_not_panics() {
    let err = load_env(
        "trusted_ips = 'not-a-list'",
        &[("SEKISHO_SESSION__SECRET", SECRET)],
    )
    .unwrap_err();
    assert!(err.to_string().contains("trusted_ips"), "{err}");
}

#[test]
fn syntax_errors_are_reported() {
    let Err(ConfigError::Syntax { message, .. }) = load("trusted_ips = []\nlisten = ") else {
        panic!("a value missing after `=` is not a syntax error");
    };
    assert!(
        message.contains("line 2"),
        "the message names the line: {message}"
    );
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let cfg = load(&format!("[session]\nsecret = '{SECRET}'\n")).unwrap();
    assert!(!format!("{cfg:?}").contains(SECRET));
    let raw: RawConfig = toml::from_str(&format!("[session]\nsecret = '{SECRET}'\n")).unwrap();
    assert!(!format!("{raw:?}").contains(SECRET));
}

#[test]
fn risky_but_valid_settings_warn() {
    let cfg = load(&format!(
        "public_url = 'https://auth.example.com'\ntrusted_ips = ['10.0.0.0/8']\n\
         [client_ip]\ntrusted_proxies = ['10.0.0.1']\n[session]\nsecret = '{SECRET}'\nsecure = false\n"
    ))
    .unwrap();
    let warnings = cfg.warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        load(&format!("[session]\nsecret = '{SECRET}'\n"))
            .unwrap()
            .warnings()
            .is_empty()
    );
}

#[test]
fn provider_sections_can_come_from_the_environment() {
    let err = load_env(
        "",
        &[
            ("SEKISHO_SESSION__SECRET", SECRET),
            ("SEKISHO_SAML__ATTRIBUTES__USER", "email"),
            ("SEKISHO_OIDC__CLIENT_SECRET", "s"),
        ],
    )
    .unwrap_err();
    // The sections exist now, so their required keys are what is missing, not "unknown key".
    let text = err.to_string();
    assert!(!text.contains("unknown key"), "{text}");
    assert!(
        text.contains("saml.idp_metadata_url") && text.contains("oidc.issuer_url"),
        "{text}"
    );
}

const UPSTREAMS: &str = r#"
[[upstream]]
host = "gitlab.example.com"
url = "http://127.0.0.1:8081"
[[upstream]]
host = "chat.example.com"
url = "http://127.0.0.1:8065"
allowed_groups = ["dev"]
skip_auth = ["^/api/v4/", "POST ^/hooks/"]
preserve_host = false
timeout = "5m"
"#;

#[test]
fn upstreams_are_optional_and_typed() {
    let cfg = load(&format!("[session]\nsecret = '{SECRET}'\n")).unwrap();
    assert!(cfg.upstreams.is_empty());
    assert_eq!(cfg.proxy.timeout, Duration::from_secs(60));
    assert_eq!(cfg.proxy.connect_timeout, Duration::from_secs(5));
    assert_eq!(
        cfg.proxy.identity_headers,
        crate::auth::HeaderStyle::AuthRequest
    );

    let cfg = load_env(UPSTREAMS, &[("SEKISHO_SESSION__SECRET", SECRET)]).unwrap();
    let [gitlab, chat] = &cfg.upstreams[..] else {
        panic!("two upstreams: {:?}", cfg.upstreams)
    };
    assert_eq!(gitlab.host.to_string(), "gitlab.example.com");
    assert_eq!(gitlab.authority.as_str(), "127.0.0.1:8081");
    assert!(gitlab.preserve_host && gitlab.skip_auth.is_empty() && gitlab.policy.is_empty());
    assert_eq!(gitlab.timeout, Duration::from_secs(60));
    assert_eq!(chat.skip_auth.len(), 2);
    assert!(!chat.preserve_host && !chat.policy.is_empty());
    assert_eq!(chat.timeout, Duration::from_secs(300));
}

#[test]
fn proxy_settings_come_from_the_environment_too() {
    let cfg = load_env(
        UPSTREAMS,
        &[
            ("SEKISHO_SESSION__SECRET", SECRET),
            ("SEKISHO_PROXY__TIMEOUT", "2s"),
            ("SEKISHO_PROXY__IDENTITY_HEADERS", "x-forwarded"),
        ],
    )
    .unwrap();
    assert_eq!(cfg.upstreams[0].timeout, Duration::from_secs(2));
    assert_eq!(cfg.upstreams[1].timeout, Duration::from_secs(300));
    assert_eq!(
        cfg.proxy.identity_headers,
        crate::auth::HeaderStyle::Forwarded
    );
}

#[test]
fn each_bad_upstream_value_names_its_key() {
    let upstream = |body: &str| {
        format!(
            "[[upstream]]\nhost = 'a.example.com'\nurl = 'http://127.0.0.1:1'\n[[upstream]]\n{body}\n"
        )
    };
    let cases: Vec<(String, &str)> = vec![
        (upstream("url = 'http://127.0.0.1:2'"), "upstream[1].host"),
        (
            upstream("host = '*.example.com'\nurl = 'http://127.0.0.1:2'"),
            "upstream[1].host",
        ),
        (
            upstream("host = 'a.example.com'\nurl = 'http://127.0.0.1:2'"),
            "upstream[1].host",
        ),
        (upstream("host = 'b.example.com'"), "upstream[1].url"),
        (
            upstream("host = 'b.example.com'\nurl = 'https://127.0.0.1:2'"),
            "upstream[1].url",
        ),
        (
            upstream("host = 'b.example.com'\nurl = 'http://127.0.0.1:2/gitlab'"),
            "upstream[1].url",
        ),
        (
            upstream("host = 'b.example.com'\nurl = 'http://u:p@127.0.0.1:2'"),
            "upstream[1].url",
        ),
        (
            upstream("host = 'b.example.com'\nurl = 'not a url'"),
            "upstream[1].url",
        ),
        (
            upstream(
                "host = 'b.example.com'\nurl = 'http://127.0.0.1:2'\nskip_auth = ['^/ok/', '^/api/(']",
            ),
            "upstream[1].skip_auth[1]",
        ),
        (
            upstream("host = 'b.example.com'\nurl = 'http://127.0.0.1:2'\nskip_auth = ['POST']"),
            "none",
        ),
        (
            upstream("host = 'b.example.com'\nurl = 'http://127.0.0.1:2'\nskip_auth = ['POST  ']"),
            "none",
        ),
        (
            upstream("host = 'b.example.com'\nurl = 'http://127.0.0.1:2'\ntimeout = 'never'"),
            "upstream[1].timeout",
        ),
        (
            upstream("host = 'b.example.com'\nurl = 'http://127.0.0.1:2'\nhots = 'typo'"),
            "upstream[1].hots",
        ),
        ("[proxy]\ntimeout = '0s'".into(), "proxy.timeout"),
        (
            "[proxy]\nconnect_timeout = 'soon'".into(),
            "proxy.connect_timeout",
        ),
        (
            "[proxy]\nidentity_headers = 'remote-user'".into(),
            "proxy.identity_headers",
        ),
    ];
    for (snippet, key) in cases {
        let result = load_env(&snippet, &[("SEKISHO_SESSION__SECRET", SECRET)]);
        if key == "none" {
            // A lone word is a path pattern, not a method without one.
            assert!(result.is_ok(), "{snippet:?}: {:?}", result.err());
            continue;
        }
        let got = keys(result.unwrap_err());
        assert!(
            got.iter().any(|k| k == key),
            "{snippet:?}: expected key {key}, got {got:?}"
        );
    }
}

#[test]
fn every_upstream_problem_is_listed_at_once() {
    let text = "[proxy]\ntimeout = 'x'\n[[upstream]]\nhost = ''\nurl = 'ftp://x'\nskip_auth = ['(', 'GET (']\n";
    let got = keys(load(text).unwrap_err());
    for key in [
        "proxy.timeout",
        "upstream[0].host",
        "upstream[0].url",
        "upstream[0].skip_auth[0]",
        "upstream[0].skip_auth[1]",
        "session.secret",
    ] {
        assert!(got.contains(&key.to_string()), "missing {key} in {got:?}");
    }
}

#[test]
fn upstream_hosts_are_redirect_targets_and_cookie_reach_is_checked() {
    let cfg = load_env(
        &format!("public_url = 'https://auth.example.com'\nallowed_redirect_domains = ['docs.example.org']\n{UPSTREAMS}"),
        &[("SEKISHO_SESSION__SECRET", SECRET)],
    )
    .unwrap();
    let policy = crate::auth::RedirectPolicy::new(&cfg.public_url, cfg.redirect_domains());
    assert!(
        policy
            .check("https://gitlab.example.com/group/project")
            .is_ok()
    );
    assert!(policy.check("https://chat.example.com/").is_ok());
    assert!(policy.check("https://docs.example.org/").is_ok());
    assert!(policy.check("https://evil.example.com/").is_err());
    let warnings = cfg.warnings();
    assert_eq!(
        warnings
            .iter()
            .filter(|w| w.contains("sign-in will loop"))
            .count(),
        2,
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("without [oidc] or [saml]")),
        "{warnings:?}"
    );

    let cfg = load_env(
        &format!("public_url = 'https://auth.example.com'\n{UPSTREAMS}"),
        &[
            ("SEKISHO_SESSION__SECRET", SECRET),
            ("SEKISHO_SESSION__DOMAIN", ".example.com"),
        ],
    )
    .unwrap();
    assert!(
        !cfg.warnings()
            .iter()
            .any(|w| w.contains("sign-in will loop")),
        "{:?}",
        cfg.warnings()
    );
}

#[test]
fn the_redis_store_comes_from_the_file_or_the_environment() {
    let cfg = load_env(
        "",
        &[
            ("SEKISHO_SESSION__SECRET", SECRET),
            ("SEKISHO_SESSION__STORE", "redis"),
            ("SEKISHO_SESSION__REDIS_URL", "redis://:pw@redis:6379/0"),
        ],
    )
    .unwrap();
    let StoreKind::Redis(redis) = &cfg.session.store else {
        panic!("not the Redis store: {:?}", cfg.session.store);
    };
    assert_eq!(redis.target.kind(), "standalone");
    assert_eq!(redis.key_prefix, "sekisho:");
    assert_eq!(redis.timeout, Duration::from_secs(1));
    assert_eq!(redis.connect_timeout, Duration::from_secs(2));
    assert!(redis.ca_pem.is_none());
    assert!(!format!("{cfg:?}").contains(":pw@"), "{cfg:?}");

    let cfg = load(&format!(
        "[session]\nsecret = '{SECRET}'\nstore = 'redis'\nredis_url = 'redis+sentinel://s1,s2:26380/mymaster/2'\n\
         redis_key_prefix = 'app1:'\nredis_timeout = '250ms'\n"
    ))
    .unwrap();
    let StoreKind::Redis(redis) = &cfg.session.store else {
        panic!("not the Redis store");
    };
    assert_eq!(redis.target.kind(), "sentinel");
    assert_eq!(redis.key_prefix, "app1:");
    assert_eq!(redis.timeout, Duration::from_millis(250));
}

#[test]
fn each_bad_redis_value_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let not_pem = not_pem.display().to_string();
    let missing = dir.path().join("missing.pem").display().to_string();
    let redis = "store = 'redis'\nredis_url = 'redis://127.0.0.1:6379/0'\n";
    let cases: Vec<(String, &str, &str)> = vec![
        ("store = 'redis'".into(), "session.redis_url", "is empty"),
        (
            "store = 'redis'\nredis_url = 'memcached://x:1'".into(),
            "session.redis_url",
            "unknown scheme",
        ),
        (
            "store = 'redis'\nredis_url = 'redis+sentinel://s1:26379'".into(),
            "session.redis_url",
            "master",
        ),
        (
            format!("{redis}redis_ca_file = '{missing}'"),
            "session.redis_ca_file",
            "cannot read",
        ),
        (
            format!("{redis}redis_ca_file = '{not_pem}'"),
            "session.redis_ca_file",
            "no PEM certificate",
        ),
        (
            format!("{redis}redis_timeout = 'soon'"),
            "session.redis_timeout",
            "not a duration",
        ),
        (
            format!("{redis}redis_timeout = '0s'"),
            "session.redis_timeout",
            "between",
        ),
        (
            format!("{redis}redis_connect_timeout = '5m'"),
            "session.redis_connect_timeout",
            "between",
        ),
        (
            format!("{redis}redis_key_prefix = 'a b'"),
            "session.redis_key_prefix",
            "spaces",
        ),
    ];
    for (snippet, key, message) in cases {
        let err = load_env(
            &format!("[session]\n{snippet}\n"),
            &[("SEKISHO_SESSION__SECRET", SECRET)],
        )
        .unwrap_err();
        let problems = err.problems();
        assert!(
            problems
                .iter()
                .any(|p| p.key == key && p.message.contains(message)),
            "{snippet:?}: expected {key} ({message}), got {problems:?}"
        );
    }
}

#[test]
fn every_redis_problem_is_listed_at_once() {
    let err = load_env(
        "[session]\nstore = 'redis'\nredis_url = 'ftp://x'\nredis_timeout = 'x'\nredis_ca_file = '/nonexistent/ca.pem'\n",
        &[("SEKISHO_SESSION__SECRET", SECRET)],
    )
    .unwrap_err();
    let got = keys(err);
    for key in [
        "session.redis_url",
        "session.redis_timeout",
        "session.redis_ca_file",
    ] {
        assert!(got.contains(&key.to_string()), "missing {key} in {got:?}");
    }
}

#[test]
fn a_ca_file_needs_tls() {
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/redis-ca.pem");
    let text = |url: &str| {
        format!("[session]\nstore = 'redis'\nredis_url = '{url}'\nredis_ca_file = '{ca}'\n")
    };
    let secret = [("SEKISHO_SESSION__SECRET", SECRET)];
    let cfg = load_env(&text("rediss://redis.example.com:6380/0"), &secret).unwrap();
    let StoreKind::Redis(redis) = &cfg.session.store else {
        panic!("not the Redis store");
    };
    assert!(redis.ca_pem.is_some());
    let err = load_env(&text("redis://redis.example.com:6379/0"), &secret).unwrap_err();
    assert_eq!(keys(err), ["session.redis_ca_file"]);
}

const OIDC: &str = "[oidc]\nissuer_url = 'https://idp.example/realms/demo'\nclient_id = 'sekisho'\nclient_secret = 's'\n";

#[test]
fn token_checks_have_one_clock_skew() {
    let env = [("SEKISHO_SESSION__SECRET", SECRET)];
    let cfg = load_env(OIDC, &env).unwrap();
    let oidc = cfg.oidc.unwrap();
    assert_eq!(oidc.clock_skew, Duration::from_secs(60));
    assert!(!oidc.allow_unverified_email);
    assert!(!cfg.authorization.accepts_unverified_email());
    for (skew, ok) in [
        ("0s", true),
        ("5m", true),
        ("301s", false),
        ("1h", false),
        ("soon", false),
    ] {
        let result = load_env(&format!("{OIDC}clock_skew = '{skew}'\n"), &env);
        match result {
            Ok(cfg) => assert!(ok, "{skew} accepted: {:?}", cfg.oidc.unwrap().clock_skew),
            Err(err) => {
                assert!(!ok, "{skew} refused");
                assert_eq!(keys(err), ["oidc.clock_skew"]);
            }
        }
    }
}

#[test]
fn unverified_addresses_count_only_when_allowed_everywhere() {
    let env = [("SEKISHO_SESSION__SECRET", SECRET)];
    let text = format!(
        "{OIDC}allow_unverified_email = true\n{}",
        UPSTREAMS.replace("[[upstream]]", "\n[[upstream]]")
    );
    let cfg = load_env(&text, &env).unwrap();
    assert!(cfg.oidc.unwrap().allow_unverified_email);
    assert!(cfg.authorization.accepts_unverified_email());
    assert!(!cfg.upstreams.is_empty());
    assert!(
        cfg.upstreams
            .iter()
            .all(|u| u.policy.accepts_unverified_email())
    );
}

#[test]
fn connection_limits_come_from_the_environment_and_name_their_variable() {
    let cfg = load_env(
        "",
        &[
            ("SEKISHO_SESSION__SECRET", SECRET),
            ("SEKISHO_CONNECTIONS__MAX", "500"),
            ("SEKISHO_CONNECTIONS__IDLE_TIMEOUT", "90s"),
        ],
    )
    .unwrap();
    assert_eq!(cfg.connections.max, 500);
    assert_eq!(cfg.connections.idle_timeout, Duration::from_secs(90));
    assert!(cfg.warnings().iter().all(|w| !w.contains("idle_timeout")));

    let err = load_env(
        "",
        &[
            ("SEKISHO_SESSION__SECRET", SECRET),
            ("SEKISHO_CONNECTIONS__MAX_HEADER_BYTES", "1024"),
            ("SEKISHO_CONNECTIONS__MAX", "lots"),
        ],
    )
    .unwrap_err();
    let got = keys(err);
    for key in [
        "connections.max_header_bytes (from SEKISHO_CONNECTIONS__MAX_HEADER_BYTES)",
        "connections.max (from SEKISHO_CONNECTIONS__MAX)",
    ] {
        assert!(got.iter().any(|k| k == key), "expected {key} in {got:?}");
    }

    let short = load_env(
        "[connections]\nidle_timeout = '30s'",
        &[("SEKISHO_SESSION__SECRET", SECRET)],
    )
    .unwrap();
    assert!(
        short
            .warnings()
            .iter()
            .any(|w| w.contains("connections.idle_timeout")),
        "an idle timeout nginx's default keep-alive outlasts is warned about"
    );
}

#[test]
fn a_public_url_with_credentials_is_refused_without_repeating_them() {
    let err = load(&format!(
        "public_url = 'https://admin:hunter2@auth.example.com'\n[session]\nsecret = '{SECRET}'"
    ))
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("public_url"), "{text}");
    assert!(
        !text.contains("hunter2"),
        "the password is repeated: {text}"
    );
}
