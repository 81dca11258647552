//! Manifests checked against the CustomResourceDefinitions the projects publish (Gateway API
//! experimental channel, Traefik, Envoy Gateway), as `scripts/crds` fetches them pinned from
//! the Go module proxy into `target/tools/crds-<versions>/`.
//!
//! A document is valid when its `apiVersion` is a version its CRD serves, and it satisfies
//! that version's `openAPIV3Schema` (JSON Schema draft 4, which OpenAPI 3.0's schemas are a
//! dialect of) with two changes made to be as strict as `kubectl apply` (strict field
//! validation): a field the schema does not list is an error, except under
//! `x-kubernetes-preserve-unknown-fields`; the `x-kubernetes-*` keywords (CEL rules among
//! them) are not evaluated. `metadata.name` must be a DNS subdomain, as the API server wants.
//! A core `v1` ConfigMap, which has no CRD, is checked for its shape only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// `scripts/crds`, whose pins name the directory.
const SCRIPT: &str = include_str!("../../scripts/crds");

/// `target/tools/crds-gateway-api-v1.7.0-traefik-v3.7.13-gateway-v1.9.1`, from the pins of
/// scripts/crds (`module@version path` lines between `pins='` and `'`).
pub fn directory() -> PathBuf {
    let pins = SCRIPT
        .split("pins='")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("scripts/crds has its pins='...' block");
    let mut name = String::from("crds");
    for module in pins.lines().filter_map(|l| l.split_whitespace().next()) {
        let (path, version) = module.split_once('@').expect("module@version");
        let mut base: Vec<&str> = path.split('/').collect();
        if base.len() > 1
            && base
                .last()
                .is_some_and(|l| l.starts_with('v') && l[1..].chars().all(|c| c.is_ascii_digit()))
        {
            base.pop();
        }
        name.push_str(&format!(
            "-{}-{version}",
            base.last().expect("a module path")
        ));
    }
    super::front_door::tools_dir().join(name)
}

/// One served version of one kind.
struct Served {
    validator: jsonschema::Validator,
}

/// Every CRD's schemas, by (group, kind) and version.
pub struct Crds {
    kinds: BTreeMap<(String, String), BTreeMap<String, Served>>,
}

impl Crds {
    /// Loads every CRD under [`directory`]; fails the test, naming `scripts/crds`, when they
    /// are not there.
    pub fn load() -> Crds {
        let dir = directory();
        assert!(
            dir.join(".complete").exists(),
            "the CRD schemas are not in {}: run scripts/crds (it fetches them with `go mod download`; \
             ./scripts/test runs it)",
            dir.display()
        );
        let mut kinds = BTreeMap::new();
        for file in yaml_files(&dir) {
            let text = std::fs::read_to_string(&file).expect("read a CRD file");
            for doc in documents(&text) {
                if doc["kind"] == "CustomResourceDefinition" {
                    add_crd(&doc, &mut kinds);
                }
            }
        }
        assert!(
            kinds.len() > 10,
            "too few CRDs in {}: {:?}",
            dir.display(),
            kinds.keys()
        );
        Crds { kinds }
    }

    /// Every problem of `doc`, each `path: message`; empty when it is valid.
    pub fn problems(&self, doc: &Value) -> Vec<String> {
        let (Some(api_version), Some(kind)) = (doc["apiVersion"].as_str(), doc["kind"].as_str())
        else {
            return vec!["apiVersion and kind must be strings".to_owned()];
        };
        let mut problems = metadata_problems(doc);
        if api_version == "v1" && kind == "ConfigMap" {
            problems.extend(config_map_problems(doc));
            return problems;
        }
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let Some(versions) = self.kinds.get(&(group.to_owned(), kind.to_owned())) else {
            problems.push(format!(
                "no CRD for kind {kind} in group `{group}` among those scripts/crds fetches"
            ));
            return problems;
        };
        let Some(served) = versions.get(version) else {
            problems.push(format!(
                "apiVersion: {api_version} is not served by the {kind} CRD (served: {})",
                versions.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
            return problems;
        };
        problems.extend(
            served
                .validator
                .iter_errors(doc)
                .map(|e| format!("{}: {e}", e.instance_path())),
        );
        problems
    }

    /// Panics, naming `what` and every problem, unless `doc` is valid.
    pub fn assert_valid(&self, what: &str, doc: &Value) {
        let problems = self.problems(doc);
        assert!(
            problems.is_empty(),
            "{what} ({} {}) is not valid:\n  {}\n{}",
            doc["kind"],
            doc["metadata"]["name"],
            problems.join("\n  "),
            serde_json::to_string_pretty(doc).unwrap_or_default()
        );
    }
}

/// The YAML documents of `text` as JSON values (empty documents left out).
pub fn documents(text: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| serde_yaml_ng::Value::deserialize(d).expect("YAML"))
        .filter(|v| !v.is_null())
        .map(|v| serde_json::to_value(v).expect("YAML that JSON can hold"))
        .collect()
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the CRD directory").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn add_crd(crd: &Value, kinds: &mut BTreeMap<(String, String), BTreeMap<String, Served>>) {
    let group = crd["spec"]["group"]
        .as_str()
        .expect("a CRD's group")
        .to_owned();
    let kind = crd["spec"]["names"]["kind"]
        .as_str()
        .expect("a CRD's kind")
        .to_owned();
    let versions = kinds.entry((group, kind)).or_default();
    for version in crd["spec"]["versions"]
        .as_array()
        .expect("a CRD's versions")
    {
        if version["served"] != true {
            continue;
        }
        let mut schema = version["schema"]["openAPIV3Schema"].clone();
        strict(&mut schema);
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .build(&schema)
            .unwrap_or_else(|e| panic!("{} schema: {e}", crd["metadata"]["name"]));
        versions.insert(
            version["name"].as_str().expect("a version name").to_owned(),
            Served { validator },
        );
    }
}

/// `additionalProperties: false` on every object schema that lists its properties and does
/// not keep unknown fields: Kubernetes' strict field validation refuses unknown fields.
fn strict(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        for property in properties.values_mut() {
            strict(property);
        }
        let keeps_unknown =
            object.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
        if !keeps_unknown && !object.contains_key("additionalProperties") {
            object.insert("additionalProperties".to_owned(), json!(false));
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(inner) = object.get_mut(key) {
            strict(inner);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(list)) = object.get_mut(key) {
            list.iter_mut().for_each(strict);
        }
    }
}

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn metadata_problems(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    match doc["metadata"]["name"].as_str() {
        Some(name) if name.len() <= 253 && name.split('.').all(is_label) => {}
        Some(name) => problems.push(format!("/metadata/name: `{name}` is not a DNS subdomain")),
        None => problems.push("/metadata/name: missing".to_owned()),
    }
    if let Some(namespace) = doc["metadata"].get("namespace") {
        if !namespace.as_str().is_some_and(is_label) {
            problems.push(format!(
                "/metadata/namespace: {namespace} is not a namespace name"
            ));
        }
    }
    problems
}

fn config_map_problems(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, value) in doc.as_object().into_iter().flatten() {
        if ![
            "apiVersion",
            "kind",
            "metadata",
            "data",
            "binaryData",
            "immutable",
        ]
        .contains(&key.as_str())
        {
            problems.push(format!("/{key}: not a field of a ConfigMap"));
        }
        if key == "data"
            && !value
                .as_object()
                .is_some_and(|d| d.values().all(Value::is_string))
        {
            problems.push("/data: must map keys to strings".to_owned());
        }
    }
    problems
}
