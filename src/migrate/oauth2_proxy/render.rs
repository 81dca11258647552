//! The plan as Sekisho's TOML configuration: a header saying what it was migrated from, which
//! secrets to set and every warning; then each key with a comment naming the oauth2-proxy
//! settings it came from. Values are written by the `toml` crate, so their quoting is right.

use super::mapping::{Entry, Finding, Mode, Plan};

/// Width comments are wrapped at.
const WIDTH: usize = 96;

/// Sections in the order Sekisho's example configuration has them.
const SECTIONS: &[&str] = &[
    "",
    "client_ip",
    "session",
    "log",
    "authorization",
    "oidc",
    "proxy",
    "upstream",
];

/// The configuration text. `command` and `inputs` are said in the header.
pub fn render(plan: &Plan, command: &str, inputs: &[String]) -> String {
    let mut out = String::new();
    comment(
        &mut out,
        "",
        &format!("Sekisho configuration migrated from oauth2-proxy by `{command}`."),
    );
    if !inputs.is_empty() {
        comment(&mut out, "", &format!("Read: {}.", inputs.join(", ")));
    }
    let mode = match plan.mode {
        Mode::AuthRequest => {
            "nginx asks Sekisho at /oauth2/auth (auth_request); Sekisho proxies to no app."
        }
        Mode::Proxy => "Sekisho stands in front of the app as its reverse proxy ([[upstream]]).",
    };
    comment(&mut out, "", mode);
    comment(
        &mut out,
        "",
        "Check it with `sekisho check --config FILE` once these are set in the environment:",
    );
    for (var, what) in &plan.secrets {
        comment(&mut out, "  ", &format!("{var}: {what}"));
    }
    list(&mut out, "Carried over with nothing to write:", &plan.notes);
    list(
        &mut out,
        "WARNINGS (behaves differently, or left out):",
        &plan.warnings,
    );
    for section in SECTIONS {
        let entries: Vec<&Entry> = plan
            .entries
            .iter()
            .filter(|e| e.section == *section)
            .collect();
        if entries.is_empty() {
            continue;
        }
        out.push('\n');
        match *section {
            "" => {}
            "upstream" => out.push_str("[[upstream]]\n"),
            name => out.push_str(&format!("[{name}]\n")),
        }
        for entry in entries {
            for line in &entry.comment {
                comment(&mut out, "", line);
            }
            out.push_str(&format!("{} = {}\n", entry.key, entry.value));
        }
    }
    out
}

fn list(out: &mut String, title: &str, findings: &[Finding]) {
    if findings.is_empty() {
        return;
    }
    out.push_str("#\n");
    comment(out, "", title);
    for finding in findings {
        comment(out, "- ", &finding.to_string());
    }
}

/// `text` as `# ` lines of at most [`WIDTH`] columns, the first led by `lead` and the others
/// indented under it.
fn comment(out: &mut String, lead: &str, text: &str) {
    let indent = " ".repeat(lead.chars().count());
    let mut line = format!("# {lead}");
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > WIDTH {
            out.push_str(line.trim_end());
            out.push('\n');
            line = format!("# {indent}");
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_wrap_under_their_lead() {
        let mut out = String::new();
        let long = "word ".repeat(40);
        comment(&mut out, "- ", &long);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.chars().count() <= WIDTH));
        assert!(lines[0].starts_with("# - word"));
        assert!(lines[1].starts_with("#   word"));
    }

    #[test]
    fn sections_in_order_with_their_comments() {
        let entry = |section, key, value: &str| Entry {
            section,
            key,
            value: toml::Value::String(value.into()),
            comment: vec![format!("from --{key}")],
            from: Vec::new(),
        };
        let plan = Plan {
            mode: Mode::Proxy,
            entries: vec![
                entry("upstream", "url", "http://a:1"),
                entry("", "listen", "0.0.0.0:4180"),
                entry("client_ip", "header", "x-forwarded-for"),
            ],
            notes: Vec::new(),
            secrets: vec![("SEKISHO_SESSION__SECRET", "a new one".into())],
            warnings: vec![Finding {
                at: "--x".into(),
                text: "careful".into(),
            }],
            errors: Vec::new(),
        };
        let text = render(&plan, "sekisho migrate oauth2-proxy", &[]);
        let listen = text.find("listen = \"0.0.0.0:4180\"").unwrap();
        let client_ip = text.find("[client_ip]").unwrap();
        let upstream = text
            .find("[[upstream]]\n# from --url\nurl = \"http://a:1\"")
            .unwrap();
        assert!(listen < client_ip && client_ip < upstream, "{text}");
        assert!(text.contains("# - --x: careful\n"), "{text}");
        assert!(
            text.contains("#   SEKISHO_SESSION__SECRET: a new one\n"),
            "{text}"
        );
        let parsed: toml::Table = text.parse().unwrap();
        assert_eq!(parsed["listen"].as_str(), Some("0.0.0.0:4180"));
    }
}
