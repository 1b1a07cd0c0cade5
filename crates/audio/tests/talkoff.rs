//! Talk-off: the DTMF and beep detectors must stay silent on real speech (LibriSpeech dev-clean
//! 16 kHz FLAC and the Free Spoken Digit Dataset 8 kHz WAV from ../shared/data).

use std::path::{Path, PathBuf};

use tympan_audio::beep::{BeepConfig, BeepDetector, BeepEvent};
use tympan_audio::dtmf::{DtmfConfig, DtmfDetector, DtmfEvent};

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

/// Decode a FLAC file to mono f32 with symphonia (test-only; the library decoder is elsewhere).
fn decode_flac(path: &Path) -> (u32, Vec<f32>) {
    use symphonia::core::audio::SampleBuffer;
    use symphonia::core::codecs::DecoderOptions;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;

    let file = std::fs::File::open(path).unwrap();
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    hint.with_extension("flac");
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut format = probed.format;
    let track = format.default_track().unwrap().clone();
    let fs = track.codec_params.sample_rate.unwrap();
    let mut dec = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .unwrap();
    let mut out = Vec::new();
    while let Ok(packet) = format.next_packet() {
        if packet.track_id() != track.id {
            continue;
        }
        let buf = dec
            .decode(&packet)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let spec = *buf.spec();
        let ch = spec.channels.count();
        let mut sb = SampleBuffer::<f32>::new(buf.capacity() as u64, spec);
        sb.copy_interleaved_ref(buf);
        out.extend(
            sb.samples()
                .chunks(ch)
                .map(|f| f.iter().sum::<f32>() / ch as f32),
        );
    }
    (fs, out)
}

fn read_wav(path: &Path) -> (u32, Vec<f32>) {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = r.spec();
    let ch = spec.channels as usize;
    let s: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>()
                .map(|x| x.unwrap() as f32 * scale)
                .collect()
        }
        hound::SampleFormat::Float => r.samples::<f32>().map(|x| x.unwrap()).collect(),
    };
    (
        spec.sample_rate,
        s.chunks(ch)
            .map(|f| f.iter().sum::<f32>() / ch as f32)
            .collect(),
    )
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

#[test]
fn talkoff_librispeech() {
    let Some(data) = shared_data() else { return };
    let mut paths = Vec::new();
    files(&data.join("librispeech-dev"), "flac", &mut paths);
    paths.sort();
    assert!(!paths.is_empty(), "no FLAC files under {}", data.display());
    let mut t = Tally::default();
    for p in &paths {
        let (fs, x) = decode_flac(p);
        run(&mut t, &p.file_name().unwrap().to_string_lossy(), fs, &x);
    }
    report("librispeech-dev", &t);
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
fn talkoff_fsdd() {
    let Some(data) = shared_data() else { return };
    let mut paths = Vec::new();
    files(&data.join("fsdd"), "wav", &mut paths);
    paths.sort();
    assert!(!paths.is_empty(), "no WAV files under {}", data.display());
    let mut t = Tally::default();
    for p in &paths {
        let (fs, x) = read_wav(p);
        run(&mut t, &p.file_name().unwrap().to_string_lossy(), fs, &x);
    }
    report("fsdd", &t);
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
