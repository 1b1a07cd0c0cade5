//! HTTP Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760):
//! MD5 and SHA-256 (and their `-sess` variants), `qop=auth` with `nc`/`cnonce`.
//!
//! Client side: [`select_challenge`] picks the strongest challenge of a 401/407
//! (SHA-256 over MD5) and [`authorize`] computes the `Authorization` /
//! `Proxy-Authorization` value. Server side: [`DigestServer`] issues challenges with
//! expiring nonces and verifies responses against configured credentials, with a
//! constant-time comparison and replay protection by nonce count.

use std::collections::HashMap;
use std::fmt;

use md5::Md5;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::dialog::Random;

/// How long a nonce we issue stays valid by default (ms).
pub const NONCE_LIFETIME_MS: u64 = 300_000;
/// Most nonces a [`DigestServer`] remembers; past it the ones expiring first are dropped.
pub const MAX_NONCES: usize = 10_000;
/// Longest header value [`Challenge::parse`] and [`Authorization::parse`] accept (bytes).
pub const MAX_HEADER_LEN: usize = 4_096;

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5` (also what an absent `algorithm` means).
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256` (RFC 8760).
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

impl Algorithm {
    /// Parses an `algorithm` value (case-insensitive).
    pub fn from_token(t: &str) -> Option<Algorithm> {
        match t.to_ascii_uppercase().as_str() {
            "MD5" => Some(Algorithm::Md5),
            "MD5-SESS" => Some(Algorithm::Md5Sess),
            "SHA-256" => Some(Algorithm::Sha256),
            "SHA-256-SESS" => Some(Algorithm::Sha256Sess),
            _ => None,
        }
    }

