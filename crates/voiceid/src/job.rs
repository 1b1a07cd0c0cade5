//! Batch jobs as a sans-I/O state machine: speaker enrollment jobs and fraudster registration
//! jobs with Amazon Connect Voice ID's semantics and output file (SEEDS.md §2).
//!
//! A [`Job`] is built from a checked manifest ([`crate::manifest`]) and the job's config. The
//! shell (jobs runner) asks for work with [`Job::start_next`], does the I/O (fetches audio,
//! looks the speaker up in the store, embeds, scores against the watchlist, stores the
//! voiceprint) and feeds what it learned with [`Job::record`], one [`Outcome`] at a time. The
//! job applies the config — `ExistingEnrollmentAction` SKIP | OVERWRITE, `FraudDetectionAction`
//! FAIL | IGNORE with `RiskThreshold`, `DuplicateRegistrationAction` SKIP | REGISTER_AS_NEW
//! with `FraudsterSimilarityThreshold` — and says whether the request is finished, with which
//! Voice ID status or error code (400, 402, 409, 500) and message. It reports `JobStatus`
//! (SUBMITTED, IN_PROGRESS, COMPLETED, COMPLETED_WITH_ERRORS, FAILED) and `PercentComplete`,
//! and at the end the `.out` file in Voice ID's shape ([`Job::output`]), written to
//! [`output_path`].
//!
//! The job serialises (serde) so a crashed job resumes: finished requests stay finished, a
//! request that was running is handed out again with the facts already recorded. Persist the
//! job in the same store transaction as the enrollment a terminal outcome records, and nobody
//! is enrolled twice.

use crate::manifest::{
    check_speaker_id_str, AudioRejection, EnrollmentManifest, EnrollmentRequest, Entry,
    ManifestError, ManifestKind, RegistrationManifest, RegistrationRequest, ERROR_BAD_REQUEST,
    ERROR_CONFLICT, ERROR_INTERNAL, ERROR_LIMIT, MANIFEST_VERSION,
};
use serde::{Deserialize, Serialize};

/// Length of the random part of every Voice ID identifier (job, domain, watchlist, speaker,
/// fraudster): 22 letters or digits.
pub const ID_LEN: usize = 22;
/// Prefix of generated speaker and fraudster ids (`id#` + 22 alphanumerics).
pub const GENERATED_ID_PREFIX: &str = "id#";
/// Default `RiskThreshold` of a job's fraud check (Voice ID's default for fraud detection).
pub const DEFAULT_RISK_THRESHOLD: u8 = 50;
/// Default `FraudsterSimilarityThreshold`: Tympan's choice, the same 50 as the risk threshold.
pub const DEFAULT_FRAUDSTER_SIMILARITY_THRESHOLD: u8 = 50;
/// Highest score, risk or similarity threshold (scores are 0–100).
pub const MAX_SCORE: u8 = 100;
/// Watchlists a job checks against: Voice ID takes exactly one (none means the domain's
/// default watchlist).
pub const MAX_WATCHLISTS_PER_JOB: usize = 1;
/// Longest `ClientToken`.
pub const MAX_CLIENT_TOKEN_LEN: usize = 64;
/// Longest `JobName` (Voice ID's 256).
pub const MAX_JOB_NAME_LEN: usize = 256;

/// `ExistingEnrollmentAction`: what to do when the speaker is already enrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExistingEnrollmentAction {
    /// Leave the enrollment alone (`DUPLICATE_SKIPPED`); the default.
    #[default]
    Skip,
    /// Replace the voiceprint (`ENROLLMENT_OVERWRITE`).
    Overwrite,
}

/// `FraudDetectionAction`: what to do when the speaker matches a known fraudster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FraudDetectionAction {
    /// Fail the enrollment (error 400); the default.
    #[default]
    Fail,
    /// Enroll anyway.
    Ignore,
}

/// `DuplicateRegistrationAction`: what to do when the new fraudster matches a registered one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DuplicateRegistrationAction {
    /// Report the existing fraudster (`DUPLICATE_SKIPPED`); the default.
    #[default]
    Skip,
    /// Register a new fraudster anyway (`NEW_REGISTRATION`).
    RegisterAsNew,
}

/// `FraudDetectionConfig` of an enrollment job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct FraudDetectionConfig {
    /// `FraudDetectionAction` (FAIL when absent).
    #[serde(default)]
    pub fraud_detection_action: FraudDetectionAction,
    /// `RiskThreshold` 0–100: a risk score at or above it is a fraudster
    /// ([`DEFAULT_RISK_THRESHOLD`] when absent).
    #[serde(default = "default_risk")]
    pub risk_threshold: u8,
    /// `WatchlistIds` (at most [`MAX_WATCHLISTS_PER_JOB`]; none: the domain's default).
    #[serde(default)]
    pub watchlist_ids: Vec<String>,
}

fn default_risk() -> u8 {
    DEFAULT_RISK_THRESHOLD
}

fn default_similarity() -> u8 {
    DEFAULT_FRAUDSTER_SIMILARITY_THRESHOLD
}

impl Default for FraudDetectionConfig {
    fn default() -> Self {
        FraudDetectionConfig {
            fraud_detection_action: FraudDetectionAction::Fail,
            risk_threshold: DEFAULT_RISK_THRESHOLD,
            watchlist_ids: Vec::new(),
        }
    }
}

/// `EnrollmentConfig` of a speaker enrollment job.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EnrollmentConfig {
    /// `ExistingEnrollmentAction` (SKIP when absent).
    #[serde(default)]
    pub existing_enrollment_action: ExistingEnrollmentAction,
    /// `FraudDetectionConfig`.
    #[serde(default)]
    pub fraud_detection_config: FraudDetectionConfig,
}

/// `RegistrationConfig` of a fraudster registration job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RegistrationConfig {
    /// `DuplicateRegistrationAction` (SKIP when absent).
    #[serde(default)]
    pub duplicate_registration_action: DuplicateRegistrationAction,
    /// `FraudsterSimilarityThreshold` 0–100: a registered fraudster this similar or more is a
    /// duplicate ([`DEFAULT_FRAUDSTER_SIMILARITY_THRESHOLD`] when absent).
    #[serde(default = "default_similarity")]
    pub fraudster_similarity_threshold: u8,
    /// `WatchlistIds` (at most [`MAX_WATCHLISTS_PER_JOB`]; none: the domain's default).
    #[serde(default)]
    pub watchlist_ids: Vec<String>,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        RegistrationConfig {
            duplicate_registration_action: DuplicateRegistrationAction::Skip,
            fraudster_similarity_threshold: DEFAULT_FRAUDSTER_SIMILARITY_THRESHOLD,
            watchlist_ids: Vec::new(),
        }
    }
}

/// A job's configuration, by job kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobConfig {
    /// A speaker enrollment job.
    Enrollment(EnrollmentConfig),
    /// A fraudster registration job.
    Registration(RegistrationConfig),
}

impl JobConfig {
    /// The manifest kind the job reads.
    pub fn kind(&self) -> ManifestKind {
        match self {
            JobConfig::Enrollment(_) => ManifestKind::SpeakerEnrollment,
            JobConfig::Registration(_) => ManifestKind::FraudsterRegistration,
        }
    }

    /// Checks thresholds and watchlist ids; the error names the field.
    pub fn validate(&self) -> Result<(), JobError> {
        let (field, threshold, lists) = match self {
            JobConfig::Enrollment(c) => (
                "FraudDetectionConfig.RiskThreshold",
                c.fraud_detection_config.risk_threshold,
                &c.fraud_detection_config.watchlist_ids,
            ),
            JobConfig::Registration(c) => (
                "RegistrationConfig.FraudsterSimilarityThreshold",
                c.fraudster_similarity_threshold,
                &c.watchlist_ids,
            ),
        };
        if threshold > MAX_SCORE {
            return Err(JobError::Invalid {
                field,
                why: format!("{threshold}, expected 0 to {MAX_SCORE}"),
            });
        }
        if lists.len() > MAX_WATCHLISTS_PER_JOB {
            return Err(JobError::Invalid {
                field: "WatchlistIds",
                why: format!(
                    "{} watchlists, at most {MAX_WATCHLISTS_PER_JOB}",
                    lists.len()
                ),
            });
        }
        for w in lists {
            check_id("WatchlistIds", w)?;
        }
        Ok(())
    }
}

/// Checks a 22-alphanumeric Voice ID identifier (job, domain, watchlist id).
pub fn check_id(field: &'static str, id: &str) -> Result<(), JobError> {
    if id.len() == ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(JobError::Invalid {
            field,
            why: format!("{id:?} is not {ID_LEN} letters or digits"),
        })
    }
}

/// Checks a `ClientToken`: 1 to 64 of `[a-zA-Z0-9-_]`.
pub fn check_client_token(token: &str) -> Result<(), JobError> {
    let bad = |why: String| JobError::Invalid {
        field: "ClientToken",
        why,
    };
    if token.is_empty() || token.len() > MAX_CLIENT_TOKEN_LEN {
        return Err(bad(format!(
            "{} characters, 1 to {MAX_CLIENT_TOKEN_LEN} allowed",
            token.len()
        )));
    }
    if let Some((i, c)) = token
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        return Err(bad(format!(
            "character {c:?} at {i} not allowed (letters, digits, '-', '_')"
        )));
    }
    Ok(())
}

