//! A real SAML 2.0 identity provider for end-to-end tests: Debian's SimpleSAMLphp 1.19, served
//! by `php -S` on an ephemeral loopback port, signing its responses with a key made for the run.
//! Keycloak stands in production; this peer speaks the same protocol with Keycloak-like users
//! (persistent NameID, attributes `username`, `email`, `first_name`, `last_name`, multi-valued
//! `groups` with full paths). What it serves and how it behaves: `tests/peers/saml/README.md`.
//!
//! ```ignore
//! let idp = SamlIdp::start(SamlIdpOptions {
//!     sign: SignWhat::Both,
//!     ..SamlIdpOptions::for_sp("http://127.0.0.1:8080")   // entity .../saml/metadata, ACS .../saml/acs
//! });
//! // point Sekisho at idp.metadata_url; when it redirects the browser to the IdP:
//! let mut browser = idp.browser();
//! let post = browser.sign_in(&redirect_url, ALICE.0, ALICE.1); // the auto-submit form
//! // POST post.form_body() to post.action (Sekisho's ACS) ...
//! ```
//!
//! Every run gets its own directory (a [`TempDir`]): `config/` (config.php, authsources.php and
//! the `settings.json` this module writes), `metadata/`, `cert/idp.key` + `cert/idp.crt`,
//! `log/simplesamlphp.log`, sessions. The PHP templates live in `tests/peers/saml/`.
//!
//! `php -S` runs with `PHP_CLI_SERVER_WORKERS` processes (a master that forks workers). Drop
//! sends SIGINT to the master and each worker (by PID, through `kill`), waits for the master,
//! which reaps its workers, and falls back to SIGKILL; this happens during a panic too, after
//! the server's output and the end of its log are printed.
//!
//! Standalone: uses only std, serde_json and tempfile. Blocking: it makes plain blocking HTTP
//! requests to 127.0.0.1, fine from `#[tokio::test]` (Sekisho runs in its own process).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tempfile::TempDir;

/// How long `start` waits for the metadata URL to answer 200.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// Fresh ports tried when `php -S` cannot bind (someone took the port meanwhile).
const START_ATTEMPTS: usize = 3;
/// How long Drop waits for `php -S` to stop after SIGINT before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

pub const SIMPLESAMLPHP_DIR: &str = "/usr/share/simplesamlphp";
const INSTALL_HINT: &str = "install it with `apt-get install --no-install-recommends simplesamlphp \
     php-cli php-cgi php-xml php-mbstring` (Debian 12), or just run ./scripts/test";

pub const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// The default users (username, password).
pub const ALICE: (&str, &str) = ("alice", "alice-password");
pub const BOB: (&str, &str) = ("bob", "bob-password");
/// Their persistent NameIDs (Keycloak's `G-<uuid>` form; the UUIDs are the OIDC peer's `sub`s).
pub const ALICE_NAME_ID: &str = "G-a11ce000-0000-4000-8000-000000000001";
pub const BOB_NAME_ID: &str = "G-b0b00000-0000-4000-8000-000000000002";

/// Which element of a successful Response carries the enveloped signature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SignWhat {
    /// Only `samlp:Response` (Keycloak's default: "Sign documents" on, "Sign assertions" off).
    #[default]
    Response,
    /// Only `saml:Assertion`.
    Assertion,
    /// Both.
    Both,
}

/// A user of the IdP's `exampleauth:UserPass` source.
#[derive(Clone, Debug)]
pub struct SamlUser {
    pub username: String,
    pub password: String,
    /// The persistent NameID value (not sent as an attribute).
    pub persistent_id: String,
    /// SAML attributes (name, values), NameFormat basic, each value an `xs:string`.
    pub attributes: Vec<(String, Vec<String>)>,
}

impl SamlUser {
    /// alice and bob, as listed in the peer's README.
    pub fn defaults() -> Vec<SamlUser> {
        let user =
            |name: &str, pw: &str, id: &str, first: &str, last: &str, groups: &[&str]| SamlUser {
                username: name.into(),
                password: pw.into(),
                persistent_id: id.into(),
                attributes: vec![
                    ("username".into(), vec![name.into()]),
                    ("email".into(), vec![format!("{name}@example.com")]),
                    ("first_name".into(), vec![first.into()]),
                    ("last_name".into(), vec![last.into()]),
                    (
                        "groups".into(),
                        groups.iter().map(|g| g.to_string()).collect(),
                    ),
                ],
            };
        vec![
            user(
                ALICE.0,
                ALICE.1,
                ALICE_NAME_ID,
                "Alice",
                "Liddell",
                &["/admins", "/dev"],
            ),
            user(BOB.0, BOB.1, BOB_NAME_ID, "Bob", "Builder", &["/dev"]),
        ]
    }

    fn to_json(&self) -> Value {
        let mut attributes = Map::new();
        attributes.insert("persistent_id".into(), json!([self.persistent_id]));
        for (name, values) in &self.attributes {
            attributes.insert(name.clone(), json!(values));
        }
        json!({ "username": self.username, "password": self.password, "attributes": attributes })
    }
}

