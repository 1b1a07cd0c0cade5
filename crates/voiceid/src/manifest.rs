//! Batch job input manifests, exactly as Amazon Connect Voice ID reads them (SEEDS.md §2).
//!
//! A speaker enrollment job reads
//! `{"Version":"1.0","SpeakerEnrollmentRequests":[{"RequestId","SpeakerId","AudioSpecifications":[{"S3Uri","ChannelId"}]}]}`,
//! a fraudster registration job the same with `FraudsterRegistrationRequests` and no
//! `SpeakerId`. Parsing has two levels, as a job needs:
//!
//! - **Manifest errors** ([`ManifestError`]) make the whole job FAILED: the bytes are not JSON
//!   (the byte offset is named), the top level is not the expected object, `Version` is not
//!   `1.0`, there are no requests or more than the job allows, a request has no usable
//!   `RequestId` or two requests share one (the output file could not tell them apart).
//! - **Request errors** ([`RequestRejection`]) fail one request with Voice ID's error code
//!   (400 malformed, 402 limit) while the others run: a bad `SpeakerId`, no audio, more than
//!   [`MAX_FILES_PER_REQUEST`] files, a bad URI or `ChannelId`, an unknown key.
//!
//! Every message names the request index, its `RequestId` and the field. Audio URIs are plain
//! paths, `file://` URIs or `s3://bucket/key`, parsed into [`AudioUri`]; nothing is fetched
//! here. [`check_audio`] applies the per-file limits once the shell has read a file's header.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;

/// The only manifest `Version` Voice ID defined.
pub const MANIFEST_VERSION: &str = "1.0";
/// At most this many audio files per request (Voice ID's limit; more is a 402).
pub const MAX_FILES_PER_REQUEST: usize = 10;
/// At most this many bytes per audio file: 20 MB (Voice ID's limit; more is a 402).
pub const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;
/// Speaker enrollment requests per job: Voice ID's quota of 10,000 speakers per enrollment job.
pub const MAX_ENROLLMENT_REQUESTS: usize = 10_000;
/// Fraudster registration requests per job: a watchlist holds at most 500 fraudsters, so a
/// job can never register more.
pub const MAX_REGISTRATION_REQUESTS: usize = 500;
/// Longest `RequestId` accepted, in bytes.
pub const MAX_REQUEST_ID_LEN: usize = 256;
/// Longest `SpeakerId` (customer speaker id) accepted, in bytes (Voice ID's 256).
pub const MAX_SPEAKER_ID_LEN: usize = 256;
/// Longest S3 object key, in bytes (S3's limit).
pub const MAX_S3_KEY_LEN: usize = 1024;
/// Largest manifest accepted, in bytes (64 MiB: 10,000 requests of 10 long URIs fit easily).
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024 * 1024;
/// The sample rate Voice ID expects; other rates are resampled with a warning.
pub const EXPECTED_SAMPLE_RATE: u32 = 8_000;
/// The sample width Voice ID expects (PCM-16); other encodings are converted with a warning.
pub const EXPECTED_BITS_PER_SAMPLE: u16 = 16;
/// Channels an audio file may have (`ChannelId` 0 or 1).
pub const MAX_CHANNELS: u16 = 2;
/// Voice ID's error code for a malformed request or file, not enough speech, a failed fraud
/// check.
pub const ERROR_BAD_REQUEST: u16 = 400;
/// Voice ID's error code for a limit exceeded (files per request, file size, quotas).
pub const ERROR_LIMIT: u16 = 402;
/// Voice ID's error code for a conflict (the speaker opted out).
pub const ERROR_CONFLICT: u16 = 409;
/// Voice ID's error code for an internal failure.
pub const ERROR_INTERNAL: u16 = 500;

/// Which of the two batch jobs a manifest feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ManifestKind {
    /// `SpeakerEnrollmentRequests`.
    SpeakerEnrollment,
    /// `FraudsterRegistrationRequests`.
    FraudsterRegistration,
}

impl ManifestKind {
    /// The top-level key holding the requests.
    pub fn requests_key(self) -> &'static str {
        match self {
            ManifestKind::SpeakerEnrollment => "SpeakerEnrollmentRequests",
            ManifestKind::FraudsterRegistration => "FraudsterRegistrationRequests",
        }
    }

    /// Requests one job may hold.
    pub fn max_requests(self) -> usize {
        match self {
            ManifestKind::SpeakerEnrollment => MAX_ENROLLMENT_REQUESTS,
            ManifestKind::FraudsterRegistration => MAX_REGISTRATION_REQUESTS,
        }
    }

    fn other(self) -> ManifestKind {
        match self {
            ManifestKind::SpeakerEnrollment => ManifestKind::FraudsterRegistration,
            ManifestKind::FraudsterRegistration => ManifestKind::SpeakerEnrollment,
        }
    }

    fn job_name(self) -> &'static str {
        match self {
            ManifestKind::SpeakerEnrollment => "speaker enrollment job",
            ManifestKind::FraudsterRegistration => "fraudster registration job",
        }
    }
}

/// Where an audio file is. Plain paths and `file://` URIs are local; `s3://` is an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AudioUri {
    /// A plain path, as written (relative paths are the shell's to resolve).
    Path(String),
    /// A `file://` URI, percent-decoded to a local absolute path.
    File(String),
    /// `s3://bucket/key`.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Object key (not percent-decoded: S3 keys are written raw in Voice ID manifests).
        key: String,
    },
}

impl AudioUri {
    /// Parses a URI as written in a manifest's `S3Uri` field. Errors say what is wrong.
    pub fn parse(s: &str) -> Result<AudioUri, String> {
        if s.is_empty() {
            return Err("empty URI".into());
        }
        if s.chars().any(char::is_control) {
            return Err("URI contains a control character".into());
        }
        if let Some(rest) = strip_scheme(s, "s3") {
            return parse_s3(rest);
        }
        if let Some(rest) = strip_scheme(s, "file") {
            return parse_file(rest);
        }
        if let Some(colon) = s.find("://") {
            let scheme = &s[..colon];
            if !scheme.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            {
                return Err(format!(
                    "unsupported scheme {scheme:?}: use a path, file:// or s3://"
                ));
            }
        }
        Ok(AudioUri::Path(s.to_string()))
    }

