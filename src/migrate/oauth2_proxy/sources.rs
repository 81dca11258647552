//! The places oauth2-proxy reads its legacy options from, each read into [`Setting`]s that
//! remember where they were given: the TOML file (`--config`), the environment
//! (`OAUTH2_PROXY_*`, from the process or an env file) and the command line. [`merge`] keeps,
//! for each option, the value oauth2-proxy would use: a flag over the environment over the
//! file, as its configuration loader (viper) does.

use std::collections::BTreeMap;
use std::fmt;

use super::options::{self, ENV_PREFIX, Kind, Spec};

/// Where a value was given, in the words a user would look for it with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `FILE:LINE key`.
    File {
        path: String,
        line: usize,
        key: String,
    },
    /// `--flag`.
    Flag(String),
    /// `OAUTH2_PROXY_X`, with the env file and line when it came from one.
    Env {
        name: String,
        file: Option<(String, usize)>,
    },
    /// `FILE: providers[0].oidcConfig.issuerURL`.
    Alpha { path: String, field: String },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line, key } => write!(f, "{path}:{line} {key}"),
            Origin::Flag(flag) => f.write_str(flag),
            Origin::Env { name, file: None } => f.write_str(name),
            Origin::Env {
                name,
                file: Some((path, line)),
            } => write!(f, "{name} ({path}:{line})"),
            Origin::Alpha { path, field } => write!(f, "{path}: {field}"),
        }
    }
}

/// A value as oauth2-proxy would hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    /// Strings, durations and numbers, as written.
    Text(String),
    List(Vec<String>),
    /// Given by reference (a Kubernetes `valueFrom`): known to be set, not what to.
    Elsewhere(String),
}

impl Value {
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The entries of a list (a single text is a list of one).
    pub fn items(&self) -> Vec<String> {
        match self {
            Value::List(items) => items.clone(),
            Value::Text(t) => vec![t.clone()],
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Text(t) => f.write_str(t),
            Value::List(items) => f.write_str(&items.join(",")),
            Value::Elsewhere(what) => write!(f, "({what})"),
        }
    }
}

/// One option as given in one place.
#[derive(Clone, Debug)]
pub struct Setting {
    pub spec: &'static Spec,
    pub value: Value,
    pub origin: Origin,
    /// Where the same option was also given with less precedence, and so not used.
    pub overrides: Vec<Origin>,
}

/// What could not be read, with where.
pub type Problem = String;

/// Reads a value written as text (a flag, a variable) as the option's kind; lists split on
/// commas as oauth2-proxy splits them.
pub fn parse_text(spec: &Spec, text: &str) -> Result<Value, String> {
    match spec.kind {
        Kind::Bool => parse_bool(text)
            .map(Value::Bool)
            .ok_or_else(|| format!("`{text}` is not true or false")),
        Kind::List => Ok(Value::List(split_list(text))),
        Kind::Int => text
            .trim()
            .parse::<i64>()
            .map(|_| Value::Text(text.trim().to_owned()))
            .map_err(|_| format!("`{text}` is not a number")),
        Kind::Str | Kind::Duration => Ok(Value::Text(text.to_owned())),
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// `a,b` into `[a, b]`; a double-quoted field may hold commas, as in the CSV pflag reads.
fn split_list(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => items.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    items.push(current);
    items
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// oauth2-proxy's TOML configuration file: flat `key = value` lines.
pub fn read_file(path: &str, text: &str) -> Result<Vec<Setting>, Vec<Problem>> {
    type Table = BTreeMap<toml::Spanned<String>, toml::Spanned<toml::Value>>;
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let table: Table = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(s.start)).unwrap_or(1);
        vec![format!(
            "{path}:{line}: not a valid TOML file: {}",
            e.message().lines().collect::<Vec<_>>().join("; ")
        )]
    })?;
    let mut settings = Vec::new();
    let mut problems = Vec::new();
    let mut table: Vec<_> = table.into_iter().collect();
    table.sort_by_key(|(key, _)| key.span().start);
    for (key, value) in table {
        let line = line_of(key.span().start);
        let key = key.into_inner();
        let origin = Origin::File {
            path: path.to_owned(),
            line,
            key: key.clone(),
        };
        let Some(spec) = options::by_key(&key) else {
            let hint = options::near(&key, options::by_key)
                .map(|k| format!(" (oauth2-proxy reads `{k}`)"))
                .unwrap_or_default();
            problems.push(format!("{origin}: unknown oauth2-proxy option{hint}"));
            continue;
        };
        match from_toml(spec, value.into_inner()) {
            Ok(value) => settings.push(Setting {
                spec,
                value,
                origin,
                overrides: Vec::new(),
            }),
            Err(why) => problems.push(format!("{origin}: {why}")),
        }
    }
    if problems.is_empty() {
        Ok(settings)
    } else {
        Err(problems)
    }
}

