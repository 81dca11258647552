//! The command line: `check`, `secret`, `--version`, and refusing to start on bad config.

use std::io::Write;
use std::process::{Command, Output};

fn sekisho(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sekisho"))
        .args(args)
        .env_remove("SEKISHO_SESSION__SECRET")
        .output()
        .expect("run sekisho")
}

fn config_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

#[test]
fn check_lists_every_mistake_and_exits_64() {
    let file = config_file(
        "trusted_ips = ['10.0.0.0/8', '192.168.1.300']\n\
         [client_ip]\nheader = 'x-forwarded-four'\n\
         [session]\nsecret = 'too-short'\n",
    );
    let out = sekisho(&["check", "--config", file.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "stderr: {stderr}");
    for key in ["trusted_ips[1]", "client_ip.header", "session.secret"] {
        assert!(stderr.contains(key), "{key} not named in: {stderr}");
    }
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.trim_start().starts_with("- "))
            .count(),
        3,
        "{stderr}"
    );
}

#[test]
fn check_names_each_bad_upstream_setting_and_exits_64() {
    let file = config_file(
        "[session]\nsecret = '0123456789abcdef0123456789abcdef'\n\
         [proxy]\ntimeout = 'forever'\n\
         [[upstream]]\nhost = 'gitlab.example.com'\nurl = 'http://127.0.0.1:8081'\n\
         [[upstream]]\nhost = 'gitlab.example.com'\nurl = 'https://127.0.0.1:8065/chat'\n\
         skip_auth = ['^/api/v4/', 'POST ^/hooks/(']\n",
    );
    let out = sekisho(&["check", "--config", file.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "stderr: {stderr}");
    for line in [
        "- proxy.timeout: `forever` is not a duration",
        "- upstream[1].host: `gitlab.example.com` is already served by upstream[0]",
        "- upstream[1].url: `https://127.0.0.1:8065/chat`: only http:// upstreams",
        "- upstream[1].skip_auth[1]: `^/hooks/(` is not a regular expression: unclosed group",
    ] {
        assert!(stderr.contains(line), "{line:?} not in: {stderr}");
    }
}

#[test]
fn check_accepts_a_good_config() {
    let secret = String::from_utf8(sekisho(&["secret"]).stdout).unwrap();
    let file = config_file(&format!("[session]\nsecret = '{}'\n", secret.trim()));
    let out = sekisho(&["check", "--config", file.path().to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn serve_refuses_to_start_on_bad_config() {
    let file = config_file("listen = 'everywhere'\n");
    let out = sekisho(&["serve", "--config", file.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("listen") && stderr.contains("session.secret"),
        "{stderr}"
    );
}

#[test]
fn missing_config_file_is_a_config_error() {
    let out = sekisho(&["check", "--config", "/nonexistent/sekisho.toml"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/sekisho.toml"));
}

#[test]
fn secrets_are_random_base64_of_32_bytes() {
    use base64::Engine;
    let a = String::from_utf8(sekisho(&["secret"]).stdout).unwrap();
    let b = String::from_utf8(sekisho(&["secret"]).stdout).unwrap();
    assert_ne!(a, b);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(a.trim())
        .unwrap();
    assert_eq!(bytes.len(), 32);
}

#[test]
fn version_and_help() {
    let out = sekisho(&["--version"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let help = String::from_utf8(sekisho(&["--help"]).stdout).unwrap();
    for command in ["serve", "check", "secret"] {
        assert!(help.contains(command), "{help}");
    }
}
