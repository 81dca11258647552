//! The deployment files, checked without a Docker engine or a cluster:
//!
//! - `docker-compose.yml`: `docker-compose config` accepts it (and refuses a broken copy, so
//!   the check is real), and its services fit together: health checks behind every
//!   `service_healthy`, the files it mounts, the Redis session store, the client secret and
//!   issuer Keycloak's realm and Sekisho's configuration agree on;
//! - `Dockerfile`: multi-stage, an unprivileged runtime user, and a runtime stage that installs
//!   the Debian package of every shared library the `sekisho` binary links;
//! - `config/keycloak/demo-realm.json`: the realm, users, groups, roles, clients and mappers
//!   the README and the Sekisho configuration name;
//! - `deploy/kubernetes/`: every manifest parses; probes, Redis sessions, secrets, Service,
//!   Ingress annotations and the ingress-nginx settings for the client address fit together;
//! - every Sekisho configuration file shipped here passes `sekisho check`, and every nginx
//!   configuration in `config/nginx/` passes `nginx -t`.
//!
//! `docker-compose` comes from PyPI (`./scripts/test` installs it in target/tools/); without
//! it the compose test fails, saying how to install it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ipnet::IpNet;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SEKISHO: &str = env!("CARGO_BIN_EXE_sekisho");

/// The identity headers Sekisho answers with, which a proxy must pass on.
const IDENTITY_HEADERS: &[&str] = &[
    "X-Auth-Request-User",
    "X-Auth-Request-Email",
    "X-Auth-Request-Groups",
    "X-Auth-Request-Preferred-Username",
    "X-Auth-Request-Email-Verified",
];

fn path(relative: &str) -> PathBuf {
    Path::new(ROOT).join(relative)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(path(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

fn yaml(relative: &str) -> Yaml {
    serde_yaml::from_str(&read(relative))
        .unwrap_or_else(|e| panic!("{relative} is not valid YAML: {e}"))
}

/// Every document of a (multi-document) YAML file.
fn yaml_documents(relative: &str) -> Vec<Yaml> {
    let text = read(relative);
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| {
            serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("{relative} is not valid YAML: {e}"))
        })
        .filter(|doc: &Yaml| !doc.is_null())
        .collect()
}

fn realm() -> Json {
    serde_json::from_str(&read("config/keycloak/demo-realm.json"))
        .unwrap_or_else(|e| panic!("config/keycloak/demo-realm.json is not valid JSON: {e}"))
}

fn toml_file(relative: &str) -> toml::Table {
    toml::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative} is not valid TOML: {e}"))
}

/// `value` at a dotted path of a TOML table, as a string.
fn toml_str<'a>(table: &'a toml::Table, dotted: &str) -> &'a str {
    let mut parts = dotted.split('.').peekable();
    let mut current = table;
    while let Some(part) = parts.next() {
        let value = current
            .get(part)
            .unwrap_or_else(|| panic!("no `{dotted}` in the configuration"));
        if parts.peek().is_none() {
            return value
                .as_str()
                .unwrap_or_else(|| panic!("`{dotted}` is not a string"));
        }
        current = value
            .as_table()
            .unwrap_or_else(|| panic!("`{dotted}`: `{part}` is not a section"));
    }
    unreachable!("a dotted path has at least one part")
}

fn str_at<'a>(value: &'a Yaml, keys: &[&str]) -> &'a str {
    let mut current = value;
    for key in keys {
        current = &current[*key];
    }
    current
        .as_str()
        .unwrap_or_else(|| panic!("no string at {keys:?} in {value:?}"))
}

/// A service's `environment`, as a map (compose allows a map or a list of `K=V`).
fn environment(service: &Yaml) -> BTreeMap<String, String> {
    match &service["environment"] {
        Yaml::Mapping(map) => map
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Yaml::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                };
                (k.as_str().unwrap_or_default().to_owned(), value)
            })
            .collect(),
        Yaml::Sequence(list) => list
            .iter()
            .filter_map(|item| item.as_str()?.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// `${VAR:-default}` → `default`, as compose interpolates an unset variable.
fn compose_default(value: &str) -> String {
    match value
        .strip_prefix("${")
        .and_then(|v| v.strip_suffix('}'))
        .and_then(|v| v.split_once(":-"))
    {
        Some((_, default)) => default.to_owned(),
        None => value.to_owned(),
    }
}

/// `sekisho check --config FILE` with exactly `env` as its SEKISHO_ environment.
fn sekisho_check(config: &Path, env: &BTreeMap<String, String>) -> Output {
    let mut command = Command::new(SEKISHO);
    command.arg("check").arg("--config").arg(config);
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("SEKISHO_")) {
        command.env_remove(name);
    }
    command.env_remove("RUST_LOG");
    for (name, value) in env {
        command.env(name, value);
    }
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {SEKISHO}: {e}"))
}

