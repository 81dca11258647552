use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use ipnet::IpNet;

/// An IP address in its canonical form: IPv4-mapped IPv6 (`::ffff:192.0.2.1`) becomes IPv4,
/// so one address has one spelling whichever socket family it arrived on.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// A set of networks (CIDRs or single addresses), cheap to clone and to query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Networks(Arc<Sets>);

/// The networks as written, and as (network, mask) pairs per family: a lookup runs several
/// times per request, over lists that can be long (a CDN's published ranges), so it is one
/// AND and one compare per network.
#[derive(Debug, Default, PartialEq, Eq)]
struct Sets {
    nets: Vec<IpNet>,
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl Sets {
    fn new(nets: Vec<IpNet>) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in &nets {
            match net {
                IpNet::V4(n) => v4.push((n.network().to_bits(), n.netmask().to_bits())),
                IpNet::V6(n) => v6.push((n.network().to_bits(), n.netmask().to_bits())),
            }
        }
        Self { nets, v4, v6 }
    }
}

impl Networks {
    /// Parses every entry; returns the ones that failed, each with its position and reason.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, Vec<(usize, String)>> {
        let mut nets = Vec::with_capacity(entries.len());
        let mut bad = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            match parse_net(entry.as_ref()) {
                Ok(net) => nets.push(net),
                Err(reason) => bad.push((i, reason)),
            }
        }
        if bad.is_empty() {
            Ok(Self(Arc::new(Sets::new(nets))))
        } else {
            Err(bad)
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match canonical(ip) {
            IpAddr::V4(ip) => {
                let ip = ip.to_bits();
                self.0.v4.iter().any(|&(net, mask)| ip & mask == net)
            }
            IpAddr::V6(ip) => {
                let ip = ip.to_bits();
                self.0.v6.iter().any(|&(net, mask)| ip & mask == net)
            }
        }
    }

    /// Whether any network of `self` shares an address with any of `other`.
    pub fn overlaps(&self, other: &Networks) -> bool {
        self.0.nets.iter().any(|a| {
            other
                .0
                .nets
                .iter()
                .any(|b| a.contains(&b.network()) || b.contains(&a.network()))
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.nets.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &IpNet> {
        self.0.nets.iter()
    }
}

fn parse_net(entry: &str) -> Result<IpNet, String> {
    let entry = entry.trim();
    if entry.is_empty() {
        return Err("empty entry".into());
    }
    let net = if entry.contains('/') {
        IpNet::from_str(entry).map_err(|_| format!("`{entry}` is not a CIDR (like 10.0.0.0/8)"))?
    } else {
        IpAddr::from_str(entry)
            .map(IpNet::from)
            .map_err(|_| format!("`{entry}` is not an IP address or CIDR"))?
    };
    // Host bits are dropped (`10.1.2.3/8` means `10.0.0.0/8`); mapped IPv6 is stored as IPv4
    // because lookups are canonicalised the same way.
    Ok(match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).unwrap_or(net),
            None => net,
        },
        _ => net,
    }
    .trunc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_and_bare_addresses() {
        let nets = Networks::parse(&["10.0.0.0/8", "203.0.113.7", "2001:db8::/32"]).unwrap();
        assert!(nets.contains(ip("10.200.1.1")));
        assert!(nets.contains(ip("203.0.113.7")));
        assert!(!nets.contains(ip("203.0.113.8")));
        assert!(nets.contains(ip("2001:db8::1")));
        assert!(!nets.contains(ip("2001:db9::1")));
    }

    #[test]
    fn mapped_addresses_match_their_ipv4_network() {
        let nets = Networks::parse(&["192.0.2.0/24"]).unwrap();
        assert!(nets.contains(ip("::ffff:192.0.2.9")));
        let mapped = Networks::parse(&["::ffff:198.51.100.0/120"]).unwrap();
        assert!(mapped.contains(ip("198.51.100.4")));
    }

    #[test]
    fn host_bits_are_dropped() {
        let nets = Networks::parse(&["10.1.2.3/8"]).unwrap();
        assert!(nets.contains(ip("10.9.9.9")));
    }

    #[test]
    fn every_bad_entry_is_reported_with_its_position() {
        let err = Networks::parse(&["10.0.0.0/33", "ok", "1.2.3.4", ""]).unwrap_err();
        let positions: Vec<usize> = err.iter().map(|(i, _)| *i).collect();
        assert_eq!(positions, vec![0, 1, 3]);
    }

    #[test]
    fn overlap() {
        let office = Networks::parse(&["10.0.0.0/8"]).unwrap();
        assert!(office.overlaps(&Networks::parse(&["10.1.2.3"]).unwrap()));
        assert!(Networks::parse(&["10.1.2.3"]).unwrap().overlaps(&office));
        assert!(!office.overlaps(&Networks::parse(&["127.0.0.1", "::1"]).unwrap()));
    }

    #[test]
    fn prefix_edges() {
        let nets = Networks::parse(&["0.0.0.0/0"]).unwrap();
        assert!(nets.contains(ip("255.255.255.255")));
        assert!(
            !nets.contains(ip("::1")),
            "an IPv4 network holds no IPv6 address"
        );
        let nets = Networks::parse(&["192.0.2.128/25", "::/0"]).unwrap();
        assert!(nets.contains(ip("192.0.2.128")));
        assert!(nets.contains(ip("192.0.2.255")));
        assert!(!nets.contains(ip("192.0.2.127")));
        assert!(nets.contains(ip("2001:db8::1")));
        let nets = Networks::parse(&["2001:db8::1/128"]).unwrap();
        assert!(nets.contains(ip("2001:db8::1")));
        assert!(!nets.contains(ip("2001:db8::2")));
    }

    #[test]
    fn empty_set_contains_nothing() {
        let empty = Networks::default();
        assert!(empty.is_empty());
        for address in ["127.0.0.1", "0.0.0.0", "::1", "::ffff:127.0.0.1"] {
            assert!(!empty.contains(ip(address)), "{address}");
        }
        let everything = Networks::parse(&["0.0.0.0/0", "::/0"]).unwrap();
        assert!(!empty.overlaps(&everything));
    }
}
