//! Parsing of the addresses that proxies put in forwarded headers.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Parses one hop of a forwarded chain: `ip`, `ip:port`, `[v6]`, `[v6]:port` or a bare IPv6
/// address, returned in canonical form. Anything else (names, `unknown`, obfuscated
/// identifiers, stray characters) is `None`.
pub fn parse_node(raw: &str) -> Option<IpAddr> {
    // Header values are ASCII (`to_str` checked), so ASCII trimming is all there is.
    let s = raw.trim_ascii();
    if let Some(v4) = plain_ipv4(s.as_bytes()) {
        return Some(IpAddr::V4(v4));
    }
    let ip = if let Some(rest) = s.strip_prefix('[') {
        let (inner, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        IpAddr::V6(inner.parse::<Ipv6Addr>().ok()?)
    } else if let Ok(ip) = s.parse::<IpAddr>() {
        ip
    } else {
        let (host, port) = s.rsplit_once(':')?;
        if !is_port(port) {
            return None;
        }
        IpAddr::V4(host.parse::<Ipv4Addr>().ok()?)
    };
    Some(ip.to_canonical())
}

/// The common case, a dotted quad as every proxy writes it, read without the general parser
/// (which tries several address forms and costs several times more). Anything unusual, such as
/// a leading zero, is left to the general parser, which decides.
fn plain_ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut filled = 0;
    let (mut value, mut digits) = (0u16, 0);
    for &b in s {
        if b.is_ascii_digit() {
            // A fourth digit, or a digit after a leading zero: not the common form.
            if digits == 3 || (digits == 1 && value == 0) {
                return None;
            }
            value = value * 10 + u16::from(b - b'0');
            digits += 1;
        } else if b == b'.' && digits > 0 && filled < 3 {
            octets[filled] = u8::try_from(value).ok()?;
            filled += 1;
            (value, digits) = (0, 0);
        } else {
            return None;
        }
    }
    if digits == 0 || filled < 3 {
        return None;
    }
    octets[3] = u8::try_from(value).ok()?;
    Some(Ipv4Addr::from(octets))
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A `Forwarded` field that is not exactly RFC 7239's grammar. Nothing of it is believed: where
/// one element's quoting is wrong, where the next element starts is a guess, and a wrong guess
/// is how a client's text swallows the element a proxy appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

/// The `for=` values of a `Forwarded` field (its lines joined in order, as RFC 9110 5.3
/// combines them), one per element, with quoting removed.
///
/// The grammar is RFC 7239 section 4 with RFC 9110's list, token and quoted-string rules:
///
/// ```text
/// Forwarded         = 1#forwarded-element      ; elements separated by OWS "," OWS
/// forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
/// forwarded-pair    = token "=" value           ; no whitespace around ";" or "="
/// value             = token / quoted-string
/// ```
///
/// Any departure, anywhere in any line, is [`Malformed`]; so is a parameter given twice in
/// one element (RFC 7239 section 4: "MUST NOT occur more than once"). Empty list elements
/// (`, ,`) are skipped, as RFC 9110 5.6.1 asks of recipients: they name no hop, and since
/// elements are delimited exactly they cannot hide one. nginx's
/// `"$http_forwarded, for=..."` writes one whenever the client sent no `Forwarded`.
///
/// An element without `for=` yields an empty string, which no node parser accepts: a hop we
/// cannot identify must stop the walk, not be skipped.
pub fn forwarded_for_values<'a>(
    lines: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Cow<'a, str>>, Malformed> {
    let mut values = Vec::new();
    for line in lines {
        parse_list(line, &mut values)?;
    }
    Ok(values)
}

fn parse_list<'a>(line: &'a str, values: &mut Vec<Cow<'a, str>>) -> Result<(), Malformed> {
    let b = line.as_bytes();
    let mut i = 0;
    loop {
        i = skip_ows(b, i);
        match b.get(i) {
            None => return Ok(()),
            Some(b',') => i += 1,
            Some(_) => {
                let (value, end) = parse_element(line, i)?;
                values.push(value.unwrap_or(Cow::Borrowed("")));
                i = skip_ows(b, end);
                match b.get(i) {
                    None => return Ok(()),
                    Some(b',') => i += 1,
                    Some(_) => return Err(Malformed),
                }
            }
        }
    }
}

