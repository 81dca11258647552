//! oauth2-proxy's settings, as oauth2-proxy would use them, turned into Sekisho's keys: each
//! key written with the settings it came from, each setting that behaves differently in
//! Sekisho with a warning saying how, each one with no equivalent as an error (when it
//! changes who gets in or what the apps are told) or a warning that it is ignored.
//!
//! Every setting is taken once, by name, from [`Settings`]; a test checks that every option
//! marked [`Fate::Mapped`] is taken, so none can be dropped without a word.

mod apps;
mod network;
mod provider;
mod session;

use super::options::Fate;
use super::sources::{Origin, Setting, Value};

/// One Sekisho key to write, and why.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `""` for the top level, `client_ip`, `session`, ..., `upstream` for the `[[upstream]]`.
    pub section: &'static str,
    pub key: &'static str,
    pub value: toml::Value,
    /// Lines of the comment above the key.
    pub comment: Vec<String>,
    /// The oauth2-proxy settings it came from, for problems `sekisho check` finds in it.
    pub from: Vec<Origin>,
}

/// Something about one setting (or several) that the user must read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Where it was given: `--flag`, `FILE:LINE key`, `OAUTH2_PROXY_X`, `FILE: field`.
    pub at: String,
    pub text: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.at.is_empty() {
            f.write_str(&self.text)
        } else {
            write!(f, "{}: {}", self.at, self.text)
        }
    }
}

/// How the apps are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// nginx asks Sekisho with `auth_request` (oauth2-proxy's `static://` upstream, or none).
    AuthRequest,
    /// Sekisho proxies to the app (oauth2-proxy's `http://` upstream).
    Proxy,
}

/// Everything the migration says.
#[derive(Debug)]
pub struct Plan {
    pub mode: Mode,
    pub entries: Vec<Entry>,
    /// Settings carried over with no key to write (said in the header).
    pub notes: Vec<Finding>,
    /// Environment variables the user must set, with what to.
    pub secrets: Vec<(&'static str, String)>,
    pub warnings: Vec<Finding>,
    pub errors: Vec<Finding>,
}

/// The settings oauth2-proxy uses, taken one by one.
pub struct Settings(Vec<Setting>);

impl Settings {
    pub fn new(settings: Vec<Setting>) -> Self {
        Self(settings)
    }

    fn take(&mut self, key: &str) -> Option<Setting> {
        let at = self.0.iter().position(|s| s.spec.key == key)?;
        Some(self.0.remove(at))
    }