/// A random Voice ID identifier: [`ID_LEN`] letters or digits, unbiased. `fill` supplies
/// random bytes (the shell passes `getrandom`, tests a seeded generator).
pub fn random_id(mut fill: impl FnMut(&mut [u8])) -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(ID_LEN);
    let mut buf = [0u8; 32];
    while out.len() < ID_LEN {
        fill(&mut buf);
        // 248 = 4 × 62: bytes below it map uniformly; the rest are drawn again.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == ID_LEN {
                break;
            }
            out.push(ALPHABET[usize::from(b % 62)] as char);
        }
    }
    out
}

/// A generated speaker or fraudster id: `id#` + [`random_id`].
pub fn generated_id(fill: impl FnMut(&mut [u8])) -> String {
    format!("{GENERATED_ID_PREFIX}{}", random_id(fill))
}

/// What a `Start…Job` call asked for: the unit of `ClientToken` idempotency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartJobRequest {
    /// `DomainId` (22 alphanumerics).
    pub domain_id: String,
    /// `JobName`, optional.
    pub job_name: Option<String>,
    /// `ClientToken`, optional.
    pub client_token: Option<String>,
    /// `InputDataConfig.S3Uri`: the manifest.
    pub input_uri: String,
    /// `OutputDataConfig.S3Uri`: the output directory.
    pub output_dir: String,
    /// The job's configuration.
    pub config: JobConfig,
}

impl StartJobRequest {
    /// Checks every field; the error names it.
    pub fn validate(&self) -> Result<(), JobError> {
        check_id("DomainId", &self.domain_id)?;
        if let Some(t) = &self.client_token {
            check_client_token(t)?;
        }
        if let Some(n) = &self.job_name {
            if n.is_empty() || n.len() > MAX_JOB_NAME_LEN || n.chars().any(char::is_control) {
                return Err(JobError::Invalid {
                    field: "JobName",
                    why: format!("1 to {MAX_JOB_NAME_LEN} printable characters expected"),
                });
            }
        }
        crate::manifest::AudioUri::parse_dir(&self.output_dir).map_err(|why| {
            JobError::Invalid {
                field: "OutputDataConfig.S3Uri",
                why,
            }
        })?;
        manifest_file_name(&self.input_uri)?;
        self.config.validate()
    }

    /// `ClientToken` idempotency: `previous` is the job the store holds under the same token
    /// and domain. The same request again is the same job (`Ok`: return the previous job's
    /// id); the same token with different parameters is a conflict (409), as AWS does.
    pub fn idempotent_with(&self, previous: &StartJobRequest) -> Result<(), JobError> {
        if self.client_token.is_none() || self.client_token != previous.client_token {
            return Err(JobError::Invalid {
                field: "ClientToken",
                why: "idempotency needs the same ClientToken on both requests".into(),
            });
        }
        if self == previous {
            Ok(())
        } else {
            Err(JobError::IdempotencyConflict {
                client_token: self.client_token.clone().unwrap_or_default(),
            })
        }
    }
}

/// The file name of a manifest URI, which names the output file.
pub fn manifest_file_name(manifest_uri: &str) -> Result<String, JobError> {
    let uri = crate::manifest::AudioUri::parse(manifest_uri).map_err(|why| JobError::Invalid {
        field: "InputDataConfig.S3Uri",
        why,
    })?;
    let name = uri.file_name();
    if name.is_empty() || name == "." || name == ".." {
        return Err(JobError::Invalid {
            field: "InputDataConfig.S3Uri",
            why: format!("{manifest_uri:?} names no file"),
        });
    }
    Ok(name.to_string())
}

/// Where a job's output goes: `{output dir}/{JobId}/{manifest file name}.out`, for a local
/// directory or an `s3://bucket/prefix` alike (a trailing `/` on the directory is dropped).
pub fn output_path(output_dir: &str, job_id: &str, manifest_uri: &str) -> Result<String, JobError> {
    check_id("JobId", job_id)?;
    if output_dir.is_empty() {
        return Err(JobError::Invalid {
            field: "OutputDataConfig.S3Uri",
            why: "empty".into(),
        });
    }
    let name = manifest_file_name(manifest_uri)?;
    let dir = output_dir.trim_end_matches('/');
    let dir = if dir.is_empty() || dir.ends_with(':') {
        // "/" or "s3://" alone keep their slash.
        &output_dir[..dir.len() + 1]
    } else {
        dir
    };
    let sep = if dir.ends_with('/') { "" } else { "/" };
    Ok(format!("{dir}{sep}{job_id}/{name}.out"))
}

/// `JobStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Created, no request started.
    Submitted,
    /// Requests are running or waiting.
    InProgress,
    /// Every request finished without error.
    Completed,
    /// Every request finished, some with an error (the output file lists them).
    CompletedWithErrors,
    /// The job could not run (unreadable manifest, internal failure).
    Failed,
}

/// `FailureDetails` of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FailureDetails {
    /// `StatusCode`: 400 for a bad manifest, 500 internal.
    pub status_code: u16,
    /// `Message`.
    pub message: String,
}

/// A speaker's status in the store (`SpeakerStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SpeakerStatus {
    /// Has a voiceprint.
    Enrolled,
    /// Not accessed for 3 years; the voiceprint is gone.
    Expired,
    /// Asked not to be enrolled: a conflict (409) for any enrollment.
    OptedOut,
    /// Known, not yet enrolled.
    Pending,
}

/// What the shell learned while working on a request; fed to [`Job::record`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// Enrollment: the store already knows the speaker. ENROLLED + SKIP finishes the request
    /// as DUPLICATE_SKIPPED; ENROLLED + OVERWRITE goes on (ENROLLMENT_OVERWRITE); OPTED_OUT
    /// fails it with 409; EXPIRED and PENDING go on as a new enrollment.
    SpeakerFound {
        /// The speaker's generated id.
        generated_speaker_id: String,
        /// Its status.
        status: SpeakerStatus,
    },
    /// Enrollment: the highest risk score against the job's watchlist. Under FAIL a score at
    /// or above `RiskThreshold` fails the request (400); otherwise it goes on.
    FraudRisk {
        /// Risk score 0–100.
        risk_score: u8,
        /// The closest fraudster.
        generated_fraudster_id: String,
    },
    /// Enrollment: the voiceprint is stored. Finishes the request.
    Enrolled {
        /// The speaker's generated id (the one of [`Outcome::SpeakerFound`] when overwriting).
        generated_speaker_id: String,
    },
    /// Registration: the most similar fraudster already on the watchlist. At or above
    /// `FraudsterSimilarityThreshold` under SKIP it finishes the request as DUPLICATE_SKIPPED;
    /// otherwise it goes on and its score is reported with the new registration.
    ClosestFraudster {
        /// The registered fraudster.
        generated_fraudster_id: String,
        /// Similarity 0–100.
        similarity_score: u8,
    },
    /// Registration: the fraudster is stored. Finishes the request.
    Registered {
        /// The new fraudster's generated id.
        generated_fraudster_id: String,
    },
    /// Too little net speech (400). Finishes the request.
    NotEnoughSpeech {
        /// Net speech found, seconds.
        net_speech_s: f64,
        /// Net speech needed, seconds.
        required_s: f64,
    },
    /// An audio file could not be fetched, decoded or used (400). Finishes the request.
    AudioError {
        /// Index in `AudioSpecifications`.
        file_index: usize,
        /// Why.
        reason: String,
    },
    /// A file was resampled or converted: a warning, the request goes on.
    Warning(String),
    /// A limit was hit (402): a file over 20 MB, the domain's speaker quota, a full
    /// watchlist. Finishes the request.
    LimitExceeded {
        /// Which limit.
        reason: String,
    },
    /// Something failed inside (500). Finishes the request.
    Internal {
        /// What.
        reason: String,
    },
}

impl Outcome {
    /// The outcome for a file [`crate::manifest::check_audio`] refused (400 or 402).
    pub fn from_audio_rejection(file_index: usize, r: AudioRejection) -> Outcome {
        if r.code == ERROR_LIMIT {
            Outcome::LimitExceeded { reason: r.why }
        } else {
            Outcome::AudioError {
                file_index,
                reason: r.why,
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Outcome::SpeakerFound { .. } => "SpeakerFound",
            Outcome::FraudRisk { .. } => "FraudRisk",
            Outcome::Enrolled { .. } => "Enrolled",
            Outcome::ClosestFraudster { .. } => "ClosestFraudster",
            Outcome::Registered { .. } => "Registered",
            Outcome::NotEnoughSpeech { .. } => "NotEnoughSpeech",
            Outcome::AudioError { .. } => "AudioError",
            Outcome::Warning(_) => "Warning",
            Outcome::LimitExceeded { .. } => "LimitExceeded",
            Outcome::Internal { .. } => "Internal",
        }
    }
}

/// `EnrollmentStatus` of a successful enrollment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EnrollmentStatus {
    /// A new voiceprint.
    NewEnrollment,
    /// The existing voiceprint replaced (OVERWRITE).
    EnrollmentOverwrite,
    /// Already enrolled, left alone (SKIP).
    DuplicateSkipped,
}

