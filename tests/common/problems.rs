//! Problems found while checking several cases, reported together at the end so one failing
//! case does not hide the others.

#[derive(Default)]
pub struct Problems(Vec<String>);

impl Problems {
    /// Records `problem()` unless `ok`.
    pub fn check(&mut self, ok: bool, problem: impl FnOnce() -> String) {
        if !ok {
            self.0.push(problem());
        }
    }

    /// Fails the test with every recorded problem, if there is one.
    pub fn assert_none(self, what: &str) {
        assert!(
            self.0.is_empty(),
            "{what}: {} problem(s):\n\n{}",
            self.0.len(),
            self.0.join("\n\n")
        );
    }
}
