//! Routes of an app that need no sign-in: API calls and webhooks from clients that cannot log
//! in through a browser.

use std::fmt;

use http::Method;
use regex::Regex;

use super::path::PathReadings;

/// An optional method and a regular expression on the path, anchored at the path's start
/// (`"POST ^/hooks/"`, `"^/api/v4/"`). It matches only when every reading of the path does
/// (see [`PathReadings`]).
#[derive(Clone, Debug)]
pub struct SkipRule {
    method: Option<Method>,
    pattern: Regex,
    text: String,
}

/// Compiled patterns beyond this size are refused: a rule is a route, not a program.
const MAX_COMPILED_SIZE: usize = 1 << 20;

impl SkipRule {
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let (method, pattern) = match trimmed.split_once(char::is_whitespace) {
            Some((word, rest)) if is_method_name(word) => {
                let method = Method::from_bytes(word.as_bytes())
                    .map_err(|_| format!("`{word}` is not an HTTP method"))?;
                (Some(method), rest.trim())
            }
            _ => (None, trimmed),
        };
        if pattern.is_empty() {
            return Err(format!(
                "`{text}` has no path pattern; write `^/api/` or `POST ^/hooks/`"
            ));
        }
        let compile = |source: &str| {
            regex::RegexBuilder::new(source)
                .size_limit(MAX_COMPILED_SIZE)
                .build()
                .map_err(|e| {
                    // Syntax errors span lines, with a caret under the culprit; the last line
                    // says what is wrong.
                    let text = e.to_string();
                    let why = text.lines().last().unwrap_or_default();
                    let why = why.strip_prefix("error: ").unwrap_or(why);
                    format!("`{pattern}` is not a regular expression: {why}")
                })
        };
        // Checked alone first, so an error points into what was written.
        compile(pattern)?;
        // The group keeps an alternation anchored as a whole: `^/a|/b` must not let `/b`
        // match anywhere in the path.
        let pattern = compile(&format!("^(?:{pattern})"))?;
        Ok(Self {
            method,
            pattern,
            text: trimmed.to_owned(),
        })
    }

    pub fn matches(&self, method: &Method, path: &PathReadings) -> bool {
        self.method.as_ref().is_none_or(|m| m == method)
            && path.all().iter().all(|p| self.pattern.is_match(p))
    }
}

/// Methods are written in upper case; anything else is the start of the pattern.
fn is_method_name(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_uppercase())
}

impl fmt::Display for SkipRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Whether any of `rules` lets `method` on the raw request `path` through without a session.
pub fn any_matches(rules: &[SkipRule], method: &Method, path: &str) -> Option<usize> {
    if rules.is_empty() {
        return None;
    }
    let readings = PathReadings::of(path)?;
    rules
        .iter()
        .position(|rule| rule.matches(method, &readings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<SkipRule> {
        ["^/api/v4/", "POST ^/hooks/", "/health$", "^/alpha$|/beta$"]
            .iter()
            .map(|r| SkipRule::parse(r).unwrap())
            .collect()
    }

    fn skips(method: &str, path: &str) -> bool {
        any_matches(
            &rules(),
            &Method::from_bytes(method.as_bytes()).unwrap(),
            path,
        )
        .is_some()
    }

    #[test]
    fn method_and_path() {
        assert!(skips("GET", "/api/v4/projects"));
        assert!(skips("DELETE", "/api/v4/projects/1"));
        assert!(skips("POST", "/hooks/gitlab"));
        assert!(!skips("GET", "/hooks/gitlab"));
        assert!(!skips("post", "/hooks/gitlab"));
        assert!(skips("GET", "/health"));
        assert!(
            !skips("GET", "/x/health"),
            "rules are anchored at the start"
        );
        assert!(!skips("GET", "/api/v3/x"));
        assert!(!skips("GET", "/API/v4/x"));
        assert!(!skips("GET", "/"));
    }

    #[test]
    fn alternations_stay_anchored() {
        assert!(skips("GET", "/alpha"));
        assert!(skips("GET", "/beta"));
        assert!(!skips("GET", "/x/beta"));
    }

    #[test]
    fn traversal_and_encoding_cannot_widen_a_rule() {
        for path in [
            "/api/v4/../admin",
            "/api/v4/%2e%2e/admin",
            "/api/v4/%2E%2E/admin",
            "/api/v4/..%2fadmin",
            "/api/v4/..%2Fadmin",
            "/api/v4/%2e%2e%2fadmin",
            "/api/v4/%252e%252e/admin",
            "/api/v4/..;/admin",
            "/api/v4/..\\admin",
            "/api%2fv4/admin",
            "/api/v4%2f../admin",
            "/api/v4/%00",
            "/hooks/../admin",
        ] {
            assert!(!skips("GET", path), "{path} must not skip sign-in");
            assert!(!skips("POST", path), "{path} must not skip sign-in (POST)");
        }
        // What really is under the route still is.
        assert!(skips("GET", "/x/../api/v4/projects"));
        assert!(skips("GET", "/api/v4/projects/group%2Fname"));
        assert!(skips("GET", "/api/v4/projects/a%20b"));
    }

    #[test]
    fn parsing() {
        assert!(SkipRule::parse("").is_err());
        assert!(SkipRule::parse("POST").is_ok(), "a lone word is a pattern");
        assert!(SkipRule::parse("POST   ").is_ok());
        let error = SkipRule::parse("POST ^/hooks/(").unwrap_err();
        assert_eq!(
            error,
            "`^/hooks/(` is not a regular expression: unclosed group"
        );
        assert!(SkipRule::parse("^/a{99999999}").is_err());
        assert_eq!(
            SkipRule::parse("  POST ^/hooks/ ").unwrap().to_string(),
            "POST ^/hooks/"
        );
    }
}