/// `RegistrationStatus` of a successful registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RegistrationStatus {
    /// A new fraudster.
    NewRegistration,
    /// A duplicate of a registered fraudster (SKIP).
    DuplicateSkipped,
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestResult {
    /// A successful enrollment.
    Enrolled {
        /// `GeneratedSpeakerId`.
        generated_speaker_id: String,
        /// `EnrollmentStatus`.
        status: EnrollmentStatus,
    },
    /// A successful registration.
    Registered {
        /// `GeneratedFraudsterId` (the existing fraudster's when DUPLICATE_SKIPPED).
        generated_fraudster_id: String,
        /// `RegistrationStatus`.
        status: RegistrationStatus,
        /// `FraudsterSimilarityScore` to the closest registered fraudster, if any was.
        similarity_score: Option<u8>,
    },
    /// A failed request.
    Error {
        /// `ErrorCode`: 400, 402, 409 or 500.
        code: u16,
        /// `ErrorMessage`.
        message: String,
    },
}

/// What [`Job::record`] made of an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The request goes on; feed the next outcome.
    Continue,
    /// The request is finished with this result.
    Done(RequestResult),
}

/// The work of one request, handed out by [`Job::start_next`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Index in the manifest (pass it to [`Job::record`]).
    pub index: usize,
    /// What to do.
    pub work: Work,
    /// Facts recorded before a crash (a resumed request): skip the steps they cover.
    pub known: Known,
}

/// A request's work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Work {
    /// Enroll a speaker.
    Enroll(EnrollmentRequest),
    /// Register a fraudster.
    Register(RegistrationRequest),
}

/// Facts recorded for a running request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Known {
    /// From [`Outcome::SpeakerFound`].
    pub existing_speaker: Option<(String, SpeakerStatus)>,
    /// From [`Outcome::FraudRisk`]: score and fraudster.
    pub fraud_risk: Option<(u8, String)>,
    /// From [`Outcome::ClosestFraudster`]: fraudster and similarity.
    pub closest_fraudster: Option<(String, u8)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum State {
    Pending,
    Running {
        known: Known,
        /// Handed out to a worker in this process; a deserialised job has none.
        #[serde(skip)]
        claimed: bool,
    },
    Done(RequestResult),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Slot {
    index: usize,
    request_id: String,
    /// The work, or `None` for a request the manifest check refused (then `Done`).
    work: Option<Work>,
    state: State,
}

/// A warning about one request (a resampled file…), for the job's description and logs. The
/// `.out` file keeps Voice ID's shape and has no place for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestWarning {
    /// The request.
    pub request_id: String,
    /// What.
    pub message: String,
}

/// Errors of the job state machine: the shell misused it, or a request/config field is bad.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// A field is invalid; names it.
    #[error("invalid {field}: {why}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        why: String,
    },
    /// No request has this index.
    #[error("no request {index}: the job has {len}")]
    NoSuchRequest {
        /// The index given.
        index: usize,
        /// Requests in the job.
        len: usize,
    },
    /// The request was not handed out by [`Job::start_next`].
    #[error("request {index} ({request_id:?}) was not started")]
    NotStarted {
        /// Index.
        index: usize,
        /// Its RequestId.
        request_id: String,
    },
    /// The request is already finished: recording again would do it twice.
    #[error("request {index} ({request_id:?}) is already finished")]
    AlreadyDone {
        /// Index.
        index: usize,
        /// Its RequestId.
        request_id: String,
    },
    /// The outcome does not fit the job or what was recorded before.
    #[error("request {index} ({request_id:?}): {why}")]
    Inconsistent {
        /// Index.
        index: usize,
        /// Its RequestId.
        request_id: String,
        /// Why.
        why: String,
    },
    /// The job has not finished, so there is no output yet.
    #[error("the job is {status:?}: no output before every request is finished")]
    NotFinished {
        /// Its status.
        status: JobStatus,
    },
    /// The same ClientToken came with different parameters.
    #[error("ClientToken {client_token:?} was used for a different job request (409)")]
    IdempotencyConflict {
        /// The token.
        client_token: String,
    },
}

/// A batch job: its requests, their states and the job's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    job_id: String,
    config: JobConfig,
    slots: Vec<Slot>,
    failure: Option<FailureDetails>,
    started: bool,
    warnings: Vec<RequestWarning>,
    created_at_ms: u64,
    ended_at_ms: Option<u64>,
}

impl Job {
    /// A speaker enrollment job. Requests the manifest check refused are finished at once
    /// with their 400/402 error.
    pub fn enrollment(
        job_id: &str,
        manifest: EnrollmentManifest,
        config: EnrollmentConfig,
        now_ms: u64,
    ) -> Result<Job, JobError> {
        Job::build(
            job_id,
            JobConfig::Enrollment(config),
            manifest
                .entries
                .into_iter()
                .map(|e| map_entry(e, Work::Enroll)),
            now_ms,
        )
    }

    /// A fraudster registration job.
    pub fn registration(
        job_id: &str,
        manifest: RegistrationManifest,
        config: RegistrationConfig,
        now_ms: u64,
    ) -> Result<Job, JobError> {
        Job::build(
            job_id,
            JobConfig::Registration(config),
            manifest
                .entries
                .into_iter()
                .map(|e| map_entry(e, Work::Register)),
            now_ms,
        )
    }

    /// A job whose manifest could not be read or parsed: FAILED with `FailureDetails` 400.
    pub fn failed(
        job_id: &str,
        config: JobConfig,
        why: &ManifestError,
        now_ms: u64,
    ) -> Result<Job, JobError> {
        let mut job = Job::build(job_id, config, std::iter::empty(), now_ms)?;
        job.failure = Some(FailureDetails {
            status_code: ERROR_BAD_REQUEST,
            message: why.to_string(),
        });
        job.ended_at_ms = Some(now_ms);
        Ok(job)
    }

    fn build(
        job_id: &str,
        config: JobConfig,
        slots: impl Iterator<Item = Slot>,
        now_ms: u64,
    ) -> Result<Job, JobError> {
        check_id("JobId", job_id)?;
        config.validate()?;
        let mut job = Job {
            job_id: job_id.to_string(),
            config,
            slots: slots.collect(),
            failure: None,
            started: false,
            warnings: Vec::new(),
            created_at_ms: now_ms,
            ended_at_ms: None,
        };
        if job.finished_count() == job.slots.len() && !job.slots.is_empty() {
            job.ended_at_ms = Some(now_ms);
        }
        Ok(job)
    }

    /// Fails the whole job (an internal error the shell cannot attribute to one request).
    /// Finished requests keep their results; no output file is written for a FAILED job.
    pub fn fail(&mut self, status_code: u16, message: impl Into<String>, now_ms: u64) {
        self.failure = Some(FailureDetails {
            status_code,
            message: message.into(),
        });
        self.ended_at_ms.get_or_insert(now_ms);
    }

    /// `JobId`.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// The job's configuration.
    pub fn config(&self) -> &JobConfig {
        &self.config
    }

    /// When the job was created (the shell's clock, ms).
    pub fn created_at_ms(&self) -> u64 {
        self.created_at_ms
    }

    /// When the last request finished or the job failed.
    pub fn ended_at_ms(&self) -> Option<u64> {
        self.ended_at_ms
    }

    /// `FailureDetails`, for a FAILED job.
    pub fn failure(&self) -> Option<&FailureDetails> {
        self.failure.as_ref()
    }

    /// Warnings so far, in the order they came.
    pub fn warnings(&self) -> &[RequestWarning] {
        &self.warnings
    }

