//! Whether every configured dependency is usable, for `/ready`.

use std::sync::Arc;

/// A dependency that can report whether it is usable right now. Checks must answer from
/// state they already hold (a background task keeps it fresh), never by calling out.
pub trait ReadinessCheck: Send + Sync {
    fn name(&self) -> &str;
    fn status(&self) -> Result<(), String>;
}

#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<Arc<dyn ReadinessCheck>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.checks.iter().map(|c| c.name()))
            .finish()
    }
}

impl Readiness {
    pub fn register(&mut self, check: Arc<dyn ReadinessCheck>) {
        self.checks.push(check);
    }

    /// Every failing dependency with its reason; empty when ready.
    pub fn failures(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter_map(|c| c.status().err().map(|why| format!("{}: {why}", c.name())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str, Result<(), String>);
    impl ReadinessCheck for Fixed {
        fn name(&self) -> &str {
            self.0
        }
        fn status(&self) -> Result<(), String> {
            self.1.clone()
        }
    }

    #[test]
    fn lists_every_failure() {
        let mut r = Readiness::default();
        assert!(r.failures().is_empty());
        r.register(Arc::new(Fixed("redis", Err("connection refused".into()))));
        r.register(Arc::new(Fixed("oidc", Ok(()))));
        r.register(Arc::new(Fixed("saml", Err("metadata not loaded".into()))));
        assert_eq!(
            r.failures(),
            vec!["redis: connection refused", "saml: metadata not loaded"]
        );
    }
}
