//! `sekisho migrate ingress-nginx`, run as a program on fixture manifests: the seed story
//! (ingress-nginx, Sekisho as the auth proxy, addresses that skip the sign-in) to every
//! target, every document written valid against the CRDs the projects publish, the Sekisho
//! configuration it writes accepted by `sekisho check`; unknown annotations listed on stderr
//! and in the output; unreadable input refused with where and why; bad flags; and the guide
//! docs/migrating-from-ingress-nginx.md showing what the command really prints.

mod common;

use std::path::Path;
use std::process::Output;

use common::crd_schema::{Crds, documents};
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SEED: &str = "tests/fixtures/migrate/seed.yaml";

/// The target flag sets the tests run.
const TARGETS: &[&[&str]] = &[
    &["--to", "gateway-api"],
    &["--to", "gateway-api", "--protocol", "grpc"],
    &["--to", "gateway-api", "--gateway-impl", "envoy-gateway"],
    &[
        "--to",
        "gateway-api",
        "--gateway-impl",
        "envoy-gateway",
        "--protocol",
        "grpc",
    ],
    &[
        "--to",
        "gateway-api",
        "--gateway-impl",
        "nginx-gateway-fabric",
        "--gateway",
        "infra/edge",
    ],
    &["--to", "traefik"],
];

/// `sekisho ARGS` from the repository's root, with `stdin` fed to it.
fn sekisho(args: &[&str], stdin: Option<&str>) -> Output {
    common::sekisho::run(args, &[], stdin)
}

