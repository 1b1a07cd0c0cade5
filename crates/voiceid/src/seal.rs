//! Voiceprints encrypted at rest: AES-256-GCM, a random 96-bit nonce per seal, the speaker id
//! as authenticated additional data (a voiceprint copied onto another speaker's row does not
//! open).
//!
//! The key is 64 hex digits (32 bytes) from the `TYMPAN_VOICEPRINT_KEY` environment variable or
//! from the file named by the `voiceprint_key_file` setting. This module reads neither: the
//! shell passes the variable's value and the file's path and contents to
//! [`VoiceprintKey::resolve`], which refuses to go on without a key, with a message saying how
//! to make one.
//!
//! Sealed layout: `b"TVP"`, format version `1`, the 12-byte nonce, the ciphertext (the
//! embedding's f32 values, little-endian) and the 16-byte GCM tag. Random nonces keep the
//! chance of a repeat negligible for far more seals than a store holds (NIST allows 2^32 per
//! key).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use std::fmt;

/// The environment variable the shell reads the key from.
pub const KEY_ENV: &str = "TYMPAN_VOICEPRINT_KEY";
/// The config setting naming a key file.
pub const KEY_FILE_SETTING: &str = "voiceprint_key_file";
/// Hex digits in a key (32 bytes: AES-256).
pub const KEY_HEX_LEN: usize = 64;
/// Key bytes.
pub const KEY_LEN: usize = 32;
/// Nonce bytes (GCM's 96-bit nonce).
pub const NONCE_LEN: usize = 12;
/// Authentication tag bytes.
pub const TAG_LEN: usize = 16;
/// The first bytes of a sealed voiceprint: `TVP` and the format version 1.
pub const MAGIC: [u8; 4] = *b"TVP\x01";
/// Bytes a seal adds to the plaintext.
pub const OVERHEAD: usize = MAGIC.len() + NONCE_LEN + TAG_LEN;

/// Why a key could not be had or a voiceprint not sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Neither the environment variable nor a key file gave a key.
    #[error(
        "voice biometrics needs a voiceprint key: set {KEY_ENV} to 64 hex digits or name a file \
         holding them with the {KEY_FILE_SETTING} setting (make one with `openssl rand -hex 32`)"
    )]
    NoKey,
    /// Both sources gave a key and they differ.
    #[error("{KEY_ENV} and the key file {path} hold different keys: keep one")]
    Conflict {
        /// The key file.
        path: String,
    },
    /// The key is not 64 hex digits long.
    #[error(
        "voiceprint key from {source_name}: {found} characters, {KEY_HEX_LEN} hex digits expected"
    )]
    KeyLength {
        /// `TYMPAN_VOICEPRINT_KEY` or the file's path.
        source_name: String,
        /// Characters found (surrounding whitespace not counted).
        found: usize,
    },
    /// The key has a character that is not a hex digit.
    #[error("voiceprint key from {source_name}: character {position} is not a hex digit")]
    KeyHex {
        /// `TYMPAN_VOICEPRINT_KEY` or the file's path.
        source_name: String,
        /// 0-based position of the character (the character itself is not repeated).
        position: usize,
    },
    /// The bytes are not a sealed voiceprint of this format.
    #[error("sealed voiceprint: {0}")]
    Format(String),
    /// Authentication failed: the bytes were changed, sealed for another speaker id or with
    /// another key.
    #[error(
        "sealed voiceprint failed authentication: altered, sealed for another speaker than \
         {speaker_id:?}, or sealed with another key"
    )]
    Authentication {
        /// The speaker id it was opened for.
        speaker_id: String,
    },
    /// No nonce could be drawn.
    #[error("no random nonce: {0}")]
    Nonce(String),
}

/// A 32-byte AES-256 key. Its `Debug` shows nothing of it; it is zeroed when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct VoiceprintKey([u8; KEY_LEN]);

impl fmt::Debug for VoiceprintKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VoiceprintKey(<redacted>)")
    }
}

