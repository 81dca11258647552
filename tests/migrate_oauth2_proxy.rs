//! `sekisho migrate oauth2-proxy`, run as a program on the configurations of
//! tests/fixtures/oauth2-proxy/: the story (ingress-nginx asking oauth2-proxy with
//! auth_request, `static://202`, office networks in `--trusted-ip`) given as a file, as flags,
//! as an env file and as process variables, all giving one configuration, which is the golden
//! file the guide shows; GitLab behind oauth2-proxy, Keycloak groups and roles, Redis and
//! sentinels, the alpha configuration. Every configuration written passes `sekisho check`;
//! what Sekisho cannot do, and what cannot be read, is refused naming the option and where it
//! was given, with nothing on stdout.

mod common;

use std::path::Path;
use std::process::Output;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const DIR: &str = "tests/fixtures/oauth2-proxy";
/// What the story's file migrates to; `SEKISHO_WRITE_MIGRATION=1` rewrites it.
const GOLDEN: &str = "tests/fixtures/oauth2-proxy/story.expected.toml";

fn fixture(name: &str) -> String {
    format!("{DIR}/{name}")
}

fn migrate_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all = vec!["migrate", "oauth2-proxy"];
    all.extend(args);
    common::sekisho::run(&all, env, None)
}

/// `sekisho migrate oauth2-proxy ARGS`, which must succeed: (stdout, stderr).
fn migrate(args: &[&str]) -> (String, String) {
    let out = migrate_with_env(args, &[]);
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    let stderr = String::from_utf8(out.stderr).expect("UTF-8");
    assert_eq!(out.status.code(), Some(0), "{args:?}:\n{stderr}");
    (stdout, stderr)
}

/// The configuration, which `sekisho check` must accept.
fn checked(what: &str, toml: &str) -> toml::Table {
    let out = common::sekisho::check(toml);
    assert!(
        out.status.success(),
        "{what}: sekisho check refuses the configuration it wrote:\n{}{}\n{toml}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    toml.parse().expect("TOML")
}

/// `section.key` (or `key`) of a configuration, as TOML text.
fn get(config: &toml::Table, path: &str) -> Option<String> {
    let mut value: &toml::Value = config.get(path.split('.').next()?)?;
    for part in path.split('.').skip(1) {
        value = match value {
            toml::Value::Array(tables) => tables.first()?.get(part)?,
            other => other.get(part)?,
        };
    }
    Some(value.to_string())
}

fn story_args() -> Vec<String> {
    std::fs::read_to_string(Path::new(ROOT).join(fixture("story.args")))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The three ways the story's setup behaves differently in Sekisho, each said on stderr and
/// in the output.
const STORY_WARNINGS: &[&str] = &[
    "`static://202` is no longer needed",
    "oauth2-proxy took the left-most X-Forwarded-For address",
    "the cookie secret is 24 bytes",
];

#[test]
fn the_story_migrates_to_the_golden_configuration_which_passes_check() {
    let (stdout, stderr) = migrate(&["--no-env", "--config", &fixture("story.cfg")]);
    if std::env::var_os("SEKISHO_WRITE_MIGRATION").is_some() {
        std::fs::write(Path::new(ROOT).join(GOLDEN), &stdout).unwrap();
    }
    let golden = std::fs::read_to_string(Path::new(ROOT).join(GOLDEN)).unwrap();
    assert_eq!(
        stdout, golden,
        "the output differs from {GOLDEN}; SEKISHO_WRITE_MIGRATION=1 rewrites it"
    );
    for warning in STORY_WARNINGS {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("warning: ") && l.contains(warning)),
            "stderr lacks {warning:?}:\n{stderr}"
        );
        assert!(
            comments(&stdout).contains(warning),
            "the output's comments lack {warning:?}"
        );
    }
    let config = checked("story.cfg", &stdout);
    let cases: &[(&str, &str)] = &[
        ("listen", "\"0.0.0.0:4180\""),
        ("public_url", "\"https://auth.example.com\""),
        ("trusted_ips", "[\"203.0.113.0/24\", \"198.51.100.0/24\"]"),
        ("allowed_redirect_domains", "[\".example.com\"]"),
        ("client_ip.header", "\"x-forwarded-for\""),
        (
            "client_ip.trusted_proxies",
            "[\"127.0.0.1/32\", \"::1/128\"]",
        ),
        ("session.domain", "\".example.com\""),
        ("session.lifetime", "\"168h\""),
        (
            "oidc.issuer_url",
            "\"https://keycloak.example.com/realms/corp\"",
        ),
        ("oidc.client_id", "\"oauth2-proxy\""),
        ("oidc.user_claim", "\"sub\""),
    ];
    for (path, wanted) in cases {
        assert_eq!(get(&config, path).as_deref(), Some(*wanted), "{path}");
    }
    assert!(
        config.get("upstream").is_none(),
        "auth_request: no upstream"
    );
    assert!(config["session"].get("secret").is_none());
    assert!(config["oidc"].get("client_secret").is_none());
    assert!(
        !stdout.contains("c3RvcnktY2xpZW50LXNlY3JldA") && !stdout.contains("q3Vd9-Tc2mFh7xLp"),
        "a secret was written"
    );
    assert!(stdout.contains("SEKISHO_OIDC__CLIENT_SECRET") && stdout.contains("`sekisho secret`"));
}

