//! A seeded, coverage-free mutation fuzzer that runs on stable Rust.
//!
//! `cargo-fuzz` needs a nightly compiler and sanitizer coverage; this driver needs neither. A
//! [`Target`] is a function of bytes plus a seed corpus and a dictionary. [`fuzz`] draws inputs
//! from a deterministic PRNG (same seed, same inputs, same order), mutates them with stacked
//! byte-level and structure-aware mutations ([`mutate`]), runs the target under
//! [`std::panic::catch_unwind`] and reports every panicking input. Feedback is the target's
//! own outcome class (accepted, or the kind of refusal): an input whose class was never seen
//! joins the corpus, so the driver works its way past the first refusal of a parser without
//! compiler instrumentation.
//!
//! Limits per input are counted, not timed: inputs are cut to the target's
//! [`Target::max_len`] bytes and carry at most [`MAX_STACKED_MUTATIONS`] mutations. Wall time
//! is only measured for the report (executions per second, slowest input).

pub mod media;
pub mod mutate;
pub mod sip;
pub mod sip_tx;
pub mod targets;

use std::cell::RefCell;
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};

/// Most mutations stacked on one input.
pub const MAX_STACKED_MUTATIONS: u32 = 8;
/// Most entries the corpus grows to (seeds plus inputs with a new outcome class); beyond it a
/// new entry replaces a random non-seed one.
pub const MAX_CORPUS: usize = 2_048;
/// Most distinct panics kept per run (by message and location); later ones are counted.
pub const MAX_CRASHES_KEPT: usize = 16;
/// Stack size of the thread [`fuzz_on_stack`] runs targets on: tokio's default worker stack,
/// so a recursion that would overflow a server task overflows here too.
pub const TARGET_STACK_BYTES: usize = 2 << 20;

/// What one execution of a target said about its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The input was accepted; the value distinguishes kinds of accepted inputs.
    Accepted(u64),
    /// The input was refused; the value is a hash of the kind of refusal (see
    /// [`error_class`]).
    Refused(u64),
}

/// A fuzz target.
pub struct Target {
    /// Name used on the command line.
    pub name: &'static str,
    /// What it exercises.
    pub about: &'static str,
    /// Seed inputs (valid and near-valid examples).
    pub seeds: &'static [&'static [u8]],
    /// More seeds made at run time (messages built with the crate under test, texts taken
    /// from its test files), appended to `seeds`.
    pub seed_fn: Option<fn() -> Vec<Vec<u8>>>,
    /// Tokens the dictionary mutation inserts (keys, values, keywords).
    pub dict: &'static [&'static [u8]],
    /// Longest input tried, in bytes.
    pub max_len: usize,
    /// The code under test. Panics (including failed invariants) are findings.
    pub run: fn(&[u8]) -> Outcome,
}

/// How to run [`fuzz`].
#[derive(Clone, Debug)]
pub struct Options {
    /// PRNG seed; the same seed gives the same inputs.
    pub seed: u64,
    /// Executions (seeds included).
    pub iterations: u64,
    /// Where panicking inputs are written (`TARGET-HASH.bin`); `None` keeps them in memory.
    pub crash_dir: Option<PathBuf>,
}

/// One panicking input.
#[derive(Clone, Debug)]
pub struct Crash {
    /// Execution index (0-based) that panicked.
    pub iteration: u64,
    /// The input.
    pub input: Vec<u8>,
    /// Panic message and location.
    pub message: String,
    /// File the input was written to, if a crash directory was given.
    pub file: Option<PathBuf>,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Target name.
    pub target: &'static str,
    /// Executions performed.
    pub executions: u64,
    /// Executions that panicked (all of them, not only the kept ones).
    pub panics: u64,
    /// The first distinct panics (at most [`MAX_CRASHES_KEPT`]).
    pub crashes: Vec<Crash>,
    /// Inputs the target accepted.
    pub accepted: u64,
    /// Distinct outcome classes seen.
    pub classes: usize,
    /// Corpus size at the end.
    pub corpus: usize,
    /// Wall time of the run (report only).
    pub elapsed: Duration,
    /// Slowest single execution and its input length (report only).
    pub slowest: (Duration, usize),
    /// The slowest input itself, to look for inputs that cost far more than their size.
    pub slowest_input: Vec<u8>,
}