/// One service provider known to the IdP (an entry of `saml20-sp-remote.php`).
#[derive(Clone, Debug, Default)]
pub struct SpRegistration {
    /// e.g. `http://127.0.0.1:PORT/saml/metadata`
    pub entity_id: String,
    /// The AssertionConsumerService, HTTP-POST binding.
    pub acs_url: String,
    /// The SingleLogoutService, HTTP-Redirect binding; `None`: the SP has none (the IdP then
    /// logs the SP out without telling it).
    pub slo_url: Option<String>,
    /// The SP's signing certificate (PEM), to check signed AuthnRequests and logout messages.
    pub cert_pem: Option<String>,
    /// `validate.authnrequest`: refuse unsigned AuthnRequests. `None`: on iff `cert_pem` is set.
    pub validate_authnrequest: Option<bool>,
    /// `validate.logout`: refuse unsigned LogoutRequests/LogoutResponses from the SP.
    /// `None`: on iff `cert_pem` is set.
    pub validate_logout: Option<bool>,
    /// `None`: persistent.
    pub name_id_format: Option<String>,
    /// Further SimpleSAMLphp SP-remote metadata keys, e.g.
    /// `{"saml20.sign.assertion": false}`, `{"assertion.lifetime": 5}`, `{"ForceAuthn": true}`.
    pub extra: Map<String, Value>,
}

impl SpRegistration {
    /// The SP at `base` (`http://127.0.0.1:PORT`, no trailing slash): entity ID
    /// `{base}/saml/metadata`, ACS `{base}/saml/acs`, SLO `{base}/saml/slo`.
    pub fn at(base: &str) -> SpRegistration {
        let base = base.trim_end_matches('/');
        SpRegistration {
            entity_id: format!("{base}/saml/metadata"),
            acs_url: format!("{base}/saml/acs"),
            slo_url: Some(format!("{base}/saml/slo")),
            ..SpRegistration::default()
        }
    }

    fn to_json(&self) -> Value {
        let has_cert = self.cert_pem.is_some();
        json!({
            "entity_id": self.entity_id,
            "acs_url": self.acs_url,
            "slo_url": self.slo_url,
            "cert_pem": self.cert_pem,
            "validate_authnrequest": self.validate_authnrequest.unwrap_or(has_cert),
            "validate_logout": self.validate_logout.unwrap_or(has_cert),
            "name_id_format": self.name_id_format.as_deref().unwrap_or(NAMEID_PERSISTENT),
            "extra": self.extra,
        })
    }
}

#[derive(Clone, Debug)]
pub struct SamlIdpOptions {
    /// The SP (Sekisho): entity ID, ACS (HTTP-POST), SLO (HTTP-Redirect). An empty
    /// `sp_entity_id` registers no SP (see [`SamlIdp::set_sps`] to register one later).
    pub sp_entity_id: String,
    pub sp_acs_url: String,
    pub sp_slo_url: Option<String>,
    /// The SP's signing certificate (PEM).
    pub sp_cert_pem: Option<String>,
    /// Refuse unsigned AuthnRequests and logout messages from the SP (`validate.authnrequest`,
    /// `validate.logout`). `None`: whenever `sp_cert_pem` is set.
    pub require_signed_requests: Option<bool>,
    /// More SPs.
    pub extra_sps: Vec<SpRegistration>,
    /// What the IdP signs in a Response.
    pub sign: SignWhat,
    /// Sign with rsa-sha1 (and SHA-1 digests) instead of rsa-sha256.
    pub sha1: bool,
    /// Sign LogoutRequests/LogoutResponses (on HTTP-Redirect: the query string), like Keycloak.
    pub sign_logout: bool,
    /// Assertion validity (Conditions/NotOnOrAfter, SubjectConfirmationData/NotOnOrAfter), s.
    pub assertion_lifetime: u64,
    /// IdP session length (AuthnStatement/SessionNotOnOrAfter), s.
    pub session_duration: u64,
    /// `None`: alice and bob ([`SamlUser::defaults`]).
    pub users: Option<Vec<SamlUser>>,
    /// `None`: SimpleSAMLphp's usual `{base_url}/saml2/idp/metadata.php`.
    pub entity_id: Option<String>,
    /// (key PEM, certificate PEM) to sign with; `None`: a fresh RSA-2048 pair for this run.
    pub key_pair: Option<(String, String)>,
    /// Further hosted-IdP metadata keys, e.g. `{"assertion.encryption": true}`.
    pub idp_extra: Map<String, Value>,
    /// `PHP_CLI_SERVER_WORKERS`; 1 serves one request at a time from a single process.
    pub workers: usize,
    /// SimpleSAMLphp log level: error, warning, notice, info or debug (debug logs each SAML
    /// message in full).
    pub log_level: String,
}

impl Default for SamlIdpOptions {
    fn default() -> Self {
        Self {
            sp_entity_id: String::new(),
            sp_acs_url: String::new(),
            sp_slo_url: None,
            sp_cert_pem: None,
            require_signed_requests: None,
            extra_sps: Vec::new(),
            sign: SignWhat::Response,
            sha1: false,
            sign_logout: true,
            assertion_lifetime: 300,
            session_duration: 8 * 3600,
            users: None,
            entity_id: None,
            key_pair: None,
            idp_extra: Map::new(),
            workers: 4,
            log_level: "debug".into(),
        }
    }
}

impl SamlIdpOptions {
    /// Defaults, with the SP at `base` as in [`SpRegistration::at`].
    pub fn for_sp(base: &str) -> Self {
        let sp = SpRegistration::at(base);
        Self {
            sp_entity_id: sp.entity_id,
            sp_acs_url: sp.acs_url,
            sp_slo_url: sp.slo_url,
            ..Self::default()
        }
    }

