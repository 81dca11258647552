//! How the servers behind Sekisho may read a request path before routing it. They disagree:
//! nginx decodes once and merges repeated slashes before resolving `..`; Express routes the path
//! as sent; Flask decodes but never resolves `..`; Rails keeps `%2F` inside its segment (GitLab's
//! `projects/group%2Fname`); servlet containers drop `;parameters` first; Windows servers take
//! `\` for `/`. A rule that lets requests skip sign-in must hold for every one of these readings,
//! so that no spelling of a path can be public for Sekisho and private for the app; a path
//! these readings cannot settle (an empty segment, too many layers of encoding) has none.

/// Rounds of percent-decoding before a path counts as unreadable: `%252e` is `%2e` after one
/// and `.` after two; an app that decodes more often than this is not one we can protect.
const MAX_DECODE_ROUNDS: usize = 3;

/// One step of a server's path normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// `;parameters` dropped from every segment: `/a;x/b` is `/a/b`, `..;/` is `../`.
    StripParameters,
    /// Every `%XX` decoded, once.
    DecodeOnce,
    /// Decoded until nothing changes: `%252e` is `.`.
    DecodeFully,
    /// Decoded once, but `%2F` and `%5C` left as they are: inside their segment.
    DecodeKeepingSeparators,
    /// `\` read as `/`.
    BackslashAsSlash,
    /// `//` read as `/`.
    MergeSlashes,
    /// `.` and `..` segments resolved (RFC 3986 section 5.2.4).
    ResolveDotSegments,
    /// The same, but a trailing `.` or `..` leaves no slash: `/a/b/..` is `/a` (Tomcat).
    ResolveDotSegmentsToFile,
}

use Step::*;

/// As sent: routers that match the raw path (Express, and most Node.js and Go routers).
const AS_SENT: &[Step] = &[];
/// nginx (Linux): decoded once, slashes merged (`merge_slashes on`, the default), then dot
/// segments; the order matters: `/a//../b` is `/b` for nginx, `/a/b` for RFC 3986.
const NGINX: &[Step] = &[DecodeOnce, MergeSlashes, ResolveDotSegments];
/// Decoded, then dot segments resolved without merging (RFC 3986); `\` as on Windows.
const DECODED_RESOLVED: &[Step] = &[DecodeFully, BackslashAsSlash, ResolveDotSegments];
/// Decoded, slashes merged, dot segments resolved: Go's `path.Clean`, IIS, nginx on Windows.
const DECODED_MERGED_RESOLVED: &[Step] = &[
    DecodeFully,
    BackslashAsSlash,
    MergeSlashes,
    ResolveDotSegments,
];
/// Decoded once, never resolved: routers that match `PATH_INFO` (Flask/werkzeug).
const DECODED_ONCE_UNRESOLVED: &[Step] = &[DecodeOnce];
/// Decoded until nothing changes, never resolved: routers that decode again.
const DECODED_UNRESOLVED: &[Step] = &[DecodeFully];
/// Dot segments resolved as sent, decoded after: proxies that normalise before the app
/// decodes (`/admin/%2e%2e/api` stays under `/admin/`).
const RESOLVED_THEN_DECODED: &[Step] = &[ResolveDotSegments, DecodeFully, BackslashAsSlash];
/// Encoded slashes kept inside their segment (Rails, Go's ServeMux).
const SEPARATORS_KEPT: &[Step] = &[DecodeKeepingSeparators, ResolveDotSegments];
/// The same, slashes merged.
const SEPARATORS_KEPT_MERGED: &[Step] =
    &[DecodeKeepingSeparators, MergeSlashes, ResolveDotSegments];
/// Servlet containers (Tomcat, Jetty, Spring): parameters dropped first, then the rest.
const SERVLET: &[Step] = &[
    StripParameters,
    DecodeFully,
    BackslashAsSlash,
    MergeSlashes,
    ResolveDotSegmentsToFile,
];

