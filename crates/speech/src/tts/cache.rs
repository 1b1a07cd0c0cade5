//! [`PromptCache`]: synthesised prompts by content hash, bounded by a byte budget.
//!
//! The key is SHA-256 over the synthesizer's [`Synthesizer::fingerprint`] (engine, version,
//! voice, settings), the output rate, the input kind (text or SSML) and the input itself, each
//! length-prefixed. Least recently used prompts are evicted once the samples exceed the
//! budget; a prompt larger than the whole budget is returned but not kept. The cache is shared
//! by reference across threads (one mutex, never held while synthesising: two threads missing
//! the same prompt at once both synthesise it, and the second insert wins).
//!
//! Persisting is the shell's job: [`PromptCache::to_bytes`] gives the entries (oldest first)
//! and [`PromptCache::from_bytes`] reads them back; the format is
//! `"TYMPTTS1"`, entry count (u32 LE), then per entry the 32-byte key, the rate (u32 LE), the
//! sample count (u32 LE) and the samples (i16 LE).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::{check_rate, Prompt, SpeechInput, Synthesizer, TtsError};

/// Magic bytes at the start of [`PromptCache::to_bytes`].
pub const CACHE_MAGIC: &[u8; 8] = b"TYMPTTS1";

/// A prompt's cache key.
pub type PromptKey = [u8; 32];

/// Counters of a [`PromptCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Prompts held.
    pub entries: usize,
    /// Bytes of samples held.
    pub bytes: usize,
    /// The byte budget.
    pub budget: usize,
    /// Lookups that found their prompt.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Prompts dropped to stay within the budget.
    pub evictions: u64,
}

struct Entry {
    prompt: Prompt,
    used: u64,
}

#[derive(Default)]
struct Inner {
    map: HashMap<PromptKey, Entry>,
    /// Recency order: use tick → key.
    order: BTreeMap<u64, PromptKey>,
    tick: u64,
    bytes: usize,
    hits: u64,
    misses: u64,
    evictions: u64,
}

/// An in-memory, bounded prompt cache; see the module docs.
pub struct PromptCache {
    budget: usize,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for PromptCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptCache")
            .field("stats", &self.stats())
            .finish()
    }
}

