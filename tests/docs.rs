//! The guides in docs/ show configurations that are run. A code block preceded by
//! `<!-- excerpt of PATH -->` must be an excerpt of PATH: its lines (blank lines aside,
//! whitespace runs counted as one space) appear in PATH in the same order. PATH must be one of
//! the files the tests or the demo run. Every nginx, TOML, YAML and Caddyfile block of a guide
//! is such an excerpt, every guide has one, and every link of a guide to a file of the
//! repository leads to a file that exists.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The files the tests, the demo or `docker compose up` run, by prefix.
const RUN_FILES: &[&str] = &[
    "config/nginx/",      // end-to-end tests, the demo, nginx -t (tests/deploy_files.rs)
    "config/examples/",   // tests/app_recipes.rs
    "config/demo/",       // ./scripts/demo (tests/demo.rs), docker-compose.yml
    "config/keycloak/",   // docker-compose.yml, tests/deploy_files.rs
    "config/traefik/",    // tests/front_doors.rs, tests/front_door_contract.rs
    "config/caddy/",      // the same
    "config/envoy/",      // the same
    "deploy/kubernetes/", // tests/deploy_files.rs
    "docker-compose.yml", // tests/deploy_files.rs
    "tests/fixtures/oauth2-proxy/", // tests/migrate_oauth2_proxy.rs (golden output included)
];

/// Languages whose blocks are configurations and must be excerpts.
const CONFIG_LANGUAGES: &[&str] = &["nginx", "toml", "yaml", "caddyfile"];

struct Block {
    line: usize,
    language: String,
    text: String,
    excerpt_of: Option<String>,
}

fn guides() -> Vec<PathBuf> {
    let mut guides: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    guides.sort();
    guides
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines().enumerate().peekable();
    let mut marker: Option<String> = None;
    while let Some((n, line)) = lines.next() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed
            .strip_prefix("<!-- excerpt of ")
            .and_then(|r| r.strip_suffix("-->"))
        {
            marker = Some(rest.trim().to_owned());
            continue;
        }
        if let Some(language) = trimmed.strip_prefix("```") {
            let mut text = String::new();
            for (_, inner) in lines.by_ref() {
                if inner.trim_start().starts_with("```") {
                    break;
                }
                text.push_str(inner);
                text.push('\n');
            }
            blocks.push(Block {
                line: n + 1,
                language: language.trim().to_owned(),
                text,
                excerpt_of: marker.take(),
            });
            continue;
        }
        if !trimmed.is_empty() {
            marker = None;
        }
    }
    blocks
}

fn normalise(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first line of `excerpt` that cannot be found in `file` after the previous one, if any.
fn missing_line(excerpt: &str, file: &str) -> Option<String> {
    let file: Vec<String> = file.lines().map(normalise).collect();
    let mut at = 0;
    for line in excerpt.lines().map(normalise).filter(|l| !l.is_empty()) {
        match file[at..].iter().position(|f| *f == line) {
            Some(i) => at += i + 1,
            None => return Some(line),
        }
    }
    None
}

#[test]
fn every_configuration_in_the_guides_is_an_excerpt_of_a_file_that_runs() {
    let guides = guides();
    let names: Vec<String> = guides
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect();
    for expected in ["nginx.md", "ingress-nginx.md", "gitlab.md", "mattermost.md"] {
        assert!(
            names.iter().any(|n| n == expected),
            "docs/{expected} exists"
        );
    }
    for guide in guides {
        let name = guide.display();
        let markdown = std::fs::read_to_string(&guide).expect("read the guide");
        let blocks = blocks(&markdown);
        assert!(
            blocks.iter().any(|b| b.excerpt_of.is_some()),
            "{name} shows no configuration that runs (no `<!-- excerpt of PATH -->` block)"
        );
        for block in &blocks {
            let Some(source) = &block.excerpt_of else {
                assert!(
                    !CONFIG_LANGUAGES.contains(&block.language.as_str()),
                    "{name}:{}: a {} block that is no excerpt of a file that runs; mark it \
                     `<!-- excerpt of PATH -->`",
                    block.line,
                    block.language
                );
                continue;
            };
            assert!(
                RUN_FILES.iter().any(|prefix| source.starts_with(prefix)),
                "{name}:{}: {source} is not among the files the tests or the demo run ({RUN_FILES:?})",
                block.line
            );
            let file = std::fs::read_to_string(Path::new(ROOT).join(source))
                .unwrap_or_else(|e| panic!("{name}:{}: cannot read {source}: {e}", block.line));
            if let Some(line) = missing_line(&block.text, &file) {
                panic!(
                    "{name}:{}: the block says it is an excerpt of {source}, but `{line}` is not \
                     in it (after the lines before it)",
                    block.line
                );
            }
        }
    }
}

#[test]
fn the_guides_link_to_files_that_exist() {
    for guide in guides() {
        let markdown = std::fs::read_to_string(&guide).expect("read the guide");
        for target in markdown
            .match_indices("](")
            .filter_map(|(i, _)| markdown[i + 2..].split(')').next())
            .filter(|t| !t.contains("://") && !t.starts_with('#'))
        {
            let path = guide
                .parent()
                .expect("docs/")
                .join(target.split('#').next().unwrap_or_default());
            assert!(
                path.exists(),
                "{} links to {target}, which does not exist",
                guide.display()
            );
        }
    }
}

#[test]
fn an_altered_excerpt_is_caught() {
    let file = "a\n  b   c\nd\n";
    assert_eq!(missing_line("a\nb c\n\nd\n", file), None);
    assert_eq!(missing_line("d\na\n", file), Some("a".to_owned()));
    assert_eq!(missing_line("b d\n", file), Some("b d".to_owned()));
}
