//! Helpers shared by the CLI integration tests.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Run the `tympan` binary built for this test with `args`.
pub fn tympan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tympan"))
        .args(args)
        .output()
        .expect("run tympan")
}

/// A fresh, empty temporary directory for this test process and `tag`.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tympan-cli-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
