//! Routes of an app that need no sign-in: API calls and webhooks from clients that cannot log
//! in through a browser.

use std::fmt;

use http::Method;
use regex::Regex;

use super::path::PathReadings;

/// An optional method and a regular expression on the path, anchored at the path's start
/// (`"POST ^/hooks/"`, `"^/api/v4/"`). It matches only when every reading of the path does
/// (see [`PathReadings`]), and does with case ignored as well: for a server that ignores case
/// (Express's router, Windows file systems) `/Admin` is `/admin`, which `^/[^a]` must not let
/// through.
#[derive(Clone, Debug)]
pub struct SkipRule {
    method: Option<Method>,
    pattern: Regex,
    caseless: Regex,
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
        let compile = |source: &str, case_insensitive: bool| {
            regex::RegexBuilder::new(source)
                .case_insensitive(case_insensitive)
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
        compile(pattern, false)?;
        // The group keeps an alternation anchored as a whole: `^/a|/b` must not let `/b`
        // match anywhere in the path.
        let anchored = format!("^(?:{pattern})");
        Ok(Self {
            method,
            pattern: compile(&anchored, false)?,
            caseless: compile(&anchored, true)?,
            text: trimmed.to_owned(),
        })
    }

    pub fn matches(&self, method: &Method, path: &PathReadings) -> bool {
        self.method.as_ref().is_none_or(|m| m == method)
            && path
                .all()
                .all(|p| self.pattern.is_match(p) && self.caseless.is_match(p))
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
            "/api/v4/.%2e/admin",
            "/api/v4/..%2fadmin",
            "/api/v4/..%2Fadmin",
            "/api/v4/%2e%2e%2fadmin",
            "/api/v4/%252e%252e/admin",
            "/api/v4/..;/admin",
            "/api/v4/..;x=1/admin",
            "/api/v4/..\\admin",
            "/api/v4/..%5cadmin",
            "/api%2fv4/admin",
            "/api/v4%2f../admin",
            "/api/v4/%00",
            "/hooks/../admin",
            // nginx merges slashes before resolving dot segments: `/api/admin` for nginx,
            // `/api/v4/admin` for RFC 3986.
            "/api/v4//../admin",
            "/api/v4/x//../../admin",
            "/api/v4/%2F/../admin",
            "/api/v4/%2f%2f../admin",
            "/api/v4/\\/../admin",
            // An empty segment: werkzeug routes these to its catch-all, not to `/api/v4/...`.
            "/api/v4//admin",
            "/api/v4/%2fadmin",
            "/api/v4/projects//7",
            "/api/v4/x%2f%2f..%2fy",
            // Routers that never resolve dot segments (Express, Flask) see `/admin/...`.
            "/admin/../api/v4/x",
            "/admin/%2e%2e/api/v4/x",
            "/admin/..%2fapi/v4/x",
            "/x/../api/v4/projects",
            // A servlet container reads `/admin` once `;x` is dropped.
            "/admin;x/../api/v4/x",
            // Tomcat: `/api/v4`, not `/api/v4/`.
            "/api/v4/x/..;%2fadmin",
            "/api/v4/x/..",
        ] {
            assert!(!skips("GET", path), "{path} must not skip sign-in");
            assert!(!skips("POST", path), "{path} must not skip sign-in (POST)");
        }
        // What really is under the route still is.
        for path in [
            "/api/v4/projects/group%2Fname",
            "/api/v4/projects/a%20b",
            "/api/v4/projects/7/../8",
            "/api/v4/x;y",
        ] {
            assert!(skips("GET", path), "{path} is under ^/api/v4/");
        }
    }

    #[test]
    fn parameters_and_case_cannot_widen_a_rule() {
        let rules = [r"^/assets/[^/]+\.png$", "^/[^a/][^/]*/status$", "^/public/"]
            .map(|r| SkipRule::parse(r).unwrap());
        let skips = |path| any_matches(&rules, &Method::GET, path).is_some();
        for path in ["/assets/logo.png", "/b/status", "/Bee/status", "/public/x"] {
            assert!(skips(path), "{path}");
        }
        for path in [
            // Tomcat serves `/assets/secret`.
            "/assets/secret;.png",
            "/assets/secret;x=.png",
            // `/Admin` is `/admin` for Express and on Windows.
            "/Admin/status",
            "/ADMIN/status",
            // Encoded so that one decoding reads `/public/`, another `/private/`.
            "/public%2f..%2fprivate/x",
            "/public/%252e%252e/private",
        ] {
            assert!(!skips(path), "{path} must not skip sign-in");
        }
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

    /// Hostile paths built from the pieces that servers read differently, checked against
    /// models of how real servers normalise, written apart from the readings they check.
    mod against_server_models {
        use std::sync::LazyLock;

        use proptest::prelude::*;
        use regex::Regex;

        use super::*;

        const RULES: &[&str] = &[
            "^/api/v4/",
            "^/hooks/",
            "^/public(?:/|$)",
            r"^/assets/[^/]+\.png$",
            "^/[^a/][^/]*/status$",
        ];

        const PREFIXES: &[&str] = &["/", "/api/v4/", "/hooks/", "/public", "/assets/", "/b/"];

        const PIECES: &[&str] = &[
            "/", "//", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c", "%5C", "\\", ";x", ";", "%3b",
            "%252e", "%252f", "%255c", "%25", "admin", "Admin", "ADMIN", "api", "API", "v4", "V4",
            "status", "x.png", "secret", "a",
        ];

        fn hostile_path() -> impl Strategy<Value = String> {
            (
                prop::sample::select(PREFIXES),
                prop::collection::vec(prop::sample::select(PIECES), 0..10),
                prop::sample::select(&["", "status", "x.png", "/"][..]),
            )
                .prop_map(|(prefix, pieces, end)| format!("{prefix}{}{end}", pieces.concat()))
        }

        /// `%XX` decoded once, every byte; `None` for bytes nginx refuses (`%00`) or that are
        /// not UTF-8.
        fn decode_once(text: &str) -> Option<String> {
            let mut out = Vec::new();
            let mut rest = text.as_bytes();
            while let Some((&first, tail)) = rest.split_first() {
                let hex = tail
                    .get(..2)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match (first, hex) {
                    (b'%', Some(byte)) => {
                        out.push(byte);
                        rest = &tail[2..];
                    }
                    _ => {
                        out.push(first);
                        rest = tail;
                    }
                }
            }
            String::from_utf8(out)
                .ok()
                .filter(|t| !t.contains(char::is_control))
        }

        /// Empty segments merged away and dot segments resolved, as nginx does after
        /// decoding; `None` for `..` above the root (nginx answers 400). `directory_slash`:
        /// whether `/a/b/..` is `/a/` (nginx) or `/a` (Tomcat).
        fn merge_and_resolve(text: &str, directory_slash: bool) -> Option<String> {
            let segments: Vec<&str> = text.split('/').skip(1).collect();
            let mut kept: Vec<&str> = Vec::new();
            for segment in &segments {
                match *segment {
                    "" | "." => {}
                    ".." => {
                        kept.pop()?;
                    }
                    name => kept.push(name),
                }
            }
            let directory = match segments.last() {
                Some(&"") => true,
                Some(&("." | "..")) => directory_slash,
                _ => false,
            };
            let mut path = format!("/{}", kept.join("/"));
            if directory && !kept.is_empty() {
                path.push('/');
            }
            Some(path)
        }

        /// nginx on Linux, `merge_slashes on`: decoded once, then merged and resolved.
        fn nginx(raw: &str) -> Option<String> {
            merge_and_resolve(&decode_once(raw)?, true)
        }

        /// A servlet container (Tomcat, Jetty) that allows encoded slashes and backslashes:
        /// `;parameters` dropped from each segment as sent, then decoded, then normalised.
        fn servlet(raw: &str) -> Option<String> {
            let stripped: Vec<&str> = raw
                .split('/')
                .map(|s| s.split(';').next().unwrap_or_default())
                .collect();
            let mut path = stripped.join("/");
            loop {
                let decoded = decode_once(&path)?;
                if decoded == path {
                    break;
                }
                path = decoded;
            }
            merge_and_resolve(&path.replace('\\', "/"), false)
        }

        /// A router that matches the path decoded, never resolving dot segments (Flask).
        fn decoded_router(raw: &str) -> Option<String> {
            decode_once(raw)
        }

        /// Each rule, as Sekisho parses it and as plain anchored regular expressions.
        static COMPILED: LazyLock<Vec<(&str, SkipRule, Regex, Regex)>> = LazyLock::new(|| {
            RULES
                .iter()
                .map(|rule| {
                    let anchored = Regex::new(&format!("^(?:{rule})")).unwrap();
                    let caseless = Regex::new(&format!("(?i)^(?:{rule})")).unwrap();
                    (*rule, SkipRule::parse(rule).unwrap(), anchored, caseless)
                })
                .collect()
        });

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2048))]

            #[test]
            fn a_skipped_path_is_under_the_rule_for_every_server(path in hostile_path()) {
                let Some(readings) = PathReadings::of(&path) else {
                    return Ok(());
                };
                for (rule, skip_rule, anchored, caseless) in COMPILED.iter() {
                    if !skip_rule.matches(&Method::GET, &readings) {
                        continue;
                    }
                    // Express: the path as sent, case ignored.
                    prop_assert!(anchored.is_match(&path) && caseless.is_match(&path), "{rule} {path}");
                    for (server, model) in [
                        ("nginx", nginx as fn(&str) -> Option<String>),
                        ("a servlet container", servlet),
                        ("a decoding router", decoded_router),
                    ] {
                        // `None`: the server refuses the path; nothing is served.
                        if let Some(resource) = model(&path) {
                            prop_assert!(
                                anchored.is_match(&resource),
                                "{rule} skips {path}, which {server} reads as {resource}"
                            );
                            // On a case-insensitive file system.
                            prop_assert!(
                                caseless.is_match(&resource.to_lowercase()),
                                "{rule} skips {path}, which {server} reads as {resource}"
                            );
                        }
                    }
                }
            }
        }

        #[test]
        fn the_models_read_as_the_servers_do() {
            // Answers of nginx 1.22 (`return 200 $uri`) and the servlet specification.
            for (raw, want) in [
                ("/api/v4//../admin", Some("/api/admin")),
                ("/api/v4/x%2f%2f..%2fadmin", Some("/api/v4/admin")),
                ("/api/v4/%252e%252e/admin", Some("/api/v4/%2e%2e/admin")),
                ("/api/v4/..;/admin", Some("/api/v4/..;/admin")),
                ("/api/v4/..", Some("/api/")),
                ("/api/v4/%2e", Some("/api/v4/")),
                ("/api//v4/x", Some("/api/v4/x")),
                ("/../x", None),
            ] {
                assert_eq!(nginx(raw).as_deref(), want, "{raw}");
            }
            assert_eq!(servlet("/api/v4/..;/admin").as_deref(), Some("/api/admin"));
            assert_eq!(servlet("/a;x/b;y").as_deref(), Some("/a/b"));
            // Tomcat 11: `/api/v4/x/..` is served as `/api/v4`.
            assert_eq!(servlet("/api/v4/x/..;y").as_deref(), Some("/api/v4"));
        }
    }
}
