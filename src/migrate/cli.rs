//! The command line of `sekisho migrate`. It is parsed here rather than by the top-level
//! parser so that every mistake in it, an unknown flag included, exits with 64 (EX_USAGE) as
//! the rest of Sekisho does for bad configuration, instead of clap's 2.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand, ValueEnum};

use super::EXIT_USAGE;
use super::auth_url::ServiceRef;
use super::names;

#[derive(Parser, Debug)]
#[command(
    name = "sekisho migrate",
    about = "Rewrite manifests written for another gateway, with Sekisho as their auth service"
)]
struct MigrateCli {
    #[command(subcommand)]
    from: From,
}

#[derive(Subcommand, Debug)]
enum From {
    /// Ingresses using ingress-nginx's external authentication (auth-url, auth-signin,
    /// auth-response-headers, ...) as Gateway API or Traefik resources, and Sekisho's
    /// configuration (a ConfigMap), as multi-document YAML on stdout. Warnings go to stderr
    /// and into the output as comments.
    IngressNginx(IngressNginxArgs),
    /// oauth2-proxy's configuration (its TOML file, its flags, OAUTH2_PROXY_* variables and
    /// its alpha YAML, read with oauth2-proxy's precedence: flags over the environment over
    /// the file) as Sekisho's configuration (TOML) on stdout, every key with a comment naming
    /// the setting it came from. What behaves differently is warned about on stderr and in
    /// the output; what Sekisho cannot do is an error naming the setting (exit 65, nothing
    /// written). Secrets are never written: the output says which SEKISHO_* variables to set
    #[command(name = "oauth2-proxy")]
    OAuth2Proxy(OAuth2ProxyArgs),
}

#[derive(Args, Debug)]
struct OAuth2ProxyArgs {
    /// oauth2-proxy's configuration file (TOML, what it reads with --config).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// oauth2-proxy's alpha configuration (YAML, what it reads with --alpha-config).
    #[arg(long, value_name = "FILE")]
    alpha_config: Option<PathBuf>,
    /// OAUTH2_PROXY_* variables: a file of NAME=VALUE lines (.env, docker --env-file) or a
    /// Kubernetes container's `env:` list; read after the process environment, so it wins.
    /// May be given more than once.
    #[arg(long, value_name = "FILE")]
    env_file: Vec<PathBuf>,
    /// Do not read OAUTH2_PROXY_* variables from this process's environment.
    #[arg(long)]
    no_env: bool,
    /// oauth2-proxy's own flags, after `--`, as it was run: `-- --provider=keycloak-oidc
    /// --reverse-proxy --trusted-ip=192.0.2.0/24 ...`.
    #[arg(last = true, value_name = "OAUTH2_PROXY_FLAGS")]
    flags: Vec<String>,
}

#[derive(Args, Debug)]
struct IngressNginxArgs {
    /// What to write: Gateway API routes, or Traefik's IngressRoutes and Middlewares.
    #[arg(long, value_enum)]
    to: TargetKind,
    /// Gateway API: the Gateway the routes attach to, `NAME` or `NAMESPACE/NAME`
    /// [default: sekisho-gateway].
    #[arg(long, value_name = "[NAMESPACE/]NAME")]
    gateway: Option<String>,
    /// Gateway API: how external authentication is written: the standard HTTPRoute
    /// ExternalAuth filter (experimental channel), Envoy Gateway's SecurityPolicy, or the
    /// ExternalAuth filter as NGINX Gateway Fabric runs it [default: standard].
    #[arg(long, value_enum)]
    gateway_impl: Option<GatewayImpl>,
    /// Gateway API: how the gateway asks Sekisho: HTTP (`/oauth2/ext_authz`) or gRPC
    /// (`envoy.service.auth.v3.Authorization`, h2c on the same port) [default: http].
    #[arg(long, value_enum)]
    protocol: Option<Protocol>,
    /// Sekisho's Service, `NAME[.NAMESPACE]:PORT` [default: the Service auth-url names, or
    /// sekisho.sekisho:4180 as in deploy/kubernetes].
    #[arg(long, value_name = "NAME[.NAMESPACE]:PORT")]
    service: Option<String>,
    /// Manifests to read (multi-document YAML, or a `kind: List`); none or `-`: stdin.
    files: Vec<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum TargetKind {
    GatewayApi,
    Traefik,
}

/// Which Gateway API implementation the routes are written for.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayImpl {
    /// The HTTPRoute `ExternalAuth` filter of the experimental channel (GEP-1494).
    Standard,
    /// Envoy Gateway: a `SecurityPolicy` (gateway.envoyproxy.io/v1alpha1) per Ingress.
    EnvoyGateway,
    /// NGINX Gateway Fabric: the `ExternalAuth` filter (it has no CRD of its own for it).
    NginxGatewayFabric,
}