fn assert_check_passes(what: &str, config: &Path, env: &BTreeMap<String, String>) {
    let out = sekisho_check(config, env);
    assert!(
        out.status.success(),
        "{what}: `sekisho check` should accept it with the environment it runs with ({env:?}); it said:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// --- docker-compose.yml ---------------------------------------------------------------------

/// `docker-compose`: `$DOCKER_COMPOSE`, the copy `./scripts/test` installs, or `$PATH`.
fn docker_compose() -> PathBuf {
    if let Some(path) = std::env::var_os("DOCKER_COMPOSE").map(PathBuf::from) {
        return path;
    }
    let installed = path("target/tools/docker-compose/bin/docker-compose");
    if installed.is_file() {
        return installed;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("docker-compose"))
            .find(|p| p.is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "docker-compose not found (looked at $DOCKER_COMPOSE, {} and $PATH). It validates \
             docker-compose.yml without a Docker engine: run ./scripts/test, which installs it \
             from PyPI into target/tools/docker-compose (see tests/tools/docker-compose.txt), \
             or set DOCKER_COMPOSE",
            installed.display()
        )
    })
}

fn run_compose_config(file: &Path) -> Output {
    Command::new(docker_compose())
        .arg("--file")
        .arg(file)
        .arg("--project-directory")
        .arg(ROOT)
        .args(["config", "--quiet"])
        .env_remove("SEKISHO_SESSION__SECRET")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker-compose: {e}"))
}