    /// The SPs this configuration registers.
    pub fn sps(&self) -> Vec<SpRegistration> {
        let mut sps = Vec::new();
        if !self.sp_entity_id.is_empty() {
            sps.push(SpRegistration {
                entity_id: self.sp_entity_id.clone(),
                acs_url: self.sp_acs_url.clone(),
                slo_url: self.sp_slo_url.clone(),
                cert_pem: self.sp_cert_pem.clone(),
                validate_authnrequest: self.require_signed_requests,
                validate_logout: self.require_signed_requests,
                ..SpRegistration::default()
            });
        }
        sps.extend(self.extra_sps.iter().cloned());
        sps
    }
}

/// A running IdP. Stopped (SIGINT, then SIGKILL) and reaped on drop, also when a test panics.
pub struct SamlIdp {
    pub port: u16,
    /// `http://127.0.0.1:PORT/simplesaml` (no trailing slash).
    pub base_url: String,
    /// The IdP's entity ID (the Issuer of its messages).
    pub entity_id: String,
    /// `{base_url}/saml2/idp/metadata.php`
    pub metadata_url: String,
    /// `{base_url}/saml2/idp/SSOService.php` (HTTP-Redirect and HTTP-POST).
    pub sso_url: String,
    /// `{base_url}/saml2/idp/SingleLogoutService.php` (HTTP-Redirect and HTTP-POST).
    pub slo_url: String,
    /// The IdP's signing certificate and key (PEM).
    pub cert_pem: String,
    pub key_pem: String,
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
    settings: Mutex<Value>,
    run: PathBuf,
    /// `None` only while a failed start hands the directory to the next attempt.
    dir: Option<TempDir>,
}

impl SamlIdp {
    /// Lays out a run directory, starts `php -S` on a free port (retrying with another port
    /// if that one is taken by then) and waits until the metadata URL answers 200. Panics
    /// with install instructions when php or SimpleSAMLphp are missing, and with the
    /// server's output when it does not come up within [`READY_TIMEOUT`].
    pub fn start(opts: SamlIdpOptions) -> SamlIdp {
        check_prerequisites(opts.key_pair.is_none());
        let peer = peer_dir();
        let mut dir = tempfile::Builder::new()
            .prefix("saml-idp-")
            .tempdir()
            .expect("temporary directory for the SAML IdP");
        let run = dir.path().to_path_buf();
        for sub in [
            "config", "metadata", "cert", "log", "data", "tmp", "sessions",
        ] {
            std::fs::create_dir_all(run.join(sub)).expect("create run directory");
        }
        for file in ["config/config.php", "config/authsources.php"] {
            copy(&peer.join(file), &run.join(file));
        }
        for file in [
            "metadata/saml20-idp-hosted.php",
            "metadata/saml20-sp-remote.php",
        ] {
            copy(&peer.join(file), &run.join(file));
        }
        let (key_pem, cert_pem) = match &opts.key_pair {
            Some(pair) => pair.clone(),
            None => generate_key_pair(&run.join("cert")),
        };
        std::fs::write(run.join("cert/idp.key"), &key_pem).expect("write idp.key");
        std::fs::write(run.join("cert/idp.crt"), &cert_pem).expect("write idp.crt");

        let mut last_failure = String::new();
        for _attempt in 0..START_ATTEMPTS {
            let port = free_port();
            let base_url = format!("http://127.0.0.1:{port}/simplesaml");
            let entity_id = opts
                .entity_id
                .clone()
                .unwrap_or_else(|| format!("{base_url}/saml2/idp/metadata.php"));
            let settings = settings_json(&opts, &run, &base_url, &entity_id);
            write_settings(&run, &settings);

            let (child, output) = spawn_php(&peer, &run, port, opts.workers);
            // From here on, Drop stops the server if anything below panics.
            let mut idp = SamlIdp {
                port,
                metadata_url: format!("{base_url}/saml2/idp/metadata.php"),
                sso_url: format!("{base_url}/saml2/idp/SSOService.php"),
                slo_url: format!("{base_url}/saml2/idp/SingleLogoutService.php"),
                base_url,
                entity_id,
                cert_pem: cert_pem.clone(),
                key_pem: key_pem.clone(),
                child,
                output,
                settings: Mutex::new(settings),
                run: run.clone(),
                dir: Some(dir),
            };
            match idp.wait_ready() {
                Ok(()) => return idp,
                Err(Failure::BindFailed(why)) => {
                    last_failure = why;
                    dir = idp.dir.take().expect("run directory");
                    drop(idp); // stops what is left of this attempt
                }
                Err(Failure::Other(why)) => panic!(
                    "SAML test IdP (php -S {}) {why}\n{}",
                    peer.join("router.php").display(),
                    idp.diagnostics()
                ),
            }
        }
        panic!("SAML test IdP: no free port after {START_ATTEMPTS} attempts: {last_failure}");
    }

    /// Everything `php -S` printed so far (its "started" lines and one
    /// `saml-idp: STATUS METHOD URI` line per request).
    pub fn output(&self) -> String {
        lock(&self.output).join("\n")
    }