/// How the gateway asks Sekisho.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Grpc,
}

/// What to migrate to, with the settings that only make sense for that target.
#[derive(Debug, Clone)]
pub enum Target {
    GatewayApi(GatewayOptions),
    Traefik,
}

#[derive(Debug, Clone)]
pub struct GatewayOptions {
    pub gateway: GatewayRef,
    pub implementation: GatewayImpl,
    pub protocol: Protocol,
}

/// The Gateway the routes attach to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRef {
    pub namespace: Option<String>,
    pub name: String,
}

/// Where the manifests come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputFile {
    Stdin,
    Path(PathBuf),
}

/// The checked command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub target: Target,
    /// Sekisho's Service when given with `--service`; else each auth-url names it.
    pub service: Option<ServiceRef>,
    pub files: Vec<InputFile>,
    /// The command, for the output's header.
    pub command: String,
}

/// What `sekisho migrate` was asked to do.
#[derive(Debug)]
pub enum Command {
    IngressNginx(Options),
    OAuth2Proxy(super::oauth2_proxy::Inputs),
}

/// Parses `args` (the words after `migrate`); on `--help` or a mistake, prints and returns
/// the exit status.
pub fn parse(args: Vec<OsString>) -> Result<Command, ExitCode> {
    let argv = std::iter::once(OsString::from("sekisho migrate")).chain(args.iter().cloned());
    let cli = match MigrateCli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return Err(match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(EXIT_USAGE),
            });
        }
    };
    let command = std::iter::once("sekisho migrate".to_owned())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    match cli.from {
        From::IngressNginx(args_in) => options(args_in, command)
            .map(Command::IngressNginx)
            .map_err(|message| {
                eprintln!(
                    "error: {message}\n\nFor more information, try 'sekisho migrate ingress-nginx --help'."
                );
                ExitCode::from(EXIT_USAGE)
            }),
        From::OAuth2Proxy(a) => Ok(Command::OAuth2Proxy(super::oauth2_proxy::Inputs {
            config: a.config,
            alpha_config: a.alpha_config,
            env_files: a.env_file,
            no_env: a.no_env,
            flags: a.flags,
            command,
        })),
    }
}

fn options(args: IngressNginxArgs, command: String) -> Result<Options, String> {
    let target = match args.to {
        TargetKind::Traefik => {
            for (flag, given) in [
                ("--gateway", args.gateway.is_some()),
                ("--gateway-impl", args.gateway_impl.is_some()),
                ("--protocol", args.protocol.is_some()),
            ] {
                if given {
                    return Err(format!("{flag} is for --to gateway-api, not --to traefik"));
                }
            }
            Target::Traefik
        }
        TargetKind::GatewayApi => Target::GatewayApi(gateway_options(&args)?),
    };
    let service = args
        .service
        .as_deref()
        .map(|s| {
            s.parse::<ServiceRef>()
                .map_err(|e| format!("--service `{s}`: {e}"))
        })
        .transpose()?;
    let mut files: Vec<InputFile> = args
        .files
        .into_iter()
        .map(|p| {
            if p.as_os_str() == "-" {
                InputFile::Stdin
            } else {
                InputFile::Path(p)
            }
        })
        .collect();
    if files.is_empty() {
        files.push(InputFile::Stdin);
    }
    if files.iter().filter(|f| **f == InputFile::Stdin).count() > 1 {
        return Err("`-` (stdin) given more than once".to_owned());
    }
    Ok(Options {
        target,
        service,
        files,
        command,
    })
}

fn gateway_options(args: &IngressNginxArgs) -> Result<GatewayOptions, String> {
    let implementation = args.gateway_impl.unwrap_or(GatewayImpl::Standard);
    let protocol = args.protocol.unwrap_or(Protocol::Http);
    if implementation == GatewayImpl::NginxGatewayFabric && protocol == Protocol::Grpc {
        return Err(
            "--protocol grpc: NGINX Gateway Fabric runs ExternalAuth as nginx auth_request, \
             over HTTP only; use --protocol http"
                .to_owned(),
        );
    }
    let gateway = args.gateway.as_deref().unwrap_or("sekisho-gateway");
    Ok(GatewayOptions {
        gateway: gateway
            .parse()
            .map_err(|e| format!("--gateway `{gateway}`: {e}"))?,
        implementation,
        protocol,
    })
}