#[test]
fn docker_compose_accepts_the_compose_file_and_refuses_a_broken_one() {
    let out = run_compose_config(&path("docker-compose.yml"));
    assert!(
        out.status.success(),
        "`docker-compose config` should accept docker-compose.yml; it said:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The same file with a condition compose does not know: refused, so the check is real.
    let broken = read("docker-compose.yml").replace("service_healthy", "service_happy");
    let dir = tempfile::tempdir().expect("temporary directory");
    let broken_file = dir.path().join("docker-compose.yml");
    std::fs::write(&broken_file, broken).expect("write the broken copy");
    let out = run_compose_config(&broken_file);
    assert!(
        !out.status.success(),
        "`docker-compose config` should refuse a depends_on condition `service_happy`; it accepted it"
    );
}

#[test]
fn the_compose_services_fit_together() {
    let compose = yaml("docker-compose.yml");
    let services = compose["services"]
        .as_mapping()
        .expect("docker-compose.yml has services");
    let names: BTreeSet<&str> = services.keys().filter_map(Yaml::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from(["app", "keycloak", "nginx", "redis", "sekisho"]),
        "the demo's services"
    );

    // Every dependency waited for as healthy has a health check; every dependency exists.
    for (name, service) in services {
        let name = name.as_str().unwrap_or_default();
        if let Some(deps) = service["depends_on"].as_mapping() {
            for (dep, how) in deps {
                let dep = dep.as_str().unwrap_or_default();
                assert!(
                    names.contains(dep),
                    "{name} depends on an unknown service {dep}"
                );
                if how["condition"].as_str() == Some("service_healthy") {
                    assert!(
                        services[dep]["healthcheck"]["test"].is_sequence(),
                        "{name} waits for {dep} to be healthy, but {dep} has no health check"
                    );
                }
            }
        }
        // Every file or directory it mounts from the repository exists.
        for volume in service["volumes"].as_sequence().into_iter().flatten() {
            let source = volume
                .as_str()
                .and_then(|v| v.split(':').next())
                .unwrap_or_default();
            if let Some(relative) = source.strip_prefix("./") {
                assert!(
                    path(relative).exists(),
                    "{name} mounts {source}, which does not exist"
                );
            }
        }
    }
    for (service, dep) in [
        ("sekisho", "keycloak"),
        ("sekisho", "redis"),
        ("keycloak", "nginx"),
    ] {
        assert!(
            !services[service]["depends_on"][dep].is_null(),
            "{service} should wait for {dep}"
        );
    }
    assert_eq!(
        services["sekisho"]["depends_on"]["keycloak"]["condition"].as_str(),
        Some("service_healthy"),
        "Sekisho should start once Keycloak is ready (its realm imported)"
    );

    // Sekisho: built from the Dockerfile, the demo configuration, sessions in Redis.
    let sekisho = &services["sekisho"];
    assert_eq!(
        sekisho["build"].as_str(),
        Some("."),
        "Sekisho is built from ./Dockerfile"
    );
    assert!(path("Dockerfile").is_file(), "Dockerfile exists");
    let env = environment(sekisho);
    assert_eq!(
        env.get("SEKISHO_SESSION__STORE").map(String::as_str),
        Some("redis")
    );
    assert_eq!(
        env.get("SEKISHO_SESSION__REDIS_URL").map(String::as_str),
        Some("redis://redis:6379/0")
    );
    let realm = realm();
    assert_eq!(
        env.get("SEKISHO_OIDC__CLIENT_SECRET").map(String::as_str),
        client(&realm, "sekisho")["secret"].as_str(),
        "Sekisho's client secret is the one of the realm's `sekisho` client"
    );
    let mounted = sekisho["volumes"][0].as_str().unwrap_or_default();
    assert_eq!(
        mounted.split(':').take(2).collect::<Vec<_>>(),
        ["./config/demo/sekisho.toml", "/etc/sekisho/sekisho.toml"],
        "Sekisho runs config/demo/sekisho.toml"
    );
    let command: Vec<&str> = sekisho["command"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(command, ["serve", "--config", "/etc/sekisho/sekisho.toml"]);

    // One network namespace for nginx, Keycloak and Sekisho (docker-compose.yml says why).
    for name in ["keycloak", "sekisho"] {
        assert_eq!(
            services[name]["network_mode"].as_str(),
            Some("service:nginx"),
            "{name} shares nginx's network namespace"
        );
    }
    let config = toml_file("config/demo/sekisho.toml");
    let public_url = url::Url::parse(toml_str(&config, "public_url")).expect("public_url");
    let issuer = url::Url::parse(toml_str(&config, "oidc.issuer_url")).expect("issuer_url");
    let ports: Vec<&str> = services["nginx"]["ports"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(Yaml::as_str)
        .collect();
    for url in [&public_url, &issuer] {
        let port = url.port().expect("the demo's URLs name their ports");
        assert!(
            ports.contains(&format!("127.0.0.1:{port}:{port}").as_str()),
            "nginx should publish {url}'s port {port} on 127.0.0.1; it publishes {ports:?}"
        );
    }

    // Keycloak: dev mode, the realm imported, the issuer Sekisho asks for, the admin login.
    let keycloak = &services["keycloak"];
    // The version the tests run (scripts/keycloak), so compose runs what was tested.
    let script = read("scripts/keycloak");
    let tested = script
        .lines()
        .find_map(|line| line.strip_prefix("VERSION="))
        .expect("scripts/keycloak pins VERSION=");
    assert_eq!(
        str_at(keycloak, &["image"]),
        format!("quay.io/keycloak/keycloak:{tested}"),
        "the official Keycloak image, at the version scripts/keycloak pins for the tests"
    );
    let command: Vec<&str> = keycloak["command"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(command, ["start-dev", "--import-realm"]);
    assert!(
        keycloak["volumes"]
            .as_sequence()
            .into_iter()
            .flatten()
            .any(|v| v.as_str() == Some("./config/keycloak:/opt/keycloak/data/import:ro")),
        "Keycloak imports config/keycloak/"
    );
    let kc_env = environment(keycloak);
    assert_eq!(
        kc_env.get("KC_HOSTNAME").map(String::as_str),
        Some(issuer.origin().ascii_serialization().as_str()),
        "Keycloak's hostname is the origin of the issuer Sekisho is configured with"
    );
    let readme = read("README.md");
    let admin = (
        kc_env["KC_BOOTSTRAP_ADMIN_USERNAME"].as_str(),
        kc_env["KC_BOOTSTRAP_ADMIN_PASSWORD"].as_str(),
    );
    assert!(
        readme.contains(&format!("{} / {}", admin.0, admin.1)),
        "the README gives Keycloak's admin login ({} / {})",
        admin.0,
        admin.1
    );
    assert!(
        readme.contains(public_url.as_str())
            && readme.contains(&format!("{}/admin/", issuer.origin().ascii_serialization())),
        "the README names the demo's URLs ({public_url} and Keycloak's admin console)"
    );

    // nginx runs config/nginx/saml.conf with every placeholder filled.
    let nginx_command = services["nginx"]["command"]
        .as_sequence()
        .and_then(|c| c.last())
        .and_then(Yaml::as_str)
        .expect("nginx's command renders its configuration");
    assert!(
        nginx_command.contains("/etc/sekisho/nginx/saml.conf"),
        "nginx renders config/nginx/saml.conf: {nginx_command}"
    );
    for placeholder in placeholders(&read("config/nginx/saml.conf")) {
        assert!(
            nginx_command.contains(&format!("s|{{{{{placeholder}}}}}|")),
            "nginx's command should fill {{{{{placeholder}}}}}: {nginx_command}"
        );
    }
    assert!(
        nginx_command.contains(&format!(
            "s|{{{{SEKISHO}}}}|{}|",
            toml_str(&config, "listen")
        )),
        "nginx should reach Sekisho on its `listen` address: {nginx_command}"
    );
    assert!(
        nginx_command.contains(&format!(
            "s|{{{{LISTEN}}}}|{}|",
            public_url.port().unwrap_or(80)
        )),
        "nginx should listen on public_url's port: {nginx_command}"
    );

    // The app is the image's whoami, on the port nginx passes requests to.
    let app = &services["app"];
    assert_eq!(app["build"].as_str(), Some("."));
    assert_eq!(
        app["entrypoint"][0].as_str(),
        Some("/usr/local/bin/whoami"),
        "the app is examples/whoami.rs from the image"
    );
    assert!(
        nginx_command.contains("s|{{UPSTREAM}}|app:8000|")
            && app["command"][0].as_str() == Some("0.0.0.0:8000"),
        "nginx passes requests to the app on the port it listens on"
    );
}

#[test]
fn the_demo_configuration_passes_sekisho_check_as_compose_and_the_script_run_it() {
    let compose = yaml("docker-compose.yml");
    let env: BTreeMap<String, String> = environment(&compose["services"]["sekisho"])
        .into_iter()
        .map(|(k, v)| (k, compose_default(&v)))
        .collect();
    let config = path("config/demo/sekisho.toml");
    assert_check_passes(
        "config/demo/sekisho.toml under docker compose",
        &config,
        &env,
    );

    // ./scripts/demo sets these (with its own ports): every one must be a key Sekisho knows.
    let script = read("scripts/demo");
    let mut script_env = BTreeMap::new();
    for line in script.lines() {
        let line = line.trim().trim_end_matches('\\').trim();
        if let Some((name, _)) = line.split_once('=') {
            if name.starts_with("SEKISHO_") && !name.contains(' ') {
                script_env.insert(name.to_owned(), String::new());
            }
        }
    }
    for name in [
        "SEKISHO_LISTEN",
        "SEKISHO_PUBLIC_URL",
        "SEKISHO_OIDC__ISSUER_URL",
        "SEKISHO_SAML__IDP_METADATA_URL",
        "SEKISHO_SAML__SP_ENTITY_ID",
        "SEKISHO_SESSION__SECRET",
        "SEKISHO_SESSION__STORE",
        "SEKISHO_SESSION__REDIS_URL",
    ] {
        assert!(
            script_env.contains_key(name),
            "scripts/demo should set {name}; it sets {:?}",
            script_env.keys()
        );
    }
    let loopback = BTreeMap::from([
        ("SEKISHO_SESSION__SECRET".to_owned(), "x".repeat(32)),
        (
            "SEKISHO_OIDC__CLIENT_SECRET".to_owned(),
            "sekisho-secret".to_owned(),
        ),
        ("SEKISHO_LISTEN".to_owned(), "127.0.0.1:4180".to_owned()),
        (
            "SEKISHO_PUBLIC_URL".to_owned(),
            "http://127.0.0.1:8000".to_owned(),
        ),
        ("SEKISHO_SHUTDOWN_TIMEOUT".to_owned(), "2s".to_owned()),
        ("SEKISHO_SESSION__STORE".to_owned(), "redis".to_owned()),
        (
            "SEKISHO_SESSION__REDIS_URL".to_owned(),
            "redis://127.0.0.1:6380/0".to_owned(),
        ),
        (
            "SEKISHO_OIDC__ISSUER_URL".to_owned(),
            "http://127.0.0.1:8080/realms/demo".to_owned(),
        ),
        (
            "SEKISHO_SAML__IDP_METADATA_URL".to_owned(),
            "http://127.0.0.1:8080/realms/demo/protocol/saml/descriptor".to_owned(),
        ),
        (
            "SEKISHO_SAML__SP_ENTITY_ID".to_owned(),
            "http://127.0.0.1:8000/saml/metadata".to_owned(),
        ),
    ]);
    for name in script_env.keys() {
        assert!(
            loopback.contains_key(name),
            "scripts/demo sets {name}: add it to this check"
        );
    }
    assert_check_passes(
        "config/demo/sekisho.toml under scripts/demo",
        &config,
        &loopback,
    );
}

/// The `{{NAME}}` placeholders of an nginx template, outside comments.
fn placeholders(template: &str) -> BTreeSet<String> {
    template
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| {
            l.match_indices("{{")
                .filter_map(|(i, _)| Some(l[i + 2..].split_once("}}")?.0.to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

// --- Dockerfile -----------------------------------------------------------------------------

#[test]
fn the_image_is_multi_stage_unprivileged_and_has_the_libraries_sekisho_links() {
    let dockerfile = read("Dockerfile");
    // Lines joined across trailing backslashes.
    let joined = dockerfile.replace("\\\n", " ");
    let lines: Vec<&str> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let stages: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("FROM "))
        .map(|(i, _)| i)
        .collect();
    assert!(
        stages.len() >= 2,
        "the Dockerfile is multi-stage: {stages:?}"
    );
    let (build, runtime) = (
        &lines[stages[0]..stages[1]],
        &lines[*stages.last().expect("a stage")..],
    );
    let installs = |stage: &[&str]| -> BTreeSet<String> {
        stage
            .iter()
            .filter_map(|l| l.split("apt-get install").nth(1))
            .flat_map(|rest| {
                rest.split("&&")
                    .next()
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter(|w| !w.starts_with('-'))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let build_packages = installs(build);
    for package in [
        "libxmlsec1-dev",
        "libxml2-dev",
        "libclang-dev",
        "pkg-config",
        "libssl-dev",
    ] {
        assert!(
            build_packages.contains(package),
            "the build stage installs {package}: {build_packages:?}"
        );
    }
    let user = runtime
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the runtime stage sets USER");
    let uid = user.split(':').next().unwrap_or_default();
    assert!(
        uid != "0" && uid != "root",
        "the runtime stage runs as an unprivileged user, not {user}"
    );
    for (from, to) in [
        ("/src/target/release/sekisho", "/usr/local/bin/sekisho"),
        (
            "/src/target/release/examples/whoami",
            "/usr/local/bin/whoami",
        ),
    ] {
        assert!(
            runtime
                .iter()
                .any(|l| l.starts_with("COPY --from=build") && l.contains(from) && l.ends_with(to)),
            "the runtime stage copies {from} to {to}"
        );
    }
    assert!(
        runtime.contains(&"ENTRYPOINT [\"/usr/local/bin/sekisho\"]"),
        "the image runs sekisho"
    );

    // Each library the binary needs (its NEEDED entries) comes from a Debian package the
    // runtime stage installs, or that every Debian image has.
    let runtime_packages = installs(runtime);
    let base = BTreeSet::from(["libc6", "libgcc-s1"]);
    for (library, package) in linked_packages(Path::new(SEKISHO)) {
        assert!(
            runtime_packages.contains(&package) || base.contains(package.as_str()),
            "sekisho links {library} from the Debian package {package}, which the runtime stage \
             of the Dockerfile does not install ({runtime_packages:?})"
        );
    }
}

/// (library, Debian package) for every NEEDED entry of `binary`, through readelf, ldd and dpkg.
fn linked_packages(binary: &Path) -> Vec<(String, String)> {
    let run = |program: &str, args: &[&str]| -> String {
        let out = Command::new(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run {program} ({e}): `apt-get install binutils` (readelf) or libc-bin (ldd)")
            });
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let binary = binary.to_str().expect("UTF-8 path");
    let needed: Vec<String> = run("readelf", &["-d", binary])
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split('[').nth(1)?.trim_end_matches(']').to_owned()))
        .collect();
    assert!(
        needed.iter().any(|l| l.starts_with("libxmlsec1")),
        "test premise: sekisho links libxmlsec1 ({needed:?})"
    );
    let ldd = run("ldd", &[binary]);
    needed
        .into_iter()
        .filter(|library| !library.starts_with("ld-linux"))
        .map(|library| {
            let resolved = ldd
                .lines()
                .find_map(|l| {
                    let (name, rest) = l.trim().split_once(" => ")?;
                    (name == library)
                        .then(|| rest.split(" (").next().unwrap_or_default().to_owned())
                })
                .unwrap_or_else(|| panic!("ldd does not resolve {library}:\n{ldd}"));
            let real =
                std::fs::canonicalize(&resolved).unwrap_or_else(|_| PathBuf::from(&resolved));
            let candidates = [
                resolved.clone(),
                format!("/usr{resolved}"),
                real.display().to_string(),
            ];
            let package = candidates
                .iter()
                .find_map(|candidate| {
                    let out = Command::new("dpkg").args(["-S", candidate]).output().ok()?;
                    out.status.success().then(|| {
                        String::from_utf8_lossy(&out.stdout)
                            .split(':')
                            .next()
                            .unwrap_or_default()
                            .trim()
                            .to_owned()
                    })
                })
                .unwrap_or_else(|| panic!("no Debian package owns {resolved} ({library})"));
            (library, package)
        })
        .collect()
}

// --- Keycloak realm -------------------------------------------------------------------------

fn client<'a>(realm: &'a Json, client_id: &str) -> &'a Json {
    realm["clients"]
        .as_array()
        .and_then(|clients| clients.iter().find(|c| c["clientId"] == client_id))
        .unwrap_or_else(|| panic!("the realm has no client {client_id}"))
}

fn user<'a>(realm: &'a Json, username: &str) -> &'a Json {
    realm["users"]
        .as_array()
        .and_then(|users| users.iter().find(|u| u["username"] == username))
        .unwrap_or_else(|| panic!("the realm has no user {username}"))
}

fn mapper<'a>(client: &'a Json, name: &str) -> &'a Json {
    client["protocolMappers"]
        .as_array()
        .and_then(|mappers| mappers.iter().find(|m| m["name"] == name))
        .unwrap_or_else(|| panic!("client {} has no mapper {name}", client["clientId"]))
}

fn strings(value: &Json) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn the_realm_has_the_users_clients_and_mappers_the_demo_uses() {
    let realm = realm();
    let config = toml_file("config/demo/sekisho.toml");
    let public_url = toml_str(&config, "public_url");
    assert_eq!(realm["realm"], "demo");
    assert!(
        toml_str(&config, "oidc.issuer_url").ends_with("/realms/demo")
            && toml_str(&config, "saml.idp_metadata_url")
                .ends_with("/realms/demo/protocol/saml/descriptor"),
        "Sekisho's demo configuration points at the realm `demo`"
    );
    let groups: Vec<&str> = realm["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["path"].as_str())
        .collect();
    assert_eq!(groups, ["/admins", "/dev"]);
    let realm_roles: Vec<&str> = realm["roles"]["realm"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(
        realm_roles.contains(&"admin"),
        "realm role admin: {realm_roles:?}"
    );

    // The users of the README, with the passwords of the end-to-end tests' providers.
    let readme = read("README.md");
    for (name, password, group) in [
        ("alice", "alice-password", "/admins"),
        ("bob", "bob-password", "/dev"),
    ] {
        let u = user(&realm, name);
        assert_eq!(u["enabled"], true, "{name} is enabled");
        assert_eq!(u["email"], format!("{name}@example.com"));
        assert_eq!(strings(&u["groups"]), [group], "{name}'s groups");
        let credential = &u["credentials"][0];
        assert_eq!(
            (
                credential["type"].as_str(),
                credential["value"].as_str(),
                credential["temporary"].as_bool()
            ),
            (Some("password"), Some(password), Some(false)),
            "{name}'s password"
        );
        assert!(
            readme.contains(&format!("{name} / {password}")),
            "the README gives {name}'s login ({name} / {password})"
        );
    }
    assert!(
        strings(&user(&realm, "alice")["realmRoles"]).contains(&"admin"),
        "alice has the realm role admin"
    );
    assert!(
        !strings(&user(&realm, "bob")["realmRoles"]).contains(&"admin"),
        "bob is no admin"
    );
    for name in ["alice", "bob"] {
        let peer = read("tests/peers/oidc/server.js");
        let id = user(&realm, name)["id"].as_str().expect("user id");
        assert!(
            peer.contains(id),
            "{name}'s id ({id}) is the `sub` of the test OpenID provider's {name}"
        );
    }

    // The OpenID Connect client Sekisho uses.
    let oidc = client(&realm, toml_str(&config, "oidc.client_id"));
    assert_eq!(oidc["protocol"], "openid-connect");
    assert_eq!(oidc["publicClient"], false, "a confidential client");
    assert_eq!(oidc["clientAuthenticatorType"], "client-secret");
    assert_eq!(oidc["standardFlowEnabled"], true);
    assert_eq!(
        strings(&oidc["redirectUris"]),
        [format!("{public_url}/oauth2/callback").as_str()]
    );
    let backchannel = oidc["attributes"]["backchannel.logout.url"]
        .as_str()
        .expect("back-channel logout URL");
    assert_eq!(
        backchannel,
        format!(
            "http://{}/oauth2/backchannel_logout",
            toml_str(&config, "listen")
        ),
        "Keycloak reaches Sekisho's back-channel logout where Sekisho listens (same network namespace)"
    );
    assert_eq!(oidc["attributes"]["pkce.code.challenge.method"], "S256");
    let groups_mapper = mapper(oidc, "groups");
    assert_eq!(
        groups_mapper["protocolMapper"],
        "oidc-group-membership-mapper"
    );
    assert_eq!(groups_mapper["config"]["claim.name"], "groups");
    assert_eq!(groups_mapper["config"]["full.path"], "true");
    assert_eq!(groups_mapper["config"]["id.token.claim"], "true");

    // The SAML client: its client ID is Sekisho's SP entity ID.
    let saml = client(&realm, toml_str(&config, "saml.sp_entity_id"));
    assert_eq!(saml["protocol"], "saml");
    let attributes = &saml["attributes"];
    for (key, value) in [
        ("saml_name_id_format", "persistent".to_owned()),
        ("saml_force_name_id_format", "true".to_owned()),
        ("saml.server.signature", "true".to_owned()),
        ("saml.signature.algorithm", "RSA_SHA256".to_owned()),
        ("saml.client.signature", "false".to_owned()),
        (
            "saml_assertion_consumer_url_post",
            format!("{public_url}/saml/acs"),
        ),
        (
            "saml_single_logout_service_url_redirect",
            format!("{public_url}/saml/slo"),
        ),
    ] {
        assert_eq!(
            attributes[key].as_str(),
            Some(value.as_str()),
            "SAML client attribute {key}"
        );
    }
    let saml_config = config["saml"]["attributes"]
        .as_table()
        .expect("[saml.attributes]");
    for (name, user_attribute) in [
        ("email", "email"),
        ("username", "username"),
        ("first_name", "firstName"),
        ("last_name", "lastName"),
    ] {
        let m = mapper(saml, name);
        assert_eq!(
            m["protocolMapper"], "saml-user-property-mapper",
            "mapper {name}"
        );
        assert_eq!(
            m["config"]["user.attribute"], user_attribute,
            "mapper {name}"
        );
        assert_eq!(m["config"]["attribute.name"], name, "mapper {name}");
        assert_eq!(
            m["config"]["attribute.nameformat"], "Basic",
            "mapper {name}"
        );
    }
    let groups_mapper = mapper(saml, "groups");
    assert_eq!(
        groups_mapper["protocolMapper"],
        "saml-group-membership-mapper"
    );
    assert_eq!(groups_mapper["config"]["attribute.name"], "groups");
    assert_eq!(
        groups_mapper["config"]["single"], "false",
        "one value per group"
    );
    assert_eq!(groups_mapper["config"]["full.path"], "true");
    // Sekisho reads attributes the mappers send.
    for (field, attribute) in saml_config {
        let attribute = attribute.as_str().unwrap_or_default();
        assert!(
            saml["protocolMappers"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m["config"]["attribute.name"] == attribute),
            "Sekisho reads saml.attributes.{field} from `{attribute}`, which no mapper of the SAML client sends"
        );
    }
}

// --- Kubernetes -----------------------------------------------------------------------------

/// Every manifest in deploy/kubernetes, by (kind, name).
fn manifests() -> BTreeMap<(String, String), Yaml> {
    let mut all = BTreeMap::new();
    let dir = path("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/kubernetes")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "deploy/kubernetes has manifests");
    for file in files {
        let relative = file
            .strip_prefix(ROOT)
            .expect("in the repository")
            .to_str()
            .expect("UTF-8");
        for doc in yaml_documents(relative) {
            let kind = doc["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{relative}: a document without kind"));
            let name = doc["metadata"]["name"].as_str().unwrap_or_default();
            assert!(
                doc["apiVersion"].is_string(),
                "{relative}: {kind} {name} has no apiVersion"
            );
            all.insert((kind.to_owned(), name.to_owned()), doc);
        }
    }
    all
}

fn manifest<'a>(all: &'a BTreeMap<(String, String), Yaml>, kind: &str, name: &str) -> &'a Yaml {
    all.get(&(kind.to_owned(), name.to_owned()))
        .unwrap_or_else(|| panic!("deploy/kubernetes has no {kind} {name}"))
}

