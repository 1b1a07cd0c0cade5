//! Compatibility with sox: G.711 WAVs and FLAC/MP3/Ogg files written by sox, and a real
//! LibriSpeech FLAC from ../shared/data.

mod decode_common;

use decode_common::{have_sox, read_pcm16_reference, sox, sox_has_format, temp_dir, test_signal};
use std::path::Path;
use tympan_audio::decode::{self, Container};
use tympan_audio::pcm::f32_to_i16;

fn write_pcm16(path: &Path, rate: u32, samples: &[i16]) {
    let audio =
        tympan_audio::Audio::mono(rate, samples.iter().map(|&s| s as f32 / 32768.0).collect());
    std::fs::write(
        path,
        tympan_audio::wav_write::encode_wav(&audio, tympan_audio::wav_write::Codec::Pcm16),
    )
    .unwrap();
}

fn check_g711(encoding: &str, expect_name: &str) {
    if !have_sox() {
        return;
    }
    let dir = temp_dir(encoding);
    let input = dir.join("in.wav");
    let coded = dir.join("coded.wav");
    let reference = dir.join("ref.wav");
    write_pcm16(&input, 8000, &test_signal(8000, 2.0));
    sox(&[
        "-D",
        input.to_str().unwrap(),
        "-e",
        encoding,
        coded.to_str().unwrap(),
    ]);
    sox(&[
        coded.to_str().unwrap(),
        "-e",
        "signed",
        "-b",
        "16",
        reference.to_str().unwrap(),
    ]);
    let info = decode::probe_file(&coded).unwrap();
    assert_eq!(info.encoding, expect_name);
    let ours: Vec<i16> = decode::read_file(&coded).unwrap().channels[0]
        .iter()
        .map(|&x| f32_to_i16(x))
        .collect();
    let theirs = read_pcm16_reference(&reference);
    assert_eq!(ours.len(), theirs.len());
    let diff = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
    assert_eq!(
        diff, 0,
        "{encoding}: {diff} samples differ from sox's decode"
    );
    // The signal really exercised many codes.
    let distinct: std::collections::HashSet<_> = ours.iter().collect();
    assert!(
        distinct.len() > 150,
        "only {} distinct levels",
        distinct.len()
    );
}

#[test]
fn sox_ulaw_wav_decodes_exactly_like_sox() {
    check_g711("u-law", "mulaw");
}

#[test]
fn sox_alaw_wav_decodes_exactly_like_sox() {
    check_g711("a-law", "alaw");
}

/// sox writes `fmt` (compressed) with the given extension; we decode and compare to sox's own
/// decode of the same file to 16-bit PCM.
fn check_compressed(ext: &str, container: Container, rate: u32, tolerance: f32, exact_len: bool) {
    if !have_sox() || !sox_has_format(ext) {
        return;
    }
    let dir = temp_dir(ext);
    let input = dir.join("in.wav");
    let coded = dir.join(format!("coded.{ext}"));
    let reference = dir.join("ref.wav");
    write_pcm16(&input, rate, &test_signal(rate, 1.5));
    sox(&["-D", input.to_str().unwrap(), coded.to_str().unwrap()]);
    sox(&[
        "-D",
        coded.to_str().unwrap(),
        "-e",
        "signed",
        "-b",
        "16",
        reference.to_str().unwrap(),
    ]);
    // Rename to a misleading extension: detection must use magic bytes.
    let renamed = dir.join("coded.dat");
    std::fs::rename(&coded, &renamed).unwrap();
    let info = decode::probe_file(&renamed).unwrap();
    assert_eq!(info.container, container);
    assert_eq!(info.sample_rate, rate);
    let ours = decode::read_file(&renamed).unwrap();
    let theirs = read_pcm16_reference(&reference);
    let ours = &ours.channels[0];
    if exact_len {
        assert_eq!(ours.len(), theirs.len());
    } else {
        // Lossy codecs may add encoder/decoder delay padding; lengths stay close.
        assert!(
            (ours.len() as i64 - theirs.len() as i64).abs() < 4096,
            "{} vs {}",
            ours.len(),
            theirs.len()
        );
    }
    // Find the best alignment (decoder delay conventions differ) and compare.
    let n = ours.len().min(theirs.len()) - 3000;
    let mut best = f32::MAX;
    for lag in -2000i64..=2000 {
        let mut err = 0f32;
        let mut cnt = 0;
        for i in (2000..n).step_by(7) {
            let j = i as i64 + lag;
            if j < 0 || j as usize >= theirs.len() {
                continue;
            }
            err = err.max((ours[i] - theirs[j as usize] as f32 / 32768.0).abs());
            cnt += 1;
        }
        if cnt > 0 {
            best = best.min(err);
        }
        if best <= tolerance {
            break;
        }
    }
    assert!(
        best <= tolerance,
        "{ext}: max difference {best} above {tolerance}"
    );
}

#[test]
fn sox_flac_decodes_identically() {
    check_compressed("flac", Container::Flac, 16000, 1.0 / 32768.0 + 1e-6, true);
}

#[test]
fn sox_mp3_decodes_close_to_sox() {
    check_compressed("mp3", Container::Mp3, 44100, 0.02, false);
}

#[test]
fn sox_ogg_vorbis_decodes_close_to_sox() {
    check_compressed("ogg", Container::Ogg, 44100, 0.02, false);
}

#[test]
fn librispeech_flac_decodes() {
    let Some(shared) = decode_common::shared_dir("data/librispeech-dev") else {
        return;
    };
    let root = shared.join("data/librispeech-dev");
    let mut flacs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .flat_map(|d| {
            std::fs::read_dir(d.path())
                .unwrap()
                .flatten()
                .map(|e| e.path())
        })
        .filter(|p| p.extension().is_some_and(|e| e == "flac"))
        .collect();
    flacs.sort();
    let path = flacs.first().expect("librispeech-dev has FLAC files");
    let info = decode::probe_file(path).unwrap();
    assert_eq!(
        (info.container, info.sample_rate, info.channels),
        (Container::Flac, 16000, 1)
    );
    let audio = decode::read_file(path).unwrap();
    assert_eq!(Some(audio.frames() as u64), info.frames);
    assert!(audio.duration_s() > 1.0);
    let lv = tympan_audio::levels::levels(&audio);
    assert!(lv.rms_dbfs > -50.0 && lv.peak_dbfs <= 0.0, "{lv:?}");
    if have_sox() {
        let dir = temp_dir("libri");
        let reference = dir.join("ref.wav");
        sox(&[
            path.to_str().unwrap(),
            "-e",
            "signed",
            "-b",
            "16",
            reference.to_str().unwrap(),
        ]);
        let theirs = read_pcm16_reference(&reference);
        let ours: Vec<i16> = audio.channels[0].iter().map(|&x| f32_to_i16(x)).collect();
        assert_eq!(ours, theirs, "FLAC is lossless: must equal sox's decode");
    }
}