fn from_toml(spec: &Spec, value: toml::Value) -> Result<Value, String> {
    use toml::Value as T;
    match (spec.kind, value) {
        (Kind::Bool, T::Boolean(b)) => Ok(Value::Bool(b)),
        // viper reads "true" in quotes as a boolean too.
        (Kind::Bool, T::String(s)) => parse_text(spec, &s),
        (Kind::List, T::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                T::String(s) => Ok(s),
                other => Err(format!("`{other}` in the list is not a string")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::List),
        (Kind::List, T::String(s)) => Ok(Value::List(split_list(&s))),
        (Kind::Int | Kind::Duration, T::Integer(n)) => Ok(Value::Text(n.to_string())),
        (Kind::Str | Kind::Duration | Kind::Int, T::String(s)) => parse_text(spec, &s),
        (kind, other) => Err(format!(
            "`{other}` is not {}",
            match kind {
                Kind::Bool => "true or false",
                Kind::List => "a list of strings",
                Kind::Int => "a number",
                Kind::Str | Kind::Duration => "a string",
            }
        )),
    }
}

/// The flags after `--`, as oauth2-proxy's command line parser (pflag) reads them:
/// `--name=value`, `--name value`, a bare `--name` for true, repeatable lists. `--config` and
/// `--alpha-config` among them are returned apart: they name files to read.
pub struct Flags {
    pub settings: Vec<Setting>,
    pub config: Option<String>,
    pub alpha_config: Option<String>,
    /// `--version`, `--config-test`: said in a note, nothing to migrate.
    pub ignored: Vec<String>,
}

pub fn read_flags(words: &[String]) -> Result<Flags, Vec<Problem>> {
    let mut flags = Flags {
        settings: Vec::new(),
        config: None,
        alpha_config: None,
        ignored: Vec::new(),
    };
    let mut problems = Vec::new();
    let mut words = words.iter();
    while let Some(word) = words.next() {
        let Some(body) = word.strip_prefix("--") else {
            problems.push(match word.strip_prefix('-') {
                Some(name) if name.len() > 1 => {
                    format!("`{word}`: oauth2-proxy's flags take two dashes (`-{word}`)")
                }
                _ => format!("`{word}`: oauth2-proxy takes no arguments besides its flags"),
            });
            continue;
        };
        let (name, inline) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (body, None),
        };
        let flag = format!("--{name}");
        let Some(spec) = options::by_flag(name) else {
            problems.push(format!("{flag}: unknown oauth2-proxy flag"));
            continue;
        };
        let text = match (inline, spec.kind) {
            (Some(value), _) => value,
            (None, Kind::Bool) => "true".to_owned(),
            (None, _) => match words.next() {
                Some(value) => value.clone(),
                None => {
                    problems.push(format!("{flag}: needs a value"));
                    continue;
                }
            },
        };
        match spec.flag {
            "config" => flags.config = Some(text),
            "alpha-config" => flags.alpha_config = Some(text),
            _ if spec.fate == options::Fate::Command => flags.ignored.push(flag),
            _ => match parse_text(spec, &text) {
                Ok(value) => add_flag(&mut flags.settings, spec, value, flag),
                Err(why) => problems.push(format!("{flag}: {why}")),
            },
        }
    }
    if problems.is_empty() {
        Ok(flags)
    } else {
        Err(problems)
    }
}

/// A repeated list flag adds to the list; any other repeated flag replaces the value.
fn add_flag(settings: &mut Vec<Setting>, spec: &'static Spec, value: Value, flag: String) {
    if let Some(earlier) = settings.iter_mut().find(|s| std::ptr::eq(s.spec, spec)) {
        match (&mut earlier.value, value) {
            (Value::List(items), Value::List(more)) => items.extend(more),
            (slot, value) => *slot = value,
        }
        return;
    }
    settings.push(Setting {
        spec,
        value,
        origin: Origin::Flag(flag),
        overrides: Vec::new(),
    });
}

