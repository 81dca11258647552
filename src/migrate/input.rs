//! Reading manifests: files or stdin, multi-document YAML, `kind: List` (what `kubectl get
//! -o yaml` prints) opened into its items. Every problem names the file, the document and,
//! where known, the object and the field.

use std::fmt;

use serde::Deserialize;
use serde_yaml_ng::Value;

use super::cli::InputFile;
use super::ingress::Ingress;

/// Where a document came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file as given, or `stdin`.
    pub file: String,
    /// 1-based position among the file's YAML documents; 0 when the file could not be read.
    pub document: usize,
    /// 0-based position in a `kind: List`'s `items`.
    pub item: Option<usize>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.document > 0 {
            write!(f, ": document {}", self.document)?;
        }
        if let Some(item) = self.item {
            write!(f, ", items[{item}]")?;
        }
        Ok(())
    }
}

/// One Kubernetes object read from the input.
#[derive(Debug, Clone)]
pub struct Document {
    pub origin: Origin,
    pub value: Value,
}

impl Document {
    pub fn kind(&self) -> Option<&str> {
        self.value.get("kind").and_then(Value::as_str)
    }

    pub fn name(&self) -> Option<&str> {
        self.value
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
    }

    /// `file: document 2 (ConfigMap sekisho)`.
    pub fn describe(&self) -> String {
        format!(
            "{} ({} {})",
            self.origin,
            self.kind().unwrap_or("?"),
            self.name().unwrap_or("(no name)")
        )
    }
}

/// An input that cannot be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub origin: Origin,
    /// `Ingress app`, when known.
    pub object: Option<String>,
    /// The field, dotted (`spec.rules[0].host`), when one is at fault.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(object) = &self.object {
            write!(f, " ({object})")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A field that cannot be read, before it is placed in its document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn at(self, document: &Document, ingress: Option<&Ingress>) -> InputError {
        let object = match ingress {
            Some(ingress) => Some(format!("Ingress {}", ingress.display_name())),
            None => document
                .name()
                .map(|n| format!("{} {n}", document.kind().unwrap_or("object"))),
        };
        InputError {
            origin: document.origin.clone(),
            object,
            field: Some(self.field),
            message: self.message,
        }
    }
}

/// Every document of every input, in order, and every problem found (the documents of the
/// other inputs are still read, so that all problems are told at once).
pub fn read_all(files: &[InputFile]) -> (Vec<Document>, Vec<InputError>) {
    let mut documents = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        let (name, text) = match file {
            InputFile::Stdin => (
                "stdin".to_owned(),
                std::io::read_to_string(std::io::stdin()),
            ),
            InputFile::Path(path) => (path.display().to_string(), std::fs::read_to_string(path)),
        };
        match text {
            Ok(text) => split(&name, &text, &mut documents, &mut errors),
            Err(e) => errors.push(InputError {
                origin: Origin {
                    file: name,
                    document: 0,
                    item: None,
                },
                object: None,
                field: None,
                message: format!("cannot read it: {e}"),
            }),
        }
    }
    (documents, errors)
}

/// The documents of one file. A YAML error ends the file: the parser cannot find the next
/// document reliably after one.
pub fn split(file: &str, text: &str, documents: &mut Vec<Document>, errors: &mut Vec<InputError>) {
    for (index, deserializer) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let origin = Origin {
            file: file.to_owned(),
            document: index + 1,
            item: None,
        };
        match Value::deserialize(deserializer) {
            Ok(Value::Null) => {}
            Ok(value) => object(origin, value, documents, errors),
            Err(e) => {
                let message = match e.location() {
                    Some(at) => {
                        format!("not YAML (line {}, column {}): {e}", at.line(), at.column())
                    }
                    None => format!("not YAML: {e}"),
                };
                errors.push(InputError {
                    origin,
                    object: None,
                    field: None,
                    message,
                });
                return;
            }
        }
    }
}

fn object(
    origin: Origin,
    value: Value,
    documents: &mut Vec<Document>,
    errors: &mut Vec<InputError>,
) {
    let problem = |field: Option<&str>, message: &str| InputError {
        origin: origin.clone(),
        object: None,
        field: field.map(str::to_owned),
        message: message.to_owned(),
    };
    if !value.is_mapping() {
        errors.push(problem(
            None,
            "not a Kubernetes object (a mapping with apiVersion and kind)",
        ));
        return;
    }
    match value.get("kind") {
        Some(Value::String(kind)) if kind == "List" => {}
        Some(Value::String(_)) => {
            documents.push(Document { origin, value });
            return;
        }
        Some(_) => {
            errors.push(problem(Some("kind"), "not a string"));
            return;
        }
        None => {
            errors.push(problem(Some("kind"), "missing"));
            return;
        }
    }
    let Some(items) = value.get("items").and_then(Value::as_sequence) else {
        errors.push(problem(Some("items"), "a List without a list of items"));
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let origin = Origin {
            item: Some(i),
            ..origin.clone()
        };
        if item.get("kind").and_then(Value::as_str) == Some("List") {
            errors.push(InputError {
                origin,
                object: None,
                field: Some("kind".to_owned()),
                message: "a List inside a List".to_owned(),
            });
        } else {
            object(origin, item.clone(), documents, errors);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Vec<Document>, Vec<String>) {
        let mut documents = Vec::new();
        let mut errors = Vec::new();
        split("in.yaml", text, &mut documents, &mut errors);
        (documents, errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn documents_lists_and_problems() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "kind: A\n---\nkind: B\n",
                &["in.yaml: document 1", "in.yaml: document 2"],
                &[],
            ),
            ("---\nkind: A\n---\n", &["in.yaml: document 1"], &[]),
            (
                "kind: List\nitems:\n- kind: A\n- kind: B\n",
                &[
                    "in.yaml: document 1, items[0]",
                    "in.yaml: document 1, items[1]",
                ],
                &[],
            ),
            (
                "kind: A\n---\n[1, 2]\n",
                &["in.yaml: document 1"],
                &["in.yaml: document 2: not a Kubernetes object"],
            ),
            (
                "apiVersion: v1\n",
                &[],
                &["in.yaml: document 1: kind: missing"],
            ),
            (
                "kind: [x]\n",
                &[],
                &["in.yaml: document 1: kind: not a string"],
            ),
            (
                "kind: List\n",
                &[],
                &["in.yaml: document 1: items: a List without"],
            ),
            (
                "kind: A\n---\nkind: B\n  bad: indentation\n",
                &["in.yaml: document 1"],
                &["in.yaml: document 2: not YAML (line 4, column 6)"],
            ),
        ];
        for (text, expected_docs, expected_errors) in cases {
            let (documents, errors) = read(text);
            let origins: Vec<String> = documents.iter().map(|d| d.origin.to_string()).collect();
            assert_eq!(&origins, expected_docs, "{text:?}");
            assert_eq!(errors.len(), expected_errors.len(), "{text:?}: {errors:?}");
            for (error, expected) in errors.iter().zip(expected_errors.iter()) {
                assert!(error.starts_with(expected), "{text:?}: {error}");
            }
        }
    }
}
