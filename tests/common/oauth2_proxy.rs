//! A real oauth2-proxy (`scripts/gateways oauth2-proxy`, the pinned release built from its Go
//! module) on a free loopback port, for comparing answers with Sekisho's. Either with an
//! OpenID provider that is never asked (discovery skipped, its endpoints on a closed port),
//! for comparisons that need no sign-in, or signing users in at the test OpenID provider.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use super::front_door::tool_binary;
use super::ports::free_port;
use super::process::Process;

/// A running oauth2-proxy; killed by PID on drop.
pub struct OAuth2Proxy {
    process: Process,
    addr: SocketAddr,
}

/// Where the provider that is never asked would be: the discard port of 127.0.0.1.
const NOWHERE: &str = "http://127.0.0.1:9";

impl OAuth2Proxy {
    /// Starts oauth2-proxy with `flags` added to an OpenID Connect client configuration that
    /// needs no provider until someone signs in. Panics, naming the script that installs it,
    /// when oauth2-proxy is missing, and with its output when it does not listen in time.
    pub async fn start(flags: &[&str]) -> Self {
        let provider = [
            format!("--oidc-issuer-url={NOWHERE}/realms/test"),
            "--skip-oidc-discovery=true".to_owned(),
            format!("--login-url={NOWHERE}/auth"),
            format!("--redeem-url={NOWHERE}/token"),
            format!("--oidc-jwks-url={NOWHERE}/certs"),
            "--client-id=app".to_owned(),
            "--client-secret=not-used".to_owned(),
        ];
        Self::spawn(&provider, flags).await
    }

    /// Starts oauth2-proxy with `flags`, signing users in at the OpenID provider `issuer` as
    /// its client `client_id` / `client_secret`, with its callback on its own address.
    pub async fn signing_in_at(
        issuer: &str,
        (client_id, client_secret): (&str, &str),
        flags: &[&str],
    ) -> Self {
        let provider = [
            format!("--oidc-issuer-url={issuer}"),
            format!("--client-id={client_id}"),
            format!("--client-secret={client_secret}"),
        ];
        Self::spawn(&provider, flags).await
    }

    async fn spawn(provider: &[String], flags: &[&str]) -> Self {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port(Ipv4Addr::LOCALHOST)));
        let mut args = vec![
            format!("--http-address={addr}"),
            format!("--redirect-url=http://{addr}/oauth2/callback"),
            "--provider=oidc".to_owned(),
        ];
        args.extend_from_slice(provider);
        args.extend(
            [
                "--cookie-secret=0123456789abcdef0123456789abcdef",
                "--cookie-secure=false",
                "--email-domain=*",
            ]
            .into_iter()
            .chain(flags.iter().copied())
            .map(str::to_owned),
        );
        Self::run_as_given(addr, &args, &[]).await
    }

    /// Starts oauth2-proxy with exactly `args` (which must make it listen on `addr`) and
    /// `env` added to an environment without the test's own `OAUTH2_PROXY_*` variables: a
    /// configuration as a user gives it.
    pub async fn run_as_given(addr: SocketAddr, args: &[String], env: &[(&str, &str)]) -> Self {
        let binary = tool_binary("oauth2-proxy", "OAUTH2_PROXY_VERSION");
        let mut command = Command::new(binary);
        command.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
        for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("OAUTH2_PROXY_")) {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        let mut process = Process::spawn("oauth2-proxy", command);
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            if let Some(status) = process.exit_status() {
                panic!(
                    "oauth2-proxy exited ({status}) before listening; its output:\n{}",
                    process.output().text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "oauth2-proxy did not listen on {addr} within 20 s; its output:\n{}",
                process.output().text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { process, addr }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn output(&self) -> String {
        self.process.output().text()
    }
}