/// The readings checked, each the steps one kind of server takes, in its order. Readings that
/// agree on a path are checked once.
const READINGS: &[&[Step]] = &[
    AS_SENT,
    NGINX,
    DECODED_RESOLVED,
    DECODED_MERGED_RESOLVED,
    DECODED_ONCE_UNRESOLVED,
    DECODED_UNRESOLVED,
    RESOLVED_THEN_DECODED,
    SEPARATORS_KEPT,
    SEPARATORS_KEPT_MERGED,
    SERVLET,
];

/// The readings of one request path: the path as sent, and each other reading of
/// [`READINGS`] that differs from it. A plain path (no `%`, `\`, `;`, `//` or dot segment)
/// reads the same for every server, and is not copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathReadings<'a> {
    raw: &'a str,
    others: Vec<String>,
}

impl<'a> PathReadings<'a> {
    /// `None` for a path no rule should be trusted with: not absolute, still encoded after
    /// several rounds, not UTF-8, or holding control characters or an empty segment (`//`,
    /// `/%2F`, `/\`) in some reading. Servers disagree about an empty segment more than a set
    /// of readings can say: nginx merges it away, RFC 3986 keeps it (`/a//..` is `/a/`), and a
    /// router may send it to another route than the one its prefix names (werkzeug routes
    /// `/api/v4//x` to its catch-all, not to `/api/v4/<path>`).
    pub fn of(raw: &'a str) -> Option<Self> {
        if !raw.starts_with('/') || raw.contains(char::is_control) || raw.contains("//") {
            return None;
        }
        let mut others: Vec<String> = Vec::new();
        if !is_plain(raw) {
            for steps in READINGS {
                let reading = read(raw, steps)?;
                if reading.contains("//") {
                    return None;
                }
                if reading != raw && !others.contains(&reading) {
                    others.push(reading);
                }
            }
        }
        Some(Self { raw, others })
    }

    /// Every reading, the path as sent first.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.raw).chain(self.others.iter().map(String::as_str))
    }
}

/// Whether every step of every reading leaves `raw` as it is.
fn is_plain(raw: &str) -> bool {
    !raw.contains(['%', '\\', ';'])
        && !raw.contains("//")
        && !raw.split('/').any(|s| s == "." || s == "..")
}

/// `raw` as read by a server taking `steps`; `None` if it cannot be read (see
/// [`PathReadings::of`]).
fn read(raw: &str, steps: &[Step]) -> Option<String> {
    let mut path = raw.as_bytes().to_vec();
    for step in steps {
        match step {
            StripParameters => strip_parameters(&mut path),
            DecodeOnce => {
                percent_decode(&mut path, &[]);
            }
            DecodeFully => decode_fully(&mut path)?,
            DecodeKeepingSeparators => {
                percent_decode(&mut path, b"/\\");
            }
            BackslashAsSlash => path
                .iter_mut()
                .filter(|b| **b == b'\\')
                .for_each(|b| *b = b'/'),
            MergeSlashes => path.dedup_by(|next, previous| *next == b'/' && *previous == b'/'),
            ResolveDotSegments => resolve_dot_segments(&mut path, true),
            ResolveDotSegmentsToFile => resolve_dot_segments(&mut path, false),
        }
    }
    let text = String::from_utf8(path).ok()?;
    (!text.contains(char::is_control)).then_some(text)
}

/// Decodes `%XX` escapes in place, except those of the bytes in `keep`; whether any was.
fn percent_decode(path: &mut Vec<u8>, keep: &[u8]) -> bool {
    let hex = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16));
    let (mut read, mut write) = (0, 0);
    while read < path.len() {
        let escaped = match (path[read], hex(path.get(read + 1)), hex(path.get(read + 2))) {
            (b'%', Some(hi), Some(lo)) => Some((hi * 16 + lo) as u8),
            _ => None,
        };
        match escaped {
            Some(byte) if !keep.contains(&byte) => {
                path[write] = byte;
                read += 3;
            }
            _ => {
                path[write] = path[read];
                read += 1;
            }
        }
        write += 1;
    }
    let decoded = write < path.len();
    path.truncate(write);
    decoded
}

/// Decodes until nothing changes; `None` if that takes more than [`MAX_DECODE_ROUNDS`].
fn decode_fully(path: &mut Vec<u8>) -> Option<()> {
    for _ in 0..MAX_DECODE_ROUNDS {
        if !percent_decode(path, &[]) {
            return Some(());
        }
    }
    None
}

