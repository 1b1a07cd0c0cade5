//! Bearer-token authentication of the control routes (`/v1/calls…`, `/v1/events`, and every
//! later job/model/admin route).
//!
//! Tokens come from the configuration (`api_tokens`) and the `TYMPAN_API_TOKEN` environment
//! variable; with neither, [`resolve_tokens`] reads — or on first start creates, mode 0600 —
//! the file `api-token` in the data directory. A server with no token at all refuses every
//! control request (it fails closed).

use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Environment variable holding one API token.
pub const TOKEN_ENV: &str = "TYMPAN_API_TOKEN";
/// Name of the token file created in the data directory.
pub const TOKEN_FILE: &str = "api-token";
/// Shortest token accepted from the configuration or the environment, in bytes.
pub const MIN_TOKEN_LEN: usize = 16;
/// Longest token accepted (and longest `Authorization` value compared), in bytes.
pub const MAX_TOKEN_LEN: usize = 512;

/// Where the server's tokens came from (for the start-up log line).
#[derive(Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// `api_tokens` in the configuration and/or `TYMPAN_API_TOKEN`.
    Configured,
    /// Read from an existing token file.
    File(PathBuf),
    /// A new token was written to this file (mode 0600).
    Created(PathBuf),
}

/// Tokens accepted on the control routes.
#[derive(Clone, Debug, Default)]
pub struct Tokens(Vec<String>);

impl Tokens {
    /// These tokens (empty strings are dropped).
    pub fn new(tokens: impl IntoIterator<Item = String>) -> Self {
        Tokens(tokens.into_iter().filter(|t| !t.is_empty()).collect())
    }

    /// True when no token is configured (every control request is then refused).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `Authorization: <value>` carries one of the tokens. Every token is compared,
    /// each in time that depends only on the lengths, so a reply's timing does not tell how
    /// much of a guess was right.
    pub fn allows(&self, authorization: Option<&[u8]>) -> bool {
        let Some(v) = authorization else {
            return false;
        };
        if v.len() > MAX_TOKEN_LEN + 7 || v.len() < 7 || !v[..7].eq_ignore_ascii_case(b"bearer ") {
            return false;
        }
        let given = &v[7..];
        let mut ok = 0u8;
        for t in &self.0 {
            ok |= ct_eq(t.as_bytes(), given) as u8;
        }
        ok == 1
    }
}

/// Constant-time equality over the contents (lengths are not secret).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y));
    // `black_box` keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// Why tokens could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{source_name}: token shorter than {MIN_TOKEN_LEN} bytes")]
    TooShort { source_name: String },
    #[error("{source_name}: token longer than {MAX_TOKEN_LEN} bytes or not printable ASCII")]
    Malformed { source_name: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn check_token(source_name: &str, t: &str) -> Result<(), TokenError> {
    if t.len() < MIN_TOKEN_LEN {
        return Err(TokenError::TooShort {
            source_name: source_name.into(),
        });
    }
    if t.len() > MAX_TOKEN_LEN || !t.bytes().all(|c| c.is_ascii_graphic()) {
        return Err(TokenError::Malformed {
            source_name: source_name.into(),
        });
    }
    Ok(())
}

/// The tokens for a server: `configured` (from `api_tokens`) plus `env` (the value of
/// `TYMPAN_API_TOKEN`, passed in so callers and tests decide where it comes from); with
/// neither, the token in `data_dir/api-token`, created (mode 0600) when missing.
pub fn resolve_tokens(
    configured: &[String],
    env: Option<&str>,
    data_dir: &Path,
) -> Result<(Tokens, TokenSource), TokenError> {
    let mut all = Vec::new();
    for (i, t) in configured.iter().enumerate() {
        check_token(&format!("api_tokens[{i}]"), t)?;
        all.push(t.clone());
    }
    if let Some(t) = env.map(str::trim).filter(|t| !t.is_empty()) {
        check_token(TOKEN_ENV, t)?;
        all.push(t.to_owned());
    }
    if !all.is_empty() {
        return Ok((Tokens::new(all), TokenSource::Configured));
    }
    let path = data_dir.join(TOKEN_FILE);
    let io = |source| TokenError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let t = text.trim().to_owned();
            check_token(&path.display().to_string(), &t)?;
            return Ok((Tokens::new([t]), TokenSource::File(path)));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    std::fs::create_dir_all(data_dir).map_err(|source| TokenError::Io {
        path: data_dir.to_owned(),
        source,
    })?;
    let token = new_token();
    write_private(&path, &format!("{token}\n")).map_err(io)?;
    Ok((Tokens::new([token]), TokenSource::Created(path)))
}

/// A fresh random token: `tympan_` and 64 hex digits (244 random bits from two v4 UUIDs,
/// which come from the operating system's generator).
pub fn new_token() -> String {
    format!(
        "tympan_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// Middleware on the control routes: 401 with a `WWW-Authenticate: Bearer` header unless the
/// request carries one of the server's tokens.
pub async fn require_token(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if state.tokens.allows(given) {
        return next.run(req).await;
    }
    let why = if given.is_none() {
        "missing `Authorization: Bearer <token>`"
    } else {
        "wrong token"
    };
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(json!({"error": why})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_compared_exactly() {
        let t = Tokens::new([
            "a-long-enough-token".to_string(),
            "second-token-xyz0".into(),
        ]);
        assert!(t.allows(Some(b"Bearer a-long-enough-token")));
        assert!(t.allows(Some(b"bearer second-token-xyz0")));
        assert!(!t.allows(Some(b"Bearer a-long-enough-toke")));
        assert!(!t.allows(Some(b"Bearer a-long-enough-tokenX")));
        assert!(!t.allows(Some(b"Basic a-long-enough-token")));
        assert!(!t.allows(Some(b"a-long-enough-token")));
        assert!(!t.allows(None));
        assert!(!Tokens::default().allows(Some(b"Bearer ")));
    }

    #[test]
    fn token_file_is_created_once_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("tympan-auth-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (t1, src) = resolve_tokens(&[], None, &dir).unwrap();
        let path = dir.join(TOKEN_FILE);
        assert_eq!(src, TokenSource::Created(path.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{mode:o}");
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let bearer = format!("Bearer {}", text.trim());
        assert!(t1.allows(Some(bearer.as_bytes())));
        // Second start: same token, read back.
        let (t2, src) = resolve_tokens(&[], None, &dir).unwrap();
        assert_eq!(src, TokenSource::File(path));
        assert!(t2.allows(Some(bearer.as_bytes())));
        // Configured tokens win and no file is consulted.
        let (t3, src) = resolve_tokens(&[], Some("from-the-environment"), &dir).unwrap();
        assert_eq!(src, TokenSource::Configured);
        assert!(!t3.allows(Some(bearer.as_bytes())));
        assert!(t3.allows(Some(b"Bearer from-the-environment")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn weak_tokens_are_refused_by_source() {
        let e = resolve_tokens(&["short".into()], None, Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("api_tokens[0]"), "{e}");
        let e = resolve_tokens(&[], Some("tiny"), Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(TOKEN_ENV), "{e}");
    }
}
