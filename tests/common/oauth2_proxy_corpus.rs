//! The requests both oauth2-proxy and Sekisho are asked, shared by the side-by-side tables
//! (tests/oauth2_proxy_side_by_side.rs) and the differential test of migrated configurations
//! (tests/migrate_oauth2_proxy_differential.rs): forged and odd forwarded headers as nginx
//! passes them on, and request targets that try to pass for a path that skips the sign-in.
//! A case whose `why` is not empty is one where the two answer differently, and why
//! Sekisho's answer is the one to want.

/// One request as nginx passes it to the auth server.
pub struct Case {
    pub what: &'static str,
    pub headers: &'static [(&'static str, &'static str)],
    /// The client's real address (the one nginx appended) is outside `trusted_ips`: letting it
    /// through is a bypass.
    pub forged: bool,
    /// Why Sekisho answers as it does, where the answers differ.
    pub why: &'static str,
}

pub const CASES: &[Case] = &[
    Case {
        what: "a client in `trusted_ips`",
        headers: &[("X-Forwarded-For", "198.51.100.7")],
        forged: false,
        why: "",
    },
    Case {
        what: "an outside client that writes a trusted address first",
        headers: &[("X-Forwarded-For", "198.51.100.7, 192.0.2.9")],
        forged: true,
        why: "The left-most value is whatever the client wrote. Sekisho walks from the right \
              past trusted proxies only, so the client is 192.0.2.9.",
    },
    Case {
        what: "the same, with a port",
        headers: &[("X-Forwarded-For", "198.51.100.7:443, 192.0.2.9")],
        forged: true,
        why: "As above: the client's text is never taken on its word.",
    },
    Case {
        what: "the same, as IPv4-mapped IPv6",
        headers: &[("X-Forwarded-For", "::ffff:198.51.100.7, 192.0.2.9")],
        forged: true,
        why: "As above, whatever the spelling.",
    },
    Case {
        what: "the same, in a header line of its own before the proxy's",
        headers: &[
            ("X-Forwarded-For", "198.51.100.7"),
            ("X-Forwarded-For", "192.0.2.9"),
        ],
        forged: true,
        why: "Lines are one list (RFC 9110 5.3); the proxy's line is the last, so the client is \
              192.0.2.9.",
    },
    Case {
        what: "a trusted client whose own header says something else",
        headers: &[("X-Forwarded-For", "203.0.113.5, 198.51.100.7")],
        forged: false,
        why: "nginx saw 198.51.100.7, which is trusted; what that client wrote before it does not \
              matter.",
    },
    Case {
        what: "an outside client that claims nothing",
        headers: &[("X-Forwarded-For", "192.0.2.9")],
        forged: false,
        why: "",
    },
    Case {
        what: "an outside client after garbage",
        headers: &[("X-Forwarded-For", "not-an-address, 192.0.2.9")],
        forged: false,
        why: "",
    },
    Case {
        what: "an outside client that claims a trusted address in `X-Real-IP`",
        headers: &[
            ("X-Real-IP", "198.51.100.7"),
            ("X-Forwarded-For", "192.0.2.9"),
        ],
        forged: true,
        why: "",
    },
    Case {
        what: "an outside client that claims a trusted address in `Forwarded`",
        headers: &[
            ("Forwarded", "for=198.51.100.7"),
            ("X-Forwarded-For", "192.0.2.9"),
        ],
        forged: true,
        why: "",
    },
    Case {
        what: "no `X-Forwarded-For` at all (nginx's own request, a health check)",
        headers: &[],
        forged: false,
        why: "",
    },
];

/// A request target as a client sends it, to a path that skips the sign-in or tries to pass
/// for one.
pub struct Target {
    pub target: &'static str,
    /// An app that resolves dot segments and decodes the path (most do) would serve something
    /// outside `/public/`: reaching it is a bypass.
    pub outside: bool,
    pub why: &'static str,
}

pub const TARGETS: &[Target] = &[
    Target {
        target: "/public/logo.png",
        outside: false,
        why: "",
    },
    Target {
        target: "/admin",
        outside: true,
        why: "",
    },
    Target {
        target: "/public/../admin",
        outside: true,
        why: "Matched after dot segments are resolved (RFC 3986 5.2.4), as the app will read \
              it: this is `/admin`.",
    },
    Target {
        target: "/public/%2e%2e/admin",
        outside: true,
        why: "Percent-encoded dots are dots to the app: this is `/admin` too.",
    },
    Target {
        target: "/public/..%2fadmin",
        outside: true,
        why: "An encoded slash is refused outright: apps disagree on what it means.",
    },
    Target {
        target: "/public%2f..%2fadmin",
        outside: true,
        why: "As above.",
    },
    Target {
        target: "//public/../admin",
        outside: true,
        why: "",
    },
    Target {
        target: "/admin?next=/public/",
        outside: true,
        why: "",
    },
    Target {
        target: "/PUBLIC/x",
        outside: true,
        why: "",
    },
    Target {
        target: "/public/..;/admin",
        outside: true,
        why: "Tomcat reads `..;` as `..`: this is `/admin` to a Java app.",
    },
    Target {
        target: "/public/x?next=/admin",
        outside: false,
        why: "",
    },
    Target {
        target: "/admin#/public/",
        outside: true,
        why: "",
    },
];