impl Target {
    /// Every seed: `seeds`, then what `seed_fn` makes.
    pub fn all_seeds(&self) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = self.seeds.iter().map(|s| s.to_vec()).collect();
        if let Some(f) = self.seed_fn {
            v.extend(f());
        }
        v
    }
}

impl Stats {
    /// Executions per second of wall time.
    pub fn execs_per_s(&self) -> f64 {
        self.executions as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A small deterministic PRNG (SplitMix64): fast, seedable, good enough to pick mutations.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        ((self.next_u64() >> 11) % n as u64) as usize
    }

    /// True with probability `num/den`.
    pub fn chance(&mut self, num: u32, den: u32) -> bool {
        (self.next_u64() % u64::from(den)) < u64::from(num)
    }
}

/// FNV-1a, for outcome classes and crash file names.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The class of an error message: a hash of its words with digits, quoted parts (between
/// backticks, double or single quotes) and source excerpts (lines with `|`, as TOML errors
/// print) removed, so "line 3 column 7" and "line 9 column 1" are one class and "unknown field
/// `x`" is one class whatever `x` is.
pub fn error_class(msg: &str) -> u64 {
    let mut kept = Vec::with_capacity(msg.len().min(MAX_CLASS_BYTES));
    for line in msg.lines().filter(|l| !l.contains('|')) {
        let mut quote: Option<u8> = None;
        for b in line.bytes() {
            match (quote, b) {
                (None, b'`' | b'"' | b'\'') => quote = Some(b),
                (Some(q), _) if b == q => quote = None,
                (None, b'a'..=b'z' | b'A'..=b'Z' | b' ' | b':' | b',') => kept.push(b),
                _ => {}
            }
            if kept.len() >= MAX_CLASS_BYTES {
                return fnv1a(&kept);
            }
        }
    }
    fnv1a(&kept)
}

/// Bytes of an error message that make its class (the rest is detail).
pub const MAX_CLASS_BYTES: usize = 96;

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

thread_local! {
    /// Set while a target runs on this thread: the panic hook stores the message here
    /// instead of printing it.
    static CAPTURE: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Install (once per process) a panic hook that captures messages of panics inside targets and
/// leaves every other panic to the previous hook.
fn install_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let captured = CAPTURE.with(|c| {
                let mut c = c.borrow_mut();
                match c.as_mut() {
                    Some(slot) => {
                        let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
                            (*s).to_owned()
                        } else if let Some(s) = info.payload().downcast_ref::<String>() {
                            s.clone()
                        } else {
                            "non-string panic payload".to_owned()
                        };
                        let at = info
                            .location()
                            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                            .unwrap_or_default();
                        *slot = format!("{msg} at {at}");
                        true
                    }
                    None => false,
                }
            });
            if !captured {
                previous(info);
            }
        }));
    });
}

/// Run `target` once on `input`, catching a panic: `Err(message)` if it panicked.
pub fn run_once(target: &Target, input: &[u8]) -> Result<Outcome, String> {
    install_hook();
    CAPTURE.with(|c| *c.borrow_mut() = Some(String::new()));
    let r = catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    let msg = CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default();
    r.map_err(|_| msg)
}

fn write_crash(dir: &Path, target: &str, input: &[u8]) -> Option<PathBuf> {
    std::fs::create_dir_all(dir).ok()?;
    let p = dir.join(format!("{target}-{:016x}.bin", fnv1a(input)));
    std::fs::write(&p, input).ok()?;
    Some(p)
}

/// Fuzz `target` for `opts.iterations` executions on the calling thread: first every seed
/// as is, then mutated corpus entries. Deterministic for a given seed (apart from the timing
/// fields of [`Stats`]).
pub fn fuzz(target: &Target, opts: &Options) -> Stats {
    fuzz_with_progress(target, opts, |_| {})
}

