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
