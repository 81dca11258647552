//! Path readings and `skip_auth`, checked against a reference reading of the path written
//! from RFC 3986: percent-decoding, and section 5.2.4's dot-segment removal as the RFC spells
//! it out (an input buffer and an output buffer). Every reading the reference makes must be
//! among the readings Sekisho checks, and a path a rule lets through must match the rule in
//! each of them.

use http::Method;
use regex::RegexBuilder;

use super::{first_line, text};
use crate::gate::skip_auth::any_matches as skip_auth_index;
use crate::gate::{PathReadings, SkipRule};

/// Input: a `skip_auth` pattern (no method), then the request path.
pub fn path(data: &[u8]) {
    let text = text(data);
    let (pattern, raw) = first_line(&text);
    let readings = PathReadings::of(raw);
    let reference = reference_readings(raw);
    if let Some(readings) = &readings {
        let all: Vec<&str> = readings.all().collect();
        assert_eq!(all[0], raw, "the path as sent comes first");
        let reference = reference
            .as_ref()
            .unwrap_or_else(|| panic!("{raw:?} has readings, but the reference cannot read it"));
        for reading in reference {
            assert!(
                !reading.contains("//"),
                "{raw:?} reads as {reading:?}, with an empty segment"
            );
            assert!(
                all.contains(&reading.as_str()),
                "{raw:?} reads as {reading:?}, which is not among {all:?}"
            );
        }
    }

    let Ok(rule) = SkipRule::parse(&format!("GET {pattern}")) else {
        return;
    };
    let compile = |caseless: bool| {
        RegexBuilder::new(&format!("^(?:{})", pattern.trim()))
            .case_insensitive(caseless)
            .size_limit(1 << 20)
            .build()
    };
    let (Ok(exact), Ok(caseless)) = (compile(false), compile(true)) else {
        return;
    };
    if skip_auth_index(std::slice::from_ref(&rule), &Method::GET, raw).is_some() {
        let reference = reference.expect("a path a rule lets through is readable");
        for reading in &reference {
            assert!(
                exact.is_match(reading) && caseless.is_match(reading),
                "`{pattern}` lets {raw:?} through, but not its reading {reading:?}"
            );
        }
    }
    assert!(
        skip_auth_index(&[rule], &Method::POST, raw).is_none(),
        "a GET rule lets a POST through"
    );
}

/// The path as sent, and as servers that decode and resolve it read it; `None` when one of
/// these readings cannot be made (not absolute, too many layers of encoding, not UTF-8,
/// control characters).
fn reference_readings(raw: &str) -> Option<Vec<String>> {
    if !raw.starts_with('/') {
        return None;
    }
    let once = decode(raw.as_bytes());
    let fully = decode_fully(raw.as_bytes())?;
    let backslashed = |b: Vec<u8>| {
        b.into_iter()
            .map(|c| if c == b'\\' { b'/' } else { c })
            .collect::<Vec<u8>>()
    };
    let readings = [
        raw.as_bytes().to_vec(),
        // nginx: decoded once, slashes merged, then dot segments.
        remove_dot_segments(&merge_slashes(&once)),
        // Decoded, `\` as `/`, resolved.
        remove_dot_segments(&backslashed(fully.clone())),
        remove_dot_segments(&merge_slashes(&backslashed(fully.clone()))),
        // Decoded and routed as they are.
        once,
        fully,
    ];
    readings
        .into_iter()
        .map(|r| {
            let text = String::from_utf8(r).ok()?;
            (!text.contains(char::is_control)).then_some(text)
        })
        .collect()
}

/// Every `%XX` decoded, once.
fn decode(path: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let mut out = Vec::new();
    let mut rest = path;
    while let Some((&first, tail)) = rest.split_first() {
        match (first, tail) {
            (b'%', [hi, lo, after @ ..]) if hex(*hi).is_some() && hex(*lo).is_some() => {
                out.push(hex(*hi).unwrap_or_default() * 16 + hex(*lo).unwrap_or_default());
                rest = after;
            }
            _ => {
                out.push(first);
                rest = tail;
            }
        }
    }
    out
}

/// Decoded until nothing changes, in at most two rounds that change something (a third is
/// an app decoding more often than any server does, and the path has no reading).
fn decode_fully(path: &[u8]) -> Option<Vec<u8>> {
    let mut path = path.to_vec();
    for _ in 0..3 {
        let next = decode(&path);
        // Decoding shortens whatever it changes.
        if next.len() == path.len() {
            return Some(path);
        }
        path = next;
    }
    None
}

fn merge_slashes(path: &[u8]) -> Vec<u8> {
    let mut out = path.to_vec();
    out.dedup_by(|next, previous| *next == b'/' && *previous == b'/');
    out
}

/// RFC 3986 section 5.2.4, step by step as written there.
fn remove_dot_segments(path: &[u8]) -> Vec<u8> {
    let mut input = path.to_vec();
    let mut output: Vec<u8> = Vec::new();
    while !input.is_empty() {
        if input.starts_with(b"../") {
            // A.
            input.drain(..3);
        } else if input.starts_with(b"./") {
            input.drain(..2);
        } else if input.starts_with(b"/./") {
            // B.
            input.drain(..2);
        } else if input == b"/." {
            input = b"/".to_vec();
        } else if input.starts_with(b"/../") || input == b"/.." {
            // C: replace the prefix with "/", and remove the last segment of the output.
            let n = if input == b"/.." { 3 } else { 4 };
            input.splice(..n, *b"/");
            let cut = output.iter().rposition(|&b| b == b'/').unwrap_or(0);
            output.truncate(cut);
        } else if input == b"." || input == b".." {
            // D.
            input.clear();
        } else {
            // E: the first segment, its leading "/" included, moves to the output.
            let start = usize::from(input[0] == b'/');
            let end = input[start..]
                .iter()
                .position(|&b| b == b'/')
                .map_or(input.len(), |i| start + i);
            output.extend(input.drain(..end));
        }
    }
    output
}
