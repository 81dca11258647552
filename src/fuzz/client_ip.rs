//! Client-address resolution, checked against a model of the README's rules: forwarded headers
//! only from a trusted peer, the chain walked from the right past trusted proxies only, an
//! unreadable hop ending the walk with no client at all.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::{HeaderMap, HeaderName, HeaderValue};

use super::{first_line, text};
use crate::net::{ClientIpResolver, ForwardedHeader, Networks};

/// Input: the header's name (`x-forwarded-for`, `x-real-ip` or `forwarded`), the TCP peer,
/// the trusted proxies (comma-separated networks), then one header line per line.
pub fn client_ip(data: &[u8]) {
    let text = text(data);
    let (name, rest) = first_line(&text);
    let (peer, rest) = first_line(rest);
    let (trusted, lines) = first_line(rest);
    let Some(header) = ForwardedHeader::from_name(name.trim()) else {
        return;
    };
    let Ok(peer) = peer.trim().parse::<IpAddr>() else {
        return;
    };
    let entries: Vec<&str> = trusted
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let Ok(networks) = Networks::parse(&entries) else {
        return;
    };
    let mut headers = HeaderMap::new();
    let mut sent = Vec::new();
    if let Some(header_name) = header_name(header) {
        for line in lines.split('\n') {
            // What a client can put in a header line: any byte but CR, LF and NUL.
            if let Ok(value) = HeaderValue::from_bytes(line.as_bytes()) {
                headers.append(header_name.clone(), value);
                sent.push(line);
            }
        }
    }
    let resolved = ClientIpResolver::new(header, networks.clone()).resolve(peer, &headers);
    let trusts = |ip: IpAddr| networks.contains(ip);
    let expected = model(header, peer.to_canonical(), &sent, &trusts);
    assert_eq!(
        resolved, expected,
        "{header:?} from {peer}, trusting {trusted:?}: {sent:?}"
    );
}

fn header_name(header: ForwardedHeader) -> Option<HeaderName> {
    match header {
        ForwardedHeader::XForwardedFor => Some(HeaderName::from_static("x-forwarded-for")),
        ForwardedHeader::XRealIp => Some(HeaderName::from_static("x-real-ip")),
        ForwardedHeader::Forwarded => Some(http::header::FORWARDED),
        ForwardedHeader::None => None,
    }
}

/// The client as the README states the rules, written for clarity rather than speed.
fn model(
    header: ForwardedHeader,
    peer: IpAddr,
    lines: &[&str],
    trusts: &dyn Fn(IpAddr) -> bool,
) -> Option<IpAddr> {
    if header == ForwardedHeader::None || !trusts(peer) {
        return Some(peer);
    }
    // A header value is read only if it is visible ASCII, spaces and tabs.
    let readable = |line: &str| {
        line.bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
    };
    // The hops, nearest first; an `Err` is an unreadable line, which ends a walk reaching it.
    let hops: Vec<Result<String, ()>> = if header == ForwardedHeader::Forwarded {
        // The whole field is read before any of it is believed.
        if !lines.iter().all(|l| readable(l)) {
            return None;
        }
        let values = super::forwarded::reference_for_values(lines)?;
        // A node has no whitespace around it: such a value names no hop.
        values
            .into_iter()
            .rev()
            .map(|v| Ok(if v.trim() == v { v } else { String::new() }))
            .collect()
    } else {
        let mut hops = Vec::new();
        for line in lines.iter().rev() {
            if !readable(line) {
                hops.push(Err(()));
            } else if !line.trim_matches([' ', '\t']).is_empty() {
                hops.extend(line.rsplit(',').map(|hop| Ok(hop.to_owned())));
            }
        }
        hops
    };
    if hops.is_empty() {
        // The proxy itself made the request.
        return Some(peer);
    }
    let mut farthest_trusted = None;
    for hop in hops {
        match node(&hop.ok()?) {
            None => return None,
            Some(ip) if trusts(ip) => farthest_trusted = Some(ip),
            Some(ip) => return Some(ip),
        }
    }
    farthest_trusted
}

/// One hop: `ip`, `ip:port`, `[v6]`, `[v6]:port` or a bare IPv6 address, surrounded by at most
/// spaces and tabs.
fn node(raw: &str) -> Option<IpAddr> {
    let s = raw.trim_matches([' ', '\t']);
    let port = |p: &str| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
    let ip = if let Ok(ip) = s.parse::<IpAddr>() {
        ip
    } else if let Some(inner) = s.strip_prefix('[') {
        let (inner, after) = inner.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(port)) {
            return None;
        }
        IpAddr::V6(inner.parse::<Ipv6Addr>().ok()?)
    } else {
        let (host, p) = s.rsplit_once(':')?;
        if !port(p) {
            return None;
        }
        IpAddr::V4(host.parse::<Ipv4Addr>().ok()?)
    };
    Some(ip.to_canonical())
}
