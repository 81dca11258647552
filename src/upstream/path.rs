//! How an app may read a request path. Apps disagree: some decode `%2F` into a separator
//! before routing, some keep it inside a segment (GitLab's `projects/group%2Fname`). A rule
//! that lets requests skip sign-in must hold for every reading, so that encoding a slash or a
//! dot segment cannot carry a request outside the route the rule names.

/// Rounds of percent-decoding before a path counts as unreadable: `%252e` is `%2e` after one
/// and `.` after two; an app that decodes more often than this is not one we can protect.
const MAX_DECODE_ROUNDS: usize = 3;

/// The readings of one request path. Both are absolute, with `.` and `..` segments resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathReadings {
    /// Everything decoded (repeatedly), backslashes as slashes.
    pub decoded: String,
    /// Decoded once, but `%2F` and `%5C` left as they are: inside their segment.
    pub segments_kept: String,
}

impl PathReadings {
    /// `None` for a path no rule should be trusted with: not absolute, still encoded after
    /// several rounds, not UTF-8, or holding control characters.
    pub fn of(raw: &str) -> Option<Self> {
        if !raw.starts_with('/') {
            return None;
        }
        let mut decoded = raw.to_owned();
        let mut stable = false;
        for _ in 0..MAX_DECODE_ROUNDS {
            let next = percent_decode(&decoded, &[])?;
            if next == decoded {
                stable = true;
                break;
            }
            decoded = next;
        }
        if !stable {
            return None;
        }
        let decoded = decoded.replace('\\', "/");
        let segments_kept = percent_decode(raw, b"/\\")?;
        Some(Self {
            decoded: remove_dot_segments(&decoded),
            segments_kept: remove_dot_segments(&segments_kept),
        })
    }

    pub fn all(&self) -> [&str; 2] {
        [&self.decoded, &self.segments_kept]
    }
}

/// Decodes `%XX` escapes except those of the bytes in `keep`; `None` if the result is not
/// UTF-8 or has control characters (`%00`, `%0A`, ...).
fn percent_decode(text: &str, keep: &[u8]) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16));
        match (bytes[i], hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
            (b'%', Some(hi), Some(lo)) if !keep.contains(&((hi * 16 + lo) as u8)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, ..) => {
                out.push(b);
                i += 1;
            }
        }
    }
    let text = String::from_utf8(out).ok()?;
    (!text.chars().any(char::is_control)).then_some(text)
}

/// RFC 3986 section 5.2.4, with one addition: a segment whose name before `;` is a dot
/// segment counts as one, since Java servers read `..;x` as `..`.
fn remove_dot_segments(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        let name = segment.split(';').next().unwrap_or_default();
        match name {
            "." | ".." => {
                if name == ".." {
                    kept.pop();
                }
                // `/a/b/..` is the directory `/a/`: keep the trailing slash.
                if i == last {
                    kept.push("");
                }
            }
            _ => kept.push(segment),
        }
    }
    format!("/{}", kept.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readings(raw: &str) -> Option<(String, String)> {
        PathReadings::of(raw).map(|r| (r.decoded, r.segments_kept))
    }

    fn both(path: &str) -> Option<(String, String)> {
        Some((path.to_owned(), path.to_owned()))
    }

    #[test]
    fn dot_segments_are_resolved() {
        let table = [
            ("/api/v4/projects", "/api/v4/projects"),
            ("/api/v4/../admin", "/api/admin"),
            ("/api/v4/../../admin", "/admin"),
            ("/api/v4/./x", "/api/v4/x"),
            ("/api/v4/..", "/api/"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("/a/b/../../../c", "/c"),
            ("/api/v4/..;/admin", "/api/admin"),
            ("/api/v4/.;x/y", "/api/v4/y"),
            ("/", "/"),
            ("/a//b", "/a//b"),
            ("/a/...", "/a/..."),
        ];
        for (raw, want) in table {
            assert_eq!(readings(raw), both(want), "{raw}");
        }
    }

    #[test]
    fn encoded_dots_and_slashes_are_read_both_ways() {
        let table = [
            ("/api/v4/%2e%2e/admin", "/api/admin", "/api/admin"),
            ("/api/v4/%2E%2E/admin", "/api/admin", "/api/admin"),
            ("/api/v4/..%2fadmin", "/api/admin", "/api/v4/..%2fadmin"),
            ("/api/v4/%2e%2e%2Fadmin", "/api/admin", "/api/v4/..%2Fadmin"),
            ("/api%2fv4/x", "/api/v4/x", "/api%2fv4/x"),
            ("/api/v4/..\\admin", "/api/admin", "/api/v4/..\\admin"),
            (
                "/api/v4/projects/group%2Fname",
                "/api/v4/projects/group/name",
                "/api/v4/projects/group%2Fname",
            ),
            (
                "/api/v4/%252e%252e/admin",
                "/api/admin",
                "/api/v4/%2e%2e/admin",
            ),
            ("/hooks/caf%C3%A9", "/hooks/café", "/hooks/café"),
        ];
        for (raw, decoded, kept) in table {
            assert_eq!(
                readings(raw),
                Some((decoded.to_owned(), kept.to_owned())),
                "{raw}"
            );
        }
    }

    #[test]
    fn unreadable_paths_have_no_reading() {
        for raw in [
            "*",
            "",
            "api/v4",
            "/a%00b",
            "/a%0ab",
            "/a%ffb",
            "/%25252525252e",
        ] {
            assert_eq!(readings(raw), None, "{raw}");
        }
    }
}