/// Drops everything from a `;` to the end of its segment.
fn strip_parameters(path: &mut Vec<u8>) {
    let mut in_parameters = false;
    path.retain(|&b| {
        match b {
            b'/' => in_parameters = false,
            b';' => in_parameters = true,
            _ => {}
        }
        !in_parameters
    });
}

/// RFC 3986 section 5.2.4 on an absolute path, in place: the output never outgrows the part
/// of the input already read. `directory_slash`: whether `/a/b/..` is `/a/` (RFC 3986) or
/// `/a`.
fn resolve_dot_segments(path: &mut Vec<u8>, directory_slash: bool) {
    let len = path.len();
    // The output so far is `path[..written]`: empty, or `/a/b`.
    let mut written = 0;
    // Each segment starts with the `/` at `at`.
    let mut at = 0;
    while at < len {
        let start = at + 1;
        let end = path[start..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(len, |i| start + i);
        match &path[start..end] {
            dots @ (b"." | b"..") => {
                if dots == b".." {
                    written = path[..written]
                        .iter()
                        .rposition(|&b| b == b'/')
                        .unwrap_or(0);
                }
                // `/a/b/..` is the directory `/a/`: keep the trailing slash.
                if end == len && (directory_slash || written == 0) {
                    path[written] = b'/';
                    written += 1;
                }
            }
            _ => {
                path.copy_within(at..end, written);
                written += end - at;
            }
        }
        at = end;
    }
    path.truncate(written);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readings(raw: &str) -> Option<Vec<String>> {
        PathReadings::of(raw).map(|r| r.all().map(str::to_owned).collect())
    }

    #[test]
    fn plain_paths_have_one_reading_and_no_copy() {
        for raw in [
            "/",
            "/api/v4/projects",
            "/api/v4/",
            "/a/.../b",
            "/a/.b/c.",
            "/API/Café",
        ] {
            let path = PathReadings::of(raw).unwrap();
            assert_eq!(path.others, Vec::<String>::new(), "{raw}");
            assert_eq!(path.all().collect::<Vec<_>>(), [raw]);
        }
    }

    #[test]
    fn each_step() {
        let table: &[(&[Step], &str, &str)] = &[
            (&[StripParameters], "/a;x/b;y=1;z/..;/c;", "/a/b/../c"),
            (&[StripParameters], "/;x/a", "//a"),
            (&[DecodeOnce], "/%2e%2E/%252e/%2F%5c%41", "/../%2e//\\A"),
            (&[DecodeOnce], "/%zz/%4/%", "/%zz/%4/%"),
            (&[DecodeFully], "/%252e%252E/%2f", "/..//"),
            (
                &[DecodeKeepingSeparators],
                "/a%2fb%5C%2e%252f",
                "/a%2fb%5C.%2f",
            ),
            (&[BackslashAsSlash], "/a\\..\\b", "/a/../b"),
            (&[MergeSlashes], "//a///b//", "/a/b/"),
            (&[ResolveDotSegments], "/api/v4/../admin", "/api/admin"),
            (&[ResolveDotSegments], "/api/v4/../../../admin", "/admin"),
            (&[ResolveDotSegments], "/api/v4/./x/.", "/api/v4/x/"),
            (&[ResolveDotSegments], "/api/v4/..", "/api/"),
            (&[ResolveDotSegments], "/..", "/"),
            (&[ResolveDotSegments], "/.", "/"),
            (&[ResolveDotSegments], "/", "/"),
            (&[ResolveDotSegments], "/a//b", "/a//b"),
            (&[ResolveDotSegments], "/api/v4//../admin", "/api/v4/admin"),
            (&[ResolveDotSegments], "/a/...", "/a/..."),
            (&[ResolveDotSegments], "/a/..;/b", "/a/..;/b"),
            (&[ResolveDotSegments], "/a/b/c/../../d/./e/..", "/a/d/"),
        ];
        for (steps, raw, want) in table {
            assert_eq!(read(raw, steps).as_deref(), Some(*want), "{steps:?} {raw}");
        }
    }

    #[test]
    fn each_server_reading() {
        let table: &[(&[Step], &str, &str)] = &[
            // nginx merges before resolving: the pair that RFC 3986 alone misses.
            (NGINX, "/api/v4//../admin", "/api/admin"),
            (NGINX, "/api/v4/x%2f%2f..%2fadmin", "/api/v4/admin"),
            (NGINX, "/api/v4/%252e%252e/admin", "/api/v4/%2e%2e/admin"),
            (NGINX, "/api/v4/..\\admin", "/api/v4/..\\admin"),
            (NGINX, "/api/v4/..;/admin", "/api/v4/..;/admin"),
            (DECODED_RESOLVED, "/api/v4//../admin", "/api/v4/admin"),
            (DECODED_RESOLVED, "/api/v4/..\\admin", "/api/admin"),
            (
                DECODED_MERGED_RESOLVED,
                "/api/v4/.%5c/..//..\\admin",
                "/admin",
            ),
            (
                DECODED_ONCE_UNRESOLVED,
                "/admin/%252e%252e/api/v4/x",
                "/admin/%2e%2e/api/v4/x",
            ),
            (
                DECODED_UNRESOLVED,
                "/admin/%252e%252e/api/v4/x",
                "/admin/../api/v4/x",
            ),
            (
                RESOLVED_THEN_DECODED,
                "/admin/%2e%2e/api/v4/x",
                "/admin/../api/v4/x",
            ),
            (RESOLVED_THEN_DECODED, "/x/../%2e%2e/y", "/../y"),
            (
                SEPARATORS_KEPT,
                "/api/v4/projects/g%2Fp",
                "/api/v4/projects/g%2Fp",
            ),
            (SEPARATORS_KEPT, "/api/v4/..%2fadmin", "/api/v4/..%2fadmin"),
            (SEPARATORS_KEPT, "/api/v4/%2e%2e/admin", "/api/admin"),
            (
                SEPARATORS_KEPT_MERGED,
                "/api/v4/x//../admin",
                "/api/v4/admin",
            ),
            (SERVLET, "/api/v4/..;/admin", "/api/admin"),
            (SERVLET, "/api;x/v4;y/z", "/api/v4/z"),
            (SERVLET, "/files/secret;.png", "/files/secret"),
            (SERVLET, "/api/v4/x/..;%2fadmin", "/api/v4"),
            (SERVLET, "/api/v4/x/.", "/api/v4/x"),
            (SERVLET, "/..", "/"),
        ];
        for (steps, raw, want) in table {
            assert_eq!(read(raw, steps).as_deref(), Some(*want), "{steps:?} {raw}");
        }
    }

    #[test]
    fn differing_readings_are_each_kept_once() {
        assert_eq!(
            readings("/admin/%2e%2e/api/v4/x").unwrap(),
            ["/admin/%2e%2e/api/v4/x", "/api/v4/x", "/admin/../api/v4/x"]
        );
        assert_eq!(
            readings("/api/v4/x/..;/../admin").unwrap(),
            ["/api/v4/x/..;/../admin", "/api/v4/x/admin", "/api/admin"]
        );
        assert_eq!(
            readings("/api/v4/projects/group%2Fname").unwrap(),
            [
                "/api/v4/projects/group%2Fname",
                "/api/v4/projects/group/name"
            ]
        );
        assert_eq!(
            readings("/hooks/caf%C3%A9").unwrap(),
            ["/hooks/caf%C3%A9", "/hooks/café"]
        );
    }

    #[test]
    fn unreadable_paths_have_no_reading() {
        for raw in [
            "*",
            "",
            "api/v4",
            "/a%00b",
            "/a%0ab",
            "/a%250ab",
            "/a%ffb",
            "/a%c3",
            "/%25252525252e",
            "/a\tb",
            // Empty segments, however spelt.
            "//",
            "/a//b",
            "/api/v4//../admin",
            "/a/%2f/b",
            "/a%2F%2Fb",
            "/a/%252f/b",
            "/a/\\/b",
            "/a/%5c/b",
        ] {
            assert_eq!(readings(raw), None, "{raw}");
        }
    }
}