    /// Requests in the job.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the job has no requests (only a FAILED job).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Finished requests.
    pub fn finished_count(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| matches!(s.state, State::Done(_)))
            .count()
    }

    /// The result of request `index`, once finished.
    pub fn result(&self, index: usize) -> Option<&RequestResult> {
        match &self.slots.get(index)?.state {
            State::Done(r) => Some(r),
            _ => None,
        }
    }

    /// `JobStatus`.
    pub fn status(&self) -> JobStatus {
        if self.failure.is_some() {
            return JobStatus::Failed;
        }
        if self.finished_count() == self.slots.len() {
            let errors = self
                .slots
                .iter()
                .any(|s| matches!(s.state, State::Done(RequestResult::Error { .. })));
            return if errors {
                JobStatus::CompletedWithErrors
            } else {
                JobStatus::Completed
            };
        }
        if self.started {
            JobStatus::InProgress
        } else {
            JobStatus::Submitted
        }
    }

    /// `JobProgress.PercentComplete`: finished requests in percent, rounded down (100 only
    /// when all are finished).
    pub fn percent_complete(&self) -> u8 {
        if self.slots.is_empty() {
            return if self.failure.is_some() { 0 } else { 100 };
        }
        (self.finished_count() * 100 / self.slots.len()) as u8
    }

    /// Hands out the next request to work on (marking it running), or `None` when every
    /// request is finished or running. After a resume, requests that were running when the
    /// job was saved come first, with what was recorded for them.
    pub fn start_next(&mut self) -> Option<Task> {
        if self.failure.is_some() {
            return None;
        }
        let pos = self
            .slots
            .iter()
            .position(|s| matches!(s.state, State::Running { claimed: false, .. }))
            .or_else(|| {
                self.slots
                    .iter()
                    .position(|s| matches!(s.state, State::Pending))
            })?;
        self.started = true;
        let slot = &mut self.slots[pos];
        let known = match &mut slot.state {
            State::Running { known, claimed } => {
                *claimed = true;
                known.clone()
            }
            _ => {
                slot.state = State::Running {
                    known: Known::default(),
                    claimed: true,
                };
                Known::default()
            }
        };
        Some(Task {
            index: slot.index,
            work: slot.work.clone().expect("a pending request has work"),
            known,
        })
    }

    /// Records what the shell learned about request `index` and applies the job's config.
    /// `now_ms` is the shell's clock (the job's `EndedAt` when this finishes it).
    pub fn record(
        &mut self,
        index: usize,
        outcome: Outcome,
        now_ms: u64,
    ) -> Result<Progress, JobError> {
        let len = self.slots.len();
        let enrollment = match &self.config {
            JobConfig::Enrollment(c) => Some(c.clone()),
            JobConfig::Registration(_) => None,
        };
        let registration = match &self.config {
            JobConfig::Registration(c) => Some(c.clone()),
            JobConfig::Enrollment(_) => None,
        };
        let slot = self
            .slots
            .get_mut(index)
            .ok_or(JobError::NoSuchRequest { index, len })?;
        let request_id = slot.request_id.clone();
        let known = match &mut slot.state {
            State::Pending => return Err(JobError::NotStarted { index, request_id }),
            State::Done(_) => return Err(JobError::AlreadyDone { index, request_id }),
            State::Running { known, .. } => known,
        };
        let inconsistent = |why: String| JobError::Inconsistent {
            index,
            request_id: request_id.clone(),
            why,
        };
        let wrong_kind = || {
            inconsistent(format!(
                "outcome {} does not belong to a {}",
                outcome.name(),
                if enrollment.is_some() {
                    "speaker enrollment job"
                } else {
                    "fraudster registration job"
                }
            ))
        };
        let error = |code: u16, message: String| RequestResult::Error { code, message };
        let result = match &outcome {
            Outcome::Warning(message) => {
                let w = RequestWarning {
                    request_id: request_id.clone(),
                    message: message.clone(),
                };
                // A resumed request checks its files again: keep each warning once.
                if !self.warnings.contains(&w) {
                    self.warnings.push(w);
                }
                return Ok(Progress::Continue);
            }
            Outcome::SpeakerFound {
                generated_speaker_id,
                status,
            } => {
                let cfg = enrollment.as_ref().ok_or_else(wrong_kind)?;
                check_generated(generated_speaker_id).map_err(&inconsistent)?;
                if let Some((prev, _)) = &known.existing_speaker {
                    if prev != generated_speaker_id {
                        return Err(inconsistent(format!(
                            "SpeakerFound {generated_speaker_id} after SpeakerFound {prev}"
                        )));
                    }
                }
                known.existing_speaker = Some((generated_speaker_id.clone(), *status));
                match (status, cfg.existing_enrollment_action) {
                    (SpeakerStatus::OptedOut, _) => error(
                        ERROR_CONFLICT,
                        format!(
                            "speaker {generated_speaker_id} has opted out of voice authentication"
                        ),
                    ),
                    (SpeakerStatus::Enrolled, ExistingEnrollmentAction::Skip) => {
                        RequestResult::Enrolled {
                            generated_speaker_id: generated_speaker_id.clone(),
                            status: EnrollmentStatus::DuplicateSkipped,
                        }
                    }
                    _ => return Ok(Progress::Continue),
                }
            }
            Outcome::FraudRisk {
                risk_score,
                generated_fraudster_id,
            } => {
                let cfg = enrollment.as_ref().ok_or_else(wrong_kind)?;
                check_score("risk_score", *risk_score).map_err(&inconsistent)?;
                check_generated(generated_fraudster_id).map_err(&inconsistent)?;
                known.fraud_risk = Some((*risk_score, generated_fraudster_id.clone()));
                let fd = &cfg.fraud_detection_config;
                if fd.fraud_detection_action == FraudDetectionAction::Fail
                    && *risk_score >= fd.risk_threshold
                {
                    error(
                        ERROR_BAD_REQUEST,
                        format!(
                            "fraud check failed: risk score {risk_score} against fraudster {generated_fraudster_id} is at or above the risk threshold {}",
                            fd.risk_threshold
                        ),
                    )
                } else {
                    return Ok(Progress::Continue);
                }
            }
            Outcome::Enrolled {
                generated_speaker_id,
            } => {
                enrollment.as_ref().ok_or_else(wrong_kind)?;
                check_generated(generated_speaker_id).map_err(&inconsistent)?;
                let status = match &known.existing_speaker {
                    Some((prev, _)) if prev != generated_speaker_id => {
                        return Err(inconsistent(format!(
                            "Enrolled {generated_speaker_id}, but the speaker found is {prev}"
                        )))
                    }
                    Some((_, SpeakerStatus::Enrolled)) => EnrollmentStatus::EnrollmentOverwrite,
                    _ => EnrollmentStatus::NewEnrollment,
                };
                RequestResult::Enrolled {
                    generated_speaker_id: generated_speaker_id.clone(),
                    status,
                }
            }
            Outcome::ClosestFraudster {
                generated_fraudster_id,
                similarity_score,
            } => {
                let cfg = registration.as_ref().ok_or_else(wrong_kind)?;
                check_score("similarity_score", *similarity_score).map_err(&inconsistent)?;
                check_generated(generated_fraudster_id).map_err(&inconsistent)?;
                known.closest_fraudster = Some((generated_fraudster_id.clone(), *similarity_score));
                if cfg.duplicate_registration_action == DuplicateRegistrationAction::Skip
                    && *similarity_score >= cfg.fraudster_similarity_threshold
                {
                    RequestResult::Registered {
                        generated_fraudster_id: generated_fraudster_id.clone(),
                        status: RegistrationStatus::DuplicateSkipped,
                        similarity_score: Some(*similarity_score),
                    }
                } else {
                    return Ok(Progress::Continue);
                }
            }
            Outcome::Registered {
                generated_fraudster_id,
            } => {
                registration.as_ref().ok_or_else(wrong_kind)?;
                check_generated(generated_fraudster_id).map_err(&inconsistent)?;
                RequestResult::Registered {
                    generated_fraudster_id: generated_fraudster_id.clone(),
                    status: RegistrationStatus::NewRegistration,
                    similarity_score: known.closest_fraudster.as_ref().map(|c| c.1),
                }
            }
            Outcome::NotEnoughSpeech {
                net_speech_s,
                required_s,
            } => {
                if !(net_speech_s.is_finite()
                    && required_s.is_finite()
                    && net_speech_s < required_s)
                {
                    return Err(inconsistent(format!(
                        "NotEnoughSpeech with {net_speech_s} s of {required_s} s needed"
                    )));
                }
                error(
                    ERROR_BAD_REQUEST,
                    format!(
                        "not enough speech: {net_speech_s:.1} s of net speech, {required_s:.0} s needed"
                    ),
                )
            }
            Outcome::AudioError { file_index, reason } => {
                let files = match &slot.work {
                    Some(Work::Enroll(r)) => r.audio.len(),
                    Some(Work::Register(r)) => r.audio.len(),
                    None => 0,
                };
                if *file_index >= files {
                    return Err(inconsistent(format!(
                        "AudioError for file {file_index}, the request has {files}"
                    )));
                }
                error(
                    ERROR_BAD_REQUEST,
                    format!("AudioSpecifications[{file_index}]: {reason}"),
                )
            }
            Outcome::LimitExceeded { reason } => {
                error(ERROR_LIMIT, format!("limit exceeded: {reason}"))
            }
            Outcome::Internal { reason } => {
                error(ERROR_INTERNAL, format!("internal error: {reason}"))
            }
        };
        slot.state = State::Done(result.clone());
        if self.finished_count() == self.slots.len() {
            self.ended_at_ms.get_or_insert(now_ms);
        }
        Ok(Progress::Done(result))
    }

    /// The `.out` file, once every request is finished (COMPLETED or COMPLETED_WITH_ERRORS):
    /// Voice ID's shape, requests in manifest order.
    pub fn output(&self) -> Result<JobOutput, JobError> {
        let status = self.status();
        if !matches!(
            status,
            JobStatus::Completed | JobStatus::CompletedWithErrors
        ) {
            return Err(JobError::NotFinished { status });
        }
        let mut errors = Vec::new();
        let mut enrollments = Vec::new();
        let mut registrations = Vec::new();
        for s in &self.slots {
            let State::Done(r) = &s.state else {
                unreachable!("a completed job has only finished requests")
            };
            match r {
                RequestResult::Error { code, message } => errors.push(OutputError {
                    request_id: s.request_id.clone(),
                    error_code: *code,
                    error_message: message.clone(),
                }),
                RequestResult::Enrolled {
                    generated_speaker_id,
                    status,
                } => {
                    let Some(Work::Enroll(req)) = &s.work else {
                        unreachable!("an enrollment result belongs to an enrollment request")
                    };
                    enrollments.push(SuccessfulEnrollment {
                        request_id: s.request_id.clone(),
                        generated_speaker_id: generated_speaker_id.clone(),
                        customer_speaker_id: req.speaker_id.clone(),
                        enrollment_status: *status,
                    })
                }
                RequestResult::Registered {
                    generated_fraudster_id,
                    status,
                    similarity_score,
                } => registrations.push(SuccessfulRegistration {
                    request_id: s.request_id.clone(),
                    generated_fraudster_id: generated_fraudster_id.clone(),
                    registration_status: *status,
                    fraudster_similarity_score: *similarity_score,
                }),
            }
        }
        let version = MANIFEST_VERSION.to_string();
        Ok(match self.config {
            JobConfig::Enrollment(_) => JobOutput::Enrollment(EnrollmentOutput {
                version,
                errors,
                successful_enrollments: enrollments,
            }),
            JobConfig::Registration(_) => JobOutput::Registration(RegistrationOutput {
                version,
                errors,
                successful_registrations: registrations,
            }),
        })
    }

    /// The job as `DescribeSpeakerEnrollmentJob` / `DescribeFraudsterRegistrationJob` return
    /// it (`Job` / `FraudsterRegistrationJob`), from the request that started it.
    /// Timestamps are epoch seconds, as AWS's JSON protocol writes them.
    pub fn describe(&self, started_by: &StartJobRequest) -> JobDescription {
        let (enrollment_config, registration_config) = match &self.config {
            JobConfig::Enrollment(c) => (Some(c.clone()), None),
            JobConfig::Registration(c) => (None, Some(c.clone())),
        };
        JobDescription {
            job_id: self.job_id.clone(),
            job_name: started_by.job_name.clone(),
            domain_id: started_by.domain_id.clone(),
            job_status: self.status(),
            job_progress: JobProgress {
                percent_complete: self.percent_complete(),
            },
            failure_details: self.failure.clone(),
            input_data_config: DataConfig {
                s3_uri: started_by.input_uri.clone(),
            },
            output_data_config: DataConfig {
                s3_uri: started_by.output_dir.clone(),
            },
            enrollment_config,
            registration_config,
            created_at: self.created_at_ms as f64 / 1000.0,
            ended_at: self.ended_at_ms.map(|t| t as f64 / 1000.0),
        }
    }

    /// The job saved as JSON, to resume after a crash with [`Job::from_json`].
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a job always serialises")
    }

    /// A job saved with [`Job::to_json`]. Requests that were running go back to the queue
    /// (with what was recorded for them); finished ones stay finished.
    /// A state that does not hold together (edited by hand, or from another version) is an
    /// error naming the request, never a panic later.
    pub fn from_json(bytes: &[u8]) -> Result<Job, serde_json::Error> {
        use serde::de::Error;
        let job: Job = serde_json::from_slice(bytes)?;
        check_id("JobId", &job.job_id).map_err(serde_json::Error::custom)?;
        for (i, s) in job.slots.iter().enumerate() {
            if s.index != i {
                return Err(serde_json::Error::custom(format!(
                    "job state: request {i} is stored with index {}",
                    s.index
                )));
            }
            let kind_ok = match (&s.work, &job.config) {
                (None, _) => matches!(s.state, State::Done(_)),
                (Some(Work::Enroll(_)), JobConfig::Enrollment(_))
                | (Some(Work::Register(_)), JobConfig::Registration(_)) => true,
                _ => false,
            };
            if !kind_ok {
                return Err(serde_json::Error::custom(format!(
                    "job state: request {i} ({:?}) has no work of this job's kind",
                    s.request_id
                )));
            }
        }
        Ok(job)
    }
}