    /// Parses a directory URI (a job's `OutputDataConfig.S3Uri`): as [`AudioUri::parse`], but
    /// an S3 URI may name a bucket alone (`s3://bucket`, `s3://bucket/`; the key is empty).
    pub fn parse_dir(s: &str) -> Result<AudioUri, String> {
        if let Some(rest) = strip_scheme(s, "s3") {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            check_bucket(bucket)?;
            if key.len() > MAX_S3_KEY_LEN {
                return Err(format!(
                    "s3 object key is {} bytes, at most {MAX_S3_KEY_LEN} allowed",
                    key.len()
                ));
            }
            return Ok(AudioUri::S3 {
                bucket: bucket.to_string(),
                key: key.to_string(),
            });
        }
        AudioUri::parse(s)
    }

    /// The local path, for plain paths and `file://` URIs.
    pub fn local_path(&self) -> Option<&str> {
        match self {
            AudioUri::Path(p) | AudioUri::File(p) => Some(p),
            AudioUri::S3 { .. } => None,
        }
    }

    /// The last path segment (the file name), used to name a job's output file.
    pub fn file_name(&self) -> &str {
        let full = match self {
            AudioUri::Path(p) | AudioUri::File(p) => p.as_str(),
            AudioUri::S3 { key, .. } => key.as_str(),
        };
        let trimmed = full.trim_end_matches(['/', '\\']);
        trimmed.rsplit(['/', '\\']).next().unwrap_or(trimmed)
    }
}

impl fmt::Display for AudioUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AudioUri::Path(p) => f.write_str(p),
            AudioUri::File(p) => write!(f, "file://{p}"),
            AudioUri::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

fn strip_scheme<'a>(s: &'a str, scheme: &str) -> Option<&'a str> {
    let n = scheme.len();
    if s.len() >= n + 3 && s[..n].eq_ignore_ascii_case(scheme) && &s[n..n + 3] == "://" {
        Some(&s[n + 3..])
    } else {
        None
    }
}

fn parse_s3(rest: &str) -> Result<AudioUri, String> {
    let Some((bucket, key)) = rest.split_once('/') else {
        return Err("s3 URI has no object key: expected s3://bucket/key".into());
    };
    check_bucket(bucket)?;
    if key.is_empty() {
        return Err("s3 URI has an empty object key: expected s3://bucket/key".into());
    }
    if key.len() > MAX_S3_KEY_LEN {
        return Err(format!(
            "s3 object key is {} bytes, at most {MAX_S3_KEY_LEN} allowed",
            key.len()
        ));
    }
    Ok(AudioUri::S3 {
        bucket: bucket.to_string(),
        key: key.to_string(),
    })
}

/// S3's bucket naming rules: 3–63 characters, lowercase letters, digits, dots and hyphens,
/// starting and ending with a letter or digit.
fn check_bucket(b: &str) -> Result<(), String> {
    if b.is_empty() {
        return Err("s3 URI has an empty bucket name".into());
    }
    if !(3..=63).contains(&b.len()) {
        return Err(format!(
            "s3 bucket {b:?} is {} characters, 3 to 63 allowed",
            b.len()
        ));
    }
    if let Some((i, c)) = b
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-'))
    {
        return Err(format!(
            "s3 bucket {b:?}: character {c:?} at {i} not allowed (lowercase letters, digits, '.', '-')"
        ));
    }
    let edge_ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !b.starts_with(edge_ok) || !b.ends_with(edge_ok) {
        return Err(format!(
            "s3 bucket {b:?} must start and end with a letter or digit"
        ));
    }
    Ok(())
}

fn parse_file(rest: &str) -> Result<AudioUri, String> {
    // RFC 8089: file://host/path; an empty host or "localhost" means this machine.
    let path = if rest.starts_with('/') {
        rest
    } else if rest.len() >= 9 && rest[..9].eq_ignore_ascii_case("localhost") {
        &rest[9..]
    } else {
        let host = rest.split('/').next().unwrap_or(rest);
        return Err(format!(
            "file URI names host {host:?}: only file:///path or file://localhost/path are local"
        ));
    };
    if !path.starts_with('/') {
        return Err("file URI has no path: expected file:///path/to/file.wav".into());
    }
    let decoded = percent_decode(path)?;
    if decoded.len() <= 1 {
        return Err("file URI names the root directory, not a file".into());
    }
    Ok(AudioUri::File(decoded))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .ok_or_else(|| format!("file URI: truncated percent escape at character {i}"))?;
            let hi = (hex[0] as char).to_digit(16);
            let lo = (hex[1] as char).to_digit(16);
            match (hi, lo) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => return Err(format!("file URI: bad percent escape at character {i}")),
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).map_err(|e| {
        format!(
            "file URI: percent escapes decode to invalid UTF-8 at byte {}",
            e.utf8_error().valid_up_to()
        )
    })?;
    if s.contains('\0') {
        return Err("file URI: decodes to a path containing NUL".into());
    }
    Ok(s)
}

/// One audio file of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioSpec {
    /// Where the file is (`S3Uri`).
    pub uri: AudioUri,
    /// Which channel to use (`ChannelId`, 0 or 1; 0 when absent).
    pub channel: u8,
}

/// A valid speaker enrollment request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentRequest {
    /// `RequestId`.
    pub request_id: String,
    /// `SpeakerId`: the customer's id for the speaker (or a generated `id#…` id).
    pub speaker_id: String,
    /// `AudioSpecifications`, 1 to [`MAX_FILES_PER_REQUEST`].
    pub audio: Vec<AudioSpec>,
}