impl Drop for VoiceprintKey {
    fn drop(&mut self) {
        for b in &mut self.0 {
            // SAFETY: `b` is a valid, aligned, exclusive reference to a byte.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

/// A key file as the shell read it: its path (for messages) and contents.
#[derive(Debug, Clone, Copy)]
pub struct KeyFile<'a> {
    /// The file's path.
    pub path: &'a str,
    /// Its bytes.
    pub contents: &'a [u8],
}

impl VoiceprintKey {
    /// A key from raw bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> VoiceprintKey {
        VoiceprintKey(bytes)
    }

    /// Parses 64 hex digits (either case; surrounding whitespace, such as a file's final
    /// newline, is ignored). `source_name` names where they came from in errors.
    pub fn from_hex(text: &str, source_name: &str) -> Result<VoiceprintKey, SealError> {
        let t = text.trim();
        let chars = t.chars().count();
        if chars != KEY_HEX_LEN || t.len() != KEY_HEX_LEN {
            return Err(SealError::KeyLength {
                source_name: source_name.to_string(),
                found: chars,
            });
        }
        let mut key = [0u8; KEY_LEN];
        let b = t.as_bytes();
        for (i, out) in key.iter_mut().enumerate() {
            let digit = |p: usize| {
                (b[p] as char)
                    .to_digit(16)
                    .ok_or_else(|| SealError::KeyHex {
                        source_name: source_name.to_string(),
                        position: p,
                    })
            };
            *out = (digit(2 * i)? * 16 + digit(2 * i + 1)?) as u8;
        }
        Ok(VoiceprintKey(key))
    }

    /// The key from the environment variable's value (`env_value`, as the shell read
    /// [`KEY_ENV`]; empty counts as unset) or the key file. With both, they must agree.
    /// With neither, [`SealError::NoKey`] says how to make one.
    pub fn resolve(
        env_value: Option<&str>,
        key_file: Option<KeyFile<'_>>,
    ) -> Result<VoiceprintKey, SealError> {
        let env = env_value
            .filter(|v| !v.trim().is_empty())
            .map(|v| VoiceprintKey::from_hex(v, KEY_ENV))
            .transpose()?;
        let file = key_file
            .map(|f| {
                let text = std::str::from_utf8(f.contents).map_err(|e| SealError::KeyHex {
                    source_name: f.path.to_string(),
                    position: e.valid_up_to(),
                })?;
                VoiceprintKey::from_hex(text, f.path).map(|k| (k, f.path))
            })
            .transpose()?;
        match (env, file) {
            (Some(e), Some((f, path))) if e != f => Err(SealError::Conflict {
                path: path.to_string(),
            }),
            (Some(k), _) | (None, Some((k, _))) => Ok(k),
            (None, None) => Err(SealError::NoKey),
        }
    }
}

/// Where nonces come from.
pub trait NonceSource {
    /// Fills a fresh nonce.
    fn fill(&mut self, nonce: &mut [u8; NONCE_LEN]) -> Result<(), SealError>;
}

/// Nonces from the operating system's random generator (`getrandom`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsNonces;

impl NonceSource for OsNonces {
    fn fill(&mut self, nonce: &mut [u8; NONCE_LEN]) -> Result<(), SealError> {
        getrandom::fill(nonce).map_err(|e| SealError::Nonce(e.to_string()))
    }
}

fn seal_raw(key: &VoiceprintKey, aad: &[u8], nonce: &[u8; NONCE_LEN], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new((&key.0).into());
    let ct = cipher
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM encrypts any plaintext under 64 GiB");
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(nonce);
    out.extend_from_slice(&ct);
    out
}

fn open_raw(key: &VoiceprintKey, aad: &[u8], sealed: &[u8]) -> Result<Option<Vec<u8>>, SealError> {
    if sealed.len() < OVERHEAD {
        return Err(SealError::Format(format!(
            "{} bytes, at least {OVERHEAD} expected",
            sealed.len()
        )));
    }
    if sealed[..3] != MAGIC[..3] {
        return Err(SealError::Format(
            "bytes 0-2 are not \"TVP\": not a sealed voiceprint".into(),
        ));
    }
    if sealed[3] != MAGIC[3] {
        return Err(SealError::Format(format!(
            "byte 3: format version {}, only {} is known",
            sealed[3], MAGIC[3]
        )));
    }
    let nonce = Nonce::from_slice(&sealed[MAGIC.len()..MAGIC.len() + NONCE_LEN]);
    let cipher = Aes256Gcm::new((&key.0).into());
    Ok(cipher
        .decrypt(
            nonce,
            Payload {
                msg: &sealed[MAGIC.len() + NONCE_LEN..],
                aad,
            },
        )
        .ok())
}

/// Seals bytes for `speaker_id` (use the generated `id#…` id: it never changes).
pub fn seal_bytes(
    key: &VoiceprintKey,
    speaker_id: &str,
    plaintext: &[u8],
    nonces: &mut dyn NonceSource,
) -> Result<Vec<u8>, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    nonces.fill(&mut nonce)?;
    Ok(seal_raw(key, speaker_id.as_bytes(), &nonce, plaintext))
}

