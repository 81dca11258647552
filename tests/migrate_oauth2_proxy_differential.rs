//! The differential test of `sekisho migrate oauth2-proxy`: for real-world configurations
//! (tests/fixtures/oauth2-proxy), oauth2-proxy runs with the configuration as given and Sekisho
//! with what the migrator made of it, and the requests of tests/common/oauth2_proxy_corpus.rs
//! go to both. Every decision (let through or not) matches, except for the cases whose `why`
//! says why Sekisho's differs: docs/comparison.md shows those.
//!
//! Both are given the same few flags on top of the configuration, as an operator would to run
//! it here: their address, the test OpenID provider as issuer and client, a cookie secret and
//! plain http, and the test's app as upstream. The migrator reads exactly what oauth2-proxy
//! reads (the file, the flags, the variables), so what it maps is what oauth2-proxy runs.

mod common;

use std::net::{Ipv4Addr, SocketAddr};

use common::http::Client;
use common::oauth2_proxy::OAuth2Proxy;
use common::oauth2_proxy_corpus::{CASES, TARGETS};
use common::oidc_provider::{OidcOptions, OidcProvider};
use common::ports::free_port;
use common::problems::Problems;
use common::redis::RedisServer;
use common::sekisho::Sekisho;
use common::upstream::Upstream;

const FIXTURES: &str = "tests/fixtures/oauth2-proxy";
const COOKIE_SECRET: &str = "differential-cookie-secret-32byt";
const SESSION_SECRET: &str = "differential-session-secret-of-at-least-32-bytes";

/// One configuration as users give it to oauth2-proxy.
struct Setup {
    name: &'static str,
    /// The arguments to oauth2-proxy and to the migrator: `--config FILE`, or flags.
    given: Given,
    /// `OAUTH2_PROXY_*` variables, from an env file of the fixtures.
    env_file: Option<&'static str>,
    /// The app behind it instead of `static://202`: Sekisho then proxies too.
    proxies: bool,
    /// Overrides of settings that point elsewhere than this machine.
    more: &'static [&'static str],
    /// Sessions in Redis: the test's redis-server replaces the configuration's.
    redis: bool,
}