    /// The token as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// Preference when several challenges are offered (higher is better).
    fn strength(self) -> u8 {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => 1,
            Algorithm::Sha256 | Algorithm::Sha256Sess => 2,
        }
    }

    /// Lower-case hex digest of `data`.
    pub fn hash_hex(self, data: &str) -> String {
        let bytes: Vec<u8> = match self {
            Algorithm::Md5 | Algorithm::Md5Sess => Md5::digest(data.as_bytes()).to_vec(),
            Algorithm::Sha256 | Algorithm::Sha256Sess => Sha256::digest(data.as_bytes()).to_vec(),
        };
        let mut s = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a digest header could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DigestError {
    /// The value does not follow the `Digest name=value, ...` syntax.
    #[error("digest header: {reason} at byte {offset}")]
    Syntax {
        /// Byte offset into the header value.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// The scheme is not `Digest`.
    #[error("digest header: scheme {0:?} is not Digest")]
    NotDigest(String),
    /// A required parameter is missing.
    #[error("digest header: parameter {0} is missing")]
    Missing(&'static str),
    /// A parameter has a value we cannot use.
    #[error("digest header: parameter {name} has bad value {value:?}")]
    BadValue {
        /// Parameter name.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// The algorithm is not one we implement.
    #[error("digest header: algorithm {0:?} is not supported (MD5, SHA-256 and -sess are)")]
    UnsupportedAlgorithm(String),
    /// The challenge offers only qop values we do not implement (e.g. `auth-int`).
    #[error("digest header: qop {0:?} offers no `auth`")]
    UnsupportedQop(Vec<String>),
    /// No usable Digest challenge in the response.
    #[error("no usable Digest challenge: {0}")]
    NoChallenge(String),
}

/// Splits `Digest k=v, k="v", ...` into the scheme and its parameters (names lower-cased,
/// values unquoted).
fn parse_params(value: &str) -> Result<(String, Vec<(String, String)>), DigestError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(DigestError::Syntax {
            offset: MAX_HEADER_LEN,
            reason: format!("value longer than {MAX_HEADER_LEN} bytes"),
        });
    }
    let b = value.as_bytes();
    let mut i = 0;
    let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && ws(b[*i]) {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    let start = i;
    while i < b.len() && !ws(b[i]) {
        i += 1;
    }
    let scheme = value[start..i].to_string();
    if scheme.is_empty() {
        return Err(DigestError::Syntax {
            offset: i,
            reason: "no auth scheme".into(),
        });
    }
    let mut params = Vec::new();
    loop {
        skip_ws(&mut i);
        while i < b.len() && (b[i] == b',' || ws(b[i])) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let ns = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' && !ws(b[i]) {
            i += 1;
        }
        let name = value[ns..i].to_ascii_lowercase();
        skip_ws(&mut i);
        if i >= b.len() || b[i] != b'=' {
            return Err(DigestError::Syntax {
                offset: i,
                reason: format!("parameter {name:?} has no '='"),
            });
        }
        i += 1;
        skip_ws(&mut i);
        let v = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut s = String::new();
            loop {
                match b.get(i) {
                    None => {
                        return Err(DigestError::Syntax {
                            offset: i,
                            reason: format!("unterminated quoted value of {name:?}"),
                        })
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') if i + 1 < b.len() => {
                        let c = value[i + 1..].chars().next().expect("in bounds");
                        s.push(c);
                        i += 1 + c.len_utf8();
                    }
                    Some(_) => {
                        let c = value[i..].chars().next().expect("in bounds");
                        s.push(c);
                        i += c.len_utf8();
                    }
                }
            }
            s
        } else {
            let vs = i;
            while i < b.len() && b[i] != b',' && !ws(b[i]) {
                i += 1;
            }
            value[vs..i].to_string()
        };
        skip_ws(&mut i);
        if i < b.len() && b[i] != b',' {
            return Err(DigestError::Syntax {
                offset: i,
                reason: format!("expected ',' after parameter {name:?}"),
            });
        }
        params.push((name, v));
    }
    Ok((scheme, params))
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A `WWW-Authenticate` / `Proxy-Authenticate` Digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Protection space.
    pub realm: String,
    /// Server nonce.
    pub nonce: String,
    /// Opaque value to echo.
    pub opaque: Option<String>,
    /// Algorithm (MD5 when absent).
    pub algorithm: Algorithm,
    /// Offered qop values (empty: RFC 2069 compatibility, no qop).
    pub qop: Vec<String>,
    /// The previous nonce was stale: retry with the new one without asking the user.
    pub stale: bool,
}

impl Challenge {
    /// Parses a challenge header value.
    pub fn parse(value: &str) -> Result<Challenge, DigestError> {
        let (scheme, p) = parse_params(value)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(DigestError::NotDigest(scheme));
        }
        let algorithm = match get(&p, "algorithm") {
            None => Algorithm::Md5,
            Some(a) => Algorithm::from_token(a)
                .ok_or_else(|| DigestError::UnsupportedAlgorithm(a.to_string()))?,
        };
        Ok(Challenge {
            realm: get(&p, "realm")
                .ok_or(DigestError::Missing("realm"))?
                .into(),
            nonce: get(&p, "nonce")
                .ok_or(DigestError::Missing("nonce"))?
                .into(),
            opaque: get(&p, "opaque").map(str::to_string),
            algorithm,
            qop: get(&p, "qop")
                .map(|q| {
                    q.split(',')
                        .map(|s| s.trim().to_ascii_lowercase())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            stale: get(&p, "stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest realm={}, nonce={}, algorithm={}",
            quote(&self.realm),
            quote(&self.nonce),
            self.algorithm
        )?;
        if !self.qop.is_empty() {
            write!(f, ", qop={}", quote(&self.qop.join(",")))?;
        }
        if let Some(o) = &self.opaque {
            write!(f, ", opaque={}", quote(o))?;
        }
        if self.stale {
            f.write_str(", stale=true")?;
        }
        Ok(())
    }
}

/// Picks the challenge to answer among a response's `WWW-Authenticate` or
/// `Proxy-Authenticate` values: SHA-256 when offered, else MD5; values we cannot use
/// (other schemes, unknown algorithms, `auth-int` only) are skipped.
pub fn select_challenge<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> Result<Challenge, DigestError> {
    let mut best: Option<Challenge> = None;
    let mut last_err = None;
    for v in values {
        match Challenge::parse(v) {
            Ok(c) if !c.qop.is_empty() && !c.qop.iter().any(|q| q == "auth") => {
                last_err = Some(DigestError::UnsupportedQop(c.qop));
            }
            Ok(c) => {
                if best
                    .as_ref()
                    .is_none_or(|b| c.algorithm.strength() > b.algorithm.strength())
                {
                    best = Some(c);
                }
            }
            Err(e) => last_err = Some(e),
        }
    }
    best.ok_or_else(|| {
        DigestError::NoChallenge(
            last_err.map_or_else(|| "no challenge header".to_string(), |e| e.to_string()),
        )
    })
}

/// A user name and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// An `Authorization` / `Proxy-Authorization` Digest value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// User name.
    pub username: String,
    /// Realm answered.
    pub realm: String,
    /// Nonce answered.
    pub nonce: String,
    /// The digest-uri (the Request-URI).
    pub uri: String,
    /// The hex response.
    pub response: String,
    /// Algorithm.
    pub algorithm: Algorithm,
    /// Client nonce (with qop).
    pub cnonce: Option<String>,
    /// Nonce count (with qop).
    pub nc: Option<u32>,
    /// `auth`, or `None` for RFC 2069 compatibility.
    pub qop: Option<String>,
    /// Opaque echoed.
    pub opaque: Option<String>,
}

impl Authorization {
    /// Parses an Authorization header value.
    pub fn parse(value: &str) -> Result<Authorization, DigestError> {
        let (scheme, p) = parse_params(value)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(DigestError::NotDigest(scheme));
        }
        let req = |n: &'static str| {
            get(&p, n)
                .map(str::to_string)
                .ok_or(DigestError::Missing(n))
        };
        let algorithm = match get(&p, "algorithm") {
            None => Algorithm::Md5,
            Some(a) => Algorithm::from_token(a)
                .ok_or_else(|| DigestError::UnsupportedAlgorithm(a.to_string()))?,
        };
        let nc = match get(&p, "nc") {
            None => None,
            Some(v) => Some(
                u32::from_str_radix(v, 16)
                    .ok()
                    .filter(|_| v.len() == 8)
                    .ok_or(DigestError::BadValue {
                        name: "nc",
                        value: v.to_string(),
                    })?,
            ),
        };
        Ok(Authorization {
            username: req("username")?,
            realm: req("realm")?,
            nonce: req("nonce")?,
            uri: req("uri")?,
            response: req("response")?,
            algorithm,
            cnonce: get(&p, "cnonce").map(str::to_string),
            nc,
            qop: get(&p, "qop").map(str::to_string),
            opaque: get(&p, "opaque").map(str::to_string),
        })
    }
}

impl fmt::Display for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest username={}, realm={}, uri={}, algorithm={}, nonce={}",
            quote(&self.username),
            quote(&self.realm),
            quote(&self.uri),
            self.algorithm,
            quote(&self.nonce)
        )?;
        if let (Some(qop), Some(nc), Some(cnonce)) = (&self.qop, self.nc, &self.cnonce) {
            write!(f, ", nc={nc:08x}, cnonce={}, qop={qop}", quote(cnonce))?;
        }
        write!(f, ", response={}", quote(&self.response))?;
        if let Some(o) = &self.opaque {
            write!(f, ", opaque={}", quote(o))?;
        }
        Ok(())
    }
}

