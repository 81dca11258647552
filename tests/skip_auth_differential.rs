//! `skip_auth`, checked against the servers behind Sekisho. Hostile paths, built from the
//! pieces servers read differently (`/`, `//`, `.`, `..`, `%2e`, `%2f`, `%5c`, `\`, `;x`, case,
//! double encoding), are sent without a session through Sekisho's proxy to real nginx (as the
//! app's own server, `merge_slashes on` as by default), and to real Express, werkzeug (Flask's
//! routing and server) and embedded Tomcat apps. Where Sekisho does not skip sign-in it answers
//! 401; where it does, the app answers with the route it matched and its reading of the path,
//! and that must be a route the rule is for; for nginx and Tomcat, which serve the path they
//! normalised, that path must match the rule too.
//!
//! Every path is also asked of each server directly; the paths they route differently are
//! printed (`cargo test --test skip_auth_differential -- --nocapture`).

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use common::http::{Client, Response};
use common::route_echo::{FrameworkApp, Resolved, nginx_app};
use common::sekisho::Sekisho;
use regex::Regex;

const SECRET: &str = "skip-auth-differential-test-secret-of-32-bytes";
/// Paths the two servers route differently, printed as examples.
const SHOWN_DISAGREEMENTS: usize = 40;

/// The rules under test, as an app like GitLab has them.
const API_RULE: &str = "^/api/v4/";
const HOOKS_RULE: &str = "POST ^/hooks/";

/// Where a hostile path starts: on a public route, on a private one, or nowhere.
const STARTS: &[&str] = &[
    "/api/v4/",
    "/hooks/",
    "/admin/",
    "/",
    "/API/V4/",
    "/api/v4/x/",
];
/// Ways of climbing out of, or staying in, a directory.
const STEPS: &[&str] = &[
    "..",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%2e.",
    "%252e%252e",
    "..;",
    "..;x=1",
    ".",
    "%2e",
    "x/..",
    "x//..",
    "/..",
    "..%2f..",
    "..%5c..",
    "..\\..",
    "x%2f%2f..",
    "x;y/..",
    "",
];
/// Separators, spelt every way one server or another takes for `/`.
const JOINS: &[&str] = &["/", "//", "%2f", "%2F", "%5c", "\\", ";/", "%252f"];
/// Where the path is meant to arrive.
const TARGETS: &[&str] = &["admin", "admin/users", "api/v4/x", "hooks/x", "Admin/x"];

fn hostile_paths() -> Vec<String> {
    let mut paths = vec![
        "/api/v4/projects".to_owned(),
        "/api/v4/projects/group%2Fname".to_owned(),
        "/hooks/gitlab".to_owned(),
        "/admin/users".to_owned(),
    ];
    for start in STARTS {
        for step in STEPS {
            for join in JOINS {
                for target in TARGETS {
                    let path = format!("{start}{step}{join}{target}");
                    if !paths.contains(&path) {
                        paths.push(path);
                    }
                }
            }
        }
    }
    paths
}

/// Sekisho in front of each server, on its own host name, with the same rules.
fn config(servers: &[(&str, &str, SocketAddr)]) -> String {
    let upstreams: String = servers
        .iter()
        .map(|(_, host, addr)| {
            format!(
                "[[upstream]]\nhost = \"{host}\"\nurl = \"http://{addr}\"\nskip_auth = [{API_RULE:?}, {HOOKS_RULE:?}]\n\n"
            )
        })
        .collect();
    format!(
        r#"
public_url = "http://127.0.0.1/"

[session]
secret = "{SECRET}"
secure = false

{upstreams}"#
    )
}

/// The app routes a rule lets `method` reach without a session.
fn public_routes(method: &str) -> &'static [&'static str] {
    match method {
        "POST" => &["api", "hooks"],
        _ => &["api"],
    }
}

/// What came back for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// Sekisho asked for a session.
    SignIn,
    /// An app route answered.
    Served(Resolved),
    /// Neither: an error from Sekisho or the app (nginx's 400 for `..` above the root).
    Refused(u16),
}

fn outcome(response: &Response) -> Outcome {
    if response.status == 401 {
        return Outcome::SignIn;
    }
    match Resolved::from_body(&response.body) {
        Some(resolved) if response.status == 200 => Outcome::Served(resolved),
        _ => Outcome::Refused(response.status),
    }
}

async fn send(addr: SocketAddr, host: &str, method: &str, path: &str) -> Outcome {
    let response = Client::new()
        .request(addr, method, path, &[("Host", host)], b"")
        .await
        .unwrap_or_else(|e| panic!("{method} {path} to {host} at {addr}: {e}"));
    outcome(&response)
}

