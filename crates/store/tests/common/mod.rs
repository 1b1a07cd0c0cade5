//! Test fixtures: temporary directories and one store per test on either backend.

#![allow(dead_code)]

pub mod pg;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tympan_store::{open, Store, StoreConfig};

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh, empty directory under the system temp dir.
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "tympan-store-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where one test's store lives; `open` may be called again to reopen it.
pub struct Fixture {
    pub backend: Backend,
    pub cfg: StoreConfig,
    _dir: TempDir,
}

impl Fixture {
    /// A private, empty store for the test `name`: a temp dir for SQLite, a schema of its own
    /// for PostgreSQL.
    pub async fn new(backend: Backend, name: &str) -> Fixture {
        let dir = TempDir::new(name);
        let cfg = match backend {
            Backend::Sqlite => StoreConfig::sqlite(dir.path().join("data")),
            Backend::Postgres => StoreConfig {
                data_dir: dir.path().to_path_buf(),
                database_url: Some(pg::fresh_schema_url(name).await),
            },
        };
        Fixture {
            backend,
            cfg,
            _dir: dir,
        }
    }

    pub async fn open(&self) -> Arc<dyn Store> {
        open(&self.cfg)
            .await
            .unwrap_or_else(|e| panic!("open {:?}: {e}", self.backend))
    }
}