/// [`fuzz`], calling `progress(executions)` every 2^16 executions.
pub fn fuzz_with_progress(target: &Target, opts: &Options, mut progress: impl FnMut(u64)) -> Stats {
    let mut rng = Rng::new(opts.seed ^ fnv1a(target.name.as_bytes()));
    let mut corpus: Vec<Vec<u8>> = target
        .all_seeds()
        .into_iter()
        .map(|mut s| {
            s.truncate(target.max_len);
            s
        })
        .collect();
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    let n_seeds = corpus.len();
    let mut seen: HashSet<Outcome> = HashSet::new();
    let mut crash_keys: HashSet<String> = HashSet::new();
    let mut stats = Stats {
        target: target.name,
        executions: 0,
        panics: 0,
        crashes: Vec::new(),
        accepted: 0,
        classes: 0,
        corpus: 0,
        elapsed: Duration::ZERO,
        slowest: (Duration::ZERO, 0),
        slowest_input: Vec::new(),
    };
    let started = Instant::now();
    let mut input: Vec<u8> = Vec::with_capacity(target.max_len);
    for i in 0..opts.iterations {
        input.clear();
        if (i as usize) < n_seeds {
            input.extend_from_slice(&corpus[i as usize]);
        } else {
            // A third of the inputs start from a seed, so the run stays near valid input.
            let base = if rng.chance(1, 3) {
                rng.below(n_seeds)
            } else {
                rng.below(corpus.len())
            };
            input.extend_from_slice(&corpus[base]);
            let other = &corpus[rng.below(corpus.len())];
            // 1 mutation half of the time, 2 a quarter, ... up to MAX_STACKED_MUTATIONS.
            let mut n = 1;
            while n < MAX_STACKED_MUTATIONS && rng.chance(1, 2) {
                n += 1;
            }
            for _ in 0..n {
                mutate::mutate(&mut input, other, target.dict, &mut rng);
            }
            input.truncate(target.max_len);
        }
        let t0 = Instant::now();
        let r = run_once(target, &input);
        let took = t0.elapsed();
        if took > stats.slowest.0 {
            stats.slowest = (took, input.len());
            stats.slowest_input.clone_from(&input);
        }
        stats.executions += 1;
        match r {
            Ok(outcome) => {
                if matches!(outcome, Outcome::Accepted(_)) {
                    stats.accepted += 1;
                }
                if seen.insert(outcome) && (i as usize) >= n_seeds {
                    if corpus.len() < MAX_CORPUS {
                        corpus.push(input.clone());
                    } else {
                        let k = n_seeds + rng.below(corpus.len() - n_seeds);
                        corpus[k] = input.clone();
                    }
                }
            }
            Err(message) => {
                stats.panics += 1;
                if stats.crashes.len() < MAX_CRASHES_KEPT && crash_keys.insert(message.clone()) {
                    let file = opts
                        .crash_dir
                        .as_deref()
                        .and_then(|d| write_crash(d, target.name, &input));
                    stats.crashes.push(Crash {
                        iteration: i,
                        input: input.clone(),
                        message,
                        file,
                    });
                }
            }
        }
        if (i + 1) % (1 << 16) == 0 {
            progress(i + 1);
        }
    }
    stats.elapsed = started.elapsed();
    stats.classes = seen.len();
    stats.corpus = corpus.len();
    stats
}