/// One `OAUTH2_PROXY_*` variable and where it was set (`None`: the process environment).
#[derive(Clone, Debug)]
pub struct EnvVar {
    pub name: String,
    pub value: Value,
    pub file: Option<(String, usize)>,
}

/// The `OAUTH2_PROXY_*` variables among `vars`.
pub fn read_env(vars: &[EnvVar]) -> Result<Vec<Setting>, Vec<Problem>> {
    let mut settings: Vec<Setting> = Vec::new();
    let mut problems = Vec::new();
    for var in vars.iter().filter(|v| v.name.starts_with(ENV_PREFIX)) {
        let origin = Origin::Env {
            name: var.name.clone(),
            file: var.file.clone(),
        };
        let Some(spec) = options::by_env(&var.name) else {
            let hint = options::near(&var.name, options::by_env)
                .map(|k| format!(" (oauth2-proxy reads `{k}`)"))
                .unwrap_or_default();
            problems.push(format!("{origin}: unknown oauth2-proxy variable{hint}"));
            continue;
        };
        let value = match &var.value {
            Value::Text(text) => match parse_text(spec, text) {
                Ok(value) => value,
                Err(why) => {
                    problems.push(format!("{origin}: {why}"));
                    continue;
                }
            },
            other => other.clone(),
        };
        // A later definition of the same variable (an env file after the process) wins.
        settings.retain(|s| !std::ptr::eq(s.spec, spec));
        settings.push(Setting {
            spec,
            value,
            origin,
            overrides: Vec::new(),
        });
    }
    if problems.is_empty() {
        Ok(settings)
    } else {
        Err(problems)
    }
}

/// An env file: `KEY=VALUE` lines as in a `.env` file or a Docker `--env-file` (`#` comments,
/// `export `, quotes), or a Kubernetes container's `env:` list (`- name: X` / `value: Y`; a
/// `valueFrom` is known to be set, not to what).
pub fn read_env_file(path: &str, text: &str) -> Result<Vec<EnvVar>, Vec<Problem>> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_default();
    if first.starts_with("- ") || first.starts_with("env:") {
        return read_kubernetes_env(path, text);
    }
    let mut vars = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            problems.push(format!("{path}:{}: not a NAME=VALUE line", i + 1));
            continue;
        };
        let value = value.trim();
        let value = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .unwrap_or(value);
        vars.push(EnvVar {
            name: name.trim().to_owned(),
            value: Value::Text(value.to_owned()),
            file: Some((path.to_owned(), i + 1)),
        });
    }
    if problems.is_empty() {
        Ok(vars)
    } else {
        Err(problems)
    }
}

fn read_kubernetes_env(path: &str, text: &str) -> Result<Vec<EnvVar>, Vec<Problem>> {
    use serde_yaml_ng::Value as Y;
    let doc: Y = serde_yaml_ng::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!("{}", l.line()))
            .unwrap_or_else(|| "1".into());
        vec![format!("{path}:{at}: not a Kubernetes env list: {e}")]
    })?;
    let list = match &doc {
        Y::Mapping(m) => m.get("env").cloned().unwrap_or(Y::Null),
        other => other.clone(),
    };
    let Y::Sequence(entries) = list else {
        return Err(vec![format!(
            "{path}: not a Kubernetes env list (`- name: ...` entries, or `env:` with them)"
        )]);
    };
    // Lines are found by name: serde_yaml_ng keeps no positions.
    let line_of = |name: &str| {
        text.lines()
            .position(|l| l.contains(name))
            .map_or(1, |i| i + 1)
    };
    let mut vars = Vec::new();
    let mut problems = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let Some(name) = entry.get("name").and_then(Y::as_str) else {
            problems.push(format!("{path}: env[{i}].name: missing"));
            continue;
        };
        let value = match (entry.get("value"), entry.get("valueFrom")) {
            (Some(Y::String(s)), _) => Value::Text(s.clone()),
            (Some(Y::Bool(b)), _) => Value::Text(b.to_string()),
            (Some(Y::Number(n)), _) => Value::Text(n.to_string()),
            (None, Some(from)) => Value::Elsewhere(describe_value_from(from)),
            (None, None) => Value::Text(String::new()),
            (Some(_), _) => {
                problems.push(format!("{path}: env[{i}].value: not a string"));
                continue;
            }
        };
        vars.push(EnvVar {
            name: name.to_owned(),
            value,
            file: Some((path.to_owned(), line_of(name))),
        });
    }
    if problems.is_empty() {
        Ok(vars)
    } else {
        Err(problems)
    }
}