    /// The request lines (`STATUS METHOD URI`, URI cut at 200 bytes), in order.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.output)
            .iter()
            .filter_map(|l| l.strip_prefix("saml-idp: ").map(str::to_string))
            .collect()
    }

    /// How many requests had a path starting with `path` (e.g. "/simplesaml/saml2/idp/SSOService.php").
    pub fn count_requests(&self, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.split(' ').nth(2).is_some_and(|uri| uri.starts_with(path)))
            .count()
    }

    /// SimpleSAMLphp's own log (`log/simplesamlphp.log`): each SAML message received and sent
    /// in full at the default debug level, and errors with their backtraces.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.run.as_path().join("log/simplesamlphp.log"))
            .unwrap_or_default()
    }

    /// The log lines at a level other than DEBUG (errors, warnings, "Sending SAML 2.0 ...").
    pub fn log_summary(&self) -> String {
        self.log()
            .lines()
            .filter(|l| !l.contains(" DEBUG "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits up to `timeout` for `needle` to appear in the log; returns whether it did.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The run directory (config/, metadata/, cert/, log/).
    pub fn run_dir(&self) -> &Path {
        &self.run
    }

    /// PEM files of the signing pair, for tools that want paths.
    pub fn cert_path(&self) -> PathBuf {
        self.run.as_path().join("cert/idp.crt")
    }
    pub fn key_path(&self) -> PathBuf {
        self.run.as_path().join("cert/idp.key")
    }

    /// The metadata XML, as served.
    pub fn metadata(&self) -> String {
        let response = http(&self.metadata_url, "GET", &[], None)
            .unwrap_or_else(|e| panic!("GET {}: {e}", self.metadata_url));
        assert_eq!(
            response.status, 200,
            "GET {} answered {}: {}",
            self.metadata_url, response.status, response.body
        );
        response.body
    }

    /// The metadata with its `<md:KeyDescriptor use="signing">` removed. The
    /// `use="encryption"` KeyDescriptor (same certificate) stays: an SP must not take it for
    /// verifying signatures. See also [`Self::metadata_without_key_descriptors`].
    pub fn metadata_without_signing_cert(&self) -> String {
        remove_elements(&self.metadata(), "md:KeyDescriptor", |open| {
            open.contains("use=\"signing\"")
        })
    }

    /// The metadata without any KeyDescriptor.
    pub fn metadata_without_key_descriptors(&self) -> String {
        remove_elements(&self.metadata(), "md:KeyDescriptor", |_| true)
    }

    /// Replaces the registered SPs. Takes effect with the next request: the PHP metadata
    /// files read `settings.json` on every request. For when the SP's address is only known
    /// after the IdP started.
    pub fn set_sps(&self, sps: &[SpRegistration]) {
        let mut settings = lock(&self.settings);
        settings["sps"] = Value::Array(sps.iter().map(SpRegistration::to_json).collect());
        write_settings(self.run.as_path(), &settings);
    }

    /// Changes one setting of `settings.json` for the next requests (see the README), e.g.
    /// `set_setting("sign_assertion", json!(true))` or `("signature_algorithm", json!(RSA_SHA1))`.
    pub fn set_setting(&self, key: &str, value: Value) {
        let mut settings = lock(&self.settings);
        settings[key] = value;
        write_settings(self.run.as_path(), &settings);
    }

    /// A scripted browser for this IdP (its own cookie jar, so its own IdP session).
    pub fn browser(&self) -> IdpBrowser {
        IdpBrowser {
            origin: format!("http://127.0.0.1:{}", self.port),
            cookies: BTreeMap::new(),
        }
    }

    /// IdP-initiated ("unsolicited") sign-in to `sp_entity_id`: opening this URL in a browser
    /// with an IdP session (or after logging in) yields a Response without InResponseTo.
    pub fn idp_initiated_sso_url(&self, sp_entity_id: &str, relay_state: Option<&str>) -> String {
        let mut url = format!("{}?spentityid={}", self.sso_url, url_encode(sp_entity_id));
        if let Some(rs) = relay_state {
            url.push_str("&RelayState=");
            url.push_str(&url_encode(rs));
        }
        url
    }

    /// IdP-initiated logout: the IdP sends a LogoutRequest to each SP of the session (via the
    /// browser, to its SLO URL), then redirects to `return_to` (which must be a loopback URL).
    pub fn idp_initiated_logout_url(&self, return_to: &str) -> String {
        format!("{}?ReturnTo={}", self.slo_url, url_encode(return_to))
    }

    /// The server's output and the end of its log, for failure messages.
    pub fn diagnostics(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = &lines[lines.len().saturating_sub(150)..];
        format!(
            "--- php -S output ---\n{}\n--- simplesamlphp.log (last {} lines) ---\n{}",
            self.output(),
            tail.len(),
            tail.join("\n")
        )
    }

    fn wait_ready(&mut self) -> Result<(), Failure> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100)); // let the readers drain
                let out = self.output();
                return Err(if out.contains("Failed to listen") {
                    Failure::BindFailed(out)
                } else {
                    Failure::Other(format!("exited ({status}) before it was ready"))
                });
            }
            if let Ok(r) = http(&self.metadata_url, "GET", &[], None) {
                if r.status == 200 && r.body.contains("IDPSSODescriptor") {
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    return Err(Failure::Other(format!(
                        "metadata answered {}: {}",
                        r.status, r.body
                    )));
                }
            }
            if Instant::now() >= deadline {
                return Err(Failure::Other(format!(
                    "did not answer {} within {READY_TIMEOUT:?}",
                    self.metadata_url
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGINT to the master and its workers, wait; SIGKILL if they linger.
    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            // The master is gone (and reaped): kill workers it may have orphaned.
            let orphans = self.our_pids(self.worker_pids_from_output());
            signal("KILL", &orphans);
            return;
        }
        let master = self.child.id();
        let mut pids = vec![master];
        pids.extend(self.our_pids(self.worker_pids()));
        signal("INT", &pids);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut pids = self.our_pids(self.worker_pids());
        pids.push(master);
        signal("KILL", &pids);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The master's children (/proc) and the PIDs of the "started" lines.
    fn worker_pids(&self) -> Vec<u32> {
        let master = self.child.id();
        let mut pids = self.worker_pids_from_output();
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{master}/task/{master}/children"))
        {
            pids.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
        pids.sort_unstable();
        pids.dedup();
        pids.retain(|&p| p != master);
        pids
    }

    /// `[PID] [date] PHP 8.2.x Development Server (http://...) started`
    fn worker_pids_from_output(&self) -> Vec<u32> {
        lock(&self.output)
            .iter()
            .filter(|l| l.ends_with(" started"))
            .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
            .collect()
    }

    /// Only PIDs that still are our `php -S 127.0.0.1:PORT` (never signal a recycled PID).
    fn our_pids(&self, pids: Vec<u32>) -> Vec<u32> {
        // cmdline arguments end in NUL: "127.0.0.1:4071\0" must not match port 40717.
        let listen = format!("127.0.0.1:{}\0", self.port);
        pids.into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                    let c = String::from_utf8_lossy(&c);
                    c.contains("php") && c.contains(&listen)
                })
            })
            .collect()
    }
}

