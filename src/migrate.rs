//! `sekisho migrate`: configurations written for another gateway, rewritten for Sekisho.
//!
//! - `sekisho migrate oauth2-proxy` ([`oauth2_proxy`]): oauth2-proxy's configuration (file,
//!   flags, environment, alpha YAML) as Sekisho's configuration;
//! - `sekisho migrate ingress-nginx`: Ingresses written for ingress-nginx's external
//!   authentication (`auth-url`, `auth-signin`, `auth-response-headers`, ...) rewritten for a
//!   Gateway API implementation or Traefik, with Sekisho as the auth service, plus the Sekisho
//!   configuration those need. The rest of this module is that command.
//!
//! The ingress-nginx work is split so that a target never reads YAML and a reader never knows
//! a target:
//!
//! - [`input`] reads files into documents (with where each came from, for messages);
//! - [`ingress`] turns a document into a typed [`ingress::Ingress`], or says which field is wrong;
//! - [`annotations`] (with [`auth_url`] and [`snippet`]) reads what the ingress-nginx
//!   annotations ask for, the same for every target, and notes every annotation it cannot map;
//! - [`gateway_api`] and [`traefik`] render that as their resources, saying in comments what
//!   each annotation became; [`sekisho_config`] writes the Sekisho configuration;
//! - [`output`] writes commented multi-document YAML; [`lint`] checks documents passed through.
//!
//! Exit status, of both: 0 (with warnings on stderr, if any), 64 for bad flags, 65 when an
//! input cannot be read or asks for what Sekisho cannot do (every problem listed, nothing
//! written to stdout).

pub mod annotations;
pub mod auth_url;
pub mod cli;
pub mod gateway_api;
pub mod ingress;
pub mod input;
pub mod lint;
pub mod names;
pub mod oauth2_proxy;
pub mod output;
pub mod routes;
pub mod sekisho_config;
pub mod snippet;
pub mod traefik;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use annotations::Reading;
use cli::{Command, Options, Target};
use ingress::Ingress;
use input::{Document, InputError};
use output::Doc;

/// EX_USAGE from sysexits.h: the command line is wrong.
pub const EXIT_USAGE: u8 = 64;
/// EX_DATAERR from sysexits.h: an input could not be read.
pub const EXIT_DATAERR: u8 = 65;

/// `sekisho migrate ARGS...`: parses the arguments after `migrate`, runs, and prints.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let result = match cli::parse(args) {
        Ok(Command::IngressNginx(options)) => run(&options)
            .map(|m| (m.yaml, m.messages))
            .map_err(|errors| errors.iter().map(ToString::to_string).collect()),
        Ok(Command::OAuth2Proxy(inputs)) => {
            oauth2_proxy::run(&inputs, std::env::vars().collect()).map(|m| (m.toml, m.messages))
        }
        Err(exit) => return exit,
    };
    finish(result)
}

/// Prints a migration: the messages on stderr and the output on stdout, or every problem and
/// nothing on stdout.
fn finish(result: Result<(String, Vec<String>), Vec<String>>) -> ExitCode {
    match result {
        Ok((output, messages)) => {
            for line in &messages {
                eprintln!("{line}");
            }
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(output.as_bytes()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sekisho migrate: cannot write the output: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(errors) => {
            for error in &errors {
                eprintln!("error: {error}");
            }
            eprintln!(
                "sekisho migrate: {} problem(s) in the input; nothing written",
                errors.len()
            );
            ExitCode::from(EXIT_DATAERR)
        }
    }
}

/// The result of a migration: the YAML for stdout, and the warnings and notes for stderr.
#[derive(Debug)]
pub struct Migration {
    pub yaml: String,
    pub messages: Vec<String>,
}

/// One Ingress read, with what its annotations ask for.
#[derive(Debug)]
pub struct Source {
    pub document: Document,
    pub ingress: Ingress,
    pub reading: Reading,
}

/// Reads every input and renders the target's documents; every input problem is returned.
pub fn run(options: &Options) -> Result<Migration, Vec<InputError>> {
    let (documents, mut errors) = input::read_all(&options.files);
    let mut messages = Vec::new();
    let mut ingresses = Vec::new();
    for document in documents {
        match document.kind() {
            Some("Ingress") => match ingress::parse(&document) {
                Ok(ingress) => ingresses.push((document, ingress)),
                Err(mut e) => errors.append(&mut e),
            },
            _ => {
                messages.push(format!("note: {}: skipped", document.describe()));
                for finding in lint::check(&document) {
                    messages.push(format!("warning: {}: {finding}", document.describe()));
                }
            }
        }
    }
    let mut sources = Vec::new();
    for (document, ingress) in ingresses {
        match annotations::read(&ingress, options) {
            Ok(reading) => sources.push(Source {
                document,
                ingress,
                reading,
            }),
            Err(e) => errors.extend(e.into_iter().map(|e| e.at(&document, Some(&ingress)))),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(render(options, &sources, messages))
}

fn render(options: &Options, sources: &[Source], mut messages: Vec<String>) -> Migration {
    let config = sekisho_config::SekishoConfig::from_sources(sources, options);
    let mut docs: Vec<Doc> = vec![output::header(options, sources)];
    for source in sources {
        let rendered = match &options.target {
            Target::GatewayApi(gateway) => gateway_api::render(source, gateway, &config),
            Target::Traefik => traefik::render(source),
        };
        for warning in &rendered.warnings {
            messages.push(format!(
                "warning: {} (Ingress {}): {warning}",
                source.document.origin,
                source.ingress.display_name()
            ));
        }
        docs.extend(rendered.docs);
    }
    docs.extend(routes::sekisho_paths(sources, &config, options));
    for warning in config.warnings() {
        messages.push(format!("warning: {warning}"));
    }
    if let Some(doc) = config.document(options) {
        docs.push(doc);
    }
    if sources.is_empty() {
        messages.push("note: no Ingress in the input: nothing to migrate".to_owned());
    }
    Migration {
        yaml: output::render(&docs),
        messages,
    }
}