/// A valid fraudster registration request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationRequest {
    /// `RequestId`.
    pub request_id: String,
    /// `AudioSpecifications`, 1 to [`MAX_FILES_PER_REQUEST`].
    pub audio: Vec<AudioSpec>,
}

/// A request the manifest check refused: it fails alone with a Voice ID error code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRejection {
    /// 400 (malformed) or 402 (a limit).
    pub code: u16,
    /// Every problem found, each naming the field.
    pub problems: Vec<String>,
}

impl RequestRejection {
    /// The `ErrorMessage` for the output file: the problems joined.
    pub fn message(&self) -> String {
        self.problems.join("; ")
    }
}

/// One request of a manifest, in manifest order: valid, or refused with the reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry<R> {
    /// Index in the manifest's request array (0-based).
    pub index: usize,
    /// `RequestId` (always present and unique: a manifest without is a [`ManifestError`]).
    pub request_id: String,
    /// The request, or why it cannot run.
    pub request: Result<R, RequestRejection>,
}

/// A parsed, checked manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest<R> {
    /// `Version` (always [`MANIFEST_VERSION`]).
    pub version: String,
    /// The requests in manifest order.
    pub entries: Vec<Entry<R>>,
}

/// A speaker enrollment job's manifest.
pub type EnrollmentManifest = Manifest<EnrollmentRequest>;
/// A fraudster registration job's manifest.
pub type RegistrationManifest = Manifest<RegistrationRequest>;

impl<R> Manifest<R> {
    /// The refused requests.
    pub fn rejected(&self) -> impl Iterator<Item = (&Entry<R>, &RequestRejection)> {
        self.entries
            .iter()
            .filter_map(|e| e.request.as_ref().err().map(|r| (e, r)))
    }

    /// The manifest, only if every request is valid; else the first refusal as an error.
    pub fn into_strict(self) -> Result<Manifest<R>, ManifestError> {
        if let Some((e, r)) = self.rejected().next() {
            return Err(ManifestError::Request {
                index: e.index,
                request_id: e.request_id.clone(),
                why: r.message(),
            });
        }
        Ok(self)
    }
}

/// Why a manifest cannot run at all (the job is FAILED).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON, or not UTF-8.
    #[error("manifest is not valid JSON at byte {offset} (line {line}, column {column}): {why}")]
    Syntax {
        /// Byte offset of the error in the manifest.
        offset: usize,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        why: String,
    },
    /// Larger than [`MAX_MANIFEST_BYTES`].
    #[error("manifest is {size} bytes, at most {max} allowed")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A top-level field is missing, mistyped or wrong; names it.
    #[error("manifest field {field}: {why}")]
    Field {
        /// The top-level field.
        field: &'static str,
        /// What is wrong.
        why: String,
    },
    /// A request cannot be told apart from the others (no `RequestId`, or a duplicate).
    #[error("manifest request {index} (RequestId {request_id:?}): {why}")]
    Request {
        /// Index in the request array.
        index: usize,
        /// Its `RequestId`, as far as it could be read (empty if none).
        request_id: String,
        /// What is wrong, naming the field.
        why: String,
    },
}

/// Parses and checks a speaker enrollment job's manifest.
pub fn parse_enrollment_manifest(bytes: &[u8]) -> Result<EnrollmentManifest, ManifestError> {
    parse(
        bytes,
        ManifestKind::SpeakerEnrollment,
        |obj, problems, limit| {
            let speaker_id = match obj.get("SpeakerId") {
                None => {
                    problems.push("SpeakerId: missing".into());
                    None
                }
                Some(v) => match check_speaker_id(v) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        problems.push(format!("SpeakerId: {e}"));
                        None
                    }
                },
            };
            let audio = audio_specs(obj, problems, limit);
            check_keys(
                obj,
                &["RequestId", "SpeakerId", "AudioSpecifications"],
                problems,
            );
            match (speaker_id, audio) {
                (Some(speaker_id), Some(audio)) if problems.is_empty() => Some(EnrollmentRequest {
                    request_id: String::new(),
                    speaker_id,
                    audio,
                }),
                _ => None,
            }
        },
    )
    .map(|m| fill_ids(m, |r, id| r.request_id = id))
}

/// Parses and checks a fraudster registration job's manifest.
pub fn parse_registration_manifest(bytes: &[u8]) -> Result<RegistrationManifest, ManifestError> {
    parse(
        bytes,
        ManifestKind::FraudsterRegistration,
        |obj, problems, limit| {
            let audio = audio_specs(obj, problems, limit);
            if obj.contains_key("SpeakerId") {
                problems.push(
                    "SpeakerId: not allowed in a fraudster registration request (fraudsters get a generated id)"
                        .into(),
                );
            }
            check_keys(obj, &["RequestId", "AudioSpecifications", "SpeakerId"], problems);
            match audio {
                Some(audio) if problems.is_empty() => Some(RegistrationRequest {
                    request_id: String::new(),
                    audio,
                }),
                _ => None,
            }
        },
    )
    .map(|m| fill_ids(m, |r, id| r.request_id = id))
}

fn fill_ids<R>(mut m: Manifest<R>, set: impl Fn(&mut R, String)) -> Manifest<R> {
    for e in &mut m.entries {
        if let Ok(r) = &mut e.request {
            set(r, e.request_id.clone());
        }
    }
    m
}

/// Converts serde_json's 1-based line and column (bytes into the line) to a byte offset.
fn byte_offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match bytes[start..].iter().position(|&b| b == b'\n') {
            Some(p) => start += p + 1,
            None => break,
        }
    }
    (start + column.saturating_sub(1)).min(bytes.len())
}

type Validate<R> = fn(&Map<String, Value>, &mut Vec<String>, &mut bool) -> Option<R>;