#[tokio::test]
async fn sekisho_skips_sign_in_only_where_every_server_serves_a_public_route() {
    let nginx = nginx_app().await;
    let express = FrameworkApp::express().await;
    let werkzeug = FrameworkApp::werkzeug().await;
    let tomcat = FrameworkApp::tomcat().await;
    let servers = [
        ("nginx", "nginx.test", nginx.addr()),
        ("Express", "express.test", express.addr()),
        ("werkzeug", "werkzeug.test", werkzeug.addr()),
        ("Tomcat", "tomcat.test", tomcat.addr()),
    ];
    let sekisho = Sekisho::start(&config(&servers)).await;
    let api_rule = Regex::new(API_RULE).unwrap();
    let hooks_rule = Regex::new(HOOKS_RULE.trim_start_matches("POST ")).unwrap();

    let paths = hostile_paths();
    let mut leaks = Vec::new();
    let mut skipped = BTreeMap::<&str, usize>::new();
    let mut signed_in = 0;
    let mut disagreements = Vec::new();
    let mut requests = 0;
    for path in &paths {
        let methods: &[&str] = if path.contains("hooks") {
            &["GET", "POST"]
        } else {
            &["GET"]
        };
        for &method in methods {
            // The servers at once: 40,000 requests one after the other take long.
            let [(_, h0, a0), (_, h1, a1), (_, h2, a2), (_, h3, a3)] = servers;
            let (d0, d1, d2, d3) = tokio::join!(
                send(a0, h0, method, path),
                send(a1, h1, method, path),
                send(a2, h2, method, path),
                send(a3, h3, method, path)
            );
            let direct = [d0, d1, d2, d3];
            let (v0, v1, v2, v3) = tokio::join!(
                send(sekisho.addr(), h0, method, path),
                send(sekisho.addr(), h1, method, path),
                send(sekisho.addr(), h2, method, path),
                send(sekisho.addr(), h3, method, path)
            );
            let via = [v0, v1, v2, v3];
            let route = |o: &Outcome| match o {
                Outcome::Served(r) => r.route.clone(),
                other => format!("{other:?}"),
            };
            if direct.iter().any(|o| route(o) != route(&direct[0])) {
                let answers: Vec<String> = servers
                    .iter()
                    .zip(&direct)
                    .map(|((server, ..), o)| format!("{server} {}", route(o)))
                    .collect();
                disagreements.push(format!("{method} {path}: {}", answers.join(", ")));
            }
            for (((server, ..), direct), via_sekisho) in servers.iter().zip(&direct).zip(&via) {
                requests += 1;
                let resolved = match via_sekisho {
                    Outcome::SignIn => {
                        signed_in += 1;
                        continue;
                    }
                    Outcome::Refused(_) => continue,
                    Outcome::Served(resolved) => resolved,
                };
                *skipped.entry(server).or_default() += 1;
                let public_route = public_routes(method).contains(&resolved.route.as_str());
                // nginx's `$uri` and Tomcat's servlet path are the resource they serve: the
                // rule must hold for it.
                let rule_holds = !matches!(*server, "nginx" | "Tomcat")
                    || api_rule.is_match(&resolved.path)
                    || (method == "POST" && hooks_rule.is_match(&resolved.path));
                if !public_route || !rule_holds {
                    leaks.push(format!(
                        "{method} {path}: Sekisho skipped sign-in, {server} served {resolved:?}"
                    ));
                }
                if via_sekisho != direct {
                    leaks.push(format!(
                        "{method} {path}: {server} answered {via_sekisho:?} through Sekisho, {direct:?} directly: the path was changed on the way"
                    ));
                }
            }
        }
    }

    println!(
        "{} hostile paths, {requests} requests through Sekisho: {signed_in} sent to sign in, \
         skipped {skipped:?}; the servers route {} requests differently, among them:",
        paths.len(),
        disagreements.len()
    );
    for line in disagreements.iter().take(SHOWN_DISAGREEMENTS) {
        println!("  {line}");
    }
    assert!(
        leaks.is_empty(),
        "{} requests reached a private route without a session:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    // The test must be able to fail: what is public is reached, and hostile paths are tried.
    for (server, ..) in servers {
        assert!(
            skipped.get(server).copied().unwrap_or_default() >= 4,
            "too few requests reached {server} without a session to test anything: {skipped:?}"
        );
    }
    assert!(signed_in > paths.len(), "{signed_in} sent to sign in");
    let public = [
        ("GET", "/api/v4/projects"),
        ("GET", "/api/v4/projects/group%2Fname"),
        ("POST", "/hooks/gitlab"),
    ];
    for (method, path) in public {
        for (_, host, _) in servers {
            // Let through to the app, which may refuse it itself (Tomcat answers 400 to `%2F`).
            let outcome = send(sekisho.addr(), host, method, path).await;
            let through = match &outcome {
                Outcome::Served(r) => public_routes(method).contains(&r.route.as_str()),
                Outcome::Refused(status) => *status == 400 && host == "tomcat.test",
                Outcome::SignIn => false,
            };
            assert!(
                through,
                "{method} {path} on {host} must be let through: {outcome:?}"
            );
        }
    }
}