fn map_entry<R>(e: Entry<R>, work: fn(R) -> Work) -> Slot {
    let (work, state) = match e.request {
        Ok(r) => (Some(work(r)), State::Pending),
        Err(rej) => (
            None,
            State::Done(RequestResult::Error {
                code: rej.code,
                message: rej.message(),
            }),
        ),
    };
    Slot {
        index: e.index,
        request_id: e.request_id,
        work,
        state,
    }
}

fn check_generated(id: &str) -> Result<(), String> {
    match id.strip_prefix(GENERATED_ID_PREFIX) {
        Some(rest) if rest.len() == ID_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            check_speaker_id_str(id)
        }
        _ => Err(format!(
            "{id:?} is not a generated id ({GENERATED_ID_PREFIX} and {ID_LEN} letters or digits)"
        )),
    }
}

fn check_score(name: &str, v: u8) -> Result<(), String> {
    if v > MAX_SCORE {
        Err(format!("{name} {v} is above {MAX_SCORE}"))
    } else {
        Ok(())
    }
}

/// `JobProgress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobProgress {
    /// `PercentComplete` 0–100.
    pub percent_complete: u8,
}

/// `InputDataConfig` / `OutputDataConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataConfig {
    /// `S3Uri`: a path, `file://` or `s3://` URI.
    #[serde(rename = "S3Uri")]
    pub s3_uri: String,
}

/// A job as Voice ID's describe and list calls show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobDescription {
    /// `JobId`.
    pub job_id: String,
    /// `JobName`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub job_name: Option<String>,
    /// `DomainId`.
    pub domain_id: String,
    /// `JobStatus`.
    pub job_status: JobStatus,
    /// `JobProgress`.
    pub job_progress: JobProgress,
    /// `FailureDetails`, for a FAILED job.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failure_details: Option<FailureDetails>,
    /// `InputDataConfig`.
    pub input_data_config: DataConfig,
    /// `OutputDataConfig`.
    pub output_data_config: DataConfig,
    /// `EnrollmentConfig`, for an enrollment job.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub enrollment_config: Option<EnrollmentConfig>,
    /// `RegistrationConfig`, for a registration job.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub registration_config: Option<RegistrationConfig>,
    /// `CreatedAt`, epoch seconds.
    pub created_at: f64,
    /// `EndedAt`, epoch seconds, once ended.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ended_at: Option<f64>,
}

/// One failed request in the `.out` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct OutputError {
    /// `RequestId`.
    pub request_id: String,
    /// `ErrorCode`: 400, 402, 409, 500.
    pub error_code: u16,
    /// `ErrorMessage`.
    pub error_message: String,
}

/// One successful enrollment in the `.out` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SuccessfulEnrollment {
    /// `RequestId`.
    pub request_id: String,
    /// `GeneratedSpeakerId`.
    pub generated_speaker_id: String,
    /// `CustomerSpeakerId`: the manifest's `SpeakerId`.
    pub customer_speaker_id: String,
    /// `EnrollmentStatus`.
    pub enrollment_status: EnrollmentStatus,
}

/// One successful registration in the `.out` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SuccessfulRegistration {
    /// `RequestId`.
    pub request_id: String,
    /// `GeneratedFraudsterId`.
    pub generated_fraudster_id: String,
    /// `RegistrationStatus`.
    pub registration_status: RegistrationStatus,
    /// `FraudsterSimilarityScore` (absent when the watchlist had no fraudster to compare).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fraudster_similarity_score: Option<u8>,
}

/// A speaker enrollment job's `.out` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EnrollmentOutput {
    /// `Version` ("1.0").
    pub version: String,
    /// `Errors`.
    pub errors: Vec<OutputError>,
    /// `SuccessfulEnrollments`.
    pub successful_enrollments: Vec<SuccessfulEnrollment>,
}

/// A fraudster registration job's `.out` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RegistrationOutput {
    /// `Version` ("1.0").
    pub version: String,
    /// `Errors`.
    pub errors: Vec<OutputError>,
    /// `SuccessfulRegistrations`.
    pub successful_registrations: Vec<SuccessfulRegistration>,
}

/// A job's `.out` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JobOutput {
    /// Of an enrollment job.
    Enrollment(EnrollmentOutput),
    /// Of a registration job.
    Registration(RegistrationOutput),
}