fn parse<R>(
    bytes: &[u8],
    kind: ManifestKind,
    validate: Validate<R>,
) -> Result<Manifest<R>, ManifestError> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge {
            size: bytes.len(),
            max: MAX_MANIFEST_BYTES,
        });
    }
    // A UTF-8 byte order mark (Windows editors write one) is skipped; offsets count it.
    let bom = if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        3
    } else {
        0
    };
    let body = &bytes[bom..];
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        // serde_json points at the last byte it read; at end of input, the end is the place.
        let offset = if e.is_eof() {
            bytes.len()
        } else {
            bom + byte_offset(body, e.line(), e.column())
        };
        ManifestError::Syntax {
            offset,
            line: e.line(),
            column: e.column() + usize::from(e.line() == 1) * bom,
            why: e.to_string(),
        }
    })?;
    let Value::Object(top) = value else {
        return Err(ManifestError::Field {
            field: "(top level)",
            why: format!("expected a JSON object, found {}", type_name(&value)),
        });
    };
    let version = match top.get("Version") {
        None => {
            return Err(ManifestError::Field {
                field: "Version",
                why: format!("missing (expected \"{MANIFEST_VERSION}\")"),
            })
        }
        Some(Value::String(s)) if s == MANIFEST_VERSION => s.clone(),
        Some(v) => {
            return Err(ManifestError::Field {
                field: "Version",
                why: format!("expected \"{MANIFEST_VERSION}\", found {v}"),
            })
        }
    };
    let key = kind.requests_key();
    let Some(requests) = top.get(key) else {
        let other = kind.other();
        let why = if top.contains_key(other.requests_key()) {
            format!(
                "missing: this is a {} manifest ({}), not a {} manifest",
                other.job_name(),
                other.requests_key(),
                kind.job_name()
            )
        } else {
            "missing".into()
        };
        return Err(ManifestError::Field {
            field: kind.requests_key(),
            why,
        });
    };
    if let Some(unknown) = top
        .keys()
        .find(|k| k.as_str() != "Version" && k.as_str() != key)
    {
        return Err(ManifestError::Field {
            field: "(top level)",
            why: format!("unknown key {unknown:?} (expected Version and {key})"),
        });
    }
    let Value::Array(requests) = requests else {
        return Err(ManifestError::Field {
            field: kind.requests_key(),
            why: format!("expected an array, found {}", type_name(requests)),
        });
    };
    if requests.is_empty() {
        return Err(ManifestError::Field {
            field: kind.requests_key(),
            why: "empty: a job needs at least one request".into(),
        });
    }
    if requests.len() > kind.max_requests() {
        return Err(ManifestError::Field {
            field: kind.requests_key(),
            why: format!(
                "{} requests, a {} takes at most {}",
                requests.len(),
                kind.job_name(),
                kind.max_requests()
            ),
        });
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut entries = Vec::with_capacity(requests.len());
    for (index, req) in requests.iter().enumerate() {
        let Value::Object(obj) = req else {
            return Err(ManifestError::Request {
                index,
                request_id: String::new(),
                why: format!("expected a JSON object, found {}", type_name(req)),
            });
        };
        let request_id = match obj.get("RequestId") {
            None => {
                return Err(ManifestError::Request {
                    index,
                    request_id: String::new(),
                    why: "RequestId: missing (the output file names requests by RequestId)".into(),
                })
            }
            Some(v) => check_request_id(v).map_err(|why| ManifestError::Request {
                index,
                request_id: v.as_str().unwrap_or_default().to_string(),
                why: format!("RequestId: {why}"),
            })?,
        };
        if let Some(first) = seen.insert(request_id, index) {
            return Err(ManifestError::Request {
                index,
                request_id: request_id.to_string(),
                why: format!("RequestId: duplicate of request {first}"),
            });
        }
        let mut problems = Vec::new();
        let mut limit = false;
        let request = match validate(obj, &mut problems, &mut limit) {
            Some(r) => Ok(r),
            None => Err(RequestRejection {
                code: if limit {
                    ERROR_LIMIT
                } else {
                    ERROR_BAD_REQUEST
                },
                problems,
            }),
        };
        entries.push(Entry {
            index,
            request_id: request_id.to_string(),
            request,
        });
    }
    Ok(Manifest { version, entries })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn check_request_id(v: &Value) -> Result<&str, String> {
    let Value::String(s) = v else {
        return Err(format!("expected a string, found {}", type_name(v)));
    };
    if s.is_empty() {
        return Err("empty".into());
    }
    if s.len() > MAX_REQUEST_ID_LEN {
        return Err(format!(
            "{} bytes, at most {MAX_REQUEST_ID_LEN} allowed",
            s.len()
        ));
    }
    if s.chars().any(char::is_control) {
        return Err("contains a control character".into());
    }
    Ok(s)
}

/// Voice ID's speaker id pattern: a customer id `[a-zA-Z0-9][a-zA-Z0-9_-]*` (1–256), or a
/// generated `id#` + 22 alphanumerics.
pub fn check_speaker_id_str(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("empty".into());
    }
    if s.len() > MAX_SPEAKER_ID_LEN {
        return Err(format!(
            "{} bytes, at most {MAX_SPEAKER_ID_LEN} allowed",
            s.len()
        ));
    }
    if let Some(gen) = s.strip_prefix("id#") {
        if gen.len() == 22 && gen.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Ok(());
        }
        return Err(format!(
            "{s:?} starts with \"id#\" but is not a generated id (id# and 22 letters or digits)"
        ));
    }
    let mut chars = s.char_indices();
    if let Some((_, c)) = chars.next() {
        if !c.is_ascii_alphanumeric() {
            return Err(format!(
                "{s:?} must start with a letter or digit, found {c:?}"
            ));
        }
    }
    if let Some((i, c)) = chars.find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    {
        return Err(format!(
            "{s:?}: character {c:?} at {i} not allowed (letters, digits, '_', '-')"
        ));
    }
    Ok(())
}

