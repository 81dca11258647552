use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sekisho::Config;

/// Every request allocates a little (header maps, extensions, response bodies); mimalloc's
/// thread-local free lists make each of those several times cheaper than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// EX_CONFIG from sysexits.h: refused to start because of the configuration.
const EXIT_CONFIG: u8 = 64;

#[derive(Parser)]
#[command(
    name = "sekisho",
    version,
    about = "Authentication gateway for nginx auth_request and reverse proxying"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        #[arg(long, short, default_value = "config/sekisho.toml")]
        config: PathBuf,
    },
    /// Validate a configuration: print every problem with its key; exit 64 if there is any.
    Check {
        #[arg(long, short, default_value = "config/sekisho.toml")]
        config: PathBuf,
    },
    /// Print a fresh random session secret.
    Secret,
    /// Rewrite configuration written for another gateway (`migrate oauth2-proxy --help`,
    /// `migrate ingress-nginx --help`).
    #[command(disable_help_flag = true)]
    Migrate {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<std::ffi::OsString>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Migrate { args } => sekisho::migrate::main(args),
        Command::Secret => {
            println!("{}", sekisho::generate_secret());
            ExitCode::SUCCESS
        }
        Command::Check { config } => match Config::load(&config).and_then(preflight_blocking) {
            Ok(checked) => {
                for warning in checked.warnings() {
                    println!("warning: {warning}");
                }
                println!("{}: ok", config.display());
                ExitCode::SUCCESS
            }
            Err(error) => config_failure(&config, &error),
        },
        Command::Serve { config: path } => match Config::load(&path) {
            Ok(config) => match serve(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error)
                    if error
                        .downcast_ref::<sekisho::config::ConfigError>()
                        .is_some() =>
                {
                    let config_error = error
                        .downcast_ref::<sekisho::config::ConfigError>()
                        .expect("checked");
                    config_failure(&path, config_error)
                }
                Err(error) => {
                    eprintln!("sekisho: {error:#}");
                    ExitCode::FAILURE
                }
            },
            Err(error) => config_failure(&path, &error),
        },
    }
}

/// `check` runs the same network checks as `serve`.
fn preflight_blocking(config: Config) -> Result<Config, sekisho::config::ConfigError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let problems = match runtime {
        Ok(runtime) => runtime.block_on(sekisho::preflight(&config)),
        Err(e) => vec![sekisho::config::Problem::new("runtime", e.to_string())],
    };
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(sekisho::config::ConfigError::Invalid(problems))
    }
}

fn config_failure(path: &std::path::Path, error: &sekisho::config::ConfigError) -> ExitCode {
    eprintln!("sekisho: {} is not usable:", path.display());
    for problem in error.problems() {
        eprintln!("  - {problem}");
    }
    ExitCode::from(EXIT_CONFIG)
}

fn serve(config: Config) -> anyhow::Result<()> {
    sekisho::telemetry::init_logging(&config.log);
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let problems = sekisho::preflight(&config).await;
        if !problems.is_empty() {
            return Err(anyhow::Error::new(sekisho::config::ConfigError::Invalid(problems)));
        }
        let connections = connection_limits(&config);
        let app = sekisho::app(&config);
        let shutdown = sekisho::server::shutdown_signal();
        tracing::info!(listen = %listener.local_addr()?, public_url = %config.public_url, version = env!("CARGO_PKG_VERSION"), "sekisho started");
        let upkeep = sekisho::telemetry::Metrics::install().spawn_upkeep();
        sekisho::server::run(listener, app, shutdown, config.shutdown_timeout, connections).await;
        upkeep.abort();
        Ok(())
    })
}

/// `[connections]`, with the limit on open files raised to hold them, or the connection limit
/// lowered to what the open files allow.
fn connection_limits(config: &Config) -> sekisho::config::ConnectionsConfig {
    use sekisho::server::open_files;
    let limit = match open_files::raise() {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "cannot read or raise the limit on open files; keeping connections.max");
            return config.connections.clone();
        }
    };
    if limit.now > limit.before {
        tracing::info!(
            from = limit.before,
            to = limit.now,
            "raised the limit on open files"
        );
    }
    let fitted = open_files::fit(&config.connections, limit.now, !config.upstreams.is_empty());
    if fitted.max < config.connections.max {
        tracing::warn!(
            open_files = limit.now,
            configured = config.connections.max,
            max = fitted.max,
            "the limit on open files cannot hold connections.max connections; holding fewer (raise the hard limit, e.g. LimitNOFILE= or ulimit -Hn)"
        );
    }
    fitted
}