/// Opens bytes sealed by [`seal_bytes`] for the same speaker id and key.
pub fn open_bytes(
    key: &VoiceprintKey,
    speaker_id: &str,
    sealed: &[u8],
) -> Result<Vec<u8>, SealError> {
    open_raw(key, speaker_id.as_bytes(), sealed)?.ok_or_else(|| SealError::Authentication {
        speaker_id: speaker_id.to_string(),
    })
}

/// Seals an embedding (its f32 values little-endian) for `speaker_id`.
pub fn seal_embedding(
    key: &VoiceprintKey,
    speaker_id: &str,
    embedding: &[f32],
    nonces: &mut dyn NonceSource,
) -> Result<Vec<u8>, SealError> {
    let mut plain: Vec<u8> = embedding.iter().flat_map(|v| v.to_le_bytes()).collect();
    let sealed = seal_bytes(key, speaker_id, &plain, nonces);
    plain.fill(0);
    sealed
}

/// Opens an embedding sealed by [`seal_embedding`].
pub fn open_embedding(
    key: &VoiceprintKey,
    speaker_id: &str,
    sealed: &[u8],
) -> Result<Vec<f32>, SealError> {
    let plain = open_bytes(key, speaker_id, sealed)?;
    if plain.len() % 4 != 0 {
        return Err(SealError::Format(format!(
            "{} plaintext bytes, not a whole number of f32 values",
            plain.len()
        )));
    }
    Ok(plain
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// A deterministic nonce source for tests: a counter.
    struct Counter(u64);
    impl NonceSource for Counter {
        fn fill(&mut self, nonce: &mut [u8; NONCE_LEN]) -> Result<(), SealError> {
            self.0 += 1;
            nonce.fill(0);
            nonce[..8].copy_from_slice(&self.0.to_le_bytes());
            Ok(())
        }
    }

    const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn key() -> VoiceprintKey {
        VoiceprintKey::from_hex(KEY_HEX, "test").unwrap()
    }

    fn embedding() -> Vec<f32> {
        // An L2-normalised 256-d vector with varied values, like a d-vector.
        let v: Vec<f32> = (1..=256)
            .map(|i| ((i as f32) * 0.37).sin() + 0.01 * i as f32)
            .collect();
        assert!(v.iter().all(|x| *x != 0.0));
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn aes_256_gcm_matches_the_gcm_specification_test_case_16() {
        // McGrew & Viega, "The Galois/Counter Mode of Operation", test case 16.
        let k: [u8; 32] = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
            .try_into()
            .unwrap();
        let p = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
        let a = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let iv: [u8; 12] = hex("cafebabefacedbaddecaf888").try_into().unwrap();
        let sealed = seal_raw(&VoiceprintKey::from_bytes(k), &a, &iv, &p);
        assert_eq!(&sealed[..4], b"TVP\x01");
        assert_eq!(&sealed[4..16], &iv);
        let c = hex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662");
        let t = hex("76fc6ece0f4e1768cddf8853bb2d551b");
        assert_eq!(&sealed[16..16 + c.len()], &c[..]);
        assert_eq!(&sealed[16 + c.len()..], &t[..]);
        assert_eq!(
            open_raw(&VoiceprintKey::from_bytes(k), &a, &sealed)
                .unwrap()
                .unwrap(),
            p
        );
    }

    #[test]
    fn an_embedding_round_trips() {
        let e = embedding();
        let sealed =
            seal_embedding(&key(), "id#AAAAAAAAAAAAAAAAAAAAAA", &e, &mut Counter(0)).unwrap();
        assert_eq!(sealed.len(), e.len() * 4 + OVERHEAD);
        let back = open_embedding(&key(), "id#AAAAAAAAAAAAAAAAAAAAAA", &sealed).unwrap();
        assert_eq!(back, e, "bit for bit");
    }

    #[test]
    fn sealed_bytes_hold_no_run_of_the_embedding_in_clear() {
        let e = embedding();
        let plain: Vec<u8> = e.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut nonces = Counter(41);
        for speaker in ["id#AAAAAAAAAAAAAAAAAAAAAA", "cust-1"] {
            let sealed = seal_embedding(&key(), speaker, &e, &mut nonces).unwrap();
            // No f32 value of the embedding, in either byte order, appears anywhere.
            for v in &e {
                for pat in [v.to_le_bytes(), v.to_be_bytes()] {
                    assert!(!sealed.windows(4).any(|w| w == pat), "{v} in clear");
                }
            }
            // Nor any 4-byte run of the plaintext, aligned or not.
            for run in plain.windows(4) {
                assert!(!sealed.windows(4).any(|w| w == run), "run {run:?} in clear");
            }
        }
    }

    #[test]
    fn every_tampered_byte_fails_to_open() {
        let e = embedding();
        let speaker = "id#BBBBBBBBBBBBBBBBBBBBBB";
        let sealed = seal_embedding(&key(), speaker, &e[..32], &mut Counter(7)).unwrap();
        for i in 0..sealed.len() {
            for flip in [0x01u8, 0x80] {
                let mut t = sealed.clone();
                t[i] ^= flip;
                let err = open_embedding(&key(), speaker, &t).unwrap_err();
                if i < MAGIC.len() {
                    assert!(matches!(err, SealError::Format(_)), "byte {i}: {err}");
                } else {
                    assert!(
                        matches!(err, SealError::Authentication { .. }),
                        "byte {i}: {err}"
                    );
                }
            }
        }
        // Truncated, or a byte added.
        assert!(matches!(
            open_embedding(&key(), speaker, &sealed[..sealed.len() - 1]),
            Err(SealError::Authentication { .. })
        ));
        let mut longer = sealed.clone();
        longer.push(0);
        assert!(matches!(
            open_embedding(&key(), speaker, &longer),
            Err(SealError::Authentication { .. })
        ));
        assert!(matches!(
            open_embedding(&key(), speaker, &sealed[..OVERHEAD - 1]),
            Err(SealError::Format(_))
        ));
    }

    #[test]
    fn another_speaker_id_or_key_fails_to_open() {
        let sealed = seal_embedding(
            &key(),
            "id#CCCCCCCCCCCCCCCCCCCCCC",
            &embedding(),
            &mut OsNonces,
        )
        .unwrap();
        let err = open_embedding(&key(), "id#CCCCCCCCCCCCCCCCCCCCCD", &sealed).unwrap_err();
        assert_eq!(
            err,
            SealError::Authentication {
                speaker_id: "id#CCCCCCCCCCCCCCCCCCCCCD".into()
            }
        );
        assert!(err.to_string().contains("another speaker"), "{err}");
        let mut other = [0u8; 32];
        other[31] = 1;
        assert!(open_embedding(
            &VoiceprintKey::from_bytes(other),
            "id#CCCCCCCCCCCCCCCCCCCCCC",
            &sealed
        )
        .is_err());
        assert!(open_embedding(&key(), "id#CCCCCCCCCCCCCCCCCCCCCC", &sealed).is_ok());
    }

    #[test]
    fn each_seal_draws_a_fresh_nonce() {
        let e = embedding();
        let a = seal_embedding(&key(), "s", &e, &mut OsNonces).unwrap();
        let b = seal_embedding(&key(), "s", &e, &mut OsNonces).unwrap();
        assert_ne!(a[4..16], b[4..16], "nonces repeat");
        assert_ne!(a[16..], b[16..]);
        struct Broken;
        impl NonceSource for Broken {
            fn fill(&mut self, _: &mut [u8; NONCE_LEN]) -> Result<(), SealError> {
                Err(SealError::Nonce("no entropy".into()))
            }
        }
        assert_eq!(
            seal_embedding(&key(), "s", &e, &mut Broken),
            Err(SealError::Nonce("no entropy".into()))
        );
    }

    #[test]
    fn keys_parse_with_clear_errors() {
        let k = VoiceprintKey::from_hex(&format!("  {}\n", KEY_HEX.to_uppercase()), "f").unwrap();
        assert_eq!(k, key());
        assert_eq!(format!("{k:?}"), "VoiceprintKey(<redacted>)");
        assert_eq!(
            VoiceprintKey::from_hex(&KEY_HEX[..63], KEY_ENV).unwrap_err(),
            SealError::KeyLength {
                source_name: KEY_ENV.into(),
                found: 63
            }
        );
        assert!(matches!(
            VoiceprintKey::from_hex(&format!("{KEY_HEX}0"), "f"),
            Err(SealError::KeyLength { found: 65, .. })
        ));
        let mut bad = KEY_HEX.to_string();
        bad.replace_range(10..11, "z");
        let err = VoiceprintKey::from_hex(&bad, "/etc/tympan/key").unwrap_err();
        assert_eq!(
            err,
            SealError::KeyHex {
                source_name: "/etc/tympan/key".into(),
                position: 10
            }
        );
        assert!(
            !err.to_string().contains('z'),
            "the key's characters are not echoed: {err}"
        );
        // 64 characters but not 64 bytes.
        let wide = format!("é{}", &KEY_HEX[..63]);
        assert!(matches!(
            VoiceprintKey::from_hex(&wide, "f"),
            Err(SealError::KeyLength { .. })
        ));
    }

    #[test]
    fn the_key_comes_from_the_env_value_or_the_file() {
        let file = KeyFile {
            path: "/k",
            contents: b"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
        };
        assert_eq!(VoiceprintKey::resolve(Some(KEY_HEX), None).unwrap(), key());
        assert_eq!(VoiceprintKey::resolve(None, Some(file)).unwrap(), key());
        assert_eq!(
            VoiceprintKey::resolve(Some(""), Some(file)).unwrap(),
            key(),
            "empty env counts as unset"
        );
        assert_eq!(
            VoiceprintKey::resolve(Some(KEY_HEX), Some(file)).unwrap(),
            key()
        );
        let other = "f".repeat(64);
        assert_eq!(
            VoiceprintKey::resolve(Some(&other), Some(file)).unwrap_err(),
            SealError::Conflict { path: "/k".into() }
        );
        let err = VoiceprintKey::resolve(None, None).unwrap_err();
        assert_eq!(err, SealError::NoKey);
        assert!(
            err.to_string().contains(KEY_ENV) && err.to_string().contains(KEY_FILE_SETTING),
            "{err}"
        );
        let e = VoiceprintKey::resolve(
            None,
            Some(KeyFile {
                path: "/k",
                contents: b"abc",
            }),
        )
        .unwrap_err();
        assert!(e.to_string().contains("/k"), "{e}");
        let e = VoiceprintKey::resolve(Some("xyz"), None).unwrap_err();
        assert!(e.to_string().contains(KEY_ENV), "{e}");
        assert!(matches!(
            VoiceprintKey::resolve(
                None,
                Some(KeyFile {
                    path: "/k",
                    contents: b"00\xff"
                })
            ),
            Err(SealError::KeyHex { position: 2, .. })
        ));
    }

    #[test]
    fn foreign_bytes_are_refused_as_format_errors() {
        let mut s = seal_embedding(&key(), "s", &[1.0], &mut Counter(0)).unwrap();
        s[3] = 2;
        assert!(open_embedding(&key(), "s", &s)
            .unwrap_err()
            .to_string()
            .contains("format version 2"));
        assert!(open_embedding(&key(), "s", &[0u8; 40])
            .unwrap_err()
            .to_string()
            .contains("not a sealed voiceprint"));
        // A valid seal of bytes that are not f32 values.
        let odd = seal_bytes(&key(), "s", &[1, 2, 3], &mut Counter(0)).unwrap();
        assert!(matches!(
            open_embedding(&key(), "s", &odd),
            Err(SealError::Format(_))
        ));
        assert_eq!(open_bytes(&key(), "s", &odd).unwrap(), vec![1, 2, 3]);
    }
}