/// `secretKeyRef oauth2-proxy/client-secret`.
fn describe_value_from(from: &serde_yaml_ng::Value) -> String {
    let Some((kind, reference)) = from.as_mapping().and_then(|m| m.iter().next()) else {
        return "valueFrom".into();
    };
    let field = |k: &str| reference.get(k).and_then(|v| v.as_str()).unwrap_or("?");
    format!(
        "{} {}/{}",
        kind.as_str().unwrap_or("valueFrom"),
        field("name"),
        field("key")
    )
}

/// For each option, the setting oauth2-proxy uses: flags over the environment over the file.
/// The settings overridden are remembered on the one that wins.
pub fn merge(layers: [Vec<Setting>; 3]) -> Vec<Setting> {
    let mut winners: Vec<Setting> = Vec::new();
    let [flags, env, file] = layers;
    for setting in flags.into_iter().chain(env).chain(file) {
        match winners
            .iter_mut()
            .find(|w| std::ptr::eq(w.spec, setting.spec))
        {
            Some(winner) => winner.overrides.push(setting.origin),
            None => winners.push(setting),
        }
    }
    winners
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    fn text(settings: &[Setting], key: &str) -> Option<String> {
        settings
            .iter()
            .find(|s| s.spec.key == key)
            .map(|s| s.value.to_string())
    }

    #[test]
    fn flags_in_every_form() {
        let flags = read_flags(&words(&[
            "--provider=keycloak-oidc",
            "--client-id",
            "app",
            "--reverse-proxy",
            "--cookie-secure=false",
            "--trusted-ip=10.0.0.0/8",
            "--trusted-ip",
            "192.0.2.0/24,198.51.100.7",
            "--config=/etc/oauth2-proxy.cfg",
            "--version",
        ]))
        .unwrap();
        let s = &flags.settings;
        assert_eq!(text(s, "provider").as_deref(), Some("keycloak-oidc"));
        assert_eq!(text(s, "client_id").as_deref(), Some("app"));
        assert_eq!(text(s, "reverse_proxy").as_deref(), Some("true"));
        assert_eq!(text(s, "cookie_secure").as_deref(), Some("false"));
        assert_eq!(
            s.iter()
                .find(|x| x.spec.key == "trusted_ips")
                .unwrap()
                .value,
            Value::List(words(&["10.0.0.0/8", "192.0.2.0/24", "198.51.100.7"]))
        );
        assert_eq!(flags.config.as_deref(), Some("/etc/oauth2-proxy.cfg"));
        assert_eq!(flags.ignored, ["--version"]);
    }

    #[test]
    fn bad_flags_are_named() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--no-such-flag=1"],
                "--no-such-flag: unknown oauth2-proxy flag",
            ),
            (&["-upstream=static://202"], "take two dashes"),
            (&["static://202"], "no arguments"),
            (&["--client-id"], "--client-id: needs a value"),
            (
                &["--reverse-proxy=yes"],
                "--reverse-proxy: `yes` is not true or false",
            ),
            (
                &["--logging-max-size=big"],
                "--logging-max-size: `big` is not a number",
            ),
        ];
        for (given, wanted) in cases {
            let problems = read_flags(&words(given)).err().unwrap();
            assert!(
                problems.iter().any(|p| p.contains(wanted)),
                "{given:?}: {problems:?}"
            );
        }
    }

    #[test]
    fn the_file_with_lines() {
        let text = "# oauth2-proxy\nprovider = \"oidc\"\n\nemail_domains = [\"*\"]\n\
                    reverse_proxy = true\ncookie_expire = \"12h\"\nlogging_max_age = 3\n";
        let settings = read_file("o.cfg", text).unwrap();
        let provider = settings.iter().find(|s| s.spec.key == "provider").unwrap();
        assert_eq!(provider.origin.to_string(), "o.cfg:2 provider");
        let domains = settings
            .iter()
            .find(|s| s.spec.key == "email_domains")
            .unwrap();
        assert_eq!(domains.origin.to_string(), "o.cfg:4 email_domains");
        assert_eq!(text_of(&settings, "logging_max_age"), "3");
    }

    fn text_of(settings: &[Setting], key: &str) -> String {
        text(settings, key).unwrap()
    }

    #[test]
    fn bad_files_are_named_with_lines() {
        let cases: &[(&str, &str)] = &[
            (
                "provider = \"oidc\"\nclient_id = \n",
                "o.cfg:2: not a valid TOML file",
            ),
            (
                "provider = \"oidc\"\ntrusted_ip = [\"10.0.0.1\"]\n",
                "o.cfg:2 trusted_ip: unknown oauth2-proxy option (oauth2-proxy reads `trusted_ips`)",
            ),
            (
                "reverse_proxy = 3\n",
                "o.cfg:1 reverse_proxy: `3` is not true or false",
            ),
            (
                "upstreams = [1]\n",
                "o.cfg:1 upstreams: `1` in the list is not a string",
            ),
        ];
        for (text, wanted) in cases {
            let problems = read_file("o.cfg", text).err().unwrap();
            assert!(
                problems.iter().any(|p| p.contains(wanted)),
                "{text:?}: {problems:?}"
            );
        }
    }

    #[test]
    fn environment_and_env_files() {
        let dotenv = "# comment\nexport OAUTH2_PROXY_PROVIDER=oidc\n\
                      OAUTH2_PROXY_EMAIL_DOMAINS=\"example.com,example.org\"\nOTHER=1\n";
        let mut vars = vec![EnvVar {
            name: "OAUTH2_PROXY_PROVIDER".into(),
            value: Value::Text("google".into()),
            file: None,
        }];
        vars.extend(read_env_file(".env", dotenv).unwrap());
        let settings = read_env(&vars).unwrap();
        let provider = settings.iter().find(|s| s.spec.key == "provider").unwrap();
        assert_eq!(provider.value, Value::Text("oidc".into()), "the file wins");
        assert_eq!(
            provider.origin.to_string(),
            "OAUTH2_PROXY_PROVIDER (.env:2)"
        );
        assert_eq!(
            text(&settings, "email_domains").as_deref(),
            Some("example.com,example.org")
        );

        let kubernetes = "env:\n- name: OAUTH2_PROXY_CLIENT_ID\n  value: app\n\
                          - name: OAUTH2_PROXY_CLIENT_SECRET\n  valueFrom:\n    secretKeyRef:\n\
                          \x20     name: oauth2-proxy\n      key: client-secret\n";
        let vars = read_env_file("deploy.yaml", kubernetes).unwrap();
        assert_eq!(vars[0].file, Some(("deploy.yaml".into(), 2)));
        assert_eq!(
            vars[1].value,
            Value::Elsewhere("secretKeyRef oauth2-proxy/client-secret".into())
        );

        let bad = read_env(&[EnvVar {
            name: "OAUTH2_PROXY_TRUSTED_IP".into(),
            value: Value::Text("10.0.0.1".into()),
            file: None,
        }])
        .err()
        .unwrap();
        assert_eq!(
            bad,
            [
                "OAUTH2_PROXY_TRUSTED_IP: unknown oauth2-proxy variable (oauth2-proxy reads `OAUTH2_PROXY_TRUSTED_IPS`)"
            ]
        );
        assert!(read_env_file(".env", "JUSTAWORD\n").is_err());
    }

    #[test]
    fn flags_win_over_the_environment_over_the_file() {
        let file = read_file("o.cfg", "provider = \"google\"\ncookie_name = \"a\"\n").unwrap();
        let env = read_env(&[EnvVar {
            name: "OAUTH2_PROXY_PROVIDER".into(),
            value: Value::Text("oidc".into()),
            file: None,
        }])
        .unwrap();
        let flags = read_flags(&words(&["--provider=keycloak-oidc"]))
            .unwrap()
            .settings;
        let merged = merge([flags, env, file]);
        let provider = merged.iter().find(|s| s.spec.key == "provider").unwrap();
        assert_eq!(provider.value, Value::Text("keycloak-oidc".into()));
        assert_eq!(provider.origin.to_string(), "--provider");
        assert_eq!(
            provider
                .overrides
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["OAUTH2_PROXY_PROVIDER", "o.cfg:1 provider"]
        );
        assert_eq!(text(&merged, "cookie_name").as_deref(), Some("a"));
    }

    #[test]
    fn lists_split_like_oauth2_proxy() {
        let cases: &[(&str, &[&str])] = &[
            ("a,b", &["a", "b"]),
            (" a , b ,", &["a", "b"]),
            ("\"^/x{1,2}\",b", &["^/x{1,2}", "b"]),
            ("", &[]),
        ];
        for (given, wanted) in cases {
            assert_eq!(split_list(given), *wanted, "{given}");
        }
    }
}