impl Drop for SamlIdp {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "SAML test IdP at {} (run dir {}):\n{}",
                self.base_url,
                self.run.display(),
                self.diagnostics()
            );
        }
        self.stop();
    }
}

enum Failure {
    BindFailed(String),
    Other(String),
}

/// An auto-submitting form of the HTTP-POST binding, as the IdP answers it.
#[derive(Clone, Debug)]
pub struct SamlPost {
    /// Where the form posts (the SP's ACS).
    pub action: String,
    /// Base64, as in the form.
    pub saml_response: Option<String>,
    pub saml_request: Option<String>,
    pub relay_state: Option<String>,
}

impl SamlPost {
    /// The decoded SAMLResponse (or SAMLRequest) XML.
    pub fn xml(&self) -> String {
        let b64 = self
            .saml_response
            .as_deref()
            .or(self.saml_request.as_deref())
            .expect("a SAMLResponse or SAMLRequest");
        String::from_utf8(base64_decode(b64).expect("valid base64 in the SAML form"))
            .expect("UTF-8 XML")
    }

    /// `application/x-www-form-urlencoded` body to POST to [`Self::action`], as the browser
    /// would.
    pub fn form_body(&self) -> String {
        let mut pairs = Vec::new();
        if let Some(v) = &self.saml_response {
            pairs.push(("SAMLResponse", v.as_str()));
        }
        if let Some(v) = &self.saml_request {
            pairs.push(("SAMLRequest", v.as_str()));
        }
        if let Some(v) = &self.relay_state {
            pairs.push(("RelayState", v.as_str()));
        }
        form_encode(&pairs)
    }
}

/// Where a request to the IdP ended, after following its redirects within the IdP.
#[derive(Clone, Debug)]
pub enum IdpPage {
    /// The username/password form. `error` is the message shown after a failed attempt.
    LoginForm {
        /// Absolute URL the form posts to.
        action: String,
        auth_state: String,
        error: Option<String>,
    },
    /// The auto-submitting SAML form (a Response after sign-in, or a POST-bound message).
    Post(SamlPost),
    /// A redirect away from the IdP (e.g. a LogoutResponse/LogoutRequest to the SP's SLO URL
    /// with the HTTP-Redirect binding, or ReturnTo after logout).
    Redirect(String),
    /// SimpleSAMLphp's error page: its title and the "Caused by" exception, if shown.
    Error { status: u16, message: String },
    /// Anything else.
    Other { status: u16, body: String },
}

/// A scripted browser talking to the IdP only: cookie jar, redirects within the IdP, the
/// login form. Messages for the SP are handed back ([`IdpPage::Post`], [`IdpPage::Redirect`]).
pub struct IdpBrowser {
    origin: String,
    cookies: BTreeMap<String, String>,
}

impl IdpBrowser {
    /// GETs `url` and follows redirects while they stay on the IdP.
    pub fn open(&mut self, url: &str) -> IdpPage {
        self.request(url, "GET", None)
    }

    /// Submits a login form.
    pub fn submit_login(&mut self, form: &IdpPage, username: &str, password: &str) -> IdpPage {
        let IdpPage::LoginForm {
            action, auth_state, ..
        } = form
        else {
            panic!("not a login form: {form:?}");
        };
        let body = form_encode(&[
            ("username", username),
            ("password", password),
            ("AuthState", auth_state),
        ]);
        self.request(action, "POST", Some(&body))
    }

    /// Opens `url` (an SSO URL with a SAMLRequest, as the SP redirects to), signs in if the
    /// IdP asks, and returns the auto-submitting form with the SAMLResponse. Panics on
    /// anything else (an error page, wrong credentials).
    pub fn sign_in(&mut self, url: &str, username: &str, password: &str) -> SamlPost {
        let mut page = self.open(url);
        if matches!(page, IdpPage::LoginForm { .. }) {
            page = self.submit_login(&page, username, password);
        }
        match page {
            IdpPage::Post(post) => post,
            other => panic!("signing in at the SAML IdP as {username} ended at {other:?}"),
        }
    }

    /// The IdP's cookies (name → value).
    pub fn cookies(&self) -> &BTreeMap<String, String> {
        &self.cookies
    }