fn check_speaker_id(v: &Value) -> Result<String, String> {
    let Value::String(s) = v else {
        return Err(format!("expected a string, found {}", type_name(v)));
    };
    check_speaker_id_str(s)?;
    Ok(s.clone())
}

fn check_keys(obj: &Map<String, Value>, allowed: &[&str], problems: &mut Vec<String>) {
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            problems.push(format!("unknown key {k:?}"));
        }
    }
}

fn audio_specs(
    obj: &Map<String, Value>,
    problems: &mut Vec<String>,
    limit: &mut bool,
) -> Option<Vec<AudioSpec>> {
    const F: &str = "AudioSpecifications";
    let list = match obj.get(F) {
        None => {
            problems.push(format!("{F}: missing"));
            return None;
        }
        Some(Value::Array(a)) => a,
        Some(v) => {
            problems.push(format!("{F}: expected an array, found {}", type_name(v)));
            return None;
        }
    };
    if list.is_empty() {
        problems.push(format!("{F}: empty, at least one audio file needed"));
        return None;
    }
    if list.len() > MAX_FILES_PER_REQUEST {
        problems.push(format!(
            "{F}: {} files, at most {MAX_FILES_PER_REQUEST} per request",
            list.len()
        ));
        *limit = true;
    }
    let before = problems.len();
    let mut out = Vec::with_capacity(list.len());
    for (i, spec) in list.iter().enumerate() {
        let Value::Object(spec) = spec else {
            problems.push(format!(
                "{F}[{i}]: expected an object, found {}",
                type_name(spec)
            ));
            continue;
        };
        for k in spec.keys() {
            if k != "S3Uri" && k != "ChannelId" {
                problems.push(format!(
                    "{F}[{i}]: unknown key {k:?} (expected S3Uri, ChannelId)"
                ));
            }
        }
        let uri = match spec.get("S3Uri") {
            None => {
                problems.push(format!("{F}[{i}].S3Uri: missing"));
                None
            }
            Some(Value::String(s)) => match AudioUri::parse(s) {
                Ok(u) => Some(u),
                Err(e) => {
                    problems.push(format!("{F}[{i}].S3Uri: {e}"));
                    None
                }
            },
            Some(v) => {
                problems.push(format!(
                    "{F}[{i}].S3Uri: expected a string, found {}",
                    type_name(v)
                ));
                None
            }
        };
        let channel = match spec.get("ChannelId") {
            None => Some(0),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(c) if c < u64::from(MAX_CHANNELS) => Some(c as u8),
                _ => {
                    problems.push(format!("{F}[{i}].ChannelId: expected 0 or 1, found {n}"));
                    None
                }
            },
            Some(v) => {
                problems.push(format!(
                    "{F}[{i}].ChannelId: expected 0 or 1, found {}",
                    type_name(v)
                ));
                None
            }
        };
        if let (Some(uri), Some(channel)) = (uri, channel) {
            out.push(AudioSpec { uri, channel });
        }
    }
    (problems.len() == before).then_some(out)
}

/// What the shell learned from an audio file's header (and its size), for [`check_audio`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFacts {
    /// File size in bytes.
    pub size_bytes: u64,
    /// Whether the file is a RIFF/WAVE file at all.
    pub is_wav: bool,
    /// Sample rate, Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u16,
    /// Bits per sample.
    pub bits_per_sample: u16,
    /// Whether the samples are integer PCM (format tag 1 or extensible PCM).
    pub integer_pcm: bool,
}

/// An audio file refused: the request fails with `code` (400 or 402).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{why}")]
pub struct AudioRejection {
    /// 400 (malformed) or 402 (over the size limit).
    pub code: u16,
    /// What is wrong, naming the file.
    pub why: String,
}