    /// Where a setting was given, with the lower-precedence places it overrode.
    fn peek(&self, key: &str) -> Option<&Setting> {
        self.0.iter().find(|s| s.spec.key == key)
    }
}

/// Where a setting came from, as written in messages: `--flag` (overriding `o.cfg:3 flag`).
fn at(setting: &Setting) -> String {
    setting.origin.to_string()
}

fn at_all(settings: &[&Setting]) -> String {
    settings
        .iter()
        .map(|s| at(s))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The comment line saying where a key came from.
fn source_line(settings: &[&Setting]) -> String {
    let mut line = format!("from {}", at_all(settings));
    let overridden: Vec<String> = settings
        .iter()
        .flat_map(|s| s.overrides.iter().map(ToString::to_string))
        .collect();
    if !overridden.is_empty() {
        line.push_str(&format!(" (over {})", overridden.join(", ")));
    }
    line
}

fn text(setting: &Setting) -> String {
    match &setting.value {
        Value::Text(t) => t.trim().to_owned(),
        other => other.to_string(),
    }
}

fn flag(setting: Option<&Setting>) -> Option<bool> {
    setting.and_then(|s| s.value.as_bool())
}

fn string(s: impl Into<String>) -> toml::Value {
    toml::Value::String(s.into())
}

fn strings(items: &[String]) -> toml::Value {
    toml::Value::Array(items.iter().cloned().map(toml::Value::String).collect())
}

struct Builder {
    settings: Settings,
    plan: Plan,
    /// The `provider` value, once [`provider`] has taken it.
    provider_kind: Option<String>,
}

impl Builder {
    fn set(
        &mut self,
        section: &'static str,
        key: &'static str,
        value: toml::Value,
        from: &[&Setting],
        why: &[&str],
    ) {
        let mut comment: Vec<String> = Vec::new();
        if !from.is_empty() {
            comment.push(source_line(from));
        }
        comment.extend(why.iter().map(|s| s.to_string()));
        self.plan
            .entries
            .retain(|e| !(e.section == section && e.key == key));
        self.plan.entries.push(Entry {
            section,
            key,
            value,
            comment,
            from: from.iter().map(|s| s.origin.clone()).collect(),
        });
    }

    fn warn(&mut self, at: String, text: impl Into<String>) {
        self.plan.warnings.push(Finding {
            at,
            text: text.into(),
        });
    }

    fn error(&mut self, at: String, text: impl Into<String>) {
        self.plan.errors.push(Finding {
            at,
            text: text.into(),
        });
    }

    fn note(&mut self, at: String, text: impl Into<String>) {
        self.plan.notes.push(Finding {
            at,
            text: text.into(),
        });
    }
}

/// Settings the alpha configuration set apart: (origin, why), unsupported and ignored.
pub type Apart = (Vec<(Origin, String)>, Vec<(Origin, String)>);

/// Maps the settings oauth2-proxy uses.
pub fn map(settings: Vec<Setting>, apart: Apart) -> Plan {
    let mut b = Builder {
        provider_kind: None,
        settings: Settings::new(Vec::new()),
        plan: Plan {
            mode: Mode::AuthRequest,
            entries: Vec::new(),
            notes: Vec::new(),
            secrets: Vec::new(),
            warnings: Vec::new(),
            errors: Vec::new(),
        },
    };
    let mut mapped = Vec::new();
    for setting in settings {
        match setting.spec.fate {
            Fate::Mapped => mapped.push(setting),
            Fate::Unsupported(why) if is_unset(&setting.value) => {
                b.warn(at(&setting), format!("ignored: set to nothing ({why})"))
            }
            Fate::Unsupported(why) => {
                b.error(at(&setting), format!("no equivalent in Sekisho: {why}"))
            }
            Fate::Ignored(why) => b.warn(at(&setting), format!("ignored: {why}")),
            Fate::Command => {}
        }
    }
    let (unsupported, ignored) = apart;
    for (origin, why) in unsupported {
        b.error(
            origin.to_string(),
            format!("no equivalent in Sekisho: {why}"),
        );
    }
    for (origin, why) in ignored {
        b.warn(origin.to_string(), format!("ignored: {why}"));
    }
    b.settings = Settings::new(mapped);

    network::upstreams(&mut b);
    network::listener(&mut b);
    network::client_ip(&mut b);
    network::redirects(&mut b);
    provider::provider(&mut b);
    provider::authorization(&mut b);
    session::session(&mut b);
    session::redis(&mut b);
    apps::headers(&mut b);
    apps::skip_auth(&mut b);
    logging(&mut b);
    for left in std::mem::take(&mut b.settings.0) {
        b.error(
            at(&left),
            "not carried over (the migrator does not know it)",
        );
    }
    b.plan
}

fn is_unset(value: &Value) -> bool {
    match value {
        Value::Bool(b) => !b,
        Value::Text(t) => t.trim().is_empty(),
        Value::List(items) => items.is_empty(),
        Value::Elsewhere(_) => false,
    }
}

fn logging(b: &mut Builder) {
    if let Some(r) = b.settings.take("request_logging") {
        b.set(
            "log",
            "access",
            toml::Value::Boolean(flag(Some(&r)).unwrap_or(true)),
            &[&r],
            &[],
        );
    }
}

#[cfg(test)]
pub(super) mod tests;