    fn request(&mut self, url: &str, method: &str, body: Option<&str>) -> IdpPage {
        let mut url = url.to_string();
        let mut method = method.to_string();
        let mut body = body.map(str::to_string);
        for _ in 0..10 {
            let cookie = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let mut headers = Vec::new();
            if !cookie.is_empty() {
                headers.push(("Cookie".to_string(), cookie));
            }
            let r = http(&url, &method, &headers, body.as_deref())
                .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
            for set in r.headers_named("set-cookie") {
                let pair = set.split(';').next().unwrap_or("");
                if let Some((k, v)) = pair.split_once('=') {
                    let (k, v) = (k.trim().to_string(), v.trim().to_string());
                    if v.is_empty() || v == "deleted" {
                        self.cookies.remove(&k);
                    } else {
                        self.cookies.insert(k, v);
                    }
                }
            }
            if (300..400).contains(&r.status) {
                let location = r
                    .header("location")
                    .unwrap_or_else(|| panic!("{} without Location from {url}", r.status));
                let next = resolve(&url, &location);
                if !next.starts_with(&format!("{}/", self.origin)) {
                    return IdpPage::Redirect(next);
                }
                url = next;
                method = "GET".into();
                body = None;
                continue;
            }
            return classify(&url, r.status, &r.body);
        }
        panic!("more than 10 redirects at the SAML IdP, last {url}");
    }
}

fn classify(url: &str, status: u16, body: &str) -> IdpPage {
    let inputs = hidden_inputs(body);
    if inputs.contains_key("SAMLResponse") || inputs.contains_key("SAMLRequest") {
        return IdpPage::Post(SamlPost {
            action: form_action(body).map_or_else(|| url.to_string(), |a| resolve(url, &a)),
            saml_response: inputs.get("SAMLResponse").cloned(),
            saml_request: inputs.get("SAMLRequest").cloned(),
            relay_state: inputs.get("RelayState").cloned(),
        });
    }
    if let Some(auth_state) = inputs
        .get("AuthState")
        .filter(|_| body.contains("password"))
    {
        let error = body.contains("erroricon").then(|| {
            // <h2>Error</h2> <p><b>Incorrect username or password</b></p> ...
            text_of(body)
                .lines()
                .map(str::trim)
                .skip_while(|l| *l != "Error")
                .nth(1)
                .unwrap_or("error")
                .to_string()
        });
        // The form posts to "?" (the same script): AuthState goes in the body.
        let action = form_action(body).map_or_else(|| url.to_string(), |a| resolve(url, &a));
        return IdpPage::LoginForm {
            action,
            auth_state: auth_state.clone(),
            error,
        };
    }
    if body.contains("Debug information") || status >= 400 {
        let text = text_of(body);
        let title = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .to_string();
        let cause = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Caused by: "))
            .map(str::to_string)
            .or_else(|| {
                text.lines()
                    .map(str::trim)
                    .find(|l| l.starts_with("SimpleSAML\\Error\\"))
                    .map(str::to_string)
            });
        let message = match cause {
            Some(c) => format!("{title}: {c}"),
            None => title,
        };
        return IdpPage::Error { status, message };
    }
    IdpPage::Other {
        status,
        body: body.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// SAML messages an SP would send, for driving the IdP without Sekisho.

/// An HTTP-Redirect URL carrying a minimal AuthnRequest (ProtocolBinding HTTP-POST), as an
/// SP would send. With `sign_key_pem` the query string is signed (rsa-sha256, via `openssl`).
pub fn authn_request_url(
    sso_url: &str,
    sp_entity_id: &str,
    acs_url: &str,
    id: &str,
    relay_state: Option<&str>,
    sign_key_pem: Option<&str>,
) -> String {
    let xml = format!(
        "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" \
         IssueInstant=\"{}\" Destination=\"{}\" AssertionConsumerServiceURL=\"{}\" \
         ProtocolBinding=\"{BINDING_POST}\"><saml:Issuer>{}</saml:Issuer>\
         <samlp:NameIDPolicy Format=\"{NAMEID_PERSISTENT}\" AllowCreate=\"true\"/>\
         </samlp:AuthnRequest>",
        now_xml(),
        xml_escape(sso_url),
        xml_escape(acs_url),
        xml_escape(sp_entity_id)
    );
    redirect_binding_url(sso_url, "SAMLRequest", &xml, relay_state, sign_key_pem)
}

/// An HTTP-Redirect URL carrying a LogoutRequest from the SP for `name_id` (persistent).
pub fn logout_request_url(
    slo_url: &str,
    sp_entity_id: &str,
    name_id: &str,
    session_index: Option<&str>,
    id: &str,
    relay_state: Option<&str>,
    sign_key_pem: Option<&str>,
) -> String {
    let session_index = session_index
        .map(|s| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", xml_escape(s)))
        .unwrap_or_default();
    let xml = format!(
        "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" \
         IssueInstant=\"{}\" Destination=\"{}\"><saml:Issuer>{}</saml:Issuer>\
         <saml:NameID Format=\"{NAMEID_PERSISTENT}\">{}</saml:NameID>{session_index}\
         </samlp:LogoutRequest>",
        now_xml(),
        xml_escape(slo_url),
        xml_escape(sp_entity_id),
        xml_escape(name_id)
    );
    redirect_binding_url(slo_url, "SAMLRequest", &xml, relay_state, sign_key_pem)
}

/// HTTP-Redirect binding: DEFLATE (stored blocks: valid DEFLATE, just not compressed), base64,
/// URL-encode; optionally sign `SAMLRequest=..&RelayState=..&SigAlg=..` with rsa-sha256.
pub fn redirect_binding_url(
    endpoint: &str,
    param: &str,
    xml: &str,
    relay_state: Option<&str>,
    sign_key_pem: Option<&str>,
) -> String {
    let mut query = format!(
        "{param}={}",
        url_encode(&base64_encode(&deflate_stored(xml.as_bytes())))
    );
    if let Some(rs) = relay_state {
        query.push_str(&format!("&RelayState={}", url_encode(rs)));
    }
    if let Some(key) = sign_key_pem {
        query.push_str(&format!("&SigAlg={}", url_encode(RSA_SHA256)));
        let signature = openssl_sign(key, "sha256", query.as_bytes());
        query.push_str(&format!(
            "&Signature={}",
            url_encode(&base64_encode(&signature))
        ));
    }
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    format!("{endpoint}{sep}{query}")
}

/// The first value of query parameter `name` of `url`, percent-decoded.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (url_decode(k) == name).then(|| url_decode(v))
    })
}

