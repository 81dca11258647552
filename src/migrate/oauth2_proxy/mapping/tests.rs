//! The mapping, table-driven: the story, proxying, refusals, Keycloak's roles, secrets, Redis,
//! and that every option the table marks mapped is said somewhere.

use super::*;
use crate::migrate::oauth2_proxy::options::OPTIONS;
use crate::migrate::oauth2_proxy::sources::read_flags;

fn plan(flags: &[&str]) -> Plan {
    let words: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
    map(read_flags(&words).unwrap().settings, Default::default())
}

fn value(plan: &Plan, section: &str, key: &str) -> Option<String> {
    plan.entries
        .iter()
        .find(|e| e.section == section && e.key == key)
        .map(|e| e.value.to_string())
}

/// The story's flags, as the other tests of the migrator use them too.
pub(in crate::migrate::oauth2_proxy) const STORY: &[&str] = &[
    "--provider=keycloak-oidc",
    "--oidc-issuer-url=https://id.example.com/realms/corp",
    "--client-id=app",
    "--redirect-url=https://auth.example.com/oauth2/callback",
    "--email-domain=*",
    "--reverse-proxy",
    "--real-client-ip-header=X-Forwarded-For",
    "--trusted-ip=203.0.113.0/24",
    "--upstream=static://202",
];

#[test]
fn the_story_maps_with_its_three_warnings() {
    let plan = plan(STORY);
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    assert_eq!(plan.mode, Mode::AuthRequest);
    let cases: &[(&str, &str, &str)] = &[
        ("", "public_url", "\"https://auth.example.com\""),
        ("", "trusted_ips", "[\"203.0.113.0/24\"]"),
        ("client_ip", "header", "\"x-forwarded-for\""),
        (
            "client_ip",
            "trusted_proxies",
            "[\"127.0.0.1/32\", \"::1/128\"]",
        ),
        (
            "oidc",
            "issuer_url",
            "\"https://id.example.com/realms/corp\"",
        ),
        ("oidc", "client_id", "\"app\""),
        ("oidc", "user_claim", "\"sub\""),
    ];
    for (section, key, wanted) in cases {
        assert_eq!(
            value(&plan, section, key).as_deref(),
            Some(*wanted),
            "{section}.{key}"
        );
    }
    let warnings: Vec<String> = plan.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("--upstream: `static://202` is no longer needed")),
        "{warnings:#?}"
    );
    assert!(warnings.iter().any(|w| w.starts_with("--reverse-proxy, --real-client-ip-header: oauth2-proxy took the left-most X-Forwarded-For")), "{warnings:#?}");
    assert!(
        plan.secrets
            .iter()
            .any(|(v, _)| *v == "SEKISHO_OIDC__CLIENT_SECRET")
    );
    assert!(
        plan.secrets
            .iter()
            .any(|(v, _)| *v == "SEKISHO_SESSION__SECRET")
    );
}

#[test]
fn proxy_mode_carries_skip_auth_with_its_warning() {
    let mut flags = STORY.to_vec();
    flags.retain(|f| !f.starts_with("--upstream"));
    flags.extend([
        "--upstream=http://127.0.0.1:8080/",
        "--skip-auth-regex=^/api/",
        "--skip-auth-route=POST=^/hooks/",
        "--skip-auth-route=/health$",
        "--skip-auth-preflight",
        "--trusted-proxy-ip=10.0.0.0/8",
    ]);
    let plan = plan(&flags);
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    assert_eq!(plan.mode, Mode::Proxy);
    assert_eq!(value(&plan, "upstream", "host").as_deref(), Some("\"*\""));
    assert_eq!(
        value(&plan, "upstream", "url").as_deref(),
        Some("\"http://127.0.0.1:8080\"")
    );
    assert_eq!(
        value(&plan, "upstream", "skip_auth").as_deref(),
        Some("[\"^/api/\", \"POST ^/hooks/\", \".*(?:/health$)\", \"OPTIONS ^/\"]")
    );
    assert_eq!(
        value(&plan, "proxy", "identity_headers").as_deref(),
        Some("\"x-forwarded\"")
    );
    assert_eq!(
        value(&plan, "client_ip", "trusted_proxies").as_deref(),
        Some("[\"10.0.0.0/8\"]")
    );
    assert!(plan.warnings.iter().any(|w| {
        w.text
            .starts_with("oauth2-proxy matched each pattern, unanchored")
    }));
}

#[test]
fn what_sekisho_cannot_do_is_an_error_naming_the_option() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--provider=github"],
            "--provider: `github`: Sekisho has no such provider",
        ),
        (
            &["--github-org=acme"],
            "--github-org: no equivalent in Sekisho",
        ),
        (
            &["--htpasswd-file=/etc/htpasswd"],
            "--htpasswd-file: no equivalent",
        ),
        (
            &["--upstream=http://a:1/app/"],
            "--upstream: `http://a:1/app/`",
        ),
        (&["--upstream=https://a"], "plain http"),
        (
            &["--upstream=http://a:1", "--upstream=http://b:1"],
            "2 apps",
        ),
        (&["--email-domain=.example.com"], "no subdomain wildcard"),
        (
            &["--cookie-domain=.a.com", "--cookie-domain=.b.com"],
            "2 domains",
        ),
        (
            &["--pass-authorization-header"],
            "--pass-authorization-header: no equivalent",
        ),
        (
            &["--skip-auth-route=GET!=^/x", "--upstream=http://a:1"],
            "no negated route",
        ),
        (
            &[
                "--reverse-proxy",
                "--real-client-ip-header=CF-Connecting-IP",
            ],
            "`CF-Connecting-IP`",
        ),
        (
            &["--tls-cert-file=/c.pem"],
            "--tls-cert-file: no equivalent",
        ),
    ];
    for (flags, wanted) in cases {
        let name = |f: &str| f.split('=').next().unwrap_or_default().to_owned();
        let mut all: Vec<&str> = STORY
            .iter()
            .copied()
            .filter(|f| flags.iter().all(|g| name(g) != name(f)))
            .collect();
        all.extend(flags.iter());
        let plan = plan(&all);
        let errors: Vec<String> = plan.errors.iter().map(ToString::to_string).collect();
        assert!(
            errors.iter().any(|e| e.contains(wanted)),
            "{flags:?}: {errors:#?}"
        );
    }
}

