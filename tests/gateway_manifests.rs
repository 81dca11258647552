//! The manifests of deploy/gateway-api and deploy/traefik, without a cluster: every document
//! is valid against the CRDs the Gateway API, Envoy Gateway and Traefik publish (fetched
//! pinned by scripts/crds), the check refuses what the API server would, and every manifest
//! asks Sekisho's Service of deploy/kubernetes at its doors, sending the session cookie.

mod common;

use std::path::{Path, PathBuf};

use common::crd_schema::{Crds, documents};
use sekisho::migrate::annotations::IDENTITY_HEADERS;
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every document of every YAML file under deploy/gateway-api and deploy/traefik, with its
/// file.
fn manifests() -> Vec<(String, Value)> {
    let mut all = Vec::new();
    for dir in ["deploy/gateway-api", "deploy/traefik"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{dir} has manifests");
        for file in files {
            let relative = file.strip_prefix(ROOT).unwrap().display().to_string();
            let text = std::fs::read_to_string(&file).unwrap();
            for doc in documents(&text) {
                all.push((relative.clone(), doc));
            }
        }
    }
    all
}

fn of_kind<'a>(all: &'a [(String, Value)], kind: &str) -> Vec<&'a (String, Value)> {
    all.iter().filter(|(_, d)| d["kind"] == kind).collect()
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn every_manifest_is_valid_against_the_published_crds() {
    let crds = Crds::load();
    let all = manifests();
    for kind in [
        "Gateway",
        "HTTPRoute",
        "SecurityPolicy",
        "ReferenceGrant",
        "Middleware",
        "IngressRoute",
    ] {
        assert!(
            !of_kind(&all, kind).is_empty(),
            "no {kind} among the manifests"
        );
    }
    for (file, doc) in &all {
        crds.assert_valid(file, doc);
    }
}

#[test]
fn validation_refuses_what_the_api_server_would() {
    let crds = Crds::load();
    let all = manifests();
    let route = &of_kind(&all, "HTTPRoute")
        .into_iter()
        .find(|(f, _)| f.ends_with("external-auth.yaml"))
        .expect("external-auth.yaml")
        .1;
    let policy = &of_kind(&all, "SecurityPolicy")
        .into_iter()
        .find(|(f, _)| f.ends_with("envoy-gateway-http.yaml"))
        .expect("envoy-gateway-http.yaml")
        .1;
    let middleware = &of_kind(&all, "Middleware")[0].1;
    assert!(crds.problems(route).is_empty());
    let broken = |doc: &Value, pointer: &str, value: Value| {
        let mut doc = doc.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        doc.pointer_mut(parent)
            .unwrap_or_else(|| panic!("{pointer}"))
            .as_object_mut()
            .unwrap()
            .insert(key.to_owned(), value);
        doc
    };
    let auth = "/spec/rules/0/filters/0/externalAuth";
    let cases = [
        (
            broken(
                route,
                &format!("{auth}/http/allowedHeader"),
                Value::from(vec!["cookie"]),
            ),
            "allowedHeader",
        ),
        (
            broken(route, &format!("{auth}/protocol"), Value::from("HTTPS")),
            "HTTPS",
        ),
        (
            broken(
                route,
                &format!("{auth}/backendRef/port"),
                Value::from(70000),
            ),
            "70000",
        ),
        (
            broken(
                route,
                "/apiVersion",
                Value::from("gateway.networking.k8s.io/v9"),
            ),
            "is not served",
        ),
        (
            broken(route, "/metadata/name", Value::from("App_1")),
            "not a DNS subdomain",
        ),
        (
            broken(route, "/kind", Value::from("Widget")),
            "no CRD for kind Widget",
        ),
        (
            broken(policy, "/spec/extAuth/http/path", Value::from(7)),
            "/spec/extAuth/http/path",
        ),
        (
            broken(
                middleware,
                "/spec/forwardAuth/trustForwardHeader",
                Value::from("yes"),
            ),
            "trustForwardHeader",
        ),
        (
            broken(middleware, "/spec/forwardAuth/adress", Value::from("x")),
            "adress",
        ),
    ];
    for (doc, expected) in cases {
        let problems = crds.problems(&doc);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "expected a problem mentioning {expected:?}, got {problems:?}"
        );
    }
}

