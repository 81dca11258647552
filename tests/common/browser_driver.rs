//! Headless Chromium driven by playwright-core (`tests/peers/browser`): where they are, and a
//! failure that says how to install them when they are not.

use std::path::{Path, PathBuf};

pub const DRIVER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/browser");

/// Debian's Chromium, or `CHROMIUM_BINARY`.
pub fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "the browser tests need Chromium at {} (or set CHROMIUM_BINARY): \
         `apt-get install chromium`, or run ./scripts/test",
        path.display()
    );
    path
}

/// Fails unless the driver's npm dependencies are installed.
pub fn check_driver() {
    assert!(
        Path::new(DRIVER_DIR)
            .join("node_modules/playwright-core/package.json")
            .is_file(),
        "the browser tests need {DRIVER_DIR}/node_modules (playwright-core): \
         `npm ci --prefix tests/peers/browser`, or run ./scripts/test"
    );
}

/// How long the driver may take for one whole sign-in (its own timeout is shorter).
pub const DRIVER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `login.js` with `args` (see its header) in Chromium and returns its `result` object
/// once it has printed it; panics with the driver's output if it prints none in time.
pub async fn run_driver(args: &serde_json::Value) -> serde_json::Value {
    let chromium = chromium();
    check_driver();
    let mut command = std::process::Command::new("node");
    command
        .arg(Path::new(DRIVER_DIR).join("login.js"))
        .arg(args.to_string())
        .current_dir(DRIVER_DIR)
        .env("CHROMIUM_BINARY", chromium);
    let mut driver = super::process::Process::spawn("browser driver (login.js)", command);
    let line = driver
        .wait_for_line("its result line", DRIVER_TIMEOUT, |line| {
            line.starts_with("{\"result\"")
        })
        .await;
    let parsed: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("the driver's result is not JSON ({e}): {line}"));
    parsed["result"].clone()
}

/// `^text$` with the regular-expression metacharacters escaped (JavaScript syntax): the
/// driver's `expect_url` for exactly `text`.
pub fn exactly(text: &str) -> String {
    let escaped: String = text
        .chars()
        .flat_map(|c| {
            let escape = "\\^$.|?*+()[]{}/".contains(c);
            escape.then_some('\\').into_iter().chain([c])
        })
        .collect();
    format!("^{escaped}$")
}

/// A fresh path for a screenshot named `name` under the test binary's temporary directory
/// (`group`), any earlier one removed.
pub fn screenshot_path(group: &str, name: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(group);
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// Signs `user` in with Chromium at `path` on `stack` (the provider's own sign-in page, through
/// nginx), `extra` merged into the driver's arguments; returns the driver's result, asserting
/// it came back to `path`. `shot` names the screenshot (under `group`).
pub async fn chromium_sign_in(
    stack: &super::oidc_stack::OidcStack,
    path: &str,
    user: (&str, &str),
    (group, shot): (&str, &str),
    extra: serde_json::Value,
) -> serde_json::Value {
    let target = stack.url(path);
    let mut args = serde_json::json!({
        "start_url": target,
        "username": user.0,
        "password": user.1,
        "expect_url": exactly(&target),
        "screenshot": screenshot_path(group, &format!("{shot}.png")),
        "timeout_ms": 40_000,
    });
    if let (Some(args), Some(extra)) = (args.as_object_mut(), extra.as_object()) {
        args.extend(extra.clone());
    }
    let result = run_driver(&args).await;
    assert_eq!(
        (result["ok"].as_bool(), result["final_url"].as_str()),
        (Some(true), Some(target.as_str())),
        "Chromium should sign {} in and land on {target}; the driver reported:\n{}\n\
         Sekisho's log:\n{}",
        user.0,
        serde_json::to_string_pretty(&result).unwrap_or_default(),
        stack.sekisho_log_excerpt("callback")
    );
    result
}

/// The `Cookie` header of the driver's cookies for Sekisho and the app: cookies are per host,
/// not per port, so Keycloak's (scoped to `/realms/...`) are left out by their path.
pub fn app_cookies(result: &serde_json::Value) -> String {
    result["cookies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| !c["path"].as_str().unwrap_or("/").starts_with("/realms/"))
        .map(|c| {
            let text = |name: &str| c[name].as_str().unwrap_or_default().to_owned();
            format!("{}={}", text("name"), text("value"))
        })
        .collect::<Vec<_>>()
        .join("; ")
}