/// The comment lines of a configuration as one text, wrapping undone.
fn comments(toml: &str) -> String {
    toml.lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The values of a configuration, comments aside (they name where each value came from).
fn values(toml: &str) -> toml::Table {
    toml.parse().expect("TOML")
}

#[test]
fn the_story_as_flags_env_file_or_variables_gives_the_same_configuration() {
    let (from_file, _) = migrate(&["--no-env", "--config", &fixture("story.cfg")]);
    let args = story_args();
    let env_file = fixture("story.env");
    let mut as_flags = vec!["--no-env", "--env-file", &env_file, "--"];
    as_flags.extend(args.iter().map(String::as_str));
    let (from_flags, stderr) = migrate(&as_flags);
    assert_eq!(values(&from_flags), values(&from_file), "{stderr}");
    assert!(from_flags.contains("# from --trusted-ip"), "{from_flags}");
    checked("story.args", &from_flags);

    // The same as OAUTH2_PROXY_* variables of the process.
    let env: Vec<(String, String)> = args
        .iter()
        .map(|a| {
            let (name, value) = a
                .trim_start_matches("--")
                .split_once('=')
                .unwrap_or((a.trim_start_matches("--"), "true"));
            (name.to_owned(), value.to_owned())
        })
        .fold(Vec::<(String, String)>::new(), |mut acc, (name, value)| {
            match acc.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => {
                    v.push(',');
                    v.push_str(&value);
                }
                None => acc.push((name, value)),
            }
            acc
        })
        .into_iter()
        .map(|(name, value)| {
            let mut var = format!("OAUTH2_PROXY_{}", name.replace('-', "_").to_uppercase());
            if [
                "trusted-ip",
                "upstream",
                "email-domain",
                "whitelist-domain",
                "cookie-domain",
            ]
            .contains(&name.as_str())
            {
                var.push('S');
            }
            (var, value)
        })
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let out = migrate_with_env(&[], &env);
    let from_env = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(values(&from_env), values(&from_file));
    assert!(
        from_env.contains("# from OAUTH2_PROXY_TRUSTED_IPS"),
        "{from_env}"
    );
}

#[test]
fn flags_win_over_variables_which_win_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("o.env");
    std::fs::write(
        &env_file,
        "OAUTH2_PROXY_CLIENT_ID=from-env-file\nOAUTH2_PROXY_COOKIE_NAME=_from_env_file\n",
    )
    .unwrap();
    let env_file = env_file.to_str().unwrap();
    let out = migrate_with_env(
        &[
            "--config",
            &fixture("story.cfg"),
            "--env-file",
            env_file,
            "--",
            "--client-id=from-flag",
        ],
        &[
            ("OAUTH2_PROXY_COOKIE_NAME", "_from_process"),
            ("OAUTH2_PROXY_COOKIE_PATH", "/from-process"),
        ],
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = checked("precedence", &stdout);
    assert_eq!(
        get(&config, "oidc.client_id").as_deref(),
        Some("\"from-flag\"")
    );
    assert_eq!(
        get(&config, "session.cookie_name").as_deref(),
        Some("\"_from_env_file\"")
    );
    assert_eq!(
        get(&config, "session.path").as_deref(),
        Some("\"/from-process\"")
    );
    assert!(
        comments(&stdout).contains(&format!(
            "from --client-id (over OAUTH2_PROXY_CLIENT_ID ({env_file}:1), \
             tests/fixtures/oauth2-proxy/story.cfg:13 client_id)"
        )),
        "{stdout}"
    );
}

