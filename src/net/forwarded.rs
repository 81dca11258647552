//! Parsing of the addresses that proxies put in forwarded headers.

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
    let mut parts = s.split(|&b| b == b'.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part[0] == b'0') {
            return None;
        }
        let mut value: u16 = 0;
        for &b in part {
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u16::from(b - b'0');
        }
        *octet = u8::try_from(value).ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The `for=` values of an RFC 7239 `Forwarded` header line, in order, quotes removed.
/// An element without `for=` yields an empty string, which no parser accepts: a hop we
/// cannot identify must stop the walk, not be skipped.
pub fn forwarded_for_values(line: &str) -> Vec<&str> {
    split_outside_quotes(line, ',')
        .into_iter()
        .map(|element| {
            split_outside_quotes(element, ';')
                .into_iter()
                .find_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| unquote(value.trim()))
                })
                .unwrap_or("")
        })
        .collect()
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
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

    #[test]
    fn forwarded_values() {
        let cases: &[(&str, &[&str])] = &[
            ("for=192.0.2.60;proto=http;by=203.0.113.43", &["192.0.2.60"]),
            (
                r#"for="[2001:db8:cafe::17]:4711""#,
                &["[2001:db8:cafe::17]:4711"],
            ),
            (
                "for=192.0.2.43, for=198.51.100.17",
                &["192.0.2.43", "198.51.100.17"],
            ),
            ("For=192.0.2.43", &["192.0.2.43"]),
            (r#"by="a,b";for=192.0.2.1"#, &["192.0.2.1"]),
            ("proto=https", &[""]),
            ("for=unknown", &["unknown"]),
        ];
        for (input, want) in cases {
            assert_eq!(forwarded_for_values(input), *want, "input {input:?}");
        }
    }
}
