//! Helpers shared by the decode/G.711 integration tests: locating `../shared`, running sox.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The shared data/fixtures directory, or `None` (after printing a SKIP line) when absent.
/// Panics when absent and `CI` is set: CI must have the data.
pub fn shared_dir(what: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("TYMPAN_SHARED") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    let target = dir.join(what);
    if target.exists() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but {} is missing", target.display());
    }
    eprintln!(
        "SKIP: {} not found (../shared/{what} not found)",
        target.display()
    );
    None
}

/// True when sox runs; panics otherwise: these tests need sox (`scripts/setup.sh` installs
/// it), and a missing tool must not pass as green.
pub fn have_sox() -> bool {
    let ok = Command::new("sox")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "sox did not run: install sox (scripts/setup.sh)");
    ok
}

/// True when this sox build lists `fmt` among its file formats; panics otherwise (Debian's
/// `libsox-fmt-all` has every format these tests use).
pub fn sox_has_format(fmt: &str) -> bool {
    let out = Command::new("sox")
        .arg("-h")
        .output()
        .unwrap_or_else(|e| panic!("sox did not run: {e}; install sox (scripts/setup.sh)"));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let has = text
        .lines()
        .find(|l| l.starts_with("AUDIO FILE FORMATS:"))
        .map(|l| l.split_whitespace().any(|w| w == fmt))
        .unwrap_or(false);
    assert!(
        has,
        "sox has no {fmt} format handler: install libsox-fmt-all (scripts/setup.sh)"
    );
    has
}

/// Run sox with the given arguments, panicking with its stderr on failure.
pub fn sox(args: &[&str]) {
    let out = Command::new("sox").args(args).output().expect("run sox");
    assert!(
        out.status.success(),
        "sox {:?} failed: {}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh temporary directory unique to this test.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tympan-decode-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Read a canonical 16-bit PCM WAV (as sox writes it) with a tiny independent parser,
/// returning interleaved samples. Used as the reference side of comparisons.
pub fn read_pcm16_reference(path: &std::path::Path) -> Vec<i16> {
    let b = std::fs::read(path).expect("read reference wav");
    assert_eq!(&b[0..4], b"RIFF");
    let mut p = 12;
    while p + 8 <= b.len() {
        let id = &b[p..p + 4];
        let size = u32::from_le_bytes([b[p + 4], b[p + 5], b[p + 6], b[p + 7]]) as usize;
        if id == b"fmt " {
            let bits = u16::from_le_bytes([b[p + 22], b[p + 23]]);
            assert_eq!(bits, 16, "reference must be 16-bit");
        }
        if id == b"data" {
            let end = (p + 8 + size).min(b.len());
            return b[p + 8..end]
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
        }
        p += 8 + size + (size & 1);
    }
    panic!("no data chunk in {}", path.display());
}

/// A test signal: a chirp-ish sum of tones sweeping the whole int16 range plus a quiet part.
pub fn test_signal(rate: u32, seconds: f32) -> Vec<i16> {
    let n = (rate as f32 * seconds) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let env = (i as f32 / n as f32 * 4.0).fract(); // ramps 0..1 four times: every level
            let v = 0.6 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
                + 0.4 * (2.0 * std::f32::consts::PI * 1333.0 * t * (1.0 + t)).sin();
            (v * env * 32767.0).round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}
