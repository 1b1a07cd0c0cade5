//! Helpers shared by the CLI integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Run the `tympan` binary built for this test with `args`.
pub fn tympan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tympan"))
        .args(args)
        .output()
        .expect("run tympan")
}

/// A fresh, empty temporary directory for this test process and `tag`.
#[allow(dead_code)] // not every test binary writes files
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tympan-cli-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `../shared/data` (or `$TYMPAN_SHARED/data`), if present. Absent: prints `SKIP:` and returns
/// None, except under `CI`, where it panics.
#[allow(dead_code)] // not every test binary reads the shared data
pub fn shared_data() -> Option<PathBuf> {
    let base = match std::env::var_os("TYMPAN_SHARED") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    let dir = base.join("data");
    if dir.join("fsdd").is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but {} is missing", dir.display());
    }
    eprintln!("SKIP: ../shared/data not found at {}", dir.display());
    None
}
