//! Environment overrides: `SEKISHO_` + section + `__` + key, upper case
//! (`SEKISHO_LISTEN`, `SEKISHO_SESSION__SECRET`).

use std::collections::HashMap;

use toml::{Table, Value};

use super::Problem;

pub const PREFIX: &str = "SEKISHO_";
const SEPARATOR: &str = "__";

/// Writes every `SEKISHO_*` variable into `table`, typed like the key's default value in
/// `defaults` (lists are comma-separated or a TOML array). Returns, for each key set this way,
/// the variable it came from, so problems can name it.
pub fn overlay(
    table: &mut Table,
    defaults: &Table,
    vars: impl IntoIterator<Item = (String, String)>,
    problems: &mut Vec<Problem>,
) -> HashMap<String, String> {
    let mut origins = HashMap::new();
    let mut vars: Vec<_> = vars
        .into_iter()
        .filter(|(name, _)| name.starts_with(PREFIX))
        .collect();
    vars.sort();
    for (name, raw) in vars {
        let path: Vec<String> = name[PREFIX.len()..]
            .split(SEPARATOR)
            .map(str::to_ascii_lowercase)
            .collect();
        let key = path.join(".");
        if path.iter().any(String::is_empty) {
            problems.push(Problem::new(&name, "malformed variable name"));
            continue;
        }
        let Some(default) = lookup(defaults, &path) else {
            problems.push(Problem::new(&name, format!("unknown key `{key}`")));
            continue;
        };
        let value = match coerce(default, &raw) {
            Ok(value) => value,
            Err(msg) => {
                problems.push(Problem::new(format!("{key} (from {name})"), msg));
                continue;
            }
        };
        if let Err(msg) = insert(table, &path, value) {
            problems.push(Problem::new(format!("{key} (from {name})"), msg));
            continue;
        }
        origins.insert(key, name);
    }
    origins
}

fn lookup<'a>(table: &'a Table, path: &[String]) -> Option<&'a Value> {
    let (last, sections) = path.split_last()?;
    let mut current = table;
    for section in sections {
        current = current.get(section)?.as_table()?;
    }
    current.get(last)
}

fn coerce(default: &Value, raw: &str) -> Result<Value, String> {
    match default {
        Value::String(_) => Ok(Value::String(raw.to_owned())),
        Value::Boolean(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Value::Boolean(true)),
            "false" | "0" | "no" => Ok(Value::Boolean(false)),
            _ => Err(format!("expected true or false, got `{raw}`")),
        },
        Value::Integer(_) => raw
            .trim()
            .parse()
            .map(Value::Integer)
            .map_err(|_| format!("expected an integer, got `{raw}`")),
        Value::Array(_) if raw.trim_start().starts_with('[') => {
            let doc: Table = format!("v = {raw}")
                .parse()
                .map_err(|_| format!("not a TOML array: `{raw}`"))?;
            Ok(doc["v"].clone())
        }
        Value::Array(_) => Ok(Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        )),
        Value::Table(_) => Err("is a section, not a key".into()),
        _ => Ok(Value::String(raw.to_owned())),
    }
}

fn insert(table: &mut Table, path: &[String], value: Value) -> Result<(), String> {
    let (last, sections) = path.split_last().ok_or("empty key")?;
    let mut current = table;
    for section in sections {
        let entry = current
            .entry(section.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{section}` is not a section in the file"))?;
    }
    current.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Table {
        toml::from_str("listen = 'x'\nlist = []\n[session]\nsecret = ''\nsecure = true\n").unwrap()
    }

    fn run(vars: &[(&str, &str)]) -> (Table, Vec<Problem>) {
        let mut table = Table::new();
        let mut problems = Vec::new();
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        overlay(&mut table, &defaults(), vars, &mut problems);
        (table, problems)
    }

    #[test]
    fn typed_by_default_values() {
        let (t, p) = run(&[
            ("SEKISHO_LISTEN", "0.0.0.0:80"),
            ("SEKISHO_SESSION__SECRET", "12345"),
            ("SEKISHO_SESSION__SECURE", "false"),
            ("SEKISHO_LIST", "10.0.0.0/8, 192.0.2.1"),
            ("OTHER", "ignored"),
        ]);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(t["listen"].as_str(), Some("0.0.0.0:80"));
        assert_eq!(t["session"]["secret"].as_str(), Some("12345"));
        assert_eq!(t["session"]["secure"].as_bool(), Some(false));
        assert_eq!(t["list"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn toml_array_form() {
        let (t, p) = run(&[("SEKISHO_LIST", r#"["a", "b,c"]"#)]);
        assert!(p.is_empty());
        assert_eq!(t["list"].as_array().unwrap()[1].as_str(), Some("b,c"));
    }

    #[test]
    fn problems_name_the_variable() {
        let (_, p) = run(&[
            ("SEKISHO_NOPE", "1"),
            ("SEKISHO_SESSION__SECURE", "maybe"),
            ("SEKISHO_SESSION", "x"),
        ]);
        let text: Vec<String> = p.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("SEKISHO_NOPE") && t.contains("unknown key")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("SEKISHO_SESSION__SECURE") && t.contains("true or false")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("SEKISHO_SESSION") && t.contains("section")),
            "{text:?}"
        );
    }
}