/// The request-digest of RFC 7616 §3.4.1 (RFC 2069 form when `qop` is `None`).
/// `qop` is `(nc, cnonce)` for `qop=auth`.
#[allow(clippy::too_many_arguments)]
pub fn compute_response(
    algorithm: Algorithm,
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<(u32, &str)>,
) -> String {
    let h = |s: &str| algorithm.hash_hex(s);
    let mut ha1 = h(&format!("{username}:{realm}:{password}"));
    if algorithm.is_sess() {
        let cnonce = qop.map_or("", |(_, c)| c);
        ha1 = h(&format!("{ha1}:{nonce}:{cnonce}"));
    }
    let ha2 = h(&format!("{method}:{uri}"));
    match qop {
        Some((nc, cnonce)) => h(&format!("{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}")),
        None => h(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// Answers `challenge` for a request of `method` to `uri`: `qop=auth` with nonce count
/// `nc` and client nonce `cnonce` when the challenge offers qop, RFC 2069 form otherwise.
pub fn authorize(
    challenge: &Challenge,
    credentials: &Credentials,
    method: &str,
    uri: &str,
    nc: u32,
    cnonce: &str,
) -> Result<Authorization, DigestError> {
    let use_qop = if challenge.qop.is_empty() {
        false
    } else if challenge.qop.iter().any(|q| q == "auth") {
        true
    } else {
        return Err(DigestError::UnsupportedQop(challenge.qop.clone()));
    };
    let qop = use_qop.then_some((nc, cnonce));
    Ok(Authorization {
        username: credentials.username.clone(),
        realm: challenge.realm.clone(),
        nonce: challenge.nonce.clone(),
        uri: uri.to_string(),
        response: compute_response(
            challenge.algorithm,
            &credentials.username,
            &challenge.realm,
            &credentials.password,
            method,
            uri,
            &challenge.nonce,
            qop,
        ),
        algorithm: challenge.algorithm,
        cnonce: use_qop.then(|| cnonce.to_string()),
        nc: use_qop.then_some(nc),
        qop: use_qop.then(|| "auth".to_string()),
        opaque: challenge.opaque.clone(),
    })
}

/// Equality of two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Why [`DigestServer::verify`] refused a response.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Rejection {
    /// The Authorization value does not parse.
    #[error("{0}")]
    Malformed(DigestError),
    /// Realm other than ours.
    #[error("realm {0:?} is not ours")]
    WrongRealm(String),
    /// No such user.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// The digest-uri is not the Request-URI.
    #[error("digest uri {got:?} is not the Request-URI {expected:?}")]
    UriMismatch {
        /// In the header.
        got: String,
        /// The request's.
        expected: String,
    },
    /// We issued `qop=auth`; the response must use it with nc and cnonce.
    #[error("response lacks qop=auth with nc and cnonce")]
    MissingQop,
    /// The response does not match the password.
    #[error("wrong response for user {0:?}")]
    BadResponse(String),
    /// The nonce count did not increase: a replayed request.
    #[error("nonce count {nc:08x} replayed (last accepted {last:08x})")]
    Replay {
        /// Count received.
        nc: u32,
        /// Highest accepted before.
        last: u32,
    },
}

/// Outcome of [`DigestServer::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated as `username`.
    Accepted {
        /// The user.
        username: String,
    },
    /// The password is right but the nonce expired or is unknown: challenge again with
    /// `stale=true`.
    Stale,
    /// Refused: challenge again (stale=false) or answer 403.
    Rejected(Rejection),
}

#[derive(Debug, Clone)]
struct NonceState {
    expires_ms: u64,
    highest_nc: u32,
}

/// The server side: a realm, its users, and the nonces it issued.
#[derive(Debug, Clone)]
pub struct DigestServer {
    realm: String,
    users: HashMap<String, String>,
    nonces: HashMap<String, NonceState>,
    lifetime_ms: u64,
    algorithms: Vec<Algorithm>,
}

impl DigestServer {
    /// A server for `realm` offering SHA-256 then MD5, nonces valid [`NONCE_LIFETIME_MS`].
    pub fn new(realm: impl Into<String>) -> Self {
        DigestServer {
            realm: realm.into(),
            users: HashMap::new(),
            nonces: HashMap::new(),
            lifetime_ms: NONCE_LIFETIME_MS,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
        }
    }

    /// Sets the nonce lifetime.
    pub fn with_nonce_lifetime_ms(mut self, ms: u64) -> Self {
        self.lifetime_ms = ms;
        self
    }

    /// Sets the algorithms offered, one challenge each, in order.
    pub fn with_algorithms(mut self, algorithms: Vec<Algorithm>) -> Self {
        self.algorithms = algorithms;
        self
    }

    /// Adds (or replaces) a user.
    pub fn add_user(&mut self, username: impl Into<String>, password: impl Into<String>) {
        self.users.insert(username.into(), password.into());
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Number of nonces remembered.
    pub fn nonce_count(&self) -> usize {
        self.nonces.len()
    }

    /// Issues a fresh nonce valid until `now_ms + lifetime` and returns one challenge per
    /// algorithm (put each in its own `WWW-Authenticate`/`Proxy-Authenticate` header).
    pub fn challenge(&mut self, rng: &mut dyn Random, now_ms: u64, stale: bool) -> Vec<Challenge> {
        self.nonces.retain(|_, s| s.expires_ms > now_ms);
        while self.nonces.len() >= MAX_NONCES {
            let oldest = self
                .nonces
                .iter()
                .min_by_key(|(_, s)| s.expires_ms)
                .map(|(k, _)| k.clone())
                .expect("non-empty");
            self.nonces.remove(&oldest);
        }
        let nonce = rng.hex(32);
        self.nonces.insert(
            nonce.clone(),
            NonceState {
                expires_ms: now_ms + self.lifetime_ms,
                highest_nc: 0,
            },
        );
        self.algorithms
            .iter()
            .map(|&algorithm| Challenge {
                realm: self.realm.clone(),
                nonce: nonce.clone(),
                opaque: None,
                algorithm,
                qop: vec!["auth".to_string()],
                stale,
            })
            .collect()
    }

    /// Verifies an `Authorization` value for a request of `method` to `request_uri`.
    pub fn verify(&mut self, value: &str, method: &str, request_uri: &str, now_ms: u64) -> Verdict {
        let a = match Authorization::parse(value) {
            Ok(a) => a,
            Err(e) => return Verdict::Rejected(Rejection::Malformed(e)),
        };
        if a.realm != self.realm {
            return Verdict::Rejected(Rejection::WrongRealm(a.realm));
        }
        if a.uri != request_uri {
            return Verdict::Rejected(Rejection::UriMismatch {
                got: a.uri,
                expected: request_uri.to_string(),
            });
        }
        let (Some(nc), Some(cnonce), Some("auth")) = (a.nc, a.cnonce.as_deref(), a.qop.as_deref())
        else {
            return Verdict::Rejected(Rejection::MissingQop);
        };
        let Some(password) = self.users.get(&a.username) else {
            return Verdict::Rejected(Rejection::UnknownUser(a.username));
        };
        let expected = compute_response(
            a.algorithm,
            &a.username,
            &self.realm,
            password,
            method,
            &a.uri,
            &a.nonce,
            Some((nc, cnonce)),
        );
        if !constant_time_eq(
            expected.as_bytes(),
            a.response.to_ascii_lowercase().as_bytes(),
        ) {
            return Verdict::Rejected(Rejection::BadResponse(a.username));
        }
        match self.nonces.get_mut(&a.nonce) {
            Some(s) if s.expires_ms > now_ms => {
                if nc <= s.highest_nc {
                    return Verdict::Rejected(Rejection::Replay {
                        nc,
                        last: s.highest_nc,
                    });
                }
                s.highest_nc = nc;
                Verdict::Accepted {
                    username: a.username,
                }
            }
            _ => {
                self.nonces.remove(&a.nonce);
                Verdict::Stale
            }
        }
    }
}