/// Sekisho's Service in deploy/kubernetes: (name, namespace, port).
fn sekisho_service() -> (String, String, u64) {
    let read = |f: &str| documents(&std::fs::read_to_string(Path::new(ROOT).join(f)).unwrap());
    let service = &read("deploy/kubernetes/service.yaml")[0];
    let namespace = read("deploy/kubernetes/kustomization.yaml")[0]["namespace"]
        .as_str()
        .unwrap()
        .to_owned();
    (
        service["metadata"]["name"].as_str().unwrap().to_owned(),
        namespace,
        service["spec"]["ports"][0]["port"].as_u64().unwrap(),
    )
}

#[test]
fn the_manifests_ask_sekishos_service_at_its_doors_with_the_session_cookie() {
    let all = manifests();
    let (name, namespace, port) = sekisho_service();
    let is_sekisho = |backend: &Value| backend["name"] == name.as_str() && backend["port"] == port;
    let gateways: Vec<&str> = of_kind(&all, "Gateway")
        .iter()
        .filter_map(|(_, d)| d["metadata"]["name"].as_str())
        .collect();
    let mut doors = 0;
    for (file, route) in of_kind(&all, "HTTPRoute") {
        for parent in route["spec"]["parentRefs"].as_array().unwrap() {
            assert!(
                gateways.contains(&parent["name"].as_str().unwrap()),
                "{file}: {parent}"
            );
        }
        for rule in route["spec"]["rules"].as_array().unwrap() {
            for filter in rule["filters"].as_array().into_iter().flatten() {
                let auth = &filter["externalAuth"];
                assert!(is_sekisho(&auth["backendRef"]), "{file}: {auth}");
                assert_eq!(auth["http"]["path"], "/oauth2/ext_authz", "{file}");
                let sent = strings(&auth["http"]["allowedHeaders"]);
                assert!(
                    sent.contains(&"cookie") && sent.contains(&"x-forwarded-for"),
                    "{file}: {sent:?}"
                );
                for header in strings(&auth["http"]["allowedResponseHeaders"]) {
                    assert!(
                        IDENTITY_HEADERS.contains(&header),
                        "{file}: Sekisho never sends {header}"
                    );
                }
                doors += 1;
            }
        }
    }
    for (file, policy) in of_kind(&all, "SecurityPolicy") {
        let ext_auth = &policy["spec"]["extAuth"];
        let (service, http) = match (ext_auth.get("http"), ext_auth.get("grpc")) {
            (Some(http), None) => (&http["backendRefs"][0], true),
            (None, Some(grpc)) => (&grpc["backendRefs"][0], false),
            _ => panic!("{file}: extAuth needs exactly one of http and grpc"),
        };
        assert!(is_sekisho(service), "{file}: {service}");
        if http {
            assert_eq!(ext_auth["http"]["path"], "/oauth2/ext_authz", "{file}");
            assert!(
                strings(&ext_auth["headersToExtAuth"]).contains(&"cookie"),
                "{file}"
            );
        }
        doors += 1;
    }
    let address = format!("http://{name}.{namespace}.svc.cluster.local:{port}/oauth2/traefik");
    let middlewares: Vec<&str> = of_kind(&all, "Middleware")
        .iter()
        .map(|(file, m)| {
            assert_eq!(
                m["spec"]["forwardAuth"]["address"],
                address.as_str(),
                "{file}"
            );
            doors += 1;
            m["metadata"]["name"].as_str().unwrap()
        })
        .collect();
    for (file, route) in of_kind(&all, "IngressRoute") {
        for rule in route["spec"]["routes"].as_array().unwrap() {
            for m in rule["middlewares"].as_array().into_iter().flatten() {
                assert!(
                    middlewares.contains(&m["name"].as_str().unwrap()),
                    "{file}: {m}"
                );
            }
        }
    }
    assert_eq!(
        doors, 5,
        "two ExternalAuth filters, two SecurityPolicies, one Middleware"
    );
}