impl std::str::FromStr for GatewayRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (namespace, name) = match s.split_once('/') {
            Some((namespace, name)) => (Some(namespace), name),
            None => (None, s),
        };
        if let Some(namespace) = namespace {
            if !names::is_label(namespace) {
                return Err(format!("`{namespace}` is not a namespace name"));
            }
        }
        if !names::is_subdomain(name) {
            return Err(format!(
                "`{name}` is not a Gateway name (lower-case letters, digits, `-` and `.`)"
            ));
        }
        Ok(GatewayRef {
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        })
    }
}

impl Target {
    /// The words of the command line that chose this target, for comments.
    pub fn describe(&self) -> String {
        match self {
            Target::Traefik => "Traefik".to_owned(),
            Target::GatewayApi(g) => match g.implementation {
                GatewayImpl::Standard => "Gateway API (ExternalAuth filter)".to_owned(),
                GatewayImpl::EnvoyGateway => "Envoy Gateway".to_owned(),
                GatewayImpl::NginxGatewayFabric => "NGINX Gateway Fabric".to_owned(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(words: &[&str]) -> Result<Options, String> {
        let cli = MigrateCli::try_parse_from(
            std::iter::once("sekisho migrate").chain(words.iter().copied()),
        )
        .map_err(|e| e.to_string())?;
        let From::IngressNginx(args) = cli.from else {
            return Err("not ingress-nginx".into());
        };
        options(args, String::new())
    }

    #[test]
    fn flags_are_checked_for_the_target() {
        let cases: &[(&[&str], Result<(), &str>)] = &[
            (&["ingress-nginx", "--to", "traefik"], Ok(())),
            (&["ingress-nginx", "--to", "gateway-api", "a.yaml"], Ok(())),
            (
                &["ingress-nginx", "--to", "traefik", "--gateway", "gw"],
                Err("--gateway is for --to gateway-api"),
            ),
            (
                &["ingress-nginx", "--to", "traefik", "--protocol", "grpc"],
                Err("--protocol is for --to gateway-api"),
            ),
            (
                &[
                    "ingress-nginx",
                    "--to",
                    "gateway-api",
                    "--gateway-impl",
                    "nginx-gateway-fabric",
                    "--protocol",
                    "grpc",
                ],
                Err("HTTP only"),
            ),
            (
                &[
                    "ingress-nginx",
                    "--to",
                    "gateway-api",
                    "--gateway",
                    "Bad_Name",
                ],
                Err("is not a Gateway name"),
            ),
            (
                &[
                    "ingress-nginx",
                    "--to",
                    "gateway-api",
                    "--service",
                    "sekisho",
                ],
                Err("--service `sekisho`"),
            ),
            (&["ingress-nginx", "--to", "nginx"], Err("invalid value")),
            (
                &["ingress-nginx", "--to", "traefik", "-", "-"],
                Err("stdin"),
            ),
        ];
        for (words, expected) in cases {
            let got = parse_words(words);
            match (expected, &got) {
                (Ok(()), Ok(_)) => {}
                (Err(wanted), Err(message)) => {
                    assert!(message.contains(wanted), "{words:?}: {message}")
                }
                _ => panic!("{words:?}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn defaults_and_namespaced_gateway() {
        let options = parse_words(&[
            "ingress-nginx",
            "--to",
            "gateway-api",
            "--gateway",
            "infra/edge",
        ])
        .unwrap();
        let Target::GatewayApi(g) = options.target else {
            panic!("gateway-api")
        };
        assert_eq!(g.gateway.namespace.as_deref(), Some("infra"));
        assert_eq!(g.gateway.name, "edge");
        assert_eq!(g.implementation, GatewayImpl::Standard);
        assert_eq!(g.protocol, Protocol::Http);
        assert_eq!(options.files, vec![InputFile::Stdin]);
    }

    #[test]
    fn oauth2_proxy_takes_its_flags_after_the_double_dash() {
        let cli = MigrateCli::try_parse_from([
            "sekisho migrate",
            "oauth2-proxy",
            "--config",
            "o.cfg",
            "--env-file",
            "a.env",
            "--env-file",
            "b.env",
            "--no-env",
            "--",
            "--reverse-proxy",
            "--trusted-ip=192.0.2.0/24",
        ])
        .unwrap();
        let From::OAuth2Proxy(args) = cli.from else {
            panic!("oauth2-proxy")
        };
        assert_eq!(args.config, Some(PathBuf::from("o.cfg")));
        assert_eq!(args.env_file.len(), 2);
        assert!(args.no_env);
        assert_eq!(args.flags, ["--reverse-proxy", "--trusted-ip=192.0.2.0/24"]);
        let unknown =
            MigrateCli::try_parse_from(["sekisho migrate", "oauth2-proxy", "--reverse-proxy"]);
        assert!(unknown.is_err(), "oauth2-proxy's flags go after --");
    }
}