enum Given {
    Config(&'static str),
    /// A file of oauth2-proxy's flags, one per line.
    Flags(&'static str),
}

const SETUPS: &[Setup] = &[
    Setup {
        name: "the story, as a configuration file",
        given: Given::Config("story.cfg"),
        env_file: None,
        proxies: false,
        more: &["--cookie-domain="],
        redis: false,
    },
    Setup {
        name: "the story, as flags",
        given: Given::Flags("story.args"),
        env_file: None,
        proxies: false,
        more: &["--cookie-domain="],
        redis: false,
    },
    Setup {
        name: "Keycloak groups and roles, secrets in variables",
        given: Given::Config("keycloak-groups.cfg"),
        env_file: Some("keycloak-groups.env"),
        proxies: false,
        more: &[],
        redis: false,
    },
    Setup {
        name: "GitLab behind it, API and git paths open",
        given: Given::Config("gitlab.cfg"),
        env_file: None,
        proxies: true,
        more: &["--client-secret-file=", "--cookie-secret-file="],
        redis: false,
    },
    Setup {
        name: "sessions in Redis",
        given: Given::Config("redis.cfg"),
        env_file: None,
        proxies: false,
        // The test's redis-server speaks plain TCP.
        more: &["--redis-ca-path="],
        redis: true,
    },
];

/// Reads `KEY=VALUE` lines (comments and blank lines left out).
fn env_pairs(file: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{file}"))
        .unwrap_or_else(|e| panic!("read {file}: {e}"));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

impl Setup {
    /// oauth2-proxy's arguments, listening on `addr`, signing in at `issuer`, in front of `app`,
    /// sessions in `redis` where the configuration keeps them there.
    fn args(&self, addr: SocketAddr, issuer: &str, app: SocketAddr, redis: &str) -> Vec<String> {
        let mut args = match self.given {
            Given::Config(file) => vec![format!("--config={FIXTURES}/{file}")],
            Given::Flags(file) => std::fs::read_to_string(format!("{FIXTURES}/{file}"))
                .unwrap_or_else(|e| panic!("read {file}: {e}"))
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned)
                .collect(),
        };
        args.extend([
            format!("--http-address={addr}"),
            format!("--redirect-url=http://{addr}/oauth2/callback"),
            format!("--oidc-issuer-url={issuer}"),
            "--client-id=sekisho".to_owned(),
            "--client-secret=sekisho-secret".to_owned(),
            format!("--cookie-secret={COOKIE_SECRET}"),
            "--cookie-secure=false".to_owned(),
        ]);
        if self.proxies {
            args.push(format!("--upstream=http://{app}/"));
        }
        if self.redis {
            args.push(format!("--redis-connection-url={redis}"));
        }
        args.extend(self.more.iter().map(|m| (*m).to_owned()));
        args
    }

    /// Sekisho's configuration, migrated from exactly what oauth2-proxy is given.
    fn migrated(&self, args: &[String]) -> String {
        let mut command = vec![
            "migrate".to_owned(),
            "oauth2-proxy".to_owned(),
            "--no-env".to_owned(),
        ];
        if let Some(file) = self.env_file {
            command.push(format!("--env-file={FIXTURES}/{file}"));
        }
        command.push("--".to_owned());
        command.extend_from_slice(args);
        let command: Vec<&str> = command.iter().map(String::as_str).collect();
        let out = common::sekisho::run(&command, &[], None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: the migration failed:\n{stderr}",
            self.name
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    }
}

/// Through, or not: the decision both are compared on.
fn passes(status: u16) -> bool {
    (200..300).contains(&status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrated_configurations_decide_as_oauth2_proxy_did_except_where_documented() {
    let provider = OidcProvider::start(OidcOptions::default());
    let app = Upstream::start().await;
    let redis = RedisServer::start();
    let client = Client::from(Ipv4Addr::LOCALHOST);
    let mut problems = Problems::default();
    let mut compared = 0;
    for setup in SETUPS {
        let theirs_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port(Ipv4Addr::LOCALHOST)));
        let ours_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port(Ipv4Addr::LOCALHOST)));
        let env: Vec<(String, String)> = setup.env_file.map(env_pairs).unwrap_or_default();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let theirs = OAuth2Proxy::run_as_given(
            theirs_addr,
            &setup.args(theirs_addr, &provider.issuer, app.addr(), &redis.url()),
            &env,
        )
        .await;
        let migrated =
            setup.migrated(&setup.args(ours_addr, &provider.issuer, app.addr(), &redis.url()));
        let listen = ours_addr.to_string();
        let ours = Sekisho::start_with_env(
            &migrated,
            &[
                ("SEKISHO_LISTEN", &listen),
                ("SEKISHO_SESSION__SECRET", SESSION_SECRET),
                ("SEKISHO_OIDC__CLIENT_SECRET", "sekisho-secret"),
            ],
        )
        .await;

        let mut setup_ok = true;
        // The client-address cases, as nginx passes them on: at oauth2-proxy's and Sekisho's
        // auth_request path, or through the proxy to the app.
        let path = if setup.proxies { "/" } else { "/oauth2/auth" };
        for case in CASES {
            let theirs_status = client.get(theirs.addr(), path, case.headers).await.status;
            let ours_status = client.get(ours.addr(), path, case.headers).await.status;
            compared += 1;
            let same = passes(theirs_status) == passes(ours_status) || !case.why.is_empty();
            let safe = !(case.forged && passes(ours_status));
            setup_ok &= same && safe;
            problems.check(same, || {
                format!(
                    "{}: {}: oauth2-proxy {theirs_status}, Sekisho {ours_status}, and no case \
                     says why",
                    setup.name, case.what
                )
            });
            problems.check(safe, || {
                format!(
                    "{}: {}: a forged address got through Sekisho ({ours_status})",
                    setup.name, case.what
                )
            });
        }

        // The skip-auth targets, against the first open path the configuration has.
        if setup.proxies {
            for target in TARGETS {
                let asked = target.target.replace("/public/", "/api/v4/");
                let asked = asked.replace("/PUBLIC/", "/API/V4/");
                let json = [("Accept", "application/json")];
                let before = app.hits();
                let theirs_status = client.get(theirs.addr(), &asked, &json).await.status;
                let theirs_reached = app.hits() > before;
                let before = app.hits();
                let ours_status = client.get(ours.addr(), &asked, &json).await.status;
                let ours_reached = app.hits() > before;
                compared += 1;
                let same = theirs_reached == ours_reached || !target.why.is_empty();
                let safe = !(target.outside && ours_reached);
                setup_ok &= same && safe;
                problems.check(same, || {
                    format!(
                        "{}: {asked}: oauth2-proxy {theirs_status} (app reached: \
                         {theirs_reached}), Sekisho {ours_status} (app reached: {ours_reached})",
                        setup.name
                    )
                });
                problems.check(safe, || {
                    format!(
                        "{}: {asked} reached the app through Sekisho without a session",
                        setup.name
                    )
                });
            }
        }
        problems.check(setup_ok, || {
            format!(
                "{} (the migrated configuration):\n{migrated}\noauth2-proxy's log:\n{}",
                setup.name,
                theirs.output()
            )
        });
    }
    assert!(
        compared >= SETUPS.len() * CASES.len(),
        "every case was asked"
    );
    problems.assert_none("the migrated configurations");
}