#[test]
fn keycloak_roles_and_groups() {
    let mut flags = STORY.to_vec();
    flags.extend([
        "--allowed-group=/admins",
        "--allowed-role=app:editor",
        "--allowed-role=other:viewer",
        "--allowed-role=realm-admin",
    ]);
    let plan = plan(&flags);
    assert_eq!(
        value(&plan, "authorization", "allowed_groups").as_deref(),
        Some("[\"/admins\"]")
    );
    assert_eq!(
        value(&plan, "authorization", "allowed_roles").as_deref(),
        Some("[\"editor\", \"viewer\", \"realm-admin\"]")
    );
    assert_eq!(
        value(&plan, "oidc", "roles_claims").as_deref(),
        Some(
            "[\"realm_access.roles\", \"resource_access.{client_id}.roles\", \"resource_access.other.roles\"]"
        )
    );
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.text.contains("Sekisho requires both"))
    );
}

#[test]
fn secrets_are_never_written() {
    let mut flags = STORY.to_vec();
    flags.extend([
        "--client-secret=s3cr3t-value",
        "--cookie-secret=0123456789abcdef0123456789abcdef",
    ]);
    let plan = plan(&flags);
    for entry in &plan.entries {
        assert!(!entry.value.to_string().contains("s3cr3t"), "{entry:?}");
        assert!(
            !entry.value.to_string().contains("0123456789abcdef"),
            "{entry:?}"
        );
    }
    // 32 characters of base64 decode to 24 bytes, which oauth2-proxy uses as such.
    assert_eq!(
        session::oauth2_proxy_secret_len("0123456789abcdef0123456789abcdef"),
        24
    );
    assert!(plan.warnings.iter().any(|w| w.text.contains("is 24 bytes")));
}

#[test]
fn redis_forms() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--redis-connection-url=redis://:pw@redis:6379/1"],
            "\"redis://redis:6379/1\"",
        ),
        (
            &[
                "--redis-use-sentinel",
                "--redis-sentinel-master-name=mymaster",
                "--redis-sentinel-connection-urls=redis://s1:26379,redis://s2:26379",
            ],
            "\"redis+sentinel://s1:26379,s2:26379/mymaster\"",
        ),
        (
            &[
                "--redis-use-cluster",
                "--redis-cluster-connection-urls=redis://n1:6379,redis://n2:6379",
            ],
            "\"redis+cluster://n1:6379,n2:6379\"",
        ),
    ];
    for (flags, wanted) in cases {
        let mut all = STORY.to_vec();
        all.push("--session-store-type=redis");
        all.extend(flags.iter());
        let plan = plan(&all);
        assert!(plan.errors.is_empty(), "{:?}", plan.errors);
        assert_eq!(
            value(&plan, "session", "redis_url").as_deref(),
            Some(*wanted),
            "{flags:?}"
        );
    }
}

/// Every option the table marks Mapped is taken by the mapping, so none is dropped.
#[test]
fn every_mapped_option_is_taken() {
    for spec in OPTIONS.iter().filter(|s| s.fate == Fate::Mapped) {
        let value = match spec.kind {
            crate::migrate::oauth2_proxy::options::Kind::Bool => Value::Bool(true),
            crate::migrate::oauth2_proxy::options::Kind::List => Value::List(vec!["x".into()]),
            _ => Value::Text("1".into()),
        };
        let setting = Setting {
            spec,
            value,
            origin: Origin::Flag(format!("--{}", spec.flag)),
            overrides: Vec::new(),
        };
        let mut settings = vec![setting];
        for (flag, value) in [
            ("provider", "oidc"),
            ("oidc-issuer-url", "https://id.example.com/realms/corp"),
            ("client-id", "app"),
        ] {
            if flag != spec.flag {
                settings.push(Setting {
                    spec: crate::migrate::oauth2_proxy::options::by_flag(flag).unwrap(),
                    value: Value::Text(value.into()),
                    origin: Origin::Flag(format!("--{flag}")),
                    overrides: Vec::new(),
                });
            }
        }
        let plan = map(settings, Default::default());
        let named = |f: &Finding| f.at.contains(spec.flag);
        let said = plan
            .entries
            .iter()
            .any(|e| e.from.iter().any(|o| o.to_string().contains(spec.flag)))
            || plan.notes.iter().any(named)
            || plan.warnings.iter().any(named)
            || plan
                .errors
                .iter()
                .any(|e| named(e) && !e.text.contains("does not know"))
            || plan
                .secrets
                .iter()
                .any(|(_, what)| what.contains(spec.flag));
        assert!(said, "--{} is dropped without a word: {plan:#?}", spec.flag);
    }
}