/// [`fuzz`] on a fresh thread with a [`TARGET_STACK_BYTES`] stack (what a server task has).
pub fn fuzz_on_stack(target: &'static Target, opts: Options) -> Stats {
    std::thread::Builder::new()
        .name(format!("fuzz-{}", target.name))
        .stack_size(TARGET_STACK_BYTES)
        .spawn(move || fuzz(target, &opts))
        .expect("spawn fuzz thread")
        .join()
        .expect("the fuzz loop itself does not panic")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(input: &[u8]) -> Outcome {
        // Panics on inputs that contain "}}" after a digit: reachable from the seeds in a few
        // mutations, never in the seeds themselves.
        if input
            .windows(3)
            .any(|w| w[0].is_ascii_digit() && &w[1..] == b"}}")
        {
            panic!("toy target: digit before two closing braces");
        }
        match serde_json::from_slice::<serde_json::Value>(input) {
            Ok(_) => Outcome::Accepted(0),
            Err(e) => Outcome::Refused(error_class(&e.to_string())),
        }
    }

    static TOY: Target = Target {
        name: "toy",
        about: "panics on a digit followed by `}}`",
        seeds: &[br#"{"a":{"b":true}}"#.as_slice(), b"{\"x\": \"2\" }"],
        dict: &[b"}", b"1"],
        seed_fn: None,
        max_len: 256,
        run: toy,
    };

    #[test]
    fn a_panicking_target_is_reported_with_its_input() {
        let s = fuzz(
            &TOY,
            &Options {
                seed: 7,
                iterations: 20_000,
                crash_dir: None,
            },
        );
        assert_eq!(s.executions, 20_000);
        assert!(s.panics > 0, "the toy panic was not found: {s:?}");
        let c = &s.crashes[0];
        assert!(
            c.message.contains("digit before two closing braces"),
            "{c:?}"
        );
        assert!(c.message.contains("lib.rs"), "location missing: {c:?}");
        // The reported input really panics, and is what the driver ran.
        assert!(run_once(&TOY, &c.input).is_err());
        assert!(c
            .input
            .windows(3)
            .any(|w| w[0].is_ascii_digit() && &w[1..] == b"}}"));
    }

    #[test]
    fn same_seed_same_run() {
        let o = |seed| Options {
            seed,
            iterations: 3_000,
            crash_dir: None,
        };
        let (a, b, c) = (fuzz(&TOY, &o(1)), fuzz(&TOY, &o(1)), fuzz(&TOY, &o(2)));
        let key = |s: &Stats| {
            (
                s.panics,
                s.accepted,
                s.classes,
                s.crashes
                    .iter()
                    .map(|c| c.input.clone())
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(key(&a), key(&b));
        assert_ne!(key(&a), key(&c));
    }

    #[test]
    fn crash_files_hold_the_input() {
        let dir = std::env::temp_dir().join(format!("tympan-fuzz-crash-{}", std::process::id()));
        let s = fuzz(
            &TOY,
            &Options {
                seed: 7,
                iterations: 20_000,
                crash_dir: Some(dir.clone()),
            },
        );
        let c = &s.crashes[0];
        let f = c.file.as_ref().expect("crash file written");
        assert_eq!(std::fs::read(f).unwrap(), c.input);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn panics_outside_targets_are_not_swallowed() {
        install_hook();
        let r = std::panic::catch_unwind(|| panic!("outside"));
        assert!(r.is_err());
        // Nothing was captured for this thread: capture is only armed inside run_once.
        assert!(CAPTURE.with(|c| c.borrow().is_none()));
    }

    #[test]
    fn error_classes_ignore_numbers_and_quoted_names() {
        assert_eq!(
            error_class("expected value at line 1 column 5"),
            error_class("expected value at line 12 column 9")
        );
        assert_eq!(
            error_class("unknown field `listn`"),
            error_class("unknown field `x`")
        );
        assert_ne!(
            error_class("unknown field `x`"),
            error_class("missing field `x`")
        );
        assert_eq!(
            error_class("invalid type: string \"abc\", expected u32"),
            error_class("invalid type: string \"zz\", expected u32")
        );
        // TOML errors quote the input line; the excerpt is not part of the class.
        assert_eq!(
            error_class("TOML parse error at line 1, column 3\n  |\n1 | ab = \n  |   ^\ninvalid string"),
            error_class("TOML parse error at line 2, column 9\n  |\n2 | xyz = [\n  |       ^\ninvalid string")
        );
    }

    #[test]
    fn rng_is_uniform_enough() {
        let mut r = Rng::new(3);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[r.below(10)] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
    }
}
