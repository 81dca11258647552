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
