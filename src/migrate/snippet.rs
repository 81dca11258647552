//! nginx directives in `auth-snippet` and `configuration-snippet`. Arbitrary nginx cannot be
//! carried to another gateway; one pattern can, because it means something Sekisho or the
//! gateway knows how to say:
//!
//! - `satisfy any; allow 10.0.0.0/8; ...; deny all;`: these addresses pass *without* the
//!   login (nginx lets a request through when either the address rules or `auth_request`
//!   allow it): Sekisho's `trusted_ips`;
//! - `allow ...; deny all;` without `satisfy any`: both must allow, so only these addresses
//!   may reach the app, signed in: an access restriction, like `whitelist-source-range`.
//!
//! Everything else is returned as it was written, to be reported.

use super::annotations::Cidr;

/// What a snippet says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snippet {
    pub access: Option<Access>,
    /// Directives not understood, as written (without their `;`).
    pub unmapped: Vec<String>,
}

/// The address rules of a snippet, when they have one of the two known shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// `satisfy any` + `allow`s + `deny all`: these addresses skip the login.
    SkipLogin(Vec<Cidr>),
    /// `allow`s + `deny all`: only these addresses, and signed in.
    Restrict(Vec<Cidr>),
}

/// Reads `text` as nginx directives.
pub fn read(text: &str) -> Snippet {
    let without_comments: String = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    if without_comments.contains(['{', '}']) {
        // Blocks (`if`, `location`, ...) cannot be split into directives reliably.
        return Snippet {
            access: None,
            unmapped: vec![squeeze(&without_comments)],
        };
    }
    let directives: Vec<String> = without_comments
        .split(';')
        .map(squeeze)
        .filter(|d| !d.is_empty())
        .collect();
    let mut satisfy_any = None;
    let mut access = Vec::new();
    let mut unmapped = Vec::new();
    for directive in directives {
        let words: Vec<&str> = directive.split(' ').collect();
        match words.as_slice() {
            ["satisfy", "any"] => satisfy_any = Some(directive.clone()),
            ["satisfy", "all"] => {}
            ["allow" | "deny", _] => access.push(directive.clone()),
            _ => unmapped.push(directive.clone()),
        }
    }
    let shape = address_rules(&access);
    match (shape, satisfy_any) {
        (Some(cidrs), Some(_)) => Snippet {
            access: Some(Access::SkipLogin(cidrs)),
            unmapped,
        },
        (Some(cidrs), None) => Snippet {
            access: Some(Access::Restrict(cidrs)),
            unmapped,
        },
        (None, satisfy) => {
            unmapped.extend(satisfy);
            unmapped.extend(access);
            Snippet {
                access: None,
                unmapped,
            }
        }
    }
}

/// `allow A; allow B; deny all;` → [A, B]; any other order or content → None.
fn address_rules(directives: &[String]) -> Option<Vec<Cidr>> {
    let (last, allows) = directives.split_last()?;
    if last != "deny all" || allows.is_empty() {
        return None;
    }
    allows
        .iter()
        .map(|d| {
            d.strip_prefix("allow ")
                .and_then(|a| a.parse::<Cidr>().ok())
        })
        .collect()
}

fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|c| c.parse().unwrap()).collect()
    }

    #[test]
    fn snippets_are_read_or_returned() {
        let cases: Vec<(&str, Option<Access>, Vec<&str>)> = vec![
            (
                "satisfy any;\nallow 10.0.0.0/8;\nallow 192.0.2.7;\ndeny all;\n",
                Some(Access::SkipLogin(cidrs(&["10.0.0.0/8", "192.0.2.7/32"]))),
                vec![],
            ),
            (
                "allow 10.0.0.0/8; deny all; # office only",
                Some(Access::Restrict(cidrs(&["10.0.0.0/8"]))),
                vec![],
            ),
            (
                "satisfy any; allow 10.0.0.0/8; deny all; proxy_set_header X-A b;",
                Some(Access::SkipLogin(cidrs(&["10.0.0.0/8"]))),
                vec!["proxy_set_header X-A b"],
            ),
            (
                "satisfy any; deny 10.1.0.0/16; allow 10.0.0.0/8; deny all;",
                None,
                vec![
                    "satisfy any",
                    "deny 10.1.0.0/16",
                    "allow 10.0.0.0/8",
                    "deny all",
                ],
            ),
            (
                "satisfy any; allow all;",
                None,
                vec!["satisfy any", "allow all"],
            ),
            (
                "allow unix:; deny all;",
                None,
                vec!["allow unix:", "deny all"],
            ),
            (
                "if ($http_x_a) { return 403; }",
                None,
                vec!["if ($http_x_a) { return 403; }"],
            ),
            ("  # nothing\n", None, vec![]),
        ];
        for (text, access, unmapped) in cases {
            let snippet = read(text);
            assert_eq!(snippet.access, access, "{text:?}");
            assert_eq!(snippet.unmapped, unmapped, "{text:?}");
        }
    }
}