#[test]
fn the_kubernetes_manifests_fit_together() {
    let all = manifests();
    let kustomization = yaml("deploy/kubernetes/kustomization.yaml");
    let namespace = str_at(&kustomization, &["namespace"]);
    let listed: BTreeSet<&str> = kustomization["resources"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(Yaml::as_str)
        .collect();
    for file in &listed {
        assert!(
            path("deploy/kubernetes").join(file).is_file(),
            "kustomization.yaml lists {file}, which does not exist"
        );
    }
    for entry in std::fs::read_dir(path("deploy/kubernetes"))
        .expect("dir")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "kustomization.yaml" && name != "ingress-nginx-controller.yaml" {
            assert!(
                listed.contains(name.as_str()),
                "kustomization.yaml should list {name}"
            );
        }
    }

    // The Deployment: two replicas, probes, secrets from the Secret, sessions in Redis.
    let deployment = manifest(&all, "Deployment", "sekisho");
    assert_eq!(deployment["spec"]["replicas"].as_u64(), Some(2));
    let pod = &deployment["spec"]["template"];
    let container = &pod["spec"]["containers"][0];
    let port = &container["ports"][0];
    let (port_name, container_port) = (str_at(port, &["name"]), port["containerPort"].as_u64());
    for (probe, path) in [("livenessProbe", "/ping"), ("readinessProbe", "/ready")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"].as_str(), Some(path), "{probe} asks {path}");
        assert!(
            get["port"].as_str() == Some(port_name) || get["port"].as_u64() == container_port,
            "{probe} asks the container's port"
        );
    }
    let env: BTreeMap<&str, &Yaml> = container["env"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|e| (str_at(e, &["name"]), e))
        .collect();
    assert_eq!(
        env["SEKISHO_SESSION__STORE"]["value"].as_str(),
        Some("redis")
    );
    let redis_url = url::Url::parse(str_at(env["SEKISHO_SESSION__REDIS_URL"], &["value"]))
        .expect("a Redis URL");
    let redis = manifest(&all, "Service", redis_url.host_str().unwrap_or_default());
    assert_eq!(
        redis["spec"]["ports"][0]["port"].as_u64(),
        redis_url.port().map(u64::from),
        "the Redis Service answers on the URL's port"
    );
    let secret = manifest(&all, "Secret", "sekisho");
    let mut secret_env = BTreeMap::new();
    for name in ["SEKISHO_SESSION__SECRET", "SEKISHO_OIDC__CLIENT_SECRET"] {
        let reference = &env
            .get(name)
            .unwrap_or_else(|| panic!("the Deployment sets {name}"))["valueFrom"]["secretKeyRef"];
        assert_eq!(
            reference["name"].as_str(),
            Some("sekisho"),
            "{name} comes from the Secret"
        );
        let key = str_at(reference, &["key"]);
        let value = secret["stringData"][key]
            .as_str()
            .unwrap_or_else(|| panic!("the Secret has no key {key} for {name}"));
        secret_env.insert(name.to_owned(), value.to_owned());
    }
    let security = &pod["spec"]["securityContext"];
    assert_eq!(
        security["runAsNonRoot"].as_bool(),
        Some(true),
        "pods run as non-root"
    );
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"].as_bool(),
        Some(false)
    );

    // The configuration file: mounted where the container reads it, and valid.
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(Yaml::as_str)
        .collect();
    let config_path = args
        .iter()
        .skip_while(|a| **a != "--config")
        .nth(1)
        .expect("the container is given --config");
    let mount = container["volumeMounts"]
        .as_sequence()
        .into_iter()
        .flatten()
        .find(|m| config_path.starts_with(str_at(m, &["mountPath"])))
        .expect("the configuration is mounted");
    let volume = pod["spec"]["volumes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == mount["name"])
        .expect("the mounted volume");
    let configmap = manifest(&all, "ConfigMap", str_at(volume, &["configMap", "name"]));
    let file_name = Path::new(config_path)
        .file_name()
        .and_then(|n| n.to_str())
        .expect("file");
    let config_text = str_at(configmap, &["data", file_name]);
    let config: toml::Table =
        toml::from_str(config_text).expect("the ConfigMap's sekisho.toml is TOML");
    let listen: SocketAddr = toml_str(&config, "listen").parse().expect("listen");
    assert_eq!(
        Some(u64::from(listen.port())),
        container_port,
        "Sekisho listens on the container port"
    );
    assert!(
        listen.ip().is_unspecified(),
        "Sekisho listens on every pod address"
    );
    let dir = tempfile::tempdir().expect("temporary directory");
    let config_file = dir.path().join(file_name);
    std::fs::write(&config_file, config_text).expect("write the configuration");
    let mut check_env: BTreeMap<String, String> = env
        .iter()
        .filter_map(|(name, e)| Some(((*name).to_owned(), e["value"].as_str()?.to_owned())))
        .collect();
    check_env.append(&mut secret_env);
    check_env.insert("SEKISHO_SESSION__SECRET".into(), "k".repeat(40));
    assert_check_passes("the ConfigMap's sekisho.toml", &config_file, &check_env);

    // The Service in front of the pods.
    let service = manifest(&all, "Service", "sekisho");
    let labels = pod["metadata"]["labels"].as_mapping().expect("pod labels");
    for (key, value) in service["spec"]["selector"]
        .as_mapping()
        .expect("a selector")
    {
        assert_eq!(labels.get(key), Some(value), "the Service selects the pods");
    }
    let service_port = &service["spec"]["ports"][0];
    assert!(
        service_port["targetPort"].as_str() == Some(port_name)
            || service_port["targetPort"].as_u64() == container_port,
        "the Service sends to the container port"
    );

    // The Ingresses: Sekisho's own paths, and the app asking Sekisho about every request.
    let public_url = url::Url::parse(toml_str(&config, "public_url")).expect("public_url");
    let host = public_url.host_str().expect("a host");
    let own = manifest(&all, "Ingress", "sekisho");
    let rule = &own["spec"]["rules"][0];
    assert_eq!(
        rule["host"].as_str(),
        Some(host),
        "Sekisho's paths on public_url's host"
    );
    let paths: BTreeMap<&str, &Yaml> = rule["http"]["paths"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|p| (str_at(p, &["path"]), p))
        .collect();
    for prefix in ["/oauth2", "/saml"] {
        let p = paths
            .get(prefix)
            .unwrap_or_else(|| panic!("the Ingress routes {prefix}"));
        assert_eq!(p["backend"]["service"]["name"].as_str(), Some("sekisho"));
        assert_eq!(p["pathType"].as_str(), Some("Prefix"));
    }
    assert!(
        own["metadata"]["annotations"]["nginx.ingress.kubernetes.io/auth-url"].is_null(),
        "Sekisho's own paths are not behind auth-url (the sign-in would loop)"
    );
    let app = manifest(&all, "Ingress", "app");
    assert_eq!(app["spec"]["rules"][0]["host"].as_str(), Some(host));
    let annotation = |name: &str| {
        app["metadata"]["annotations"][format!("nginx.ingress.kubernetes.io/{name}").as_str()]
            .as_str()
            .unwrap_or_else(|| panic!("the app's Ingress has the annotation {name}"))
    };
    assert_eq!(
        annotation("auth-url"),
        format!(
            "http://sekisho.{namespace}.svc.cluster.local:{}/oauth2/auth",
            service_port["port"].as_u64().unwrap_or_default()
        ),
        "auth-url is the Service's /oauth2/auth"
    );
    assert_eq!(
        annotation("auth-signin"),
        "https://$host/oauth2/start?rd=$escaped_request_uri"
    );
    let passed: Vec<&str> = annotation("auth-response-headers")
        .split(',')
        .map(str::trim)
        .collect();
    assert_eq!(
        passed, IDENTITY_HEADERS,
        "auth-response-headers: the identity headers"
    );

    // ingress-nginx keeps the client address, and Sekisho trusts exactly its proxies.
    let controller = manifest(&all, "ConfigMap", "ingress-nginx-controller");
    assert_eq!(
        str_at(controller, &["data", "use-forwarded-headers"]),
        "true"
    );
    assert_eq!(
        str_at(controller, &["data", "compute-full-forwarded-for"]),
        "true"
    );
    let trusted: Vec<IpNet> = config["client_ip"]["trusted_proxies"]
        .as_array()
        .expect("client_ip.trusted_proxies")
        .iter()
        .map(|v| v.as_str().and_then(|s| s.parse().ok()).expect("a CIDR"))
        .collect();
    for cidr in str_at(controller, &["data", "proxy-real-ip-cidr"]).split(',') {
        let cidr: IpNet = cidr.trim().parse().expect("proxy-real-ip-cidr holds CIDRs");
        assert!(
            trusted.iter().any(|t| t.contains(&cidr)),
            "the load balancer ingress-nginx trusts ({cidr}) is in Sekisho's trusted_proxies ({trusted:?})"
        );
    }
    assert!(
        trusted
            .iter()
            .any(|t| t.contains(&IpAddr::V4(Ipv4Addr::new(10, 244, 0, 1)))),
        "the pod network ingress-nginx asks from is in Sekisho's trusted_proxies ({trusted:?})"
    );
}

// --- nginx ----------------------------------------------------------------------------------

#[test]
fn every_nginx_configuration_passes_nginx_t() {
    let binary = common::nginx::binary();
    let mut files: Vec<PathBuf> = std::fs::read_dir(path("config/nginx"))
        .expect("config/nginx")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "config/nginx holds the configurations: {files:?}"
    );
    for file in files {
        let template = std::fs::read_to_string(&file).expect("read the template");
        let prefix = tempfile::tempdir().expect("temporary directory");
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 8000));
        let rendered = common::nginx::render(
            &template,
            prefix.path(),
            listen,
            &[
                ("SEKISHO", "127.0.0.1:4180"),
                ("UPSTREAM", "127.0.0.1:8001"),
                ("LOAD_BALANCER", "192.0.2.0/24"),
            ],
        );
        let conf = prefix.path().join("nginx.conf");
        std::fs::write(&conf, rendered).expect("write nginx.conf");
        let out = Command::new(&binary)
            .arg("-t")
            .arg("-p")
            .arg(prefix.path())
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off; master_process off;"])
            .env_remove("NGINX")
            .output()
            .expect("run nginx -t");
        assert!(
            out.status.success(),
            "`nginx -t` refuses {}:\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
