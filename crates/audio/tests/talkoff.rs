//! Talk-off: the DTMF and beep detectors must stay silent on real speech (LibriSpeech dev-clean
//! 16 kHz FLAC and the Free Spoken Digit Dataset 8 kHz WAV from ../shared/data).

use std::path::{Path, PathBuf};

use tympan_audio::beep::{BeepConfig, BeepDetector, BeepEvent, SAMPLE_RATES as BEEP_RATES};
use tympan_audio::decode;
use tympan_audio::dtmf::{DtmfConfig, DtmfDetector, DtmfEvent};
use tympan_audio::resample::resample;

fn shared_data() -> Option<PathBuf> {
    let base = std::env::var_os("TYMPAN_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let data = base.join("data");
    if data.is_dir() {
        Some(data)
    } else if std::env::var_os("CI").is_some() {
        panic!("{} not found and CI is set", data.display());
    } else {
        eprintln!("SKIP: talk-off tests ({} not found)", data.display());
        None
    }
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case(ext)) {
            out.push(p);
        }
    }
}

/// Decode any supported file with the library decoder, down-mixed to mono, at a rate the
/// detectors accept (resampled to 16 kHz otherwise).
fn read_mono(path: &Path) -> (u32, Vec<f32>) {
    let audio = decode::read_file(path).unwrap_or_else(|e| panic!("{e}"));
    let x = audio.downmix();
    if BEEP_RATES.contains(&audio.sample_rate) {
        (audio.sample_rate, x)
    } else {
        let y = resample(&x, audio.sample_rate, 16_000).unwrap_or_else(|e| panic!("{e}"));
        (16_000, y)
    }
}

#[derive(Default)]
struct Tally {
    files: usize,
    seconds: f64,
    digits: Vec<(String, DtmfEvent)>,
    beeps: Vec<(String, BeepEvent)>,
}

fn run(tally: &mut Tally, name: &str, fs: u32, x: &[f32]) {
    let mut d = DtmfDetector::new(fs, DtmfConfig::default()).unwrap();
    let mut b = BeepDetector::new(fs, BeepConfig::default()).unwrap();
    let mut dig = Vec::new();
    let mut beeps = Vec::new();
    for c in x.chunks(160) {
        dig.extend(d.push(c));
        beeps.extend(b.push(c));
    }
    dig.extend(d.flush());
    beeps.extend(b.flush());
    tally.files += 1;
    tally.seconds += x.len() as f64 / fs as f64;
    tally
        .digits
        .extend(dig.into_iter().map(|e| (name.to_string(), e)));
    tally
        .beeps
        .extend(beeps.into_iter().map(|e| (name.to_string(), e)));
}

fn report(set: &str, t: &Tally) {
    eprintln!(
        "{set}: {} files, {:.1} min of audio, {} DTMF digits, {} beeps",
        t.files,
        t.seconds / 60.0,
        t.digits.len(),
        t.beeps.len()
    );
    for (f, e) in t.digits.iter().take(20) {
        eprintln!("  digit {f}: {e:?}");
    }
    for (f, e) in t.beeps.iter().take(20) {
        eprintln!("  beep {f}: {e:?}");
    }
}

/// Run both detectors over every `ext` file under `data/subdir`; none may fire.
fn talkoff(subdir: &str, ext: &str) {
    let Some(data) = shared_data() else { return };
    let mut paths = Vec::new();
    files(&data.join(subdir), ext, &mut paths);
    paths.sort();
    assert!(
        !paths.is_empty(),
        "no {ext} files under {}",
        data.join(subdir).display()
    );
    let mut t = Tally::default();
    for p in &paths {
        let (fs, x) = read_mono(p);
        run(&mut t, &p.file_name().unwrap().to_string_lossy(), fs, &x);
    }
    report(subdir, &t);
    assert!(
        t.digits.is_empty(),
        "DTMF talk-off on speech: {} digits",
        t.digits.len()
    );
    assert!(
        t.beeps.is_empty(),
        "beep false alarms on speech: {}",
        t.beeps.len()
    );
}

#[test]
fn talkoff_librispeech() {
    talkoff("librispeech-dev", "flac");
}

#[test]
fn talkoff_fsdd() {
    talkoff("fsdd", "wav");
}
