//! `sekisho migrate oauth2-proxy`: reads oauth2-proxy's configuration the ways it is given
//! (its TOML file, its flags, `OAUTH2_PROXY_*` variables, its alpha YAML) and writes the
//! equivalent Sekisho configuration.
//!
//! - [`options`] is the table of oauth2-proxy's options: each one's flag, file key and
//!   variable, and what becomes of it;
//! - [`sources`] reads the file, the flags and the environment into settings that remember
//!   where they were given, and keeps the one oauth2-proxy would use (flag over variable over
//!   file); [`alpha`] reads the alpha configuration into the same settings;
//! - [`mapping`] turns the settings into Sekisho's keys, warnings and errors;
//! - [`render`] writes the TOML, every key with a comment naming where it came from.
//!
//! The configuration written is checked as `sekisho check` would (with stand-ins for the
//! secrets, which are never written): a value Sekisho refuses is an error naming the
//! oauth2-proxy setting it came from.

pub mod alpha;
pub mod mapping;
pub mod options;
pub mod render;
pub mod sources;

use std::collections::HashMap;
use std::path::PathBuf;

use mapping::{Finding, Plan};
use sources::{EnvVar, Origin, Value};

/// What to read, from the command line of `sekisho migrate oauth2-proxy`.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// oauth2-proxy's TOML configuration (its `--config`).
    pub config: Option<PathBuf>,
    /// oauth2-proxy's alpha configuration (its `--alpha-config`).
    pub alpha_config: Option<PathBuf>,
    /// `KEY=VALUE` files or Kubernetes env lists with `OAUTH2_PROXY_*` variables.
    pub env_files: Vec<PathBuf>,
    /// Leave the process environment out.
    pub no_env: bool,
    /// oauth2-proxy's own flags, as it was run.
    pub flags: Vec<String>,
    /// The command, for the output's header.
    pub command: String,
}

/// The configuration for stdout and the messages for stderr.
#[derive(Debug)]
pub struct Migration {
    pub toml: String,
    pub messages: Vec<String>,
}

