//! Shared harness for the end-to-end tests: real processes on loopback, ephemeral ports only,
//! every child killed and reaped when its guard drops (a panicking test included), and the
//! captured logs printed when a test fails.
//!
//! - [`process`]: child processes with captured output, killed and reaped on drop;
//! - [`sekisho`]: the `sekisho` binary built by Cargo, started on an ephemeral port;
//! - [`nginx`]: a real nginx, unprivileged, everything under a temporary prefix;
//! - [`upstream`]: a tiny in-process app that echoes the headers it received and counts hits;
//! - [`http`]: a minimal HTTP/1.1 client that can choose its source address;
//! - [`ports`]: free loopback ports, for programs that cannot bind port 0 and report it;
//! - [`session`]: session cookies minted with the library, as a signed-in browser sends them;
//! - [`oidc_provider`]: a real OpenID provider (npm `oidc-provider`) in Keycloak's layout;
//! - [`keycloak`]: the real Keycloak of the test run, a realm of its own per test;
//! - [`browser_client`]: a scripted browser: cookie jar, redirects, the provider's forms;
//! - [`browser_driver`]: headless Chromium and its playwright-core driver, or how to install them;
//! - [`oidc_stack`]: provider + Sekisho + nginx + app wired for the sign-in flow;
//! - [`saml_idp`]: a real SAML 2.0 IdP (SimpleSAMLphp under `php -S`);
//! - [`saml_stack`]: IdP + Sekisho + nginx + app wired for the SAML sign-in;
//! - [`saml_xml`]: reading SAML messages: XML, the HTTP-Redirect binding's DEFLATE, times;
//! - [`saml_forge`]: altered, stripped, re-signed and wrapped SAML Responses, and logout messages;
//! - [`tcp_relay`]: a TCP relay to Keycloak that can be stopped and started again on its port;
//! - [`token_proxy`]: an `http_proxy` for Sekisho that can alter the provider's token responses;
//! - [`redis`]: a real `redis-server` that can be stopped, restarted and frozen;
//! - [`replicas`]: a second Sekisho replica beside a stack's, and polling them both;
//! - [`app_server`]: an app for proxy mode: keep-alive, streamed gigabytes, slow answers;
//! - [`ws_echo`]: a WebSocket app that greets with the identity it was handed and echoes;
//! - [`route_echo`]: nginx, Express, werkzeug and Tomcat apps answering with the route a path resolved to;
//! - [`front_door`]: Traefik, Caddy and Envoy before an auth server and an app, any of them;
//! - [`traefik`], [`caddy`], [`envoy`]: each door's configuration and process;
//! - [`auth_stub`]: a stand-in auth server that records what a door asks and answers as told;
//! - [`ext_authz`]: Envoy's ext_authz gRPC API, as a recording server and as a client;
//! - [`memory`]: a process's resident memory, now and at its peak;
//! - [`oauth2_proxy`]: the real oauth2-proxy, with or without a provider to sign in at;
//! - [`oauth2_proxy_corpus`]: the requests both it and Sekisho are asked;
//! - [`comparison`]: the tables of docs/comparison.md, checked or rewritten;
//! - [`problems`]: failures of several cases collected and reported together;
//! - [`crd_schema`]: manifests validated against the CRDs the gateways publish (scripts/crds).
//!
//! Each test binary uses only some of this, hence the `dead_code` allowance.

#![allow(dead_code)]

pub mod app_server;
pub mod auth_stub;
pub mod browser_client;
pub mod browser_driver;
pub mod caddy;
pub mod comparison;
pub mod crd_schema;
pub mod envoy;
pub mod ext_authz;
pub mod front_door;
pub mod http;
pub mod keycloak;
pub mod memory;
pub mod nginx;
pub mod oauth2_proxy;
pub mod oauth2_proxy_corpus;
pub mod oidc_provider;
pub mod oidc_stack;
pub mod ports;
pub mod problems;
pub mod process;
pub mod redis;
pub mod replicas;
pub mod route_echo;
pub mod saml_forge;
pub mod saml_idp;
pub mod saml_stack;
pub mod saml_xml;
pub mod sekisho;
pub mod session;
pub mod tcp_relay;
pub mod token_proxy;
pub mod traefik;
pub mod upstream;
pub mod ws_echo;

use std::time::Duration;

/// How long a process may take to become ready, or a log line to appear, before the test
/// fails. Generous: a loaded CI machine is slow, and a healthy run never waits this long.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
