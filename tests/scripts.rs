//! The repository's scripts can be run as the guides write them (`bench/faults.sh`,
//! `scripts/test`): every file under `scripts/`, `bench/` and `.ci/` that starts with an
//! interpreter line is executable. Git keeps the mode of what was committed; a script
//! committed without it fails on a fresh clone with "Permission denied". The pieces the
//! scripts source (`bench/common.sh`) have no interpreter line and are not checked.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const DIRECTORIES: [&str; 3] = ["scripts", "bench", ".ci"];

fn scripts() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for dir in DIRECTORIES {
        let entries =
            std::fs::read_dir(root.join(dir)).unwrap_or_else(|e| panic!("cannot list {dir}/: {e}"));
        for entry in entries {
            let path = entry.unwrap().path();
            let starts_with_interpreter =
                path.is_file() && std::fs::read(&path).is_ok_and(|bytes| bytes.starts_with(b"#!"));
            if starts_with_interpreter {
                found.push(path);
            }
        }
    }
    found
}

fn executable(path: &Path) -> bool {
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    mode & 0o111 == 0o111
}

#[test]
fn every_script_with_an_interpreter_line_is_executable() {
    let scripts = scripts();
    let names: Vec<String> = scripts
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in ["test", "auth.sh", "faults.sh", "run"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not found among {names:?}: the directories moved?"
        );
    }
    let not_executable: Vec<_> = scripts.iter().filter(|p| !executable(p)).collect();
    assert!(
        not_executable.is_empty(),
        "not executable (chmod +x, then commit the mode): {not_executable:?}"
    );
}