struct Case {
    args: &'static [&'static str],
    /// `section.key` and its value, as TOML.
    values: &'static [(&'static str, &'static str)],
    /// Parts of warnings that must be on stderr.
    warnings: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        args: &["--config", "tests/fixtures/oauth2-proxy/gitlab.cfg"],
        values: &[
            ("upstream.host", "\"*\""),
            ("upstream.url", "\"http://127.0.0.1:8081\""),
            ("upstream.preserve_host", "true"),
            (
                "upstream.skip_auth",
                "[\"^/api/v4/\", '^/[^/]+/[^/]+\\.git/', \"POST ^/hooks/\"]",
            ),
            ("proxy.identity_headers", "\"x-forwarded\""),
            ("proxy.timeout", "\"5m\""),
            ("client_ip.header", "\"x-real-ip\""),
            ("client_ip.trusted_proxies", "[\"127.0.0.1/32\"]"),
            ("authorization.allowed_groups", "[\"/developers\"]"),
            ("authorization.allowed_email_domains", "[\"example.com\"]"),
            ("session.cookie_name", "\"_gitlab_proxy\""),
            ("public_url", "\"https://gitlab.example.com\""),
        ],
        warnings: &["skip_auth_routes: oauth2-proxy matched each pattern, unanchored"],
    },
    Case {
        args: &[
            "--config",
            "tests/fixtures/oauth2-proxy/keycloak-groups.cfg",
            "--env-file",
            "tests/fixtures/oauth2-proxy/keycloak-groups.env",
        ],
        values: &[
            (
                "authorization.allowed_groups",
                "[\"/ops\", \"/ops/oncall\"]",
            ),
            (
                "authorization.allowed_roles",
                "[\"viewer\", \"realm-admin\"]",
            ),
            (
                "authorization.allowed_email_domains",
                "[\"example.com\", \"example.org\"]",
            ),
            (
                "oidc.scopes",
                "[\"openid\", \"email\", \"profile\", \"groups\"]",
            ),
            ("oidc.groups_claim", "\"groups\""),
            ("oidc.pass_access_token", "true"),
            ("client_ip.trusted_proxies", "[\"10.244.0.0/16\"]"),
        ],
        warnings: &[
            "`static://202` is no longer needed",
            "OR one of the allowed roles; Sekisho requires both",
            "without oauth2-proxy's `client:` prefix",
            "cookie_refresh: ignored",
        ],
    },
    Case {
        args: &["--config", "tests/fixtures/oauth2-proxy/redis.cfg"],
        values: &[
            ("session.store", "\"redis\""),
            (
                "session.redis_url",
                "\"rediss://redis.auth.svc.cluster.local:6380/2\"",
            ),
            ("session.redis_ca_file", "\"tests/fixtures/redis-ca.pem\""),
            ("client_ip.header", "\"x-real-ip\""),
        ],
        warnings: &["`static://202` is no longer needed"],
    },
    Case {
        args: &[
            "--env-file",
            "tests/fixtures/oauth2-proxy/redis-sentinel.yaml",
        ],
        values: &[
            ("session.store", "\"redis\""),
            (
                "session.redis_url",
                "\"redis+sentinel://sentinel-0.redis:26379,sentinel-1.redis:26379,sentinel-2.redis:26379/mymaster\"",
            ),
            ("client_ip.header", "\"none\""),
        ],
        warnings: &["`static://202` is no longer needed"],
    },
    Case {
        args: &[
            "--config",
            "tests/fixtures/oauth2-proxy/alpha-core.cfg",
            "--alpha-config",
            "tests/fixtures/oauth2-proxy/alpha.yaml",
        ],
        values: &[
            ("listen", "\"0.0.0.0:4180\""),
            ("upstream.url", "\"http://127.0.0.1:3000\""),
            ("upstream.skip_auth", "[\"^/healthz$\"]"),
            ("proxy.identity_headers", "\"x-forwarded\""),
            ("authorization.allowed_groups", "[\"/app-users\"]"),
            (
                "oidc.issuer_url",
                "\"https://keycloak.example.com/realms/corp\"",
            ),
            ("oidc.email_claim", "\"email\""),
            ("session.domain", "\"app.example.com\""),
        ],
        warnings: &[
            "alpha.yaml: providers[0].oidcConfig.insecureSkipNonce: ignored",
            "skip_auth_regex: oauth2-proxy matched each pattern",
        ],
    },
];

#[test]
fn every_real_world_configuration_migrates_and_passes_check() {
    for case in CASES {
        let mut args = vec!["--no-env"];
        args.extend(case.args);
        let (stdout, stderr) = migrate(&args);
        let config = checked(&format!("{:?}", case.args), &stdout);
        for (path, wanted) in case.values {
            assert_eq!(
                get(&config, path).as_deref(),
                Some(*wanted),
                "{:?}: {path}\n{stdout}",
                case.args
            );
        }
        for warning in case.warnings {
            assert!(
                stderr
                    .lines()
                    .any(|l| l.starts_with("warning: ") && l.contains(warning)),
                "{:?}: stderr lacks {warning:?}:\n{stderr}",
                case.args
            );
        }
    }
}