/// One element from `start`: its `for=` value and where it ends (at a byte that is not part
/// of it, or the end of the line).
fn parse_element(line: &str, start: usize) -> Result<(Option<Cow<'_, str>>, usize), Malformed> {
    let b = line.as_bytes();
    let mut i = start;
    let mut seen = Seen::default();
    let mut for_value = None;
    loop {
        if b.get(i).copied().is_some_and(is_tchar) {
            let name_end = token_end(b, i);
            let name = &line[i..name_end];
            if b.get(name_end) != Some(&b'=') {
                return Err(Malformed);
            }
            let (value, end) = parse_value(line, name_end + 1)?;
            seen.insert(name)?;
            if name.eq_ignore_ascii_case("for") {
                for_value = Some(value);
            }
            i = end;
        }
        if b.get(i) == Some(&b';') {
            i += 1;
        } else {
            return Ok((for_value, i));
        }
    }
}

/// `token / quoted-string` at `start`, unquoted, and where it ends.
fn parse_value(line: &str, start: usize) -> Result<(Cow<'_, str>, usize), Malformed> {
    let b = line.as_bytes();
    match b.get(start) {
        Some(&c) if is_tchar(c) => {
            let end = token_end(b, start);
            Ok((Cow::Borrowed(&line[start..end]), end))
        }
        Some(b'"') => {
            let mut i = start + 1;
            let mut escaped = false;
            loop {
                match *b.get(i).ok_or(Malformed)? {
                    b'"' => break,
                    b'\\' if b.get(i + 1).copied().is_some_and(is_quotable) => {
                        escaped = true;
                        i += 2;
                    }
                    c if is_qdtext(c) => i += 1,
                    _ => return Err(Malformed),
                }
            }
            let inner = &line[start + 1..i];
            let value = if escaped {
                Cow::Owned(unescape(inner))
            } else {
                Cow::Borrowed(inner)
            };
            Ok((value, i + 1))
        }
        _ => Err(Malformed),
    }
}

/// The content of a quoted-string already checked: each `\x` stands for `x`.
fn unescape(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// Parameter names seen in one element. The registered four without allocating; any other
/// (rare) name in a list.
#[derive(Default)]
struct Seen<'a> {
    registered: [bool; 4],
    others: Vec<&'a str>,
}

impl<'a> Seen<'a> {
    fn insert(&mut self, name: &'a str) -> Result<(), Malformed> {
        let registered = ["for", "by", "host", "proto"]
            .iter()
            .position(|r| name.eq_ignore_ascii_case(r));
        let fresh = match registered {
            Some(k) => !std::mem::replace(&mut self.registered[k], true),
            None if self.others.iter().any(|o| o.eq_ignore_ascii_case(name)) => false,
            None => {
                self.others.push(name);
                true
            }
        };
        fresh.then_some(()).ok_or(Malformed)
    }
}

fn skip_ows(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    i
}

fn token_end(b: &[u8], mut i: usize) -> usize {
    while b.get(i).copied().is_some_and(is_tchar) {
        i += 1;
    }
    i
}

/// RFC 9110 5.6.2 `tchar`.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// RFC 9110 5.6.4 `qdtext`: HTAB, SP, and every visible or obs-text byte but `"` and `\`.
fn is_qdtext(c: u8) -> bool {
    matches!(c, b'\t' | b' ' | 0x21 | 0x23..=0x5B | 0x5D..=0x7E | 0x80..=0xFF)
}