/// Applies Voice ID's per-file rules: at most [`MAX_FILE_BYTES`], a WAV file, `ChannelId`
/// within its channels (at most [`MAX_CHANNELS`]). Anything other than 8 kHz PCM-16 is
/// accepted with a warning (the file is resampled or converted); the warnings are returned.
pub fn check_audio(spec: &AudioSpec, facts: &AudioFacts) -> Result<Vec<String>, AudioRejection> {
    let uri = &spec.uri;
    if facts.size_bytes > MAX_FILE_BYTES {
        return Err(AudioRejection {
            code: ERROR_LIMIT,
            why: format!(
                "{uri}: {} bytes, at most {MAX_FILE_BYTES} (20 MB) per file",
                facts.size_bytes
            ),
        });
    }
    let bad = |why: String| AudioRejection {
        code: ERROR_BAD_REQUEST,
        why,
    };
    if !facts.is_wav {
        return Err(bad(format!("{uri}: not a WAV file")));
    }
    if facts.channels == 0 || facts.channels > MAX_CHANNELS {
        return Err(bad(format!(
            "{uri}: {} channels, 1 or 2 expected",
            facts.channels
        )));
    }
    if u16::from(spec.channel) >= facts.channels {
        return Err(bad(format!(
            "{uri}: ChannelId {} but the file has {} channel",
            spec.channel, facts.channels
        )));
    }
    if facts.sample_rate == 0 {
        return Err(bad(format!("{uri}: sample rate 0 Hz")));
    }
    let mut warnings = Vec::new();
    if facts.sample_rate != EXPECTED_SAMPLE_RATE {
        warnings.push(format!(
            "{uri}: {} Hz, resampled to {EXPECTED_SAMPLE_RATE} Hz (8 kHz expected)",
            facts.sample_rate
        ));
    }
    if !(facts.integer_pcm && facts.bits_per_sample == EXPECTED_BITS_PER_SAMPLE) {
        let what = if facts.integer_pcm {
            format!("{}-bit PCM", facts.bits_per_sample)
        } else {
            format!("{}-bit non-integer-PCM samples", facts.bits_per_sample)
        };
        warnings.push(format!("{uri}: {what}, converted (PCM-16 expected)"));
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enroll(json: &str) -> Result<EnrollmentManifest, ManifestError> {
        parse_enrollment_manifest(json.as_bytes())
    }

    const GOOD: &str = r#"{"Version":"1.0","SpeakerEnrollmentRequests":[
        {"RequestId":"r1","SpeakerId":"cust-1","AudioSpecifications":[{"S3Uri":"s3://my-bucket/calls/a.wav","ChannelId":0}]},
        {"RequestId":"r2","SpeakerId":"cust_2","AudioSpecifications":[{"S3Uri":"/data/b.wav","ChannelId":1},{"S3Uri":"file:///data/c%20d.wav"}]}
    ]}"#;

    #[test]
    fn parses_a_voice_id_enrollment_manifest() {
        let m = enroll(GOOD).unwrap();
        assert_eq!(m.version, "1.0");
        assert_eq!(m.entries.len(), 2);
        let r1 = m.entries[0].request.as_ref().unwrap();
        assert_eq!(r1.request_id, "r1");
        assert_eq!(r1.speaker_id, "cust-1");
        assert_eq!(
            r1.audio,
            vec![AudioSpec {
                uri: AudioUri::S3 {
                    bucket: "my-bucket".into(),
                    key: "calls/a.wav".into()
                },
                channel: 0
            }]
        );
        let r2 = m.entries[1].request.as_ref().unwrap();
        assert_eq!(r2.audio[0].uri, AudioUri::Path("/data/b.wav".into()));
        assert_eq!(r2.audio[0].channel, 1);
        assert_eq!(r2.audio[1].uri, AudioUri::File("/data/c d.wav".into()));
        assert_eq!(r2.audio[1].channel, 0, "ChannelId defaults to 0");
        assert_eq!(m.entries[1].index, 1);
        assert!(m.clone().into_strict().is_ok());
    }

    #[test]
    fn parses_a_fraudster_registration_manifest() {
        let m = parse_registration_manifest(
            br#"{"Version":"1.0","FraudsterRegistrationRequests":[
              {"RequestId":"f1","AudioSpecifications":[{"S3Uri":"s3://bkt/f1.wav","ChannelId":1}]}]}"#,
        )
        .unwrap();
        let r = m.entries[0].request.as_ref().unwrap();
        assert_eq!(r.request_id, "f1");
        assert_eq!(r.audio[0].channel, 1);
        // A SpeakerId has no place in a fraudster request.
        let m = parse_registration_manifest(
            br#"{"Version":"1.0","FraudsterRegistrationRequests":[
              {"RequestId":"f1","SpeakerId":"x","AudioSpecifications":[{"S3Uri":"a.wav"}]}]}"#,
        )
        .unwrap();
        let rej = m.entries[0].request.as_ref().unwrap_err();
        assert_eq!(rej.code, 400);
        assert!(rej.message().contains("SpeakerId"), "{}", rej.message());
    }

    #[test]
    fn syntax_errors_name_the_byte_offset() {
        let text = "{\"Version\":\"1.0\",\n \"SpeakerEnrollmentRequests\": [,]}";
        let err = enroll(text).unwrap_err();
        let ManifestError::Syntax { offset, line, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!(line, 2);
        assert_eq!(
            &text[offset..offset + 1],
            ",",
            "offset {offset} points at the stray comma"
        );
        // With a BOM the offset still points into the original bytes.
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(b"{\"Version\" \"1.0\"}");
        let ManifestError::Syntax { offset, .. } = parse_enrollment_manifest(&bom).unwrap_err()
        else {
            panic!()
        };
        assert_eq!(bom[offset], b'"', "offset {offset}");
        // Truncated input.
        let err = enroll("{\"Version\":\"1.0\"").unwrap_err();
        assert!(
            matches!(err, ManifestError::Syntax { offset: 16, .. }),
            "{err:?}"
        );
        // Not UTF-8: the offset is the bad byte's.
        let bad = b"{\"Version\":\"\xff\"}";
        let err = parse_enrollment_manifest(bad).unwrap_err();
        let ManifestError::Syntax { offset, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!(bad[offset], 0xff, "offset {offset}");
    }

    #[test]
    fn top_level_errors_name_the_field() {
        let field = |json: &str| match enroll(json).unwrap_err() {
            ManifestError::Field { field, why } => (field, why),
            e => panic!("{e:?}"),
        };
        assert_eq!(field("[]").0, "(top level)");
        assert_eq!(field(r#"{"SpeakerEnrollmentRequests":[]}"#).0, "Version");
        let (f, why) = field(r#"{"Version":"2.0","SpeakerEnrollmentRequests":[]}"#);
        assert_eq!(f, "Version");
        assert!(why.contains("2.0"), "{why}");
        let (f, why) = field(r#"{"Version":"1.0","FraudsterRegistrationRequests":[]}"#);
        assert_eq!(f, "SpeakerEnrollmentRequests");
        assert!(why.contains("fraudster registration"), "{why}");
        let (f, why) = field(r#"{"Version":"1.0","SpeakerEnrollmentRequests":[]}"#);
        assert_eq!(f, "SpeakerEnrollmentRequests");
        assert!(why.contains("empty"), "{why}");
        let (f, _) = field(r#"{"Version":"1.0","SpeakerEnrollmentRequests":{}}"#);
        assert_eq!(f, "SpeakerEnrollmentRequests");
        let (f, why) = field(r#"{"Version":"1.0","SpeakerEnrollmentRequests":[1],"Extra":1}"#);
        assert_eq!(f, "(top level)");
        assert!(why.contains("Extra"), "{why}");
    }

    #[test]
    fn too_many_requests_fail_the_manifest() {
        let req = r#"{"RequestId":"R","SpeakerId":"s","AudioSpecifications":[{"S3Uri":"a.wav"}]}"#;
        let build = |n: usize| {
            let reqs: Vec<String> = (0..n)
                .map(|i| req.replace("\"R\"", &format!("\"r{i}\"")))
                .collect();
            format!(
                r#"{{"Version":"1.0","SpeakerEnrollmentRequests":[{}]}}"#,
                reqs.join(",")
            )
        };
        assert_eq!(
            enroll(&build(MAX_ENROLLMENT_REQUESTS))
                .unwrap()
                .entries
                .len(),
            MAX_ENROLLMENT_REQUESTS
        );
        let err = enroll(&build(MAX_ENROLLMENT_REQUESTS + 1)).unwrap_err();
        assert!(err.to_string().contains("10001 requests"), "{err}");
    }

    #[test]
    fn request_ids_must_exist_and_be_unique() {
        let err = enroll(
            r#"{"Version":"1.0","SpeakerEnrollmentRequests":[
            {"RequestId":"a","SpeakerId":"s","AudioSpecifications":[{"S3Uri":"a.wav"}]},
            {"SpeakerId":"s","AudioSpecifications":[{"S3Uri":"a.wav"}]}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            err,
            ManifestError::Request {
                index: 1,
                request_id: String::new(),
                why: "RequestId: missing (the output file names requests by RequestId)".into()
            }
        );
        let err = enroll(
            r#"{"Version":"1.0","SpeakerEnrollmentRequests":[
            {"RequestId":"a","SpeakerId":"s","AudioSpecifications":[{"S3Uri":"a.wav"}]},
            {"RequestId":"b","SpeakerId":"s","AudioSpecifications":[{"S3Uri":"a.wav"}]},
            {"RequestId":"a","SpeakerId":"t","AudioSpecifications":[{"S3Uri":"a.wav"}]}]}"#,
        )
        .unwrap_err();
        let ManifestError::Request {
            index,
            request_id,
            why,
        } = err
        else {
            panic!()
        };
        assert_eq!((index, request_id.as_str()), (2, "a"));
        assert!(why.contains("duplicate of request 0"), "{why}");
        let err = enroll(r#"{"Version":"1.0","SpeakerEnrollmentRequests":[{"RequestId":7}]}"#)
            .unwrap_err();
        assert!(
            err.to_string().contains("RequestId: expected a string"),
            "{err}"
        );
    }

    fn rejection(json_request: &str) -> RequestRejection {
        let m = enroll(&format!(
            r#"{{"Version":"1.0","SpeakerEnrollmentRequests":[
                {{"RequestId":"ok","SpeakerId":"s","AudioSpecifications":[{{"S3Uri":"a.wav"}}]}},
                {json_request}]}}"#
        ))
        .unwrap();
        assert!(m.entries[0].request.is_ok(), "the good request still runs");
        assert_eq!(m.entries[1].request_id, "bad");
        let strict = m.clone().into_strict().unwrap_err();
        assert!(
            strict.to_string().contains("request 1 (RequestId \"bad\")"),
            "{strict}"
        );
        m.entries[1].request.clone().unwrap_err()
    }

    #[test]
    fn bad_requests_fail_alone_naming_the_field() {
        let r = rejection(r#"{"RequestId":"bad","AudioSpecifications":[{"S3Uri":"a.wav"}]}"#);
        assert_eq!((r.code, r.message().as_str()), (400, "SpeakerId: missing"));
        let r = rejection(
            r#"{"RequestId":"bad","SpeakerId":"-x","AudioSpecifications":[{"S3Uri":"a.wav"}]}"#,
        );
        assert!(r.message().starts_with("SpeakerId:"), "{}", r.message());
        let r = rejection(
            r#"{"RequestId":"bad","SpeakerId":"a b","AudioSpecifications":[{"S3Uri":"a.wav"}]}"#,
        );
        assert!(r.message().contains("' ' at 1"), "{}", r.message());
        let r = rejection(
            r#"{"RequestId":"bad","SpeakerId":"id#short","AudioSpecifications":[{"S3Uri":"a.wav"}]}"#,
        );
        assert!(r.message().contains("generated id"), "{}", r.message());
        let r = rejection(r#"{"RequestId":"bad","SpeakerId":"s","AudioSpecifications":[]}"#);
        assert!(
            r.message().starts_with("AudioSpecifications: empty"),
            "{}",
            r.message()
        );
        let r = rejection(
            r#"{"RequestId":"bad","SpeakerId":"s","AudioSpecifications":[{"S3Uri":"a.wav","ChannelId":2}]}"#,
        );
        assert_eq!(
            r.message(),
            "AudioSpecifications[0].ChannelId: expected 0 or 1, found 2"
        );
        let r = rejection(
            r#"{"RequestId":"bad","SpeakerId":"s","AudioSpecifications":[{"S3Uri":"a.wav","ChannelID":1}]}"#,
        );
        assert!(
            r.message()
                .contains("AudioSpecifications[0]: unknown key \"ChannelID\""),
            "{}",
            r.message()
        );
        let r = rejection(
            r#"{"RequestId":"bad","SpeakerId":"s","AudioSpecifications":[{"S3Uri":"a.wav"},{"S3Uri":"https://x/y.wav"}]}"#,
        );
        assert!(
            r.message()
                .starts_with("AudioSpecifications[1].S3Uri: unsupported scheme \"https\""),
            "{}",
            r.message()
        );
        let r = rejection(
            r#"{"RequestId":"bad","SpeakerId":"s","AudioSpecifications":[{"S3Uri":"a.wav"}],"Speaker":"x"}"#,
        );
        assert_eq!(r.message(), "unknown key \"Speaker\"");
        // Several problems are all reported.
        let r = rejection(
            r#"{"RequestId":"bad","SpeakerId":5,"AudioSpecifications":[{"ChannelId":"0"}]}"#,
        );
        assert_eq!(r.problems.len(), 3, "{:?}", r.problems);
    }

    #[test]
    fn more_than_ten_files_is_a_402() {
        let files: Vec<String> = (0..=MAX_FILES_PER_REQUEST)
            .map(|i| format!(r#"{{"S3Uri":"f{i}.wav"}}"#))
            .collect();
        let r = rejection(&format!(
            r#"{{"RequestId":"bad","SpeakerId":"s","AudioSpecifications":[{}]}}"#,
            files.join(",")
        ));
        assert_eq!(r.code, 402);
        assert!(
            r.message().contains("11 files, at most 10"),
            "{}",
            r.message()
        );
        // Exactly ten is fine.
        let m = enroll(&format!(
            r#"{{"Version":"1.0","SpeakerEnrollmentRequests":[{{"RequestId":"r","SpeakerId":"s","AudioSpecifications":[{}]}}]}}"#,
            files[..10].join(",")
        ))
        .unwrap();
        assert_eq!(m.entries[0].request.as_ref().unwrap().audio.len(), 10);
    }

    #[test]
    fn uris_parse_into_their_kinds() {
        assert_eq!(
            AudioUri::parse("rel/a.wav").unwrap(),
            AudioUri::Path("rel/a.wav".into())
        );
        assert_eq!(
            AudioUri::parse("C:\\calls\\a.wav").unwrap(),
            AudioUri::Path("C:\\calls\\a.wav".into())
        );
        assert_eq!(
            AudioUri::parse("file://localhost/x/a.wav").unwrap(),
            AudioUri::File("/x/a.wav".into())
        );
        assert_eq!(
            AudioUri::parse("FILE:///x/%C3%A9.wav").unwrap(),
            AudioUri::File("/x/é.wav".into())
        );
        assert_eq!(
            AudioUri::parse("s3://a.b-c/k/with space.wav").unwrap(),
            AudioUri::S3 {
                bucket: "a.b-c".into(),
                key: "k/with space.wav".into()
            }
        );
        for (bad, needle) in [
            ("", "empty"),
            ("s3://bucket", "no object key"),
            ("s3://bucket/", "empty object key"),
            ("s3:///key", "empty bucket"),
            ("s3://ab/key", "3 to 63"),
            ("s3://My-Bucket/key", "'M'"),
            ("s3://-bucket/key", "start and end"),
            ("file://server/share/a.wav", "host \"server\""),
            ("file:///x/%zz.wav", "bad percent escape"),
            ("file:///x/%e", "truncated"),
            ("file:///x/%ff.wav", "invalid UTF-8"),
            ("file:///", "root"),
            ("gs://b/k", "unsupported scheme \"gs\""),
            ("a\nb.wav", "control"),
        ] {
            let e = AudioUri::parse(bad).unwrap_err();
            assert!(e.contains(needle), "{bad:?}: {e}");
        }
        let long = format!("s3://bucket/{}", "k".repeat(MAX_S3_KEY_LEN + 1));
        assert!(AudioUri::parse(&long).unwrap_err().contains("1025 bytes"));
        assert_eq!(
            AudioUri::parse("s3://b1b/dir/m.json").unwrap().file_name(),
            "m.json"
        );
        assert_eq!(
            AudioUri::parse("/x/y/m.json").unwrap().file_name(),
            "m.json"
        );
        assert_eq!(AudioUri::parse("m.json").unwrap().file_name(), "m.json");
        // Directories may be a bucket alone.
        assert_eq!(
            AudioUri::parse_dir("s3://out-bkt").unwrap(),
            AudioUri::S3 {
                bucket: "out-bkt".into(),
                key: String::new()
            }
        );
        assert!(AudioUri::parse_dir("s3://x")
            .unwrap_err()
            .contains("3 to 63"));
        assert_eq!(
            AudioUri::parse_dir("/out").unwrap(),
            AudioUri::Path("/out".into())
        );
        // Display round-trips through parse.
        for s in ["s3://bkt/a/b.wav", "/x/y.wav", "file:///x/y.wav"] {
            assert_eq!(AudioUri::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn audio_checks_apply_voice_id_limits() {
        let spec = AudioSpec {
            uri: AudioUri::Path("a.wav".into()),
            channel: 1,
        };
        let good = AudioFacts {
            size_bytes: 1000,
            is_wav: true,
            sample_rate: 8000,
            channels: 2,
            bits_per_sample: 16,
            integer_pcm: true,
        };
        assert_eq!(check_audio(&spec, &good).unwrap(), Vec::<String>::new());
        let big = AudioFacts {
            size_bytes: MAX_FILE_BYTES + 1,
            ..good
        };
        assert_eq!(check_audio(&spec, &big).unwrap_err().code, 402);
        assert!(check_audio(
            &spec,
            &AudioFacts {
                size_bytes: MAX_FILE_BYTES,
                ..good
            }
        )
        .is_ok());
        let mono = AudioFacts {
            channels: 1,
            ..good
        };
        let e = check_audio(&spec, &mono).unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e.why.contains("ChannelId 1"), "{}", e.why);
        assert_eq!(
            check_audio(
                &spec,
                &AudioFacts {
                    is_wav: false,
                    ..good
                }
            )
            .unwrap_err()
            .code,
            400
        );
        assert_eq!(
            check_audio(
                &spec,
                &AudioFacts {
                    channels: 3,
                    ..good
                }
            )
            .unwrap_err()
            .code,
            400
        );
        let w = check_audio(
            &spec,
            &AudioFacts {
                sample_rate: 16000,
                ..good
            },
        )
        .unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("16000 Hz, resampled"), "{w:?}");
        let w = check_audio(
            &spec,
            &AudioFacts {
                sample_rate: 44100,
                bits_per_sample: 32,
                integer_pcm: false,
                ..good
            },
        )
        .unwrap();
        assert_eq!(w.len(), 2, "{w:?}");
    }

    #[test]
    fn validated_manifest_round_trips_through_serde() {
        let m = enroll(GOOD).unwrap();
        let json = serde_json::to_string(&m).unwrap();
        let back: EnrollmentManifest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
    }
}