impl JobOutput {
    /// The file's bytes: pretty JSON, as Voice ID writes it, with a final newline.
    pub fn to_json_pretty(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("an output always serialises");
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{parse_enrollment_manifest, parse_registration_manifest};
    use serde_json::json;
    use std::collections::HashMap;

    const JOB: &str = "J0b1234567890abcdefGHI";

    fn gid(n: usize) -> String {
        format!("id#{:0>22}", n)
    }

    fn manifest(n: usize) -> EnrollmentManifest {
        let reqs: Vec<_> = (0..n)
            .map(|i| {
                json!({"RequestId": format!("r{i}"), "SpeakerId": format!("cust-{i}"),
                       "AudioSpecifications": [{"S3Uri": format!("s3://bucket/a{i}.wav"), "ChannelId": 0}]})
            })
            .collect();
        let m = json!({"Version": "1.0", "SpeakerEnrollmentRequests": reqs});
        parse_enrollment_manifest(m.to_string().as_bytes()).unwrap()
    }

    fn job(n: usize, cfg: EnrollmentConfig) -> Job {
        Job::enrollment(JOB, manifest(n), cfg, 1_000).unwrap()
    }

    #[test]
    fn ids_are_22_alphanumerics_and_unbiased_source_is_used() {
        let mut state = 7u64;
        let mut fill = |b: &mut [u8]| {
            for x in b {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                *x = (state >> 56) as u8;
            }
        };
        let a = random_id(&mut fill);
        let b = random_id(&mut fill);
        assert_eq!(a.len(), 22);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        check_id("JobId", &a).unwrap();
        let g = generated_id(&mut fill);
        assert!(g.starts_with("id#") && g.len() == 25);
        check_generated(&g).unwrap();
        // Bytes at or above 248 are never used: an all-0xff source then 0 gives all 'A'.
        let mut calls = 0;
        let id = random_id(|b: &mut [u8]| {
            calls += 1;
            b.fill(if calls == 1 { 0xff } else { 0 })
        });
        assert_eq!(id, "A".repeat(22));
        assert_eq!(calls, 2);
    }

    #[test]
    fn new_requests_enroll_and_the_job_completes() {
        let mut j = job(3, EnrollmentConfig::default());
        assert_eq!(j.status(), JobStatus::Submitted);
        assert_eq!(j.percent_complete(), 0);
        let t = j.start_next().unwrap();
        assert_eq!(t.index, 0);
        assert_eq!(j.status(), JobStatus::InProgress);
        let Work::Enroll(r) = &t.work else { panic!() };
        assert_eq!(r.speaker_id, "cust-0");
        assert_eq!(
            j.record(
                0,
                Outcome::FraudRisk {
                    risk_score: 10,
                    generated_fraudster_id: gid(9)
                },
                5
            )
            .unwrap(),
            Progress::Continue
        );
        let p = j
            .record(
                0,
                Outcome::Enrolled {
                    generated_speaker_id: gid(0),
                },
                5,
            )
            .unwrap();
        assert_eq!(
            p,
            Progress::Done(RequestResult::Enrolled {
                generated_speaker_id: gid(0),
                status: EnrollmentStatus::NewEnrollment
            })
        );
        assert_eq!(j.percent_complete(), 33);
        assert!(matches!(
            j.output(),
            Err(JobError::NotFinished {
                status: JobStatus::InProgress
            })
        ));
        for i in 1..3 {
            let t = j.start_next().unwrap();
            assert_eq!(t.index, i);
            j.record(
                i,
                Outcome::Enrolled {
                    generated_speaker_id: gid(i),
                },
                9,
            )
            .unwrap();
        }
        assert!(j.start_next().is_none());
        assert_eq!(j.status(), JobStatus::Completed);
        assert_eq!(j.percent_complete(), 100);
        assert_eq!(j.ended_at_ms(), Some(9));
        let out = serde_json::to_value(j.output().unwrap()).unwrap();
        assert_eq!(
            out,
            json!({"Version": "1.0", "Errors": [], "SuccessfulEnrollments": [
                {"RequestId": "r0", "GeneratedSpeakerId": gid(0), "CustomerSpeakerId": "cust-0", "EnrollmentStatus": "NEW_ENROLLMENT"},
                {"RequestId": "r1", "GeneratedSpeakerId": gid(1), "CustomerSpeakerId": "cust-1", "EnrollmentStatus": "NEW_ENROLLMENT"},
                {"RequestId": "r2", "GeneratedSpeakerId": gid(2), "CustomerSpeakerId": "cust-2", "EnrollmentStatus": "NEW_ENROLLMENT"}]})
        );
        // Key order in the file is Voice ID's.
        let text = j.output().unwrap().to_json_pretty();
        let v = text.find("\"Version\"").unwrap();
        let e = text.find("\"Errors\"").unwrap();
        let s = text.find("\"SuccessfulEnrollments\"").unwrap();
        assert!(v < e && e < s, "{text}");
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn existing_enrollments_follow_skip_or_overwrite() {
        let found = |status| Outcome::SpeakerFound {
            generated_speaker_id: gid(5),
            status,
        };
        let mut j = job(4, EnrollmentConfig::default());
        for _ in 0..4 {
            j.start_next().unwrap();
        }
        assert_eq!(
            j.record(0, found(SpeakerStatus::Enrolled), 1).unwrap(),
            Progress::Done(RequestResult::Enrolled {
                generated_speaker_id: gid(5),
                status: EnrollmentStatus::DuplicateSkipped
            })
        );
        let Progress::Done(RequestResult::Error { code, message }) =
            j.record(1, found(SpeakerStatus::OptedOut), 1).unwrap()
        else {
            panic!()
        };
        assert_eq!(code, 409);
        assert!(message.contains("opted out"), "{message}");
        // Expired and pending speakers enroll anew.
        assert_eq!(
            j.record(2, found(SpeakerStatus::Expired), 1).unwrap(),
            Progress::Continue
        );
        assert_eq!(
            j.record(
                2,
                Outcome::Enrolled {
                    generated_speaker_id: gid(5)
                },
                1
            )
            .unwrap(),
            Progress::Done(RequestResult::Enrolled {
                generated_speaker_id: gid(5),
                status: EnrollmentStatus::NewEnrollment
            })
        );
        assert_eq!(
            j.record(3, found(SpeakerStatus::Pending), 1).unwrap(),
            Progress::Continue
        );

        let mut j = job(
            2,
            EnrollmentConfig {
                existing_enrollment_action: ExistingEnrollmentAction::Overwrite,
                ..Default::default()
            },
        );
        j.start_next().unwrap();
        j.start_next().unwrap();
        assert_eq!(
            j.record(0, found(SpeakerStatus::Enrolled), 1).unwrap(),
            Progress::Continue
        );
        assert_eq!(
            j.record(
                0,
                Outcome::Enrolled {
                    generated_speaker_id: gid(5)
                },
                1
            )
            .unwrap(),
            Progress::Done(RequestResult::Enrolled {
                generated_speaker_id: gid(5),
                status: EnrollmentStatus::EnrollmentOverwrite
            })
        );
        // Overwriting under another id than the one found is a shell bug.
        j.record(1, found(SpeakerStatus::Enrolled), 1).unwrap();
        let e = j
            .record(
                1,
                Outcome::Enrolled {
                    generated_speaker_id: gid(6),
                },
                1,
            )
            .unwrap_err();
        assert!(matches!(e, JobError::Inconsistent { index: 1, .. }), "{e}");
        // Opted out wins over OVERWRITE.
        let mut j = job(
            1,
            EnrollmentConfig {
                existing_enrollment_action: ExistingEnrollmentAction::Overwrite,
                ..Default::default()
            },
        );
        j.start_next().unwrap();
        assert!(matches!(
            j.record(0, found(SpeakerStatus::OptedOut), 1).unwrap(),
            Progress::Done(RequestResult::Error { code: 409, .. })
        ));
    }

    #[test]
    fn fraud_check_fails_or_ignores_at_the_threshold() {
        let risk = |s| Outcome::FraudRisk {
            risk_score: s,
            generated_fraudster_id: gid(77),
        };
        let cfg = |action, t| EnrollmentConfig {
            fraud_detection_config: FraudDetectionConfig {
                fraud_detection_action: action,
                risk_threshold: t,
                watchlist_ids: vec![],
            },
            ..Default::default()
        };
        let mut j = job(3, cfg(FraudDetectionAction::Fail, 60));
        for _ in 0..3 {
            j.start_next();
        }
        assert_eq!(j.record(0, risk(59), 1).unwrap(), Progress::Continue);
        let Progress::Done(RequestResult::Error { code, message }) =
            j.record(1, risk(60), 1).unwrap()
        else {
            panic!()
        };
        assert_eq!(code, 400);
        assert!(
            message.contains("fraud check failed") && message.contains(&gid(77)),
            "{message}"
        );
        assert!(matches!(
            j.record(2, risk(100), 1).unwrap(),
            Progress::Done(RequestResult::Error { code: 400, .. })
        ));
        assert!(matches!(
            j.record(0, risk(101), 1).unwrap_err(),
            JobError::Inconsistent { .. }
        ));

        let mut j = job(1, cfg(FraudDetectionAction::Ignore, 0));
        j.start_next();
        assert_eq!(j.record(0, risk(100), 1).unwrap(), Progress::Continue);
        assert!(matches!(
            j.record(
                0,
                Outcome::Enrolled {
                    generated_speaker_id: gid(1)
                },
                1
            )
            .unwrap(),
            Progress::Done(RequestResult::Enrolled { .. })
        ));
        // Default config: FAIL at 50.
        let d = EnrollmentConfig::default().fraud_detection_config;
        assert_eq!(
            (d.fraud_detection_action, d.risk_threshold),
            (FraudDetectionAction::Fail, 50)
        );
    }

    #[test]
    fn every_error_code_reaches_the_output_file() {
        let text = r#"{"Version":"1.0","SpeakerEnrollmentRequests":[
            {"RequestId":"a","SpeakerId":"s-a","AudioSpecifications":[{"S3Uri":"a.wav"}]},
            {"RequestId":"b","SpeakerId":"s-b","AudioSpecifications":[{"S3Uri":"b.wav"},{"S3Uri":"b2.wav"}]},
            {"RequestId":"c","SpeakerId":"s-c","AudioSpecifications":[{"S3Uri":"c.wav"}]},
            {"RequestId":"d","SpeakerId":"s-d","AudioSpecifications":[{"S3Uri":"d.wav"}]},
            {"RequestId":"e","SpeakerId":"bad id","AudioSpecifications":[{"S3Uri":"e.wav"}]},
            {"RequestId":"f","SpeakerId":"s-f","AudioSpecifications":[{"S3Uri":"f.wav"}]}]}"#;
        let m = parse_enrollment_manifest(text.as_bytes()).unwrap();
        let mut j = Job::enrollment(JOB, m, EnrollmentConfig::default(), 0).unwrap();
        assert_eq!(
            j.finished_count(),
            1,
            "the bad SpeakerId is finished at once"
        );
        assert_eq!(j.status(), JobStatus::Submitted);
        let mut order = vec![];
        while let Some(t) = j.start_next() {
            order.push(t.index);
        }
        assert_eq!(order, vec![0, 1, 2, 3, 5]);
        j.record(
            0,
            Outcome::NotEnoughSpeech {
                net_speech_s: 12.34,
                required_s: 30.0,
            },
            1,
        )
        .unwrap();
        assert!(
            j.record(
                1,
                Outcome::AudioError {
                    file_index: 2,
                    reason: "x".into()
                },
                1
            )
            .is_err(),
            "file 2 does not exist"
        );
        j.record(1, Outcome::Warning("b.wav: 16000 Hz, resampled".into()), 1)
            .unwrap();
        j.record(
            1,
            Outcome::AudioError {
                file_index: 1,
                reason: "not a WAV file".into(),
            },
            1,
        )
        .unwrap();
        j.record(
            2,
            Outcome::LimitExceeded {
                reason: "domain holds 100000 speakers".into(),
            },
            1,
        )
        .unwrap();
        j.record(
            3,
            Outcome::Internal {
                reason: "store unavailable".into(),
            },
            1,
        )
        .unwrap();
        assert!(
            j.record(
                5,
                Outcome::NotEnoughSpeech {
                    net_speech_s: 31.0,
                    required_s: 30.0
                },
                1
            )
            .is_err(),
            "31 s is enough"
        );
        j.record(
            5,
            Outcome::Enrolled {
                generated_speaker_id: gid(5),
            },
            2,
        )
        .unwrap();
        assert_eq!(j.status(), JobStatus::CompletedWithErrors);
        assert_eq!(
            j.warnings(),
            &[RequestWarning {
                request_id: "b".into(),
                message: "b.wav: 16000 Hz, resampled".into()
            }]
        );
        let out = j.output().unwrap();
        let JobOutput::Enrollment(o) = &out else {
            panic!()
        };
        let codes: Vec<_> = o
            .errors
            .iter()
            .map(|e| (e.request_id.as_str(), e.error_code))
            .collect();
        assert_eq!(
            codes,
            vec![("a", 400), ("b", 400), ("c", 402), ("d", 500), ("e", 400)]
        );
        assert_eq!(
            o.errors[0].error_message,
            "not enough speech: 12.3 s of net speech, 30 s needed"
        );
        assert_eq!(
            o.errors[1].error_message,
            "AudioSpecifications[1]: not a WAV file"
        );
        assert!(
            o.errors[4].error_message.starts_with("SpeakerId:"),
            "{}",
            o.errors[4].error_message
        );
        assert_eq!(o.successful_enrollments.len(), 1);
        // The file parses back with the strict schema (no unknown or missing keys).
        let back: EnrollmentOutput = serde_json::from_str(&out.to_json_pretty()).unwrap();
        assert_eq!(&back, o);
    }