// ---------------------------------------------------------------------------------------------
// Setup helpers.

fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/saml")
}

fn check_prerequisites(need_openssl: bool) {
    let php = Command::new("php")
        .args([
            "-r",
            "exit(extension_loaded('dom') && extension_loaded('mbstring') ? 0 : 3);",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match php {
        Err(_) => panic!("the SAML end-to-end tests need PHP (`php` on PATH): {INSTALL_HINT}"),
        Ok(s) if s.code() == Some(3) => {
            panic!(
                "the SAML end-to-end tests need PHP's dom and mbstring extensions: {INSTALL_HINT}"
            )
        }
        Ok(s) if !s.success() => panic!("`php -r` failed ({s}): {INSTALL_HINT}"),
        Ok(_) => {}
    }
    assert!(
        Path::new(SIMPLESAMLPHP_DIR)
            .join("www/saml2/idp/SSOService.php")
            .is_file(),
        "the SAML end-to-end tests need SimpleSAMLphp in {SIMPLESAMLPHP_DIR}: {INSTALL_HINT}"
    );
    if need_openssl {
        let ok = Command::new("openssl")
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "the SAML test IdP needs `openssl` to make its key: apt-get install openssl"
        );
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
}

/// A fresh self-signed RSA-2048 pair (key PEM, certificate PEM), made in `dir`.
fn generate_key_pair(dir: &Path) -> (String, String) {
    let (key, crt) = (dir.join("idp.key"), dir.join("idp.crt"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
        ])
        .args(["-sha256", "-subj", "/CN=saml-idp", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        std::fs::read_to_string(&key).expect("read idp.key"),
        std::fs::read_to_string(&crt).expect("read idp.crt"),
    )
}

fn settings_json(opts: &SamlIdpOptions, run: &Path, base_url: &str, entity_id: &str) -> Value {
    let (sign_response, sign_assertion) = match opts.sign {
        SignWhat::Response => (true, false),
        SignWhat::Assertion => (false, true),
        SignWhat::Both => (true, true),
    };
    let mut settings = json!({
        "run_dir": run.to_str().expect("UTF-8 temp path"),
        "base_url": format!("{base_url}/"),
        "entity_id": entity_id,
        "sign_response": sign_response,
        "sign_assertion": sign_assertion,
        "signature_algorithm": if opts.sha1 { RSA_SHA1 } else { RSA_SHA256 },
        "sign_logout": opts.sign_logout,
        "assertion_lifetime": opts.assertion_lifetime,
        "session_duration": opts.session_duration,
        "log_level": opts.log_level,
        "sps": opts.sps().iter().map(SpRegistration::to_json).collect::<Vec<_>>(),
        "idp_extra": opts.idp_extra,
    });
    if let Some(users) = &opts.users {
        settings["users"] = Value::Array(users.iter().map(SamlUser::to_json).collect());
    }
    settings
}

/// Written to a temporary name and renamed, so a worker never reads half a file.
fn write_settings(run: &Path, settings: &Value) {
    let path = run.join("config/settings.json");
    let tmp = run.join("config/settings.json.tmp");
    let text = serde_json::to_string_pretty(settings).expect("settings to JSON");
    std::fs::write(&tmp, text).expect("write settings.json");
    std::fs::rename(&tmp, &path).expect("rename settings.json");
}

fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

fn spawn_php(
    peer: &Path,
    run: &Path,
    port: u16,
    workers: usize,
) -> (Child, Arc<Mutex<Vec<String>>>) {
    let mut command = Command::new("php");
    command
        .arg("-S")
        .arg(format!("127.0.0.1:{port}"))
        .arg(peer.join("router.php"))
        .current_dir(run)
        .env("SIMPLESAMLPHP_CONFIG_DIR", run.join("config"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if workers > 1 {
        command.env("PHP_CLI_SERVER_WORKERS", workers.to_string());
    } else {
        command.env_remove("PHP_CLI_SERVER_WORKERS");
    }
    let mut child = command.spawn().unwrap_or_else(|e| {
        panic!("cannot start php -S for the SAML test IdP: {e}; {INSTALL_HINT}")
    });
    let output = Arc::new(Mutex::new(Vec::new()));
    for stream in [
        Box::new(child.stdout.take().expect("piped stdout")) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().expect("piped stderr")),
    ] {
        let output = Arc::clone(&output);
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                // php -S notes every connection; keep the rest.
                if line.ends_with(" Accepted") || line.ends_with(" Closing") {
                    continue;
                }
                lock(&output).push(line);
            }
        });
    }
    (child, output)
}

/// `kill -SIG pid...` (procps, or the shell's builtin).
fn signal(sig: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let args: Vec<String> = pids.iter().map(u32::to_string).collect();
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -{sig} {}", args.join(" ")))
            .stderr(Stdio::null())
            .status();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `data` signed with the RSA key `key_pem` and `digest` (`sha256`, `sha1`...), by `openssl dgst`.
pub fn openssl_sign(key_pem: &str, digest: &str, data: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let key = dir.path().join("key.pem");
    std::fs::write(&key, key_pem).expect("write key");
    let mut child = Command::new("openssl")
        .arg("dgst")
        .arg(format!("-{digest}"))
        .arg("-sign")
        .arg(&key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl dgst");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(data)
        .expect("write to openssl");
    let out = child.wait_with_output().expect("openssl dgst");
    assert!(
        out.status.success(),
        "openssl dgst -sign failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

// ---------------------------------------------------------------------------------------------
// Minimal HTTP/1.1 (127.0.0.1 only), HTML and encoding helpers.

struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<String> {
        self.headers_named(name).into_iter().next()
    }
    fn headers_named(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// `http://host:port/path?query` → ("host:port", "/path?query").
fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("http://")?;
    Some(match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    })
}

fn http(
    url: &str,
    method: &str,
    headers: &[(String, String)],
    body: Option<&str>,
) -> std::io::Result<HttpResponse> {
    let (authority, target) =
        split_url(url).ok_or_else(|| std::io::Error::other(format!("not an http URL: {url}")))?;
    let mut stream = TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.set_write_timeout(Some(Duration::from_secs(20)))?;
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or(""));
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("malformed HTTP response: {raw}")))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("malformed status line: {head}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size_line, rest)) = s.split_once("\r\n") {
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        s = rest[size..].strip_prefix("\r\n").unwrap_or(&rest[size..]);
    }
    out
}

/// Resolves `reference` (absolute, absolute-path, or query-only "?..." as the login form's
/// action) against `base`.
fn resolve(base: &str, reference: &str) -> String {
    if reference.starts_with("http://") || reference.starts_with("https://") {
        return reference.to_string();
    }
    let (authority, target) = split_url(base).unwrap_or(("", "/"));
    if reference.starts_with('/') {
        return format!("http://{authority}{reference}");
    }
    let path = target.split('?').next().unwrap_or("/");
    if reference.starts_with('?') {
        return format!("http://{authority}{path}{reference}");
    }
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    format!("http://{authority}{dir}{reference}")
}

/// The `action` of the first form.
fn form_action(html: &str) -> Option<String> {
    let form = &html[html.find("<form")?..];
    let tag = &form[..form.find('>')?];
    attribute(tag, "action").map(|a| html_unescape(a.trim()))
}

/// name → value of every `<input>` with both (hidden inputs of the SAML and login forms).
fn hidden_inputs(html: &str) -> BTreeMap<String, String> {
    let mut inputs = BTreeMap::new();
    let mut rest = html;
    while let Some(i) = rest.find("<input") {
        rest = &rest[i..];
        let end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..end];
        if let (Some(name), Some(value)) = (attribute(tag, "name"), attribute(tag, "value")) {
            inputs.insert(name.to_string(), html_unescape(value));
        }
        rest = &rest[end..];
    }
    inputs
}

