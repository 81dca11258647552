//! Multi-document YAML with comments: each document says, above it, where it came from and
//! what every annotation became. The YAML itself is serialised from typed structures, so its
//! quoting is right; comments are plain text put before it.

use serde::Serialize;
use serde_yaml_ng::Value;

use super::Source;
use super::annotations::{Meaning, Use};
use super::cli::Options;

/// `apiVersion`, `kind`, `metadata.namespace`, `metadata.name`.
type Identity = (String, String, String, String);

/// Width comments are wrapped at.
const WIDTH: usize = 96;

/// One YAML document and the comments above it.
#[derive(Debug, Clone)]
pub struct Doc {
    pub comments: Vec<String>,
    pub body: Option<Value>,
    /// Written as comments too: a resource the user may add, that is not validated here.
    pub commented_out: bool,
}

/// What a target made of one Ingress.
#[derive(Debug, Default)]
pub struct Rendered {
    pub docs: Vec<Doc>,
    /// Everything that could not be carried over, for stderr (the comments say it too).
    pub warnings: Vec<String>,
}

impl Doc {
    pub fn new(comments: Vec<String>, body: &impl Serialize) -> Doc {
        Doc {
            comments,
            body: Some(serde_yaml_ng::to_value(body).expect("plain data serialises")),
            commented_out: false,
        }
    }

    pub fn comment(comments: Vec<String>) -> Doc {
        Doc {
            comments,
            body: None,
            commented_out: false,
        }
    }

    pub fn commented_out(comments: Vec<String>, body: &impl Serialize) -> Doc {
        Doc {
            commented_out: true,
            ..Doc::new(comments, body)
        }
    }

    /// `apiVersion`, `kind`, `metadata.namespace`, `metadata.name`: what makes two documents
    /// the same object.
    fn identity(&self) -> Option<Identity> {
        let body = self.body.as_ref()?;
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
        Some((
            text(body.get("apiVersion")),
            text(body.get("kind")),
            text(body.get("metadata").and_then(|m| m.get("namespace"))),
            text(body.get("metadata").and_then(|m| m.get("name"))),
        ))
    }
}

/// The documents as YAML text. A document repeating an earlier one (the same object with the
/// same content, such as a ReferenceGrant two Ingresses need) is written once.
pub fn render(docs: &[Doc]) -> String {
    let mut seen: Vec<(Option<Identity>, Option<&Value>)> = Vec::new();
    let mut out = String::new();
    for doc in docs {
        let key = (doc.identity(), doc.body.as_ref());
        if key.0.is_some() && seen.contains(&key) {
            continue;
        }
        seen.push(key);
        if !out.is_empty() {
            out.push_str("---\n");
        }
        for comment in &doc.comments {
            for line in wrap(comment) {
                out.push_str(format!("# {line}").trim_end_matches(' '));
                out.push('\n');
            }
        }
        if let Some(body) = &doc.body {
            let yaml = serde_yaml_ng::to_string(body).expect("plain data serialises");
            for line in yaml.lines() {
                if doc.commented_out {
                    out.push_str("# ");
                }
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Splits a comment at spaces to fit [`WIDTH`]; continuation lines are indented by two more
/// spaces than the first.
fn wrap(comment: &str) -> Vec<String> {
    let indent = comment.len() - comment.trim_start().len();
    let mut lines = Vec::new();
    let mut line = " ".repeat(indent);
    for word in comment.split_whitespace() {
        if line.trim().is_empty() {
            line.push_str(word);
        } else if line.len() + 1 + word.len() > WIDTH {
            lines.push(std::mem::take(&mut line));
            line = format!("{}{word}", " ".repeat(indent + 2));
        } else {
            line.push(' ');
            line.push_str(word);
        }
    }
    lines.push(line);
    lines
}

/// The comment block at the top of the output.
pub fn header(options: &Options, sources: &[Source]) -> Doc {
    let mut comments = vec![
        format!("Written by `{}`.", options.command),
        format!(
            "For {}, with Sekisho as the auth service; {} Ingress(es) read. Check every \
             `warning:` below (they were printed on stderr too) before applying.",
            options.target.describe(),
            sources.len()
        ),
    ];
    if sources.is_empty() {
        comments.push("No Ingress was found in the input: nothing to migrate.".to_owned());
    }
    Doc::comment(comments)
}

/// The comment lines about one Ingress: where it came from, what each annotation became
/// (`describe` says it for the target), and every warning.
pub fn source_comments(
    source: &Source,
    describe: impl Fn(&Use) -> Option<String>,
    notes: &[String],
    warnings: &[String],
) -> Vec<String> {
    let mut comments = vec![format!(
        "From Ingress {} ({}).",
        source.ingress.display_name(),
        source.document.origin
    )];
    for use_ in &source.reading.uses {
        if use_.meaning == Meaning::Bookkeeping {
            continue;
        }
        if let Some(became) = describe(use_) {
            comments.push(format!("  {}: {became}", use_.key));
        }
    }
    comments.extend(notes.iter().map(|n| format!("  note: {n}")));
    comments.extend(warnings.iter().map(|w| format!("  warning: {w}")));
    comments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Thing {
        name: &'static str,
        text: &'static str,
    }

    #[test]
    fn documents_with_comments_and_repeats_written_once() {
        let thing = Thing {
            name: "a",
            text: "line one\nline two\n",
        };
        let docs = vec![
            Doc::comment(vec!["header".into()]),
            Doc::new(vec!["first".into()], &thing),
            Doc::new(vec!["again".into()], &thing),
            Doc::commented_out(
                vec!["maybe".into()],
                &Thing {
                    name: "b",
                    text: "x",
                },
            ),
        ];
        let text = render(&docs);
        assert_eq!(text.matches("---\n").count(), 2, "{text}");
        assert!(text.contains("# first\nname: a\n"), "{text}");
        assert!(!text.contains("again"), "{text}");
        assert!(text.contains("# maybe\n# name: b\n# text: x\n"), "{text}");
        let parsed: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
            .map(|d| Value::deserialize(d).unwrap())
            .collect();
        use serde::Deserialize;
        assert!(
            parsed.iter().any(|d| d["text"] == "line one\nline two\n"),
            "{parsed:?}"
        );
    }

    #[test]
    fn long_comments_wrap() {
        let long = format!("  {}", "word ".repeat(40));
        let lines = wrap(&long);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.len() <= WIDTH), "{lines:?}");
        assert!(lines[1].starts_with("    word"), "{lines:?}");
    }
}