/// `sekisho migrate ingress-nginx FLAGS FILES`, which must succeed: (stdout, stderr).
fn migrate(flags: &[&str], files: &[&str]) -> (String, String) {
    let args: Vec<&str> = ["migrate", "ingress-nginx"]
        .iter()
        .chain(flags)
        .chain(files)
        .copied()
        .collect();
    let out = sekisho(&args, None);
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    let stderr = String::from_utf8(out.stderr).expect("UTF-8");
    assert_eq!(out.status.code(), Some(0), "{args:?}:\n{stderr}");
    (stdout, stderr)
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    of_kind(docs, kind)
        .into_iter()
        .find(|d| d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {docs:#?}"))
}

/// `sekisho check` on the ConfigMap's sekisho.toml, with the secrets the Deployment gives.
fn assert_config_passes_check(what: &str, docs: &[Value]) -> toml::Table {
    let config_map = named(docs, "ConfigMap", "sekisho");
    let text = config_map["data"]["sekisho.toml"]
        .as_str()
        .expect("sekisho.toml");
    let out = common::sekisho::check(text);
    assert!(
        out.status.success(),
        "{what}: sekisho check refuses the configuration it wrote:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.parse().expect("TOML")
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn every_document_for_every_target_is_valid_and_its_configuration_passes_check() {
    let crds = Crds::load();
    for input in [
        SEED,
        "deploy/kubernetes/ingress.yaml",
        "tests/fixtures/migrate/unknown-annotations.yaml",
    ] {
        for flags in TARGETS {
            let what = format!("{input} {flags:?}");
            let (stdout, _) = migrate(flags, &[input]);
            let docs = documents(&stdout);
            assert!(docs.len() >= 3, "{what}: {stdout}");
            for doc in &docs {
                crds.assert_valid(&what, doc);
            }
            let config = assert_config_passes_check(&what, &docs);
            assert!(
                config["public_url"]
                    .as_str()
                    .unwrap()
                    .starts_with("https://"),
                "{what}"
            );
        }
    }
}

#[test]
fn the_seed_story_keeps_its_sign_in_its_trusted_addresses_and_its_restriction() {
    for flags in TARGETS {
        let (stdout, stderr) = migrate(flags, &[SEED]);
        let docs = documents(&stdout);
        let config = assert_config_passes_check(&format!("{flags:?}"), &docs);
        assert_eq!(
            config["public_url"].as_str(),
            Some("https://app.example.com")
        );
        assert_eq!(
            config["trusted_ips"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>(),
            vec!["198.51.100.7/32", "203.0.113.0/24"],
            "{flags:?}: the addresses of `satisfy any; allow ...` skip the sign-in"
        );
        assert_eq!(config["session"]["domain"].as_str(), Some(".example.com"));
        assert_eq!(
            config["allowed_redirect_domains"].as_array().unwrap().len(),
            1
        );
        // Each mapped annotation says what it became, in a comment above its documents
        // (comment lines joined where they wrap).
        let flat = stdout.replace("\n#     ", " ");
        for (key, became) in [
            (
                "auth-snippet",
                "trusted_ips = 203.0.113.0/24, 198.51.100.7/32",
            ),
            ("auth-signin", "Sekisho's public_url"),
            ("auth-url", "sekisho.sekisho"),
        ] {
            let line = format!("#   nginx.ingress.kubernetes.io/{key}: ");
            assert!(
                flat.lines()
                    .any(|l| l.starts_with(&line) && l.contains(became)),
                "{flags:?}: no comment saying {key} became {became:?}:\n{stdout}"
            );
        }
        assert!(
            stderr.contains(
                "note: tests/fixtures/migrate/seed.yaml: document 4 (Service app): skipped"
            ),
            "{stderr}"
        );
        // The Service's named port is Sekisho's: an HTTPRoute gets its number (Traefik takes
        // the name as it is).
        if flags[1] == "gateway-api" {
            let sekisho_route = named(&docs, "HTTPRoute", "sekisho");
            for rule in sekisho_route["spec"]["rules"].as_array().unwrap() {
                assert_eq!(rule["backendRefs"][0]["port"], 4180, "{sekisho_route}");
            }
        }
    }
}

#[test]
fn gateway_api_asks_sekisho_with_the_session_cookie() {
    let (stdout, stderr) = migrate(&["--to", "gateway-api"], &[SEED]);
    let docs = documents(&stdout);
    let app = named(&docs, "HTTPRoute", "app");
    assert_eq!(app["spec"]["parentRefs"][0]["name"], "sekisho-gateway");
    let filter = &app["spec"]["rules"][0]["filters"][0];
    assert_eq!(filter["type"], "ExternalAuth");
    let auth = &filter["externalAuth"];
    assert_eq!(auth["protocol"], "HTTP");
    assert_eq!(
        auth["backendRef"],
        serde_json::json!({"name": "sekisho", "namespace": "sekisho", "port": 4180})
    );
    assert_eq!(auth["http"]["path"], "/oauth2/ext_authz");
    assert!(strings(&auth["http"]["allowedHeaders"]).contains(&"cookie"));
    assert_eq!(strings(&auth["http"]["allowedResponseHeaders"]).len(), 5);
    let grant = named(&docs, "ReferenceGrant", "sekisho-from-web");
    assert_eq!(grant["metadata"]["namespace"], "sekisho");
    assert_eq!(grant["spec"]["from"][0]["kind"], "HTTPRoute");
    assert_eq!(
        of_kind(&docs, "ReferenceGrant").len(),
        1,
        "written once for both Ingresses of web"
    );
    // whitelist-source-range has no standard equivalent: said, on stderr and in the output.
    let lost =
        "nginx.ingress.kubernetes.io/whitelist-source-range: only 192.0.2.0/24 may reach this app";
    assert!(stderr.contains(lost), "{stderr}");
    assert!(
        stdout.contains("#   warning: nginx.ingress.kubernetes.io/whitelist-source-range: only"),
        "{stdout}"
    );

    let (stdout, _) = migrate(&["--to", "gateway-api", "--protocol", "grpc"], &[SEED]);
    let docs = documents(&stdout);
    let auth = &named(&docs, "HTTPRoute", "app")["spec"]["rules"][0]["filters"][0]["externalAuth"];
    assert_eq!(auth["protocol"], "GRPC");
    assert!(auth.get("http").is_none(), "{auth}");
}

#[test]
fn envoy_gateway_gets_a_security_policy_with_the_restriction() {
    let (stdout, stderr) = migrate(
        &["--to", "gateway-api", "--gateway-impl", "envoy-gateway"],
        &[SEED],
    );
    let docs = documents(&stdout);
    for route in of_kind(&docs, "HTTPRoute") {
        assert!(!route.to_string().contains("ExternalAuth"), "{route}");
    }
    let policy = named(&docs, "SecurityPolicy", "admin-sekisho");
    assert_eq!(policy["metadata"]["namespace"], "web");
    assert_eq!(policy["spec"]["targetRefs"][0]["name"], "admin");
    let ext_auth = &policy["spec"]["extAuth"];
    assert!(strings(&ext_auth["headersToExtAuth"]).contains(&"cookie"));
    assert_eq!(ext_auth["http"]["path"], "/oauth2/ext_authz");
    assert_eq!(
        strings(&ext_auth["http"]["headersToBackend"]),
        vec!["X-Auth-Request-User", "X-Auth-Request-Groups"]
    );
    let authorization = &policy["spec"]["authorization"];
    assert_eq!(authorization["defaultAction"], "Deny");
    assert_eq!(
        strings(&authorization["rules"][0]["principal"]["clientCIDRs"]),
        vec!["192.0.2.0/24"]
    );
    assert!(
        named(&docs, "SecurityPolicy", "app-sekisho")["spec"]
            .get("authorization")
            .is_none()
    );
    assert_eq!(
        named(&docs, "ReferenceGrant", "sekisho-from-web")["spec"]["from"][0]["kind"],
        "SecurityPolicy"
    );
    assert!(
        !stderr.contains("whitelist-source-range"),
        "mapped, not warned: {stderr}"
    );
}

#[test]
fn nginx_gateway_fabric_gets_the_filter_and_its_limits_said() {
    let flags = [
        "--to",
        "gateway-api",
        "--gateway-impl",
        "nginx-gateway-fabric",
        "--gateway",
        "infra/edge",
    ];
    let (stdout, stderr) = migrate(&flags, &[SEED]);
    let docs = documents(&stdout);
    let app = named(&docs, "HTTPRoute", "app");
    assert_eq!(
        app["spec"]["parentRefs"][0],
        serde_json::json!({"name": "edge", "namespace": "infra"})
    );
    assert_eq!(
        app["spec"]["rules"][0]["filters"][0]["type"],
        "ExternalAuth"
    );
    assert!(
        stderr.contains("NGINX Gateway Fabric runs ExternalAuth as nginx auth_request"),
        "{stderr}"
    );
    // The AccessPolicy is offered as a comment, not as a document nobody validated.
    assert!(stdout.contains("# kind: AccessPolicy"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with('#') && l.trim_end().ends_with("address: 192.0.2.0/24")),
        "{stdout}"
    );
    assert!(of_kind(&docs, "AccessPolicy").is_empty());
}

#[test]
fn traefik_gets_middlewares_in_order_and_an_ingress_route() {
    let (stdout, _) = migrate(&["--to", "traefik"], &[SEED]);
    let docs = documents(&stdout);
    let forward_auth = &named(&docs, "Middleware", "admin-sekisho")["spec"]["forwardAuth"];
    assert_eq!(
        forward_auth["address"],
        "http://sekisho.sekisho.svc.cluster.local:4180/oauth2/traefik"
    );
    assert_eq!(forward_auth["trustForwardHeader"], true);
    assert_eq!(
        strings(&forward_auth["authResponseHeaders"]),
        vec!["X-Auth-Request-User", "X-Auth-Request-Groups"]
    );
    assert!(strings(&forward_auth["addAuthCookiesToResponse"]).contains(&"_sekisho"));
    let allow = &named(&docs, "Middleware", "admin-source-range")["spec"]["ipAllowList"];
    assert_eq!(strings(&allow["sourceRange"]), vec!["192.0.2.0/24"]);
    let route = &named(&docs, "IngressRoute", "admin")["spec"];
    assert_eq!(route["entryPoints"][0], "websecure");
    assert_eq!(route["tls"]["secretName"], "admin-example-com-tls");
    let rule = &route["routes"][0];
    assert_eq!(
        rule["match"],
        "Host(`admin.example.com`) && PathPrefix(`/`)"
    );
    let order: Vec<&str> = rule["middlewares"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(
        order,
        vec!["admin-source-range", "admin-sekisho"],
        "refused addresses never reach Sekisho"
    );
    let own = &named(&docs, "IngressRoute", "sekisho")["spec"]["routes"][0];
    assert!(
        own.get("middlewares").is_none(),
        "Sekisho's own paths ask nobody: {own}"
    );
    assert_eq!(own["services"][0]["port"], "http");
    assert!(
        stdout.contains("trustForwardHeader: true: Sekisho gets the X-Forwarded-For chain"),
        "{stdout}"
    );
}

#[test]
fn unknown_annotations_are_listed_on_stderr_and_in_the_output() {
    let text = std::fs::read_to_string(
        Path::new(ROOT).join("tests/fixtures/migrate/unknown-annotations.yaml"),
    )
    .unwrap();
    for flags in [["--to", "gateway-api"], ["--to", "traefik"]] {
        let args = ["migrate", "ingress-nginx", flags[0], flags[1], "-"];
        let out = sekisho(&args, Some(&text));
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        for key in [
            "nginx.ingress.kubernetes.io/proxy-body-size",
            "nginx.ingress.kubernetes.io/ssl-redirect",
            "nginx.ingress.kubernetes.io/configuration-snippet",
            "nginx.ingress.kubernetes.io/auth-method",
            "cert-manager.io/cluster-issuer",
        ] {
            assert!(
                stderr.contains(&format!(
                    "warning: stdin: document 1, items[0] (Ingress docs/wiki): {key}: "
                )),
                "{flags:?}: {key} not listed on stderr:\n{stderr}"
            );
            assert!(
                stdout.contains(&format!("#   warning: {key}: ")),
                "{flags:?}: {key} not listed in the output:\n{stdout}"
            );
        }
        assert!(
            stderr.contains("`more_set_headers \"X-Frame-Options: DENY\";`"),
            "{stderr}"
        );
        assert!(
            stderr.contains("its host is not a cluster Service"),
            "{stderr}"
        );
        // The sign-in host has no route for Sekisho's paths in the input: one is added.
        assert!(
            stdout.contains("Sekisho's own paths on wiki.example.com"),
            "{stdout}"
        );
    }
}

#[test]
fn an_unreadable_manifest_is_refused_naming_file_document_object_and_field() {
    let out = sekisho(
        &[
            "migrate",
            "ingress-nginx",
            "--to",
            "traefik",
            "tests/fixtures/migrate/unreadable.yaml",
            "tests/fixtures/migrate/not-yaml.yaml",
            "tests/fixtures/migrate/does-not-exist.yaml",
        ],
        None,
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(65), "EX_DATAERR: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "nothing is written when the input is not all read"
    );
    for expected in [
        "error: tests/fixtures/migrate/unreadable.yaml: document 2 (Ingress no-path-type): spec.rules[0].http.paths[0].pathType: missing",
        "error: tests/fixtures/migrate/unreadable.yaml: document 3 (Ingress bad-range): metadata.annotations.nginx.ingress.kubernetes.io/whitelist-source-range: `10.1.0.0/33` is not an address",
        "error: tests/fixtures/migrate/not-yaml.yaml: document 1: not YAML (line 6, column 1)",
        "error: tests/fixtures/migrate/does-not-exist.yaml: cannot read it",
        "4 problem(s) in the input; nothing written",
    ] {
        assert!(stderr.contains(expected), "{expected:?} not in:\n{stderr}");
    }
    assert!(!stderr.contains("Ingress good"), "{stderr}");
}

#[test]
fn bad_flags_exit_64_and_help_exits_0() {
    for args in [
        &["migrate"][..],
        &["migrate", "ingress-nginx"],
        &["migrate", "ingress-nginx", "--to", "nginx"],
        &[
            "migrate",
            "ingress-nginx",
            "--to",
            "traefik",
            "--gateway-impl",
            "envoy-gateway",
        ],
        &[
            "migrate",
            "ingress-nginx",
            "--to",
            "gateway-api",
            "--gateway-impl",
            "nginx-gateway-fabric",
            "--protocol",
            "grpc",
        ],
        &[
            "migrate",
            "ingress-nginx",
            "--to",
            "gateway-api",
            "--frobnicate",
        ],
        &[
            "migrate",
            "ingress-nginx",
            "--to",
            "gateway-api",
            "--service",
            "sekisho",
        ],
        &["migrate", "haproxy", "--to", "traefik"],
    ] {
        let out = sekisho(args, Some(""));
        assert_eq!(
            out.status.code(),
            Some(64),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty() || args == ["migrate"], "{args:?}");
    }
    let help = sekisho(&["migrate", "ingress-nginx", "--help"], None);
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8(help.stdout).unwrap();
    for flag in [
        "--to",
        "--gateway",
        "--gateway-impl",
        "--protocol",
        "--service",
    ] {
        assert!(text.contains(flag), "{text}");
    }
    let top = String::from_utf8(sekisho(&["--help"], None).stdout).unwrap();
    assert!(top.contains("migrate"), "{top}");
}

/// The guide's `$ sekisho migrate ...` blocks show lines the command really prints.
#[test]
fn the_guide_shows_what_the_command_prints() {
    let shown =
        common::sekisho::guide_blocks_matching_output("docs/migrating-from-ingress-nginx.md");
    assert!(
        shown >= 4,
        "docs/migrating-from-ingress-nginx.md shows the command {shown} times, fewer than 4"
    );
}

#[test]
fn a_route_passed_through_that_sends_no_cookie_is_warned() {
    let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: old\n\
                 spec:\n  rules:\n  - filters:\n    - type: ExternalAuth\n      externalAuth:\n\
                 \x20       protocol: HTTP\n        backendRef: {name: sekisho, port: 4180}\n\
                 \x20       http:\n          path: /oauth2/ext_authz\n          allowedHeaders: [accept]\n";
    let out = sekisho(
        &["migrate", "ingress-nginx", "--to", "gateway-api"],
        Some(route),
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("note: stdin: document 1 (HTTPRoute old): skipped"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "warning: stdin: document 1 (HTTPRoute old): spec.rules[0].filters[0].externalAuth.http.allowedHeaders does not list `cookie`"
        ),
        "{stderr}"
    );
    let with_cookie = route.replace("[accept]", "[accept, cookie]");
    let out = sekisho(
        &["migrate", "ingress-nginx", "--to", "gateway-api"],
        Some(&with_cookie),
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("cookie"));
}
