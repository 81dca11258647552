//! Configuration loading: any text panics nowhere; a configuration accepted once is accepted
//! again, and a refusal names a key for every problem.

use super::text;
use crate::config::{Config, ConfigError};

/// Input: a configuration file.
pub fn config(data: &[u8]) {
    let text = text(data);
    // Key and certificate files are read while validating: no device (`/dev/zero`, a
    // terminal) may stand in for one here.
    if ["/dev/", "/proc/", "/sys/"]
        .iter()
        .any(|d| text.contains(d))
    {
        return;
    }
    match Config::from_toml(&text, std::iter::empty()) {
        Ok(config) => {
            let _ = config.warnings();
            let _ = config.redirect_domains();
            assert!(
                Config::from_toml(&text, std::iter::empty()).is_ok(),
                "accepted once, refused the second time: {text:?}"
            );
        }
        Err(ConfigError::Invalid(problems)) => {
            assert!(!problems.is_empty(), "refused without a problem: {text:?}");
            for problem in problems {
                assert!(
                    !problem.key.is_empty() && !problem.message.is_empty(),
                    "a problem without a key or a message: {problem:?} in {text:?}"
                );
            }
        }
        Err(ConfigError::Syntax { message, .. }) => assert!(!message.is_empty()),
        Err(ConfigError::Read { .. }) => panic!("text is never read from a file"),
    }
}