/// The cache key of `input` synthesised by `fingerprint` at `sample_rate`.
pub fn prompt_key(fingerprint: &str, sample_rate: u32, input: SpeechInput<'_>) -> PromptKey {
    let mut h = Sha256::new();
    for part in [
        fingerprint.as_bytes(),
        &sample_rate.to_le_bytes(),
        input.kind().as_bytes(),
        input.as_str().as_bytes(),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize().into()
}

impl PromptCache {
    /// An empty cache keeping at most `budget_bytes` of samples.
    pub fn new(budget_bytes: usize) -> Self {
        PromptCache {
            budget: budget_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The maps are updated together before any call that could panic.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The prompt under `key`, marking it recently used (counts a hit or a miss).
    pub fn get(&self, key: &PromptKey) -> Option<Prompt> {
        let mut g = self.lock();
        g.tick += 1;
        let tick = g.tick;
        let Some(e) = g.map.get_mut(key) else {
            g.misses += 1;
            return None;
        };
        let old = std::mem::replace(&mut e.used, tick);
        let prompt = e.prompt.clone();
        g.order.remove(&old);
        g.order.insert(tick, *key);
        g.hits += 1;
        Some(prompt)
    }

    /// Stores `prompt` under `key` (replacing any previous one), evicting the least recently
    /// used prompts beyond the budget. A prompt larger than the budget is not stored.
    pub fn insert(&self, key: PromptKey, prompt: Prompt) {
        let mut g = self.lock();
        if let Some(old) = g.map.remove(&key) {
            g.order.remove(&old.used);
            g.bytes -= old.prompt.byte_len();
        }
        let size = prompt.byte_len();
        if size > self.budget {
            return;
        }
        while g.bytes + size > self.budget {
            let Some((_, victim)) = g.order.pop_first() else {
                break;
            };
            let e = g.map.remove(&victim).expect("order and map agree");
            g.bytes -= e.prompt.byte_len();
            g.evictions += 1;
        }
        g.tick += 1;
        let tick = g.tick;
        g.order.insert(tick, key);
        g.bytes += size;
        g.map.insert(key, Entry { prompt, used: tick });
    }

    /// The cached prompt for `input`, or a new one from `synth` (then cached). The flag is
    /// true on a cache hit.
    pub fn get_or_synthesize(
        &self,
        synth: &dyn Synthesizer,
        input: SpeechInput<'_>,
        sample_rate: u32,
    ) -> Result<(Prompt, bool), TtsError> {
        check_rate(sample_rate)?;
        let key = prompt_key(&synth.fingerprint(), sample_rate, input);
        if let Some(p) = self.get(&key) {
            return Ok((p, true));
        }
        let p = synth.synthesize(input, sample_rate)?;
        self.insert(key, p.clone());
        Ok((p, false))
    }

    /// Counters and sizes.
    pub fn stats(&self) -> CacheStats {
        let g = self.lock();
        CacheStats {
            entries: g.map.len(),
            bytes: g.bytes,
            budget: self.budget,
            hits: g.hits,
            misses: g.misses,
            evictions: g.evictions,
        }
    }

    /// The entries, least recently used first, in the format of the module docs.
    pub fn to_bytes(&self) -> Vec<u8> {
        let g = self.lock();
        let mut out = Vec::with_capacity(12 + g.bytes + g.map.len() * 40);
        out.extend_from_slice(CACHE_MAGIC);
        out.extend_from_slice(&(g.map.len() as u32).to_le_bytes());
        for key in g.order.values() {
            let p = &g.map[key].prompt;
            out.extend_from_slice(key);
            out.extend_from_slice(&p.sample_rate.to_le_bytes());
            out.extend_from_slice(&(p.samples.len() as u32).to_le_bytes());
            for s in p.samples.iter() {
                out.extend_from_slice(&s.to_le_bytes());
            }
        }
        out
    }

    /// A cache with the entries of [`to_bytes`](Self::to_bytes) output, within
    /// `budget_bytes` (the most recently used are kept). Damaged input is an error naming the
    /// byte offset.
    pub fn from_bytes(bytes: &[u8], budget_bytes: usize) -> Result<Self, TtsError> {
        let bad = |offset: usize, why: &str| TtsError::BadCache {
            offset,
            why: why.to_string(),
        };
        let take = |at: usize, n: usize, what: &str| {
            bytes
                .get(at..at + n)
                .ok_or_else(|| bad(at, &format!("truncated in {what}")))
        };
        if take(0, 8, "the magic")? != CACHE_MAGIC {
            return Err(bad(0, "not a prompt cache (bad magic)"));
        }
        let u32_at = |at: usize, what: &str| -> Result<u32, TtsError> {
            Ok(u32::from_le_bytes(
                take(at, 4, what)?.try_into().expect("4 bytes"),
            ))
        };
        let count = u32_at(8, "the entry count")? as usize;
        let cache = PromptCache::new(budget_bytes);
        let mut at = 12;
        for _ in 0..count {
            let key: PromptKey = take(at, 32, "a key")?.try_into().expect("32 bytes");
            let rate = u32_at(at + 32, "a sample rate")?;
            check_rate(rate).map_err(|_| bad(at + 32, &format!("sample rate {rate} Hz")))?;
            let n = u32_at(at + 36, "a sample count")? as usize;
            let data = take(at + 40, n * 2, "samples")?;
            let samples: Vec<i16> = data
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            cache.insert(
                key,
                Prompt {
                    sample_rate: rate,
                    samples: samples.into(),
                },
            );
            at += 40 + n * 2;
        }
        if at != bytes.len() {
            return Err(bad(at, "trailing bytes after the last entry"));
        }
        Ok(cache)
    }
}