/// Reads every input and maps it; `process_env` is the process's environment (read unless
/// `--no-env`). Every problem is returned, each naming where it was given.
pub fn run(inputs: &Inputs, process_env: Vec<(String, String)>) -> Result<Migration, Vec<String>> {
    let mut problems = Vec::new();
    let mut read = Vec::new();
    let mut messages = Vec::new();

    let flags = match sources::read_flags(&inputs.flags) {
        Ok(flags) => flags,
        Err(mut p) => {
            problems.append(&mut p);
            sources::Flags {
                settings: Vec::new(),
                config: None,
                alpha_config: None,
                ignored: Vec::new(),
            }
        }
    };
    if !flags.settings.is_empty() {
        read.push("oauth2-proxy's flags".to_owned());
    }
    for flag in &flags.ignored {
        messages.push(format!(
            "note: {flag}: about running oauth2-proxy; nothing to migrate"
        ));
    }
    let config = either(
        "--config",
        inputs.config.as_ref(),
        flags.config.as_ref(),
        &mut problems,
    );
    let alpha_path = either(
        "--alpha-config",
        inputs.alpha_config.as_ref(),
        flags.alpha_config.as_ref(),
        &mut problems,
    );

    let file_settings = match &config {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => {
                read.push(path.clone());
                sources::read_file(path, &text).unwrap_or_else(|mut p| {
                    problems.append(&mut p);
                    Vec::new()
                })
            }
            Err(e) => {
                problems.push(format!("{path}: cannot read: {e}"));
                Vec::new()
            }
        },
        None => Vec::new(),
    };

    let mut vars: Vec<EnvVar> = Vec::new();
    if !inputs.no_env {
        let mut process: Vec<EnvVar> = process_env
            .into_iter()
            .map(|(name, value)| EnvVar {
                name,
                value: Value::Text(value),
                file: None,
            })
            .collect();
        process.sort_by(|a, b| a.name.cmp(&b.name));
        if process
            .iter()
            .any(|v| v.name.starts_with(options::ENV_PREFIX))
        {
            read.push("OAUTH2_PROXY_* of the environment".to_owned());
        }
        vars.extend(process);
    }
    for path in &inputs.env_files {
        let path = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => match sources::read_env_file(&path, &text) {
                Ok(more) => {
                    read.push(path);
                    vars.extend(more);
                }
                Err(mut p) => problems.append(&mut p),
            },
            Err(e) => problems.push(format!("{path}: cannot read: {e}")),
        }
    }
    let env_settings = sources::read_env(&vars).unwrap_or_else(|mut p| {
        problems.append(&mut p);
        Vec::new()
    });

    let mut settings = sources::merge([flags.settings, env_settings, file_settings]);
    let mut apart = (Vec::new(), Vec::new());
    if let Some(path) = &alpha_path {
        let env: HashMap<String, String> = vars
            .iter()
            .filter_map(|v| match &v.value {
                Value::Text(t) => Some((v.name.clone(), t.clone())),
                _ => None,
            })
            .collect();
        match std::fs::read_to_string(path) {
            Ok(text) => match alpha::read(path, &text, &env) {
                Ok(alpha) => {
                    read.push(path.clone());
                    for legacy in settings
                        .iter()
                        .filter(|s| options::replaced_by_alpha(s.spec))
                    {
                        problems.push(format!(
                            "{}: oauth2-proxy does not read it with --alpha-config (the alpha \
                             configuration replaces it): remove it, or move it into {path}",
                            legacy.origin
                        ));
                    }
                    settings.extend(alpha.settings);
                    apart = (alpha.unsupported, alpha.ignored);
                }
                Err(mut p) => problems.append(&mut p),
            },
            Err(e) => problems.push(format!("{path}: cannot read: {e}")),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if settings.is_empty() && apart.0.is_empty() && apart.1.is_empty() {
        return Err(vec![
            "nothing to migrate: give oauth2-proxy's --config FILE, --alpha-config FILE, \
             --env-file FILE or its flags after `--`"
                .to_owned(),
        ]);
    }

    let mut plan = mapping::map(settings, apart);
    if !plan.errors.is_empty() {
        return Err(plan.errors.iter().map(ToString::to_string).collect());
    }
    let mut toml = render::render(&plan, &inputs.command, &read);
    let checked = check(&toml, &mut plan);
    if !checked.is_empty() {
        return Err(checked);
    }
    if !plan.warnings.is_empty() {
        toml = render::render(&plan, &inputs.command, &read);
    }
    messages.extend(plan.warnings.iter().map(|w| format!("warning: {w}")));
    Ok(Migration { toml, messages })
}

/// Our own flag, or the one among oauth2-proxy's; both only when they agree.
fn either(
    name: &str,
    ours: Option<&PathBuf>,
    theirs: Option<&String>,
    problems: &mut Vec<String>,
) -> Option<String> {
    let ours = ours.map(|p| p.display().to_string());
    match (ours, theirs) {
        (Some(a), Some(b)) if a != *b => {
            problems.push(format!(
                "{name} given twice, `{a}` and (among oauth2-proxy's flags) `{b}`"
            ));
            None
        }
        (Some(a), _) => Some(a),
        (None, b) => b.cloned(),
    }
}

/// The configuration as `sekisho check` reads it, with stand-ins for the secrets: every
/// problem, named with the oauth2-proxy settings behind the key. Sekisho's warnings about a
/// valid configuration join the plan's.
fn check(toml: &str, plan: &mut Plan) -> Vec<String> {
    let mut vars = vec![("SEKISHO_SESSION__SECRET".to_owned(), "s".repeat(48))];
    if plan.entries.iter().any(|e| e.section == "oidc") {
        vars.push((
            "SEKISHO_OIDC__CLIENT_SECRET".to_owned(),
            "stand-in".to_owned(),
        ));
    }
    match crate::Config::from_toml(toml, vars) {
        Ok(config) => {
            for warning in config.warnings() {
                plan.warnings.push(Finding {
                    at: String::new(),
                    text: format!("sekisho check says: {warning}"),
                });
            }
            Vec::new()
        }
        Err(error) => {
            let mut errors = Vec::new();
            for problem in error.problems() {
                let bare: String = problem
                    .key
                    .split('[')
                    .enumerate()
                    .map(|(i, part)| {
                        if i == 0 {
                            part
                        } else {
                            part.split_once(']').map_or("", |(_, r)| r)
                        }
                    })
                    .collect();
                let entry = plan.entries.iter().find(|e| {
                    let full = if e.section.is_empty() {
                        e.key.to_owned()
                    } else {
                        format!("{}.{}", e.section, e.key)
                    };
                    full == bare
                });
                let from = entry
                    .map(|e| {
                        e.from
                            .iter()
                            .map(Origin::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                let file_missing =
                    matches!(bare.as_str(), "oidc.ca_file" | "session.redis_ca_file")
                        && problem.message.starts_with("cannot read");
                let text = format!(
                    "becomes Sekisho's {}, which {}",
                    problem.key, problem.message
                );
                if file_missing {
                    plan.warnings.push(Finding {
                        at: from,
                        text: format!("{text}: `sekisho check` fails until the file is there"),
                    });
                } else if from.is_empty() {
                    errors.push(format!("Sekisho's {}: {}", problem.key, problem.message));
                } else {
                    errors.push(format!("{from}: {text}"));
                }
            }
            errors
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(flags: &[&str]) -> Inputs {
        Inputs {
            flags: flags.iter().map(|s| s.to_string()).collect(),
            no_env: true,
            command: "sekisho migrate oauth2-proxy".into(),
            ..Inputs::default()
        }
    }

    use mapping::tests::STORY;

    #[test]
    fn the_output_is_a_configuration_sekisho_accepts() {
        let migration = run(&inputs(STORY), Vec::new()).unwrap();
        let vars = vec![
            ("SEKISHO_SESSION__SECRET".to_owned(), "k".repeat(40)),
            ("SEKISHO_OIDC__CLIENT_SECRET".to_owned(), "x".to_owned()),
        ];
        let config = crate::Config::from_toml(&migration.toml, vars).unwrap();
        assert!(config.trusted_ips.contains("203.0.113.9".parse().unwrap()));
        assert!(
            migration
                .messages
                .iter()
                .all(|m| m.starts_with("warning: ")),
            "{:?}",
            migration.messages
        );
    }

    #[test]
    fn a_value_sekisho_refuses_names_the_oauth2_proxy_setting() {
        let mut flags = STORY.to_vec();
        flags.push("--trusted-ip=10.0.0.0/33");
        let errors = run(&inputs(&flags), Vec::new()).unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("--trusted-ip: becomes Sekisho's trusted_ips[1]")),
            "{errors:?}"
        );
    }

    #[test]
    fn the_environment_is_read_unless_told_not_to() {
        let env = vec![
            ("OAUTH2_PROXY_COOKIE_NAME".to_owned(), "_corp".to_owned()),
            ("PATH".to_owned(), "/bin".to_owned()),
        ];
        let with = run(
            &Inputs {
                no_env: false,
                ..inputs(STORY)
            },
            env.clone(),
        )
        .unwrap();
        assert!(
            with.toml.contains("cookie_name = \"_corp\""),
            "{}",
            with.toml
        );
        let without = run(&inputs(STORY), env).unwrap();
        assert!(!without.toml.contains("_corp"));
        let unknown = vec![("OAUTH2_PROXY_NO_SUCH".to_owned(), "1".to_owned())];
        let errors = run(
            &Inputs {
                no_env: false,
                ..inputs(STORY)
            },
            unknown,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            ["OAUTH2_PROXY_NO_SUCH: unknown oauth2-proxy variable"]
        );
    }

    #[test]
    fn nothing_given_is_an_error() {
        assert!(run(&inputs(&[]), Vec::new()).unwrap_err()[0].starts_with("nothing to migrate"));
    }
}
