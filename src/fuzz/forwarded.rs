//! The RFC 7239 `Forwarded` grammar, checked against a model written from the RFC's ABNF as
//! regular expressions: the same lines must be refused, or give the same `for=` values.

use std::sync::LazyLock;

use regex::bytes::Regex;

use super::text;
use crate::net::forwarded::forwarded_for_values;

const TOKEN: &str = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+";
/// RFC 9110 5.6.4: `DQUOTE *( qdtext / quoted-pair ) DQUOTE`, obs-text included.
const QUOTED: &str = r#""(?:[\t \x21\x23-\x5B\x5D-\x7E\x80-\xFF]|\\[\t \x21-\x7E\x80-\xFF])*""#;

/// A line that is exactly `#forwarded-element` (RFC 7239 section 4), empty elements allowed.
static LINE: LazyLock<Regex> = LazyLock::new(|| {
    let pair = format!("{TOKEN}=(?:{TOKEN}|{QUOTED})");
    let element = format!("(?:{pair})?(?:;(?:{pair})?)*");
    Regex::new(&format!(
        r"(?-u)\A[ \t]*{element}(?:[ \t]*,[ \t]*{element})*[ \t]*\z"
    ))
    .expect("the grammar compiles")
});

/// The pieces of a line [`LINE`] accepted, left to right.
static PIECE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?-u)(?P<name>{TOKEN})=(?P<value>{TOKEN}|{QUOTED})|(?P<sep>[;,])|[ \t]+"
    ))
    .expect("the pieces compile")
});

/// Input: the lines of one `Forwarded` field.
pub fn forwarded(data: &[u8]) {
    let text = text(data);
    let lines: Vec<&str> = text.split('\n').collect();
    let parsed = forwarded_for_values(lines.iter().copied())
        .ok()
        .map(|values| values.into_iter().map(|v| v.into_owned()).collect());
    assert_eq!(parsed, reference_for_values(&lines), "{lines:?}");
}

/// The `for=` value of each non-empty element (an empty string for an element without one),
/// unquoted; `None` for a field that departs from the grammar anywhere, or repeats a parameter
/// within an element.
pub(super) fn reference_for_values(lines: &[&str]) -> Option<Vec<String>> {
    let mut values = Vec::new();
    for line in lines {
        if !LINE.is_match(line.as_bytes()) {
            return None;
        }
        // The element being read: whether it has begun, its parameter names, its `for`.
        let mut element: Option<(Vec<String>, String)> = None;
        let mut end = |element: &mut Option<(Vec<String>, String)>| {
            if let Some((_, value)) = element.take() {
                values.push(value);
            }
        };
        for piece in PIECE.captures_iter(line.as_bytes()) {
            if let (Some(name), Some(value)) = (piece.name("name"), piece.name("value")) {
                let name = String::from_utf8_lossy(name.as_bytes()).to_ascii_lowercase();
                let (names, for_value) = element.get_or_insert_default();
                if names.contains(&name) {
                    return None;
                }
                if name == "for" {
                    *for_value = unquote(std::str::from_utf8(value.as_bytes()).ok()?);
                }
                names.push(name);
            } else if let Some(sep) = piece.name("sep") {
                if sep.as_bytes() == b";" {
                    element.get_or_insert_default();
                } else {
                    end(&mut element);
                }
            }
        }
        end(&mut element);
    }
    Some(values)
}

fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_owned();
    };
    let mut out = String::new();
    let mut escaped = false;
    for c in inner.chars() {
        if escaped || c != '\\' {
            out.push(c);
            escaped = false;
        } else {
            escaped = true;
        }
    }
    out
}