/// `name="value"` in a tag (double quotes, as SimpleSAMLphp writes them).
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

/// The page's text: tags and script bodies dropped, entities decoded, one line per line.
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let skip_to = if rest.starts_with("<script") {
            rest.find("</script>").map(|j| j + "</script>".len())
        } else {
            rest.find('>').map(|j| j + 1)
        };
        rest = &rest[skip_to.unwrap_or(rest.len())..];
    }
    out.push_str(rest);
    html_unescape(&out)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Removes each `<tag ...>...</tag>` whose opening tag satisfies `pred`.
fn remove_elements(xml: &str, tag: &str, pred: impl Fn(&str) -> bool) -> String {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i..];
        let open_end = after.find('>').map_or(after.len(), |j| j + 1);
        let end = if after[..open_end].ends_with("/>") {
            open_end
        } else {
            after.find(&close).map_or(after.len(), |j| j + close.len())
        };
        if pred(&after[..open_end]) {
            // Drop the element and the indentation before it.
            out.push_str(rest[..i].trim_end_matches([' ', '\t']));
            rest = after[end..].strip_prefix('\n').unwrap_or(&after[end..]);
        } else {
            out.push_str(&rest[..i + end]);
            rest = &after[end..];
        }
    }
    out.push_str(rest);
    out
}

pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `YYYY-MM-DDThh:mm:ssZ` for now (UTC).
fn now_xml() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Raw DEFLATE (RFC 1951) made of stored blocks: what `gzinflate` and every inflater accept.
pub fn deflate_stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 5 * (data.len() / 65_535 + 1));
    let mut chunks = data.chunks(65_535).peekable();
    if chunks.peek().is_none() {
        return vec![0x01, 0x00, 0x00, 0xff, 0xff];
    }
    while let Some(chunk) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none())); // BFINAL, BTYPE=00
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard alphabet; whitespace ignored, padding optional.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}