/// Exit 65, nothing on stdout, and each wanted text in an `error:` line of stderr.
fn refused(args: &[&str], env: &[(&str, &str)], wanted: &[&str]) {
    let out = migrate_with_env(args, env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{args:?}:\n{stderr}");
    assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
    for text in wanted {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("error: ") && l.contains(text)),
            "{args:?}: stderr lacks {text:?}:\n{stderr}"
        );
    }
}

#[test]
fn what_sekisho_cannot_do_is_refused_naming_the_option() {
    refused(
        &["--no-env", "--config", &fixture("github.cfg")],
        &[],
        &[
            "tests/fixtures/oauth2-proxy/github.cfg:3 provider: `github`: Sekisho has no such provider",
            "tests/fixtures/oauth2-proxy/github.cfg:5 github_org: no equivalent in Sekisho",
            "tests/fixtures/oauth2-proxy/github.cfg:6 github_team: no equivalent in Sekisho",
            "tests/fixtures/oauth2-proxy/github.cfg:10 htpasswd_file: no equivalent in Sekisho",
        ],
    );
    refused(
        &[
            "--no-env",
            "--config",
            &fixture("story.cfg"),
            "--",
            "--upstream=http://127.0.0.1:8080/app/",
            "--pass-authorization-header",
        ],
        &[],
        &[
            "--upstream: `http://127.0.0.1:8080/app/`",
            "--pass-authorization-header: no equivalent",
        ],
    );
    refused(
        &[
            "--no-env",
            "--config",
            &fixture("alpha-core.cfg"),
            "--alpha-config",
            &fixture("alpha.yaml"),
            "--",
            "--upstream=http://127.0.0.1:9000",
        ],
        &[],
        &["--upstream: oauth2-proxy does not read it with --alpha-config"],
    );
}

#[test]
fn unreadable_input_is_refused_naming_the_line_flag_variable_or_field() {
    refused(
        &["--no-env", "--config", &fixture("broken.cfg")],
        &[],
        &["tests/fixtures/oauth2-proxy/broken.cfg:3: not a valid TOML file"],
    );
    refused(
        &["--no-env", "--config", &fixture("unknown-options.cfg")],
        &[],
        &[
            "tests/fixtures/oauth2-proxy/unknown-options.cfg:4 trusted_ip: unknown oauth2-proxy option (oauth2-proxy reads `trusted_ips`)",
            "tests/fixtures/oauth2-proxy/unknown-options.cfg:5 skip_auth_routs: unknown oauth2-proxy option",
        ],
    );
    refused(
        &[
            "--no-env",
            "--config",
            &fixture("story.cfg"),
            "--",
            "--no-such-flag=1",
            "--reverse-proxy=maybe",
        ],
        &[],
        &[
            "--no-such-flag: unknown oauth2-proxy flag",
            "--reverse-proxy: `maybe` is not true or false",
        ],
    );
    refused(
        &["--config", &fixture("story.cfg")],
        &[
            ("OAUTH2_PROXY_EMAIL_DOMAIN", "example.com"),
            ("OAUTH2_PROXY_NOPE", "1"),
        ],
        &[
            "OAUTH2_PROXY_EMAIL_DOMAIN: unknown oauth2-proxy variable (oauth2-proxy reads `OAUTH2_PROXY_EMAIL_DOMAINS`)",
            "OAUTH2_PROXY_NOPE: unknown oauth2-proxy variable",
        ],
    );
    refused(
        &[
            "--no-env",
            "--config",
            &fixture("alpha-core.cfg"),
            "--alpha-config",
            &fixture("broken-alpha.yaml"),
        ],
        &[],
        &[
            "tests/fixtures/oauth2-proxy/broken-alpha.yaml: providers[0].oidcConfig.issuer: unknown field",
        ],
    );
    refused(
        &["--no-env", "--config", &fixture("missing.cfg")],
        &[],
        &["missing.cfg: cannot read"],
    );
}

#[test]
fn bad_command_lines_exit_64_and_help_exits_0() {
    for args in [
        &["--reverse-proxy"][..],
        &["--config"][..],
        &["--no-such-option"][..],
    ] {
        let out = migrate_with_env(args, &[]);
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        assert!(out.stdout.is_empty());
    }
    let out = migrate_with_env(&["--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--config",
        "--alpha-config",
        "--env-file",
        "--no-env",
        "OAUTH2_PROXY_FLAGS",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

/// The guide's `$ sekisho migrate ...` blocks show lines the command really prints.
#[test]
fn the_guide_shows_what_the_command_prints() {
    let shown =
        common::sekisho::guide_blocks_matching_output("docs/migrating-from-oauth2-proxy.md");
    assert!(
        shown >= 2,
        "docs/migrating-from-oauth2-proxy.md shows the command {shown} times, fewer than 2"
    );
}