/// What may follow `\` in a quoted-pair: HTAB, SP, VCHAR, obs-text.
fn is_quotable(c: u8) -> bool {
    matches!(c, b'\t' | b' ' | 0x21..=0x7E | 0x80..=0xFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_ipv4_reading_agrees_with_the_general_parser() {
        for s in [
            "0.0.0.0",
            "1.2.3.4",
            "192.0.2.255",
            "255.255.255.255",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.",
            ".1.2.3",
            "1.2.3.-4",
            "1.2.3.4x",
            "00.0.0.0",
            "999.1.1.1",
            "1..2.3",
            "1.2.3.4.5",
            "1.2.3.04",
            "1.2.3.",
            "1.2.3.0",
            "",
        ] {
            if let Some(quick) = plain_ipv4(s.as_bytes()) {
                assert_eq!(Some(quick), s.parse().ok(), "{s}");
            }
            assert_eq!(
                parse_node(s),
                s.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
                "{s}"
            );
        }
        for common in ["0.0.0.0", "192.0.2.255", "10.1.20.3", "255.255.255.255"] {
            assert!(plain_ipv4(common.as_bytes()).is_some(), "{common}");
        }
    }

    #[test]
    fn node_forms() {
        let cases: &[(&str, Option<&str>)] = &[
            ("192.0.2.1", Some("192.0.2.1")),
            (" 192.0.2.1 ", Some("192.0.2.1")),
            ("192.0.2.1:8080", Some("192.0.2.1")),
            ("2001:db8::1", Some("2001:db8::1")),
            ("[2001:db8::1]", Some("2001:db8::1")),
            ("[2001:db8::1]:443", Some("2001:db8::1")),
            ("::ffff:192.0.2.1", Some("192.0.2.1")),
            ("[::ffff:192.0.2.1]:80", Some("192.0.2.1")),
            ("", None),
            ("unknown", None),
            ("_hidden", None),
            ("example.com", None),
            ("192.0.2.1:", None),
            ("192.0.2.1:http", None),
            ("192.0.2.1:123456", None),
            ("[2001:db8::1", None),
            ("[2001:db8::1]x", None),
            ("[192.0.2.1]", None),
            ("192.0.2.256", None),
            ("1.2.3.4 5.6.7.8", None),
            ("0.0.0.0", Some("0.0.0.0")),
            ("255.255.255.255", Some("255.255.255.255")),
            ("010.0.0.1", None),
            ("1.2.3", None),
            ("1.2.3.4.5", None),
            ("1..2.3", None),
            ("1.2.3.1000", None),
            ("+1.2.3.4", None),
        ];
        for (input, want) in cases {
            let want = want.map(|w| w.parse::<IpAddr>().unwrap());
            assert_eq!(parse_node(input), want, "input {input:?}");
        }
    }

    /// `Some(values)` when the field reads, `None` when it is malformed.
    fn read(lines: &[&str]) -> Option<Vec<String>> {
        forwarded_for_values(lines.iter().copied())
            .ok()
            .map(|v| v.into_iter().map(Cow::into_owned).collect())
    }

    #[test]
    fn forwarded_values() {
        let ok: &[(&[&str], &[&str])] = &[
            (
                &["for=192.0.2.60;proto=http;by=203.0.113.43"],
                &["192.0.2.60"],
            ),
            (
                &[r#"for="[2001:db8:cafe::17]:4711""#],
                &["[2001:db8:cafe::17]:4711"],
            ),
            (
                &["for=192.0.2.43, for=198.51.100.17"],
                &["192.0.2.43", "198.51.100.17"],
            ),
            (
                &["for=192.0.2.43,for=198.51.100.17"],
                &["192.0.2.43", "198.51.100.17"],
            ),
            (
                &["for=192.0.2.43 \t,\t for=198.51.100.17"],
                &["192.0.2.43", "198.51.100.17"],
            ),
            (&["For=192.0.2.43"], &["192.0.2.43"]),
            (&["FOR=192.0.2.43"], &["192.0.2.43"]),
            (&[r#"by="a,b";for=192.0.2.1"#], &["192.0.2.1"]),
            (&[r#"by="a;b\"c,d";for=192.0.2.1"#], &["192.0.2.1"]),
            (&[r#"for="192.0.2.\1""#], &["192.0.2.1"]),
            (&[r#"for="a\\b""#], &[r"a\b"]),
            (&[r#"for="""#], &[""]),
            (&["proto=https"], &[""]),
            (&["for=unknown"], &["unknown"]),
            (&["for=_hidden"], &["_hidden"]),
            (&[";for=192.0.2.1;;"], &["192.0.2.1"]),
            (&[";"], &[""]),
            (&["ext=1;for=192.0.2.1"], &["192.0.2.1"]),
            // Empty list elements name no hop.
            (&[", for=192.0.2.1"], &["192.0.2.1"]),
            (
                &["for=192.0.2.1,,  ,for=192.0.2.2,"],
                &["192.0.2.1", "192.0.2.2"],
            ),
            (&[""], &[]),
            (&["  "], &[]),
            (&[], &[]),
            // Lines are one field, joined in order.
            (
                &["for=192.0.2.1", "for=192.0.2.2"],
                &["192.0.2.1", "192.0.2.2"],
            ),
            (
                &["for=192.0.2.1, for=192.0.2.2", "", "for=192.0.2.3"],
                &["192.0.2.1", "192.0.2.2", "192.0.2.3"],
            ),
        ];
        for (lines, want) in ok {
            let want: Vec<String> = want.iter().map(|w| (*w).to_owned()).collect();
            assert_eq!(read(lines), Some(want), "lines {lines:?}");
        }

        let malformed: &[&[&str]] = &[
            // Unterminated quote: the proxy's element is not read as quoted text.
            &[r#"for="203.0.113.7, for=192.0.2.1"#],
            &[r#"for="203.0.113.7\", for=192.0.2.1"#],
            &[r#"for=203.0.113.7", for=192.0.2.1"#],
            &[r#"by="x, for=203.0.113.7, for=192.0.2.1"#],
            &[r#"for="x"y, for=192.0.2.1"#],
            &[r#"for=x"y", for=192.0.2.1"#],
            &[r#""for=203.0.113.7", for=192.0.2.1"#],
            &[r#"for="a\"#],
            // A quoted-pair escapes one visible character, not a line's end.
            &["for=\"a\\"],
            // Whitespace where the grammar has none.
            &["for = 192.0.2.1"],
            &["for= 192.0.2.1"],
            &["for =192.0.2.1"],
            &["for=192.0.2.1 ;proto=http"],
            &["for=192.0.2.1; proto=http"],
            &["for=192.0.2.1 proto=http"],
            // Not tokens: ports, IPv6 and brackets must be quoted.
            &["for=192.0.2.1:80"],
            &["for=[2001:db8::1]"],
            &["for=2001:db8::1"],
            &["for=192.0.2.1/24"],
            &["for=@"],
            // Pairs without a value or a name.
            &["for"],
            &["for="],
            &["=192.0.2.1"],
            &["for==192.0.2.1"],
            &["for=192.0.2.1=x"],
            // A parameter twice in one element.
            &["for=203.0.113.7;for=192.0.2.1"],
            &["for=203.0.113.7;FOR=192.0.2.1"],
            &["proto=http;proto=https;for=192.0.2.1"],
            &["ext=1;EXT=2;for=192.0.2.1"],
            // Control characters, inside or outside quotes.
            &["for=\"a\u{1}b\""],
            &["for=192.0.2.1\u{0}"],
            // A malformed line poisons the lines around it.
            &["for=\"203.0.113.7", "for=192.0.2.1"],
            &["for=192.0.2.1", "for=\"203.0.113.7"],
        ];
        for lines in malformed {
            assert_eq!(read(lines), None, "lines {lines:?}");
        }
    }

    mod reference {
        //! A second reading of the grammar, written differently on purpose: regular
        //! expressions composed from the ABNF, then a scan over the pieces they match.

        use regex::Regex;
        use std::collections::HashSet;
        use std::sync::LazyLock;

        const TOKEN: &str = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+";
        const QUOTED: &str = r#""(?:[\t \x21\x23-\x5B\x5D-\x7E]|\\[\t \x21-\x7E])*""#;

        fn pair() -> String {
            format!("{TOKEN}=(?:{TOKEN}|{QUOTED})")
        }

        static LINE: LazyLock<Regex> = LazyLock::new(|| {
            let element = format!("(?:{p})?(?:;(?:{p})?)*", p = pair());
            Regex::new(&format!(
                r"^[ \t]*{element}(?:[ \t]*,[ \t]*{element})*[ \t]*$"
            ))
            .unwrap()
        });
        static PIECE: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(&format!(
                "(?P<name>{TOKEN})=(?P<value>{TOKEN}|{QUOTED})|(?P<sep>[,;])"
            ))
            .unwrap()
        });
        static ESCAPE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\\(.)").unwrap());

        pub fn read(lines: &[String]) -> Option<Vec<String>> {
            let mut values = Vec::new();
            for line in lines {
                if !LINE.is_match(line) {
                    return None;
                }
                // (has content, names seen, for value) of the element being read
                let mut element: Option<(HashSet<String>, Option<String>)> = None;
                let mut finish = |element: &mut Option<(HashSet<String>, Option<String>)>| {
                    if let Some((_, value)) = element.take() {
                        values.push(value.unwrap_or_default());
                    }
                };
                for piece in PIECE.captures_iter(line) {
                    if piece.name("sep").is_some_and(|s| s.as_str() == ",") {
                        finish(&mut element);
                        continue;
                    }
                    let (names, for_value) = element.get_or_insert_with(Default::default);
                    if let (Some(name), Some(value)) = (piece.name("name"), piece.name("value")) {
                        if !names.insert(name.as_str().to_ascii_lowercase()) {
                            return None;
                        }
                        if name.as_str().eq_ignore_ascii_case("for") {
                            let v = value.as_str();
                            *for_value = Some(match v.strip_prefix('"') {
                                Some(q) => ESCAPE.replace_all(&q[..q.len() - 1], "$1").into_owned(),
                                None => v.to_owned(),
                            });
                        }
                    }
                }
                finish(&mut element);
            }
            Some(values)
        }
    }

    mod properties {
        use super::super::*;
        use super::{read, reference};
        use crate::net::{ClientIpResolver, ForwardedHeader, Networks};
        use http::{HeaderMap, HeaderValue};
        use proptest::prelude::*;

        /// Pieces an attacker would combine: separators, quotes and escapes in every place.
        fn hostile_piece() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("for=".to_owned()),
                Just("FOR=".to_owned()),
                Just("by=".to_owned()),
                Just("proto=https".to_owned()),
                Just("203.0.113.7".to_owned()),
                Just("\"203.0.113.7\"".to_owned()),
                Just("\"[2001:db8::7]:80\"".to_owned()),
                Just("\"".to_owned()),
                Just("\\".to_owned()),
                Just("\\\"".to_owned()),
                Just(",".to_owned()),
                Just(";".to_owned()),
                Just("=".to_owned()),
                Just(" ".to_owned()),
                Just("\t".to_owned()),
                Just(":".to_owned()),
                Just("[".to_owned()),
                Just("]".to_owned()),
                Just("unknown".to_owned()),
                "[ -~]{0,3}",
            ]
        }

        fn hostile() -> impl Strategy<Value = String> {
            prop::collection::vec(hostile_piece(), 0..16).prop_map(|p| p.concat())
        }

        /// Lines that are mostly well formed, so the readings are compared on values too.
        fn structured() -> impl Strategy<Value = String> {
            let name = prop_oneof![
                Just("for".to_owned()),
                Just("For".to_owned()),
                Just("by".to_owned()),
                Just("proto".to_owned()),
                "[a-z!#~-]{1,4}",
            ];
            let value = prop_oneof![
                "[0-9.]{1,15}",
                "[A-Za-z0-9_.-]{1,8}",
                r#""([ -!#-\[\]-~]|\\[ -~]){0,10}""#,
                "\"[0-9.:\\[\\]a-f]{0,20}\"",
                // Separators and escaped quotes inside quotes, where a loose reader splits.
                r#""([,;= a]|\\[",;\\]){0,8}""#,
            ];
            let pair = prop_oneof![
                5 => (name, value).prop_map(|(n, v)| format!("{n}={v}")),
                1 => Just(String::new()),
            ];
            let element = prop::collection::vec(pair, 1..4).prop_map(|p| p.join(";"));
            let sep = prop_oneof![
                Just(",".to_owned()),
                Just(", ".to_owned()),
                Just(" ,\t".to_owned()),
                Just(",,".to_owned()),
            ];
            (prop::collection::vec((element, sep), 1..5), "[ \t]{0,2}").prop_map(|(parts, tail)| {
                let mut line = String::new();
                for (i, (element, sep)) in parts.into_iter().enumerate() {
                    if i > 0 {
                        line.push_str(&sep);
                    }
                    line.push_str(&element);
                }
                line + &tail
            })
        }

        fn any_line() -> impl Strategy<Value = String> {
            prop_oneof![hostile(), structured()]
        }

        /// An element a proxy appends: its peer, as a token or quoted, maybe with a port.
        fn proxy_element() -> impl Strategy<Value = (IpAddr, String)> {
            (any::<[u8; 4]>(), any::<[u16; 8]>(), 0..4u8).prop_map(|(v4, v6, form)| {
                let v4 = IpAddr::from(v4);
                let v6 = IpAddr::from(v6);
                match form {
                    0 => (v4, format!("for={v4}")),
                    1 => (v4, format!("for=\"{v4}:4711\";proto=https")),
                    2 => (v6, format!("for=\"[{v6}]\"")),
                    _ => (v6, format!("proto=http;for=\"[{v6}]:80\"")),
                }
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1000))]

            #[test]
            fn agrees_with_the_reference_reading(lines in prop::collection::vec(any_line(), 1..3)) {
                let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
                prop_assert_eq!(read(&refs), reference::read(&lines));
            }

            /// Whatever a client sends, the element a proxy appends after it is what is read,
            /// or nothing is: never an address the client chose.
            #[test]
            fn a_client_prefix_never_overrides_the_appended_element(
                prefix in any_line(),
                (appended, element) in proxy_element(),
                separate_line in any::<bool>(),
            ) {
                let proxy: IpAddr = "10.0.0.1".parse().unwrap();
                prop_assume!(appended.to_canonical() != proxy);
                let resolver = ClientIpResolver::new(
                    ForwardedHeader::Forwarded,
                    Networks::parse(&["10.0.0.1/32"]).unwrap(),
                );
                let mut headers = HeaderMap::new();
                let lines = if separate_line {
                    vec![prefix.clone(), element.clone()]
                } else {
                    vec![format!("{prefix}, {element}")]
                };
                for line in &lines {
                    let Ok(value) = HeaderValue::from_str(line) else { return Ok(()) };
                    headers.append(http::header::FORWARDED, value);
                }
                let got = resolver.resolve(proxy, &headers);
                prop_assert!(
                    got.is_none() || got == Some(appended.to_canonical()),
                    "{lines:?} read as {got:?}"
                );
            }
        }
    }
}