    #[test]
    fn the_state_machine_refuses_misuse() {
        let mut j = job(2, EnrollmentConfig::default());
        let e = j
            .record(
                0,
                Outcome::Enrolled {
                    generated_speaker_id: gid(0),
                },
                1,
            )
            .unwrap_err();
        assert!(matches!(e, JobError::NotStarted { index: 0, .. }), "{e}");
        assert!(matches!(
            j.record(9, Outcome::Internal { reason: "x".into() }, 1),
            Err(JobError::NoSuchRequest { index: 9, len: 2 })
        ));
        j.start_next();
        assert!(
            j.record(
                0,
                Outcome::Enrolled {
                    generated_speaker_id: "cust-0".into()
                },
                1
            )
            .is_err(),
            "not a generated id"
        );
        assert!(
            j.record(
                0,
                Outcome::Registered {
                    generated_fraudster_id: gid(0)
                },
                1
            )
            .is_err(),
            "wrong job kind"
        );
        j.record(
            0,
            Outcome::Enrolled {
                generated_speaker_id: gid(0),
            },
            1,
        )
        .unwrap();
        let e = j
            .record(
                0,
                Outcome::Enrolled {
                    generated_speaker_id: gid(0),
                },
                1,
            )
            .unwrap_err();
        assert!(matches!(e, JobError::AlreadyDone { index: 0, .. }), "{e}");
        // Bad config and job ids.
        let bad = EnrollmentConfig {
            fraud_detection_config: FraudDetectionConfig {
                risk_threshold: 101,
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(Job::enrollment(JOB, manifest(1), bad, 0)
            .unwrap_err()
            .to_string()
            .contains("RiskThreshold"));
        assert!(Job::enrollment("short", manifest(1), EnrollmentConfig::default(), 0).is_err());
        let two = EnrollmentConfig {
            fraud_detection_config: FraudDetectionConfig {
                watchlist_ids: vec![JOB.into(), JOB.into()],
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(Job::enrollment(JOB, manifest(1), two, 0)
            .unwrap_err()
            .to_string()
            .contains("WatchlistIds"));
    }

    #[test]
    fn fraudster_registration_skips_duplicates() {
        let text = r#"{"Version":"1.0","FraudsterRegistrationRequests":[
            {"RequestId":"f0","AudioSpecifications":[{"S3Uri":"s3://bkt/f0.wav"}]},
            {"RequestId":"f1","AudioSpecifications":[{"S3Uri":"s3://bkt/f1.wav"}]},
            {"RequestId":"f2","AudioSpecifications":[{"S3Uri":"s3://bkt/f2.wav"}]}]}"#;
        let m = parse_registration_manifest(text.as_bytes()).unwrap();
        let cfg = RegistrationConfig {
            fraudster_similarity_threshold: 80,
            ..Default::default()
        };
        let mut j = Job::registration(JOB, m.clone(), cfg, 0).unwrap();
        for _ in 0..3 {
            j.start_next();
        }
        let closest = |s| Outcome::ClosestFraudster {
            generated_fraudster_id: gid(40),
            similarity_score: s,
        };
        assert!(matches!(
            j.record(0, closest(80), 1).unwrap(),
            Progress::Done(_)
        ));
        assert_eq!(j.record(1, closest(79), 1).unwrap(), Progress::Continue);
        j.record(
            1,
            Outcome::Registered {
                generated_fraudster_id: gid(41),
            },
            1,
        )
        .unwrap();
        j.record(
            2,
            Outcome::Registered {
                generated_fraudster_id: gid(42),
            },
            1,
        )
        .unwrap();
        assert!(j
            .record(
                2,
                Outcome::Enrolled {
                    generated_speaker_id: gid(1)
                },
                1
            )
            .is_err());
        let out = serde_json::to_value(j.output().unwrap()).unwrap();
        assert_eq!(
            out,
            json!({"Version": "1.0", "Errors": [], "SuccessfulRegistrations": [
                {"RequestId": "f0", "GeneratedFraudsterId": gid(40), "RegistrationStatus": "DUPLICATE_SKIPPED", "FraudsterSimilarityScore": 80},
                {"RequestId": "f1", "GeneratedFraudsterId": gid(41), "RegistrationStatus": "NEW_REGISTRATION", "FraudsterSimilarityScore": 79},
                {"RequestId": "f2", "GeneratedFraudsterId": gid(42), "RegistrationStatus": "NEW_REGISTRATION"}]})
        );
        // REGISTER_AS_NEW registers even an exact match.
        let cfg = RegistrationConfig {
            duplicate_registration_action: DuplicateRegistrationAction::RegisterAsNew,
            ..Default::default()
        };
        let mut j = Job::registration(JOB, m, cfg, 0).unwrap();
        j.start_next();
        assert_eq!(j.record(0, closest(100), 1).unwrap(), Progress::Continue);
    }

    #[test]
    fn a_failed_manifest_fails_the_job() {
        let err = parse_enrollment_manifest(b"{nope").unwrap_err();
        let mut j = Job::failed(JOB, JobConfig::Enrollment(Default::default()), &err, 3).unwrap();
        assert_eq!(j.status(), JobStatus::Failed);
        assert_eq!(j.failure().unwrap().status_code, 400);
        assert!(
            j.failure().unwrap().message.contains("byte 1"),
            "{:?}",
            j.failure()
        );
        assert!(j.start_next().is_none());
        assert!(matches!(
            j.output(),
            Err(JobError::NotFinished {
                status: JobStatus::Failed
            })
        ));
        assert_eq!(
            serde_json::to_value(j.failure()).unwrap()["StatusCode"],
            400
        );
        // A job failed midway hands out no more work.
        let mut j = job(2, EnrollmentConfig::default());
        j.start_next();
        j.fail(500, "disk full", 4);
        assert_eq!(j.status(), JobStatus::Failed);
        assert!(j.start_next().is_none());
    }

    /// A simulated shell with a store: enrolls speakers and counts each enrollment.
    fn drive(
        j: &mut Job,
        store: &mut HashMap<String, String>,
        enrolled: &mut HashMap<usize, usize>,
        stop_after: Option<usize>,
    ) {
        let mut n = 0;
        while let Some(t) = j.start_next() {
            if stop_after == Some(n) {
                return; // crash: this request was handed out and never finished
            }
            n += 1;
            let Work::Enroll(r) = t.work else { panic!() };
            if t.known.existing_speaker.is_none() {
                if let Some(g) = store.get(&r.speaker_id) {
                    let p = j
                        .record(
                            t.index,
                            Outcome::SpeakerFound {
                                generated_speaker_id: g.clone(),
                                status: SpeakerStatus::Enrolled,
                            },
                            1,
                        )
                        .unwrap();
                    if matches!(p, Progress::Done(_)) {
                        continue;
                    }
                }
            }
            let g = gid(t.index);
            *enrolled.entry(t.index).or_default() += 1;
            store.insert(r.speaker_id.clone(), g.clone());
            j.record(
                t.index,
                Outcome::Enrolled {
                    generated_speaker_id: g,
                },
                1,
            )
            .unwrap();
        }
    }

    #[test]
    fn a_crashed_job_resumes_doing_every_request_exactly_once() {
        let mut j = job(10, EnrollmentConfig::default());
        let mut store = HashMap::new();
        let mut enrolled = HashMap::new();
        // Half the work, then one request handed out and lost in the crash.
        drive(&mut j, &mut store, &mut enrolled, Some(5));
        assert_eq!(j.finished_count(), 5);
        assert_eq!(j.percent_complete(), 50);
        let saved = j.to_json();
        drop(j);
        let mut j = Job::from_json(saved.as_bytes()).unwrap();
        assert_eq!(j.status(), JobStatus::InProgress);
        // The lost request comes first after the resume.
        drive(&mut j, &mut store, &mut enrolled, None);
        assert_eq!(j.status(), JobStatus::Completed);
        assert_eq!(enrolled.len(), 10);
        assert!(enrolled.values().all(|&n| n == 1), "{enrolled:?}");
        let JobOutput::Enrollment(o) = j.output().unwrap() else {
            panic!()
        };
        assert_eq!(o.successful_enrollments.len(), 10);
        assert!(o
            .successful_enrollments
            .iter()
            .all(|e| e.enrollment_status == EnrollmentStatus::NewEnrollment));
        let ids: Vec<_> = o
            .successful_enrollments
            .iter()
            .map(|e| e.request_id.clone())
            .collect();
        assert_eq!(ids, (0..10).map(|i| format!("r{i}")).collect::<Vec<_>>());
    }

    #[test]
    fn an_inconsistent_saved_state_is_refused() {
        let j = job(2, EnrollmentConfig::default());
        let mut v: serde_json::Value = serde_json::from_str(&j.to_json()).unwrap();
        v["slots"][1]["index"] = json!(0);
        let e = Job::from_json(v.to_string().as_bytes()).unwrap_err();
        assert!(
            e.to_string().contains("request 1 is stored with index 0"),
            "{e}"
        );
        let mut v: serde_json::Value = serde_json::from_str(&j.to_json()).unwrap();
        v["slots"][0]["work"] = json!(null);
        let e = Job::from_json(v.to_string().as_bytes()).unwrap_err();
        assert!(e.to_string().contains("request 0"), "{e}");
        assert!(Job::from_json(j.to_json().as_bytes()).is_ok());
        assert!(Job::from_json(b"{").is_err());
    }

    #[test]
    fn a_resumed_request_keeps_its_recorded_facts() {
        let mut j = job(
            1,
            EnrollmentConfig {
                existing_enrollment_action: ExistingEnrollmentAction::Overwrite,
                ..Default::default()
            },
        );
        j.start_next();
        j.record(
            0,
            Outcome::SpeakerFound {
                generated_speaker_id: gid(3),
                status: SpeakerStatus::Enrolled,
            },
            1,
        )
        .unwrap();
        j.record(0, Outcome::Warning("w".into()), 1).unwrap();
        // Running and claimed: not handed out twice in the same process.
        assert!(j.start_next().is_none());
        let mut j = Job::from_json(j.to_json().as_bytes()).unwrap();
        let t = j.start_next().unwrap();
        assert_eq!(
            t.known.existing_speaker,
            Some((gid(3), SpeakerStatus::Enrolled))
        );
        j.record(0, Outcome::Warning("w".into()), 1).unwrap();
        assert_eq!(j.warnings().len(), 1, "a repeated warning is kept once");
        assert_eq!(
            j.record(
                0,
                Outcome::Enrolled {
                    generated_speaker_id: gid(3)
                },
                1
            )
            .unwrap(),
            Progress::Done(RequestResult::Enrolled {
                generated_speaker_id: gid(3),
                status: EnrollmentStatus::EnrollmentOverwrite
            })
        );
    }

    #[test]
    fn output_path_is_dir_job_id_manifest_name() {
        assert_eq!(
            output_path("s3://out-bkt/results/", JOB, "s3://in-bkt/jobs/m.json").unwrap(),
            format!("s3://out-bkt/results/{JOB}/m.json.out")
        );
        assert_eq!(
            output_path("/var/out", JOB, "/data/batch 1.json").unwrap(),
            format!("/var/out/{JOB}/batch 1.json.out")
        );
        assert_eq!(
            output_path("out//", JOB, "file:///x/m.json").unwrap(),
            format!("out/{JOB}/m.json.out")
        );
        assert_eq!(
            output_path("/", JOB, "m.json").unwrap(),
            format!("/{JOB}/m.json.out")
        );
        assert!(output_path("", JOB, "m.json").is_err());
        assert!(output_path("/o", "bad", "m.json").is_err());
        assert!(output_path("/o", JOB, "s3://bucket/").is_err());
    }

    #[test]
    fn client_tokens_make_start_idempotent() {
        let req = StartJobRequest {
            domain_id: "D0main0123456789abcdef".into(),
            job_name: Some("nightly".into()),
            client_token: Some("tok-1_A".into()),
            input_uri: "s3://in-bkt/m.json".into(),
            output_dir: "s3://out-bkt/".into(),
            config: JobConfig::Enrollment(EnrollmentConfig::default()),
        };
        req.validate().unwrap();
        assert_eq!(req.idempotent_with(&req.clone()), Ok(()));
        let other = StartJobRequest {
            config: JobConfig::Enrollment(EnrollmentConfig {
                existing_enrollment_action: ExistingEnrollmentAction::Overwrite,
                ..Default::default()
            }),
            ..req.clone()
        };
        assert_eq!(
            other.idempotent_with(&req),
            Err(JobError::IdempotencyConflict {
                client_token: "tok-1_A".into()
            })
        );
        for bad in ["", "has space", &"x".repeat(65)] {
            assert!(check_client_token(bad).is_err(), "{bad:?}");
        }
        check_client_token(&"x".repeat(64)).unwrap();
        let bad = StartJobRequest {
            domain_id: "nope".into(),
            ..req.clone()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("DomainId"));
        let bad = StartJobRequest {
            input_uri: "ftp://x/m.json".into(),
            ..req.clone()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("InputDataConfig"));
        let bad = StartJobRequest {
            output_dir: "s3://Bad_Bucket".into(),
            ..req.clone()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("OutputDataConfig"));
        StartJobRequest {
            output_dir: "s3://out-bkt".into(),
            ..req
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn describe_has_voice_id_job_shape() {
        let req = StartJobRequest {
            domain_id: "D0main0123456789abcdef".into(),
            job_name: Some("nightly".into()),
            client_token: None,
            input_uri: "s3://in-bkt/m.json".into(),
            output_dir: "/out".into(),
            config: JobConfig::Enrollment(EnrollmentConfig::default()),
        };
        let mut j = job(2, EnrollmentConfig::default());
        j.start_next();
        j.record(
            0,
            Outcome::Enrolled {
                generated_speaker_id: gid(0),
            },
            1_500,
        )
        .unwrap();
        let d = serde_json::to_value(j.describe(&req)).unwrap();
        assert_eq!(
            d,
            json!({"JobId": JOB, "JobName": "nightly", "DomainId": "D0main0123456789abcdef",
                   "JobStatus": "IN_PROGRESS", "JobProgress": {"PercentComplete": 50},
                   "InputDataConfig": {"S3Uri": "s3://in-bkt/m.json"}, "OutputDataConfig": {"S3Uri": "/out"},
                   "EnrollmentConfig": {"ExistingEnrollmentAction": "SKIP",
                       "FraudDetectionConfig": {"FraudDetectionAction": "FAIL", "RiskThreshold": 50, "WatchlistIds": []}},
                   "CreatedAt": 1.0})
        );
        j.start_next();
        j.record(1, Outcome::Internal { reason: "x".into() }, 2_500)
            .unwrap();
        let d = j.describe(&req);
        assert_eq!(
            (d.job_status, d.ended_at),
            (JobStatus::CompletedWithErrors, Some(2.5))
        );
    }

    #[test]
    fn configs_read_voice_id_json() {
        let c: EnrollmentConfig = serde_json::from_value(json!({
            "ExistingEnrollmentAction": "OVERWRITE",
            "FraudDetectionConfig": {"FraudDetectionAction": "IGNORE", "RiskThreshold": 70, "WatchlistIds": ["W0000000000000000000aa"]}
        })).unwrap();
        assert_eq!(
            c.existing_enrollment_action,
            ExistingEnrollmentAction::Overwrite
        );
        assert_eq!(
            c.fraud_detection_config.fraud_detection_action,
            FraudDetectionAction::Ignore
        );
        assert_eq!(c.fraud_detection_config.risk_threshold, 70);
        let d: EnrollmentConfig = serde_json::from_value(json!({})).unwrap();
        assert_eq!(d, EnrollmentConfig::default());
        let r: RegistrationConfig =
            serde_json::from_value(json!({"DuplicateRegistrationAction": "REGISTER_AS_NEW"}))
                .unwrap();
        assert_eq!(
            r.duplicate_registration_action,
            DuplicateRegistrationAction::RegisterAsNew
        );
        assert_eq!(r.fraudster_similarity_threshold, 50);
        assert!(serde_json::from_value::<EnrollmentConfig>(
            json!({"ExistingEnrollmentAction": "MERGE"})
        )
        .is_err());
        assert!(serde_json::from_value::<EnrollmentConfig>(json!({"Typo": 1})).is_err());
        assert_eq!(
            serde_json::to_value(JobStatus::CompletedWithErrors).unwrap(),
            "COMPLETED_WITH_ERRORS"
        );
    }
}
