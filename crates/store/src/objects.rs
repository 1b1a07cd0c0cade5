//! Objects (recordings, prompt audio, uploaded files): named byte strings beside the database.
//!
//! [`ObjectStore`] is the interface; [`LocalObjects`] keeps each object as a file under
//! `{data_dir}/objects/` (the zero-configuration default; an S3 backend is planned for
//! scale-out). Keys are relative paths of `/`-separated segments of `[A-Za-z0-9._-]`, none of
//! them `.` or `..`, so a key can never name a file outside the root. A put writes a temporary
//! file and renames it over the key, so a reader (or a crash) never sees half an object.

use crate::{Result, StoreError};
use async_trait::async_trait;
use std::path::{Path, PathBuf};

/// Largest object accepted by [`ObjectStore::put`], bytes (an hour of 8 kHz 16-bit audio is
/// 57.6 MB).
pub const MAX_OBJECT_BYTES: usize = 256 * 1024 * 1024;
/// Longest key, bytes.
pub const MAX_KEY_LEN: usize = 512;
/// Directory of the local backend inside the data directory.
pub const OBJECTS_DIR: &str = "objects";

/// Named byte strings: put, get, delete, list by prefix.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// `local` (a directory) or another backend's name.
    fn backend(&self) -> &'static str;
    /// Stores `bytes` under `key`, replacing what was there.
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<()>;
    /// The bytes under `key`, `None` when there is no such object.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Removes `key`; `false` when there was nothing to remove.
    async fn delete(&self, key: &str) -> Result<bool>;
    /// Keys under `prefix` (a key prefix ending in `/`, or empty for all), sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>>;
    /// The URI users see for `key` (`file:///…` for the local backend).
    fn uri(&self, key: &str) -> String;
}

/// Checks an object key; the error names the key and what is wrong.
pub fn check_key(key: &str) -> Result<()> {
    let bad = |reason: &str| {
        Err(StoreError::Invalid {
            field: "object key",
            value: key.chars().take(80).collect(),
            reason: reason.into(),
        })
    };
    if key.is_empty() {
        return bad("empty");
    }
    if key.len() > MAX_KEY_LEN {
        return bad(&format!("longer than {MAX_KEY_LEN} bytes"));
    }
    for seg in key.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return bad("empty, `.` or `..` path segment");
        }
        if !seg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return bad("segments may only hold A-Z, a-z, 0-9, `.`, `_` and `-`");
        }
    }
    Ok(())
}

/// Objects as files under a root directory.
#[derive(Debug, Clone)]
pub struct LocalObjects {
    root: PathBuf,
}

impl LocalObjects {
    /// Objects under `{data_dir}/objects` (created on the first put).
    pub fn in_data_dir(data_dir: &Path) -> Self {
        LocalObjects {
            root: data_dir.join(OBJECTS_DIR),
        }
    }

    /// Objects directly under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalObjects { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of a checked key.
    pub fn path(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

fn io(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[async_trait]
impl ObjectStore for LocalObjects {
    fn backend(&self) -> &'static str {
        "local"
    }

    async fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path(key)?;
        if bytes.len() > MAX_OBJECT_BYTES {
            return Err(StoreError::Invalid {
                field: "object size",
                value: format!("{key}: {} bytes", bytes.len()),
                reason: format!("larger than MAX_OBJECT_BYTES ({MAX_OBJECT_BYTES})"),
            });
        }
        let dir = path.parent().expect("a key has a parent: the root");
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| io(dir, e))?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("object");
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        tokio::fs::write(&tmp, bytes)
            .await
            .map_err(|e| io(&tmp, e))?;
        if let Err(e) = tokio::fs::rename(&tmp, &path).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(io(&path, e));
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(key)?;
        match tokio::fs::read(&path).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path, e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let path = self.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io(&path, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        if !prefix.is_empty() {
            check_key(prefix.trim_end_matches('/'))?;
        }
        let mut out = Vec::new();
        let mut dirs = vec![self.root.clone()];
        while let Some(dir) = dirs.pop() {
            let mut rd = match tokio::fs::read_dir(&dir).await {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&dir, e)),
            };
            while let Some(entry) = rd.next_entry().await.map_err(|e| io(&dir, e))? {
                let p = entry.path();
                let ft = entry.file_type().await.map_err(|e| io(&p, e))?;
                if ft.is_dir() {
                    dirs.push(p);
                    continue;
                }
                let Ok(rel) = p.strip_prefix(&self.root) else {
                    continue;
                };
                let key = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                // Temporary files of puts in progress are not objects.
                if check_key(&key).is_ok()
                    && !key.rsplit('/').next().is_some_and(|n| n.starts_with('.'))
                    && key.starts_with(prefix)
                {
                    out.push(key);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn uri(&self, key: &str) -> String {
        format!("file://{}", self.root.join(key).display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_leave_the_root() {
        for good in ["recordings/call-1/rec_1.wav", "a", "x/y.z_w-1"] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a/./b",
            "a//b",
            "a/b/",
            "a b",
            "a\\b",
            "é",
        ] {
            let e = check_key(bad).unwrap_err().to_string();
            assert!(e.contains("object key"), "{bad}: {e}");
        }
        assert!(check_key(&"a".repeat(MAX_KEY_LEN + 1)).is_err());
    }

    #[tokio::test]
    async fn put_get_list_delete() {
        let dir = std::env::temp_dir().join(format!("tympan-objects-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let o = LocalObjects::in_data_dir(&dir);
        assert_eq!(o.get("recordings/c1/r1.wav").await.unwrap(), None);
        assert!(o.list("").await.unwrap().is_empty());
        o.put("recordings/c1/r1.wav", b"one").await.unwrap();
        o.put("recordings/c1/r2.wav", b"two").await.unwrap();
        o.put("recordings/c2/r1.wav", b"three").await.unwrap();
        o.put("recordings/c1/r1.wav", b"uno").await.unwrap();
        assert_eq!(
            o.get("recordings/c1/r1.wav").await.unwrap().as_deref(),
            Some(&b"uno"[..])
        );
        assert_eq!(
            o.list("recordings/c1/").await.unwrap(),
            vec!["recordings/c1/r1.wav", "recordings/c1/r2.wav"]
        );
        assert_eq!(o.list("").await.unwrap().len(), 3);
        assert!(o.delete("recordings/c1/r2.wav").await.unwrap());
        assert!(!o.delete("recordings/c1/r2.wav").await.unwrap());
        assert_eq!(o.list("recordings/c1/").await.unwrap().len(), 1);
        assert!(o.get("../escape").await.is_err());
        assert!(o.uri("recordings/c2/r1.wav").starts_with("file:///"));
        assert!(dir.join("objects/recordings/c2/r1.wav").is_file());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
